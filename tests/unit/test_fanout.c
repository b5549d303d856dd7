/* tests/unit/test_fanout.c: a worker's fan-out (stream/fanout.h) over real
 * sockets: which subscribers a batch reaches (type masks and address
 * buckets), resuming from the event log into the live stream without a gap
 * or a duplicate, the shared stream stats, and the streams bound to a login
 * session, which end on logout or expiry. The socketpair clients, events
 * and loop are in stream_harness.h; one subscriber's queue and writes are in
 * test_subscriber.c. */
#include "store/users.h" /* the sessions a stream rides on */
#include "stream/fanout.h"
#include "stream/log_backend.h"

#include "stream_harness.h"

/* ---- filters ------------------------------------------------------------- */

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

    ll_event_t *evs[5] = {ev_new(1, LL_EV_TX, A_ADDR " " B_ADDR, 0),
                          ev_new(2, LL_EV_TX, A_ADDR " " A_ADDR, 0), /* a self-transfer */
                          ev_new(3, LL_EV_BLOCK, "", 0), ev_new(4, LL_EV_MESSAGE, C_ADDR, 0),
                          ev_new(5, LL_EV_MESSAGE, B_ADDR " " A_ADDR, 0)};
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
    ll_event_t *e6 = ev_new(6, LL_EV_MESSAGE, A_ADDR, 0);
    deliver(fx, &e6, 1);
    settle(fx); /* read what arrived before closing the client's end */
    conn_close(a_msg);
    ll_event_t *e7 = ev_new(7, LL_EV_MESSAGE, A_ADDR, 0);
    deliver(fx, &e7, 1);
    settle(fx);
    conn_close(a1);
    ll_event_t *e8 = ev_new(8, LL_EV_TX, A_ADDR " " B_ADDR, 0);
    deliver(fx, &e8, 1);
    pump_tokens(fx, any, 8);
    settle(fx);
    const int64_t want_a1[] = {1, 2, 5, 6, 7}, want_msg2[] = {5, 6}, want_b2[] = {1, 5, 8};
    assert_tokens(a1, want_a1, 5);
    assert_tokens(a2, want_a, 3);
    assert_tokens(a_msg, want_msg2, 2);
    assert_tokens(b, want_b2, 3);
}

/* ---- the log ------------------------------------------------------------- */

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
    ll_stream_backend_t backend = ll_log_backend(fx->reader);
    assert_non_null(fx->fo = ll_fanout_new(&fx->loop, &backend, &fx->stats));
}

/* ---- resume -------------------------------------------------------------- */

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

/* ---- stats --------------------------------------------------------------- */

static void test_fanout_stats_count_subscribers_and_queue_depth(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(16);
    conn_t *s1 = conn_open(fx, 0, &o);
    conn_t *s2 = conn_open(fx, 0, &o);
    o.wire = LL_WIRE_WS_EVENTS;
    conn_t *w1 = conn_open(fx, 0, &o);
    w1->frames = 1;
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_SSE], 2);
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_WS_EVENTS], 1);
    assert_int_equal(stats_of(fx).queue_hwm, 0);
    deliver_range(fx, 1, 5, 0); /* queued five deep, then flushed */
    deliver_range(fx, 6, 8, 0);
    assert_int_equal(stats_of(fx).queue_hwm, 5);
    assert_int_equal(stats_of(fx).sent, 24);
    conn_close(s2);
    conn_close(w1);
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_SSE], 1);
    assert_int_equal(stats_of(fx).subscribers[LL_WIRE_WS_EVENTS], 0);
    pump_tokens(fx, s1, 8);
    assert_range(s1, 1, 8);
}

/* A batch larger than LL_FANOUT_WRITE_EVERY is written as it is matched:
 * no subscriber queues more than that many of it before its first write,
 * and every event still arrives once, in order. */
