/* relay/relay.h: `ledgerline relay`: a process of the same binary with no
 * ledger and no SQLite that serves the node's event streams from NATS
 * JetStream (docs/API.md §8, docs/OPERATIONS.md).
 * Owns:    the relay's hub, its recent memory (--relay-memory events: a
 *          client failing over with a recent Last-Event-ID resumes from it
 *          without asking NATS; at about 1.5 KB an event in every wire
 *          format, the default 65,536 is some 100 MB at most), its intake
 *          (nats/source.h)
 *          and its session directory (nats/sessions.h).
 * Frees:   everything, before ll_relay_run returns.
 * Threads: ll_relay_run on the main thread; the backend's calls on workers.
 *
 * The workers are the node's (net/server.h, api/): the same routes, filters,
 * heartbeats, backpressure and drop markers, so a client sees the same
 * bytes. Only what is not live differs: history comes from the recent
 * memory, then from the stream itself; sessions from the directory. */
#ifndef LL_RELAY_RELAY_H
#define LL_RELAY_RELAY_H

#include "config.h"
#include "net/tls.h"
#include "stream/backend.h"

typedef struct ll_relay ll_relay_t;

/* Serves until SIGINT or SIGTERM, over TLS with tls (the caller's; NULL:
 * plain HTTP). Returns the exit status. */
int ll_relay_run(const ll_config_t *cfg, ll_tls_ctx_t *tls, void (*wait_for_signal)(void));

/* The stream backend of a relay's workers. */
ll_stream_backend_t ll_relay_backend(ll_relay_t *r);

/* 1 once the relay knows where the stream ends, so where a stream opened
 * now begins; until then new streams are refused with 503. */
int ll_relay_ready(ll_relay_t *r);

/* 1 when history after `after` can be served now: it is in the recent
 * memory, or NATS is reachable to read it. A stream asked to resume from
 * further back is refused with 503 while not. */
int ll_relay_can_resume(ll_relay_t *r, uint64_t after);

/* For /metrics (any thread). */
void ll_relay_metrics(ll_relay_t *r, int *connected, uint64_t *last_seq, uint64_t *received,
                      uint64_t *resets, uint64_t *recent_first);

#endif
