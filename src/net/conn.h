/* net/conn.h: internal to net/: the seams between a connection (conn.c:
 * read, queue, write, timeouts, close, hand-over of its socket to a stream)
 * and its parser (parse.c: bytes into requests, the head checks of RFC
 * 9112, answers to what cannot be parsed). Nothing outside net/ includes
 * this.
 * Owns:    a connection owns its requests from the first byte until their
 *          response is written (net/req.h), and its socket until it closes
 *          it or hands it over.
 * Frees:   a connection frees itself once its handles have closed and its
 *          last write callback has run.
 * Threads: the worker thread that owns the connection, only. */
#ifndef LL_NET_CONN_H
#define LL_NET_CONN_H

#include "net/http.h"
#include "net/req.h"
#include "net/tls.h"
#include "net/worker.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- the connection (conn.c), and its parser (parse.c) ------------------- */

/* What the new owner of a handed-over socket gets once the parser returns:
 * the bytes read past the request (ll_conn_hand_over). */
typedef void (*ll_conn_rest_cb)(void *heir, const char *data, size_t len);

struct ll_conn {
    uv_tcp_t *tcp; /* apart from the connection: it outlives it when handed over */
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    ll_tls_t *tls;  /* NULL on plain TCP; goes with the socket when handed over */
    uv_poll_t poll; /* the TLS handshake's wait for the socket */
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
    unsigned closing : 1;           /* uv_close() called, or the socket handed over */
    unsigned handshaking : 1;       /* TLS handshake under way: poll open, no reading */
    ll_conn_rest_cb heir_cb;        /* set by ll_conn_hand_over (then tcp is NULL) */
    void *heir;
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

/* conn.c, for stream_conn.c: ends HTTP on req's connection and gives its
 * socket (and its TLS session, in *tls: NULL on plain TCP) away. Must be
 * called from the handler of req, which must be first in line: req is
 * consumed, requests pipelined after it are dropped, reading stops, and
 * once the parser returns, rest_cb(heir) gets the bytes that followed req
 * in its read (and, over TLS, the plaintext of the rest of that read). The connection then forgets
 * the socket and frees itself when the answers it wrote before are done. Returns NULL when the
 * client is gone (req freed) or req is not first (answered 400). */
uv_tcp_t *ll_conn_hand_over(ll_req_t *req, ll_conn_rest_cb rest_cb, void *heir, ll_tls_t **tls);

/* Once the socket is handed over (c->tcp is NULL): passes bytes that
 * followed the request to the heir (parse.c, when the parser returns;
 * conn.c, for TLS records decrypted after it). */
void ll_conn_pass_rest(ll_conn_t *c, const char *data, size_t len);

/* conn.c: closes every connection of w now (requests in flight become
 * orphans). Their handles finish closing on later loop iterations; w->nconns
 * reaches 0 when they have. */
void ll_conn_close_all(ll_worker_t *w);

#endif
