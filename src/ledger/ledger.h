/* ledger/ledger.h: the ledger thread: it owns the mempool, the state views,
 * block production (proof of work) and the SQLite writer.
 * Owns:    its thread, loop, store writer, mempool, keys and every request
 *          between post and reply.
 * Frees:   ll_ledger_stop() commits what is pending and joins the thread;
 *          ll_ledger_free() releases the memory once no worker can post.
 * Threads: ll_ledger_start/stop from the main thread; ll_ledger_post and
 *          ll_ledger_stats from any thread. Requests run on the ledger
 *          thread; their replies run on the poster's loop.
 *
 * A worker asks by filling an ll_ledger_req_t and posting it; the ledger
 * answers by posting req->reply to req->reply_q, where the worker's
 * reply.run callback responds to the client. The reply queue must outlive
 * the ledger (workers stop after the ledger does). */
#ifndef LL_LEDGER_LEDGER_H
#define LL_LEDGER_LEDGER_H

#include "ledger/keys.h"
#include "ledger/tx.h"
#include "store/store.h"
#include "stream/hub.h"
#include "util/err.h"
#include "util/histo.h"
#include "util/taskq.h"

#include <jansson.h>
#include <stdint.h>

typedef struct ll_ledger ll_ledger_t;

#define LL_MEMPOOL_CAPACITY 100000
/* Bytes (signing bytes) all pending transactions may hold, and one block. A
 * body is at most 1 MiB, so every transaction fits a block. */
#define LL_MEMPOOL_MAX_BYTES (256u * 1024 * 1024)
#define LL_BLOCK_MAX_BYTES (8u * 1024 * 1024)
/* Defaults of the economic flags (docs/API.md §2.6). */
#define LL_DEFAULT_GAS_PRICE 1
#define LL_DEFAULT_BLOCK_GAS_LIMIT 20000000
#define LL_DEFAULT_MAX_PENDING_PER_SENDER 1000
/* A contract run still going after this long has no receipt: its
 * transaction is left out of the block and its sender penalised
 * (ledger/penalty.h; docs/API.md §6.1, Time). */
#define LL_DEFAULT_CONTRACT_TIME_LIMIT_MS 450
/* A block starts no further contract run once it has spent this long on
 * its transactions; the rest wait for the next block. With one run's time
 * limit, this bounds a block's building (before the proof of work). */
#define LL_BLOCK_CONTRACT_MS 1000
#define LL_GENESIS_FAUCET_UNITS 1000000000000000LL /* 10^9 coins */

typedef struct ll_ledger_opts {
    const char *data_dir;
    uint32_t difficulty;
    uint32_t block_interval_ms;
    uint32_t max_block_txs;
    ll_store_sync_t sync;
    int dev;                         /* enables the faucet */
    uint32_t gas_price;              /* native units per gas (ledger/state.h) */
    uint32_t block_gas_limit;        /* most gas_limit one block's contracts may add up to */
    uint32_t max_pending_per_sender; /* most pending transactions of one sender */
    uint32_t contract_time_limit_ms; /* vm/vm.h ll_vm_set_time_limit */
    ll_hub_t *hub;                   /* where committed events are published; NULL: nowhere */
} ll_ledger_opts_t;

typedef enum {
    LL_LEDGER_SUBMIT,       /* admit req->tx (ownership passes to the ledger) */
    LL_LEDGER_GET_TX,       /* look up req->tx_id, pending or committed */
    LL_LEDGER_FAUCET,       /* pay req->amount to req->address from the faucet */
    LL_LEDGER_SIGN_SUBMIT,  /* complete req->body (sender_pubkey, nonce), sign
                               it with req->key and admit it */
    LL_LEDGER_STORE_CALL,   /* run req->store_fn with the writer connection */
    LL_LEDGER_SUBMIT_BATCH, /* admit req->batch[i] in order (ownership passes);
                               req->result is the array of per-item results */
} ll_ledger_op_t;

/* Work other modules (auth, sessions) need done with the SQLite writer,
 * which only the ledger thread holds. Runs on the ledger thread inside its
 * own store transaction (committed when it returns 0, rolled back otherwise);
 * it may set *result and must fill why on failure. */
