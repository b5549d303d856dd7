/* tests/unit/test_block.c: block headers through block.h: the tx root, the
 * header hash, proof of work and the block's JSON. Expected digests were
 * computed once with Python's hashlib and json (the expressions are in the
 * comments), so the C code is checked against an independent implementation. */
#include "ledger/block.h"
#include "store/store.h"
#include "util/err.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

/* hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest() */
#define ID_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define ID_B "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define ID_ZERO "0000000000000000000000000000000000000000000000000000000000000000"
/* ids = [ID_A, ID_B, ID_ZERO]
 * hashlib.sha256(b"".join(bytes.fromhex(i) for i in ids)).hexdigest() */
#define ROOT_ABZ "47404a78acd028f0670dad2c2c92b32e3173e8b90c923d751c77515a5b14fef0"
/* hashlib.sha256(bytes.fromhex(ID_A)).hexdigest() */
#define ROOT_A "bf5d3affb73efd2ec6c36ad3112dd933efed63c4e1cbffcfa88e2759c144f2d8"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define MINER "0123456789abcdef0123456789abcdef"

/* The fixed header; its Python twin is
 * hdr = {"difficulty": 3, "height": 42, "miner": MINER, "nonce": 12345,
 *        "previous_hash": "ab" * 32, "timestamp_ms": 1700000000123,
 *        "tx_root": ROOT_ABZ} */
static ll_block_hdr_t fixed_header(void)
{
    ll_block_hdr_t b;
    memset(&b, 0, sizeof b);
    b.height = 42;
    for (int i = 0; i < 32; i++)
        memcpy(b.previous_hash + 2 * i, "ab", 2);
    b.timestamp_ms = 1700000000123;
    b.tx_count = 3;
    snprintf(b.miner, sizeof b.miner, "%s", MINER);
    b.difficulty = 3;
    b.nonce = 12345;
    snprintf(b.tx_root, sizeof b.tx_root, "%s", ROOT_ABZ);
    return b;
}

static void test_block_tx_root_of_no_ids_is_sha256_of_empty_string(void **state)
{
    (void)state;
    char out[65];
    memset(out, 'x', sizeof out);
    assert_int_equal(ll_block_tx_root(NULL, 0, out), 0);
    assert_string_equal(out, SHA256_EMPTY);
}

static void test_block_tx_root_hashes_raw_ids_in_block_order(void **state)
{
    (void)state;
    const char *const ids[] = {ID_A, ID_B, ID_ZERO};
    const char *const one[] = {ID_A};
    const char *const swapped[] = {ID_B, ID_A, ID_ZERO};
    char out[65];
    assert_int_equal(ll_block_tx_root(ids, 3, out), 0);
    assert_string_equal(out, ROOT_ABZ);
    assert_int_equal(ll_block_tx_root(one, 1, out), 0);
    assert_string_equal(out, ROOT_A);
    /* Order matters. */
    assert_int_equal(ll_block_tx_root(swapped, 3, out), 0);
    assert_string_not_equal(out, ROOT_ABZ);
}

static void test_block_tx_root_rejects_ids_that_are_not_64_lowercase_hex(void **state)
{
    (void)state;
    char out[65];
    const char *const upper[] = {
        ID_A, "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB"};
    const char *const short_id[] = {"ca978112"};
    const char *const long_id[] = {ID_A "00"};
    const char *const not_hex[] = {
        "zz978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"};
    assert_int_equal(ll_block_tx_root(upper, 2, out), LL_EBADHEX);
    assert_int_equal(ll_block_tx_root(short_id, 1, out), LL_EBADHEX);
    assert_int_equal(ll_block_tx_root(long_id, 1, out), LL_EBADHEX);
    assert_int_equal(ll_block_tx_root(not_hex, 1, out), LL_EBADHEX);
}

/* s = json.dumps(hdr, sort_keys=True, separators=(",", ":"))
 * hashlib.sha256(s.encode()).hexdigest() */
static void test_block_hash_matches_python_canonical_json(void **state)
{
    (void)state;
    ll_block_hdr_t b = fixed_header();
    char out[65];
    assert_int_equal(ll_block_hash(&b, out), 0);
    assert_string_equal(out, "704e8b233bc35ed54e8819f8a9599df573eee23ade14f93901218f1a5939d066");
}

/* Fields outside the hashed header (hash, tx_count, quantum_verified) do not
 * change it. */
static void test_block_hash_ignores_fields_outside_the_header(void **state)
{
    (void)state;
    ll_block_hdr_t b = fixed_header();
    char before[65], after[65];
    assert_int_equal(ll_block_hash(&b, before), 0);
    b.tx_count = 999;
    b.quantum_verified = 1;
    snprintf(b.hash, sizeof b.hash, "%s", ID_A);
    assert_int_equal(ll_block_hash(&b, after), 0);
    assert_string_equal(before, after);
}

static int leading_zero_hex(const char *hash)
{
    int n = 0;
    while (hash[n] == '0')
        n++;
    return n;
}

