/* tests/unit/test_subscriber.c: a worker's subscribers through subscriber.h
 * and fanout.h, over real sockets. Each client is a socketpair: the
 * subscriber writes to one end wrapped in a uv_pipe_t, and the test reads the
 * other end directly (non-blocking) and parses what the wire shows. A small
 * SO_SNDBUF makes the socket fill up when a test needs backpressure. Nothing
 * sleeps: the loop is run a turn at a time (UV_RUN_NOWAIT) and the socket
 * read until the expected bytes arrive or a deadline passes. ASan/LSan check
 * that every subscriber, event and write is freed exactly once. */
#include "store/store.h"
#include "stream/event.h"
#include "stream/fanout.h"
#include "stream/hub.h"
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
    int write_errors, drained;
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
    char dir[64];
    ll_store_t *writer, *reader;
} fx_t;

/* ---- clients ------------------------------------------------------------------- */

static void conn_close(conn_t *c)
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

static void on_dropped(void *owner, uint64_t n)
{
    conn_t *c = owner;
    c->dropped_calls++;
    c->dropped_n += n;
}

static void on_write_error(void *owner, int status)
{
    conn_t *c = owner;
    (void)status;
    c->write_errors++;
    if (c->close_on_error)
        conn_close(c);
    if (c->also_close)
        conn_close(c->also_close);
}

static void on_drained(void *owner)
{
    ((conn_t *)owner)->drained++;
}

static const ll_sub_hooks_t hooks = {on_dropped, on_write_error, on_drained};

/* A client on a socketpair (fx->sock_type, default SOCK_STREAM); bufsize > 0
 * shrinks its socket buffers. */
static conn_t *conn_open(fx_t *fx, int bufsize, const ll_sub_opts_t *o)
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

static ll_sub_opts_t sse_opts(uint32_t cap)
{
    return (ll_sub_opts_t){.wire = LL_WIRE_SSE, .queue_cap = cap};
}

/* Parses whole SSE events and ": raw K" comments; a partial one waits. */
static void conn_parse(conn_t *c)
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
static ssize_t conn_recv(conn_t *c, size_t max)
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

static void conn_read(conn_t *c)
{
    while (conn_recv(c, SIZE_MAX) > 0)
        ;
    if (!c->frames)
        conn_parse(c);
}

static void read_all(fx_t *fx)
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

static int reached(const want_t *w)
{
    for (int i = 0; i < w->nunshared; i++)
        if (atomic_load(&w->unshared[i]->refs) != 1)
            return 0;
    return !w->c || (w->c->ntok >= w->ntok && w->c->len >= w->bytes &&
                     w->c->dropped_calls >= w->drop_reports && w->c->drained >= w->drained);
}

/* Runs the loop a turn at a time and reads every reading client until w is
 * reached or the deadline passes. */
static void pump(fx_t *fx, const want_t *w)
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

static void pump_tokens(fx_t *fx, const conn_t *c, int n)
{
    pump(fx, &(want_t){.c = c, .ntok = n});
}

/* A few more loop turns, for checking that nothing more arrives. */
static void settle(fx_t *fx)
{
    for (int i = 0; i < 20; i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        read_all(fx);
    }
}

static void assert_tokens(const conn_t *c, const int64_t *want, int n)
{
    if (c->ntok != n)
        fail_msg("got %d events, want %d", c->ntok, n);
    for (int i = 0; i < n; i++)
        if (c->tok[i] != want[i])
            fail_msg("event %d: got %" PRId64 ", want %" PRId64, i, c->tok[i], want[i]);
}

static void assert_range(const conn_t *c, int64_t first, int64_t last)
{
    int64_t want[MAX_TOK];
    int n = 0;
    for (int64_t s = first; s <= last; s++)
        want[n++] = s;
    assert_tokens(c, want, n);
}

/* Waits for c's events first..last, lets the loop settle so that any extra
 * event would arrive too, and requires exactly those, in order. */
static void expect_range(fx_t *fx, const conn_t *c, int64_t first, int64_t last)
{
    pump_tokens(fx, c, (int)(last - first + 1));
    settle(fx);
    assert_range(c, first, last);
}

/* ---- events ------------------------------------------------------------------- */

static ll_event_t *ev_new(uint64_t seq, const char *type, const char *addrs, size_t pad)
{
    char *payload = malloc(pad + 64);
    assert_non_null(payload);
    int n = snprintf(payload, 64, "{\"seq\":%" PRIu64 ",\"pad\":\"", seq);
    memset(payload + n, 'x', pad);
    strcpy(payload + n + pad, "\"}");
    ll_event_desc_t d = {.seq = seq, .type = type, .addresses = addrs, .payload = payload};
    ll_event_t *ev = ll_event_new(&d);
    free(payload);
    assert_non_null(ev);
    return ev;
}

