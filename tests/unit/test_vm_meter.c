/* tests/unit/test_vm_meter.c: what a contract pays for work that one VM
 * instruction or library call does in proportion to its operands (API.md
 * §6.1), so that no run at the maximum gas keeps the node busy for long:
 * long string comparisons and keys, vararg and multiple-value copies,
 * closures over many upvalues, pairs over tables emptied of their keys, the
 * length of tables with holes; the same gas on every run; the canonical
 * text of NaN; interruption; the interpreter self-test. A run and the result
 * checks are in vm_harness.h.
 *
 * Gas is asserted exactly where the schedule fixes it. Where the defect was
 * time (the gas was always bounded), a run of the attack at 2,000,000 gas
 * must end within a deadline 20 to 100 times what it takes (it took minutes
 * before the charges existed); nothing else here depends on time. */
#include "vm/vm.h"

#include "vm_harness.h"

#include <time.h>

#define ATTACK_GAS 2000000
#define DEADLINE_S 5.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The gas of a successful call of selector 1 of code (no arguments). */
/* The gas of a call beyond compiling its source (LL_VM_GAS_CODE_BYTE per
 * byte), so programs of different lengths compare by what they run. */
static uint64_t gas_of(const char *code)
{
    ll_vm_result_t r;
    uint64_t gas;
    call_ok(code, 1, NULL, NULL, &r);
    gas = r.gas_used - LL_VM_GAS_CODE_BYTE * (uint64_t)strlen(code);
    ll_vm_result_free(&r);
    return gas;
}

/* Runs an attack (selector 1 loops until its gas runs out) at ATTACK_GAS:
 * it must fail with "out of gas" or "out of memory" before the deadline,
 * and give the same gas and error on a second run. */
static void expect_bounded(const char *what, const char *code)
{
    ll_vm_result_t r1, r2;
    double t0 = now_s(), dt;
    assert_int_equal(call_full(code, 1, NULL, NULL, ATTACK_GAS, &r1), 0);
    dt = now_s() - t0;
    assert_false(r1.success);
    if (strcmp(r1.error, "out of gas") != 0 && strcmp(r1.error, "out of memory") != 0)
        fail_msg("%s: %s", what, r1.error);
    if (dt > DEADLINE_S)
        fail_msg("%s: %.1f s for %d gas", what, dt, ATTACK_GAS);
    assert_int_equal(call_full(code, 1, NULL, NULL, ATTACK_GAS, &r2), 0);
    assert_int_equal(r2.gas_used, r1.gas_used);
    assert_string_equal(r2.error, r1.error);
    ll_vm_result_free(&r1);
    ll_vm_result_free(&r2);
}

/* ---- the interpreter ------------------------------------------------------------- */

static void test_vm_selftest_passes(void **state)
{
    (void)state;
    assert_int_equal(ll_vm_selftest(), 0);
    assert_int_equal(ll_vm_selftest(), 0); /* once per process, then remembered */
}

/* ---- strings ------------------------------------------------------------------------ */

/* Each pair differs in one instruction: the charged one, and one that
 * touches no string bytes. A 1000-byte operand costs 1000 - 64 (the free
 * allowance). */
