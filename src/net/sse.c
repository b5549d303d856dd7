/* net/sse.c: see sse.h. The body is chunked: each of the subscriber's
 * writes is one chunk around the same shared event bytes every subscriber
 * gets (stream/subscriber.h), so nothing is copied per client. */
#include "net/sse.h"
#include "net/stream_conn.h"
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
    ll_stream_conn_t *conn;
    ll_sub_t *sub; /* the stream's (ll_stream_conn_sub) */
    int ending;    /* the body's end is queued: close once it is written */
} ll_sse_t;

/* The stream's timer: the heartbeat, then, once the session ended, the grace
 * period. */
static void on_heartbeat(void *owner)
{
    ll_sse_t *sse = owner;
    if (sse->ending) { /* the grace period is over: the client did not read */
        ll_stream_conn_end(sse->conn);
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
    ll_stream_conn_end(sse->conn);
}

static void on_closed(void *owner)
{
    free(owner); /* the subscriber is closed already */
}

static void on_drained(void *owner)
{
    ll_sse_t *sse = owner;
    if (sse->ending)
        ll_stream_conn_end(sse->conn); /* the last chunk is out: the response is complete */
}

/* Logout or expiry (stream/fanout.h): the response ends properly, with its
 * last chunk, so EventSource sees the stream end and a reconnect gets 401. */
static void on_session_end(void *owner)
{
    ll_sse_t *sse = owner;
    sse->ending = 1;
    ll_stream_conn_timer_start(sse->conn, on_heartbeat, SSE_END_GRACE_MS, 0);
    if (ll_sub_end_body(sse->sub) < 0)
        ll_stream_conn_end(sse->conn);
}

/* An event stream reads nothing (on_data NULL: bytes are discarded); a
 * stopping server just ends it (on_shutdown NULL): EventSource reconnects to
 * whoever serves next. */
static const ll_stream_conn_cbs_t stream_cbs = {NULL, on_closed, NULL};
static const ll_sub_hooks_t hooks = {on_dropped, on_write_error, on_drained, on_session_end};

int ll_sse_start(ll_req_t *req, ll_fanout_t *fo, const ll_sub_opts_t *opts, uint32_t heartbeat_s)
{
    char retry[32];
    ll_sub_opts_t chunked = *opts;
    chunked.chunked = 1;
    ll_sse_t *sse = calloc(1, sizeof *sse);
    if (!sse) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return LL_ENOMEM;
    }
    ll_req_note_status(req, 200); /* now: the take-over ends the request */
    sse->conn = ll_stream_conn_take_over(req, head, sizeof head - 1, fo, &chunked, &hooks,
                                         &stream_cbs, sse);
    if (!sse->conn) {
        free(sse);
        return LL_ESHUTDOWN;
    }
    sse->sub = ll_stream_conn_sub(sse->conn);
    int n = snprintf(retry, sizeof retry, "retry: %d\n\n", LL_SSE_RETRY_MS);
    ll_sub_send_raw(sse->sub, retry, (size_t)n);
    uint64_t every = (uint64_t)heartbeat_s * 1000;
    ll_stream_conn_timer_start(sse->conn, on_heartbeat, every, every);
    return 0;
}
