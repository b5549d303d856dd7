/* net/http.h: one parsed HTTP/1.1 request and its response; the boundary
 * between the network layer and the route handlers in api/.
 * Owns:    the request (URL, headers, body) and the response bytes until they
 *          are written. A request outlives its connection when the client
 *          goes away while a handler is still working: it is then an orphan
 *          and responding to it only frees it.
 * Threads: everything here runs on the worker thread that owns the
 *          connection. A handler that needs another thread (the ledger) posts
 *          a task there and responds from a task posted back to
 *          ll_worker_taskq(ll_req_worker(req)) (net/server.h).
 *
 * Each request is answered exactly once, by one of the ll_req_respond*
 * calls; responses go out in request order even when handlers finish out of
 * order (pipelining). */
#ifndef LL_NET_HTTP_H
#define LL_NET_HTTP_H

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

/* The same, the last field line of name: for a list that each proxy
 * appends to (RFC 9110 §5.3), whose newest element is at its end. */
const char *ll_req_header_last(const ll_req_t *req, const char *name);

/* The request body (NUL-terminated for convenience; len excludes the NUL). */
const char *ll_req_body(const ll_req_t *req, size_t *len);

ll_worker_t *ll_req_worker(const ll_req_t *req);

/* The client's IP address as text ("127.0.0.1", "::1") into out (cap >= 46,
 * INET6_ADDRSTRLEN). Returns 0, or LL_ENOTFOUND once the request is orphaned
 * or the peer is unknown. For per-client limits: it is the TCP peer, so a
 * proxy in front makes every client one address. */
int ll_req_peer_ip(const ll_req_t *req, char *out, size_t cap);

/* 1 when req came over TLS (--tls-cert; net/tls.h). */
int ll_req_is_tls(const ll_req_t *req);

/* The Strict-Transport-Security header line (with its CRLF) that every
 * response to req carries (--hsts, over TLS), or "". */
const char *ll_req_hsts_header(const ll_req_t *req);

/* The per-worker context that server_opts.worker_init returned. */
void *ll_req_ctx(const ll_req_t *req);

/* Adds a response header (copied), before responding. */
void ll_req_add_header(ll_req_t *req, const char *name, const char *value);

/* Answers with the bytes given (copied once, into the request's arena).
 * content_type may be NULL for none. */
void ll_req_respond(ll_req_t *req, int status, const char *content_type, const char *body,
                    size_t len);

/* The same for bytes that live as long as the process (string literals,
 * the web assets compiled into the binary): written from where they are,
 * never copied. */
void ll_req_respond_static(ll_req_t *req, int status, const char *content_type, const char *body,
                           size_t len);

/* Answers with body as compact JSON (steals the reference). */
void ll_req_respond_json(ll_req_t *req, int status, json_t *body);

/* cb(arg, status) runs once, with the status of req's response, when its
 * head is written (by a respond call, or by a stream taking the connection
 * over: ll_req_note_status). For counting: it must not touch req. */
void ll_req_on_status(ll_req_t *req, void (*cb)(void *arg, int status), void *arg);

/* A stream that writes its own head (101, or 200 for SSE) reports it. */
void ll_req_note_status(ll_req_t *req, int status);

/* Answers {"error":{"code": ll_err_code(err), "message": <fmt…>}} with
 * ll_err_status(err). */
void ll_req_respond_error(ll_req_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
