/* tests/unit/http_harness.h: the real server that test_http.c, test_conn.c
 * and test_server.c drive (stream_conn_harness.h builds on it), in one
 * header because CMake builds each tests/unit/test_*.c as its own program
 * and links nothing but ll_core and cmocka. Everything here is a macro, a
 * type, or a static object or function, so each program has its own copy:
 * no server or state is shared across files.
 *
 * An ll_server on 127.0.0.1, port 0, two workers, a test handler, and plain
 * blocking sockets as clients (with SO_RCVTIMEO, so a broken server fails a
 * test instead of hanging it). Handler paths:
 *   /echo     answers at once with what it saw (path, query, headers, body)
 *   /error    answers with an API error
 *   /slow     answers from a uv_timer on the worker loop (?ms=N)
 *   /ledger   answers after a round trip through another thread's taskq
 *   /park     answers only when the test thread posts a task back (release_parked)
 *   /nothing  answers 204 (with a body the server must not send)
 *   /big      answers ?kb=N KiB of 'x' (default 256)
 *   any other path answers 200 "ok"
 *
 *   setup, teardown              per test: a fixture and the "other" thread;
 *                                teardown also stops what a failed test left
 *   test_opts, start,            the server: the test options, a start with
 *   start_default, stop          them or with the defaults, and its stop
 *   dial, send_str, send_all     a client (at most MAX_CLIENTS per test)
 *   dial_rcvbuf                  one with a small receive buffer
 *   closed_without_reading       the server closed it, seen without reading
 *   read_response(_ex)           one response off the wire (_ex: head only)
 *   fill, consume                raw bytes into and out of a client's buffer
 *   closed_by_server, has_header, body_json, assert_api_error
 *   wait_for, wait_parked        bounded waits on what the handlers report
 *   release_parked               answers the parked request
 *
 * Owns:    the fixture owns its server and its clients.
 * Frees:   teardown(), also after a failed assertion.
 * Threads: the handler side runs on the server's worker threads and checks
 *          with CHECK (abort), never with cmocka; the test side belongs to
 *          the test thread. */
#ifndef LL_TESTS_UNIT_HTTP_HARNESS_H
#define LL_TESTS_UNIT_HTTP_HARNESS_H

#include "net/server.h"
#include "util/err.h"
#include "util/taskq.h"

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_TIMEOUT_S 5
#define DEADLINE_MS 5000
#define MAX_CLIENTS 8

/* ---- the handler side (worker threads) ------------------------------------ */

/* cmocka's assertions longjmp and so belong to the test thread only. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct worker_ctx {
    int index;
} worker_ctx_t;

static atomic_int slow_started;        /* /slow handlers entered */
static atomic_int slow_answered;       /* /slow timers fired and answered */
static atomic_int ledger_answered;     /* /ledger round trips answered */
static atomic_int parked_released;     /* /park answers given */
static _Atomic(ll_taskq_t *) parked_q; /* written before parked_req */
static _Atomic(ll_req_t *) parked_req;

static inline void *worker_init(ll_worker_t *w, void *arg)
{
    (void)arg;
    worker_ctx_t *ctx = malloc(sizeof *ctx);
    CHECK(ctx);
    ctx->index = ll_worker_index(w);
    return ctx;
}

static inline void worker_fini(void *ctx)
{
    free(ctx);
}

static inline void respond_path(ll_req_t *req)
{
    ll_req_respond_json(req, 200, json_pack("{s:s}", "path", ll_req_path(req)));
}

static inline void echo(ll_req_t *req)
{
    char q[64], small[4];
    int q_rc = ll_req_query_param(req, "q", q, sizeof q);
    int small_rc = ll_req_query_param(req, "q", small, sizeof small);
    size_t blen;
    const char *body = ll_req_body(req, &blen);
    const char *xt = ll_req_header(req, "x-TEST");
    worker_ctx_t *ctx = ll_req_ctx(req);
    /* json_pack steals the json_t references made with "o" */
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:o,s:s%,s:i,s:o,s:i,s:b}", "method",
                  http_method_str(ll_req_method(req)), "path", ll_req_path(req), "query",
                  ll_req_query(req), "x_test", xt ? json_string(xt) : json_null(), "body", body,
                  blen, "q_rc", q_rc, "q", q_rc >= 0 ? json_string(q) : json_null(), "small_rc",
                  small_rc, "ctx_ok", ctx && ctx->index == ll_worker_index(ll_req_worker(req)));
    ll_req_add_header(req, "X-Echo", "yes");
    ll_req_respond_json(req, 200, j);
}

