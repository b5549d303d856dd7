/* vm/tablib.c: the contract's `table` library (API.md §6). move, pack and
 * unpack are the stock functions behind wrappers that charge for the
 * elements they will move before they move them; insert, remove, concat
 * and sort are our own, and take a table's length from ll_vm_len (the stock
 * ones use luaL_len, which returns any border of a table with holes, chosen
 * by the table's layout and so by the hash seed): concat charges as it
 * goes, and sort is a stable merge sort
 * (Lua's quicksort picks pivots from the clock and the address of a local
 * when a partition is unbalanced, so the number of comparisons - and the gas
 * a comparator spends, and the order of equal elements - could differ
 * between nodes).
 *
 * Costs (each unit is LL_VM_GAS_PER_BYTE), on top of the CALL instruction
 * and, where the length is taken, ll_vm_len's:
 *   insert, remove  1, plus 1 per element shifted
 *   move, unpack    1 per element (of the range asked for, charged first)
 *   pack            1 per value
 *   concat          1 per element, plus 1 per byte of the result
 *   sort            2 per element, plus 1 per comparison (and per byte two
 *                   strings had to compare when there is no comparator; a
 *                   comparator's call adds LL_VM_GAS_CCALL)
 * A string argument where a number is expected is converted: 1 per byte. */
#include "vm/internal.h"

#include <limits.h>

/* Elements from f to e inclusive; UINT64_MAX for the whole integer range. */
static uint64_t range(lua_Integer f, lua_Integer e)
{
    uint64_t n;
    if (e < f)
        return 0;
    n = (uint64_t)e - (uint64_t)f + 1;
    return n ? n : UINT64_MAX;
}

lua_Integer ll_vm_border(lua_State *L, int t, uint64_t *probes)
{
    lua_Unsigned i = 1, j = 2; /* t[i] is present; t[j] is the next probe */
    int absent;
    *probes = 1;
    absent = lua_rawgeti(L, t, 1) == LUA_TNIL;
    lua_pop(L, 1);
    if (absent)
        return 0;
    for (;;) {
        ++*probes;
        absent = lua_rawgeti(L, t, (lua_Integer)j) == LUA_TNIL;
        lua_pop(L, 1);
        if (absent)
            break;
        i = j;
        if (j > (lua_Unsigned)LUA_MAXINTEGER / 2) { /* as luaH_getn: the largest key */
            ++*probes;
            absent = lua_rawgeti(L, t, LUA_MAXINTEGER) == LUA_TNIL;
            lua_pop(L, 1);
            if (!absent)
                return LUA_MAXINTEGER;
            j = (lua_Unsigned)LUA_MAXINTEGER;
            break;
        }
        j *= 2;
    }
    while (j - i > 1u) { /* t[i] present, t[j] absent */
        lua_Unsigned m = i + (j - i) / 2;
        ++*probes;
        absent = lua_rawgeti(L, t, (lua_Integer)m) == LUA_TNIL;
        lua_pop(L, 1);
        if (absent)
            j = m;
        else
            i = m;
    }
    return (lua_Integer)i;
}

lua_Integer ll_vm_len(lua_State *L, int t)
{
    uint64_t probes;
    lua_Integer n = ll_vm_border(L, t, &probes);
    ll_vm_charge(L, LL_VM_GAS_LEN +
                        (probes > LL_VM_GAS_FREE_PROBES ? probes - LL_VM_GAS_FREE_PROBES : 0));
    return n;
}

/* insert(t, [pos,] v), as ltablib.c's but with ll_vm_len's border: 1, plus
 * 1 per element shifted, charged before shifting. */
