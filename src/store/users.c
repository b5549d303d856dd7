/* store/users.c: the users and sessions tables (schema version 2) and the
 * message history query behind GET /api/messages. Its statements are the
 * connection's, prepared at open like every store statement (sql.h). */
#include "store/users.h"
#include "store/internal.h"
#include "store/sql.h"
#include "util/err.h"
#include "util/log.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

int ll_store_put_user(ll_store_t *st, const ll_store_user_t *u)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_USER);
    int rc;

    ll_sql_bind_text(q, 1, u->username);
    ll_sql_bind_text(q, 2, u->address);
    ll_sql_bind_text(q, 3, u->password_hash);
    ll_sql_bind_text(q, 4, u->sealed_seed);
    ll_sql_bind_int(q, 5, u->created_ms);
    rc = ll_sql_insert_new(st, q, "put user");
    return rc == 1 ? LL_EUSERNAMETAKEN : rc; /* the register race: both passed the early check */
}

int ll_store_get_user(ll_store_t *st, const char *username, ll_store_user_t *out)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_GET_USER);
    int rc;

    ll_sql_bind_text(q, 1, username);
    if ((rc = ll_sql_row(st, q, "get user")) < 0)
        goto out;
    if ((rc = ll_sql_column_copy(st, q, 0, out->username, sizeof out->username)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 1, out->address, sizeof out->address)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 2, out->password_hash, sizeof out->password_hash)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 3, out->sealed_seed, sizeof out->sealed_seed)) < 0)
        goto out;
    out->created_ms = ll_sql_column_int(q, 4);
out:
    ll_sql_done(q);
    return rc;
}

int ll_store_username_of(ll_store_t *st, const char *address, char *out, size_t cap)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_USERNAME_OF);
    const char *name;
    size_t n;
    int rc;

    ll_sql_bind_text(q, 1, address);
    if ((rc = ll_sql_row(st, q, "username of")) < 0)
        goto out;
    name = (const char *)sqlite3_column_text(q, 0);
    n = (size_t)sqlite3_column_bytes(q, 0);
    if (!name || n >= cap) {
        rc = name ? LL_EBADPARAM : ll_sql_fail(st->db, "username of");
        goto out;
    }
    memcpy(out, name, n + 1);
out:
    ll_sql_done(q);
    return rc;
}

int ll_store_put_session(ll_store_t *st, const char *token_hash, const char *username,
                         int64_t created_ms, int64_t expires_ms)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_SESSION);

    ll_sql_bind_text(q, 1, token_hash);
    ll_sql_bind_text(q, 2, username);
    ll_sql_bind_int(q, 3, created_ms);
    ll_sql_bind_int(q, 4, expires_ms);
    return ll_sql_exec(st, q, "put session");
}

int ll_store_get_session(ll_store_t *st, const char *token_hash, char username[LL_USERNAME_MAX + 1],
                         char address[33], int64_t *expires_ms)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_GET_SESSION);
    int rc;

    ll_sql_bind_text(q, 1, token_hash);
    if ((rc = ll_sql_row(st, q, "get session")) < 0 ||
        (rc = ll_sql_column_copy(st, q, 0, username, LL_USERNAME_MAX + 1)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 1, address, 33)) < 0)
        goto out;
    *expires_ms = ll_sql_column_int(q, 2);
out:
    ll_sql_done(q);
    return rc;
}

int ll_store_delete_session(ll_store_t *st, const char *token_hash)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_DELETE_SESSION);

    ll_sql_bind_text(q, 1, token_hash);
    return ll_sql_exec(st, q, "delete session");
}

int ll_store_prune_sessions(ll_store_t *st, int64_t now_ms)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PRUNE_SESSIONS);

    ll_sql_bind_int(q, 1, now_ms);
    return ll_sql_exec(st, q, "prune sessions");
}

int ll_store_live_sessions(ll_store_t *st, const char *after, int64_t now_ms, size_t limit,
                           ll_store_session_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_LIVE_SESSIONS);
    const char *hash;
    int rc, n = 0;

    if ((rc = ll_sql_walking(q, "ll_store_live_sessions")) < 0)
        return rc;
    ll_sql_bind_text(q, 1, after);
    ll_sql_bind_int(q, 2, now_ms);
    ll_sql_bind_int(q, 3, (int64_t)limit);
    while ((rc = ll_sql_step(st, q, "live sessions")) > 0) {
        if ((rc = ll_sql_column_ptr(st, q, 0, &hash)) < 0 ||
            (rc = cb(hash, ll_sql_column_int(q, 1), arg)) != 0)
            break;
        n++;
    }
    ll_sql_done(q);
    return rc == 0 ? n : rc;
}

/* The chain position of a committed transaction. */
static int tx_position(ll_store_t *st, const char *tx_id, int64_t *height, int64_t *idx)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_TX_POSITION);
    int rc;

    ll_sql_bind_text(q, 1, tx_id);
    if ((rc = ll_sql_row(st, q, "tx position")) == 0) {
        *height = ll_sql_column_int(q, 0);
        *idx = ll_sql_column_int(q, 1);
    }
    ll_sql_done(q);
    return rc;
}

static int read_msg(ll_store_t *st, sqlite3_stmt *q, ll_store_msg_t *m, json_t **memo)
{
    int rc;

    if ((rc = ll_sql_column_copy(st, q, 0, m->tx_id, sizeof m->tx_id)) < 0)
        return rc;
    m->height = ll_sql_column_uint(q, 1);
    m->index = (uint32_t)ll_sql_column_int(q, 2);
    if ((rc = ll_sql_column_copy(st, q, 3, m->sender, sizeof m->sender)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 4, m->recipient, sizeof m->recipient)) < 0)
        return rc;
    m->timestamp_ms = ll_sql_column_int(q, 5);
    /* The memo comes as its JSON text ("->"): json_extract would end it at
     * a U+0000, which a memo may hold. A committed message always has one. */
    json_decref(*memo);
    *memo = NULL;
    if (sqlite3_column_text(q, 6))
        *memo =
            json_loadb((const char *)sqlite3_column_text(q, 6), (size_t)sqlite3_column_bytes(q, 6),
                       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_string(*memo))
        return ll_sql_fail(st->db, "message without memo");
    m->memo = json_string_value(*memo);
    m->memo_len = json_string_length(*memo);
    m->sender_username = (const char *)sqlite3_column_text(q, 7); /* NULL: no user */
    return 0;
}

int ll_store_messages(ll_store_t *st, const ll_store_msg_query_t *mq, ll_store_msg_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_MESSAGES);
    int64_t height = INT64_MAX, idx = 0;
    ll_store_msg_t m;
    json_t *memo = NULL; /* the current row's memo, which m.memo points into */
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_messages")) < 0)
        return rc;
    if (mq->before && (rc = tx_position(st, mq->before, &height, &idx)) < 0)
        return rc;
    ll_sql_bind_text(q, 1, mq->me);
    ll_sql_bind_text(q, 2, mq->other); /* NULL: any other party */
    ll_sql_bind_int(q, 3, height);
    ll_sql_bind_int(q, 4, idx);
    ll_sql_bind_int(q, 5, mq->limit);
    while ((rc = ll_sql_step(st, q, "messages")) > 0) {
        if ((rc = read_msg(st, q, &m, &memo)) < 0 || (rc = cb(&m, arg)) != 0)
            break;
    }
    ll_sql_done(q);
    json_decref(memo);
    return rc;
}
