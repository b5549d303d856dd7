/* api/api.h: the REST routes of API.md §3 on top of net/http.h.
 * Owns:    ll_api_t (shared, read-only after start: config, ledger; its
 *          counters are atomic) and one ll_api_worker_t per worker (its
 *          read-only store connection, its line of batches).
 * Threads: ll_api_handle and the route handlers run on worker threads; the
 *          ledger answers through the worker's task queue. Password hashes
 *          and batch checks run on libuv's thread pool and come back to
 *          their worker the same way.
 *
 * Handlers never block on the ledger thread: they post an ll_ledger_req_t
 * and respond from its reply. Committed data (blocks, accounts) is read
 * directly through the worker's own SQLite reader (WAL snapshot). */
#ifndef LL_API_API_H
#define LL_API_API_H

#include "auth/custody.h"
#include "config.h"
#include "ledger/ledger.h"
#include "nats/feed.h"
#include "net/http.h"
#include "net/server.h"
#include "relay/relay.h"
#include "store/store.h"
#include "stream/fanout.h"
#include "stream/hub.h"

#include <stdatomic.h>

/* Room for the router's table (router.c checks it) and the statuses the
 * node answers with (router.c: statuses). */
#define LL_API_ROUTES_MAX 32
#define LL_API_STATUS_KINDS 22

typedef struct ll_api {
    const ll_config_t *config;
    ll_ledger_t *ledger;
    const ll_custody_t *custody; /* seals the messenger's keys (auth/custody.h) */
    ll_hub_t *hub;               /* the ledger publishes event batches here */
    ll_nats_feed_t *nats_feed;   /* NULL without --nats (nats/feed.h) */
    ll_relay_t *relay;           /* a relay's (relay/relay.h); NULL on the node */
    ll_tls_ctx_t *tls;           /* --tls-cert's (net/tls.h); NULL: plain HTTP */
    ll_stream_stats_t streams;   /* a slot per worker's fan-out (stream/stats.h) */
    _Atomic uint64_t requests;   /* every worker counts here, for /metrics */
    /* Responses by route (router.c's table, then "unmatched") and status
     * (router.c's list, then "other"), for /metrics. */
    _Atomic uint64_t responses[LL_API_ROUTES_MAX + 1][LL_API_STATUS_KINDS + 1];
    /* Batch submissions over every worker, for /metrics (api/transactions.c):
     * being checked on the thread pool, and waiting in a worker's line. */
    _Atomic int64_t batches_checking;
    _Atomic int64_t batches_waiting;
} ll_api_t;

/* A batch submission on its way to the ledger (api/transactions.c). */
typedef struct ll_api_batch ll_api_batch_t;

typedef struct ll_api_worker {
    ll_api_t *app;
    ll_worker_t *worker;
    ll_store_t *reader;
    ll_fanout_t *fanout; /* this worker's subscribers */
    ll_hub_sink_t *sink; /* its registration with the hub */
    /* This worker's batches (api/transactions.c): how many are on the
     * thread pool, and the line of those waiting their turn. */
    unsigned batches_checking;
    unsigned batches_waiting;
    ll_api_batch_t *batch_head, *batch_tail;
} ll_api_worker_t;

/* server_opts.worker_init / worker_fini: open and close the worker's reader. */
void *ll_api_worker_init(ll_worker_t *w, void *app);
void ll_api_worker_fini(void *ctx);

/* worker_fini: answers the batches still waiting in ctx's line (the node is
 * stopping) and frees them. Batches on the thread pool then finish on
 * their own, without ctx. */
void ll_api_batches_close(ll_api_worker_t *ctx);

/* Fills opts for a server of app's routes on app->config's listener and
 * workers (the node's and a relay's alike). */
void ll_api_server_opts(ll_api_t *app, ll_server_opts_t *opts);

/* server_opts.handler: routes one request. */
void ll_api_handle(ll_req_t *req);

/* For /metrics: how many routes there are, route i's label ("POST
 * /api/v1/transactions"; i == that count: "unmatched"), and status kind
 * k's label ("202"; k == LL_API_STATUS_KINDS: "other"). */
size_t ll_api_route_count(void);
const char *ll_api_route_label(size_t i, char *buf, size_t cap);
const char *ll_api_status_label(int k, char *buf, size_t cap);

/* ---- route handlers (one file per group) ---------------------------------- */
/* param is the path segment matched by '*' in the route, or NULL. */
typedef void (*ll_api_route_cb)(ll_api_worker_t *ctx, ll_req_t *req, const char *param);

