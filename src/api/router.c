/* api/router.c: one table maps method and path to a handler; a path that
 * exists under another method is a 405 with Allow, anything else a 404. */
#include "api/api.h"
#include "net/server.h"
#include "stream/log_backend.h"
#include "util/bulk.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct route {
    enum http_method method;
    const char *pattern; /* '*' matches one non-empty path segment */
    ll_api_route_cb cb;
    int relay; /* served by a relay too (the rest needs the ledger) */
} route_t;

static const route_t routes[] = {
    {HTTP_GET, "/", ll_api_root, 1},
    {HTTP_GET, "/api/v1", ll_api_root, 1},
    {HTTP_GET, "/api/v1/", ll_api_root, 1},
    {HTTP_GET, "/healthz", ll_api_healthz, 1},
    {HTTP_GET, "/metrics", ll_api_metrics, 1},
    {HTTP_POST, "/api/v1/transactions", ll_api_tx_submit, 0},
    {HTTP_POST, "/api/v1/transactions/", ll_api_tx_submit, 0},
    {HTTP_GET, "/api/v1/transactions/*", ll_api_tx_get, 0},
    {HTTP_GET, "/api/v1/blocks", ll_api_blocks_list, 0},
    {HTTP_GET, "/api/v1/blocks/", ll_api_blocks_list, 0},
    {HTTP_GET, "/api/v1/blocks/*", ll_api_block_get, 0},
    {HTTP_GET, "/api/v1/accounts/*", ll_api_account_get, 0},
    {HTTP_GET, "/api/v1/accounts/*/transactions", ll_api_account_txs, 0},
    {HTTP_GET, "/api/v1/receipts/*", ll_api_receipt_get, 0},
    {HTTP_GET, "/api/v1/contracts/*", ll_api_contract_get, 0},
    {HTTP_POST, "/api/v1/faucet", ll_api_faucet, 0},
    {HTTP_GET, "/api/v1/streams/*", ll_api_ws_stream, 1},
    {HTTP_GET, "/api/stream", ll_api_sse_stream, 1},
    {HTTP_POST, "/api/register", ll_api_register, 0},
    {HTTP_POST, "/api/login", ll_api_login, 0},
    {HTTP_POST, "/api/logout", ll_api_logout, 0},
    {HTTP_GET, "/api/me", ll_api_me, 0},
    {HTTP_POST, "/api/messages", ll_api_message_post, 0},
    {HTTP_GET, "/api/messages", ll_api_messages_get, 0},
    {HTTP_GET, "/*", ll_api_static, 0}, /* web/ files; last, so the API wins */
};

#define N_ROUTES (sizeof routes / sizeof routes[0])
_Static_assert(N_ROUTES <= LL_API_ROUTES_MAX, "LL_API_ROUTES_MAX is too small");

/* The statuses /metrics tells apart; any other counts as "other". */
static const int statuses[LL_API_STATUS_KINDS] = {
    101, 200, 201, 202, 204, 304, 400, 401, 403, 404, 405,
    406, 408, 409, 413, 415, 422, 426, 429, 431, 500, 503,
};

size_t ll_api_route_count(void)
{
    return N_ROUTES;
}

const char *ll_api_route_label(size_t i, char *buf, size_t cap)
{
    if (i >= N_ROUTES)
        snprintf(buf, cap, "unmatched");
    else
        snprintf(buf, cap, "%s %s", http_method_str(routes[i].method), routes[i].pattern);
    return buf;
}

const char *ll_api_status_label(int k, char *buf, size_t cap)
{
    if (k < 0 || k >= LL_API_STATUS_KINDS)
        snprintf(buf, cap, "other");
    else
        snprintf(buf, cap, "%d", statuses[k]);
    return buf;
}

/* The response's status, counted in its route's row (ll_req_on_status). */
static void count_status(void *row, int status)
{
    int k = 0;
    while (k < LL_API_STATUS_KINDS && statuses[k] != status)
        k++;
    atomic_fetch_add_explicit(&((_Atomic uint64_t *)row)[k], 1, memory_order_relaxed);
}

