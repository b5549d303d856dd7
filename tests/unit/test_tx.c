/* tests/unit/test_tx.c: ledger/tx.h against Python's json.dumps and PyNaCl
 * (tests/vectors/signing_vectors.json), and every validation rule of
 * ll_tx_parse() with a body that breaks exactly that rule. */
#include "ledger/keys.h"
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"

#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Last: cmocka.h uses jmp_buf, va_list, size_t and uintmax_t without
 * including their headers. */
#include <cmocka.h>

#include "testutil.h"

static void sha256_hex(const char *bytes, size_t len, char out[LL_TX_ID_HEX + 1])
{
    uint8_t digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(digest, (const unsigned char *)bytes, len);
    ll_hex_encode(digest, sizeof digest, out);
}

static void test_tx_signing_bytes_match_python_for_every_vector(void **state)
{
    json_t *vecs = vector_section(state, "signing", 1);

    for (size_t i = 0; i < json_array_size(vecs); i++) {
        json_t *vec = json_array_get(vecs, i);
        const char *name = str_at(vec, "name");
        const char *want_hex = str_at(vec, "signing_bytes_hex");
        size_t want_len = strlen(want_hex) / 2;
        uint8_t *want = malloc(want_len + 1);
        char id[LL_TX_ID_HEX + 1];
        char *got = NULL;
        size_t got_len = 0;

        assert_non_null(want);
        assert_int_equal(ll_hex_decode(want_hex, want, want_len), 0);
        assert_code_msg(ll_tx_signing_bytes(json_object_get(vec, "body"), &got, &got_len), 0, name);
        if (got_len != want_len || memcmp(got, want, want_len) != 0)
            fail_msg("%s:\n got  %s\n want %s", name, got, str_at(vec, "signing_bytes"));
        assert_int_equal(strlen(got), got_len);
        sha256_hex(got, got_len, id);
        assert_string_equal(id, str_at(vec, "tx_id"));
        free(got);
        free(want);
    }
}

static void test_tx_signing_bytes_leave_out_the_signature_and_keep_the_body(void **state)
{
    json_t *body = json_pack("{s:i, s:s, s:i}", "b", 1, "signature", "whatever", "a", 2);
    char *bytes = NULL;
    size_t len = 0;

    (void)state;
    assert_non_null(body);
    assert_int_equal(ll_tx_signing_bytes(body, &bytes, &len), 0);
    assert_string_equal(bytes, "{\"a\":2,\"b\":1}");
    assert_int_equal(len, strlen("{\"a\":2,\"b\":1}"));
    assert_string_equal(str_at(body, "signature"), "whatever");
    assert_int_equal(json_object_size(body), 3);
    free(bytes);
    json_decref(body);
}

static void test_tx_signing_bytes_refuse_real_numbers_anywhere(void **state)
{
    static const char *const bodies[] = {
        "{\"fee\": 1.5}",
        "{\"fee\": 1e2}",
        "{\"fee\": 100.0}",
        "{\"a\": [1, {\"b\": [true, -0.0]}]}",
        "{\"signature\": 1.5, \"a\": {\"b\": {\"c\": 2.5}}}",
    };
    char *bytes = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *body = json_loads(bodies[i], 0, NULL);
        assert_non_null(body);
        assert_code_msg(ll_tx_signing_bytes(body, &bytes, NULL), LL_EBADTYPE, bodies[i]);
        assert_null(bytes);
        json_decref(body);
    }
    json_t *arr = json_array();
    assert_code_msg(ll_tx_signing_bytes(arr, &bytes, NULL), LL_EBADTYPE, "an array");
    json_decref(arr);
}

static void test_tx_u_escapes_are_lowercased_but_escaped_backslash_text_is_not(void **state)
{
    /* Values: the text \u00AB then U+001F; a lone backslash; U+001A. */
    json_t *body =
        json_loads("{\"t\": \"\\\\u00AB\\u001F\", \"u\": \"\\\\\", \"\\u001a\": 0}", 0, NULL);
    char *bytes = NULL;

    (void)state;
    assert_non_null(body);
    assert_int_equal(ll_tx_signing_bytes(body, &bytes, NULL), 0);
    assert_string_equal(bytes, "{\"\\u001a\":0,\"t\":\"\\\\u00AB\\u001f\",\"u\":\"\\\\\"}");
    free(bytes);
    json_decref(body);
}

