/* store/contracts.c: see contracts.h. */
#include "store/contracts.h"
#include "store/internal.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static const char put_contract_sql[] =
    "INSERT INTO contracts(address, code, deployer, tx_id, height) VALUES(?1, ?2, ?3, ?4, ?5)";
static const char contract_exists_sql[] = "SELECT 1 FROM contracts WHERE address = ?1";
static const char contract_code_sql[] = "SELECT code FROM contracts WHERE address = ?1";
static const char get_slot_sql[] =
    "SELECT ival, sval FROM contract_storage WHERE address = ?1 AND key = ?2";
static const char set_slot_sql[] =
    "INSERT INTO contract_storage(address, key, ival, sval) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(address, key) DO UPDATE SET ival = excluded.ival, sval = excluded.sval";
static const char del_slot_sql[] = "DELETE FROM contract_storage WHERE address = ?1 AND key = ?2";
static const char put_receipt_sql[] =
    "INSERT INTO receipts(tx_id, height, body) VALUES(?1, ?2, ?3)";
static const char get_receipt_sql[] = "SELECT body FROM receipts WHERE tx_id = ?1";

/* Steps a statement that returns nothing, and resets it. */
static int exec_done(ll_store_t *st, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : ll_store_fail(st, what);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

int ll_store_put_contract(ll_store_t *st, const char *address, const char *code, size_t len,
                          const char *deployer, const char *tx_id, uint64_t height)
{
    sqlite3_stmt *q = ll_store_stmt(st, put_contract_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, code, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, deployer, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, tx_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)height);
    return exec_done(st, q, "put contract");
}

int ll_store_contract_exists(ll_store_t *st, const char *address)
{
    sqlite3_stmt *q = ll_store_stmt(st, contract_exists_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, address, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : ll_store_fail(st, "contract exists");
    sqlite3_reset(q);
    return rc;
}

/* Copies the first column of q's single row (bound by the caller) into a
 * malloc'd NUL-terminated string. */
static int copy_text(ll_store_t *st, sqlite3_stmt *q, char **out, size_t *len)
{
    int rc = sqlite3_step(q);
    *out = NULL;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        const char *text = (const char *)sqlite3_column_text(q, 0);
        rc = LL_ENOMEM;
        if (text && (*out = malloc(n + 1))) {
            memcpy(*out, text, n);
            (*out)[n] = '\0';
            if (len)
                *len = n;
            rc = 0;
        }
    } else {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : ll_store_fail(st, "read");
    }
    sqlite3_reset(q);
    return rc;
}

int ll_store_contract_code(ll_store_t *st, const char *address, char **code, size_t *len)
{
    sqlite3_stmt *q = ll_store_stmt(st, contract_code_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, address, -1, SQLITE_STATIC);
    return copy_text(st, q, code, len);
}

int ll_store_get_slot(ll_store_t *st, const char *address, const char *key, size_t key_len,
                      ll_store_slot_t *out)
{
    sqlite3_stmt *q = ll_store_stmt(st, get_slot_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, key, (int)key_len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const void *bytes = sqlite3_column_blob(q, 1);
        out->is_int = sqlite3_column_type(q, 0) == SQLITE_INTEGER;
        out->ival = sqlite3_column_int64(q, 0);
        out->slen = (size_t)sqlite3_column_bytes(q, 1);
        rc = LL_ENOMEM;
        if ((out->sval = malloc(out->slen + 1))) {
            if (out->slen)
                memcpy(out->sval, bytes, out->slen);
            out->sval[out->slen] = '\0';
            rc = 0;
        }
    } else {
        rc = rc == SQLITE_DONE ? LL_ENOTFOUND : ll_store_fail(st, "get slot");
    }
    sqlite3_reset(q); /* no read may stay open across the block's COMMIT */
    sqlite3_clear_bindings(q);
    return rc;
}

int ll_store_set_slot(ll_store_t *st, const char *address, const char *key, size_t key_len,
                      const ll_store_slot_t *value)
{
    sqlite3_stmt *q = ll_store_stmt(st, value ? set_slot_sql : del_slot_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, key, (int)key_len, SQLITE_STATIC);
    if (value && value->is_int) {
        sqlite3_bind_int64(q, 3, value->ival);
        sqlite3_bind_null(q, 4);
    } else if (value) {
        sqlite3_bind_null(q, 3);
        sqlite3_bind_blob(q, 4, value->sval, (int)value->slen, SQLITE_STATIC);
    }
    return exec_done(st, q, "set slot");
}

int ll_store_put_receipt(ll_store_t *st, const char *tx_id, uint64_t height, const char *json)
{
    sqlite3_stmt *q = ll_store_stmt(st, put_receipt_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, tx_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)height);
    sqlite3_bind_text(q, 3, json, -1, SQLITE_STATIC);
    return exec_done(st, q, "put receipt");
}

int ll_store_get_receipt(ll_store_t *st, const char *tx_id, char **json)
{
    sqlite3_stmt *q = ll_store_stmt(st, get_receipt_sql);
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_text(q, 1, tx_id, -1, SQLITE_STATIC);
    return copy_text(st, q, json, NULL);
}
