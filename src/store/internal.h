/* store/internal.h (internal to store/): what the store's other files
 * (users.c, history.c, …) need from the connection that store.c owns.
 * Threads: the thread that owns the connection. */
#ifndef LL_STORE_INTERNAL_H
#define LL_STORE_INTERNAL_H

#include "store/store.h"

#include <sqlite3.h>

sqlite3 *ll_store_db(ll_store_t *st);

/* The statement for sql, prepared on first use and reused after: sql must be
 * a string literal (its address is the cache key). The caller resets it after
 * each use. NULL (logged) when SQLite refuses it. Finalized by
 * ll_store_close. */
sqlite3_stmt *ll_store_stmt(ll_store_t *st, const char *sql);

/* Logs SQLite's message for what failed and returns LL_ESTORE. */
int ll_store_fail(ll_store_t *st, const char *what);

#endif