static void test_tx_parse_accepts_python_signed_transactions(void **state)
{
    json_t *vecs = vector_section(state, "signed", 1);

    for (size_t i = 0; i < json_array_size(vecs); i++) {
        json_t *vec = json_array_get(vecs, i);
        const char *name = str_at(vec, "name");
        const char *text = str_at(vec, "submitted");
        json_t *body = json_object_get(vec, "unsigned");
        char why[LL_ERRMSG_MAX] = "";
        char sig_hex[2 * LL_SIG_BYTES + 1];
        ll_tx_t *tx = NULL;
        char *dump;

        if (ll_tx_parse(text, strlen(text), &tx, why) != 0)
            fail_msg("%s: %s", name, why);
        assert_string_equal(tx->tx_id, str_at(vec, "tx_id"));
        assert_string_equal(tx->sender, str_at(vec, "sender"));
        assert_string_equal(ll_tx_kind_name(tx->kind), str_at(body, "kind"));
        ll_hex_encode(tx->signature, LL_SIG_BYTES, sig_hex);
        assert_string_equal(sig_hex, str_at(vec, "signature"));
        assert_int_equal(tx->nonce, json_integer_value(json_object_get(body, "nonce")));
        assert_int_equal(tx->fee, json_integer_value(json_object_get(body, "fee")));
        assert_int_equal(tx->timestamp_ms,
                         json_integer_value(json_object_get(body, "timestamp_ms")));
        switch (tx->kind) {
        case LL_TX_TRANSFER:
            assert_string_equal(tx->recipient, str_at(body, "recipient"));
            assert_int_equal(tx->amount, json_integer_value(json_object_get(body, "amount")));
            assert_string_equal(tx->asset_id, json_object_get(body, "asset_id")
                                                  ? str_at(body, "asset_id")
                                                  : LL_NATIVE_ASSET_ID);
            break;
        case LL_TX_CREATE: {
            json_t *asset = json_object_get(body, "asset");
            assert_string_equal(tx->asset_id, tx->tx_id);
            assert_string_equal(tx->recipient, "");
            assert_int_equal(tx->amount, json_integer_value(json_object_get(asset, "amount")));
            assert_non_null(tx->asset_data);
            assert_true(json_equal((json_t *)tx->asset_data, json_object_get(asset, "data")));
            break;
        }
        case LL_TX_MESSAGE:
            assert_string_equal(tx->recipient, str_at(body, "recipient"));
            assert_string_equal(tx->memo, str_at(body, "memo"));
            assert_string_equal(tx->asset_id, LL_NATIVE_ASSET_ID);
            assert_int_equal(tx->amount, 0);
            break;
        default:
            fail_msg("%s: unexpected kind", name);
        }
        dump = ll_tx_dump(tx);
        assert_non_null(dump);
        assert_string_equal(dump, str_at(vec, "dump"));
        free(dump);
        ll_tx_free(tx);
    }
}

static void keypair_of(const json_t *vec, ll_keypair_t *kp)
{
    uint8_t seed[LL_SEED_BYTES];

    assert_int_equal(ll_hex_decode(str_at(vec, "seed"), seed, sizeof seed), 0);
    ll_keys_from_seed(kp, seed);
}

static void test_tx_sign_reproduces_the_pynacl_signature(void **state)
{
    json_t *vecs = vector_section(state, "signed", 1);

    for (size_t i = 0; i < json_array_size(vecs); i++) {
        json_t *vec = json_array_get(vecs, i);
        json_t *body = json_deep_copy(json_object_get(vec, "unsigned"));
        ll_keypair_t kp;

        keypair_of(vec, &kp);
        assert_int_equal(ll_tx_sign(body, &kp), 0);
        assert_string_equal(str_at(body, "signature"), str_at(vec, "signature"));
        /* Signing again ignores the signature already there. */
        assert_int_equal(ll_tx_sign(body, &kp), 0);
        assert_string_equal(str_at(body, "signature"), str_at(vec, "signature"));
        json_decref(body);
    }
}

static void test_tx_sign_adds_only_the_signature(void **state)
{
    json_t *body = json_pack("{s:s, s:i}", "kind", "transfer", "nonce", 0);
    ll_keypair_t kp;

    (void)state;
    ll_keys_generate(&kp);
    assert_int_equal(ll_tx_sign(body, &kp), 0);
    assert_int_equal(json_object_size(body), 3);
    assert_null(json_object_get(body, "sender_pubkey"));
    assert_true(ll_hex_is_lower(str_at(body, "signature"), 2 * LL_SIG_BYTES));
    json_object_set_new(body, "fee", json_real(0.5)); /* steals the real */
    assert_code_msg(ll_tx_sign(body, &kp), LL_EBADTYPE, "a real fee");
    json_decref(body);
}

