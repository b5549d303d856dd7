/* ledger/ledger.c: the ledger thread. Requests from workers arrive on one
 * task queue; a timer produces blocks at most block_interval_ms after the
 * first pending transaction, or at once when max_block_txs are pending.
 * A block is one SQLite transaction: block row, transactions, state, and
 * its event rows, written only after the block has been re-read and
 * re-verified from the database ("quantum verified"). */
#include "ledger/ledger.h"
#include "ledger/block.h"
#include "ledger/commit.h"
#include "ledger/events.h"
#include "ledger/mempool.h"
#include "ledger/saved.h"
#include "ledger/state.h"
#include "store/pending.h"
#include "vm/vm.h"
#include "util/hex.h"
#include "util/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ll_ledger {
    ll_ledger_opts_t opts;
    char data_dir[512];
    uv_thread_t thread;
    uv_loop_t loop;
    ll_taskq_t inbox;
    uv_timer_t block_timer;
    ll_task_t stop_task;
    ll_store_t *st;
    ll_mempool_t *mempool;
    ll_state_t *admission; /* committed state + every pending transaction */
    ll_state_t *building;  /* the block being built */
    ll_tx_t **batch;       /* room for max_block_txs */
    json_t **receipts;     /* batch[i]'s receipt, or NULL; same room */
    ll_events_t *events;
    /* Messages admitted since the last flush: their "pending" events are
     * written and published once per loop turn, and always before a block
     * is built, so "pending" never follows "confirmed". The mempool owns
     * the transactions, and they stay in it until that flush. */
    const ll_tx_t **pending_msgs;
    size_t npending_msgs, pending_cap;
    uv_timer_t pending_timer;
    ll_keypair_t node_key;
    ll_keypair_t faucet_key;
    ll_block_hdr_t tip;
    int stopping; /* ledger thread only */
    int stopped;  /* main thread only: the ledger thread has been joined */
    /* Written by the ledger thread, read by workers for /metrics. */
    _Atomic uint64_t stat_height;
    _Atomic uint64_t stat_mempool;
    _Atomic uint64_t stat_blocks;
    _Atomic uint64_t stat_txs;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void publish_stats(ll_ledger_t *l)
{
    atomic_store(&l->stat_height, l->tip.height);
    atomic_store(&l->stat_mempool, (uint64_t)ll_mempool_count(l->mempool));
}

/* Hands a committed batch to the workers (or drops it when none listen). */
static void publish(ll_ledger_t *l, ll_batch_t *batch)
{
    if (l->opts.hub && batch && batch->n > 0)
        ll_hub_publish(l->opts.hub, batch);
    else
        ll_batch_unref(batch);
}

/* Commits b through ledger/commit.c, then publishes its events: they are
 * born at commit, never before. */
static int commit_block(ll_ledger_t *l, ll_block_hdr_t *b, ll_tx_t *const *txs,
                        json_t *const *receipts, size_t n)
{
    ll_batch_t *batch = NULL;
    int rc = ll_commit_block(l->st, l->building, l->events, b, txs, receipts, n, &batch);
    if (rc == 0)
        publish(l, batch);
    return rc;
}

static void start_header(ll_ledger_t *l, ll_block_hdr_t *b)
{
    memset(b, 0, sizeof *b);
    b->height = l->tip.height + 1;
    snprintf(b->previous_hash, sizeof b->previous_hash, "%s", l->tip.hash);
    /* Block time never runs backwards, even if the wall clock does. */
    int64_t t = now_ms();
    b->timestamp_ms = t > l->tip.timestamp_ms ? t : l->tip.timestamp_ms;
    snprintf(b->miner, sizeof b->miner, "%s", l->node_key.address);
    b->difficulty = l->opts.difficulty;
}

typedef struct replay {
    ll_ledger_t *l;
    size_t failed;
} replay_t;

