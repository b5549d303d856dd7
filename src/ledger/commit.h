/* ledger/commit.h (internal to ledger/): writes one built block to the
 * store in a single transaction.
 * Owns:    nothing; the caller owns the store, the state view, the events
 *          and the batch it gets back.
 * Threads: the ledger thread (the only SQLite writer). */
#ifndef LL_LEDGER_COMMIT_H
#define LL_LEDGER_COMMIT_H

#include "ledger/events.h"
#include "ledger/state.h"
#include "ledger/tx.h"
#include "store/store.h"
#include "stream/hub.h"

#include <jansson.h>
#include <stddef.h>

/* Writes b and its transactions (and their receipts, when receipts is set)
 * with the state in building, forgets their journal rows (journal.h), re-reads and re-verifies them
 * (setting b->quantum_verified), appends the event rows and commits. Returns 0 and in *out the
 * batch of live events to publish, or a negative LL_E* with nothing left behind. */
int ll_commit_block(ll_store_t *st, ll_state_t *building, ll_events_t *events, ll_block_hdr_t *b,
                    ll_tx_t *const *txs, json_t *const *receipts, size_t n, ll_batch_t **out);

#endif
