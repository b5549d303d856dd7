/* ledger/events.c: see events.h. */
#include "ledger/events.h"
#include "ledger/dedupe.h"
#include "store/history.h"
#include "store/users.h"
#include "stream/event.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key appended inside the store transaction that is still open. */
typedef struct staged {
    int slot; /* ll_ev_type_index of its type */
    char *key;
} staged_t;

struct ll_events {
    ll_dedupe_t *windows[LL_EV_TYPE_COUNT]; /* one per event type (seed 002) */
    /* Keys of the rows appended since the last ll_events_commit/abort. They
     * enter the windows only once their rows are committed: a rolled-back
     * block must find its keys unseen when it is built again, or it would
     * commit without events (never streamed, never replayable). */
    ll_hmap_t *staged_set; /* "<slot>/<key>" */
    staged_t *staged;      /* the same keys in append order */
    size_t nstaged, staged_cap;
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
                              "tx_count", (json_int_t)b->tx_count, "miner", b->miner, "difficulty",
                              (json_int_t)b->difficulty, "quantum_verified", b->quantum_verified);
    return block ? json_pack("{s:s, s:o}", "type", ll_ev_type_name(LL_EV_BLOCK), "block", block)
                 : NULL;
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
        const char *to =
            tx->kind == LL_TX_CALL ? tx->to : json_string_value(json_object_get(receipt, "to"));
        json_object_set_new(body, "to", contract_ref(to));
        if (tx->kind == LL_TX_CALL) {
            json_object_set_new(body, "selector", json_integer(tx->selector));
            json_object_set_new(body, "arg_count",
                                json_integer((json_int_t)json_array_size(tx->args)));
        }
    }
    if (body &&
        (json_object_set_new(body, "amount", json_real(ll_events_coins(tx->amount))) ||
         json_object_set_new(body, "fee", json_real(ll_events_coins(tx->fee))) ||
         json_object_set_new(body, "timestamp", json_real((double)tx->timestamp_ms / 1000.0)) ||
         json_object_set_new(body, "block_height", json_integer((json_int_t)height)) ||
         json_object_set_new(body, "asset_id", json_string(tx->asset_id)))) {
        json_decref(body);
        body = NULL;
    }
    return body ? json_pack("{s:s, s:o}", "type", ll_ev_type_name(LL_EV_TX), "tx", body) : NULL;
}

json_t *ll_events_message(const ll_tx_t *tx, const char *sender, const char *status,
                          uint64_t height)
{
    int confirmed = strcmp(status, "confirmed") == 0;
    json_t *msg = json_pack(
        "{s:s, s:s, s:s, s:s%, s:f, s:s, s:o, s:s}", "sender", sender ? sender : tx->sender,
        "sender_address", tx->sender, "address", tx->recipient, "text", tx->memo, tx->memo_len,
        "timestamp", (double)tx->timestamp_ms / 1000.0, "status", status, "block",
        confirmed ? json_integer((json_int_t)height) : json_null(), "tx_id", tx->tx_id);
    return msg ? json_pack("{s:s, s:o}", "type", ll_ev_type_name(LL_EV_MESSAGE), "msg", msg) : NULL;
}

/* ---- dedupe ------------------------------------------------------------------ */

/* The key of an event in its type's window (seed 002: tx_id + status for a
 * message, tx_id for a tx or receipt, height for a block). */
static void dedupe_key(ll_ev_type_t type, const char *tx_id, const char *status, uint64_t height,
                       char *out, size_t cap)
{
    if (type == LL_EV_BLOCK)
        snprintf(out, cap, "%" PRIu64, height);
    else if (type == LL_EV_MESSAGE)
        snprintf(out, cap, "%s/%s", tx_id, status);
    else
        snprintf(out, cap, "%s", tx_id);
}

/* Whether key of type is in its window or staged in the open transaction;
 * if neither, stages it. Returns 1 (seen), 0 (staged now) or LL_ENOMEM. */
