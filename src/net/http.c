/* net/http.c: the request a route handler sees and the response it gives.
 * conn.c fills a request while the parser runs (ll_req_add_*), then hands it
 * to the handler; ll_req_respond* builds the response head once in the
 * request's arena, keeps its body apart (net/req.h says where it lives) and
 * gives both back to the connection, which writes them in request order, or
 * frees the request when its client has gone (an orphan). Worker thread
 * only. */
#include "net/conn.h"
#include "net/worker.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { LAST_URL, LAST_FIELD, LAST_VALUE };

/* What to send when even building a response fails: no body, so no error
 * code string, and the connection closes after it. */
static const char oom_response[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                   "Content-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";

/* The first chunk of a request's arena: the rest of its one allocation. */
#define FIRST_CHUNK (LL_REQ_ALLOC_SIZE - sizeof(ll_req_t))
_Static_assert(LL_REQ_ALLOC_SIZE > sizeof(ll_req_t) + 2 * LL_ARENA_LARGE,
               "a request's first arena chunk holds a usual request and response");

/* Makes room for n more bytes in a buffer of r's arena that grows by
 * doubling, from first bytes up to at most limit (then LL_ETOOLARGE). */
static int grow_reserve(ll_req_t *r, char **buf, size_t len, size_t *cap, size_t n, size_t first,
                        size_t limit)
{
    if (n <= *cap - len)
        return 0;
    if (n > limit - len)
        return LL_ETOOLARGE;
    size_t ncap = *cap ? *cap : first < limit ? first : limit;
    while (ncap - len < n)
        ncap = ncap > limit / 2 ? limit : ncap * 2;
    char *nbuf = ll_arena_realloc(&r->arena, *buf, *cap, ncap);
    if (!nbuf)
        return LL_ENOMEM;
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

/* The head is bounded by max_head_bytes, which parse.c checks after each
 * read; a read holds at most LL_WORKER_RBUF_SIZE bytes more. */
static int head_reserve(ll_req_t *r, size_t n)
{
    return grow_reserve(r, &r->head, r->head_len, &r->head_cap, n, 512, SIZE_MAX) < 0 ? LL_ENOMEM
                                                                                      : 0;
}

static int head_append(ll_req_t *r, const char *data, size_t n)
{
    if (head_reserve(r, n) < 0)
        return LL_ENOMEM;
    memcpy(r->head + r->head_len, data, n);
    r->head_len += n;
    return 0;
}

static int head_nul(ll_req_t *r)
{
    return head_append(r, "", 1);
}

ll_req_t *ll_req_new(ll_conn_t *c, ll_worker_t *w)
{
    ll_req_t *r = malloc(LL_REQ_ALLOC_SIZE);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r); /* not the first chunk: nothing reads it unwritten */
    ll_arena_init(&r->arena, r + 1, FIRST_CHUNK);
    r->conn = c;
    r->worker = w;
    r->method = HTTP_GET;
    r->http_major = 1;
    r->http_minor = 1;
    r->last_cb = LAST_URL;
    return r;
}

void ll_req_free(ll_req_t *r)
{
    if (!r)
        return;
    free(r->resp_body_owned);
    ll_arena_close(&r->arena);
    free(r);
}

int ll_req_add_url(ll_req_t *r, const char *at, size_t len)
{
    r->url_len += len;
    return head_append(r, at, len);
}

int ll_req_add_field(ll_req_t *r, const char *at, size_t len)
{
    /* http-parser, built without HTTP_PARSER_STRICT, takes "Host : x" as a
     * field named "Host " (RFC 9112 §5.1: 400). */
    if (memchr(at, ' ', len)) {
        r->why = "no whitespace is allowed between a header name and its colon "
                 "(RFC 9112 section 5.1)";
        return LL_EBADREQUEST;
    }
    if (r->last_cb != LAST_FIELD) {
        /* A new header: end the URL or the previous value. */
        if (r->nhdrs == LL_REQ_MAX_HEADERS)
            return LL_EHEADERS;
        if (r->nhdrs == r->hdrs_cap) {
            size_t ncap = r->hdrs_cap ? r->hdrs_cap * 2 : 8;
            if (ncap > LL_REQ_MAX_HEADERS)
                ncap = LL_REQ_MAX_HEADERS;
            ll_req_hdr_t *n =
                ll_arena_realloc(&r->arena, r->hdrs, r->hdrs_cap * sizeof *n, ncap * sizeof *n);
            if (!n)
                return LL_ENOMEM;
            r->hdrs = n;
            r->hdrs_cap = ncap;
        }
        if (head_nul(r) < 0)
            return LL_ENOMEM;
        r->hdrs[r->nhdrs].name = r->head_len;
        r->hdrs[r->nhdrs].value = SIZE_MAX;
        r->nhdrs++;
        r->last_cb = LAST_FIELD;
    }
    return head_append(r, at, len);
}

int ll_req_add_value(ll_req_t *r, const char *at, size_t len)
{
    if (r->nhdrs == 0)
        return LL_EBADREQUEST; /* the parser never sends a value first */
    if (r->last_cb == LAST_FIELD) {
        if (head_nul(r) < 0)
            return LL_ENOMEM;
        r->hdrs[r->nhdrs - 1].value = r->head_len;
        r->last_cb = LAST_VALUE;
    }
    return head_append(r, at, len);
}

/* Repeated headers become one, their values joined by ", " (RFC 9110 §5.3),
 * so a lookup finds them all. Dropped entries get name SIZE_MAX. */
static int combine_headers(ll_req_t *r)
{
    for (size_t i = 1; i < r->nhdrs; i++) {
        for (size_t j = 0; j < i; j++) {
            if (r->hdrs[j].name == SIZE_MAX ||
                strcasecmp(r->head + r->hdrs[j].name, r->head + r->hdrs[i].name) != 0)
                continue;
            size_t joined = r->head_len;
            size_t a = strlen(r->head + r->hdrs[j].value);
            size_t b = strlen(r->head + r->hdrs[i].value);
            /* head may move while it grows: reserve first, then copy by offset */
            if (head_reserve(r, a + 2 + b + 1) < 0)
                return LL_ENOMEM;
            r->head_len += a + 2 + b + 1;
            char *dst = r->head + joined;
            memcpy(dst, r->head + r->hdrs[j].value, a);
            memcpy(dst + a, ", ", 2);
            memcpy(dst + a + 2, r->head + r->hdrs[i].value, b);
            dst[a + 2 + b] = '\0';
            r->hdrs[j].value = joined;
            r->hdrs[i].name = SIZE_MAX;
            break;
        }
    }
    return 0;
}

/* Copies one URL field to the end of head as its own string. */
static int copy_url_field(ll_req_t *r, const struct http_parser_url *u, int field, size_t *off)
{
    size_t start = r->head_len;
    if (field == UF_PATH && !(u->field_set & (1u << field)) && r->method != HTTP_CONNECT) {
        /* "http://host" in absolute form asks for the root */
        if (head_append(r, "/", 1) < 0)
            return LL_ENOMEM;
    } else if (u->field_set & (1u << field)) {
        /* the URL sits at offset 0 of head; copying out of head needs room first */
        size_t from = u->field_data[field].off, n = u->field_data[field].len;
        if (head_reserve(r, n) < 0)
            return LL_ENOMEM;
        memcpy(r->head + start, r->head + from, n);
        r->head_len += n;
    }
    if (head_nul(r) < 0)
        return LL_ENOMEM;
    *off = start;
    return 0;
}

/* RFC 9112 §5: a field value has no trailing whitespace (http-parser keeps
 * it; the leading whitespace it skips). */
static void trim_values(ll_req_t *r)
{
    for (size_t i = 0; i < r->nhdrs; i++) {
        if (r->hdrs[i].value == SIZE_MAX)
            continue;
        char *v = r->head + r->hdrs[i].value;
        size_t n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            v[--n] = '\0';
    }
}

/* RFC 9112 §3.2: Host = uri-host [ ":" port ], empty allowed. http-parser's
 * URL parser judges it as the authority of "http://<host>". */
static int host_valid(const char *host)
{
    char url[300];
    struct http_parser_url u;
    if (!*host)
        return 1;
    int n = snprintf(url, sizeof url, "http://%s", host);
    if (n < 0 || (size_t)n >= sizeof url)
        return 0; /* a DNS name is at most 253 bytes */
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, (size_t)n, 0, &u) != 0)
        return 0;
    return (u.field_set & (1u << UF_HOST)) &&
           !(u.field_set &
             (1u << UF_PATH | 1u << UF_QUERY | 1u << UF_FRAGMENT | 1u << UF_USERINFO));
}