/* ---- one rule at a time ------------------------------------------------- */

static const uint8_t test_seed[LL_SEED_BYTES] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

#define RECIPIENT_HEX "0123456789abcdef0123456789abcdef"
#define RECIPIENT "\"" RECIPIENT_HEX "\""
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UPPER64 "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX40 "0123456789abcdef0123456789abcdef01234567"
#define HEX62 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
#define NOTHEX64 "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A valid unsigned body of kind k from kp. */
static json_t *base_body(const char *kind, const ll_keypair_t *kp)
{
    char pk[2 * LL_PK_BYTES + 1];
    json_t *body;

    ll_hex_encode(kp->pk, LL_PK_BYTES, pk);
    body = json_pack("{s:s, s:s, s:i, s:I, s:i}", "kind", kind, "sender_pubkey", pk, "nonce", 7,
                     "timestamp_ms", (json_int_t)1714000000000, "fee", 10000);
    assert_non_null(body);
    if (strcmp(kind, "create") == 0) {
        json_object_set_new(body, "asset",
                            json_loads("{\"data\": {\"n\": 1}, \"amount\": 100}", 0, NULL));
    } else if (strcmp(kind, "deploy") == 0) {
        json_object_set_new(body, "code", json_string("return { [1] = function(ctx) end }"));
        json_object_set_new(body, "gas_limit", json_integer(100000));
    } else if (strcmp(kind, "call") == 0) {
        json_object_set_new(body, "to", json_string("0x" HEX40));
        json_object_set_new(body, "selector", json_integer(1));
        json_object_set_new(body, "args", json_loads("[1, \"two\"]", 0, NULL));
        json_object_set_new(body, "gas_limit", json_integer(100000));
    } else {
        json_object_set_new(body, "recipient", json_loads(RECIPIENT, JSON_DECODE_ANY, NULL));
        if (strcmp(kind, "transfer") == 0)
            json_object_set_new(body, "amount", json_integer(5));
        else
            json_object_set_new(body, "memo", json_string("hello"));
    }
    return body;
}

/* key = value (JSON text), or remove key when value is NULL. */
static void mutate(json_t *body, const char *key, const char *value)
{
    json_error_t err;
    json_t *v;

    if (!value) {
        assert_int_equal(json_object_del(body, key), 0);
        return;
    }
    if (!(v = json_loads(value, JSON_DECODE_ANY, &err)))
        fail_msg("bad test value %s: %s", value, err.text);
    json_object_set_new(body, key, v); /* steals v */
}

typedef struct {
    const char *kind; /* base body */
    const char *key;  /* NULL: the base body unchanged */
    const char *value;
    int after_sign; /* change the body after signing it */
    int want;
    const char *why_has; /* a word the human message must name */
} rule_case_t;

