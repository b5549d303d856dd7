/* tests/unit/test_ledger_events.c: the committed-event payloads through events.h:
 * the seed's shapes (keys, nesting, order, coin amounts) and the rows a block
 * appends to the event log (block first, then each transaction in order). */
#include "ledger/events.h"
#include "ledger/tx.h"
#include "store/history.h"
#include "store/store.h"
#include "stream/event.h"
#include "stream/hub.h"
#include "util/err.h"
#include "util/json.h"

#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

#define ALICE "34378b1ba5be9d0999acd60be3a8a1f1"
#define BOB "39848b50aaaaaaaaaaaaaaaaaaaaaaaa"
#define MINER "dc66f82c048f35144599737ed54ab702"
#define TXID "abc1230000000000000000000000000000000000000000000000000000000000"
#define CONTRACT_HEX "0123456789abcdef0123456789abcdef01234567"

static void assert_keys_in_order(json_t *obj, const char *const *keys, size_t n)
{
    size_t i = 0;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), i++) {
        assert_true(i < n);
        assert_string_equal(json_object_iter_key(it), keys[i]);
    }
    assert_int_equal(i, n);
}

static ll_block_hdr_t sample_block(void)
{
    ll_block_hdr_t b = {0};
    b.height = 1042;
    snprintf(b.hash, sizeof b.hash, "0000ab12%056d", 0);
    snprintf(b.previous_hash, sizeof b.previous_hash, "0000fc99%056d", 0);
    b.timestamp_ms = 1780002999000;
    b.tx_count = 3;
    snprintf(b.miner, sizeof b.miner, MINER);
    b.difficulty = 4;
    b.quantum_verified = 1;
    return b;
}

static ll_tx_t sample_tx(ll_tx_kind_t kind)
{
    ll_tx_t tx = {0};
    tx.kind = kind;
    snprintf(tx.tx_id, sizeof tx.tx_id, TXID);
    snprintf(tx.sender, sizeof tx.sender, ALICE);
    snprintf(tx.recipient, sizeof tx.recipient, BOB);
    snprintf(tx.asset_id, sizeof tx.asset_id, LL_NATIVE_ASSET_ID);
    tx.amount = 2500000;
    tx.fee = 10000;
    tx.timestamp_ms = 1780002999123;
    tx.memo = "hello";
    tx.memo_len = 5;
    return tx;
}

static void test_block_event_has_the_seed_shape_in_order(void **state)
{
    (void)state;
    static const char *const seed_order[] = {
        "height",   "hash",  "previous_hash", "timestamp",
        "tx_count", "miner", "difficulty",    "quantum_verified"};
    ll_block_hdr_t b = sample_block();
    json_t *ev = ll_events_block(&b);
    assert_non_null(ev);
    assert_json_str(ev, "type", "block");
    json_t *block = json_object_get(ev, "block");
    assert_keys_in_order(block, seed_order, 8);
    assert_int_equal(json_integer_value(json_object_get(block, "height")), 1042);
    assert_true(json_is_real(json_object_get(block, "timestamp")));
    assert_true(json_real_value(json_object_get(block, "timestamp")) == 1780002999.0);
    assert_true(json_is_true(json_object_get(block, "quantum_verified")));
    json_decref(ev);
}

static void test_tx_event_renders_amounts_in_coins(void **state)
{
    (void)state;
    ll_tx_t tx = sample_tx(LL_TX_TRANSFER);
    json_t *ev = ll_events_tx(&tx, NULL, 1042);
    json_t *body = json_object_get(ev, "tx");
    assert_json_str(ev, "type", "tx");
    assert_json_str(body, "tx_id", TXID);
    assert_json_str(body, "sender", ALICE);
    assert_json_str(body, "recipient", BOB);
    assert_json_str(body, "kind", "transfer");
    assert_int_equal(json_integer_value(json_object_get(body, "block_height")), 1042);
    /* The seed: fee 10000 units is "fee": 0.01. */
    char *text = json_dumps(ev, LL_JSON_FLAGS);
    assert_non_null(strstr(text, "\"fee\":0.01,"));
    assert_non_null(strstr(text, "\"amount\":2.5,"));
    assert_non_null(strstr(text, "\"timestamp\":1780002999.123,"));
    free(text);
    json_decref(ev);
}

static void test_create_event_names_its_issuer_as_recipient(void **state)
{
    (void)state;
    ll_tx_t tx = sample_tx(LL_TX_CREATE);
    tx.recipient[0] = '\0';
    json_t *ev = ll_events_tx(&tx, NULL, 7);
    json_t *body = json_object_get(ev, "tx");
    assert_json_str(body, "kind", "create");
    assert_json_str(body, "recipient", ALICE);
    json_decref(ev);
}