/* The checks of RFC 9112 that http-parser does not make (§2.3, §3.2). */
static int check_rfc9112(ll_req_t *r)
{
    if (r->http_major != 1 || r->http_minor > 1) {
        r->why = "only HTTP/1.0 and HTTP/1.1 are spoken here";
        return LL_EVERSION;
    }
    size_t hosts = 0, host = 0;
    for (size_t i = 0; i < r->nhdrs; i++) {
        if (strcasecmp(r->head + r->hdrs[i].name, "host") == 0) {
            hosts++;
            host = r->hdrs[i].value;
        }
    }
    if (hosts == 0 && r->http_minor == 1) {
        r->why = "an HTTP/1.1 request must have a Host header (RFC 9112 section 3.2)";
        return LL_EBADREQUEST;
    }
    if (hosts > 1) {
        r->why = "a request may have one Host header only (RFC 9112 section 3.2)";
        return LL_EBADREQUEST;
    }
    if (hosts == 1 && !host_valid(r->head + host)) {
        r->why = "the Host header is not a host name or address with an optional port";
        return LL_EBADREQUEST;
    }
    return 0;
}

int ll_req_end_head(ll_req_t *r)
{
    if (r->last_cb == LAST_FIELD) { /* a name with no value callback */
        if (head_nul(r) < 0)
            return LL_ENOMEM;
        r->hdrs[r->nhdrs - 1].value = r->head_len;
    }
    if (head_nul(r) < 0) /* ends the URL or the last value */
        return LL_ENOMEM;
    trim_values(r);
    int rc = check_rfc9112(r);
    if (rc < 0)
        return rc;
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (r->url_len == 0 ||
        http_parser_parse_url(r->head, r->url_len, r->method == HTTP_CONNECT, &u) != 0) {
        r->why = "malformed HTTP request: invalid request target";
        return LL_EBADREQUEST;
    }
    if ((rc = copy_url_field(r, &u, UF_PATH, &r->path)) < 0 ||
        (rc = copy_url_field(r, &u, UF_QUERY, &r->query)) < 0 || (rc = combine_headers(r)) < 0)
        return rc;
    r->head_done = 1;
    return 0;
}

