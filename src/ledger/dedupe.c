/* ledger/dedupe.c: a hash set for the lookup plus a ring of the same keys
 * for eviction in arrival order. */
#include "ledger/dedupe.h"
#include "util/hmap.h"

#include <stdlib.h>
#include <string.h>

struct ll_dedupe {
    ll_hmap_t *set;
    char **ring; /* the hmap's own key copies are private: keep ours */
    size_t window, head, count;
};

ll_dedupe_t *ll_dedupe_new(size_t window)
{
    ll_dedupe_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->window = window ? window : 1;
    d->set = ll_hmap_new();
    d->ring = calloc(d->window, sizeof *d->ring);
    if (!d->set || !d->ring) {
        ll_dedupe_free(d);
        return NULL;
    }
    return d;
}

void ll_dedupe_free(ll_dedupe_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->ring && i < d->count; i++)
        free(d->ring[(d->head + i) % d->window]);
    free(d->ring);
    ll_hmap_free(d->set);
    free(d);
}

int ll_dedupe_has(const ll_dedupe_t *d, const char *key)
{
    return ll_hmap_get(d->set, key) != NULL;
}

int ll_dedupe_seen(ll_dedupe_t *d, const char *key)
{
    if (ll_hmap_get(d->set, key))
        return 1;
    char *copy = strdup(key);
    if (!copy)
        return 0;
    if (d->count == d->window) {
        char *oldest = d->ring[d->head];
        ll_hmap_remove(d->set, oldest);
        free(oldest);
        d->head = (d->head + 1) % d->window;
        d->count--;
    }
    if (ll_hmap_put(d->set, copy, copy) < 0) {
        free(copy);
        return 0;
    }
    d->ring[(d->head + d->count) % d->window] = copy;
    d->count++;
    return 0;
}
