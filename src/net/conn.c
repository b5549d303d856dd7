/* net/conn.c: one accepted TCP connection on its worker: reads (parse.c
 * turns the bytes into requests, queued in arrival order, and calls the
 * handler), writes responses strictly in that order (batched into one
 * uv_write), keeps the time, closes, or hands its socket over to a stream
 * (ll_conn_hand_over; stream_conn.c owns it from then on). First stage of
 * the data path: bytes in, ll_req_t to api/ out.
 *
 * Timer, one per connection. It fires at the earliest deadline that applies:
 *   request head incomplete         header_timeout_ms from its first byte (the
 *                                   first request's: from accept)        → 408
 *   request body incomplete         header_timeout_ms from the end of its head,
 *                                   plus 1 s per body_min_rate bytes of it
 *                                   received so far                      → 408
 *   responses being written         idle_timeout_ms in which the client takes
 *                                   none of their bytes (looked at every
 *                                   quarter of it)                     → reset
 *   nothing received yet            header_timeout_ms from accept      → close
 *   idle keep-alive                 idle_timeout_ms                    → close
 *   requests with their handlers    none: the handler decides
 *   closing after the last response / after EOF    LINGER_MS         → close
 * So a client that sends and never reads is stopped twice over: its reading
 * pauses once max_pipelined requests or LL_CONN_OUTPUT_PAUSE bytes of
 * responses wait for it (parse.c), and the write timeout ends it. */
#include "net/conn.h"
#include "net/worker.h"
#include "util/err.h"
#include "util/log.h"

#include <limits.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* How long a connection we are closing keeps draining what the client still
 * sends (so the kernel does not answer it with RST and destroy our last
 * response), or waits for its last write to finish. */
#define LINGER_MS 2000

/* Requests written by one uv_write at most. Each gives two bufs, its head
 * and its body (one when the body is empty), so the bufs array on the
 * stack holds 2 * WRITE_BATCH (libuv copies it into the write request). */
#define WRITE_BATCH 64

uint64_t ll_conn_now(const ll_conn_t *c)
{
    return uv_now(&c->w->loop);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ll_conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->w->rbuf, sizeof c->w->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

void ll_conn_reading(ll_conn_t *c, int on)
{
    if (!on) {
        if (c->reading)
            uv_read_stop((uv_stream_t *)c->tcp);
        c->reading = 0;
        return;
    }
    if (c->reading || c->closing)
        return;
    int rc = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
    if (rc < 0) {
        LL_WARN("http: cannot read from connection: %s", uv_strerror(rc));
        ll_conn_close(c);
        return;
    }
    c->reading = 1;
}

/* ---- request queue -------------------------------------------------------- */

void ll_conn_enqueue(ll_conn_t *c, ll_req_t *r)
{
    r->next = NULL;
    if (c->qtail)
        c->qtail->next = r;
    else
        c->qhead = r;
    c->qtail = r;
    c->nreqs++;
}

/* Empties the queue: answered requests are freed, the others become orphans
 * that their eventual ll_req_respond* frees. */
static void drop_queue(ll_conn_t *c)
{
    ll_req_t *r = c->qhead;
    while (r) {
        ll_req_t *next = r->next;
        r->next = NULL;
        if (r->responded)
            ll_req_free(r);
        else
            r->conn = NULL;
        c->nreqs--;
        r = next;
    }
    c->qhead = c->qtail = NULL;
}

/* ---- writing -------------------------------------------------------------- */

static void conn_linger(ll_conn_t *c);

static size_t unwritten(const ll_conn_t *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp);
}

/* Bytes of ours the client has not taken yet: libuv's queue, and the
 * kernel's send queue (SIOCOUTQ: unsent or unacknowledged). The kernel's
 * count moves with every read of the client; libuv's only when the socket
 * has room for a good part of its buffer again, long after a slow reader
 * has made progress. */
static size_t untaken(const ll_conn_t *c)
{
    size_t n = unwritten(c);
    uv_os_fd_t fd;
    int queued;
    if (uv_fileno((const uv_handle_t *)c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &queued) == 0 &&
        queued > 0)
        n += (size_t)queued;
    return n;
}

/* A write was handed to libuv. The write timeout runs from the first one;
 * more bytes raise the mark that the client's progress is measured from. */