static void test_message_event_has_the_seed_shape(void **state)
{
    (void)state;
    static const char *const seed_order[] = {"sender",    "sender_address", "address", "text",
                                             "timestamp", "status",         "block",   "tx_id"};
    ll_tx_t tx = sample_tx(LL_TX_MESSAGE);
    json_t *ev = ll_events_message(&tx, NULL, "confirmed", 1042);
    json_t *msg = json_object_get(ev, "msg");
    assert_json_str(ev, "type", "message");
    assert_keys_in_order(msg, seed_order, 8);
    assert_json_str(msg, "sender_address", ALICE);
    assert_json_str(msg, "address", BOB);
    assert_json_str(msg, "text", "hello");
    assert_json_str(msg, "status", "confirmed");
    assert_int_equal(json_integer_value(json_object_get(msg, "block")), 1042);
    json_decref(ev);
}

static void test_pending_message_has_no_block(void **state)
{
    (void)state;
    ll_tx_t tx = sample_tx(LL_TX_MESSAGE);
    json_t *ev = ll_events_message(&tx, NULL, "pending", 1042);
    json_t *msg = json_object_get(ev, "msg");
    assert_json_str(msg, "status", "pending");
    assert_true(json_is_null(json_object_get(msg, "block")));
    json_decref(ev);
}

typedef struct rows {
    char text[512];
} rows_t;

static int collect(const ll_store_event_t *row, void *arg)
{
    rows_t *r = arg;
    size_t n = strlen(r->text);
    snprintf(r->text + n, sizeof r->text - n, "%s%" PRIu64 "%s%s", n ? "," : "", row->seq,
             row->type, row->addresses);
    return 0;
}

/* Appends b and txs again in a transaction of their own, and requires an
 * empty batch: every event they make was appended before. */
static void assert_append_adds_nothing(ll_events_t *ev, ll_store_t *st, const ll_block_hdr_t *b,
                                       ll_tx_t *const *txs, size_t n)
{
    ll_batch_t *batch = NULL;
    assert_int_equal(ll_store_begin(st), 0);
    assert_int_equal(ll_events_append_block(ev, st, b, txs, NULL, n, &batch), 0);
    assert_int_equal(ll_store_commit(st), 0);
    assert_int_equal(batch->n, 0);
    ll_batch_unref(batch);
}

static void test_block_appends_block_then_each_tx_in_order_and_batches_them(void **state)
{
    (void)state;
    char dir[64];
    ll_store_t *st = NULL;
    ll_batch_t *batch = NULL;
    ll_block_hdr_t b = sample_block();
    ll_tx_t t1 = sample_tx(LL_TX_TRANSFER), t2 = sample_tx(LL_TX_MESSAGE);
    ll_tx_t *txs[] = {&t1, &t2};
    rows_t rows = {""};
    assert_non_null(make_temp_dir(dir, sizeof dir, "events"));
    assert_int_equal(ll_store_open(dir, LL_STORE_WRITER, LL_SYNC_NORMAL, &st), 0);
    ll_events_t *ev = ll_events_new(st);
    assert_non_null(ev);
    snprintf(t2.tx_id, sizeof t2.tx_id, "%064d", 2);
    assert_int_equal(ll_store_begin(st), 0);
    assert_int_equal(ll_store_put_block(st, &b), 0);
    assert_int_equal(ll_events_append_block(ev, st, &b, txs, NULL, 2, &batch), 0);
    assert_int_equal(ll_store_commit(st), 0);

    /* Three rows, numbered from 1 without gaps: block, transfer, message. */
    assert_int_equal(ll_store_events_after(st, 0, 10, collect, &rows), 3);
    assert_string_equal(rows.text, "1block" MINER ",2tx" ALICE " " BOB ",3message" ALICE " " BOB);
    /* The live batch carries the same events, each encoded once per wire
     * format; only committed transactions have the valid_tx shapes. */
    assert_int_equal(batch->n, 3);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(batch->events[i]->seq, i + 1);
    assert_int_equal(batch->events[0]->wire[LL_WIRE_WS_VALID_TX].len, 0);
    assert_true(batch->events[1]->wire[LL_WIRE_WS_VALID_TX].len > 0);
    static const char want[] =
        "{\"txid\":\"" TXID "\",\"assetid\":\"" LL_NATIVE_ASSET_ID "\",\"blockid\":\"0000ab12";
    /* A frame of 126+ bytes has a 4-byte header: 0x81, 126, then a 16-bit length. */
    const char *frame = batch->events[1]->wire[LL_WIRE_WS_VALID_TX].bytes;
    assert_int_equal((unsigned char)frame[0], 0x81);
    assert_int_equal((unsigned char)frame[1], 126);
    assert_memory_equal(frame + 4, want, sizeof want - 1);
    assert_memory_equal(batch->events[0]->wire[LL_WIRE_SSE].bytes,
                        "id: 1\ndata: {\"type\":\"block\"", 27);
    ll_batch_unref(batch);

    /* The same block again is inside every dedupe window: nothing new. */
    assert_append_adds_nothing(ev, st, &b, txs, 2);
    ll_events_free(ev);

    /* A restart primes the windows from the log. */
    ev = ll_events_new(st);
    assert_append_adds_nothing(ev, st, &b, txs, 2);
    ll_events_free(ev);

    ll_store_close(st);
    assert_int_equal(remove_tree(dir), 0);
}

