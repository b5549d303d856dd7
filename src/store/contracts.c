/* store/contracts.c: deployed contracts, their storage slots and the receipts
 * of deploys and calls (the contracts, contract_storage and receipts tables,
 * schema version 3). The ledger thread writes them inside its block
 * transaction and reads them while it runs a contract; workers read receipts
 * back for REST queries. See contracts.h. */
#include "store/contracts.h"
#include "store/internal.h"
#include "store/sql.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

int ll_store_put_contract(ll_store_t *st, const char *address, const char *code, size_t len,
                          const char *deployer, const char *tx_id, uint64_t height)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_CONTRACT);

    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_text_n(q, 2, code, len);
    ll_sql_bind_text(q, 3, deployer);
    ll_sql_bind_text(q, 4, tx_id);
    ll_sql_bind_uint(q, 5, height);
    return ll_sql_exec(st, q, "put contract");
}

int ll_store_contract_exists(ll_store_t *st, const char *address)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_CONTRACT_EXISTS);
    int rc;

    ll_sql_bind_text(q, 1, address);
    rc = ll_sql_step(st, q, "contract exists"); /* 1: a row, 0: none */
    ll_sql_done(q);
    return rc;
}

/* Steps q (bound by the caller) for its one row and copies its first column
 * into a malloc'd NUL-terminated string; then ends q's use. */
static int first_text(ll_store_t *st, sqlite3_stmt *q, const char *what, char **out, size_t *len)
{
    int rc;

    *out = NULL;
    if ((rc = ll_sql_row(st, q, what)) == 0)
        rc = ll_sql_column_dup(q, 0, out, len);
    ll_sql_done(q);
    return rc;
}

int ll_store_contract_code(ll_store_t *st, const char *address, char **code, size_t *len)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_CONTRACT_CODE);

    ll_sql_bind_text(q, 1, address);
    return first_text(st, q, "contract code", code, len);
}

int ll_store_get_slot(ll_store_t *st, const char *address, const char *key, size_t key_len,
                      ll_store_slot_t *out)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_GET_SLOT);
    const void *bytes;
    int rc;

    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_blob(q, 2, key, key_len);
    if ((rc = ll_sql_row(st, q, "get slot")) < 0)
        goto out;
    bytes = sqlite3_column_blob(q, 1);
    out->is_int = sqlite3_column_type(q, 0) == SQLITE_INTEGER;
    out->ival = ll_sql_column_int(q, 0);
    out->slen = (size_t)sqlite3_column_bytes(q, 1);
    /* An integer slot gets an empty string, so the caller always frees sval. */
    if (!(out->sval = malloc(out->slen + 1))) {
        rc = LL_ENOMEM;
        goto out;
    }
    if (out->slen)
        memcpy(out->sval, bytes, out->slen);
    out->sval[out->slen] = '\0';
out:
    ll_sql_done(q);
    return rc;
}

int ll_store_set_slot(ll_store_t *st, const char *address, const char *key, size_t key_len,
                      const ll_store_slot_t *value)
{
    sqlite3_stmt *q = ll_sql_stmt(st, value ? LL_SQL_SET_SLOT : LL_SQL_DEL_SLOT);

    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_blob(q, 2, key, key_len);
    if (value && value->is_int) {
        ll_sql_bind_int(q, 3, value->ival);
        ll_sql_bind_null(q, 4);
    } else if (value) {
        ll_sql_bind_null(q, 3);
        ll_sql_bind_blob(q, 4, value->sval, value->slen);
    }
    return ll_sql_exec(st, q, "set slot");
}

int ll_store_put_receipt(ll_store_t *st, const char *tx_id, uint64_t height, const char *json)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_PUT_RECEIPT);

    ll_sql_bind_text(q, 1, tx_id);
    ll_sql_bind_uint(q, 2, height);
    ll_sql_bind_text(q, 3, json);
    return ll_sql_exec(st, q, "put receipt");
}

int ll_store_get_receipt(ll_store_t *st, const char *tx_id, char **json)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_GET_RECEIPT);

    ll_sql_bind_text(q, 1, tx_id);
    return first_text(st, q, "get receipt", json, NULL);
}

int ll_store_contract_info(ll_store_t *st, const char *address, ll_store_contract_t *out)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_CONTRACT_INFO);
    int rc;

    out->code = NULL;
    ll_sql_bind_text(q, 1, address);
    if ((rc = ll_sql_row(st, q, "contract info")) < 0 ||
        (rc = ll_sql_column_copy(st, q, 1, out->deployer, sizeof out->deployer)) < 0 ||
        (rc = ll_sql_column_copy(st, q, 2, out->tx_id, sizeof out->tx_id)) < 0)
        goto out;
    out->height = ll_sql_column_uint(q, 3);
    rc = ll_sql_column_dup(q, 0, &out->code, &out->code_len);
out:
    ll_sql_done(q);
    return rc;
}

int ll_store_contract_receipts(ll_store_t *st, const char *address, uint32_t limit,
                               ll_store_text_cb cb, void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_CONTRACT_RECEIPTS);
    const char *body;
    int rc;

    if ((rc = ll_sql_walking(q, "ll_store_contract_receipts")) < 0)
        return rc;
    ll_sql_bind_text(q, 1, address);
    ll_sql_bind_int(q, 2, limit);
    while ((rc = ll_sql_step(st, q, "contract receipts")) > 0) {
        if ((rc = ll_sql_column_ptr(st, q, 0, &body)) < 0 || (rc = cb(body, arg)) != 0)
            break;
    }
    ll_sql_done(q);
    return rc;
}
