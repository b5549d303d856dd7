/* net/ws.h: WebSocket streams (RFC 6455) on a connection taken over from
 * HTTP (net/stream_conn.h): the opening handshake, reading client frames with wslay (control
 * frames, the closing handshake, protocol errors with their status codes),
 * the seed's text keep-alive ("ping" → "pong") and the idle timeout.
 * Broadcast frames are not written here: the connection's subscriber
 * (stream/subscriber.h) writes pre-encoded frames, and everything this
 * module sends goes through that same ordered queue.
 *
 * Backpressure: that queue is bounded (--client-queue plus a small
 * reserve). A client that sends pings (or text "ping"s) and does not read
 * the answers fills it; wslay then keeps what it could not hand over, and
 * once it keeps LL_WS_MAX_QUEUED messages the rest of the client's read is
 * held and reading stops (uv_read_stop), so its next frames wait in the
 * kernel and then in the client. Reading resumes when the queue drains. A
 * client that never reads again sends no ping we can see, so the idle
 * timeout closes it. Memory per connection stays under ~100 KiB: the ring,
 * wslay's few messages, and at most one read (64 KiB) held.
 * Owns:    an ll_ws_t per connection: its wslay context and held bytes (the
 *          stream's timer is its idle timeout). Freed after the connection
 *          closes.
 * Threads: the worker that owns the connection. */
#ifndef LL_NET_WS_H
#define LL_NET_WS_H

#include "net/http.h"
#include "stream/fanout.h"

#include <stddef.h>
#include <stdint.h>

/* Largest client message accepted; a bigger one is closed with 1009. */
#define LL_WS_MAX_MESSAGE (64 * 1024)

/* Answers (pongs, a close) wslay may keep while the client reads nothing;
 * at this many the node stops reading from it. */
#define LL_WS_MAX_QUEUED 16

/* Once a close frame is queued (ours or the answer to the client's), the
 * connection is closed within this long even if the client never reads it
 * (then ll_stream_conn_end allows 2 s more for the TCP goodbye). */
#define LL_WS_GOODBYE_MS 2000

/* Checks req as an opening handshake (§4.2.1) and writes the 101 response
 * head into head (room: 256 bytes). Returns 0, or LL_EBADREQUEST (not an
 * upgrade, bad key) or LL_EUPGRADE (a version other than 13; the caller
 * answers 426 with "Sec-WebSocket-Version: 13") with why filled. */
int ll_ws_handshake(const ll_req_t *req, char *head, size_t cap, size_t *len, char *why);

/* Takes the connection over with head and streams to it through a new
 * subscriber of fo with sub_opts. idle_timeout_s: close (1000) after this
 * long without a ping (a ping the node has not read, because the client
 * does not read, does not count). Returns 0, or LL_ENOMEM or LL_ESHUTDOWN
 * when the stream did not start (req is then answered, or its client gone). */
int ll_ws_start(ll_req_t *req, const char *head, size_t len, ll_fanout_t *fo,
                const ll_sub_opts_t *sub_opts, uint32_t idle_timeout_s);

#endif