static void replay_pending(const ll_tx_t *tx, void *arg)
{
    replay_t *r = arg;
    char why[LL_ERRMSG_MAX];
    if (ll_state_apply(r->l->admission, tx, r->l->node_key.address, r->l->tip.height + 1, why) <
        0)
        r->failed++;
}

static void drop_receipts(ll_ledger_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(l->receipts[i]);
        l->receipts[i] = NULL;
    }
}

/* Writes and publishes the "pending" events of the messages admitted since
 * the last call. On failure they stay listed for the next call, and no
 * block is built until they are written, so "pending" never follows
 * "confirmed" and no event is lost. Returns 0 or the store's error. */
static int flush_pending(ll_ledger_t *l)
{
    ll_batch_t *batch = NULL;
    int rc;
    if (l->npending_msgs == 0)
        return 0;
    if ((rc = ll_store_begin(l->st)) == 0 &&
        (rc = ll_events_append_pending(l->events, l->st, l->tip.height, l->pending_msgs,
                                       l->npending_msgs, &batch)) == 0 &&
        (rc = ll_store_commit(l->st)) == 0) {
        ll_events_commit(l->events);
        publish(l, batch);
        l->npending_msgs = 0;
        return 0;
    }
    ll_store_rollback(l->st);
    ll_events_abort(l->events);
    ll_batch_unref(batch);
    LL_ERROR("ledger: %zu pending-message events not written (%s); retrying",
             l->npending_msgs, ll_err_name(rc));
    return rc;
}

static void on_pending_timer(uv_timer_t *t)
{
    ll_ledger_t *l = t->data;
    if (flush_pending(l) < 0)
        uv_timer_start(&l->pending_timer, on_pending_timer, l->opts.block_interval_ms, 0);
}

/* Remembers an admitted message for the next flush. */
static void note_pending_message(ll_ledger_t *l, const ll_tx_t *tx)
{
    if (l->npending_msgs == l->pending_cap) {
        size_t cap = l->pending_cap ? 2 * l->pending_cap : 64;
        const ll_tx_t **grown = realloc(l->pending_msgs, cap * sizeof *grown);
        if (!grown) {
            LL_ERROR("ledger: out of memory; a pending-message event is lost");
            return;
        }
        l->pending_msgs = grown;
        l->pending_cap = cap;
    }
    l->pending_msgs[l->npending_msgs++] = tx;
    if (!uv_is_active((uv_handle_t *)&l->pending_timer))
        uv_timer_start(&l->pending_timer, on_pending_timer, 0, 0);
}

/* Takes the oldest pending transactions into one block and commits it.
 * Returns 0 (also when nothing was pending) or the commit's error, in which
 * case the transactions are pending again. */