/* Matches path against pattern; on a '*' the segment is copied to param. */
static int match(const char *pattern, const char *path, char *param, size_t cap)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= cap)
                return 0;
            memcpy(param, path, n);
            param[n] = '\0';
            path += n;
            pattern++;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *pattern == '\0' && *path == '\0';
}

void ll_api_handle(ll_req_t *req)
{
    ll_api_worker_t *ctx = ll_req_ctx(req);
    enum http_method m = ll_req_method(req);
    const char *path = ll_req_path(req);
    char param[256], allow[64] = "";
    atomic_fetch_add(&ctx->app->requests, 1);
    if (m == HTTP_HEAD)
        m = HTTP_GET; /* the network layer sends HEAD's headers only */
    for (size_t i = 0; i < N_ROUTES; i++) {
        if ((ctx->app->relay && !routes[i].relay) ||
            !match(routes[i].pattern, path, param, sizeof param))
            continue;
        if (routes[i].method == m) {
            ll_req_on_status(req, count_status, ctx->app->responses[i]);
            routes[i].cb(ctx, req, strchr(routes[i].pattern, '*') ? param : NULL);
            return;
        }
        const char *name = http_method_str(routes[i].method);
        if (!strstr(allow, name)) {
            size_t len = strlen(allow);
            snprintf(allow + len, sizeof allow - len, "%s%s", len ? ", " : "", name);
        }
    }
    ll_req_on_status(req, count_status, ctx->app->responses[N_ROUTES]);
    if (*allow) {
        ll_req_add_header(req, "Allow", allow);
        ll_req_respond_error(req, LL_EMETHOD, "%s is not allowed on %s (allowed: %s)",
                             http_method_str(ll_req_method(req)), path, allow);
        return;
    }
    ll_req_respond_error(req, LL_ENOTFOUND, "no route for %s", path);
}

void ll_api_server_opts(ll_api_t *app, ll_server_opts_t *opts)
{
    ll_server_opts_defaults(opts);
    opts->host = app->config->listen_host;
    opts->port = app->config->listen_port;
    opts->workers = (int)app->config->workers;
    opts->handler = ll_api_handle;
    opts->worker_init = ll_api_worker_init;
    opts->worker_fini = ll_api_worker_fini;
    opts->arg = app;
    opts->tls = app->tls;
    opts->hsts = app->config->hsts;
}

void *ll_api_worker_init(ll_worker_t *w, void *app)
{
    ll_api_worker_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->app = app;
    ctx->worker = w;
    ll_stream_backend_t backend;
    if (ctx->app->relay) {
        backend = ll_relay_backend(ctx->app->relay); /* a relay has no database */
    } else {
        /* The ledger created the database before the server started. */
        if (ll_store_open(ctx->app->config->data_dir, LL_STORE_READER, LL_SYNC_FULL, &ctx->reader) <
            0) {
            LL_ERROR("api: worker %d cannot open a database reader", ll_worker_index(w));
            ctx->reader = NULL;
        }
        backend = ll_log_backend(ctx->reader);
    }
    ctx->fanout = ll_fanout_new(ll_worker_loop(w), &backend, &ctx->app->streams);
    if (ctx->fanout)
        ll_fanout_set_flush_ms(ctx->fanout, ctx->app->config->stream_flush_ms);
    if (ctx->fanout)
        ctx->sink =
            ll_hub_attach(ctx->app->hub, ll_worker_taskq(w), ll_fanout_deliver, ctx->fanout);
    if (!ctx->fanout || !ctx->sink)
        LL_ERROR("api: worker %d cannot serve streams (out of memory)", ll_worker_index(w));
    return ctx;
}

void ll_api_worker_fini(void *ctx_)
{
    ll_api_worker_t *ctx = ctx_;
    if (!ctx)
        return;
    ll_api_batches_close(ctx); /* its connections are closed: they answer orphans */
    ll_hub_detach(ctx->app->hub, ctx->sink);
    ll_fanout_close(ctx->fanout); /* its subscribers closed with their connections */
    ll_store_close(ctx->reader);
    free(ctx);
}

