/* net/parse.c: the parser side of a connection. Feeds what conn.c reads to
 * http-parser, builds each request through http.c (ll_req_add_*), judges
 * every head against the server's limits and RFC 9112 before its body is
 * read, queues complete requests and calls the handler, pauses while the
 * pipeline or the unwritten output is full, and answers what cannot be
 * parsed with its JSON error, after which the connection ends.
 *
 * Debian builds http-parser 2.9 without HTTP_PARSER_STRICT (a compile-time
 * choice), so it lets through some of what RFC 9112 forbids; we refuse it:
 *   a space between a field name and its colon (§5.1)    ll_req_add_field
 *   obs-fold: a header line starting with SP or HT (§5.2)  scan_head
 *   a version other than HTTP/1.0 and 1.1 (→ 505), an HTTP/1.1 request
 *   without Host, two Hosts or an invalid one (§3.2)       ll_req_end_head
 * Both spellings matter beyond pedantry: "Content-Length : 5" is no
 * Content-Length to http-parser, and a proxy in front may think otherwise. */
#include "net/conn.h"
#include "net/worker.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

static int is_callback_error(enum http_errno e)
{
    return e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete;
}

void ll_conn_fail(ll_conn_t *c, int err, const char *why)
{
    const ll_server_opts_t *o = c->w->opts;
    /* LL_EHEADERS from a callback means too many headers, not too many bytes */
    int many = is_callback_error(HTTP_PARSER_ERRNO(&c->parser));
    int in_body = c->cur && c->cur->head_done;
    ll_req_free(c->cur);
    c->cur = NULL;
    c->stop_parsing = 1;
    ll_req_t *r = ll_req_new(c, c->w);
    if (!r) {
        ll_conn_close(c);
        return;
    }
    r->keep_alive = 0;
    ll_conn_enqueue(c, r);
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
        if (!in_body)
            ll_req_respond_error(r, err, "request head not received within %u ms",
                                 o->header_timeout_ms);
        else
            ll_req_respond_error(r, err,
                                 "request body too slow: it gets %u ms after the head, "
                                 "plus 1 s per %zu bytes received",
                                 o->header_timeout_ms, o->body_min_rate);
        break;
    case LL_EBADREQUEST:
    case LL_EVERSION:
        if (why) {
            ll_req_respond_error(r, err, "%s", why);
        } else {
            /* the parser's own words, unless our URL split refused the request */
            enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
            int ours = e == HPE_OK || e == HPE_PAUSED || is_callback_error(e);
            ll_req_respond_error(r, err, "malformed HTTP request: %s",
                                 ours ? "invalid request target" : http_errno_description(e));
        }
        break;
    default:
        ll_req_respond_error(r, err, "request could not be read");
        break;
    }
}

/* ---- http-parser callbacks ---------------------------------------------------- */

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
        c->head_start = ll_conn_now(c);
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

/* Pauses after every request, so that ll_conn_feed() decides whether to go
 * on, and so that one http_parser_execute() call never holds the end of a
 * body and the next head (scan_head() looks at head bytes only). */
static int on_message_complete(http_parser *p)
{
    ll_conn_t *c = parser_conn(p);
    ll_req_t *r = c->cur;
    c->cur = NULL;
    /* An Upgrade (WebSocket) request is answered like any other unless its
     * handler takes the connection over; whatever follows it is not
     * HTTP/1.1, so it ends the connection. */
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    ll_conn_enqueue(c, r);
    c->nparsed++;
    if (!r->keep_alive)
        c->stop_parsing = 1;
    c->msg_done = 1;
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

void ll_conn_parse_init(ll_conn_t *c)
{
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
}

/* ---- judging a head ------------------------------------------------------------ */

/* The head of c->cur is complete: apply the limits, then finish it. */
static int check_head(ll_conn_t *c)
{
    const http_parser *p = &c->parser;
    const ll_server_opts_t *o = c->w->opts;
    ll_req_t *r = c->cur;
    if (p->nread > o->max_head_bytes)
        return LL_EHEADERS;
    r->method = (enum http_method)p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    int rc = ll_req_end_head(r);
    if (rc < 0)
        return rc;
    if (p->flags & F_CHUNKED)
        return LL_ELENGTH;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > o->max_body_bytes)
        return LL_ETOOLARGE;
    return 0;
}

