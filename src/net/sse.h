/* net/sse.h: a Server-Sent Events stream (WHATWG HTML §9.2) on a
 * connection taken over from HTTP (net/stream_conn.h): the response head, the retry hint, the
 * heartbeat comment and the comment that reports dropped events. Events
 * themselves are written by the connection's subscriber, pre-encoded as
 * "id: <seq>\ndata: <json>\n\n".
 * Owns:    an ll_sse_t per connection (its state; the stream's timer is its
 *          heartbeat); freed after the connection closes.
 * Threads: the worker that owns the connection. */
#ifndef LL_NET_SSE_H
#define LL_NET_SSE_H

#include "net/http.h"
#include "stream/fanout.h"

#include <stdint.h>

/* How long EventSource waits before reconnecting, sent as "retry:". */
#define LL_SSE_RETRY_MS 3000

/* Answers req with the event-stream head and streams to it through a new
 * subscriber of fo with sub_opts, with a ": heartbeat" comment every
 * heartbeat_s. Returns 0, or LL_ENOMEM or LL_ESHUTDOWN when the stream did
 * not start (req is then answered, or its client gone). */
int ll_sse_start(ll_req_t *req, ll_fanout_t *fo, const ll_sub_opts_t *sub_opts,
                 uint32_t heartbeat_s);

#endif