typedef int (*ll_ledger_store_fn)(ll_store_t *writer, void *arg, json_t **result, char *why);

typedef struct ll_ledger_req {
    ll_task_t task;      /* runs on the ledger thread; set by ll_ledger_post */
    ll_ledger_t *ledger; /* set by ll_ledger_post */
    ll_ledger_op_t op;
    ll_tx_t *tx;
    /* SUBMIT_BATCH: n items; batch[i] NULL where the worker refused item i,
     * whose result it put in batch_results[i] (an array of n, owned by the
     * request until the ledger makes it req->result). */
    ll_tx_t **batch;
    size_t batch_n;
    json_t *batch_results;
    char tx_id[LL_TX_ID_HEX + 1];
    char address[LL_ADDRESS_HEX + 1];
    int64_t amount;
    json_t *body;                /* SIGN_SUBMIT: unsigned body, owned by the request */
    ll_keypair_t key;            /* SIGN_SUBMIT: the signer (wiped after use) */
    ll_ledger_store_fn store_fn; /* STORE_CALL */
    void *store_arg;             /* STORE_CALL: the caller's */
    /* Filled by the ledger before it posts reply: */
    int rc;                  /* 0 or LL_E* */
    char why[LL_ERRMSG_MAX]; /* the human reason when rc < 0 */
    json_t *result;          /* owned by the receiver of the reply */
    /* Set by the poster: */
    ll_taskq_t *reply_q;
    ll_task_t reply; /* reply.run is called on reply_q's loop */
    int held;        /* the ledger's: the reply waits for the journal */
    /* The ledger's, for SUBMIT_BATCH: items admitted so far (a batch is
     * admitted a slice per loop turn, behind single submissions). */
    size_t batch_next, batch_admitted;
    void *data; /* the poster's */
} ll_ledger_req_t;

/* Opens (or creates, with genesis and keys) the chain under opts->data_dir
 * and starts the thread. Returns 0 or LL_E* with the reason logged. */
int ll_ledger_start(const ll_ledger_opts_t *opts, ll_ledger_t **out);

/* Stops admitting (new requests get LL_ESHUTDOWN), commits every pending
 * transaction in final blocks and joins the thread. The ledger stays
 * allocated, so workers still serving may post (and are refused) until
 * ll_ledger_free, which comes after the server has stopped. */
void ll_ledger_stop(ll_ledger_t *l);

/* Frees a stopped ledger. */
void ll_ledger_free(ll_ledger_t *l);

/* Queues req for the ledger thread. Returns 0, or LL_ESHUTDOWN when the
 * ledger has stopped (req, and req->tx, still belong to the caller). */
int ll_ledger_post(ll_ledger_t *l, ll_ledger_req_t *req);

/* The node's miner address and the faucet's address (32 hex). */
const char *ll_ledger_miner(const ll_ledger_t *l);
const char *ll_ledger_faucet_address(const ll_ledger_t *l);

/* The phases of producing a block that /metrics times. */
typedef enum {
    LL_BLOCK_APPLY,  /* its transactions applied (contracts run) */
    LL_BLOCK_MINE,   /* tx root and proof of work */
    LL_BLOCK_COMMIT, /* the SQLite transaction, its re-read and events, published */
    LL_BLOCK_PHASES
} ll_block_phase_t;

typedef struct ll_ledger_stats {
    uint64_t height;               /* of the tip */
    uint64_t mempool;              /* transactions pending */
    uint64_t blocks_produced;      /* since start */
    uint64_t txs_committed;        /* since start */
    uint64_t contract_time_limits; /* runs stopped by the time limit, since start */
    /* per phase, util/histo.h's buckets (not cumulative) and their sum */
    uint64_t phase[LL_BLOCK_PHASES][LL_HISTO_BUCKETS + 1];
    uint64_t phase_ns[LL_BLOCK_PHASES];
} ll_ledger_stats_t;

/* A consistent-enough snapshot for /metrics (each field atomic). */
void ll_ledger_stats(const ll_ledger_t *l, ll_ledger_stats_t *out);

#endif
