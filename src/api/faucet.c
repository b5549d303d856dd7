/* api/faucet.c: POST /api/v1/faucet, only on a node started with --dev: the
 * ledger signs a transfer from the genesis-funded faucet account. */
#include "api/api.h"
#include "util/err.h"
#include "util/hex.h"

#define FAUCET_DEFAULT_UNITS (1000LL * LL_UNITS_PER_COIN)
#define FAUCET_MAX_UNITS (1000000LL * LL_UNITS_PER_COIN)

void ll_api_faucet(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    size_t len;
    const char *text = ll_req_body(req, &len);
    json_error_t jerr;
    json_t *body = NULL, *amount;
    const char *address = NULL;
    json_int_t units = FAUCET_DEFAULT_UNITS;
    (void)param;
    if (!ctx->app->config->dev) {
        ll_req_respond_error(req, LL_ENOTFOUND,
                             "the faucet exists only on a node started with --dev");
        return;
    }
    /* A page elsewhere can POST text/plain here without a preflight. */
    if (!ll_api_origin_same_site(ctx, req)) {
        ll_req_respond_error(req, LL_EFORBIDDEN,
                             "the faucet takes requests only from this node's "
                             "own pages or an --allowed-origins entry");
        return;
    }
    if (!(body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        /* Valid JSON with a number past the 64-bit range (2^63): the only
         * number the faucet takes is the amount. */
        if (json_error_code(&jerr) == json_error_numeric_overflow)
            ll_req_respond_error(req, LL_EBADAMOUNT,
                                 "field 'amount' must be an integer of units from 1 to %lld",
                                 (long long)FAUCET_MAX_UNITS);
        else
            ll_req_respond_error(req, LL_EMALFORMED, "body is not JSON: %s", jerr.text);
        return;
    }
    if (!json_is_object(body)) {
        ll_req_respond_error(req, LL_EBADTYPE, "body must be a JSON object");
        goto out;
    }
    address = json_string_value(json_object_get(body, "address"));
    if (!address || !ll_hex_is_lower(address, LL_ADDRESS_HEX)) {
        ll_req_respond_error(req, LL_EBADADDRESS,
                             "field 'address' must be 32 lowercase hex digits");
        goto out;
    }
    if ((amount = json_object_get(body, "amount"))) {
        units = json_is_integer(amount) ? json_integer_value(amount) : -1;
        if (units <= 0 || units > FAUCET_MAX_UNITS) {
            ll_req_respond_error(req, LL_EBADAMOUNT,
                                 "field 'amount' must be an integer of units from 1 to %lld",
                                 (long long)FAUCET_MAX_UNITS);
            goto out;
        }
    }
    ll_ledger_req_t *lr = ll_api_ledger_req(req, LL_LEDGER_FAUCET, 202);
    if (lr) {
        snprintf(lr->address, sizeof lr->address, "%s", address);
        lr->amount = units;
        ll_api_ask_ledger(ctx, lr);
    }
out:
    json_decref(body);
}
