/* tests/unit/test_http.c: HTTP/1.1 requests and responses (net/http.h) as a
 * client sees them on the wire: keep-alive and pipelining, the limits that
 * end a connection (431, 413, 411, 400), what a handler reads from a request
 * (query, headers, body, target), and the response shapes (HEAD, 204, error
 * JSON), and where a response body lives until it is written (net/req.h:
 * referenced, taken over or copied once, never copied into the head). The
 * server, its test handler and the socket clients are in http_harness.h;
 * connection lifecycle and timeouts are in test_server.c. */
#include "net/http.h"
#include "net/req.h"

#include "http_harness.h"

#include <netinet/tcp.h>

/* ---- keep-alive and pipelining ------------------------------------------- */

static void test_http_keepalive_serves_two_requests_on_one_connection(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /echo?a=1 HTTP/1.1\r\nHost: t\r\nX-Test: one\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "\r\nX-Echo: yes\r\n"));
    assert_false(has_header(&r, "Connection: close"));
    json_t *j = body_json(&r);
    assert_json_str(j, "method", "GET");
    assert_json_str(j, "path", "/echo");
    assert_json_str(j, "query", "a=1");
    assert_json_str(j, "x_test", "one");
    assert_true(json_is_true(json_object_get(j, "ctx_ok")));
    json_decref(j);

    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_json_str(j, "method", "POST");
    assert_json_str(j, "body", "hello");
    json_decref(j);
    stop(f);
}

