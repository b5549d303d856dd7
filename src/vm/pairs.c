/* vm/pairs.c: the contract's `pairs`, which visits keys in one order on
 * every node (numbers ascending, then strings by bytes) and whose work is
 * paid for by the gas of the run.
 *
 * Walking a table with lua_next scans every slot it has, live or not: a
 * table whose 100,000 keys were all set to nil still has 131,072 slots to
 * scan, and how many slots a table has depends on the hash seed when keys
 * come and go, so it cannot be charged. Instead, pairs scans a table once,
 * the first time it is given it, and from then on remembers its keys: the
 * table gets a metatable whose __newindex records each key added (a key
 * assigned while absent), and the next pairs finds the live keys among the
 * ones it remembered and the ones added, without scanning. The first scan
 * is paid by the insertions that made the table that big; each remembered
 * key is looked at until the pairs after its removal. Contracts cannot see
 * or change the metatable (no getmetatable / setmetatable).
 *
 * Costs, the same whichever way the keys were found: LL_VM_GAS_PAIRS, 1 per
 * live key (a key removed and added again since the last pairs of the table
 * counts twice), then
 * ceil(log2 n) * (n + bytes of all string keys) for sorting n keys (a bound
 * on the merge sort's comparisons and the bytes they can read, charged up
 * front: lua_next's order follows the random hash seed, and gas must not);
 * LL_VM_GAS_PAIRS_NEWKEY for each key added to a table pairs has seen.
 * Keys that are neither numbers nor strings are an error (they have no
 * order every node agrees on). */
#include "vm/internal.h"

#include <math.h>
#include <string.h>

/* What pairs remembers of a table (the weak cache's value): keys 1..n of
 * its user value, sorted when the last pairs made it, then the keys added
 * since, n+1..n+added. */
typedef struct snap {
    size_t n, added;
} snap_t;

/* One key being sorted; strings point into the candidates table, which
 * keeps them alive. */
typedef struct pkey {
    int is_str;
    int is_int;
    union {
        lua_Integer i;
        lua_Number n;
    } v;
    const char *s;
    size_t len;
} pkey_t;

/* -1, 0, 1 as integer i compares with float f (never NaN: not a key). */
static int cmp_int_float(lua_Integer i, lua_Number f)
{
    lua_Number fl;
    if (f >= 9223372036854775808.0)
        return -1;
    if (f < -9223372036854775808.0)
        return 1;
    fl = floor(f);
    if (i != (lua_Integer)fl)
        return i < (lua_Integer)fl ? -1 : 1;
    return fl == f ? 0 : -1;
}

/* Pure: pairs paid for the whole sort before it started. */
static int pkey_less(lua_State *L, void *arg, size_t x, size_t y)
{
    const pkey_t *a = (const pkey_t *)arg + x, *b = (const pkey_t *)arg + y;
    size_t touched = 0;
    int c;
    (void)L;
    if (a->is_str != b->is_str)
        c = a->is_str - b->is_str; /* numbers before strings */
    else if (a->is_str)
        c = ll_vm_cmp_bytes(a->s, a->len, b->s, b->len, &touched);
    else if (a->is_int && b->is_int)
        c = a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
    else if (!a->is_int && !b->is_int)
        c = a->v.n < b->v.n ? -1 : a->v.n > b->v.n;
    else
        c = a->is_int ? cmp_int_float(a->v.i, b->v.n) : -cmp_int_float(b->v.i, a->v.n);
    return c < 0;
}

/* The iterator (upvalues: the table, its sorted keys, the position, how
 * many): the next key still present in the table, and its value. Keys
 * added during the walk are not visited (the keys table is what pairs
 * remembers, and grows as keys are added); keys removed are skipped. */
static int pairs_next(lua_State *L)
{
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
    lua_Integer n = lua_tointeger(L, lua_upvalueindex(4));
    while (pos < n) {
        lua_rawgeti(L, lua_upvalueindex(2), ++pos);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
            lua_pushinteger(L, pos);
            lua_replace(L, lua_upvalueindex(3));
            return 2;
        }
        lua_pop(L, 2);
    }
    lua_pushinteger(L, pos);
    lua_replace(L, lua_upvalueindex(3));
    return 0;
}

/* __newindex of a table pairs has seen (upvalue 1: the cache): sets the key
 * as an assignment would, and remembers it. The checks Lua makes before it
 * inserts a key are made first, so the error names the contract's line. */
static int pairs_newkey(lua_State *L)
{
    lua_settop(L, 3);
    if (lua_isnil(L, 2))
        return luaL_error(L, "index is nil");
    if (lua_type(L, 2) == LUA_TNUMBER && isnan(lua_tonumber(L, 2)))
        return luaL_error(L, "index is NaN");
    if (lua_isnil(L, 3))
        return 0; /* assigning nil to an absent key changes nothing */
    ll_vm_charge(L, LL_VM_GAS_PAIRS_NEWKEY);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, 1);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TUSERDATA) {
        snap_t *s = lua_touserdata(L, -1);
        lua_getiuservalue(L, -1, 1);
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, (lua_Integer)(s->n + ++s->added));
    }
    return 0;
}

/* cache[table 1] = what pairs remembers: keys 1..n (sorted) and n+1..n+added
 * of the table at index keys. */
static void remember(lua_State *L, int keys, size_t n, size_t added)
{
    snap_t *s = lua_newuserdatauv(L, sizeof *s, 1);
    s->n = n;
    s->added = added;
    lua_pushvalue(L, keys);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_rawset(L, lua_upvalueindex(1));
}

