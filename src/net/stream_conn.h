/* net/stream_conn.h: a connection taken over from HTTP by a stream (a
 * WebSocket after its 101, an event stream after its 200 head). conn.c hands
 * the socket over (ll_conn_hand_over) and knows nothing of what follows;
 * from then on this module owns it: the response head, reads and their
 * backpressure, the subscriber that writes the stream's bytes, a timer for
 * the protocol (ws.c, sse.c: the owner), and the close: FIN and a bounded
 * linger, a reset for a client that reads nothing, and the goodbye when the
 * server stops.
 * Owns:    the socket, the subscriber (closed before the owner hears
 *          on_closed) and two timers: the linger and the owner's.
 * Frees:   itself once the socket and both timers have closed and every
 *          write callback has run, right after calling on_closed, where the
 *          owner frees itself.
 * Threads: the worker that owns the connection, only. */
#ifndef LL_NET_STREAM_CONN_H
#define LL_NET_STREAM_CONN_H

#include "net/http.h"
#include "stream/fanout.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ll_stream_conn ll_stream_conn_t;

/* The owner's callbacks. Each may be NULL: then bytes read are discarded,
 * nobody hears of the close, and a stopping server just ends the stream. */
typedef struct ll_stream_conn_cbs {
    /* Bytes the client sent (WebSocket frames), also those that followed
     * the request in its read. Not called between ll_stream_conn_read_stop
     * and ll_stream_conn_read_start, nor once the stream ends; the bytes
     * are the caller's until it returns. */
    void (*on_data)(void *owner, const char *data, size_t len);
    /* The client is gone or the stream ended, the socket is closed, every
     * write callback has run and the subscriber is closed: the owner frees
     * itself now. */
    void (*on_closed)(void *owner);
    /* The server is stopping: say goodbye (a WebSocket close frame), then
     * ll_stream_conn_end. The connection is closed regardless after 2 s. */
    void (*on_shutdown)(void *owner);
} ll_stream_conn_cbs_t;

typedef void (*ll_stream_conn_timer_cb)(void *owner);

/* Called by ws.c and sse.c from the route handler, for a request with
 * nothing unanswered before it. Answers req with head (copied: a complete
 * response head, ending in its blank line; the Strict-Transport-Security
 * line goes in where --hsts asks for it), takes its connection over
 * (requests pipelined after it are dropped) and opens a subscriber of fo on it with sub_opts and
 * hooks; owner is passed to the hooks and to cbs. req is consumed. Returns the stream, or NULL when
 * the client is already gone, req was not first (answered 400), or memory ran out (answered 500
 * before the take-over, else the stream ends): owner is then never called, and frees itself. */
ll_stream_conn_t *ll_stream_conn_take_over(ll_req_t *req, const char *head, size_t len,
                                           ll_fanout_t *fo, const ll_sub_opts_t *sub_opts,
                                           const ll_sub_hooks_t *hooks,
                                           const ll_stream_conn_cbs_t *cbs, void *owner);

/* The subscriber that writes to the stream; the owner queues its own bytes
 * (ll_sub_send_raw) there too, so they keep their order with the events. */
ll_sub_t *ll_stream_conn_sub(ll_stream_conn_t *s);

/* (Re)starts the owner's timer: cb(owner) after timeout_ms, then every
 * repeat_ms (0: once). It stops when the connection closes. */
void ll_stream_conn_timer_start(ll_stream_conn_t *s, ll_stream_conn_timer_cb cb,
                                uint64_t timeout_ms, uint64_t repeat_ms);

/* Backpressure for the owner: stop reading from the client (its bytes wait
 * in the kernel, and then it cannot send) while what the owner must answer
 * cannot be written; start again once it can. */
void ll_stream_conn_read_stop(ll_stream_conn_t *s);
void ll_stream_conn_read_start(ll_stream_conn_t *s);

/* Ends the stream: FIN after what is queued, then the socket once the client
 * closes too, or after 2 s (also when the client reads nothing and so never
 * gets the FIN). Bytes read meanwhile are discarded. on_closed follows. */
void ll_stream_conn_end(ll_stream_conn_t *s);

/* Closes now with a reset (RST): for a client that reads nothing, whose
 * unsent bytes would otherwise wait in the kernel. on_closed follows. */
void ll_stream_conn_abort(ll_stream_conn_t *s);

/* server.c, at stop: every stream of w says goodbye (on_shutdown) and is
 * closed within 2 s. w->nstreams reaches 0 once they have closed. */
void ll_stream_conn_close_all(ll_worker_t *w);

#endif