typedef struct ledger_call {
    ll_ledger_req_t lr; /* first: the reply task points into it */
    ll_req_t *req;
    int success_status;
    uv_loop_t *loop; /* the worker's: a batch's answer is encoded on its pool */
    uv_work_t work;
    char *text; /* that encoding */
} ledger_call_t;

/* A batch's answer holds up to 1000 results: encoding it would hold the
 * worker's loop for milliseconds, during which its other connections (a
 * single POST, a stream) wait, so it is encoded on the thread pool. */
#define POOL_ENCODE_MIN_ITEMS 64

/* What a request may still hold once answered. */
static void release(ll_ledger_req_t *lr)
{
    ll_tx_free(lr->tx);
    json_decref(lr->body);
    sodium_memzero(&lr->key, sizeof lr->key);
    for (size_t i = 0; lr->batch && i < lr->batch_n; i++)
        ll_tx_free(lr->batch[i]); /* what the ledger did not take */
    free(lr->batch);
    json_decref(lr->batch_results);
}

static void on_encode(uv_work_t *w)
{
    ledger_call_t *call = w->data;
    ll_bulk_thread();
    call->text = json_dumps(call->lr.result, LL_JSON_FLAGS);
    json_decref(call->lr.result); /* the ledger handed it over whole: nobody shares it */
    call->lr.result = NULL;
}

/* Touches the request and the call only, never the worker's context: it
 * may run while the worker stops, and then answers an orphan. */
static void on_encoded(uv_work_t *w, int status)
{
    ledger_call_t *call = w->data;
    if (status == 0 && call->text)
        ll_req_respond(call->req, call->success_status, "application/json", call->text,
                       strlen(call->text));
    else
        ll_req_respond_error(call->req, LL_EINTERNAL, "response could not be encoded");
    free(call->text);
    release(&call->lr);
    free(call);
}

static void on_ledger_reply(ll_task_t *task)
{
    ll_ledger_req_t *lr = (ll_ledger_req_t *)((char *)task - offsetof(ll_ledger_req_t, reply));
    ledger_call_t *call = (ledger_call_t *)lr;
    if (lr->rc == 0 && call->loop && json_array_size(lr->result) >= POOL_ENCODE_MIN_ITEMS) {
        call->work.data = call;
        if (uv_queue_work(call->loop, &call->work, on_encode, on_encoded) == 0)
            return;
    }
    if (lr->rc < 0)
        ll_req_respond_error(call->req, lr->rc, "%s", lr->why);
    else
        ll_req_respond_json(call->req, call->success_status, lr->result); /* steals result */
    release(lr);
    free(call);
}

ll_ledger_req_t *ll_api_ledger_req(ll_req_t *req, ll_ledger_op_t op, int success_status)
{
    ledger_call_t *call = calloc(1, sizeof *call);
    if (!call) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return NULL;
    }
    call->req = req;
    call->success_status = success_status;
    call->lr.op = op;
    call->lr.reply.run = on_ledger_reply;
    return &call->lr;
}

void ll_api_ledger_req_fail(ll_ledger_req_t *lr, int err, const char *why)
{
    ledger_call_t *call = (ledger_call_t *)lr;
    ll_req_respond_error(call->req, err, "%s", why);
    release(lr);
    free(call);
}

void ll_api_ask_ledger(ll_api_worker_t *ctx, ll_ledger_req_t *lr)
{
    ledger_call_t *call = (ledger_call_t *)lr;
    lr->reply_q = ll_worker_taskq(ctx->worker);
    call->loop = ll_worker_loop(ctx->worker);
    if (ll_ledger_post(ctx->app->ledger, lr) < 0) {
        ll_req_respond_error(call->req, LL_ESHUTDOWN, "the node is shutting down");
        release(lr);
        free(call);
    }
}
