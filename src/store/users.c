/* store/users.c: the users and sessions tables (schema version 2) and the
 * message history query behind GET /api/messages. Statements come from the
 * store's cache (ll_store_stmt), prepared on first use on each connection,
 * so a reader that never serves a messenger request never prepares them. */
#include "store/users.h"
#include "store/internal.h"
#include "util/err.h"
#include "util/log.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

/* The cache keys statements by the address of their text: each lives in one
 * array, never in a literal repeated at a call site. */
static const char SQL_PUT_USER[] =
    "INSERT INTO users(username, address, password_hash, sealed_seed, created_ms) "
    "VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_GET_USER[] =
    "SELECT username, address, password_hash, sealed_seed, created_ms FROM users "
    "WHERE username = ?1";
static const char SQL_USERNAME_OF[] = "SELECT username FROM users WHERE address = ?1";
static const char SQL_PUT_SESSION[] =
    "INSERT INTO sessions(token_hash, username, created_ms, expires_ms) VALUES(?1, ?2, ?3, ?4)";
static const char SQL_GET_SESSION[] =
    "SELECT s.username, u.address, s.expires_ms FROM sessions s "
    "JOIN users u ON u.username = s.username WHERE s.token_hash = ?1";
static const char SQL_DELETE_SESSION[] = "DELETE FROM sessions WHERE token_hash = ?1";
static const char SQL_PRUNE_SESSIONS[] = "DELETE FROM sessions WHERE expires_ms <= ?1";
static const char SQL_TX_POSITION[] = "SELECT height, idx FROM txs WHERE tx_id = ?1";
/* Two halves, each a range scan of its own index (txs_sender, txs_recipient)
 * in chain order; the compound ORDER BY merges them, so LIMIT stops after
 * `limit` rows instead of sorting the user's whole history. A message to
 * oneself comes from the first half only. ?2 narrows to one other party;
 * ?3/?4 is the position to start below (INT64_MAX when there is none). The
 * outer query names senders and turns the newest-first page oldest first. */
static const char SQL_MESSAGES[] =
    "SELECT m.tx_id, m.height, m.idx, m.sender, m.recipient, m.timestamp_ms, m.memo, u.username "
    "FROM ("
    "  SELECT tx_id, height, idx, sender, recipient, timestamp_ms,"
    "         body -> '$.memo' AS memo FROM txs"
    "   WHERE sender = ?1 AND (height, idx) < (?3, ?4) AND kind = 'message'"
    "     AND (?2 IS NULL OR recipient = ?2)"
    "  UNION ALL"
    "  SELECT tx_id, height, idx, sender, recipient, timestamp_ms,"
    "         body -> '$.memo' AS memo FROM txs"
    "   WHERE recipient = ?1 AND (height, idx) < (?3, ?4) AND kind = 'message'"
    "     AND sender <> ?1 AND (?2 IS NULL OR sender = ?2)"
    "  ORDER BY height DESC, idx DESC LIMIT ?5"
    ") m LEFT JOIN users u ON u.address = m.sender "
    "ORDER BY m.height, m.idx";

/* Reset for reuse and drop bindings: text is bound SQLITE_STATIC from the
 * caller's memory, which must not stay referenced after the call returns. */
static void done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
    sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
}

/* Copies a text column into a fixed field; text that does not fit was not
 * written by this node, so it is an error rather than a truncation. */
static int column_copy(ll_store_t *st, sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const char *s = (const char *)sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!s && sqlite3_column_type(q, col) != SQLITE_NULL)
        return ll_store_fail(st, "read column");
    if (!s)
        n = 0;
    if (n >= cap) {
        LL_ERROR("store: column %s holds %zu bytes, room for %zu", sqlite3_column_name(q, col), n,
                 cap - 1);
        return LL_ESTORE;
    }
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
    return 0;
}

/* Steps a statement that returns no rows. */
static int exec_once(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : ll_store_fail(st, what);
    done(q);
    return rc;
}

int ll_store_put_user(ll_store_t *st, const ll_store_user_t *u)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_PUT_USER);
    int rc;

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, u->username);
    bind_text(q, 2, u->address);
    bind_text(q, 3, u->password_hash);
    bind_text(q, 4, u->sealed_seed);
    sqlite3_bind_int64(q, 5, u->created_ms);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        rc = 0;
    else if (sqlite3_extended_errcode(ll_store_db(st)) == SQLITE_CONSTRAINT_PRIMARYKEY ||
             sqlite3_extended_errcode(ll_store_db(st)) == SQLITE_CONSTRAINT_UNIQUE)
        rc = LL_EUSERNAMETAKEN; /* the register race: both passed the early check */
    else
        rc = ll_store_fail(st, "put user");
    done(q);
    return rc;
}

int ll_store_get_user(ll_store_t *st, const char *username, ll_store_user_t *out)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_GET_USER);
    int rc;

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, username);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : ll_store_fail(st, "get user");
        goto out;
    }
    if ((rc = column_copy(st, q, 0, out->username, sizeof out->username)) < 0 ||
        (rc = column_copy(st, q, 1, out->address, sizeof out->address)) < 0 ||
        (rc = column_copy(st, q, 2, out->password_hash, sizeof out->password_hash)) < 0 ||
        (rc = column_copy(st, q, 3, out->sealed_seed, sizeof out->sealed_seed)) < 0)
        goto out;
    out->created_ms = sqlite3_column_int64(q, 4);
