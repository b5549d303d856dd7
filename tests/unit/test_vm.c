/* tests/unit/test_vm.c: contracts through vm.h: deploy and call results,
 * return encodings, storage and logs. A run, the fake storage it reads and
 * the result checks are in vm_harness.h; gas, memory, runaways and the
 * sandbox's determinism and libraries are in test_vm_sandbox.c. */
#include "util/err.h"
#include "vm/vm.h"

#include "vm_harness.h"

/* ---- deploy ------------------------------------------------------------------ */

static void test_vm_deploy_accepts_table_of_functions(void **state)
{
    (void)state;
    static const char code[] = "local function get(ctx) return 1 end\n"
                               "return { [1] = get, [2] = function(ctx, v) end }";
    ll_vm_result_t r;
    assert_int_equal(ll_vm_deploy(code, strlen(code), 100000, &r), 0);
    assert_true(r.success);
    assert_null(r.error);
    assert_null(r.return_data);
    assert_int_equal(r.return_len, 0);
    assert_int_equal(r.nwrites, 0);
    assert_int_equal(json_array_size(r.logs), 0);
    assert_true(r.gas_used > 0);
    ll_vm_result_free(&r);

    assert_int_equal(ll_vm_deploy("return {}", 9, 100, &r), 0); /* no selectors is a shape */
    assert_true(r.success);
    ll_vm_result_free(&r);
}

static void test_vm_deploy_reports_lua_syntax_error(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function( end }";
    ll_vm_result_t r;
    assert_int_equal(ll_vm_deploy(code, strlen(code), 100000, &r), 0);
    assert_false(r.success);
    assert_non_null(r.error);
    assert_ptr_equal(strstr(r.error, "contract:1:"), r.error);
    assert_non_null(strstr(r.error, "near"));
    assert_int_equal(r.gas_used, LL_VM_GAS_CODE_BYTE * strlen(code)); /* compiling it */
    ll_vm_result_free(&r);
}

static void test_vm_deploy_refuses_other_shapes(void **state)
{
    (void)state;
    static const char *const codes[] = {
        "return 5",
        "return nil",
        "",
        "return {1, 2}",
        "return { x = function() end }",
        "return { [1.5] = function() end }",
        "return { [1] = function() end, [2] = 'no' }",
        "return { [true] = function() end }",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ll_vm_result_t r;
        assert_int_equal(ll_vm_deploy(codes[i], strlen(codes[i]), 100000, &r), 0);
        assert_false(r.success);
        assert_string_equal(r.error,
                            "deploy must return a table of functions keyed by integer selectors");
        ll_vm_result_free(&r);
    }
}

