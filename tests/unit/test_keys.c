/* tests/unit/test_keys.c: ledger/keys.h against PyNaCl's keys and addresses
 * (tests/vectors/signing_vectors.json, "keys") and key files on disk. */
#include "ledger/keys.h"
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
#include <sys/stat.h>
#include <unistd.h>

/* Last: cmocka.h uses jmp_buf, va_list, size_t and uintmax_t without
 * including their headers. */
#include <cmocka.h>

#include "testutil.h"

static void seed_of(const json_t *vec, uint8_t seed[LL_SEED_BYTES])
{
    assert_int_equal(ll_hex_decode(str_at(vec, "seed"), seed, LL_SEED_BYTES), 0);
}

/* The "keys" vectors; the tests below use the first three. */
static json_t *key_vectors(void **state)
{
    return vector_section(state, "keys", 3);
}

static void test_keys_from_seed_matches_pynacl_public_key_and_address(void **state)
{
    json_t *vecs = key_vectors(state);

    for (size_t i = 0; i < json_array_size(vecs); i++) {
        json_t *vec = json_array_get(vecs, i);
        uint8_t seed[LL_SEED_BYTES];
        char pk_hex[2 * LL_PK_BYTES + 1];
        ll_keypair_t kp;

        seed_of(vec, seed);
        ll_keys_from_seed(&kp, seed);
        ll_hex_encode(kp.pk, LL_PK_BYTES, pk_hex);
        assert_string_equal(pk_hex, str_at(vec, "public_key"));
        assert_string_equal(kp.address, str_at(vec, "address"));
        /* libsodium's secret key is seed || public key. */
        assert_memory_equal(kp.sk, seed, LL_SEED_BYTES);
        assert_memory_equal(kp.sk + LL_SEED_BYTES, kp.pk, LL_PK_BYTES);
    }
}

static void test_keys_address_is_first_16_bytes_of_sha256_of_public_key(void **state)
{
    json_t *vecs = key_vectors(state);

    for (size_t i = 0; i < json_array_size(vecs); i++) {
        json_t *vec = json_array_get(vecs, i);
        uint8_t pk[LL_PK_BYTES];
        char addr[LL_ADDRESS_HEX + 1];

        assert_int_equal(ll_hex_decode(str_at(vec, "public_key"), pk, sizeof pk), 0);
        memset(addr, 'x', sizeof addr);
        ll_keys_address(pk, addr);
        assert_int_equal(strlen(addr), LL_ADDRESS_HEX);
        assert_string_equal(addr, str_at(vec, "address"));
    }
}

static void test_keys_generate_gives_fresh_pairs_that_rederive_from_their_seed(void **state)
{
    ll_keypair_t a, b, again;

    (void)state;
    ll_keys_generate(&a);
    ll_keys_generate(&b);
    assert_memory_not_equal(a.pk, b.pk, LL_PK_BYTES);
    assert_string_not_equal(a.address, b.address);
    ll_keys_from_seed(&again, a.sk);
    assert_memory_equal(&again, &a, sizeof a);
}

static void test_keys_json_holds_the_seed_and_round_trips(void **state)
{
    json_t *vec = json_array_get(key_vectors(state), 1);
    uint8_t seed[LL_SEED_BYTES];
    ll_keypair_t kp, back;
    json_t *obj;

    seed_of(vec, seed);
    ll_keys_from_seed(&kp, seed);
    obj = ll_keys_to_json(&kp);
    assert_non_null(obj);
    assert_int_equal(json_object_size(obj), 3);
    assert_string_equal(str_at(obj, "secret_key"), str_at(vec, "seed"));
    assert_string_equal(str_at(obj, "public_key"), str_at(vec, "public_key"));
    assert_string_equal(str_at(obj, "address"), str_at(vec, "address"));
    assert_int_equal(ll_keys_from_json(obj, &back), 0);
    assert_memory_equal(&back, &kp, sizeof kp);
    json_decref(obj);
}

