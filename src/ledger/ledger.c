/* ledger/ledger.c: the ledger thread. Requests from workers arrive on one
 * task queue; a timer produces blocks at most block_interval_ms after the
 * first pending transaction, or at once when max_block_txs are pending.
 * A block is one SQLite transaction: block row, transactions, state, and
 * its event rows, written only after the block has been re-read and
 * re-verified from the database ("quantum verified"). */
#include "ledger/block.h"
#include "ledger/commit.h"
#include "ledger/internal.h"
#include "util/clock.h"
#include "util/log.h"
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

/* Commits b through ledger/commit.c, then publishes its events: they are
 * born at commit, never before. */
static int commit_block(ll_ledger_t *l, ll_block_hdr_t *b, ll_tx_t *const *txs,
                        json_t *const *receipts, size_t n)
{
    ll_batch_t *batch = NULL;
    int rc = ll_commit_block(l->st, l->building, l->events, b, txs, receipts, n, &batch);
    if (rc == 0)
        ll_ledger_publish(l, batch);
    return rc;
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

/* Indexes the block about to be mined by tx_id, so that a lookup during
 * the mining costs one probe, not a scan of up to --max-block-txs. */
static int index_inflight(ll_ledger_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ll_hmap_put(l->inflight_ids, l->batch[i]->tx_id, l->batch[i]) < 0) {
            ll_hmap_clear(l->inflight_ids);
            return LL_ENOMEM;
        }
    return 0;
}

static void drop_receipts(ll_ledger_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(l->receipts[i]);
        l->receipts[i] = NULL;
    }
}

/* Takes the oldest pending transactions into a block and applies them to
 * the building view (contracts run here), then computes the tx root.
 * Returns 0 with bd->taken == 0 when nothing is pending, 0 with a block
 * ready to mine, or an error (the transactions are pending again). */
static int build_block(ll_ledger_t *l, ll_block_build_t *bd)
{
    char why[LL_ERRMSG_MAX];
    ll_block_hdr_t *b = &bd->b;
    size_t taken, kept = 0;
    const char **ids = NULL;
    int rc;
    bd->taken = bd->kept = 0;
    /* Before the mempool hands its transactions over: their journal rows
     * must be written before the block forgets them, and their "pending"
     * events must be in the log before any "confirmed" one. */
    if ((rc = ll_journal_flush(l)) < 0)
        return rc;
    ll_mempool_limits_t lim = {l->opts.max_block_txs, l->opts.block_gas_limit, LL_BLOCK_MAX_BYTES};
    taken = ll_mempool_take(l->mempool, l->batch, &lim);
    if (taken == 0)
        return 0;
    start_header(l, b);
    ll_state_reset(l->building);
    uint64_t started = uv_hrtime();
    for (size_t i = 0; i < taken; i++) {
        ll_tx_t *tx = l->batch[i];
        uint64_t now = uv_hrtime(), runs = ll_mempool_gas(tx);
        if (runs && i > 0 && now - started >= LL_BLOCK_CONTRACT_MS * 1000000ull) {
            /* This block has run contracts long enough: the rest wait. */
            ll_mempool_untake(l->mempool, l->batch + i, taken - i);
            taken = i;
            break;
        }
        /* Admission applied the same rules to the same order, so a failure
         * here means the admission view went wrong: drop, never corrupt. */
        json_t *receipt = NULL;
        int penalised = runs && ll_penalty_left(&l->penalties, tx->sender, now / 1000000);
        rc = penalised ? LL_ETIMELIMIT
                       : ll_state_apply_block(l->building, tx, b->miner, b->height, &receipt, why);
        if (rc == LL_ECANCELED) {
            /* The node is stopping: the block is abandoned, every one of its
             * transactions pending again (and still in the journal). */
            memmove(l->batch + kept, l->batch + i, (taken - i) * sizeof *l->batch);
            drop_receipts(l, kept);
            ll_mempool_untake(l->mempool, l->batch, kept + (taken - i));
            LL_INFO("ledger: block %" PRIu64 " interrupted by the stop", b->height);
            return rc;
        }
        if (rc == LL_ETIMELIMIT) {
            /* No receipt, so left out; its sender's deploys and calls are
             * refused for a while, the ones pending included. */
            snprintf(why, sizeof why, "%s",
                     penalised ? "its sender is refused contract runs"
                               : "its contract run outlived the time limit");
            if (!penalised)
                ll_penalty_add(&l->penalties, tx->sender, ll_clock_mono_ms());
            atomic_fetch_add(&l->stat_time_limits, !penalised);
        }
        if (rc < 0) {
            LL_ERROR("ledger: dropping %s from block %" PRIu64 ": %s", tx->tx_id, b->height, why);
            ll_journal_dropped(l, tx);
            continue;
        }
        l->receipts[kept] = receipt;
        l->batch[kept++] = tx;
    }
    bd->taken = taken;
    bd->kept = kept;
    if (!(ids = calloc(kept ? kept : 1, sizeof *ids))) {
        rc = LL_ENOMEM;
    } else {
        for (size_t i = 0; i < kept; i++)
            ids[i] = l->batch[i]->tx_id;
        b->tx_count = (uint32_t)kept;
        rc = ll_block_tx_root(ids, kept, b->tx_root);
        free(ids);
    }
    if (rc < 0) {
        drop_receipts(l, kept);
        ll_mempool_untake(l->mempool, l->batch, kept);
        if (kept != taken)
            ll_ledger_rebuild_admission(l);
        bd->taken = bd->kept = 0;
    }
    return rc;
}

