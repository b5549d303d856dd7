/* api/transactions.c: POST /api/v1/transactions and GET …/{tx_id}.
 * Everything a transaction can be checked for without state (shape, every
 * field, the signature) is checked here on the worker, in parallel across
 * workers; only the ledger rules (nonce, funds) go to the ledger thread. */
#include "api/api.h"
#include "store/contracts.h"
#include "util/err.h"
#include "util/hex.h"

#include <stdlib.h>
#include <string.h>

/* A JSON array of up to LL_API_MAX_BATCH signed transactions: each is
 * checked here like a single one, then the ledger admits them in order and
 * answers 200 with one result per item (docs/API.md §7). */
static void submit_batch(ll_api_worker_t *ctx, ll_req_t *req, const char *body, size_t len)
{
    char why[LL_ERRMSG_MAX];
    json_error_t err;
    json_t *items = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    size_t n = json_array_size(items);
    if (!items) {
        ll_req_respond_error(req, LL_EMALFORMED, "malformed JSON at line %d, column %d: %s",
                             err.line, err.column, err.text);
        return;
    }
    if (n == 0 || n > LL_API_MAX_BATCH) {
        json_decref(items);
        /* An empty array is not a transaction either (as before batches). */
        ll_req_respond_error(req, n ? LL_EBADREQUEST : LL_EBADTYPE,
                             "a batch holds 1 to %d transactions, not %zu", LL_API_MAX_BATCH, n);
        return;
    }
    ll_ledger_req_t *lr = ll_api_ledger_req(req, LL_LEDGER_SUBMIT_BATCH, 200);
    if (!lr) {
        json_decref(items);
        return;
    }
    lr->batch = calloc(n, sizeof *lr->batch);
    lr->batch_results = json_array();
    lr->batch_n = n;
    for (size_t i = 0; lr->batch && lr->batch_results && i < n; i++) {
        int rc = ll_tx_from_json(json_array_get(items, i), &lr->batch[i], why);
        json_t *result =
            rc == 0 ? json_null()
                    : json_pack("{s:{s:s, s:s}}", "error", "code", ll_err_code(rc), "message", why);
        if (json_array_append_new(lr->batch_results, result) < 0)
            break;
    }
    json_decref(items);
    if (!lr->batch || json_array_size(lr->batch_results) != n) {
        ll_api_ledger_req_fail(lr, LL_ENOMEM, "out of memory");
        return;
    }
    ll_api_ask_ledger(ctx, lr);
}

void ll_api_tx_submit(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char why[LL_ERRMSG_MAX];
    size_t len;
    const char *body = ll_req_body(req, &len);
    ll_tx_t *tx = NULL;
    (void)param;
    if (len > 0 && body[strspn(body, " \t\r\n")] == '[') {
        submit_batch(ctx, req, body, len);
        return;
    }
    int rc = ll_tx_parse(body, len, &tx, why);
    if (rc < 0) {
        ll_req_respond_error(req, rc, "%s", why);
        return;
    }
    ll_ledger_req_t *lr = ll_api_ledger_req(req, LL_LEDGER_SUBMIT, 202);
    if (!lr) {
        ll_tx_free(tx);
        return;
    }
    lr->tx = tx;
    ll_api_ask_ledger(ctx, lr);
}

void ll_api_tx_get(ll_api_worker_t *ctx, ll_req_t *req, const char *tx_id)
{
    if (!ll_hex_is_lower(tx_id, LL_TX_ID_HEX)) {
        ll_req_respond_error(req, LL_EBADPARAM, "a transaction id is 64 lowercase hex digits");
        return;
    }
    /* Pending transactions live on the ledger thread, so it answers both. */
    ll_ledger_req_t *lr = ll_api_ledger_req(req, LL_LEDGER_GET_TX, 200);
    if (!lr)
        return;
    snprintf(lr->tx_id, sizeof lr->tx_id, "%s", tx_id);
    ll_api_ask_ledger(ctx, lr);
}

void ll_api_receipt_get(ll_api_worker_t *ctx, ll_req_t *req, const char *tx_id)
{
    char *text = NULL;
    int rc;
    if (!ll_hex_is_lower(tx_id, LL_TX_ID_HEX)) {
        ll_req_respond_error(req, LL_EBADPARAM, "a transaction id is 64 lowercase hex digits");
        return;
    }
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return;
    }
    /* Receipts exist only for committed deploys and calls. */
    if ((rc = ll_store_get_receipt(ctx->reader, tx_id, &text)) < 0) {
        ll_req_respond_error(
            req, rc, rc == LL_ENOTFOUND ? "no receipt for that transaction" : "store error");
        return;
    }
    ll_req_respond(req, 200, "application/json", text, strlen(text));
    free(text);
}
