/* ledger/requests.c: what workers ask of the ledger thread
 * (ll_ledger_post): admission, with the rules of docs/API.md §2.6 before the
 * state's own; a transaction's lookup; the dev faucet; store calls; and, at
 * start, admitting again the mempool the last stop saved. */
#include "ledger/internal.h"
#include "store/journal.h"
#include "store/pending.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

void ll_ledger_send_reply(ll_ledger_req_t *r)
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

/* Work costs its sender (docs/API.md §2.6): a transaction is admitted only
 * from a sender that holds native coin, within its share of the mempool and
 * of a block. Returns 0 or fails r. */
static int check_sender(ll_ledger_t *l, ll_ledger_req_t *r, const ll_tx_t *tx, ll_origin_t origin)
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
    uint64_t left = gas ? ll_ledger_penalty_left(l, tx->sender, ll_clock_mono_ms()) : 0;
    if (left) {
        snprintf(why, sizeof why,
                 "a contract run of this sender outlived the node's time limit: its deploys and "
                 "calls are refused for %" PRIu64 " more seconds",
                 (left + 999) / 1000);
        return fail(r, LL_ETIMELIMIT, why);
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

/* How admit() treats what it admits: a new transaction is journaled and
 * its 202 held until it is on disk; one reloaded from the journal is
 * there already, and when it no longer applies the journal drops it. */
typedef enum {
    ADMIT_NEW,        /* r's reply waits for the journal */
    ADMIT_BATCH_ITEM, /* journaled; the batch's reply waits (handle_batch) */
    ADMIT_RELOADED,
    ADMIT_MOVED, /* reloaded from ledger.db's old journal: journaled in journal.db */
} admit_mode_t;

/* Admits tx (owned) to the mempool: duplicates, capacity, then the ledger
 * rules against committed state plus everything already pending. */
static int admit(ll_ledger_t *l, ll_ledger_req_t *r, ll_tx_t *tx, ll_origin_t origin,
                 admit_mode_t mode)
{
    ll_store_tx_t row;
    char why[LL_ERRMSG_MAX];
    int rc;
    if (ll_mempool_find(l->mempool, tx->tx_id) || ll_ledger_inflight_find(l, tx->tx_id) ||
        (rc = ll_store_get_tx(l->reader, tx->tx_id, &row)) == 0) {
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
    /* The block being produced counts: its transactions come back to the
     * mempool if it fails, and must find room. */
    if (ll_mempool_count(l->mempool) + l->inflight >= LL_MEMPOOL_CAPACITY ||
        ll_mempool_bytes(l->mempool) + ll_mempool_tx_bytes(tx) > LL_MEMPOOL_MAX_BYTES) {
        fail(r, LL_EBUSY, "too many transactions are pending; retry shortly");
        goto drop;
    }
    int journal = mode != ADMIT_RELOADED;
    if (journal && ll_journal_reserve(l) < 0) {
        fail(r, LL_ENOMEM, "out of memory");
        goto drop;
    }
    if ((rc = ll_state_apply(l->admission, tx, l->node_key.address, l->tip.height + 1, why)) < 0) {
        fail(r, rc, why);
        goto drop;
    }
    if ((rc = ll_mempool_add(l->mempool, tx)) < 0) {
        /* The admission view already counts tx: rebuild it without. */
        ll_ledger_rebuild_admission(l);
        fail(r, rc, "out of memory");
        goto drop;
    }
    r->result = json_pack("{s:s, s:s}", "tx_id", tx->tx_id, "status", "pending");
    r->rc = r->result ? 0 : LL_ENOMEM;
    if (journal) /* room reserved above */
        ll_journal_admitted(l, tx, mode == ADMIT_NEW ? r : NULL);
    ll_ledger_publish_stats(l);
    ll_ledger_schedule_block(l);
    return r->rc;
drop:
    if (mode == ADMIT_RELOADED || mode == ADMIT_MOVED)
        ll_journal_dropped(l, tx);
    else
        ll_tx_free(tx);
    return r->rc;
}

static void handle_get_tx(ll_ledger_t *l, ll_ledger_req_t *r)
{
    ll_store_tx_t row;
    const ll_tx_t *tx = NULL;
    /* The chain first: a block job may have committed a transaction it
     * still holds, and a committed one must not read as pending. */
    int rc = ll_store_get_tx(l->reader, r->tx_id, &row);
    if (rc == LL_ENOTFOUND && !(tx = ll_mempool_find(l->mempool, r->tx_id)))
        tx = ll_ledger_inflight_find(l, r->tx_id); /* in the block being produced */
    if (rc == 0) {
        r->result =
            ll_tx_view(json_loads(row.body, JSON_ALLOW_NUL, NULL), row.tx_id, 0, row.height);
    } else if (tx) {
        r->result = ll_tx_view(json_deep_copy(tx->body), tx->tx_id, 1, 0);
    } else {
        fail(r, rc, rc == LL_ENOTFOUND ? "no transaction with that id" : "store unavailable");
        return;
    }
    r->rc = r->result ? 0 : LL_ENOMEM;
}

/* Completes body with the signer's key and its next nonce (counting what is
 * pending), signs it and admits it: the faucet and the custodial messenger
 * sign here because only the ledger thread knows the next nonce. */
static void sign_and_admit(ll_ledger_t *l, ll_ledger_req_t *r, json_t *body, const ll_keypair_t *kp,
                           ll_origin_t origin)
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
        ll_tx_fill_defaults(body, ll_clock_wall_ms()) < 0 || ll_tx_sign(body, kp) < 0) {
        fail(r, LL_EINTERNAL, "the transaction could not be signed");
        return;
    }
    if ((rc = ll_tx_from_own_json(body, &tx, r->why)) < 0) {
        r->rc = rc;
        return;
    }
    admit(l, r, tx, origin, ADMIT_NEW);
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

/* Admits up to most items of batch r in order, as if each were posted
 * alone. Returns 1 when r is done: then r's reply is held for the journal
 * (or sent, when nothing was admitted). */
static int admit_batch_slice(ll_ledger_t *l, ll_ledger_req_t *r, size_t most)
{
    for (; most > 0 && r->batch_next < r->batch_n && r->rc == 0; most--) {
        size_t i = r->batch_next++;
        ll_tx_t *tx = r->batch[i];
        ll_ledger_req_t item = {0};
        json_t *result;
        if (!tx)
            continue; /* the worker's refusal is in place */
        r->batch[i] = NULL;
        if (admit(l, &item, tx, FROM_CLIENT, ADMIT_BATCH_ITEM) == 0) {
            result = item.result;
            r->batch_admitted++;
        } else {
            json_decref(item.result);
            result = json_pack("{s:{s:s, s:s}}", "error", "code", ll_err_code(item.rc), "message",
                               item.why);
        }
        if (!result || json_array_set_new(r->batch_results, i, result) < 0)
            fail(r, LL_ENOMEM, "out of memory");
    }
    if (r->batch_next < r->batch_n && r->rc == 0)
        return 0;
    if (r->rc == 0) {
        r->result = r->batch_results;
        r->batch_results = NULL;
    }
    if (r->batch_admitted && ll_journal_hold(l, r) < 0 && ll_journal_sync(l) < 0)
        fail(r, LL_ENOMEM, "out of memory: the batch's admissions are not yet on disk");
    if (!r->held)
        ll_ledger_send_reply(r);
    return 1;
}

/* One slice of the oldest batch per loop turn; idle when none waits. */
static void on_batch_pump(uv_idle_t *h)
{
    ll_ledger_t *l = h->data;
    ll_ledger_req_t *r = l->batches_head;
    if (!r) {
        uv_idle_stop(h);
        return;
    }
    /* Read first: a batch answered here may be freed by its worker at once. */
    ll_ledger_req_t *next = (ll_ledger_req_t *)r->task.next;
    if (admit_batch_slice(l, r, LL_BATCH_SLICE)) {
        l->batches_head = next;
        if (!next)
            l->batches_tail = NULL;
        l->nbatches--;
    }
}

void ll_ledger_batches_init(ll_ledger_t *l)
{
    uv_idle_init(&l->loop, &l->batch_pump);
    l->batch_pump.data = l;
}

void ll_ledger_batches_drain(ll_ledger_t *l)
{
    while (l->batches_head)
        on_batch_pump(&l->batch_pump);
    uv_idle_stop(&l->batch_pump);
}

/* Queues batch r behind the others (task is the first member of a
 * request, so task.next links requests). */
static void queue_batch(ll_ledger_t *l, ll_ledger_req_t *r)
{
    if (l->nbatches >= LL_BATCHES_QUEUED_MAX) {
        /* Checked faster than admitted: what waits is bounded, the client
         * sends it again. */
        fail(r, LL_ERATELIMIT, "too many batches are waiting for admission; retry shortly");
        ll_ledger_send_reply(r);
        return;
    }
    l->nbatches++;
    r->batch_next = r->batch_admitted = 0;
    r->task.next = NULL;
    if (l->batches_tail)
        l->batches_tail->task.next = &r->task;
    else
        l->batches_head = r;
    l->batches_tail = r;
    uv_idle_start(&l->batch_pump, on_batch_pump);
}

static void on_request(ll_task_t *task)
{
    ll_ledger_req_t *r = (ll_ledger_req_t *)task;
    ll_ledger_t *l = r->ledger;
    r->rc = 0;
    r->why[0] = '\0';
    r->result = NULL;
    r->held = 0;
    if (l->stopping) {
        fail(r, LL_ESHUTDOWN, "the node is shutting down");
        ll_tx_free(r->tx);
        r->tx = NULL; /* a batch's items are the poster's to free */
    } else if (r->op == LL_LEDGER_SUBMIT) {
        ll_tx_t *tx = r->tx;
        r->tx = NULL; /* the mempool or admit() owns it now */
        admit(l, r, tx, FROM_CLIENT, ADMIT_NEW);
    } else if (r->op == LL_LEDGER_SUBMIT_BATCH) {
        queue_batch(l, r); /* admit_batch_slice answers */
        return;
    } else if (r->op == LL_LEDGER_GET_TX) {
        handle_get_tx(l, r);
    } else if (r->op == LL_LEDGER_FAUCET) {
        handle_faucet(l, r);
    } else if (r->op == LL_LEDGER_SIGN_SUBMIT) {
        sign_and_admit(l, r, r->body, &r->key, FROM_SESSION);
    } else if (l->job_running) {
        /* ledger.db's writer is the block job's: wait for it. */
        r->task.next = NULL;
        if (l->deferred_tail)
            l->deferred_tail->task.next = &r->task;
        else
            l->deferred_head = r;
        l->deferred_tail = r;
        return;
    } else {
        handle_store_call(l, r);
    }
    if (r->op == LL_LEDGER_SIGN_SUBMIT)
        sodium_memzero(&r->key, sizeof r->key);
    if (!r->held) /* else the journal answers once the admission is on disk */
        ll_ledger_send_reply(r);
}

void ll_ledger_run_deferred(ll_ledger_t *l)
{
    ll_ledger_req_t *r = l->deferred_head;
    l->deferred_head = l->deferred_tail = NULL;
    while (r) {
        /* task is the first member, so next points at the request */
        ll_ledger_req_t *next = (ll_ledger_req_t *)r->task.next;
        handle_store_call(l, r);
        ll_ledger_send_reply(r);
        r = next;
    }
}

int ll_ledger_post(ll_ledger_t *l, ll_ledger_req_t *req)
{
    req->ledger = l;
    req->task.run = on_request;
    return ll_taskq_post(&l->inbox, &req->task);
}

/* ---- the saved mempool ------------------------------------------------------ */

typedef struct reload {
    ll_ledger_t *l;
    admit_mode_t mode;
    size_t admitted, refused, committed;
    uint64_t first_pos; /* journal.db's first row; 0 until one is read */
} reload_t;

/* One journaled transaction: pos is its row in journal.db, 0 for a row of
 * ledger.db's old journal (admitted, then journaled anew). */
static int reload_one(uint64_t pos, const char *body, int origin, void *arg)
{
    reload_t *rl = arg;
    ll_ledger_req_t r = {0};
    ll_store_tx_t row;
    ll_tx_t *tx = NULL;
    if (pos && !rl->first_pos) {
        rl->first_pos = pos;
        ll_journal_gone_before(rl->l, pos);
    }
    ll_origin_t from = origin == FROM_FAUCET    ? FROM_FAUCET
                       : origin == FROM_SESSION ? FROM_SESSION
                                                : FROM_CLIENT;
    /* Journaled after its signature was verified: not verified again. */
    if (ll_tx_parse_own(body, strlen(body), &tx, r.why) < 0) {
        LL_ERROR("ledger: a journaled transaction does not parse (%s); skipped", r.why);
        rl->refused++;
        return 0;
    }
    if (ll_store_get_tx(rl->l->reader, tx->tx_id, &row) == 0) {
        ll_tx_free(tx); /* its block committed before the journal forgot it */
        rl->committed++;
        return 0;
    }
    if (ll_mempool_find(rl->l->mempool, tx->tx_id)) {
        ll_tx_free(tx); /* journaled twice: in ledger.db by an older binary too */
        return 0;
    }
    tx->journal_pos = pos;
    if (admit(rl->l, &r, tx, from, rl->mode) == 0) {
        rl->admitted++;
    } else {
        LL_ERROR("ledger: journaled transaction %s no longer applies (%s); dropped", tx->tx_id,
                 r.why);
        rl->refused++;
    }
    json_decref(r.result);
    return 0;
}

static int reload_legacy_one(const char *body, int origin, void *arg)
{
    return reload_one(0, body, origin, arg);
}

static int forget_legacy(const char *body, int origin, void *arg)
{
    ll_ledger_t *l = arg;
    ll_tx_t *tx = NULL;
    char why[LL_ERRMSG_MAX];
    (void)origin;
    if (ll_tx_parse_own(body, strlen(body), &tx, why) < 0)
        return 0; /* reported by reload_one; the row stays */
    int rc = ll_store_forget_pending(l->st, tx->tx_id);
    ll_tx_free(tx);
    return rc;
}

/* An older binary journaled in ledger.db's pending_txs: its rows are
 * admitted (and so journaled in journal.db) first, then forgotten there. */
static int reload_legacy(ll_ledger_t *l, reload_t *rl)
{
    rl->mode = ADMIT_MOVED;
    int rc = ll_store_load_pending(l->st, reload_legacy_one, rl);
    rl->mode = ADMIT_RELOADED;
    if (rc < 0 || rl->admitted + rl->refused + rl->committed == 0)
        return rc;
    if ((rc = ll_journal_sync(l)) < 0 || (rc = ll_store_begin(l->st)) < 0)
        return rc;
    if ((rc = ll_store_load_pending(l->st, forget_legacy, l)) == 0 &&
        (rc = ll_store_commit(l->st)) == 0)
        return 0;
    ll_store_rollback(l->st);
    return rc;
}

/* Admits again what the journal holds, in its order. A transaction that
 * no longer applies is dropped (journal.h: its row goes, and a message
 * gets its "dropped" event, at the first flush); one already in the chain
 * is forgotten. */
int ll_ledger_reload_mempool(ll_ledger_t *l)
{
    reload_t rl = {l, ADMIT_RELOADED, 0, 0, 0, 0};
    /* journal.db first: the moved rows get positions after its own. */
    int rc = ll_store_journal_load(l->jst, reload_one, &rl);
    if (rc == 0)
        rc = reload_legacy(l, &rl);
    if (rc < 0)
        return rc;
    ll_journal_committed(l); /* rows of committed or unreadable transactions go */
    if ((rc = ll_journal_flush(l)) < 0)
        return rc;
    if (rl.admitted + rl.refused + rl.committed > 0)
        LL_INFO("ledger: %zu journaled transactions pending again, %zu dropped, %zu already "
                "committed",
                rl.admitted, rl.refused, rl.committed);
    return 0;
}