static void test_block_mine_meets_difficulty_and_pow_ok_accepts_it(void **state)
{
    (void)state;
    for (uint32_t d = 0; d <= 4; d++) {
        ll_block_hdr_t b = fixed_header();
        char again[65];
        b.difficulty = d;
        b.nonce = 777; /* mining starts from 0 whatever was there */
        assert_int_equal(ll_block_mine(&b), 0);
        assert_int_equal(strlen(b.hash), 64);
        assert_true(leading_zero_hex(b.hash) >= (int)d);
        assert_true(ll_block_pow_ok(&b));
        if (d == 0)
            assert_int_equal(b.nonce, 0); /* nonce 0 already meets difficulty 0 */
        /* The incremental search hashed exactly the canonical header. */
        assert_int_equal(ll_block_hash(&b, again), 0);
        assert_string_equal(again, b.hash);
    }
}

/* Python: the first n from 0 with sha256(dumps(dict(hdr, nonce=n,
 * difficulty=d))) starting with d zeros: d=3 -> 235, d=4 -> 109227. */
static void test_block_mine_finds_the_first_nonce_python_finds(void **state)
{
    (void)state;
    ll_block_hdr_t b = fixed_header();
    b.difficulty = 3;
    assert_int_equal(ll_block_mine(&b), 0);
    assert_int_equal(b.nonce, 235);
    assert_string_equal(b.hash, "000a8fc3edeb5202253b74abe977315a41d660ceb9200031554872cd55935370");
    b = fixed_header();
    b.difficulty = 4;
    assert_int_equal(ll_block_mine(&b), 0);
    assert_int_equal(b.nonce, 109227);
    assert_string_equal(b.hash, "000015db6ebdb055568df460838632ee3d3023f935a0c278b135261f5f166188");
}

/* The header's bytes by another road: jansson's sorted compact dump, which
 * for these ASCII values is the canonical serialization. */
static char *dump_header(const ll_block_hdr_t *b, uint64_t nonce)
{
    json_t *h = json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:s}", "difficulty",
                          (json_int_t)b->difficulty, "height", (json_int_t)b->height, "miner",
                          b->miner, "nonce", (json_int_t)nonce, "previous_hash", b->previous_hash,
                          "timestamp_ms", (json_int_t)b->timestamp_ms, "tx_root", b->tx_root);
    char *text = json_dumps(h, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(h);
    return text;
}

static void sodium_header_hash(const ll_block_hdr_t *b, uint64_t nonce, uint8_t digest[32])
{
    char *text = dump_header(b, nonce);
    assert_non_null(text);
    crypto_hash_sha256(digest, (const unsigned char *)text, strlen(text));
    free(text);
}

/* Mining hashes with OpenSSL from a copied midstate and counts the nonce's
 * digits up in place; libsodium over the whole header must agree on the hash,
 * and (where a search is cheap) on the nonce being the first that meets the
 * difficulty, so a wrong copy, a skipped or misspelt nonce shows here. */
static void test_block_mine_hash_is_libsodium_sha256_of_canonical_header(void **state)
{
    (void)state;
    for (uint64_t h = 0; h < 12; h++) {
        ll_block_hdr_t b = fixed_header();
        uint8_t digest[32];
        char hex[65];
        b.height = h;
        b.difficulty = 2 + (uint32_t)(h % 3);
        assert_int_equal(ll_block_mine(&b), 0);
        assert_true(ll_block_pow_ok(&b));
        sodium_header_hash(&b, b.nonce, digest);
        sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
        assert_string_equal(b.hash, hex);
        assert_true(leading_zero_hex(hex) >= (int)b.difficulty);
        for (uint64_t n = 0; b.difficulty <= 3 && n < b.nonce; n++) {
            sodium_header_hash(&b, n, digest);
            sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
            assert_true(leading_zero_hex(hex) < (int)b.difficulty);
        }
    }
}

static void test_block_pow_ok_fails_when_any_header_field_changes(void **state)
{
    (void)state;
    ll_block_hdr_t mined = fixed_header(), b;
    mined.difficulty = 3;
    assert_int_equal(ll_block_mine(&mined), 0);
    assert_true(ll_block_pow_ok(&mined));

    b = mined;
    b.height++;
    assert_false(ll_block_pow_ok(&b));

    b = mined;
    b.previous_hash[63] = b.previous_hash[63] == 'b' ? 'c' : 'b';
    assert_false(ll_block_pow_ok(&b));

    b = mined;
    b.timestamp_ms++;
    assert_false(ll_block_pow_ok(&b));

    b = mined;
    snprintf(b.tx_root, sizeof b.tx_root, "%s", SHA256_EMPTY);
    assert_false(ll_block_pow_ok(&b));

    b = mined;
    b.miner[0] = b.miner[0] == '0' ? '1' : '0';
    assert_false(ll_block_pow_ok(&b));

    b = mined;
    b.nonce++;
    assert_false(ll_block_pow_ok(&b));

    b = mined;
    b.difficulty = 2; /* still has the zeros, but the hashed header differs */
    assert_false(ll_block_pow_ok(&b));
}

