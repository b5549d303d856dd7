/* vm/vm.c: one contract run from source to result (API.md §6). The ledger
 * thread calls ll_vm_deploy / ll_vm_call while it builds a block. Each run
 * gets a fresh Lua state: its allocator holds the state to
 * LL_VM_MAX_MEMORY, and a count hook (meter.c) charges every VM
 * instruction. Everything after lua_newstate runs under one lua_pcall, so
 * Lua's panic handler is never reached. sandbox.c, strlib.c, pattern.c and
 * tablib.c build what the contract can see.
 *
 * Gas, all of it deterministic (the same code, inputs and storage give the
 * same number on every node):
 *   - 1 per VM instruction, plus what meter.c charges for the ones whose
 *     work grows with their operands (VARARGPREP, the first instruction of
 *     a vararg function such as the main chunk, is not hooked by Lua and so
 *     is free);
 *   - each new string of LL_VM_GAS_STRING_MIN bytes of allocation or more
 *     (its length + Lua's 25-byte header) costs 1 per byte of that
 *     allocation, whatever creates it (`..`, a library function), while
 *     contract code runs. This is what meters `big .. "x"` in a loop: one
 *     instruction that copies megabytes. Shorter strings are interned by Lua
 *     (whether one is new depends on the collector), so they stay free;
 *   - storage, emit and library costs, charged where they happen.
 * Loading the source, building ctx and the arguments are free. */
#include "util/err.h"
#include "util/hex.h"
#include "vm/internal.h"
#include "vm/opcode.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#define BAD_SHAPE "deploy must return a table of functions keyed by integer selectors"

/* The error value raised for an aborted run; its address is the point. */
static const char abort_sentinel = 0;

/* ---- the run: gas and aborts --------------------------------------------- */

ll_vm_run_t *ll_vm_run_of(lua_State *L)
{
    return *(ll_vm_run_t **)lua_getextraspace(L);
}

int ll_vm_raise(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&abort_sentinel);
    return lua_error(L);
}

static void out_of_gas(ll_vm_run_t *r)
{
    if (r->abort == LL_VM_RUNNING) {
        r->abort = LL_VM_ABORT_GAS;
        r->gas_used = r->gas_limit;
    }
}

void ll_vm_charge(lua_State *L, uint64_t n)
{
    ll_vm_run_t *r = ll_vm_run_of(L);
    if (r->abort == LL_VM_RUNNING && n <= r->gas_limit - r->gas_used && !ll_vm_interrupted()) {
        r->gas_used += n;
        return;
    }
    if (ll_vm_interrupted())
        ll_vm_fail_host(L, LL_ECANCELED);
    out_of_gas(r);
    ll_vm_raise(L);
}

/* ---- the self-test ----------------------------------------------------------- */

static pthread_once_t selftest_once = PTHREAD_ONCE_INIT;
static int selftest_rc;

static void run_selftest(void)
{
    selftest_rc = ll_vm_op_selftest() == 0 ? 0 : LL_EINTERNAL;
}

int ll_vm_selftest(void)
{
    pthread_once(&selftest_once, run_selftest);
    return selftest_rc;
}

int ll_vm_fail_host(lua_State *L, int err)
{
    ll_vm_run_t *r = ll_vm_run_of(L);
    if (r->abort == LL_VM_RUNNING) {
        r->abort = LL_VM_ABORT_HOST;
        r->host_err = err;
    }
    return ll_vm_raise(L);
}

/* The gas for a new object of type tag `type` and nsize bytes made while
 * contract code runs (vectors - stacks, table parts, buffers - come with
 * tag 0 and cost nothing here). Which objects a run makes is a function of
 * its code and inputs, except for short strings: Lua interns them, and
 * whether one is new depends on when the collector last ran. */
static uint64_t object_gas(size_t type, size_t nsize)
{
    switch (type) {
    case LUA_TSTRING:
        if (nsize >= LL_VM_GAS_STRING_MIN)
            return ll_vm_bytes(nsize);
        return nsize > LL_VM_SHORT_STRING + 25 ? LL_VM_GAS_OBJECT : 0;
    case LUA_TTABLE:
    case LUA_TFUNCTION:
    case LUA_TUSERDATA:
    case LUA_NUMTYPES: /* an upvalue: LUA_TUPVAL in Lua 5.4 (vm/opcode.h pins 5.4.4) */
        return LL_VM_GAS_OBJECT;
    default:
        return 0;
    }
}

