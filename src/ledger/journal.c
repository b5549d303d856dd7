/* ledger/journal.c: the group commit of ledger/journal.h.
 *
 * The ledger thread fills a group (admissions, drops, a slice of the
 * committed prefix) while the writer thread writes the previous one to
 * journal.db and waits for its fsync: a submitter's 202 waits for one fsync
 * of its own group, never for the ledger thread to finish one. When the
 * writer is done it posts done_task to the ledger's inbox, where the
 * group's replies are sent and the next group starts with everything
 * admitted meanwhile. journal.db's connection is the writer's while a group
 * flies, and the ledger thread's otherwise (the start reads it). */
#include "store/journal.h"
#include "ledger/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_timer(uv_timer_t *t);

static void arm(ll_ledger_t *l, uint64_t after_ms)
{
    if (!l->journal.closed && !uv_is_active((uv_handle_t *)&l->journal.timer))
        uv_timer_start(&l->journal.timer, on_timer, after_ms, 0);
}

/* Makes room for at least need items. */
static int ensure(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *grown = realloc(*items, ncap * size);
    if (!grown)
        return LL_ENOMEM;
    *items = grown;
    *cap = ncap;
    return 0;
}

/* ---- the writer thread ------------------------------------------------------- */

/* One journal.db transaction: the group's rows are appended, then its drops
 * and its slice of the committed prefix go (after, so that a row appended
 * in the same group and already committed goes too). */
static int write_group(ll_store_t *jst, const ll_journal_group_t *g)
{
    int rc = ll_store_begin(jst);
    for (size_t i = 0; rc == 0 && i < g->nadmitted; i++) {
        const ll_tx_t *tx = g->admitted[i].tx;
        if (tx)
            rc = ll_store_journal_append(jst, tx->journal_pos, tx->origin, ll_tx_text(tx));
    }
    for (size_t i = 0; rc == 0 && i < g->ndropped; i++)
        if (g->dropped[i]->journal_pos)
            rc = ll_store_journal_forget(jst, g->dropped[i]->journal_pos);
    if (rc == 0 && g->upto)
        rc = ll_store_journal_forget_before(jst, g->upto);
    if (rc == 0)
        rc = ll_store_commit(jst);
    if (rc < 0)
        ll_store_rollback(jst);
    return rc;
}

static void writer_main(void *arg)
{
    ll_ledger_t *l = arg;
    ll_journal_t *j = &l->journal;
    ll_thread_name("ll-journal");
    uv_mutex_lock(&j->lock);
    for (;;) {
        while (!j->work && !j->quit)
            uv_cond_wait(&j->cond, &j->lock);
        if (!j->work)
            break; /* quit, with nothing left to write */
        j->work = 0;
        uv_mutex_unlock(&j->lock);
        int rc = write_group(l->jst, &j->fly);
        uv_mutex_lock(&j->lock);
        j->rc = rc;
        j->done = 1;
        uv_cond_broadcast(&j->cond); /* ll_journal_sync may be waiting */
        /* One post at a time; refused once the ledger stops (its sync has
         * then seen done). */
        if (!j->task_queued && ll_taskq_post(&l->inbox, &j->done_task) == 0)
            j->task_queued = 1;
    }
    uv_mutex_unlock(&j->lock);
}

/* ---- the ledger thread ------------------------------------------------------- */

static int group_empty(const ll_journal_group_t *g)
{
    return g->nadmitted + g->ndropped == 0 && !g->upto;
}

/* Where the next slice of the committed prefix ends; 0: no slice. */
static uint64_t forget_upto(const ll_journal_t *j)
{
    if (j->forget_before <= j->gone_before)
        return 0;
    uint64_t room = j->forget_before - j->gone_before;
    return j->gone_before + (room < LL_JOURNAL_FORGET_SLICE ? room : LL_JOURNAL_FORGET_SLICE);
}