/* Delivers evs as one batch; the batch takes the callers' references. */
static void deliver(fx_t *fx, ll_event_t **evs, size_t n)
{
    ll_batch_t *b = ll_batch_new(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b->events[b->n++] = evs[i];
    ll_fanout_deliver(b, fx->fo);
    ll_batch_unref(b);
}

/* Delivers tx events first..last (no addresses) as one batch. */
static void deliver_range(fx_t *fx, uint64_t first, uint64_t last, size_t pad)
{
    static ll_event_t *evs[MAX_TOK];
    size_t n = 0;
    for (uint64_t s = first; s <= last; s++)
        evs[n++] = ev_new(s, "tx", "", pad);
    deliver(fx, evs, n);
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx || uv_loop_init(&fx->loop) != 0)
        return -1;
    *state = fx;
    fx->fo = ll_fanout_new(&fx->loop, NULL, &fx->stats);
    return fx->fo ? 0 : -1;
}

static int teardown(void **state)
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

/* Appends tx rows first..last to the log in one commit; each row is ~1 KB,
 * so a replay of a few rows fills a small socket buffer. */
static void store_append(fx_t *fx, uint64_t first, uint64_t last)
{
    char payload[1100];
    assert_int_equal(ll_store_begin(fx->writer), 0);
    for (uint64_t s = first; s <= last; s++) {
        uint64_t seq = 0;
        int n = snprintf(payload, sizeof payload, "{\"seq\":%" PRIu64 ",\"pad\":\"", s);
        memset(payload + n, 'y', 1000);
        strcpy(payload + n + 1000, "\"}");
        assert_int_equal(ll_store_append_event(fx->writer, 1, "tx", NULL, "", payload, &seq), 0);
        assert_int_equal(seq, s);
    }
    assert_int_equal(ll_store_commit(fx->writer), 0);
}

/* A log with rows 1..rows, and a fan-out reading it. */
static void fx_store(fx_t *fx, uint64_t rows)
{
    assert_non_null(make_temp_dir(fx->dir, sizeof fx->dir, "sub"));
    assert_int_equal(ll_store_open(fx->dir, LL_STORE_WRITER, LL_SYNC_NORMAL, &fx->writer), 0);
    store_append(fx, 1, rows);
    assert_int_equal(ll_store_open(fx->dir, LL_STORE_READER, LL_SYNC_NORMAL, &fx->reader), 0);
    ll_fanout_close(fx->fo); /* replaced by one reading the log */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_non_null(fx->fo = ll_fanout_new(&fx->loop, fx->reader, &fx->stats));
}

/* ---- order, batching, format -------------------------------------------------- */

static void test_sub_receives_events_in_order(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(16);
    conn_t *c = conn_open(fx, 0, &o);
    deliver_range(fx, 1, 3, 10);
    deliver_range(fx, 4, 4, 10);
    deliver_range(fx, 5, 12, 100);
    assert_int_equal(c->drained, 3); /* the socket took each batch at once */
    expect_range(fx, c, 1, 12);
    assert_int_equal(atomic_load(&fx->stats.sent), 12);
    assert_int_equal(atomic_load(&fx->stats.dropped), 0);
}

/* SOCK_SEQPACKET keeps each write a record, so recv() counts the writes. */
static void test_sub_writes_once_per_batch(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    fx->sock_type = SOCK_SEQPACKET;
    conn_t *c[2] = {conn_open(fx, 0, &o), conn_open(fx, 0, &o)};
    deliver_range(fx, 1, 10, 20);
    for (int i = 0; i < 2; i++) {
        pump_tokens(fx, c[i], 10);
        assert_int_equal(c[i]->records, 1);
    }
    deliver_range(fx, 11, 40, 20);
    for (int i = 0; i < 2; i++) {
        pump_tokens(fx, c[i], 40);
        assert_int_equal(c[i]->records, 2);
        assert_range(c[i], 1, 40);
    }
}

/* Each WebSocket client reads its own shape of the shared bytes; an event
 * without that shape (a block has no valid_tx frame) is skipped. */
