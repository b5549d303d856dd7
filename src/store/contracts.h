/* store/contracts.h: deployed contracts, their storage slots and the
 * receipts of deploys and calls.
 * Owns:    nothing; its statements are the connection's (sql.h). Strings
 *          it returns are malloc'd for the caller.
 * Threads: the connection's thread. Writes only inside the ledger's block
 *          transaction. */
#ifndef LL_STORE_CONTRACTS_H
#define LL_STORE_CONTRACTS_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

int ll_store_put_contract(ll_store_t *st, const char *address, const char *code, size_t len,
                          const char *deployer, const char *tx_id, uint64_t height);

/* 1 when a contract is deployed at address, 0 when not, negative on error. */
int ll_store_contract_exists(ll_store_t *st, const char *address);

/* The contract's source, malloc'd (caller frees), or LL_ENOTFOUND. */
int ll_store_contract_code(ll_store_t *st, const char *address, char **code, size_t *len);

/* A slot: is_int selects ival, else the bytes sval/slen. */
typedef struct ll_store_slot {
    int is_int;
    int64_t ival;
    char *sval; /* from ll_store_get_slot: malloc'd, the caller frees it */
    size_t slen;
} ll_store_slot_t;

/* LL_ENOTFOUND when the slot is empty. */
int ll_store_get_slot(ll_store_t *st, const char *address, const char *key, size_t key_len,
                      ll_store_slot_t *out);

/* Writes a slot; a NULL value deletes it. */
int ll_store_set_slot(ll_store_t *st, const char *address, const char *key, size_t key_len,
                      const ll_store_slot_t *value);

int ll_store_put_receipt(ll_store_t *st, const char *tx_id, uint64_t height, const char *json);

/* The receipt's JSON, malloc'd (caller frees), or LL_ENOTFOUND. */
int ll_store_get_receipt(ll_store_t *st, const char *tx_id, char **json);

/* A deployed contract (GET /api/v1/contracts/{address}). */
typedef struct ll_store_contract {
    char deployer[33]; /* the deploy's sender */
    char tx_id[65];    /* the deploy */
    uint64_t height;   /* the deploy's block */
    char *code;        /* malloc'd: the caller frees it */
    size_t code_len;
} ll_store_contract_t;

/* Fills out for the contract at address (40 lowercase hex). Returns 0, or
 * LL_ENOTFOUND, LL_ESTORE, LL_ENOMEM with out->code NULL. */
int ll_store_contract_info(ll_store_t *st, const char *address, ll_store_contract_t *out);

/* Calls cb with the JSON of each of the contract's newest receipts (its
 * calls' and its deploy's), newest first, at most limit; stops early and
 * returns cb's value when it is non-zero. The text is valid while cb runs. */
typedef int (*ll_store_text_cb)(const char *json, void *arg);
int ll_store_contract_receipts(ll_store_t *st, const char *address, uint32_t limit,
                               ll_store_text_cb cb, void *arg);

#endif