/* What history replay builds from a row (stream/subscriber.c). */
static int compare_with_live(const ll_store_event_t *row, void *arg)
{
    ll_batch_t *batch = arg;
    assert_true(row->seq >= 1 && row->seq <= batch->n);
    const ll_event_t *live = batch->events[row->seq - 1];
    ll_event_desc_t d = {.seq = row->seq,
                         .type = ll_ev_type_parse(row->type, strlen(row->type)),
                         .payload = row->payload};
    ll_event_desc_parse_addresses(&d, row->addresses);
    ll_event_t *replayed = ll_event_new(&d);
    assert_non_null(replayed);
    assert_int_equal(live->seq, row->seq);
    assert_int_equal(live->type, replayed->type);
    assert_string_equal(ll_ev_type_name(live->type), row->type);
    assert_int_equal(live->naddr, replayed->naddr);
    for (unsigned i = 0; i < live->naddr; i++)
        assert_string_equal(live->addr[i], replayed->addr[i]);
    for (ll_wire_t w = LL_WIRE_SSE; w <= LL_WIRE_WS_EVENTS; w++) {
        assert_int_equal(live->wire[w].len, replayed->wire[w].len);
        assert_memory_equal(live->wire[w].bytes, replayed->wire[w].bytes, live->wire[w].len);
    }
    ll_event_unref(replayed);
    return 0;
}

/* The ledger hands its live events their type and addresses as values; a
 * subscriber resuming from the log parses them back from the row. Both
 * must give the same event, byte for byte. */
static void test_live_events_equal_their_rows_as_replay_reads_them(void **state)
{
    (void)state;
    static const char contract[] = CONTRACT_HEX;
    char dir[64];
    ll_store_t *st = NULL;
    ll_batch_t *batch = NULL;
    ll_block_hdr_t b = sample_block();
    ll_tx_t t1 = sample_tx(LL_TX_TRANSFER), t2 = sample_tx(LL_TX_MESSAGE),
            t3 = sample_tx(LL_TX_CREATE), t4 = sample_tx(LL_TX_CALL);
    snprintf(t2.tx_id, sizeof t2.tx_id, "%064d", 2);
    snprintf(t3.tx_id, sizeof t3.tx_id, "%064d", 3);
    snprintf(t4.tx_id, sizeof t4.tx_id, "%064d", 4);
    snprintf(t4.to, sizeof t4.to, "%s", contract);
    json_t *receipt = json_pack("{s:s, s:b}", "to", contract, "success", 1);
    assert_non_null(receipt);
    ll_tx_t *txs[] = {&t1, &t2, &t3, &t4};
    json_t *receipts[] = {NULL, NULL, NULL, receipt};
    rows_t rows = {""};
    assert_non_null(make_temp_dir(dir, sizeof dir, "events"));
    assert_int_equal(ll_store_open(dir, LL_STORE_WRITER, LL_SYNC_NORMAL, &st), 0);
    ll_events_t *ev = ll_events_new(st);
    assert_non_null(ev);
    assert_int_equal(ll_store_begin(st), 0);
    assert_int_equal(ll_store_put_block(st, &b), 0);
    assert_int_equal(ll_events_append_block(ev, st, &b, txs, receipts, 4, &batch), 0);
    assert_int_equal(ll_store_commit(st), 0);
    ll_events_commit(ev);

    /* block, transfer, message, create (no counterparty), call, receipt */
    assert_int_equal(ll_store_events_after(st, 0, 10, collect, &rows), 6);
    assert_string_equal(rows.text,
                        "1block" MINER ",2tx" ALICE " " BOB ",3message" ALICE " " BOB ",4tx" ALICE
                        ",5tx" ALICE " " CONTRACT_HEX ",6receipt" ALICE " " CONTRACT_HEX);
    assert_int_equal(batch->n, 6);
    assert_int_equal(batch->events[3]->naddr, 1);
    assert_int_equal(batch->events[4]->naddr, 2);
    assert_string_equal(batch->events[4]->addr[1], contract);
    assert_int_equal(ll_store_events_after(st, 0, 10, compare_with_live, batch), 6);

    ll_batch_unref(batch);
    json_decref(receipt);
    ll_events_free(ev);
    ll_store_close(st);
    assert_int_equal(remove_tree(dir), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_event_has_the_seed_shape_in_order),
        cmocka_unit_test(test_tx_event_renders_amounts_in_coins),
        cmocka_unit_test(test_create_event_names_its_issuer_as_recipient),
        cmocka_unit_test(test_message_event_has_the_seed_shape),
        cmocka_unit_test(test_pending_message_has_no_block),
        cmocka_unit_test(test_block_appends_block_then_each_tx_in_order_and_batches_them),
        cmocka_unit_test(test_live_events_equal_their_rows_as_replay_reads_them),
    };
    return cmocka_run_group_tests_name("ledger/events", tests, NULL, NULL);
}
