/* net/conn.h: internal to net/: the seam between a connection (conn.c: read,
 * parse, queue, write, timeouts, close) and a request (http.c: parse results,
 * accessors, response bytes). Nothing outside net/ includes this.
 * Owns:    a connection owns its requests from the first byte until their
 *          response is written; an orphan (conn == NULL) owns itself until a
 *          ll_req_respond* call frees it.
 * Frees:   ll_req_free() releases everything a request holds in one call.
 * Threads: the worker thread that owns the connection, only. */
#ifndef LL_NET_CONN_H
#define LL_NET_CONN_H

#include "net/http.h"
#include "net/worker.h"

#include <stddef.h>
#include <uv.h>

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
    int keep_alive; /* the connection stays open after this response */
    int head_done;  /* head parsed and checked; path/query/headers valid */
    int responded;
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
    char *resp; /* the whole response; points at static bytes if resp_static */
    size_t resp_len;
    int resp_static;
};

/* At most this many distinct request headers; more answers 431. */
#define LL_REQ_MAX_HEADERS 100

/* http.c: building a request while conn.c parses it. */
ll_req_t *ll_req_new(ll_conn_t *c, ll_worker_t *w);
void ll_req_free(ll_req_t *r);
int ll_req_add_url(ll_req_t *r, const char *at, size_t len);
int ll_req_add_field(ll_req_t *r, const char *at, size_t len);
int ll_req_add_value(ll_req_t *r, const char *at, size_t len);
/* Terminates the head, splits the URL and combines repeated headers.
 * Returns 0, LL_EBADREQUEST (bad URL), LL_EHEADERS or LL_ENOMEM. */
int ll_req_end_head(ll_req_t *r);
/* Returns 0, LL_ETOOLARGE when the body would pass max, or LL_ENOMEM. */
int ll_req_add_body(ll_req_t *r, const char *at, size_t len, size_t max);

/* conn.c: accepts one connection from the worker's listener. */
void ll_conn_accept(ll_worker_t *w, uv_stream_t *listener);

/* conn.c: a request of c now has its response; writes what is in order. */
void ll_conn_flush(ll_conn_t *c);

/* conn.c: closes every connection of w now (requests in flight become
 * orphans). Their handles finish closing on later loop iterations; w->nconns
 * reaches 0 when they have. */
void ll_conn_close_all(ll_worker_t *w);

#endif
