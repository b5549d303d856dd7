/* api/metrics.c: GET /metrics in the Prometheus text format (0.0.4). */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>

void ll_api_metrics(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    ll_ledger_stats_t s;
    char text[2048];
    (void)param;
    ll_ledger_stats(ctx->app->ledger, &s);
    int n = snprintf(
        text, sizeof text,
        "# HELP ledgerline_block_height Height of the chain's tip.\n"
        "# TYPE ledgerline_block_height gauge\n"
        "ledgerline_block_height %" PRIu64 "\n"
        "# HELP ledgerline_mempool_transactions Transactions accepted and not yet in a block.\n"
        "# TYPE ledgerline_mempool_transactions gauge\n"
        "ledgerline_mempool_transactions %" PRIu64 "\n"
        "# HELP ledgerline_blocks_produced_total Blocks this process has committed.\n"
        "# TYPE ledgerline_blocks_produced_total counter\n"
        "ledgerline_blocks_produced_total %" PRIu64 "\n"
        "# HELP ledgerline_transactions_committed_total Transactions this process has committed.\n"
        "# TYPE ledgerline_transactions_committed_total counter\n"
        "ledgerline_transactions_committed_total %" PRIu64 "\n"
        "# HELP ledgerline_http_requests_total HTTP requests routed.\n"
        "# TYPE ledgerline_http_requests_total counter\n"
        "ledgerline_http_requests_total %" PRIu64 "\n",
        s.height, s.mempool, s.blocks_produced, s.txs_committed,
        (uint64_t)atomic_load(&ctx->app->requests));
    ll_req_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, (size_t)n);
}