typedef struct slow {
    uv_timer_t timer;
    ll_req_t *req;
} slow_t;

static inline void on_slow_closed(uv_handle_t *h)
{
    free(h->data);
}

static inline void on_slow_timer(uv_timer_t *t)
{
    slow_t *s = t->data;
    respond_path(s->req); /* frees it instead when it is an orphan */
    atomic_fetch_add(&slow_answered, 1);
    uv_close((uv_handle_t *)&s->timer, on_slow_closed);
}

static inline void slow(ll_req_t *req)
{
    char ms[16];
    slow_t *s = malloc(sizeof *s);
    CHECK(s);
    s->req = req;
    uv_timer_init(ll_worker_loop(ll_req_worker(req)), &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_slow_timer,
                   ll_req_query_param(req, "ms", ms, sizeof ms) > 0 ? strtoul(ms, NULL, 10) : 50,
                   0);
    atomic_fetch_add(&slow_started, 1);
}

/* The other thread: a loop with a taskq, standing in for the ledger. */
typedef struct other {
    uv_thread_t thread;
    uv_loop_t loop;
    ll_taskq_t q;
    uv_sem_t ready;
    ll_task_t stop;
} other_t;

static other_t other;

typedef struct round_trip {
    ll_task_t task; /* first: the task pointer is the round trip */
    ll_req_t *req;
    ll_taskq_t *reply_q;
} round_trip_t;

static inline void on_reply(ll_task_t *t) /* worker thread */
{
    round_trip_t *rt = (round_trip_t *)t;
    respond_path(rt->req);
    free(rt);
    atomic_fetch_add(&ledger_answered, 1);
}

static inline void on_ledger_work(ll_task_t *t) /* other thread */
{
    round_trip_t *rt = (round_trip_t *)t;
    rt->task.run = on_reply;
    CHECK(ll_taskq_post(rt->reply_q, &rt->task) == 0);
}

static inline void on_other_stop(ll_task_t *t)
{
    (void)t;
    uv_stop(&other.loop);
}

static inline void other_main(void *arg)
{
    (void)arg;
    uv_loop_init(&other.loop);
    ll_taskq_init(&other.q, &other.loop);
    uv_sem_post(&other.ready);
    uv_run(&other.loop, UV_RUN_DEFAULT);
    ll_taskq_close(&other.q, NULL);
    uv_run(&other.loop, UV_RUN_DEFAULT);
    uv_loop_close(&other.loop);
}

static inline void ledger(ll_req_t *req)
{
    round_trip_t *rt = malloc(sizeof *rt);
    CHECK(rt);
    rt->task.run = on_ledger_work;
    rt->req = req;
    rt->reply_q = ll_worker_taskq(ll_req_worker(req));
    CHECK(ll_taskq_post(&other.q, &rt->task) == 0);
}

static inline void park(ll_req_t *req)
{
    atomic_store(&parked_q, ll_worker_taskq(ll_req_worker(req)));
    atomic_store(&parked_req, req);
}

static inline void big(ll_req_t *req)
{
    char kb[16];
    size_t n =
        (ll_req_query_param(req, "kb", kb, sizeof kb) > 0 ? strtoul(kb, NULL, 10) : 256) * 1024;
    char *body = malloc(n);
    CHECK(body);
    memset(body, 'x', n);
    ll_req_respond(req, 200, "text/plain", body, n);
    free(body);
}