out:
    done(q);
    return rc;
}

int ll_store_username_of(ll_store_t *st, const char *address, char *out, size_t cap)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_USERNAME_OF);
    const char *name;
    size_t n;
    int rc;

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, address);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : ll_store_fail(st, "username of");
        goto out;
    }
    name = (const char *)sqlite3_column_text(q, 0);
    n = (size_t)sqlite3_column_bytes(q, 0);
    if (!name || n >= cap) {
        rc = name ? LL_EBADPARAM : ll_store_fail(st, "username of");
        goto out;
    }
    memcpy(out, name, n + 1);
    rc = 0;
out:
    done(q);
    return rc;
}

int ll_store_put_session(ll_store_t *st, const char *token_hash, const char *username,
                         int64_t created_ms, int64_t expires_ms)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_PUT_SESSION);

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, token_hash);
    bind_text(q, 2, username);
    sqlite3_bind_int64(q, 3, created_ms);
    sqlite3_bind_int64(q, 4, expires_ms);
    return exec_once(st, q, "put session");
}

int ll_store_get_session(ll_store_t *st, const char *token_hash, char username[LL_USERNAME_MAX + 1],
                         char address[33], int64_t *expires_ms)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_GET_SESSION);
    int rc;

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, token_hash);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : ll_store_fail(st, "get session");
        goto out;
    }
    if ((rc = column_copy(st, q, 0, username, LL_USERNAME_MAX + 1)) < 0 ||
        (rc = column_copy(st, q, 1, address, 33)) < 0)
        goto out;
    *expires_ms = sqlite3_column_int64(q, 2);
out:
    done(q);
    return rc;
}

int ll_store_delete_session(ll_store_t *st, const char *token_hash)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_DELETE_SESSION);

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, token_hash);
    return exec_once(st, q, "delete session");
}

int ll_store_prune_sessions(ll_store_t *st, int64_t now_ms)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_PRUNE_SESSIONS);

    if (!q)
        return LL_ESTORE;
    sqlite3_bind_int64(q, 1, now_ms);
    return exec_once(st, q, "prune sessions");
}

/* The chain position of a committed transaction. */
static int tx_position(ll_store_t *st, const char *tx_id, int64_t *height, int64_t *idx)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_TX_POSITION);
    int rc;

    if (!q)
        return LL_ESTORE;
    bind_text(q, 1, tx_id);
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        *height = sqlite3_column_int64(q, 0);
        *idx = sqlite3_column_int64(q, 1);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : ll_store_fail(st, "tx position");
    }
    done(q);
    return rc;
}

static int read_msg(ll_store_t *st, sqlite3_stmt *q, ll_store_msg_t *m, json_t **memo)
{
    int rc;

    if ((rc = column_copy(st, q, 0, m->tx_id, sizeof m->tx_id)) < 0)
        return rc;
    m->height = (uint64_t)sqlite3_column_int64(q, 1);
    m->index = (uint32_t)sqlite3_column_int64(q, 2);
    if ((rc = column_copy(st, q, 3, m->sender, sizeof m->sender)) < 0 ||
        (rc = column_copy(st, q, 4, m->recipient, sizeof m->recipient)) < 0)
        return rc;
    m->timestamp_ms = sqlite3_column_int64(q, 5);
    /* The memo comes as its JSON text ("->"): json_extract would end it at
     * a U+0000, which a memo may hold. A committed message always has one. */
    json_decref(*memo);
    *memo = NULL;
    if (sqlite3_column_text(q, 6))
        *memo = json_loadb((const char *)sqlite3_column_text(q, 6),
                           (size_t)sqlite3_column_bytes(q, 6), JSON_DECODE_ANY | JSON_ALLOW_NUL,
                           NULL);
    if (!json_is_string(*memo))
        return ll_store_fail(st, "message without memo");
    m->memo = json_string_value(*memo);
    m->memo_len = json_string_length(*memo);
    m->sender_username = (const char *)sqlite3_column_text(q, 7); /* NULL: no user */
    return 0;
}

int ll_store_messages(ll_store_t *st, const ll_store_msg_query_t *mq, ll_store_msg_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_store_stmt(st, SQL_MESSAGES);
    int64_t height = INT64_MAX, idx = 0;
    ll_store_msg_t m;
    json_t *memo = NULL; /* the current row's memo, which m.memo points into */
    int rc;

    if (!q)
        return LL_ESTORE;
    if (sqlite3_stmt_busy(q)) {
        LL_ERROR("store: ll_store_messages re-entered from its own callback");
        return LL_EINTERNAL;
    }
    if (mq->before && (rc = tx_position(st, mq->before, &height, &idx)) < 0)
        return rc;
    bind_text(q, 1, mq->me);
    if (mq->other)
        bind_text(q, 2, mq->other);
    sqlite3_bind_int64(q, 3, height);
    sqlite3_bind_int64(q, 4, idx);
    sqlite3_bind_int64(q, 5, mq->limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if ((rc = read_msg(st, q, &m, &memo)) < 0 || (rc = cb(&m, arg)) != 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : ll_store_fail(st, "messages");
out:
    done(q);
    json_decref(memo);
    return rc;
}
