/* stream/fanout.c: see fanout.h. Subscribers without an address filter sit
 * in one list; the others in their address's bucket, so an event visits
 * only the subscribers that could want it. A subscriber's memory is freed
 * only outside deliveries (its write callback or the idle pass), so hooks
 * that close a connection in the middle of a batch are safe. */
#include "stream/fanout.h"
#include "stream/subscriber_internal.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How many sessions were deleted since the start, process-wide: bumped by
 * any thread (the worker that answered a logout), read by every worker's
 * check. Only its changes matter. */
static _Atomic uint64_t sessions_revoked;

struct ll_fanout {
    uv_loop_t *loop;
    ll_stream_backend_t backend; /* history, the newest seq, sessions */
    ll_stream_counts_t counts;   /* this worker's: plain, published once per batch */
    ll_stream_slot_t *slot;      /* where they are published, for /metrics */
    ll_sub_t *unfiltered;        /* doubly linked through prev/next */
    ll_hmap_t *by_addr;          /* address -> first ll_sub_t of its bucket */
    ll_sub_t *ready;             /* catching up, free to read a page (next_ready) */
    ll_sub_t *dead;              /* closed and not writing (next_dead) */
    uv_idle_t idle;              /* runs while ready or dead is non-empty */
    ll_sub_t *sessions;          /* bound to a session (sprev/snext) */
    uv_timer_t session_timer;    /* runs while sessions is non-empty */
    uint64_t revoked_seen;       /* sessions_revoked when this fan-out last re-read */
    int open_handles;            /* its three handles: fo is freed when all are closed */
    /* --stream-flush-ms: touched subscribers wait for flush_timer. */
    uint32_t flush_ms;
    uv_timer_t flush_timer;
    ll_sub_t *pending;      /* touched, not yet written (next_touched) */
    uint64_t pending_since; /* publication of the window's first batch */
};

static void on_idle(uv_idle_t *idle);
static void on_written(ll_sub_t *s);

static void wake(ll_fanout_t *fo)
{
    if (!uv_is_active((uv_handle_t *)&fo->idle))
        uv_idle_start(&fo->idle, on_idle);
}

ll_fanout_t *ll_fanout_new(uv_loop_t *loop, const ll_stream_backend_t *backend,
                           ll_stream_stats_t *stats)
{
    ll_fanout_t *fo = calloc(1, sizeof *fo);
    if (!fo)
        return NULL;
    if (!(fo->by_addr = ll_hmap_new())) {
        free(fo);
        return NULL;
    }
    if (!(fo->slot = ll_stream_stats_claim(stats))) {
        LL_ERROR("stream: more fan-outs than stats slots (%d)", LL_STREAM_STATS_SLOTS);
        ll_hmap_free(fo->by_addr);
        free(fo);
        return NULL;
    }
    fo->loop = loop;
    fo->backend = *backend;
    fo->revoked_seen = atomic_load(&sessions_revoked);
    uv_idle_init(loop, &fo->idle);
    fo->idle.data = fo;
    uv_timer_init(loop, &fo->session_timer);
    fo->session_timer.data = fo;
    uv_unref((uv_handle_t *)&fo->session_timer); /* a check alone keeps no loop alive */
    uv_timer_init(loop, &fo->flush_timer);
    fo->flush_timer.data = fo;
    fo->open_handles = 3;
    return fo;
}

void ll_fanout_set_flush_ms(ll_fanout_t *fo, uint32_t ms)
{
    fo->flush_ms = ms;
}

static void on_handle_closed(uv_handle_t *h)
{
    ll_fanout_t *fo = h->data;
    if (--fo->open_handles == 0)
        free(fo);
}

void ll_fanout_close(ll_fanout_t *fo)
{
    if (!fo)
        return;
    while (fo->dead) {
        ll_sub_t *s = fo->dead;
        fo->dead = s->fan.next_dead;
        ll_sub_free(s);
    }
    if (fo->unfiltered || ll_hmap_count(fo->by_addr))
        LL_ERROR("stream: fan-out closed with subscribers still open");
    ll_sub_thread_release();
    ll_hmap_free(fo->by_addr);
    uv_close((uv_handle_t *)&fo->idle, on_handle_closed);
    uv_close((uv_handle_t *)&fo->session_timer, on_handle_closed);
    uv_close((uv_handle_t *)&fo->flush_timer, on_handle_closed);
}

