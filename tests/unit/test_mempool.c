/* tests/unit/test_mempool.c: pending transactions through mempool.h. The
 * transactions are built by hand (calloc + fields), which is all the mempool
 * reads; ASan's leak check proves who frees them. */
#include "ledger/mempool.h"
#include "ledger/tx.h"
#include "util/err.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

/* A transaction whose tx_id is i in 64 hex digits. With owned set it also
 * holds a body and signing bytes, as a parsed one would. */
static ll_tx_t *make_tx(unsigned i, int owned)
{
    ll_tx_t *tx = calloc(1, sizeof *tx);
    assert_non_null(tx);
    tx->kind = LL_TX_TRANSFER;
    snprintf(tx->tx_id, sizeof tx->tx_id, "%064x", i);
    tx->nonce = i;
    if (owned) {
        tx->body = json_pack("{s:s, s:I}", "kind", "transfer", "nonce", (json_int_t)i);
        assert_non_null(tx->body);
        tx->signing_bytes = json_dumps(tx->body, JSON_SORT_KEYS | JSON_COMPACT);
        assert_non_null(tx->signing_bytes);
        tx->signing_len = strlen(tx->signing_bytes);
    }
    return tx;
}

static const char *id_of(unsigned i)
{
    static char id[LL_TX_ID_HEX + 1];
    snprintf(id, sizeof id, "%064x", i);
    return id;
}

typedef struct {
    unsigned nonces[64];
    size_t n;
} seen_t;

/* ll_mempool_take with only a count limit, or a count and a gas limit. */
static size_t take_gas(ll_mempool_t *mp, ll_tx_t **out, size_t max, uint64_t gas)
{
    ll_mempool_limits_t lim = {.txs = max, .gas = gas, .bytes = SIZE_MAX};
    return ll_mempool_take(mp, out, &lim);
}

static size_t take(ll_mempool_t *mp, ll_tx_t **out, size_t max)
{
    return take_gas(mp, out, max, UINT64_MAX);
}

static void on_each(const ll_tx_t *tx, void *arg)
{
    seen_t *s = arg;
    if (s->n < 64)
        s->nonces[s->n] = (unsigned)tx->nonce;
    s->n++;
}

/* Requires the pool to hold exactly the nonces want[0..n-1], in that order. */
static void assert_pool_order(const ll_mempool_t *mp, const unsigned *want, size_t n)
{
    seen_t s = {0};
    assert_int_equal(ll_mempool_count(mp), n);
    ll_mempool_each(mp, on_each, &s);
    assert_int_equal(s.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s.nonces[i], want[i]);
}

static void free_all(ll_tx_t **txs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ll_tx_free(txs[i]);
}

static void test_mempool_new_pool_is_empty(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[4];
    assert_non_null(mp);
    assert_int_equal(ll_mempool_count(mp), 0);
    assert_null(ll_mempool_find(mp, id_of(1)));
    assert_int_equal(take(mp, out, 4), 0);
    assert_pool_order(mp, NULL, 0);
    ll_mempool_free(mp);
}

static void test_mempool_keeps_arrival_order(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8];
    const unsigned want[] = {5, 3, 9, 1, 7};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(want[i], 0)), 0);
    assert_pool_order(mp, want, 5);
    assert_int_equal(take(mp, out, 8), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(out[i]->nonce, want[i]);
    assert_int_equal(ll_mempool_count(mp), 0);
    free_all(out, 5);
    ll_mempool_free(mp);
}

static void test_mempool_take_moves_at_most_max_oldest(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8] = {0};
    const unsigned rest[] = {2, 3, 4};
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(i, 1)), 0);
    assert_int_equal(take(mp, out, 2), 2);
    assert_int_equal(out[0]->nonce, 0);
    assert_int_equal(out[1]->nonce, 1);
    assert_null(out[2]); /* nothing written past max */
    assert_pool_order(mp, rest, 3);
    /* Taken transactions are the caller's: no longer findable in the pool. */
    assert_null(ll_mempool_find(mp, id_of(0)));
    assert_null(ll_mempool_find(mp, id_of(1)));
    assert_non_null(ll_mempool_find(mp, id_of(2)));
    free_all(out, 2);
    assert_int_equal(take(mp, out, 0), 0);
    assert_int_equal(ll_mempool_count(mp), 3);
    assert_int_equal(take(mp, out, 8), 3);
    assert_int_equal(out[0]->nonce, 2);
    assert_int_equal(out[2]->nonce, 4);
    free_all(out, 3);
    ll_mempool_free(mp);
}

