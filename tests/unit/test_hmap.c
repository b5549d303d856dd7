/* tests/unit/test_hmap.c: the string-keyed hash map through hmap.h, including
 * a randomized differential test against a plain array that exercises growth
 * and backward-shift deletion over thousands of operations. */
#include "util/err.h"
#include "util/hmap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

/* Values are pointers into this array, so a wrong value is easy to spot. */
static int vals[4096];

/* A borrowed-key map keeps the caller's pointer: entries resolve by the
 * key's text while it lives, and clearing or freeing never frees it (ASan
 * would report a double free of the caller's buffer). */
static void test_hmap_borrowed_keys_are_the_callers(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new_borrowed();
    char *keys[100];
    assert_non_null(m);
    for (int i = 0; i < 100; i++) {
        keys[i] = malloc(16);
        assert_non_null(keys[i]);
        snprintf(keys[i], 16, "key-%d", i);
        assert_int_equal(ll_hmap_put(m, keys[i], keys[i]), 0);
    }
    assert_int_equal(ll_hmap_count(m), 100);
    assert_ptr_equal(ll_hmap_get(m, "key-42"), keys[42]);
    assert_ptr_equal(ll_hmap_remove(m, "key-7"), keys[7]);
    assert_null(ll_hmap_get(m, "key-7"));
    ll_hmap_clear(m);
    assert_int_equal(ll_hmap_count(m), 0);
    assert_int_equal(ll_hmap_put(m, keys[3], keys[3]), 0);
    ll_hmap_free(m);
    for (int i = 0; i < 100; i++)
        free(keys[i]);
}

static void test_hmap_new_map_is_empty(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    assert_non_null(m);
    assert_int_equal(ll_hmap_count(m), 0);
    assert_null(ll_hmap_get(m, "absent"));
    assert_null(ll_hmap_get(m, ""));
    assert_null(ll_hmap_remove(m, "absent"));
    assert_int_equal(ll_hmap_count(m), 0);
    ll_hmap_free(m);
}

static void test_hmap_get_returns_what_put_stored(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    assert_int_equal(ll_hmap_put(m, "alice", &vals[1]), 0);
    assert_int_equal(ll_hmap_put(m, "bob", &vals[2]), 0);
    assert_int_equal(ll_hmap_put(m, "", &vals[3]), 0); /* the empty key is a key */
    assert_int_equal(ll_hmap_count(m), 3);
    assert_ptr_equal(ll_hmap_get(m, "alice"), &vals[1]);
    assert_ptr_equal(ll_hmap_get(m, "bob"), &vals[2]);
    assert_ptr_equal(ll_hmap_get(m, ""), &vals[3]);
    assert_null(ll_hmap_get(m, "alic"));
    assert_null(ll_hmap_get(m, "alicee"));
    ll_hmap_free(m);
}

static void test_hmap_put_existing_key_replaces_value_without_growing_count(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    assert_int_equal(ll_hmap_put(m, "k", &vals[1]), 0);
    assert_int_equal(ll_hmap_put(m, "k", &vals[2]), 0);
    assert_int_equal(ll_hmap_count(m), 1);
    assert_ptr_equal(ll_hmap_get(m, "k"), &vals[2]);
    ll_hmap_free(m);
}

static void test_hmap_copies_keys_so_caller_buffer_may_change(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    char key[16];
    strcpy(key, "first");
    assert_int_equal(ll_hmap_put(m, key, &vals[1]), 0);
    strcpy(key, "other");
    assert_ptr_equal(ll_hmap_get(m, "first"), &vals[1]);
    assert_null(ll_hmap_get(m, "other"));
    ll_hmap_free(m);
}

static void test_hmap_remove_returns_value_and_forgets_key(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    assert_int_equal(ll_hmap_put(m, "a", &vals[1]), 0);
    assert_int_equal(ll_hmap_put(m, "b", &vals[2]), 0);
    assert_ptr_equal(ll_hmap_remove(m, "a"), &vals[1]);
    assert_int_equal(ll_hmap_count(m), 1);
    assert_null(ll_hmap_get(m, "a"));
    assert_null(ll_hmap_remove(m, "a")); /* a second remove finds nothing */
    assert_ptr_equal(ll_hmap_get(m, "b"), &vals[2]);
    assert_int_equal(ll_hmap_put(m, "a", &vals[3]), 0); /* and the key can come back */
    assert_ptr_equal(ll_hmap_get(m, "a"), &vals[3]);
    assert_int_equal(ll_hmap_count(m), 2);
    ll_hmap_free(m);
}

static void test_hmap_keeps_every_key_across_growth(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(ll_hmap_put(m, key, &vals[i]), 0);
        assert_int_equal(ll_hmap_count(m), (size_t)i + 1);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_ptr_equal(ll_hmap_get(m, key), &vals[i]);
    }
    ll_hmap_free(m);
}