/* Once per batch: after a delivery, a completed write, a history pass, an
 * open or a close. */
static void publish(ll_fanout_t *fo)
{
    ll_stream_stats_publish(fo->slot, &fo->counts);
}

/* ---- the index ------------------------------------------------------------ */

/* Puts s at the head of its list: the unfiltered one, or its address's
 * bucket. Returns 0 or LL_ENOMEM (a new bucket could not be made). */
static int link_sub(ll_fanout_t *fo, ll_sub_t *s)
{
    ll_sub_t *head = s->address[0] ? ll_hmap_get(fo->by_addr, s->address) : fo->unfiltered;
    if (s->address[0] && ll_hmap_put(fo->by_addr, s->address, s) < 0)
        return LL_ENOMEM;
    if (!s->address[0])
        fo->unfiltered = s;
    s->fan.prev = NULL;
    s->fan.next = head;
    if (head)
        head->fan.prev = s;
    return 0;
}

/* Leaves s->fan.next as it was, so a walk standing on s can go on. */
static void unlink_sub(ll_fanout_t *fo, ll_sub_t *s)
{
    if (s->fan.next)
        s->fan.next->fan.prev = s->fan.prev;
    if (s->fan.prev) {
        s->fan.prev->fan.next = s->fan.next;
    } else if (!s->address[0]) {
        fo->unfiltered = s->fan.next;
    } else if (s->fan.next) {
        ll_hmap_put(fo->by_addr, s->address, s->fan.next); /* the key exists: no allocation */
    } else {
        ll_hmap_remove(fo->by_addr, s->address);
    }
}

/* ---- session-bound subscribers ------------------------------------------ */

static void on_session_timer(uv_timer_t *t);

static void sessions_link(ll_fanout_t *fo, ll_sub_t *s)
{
    s->fan.sprev = NULL;
    s->fan.snext = fo->sessions;
    if (fo->sessions)
        fo->sessions->fan.sprev = s;
    fo->sessions = s;
    s->fan.in_sessions = 1;
    if (!uv_is_active((uv_handle_t *)&fo->session_timer))
        uv_timer_start(&fo->session_timer, on_session_timer, LL_FANOUT_SESSION_CHECK_MS,
                       LL_FANOUT_SESSION_CHECK_MS);
}

static void sessions_unlink(ll_fanout_t *fo, ll_sub_t *s)
{
    if (!s->fan.in_sessions)
        return;
    if (s->fan.snext)
        s->fan.snext->fan.sprev = s->fan.sprev;
    if (s->fan.sprev)
        s->fan.sprev->fan.snext = s->fan.snext;
    else
        fo->sessions = s->fan.snext;
    s->fan.sprev = s->fan.snext = NULL;
    s->fan.in_sessions = 0;
    if (!fo->sessions)
        uv_timer_stop(&fo->session_timer);
}

static void remove_ready(ll_fanout_t *fo, ll_sub_t *s);
static void schedule_page(ll_fanout_t *fo, ll_sub_t *s);

/* The session of s is over: it leaves the index (no event reaches it any
 * more, so nothing follows a WebSocket close frame) and its owner ends the
 * stream. Its memory stays until the owner closes it. */
static void end_session(ll_fanout_t *fo, ll_sub_t *s)
{
    sessions_unlink(fo, s);
    if (!s->fan.detached) {
        unlink_sub(fo, s);
        s->fan.detached = 1;
    }
    remove_ready(fo, s);
    ll_sub_stop_replay(s);
    if (s->hooks->on_session_end)
        s->hooks->on_session_end(s->owner);
    else
        s->hooks->on_write_error(s->owner, UV_ECONNABORTED);
}

void ll_fanout_session_revoked(void)
{
    atomic_fetch_add(&sessions_revoked, 1);
}

