/* ledger/internal.h (internal to ledger/): the ledger thread's state, as
 * ledger.c (the thread, blocks, start and stop), requests.c (what workers
 * ask of it: admission, lookups, the faucet, store calls) and journal.c
 * (admissions made durable before their 202) share it.
 * Threads: the ledger thread, except where a field says otherwise. */
#ifndef LL_LEDGER_INTERNAL_H
#define LL_LEDGER_INTERNAL_H

#include "ledger/block.h"
#include "ledger/events.h"
#include "ledger/journal.h"
#include "ledger/ledger.h"
#include "ledger/mempool.h"
#include "ledger/penalty.h"
#include "ledger/state.h"
#include "util/hmap.h"
#include "util/taskq.h"

#include <stdatomic.h>
#include <uv.h>

/* The block being built: its header and how many of ll_ledger.batch it
 * took and kept (the kept ones first, their receipts in .receipts). */
typedef struct ll_block_build {
    ll_block_hdr_t b;
    size_t taken, kept;
} ll_block_build_t;

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
    /* The pipeline: a built block is mined on the thread pool while this
     * thread admits; batch[0, inflight) are its transactions, out of the
     * mempool and not yet committed. */
    ll_block_build_t mine;
    uv_work_t mine_work;
    int mine_rc;
    int inflight_mining;
    size_t inflight;
    ll_hmap_t *inflight_ids; /* tx_id -> batch[i] while it is mined */
    ll_events_t *events;
    ll_journal_t journal; /* admissions and drops awaiting their fsync */
    ll_keypair_t node_key;
    ll_keypair_t faucet_key;
    ll_block_hdr_t tip;
    int stopping;         /* ledger thread only */
    size_t replay_failed; /* ll_ledger_rebuild_admission's count */
    int stopped;          /* main thread only: the ledger thread has been joined */
    /* Written by the ledger thread, read by workers for /metrics. */
    _Atomic uint64_t stat_height;
    _Atomic uint64_t stat_mempool;
    _Atomic uint64_t stat_blocks;
    _Atomic uint64_t stat_txs;
    _Atomic uint64_t stat_time_limits;
    ll_penalties_t penalties; /* senders refused deploys and calls for a while */
};

/* Who is asking to admit a transaction (kept in ll_tx_t.origin and with a
 * saved mempool, so a restart admits it under the same rules). */
typedef enum {
    FROM_CLIENT = 0,  /* POST /api/v1/transactions: signed by its sender */
    FROM_FAUCET = 1,  /* the dev faucet: not held to the per-sender cap */
    FROM_SESSION = 2, /* a session user's chat message, signed by the node: free */
} ll_origin_t;

/* Publishes the height and mempool size /metrics reads. */
void ll_ledger_publish_stats(ll_ledger_t *l);

/* Arms the block timer for what is pending (ledger.c). */
void ll_ledger_schedule_block(ll_ledger_t *l);

/* Hands a committed batch of events to the workers (ledger.c). */
void ll_ledger_publish(ll_ledger_t *l, ll_batch_t *batch);

/* Sends r's answer to its poster (requests.c). */
void ll_ledger_send_reply(ll_ledger_req_t *r);

/* Rebuilds the admission view: committed state plus every pending
 * transaction, in order. Returns how many no longer apply. */
size_t ll_ledger_rebuild_admission(ll_ledger_t *l);

/* The transaction tx_id of the block being mined, or NULL. */
const ll_tx_t *ll_ledger_inflight_find(const ll_ledger_t *l, const char *tx_id);

/* Admits again, in order, what the journal holds: every transaction
 * answered 202 and not yet in a block, after a clean stop or a kill -9
 * (requests.c). */
int ll_ledger_reload_mempool(ll_ledger_t *l);

#endif
