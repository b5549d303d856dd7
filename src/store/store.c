/* store/store.c: one SQLite connection to <dir>/ledger.db and every statement
 * the node runs on it. The ledger thread's writer commits each block here in
 * one transaction; the workers' readers serve REST queries and event history
 * from the same file (WAL: readers never wait for a committing writer).
 *
 * Every statement is prepared once at open, owned by the store, and reset
 * after each use, so no call leaves a read snapshot open behind it. */
#include "store/store.h"
#include "store/internal.h"
#include "store/schema.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK_COLS                                                                                 \
    "height, hash, previous_hash, timestamp_ms, tx_count, miner, difficulty, nonce, tx_root, "     \
    "quantum_verified"
#define TX_COLS                                                                                    \
    "tx_id, height, idx, kind, sender, recipient, asset_id, amount, fee, nonce, timestamp_ms, "    \
    "body"

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_PUT_BLOCK,
    Q_SET_VERIFIED,
    Q_PUT_TX,
    Q_SET_BALANCE,
    Q_DEL_BALANCE,
    Q_SET_NONCE,
    Q_PUT_ASSET,
    Q_APPEND_EVENT,
    Q_MAX_SEQ,
    Q_META_PUT,
    Q_LATEST_BLOCK,
    Q_BLOCK_BY_HEIGHT,
    Q_BLOCK_TXS,
    Q_GET_TX,
    Q_BALANCE,
    Q_NONCE,
    Q_BALANCES,
    Q_ASSET_EXISTS,
    Q_META_GET,
    Q_COUNT
};

/* Readers prepare the writing statements too: SQLite refuses them at step
 * time ("attempt to write a readonly database"), which maps to LL_ESTORE. */
static const char *const sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_PUT_BLOCK] = "INSERT INTO blocks(" BLOCK_COLS ") "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_SET_VERIFIED] = "UPDATE blocks SET quantum_verified = 1 WHERE height = ?1",
    [Q_PUT_TX] = "INSERT INTO txs(" TX_COLS ") "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [Q_SET_BALANCE] = "INSERT INTO balances(address, asset_id, units) VALUES(?1, ?2, ?3) "
                      "ON CONFLICT(address, asset_id) DO UPDATE SET units = excluded.units",
    [Q_DEL_BALANCE] = "DELETE FROM balances WHERE address = ?1 AND asset_id = ?2",
    [Q_SET_NONCE] = "INSERT INTO accounts(address, next_nonce) VALUES(?1, ?2) "
                    "ON CONFLICT(address) DO UPDATE SET next_nonce = excluded.next_nonce",
    [Q_PUT_ASSET] = "INSERT INTO assets(asset_id, issuer, amount, data, height) "
                    "VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_APPEND_EVENT] = "INSERT INTO events(seq, height, type, tx_id, addresses, payload) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_MAX_SEQ] = "SELECT COALESCE(MAX(seq), 0) FROM events",
    [Q_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_LATEST_BLOCK] = "SELECT " BLOCK_COLS " FROM blocks ORDER BY height DESC LIMIT 1",
    [Q_BLOCK_BY_HEIGHT] = "SELECT " BLOCK_COLS " FROM blocks WHERE height = ?1",
    [Q_BLOCK_TXS] = "SELECT " TX_COLS " FROM txs WHERE height = ?1 ORDER BY idx",
    [Q_GET_TX] = "SELECT " TX_COLS " FROM txs WHERE tx_id = ?1",
    [Q_BALANCE] = "SELECT units FROM balances WHERE address = ?1 AND asset_id = ?2",
    [Q_NONCE] = "SELECT next_nonce FROM accounts WHERE address = ?1",
    [Q_BALANCES] = "SELECT asset_id, units FROM balances WHERE address = ?1 AND units <> 0 "
                   "ORDER BY asset_id",
    [Q_ASSET_EXISTS] = "SELECT 1 FROM assets WHERE asset_id = ?1",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
};

struct ll_store {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    int version;
    /* The seq of the newest event row this connection can see, so appending
     * costs no query. Loaded at open and re-read after every rollback: a
     * rolled-back block hands its seqs to the next one, leaving no gap. */
    uint64_t last_seq;
    int seq_stale; /* last_seq must be re-read before the next append */
    /* kind and body of the last ll_store_get_tx() result. */
    char *buf;
    size_t buf_cap;
    /* Statements of the store's other files (internal.h), keyed by the
     * address of their SQL literal; a handful, so a list is enough. */
    struct cached_stmt {
        const char *sql;
        sqlite3_stmt *q;
    } *cache;
    size_t ncache;
};