static const rule_case_t rule_cases[] = {
    /* valid bodies pass, so a failure below is the change's doing */
    {"transfer", NULL, NULL, 0, 0, ""},
    {"create", NULL, NULL, 0, 0, ""},
    {"message", NULL, NULL, 0, 0, ""},
    {"transfer", "asset_id", "\"" LL_NATIVE_ASSET_ID "\"", 0, 0, ""},
    {"create", "asset", "{\"data\": null, \"amount\": 1}", 0, 0, ""},
    {"message", "memo", "\"\"", 0, 0, ""},
    /* kind */
    {"transfer", "kind", NULL, 0, LL_EMISSING, "kind"},
    {"transfer", "kind", "7", 0, LL_EBADTYPE, "kind"},
    {"transfer", "kind", "\"mint\"", 0, LL_EKIND, "mint"},
    {"transfer", "kind", "\"Transfer\"", 0, LL_EKIND, "Transfer"},
    {"transfer", "kind", "\"deploy\"", 0, LL_EMISSING, "code"},
    {"transfer", "kind", "\"call\"", 0, LL_EMISSING, "to"},
    /* contracts (API.md §6 limits) */
    {"deploy", NULL, NULL, 0, 0, ""},
    {"call", NULL, NULL, 0, 0, ""},
    {"call", "amount", "5", 0, 0, ""},
    {"call", "selector", "-3", 0, 0, ""},
    {"call", "amount", "-1", 0, LL_EBADAMOUNT, "amount"},
    {"deploy", "gas_limit", "0", 0, LL_EBADAMOUNT, "gas_limit"},
    {"deploy", "gas_limit", "10000001", 0, LL_EGASLIMIT, "gas_limit"},
    {"call", "gas_limit", "10000000", 0, 0, ""},
    {"deploy", "code", "7", 0, LL_EBADTYPE, "code"},
    {"deploy", "memo", "\"x\"", 0, LL_EUNKNOWNFIELD, "memo"},
    {"call", "to", "\"" HEX40 "\"", 0, LL_EBADADDRESS, "to"},
    {"call", "to", "\"0x" RECIPIENT_HEX "\"", 0, LL_EBADADDRESS, "to"},
    {"call", "args", "{}", 0, LL_EBADTYPE, "args"},
    {"call", "args", "[1.5]", 0, LL_EBADARGS, "args[0]"},
    {"call", "args", "[true]", 0, LL_EBADARGS, "args[0]"},
    {"call", "args", "[[1]]", 0, LL_EBADARGS, "args[0]"},
    {"call", "args", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]", 0, LL_ETOOLARGE, "args"},
    {"call", "selector", "\"1\"", 0, LL_EBADTYPE, "selector"},
    /* presence */
    {"transfer", "sender_pubkey", NULL, 0, LL_EMISSING, "sender_pubkey"},
    {"transfer", "nonce", NULL, 0, LL_EMISSING, "nonce"},
    {"transfer", "timestamp_ms", NULL, 0, LL_EMISSING, "timestamp_ms"},
    {"transfer", "fee", NULL, 0, LL_EMISSING, "fee"},
    {"transfer", "signature", NULL, 1, LL_EMISSING, "signature"},
    {"transfer", "recipient", NULL, 0, LL_EMISSING, "recipient"},
    {"transfer", "amount", NULL, 0, LL_EMISSING, "amount"},
    {"create", "asset", NULL, 0, LL_EMISSING, "asset"},
    {"message", "memo", NULL, 0, LL_EMISSING, "memo"},
    {"message", "recipient", NULL, 0, LL_EMISSING, "recipient"},
    /* unknown fields, also those of another kind */
    {"transfer", "extra", "1", 0, LL_EUNKNOWNFIELD, "extra"},
    {"transfer", "memo", "\"hi\"", 0, LL_EUNKNOWNFIELD, "memo"},
    {"message", "asset_id", "\"" HEX64 "\"", 0, LL_EUNKNOWNFIELD, "asset_id"},
    {"create", "amount", "5", 0, LL_EUNKNOWNFIELD, "amount"},
    {"create", "recipient", RECIPIENT, 0, LL_EUNKNOWNFIELD, "recipient"},
    /* types */
    {"transfer", "nonce", "\"0\"", 0, LL_EBADTYPE, "nonce"},
    {"transfer", "fee", "1.5", 0, LL_EBADTYPE, "fee"},
    {"transfer", "timestamp_ms", "1e3", 0, LL_EBADTYPE, "timestamp_ms"},
    {"transfer", "amount", "true", 0, LL_EBADTYPE, "amount"},
    {"transfer", "amount", "null", 0, LL_EBADTYPE, "amount"},
    {"transfer", "amount", "5.0", 0, LL_EBADTYPE, "amount"},
    {"transfer", "sender_pubkey", "5", 0, LL_EBADTYPE, "sender_pubkey"},
    {"transfer", "recipient", "[]", 0, LL_EBADTYPE, "recipient"},
    {"transfer", "asset_id", "0", 0, LL_EBADTYPE, "asset_id"},
    {"transfer", "signature", "{}", 1, LL_EBADTYPE, "signature"},
    {"message", "memo", "5", 0, LL_EBADTYPE, "memo"},
    /* hex: lower case, exact length */
    {"transfer", "sender_pubkey", "\"" UPPER64 "\"", 0, LL_EBADHEX, "sender_pubkey"},
    {"transfer", "sender_pubkey", "\"" HEX62 "\"", 0, LL_EBADHEX, "sender_pubkey"},
    {"transfer", "sender_pubkey", "\"" HEX64 "00\"", 0, LL_EBADHEX, "sender_pubkey"},
    {"transfer", "sender_pubkey", "\"" NOTHEX64 "\"", 0, LL_EBADHEX, "sender_pubkey"},
    {"transfer", "recipient", "\"0123456789ABCDEF0123456789abcdef\"", 0, LL_EBADADDRESS,
     "recipient"},
    {"transfer", "recipient", "\"0123456789abcdef0123456789abcdef01234567\"", 0, LL_EBADADDRESS,
     "recipient"},
    {"message", "recipient", "\"0x0123456789abcdef0123456789abcdef\"", 0, LL_EBADADDRESS,
     "recipient"},
    {"transfer", "asset_id", "\"" HEX64 "\"", 0, 0, ""},
    {"transfer", "asset_id", "\"" UPPER64 "\"", 0, LL_EBADHEX, "asset_id"},
    {"transfer", "asset_id", "\"0123456789abcdef\"", 0, LL_EBADHEX, "asset_id"},
    {"transfer", "signature", "\"" HEX64 "\"", 1, LL_EBADHEX, "signature"},
    {"transfer", "signature", "\"" HEX64 UPPER64 "\"", 1, LL_EBADHEX, "signature"},
    /* ranges */
    {"transfer", "nonce", "-1", 0, LL_EBADAMOUNT, "nonce"},
    {"transfer", "timestamp_ms", "-1", 0, LL_EBADAMOUNT, "timestamp_ms"},
    {"transfer", "fee", "-1", 0, LL_EBADAMOUNT, "fee"},
    {"transfer", "fee", "0", 0, 0, ""},
    {"transfer", "amount", "0", 0, LL_EBADAMOUNT, "amount"},
    {"transfer", "amount", "-9223372036854775808", 0, LL_EBADAMOUNT, "amount"},
    {"transfer", "amount", "9223372036854775807", 0, 0, ""},
    {"create", "asset", "{\"data\": 1, \"amount\": 0}", 0, LL_EBADAMOUNT, "asset.amount"},
    {"create", "asset", "{\"data\": 1, \"amount\": -1}", 0, LL_EBADAMOUNT, "asset.amount"},
    /* asset shape */
    {"create", "asset", "\"gold\"", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "null", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "[1]", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "{}", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "{\"amount\": 1}", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "{\"data\": 1}", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "{\"data\": 1, \"amount\": 1, \"x\": 2}", 0, LL_EBADASSET, "asset"},
    {"create", "asset", "{\"data\": {\"p\": [1, 1.5]}, \"amount\": 1}", 0, LL_EBADASSET,
     "asset.data"},
    {"create", "asset", "{\"data\": 1, \"amount\": \"1\"}", 0, LL_EBADTYPE, "asset.amount"},
    {"create", "asset", "{\"data\": 1, \"amount\": 1.0}", 0, LL_EBADTYPE, "asset.amount"},
    /* signature: any change after signing */
    {"transfer", "nonce", "8", 1, LL_EBADSIG, "signature"},
    {"transfer", "amount", "6", 1, LL_EBADSIG, "signature"},
    {"message", "memo", "\"hello!\"", 1, LL_EBADSIG, "signature"},
    {"create", "asset", "{\"data\": {\"n\": 2}, \"amount\": 100}", 1, LL_EBADSIG, "signature"},
    {"transfer", "asset_id", "\"" LL_NATIVE_ASSET_ID "\"", 1, LL_EBADSIG, "signature"},
    {"transfer", "signature", "\"" HEX64 HEX64 "\"", 1, LL_EBADSIG, "signature"},
    {"transfer", "sender_pubkey", "\"" HEX64 "\"", 0, LL_EBADSIG, "signature"},
};

