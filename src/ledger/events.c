/* ledger/events.c: see events.h. */
#include "ledger/events.h"
#include "store/history.h"
#include "store/users.h"
#include "stream/dedupe.h"
#include "util/err.h"
#include "util/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DD_BLOCK, DD_TX, DD_MESSAGE, DD_RECEIPT, DD_COUNT };

struct ll_events {
    ll_dedupe_t *windows[DD_COUNT]; /* one window per event type (seed 002) */
};

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

/* "0x" + a contract's address, or JSON null. */
static json_t *contract_ref(const char *address)
{
    char ref[2 + LL_VM_ADDRESS_HEX + 1];
    if (!address)
        return json_null();
    snprintf(ref, sizeof ref, "0x%s", address);
    return json_string(ref);
}

json_t *ll_events_tx(const ll_tx_t *tx, const json_t *receipt, uint64_t height)
{
    int contract = tx->kind == LL_TX_DEPLOY || tx->kind == LL_TX_CALL;
    /* A create issues its asset to its own sender, so that is its recipient;
     * a contract's transactions go to "contract" (seed 002). */
    const char *recipient = tx->kind == LL_TX_CREATE ? tx->sender
                            : contract               ? "contract"
                                                     : tx->recipient;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "tx_id", tx->tx_id, "sender", tx->sender,
                             "recipient", recipient, "kind", ll_tx_kind_name(tx->kind));
    if (body && contract) {
        const char *to = tx->kind == LL_TX_CALL
                             ? tx->to
                             : json_string_value(json_object_get(receipt, "to"));
        json_object_set_new(body, "to", contract_ref(to));
        if (tx->kind == LL_TX_CALL) {
            json_object_set_new(body, "selector", json_integer(tx->selector));
            json_object_set_new(body, "arg_count", json_integer((json_int_t)json_array_size(tx->args)));
        }
    }
    if (body && (json_object_set_new(body, "amount", json_real(ll_events_coins(tx->amount))) ||
                 json_object_set_new(body, "fee", json_real(ll_events_coins(tx->fee))) ||
                 json_object_set_new(body, "timestamp", json_real((double)tx->timestamp_ms / 1000.0)) ||
                 json_object_set_new(body, "block_height", json_integer((json_int_t)height)) ||
                 json_object_set_new(body, "asset_id", json_string(tx->asset_id)))) {
        json_decref(body);
        body = NULL;
    }
    return body ? json_pack("{s:s, s:o}", "type", "tx", "tx", body) : NULL;
}

json_t *ll_events_message(const ll_tx_t *tx, const char *sender, const char *status,
                          uint64_t height)
{
    int confirmed = strcmp(status, "confirmed") == 0;
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:o, s:s}", "sender",
                            sender ? sender : tx->sender, "sender_address", tx->sender,
                            "address", tx->recipient, "text", tx->memo, "timestamp",
                            (double)tx->timestamp_ms / 1000.0, "status", status, "block",
                            confirmed ? json_integer((json_int_t)height) : json_null(), "tx_id",
                            tx->tx_id);
    return msg ? json_pack("{s:s, s:o}", "type", "message", "msg", msg) : NULL;
}

/* ---- dedupe ------------------------------------------------------------------ */

static int dedupe_slot(const char *type)
{
    static const char *const names[DD_COUNT] = {"block", "tx", "message", "receipt"};
    for (int i = 0; i < DD_COUNT; i++)
        if (strcmp(names[i], type) == 0)
            return i;
    return -1;
}

/* The key of an event in its type's window (seed 002: tx_id + status for a
 * message, tx_id for a tx or receipt, height for a block). */
static void dedupe_key(const char *type, const char *tx_id, const char *status, uint64_t height,
                       char *out, size_t cap)
{
    if (strcmp(type, "block") == 0)
        snprintf(out, cap, "%" PRIu64, height);
    else if (strcmp(type, "message") == 0)
        snprintf(out, cap, "%s/%s", tx_id, status);
    else
        snprintf(out, cap, "%s", tx_id);
}

static int seen(ll_events_t *ev, const char *type, const char *key)
{
    int slot = dedupe_slot(type);
    return slot >= 0 && ll_dedupe_seen(ev->windows[slot], key);
}

static int prime_row(const ll_store_event_t *row, void *arg)
{
    ll_events_t *ev = arg;
    char key[128];
    const char *status = "";
    json_t *payload = NULL;
    if (strcmp(row->type, "message") == 0) {
        payload = json_loads(row->payload, 0, NULL);
        status = json_string_value(json_object_get(json_object_get(payload, "msg"), "status"));
        if (!status)
            status = "";
    }
    dedupe_key(row->type, row->tx_id, status, row->height, key, sizeof key);
    seen(ev, row->type, key);
    json_decref(payload);
    return 0;
}

ll_events_t *ll_events_new(ll_store_t *st)
{
    ll_events_t *ev = calloc(1, sizeof *ev);
    uint64_t last = 0;
    if (!ev)
        return NULL;
    for (int i = 0; i < DD_COUNT; i++) {
        if (!(ev->windows[i] = ll_dedupe_new(LL_EVENTS_DEDUPE_WINDOW))) {
            ll_events_free(ev);
            return NULL;
        }
    }
    /* A restart keeps its windows: prime them from the newest rows, which
     * cover every window at most (each type has its own). */
    size_t span = DD_COUNT * LL_EVENTS_DEDUPE_WINDOW;
    if (ll_store_last_event_seq(st, &last) == 0 && last > 0)
        ll_store_events_after(st, last > span ? last - span : 0, span, prime_row, ev);
    return ev;
}