static void wrote(ll_conn_t *c)
{
    if (c->writes++ == 0)
        c->write_since = ll_conn_now(c);
    c->write_seen = untaken(c);
}

static void conn_free(ll_conn_t *c);

/* What follows any finished write: close, linger, or go on reading. */
static void after_write(ll_conn_t *c, int status)
{
    c->writes--;
    if (c->closing) {
        /* cancelled by uv_close(), written just before it, or an answer
         * written before the socket was handed over */
        if (c->handles == 0 && c->writes == 0)
            conn_free(c);
        return;
    }
    if (status < 0) {
        LL_DEBUG("http: write failed: %s", uv_strerror(status));
        ll_conn_close(c);
        return;
    }
    c->write_since = ll_conn_now(c); /* the client took bytes */
    c->write_seen = untaken(c);
    if (c->nreqs == 0)
        c->idle_since = ll_conn_now(c);
    if (c->writes == 0 && c->draining) {
        ll_conn_close(c);
        return;
    }
    if (c->writes == 0 && c->close_after_write) {
        conn_linger(c);
        return;
    }
    if (c->paused && c->nreqs < c->w->opts->max_pipelined && !ll_conn_output_full(c))
        ll_conn_unpause(c);
    ll_conn_rearm(c);
}

int ll_conn_output_full(ll_conn_t *c)
{
    return unwritten(c) > LL_CONN_OUTPUT_PAUSE;
}

static void on_write(uv_write_t *wr, int status)
{
    ll_req_t *r = wr->data;
    ll_conn_t *c = r->conn;
    size_t n = 0;
    while (r) {
        ll_req_t *next = r->next;
        ll_req_free(r);
        n++;
        r = next;
    }
    c->nreqs -= n;
    after_write(c, status);
}

static void on_continue_written(uv_write_t *wr, int status)
{
    ll_conn_t *c = wr->data;
    free(wr);
    after_write(c, status);
}

/* RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for this
 * before its body (curl does, for a second). Only sent when no response is
 * owed before it, so the interim response cannot land inside another one. */
void ll_conn_send_continue(ll_conn_t *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const char *expect = ll_req_header(c->cur, "expect");
    if (!expect || strcasecmp(expect, "100-continue") != 0 || c->qhead ||
        c->parser.content_length == 0 || c->parser.content_length == ULLONG_MAX)
        return;
    uv_write_t *wr = malloc(sizeof *wr);
    if (!wr)
        return; /* the client sends its body after its own timeout */
    wr->data = c;
    uv_buf_t buf = uv_buf_init((char *)line, sizeof line - 1);
    int rc = ll_tls_write(c->tls, wr, (uv_stream_t *)c->tcp, &buf, 1, on_continue_written);
    if (rc < 0) {
        free(wr);
        return;
    }
    wrote(c);
}

void ll_conn_flush(ll_conn_t *c)
{
    if (c->closing || c->draining)
        return;
    while (c->qhead && c->qhead->responded && !c->close_after_write) {
        uv_buf_t bufs[2 * WRITE_BATCH];
        unsigned n = 0, nreqs = 0;
        ll_req_t *first = c->qhead, *last = NULL;
        /* In queue order, each head then its body: the bytes of pipelined
         * responses follow one another as they did in one buffer each. */
        while (nreqs < WRITE_BATCH && c->qhead && c->qhead->responded) {
            last = c->qhead;
            c->qhead = last->next;
            nreqs++;
            bufs[n++] = uv_buf_init((char *)last->resp_head, (unsigned)last->resp_head_len);
            if (last->resp_body_len)
                bufs[n++] = uv_buf_init((char *)last->resp_body, (unsigned)last->resp_body_len);
            if (!last->keep_alive) {
                c->close_after_write = 1; /* nothing after it is sent or parsed */
                c->stop_parsing = 1;
                break;
            }
        }
        if (!c->qhead)
            c->qtail = NULL;
        last->next = NULL;
        first->write.data = first; /* on_write walks first->next… */
        int rc = ll_tls_write(c->tls, &first->write, (uv_stream_t *)c->tcp, bufs, n, on_write);
        if (rc < 0) {
            LL_DEBUG("http: write failed: %s", uv_strerror(rc));
            for (ll_req_t *r = first, *next; r; r = next) {
                next = r->next;
                ll_req_free(r);
                c->nreqs--;
            }
            ll_conn_close(c);
            return;
        }
        wrote(c);
    }
    ll_conn_rearm(c);
}

