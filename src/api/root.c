/* api/root.c: GET / and /api/v1/ (the seed's _links, or the web UI for a
 * browser), GET /healthz, and the web UI's files with their
 * Content-Security-Policy. */
#include "api/api.h"
#include "api/web_assets.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>

/* The web UI's pages load nothing but their own files: scripts and styles
 * from the node (no inline ones, so an injected <script> or on…= handler
 * does not run), streams and REST calls to the node (ws: and wss: for the
 * WebSocket streams), no plugins, no framing by another site. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "    \
    "form-action 'self'"

/* Answers with a file of web/, under the web UI's policy; nosniff keeps a
 * browser to the declared type (a module script must be JavaScript). */
static void respond_asset(ll_req_t *req, const ll_web_asset_t *a)
{
    ll_req_add_header(req, "Content-Security-Policy", WEB_CSP);
    ll_req_add_header(req, "X-Content-Type-Options", "nosniff");
    ll_req_respond_static(req, 200, a->content_type, (const char *)a->data, a->len);
}

/* A browser asks for text/html before JSON; curl (Accept: * / *) and API
 * clients get JSON. */
static int prefers_html(const ll_req_t *req)
{
    const char *accept = ll_req_header(req, "Accept");
    const char *html = accept ? strstr(accept, "text/html") : NULL;
    const char *json = accept ? strstr(accept, "application/json") : NULL;
    return html && (!json || html < json);
}

/* The base URL clients should use: --public-url when set, else what the
 * client called us by (its Host header), else the listen address; https and
 * wss over the node's TLS, or when a trusted proxy says the client came
 * over TLS. */
static void base_url(const ll_api_worker_t *ctx, const ll_req_t *req, char *http, size_t hcap,
                     char *ws, size_t wcap)
{
    const ll_config_t *c = ctx->app->config;
    if (c->public_url[0]) {
        size_t n = strlen(c->public_url);
        while (n > 0 && c->public_url[n - 1] == '/')
            n--;
        snprintf(http, hcap, "%.*s", (int)n, c->public_url);
        const char *rest = strstr(http, "://");
        int secure = strncmp(http, "https://", 8) == 0;
        snprintf(ws, wcap, "%s%s", secure ? "wss" : "ws", rest ? rest : "://");
        return;
    }
    const char *host = ll_req_header(req, "Host");
    char fallback[96];
    if (!host || !*host || strpbrk(host, " /\\\"")) {
        snprintf(fallback, sizeof fallback, "%s:%d", c->listen_host, c->listen_port);
        host = fallback;
    }
    int tls = ll_api_client_https(ctx, req);
    snprintf(http, hcap, "%s://%s", tls ? "https" : "http", host);
    snprintf(ws, wcap, "%s://%s", tls ? "wss" : "ws", host);
}

void ll_api_root(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char http[LL_CONFIG_STR_MAX + 16], ws[LL_CONFIG_STR_MAX + 16];
    char api[sizeof http + 16], streams[sizeof ws + 24];
    (void)param;
    if (!ctx->app->relay && strcmp(ll_req_path(req), "/") == 0 && prefers_html(req)) {
        const ll_web_asset_t *page = ll_web_asset("index.html");
        if (page) {
            respond_asset(req, page);
            return;
        }
    }
    base_url(ctx, req, http, sizeof http, ws, sizeof ws);
    snprintf(api, sizeof api, "%s/api/v1/", http);
    snprintf(streams, sizeof streams, "%s/api/v1/streams/", ws);
    if (ctx->app->relay) { /* its streams only: the REST API is the node's */
        ll_req_respond_json(req, 200,
                            json_pack("{s:{s:s}, s:s, s:s, s:s}", "_links", "streams_v1", streams,
                                      "software", "ledgerline", "version", LL_VERSION, "role",
                                      "relay"));
        return;
    }
    ll_req_respond_json(req, 200,
                        json_pack("{s:{s:s, s:s}, s:s, s:s}", "_links", "api_v1", api, "streams_v1",
                                  streams, "software", "ledgerline", "version", LL_VERSION));
}

/* A relay is healthy once it knows where the stream ends and can take new
 * streams (relay/relay.h); until then 503, so a load balancer waits. */
void ll_api_healthz(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    (void)param;
    if (ctx->app->relay && !ll_relay_ready(ctx->app->relay)) {
        ll_req_respond_error(req, LL_EUNAVAILABLE,
                             "this relay has not reached the event stream (NATS) yet");
        return;
    }
    ll_req_respond_static(req, 200, "text/plain; charset=utf-8", "ok", 2);
}

/* /<name> is web/<name>, or for a name without an extension the page
 * web/<name>.html, so the UI's pages have plain paths (/chat). */
void ll_api_static(ll_api_worker_t *ctx, ll_req_t *req, const char *name)
{
    const ll_web_asset_t *a = ll_web_asset(name);
    char page[128];
    (void)ctx;
    if (!a && !strchr(name, '.') && snprintf(page, sizeof page, "%s.html", name) < (int)sizeof page)
        a = ll_web_asset(page);
    if (!a) {
        ll_req_respond_error(req, LL_ENOTFOUND, "no route for %s", ll_req_path(req));
        return;
    }
    respond_asset(req, a);
}