static void test_regress_long_string_compare_free(void **state)
{
    (void)state;
    const uint64_t charge = 1000 - LL_VM_GAS_FREE_BYTES;
    static const char lt[] = "return { [1] = function()\n"
                             "  local a = string.rep('a', 1000) local b = a\n"
                             "  local c = a < b return 1 end }";
    static const char eq_same[] = "return { [1] = function()\n"
                                  "  local a = string.rep('a', 1000) local b = a\n"
                                  "  local c = a == b return 1 end }";
    static const char eq_copy[] =
        "return { [1] = function()\n"
        "  local a = string.rep('a', 1000) local b = string.rep('a', 1000)\n"
        "  local c = a == b return 1 end }";
    static const char eq_other_len[] =
        "return { [1] = function()\n"
        "  local a = string.rep('a', 1000) local b = string.rep('a', 999)\n"
        "  local c = a == b return 1 end }";
    static const char le_short[] =
        "return { [1] = function()\n"
        "  local a = string.rep('a', 1000) local b = string.rep('a', 10)\n"
        "  local c = a <= b return 1 end }";
    static const char lt_short[] =
        "return { [1] = function()\n"
        "  local a = string.rep('a', 1000) local b = string.rep('a', 10)\n"
        "  local c = a < b return 1 end }";
    assert_int_equal(gas_of(lt) - gas_of(eq_same), charge);
    /* equal length, distinct objects: memcmp may read them all (the longer
     * string also costs 1 more to build and 1 more to allocate) */
    assert_int_equal(gas_of(eq_copy) - gas_of(eq_other_len), charge + 2);
    /* LT and LE read up to the shorter one */
    assert_int_equal(gas_of(le_short), gas_of(lt_short));

    expect_bounded("a < a, 1 MB", "return { [1] = function()\n"
                                  "  local a = string.rep('a', 1 << 20)\n"
                                  "  while true do local c = a < a end end }");
    expect_bounded("a == b, 1 MB",
                   "return { [1] = function()\n"
                   "  local a, b = string.rep('a', 1 << 20), string.rep('a', 1 << 20)\n"
                   "  while true do local c = a == b end end }");
}

/* EQK, GETTABLE / SETTABLE keys and SELF method names compare long strings
 * byte by byte too. */
static void test_regress_long_string_keys_free(void **state)
{
    (void)state;
    char code[2048];
    char lit[201];
    memset(lit, 'k', 200);
    lit[200] = '\0';
    /* EQK with a 200-byte constant: 200 - 64 */
    snprintf(code, sizeof code,
             "return { [1] = function() local a = string.rep('k', 200) local c = a == '%s' "
             "return 1 end }",
             lit);
    uint64_t eqk = gas_of(code);
    snprintf(code, sizeof code,
             "return { [1] = function() local a = string.rep('k', 199) local c = a == '%s' "
             "return 1 end }",
             lit);
    /* (and string.rep makes 1 byte more) */
    assert_int_equal(eqk - gas_of(code), 200 - LL_VM_GAS_FREE_BYTES + 1);

    /* a 1000-byte key: each lookup or store pays for it */
    uint64_t one = gas_of("return { [1] = function()\n"
                          "  local k = string.rep('k', 1000) local t = {}\n"
                          "  t[k] = 1 return 1 end }");
    uint64_t two = gas_of("return { [1] = function()\n"
                          "  local k = string.rep('k', 1000) local t = {}\n"
                          "  t[k] = 1 local v = t[k] return 1 end }");
    assert_int_equal(two - one, 1 + 1000 - LL_VM_GAS_FREE_BYTES); /* GETTABLE + the key */

    /* SELF with a 200-byte method name */
    snprintf(code, sizeof code,
             "return { [1] = function() local t = {['%s'] = function() end} t:%s() "
             "return 1 end }",
             lit, lit);
    uint64_t self = gas_of(code);
    snprintf(code, sizeof code,
             "return { [1] = function() local t = {['%s'] = function() end} t['%s'](t) "
             "return 1 end }",
             lit, lit);
    /* t['k..'](t): GETFIELD cannot take a long key, so LOADK + GETTABLE +
     * MOVE where SELF is one instruction; both pay for the key */
    assert_int_equal(gas_of(code) - self, 2);

    expect_bounded("t[k], 1 MB key",
                   "return { [1] = function()\n"
                   "  local k1, k2 = string.rep('k', 1 << 20), string.rep('k', 1 << 20)\n"
                   "  local t = {[k1] = 1}\n"
                   "  while true do local v = t[k2] end end }");
}

/* ---- values moved ---------------------------------------------------------------- */

