/* net/server.h: the listening side: N worker threads, each with its own uv
 * loop and its own SO_REUSEPORT listener on the same address, so the kernel
 * spreads connections over workers and no connection is ever shared.
 * Owns:    the worker threads, their loops, listeners and connections.
 * Frees:   ll_server_stop() ends and joins everything it started.
 * Threads: ll_server_* are called from the main thread only; ll_worker_*
 *          as each says. */
#ifndef LL_NET_SERVER_H
#define LL_NET_SERVER_H

#include "net/http.h"
#include "net/tls.h"
#include "util/taskq.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ll_server ll_server_t;

typedef struct ll_server_opts {
    const char *host; /* numeric IPv4 or IPv6 address */
    int port;         /* 0 picks a free port (see ll_server_port) */
    int workers;      /* >= 1 */
    ll_http_handler_cb handler;
    /* Runs on each worker thread before it serves; its result is
     * ll_req_ctx() for that worker's requests. May be NULL. */
    void *(*worker_init)(ll_worker_t *w, void *arg);
    /* Runs on the worker thread after its last connection is closed. */
    void (*worker_fini)(void *ctx);
    void *arg;
    size_t max_head_bytes;      /* request line + headers; over it: 431 */
    size_t max_body_bytes;      /* over it: 413 */
    uint32_t header_timeout_ms; /* a request head must arrive within it */
    /* A body gets header_timeout_ms from the end of its head plus 1 s per
     * body_min_rate bytes received, so an upload at least this fast (bytes
     * per second) never times out and a trickle does (408). 0: no credit. */
    size_t body_min_rate;
    uint32_t idle_timeout_ms; /* keep-alive connection with no request;
                                 also a client that takes none of its
                                 responses' bytes for this long */
    size_t max_pipelined;     /* requests in flight per connection before
                                 reading pauses */
    /* Serve TLS on every connection (net/tls.h; NULL: plain TCP). The
     * context is the caller's and outlives the server. */
    ll_tls_ctx_t *tls;
    int hsts; /* with tls: Strict-Transport-Security on every response */
} ll_server_opts_t;

/* Fills the defaults: 16 KiB head, 1 MiB body, 10 s head, a body rate of
 * 8 KiB/s, 60 s idle, 32 pipelined. */
void ll_server_opts_defaults(ll_server_opts_t *o);

/* Binds every listener, then starts the workers. Returns 0, or LL_EIO with
 * the reason logged (address in use, bad address, …). */
int ll_server_start(const ll_server_opts_t *opts, ll_server_t **out);

/* The bound port (useful with port 0). */
int ll_server_port(const ll_server_t *srv);

/* Closes the listeners; connections already open go on being served. */
void ll_server_stop_accepting(ll_server_t *srv);

/* Closes every connection, runs worker_fini, joins and frees everything. */
void ll_server_stop(ll_server_t *srv);

/* ---- a worker, from its own thread ------------------------------------------ */

/* Its inbox: other threads post tasks here to run on the worker's loop
 * (any thread may post). */
ll_taskq_t *ll_worker_taskq(ll_worker_t *w);
/* Its loop, for handles of the worker's own (worker thread only). */
uv_loop_t *ll_worker_loop(ll_worker_t *w);
/* 0 .. workers-1 (any thread). */
int ll_worker_index(const ll_worker_t *w);

#endif