static void test_mempool_untake_puts_back_in_front_in_order(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8];
    const unsigned all[] = {0, 1, 2, 3, 4};
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(i, 1)), 0);
    assert_int_equal(take(mp, out, 3), 3);
    ll_mempool_untake(mp, out, 3);
    assert_pool_order(mp, all, 5);
    for (unsigned i = 0; i < 5; i++) {
        const ll_tx_t *tx = ll_mempool_find(mp, id_of(i));
        assert_non_null(tx);
        assert_int_equal(tx->nonce, i);
    }
    ll_mempool_free(mp);
}

/* A block fails while new transactions keep arriving: the failed block's
 * transactions go back before them, and the ring wraps around its end. */
static void test_mempool_untake_before_later_arrivals_across_ring_wrap(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(4);
    ll_tx_t *out[4], *first[4];
    const unsigned order[] = {2, 3, 4, 5};
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(i, 1)), 0);
    assert_int_equal(take(mp, first, 2), 2); /* 0, 1: a block that committed */
    free_all(first, 2);
    assert_int_equal(ll_mempool_add(mp, make_tx(4, 1)), 0); /* wraps to the ring's start */
    assert_int_equal(ll_mempool_add(mp, make_tx(5, 1)), 0);
    assert_pool_order(mp, order, 4);
    assert_int_equal(take(mp, out, 3), 3); /* 2, 3, 4: a block that fails */
    assert_int_equal(out[0]->nonce, 2);
    assert_int_equal(out[2]->nonce, 4);
    ll_mempool_untake(mp, out, 3);
    assert_pool_order(mp, order, 4);
    assert_non_null(ll_mempool_find(mp, id_of(4)));
    ll_mempool_free(mp);
}

/* The journal forgets every row before the oldest pending transaction's,
 * so the oldest must be the smallest position through take and untake. */
static void test_mempool_oldest_journal_pos_is_the_smallest_pending(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8];
    assert_true(ll_mempool_oldest_journal_pos(mp) == UINT64_MAX);
    for (unsigned i = 0; i < 5; i++) {
        ll_tx_t *tx = make_tx(i, 1);
        tx->journal_pos = 10 + i;
        assert_int_equal(ll_mempool_add(mp, tx), 0);
    }
    assert_int_equal(ll_mempool_oldest_journal_pos(mp), 10);
    assert_int_equal(take(mp, out, 2), 2);
    assert_int_equal(ll_mempool_oldest_journal_pos(mp), 12);
    ll_tx_t *later = make_tx(9, 1);
    later->journal_pos = 15;
    assert_int_equal(ll_mempool_add(mp, later), 0);
    ll_mempool_untake(mp, out, 2); /* a block that failed */
    assert_int_equal(ll_mempool_oldest_journal_pos(mp), 10);
    assert_int_equal(take(mp, out, 6), 6);
    assert_true(ll_mempool_oldest_journal_pos(mp) == UINT64_MAX);
    free_all(out, 6);
    ll_mempool_free(mp);
}

static void test_mempool_find_returns_the_held_tx_by_id(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *a = make_tx(0xabc, 1), *b = make_tx(0xdef, 1);
    assert_int_equal(ll_mempool_add(mp, a), 0);
    assert_int_equal(ll_mempool_add(mp, b), 0);
    assert_ptr_equal(ll_mempool_find(mp, id_of(0xabc)), a);
    assert_ptr_equal(ll_mempool_find(mp, id_of(0xdef)), b);
    assert_null(ll_mempool_find(mp, id_of(0x123)));
    assert_null(ll_mempool_find(mp, ""));
    ll_mempool_free(mp);
}

