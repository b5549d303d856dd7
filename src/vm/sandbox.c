/* vm/sandbox.c: everything a contract can reach (API.md §6), built fresh
 * for each run by ll_vm_open_sandbox. The stock libraries are opened into
 * the state but only an allowlist is copied into a new globals table:
 *   assert error ipairs pairs pcall select tonumber tostring type
 *   string.*  (strlib.c: no dump)    table.*  (tablib.c)
 *   math.*    (no random/randomseed, no 5.3 compatibility functions)
 *   storage.get storage.set emit
 * Nothing else: no io, os, require, load, dofile, debug, collectgarbage,
 * next, raw*, get/setmetatable, coroutine, print, utf8. The package.loaded
 * registry table is never created, so error messages name functions only as
 * the calling code spelt them.
 *
 * Determinism: pairs (pairs.c) visits keys sorted (numbers ascending, then
 * strings by bytes), tostring never shows an address or a NaN's sign, and
 * functions whose work grows with their input charge for it before or while
 * doing it. */
#include "util/err.h"
#include "vm/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

/* ---- helpers shared by the libraries ---------------------------------------- */

void ll_vm_charge_strings(lua_State *L, int from, int to)
{
    uint64_t n = 0;
    int top = lua_gettop(L);
    for (int i = from; i <= to && i <= top; i++)
        if (lua_type(L, i) == LUA_TSTRING)
            n += lua_rawlen(L, i);
    if (n)
        ll_vm_charge(L, ll_vm_bytes(n));
}

void ll_vm_canon_nans(lua_State *L, int from, int to)
{
    int top = lua_gettop(L);
    if (from < 0)
        from = top + from + 1;
    if (to < 0)
        to = top + to + 1;
    for (int i = from; i <= to && i <= top; i++) {
        if (lua_type(L, i) == LUA_TNUMBER && !lua_isinteger(L, i) && isnan(lua_tonumber(L, i))) {
            lua_pushnumber(L, ll_vm_canonical_nan());
            lua_replace(L, i);
        }
    }
}

lua_CFunction ll_vm_orig(lua_State *L)
{
    return lua_tocfunction(L, lua_upvalueindex(1));
}

void ll_vm_wrap(lua_State *L, int dst, int src, const char *name, lua_CFunction fn)
{
    lua_getfield(L, src, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, dst, name);
}

void ll_vm_copy(lua_State *L, int dst, int src, const char *name)
{
    lua_getfield(L, src, name);
    lua_setfield(L, dst, name);
}

int ll_vm_cmp_bytes(const char *a, size_t la, const char *b, size_t lb, size_t *touched)
{
    size_t m = la < lb ? la : lb, i = 0;
    while (i + 64 <= m && memcmp(a + i, b + i, 64) == 0)
        i += 64;
    while (i < m && a[i] == b[i])
        i++;
    if (i < m) {
        *touched = i + 1;
        return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    }
    *touched = m;
    return la < lb ? -1 : la > lb;
}

void ll_vm_sort(lua_State *L, size_t *idx, size_t *tmp, size_t n, ll_vm_less_cb less, void *arg)
{
    size_t *from = idx, *to = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = mid + width < n ? mid + width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) /* ties take the left run: stable */
                to[k++] = less(L, arg, from[j], from[i]) ? from[j++] : from[i++];
            while (i < mid)
                to[k++] = from[i++];
            while (j < hi)
                to[k++] = from[j++];
        }
        size_t *t = from;
        from = to;
        to = t;
    }
    if (from != idx)
        memcpy(idx, from, n * sizeof *idx);
}