/* Signs with kp unless the body holds a real (the parser must then refuse
 * it before it looks at the signature, so any well-formed one will do). */
static void sign_or_stub(json_t *body, const ll_keypair_t *kp)
{
    if (ll_tx_sign(body, kp) != 0)
        mutate(body, "signature", "\"" HEX64 HEX64 "\"");
}

static int parse_body(const json_t *body, char *why)
{
    char *text = json_dumps(body, JSON_COMPACT);
    ll_tx_t *tx = (ll_tx_t *)1;
    int rc;

    assert_non_null(text);
    rc = ll_tx_parse(text, strlen(text), &tx, why);
    if (rc == 0)
        assert_non_null(tx);
    else
        assert_null(tx);
    ll_tx_free(tx);
    free(text);
    return rc;
}

static void test_tx_parse_refuses_each_rule_with_its_code(void **state)
{
    ll_keypair_t kp;

    (void)state;
    ll_keys_from_seed(&kp, test_seed);
    for (size_t i = 0; i < sizeof rule_cases / sizeof rule_cases[0]; i++) {
        const rule_case_t *c = &rule_cases[i];
        json_t *body = base_body(c->kind, &kp);
        char what[160];
        char why[LL_ERRMSG_MAX] = "";

        if (c->key && !c->after_sign)
            mutate(body, c->key, c->value);
        sign_or_stub(body, &kp);
        if (c->key && c->after_sign)
            mutate(body, c->key, c->value);
        snprintf(what, sizeof what, "case %zu (%s %s=%s)", i, c->kind, c->key ? c->key : "-",
                 c->value ? c->value : "<removed>");
        assert_code_msg(parse_body(body, why), c->want, what);
        if (c->want != 0 && !strstr(why, c->why_has))
            fail_msg("%s: message \"%s\" does not name '%s'", what, why, c->why_has);
        json_decref(body);
    }
}