/* The sort's charge for n keys with `bytes` bytes of string keys. */
static void charge_sort(lua_State *L, size_t n, uint64_t bytes)
{
    uint64_t passes = 0;
    while (passes < 64 && ((size_t)1 << passes) < n)
        passes++;
    if (passes)
        ll_vm_charge(L, ll_vm_bytes(passes * (uint64_t)n + passes * bytes));
}

/* Returns the iterator for table 1 over the n sorted keys at index keys. */
static int iterate(lua_State *L, int keys, size_t n)
{
    lua_pushvalue(L, 1);
    lua_pushvalue(L, keys);
    lua_pushinteger(L, 0);
    lua_pushinteger(L, (lua_Integer)n);
    lua_pushcclosure(L, pairs_next, 4);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Table 1 unchanged but for removals since the pairs that sorted keys 1..n
 * of the table at index 3: its live keys are those, in the same order. */
static int walk_sorted(lua_State *L, size_t n)
{
    size_t live = 0;
    uint64_t bytes = 0;
    int keys = 3;
    for (size_t i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, 3, (lua_Integer)i);
        if (lua_rawget(L, 1) != LUA_TNIL) {
            live++;
            if (t == LUA_TSTRING) {
                lua_rawgeti(L, 3, (lua_Integer)i);
                bytes += lua_rawlen(L, -1);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    ll_vm_charge(L, ll_vm_bytes(live));
    charge_sort(L, live, bytes);
    if (live < n) { /* remember the live ones only */
        size_t m = 0;
        lua_createtable(L, live < 1u << 20 ? (int)live : 1 << 20, 0);
        keys = lua_gettop(L);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, 3, (lua_Integer)i);
            lua_pushvalue(L, -1);
            if (lua_rawget(L, 1) == LUA_TNIL) {
                lua_pop(L, 2);
                continue;
            }
            lua_pop(L, 1);
            lua_rawseti(L, keys, (lua_Integer)++m);
        }
        remember(L, keys, m, 0);
    }
    return iterate(L, keys, live);
}

/* The general case: ncand candidate keys at index 3 (remembered, added, or
 * all of a first scan); the live ones are sorted, and remembered. */
static int walk_candidates(lua_State *L, size_t ncand)
{
    size_t n = 0, uniq = 0;
    uint64_t bytes = 0;
    int bad = 0, live, sorted;
    pkey_t *keys;
    size_t *order;
    lua_createtable(L, ncand < 1u << 20 ? (int)ncand : 1 << 20, 0); /* the live keys, 1..n */
    live = lua_gettop(L);
    for (size_t i = 1; i <= ncand; i++) {
        int t = lua_rawgeti(L, 3, (lua_Integer)i);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, 1) == LUA_TNIL) { /* removed since */
            lua_pop(L, 2);
            continue;
        }
        lua_pop(L, 1);
        if (t == LUA_TSTRING)
            bytes += lua_rawlen(L, -1);
        else if (t != LUA_TNUMBER)
            bad = 1;
        lua_rawseti(L, live, (lua_Integer)++n);
    }
    ll_vm_charge(L, ll_vm_bytes(n));
    if (bad) {
        remember(L, 3, 0, ncand); /* the next pairs will not scan again */
        return luaL_error(L, "pairs: keys must be numbers or strings");
    }
    charge_sort(L, n, bytes);
    keys = lua_newuserdatauv(L, n * (sizeof(pkey_t) + 2 * sizeof(size_t)) + 1, 0);
    order = (size_t *)(keys + n);
    for (size_t i = 0; i < n; i++) {
        pkey_t *k = &keys[i];
        lua_rawgeti(L, live, (lua_Integer)i + 1);
        k->is_str = lua_type(L, -1) == LUA_TSTRING;
        k->is_int = lua_isinteger(L, -1);
        if (k->is_str)
            k->s = lua_tolstring(L, -1, &k->len); /* the live table holds the string */
        else if (k->is_int)
            k->v.i = lua_tointeger(L, -1);
        else
            k->v.n = lua_tonumber(L, -1);
        lua_pop(L, 1);
        order[i] = i;
    }
    ll_vm_sort(L, order, order + n, n, pkey_less, keys);
    /* A key removed and added again since the last pairs is a candidate
     * twice; sorted, the two are side by side, and one is dropped. */
    lua_createtable(L, n < 1u << 20 ? (int)n : 1 << 20, 0);
    sorted = lua_gettop(L);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !pkey_less(L, keys, order[i - 1], order[i]))
            continue;
        lua_rawgeti(L, live, (lua_Integer)order[i] + 1);
        lua_rawseti(L, sorted, (lua_Integer)++uniq);
    }
    remember(L, sorted, uniq, 0);
    return iterate(L, sorted, uniq);
}

/* pairs(t): the live keys of t, sorted. */
static int sb_pairs(lua_State *L)
{
    size_t n = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    ll_vm_charge(L, LL_VM_GAS_PAIRS);
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TUSERDATA) { /* 2: remembered */
        snap_t *s = lua_touserdata(L, 2);
        lua_getiuservalue(L, 2, 1); /* 3 */
        return s->added ? walk_candidates(L, s->n + s->added) : walk_sorted(L, s->n);
    }
    lua_newtable(L); /* 3: a first scan */
    lua_pushnil(L);
    while (lua_next(L, 1)) { /* lua_next's order: only counts may depend on it */
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 3, (lua_Integer)++n);
    }
    if (!lua_getmetatable(L, 1)) { /* contracts cannot set one: the table is ours to mark */
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_setmetatable(L, 1);
    } else {
        lua_pop(L, 1);
    }
    return walk_candidates(L, n);
}

void ll_vm_push_pairs(lua_State *L)
{
    lua_newtable(L); /* the cache: table -> snap, weak keys */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, 1); /* the metatable of the tables pairs has seen */
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, pairs_newkey, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushcclosure(L, sb_pairs, 2);
}
