/* net/conn.c: one accepted TCP connection on its worker: reads, feeds
 * http-parser, queues each complete request in arrival order and calls the
 * handler, writes responses strictly in that order (batched into one
 * uv_write), enforces the head/body limits and the slowloris timeouts, and
 * closes. First stage of the data path: bytes in, ll_req_t to api/ out.
 *
 * Timer, one per connection, by state:
 *   requests in flight (queued or being written)   none: the handler decides
 *   request head incomplete                        header_timeout_ms from its
 *                                                  first byte (or from accept)
 *   request body incomplete                        header_timeout_ms since the
 *                                                  last bytes read
 *   nothing received yet                           header_timeout_ms from accept
 *   idle keep-alive                                idle_timeout_ms
 *   closing after the last response / after EOF    LINGER_MS
 * A timed-out partial request gets 408; otherwise the connection just closes. */
#include "net/conn.h"
#include "net/worker.h"
#include "util/err.h"
#include "util/log.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How long a connection we are closing keeps draining what the client still
 * sends (so the kernel does not answer it with RST and destroy our last
 * response), or waits for its last write to finish. */
#define LINGER_MS 2000

/* Requests written by one uv_write at most (its bufs live on the stack). */
#define WRITE_BATCH 64

struct ll_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    http_parser parser;
    ll_worker_t *w;
    ll_conn_t *prev, *next;  /* w->conns */
    ll_req_t *cur;           /* being parsed */
    ll_req_t *qhead, *qtail; /* parsed, response not yet handed to uv_write */
    size_t nreqs;            /* queued + being written: the pipelining count */
    size_t writes;           /* uv_write requests in flight */
    char *rest;              /* unparsed bytes kept while the parser is paused */
    size_t rest_len;
    uint64_t nparsed;    /* requests completed on this connection */
    uint64_t head_start; /* loop time of the current head's first byte */
    uint64_t last_read;
    uint64_t idle_since;
    int fail_err; /* why a parser callback returned non-zero */
    int handles;  /* uv handles still open; freed at 0 */
    unsigned reading : 1;
    unsigned paused : 1;            /* parser paused, reading stopped: pipeline full */
    unsigned head_check : 1;        /* parser paused at the end of a head */
    unsigned stop_parsing : 1;      /* no more requests: later bytes are discarded */
    unsigned close_after_write : 1; /* a "Connection: close" response was flushed */
    unsigned draining : 1;          /* client sent EOF: finish writes, then close */
    unsigned lingering : 1;         /* our write side is shut: read until EOF */
    unsigned closing : 1;           /* uv_close() called */
    unsigned taken : 1;             /* handed to a stream owner (ll_req_take_over) */
    const ll_takeover_t *tk;        /* the owner's callbacks, once taken */
    void *owner;
};

static void conn_close(ll_conn_t *c);
static void conn_rearm(ll_conn_t *c);

static uint64_t now_ms(const ll_conn_t *c)
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

