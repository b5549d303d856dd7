/* tests/unit/test_sse.c: Server-Sent Events streams (net/sse.h) on a
 * connection taken over from HTTP (net/stream_conn.h), through a real
 * ll_server: the response head and the retry hint, the heartbeat, an
 * event's chunk, and the end of the stream when the server stops. The server
 * and the clients are in stream_conn_harness.h. */
#include "net/sse.h"

#include "stream_conn_harness.h"

static const char sse_head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\n"
                               "X-Accel-Buffering: no\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "\r\n";

/* The first bytes: the head, then one chunk with the retry hint. */
static void test_sse_stream_starts_with_head_and_retry_chunk(void **state)
{
    fixture_t *f = *state;
    static const char first[] = "d\r\nretry: 3000\n\n\r\n";
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n");
    size_t n = read_until(c, "\n\n\r\n");
    assert_int_equal(n, sizeof sse_head - 1 + sizeof first - 1);
    assert_memory_equal(c->buf, sse_head, sizeof sse_head - 1);
    assert_memory_equal(c->buf + sizeof sse_head - 1, first, sizeof first - 1);
}

static void test_sse_heartbeat_comment_every_interval(void **state)
{
    fixture_t *f = *state;
    static const char beat[] = "d\r\n: heartbeat\n\n\r\n";
    stream_start(f, 60, 1);
    client_t *c = dial(f);
    send_str(c, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n");
    consume(c, read_until(c, "retry: 3000\n\n\r\n"));
    uint64_t t0 = mono_ms();
    assert_int_equal(read_until(c, beat), sizeof beat - 1);
    assert_true(mono_ms() - t0 >= 900);
    consume(c, sizeof beat - 1);
    assert_int_equal(read_until(c, beat), sizeof beat - 1); /* and again */
}

static void test_sse_event_is_one_chunk_with_id_and_data(void **state)
{
    fixture_t *f = *state;
    static const char event[] = "id: 7\ndata: {\"type\":\"tx\",\"seq\":7}\n\n";
    char want[128];
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n");
    consume(c, read_until(c, "retry: 3000\n\n\r\n"));
    publish(7, "{\"type\":\"tx\",\"seq\":7}");
    int n = snprintf(want, sizeof want, "%zx\r\n%s\r\n", sizeof event - 1, event);
    assert_int_equal(read_until(c, "\n\n\r\n"), (size_t)n);
    assert_memory_equal(c->buf, want, (size_t)n);
}

/* An event stream reads nothing: what the client sends changes nothing. */
static void test_sse_bytes_from_client_are_ignored(void **state)
{
    fixture_t *f = *state;
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    consume(c, read_until(c, "retry: 3000\n\n\r\n"));
    send_str(c, "more bytes");
    publish(1, "{\"type\":\"tx\",\"seq\":1}");
    read_until(c, "id: 1\n");
    assert_null(memmem(c->buf, c->len, "HTTP/1.1", 8)); /* no answer to the /echo */
}

static void test_sse_server_stop_ends_the_stream(void **state)
{
    fixture_t *f = *state;
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n");
    consume(c, read_until(c, "retry: 3000\n\n\r\n"));
    ll_server_stop_accepting(f->srv);
    stop(f);
    assert_true(closed_by_server(c));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, stream_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sse_stream_starts_with_head_and_retry_chunk),
        T(test_sse_heartbeat_comment_every_interval),
        T(test_sse_event_is_one_chunk_with_id_and_data),
        T(test_sse_bytes_from_client_are_ignored),
        T(test_sse_server_stop_ends_the_stream),
    };
#undef T
    return cmocka_run_group_tests_name("net/sse", tests, NULL, NULL);
}
