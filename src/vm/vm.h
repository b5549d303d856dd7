/* vm/vm.h: contracts: Lua 5.4 chunks run in a fresh, minimal, metered
 * sandbox per deploy and per call (API.md §6).
 * Owns:    each run's Lua state (created and closed inside the call) and
 *          the result it fills (freed with ll_vm_result_free).
 * Threads: any thread, one run at a time per result; the ledger thread runs
 *          contracts while it builds a block.
 *
 * A run is a pure function of (code, selector, args, context, storage
 * reads): no time, randomness, addresses or environment reach it, `pairs`
 * visits keys in one order (integers ascending, then strings by bytes), `#`
 * of a table with holes is one border chosen by its keys alone, every NaN
 * prints as "nan", and gas is charged on values, never on a table's hash
 * layout, so every node computes the same receipt. Storage writes and logs
 * are collected in the result and applied by the caller only on success. */
#ifndef LL_VM_VM_H
#define LL_VM_VM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of API.md §6. */
#define LL_VM_MAX_CODE (64 * 1024)
#define LL_VM_MAX_ARGS 16
#define LL_VM_MAX_ARG_BYTES 4096
#define LL_VM_MAX_GAS 10000000ULL
#define LL_VM_MAX_MEMORY (16u * 1024 * 1024)
#define LL_VM_MAX_LOGS 64
#define LL_VM_MAX_LOG_BYTES 1024
#define LL_VM_MAX_RETURN 4096

/* Gas schedule (documented in docs/API.md §6.1). */
#define LL_VM_GAS_INSTRUCTION 1
#define LL_VM_GAS_STORAGE_GET 100 /* + 1 per byte of the value read */
#define LL_VM_GAS_STORAGE_SET 200 /* + LL_VM_GAS_STORAGE_BYTE per byte of key and value */
/* API.md §6: 1 per byte stored. What stays on disk is bounded by the block
 * gas limit and paid in coin at --gas-price (docs/API.md §2.6). */
#define LL_VM_GAS_STORAGE_BYTE 1
/* Compiling the source, which every deploy and every call does first:
 * Lua's parser takes up to ~90 ns a byte (64 KiB of table constructor or
 * float constants, -O2), so a block full of calls to the largest contract
 * stays within the block's time through its gas. */
#define LL_VM_GAS_CODE_BYTE 4
#define LL_VM_GAS_EMIT 50         /* + 1 per byte of name and value */
#define LL_VM_GAS_PER_BYTE 1      /* library functions: per byte or element touched */
/* A new string whose allocation (length + 25 bytes of Lua header) is at
 * least this big costs LL_VM_GAS_PER_BYTE per byte of it, whoever makes it
 * (`..`, a library function), while contract code runs. */
#define LL_VM_GAS_STRING_MIN 256
/* Instructions whose work grows with their operands (vm/meter.c): string
 * bytes compared and values moved beyond these allowances cost 1 each. */
#define LL_VM_GAS_FREE_BYTES 64
#define LL_VM_GAS_FREE_VALUES 16
#define LL_VM_GAS_OBJECT 3       /* each new table, closure, upvalue, userdata, string > 40 bytes */
#define LL_VM_GAS_CCALL 2        /* a call of a library (C) function */
#define LL_VM_GAS_CONCAT 4       /* `..`, + for each number operand (its text): */
#define LL_VM_GAS_NUMBER_TEXT 6  /* an integer */
#define LL_VM_GAS_FLOAT_TEXT 10  /* a float */
#define LL_VM_GAS_POW 2          /* `^` (pow()) */
#define LL_VM_GAS_FREE_STEPS 256 /* a closure's upvalue search: steps beyond, 1 per: */
#define LL_VM_STEPS_PER_GAS 16
#define LL_VM_GAS_LEN 2          /* `#` of a table, + each probe beyond: */
#define LL_VM_GAS_FREE_PROBES 8
#define LL_VM_GAS_ERROR 8        /* error(): where, message, unwinding */
#define LL_VM_GAS_PCALL 2        /* pcall(): its protected call */
#define LL_VM_GAS_PAIRS 4        /* pairs(), + its keys (pairs.c) */
#define LL_VM_GAS_PAIRS_NEWKEY 2 /* a key added to a table pairs has walked */

/* A failed result's error text: at most this many bytes of UTF-8. */
#define LL_VM_MAX_ERROR 1024

