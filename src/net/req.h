/* net/req.h: internal to net/: the fields of a request, private to the
 * network layer. http.c builds a request while parse.c runs the parser
 * (ll_req_add_*) and builds its response head; conn.c queues it and writes
 * the head and the body as two bufs. Code outside net/ sees only ll_req_t
 * and the accessors of net/http.h.
 * Owns:    a request owns its parse results and its response; its
 *          connection owns it from the first byte until the response is
 *          written; an orphan (conn == NULL) owns itself until a
 *          ll_req_respond* call frees it.
 * Frees:   ll_req_free() releases everything a request holds in one call:
 *          its arena (net/arena.h; first chunk allocated with the request),
 *          and a heap response body it took over.
 * Threads: the worker thread that owns the connection, only.
 *
 * Memory. Every buffer of a request comes from its arena: the head, the
 * header table, the body, the response headers and head, and a response
 * body that must be copied. The growing ones (head, header table, body,
 * response headers) double by ll_arena_realloc: in place while they are
 * the newest allocation, else by one copy inside the arena; the body kept
 * in the arena too, rather than a heap buffer of its own, because the usual
 * one (a transaction, a few hundred bytes) then costs no malloc at all, and
 * a body of LL_ARENA_LARGE bytes or more is a large block grown by realloc
 * just as the heap buffer was. Every buffer a client fills is bounded: the
 * head by the server's max_head_bytes (parse.c), the header table by
 * LL_REQ_MAX_HEADERS, the body by max_body_bytes (its capacity never passes
 * max + 1).
 *
 * The response is two pieces, written as two bufs: resp_head (status line,
 * headers, Connection, blank line) and resp_body. The body is never copied
 * into the head; it is bytes in the binary's read-only data (web assets,
 * string literals: referenced as they are), a heap buffer the request took
 * over (JSON text), or one copy in the arena (any other caller's bytes). */
#ifndef LL_NET_REQ_H
#define LL_NET_REQ_H

#include "net/arena.h"
#include "net/http.h"

#include <stddef.h>
#include <uv.h>

typedef struct ll_conn ll_conn_t;

/* A header as offsets into ll_req.head: the buffer may move while it grows. */
typedef struct ll_req_hdr {
    size_t name;
    size_t value;
} ll_req_hdr_t;

struct ll_req {
    ll_req_t *next;  /* the connection's queue, then its write batch */
    ll_conn_t *conn; /* NULL once orphaned */
    ll_worker_t *worker;
    uv_write_t write; /* used when this request heads a write batch */
    enum http_method method;
    unsigned short http_major;
    unsigned short http_minor;
    int keep_alive;  /* the connection stays open after this response */
    const char *why; /* static text: why the head was refused (RFC 9112) */
    int head_done;   /* head parsed and checked; path/query/headers valid */
    int responded;
    void (*status_cb)(void *arg, int status); /* ll_req_on_status */
    void *status_arg;
    int last_cb; /* parse state: which header callback ran last */
    /* Request line and headers, NUL-separated: URL, name, value, …, then the
     * path and query copies and any combined header values. */
    char *head;
    size_t head_len, head_cap;
    size_t url_len;     /* the URL starts at offset 0 */
    size_t path, query; /* offsets, valid once head_done */
    ll_req_hdr_t *hdrs;
    size_t nhdrs, hdrs_cap;
    char *body; /* NUL-terminated; NULL while empty */
    size_t body_len, body_cap;
    char *rhdrs; /* response headers from ll_req_add_header, "Name: v\r\n"… */
    size_t rhdrs_len, rhdrs_cap;
    const char *resp_head; /* in the arena, or static bytes */
    size_t resp_head_len;
    const char *resp_body; /* see "The response" above; NULL when empty */
    size_t resp_body_len;
    char *resp_body_owned; /* a heap body taken over: freed by ll_req_free */
    ll_arena_t arena;      /* last: its first chunk follows the struct */
};

/* A request and the first chunk of its arena are one malloc of this size. */
#define LL_REQ_ALLOC_SIZE 4096

/* At most this many distinct request headers; more answers 431. */
#define LL_REQ_MAX_HEADERS 100

/* http.c: building a request while parse.c parses it. */
ll_req_t *ll_req_new(ll_conn_t *c, ll_worker_t *w);
void ll_req_free(ll_req_t *r);
int ll_req_add_url(ll_req_t *r, const char *at, size_t len);
/* Returns 0, LL_EBADREQUEST (whitespace in a field name; r->why says so),
 * LL_EHEADERS (too many headers) or LL_ENOMEM. */
int ll_req_add_field(ll_req_t *r, const char *at, size_t len);
int ll_req_add_value(ll_req_t *r, const char *at, size_t len);
/* Terminates the head (r->method and the version must be set), checks it
 * against RFC 9112, splits the URL, trims trailing whitespace off values
 * and combines repeated headers. Returns 0, LL_EVERSION (not HTTP/1.0 or
 * 1.1), LL_EBADREQUEST (bad URL; no, repeated or invalid Host), LL_EHEADERS
 * or LL_ENOMEM; r->why says what was refused. */
int ll_req_end_head(ll_req_t *r);
/* Returns 0, LL_ETOOLARGE when the body would pass max, or LL_ENOMEM. */
int ll_req_add_body(ll_req_t *r, const char *at, size_t len, size_t max);

#endif