static void test_tx_parse_refuses_bad_json_text_with_its_code(void **state)
{
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"", LL_EMALFORMED},
        {"{\"kind\":", LL_EMALFORMED},
        {"{\"kind\": \"transfer\"} trailing", LL_EMALFORMED},
        {"{\"kind\": \"transfer\", \"kind\": \"transfer\"}", LL_EMALFORMED},
        {"{\"memo\": \"a\\u0000b\"}", LL_EMISSING}, /* valid JSON: U+0000 is text */
        {"{\"kind\": \"transfer\\u0000\"}", LL_EKIND},
        {"{\"nonce\": 1e400}", LL_EBADTYPE}, /* a real, if one too big for a double */
        {"{\"memo\": \"\\ud800\"}", LL_EMALFORMED},
        {"{\"memo\": \"\xff\"}", LL_EMALFORMED},
        {"{\"nonce\": 9223372036854775808}", LL_EOVERFLOW},
        {"{\"nonce\": -9223372036854775809}", LL_EOVERFLOW},
        {"[1, 2]", LL_EBADTYPE},
        {"\"transfer\"", LL_EBADTYPE},
        {"null", LL_EBADTYPE},
        {"{}", LL_EMISSING},
    };
    char why[LL_ERRMSG_MAX];
    ll_tx_t *tx;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why[0] = '\0';
        assert_code_msg(ll_tx_parse(cases[i].text, strlen(cases[i].text), &tx, why), cases[i].want,
                        cases[i].text);
        assert_null(tx);
        assert_true(why[0] != '\0');
    }
    /* The length bounds the text: the same object cut short is malformed. */
    assert_code_msg(ll_tx_parse("{}}", 1, &tx, why), LL_EMALFORMED, "{ of {}}");
}

static void test_tx_memo_limit_is_1024_bytes_not_characters(void **state)
{
    char memo[LL_MEMO_MAX + 2];
    ll_keypair_t kp;
    char why[LL_ERRMSG_MAX];

    (void)state;
    ll_keys_from_seed(&kp, test_seed);
    for (int extra = 0; extra <= 1; extra++) {
        json_t *body = base_body("message", &kp);
        /* 256 four-byte emoji: 256 characters, 1024 bytes. */
        memo[0] = '\0';
        for (int i = 0; i < LL_MEMO_MAX / 4; i++)
            strcat(memo, "\xf0\x9f\x98\x80");
        if (extra)
            strcat(memo, "!");
        json_object_set_new(body, "memo", json_string(memo));
        sign_or_stub(body, &kp);
        assert_code_msg(parse_body(body, why), extra ? LL_EMEMO : 0, extra ? "1025 bytes" : "1024");
        json_decref(body);
    }
}

static void test_regress_memo_with_u0000_is_accepted_and_kept_whole(void **state)
{
    ll_keypair_t kp;
    ll_tx_t *tx = NULL;
    char why[LL_ERRMSG_MAX], *text, *bytes = NULL;
    size_t len = 0;
    json_t *body;

    (void)state;
    ll_keys_from_seed(&kp, test_seed);
    body = base_body("message", &kp);
    json_object_set_new(body, "memo", json_stringn("a\0b", 3));
    assert_int_equal(ll_tx_sign(body, &kp), 0);
    text = json_dumps(body, JSON_COMPACT); /* writes the NUL as \u0000, as Python does */
    assert_non_null(strstr(text, "a\\u0000b"));
    assert_int_equal(ll_tx_parse(text, strlen(text), &tx, why), 0);
    assert_int_equal(tx->memo_len, 3);
    assert_memory_equal(tx->memo, "a\0b", 3);
    /* The signing bytes carry the NUL as Python's json.dumps writes it. */
    assert_int_equal(ll_tx_signing_bytes(tx->body, &bytes, &len), 0);
    assert_non_null(strstr(bytes, "\"memo\":\"a\\u0000b\""));
    free(bytes);
    ll_tx_free(tx);
    free(text);
    json_decref(body);
}

