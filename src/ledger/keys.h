/* ledger/keys.h: Ed25519 key pairs, chain addresses and key files.
 * Owns:    nothing; key bytes live in the caller's buffers.
 * Threads: any (libsodium must be initialised once by main() first).
 *
 * Chain address = lowercase hex of the first 16 bytes of SHA-256(public key).
 * A key file is the JSON that `ledgerline keygen` prints:
 * {"public_key": 64 hex, "secret_key": 64 hex (the 32-byte Ed25519 seed, as
 * PyNaCl's SigningKey takes it), "address": 32 hex}. */
#ifndef LL_LEDGER_KEYS_H
#define LL_LEDGER_KEYS_H

#include <jansson.h>
#include <stdint.h>

#define LL_PK_BYTES 32
#define LL_SK_BYTES 64 /* libsodium's secret key: seed || public key */
#define LL_SEED_BYTES 32
#define LL_SIG_BYTES 64
#define LL_ADDRESS_HEX 32 /* chain address, hex digits */

typedef struct ll_keypair {
    uint8_t pk[LL_PK_BYTES];
    uint8_t sk[LL_SK_BYTES];
    char address[LL_ADDRESS_HEX + 1];
} ll_keypair_t;

void ll_keys_generate(ll_keypair_t *kp);

/* Derives the pair from a 32-byte seed. */
void ll_keys_from_seed(ll_keypair_t *kp, const uint8_t seed[LL_SEED_BYTES]);

/* Writes the 32-hex chain address of pk and a NUL into out. */
void ll_keys_address(const uint8_t pk[LL_PK_BYTES], char out[LL_ADDRESS_HEX + 1]);

/* A contract's address (API.md §2): lowercase hex of the first 20 bytes of
 * SHA-256(the deployer's 16 raw address bytes || the deploy's nonce as 8
 * bytes big-endian). Returns 0 or LL_EBADHEX for a malformed deployer. */
int ll_keys_vm_address(const char *deployer, uint64_t nonce, char out[41]);

/* {"public_key","secret_key","address"}; NULL on allocation failure. */
json_t *ll_keys_to_json(const ll_keypair_t *kp);

/* Parses a key file's JSON. Returns 0, LL_EMISSING, LL_EBADHEX or
 * LL_EBADSIG (public_key or address does not match the seed). */
int ll_keys_from_json(const json_t *obj, ll_keypair_t *kp);

/* Key files: saved with mode 0600. Returns 0, LL_EIO or a parse error. */
int ll_keys_load_file(const char *path, ll_keypair_t *kp);
int ll_keys_save_file(const char *path, const ll_keypair_t *kp);

/* Loads path, or when no such file exists, makes a new pair and saves it
 * there. An unreadable or corrupt file is an error (logged), never
 * replaced. */
int ll_keys_load_or_create(const char *path, ll_keypair_t *kp);

#endif