static int produce_block(ll_ledger_t *l)
{
    char why[LL_ERRMSG_MAX];
    ll_block_hdr_t b;
    size_t taken, kept = 0;
    const char **ids = NULL;
    int rc;
    /* Before the mempool hands its transactions over: their "pending"
     * events must be in the log before any "confirmed" one. */
    if ((rc = flush_pending(l)) < 0)
        return rc;
    ll_mempool_limits_t lim = {l->opts.max_block_txs, l->opts.block_gas_limit,
                               LL_BLOCK_MAX_BYTES};
    taken = ll_mempool_take(l->mempool, l->batch, &lim);
    if (taken == 0)
        return 0;
    start_header(l, &b);
    ll_state_reset(l->building);
    for (size_t i = 0; i < taken; i++) {
        /* Admission applied the same rules to the same order, so a failure
         * here means the admission view went wrong: drop, never corrupt. */
        json_t *receipt = NULL;
        if ((rc = ll_state_apply_block(l->building, l->batch[i], b.miner, b.height, &receipt,
                                       why)) == LL_ECANCELED) {
            /* The node is stopping: the block is abandoned, every one of its
             * transactions pending again (and saved with the mempool). */
            memmove(l->batch + kept, l->batch + i, (taken - i) * sizeof *l->batch);
            drop_receipts(l, kept);
            ll_mempool_untake(l->mempool, l->batch, kept + (taken - i));
            LL_INFO("ledger: block %" PRIu64 " interrupted by the stop", b.height);
            return rc;
        }
        if (rc < 0) {
            LL_ERROR("ledger: dropping %s from block %" PRIu64 ": %s", l->batch[i]->tx_id,
                     b.height, why);
            ll_tx_free(l->batch[i]);
            continue;
        }
        l->receipts[kept] = receipt;
        l->batch[kept++] = l->batch[i];
    }
    if (!(ids = calloc(kept ? kept : 1, sizeof *ids))) {
        rc = LL_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < kept; i++)
        ids[i] = l->batch[i]->tx_id;
    b.tx_count = (uint32_t)kept;
    if ((rc = ll_block_tx_root(ids, kept, b.tx_root)) < 0 || (rc = ll_block_mine(&b)) < 0)
        goto fail;
    if ((rc = commit_block(l, &b, l->batch, l->receipts, kept)) < 0)
        goto fail;
    drop_receipts(l, kept);
    free(ids);
    l->tip = b;
    atomic_fetch_add(&l->stat_blocks, 1);
    atomic_fetch_add(&l->stat_txs, kept);
    int ran_contracts = 0;
    for (size_t i = 0; i < kept; i++) {
        ran_contracts |= ll_mempool_gas(l->batch[i]) > 0;
        ll_tx_free(l->batch[i]);
    }
    LL_DEBUG("ledger: block %" PRIu64 " %s with %zu transactions", b.height, b.hash, kept);
    /* The admission view holds absolute values (committed + all pending), so
     * committing a prefix of the pending sequence leaves it right. It needs
     * a rebuild only when transactions were dropped, and it is emptied when
     * nothing is pending so it does not grow without bound. */
    /* Admission reserved gas_limit x price for each contract run; the block
     * refunded what was not used, so the view is rebuilt to see it. */
    if (kept != taken || ran_contracts || ll_mempool_count(l->mempool) == 0) {
        replay_t r = {l, 0};
        ll_state_reset(l->admission);
        ll_mempool_each(l->mempool, replay_pending, &r);
        if (r.failed)
            LL_ERROR("ledger: %zu pending transactions no longer apply", r.failed);
    }
    publish_stats(l);
    return 0;
fail:
    free(ids);
    drop_receipts(l, kept);
    LL_ERROR("ledger: block %" PRIu64 " not committed (%s); its transactions stay pending",
             b.height, ll_err_name(rc));
    ll_mempool_untake(l->mempool, l->batch, kept);
    if (kept != taken) {
        replay_t r = {l, 0};
        ll_state_reset(l->admission);
        ll_mempool_each(l->mempool, replay_pending, &r);
    }
    return rc;
}

static void on_block_timer(uv_timer_t *t);

/* Arms the block timer: at once when a full block is waiting, else within
 * the interval of the oldest pending transaction. */
static void schedule_block(ll_ledger_t *l)
{
    size_t n = ll_mempool_count(l->mempool);
    if (n >= l->opts.max_block_txs)
        uv_timer_start(&l->block_timer, on_block_timer, 0, 0);
    else if (n > 0 && !uv_is_active((uv_handle_t *)&l->block_timer))
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
}

static void on_block_timer(uv_timer_t *t)
{
    ll_ledger_t *l = t->data;
    if (produce_block(l) < 0) {
        /* Retry after an interval rather than spin on a failing disk. */
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
        return;
    }
    schedule_block(l);
}

/* ---- requests -------------------------------------------------------------- */


static void send_reply(ll_ledger_req_t *r)
{
    /* Workers outlive the ledger (ll_ledger_stop runs before the server
     * stops), so the reply queue is open. */
    if (ll_taskq_post(r->reply_q, &r->reply) < 0)
        LL_ERROR("ledger: reply queue closed; a request was lost");
}

