/* stream/subscriber.c: see subscriber.h. The ring's buffers array is
 * allocated with the subscriber, so a flush allocates nothing: libuv copies
 * the uv_buf_t array it is given, and the bytes are the events' own.
 * Counting an event is a plain add to the worker's counts (stats.h). */
#include "stream/subscriber.h"
#include "stream/subscriber_internal.h"
#include "util/err.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The ring as allocated: it starts small and doubles as the queue fills,
 * up to cap + LL_SUB_RAW_RESERVE, so a subscriber that is never behind
 * (or never matched) holds a few pointers, not a whole queue's worth. */
static uint32_t ring_size(const ll_sub_t *s)
{
    return s->ring_cap;
}

static uint32_t ring_max(const ll_sub_t *s)
{
    return s->cap + LL_SUB_RAW_RESERVE;
}

#define RING_FIRST 8

/* Makes room for one more queued pointer. Returns 0 or LL_ENOMEM. */
static int ring_room(ll_sub_t *s)
{
    if (s->count < s->ring_cap)
        return 0;
    uint32_t n = s->ring_cap * 2 < ring_max(s) ? s->ring_cap * 2 : ring_max(s);
    if (n <= s->ring_cap)
        return LL_ENOMEM; /* full: callers check before */
    ll_event_t **grown = malloc(n * sizeof *grown);
    if (!grown)
        return LL_ENOMEM;
    for (uint32_t i = 0; i < s->count; i++) /* in order, from the head */
        grown[i] = s->ring[(s->head + i) % s->ring_cap];
    free(s->ring);
    s->ring = grown;
    s->ring_cap = n;
    s->head = 0;
    return 0;
}

/* The iovecs of one flush: a flush fills them, writes, and is done with
 * them (uv_write copies the array), so each worker thread shares one
 * array among all its subscribers instead of each holding its own. */
static _Thread_local uv_buf_t *scratch;
static _Thread_local uint32_t scratch_cap;

static uv_buf_t *flush_bufs(uint32_t need)
{
    if (need > scratch_cap) {
        uv_buf_t *grown = realloc(scratch, need * sizeof *grown);
        if (!grown)
            return NULL;
        scratch = grown;
        scratch_cap = need;
    }
    return scratch;
}

void ll_sub_thread_release(void)
{
    free(scratch);
    scratch = NULL;
    scratch_cap = 0;
}

static ll_event_t **slot(ll_sub_t *s, uint32_t i)
{
    return &s->ring[(s->head + i) % ring_size(s)];
}

/* Raw bytes are the subscriber's own; events are written in its format. */
static ll_wire_t wire_of(const ll_sub_t *s, const ll_event_t *ev)
{
    return ev->seq == 0 && ev->wire[LL_WIRE_RAW].len ? LL_WIRE_RAW : s->wire;
}

int ll_sub_matches(const ll_sub_t *s, const ll_event_t *ev)
{
    if (s->types && !(s->types & ev->type))
        return 0;
    if (ev->wire[s->wire].len == 0)
        return 0; /* e.g. a block has no valid_tx frame */
    if (!s->address[0])
        return 1;
    for (unsigned i = 0; i < ev->naddr; i++)
        if (strcmp(ev->addr[i], s->address) == 0)
            return 1;
    return 0;
}

uint32_t ll_sub_queued(const ll_sub_t *s)
{
    return s->count;
}

int ll_sub_write_in_flight(const ll_sub_t *s)
{
    return s->writing;
}

int ll_sub_wants_page(const ll_sub_t *s)
{
    return !s->closed && s->catching_up && !s->writing;
}

/* A subscriber lags while more than half its queue (--client-queue) holds
 * events its socket has not taken: queued, or in a write not yet done. The
 * fan-out's count follows each change, so a scrape costs nothing per
 * subscriber. */
