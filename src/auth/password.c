/* auth/password.c: see password.h. Both calls are libsodium's; this file
 * only fixes the limits and gives them the node's error codes. */
#include "auth/password.h"
#include "util/err.h"

#include <sodium.h>

_Static_assert(crypto_pwhash_STRBYTES <= LL_PASSWORD_HASH_CAP,
               "users.password_hash must hold an Argon2 string");

/* crypto_pwhash_str of 32 random bytes (hex) that were then thrown away, at
 * OPSLIMIT_INTERACTIVE (t=2) and MEMLIMIT_INTERACTIVE (m=65536 KiB). A unit
 * test checks that these still are ll_password_hash's parameters. */
static const char dummy_hash[] = "$argon2id$v=19$m=65536,t=2,p=1$2lSdRR2a1R75XMZbjGX/lg$"
                                 "8cxXdooHrKsP/sN24mbECgSS0yfhIqs9VIfahhpmGj4";

int ll_password_hash(const char *password, size_t len, char out[LL_PASSWORD_HASH_CAP])
{
    if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return LL_ENOMEM; /* the only way it fails for lengths this node accepts */
    return 0;
}

int ll_password_verify(const char *hash, const char *password, size_t len)
{
    return crypto_pwhash_str_verify(hash, password, len) == 0 ? 0 : LL_EBADCREDENTIALS;
}

const char *ll_password_dummy_hash(void)
{
    return dummy_hash;
}
