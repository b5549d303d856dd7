/* ledger/block.c: see block.h. Mining hashes prefix || nonce digits ||
 * suffix, where prefix and suffix come from one canonical serialization of
 * the header with a placeholder nonce, so the bytes hashed are exactly the
 * canonical header and nothing is serialized per attempt.
 *
 * Headers (mined and checked) are hashed with OpenSSL's EVP SHA-256, which
 * uses the CPU's SHA extensions where it has them; libsodium's SHA-256 is
 * portable C, and proof of work is nearly all SHA-256. The tx root, hashed
 * once per block, stays with libsodium like the tx ids it hashes. */
#include "ledger/block.h"
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ll_block_tx_root(const char *const *tx_ids, size_t n, char out[65])
{
    crypto_hash_sha256_state st;
    uint8_t id[32], digest[32];
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n; i++) {
        if (ll_hex_decode(tx_ids[i], id, sizeof id) < 0)
            return LL_EBADHEX;
        crypto_hash_sha256_update(&st, id, sizeof id);
    }
    crypto_hash_sha256_final(&st, digest);
    ll_hex_encode(digest, sizeof digest, out);
    return 0;
}

static json_t *header_json(const ll_block_hdr_t *b, uint64_t nonce)
{
    return json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:s}", "difficulty", (json_int_t)b->difficulty,
                     "height", (json_int_t)b->height, "miner", b->miner, "nonce", (json_int_t)nonce,
                     "previous_hash", b->previous_hash, "timestamp_ms", (json_int_t)b->timestamp_ms,
                     "tx_root", b->tx_root);
}

static int canonical_header(const ll_block_hdr_t *b, uint64_t nonce, char **out, size_t *len)
{
    json_t *h = header_json(b, nonce);
    if (!h)
        return LL_ENOMEM;
    int rc = ll_tx_signing_bytes(h, out, len); /* the one canonical serialization */
    json_decref(h);
    return rc;
}

int ll_block_meets(const uint8_t digest[32], uint32_t difficulty)
{
    for (uint32_t i = 0; i < difficulty; i++) {
        uint8_t nibble = i % 2 == 0 ? digest[i / 2] >> 4 : digest[i / 2] & 0x0f;
        if (nibble)
            return 0;
    }
    return 1;
}

