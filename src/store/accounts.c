/* store/accounts.c: account state: balances, next nonces and assets (the
 * balances, accounts and assets tables). The ledger thread's writer upserts
 * the state a block changed inside its block transaction; any connection
 * reads it back (the ledger for its rules, workers for REST queries).
 * Contract storage slots are contracts.c's. Declared in store.h. */
#include "store/internal.h"
#include "store/sql.h"
#include "store/store.h"

#include <sqlite3.h>

/* ---- writer -------------------------------------------------------------- */

/* A zero balance is deleted: the table holds only what ll_store_balances
 * lists, and readers of an absent row see 0 anyway. */
int ll_store_set_balance(ll_store_t *st, const char *address, const char *asset_id, int64_t units)
{
    sqlite3_stmt *q = ll_sql_stmt(st, units == 0 ? LL_SQL_DEL_BALANCE : LL_SQL_SET_BALANCE);

    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_text(q, 2, asset_id);
    if (units != 0)
        ll_sql_bind_int(q, 3, units);
    return ll_sql_exec(st, q, "set balance");
}

int ll_store_set_nonce(ll_store_t *st, const char *address, uint64_t next_nonce)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_SET_NONCE);

    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_uint(q, 2, next_nonce);
    return ll_sql_exec(st, q, "set nonce");
}

/* An asset is created once: a second row for the same id is LL_ESTORE. */
int ll_store_put_asset(ll_store_t *st, const char *asset_id, const char *issuer, int64_t amount,
                       const char *data_json, uint64_t height)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_ASSET);

    ll_sql_bind_text(q, 1, asset_id);
    ll_sql_bind_text(q, 2, issuer);
    ll_sql_bind_int(q, 3, amount);
    ll_sql_bind_text(q, 4, data_json);
    ll_sql_bind_uint(q, 5, height);
    return ll_sql_exec(st, q, "put asset");
}

/* ---- readers ------------------------------------------------------------- */

int ll_store_balance(ll_store_t *st, const char *address, const char *asset_id, int64_t *units)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_BALANCE);
    int rc;

    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_text(q, 2, asset_id);
    rc = ll_sql_one_int(st, q, units, "balance");
    ll_sql_done(q);
    return rc;
}

int ll_store_nonce(ll_store_t *st, const char *address, uint64_t *next_nonce)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_NONCE);
    int64_t v;
    int rc;

    ll_sql_bind_text(q, 1, address);
    if ((rc = ll_sql_one_int(st, q, &v, "nonce")) == 0)
        *next_nonce = (uint64_t)v;
    ll_sql_done(q);
    return rc;
}

/* Like ll_store_block_txs, stops early and returns cb's value when it is
 * non-zero; asset_id is valid while cb runs. */
int ll_store_balances(ll_store_t *st, const char *address, ll_store_balance_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_BALANCES);
    const char *asset_id;
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_balances")) < 0)
        return rc;
    ll_sql_bind_text(q, 1, address);
    while ((rc = ll_sql_step(st, q, "balances")) > 0) {
        if ((rc = ll_sql_column_ptr(st, q, 0, &asset_id)) < 0 ||
            (rc = cb(asset_id, ll_sql_column_int(q, 1), arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}

/* 1 when the asset exists, 0 when not, negative on error. */
int ll_store_asset_exists(ll_store_t *st, const char *asset_id)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_ASSET_EXISTS);
    int64_t found;
    int rc;

    ll_sql_bind_text(q, 1, asset_id);
    if ((rc = ll_sql_one_int(st, q, &found, "asset exists")) == 0)
        rc = found ? 1 : 0;
    ll_sql_done(q);
    return rc;
}