static void test_sub_ws_clients_get_only_their_frame_shape(void **state)
{
    fx_t *fx = *state;
    const ll_wire_t wires[3] = {LL_WIRE_WS_EVENTS, LL_WIRE_WS_VALID_TX, LL_WIRE_WS_VALID_TXS};
    conn_t *c[3];
    for (int i = 0; i < 3; i++) {
        ll_sub_opts_t o = {.wire = wires[i], .queue_cap = 8};
        c[i] = conn_open(fx, 0, &o);
        c[i]->frames = 1;
    }
    ll_event_desc_t d = {4, "tx", A_ADDR, "{\"seq\":4}", "ab12", "cd34", "ef56", 9};
    ll_event_t *evs[4] = {ev_new(1, "tx", "", 0), ev_new(2, "block", "", 200),
                          ev_new(3, "message", "", 70000), ll_event_new(&d)};
    ll_event_t *mine[4];
    for (int k = 0; k < 4; k++)
        mine[k] = ll_event_ref(evs[k]);
    deliver(fx, evs, 4);
    char *want = malloc(80000);
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        for (int k = 0; k < 4; k++)
            if (mine[k]->wire[wires[i]].len) {
                memcpy(want + len, mine[k]->wire[wires[i]].bytes, mine[k]->wire[wires[i]].len);
                len += mine[k]->wire[wires[i]].len;
            }
        pump(fx, &(want_t){.c = c[i], .bytes = len});
        settle(fx);
        assert_int_equal(c[i]->len, len);
        assert_memory_equal(c[i]->buf, want, len);
    }
    free(want);
    for (int k = 0; k < 4; k++)
        ll_event_unref(mine[k]);
}

/* ---- filters ------------------------------------------------------------------ */

/* Type masks, and address buckets: a filtered client sees only events that
 * name its address, once even when they name it twice. */
static void test_fanout_filters_by_type_and_address_bucket(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(16);
    conn_t *any = conn_open(fx, 0, &o);
    o.types = LL_EV_TX | LL_EV_MESSAGE;
    conn_t *no_blocks = conn_open(fx, 0, &o);
    o.types = 0;
    o.address = A_ADDR;
    conn_t *a1 = conn_open(fx, 0, &o);
    conn_t *a2 = conn_open(fx, 0, &o);
    o.types = LL_EV_MESSAGE;
    conn_t *a_msg = conn_open(fx, 0, &o);
    o.types = 0;
    o.address = B_ADDR;
    conn_t *b = conn_open(fx, 0, &o);

    ll_event_t *evs[5] = {ev_new(1, "tx", A_ADDR " " B_ADDR, 0),
                          ev_new(2, "tx", A_ADDR " " A_ADDR, 0), /* a self-transfer */
                          ev_new(3, "block", "", 0), ev_new(4, "message", C_ADDR, 0),
                          ev_new(5, "message", B_ADDR " " A_ADDR, 0)};
    deliver(fx, evs, 5);
    expect_range(fx, any, 1, 5);
    const int64_t want_a[] = {1, 2, 5}, want_b[] = {1, 5}, want_msg[] = {5},
                  want_nb[] = {1, 2, 4, 5};
    assert_tokens(no_blocks, want_nb, 4);
    assert_tokens(a1, want_a, 3);
    assert_tokens(a2, want_a, 3);
    assert_tokens(b, want_b, 2);
    assert_tokens(a_msg, want_msg, 1);

    /* Leaving a bucket (middle, head, last) keeps the others in it. */
    conn_close(a2);
    ll_event_t *e6 = ev_new(6, "message", A_ADDR, 0);
    deliver(fx, &e6, 1);
    settle(fx); /* read what arrived before closing the client's end */
    conn_close(a_msg);
    ll_event_t *e7 = ev_new(7, "message", A_ADDR, 0);
    deliver(fx, &e7, 1);
    settle(fx);
    conn_close(a1);
    ll_event_t *e8 = ev_new(8, "tx", A_ADDR " " B_ADDR, 0);
    deliver(fx, &e8, 1);
    pump_tokens(fx, any, 8);
    settle(fx);
    const int64_t want_a1[] = {1, 2, 5, 6, 7}, want_msg2[] = {5, 6}, want_b2[] = {1, 5, 8};
    assert_tokens(a1, want_a1, 5);
    assert_tokens(a2, want_a, 3);
    assert_tokens(a_msg, want_msg2, 2);
    assert_tokens(b, want_b2, 3);
}

/* ---- backpressure --------------------------------------------------------------- */

