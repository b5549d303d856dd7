/* auth/ratelimit.c: see ratelimit.h. Token counts are integers scaled by
 * the milliseconds of a minute, so refilling per_min tokens a minute is
 * exact integer arithmetic: elapsed_ms * per_min scaled tokens. */
#include "auth/ratelimit.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_MIN 60000u
#define ONE_TOKEN ((uint64_t)MS_PER_MIN)

int ll_ratelimit_init(ll_ratelimit_t *rl)
{
    memset(rl->slots, 0, sizeof rl->slots);
    crypto_shorthash_keygen(rl->sip_key);
    return uv_mutex_init(&rl->lock) == 0 ? 0 : LL_ENOMEM;
}

void ll_ratelimit_close(ll_ratelimit_t *rl)
{
    uv_mutex_destroy(&rl->lock);
}

static uint64_t hash_key(const ll_ratelimit_t *rl, const char *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl->sip_key);
    memcpy(&v, h, sizeof v);
    return v ? v : 1; /* 0 marks an empty slot */
}

/* A bucket's tokens at now_ms, without changing it. */
static uint64_t tokens_at(const ll_ratelimit_slot_t *s, uint32_t per_min, uint64_t now_ms)
{
    uint64_t full = (uint64_t)per_min * ONE_TOKEN;
    uint64_t elapsed = now_ms > s->at_ms ? now_ms - s->at_ms : 0;
    /* Past a minute the bucket is full whatever it held. */
    uint64_t t = elapsed >= MS_PER_MIN ? full : s->tokens + elapsed * per_min;
    return t < full ? t : full;
}

/* Brings a bucket up to now_ms; at_ms is then its last use, which the
 * choice of a bucket to forget goes by. */
static void refill(ll_ratelimit_slot_t *s, uint32_t per_min, uint64_t now_ms)
{
    s->tokens = tokens_at(s, per_min, now_ms);
    if (now_ms > s->at_ms)
        s->at_ms = now_ms;
}

/* key's bucket; when absent and create is set, made full in place of an
 * empty bucket of its set, else a refilled one, else the least recently
 * used. Called with the lock held. */
static ll_ratelimit_slot_t *bucket(ll_ratelimit_t *rl, uint64_t h, uint32_t per_min,
                                   uint64_t now_ms, int create)
{
    ll_ratelimit_slot_t *set = &rl->slots[(h % LL_RATELIMIT_SETS) * LL_RATELIMIT_WAYS];
    ll_ratelimit_slot_t *empty = NULL, *refilled = NULL, *lru = NULL;
    uint64_t full = (uint64_t)per_min * ONE_TOKEN;
    for (int i = 0; i < LL_RATELIMIT_WAYS; i++) {
        ll_ratelimit_slot_t *s = &set[i];
        if (s->key_hash == h)
            return s;
        if (s->key_hash == 0) {
            empty = empty ? empty : s;
        } else if (tokens_at(s, per_min, now_ms) >= full) {
            refilled = refilled ? refilled : s; /* forgetting it loses nothing */
        } else if (!lru || s->at_ms < lru->at_ms) {
            lru = s;
        }
    }
    if (!create)
        return NULL;
    ll_ratelimit_slot_t *v = empty ? empty : refilled ? refilled : lru;
    v->key_hash = h;
    v->tokens = full;
    v->at_ms = now_ms;
    return v;
}

int ll_ratelimit_take(ll_ratelimit_t *rl, const char *key, uint32_t per_min, uint64_t now_ms,
                      uint32_t *retry_after_s)
{
    if (per_min == 0)
        return 0;
    uint64_t h = hash_key(rl, key);
    int rc = 0;
    uv_mutex_lock(&rl->lock);
    ll_ratelimit_slot_t *s = bucket(rl, h, per_min, now_ms, 1);
    refill(s, per_min, now_ms);
    if (s->tokens >= ONE_TOKEN) {
        s->tokens -= ONE_TOKEN;
    } else {
        /* The wait for the missing part of one token, rounded up. */
        uint64_t ms = (ONE_TOKEN - s->tokens + per_min - 1) / per_min;
        uint64_t secs = (ms + 999) / 1000;
        if (retry_after_s)
            *retry_after_s = secs < 1 ? 1 : secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs;
        rc = LL_ERATELIMIT;
    }
    uv_mutex_unlock(&rl->lock);
    return rc;
}

void ll_ratelimit_give(ll_ratelimit_t *rl, const char *key, uint32_t per_min, uint64_t now_ms)
{
    if (per_min == 0)
        return;
    uint64_t h = hash_key(rl, key);
    uv_mutex_lock(&rl->lock);
    ll_ratelimit_slot_t *s = bucket(rl, h, per_min, now_ms, 0);
    if (s) {
        refill(s, per_min, now_ms);
        s->tokens += ONE_TOKEN;
        s->tokens = tokens_at(s, per_min, now_ms); /* never above full */
    }
    uv_mutex_unlock(&rl->lock);
}

void ll_ratelimit_client_key(const char *ip, char *out, size_t cap)
{
    unsigned char a6[16];
    char text[INET6_ADDRSTRLEN];
    if (strchr(ip, ':') && inet_pton(AF_INET6, ip, a6) == 1) {
        memset(a6 + 8, 0, 8);
        if (inet_ntop(AF_INET6, a6, text, sizeof text)) {
            snprintf(out, cap, "%s/64", text);
            return;
        }
    }
    snprintf(out, cap, "%s", ip);
}
