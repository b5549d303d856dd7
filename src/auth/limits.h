/* auth/limits.h: the node's limits on the session endpoints: login and
 * register attempts per client address, failed attempts per username, chat
 * messages per user and per client address (auth/ratelimit.h), and the
 * password hashes running at once (auth/hashgate.h). The rates are flags
 * (config.h); docs/API.md §3.9 and §3.10 give the numbers.
 * Owns:    one process-wide set of tables, made on first use and kept for
 *          the life of the process (they hold no heap memory).
 * Threads: any worker; every table takes its own lock. */
#ifndef LL_AUTH_LIMITS_H
#define LL_AUTH_LIMITS_H

#include "auth/hashgate.h"
#include "auth/ratelimit.h"
#include "net/http.h"

#include <stdint.h>

typedef struct ll_auth_limits {
    ll_ratelimit_t attempts_by_client; /* POST /api/login and /api/register */
    ll_ratelimit_t failures_by_name;   /* failed logins and registrations */
    ll_ratelimit_t messages_by_user;   /* POST /api/messages */
    ll_ratelimit_t messages_by_client;
    ll_hashgate_t hashes; /* Argon2id on the thread pool */
} ll_auth_limits_t;

/* The process's limits, made on the first call; NULL only if a mutex could
 * not be made, and then on every call (callers answer 500). */
ll_auth_limits_t *ll_auth_limits(void);

#define LL_AUTH_CLIENT_KEY_CAP 64

/* The key a client address counts under (ll_ratelimit_client_key of ip,
 * text as ll_req_peer_ip gives it); "unknown" for NULL. */
void ll_auth_client_key(const char *ip, char out[LL_AUTH_CLIENT_KEY_CAP]);

/* The process's limits and the key of the client address ip (the API
 * decides which address that is: api.h ll_api_client_ip; NULL: unknown),
 * for a handler about to count req: NULL (req answered 500) when the
 * limits are unavailable. */
ll_auth_limits_t *ll_auth_limits_for(ll_req_t *req, const char *ip,
                                     char client[LL_AUTH_CLIENT_KEY_CAP]);

/* Takes one token of key from rl (per_min a minute). When none is left,
 * answers req `429 rate_limited` with Retry-After (seconds) and a message
 * that names what (e.g. "login attempts from this address"), and returns
 * LL_ERATELIMIT; else returns 0 and req is still the caller's. */
int ll_auth_limit(ll_req_t *req, ll_ratelimit_t *rl, const char *key, uint32_t per_min,
                  const char *what);

/* Answers req `429 rate_limited` with "Retry-After: retry_after_s". */
void ll_auth_respond_limited(ll_req_t *req, uint32_t retry_after_s, const char *what);

#endif
