/* tests/unit/test_server.c: the listening side (net/server.h) through a
 * real ll_server: stopping with connections open, a port already in use,
 * and SIGPIPE. The server, its test handler and the socket clients are in
 * http_harness.h; a connection's own behaviour is in test_conn.c. */
#include "net/server.h"

#include "http_harness.h"

static void test_server_stop_with_open_connections_returns(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *idle = dial(f);
    send_str(idle, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(idle, &r);
    client_t *partial = dial(f);
    send_str(partial, "GET /echo HTTP/1.1\r\nHost");
    client_t *busy = dial(f);
    send_str(busy, "GET /slow?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n");
    client_t *roundtrip = dial(f);
    send_str(roundtrip, "GET /ledger HTTP/1.1\r\nHost: t\r\n\r\n");
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
        T(test_server_stop_with_open_connections_returns),
        T(test_server_start_on_busy_port_fails),
        T(test_regress_sigpipe_from_reset_client_killed_process),
    };
#undef T
    return cmocka_run_group_tests_name("net/server", tests, NULL, NULL);
}