static int seen_or_stage(ll_events_t *ev, ll_ev_type_t type, const char *key)
{
    int slot = ll_ev_type_index(type);
    char id[160];
    char *copy = NULL;
    if (slot < 0)
        return 0;
    if (ll_dedupe_has(ev->windows[slot], key))
        return 1;
    snprintf(id, sizeof id, "%d/%s", slot, key);
    if (ll_hmap_get(ev->staged_set, id))
        return 1;
    if (ev->nstaged == ev->staged_cap) {
        size_t cap = ev->staged_cap ? 2 * ev->staged_cap : 64;
        staged_t *grown = realloc(ev->staged, cap * sizeof *grown);
        if (!grown)
            return LL_ENOMEM;
        ev->staged = grown;
        ev->staged_cap = cap;
    }
    if (!(copy = strdup(key)) || ll_hmap_put(ev->staged_set, id, copy) < 0) {
        free(copy);
        return LL_ENOMEM;
    }
    ev->staged[ev->nstaged++] = (staged_t){slot, copy};
    return 0;
}

static void clear_staged(ll_events_t *ev)
{
    ll_hmap_clear(ev->staged_set); /* its values are the staged[] copies */
    for (size_t i = 0; i < ev->nstaged; i++)
        free(ev->staged[i].key);
    ev->nstaged = 0;
}

void ll_events_commit(ll_events_t *ev)
{
    for (size_t i = 0; i < ev->nstaged; i++)
        ll_dedupe_seen(ev->windows[ev->staged[i].slot], ev->staged[i].key);
    clear_staged(ev);
}

void ll_events_abort(ll_events_t *ev)
{
    clear_staged(ev);
}

static int prime_row(const ll_store_event_t *row, void *arg)
{
    ll_events_t *ev = arg;
    ll_ev_type_t type = ll_ev_type_parse(row->type, strlen(row->type)); /* read back from the log */
    int slot = ll_ev_type_index(type);
    char key[128];
    const char *status = "";
    json_t *payload = NULL;
    if (slot < 0)
        return 0;
    if (type == LL_EV_MESSAGE) {
        payload = json_loads(row->payload, JSON_ALLOW_NUL, NULL);
        status = json_string_value(json_object_get(json_object_get(payload, "msg"), "status"));
        if (!status)
            status = "";
    }
    dedupe_key(type, row->tx_id, status, row->height, key, sizeof key);
    ll_dedupe_seen(ev->windows[slot], key); /* committed rows: straight into the window */
    json_decref(payload);
    return 0;
}

ll_events_t *ll_events_new(ll_store_t *st)
{
    ll_events_t *ev = calloc(1, sizeof *ev);
    uint64_t last = 0;
    if (!ev)
        return NULL;
    if (!(ev->staged_set = ll_hmap_new())) {
        ll_events_free(ev);
        return NULL;
    }
    for (int i = 0; i < LL_EV_TYPE_COUNT; i++) {
        if (!(ev->windows[i] = ll_dedupe_new(LL_EVENTS_DEDUPE_WINDOW))) {
            ll_events_free(ev);
            return NULL;
        }
    }
    /* A restart keeps its windows: prime them from the newest rows, which
     * cover every window at most (each type has its own). */
    size_t span = LL_EV_TYPE_COUNT * LL_EVENTS_DEDUPE_WINDOW;
    if (ll_store_last_event_seq(st, &last) == 0 && last > 0)
        ll_store_events_after(st, last > span ? last - span : 0, span, prime_row, ev);
    return ev;
}

void ll_events_free(ll_events_t *ev)
{
    if (!ev)
        return;
    for (int i = 0; i < LL_EV_TYPE_COUNT; i++)
        ll_dedupe_free(ev->windows[i]);
    if (ev->staged_set)
        clear_staged(ev);
    ll_hmap_free(ev->staged_set);
    free(ev->staged);
    free(ev);
}

/* ---- rows and live events -------------------------------------------------- */

typedef struct row {
    ll_ev_type_t type;
    const char *status; /* messages */
    const ll_tx_t *tx;  /* NULL for a block */
    const ll_block_hdr_t *block;
    uint64_t height;
    int committed;        /* a transaction in a block: has the valid_tx shapes */
    const char *contract; /* a deploy's or call's contract (40 hex), or NULL */
} row_t;

/* The addresses an event is filed under: a transaction's sender, then its
 * contract or else its recipient (a create has none), or a block's miner.
 * Returns how many of out it set. */