static void test_tx_from_json_keeps_its_own_copy_of_the_body(void **state)
{
    ll_keypair_t kp;
    ll_tx_t *tx = NULL;
    json_t *body;
    char *dump;

    (void)state;
    ll_keys_from_seed(&kp, test_seed);
    body = base_body("message", &kp);
    assert_int_equal(ll_tx_sign(body, &kp), 0);
    assert_int_equal(ll_tx_from_json(body, &tx, NULL), 0);
    assert_int_equal(body->refcount, 1);
    json_object_set_new(body, "memo", json_string("changed after parsing"));
    json_decref(body);
    /* Read after the caller's body is gone: ASan would see a dangling borrow. */
    assert_string_equal(tx->memo, "hello");
    assert_string_equal(tx->sender, kp.address);
    dump = ll_tx_dump(tx);
    assert_non_null(dump);
    ll_tx_free(tx);
    tx = NULL;
    /* The dump is itself a valid submission with the same id. */
    assert_int_equal(ll_tx_parse(dump, strlen(dump), &tx, NULL), 0);
    assert_string_equal(tx->memo, "hello");
    free(dump);
    ll_tx_free(tx);

    assert_code_msg(ll_tx_from_json(NULL, &tx, NULL), LL_EBADTYPE, "NULL");
    assert_null(tx);
}

static void test_tx_dump_hashes_to_the_tx_id_without_its_signature(void **state)
{
    json_t *vec = json_array_get(vector_section(state, "signed", 1), 0);
    const char *text = str_at(vec, "submitted");
    ll_tx_t *tx = NULL;
    char *dump, *bytes;
    char id[LL_TX_ID_HEX + 1];
    json_t *back;

    assert_int_equal(ll_tx_parse(text, strlen(text), &tx, NULL), 0);
    assert_non_null(dump = ll_tx_dump(tx));
    assert_non_null(strstr(dump, "\"signature\":\""));
    assert_non_null(back = json_loads(dump, 0, NULL));
    assert_int_equal(ll_tx_signing_bytes(back, &bytes, NULL), 0);
    assert_string_equal(bytes, tx->signing_bytes);
    assert_int_equal(strlen(bytes), tx->signing_len);
    sha256_hex(bytes, strlen(bytes), id);
    assert_string_equal(id, tx->tx_id);
    free(bytes);
    json_decref(back);
    free(dump);
    ll_tx_free(tx);
}

/* The commit's integrity check (ledger/commit.c): the stored text of a
 * verified transaction is bound to it by hash; a changed field or a changed
 * signature is not, and neither costs an Ed25519 verification. */
static void test_tx_stored_bytes_are_the_verified_bytes(void **state)
{
    json_t *vec = json_array_get(vector_section(state, "signed", 1), 0);
    const char *text = str_at(vec, "submitted");
    char why[LL_ERRMSG_MAX], *dump, *changed;
    ll_tx_t *tx = NULL;
    json_t *body;

    assert_int_equal(ll_tx_parse(text, strlen(text), &tx, NULL), 0);
    assert_non_null(dump = ll_tx_dump(tx));
    assert_int_equal(ll_tx_bound(dump, tx, why), 0);
    /* one field changed: another hash */
    assert_non_null(body = json_loads(dump, 0, NULL));
    assert_int_equal(json_object_set_new(body, "nonce", json_integer(9999)), 0);
    assert_non_null(changed = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT));
    assert_int_equal(ll_tx_bound(changed, tx, why), LL_EINTERNAL);
    assert_non_null(strstr(why, "differ"));
    free(changed);
    json_decref(body);
    /* the same bytes with another signature */
    assert_non_null(body = json_loads(dump, 0, NULL));
    assert_int_equal(json_object_set_new(body, "signature", json_string("00")), 0);
    assert_non_null(changed = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT));
    assert_int_equal(ll_tx_bound(changed, tx, why), LL_EINTERNAL);
    assert_non_null(strstr(why, tx->tx_id));
    free(changed);
    json_decref(body);
    assert_int_equal(ll_tx_bound("not json", tx, why), LL_EINTERNAL);
    /* the same members in another order, or spaced: not the bytes verified */
    assert_non_null(body = json_loads(dump, 0, NULL));
    assert_non_null(changed = json_dumps(body, JSON_SORT_KEYS));
    assert_int_equal(ll_tx_bound(changed, tx, why), LL_EINTERNAL);
    free(changed);
    json_decref(body);
    free(dump);
    ll_tx_free(tx);
}

