/* api/transactions.c: POST /api/v1/transactions and GET …/{tx_id}.
 * Everything a transaction can be checked for without state (shape, every
 * field, the signature) is checked here, in parallel across workers: a
 * single one on its worker, a batch on libuv's thread pool for its worker;
 * only the ledger rules (nonce, funds) go to the ledger thread. */
#include "api/api.h"
#include "auth/limits.h"
#include "net/server.h"
#include "store/contracts.h"
#include "util/bulk.h"
#include "util/err.h"
#include "util/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- batches ----------------------------------------------------------------
 *
 * A JSON array of up to LL_API_MAX_BATCH signed transactions: each is
 * checked like a single one, then the ledger admits them in order and
 * answers 200 with one result per item (docs/API.md §7):
 *
 *   worker: line ──► thread pool: parse, check every item ──► worker: resume
 *        ──► ledger: admit in order ──► worker: 200 with the results
 *
 * A thousand Ed25519 checks take 40-80 ms: on the worker's loop they would
 * hold up every other connection of that worker, a single POST included.
 * A worker puts LL_API_BATCH_CHECKS batches on the pool at once, no more
 * than it checked at once on its loop: libuv's pool (4 threads for the
 * process, first come first served) also mines blocks and hashes
 * passwords, which so wait for one batch per worker at most.
 * LL_API_BATCH_LINE more wait on the worker, in arrival order; beyond that
 * a batch is answered 429 with Retry-After, before it costs anything.
 *
 * A batch received in full is checked and admitted even when its client
 * leaves meanwhile, as a single transaction is (its request, an orphan then,
 * is freed by its answer). */
struct ll_api_batch {
    ll_task_t resume; /* first: the worker's half after the thread pool */
    uv_work_t work;
    ll_api_batch_t *next; /* the worker's line */
    ll_req_t *req;
    ll_api_worker_t *ctx; /* touched only on the worker, while it serves */
    ll_api_t *app;        /* the gauges: app outlives every worker */
    ll_ledger_req_t *lr;  /* answers req; the thread pool fills its batch */
    /* The request's body, lent to the thread pool without a copy: a request
     * is freed only by its answer, which comes after the pool is done, and
     * nothing writes to a complete request's body. */
    const char *body;
    size_t len;
    int rc; /* the thread pool's result; why says what went wrong */
    char why[LL_ERRMSG_MAX];
};

/* On a thread-pool thread: parses the array and checks each item into
 * lr->batch and lr->batch_results. Touches only its arguments. Returns 0,
 * or < 0 with why when the batch as a whole is refused. */
static int check_batch(const char *body, size_t len, ll_ledger_req_t *lr, char *why)
{
    char item_why[LL_ERRMSG_MAX];
    json_error_t err;
    int rc = 0;
    json_t *items = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    size_t n = json_array_size(items);
    if (!items) {
        snprintf(why, LL_ERRMSG_MAX, "malformed JSON at line %d, column %d: %s", err.line,
                 err.column, err.text);
        return LL_EMALFORMED;
    }
    if (n == 0 || n > LL_API_MAX_BATCH) {
        /* An empty array is not a transaction either (as before batches). */
        snprintf(why, LL_ERRMSG_MAX, "a batch holds 1 to %d transactions, not %zu",
                 LL_API_MAX_BATCH, n);
        rc = n ? LL_EBADREQUEST : LL_EBADTYPE;
        goto out;
    }
    lr->batch = calloc(n, sizeof *lr->batch);
    lr->batch_results = json_array();
    lr->batch_n = n;
    for (size_t i = 0; lr->batch && lr->batch_results && i < n; i++) {
        int item_rc = ll_tx_from_json(json_array_get(items, i), &lr->batch[i], item_why);
        json_t *result = item_rc == 0 ? json_null()
                                      : json_pack("{s:{s:s, s:s}}", "error", "code",
                                                  ll_err_code(item_rc), "message", item_why);
        if (json_array_append_new(lr->batch_results, result) < 0)
            break;
    }
    if (!lr->batch || json_array_size(lr->batch_results) != n) {
        snprintf(why, LL_ERRMSG_MAX, "out of memory");
        rc = LL_ENOMEM;
    }
out:
    json_decref(items);
    return rc;
}

static void on_check(uv_work_t *w)
{
    ll_api_batch_t *b = w->data;
    ll_bulk_thread();
    b->rc = check_batch(b->body, b->len, b->lr, b->why);
}

static void on_check_done(uv_work_t *w, int status);

/* Puts b on the thread pool; a slot of ctx is b's until on_checked. */
static void start_check(ll_api_worker_t *ctx, ll_api_batch_t *b)
{
    b->work.data = b;
    if (uv_queue_work(ll_worker_loop(ctx->worker), &b->work, on_check, on_check_done) < 0) {
        ll_api_ledger_req_fail(b->lr, LL_EINTERNAL, "the thread pool refused the batch");
        free(b);
        return;
    }
    ctx->batches_checking++;
    atomic_fetch_add(&ctx->app->batches_checking, 1);
}

/* Starts the batches at the head of ctx's line while it has free slots. */
static void start_waiting(ll_api_worker_t *ctx)
{
    while (ctx->batches_checking < LL_API_BATCH_CHECKS && ctx->batch_head) {
        ll_api_batch_t *b = ctx->batch_head;
        if (!(ctx->batch_head = b->next))
            ctx->batch_tail = NULL;
        ctx->batches_waiting--;
        atomic_fetch_sub(&ctx->app->batches_waiting, 1);
        start_check(ctx, b);
    }
}