static void test_hmap_handles_long_keys(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    size_t len = 100000;
    char *a = malloc(len + 1), *b = malloc(len + 1);
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 'x', len);
    a[len] = '\0';
    memcpy(b, a, len + 1);
    b[len - 1] = 'y'; /* differs from a only in the very last byte */
    assert_int_equal(ll_hmap_put(m, a, &vals[1]), 0);
    assert_null(ll_hmap_get(m, b));
    assert_int_equal(ll_hmap_put(m, b, &vals[2]), 0);
    assert_int_equal(ll_hmap_count(m), 2);
    assert_ptr_equal(ll_hmap_get(m, a), &vals[1]);
    assert_ptr_equal(ll_hmap_get(m, b), &vals[2]);
    b[len - 1] = 'x'; /* now b spells a */
    assert_ptr_equal(ll_hmap_remove(m, b), &vals[1]);
    assert_int_equal(ll_hmap_count(m), 1);
    free(a);
    free(b);
    ll_hmap_free(m);
}

typedef struct {
    size_t n;
    int seen[64];
    int bad_key; /* a key whose value did not match */
} visit_t;

static void on_visit(const char *key, void *value, void *arg)
{
    visit_t *v = arg;
    int i = (int)((int *)value - vals);
    char want[16];
    v->n++;
    if (i < 0 || i >= 64) {
        v->bad_key = 1;
        return;
    }
    snprintf(want, sizeof want, "k%d", i);
    if (strcmp(key, want) != 0)
        v->bad_key = 1;
    v->seen[i]++;
}

static void test_hmap_each_visits_every_entry_exactly_once(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    char key[16];
    visit_t v = {0};
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ll_hmap_put(m, key, &vals[i]), 0);
    }
    /* Remove every third entry so each also runs over a map with holes. */
    for (int i = 0; i < 64; i += 3) {
        snprintf(key, sizeof key, "k%d", i);
        assert_ptr_equal(ll_hmap_remove(m, key), &vals[i]);
    }
    ll_hmap_each(m, on_visit, &v);
    assert_false(v.bad_key);
    assert_int_equal(v.n, ll_hmap_count(m));
    for (int i = 0; i < 64; i++)
        assert_int_equal(v.seen[i], i % 3 == 0 ? 0 : 1);
    ll_hmap_free(m);
}

static void count_visit(const char *key, void *value, void *arg)
{
    (void)key;
    (void)value;
    (*(size_t *)arg)++;
}

static void test_hmap_clear_removes_every_entry_and_map_stays_usable(void **state)
{
    (void)state;
    ll_hmap_t *m = ll_hmap_new();
    char key[16];
    size_t visits = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "c%d", i);
        assert_int_equal(ll_hmap_put(m, key, &vals[i]), 0);
    }
    ll_hmap_clear(m);
    assert_int_equal(ll_hmap_count(m), 0);
    ll_hmap_each(m, count_visit, &visits);
    assert_int_equal(visits, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "c%d", i);
        assert_null(ll_hmap_get(m, key));
    }
    assert_int_equal(ll_hmap_put(m, "c5", &vals[7]), 0);
    assert_ptr_equal(ll_hmap_get(m, "c5"), &vals[7]);
    assert_int_equal(ll_hmap_count(m), 1);
    ll_hmap_free(m); /* ASan: no key may leak through clear or free */
}

/* ---- randomized differential test ---------------------------------------- */

#define REF_KEYS 600 /* the largest key universe used below */

typedef struct {
    int universe;          /* keys 0 .. universe-1 */
    unsigned salt;         /* part of every key name, so each run has new homes */
    void *value[REF_KEYS]; /* NULL: absent */
    size_t count;
} ref_t;

static void ref_key(const ref_t *ref, int i, char *out, size_t cap)
{
    /* Varied lengths, shared prefixes: "r<salt>.<i>" and a long tail for some. */
    if (i % 7 == 0)
        snprintf(out, cap, "r%u.%d-%s", ref->salt, i,
                 "a-rather-long-suffix-shared-by-many-keys-0123456789");
    else
        snprintf(out, cap, "r%u.%d", ref->salt, i);
}

typedef struct {
    const ref_t *ref;
    size_t n;
    int mismatch;
    int seen[REF_KEYS];
} ref_visit_t;

static void on_ref_visit(const char *key, void *value, void *arg)
{
    ref_visit_t *v = arg;
    int i = (int)((int *)value - vals);
    char want[96];
    v->n++;
    if (i < 0 || i >= v->ref->universe) {
        v->mismatch = 1;
        return;
    }
    ref_key(v->ref, i, want, sizeof want);
    if (strcmp(key, want) != 0 || v->ref->value[i] != value)
        v->mismatch = 1;
    v->seen[i]++;
}

