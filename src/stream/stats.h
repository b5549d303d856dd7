/* stream/stats.h: the stream counters of /metrics, one slot per worker.
 * Owns:    the slots (ll_stream_stats_t is embedded in its owner: ll_api_t,
 *          a test's fixture); nothing is allocated.
 * Threads: each worker's fan-out claims one slot and is its only writer;
 *          any thread may sum them (ll_stream_stats_sum).
 *
 * A fan-out counts in a plain ll_stream_counts_t, owned by its worker, so
 * queuing, sending or dropping an event touches no shared memory and no
 * atomic. Once per batch (a delivery, a completed write, a history page, an
 * open or a close) the fan-out copies its counts into its slot with relaxed
 * stores: one writer per slot, so no read-modify-write either. A scrape sums
 * the slots with relaxed loads; it may miss the batch being counted, never
 * more, and every counter only grows (a slot keeps its counts after its
 * fan-out closes). */
#ifndef LL_STREAM_STATS_H
#define LL_STREAM_STATS_H

#include "stream/event.h"
#include "util/histo.h"

#include <stdatomic.h>
#include <stdint.h>

/* One slot per worker: config.c caps --workers at 256. */
#define LL_STREAM_STATS_SLOTS 256

/* The histograms of commit -> first write, per wire format: for each batch
 * of events a worker writes to at least one subscriber of a format, the
 * time from its publication (right after its COMMIT) to the first such
 * subscriber's socket write that holds it (util/histo.h's buckets). */

/* A worker's counts (plain: its own thread's), or their sum over workers. */
typedef struct ll_stream_counts {
    int64_t subscribers[LL_WIRE_COUNT]; /* open, per wire format */
    uint64_t sent;                      /* events handed to sockets */
    uint64_t dropped;                   /* events dropped for full queues */
    uint64_t dropped_by[LL_WIRE_COUNT]; /* the same, per wire format */
    uint64_t queue_hwm; /* deepest any queue has been (the sum: the deepest of all) */
    int64_t lagging;    /* open subscribers more than half their queue behind */
    uint64_t first_write[LL_WIRE_COUNT][LL_HISTO_BUCKETS + 1]; /* per bucket */
    uint64_t first_write_ns[LL_WIRE_COUNT];                    /* their sum */
} ll_stream_counts_t;

/* A worker's published counts: written by that worker only. */
typedef struct ll_stream_slot {
    _Atomic int64_t subscribers[LL_WIRE_COUNT];
    _Atomic uint64_t sent, dropped, queue_hwm;
    _Atomic int64_t lagging;
    _Atomic uint64_t dropped_by[LL_WIRE_COUNT];
    _Atomic uint64_t first_write[LL_WIRE_COUNT][LL_HISTO_BUCKETS + 1];
    _Atomic uint64_t first_write_ns[LL_WIRE_COUNT];
} ll_stream_slot_t;

typedef struct ll_stream_stats {
    ll_stream_slot_t slots[LL_STREAM_STATS_SLOTS];
    _Atomic uint32_t claimed; /* slots handed out; may run past the end */
} ll_stream_stats_t;

/* Hands a fan-out its slot, once, at its start (any thread). NULL when every
 * slot is taken. */
ll_stream_slot_t *ll_stream_stats_claim(ll_stream_stats_t *st);

/* Copies a worker's counts into its slot; the slot's worker only. */
void ll_stream_stats_publish(ll_stream_slot_t *slot, const ll_stream_counts_t *c);

/* Counts one commit -> first write of ns nanoseconds to wire in c. */
void ll_stream_counts_first_write(ll_stream_counts_t *c, ll_wire_t wire, uint64_t ns);

/* Sums every claimed slot into *out (queue_hwm: the largest); any thread. */
void ll_stream_stats_sum(const ll_stream_stats_t *st, ll_stream_counts_t *out);

#endif