int ll_vm_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 4, cp = c & 0x07;
        else
            return 0;
        if (n > len - i)
            return 0;
        for (size_t k = 1; k < n; k++) {
            unsigned char d = (unsigned char)s[i + k];
            if ((d & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}

/* ---- base functions ------------------------------------------------------------ */

/* tostring without addresses: tables, functions and the like print as their
 * type name, and every NaN as "nan". Costs 1 per byte of the result, and
 * for a number the printing, as `..` does (LL_VM_GAS_NUMBER_TEXT, _FLOAT_TEXT). */
static int sb_tostring(lua_State *L)
{
    size_t len;
    luaL_checkany(L, 1);
    ll_vm_canon_nans(L, 1, 1);
    switch (lua_type(L, 1)) {
    case LUA_TSTRING:
        ll_vm_charge(L, ll_vm_bytes(lua_rawlen(L, 1)));
        lua_settop(L, 1);
        return 1;
    case LUA_TNUMBER:
        ll_vm_charge(L, lua_isinteger(L, 1) ? LL_VM_GAS_NUMBER_TEXT : LL_VM_GAS_FLOAT_TEXT);
        /* fallthrough */
    case LUA_TBOOLEAN:
    case LUA_TNIL:
        luaL_tolstring(L, 1, &len);
        ll_vm_charge(L, ll_vm_bytes(len));
        return 1;
    default:
        lua_pushstring(L, luaL_typename(L, 1));
        return 1;
    }
}

/* tonumber(s [, base]) scans s: 1 per byte of string arguments. */
static int w_tonumber(lua_State *L)
{
    ll_vm_charge_strings(L, 1, 2);
    return ll_vm_orig(L)(L);
}

/* error(msg) looks up its position, copies msg behind it and unwinds:
 * LL_VM_GAS_ERROR + 1 per byte of msg. */
static int w_error(lua_State *L)
{
    ll_vm_charge(L, LL_VM_GAS_ERROR);
    ll_vm_charge_strings(L, 1, 2);
    return ll_vm_orig(L)(L);
}

/* pcall(f, ...) hands its arguments to f and f's results to its caller,
 * C to C, where no instruction sees them: LL_VM_GAS_PCALL + 1 per value
 * beyond LL_VM_GAS_FREE_VALUES. */
static int w_pcall(lua_State *L)
{
    ll_vm_charge(L, LL_VM_GAS_PCALL + ll_vm_over_values(lua_gettop(L)));
    return ll_vm_orig(L)(L);
}

/* select(n, ...): 1 per value returned. */
static int w_select(lua_State *L)
{
    int n;
    ll_vm_charge_strings(L, 1, 1);
    n = ll_vm_orig(L)(L);
    ll_vm_charge(L, ll_vm_bytes((uint64_t)n));
    return n;
}

/* math functions take numbers: a string argument is converted (scanned). */
static int w_math(lua_State *L)
{
    ll_vm_charge_strings(L, 1, lua_gettop(L));
    return ll_vm_orig(L)(L);
}

/* math.max / math.min look at every argument: 1 per argument. */
static int w_math_n(lua_State *L)
{
    ll_vm_charge(L, ll_vm_bytes((uint64_t)lua_gettop(L)));
    ll_vm_charge_strings(L, 1, lua_gettop(L));
    return ll_vm_orig(L)(L);
}

/* ---- storage and emit -------------------------------------------------------- */

static void need_call(lua_State *L, const char *what)
{
    if (!ll_vm_run_of(L)->in_call)
        luaL_error(L, "%s is only available inside a call", what);
}

static uint64_t value_bytes(const ll_vm_value_t *v)
{
    return v->type == LL_VM_STR ? v->len : v->type == LL_VM_INT ? 8 : 0;
}

/* storage.get(key): the run's own write of key if any, else the committed
 * value (storage_get). Costs LL_VM_GAS_STORAGE_GET + 1 per byte of the
 * value (8 for an integer). Upvalue 1: key -> write slot (1-based). */
static int host_get(lua_State *L)
{
    ll_vm_run_t *r = ll_vm_run_of(L);
    ll_vm_value_t v = {.type = LL_VM_NIL};
    const char *key;
    size_t klen;
    need_call(L, "storage");
    luaL_checktype(L, 1, LUA_TSTRING);
    key = lua_tolstring(L, 1, &klen);
    ll_vm_charge(L, LL_VM_GAS_STORAGE_GET);
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNUMBER &&
        (size_t)lua_tointeger(L, -1) - 1 < r->nwrites) {
        v = r->writes[lua_tointeger(L, -1) - 1].value;
    } else if (r->ctx->storage_get) {
        int rc = r->ctx->storage_get(r->ctx->storage_arg, key, klen, &v);
        if (rc < 0)
            return ll_vm_fail_host(L, rc);
    }
    ll_vm_charge(L, ll_vm_bytes(value_bytes(&v)));
    if (v.type == LL_VM_INT)
        lua_pushinteger(L, (lua_Integer)v.i);
    else if (v.type == LL_VM_STR)
        lua_pushlstring(L, v.s, v.len);
    else
        lua_pushnil(L);
    return 1;
}

static char *dup_bytes(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* storage.set(key, value): buffers a write; value is a string, an integer
 * or nil, and nil deletes the key (the write carries LL_VM_NIL). The result
 * lists each key once, in the order keys were first set, with the last
 * value set. Costs LL_VM_GAS_STORAGE_SET + LL_VM_GAS_STORAGE_BYTE per byte of key and value (8
 * for an integer, 0 for nil). */
static int host_set(lua_State *L)
{
    ll_vm_run_t *r = ll_vm_run_of(L);
    ll_vm_value_t v = {.type = LL_VM_NIL};
    ll_vm_write_t *w;
    const char *key;
    size_t klen;
    char *copy = NULL;
    need_call(L, "storage");
    luaL_checktype(L, 1, LUA_TSTRING);
    key = lua_tolstring(L, 1, &klen);
    if (lua_type(L, 2) == LUA_TSTRING) {
        v.type = LL_VM_STR;
        v.s = lua_tolstring(L, 2, &v.len);
    } else if (lua_isinteger(L, 2)) {
        v.type = LL_VM_INT;
        v.i = (int64_t)lua_tointeger(L, 2);
    } else if (!lua_isnoneornil(L, 2)) {
        return luaL_typeerror(L, 2, "string, integer or nil");
    }
    ll_vm_charge(L, LL_VM_GAS_STORAGE_SET +
                        LL_VM_GAS_STORAGE_BYTE * (uint64_t)(klen + value_bytes(&v)));
    lua_settop(L, 2);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNUMBER) {
        w = &r->writes[lua_tointeger(L, -1) - 1];
    } else {
        if (r->nwrites == r->writes_cap) {
            size_t cap = r->writes_cap ? 2 * r->writes_cap : 16;
            ll_vm_write_t *grown = realloc(r->writes, cap * sizeof *grown);
            if (!grown)
                return ll_vm_fail_host(L, LL_ENOMEM);
            r->writes = grown;
            r->writes_cap = cap;
        }
        lua_pushvalue(L, 1); /* the Lua side first: it may raise, then nothing is half-added */
        lua_pushinteger(L, (lua_Integer)r->nwrites + 1);
        lua_rawset(L, lua_upvalueindex(1));
        w = &r->writes[r->nwrites];
        if (!(w->key = dup_bytes(key, klen)))
            return ll_vm_fail_host(L, LL_ENOMEM);
        w->key_len = klen;
        w->value = (ll_vm_value_t){.type = LL_VM_NIL};
        r->nwrites++;
    }
    if (v.type == LL_VM_STR && !(copy = dup_bytes(v.s, v.len)))
        return ll_vm_fail_host(L, LL_ENOMEM);
    free((char *)w->value.s);
    w->value = v;
    w->value.s = copy;
    return 0;
}

/* emit(name, value): appends {"name","value"} to the logs. name is a
 * string, value a string or an integer, both UTF-8 text (logs are JSON); at
 * most LL_VM_MAX_LOGS logs of LL_VM_MAX_LOG_BYTES (name + value, 8 for an
 * integer). Costs LL_VM_GAS_EMIT + those bytes. */
static int host_emit(lua_State *L)
{
    ll_vm_run_t *r = ll_vm_run_of(L);
    const char *name, *value = NULL;
    size_t nlen, vlen = 8;
    json_t *o;
    need_call(L, "emit");
    luaL_checktype(L, 1, LUA_TSTRING);
    name = lua_tolstring(L, 1, &nlen);
    if (lua_type(L, 2) == LUA_TSTRING)
        value = lua_tolstring(L, 2, &vlen);
    else if (!lua_isinteger(L, 2))
        return luaL_typeerror(L, 2, "string or integer");
    if (json_array_size(r->logs) >= LL_VM_MAX_LOGS)
        return luaL_error(L, "too many logs (at most %d)", LL_VM_MAX_LOGS);
    if (nlen + vlen > LL_VM_MAX_LOG_BYTES)
        return luaL_error(L, "log too large (at most %d bytes)", LL_VM_MAX_LOG_BYTES);
    ll_vm_charge(L, LL_VM_GAS_EMIT + ll_vm_bytes(nlen + vlen));
    if (!ll_vm_utf8_valid(name, nlen) || (value && !ll_vm_utf8_valid(value, vlen)))
        return luaL_error(L, "emit: name and value must be UTF-8 text");
    if (!(o = json_object()))
        return ll_vm_fail_host(L, LL_ENOMEM);
    if (json_object_set_new(o, "name", json_stringn(name, nlen)) < 0 ||
        json_object_set_new(o, "value",
                            value ? json_stringn(value, vlen) : json_integer(lua_tointeger(L, 2))) <
            0) {
        json_decref(o);
        return ll_vm_fail_host(L, LL_ENOMEM);
    }
    if (json_array_append_new(r->logs, o) < 0) /* steals o, even on failure */
        return ll_vm_fail_host(L, LL_ENOMEM);
    return 0;
}

/* ---- the environment ---------------------------------------------------------- */

static const char *const math_funcs[] = {
    "abs",  "ceil", "floor", "fmod", "log", "exp", "sqrt", "sin",       "cos",  "tan",
    "asin", "acos", "atan",  "modf", "deg", "rad", "ult",  "tointeger", "type", NULL,
};
static const char *const math_consts[] = {"huge", "pi", "maxinteger", "mininteger", NULL};

static void open_math(lua_State *L, int env)
{
    int src, dst;
    luaopen_math(L);
    src = lua_gettop(L);
    lua_newtable(L);
    dst = lua_gettop(L);
    for (int i = 0; math_funcs[i]; i++)
        ll_vm_wrap(L, dst, src, math_funcs[i], w_math);
    ll_vm_wrap(L, dst, src, "max", w_math_n);
    ll_vm_wrap(L, dst, src, "min", w_math_n);
    for (int i = 0; math_consts[i]; i++)
        ll_vm_copy(L, dst, src, math_consts[i]);
    lua_setfield(L, env, "math");
    lua_pop(L, 1);
}

static void open_host(lua_State *L, int env)
{
    lua_createtable(L, 0, 2);
    lua_newtable(L); /* key -> write slot, shared by get and set */
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, host_get, 1);
    lua_setfield(L, -3, "get");
    lua_pushcclosure(L, host_set, 1);
    lua_setfield(L, -2, "set");
    lua_setfield(L, env, "storage");
    lua_pushcfunction(L, host_emit);
    lua_setfield(L, env, "emit");
}

