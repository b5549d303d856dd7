/* vm/meter.c: the count hook that meters every VM instruction of a contract
 * (API.md §6.1). Each instruction costs 1 gas; the few whose work grows with
 * their operands, or that allocate, pay for it here before they run, read
 * from the instruction itself (vm/opcode.h) and its registers. Every charge
 * is a function of values every node computes alike (string lengths,
 * argument counts, operand numbers), never of time, addresses or the hash
 * layout of a table.
 *
 *   EQ, EQK      two distinct long strings of equal length: their length
 *   LT, LE       two strings: the shorter length (l_strcmp has no shortcut)
 *   GETTABLE, SETTABLE, SELF   a long-string key: its length (a lookup
 *                compares it with equal-length keys byte by byte)
 *   VARARG       the values it copies
 *   CALL, TAILCALL, RETURN, SETLIST with B = 0   the values from A to the
 *                top of the stack (what they move or copy)
 *   CALL, TAILCALL of a library (C) function   LL_VM_GAS_CCALL
 *   CONCAT       LL_VM_GAS_CONCAT, and each number operand (its text is
 *                made by printf)
 *   POW, POWK    LL_VM_GAS_POW
 *   NEWTABLE     the slots it is created with
 *   CLOSURE      the search of the open upvalues
 *   LEN          on a table, the probes of ll_vm_border's search, which
 *                gives the result instead of luaH_getn's (any border, by
 *                the table's layout)
 * String bytes and values up to an allowance per instruction are free
 * (LL_VM_GAS_FREE_BYTES, LL_VM_GAS_FREE_VALUES). The new tables, closures
 * and other objects an instruction makes are charged by the allocator
 * (vm.c).
 *
 * A CONCAT's NaN operands are made positive before it runs: printf writes
 * "-nan" for a NaN with its sign bit set (0/0 on x86), "nan" otherwise, and
 * every node must write the same text. */
#include "util/err.h"
#include "vm/internal.h"
#include "vm/opcode.h"

#include <math.h>
#include <stdatomic.h>
#include <time.h>

/* ---- interruption ----------------------------------------------------------------- */

static atomic_int interrupted;

void ll_vm_interrupt(void)
{
    atomic_store_explicit(&interrupted, 1, memory_order_relaxed);
}

void ll_vm_interrupt_clear(void)
{
    atomic_store_explicit(&interrupted, 0, memory_order_relaxed);
}

int ll_vm_interrupted(void)
{
    return atomic_load_explicit(&interrupted, memory_order_relaxed);
}

/* ---- the time limit ------------------------------------------------------------------ */

static _Atomic uint32_t time_limit_ms;

void ll_vm_set_time_limit(uint32_t ms)
{
    atomic_store_explicit(&time_limit_ms, ms, memory_order_relaxed);
}

uint64_t ll_vm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ll_vm_deadline_from_now(void)
{
    uint32_t ms = atomic_load_explicit(&time_limit_ms, memory_order_relaxed);
    return ms ? ll_vm_now_ns() + (uint64_t)ms * 1000000u : 0;
}

/* ---- charges ------------------------------------------------------------------------- */

/* What each opcode may cost beyond its 1 gas: PLAIN nothing, else the
 * handler below. */
enum {
    PLAIN = 0,
    STRCMP_EQ,
    STRCMP_ORDER,
    STRCMP_EQK,
    KEY_C,
    KEY_B,
    KEY_SELF,
    TOP,
    CALL,
    VARARGS,
    CONCAT,
    NEWTABLE,
    CLOSURE,
    LEN,
    POW
};

static const unsigned char op_kind[LL_OP_COUNT] = {
    [LL_OP_EQ] = STRCMP_EQ,   [LL_OP_LT] = STRCMP_ORDER,   [LL_OP_LE] = STRCMP_ORDER,
    [LL_OP_EQK] = STRCMP_EQK, [LL_OP_GETTABLE] = KEY_C,    [LL_OP_SETTABLE] = KEY_B,
    [LL_OP_SELF] = KEY_SELF,  [LL_OP_CALL] = CALL,         [LL_OP_TAILCALL] = CALL,
    [LL_OP_RETURN] = TOP,     [LL_OP_SETLIST] = TOP,       [LL_OP_VARARG] = VARARGS,
    [LL_OP_CONCAT] = CONCAT,  [LL_OP_NEWTABLE] = NEWTABLE, [LL_OP_CLOSURE] = CLOSURE,
    [LL_OP_LEN] = LEN,        [LL_OP_POW] = POW,           [LL_OP_POWK] = POW,
};