static void check_against_ref(const ll_hmap_t *m, const ref_t *ref)
{
    char key[96];
    ref_visit_t *v = calloc(1, sizeof *v);
    assert_non_null(v);
    assert_int_equal(ll_hmap_count(m), ref->count);
    for (int i = 0; i < ref->universe; i++) {
        ref_key(ref, i, key, sizeof key);
        assert_ptr_equal(ll_hmap_get(m, key), ref->value[i]);
    }
    v->ref = ref;
    ll_hmap_each(m, on_ref_visit, v);
    assert_false(v->mismatch);
    assert_int_equal(v->n, ref->count);
    for (int i = 0; i < ref->universe; i++)
        assert_int_equal(v->seen[i], ref->value[i] ? 1 : 0);
    free(v);
}

/* steps random puts and removes over a universe of keys, checked against the
 * array after every operation (count) and every check_every steps (all). */
static void run_differential(int universe, int steps, int check_every, uint64_t seed, unsigned salt)
{
    ll_hmap_t *m = ll_hmap_new();
    ref_t *ref = calloc(1, sizeof *ref);
    char key[96];
    uint64_t rng = seed;
    assert_non_null(m);
    assert_non_null(ref);
    ref->universe = universe;
    ref->salt = salt;

    for (int step = 0; step < steps; step++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
        /* Phases bias toward puts then removes, so the map fills up and
         * drains back to nearly empty more than once. */
        int phase = (step / 10000) % 2;
        int i = (int)((rng >> 20) % (uint64_t)universe);
        int op = (int)((rng >> 8) % 100);
        int put = phase == 0 ? op < 70 : op < 30;
        ref_key(ref, i, key, sizeof key);
        if (put) {
            void *v = &vals[i];
            assert_int_equal(ll_hmap_put(m, key, v), 0);
            if (!ref->value[i])
                ref->count++;
            ref->value[i] = v;
        } else {
            assert_ptr_equal(ll_hmap_remove(m, key), ref->value[i]);
            if (ref->value[i])
                ref->count--;
            ref->value[i] = NULL;
        }
        assert_int_equal(ll_hmap_count(m), ref->count);
        if (step % check_every == 0)
            check_against_ref(m, ref);
    }
    check_against_ref(m, ref);

    /* Finally empty it key by key: every remaining key must still be found
     * after all the shifting. */
    for (int i = 0; i < universe; i++) {
        ref_key(ref, i, key, sizeof key);
        assert_ptr_equal(ll_hmap_remove(m, key), ref->value[i]);
        if (ref->value[i])
            ref->count--;
        ref->value[i] = NULL;
        check_against_ref(m, ref);
    }
    assert_int_equal(ll_hmap_count(m), 0);
    free(ref);
    ll_hmap_free(m);
}

/* A fixed seed keeps failures reproducible; the map's SipHash key is random
 * per process, so slot layouts still differ from run to run. */
static void test_hmap_matches_array_reference_while_growing_and_shrinking(void **state)
{
    (void)state;
    run_differential(REF_KEYS, 60000, 997, 0x9e3779b97f4a7c15ull, 0);
}

/* At most 11 live keys: the map stays small and dense, so probe runs often
 * wrap past the last slot and deletions shift entries across the wrap. */
static void test_hmap_matches_array_reference_in_a_small_dense_map(void **state)
{
    (void)state;
    for (unsigned run = 1; run <= 200; run++)
        run_differential(11, 2000, 1, run * 0x2545f4914f6cdd1dull, run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmap_new_map_is_empty),
        cmocka_unit_test(test_hmap_get_returns_what_put_stored),
        cmocka_unit_test(test_hmap_put_existing_key_replaces_value_without_growing_count),
        cmocka_unit_test(test_hmap_copies_keys_so_caller_buffer_may_change),
        cmocka_unit_test(test_hmap_remove_returns_value_and_forgets_key),
        cmocka_unit_test(test_hmap_keeps_every_key_across_growth),
        cmocka_unit_test(test_hmap_handles_long_keys),
        cmocka_unit_test(test_hmap_each_visits_every_entry_exactly_once),
        cmocka_unit_test(test_hmap_clear_removes_every_entry_and_map_stays_usable),
        cmocka_unit_test(test_hmap_matches_array_reference_while_growing_and_shrinking),
        cmocka_unit_test(test_hmap_matches_array_reference_in_a_small_dense_map),
        cmocka_unit_test(test_hmap_borrowed_keys_are_the_callers),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("util/hmap", tests, NULL, NULL);
}
