/* tests/unit/test_events.c: the committed-event payloads through events.h:
 * the seed's shapes (keys, nesting, order, coin amounts) and the rows a block
 * appends to the event log (block first, then each transaction in order). */
#include "ledger/events.h"
#include "ledger/tx.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"

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

#define ALICE "34378b1ba5be9d0999acd60be3a8a1f1"
#define BOB "39848b50aaaaaaaaaaaaaaaaaaaaaaaa"
#define MINER "dc66f82c048f35144599737ed54ab702"
#define TXID "abc1230000000000000000000000000000000000000000000000000000000000"

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
    return tx;
}

static void test_block_event_has_the_seed_shape_in_order(void **state)
{
    (void)state;
    static const char *const seed_order[] = {"height",   "hash",       "previous_hash",
                                             "timestamp", "tx_count",  "miner",
                                             "difficulty", "quantum_verified"};
    ll_block_hdr_t b = sample_block();
    json_t *ev = ll_events_block(&b);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "block");
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
    json_t *ev = ll_events_tx(&tx, 1042);
    json_t *body = json_object_get(ev, "tx");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "tx");
    assert_string_equal(json_string_value(json_object_get(body, "tx_id")), TXID);
    assert_string_equal(json_string_value(json_object_get(body, "sender")), ALICE);
    assert_string_equal(json_string_value(json_object_get(body, "recipient")), BOB);
    assert_string_equal(json_string_value(json_object_get(body, "kind")), "transfer");
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
    json_t *ev = ll_events_tx(&tx, 7);
    json_t *body = json_object_get(ev, "tx");
    assert_string_equal(json_string_value(json_object_get(body, "kind")), "create");
    assert_string_equal(json_string_value(json_object_get(body, "recipient")), ALICE);
    json_decref(ev);
}

static void test_message_event_has_the_seed_shape(void **state)
{
    (void)state;
    static const char *const seed_order[] = {"sender", "sender_address", "address", "text",
                                             "timestamp", "status", "block", "tx_id"};
    ll_tx_t tx = sample_tx(LL_TX_MESSAGE);
    json_t *ev = ll_events_message(&tx, "confirmed", 1042);
    json_t *msg = json_object_get(ev, "msg");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "message");
    assert_keys_in_order(msg, seed_order, 8);
    assert_string_equal(json_string_value(json_object_get(msg, "sender_address")), ALICE);
    assert_string_equal(json_string_value(json_object_get(msg, "address")), BOB);
    assert_string_equal(json_string_value(json_object_get(msg, "text")), "hello");
    assert_string_equal(json_string_value(json_object_get(msg, "status")), "confirmed");
    assert_int_equal(json_integer_value(json_object_get(msg, "block")), 1042);
    json_decref(ev);
}

static void test_pending_message_has_no_block(void **state)
{
    (void)state;
    ll_tx_t tx = sample_tx(LL_TX_MESSAGE);
    json_t *ev = ll_events_message(&tx, "pending", 1042);
    json_t *msg = json_object_get(ev, "msg");
    assert_string_equal(json_string_value(json_object_get(msg, "status")), "pending");
    assert_true(json_is_null(json_object_get(msg, "block")));
    json_decref(ev);
}

static void test_block_appends_block_then_each_tx_in_order(void **state)
{
    (void)state;
    char dir[] = "/tmp/ll-events-XXXXXX";
    ll_store_t *st = NULL;
    ll_block_hdr_t b = sample_block();
    ll_tx_t t1 = sample_tx(LL_TX_TRANSFER), t2 = sample_tx(LL_TX_MESSAGE);
    ll_tx_t *txs[] = {&t1, &t2};
    uint64_t seq = 0;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(ll_store_open(dir, LL_STORE_WRITER, LL_SYNC_NORMAL, &st), 0);
    snprintf(t2.tx_id, sizeof t2.tx_id, "%064d", 2);
    assert_int_equal(ll_store_begin(st), 0);
    assert_int_equal(ll_store_put_block(st, &b), 0);
    assert_int_equal(ll_events_append_block(st, &b, txs, 2), 0);
    assert_int_equal(ll_store_commit(st), 0);
    /* Three rows, numbered from 1 without gaps: block, transfer, message. */
    assert_int_equal(ll_store_last_event_seq(st, &seq), 0);
    assert_int_equal(seq, 3);
    ll_store_close(st);

    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import sqlite3;"
             "print(sqlite3.connect('%s/ledger.db').execute("
             "'select group_concat(seq||type||addresses, \\\",\\\") from events').fetchone()[0])\"",
             dir);
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof out, p));
    pclose(p);
    assert_string_equal(out, "1block" MINER ",2tx" ALICE " " BOB ",3message" ALICE " " BOB "\n");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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
        cmocka_unit_test(test_block_appends_block_then_each_tx_in_order),
    };
    return cmocka_run_group_tests_name("ledger/events", tests, NULL, NULL);
}
