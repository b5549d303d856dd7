/* ledger/block.h: block headers: the tx root, the header hash, proof of work
 * and the block's JSON shape.
 * Owns:    nothing; headers are plain ll_block_hdr_t values (store/store.h).
 * Threads: any.
 *
 * hash = SHA-256 hex of the canonical JSON (the serialization of signing
 * bytes) of {"difficulty","height","miner","nonce","previous_hash",
 * "timestamp_ms","tx_root"}, and it must start with `difficulty` zero hex
 * digits. tx_root = SHA-256 hex of the block's raw 32-byte tx ids in block
 * order (of the empty string for an empty block). */
#ifndef LL_LEDGER_BLOCK_H
#define LL_LEDGER_BLOCK_H

#include "store/store.h"

#include <jansson.h>
#include <stddef.h>

#define LL_GENESIS_PREVIOUS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* tx_ids: n lowercase hex ids. Writes 64 hex + NUL to out. Returns 0 or
 * LL_EBADHEX. */
int ll_block_tx_root(const char *const *tx_ids, size_t n, char out[65]);

/* Computes the header hash of b into out. Returns 0, LL_ENOMEM, or
 * LL_EINTERNAL when OpenSSL fails. */
int ll_block_hash(const ll_block_hdr_t *b, char out[65]);

/* Whether a header digest has difficulty leading zero hex digits. */
int ll_block_meets(const uint8_t digest[32], uint32_t difficulty);

/* Searches nonces from 0 until the hash meets b->difficulty; sets b->nonce
 * and b->hash. Returns 0, LL_ENOMEM, or LL_EINTERNAL when OpenSSL fails;
 * after a failure b->nonce and b->hash are unchanged. */
int ll_block_mine(ll_block_hdr_t *b);

/* 1 when b->hash is the header's hash and meets its difficulty, else 0. */
int ll_block_pow_ok(const ll_block_hdr_t *b);

/* The block object of the API: the seed's fields in the seed's order, then
 * nonce, timestamp_ms and tx_root. NULL on allocation failure. */
json_t *ll_block_json(const ll_block_hdr_t *b);

#endif
