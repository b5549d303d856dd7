/* api/root.c: GET / and /api/v1/ (the seed's _links, or the web UI for a
 * browser) and GET /healthz. */
#include "api/api.h"
#include "api/web_assets.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>

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
 * client called us by (its Host header), else the listen address. */
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
    snprintf(http, hcap, "http://%s", host);
    snprintf(ws, wcap, "ws://%s", host);
}

void ll_api_root(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char http[LL_CONFIG_STR_MAX + 16], ws[LL_CONFIG_STR_MAX + 16];
    char api[sizeof http + 16], streams[sizeof ws + 24];
    (void)param;
    if (!ctx->app->relay && strcmp(ll_req_path(req), "/") == 0 && prefers_html(req)) {
        const ll_web_asset_t *page = ll_web_asset("index.html");
        if (page) {
            ll_req_respond_static(req, 200, page->content_type, (const char *)page->data,
                                  page->len);
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

void ll_api_healthz(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    (void)ctx;
    (void)param;
    ll_req_respond_static(req, 200, "text/plain; charset=utf-8", "ok", 2);
}

void ll_api_static(ll_api_worker_t *ctx, ll_req_t *req, const char *name)
{
    const ll_web_asset_t *a = ll_web_asset(name);
    (void)ctx;
    if (!a) {
        ll_req_respond_error(req, LL_ENOTFOUND, "no route for %s", ll_req_path(req));
        return;
    }
    ll_req_respond_static(req, 200, a->content_type, (const char *)a->data, a->len);
}
