/* store/sql.c: the SQLite glue under every store file (see sql.h): the
 * per-connection statement table, binding, stepping with SQLite's errors
 * mapped to LL_ESTORE, and column readers. */
#include "store/sql.h"
#include "store/internal.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* journal.db holds one table: its connection prepares the statements of
 * store.c's transaction and of journal.c, and nothing else; the other
 * connections prepare everything but journal.c's. */
static int prepared_on(const ll_store_t *st, int id)
{
    if (st->mode != LL_STORE_JOURNAL)
        return id < LL_SQL_JOURNAL_APPEND || id > LL_SQL_JOURNAL_LAST_POS;
    return id == LL_SQL_BEGIN || id == LL_SQL_COMMIT || id == LL_SQL_ROLLBACK ||
           (id >= LL_SQL_JOURNAL_APPEND && id <= LL_SQL_JOURNAL_LAST_POS);
}

int ll_sql_prepare_all(ll_store_t *st)
{
    for (int i = 0; i < LL_SQL_COUNT; i++) {
        if (!prepared_on(st, i))
            continue;
        if (!ll_sql_text[i]) { /* an id added to sql.h without its SQL in queries.c */
            LL_ERROR("store: statement %d has no SQL", i);
            return LL_EINTERNAL;
        }
        /* PERSISTENT: these live as long as the connection. */
        if (sqlite3_prepare_v3(st->db, ll_sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK)
            return ll_sql_fail(st->db, ll_sql_text[i]);
    }
    return 0;
}

void ll_sql_finalize_all(ll_store_t *st)
{
    for (int i = 0; i < LL_SQL_COUNT; i++) {
        sqlite3_finalize(st->stmt[i]); /* a no-op on NULL */
        st->stmt[i] = NULL;
    }
}

sqlite3_stmt *ll_sql_stmt(ll_store_t *st, ll_sql_id_t id)
{
    return st->stmt[id];
}

void ll_sql_done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

int ll_sql_walking(sqlite3_stmt *q, const char *fn)
{
    if (!sqlite3_stmt_busy(q))
        return 0;
    LL_ERROR("store: %s re-entered from its own callback", fn);
    return LL_EINTERNAL;
}

/* ---- binding ------------------------------------------------------------- */

void ll_sql_bind_text(sqlite3_stmt *q, int i, const char *s)
{
    sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
}

void ll_sql_bind_text_n(sqlite3_stmt *q, int i, const char *s, size_t len)
{
    sqlite3_bind_text(q, i, s, (int)len, SQLITE_STATIC);
}

void ll_sql_bind_blob(sqlite3_stmt *q, int i, const void *p, size_t len)
{
    sqlite3_bind_blob(q, i, p, (int)len, SQLITE_STATIC);
}

void ll_sql_bind_int(sqlite3_stmt *q, int i, int64_t v)
{
    sqlite3_bind_int64(q, i, v);
}

void ll_sql_bind_uint(sqlite3_stmt *q, int i, uint64_t v)
{
    sqlite3_bind_int64(q, i, (sqlite3_int64)v);
}

void ll_sql_bind_null(sqlite3_stmt *q, int i)
{
    sqlite3_bind_null(q, i);
}

/* ---- stepping ------------------------------------------------------------ */

int ll_sql_fail(sqlite3 *db, const char *what)
{
    LL_ERROR("store: %s: %s", what, sqlite3_errmsg(db));
    return LL_ESTORE;
}

int ll_sql_step(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    switch (sqlite3_step(q)) {
    case SQLITE_ROW:
        return 1;
    case SQLITE_DONE:
        return 0;
    default:
        return ll_sql_fail(st->db, what);
    }
}

int ll_sql_row(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    int rc = ll_sql_step(st, q, what);
    return rc == 1 ? 0 : rc == 0 ? LL_ENOTFOUND : rc;
}

int ll_sql_exec(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : ll_sql_fail(st->db, what);
    ll_sql_done(q);
    return rc;
}

int ll_sql_insert_new(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);

    if (rc == SQLITE_DONE)
        rc = 0;
    else if (sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_PRIMARYKEY ||
             sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_UNIQUE)
        rc = 1;
    else
        rc = ll_sql_fail(st->db, what);
    ll_sql_done(q);
    return rc;
}

int ll_sql_one_int(ll_store_t *st, sqlite3_stmt *q, int64_t *value, const char *what)
{
    int rc = ll_sql_step(st, q, what);

    *value = rc == 1 ? sqlite3_column_int64(q, 0) : 0;
    return rc < 0 ? rc : 0;
}

/* ---- columns ------------------------------------------------------------- */

int64_t ll_sql_column_int(sqlite3_stmt *q, int col)
{
    return sqlite3_column_int64(q, col);
}

uint64_t ll_sql_column_uint(sqlite3_stmt *q, int col)
{
    return (uint64_t)sqlite3_column_int64(q, col);
}

int ll_sql_column_ptr(ll_store_t *st, sqlite3_stmt *q, int col, const char **out)
{
    const char *s = (const char *)sqlite3_column_text(q, col);
    if (!s) {
        if (sqlite3_column_type(q, col) != SQLITE_NULL)
            return ll_sql_fail(st->db, "read column");
        s = "";
    }
    *out = s;
    return 0;
}

int ll_sql_column_copy(ll_store_t *st, sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const char *s;
    size_t n;
    int rc;

    if ((rc = ll_sql_column_ptr(st, q, col, &s)) < 0)
        return rc;
    n = (size_t)sqlite3_column_bytes(q, col);
    if (n >= cap) {
        LL_ERROR("store: column %s holds %zu bytes, room for %zu", sqlite3_column_name(q, col), n,
                 cap - 1);
        return LL_ESTORE;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int ll_sql_column_dup(sqlite3_stmt *q, int col, char **out, size_t *len)
{
    const char *text = (const char *)sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col); /* after the text: its length in UTF-8 */

    *out = NULL;
    if (!text || !(*out = malloc(n + 1)))
        return LL_ENOMEM;
    memcpy(*out, text, n);
    (*out)[n] = '\0';
    if (len)
        *len = n;
    return 0;
}
