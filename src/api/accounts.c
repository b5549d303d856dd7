/* api/accounts.c: GET /api/v1/accounts/{address} from committed state. */
#include "api/api.h"
#include "ledger/tx.h"
#include "store/contracts.h"
#include "util/err.h"
#include "util/hex.h"

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