void ll_fanout_check_sessions(ll_fanout_t *fo, int64_t now_ms)
{
    /* Loaded before the reads: a logout committed during them moves the
     * count again, and the next check reads once more. */
    uint64_t revoked = atomic_load(&sessions_revoked);
    int reread = revoked != fo->revoked_seen, failed = 0;
    ll_sub_t *next;
    for (ll_sub_t *s = fo->sessions; s; s = next) {
        next = s->fan.snext;
        if (reread && s->fan.session_expires_ms > now_ms) {
            int64_t expires_ms;
            int rc = fo->backend.session_expiry(fo->backend.ctx, s->fan.session, &expires_ms);
            if (rc == LL_ENOTFOUND)
                s->fan.session_expires_ms = INT64_MIN;
            else if (rc == 0)
                s->fan.session_expires_ms = expires_ms;
            else
                failed = 1; /* keep the stream; the next check reads again */
        }
        if (s->fan.session_expires_ms <= now_ms)
            end_session(fo, s);
    }
    if (reread && !failed)
        fo->revoked_seen = revoked;
}

static void on_session_timer(uv_timer_t *t)
{
    /* session times are dates (auth/session.h) */
    ll_fanout_check_sessions(t->data, ll_clock_wall_ms());
}

/* ---- opening and closing ------------------------------------------------- */

ll_sub_t *ll_sub_open(ll_fanout_t *fo, uv_stream_t *out, const ll_sub_opts_t *o,
                      const ll_sub_hooks_t *hooks, void *owner)
{
    uint64_t last = fo->backend.last_seq(fo->backend.ctx);
    ll_sub_t *s = ll_sub_alloc(out, o, last, hooks, owner, &fo->counts, on_written);
    if (!s)
        return NULL;
    s->fan.fo = fo;
    if (link_sub(fo, s) < 0) {
        ll_sub_free(s);
        return NULL;
    }
    fo->counts.subscribers[ll_wire_stream(s->wire)]++;
    publish(fo);
    if (o->session && o->session[0]) {
        snprintf(s->fan.session, sizeof s->fan.session, "%s", o->session);
        s->fan.session_expires_ms = o->session_expires_ms;
        sessions_link(fo, s);
    }
    if (ll_sub_wants_page(s))
        schedule_page(fo, s); /* resuming: the log first */
    return s;
}

static void remove_ready(ll_fanout_t *fo, ll_sub_t *s)
{
    for (ll_sub_t **p = &fo->ready; *p; p = &(*p)->fan.next_ready) {
        if (*p == s) {
            *p = s->fan.next_ready;
            s->fan.next_ready = NULL;
            return;
        }
    }
}

/* A closing subscriber leaves the flush window's list, which outlives the
 * loop turn (and the subscriber's memory may go before the timer). */
static void unlink_pending(ll_fanout_t *fo, ll_sub_t *s)
{
    for (ll_sub_t **p = &fo->pending; *p; p = &(*p)->fan.next_touched)
        if (*p == s) {
            *p = s->fan.next_touched;
            s->fan.touched = 0;
            return;
        }
}

void ll_sub_close(ll_sub_t *s)
{
    if (!s || s->closed)
        return;
    ll_fanout_t *fo = s->fan.fo;
    if (!s->fan.detached)
        unlink_sub(fo, s);
    sessions_unlink(fo, s);
    remove_ready(fo, s);
    fo->counts.subscribers[ll_wire_stream(s->wire)]--;
    if (fo->pending)
        unlink_pending(fo, s);
    int freeable = ll_sub_shut(s); /* first: it also leaves the lagging count */
    publish(fo);
    if (freeable) {
        s->fan.next_dead = fo->dead;
        fo->dead = s;
        wake(fo);
    } /* else on_write frees it once the stream's close cancels the write */
}

/* s is catching up and free to read its next page: on the next loop turn. */
static void schedule_page(ll_fanout_t *fo, ll_sub_t *s)
{
    for (ll_sub_t *r = fo->ready; r; r = r->fan.next_ready)
        if (r == s)
            return;
    s->fan.next_ready = fo->ready;
    fo->ready = s;
    wake(fo);
}

/* A write of s completed: what it sent is counted, and a subscriber
 * catching up reads its next page. */
static void on_written(ll_sub_t *s)
{
    ll_fanout_t *fo = s->fan.fo;
    publish(fo);
    if (ll_sub_wants_page(s))
        schedule_page(fo, s);
}

