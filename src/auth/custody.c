/* auth/custody.c: the custody key file and sealing with it. The messenger
 * signs for its users on the ledger thread with keys it unseals on a worker
 * just before; the seeds rest sealed in the users table (store/users.h). */
#include "auth/custody.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(LL_CUSTODY_SEALED_HEX ==
                   2 * (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + LL_SEED_BYTES),
               "custody.h's sealed size must match libsodium's secretbox");
_Static_assert(crypto_secretbox_KEYBYTES == 32, "custody.key holds 32 bytes");

#define KEY_BYTES crypto_secretbox_KEYBYTES
#define KEY_HEX (2 * KEY_BYTES)
#define SEALED_BYTES (LL_CUSTODY_SEALED_HEX / 2)

struct ll_custody {
    uint8_t key[KEY_BYTES];
};

/* Reads the key file. LL_ENOTFOUND when it does not exist. */
static int read_key(const char *path, uint8_t key[KEY_BYTES])
{
    char text[KEY_HEX + 2];
    struct stat sb;
    ssize_t n = 0, got;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return LL_ENOTFOUND;
        LL_ERROR("custody: cannot open %s: %s", path, strerror(errno));
        return LL_EIO;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
        LL_WARN("custody: %s is readable by others (mode %03o); it should be 0600", path,
                (unsigned)(sb.st_mode & 0777));
    while ((size_t)n < sizeof text &&
           ((got = read(fd, text + n, sizeof text - (size_t)n)) > 0 || (got < 0 && errno == EINTR)))
        n += got > 0 ? got : 0;
    close(fd);
    /* 64 hex digits, optionally one newline: anything else is not ours. */
    if (n == KEY_HEX + 1 && text[KEY_HEX] == '\n')
        n = KEY_HEX;
    if (n == KEY_HEX) {
        text[KEY_HEX] = '\0';
        rc = ll_hex_decode(text, key, KEY_BYTES);
    } else {
        rc = LL_EBADHEX;
    }
    sodium_memzero(text, sizeof text);
    if (rc < 0) {
        LL_ERROR("custody: %s is not 64 lowercase hex digits", path);
        return LL_EIO;
    }
    return 0;
}

/* Makes a new key file without ever exposing a half-written one: the key is
 * written and synced under a temporary name, then link(2)ed into place,
 * which fails if another process made the file first (that one then wins,
 * and the caller reads it). */
static int create_key(const char *path, const char *tmp, uint8_t key[KEY_BYTES])
{
    char text[KEY_HEX + 2];
    int fd = -1, rc = LL_EIO;

    randombytes_buf(key, KEY_BYTES);
    ll_hex_encode(key, KEY_BYTES, text);
    text[KEY_HEX] = '\n';
    unlink(tmp); /* a leftover of a crash between write and link */
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        LL_ERROR("custody: cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write(fd, text, KEY_HEX + 1) != KEY_HEX + 1 || fsync(fd) != 0) {
        LL_ERROR("custody: cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        rc = errno == EEXIST ? LL_ENOTFOUND : LL_EIO; /* ENOTFOUND: read theirs */
        if (rc == LL_EIO)
            LL_ERROR("custody: cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    LL_INFO("custody: created %s", path);
    rc = 0;
out:
    sodium_memzero(text, sizeof text);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return rc;
}

int ll_custody_open(const char *data_dir, ll_custody_t **out)
{
    char path[1024], tmp[1100];
    ll_custody_t *c = NULL;
    int rc;

    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/custody.key", data_dir) >= sizeof path) {
        LL_ERROR("custody: data directory path too long");
        return LL_EIO;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    /* Guarded pages keep the key out of core dumps and swap where the
     * system allows; the struct is made read-only once it holds the key. */
    if (!(c = sodium_malloc(sizeof *c)))
        return LL_ENOMEM;
    rc = read_key(path, c->key);
    if (rc == LL_ENOTFOUND && (rc = create_key(path, tmp, c->key)) == LL_ENOTFOUND)
        rc = read_key(path, c->key);
    if (rc == LL_ENOTFOUND) {
        LL_ERROR("custody: %s vanished while it was being created", path);
        rc = LL_EIO;
    }
    if (rc < 0) {
        sodium_free(c);
        return rc;
    }
    sodium_mprotect_readonly(c);
    *out = c;
    return 0;
}

void ll_custody_free(ll_custody_t *c)
{
    if (c)
        sodium_free(c); /* wipes it first */
}

void ll_custody_seal(const ll_custody_t *c, const uint8_t seed[LL_SEED_BYTES],
                     char out[LL_CUSTODY_SEALED_HEX + 1])
{
    uint8_t box[SEALED_BYTES];
    uint8_t *nonce = box, *ct = box + crypto_secretbox_NONCEBYTES;

    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(ct, seed, LL_SEED_BYTES, nonce, c->key);
    ll_hex_encode(box, sizeof box, out);
}

int ll_custody_unseal(const ll_custody_t *c, const char *sealed, uint8_t seed[LL_SEED_BYTES])
{
    uint8_t box[SEALED_BYTES];
    const uint8_t *nonce = box, *ct = box + crypto_secretbox_NONCEBYTES;

    sodium_memzero(seed, LL_SEED_BYTES);
    if (ll_hex_decode(sealed, box, sizeof box) < 0)
        return LL_EBADHEX;
    if (crypto_secretbox_open_easy(seed, ct, sizeof box - crypto_secretbox_NONCEBYTES, nonce,
                                   c->key) != 0) {
        sodium_memzero(seed, LL_SEED_BYTES);
        return LL_EINTERNAL;
    }
    return 0;
}