static uint64_t over_bytes(uint64_t n)
{
    return n > LL_VM_GAS_FREE_BYTES ? ll_vm_bytes(n - LL_VM_GAS_FREE_BYTES) : 0;
}

/* Register reg's string (NULL if it holds something else). In a count hook
 * the C stack indexes are the running function's registers (+1). */
static const char *reg_str(lua_State *L, int reg, size_t *len)
{
    if (lua_type(L, reg + 1) != LUA_TSTRING)
        return NULL;
    return lua_tolstring(L, reg + 1, len);
}

/* EQ: lstring.c compares long strings by pointer, then length, then memcmp. */
static uint64_t strcmp_eq(lua_State *L, const ll_vm_op_t *op)
{
    size_t la, lb;
    const char *a = reg_str(L, op->a, &la), *b;
    if (!a || la <= LL_VM_SHORT_STRING || !(b = reg_str(L, op->b, &lb)) || la != lb || a == b)
        return 0;
    return over_bytes(la);
}

/* LT, LE: l_strcmp runs strcoll over the common prefix, even for one
 * string compared with itself. */
static uint64_t strcmp_order(lua_State *L, const ll_vm_op_t *op)
{
    size_t la, lb;
    if (!reg_str(L, op->a, &la) || !reg_str(L, op->b, &lb))
        return 0;
    return over_bytes(la < lb ? la : lb);
}

static uint64_t strcmp_eqk(lua_State *L, lua_Debug *ar, const ll_vm_op_t *op)
{
    size_t la;
    if (!reg_str(L, op->a, &la) || la <= LL_VM_SHORT_STRING || ll_vm_op_kstrlen(ar, op->b) != la)
        return 0;
    return over_bytes(la);
}

static uint64_t key_reg(lua_State *L, int reg)
{
    size_t len;
    if (!reg_str(L, reg, &len) || len <= LL_VM_SHORT_STRING)
        return 0;
    return over_bytes(len);
}

static uint64_t key_const(lua_Debug *ar, int idx)
{
    size_t len = ll_vm_op_kstrlen(ar, idx);
    return len > LL_VM_SHORT_STRING ? over_bytes(len) : 0;
}

/* The values from register a to the top: an upper bound of what a B = 0
 * instruction moves (below the frame's end, Lua's hook shows the whole
 * frame). */
static uint64_t top_values(lua_State *L, const ll_vm_op_t *op)
{
    if (op->b != 0)
        return 0;
    return ll_vm_over_values((int64_t)lua_gettop(L) - op->a);
}

/* CALL, TAILCALL: a library function costs more than a VM instruction. */
static uint64_t call(lua_State *L, const ll_vm_op_t *op)
{
    return top_values(L, op) + (lua_iscfunction(L, op->a + 1) ? LL_VM_GAS_CCALL : 0);
}

/* CONCAT A B: registers A .. A+B-1. */
static uint64_t concat(lua_State *L, const ll_vm_op_t *op)
{
    uint64_t gas = LL_VM_GAS_CONCAT;
    for (int i = op->a + 1; i <= op->a + op->b; i++) {
        if (lua_type(L, i) != LUA_TNUMBER)
            continue;
        if (lua_isinteger(L, i)) {
            gas += LL_VM_GAS_NUMBER_TEXT;
        } else {
            lua_Number n = lua_tonumber(L, i);
            gas += LL_VM_GAS_FLOAT_TEXT;
            if (isnan(n)) {
                lua_pushnumber(L, ll_vm_canonical_nan());
                lua_replace(L, i);
            }
        }
    }
    return gas;
}

/* NEWTABLE A B C k: a hash part of 2^(B-1) and an array part of C (plus
 * EXTRAARG * 256 when k), as the constructor's fields count them. */
static uint64_t newtable(lua_Debug *ar, const ll_vm_op_t *op)
{
    uint64_t slots = (uint64_t)op->c + (op->k ? (uint64_t)ll_vm_op_extraarg(ar) * 256 : 0);
    slots += op->b == 0 ? 0 : op->b > 32 ? (uint64_t)1 << 32 : (uint64_t)1 << (op->b - 1);
    return slots > LL_VM_GAS_FREE_VALUES ? (slots - LL_VM_GAS_FREE_VALUES) / 4 : 0;
}