static int fail(ll_store_t *st, const char *what)
{
    LL_ERROR("store: %s: %s", what, sqlite3_errmsg(st->db));
    return LL_ESTORE;
}

/* Reset for reuse, and drop bindings: text is bound SQLITE_STATIC from the
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

/* Steps a statement that returns no rows. The caller resets it. */
static int exec_step(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    return sqlite3_step(q) == SQLITE_DONE ? 0 : fail(st, what);
}

/* Points *out at the column's text, valid until q is stepped or reset. */
static int column_ptr(ll_store_t *st, sqlite3_stmt *q, int col, const char **out)
{
    const char *s = (const char *)sqlite3_column_text(q, col);
    if (!s) {
        if (sqlite3_column_type(q, col) != SQLITE_NULL)
            return fail(st, "read column");
        s = "";
    }
    *out = s;
    return 0;
}

/* Copies the column's text into a fixed field. Text longer than the field
 * was not written by this store: report it rather than truncate an id. */
static int column_copy(ll_store_t *st, sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const char *s;
    int rc;

    if ((rc = column_ptr(st, q, col, &s)) < 0)
        return rc;
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (n >= cap) {
        LL_ERROR("store: column %s holds %zu bytes, room for %zu", sqlite3_column_name(q, col), n,
                 cap - 1);
        return LL_ESTORE;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* ---- open and close ------------------------------------------------------ */

static int load_last_seq(ll_store_t *st)
{
    sqlite3_stmt *q = st->q[Q_MAX_SEQ];
    int rc;

    if (sqlite3_step(q) != SQLITE_ROW) {
        rc = fail(st, "read last event seq");
        goto out;
    }
    st->last_seq = (uint64_t)sqlite3_column_int64(q, 0);
    st->seq_stale = 0;
    rc = 0;
out:
    done(q);
    return rc;
}

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

    *out = NULL;
    if (mode == LL_STORE_WRITER && (rc = ll_schema_make_dirs(dir)) < 0)
        goto out;
    n = strlen(dir) + sizeof "/ledger.db";
    if (!(path = malloc(n)) || !(st = calloc(1, sizeof *st))) {
        rc = LL_ENOMEM;
        goto out;
    }
    snprintf(path, n, "%s/ledger.db", dir);
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
    rc = mode == LL_STORE_WRITER ? ll_schema_migrate(st->db, &st->version)
                                 : ll_schema_check(st->db, &st->version);
    if (rc < 0)
        goto out;
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL) !=
            SQLITE_OK) {
            rc = fail(st, sql[i]);
            goto out;
        }
    }
    if ((rc = load_last_seq(st)) < 0)
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
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(st->q[i]);
    for (size_t i = 0; i < st->ncache; i++)
        sqlite3_finalize(st->cache[i].q);
    free(st->cache);
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        LL_ERROR("store: close: %s", sqlite3_errmsg(st->db));
    free(st->buf);
    free(st);
}

sqlite3 *ll_store_db(ll_store_t *st)
{
    return st->db;
}

int ll_store_fail(ll_store_t *st, const char *what)
{
    return fail(st, what);
}