/* Commits a mined block (mined: ll_block_mine's result) and publishes its
 * events. On failure its transactions are pending again. */
static int finish_block(ll_ledger_t *l, ll_block_build_t *bd, int mined)
{
    ll_block_hdr_t *b = &bd->b;
    size_t kept = bd->kept, taken = bd->taken;
    int rc = mined;
    l->inflight = 0;
    ll_hmap_clear(l->inflight_ids);
    if (rc < 0 || (rc = commit_block(l, b, l->batch, l->receipts, kept)) < 0) {
        drop_receipts(l, kept);
        LL_ERROR("ledger: block %" PRIu64 " not committed (%s); its transactions stay pending",
                 b->height, ll_err_name(rc));
        ll_mempool_untake(l->mempool, l->batch, kept);
        if (kept != taken)
            ll_ledger_rebuild_admission(l);
        return rc;
    }
    drop_receipts(l, kept);
    l->tip = *b;
    atomic_fetch_add(&l->stat_blocks, 1);
    atomic_fetch_add(&l->stat_txs, kept);
    int ran_contracts = 0;
    for (size_t i = 0; i < kept; i++) {
        ran_contracts |= ll_mempool_gas(l->batch[i]) > 0;
        ll_tx_free(l->batch[i]);
    }
    LL_DEBUG("ledger: block %" PRIu64 " %s with %zu transactions", b->height, b->hash, kept);
    /* The admission view holds absolute values (committed + all pending), so
     * committing a prefix of the pending sequence leaves it right. It needs
     * a rebuild when transactions were dropped, or when contracts ran (their
     * admission reserved gas_limit x price; the block refunded what was not
     * used), and it is emptied when nothing is pending so it does not grow
     * without bound. */
    if (kept != taken || ran_contracts || ll_mempool_count(l->mempool) == 0) {
        size_t failed = ll_ledger_rebuild_admission(l);
        if (failed)
            LL_ERROR("ledger: %zu pending transactions no longer apply", failed);
    }
    ll_ledger_publish_stats(l);
    return 0;
}

/* Builds, mines and commits one block on this thread (the stop's blocks).
 * Returns 0 (also when nothing was pending) or the error. */
static int produce_block(ll_ledger_t *l)
{
    ll_block_build_t bd;
    int rc = build_block(l, &bd);
    if (rc < 0 || bd.taken == 0)
        return rc;
    l->inflight = bd.kept;
    return finish_block(l, &bd, ll_block_mine(&bd.b));
}

/* ---- the pipeline: proof of work off the ledger thread ------------------------ */

static void on_block_timer(uv_timer_t *t);

static void mine_work(uv_work_t *w)
{
    ll_ledger_t *l = w->data;
    l->mine_rc = ll_block_mine(&l->mine.b);
}

static void on_stop_after_block(ll_ledger_t *l);