static uint64_t closure(lua_Debug *ar, const ll_vm_op_t *op)
{
    uint64_t steps = ll_vm_op_closure_steps(ar, op->bx);
    return steps > LL_VM_GAS_FREE_STEPS ? (steps - LL_VM_GAS_FREE_STEPS) / LL_VM_STEPS_PER_GAS : 0;
}

/* LEN on a table: the border is ll_vm_border's, paid per probe, and LEN
 * itself runs on a stand-in (vm/opcode.h) once the charge is made. */
static uint64_t len(lua_State *L, ll_vm_run_t *r, const ll_vm_op_t *op)
{
    uint64_t probes;
    if (lua_type(L, op->b + 1) != LUA_TTABLE)
        return 0;
    r->len_n = ll_vm_border(L, op->b + 1, &probes);
    r->len_a = op->a;
    r->len_b = op->b;
    r->len_swap = 1;
    return LL_VM_GAS_LEN + (probes > LL_VM_GAS_FREE_PROBES ? probes - LL_VM_GAS_FREE_PROBES : 0);
}

static uint64_t extra_gas(lua_State *L, ll_vm_run_t *r, lua_Debug *ar, const ll_vm_op_t *op)
{
    switch (op_kind[op->op]) {
    case STRCMP_EQ:
        return strcmp_eq(L, op);
    case STRCMP_ORDER:
        return strcmp_order(L, op);
    case STRCMP_EQK:
        return strcmp_eqk(L, ar, op);
    case KEY_C:
        return key_reg(L, op->c);
    case KEY_B:
        return key_reg(L, op->b);
    case KEY_SELF:
        return op->k ? key_const(ar, op->c) : key_reg(L, op->c);
    case TOP:
        return top_values(L, op);
    case CALL:
        return call(L, op);
    case VARARGS:
        return ll_vm_over_values(op->c ? op->c - 1 : ll_vm_op_nextra(ar));
    case CONCAT:
        return concat(L, op);
    case NEWTABLE:
        return newtable(ar, op);
    case CLOSURE:
        return closure(ar, op);
    case LEN:
        return len(L, r, op);
    case POW:
        return LL_VM_GAS_POW;
    default:
        return 0;
    }
}

/* The count hook, before every instruction. After an abort it raises on
 * each one, so a contract that catches the error with pcall cannot run on. */
void ll_vm_on_instruction(lua_State *L, lua_Debug *ar)
{
    ll_vm_run_t *r = ll_vm_run_of(L);
    ll_vm_op_t op;
    uint64_t extra;
    int swap;
    if (r->len_pending) { /* the LEN just run: its operand back, its result ours */
        r->len_pending = 0;
        if (r->len_b != r->len_a)
            ll_vm_op_len_restore(ar, r->len_b, r->len_saved);
        lua_pushinteger(L, r->len_n);
        lua_replace(L, r->len_a + 1);
    }
    if (ll_vm_interrupted())
        ll_vm_fail_host(L, LL_ECANCELED);
    /* One instruction of a hostile table can take milliseconds, so the
     * clock is read often: a vDSO call every few instructions. */
    if (r->deadline_ns && ++r->ticks % LL_VM_TIME_CHECK_EVERY == 0 &&
        ll_vm_now_ns() >= r->deadline_ns)
        ll_vm_fail_host(L, LL_ETIMELIMIT);
    if (r->abort != LL_VM_RUNNING || r->gas_used >= r->gas_limit)
        ll_vm_charge(L, 1); /* raises */
    r->gas_used++;
    ll_vm_op_fetch(ar, &op);
    if (op.op >= LL_OP_COUNT || op_kind[op.op] == PLAIN)
        return;
    extra = extra_gas(L, r, ar, &op);
    swap = r->len_swap;
    r->len_swap = 0;
    if (extra)
        ll_vm_charge(L, extra);
    if (swap) { /* last: nothing may raise between this and the LEN */
        ll_vm_op_len_swap(ar, r->len_b, r->len_saved);
        r->len_pending = 1;
    }
}
