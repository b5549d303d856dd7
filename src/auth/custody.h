/* auth/custody.h: the node's custody key, which seals the Ed25519 seeds of
 * the messenger's custodial accounts at rest.
 * Owns:    the 32-byte key, in libsodium's guarded memory (read-only once
 *          loaded), and the file <data dir>/custody.key that holds it.
 * Frees:   ll_custody_free() wipes and releases the key.
 * Threads: ll_custody_open/free from the main thread; seal and unseal from
 *          any thread once it is open (they only read the key).
 *
 * custody.key is 64 lowercase hex digits (and a newline), mode 0600, made on
 * the first start. A sealed seed is the hex of nonce || crypto_secretbox_easy
 * (XSalsa20-Poly1305) of the seed, with a fresh random nonce each time: a
 * database copied without custody.key reveals no key, and an altered seal
 * does not open. Losing custody.key loses every custodial account. */
#ifndef LL_AUTH_CUSTODY_H
#define LL_AUTH_CUSTODY_H

#include "ledger/keys.h"

#include <stdint.h>

typedef struct ll_custody ll_custody_t;

/* 24-byte nonce, 16-byte MAC, the 32-byte seed, in hex. */
#define LL_CUSTODY_SEALED_HEX (2 * (24 + 16 + LL_SEED_BYTES))

/* Loads data_dir/custody.key, or creates it (0600) when it does not exist.
 * The directory must exist (the ledger makes it). Returns 0 and a new
 * custody in *out, LL_EIO (logged: unreadable, malformed, not writable) or
 * LL_ENOMEM. */
int ll_custody_open(const char *data_dir, ll_custody_t **out);
void ll_custody_free(ll_custody_t *c);

/* Writes the sealed seed as LL_CUSTODY_SEALED_HEX hex digits and a NUL. */
void ll_custody_seal(const ll_custody_t *c, const uint8_t seed[LL_SEED_BYTES],
                     char out[LL_CUSTODY_SEALED_HEX + 1]);

/* Opens a seal. Returns 0 with the seed in seed (the caller wipes it after
 * use), LL_EBADHEX when sealed is not LL_CUSTODY_SEALED_HEX lowercase hex,
 * or LL_EINTERNAL when it does not authenticate (altered, or sealed under
 * another custody key); seed is zeroed on failure. */
int ll_custody_unseal(const ll_custody_t *c, const char *sealed, uint8_t seed[LL_SEED_BYTES]);

#endif
