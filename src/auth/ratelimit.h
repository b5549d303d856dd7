/* auth/ratelimit.h: per-key token buckets in a table of fixed size, for the
 * limits that clients must not get around by asking again: login and
 * register attempts per client address and per username, chat messages per
 * user and per address.
 * Owns:    its table (LL_RATELIMIT_SLOTS buckets, embedded: no allocation
 *          ever) and a mutex.
 * Frees:   nothing to free; ll_ratelimit_close() destroys the mutex.
 * Threads: any; every call takes the mutex (a few hundred nanoseconds, on
 *          requests that are rare next to event traffic).
 *
 * A bucket holds up to `per_min` tokens and gains `per_min` per minute, so
 * a key may spend per_min at once and then per_min a minute. The rate is
 * given with each call, not stored: one table serves a flag's value as it
 * is. Keys are hashed with SipHash (libsodium's crypto_shorthash) under a
 * random key, so a client cannot pick keys that collide on purpose; the
 * table keeps the 64-bit hash only.
 *
 * Bounded: the table is set-associative (LL_RATELIMIT_WAYS buckets per set).
 * A new key takes an empty bucket of its set, else one that has refilled
 * completely (forgetting it loses nothing), else the set's least recently
 * used one. A client that spreads its attempts over more keys than the
 * table holds can thus have old keys forgotten, but can never make the node
 * use more memory. */
#ifndef LL_AUTH_RATELIMIT_H
#define LL_AUTH_RATELIMIT_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LL_RATELIMIT_WAYS 8
#define LL_RATELIMIT_SETS 1024
#define LL_RATELIMIT_SLOTS (LL_RATELIMIT_WAYS * LL_RATELIMIT_SETS) /* 8192 keys, 192 KiB */

typedef struct ll_ratelimit_slot {
    uint64_t key_hash; /* 0: empty */
    uint64_t tokens;   /* scaled: one token is 60000 (ms per minute) */
    uint64_t at_ms;    /* when tokens was last brought up to date */
} ll_ratelimit_slot_t;

typedef struct ll_ratelimit {
    uv_mutex_t lock;
    unsigned char sip_key[crypto_shorthash_KEYBYTES];
    ll_ratelimit_slot_t slots[LL_RATELIMIT_SLOTS]; /* guarded by lock */
} ll_ratelimit_t;

/* Empties rl and gives it a fresh random hash key. Returns 0 or LL_ENOMEM
 * (the mutex could not be made). */
int ll_ratelimit_init(ll_ratelimit_t *rl);
void ll_ratelimit_close(ll_ratelimit_t *rl);

/* Takes one token from key's bucket at now_ms (a monotonic clock, in ms).
 * Returns 0, or LL_ERATELIMIT when the bucket is empty, with *retry_after_s
 * (may be NULL) set to the whole seconds until a token is there again (at
 * least 1). per_min 0 means no limit: always 0. */
int ll_ratelimit_take(ll_ratelimit_t *rl, const char *key, uint32_t per_min, uint64_t now_ms,
                      uint32_t *retry_after_s);

/* Gives back a token taken for an attempt that turned out not to count (a
 * login that succeeded). Never above a full bucket; a key the table has
 * forgotten meanwhile is full already. */
void ll_ratelimit_give(ll_ratelimit_t *rl, const char *key, uint32_t per_min, uint64_t now_ms);

/* The key a client address counts under, into out (cap >= 46): an IPv4
 * address as it is, an IPv6 address as its /64 prefix ("2001:db8:1:2::/64"),
 * since one subscriber usually holds a whole /64. ip is text as
 * ll_req_peer_ip gives it; anything unparsable is used as it is. */
void ll_ratelimit_client_key(const char *ip, char *out, size_t cap);

#endif
