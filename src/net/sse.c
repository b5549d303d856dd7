/* net/sse.c: see sse.h. The body is chunked: each of the subscriber's
 * writes is one chunk around the same shared event bytes every subscriber
 * gets (stream/subscriber.h), so nothing is copied per client. */
#include "net/sse.h"
#include "util/err.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char head[] = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: text/event-stream\r\n"
                           "Cache-Control: no-cache\r\n"
                           "X-Accel-Buffering: no\r\n"
                           "Transfer-Encoding: chunked\r\n"
                           "\r\n";

/* How long a stream whose session ended may take to read the end of its
 * body before the connection is closed anyway. */
#define SSE_END_GRACE_MS 2000

typedef struct ll_sse {
    ll_conn_t *conn;
    ll_sub_t *sub;
    uv_timer_t heartbeat; /* after the session ended: the grace period */
    int ending;           /* the body's end is queued: close once it is written */
} ll_sse_t;

static void on_heartbeat(uv_timer_t *t)
{
    ll_sse_t *sse = t->data;
    if (sse->ending) { /* the grace period is over: the client did not read */
        ll_conn_end(sse->conn);
        return;
    }
    /* A client so far behind that even the reserve is full needs no
     * heartbeat: it has bytes to read. */
    ll_sub_send_raw(sse->sub, ": heartbeat\n\n", 13);
}

static void on_dropped(void *owner, uint64_t n)
{
    ll_sse_t *sse = owner;
    char line[64];
    int len = snprintf(line, sizeof line, ": dropped %" PRIu64 " events\n\n", n);
    ll_sub_send_raw(sse->sub, line, (size_t)len);
}

static void on_write_error(void *owner, int status)
{
    ll_sse_t *sse = owner;
    (void)status;
    ll_conn_end(sse->conn);
}

static void on_data(void *owner, const char *data, size_t len)
{
    (void)owner, (void)data, (void)len; /* an event stream reads nothing */
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_closed(void *owner)
{
    ll_sse_t *sse = owner;
    ll_sub_close(sse->sub);
    uv_close((uv_handle_t *)&sse->heartbeat, on_timer_closed);
}

static void on_shutdown(void *owner)
{
    ll_sse_t *sse = owner;
    ll_conn_end(sse->conn); /* EventSource reconnects to whoever serves next */
}

static void on_drained(void *owner)
{
    ll_sse_t *sse = owner;
    if (sse->ending)
        ll_conn_end(sse->conn); /* the last chunk is out: the response is complete */
}

/* Logout or expiry (stream/fanout.h): the response ends properly, with its
 * last chunk, so EventSource sees the stream end and a reconnect gets 401. */
static void on_session_end(void *owner)
{
    ll_sse_t *sse = owner;
    sse->ending = 1;
    uv_timer_start(&sse->heartbeat, on_heartbeat, SSE_END_GRACE_MS, 0);
    if (ll_sub_end_body(sse->sub) < 0)
        ll_conn_end(sse->conn);
}

static const ll_takeover_t takeover = {on_data, on_closed, on_shutdown};
static const ll_sub_hooks_t hooks = {on_dropped, on_write_error, on_drained, on_session_end};

int ll_sse_start(ll_req_t *req, ll_fanout_t *fo, const ll_sub_opts_t *opts,
                 uint32_t heartbeat_s)
{
    char retry[32];
    ll_sub_opts_t chunked = *opts;
    const ll_sub_opts_t *sub_opts = &chunked;
    chunked.chunked = 1;
    uv_loop_t *loop = ll_worker_loop(ll_req_worker(req));
    ll_sse_t *sse = calloc(1, sizeof *sse);
    if (!sse) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return LL_ENOMEM;
    }
    uv_timer_init(loop, &sse->heartbeat);
    sse->heartbeat.data = sse;
    if (!(sse->conn = ll_req_take_over(req, head, sizeof head - 1, &takeover, sse))) {
        uv_close((uv_handle_t *)&sse->heartbeat, on_timer_closed);
        return LL_ESHUTDOWN;
    }
    if (!(sse->sub = ll_sub_open(fo, ll_conn_stream(sse->conn), sub_opts, &hooks, sse))) {
        LL_ERROR("sse: out of memory opening a subscriber");
        ll_conn_end(sse->conn);
        return LL_ENOMEM;
    }
    int n = snprintf(retry, sizeof retry, "retry: %d\n\n", LL_SSE_RETRY_MS);
    ll_sub_send_raw(sse->sub, retry, (size_t)n);
    uint64_t every = (uint64_t)heartbeat_s * 1000;
    uv_timer_start(&sse->heartbeat, on_heartbeat, every, every);
    return 0;
}
