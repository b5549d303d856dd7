/* api/metrics.c: GET /metrics in the Prometheus text format (0.0.4). */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>

/* Appends the stream metrics, summed over workers, to text (room cap);
 * returns the new length. */
static size_t stream_metrics(const ll_stream_stats_t *stats, char *text, size_t n, size_t cap)
{
    ll_stream_counts_t st;
    ll_stream_stats_sum(stats, &st);
    static const struct {
        ll_wire_t wire;
        const char *name;
    } streams[] = {
        {LL_WIRE_SSE, "sse"},
        {LL_WIRE_WS_EVENTS, "events"},
        {LL_WIRE_WS_VALID_TX, "valid_tx"},
        {LL_WIRE_WS_VALID_TXS, "valid_transactions"},
    };
    n += (size_t)snprintf(text + n, cap - n,
                          "# HELP ledgerline_stream_subscribers Open stream connections.\n"
                          "# TYPE ledgerline_stream_subscribers gauge\n");
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "ledgerline_stream_subscribers{stream=\"%s\"} %" PRId64 "\n",
                              streams[i].name, st.subscribers[streams[i].wire]);
    n += (size_t)snprintf(
        text + n, cap - n,
        "# HELP ledgerline_stream_events_sent_total Events handed to subscribers' sockets.\n"
        "# TYPE ledgerline_stream_events_sent_total counter\n"
        "ledgerline_stream_events_sent_total %" PRIu64 "\n"
        "# HELP ledgerline_stream_events_dropped_total Events dropped for full client queues.\n"
        "# TYPE ledgerline_stream_events_dropped_total counter\n"
        "ledgerline_stream_events_dropped_total %" PRIu64 "\n"
        "# HELP ledgerline_stream_queue_high_water Deepest any client queue has been.\n"
        "# TYPE ledgerline_stream_queue_high_water gauge\n"
        "ledgerline_stream_queue_high_water %" PRIu64 "\n",
        st.sent, st.dropped, st.queue_hwm);
    return n;
}

void ll_api_metrics(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    ll_ledger_stats_t s;
    char text[4096];
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
        "# HELP ledgerline_contract_time_limit_total Contract runs stopped by the time limit "
        "(their transactions left out of blocks).\n"
        "# TYPE ledgerline_contract_time_limit_total counter\n"
        "ledgerline_contract_time_limit_total %" PRIu64 "\n"
        "# HELP ledgerline_http_requests_total HTTP requests routed.\n"
        "# TYPE ledgerline_http_requests_total counter\n"
        "ledgerline_http_requests_total %" PRIu64 "\n",
        s.height, s.mempool, s.blocks_produced, s.txs_committed, s.contract_time_limits,
        (uint64_t)atomic_load(&ctx->app->requests));
    n +=
        snprintf(text + n, sizeof text - (size_t)n,
                 "# HELP ledgerline_batches Batch submissions being checked on the thread pool, "
                 "and waiting their turn.\n"
                 "# TYPE ledgerline_batches gauge\n"
                 "ledgerline_batches{state=\"checking\"} %" PRId64 "\n"
                 "ledgerline_batches{state=\"waiting\"} %" PRId64 "\n",
                 atomic_load(&ctx->app->batches_checking), atomic_load(&ctx->app->batches_waiting));
    size_t len = stream_metrics(&ctx->app->streams, text, (size_t)n, sizeof text);
    ll_req_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