void ll_api_root(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_healthz(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* A file of web/ by its name (param); 404 when there is none. */
void ll_api_static(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_metrics(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_tx_submit(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_tx_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_faucet(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_block_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_account_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_receipt_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* api/blocks.c: GET /api/v1/blocks?before=&limit= */
void ll_api_blocks_list(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* api/accounts.c: GET /api/v1/accounts/{address}/transactions */
void ll_api_account_txs(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* api/contracts.c: GET /api/v1/contracts/{address} */
void ll_api_contract_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* api/sessions.c */
void ll_api_register(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_login(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_logout(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_me(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* api/messages.c */
void ll_api_message_post(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
void ll_api_messages_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param);
/* api/streams.c: param is the stream name (valid_tx, valid_transactions,
 * events) for the WebSocket route, NULL for SSE. */
void ll_api_ws_stream(ll_api_worker_t *ctx, ll_req_t *req, const char *param);

/* api/origin.c. 1 when the client reached the node over https: the node's
 * own TLS (--tls-cert), or a reverse proxy: the TCP peer is one of
 * --trusted-proxies and it sent "X-Forwarded-Proto: https" (one value; a
 * list is not believed). From any other peer the header is ignored, since
 * a client can write it. */
int ll_api_client_https(const ll_api_worker_t *ctx, const ll_req_t *req);

/* api/origin.c. The client's IP address as text into out (cap >= 46), for
 * the per-address limits: the last address of X-Forwarded-For when the TCP
 * peer is one of --trusted-proxies (the one that proxy saw: what comes
 * before it, the client may have written), else the TCP peer. Returns 0,
 * or LL_ENOTFOUND once the request is orphaned. */
int ll_api_client_ip(const ll_api_worker_t *ctx, const ll_req_t *req, char *out, size_t cap);

/* api/origin.c. 1 when req may act with the user's cookies: no Origin (not
 * a browser), the node's own origin (of --public-url, else http(s)://<Host>,
 * https when ll_api_client_https),
 * or one of --allowed-origins; "Origin: null" is foreign. */
int ll_api_origin_same_site(const ll_api_worker_t *ctx, const ll_req_t *req);

/* 1 when req may open a public stream (seed 000): any Origin while
 * --allowed-origins is empty, else a listed one; no Origin always passes. */
int ll_api_origin_public_ok(const ll_api_worker_t *ctx, const ll_req_t *req);
void ll_api_sse_stream(ll_api_worker_t *ctx, ll_req_t *req, const char *param);

/* ---- parameters (api/params.c) -------------------------------------------- */

/* s as a decimal integer of at most max (digits only, no sign, no space):
 * 0 and *out, or LL_EBADPARAM. */
int ll_api_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* The query parameter name as an integer from min to max: 1 with *out set,
 * 0 when it is absent (*out untouched), LL_EBADPARAM when it is anything
 * else. The caller answers 400. */
int ll_api_query_uint(const ll_req_t *req, const char *name, uint64_t min, uint64_t max,
                      uint64_t *out);

/* An address as clients may write it (docs/API.md §5.1): 32 (chain) or 40
 * (contract) hex digits in any case, optionally after 0x. Writes it
 * lowercase without 0x into out and returns its length (32 or 40), or
 * LL_EBADADDRESS. */
#define LL_API_ADDRESS_MAX 40
int ll_api_parse_address(const char *in, char out[LL_API_ADDRESS_MAX + 1]);

/* Pages of the explorer's lists (docs/API.md §3.3, §3.4): limit= defaults to
 * 20 and may be at most 100, which bounds each request's work. */
#define LL_API_PAGE_DEFAULT 20
#define LL_API_PAGE_MAX 100

/* A page's limit= (into *limit, which holds the default) and the worker's
 * database, which every page reads: 0, or < 0 with req answered (400
 * bad_parameter, 500 when the database is not readable). */
int ll_api_page_start(ll_api_worker_t *ctx, ll_req_t *req, uint64_t *limit);

/* A ledger request for op whose reply answers req: success_status with the
 * result, or the error. NULL when out of memory (req is then answered). */
ll_ledger_req_t *ll_api_ledger_req(ll_req_t *req, ll_ledger_op_t op, int success_status);

/* Posts lr (fields filled by the caller) to the ledger; takes ownership of
 * lr, lr->tx and a batch's items and results. If the ledger has stopped,
 * answers 503 at once. */
void ll_api_ask_ledger(ll_api_worker_t *ctx, ll_ledger_req_t *lr);

/* Answers lr's request with err and releases lr, without asking the
 * ledger (a request that could not be completed). */
void ll_api_ledger_req_fail(ll_ledger_req_t *lr, int err, const char *why);

/* Most transactions in one batch submission (docs/API.md §7). */
#define LL_API_MAX_BATCH 1000

/* Batches a worker checks on the thread pool at once (one, as when it
 * checked them on its own loop), and batches that may wait behind them;
 * one more is answered 429 (docs/API.md §7). */
#define LL_API_BATCH_CHECKS 1
#define LL_API_BATCH_LINE 8

#endif
