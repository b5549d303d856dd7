/* ledger/keys.c: Ed25519 key pairs (libsodium), chain addresses and key files.
 * Every signer of the node goes through here: the CLI's keygen/sign, the
 * faucet and the messenger's custodial accounts. A key file stores only the
 * 32-byte seed as its secret, the form PyNaCl and other Ed25519 libraries
 * take, and its public half and address so that a damaged file is noticed. */
#include "ledger/keys.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ll_keys_from_seed(ll_keypair_t *kp, const uint8_t seed[LL_SEED_BYTES])
{
    crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
    ll_keys_address(kp->pk, kp->address);
}

void ll_keys_generate(ll_keypair_t *kp)
{
    uint8_t seed[LL_SEED_BYTES];

    randombytes_buf(seed, sizeof seed);
    ll_keys_from_seed(kp, seed);
    sodium_memzero(seed, sizeof seed);
}

void ll_keys_address(const uint8_t pk[LL_PK_BYTES], char out[LL_ADDRESS_HEX + 1])
{
    uint8_t digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(digest, pk, LL_PK_BYTES);
    ll_hex_encode(digest, LL_ADDRESS_HEX / 2, out);
}

json_t *ll_keys_to_json(const ll_keypair_t *kp)
{
    char pk_hex[2 * LL_PK_BYTES + 1];
    char seed_hex[2 * LL_SEED_BYTES + 1];
    json_t *obj;

    /* libsodium's secret key is seed || public key: the file keeps the seed. */
    ll_hex_encode(kp->sk, LL_SEED_BYTES, seed_hex);
    ll_hex_encode(kp->pk, LL_PK_BYTES, pk_hex);
    obj = json_pack("{s:s, s:s, s:s}", "public_key", pk_hex, "secret_key", seed_hex, "address",
                    kp->address);
    sodium_memzero(seed_hex, sizeof seed_hex);
    return obj;
}

/* 1 when v is a string of exactly n lowercase hex digits. The length check
 * catches a string with an embedded NUL, which strlen would cut short. */
static int is_hex_string(const json_t *v, size_t n)
{
    return json_is_string(v) && json_string_length(v) == n &&
           ll_hex_is_lower(json_string_value(v), n);
}

/* The lowercase hex string at obj[key], decoded into n bytes. */
static int get_hex(const json_t *obj, const char *key, uint8_t *out, size_t n)
{
    const json_t *v = json_object_get(obj, key);

    if (!v)
        return LL_EMISSING;
    if (!is_hex_string(v, 2 * n))
        return LL_EBADHEX;
    return ll_hex_decode(json_string_value(v), out, n);
}

int ll_keys_from_json(const json_t *obj, ll_keypair_t *kp)
{
    uint8_t seed[LL_SEED_BYTES];
    uint8_t pk[LL_PK_BYTES];
    const json_t *addr;
    int rc;

    if (!json_is_object(obj))
        return LL_EBADTYPE;
    if ((rc = get_hex(obj, "secret_key", seed, sizeof seed)) < 0)
        goto out;
    if ((rc = get_hex(obj, "public_key", pk, sizeof pk)) < 0)
        goto out;
    if (!(addr = json_object_get(obj, "address"))) {
        rc = LL_EMISSING;
        goto out;
    }
    if (!is_hex_string(addr, LL_ADDRESS_HEX)) {
        rc = LL_EBADHEX;
        goto out;
    }
    ll_keys_from_seed(kp, seed);
    /* A file whose halves disagree was edited or corrupted; signing with the
     * seed would silently act for an account its owner did not expect. */
    if (sodium_memcmp(pk, kp->pk, sizeof pk) != 0 ||
        strcmp(json_string_value(addr), kp->address) != 0) {
        sodium_memzero(kp, sizeof *kp);
        rc = LL_EBADSIG;
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int ll_keys_load_file(const char *path, ll_keypair_t *kp)
{
    json_error_t err;
    json_t *obj;
    int rc;

    obj = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!obj)
        return json_error_code(&err) == json_error_cannot_open_file ? LL_EIO : LL_EMALFORMED;
    rc = ll_keys_from_json(obj, kp);
    json_decref(obj);
    return rc;
}

/* write(2) until done: a short write on a regular file is rare but legal. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return LL_EIO;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int ll_keys_save_file(const char *path, const ll_keypair_t *kp)
{
    json_t *obj = NULL;
    char *text = NULL;
    size_t len = 0;
    int fd = -1;
    int rc;

    if (!(obj = ll_keys_to_json(kp)) ||
        !(text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS))) {
        rc = LL_ENOMEM;
        goto out;
    }
    len = strlen(text);
    /* 0600 at creation is not enough: O_TRUNC keeps an existing file's mode,
     * so fchmod also tightens a key file that was once world-readable. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        rc = LL_EIO;
        goto out;
    }
    if ((rc = write_all(fd, text, len)) < 0 || (rc = write_all(fd, "\n", 1)) < 0)
        goto out;
    /* A key that is lost after keygen said "saved" loses the account. */
    if (fsync(fd) != 0) {
        rc = LL_EIO;
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = LL_EIO;
    if (text) {
        sodium_memzero(text, len);
        free(text);
    }
    json_decref(obj);
    return rc;
}

int ll_keys_vm_address(const char *deployer, uint64_t nonce, char out[41])
{
    uint8_t input[16 + 8], digest[crypto_hash_sha256_BYTES];
    if (ll_hex_decode(deployer, input, 16) < 0)
        return LL_EBADHEX;
    for (int i = 0; i < 8; i++)
        input[16 + i] = (uint8_t)(nonce >> (56 - 8 * i));
    crypto_hash_sha256(digest, input, sizeof input);
    ll_hex_encode(digest, 20, out);
    return 0;
}

int ll_keys_load_or_create(const char *path, ll_keypair_t *kp)
{
    int rc = ll_keys_load_file(path, kp);
    if (rc == 0)
        return 0;
    if (access(path, F_OK) == 0) {
        LL_ERROR("keys: key file %s is unreadable or corrupt", path);
        return rc;
    }
    ll_keys_generate(kp);
    if ((rc = ll_keys_save_file(path, kp)) < 0)
        LL_ERROR("keys: cannot write key file %s", path);
    return rc;
}
