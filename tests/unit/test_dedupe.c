/* tests/unit/test_dedupe.c: the window of recent event keys through
 * dedupe.h. A lookup of an unseen key records it, so each test states the
 * window it expects after every call. */
#include "ledger/dedupe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

static void test_dedupe_reports_unseen_then_seen(void **state)
{
    (void)state;
    ll_dedupe_t *d = ll_dedupe_new(4);
    assert_non_null(d);
    assert_int_equal(ll_dedupe_seen(d, "block:1"), 0);
    assert_int_equal(ll_dedupe_seen(d, "block:1"), 1);
    assert_int_equal(ll_dedupe_seen(d, "block:1"), 1);
    assert_int_equal(ll_dedupe_seen(d, "tx:abc"), 0);
    assert_int_equal(ll_dedupe_seen(d, "tx:abc"), 1);
    assert_int_equal(ll_dedupe_seen(d, "block:1"), 1);
    ll_dedupe_free(d);
}

static void test_dedupe_keeps_its_own_copy_of_the_key(void **state)
{
    (void)state;
    ll_dedupe_t *d = ll_dedupe_new(2);
    assert_non_null(d);
    char key[] = "receipt:0001";
    assert_int_equal(ll_dedupe_seen(d, key), 0);
    key[sizeof key - 2] = '2'; /* the caller reuses its buffer */
    assert_int_equal(ll_dedupe_seen(d, key), 0);
    assert_int_equal(ll_dedupe_seen(d, "receipt:0001"), 1);
    assert_int_equal(ll_dedupe_seen(d, "receipt:0002"), 1);
    ll_dedupe_free(d);
}

static void test_dedupe_evicts_the_oldest_key_first(void **state)
{
    (void)state;
    ll_dedupe_t *d = ll_dedupe_new(3);
    assert_non_null(d);
    assert_int_equal(ll_dedupe_seen(d, "a"), 0);
    assert_int_equal(ll_dedupe_seen(d, "b"), 0);
    assert_int_equal(ll_dedupe_seen(d, "c"), 0); /* window: a b c */
    /* A hit does not refresh a key: eviction follows arrival order. */
    assert_int_equal(ll_dedupe_seen(d, "a"), 1);
    assert_int_equal(ll_dedupe_seen(d, "d"), 0); /* window: b c d */
    assert_int_equal(ll_dedupe_seen(d, "b"), 1);
    assert_int_equal(ll_dedupe_seen(d, "c"), 1);
    assert_int_equal(ll_dedupe_seen(d, "d"), 1);
    assert_int_equal(ll_dedupe_seen(d, "a"), 0); /* gone; recorded again: c d a */
    assert_int_equal(ll_dedupe_seen(d, "b"), 0); /* d a b */
    assert_int_equal(ll_dedupe_seen(d, "c"), 0); /* a b c */
    assert_int_equal(ll_dedupe_seen(d, "a"), 1);
    assert_int_equal(ll_dedupe_seen(d, "b"), 1);
    assert_int_equal(ll_dedupe_seen(d, "c"), 1);
    assert_int_equal(ll_dedupe_seen(d, "d"), 0); /* b c d */
    assert_int_equal(ll_dedupe_seen(d, "b"), 1);
    ll_dedupe_free(d);
}

static void test_dedupe_window_of_one_remembers_only_the_last_key(void **state)
{
    (void)state;
    ll_dedupe_t *d = ll_dedupe_new(1);
    assert_non_null(d);
    assert_int_equal(ll_dedupe_seen(d, "x"), 0);
    assert_int_equal(ll_dedupe_seen(d, "x"), 1);
    assert_int_equal(ll_dedupe_seen(d, "y"), 0); /* evicts x */
    assert_int_equal(ll_dedupe_seen(d, "y"), 1);
    assert_int_equal(ll_dedupe_seen(d, "x"), 0); /* evicts y */
    assert_int_equal(ll_dedupe_seen(d, "y"), 0);
    assert_int_equal(ll_dedupe_seen(d, "y"), 1);
    ll_dedupe_free(d);
}

/* Many keys pass through a window much smaller than their number: the map
 * behind it grows and shrinks (removals included) without losing a key. */
static void test_dedupe_many_keys_remember_exactly_the_last_window(void **state)
{
    (void)state;
    enum { WINDOW = 1000, KEYS = 20000 };
    char key[32];
    ll_dedupe_t *d = ll_dedupe_new(WINDOW);
    assert_non_null(d);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "tx:%08d", i);
        assert_int_equal(ll_dedupe_seen(d, key), 0);
        if (i % 7 == 0) /* a repeat while the key is surely in the window */
            assert_int_equal(ll_dedupe_seen(d, key), 1);
    }
    /* Hits record nothing, so the window is exactly KEYS-WINDOW..KEYS-1. */
    for (int i = KEYS - WINDOW; i < KEYS; i++) {
        snprintf(key, sizeof key, "tx:%08d", i);
        assert_int_equal(ll_dedupe_seen(d, key), 1);
    }
    /* Every older key is gone; each miss records it and evicts the oldest,
     * so walking the old keys from the newest down never meets a hit. */
    for (int i = KEYS - WINDOW - 1; i >= KEYS - 3 * WINDOW; i--) {
        snprintf(key, sizeof key, "tx:%08d", i);
        assert_int_equal(ll_dedupe_seen(d, key), 0);
    }
    /* The last WINDOW of those misses are now the window. */
    for (int i = KEYS - 3 * WINDOW + WINDOW - 1; i >= KEYS - 3 * WINDOW; i--) {
        snprintf(key, sizeof key, "tx:%08d", i);
        assert_int_equal(ll_dedupe_seen(d, key), 1);
    }
    snprintf(key, sizeof key, "tx:%08d", KEYS - 1);
    assert_int_equal(ll_dedupe_seen(d, key), 0);
    ll_dedupe_free(d);
}

static void test_dedupe_free_releases_a_partly_filled_window(void **state)
{
    (void)state;
    ll_dedupe_t *d = ll_dedupe_new(64);
    assert_non_null(d);
    assert_int_equal(ll_dedupe_seen(d, "only"), 0);
    ll_dedupe_free(d); /* ASan: the copy is freed */
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_reports_unseen_then_seen),
        cmocka_unit_test(test_dedupe_keeps_its_own_copy_of_the_key),
        cmocka_unit_test(test_dedupe_evicts_the_oldest_key_first),
        cmocka_unit_test(test_dedupe_window_of_one_remembers_only_the_last_key),
        cmocka_unit_test(test_dedupe_many_keys_remember_exactly_the_last_window),
        cmocka_unit_test(test_dedupe_free_releases_a_partly_filled_window),
    };
    return cmocka_run_group_tests_name("ledger/dedupe", tests, NULL, NULL);
}
