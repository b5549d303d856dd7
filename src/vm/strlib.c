/* vm/strlib.c: the contract's `string` library (API.md §6). The stock
 * functions run behind wrappers that charge before they work; find, match,
 * gmatch and gsub come from pattern.c, metered per matcher step.
 *
 * Costs (each unit is LL_VM_GAS_PER_BYTE), on top of the CALL instruction:
 *   len                  free
 *   sub, byte            1 per byte returned
 *   char                 1 per argument
 *   lower, upper, reverse 2 per byte (read and written)
 *   rep                  1 per byte of the result, charged before building it
 *   format               1 per byte of the format and of string arguments,
 *                        then 1 per byte of the result
 *   pack, packsize, unpack 1 per byte of the format and of string
 *                        arguments, then 1 per byte or value produced
 *   find, match, gmatch, gsub  see pattern.c
 * A string argument where a number is expected is converted, which scans
 * it: 1 per byte. format's %p (an address) is refused, and tables or
 * functions given to %s print as their type name. */
#include "vm/internal.h"

#include <string.h>

/* ---- wrappers around the stock functions ---------------------------------- */

static int w_sub(lua_State *L)
{
    size_t l, start, end;
    ll_vm_canon_nans(L, 1, 1);
    luaL_checklstring(L, 1, &l);
    ll_vm_charge_strings(L, 2, 3);
    start = ll_vm_pos_start(luaL_checkinteger(L, 2), l);
    end = ll_vm_pos_end(luaL_optinteger(L, 3, -1), l);
    if (start <= end)
        ll_vm_charge_bytes(L, end - start + 1);
    return ll_vm_orig(L)(L);
}

static int w_byte(lua_State *L)
{
    size_t l, first, last;
    lua_Integer pi;
    ll_vm_canon_nans(L, 1, 1);
    luaL_checklstring(L, 1, &l);
    ll_vm_charge_strings(L, 2, 3);
    pi = luaL_optinteger(L, 2, 1);
    first = ll_vm_pos_start(pi, l);
    last = ll_vm_pos_end(luaL_optinteger(L, 3, pi), l);
    if (first <= last)
        ll_vm_charge_bytes(L, last - first + 1);
    return ll_vm_orig(L)(L);
}

static int w_char(lua_State *L)
{
    ll_vm_charge_bytes(L, (uint64_t)lua_gettop(L));
    ll_vm_charge_strings(L, 1, lua_gettop(L));
    return ll_vm_orig(L)(L);
}

