/* ledger/events.c: see events.h. */
#include "ledger/events.h"
#include "ledger/block.h"
#include "util/err.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double ll_events_coins(int64_t units)
{
    return (double)units / LL_UNITS_PER_COIN;
}

json_t *ll_events_block(const ll_block_hdr_t *b)
{
    json_t *block = json_pack("{s:I, s:s, s:s, s:f, s:I, s:s, s:I, s:b}", "height",
                              (json_int_t)b->height, "hash", b->hash, "previous_hash",
                              b->previous_hash, "timestamp", (double)b->timestamp_ms / 1000.0,
                              "tx_count", (json_int_t)b->tx_count, "miner", b->miner,
                              "difficulty", (json_int_t)b->difficulty, "quantum_verified",
                              b->quantum_verified);
    return block ? json_pack("{s:s, s:o}", "type", "block", "block", block) : NULL;
}

json_t *ll_events_tx(const ll_tx_t *tx, uint64_t height)
{
    /* A create issues its asset to its own sender, so that is its recipient. */
    const char *recipient = tx->kind == LL_TX_CREATE ? tx->sender : tx->recipient;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:I, s:s}", "tx_id", tx->tx_id,
                             "sender", tx->sender, "recipient", recipient, "kind",
                             ll_tx_kind_name(tx->kind), "amount", ll_events_coins(tx->amount),
                             "fee", ll_events_coins(tx->fee), "timestamp",
                             (double)tx->timestamp_ms / 1000.0, "block_height",
                             (json_int_t)height, "asset_id", tx->asset_id);
    return body ? json_pack("{s:s, s:o}", "type", "tx", "tx", body) : NULL;
}

json_t *ll_events_message(const ll_tx_t *tx, const char *status, uint64_t height)
{
    int confirmed = strcmp(status, "confirmed") == 0;
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:o, s:s}", "sender", tx->sender,
                            "sender_address", tx->sender, "address", tx->recipient, "text",
                            tx->memo, "timestamp", (double)tx->timestamp_ms / 1000.0, "status",
                            status, "block",
                            confirmed ? json_integer((json_int_t)height) : json_null(), "tx_id",
                            tx->tx_id);
    return msg ? json_pack("{s:s, s:o}", "type", "message", "msg", msg) : NULL;
}

static int append(ll_store_t *st, uint64_t height, const char *type, const char *tx_id,
                  const char *addresses, json_t *payload)
{
    uint64_t seq;
    int rc = LL_ENOMEM;
    char *text = payload ? json_dumps(payload, LL_JSON_FLAGS) : NULL;
    if (text)
        rc = ll_store_append_event(st, height, type, tx_id, addresses, text, &seq);
    free(text);
    json_decref(payload);
    return rc;
}

int ll_events_append_block(ll_store_t *st, const ll_block_hdr_t *b, ll_tx_t *const *txs,
                           size_t n)
{
    char addresses[2 * (LL_ADDRESS_HEX + 1)];
    int rc = append(st, b->height, "block", NULL, b->miner, ll_events_block(b));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const ll_tx_t *tx = txs[i];
        const char *other = tx->kind == LL_TX_CREATE ? "" : tx->recipient;
        snprintf(addresses, sizeof addresses, "%s%s%s", tx->sender, *other ? " " : "", other);
        if (tx->kind == LL_TX_MESSAGE)
            rc = append(st, b->height, "message", tx->tx_id, addresses,
                        ll_events_message(tx, "confirmed", b->height));
        else
            rc = append(st, b->height, "tx", tx->tx_id, addresses, ll_events_tx(tx, b->height));
    }
    return rc;
}
