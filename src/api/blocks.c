/* api/blocks.c: GET /api/v1/blocks/latest and /api/v1/blocks/{height}, read
 * from the worker's own database snapshot. */
#include "api/api.h"
#include "ledger/block.h"
#include "util/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int add_tx_id(const ll_store_tx_t *tx, void *arg)
{
    return json_array_append_new(arg, json_string(tx->tx_id)) == 0 ? 0 : LL_ENOMEM;
}

static int parse_height(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
        return LL_EBADPARAM;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return LL_EBADPARAM;
    *out = v;
    return 0;
}

void ll_api_block_get(ll_api_worker_t *ctx, ll_req_t *req, const char *which)
{
    ll_block_hdr_t b;
    uint64_t height = 0;
    json_t *obj = NULL, *txs = NULL;
    int rc;
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return;
    }
    if (strcmp(which, "latest") == 0) {
        rc = ll_store_latest_block(ctx->reader, &b);
    } else if (parse_height(which, &height) < 0) {
        ll_req_respond_error(req, LL_EBADPARAM, "a block is named by 'latest' or its height");
        return;
    } else {
        rc = ll_store_block_by_height(ctx->reader, height, &b);
    }
    if (rc < 0) {
        ll_req_respond_error(req, rc,
                             rc == LL_ENOTFOUND ? "no block at that height" : "store error");
        return;
    }
    if (!(obj = ll_block_json(&b)) || !(txs = json_array()) ||
        (rc = ll_store_block_txs(ctx->reader, b.height, add_tx_id, txs)) < 0) {
        json_decref(obj);
        json_decref(txs);
        ll_req_respond_error(req, LL_EINTERNAL, "could not read the block's transactions");
        return;
    }
    json_object_set_new(obj, "transactions", txs); /* steals txs */
    ll_req_respond_json(req, 200, obj);
}
