/* store/store.c: the connection to <dir>/ledger.db and its transactions.
 * Opens it (the writer creates and migrates the database, each reader checks
 * its version: schema.c), prepares every statement on it (sql.c), and runs
 * the block transaction and the meta table of node facts. The rows
 * themselves live in the family files: chain.c (blocks, transactions,
 * events), accounts.c (balances, nonces, assets), users.c, contracts.c,
 * history.c and pending.c.
 *
 * The ledger thread's writer commits each block here in one transaction;
 * the workers' readers serve REST queries and event history from the same
 * file (WAL: readers never wait for a committing writer). */
#include "store/store.h"
#include "store/internal.h"
#include "store/schema.h"
#include "store/sql.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- open and close ------------------------------------------------------ */

/* Called by the ledger thread (writer, once) and each worker (reader). On
 * failure *out is NULL and nothing is left open. */
int ll_store_open(const char *dir, ll_store_mode_t mode, ll_store_sync_t sync, ll_store_t **out)
{
    ll_store_t *st = NULL;
    char *path = NULL;
    struct stat sb;
    int flags = SQLITE_OPEN_NOMUTEX; /* a connection never leaves its thread */
    size_t n;
    int rc;

    const char *file = mode == LL_STORE_JOURNAL ? "journal.db" : "ledger.db";
    *out = NULL;
    if (mode != LL_STORE_READER && (rc = ll_schema_make_dirs(dir)) < 0)
        goto out;
    n = strlen(dir) + strlen(file) + 2;
    if (!(path = malloc(n)) || !(st = calloc(1, sizeof *st))) {
        rc = LL_ENOMEM;
        goto out;
    }
    st->mode = mode;
    snprintf(path, n, "%s/%s", dir, file);
    if (mode == LL_STORE_READER) {
        /* Checked first: SQLite's CANTOPEN would not tell absent from denied. */
        if (stat(path, &sb) != 0 && errno == ENOENT) {
            rc = LL_ENOTFOUND;
            goto out;
        }
        flags |= SQLITE_OPEN_READONLY;
    } else {
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    }
    /* Even a failed open may return a handle, which close() releases. */
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        LL_ERROR("store: open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        rc = LL_ESTORE;
        goto out;
    }
    if ((rc = ll_schema_pragmas(st->db, sync)) < 0)
        goto out;
    rc = mode == LL_STORE_WRITER    ? ll_schema_migrate(st->db, &st->version)
         : mode == LL_STORE_JOURNAL ? ll_schema_journal(st->db)
                                    : ll_schema_check(st->db, &st->version);
    if (rc < 0)
        goto out;
    if ((rc = ll_sql_prepare_all(st)) < 0 ||
        (mode != LL_STORE_JOURNAL && (rc = ll_chain_load_last_seq(st)) < 0))
        goto out;
    *out = st;
    st = NULL;
out:
    ll_store_close(st);
    free(path);
    return rc;
}

void ll_store_close(ll_store_t *st)
{
    if (!st)
        return;
    ll_sql_finalize_all(st); /* before the close, which refuses while statements are open */
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        LL_ERROR("store: close: %s", sqlite3_errmsg(st->db));
    free(st->buf);
    free(st);
}

int ll_store_schema_version(ll_store_t *st)
{
    return st->version;
}

/* ---- writer: one transaction per block ----------------------------------- */

/* Takes the write lock at once (waiting up to the busy timeout), so a block
 * never fails half-way for want of it. */
int ll_store_begin(ll_store_t *st)
{
    return ll_sql_exec(st, ll_sql_stmt(st, LL_SQL_BEGIN), "begin");
}

/* On failure the transaction may still be open: the caller rolls back. */
int ll_store_commit(ll_store_t *st)
{
    return ll_sql_exec(st, ll_sql_stmt(st, LL_SQL_COMMIT), "commit");
}

void ll_store_rollback(ll_store_t *st)
{
    /* SQLite rolls back by itself on some errors (SQLITE_FULL, IOERR), so the
     * transaction may be gone already; the seq cache is stale either way. */
    if (!sqlite3_get_autocommit(st->db))
        ll_sql_exec(st, ll_sql_stmt(st, LL_SQL_ROLLBACK), "rollback");
    if (st->mode == LL_STORE_JOURNAL)
        return; /* no event log there */
    st->seq_stale = 1;
    ll_chain_load_last_seq(st); /* on failure the next append retries */
}

/* ---- node facts ------------------------------------------------------------ */

int ll_store_meta_put(ll_store_t *st, const char *key, const char *value)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_META_PUT);

    ll_sql_bind_text(q, 1, key);
    ll_sql_bind_text(q, 2, value);
    return ll_sql_exec(st, q, "meta put");
}

int ll_store_meta_get(ll_store_t *st, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_META_GET);
    const char *value;
    int rc;

    ll_sql_bind_text(q, 1, key);
    if ((rc = ll_sql_row(st, q, "meta get")) < 0 || (rc = ll_sql_column_ptr(st, q, 0, &value)) < 0)
        goto out;
    if (cap > 0) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        n = n < cap ? n : cap - 1;
        memcpy(out, value, n);
        out[n] = '\0';
    }
out:
    ll_sql_done(q);
    return rc;
}
