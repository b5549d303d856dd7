/* nats/natsconn.h: one connection to a NATS cluster and its JetStream
 * context, as the node's feed and the relays use them.
 * Owns:    the natsConnection, its options and the jsCtx.
 * Frees:   ll_natsconn_free().
 * Threads: open/close/free on the owner's thread; ll_natsconn_close and
 *          ll_natsconn_connected from any thread; the rest on the thread
 *          that uses the connection (the NATS library runs its own threads
 *          underneath, and calls the publish-error callback on one).
 *
 * The connection is made in the background and remade forever: a process
 * starts whether or not NATS is up, and never gives up on it. */
#ifndef LL_NATS_NATSCONN_H
#define LL_NATS_NATSCONN_H

#include "store/history.h"

#include <nats/nats.h>
#include <stdint.h>

#define LL_NATS_NAME_MAX 64 /* a stream's name (JetStream allows more; we need no more) */
#define LL_NATS_URLS_MAX 16 /* servers in --nats */
#define LL_NATS_SUBJECT_PREFIX "ledgerline.events."

typedef struct ll_natsconn ll_natsconn_t;

/* urls: comma-separated nats:// URLs. name: the client name NATS shows.
 * on_error (may be NULL): a JetStream publish that failed. Returns 0 or
 * LL_ECONFIG (bad URL list), LL_ENOMEM. */
int ll_natsconn_open(const char *urls, const char *name, jsPubAckErrHandler on_error, void *arg,
                     ll_natsconn_t **out);

/* Closes the connection: every call blocked on it returns. */
void ll_natsconn_close(ll_natsconn_t *c);
void ll_natsconn_free(ll_natsconn_t *c);

int ll_natsconn_connected(ll_natsconn_t *c);

jsCtx *ll_natsconn_js(ll_natsconn_t *c);

/* Creates the stream (file storage, subjects ledgerline.events.>, replicas)
 * unless one of that name exists, which is then used as it is. */
natsStatus ll_natsconn_ensure_stream(ll_natsconn_t *c, const char *stream, uint32_t replicas);

/* The event seq (Nats-Msg-Id) of the stream's last message; 0 when it has
 * none. NATS_ERR when that message is not one of ours. */
natsStatus ll_natsconn_last_msg_id(ll_natsconn_t *c, const char *stream, uint64_t *seq);

/* Publishes one event of the log without waiting: Nats-Msg-Id is its seq,
 * and JetStream stores it only if the stream's last message is prev (0: the
 * stream must hold none of ours yet... or be empty). */
natsStatus ll_natsconn_publish_event(ll_natsconn_t *c, const ll_store_event_t *row, uint64_t prev);

/* Waits up to ms for every publish's acknowledgement. Those still without
 * one afterwards are forgotten (the caller reads the stream back). */
natsStatus ll_natsconn_wait_acks(ll_natsconn_t *c, int64_t ms);

/* Ends the NATS library's own threads and state: the process's last NATS
 * call, after every connection is freed. */
void ll_nats_release(void);

#endif