/* A task on the worker's queue, so ctx is still there: its slot goes to
 * the next in line, and the checked batch to the ledger. */
static void on_checked(ll_task_t *task)
{
    ll_api_batch_t *b = (ll_api_batch_t *)task;
    ll_api_worker_t *ctx = b->ctx;
    ctx->batches_checking--;
    if (b->rc < 0)
        ll_api_ledger_req_fail(b->lr, b->rc, b->why);
    else
        ll_api_ask_ledger(ctx, b->lr); /* takes lr, its items and results */
    free(b);
    start_waiting(ctx);
}

/* Back on the worker's loop. The rest runs as a task on the worker's queue,
 * not here: a check that outlives a stopping worker finishes in the loop's
 * last pass, after the worker freed ctx; its queue is closed by then and
 * refuses the task, and the orphaned request is only answered (so freed). */
static void on_check_done(uv_work_t *w, int status)
{
    ll_api_batch_t *b = w->data;
    (void)status; /* checks are never cancelled */
    atomic_fetch_sub(&b->app->batches_checking, 1);
    b->resume.run = on_checked;
    if (ll_taskq_post(ll_worker_taskq(ll_req_worker(b->req)), &b->resume) < 0) {
        ll_api_ledger_req_fail(b->lr, LL_ESHUTDOWN, "the node is shutting down");
        free(b);
    }
}

static void submit_batch(ll_api_worker_t *ctx, ll_req_t *req, const char *body, size_t len)
{
    ll_api_batch_t *b;
    if (ctx->batches_checking >= LL_API_BATCH_CHECKS && ctx->batches_waiting >= LL_API_BATCH_LINE) {
        ll_auth_respond_limited(req, 1, "batches waiting to be checked");
        return;
    }
    if (!(b = calloc(1, sizeof *b))) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return;
    }
    if (!(b->lr = ll_api_ledger_req(req, LL_LEDGER_SUBMIT_BATCH, 200))) {
        free(b);
        return;
    }
    b->req = req;
    b->ctx = ctx;
    b->app = ctx->app;
    b->body = body;
    b->len = len;
    if (ctx->batches_checking < LL_API_BATCH_CHECKS) {
        start_check(ctx, b);
        return;
    }
    if (ctx->batch_tail)
        ctx->batch_tail->next = b;
    else
        ctx->batch_head = b;
    ctx->batch_tail = b;
    ctx->batches_waiting++;
    atomic_fetch_add(&ctx->app->batches_waiting, 1);
}

void ll_api_batches_close(ll_api_worker_t *ctx)
{
    ll_api_batch_t *b;
    while ((b = ctx->batch_head)) {
        ctx->batch_head = b->next;
        atomic_fetch_sub(&ctx->app->batches_waiting, 1);
        ll_api_ledger_req_fail(b->lr, LL_ESHUTDOWN, "the node is shutting down");
        free(b);
    }
    ctx->batch_tail = NULL;
    ctx->batches_waiting = 0;
}

/* ---- single transactions and look-ups ------------------------------------------ */

void ll_api_tx_submit(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char why[LL_ERRMSG_MAX];
    size_t len;
    const char *body = ll_req_body(req, &len);
    ll_tx_t *tx = NULL;
    (void)param;
    if (len > 0 && body[strspn(body, " \t\r\n")] == '[') {
        submit_batch(ctx, req, body, len);
        return;
    }
    int rc = ll_tx_parse(body, len, &tx, why);
    if (rc < 0) {
        ll_req_respond_error(req, rc, "%s", why);
        return;
    }
    ll_ledger_req_t *lr = ll_api_ledger_req(req, LL_LEDGER_SUBMIT, 202);
    if (!lr) {
        ll_tx_free(tx);
        return;
    }
    lr->tx = tx;
    ll_api_ask_ledger(ctx, lr);
}

void ll_api_tx_get(ll_api_worker_t *ctx, ll_req_t *req, const char *tx_id)
{
    if (!ll_hex_is_lower(tx_id, LL_TX_ID_HEX)) {
        ll_req_respond_error(req, LL_EBADPARAM, "a transaction id is 64 lowercase hex digits");
        return;
    }
    /* Pending transactions live on the ledger thread, so it answers both. */
    ll_ledger_req_t *lr = ll_api_ledger_req(req, LL_LEDGER_GET_TX, 200);
    if (!lr)
        return;
    snprintf(lr->tx_id, sizeof lr->tx_id, "%s", tx_id);
    ll_api_ask_ledger(ctx, lr);
}

void ll_api_receipt_get(ll_api_worker_t *ctx, ll_req_t *req, const char *tx_id)
{
    char *text = NULL;
    int rc;
    if (!ll_hex_is_lower(tx_id, LL_TX_ID_HEX)) {
        ll_req_respond_error(req, LL_EBADPARAM, "a transaction id is 64 lowercase hex digits");
        return;
    }
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return;
    }
    /* Receipts exist only for committed deploys and calls. */
    if ((rc = ll_store_get_receipt(ctx->reader, tx_id, &text)) < 0) {
        ll_req_respond_error(
            req, rc, rc == LL_ENOTFOUND ? "no receipt for that transaction" : "store error");
        return;
    }
    ll_req_respond(req, 200, "application/json", text, strlen(text));
    free(text);
}