static int fail(ll_ledger_req_t *r, int rc, const char *why)
{
    r->rc = rc;
    snprintf(r->why, sizeof r->why, "%s", why);
    return rc;
}

/* Who is asking to admit a transaction (kept in ll_tx_t.origin and with a
 * saved mempool, so a restart admits it under the same rules). */
typedef enum {
    FROM_CLIENT = 0,  /* POST /api/v1/transactions: signed by its sender */
    FROM_FAUCET = 1,  /* the dev faucet: not held to the per-sender cap */
    FROM_SESSION = 2, /* a session user's chat message, signed by the node: free */
} origin_t;

/* Work costs its sender (docs/API.md §2.6): a transaction is admitted only
 * from a sender that holds native coin, within its share of the mempool and
 * of a block. Returns 0 or fails r. */
static int check_sender(ll_ledger_t *l, ll_ledger_req_t *r, const ll_tx_t *tx, origin_t origin)
{
    char why[LL_ERRMSG_MAX];
    int64_t balance = 0;
    uint64_t gas = ll_mempool_gas(tx);
    if (gas > l->opts.block_gas_limit) {
        snprintf(why, sizeof why, "gas_limit may be at most the block gas limit, %" PRIu32,
                 l->opts.block_gas_limit);
        return fail(r, LL_EGASLIMIT, why);
    }
    if (origin != FROM_FAUCET &&
        ll_mempool_sender_count(l->mempool, tx->sender) >= l->opts.max_pending_per_sender) {
        snprintf(why, sizeof why,
                 "this sender already has %" PRIu32 " transactions pending; retry after a block",
                 l->opts.max_pending_per_sender);
        return fail(r, LL_ETOOMANYPENDING, why);
    }
    if (origin == FROM_SESSION && tx->kind == LL_TX_MESSAGE)
        return 0;
    if (ll_state_native_balance(l->admission, tx->sender, &balance) < 0)
        return fail(r, LL_ESTORE, "state unavailable");
    if (balance <= 0)
        return fail(r, LL_EFUNDS,
                    "the sender holds no native coin: only a funded account may submit");
    return 0;
}

/* Admits tx (owned) to the mempool: duplicates, capacity, then the ledger
 * rules against committed state plus everything already pending. */
static int admit(ll_ledger_t *l, ll_ledger_req_t *r, ll_tx_t *tx, origin_t origin)
{
    ll_store_tx_t row;
    char why[LL_ERRMSG_MAX];
    int rc;
    if (ll_mempool_find(l->mempool, tx->tx_id) ||
        (rc = ll_store_get_tx(l->st, tx->tx_id, &row)) == 0) {
        fail(r, LL_EDUPLICATE, "this transaction was already submitted");
        goto drop;
    }
    if (rc != LL_ENOTFOUND) {
        fail(r, rc, "the store could not be read");
        goto drop;
    }
    if (check_sender(l, r, tx, origin) < 0)
        goto drop;
    tx->origin = (int)origin;
    if (ll_mempool_count(l->mempool) >= LL_MEMPOOL_CAPACITY ||
        ll_mempool_bytes(l->mempool) + ll_mempool_tx_bytes(tx) > LL_MEMPOOL_MAX_BYTES) {
        fail(r, LL_EBUSY, "too many transactions are pending; retry shortly");
        goto drop;
    }
    if ((rc = ll_state_apply(l->admission, tx, l->node_key.address, l->tip.height + 1, why)) <
        0) {
        fail(r, rc, why);
        goto drop;
    }
    if ((rc = ll_mempool_add(l->mempool, tx)) < 0) {
        /* The admission view already counts tx: rebuild it without. */
        replay_t rp = {l, 0};
        ll_state_reset(l->admission);
        ll_mempool_each(l->mempool, replay_pending, &rp);
        fail(r, rc, "out of memory");
        goto drop;
    }
    if (tx->kind == LL_TX_MESSAGE)
        note_pending_message(l, tx);
    r->result = json_pack("{s:s, s:s}", "tx_id", tx->tx_id, "status", "pending");
    r->rc = r->result ? 0 : LL_ENOMEM;
    publish_stats(l);
    schedule_block(l);
    return r->rc;
drop:
    ll_tx_free(tx);
    return r->rc;
}

