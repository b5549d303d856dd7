/* ledger/producer.c: block production as a pipeline beside admission.
 *
 * The ledger thread takes the oldest pending transactions out of the
 * mempool (after the journal has made them durable and written the
 * "pending" events), a slice per loop turn, and hands them to one block job
 * on the producer thread. The job applies them to the building view
 * (contracts run there), computes the tx root, does the proof of work,
 * commits the block to ledger.db on the writer connection and publishes its
 * events. Meanwhile the ledger thread goes on admitting: the journal lives
 * in journal.db, the admission view and lookups read through the ledger's
 * own reader, so nothing it does for a submitter waits for the block. The
 * job's result comes back to the ledger thread (after_job), which frees or
 * re-queues the transactions and lets the next block start.
 *
 * While a job runs it alone touches: the writer connection (l->st), the
 * building view, the event log (l->events), l->kept, l->receipts,
 * l->dropped and l->graveyard (the previous block's transactions, which it
 * frees: a block's worth of frees is milliseconds the ledger thread would
 * otherwise spend while submitters wait); it only reads l->batch[0, taken),
 * l->tip and l->opts. The ledger thread touches none of those until
 * after_job, except that it reads l->batch to rebuild the admission view. */
#include "ledger/block.h"
#include "ledger/commit.h"
#include "ledger/internal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ll_ledger_commit_block(ll_ledger_t *l, ll_block_hdr_t *b, ll_tx_t *const *txs,
                           json_t *const *receipts, size_t n)
{
    ll_batch_t *batch = NULL;
    int rc = ll_commit_block(l->st, l->building, l->events, b, txs, receipts, n, &batch);
    if (rc == 0)
        ll_ledger_publish(l, batch); /* born at commit, never before */
    return rc;
}

uint64_t ll_ledger_penalty_left(ll_ledger_t *l, const char *sender, uint64_t now_ms)
{
    uv_mutex_lock(&l->penalty_lock);
    uint64_t left = ll_penalty_left(&l->penalties, sender, now_ms);
    uv_mutex_unlock(&l->penalty_lock);
    return left;
}

static void penalty_add(ll_ledger_t *l, const char *sender)
{
    uv_mutex_lock(&l->penalty_lock);
    ll_penalty_add(&l->penalties, sender, ll_clock_mono_ms());
    uv_mutex_unlock(&l->penalty_lock);
}

static void start_header(ll_ledger_t *l, ll_block_hdr_t *b)
{
    memset(b, 0, sizeof *b);
    b->height = l->tip.height + 1;
    snprintf(b->previous_hash, sizeof b->previous_hash, "%s", l->tip.hash);
    /* Block time never runs backwards, even if the wall clock does. */
    int64_t t = ll_clock_wall_ms();
    b->timestamp_ms = t > l->tip.timestamp_ms ? t : l->tip.timestamp_ms;
    snprintf(b->miner, sizeof b->miner, "%s", l->node_key.address);
    b->difficulty = l->opts.difficulty;
}

static void drop_receipts(ll_ledger_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(l->receipts[i]);
        l->receipts[i] = NULL;
    }
}

/* The job, part 1: applies batch[0, taken) in order to the building view.
 * A transaction that fails is dropped for good; once the block has run
 * contracts for LL_BLOCK_CONTRACT_MS the rest wait (job->rest); a stop
 * interrupts the block (job->canceled). */
static void apply_block(ll_ledger_t *l, ll_block_job_t *job)
{
    char why[LL_ERRMSG_MAX];
    ll_block_hdr_t *b = &job->b;
    uint64_t started = uv_hrtime();
    ll_state_reset(l->building);
    job->rest = job->taken;
    for (size_t i = 0; i < job->taken; i++) {
        ll_tx_t *tx = l->batch[i];
        uint64_t now = uv_hrtime(), runs = ll_mempool_gas(tx);
        if (runs && i > 0 && now - started >= LL_BLOCK_CONTRACT_MS * 1000000ull) {
            job->rest = i; /* this block has run contracts long enough */
            return;
        }
        /* Admission applied the same rules to the same order, so a failure
         * here means the admission view went wrong: drop, never corrupt. */
        json_t *receipt = NULL;
        int penalised = runs && ll_ledger_penalty_left(l, tx->sender, now / 1000000);
        int rc = penalised
                     ? LL_ETIMELIMIT
                     : ll_state_apply_block(l->building, tx, b->miner, b->height, &receipt, why);
        if (rc == LL_ECANCELED) { /* the node is stopping: the block is abandoned */
            job->rest = i;
            job->canceled = 1;
            return;
        }
        if (rc == LL_ETIMELIMIT) {
            /* No receipt, so left out; its sender's deploys and calls are
             * refused for a while, the ones pending included. */
            snprintf(why, sizeof why, "%s",
                     penalised ? "its sender is refused contract runs"
                               : "its contract run outlived the time limit");
            if (!penalised)
                penalty_add(l, tx->sender);
            atomic_fetch_add(&l->stat_time_limits, !penalised);
        }
        if (rc < 0) {
            LL_ERROR("ledger: dropping %s from block %" PRIu64 ": %s", tx->tx_id, b->height, why);
            l->dropped[job->ndropped++] = tx;
            continue;
        }
        l->receipts[job->kept] = receipt;
        l->kept[job->kept++] = tx;
    }
}

