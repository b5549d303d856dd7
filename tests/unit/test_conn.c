/* tests/unit/test_conn.c: a connection (net/conn.c) through a real
 * ll_server: header, body and idle timeouts, a client that goes away while
 * its handler is still working, and clients that read slowly or not at all.
 * The server, its test handler and the socket clients are in
 * http_harness.h; request and response behaviour is in test_http.c, the
 * server's start and stop in test_server.c. */
#include "net/server.h"

#include "http_harness.h"

static void test_conn_slow_header_times_out(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    test_opts(&o);
    o.header_timeout_ms = 200;
    start(f, &o);

    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.1\r\nHost: t\r\n");
    uint64_t t0 = mono_ms();
    read_response(c, &r);
    assert_true(mono_ms() - t0 >= 150);
    assert_api_error(&r, 408, "request_timeout");
    assert_true(closed_by_server(c));

    client_t *body = dial(f); /* a body that stops arriving times out too */
    send_str(body, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    read_response(body, &r);
    assert_api_error(&r, 408, "request_timeout");
    assert_true(closed_by_server(body));

    client_t *silent = dial(f); /* nothing sent: closed without a word */
    assert_true(closed_by_server(silent));
    stop(f);
}

static void test_conn_idle_keepalive_closed(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    test_opts(&o);
    o.idle_timeout_ms = 200;
    start(f, &o);
    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    uint64_t t0 = mono_ms();
    assert_true(closed_by_server(c));
    assert_true(mono_ms() - t0 >= 150);
    stop(f);
}

static void test_conn_request_in_flight_is_not_timed_out(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    test_opts(&o);
    o.header_timeout_ms = 100;
    o.idle_timeout_ms = 100;
    start(f, &o);
    client_t *c = dial(f);
    send_str(c, "GET /slow?ms=400 HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    stop(f);
}

static void test_conn_client_gone_while_handler_pending_frees_request(void **state)
{
    fixture_t *f = *state;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /park HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_non_null(wait_parked());
    shutdown(c->fd, SHUT_WR);
    assert_true(closed_by_server(c)); /* the server saw EOF and closed: an orphan */
    release_parked();                 /* answering the orphan frees it (ASan checks) */
    assert_true(wait_for(&parked_released, 1));

    client_t *d = dial(f); /* same with a slow handler and a hard close */
    send_str(d, "GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(wait_for(&slow_started, 1));
    close(d->fd);
    d->fd = -1;
    assert_true(wait_for(&slow_answered, 1));
    stop(f);
}

/* Sends one byte of the body every 50 ms until a response arrives (the
 * server's answer is the observable; the pause only paces the trickle).
 * Returns 1 when one arrived before DEADLINE_MS, with r filled. */
static int trickle_until_answered(client_t *c, resp_t *r, size_t body_len)
{
    uint64_t end = mono_ms() + DEADLINE_MS;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    for (size_t sent = 0; mono_ms() < end;) {
        if (poll(&p, 1, 50) > 0)
            return read_response_ex(c, r, 0) == 0;
        if (sent < body_len && send(c->fd, "x", 1, MSG_NOSIGNAL) == 1)
            sent++;
    }
    return 0;
}

/* The body deadline moved with every byte received, so a body sent a byte
 * at a time held the connection for as long as the client liked. */
static void test_regress_slow_body_held_connection_forever(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    test_opts(&o);
    o.header_timeout_ms = 300;
    o.body_min_rate = 1000; /* 1 s of credit per 1000 bytes: 20 B/s earns little */
    start(f, &o);
    client_t *c = dial(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    uint64_t t0 = mono_ms();
    assert_true(trickle_until_answered(c, &r, 100000));
    assert_api_error(&r, 408, "request_timeout");
    assert_true(mono_ms() - t0 >= 250);
    assert_true(closed_by_server(c));
    stop(f);
}

/* An upload faster than body_min_rate is served however long it takes. */
static void test_conn_body_slower_than_head_timeout_but_above_min_rate_is_served(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    char chunk[150];
    test_opts(&o);
    o.header_timeout_ms = 500;
    o.body_min_rate = 1000;
    start(f, &o);
    client_t *c = dial(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4500\r\n\r\n");
    memset(chunk, 'b', sizeof chunk);
    uint64_t t0 = mono_ms();
    for (int i = 0; i < 30; i++) { /* 150 bytes per 50 ms: 3000 B/s for 1.5 s */
        send_all(c, chunk, sizeof chunk);
        usleep(50 * 1000);
    }
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_true(mono_ms() - t0 > 500); /* longer than the head's timeout */
    json_t *j = body_json(&r);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "body"))), 4500);
    json_decref(j);
    stop(f);
}

/* A client that pipelined requests and read none of the responses kept its
 * connection (and the responses in memory) forever: no timer ran while
 * responses were being written. */
static void test_regress_client_reading_nothing_held_connection_forever(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    char req[64], all[64 * 40] = "";
    test_opts(&o);
    o.idle_timeout_ms = 300;
    start(f, &o);
    client_t *c = dial_rcvbuf(f, 4096);
    for (int i = 0; i < 40; i++) { /* 40 × 512 KiB: more than any socket buffer */
        snprintf(req, sizeof req, "GET /big?kb=512 HTTP/1.1\r\nHost: t\r\n\r\n");
        strcat(all, req);
    }
    send_str(c, all);
    assert_true(closed_without_reading(c));
    stop(f);
}

/* The write timeout counts from the client's last progress, not from the
 * start of the response: a slow reader gets all of a large one. */
static void test_conn_slow_reader_gets_whole_large_response(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    static char buf[64 * 1024];
    test_opts(&o);
    o.idle_timeout_ms = 300;
    start(f, &o);
    client_t *c = dial_rcvbuf(f, 4096);
    send_str(c, "GET /big?kb=1024 HTTP/1.1\r\nHost: t\r\n\r\n");
    size_t got = 0, want = SIZE_MAX;
    uint64_t t0 = mono_ms();
    while (got < want) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        assert_true(n > 0);
        if (want == SIZE_MAX) { /* the first bytes hold the head */
            char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
            assert_non_null(end);
            want = (size_t)(end + 4 - buf) + 1024 * 1024;
        }
        got += (size_t)n;
        usleep(10 * 1000); /* a few hundred KB/s: well over the 300 ms */
    }
    assert_int_equal(got, want);
    assert_true(mono_ms() - t0 > 300);
    stop(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_conn_slow_header_times_out),
        T(test_conn_idle_keepalive_closed),
        T(test_conn_request_in_flight_is_not_timed_out),
        T(test_conn_client_gone_while_handler_pending_frees_request),
        T(test_regress_slow_body_held_connection_forever),
        T(test_conn_body_slower_than_head_timeout_but_above_min_rate_is_served),
        T(test_regress_client_reading_nothing_held_connection_forever),
        T(test_conn_slow_reader_gets_whole_large_response),
    };
#undef T
    return cmocka_run_group_tests_name("net/conn", tests, NULL, NULL);
}
