/* tests/unit/stream_harness.h: the clients, events and loop that
 * test_subscriber.c and test_fanout.c share, in one header because CMake
 * builds each tests/unit/test_*.c as its own program and links nothing but
 * ll_core and cmocka. Everything here is a macro, a type, or a static object
 * or function, so each program has its own copy.
 *
 * Each client is a socketpair: the subscriber writes to one end wrapped in a
 * uv_pipe_t, and the test reads the other end directly (non-blocking) and
 * parses what the wire shows. A small SO_SNDBUF makes the socket fill up when
 * a test needs backpressure. Nothing sleeps: the loop is run a turn at a time
 * (UV_RUN_NOWAIT) and the socket read until the expected bytes arrive or a
 * deadline passes. ASan/LSan check that every subscriber, event and write is
 * freed exactly once.
 *
 *   setup, teardown             per test: a loop and a fan-out with no log;
 *                               teardown closes every client, the fan-out and
 *                               any log a test opened, and removes its directory
 *   conn_open, conn_close       a subscribed client; its close, both ends
 *   sse_opts                    SSE subscriber options with a queue capacity
 *   conn_recv, conn_read,       what a client's socket holds, read and parsed
 *   read_all                    into tokens (event seqs, -K for ": raw K")
 *   pump, pump_tokens, settle   loop turns until a want_t is reached, or a
 *                               few more to show that nothing else arrives
 *   assert_tokens, assert_range, expect_range
 *   ev_new, deliver,            events, and batches of them handed to
 *   deliver_range               ll_fanout_deliver as the hub would
 *   stats_of                    the stream counts, summed as /metrics does
 *
 * Owns:    the fixture owns its loop, fan-out, clients and any log.
 * Frees:   teardown(), also after a failed assertion.
 * Threads: the test thread only: the loop runs on it, and cmocka's
 *          assertions longjmp. */
#ifndef LL_TESTS_UNIT_STREAM_HARNESS_H
#define LL_TESTS_UNIT_STREAM_HARNESS_H

#include "store/store.h"
#include "stream/event.h"
#include "stream/fanout.h"
#include "stream/hub.h"
#include "stream/log_backend.h"
#include "stream/subscriber.h"
#include "util/err.h"

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

#define DEADLINE_MS 5000 /* only a lost byte should ever reach it */
#define MAX_CONNS 8
#define MAX_TOK 2048
#define SMALL_BUF 4096 /* the kernel doubles it; still a few KB */
#define A_ADDR "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define B_ADDR "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define C_ADDR "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"

/* One client: the subscriber's end and what the test has read from the
 * other. Hook counters are written by the callbacks (loop thread = test). */
typedef struct conn {
    ll_sub_t *sub;
    uv_pipe_t pipe;
    int rfd;     /* the test's end; -1 once closed */
    int reading; /* pump() reads it */
    int frames;  /* WebSocket bytes: kept, not parsed as SSE */
    int sub_closed, pipe_closed;
    char *buf;
    size_t len, cap, parsed;
    int records;          /* recv() calls that returned data (one per SEQPACKET write) */
    int64_t tok[MAX_TOK]; /* SSE parsed so far: seq > 0, or -K for ": raw K" */
    int ntok;
    uint64_t dropped_calls, dropped_n;
    int write_errors, drained, session_ends;
    int close_on_error;      /* on_write_error closes this client ... */
    struct conn *also_close; /* ... and this one too */
} conn_t;

typedef struct fx {
    uv_loop_t loop;
    ll_stream_stats_t stats;
    ll_fanout_t *fo;
    conn_t conns[MAX_CONNS];
    int nconn;
    int sock_type;
    /* a log, when a test opens one (fx_store() in test_fanout.c); teardown()
     * closes it and removes its directory */
    char dir[64];
    ll_store_t *writer, *reader;
} fx_t;

/* ---- clients ------------------------------------------------------------------- */

static inline void conn_close(conn_t *c)
{
    if (!c->sub_closed && c->sub)
        ll_sub_close(c->sub);
    c->sub_closed = 1;
    if (!c->pipe_closed)
        uv_close((uv_handle_t *)&c->pipe, NULL); /* cancels a write in flight */
    c->pipe_closed = 1;
    if (c->rfd >= 0)
        close(c->rfd);
    c->rfd = -1;
}

static inline void on_dropped(void *owner, uint64_t n)
{
    conn_t *c = owner;
    c->dropped_calls++;
    c->dropped_n += n;
}

static inline void on_write_error(void *owner, int status)
{
    conn_t *c = owner;
    (void)status;
    c->write_errors++;
    if (c->close_on_error)
        conn_close(c);
    if (c->also_close)
        conn_close(c->also_close);
}

static inline void on_drained(void *owner)
{
    ((conn_t *)owner)->drained++;
}