static inline void handler(ll_req_t *req)
{
    const char *path = ll_req_path(req);
    if (strcmp(path, "/echo") == 0)
        echo(req);
    else if (strcmp(path, "/error") == 0)
        ll_req_respond_error(req, LL_ENOTFOUND, "nothing at %s", path);
    else if (strcmp(path, "/slow") == 0)
        slow(req);
    else if (strcmp(path, "/ledger") == 0)
        ledger(req);
    else if (strcmp(path, "/park") == 0)
        park(req);
    else if (strcmp(path, "/nothing") == 0)
        ll_req_respond(req, 204, NULL, "ignored", 7);
    else if (strcmp(path, "/big") == 0)
        big(req);
    else
        ll_req_respond(req, 200, "text/plain", "ok", 2);
}

/* ---- the test side (main thread) ------------------------------------------ */

typedef struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
} client_t;

typedef struct fixture {
    ll_server_t *srv;
    client_t *clients[MAX_CLIENTS];
    int nclients;
} fixture_t;

typedef struct resp {
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
} resp_t;

static inline uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Bounded polling: waits until *v >= want or the deadline passes. */
static inline int wait_for(atomic_int *v, int want)
{
    uint64_t end = mono_ms() + DEADLINE_MS;
    while (atomic_load(v) < want) {
        if (mono_ms() > end)
            return 0;
        usleep(1000);
    }
    return 1;
}

static inline ll_req_t *wait_parked(void)
{
    uint64_t end = mono_ms() + DEADLINE_MS;
    ll_req_t *r;
    while (!(r = atomic_load(&parked_req)) && mono_ms() <= end)
        usleep(1000);
    return r;
}

typedef struct release {
    ll_task_t task;
    ll_req_t *req;
} release_t;

static inline void on_release(ll_task_t *t) /* worker thread */
{
    release_t *rel = (release_t *)t;
    respond_path(rel->req);
    free(rel);
    atomic_fetch_add(&parked_released, 1);
}

/* Answers the parked request from a task posted by this (another) thread. */
static inline void release_parked(void)
{
    ll_req_t *req = atomic_exchange(&parked_req, NULL);
    assert_non_null(req);
    release_t *rel = malloc(sizeof *rel);
    rel->task.run = on_release;
    rel->req = req;
    assert_int_equal(ll_taskq_post(atomic_load(&parked_q), &rel->task), 0);
}

static inline void test_opts(ll_server_opts_t *o)
{
    ll_server_opts_defaults(o);
    o->host = "127.0.0.1";
    o->port = 0;
    o->workers = 2;
    o->handler = handler;
    o->worker_init = worker_init;
    o->worker_fini = worker_fini;
}

static inline void start(fixture_t *f, const ll_server_opts_t *o)
{
    assert_int_equal(ll_server_start(o, &f->srv), 0);
    assert_true(ll_server_port(f->srv) > 0);
}

static inline void start_default(fixture_t *f)
{
    ll_server_opts_t o;
    test_opts(&o);
    start(f, &o);
}

/* A client whose receive buffer is rcvbuf bytes (set before connecting, so
 * the window is small from the start: a reader that stalls fills it fast),
 * or the kernel's default with 0. */
static inline client_t *dial_rcvbuf(fixture_t *f, int rcvbuf)
{
    assert_true(f->nclients < MAX_CLIENTS);
    client_t *c = calloc(1, sizeof *c);
    f->clients[f->nclients++] = c;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)ll_server_port(f->srv))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

static inline client_t *dial(fixture_t *f)
{
    return dial_rcvbuf(f, 0);
}

/* 1 while /proc/net/tcp lists the server's end of c as established. */
static inline int server_end_established(client_t *c)
{
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    char line[256];
    unsigned lport, rport, st;
    int found = 0;
    assert_int_equal(getsockname(c->fd, (struct sockaddr *)&me, &len), 0);
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    while (!found && fgets(line, sizeof line, f)) {
        if (sscanf(line, " %*d: %*8x:%4x %*8x:%4x %2x", &lport, &rport, &st) == 3)
            found = rport == ntohs(me.sin_port) && st == 1; /* TCP_ESTABLISHED */
    }
    fclose(f);
    return found;
}

