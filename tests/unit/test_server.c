/* tests/unit/test_server.c: the server and its connections (net/server.h)
 * through a real ll_server: header, body and idle timeouts, a client that
 * goes away while its handler is still working, stopping with connections
 * open, a port already in use, and SIGPIPE. The server, its test handler and
 * the socket clients are in http_harness.h; request and response behaviour
 * is in test_http.c. */
#include "net/server.h"

#include "http_harness.h"

/* ---- timeouts ------------------------------------------------------------ */

static void test_http_slow_header_times_out(void **state)
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
    send_str(body, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    read_response(body, &r);
    assert_api_error(&r, 408, "request_timeout");
    assert_true(closed_by_server(body));

    client_t *silent = dial(f); /* nothing sent: closed without a word */
    assert_true(closed_by_server(silent));
    stop(f);
}

static void test_http_idle_keepalive_closed(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    test_opts(&o);
    o.idle_timeout_ms = 200;
    start(f, &o);
    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.1\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    uint64_t t0 = mono_ms();
    assert_true(closed_by_server(c));
    assert_true(mono_ms() - t0 >= 150);
    stop(f);
}

static void test_http_request_in_flight_is_not_timed_out(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    test_opts(&o);
    o.header_timeout_ms = 100;
    o.idle_timeout_ms = 100;
    start(f, &o);
    client_t *c = dial(f);
    send_str(c, "GET /slow?ms=400 HTTP/1.1\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    stop(f);
}

/* ---- connections and lifecycle ------------------------------------------- */

static void test_http_client_gone_while_handler_pending_frees_request(void **state)
{
    fixture_t *f = *state;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /park HTTP/1.1\r\n\r\n");
    assert_non_null(wait_parked());
    shutdown(c->fd, SHUT_WR);
    assert_true(closed_by_server(c)); /* the server saw EOF and closed: an orphan */
    release_parked();                 /* answering the orphan frees it (ASan checks) */
    assert_true(wait_for(&parked_released, 1));

    client_t *d = dial(f); /* same with a slow handler and a hard close */
    send_str(d, "GET /slow?ms=50 HTTP/1.1\r\n\r\n");
    assert_true(wait_for(&slow_started, 1));
    close(d->fd);
    d->fd = -1;
    assert_true(wait_for(&slow_answered, 1));
    stop(f);
}

static void test_server_stop_with_open_connections_returns(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *idle = dial(f);
    send_str(idle, "GET /echo HTTP/1.1\r\n\r\n");
    read_response(idle, &r);
    client_t *partial = dial(f);
    send_str(partial, "GET /echo HTTP/1.1\r\nHost");
    client_t *busy = dial(f);
    send_str(busy, "GET /slow?ms=100 HTTP/1.1\r\n\r\n");
    client_t *roundtrip = dial(f);
    send_str(roundtrip, "GET /ledger HTTP/1.1\r\n\r\n");
    read_response(roundtrip, &r);
    assert_true(wait_for(&slow_started, 1));

    ll_server_stop_accepting(f->srv);
    stop(f); /* the /slow request is an orphan, answered (and freed) by its timer */
    assert_int_equal(atomic_load(&slow_answered), 1);
    assert_true(closed_by_server(idle));
    assert_true(closed_by_server(partial));
    assert_true(closed_by_server(busy));
}

static void test_server_start_on_busy_port_fails(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    ll_server_t *second = NULL;
    start_default(f);
    test_opts(&o);
    o.port = ll_server_port(f->srv);
    assert_int_equal(ll_server_start(&o, &second), LL_EIO);
    assert_null(second);
    o.port = 0;
    o.host = "not-an-address";
    assert_int_equal(ll_server_start(&o, &second), LL_EIO);
    stop(f);
}

/* A client resetting while its response was being written raised SIGPIPE,
 * which killed the whole process (found by a stress run, not reproducible on
 * demand): the server must leave writes to fail with EPIPE instead. */
static void test_regress_sigpipe_from_reset_client_killed_process(void **state)
{
    fixture_t *f = *state;
    struct sigaction sa;
    start_default(f);
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_IGN);
    stop(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_http_slow_header_times_out),
        T(test_http_idle_keepalive_closed),
        T(test_http_request_in_flight_is_not_timed_out),
        T(test_http_client_gone_while_handler_pending_frees_request),
        T(test_server_stop_with_open_connections_returns),
        T(test_server_start_on_busy_port_fails),
        T(test_regress_sigpipe_from_reset_client_killed_process),
    };
#undef T
    return cmocka_run_group_tests_name("net/server", tests, NULL, NULL);
}
