/* net/ws.h: WebSocket streams (RFC 6455) on a connection taken over from
 * HTTP: the opening handshake, reading client frames with wslay (control
 * frames, the closing handshake, protocol errors with their status codes),
 * the seed's text keep-alive ("ping" → "pong") and the idle timeout.
 * Broadcast frames are not written here: the connection's subscriber
 * (stream/subscriber.h) writes pre-encoded frames, and everything this
 * module sends goes through that same ordered queue.
 * Owns:    an ll_ws_t per connection: its wslay context, idle timer and
 *          subscriber. Freed after the connection closes.
 * Threads: the worker that owns the connection. */
#ifndef LL_NET_WS_H
#define LL_NET_WS_H

#include "net/http.h"
#include "stream/fanout.h"

#include <stddef.h>
#include <stdint.h>

/* Largest client message accepted; a bigger one is closed with 1009. */
#define LL_WS_MAX_MESSAGE (64 * 1024)

/* Checks req as an opening handshake (§4.2.1) and writes the 101 response
 * head into head (room: 256 bytes). Returns 0, or LL_EBADREQUEST (not an
 * upgrade, bad key) or LL_EUPGRADE (a version other than 13; the caller
 * answers 426 with "Sec-WebSocket-Version: 13") with why filled. */
int ll_ws_handshake(const ll_req_t *req, char *head, size_t cap, size_t *len, char *why);

/* Takes the connection over with head and streams to it through a new
 * subscriber of fo with sub_opts. idle_timeout_s: close (1000) after this
 * long without a ping. Returns 0, or LL_ENOMEM (req is then answered). */
int ll_ws_start(ll_req_t *req, const char *head, size_t len, ll_fanout_t *fo,
                const ll_sub_opts_t *sub_opts, uint32_t idle_timeout_s);

#endif
