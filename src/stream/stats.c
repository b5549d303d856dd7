/* stream/stats.c: see stats.h. The stores and loads are relaxed: each slot
 * has one writer, and a scrape needs each counter's value, not an order
 * between counters. */
#include "stream/stats.h"

#include <string.h>

void ll_stream_counts_first_write(ll_stream_counts_t *c, ll_wire_t wire, uint64_t ns)
{
    c->first_write[wire][ll_histo_bucket(ns)]++;
    c->first_write_ns[wire] += ns;
}

ll_stream_slot_t *ll_stream_stats_claim(ll_stream_stats_t *st)
{
    uint32_t i = atomic_fetch_add(&st->claimed, 1);
    return i < LL_STREAM_STATS_SLOTS ? &st->slots[i] : NULL;
}

void ll_stream_stats_publish(ll_stream_slot_t *slot, const ll_stream_counts_t *c)
{
    for (int w = 0; w < LL_WIRE_COUNT; w++) {
        atomic_store_explicit(&slot->subscribers[w], c->subscribers[w], memory_order_relaxed);
        atomic_store_explicit(&slot->dropped_by[w], c->dropped_by[w], memory_order_relaxed);
    }
    atomic_store_explicit(&slot->sent, c->sent, memory_order_relaxed);
    atomic_store_explicit(&slot->dropped, c->dropped, memory_order_relaxed);
    atomic_store_explicit(&slot->queue_hwm, c->queue_hwm, memory_order_relaxed);
    atomic_store_explicit(&slot->lagging, c->lagging, memory_order_relaxed);
    for (int w = 0; w < LL_WIRE_COUNT; w++) {
        for (int i = 0; i <= LL_HISTO_BUCKETS; i++)
            atomic_store_explicit(&slot->first_write[w][i], c->first_write[w][i],
                                  memory_order_relaxed);
        atomic_store_explicit(&slot->first_write_ns[w], c->first_write_ns[w], memory_order_relaxed);
    }
}

void ll_stream_stats_sum(const ll_stream_stats_t *st, ll_stream_counts_t *out)
{
    uint32_t n = atomic_load(&st->claimed);
    memset(out, 0, sizeof *out);
    if (n > LL_STREAM_STATS_SLOTS)
        n = LL_STREAM_STATS_SLOTS;
    for (uint32_t i = 0; i < n; i++) {
        const ll_stream_slot_t *s = &st->slots[i];
        for (int w = 0; w < LL_WIRE_COUNT; w++) {
            out->subscribers[w] += atomic_load_explicit(&s->subscribers[w], memory_order_relaxed);
            out->dropped_by[w] += atomic_load_explicit(&s->dropped_by[w], memory_order_relaxed);
        }
        out->sent += atomic_load_explicit(&s->sent, memory_order_relaxed);
        out->dropped += atomic_load_explicit(&s->dropped, memory_order_relaxed);
        out->lagging += atomic_load_explicit(&s->lagging, memory_order_relaxed);
        uint64_t hwm = atomic_load_explicit(&s->queue_hwm, memory_order_relaxed);
        if (hwm > out->queue_hwm)
            out->queue_hwm = hwm;
        for (int w = 0; w < LL_WIRE_COUNT; w++) {
            for (int b = 0; b <= LL_HISTO_BUCKETS; b++)
                out->first_write[w][b] +=
                    atomic_load_explicit(&s->first_write[w][b], memory_order_relaxed);
            out->first_write_ns[w] +=
                atomic_load_explicit(&s->first_write_ns[w], memory_order_relaxed);
        }
    }
}
