/* store/pending.c: see pending.h. */
#include "store/pending.h"
#include "store/internal.h"
#include "store/sql.h"

int ll_store_load_pending(ll_store_t *st, ll_store_pending_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_LOAD_PENDING);
    int rc;

    while ((rc = ll_sql_step(st, q, "load pending")) > 0) {
        const char *body = (const char *)sqlite3_column_text(q, 0);
        if (body && (rc = cb(body, (int)ll_sql_column_int(q, 1), arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}

int ll_store_forget_pending(ll_store_t *st, const char *tx_id)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_FORGET_PENDING);

    ll_sql_bind_text(q, 1, tx_id);
    return ll_sql_exec(st, q, "forget pending");
}