/* The job, whole: apply, tx root, proof of work, commit and publish. Runs
 * on the producer thread, or on the ledger thread for the stop's blocks. */
/* Counts one phase of a block in /metrics' histograms; since, its start. */
static void observe(ll_ledger_t *l, ll_block_phase_t phase, uint64_t since)
{
    uint64_t ns = uv_hrtime() - since;
    atomic_fetch_add_explicit(&l->stat_phase[phase][ll_histo_bucket(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->stat_phase_ns[phase], ns, memory_order_relaxed);
}

static void run_job(ll_ledger_t *l, ll_block_job_t *job)
{
    ll_block_hdr_t *b = &job->b;
    const char **ids = NULL;
    ll_ledger_free_graveyard(l);
    start_header(l, b);
    uint64_t t = uv_hrtime();
    apply_block(l, job);
    observe(l, LL_BLOCK_APPLY, t);
    if (job->canceled) {
        job->rc = LL_ECANCELED;
        return;
    }
    if (!(ids = calloc(job->kept ? job->kept : 1, sizeof *ids))) {
        job->rc = LL_ENOMEM;
        return;
    }
    for (size_t i = 0; i < job->kept; i++)
        ids[i] = l->kept[i]->tx_id;
    b->tx_count = (uint32_t)job->kept;
    t = uv_hrtime();
    job->rc = ll_block_tx_root(ids, job->kept, b->tx_root);
    free(ids);
    if (job->rc == 0)
        job->rc = ll_block_mine(b);
    observe(l, LL_BLOCK_MINE, t);
    t = uv_hrtime();
    if (job->rc == 0)
        job->rc = ll_ledger_commit_block(l, b, l->kept, l->receipts, job->kept);
    if (job->rc == 0)
        observe(l, LL_BLOCK_COMMIT, t);
}

/* Starts taking the next block: once the journal is flushed (its
 * "pending" events written: they must precede "confirmed"), and once a
 * block's worth is on disk. Returns 1 when taking may start, 0 when
 * nothing (yet) can be taken, or an error. */
static int start_take(ll_ledger_t *l, ll_block_job_t *job)
{
    int rc;
    memset(job, 0, sizeof *job);
    memset(&l->take, 0, sizeof l->take);
    if ((rc = ll_journal_flush(l)) < 0)
        return rc;
    /* A block's worth not yet on disk waits for its group commit (the
     * journal's done task takes the block then), rather than a block
     * taking fewer than --max-block-txs while more are pending. */
    size_t n = ll_mempool_count(l->mempool);
    size_t want = n < l->opts.max_block_txs ? n : l->opts.max_block_txs;
    if (want == 0)
        return 0;
    if (ll_mempool_nth_journal_pos(l->mempool, want - 1) >= l->journal.durable_before) {
        l->block_due = 1;
        return 0;
    }
    /* Only what is on disk: a block must not commit a transaction whose
     * journal row, and "pending" event, could still be lost. */
    l->take = (ll_mempool_limits_t){.txs = l->opts.max_block_txs,
                                    .gas = l->opts.block_gas_limit,
                                    .bytes = LL_BLOCK_MAX_BYTES,
                                    .before_pos = l->journal.durable_before,
                                    .most = LL_TAKE_SLICE};
    return 1;
}

/* Takes up to LL_TAKE_SLICE more transactions into l->batch and indexes
 * them. Returns 1 when the block is whole, 0 when more may follow, or
 * LL_ENOMEM. */
static int take_slice(ll_ledger_t *l, ll_block_job_t *job)
{
    size_t got = ll_mempool_take(l->mempool, l->batch + job->taken, &l->take);
    for (size_t i = job->taken; i < job->taken + got; i++)
        if (ll_hmap_put(l->inflight_ids, l->batch[i]->tx_id, l->batch[i]) < 0) {
            job->taken += got;
            l->inflight = job->taken;
            return LL_ENOMEM;
        }
    job->taken += got;
    l->inflight = job->taken;
    return got < LL_TAKE_SLICE || job->taken == l->opts.max_block_txs;
}

/* Gives the taken transactions back (a take that failed or a stop). */
static void untake_all(ll_ledger_t *l, ll_block_job_t *job)
{
    ll_hmap_clear(l->inflight_ids);
    ll_mempool_untake(l->mempool, l->batch, job->taken);
    job->taken = 0;
    l->inflight = 0;
    l->taking = 0;
}

/* The whole take at once (the stop's blocks). */
static int take_block(ll_ledger_t *l, ll_block_job_t *job)
{
    int rc = start_take(l, job);
    while (rc == 1 && (rc = take_slice(l, job)) == 0)
        ;
    if (rc < 0) {
        untake_all(l, job);
        return rc;
    }
    return (int)job->taken;
}

/* Back on the ledger thread: what the job dropped goes to the journal;
 * what it did not commit is pending again, in order, ahead of what was
 * admitted meanwhile; what it committed is freed and leaves the journal. */
static int after_job(ll_ledger_t *l, ll_block_job_t *job)
{
    ll_block_hdr_t *b = &job->b;
    size_t kept = job->kept, again = 0;
    int rc = job->rc;
    l->inflight = 0;
    ll_hmap_clear(l->inflight_ids);
    for (size_t i = 0; i < job->ndropped; i++)
        ll_journal_dropped(l, l->dropped[i]);
    /* batch[rest, taken) were never tried, kept[] only if the block failed;
     * kept[] is a subsequence of batch[0, rest), so it can move in front. */
    if (rc < 0) {
        drop_receipts(l, kept);
        memmove(l->batch, l->kept, kept * sizeof *l->batch);
        again = kept;
    }
    memmove(l->batch + again, l->batch + job->rest, (job->taken - job->rest) * sizeof *l->batch);
    again += job->taken - job->rest;
    ll_mempool_untake(l->mempool, l->batch, again);
    if (rc == LL_ECANCELED) {
        LL_INFO("ledger: block %" PRIu64 " interrupted by the stop", b->height);
    } else if (rc < 0) {
        LL_ERROR("ledger: block %" PRIu64 " not committed (%s); its transactions stay pending",
                 b->height, ll_err_name(rc));
    } else {
        drop_receipts(l, kept);
        l->tip = *b;
        atomic_fetch_add(&l->stat_blocks, 1);
        atomic_fetch_add(&l->stat_txs, kept);
        LL_DEBUG("ledger: block %" PRIu64 " %s with %zu transactions", b->height, b->hash, kept);
    }
    int ran_contracts = 0;
    for (size_t i = 0; rc == 0 && i < kept; i++) {
        ran_contracts |= ll_mempool_gas(l->kept[i]) > 0;
        l->graveyard[i] = l->kept[i];
    }
    if (rc == 0) {
        /* Freed by the next job, off this thread: nothing here points at
         * them any more (the lookup map was cleared above). */
        l->ngraveyard = kept;
        ll_journal_committed(l);
    }
    /* The admission view holds absolute values (committed + all pending), so
     * committing a prefix of the pending sequence leaves it right. It needs
     * a rebuild when transactions were dropped or left for later, or when
     * contracts ran (their admission reserved gas_limit x price; the block
     * refunded what was not used), and it is emptied when nothing is pending
     * so it does not grow without bound. */
    if (rc < 0 || job->ndropped || job->rest != job->taken || ran_contracts ||
        ll_mempool_count(l->mempool) == 0) {
        size_t failed = ll_ledger_rebuild_admission(l);
        if (failed)
            LL_ERROR("ledger: %zu pending transactions no longer apply", failed);
    }
    ll_ledger_publish_stats(l);
    return rc;
}

void ll_ledger_free_graveyard(ll_ledger_t *l)
{
    for (size_t i = 0; i < l->ngraveyard; i++)
        ll_tx_free(l->graveyard[i]);
    l->ngraveyard = 0;
}

/* ---- on the ledger thread, for the stop --------------------------------------- */

int ll_ledger_produce_block_now(ll_ledger_t *l)
{
    ll_block_job_t *job = &l->job;
    int rc = take_block(l, job);
    if (rc <= 0)
        return rc;
    run_job(l, job);
    rc = after_job(l, job);
    return rc < 0 ? rc : 1;
}

/* ---- the pipeline: the job on the producer thread ---------------------------- */

static void on_block_timer(uv_timer_t *t);

/* Back on the ledger thread once the producer has run the job. */
static void on_job_done(ll_task_t *task)
{
    ll_ledger_t *l = (ll_ledger_t *)((char *)task - offsetof(ll_ledger_t, job_done_task));
    l->job_running = 0;
    int rc = after_job(l, &l->job);
    if (rc < 0 && !l->stopping) /* retry after an interval rather than spin on a failing disk */
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
    ll_ledger_block_done(l);
}

/* The producer thread: one job at a time, handed over under prod_lock. It
 * runs at LL_PRODUCER_NICE: behind the threads someone waits for (workers,
 * the ledger, the journal's writer), ahead of the thread pool's bulk work,
 * since a block is the pipeline's last stage: every transaction waits for
 * it, however early it was verified. */
static void producer_main(void *arg)
{
    ll_ledger_t *l = arg;
    ll_thread_name("ll-producer");
    ll_thread_nice(LL_PRODUCER_NICE);
    uv_mutex_lock(&l->prod_lock);
    for (;;) {
        while (!l->prod_work && !l->prod_quit)
            uv_cond_wait(&l->prod_cond, &l->prod_lock);
        if (!l->prod_work)
            break;
        l->prod_work = 0;
        uv_mutex_unlock(&l->prod_lock);
        run_job(l, &l->job);
        /* The inbox closes only once no job runs (the stop waits for
         * this task), so the post is never refused. */
        if (ll_taskq_post(&l->inbox, &l->job_done_task) < 0)
            LL_ERROR("ledger: a block job finished after the stop");
        uv_mutex_lock(&l->prod_lock);
    }
    uv_mutex_unlock(&l->prod_lock);
}

int ll_producer_init(ll_ledger_t *l)
{
    uv_timer_init(&l->loop, &l->block_timer);
    l->block_timer.data = l;
    l->job_done_task.run = on_job_done;
    if (uv_mutex_init(&l->prod_lock) != 0)
        return LL_EINTERNAL;
    if (uv_cond_init(&l->prod_cond) != 0) {
        uv_mutex_destroy(&l->prod_lock);
        return LL_EINTERNAL;
    }
    if (uv_thread_create(&l->producer, producer_main, l) != 0) {
        uv_cond_destroy(&l->prod_cond);
        uv_mutex_destroy(&l->prod_lock);
        return LL_EINTERNAL;
    }
    l->producer_started = 1;
    return 0;
}

void ll_producer_close(ll_ledger_t *l)
{
    if (!l->producer_started)
        return;
    uv_mutex_lock(&l->prod_lock);
    l->prod_quit = 1;
    uv_cond_signal(&l->prod_cond);
    uv_mutex_unlock(&l->prod_lock);
    uv_thread_join(&l->producer);
    uv_cond_destroy(&l->prod_cond);
    uv_mutex_destroy(&l->prod_lock);
    l->producer_started = 0;
}

void ll_ledger_schedule_block(ll_ledger_t *l)
{
    size_t n = ll_mempool_count(l->mempool);
    if (l->job_running || l->stopping || l->taking)
        return; /* job_done schedules the next; a take goes on by itself */
    if (n >= l->opts.max_block_txs || (n > 0 && l->block_due))
        uv_timer_start(&l->block_timer, on_block_timer, 0, 0);
    else if (n > 0 && !uv_is_active((uv_handle_t *)&l->block_timer))
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
}

/* Takes the block a slice per loop turn, so admissions interleave with it,
 * then hands it to the producer thread. */
static void on_block_timer(uv_timer_t *t)
{
    ll_ledger_t *l = t->data;
    int rc;
    if (l->job_running || l->stopping)
        return;
    if (!l->taking) {
        if ((rc = start_take(l, &l->job)) <= 0) {
            if (rc < 0)
                uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
            return;
        }
        l->taking = 1;
    }
    if ((rc = take_slice(l, &l->job)) <= 0) {
        if (rc < 0) { /* out of memory: all pending again, and a pause */
            untake_all(l, &l->job);
            uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
        } else {
            uv_timer_start(&l->block_timer, on_block_timer, 0, 0); /* the next slice */
        }
        return;
    }
    l->taking = 0;
    if (l->job.taken == 0)
        return;
    l->block_due = 0;
    l->job_running = 1;
    uv_mutex_lock(&l->prod_lock);
    l->prod_work = 1;
    uv_cond_signal(&l->prod_cond);
    uv_mutex_unlock(&l->prod_lock);
}

void ll_ledger_abandon_take(ll_ledger_t *l)
{
    if (l->taking)
        untake_all(l, &l->job);
}