/* One page of history per ready subscriber per loop turn, so a long replay
 * shares the loop with everyone else. */
static void on_idle(uv_idle_t *idle)
{
    ll_fanout_t *fo = idle->data;
    ll_sub_t *ready = fo->ready;
    fo->ready = NULL;
    while (ready) {
        ll_sub_t *s = ready;
        ready = s->fan.next_ready;
        s->fan.next_ready = NULL;
        ll_sub_fill_history(s, &fo->backend);
        ll_sub_flush(s);
        if (ll_sub_wants_page(s))
            schedule_page(fo, s); /* the socket took it all: next page next turn */
    }
    publish(fo);
    while (fo->dead) {
        ll_sub_t *s = fo->dead;
        fo->dead = s->fan.next_dead;
        ll_sub_free(s);
    }
    if (!fo->ready)
        uv_idle_stop(idle);
}

/* ---- delivery ---------------------------------------------------------------- */

static void offer(ll_sub_t *s, ll_event_t *ev, ll_sub_t **touched)
{
    if (s->closed || !ll_sub_matches(s, ev))
        return;
    ll_sub_push(s, ev);
    if (!s->fan.touched) {
        s->fan.touched = 1;
        s->fan.next_touched = *touched;
        *touched = s;
    }
}

/* Writes every touched subscriber's queue, one write each; the first
 * write of a batch to each stream (ll_wire_stream) is timed from its
 * publication (stats.h). */
static void flush_touched(ll_fanout_t *fo, ll_sub_t **touched, uint64_t published_ns,
                          unsigned *timed)
{
    while (*touched) {
        ll_sub_t *s = *touched;
        *touched = s->fan.next_touched;
        s->fan.touched = 0;
        ll_wire_t stream = ll_wire_stream(s->wire);
        ll_sub_flush(s);
        /* a batch made outside the hub has no time */
        if (!(*timed & (1u << stream)) && published_ns)
            ll_stream_counts_first_write(&fo->counts, stream, uv_hrtime() - published_ns);
        *timed |= 1u << stream;
    }
}

/* The flush window is over: every subscriber touched since is written. */
static void on_flush_timer(uv_timer_t *t)
{
    ll_fanout_t *fo = t->data;
    unsigned timed = 0;
    ll_sub_t *touched = fo->pending;
    fo->pending = NULL;
    flush_touched(fo, &touched, fo->pending_since, &timed);
    publish(fo);
}

void ll_fanout_deliver(const ll_batch_t *b, void *arg)
{
    ll_fanout_t *fo = arg;
    ll_sub_t *touched = fo->pending; /* NULL unless a flush window is open */
    unsigned timed = 0;              /* a bit per stream (ll_wire_stream) */
    if (!touched)
        fo->pending_since = b->published_ns;
    for (size_t i = 0; i < b->n; i++) {
        ll_event_t *ev = b->events[i];
        for (ll_sub_t *s = fo->unfiltered; s; s = s->fan.next)
            offer(s, ev, &touched);
        for (unsigned a = 0; a < ev->naddr; a++) {
            /* An address named twice (a self-transfer) visits its bucket
             * once; the cursor would skip the repeat anyway. */
            int seen = 0;
            for (unsigned k = 0; k < a; k++)
                seen |= strcmp(ev->addr[k], ev->addr[a]) == 0;
            if (seen)
                continue;
            for (ll_sub_t *s = ll_hmap_get(fo->by_addr, ev->addr[a]); s; s = s->fan.next)
                offer(s, ev, &touched);
        }
        /* A block of thousands is written as it is queued, so its first
         * events leave before its last are matched. */
        if ((i + 1) % LL_FANOUT_WRITE_EVERY == 0)
            flush_touched(fo, &touched, fo->pending_since, &timed);
    }
    if (fo->flush_ms && touched) {
        fo->pending = touched;
        if (!uv_is_active((uv_handle_t *)&fo->flush_timer))
            uv_timer_start(&fo->flush_timer, on_flush_timer, fo->flush_ms, 0);
    } else {
        fo->pending = NULL;
        flush_touched(fo, &touched, fo->pending_since, &timed);
    }
    publish(fo);
}
