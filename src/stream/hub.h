/* stream/hub.h: carries each batch of events from the ledger thread to every
 * worker that serves subscribers.
 * Owns:    the list of sinks (one per worker) and, per delivery, one batch
 *          reference until the worker's callback has run.
 * Frees:   ll_hub_free() once no thread publishes or attaches any more.
 * Threads: ll_hub_publish on the ledger thread; attach/detach from any
 *          thread (workers at start and stop); deliveries run on each
 *          sink's loop.
 *
 * A batch is the events of one commit (a block, or the pending messages of
 * one ledger turn), in sequence order. Every worker receives each batch as
 * one task, so a worker touches each subscriber once per batch. */
#ifndef LL_STREAM_HUB_H
#define LL_STREAM_HUB_H

#include "stream/event.h"
#include "util/taskq.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ll_batch {
    _Atomic uint32_t refs;
    uint64_t published_ns; /* uv_hrtime() when ll_hub_publish handed it out */
    size_t n;
    ll_event_t *events[]; /* one reference each, released with the batch */
} ll_batch_t;

/* A batch with room for cap events and one reference; NULL on ENOMEM. */
ll_batch_t *ll_batch_new(size_t cap);
void ll_batch_unref(ll_batch_t *b);

typedef struct ll_hub ll_hub_t;
typedef struct ll_hub_sink ll_hub_sink_t;

/* Runs on the sink's loop for each published batch (borrowed for the call). */
typedef void (*ll_hub_deliver_cb)(const ll_batch_t *b, void *arg);

ll_hub_t *ll_hub_new(void);
void ll_hub_free(ll_hub_t *hub);

/* Registers a worker: batches published from now on reach cb on q's loop. */
ll_hub_sink_t *ll_hub_attach(ll_hub_t *hub, ll_taskq_t *q, ll_hub_deliver_cb cb, void *arg);

/* Unregisters; batches already posted to q still run (or are released by
 * q's close). */
void ll_hub_detach(ll_hub_t *hub, ll_hub_sink_t *sink);

/* Hands b to every sink and drops the caller's reference. */
void ll_hub_publish(ll_hub_t *hub, ll_batch_t *b);

/* The sequence number of the newest event published (0 before any). */
uint64_t ll_hub_last_seq(const ll_hub_t *hub);

#endif