/* 1 when the server closes c within DEADLINE_MS, seen without reading
 * anything (what c has not read stays unread): c gets FIN or RST, or the
 * server's end of it is gone (a reset a full window may not deliver). */
static inline int closed_without_reading(client_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    uint64_t end = mono_ms() + DEADLINE_MS;
    while (mono_ms() < end) {
        if (poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return 1;
        if (!server_end_established(c))
            return 1;
    }
    return 0;
}

static inline void send_all(client_t *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static inline void send_str(client_t *c, const char *s)
{
    send_all(c, s, strlen(s));
}

/* Reads more into c->buf. Returns bytes read, 0 on EOF or reset, -1 on timeout. */
static inline ssize_t fill(client_t *c)
{
    if (c->len == sizeof c->buf)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0)
        return errno == ECONNRESET ? 0 : -1;
    c->len += (size_t)n;
    return n;
}

static inline void consume(client_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads one response. Returns 0, or -1 when the connection ended first. */
static inline int read_response_ex(client_t *c, resp_t *r, int head_only)
{
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
        if (fill(c) <= 0)
            return -1;
    }
    size_t hlen = (size_t)(end - c->buf) + 4;
    assert_true(hlen < sizeof r->head);
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    consume(c, hlen);
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
    const char *cl = strcasestr(r->head, "\r\ncontent-length:");
    size_t blen = cl ? strtoul(cl + 17, NULL, 10) : 0; /* none: 204 and the like */
    r->body_len = head_only ? 0 : blen;
    assert_true(r->body_len < sizeof r->body);
    while (c->len < r->body_len) {
        if (fill(c) <= 0)
            return -1;
    }
    memcpy(r->body, c->buf, r->body_len);
    r->body[r->body_len] = '\0';
    consume(c, r->body_len);
    return 0;
}

static inline void read_response(client_t *c, resp_t *r)
{
    assert_int_equal(read_response_ex(c, r, 0), 0);
}

/* 1 when the server closed the connection with nothing more to read. */
static inline int closed_by_server(client_t *c)
{
    if (c->len > 0)
        return 0;
    return fill(c) == 0;
}

static inline int has_header(const resp_t *r, const char *line)
{
    return strcasestr(r->head, line) != NULL;
}

static inline json_t *body_json(const resp_t *r)
{
    json_error_t err;
    json_t *j = json_loads(r->body, 0, &err);
    assert_non_null(j);
    return j;
}

/* Asserts r is an error response with exactly {"error":{"code","message"}}. */
static inline void assert_api_error(const resp_t *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    assert_true(has_header(r, "\r\nContent-Type: application/json\r\n"));
    json_t *j = body_json(r);
    assert_int_equal(json_object_size(j), 1);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 2);
    assert_json_str(e, "code", code);
    assert_true(json_string_length(json_object_get(e, "message")) > 0);
    json_decref(j);
}

static inline int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    atomic_store(&slow_started, 0);
    atomic_store(&slow_answered, 0);
    atomic_store(&ledger_answered, 0);
    atomic_store(&parked_released, 0);
    atomic_store(&parked_req, NULL);
    uv_sem_init(&other.ready, 0);
    uv_thread_create(&other.thread, other_main, NULL);
    uv_sem_wait(&other.ready);
    *state = f;
    return 0;
}

/* Also runs after a failed assertion: stops whatever the test left behind. */
static inline int teardown(void **state)
{
    fixture_t *f = *state;
    if (atomic_load(&parked_req))
        release_parked();
    if (f->srv)
        ll_server_stop(f->srv);
    other.stop.run = on_other_stop;
    ll_taskq_post(&other.q, &other.stop);
    uv_thread_join(&other.thread);
    uv_sem_destroy(&other.ready);
    for (int i = 0; i < f->nclients; i++) {
        close(f->clients[i]->fd);
        free(f->clients[i]);
    }
    free(f);
    return 0;
}

static inline void stop(fixture_t *f)
{
    ll_server_stop(f->srv);
    f->srv = NULL;
}

#endif
