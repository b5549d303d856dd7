/* tests/unit/test_list.c: comma-separated lists (util/list.h), as the
 * Connection header, types= and --allowed-origins write them: items in
 * order, white space around them trimmed, empty items kept as empty. */
#include "util/list.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void expect_items(const char *list, const char *const *want, size_t n)
{
    const char *cursor = list, *item;
    size_t len, i = 0;
    while (ll_list_next(&cursor, &item, &len)) {
        assert_true(i < n);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(item, want[i], len);
        i++;
    }
    assert_int_equal(i, n);
}

static void test_list_items_trimmed_in_order(void **state)
{
    (void)state;
    static const char *const a[] = {"keep-alive", "Upgrade"};
    static const char *const b[] = {"blocks", "", "messages"};
    static const char *const c[] = {"one"};
    static const char *const d[] = {"", ""};
    expect_items("keep-alive, Upgrade", a, 2);
    expect_items(" \tblocks ,, messages\n", b, 3);
    expect_items("one", c, 1);
    expect_items(" , ", d, 2);
    expect_items("", NULL, 0);
}

static void test_list_null_is_empty(void **state)
{
    (void)state;
    const char *cursor = NULL, *item;
    size_t len;
    assert_int_equal(ll_list_next(&cursor, &item, &len), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_items_trimmed_in_order),
        cmocka_unit_test(test_list_null_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