/* ---- closing -------------------------------------------------------------- */

/* Once its handles have closed and its last write callback has run (a
 * handed-over socket may still carry answers written before). */
static void conn_free(ll_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->w->nconns--;
    ll_tls_free(c->tls); /* NULL once handed over with the socket */
    free(c->tcp);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    ll_conn_t *c = h->data;
    if (--c->handles == 0 && c->writes == 0)
        conn_free(c);
}

/* Closes now. Writes still in flight are cancelled (their requests are freed
 * in on_write); requests still with a handler become orphans. */
void ll_conn_close(ll_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->reading = 0;
    ll_req_free(c->cur);
    c->cur = NULL;
    drop_queue(c);
    free(c->rest);
    c->rest = NULL;
    if (c->handshaking)
        uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    c->handshaking = 0;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)c->tcp, on_handle_closed);
}

/* Closes now with a reset (RST): for a client that reads nothing, whose
 * unsent bytes would otherwise wait in the kernel. */
static void conn_abort(ll_conn_t *c)
{
    uv_os_fd_t fd;
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    if (c->closing)
        return;
    /* What uv_tcp_close_reset() does, which libuv refuses after uv_shutdown:
     * close(2) with a zero linger sends RST and frees the send queue. */
    if (uv_fileno((const uv_handle_t *)c->tcp, &fd) == 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    ll_conn_close(c);
}

void ll_conn_close_all(ll_worker_t *w)
{
    for (ll_conn_t *c = w->conns; c; c = c->next)
        ll_conn_close(c); /* unlinks only later, in conn_free */
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    ll_conn_t *c = req->data;
    if (status < 0 && !c->closing)
        ll_conn_close(c);
}

/* The last response is written: send FIN, then read and discard until the
 * client closes too, or LINGER_MS passes. */
static void conn_linger(ll_conn_t *c)
{
    c->lingering = 1;
    uv_timer_stop(&c->timer); /* ll_conn_rearm() starts LINGER_MS afresh */
    c->shutdown.data = c;
    int rc = ll_tls_shutdown(c->tls, &c->shutdown, (uv_stream_t *)c->tcp, on_shutdown);
    if (rc < 0) {
        ll_conn_close(c);
        return;
    }
    ll_conn_reading(c, 1);
    ll_conn_rearm(c);
}

/* No more requests on c: the one being parsed, the bytes kept for later and
 * the unanswered queue all go (see drop_queue). */
static void stop_http(ll_conn_t *c)
{
    ll_req_free(c->cur);
    c->cur = NULL;
    free(c->rest);
    c->rest = NULL;
    c->rest_len = 0;
    c->stop_parsing = 1;
    drop_queue(c);
}

/* The client ended its side. What is answered and in order is already being
 * written and finishes; everything else is dropped. */
static void conn_eof(ll_conn_t *c)
{
    ll_conn_reading(c, 0);
    stop_http(c);
    if (c->writes == 0) {
        ll_conn_close(c);
        return;
    }
    c->draining = 1;
    uv_timer_stop(&c->timer); /* ll_conn_rearm() starts LINGER_MS afresh */
    ll_conn_rearm(c);
}

/* ---- timer ---------------------------------------------------------------- */

/* When the request being parsed must be complete (see the table on top). */
static uint64_t request_deadline(const ll_conn_t *c)
{
    const ll_server_opts_t *o = c->w->opts;
    if (!c->cur->head_done)
        return c->head_start + o->header_timeout_ms;
    uint64_t credit = o->body_min_rate ? c->cur->body_len * 1000 / o->body_min_rate : 0;
    return c->body_start + o->header_timeout_ms + credit;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void on_timer(uv_timer_t *t);

void ll_conn_rearm(ll_conn_t *c)
{
    if (c->closing)
        return;
    const ll_server_opts_t *o = c->w->opts;
    uint64_t now = ll_conn_now(c), deadline = UINT64_MAX;
    if (c->lingering || c->draining) {
        if (uv_is_active((uv_handle_t *)&c->timer))
            return; /* LINGER_MS runs from the moment we started closing */
        deadline = now + LINGER_MS;
    } else {
        if (c->writes > 0) /* and a look at the client's progress every quarter */
            deadline =
                min_u64(c->write_since + o->idle_timeout_ms, now + o->idle_timeout_ms / 4 + 1);
        if (c->cur)
            deadline = min_u64(deadline, request_deadline(c));
        else if (c->nreqs == 0 && !c->stop_parsing)
            deadline = min_u64(deadline, c->nparsed == 0
                                             ? c->head_start + o->header_timeout_ms /* accept */
                                             : c->idle_since + o->idle_timeout_ms);
    }
    if (deadline == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, deadline > now ? deadline - now : 0, 0);
}

/* 1 when the client has taken none of our bytes for idle_timeout_ms. Bytes
 * it took since the last look (a quarter of that ago at most) move the clock
 * on, so a client that reads nothing is let go 60 to 75 s after its last
 * read (with the default 60 s). */
static int write_stalled(ll_conn_t *c, uint64_t now)
{
    size_t left = untaken(c);
    if (left < c->write_seen) {
        c->write_seen = left;
        c->write_since = now;
    }
    return now >= c->write_since + c->w->opts->idle_timeout_ms;
}

static void on_timer(uv_timer_t *t)
{
    ll_conn_t *c = t->data;
    const ll_server_opts_t *o = c->w->opts;
    uint64_t now = ll_conn_now(c);
    if (c->lingering || c->draining) {
        ll_conn_close(c); /* the goodbye took too long, or the last write did */
        return;
    }
    if (c->writes > 0 && write_stalled(c, now)) {
        /* It reads nothing, so no answer (not even a 408) can reach it. */
        LL_DEBUG("http: client read nothing for %u ms; resetting", o->idle_timeout_ms);
        conn_abort(c);
        return;
    }
    if (c->cur && now >= request_deadline(c)) {
        ll_conn_fail(c, LL_ETIMEOUT, NULL);
        return;
    }
    if (!c->cur && c->nreqs == 0 && !c->stop_parsing &&
        now >= (c->nparsed == 0 ? c->head_start + o->header_timeout_ms
                                : c->idle_since + o->idle_timeout_ms)) {
        ll_conn_close(c); /* nothing of a request pending: no answer owed */
        return;
    }
    ll_conn_rearm(c); /* a deadline moved since the timer was set */
}

/* ---- reading -------------------------------------------------------------- */

/* Plaintext of a TLS connection, a record at a time: requests, or once a
 * stream has taken the socket over, the stream's (RFC 6455 §4.1: frames
 * may follow the handshake in the same read). */
static void on_plain(void *arg, const char *data, size_t len)
{
    ll_conn_t *c = arg;
    if (!c->tcp) {
        ll_conn_pass_rest(c, data, len);
        return;
    }
    if (!c->closing && !c->stop_parsing)
        ll_conn_feed(c, data, len);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ll_conn_t *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && !c->lingering && !c->draining)
            conn_eof(c);
        else
            ll_conn_close(c); /* reset, other error, or the EOF lingering waits for */
        return;
    }
    if (c->stop_parsing)
        return; /* discarded: after the last request, or while lingering */
    int rc = ll_tls_read(c->tls, s, buf->base, (size_t)nread, on_plain, c);
    if (c->closing)
        return; /* closed, or handed over: the heir reads on */
    if (rc == UV_EOF)
        conn_eof(c); /* close_notify: the client is done sending */
    else if (rc < 0)
        ll_conn_close(c);
    else
        ll_conn_rearm(c);
}

