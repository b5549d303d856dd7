/* ledger/events.h: the payloads of committed events, in the seed's shapes
 * ({"type":"block","block":{…}}, {"type":"tx","tx":{…}},
 * {"type":"message","msg":{…}}), and their rows in the events table.
 * Owns:    nothing beyond the JSON it returns (caller owns it).
 * Threads: the ledger thread, inside the block's SQLite transaction.
 *
 * Events are born at commit: the ledger appends a block's rows in the same
 * transaction as the block, so the event log never runs ahead of, or behind,
 * the chain. The streams read these rows; they do not rebuild payloads. */
#ifndef LL_LEDGER_EVENTS_H
#define LL_LEDGER_EVENTS_H

#include "ledger/tx.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>

/* Amounts in events are coins: units / 10^6, as JSON numbers. */
double ll_events_coins(int64_t units);

json_t *ll_events_block(const ll_block_hdr_t *b);
json_t *ll_events_tx(const ll_tx_t *tx, uint64_t height);
/* status: "pending" or "confirmed"; height is ignored (null) when pending. */
json_t *ll_events_message(const ll_tx_t *tx, const char *status, uint64_t height);

/* Appends the block event, then for each transaction in block order its tx
 * or message event, to the store's open transaction. */
int ll_events_append_block(ll_store_t *st, const ll_block_hdr_t *b, ll_tx_t *const *txs,
                           size_t n);

#endif
