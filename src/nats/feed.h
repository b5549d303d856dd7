/* nats/feed.h: the node's feed of its event log into a NATS JetStream
 * stream, for relays (`serve --nats`; docs/API.md §7, docs/OPERATIONS.md).
 * Owns:    its thread (ll-nats) with a uv loop, the NATS connection, a
 *          read-only connection to the event log, and the feed's cursor.
 * Frees:   ll_nats_feed_stop() joins the thread and frees everything.
 * Threads: start and stop on the main thread; everything else on ll-nats.
 *          The hub wakes it (it is one more sink, like a worker).
 *
 * The SQLite event log is the source of truth: the feed always reads what
 * it publishes from the log, in seq order, so catching up after an outage
 * and following live are one path. Each event is one message on subject
 * `ledgerline.events.<type>` with `Nats-Msg-Id: <seq>` (JetStream drops a
 * repeat) and `Nats-Expected-Last-Msg-Id: <seq - 1>` (JetStream refuses an
 * event whose predecessor is not the stream's last message), so the stream
 * holds every id exactly once and in order whatever fails in between. After
 * any failure the cursor is read back from the stream's last message.
 * NATS being down or slow never holds up the ledger: the feed falls behind
 * and catches up from the log.
 *
 * The same thread keeps the session directory relays read, the KV bucket
 * `<stream>_SESSIONS` (nats/sessions.h): logins and logouts queue their
 * changes here from any thread, and the bucket is reconciled with the
 * database when the feed connects and after any failure. */
#ifndef LL_NATS_FEED_H
#define LL_NATS_FEED_H

#include "stream/hub.h"

#include <stdint.h>

typedef struct ll_nats_feed ll_nats_feed_t;

typedef struct ll_nats_feed_opts {
    const char *urls;     /* comma-separated nats:// URLs */
    const char *stream;   /* the JetStream stream's name */
    uint32_t replicas;    /* for a stream the feed creates */
    const char *data_dir; /* the node's: the event log is read from it */
    ll_hub_t *hub;        /* wakes the feed when events are committed */
    /* --session-max-age-s: the session bucket's MaxAge, so an entry ages
     * out with its session (0: entries stay until the node deletes them). */
    uint32_t session_max_age_s;
} ll_nats_feed_opts_t;

/* What /metrics shows of the feed; any thread. */
typedef struct ll_nats_feed_stats {
    uint64_t acked_seq; /* the last event seq the stream has stored */
    uint64_t published; /* messages acknowledged by JetStream */
    uint64_t failures;  /* publishes or stream reads that failed (then retried) */
    int connected;      /* 1 while the NATS connection is up */
} ll_nats_feed_stats_t;

/* Starts the feed thread. Connecting to NATS happens in the background and
 * is retried forever: a node starts whether or not NATS is up. Returns 0, or
 * a negative LL_E* (bad URLs, no event log, out of memory). */
int ll_nats_feed_start(const ll_nats_feed_opts_t *o, ll_nats_feed_t **out);

/* Stops and frees the feed (NULL is fine). Events not yet published stay in
 * the log; the next start publishes them. */
void ll_nats_feed_stop(ll_nats_feed_t *f);

void ll_nats_feed_stats(const ll_nats_feed_t *f, ll_nats_feed_stats_t *out);

/* Any thread (a worker, after the login's or logout's store call came back
 * committed); f may be NULL (no --nats). Queues the session's put (key:
 * token hash, 64 lowercase hex; expiry in wall-clock ms) or delete for the
 * feed's thread, never waiting on NATS. */
void ll_nats_feed_session_put(ll_nats_feed_t *f, const char *key, int64_t expires_ms);
void ll_nats_feed_session_delete(ll_nats_feed_t *f, const char *key);

#endif
