/* tests/unit/vm_harness.h: the runs, fake storage and result checks that
 * test_vm.c and test_vm_sandbox.c share, in one header because CMake builds
 * each tests/unit/test_*.c as its own program and links nothing but ll_core
 * and cmocka. Everything here is a type, a static const, or a static inline
 * function, so each program has its own copy.
 *
 *   store_t, store_get,        a contract's committed storage as the ledger
 *   store_apply                would keep it: the storage_get callback a run
 *                              reads through, and a result's writes applied
 *   SENDER, CONTRACT           the context every call runs with
 *   call_full, call_ok         ll_vm_call with JSON-text args: its code and
 *                              result, or a result asserted successful
 *   ret_str, word_value        return data as text, or as a 32-byte integer
 *   expect_text                selector 1 returns exactly this text
 *   expect_failure             selector 1 fails cleanly with this error text
 *
 * Owns:    nothing; each test owns its store_t and frees its results.
 * Frees:   the caller, with ll_vm_result_free(), for every result it is
 *          handed; expect_text() and expect_failure() free their own.
 * Threads: the test thread only: cmocka's assertions longjmp, and ret_str()
 *          returns a static buffer.
 *
 * cmocka.h uses jmp_buf, va_list, size_t and uintmax_t without including
 * their headers, so they come first here as in every test file. */
#ifndef LL_TESTS_UNIT_VM_HARNESS_H
#define LL_TESTS_UNIT_VM_HARNESS_H

#include "util/err.h"
#include "vm/vm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- storage ------------------------------------------------------------------ */

/* A contract's committed storage, as the ledger would keep it. */
typedef struct kv {
    char key[64];
    size_t klen;
    ll_vm_value_t v;
    char sval[512];
} kv_t;

typedef struct store {
    kv_t e[64];
    size_t n;
    int fail;  /* storage_get answers this error when non-zero */
    int reads; /* storage_get calls */
} store_t;

static inline kv_t *store_find(store_t *st, const char *key, size_t klen)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->e[i].klen == klen && memcmp(st->e[i].key, key, klen) == 0)
            return &st->e[i];
    return NULL;
}

static inline int store_get(void *arg, const char *key, size_t klen, ll_vm_value_t *out)
{
    store_t *st = arg;
    kv_t *e;
    st->reads++;
    if (st->fail)
        return st->fail;
    e = store_find(st, key, klen);
    *out = e ? e->v : (ll_vm_value_t){.type = LL_VM_NIL};
    if (e && e->v.type == LL_VM_STR)
        out->s = e->sval;
    return 0;
}

/* Applies a successful result's writes in order (LL_VM_NIL deletes). */
static inline void store_apply(store_t *st, const ll_vm_result_t *r)
{
    for (size_t i = 0; i < r->nwrites; i++) {
        const ll_vm_write_t *w = &r->writes[i];
        kv_t *e = store_find(st, w->key, w->key_len);
        if (w->value.type == LL_VM_NIL) {
            if (e)
                *e = st->e[--st->n];
            continue;
        }
        if (!e) {
            assert_true(st->n < 64 && w->key_len < sizeof e->key);
            e = &st->e[st->n++];
            memcpy(e->key, w->key, w->key_len);
            e->klen = w->key_len;
        }
        e->v = w->value;
        if (w->value.type == LL_VM_STR) {
            assert_true(w->value.len < sizeof e->sval);
            memcpy(e->sval, w->value.s, w->value.len);
            e->v.s = NULL;
        }
    }
}

/* ---- runs and their results --------------------------------------------------- */

static const char SENDER[] = "0123456789abcdef0123456789abcdef";
static const char CONTRACT[] = "00112233445566778899aabbccddeeff00112233";

/* Runs selector of code with args (JSON text, NULL for none) against st
 * (may be NULL). Returns ll_vm_call's code; the result is in *r. */
static inline int call_full(const char *code, int64_t selector, const char *args, store_t *st,
                            uint64_t gas, ll_vm_result_t *r)
{
    ll_vm_ctx_t ctx = {SENDER, 250, 42, CONTRACT, st ? store_get : NULL, st};
    json_t *a = args ? json_loads(args, JSON_DECODE_ANY, NULL) : NULL;
    int rc;
    if (args)
        assert_non_null(a);
    rc = ll_vm_call(code, strlen(code), selector, a, &ctx, gas, r);
    json_decref(a);
    return rc;
}

static inline void call_ok(const char *code, int64_t selector, const char *args, store_t *st,
                           ll_vm_result_t *r)
{
    assert_int_equal(call_full(code, selector, args, st, 1000000, r), 0);
    if (!r->success)
        fail_msg("call failed: %s", r->error ? r->error : "(null)");
}

/* The call's return data as a NUL-terminated string (tests return text). */
static inline char *ret_str(const ll_vm_result_t *r)
{
    static char buf[8192];
    assert_true(r->return_len < sizeof buf);
    memcpy(buf, r->return_data ? (const char *)r->return_data : "", r->return_len);
    buf[r->return_len] = '\0';
    return buf;
}

/* Calls selector 1 and expects its string return. */
static inline void expect_text(const char *code, const char *want)
{
    ll_vm_result_t r;
    call_ok(code, 1, NULL, NULL, &r);
    assert_string_equal(ret_str(&r), want);
    ll_vm_result_free(&r);
}

/* Calls selector 1 (gas: limit) and expects a failure whose error contains
 * want; returns the gas used. */
static inline uint64_t expect_failure(const char *code, uint64_t gas, const char *want)
{
    ll_vm_result_t r;
    uint64_t used;
    assert_int_equal(call_full(code, 1, NULL, NULL, gas, &r), 0);
    assert_false(r.success);
    assert_non_null(r.error);
    if (!strstr(r.error, want))
        fail_msg("error \"%s\" does not contain \"%s\"", r.error, want);
    assert_int_equal(r.nwrites, 0);
    assert_null(r.writes);
    assert_non_null(r.logs);
    assert_int_equal(json_array_size(r.logs), 0);
    assert_null(r.return_data);
    assert_true(r.gas_used <= gas);
    used = r.gas_used;
    ll_vm_result_free(&r);
    return used;
}

/* The call's return data as one 32-byte big-endian word (integers, booleans). */
static inline int64_t word_value(const ll_vm_result_t *r)
{
    uint64_t v = 0;
    assert_int_equal(r->return_len, 32);
    for (int i = 24; i < 32; i++)
        v = (v << 8) | r->return_data[i];
    return (int64_t)v;
}

#endif
