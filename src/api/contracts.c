/* api/contracts.c: GET /api/v1/contracts/{address}, a contract's page for
 * the explorer: its source, its deploy and its newest receipts, read from
 * the worker's own database snapshot. */
#include "store/contracts.h"
#include "api/api.h"
#include "ledger/tx.h"
#include "util/err.h"

#include <stdlib.h>

/* The receipts a contract's page shows (docs/API.md §6.1); the older ones
 * are at GET /api/v1/receipts/{tx_id} through the contract's history. */
#define CONTRACT_RECEIPTS 20

/* Receipts are stored as the JSON GET /api/v1/receipts/{tx_id} answers. */
static int add_receipt(const char *json, void *arg)
{
    json_t *r = json_loads(json, JSON_ALLOW_NUL, NULL);
    return r && json_array_append_new(arg, r) == 0 ? 0 : LL_ENOMEM; /* steals r */
}

void ll_api_contract_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char address[LL_API_ADDRESS_MAX + 1];
    ll_store_contract_t c;
    json_t *receipts;
    int rc;
    if (ll_api_parse_address(param, address) != LL_VM_ADDRESS_HEX) {
        ll_req_respond_error(req, LL_EBADADDRESS,
                             "a contract address is 40 hex digits, optionally after 0x");
        return;
    }
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return;
    }
    if ((rc = ll_store_contract_info(ctx->reader, address, &c)) < 0) {
        ll_req_respond_error(req, rc,
                             rc == LL_ENOTFOUND ? "no contract is deployed at that address"
                                                : "could not read the contract");
        return;
    }
    if (!(receipts = json_array()) ||
        ll_store_contract_receipts(ctx->reader, address, CONTRACT_RECEIPTS, add_receipt, receipts) <
            0) {
        json_decref(receipts);
        free(c.code);
        ll_req_respond_error(req, LL_EINTERNAL, "could not read the contract's receipts");
        return;
    }
    /* "s%" copies the code; "o" steals receipts */
    json_t *page = json_pack("{s:s, s:s%, s:s, s:I, s:s, s:o}", "address", address, "code", c.code,
                             c.code_len, "deployer", c.deployer, "height", (json_int_t)c.height,
                             "tx_id", c.tx_id, "receipts", receipts);
    free(c.code);
    ll_req_respond_json(req, 200, page);
}