static void read_start(ll_conn_t *c)
{
    if (c->reading || c->closing)
        return;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        LL_WARN("http: cannot read from connection: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->reading = 1;
}

static void read_stop(ll_conn_t *c)
{
    if (!c->reading)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

/* ---- request queue -------------------------------------------------------- */

static void enqueue(ll_conn_t *c, ll_req_t *r)
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
static void conn_resume(ll_conn_t *c);

/* What follows any finished write: close, linger, or go on reading. */
static void after_write(ll_conn_t *c, int status)
{
    c->writes--;
    if (c->closing || c->taken)
        return; /* cancelled by uv_close(), written just before it, or an
                   answer written before the owner took the connection */
    if (status < 0) {
        LL_DEBUG("http: write failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->nreqs == 0)
        c->idle_since = now_ms(c);
    if (c->writes == 0 && c->draining) {
        conn_close(c);
        return;
    }
    if (c->writes == 0 && c->close_after_write) {
        conn_linger(c);
        return;
    }
    if (c->paused && c->nreqs < c->w->opts->max_pipelined)
        conn_resume(c);
    conn_rearm(c);
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
static void send_continue(ll_conn_t *c)
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
    int rc = uv_write(wr, (uv_stream_t *)&c->tcp, &buf, 1, on_continue_written);
    if (rc < 0) {
        free(wr);
        return;
    }
    c->writes++;
}

void ll_conn_flush(ll_conn_t *c)
{
    if (c->closing || c->draining)
        return;
    while (c->qhead && c->qhead->responded && !c->close_after_write) {
        uv_buf_t bufs[WRITE_BATCH];
        unsigned n = 0;
        ll_req_t *first = c->qhead, *last = NULL;
        while (n < WRITE_BATCH && c->qhead && c->qhead->responded) {
            last = c->qhead;
            c->qhead = last->next;
            bufs[n++] = uv_buf_init(last->resp, (unsigned)last->resp_len);
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
        int rc = uv_write(&first->write, (uv_stream_t *)&c->tcp, bufs, n, on_write);
        if (rc < 0) {
            LL_DEBUG("http: write failed: %s", uv_strerror(rc));
            for (ll_req_t *r = first, *next; r; r = next) {
                next = r->next;
                ll_req_free(r);
                c->nreqs--;
            }
            conn_close(c);
            return;
        }
        c->writes++;
    }
    conn_rearm(c);
}

/* ---- closing -------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    ll_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->w->nconns--;
    if (c->taken)
        c->tk->on_closed(c->owner); /* every write callback has run by now */
    free(c);
}

/* Closes now. Writes still in flight are cancelled (their requests are freed
 * in on_write); requests still with a handler become orphans. */
static void conn_close(ll_conn_t *c)
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
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

void ll_conn_close_all(ll_worker_t *w)
{
    for (ll_conn_t *c = w->conns; c; c = c->next) {
        if (c->taken && !c->closing) {
            /* The owner says goodbye and ends it; the timer ends it anyway. */
            uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
            c->tk->on_shutdown(c->owner);
            continue;
        }
        conn_close(c); /* unlinks only later, in on_handle_closed */
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    ll_conn_t *c = req->data;
    if (status < 0 && !c->closing)
        conn_close(c);
}

/* The last response is written: send FIN, then read and discard until the
 * client closes too, or LINGER_MS passes. */
static void conn_linger(ll_conn_t *c)
{
    c->lingering = 1;
    uv_timer_stop(&c->timer); /* conn_rearm() starts LINGER_MS afresh */
    c->shutdown.data = c;
    int rc = uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    read_start(c);
    conn_rearm(c);
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
    read_stop(c);
    stop_http(c);
    if (c->writes == 0) {
        conn_close(c);
        return;
    }
    c->draining = 1;
    uv_timer_stop(&c->timer); /* conn_rearm() starts LINGER_MS afresh */
    conn_rearm(c);
}

/* ---- timer ---------------------------------------------------------------- */

static void conn_rearm(ll_conn_t *c)
{
    if (c->closing || c->taken)
        return; /* a taken connection's owner keeps its own time */
    const ll_server_opts_t *o = c->w->opts;
    uint64_t now = now_ms(c), deadline;
    if (c->lingering || c->draining) {
        if (uv_is_active((uv_handle_t *)&c->timer))
            return; /* LINGER_MS runs from the moment we started closing */
        deadline = now + LINGER_MS;
    } else if (c->nreqs > 0 || c->stop_parsing) {
        uv_timer_stop(&c->timer);
        return;
    } else if (c->cur && !c->cur->head_done) {
        deadline = c->head_start + o->header_timeout_ms;
    } else if (c->cur) {
        deadline = c->last_read + o->header_timeout_ms;
    } else if (c->nparsed == 0) {
        deadline = c->head_start + o->header_timeout_ms; /* head_start is accept time */
    } else {
        deadline = c->idle_since + o->idle_timeout_ms;
    }
    uv_timer_start(&c->timer, on_timer, deadline > now ? deadline - now : 0, 0);
}

static void conn_fail(ll_conn_t *c, int err);

static void on_timer(uv_timer_t *t)
{
    ll_conn_t *c = t->data;
    if (c->taken)
        conn_close(c); /* the goodbye of ll_conn_close_all took too long */
    else if (c->lingering || c->draining || !c->cur)
        conn_close(c); /* nothing of a request pending: no answer owed */
    else if (c->nreqs == 0)
        conn_fail(c, LL_ETIMEOUT);
}

/* ---- parsing -------------------------------------------------------------- */

static int is_callback_error(enum http_errno e)
{
    return e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete;
}

/* Answers a request that could not be parsed, after those before it, and
 * closes the connection once that is written. */
static void conn_fail(ll_conn_t *c, int err)
{
    const ll_server_opts_t *o = c->w->opts;
    /* LL_EHEADERS from a callback means too many headers, not too many bytes */
    int many = is_callback_error(HTTP_PARSER_ERRNO(&c->parser));
    ll_req_free(c->cur);
    c->cur = NULL;
    c->stop_parsing = 1;
    ll_req_t *r = ll_req_new(c, c->w);
    if (!r) {
        conn_close(c);
        return;
    }
    r->keep_alive = 0;
    enqueue(c, r);
    switch (err) {
    case LL_EHEADERS:
        if (many)
            ll_req_respond_error(r, err, "request has more than %d headers", LL_REQ_MAX_HEADERS);
        else
            ll_req_respond_error(r, err, "request head exceeds %zu bytes", o->max_head_bytes);
        break;
    case LL_ETOOLARGE:
        ll_req_respond_error(r, err, "request body exceeds %zu bytes", o->max_body_bytes);
        break;
    case LL_ELENGTH:
        ll_req_respond_error(r, err,
                             "chunked request bodies are not accepted; send Content-Length");
        break;
    case LL_ETIMEOUT:
        ll_req_respond_error(r, err, "request not received within %u ms", o->header_timeout_ms);
        break;
    case LL_EBADREQUEST: {
        /* the parser's own words, unless our URL split refused the request */
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        int ours = e == HPE_OK || e == HPE_PAUSED || is_callback_error(e);
        ll_req_respond_error(r, err, "malformed HTTP request: %s",
                             ours ? "invalid request target" : http_errno_description(e));
        break;
    }
    default:
        ll_req_respond_error(r, err, "request could not be read");
        break;
    }
}

static ll_conn_t *parser_conn(http_parser *p)
{
    return p->data;
}

/* A callback failed: remember why, and stop the parser. */
static int cb_fail(ll_conn_t *c, int rc)
{
    c->fail_err = rc;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    ll_conn_t *c = parser_conn(p);
    c->cur = ll_req_new(c, c->w);
    if (!c->cur)
        return cb_fail(c, LL_ENOMEM);
    if (c->nparsed > 0) /* the first request's head is timed from accept */
        c->head_start = now_ms(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    ll_conn_t *c = parser_conn(p);
    int rc = ll_req_add_url(c->cur, at, len);
    return rc < 0 ? cb_fail(c, rc) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    ll_conn_t *c = parser_conn(p);
    int rc = ll_req_add_field(c->cur, at, len);
    return rc < 0 ? cb_fail(c, rc) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    ll_conn_t *c = parser_conn(p);
    int rc = ll_req_add_value(c->cur, at, len);
    return rc < 0 ? cb_fail(c, rc) : 0;
}

/* Pausing here makes http_parser_execute() return with parser->nread equal
 * to the exact size of the head, which check_head() then judges. */
static int on_headers_complete(http_parser *p)
{
    parser_conn(p)->head_check = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    ll_conn_t *c = parser_conn(p);
    int rc = ll_req_add_body(c->cur, at, len, c->w->opts->max_body_bytes);
    return rc < 0 ? cb_fail(c, rc) : 0;
}

static int on_message_complete(http_parser *p)
{
    ll_conn_t *c = parser_conn(p);
    ll_req_t *r = c->cur;
    c->cur = NULL;
    /* An Upgrade (WebSocket) request is answered like any other for now;
     * whatever follows it is not HTTP/1.1, so it ends the connection. */
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    enqueue(c, r);
    c->nparsed++;
    if (!r->keep_alive)
        c->stop_parsing = 1;
    if (c->stop_parsing || c->nreqs >= c->w->opts->max_pipelined)
        http_parser_pause(p, 1);
    c->w->opts->handler(r); /* may respond, and so flush, right here */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* The head of c->cur is complete: apply the limits, then finish it. */
static int check_head(ll_conn_t *c)
{
    const http_parser *p = &c->parser;
    const ll_server_opts_t *o = c->w->opts;
    ll_req_t *r = c->cur;
    if (p->nread > o->max_head_bytes)
        return LL_EHEADERS;
    if (p->flags & F_CHUNKED)
        return LL_ELENGTH;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > o->max_body_bytes)
        return LL_ETOOLARGE;
    r->method = (enum http_method)p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    return ll_req_end_head(r);
}

static int map_parser_error(ll_conn_t *c, enum http_errno e)
{
    if (is_callback_error(e))
        return c->fail_err;
    return e == HPE_HEADER_OVERFLOW ? LL_EHEADERS : LL_EBADREQUEST;
}

/* Keeps the bytes the paused parser has not consumed. */
static int keep_rest(ll_conn_t *c, const char *data, size_t len)
{
    char *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return LL_ENOMEM;
        memcpy(copy, data, len);
    }
    free(c->rest);
    c->rest = copy;
    c->rest_len = len;
    return 0;
}

static void conn_feed(ll_conn_t *c, const char *data, size_t len)
{
    http_parser *p = &c->parser;
    while (len > 0 && !c->closing && !c->stop_parsing) {
        size_t n = http_parser_execute(p, &parser_settings, data, len);
        data += n;
        len -= n;
        if (c->closing)
            return; /* a handler's write failed and closed us */
        if (c->taken) {
            /* What follows the request is the new protocol's (RFC 6455 §4.1:
             * a client may send frames right after its handshake). */
            if (len > 0)
                c->tk->on_data(c->owner, data, len);
            return;
        }
        enum http_errno e = HTTP_PARSER_ERRNO(p);
        if (e == HPE_PAUSED && c->head_check) {
            c->head_check = 0;
            int rc = check_head(c);
            if (rc < 0) {
                conn_fail(c, rc);
                return;
            }
            send_continue(c);
            http_parser_pause(p, 0);
            continue;
        }
        if (e == HPE_PAUSED) { /* after a request: pipeline full, or the last one */
            if (c->stop_parsing)
                return;
            if (keep_rest(c, data, len) < 0) {
                conn_close(c);
                return;
            }
            c->paused = 1;
            read_stop(c);
            return;
        }
        if (e != HPE_OK) {
            conn_fail(c, map_parser_error(c, e));
            return;
        }
        if (c->cur && !c->cur->head_done && p->nread > c->w->opts->max_head_bytes) {
            conn_fail(c, LL_EHEADERS);
            return;
        }
        if (n == 0)
            return; /* not reached with HPE_OK; guards against spinning */
    }
}

/* Responses drained below max_pipelined: parse what was kept, read again. */
static void conn_resume(ll_conn_t *c)
{
    char *rest = c->rest;
    size_t len = c->rest_len;
    c->rest = NULL;
    c->rest_len = 0;
    c->paused = 0;
    http_parser_pause(&c->parser, 0);
    conn_feed(c, rest, len); /* may pause again and keep a new copy */
    free(rest);
    if (!c->paused)
        read_start(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ll_conn_t *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (c->taken) {
        if (nread < 0)
            conn_close(c);
        else
            c->tk->on_data(c->owner, buf->base, (size_t)nread);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && !c->lingering && !c->draining)
            conn_eof(c);
        else
            conn_close(c); /* reset, other error, or the EOF lingering waits for */
        return;
    }
    if (c->stop_parsing)
        return; /* discarded: after the last request, or while lingering */
    c->last_read = now_ms(c);
    conn_feed(c, buf->base, (size_t)nread);
    conn_rearm(c);
}

void ll_conn_accept(ll_worker_t *w, uv_stream_t *listener)
{
    ll_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        LL_ERROR("http: out of memory accepting a connection");
        return;
    }
    c->w = w;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        LL_WARN("http: accept failed: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1); /* small responses and events go out at once */
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->head_start = c->idle_since = now_ms(c);
    read_start(c);
    conn_rearm(c);
}

/* ---- taking over ------------------------------------------------------------ */

typedef struct head_write {
    uv_write_t wr;
    char bytes[];
} head_write_t;

static void on_head_written(uv_write_t *wr, int status)
{
    (void)status; /* a failure shows up in the owner's next write or read */
    free(wr);
}

ll_conn_t *ll_req_take_over(ll_req_t *req, const char *head, size_t len, const ll_takeover_t *cbs,
                            void *owner)
{
    ll_conn_t *c = req->conn;
    if (!c || c->closing || c->draining) {
        ll_req_respond(req, 503, NULL, NULL, 0); /* an orphan: this only frees it */
        return NULL;
    }
    if (c->qhead != req) {
        ll_req_respond_error(req, LL_EBADREQUEST,
                             "a stream request may not be pipelined behind another request");
        return NULL;
    }
    head_write_t *hw = malloc(sizeof *hw + len);
    if (!hw) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return NULL;
    }
    /* Nothing after this request is HTTP any more. */
    c->qhead = req->next;
    req->next = NULL;
    c->nreqs--;
    ll_req_free(req);
    stop_http(c);
    c->paused = 0;
    c->taken = 1;
    c->tk = cbs;
    c->owner = owner;
    uv_timer_stop(&c->timer);
    read_start(c); /* a full pipeline may have paused it */

    memcpy(hw->bytes, head, len);
    uv_buf_t buf = uv_buf_init(hw->bytes, (unsigned)len);
    if (uv_write(&hw->wr, (uv_stream_t *)&c->tcp, &buf, 1, on_head_written) < 0) {
        free(hw);
        conn_close(c); /* the owner hears of it through on_closed */
    }
    return c;
}

uv_stream_t *ll_conn_stream(ll_conn_t *c)
{
    return (uv_stream_t *)&c->tcp;
}

static void on_taken_shutdown(uv_shutdown_t *req, int status)
{
    ll_conn_t *c = req->data;
    if (status < 0 && !c->closing)
        conn_close(c);
}

/* Like an HTTP connection's last response: send FIN after what is queued,
 * then wait for the client's EOF (reads go on, and the owner ignores them)
 * or LINGER_MS, so our last frame is not destroyed by a reset. */
void ll_conn_end(ll_conn_t *c)
{
    if (c->closing || c->lingering)
        return;
    c->lingering = 1;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_taken_shutdown) < 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
}

int ll_req_peer_ip(const ll_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (!req->conn || cap == 0 ||
        uv_tcp_getpeername(&req->conn->tcp, (struct sockaddr *)&sa, &len) != 0)
        return LL_ENOTFOUND;
    if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&sa;
        /* An IPv4 client of a dual-stack socket is that IPv4 address. */
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
            return uv_inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], out, cap) == 0 ? 0
                                                                                 : LL_ENOTFOUND;
        return uv_ip6_name(a6, out, cap) == 0 ? 0 : LL_ENOTFOUND;
    }
    if (sa.ss_family == AF_INET)
        return uv_ip4_name((const struct sockaddr_in *)&sa, out, cap) == 0 ? 0 : LL_ENOTFOUND;
    return LL_ENOTFOUND;
}