static void test_keys_from_json_reports_each_fault(void **state)
{
    json_t *good = json_array_get(key_vectors(state), 1);
    json_t *other = json_array_get(key_vectors(state), 2);
    static const struct {
        const char *key;   /* field to change */
        const char *value; /* JSON text; NULL removes the field */
        int want;
    } cases[] = {
        {"secret_key", NULL, LL_EMISSING}, {"public_key", NULL, LL_EMISSING},
        {"address", NULL, LL_EMISSING},    {"secret_key", "\"ABCDEF\"", LL_EBADHEX},
        {"secret_key", "42", LL_EBADHEX},  {"public_key", "\"00\"", LL_EBADHEX},
        {"address", "null", LL_EBADHEX},   {"public_key", "@other", LL_EBADSIG},
        {"address", "@other", LL_EBADSIG},
    };
    ll_keypair_t kp;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *obj = json_pack("{s:O, s:O, s:O}", "secret_key", json_object_get(good, "seed"),
                                "public_key", json_object_get(good, "public_key"), "address",
                                json_object_get(good, "address"));
        assert_non_null(obj);
        assert_int_equal(ll_keys_from_json(obj, &kp), 0);
        if (!cases[i].value) {
            json_object_del(obj, cases[i].key);
        } else if (cases[i].value[0] == '@') {
            json_object_set(obj, cases[i].key, json_object_get(other, cases[i].key));
        } else {
            /* set_new steals the decoded value. */
            json_object_set_new(obj, cases[i].key,
                                json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
        }
        assert_code(ll_keys_from_json(obj, &kp), cases[i].want);
        json_decref(obj);
    }
    assert_code(ll_keys_from_json(other, &kp), LL_EMISSING); /* a vector, not a key file */
    assert_code(ll_keys_from_json(key_vectors(state), &kp), LL_EBADTYPE);
}

static void test_keys_save_file_tightens_mode_to_0600_and_loads_back(void **state)
{
    char dir[64], path[128];
    ll_keypair_t kp, back;
    struct stat st;
    mode_t old_mask;
    int rc;

    (void)state;
    /* A fresh directory for key files; the test removes what it made. */
    assert_non_null(make_temp_dir(dir, sizeof dir, "keys"));
    snprintf(path, sizeof path, "%s/new.json", dir);
    ll_keys_generate(&kp);
    /* Even a umask that allows everything must not make a key readable. */
    old_mask = umask(0);
    rc = ll_keys_save_file(path, &kp);
    umask(old_mask);
    assert_int_equal(rc, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ll_keys_load_file(path, &back), 0);
    assert_memory_equal(&back, &kp, sizeof kp);
    assert_int_equal(unlink(path), 0);

    /* Overwriting a world-readable file: O_TRUNC alone would keep 0644. */
    snprintf(path, sizeof path, "%s/old.json", dir);
    write_file(path, "{\"junk\": \"a much longer text than a key file would ever need to hold\"}");
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ll_keys_save_file(path, &kp), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ll_keys_load_file(path, &back), 0);
    assert_memory_equal(&back, &kp, sizeof kp);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_keys_load_file_tells_io_errors_from_bad_content(void **state)
{
    char dir[64], path[128];
    ll_keypair_t kp;

    (void)state;
    assert_non_null(make_temp_dir(dir, sizeof dir, "keys"));
    snprintf(path, sizeof path, "%s/absent.json", dir);
    assert_code(ll_keys_load_file(path, &kp), LL_EIO);

    snprintf(path, sizeof path, "%s/garbage.json", dir);
    write_file(path, "{\"secret_key\": ");
    assert_code(ll_keys_load_file(path, &kp), LL_EMALFORMED);

    write_file(path, "{\"secret_key\": \"00\", \"secret_key\": \"00\"}");
    assert_code(ll_keys_load_file(path, &kp), LL_EMALFORMED);

    write_file(path, "{\"public_key\": \"00\"}");
    assert_code(ll_keys_load_file(path, &kp), LL_EMISSING);
    assert_int_equal(unlink(path), 0);

    snprintf(path, sizeof path, "%s/no/such/dir.json", dir);
    ll_keys_generate(&kp);
    assert_code(ll_keys_save_file(path, &kp), LL_EIO);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_from_seed_matches_pynacl_public_key_and_address),
        cmocka_unit_test(test_keys_address_is_first_16_bytes_of_sha256_of_public_key),
        cmocka_unit_test(test_keys_generate_gives_fresh_pairs_that_rederive_from_their_seed),
        cmocka_unit_test(test_keys_json_holds_the_seed_and_round_trips),
        cmocka_unit_test(test_keys_from_json_reports_each_fault),
        cmocka_unit_test(test_keys_save_file_tightens_mode_to_0600_and_loads_back),
        cmocka_unit_test(test_keys_load_file_tells_io_errors_from_bad_content),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("ledger/keys", tests, load_vectors, free_vectors);
}