/* Lua's allocator for one run. Shrinking never fails (Lua relies on it);
 * growing fails past the memory cap (the run aborts: "out of memory"),
 * after any abort (so error handling cannot allocate its way on), and when
 * the process itself is out of memory (a host failure). */
static void *on_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ll_vm_run_t *r = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is the object's type */
    uint64_t gas;
    void *p;
    if (nsize == 0) {
        free(ptr);
        r->mem -= old;
        return NULL;
    }
    if (nsize > old) {
        if (r->abort != LL_VM_RUNNING)
            return NULL;
        if (nsize - old > (size_t)LL_VM_MAX_MEMORY - r->mem) {
            r->abort = LL_VM_ABORT_MEMORY;
            return NULL;
        }
        if (!ptr && r->metering && (gas = object_gas(osize, nsize)) != 0) {
            if (gas > r->gas_limit - r->gas_used) {
                out_of_gas(r);
                return NULL;
            }
            r->gas_used += gas;
        }
    }
    if (!(p = realloc(ptr, nsize))) {
        if (nsize <= old)
            return ptr; /* the old block still holds nsize bytes; its surplus stays counted */
        r->abort = LL_VM_ABORT_HOST;
        r->host_err = LL_ENOMEM;
        return NULL;
    }
    r->mem = r->mem - old + nsize;
    return p;
}

/* ---- running a chunk ------------------------------------------------------ */

typedef struct job {
    ll_vm_run_t *run;
    const char *code;
    size_t len;
    int is_call;
    int64_t selector;
    const json_t *args;
    const char *fail; /* a failure decided without a Lua error (static text) */
    char fail_buf[64];
    uint8_t *ret;
    size_t ret_len;
} job_t;

/* The deploy shape: a table whose keys are all integers and whose values
 * are all functions. lua_next's order does not matter for a yes/no. */
static int has_selector_shape(lua_State *L, int t)
{
    if (!lua_istable(L, t))
        return 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int ok = lua_isinteger(L, -2) && lua_type(L, -1) == LUA_TFUNCTION;
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

static void push_ctx(lua_State *L, const ll_vm_ctx_t *ctx)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, ctx->sender ? ctx->sender : "");
    lua_setfield(L, -2, "sender");
    lua_pushinteger(L, (lua_Integer)ctx->amount);
    lua_setfield(L, -2, "amount");
    lua_pushinteger(L, (lua_Integer)ctx->height);
    lua_setfield(L, -2, "height");
    lua_pushstring(L, ctx->contract ? ctx->contract : "");
    lua_setfield(L, -2, "contract");
}

/* Pushes the JSON arguments as Lua integers and strings; returns how many,
 * or -1 with j->fail set. */
static int push_args(lua_State *L, job_t *j)
{
    size_t i, n;
    if (!j->args)
        return 0;
    if (!json_is_array(j->args)) {
        j->fail = "bad argument";
        return -1;
    }
    if ((n = json_array_size(j->args)) > LL_VM_MAX_ARGS) {
        j->fail = "too many arguments";
        return -1;
    }
    luaL_checkstack(L, (int)n, NULL);
    for (i = 0; i < n; i++) {
        const json_t *a = json_array_get(j->args, i);
        if (json_is_integer(a)) {
            lua_pushinteger(L, (lua_Integer)json_integer_value(a));
        } else if (json_is_string(a) && json_string_length(a) <= LL_VM_MAX_ARG_BYTES) {
            lua_pushlstring(L, json_string_value(a), json_string_length(a));
        } else {
            j->fail = json_is_string(a) ? "argument too large" : "bad argument";
            return -1;
        }
    }
    return (int)n;
}

/* API.md §6: an integer is a 32-byte big-endian two's-complement word,
 * true/false the words 1/0, a string its bytes, nil nothing. */
