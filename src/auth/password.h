/* auth/password.h: password hashing for the messenger's users: Argon2id
 * through libsodium's crypto_pwhash_str, at its INTERACTIVE limits (2 passes,
 * 64 MiB). The encoded string carries its salt and parameters, so a hash
 * made today still verifies if the limits are raised later.
 * Owns:    nothing.
 * Threads: any, but each call takes about 0.1-0.5 s of CPU and 64 MiB:
 *          run them on the libuv thread pool (uv_queue_work), or on the main
 *          thread before the node serves. Never on a worker's loop or the
 *          ledger thread, which would stall every client they serve. */
#ifndef LL_AUTH_PASSWORD_H
#define LL_AUTH_PASSWORD_H

#include "store/users.h"

#include <stddef.h>

/* Hashes len bytes of password into out (NUL-terminated, at most
 * LL_PASSWORD_HASH_CAP bytes with the NUL). Returns 0, or LL_ENOMEM when the
 * 64 MiB cannot be had. */
int ll_password_hash(const char *password, size_t len, char out[LL_PASSWORD_HASH_CAP]);

/* Returns 0 when password matches hash, LL_EBADCREDENTIALS when it does not
 * (or hash is not an Argon2 string, or memory ran short). */
int ll_password_verify(const char *hash, const char *password, size_t len);

/* A hash with the same parameters as ll_password_hash's, of a password
 * nobody knows. Verifying against it when a username is unknown makes a
 * failed login take as long as a wrong password does. */
const char *ll_password_dummy_hash(void);

#endif