static void signal_writer(ll_journal_t *j)
{
    uv_mutex_lock(&j->lock);
    j->work = 1;
    j->done = 0;
    uv_cond_signal(&j->cond);
    uv_mutex_unlock(&j->lock);
}

/* Hands fill to the writer when it is idle and fill holds something. */
static void start_group(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    ll_journal_group_t swap;
    if (j->flying || j->closed)
        return;
    j->fill.upto = forget_upto(j);
    if (group_empty(&j->fill))
        return;
    /* Room for what group_done moves, made before the rows are written. */
    if (ensure((void **)&j->msgs_pending, &j->msgs_pending_cap,
               j->nmsgs_pending + j->fill.nadmitted, sizeof *j->msgs_pending) < 0 ||
        ensure((void **)&j->msgs_dropped, &j->msgs_dropped_cap, j->nmsgs_dropped + j->fill.ndropped,
               sizeof *j->msgs_dropped) < 0) {
        LL_ERROR("ledger: out of memory for the journal; retrying");
        arm(l, l->opts.block_interval_ms);
        return;
    }
    j->fill.end_pos = j->next_pos;
    swap = j->fly; /* empty, with its arrays kept for reuse */
    j->fly = j->fill;
    j->fill = swap;
    j->fill.nadmitted = j->fill.ndropped = 0;
    j->fill.upto = 0;
    j->flying = 1;
    j->failed = 0;
    signal_writer(j);
}

/* fly is on disk: messages wait for their events, the replies go, and
 * what was dropped without an event to write is freed. */
static void group_written(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    ll_journal_group_t *g = &j->fly;
    for (size_t i = 0; i < g->nadmitted; i++) {
        const ll_tx_t *tx = g->admitted[i].tx;
        if (tx && tx->kind == LL_TX_MESSAGE) /* room made by start_group */
            j->msgs_pending[j->nmsgs_pending++] = tx;
    }
    for (size_t i = 0; i < g->ndropped; i++) {
        if (g->dropped[i]->kind == LL_TX_MESSAGE)
            j->msgs_dropped[j->nmsgs_dropped++] = g->dropped[i];
        else
            ll_tx_free(g->dropped[i]);
    }
    for (size_t i = 0; i < g->nadmitted; i++)
        if (g->admitted[i].reply)
            ll_ledger_send_reply(g->admitted[i].reply);
    if (g->upto)
        j->gone_before = g->upto;
    j->durable_before = g->end_pos;
    g->nadmitted = g->ndropped = 0;
    g->upto = 0;
}

/* The writer has finished fly (the done task, or a sync). Returns its
 * result; 0 also when no group was flying or it is not done yet. */
static int group_done(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    int done, rc;
    uv_mutex_lock(&j->lock);
    done = j->flying && j->done;
    rc = j->rc;
    if (done)
        j->done = 0;
    uv_mutex_unlock(&j->lock);
    if (!done)
        return 0;
    if (rc < 0) {
        /* fly stays whole and is written again after a pause; admissions
         * keep filling the next group meanwhile. */
        LL_ERROR("ledger: %zu admissions and %zu drops not journaled (%s); retrying",
                 j->fly.nadmitted, j->fly.ndropped, ll_err_name(rc));
        j->failed = 1;
        arm(l, l->opts.block_interval_ms);
        return rc;
    }
    group_written(l);
    j->flying = 0;
    return 0;
}

static void on_done(ll_task_t *task)
{
    ll_ledger_t *l = (ll_ledger_t *)((char *)task - offsetof(ll_ledger_t, journal.done_task));
    ll_journal_t *j = &l->journal;
    if (j->closed)
        return; /* the inbox closes after the writer: nothing flies */
    uv_mutex_lock(&j->lock);
    j->task_queued = 0;
    uv_mutex_unlock(&j->lock);
    if (group_done(l) == 0) {
        ll_journal_flush(l);
        ll_ledger_schedule_block(l); /* what just became durable may fill a block */
    }
}

