/* vm/opcode.c: reads the instruction a count hook is about to run, and the
 * running function's constants and nested functions, from Lua 5.4.4's
 * private structures (vm/opcode.h says exactly which, and why). The mirror
 * structures below declare only the leading fields that are read; the
 * self-test at the end proves them on chunks whose instructions are known. */
#include "vm/opcode.h"

#include <lauxlib.h>
#include <signal.h>
#include <string.h>

/* ---- mirrors of Lua 5.4.4's private structures (LP64) ---------------------- */

typedef struct tvalue { /* TValue: union Value + lu_byte tt_ */
    void *value;
    unsigned char tt;
} tvalue_t;

#define TAG_SHRSTR 0x44 /* ctb(LUA_VSHRSTR) */
#define TAG_LNGSTR 0x54 /* ctb(LUA_VLNGSTR) */
#define TAG_LCL 0x46    /* ctb(LUA_VLCL) */

typedef struct callinfo { /* CallInfo, up to u.l */
    tvalue_t *func;
    void *top;
    void *previous, *next;
    const uint32_t *savedpc;
    volatile sig_atomic_t trap;
    int nextraargs;
} callinfo_t;

typedef struct upvaldesc { /* Upvaldesc */
    void *name;
    unsigned char instack, idx, kind;
} upvaldesc_t;

typedef struct proto { /* Proto, up to upvalues */
    void *next;
    unsigned char tt, marked;
    unsigned char numparams, is_vararg, maxstacksize;
    int sizeupvalues, sizek, sizecode, sizelineinfo, sizep, sizelocvars, sizeabslineinfo;
    int linedefined, lastlinedefined;
    tvalue_t *k;
    uint32_t *code;
    struct proto **p;
    upvaldesc_t *upvalues;
} proto_t;

typedef struct lclosure { /* LClosure, up to p */
    void *next;
    unsigned char tt, marked, nupvalues;
    void *gclist;
    proto_t *p;
} lclosure_t;

typedef struct table { /* Table */
    void *next;
    unsigned char tt, marked, flags, lsizenode;
    unsigned int alimit;
    void *array, *node, *lastfree, *metatable, *gclist;
} table_t;

#define TAG_TABLE 0x45 /* ctb(LUA_VTABLE) */

/* The stand-in LEN runs on: no array (alimit 0, its real size), a dummy
 * hash part (lastfree NULL), no metatable. luaH_getn only reads it. */
static const table_t empty_table = {.tt = 0x05 /* LUA_VTABLE */};

typedef struct tstring { /* TString, up to u */
    void *next;
    unsigned char tt, marked, extra, shrlen;
    unsigned int hash;
    size_t lnglen;
} tstring_t;

_Static_assert(sizeof(tvalue_t) == 16, "TValue is 16 bytes on LP64");
_Static_assert(offsetof(callinfo_t, savedpc) == 32, "CallInfo.u.l.savedpc");
_Static_assert(offsetof(callinfo_t, nextraargs) == 44, "CallInfo.u.l.nextraargs");
_Static_assert(offsetof(proto_t, k) == 56, "Proto.k");
_Static_assert(offsetof(proto_t, upvalues) == 80, "Proto.upvalues");
_Static_assert(sizeof(upvaldesc_t) == 16, "Upvaldesc");
_Static_assert(offsetof(lclosure_t, p) == 24, "LClosure.p");
_Static_assert(offsetof(tstring_t, lnglen) == 16, "TString.u.lnglen");
_Static_assert(offsetof(table_t, alimit) == 12 && offsetof(table_t, lastfree) == 32 &&
                   offsetof(table_t, metatable) == 40,
               "Table");

static const callinfo_t *ci_of(const lua_Debug *ar)
{
    return (const callinfo_t *)ar->i_ci;
}

static const proto_t *proto_of(const lua_Debug *ar)
{
    return ((const lclosure_t *)ci_of(ar)->func->value)->p;
}

/* ---- the API ------------------------------------------------------------------- */

void ll_vm_op_fetch(const lua_Debug *ar, ll_vm_op_t *op)
{
    uint32_t i = ci_of(ar)->savedpc[-1];
    op->op = (int)(i & 0x7f);
    op->a = (int)((i >> 7) & 0xff);
    op->k = (int)((i >> 15) & 1);
    op->b = (int)((i >> 16) & 0xff);
    op->c = (int)((i >> 24) & 0xff);
    op->bx = (int)(i >> 15);
}

