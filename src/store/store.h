/* store/store.h: the SQLite database under --data: the connection and its
 * block transaction (store.c), the chain's rows (chain.c) and account state
 * (accounts.c). Users, contracts, the event log read back and the saved
 * mempool have their own headers (users.h, contracts.h, history.h,
 * pending.h) over the same connection.
 * Owns:    one sqlite3 connection and its prepared statements (every
 *          statement of every store file, prepared at open: sql.h).
 * Frees:   ll_store_close().
 * Threads: one connection per thread. The ledger thread opens the only
 *          writer; each worker opens a reader (WAL lets readers run while the
 *          writer commits). Neither is shared between threads.
 *
 * Durability: WAL, synchronous=FULL by default, one SQLite transaction per
 * block (block row, its transactions, the state it changed and its rows in
 * the events table). A crash at any moment leaves whole blocks only.
 * The store knows rows, not ledger rules: callers pass plain values. */
#ifndef LL_STORE_STORE_H
#define LL_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ll_store ll_store_t;

typedef enum {
    LL_STORE_READER, /* read-only; fails with LL_ENOTFOUND when no database exists yet */
    LL_STORE_WRITER, /* creates the directory and database, runs migrations */
    /* <dir>/journal.db, not ledger.db: the journal of pending transactions
     * alone (pending.h), written by the ledger thread while a block commits
     * to ledger.db on another connection. Only store.c's transaction calls
     * and pending.h's work on it. */
    LL_STORE_JOURNAL,
} ll_store_mode_t;

typedef enum {
    LL_SYNC_FULL,   /* default: every commit is on disk before it returns */
    LL_SYNC_NORMAL, /* WAL's weaker mode: a power cut may lose the last commits */
} ll_store_sync_t;

typedef struct ll_block_hdr {
    uint64_t height;
    char hash[65];
    char previous_hash[65];
    int64_t timestamp_ms;
    uint32_t tx_count;
    char miner[33];
    uint32_t difficulty;
    uint64_t nonce;
    char tx_root[65];
    int quantum_verified;
} ll_block_hdr_t;

/* One committed transaction row. Strings are NUL-terminated; in results
 * returned by the store, kind and body point into storage owned by the store:
 * from ll_store_get_tx() valid until the next call on the same connection,
 * in an ll_store_block_txs() callback valid while the callback runs. */
typedef struct ll_store_tx {
    char tx_id[65];
    uint64_t height;
    uint32_t index;   /* position in its block */
    const char *kind; /* "transfer", "create", "message", … */
    char sender[33];
    char recipient[41]; /* 32 hex chain address, or "" */
    char asset_id[65];
    int64_t amount;
    int64_t fee;
    uint64_t nonce;
    int64_t timestamp_ms;
    const char *body; /* the signed transaction, compact JSON */
} ll_store_tx_t;

/* Opens (and as writer creates and migrates) dir/ledger.db, or as journal
 * dir/journal.db (created when absent). Returns 0 and a
 * new store in *out, or LL_ENOTFOUND (reader, no database), LL_EIO (cannot
 * create dir), LL_ESTORE (SQLite error or a schema newer than this binary). */
int ll_store_open(const char *dir, ll_store_mode_t mode, ll_store_sync_t sync, ll_store_t **out);
void ll_store_close(ll_store_t *st);

/* The schema version this binary writes (migrations bring older ones up). */
int ll_store_schema_version(ll_store_t *st);

/* ---- writer: one transaction per block (store.c) ------------------------ */

int ll_store_begin(ll_store_t *st);
int ll_store_commit(ll_store_t *st);
/* Safe to call when no transaction is open. */
void ll_store_rollback(ll_store_t *st);

/* ---- writer: rows (chain.c: blocks, txs, events; accounts.c: state) ----- */

int ll_store_put_block(ll_store_t *st, const ll_block_hdr_t *b);
int ll_store_set_verified(ll_store_t *st, uint64_t height);
int ll_store_put_tx(ll_store_t *st, const ll_store_tx_t *tx);
/* Upserts. A balance of 0 may be kept or deleted; readers see 0 either way. */
int ll_store_set_balance(ll_store_t *st, const char *address, const char *asset_id, int64_t units);
int ll_store_set_nonce(ll_store_t *st, const char *address, uint64_t next_nonce);
int ll_store_put_asset(ll_store_t *st, const char *asset_id, const char *issuer, int64_t amount,
                       const char *data_json, uint64_t height);
