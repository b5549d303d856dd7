/* bench/pow_bench.c: the ll_pow_bench driver behind bench/ingest.py.
 * Proof of work is SHA-256 attempts over one block header, nonce after
 * nonce. This compares, on one thread and over the same headers, the node's
 * ll_block_mine (OpenSSL EVP SHA-256 from a copied midstate, the nonce's
 * digits counted up in place) with the way it mined before (libsodium's
 * SHA-256 from a copied midstate, one snprintf per nonce, kept here as
 * old_mine). Headers at heights 1, 2, ... are mined both ways in turn, so
 * the noise of a shared machine falls on both alike, until S seconds have
 * passed; both must find the same nonce, so both made the same attempts
 * (nonce + 1 per header). Prints figures only, one line:
 *
 *   pow threads=1 difficulty=D blocks=B attempts=A libsodium_per_s=X openssl_per_s=Y ratio=R
 *
 *   ll_pow_bench [--seconds S] [--difficulty D]
 *
 * Owns:    its headers and their serializations, one at a time.
 * Threads: the main thread only. */
#include "ledger/block.h"
#include "ledger/keys.h"
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ll_block_mine as it was before OpenSSL: the header's canonical bytes with
 * nonce 0 split around the nonce, libsodium's state after the prefix copied
 * per attempt, the digits printed per attempt. */
static int old_mine(ll_block_hdr_t *b)
{
    static const char marker[] = "\"nonce\":0,";
    crypto_hash_sha256_state prefix_state, st;
    uint8_t digest[32];
    char *bytes, digits[24];
    size_t len;
    json_t *h = json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:s}", "difficulty",
                          (json_int_t)b->difficulty, "height", (json_int_t)b->height, "miner",
                          b->miner, "nonce", (json_int_t)0, "previous_hash", b->previous_hash,
                          "timestamp_ms", (json_int_t)b->timestamp_ms, "tx_root", b->tx_root);
    if (!h)
        return LL_ENOMEM;
    int rc = ll_tx_signing_bytes(h, &bytes, &len);
    json_decref(h);
    if (rc < 0)
        return rc;
    char *at = strstr(bytes, marker);
    if (!at) {
        free(bytes);
        return LL_EINTERNAL;
    }
    size_t prefix_len = (size_t)(at - bytes) + strlen("\"nonce\":");
    const char *suffix = at + strlen(marker) - 1;
    size_t suffix_len = len - (size_t)(suffix - bytes);

    crypto_hash_sha256_init(&prefix_state);
    crypto_hash_sha256_update(&prefix_state, (const uint8_t *)bytes, prefix_len);
    for (uint64_t nonce = 0;; nonce++) {
        int n = snprintf(digits, sizeof digits, "%" PRIu64, nonce);
        st = prefix_state;
        crypto_hash_sha256_update(&st, (const uint8_t *)digits, (size_t)n);
        crypto_hash_sha256_update(&st, (const uint8_t *)suffix, suffix_len);
        crypto_hash_sha256_final(&st, digest);
        if (ll_block_meets(digest, b->difficulty)) {
            b->nonce = nonce;
            ll_hex_encode(digest, sizeof digest, b->hash);
            break;
        }
    }
    free(bytes);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 2.0, t_old = 0, t_new = 0;
    unsigned long difficulty = 4;
    uint64_t blocks = 0, attempts = 0;
    ll_block_hdr_t base = {0};
    ll_keypair_t miner;
    uint8_t prev[32]; /* any previous hash will do */

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--difficulty") == 0 && i + 1 < argc)
            difficulty = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: ll_pow_bench [--seconds S] [--difficulty D]\n");
            return 2;
        }
    }
    /* The node accepts difficulties 0..12; past 6 a header takes seconds. */
    if (seconds <= 0 || difficulty > 12 || sodium_init() < 0)
        return 2;
    ll_keys_generate(&miner);
    snprintf(base.miner, sizeof base.miner, "%s", miner.address);
    sodium_memzero(&miner, sizeof miner);
    randombytes_buf(prev, sizeof prev);
    ll_hex_encode(prev, sizeof prev, base.previous_hash);
    if (ll_block_tx_root(NULL, 0, base.tx_root) < 0)
        return 1;
    base.timestamp_ms = (int64_t)time(NULL) * 1000;
    base.difficulty = (uint32_t)difficulty;

    while (t_old + t_new < seconds) {
        ll_block_hdr_t old_b = base, new_b = base;
        old_b.height = new_b.height = blocks + 1;
        double t0 = mono_s();
        int old_rc = old_mine(&old_b);
        double t1 = mono_s();
        int new_rc = ll_block_mine(&new_b);
        t_new += mono_s() - t1;
        t_old += t1 - t0;
        if (old_rc < 0 || new_rc < 0 || old_b.nonce != new_b.nonce ||
            strcmp(old_b.hash, new_b.hash) != 0) {
            fprintf(stderr,
                    "ll_pow_bench: height %" PRIu64 ": old %d nonce %" PRIu64
                    ", new %d nonce %" PRIu64 "\n",
                    blocks + 1, old_rc, old_b.nonce, new_rc, new_b.nonce);
            return 1;
        }
        blocks++;
        attempts += new_b.nonce + 1;
    }
    printf("pow threads=1 difficulty=%lu blocks=%" PRIu64 " attempts=%" PRIu64
           " libsodium_per_s=%.0f openssl_per_s=%.0f ratio=%.2f\n",
           difficulty, blocks, attempts, (double)attempts / t_old, (double)attempts / t_new,
           t_old / t_new);
    return 0;
}
