/* tests/unit/test_subscriber.c: one subscriber (stream/subscriber.h) as its
 * client sees it on the wire: events in order, one write per batch, each
 * wire format's own bytes, a bounded queue that drops the newest and says so,
 * writes that end part-way, raw bytes queued behind events, every reference
 * released on close, the drained hook, and the end of a chunked body (a
 * stream whose session ended). The socketpair clients, events and
 * loop are in stream_harness.h; the fan-out's index, replay and stats are in
 * test_fanout.c. */
#include "stream/subscriber.h"
#include "stream/subscriber_internal.h" /* ll_sub_push: queued without a flush */

#include "stream_harness.h"

/* ---- order, batching, format --------------------------------------------- */

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
    assert_int_equal(stats_of(fx).sent, 12);
    assert_int_equal(stats_of(fx).dropped, 0);
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
    ll_event_desc_t d = {.seq = 4,
                         .type = LL_EV_TX,
                         .payload = "{\"seq\":4}",
                         .tx_id = "ab12",
                         .asset_id = "cd34",
                         .block_hash = "ef56",
                         .height = 9};
    ll_event_desc_add_address(&d, A_ADDR, strlen(A_ADDR));
    ll_event_t *evs[4] = {ev_new(1, LL_EV_TX, "", 0), ev_new(2, LL_EV_BLOCK, "", 200),
                          ev_new(3, LL_EV_MESSAGE, "", 70000), ll_event_new(&d)};
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

/* ---- backpressure -------------------------------------------------------- */

/* A lagging subscriber that closes is not left in the gauge. */
static void test_subq_lagging_subscriber_leaves_the_gauge_when_it_closes(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(4);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0;
    deliver_range(fx, 1, 300, 150);
    assert_int_equal(stats_of(fx).lagging, 1);
    conn_close(c);
    settle(fx);
    assert_int_equal(stats_of(fx).lagging, 0);
}

static void test_subq_drops_newest_and_counts_when_full(void **state)
{
    fx_t *fx = *state;
    enum { CAP = 4, N = 300 };
    ll_sub_opts_t o = sse_opts(CAP);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0; /* a client that does not read */
    deliver_range(fx, 1, N, 150);

    uint64_t dropped = stats_of(fx).dropped;
    int64_t got = N - (int64_t)dropped;
    assert_true(dropped > 0);
    assert_true(got > CAP); /* the full ring was written through before any drop */
    assert_int_equal(ll_sub_queued(c->sub), CAP);
    assert_true(stats_of(fx).queue_hwm >= CAP);
    assert_int_equal(c->dropped_calls, 0);     /* reported only when there is room again */
    assert_int_equal(stats_of(fx).lagging, 1); /* its whole queue waits for the socket */

    /* A second batch while the socket is still full: all of it dropped. */
    deliver_range(fx, N + 1, N + 10, 150);
    assert_int_equal(stats_of(fx).dropped, dropped + 10);
    assert_int_equal(ll_sub_queued(c->sub), CAP);

    /* The reader drains: the oldest events arrive in order, the newest were
     * dropped, and one report gives their number. */
    c->reading = 1;
    pump(fx, &(want_t){.c = c, .ntok = (int)got, .drop_reports = 1});
    settle(fx);
    assert_range(c, 1, got);
    assert_int_equal(c->dropped_calls, 1);
    assert_int_equal(c->dropped_n, dropped + 10);
    assert_int_equal(stats_of(fx).sent, (uint64_t)got);
    assert_int_equal(stats_of(fx).lagging, 0); /* caught up */

    /* Later events flow again. */
    deliver_range(fx, N + 11, N + 13, 150);
    pump_tokens(fx, c, (int)got + 3);
    settle(fx);
    assert_int_equal(c->tok[got], N + 11);
    assert_int_equal(c->tok[got + 2], N + 13);
    assert_int_equal(c->ntok, got + 3);
    assert_int_equal(c->dropped_calls, 1);
    assert_int_equal(stats_of(fx).dropped, dropped + 10);
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
    assert_int_equal(stats_of(fx).dropped, 0);
    assert_int_equal(stats_of(fx).sent, 42);
}

/* A client that keeps up loses nothing however large the batch: a full
 * ring is written through to the socket rather than dropped. */
static void test_subq_writes_a_big_batch_through_without_drops(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, 0, &o);
    deliver_range(fx, 1, 1000, 0); /* ~40 KB: the default socket buffer takes it */
    assert_int_equal(stats_of(fx).dropped, 0);
    expect_range(fx, c, 1, 1000);
    assert_int_equal(stats_of(fx).sent, 1000);
    assert_true(stats_of(fx).queue_hwm <= 64);
}

