/* nats/sessions.h: the session directory relays read: a JetStream KV bucket
 * `<stream>_SESSIONS` that the node keeps equal to its live session rows
 * (docs/API.md §7). Key: a session's token hash (SHA-256 of the cookie's
 * token, 64 lowercase hex); value: its expiry, wall-clock ms as decimal
 * text. Nothing else: no username, address, password or key leaves the node.
 *
 * Two halves in one module, so the format lives in one file:
 *
 * The node's writer (ll_nats_sessions_t), driven by the feed's thread
 * (nats/feed.h): logins and logouts queue puts and deletes from any thread;
 * the feed's thread applies them, and reconciles the bucket with the
 * database (every live row put, every other key deleted) when it first
 * connects and after anything went wrong (a NATS failure, the connection
 * lost, the queue full). The queue never blocks a worker or the ledger.
 * Owns:    the queue, the bucket handle and a reconcile's state.
 * Frees:   ll_nats_sessions_free().
 * Threads: ll_nats_sessions_push from any thread; the rest on the thread
 *          that owns the wake-up handle (the feed's).
 *
 * The relay's reader (ll_session_dir_t): a thread of its own watches the
 * bucket and keeps a map token hash -> expiry that any worker may query.
 * Owns:    its thread, its map, its watcher; the NATS connection when it
 *          opened one from URLs (else the caller's, borrowed).
 * Frees:   ll_session_dir_stop() joins the thread and frees everything.
 * Threads: start and stop on one thread (main); expiry and stats on any. */
#ifndef LL_NATS_SESSIONS_H
#define LL_NATS_SESSIONS_H

#include "nats/natsconn.h"
#include "store/store.h"

#include <stdint.h>
#include <uv.h>

#define LL_NATS_SESSIONS_SUFFIX "_SESSIONS"
#define LL_NATS_BUCKET_MAX (LL_NATS_NAME_MAX + sizeof LL_NATS_SESSIONS_SUFFIX - 1)

/* The bucket of the stream's node: "<stream>_SESSIONS" in out. Returns 0 or
 * LL_ECONFIG (stream empty or longer than LL_NATS_NAME_MAX). Both sides call
 * it, so node and relays agree on the name. */
int ll_nats_sessions_bucket(const char *stream, char out[LL_NATS_BUCKET_MAX + 1]);

/* ---- the node's writer ----------------------------------------------------- */

typedef struct ll_nats_sessions ll_nats_sessions_t;

/* bucket: see ll_nats_sessions_bucket. replicas and max_age_s configure a
 * bucket it creates (max_age_s: the bucket's MaxAge, --session-max-age-s, so
 * an entry ages out with its session; 0: none). wake: the owner's handle,
 * sent when a push finds the queue empty. Returns 0, LL_ECONFIG or
 * LL_ENOMEM. The first step reconciles. */
int ll_nats_sessions_new(const char *bucket, uint32_t replicas, uint32_t max_age_s,
                         uv_async_t *wake, ll_nats_sessions_t **out);

/* After ll_nats_sessions_shut (NULL is fine). */
void ll_nats_sessions_free(ll_nats_sessions_t *s);

/* Any thread: a login (expires_ms > 0: put) or a logout (expires_ms 0:
 * delete) that is committed. Never blocks on NATS: a full queue drops the
 * change and makes the next step reconcile instead. key: 64 lowercase hex
 * (anything else is ignored). */
void ll_nats_sessions_push(ll_nats_sessions_t *s, const char *key, int64_t expires_ms);

/* The owner's thread, before it closes the wake-up handle: later pushes
 * are dropped. */
void ll_nats_sessions_shut(ll_nats_sessions_t *s);

/* The owner's thread: one bounded piece of work (at most a page of KV
 * writes): queued changes first, then a page of a reconcile if one is due.
 * db: a read-only connection to the node's database. Returns 1 when more
 * is ready (step again on the next loop turn), 0 when there is nothing to
 * do, LL_EIO when NATS is away or failed (a reconcile is due; step again
 * after a pause). */
int ll_nats_sessions_step(ll_nats_sessions_t *s, ll_natsconn_t *nc, ll_store_t *db);

/* The owner's thread: 1 while a reconcile is due or under way. */
int ll_nats_sessions_reconciling(const ll_nats_sessions_t *s);

/* ---- the relay's reader ----------------------------------------------------- */

typedef struct ll_session_dir ll_session_dir_t;

typedef struct ll_session_dir_opts {
    ll_natsconn_t *nc;  /* borrowed (outlives the directory), or NULL: */
    const char *urls;   /* the directory opens a connection of its own */
    const char *bucket; /* ll_nats_sessions_bucket(--nats-stream) */
} ll_session_dir_opts_t;

/* What /metrics may show; any thread. */
typedef struct ll_session_dir_stats {
    int loaded;        /* 1 once the bucket was read in full */
    uint64_t sessions; /* entries in the map (expired ones linger up to a minute) */
    uint64_t reloads;  /* full reads of the bucket (the first one included) */
    uint64_t failures; /* watches that failed or were lost (then retried) */
} ll_session_dir_stats_t;

/* Starts the directory's thread (ll-sessions). Watching begins in the
 * background and is retried every 500 ms while NATS or the bucket is away;
 * meanwhile the map last read keeps answering. Returns 0, LL_ECONFIG (bad
 * URLs or bucket name), LL_ENOMEM or LL_EINTERNAL. */
int ll_session_dir_start(const ll_session_dir_opts_t *o, ll_session_dir_t **out);

/* Stops the thread (within ~250 ms) and frees the directory (NULL is fine).
 * Call before the borrowed connection is freed, and ll_nats_release() after
 * the last NATS object is gone. */
void ll_session_dir_stop(ll_session_dir_t *d);

/* Any thread (a relay's stream backend session_expiry, its cookie check).
 * Returns 0 with the session's expiry (wall-clock ms; the caller judges it
 * against the clock, as with ll_store_get_session), LL_ENOTFOUND when the
 * bucket has no such session (never made, logged out, or pruned), or
 * LL_ESHUTDOWN (503) until the bucket was read in full once: a relay that
 * just started cannot tell a stranger from a session it has not read yet. */
int ll_session_dir_expiry(ll_session_dir_t *d, const char *key, int64_t *expires_ms);

void ll_session_dir_stats(ll_session_dir_t *d, ll_session_dir_stats_t *out);

#endif