int ll_block_hash(const ll_block_hdr_t *b, char out[65])
{
    char *bytes;
    size_t len;
    uint8_t digest[32];
    unsigned int digest_len = 0;
    int rc = canonical_header(b, b->nonce, &bytes, &len);
    if (rc < 0)
        return rc;
    if (EVP_Digest(bytes, len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
        digest_len != sizeof digest)
        rc = LL_EINTERNAL;
    else
        ll_hex_encode(digest, sizeof digest, out);
    free(bytes);
    return rc;
}

int ll_block_pow_ok(const ll_block_hdr_t *b)
{
    char hash[65];
    uint8_t digest[32];
    if (ll_block_hash(b, hash) < 0 || strcmp(hash, b->hash) != 0)
        return 0;
    if (ll_hex_decode(hash, digest, sizeof digest) < 0)
        return 0;
    return ll_block_meets(digest, b->difficulty);
}

/* A nonce's decimal digits, the bytes "%" PRIu64 prints, counted up in place
 * so that an attempt costs no printf. The digits are buf[first..20). */
typedef struct nonce_digits {
    char buf[20]; /* UINT64_MAX has 20 digits */
    size_t first;
} nonce_digits_t;

/* From n to n + 1; the caller guarantees n < UINT64_MAX, so a carry out of
 * the leading digit leaves room for one more digit. */
static void digits_increment(nonce_digits_t *d)
{
    size_t i = sizeof d->buf;
    while (i > d->first && d->buf[i - 1] == '9')
        d->buf[--i] = '0';
    if (i > d->first)
        d->buf[i - 1]++;
    else
        d->buf[--d->first] = '1';
}

/* One attempt: the prefix's state (the midstate) copied, then the digits and
 * the suffix. Returns 0 or LL_EINTERNAL. */
static int attempt(EVP_MD_CTX *st, const EVP_MD_CTX *prefix_state, const nonce_digits_t *d,
                   const char *suffix, size_t suffix_len, uint8_t digest[32])
{
    unsigned int digest_len = 0;
    if (EVP_MD_CTX_copy_ex(st, prefix_state) != 1 ||
        EVP_DigestUpdate(st, d->buf + d->first, sizeof d->buf - d->first) != 1 ||
        EVP_DigestUpdate(st, suffix, suffix_len) != 1 ||
        EVP_DigestFinal_ex(st, digest, &digest_len) != 1 || digest_len != 32)
        return LL_EINTERNAL;
    return 0;
}

int ll_block_mine(ll_block_hdr_t *b)
{
    static const char marker[] = "\"nonce\":0,";
    EVP_MD *sha256 = NULL;
    EVP_MD_CTX *prefix_state = NULL, *st = NULL;
    nonce_digits_t digits = {.first = sizeof digits.buf - 1};
    uint8_t digest[32];
    char *bytes;
    size_t len;
    int rc = canonical_header(b, 0, &bytes, &len);
    if (rc < 0)
        return rc;
    /* Keys are sorted, so "nonce" appears once, between miner and
     * previous_hash, and no string value can contain a quote. */
    char *at = strstr(bytes, marker);
    if (!at) {
        rc = LL_EINTERNAL;
        goto out;
    }
    size_t prefix_len = (size_t)(at - bytes) + strlen("\"nonce\":");
    const char *suffix = at + strlen(marker) - 1; /* from the comma on */
    size_t suffix_len = len - (size_t)(suffix - bytes);

    if (!(prefix_state = EVP_MD_CTX_new()) || !(st = EVP_MD_CTX_new())) {
        rc = LL_ENOMEM;
        goto out;
    }
    /* Fetched once here: EVP_sha256() would be looked up again by each init. */
    if (!(sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) ||
        EVP_DigestInit_ex(prefix_state, sha256, NULL) != 1 ||
        EVP_DigestUpdate(prefix_state, bytes, prefix_len) != 1) {
        rc = LL_EINTERNAL;
        goto out;
    }
    digits.buf[digits.first] = '0';
    for (uint64_t nonce = 0;; nonce++) {
        if ((rc = attempt(st, prefix_state, &digits, suffix, suffix_len, digest)) < 0)
            goto out;
        if (ll_block_meets(digest, b->difficulty)) {
            b->nonce = nonce;
            ll_hex_encode(digest, sizeof digest, b->hash);
            break;
        }
        if (nonce == UINT64_MAX) { /* 2^64 misses: out of nonces, not reachable in practice */
            rc = LL_EINTERNAL;
            goto out;
        }
        digits_increment(&digits);
    }
out:
    EVP_MD_CTX_free(st);
    EVP_MD_CTX_free(prefix_state);
    EVP_MD_free(sha256);
    free(bytes);
    return rc;
}

json_t *ll_block_json(const ll_block_hdr_t *b)
{
    /* json_pack keeps insertion order (jansson objects preserve it), so the
     * seed's field order is what clients see. */
    return json_pack(
        "{s:I, s:s, s:s, s:f, s:I, s:s, s:I, s:b, s:I, s:I, s:s}", "height", (json_int_t)b->height,
        "hash", b->hash, "previous_hash", b->previous_hash, "timestamp",
        (double)b->timestamp_ms / 1000.0, "tx_count", (json_int_t)b->tx_count, "miner", b->miner,
        "difficulty", (json_int_t)b->difficulty, "quantum_verified", b->quantum_verified, "nonce",
        (json_int_t)b->nonce, "timestamp_ms", (json_int_t)b->timestamp_ms, "tx_root", b->tx_root);
}