/* lower, upper, reverse. */
static int w_map(lua_State *L)
{
    size_t l;
    ll_vm_canon_nans(L, 1, 1);
    luaL_checklstring(L, 1, &l);
    ll_vm_charge_bytes(L, 2 * (uint64_t)l);
    return ll_vm_orig(L)(L);
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

/* rep(s, n [, sep]): the whole result is paid before a byte is copied, so
 * rep("x", 1e9) fails at once. rep("", huge) would loop n times in C making
 * nothing: answer "" directly. */
static int w_rep(lua_State *L)
{
    size_t l, lsep;
    lua_Integer n;
    uint64_t total;
    ll_vm_canon_nans(L, 1, 1);
    ll_vm_canon_nans(L, 3, 3);
    luaL_checklstring(L, 1, &l);
    ll_vm_charge_strings(L, 2, 2);
    n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && lsep == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    total = sat_mul((uint64_t)n, l);
    total += sat_mul((uint64_t)n - 1, lsep);
    if (total < sat_mul((uint64_t)n, l)) /* wrapped */
        total = UINT64_MAX;
    ll_vm_charge_bytes(L, total);
    return ll_vm_orig(L)(L);
}

/* The charge for the strings a wrapped call returned (its top n values). */
static void charge_results(lua_State *L, int n, int per_value)
{
    uint64_t bytes = per_value ? (uint64_t)n : 0;
    for (int i = lua_gettop(L) - n + 1; i <= lua_gettop(L); i++)
        if (lua_type(L, i) == LUA_TSTRING)
            bytes += lua_rawlen(L, i);
    ll_vm_charge_bytes(L, bytes);
}

static int w_format(lua_State *L)
{
    size_t flen;
    const char *f;
    int top = lua_gettop(L), n;
    ll_vm_canon_nans(L, 1, 1);
    f = luaL_checklstring(L, 1, &flen);
    /* each conversion takes one argument: at most flen of them are read */
    ll_vm_canon_nans(L, 2, flen < (size_t)top ? (int)flen + 1 : top);
    ll_vm_charge_bytes(L, flen);
    ll_vm_charge_strings(L, 2, top);
    for (size_t i = 0; i < flen; i++) {
        if (f[i] != '%')
            continue;
        if (++i < flen && f[i] == '%')
            continue;
        while (i < flen && f[i] && strchr("-+ #0123456789.", f[i]))
            i++;
        if (i < flen && f[i] == 'p')
            return luaL_error(L, "invalid conversion '%%p' to 'format'");
    }
    for (int i = 2; i <= top; i++) {
        int t = lua_type(L, i);
        if (t != LUA_TNIL && t != LUA_TBOOLEAN && t != LUA_TNUMBER && t != LUA_TSTRING) {
            lua_pushstring(L, lua_typename(L, t)); /* never "table: 0x55..." */
            lua_replace(L, i);
        }
    }
    n = ll_vm_orig(L)(L);
    charge_results(L, n, 0);
    return n;
}

static int w_pack(lua_State *L)
{
    int n, top = lua_gettop(L);
    size_t flen = lua_type(L, 1) == LUA_TSTRING ? lua_rawlen(L, 1) : 0;
    ll_vm_canon_nans(L, 1, 1);
    ll_vm_canon_nans(L, 2, flen < (size_t)top ? (int)flen + 1 : top); /* one per format item */
    ll_vm_charge_strings(L, 1, lua_gettop(L));
    n = ll_vm_orig(L)(L);
    charge_results(L, n, 0);
    return n;
}

static int w_packsize(lua_State *L)
{
    ll_vm_canon_nans(L, 1, 1);
    ll_vm_charge_strings(L, 1, 1);
    return ll_vm_orig(L)(L);
}

static int w_unpack(lua_State *L)
{
    int n;
    ll_vm_canon_nans(L, 1, 2);
    luaL_checkstring(L, 1);
    ll_vm_charge_strings(L, 1, 1);
    ll_vm_charge_strings(L, 3, 3);
    n = ll_vm_orig(L)(L);
    charge_results(L, n, 1);
    return n;
}

/* len(s): a number is measured as its text. */
static int w_len(lua_State *L)
{
    ll_vm_canon_nans(L, 1, 1);
    return ll_vm_orig(L)(L);
}

/* The string metatable's arithmetic ("10" + 1) converts its operands. */
static int w_coerce(lua_State *L)
{
    ll_vm_charge_strings(L, 1, 2);
    return ll_vm_orig(L)(L);
}

/* ---- the library ------------------------------------------------------------- */

static const char *const arith_events[] = {
    "__add", "__sub", "__mul", "__mod", "__pow", "__div", "__idiv", "__unm", NULL,
};

void ll_vm_open_string(lua_State *L, int src)
{
    static const struct {
        const char *name;
        lua_CFunction fn;
    } wrapped[] = {
        {"byte", w_byte}, {"char", w_char},         {"format", w_format}, {"lower", w_map},
        {"upper", w_map}, {"reverse", w_map},       {"rep", w_rep},       {"sub", w_sub},
        {"pack", w_pack}, {"packsize", w_packsize}, {"unpack", w_unpack},
    };
    int dst, mt;
    lua_newtable(L);
    dst = lua_gettop(L);
    ll_vm_wrap(L, dst, src, "len", w_len);
    for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++)
        ll_vm_wrap(L, dst, src, wrapped[i].name, wrapped[i].fn);
    luaL_setfuncs(L, ll_vm_pattern_lib, 0);

    /* Strings index this table (("").dump is nil), and their arithmetic
     * metamethods pay for converting. */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        mt = lua_gettop(L);
        for (int i = 0; arith_events[i]; i++) {
            if (lua_getfield(L, mt, arith_events[i]) == LUA_TFUNCTION)
                ll_vm_wrap(L, mt, mt, arith_events[i], w_coerce);
            lua_pop(L, 1);
        }
        lua_pushvalue(L, dst);
        lua_setfield(L, mt, "__index");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}
