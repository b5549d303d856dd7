/* auth/limits.c: see limits.h. The tables are static: a few hundred KiB of
 * zeroed memory that the kernel maps in only as buckets are used. */
#include "auth/limits.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>

/* Written once under init_once, then only through each table's lock, by
 * any worker thread. */
static ll_auth_limits_t limits;
static ll_auth_limits_t *limits_ok;
static uv_once_t init_once = UV_ONCE_INIT;

static void init_limits(void)
{
    if (ll_ratelimit_init(&limits.attempts_by_client) < 0 ||
        ll_ratelimit_init(&limits.failures_by_name) < 0 ||
        ll_ratelimit_init(&limits.messages_by_user) < 0 ||
        ll_ratelimit_init(&limits.messages_by_client) < 0 ||
        ll_hashgate_init(&limits.hashes, LL_HASHGATE_SLOTS, LL_HASHGATE_QUEUE) < 0) {
        LL_ERROR("auth: the rate limit tables cannot be made");
        return;
    }
    limits_ok = &limits;
}

ll_auth_limits_t *ll_auth_limits(void)
{
    uv_once(&init_once, init_limits);
    return limits_ok;
}

void ll_auth_client_key(const char *ip, char out[LL_AUTH_CLIENT_KEY_CAP])
{
    ll_ratelimit_client_key(ip ? ip : "unknown", out, LL_AUTH_CLIENT_KEY_CAP);
}

ll_auth_limits_t *ll_auth_limits_for(ll_req_t *req, const char *ip,
                                     char client[LL_AUTH_CLIENT_KEY_CAP])
{
    ll_auth_limits_t *all = ll_auth_limits();
    if (!all) {
        ll_req_respond_error(req, LL_EINTERNAL, "rate limits are unavailable");
        return NULL;
    }
    ll_auth_client_key(ip, client);
    return all;
}

void ll_auth_respond_limited(ll_req_t *req, uint32_t retry_after_s, const char *what)
{
    char value[16];
    snprintf(value, sizeof value, "%u", retry_after_s);
    ll_req_add_header(req, "Retry-After", value);
    ll_req_respond_error(req, LL_ERATELIMIT, "too many %s: retry in %u s", what, retry_after_s);
}

int ll_auth_limit(ll_req_t *req, ll_ratelimit_t *rl, const char *key, uint32_t per_min,
                  const char *what)
{
    uint32_t retry = 1;
    if (ll_ratelimit_take(rl, key, per_min, ll_clock_mono_ms(), &retry) == 0)
        return 0;
    ll_auth_respond_limited(req, retry, what);
    return LL_ERATELIMIT;
}
