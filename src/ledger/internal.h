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

/* One block job (producer.c): its header, and what became of
 * l->batch[0, taken): kept in l->kept[0, kept) with their receipts in
 * l->receipts, dropped for good in l->dropped[0, ndropped), and
 * batch[rest, taken) never tried. */
typedef struct ll_block_job {
    ll_block_hdr_t b;
    size_t taken, kept, ndropped, rest;
    int canceled; /* a stop interrupted it */
    int rc;       /* 0: committed and published */
} ll_block_job_t;

struct ll_ledger {
    ll_ledger_opts_t opts;
    char data_dir[512];
    uv_thread_t thread;
    uv_loop_t loop;
    ll_taskq_t inbox;
    uv_timer_t block_timer;
    ll_task_t stop_task;
    ll_store_t *st;     /* ledger.db's writer: the block job's while one runs */
    ll_store_t *reader; /* ledger.db, read by admission and lookups */
    ll_store_t *jst;    /* journal.db: admissions before their 202 */
    ll_mempool_t *mempool;
    ll_state_t *admission; /* committed state + every pending transaction */
    ll_state_t *building;  /* the block being built */
    /* Each with room for max_block_txs (producer.c). batch[0, inflight)
     * are the transactions of the block being produced, out of the
     * mempool and not yet committed. */
    ll_tx_t **batch;
    ll_tx_t **kept;
    json_t **receipts; /* kept[i]'s receipt, or NULL */
    ll_tx_t **dropped;
    ll_tx_t **graveyard; /* the last committed block's, freed by the next job */
    size_t ngraveyard;
    size_t inflight;
    ll_hmap_t *inflight_ids; /* tx_id -> batch[i] while it is produced */
    ll_block_job_t job;
    int job_running; /* the producer thread has the job */
    ll_task_t job_done_task;
    uv_thread_t producer;
    int producer_started;
    uv_mutex_t prod_lock; /* guards prod_work and prod_quit */
    uv_cond_t prod_cond;
    int prod_work, prod_quit;
    int block_due;            /* a block was due while its transactions were not on disk */
    int taking;               /* the next block is being taken, a slice per loop turn */
    ll_mempool_limits_t take; /* its limits and what it holds so far */
    /* Store calls (users, sessions) write ledger.db: they wait here while
     * a job holds the writer (requests.c). */
    ll_ledger_req_t *deferred_head, *deferred_tail;
    /* Batches waiting to be admitted, LL_BATCH_SLICE items per loop turn,
     * so a single submission never waits behind thousands (requests.c). */
    ll_ledger_req_t *batches_head, *batches_tail;
    size_t nbatches; /* queued there; at most LL_BATCHES_QUEUED_MAX */
    uv_idle_t batch_pump;
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
    /* Written by the producer (one writer), read by workers. */
    _Atomic uint64_t stat_phase[LL_BLOCK_PHASES][LL_HISTO_BUCKETS + 1];
    _Atomic uint64_t stat_phase_ns[LL_BLOCK_PHASES];
    ll_penalties_t penalties; /* senders refused deploys and calls for a while */
    uv_mutex_t penalty_lock;  /* admission and the block job both read it */
    int penalty_ready;        /* penalty_lock is initialised */
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

/* ---- producer.c ---- */

/* Arms the block timer for what is pending, unless a job runs. */
void ll_ledger_schedule_block(ll_ledger_t *l);

/* Initialises the block timer on the ledger's loop and starts the producer
 * thread. Returns 0 or LL_EINTERNAL. */
int ll_producer_init(ll_ledger_t *l);

/* Stops and joins the producer thread (no job may be running). */
void ll_producer_close(ll_ledger_t *l);

/* The producer thread's nice value (util/bulk.h: the pool's is 10). */
#define LL_PRODUCER_NICE 5

/* Transactions taken by a block per loop turn: a few milliseconds. */
#define LL_TAKE_SLICE 1024

/* Gives back what a block being taken holds (the stop). */
void ll_ledger_abandon_take(ll_ledger_t *l);

/* Takes, produces and commits one block on this thread (the stop's).
 * Returns 1 when a block was committed, 0 when none could be taken, or
 * the error. */
int ll_ledger_produce_block_now(ll_ledger_t *l);

/* Commits b with its transactions in one ledger.db transaction and
 * publishes its events (genesis and the block job). */
int ll_ledger_commit_block(ll_ledger_t *l, ll_block_hdr_t *b, ll_tx_t *const *txs,
                           json_t *const *receipts, size_t n);

/* Frees the last committed block's transactions (the block job; the stop). */
void ll_ledger_free_graveyard(ll_ledger_t *l);

/* Milliseconds left of sender's contract-run penalty (any thread). */
uint64_t ll_ledger_penalty_left(ll_ledger_t *l, const char *sender, uint64_t now_ms);

/* ---- ledger.c ---- */

/* A block job has finished (committed or not): what waited for the writer
 * goes on, then the next block, or the stop. */
void ll_ledger_block_done(ll_ledger_t *l);

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

/* Runs the store calls that waited for a block job (requests.c). */
void ll_ledger_run_deferred(ll_ledger_t *l);

/* Batch items admitted per loop turn: well under a millisecond of work, so
 * a single submission arriving meanwhile waits for little more than that. */
#define LL_BATCH_SLICE 16

/* Batches waiting for admission on the ledger thread at most (64,000
 * items, within the mempool's 100,000); more are answered 429. */
#define LL_BATCHES_QUEUED_MAX 64

/* Initialises the batch pump on the ledger's loop (requests.c). */
void ll_ledger_batches_init(ll_ledger_t *l);

/* Admits every item of every queued batch now (the stop). */
void ll_ledger_batches_drain(ll_ledger_t *l);

#endif