typedef enum { LL_VM_NIL, LL_VM_INT, LL_VM_STR } ll_vm_type_t;

typedef struct ll_vm_value {
    ll_vm_type_t type;
    int64_t i;
    const char *s; /* LL_VM_STR: bytes (not NUL-terminated), len bytes */
    size_t len;
} ll_vm_value_t;

/* Reads a committed storage value of the contract being run. Returns 0
 * with *out set (LL_VM_NIL when the key is absent; string bytes must stay
 * valid until the next get), or a negative LL_E* that aborts the run. */
typedef int (*ll_vm_storage_get_cb)(void *arg, const char *key, size_t key_len,
                                    ll_vm_value_t *out);

typedef struct ll_vm_ctx {
    const char *sender;   /* 32 hex: the caller's chain address */
    int64_t amount;       /* micro-units sent with the call */
    uint64_t height;      /* of the block including the call */
    const char *contract; /* 40 hex */
    ll_vm_storage_get_cb storage_get;
    void *storage_arg;
} ll_vm_ctx_t;

/* One storage write of a successful run, in the order made (the last write
 * of a key wins). */
typedef struct ll_vm_write {
    char *key;
    size_t key_len;
    ll_vm_value_t value; /* value.s owned by the result */
} ll_vm_write_t;

typedef struct ll_vm_result {
    int success;
    uint64_t gas_used;
    char *error;           /* NULL on success; "out of gas", "out of memory", Lua's message… */
    uint8_t *return_data;  /* API.md §6 encoding; NULL when empty */
    size_t return_len;
    json_t *logs;          /* array of {"name","value"}; empty on failure */
    ll_vm_write_t *writes; /* empty on failure */
    size_t nwrites;
} ll_vm_result_t;

/* Compiles code (text only: binary chunks are refused) and runs the chunk
 * once under gas_limit; it must return a table whose keys are integers and
 * whose values are functions. Fills *out (success or a failed receipt's
 * error). Returns 0, or when there must be no receipt: LL_ENOMEM (the node
 * ran out of memory), LL_ECANCELED (ll_vm_interrupt), LL_ETIMELIMIT (the
 * run outlived ll_vm_set_time_limit) or LL_EINTERNAL (ll_vm_selftest
 * failed). */
int ll_vm_deploy(const char *code, size_t len, uint64_t gas_limit, ll_vm_result_t *out);

/* Runs the chunk, then fn(ctx, args...) for fn = table[selector], under
 * gas_limit, with args (a JSON array of integers and strings). Unknown
 * selectors, wrong argument types, error(), running out of gas or memory,
 * and unsupported return types are failed results, not errors. Returns 0
 * or, with no receipt, what ll_vm_deploy returns or the storage callback's
 * error. */
int ll_vm_call(const char *code, size_t len, int64_t selector, const json_t *args,
               const ll_vm_ctx_t *ctx, uint64_t gas_limit, ll_vm_result_t *out);

void ll_vm_result_free(ll_vm_result_t *r);

/* Asks every run, the current one and all later ones, to stop: each
 * returns LL_ECANCELED (no receipt; the caller discards the block) at its
 * next instruction or charge. A relaxed atomic flag: callable from any
 * thread or a signal handler. ll_vm_interrupt_clear() lets runs go again. */
void ll_vm_interrupt(void);
void ll_vm_interrupt_clear(void);

/* The node's time limit on one run, a safety net under the gas: a run still
 * going ms milliseconds after it started (compiling included) stops at its
 * next instruction check (every LL_VM_TIME_CHECK_EVERY instructions) and
 * returns LL_ETIMELIMIT with no receipt; 0 (the default) sets no limit.
 * Gas bounds every run's work except what Lua's own hash tables let a
 * contract cause (docs/API.md §6.1, Time); the limit never changes a
 * receipt, since a run it stops has none: the ledger leaves the transaction
 * out of the block instead. Process-wide, any thread. */
void ll_vm_set_time_limit(uint32_t ms);
#define LL_VM_TIME_CHECK_EVERY 16

/* Checks, once per process, that the interpreter is the one vm/opcode.h
 * was written for (the node may call it at start to fail early). Returns 0,
 * or LL_EINTERNAL: then every deploy and call returns LL_EINTERNAL too. */
int ll_vm_selftest(void);

/* The hex of r's return data ("" when empty), malloc'd; NULL on ENOMEM. */
char *ll_vm_return_hex(const ll_vm_result_t *r);

#endif
