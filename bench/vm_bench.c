/* bench/vm_bench.c: the ll_vm_bench driver behind bench/worst_contract.py.
 * Runs one contract through vm.h (a deploy, or a call of selector 1 after
 * the chunk) and prints one JSON line per run: gas used, outcome, wall and
 * CPU seconds, and wall nanoseconds per gas. Storage reads answer nil.
 *
 *   ll_vm_bench [--call [--selector N]] [--gas N] [--runs N] [--args JSON] FILE|-
 *
 * Owns:    nothing beyond one run's result. Threads: the main thread. */
#include "vm/vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int no_storage(void *arg, const char *key, size_t key_len, ll_vm_value_t *out)
{
    (void)arg;
    (void)key;
    (void)key_len;
    *out = (ll_vm_value_t){.type = LL_VM_NIL};
    return 0;
}

static double clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f)
        return NULL;
    do {
        if (n == cap) {
            char *grown = realloc(buf, cap = cap ? 2 * cap : 65536);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    static const char sender[] = "0123456789abcdef0123456789abcdef";
    static const char contract[] = "00112233445566778899aabbccddeeff00112233";
    ll_vm_ctx_t ctx = {sender, 0, 1, contract, no_storage, NULL};
    uint64_t gas = LL_VM_MAX_GAS;
    int call = 0, runs = 1, rc = 1;
    int64_t selector = 1;
    const char *path = NULL, *args_text = "[]";
    json_t *args = NULL;
    char *code = NULL;
    size_t len = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--call") == 0)
            call = 1;
        else if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc)
            call = 1, selector = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--gas") == 0 && i + 1 < argc)
            gas = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--time-limit-ms") == 0 && i + 1 < argc)
            ll_vm_set_time_limit((uint32_t)strtoul(argv[++i], NULL, 10));
        else if (strcmp(argv[i], "--args") == 0 && i + 1 < argc)
            args_text = argv[++i];
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: ll_vm_bench [--call [--selector N]] [--gas N] [--runs N] "
                        "[--time-limit-ms N] [--args JSON] FILE|-\n");
        return 2;
    }
    if (!(code = read_all(path, &len))) {
        perror(path);
        return 2;
    }
    if (!(args = json_loads(args_text, JSON_DECODE_ANY, NULL))) {
        fprintf(stderr, "bad --args\n");
        goto out;
    }
    for (int i = 0; i < runs; i++) {
        ll_vm_result_t r;
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), dt, cpu;
        int err = call ? ll_vm_call(code, len, selector, args, &ctx, gas, &r)
                       : ll_vm_deploy(code, len, gas, &r);
        json_t *line;
        char *text, *ret = ll_vm_return_hex(&r);
        dt = clock_s(CLOCK_MONOTONIC) - t0;
        cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        line = json_pack("{s:i,s:I,s:b,s:s?,s:s?,s:f,s:f,s:f}", "rc", err, "gas_used",
                         (json_int_t)r.gas_used, "success", r.success, "error", r.error, "return",
                         ret, "seconds", dt, "cpu_seconds", cpu, "ns_per_gas",
                         r.gas_used ? dt * 1e9 / (double)r.gas_used : 0.0);
        text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        free(ret);
        json_decref(line);
        ll_vm_result_free(&r);
    }
    fflush(stdout);
    rc = 0;
out:
    json_decref(args);
    free(code);
    return rc;
}