static void encode_return(lua_State *L, job_t *j)
{
    uint8_t word[32];
    const uint8_t *src = word;
    size_t len = 0;
    switch (lua_type(L, -1)) {
    case LUA_TNIL:
        return;
    case LUA_TBOOLEAN:
    case LUA_TNUMBER: {
        uint64_t v;
        if (lua_type(L, -1) == LUA_TBOOLEAN)
            v = (uint64_t)lua_toboolean(L, -1);
        else if (lua_isinteger(L, -1))
            v = (uint64_t)lua_tointeger(L, -1);
        else {
            j->fail = "unsupported return type";
            return;
        }
        memset(word, (int64_t)v < 0 ? 0xff : 0, 24);
        for (int i = 0; i < 8; i++)
            word[31 - i] = (uint8_t)(v >> (8 * i));
        len = sizeof word;
        break;
    }
    case LUA_TSTRING:
        src = (const uint8_t *)lua_tolstring(L, -1, &len);
        if (len > LL_VM_MAX_RETURN) {
            j->fail = "return data too large";
            return;
        }
        break;
    default:
        j->fail = "unsupported return type";
        return;
    }
    if (len == 0)
        return;
    if (!(j->ret = malloc(len))) {
        ll_vm_run_t *r = j->run;
        r->abort = LL_VM_ABORT_HOST;
        r->host_err = LL_ENOMEM;
        return;
    }
    memcpy(j->ret, src, len);
    j->ret_len = len;
}

/* The whole run, under the one lua_pcall of run(). Lua errors propagate to
 * it; failures that are not errors set j->fail. */
static int protected_main(lua_State *L)
{
    job_t *j = lua_touserdata(L, 1);
    ll_vm_run_t *r = j->run;
    int nargs;
    ll_vm_open_sandbox(L);
    ll_vm_charge(L, LL_VM_GAS_CODE_BYTE * (uint64_t)j->len); /* what the parser will read */
    if (luaL_loadbufferx(L, j->code, j->len, "=contract", "t") != LUA_OK)
        return lua_error(L); /* the syntax error's message, as Lua wrote it */
    r->metering = 1;
    lua_call(L, 0, 1);
    r->metering = 0;
    if (!j->is_call) {
        if (!has_selector_shape(L, lua_gettop(L)))
            j->fail = BAD_SHAPE;
        return 0;
    }
    if (!lua_istable(L, -1)) {
        j->fail = BAD_SHAPE;
        return 0;
    }
    if (lua_rawgeti(L, -1, (lua_Integer)j->selector) != LUA_TFUNCTION) {
        snprintf(j->fail_buf, sizeof j->fail_buf, "unknown selector %" PRId64, j->selector);
        j->fail = j->fail_buf;
        return 0;
    }
    push_ctx(L, r->ctx);
    if ((nargs = push_args(L, j)) < 0)
        return 0;
    r->metering = r->in_call = 1;
    lua_call(L, 1 + nargs, 1);
    r->metering = r->in_call = 0;
    encode_return(L, j);
    return 0;
}

static const char *abort_text(ll_vm_abort_t a)
{
    switch (a) {
    case LL_VM_ABORT_GAS:
        return "out of gas";
    case LL_VM_ABORT_MEMORY:
        return "out of memory";
    default:
        return "internal error";
    }
}

/* A receipt's error text: at most LL_VM_MAX_ERROR bytes of valid UTF-8 (it
 * goes into JSON), each byte that is not part of valid UTF-8 (or is NUL)
 * replaced by U+FFFD, cut only between characters. */
static char *error_text(const char *s, size_t len)
{
    char *out = malloc(LL_VM_MAX_ERROR + 1);
    size_t o = 0, i = 0;
    if (!out)
        return NULL;
    while (i < len) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xc0)
            n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c == 0 || (c >= 0x80 && c < 0xc0) || i + n > len || !ll_vm_utf8_valid(s + i, n)) {
            if (o + 3 > LL_VM_MAX_ERROR)
                break;
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        if (o + n > LL_VM_MAX_ERROR)
            break;
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

static void free_writes(ll_vm_write_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(w[i].key);
        free((char *)w[i].value.s);
    }
    free(w);
}

