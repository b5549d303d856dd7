/* auth/account.c: see account.h. POST /api/register (api/sessions.c) and the
 * --dev start-up make users the same way, through the functions here. */
#include "auth/account.h"
#include "auth/password.h"
#include "auth/session.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hex.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(LL_CUSTODY_SEALED_HEX < LL_SEALED_SEED_CAP, "users.sealed_seed holds a seal");

int ll_auth_username_ok(const char *name, size_t len)
{
    if (len < LL_USERNAME_MIN || len > LL_USERNAME_MAX || strlen(name) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return !ll_hex_is_lower(name, LL_ADDRESS_HEX);
}

int ll_auth_password_ok(size_t len)
{
    return len >= LL_PASSWORD_MIN && len <= LL_PASSWORD_MAX;
}

int ll_auth_user_new(const ll_custody_t *custody, const char *username, const char *password,
                     size_t password_len, ll_store_user_t *out)
{
    char name[LL_USERNAME_MAX + 1];
    ll_keypair_t kp;
    int rc;

    snprintf(name, sizeof name, "%s", username); /* username may point into *out */
    memset(out, 0, sizeof *out);
    memcpy(out->username, name, sizeof name);
    if ((rc = ll_password_hash(password, password_len, out->password_hash)) < 0)
        return rc;
    ll_keys_generate(&kp);
    memcpy(out->address, kp.address, sizeof out->address);
    /* libsodium's secret key is seed || public key: the seed is its head. */
    ll_custody_seal(custody, kp.sk, out->sealed_seed);
    sodium_memzero(&kp, sizeof kp);
    out->created_ms = ll_clock_wall_ms();
    return 0;
}

int ll_auth_put_user_fn(ll_store_t *writer, void *arg, json_t **result, char *why)
{
    const ll_store_user_t *u = arg;
    int rc = ll_store_put_user(writer, u);
    if (rc == LL_EUSERNAMETAKEN) {
        snprintf(why, LL_ERRMSG_MAX, "the username '%s' is taken", u->username);
        return rc;
    }
    if (rc < 0)
        return rc; /* the ledger fills a generic why */
    *result = json_pack("{s:s, s:s}", "username", u->username, "address", u->address);
    return *result ? 0 : LL_ENOMEM;
}
