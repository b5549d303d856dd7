/* tests/unit/test_vm.c: contracts through vm.h: deploy and call results,
 * exact gas, the sandbox's allowlist, deterministic pairs, return
 * encodings, storage and logs, and every way a contract can try to run away
 * (loops, memory, recursion, pattern and string bombs) ending in a clean
 * failed result. */
#include "util/err.h"
#include "vm/vm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------------ */

/* A contract's committed storage, as the ledger would keep it. */
typedef struct kv {
    char key[64];
    size_t klen;
    ll_vm_value_t v;
    char sval[512];
} kv_t;

typedef struct store {
    kv_t e[64];
    size_t n;
    int fail;  /* storage_get answers this error when non-zero */
    int reads; /* storage_get calls */
} store_t;

static kv_t *store_find(store_t *st, const char *key, size_t klen)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->e[i].klen == klen && memcmp(st->e[i].key, key, klen) == 0)
            return &st->e[i];
    return NULL;
}

static int store_get(void *arg, const char *key, size_t klen, ll_vm_value_t *out)
{
    store_t *st = arg;
    kv_t *e;
    st->reads++;
    if (st->fail)
        return st->fail;
    e = store_find(st, key, klen);
    *out = e ? e->v : (ll_vm_value_t){.type = LL_VM_NIL};
    if (e && e->v.type == LL_VM_STR)
        out->s = e->sval;
    return 0;
}

/* Applies a successful result's writes in order (LL_VM_NIL deletes). */
static void store_apply(store_t *st, const ll_vm_result_t *r)
{
    for (size_t i = 0; i < r->nwrites; i++) {
        const ll_vm_write_t *w = &r->writes[i];
        kv_t *e = store_find(st, w->key, w->key_len);
        if (w->value.type == LL_VM_NIL) {
            if (e)
                *e = st->e[--st->n];
            continue;
        }
        if (!e) {
            assert_true(st->n < 64 && w->key_len < sizeof e->key);
            e = &st->e[st->n++];
            memcpy(e->key, w->key, w->key_len);
            e->klen = w->key_len;
        }
        e->v = w->value;
        if (w->value.type == LL_VM_STR) {
            assert_true(w->value.len < sizeof e->sval);
            memcpy(e->sval, w->value.s, w->value.len);
            e->v.s = NULL;
        }
    }
}

static const char SENDER[] = "0123456789abcdef0123456789abcdef";
static const char CONTRACT[] = "00112233445566778899aabbccddeeff00112233";

/* Runs selector of code with args (JSON text, NULL for none) against st
 * (may be NULL). Returns ll_vm_call's code; the result is in *r. */
static int call_full(const char *code, int64_t selector, const char *args, store_t *st,
                     uint64_t gas, ll_vm_result_t *r)
{
    ll_vm_ctx_t ctx = {SENDER, 250, 42, CONTRACT, st ? store_get : NULL, st};
    json_t *a = args ? json_loads(args, JSON_DECODE_ANY, NULL) : NULL;
    int rc;
    if (args)
        assert_non_null(a);
    rc = ll_vm_call(code, strlen(code), selector, a, &ctx, gas, r);
    json_decref(a);
    return rc;
}

static void call_ok(const char *code, int64_t selector, const char *args, store_t *st,
                    ll_vm_result_t *r)
{
    assert_int_equal(call_full(code, selector, args, st, 1000000, r), 0);
    if (!r->success)
        fail_msg("call failed: %s", r->error ? r->error : "(null)");
}

/* The call's return data as a NUL-terminated string (tests return text). */
static char *ret_str(const ll_vm_result_t *r)
{
    static char buf[8192];
    assert_true(r->return_len < sizeof buf);
    memcpy(buf, r->return_data ? (const char *)r->return_data : "", r->return_len);
    buf[r->return_len] = '\0';
    return buf;
}

