/* stream/subscriber.h: one streaming client's queue and its writes.
 * Owns:    a ring of at most queue_cap event references (plus a small
 *          reserve for its own raw bytes), the references of its write in
 *          flight, and the preallocated buffers that write uses.
 * Frees:   ll_sub_close(); the memory goes once no write is in flight.
 * Threads: the worker that owns the connection, only.
 *
 * Events are queued by pointer and written with one uv_try_write (then one
 * uv_write for what the socket did not take) of all queued buffers: one
 * syscall per subscriber per batch, no copy, no allocation per event. A
 * full ring is first written through to the socket; only if the socket
 * takes nothing more are new events dropped, and counted. So a client that
 * keeps up never loses an event, however large a block is.
 *
 * The struct is opaque: subscribers are opened and closed through their
 * worker's fan-out (fanout.h), which alone feeds them events. What the
 * fan-out calls besides is in subscriber_internal.h. */
#ifndef LL_STREAM_SUBSCRIBER_H
#define LL_STREAM_SUBSCRIBER_H

#include "stream/event.h"

#include <stdint.h>
#include <uv.h>

typedef struct ll_sub ll_sub_t;

typedef struct ll_sub_hooks {
    /* n events were dropped since the last call, and the ring has room
     * again (SSE says so in a comment). May be NULL. */
    void (*on_dropped)(void *owner, uint64_t n);
    /* A write failed: the owner closes the connection (and the subscriber). */
    void (*on_write_error)(void *owner, int status);
    /* Everything queued has been handed to the socket (a WebSocket closing
     * handshake ends the connection here). May be NULL. */
    void (*on_drained)(void *owner);
    /* The session the stream was opened with was logged out or expired
     * (fanout.h): the subscriber has left the index and gets no more
     * events; the owner ends the stream (SSE: the end of the body; WebSocket:
     * close 1008). May be NULL for streams that never have a session; a
     * session-bound one without it is ended through on_write_error. */
    void (*on_session_end)(void *owner);
} ll_sub_hooks_t;

/* How a subscriber's bytes reach its socket when libuv alone cannot take
 * them: a connection that encrypts in user space (net/tls.h). Each call
 * has the meaning of the libuv call it stands for (uv_try_write, uv_write
 * on out). */
typedef struct ll_sub_io {
    int (*try_write)(void *arg, uv_stream_t *out, const uv_buf_t bufs[], unsigned n);
    int (*write)(void *arg, uv_write_t *req, uv_stream_t *out, const uv_buf_t bufs[], unsigned n,
                 uv_write_cb cb);
} ll_sub_io_t;

typedef struct ll_sub_opts {
    ll_wire_t wire;        /* the encoding this client reads */
    uint32_t types;        /* LL_EV_* mask; 0 means every type */
    const char *address;   /* lowercase hex (32 or 40), or NULL for any */
    uint32_t queue_cap;    /* events queued at most (--client-queue) */
    int resume;            /* replay the log after resume_after first */
    uint64_t resume_after; /* the client's Last-Event-ID */
    int chunked;           /* frame each write as an HTTP/1.1 chunk (SSE) */
    /* The session the stream rides on: its stored key (SHA-256 of the
     * token, 64 hex) and when it expires (wall clock, ms). NULL for a public
     * stream. Logout or expiry then ends the stream (fanout.h). */
    const char *session;
    int64_t session_expires_ms;
    const ll_sub_io_t *io; /* NULL: straight to libuv */
    void *io_arg;
} ll_sub_opts_t;

/* With chunked, every flush is one HTTP/1.1 chunk: an event stream's
 * response stays open indefinitely, and a client reading it through a
 * buffered HTTP library (the seed's requests example) sees each event as
 * soon as its chunk arrives, rather than when a read buffer fills. */

/* Raw bytes may use this many slots beyond queue_cap, so a pong or a close
 * frame is never dropped behind a full queue of events. */
#define LL_SUB_RAW_RESERVE 8

/* Queues bytes of this subscriber's own (an SSE comment, a WebSocket
 * control frame) after what is queued, and flushes. Returns 0, or LL_EBUSY
 * when even the reserve is full, LL_ENOMEM. */
int ll_sub_send_raw(ll_sub_t *s, const char *bytes, size_t len);

/* Ends the response body: drops what is queued and not yet handed to the
 * socket, then, for a chunked subscriber, writes the last chunk (RFC 9112
 * §7.1) after the write in flight. Nothing is queued after it (events and
 * raw bytes are refused); on_drained follows once it is written, and the
 * owner then closes the connection. Returns 0, LL_ESHUTDOWN (closed) or
 * LL_ENOMEM. */
int ll_sub_end_body(ll_sub_t *s);

/* Events queued and not yet handed to the socket. */
uint32_t ll_sub_queued(const ll_sub_t *s);

/* 1 while a write is in flight (the socket did not take everything at
 * once), 0 otherwise: with ll_sub_queued() == 0 as well, everything the
 * owner sent is in the kernel's hands. */
int ll_sub_write_in_flight(const ll_sub_t *s);

#endif