static void note_lag(ll_sub_t *s)
{
    int now = !s->closed && s->count + s->ninflight > s->cap / 2;
    if (now != s->lagging) {
        s->lagging = now;
        s->counts->lagging += now ? 1 : -1;
    }
}

/* Queues ev (the caller's reference). Returns 0, or LL_ENOMEM: then ev
 * is released and counted as dropped. */
static int enqueue(ll_sub_t *s, ll_event_t *ev)
{
    if (ring_room(s) < 0) {
        if (ev->seq) { /* an event lost; raw bytes are the caller's to report */
            s->dropped_unreported++;
            s->counts->dropped++;
            s->counts->dropped_by[ll_wire_stream(s->wire)]++;
        }
        ll_event_unref(ev);
        return LL_ENOMEM;
    }
    *slot(s, s->count) = ev;
    s->count++;
    s->drain_told = 0;
    note_lag(s);
    return 0;
}

/* Drops every queued event. */
static void discard(ll_sub_t *s)
{
    for (uint32_t i = 0; i < s->count; i++)
        ll_event_unref(*slot(s, i));
    s->count = 0;
    note_lag(s);
}

/* Queues a matching event (one new reference), writing through first when
 * the ring is full; counts a drop when the socket takes nothing more. */
static void queue_event(ll_sub_t *s, ll_event_t *ev)
{
    if (s->count >= s->cap)
        ll_sub_flush(s);
    if (s->closed)
        return; /* the flush failed and the owner closed it */
    if (s->count >= s->cap) {
        s->dropped_unreported++;
        s->counts->dropped++;
        s->counts->dropped_by[ll_wire_stream(s->wire)]++;
        return;
    }
    enqueue(s, ll_event_ref(ev));
    if (s->count > s->counts->queue_hwm)
        s->counts->queue_hwm = s->count;
}

void ll_sub_push(ll_sub_t *s, ll_event_t *ev)
{
    /* While catching up the log is the source: a live event is in it
     * already (events are published after they commit). Afterwards, what
     * the log replay already sent is not sent twice. */
    if (s->closed || s->ending || s->catching_up || ev->seq <= s->cursor)
        return;
    s->cursor = ev->seq;
    if (ll_sub_matches(s, ev))
        queue_event(s, ev);
}

static void report_drops(ll_sub_t *s)
{
    if (!s->dropped_unreported || s->count >= s->cap || !s->hooks->on_dropped || s->closed)
        return;
    uint64_t n = s->dropped_unreported;
    s->dropped_unreported = 0;
    s->hooks->on_dropped(s->owner, n);
}

/* Tells the owner once per drain (drain_told is cleared by the next
 * enqueue), however many paths notice it. */
static void drained(ll_sub_t *s)
{
    if (s->closed || s->writing || s->count || s->drain_told || !s->hooks->on_drained)
        return;
    s->drain_told = 1;
    s->hooks->on_drained(s->owner);
}

static void on_write(uv_write_t *wr, int status)
{
    ll_sub_t *s = wr->data;
    uint64_t sent = 0;
    for (uint32_t i = 0; i < s->ninflight; i++) {
        sent += s->inflight[i]->seq != 0;
        ll_event_unref(s->inflight[i]);
    }
    free(s->inflight);
    s->inflight = NULL;
    s->ninflight = 0;
    s->writing = 0;
    if (s->closed) {
        ll_sub_free(s); /* ll_sub_close left the memory to this callback */
        return;
    }
    note_lag(s);
    if (status < 0) {
        s->hooks->on_write_error(s->owner, status);
        return;
    }
    s->counts->sent += sent;
    report_drops(s);
    ll_sub_flush(s);
    drained(s); /* when nothing was left to flush, the write itself drained it */
    if (!s->closed)
        s->on_written(s);
}