static void test_fanout_writes_a_large_batch_as_it_goes(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = sse_opts(1024);
    conn_t *c = conn_open(fx, 1 << 20, &o);
    deliver_range(fx, 1, 3 * LL_FANOUT_WRITE_EVERY + 10, 0);
    assert_int_equal(stats_of(fx).queue_hwm, LL_FANOUT_WRITE_EVERY);
    assert_int_equal(stats_of(fx).dropped, 0);
    pump_tokens(fx, c, 3 * LL_FANOUT_WRITE_EVERY + 10);
    assert_range(c, 1, 3 * LL_FANOUT_WRITE_EVERY + 10);
}

/* --stream-flush-ms: three deliveries inside one window are written as one
 * write when the window ends, not one each at once; a subscriber closed
 * inside the window leaves it (ASan would see its memory used after the
 * idle handler freed it). */
static void test_fanout_flush_window_writes_deliveries_together(void **state)
{
    fx_t *fx = *state;
    fx->sock_type = SOCK_SEQPACKET; /* one record per write */
    ll_fanout_set_flush_ms(fx->fo, 50);
    ll_sub_opts_t o = sse_opts(64);
    conn_t *c = conn_open(fx, 0, &o);
    conn_t *gone = conn_open(fx, 0, &o);
    pump_tokens(fx, c, 0);
    settle(fx);
    int before = c->records;
    deliver_range(fx, 1, 1, 0);
    deliver_range(fx, 2, 2, 0);
    conn_close(gone);           /* in the window's list */
    for (int i = 0; i < 5; i++) /* let the idle handler free it */
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    deliver_range(fx, 3, 3, 0);
    read_all(fx);
    assert_int_equal(c->records, before); /* nothing yet: the window is open */
    pump_tokens(fx, c, 3);
    assert_range(c, 1, 3);
    assert_int_equal(c->records, before + 1); /* the three in one write */
}

/* ---- sessions ----------------------------------------------------------- */

#define SESSION_A "aa000000000000000000000000000000000000000000000000000000000000aa"
#define SESSION_B "bb000000000000000000000000000000000000000000000000000000000000bb"

static ll_sub_opts_t session_opts(const char *session, int64_t expires_ms)
{
    ll_sub_opts_t o = sse_opts(16);
    o.session = session;
    o.session_expires_ms = expires_ms;
    return o;
}

/* Expiry is judged from the time the stream remembered: no store needed.
 * An ended stream leaves the index at once: later events skip it. */
static void test_session_stream_ends_when_its_session_expires(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = session_opts(SESSION_A, 5000);
    conn_t *a = conn_open(fx, 0, &o);
    o = session_opts(SESSION_B, 9000);
    conn_t *b = conn_open(fx, 0, &o);
    o = sse_opts(16);
    conn_t *pub = conn_open(fx, 0, &o);
    deliver_range(fx, 1, 1, 0);
    ll_fanout_check_sessions(fx->fo, 4999);
    assert_int_equal(a->session_ends + b->session_ends, 0);
    ll_fanout_check_sessions(fx->fo, 5000);
    assert_int_equal(a->session_ends, 1);
    assert_int_equal(b->session_ends, 0);
    deliver_range(fx, 2, 3, 0);
    ll_fanout_check_sessions(fx->fo, 6000); /* once ended, it is not told again */
    assert_int_equal(a->session_ends, 1);
    expect_range(fx, b, 1, 3);
    expect_range(fx, pub, 1, 3);
    assert_range(a, 1, 1);
    ll_fanout_check_sessions(fx->fo, 9000);
    assert_int_equal(b->session_ends, 1);
    deliver_range(fx, 4, 4, 0);
    expect_range(fx, pub, 1, 4);
    assert_range(b, 1, 3);
    assert_int_equal(pub->session_ends, 0);
}

/* A user, and sessions of it, in the fixture's log store. */
static void store_sessions(fx_t *fx, const char *const *hashes, int n)
{
    ll_store_user_t u = {.username = "alice",
                         .address = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
                         .password_hash = "$argon2id$x",
                         .sealed_seed = "00",
                         .created_ms = 1};
    assert_int_equal(ll_store_begin(fx->writer), 0);
    assert_int_equal(ll_store_put_user(fx->writer, &u), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ll_store_put_session(fx->writer, hashes[i], "alice", 1, INT64_MAX), 0);
    assert_int_equal(ll_store_commit(fx->writer), 0);
}

