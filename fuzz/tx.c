/* fuzz/tx.c: transaction JSON, parse -> validate -> canonical bytes.
 *
 * Each input is tried three ways:
 *  1. as a submitted transaction (ll_tx_parse): every shape check runs, and
 *     the signature almost never verifies;
 *  2. as any JSON object: its signing bytes (ll_tx_signing_bytes) and its
 *     canonical text (ll_tx_canonical_text) must round-trip, i.e. parsing
 *     them and serialising again gives the same bytes;
 *  3. the same object signed with a fixed key (its sender_pubkey, when it
 *     has one, replaced by that key's), so the validation behind the
 *     signature check runs too (ll_tx_from_json).
 * Whatever validates must round-trip as a transaction: ll_tx_dump's text
 * parses again (ll_tx_parse) to the same tx_id and the same text. */
#include "ledger/keys.h"
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The flags of ll_tx_parse, so a body that loads here loads there. */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

static ll_keypair_t kp;
static char kp_hex[2 * LL_PK_BYTES + 1];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t seed[LL_SEED_BYTES];
    (void)argc, (void)argv;
    if (sodium_init() < 0)
        abort();
    memset(seed, 7, sizeof seed);
    ll_keys_from_seed(&kp, seed);
    ll_hex_encode(kp.pk, sizeof kp.pk, kp_hex);
    return 0;
}

/* A validated transaction's text parses back to itself. */
static void check_tx_round_trip(const ll_tx_t *tx)
{
    char why[LL_ERRMSG_MAX];
    ll_tx_t *again = NULL;
    char *text = ll_tx_dump(tx), *text2 = NULL;
    if (!text)
        return; /* out of memory */
    if (ll_tx_parse(text, strlen(text), &again, why) != 0)
        __builtin_trap(); /* its own canonical text is refused */
    if (strcmp(again->tx_id, tx->tx_id) != 0 || again->kind != tx->kind)
        __builtin_trap();
    text2 = ll_tx_dump(again);
    if (text2 && strcmp(text, text2) != 0)
        __builtin_trap();
    free(text2);
    free(text);
    ll_tx_free(again);
}

/* bytes -> object -> serialise(object) must equal bytes. */
static void check_text_round_trip(const char *text, size_t len, int signing)
{
    json_error_t err;
    json_t *obj = json_loadb(text, len, LOAD_FLAGS, &err);
    char *again = NULL;
    size_t again_len = 0;
    if (!obj || !json_is_object(obj))
        __builtin_trap(); /* canonical text that is not a JSON object */
    if (signing) {
        if (ll_tx_signing_bytes(obj, &again, &again_len) != 0)
            __builtin_trap();
    } else {
        again = ll_tx_canonical_text(obj);
        again_len = again ? strlen(again) : 0;
    }
    if (again && (again_len != len || memcmp(again, text, len) != 0))
        __builtin_trap();
    free(again);
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[LL_ERRMSG_MAX];
    ll_tx_t *tx = NULL;
    json_error_t err;

    if (ll_tx_parse((const char *)data, size, &tx, why) == 0) {
        check_tx_round_trip(tx);
        ll_tx_free(tx);
        tx = NULL;
    }

    json_t *obj = json_loadb((const char *)data, size, LOAD_FLAGS, &err);
    if (!obj || !json_is_object(obj))
        goto out;
    char *bytes = NULL, *text = NULL;
    size_t len;
    if (ll_tx_signing_bytes(obj, &bytes, &len) == 0) {
        if (strlen(bytes) != len)
            __builtin_trap();
        check_text_round_trip(bytes, len, 1);
    }
    free(bytes);
    if ((text = ll_tx_canonical_text(obj)))
        check_text_round_trip(text, strlen(text), 0);
    free(text);

    if (json_object_get(obj, "sender_pubkey"))
        json_object_set_new(obj, "sender_pubkey", json_string(kp_hex));
    if (ll_tx_sign(obj, &kp) == 0 && ll_tx_from_json(obj, &tx, why) == 0) {
        check_tx_round_trip(tx);
        ll_tx_free(tx);
    }
out:
    json_decref(obj);
    return 0;
}