void ll_sub_flush(ll_sub_t *s)
{
    uint32_t n = s->count, first = s->chunked ? 1 : 0, nb, i = 0, done = 0;
    uint64_t sent = 0;
    size_t total = 0;
    if (s->closed || s->writing || n == 0)
        return;
    uv_buf_t *bufs = flush_bufs(n + 2); /* + chunk head and trailer */
    if (!bufs) {
        s->hooks->on_write_error(s->owner, UV_ENOMEM);
        return;
    }
    for (uint32_t k = 0; k < n; k++) {
        ll_event_t *ev = *slot(s, k);
        ll_wire_t w = wire_of(s, ev);
        bufs[first + k] = uv_buf_init((char *)ev->wire[w].bytes, (unsigned)ev->wire[w].len);
        total += ev->wire[w].len;
    }
    nb = first + n;
    if (s->chunked) {
        /* One HTTP/1.1 chunk per flush (RFC 9112 §7.1): the header and the
         * trailer are this subscriber's few bytes, the events stay shared. */
        int h = snprintf(s->chunk_head, sizeof s->chunk_head, "%zx\r\n", total);
        bufs[0] = uv_buf_init(s->chunk_head, (unsigned)h);
        bufs[nb++] = uv_buf_init((char *)"\r\n", 2);
    }
    int rc = s->io ? s->io->try_write(s->io_arg, s->out, bufs, nb) : uv_try_write(s->out, bufs, nb);
    if (rc < 0 && rc != UV_EAGAIN) {
        s->hooks->on_write_error(s->owner, rc);
        return;
    }
    size_t written = rc > 0 ? (size_t)rc : 0;
    while (i < nb && written >= bufs[i].len) {
        written -= bufs[i].len;
        if (i >= first && i < first + n) { /* an event, not chunk framing */
            ll_event_t *ev = *slot(s, done);
            sent += ev->seq != 0;
            ll_event_unref(ev);
            done++;
        }
        i++;
    }
    s->head = (s->head + done) % ring_size(s);
    s->count -= done;
    s->counts->sent += sent;
    note_lag(s);
    if (i == nb) {
        report_drops(s);
        drained(s);
        return;
    }
    /* The socket is full: the rest goes out in one uv_write, starting
     * part-way into the buffer the kernel took some of. */
    uint32_t m = s->count, rest = nb - i;
    /* The events stay referenced until the write completes: in an array
     * of their own, made only for a client the socket holds back. */
    if (!(s->inflight = malloc(m * sizeof *s->inflight))) {
        s->hooks->on_write_error(s->owner, UV_ENOMEM);
        return;
    }
    bufs += i;
    bufs[0].base += written;
    bufs[0].len -= written;
    for (uint32_t k = 0; k < m; k++)
        s->inflight[k] = *slot(s, k);
    s->ninflight = m;
    s->head = (s->head + m) % ring_size(s);
    s->count = 0; /* still lagging as much: the events are in flight */
    s->wr.data = s;
    s->writing = 1;
    rc = s->io ? s->io->write(s->io_arg, &s->wr, s->out, bufs, rest, on_write)
               : uv_write(&s->wr, s->out, bufs, rest, on_write);
    if (rc < 0) {
        s->writing = 0;
        for (uint32_t k = 0; k < m; k++)
            ll_event_unref(s->inflight[k]);
        free(s->inflight);
        s->inflight = NULL;
        s->ninflight = 0;
        note_lag(s);
        s->hooks->on_write_error(s->owner, rc);
    }
}

static int send_raw(ll_sub_t *s, const char *bytes, size_t len)
{
    if (s->count >= ring_max(s))
        return LL_EBUSY;
    ll_event_t *ev = ll_event_raw(bytes, len);
    if (!ev)
        return LL_ENOMEM;
    if (enqueue(s, ev) < 0)
        return LL_ENOMEM;
    ll_sub_flush(s);
    return 0;
}

int ll_sub_send_raw(ll_sub_t *s, const char *bytes, size_t len)
{
    if (s->closed || s->ending)
        return LL_ESHUTDOWN;
    return send_raw(s, bytes, len);
}