static void test_mempool_full_returns_ebusy_and_caller_keeps_tx(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(3);
    ll_tx_t *out[1];
    const unsigned order[] = {1, 2, 4};
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(i, 1)), 0);
    ll_tx_t *extra = make_tx(3, 1);
    assert_int_equal(ll_mempool_add(mp, extra), LL_EBUSY);
    assert_int_equal(ll_mempool_count(mp), 3);
    assert_null(ll_mempool_find(mp, id_of(3))); /* refused means not indexed either */
    ll_tx_free(extra); /* still ours: ASan reports a double free if the pool kept it */
    /* Taking one makes room for exactly one more. */
    assert_int_equal(take(mp, out, 1), 1);
    ll_tx_free(out[0]);
    assert_int_equal(ll_mempool_add(mp, make_tx(4, 1)), 0);
    ll_tx_t *again = make_tx(5, 1);
    assert_int_equal(ll_mempool_add(mp, again), LL_EBUSY);
    ll_tx_free(again);
    assert_pool_order(mp, order, 3);
    ll_mempool_free(mp);
}

static void test_mempool_free_releases_every_held_tx(void **state)
{
    (void)state;
    ll_mempool_t *mp = ll_mempool_new(16);
    ll_tx_t *out[16];
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(i, 1)), 0);
    /* Move the ring's head so the held range is not at index 0. */
    assert_int_equal(take(mp, out, 4), 4);
    free_all(out, 4);
    for (unsigned i = 10; i < 15; i++)
        assert_int_equal(ll_mempool_add(mp, make_tx(i, i % 2)), 0);
    assert_int_equal(ll_mempool_count(mp), 11); /* neither full nor starting at 0 */
    ll_mempool_free(mp); /* ASan's leak check fails the test if one is left */
    ll_mempool_free(NULL);
}

static void test_mempool_counts_pending_per_sender_through_take_and_untake(void **state)
{
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8];
    (void)state;
    for (unsigned i = 0; i < 5; i++) {
        ll_tx_t *tx = make_tx(i, 0);
        snprintf(tx->sender, sizeof tx->sender, "%s", i < 3 ? "aaaa" : "bbbb");
        assert_int_equal(ll_mempool_add(mp, tx), 0);
    }
    assert_int_equal(ll_mempool_sender_count(mp, "aaaa"), 3);
    assert_int_equal(ll_mempool_sender_count(mp, "bbbb"), 2);
    assert_int_equal(ll_mempool_sender_count(mp, "cccc"), 0);
    assert_int_equal(take(mp, out, 4), 4);
    assert_int_equal(ll_mempool_sender_count(mp, "aaaa"), 0);
    assert_int_equal(ll_mempool_sender_count(mp, "bbbb"), 1);
    ll_mempool_untake(mp, out, 4);
    assert_int_equal(ll_mempool_sender_count(mp, "aaaa"), 3);
    assert_int_equal(ll_mempool_sender_count(mp, "bbbb"), 2);
    ll_mempool_free(mp);
}

static void test_mempool_take_stops_at_the_gas_budget_but_always_takes_one(void **state)
{
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8];
    static const uint64_t gas[] = {600, 0, 500, 0, 100};
    (void)state;
    for (unsigned i = 0; i < 5; i++) {
        ll_tx_t *tx = make_tx(i, 0);
        tx->kind = gas[i] ? LL_TX_CALL : LL_TX_MESSAGE;
        tx->gas_limit = gas[i];
        assert_int_equal(ll_mempool_add(mp, tx), 0);
    }
    /* 600 + 0 fit 1000; the third (500) would pass it: the block ends there. */
    assert_int_equal(take_gas(mp, out, 8, 1000), 2);
    assert_int_equal(ll_mempool_gas(out[0]), 600);
    ll_tx_free(out[0]);
    ll_tx_free(out[1]);
    /* A budget below the first's gas still takes the first alone. */
    assert_int_equal(take_gas(mp, out, 8, 100), 1);
    assert_string_equal(out[0]->tx_id, id_of(2));
    ll_tx_free(out[0]);
    assert_int_equal(take_gas(mp, out, 8, 100), 2);
    ll_tx_free(out[0]);
    ll_tx_free(out[1]);
    ll_mempool_free(mp);
}

