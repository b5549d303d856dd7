/* ledger/events.h: the events of the chain: their payloads in the seed's
 * shapes ({"type":"block","block":{…}}, {"type":"tx","tx":{…}},
 * {"type":"message","msg":{…}}), their rows in the events table, and the
 * live events (stream/event.h) published once those rows commit.
 * Owns:    the dedupe windows of an ll_events_t; the JSON it returns
 *          belongs to the caller.
 * Threads: the ledger thread, inside the store transaction it has open.
 *
 * Events are born at commit: the ledger appends a block's rows in the same
 * transaction as the block, and publishes the batch only after COMMIT, so
 * the event log never runs ahead of, or behind, the chain. */
#ifndef LL_LEDGER_EVENTS_H
#define LL_LEDGER_EVENTS_H

#include "ledger/tx.h"
#include "store/store.h"
#include "stream/hub.h"

#include <jansson.h>
#include <stddef.h>

/* How many recent keys each event type's dedupe window remembers. */
#define LL_EVENTS_DEDUPE_WINDOW 4096

/* Amounts in events are coins: units / 10^6, as JSON numbers. */
double ll_events_coins(int64_t units);

json_t *ll_events_block(const ll_block_hdr_t *b);
/* receipt: a deploy's or call's receipt (its "to" names a deployed
 * contract), NULL for other kinds. */
json_t *ll_events_tx(const ll_tx_t *tx, const json_t *receipt, uint64_t height);
/* sender: the author's username, or NULL for its address. status:
 * "pending" (block null) or "confirmed". */
json_t *ll_events_message(const ll_tx_t *tx, const char *sender, const char *status,
                          uint64_t height);

typedef struct ll_events ll_events_t;

/* Primes the dedupe windows from the newest rows of st's log. NULL on ENOMEM. */
ll_events_t *ll_events_new(ll_store_t *st);
void ll_events_free(ll_events_t *ev);

/* Appends the block event, then for each transaction in block order its tx
 * or message event followed by its receipt event when receipts[i] is set
 * (receipts may be NULL), and sets *out to the batch to publish after
 * COMMIT (ll_batch_unref it if the commit fails). */
int ll_events_append_block(ll_events_t *ev, ll_store_t *st, const ll_block_hdr_t *b,
                           ll_tx_t *const *txs, json_t *const *receipts, size_t n,
                           ll_batch_t **out);

/* The store transaction holding the rows appended since the last call
 * committed (ll_events_commit: their keys enter the dedupe windows) or
 * rolled back (ll_events_abort: they are forgotten, so the same events can
 * be appended again). Every append is followed by one of the two. */
void ll_events_commit(ll_events_t *ev);
void ll_events_abort(ll_events_t *ev);

/* Appends a message event with status ("pending": admitted to the mempool
 * after block `tip` and journaled; "dropped": out of the mempool for good,
 * never to be in a block) for each of msgs, and sets *out likewise. */
int ll_events_append_messages(ll_events_t *ev, ll_store_t *st, uint64_t tip, const char *status,
                              const ll_tx_t *const *msgs, size_t n, ll_batch_t **out);

#endif
