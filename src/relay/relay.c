/* relay/relay.c: see relay.h. */
#include "relay/relay.h"
#include "api/api.h"
#include "nats/natsconn.h"
#include "nats/sessions.h"
#include "nats/source.h"
#include "net/server.h"
#include "relay/recent.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ll_relay {
    ll_hub_t *hub;
    ll_recent_t *recent;
    ll_nats_source_t *source;
    ll_session_dir_t *sessions;
};

static int events_after(void *ctx, uint64_t after, size_t limit, ll_history_cb cb, void *arg)
{
    ll_relay_t *r = ctx;
    uint64_t first, last, edge = ll_nats_source_edge(r->source);
    int n, m;
    ll_recent_range(r->recent, &first, &last);
    if (first && after + 1 >= first) {
        n = ll_recent_after(r->recent, after, limit, cb, arg);
    } else {
        /* Older than the memory: from the stream, up to where it starts. */
        n = ll_nats_source_history(r->source, after, limit, first, cb, arg);
        if (n >= 0 && (size_t)n < limit && first && after + (uint64_t)n + 1 >= first) {
            m = ll_recent_after(r->recent, after + (uint64_t)n, limit - (size_t)n, cb, arg);
            n = m < 0 ? m : n + m;
        }
    }
    /* While the memory is still filling up to the edge, the stream has the
     * rest: history must not end before the edge, where live begins. */
    if (n >= 0 && (size_t)n < limit && after + (uint64_t)n < edge) {
        m = ll_nats_source_history(r->source, after + (uint64_t)n, limit - (size_t)n, 0, cb, arg);
        n = m < 0 ? m : n + m;
    }
    return n;
}

static uint64_t last_seq(void *ctx)
{
    ll_relay_t *r = ctx;
    return ll_nats_source_edge(r->source);
}

static int session_expiry(void *ctx, const char *key, int64_t *expires_ms)
{
    ll_relay_t *r = ctx;
    int rc = ll_session_dir_expiry(r->sessions, key, expires_ms);
    /* not read once yet: no cookie can be judged, which is NATS's absence */
    return rc == LL_ESHUTDOWN ? LL_EUNAVAILABLE : rc;
}

ll_stream_backend_t ll_relay_backend(ll_relay_t *r)
{
    return (ll_stream_backend_t){events_after, last_seq, session_expiry, r};
}

int ll_relay_ready(ll_relay_t *r)
{
    return ll_nats_source_ready(r->source);
}

int ll_relay_can_resume(ll_relay_t *r, uint64_t after)
{
    uint64_t first, last, edge = ll_nats_source_edge(r->source);
    ll_recent_range(r->recent, &first, &last);
    if (after >= edge || (first && after + 1 >= first && last >= edge))
        return 1;
    return ll_nats_source_can_read(r->source);
}

void ll_relay_metrics(ll_relay_t *r, int *connected, uint64_t *last_seq_out, uint64_t *received,
                      uint64_t *resets, uint64_t *recent_first)
{
    ll_nats_source_stats_t st;
    uint64_t last;
    ll_nats_source_stats(r->source, &st);
    ll_recent_range(r->recent, recent_first, &last);
    *connected = st.connected;
    *last_seq_out = st.last_seq;
    *received = st.received;
    *resets = st.resets;
}

int ll_relay_run(const ll_config_t *cfg, ll_tls_ctx_t *tls, void (*wait_for_signal)(void))
{
    ll_config_t config = *cfg;
    ll_relay_t relay = {0};
    ll_server_t *server = NULL;
    ll_api_t app;
    ll_server_opts_t opts;
    int rc = 1;

    if (!config.nats_urls[0]) {
        LL_ERROR("relay: --nats nats://HOST:PORT[,…] is required");
        return 2;
    }
    if (config.workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        config.workers = cores > 0 ? (uint32_t)cores : 1;
    }
    if (!(relay.hub = ll_hub_new()) || !(relay.recent = ll_recent_new(config.relay_memory)))
        goto out;
    ll_nats_source_opts_t so = {.urls = config.nats_urls,
                                .stream = config.nats_stream,
                                .hub = relay.hub,
                                .recent = relay.recent,
                                .start_back = config.relay_memory};
    if (ll_nats_source_start(&so, &relay.source) < 0) {
        LL_ERROR("relay: cannot read from NATS (check --nats)");
        goto out;
    }
    char bucket[LL_NATS_BUCKET_MAX + 1];
    if (ll_nats_sessions_bucket(config.nats_stream, bucket) < 0)
        goto out;
    ll_session_dir_opts_t sd = {.urls = config.nats_urls, .bucket = bucket};
    if (ll_session_dir_start(&sd, &relay.sessions) < 0) {
        LL_ERROR("relay: cannot watch the session bucket %s", bucket);
        goto out;
    }
    memset(&app, 0, sizeof app);
    app.config = &config;
    app.hub = relay.hub;
    app.relay = &relay;
    app.tls = tls;
    ll_api_server_opts(&app, &opts);
    if (ll_server_start(&opts, &server) < 0)
        goto out;
    LL_INFO("ledgerline %s relay listening on %s://%s:%d with %u workers, stream %s from %s",
            LL_VERSION, tls ? "https" : "http", config.listen_host, ll_server_port(server),
            config.workers, config.nats_stream, config.nats_urls);
    wait_for_signal();
    ll_server_stop_accepting(server);
    ll_server_stop(server);
    rc = 0;
out:
    ll_nats_source_stop(relay.source); /* after the workers: they read history through it */
    ll_session_dir_stop(relay.sessions);
    ll_nats_release();
    ll_recent_free(relay.recent);
    ll_hub_free(relay.hub);
    if (rc == 0)
        LL_INFO("stopped cleanly");
    return rc;
}
