/* store/journal.h: journal.db (LL_STORE_JOURNAL), the journal of pending
 * transactions: every transaction answered 202 and not yet in a block or
 * dropped, appended before its 202 (ledger/journal.h, group commit), so
 * that any start, after a clean stop or a kill -9, admits them again in
 * order. Rows are keyed by a position the ledger gives them, increasing in
 * admission order. Blocks take pending transactions oldest first, so what
 * they commit is forgotten as a prefix (ll_store_journal_forget_before);
 * a committed row above the oldest still pending stays until that one goes,
 * and a start skips rows whose transaction is already in the chain.
 * Owns:    nothing; its statements are the connection's (sql.h).
 * Threads: the journal connection's thread (the ledger's). */
#ifndef LL_STORE_JOURNAL_H
#define LL_STORE_JOURNAL_H

#include "store/store.h"

#include <stdint.h>

/* Appends one transaction at pos (its signed JSON text, and the ledger's
 * code for who submitted it), inside the caller's transaction. */
int ll_store_journal_append(ll_store_t *st, uint64_t pos, int origin, const char *body);

/* Forgets the row at pos (absent is not an error). */
int ll_store_journal_forget(ll_store_t *st, uint64_t pos);

/* Forgets every row before pos. */
int ll_store_journal_forget_before(ll_store_t *st, uint64_t pos);

/* Calls cb for each row in position order; body is valid during the call.
 * A non-zero cb result stops the walk and is returned. */
typedef int (*ll_store_journal_cb)(uint64_t pos, const char *body, int origin, void *arg);
int ll_store_journal_load(ll_store_t *st, ll_store_journal_cb cb, void *arg);

/* The highest position written (0 when empty). */
int ll_store_journal_last_pos(ll_store_t *st, uint64_t *pos);

#endif
