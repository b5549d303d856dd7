/* ledger/mempool.h: transactions answered 202 and not yet in a block, in
 * arrival order (which is per-sender nonce order, since admission requires
 * each sender's next nonce).
 * Owns:    the ll_tx_t it holds; ll_mempool_take() hands them to the caller.
 * Threads: the ledger thread only. */
#ifndef LL_LEDGER_MEMPOOL_H
#define LL_LEDGER_MEMPOOL_H

#include "ledger/tx.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ll_mempool ll_mempool_t;

/* capacity: most transactions held at once. */
ll_mempool_t *ll_mempool_new(size_t capacity);
/* Frees every transaction still held. */
void ll_mempool_free(ll_mempool_t *mp);

/* Takes ownership of tx. Returns 0, LL_EBUSY when full, LL_ENOMEM. */
int ll_mempool_add(ll_mempool_t *mp, ll_tx_t *tx);

/* The pending transaction with that id, or NULL. Still owned by mp. */
const ll_tx_t *ll_mempool_find(const ll_mempool_t *mp, const char *tx_id);

size_t ll_mempool_count(const ll_mempool_t *mp);

/* How many of sender's transactions are pending. */
size_t ll_mempool_sender_count(const ll_mempool_t *mp, const char *sender);

/* The gas a transaction may use in a block: gas_limit for a deploy or a
 * call, 0 for the other kinds. */
uint64_t ll_mempool_gas(const ll_tx_t *tx);

/* Bytes a transaction holds (its signing bytes): what the mempool's and a
 * block's byte limits count. */
size_t ll_mempool_tx_bytes(const ll_tx_t *tx);

/* Bytes of every pending transaction. */
size_t ll_mempool_bytes(const ll_mempool_t *mp);

/* What one block may take. A block may be taken in slices: held_* say
 * what earlier slices took, and most bounds this slice (0: no bound). */
typedef struct ll_mempool_limits {
    size_t txs;          /* transactions */
    uint64_t gas;        /* sum of ll_mempool_gas */
    size_t bytes;        /* sum of ll_mempool_tx_bytes */
    uint64_t before_pos; /* only transactions with a journal_pos before it; 0: any */
    size_t held_txs;
    uint64_t held_gas;
    size_t held_bytes;
    size_t most;
} ll_mempool_limits_t;

/* Moves the oldest transactions into out (caller owns them) while they fit
 * every limit of lim, and adds what it took to lim's held_* sums; a
 * block's first transaction always fits the sums (admission refuses what
 * no block could hold), not before_pos. Returns how many. */
size_t ll_mempool_take(ll_mempool_t *mp, ll_tx_t **out, ll_mempool_limits_t *lim);

/* Puts transactions taken by ll_mempool_take back in front, in order (a
 * block that failed to commit). Takes ownership; never fails for them. */
void ll_mempool_untake(ll_mempool_t *mp, ll_tx_t **txs, size_t n);

/* The journal_pos of the oldest pending transaction, or UINT64_MAX when
 * none is pending. It is the smallest of all: transactions are added at the
 * back in journal order (ledger/journal.c numbers them as they are added,
 * and a start re-admits the journal in its order) and put back at the front
 * only by ll_mempool_untake, in the order they were taken. */
uint64_t ll_mempool_oldest_journal_pos(const ll_mempool_t *mp);

/* The journal_pos of the i-th oldest pending transaction (i < count). */
uint64_t ll_mempool_nth_journal_pos(const ll_mempool_t *mp, size_t i);

/* Calls cb for each pending transaction in order. */
typedef void (*ll_mempool_each_cb)(const ll_tx_t *tx, void *arg);
void ll_mempool_each(const ll_mempool_t *mp, ll_mempool_each_cb cb, void *arg);

#endif