sqlite3_stmt *ll_store_stmt(ll_store_t *st, const char *text)
{
    sqlite3_stmt *q = NULL;
    for (size_t i = 0; i < st->ncache; i++)
        if (st->cache[i].sql == text)
            return st->cache[i].q;
    struct cached_stmt *grown = realloc(st->cache, (st->ncache + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    st->cache = grown;
    if (sqlite3_prepare_v2(st->db, text, -1, &q, NULL) != SQLITE_OK) {
        fail(st, "prepare");
        return NULL;
    }
    st->cache[st->ncache++] = (struct cached_stmt){text, q};
    return q;
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
    sqlite3_stmt *q = st->q[Q_BEGIN];
    int rc = exec_step(st, q, "begin");
    done(q);
    return rc;
}

/* On failure the transaction may still be open: the caller rolls back. */
int ll_store_commit(ll_store_t *st)
{
    sqlite3_stmt *q = st->q[Q_COMMIT];
    int rc = exec_step(st, q, "commit");
    done(q);
    return rc;
}

void ll_store_rollback(ll_store_t *st)
{
    sqlite3_stmt *q = st->q[Q_ROLLBACK];

    /* SQLite rolls back by itself on some errors (SQLITE_FULL, IOERR), so the
     * transaction may be gone already; the seq cache is stale either way. */
    if (!sqlite3_get_autocommit(st->db)) {
        exec_step(st, q, "rollback");
        done(q);
    }
    st->seq_stale = 1;
    load_last_seq(st); /* on failure the next append retries */
}

int ll_store_put_block(ll_store_t *st, const ll_block_hdr_t *b)
{
    sqlite3_stmt *q = st->q[Q_PUT_BLOCK];
    int rc;

    sqlite3_bind_int64(q, 1, (sqlite3_int64)b->height);
    bind_text(q, 2, b->hash);
    bind_text(q, 3, b->previous_hash);
    sqlite3_bind_int64(q, 4, b->timestamp_ms);
    sqlite3_bind_int64(q, 5, b->tx_count);
    bind_text(q, 6, b->miner);
    sqlite3_bind_int64(q, 7, b->difficulty);
    /* The full uint64 range is stored two's-complement and read back the
     * same way; nothing orders by nonce. */
    sqlite3_bind_int64(q, 8, (sqlite3_int64)b->nonce);
    bind_text(q, 9, b->tx_root);
    sqlite3_bind_int(q, 10, b->quantum_verified ? 1 : 0);
    rc = exec_step(st, q, "put block");
    done(q);
    return rc;
}

/* LL_ENOTFOUND when no block has that height. */
int ll_store_set_verified(ll_store_t *st, uint64_t height)
{
    sqlite3_stmt *q = st->q[Q_SET_VERIFIED];
    int rc;

    sqlite3_bind_int64(q, 1, (sqlite3_int64)height);
    if ((rc = exec_step(st, q, "set verified")) < 0)
        goto out;
    rc = sqlite3_changes(st->db) == 0 ? LL_ENOTFOUND : 0;
out:
    done(q);
    return rc;
}

/* The block row must be in first (foreign key). */
int ll_store_put_tx(ll_store_t *st, const ll_store_tx_t *tx)
{
    sqlite3_stmt *q = st->q[Q_PUT_TX];
    int rc;

    bind_text(q, 1, tx->tx_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)tx->height);
    sqlite3_bind_int64(q, 3, tx->index);
    bind_text(q, 4, tx->kind);
    bind_text(q, 5, tx->sender);
    bind_text(q, 6, tx->recipient);
    bind_text(q, 7, tx->asset_id);
    sqlite3_bind_int64(q, 8, tx->amount);
    sqlite3_bind_int64(q, 9, tx->fee);
    sqlite3_bind_int64(q, 10, (sqlite3_int64)tx->nonce);
    sqlite3_bind_int64(q, 11, tx->timestamp_ms);
    bind_text(q, 12, tx->body);
    rc = exec_step(st, q, "put tx");
    done(q);
    return rc;
}

/* A zero balance is deleted: the table holds only what ll_store_balances
 * lists, and readers of an absent row see 0 anyway. */
int ll_store_set_balance(ll_store_t *st, const char *address, const char *asset_id, int64_t units)
{
    sqlite3_stmt *q = st->q[units == 0 ? Q_DEL_BALANCE : Q_SET_BALANCE];
    int rc;

    bind_text(q, 1, address);
    bind_text(q, 2, asset_id);
    if (units != 0)
        sqlite3_bind_int64(q, 3, units);
    rc = exec_step(st, q, "set balance");
    done(q);
    return rc;
}

int ll_store_set_nonce(ll_store_t *st, const char *address, uint64_t next_nonce)
{
    sqlite3_stmt *q = st->q[Q_SET_NONCE];
    int rc;

    bind_text(q, 1, address);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)next_nonce);
    rc = exec_step(st, q, "set nonce");
    done(q);
    return rc;
}

/* An asset is created once: a second row for the same id is LL_ESTORE. */
int ll_store_put_asset(ll_store_t *st, const char *asset_id, const char *issuer, int64_t amount,
                       const char *data_json, uint64_t height)
{
    sqlite3_stmt *q = st->q[Q_PUT_ASSET];
    int rc;

    bind_text(q, 1, asset_id);
    bind_text(q, 2, issuer);
    sqlite3_bind_int64(q, 3, amount);
    bind_text(q, 4, data_json);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)height);
    rc = exec_step(st, q, "put asset");
    done(q);
    return rc;
}

/* The cache advances only once the row is in, so a failed insert reuses its
 * seq; a rolled-back block is handled by ll_store_rollback(). */
int ll_store_append_event(ll_store_t *st, uint64_t height, const char *type, const char *tx_id,
                          const char *addresses, const char *payload_json, uint64_t *seq)
{
    sqlite3_stmt *q = st->q[Q_APPEND_EVENT];
    int rc;

    if (st->seq_stale && (rc = load_last_seq(st)) < 0)
        return rc;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)(st->last_seq + 1));
    sqlite3_bind_int64(q, 2, (sqlite3_int64)height);
    bind_text(q, 3, type);
    if (tx_id)
        bind_text(q, 4, tx_id);
    bind_text(q, 5, addresses);
    bind_text(q, 6, payload_json);
    if ((rc = exec_step(st, q, "append event")) < 0)
        goto out;
    *seq = ++st->last_seq;