int ll_req_add_body(ll_req_t *r, const char *at, size_t len, size_t max)
{
    if (len > max - r->body_len)
        return LL_ETOOLARGE;
    /* one extra byte keeps the body NUL-terminated; max + 1 bounds it */
    size_t limit = max < SIZE_MAX ? max + 1 : max;
    int rc = grow_reserve(r, &r->body, r->body_len, &r->body_cap, len + 1, 256, limit);
    if (rc < 0)
        return rc;
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

enum http_method ll_req_method(const ll_req_t *req)
{
    return req->method;
}

const char *ll_req_path(const ll_req_t *req)
{
    return req->head_done ? req->head + req->path : "";
}

const char *ll_req_query(const ll_req_t *req)
{
    return req->head_done ? req->head + req->query : "";
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The next decoded byte of a form-encoded span ('+' is a space), or -1 when
 * the span is badly encoded. Advances *p. */
static int decode_next(const char **p, const char *end)
{
    const char *s = *p;
    if (*s == '+') {
        *p = s + 1;
        return ' ';
    }
    if (*s != '%') {
        *p = s + 1;
        return (unsigned char)*s;
    }
    if (end - s < 3 || unhex(s[1]) < 0 || unhex(s[2]) < 0)
        return -1;
    *p = s + 3;
    return unhex(s[1]) << 4 | unhex(s[2]);
}

/* 1 when the encoded key [k, end) decodes to name. */
static int key_matches(const char *k, const char *end, const char *name)
{
    while (k < end) {
        int ch = decode_next(&k, end);
        if (ch < 0 || *name == '\0' || (unsigned char)*name != ch)
            return 0;
        name++;
    }
    return *name == '\0';
}

int ll_req_query_param(const ll_req_t *req, const char *name, char *out, size_t cap)
{
    const char *q = ll_req_query(req);
    while (*q) {
        const char *amp = strchr(q, '&');
        const char *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *kend = eq ? eq : end;
        if (key_matches(q, kend, name)) {
            const char *v = eq ? eq + 1 : end;
            size_t n = 0;
            while (v < end) {
                int ch = decode_next(&v, end);
                /* a NUL inside would silently cut the C string the caller gets */
                if (ch <= 0 || n + 1 >= cap)
                    return LL_EBADPARAM;
                out[n++] = (char)ch;
            }
            if (cap == 0)
                return LL_EBADPARAM;
            out[n] = '\0';
            return n > INT32_MAX ? LL_EBADPARAM : (int)n;
        }
        q = amp ? amp + 1 : end;
    }
    return LL_ENOTFOUND;
}

/* The value of the first (or last) field line of name; NULL when absent. */
static const char *find_header(const ll_req_t *req, const char *name, int last)
{
    const char *found = NULL;
    if (!req->head_done)
        return NULL;
    for (size_t i = 0; i < req->nhdrs && (last || !found); i++)
        if (req->hdrs[i].name != SIZE_MAX && strcasecmp(req->head + req->hdrs[i].name, name) == 0)
            found = req->head + req->hdrs[i].value;
    return found;
}

const char *ll_req_header(const ll_req_t *req, const char *name)
{
    return find_header(req, name, 0);
}

const char *ll_req_header_last(const ll_req_t *req, const char *name)
{
    return find_header(req, name, 1);
}

const char *ll_req_body(const ll_req_t *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

ll_worker_t *ll_req_worker(const ll_req_t *req)
{
    return req->worker;
}

int ll_req_is_tls(const ll_req_t *req)
{
    return req->conn && req->conn->tls;
}

/* RFC 6797 §7.2: only over TLS, never over plain HTTP. A year is what
 * browsers' preload lists ask for. */
const char *ll_req_hsts_header(const ll_req_t *req)
{
    return ll_req_is_tls(req) && req->conn->w->opts->hsts
               ? "Strict-Transport-Security: max-age=31536000\r\n"
               : "";
}

int ll_req_peer_ip(const ll_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (!req->conn || cap == 0 ||
        uv_tcp_getpeername(req->conn->tcp, (struct sockaddr *)&sa, &len) != 0)
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

void *ll_req_ctx(const ll_req_t *req)
{
    return req->worker->ctx;
}

void ll_req_add_header(ll_req_t *req, const char *name, const char *value)
{
    /* CR or LF in either part would let a caller inject headers or a body */
    if (req->responded || !*name || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
        LL_ERROR("http: response header '%s' refused (invalid or after responding)", name);
        return;
    }
    size_t nl = strlen(name), vl = strlen(value);
    if (nl > SIZE_MAX / 2 || vl > SIZE_MAX / 2 ||
        grow_reserve(req, &req->rhdrs, req->rhdrs_len, &req->rhdrs_cap, nl + 2 + vl + 2, 128,
                     SIZE_MAX) < 0) {
        LL_ERROR("http: out of memory adding response header '%s'", name);
        return;
    }
    char *p = req->rhdrs + req->rhdrs_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    req->rhdrs_len += nl + 2 + vl + 2;
}

/* Marks r answered and passes it on: to its connection's write queue, or to
 * free() when it is an orphan. */
static void deliver(ll_req_t *r)
{
    r->responded = 1;
    if (!r->conn) {
        ll_req_free(r);
        return;
    }
    ll_conn_flush(r->conn);
}

static void respond_oom(ll_req_t *r)
{
    r->resp_head = oom_response;
    r->resp_head_len = sizeof oom_response - 1;
    r->resp_body = NULL;
    r->resp_body_len = 0;
    r->keep_alive = 0;
    deliver(r);
}

/* Guards every public respond: returns 1 when the caller must stop. */
static int answered_or_orphan(ll_req_t *r)
{
    if (r->responded) {
        LL_ERROR("http: request %s answered twice", ll_req_path(r));
        return 1;
    }
    if (!r->conn) { /* nobody will read it: skip the work */
        ll_req_free(r);
        return 1;
    }
    return 0;
}

/* Builds req's response head in its arena and hands req on; the body goes
 * out as it is when body_kept (the request owns it, or it is constant data
 * of the program), and as one copy in the arena otherwise. The caller has
 * made sure req is neither answered nor an orphan. */
void ll_req_on_status(ll_req_t *req, void (*cb)(void *arg, int status), void *arg)
{
    req->status_cb = cb;
    req->status_arg = arg;
}

void ll_req_note_status(ll_req_t *req, int status)
{
    if (req->status_cb)
        req->status_cb(req->status_arg, status);
    req->status_cb = NULL; /* once */
}

static void respond(ll_req_t *req, int status, const char *content_type, const char *body,
                    size_t len, int body_kept)
{
    if (status < 100 || status > 999)
        status = 500;
    ll_req_note_status(req, status);
    if (content_type && strpbrk(content_type, "\r\n")) {
        LL_ERROR("http: content type refused (CR or LF in it)");
        content_type = NULL;
    }
    const char *reason = http_status_str((enum http_status)status);
    const char *conn_hdr = !req->keep_alive       ? "Connection: close\r\n"
                           : req->http_minor == 0 ? "Connection: keep-alive\r\n"
                                                  : "";
    const char *hsts_hdr = ll_req_hsts_header(req);
    /* RFC 9110 §8.6, §15.4.5: no Content-Length or body for 1xx, 204, 304;
     * HEAD gets the headers GET would, without the body (§9.3.2). */
    int bodiless = status < 200 || status == 204 || status == 304;
    size_t blen = bodiless || req->method == HTTP_HEAD ? 0 : len;
    char clen_hdr[48] = "";
    if (!bodiless)
        snprintf(clen_hdr, sizeof clen_hdr, "Content-Length: %zu\r\n", len);
    const char *ct_name = content_type ? "Content-Type: " : "";
    const char *ct_end = content_type ? "\r\n" : "";
    const char *ct = content_type ? content_type : "";
    int hn = snprintf(NULL, 0, "HTTP/1.1 %d %s\r\n%s%s%s%s", status, reason, ct_name, ct, ct_end,
                      clen_hdr);
    size_t clen = strlen(conn_hdr), slen = strlen(hsts_hdr);
    if (hn < 0) {
        respond_oom(req);
        return;
    }
    size_t total = (size_t)hn + req->rhdrs_len + slen + clen + 2;
    char *out = ll_arena_alloc(&req->arena, total + 1); /* snprintf writes a NUL */
    if (!out) {
        respond_oom(req);
        return;
    }
    size_t n = (size_t)snprintf(out, (size_t)hn + 1, "HTTP/1.1 %d %s\r\n%s%s%s%s", status, reason,
                                ct_name, ct, ct_end, clen_hdr);
    if (req->rhdrs_len)
        memcpy(out + n, req->rhdrs, req->rhdrs_len);
    n += req->rhdrs_len;
    memcpy(out + n, hsts_hdr, slen);
    n += slen;
    memcpy(out + n, conn_hdr, clen);
    n += clen;
    memcpy(out + n, "\r\n", 2);
    if (blen && !body_kept) {
        char *copy = ll_arena_alloc(&req->arena, blen);
        if (!copy) {
            respond_oom(req);
            return;
        }
        memcpy(copy, body, blen);
        body = copy;
    }
    req->resp_head = out;
    req->resp_head_len = total;
    req->resp_body = blen ? body : NULL;
    req->resp_body_len = blen;
    deliver(req);
}

/* Answers with text, a heap body the request takes over (and frees with
 * itself, whatever happens). */
static void respond_owned(ll_req_t *req, int status, const char *content_type, char *text)
{
    req->resp_body_owned = text;
    respond(req, status, content_type, text, strlen(text), 1);
}

void ll_req_respond(ll_req_t *req, int status, const char *content_type, const char *body,
                    size_t len)
{
    if (answered_or_orphan(req))
        return;
    respond(req, status, content_type, body, len, 0);
}

void ll_req_respond_static(ll_req_t *req, int status, const char *content_type, const char *body,
                           size_t len)
{
    if (answered_or_orphan(req))
        return;
    respond(req, status, content_type, body, len, 1);
}

void ll_req_respond_json(ll_req_t *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, LL_JSON_FLAGS) : NULL;
    json_decref(body); /* the caller's reference was stolen */
    if (!text) {
        ll_req_respond_error(req, LL_EINTERNAL, "response could not be encoded");
        return;
    }
    if (answered_or_orphan(req)) {
        free(text);
        return;
    }
    respond_owned(req, status, "application/json", text);
}

void ll_req_respond_error(ll_req_t *req, int err, const char *fmt, ...)
{
    if (answered_or_orphan(req))
        return;
    char msg[LL_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int status = ll_err_status(err);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", ll_err_code(err), "message", msg);
    if (!j) /* msg was not valid UTF-8 (it may quote the request): say less */
        j = json_pack("{s:{s:s,s:s}}", "error", "code", ll_err_code(err), "message",
                      http_status_str((enum http_status)status));
    char *text = j ? json_dumps(j, LL_JSON_FLAGS) : NULL;
    json_decref(j);
    if (!text) {
        respond_oom(req);
        return;
    }
    respond_owned(req, status, "application/json", text);
}