static int t_insert(lua_State *L)
{
    lua_Integer e, pos;
    luaL_checktype(L, 1, LUA_TTABLE);
    e = (lua_Integer)((lua_Unsigned)ll_vm_len(L, 1) + 1u); /* first empty element */
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        break;
    case 3:
        ll_vm_charge_strings(L, 2, 2);
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        ll_vm_charge_bytes(L, (uint64_t)e - (uint64_t)pos);
        for (lua_Integer i = e; i > pos; i--) {
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    ll_vm_charge_bytes(L, 1);
    lua_seti(L, 1, pos);
    return 0;
}

/* remove(t [, pos]), as ltablib.c's but with ll_vm_len's border: 1, plus 1
 * per element shifted, charged before shifting. */
static int t_remove(lua_State *L)
{
    lua_Integer size, pos;
    luaL_checktype(L, 1, LUA_TTABLE);
    size = ll_vm_len(L, 1);
    ll_vm_charge_strings(L, 2, 2);
    pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    ll_vm_charge_bytes(L, 1 + (pos < size ? (uint64_t)size - (uint64_t)pos : 0));
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int w_move(lua_State *L)
{
    ll_vm_charge_strings(L, 2, 4);
    ll_vm_charge_bytes(L, range(luaL_checkinteger(L, 2), luaL_checkinteger(L, 3)));
    return ll_vm_orig(L)(L);
}

static int w_unpack(lua_State *L)
{
    lua_Integer i, e;
    ll_vm_charge_strings(L, 2, 3);
    i = luaL_optinteger(L, 2, 1);
    if (lua_isnoneornil(L, 3)) { /* the stock default is luaL_len: any border */
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 2);
        lua_pushinteger(L, ll_vm_len(L, 1));
    }
    e = luaL_checkinteger(L, 3);
    ll_vm_charge_bytes(L, range(i, e));
    return ll_vm_orig(L)(L);
}

static int w_pack(lua_State *L)
{
    ll_vm_charge_bytes(L, (uint64_t)lua_gettop(L));
    return ll_vm_orig(L)(L);
}

/* concat(t [, sep [, i [, j]]]), as the stock one but paid per element and
 * per byte before each is added. */
static int t_concat(lua_State *L)
{
    luaL_Buffer b;
    size_t lsep, len;
    const char *sep;
    lua_Integer i, last;
    luaL_checktype(L, 1, LUA_TTABLE);
    ll_vm_canon_nans(L, 2, 2);
    sep = luaL_optlstring(L, 2, "", &lsep);
    ll_vm_charge_strings(L, 3, 4);
    i = luaL_optinteger(L, 3, 1);
    last = lua_isnoneornil(L, 4) ? ll_vm_len(L, 1) : luaL_checkinteger(L, 4);
    luaL_buffinit(L, &b);
    for (; i <= last; i++) {
        lua_geti(L, 1, i);
        if (!lua_isstring(L, -1))
            return luaL_error(L, "invalid value (at index %I) in table for 'concat'",
                              (LUAI_UACINT)i);
        ll_vm_canon_nans(L, -1, -1);
        lua_tolstring(L, -1, &len);
        ll_vm_charge_bytes(L, 1 + (uint64_t)len + (i < last ? lsep : 0));
        luaL_addvalue(&b);
        if (i < last)
            luaL_addlstring(&b, sep, lsep);
        if (i == LUA_MAXINTEGER)
            break;
    }
    luaL_pushresult(&b);
    return 1;
}

typedef struct sort_ctx {
    int vals;    /* stack index of the snapshot t[1..n] */
    int has_cmp; /* the comparator is at index 2 */
} sort_ctx_t;

/* Whether snapshot item x sorts before item y. Without a comparator: `<`,
 * with strings compared by bytes (what `<` does in the C locale the node
 * runs in), so their cost is known. */
static int value_less(lua_State *L, void *arg, size_t x, size_t y)
{
    const sort_ctx_t *c = arg;
    int res;
    lua_rawgeti(L, c->vals, (lua_Integer)x + 1);
    lua_rawgeti(L, c->vals, (lua_Integer)y + 1);
    if (c->has_cmp) {
        ll_vm_charge(L, ll_vm_bytes(1) + LL_VM_GAS_CCALL); /* a call from C, as costly */
        lua_pushvalue(L, 2);
        lua_insert(L, -3);
        lua_call(L, 2, 1);
        res = lua_toboolean(L, -1);
        lua_pop(L, 1);
    } else if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
        size_t la, lb, touched;
        const char *a = lua_tolstring(L, -2, &la), *b = lua_tolstring(L, -1, &lb);
        res = ll_vm_cmp_bytes(a, la, b, lb, &touched) < 0;
        ll_vm_charge_bytes(L, 1 + (uint64_t)touched);
        lua_pop(L, 2);
    } else {
        ll_vm_charge_bytes(L, 1);
        res = lua_compare(L, -2, -1, LUA_OPLT); /* may raise: "attempt to compare" */
        lua_pop(L, 2);
    }
    return res;
}

/* sort(t [, comp]): sorts a snapshot of t[1..#t], then writes it back; a
 * comparator that changes t while it runs cannot break anything. */
static int t_sort(lua_State *L)
{
    lua_Integer n;
    sort_ctx_t c = {.vals = 3};
    size_t *idx;
    luaL_checktype(L, 1, LUA_TTABLE);
    n = ll_vm_len(L, 1);
    if (n <= 1)
        return 0;
    luaL_argcheck(L, n < INT_MAX, 1, "array too big");
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    c.has_cmp = !lua_isnil(L, 2);
    ll_vm_charge_bytes(L, 2 * (uint64_t)n);
    lua_createtable(L, (int)n, 0); /* 3 */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        lua_rawseti(L, 3, i);
    }
    idx = lua_newuserdatauv(L, 2 * (size_t)n * sizeof *idx, 0); /* 4 */
    for (size_t i = 0; i < (size_t)n; i++)
        idx[i] = i;
    ll_vm_sort(L, idx, idx + n, (size_t)n, value_less, &c);
    for (size_t i = 0; i < (size_t)n; i++) {
        lua_rawgeti(L, 3, (lua_Integer)idx[i] + 1);
        lua_seti(L, 1, (lua_Integer)i + 1);
    }
    return 0;
}

void ll_vm_open_table(lua_State *L, int src)
{
    int dst;
    lua_newtable(L);
    dst = lua_gettop(L);
    lua_pushcfunction(L, t_insert);
    lua_setfield(L, dst, "insert");
    lua_pushcfunction(L, t_remove);
    lua_setfield(L, dst, "remove");
    ll_vm_wrap(L, dst, src, "move", w_move);
    ll_vm_wrap(L, dst, src, "unpack", w_unpack);
    ll_vm_wrap(L, dst, src, "pack", w_pack);
    lua_pushcfunction(L, t_concat);
    lua_setfield(L, dst, "concat");
    lua_pushcfunction(L, t_sort);
    lua_setfield(L, dst, "sort");
}