/* Appends an event row with seq = last seq + 1 (the first is 1) and returns
 * it in *seq. addresses: space-separated addresses the event touches (for
 * the stream filters), "" for none. tx_id may be NULL. */
int ll_store_append_event(ll_store_t *st, uint64_t height, const char *type, const char *tx_id,
                          const char *addresses, const char *payload_json, uint64_t *seq);
/* Small key/value table for node facts (chain id, genesis parameters);
 * store.c. */
int ll_store_meta_put(ll_store_t *st, const char *key, const char *value);

/* ---- readers (writer connection too); chain.c, accounts.c, store.c ------ */

/* LL_ENOTFOUND when the chain is empty (no genesis yet). */
int ll_store_latest_block(ll_store_t *st, ll_block_hdr_t *out);
int ll_store_block_by_height(ll_store_t *st, uint64_t height, ll_block_hdr_t *out);

/* Calls cb for each transaction of the block in block order; stops early and
 * returns cb's value when it is non-zero. */
typedef int (*ll_store_tx_cb)(const ll_store_tx_t *tx, void *arg);
int ll_store_block_txs(ll_store_t *st, uint64_t height, ll_store_tx_cb cb, void *arg);

/* The explorer's block list (GET /api/v1/blocks): calls cb for each block
 * below height before, newest first, at most limit of them; stops early and
 * returns cb's value when it is non-zero. cb may call other ll_store_*
 * functions on st, but not this one; the walk reads one snapshot. */
typedef int (*ll_store_block_cb)(const ll_block_hdr_t *b, void *arg);
int ll_store_blocks_before(ll_store_t *st, uint64_t before, uint32_t limit, ll_store_block_cb cb,
                           void *arg);

/* Calls cb with each transaction id of the block, in block order (a cheaper
 * ll_store_block_txs for lists of ids); stops early as that does. The id
 * is valid while cb runs. */
typedef int (*ll_store_id_cb)(const char *tx_id, void *arg);
int ll_store_block_tx_ids(ll_store_t *st, uint64_t height, ll_store_id_cb cb, void *arg);

/* A transaction's place in the chain; pages of history start below one. */
typedef struct ll_store_pos {
    uint64_t height;
    uint32_t index;
} ll_store_pos_t;

/* An address's committed transactions strictly before position before,
 * newest first, at most limit: for a 32-hex address those it sent or
 * received, for a contract's 40-hex address its deploy and the calls to
 * it. Each page is index range scans of limit rows (queries.c). cb as in
 * ll_store_block_txs. Pass {UINT64_MAX, UINT32_MAX} for the newest. */
int ll_store_address_txs(ll_store_t *st, const char *address, ll_store_pos_t before, uint32_t limit,
                         ll_store_tx_cb cb, void *arg);

/* LL_ENOTFOUND when unknown. */
int ll_store_get_tx(ll_store_t *st, const char *tx_id, ll_store_tx_t *out);

/* 0 units / nonce 0 for addresses never seen. */
int ll_store_balance(ll_store_t *st, const char *address, const char *asset_id, int64_t *units);
int ll_store_nonce(ll_store_t *st, const char *address, uint64_t *next_nonce);

/* Calls cb(asset_id, units, arg) for each non-zero balance of address, in
 * asset_id order; stops early and returns cb's value when it is non-zero. */
typedef int (*ll_store_balance_cb)(const char *asset_id, int64_t units, void *arg);
int ll_store_balances(ll_store_t *st, const char *address, ll_store_balance_cb cb, void *arg);

/* 1 when the asset exists, 0 when not, negative on error. */
int ll_store_asset_exists(ll_store_t *st, const char *asset_id);

/* 0 when the events table is empty. */
int ll_store_last_event_seq(ll_store_t *st, uint64_t *seq);

/* Copies the value (NUL-terminated, truncated to cap) into out. LL_ENOTFOUND
 * when the key is absent. */
int ll_store_meta_get(ll_store_t *st, const char *key, char *out, size_t cap);

#endif
