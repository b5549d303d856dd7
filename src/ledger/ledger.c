/* ledger/ledger.c: the ledger thread. Requests from workers arrive on one
 * task queue (requests.c); admissions are made durable in journal.db
 * (journal.c); blocks are produced by a job on the thread pool beside
 * admission (producer.c), at most block_interval_ms after the first pending
 * transaction, or at once when max_block_txs are pending. This file holds
 * the admission view, genesis, start and stop. */
#include "ledger/block.h"
#include "ledger/commit.h"
#include "ledger/internal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"
#include "vm/vm.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ll_ledger_publish_stats(ll_ledger_t *l)
{
    atomic_store(&l->stat_height, l->tip.height);
    /* pending: in the mempool, or in the block being mined */
    atomic_store(&l->stat_mempool, (uint64_t)(ll_mempool_count(l->mempool) + l->inflight));
}

/* Hands a committed batch to the workers (or drops it when none listen). */
void ll_ledger_publish(ll_ledger_t *l, ll_batch_t *batch)
{
    if (l->opts.hub && batch && batch->n > 0)
        ll_hub_publish(l->opts.hub, batch);
    else
        ll_batch_unref(batch);
}

static void replay_pending(const ll_tx_t *tx, void *arg)
{
    ll_ledger_t *l = arg;
    char why[LL_ERRMSG_MAX];
    if (ll_state_apply(l->admission, tx, l->node_key.address, l->tip.height + 1, why) < 0)
        l->replay_failed++;
}

size_t ll_ledger_rebuild_admission(ll_ledger_t *l)
{
    l->replay_failed = 0;
    ll_state_reset(l->admission);
    /* A block being mined is not committed yet: its transactions come
     * first, as they will be. */
    for (size_t i = 0; i < l->inflight; i++)
        replay_pending(l->batch[i], l);
    ll_mempool_each(l->mempool, replay_pending, l);
    return l->replay_failed;
}

const ll_tx_t *ll_ledger_inflight_find(const ll_ledger_t *l, const char *tx_id)
{
    return ll_hmap_get(l->inflight_ids, tx_id);
}

/* ---- genesis, keys, start and stop ------------------------------------------ */