/* RFC 9112 §5.2: a line of the head that starts with a space or a tab is
 * obs-fold (or whitespace before the first field, §2.2); http-parser glues
 * it to the previous value. A raw LF never occurs inside a field, so "LF,
 * then SP or HT" finds every such line, also across reads (c->head_lf).
 * Returns 1 when the bytes hold one. */
static int scan_head(ll_conn_t *c, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->head_lf && (data[i] == ' ' || data[i] == '\t'))
            return 1;
        c->head_lf = data[i] == '\n';
    }
    return 0;
}

static const char obs_fold[] = "a header line may not start with a space or tab "
                               "(obs-fold, RFC 9112 section 5.2)";

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

/* A request is complete and handed to its handler: parse the next one now,
 * or keep the bytes and stop reading until responses drain. */
static int after_request(ll_conn_t *c, const char *data, size_t len)
{
    if (c->stop_parsing)
        return 0;
    if (c->nreqs < c->w->opts->max_pipelined && !ll_conn_output_full(c)) {
        http_parser_pause(&c->parser, 0);
        return 1;
    }
    if (keep_rest(c, data, len) < 0) {
        ll_conn_close(c);
        return 0;
    }
    c->paused = 1;
    ll_conn_reading(c, 0);
    return 0;
}

/* More bytes while the parser is paused (the rest of a read that TLS
 * decrypts a record at a time): kept after those kept already. One read's
 * worth at most, as reading is stopped. */
static void keep_more(ll_conn_t *c, const char *data, size_t len)
{
    if (len == 0)
        return;
    char *more = realloc(c->rest, c->rest_len + len);
    if (!more) {
        ll_conn_close(c);
        return;
    }
    memcpy(more + c->rest_len, data, len);
    c->rest = more;
    c->rest_len += len;
}

void ll_conn_feed(ll_conn_t *c, const char *data, size_t len)
{
    http_parser *p = &c->parser;
    if (c->paused) {
        keep_more(c, data, len);
        return;
    }
    while (len > 0 && !c->closing && !c->stop_parsing) {
        int in_head = !c->cur || !c->cur->head_done;
        size_t n = http_parser_execute(p, &parser_settings, data, len);
        const char *seen = data;
        data += n;
        len -= n;
        if (!c->tcp) {
            /* The handler handed the socket over: what follows the request
             * is the new protocol's (RFC 6455 §4.1: a client may send frames
             * right after its handshake). */
            ll_conn_pass_rest(c, data, len);
            return;
        }
        if (c->closing)
            return; /* a handler's write failed and closed us */
        enum http_errno e = HTTP_PARSER_ERRNO(p);
        if (e != HPE_OK && e != HPE_PAUSED) {
            ll_conn_fail(c, map_parser_error(c, e), c->cur ? c->cur->why : NULL);
            return;
        }
        if (in_head && scan_head(c, seen, n)) {
            ll_conn_fail(c, LL_EBADREQUEST, obs_fold);
            return;
        }
        if (e == HPE_PAUSED && c->head_check) {
            c->head_check = 0;
            c->head_lf = 0;
            int rc = check_head(c);
            if (rc < 0) {
                ll_conn_fail(c, rc, c->cur->why);
                return;
            }
            c->body_start = ll_conn_now(c);
            ll_conn_send_continue(c);
            http_parser_pause(p, 0);
            continue;
        }
        if (e == HPE_PAUSED && c->msg_done) {
            c->msg_done = 0;
            if (!after_request(c, data, len))
                return;
            continue;
        }
        if (c->cur && !c->cur->head_done && p->nread > c->w->opts->max_head_bytes) {
            ll_conn_fail(c, LL_EHEADERS, NULL);
            return;
        }
        if (n == 0)
            return; /* not reached with HPE_OK; guards against spinning */
    }
}

void ll_conn_unpause(ll_conn_t *c)
{
    char *rest = c->rest;
    size_t len = c->rest_len;
    c->rest = NULL;
    c->rest_len = 0;
    c->paused = 0;
    http_parser_pause(&c->parser, 0);
    ll_conn_feed(c, rest, len); /* may pause again and keep a new copy */
    free(rest);
    if (!c->paused)
        ll_conn_reading(c, 1);
}
