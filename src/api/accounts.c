/* api/accounts.c: GET /api/v1/accounts/{address} and the pages of its
 * transactions (…/transactions), from committed state. */
#include "api/api.h"
#include "ledger/tx.h"
#include "store/contracts.h"
#include "util/err.h"
#include "util/hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int add_balance(const char *asset_id, int64_t units, void *arg)
{
    return json_object_set_new(arg, asset_id, json_integer(units)) == 0 ? 0 : LL_ENOMEM;
}

void ll_api_account_get(ll_api_worker_t *ctx, ll_req_t *req, const char *address)
{
    uint64_t nonce;
    int64_t native;
    json_t *balances;
    int rc;
    int is_contract = ll_hex_is_lower(address, LL_VM_ADDRESS_HEX);
    if (!ll_hex_is_lower(address, LL_ADDRESS_HEX) && !is_contract) {
        ll_req_respond_error(req, LL_EBADADDRESS,
                             "an account address is 32 (or a contract's 40) lowercase hex digits");
        return;
    }
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return;
    }
    if (!(balances = json_object())) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return;
    }
    /* One read transaction would be tidier; these three reads may straddle
     * a commit, which can only show a newer nonce beside older balances for
     * one request, never a state that was not committed. */
    if ((rc = ll_store_nonce(ctx->reader, address, &nonce)) < 0 ||
        (rc = ll_store_balance(ctx->reader, address, LL_NATIVE_ASSET_ID, &native)) < 0 ||
        (rc = ll_store_balances(ctx->reader, address, add_balance, balances)) < 0) {
        json_decref(balances);
        ll_req_respond_error(req, LL_ESTORE, "store error");
        return;
    }
    /* A contract is an account from its deploy on, even with nothing in it. */
    if (is_contract && (rc = ll_store_contract_exists(ctx->reader, address)) < 0) {
        json_decref(balances);
        ll_req_respond_error(req, LL_ESTORE, "store error");
        return;
    }
    if (nonce == 0 && json_object_size(balances) == 0 && !(is_contract && rc == 1)) {
        json_decref(balances);
        ll_req_respond_error(req, LL_ENOTFOUND, "no account with that address on chain");
        return;
    }
    ll_req_respond_json(req, 200,
                        json_pack("{s:s, s:I, s:I, s:o}", "address", address, "nonce",
                                  (json_int_t)nonce, "balance", (json_int_t)native, "balances",
                                  balances)); /* "o" steals balances */
}

/* ---- GET /api/v1/accounts/{address}/transactions ---------------------------
 *
 * The cursor is opaque to clients: "<height>.<index>" of the last
 * transaction of the page, below which the next page starts. */

#define CURSOR_MAX 32 /* two decimal integers and a dot */

static int parse_cursor(const char *s, ll_store_pos_t *pos)
{
    char height[CURSOR_MAX];
    const char *dot = strchr(s, '.');
    uint64_t h, i;
    if (!dot || (size_t)(dot - s) >= sizeof height)
        return LL_EBADPARAM;
    memcpy(height, s, (size_t)(dot - s));
    height[dot - s] = '\0';
    if (ll_api_parse_uint(height, INT64_MAX, &h) < 0 ||
        ll_api_parse_uint(dot + 1, UINT32_MAX, &i) < 0)
        return LL_EBADPARAM;
    pos->height = h;
    pos->index = (uint32_t)i;
    return 0;
}

typedef struct tx_page {
    json_t *txs;
    size_t want; /* the page's limit: one row more tells that more follow */
    int more;
    ll_store_pos_t last;
} tx_page_t;

/* A committed transaction as GET /api/v1/transactions/{tx_id} shows it
 * (ll_tx_view). */
static int add_tx(const ll_store_tx_t *row, void *arg)
{
    tx_page_t *p = arg;
    if (json_array_size(p->txs) == p->want) {
        p->more = 1;
        return 1; /* stop: the page is full */
    }
    json_t *tx =
        ll_tx_view(json_loads(row->body, JSON_ALLOW_NUL, NULL), row->tx_id, 0, row->height);
    if (!tx || json_array_append_new(p->txs, tx) < 0) /* steals tx */
        return LL_ENOMEM;
    p->last.height = row->height;
    p->last.index = row->index;
    return 0;
}

void ll_api_account_txs(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char address[LL_API_ADDRESS_MAX + 1], cursor[CURSOR_MAX], next[CURSOR_MAX];
    ll_store_pos_t before = {UINT64_MAX, UINT32_MAX};
    uint64_t limit = LL_API_PAGE_DEFAULT;
    tx_page_t p = {0};
    int rc;
    if (ll_api_parse_address(param, address) < 0) {
        ll_req_respond_error(
            req, LL_EBADADDRESS,
            "an address is 32 (or a contract's 40) hex digits, optionally after 0x");
        return;
    }
    rc = ll_req_query_param(req, "before", cursor, sizeof cursor);
    if (rc != LL_ENOTFOUND && (rc < 0 || parse_cursor(cursor, &before) < 0)) {
        ll_req_respond_error(req, LL_EBADPARAM,
                             "before must be a next_before value from an earlier page");
        return;
    }
    if (ll_api_page_start(ctx, req, &limit) < 0)
        return;
    p.want = (size_t)limit;
    if (!(p.txs = json_array())) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return;
    }
    /* An address the chain never saw has no rows: an empty page, not a 404. */
    rc = ll_store_address_txs(ctx->reader, address, before, (uint32_t)limit + 1, add_tx, &p);
    if (rc < 0) {
        json_decref(p.txs);
        ll_req_respond_error(req, rc == LL_ENOMEM ? LL_ENOMEM : LL_ESTORE,
                             "could not read the transactions");
        return;
    }
    snprintf(next, sizeof next, "%" PRIu64 ".%" PRIu32, p.last.height, p.last.index);
    /* "o" steals txs and the cursor */
    ll_req_respond_json(req, 200,
                        json_pack("{s:o, s:o}", "transactions", p.txs, "next_before",
                                  p.more ? json_string(next) : json_null()));
}
