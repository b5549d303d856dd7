/* bench/verify_bench.c: the ll_verify_bench driver behind bench/ingest.py.
 * The node verifies each submitted signature once, on its HTTP workers, so
 * the rate at which all cores verify Ed25519 signatures is the ceiling of
 * signed transfers per second. This measures that ceiling: it signs N
 * transfer bodies shaped like the bench's with the node's own ll_tx_sign,
 * takes their ll_tx_signing_bytes, then runs libsodium's
 * crypto_sign_verify_detached over them on one thread per online core for
 * a fixed time, and prints one line:
 *
 *   verify threads=T bodies=N verified=V seconds=S per_s=R
 *
 *   ll_verify_bench [--bodies N] [--seconds S] [--threads T]
 *
 * Owns:    the bodies' signing bytes and signatures, until exit.
 * Threads: the main thread signs; T threads only read the bodies. */
#include "ledger/keys.h"
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct signed_body {
    uint8_t pk[LL_PK_BYTES];
    uint8_t sig[LL_SIG_BYTES];
    char *bytes; /* signing bytes: the body without "signature", canonical */
    size_t len;
} signed_body_t;

typedef struct verifier {
    pthread_t thread;
    const signed_body_t *bodies;
    size_t n, first; /* each thread starts at its own offset */
    const atomic_int *stop;
    uint64_t verified, failed;
} verifier_t;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One transfer as bench/run.py and bench/ingest.py sign them: amount 1,
 * fee 0, to one sink, consecutive nonces, the time of signing. */
static int make_body(const ll_keypair_t *kp, const char *sink, uint64_t nonce, signed_body_t *out)
{
    char pk_hex[2 * LL_PK_BYTES + 1];
    json_t *body;
    int rc = LL_ENOMEM;

    ll_hex_encode(kp->pk, LL_PK_BYTES, pk_hex);
    body = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:I}", "kind", "transfer", "sender_pubkey",
                     pk_hex, "nonce", (json_int_t)nonce, "timestamp_ms",
                     (json_int_t)(time(NULL) * 1000), "fee", (json_int_t)0, "recipient", sink,
                     "amount", (json_int_t)1);
    if (!body)
        return LL_ENOMEM;
    if ((rc = ll_tx_sign(body, kp)) < 0)
        goto out;
    if ((rc = ll_tx_signing_bytes(body, &out->bytes, &out->len)) < 0)
        goto out;
    rc = ll_hex_decode(json_string_value(json_object_get(body, "signature")), out->sig,
                       LL_SIG_BYTES);
    memcpy(out->pk, kp->pk, LL_PK_BYTES);
out:
    json_decref(body);
    return rc;
}

static void *verify_loop(void *arg)
{
    verifier_t *v = arg;
    size_t i = v->first;
    while (!atomic_load_explicit(v->stop, memory_order_relaxed)) {
        const signed_body_t *b = &v->bodies[i];
        if (crypto_sign_verify_detached(b->sig, (const unsigned char *)b->bytes, b->len, b->pk) ==
            0)
            v->verified++;
        else
            v->failed++;
        if (++i == v->n)
            i = 0;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t n = 10000;
    double seconds = 2.0;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    signed_body_t *bodies = NULL;
    verifier_t *vs = NULL;
    atomic_int stop = 0;
    ll_keypair_t senders[8];
    char sink[LL_ADDRESS_HEX + 1];
    int rc = 1;
    size_t made = 0;
    long started = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bodies") == 0 && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: ll_verify_bench [--bodies N] [--seconds S] [--threads T]\n");
            return 2;
        }
    }
    if (n == 0 || threads < 1 || seconds <= 0 || sodium_init() < 0)
        return 2;
    for (size_t k = 0; k < sizeof senders / sizeof *senders; k++)
        ll_keys_generate(&senders[k]);
    ll_keys_address(senders[0].pk, sink);
    if (!(bodies = calloc(n, sizeof *bodies)) || !(vs = calloc((size_t)threads, sizeof *vs)))
        goto out;
    for (; made < n; made++) {
        const ll_keypair_t *kp = &senders[made % (sizeof senders / sizeof *senders)];
        if (make_body(kp, sink, made / (sizeof senders / sizeof *senders), &bodies[made]) < 0) {
            fprintf(stderr, "ll_verify_bench: cannot sign body %zu\n", made);
            goto out;
        }
    }
    for (; started < threads; started++) {
        verifier_t *v = &vs[started];
        *v = (verifier_t){.bodies = bodies,
                          .n = n,
                          .first = (size_t)started * n / (size_t)threads,
                          .stop = &stop};
        if (pthread_create(&v->thread, NULL, verify_loop, v) != 0)
            break;
    }
    double t0 = mono_s();
    struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&nap, NULL);
    atomic_store(&stop, 1);
    uint64_t verified = 0, failed = 0;
    for (long t = 0; t < started; t++) {
        pthread_join(vs[t].thread, NULL);
        verified += vs[t].verified;
        failed += vs[t].failed;
    }
    double dt = mono_s() - t0;
    if (started < threads || failed) {
        fprintf(stderr, "ll_verify_bench: %ld of %ld threads started, %" PRIu64 " failed\n",
                started, threads, failed);
        goto out;
    }
    printf("verify threads=%ld bodies=%zu verified=%" PRIu64 " seconds=%.3f per_s=%.0f\n", threads,
           n, verified, dt, (double)verified / dt);
    rc = 0;
out:
    for (size_t k = 0; k < made; k++)
        free(bodies[k].bytes);
    free(bodies);
    free(vs);
    sodium_memzero(senders, sizeof senders);
    return rc;
}
