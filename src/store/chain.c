/* store/chain.c: the chain's rows: blocks, their transactions and the event
 * log's rows (the blocks, txs and events tables). The ledger thread's writer
 * appends them inside its block transaction; any connection reads them back.
 * Event seqs are assigned here, gapless, from a per-connection counter
 * (internal.h), never by SQLite. Reading the log back page by page is
 * history.c's. Declared in store.h. */
#include "store/internal.h"
#include "store/sql.h"
#include "store/store.h"
#include "util/err.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer -------------------------------------------------------------- */

int ll_chain_load_last_seq(ll_store_t *st)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_MAX_SEQ);
    int64_t v;
    int rc;

    if ((rc = ll_sql_one_int(st, q, &v, "read last event seq")) == 0) {
        st->last_seq = (uint64_t)v;
        st->seq_stale = 0;
    }
    ll_sql_done(q);
    return rc;
}

int ll_store_put_block(ll_store_t *st, const ll_block_hdr_t *b)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_BLOCK);

    ll_sql_bind_uint(q, 1, b->height);
    ll_sql_bind_text(q, 2, b->hash);
    ll_sql_bind_text(q, 3, b->previous_hash);
    ll_sql_bind_int(q, 4, b->timestamp_ms);
    ll_sql_bind_int(q, 5, b->tx_count);
    ll_sql_bind_text(q, 6, b->miner);
    ll_sql_bind_int(q, 7, b->difficulty);
    ll_sql_bind_uint(q, 8, b->nonce); /* any uint64; nothing orders by nonce */
    ll_sql_bind_text(q, 9, b->tx_root);
    ll_sql_bind_int(q, 10, b->quantum_verified ? 1 : 0);
    return ll_sql_exec(st, q, "put block");
}

/* LL_ENOTFOUND when no block has that height. */
int ll_store_set_verified(ll_store_t *st, uint64_t height)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_SET_VERIFIED);
    int rc;

    ll_sql_bind_uint(q, 1, height);
    if ((rc = ll_sql_exec(st, q, "set verified")) < 0)
        return rc;
    /* The count of the last completed UPDATE: a reset does not change it. */
    return sqlite3_changes(st->db) == 0 ? LL_ENOTFOUND : 0;
}

/* The block row must be in first (foreign key). */
int ll_store_put_tx(ll_store_t *st, const ll_store_tx_t *tx)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_TX);

    ll_sql_bind_text(q, 1, tx->tx_id);
    ll_sql_bind_uint(q, 2, tx->height);
    ll_sql_bind_int(q, 3, tx->index);
    ll_sql_bind_text(q, 4, tx->kind);
    ll_sql_bind_text(q, 5, tx->sender);
    ll_sql_bind_text(q, 6, tx->recipient);
    ll_sql_bind_text(q, 7, tx->asset_id);
    ll_sql_bind_int(q, 8, tx->amount);
    ll_sql_bind_int(q, 9, tx->fee);
    ll_sql_bind_uint(q, 10, tx->nonce);
    ll_sql_bind_int(q, 11, tx->timestamp_ms);
    ll_sql_bind_text(q, 12, tx->body);
    return ll_sql_exec(st, q, "put tx");
}

/* The counter advances only once the row is in, so a failed insert reuses
 * its seq; a rolled-back block is handled by ll_store_rollback(). */
int ll_store_append_event(ll_store_t *st, uint64_t height, const char *type, const char *tx_id,
                          const char *addresses, const char *payload_json, uint64_t *seq)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_APPEND_EVENT);
    int rc;

    if (st->seq_stale && (rc = ll_chain_load_last_seq(st)) < 0)
        return rc;
    ll_sql_bind_uint(q, 1, st->last_seq + 1);
    ll_sql_bind_uint(q, 2, height);
    ll_sql_bind_text(q, 3, type);
    ll_sql_bind_text(q, 4, tx_id); /* NULL stays NULL */
    ll_sql_bind_text(q, 5, addresses);
    ll_sql_bind_text(q, 6, payload_json);
    if ((rc = ll_sql_exec(st, q, "append event")) == 0)
        *seq = ++st->last_seq;
    return rc;
}

/* ---- readers ------------------------------------------------------------- */

static int read_block(ll_store_t *st, sqlite3_stmt *q, ll_block_hdr_t *out)
{
    int rc;

    out->height = ll_sql_column_uint(q, 0);
    if ((rc = ll_sql_column_copy(st, q, 1, out->hash, sizeof out->hash)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 2, out->previous_hash, sizeof out->previous_hash)) < 0)
        return rc;
    out->timestamp_ms = ll_sql_column_int(q, 3);
    out->tx_count = (uint32_t)ll_sql_column_int(q, 4);
    if ((rc = ll_sql_column_copy(st, q, 5, out->miner, sizeof out->miner)) < 0)
        return rc;
    out->difficulty = (uint32_t)ll_sql_column_int(q, 6);
    out->nonce = ll_sql_column_uint(q, 7);
    if ((rc = ll_sql_column_copy(st, q, 8, out->tx_root, sizeof out->tx_root)) < 0)
        return rc;
    out->quantum_verified = (int)ll_sql_column_int(q, 9);
    return 0;
}