void ll_vm_op_len_swap(const lua_Debug *ar, int reg, void *saved)
{
    tvalue_t *slot = ci_of(ar)->func + 1 + reg;
    memcpy(saved, slot, sizeof *slot);
    slot->value = (void *)&empty_table;
    slot->tt = TAG_TABLE;
}

void ll_vm_op_len_restore(const lua_Debug *ar, int reg, const void *saved)
{
    memcpy(ci_of(ar)->func + 1 + reg, saved, sizeof(tvalue_t));
}

int ll_vm_op_extraarg(const lua_Debug *ar)
{
    return (int)(ci_of(ar)->savedpc[0] >> 7);
}

int ll_vm_op_nextra(const lua_Debug *ar)
{
    return ci_of(ar)->nextraargs;
}

size_t ll_vm_op_kstrlen(const lua_Debug *ar, int idx)
{
    const proto_t *p = proto_of(ar);
    const tvalue_t *kv;
    const tstring_t *ts;
    if (idx < 0 || idx >= p->sizek)
        return 0;
    kv = &p->k[idx];
    if (kv->tt != TAG_SHRSTR && kv->tt != TAG_LNGSTR)
        return 0;
    ts = kv->value;
    return kv->tt == TAG_SHRSTR ? ts->shrlen : ts->lnglen;
}

int ll_vm_op_framesize(const lua_Debug *ar)
{
    return proto_of(ar)->maxstacksize;
}

uint64_t ll_vm_op_closure_steps(const lua_Debug *ar, int bx)
{
    const proto_t *p = proto_of(ar), *np;
    uint64_t steps = 0;
    if (bx < 0 || bx >= p->sizep)
        return 0;
    np = p->p[bx];
    for (int i = 0; i < np->sizeupvalues; i++)
        if (np->upvalues[i].instack)
            steps += (uint64_t)(p->maxstacksize > np->upvalues[i].idx
                                    ? p->maxstacksize - np->upvalues[i].idx
                                    : 1);
    return steps;
}

/* ---- the self-test --------------------------------------------------------------- */

/* A chunk whose instructions are known: each line exercises one reader.
 * The comparisons see "xx" and "yyy" in registers 0 and 1; EQK's constant
 * is "zzzz"; v() is called with 5 extra arguments and copies them with a
 * VARARG whose C is 0; h captures x (register 5) and y (register 6); `#w`
 * runs on the stand-in, and the next instruction's hook makes it 42 and
 * gives w back. */
static const char selftest_chunk[] = "local a, b = 'xx', 'yyy'\n"
                                     "local c = a == b\n"
                                     "local d = a < b\n"
                                     "local e = a == 'zzzz'\n"
                                     "local x, y = 7, 8\n"
                                     "local function h() return y + x end\n"
                                     "local function v(...) return {...} end\n"
                                     "local w = {1, 2, 3}\n"
                                     "local n = #w\n"
                                     "return v(1, 2, 3, 4, 5), h(), n, w[3]\n";

typedef struct probe {
    int fails;
    int len_pending, len_a, len_b;
    unsigned char len_saved[16];
    int seen[LL_OP_COUNT];
    int h_steps_frame; /* the main chunk's frame size, seen at CLOSURE of h */
    uint64_t h_steps;
} probe_t;

static probe_t *probe_of(lua_State *L)
{
    return *(probe_t **)lua_getextraspace(L);
}