static void test_vm_deploy_refuses_binary_chunk(void **state)
{
    (void)state;
    static const char code[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08";
    ll_vm_result_t r;
    assert_int_equal(ll_vm_deploy(code, sizeof code - 1, 100000, &r), 0);
    assert_false(r.success);
    assert_non_null(strstr(r.error, "binary chunk"));
    ll_vm_result_free(&r);
}

static void test_vm_deploy_fails_on_runtime_error_and_limits(void **state)
{
    (void)state;
    ll_vm_result_t r;
    assert_int_equal(ll_vm_deploy("error('nope')", 13, 100000, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "contract:1: nope");
    ll_vm_result_free(&r);

    assert_int_equal(ll_vm_deploy("return {}", 9, LL_VM_MAX_GAS + 1, &r), 0);
    assert_false(r.success);
    ll_vm_result_free(&r);

    char *big = malloc(LL_VM_MAX_CODE + 2);
    assert_non_null(big);
    memset(big, ' ', LL_VM_MAX_CODE + 1);
    big[LL_VM_MAX_CODE + 1] = '\0';
    assert_int_equal(ll_vm_deploy(big, LL_VM_MAX_CODE + 1, 100000, &r), 0);
    assert_false(r.success);
    ll_vm_result_free(&r);
    free(big);
}

/* ---- calls and storage --------------------------------------------------------- */

static const char COUNTER[] = "local function get(ctx) return storage.get('n') or 0 end\n"
                              "local function inc(ctx, by)\n"
                              "  local n = (storage.get('n') or 0) + by\n"
                              "  storage.set('n', n)\n"
                              "  storage.set('who', ctx.sender)\n"
                              "  storage.set('n', n)\n"
                              "  emit('inc', n)\n"
                              "  return n\n"
                              "end\n"
                              "return { [1] = get, [2] = inc }";

static void test_vm_counter_keeps_storage_across_calls(void **state)
{
    (void)state;
    store_t st = {0};
    ll_vm_result_t r;

    call_ok(COUNTER, 2, "[5]", &st, &r);
    assert_int_equal(word_value(&r), 5);
    /* one write per key, in the order keys were first set, last value wins */
    assert_int_equal(r.nwrites, 2);
    assert_int_equal(r.writes[0].key_len, 1);
    assert_memory_equal(r.writes[0].key, "n", 1);
    assert_int_equal(r.writes[0].value.type, LL_VM_INT);
    assert_int_equal(r.writes[0].value.i, 5);
    assert_memory_equal(r.writes[1].key, "who", 3);
    assert_int_equal(r.writes[1].value.type, LL_VM_STR);
    assert_int_equal(r.writes[1].value.len, 32);
    assert_memory_equal(r.writes[1].value.s, SENDER, 32);
    assert_int_equal(json_array_size(r.logs), 1);
    char *logs = json_dumps(r.logs, JSON_COMPACT);
    assert_string_equal(logs, "[{\"name\":\"inc\",\"value\":5}]");
    free(logs);
    store_apply(&st, &r);
    ll_vm_result_free(&r);

    call_ok(COUNTER, 2, "[7]", &st, &r);
    assert_int_equal(word_value(&r), 12);
    store_apply(&st, &r);
    ll_vm_result_free(&r);

    call_ok(COUNTER, 1, "[]", &st, &r);
    assert_int_equal(word_value(&r), 12);
    assert_int_equal(r.nwrites, 0);
    ll_vm_result_free(&r);
}

static void test_vm_storage_reads_own_writes_and_nil_deletes(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function()\n"
                               "  local before = storage.get('k')\n"
                               "  storage.set('k', 'fresh')\n"
                               "  local mid = storage.get('k')\n"
                               "  storage.set('k', nil)\n"
                               "  local after = storage.get('k')\n"
                               "  return tostring(before) .. ',' .. mid .. ',' .. tostring(after)\n"
                               "end }";
    store_t st = {.n = 1};
    ll_vm_result_t r;
    memcpy(st.e[0].key, "k", 1);
    st.e[0].klen = 1;
    st.e[0].v = (ll_vm_value_t){.type = LL_VM_STR, .len = 3};
    memcpy(st.e[0].sval, "old", 3);
    call_ok(code, 1, NULL, &st, &r);
    assert_string_equal(ret_str(&r), "old,fresh,nil");
    assert_int_equal(st.reads, 1); /* later gets are served from the run's writes */
    assert_int_equal(r.nwrites, 1);
    assert_int_equal(r.writes[0].value.type, LL_VM_NIL);
    store_apply(&st, &r);
    assert_int_equal(st.n, 0);
    ll_vm_result_free(&r);
}

static void test_vm_storage_refuses_bad_types(void **state)
{
    (void)state;
    expect_failure("return { [1] = function() storage.set(1, 'x') end }", 100000,
                   "string expected");
    expect_failure("return { [1] = function() storage.set('k', 1.5) end }", 100000,
                   "string, integer or nil expected");
    expect_failure("return { [1] = function() storage.set('k', {}) end }", 100000,
                   "string, integer or nil expected");
    expect_failure("return { [1] = function() return storage.get(nil) end }", 100000,
                   "string expected");
}

static void test_vm_storage_and_emit_only_inside_a_call(void **state)
{
    (void)state;
    static const char *const codes[] = {
        "storage.get('x') return {}",
        "storage.set('x', 1) return {}",
        "emit('x', 1) return {}",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ll_vm_result_t r;
        assert_int_equal(ll_vm_deploy(codes[i], strlen(codes[i]), 100000, &r), 0);
        assert_false(r.success);
        assert_non_null(strstr(r.error, "only available inside a call"));
        ll_vm_result_free(&r);
    }
    /* the chunk runs again at the top of every call: same rule there */
    expect_failure("local x = storage.get('x') return { [1] = function() end }", 100000,
                   "only available inside a call");
}

static void test_vm_storage_callback_error_aborts_run(void **state)
{
    (void)state;
    store_t st = {.fail = LL_ESTORE};
    ll_vm_result_t r;
    /* pcall cannot hide a node failure either */
    static const char code[] = "return { [1] = function()\n"
                               "  pcall(storage.get, 'k')\n"
                               "  storage.set('a', 1)\n"
                               "  return 1\n"
                               "end }";
    assert_int_equal(call_full(code, 1, NULL, &st, 100000, &r), LL_ESTORE);
    assert_false(r.success);
    assert_int_equal(r.nwrites, 0);
    ll_vm_result_free(&r);
}

static void test_vm_call_passes_ctx_and_typed_args(void **state)
{
    (void)state;
    static const char code[] =
        "return { [3] = function(ctx, a, b, c, d)\n"
        "  return table.concat({ctx.sender, ctx.contract, ctx.amount, ctx.height,\n"
        "    math.type(a), type(b), c, math.type(d), d}, '|')\n"
        "end }";
    ll_vm_result_t r;
    call_ok(code, 3, "[1, \"two\", \"\", -9223372036854775808]", NULL, &r);
    assert_string_equal(ret_str(&r), "0123456789abcdef0123456789abcdef|"
                                     "00112233445566778899aabbccddeeff00112233|250|42|"
                                     "integer|string||integer|-9223372036854775808");
    ll_vm_result_free(&r);
}

static void test_vm_call_refuses_bad_args(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function(ctx, ...) return select('#', ...) end }";
    static const char *const bad[] = {"[1.5]", "[true]", "[null]", "[{}]", "[[1]]", "{}"};
    ll_vm_result_t r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(call_full(code, 1, bad[i], NULL, 100000, &r), 0);
        assert_false(r.success);
        assert_string_equal(r.error, "bad argument");
        ll_vm_result_free(&r);
    }
    assert_int_equal(
        call_full(code, 1, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]", NULL, 100000, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "too many arguments");
    ll_vm_result_free(&r);

    call_ok(code, 1, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]", NULL, &r);
    assert_int_equal(word_value(&r), 16);
    ll_vm_result_free(&r);
}

static void test_vm_call_unknown_selector_fails(void **state)
{
    (void)state;
    ll_vm_result_t r;
    assert_int_equal(call_full(COUNTER, 99, "[]", NULL, 100000, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "unknown selector 99");
    ll_vm_result_free(&r);
    assert_int_equal(call_full(COUNTER, -1, "[]", NULL, 100000, &r), 0);
    assert_string_equal(r.error, "unknown selector -1");
    ll_vm_result_free(&r);
}

static void test_vm_errors_carry_message_or_error(void **state)
{
    (void)state;
    ll_vm_result_t r;
    assert_int_equal(
        call_full("return { [1] = function()\n error('boom')\n end }", 1, NULL, NULL, 100000, &r),
        0);
    assert_string_equal(r.error, "contract:2: boom");
    ll_vm_result_free(&r);
    assert_int_equal(
        call_full("return { [1] = function() error('plain', 0) end }", 1, NULL, NULL, 100000, &r),
        0);
    assert_string_equal(r.error, "plain");
    ll_vm_result_free(&r);
    assert_int_equal(
        call_full("return { [1] = function() error({code = 1}) end }", 1, NULL, NULL, 100000, &r),
        0);
    assert_string_equal(r.error, "error");
    ll_vm_result_free(&r);
    assert_int_equal(
        call_full("return { [1] = function() error(42) end }", 1, NULL, NULL, 100000, &r), 0);
    assert_string_equal(r.error, "error");
    ll_vm_result_free(&r);
    assert_int_equal(call_full("return { [1] = function() local x = nil; return x.y end }", 1, NULL,
                               NULL, 100000, &r),
                     0);
    assert_non_null(strstr(r.error, "attempt to index a nil value"));
    ll_vm_result_free(&r);
    /* invalid UTF-8 and NUL become U+FFFD; the text is capped */
    assert_int_equal(call_full("return { [1] = function() error('a\\255\\0b', 0) end }", 1, NULL,
                               NULL, 100000, &r),
                     0);
    assert_string_equal(r.error, "a\xef\xbf\xbd\xef\xbf\xbd"
                                 "b");
    ll_vm_result_free(&r);
    assert_int_equal(call_full("return { [1] = function() error(string.rep('x', 5000), 0) end }", 1,
                               NULL, NULL, 100000, &r),
                     0);
    assert_int_equal(strlen(r.error), LL_VM_MAX_ERROR);
    ll_vm_result_free(&r);
    /* pcall of error is an ordinary value */
    expect_text("return { [1] = function()\n"
                "  local ok, e = pcall(error, {code = 7})\n"
                "  local ok2, e2 = pcall(error, 'm')\n"
                "  return tostring(ok) .. e.code .. tostring(ok2) .. e2\n"
                "end }",
                "false7falsem");
}

/* ---- return encoding ----------------------------------------------------------- */

static const char RETURNS[] = "return {\n"
                              " [1] = function() return 0 end,\n"
                              " [2] = function() return 1 end,\n"
                              " [3] = function() return -1 end,\n"
                              " [4] = function() return math.mininteger end,\n"
                              " [5] = function() return 'abc' end,\n"
                              " [6] = function() return true end,\n"
                              " [7] = function() return false end,\n"
                              " [8] = function() return nil end,\n"
                              " [9] = function() end,\n"
                              " [10] = function() return 1.5 end,\n"
                              " [11] = function() return {} end,\n"
                              " [12] = function() return function() end end,\n"
                              " [13] = function() return string.rep('x', 4097) end,\n"
                              " [14] = function() return string.rep('x', 4096) end,\n"
                              " [15] = function() return 7, 'ignored' end,\n"
                              " [16] = function() return 2^53 end,\n"
                              " [17] = function() return '' end,\n"
                              "}";

static void expect_hex(int64_t selector, const char *hex)
{
    ll_vm_result_t r;
    char *got;
    call_ok(RETURNS, selector, NULL, NULL, &r);
    got = ll_vm_return_hex(&r);
    assert_non_null(got);
    assert_string_equal(got, hex);
    free(got);
    ll_vm_result_free(&r);
}

static void expect_return_fails(int64_t selector, const char *error)
{
    ll_vm_result_t r;
    assert_int_equal(call_full(RETURNS, selector, NULL, NULL, 1000000, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, error);
    assert_null(r.return_data);
    ll_vm_result_free(&r);
}

static void test_vm_return_values_encode_per_api(void **state)
{
    (void)state;
    char zeros[65], ones[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    memset(ones, 'f', 64);
    ones[64] = '\0';
    expect_hex(1, zeros);
    expect_hex(2, "0000000000000000000000000000000000000000000000000000000000000001");
    expect_hex(3, ones);
    expect_hex(4, "ffffffffffffffffffffffffffffffffffffffffffffffff8000000000000000");
    expect_hex(5, "616263");
    expect_hex(6, "0000000000000000000000000000000000000000000000000000000000000001");
    expect_hex(7, zeros);
    expect_hex(8, "");
    expect_hex(9, "");
    expect_hex(15, "0000000000000000000000000000000000000000000000000000000000000007");
    expect_hex(17, "");
    expect_return_fails(10, "unsupported return type");
    expect_return_fails(11, "unsupported return type");
    expect_return_fails(12, "unsupported return type");
    expect_return_fails(13, "return data too large");
    expect_return_fails(16, "unsupported return type");

    ll_vm_result_t r;
    call_ok(RETURNS, 14, NULL, NULL, &r);
    assert_int_equal(r.return_len, LL_VM_MAX_RETURN);
    ll_vm_result_free(&r);
}

/* ---- logs ------------------------------------------------------------------------ */

static void test_vm_logs_capped_at_64(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function(ctx, n)\n"
                               "  for i = 1, n do emit('e', i) end\n"
                               "end }";
    ll_vm_result_t r;
    call_ok(code, 1, "[64]", NULL, &r);
    assert_int_equal(json_array_size(r.logs), LL_VM_MAX_LOGS);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r.logs, 63), "value")), 64);
    ll_vm_result_free(&r);
    assert_int_equal(call_full(code, 1, "[65]", NULL, 1000000, &r), 0);
    assert_false(r.success);
    assert_non_null(strstr(r.error, "too many logs"));
    assert_int_equal(json_array_size(r.logs), 0);
    ll_vm_result_free(&r);
}

