/* store/pending.h: ledger.db's old journal of pending transactions
 * (pending_txs, schema version 4), which older versions wrote before each
 * 202. The journal now lives in journal.db (store/journal.h); a start reads
 * what an older binary left here, moves it there, and forgets it here.
 * Owns:    nothing; its statements are the connection's (sql.h).
 * Threads: the writer connection's thread (the ledger's, at start). */
#ifndef LL_STORE_PENDING_H
#define LL_STORE_PENDING_H

#include "store/store.h"

#include <stddef.h>

/* Calls cb for each saved transaction in the order saved; body is valid
 * during the call. A non-zero cb result stops the walk and is returned. */
typedef int (*ll_store_pending_cb)(const char *body, int origin, void *arg);
int ll_store_load_pending(ll_store_t *st, ll_store_pending_cb cb, void *arg);

/* Forgets one transaction (inside the caller's transaction); absent is
 * not an error. */
int ll_store_forget_pending(ll_store_t *st, const char *tx_id);

#endif