/* Part 2, ledger.db's event log: the messages' "pending" and "dropped". */
static int flush_events(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    ll_batch_t *pending = NULL, *dropped = NULL;
    int rc;
    if (j->nmsgs_pending + j->nmsgs_dropped == 0)
        return 0;
    if ((rc = ll_store_begin(l->st)) == 0 &&
        (!j->nmsgs_pending ||
         (rc = ll_events_append_messages(l->events, l->st, l->tip.height, "pending",
                                         j->msgs_pending, j->nmsgs_pending, &pending)) == 0) &&
        (!j->nmsgs_dropped ||
         (rc = ll_events_append_messages(l->events, l->st, l->tip.height, "dropped",
                                         (const ll_tx_t *const *)j->msgs_dropped, j->nmsgs_dropped,
                                         &dropped)) == 0) &&
        (rc = ll_store_commit(l->st)) == 0) {
        ll_events_commit(l->events);
        ll_ledger_publish(l, pending);
        ll_ledger_publish(l, dropped);
        for (size_t i = 0; i < j->nmsgs_dropped; i++)
            ll_tx_free(j->msgs_dropped[i]);
        j->nmsgs_pending = j->nmsgs_dropped = 0;
        return 0;
    }
    ll_store_rollback(l->st);
    ll_events_abort(l->events);
    ll_batch_unref(pending);
    ll_batch_unref(dropped);
    LL_ERROR("ledger: %zu pending and %zu dropped message events not written (%s); retrying",
             j->nmsgs_pending, j->nmsgs_dropped, ll_err_name(rc));
    return rc;
}

int ll_journal_flush(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    int rc = 0;
    start_group(l);
    if (!l->job_running && (rc = flush_events(l)) < 0)
        arm(l, l->opts.block_interval_ms);
    if (!j->flying && forget_upto(j))
        arm(l, 1); /* the next slice, after the next turn's admissions */
    return rc;
}

static void on_timer(uv_timer_t *t)
{
    ll_ledger_t *l = t->data;
    ll_journal_t *j = &l->journal;
    if (j->flying && j->failed) {
        j->failed = 0;
        signal_writer(j); /* the same group, again */
        return;
    }
    ll_journal_flush(l);
}

int ll_journal_sync(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    int rc = 0;
    for (int tries = 0; tries < 100; tries++) {
        if (j->flying) {
            if (j->failed) {
                j->failed = 0;
                signal_writer(j);
            }
            uv_mutex_lock(&j->lock);
            while (!j->done)
                uv_cond_wait(&j->cond, &j->lock);
            uv_mutex_unlock(&j->lock);
            if ((rc = group_done(l)) < 0)
                continue;
        }
        start_group(l);
        if (!j->flying)
            return l->job_running ? 0 : flush_events(l);
    }
    return rc < 0 ? rc : LL_ESTORE;
}

int ll_journal_init(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    uint64_t last = 0;
    int rc = ll_store_journal_last_pos(l->jst, &last);
    uv_timer_init(&l->loop, &j->timer);
    j->timer.data = l;
    j->next_pos = last + 1;
    j->durable_before = last + 1;
    j->gone_before = last + 1; /* until the start has read the journal */
    j->done_task.run = on_done;
    if (rc < 0)
        return rc;
    if (uv_mutex_init(&j->lock) != 0)
        return LL_EINTERNAL;
    if (uv_cond_init(&j->cond) != 0) {
        uv_mutex_destroy(&j->lock);
        return LL_EINTERNAL;
    }
    if (uv_thread_create(&j->writer, writer_main, l) != 0) {
        uv_cond_destroy(&j->cond);
        uv_mutex_destroy(&j->lock);
        return LL_EINTERNAL;
    }
    j->writer_started = 1;
    return 0;
}

void ll_journal_gone_before(ll_ledger_t *l, uint64_t pos)
{
    l->journal.gone_before = pos;
}

int ll_journal_reserve(ll_ledger_t *l)
{
    ll_journal_group_t *g = &l->journal.fill;
    return ensure((void **)&g->admitted, &g->admitted_cap, g->nadmitted + 1, sizeof *g->admitted);
}

