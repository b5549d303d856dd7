/* vm/internal.h (internal to vm/): one contract run, as the files of vm/
 * share it. vm.c owns the run (Lua state, allocator, gas hook, result);
 * meter.c charges each instruction (opcode.c reads it); sandbox.c builds
 * what a contract sees (base functions, math, storage, emit), pairs.c is
 * its sorted pairs, and strlib.c, pattern.c and tablib.c are the metered
 * string and table libraries.
 * Threads: the thread running the contract; nothing here is shared. */
#ifndef LL_VM_INTERNAL_H
#define LL_VM_INTERNAL_H

#include "vm/vm.h"

#include <lauxlib.h>
#include <lua.h>

/* Why a run stopped for good. Once set it sticks: the gas hook raises on
 * every later instruction, every charge raises and every growing allocation
 * is refused, so a pcall inside the contract cannot swallow it. */
typedef enum {
    LL_VM_RUNNING = 0,
    LL_VM_ABORT_GAS,
    LL_VM_ABORT_MEMORY,
    LL_VM_ABORT_HOST, /* the node failed (storage callback, malloc): no receipt */
} ll_vm_abort_t;

typedef struct ll_vm_run {
    uint64_t gas_limit;
    uint64_t gas_used; /* never above gas_limit */
    size_t mem;        /* bytes the Lua state holds, never above LL_VM_MAX_MEMORY */
    ll_vm_abort_t abort;
    int host_err;           /* LL_E* when abort == LL_VM_ABORT_HOST */
    uint64_t deadline_ns;   /* ll_vm_now_ns() past which the run stops; 0: none */
    unsigned ticks;         /* instructions since the run began, mod 2^32 */
    int metering;           /* contract code is running: new long strings cost gas */
    int in_call;            /* the selected function is running: storage and emit work */
    const ll_vm_ctx_t *ctx; /* NULL for a deploy */
    /* a LEN that runs on a stand-in (meter.c): registers and the border */
    int len_swap, len_pending, len_a, len_b;
    lua_Integer len_n;
    unsigned char len_saved[16];
    ll_vm_write_t *writes; /* one entry per key, in the order keys were first set */
    size_t nwrites, writes_cap;
    json_t *logs; /* array of {"name","value"} */
} ll_vm_run_t;

/* The run whose state L is (kept in L's extra space). */
ll_vm_run_t *ll_vm_run_of(lua_State *L);

/* A monotonic clock in ns: what the time limit (ll_vm_set_time_limit) is
 * read against. */
uint64_t ll_vm_now_ns(void);

/* The deadline of a run that starts now (0 when there is no time limit). */
uint64_t ll_vm_deadline_from_now(void);

/* Raises the sentinel error of an aborted run (r->abort is already set). */
int ll_vm_raise(lua_State *L);

/* Takes n gas; when less than n is left, uses it all, aborts the run with
 * "out of gas" and raises. Also raises if the run is already aborted. */
void ll_vm_charge(lua_State *L, uint64_t n);

/* The gas for n bytes or elements a library function touches. */
static inline uint64_t ll_vm_bytes(uint64_t n)
{
    return n > UINT64_MAX / LL_VM_GAS_PER_BYTE ? UINT64_MAX : n * LL_VM_GAS_PER_BYTE;
}

/* Values one operation moves beyond the free allowance (what they cost). */
static inline uint64_t ll_vm_over_values(int64_t n)
{
    return n > LL_VM_GAS_FREE_VALUES ? (uint64_t)(n - LL_VM_GAS_FREE_VALUES) : 0;
}

/* ll_vm_charge of n bytes or elements (nothing for 0). */
static inline void ll_vm_charge_bytes(lua_State *L, uint64_t n)
{
    if (n)
        ll_vm_charge(L, ll_vm_bytes(n));
}

/* Whether ll_vm_interrupt() asked every run to stop. */
int ll_vm_interrupted(void);

/* ll_vm_charge's fast path, for loops that charge per step (r: L's run). */
static inline void ll_vm_take(lua_State *L, ll_vm_run_t *r, uint64_t n)
{
    if (r->abort == LL_VM_RUNNING && n <= r->gas_limit - r->gas_used && !ll_vm_interrupted())
        r->gas_used += n;
    else
        ll_vm_charge(L, n);
}