static void test_subq_drops_newest_and_counts_when_full(void **state)
{
    fx_t *fx = *state;
    enum { CAP = 4, N = 300 };
    ll_sub_opts_t o = sse_opts(CAP);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0; /* a client that does not read */
    deliver_range(fx, 1, N, 150);

    uint64_t dropped = atomic_load(&fx->stats.dropped);
    int64_t got = N - (int64_t)dropped;
    assert_true(dropped > 0);
    assert_true(got > CAP); /* the full ring was written through before any drop */
    assert_int_equal(ll_sub_queued(c->sub), CAP);
    assert_true(atomic_load(&fx->stats.queue_hwm) >= CAP);
    assert_int_equal(c->dropped_calls, 0); /* reported only when there is room again */

    /* A second batch while the socket is still full: all of it dropped. */
    deliver_range(fx, N + 1, N + 10, 150);
    assert_int_equal(atomic_load(&fx->stats.dropped), dropped + 10);
    assert_int_equal(ll_sub_queued(c->sub), CAP);

    /* The reader drains: the oldest events arrive in order, the newest were
     * dropped, and one report gives their number. */
    c->reading = 1;
    pump(fx, &(want_t){.c = c, .ntok = (int)got, .drop_reports = 1});
    settle(fx);
    assert_range(c, 1, got);
    assert_int_equal(c->dropped_calls, 1);
    assert_int_equal(c->dropped_n, dropped + 10);
    assert_int_equal(atomic_load(&fx->stats.sent), (uint64_t)got);

    /* Later events flow again. */
    deliver_range(fx, N + 11, N + 13, 150);
    pump_tokens(fx, c, (int)got + 3);
    settle(fx);
    assert_int_equal(c->tok[got], N + 11);
    assert_int_equal(c->tok[got + 2], N + 13);
    assert_int_equal(c->ntok, got + 3);
    assert_int_equal(c->dropped_calls, 1);
    assert_int_equal(atomic_load(&fx->stats.dropped), dropped + 10);
}

/* Big events against a few KB of socket buffer: each write ends part-way
 * into an event, and the next must resume at that byte. */
static void test_subq_keeps_order_across_partial_write(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0;
    uint64_t seq = 1;
    for (int batch = 0; batch < 6; batch++, seq += 7) {
        deliver_range(fx, seq, seq + 6, 2999);
        conn_recv(c, 1777); /* read a little: the socket stays near full */
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    c->reading = 1;
    expect_range(fx, c, 1, 42);
    assert_int_equal(atomic_load(&fx->stats.dropped), 0);
    assert_int_equal(atomic_load(&fx->stats.sent), 42);
}

/* A client that keeps up loses nothing however large the batch: a full
 * ring is written through to the socket rather than dropped. */
static void test_subq_writes_a_big_batch_through_without_drops(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, 0, &o);
    deliver_range(fx, 1, 1000, 0); /* ~40 KB: the default socket buffer takes it */
    assert_int_equal(atomic_load(&fx->stats.dropped), 0);
    expect_range(fx, c, 1, 1000);
    assert_int_equal(atomic_load(&fx->stats.sent), 1000);
    assert_true(atomic_load(&fx->stats.queue_hwm) <= 64);
}

/* ---- raw bytes -------------------------------------------------------------------- */

static void send_raw(conn_t *c, int k, int expect_rc)
{
    char raw[32];
    int n = snprintf(raw, sizeof raw, ": raw %d\n\n", k);
    assert_int_equal(ll_sub_send_raw(c->sub, raw, (size_t)n), expect_rc);
}

static void test_sub_send_raw_follows_queued_events(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    send_raw(c, 1, 0); /* nothing queued: written at once */
    assert_int_equal(c->drained, 1);
    c->reading = 0;
    conn_read(c);
    assert_int_equal(c->ntok, 1);

    deliver_range(fx, 1, 8, 3000); /* ~24 KB: a write stays in flight */
    assert_true(atomic_load(&fx->stats.sent) < 8);
    deliver_range(fx, 9, 10, 10); /* queued behind it */
    send_raw(c, 2, 0);
    deliver_range(fx, 11, 11, 10);
    send_raw(c, 3, 0);
    c->reading = 1;
    pump_tokens(fx, c, 14);
    settle(fx);
    const int64_t want[] = {-1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -2, 11, -3};
    assert_tokens(c, want, 14);
}

