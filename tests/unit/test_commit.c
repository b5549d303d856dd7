/* tests/unit/test_commit.c: writing one block (ledger/commit.h). A block
 * that commits is re-read and re-verified ("quantum verified"), its
 * transactions are found at its height, and its events come back numbered
 * after the previous block's. A block whose stored transactions do not
 * match its header is refused whole: no row, no event, no sequence number
 * used, and the next block commits as if it had never been tried. */
#include "ledger/block.h"
#include "ledger/commit.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/state.h"
#include "ledger/tx.h"
#include "store/store.h"
#include "util/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

typedef struct chain {
    char dir[64];
    ll_store_t *st;
    ll_state_t *state;
    ll_events_t *events;
    ll_keypair_t owner;
    ll_block_hdr_t tip;
} chain_t;

static int setup(void **state)
{
    chain_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_non_null(make_temp_dir(c->dir, sizeof c->dir, "commit"));
    assert_int_equal(ll_store_open(c->dir, LL_STORE_WRITER, LL_SYNC_FULL, &c->st), 0);
    assert_non_null(c->state = ll_state_new(c->st));
    assert_non_null(c->events = ll_events_new(c->st));
    ll_keys_generate(&c->owner);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    chain_t *c = *state;
    ll_events_free(c->events);
    ll_state_free(c->state);
    ll_store_close(c->st);
    remove_tree(c->dir);
    free(c);
    return 0;
}

/* The next block's header over tx_ids, mined at difficulty 1. */
static ll_block_hdr_t next_header(const chain_t *c, const char *const *tx_ids, size_t n)
{
    ll_block_hdr_t b;
    memset(&b, 0, sizeof b);
    b.height = c->tip.hash[0] ? c->tip.height + 1 : 0;
    snprintf(b.previous_hash, sizeof b.previous_hash, "%s",
             c->tip.hash[0] ? c->tip.hash : LL_GENESIS_PREVIOUS_HASH);
    b.timestamp_ms = 1700000000000 + (int64_t)b.height;
    snprintf(b.miner, sizeof b.miner, "%s", c->owner.address);
    b.difficulty = 1;
    b.tx_count = (uint32_t)n;
    assert_int_equal(ll_block_tx_root(tx_ids, n, b.tx_root), 0);
    assert_int_equal(ll_block_mine(&b), 0);
    return b;
}

/* A transfer of 1 unit from the owner, signed, with nonce. */
static ll_tx_t *transfer(const chain_t *c, uint64_t nonce)
{
    char pk[2 * LL_PK_BYTES + 1], why[LL_ERRMSG_MAX];
    ll_tx_t *tx = NULL;
    for (size_t i = 0; i < LL_PK_BYTES; i++)
        snprintf(pk + 2 * i, 3, "%02x", c->owner.pk[i]);
    json_t *body = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "kind", "transfer",
                             "sender_pubkey", pk, "recipient", "0123456789abcdef0123456789abcdef",
                             "amount", (json_int_t)1, "nonce", (json_int_t)nonce, "fee",
                             (json_int_t)0, "timestamp_ms", (json_int_t)1700000000000);
    assert_non_null(body);
    assert_int_equal(ll_tx_sign(body, &c->owner), 0);
    assert_int_equal(ll_tx_from_json(body, &tx, why), 0);
    json_decref(body);
    return tx;
}

/* Commits b with txs (applied to the state first, over whatever the state
 * holds already: the genesis credit); the batch's seqs into
 * seqs (room for n + 1). Returns ll_commit_block's result. */
static int commit(chain_t *c, ll_block_hdr_t *b, ll_tx_t **txs, size_t n, uint64_t *seqs)
{
    char why[LL_ERRMSG_MAX];
    ll_batch_t *batch = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *receipt = NULL;
        assert_int_equal(ll_state_apply_block(c->state, txs[i], b->miner, b->height, &receipt, why),
                         0);
        assert_null(receipt); /* a transfer has none */
    }
    int rc = ll_commit_block(c->st, c->state, c->events, b, txs, NULL, n, &batch);
    ll_state_reset(c->state); /* committed, or to be built again */
    if (rc == 0) {
        assert_non_null(batch);
        assert_int_equal(batch->n, n + 1); /* the block, then each transaction */
        for (size_t i = 0; i < batch->n; i++)
            seqs[i] = batch->events[i]->seq;
        ll_batch_unref(batch);
        c->tip = *b;
    } else {
        assert_null(batch);
    }
    return rc;
}

static void test_commit_numbers_events_after_the_previous_block(void **state)
{
    chain_t *c = *state;
    uint64_t seqs[2];
    ll_store_tx_t row;
    ll_block_hdr_t back;
    ll_block_hdr_t genesis = next_header(c, NULL, 0);
    assert_int_equal(ll_state_credit(c->state, c->owner.address, LL_NATIVE_ASSET_ID, 1000), 0);
    assert_int_equal(commit(c, &genesis, NULL, 0, seqs), 0);
    assert_true(genesis.quantum_verified);
    uint64_t genesis_seq = seqs[0];

    ll_tx_t *tx = transfer(c, 0);
    const char *ids[] = {tx->tx_id};
    ll_block_hdr_t b = next_header(c, ids, 1);
    assert_int_equal(commit(c, &b, &tx, 1, seqs), 0);
    assert_true(b.quantum_verified);
    assert_true(seqs[0] == genesis_seq + 1 && seqs[1] == genesis_seq + 2);
    /* what was written reads back, at its height, verified */
    assert_int_equal(ll_store_block_by_height(c->st, 1, &back), 0);
    assert_string_equal(back.hash, b.hash);
    assert_true(back.quantum_verified);
    assert_int_equal(ll_store_get_tx(c->st, tx->tx_id, &row), 0);
    assert_int_equal(row.height, 1);
    ll_tx_free(tx);
}

static void test_commit_refuses_a_block_whose_transactions_differ_and_leaves_nothing(void **state)
{
    chain_t *c = *state;
    uint64_t seqs[2], genesis_seq;
    ll_store_tx_t row;
    ll_block_hdr_t back;
    ll_block_hdr_t genesis = next_header(c, NULL, 0);
    assert_int_equal(ll_state_credit(c->state, c->owner.address, LL_NATIVE_ASSET_ID, 1000), 0);
    assert_int_equal(commit(c, &genesis, NULL, 0, seqs), 0);
    genesis_seq = seqs[0];

    /* the header's tx root says "no transactions", the block holds one */
    ll_tx_t *tx = transfer(c, 0);
    ll_block_hdr_t bad = next_header(c, NULL, 0);
    bad.tx_count = 1;
    assert_true(commit(c, &bad, &tx, 1, seqs) < 0);
    assert_false(bad.quantum_verified);
    assert_int_equal(ll_store_block_by_height(c->st, 1, &back), LL_ENOTFOUND);
    assert_int_equal(ll_store_get_tx(c->st, tx->tx_id, &row), LL_ENOTFOUND);

    /* the same transaction in a right header commits, numbered as if the
     * refused block had never been tried */
    const char *ids[] = {tx->tx_id};
    ll_block_hdr_t good = next_header(c, ids, 1);
    assert_int_equal(commit(c, &good, &tx, 1, seqs), 0);
    assert_true(seqs[0] == genesis_seq + 1 && seqs[1] == genesis_seq + 2);
    ll_tx_free(tx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_numbers_events_after_the_previous_block, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_commit_refuses_a_block_whose_transactions_differ_and_leaves_nothing, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
