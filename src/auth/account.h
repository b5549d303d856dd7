/* auth/account.h: custodial messenger accounts: the rules for usernames and
 * passwords, making a user's row (password hash, new chain key, sealed
 * seed), storing it through the ledger, and the --dev user (auth/dev.c).
 * Owns:    nothing.
 * Threads: the rules anywhere; ll_auth_user_new blocks for an Argon2id hash
 *          (thread pool or main thread only, see auth/password.h);
 *          ll_auth_put_user_fn runs on the ledger thread (STORE_CALL);
 *          ll_auth_ensure_dev_user on the main thread before serving. */
#ifndef LL_AUTH_ACCOUNT_H
#define LL_AUTH_ACCOUNT_H

#include "auth/custody.h"
#include "ledger/ledger.h"
#include "store/users.h"

#include <jansson.h>
#include <stddef.h>

#define LL_USERNAME_MIN 3
#define LL_PASSWORD_MIN 8 /* bytes of UTF-8 */
#define LL_PASSWORD_MAX 1024

#define LL_DEV_USERNAME "dev"
#define LL_DEV_PASSWORD "devdevdev"

/* 1 when name (len bytes) is 3-32 characters of [a-z0-9_.-] and not 32 hex
 * digits, which POST /api/messages would read as an address; else 0. */
int ll_auth_username_ok(const char *name, size_t len);

/* 1 when a password of len bytes is 8-1024 bytes long; else 0. */
int ll_auth_password_ok(size_t len);

/* Fills *out for a new user: username, a fresh Ed25519 key's address, the
 * Argon2id hash of password and the key's seed sealed under custody, and
 * created_ms. Blocks (hashing). Returns 0 or LL_ENOMEM. The caller has
 * checked both rules above. */
int ll_auth_user_new(const ll_custody_t *custody, const char *username, const char *password,
                     size_t password_len, ll_store_user_t *out);

/* An ll_ledger_store_fn: inserts the ll_store_user_t that arg points at and
 * sets *result to {"username", "address"}. LL_EUSERNAMETAKEN when the name
 * is taken. */
int ll_auth_put_user_fn(ll_store_t *writer, void *arg, json_t **result, char *why);

/* auth/dev.c. For a node started with --dev: makes user dev / devdevdev unless a user dev
 * exists (whatever its password now is). Blocks: hashes the password on the
 * calling thread and waits for the ledger thread to store the row. Returns
 * 0, or an LL_E* (logged). */
int ll_auth_ensure_dev_user(ll_ledger_t *ledger, const char *data_dir);

#endif