static void test_mempool_counts_bytes_and_a_block_takes_at_most_its_byte_limit(void **state)
{
    ll_mempool_t *mp = ll_mempool_new(8);
    ll_tx_t *out[8];
    ll_mempool_limits_t lim = {.txs = 8, .gas = UINT64_MAX, .bytes = 250};
    (void)state;
    for (unsigned i = 0; i < 3; i++) {
        ll_tx_t *tx = make_tx(i, 0);
        tx->signing_len = 100 * (i + 1);
        assert_int_equal(ll_mempool_add(mp, tx), 0);
    }
    assert_int_equal(ll_mempool_bytes(mp), 600);
    assert_int_equal(ll_mempool_take(mp, out, &lim), 1); /* 100 + 200 would pass 250 */
    assert_int_equal(ll_mempool_bytes(mp), 500);
    ll_mempool_untake(mp, out, 1);
    assert_int_equal(ll_mempool_bytes(mp), 600);
    lim = (ll_mempool_limits_t){.txs = 8, .gas = UINT64_MAX, .bytes = 50};
    /* below the first's size: it still goes, alone */
    assert_int_equal(ll_mempool_take(mp, out, &lim), 1);
    ll_tx_free(out[0]);
    assert_int_equal(ll_mempool_bytes(mp), 500);
    ll_mempool_free(mp);
}

/* A block taken in slices holds what one take would: each slice goes on
 * from the sums the earlier ones left, so the first transaction of a later
 * slice is held to the limits like any other. */
static void test_mempool_a_block_taken_in_slices_keeps_its_limits(void **state)
{
    ll_mempool_t *mp = ll_mempool_new(16);
    ll_tx_t *out[16];
    ll_mempool_limits_t lim = {.txs = 10, .gas = UINT64_MAX, .bytes = 550, .most = 2};
    size_t n = 0, got;
    (void)state;
    for (unsigned i = 0; i < 8; i++) {
        ll_tx_t *tx = make_tx(i, 0);
        tx->signing_len = 100;
        assert_int_equal(ll_mempool_add(mp, tx), 0);
    }
    while ((got = ll_mempool_take(mp, out + n, &lim)) > 0) {
        assert_true(got <= 2);
        n += got;
    }
    assert_int_equal(n, 5); /* 5 x 100 fit 550; the sixth would not */
    assert_int_equal(lim.held_txs, 5);
    assert_int_equal(lim.held_bytes, 500);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(out[i]->nonce, i);
    assert_int_equal(ll_mempool_count(mp), 3);
    free_all(out, n);
    ll_mempool_free(mp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mempool_new_pool_is_empty),
        cmocka_unit_test(test_mempool_keeps_arrival_order),
        cmocka_unit_test(test_mempool_take_moves_at_most_max_oldest),
        cmocka_unit_test(test_mempool_untake_puts_back_in_front_in_order),
        cmocka_unit_test(test_mempool_untake_before_later_arrivals_across_ring_wrap),
        cmocka_unit_test(test_mempool_find_returns_the_held_tx_by_id),
        cmocka_unit_test(test_mempool_full_returns_ebusy_and_caller_keeps_tx),
        cmocka_unit_test(test_mempool_free_releases_every_held_tx),
        cmocka_unit_test(test_mempool_counts_pending_per_sender_through_take_and_untake),
        cmocka_unit_test(test_mempool_take_stops_at_the_gas_budget_but_always_takes_one),
        cmocka_unit_test(test_mempool_counts_bytes_and_a_block_takes_at_most_its_byte_limit),
        cmocka_unit_test(test_mempool_oldest_journal_pos_is_the_smallest_pending),
        cmocka_unit_test(test_mempool_a_block_taken_in_slices_keeps_its_limits),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("ledger/mempool", tests, NULL, NULL);
}