/* Steps q (bound by the caller) for its one block row, then ends its use.
 * LL_ENOTFOUND when there is none. */
static int one_block(ll_store_t *st, sqlite3_stmt *q, ll_block_hdr_t *out)
{
    int rc = ll_sql_row(st, q, "read block");

    if (rc == 0)
        rc = read_block(st, q, out);
    ll_sql_done(q);
    return rc;
}

int ll_store_latest_block(ll_store_t *st, ll_block_hdr_t *out)
{
    return one_block(st, ll_sql_stmt(st, LL_SQL_LATEST_BLOCK), out);
}

int ll_store_block_by_height(ll_store_t *st, uint64_t height, ll_block_hdr_t *out)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_BLOCK_BY_HEIGHT);

    ll_sql_bind_uint(q, 1, height);
    return one_block(st, q, out);
}

/* Fills out from the current row; kind and body point into q's row. */
static int read_tx(ll_store_t *st, sqlite3_stmt *q, ll_store_tx_t *out)
{
    int rc;

    if ((rc = ll_sql_column_copy(st, q, 0, out->tx_id, sizeof out->tx_id)) < 0)
        return rc;
    out->height = ll_sql_column_uint(q, 1);
    out->index = (uint32_t)ll_sql_column_int(q, 2);
    if ((rc = ll_sql_column_ptr(st, q, 3, &out->kind)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 4, out->sender, sizeof out->sender)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 5, out->recipient, sizeof out->recipient)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 6, out->asset_id, sizeof out->asset_id)) < 0)
        return rc;
    out->amount = ll_sql_column_int(q, 7);
    out->fee = ll_sql_column_int(q, 8);
    out->nonce = ll_sql_column_uint(q, 9);
    out->timestamp_ms = ll_sql_column_int(q, 10);
    return ll_sql_column_ptr(st, q, 11, &out->body);
}

/* kind and body point into SQLite's row, valid while cb runs. */
int ll_store_block_txs(ll_store_t *st, uint64_t height, ll_store_tx_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_BLOCK_TXS);
    ll_store_tx_t tx;
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_block_txs")) < 0)
        return rc;
    ll_sql_bind_uint(q, 1, height);
    while ((rc = ll_sql_step(st, q, "block txs")) > 0) {
        if ((rc = read_tx(st, q, &tx)) < 0 || (rc = cb(&tx, arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}

int ll_store_blocks_before(ll_store_t *st, uint64_t before, uint32_t limit, ll_store_block_cb cb,
                           void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_BLOCKS_BEFORE);
    ll_block_hdr_t b;
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_blocks_before")) < 0)
        return rc;
    /* Heights are below 2^63: a larger bound means "above the tip". */
    ll_sql_bind_int(q, 1, before > INT64_MAX ? INT64_MAX : (int64_t)before);
    ll_sql_bind_int(q, 2, limit);
    while ((rc = ll_sql_step(st, q, "blocks before")) > 0) {
        if ((rc = read_block(st, q, &b)) < 0 || (rc = cb(&b, arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}

int ll_store_block_tx_ids(ll_store_t *st, uint64_t height, ll_store_id_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_BLOCK_TX_IDS);
    const char *id;
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_block_tx_ids")) < 0)
        return rc;
    ll_sql_bind_uint(q, 1, height);
    while ((rc = ll_sql_step(st, q, "block tx ids")) > 0) {
        if ((rc = ll_sql_column_ptr(st, q, 0, &id)) < 0 || (rc = cb(id, arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}

int ll_store_address_txs(ll_store_t *st, const char *address, ll_store_pos_t before, uint32_t limit,
                         ll_store_tx_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_ADDRESS_TXS);
    ll_store_tx_t tx;
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_address_txs")) < 0)
        return rc;
    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_int(q, 2, before.height > INT64_MAX ? INT64_MAX : (int64_t)before.height);
    ll_sql_bind_int(q, 3, before.index);
    ll_sql_bind_int(q, 4, limit);
    while ((rc = ll_sql_step(st, q, "address txs")) > 0) {
        if ((rc = read_tx(st, q, &tx)) < 0 || (rc = cb(&tx, arg)) != 0)
            break;
    }
    ll_sql_done(q);
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
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_GET_TX);
    int rc;

    ll_sql_bind_text(q, 1, tx_id);
    if ((rc = ll_sql_row(st, q, "get tx")) == 0 && (rc = read_tx(st, q, out)) == 0)
        rc = keep_strings(st, out);
    ll_sql_done(q);
    return rc;
}

/* Asks the database rather than the append counter: a reader's view moves
 * with the writer's commits. */
int ll_store_last_event_seq(ll_store_t *st, uint64_t *seq)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_MAX_SEQ);
    int64_t v;
    int rc;

    if ((rc = ll_sql_one_int(st, q, &v, "last event seq")) == 0)
        *seq = (uint64_t)v;
    ll_sql_done(q);
    return rc;
}