static int reg_is(lua_State *L, int reg, const char *want)
{
    size_t len;
    const char *s = lua_type(L, reg + 1) == LUA_TSTRING ? lua_tolstring(L, reg + 1, &len) : NULL;
    return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

static void on_selftest(lua_State *L, lua_Debug *ar)
{
    probe_t *pr = probe_of(L);
    const callinfo_t *ci = ci_of(ar);
    const proto_t *p;
    ll_vm_op_t op;
    if (pr->len_pending) {
        pr->len_pending = 0;
        if (pr->len_a != pr->len_b)
            ll_vm_op_len_restore(ar, pr->len_b, pr->len_saved);
        lua_pushinteger(L, 42);
        lua_replace(L, pr->len_a + 1);
    }
    if (ci->func->tt != TAG_LCL) {
        pr->fails++;
        return;
    }
    p = proto_of(ar);
    if (ci->savedpc <= p->code || ci->savedpc > p->code + p->sizecode) {
        pr->fails++;
        return;
    }
    ll_vm_op_fetch(ar, &op);
    if (op.op < 0 || op.op >= LL_OP_COUNT) {
        pr->fails++;
        return;
    }
    pr->seen[op.op]++;
    switch (op.op) {
    case LL_OP_EQ:
    case LL_OP_LT:
        if (!reg_is(L, op.a, "xx") || !reg_is(L, op.b, "yyy"))
            pr->fails++;
        break;
    case LL_OP_EQK:
        if (!reg_is(L, op.a, "xx") || ll_vm_op_kstrlen(ar, op.b) != 4)
            pr->fails++;
        break;
    case LL_OP_VARARG:
        if (op.c != 0 || ll_vm_op_nextra(ar) != 5)
            pr->fails++;
        break;
    case LL_OP_CLOSURE:
        /* registers: a b c d e x y (2 temporaries later); h is the first
         * closure (Bx 0) and captures x (register 5) and y (register 6) */
        if (op.bx == 0) {
            pr->h_steps = ll_vm_op_closure_steps(ar, op.bx);
            pr->h_steps_frame = ll_vm_op_framesize(ar);
            if (lua_gettop(L) != pr->h_steps_frame)
                pr->fails++;
        }
        break;
    case LL_OP_LEN:
        if (lua_type(L, op.b + 1) != LUA_TTABLE || lua_rawlen(L, op.b + 1) != 3) {
            pr->fails++;
            break;
        }
        pr->len_a = op.a;
        pr->len_b = op.b;
        ll_vm_op_len_swap(ar, op.b, pr->len_saved);
        pr->len_pending = 1;
        break;
    case LL_OP_LOADI:
        /* x, y = 7, 8: LOADI A sBx with sBx = Bx - 65535; the others load
         * 1 to 5 */
        if (!((op.a == 5 && op.bx - 65535 == 7) || (op.a == 6 && op.bx - 65535 == 8) ||
              (op.bx - 65535 >= 1 && op.bx - 65535 <= 5)))
            pr->fails++;
        break;
    default:
        break;
    }
}

int ll_vm_op_selftest(void)
{
    probe_t pr;
    lua_State *L = luaL_newstate();
    int ok;
    if (!L)
        return -1;
    memset(&pr, 0, sizeof pr);
    *(probe_t **)lua_getextraspace(L) = &pr;
    lua_sethook(L, on_selftest, LUA_MASKCOUNT, 1);
    ok = luaL_loadbufferx(L, selftest_chunk, sizeof selftest_chunk - 1, "=selftest", "t") ==
             LUA_OK &&
         lua_pcall(L, 0, 4, 0) == LUA_OK;
    /* the results: a table of the five arguments, 8 + 7, the stand-in's 42
     * and w[3] */
    ok = ok && lua_istable(L, -4) && lua_rawlen(L, -4) == 5 && lua_tointeger(L, -3) == 15 &&
         lua_tointeger(L, -2) == 42 && lua_tointeger(L, -1) == 3;
    ok = ok && pr.fails == 0 && pr.seen[LL_OP_EQ] == 1 && pr.seen[LL_OP_LT] == 1 &&
         pr.seen[LL_OP_EQK] == 1 && pr.seen[LL_OP_VARARG] == 1 && pr.seen[LL_OP_CLOSURE] == 2 &&
         pr.seen[LL_OP_LOADI] >= 7 && pr.seen[LL_OP_NEWTABLE] == 2 && pr.seen[LL_OP_SETLIST] == 2 &&
         pr.seen[LL_OP_CALL] >= 1 && pr.seen[LL_OP_LEN] == 1;
    /* h captures registers 5 and 6 of a frame of n: (n - 6) + (n - 5) */
    ok = ok && pr.h_steps_frame > 6 && pr.h_steps == (uint64_t)(2 * pr.h_steps_frame - 11);
    lua_close(L);
    return ok ? 0 : -1;
}