/* Aborts the run because the node failed (err: LL_E*) and raises. */
int ll_vm_fail_host(lua_State *L, int err);

/* The count hook that charges each VM instruction (meter.c). */
void ll_vm_on_instruction(lua_State *L, lua_Debug *ar);

/* The NaN every number-to-text path of the sandbox writes ("nan"): printf
 * writes "-nan" for one with its sign bit set. */
static inline lua_Number ll_vm_canonical_nan(void)
{
    return (lua_Number)__builtin_nan("");
}

/* Charges the length of every string among arguments from..to (inclusive,
 * clipped to the stack): what converting them to numbers scans. */
void ll_vm_charge_strings(lua_State *L, int from, int to);

/* Makes a NaN among stack values from..to (inclusive, clipped to the
 * stack) the canonical one, before something turns them into text. */
void ll_vm_canon_nans(lua_State *L, int from, int to);

/* The original library function a wrapper closure holds as upvalue 1.
 * Wrappers call it directly in their own frame, so argument errors keep the
 * name the caller used ("bad argument #1 to 'rep'"). */
lua_CFunction ll_vm_orig(lua_State *L);

/* dst[name] = a C closure of fn whose upvalue 1 is src[name]; dst and src
 * are absolute stack indexes. */
void ll_vm_wrap(lua_State *L, int dst, int src, const char *name, lua_CFunction fn);

/* dst[name] = src[name]. */
void ll_vm_copy(lua_State *L, int dst, int src, const char *name);

/* Compares byte strings like memcmp, shorter first on a tie; *touched gets
 * how many bytes the comparison had to look at (what it costs). */
int ll_vm_cmp_bytes(const char *a, size_t la, const char *b, size_t lb, size_t *touched);

/* Stable merge sort of idx[0..n) with scratch tmp[n]; less(arg, x, y) says
 * whether item x sorts before item y and may raise (it charges gas). The
 * order of comparisons depends only on n and the answers, so sorting is
 * deterministic even for inconsistent comparators. */
typedef int (*ll_vm_less_cb)(lua_State *L, void *arg, size_t x, size_t y);
void ll_vm_sort(lua_State *L, size_t *idx, size_t *tmp, size_t n, ll_vm_less_cb less, void *arg);

/* 1 when s[0..len) is UTF-8 as jansson accepts it (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int ll_vm_utf8_valid(const char *s, size_t len);

/* String positions as lstrlib computes them: a start clipped to [1, inf)
 * and an end clipped to [0, len]; negative counts from the end. */
static inline size_t ll_vm_pos_start(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static inline size_t ll_vm_pos_end(lua_Integer pos, size_t len)
{
    if (pos > (lua_Integer)len)
        return len;
    if (pos >= 0)
        return (size_t)pos;
    if (pos < -(lua_Integer)len)
        return 0;
    return len + (size_t)pos + 1;
}

/* string.find, match, gmatch and gsub, metered (pattern.c). */
extern const luaL_Reg ll_vm_pattern_lib[];

/* Pushes the contract's `pairs` (pairs.c). */
void ll_vm_push_pairs(lua_State *L);

/* A border of the table at index t (absolute), the same on every node:
 * 0 if t[1] is nil, else found by doubling from 1 up to a nil, then by
 * bisection; *probes gets how many keys it looked up (2 log2 n or so). */
lua_Integer ll_vm_border(lua_State *L, int t, uint64_t *probes);

/* ll_vm_border, charged: LL_VM_GAS_LEN + the probes beyond
 * LL_VM_GAS_FREE_PROBES. What `#t` and the table library use. */
lua_Integer ll_vm_len(lua_State *L, int t);

/* Builds the contract's environment and makes it the globals table. */
void ll_vm_open_sandbox(lua_State *L);

/* Push the metered string / table library, built from the stock library
 * table at index src. */
void ll_vm_open_string(lua_State *L, int src);
void ll_vm_open_table(lua_State *L, int src);

#endif
