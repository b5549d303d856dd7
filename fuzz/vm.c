/* fuzz/vm.c: the Lua sandbox (src/vm/vm.h) on random chunks and arguments.
 *
 * Input: a Lua chunk, then optionally a NUL byte and what follows it: its
 * first byte is the selector (a signed byte; 0 deploys instead of calling),
 * the rest a JSON array of call arguments (anything else: no arguments).
 * Each input runs twice under a gas limit of 200,000, and both runs must
 * agree on everything a receipt holds (success, gas used, error text,
 * return data, logs, storage writes): a run is a pure function of its
 * input, or two nodes would disagree. Storage reads answer from a fixed,
 * key-derived fake store. No crash, no sanitizer report, no leak. */
#include "util/err.h"
#include "vm/vm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GAS_LIMIT 200000

/* Deterministic storage: a key's value depends on its bytes only. Keys
 * ending in 'n' are absent, in 'i' an integer, others a string. */
static int storage_get(void *arg, const char *key, size_t len, ll_vm_value_t *out)
{
    static char val[64];
    (void)arg;
    memset(out, 0, sizeof *out);
    if (len == 0 || key[len - 1] == 'n') {
        out->type = LL_VM_NIL;
    } else if (key[len - 1] == 'i') {
        out->type = LL_VM_INT;
        out->i = (int64_t)len * 1000003 - 7;
    } else {
        size_t n = len < sizeof val ? len : sizeof val;
        for (size_t i = 0; i < n; i++)
            val[i] = key[n - 1 - i];
        out->type = LL_VM_STR;
        out->s = val;
        out->len = n;
    }
    return 0;
}

static int same_value(const ll_vm_value_t *a, const ll_vm_value_t *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == LL_VM_INT)
        return a->i == b->i;
    if (a->type == LL_VM_STR)
        return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
    return 1;
}

static int same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_same(const ll_vm_result_t *a, const ll_vm_result_t *b)
{
    if (a->success != b->success || a->gas_used != b->gas_used)
        __builtin_trap();
    if (!a->error != !b->error || (a->error && strcmp(a->error, b->error) != 0))
        __builtin_trap();
    if (!same_bytes(a->return_data, a->return_len, b->return_data, b->return_len))
        __builtin_trap();
    if (!a->logs != !b->logs || (a->logs && !json_equal(a->logs, b->logs)))
        __builtin_trap();
    if (a->nwrites != b->nwrites)
        __builtin_trap();
    for (size_t i = 0; i < a->nwrites; i++)
        if (!same_bytes(a->writes[i].key, a->writes[i].key_len, b->writes[i].key,
                        b->writes[i].key_len) ||
            !same_value(&a->writes[i].value, &b->writes[i].value))
            __builtin_trap();
    /* The limits every receipt keeps (vm.h). */
    if (a->gas_used > GAS_LIMIT || a->return_len > LL_VM_MAX_RETURN ||
        (a->error && strlen(a->error) > LL_VM_MAX_ERROR))
        __builtin_trap();
    if (a->success && a->error)
        __builtin_trap();
}

static int run(const char *code, size_t len, int selector, const json_t *args,
               ll_vm_result_t *out)
{
    static const ll_vm_ctx_t ctx = {
        .sender = "139e3940e64b5491722088d9a0d74162",
        .amount = 5,
        .height = 42,
        .contract = "00112233445566778899aabbccddeeff00112233",
        .storage_get = storage_get,
    };
    memset(out, 0, sizeof *out);
    if (selector == 0)
        return ll_vm_deploy(code, len, GAS_LIMIT, out);
    return ll_vm_call(code, len, selector, args, &ctx, GAS_LIMIT, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t code_len = nul ? (size_t)(nul - data) : size;
    int selector = 1;
    json_t *args = NULL;
    if (code_len > LL_VM_MAX_CODE)
        return 0; /* refused at admission, never run */
    if (nul && nul + 1 < data + size) {
        selector = (int8_t)nul[1];
        json_error_t err;
        args = json_loadb((const char *)nul + 2, size - code_len - 2, 0, &err);
        if (args && !json_is_array(args)) {
            json_decref(args);
            args = NULL;
        }
    }
    if (!args)
        args = json_array();
    ll_vm_result_t r1, r2;
    int rc1 = run((const char *)data, code_len, selector, args, &r1);
    int rc2 = run((const char *)data, code_len, selector, args, &r2);
    if (rc1 != rc2)
        __builtin_trap();
    if (rc1 == 0)
        check_same(&r1, &r2);
    ll_vm_result_free(&r1);
    ll_vm_result_free(&r2);
    json_decref(args);
    return 0;
}
