/* tests/unit/test_vm_sandbox.c: the contract sandbox through vm.h: exact
 * gas, the memory cap, every way a contract can try to run away (loops,
 * memory, recursion, pattern and string bombs) ending in a clean failed
 * result, the allowlist of globals, deterministic pairs, hash seeds and
 * printed values, and the string and table libraries. A run and the result
 * checks are in vm_harness.h; deploy, calls, storage, return encoding and
 * logs are in test_vm.c. */
#include "vm/vm.h"

#include "vm_harness.h"

#include <time.h>

/* Monotonic seconds, for the tests that bound how long a runaway may take. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- gas ------------------------------------------------------------------------- */

/* Measured once with the count hook (luac5.4 is not installed); every run
 * must give the same numbers. The chunk `return { [1] = function ... end }`
 * is NEWTABLE, CLOSURE, SETI, RETURN: 4 (VARARGPREP is not hooked; NEWTABLE
 * consumes its EXTRAARG), and the table and the closure are new objects:
 * GAS_CHUNK. `return 1` is LOADI, RETURN1: 2. The loop is 4 LOADI +
 * FORPREP, then ADD (which skips its MMBIN) + FORLOOP 10 times, then
 * RETURN1: 26. storage.set('k', 'vv') is GETTABUP, GETFIELD, LOADK, LOADK,
 * CALL (of a library function), RETURN0. */
#define GAS_CHUNK (4 + 2 * LL_VM_GAS_OBJECT)
/* Compiling the source comes first: LL_VM_GAS_CODE_BYTE per byte. */
#define LOAD(code) (LL_VM_GAS_CODE_BYTE * (sizeof(code) - 1))
#define GAS_LOOP (GAS_CHUNK + 26)
#define GAS_STORE_INSTR (GAS_CHUNK + 6 + LL_VM_GAS_CCALL)
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
        assert_int_equal(r.gas_used, LOAD(tiny) + GAS_CHUNK);
        ll_vm_result_free(&r);

        call_ok(tiny, 1, "[]", NULL, &r);
        assert_int_equal(r.gas_used, LOAD(tiny) + GAS_CHUNK + 2);
        ll_vm_result_free(&r);

        call_ok(loop, 1, "[]", NULL, &r);
        assert_int_equal(word_value(&r), 55);
        assert_int_equal(r.gas_used, LOAD(loop) + GAS_LOOP);
        ll_vm_result_free(&r);

        /* storage.set: LL_VM_GAS_STORAGE_SET + LL_VM_GAS_STORAGE_BYTE per byte
         * of key and value */
        call_ok(store, 1, "[]", NULL, &r);
        assert_int_equal(r.gas_used, LOAD(store) + GAS_STORE_INSTR + LL_VM_GAS_STORAGE_SET +
                                         3 * LL_VM_GAS_STORAGE_BYTE);
        ll_vm_result_free(&r);
    }
}

static void test_vm_gas_limit_exactly_enough_succeeds(void **state)
{
    (void)state;
    static const char tiny[] = "return { [1] = function(ctx) return 1 end }";
    ll_vm_result_t r;
    assert_int_equal(call_full(tiny, 1, NULL, NULL, LOAD(tiny) + GAS_CHUNK + 2, &r), 0);
    assert_true(r.success);
    assert_int_equal(r.gas_used, LOAD(tiny) + GAS_CHUNK + 2);
    ll_vm_result_free(&r);
    assert_int_equal(call_full(tiny, 1, NULL, NULL, LOAD(tiny) + GAS_CHUNK + 1, &r), 0);
    assert_false(r.success);
    assert_string_equal(r.error, "out of gas");
    assert_int_equal(r.gas_used, LOAD(tiny) + GAS_CHUNK + 1);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests_name("vm/sandbox", tests, NULL, NULL);
}