/* The REST view of a transaction: its signed fields plus tx_id, status and
 * block_height (null while pending). Steals body. */
static json_t *tx_view(json_t *body, const char *tx_id, int pending, uint64_t height)
{
    if (!body)
        return NULL;
    json_object_set_new(body, "tx_id", json_string(tx_id));
    json_object_set_new(body, "status", json_string(pending ? "pending" : "confirmed"));
    json_object_set_new(body, "block_height", pending ? json_null() : json_integer((json_int_t)height));
    return body;
}

static void handle_get_tx(ll_ledger_t *l, ll_ledger_req_t *r)
{
    ll_store_tx_t row;
    const ll_tx_t *tx = ll_mempool_find(l->mempool, r->tx_id);
    int rc;
    if (tx) {
        r->result = tx_view(json_deep_copy(tx->body), tx->tx_id, 1, 0);
    } else if ((rc = ll_store_get_tx(l->st, r->tx_id, &row)) == 0) {
        r->result = tx_view(json_loads(row.body, JSON_ALLOW_NUL, NULL), row.tx_id, 0, row.height);
    } else {
        fail(r, rc, rc == LL_ENOTFOUND ? "no transaction with that id" : "store unavailable");
        return;
    }
    r->rc = r->result ? 0 : LL_ENOMEM;
}

/* Completes body with the signer's key and its next nonce (counting what is
 * pending), signs it and admits it: the faucet and the custodial messenger
 * sign here because only the ledger thread knows the next nonce. */
static void sign_and_admit(ll_ledger_t *l, ll_ledger_req_t *r, json_t *body,
                           const ll_keypair_t *kp, origin_t origin)
{
    char pk_hex[2 * LL_PK_BYTES + 1];
    uint64_t nonce;
    ll_tx_t *tx = NULL;
    int rc;
    if ((rc = ll_state_next_nonce(l->admission, kp->address, &nonce)) < 0) {
        fail(r, rc, "store unavailable");
        return;
    }
    ll_hex_encode(kp->pk, LL_PK_BYTES, pk_hex);
    if (json_object_set_new(body, "sender_pubkey", json_string(pk_hex)) < 0 ||
        json_object_set_new(body, "nonce", json_integer((json_int_t)nonce)) < 0 ||
        (!json_object_get(body, "timestamp_ms") &&
         json_object_set_new(body, "timestamp_ms", json_integer((json_int_t)now_ms())) < 0) ||
        (!json_object_get(body, "fee") && json_object_set_new(body, "fee", json_integer(0)) < 0) ||
        ll_tx_sign(body, kp) < 0) {
        fail(r, LL_EINTERNAL, "the transaction could not be signed");
        return;
    }
    if ((rc = ll_tx_from_json(body, &tx, r->why)) < 0) {
        r->rc = rc;
        return;
    }
    admit(l, r, tx, origin);
}

static void handle_faucet(ll_ledger_t *l, ll_ledger_req_t *r)
{
    json_t *body;
    if (!l->opts.dev) {
        fail(r, LL_ENOTFOUND, "the faucet exists only on a node started with --dev");
        return;
    }
    body = json_pack("{s:s, s:s, s:I}", "kind", "transfer", "recipient", r->address, "amount",
                     (json_int_t)r->amount);
    if (!body) {
        fail(r, LL_ENOMEM, "out of memory");
        return;
    }
    sign_and_admit(l, r, body, &l->faucet_key, FROM_FAUCET);
    json_decref(body);
}