int ll_sub_end_body(ll_sub_t *s)
{
    if (s->closed || s->ending)
        return LL_ESHUTDOWN;
    discard(s);
    s->dropped_unreported = 0;
    s->ending = 1;
    s->catching_up = 0;
    if (!s->chunked) {
        drained(s);
        return 0;
    }
    /* What is in flight was framed when it was written; from here on the
     * bytes are the framing's own end, not a chunk's content. */
    s->chunked = 0;
    return send_raw(s, "0\r\n\r\n", 5);
}

/* ---- history ---------------------------------------------------------------- */

static int history_event(ll_event_t *ev, void *arg)
{
    ll_sub_t *s = arg;
    s->cursor = ev->seq; /* visited, whether or not it matches */
    if (ll_sub_matches(s, ev))
        enqueue(s, ll_event_ref(ev));
    return 0;
}

void ll_sub_stop_replay(ll_sub_t *s)
{
    s->catching_up = 0;
}

int ll_sub_fill_history(ll_sub_t *s, const ll_stream_backend_t *history)
{
    uint32_t room = s->cap > s->count ? s->cap - s->count : 0;
    if (s->ending || s->closed) {
        s->catching_up = 0;
        return 1; /* its body has ended: nothing more goes out */
    }
    if (room == 0)
        return 0;
    int rc = history->events_after(history->ctx, s->cursor, room, history_event, s);
    if (rc < 0) {
        /* Going live would skip the events between the cursor and live
         * without a word. The stream ends instead, as on a failed write:
         * its client reconnects with its Last-Event-ID. Nothing more is
         * queued meanwhile (the owner may linger before it closes). */
        LL_WARN("stream: reading the event log after %" PRIu64 " failed; ending the stream",
                s->cursor);
        discard(s);
        s->dropped_unreported = 0;
        s->ending = 1;
        s->catching_up = 0;
        s->hooks->on_write_error(s->owner, UV_EIO); /* last: the owner may close s */
        return rc;
    }
    if ((uint32_t)rc < room) {
        s->catching_up = 0; /* the log ends here: live events take over */
        return 1;
    }
    return 0;
}

/* ---- memory ----------------------------------------------------------------- */

ll_sub_t *ll_sub_alloc(uv_stream_t *out, const ll_sub_opts_t *o, uint64_t log_last,
                       const ll_sub_hooks_t *hooks, void *owner, ll_stream_counts_t *counts,
                       ll_sub_written_cb on_written)
{
    ll_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->out = out;
    s->io = o->io;
    s->io_arg = o->io_arg;
    s->hooks = hooks;
    s->owner = owner;
    s->counts = counts;
    s->on_written = on_written;
    s->wire = o->wire;
    s->types = o->types;
    if (o->address)
        snprintf(s->address, sizeof s->address, "%s", o->address);
    s->cap = o->queue_cap ? o->queue_cap : 1;
    s->ring_cap = ring_max(s) < RING_FIRST ? ring_max(s) : RING_FIRST;
    s->ring = calloc(s->ring_cap, sizeof *s->ring);
    s->chunked = o->chunked;
    if (!s->ring) {
        ll_sub_free(s);
        return NULL;
    }
    if (o->resume) {
        /* A Last-Event-ID beyond the log (another node's, or a wiped one)
         * replays nothing rather than skipping what comes next. */
        s->cursor = o->resume_after <= log_last ? o->resume_after : log_last;
        s->catching_up = 1;
    } else {
        s->cursor = log_last; /* live from here: what the log holds is not due */
    }
    return s;
}

int ll_sub_shut(ll_sub_t *s)
{
    s->closed = 1;
    discard(s); /* and, closed, it lags no more */
    return !s->writing;
}

void ll_sub_free(ll_sub_t *s)
{
    if (!s)
        return;
    if (s->ring)
        discard(s);
    free(s->ring);
    free(s->inflight);
    free(s);
}