/* The session the stream rides on ended (fanout.h): counted; the test
 * decides what the owner does. */
static inline void on_session_end(void *owner)
{
    ((conn_t *)owner)->session_ends++;
}

static const ll_sub_hooks_t hooks = {on_dropped, on_write_error, on_drained, on_session_end};

/* A client on a socketpair (fx->sock_type, default SOCK_STREAM); bufsize > 0
 * shrinks its socket buffers. */
static inline conn_t *conn_open(fx_t *fx, int bufsize, const ll_sub_opts_t *o)
{
    assert_true(fx->nconn < MAX_CONNS);
    conn_t *c = &fx->conns[fx->nconn++];
    int sv[2];
    c->rfd = -1;
    c->pipe_closed = 1;
    c->sub_closed = 1;
    c->reading = 1;
    assert_int_equal(socketpair(AF_UNIX, fx->sock_type ? fx->sock_type : SOCK_STREAM, 0, sv), 0);
    if (bufsize > 0) {
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize), 0);
        assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize), 0);
    }
    c->rfd = sv[1];
    assert_int_equal(fcntl(c->rfd, F_SETFL, fcntl(c->rfd, F_GETFL) | O_NONBLOCK), 0);
    assert_int_equal(uv_pipe_init(&fx->loop, &c->pipe, 0), 0);
    c->pipe_closed = 0;
    assert_int_equal(uv_pipe_open(&c->pipe, sv[0]), 0);
    c->sub = ll_sub_open(fx->fo, (uv_stream_t *)&c->pipe, o, &hooks, c);
    assert_non_null(c->sub);
    c->sub_closed = 0;
    return c;
}

static inline ll_sub_opts_t sse_opts(uint32_t cap)
{
    return (ll_sub_opts_t){.wire = LL_WIRE_SSE, .queue_cap = cap};
}

/* Parses whole SSE events and ": raw K" comments; a partial one waits. */
static inline void conn_parse(conn_t *c)
{
    for (;;) {
        char *p = c->buf + c->parsed, *end = c->buf + c->len;
        char *blank = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!blank)
            return;
        *blank = '\0'; /* restored below; the buffer keeps its bytes */
        uint64_t seq;
        int n = 0;
        char pad;
        assert_true(c->ntok < MAX_TOK);
        if (sscanf(p, "id: %" SCNu64 "\ndata: {\"seq\":%*u%n", &seq, &n) == 1 && n > 0) {
            char want[64];
            snprintf(want, sizeof want, "id: %" PRIu64 "\ndata: {\"seq\":%" PRIu64, seq, seq);
            if (strncmp(p, want, strlen(want)) != 0 || strchr(p, '\n') != strrchr(p, '\n'))
                fail_msg("event bytes out of place near: %.80s", p);
            c->tok[c->ntok++] = (int64_t)seq;
        } else if (sscanf(p, ": raw %" SCNu64 "%c", &seq, &pad) == 1) {
            c->tok[c->ntok++] = -(int64_t)seq;
        } else {
            fail_msg("not an SSE event: %.80s", p);
        }
        *blank = '\n';
        c->parsed = (size_t)(blank + 2 - c->buf);
    }
}

/* One recv() of at most max bytes; returns its result. */
static inline ssize_t conn_recv(conn_t *c, size_t max)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    ssize_t n =
        recv(c->rfd, c->buf + c->len, max < c->cap - c->len ? max : c->cap - c->len, MSG_DONTWAIT);
    if (n > 0) {
        c->len += (size_t)n;
        c->records++;
    }
    return n;
}

static inline void conn_read(conn_t *c)
{
    while (conn_recv(c, SIZE_MAX) > 0)
        ;
    if (!c->frames)
        conn_parse(c);
}

static inline void read_all(fx_t *fx)
{
    for (int i = 0; i < fx->nconn; i++)
        if (fx->conns[i].reading && fx->conns[i].rfd >= 0)
            conn_read(&fx->conns[i]);
}

/* What pump() waits for; each field is a minimum. */
typedef struct want {
    const conn_t *c;
    int ntok;
    size_t bytes;
    uint64_t drop_reports;
    int drained;
    ll_event_t *const *unshared; /* these events have only the test's reference */
    int nunshared;
} want_t;

static inline int reached(const want_t *w)
{
    for (int i = 0; i < w->nunshared; i++)
        if (atomic_load(&w->unshared[i]->refs) != 1)
            return 0;
    return !w->c || (w->c->ntok >= w->ntok && w->c->len >= w->bytes &&
                     w->c->dropped_calls >= w->drop_reports && w->c->drained >= w->drained);
}

/* Runs the loop a turn at a time and reads every reading client until w is
 * reached or the deadline passes. */
