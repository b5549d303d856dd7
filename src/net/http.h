/* net/http.h: one parsed HTTP/1.1 request and its response; the boundary
 * between the network layer and the route handlers in api/.
 * Owns:    the request (URL, headers, body) and the response bytes until they
 *          are written. A request outlives its connection when the client
 *          goes away while a handler is still working: it is then an orphan
 *          and responding to it only frees it.
 * Threads: everything here runs on the worker thread that owns the
 *          connection. A handler that needs another thread (the ledger) posts
 *          a task there and responds from a task posted back to
 *          ll_worker_taskq(ll_req_worker(req)).
 *
 * Each request is answered exactly once, by one of the ll_req_respond*
 * calls; responses go out in request order even when handlers finish out of
 * order (pipelining). */
#ifndef LL_NET_HTTP_H
#define LL_NET_HTTP_H

#include "util/taskq.h"

#include <http_parser.h>
#include <jansson.h>
#include <stddef.h>

typedef struct ll_req ll_req_t;
typedef struct ll_worker ll_worker_t;

/* Called on the worker thread for every complete request. */
typedef void (*ll_http_handler_cb)(ll_req_t *req);

enum http_method ll_req_method(const ll_req_t *req);

/* The path without query string, e.g. "/api/v1/blocks/7"; never NULL. */
const char *ll_req_path(const ll_req_t *req);

/* The raw query string without '?', "" when absent. */
const char *ll_req_query(const ll_req_t *req);

/* Percent-decodes the first value of name in the query string into out
 * (NUL-terminated). Returns its length, LL_ENOTFOUND when absent, or
 * LL_EBADPARAM when it does not fit in cap or is badly encoded. */
int ll_req_query_param(const ll_req_t *req, const char *name, char *out, size_t cap);

/* Case-insensitive lookup; NULL when absent. */
const char *ll_req_header(const ll_req_t *req, const char *name);

/* The request body (NUL-terminated for convenience; len excludes the NUL). */
const char *ll_req_body(const ll_req_t *req, size_t *len);

ll_worker_t *ll_req_worker(const ll_req_t *req);

/* The client's IP address as text ("127.0.0.1", "::1") into out (cap >= 46,
 * INET6_ADDRSTRLEN). Returns 0, or LL_ENOTFOUND once the request is orphaned
 * or the peer is unknown. For per-client limits: it is the TCP peer, so a
 * proxy in front makes every client one address. */
int ll_req_peer_ip(const ll_req_t *req, char *out, size_t cap);

/* The per-worker context that server_opts.worker_init returned. */
void *ll_req_ctx(const ll_req_t *req);

/* Adds a response header (copied), before responding. */
void ll_req_add_header(ll_req_t *req, const char *name, const char *value);

/* Answers with the bytes given (copied). content_type may be NULL for none. */
void ll_req_respond(ll_req_t *req, int status, const char *content_type, const char *body,
                    size_t len);

/* Answers with body as compact JSON (steals the reference). */
void ll_req_respond_json(ll_req_t *req, int status, json_t *body);

/* Answers {"error":{"code": ll_err_code(err), "message": <fmt…>}} with
 * ll_err_status(err). */
void ll_req_respond_error(ll_req_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- taking a connection over (WebSocket, SSE) ----------------------------- */

typedef struct ll_conn ll_conn_t;

typedef struct ll_takeover {
    /* Bytes the client sent after the request (WebSocket frames). Not
     * called between ll_conn_read_stop and ll_conn_read_start, nor after
     * ll_conn_end; the bytes are the caller's until it returns. */
    void (*on_data)(void *owner, const char *data, size_t len);
    /* The client is gone or ll_conn_end was called, the socket is closed and
     * every write callback has run: the owner frees itself now. */
    void (*on_closed)(void *owner);
    /* The server is stopping: say goodbye (a WebSocket close frame), then
     * ll_conn_end. The connection is closed regardless after 2 s. */
    void (*on_shutdown)(void *owner);
} ll_takeover_t;

/* Answers req with head (copied: a complete response head, e.g. the 101 of
 * a WebSocket upgrade or the 200 of an event stream) and hands the
 * connection to owner: bytes read go to cbs->on_data, the owner writes to
 * ll_conn_stream(), and ll_conn_end() closes it. Must be called from the
 * handler, for a request with nothing unanswered before it; requests
 * pipelined after it are dropped. req is consumed. Returns NULL when the
 * client is already gone or req was not first (then answered 400); the
 * owner is not called in that case. */
ll_conn_t *ll_req_take_over(ll_req_t *req, const char *head, size_t len, const ll_takeover_t *cbs,
                            void *owner);

/* The socket of a taken-over connection, for uv_try_write / uv_write. */
uv_stream_t *ll_conn_stream(ll_conn_t *c);

/* Backpressure for the owner of a taken-over connection: stop reading from
 * the client (its bytes wait in the kernel, and then it cannot send) while
 * what the owner must answer cannot be written; start again once it can. */
void ll_conn_read_stop(ll_conn_t *c);
void ll_conn_read_start(ll_conn_t *c);

/* Closes a taken-over connection: FIN after what is queued, then the socket
 * once the client closes too, or after 2 s (also when the client reads
 * nothing and so never gets the FIN). The owner's on_closed follows. */
void ll_conn_end(ll_conn_t *c);

/* Closes now with a reset (RST): for a client that reads nothing, whose
 * unsent bytes would otherwise wait in the kernel. on_closed follows. */
void ll_conn_abort(ll_conn_t *c);

/* The worker that owns this connection's loop. */
ll_taskq_t *ll_worker_taskq(ll_worker_t *w);
uv_loop_t *ll_worker_loop(ll_worker_t *w);
int ll_worker_index(const ll_worker_t *w);

#endif