/* ---- raw bytes ----------------------------------------------------------- */

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
    assert_true(stats_of(fx).sent < 8);
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
    uint64_t dropped = stats_of(fx).dropped;
    assert_true(dropped > 0);
    assert_int_equal(ll_sub_queued(c->sub), CAP);
    for (int k = 1; k <= LL_SUB_RAW_RESERVE; k++)
        send_raw(c, k, 0);
    send_raw(c, 99, LL_EBUSY); /* even the reserve is full */
    assert_int_equal(ll_sub_queued(c->sub), CAP + LL_SUB_RAW_RESERVE);
    assert_int_equal(stats_of(fx).dropped, dropped);

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

/* ---- closing ------------------------------------------------------------- */

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
        mine[i] = ll_event_ref(evs[i] = ev_new((uint64_t)i + 1, LL_EV_TX, "", BIG));
    deliver(fx, evs, 8); /* ~24 KB: part written, the rest in flight */
    assert_true(stats_of(fx).sent < 16);
    deliver(fx, evs + 8, 2); /* queued behind the writes */
    assert_int_equal(ll_sub_queued(cancel->sub), 2);
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_SSE], 2);

    ll_sub_close(cancel->sub);
    cancel->sub_closed = 1;
    ll_sub_close(finish->sub);
    finish->sub_closed = 1;
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_SSE], 0);
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
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_SSE], 1);
    deliver_range(fx, 6, 7, 10); /* the closed ones are out of the index */
    expect_range(fx, ok, 1, 7);  /* its settling lets the idle pass free the closed ones */
}

/* ---- hooks --------------------------------------------------------------- */

/* The socket was full: everything is handed over when the write completes. */
static void test_sub_on_drained_after_a_write_in_flight_completes(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->reading = 0;
    deliver_range(fx, 1, 8, 3000);
    assert_true(stats_of(fx).sent < 8);
    assert_int_equal(c->drained, 0);
    c->reading = 1;
    pump(fx, &(want_t){.c = c, .ntok = 8, .drained = 1});
    assert_int_equal(c->drained, 1);
}

/* ---- the end of a chunked body ------------------------------------------ */

/* Reads c's bytes as HTTP/1.1 chunks (RFC 9112 §7.1); returns the length of
 * their content (into data, when not NULL), with *ended set when the last
 * chunk closes them exactly at the end of what was read. */
static size_t dechunk(const conn_t *c, char *data, int *ended)
{
    size_t at = 0, out = 0;
    *ended = 0;
    while (at < c->len) {
        char *end;
        unsigned long n = strtoul(c->buf + at, &end, 16);
        assert_true(end > c->buf + at && end + 2 <= c->buf + c->len);
        assert_memory_equal(end, "\r\n", 2);
        at = (size_t)(end - c->buf) + 2;
        if (n == 0) {
            assert_true(at + 2 == c->len); /* the trailer's blank line, then nothing */
            assert_memory_equal(c->buf + at, "\r\n", 2);
            *ended = 1;
            return out;
        }
        assert_true(at + n + 2 <= c->len);
        if (data)
            memcpy(data + out, c->buf + at, n);
        out += n;
        at += n;
        assert_memory_equal(c->buf + at, "\r\n", 2);
        at += 2;
    }
    return out;
}

/* Events queued but not yet written are dropped; the last chunk follows
 * what was written; nothing can be queued after it; the owner hears that
 * it is out. */
static void test_sub_end_body_drops_the_queue_and_writes_the_last_chunk(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(16);
    o.chunked = 1;
    conn_t *c = conn_open(fx, 0, &o);
    c->frames = 1; /* chunked bytes: read raw, parsed here */
    send_raw(c, 1, 0);
    ll_event_t *queued = ev_new(7, LL_EV_TX, "", 10);
    ll_sub_push(c->sub, queued); /* queued, not flushed: the caller flushes a batch */
    assert_int_equal(ll_sub_queued(c->sub), 1);
    int drained = c->drained;
    assert_int_equal(ll_sub_end_body(c->sub), 0);
    assert_int_equal(atomic_load(&queued->refs), 1); /* the ring let it go */
    ll_event_unref(queued);
    assert_true(c->drained > drained);
    assert_int_equal(ll_sub_send_raw(c->sub, ": x\n\n", 5), LL_ESHUTDOWN);
    assert_int_equal(ll_sub_end_body(c->sub), LL_ESHUTDOWN);
    deliver_range(fx, 8, 9, 10);
    settle(fx);
    char data[64];
    int ended;
    size_t n = dechunk(c, data, &ended);
    assert_true(ended);
    assert_int_equal(n, strlen(": raw 1\n\n"));
    assert_memory_equal(data, ": raw 1\n\n", n);
}

/* With a write in flight (the socket is full), the last chunk waits for it
 * and follows its bytes: the body stays well-formed. */