/* ---- the TLS handshake ------------------------------------------------------ */

/* Runs on the raw socket, watched by a poll handle, before libuv reads:
 * OpenSSL then sees the socket itself and can hand it to kernel TLS. The
 * timer's head deadline, from accept, bounds it like a request head. */
static void on_handshake_ready(uv_poll_t *poll, int status, int events);

/* Closing the poll handle takes the socket out of epoll at once, so
 * libuv's own watch on it starts afresh. */
static void handshake_over(ll_conn_t *c)
{
    c->handshaking = 0;
    uv_close((uv_handle_t *)&c->poll, on_handle_closed);
}

static void handshake_step(ll_conn_t *c)
{
    int events = 0;
    int rc = ll_tls_handshake(c->tls, &events);
    if (rc == LL_EBADREQUEST) {
        /* http:// typed for https://: say so in the client's own protocol
         * (as nginx does), then close. */
        handshake_over(c);
        ll_tls_free(c->tls);
        c->tls = NULL;
        ll_conn_fail(c, LL_EBADREQUEST, "this port speaks TLS: use https://");
        return;
    }
    if (rc < 0) {
        ll_conn_close(c);
        return;
    }
    if (rc == 0) {
        if (uv_poll_start(&c->poll, events, on_handshake_ready) < 0)
            ll_conn_close(c);
        return;
    }
    handshake_over(c);
    ll_conn_reading(c, 1);
}

