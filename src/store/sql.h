/* store/sql.h (internal to store/): the one way a store file runs SQL: every
 * statement the store runs, named by an id, and the helpers that bind, step,
 * map SQLite's errors and read columns.
 * Owns:    each connection's prepared statements (ll_sql_prepare_all at
 *          open, ll_sql_finalize_all at close); the SQL text (queries.c).
 * Frees:   nothing a caller must free, except ll_sql_column_dup's copy.
 * Threads: the thread that owns the connection.
 *
 * Why prepared at open, by id, rather than on first use: a statement the
 * schema refuses (a typo, a missing column) fails ll_store_open, never a
 * block half-way through its transaction; no call allocates or can fail to
 * prepare, so no call site checks for a missing statement; and an array
 * indexed by id finds a statement without a search, where a cache keyed by
 * the address of an SQL literal would make a second statement for a second
 * copy of the same text. The price is preparing every statement on every
 * connection (the writer and one reader per worker), once, at start.
 *
 * The rule every caller follows: take the statement, bind, step, read, and
 * end on ll_sql_done(), which resets it (ending the read snapshot, so no
 * read stays open across the writer's COMMIT) and clears its bindings (text
 * is bound SQLITE_STATIC from the caller's memory, which must not stay
 * referenced after the call returns).
 *
 * schema.c alone runs SQL outside this table: the PRAGMAs and migrations
 * that run before the tables these statements name exist, each executed
 * once and finalized at once. */
#ifndef LL_STORE_SQL_H
#define LL_STORE_SQL_H

#include "store/store.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Grouped by the file that runs them. */
typedef enum {
    /* store.c */
    LL_SQL_BEGIN,
    LL_SQL_COMMIT,
    LL_SQL_ROLLBACK,
    LL_SQL_META_PUT,
    LL_SQL_META_GET,
    /* chain.c */
    LL_SQL_PUT_BLOCK,
    LL_SQL_SET_VERIFIED,
    LL_SQL_PUT_TX,
    LL_SQL_APPEND_EVENT,
    LL_SQL_MAX_SEQ,
    LL_SQL_LATEST_BLOCK,
    LL_SQL_BLOCK_BY_HEIGHT,
    LL_SQL_BLOCK_TXS,
    LL_SQL_GET_TX,
    LL_SQL_BLOCKS_BEFORE,
    LL_SQL_BLOCK_TX_IDS,
    LL_SQL_ADDRESS_TXS,
    /* accounts.c */
    LL_SQL_SET_BALANCE,
    LL_SQL_DEL_BALANCE,
    LL_SQL_SET_NONCE,
    LL_SQL_PUT_ASSET,
    LL_SQL_BALANCE,
    LL_SQL_NONCE,
    LL_SQL_BALANCES,
    LL_SQL_ASSET_EXISTS,
    /* history.c */
    LL_SQL_EVENTS_AFTER,
    /* pending.c: ledger.db's old journal */
    LL_SQL_LOAD_PENDING,
    LL_SQL_FORGET_PENDING,
    /* journal.c: journal.db */
    LL_SQL_JOURNAL_APPEND,
    LL_SQL_JOURNAL_FORGET,
    LL_SQL_JOURNAL_FORGET_BEFORE,
    LL_SQL_JOURNAL_LOAD,
    LL_SQL_JOURNAL_LAST_POS,
    /* users.c */
    LL_SQL_PUT_USER,
    LL_SQL_GET_USER,
    LL_SQL_USERNAME_OF,
    LL_SQL_PUT_SESSION,
    LL_SQL_GET_SESSION,
    LL_SQL_DELETE_SESSION,
    LL_SQL_PRUNE_SESSIONS,
    LL_SQL_LIVE_SESSIONS,
    LL_SQL_TX_POSITION,
    LL_SQL_MESSAGES,
    /* contracts.c */
    LL_SQL_PUT_CONTRACT,
    LL_SQL_CONTRACT_EXISTS,
    LL_SQL_CONTRACT_CODE,
    LL_SQL_GET_SLOT,
    LL_SQL_SET_SLOT,
    LL_SQL_DEL_SLOT,
    LL_SQL_PUT_RECEIPT,
    LL_SQL_GET_RECEIPT,
    LL_SQL_CONTRACT_INFO,
    LL_SQL_CONTRACT_RECEIPTS,
    LL_SQL_COUNT
} ll_sql_id_t;

/* queries.c: the SQL of each id. */
extern const char *const ll_sql_text[LL_SQL_COUNT];

/* ---- the statements of one connection ----------------------------------- */