static void test_vm_emit_checks_types_and_size(void **state)
{
    (void)state;
    ll_vm_result_t r;
    char *s;
    call_ok("return { [1] = function()\n"
            "  emit('transfer', 'to:' .. 'bob')\n"
            "  emit('amount', -3)\n"
            "  emit('big', string.rep('x', 1024 - 3))\n"
            "end }",
            1, NULL, NULL, &r);
    assert_int_equal(json_array_size(r.logs), 3);
    s = json_dumps(json_array_get(r.logs, 0), JSON_COMPACT);
    assert_string_equal(s, "{\"name\":\"transfer\",\"value\":\"to:bob\"}");
    free(s);
    s = json_dumps(json_array_get(r.logs, 1), JSON_COMPACT);
    assert_string_equal(s, "{\"name\":\"amount\",\"value\":-3}");
    free(s);
    ll_vm_result_free(&r);
    expect_failure("return { [1] = function() emit('big', string.rep('x', 1024 - 2)) end }", 100000,
                   "log too large");
    expect_failure("return { [1] = function() emit('x', 1.5) end }", 100000,
                   "string or integer expected");
    expect_failure("return { [1] = function() emit(1, 'x') end }", 100000, "string expected");
    expect_failure("return { [1] = function() emit('x', '\\255') end }", 100000, "UTF-8");
}

