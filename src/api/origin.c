/* api/origin.c: whose page a browser request comes from. The session
 * streams and the state-changing routes a browser can reach without a
 * preflight (a form or a text/plain POST) take only the node's own origin
 * or a --allowed-origins entry; a request with no Origin comes from a
 * non-browser client and passes. */
#include "api/api.h"
#include "util/list.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

/* Origins compare case-insensitively, a default port (:80 for http, :443
 * for https) being the same as none: browsers leave it out, a Host header
 * or --public-url may not. */
static size_t origin_len(const char *o, size_t n)
{
    if (n > 10 && strncasecmp(o, "http://", 7) == 0 && strncmp(o + n - 3, ":80", 3) == 0)
        return n - 3;
    if (n > 12 && strncasecmp(o, "https://", 8) == 0 && strncmp(o + n - 4, ":443", 4) == 0)
        return n - 4;
    return n;
}

static int same_origin(const char *a, size_t alen, const char *b, size_t blen)
{
    alen = origin_len(a, alen);
    blen = origin_len(b, blen);
    return alen > 0 && alen == blen && strncasecmp(a, b, alen) == 0;
}

/* 1 when origin is in --allowed-origins (comma-separated, blanks around
 * the entries allowed). */
static int origin_listed(const ll_api_worker_t *ctx, const char *origin)
{
    const char *list = ctx->app->config->allowed_origins;
    size_t olen = strlen(origin), len;
    const char *item;
    while (ll_list_next(&list, &item, &len))
        if (same_origin(item, len, origin, olen))
            return 1;
    return 0;
}

/* 1 when addr (not NUL-terminated) is the same IP address as peer, both
 * compared as binary so that "::1" and "0:0::1" are one address. */
static int same_ip(const char *addr, size_t len, const unsigned char *peer, int family)
{
    char text[64];
    unsigned char bin[16];
    if (len == 0 || len >= sizeof text)
        return 0;
    memcpy(text, addr, len);
    text[len] = '\0';
    if (uv_inet_pton(family, text, bin) != 0)
        return 0;
    return memcmp(bin, peer, family == AF_INET ? 4 : 16) == 0;
}

/* 1 when req's TCP peer is one of --trusted-proxies. */
static int from_trusted_proxy(const ll_api_worker_t *ctx, const ll_req_t *req)
{
    const char *list = ctx->app->config->trusted_proxies, *item;
    char ip[64];
    unsigned char peer[16];
    int family;
    size_t len;
    if (!list[0] || ll_req_peer_ip(req, ip, sizeof ip) < 0)
        return 0;
    family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (uv_inet_pton(family, ip, peer) != 0)
        return 0;
    while (ll_list_next(&list, &item, &len))
        if (same_ip(item, len, peer, family))
            return 1;
    return 0;
}

int ll_api_client_https(const ll_api_worker_t *ctx, const ll_req_t *req)
{
    const char *proto;
    if (ll_req_is_tls(req))
        return 1;
    return (proto = ll_req_header(req, "X-Forwarded-Proto")) && strcasecmp(proto, "https") == 0 &&
           from_trusted_proxy(ctx, req);
}

/* The last element of an X-Forwarded-For list, without blanks, into out
 * when it is a numeric IPv4 or IPv6 address. Returns 0, or -1. */
static int last_forwarded(const char *xff, char *out, size_t cap)
{
    const char *start = strrchr(xff, ',');
    start = start ? start + 1 : xff;
    start += strspn(start, " \t");
    size_t len = strcspn(start, " \t");
    unsigned char bin[16];
    if (len == 0 || len >= cap || start[len + strspn(start + len, " \t")] != '\0')
        return -1;
    memcpy(out, start, len);
    out[len] = '\0';
    return uv_inet_pton(strchr(out, ':') ? AF_INET6 : AF_INET, out, bin) == 0 ? 0 : -1;
}

int ll_api_client_ip(const ll_api_worker_t *ctx, const ll_req_t *req, char *out, size_t cap)
{
    const char *xff = ll_req_header_last(req, "X-Forwarded-For");
    if (xff && from_trusted_proxy(ctx, req) && last_forwarded(xff, out, cap) == 0)
        return 0;
    return ll_req_peer_ip(req, out, cap);
}

/* The node's own origin into out: scheme, host and port of --public-url
 * when set, else http:// (https:// over TLS, or from a trusted proxy that
 * says so) and
 * the request's Host header; "" when neither is known. */
static void own_origin(const ll_api_worker_t *ctx, const ll_req_t *req, char *out, size_t cap)
{
    const char *url = ctx->app->config->public_url;
    const char *host = ll_req_header(req, "Host");
    if (url[0]) {
        const char *sep = strstr(url, "://");
        size_t n = sep ? (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#") : strlen(url);
        snprintf(out, cap, "%.*s", (int)n, url);
    } else if (host && host[0]) {
        snprintf(out, cap, "%s://%s", ll_api_client_https(ctx, req) ? "https" : "http", host);
    } else {
        out[0] = '\0';
    }
}

int ll_api_origin_public_ok(const ll_api_worker_t *ctx, const ll_req_t *req)
{
    const char *origin = ll_req_header(req, "Origin");
    return !ctx->app->config->allowed_origins[0] || !origin || origin_listed(ctx, origin);
}

int ll_api_origin_same_site(const ll_api_worker_t *ctx, const ll_req_t *req)
{
    char own[LL_CONFIG_STR_MAX + 16];
    const char *origin = ll_req_header(req, "Origin");
    if (!origin)
        return 1;
    own_origin(ctx, req, own, sizeof own);
    return same_origin(own, strlen(own), origin, strlen(origin)) || origin_listed(ctx, origin);
}