static void after_mine_done(uv_work_t *w, int status)
{
    ll_ledger_t *l = w->data;
    l->inflight_mining = 0;
    int rc = finish_block(l, &l->mine, status == 0 ? l->mine_rc : LL_EINTERNAL);
    if (l->stopping) {
        on_stop_after_block(l);
        return;
    }
    if (rc < 0) /* retry after an interval rather than spin on a failing disk */
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
    else
        ll_ledger_schedule_block(l);
}

/* Arms the block timer: at once when a full block is waiting, else within
 * the interval of the oldest pending transaction. */
void ll_ledger_schedule_block(ll_ledger_t *l)
{
    size_t n = ll_mempool_count(l->mempool);
    if (n >= l->opts.max_block_txs)
        uv_timer_start(&l->block_timer, on_block_timer, 0, 0);
    else if (n > 0 && !uv_is_active((uv_handle_t *)&l->block_timer))
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
}

/* Builds the next block here, then mines it on the thread pool while this
 * thread goes on admitting (after_mine commits it). */
static void on_block_timer(uv_timer_t *t)
{
    ll_ledger_t *l = t->data;
    if (l->inflight_mining)
        return; /* after_mine schedules the next */
    int rc = build_block(l, &l->mine);
    if (rc < 0) {
        uv_timer_start(&l->block_timer, on_block_timer, l->opts.block_interval_ms, 0);
        return;
    }
    if (l->mine.taken == 0)
        return;
    l->inflight = l->mine.kept;
    l->inflight_mining = 1;
    l->mine_work.data = l;
    if (index_inflight(l, l->mine.kept) < 0 ||
        uv_queue_work(&l->loop, &l->mine_work, mine_work, after_mine_done) < 0) {
        l->inflight_mining = 0;
        finish_block(l, &l->mine, ll_block_mine(&l->mine.b));
        ll_ledger_schedule_block(l);
    }
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
/* How long a stop keeps producing blocks before it saves what is left. */
#define STOP_BLOCKS_MS 1000

static void on_stop(ll_task_t *task)
{
    ll_ledger_t *l = (ll_ledger_t *)((char *)task - offsetof(ll_ledger_t, stop_task));
    l->stopping = 1;
    uv_timer_stop(&l->block_timer);
    if (!l->inflight_mining) /* else after_mine_done goes on with the stop */
        on_stop_after_block(l);
}

static void on_stop_after_block(ll_ledger_t *l)
{
    uint64_t until = uv_hrtime() + (uint64_t)STOP_BLOCKS_MS * 1000000;
    if (ll_journal_flush(l) < 0)
        ll_journal_fail_held(l, LL_ESHUTDOWN,
                             "the node stopped before the transaction was on disk");
    /* A stop must end within 2 s whatever is pending: commit blocks for a
     * while (a contract run was interrupted by ll_ledger_stop and fails
     * them); the journal keeps the rest for the next start. */
    while (ll_mempool_count(l->mempool) > 0 && uv_hrtime() < until) {
        if (produce_block(l) < 0)
            break;
    }
    ll_journal_flush(l); /* what the last blocks dropped */
    if (ll_mempool_count(l->mempool) > 0)
        LL_INFO("ledger: %zu pending transactions stay in the journal for the next start",
                ll_mempool_count(l->mempool));
    uv_close((uv_handle_t *)&l->block_timer, on_closed);
    ll_journal_close(l, on_closed);
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
    ll_hmap_free(l->inflight_ids);
    ll_store_close(l->st);
    free(l->batch);
    free(l->receipts);
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
    char node_path[600], faucet_path[600];
    snprintf(node_path, sizeof node_path, "%s/node.key", l->data_dir);
    snprintf(faucet_path, sizeof faucet_path, "%s/faucet.key", l->data_dir);
    if ((rc = ll_keys_load_or_create(node_path, &l->node_key)) < 0 ||
        (rc = ll_keys_load_or_create(faucet_path, &l->faucet_key)) < 0)
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
    l->inflight_ids = ll_hmap_new();
    if (!l->mempool || !l->admission || !l->building || !l->batch || !l->receipts || !l->events ||
        !l->inflight_ids)
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
    ll_journal_init(l);
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
}