static void test_sub_send_raw_uses_the_reserve_when_the_queue_is_full(void **state)
{
    fx_t *fx = *state;
    enum { CAP = 4 };
    ll_sub_opts_t o = sse_opts(CAP);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0;
    deliver_range(fx, 1, 300, 150);
    uint64_t dropped = atomic_load(&fx->stats.dropped);
    assert_true(dropped > 0);
    assert_int_equal(ll_sub_queued(c->sub), CAP);
    for (int k = 1; k <= LL_SUB_RAW_RESERVE; k++)
        send_raw(c, k, 0);
    send_raw(c, 99, LL_EBUSY); /* even the reserve is full */
    assert_int_equal(ll_sub_queued(c->sub), CAP + LL_SUB_RAW_RESERVE);
    assert_int_equal(atomic_load(&fx->stats.dropped), dropped);

    c->reading = 1;
    int64_t got = 300 - (int64_t)dropped;
    pump_tokens(fx, c, (int)got + LL_SUB_RAW_RESERVE);
    settle(fx);
    int64_t want[MAX_TOK];
    int n = 0;
    for (int64_t s = 1; s <= got; s++)
        want[n++] = s;
    for (int k = 1; k <= LL_SUB_RAW_RESERVE; k++)
        want[n++] = -k;
    assert_tokens(c, want, n);
    assert_int_equal(c->dropped_n, dropped);
}

/* ---- closing ------------------------------------------------------------------------ */

static void test_subq_releases_every_ref_on_close(void **state)
{
    fx_t *fx = *state;
    enum { BIG = 3000 };
    ll_sub_opts_t o = sse_opts(64);
    conn_t *cancel = conn_open(fx, SMALL_BUF, &o); /* its pipe is closed */
    conn_t *finish = conn_open(fx, SMALL_BUF, &o); /* its reader drains */
    cancel->reading = finish->reading = 0;
    ll_event_t *evs[10], *mine[10];
    for (int i = 0; i < 10; i++)
        mine[i] = ll_event_ref(evs[i] = ev_new((uint64_t)i + 1, "tx", "", BIG));
    deliver(fx, evs, 8); /* ~24 KB: part written, the rest in flight */
    assert_true(atomic_load(&fx->stats.sent) < 16);
    deliver(fx, evs + 8, 2); /* queued behind the writes */
    assert_int_equal(ll_sub_queued(cancel->sub), 2);
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_SSE]), 2);

    ll_sub_close(cancel->sub);
    cancel->sub_closed = 1;
    ll_sub_close(finish->sub);
    finish->sub_closed = 1;
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_SSE]), 0);
    settle(fx); /* the writes are still in flight: nothing may be freed yet */
    uv_close((uv_handle_t *)&cancel->pipe, NULL); /* cancels its write */
    cancel->pipe_closed = 1;

    finish->reading = 1;
    pump(fx, &(want_t){.unshared = mine, .nunshared = 10}); /* both writes end */
    settle(fx);
    assert_range(finish, 1, 8); /* the write in flight ends; the queued events do not go */
    assert_int_equal(cancel->write_errors + finish->write_errors, 0);
    for (int i = 0; i < 10; i++)
        ll_event_unref(mine[i]); /* the last reference: ASan checks it is the only free */
}

static void test_sub_close_from_write_error_during_delivery(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *ok = conn_open(fx, 0, &o); /* last in the walk */
    conn_t *victim = conn_open(fx, 0, &o);
    conn_t *late = conn_open(fx, 0, &o); /* errors when the batch is flushed */
    o.queue_cap = 1;
    conn_t *early = conn_open(fx, 0, &o); /* errors writing through its ring mid-batch */
    early->close_on_error = 1;
    early->also_close = victim; /* closed while the walk stands before it */
    late->close_on_error = 1;
    close(early->rfd); /* the peers hang up: writes fail with EPIPE */
    early->rfd = -1;
    close(late->rfd);
    late->rfd = -1;

    deliver_range(fx, 1, 5, 10);
    assert_int_equal(early->write_errors, 1);
    assert_int_equal(late->write_errors, 1);
    assert_int_equal(victim->write_errors, 0);
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_SSE]), 1);
    deliver_range(fx, 6, 7, 10); /* the closed ones are out of the index */
    expect_range(fx, ok, 1, 7);  /* its settling lets the idle pass free the closed ones */
}

/* ---- resume --------------------------------------------------------------------------- */

/* Live batches overlap the log, first while the clients catch up (the log
 * serves them), then once they are live. Events are committed before they
 * are published, as the ledger does. */