static void test_vm_failure_discards_writes_and_logs(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function()\n"
                               "  storage.set('a', '1')\n"
                               "  emit('x', 'y')\n"
                               "  error('nope')\n"
                               "end,\n"
                               "[2] = function()\n"
                               "  storage.set('a', '1')\n"
                               "  emit('x', 'y')\n"
                               "  return 1.5\n"
                               "end }";
    store_t st = {0};
    ll_vm_result_t r;
    assert_int_equal(call_full(code, 1, NULL, &st, 100000, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "contract:4: nope");
    assert_int_equal(r.nwrites, 0);
    assert_null(r.writes);
    assert_int_equal(json_array_size(r.logs), 0);
    assert_true(r.gas_used > LL_VM_GAS_STORAGE_SET + LL_VM_GAS_EMIT);
    ll_vm_result_free(&r);
    assert_int_equal(call_full(code, 2, NULL, &st, 100000, &r), 0);
    assert_false(r.success);
    assert_int_equal(r.nwrites, 0);
    assert_int_equal(json_array_size(r.logs), 0);
    ll_vm_result_free(&r);
}

static void test_vm_result_free_and_hex_handle_empty(void **state)
{
    (void)state;
    ll_vm_result_t r = {0};
    char *hex = ll_vm_return_hex(&r);
    assert_string_equal(hex, "");
    free(hex);
    ll_vm_result_free(&r);
    ll_vm_result_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_deploy_accepts_table_of_functions),
        cmocka_unit_test(test_vm_deploy_reports_lua_syntax_error),
        cmocka_unit_test(test_vm_deploy_refuses_other_shapes),
        cmocka_unit_test(test_vm_deploy_refuses_binary_chunk),
        cmocka_unit_test(test_vm_deploy_fails_on_runtime_error_and_limits),
        cmocka_unit_test(test_vm_counter_keeps_storage_across_calls),
        cmocka_unit_test(test_vm_storage_reads_own_writes_and_nil_deletes),
        cmocka_unit_test(test_vm_storage_refuses_bad_types),
        cmocka_unit_test(test_vm_storage_and_emit_only_inside_a_call),
        cmocka_unit_test(test_vm_storage_callback_error_aborts_run),
        cmocka_unit_test(test_vm_call_passes_ctx_and_typed_args),
        cmocka_unit_test(test_vm_call_refuses_bad_args),
        cmocka_unit_test(test_vm_call_unknown_selector_fails),
        cmocka_unit_test(test_vm_errors_carry_message_or_error),
        cmocka_unit_test(test_vm_return_values_encode_per_api),
        cmocka_unit_test(test_vm_logs_capped_at_64),
        cmocka_unit_test(test_vm_emit_checks_types_and_size),
        cmocka_unit_test(test_vm_failure_discards_writes_and_logs),
        cmocka_unit_test(test_vm_result_free_and_hex_handle_empty),
    };
    return cmocka_run_group_tests_name("vm", tests, NULL, NULL);
}