static inline void pump(fx_t *fx, const want_t *w)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)DEADLINE_MS * 1000000;
    for (;;) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        read_all(fx);
        if (reached(w))
            return;
        if (uv_hrtime() > deadline)
            fail_msg("deadline: %d events, %" PRIu64 " drop reports, %d drained",
                     w->c ? w->c->ntok : 0, w->c ? w->c->dropped_calls : 0,
                     w->c ? w->c->drained : 0);
    }
}

static inline void pump_tokens(fx_t *fx, const conn_t *c, int n)
{
    pump(fx, &(want_t){.c = c, .ntok = n});
}

/* A few more loop turns, for checking that nothing more arrives. */
static inline void settle(fx_t *fx)
{
    for (int i = 0; i < 20; i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        read_all(fx);
    }
}

static inline void assert_tokens(const conn_t *c, const int64_t *want, int n)
{
    if (c->ntok != n)
        fail_msg("got %d events, want %d", c->ntok, n);
    for (int i = 0; i < n; i++)
        if (c->tok[i] != want[i])
            fail_msg("event %d: got %" PRId64 ", want %" PRId64, i, c->tok[i], want[i]);
}

static inline void assert_range(const conn_t *c, int64_t first, int64_t last)
{
    int64_t want[MAX_TOK];
    int n = 0;
    for (int64_t s = first; s <= last; s++)
        want[n++] = s;
    assert_tokens(c, want, n);
}

/* Waits for c's events first..last, lets the loop settle so that any extra
 * event would arrive too, and requires exactly those, in order. */
static inline void expect_range(fx_t *fx, const conn_t *c, int64_t first, int64_t last)
{
    pump_tokens(fx, c, (int)(last - first + 1));
    settle(fx);
    assert_range(c, first, last);
}

/* ---- events ------------------------------------------------------------------- */

/* addrs: space-separated, like the events table's column. */
static inline ll_event_t *ev_new(uint64_t seq, ll_ev_type_t type, const char *addrs, size_t pad)
{
    char *payload = malloc(pad + 64);
    assert_non_null(payload);
    int n = snprintf(payload, 64, "{\"seq\":%" PRIu64 ",\"pad\":\"", seq);
    memset(payload + n, 'x', pad);
    strcpy(payload + n + pad, "\"}");
    ll_event_desc_t d = {.seq = seq, .type = type, .payload = payload};
    ll_event_desc_parse_addresses(&d, addrs);
    ll_event_t *ev = ll_event_new(&d);
    free(payload);
    assert_non_null(ev);
    return ev;
}

/* Delivers evs as one batch; the batch takes the callers' references. */
static inline void deliver(fx_t *fx, ll_event_t **evs, size_t n)
{
    ll_batch_t *b = ll_batch_new(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b->events[b->n++] = evs[i];
    ll_fanout_deliver(b, fx->fo);
    ll_batch_unref(b);
}

/* Delivers tx events first..last (no addresses) as one batch. */
static inline void deliver_range(fx_t *fx, uint64_t first, uint64_t last, size_t pad)
{
    static ll_event_t *evs[MAX_TOK];
    size_t n = 0;
    for (uint64_t s = first; s <= last; s++)
        evs[n++] = ev_new(s, LL_EV_TX, "", pad);
    deliver(fx, evs, n);
}

/* ---- fixture ------------------------------------------------------------------ */

/* The stream counts as /metrics sums them (stream/stats.h). */
static inline ll_stream_counts_t stats_of(const fx_t *fx)
{
    ll_stream_counts_t c;
    ll_stream_stats_sum(&fx->stats, &c);
    return c;
}

static inline int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx || uv_loop_init(&fx->loop) != 0)
        return -1;
    *state = fx;
    ll_stream_backend_t none = ll_log_backend(NULL);
    fx->fo = ll_fanout_new(&fx->loop, &none, &fx->stats);
    return fx->fo ? 0 : -1;
}

static inline int teardown(void **state)
{
    fx_t *fx = *state;
    int rc = 0;
    for (int i = 0; i < fx->nconn; i++)
        conn_close(&fx->conns[i]);
    uv_run(&fx->loop, UV_RUN_DEFAULT); /* pipes close; closed subscribers are freed */
    if (fx->fo) {
        ll_fanout_close(fx->fo);
        uv_run(&fx->loop, UV_RUN_DEFAULT); /* its idle handle closes */
    }
    if (uv_loop_close(&fx->loop) != 0)
        rc = -1;
    for (int i = 0; i < fx->nconn; i++)
        free(fx->conns[i].buf);
    ll_store_close(fx->reader);
    ll_store_close(fx->writer);
    if (fx->dir[0] && remove_tree(fx->dir) != 0)
        rc = -1;
    free(fx);
    return rc;
}

#endif
