/* store/pending.h: the journal of pending transactions: every transaction
 * answered 202 and not yet in a block or dropped, written before its 202
 * (ledger/journal.h, group commit) to journal.db (LL_STORE_JOURNAL), and
 * forgotten at the journal's flush after the block that commits it (or the
 * flush that drops it), so that any start, after a clean stop or a kill -9,
 * admits them again in order. ledger.db keeps a table of the same shape
 * that older binaries wrote to; a start moves its rows to journal.db.
 * Owns:    nothing; its statements are the connection's (sql.h).
 * Threads: the connection's thread (the ledger's). */
#ifndef LL_STORE_PENDING_H
#define LL_STORE_PENDING_H

#include "store/store.h"

#include <stddef.h>

/* Appends one transaction (its signed JSON, and the ledger's code for who
 * submitted it) after the saved ones; the caller holds the store's
 * transaction open. */
int ll_store_save_pending(ll_store_t *st, const char *tx_id, int origin, const char *body);

/* Calls cb for each saved transaction in the order saved; body is valid
 * during the call. A non-zero cb result stops the walk and is returned. */
typedef int (*ll_store_pending_cb)(const char *body, int origin, void *arg);
int ll_store_load_pending(ll_store_t *st, ll_store_pending_cb cb, void *arg);

/* Forgets one transaction (inside the caller's transaction); absent is
 * not an error. */
int ll_store_forget_pending(ll_store_t *st, const char *tx_id);

#endif
