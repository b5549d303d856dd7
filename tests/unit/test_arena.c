/* tests/unit/test_arena.c: the per-request arena through net/arena.h:
 * alignment, chunks chained as it fills, large blocks, growth in place, by
 * copy and by realloc, and that ll_arena_close() releases everything (the
 * run is under ASan: a leak or a stray access fails it). */
#include "net/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int aligned(const void *p)
{
    return (uintptr_t)p % LL_ARENA_ALIGN == 0;
}

static void test_arena_allocations_are_aligned_and_distinct(void **state)
{
    (void)state;
    char first[1000];
    ll_arena_t a;
    ll_arena_init(&a, first + 3, sizeof first - 3); /* lent memory need not be aligned */
    char *prev = NULL;
    for (size_t n = 0; n < 300; n++) {
        char *p = ll_arena_alloc(&a, n % 37);
        assert_non_null(p);
        assert_true(aligned(p));
        assert_true(p != prev);
        memset(p, 0xab, n % 37);
        prev = p;
    }
    ll_arena_close(&a);
}

static void test_arena_chains_chunks_when_the_first_is_full(void **state)
{
    (void)state;
    char first[256];
    ll_arena_t a;
    ll_arena_init(&a, first, sizeof first);
    char *in_first = ll_arena_alloc(&a, 100);
    assert_true(in_first >= first && in_first < first + sizeof first);
    /* Far more than the first chunk holds: chunks are chained, and every
     * allocation keeps its bytes. */
    char *ptrs[200];
    for (int i = 0; i < 200; i++) {
        ptrs[i] = ll_arena_alloc(&a, 200);
        assert_non_null(ptrs[i]);
        assert_true(aligned(ptrs[i]));
        memset(ptrs[i], i, 200);
    }
    assert_non_null(a.chunks); /* 200 * 208 bytes: chained past the first */
    assert_true(ptrs[199] < first || ptrs[199] >= first + sizeof first);
    for (int i = 0; i < 200; i++)
        for (int j = 0; j < 200; j++)
            assert_int_equal((unsigned char)ptrs[i][j], (unsigned char)i);
    ll_arena_close(&a);
    assert_null(a.chunks);
    assert_null(a.large);
}

static void test_arena_without_a_first_chunk_allocates_its_own(void **state)
{
    (void)state;
    ll_arena_t a;
    ll_arena_init(&a, NULL, 0);
    char *p = ll_arena_alloc(&a, 10);
    assert_non_null(p);
    assert_true(aligned(p));
    memcpy(p, "0123456789", 10);
    ll_arena_close(&a);
}

static void test_arena_large_allocations_are_separate_and_released(void **state)
{
    (void)state;
    char first[4096];
    ll_arena_t a;
    ll_arena_init(&a, first, sizeof first);
    char *small = ll_arena_alloc(&a, 16);
    char *big = ll_arena_alloc(&a, LL_ARENA_LARGE);
    char *huge = ll_arena_alloc(&a, 1 << 20);
    assert_non_null(big);
    assert_non_null(huge);
    assert_true(aligned(big));
    assert_true(aligned(huge));
    /* large blocks do not use up the chunk: the next small one follows */
    assert_true(big < first || big >= first + sizeof first);
    char *small2 = ll_arena_alloc(&a, 16);
    assert_ptr_equal(small2, small + 16);
    memset(big, 1, LL_ARENA_LARGE);
    memset(huge, 2, 1 << 20);
    assert_null(a.chunks);
    assert_non_null(a.large);
    ll_arena_close(&a); /* ASan's leak check at exit fails the test if one stays */
}

static void test_arena_newest_allocation_grows_in_place(void **state)
{
    (void)state;
    char first[2048];
    ll_arena_t a;
    ll_arena_init(&a, first, sizeof first);
    char *p = ll_arena_alloc(&a, 16);
    memcpy(p, "fifteen chars..", 16);
    char *q = ll_arena_realloc(&a, p, 16, 200);
    assert_ptr_equal(q, p);
    assert_string_equal(q, "fifteen chars..");
    char *next = ll_arena_alloc(&a, 8);
    assert_ptr_equal(next, p + 208); /* the bump pointer moved past the growth */
    assert_ptr_equal(ll_arena_realloc(&a, q, 200, 100), q); /* never shrinks */
    ll_arena_close(&a);
}

static void test_arena_older_allocation_grows_by_copy_then_by_realloc(void **state)
{
    (void)state;
    char first[2048];
    ll_arena_t a;
    ll_arena_init(&a, first, sizeof first);
    char *p = ll_arena_alloc(&a, 64);
    for (int i = 0; i < 64; i++)
        p[i] = (char)i;
    (void)ll_arena_alloc(&a, 8); /* p is no longer the newest */
    char *q = ll_arena_realloc(&a, p, 64, 128);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_true(aligned(q));
    for (int i = 0; i < 64; i++)
        assert_int_equal(q[i], (char)i);
    /* past LL_ARENA_LARGE it becomes a large block, then grows by realloc */
    size_t size = 128;
    for (size_t n = 256; n <= 256 * 1024; n *= 2) {
        char *r = ll_arena_realloc(&a, q, size, n);
        assert_non_null(r);
        assert_true(aligned(r));
        for (int i = 0; i < 64; i++)
            assert_int_equal(r[i], (char)i);
        memset(r + size, 0x5a, n - size);
        q = r;
        size = n;
    }
    /* an allocation made after a large block was moved is still released */
    assert_non_null(ll_arena_alloc(&a, 4 * LL_ARENA_LARGE));
    assert_non_null(ll_arena_realloc(&a, q, size, 2 * size));
    ll_arena_close(&a);
}

static void test_arena_realloc_of_null_allocates(void **state)
{
    (void)state;
    ll_arena_t a;
    ll_arena_init(&a, NULL, 0);
    char *p = ll_arena_realloc(&a, NULL, 0, 32);
    assert_non_null(p);
    memset(p, 0, 32);
    char *big = ll_arena_realloc(&a, NULL, 0, 2 * LL_ARENA_LARGE);
    assert_non_null(big);
    memset(big, 0, 2 * LL_ARENA_LARGE);
    ll_arena_close(&a);
    ll_arena_close(&a); /* closing twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_allocations_are_aligned_and_distinct),
        cmocka_unit_test(test_arena_chains_chunks_when_the_first_is_full),
        cmocka_unit_test(test_arena_without_a_first_chunk_allocates_its_own),
        cmocka_unit_test(test_arena_large_allocations_are_separate_and_released),
        cmocka_unit_test(test_arena_newest_allocation_grows_in_place),
        cmocka_unit_test(test_arena_older_allocation_grows_by_copy_then_by_realloc),
        cmocka_unit_test(test_arena_realloc_of_null_allocates),
    };
    return cmocka_run_group_tests_name("net/arena", tests, NULL, NULL);
}
