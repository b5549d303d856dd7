/* ledger/mempool.c: a ring of transaction pointers in arrival order, an
 * index by tx_id for duplicate checks and GET /transactions lookups, and a
 * count per sender for the per-sender cap. */
#include "ledger/mempool.h"
#include "util/err.h"
#include "util/hmap.h"

#include <stdint.h>
#include <stdlib.h>

struct ll_mempool {
    ll_tx_t **ring;
    size_t capacity;
    size_t head; /* index of the oldest */
    size_t count;
    ll_hmap_t *by_id;
    ll_hmap_t *by_sender; /* sender -> count, stored as a pointer-sized integer >= 1 */
    size_t bytes;         /* ll_mempool_tx_bytes of everything held */
};

size_t ll_mempool_tx_bytes(const ll_tx_t *tx)
{
    return tx->signing_len;
}

size_t ll_mempool_bytes(const ll_mempool_t *mp)
{
    return mp->bytes;
}

/* Adds delta (+1 or -1) to sender's count; 0 or LL_ENOMEM (only when adding). */
static int count_sender(ll_mempool_t *mp, const char *sender, int delta)
{
    uintptr_t n = (uintptr_t)ll_hmap_get(mp->by_sender, sender);
    if (delta < 0) {
        if (n <= 1)
            ll_hmap_remove(mp->by_sender, sender);
        else
            ll_hmap_put(mp->by_sender, sender, (void *)(n - 1)); /* existing key: no allocation */
        return 0;
    }
    return ll_hmap_put(mp->by_sender, sender, (void *)(n + 1));
}

size_t ll_mempool_sender_count(const ll_mempool_t *mp, const char *sender)
{
    return (size_t)(uintptr_t)ll_hmap_get(mp->by_sender, sender);
}

ll_mempool_t *ll_mempool_new(size_t capacity)
{
    ll_mempool_t *mp = calloc(1, sizeof *mp);
    if (!mp)
        return NULL;
    mp->capacity = capacity;
    mp->ring = calloc(capacity, sizeof *mp->ring);
    mp->by_id = ll_hmap_new_borrowed(); /* keyed by each held tx's own tx_id */
    mp->by_sender = ll_hmap_new();
    if (!mp->ring || !mp->by_id || !mp->by_sender) {
        ll_mempool_free(mp);
        return NULL;
    }
    return mp;
}

void ll_mempool_free(ll_mempool_t *mp)
{
    if (!mp)
        return;
    for (size_t i = 0; mp->ring && i < mp->count; i++)
        ll_tx_free(mp->ring[(mp->head + i) % mp->capacity]);
    free(mp->ring);
    ll_hmap_free(mp->by_id);
    ll_hmap_free(mp->by_sender);
    free(mp);
}

int ll_mempool_add(ll_mempool_t *mp, ll_tx_t *tx)
{
    if (mp->count == mp->capacity)
        return LL_EBUSY;
    if (ll_hmap_put(mp->by_id, tx->tx_id, tx) < 0)
        return LL_ENOMEM;
    if (count_sender(mp, tx->sender, +1) < 0) {
        ll_hmap_remove(mp->by_id, tx->tx_id);
        return LL_ENOMEM;
    }
    mp->ring[(mp->head + mp->count) % mp->capacity] = tx;
    mp->count++;
    mp->bytes += ll_mempool_tx_bytes(tx);
    return 0;
}

const ll_tx_t *ll_mempool_find(const ll_mempool_t *mp, const char *tx_id)
{
    return ll_hmap_get(mp->by_id, tx_id);
}

size_t ll_mempool_count(const ll_mempool_t *mp)
{
    return mp->count;
}

uint64_t ll_mempool_gas(const ll_tx_t *tx)
{
    return tx->kind == LL_TX_DEPLOY || tx->kind == LL_TX_CALL ? tx->gas_limit : 0;
}

size_t ll_mempool_take(ll_mempool_t *mp, ll_tx_t **out, ll_mempool_limits_t *lim)
{
    size_t n = 0;
    while (lim->held_txs < lim->txs && (!lim->most || n < lim->most) && mp->count > 0) {
        ll_tx_t *tx = mp->ring[mp->head];
        if (lim->before_pos && tx->journal_pos >= lim->before_pos)
            break; /* not yet on disk */
        uint64_t g = ll_mempool_gas(tx);
        size_t b = ll_mempool_tx_bytes(tx);
        if (lim->held_txs > 0 && (lim->held_gas + g > lim->gas || lim->held_bytes + b > lim->bytes))
            break; /* sums of a block's worth: far from overflowing */
        lim->held_txs++;
        lim->held_gas += g;
        lim->held_bytes += b;
        mp->bytes -= b;
        out[n++] = tx;
        ll_hmap_remove(mp->by_id, tx->tx_id);
        count_sender(mp, tx->sender, -1);
        mp->head = (mp->head + 1) % mp->capacity;
        mp->count--;
    }
    return n;
}

void ll_mempool_untake(ll_mempool_t *mp, ll_tx_t **txs, size_t n)
{
    /* Room is guaranteed only for what was taken; anything beyond is freed. */
    for (size_t i = n; i-- > 0;) {
        if (mp->count == mp->capacity || ll_hmap_put(mp->by_id, txs[i]->tx_id, txs[i]) < 0) {
            ll_tx_free(txs[i]);
            continue;
        }
        if (count_sender(mp, txs[i]->sender, +1) < 0) {
            ll_hmap_remove(mp->by_id, txs[i]->tx_id);
            ll_tx_free(txs[i]);
            continue;
        }
        mp->head = (mp->head + mp->capacity - 1) % mp->capacity;
        mp->ring[mp->head] = txs[i];
        mp->count++;
        mp->bytes += ll_mempool_tx_bytes(txs[i]);
    }
}

uint64_t ll_mempool_oldest_journal_pos(const ll_mempool_t *mp)
{
    return mp->count ? mp->ring[mp->head]->journal_pos : UINT64_MAX;
}

uint64_t ll_mempool_nth_journal_pos(const ll_mempool_t *mp, size_t i)
{
    return mp->ring[(mp->head + i) % mp->capacity]->journal_pos;
}

void ll_mempool_each(const ll_mempool_t *mp, ll_mempool_each_cb cb, void *arg)
{
    for (size_t i = 0; i < mp->count; i++)
        cb(mp->ring[(mp->head + i) % mp->capacity], arg);
}