static void test_block_pow_ok_fails_when_hash_is_not_the_headers(void **state)
{
    (void)state;
    ll_block_hdr_t b = fixed_header();
    b.difficulty = 3;
    assert_int_equal(ll_block_mine(&b), 0);
    /* Another string with the required zeros is still not this header's. */
    b.hash[63] = b.hash[63] == '0' ? '1' : '0';
    assert_false(ll_block_pow_ok(&b));
    b.hash[0] = '\0';
    assert_false(ll_block_pow_ok(&b));
}

static void test_block_pow_ok_fails_when_true_hash_misses_difficulty(void **state)
{
    (void)state;
    ll_block_hdr_t b = fixed_header();
    b.difficulty = 3;
    /* The Python search above says no nonce below 235 meets difficulty 3. */
    b.nonce = 12;
    assert_int_equal(ll_block_hash(&b, b.hash), 0);
    assert_true(leading_zero_hex(b.hash) < 3);
    assert_false(ll_block_pow_ok(&b));
    /* The same header with difficulty 0 is fine. */
    b.difficulty = 0;
    assert_int_equal(ll_block_hash(&b, b.hash), 0);
    assert_true(ll_block_pow_ok(&b));
}

static void test_block_json_has_seed_keys_in_seed_order(void **state)
{
    (void)state;
    static const char *const order[] = {
        "height",   "hash",         "previous_hash", "timestamp",
        "tx_count", "miner",        "difficulty",    "quantum_verified",
        "nonce",    "timestamp_ms", "tx_root"};
    ll_block_hdr_t b = fixed_header();
    assert_int_equal(ll_block_mine(&b), 0);
    b.quantum_verified = 1;
    json_t *j = ll_block_json(&b);
    assert_non_null(j);
    size_t i = 0;
    for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it), i++) {
        assert_true(i < sizeof order / sizeof order[0]);
        assert_string_equal(json_object_iter_key(it), order[i]);
    }
    /* The seed's eight first, then exactly the three extensions. */
    assert_int_equal(i, sizeof order / sizeof order[0]);
    json_decref(j);
}

static void test_block_json_values_and_types(void **state)
{
    (void)state;
    ll_block_hdr_t b = fixed_header();
    assert_int_equal(ll_block_mine(&b), 0);
    json_t *j = ll_block_json(&b);
    assert_non_null(j);
    json_t *ts = json_object_get(j, "timestamp");
    assert_true(json_is_real(ts));
    assert_true(json_real_value(ts) == 1700000000123 / 1000.0);
    assert_true(json_is_integer(json_object_get(j, "height")));
    assert_int_equal(json_integer_value(json_object_get(j, "height")), 42);
    assert_json_str(j, "hash", b.hash);
    assert_json_str(j, "previous_hash", b.previous_hash);
    assert_int_equal(json_integer_value(json_object_get(j, "tx_count")), 3);
    assert_json_str(j, "miner", MINER);
    assert_int_equal(json_integer_value(json_object_get(j, "difficulty")), 3);
    assert_true(json_is_false(json_object_get(j, "quantum_verified")));
    assert_int_equal(json_integer_value(json_object_get(j, "nonce")), 235);
    assert_int_equal(json_integer_value(json_object_get(j, "timestamp_ms")), 1700000000123);
    assert_json_str(j, "tx_root", ROOT_ABZ);
    json_decref(j);

    b.quantum_verified = 1;
    b.timestamp_ms = 1500; /* a whole number of seconds is still a real */
    j = ll_block_json(&b);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "quantum_verified")));
    assert_true(json_is_real(json_object_get(j, "timestamp")));
    assert_true(json_real_value(json_object_get(j, "timestamp")) == 1.5);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_tx_root_of_no_ids_is_sha256_of_empty_string),
        cmocka_unit_test(test_block_tx_root_hashes_raw_ids_in_block_order),
        cmocka_unit_test(test_block_tx_root_rejects_ids_that_are_not_64_lowercase_hex),
        cmocka_unit_test(test_block_hash_matches_python_canonical_json),
        cmocka_unit_test(test_block_hash_ignores_fields_outside_the_header),
        cmocka_unit_test(test_block_mine_meets_difficulty_and_pow_ok_accepts_it),
        cmocka_unit_test(test_block_mine_finds_the_first_nonce_python_finds),
        cmocka_unit_test(test_block_mine_hash_is_libsodium_sha256_of_canonical_header),
        cmocka_unit_test(test_block_pow_ok_fails_when_any_header_field_changes),
        cmocka_unit_test(test_block_pow_ok_fails_when_hash_is_not_the_headers),
        cmocka_unit_test(test_block_pow_ok_fails_when_true_hash_misses_difficulty),
        cmocka_unit_test(test_block_json_has_seed_keys_in_seed_order),
        cmocka_unit_test(test_block_json_values_and_types),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("ledger/block", tests, NULL, NULL);
}
