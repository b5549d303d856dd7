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
 * keeps up never loses an event, however large a block is. */
#ifndef LL_STREAM_SUBSCRIBER_H
#define LL_STREAM_SUBSCRIBER_H

#include "store/store.h"
#include "store/users.h"
#include "stream/event.h"

#include <stdint.h>
#include <uv.h>

typedef struct ll_fanout ll_fanout_t;
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
} ll_sub_opts_t;

/* With chunked, every flush is one HTTP/1.1 chunk: an event stream's
 * response stays open indefinitely, and a client reading it through a
 * buffered HTTP library (the seed's requests example) sees each event as
 * soon as its chunk arrives, rather than when a read buffer fills. */

/* Raw bytes may use this many slots beyond queue_cap, so a pong or a close
 * frame is never dropped behind a full queue of events. */
#define LL_SUB_RAW_RESERVE 8

struct ll_sub {
    ll_fanout_t *fo;
    uv_stream_t *out;
    const ll_sub_hooks_t *hooks;
    void *owner;
    ll_wire_t wire;
    uint32_t types;
    char address[LL_EV_ADDR_MAX + 1]; /* "" for any */
    /* The index (fanout.c) links subscribers through these. */
    ll_sub_t *prev, *next;
    ll_sub_t *next_touched;  /* subscribers to flush after a batch */
    ll_sub_t *next_ready;    /* catching up and free to read the next page */
    ll_sub_t *next_dead;     /* closed, freed by the fan-out's idle pass */
    ll_sub_t *sprev, *snext; /* the fan-out's session-bound subscribers */
    unsigned touched : 1, catching_up : 1, closed : 1, writing : 1, chunked : 1, drain_told : 1;
    unsigned in_sessions : 1;            /* linked through sprev/snext */
    unsigned detached : 1;               /* out of the index: its session ended */
    unsigned ending : 1;                 /* ll_sub_end_body was called: nothing more is queued */
    char session[LL_TOKEN_HASH_HEX + 1]; /* "" for a public stream */
    int64_t session_expires_ms;
    char chunk_head[20]; /* "<hex length>\r\n" of the write in flight */
    /* Queue: ring[head..head+count), capacity cap + LL_SUB_RAW_RESERVE. */
    ll_event_t **ring;
    uint32_t cap, head, count;
    /* The write in flight: its events, and its buffers (first may start
     * part-way into its event's bytes). */
    ll_event_t **inflight;
    uint32_t ninflight;
    uv_buf_t *bufs;
    uv_write_t wr;
    uint64_t cursor; /* newest seq queued or skipped; older live events are not sent */
    uint64_t dropped_unreported;
};

/* Queues ev if the filters match and its seq is new to s; writes the ring
 * through when it is full; drops and counts when even that leaves no room.
 * Does not write otherwise: the caller flushes after its batch. */
void ll_sub_push(ll_sub_t *s, ll_event_t *ev);

/* Writes everything queued (one try_write, then one uv_write of the rest). */
void ll_sub_flush(ll_sub_t *s);

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

/* 1 when f's filters let ev through. */
int ll_sub_matches(const ll_sub_t *s, const ll_event_t *ev);

/* Events queued and not yet handed to the socket. */
uint32_t ll_sub_queued(const ll_sub_t *s);

/* ---- for fanout.c ---------------------------------------------------------- */

/* Allocates a subscriber with its ring and buffers; NULL on ENOMEM. */
ll_sub_t *ll_sub_alloc(ll_fanout_t *fo, uv_stream_t *out, const ll_sub_opts_t *o,
                       const ll_sub_hooks_t *hooks, void *owner);
/* Releases queued references and the memory; only when !s->writing. */
void ll_sub_free(ll_sub_t *s);
/* Drops every queued event (at close). */
void ll_sub_discard(ll_sub_t *s);
/* Queues the next page of the log after s->cursor from reader. Returns 1
 * when the log is exhausted (s is live from then on), 0 when more remains,
 * or a negative LL_E* (s then goes live, and says so in the log). */
int ll_sub_fill_history(ll_sub_t *s, ll_store_t *reader);

#endif