static size_t row_addresses(const row_t *r, const char *out[2])
{
    if (!r->tx) {
        out[0] = r->block->miner;
        return 1;
    }
    const char *other = r->contract                   ? r->contract
                        : r->tx->kind == LL_TX_CREATE ? ""
                                                      : r->tx->recipient;
    out[0] = r->tx->sender;
    out[1] = other;
    return *other ? 2 : 1;
}

/* Appends one event row (unless its key is in the window) and its live
 * event to b. Steals payload. */
static int append(ll_events_t *ev, ll_store_t *st, const row_t *r, json_t *payload, ll_batch_t *b)
{
    char key[128], column[2 * (LL_VM_ADDRESS_HEX + 1)];
    const char *addrs[2];
    size_t naddr = row_addresses(r, addrs);
    const char *tx_id = r->tx ? r->tx->tx_id : NULL;
    uint64_t seq;
    int rc = LL_ENOMEM;
    char *text = NULL;

    dedupe_key(r->type, tx_id, r->status, r->height, key, sizeof key);
    if ((rc = seen_or_stage(ev, r->type, key)) != 0) {
        json_decref(payload);
        return rc < 0 ? rc : 0;
    }
    rc = LL_ENOMEM;
    /* The events table's addresses column is space-separated text. */
    snprintf(column, sizeof column, "%s%s%s", addrs[0], naddr > 1 ? " " : "",
             naddr > 1 ? addrs[1] : "");
    if (!payload || !(text = json_dumps(payload, LL_JSON_FLAGS)))
        goto out;
    if ((rc = ll_store_append_event(st, r->height, ll_ev_type_name(r->type), tx_id, column, text,
                                    &seq)) < 0)
        goto out;
    ll_event_desc_t d = {
        .seq = seq,
        .type = r->type,
        .payload = text,
        .tx_id = r->committed ? tx_id : NULL,
        .asset_id = r->tx ? r->tx->asset_id : NULL,
        .block_hash = r->block ? r->block->hash : NULL,
        .height = r->height,
    };
    for (size_t i = 0; i < naddr; i++) /* the live event gets them as they are */
        ll_event_desc_add_address(&d, addrs[i], strlen(addrs[i]));
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
                           ll_tx_t *const *txs, json_t *const *receipts, size_t n, ll_batch_t **out)
{
    ll_batch_t *batch = ll_batch_new(2 * n + 1);
    row_t r = {LL_EV_BLOCK, NULL, NULL, b, b->height, 0, NULL};
    int rc = batch ? append(ev, st, &r, ll_events_block(b), batch) : LL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const ll_tx_t *tx = txs[i];
        const json_t *receipt = receipts ? receipts[i] : NULL;
        const char *contract = tx->kind == LL_TX_CALL ? tx->to
                               : receipt ? json_string_value(json_object_get(receipt, "to"))
                                         : NULL;
        int is_msg = tx->kind == LL_TX_MESSAGE;
        r = (row_t){is_msg ? LL_EV_MESSAGE : LL_EV_TX, "confirmed", tx, b, b->height, 1, contract};
        rc = append(ev, st, &r,
                    is_msg ? message_payload(st, tx, "confirmed", b->height)
                           : ll_events_tx(tx, receipt, b->height),
                    batch);
        if (rc == 0 && receipt) {
            r = (row_t){LL_EV_RECEIPT, NULL, tx, b, b->height, 0, contract};
            rc = append(
                ev, st, &r,
                json_pack("{s:s, s:O}", "type", ll_ev_type_name(LL_EV_RECEIPT), "receipt", receipt),
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

int ll_events_append_messages(ll_events_t *ev, ll_store_t *st, uint64_t tip, const char *status,
                              const ll_tx_t *const *msgs, size_t n, ll_batch_t **out)
{
    ll_batch_t *batch = ll_batch_new(n);
    int rc = batch ? 0 : LL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        row_t r = {LL_EV_MESSAGE, status, msgs[i], NULL, tip, 0, NULL};
        rc = append(ev, st, &r, message_payload(st, msgs[i], status, 0), batch);
    }
    if (rc < 0) {
        ll_batch_unref(batch);
        batch = NULL;
    }
    *out = batch;
    return rc;
}
