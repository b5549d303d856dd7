/* api/blocks.c: GET /api/v1/blocks/latest, /api/v1/blocks/{height} and the
 * explorer's pages of blocks (/api/v1/blocks?before=&limit=), read from the
 * worker's own database snapshot. */
#include "api/api.h"
#include "ledger/block.h"
#include "util/err.h"

#include <stdint.h>
#include <string.h>

static int add_tx_id(const char *tx_id, void *arg)
{
    return json_array_append_new(arg, json_string(tx_id)) == 0 ? 0 : LL_ENOMEM;
}

/* A block as GET /api/v1/blocks/{height} shows it: the header, then its
 * transaction ids in block order. NULL when out of memory or when the store
 * failed. */
static json_t *block_object(ll_store_t *reader, const ll_block_hdr_t *b)
{
    json_t *obj = ll_block_json(b), *txs = json_array();
    if (!obj || !txs || ll_store_block_tx_ids(reader, b->height, add_tx_id, txs) < 0) {
        json_decref(obj);
        json_decref(txs);
        return NULL;
    }
    if (json_object_set_new(obj, "transactions", txs) < 0) { /* steals txs, even on failure */
        json_decref(obj);
        return NULL;
    }
    return obj;
}

void ll_api_block_get(ll_api_worker_t *ctx, ll_req_t *req, const char *which)
{
    ll_block_hdr_t b;
    uint64_t height = 0;
    json_t *obj;
    int rc;
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return;
    }
    if (strcmp(which, "latest") == 0) {
        rc = ll_store_latest_block(ctx->reader, &b);
    } else if (ll_api_parse_uint(which, UINT64_MAX, &height) < 0) {
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
    if (!(obj = block_object(ctx->reader, &b))) {
        ll_req_respond_error(req, LL_EINTERNAL, "could not read the block's transactions");
        return;
    }
    ll_req_respond_json(req, 200, obj);
}

/* Transaction ids one page of blocks lists at most (each block lists all
 * of its own): a page costs this, whatever --max-block-txs is. A block
 * that alone has more is still listed, alone. */
#define PAGE_TX_IDS_MAX 2000

typedef struct page {
    ll_store_t *reader;
    json_t *blocks;
    uint64_t lowest;
    size_t tx_ids;
} page_t;

static int add_block(const ll_block_hdr_t *b, void *arg)
{
    page_t *p = arg;
    if (json_array_size(p->blocks) > 0 && p->tx_ids + b->tx_count > PAGE_TX_IDS_MAX)
        return 1; /* full: the next page starts at this block */
    json_t *obj = block_object(p->reader, b);
    p->lowest = b->height;
    p->tx_ids += b->tx_count;
    return obj && json_array_append_new(p->blocks, obj) == 0 ? 0 : LL_EINTERNAL; /* steals obj */
}

/* before= is exclusive and defaults to above the tip; next_before is the
 * lowest height listed, to pass as the next page's before=, or null once the
 * list has reached genesis (or is empty: nothing lies below). */
void ll_api_blocks_list(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    uint64_t before = UINT64_MAX, limit = LL_API_PAGE_DEFAULT;
    page_t p = {.reader = ctx->reader};
    (void)param;
    if (ll_api_query_uint(req, "before", 0, INT64_MAX, &before) < 0) {
        ll_req_respond_error(req, LL_EBADPARAM, "before must be a block height (an integer >= 0)");
        return;
    }
    if (ll_api_page_start(ctx, req, &limit) < 0)
        return;
    if (!(p.blocks = json_array())) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return;
    }
    if (ll_store_blocks_before(ctx->reader, before, (uint32_t)limit, add_block, &p) < 0) {
        json_decref(p.blocks);
        ll_req_respond_error(req, LL_EINTERNAL, "could not read the blocks");
        return;
    }
    json_t *next = json_array_size(p.blocks) && p.lowest > 0 ? json_integer((json_int_t)p.lowest)
                                                             : json_null();
    /* "o" steals blocks and next */
    ll_req_respond_json(req, 200, json_pack("{s:o, s:o}", "blocks", p.blocks, "next_before", next));
}
