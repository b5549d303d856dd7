/* tests/unit/test_ws.c: WebSocket streams (net/ws.h) on a connection taken
 * over from HTTP (net/stream_conn.h), through a real ll_server: the opening
 * handshake and its refusals, an event's frame, ping and the text "ping",
 * frames sent right behind the handshake, the closing handshake and its
 * codes, the idle timeout and the goodbye when the server stops. The server
 * and the clients are in stream_conn_harness.h. */
#include "net/ws.h"

#include "stream_conn_harness.h"

/* ---- the opening handshake ------------------------------------------------- */

static void test_ws_handshake_answers_101_with_the_accept_key(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, WS_HANDSHAKE);
    assert_int_equal(read_response_ex(c, &r, 1), 0);
    assert_string_equal(r.head,
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: " WS_ACCEPT "\r\n\r\n");
}

static void test_ws_handshake_refusals_are_http_errors(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n");
    read_response(c, &r);
    assert_api_error(&r, 426, "upgrade_required");
    assert_true(has_header(&r, "\r\nSec-WebSocket-Version: 13\r\n"));

    client_t *plain = dial(f); /* no Upgrade: still HTTP, and kept alive */
    send_str(plain, "GET /ws HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(plain, &r);
    assert_api_error(&r, 400, "bad_request");
    send_str(plain, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(plain, &r);
    assert_int_equal(r.status, 200);

    client_t *badkey = dial(f);
    send_str(badkey, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n");
    read_response(badkey, &r);
    assert_api_error(&r, 400, "bad_request");
}

/* A stream request behind another one on the same connection is refused:
 * its answer could not follow a response still owed. */
static void test_ws_handshake_pipelined_behind_a_request_gets_400(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    send_str(c, "GET /slow?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n" WS_HANDSHAKE);
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    read_response(c, &r);
    assert_api_error(&r, 400, "bad_request");
}

/* ---- frames ------------------------------------------------------------------- */

static void test_ws_event_is_one_text_frame_of_its_envelope(void **state)
{
    fixture_t *f = *state;
    ws_frame_t fr = {0};
    static const char envelope[] = "{\"type\":\"tx\",\"seq\":1}";
    stream_start(f, 60, 15);
    client_t *c = ws_open(f);
    publish(1, envelope);
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x81); /* FIN, text */
    assert_int_equal(fr.len, strlen(envelope));
    assert_string_equal(fr.payload, envelope);
}

static void test_ws_ping_gets_pong_with_its_payload(void **state)
{
    fixture_t *f = *state;
    ws_frame_t fr = {0};
    stream_start(f, 60, 15);
    client_t *c = ws_open(f);
    ws_send(c, 0x9, "hi", 2);
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x8a); /* FIN, pong */
    assert_int_equal(fr.len, 2);
    assert_memory_equal(fr.payload, "hi", 2);

    ws_send(c, 0x1, "ping", 4); /* the seed's text keep-alive */
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x81);
    assert_string_equal(fr.payload, "pong");
}

/* RFC 6455 §4.1: a client may send frames before it sees the 101; they
 * arrive in the same read as the handshake and must not be lost. */
static void test_ws_frame_right_behind_the_handshake_is_answered(void **state)
{
    fixture_t *f = *state;
    static const char ping[] = {(char)0x89, (char)0x80, 1, 2, 3, 4}; /* masked, empty */
    char both[sizeof WS_HANDSHAKE - 1 + sizeof ping];
    resp_t r;
    ws_frame_t fr = {0};
    stream_start(f, 60, 15);
    client_t *c = dial(f);
    memcpy(both, WS_HANDSHAKE, sizeof WS_HANDSHAKE - 1);
    memcpy(both + sizeof WS_HANDSHAKE - 1, ping, sizeof ping);
    send_all(c, both, sizeof both);
    assert_int_equal(read_response_ex(c, &r, 1), 0);
    assert_int_equal(r.status, 101);
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x8a);
    assert_int_equal(fr.len, 0);
}

/* ---- closing ------------------------------------------------------------------ */

static void test_ws_close_is_answered_with_its_code_then_the_connection_ends(void **state)
{
    fixture_t *f = *state;
    static const uint8_t normal[] = {0x03, 0xe8}; /* 1000 */
    ws_frame_t fr = {0};
    stream_start(f, 60, 15);
    client_t *c = ws_open(f);
    ws_send(c, 0x8, normal, sizeof normal);
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x88);
    assert_int_equal(close_code(&fr), 1000);
    assert_true(closed_by_server(c));
}

/* §5.5.1: a close body is empty or starts with a 2-byte code. */
static void test_ws_close_with_one_byte_body_gets_1002(void **state)
{
    fixture_t *f = *state;
    ws_frame_t fr = {0};
    stream_start(f, 60, 15);
    client_t *c = ws_open(f);
    ws_send(c, 0x8, "x", 1);
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x88);
    assert_int_equal(close_code(&fr), 1002);
    assert_true(closed_by_server(c));
}

static void test_ws_idle_client_gets_1000_idle_timeout(void **state)
{
    fixture_t *f = *state;
    ws_frame_t fr = {0};
    stream_start(f, 1, 15);
    client_t *c = ws_open(f);
    uint64_t t0 = mono_ms();
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_true(mono_ms() - t0 >= 900);
    assert_int_equal(fr.first, 0x88);
    assert_int_equal(close_code(&fr), 1000);
    assert_string_equal(fr.payload + 2, "idle timeout");
    assert_true(closed_by_server(c));
}

static void test_ws_server_stop_says_1001_going_away(void **state)
{
    fixture_t *f = *state;
    ws_frame_t fr = {0};
    stream_start(f, 60, 15);
    client_t *c = ws_open(f);
    ll_server_stop_accepting(f->srv);
    stop(f); /* returns once the goodbye is out and the socket closed */
    assert_int_equal(ws_read_frame(c, &fr), 0);
    assert_int_equal(fr.first, 0x88);
    assert_int_equal(close_code(&fr), 1001);
    assert_true(closed_by_server(c));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, stream_teardown)
    const struct CMUnitTest tests[] = {
        T(test_ws_handshake_answers_101_with_the_accept_key),
        T(test_ws_handshake_refusals_are_http_errors),
        T(test_ws_handshake_pipelined_behind_a_request_gets_400),
        T(test_ws_event_is_one_text_frame_of_its_envelope),
        T(test_ws_ping_gets_pong_with_its_payload),
        T(test_ws_frame_right_behind_the_handshake_is_answered),
        T(test_ws_close_is_answered_with_its_code_then_the_connection_ends),
        T(test_ws_close_with_one_byte_body_gets_1002),
        T(test_ws_idle_client_gets_1000_idle_timeout),
        T(test_ws_server_stop_says_1001_going_away),
    };
#undef T
    return cmocka_run_group_tests_name("net/ws", tests, NULL, NULL);
}