void ll_vm_open_sandbox(lua_State *L)
{
    int env, src;
    lua_newtable(L);
    env = lua_gettop(L);

    luaopen_base(L); /* fills (and pushes) the stock globals table */
    src = lua_gettop(L);
    ll_vm_copy(L, env, src, "assert");
    ll_vm_copy(L, env, src, "ipairs");
    ll_vm_wrap(L, env, src, "pcall", w_pcall);
    ll_vm_copy(L, env, src, "type");
    ll_vm_wrap(L, env, src, "error", w_error);
    ll_vm_wrap(L, env, src, "select", w_select);
    ll_vm_wrap(L, env, src, "tonumber", w_tonumber);
    lua_pushcfunction(L, sb_tostring);
    lua_setfield(L, env, "tostring");
    ll_vm_push_pairs(L);
    lua_setfield(L, env, "pairs");
    lua_pop(L, 1);

    open_math(L, env);
    luaopen_string(L);
    ll_vm_open_string(L, lua_gettop(L));
    lua_setfield(L, env, "string");
    lua_pop(L, 1);
    luaopen_table(L);
    ll_vm_open_table(L, lua_gettop(L));
    lua_setfield(L, env, "table");
    lua_pop(L, 1);
    open_host(L, env);

    /* The chunk's _ENV is whatever the registry calls the globals when it is
     * loaded; the stock globals table becomes garbage. */
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
}
