/* api/transactions.c: POST /api/v1/transactions and GET …/{tx_id}.
 * Everything a transaction can be checked for without state (shape, every
 * field, the signature) is checked here on the worker, in parallel across
 * workers; only the ledger rules (nonce, funds) go to the ledger thread. */
#include "api/api.h"
#include "util/err.h"
#include "util/hex.h"
#include "store/contracts.h"

#include <stdlib.h>
#include <string.h>

void ll_api_tx_submit(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char why[LL_ERRMSG_MAX];
    size_t len;
    const char *body = ll_req_body(req, &len);
    ll_tx_t *tx = NULL;
    (void)param;
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
        ll_req_respond_error(req, rc,
                             rc == LL_ENOTFOUND ? "no receipt for that transaction" : "store error");
        return;
    }
    ll_req_respond(req, 200, "application/json", text, strlen(text));
    free(text);
}
