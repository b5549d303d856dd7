/* store/internal.h (internal to store/): the connection as the store's files
 * see it. store.c opens and frees it; sql.c fills its statement table;
 * chain.c keeps the event seq and the get-tx buffer in it.
 * Threads: the thread that owns the connection. */
#ifndef LL_STORE_INTERNAL_H
#define LL_STORE_INTERNAL_H

#include "store/sql.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct ll_store {
    sqlite3 *db;
    ll_store_mode_t mode;
    int version;
    sqlite3_stmt *stmt[LL_SQL_COUNT]; /* by id, prepared at open (sql.h) */
    /* chain.c: the seq of the newest event row this connection can see, so
     * appending costs no query. Loaded at open and re-read after every
     * rollback: a rolled-back block hands its seqs to the next one, leaving
     * no gap. */
    uint64_t last_seq;
    int seq_stale; /* last_seq must be re-read before the next append */
    /* chain.c: kind and body of the last ll_store_get_tx() result. */
    char *buf;
    size_t buf_cap;
};

/* chain.c: reads last_seq from the events table and clears seq_stale.
 * store.c calls it at open and after a rollback. Returns 0 or LL_ESTORE. */
int ll_chain_load_last_seq(ll_store_t *st);

#endif