/* Height 0: no transactions; the faucet's allocation is its only state. */
static int create_genesis(ll_ledger_t *l)
{
    ll_block_hdr_t b = {0};
    int rc;
    snprintf(b.previous_hash, sizeof b.previous_hash, "%s", LL_GENESIS_PREVIOUS_HASH);
    b.timestamp_ms = ll_clock_wall_ms();
    snprintf(b.miner, sizeof b.miner, "%s", l->node_key.address);
    b.difficulty = l->opts.difficulty;
    if ((rc = ll_block_tx_root(NULL, 0, b.tx_root)) < 0 || (rc = ll_block_mine(&b)) < 0)
        return rc;
    ll_state_reset(l->building);
    if ((rc = ll_state_credit(l->building, l->faucet_key.address, LL_NATIVE_ASSET_ID,
                              LL_GENESIS_FAUCET_UNITS)) < 0)
        return rc;
    if ((rc = ll_ledger_commit_block(l, &b, NULL, NULL, 0)) < 0)
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
/* How long a stop keeps producing blocks before it saves what is left. */
#define STOP_BLOCKS_MS 1000

static void on_stop_after_block(ll_ledger_t *l);

static void on_stop(ll_task_t *task)
{
    ll_ledger_t *l = (ll_ledger_t *)((char *)task - offsetof(ll_ledger_t, stop_task));
    l->stopping = 1;
    uv_timer_stop(&l->block_timer);
    ll_ledger_abandon_take(l);  /* the stop's blocks take it again */
    ll_ledger_batches_drain(l); /* what was accepted for admission is answered */
    if (!l->job_running)        /* else ll_ledger_block_done goes on with the stop */
        on_stop_after_block(l);
}

void ll_ledger_block_done(ll_ledger_t *l)
{
    /* The writer is free: the events the journal held back and the store
     * calls that waited go first, in the order they came. */
    ll_journal_flush(l);
    ll_ledger_run_deferred(l);
    if (l->stopping)
        on_stop_after_block(l);
    else
        ll_ledger_schedule_block(l);
}

static void on_stop_after_block(ll_ledger_t *l)
{
    uint64_t until = uv_hrtime() + (uint64_t)STOP_BLOCKS_MS * 1000000;
    ll_ledger_run_deferred(l);
    if (ll_journal_sync(l) < 0)
        ll_journal_fail_held(l, LL_ESHUTDOWN,
                             "the node stopped before the transaction was on disk");
    /* A stop must end within 2 s whatever is pending: commit blocks for a
     * while (a contract run was interrupted by ll_ledger_stop and fails
     * them); the journal keeps the rest for the next start. */
    while (ll_mempool_count(l->mempool) > 0 && uv_hrtime() < until) {
        if (ll_ledger_produce_block_now(l) <= 0)
            break;
    }
    if (ll_journal_sync(l) < 0) /* what the last blocks dropped */
        ll_journal_fail_held(l, LL_ESHUTDOWN, "the node stopped before the journal was on disk");
    if (ll_mempool_count(l->mempool) > 0)
        LL_INFO("ledger: %zu pending transactions stay in the journal for the next start",
                ll_mempool_count(l->mempool));
    uv_close((uv_handle_t *)&l->block_timer, on_closed);
    uv_close((uv_handle_t *)&l->batch_pump, on_closed);
    ll_producer_close(l);
    ll_journal_close(l, on_closed);
    ll_taskq_close(&l->inbox, NULL);
}

static void run_loop(void *arg)
{
    ll_ledger_t *l = arg;
    ll_thread_name("ll-ledger");
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

static void free_ledger(ll_ledger_t *l)
{
    ll_mempool_free(l->mempool);
    ll_state_free(l->admission);
    ll_state_free(l->building);
    ll_events_free(l->events);
    ll_hmap_free(l->inflight_ids);
    ll_store_close(l->st);
    ll_store_close(l->reader);
    ll_store_close(l->jst);
    free(l->batch);
    free(l->kept);
    free(l->receipts);
    free(l->dropped);
    if (l->graveyard)
        ll_ledger_free_graveyard(l);
    free(l->graveyard);
    if (l->penalty_ready)
        uv_mutex_destroy(&l->penalty_lock);
    ll_producer_close(l); /* a start that failed after the thread started */
    ll_journal_free(l);
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
    if (!l->opts.contract_time_limit_ms)
        l->opts.contract_time_limit_ms = LL_DEFAULT_CONTRACT_TIME_LIMIT_MS;
    snprintf(l->data_dir, sizeof l->data_dir, "%s", opts->data_dir);
    l->opts.data_dir = l->data_dir;
    if ((rc = ll_store_open(l->data_dir, LL_STORE_WRITER, opts->sync, &l->st)) < 0) {
        LL_ERROR("ledger: cannot open the database under %s", l->data_dir);
        goto fail;
    }
    /* Opened after the writer, which creates ledger.db. */
    if ((rc = ll_store_open(l->data_dir, LL_STORE_READER, opts->sync, &l->reader)) < 0 ||
        (rc = ll_store_open(l->data_dir, LL_STORE_JOURNAL, opts->sync, &l->jst)) < 0) {
        LL_ERROR("ledger: cannot open the databases under %s", l->data_dir);
        goto fail;
    }
    char node_path[600], faucet_path[600];
    snprintf(node_path, sizeof node_path, "%s/node.key", l->data_dir);
    snprintf(faucet_path, sizeof faucet_path, "%s/faucet.key", l->data_dir);
    if ((rc = ll_keys_load_or_create(node_path, &l->node_key)) < 0 ||
        (rc = ll_keys_load_or_create(faucet_path, &l->faucet_key)) < 0)
        goto fail;
    rc = LL_ENOMEM;
    l->mempool = ll_mempool_new(LL_MEMPOOL_CAPACITY);
    l->admission = ll_state_new(l->reader);
    l->building = ll_state_new(l->st);
    if (l->admission && l->building) {
        ll_state_set_gas_price(l->admission, l->opts.gas_price);
        ll_state_set_gas_price(l->building, l->opts.gas_price);
    }
    l->batch = calloc(opts->max_block_txs, sizeof *l->batch);
    l->kept = calloc(opts->max_block_txs, sizeof *l->kept);
    l->receipts = calloc(opts->max_block_txs, sizeof *l->receipts);
    l->dropped = calloc(opts->max_block_txs, sizeof *l->dropped);
    l->graveyard = calloc(opts->max_block_txs, sizeof *l->graveyard);
    l->events = ll_events_new(l->st);
    l->inflight_ids = ll_hmap_new_borrowed(); /* keyed by batch[i]->tx_id */
    if (!l->mempool || !l->admission || !l->building || !l->batch || !l->kept || !l->receipts ||
        !l->dropped || !l->graveyard || !l->events || !l->inflight_ids)
        goto fail;
    if (uv_mutex_init(&l->penalty_lock) != 0)
        goto fail;
    l->penalty_ready = 1;
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
    if ((rc = ll_producer_init(l)) < 0)
        goto fail;
    ll_ledger_batches_init(l);
    if ((rc = ll_journal_init(l)) < 0)
        goto fail;
    l->stop_task.run = on_stop;
    ll_vm_interrupt_clear(); /* a ledger stopped earlier in this process set it */
    ll_vm_set_time_limit(l->opts.contract_time_limit_ms);
    ll_penalty_init(&l->penalties);
    if ((rc = ll_ledger_reload_mempool(l)) < 0)
        goto fail;
    ll_ledger_publish_stats(l);
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
     * in is abandoned and its transactions stay pending (and journaled). */
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
    out->contract_time_limits = atomic_load(&l->stat_time_limits);
    for (int p = 0; p < LL_BLOCK_PHASES; p++) {
        for (int i = 0; i <= LL_HISTO_BUCKETS; i++)
            out->phase[p][i] = atomic_load_explicit(&l->stat_phase[p][i], memory_order_relaxed);
        out->phase_ns[p] = atomic_load_explicit(&l->stat_phase_ns[p], memory_order_relaxed);
    }
}