static void handle_store_call(ll_ledger_t *l, ll_ledger_req_t *r)
{
    int rc = ll_store_begin(l->st);
    if (rc == 0 && (rc = r->store_fn(l->st, r->store_arg, &r->result, r->why)) == 0)
        rc = ll_store_commit(l->st);
    if (rc < 0) {
        ll_store_rollback(l->st);
        json_decref(r->result);
        r->result = NULL;
        r->rc = rc;
        if (!r->why[0])
            snprintf(r->why, sizeof r->why, "the store could not be written");
    }
}

static void on_request(ll_task_t *task)
{
    ll_ledger_req_t *r = (ll_ledger_req_t *)task;
    ll_ledger_t *l = r->ledger;
    r->rc = 0;
    r->why[0] = '\0';
    r->result = NULL;
    if (l->stopping) {
        fail(r, LL_ESHUTDOWN, "the node is shutting down");
        ll_tx_free(r->tx);
        r->tx = NULL;
    } else if (r->op == LL_LEDGER_SUBMIT) {
        ll_tx_t *tx = r->tx;
        r->tx = NULL; /* the mempool or admit() owns it now */
        admit(l, r, tx, FROM_CLIENT);
    } else if (r->op == LL_LEDGER_GET_TX) {
        handle_get_tx(l, r);
    } else if (r->op == LL_LEDGER_FAUCET) {
        handle_faucet(l, r);
    } else if (r->op == LL_LEDGER_SIGN_SUBMIT) {
        sign_and_admit(l, r, r->body, &r->key, FROM_SESSION);
    } else {
        handle_store_call(l, r);
    }
    if (r->op == LL_LEDGER_SIGN_SUBMIT)
        sodium_memzero(&r->key, sizeof r->key);
    send_reply(r);
}

int ll_ledger_post(ll_ledger_t *l, ll_ledger_req_t *req)
{
    req->ledger = l;
    req->task.run = on_request;
    return ll_taskq_post(&l->inbox, &req->task);
}

/* ---- genesis, keys, start and stop ------------------------------------------ */

static int load_or_create_key(const char *dir, const char *name, ll_keypair_t *kp)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = ll_keys_load_file(path, kp);
    if (rc == 0)
        return 0;
    FILE *probe = fopen(path, "r");
    if (probe) {
        fclose(probe);
        LL_ERROR("ledger: key file %s is unreadable or corrupt", path);
        return rc;
    }
    ll_keys_generate(kp);
    if ((rc = ll_keys_save_file(path, kp)) < 0)
        LL_ERROR("ledger: cannot write key file %s", path);
    return rc;
}

