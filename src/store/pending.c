/* store/pending.c: see pending.h. */
#include "store/pending.h"
#include "store/internal.h"
#include "util/err.h"

static const char save_sql[] =
    "INSERT INTO pending_txs(pos, tx_id, origin, body) "
    "VALUES((SELECT IFNULL(MAX(pos), 0) + 1 FROM pending_txs), ?1, ?2, ?3)";
static const char load_sql[] = "SELECT body, origin FROM pending_txs ORDER BY pos";
static const char clear_sql[] = "DELETE FROM pending_txs";

int ll_store_save_pending(ll_store_t *st, const char *tx_id, int origin, const char *body)
{
    sqlite3_stmt *q = ll_store_stmt(st, save_sql);
    int rc;
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, tx_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, origin);
    sqlite3_bind_text(q, 3, body, -1, SQLITE_STATIC);
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : ll_store_fail(st, "save pending");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

int ll_store_load_pending(ll_store_t *st, ll_store_pending_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_store_stmt(st, load_sql);
    int rc;
    if (!q)
        return LL_ESTORE;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(q, 0);
        if (body && (rc = cb(body, sqlite3_column_int(q, 1), arg)) != 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : ll_store_fail(st, "load pending");
out:
    sqlite3_reset(q);
    return rc;
}

int ll_store_clear_pending(ll_store_t *st)
{
    sqlite3_stmt *q = ll_store_stmt(st, clear_sql);
    int rc;
    if (!q)
        return LL_ESTORE;
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : ll_store_fail(st, "clear pending");
    sqlite3_reset(q);
    return rc;
}
