/* net/conn.h: internal to net/: the seams between a connection (conn.c:
 * read, queue, write, timeouts, close, take-over), its parser (parse.c:
 * bytes into requests, the head checks of RFC 9112, answers to what cannot
 * be parsed) and a request (http.c: parse results, accessors, response
 * bytes). Nothing outside net/ includes this.
 * Owns:    a connection owns its requests from the first byte until their
 *          response is written; an orphan (conn == NULL) owns itself until a
 *          ll_req_respond* call frees it.
 * Frees:   ll_req_free() releases everything a request holds in one call; a
 *          connection frees itself once its handles have closed.
 * Threads: the worker thread that owns the connection, only. */
#ifndef LL_NET_CONN_H
#define LL_NET_CONN_H

#include "net/http.h"
#include "net/worker.h"

#include <stddef.h>
#include <stdint.h>
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
    int keep_alive;  /* the connection stays open after this response */
    const char *why; /* static text: why the head was refused (RFC 9112) */
    int head_done;   /* head parsed and checked; path/query/headers valid */
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

/* ---- the connection (conn.c), and its parser (parse.c) ------------------- */

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
    size_t write_seen;       /* bytes libuv still held at the last look */
    char *rest;              /* unparsed bytes kept while the parser is paused */
    size_t rest_len;
    uint64_t nparsed;     /* requests completed on this connection */
    uint64_t head_start;  /* loop time of the current head's first byte */
    uint64_t body_start;  /* loop time the current head was complete */
    uint64_t write_since; /* loop time of the last write progress seen */
    uint64_t idle_since;
    int fail_err; /* why a parser callback returned non-zero */
    int handles;  /* uv handles still open; freed at 0 */
    unsigned reading : 1;
    unsigned paused : 1;            /* parser paused, reading stopped: pipeline full */
    unsigned head_check : 1;        /* parser paused at the end of a head */
    unsigned msg_done : 1;          /* parser paused at the end of a request */
    unsigned head_lf : 1;           /* the last head byte parsed was LF */
    unsigned stop_parsing : 1;      /* no more requests: later bytes are discarded */
    unsigned close_after_write : 1; /* a "Connection: close" response was flushed */
    unsigned draining : 1;          /* client sent EOF: finish writes, then close */
    unsigned lingering : 1;         /* our write side is shut: read until EOF */
    unsigned closing : 1;           /* uv_close() called */
    unsigned taken : 1;             /* handed to a stream owner (ll_req_take_over) */
    const ll_takeover_t *tk;        /* the owner's callbacks, once taken */
    void *owner;
};

/* parse.c: feeds bytes read to the parser: requests are queued and handed
 * to the handler as they complete; a request that breaks a limit or RFC
 * 9112 is answered with its error and ends the connection. */
void ll_conn_parse_init(ll_conn_t *c);
void ll_conn_feed(ll_conn_t *c, const char *data, size_t len);
/* The pipeline has room again: parses the bytes kept, then reads again. */
void ll_conn_unpause(ll_conn_t *c);
/* Answers the request being parsed with err (why: static text, or NULL for
 * the usual words), after those before it, and closes once that is written. */
void ll_conn_fail(ll_conn_t *c, int err, const char *why);
/* 1 while the responses waiting for the client pass LL_CONN_OUTPUT_PAUSE. */
int ll_conn_output_full(ll_conn_t *c);

/* conn.c, for parse.c. */
uint64_t ll_conn_now(const ll_conn_t *c);
void ll_conn_reading(ll_conn_t *c, int on); /* uv_read_start / uv_read_stop */
void ll_conn_enqueue(ll_conn_t *c, ll_req_t *r);
void ll_conn_close(ll_conn_t *c);
void ll_conn_send_continue(ll_conn_t *c);
void ll_conn_rearm(ll_conn_t *c);

/* Reading of a connection pauses while its unwritten responses hold more
 * than this many bytes (a client that sends requests and reads nothing). */
#define LL_CONN_OUTPUT_PAUSE (256 * 1024)

/* conn.c: accepts one connection from the worker's listener. */
void ll_conn_accept(ll_worker_t *w, uv_stream_t *listener);

/* conn.c: a request of c now has its response; writes what is in order. */
void ll_conn_flush(ll_conn_t *c);

/* conn.c: closes every connection of w now (requests in flight become
 * orphans). Their handles finish closing on later loop iterations; w->nconns
 * reaches 0 when they have. */
void ll_conn_close_all(ll_worker_t *w);

#endif