/* Height 0: no transactions; the faucet's allocation is its only state. */
static int create_genesis(ll_ledger_t *l)
{
    ll_block_hdr_t b = {0};
    int rc;
    snprintf(b.previous_hash, sizeof b.previous_hash, "%s", LL_GENESIS_PREVIOUS_HASH);
    b.timestamp_ms = now_ms();
    snprintf(b.miner, sizeof b.miner, "%s", l->node_key.address);
    b.difficulty = l->opts.difficulty;
    if ((rc = ll_block_tx_root(NULL, 0, b.tx_root)) < 0 || (rc = ll_block_mine(&b)) < 0)
        return rc;
    ll_state_reset(l->building);
    if ((rc = ll_state_credit(l->building, l->faucet_key.address, LL_NATIVE_ASSET_ID,
                              LL_GENESIS_FAUCET_UNITS)) < 0)
        return rc;
    if ((rc = commit_block(l, &b, NULL, NULL, 0)) < 0)
        return rc;
    l->tip = b;
    LL_INFO("ledger: created genesis block %s", b.hash);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

/* Runs on the ledger thread: commit everything pending, then let the loop
 * end by closing its handles. Requests still queued are answered
 * LL_ESHUTDOWN while the queue closes. */
typedef struct reload {
    ll_ledger_t *l;
    size_t admitted, refused;
} reload_t;

static int reload_one(const char *body, int origin, void *arg)
{
    reload_t *rl = arg;
    ll_ledger_req_t r = {0};
    ll_tx_t *tx = NULL;
    if (ll_tx_parse(body, strlen(body), &tx, r.why) == 0 &&
        admit(rl->l, &r, tx, origin == FROM_FAUCET    ? FROM_FAUCET
                             : origin == FROM_SESSION ? FROM_SESSION
                                                      : FROM_CLIENT) == 0)
        rl->admitted++;
    else
        rl->refused++;
    json_decref(r.result);
    return 0;
}

/* Admits again what the last clean stop saved, in its order, and forgets
 * it. A transaction that no longer applies is logged and dropped. */
static int reload_mempool(ll_ledger_t *l)
{
    reload_t rl = {l, 0, 0};
    int rc = ll_store_load_pending(l->st, reload_one, &rl);
    if (rc < 0)
        return rc;
    if (rl.admitted + rl.refused == 0)
        return 0;
    if ((rc = ll_saved_forget(l->st)) < 0)
        return rc;
    LL_INFO("ledger: %zu transactions pending from the last stop%s", rl.admitted,
            rl.refused ? " (some no longer apply; see above)" : "");
    if (rl.refused)
        LL_ERROR("ledger: %zu saved transactions no longer apply and were dropped", rl.refused);
    return 0;
}

/* How long a stop keeps producing blocks before it saves what is left. */
#define STOP_BLOCKS_MS 1000

static void on_stop(ll_task_t *task)
{
    ll_ledger_t *l = (ll_ledger_t *)((char *)task - offsetof(ll_ledger_t, stop_task));
    uint64_t until = uv_hrtime() + (uint64_t)STOP_BLOCKS_MS * 1000000;
    l->stopping = 1;
    uv_timer_stop(&l->block_timer);
    flush_pending(l);
    /* A stop must end within 2 s whatever is pending: commit blocks for a
     * while (a contract run was interrupted by ll_ledger_stop and fails
     * them), then save the rest for the next start. */
    while (ll_mempool_count(l->mempool) > 0 && uv_hrtime() < until) {
        if (produce_block(l) < 0)
            break;
    }
    if (ll_mempool_count(l->mempool) > 0) {
        size_t n = ll_mempool_count(l->mempool);
        if (ll_saved_write(l->st, l->mempool) == 0)
            LL_INFO("ledger: %zu pending transactions saved for the next start", n);
        else
            LL_ERROR("ledger: %zu pending transactions could not be saved at stop", n);
    }
    uv_close((uv_handle_t *)&l->block_timer, on_closed);
    uv_close((uv_handle_t *)&l->pending_timer, on_closed);
    ll_taskq_close(&l->inbox, NULL);
}

static void run_loop(void *arg)
{
    ll_ledger_t *l = arg;
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

static void free_ledger(ll_ledger_t *l)
{
    ll_mempool_free(l->mempool);
    ll_state_free(l->admission);
    ll_state_free(l->building);
    ll_events_free(l->events);
    ll_store_close(l->st);
    free(l->batch);
    free(l->receipts);
    free(l->pending_msgs);
    sodium_memzero(&l->node_key, sizeof l->node_key);
    sodium_memzero(&l->faucet_key, sizeof l->faucet_key);
    free(l);
}

int ll_ledger_start(const ll_ledger_opts_t *opts, ll_ledger_t **out)
{
    ll_ledger_t *l = calloc(1, sizeof *l);
    int rc = LL_ENOMEM, loop_ready = 0, inbox_ready = 0;
    if (!l)
        return LL_ENOMEM;
    l->opts = *opts;
    if (!l->opts.block_gas_limit)
        l->opts.block_gas_limit = LL_DEFAULT_BLOCK_GAS_LIMIT;
    if (!l->opts.max_pending_per_sender)
        l->opts.max_pending_per_sender = LL_DEFAULT_MAX_PENDING_PER_SENDER;
    snprintf(l->data_dir, sizeof l->data_dir, "%s", opts->data_dir);
    l->opts.data_dir = l->data_dir;
    if ((rc = ll_store_open(l->data_dir, LL_STORE_WRITER, opts->sync, &l->st)) < 0) {
        LL_ERROR("ledger: cannot open the database under %s", l->data_dir);
        goto fail;
    }
    if ((rc = load_or_create_key(l->data_dir, "node.key", &l->node_key)) < 0 ||
        (rc = load_or_create_key(l->data_dir, "faucet.key", &l->faucet_key)) < 0)
        goto fail;
    rc = LL_ENOMEM;
    l->mempool = ll_mempool_new(LL_MEMPOOL_CAPACITY);
    l->admission = ll_state_new(l->st);
    l->building = ll_state_new(l->st);
    if (l->admission && l->building) {
        ll_state_set_gas_price(l->admission, l->opts.gas_price);
        ll_state_set_gas_price(l->building, l->opts.gas_price);
    }
    l->batch = calloc(opts->max_block_txs, sizeof *l->batch);
    l->receipts = calloc(opts->max_block_txs, sizeof *l->receipts);
    l->events = ll_events_new(l->st);
    if (!l->mempool || !l->admission || !l->building || !l->batch || !l->receipts || !l->events)
        goto fail;
    rc = ll_store_latest_block(l->st, &l->tip);
    if (rc == LL_ENOTFOUND)
        rc = create_genesis(l);
    if (rc < 0)
        goto fail;
    rc = LL_EINTERNAL;
    if (uv_loop_init(&l->loop) != 0)
        goto fail;
    loop_ready = 1;
    if (ll_taskq_init(&l->inbox, &l->loop) < 0)
        goto fail;
    inbox_ready = 1;
    uv_timer_init(&l->loop, &l->block_timer);
    l->block_timer.data = l;
    uv_timer_init(&l->loop, &l->pending_timer);
    l->pending_timer.data = l;
    l->stop_task.run = on_stop;
    ll_vm_interrupt_clear(); /* a ledger stopped earlier in this process set it */
    if ((rc = reload_mempool(l)) < 0)
        goto fail;
    publish_stats(l);
    if (uv_thread_create(&l->thread, run_loop, l) != 0)
        goto fail;
    LL_INFO("ledger: chain at height %" PRIu64 ", miner %s", l->tip.height, l->node_key.address);
    *out = l;
    return 0;
fail:
    if (loop_ready) {
        uv_walk(&l->loop, close_any, NULL);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
    }
    if (inbox_ready)
        ll_taskq_destroy(&l->inbox);
    free_ledger(l);
    return rc;
}

void ll_ledger_stop(ll_ledger_t *l)
{
    if (!l || l->stopped)
        return;
    /* A contract running now stops at its next instruction: the block it is
     * in is abandoned and its transactions stay pending (then saved). */
    ll_vm_interrupt();
    if (ll_taskq_post(&l->inbox, &l->stop_task) < 0)
        LL_ERROR("ledger: stop requested twice");
    uv_thread_join(&l->thread);
    l->stopped = 1;
    if (uv_loop_close(&l->loop) != 0)
        LL_ERROR("ledger: loop closed with handles still open");
    LL_INFO("ledger: stopped at height %" PRIu64, l->tip.height);
}

void ll_ledger_free(ll_ledger_t *l)
{
    if (!l)
        return;
    ll_ledger_stop(l);
    ll_taskq_destroy(&l->inbox); /* posts were refused since the stop; none can come now */
    free_ledger(l);
}

const char *ll_ledger_miner(const ll_ledger_t *l)
{
    return l->node_key.address;
}

const char *ll_ledger_faucet_address(const ll_ledger_t *l)
{
    return l->faucet_key.address;
}

void ll_ledger_stats(const ll_ledger_t *l, ll_ledger_stats_t *out)
{
    out->height = atomic_load(&l->stat_height);
    out->mempool = atomic_load(&l->stat_mempool);
    out->blocks_produced = atomic_load(&l->stat_blocks);
    out->txs_committed = atomic_load(&l->stat_txs);
}