static void test_sub_end_body_waits_for_the_write_in_flight(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(64);
    o.chunked = 1;
    conn_t *c = conn_open(fx, SMALL_BUF, &o);
    c->frames = 1;
    c->reading = 0;
    deliver_range(fx, 1, 8, 3000); /* ~24 KB: a write stays in flight */
    assert_true(stats_of(fx).sent < 8);
    deliver_range(fx, 9, 10, 10); /* queued behind it: dropped */
    assert_int_equal(ll_sub_end_body(c->sub), 0);
    assert_int_equal(c->drained, 0);
    c->reading = 1;
    pump(fx, &(want_t){.c = c, .drained = 1});
    settle(fx);
    char *data = malloc(c->len);
    assert_non_null(data);
    int ended;
    size_t n = dechunk(c, data, &ended);
    assert_true(ended);
    /* The content is events 1..8 whole: what was in flight, nothing after. */
    conn_t parsed = {.buf = data, .len = n, .cap = n};
    conn_parse(&parsed);
    assert_range(&parsed, 1, 8);
    free(data);
}

/* ---- a history that cannot be read ---------------------------------------- */

/* A backend whose history holds 1..10 and whose reads fail after the first
 * event of each page (its store, or NATS, went away mid-read). */
static int failing_reads;

static int failing_events_after(void *ctx, uint64_t after, size_t limit, ll_history_cb cb,
                                void *arg)
{
    (void)ctx;
    failing_reads++;
    if (limit > 0 && after < 10) {
        ll_event_t *ev = ev_new(after + 1, LL_EV_TX, "", 10);
        cb(ev, arg);
        ll_event_unref(ev);
    }
    return LL_EUNAVAILABLE;
}

static uint64_t failing_last_seq(void *ctx)
{
    (void)ctx;
    return 10;
}

static int failing_session_expiry(void *ctx, const char *key, int64_t *expires_ms)
{
    (void)ctx;
    (void)key;
    (void)expires_ms;
    return LL_ENOTFOUND;
}

/* Going live would skip what lies between the client's Last-Event-ID and
 * live without a word: the owner is told to end the stream instead (once),
 * and nothing, not the event read before the failure nor a later live one,
 * reaches that client. Whether or not the owner closes it at once. A live
 * client beside them is not affected. */
static void test_sub_ends_the_stream_when_history_cannot_be_read(void **state)
{
    fx_t *fx = *state;
    failing_reads = 0;
    ll_fanout_close(fx->fo); /* replaced by one whose history fails */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    ll_stream_backend_t backend = {failing_events_after, failing_last_seq, failing_session_expiry,
                                   NULL};
    assert_non_null(fx->fo = ll_fanout_new(&fx->loop, &backend, &fx->stats));
    ll_sub_opts_t o = sse_opts(16);
    conn_t *live = conn_open(fx, 0, &o);
    o.resume = 1;
    o.resume_after = 3;
    conn_t *lingers = conn_open(fx, 0, &o); /* its owner ends the connection later */
    conn_t *closes = conn_open(fx, 0, &o);  /* its owner closes it in the hook */
    closes->close_on_error = 1;

    uint64_t deadline = uv_hrtime() + (uint64_t)DEADLINE_MS * 1000000;
    while (lingers->write_errors + closes->write_errors < 2) {
        assert_true(uv_hrtime() < deadline);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        read_all(fx);
    }
    deliver_range(fx, 11, 12, 10);
    expect_range(fx, live, 11, 12);
    assert_int_equal(lingers->write_errors, 1);
    assert_int_equal(closes->write_errors, 1);
    assert_int_equal(failing_reads, 2); /* no page is read again */
    assert_int_equal(lingers->ntok + closes->ntok, 0);
    assert_int_equal(lingers->len + closes->len, 0);
    assert_int_equal(ll_sub_queued(lingers->sub), 0);
    assert_int_equal(ll_sub_send_raw(lingers->sub, ": x\n\n", 5), LL_ESHUTDOWN);
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
        T(test_sub_ws_clients_get_only_their_frame_shape),
        T(test_subq_drops_newest_and_counts_when_full),
        T(test_subq_lagging_subscriber_leaves_the_gauge_when_it_closes),
        T(test_subq_keeps_order_across_partial_write),
        T(test_subq_writes_a_big_batch_through_without_drops),
        T(test_sub_send_raw_follows_queued_events),
        T(test_sub_send_raw_uses_the_reserve_when_the_queue_is_full),
        T(test_subq_releases_every_ref_on_close),
        T(test_sub_close_from_write_error_during_delivery),
        T(test_sub_on_drained_after_a_write_in_flight_completes),
        T(test_sub_end_body_drops_the_queue_and_writes_the_last_chunk),
        T(test_sub_end_body_waits_for_the_write_in_flight),
        T(test_sub_ends_the_stream_when_history_cannot_be_read),
    };
#undef T
    return cmocka_run_group_tests_name("stream/subscriber", tests, NULL, NULL);
}