void ll_events_free(ll_events_t *ev)
{
    if (!ev)
        return;
    for (int i = 0; i < DD_COUNT; i++)
        ll_dedupe_free(ev->windows[i]);
    free(ev);
}

/* ---- rows and live events -------------------------------------------------- */

typedef struct row {
    const char *type;
    const char *status; /* messages */
    const ll_tx_t *tx;  /* NULL for a block */
    const ll_block_hdr_t *block;
    uint64_t height;
    int committed;        /* a transaction in a block: has the valid_tx shapes */
    const char *contract; /* a deploy's or call's contract (40 hex), or NULL */
} row_t;

/* Appends one event row (unless its key is in the window) and its live
 * event to b. Steals payload. */
static int append(ll_events_t *ev, ll_store_t *st, const row_t *r, json_t *payload, ll_batch_t *b)
{
    char key[128], addresses[2 * (LL_VM_ADDRESS_HEX + 1)] = "";
    const char *tx_id = r->tx ? r->tx->tx_id : NULL;
    uint64_t seq;
    int rc = LL_ENOMEM;
    char *text = NULL;

    dedupe_key(r->type, tx_id, r->status, r->height, key, sizeof key);
    if (seen(ev, r->type, key)) {
        json_decref(payload);
        return 0;
    }
    if (r->tx) {
        const char *other = r->contract                    ? r->contract
                            : r->tx->kind == LL_TX_CREATE ? ""
                                                          : r->tx->recipient;
        snprintf(addresses, sizeof addresses, "%s%s%s", r->tx->sender, *other ? " " : "", other);
    } else {
        snprintf(addresses, sizeof addresses, "%s", r->block->miner);
    }
    if (!payload || !(text = json_dumps(payload, LL_JSON_FLAGS)))
        goto out;
    if ((rc = ll_store_append_event(st, r->height, r->type, tx_id, addresses, text, &seq)) < 0)
        goto out;
    ll_event_desc_t d = {
        .seq = seq,
        .type = r->type,
        .addresses = addresses,
        .payload = text,
        .tx_id = r->committed ? tx_id : NULL,
        .asset_id = r->tx ? r->tx->asset_id : NULL,
        .block_hash = r->block ? r->block->hash : NULL,
        .height = r->height,
    };
    ll_event_t *live = ll_event_new(&d);
    rc = LL_ENOMEM;
    if (!live)
        goto out;
    b->events[b->n++] = live; /* the batch owns it */
    rc = 0;
out:
    free(text);
    json_decref(payload);
    return rc;
}

static json_t *message_payload(ll_store_t *st, const ll_tx_t *tx, const char *status,
                               uint64_t height)
{
    char name[64];
    int found = ll_store_username_of(st, tx->sender, name, sizeof name) == 0;
    return ll_events_message(tx, found ? name : NULL, status, height);
}

int ll_events_append_block(ll_events_t *ev, ll_store_t *st, const ll_block_hdr_t *b,
                           ll_tx_t *const *txs, json_t *const *receipts, size_t n,
                           ll_batch_t **out)
{
    ll_batch_t *batch = ll_batch_new(2 * n + 1);
    row_t r = {"block", NULL, NULL, b, b->height, 0, NULL};
    int rc = batch ? append(ev, st, &r, ll_events_block(b), batch) : LL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const ll_tx_t *tx = txs[i];
        const json_t *receipt = receipts ? receipts[i] : NULL;
        const char *contract = tx->kind == LL_TX_CALL ? tx->to
                               : receipt ? json_string_value(json_object_get(receipt, "to"))
                                         : NULL;
        int is_msg = tx->kind == LL_TX_MESSAGE;
        r = (row_t){is_msg ? "message" : "tx", "confirmed", tx, b, b->height, 1, contract};
        rc = append(ev, st, &r,
                    is_msg ? message_payload(st, tx, "confirmed", b->height)
                           : ll_events_tx(tx, receipt, b->height),
                    batch);
        if (rc == 0 && receipt) {
            r = (row_t){"receipt", NULL, tx, b, b->height, 0, contract};
            rc = append(ev, st, &r, json_pack("{s:s, s:O}", "type", "receipt", "receipt", receipt),
                        batch);
        }
    }
    if (rc < 0) {
        ll_batch_unref(batch);
        batch = NULL;
    }
    *out = batch;
    return rc;
}

int ll_events_append_pending(ll_events_t *ev, ll_store_t *st, uint64_t tip,
                             const ll_tx_t *const *msgs, size_t n, ll_batch_t **out)
{
    ll_batch_t *batch = ll_batch_new(n);
    int rc = batch ? 0 : LL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        row_t r = {"message", "pending", msgs[i], NULL, tip, 0, NULL};
        rc = append(ev, st, &r, message_payload(st, msgs[i], "pending", 0), batch);
    }
    if (rc < 0) {
        ll_batch_unref(batch);
        batch = NULL;
    }
    *out = batch;
    return rc;
}