static void test_http_1_0_closes_after_response(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.0\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "\r\nConnection: close\r\n"));
    assert_true(closed_by_server(c));

    client_t *k = dial(f); /* HTTP/1.0 keep-alive is honoured and announced */
    send_str(k, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(k, &r);
    assert_true(has_header(&r, "\r\nConnection: keep-alive\r\n"));
    send_str(k, "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    read_response(k, &r);
    assert_true(has_header(&r, "\r\nConnection: close\r\n"));
    assert_true(closed_by_server(k));
    stop(f);
}

static void test_http_pipelined_requests_answered_in_order_even_when_first_is_slow(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /park HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /echo?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /ledger HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /slow?ms=30 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /echo?n=5 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_non_null(wait_parked());
    assert_true(wait_for(&ledger_answered, 1));
    assert_true(wait_for(&slow_answered, 1));
    /* later answers are all ready, yet none may overtake the parked one */
    char b;
    assert_int_equal(recv(c->fd, &b, 1, MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    release_parked();

    const char *want[] = {"/park", "/echo", "/ledger", "/slow", "/echo"};
    for (int i = 0; i < 5; i++) {
        read_response(c, &r);
        assert_int_equal(r.status, 200);
        json_t *j = body_json(&r);
        assert_json_str(j, "path", want[i]);
        if (i == 1 || i == 4)
            assert_json_str(j, "query", i == 1 ? "n=2" : "n=5");
        json_decref(j);
    }
    stop(f);
}

static void test_http_pipeline_over_limit_pauses_and_resumes_in_order(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    resp_t r;
    char req[64], all[4096] = "", want[16];
    test_opts(&o);
    o.max_pipelined = 2;
    start(f, &o);
    client_t *c = dial(f);
    for (int i = 0; i < 40; i++) {
        snprintf(req, sizeof req, "GET /echo?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        strcat(all, req);
    }
    send_str(c, all);
    for (int i = 0; i < 40; i++) {
        read_response(c, &r);
        json_t *j = body_json(&r);
        snprintf(want, sizeof want, "n=%d", i);
        assert_json_str(j, "query", want);
        json_decref(j);
    }
    stop(f);
}

/* ---- limits and malformed requests --------------------------------------- */

static void test_http_head_over_16k_gets_431(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    size_t big = 17 * 1024;
    char *req = malloc(big + 128);
    start_default(f);

    client_t *ok = dial(f); /* just under the limit still passes */
    int n = sprintf(req, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'a', 15 * 1024);
    strcpy(req + n + 15 * 1024, "\r\n\r\n");
    send_str(ok, req);
    read_response(ok, &r);
    assert_int_equal(r.status, 200);

    client_t *c = dial(f);
    memset(req + n, 'a', big);
    strcpy(req + n + big, "\r\n\r\n");
    send_str(c, req);
    free(req);
    read_response(c, &r);
    assert_api_error(&r, 431, "headers_too_large");
    assert_true(strstr(r.body, "16384") != NULL);
    assert_true(has_header(&r, "\r\nConnection: close\r\n"));
    assert_true(closed_by_server(c));
    stop(f);
}

static void test_http_body_over_limit_gets_413(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\nsome");
    read_response(c, &r);
    assert_api_error(&r, 413, "payload_too_large");
    assert_true(closed_by_server(c));
    stop(f);
}

static void test_http_chunked_body_gets_411(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n0\r\n\r\n");
    read_response(c, &r);
    assert_api_error(&r, 411, "length_required");
    assert_true(closed_by_server(c));
    stop(f);
}

static void test_http_garbage_gets_400_json(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "HELLO WORLD\r\n\r\n");
    read_response(c, &r);
    assert_api_error(&r, 400, "bad_request");
    assert_true(closed_by_server(c));

    /* a good request first, then garbage: the good one is still answered */
    client_t *d = dial(f);
    send_str(d, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\nGET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(d, &r);
    assert_int_equal(r.status, 200);
    read_response(d, &r);
    assert_api_error(&r, 400, "bad_request");
    assert_true(closed_by_server(d));
    stop(f);
}

/* ---- what the handler sees ----------------------------------------------- */

static void test_http_query_param_decoding(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /echo?a=1&q=h%C3%A9llo%20w+x%2B&q=second HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &r);
    json_t *j = body_json(&r);
    assert_json_str(j, "q", "h\xc3\xa9llo w x+");
    assert_int_equal(json_integer_value(json_object_get(j, "q_rc")), 11);
    assert_int_equal(json_integer_value(json_object_get(j, "small_rc")), LL_EBADPARAM);
    json_decref(j);

    const char *cases[][2] = {{"/echo?q=%zz", "bad"},   {"/echo?q=%4", "bad"},
                              {"/echo?q=a%00b", "bad"}, {"/echo?qq=1&x=2", "absent"},
                              {"/echo", "absent"},      {"/echo?%71=enc", "enc"},
                              {"/echo?q", ""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i][0]);
        send_str(c, req);
        read_response(c, &r);
        j = body_json(&r);
        json_int_t rc = json_integer_value(json_object_get(j, "q_rc"));
        if (strcmp(cases[i][1], "bad") == 0)
            assert_int_equal(rc, LL_EBADPARAM);
        else if (strcmp(cases[i][1], "absent") == 0)
            assert_int_equal(rc, LL_ENOTFOUND);
        else
            assert_json_str(j, "q", cases[i][1]);
        json_decref(j);
    }
    stop(f);
}

static void test_http_headers_case_insensitive_and_repeats_combined(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.1\r\nx-test: a\r\nHost: t\r\nX-TEST: b\r\n\r\n");
    read_response(c, &r);
    json_t *j = body_json(&r);
    assert_json_str(j, "x_test", "a, b");
    json_decref(j);
    stop(f);
}

static void test_http_expect_100_continue_gets_interim_response(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    start_default(f);
    client_t *c = dial(f);
    send_str(c,
             "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    while (c->len < sizeof cont - 1)
        assert_true(fill(c) > 0);
    assert_memory_equal(c->buf, cont, sizeof cont - 1);
    consume(c, sizeof cont - 1);
    send_str(c, "hello");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_json_str(j, "body", "hello");
    json_decref(j);
    stop(f);
}

static void test_http_absolute_form_target_is_split(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET http://example.com/echo?q=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET http://example.com HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &r);
    json_t *j = body_json(&r);
    assert_json_str(j, "path", "/echo");
    assert_json_str(j, "q", "1");
    json_decref(j);
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok"); /* the root, answered by the fallback route */
    stop(f);
}

/* ---- responses ----------------------------------------------------------- */

static void test_http_head_gets_headers_only(void **state)
{
    fixture_t *f = *state;
    resp_t get, head;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /error HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &get);
    send_str(c, "HEAD /error HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_response_ex(c, &head, 1), 0);
    assert_int_equal(head.status, 404);
    char cl[64];
    snprintf(cl, sizeof cl, "\r\nContent-Length: %zu\r\n", get.body_len);
    assert_true(has_header(&head, cl));
    read_response(c, &get); /* the next response follows the head directly */
    assert_int_equal(get.status, 200);
    stop(f);
}

static void test_http_204_has_no_body_or_content_length(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "DELETE /nothing HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 204);
    assert_false(has_header(&r, "content-length"));
    read_response(c, &r); /* follows the 204 head directly */
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_json_str(j, "method", "GET");
    json_decref(j);
    stop(f);
}

static void test_http_error_body_is_json_with_code_and_message(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /error HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(c, &r);
    assert_api_error(&r, 404, "not_found");
    json_t *j = body_json(&r);
    assert_json_str(json_object_get(j, "error"), "message", "nothing at /error");
    json_decref(j);
    stop(f);
}

/* ---- RFC 9112: what http-parser lets through and we refuse ----------------- */

/* Sends raw on a new connection; the answer is status/code, then close. */
static void expect_refused(fixture_t *f, const char *raw, size_t len, int status, const char *code)
{
    resp_t r;
    client_t *c = dial(f);
    send_all(c, raw, len);
    read_response(c, &r);
    assert_api_error(&r, status, code);
    assert_true(closed_by_server(c));
}

/* The same, with raw sent in two writes split at every offset in [from, to):
 * the refusal must not depend on where the reads of the server end. */
static void expect_refused_split(fixture_t *f, const char *raw, size_t from, size_t to, int status,
                                 const char *code)
{
    size_t len = strlen(raw);
    for (size_t k = from; k < to && k < len; k++) {
        resp_t r;
        client_t *c = dial(f);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        send_all(c, raw, k);
        send_all(c, raw + k, len - k);
        read_response(c, &r);
        assert_api_error(&r, status, code);
        close(c->fd); /* dial() keeps at most MAX_CLIENTS: reuse the slot */
        f->nclients--;
        free(c);
    }
}

static void test_regress_http_1_1_without_host_was_served(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    static const char no_host[] = "GET /echo HTTP/1.1\r\nX-Test: a\r\n\r\n";
    expect_refused(f, no_host, sizeof no_host - 1, 400, "bad_request");
    /* HTTP/1.0 has no such rule (RFC 9112 §3.2 binds 1.1 only) */
    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.0\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    stop(f);
}

static void test_http_two_hosts_or_an_invalid_host_get_400(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    static const char *bad[] = {
        "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: user@a\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a:port\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(f, bad[i], strlen(bad[i]), 400, "bad_request");
    static const char *good[] = {
        "GET /echo HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: [::1]:9984\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1 \r\n\r\n", /* trailing OWS is not the value */
        "GET /echo HTTP/1.1\r\nHost:\r\n\r\n",            /* empty is allowed (§3.2) */
    };
    client_t *c = dial(f);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        send_str(c, good[i]);
        read_response(c, &r);
        assert_int_equal(r.status, 200);
    }
    stop(f);
}

static void test_regress_http_versions_0_9_and_2_0_were_served(void **state)
{
    fixture_t *f = *state;
    start_default(f);
    static const char *versions[] = {"0.9", "2.0", "1.2", "3.0", "9.9"};
    char req[128];
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        int n = snprintf(req, sizeof req, "GET /echo HTTP/%s\r\nHost: t\r\n\r\n", versions[i]);
        expect_refused(f, req, (size_t)n, 505, "http_version_not_supported");
    }
    /* the HTTP/2 connection preface is no HTTP/1.1 request either */
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    resp_t r;
    client_t *c = dial(f);
    send_all(c, preface, sizeof preface - 1);
    read_response(c, &r);
    assert_true(r.status == 505 || r.status == 400);
    assert_true(closed_by_server(c));
    stop(f);
}

static void test_regress_space_before_header_colon_was_accepted(void **state)
{
    fixture_t *f = *state;
    start_default(f);
    static const char *bad[] = {
        "GET /echo HTTP/1.1\r\nHost : t\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test : a\r\n\r\n",
        /* http-parser would take this body as none; a proxy might not */
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello",
        "GET /echo HTTP/1.1\r\nHost: t\r\nX Test: a\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(f, bad[i], strlen(bad[i]), 400, "bad_request");
    static const char split[] = "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test : a\r\n\r\n";
    expect_refused_split(f, split, 28, 40, 400, "bad_request");
    stop(f);
}

static void test_regress_obs_fold_header_line_was_accepted(void **state)
{
    fixture_t *f = *state;
    start_default(f);
    static const char *bad[] = {
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test: a\r\n b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test: a\r\n\tb\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test:\r\n b\r\n\r\n",  /* empty first line */
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test: a\r\n \r\n\r\n", /* blank continuation */
        "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test: a\n b\n\n",      /* bare LF endings */
        "GET /echo HTTP/1.1\r\n Host: t\r\n\r\n", /* whitespace before the first field */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(f, bad[i], strlen(bad[i]), 400, "bad_request");
    static const char split[] = "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test: a\r\n b\r\n\r\n";
    expect_refused_split(f, split, 36, 46, 400, "bad_request");
    stop(f);
}

static void test_http_header_value_loses_trailing_whitespace(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    start_default(f);
    client_t *c = dial(f);
    send_str(c, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Test:  one two \t \r\n\r\n");
    read_response(c, &r);
    json_t *j = body_json(&r);
    assert_json_str(j, "x_test", "one two");
    json_decref(j);
    stop(f);
}

/* ---- where a response body lives ------------------------------------------- */

static const char constant_body[] = "constant bytes of the program";

/* The harness handler, plus paths that check (on the worker, before the
 * write) where the request keeps the body it was given. */
static void body_handler(ll_req_t *req)
{
    const char *path = ll_req_path(req);
    if (strcmp(path, "/constant") == 0) {
        ll_req_respond_static(req, 200, "text/plain", constant_body, sizeof constant_body - 1);
        /* referenced, not copied (HEAD sends none) */
        CHECK(req->resp_body == (ll_req_method(req) == HTTP_HEAD ? NULL : constant_body));
    } else if (strcmp(path, "/transient") == 0) {
        char buf[32];
        memcpy(buf, "bytes the caller reuses", 24);
        ll_req_respond(req, 200, "text/plain", buf, 23);
        CHECK(req->resp_body != buf); /* one copy, in the request */
        memset(buf, '#', sizeof buf); /* the wire must not see this */
    } else if (strcmp(path, "/json") == 0) {
        ll_req_respond_json(req, 200, json_pack("{s:i}", "n", 7));
        CHECK(req->resp_body == req->resp_body_owned); /* taken over */
    } else {
        handler(req);
    }
}

static void test_http_bodies_are_referenced_taken_or_copied_and_bytes_unchanged(void **state)
{
    fixture_t *f = *state;
    ll_server_opts_t o;
    test_opts(&o);
    o.handler = body_handler;
    start(f, &o);
    client_t *c = dial(f);
    /* Pipelined behind a slow one, so the other responses (two bufs each,
     * one for the 204 and the HEAD) wait, then go out in one write: the
     * bytes must be exactly those of one buffer each. */
    send_str(c, "GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /constant HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /transient HTTP/1.1\r\nHost: t\r\n\r\n"
                "DELETE /nothing HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
                "HEAD /constant HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /error HTTP/1.0\r\nHost: t\r\n\r\n");
    static const char want[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Content-Length: 16\r\n\r\n{\"path\":\"/slow\"}"
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        "Content-Length: 29\r\n\r\nconstant bytes of the program"
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        "Content-Length: 23\r\n\r\nbytes the caller reuses"
        "HTTP/1.1 204 No Content\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Content-Length: 7\r\n\r\n{\"n\":7}"
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        "Content-Length: 29\r\n\r\n"
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
        "Content-Length: 60\r\nConnection: close\r\n\r\n"
        "{\"error\":{\"code\":\"not_found\",\"message\":\"nothing at /error\"}}";
    while (c->len < sizeof want - 1 && fill(c) > 0)
        ;
    assert_int_equal(c->len, sizeof want - 1);
    assert_memory_equal(c->buf, want, sizeof want - 1);
    consume(c, c->len);
    assert_true(closed_by_server(c));
    stop(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_http_keepalive_serves_two_requests_on_one_connection),
        T(test_http_1_0_closes_after_response),
        T(test_http_pipelined_requests_answered_in_order_even_when_first_is_slow),
        T(test_http_pipeline_over_limit_pauses_and_resumes_in_order),
        T(test_http_head_over_16k_gets_431),
        T(test_http_body_over_limit_gets_413),
        T(test_http_chunked_body_gets_411),
        T(test_http_garbage_gets_400_json),
        T(test_http_query_param_decoding),
        T(test_http_headers_case_insensitive_and_repeats_combined),
        T(test_http_expect_100_continue_gets_interim_response),
        T(test_http_absolute_form_target_is_split),
        T(test_http_head_gets_headers_only),
        T(test_http_204_has_no_body_or_content_length),
        T(test_http_error_body_is_json_with_code_and_message),
        T(test_regress_http_1_1_without_host_was_served),
        T(test_http_two_hosts_or_an_invalid_host_get_400),
        T(test_regress_http_versions_0_9_and_2_0_were_served),
        T(test_regress_space_before_header_colon_was_accepted),
        T(test_regress_obs_fold_header_line_was_accepted),
        T(test_http_header_value_loses_trailing_whitespace),
        T(test_http_bodies_are_referenced_taken_or_copied_and_bytes_unchanged),
    };
#undef T
    return cmocka_run_group_tests_name("net/http", tests, NULL, NULL);
}
