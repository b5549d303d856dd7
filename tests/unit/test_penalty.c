/* tests/unit/test_penalty.c: the senders the ledger refuses contract runs
 * for a while after one of theirs outlived the time limit
 * (ledger/penalty.h): a penalty lasts LL_PENALTY_MS, is per address, and a
 * full table gives way to new penalties instead of forgetting them. */
#include "ledger/penalty.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void address_of(unsigned i, char out[LL_ADDRESS_HEX + 1])
{
    snprintf(out, LL_ADDRESS_HEX + 1, "%032x", i);
}

static void test_penalty_lasts_its_time_for_that_sender_only(void **state)
{
    (void)state;
    static ll_penalties_t p;
    char a[LL_ADDRESS_HEX + 1], b[LL_ADDRESS_HEX + 1];
    address_of(1, a);
    address_of(2, b);
    ll_penalty_init(&p);
    assert_int_equal(ll_penalty_left(&p, a, 1000), 0);
    ll_penalty_add(&p, a, 1000);
    assert_int_equal(ll_penalty_left(&p, a, 1000), LL_PENALTY_MS);
    assert_int_equal(ll_penalty_left(&p, a, 1000 + LL_PENALTY_MS - 1), 1);
    assert_int_equal(ll_penalty_left(&p, a, 1000 + LL_PENALTY_MS), 0);
    assert_int_equal(ll_penalty_left(&p, b, 1000), 0);
    /* a second penalty starts the time again */
    ll_penalty_add(&p, a, 5000);
    assert_int_equal(ll_penalty_left(&p, a, 5000), LL_PENALTY_MS);
}

static void test_penalty_table_full_keeps_the_newest(void **state)
{
    (void)state;
    static ll_penalties_t p;
    char a[LL_ADDRESS_HEX + 1];
    unsigned n = 4 * LL_PENALTY_SLOTS, kept = 0;
    ll_penalty_init(&p);
    for (unsigned i = 0; i < n; i++) {
        address_of(i, a);
        ll_penalty_add(&p, a, 1 + i);
        /* the one just added always holds */
        assert_true(ll_penalty_left(&p, a, 1 + i) > 0);
    }
    for (unsigned i = 0; i < n; i++) {
        address_of(i, a);
        kept += ll_penalty_left(&p, a, n) > 0;
    }
    /* bounded: never more than the slots, and most of them in use */
    assert_true(kept <= LL_PENALTY_SLOTS);
    assert_true(kept >= LL_PENALTY_SLOTS / 2);
    /* the newest ones survive */
    address_of(n - 1, a);
    assert_true(ll_penalty_left(&p, a, n) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_penalty_lasts_its_time_for_that_sender_only),
        cmocka_unit_test(test_penalty_table_full_keeps_the_newest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