/* store.c, at open, once the schema is current: prepares every statement
 * (a journal connection: only those its one table serves).
 * Readers prepare the writing ones too: SQLite refuses them at step time
 * ("attempt to write a readonly database"), which maps to LL_ESTORE.
 * Returns 0 or LL_ESTORE (logged); ll_sql_finalize_all cleans up either way. */
int ll_sql_prepare_all(ll_store_t *st);

/* store.c, at close. Safe on a partly prepared set. */
void ll_sql_finalize_all(ll_store_t *st);

/* The connection's statement for id, ready to bind (the previous user ended
 * on ll_sql_done). Never NULL once the store is open. */
sqlite3_stmt *ll_sql_stmt(ll_store_t *st, ll_sql_id_t id);

/* Resets q and clears its bindings; every use of a statement ends here. */
void ll_sql_done(sqlite3_stmt *q);

/* A walk's callback that calls back into the store must not re-enter the
 * statement feeding it: resetting it mid-walk would pull its row out from
 * under it. Returns LL_EINTERNAL (logged, naming fn) when q is mid-walk,
 * else 0. Check before binding. */
int ll_sql_walking(sqlite3_stmt *q, const char *fn);

/* ---- binding: text and bytes are bound SQLITE_STATIC --------------------- */

/* NUL-terminated text; NULL binds SQL NULL. */
void ll_sql_bind_text(sqlite3_stmt *q, int i, const char *s);
/* len bytes of text, which may hold U+0000. */
void ll_sql_bind_text_n(sqlite3_stmt *q, int i, const char *s, size_t len);
void ll_sql_bind_blob(sqlite3_stmt *q, int i, const void *p, size_t len);
void ll_sql_bind_int(sqlite3_stmt *q, int i, int64_t v);
/* The full uint64 range is stored two's-complement and read back the same
 * way by ll_sql_column_uint; nothing orders by a value above INT64_MAX. */
void ll_sql_bind_uint(sqlite3_stmt *q, int i, uint64_t v);
void ll_sql_bind_null(sqlite3_stmt *q, int i);

/* ---- stepping and SQLite's errors --------------------------------------- */

/* Logs SQLite's message for what failed on db and returns LL_ESTORE. Call it
 * before the statement is reset. */
int ll_sql_fail(sqlite3 *db, const char *what);

/* Steps q once: 1 when it yields a row, 0 when it is done, LL_ESTORE (logged
 * as what) on an error. Does not reset. */
int ll_sql_step(ll_store_t *st, sqlite3_stmt *q, const char *what);

/* Steps q for its one row: 0 with the row readable, LL_ENOTFOUND when there
 * is none, LL_ESTORE (logged). Does not reset. */
int ll_sql_row(ll_store_t *st, sqlite3_stmt *q, const char *what);

/* Steps q, which returns no rows, then ends its use (ll_sql_done). Returns 0
 * or LL_ESTORE (logged). */
int ll_sql_exec(ll_store_t *st, sqlite3_stmt *q, const char *what);

/* Like ll_sql_exec for an INSERT whose key may be taken: returns 1, not
 * logged, when a PRIMARY KEY or UNIQUE constraint refused the row. */
int ll_sql_insert_new(ll_store_t *st, sqlite3_stmt *q, const char *what);

/* Steps q for one integer in column 0, stored in *value; 0 when q yields no
 * row. Returns 0 or LL_ESTORE (logged). Does not reset. */
int ll_sql_one_int(ll_store_t *st, sqlite3_stmt *q, int64_t *value, const char *what);

/* ---- columns of the current row ----------------------------------------- */

int64_t ll_sql_column_int(sqlite3_stmt *q, int col);
uint64_t ll_sql_column_uint(sqlite3_stmt *q, int col);

/* Points *out at the column's text ("" for NULL), valid until q is stepped
 * or reset. LL_ESTORE (logged) when SQLite cannot convert it. */
int ll_sql_column_ptr(ll_store_t *st, sqlite3_stmt *q, int col, const char **out);

/* Copies the column's text into a fixed field of cap bytes, NUL-terminated.
 * Text longer than the field was not written by this store: LL_ESTORE
 * (logged) rather than a truncated id. */
int ll_sql_column_copy(ll_store_t *st, sqlite3_stmt *q, int col, char *dst, size_t cap);

/* A malloc'd, NUL-terminated copy of the column's text in *out (the caller
 * frees it) and its length in *len (len may be NULL). LL_ENOMEM when there
 * is no text: SQLite ran out of memory, or the value is NULL, which the NOT
 * NULL columns read this way never hold. */
int ll_sql_column_dup(sqlite3_stmt *q, int col, char **out, size_t *len);

#endif