/* Calls selector 1 and expects its string return. */
static void expect_text(const char *code, const char *want)
{
    ll_vm_result_t r;
    call_ok(code, 1, NULL, NULL, &r);
    assert_string_equal(ret_str(&r), want);
    ll_vm_result_free(&r);
}

/* Calls selector 1 (gas: limit) and expects a failure whose error contains
 * want; returns the gas used. */
static uint64_t expect_failure(const char *code, uint64_t gas, const char *want)
{
    ll_vm_result_t r;
    uint64_t used;
    assert_int_equal(call_full(code, 1, NULL, NULL, gas, &r), 0);
    assert_false(r.success);
    assert_non_null(r.error);
    if (!strstr(r.error, want))
        fail_msg("error \"%s\" does not contain \"%s\"", r.error, want);
    assert_int_equal(r.nwrites, 0);
    assert_null(r.writes);
    assert_non_null(r.logs);
    assert_int_equal(json_array_size(r.logs), 0);
    assert_null(r.return_data);
    assert_true(r.gas_used <= gas);
    used = r.gas_used;
    ll_vm_result_free(&r);
    return used;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
    assert_int_equal(r.gas_used, 0);
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

static int64_t word_value(const ll_vm_result_t *r)
{
    uint64_t v = 0;
    assert_int_equal(r->return_len, 32);
    for (int i = 24; i < 32; i++)
        v = (v << 8) | r->return_data[i];
    return (int64_t)v;
}

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

/* ---- gas ------------------------------------------------------------------------- */

/* Measured once with the count hook (luac5.4 is not installed); every run
 * must give the same numbers. The chunk `return { [1] = function ... end }`
 * is NEWTABLE, CLOSURE, SETI, RETURN: 4 (VARARGPREP is not hooked; NEWTABLE
 * consumes its EXTRAARG). `return 1` is LOADI, RETURN1: 2. The loop is 4
 * LOADI + FORPREP, then ADD (which skips its MMBIN) + FORLOOP 10 times, then
 * RETURN1: 26. storage.set('k', 'vv') is GETTABUP, GETFIELD, LOADK, LOADK,
 * CALL, RETURN0: 6 instructions. */
#define GAS_LOOP (4 + 26)
#define GAS_STORE_INSTR (4 + 6)
static void test_vm_gas_is_exact_for_small_programs(void **state)
{
    (void)state;
    static const char tiny[] = "return { [1] = function(ctx) return 1 end }";
    static const char loop[] = "return { [1] = function(ctx)\n"
                               "  local s = 0\n"
                               "  for i = 1, 10 do s = s + i end\n"
                               "  return s\n"
                               "end }";
    static const char store[] = "return { [1] = function(ctx) storage.set('k', 'vv') end }";
    for (int round = 0; round < 3; round++) {
        ll_vm_result_t r;
        assert_int_equal(ll_vm_deploy(tiny, strlen(tiny), 1000, &r), 0);
        assert_true(r.success);
        assert_int_equal(r.gas_used, 4);
        ll_vm_result_free(&r);

        call_ok(tiny, 1, "[]", NULL, &r);
        assert_int_equal(r.gas_used, 4 + 2);
        ll_vm_result_free(&r);

        call_ok(loop, 1, "[]", NULL, &r);
        assert_int_equal(word_value(&r), 55);
        assert_int_equal(r.gas_used, GAS_LOOP);
        ll_vm_result_free(&r);

        /* storage.set: LL_VM_GAS_STORAGE_SET + 1 per byte of key and value */
        call_ok(store, 1, "[]", NULL, &r);
        assert_int_equal(r.gas_used, GAS_STORE_INSTR + LL_VM_GAS_STORAGE_SET + 3);
        ll_vm_result_free(&r);
    }
}

static void test_vm_gas_limit_exactly_enough_succeeds(void **state)
{
    (void)state;
    static const char tiny[] = "return { [1] = function(ctx) return 1 end }";
    ll_vm_result_t r;
    assert_int_equal(call_full(tiny, 1, NULL, NULL, 6, &r), 0);
    assert_true(r.success);
    assert_int_equal(r.gas_used, 6);
    ll_vm_result_free(&r);
    assert_int_equal(call_full(tiny, 1, NULL, NULL, 5, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "out of gas");
    assert_int_equal(r.gas_used, 5);
    ll_vm_result_free(&r);
    assert_int_equal(ll_vm_deploy(tiny, strlen(tiny), 0, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "out of gas");
    assert_int_equal(r.gas_used, 0);
    ll_vm_result_free(&r);
}

static void test_vm_infinite_loop_runs_out_of_gas(void **state)
{
    (void)state;
    assert_int_equal(
        expect_failure("return { [1] = function() while true do end end }", 50000, "out of gas"),
        50000);
    assert_int_equal(expect_failure("local function f() return f() end\n"
                                    "return { [1] = function() return f() end }",
                                    50000, "out of gas"),
                     50000);
    ll_vm_result_t r;
    assert_int_equal(ll_vm_deploy("while true do end", 17, 1234, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "out of gas");
    assert_int_equal(r.gas_used, 1234);
    ll_vm_result_free(&r);
}

static void test_vm_pcall_cannot_catch_out_of_gas(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function()\n"
                               "  storage.set('before', 1)\n"
                               "  emit('before', 1)\n"
                               "  for i = 1, 3 do pcall(function() while true do end end) end\n"
                               "  storage.set('after', 1)\n"
                               "  return 1\n"
                               "end }";
    store_t st = {0};
    ll_vm_result_t r;
    assert_int_equal(call_full(code, 1, NULL, &st, 100000, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "out of gas");
    assert_int_equal(r.gas_used, 100000);
    assert_int_equal(r.nwrites, 0);
    assert_int_equal(json_array_size(r.logs), 0);
    ll_vm_result_free(&r);
    /* nor a library function that runs out */
    assert_int_equal(expect_failure("return { [1] = function()\n"
                                    "  local ok = pcall(string.rep, 'x', 1e9)\n"
                                    "  return 1\n"
                                    "end }",
                                    100000, "out of gas"),
                     100000);
}

/* ---- memory -------------------------------------------------------------------- */

static void test_vm_memory_cap_fails_with_out_of_memory(void **state)
{
    (void)state;
    expect_failure("return { [1] = function()\n"
                   "  local t, i = {}, 0\n"
                   "  while true do i = i + 1; t[i] = {} end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of memory");
    expect_failure("return { [1] = function()\n"
                   "  local t = {}\n"
                   "  for i = 1, 1e9 do t[i] = i end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of memory");
    /* doubling a string: long strings cost gas per byte, so this runs out
     * of one or the other, quickly either way */
    ll_vm_result_t r;
    double t0 = now_s();
    assert_int_equal(call_full("return { [1] = function()\n"
                               "  local s = 'x'\n"
                               "  while true do s = s .. s end\n"
                               "end }",
                               1, NULL, NULL, LL_VM_MAX_GAS, &r),
                     0);
    assert_false(r.success);
    assert_true(strcmp(r.error, "out of gas") == 0 || strcmp(r.error, "out of memory") == 0);
    ll_vm_result_free(&r);
    assert_true(now_s() - t0 < 5.0);
}

static void test_vm_pcall_cannot_catch_out_of_memory(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function()\n"
                               "  storage.set('before', 1)\n"
                               "  local ok, e = pcall(function()\n"
                               "    local t, i = {}, 0\n"
                               "    while true do i = i + 1; t[i] = {} end\n"
                               "  end)\n"
                               "  storage.set('after', tostring(e))\n"
                               "  return 1\n"
                               "end }";
    store_t st = {0};
    ll_vm_result_t r;
    assert_int_equal(call_full(code, 1, NULL, &st, LL_VM_MAX_GAS, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "out of memory");
    assert_int_equal(r.nwrites, 0);
    ll_vm_result_free(&r);
}

/* ---- runaways that must end cleanly ---------------------------------------- */

static void test_vm_deep_recursion_fails_cleanly(void **state)
{
    (void)state;
    static const char *const codes[] = {
        "local function f(n) return 1 + f(n + 1) end\n"
        "return { [1] = function() return f(1) end }",
        "local function f() return pcall(f) end\n"
        "return { [1] = function() f() error('x') end }",
        "local function g() return (string.gsub('a', 'a', g)) end\n"
        "return { [1] = function() return g() end }",
        "local function s() local t = {2, 1} table.sort(t, function(a, b) s() return a < b end) "
        "end\n"
        "return { [1] = function() s() end }",
        "local function c() return table.concat({c()}) end\n"
        "return { [1] = function() return c() end }",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ll_vm_result_t r;
        assert_int_equal(call_full(codes[i], 1, NULL, NULL, LL_VM_MAX_GAS, &r), 0);
        assert_false(r.success);
        assert_non_null(r.error);
        ll_vm_result_free(&r);
    }
    /* deeply nested source is a syntax error, not a crash */
    char *src = malloc(20000 + 64);
    assert_non_null(src);
    strcpy(src, "return ");
    for (int i = 0; i < 10000; i++)
        strcat(src + 7 + i, "(");
    ll_vm_result_t r;
    assert_int_equal(ll_vm_deploy(src, strlen(src), 1000, &r), 0);
    assert_false(r.success);
    ll_vm_result_free(&r);
    free(src);
}

static void test_vm_string_rep_huge_fails_quickly(void **state)
{
    (void)state;
    double t0 = now_s();
    assert_int_equal(expect_failure("return { [1] = function() return string.rep('x', 1e9) end }",
                                    LL_VM_MAX_GAS, "out of gas"),
                     LL_VM_MAX_GAS);
    expect_failure("return { [1] = function() return ('ab'):rep(math.maxinteger, ',') end }",
                   LL_VM_MAX_GAS, "out of gas");
    expect_text("return { [1] = function() return string.rep('', math.maxinteger) .. 'ok' end }",
                "ok");
    assert_true(now_s() - t0 < 2.0);
}

static void test_vm_pattern_and_concat_bombs_are_metered(void **state)
{
    (void)state;
    double t0 = now_s();
    /* backtracking: exponential in the number of a* for one call */
    expect_failure("return { [1] = function()\n"
                   "  return string.find(string.rep('a', 40), string.rep('a*', 20) .. 'b')\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of gas");
    expect_failure(
        "return { [1] = function()\n"
        "  return string.find(string.rep('a', 1e5), string.rep('a', 1e3) .. 'b', 1, true)\n"
        "end }",
        LL_VM_MAX_GAS, "out of gas");
    expect_failure("return { [1] = function()\n"
                   "  local s = string.rep('x', 1e6)\n"
                   "  while true do local t = s .. 'y' end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of gas");
    expect_failure("return { [1] = function()\n"
                   "  local s = string.rep('(', 1e5)\n"
                   "  while true do s:find('%b()') end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of gas");
    expect_failure("return { [1] = function()\n"
                   "  local t = {} for i = 1, 1e4 do t[i] = 'x' end\n"
                   "  while true do table.concat(t) end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of gas");
    expect_failure("return { [1] = function()\n"
                   "  local t = {} for i = 1, 1e4 do t[i] = i end\n"
                   "  while true do table.insert(t, 1, 0) table.remove(t, 1) end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of gas");
    expect_failure("return { [1] = function()\n"
                   "  local n = string.rep(' ', 1e5) .. '1'\n"
                   "  while true do local x = math.abs(n) end\n"
                   "end }",
                   LL_VM_MAX_GAS, "out of gas");
    assert_true(now_s() - t0 < 10.0);
}

/* ---- the sandbox ------------------------------------------------------------- */

static void test_vm_forbidden_globals_are_nil(void **state)
{
    (void)state;
    static const char code[] =
        "local names = {'io', 'os', 'require', 'package', 'load', 'loadstring', 'dofile',\n"
        "  'loadfile', 'debug', 'collectgarbage', 'rawget', 'rawset', 'rawequal', 'rawlen',\n"
        "  'getmetatable', 'setmetatable', 'next', 'coroutine', 'print', 'xpcall', 'utf8',\n"
        "  '_G', '_VERSION', 'warn', 'module', 'unpack', 'newproxy', 'gcinfo', 'setfenv',\n"
        "  'getfenv', 'jit', 'bit32'}\n"
        "local found = {}\n"
        "local function check(where, v) if v ~= nil then found[#found + 1] = where end end\n"
        "for _, n in ipairs(names) do check(n, _ENV[n]) end\n"
        "return { [1] = function()\n"
        "  for _, n in ipairs(names) do check(n, _ENV[n]) end\n"
        "  check('string.dump', string.dump)\n"
        "  check('(\"\").dump', ('').dump)\n"
        "  check('math.random', math.random)\n"
        "  check('math.randomseed', math.randomseed)\n"
        "  check('math.pow', math.pow)\n"
        "  check('math.ldexp', math.ldexp)\n"
        "  check('table.getn', table.getn)\n"
        "  return 'found:' .. table.concat(found, ',')\n"
        "end }";
    expect_text(code, "found:");
    /* and what is promised is there */
    expect_text("return { [1] = function()\n"
                "  local need = {assert, error, ipairs, pairs, pcall, select, tonumber, tostring,\n"
                "    type, storage.get, storage.set, emit, string.format, string.gsub,\n"
                "    table.concat, table.sort, table.insert, math.floor, math.max, ('').rep}\n"
                "  return #need == 20 and 'ok' or 'missing'\n"
                "end }",
                "ok");
}

static void test_vm_pairs_visits_keys_sorted(void **state)
{
    (void)state;
    static const char code[] =
        "return { [1] = function()\n"
        "  local t = {b = 1, a = 2, [3] = 1, [1] = 1, [-5] = 1, [2.5] = 1, ['10'] = 1,\n"
        "    [''] = 1, [math.huge] = 1, [-math.huge] = 1, ab = 1, [1e300] = 1,\n"
        "    [math.mininteger] = 1, [math.maxinteger] = 1, ['\\0'] = 1, ['\\255'] = 1}\n"
        "  t.gone = 1; t.gone = nil\n"
        "  local out = {}\n"
        "  for k, v in pairs(t) do out[#out + 1] = string.format('%q', k) end\n"
        "  return table.concat(out, '|')\n"
        "end }";
    expect_text(code, "-1e9999|0x8000000000000000|-5|1|0x1.4p+1|3|9223372036854775807|"
                      "0x1.7e43c8800759cp+996|1e9999|\"\"|\"\\0\"|\"10\"|\"a\"|\"ab\"|"
                      "\"b\"|\"\xff\"");
    /* removing keys while walking is fine; they are skipped */
    expect_text("return { [1] = function()\n"
                "  local t = {x = 1, y = 2, z = 3}\n"
                "  local out = ''\n"
                "  for k in pairs(t) do out = out .. k; t.y = nil end\n"
                "  return out\n"
                "end }",
                "xz");
    expect_failure("return { [1] = function() for k in pairs({[true] = 1}) do end end }", 100000,
                   "keys must be numbers or strings");
    expect_failure("return { [1] = function() for k in pairs({[{}] = 1}) do end end }", 100000,
                   "keys must be numbers or strings");
}

/* Tables whose string keys collide differently under each state's hash
 * seed must still give the same result and the same gas every time. */
static void test_vm_results_do_not_depend_on_hash_seed(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function()\n"
                               "  local t = {}\n"
                               "  for i = 1, 500 do t['k' .. i] = i end\n"
                               "  for i = 1, 500, 2 do t['k' .. i] = nil end\n"
                               "  for i = 501, 700 do t['k' .. i] = i end\n"
                               "  local acc = {}\n"
                               "  for k, v in pairs(t) do acc[#acc + 1] = k end\n"
                               "  return table.concat(acc, ',')\n"
                               "end }";
    ll_vm_result_t first;
    call_ok(code, 1, NULL, NULL, &first);
    for (int i = 0; i < 10; i++) {
        ll_vm_result_t r;
        call_ok(code, 1, NULL, NULL, &r);
        assert_int_equal(r.gas_used, first.gas_used);
        assert_int_equal(r.return_len, first.return_len);
        assert_memory_equal(r.return_data, first.return_data, r.return_len);
        ll_vm_result_free(&r);
    }
    ll_vm_result_free(&first);
}

static void test_vm_tostring_and_format_show_no_addresses(void **state)
{
    (void)state;
    expect_text("return { [1] = function()\n"
                "  return tostring({}) .. ' ' .. tostring(print) .. ' ' .. tostring(tostring)\n"
                "    .. ' ' .. string.format('%s %s %5.1f %d %q', {}, nil, 1.25, 3, 'a\\n')\n"
                "end }",
                "table nil function table nil   1.2 3 \"a\\\n\"");
    expect_failure("return { [1] = function() return string.format('%p', {}) end }", 100000,
                   "invalid conversion '%p'");
    expect_failure("return { [1] = function() return string.format('%-5p', 'x') end }", 100000,
                   "invalid conversion '%p'");
    expect_text("return { [1] = function() return string.format('100%%p') end }", "100%p");
}

static void test_vm_string_library_behaves_like_lua(void **state)
{
    (void)state;
    expect_text(
        "return { [1] = function()\n"
        "  local out = {}\n"
        "  local function add(...) for i = 1, select('#', ...) do\n"
        "    out[#out + 1] = tostring((select(i, ...))) end end\n"
        "  add(string.find('hello world', 'o w'))\n"
        "  add(string.find('hello world', '(l+)(o)'))\n"
        "  add(('key=val'):match('(%w+)=(%w+)'))\n"
        "  add(string.gsub('hello world', 'o', '0'))\n"
        "  add(string.gsub('abc', '%w', '%0%0'))\n"
        "  add(string.gsub('$x $y', '%$(%w+)', {x = 'X'}))\n"
        "  add(string.gsub('a b', '%w', function(c) return c:upper() end))\n"
        "  for a, b in string.gmatch('k1=v1, k2=v2', '(%w+)=(%w+)') do add(a, b) end\n"
        "  add(string.find('THE (quick) fox', '%((%a+)%)'))\n"
        "  add(string.match('  x', '()x'))\n"
        "  add(string.find('a.b', '.', 1, true))\n"
        "  add(string.match('[[x]]', '%b[]'))\n"
        "  add(string.find('THE END', '%f[%a]%a+', 2))\n"
        "  add(('x'):rep(3, '-'), ('abc'):sub(-2), ('abc'):byte(1, -1))\n"
        "  add(string.char(72, 105), ('MiXeD'):lower(), ('abc'):reverse(), #'abc')\n"
        "  add(string.unpack('<i4', string.pack('<i4', 258)))\n"
        "  add(tonumber('0x10'), tonumber('10', 2), tonumber('z', 36), tonumber('nope'))\n"
        "  add('10' + 1, math.max(3, 9, 2), math.floor(2.5), math.type(1), 7 // 2)\n"
        "  return table.concat(out, ' ')\n"
        "end }",
        "5 7 3 5 ll o key val hell0 w0rld 2 aabbcc 3 X $y 2 A B 2 k1 v1 k2 v2 5 11 quick 3 2 2 "
        "[[x]] 5 7 x-x-x bc 97 98 99 Hi mixed cba 3 258 5 16 2 35 nil 11 9 2 integer 3");
    expect_failure("return { [1] = function() return string.find('x', '[a') end }", 100000,
                   "malformed pattern");
    expect_failure("return { [1] = function() return string.rep() end }", 100000,
                   "bad argument #1 to 'rep'");
}

static void test_vm_table_library_is_deterministic(void **state)
{
    (void)state;
    expect_text(
        "return { [1] = function()\n"
        "  local t = {{k = 2, v = 'a'}, {k = 1, v = 'b'}, {k = 2, v = 'c'}, {k = 1, v = 'd'}}\n"
        "  table.sort(t, function(x, y) return x.k < y.k end)\n"
        "  local s = ''\n"
        "  for _, e in ipairs(t) do s = s .. e.v end\n"
        "  local n = {5, 3, 9, 1, -2}\n"
        "  table.sort(n)\n"
        "  local w = {'pear', 'apple', 'fig', 'apples'}\n"
        "  table.sort(w)\n"
        "  local r = {1, 2, 3}\n"
        "  table.sort(r, function(x, y) return true end)\n"
        "  table.insert(n, 1, 0)\n"
        "  table.insert(n, 100)\n"
        "  local removed = table.remove(n, 2)\n"
        "  local m = table.move({1, 2, 3}, 1, 3, 2, {9})\n"
        "  local p = table.pack(1, nil, 3)\n"
        "  return s .. ' ' .. table.concat(n, ',') .. ' ' .. table.concat(w, ',') .. ' '\n"
        "    .. #r .. ' ' .. removed .. ' ' .. table.concat(m, ',') .. ' ' .. p.n .. ' '\n"
        "    .. select('#', table.unpack({1, 2, 3}))\n"
        "end }",
        "bdac 0,1,3,5,9,100 apple,apples,fig,pear 3 -2 9,1,2,3 3 3");
    expect_failure("return { [1] = function() table.sort({1, 'x', 2}) end }", 100000,
                   "attempt to compare");
    expect_failure("return { [1] = function() return table.concat({1, {}, 3}) end }", 100000,
                   "invalid value (at index 2) in table for 'concat'");
    expect_failure("return { [1] = function() return table.unpack({}, 1, 1e8) end }", 100000,
                   "out of gas");
    expect_failure("return { [1] = function() return table.move({}, 1, math.maxinteger, 2) end }",
                   100000, "out of gas");
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
        cmocka_unit_test(test_vm_gas_is_exact_for_small_programs),
        cmocka_unit_test(test_vm_gas_limit_exactly_enough_succeeds),
        cmocka_unit_test(test_vm_infinite_loop_runs_out_of_gas),
        cmocka_unit_test(test_vm_pcall_cannot_catch_out_of_gas),
        cmocka_unit_test(test_vm_memory_cap_fails_with_out_of_memory),
        cmocka_unit_test(test_vm_pcall_cannot_catch_out_of_memory),
        cmocka_unit_test(test_vm_deep_recursion_fails_cleanly),
        cmocka_unit_test(test_vm_string_rep_huge_fails_quickly),
        cmocka_unit_test(test_vm_pattern_and_concat_bombs_are_metered),
        cmocka_unit_test(test_vm_forbidden_globals_are_nil),
        cmocka_unit_test(test_vm_pairs_visits_keys_sorted),
        cmocka_unit_test(test_vm_results_do_not_depend_on_hash_seed),
        cmocka_unit_test(test_vm_tostring_and_format_show_no_addresses),
        cmocka_unit_test(test_vm_string_library_behaves_like_lua),
        cmocka_unit_test(test_vm_table_library_is_deterministic),
        cmocka_unit_test(test_vm_logs_capped_at_64),
        cmocka_unit_test(test_vm_emit_checks_types_and_size),
        cmocka_unit_test(test_vm_failure_discards_writes_and_logs),
        cmocka_unit_test(test_vm_result_free_and_hex_handle_empty),
    };
    return cmocka_run_group_tests_name("vm", tests, NULL, NULL);
}
