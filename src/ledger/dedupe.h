/* ledger/dedupe.h: a window of the most recent event keys, so the same
 * event (a block height, a transaction's tx event or receipt, a message's
 * tx_id and status) is never published twice while it is in the window.
 * Owns:    copies of the keys in the window. Frees: ll_dedupe_free().
 * Threads: one thread (the ledger's). */
#ifndef LL_LEDGER_DEDUPE_H
#define LL_LEDGER_DEDUPE_H

#include <stddef.h>

typedef struct ll_dedupe ll_dedupe_t;

/* A window remembering the last `window` keys. */
ll_dedupe_t *ll_dedupe_new(size_t window);
void ll_dedupe_free(ll_dedupe_t *d);

/* 1 when key is in the window; else records it (evicting the oldest when
 * full) and returns 0. Returns 0 without recording when out of memory:
 * publishing twice beats losing an event. */
int ll_dedupe_seen(ll_dedupe_t *d, const char *key);

/* 1 when key is in the window; records nothing. */
int ll_dedupe_has(const ll_dedupe_t *d, const char *key);

#endif