static void test_sub_resume_replays_the_log_then_goes_live_without_gap_or_duplicate(void **state)
{
    fx_t *fx = *state;
    fx_store(fx, 20);
    ll_sub_opts_t o = sse_opts(4);
    o.resume = 1;
    o.resume_after = 5;
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    o.queue_cap = 3; /* many pages */
    o.resume_after = 0;
    conn_t *all = conn_open(fx, 0, &o);

    store_append(fx, 21, 23);
    deliver_range(fx, 18, 23, 0);
    c->reading = 0; /* its replay fills the socket: the next page waits for the write */
    settle(fx);
    c->reading = 1;
    pump_tokens(fx, c, 18);
    pump_tokens(fx, all, 23);
    store_append(fx, 24, 25);
    deliver_range(fx, 22, 25, 0);
    pump_tokens(fx, c, 20);
    pump_tokens(fx, all, 25);
    settle(fx);
    assert_range(c, 6, 25);
    assert_range(all, 1, 25);
}

static void test_sub_resume_beyond_the_log_replays_nothing_and_skips_nothing(void **state)
{
    fx_t *fx = *state;
    fx_store(fx, 20);
    ll_sub_opts_t o = sse_opts(4);
    o.resume = 1;
    o.resume_after = 1000; /* another node's id, or a wiped log */
    conn_t *c = conn_open(fx, 0, &o);
    settle(fx);
    assert_int_equal(c->ntok, 0);
    store_append(fx, 21, 21);
    deliver_range(fx, 21, 21, 0);
    expect_range(fx, c, 21, 21);
}

static void test_sub_without_resume_starts_after_the_log(void **state)
{
    fx_t *fx = *state;
    fx_store(fx, 20);
    ll_sub_opts_t o = sse_opts(8);
    conn_t *c = conn_open(fx, 0, &o);
    store_append(fx, 21, 22);
    deliver_range(fx, 19, 22, 0);
    expect_range(fx, c, 21, 22);
}

/* ---- hooks and stats ------------------------------------------------------------------- */

/* The socket was full: everything is handed over when the write completes. */
static void test_sub_on_drained_after_a_write_in_flight_completes(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0;
    deliver_range(fx, 1, 8, 3000);
    assert_true(atomic_load(&fx->stats.sent) < 8);
    assert_int_equal(c->drained, 0);
    c->reading = 1;
    pump(fx, &(want_t){.c = c, .ntok = 8, .drained = 1});
    assert_int_equal(c->drained, 1);
}

static void test_fanout_stats_count_subscribers_and_queue_depth(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(16);
    conn_t *s1 = conn_open(fx, 0, &o);
    conn_t *s2 = conn_open(fx, 0, &o);
    o.wire = LL_WIRE_WS_EVENTS;
    conn_t *w1 = conn_open(fx, 0, &o);
    w1->frames = 1;
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_SSE]), 2);
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_WS_EVENTS]), 1);
    assert_int_equal(atomic_load(&fx->stats.queue_hwm), 0);
    deliver_range(fx, 1, 5, 0); /* queued five deep, then flushed */
    deliver_range(fx, 6, 8, 0);
    assert_int_equal(atomic_load(&fx->stats.queue_hwm), 5);
    assert_int_equal(atomic_load(&fx->stats.sent), 24);
    conn_close(s2);
    conn_close(w1);
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_SSE]), 1);
    assert_int_equal(atomic_load(&fx->stats.subscribers[LL_WIRE_WS_EVENTS]), 0);
    pump_tokens(fx, s1, 8);
    assert_range(s1, 1, 8);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN); /* a hung-up client is a write error, not a signal */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_sub_receives_events_in_order),
        T(test_sub_writes_once_per_batch),
        T(test_fanout_filters_by_type_and_address_bucket),
        T(test_sub_ws_clients_get_only_their_frame_shape),
        T(test_subq_drops_newest_and_counts_when_full),
        T(test_subq_keeps_order_across_partial_write),
        T(test_subq_writes_a_big_batch_through_without_drops),
        T(test_sub_send_raw_follows_queued_events),
        T(test_sub_send_raw_uses_the_reserve_when_the_queue_is_full),
        T(test_subq_releases_every_ref_on_close),
        T(test_sub_close_from_write_error_during_delivery),
        T(test_sub_resume_replays_the_log_then_goes_live_without_gap_or_duplicate),
        T(test_sub_resume_beyond_the_log_replays_nothing_and_skips_nothing),
        T(test_sub_without_resume_starts_after_the_log),
        T(test_sub_on_drained_after_a_write_in_flight_completes),
        T(test_fanout_stats_count_subscribers_and_queue_depth),
    };
    return cmocka_run_group_tests_name("stream/subscriber", tests, NULL, NULL);
}
