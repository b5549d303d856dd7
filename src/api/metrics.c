/* api/metrics.c: GET /metrics in the Prometheus text format (0.0.4). */
#include "api/api.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

/* Appends to text[*n, cap); once it is full, further text is cut (the
 * buffer is sized for every metric, so that would be a bug, not an
 * overflow). */
static void put(char *text, size_t *n, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (*n + 1 >= cap)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(text + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/* Appends one labelled series of a histogram: its cumulative buckets
 * (util/histo.h's bounds, then +Inf), _sum and _count. */
static void put_histogram(char *text, size_t *n, size_t cap, const char *name, const char *label,
                          const char *value, const uint64_t *counts, uint64_t sum_ns)
{
    uint64_t cumulative = 0;
    for (int i = 0; i <= LL_HISTO_BUCKETS; i++) {
        char le[32];
        cumulative += counts[i];
        if (i < LL_HISTO_BUCKETS)
            snprintf(le, sizeof le, "%g", ll_histo_le[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        put(text, n, cap, "%s_bucket{%s=\"%s\",le=\"%s\"} %" PRIu64 "\n", name, label, value, le,
            cumulative);
    }
    put(text, n, cap,
        "%s_sum{%s=\"%s\"} %.6f\n"
        "%s_count{%s=\"%s\"} %" PRIu64 "\n",
        name, label, value, (double)sum_ns / 1e9, name, label, value, cumulative);
}

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
    put(text, &n, cap,
        "# HELP ledgerline_stream_subscribers Open stream connections.\n"
        "# TYPE ledgerline_stream_subscribers gauge\n");
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        put(text, &n, cap, "ledgerline_stream_subscribers{stream=\"%s\"} %" PRId64 "\n",
            streams[i].name, st.subscribers[streams[i].wire]);
    put(text, &n, cap,
        "# HELP ledgerline_stream_events_sent_total Events handed to subscribers' sockets.\n"
        "# TYPE ledgerline_stream_events_sent_total counter\n"
        "ledgerline_stream_events_sent_total %" PRIu64 "\n"
        "# HELP ledgerline_stream_queue_high_water Deepest any client queue has been.\n"
        "# TYPE ledgerline_stream_queue_high_water gauge\n"
        "ledgerline_stream_queue_high_water %" PRIu64 "\n"
        "# HELP ledgerline_stream_subscribers_lagging Open subscribers holding more than half "
        "their --client-queue in events their socket has not taken.\n"
        "# TYPE ledgerline_stream_subscribers_lagging gauge\n"
        "ledgerline_stream_subscribers_lagging %" PRId64 "\n"
        "# HELP ledgerline_stream_events_dropped_total Events dropped for full client queues.\n"
        "# TYPE ledgerline_stream_events_dropped_total counter\n",
        st.sent, st.queue_hwm, st.lagging);
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        put(text, &n, cap, "ledgerline_stream_events_dropped_total{stream=\"%s\"} %" PRIu64 "\n",
            streams[i].name, st.dropped_by[streams[i].wire]);
    put(text, &n, cap,
        "# HELP ledgerline_event_first_write_seconds From a batch of events' commit to the first "
        "write holding it to a subscriber of the stream, per worker.\n"
        "# TYPE ledgerline_event_first_write_seconds histogram\n");
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        put_histogram(text, &n, cap, "ledgerline_event_first_write_seconds", "stream",
                      streams[i].name, st.first_write[streams[i].wire],
                      st.first_write_ns[streams[i].wire]);
    return n;
}

/* A relay's own: its intake from NATS (relay/relay.h). */
static void relay_metrics(ll_api_worker_t *ctx, char *text, size_t *n, size_t cap)
{
    int connected;
    uint64_t last, received, resets, recent_first;
    ll_relay_metrics(ctx->app->relay, &connected, &last, &received, &resets, &recent_first);
    put(text, n, cap,
        "# HELP ledgerline_http_requests_total HTTP requests routed.\n"
        "# TYPE ledgerline_http_requests_total counter\n"
        "ledgerline_http_requests_total %" PRIu64 "\n"
        "# HELP ledgerline_nats_connected 1 while the connection to NATS (--nats) is up.\n"
        "# TYPE ledgerline_nats_connected gauge\n"
        "ledgerline_nats_connected %d\n"
        "# HELP ledgerline_relay_last_event_id The newest event this relay has read.\n"
        "# TYPE ledgerline_relay_last_event_id gauge\n"
        "ledgerline_relay_last_event_id %" PRIu64 "\n"
        "# HELP ledgerline_relay_events_received_total Events read from the stream.\n"
        "# TYPE ledgerline_relay_events_received_total counter\n"
        "ledgerline_relay_events_received_total %" PRIu64 "\n"
        "# HELP ledgerline_relay_resubscribes_total Times the intake was made again after a "
        "failure.\n"
        "# TYPE ledgerline_relay_resubscribes_total counter\n"
        "ledgerline_relay_resubscribes_total %" PRIu64 "\n"
        "# HELP ledgerline_relay_memory_first_event_id The oldest event held in memory for "
        "resuming clients (older ones are read from the stream).\n"
        "# TYPE ledgerline_relay_memory_first_event_id gauge\n"
        "ledgerline_relay_memory_first_event_id %" PRIu64 "\n",
        (uint64_t)atomic_load(&ctx->app->requests), connected, last, received, resets,
        recent_first);
}

/* The node's own: its ledger, its batches, its feed to NATS. */
static void node_metrics(ll_api_worker_t *ctx, char *text, size_t *np, size_t cap)
{
    ll_ledger_stats_t s;
    size_t n = *np;
    ll_ledger_stats(ctx->app->ledger, &s);
    put(text, &n, cap,
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
        "ledgerline_http_requests_total %" PRIu64 "\n"
        "# HELP ledgerline_event_last_id The newest event id handed to the streams.\n"
        "# TYPE ledgerline_event_last_id gauge\n"
        "ledgerline_event_last_id %" PRIu64 "\n",
        s.height, s.mempool, s.blocks_produced, s.txs_committed, s.contract_time_limits,
        (uint64_t)atomic_load(&ctx->app->requests), ll_hub_last_seq(ctx->app->hub));
    put(text, &n, cap,
        "# HELP ledgerline_batches Batch submissions being checked on the thread pool, "
        "and waiting their turn.\n"
        "# TYPE ledgerline_batches gauge\n"
        "ledgerline_batches{state=\"checking\"} %" PRId64 "\n"
        "ledgerline_batches{state=\"waiting\"} %" PRId64 "\n",
        atomic_load(&ctx->app->batches_checking), atomic_load(&ctx->app->batches_waiting));
    if (ctx->app->nats_feed) {
        ll_nats_feed_stats_t nf;
        ll_nats_feed_stats(ctx->app->nats_feed, &nf);
        put(text, &n, cap,
            "# HELP ledgerline_nats_connected 1 while the connection to NATS (--nats) is up.\n"
            "# TYPE ledgerline_nats_connected gauge\n"
            "ledgerline_nats_connected %d\n"
            "# HELP ledgerline_nats_stream_seq The last event id the JetStream stream holds.\n"
            "# TYPE ledgerline_nats_stream_seq gauge\n"
            "ledgerline_nats_stream_seq %" PRIu64 "\n"
            "# HELP ledgerline_nats_published_total Events JetStream acknowledged from this "
            "process.\n"
            "# TYPE ledgerline_nats_published_total counter\n"
            "ledgerline_nats_published_total %" PRIu64 "\n"
            "# HELP ledgerline_nats_failures_total Publishes or stream reads that failed and "
            "were retried.\n"
            "# TYPE ledgerline_nats_failures_total counter\n"
            "ledgerline_nats_failures_total %" PRIu64 "\n",
            nf.connected, nf.acked_seq, nf.published, nf.failures);
    }
    static const char *const phases[LL_BLOCK_PHASES] = {"apply", "mine", "commit"};
    put(text, &n, cap,
        "# HELP ledgerline_block_seconds Time this process spent producing each block, per phase "
        "(apply: its transactions and contracts; mine: tx root and proof of work; commit: the "
        "SQLite transaction with its re-read and events, published).\n"
        "# TYPE ledgerline_block_seconds histogram\n");
    for (int p = 0; p < LL_BLOCK_PHASES; p++)
        put_histogram(text, &n, cap, "ledgerline_block_seconds", "phase", phases[p], s.phase[p],
                      s.phase_ns[p]);
    *np = n;
}

void ll_api_metrics(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    static _Thread_local char text[65536]; /* each worker's own, not its stack */
    size_t n = 0;
    (void)param;
    if (ctx->app->relay)
        relay_metrics(ctx, text, &n, sizeof text);
    else
        node_metrics(ctx, text, &n, sizeof text);
    if (ctx->app->tls) {
        ll_tls_stats_t t;
        ll_tls_ctx_stats(ctx->app->tls, &t);
        put(text, &n, sizeof text,
            "# HELP ledgerline_tls_handshakes_total TLS handshakes completed, by the path the "
            "connection's bytes take: kernel TLS, or OpenSSL in user space.\n"
            "# TYPE ledgerline_tls_handshakes_total counter\n"
            "ledgerline_tls_handshakes_total{path=\"ktls\"} %" PRIu64 "\n"
            "ledgerline_tls_handshakes_total{path=\"userspace\"} %" PRIu64 "\n"
            "# HELP ledgerline_tls_handshake_failures_total TLS handshakes that failed, or did "
            "not finish within the head deadline.\n"
            "# TYPE ledgerline_tls_handshake_failures_total counter\n"
            "ledgerline_tls_handshake_failures_total %" PRIu64 "\n",
            t.ktls, t.userspace, t.failed);
    }
    put(text, &n, sizeof text,
        "# HELP ledgerline_http_responses_total Responses by route (method and pattern, or "
        "unmatched) and status, for the requests the router saw.\n"
        "# TYPE ledgerline_http_responses_total counter\n");
    for (size_t r = 0; r <= ll_api_route_count(); r++) {
        for (int k = 0; k <= LL_API_STATUS_KINDS; k++) {
            uint64_t v = atomic_load_explicit(&ctx->app->responses[r][k], memory_order_relaxed);
            char route[96], status[16];
            if (v)
                put(text, &n, sizeof text,
                    "ledgerline_http_responses_total{route=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                    ll_api_route_label(r, route, sizeof route),
                    ll_api_status_label(k, status, sizeof status), v);
        }
    }
    size_t len = stream_metrics(&ctx->app->streams, text, n, sizeof text);
    ll_req_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
