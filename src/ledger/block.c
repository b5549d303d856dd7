/* ledger/block.c: see block.h. Mining hashes prefix || nonce digits ||
 * suffix, where prefix and suffix come from one canonical serialization of
 * the header with a placeholder nonce, so the bytes hashed are exactly the
 * canonical header and nothing is serialized per attempt. */
#include "ledger/block.h"
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"

#include <inttypes.h>
#include <sodium.h>
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

static int meets(const uint8_t digest[32], uint32_t difficulty)
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
    int rc = canonical_header(b, b->nonce, &bytes, &len);
    if (rc < 0)
        return rc;
    crypto_hash_sha256(digest, (const uint8_t *)bytes, len);
    ll_hex_encode(digest, sizeof digest, out);
    free(bytes);
    return 0;
}

int ll_block_pow_ok(const ll_block_hdr_t *b)
{
    char hash[65];
    uint8_t digest[32];
    if (ll_block_hash(b, hash) < 0 || strcmp(hash, b->hash) != 0)
        return 0;
    if (ll_hex_decode(hash, digest, sizeof digest) < 0)
        return 0;
    return meets(digest, b->difficulty);
}

int ll_block_mine(ll_block_hdr_t *b)
{
    static const char marker[] = "\"nonce\":0,";
    crypto_hash_sha256_state prefix_state, st;
    uint8_t digest[32];
    char *bytes, digits[24];
    size_t len;
    int rc = canonical_header(b, 0, &bytes, &len);
    if (rc < 0)
        return rc;
    /* Keys are sorted, so "nonce" appears once, between miner and
     * previous_hash, and no string value can contain a quote. */
    char *at = strstr(bytes, marker);
    if (!at) {
        free(bytes);
        return LL_EINTERNAL;
    }
    size_t prefix_len = (size_t)(at - bytes) + strlen("\"nonce\":");
    const char *suffix = at + strlen(marker) - 1; /* from the comma on */
    size_t suffix_len = len - (size_t)(suffix - bytes);

    crypto_hash_sha256_init(&prefix_state);
    crypto_hash_sha256_update(&prefix_state, (const uint8_t *)bytes, prefix_len);
    for (uint64_t nonce = 0;; nonce++) {
        int n = snprintf(digits, sizeof digits, "%" PRIu64, nonce);
        st = prefix_state;
        crypto_hash_sha256_update(&st, (const uint8_t *)digits, (size_t)n);
        crypto_hash_sha256_update(&st, (const uint8_t *)suffix, suffix_len);
        crypto_hash_sha256_final(&st, digest);
        if (meets(digest, b->difficulty)) {
            b->nonce = nonce;
            ll_hex_encode(digest, sizeof digest, b->hash);
            break;
        }
    }
    free(bytes);
    return 0;
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