static void test_regress_vararg_copies_free(void **state)
{
    (void)state;
    /* the same function called with 10 and with 1010 arguments: VARARG
     * copies 1000 more, SETLIST stores 1000 more */
    static const char code[] = "local function f(...) local t = {...} return #t end\n"
                               "return { [1] = function(ctx, n)\n"
                               "  local a = {} for i = 1, n do a[i] = i end\n"
                               "  return f(table.unpack(a)) end }";
    ll_vm_result_t r10, r1010;
    call_ok(code, 1, "[10]", NULL, &r10);
    call_ok(code, 1, "[1010]", NULL, &r1010);
    assert_int_equal(word_value(&r1010), 1010);
    /* the loop filling a: 1000 more iterations (and # probes); then VARARG,
     * SETLIST and the CALL that passes the arguments: 3 x 1000 */
    assert_true(r1010.gas_used - r10.gas_used >= 3 * 1000 + 1000 * 3);
    ll_vm_result_free(&r10);
    ll_vm_result_free(&r1010);

    static const char *const attacks[][2] = {
        {"{...} over 100k values", "local function f(...) while true do local t = {...} end end\n"
                                   "return { [1] = function()\n"
                                   "  local a = {} for i = 1, 100000 do a[i] = i end\n"
                                   "  f(table.unpack(a)) end }"},
        {"select('#', ...) over 100k values",
         "local function f(...) while true do local n = select('#', ...) end end\n"
         "return { [1] = function()\n"
         "  local a = {} for i = 1, 100000 do a[i] = i end\n"
         "  f(table.unpack(a)) end }"},
        {"return ... over 100k values", "local function id(...) return ... end\n"
                                        "local function f(...) while true do id(...) end end\n"
                                        "return { [1] = function()\n"
                                        "  local a = {} for i = 1, 100000 do a[i] = i end\n"
                                        "  f(table.unpack(a)) end }"},
        {"assert chain over 250 values",
         "local function f(...) while true do assert(assert(assert(assert(...)))) end end\n"
         "return { [1] = function()\n"
         "  local a = {} for i = 1, 250 do a[i] = i end\n"
         "  f(table.unpack(a)) end }"},
        {"pcall chain over 100k values",
         "local function f(...) while true do pcall(pcall, pcall, pcall, assert, ...) end end\n"
         "return { [1] = function()\n"
         "  local a = {} for i = 1, 100000 do a[i] = i end\n"
         "  f(table.unpack(a)) end }"},
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
        expect_bounded(attacks[i][0], attacks[i][1]);
}

/* ---- closures ------------------------------------------------------------------ */

static void test_regress_closure_upvalue_search_free(void **state)
{
    (void)state;
    char code[8192];
    size_t o = 0;
    o += (size_t)snprintf(code + o, sizeof code - o, "return { [1] = function()\n local ");
    for (int i = 0; i < 190; i++)
        o += (size_t)snprintf(code + o, sizeof code - o, "%sa%d", i ? "," : "", i);
    o += (size_t)snprintf(code + o, sizeof code - o,
                          " = 1\n while true do local f = function() "
                          "return 0");
    for (int i = 189; i >= 0; i--)
        o += (size_t)snprintf(code + o, sizeof code - o, "+a%d", i);
    snprintf(code + o, sizeof code - o, " end end end }");
    expect_bounded("closure over 190 upvalues", code);
}

/* ---- pairs ---------------------------------------------------------------------- */

static void test_regress_pairs_scans_dead_keys(void **state)
{
    (void)state;
    /* pairs over a table emptied of 10,000 keys costs what pairs over an
     * empty one costs, every time */
    static const char emptied[] = "return { [1] = function(ctx, n)\n"
                                  "  local t = {} for i = 1, 10000 do t[i * 7] = i end\n"
                                  "  for i = 1, 10000 do t[i * 7] = nil end\n"
                                  "  for i = 1, n do for k in pairs(t) do end end return 1 end }";
    static const char fresh[] = "return { [1] = function(ctx, n)\n"
                                "  local t = {} for i = 1, 10000 do local x = i * 7 end\n"
                                "  for i = 1, 10000 do local x = i * 7 end local u = {}\n"
                                "  for i = 1, n do for k in pairs(u) do end end return 1 end }";
    ll_vm_result_t a1, a9, b1, b9;
    call_ok(emptied, 1, "[1]", NULL, &a1);
    call_ok(emptied, 1, "[9]", NULL, &a9);
    call_ok(fresh, 1, "[1]", NULL, &b1);
    call_ok(fresh, 1, "[9]", NULL, &b9);
    assert_int_equal(a9.gas_used - a1.gas_used, b9.gas_used - b1.gas_used);
    ll_vm_result_free(&a1);
    ll_vm_result_free(&a9);
    ll_vm_result_free(&b1);
    ll_vm_result_free(&b9);

    expect_bounded("pairs over 100k dead keys",
                   "return { [1] = function()\n"
                   "  local t = {} for i = 1, 100000 do t[i * 7] = i end\n"
                   "  for i = 1, 100000 do t[i * 7] = nil end\n"
                   "  while true do for k in pairs(t) do end end end }");
}

/* pairs remembers a table's keys between calls: what it visits is still
 * exactly the live keys, sorted, once each. */
static void test_vm_pairs_sees_every_change(void **state)
{
    (void)state;
    expect_text("local function keys(t)\n"
                "  local out = {}\n"
                "  for k, v in pairs(t) do out[#out + 1] = tostring(k) .. '=' .. tostring(v) end\n"
                "  return table.concat(out, ',')\n"
                "end\n"
                "return { [1] = function()\n"
                "  local t = {b = 1, a = 2, [3] = 'x'}\n"
                "  local s1 = keys(t)\n"
                "  t.a = nil t.c = 5 t[1] = 'y'\n" /* removed, added */
                "  local s2 = keys(t)\n"
                "  t.a = 7 t.a = nil t.a = 8\n" /* removed and added again, twice */
                "  t.c = nil t.c = 9\n"
                "  local s3 = keys(t)\n"
                "  local s4 = keys(t)\n"                           /* unchanged */
                "  for k in pairs(t) do t[k] = nil t.zz = 1 end\n" /* during a walk */
                "  local s5 = keys(t)\n"
                "  return s1 .. '|' .. s2 .. '|' .. s3 .. '|' .. s4 .. '|' .. s5\n"
                "end }",
                "3=x,a=2,b=1|1=y,3=x,b=1,c=5|1=y,3=x,a=8,b=1,c=9|1=y,3=x,a=8,b=1,c=9|zz=1");
    /* a key of another type is refused, every time, without a second scan */
    expect_failure("return { [1] = function()\n"
                   "  local t = {} t[{}] = 1\n"
                   "  pcall(pairs, t) pairs(t) end }",
                   100000, "pairs: keys must be numbers or strings");
    /* assigning nil or NaN keys to a walked table fails as it always did */
    expect_failure("return { [1] = function() local t = {} pairs(t) t[0/0] = 1 end }", 100000,
                   "contract:1: index is NaN");
    /* what adding a key to a walked table costs */
    uint64_t walked = gas_of("return { [1] = function()\n"
                             "  local t = {} pairs(t) t.a = 1 t.b = 2 return 1 end }");
    uint64_t not_walked = gas_of("return { [1] = function()\n"
                                 "  local t = {} local p = pairs t.a = 1 t.b = 2 return 1 end }");
    /* pairs(t) is a call, its closure and its own charge; the two keys */
    assert_true(walked > not_walked + 2 * LL_VM_GAS_PAIRS_NEWKEY);
}

/* ---- the length of a table ---------------------------------------------------------- */

/* A table with holes has several borders; stock Lua's `#` picks one by the
 * table's layout, which follows the random hash seed. Runs here start with
 * the heap in different states, so their seeds (taken from addresses and
 * the time) differ: the answers must not. */
static void test_regress_length_depends_on_hash_seed(void **state)
{
    (void)state;
    static const char code[] =
        "return { [1] = function()\n"
        "  local u = {}\n"
        "  for i = 1, 1024 do u['k' .. i] = i end\n"
        "  for i = 1, 32 do u[i] = i end\n"
        "  for i = 2, 20 do u[i] = nil end\n"
        "  for i = 1, 1024 do if i % 8 ~= 0 then u['k' .. i] = nil end end\n"
        "  for i = 1, 10 do u['n' .. i] = i end\n"
        "  local n1 = #u\n"
        "  table.insert(u, 'x')\n"
        "  local n2 = #u\n"
        "  local last = table.remove(u)\n"
        "  return n1 .. ',' .. n2 .. ',' .. last .. ',' .. select('#', table.unpack(u))\n"
        "    .. ',' .. table.concat(u, ';')\n"
        "end }";
    ll_vm_result_t first;
    call_ok(code, 1, NULL, NULL, &first);
    /* 1 is a border (u[2] is nil): found by the first probes */
    assert_string_equal(ret_str(&first), "1,2,x,1,1");
    for (int i = 1; i <= 12; i++) {
        void *shift = malloc((size_t)i * 4096); /* another heap layout, another seed */
        ll_vm_result_t r;
        call_ok(code, 1, NULL, NULL, &r);
        assert_int_equal(r.gas_used, first.gas_used);
        assert_string_equal(ret_str(&r), "1,2,x,1,1");
        ll_vm_result_free(&r);
        free(shift);
    }
    ll_vm_result_free(&first);

    /* sequences: the usual answers */
    expect_text("return { [1] = function()\n"
                "  local t = {} for i = 1, 1000 do t[#t + 1] = i end\n"
                "  local e = {}\n"
                "  table.insert(t, 1, 0) table.remove(t, 2)\n"
                "  return #t .. ',' .. #e .. ',' .. t[1] .. ',' .. t[2] .. ',' .. #{n = 1}\n"
                "end }",
                "1000,0,0,2,0");
    /* the table library's errors are Lua's */
    expect_failure("return { [1] = function() table.insert({}, 5, 1) end }", 100000,
                   "bad argument #2 to 'insert' (position out of bounds)");
    expect_failure("return { [1] = function() table.insert({}, 1, 2, 3) end }", 100000,
                   "wrong number of arguments to 'insert'");
    expect_failure("return { [1] = function() table.remove({1}, 5) end }", 100000,
                   "bad argument #2 to 'remove' (position out of bounds)");
    expect_failure("return { [1] = function() return #nil end }", 100000,
                   "attempt to get length of a nil value");

    /* keys at every power of two: the border search is paid per probe */
    expect_bounded("# with a far border",
                   "return { [1] = function()\n"
                   "  local t = {1, 2, 3, 4} for i = 1, 200 do t['s' .. i] = i end\n"
                   "  for i = 1, 200 do t['s' .. i] = nil end t[5] = true\n"
                   "  for k = 3, 62 do t[1 << k] = true end\n"
                   "  while true do local n = #t end end }");
}

/* ---- NaN -------------------------------------------------------------------------- */

/* 0/0 has its sign bit set on x86 and printf writes "-nan" for it; every
 * way a contract turns a number into text must write "nan". */
static void test_regress_nan_text_depends_on_platform(void **state)
{
    (void)state;
    expect_text(
        "return { [1] = function()\n"
        "  local n, m = 0/0, -(0/0)\n"
        "  return table.concat({\n"
        "    tostring(n), tostring(m), n .. '', '' .. m, 1 .. n,\n"
        "    string.format('%f %g %e %a %s %5.1f %.3G', n, m, n, m, n, m, n),\n"
        "    string.len(n), string.rep(n, 2, m), string.upper(m), string.sub(n, 1),\n"
        "    string.byte(m, 1), (string.gsub('x', 'x', n)), (string.gsub('x', 'x', function() "
        "return m end)),\n"
        "    table.concat({n, m}, m), string.format('%q', n), tostring(math.huge), -math.huge .. "
        "''\n"
        "  }, ',')\n"
        "end }",
        "nan,nan,nan,nan,1nan,nan nan nan nan nan   nan NAN,3,nannannan,NAN,nan,110,nan,nan,"
        "nannannan,(0/0),inf,-inf");
}

/* ---- gas is a function of the program ---------------------------------------------- */

/* Every charge above is the same on every run, whatever the hash seed and
 * the heap. */
static void test_vm_charges_are_deterministic(void **state)
{
    (void)state;
    static const char code[] =
        "local function f(...) return select('#', ...), {...} end\n"
        "return { [1] = function()\n"
        "  local t, s = {}, {}\n"
        "  for i = 1, 300 do t['k' .. i] = i * 1.5 s[i * 13] = tostring(i) end\n"
        "  for i = 1, 300, 3 do t['k' .. i] = nil s[i * 13] = nil end\n"
        "  local n = 0\n"
        "  for k, v in pairs(t) do n = n + #k end\n"
        "  for i = 1, 100 do t['z' .. i] = i end\n"
        "  for k, v in pairs(t) do n = n + v end\n"
        "  for k, v in pairs(s) do n = n + #v end\n"
        "  local big = string.rep('q', 5000)\n"
        "  local c = (big < big .. 'x') and (big == string.rep('q', 5000))\n"
        "  local m = f(table.unpack({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "
        "18, 19, 20}))\n"
        "  return n .. ',' .. #s .. ',' .. tostring(c) .. ',' .. m\n"
        "end }";
    ll_vm_result_t first;
    call_ok(code, 1, NULL, NULL, &first);
    for (int i = 1; i <= 8; i++) {
        void *shift = malloc((size_t)i * 4096);
        ll_vm_result_t r;
        call_ok(code, 1, NULL, NULL, &r);
        assert_int_equal(r.gas_used, first.gas_used);
        assert_int_equal(r.return_len, first.return_len);
        assert_memory_equal(r.return_data, first.return_data, r.return_len);
        ll_vm_result_free(&r);
        free(shift);
    }
    ll_vm_result_free(&first);
}

/* Ordinary operations that allocate or print pay the documented amounts. */
static void test_vm_objects_and_text_are_charged(void **state)
{
    (void)state;
    static const char base[] = "return { [1] = function() local x, y = 7, 'a' return 1 end }";
    static const char table[] = "return { [1] = function() local x, y = {}, 'a' return 1 end }";
    static const char concat_int[] =
        "return { [1] = function() local x, y = 7, 'a' local s = y .. x "
        "return 1 end }";
    static const char concat_str[] =
        "return { [1] = function() local x, y = 'b', 'a' local s = y .. x "
        "return 1 end }";
    static const char concat_flt[] =
        "return { [1] = function() local x, y = 7.5, 'a' local s = y .. x "
        "return 1 end }";
    /* NEWTABLE instead of LOADI, and the table */
    assert_int_equal(gas_of(table) - gas_of(base), LL_VM_GAS_OBJECT);
    /* LOADK instead of LOADI either way; the number's text */
    assert_int_equal(gas_of(concat_int) - gas_of(concat_str), LL_VM_GAS_NUMBER_TEXT);
    assert_int_equal(gas_of(concat_flt) - gas_of(concat_str), LL_VM_GAS_FLOAT_TEXT);
    /* a call of a library function: GETTABUP, LOADI, CALL, and the call */
    assert_int_equal(gas_of("return { [1] = function() type(1) type(1) return 1 end }") -
                         gas_of("return { [1] = function() type(1) return 1 end }"),
                     3 + LL_VM_GAS_CCALL);
}

/* ---- memory ------------------------------------------------------------------------- */

/* At the memory cap the run stops at the first allocation that fails: one
 * emergency collection, not one per instruction. */
static void test_vm_memory_cap_abort_is_sticky(void **state)
{
    (void)state;
    expect_bounded(
        "allocation at the memory cap",
        "return { [1] = function()\n"
        "  local keep = {} for i = 1, 130 do keep[i] = string.rep('m', 120000) .. i end\n"
        "  while true do pcall(function() local t = {} for i = 1, 100 do t[i] = {} end end) end\n"
        "end }");
}

/* ---- interruption ------------------------------------------------------------------ */

static int interrupting_get(void *arg, const char *key, size_t klen, ll_vm_value_t *out)
{
    (void)arg;
    (void)key;
    (void)klen;
    ll_vm_interrupt();
    *out = (ll_vm_value_t){.type = LL_VM_NIL};
    return 0;
}

static void test_vm_interrupt_stops_runs(void **state)
{
    (void)state;
    static const char code[] = "return { [1] = function()\n"
                               "  storage.get('k')\n"
                               "  while true do end end }";
    ll_vm_ctx_t ctx = {SENDER, 0, 1, CONTRACT, interrupting_get, NULL};
    ll_vm_result_t r;
    /* the storage read asks every run to stop: this one stops at once, not
     * at the end of its gas, and returns no receipt */
    assert_int_equal(ll_vm_call(code, strlen(code), 1, NULL, &ctx, LL_VM_MAX_GAS, &r),
                     LL_ECANCELED);
    assert_true(r.gas_used < 1000);
    ll_vm_result_free(&r);
    /* and any later run, until cleared */
    assert_int_equal(ll_vm_deploy("return {}", 9, 1000, &r), LL_ECANCELED);
    ll_vm_result_free(&r);
    ll_vm_interrupt_clear();
    assert_int_equal(ll_vm_deploy("return {}", 9, 1000, &r), 0);
    assert_true(r.success);
    ll_vm_result_free(&r);
}

/* Lua hashes integer keys without its seed, so a contract can put every
 * key of a table in one hash chain: each lookup then walks thousands of
 * nodes for 1 gas (docs/API.md §6.1, Time). The time limit stops such a run
 * with no receipt, in a call and in a deploy's chunk; without a limit set,
 * runs are untouched. */
#define ONE_CHAIN                                                                                  \
    "local t = {} local m = 4095 for k = 1, 2049 do t[k * m] = true end\n"                         \
    "while true do local v = t[m] end\n"

static void test_regress_one_hash_chain_outlives_gas_bound(void **state)
{
    (void)state;
    static const char call[] = "return { [1] = function()\n" ONE_CHAIN " end }";
    static const char deploy[] = ONE_CHAIN "return {}";
    ll_vm_result_t r;
    double t0 = now_s();
    ll_vm_set_time_limit(50);
    assert_int_equal(call_full(call, 1, NULL, NULL, LL_VM_MAX_GAS, &r), LL_ETIMELIMIT);
    assert_false(r.success);
    ll_vm_result_free(&r);
    assert_int_equal(ll_vm_deploy(deploy, strlen(deploy), LL_VM_MAX_GAS, &r), LL_ETIMELIMIT);
    ll_vm_result_free(&r);
    if (now_s() - t0 > DEADLINE_S) /* the attack runs ~40 s at this gas */
        fail_msg("the time limit took %.1f s to stop two runs", now_s() - t0);
    /* a short run under the limit has its receipt */
    assert_int_equal(ll_vm_deploy("return {}", 9, 1000, &r), 0);
    assert_true(r.success);
    ll_vm_result_free(&r);
    ll_vm_set_time_limit(0);
    assert_int_equal(call_full(call, 1, NULL, NULL, 200000, &r), 0);
    assert_string_equal(r.error, "out of gas");
    ll_vm_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_selftest_passes),
        cmocka_unit_test(test_regress_long_string_compare_free),
        cmocka_unit_test(test_regress_long_string_keys_free),
        cmocka_unit_test(test_regress_vararg_copies_free),
        cmocka_unit_test(test_regress_closure_upvalue_search_free),
        cmocka_unit_test(test_regress_pairs_scans_dead_keys),
        cmocka_unit_test(test_vm_pairs_sees_every_change),
        cmocka_unit_test(test_regress_length_depends_on_hash_seed),
        cmocka_unit_test(test_regress_nan_text_depends_on_platform),
        cmocka_unit_test(test_vm_charges_are_deterministic),
        cmocka_unit_test(test_vm_objects_and_text_are_charged),
        cmocka_unit_test(test_vm_memory_cap_abort_is_sticky),
        cmocka_unit_test(test_vm_interrupt_stops_runs),
        cmocka_unit_test(test_regress_one_hash_chain_outlives_gas_bound),
    };
    return cmocka_run_group_tests_name("vm/meter", tests, NULL, NULL);
}
