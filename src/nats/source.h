/* nats/source.h: a relay's intake: the JetStream stream the node feeds,
 * read in order and handed to the relay's workers as event batches, the
 * way the node's ledger thread hands its commits (`ledgerline relay`).
 * Owns:    its thread (ll-source), the NATS connection it reads with, the
 *          batch being gathered, and the stream offset (below).
 * Frees:   ll_nats_source_stop().
 * Threads: start, stop and stats on the main thread (stats: any); the
 *          history read (ll_nats_source_get) on any worker.
 *
 * Each message becomes the same event the node made (nats/evmsg.h: same
 * seq, same bytes in every wire format). It goes into the relay's recent
 * memory first and to the hub after, so a subscriber replaying history
 * never misses one the hub delivered while it caught up. What the stream
 * held when the relay first read it is history: it fills the memory and
 * is never delivered live. The stream is
 * read with an ordered consumer, which the NATS library re-creates from
 * where it stopped after an outage; a repeat is skipped by seq.
 *
 * The stream holds the node's events in seq order and nothing else, so an
 * event's stream sequence is its seq plus a constant offset, learnt from
 * any message; history older than the recent memory is read by stream
 * sequence with that offset. */
#ifndef LL_NATS_SOURCE_H
#define LL_NATS_SOURCE_H

#include "relay/recent.h"
#include "stream/backend.h"
#include "stream/hub.h"

#include <stdint.h>

typedef struct ll_nats_source ll_nats_source_t;

typedef struct ll_nats_source_opts {
    const char *urls;    /* comma-separated nats:// URLs */
    const char *stream;  /* the stream's name */
    ll_hub_t *hub;       /* where batches go */
    ll_recent_t *recent; /* where each event goes first */
    uint64_t start_back; /* at start, read this many events back from the
                            stream's end (fills the recent memory) */
} ll_nats_source_opts_t;

typedef struct ll_nats_source_stats {
    int connected;     /* 1 while the NATS connection is up */
    uint64_t last_seq; /* the newest event read */
    uint64_t received; /* events read (repeats skipped) */
    uint64_t resets;   /* times the intake was re-made after a failure */
} ll_nats_source_stats_t;

/* Starts the intake; NATS may be down (it is retried forever). Returns 0,
 * LL_ECONFIG (bad URLs) or LL_ENOMEM. */
int ll_nats_source_start(const ll_nats_source_opts_t *o, ll_nats_source_t **out);
void ll_nats_source_stop(ll_nats_source_t *s);
void ll_nats_source_stats(ll_nats_source_t *s, ll_nats_source_stats_t *out);

/* The newest event a stream opened now starts after: the newest read, or,
 * while the relay still reads the history it started with, the stream's
 * last event at its start (those older events reach the recent memory
 * only, never a live stream). */
uint64_t ll_nats_source_edge(ll_nats_source_t *s);

/* 1 once the stream's end has been read at start: before that no stream
 * can be told where live begins, and a relay refuses new ones (503). */
int ll_nats_source_ready(ll_nats_source_t *s);

/* 1 when ll_nats_source_history can read now (NATS is up and the
 * stream's numbering is known). */
int ll_nats_source_can_read(ll_nats_source_t *s);

/* Reads the events with seq > after from the stream itself, at most limit
 * of them and none at or past stop_before (where the recent memory takes
 * over; 0: no bound), calling cb for each. One JetStream request per event:
 * for history older than the recent memory only. Returns how many seqs it
 * passed (an event the stream no longer holds is passed over), or a
 * negative LL_E* (NATS away, before or during the read: LL_EUNAVAILABLE). */
int ll_nats_source_history(ll_nats_source_t *s, uint64_t after, size_t limit, uint64_t stop_before,
                           ll_history_cb cb, void *arg);

#endif