static void store_delete_session(fx_t *fx, const char *hash)
{
    assert_int_equal(ll_store_begin(fx->writer), 0);
    assert_int_equal(ll_store_delete_session(fx->writer, hash), 0);
    assert_int_equal(ll_store_commit(fx->writer), 0);
}

/* Logout deletes the row, then announces it: only then does the fan-out
 * read the sessions again (nothing is read per check, or per event), and
 * only the stream of the deleted session ends. */
static void test_session_stream_ends_after_its_logout_is_announced(void **state)
{
    fx_t *fx = *state;
    const char *const hashes[] = {SESSION_A, SESSION_B};
    fx_store(fx, 1);
    store_sessions(fx, hashes, 2);
    ll_sub_opts_t o = session_opts(SESSION_A, INT64_MAX);
    conn_t *a = conn_open(fx, 0, &o);
    conn_t *a2 = conn_open(fx, 0, &o); /* two streams of one session */
    o = session_opts(SESSION_B, INT64_MAX);
    conn_t *b = conn_open(fx, 0, &o);

    store_delete_session(fx, SESSION_A);
    ll_fanout_check_sessions(fx->fo, 1000);
    assert_int_equal(a->session_ends + a2->session_ends, 0); /* not announced yet */
    ll_fanout_session_revoked();
    ll_fanout_check_sessions(fx->fo, 1000);
    assert_int_equal(a->session_ends, 1);
    assert_int_equal(a2->session_ends, 1);
    assert_int_equal(b->session_ends, 0);

    store_delete_session(fx, SESSION_B);
    ll_fanout_check_sessions(fx->fo, 2000); /* the announcement was seen already */
    assert_int_equal(b->session_ends, 0);
    ll_fanout_session_revoked();
    ll_fanout_check_sessions(fx->fo, 2000);
    assert_int_equal(b->session_ends, 1);
    store_append(fx, 2, 2);
    deliver_range(fx, 2, 2, 0);
    settle(fx);
    assert_int_equal(a->ntok + a2->ntok + b->ntok, 0);
}

static void on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* The check runs on its own, once a second, while a session-bound stream
 * is open (a generous deadline: only a missing timer reaches it). The
 * check's timer keeps no loop alive by itself (a worker's listener does),
 * so the deadline's timer does here. */
static void test_session_streams_are_checked_by_a_timer(void **state)
{
    fx_t *fx = *state;
    ll_sub_opts_t o = session_opts(SESSION_A, 1); /* long expired */
    conn_t *a = conn_open(fx, 0, &o);
    uv_timer_t deadline;
    int late = 0;
    uv_timer_init(&fx->loop, &deadline);
    deadline.data = &late;
    uv_timer_start(&deadline, on_deadline, 5 * LL_FANOUT_SESSION_CHECK_MS, 0);
    while (a->session_ends == 0 && !late)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(a->session_ends, 1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN); /* a hung-up client is a write error, not a signal */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_fanout_filters_by_type_and_address_bucket),
        T(test_sub_resume_replays_the_log_then_goes_live_without_gap_or_duplicate),
        T(test_sub_resume_beyond_the_log_replays_nothing_and_skips_nothing),
        T(test_sub_without_resume_starts_after_the_log),
        T(test_fanout_stats_count_subscribers_and_queue_depth),
        T(test_fanout_writes_a_large_batch_as_it_goes),
        T(test_fanout_flush_window_writes_deliveries_together),
        T(test_session_stream_ends_when_its_session_expires),
        T(test_session_stream_ends_after_its_logout_is_announced),
        T(test_session_streams_are_checked_by_a_timer),
    };
#undef T
    return cmocka_run_group_tests_name("stream/fanout", tests, NULL, NULL);
}