void ll_journal_admitted(ll_ledger_t *l, ll_tx_t *tx, ll_ledger_req_t *reply)
{
    ll_journal_t *j = &l->journal;
    tx->journal_pos = j->next_pos++;
    j->fill.admitted[j->fill.nadmitted++] = (ll_journal_entry_t){tx, reply};
    if (reply)
        reply->held = 1;
    arm(l, 0);
}

int ll_journal_hold(ll_ledger_t *l, ll_ledger_req_t *reply)
{
    ll_journal_group_t *g = &l->journal.fill;
    if (ll_journal_reserve(l) < 0)
        return LL_ENOMEM;
    g->admitted[g->nadmitted++] = (ll_journal_entry_t){NULL, reply};
    reply->held = 1;
    arm(l, 0);
    return 0;
}

void ll_journal_dropped(ll_ledger_t *l, ll_tx_t *tx)
{
    ll_journal_group_t *g = &l->journal.fill;
    if (ensure((void **)&g->dropped, &g->dropped_cap, g->ndropped + 1, sizeof *g->dropped) < 0) {
        /* Its journal row stays: the next start drops it again. */
        LL_ERROR("ledger: out of memory; %s is dropped without its event", tx->tx_id);
        ll_tx_free(tx);
        return;
    }
    g->dropped[g->ndropped++] = tx;
    arm(l, 0);
}

void ll_journal_committed(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    /* The block being produced, if any, holds the oldest (taken first). */
    uint64_t least =
        l->inflight ? l->batch[0]->journal_pos : ll_mempool_oldest_journal_pos(l->mempool);
    j->forget_before = least == UINT64_MAX ? j->next_pos : least;
    arm(l, 0);
}

static void fail_group(ll_journal_group_t *g, int err, const char *why)
{
    for (size_t i = 0; i < g->nadmitted; i++) {
        ll_ledger_req_t *r = g->admitted[i].reply;
        if (!r)
            continue;
        json_decref(r->result);
        r->result = NULL;
        r->rc = err;
        snprintf(r->why, sizeof r->why, "%s", why);
        ll_ledger_send_reply(r);
    }
    g->nadmitted = 0;
}

void ll_journal_fail_held(ll_ledger_t *l, int err, const char *why)
{
    ll_journal_t *j = &l->journal;
    if (j->flying) { /* after a failed sync: the writer is idle */
        fail_group(&j->fly, err, why);
        j->flying = 0;
    }
    fail_group(&j->fill, err, why);
}

/* Lets the writer finish what it holds, then joins it (once). */
static void stop_writer(ll_journal_t *j)
{
    if (!j->writer_started)
        return;
    uv_mutex_lock(&j->lock);
    j->quit = 1;
    uv_cond_signal(&j->cond);
    uv_mutex_unlock(&j->lock);
    uv_thread_join(&j->writer);
    j->writer_started = 0;
    uv_cond_destroy(&j->cond);
    uv_mutex_destroy(&j->lock);
}

void ll_journal_close(ll_ledger_t *l, uv_close_cb on_closed)
{
    ll_journal_t *j = &l->journal;
    j->closed = 1;
    stop_writer(j);
    uv_close((uv_handle_t *)&j->timer, on_closed);
}

static void free_group(ll_journal_group_t *g)
{
    for (size_t i = 0; i < g->ndropped; i++)
        ll_tx_free(g->dropped[i]);
    free(g->admitted);
    free(g->dropped);
}

void ll_journal_free(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    stop_writer(j); /* a start that failed after init left it running */
    free_group(&j->fill);
    free_group(&j->fly);
    for (size_t i = 0; i < j->nmsgs_dropped; i++)
        ll_tx_free(j->msgs_dropped[i]);
    free(j->msgs_pending);
    free(j->msgs_dropped);
    memset(j, 0, sizeof *j);
}
