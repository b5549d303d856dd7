/* stream/subscriber_internal.h (internal to stream/): the subscriber's
 * struct and the calls its fan-out makes, for subscriber.c and fanout.c.
 * (test_subscriber.c includes it for ll_sub_push, to queue without a flush.)
 * Threads: the subscriber's worker only.
 *
 * Calls point one way: fanout.c calls subscriber.c. A subscriber never
 * calls its fan-out by name; it adds to the counts and calls the callback
 * it was given at ll_sub_alloc. Each half of the struct is written by one
 * file: `fan` by fanout.c (its index and session watch; subscriber.c never
 * touches it), the rest by subscriber.c (fanout.c reads the filters, the
 * wire, the hooks and closed). */
#ifndef LL_STREAM_SUBSCRIBER_INTERNAL_H
#define LL_STREAM_SUBSCRIBER_INTERNAL_H

#include "store/users.h"
#include "stream/backend.h"
#include "stream/stats.h"
#include "stream/subscriber.h"

typedef struct ll_fanout ll_fanout_t;

/* After each completed write of an open subscriber, once the subscriber is
 * done with it (the next flush started, the hooks told). */
typedef void (*ll_sub_written_cb)(ll_sub_t *s);

struct ll_sub {
    struct {
        ll_fanout_t *fo;
        ll_sub_t *prev, *next;   /* the unfiltered list or the address's bucket */
        ll_sub_t *next_touched;  /* subscribers to flush after a batch */
        ll_sub_t *next_ready;    /* catching up and free to read the next page */
        ll_sub_t *next_dead;     /* closed, freed by the fan-out's idle pass */
        ll_sub_t *sprev, *snext; /* the fan-out's session-bound subscribers */
        unsigned touched : 1;
        unsigned in_sessions : 1;            /* linked through sprev/snext */
        unsigned detached : 1;               /* out of the index: its session ended */
        char session[LL_TOKEN_HASH_HEX + 1]; /* "" for a public stream */
        int64_t session_expires_ms;
    } fan;
    uv_stream_t *out;
    const ll_sub_io_t *io; /* NULL: uv_try_write and uv_write on out */
    void *io_arg;
    const ll_sub_hooks_t *hooks;
    void *owner;
    ll_stream_counts_t *counts; /* the worker's (plain: this thread's) */
    ll_sub_written_cb on_written;
    ll_wire_t wire;
    uint32_t types;
    char address[LL_EV_ADDR_MAX + 1]; /* "" for any */
    unsigned catching_up : 1, closed : 1, writing : 1, chunked : 1, drain_told : 1;
    unsigned ending : 1; /* ll_sub_end_body was called: nothing more is queued */
    char chunk_head[20]; /* "<hex length>\r\n" of the write in flight */
    /* Queue: ring[head..head+count) modulo ring_cap, which grows as needed
     * up to cap + LL_SUB_RAW_RESERVE (subscriber.c: ring_room). */
    ll_event_t **ring;
    uint32_t cap, head, count, ring_cap;
    /* The write in flight: its events, and its buffers (first may start
     * part-way into its event's bytes). */
    ll_event_t **inflight;
    uint32_t ninflight;
    uv_write_t wr;
    uint64_t cursor; /* newest seq queued or skipped; older live events are not sent */
    uint64_t dropped_unreported;
    int lagging; /* counted in counts->lagging (subscriber.c:note_lag) */
};

/* Allocates a subscriber with its ring and buffers; NULL on ENOMEM.
 * log_last is the newest seq in the log: a live subscriber starts after it,
 * and a resuming one replays from o->resume_after (at most log_last) and is
 * catching up. counts: where it counts sent, dropped and its queue depth.
 * on_written: called after each completed write. */
ll_sub_t *ll_sub_alloc(uv_stream_t *out, const ll_sub_opts_t *o, uint64_t log_last,
                       const ll_sub_hooks_t *hooks, void *owner, ll_stream_counts_t *counts,
                       ll_sub_written_cb on_written);

/* Marks s closed and releases its queue. Returns 1 when no write is in
 * flight (the caller frees s, outside any delivery), 0 when the write's
 * callback frees it (closing the stream cancels the write). */
int ll_sub_shut(ll_sub_t *s);

/* Releases queued references and the memory; only when no write is in
 * flight. */
void ll_sub_free(ll_sub_t *s);

/* 1 when f's filters let ev through. */
int ll_sub_matches(const ll_sub_t *s, const ll_event_t *ev);

/* Queues ev if the filters match and its seq is new to s; writes the ring
 * through when it is full; drops and counts when even that leaves no room.
 * Does not write otherwise: the caller flushes after its batch. */
void ll_sub_push(ll_sub_t *s, ll_event_t *ev);

/* Writes everything queued (one try_write, then one uv_write of the rest). */
void ll_sub_flush(ll_sub_t *s);

/* 1 when s replays the log and may read its next page now: it is open,
 * catching up, and has no write in flight. */
int ll_sub_wants_page(const ll_sub_t *s);

/* Queues the next page of history after s's cursor. Returns 1
 * when the log is exhausted (s is live from then on), 0 when more remains,
 * or a negative LL_E* when the log could not be read: nothing more is
 * queued and the owner hears on_write_error(UV_EIO), which ends the stream
 * (its client reconnects with its Last-Event-ID rather than miss events). */
int ll_sub_fill_history(ll_sub_t *s, const ll_stream_backend_t *history);

/* s replays no more of the log (its session ended: it is out of the index). */
void ll_sub_stop_replay(ll_sub_t *s);

/* Frees the calling thread's flush scratch (subscriber.c), which every
 * subscriber of that thread shares; the fan-out calls it as it closes. */
void ll_sub_thread_release(void);

#endif
