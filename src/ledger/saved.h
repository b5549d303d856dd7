/* ledger/saved.h: the mempool a clean stop leaves, kept in the store
 * (store/pending.h) so that the next start admits it again, in order.
 * Owns:    nothing; the caller owns the store and the mempool.
 * Threads: the ledger thread (it holds the writer connection). */
#ifndef LL_LEDGER_SAVED_H
#define LL_LEDGER_SAVED_H

#include "ledger/mempool.h"
#include "store/store.h"

/* Replaces what is saved with every transaction of mp, in order, in one
 * store transaction. Returns 0 or LL_E* (then nothing changed). */
int ll_saved_write(ll_store_t *st, const ll_mempool_t *mp);

/* Forgets what is saved, in one store transaction (after it was admitted). */
int ll_saved_forget(ll_store_t *st);

#endif