static void on_handshake_ready(uv_poll_t *poll, int status, int events)
{
    ll_conn_t *c = poll->data;
    (void)events;
    if (c->closing)
        return;
    if (status < 0) {
        ll_conn_close(c);
        return;
    }
    handshake_step(c);
}

/* Returns 0 with the handshake started, or < 0 (the caller closes). */
static int start_tls(ll_conn_t *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)c->tcp, &fd) != 0 ||
        !(c->tls = ll_tls_new(c->w->opts->tls, fd)) ||
        uv_poll_init_socket(&c->w->loop, &c->poll, fd) != 0)
        return LL_EIO;
    c->poll.data = c;
    c->handles++;
    c->handshaking = 1;
    handshake_step(c);
    return 0;
}

void ll_conn_accept(ll_worker_t *w, uv_stream_t *listener)
{
    ll_conn_t *c = calloc(1, sizeof *c);
    uv_tcp_t *tcp = c ? malloc(sizeof *tcp) : NULL; /* apart: it may outlive c */
    if (!tcp) {
        free(c);
        LL_ERROR("http: out of memory accepting a connection");
        return;
    }
    c->w = w;
    c->tcp = tcp;
    uv_tcp_init(&w->loop, c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp->data = c->timer.data = c;
    c->handles = 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    int rc = uv_accept(listener, (uv_stream_t *)c->tcp);
    if (rc < 0) {
        LL_WARN("http: accept failed: %s", uv_strerror(rc));
        ll_conn_close(c);
        return;
    }
    uv_tcp_nodelay(c->tcp, 1); /* small responses and events go out at once */
    ll_conn_parse_init(c);
    c->head_start = c->idle_since = ll_conn_now(c);
    ll_conn_rearm(c);
    if (!w->opts->tls)
        ll_conn_reading(c, 1);
    else if (start_tls(c) < 0)
        ll_conn_close(c);
}

/* ---- handing over ------------------------------------------------------------ */

uv_tcp_t *ll_conn_hand_over(ll_req_t *req, ll_conn_rest_cb rest_cb, void *heir, ll_tls_t **tls)
{
    ll_conn_t *c = req->conn;
    *tls = NULL;
    if (!c || c->closing || c->draining) {
        ll_req_respond(req, 503, NULL, NULL, 0); /* an orphan: this only frees it */
        return NULL;
    }
    if (c->qhead != req) {
        ll_req_respond_error(req, LL_EBADREQUEST,
                             "a stream request may not be pipelined behind another request");
        return NULL;
    }
    /* Nothing after this request is HTTP any more. */
    c->qhead = req->next;
    req->next = NULL;
    c->nreqs--;
    ll_req_free(req);
    stop_http(c);
    ll_conn_reading(c, 0); /* the heir reads with callbacks of its own */
    uv_tcp_t *tcp = c->tcp;
    c->tcp = NULL;
    *tls = c->tls;
    c->tls = NULL;
    c->handles--; /* the socket is the heir's to close */
    c->heir_cb = rest_cb;
    c->heir = heir;
    /* Closing, as far as HTTP goes: only the timer is left to close, and the
     * connection is freed once the answers written before are done. */
    c->closing = 1;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    return tcp;
}

void ll_conn_pass_rest(ll_conn_t *c, const char *data, size_t len)
{
    if (c->heir_cb && len > 0)
        c->heir_cb(c->heir, data, len);
}
