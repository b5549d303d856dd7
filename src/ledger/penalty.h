/* ledger/penalty.h: senders whose contract run outlived the node's time
 * limit (vm/vm.h, ll_vm_set_time_limit), whose deploys and calls the node
 * refuses for LL_PENALTY_MS: at admission (429 contract_time_limit) and in
 * the blocks it builds meanwhile, where such a sender's pending deploys and
 * calls are left out without running (docs/API.md §6.1, Time).
 * Owns:    a fixed table of LL_PENALTY_SLOTS entries (no heap), placed by a
 *          keyed hash that a sender cannot aim at.
 * Threads: the ledger thread only. */
#ifndef LL_LEDGER_PENALTY_H
#define LL_LEDGER_PENALTY_H

#include "ledger/keys.h"

#include <sodium.h>
#include <stdint.h>

#define LL_PENALTY_MS (600u * 1000)
#define LL_PENALTY_SLOTS 1024
#define LL_PENALTY_PROBES 8

typedef struct ll_penalty_slot {
    char address[LL_ADDRESS_HEX + 1];
    uint64_t until_ms; /* 0: free */
} ll_penalty_slot_t;

typedef struct ll_penalties {
    unsigned char key[crypto_shorthash_KEYBYTES];
    ll_penalty_slot_t slot[LL_PENALTY_SLOTS];
} ll_penalties_t;

/* Empties p and picks its hash key. */
void ll_penalty_init(ll_penalties_t *p);

/* Refuses address until now_ms + LL_PENALTY_MS. When the slots it may use
 * are all taken, the penalty ending soonest gives way. */
void ll_penalty_add(ll_penalties_t *p, const char *address, uint64_t now_ms);

/* Milliseconds left of address's penalty at now_ms; 0 when it has none. */
uint64_t ll_penalty_left(const ll_penalties_t *p, const char *address, uint64_t now_ms);

#endif