out:
    done(q);
    return rc;
}

int ll_store_meta_put(ll_store_t *st, const char *key, const char *value)
{
    sqlite3_stmt *q = st->q[Q_META_PUT];
    int rc;

    bind_text(q, 1, key);
    bind_text(q, 2, value);
    rc = exec_step(st, q, "meta put");
    done(q);
    return rc;
}

/* ---- readers -------------------------------------------------------------- */

static int read_block(ll_store_t *st, sqlite3_stmt *q, ll_block_hdr_t *out)
{
    int rc;

    out->height = (uint64_t)sqlite3_column_int64(q, 0);
    if ((rc = column_copy(st, q, 1, out->hash, sizeof out->hash)) < 0 ||
        (rc = column_copy(st, q, 2, out->previous_hash, sizeof out->previous_hash)) < 0)
        return rc;
    out->timestamp_ms = sqlite3_column_int64(q, 3);
    out->tx_count = (uint32_t)sqlite3_column_int64(q, 4);
    if ((rc = column_copy(st, q, 5, out->miner, sizeof out->miner)) < 0)
        return rc;
    out->difficulty = (uint32_t)sqlite3_column_int64(q, 6);
    out->nonce = (uint64_t)sqlite3_column_int64(q, 7);
    if ((rc = column_copy(st, q, 8, out->tx_root, sizeof out->tx_root)) < 0)
        return rc;
    out->quantum_verified = sqlite3_column_int(q, 9);
    return 0;
}

/* Steps q for its one block row: LL_ENOTFOUND when there is none. */
static int one_block(ll_store_t *st, sqlite3_stmt *q, ll_block_hdr_t *out)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        return LL_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return fail(st, "read block");
    return read_block(st, q, out);
}

int ll_store_latest_block(ll_store_t *st, ll_block_hdr_t *out)
{
    sqlite3_stmt *q = st->q[Q_LATEST_BLOCK];
    int rc = one_block(st, q, out);
    done(q);
    return rc;
}

int ll_store_block_by_height(ll_store_t *st, uint64_t height, ll_block_hdr_t *out)
{
    sqlite3_stmt *q = st->q[Q_BLOCK_BY_HEIGHT];
    int rc;

    sqlite3_bind_int64(q, 1, (sqlite3_int64)height);
    rc = one_block(st, q, out);
    done(q);
    return rc;
}

/* Fills out from the current row; kind and body point into q's row. */
static int read_tx(ll_store_t *st, sqlite3_stmt *q, ll_store_tx_t *out)
{
    int rc;

    if ((rc = column_copy(st, q, 0, out->tx_id, sizeof out->tx_id)) < 0)
        return rc;
    out->height = (uint64_t)sqlite3_column_int64(q, 1);
    out->index = (uint32_t)sqlite3_column_int64(q, 2);
    if ((rc = column_ptr(st, q, 3, &out->kind)) < 0 ||
        (rc = column_copy(st, q, 4, out->sender, sizeof out->sender)) < 0 ||
        (rc = column_copy(st, q, 5, out->recipient, sizeof out->recipient)) < 0 ||
        (rc = column_copy(st, q, 6, out->asset_id, sizeof out->asset_id)) < 0)
        return rc;
    out->amount = sqlite3_column_int64(q, 7);
    out->fee = sqlite3_column_int64(q, 8);
    out->nonce = (uint64_t)sqlite3_column_int64(q, 9);
    out->timestamp_ms = sqlite3_column_int64(q, 10);
    return column_ptr(st, q, 11, &out->body);
}

/* A callback that calls back into the store must not re-enter the query that
 * is feeding it: resetting it mid-walk would pull its row out from under it. */
static int walking(sqlite3_stmt *q, const char *fn)
{
    if (!sqlite3_stmt_busy(q))
        return 0;
    LL_ERROR("store: %s re-entered from its own callback", fn);
    return LL_EINTERNAL;
}

/* kind and body point into SQLite's row, valid while cb runs. */
int ll_store_block_txs(ll_store_t *st, uint64_t height, ll_store_tx_cb cb, void *arg)
{
    sqlite3_stmt *q = st->q[Q_BLOCK_TXS];
    ll_store_tx_t tx;
    int rc;

    if ((rc = walking(q, "ll_store_block_txs")) < 0)
        return rc;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)height);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if ((rc = read_tx(st, q, &tx)) < 0 || (rc = cb(&tx, arg)) != 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : fail(st, "block txs");
out:
    done(q);
    return rc;
}

