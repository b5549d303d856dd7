/* ledger/mempool.c: a ring of transaction pointers in arrival order plus an
 * index by tx_id for duplicate checks and GET /transactions lookups. */
#include "ledger/mempool.h"
#include "util/err.h"
#include "util/hmap.h"

#include <stdlib.h>

struct ll_mempool {
    ll_tx_t **ring;
    size_t capacity;
    size_t head;  /* index of the oldest */
    size_t count;
    ll_hmap_t *by_id;
};

ll_mempool_t *ll_mempool_new(size_t capacity)
{
    ll_mempool_t *mp = calloc(1, sizeof *mp);
    if (!mp)
        return NULL;
    mp->capacity = capacity;
    mp->ring = calloc(capacity, sizeof *mp->ring);
    mp->by_id = ll_hmap_new();
    if (!mp->ring || !mp->by_id) {
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
    free(mp);
}

int ll_mempool_add(ll_mempool_t *mp, ll_tx_t *tx)
{
    if (mp->count == mp->capacity)
        return LL_EBUSY;
    if (ll_hmap_put(mp->by_id, tx->tx_id, tx) < 0)
        return LL_ENOMEM;
    mp->ring[(mp->head + mp->count) % mp->capacity] = tx;
    mp->count++;
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

size_t ll_mempool_take(ll_mempool_t *mp, ll_tx_t **out, size_t max)
{
    size_t n = max < mp->count ? max : mp->count;
    for (size_t i = 0; i < n; i++) {
        out[i] = mp->ring[mp->head];
        ll_hmap_remove(mp->by_id, out[i]->tx_id);
        mp->head = (mp->head + 1) % mp->capacity;
    }
    mp->count -= n;
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
        mp->head = (mp->head + mp->capacity - 1) % mp->capacity;
        mp->ring[mp->head] = txs[i];
        mp->count++;
    }
}

void ll_mempool_each(const ll_mempool_t *mp, ll_mempool_each_cb cb, void *arg)
{
    for (size_t i = 0; i < mp->count; i++)
        cb(mp->ring[(mp->head + i) % mp->capacity], arg);
}