/* Runs job j and fills *out (a success or a failed receipt). Returns 0,
 * LL_ENOMEM, or the storage callback's error: then *out is a failure that
 * must not become a receipt, but still needs ll_vm_result_free. */
static int run(job_t *j, uint64_t gas_limit, const ll_vm_ctx_t *ctx, ll_vm_result_t *out)
{
    ll_vm_run_t r = {.gas_limit = gas_limit, .ctx = ctx, .deadline_ns = ll_vm_deadline_from_now()};
    const char *fail = NULL;
    lua_State *L = NULL;
    int status, rc = 0;

    memset(out, 0, sizeof *out);
    j->run = &r;
    if ((rc = ll_vm_selftest()) < 0 || (ll_vm_interrupted() && (rc = LL_ECANCELED)))
        return rc;
    if (!(r.logs = json_array()))
        return LL_ENOMEM;
    if (!j->code || j->len > LL_VM_MAX_CODE)
        fail = "code too large";
    else if (gas_limit > LL_VM_MAX_GAS)
        fail = "gas limit too large";
    if (fail)
        goto done;
    if (!(L = lua_newstate(on_alloc, &r))) {
        rc = LL_ENOMEM;
        goto done;
    }
    *(ll_vm_run_t **)lua_getextraspace(L) = &r;
    lua_sethook(L, ll_vm_on_instruction, LUA_MASKCOUNT, 1);
    lua_pushcfunction(L, protected_main);
    lua_pushlightuserdata(L, j);
    status = lua_pcall(L, 1, 0, 0);
    r.metering = r.in_call = 0;

    if (r.abort != LL_VM_RUNNING) {
        fail = abort_text(r.abort);
        if (r.abort == LL_VM_ABORT_HOST)
            rc = r.host_err;
    } else if (status != LUA_OK) {
        size_t len;
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (msg && !(out->error = error_text(msg, len)))
            rc = LL_ENOMEM;
        fail = "error";
    } else {
        fail = j->fail;
    }
done:
    out->gas_used = r.gas_used;
    if (rc == 0 && !fail) {
        out->success = 1;
        out->return_data = j->ret;
        out->return_len = j->ret_len;
        out->writes = r.writes;
        out->nwrites = r.nwrites;
        out->logs = r.logs;
        j->ret = NULL;
        r.writes = NULL;
        r.nwrites = 0;
        r.logs = NULL;
    } else {
        if (!out->error && !(out->error = error_text(fail ? fail : "internal error",
                                                     strlen(fail ? fail : "internal error"))))
            rc = LL_ENOMEM;
        json_array_clear(r.logs); /* a failure reverts its logs and writes */
        out->logs = r.logs;
        r.logs = NULL;
    }
    if (L)
        lua_close(L); /* only frees: Lua's allocator never fails a free */
    free_writes(r.writes, r.nwrites);
    free(j->ret);
    j->ret = NULL;
    return rc;
}

/* ---- the API ---------------------------------------------------------------- */

int ll_vm_deploy(const char *code, size_t len, uint64_t gas_limit, ll_vm_result_t *out)
{
    job_t j = {.code = code, .len = len};
    return run(&j, gas_limit, NULL, out);
}

int ll_vm_call(const char *code, size_t len, int64_t selector, const json_t *args,
               const ll_vm_ctx_t *ctx, uint64_t gas_limit, ll_vm_result_t *out)
{
    static const ll_vm_ctx_t no_ctx = {0};
    job_t j = {.code = code, .len = len, .is_call = 1, .selector = selector, .args = args};
    return run(&j, gas_limit, ctx ? ctx : &no_ctx, out);
}

void ll_vm_result_free(ll_vm_result_t *r)
{
    if (!r)
        return;
    free(r->error);
    free(r->return_data);
    json_decref(r->logs);
    free_writes(r->writes, r->nwrites);
    memset(r, 0, sizeof *r);
}

char *ll_vm_return_hex(const ll_vm_result_t *r)
{
    char *hex = malloc(2 * r->return_len + 1);
    if (!hex)
        return NULL;
    hex[0] = '\0';
    if (r->return_len)
        ll_hex_encode(r->return_data, r->return_len, hex);
    return hex;
}