/* Keeps kind and body in st->buf, which outlives the statement's reset. */
static int keep_strings(ll_store_t *st, ll_store_tx_t *tx)
{
    size_t kind_n = strlen(tx->kind) + 1;
    size_t body_n = strlen(tx->body) + 1;
    size_t need = kind_n + body_n;

    if (need > st->buf_cap) {
        size_t cap = st->buf_cap * 2 > need ? st->buf_cap * 2 : need;
        char *buf = realloc(st->buf, cap);
        if (!buf)
            return LL_ENOMEM;
        st->buf = buf;
        st->buf_cap = cap;
    }
    memcpy(st->buf, tx->kind, kind_n);
    memcpy(st->buf + kind_n, tx->body, body_n);
    tx->kind = st->buf;
    tx->body = st->buf + kind_n;
    return 0;
}

/* kind and body stay valid until the next call on st. */
int ll_store_get_tx(ll_store_t *st, const char *tx_id, ll_store_tx_t *out)
{
    sqlite3_stmt *q = st->q[Q_GET_TX];
    int rc;

    bind_text(q, 1, tx_id);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : fail(st, "get tx");
        goto out;
    }
    if ((rc = read_tx(st, q, out)) < 0)
        goto out;
    rc = keep_strings(st, out);
out:
    done(q);
    return rc;
}

/* Steps q for one integer; *value is left at 0 when there is no row. */
static int one_int(ll_store_t *st, sqlite3_stmt *q, int64_t *value, const char *what)
{
    int rc = sqlite3_step(q);

    *value = 0;
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(q, 0);
    else if (rc != SQLITE_DONE)
        return fail(st, what);
    return 0;
}

int ll_store_balance(ll_store_t *st, const char *address, const char *asset_id, int64_t *units)
{
    sqlite3_stmt *q = st->q[Q_BALANCE];
    int rc;

    bind_text(q, 1, address);
    bind_text(q, 2, asset_id);
    rc = one_int(st, q, units, "balance");
    done(q);
    return rc;
}

int ll_store_nonce(ll_store_t *st, const char *address, uint64_t *next_nonce)
{
    sqlite3_stmt *q = st->q[Q_NONCE];
    int64_t v;
    int rc;

    bind_text(q, 1, address);
    if ((rc = one_int(st, q, &v, "nonce")) == 0)
        *next_nonce = (uint64_t)v;
    done(q);
    return rc;
}

/* Like ll_store_block_txs, stops early and returns cb's value when it is
 * non-zero; asset_id is valid while cb runs. */
int ll_store_balances(ll_store_t *st, const char *address, ll_store_balance_cb cb, void *arg)
{
    sqlite3_stmt *q = st->q[Q_BALANCES];
    const char *asset_id;
    int rc;

    if ((rc = walking(q, "ll_store_balances")) < 0)
        return rc;
    bind_text(q, 1, address);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if ((rc = column_ptr(st, q, 0, &asset_id)) < 0 ||
            (rc = cb(asset_id, sqlite3_column_int64(q, 1), arg)) != 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : fail(st, "balances");
out:
    done(q);
    return rc;
}

int ll_store_asset_exists(ll_store_t *st, const char *asset_id)
{
    sqlite3_stmt *q = st->q[Q_ASSET_EXISTS];
    int64_t found;
    int rc;

    bind_text(q, 1, asset_id);
    if ((rc = one_int(st, q, &found, "asset exists")) == 0)
        rc = found ? 1 : 0;
    done(q);
    return rc;
}

/* Asks the database rather than the append cache: a reader's view moves with
 * the writer's commits. */
int ll_store_last_event_seq(ll_store_t *st, uint64_t *seq)
{
    sqlite3_stmt *q = st->q[Q_MAX_SEQ];
    int64_t v;
    int rc;

    if ((rc = one_int(st, q, &v, "last event seq")) == 0)
        *seq = (uint64_t)v;
    done(q);
    return rc;
}

int ll_store_meta_get(ll_store_t *st, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *q = st->q[Q_META_GET];
    const char *value;
    int rc;

    bind_text(q, 1, key);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : fail(st, "meta get");
        goto out;
    }
    if ((rc = column_ptr(st, q, 0, &value)) < 0)
        goto out;
    if (cap > 0) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        n = n < cap ? n : cap - 1;
        memcpy(out, value, n);
        out[n] = '\0';
    }
out:
    done(q);
    return rc;
}
