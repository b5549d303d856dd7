/* util/hex.c: hex through libsodium, with the one rule the ledger adds:
 * ids and addresses are spelled in lower case only, so that their bytes and
 * their text map one to one. */
#include "util/hex.h"
#include "util/err.h"

#include <sodium.h>
#include <string.h>

void ll_hex_encode(const uint8_t *bin, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, bin, n);
}

int ll_hex_is_lower(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

int ll_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    size_t got = 0;
    if (!ll_hex_is_lower(hex, 2 * n))
        return LL_EBADHEX;
    if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
        return LL_EBADHEX;
    return 0;
}
