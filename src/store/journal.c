/* store/journal.c: see journal.h. */
#include "store/journal.h"
#include "store/internal.h"
#include "store/sql.h"

int ll_store_journal_append(ll_store_t *st, uint64_t pos, int origin, const char *body)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_JOURNAL_APPEND);

    ll_sql_bind_uint(q, 1, pos);
    ll_sql_bind_int(q, 2, origin);
    ll_sql_bind_text(q, 3, body);
    return ll_sql_exec(st, q, "journal append");
}

int ll_store_journal_forget(ll_store_t *st, uint64_t pos)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_JOURNAL_FORGET);

    ll_sql_bind_uint(q, 1, pos);
    return ll_sql_exec(st, q, "journal forget");
}

int ll_store_journal_forget_before(ll_store_t *st, uint64_t pos)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_JOURNAL_FORGET_BEFORE);

    ll_sql_bind_uint(q, 1, pos);
    return ll_sql_exec(st, q, "journal forget before");
}

int ll_store_journal_load(ll_store_t *st, ll_store_journal_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_JOURNAL_LOAD);
    int rc;

    while ((rc = ll_sql_step(st, q, "journal load")) > 0) {
        const char *body = (const char *)sqlite3_column_text(q, 1);
        if (body &&
            (rc = cb(ll_sql_column_uint(q, 0), body, (int)ll_sql_column_int(q, 2), arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}

int ll_store_journal_last_pos(ll_store_t *st, uint64_t *pos)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_JOURNAL_LAST_POS);
    int64_t v = 0;
    int rc = ll_sql_one_int(st, q, &v, "journal last pos");

    ll_sql_done(q);
    *pos = (uint64_t)v;
    return rc;
}