/* What the node journaled after verifying it is read back with every check
 * but the signature's (a restart does not verify its journal again); the
 * other rules still hold. */
static void test_tx_parse_own_skips_only_the_signature_check(void **state)
{
    json_t *vec = json_array_get(vector_section(state, "signed", 1), 0);
    const char *text = str_at(vec, "submitted");
    char why[LL_ERRMSG_MAX], *changed;
    ll_tx_t *tx = NULL, *own = NULL;
    json_t *body;

    assert_int_equal(ll_tx_parse(text, strlen(text), &tx, NULL), 0);
    assert_int_equal(ll_tx_parse_own(text, strlen(text), &own, why), 0);
    assert_string_equal(own->tx_id, tx->tx_id);
    ll_tx_free(own);
    /* a signature that does not verify: refused by ll_tx_parse only */
    assert_non_null(body = json_loads(text, 0, NULL));
    char zeros[2 * LL_SIG_BYTES + 1];
    memset(zeros, '0', 2 * LL_SIG_BYTES);
    zeros[2 * LL_SIG_BYTES] = '\0';
    assert_int_equal(json_object_set_new(body, "signature", json_string(zeros)), 0);
    assert_non_null(changed = json_dumps(body, JSON_COMPACT));
    assert_int_equal(ll_tx_parse(changed, strlen(changed), &own, why), LL_EBADSIG);
    assert_int_equal(ll_tx_parse_own(changed, strlen(changed), &own, why), 0);
    ll_tx_free(own);
    free(changed);
    /* any other rule still refuses */
    assert_int_equal(json_object_set_new(body, "nonce", json_integer(-1)), 0);
    assert_non_null(changed = json_dumps(body, JSON_COMPACT));
    assert_true(ll_tx_parse_own(changed, strlen(changed), &own, why) < 0);
    assert_null(own);
    assert_int_equal(ll_tx_parse_own("{", 1, &own, why), LL_EMALFORMED);
    free(changed);
    json_decref(body);
    ll_tx_free(tx);
}

static void test_tx_free_accepts_a_tx_without_body_or_signing_bytes(void **state)
{
    (void)state;
    ll_tx_t *tx = calloc(1, sizeof *tx);
    assert_non_null(tx);
    ll_tx_free(tx); /* body and signing_bytes are NULL */
    ll_tx_free(NULL);
}

static void test_tx_free_accepts_null_and_kind_names_cover_every_kind(void **state)
{
    (void)state;
    ll_tx_free(NULL);
    assert_string_equal(ll_tx_kind_name(LL_TX_TRANSFER), "transfer");
    assert_string_equal(ll_tx_kind_name(LL_TX_CREATE), "create");
    assert_string_equal(ll_tx_kind_name(LL_TX_MESSAGE), "message");
    assert_string_equal(ll_tx_kind_name(LL_TX_DEPLOY), "deploy");
    assert_string_equal(ll_tx_kind_name(LL_TX_CALL), "call");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_signing_bytes_match_python_for_every_vector),
        cmocka_unit_test(test_tx_signing_bytes_leave_out_the_signature_and_keep_the_body),
        cmocka_unit_test(test_tx_signing_bytes_refuse_real_numbers_anywhere),
        cmocka_unit_test(test_tx_u_escapes_are_lowercased_but_escaped_backslash_text_is_not),
        cmocka_unit_test(test_tx_parse_accepts_python_signed_transactions),
        cmocka_unit_test(test_tx_sign_reproduces_the_pynacl_signature),
        cmocka_unit_test(test_tx_sign_adds_only_the_signature),
        cmocka_unit_test(test_tx_parse_refuses_each_rule_with_its_code),
        cmocka_unit_test(test_tx_parse_refuses_bad_json_text_with_its_code),
        cmocka_unit_test(test_tx_memo_limit_is_1024_bytes_not_characters),
        cmocka_unit_test(test_regress_memo_with_u0000_is_accepted_and_kept_whole),
        cmocka_unit_test(test_tx_from_json_keeps_its_own_copy_of_the_body),
        cmocka_unit_test(test_tx_dump_hashes_to_the_tx_id_without_its_signature),
        cmocka_unit_test(test_tx_stored_bytes_are_the_verified_bytes),
        cmocka_unit_test(test_tx_parse_own_skips_only_the_signature_check),
        cmocka_unit_test(test_tx_free_accepts_a_tx_without_body_or_signing_bytes),
        cmocka_unit_test(test_tx_free_accepts_null_and_kind_names_cover_every_kind),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("ledger/tx", tests, load_vectors, free_vectors);
}
