/* tests/unit/test_auth.c: the messenger's accounts through auth/ headers:
 * custody (key file, seal, tamper detection), passwords (Argon2id), session
 * tokens and the cookie parser, the account rules, and the store rows they
 * rest on (store/users.h: users, sessions, the message history query), and
 * the limits on hostile clients: the rate-limit table and the password-hash
 * gate.
 * Expected digests come from Python's hashlib (the expression is beside
 * each). Each test gets its own temporary data directory. */
#include "auth/account.h"
#include "auth/custody.h"
#include "auth/hashgate.h"
#include "auth/password.h"
#include "auth/ratelimit.h"
#include "auth/session.h"
#include "ledger/keys.h"
#include "store/store.h"
#include "store/users.h"
#include "util/err.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

/* t = "0123456789abcdef" * 4; hashlib.sha256(t.encode()).hexdigest() */
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOKEN_HASH "a8ae6e6ee929abea3afcfc5258c8ccd6f85273e0d4626d26c7279f3250f77c8e"

#define ALICE "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define BOB "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define CAROL "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0" /* an address without a user */

typedef struct {
    char root[64]; /* the mkdtemp directory, also the data directory */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!make_temp_dir(f->root, sizeof f->root, "auth")) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc = remove_tree(f->root);
    free(f);
    return rc;
}

static ll_custody_t *open_custody(const char *dir)
{
    ll_custody_t *c = NULL;
    assert_int_equal(ll_custody_open(dir, &c), 0);
    assert_non_null(c);
    return c;
}

/* ---- custody --------------------------------------------------------------- */

static void test_custody_creates_key_file_0600_and_reuses_it(void **state)
{
    fixture_t *f = *state;
    char path[128], first[80], again[80];
    uint8_t seed[LL_SEED_BYTES], out[LL_SEED_BYTES];
    char sealed[LL_CUSTODY_SEALED_HEX + 1];
    struct stat sb;
    FILE *fp;

    randombytes_buf(seed, sizeof seed);
    ll_custody_t *c = open_custody(f->root);
    snprintf(path, sizeof path, "%s/custody.key", f->root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(fgets(first, sizeof first, fp));
    fclose(fp);
    assert_int_equal(strlen(first), 65); /* 64 hex and a newline */
    ll_custody_seal(c, seed, sealed);
    ll_custody_free(c);

    /* A restart reads the same key: what was sealed before still opens. */
    c = open_custody(f->root);
    assert_int_equal(ll_custody_unseal(c, sealed, out), 0);
    assert_memory_equal(out, seed, sizeof seed);
    ll_custody_free(c);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(fgets(again, sizeof again, fp));
    fclose(fp);
    assert_string_equal(first, again);
}

static void test_custody_seal_round_trips_with_a_fresh_nonce_each_time(void **state)
{
    fixture_t *f = *state;
    uint8_t seed[LL_SEED_BYTES], out[LL_SEED_BYTES];
    char a[LL_CUSTODY_SEALED_HEX + 1], b[LL_CUSTODY_SEALED_HEX + 1];

    randombytes_buf(seed, sizeof seed);
    ll_custody_t *c = open_custody(f->root);
    ll_custody_seal(c, seed, a);
    ll_custody_seal(c, seed, b);
    assert_int_equal(strlen(a), LL_CUSTODY_SEALED_HEX);
    assert_string_not_equal(a, b); /* the same seed never seals to the same text */
    assert_int_equal(ll_custody_unseal(c, a, out), 0);
    assert_memory_equal(out, seed, sizeof seed);
    assert_int_equal(ll_custody_unseal(c, b, out), 0);
    assert_memory_equal(out, seed, sizeof seed);
    ll_custody_free(c);
}

static void test_custody_unseal_detects_any_altered_byte(void **state)
{
    fixture_t *f = *state;
    uint8_t seed[LL_SEED_BYTES], out[LL_SEED_BYTES], zero[LL_SEED_BYTES] = {0};
    char sealed[LL_CUSTODY_SEALED_HEX + 1];

    randombytes_buf(seed, sizeof seed);
    ll_custody_t *c = open_custody(f->root);
    ll_custody_seal(c, seed, sealed);
    /* Nonce (first 48 hex), MAC, ciphertext: flipping any nibble breaks it. */
    for (size_t i = 0; i < LL_CUSTODY_SEALED_HEX; i += 7) {
        char altered[LL_CUSTODY_SEALED_HEX + 1];
        memcpy(altered, sealed, sizeof altered);
        altered[i] = altered[i] == '0' ? '1' : '0';
        memset(out, 0xee, sizeof out);
        assert_int_equal(ll_custody_unseal(c, altered, out), LL_EINTERNAL);
        assert_memory_equal(out, zero, sizeof out); /* nothing half-opened is left */
    }
    ll_custody_free(c);
}

static void test_custody_unseal_refuses_another_nodes_seal_and_bad_hex(void **state)
{
    fixture_t *f = *state;
    char other_dir[128], sealed[LL_CUSTODY_SEALED_HEX + 1];
    uint8_t seed[LL_SEED_BYTES], out[LL_SEED_BYTES];

    snprintf(other_dir, sizeof other_dir, "%s/other", f->root);
    assert_int_equal(mkdir(other_dir, 0700), 0);
    randombytes_buf(seed, sizeof seed);
    ll_custody_t *mine = open_custody(f->root), *theirs = open_custody(other_dir);
    ll_custody_seal(theirs, seed, sealed);
    assert_int_equal(ll_custody_unseal(mine, sealed, out), LL_EINTERNAL);
    assert_int_equal(ll_custody_unseal(theirs, sealed, out), 0);
    sealed[10] = 'A'; /* upper case is not the stored spelling */
    assert_int_equal(ll_custody_unseal(theirs, sealed, out), LL_EBADHEX);
    sealed[LL_CUSTODY_SEALED_HEX - 2] = '\0';
    assert_int_equal(ll_custody_unseal(theirs, sealed, out), LL_EBADHEX);
    assert_int_equal(ll_custody_unseal(theirs, "", out), LL_EBADHEX);
    ll_custody_free(mine);
    ll_custody_free(theirs);
}

static void test_custody_refuses_a_malformed_key_file(void **state)
{
    fixture_t *f = *state;
    char path[128];
    ll_custody_t *c = (ll_custody_t *)f; /* open must clear it */

    snprintf(path, sizeof path, "%s/custody.key", f->root);
    write_file(path, "not a key\n");
    assert_int_equal(ll_custody_open(f->root, &c), LL_EIO);
    assert_null(c);
    write_file(path, TOKEN "00\n"); /* 66 digits */
    assert_int_equal(ll_custody_open(f->root, &c), LL_EIO);
    write_file(path, TOKEN); /* no newline is fine */
    assert_int_equal(ll_custody_open(f->root, &c), 0);
    ll_custody_free(c);
}

/* ---- passwords --------------------------------------------------------------- */

static void test_password_hash_verifies_only_the_same_password(void **state)
{
    (void)state;
    char hash[LL_PASSWORD_HASH_CAP];
    assert_int_equal(ll_password_hash("correct horse", 13, hash), 0);
    assert_non_null(strstr(hash, "$argon2id$"));
    assert_int_equal(ll_password_verify(hash, "correct horse", 13), 0);
    assert_int_equal(ll_password_verify(hash, "correct horsf", 13), LL_EBADCREDENTIALS);
    assert_int_equal(ll_password_verify(hash, "correct hors", 12), LL_EBADCREDENTIALS);
    assert_int_equal(ll_password_verify("not a hash", "correct horse", 13), LL_EBADCREDENTIALS);
}

static void test_password_dummy_hash_costs_what_a_real_one_does(void **state)
{
    (void)state;
    const char *dummy = ll_password_dummy_hash();
    /* Same algorithm and limits as a fresh hash, so verifying takes as long. */
    assert_int_equal(crypto_pwhash_str_needs_rehash(dummy, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                    crypto_pwhash_MEMLIMIT_INTERACTIVE),
                     0);
    assert_int_equal(strncmp(dummy, "$argon2id$", 10), 0);
    assert_int_equal(ll_password_verify(dummy, "devdevdev", 9), LL_EBADCREDENTIALS);
    assert_int_equal(ll_password_verify(dummy, "", 0), LL_EBADCREDENTIALS);
}

/* ---- tokens and cookies ----------------------------------------------------------- */

static void test_token_hash_is_sha256_of_the_tokens_hex_text(void **state)
{
    (void)state;
    char hash[LL_TOKEN_HASH_HEX + 1];
    assert_int_equal(ll_auth_token_hash(TOKEN, hash), 0);
    assert_string_equal(hash, TOKEN_HASH);
}

static void test_token_hash_refuses_what_cannot_be_a_token(void **state)
{
    (void)state;
    char hash[LL_TOKEN_HASH_HEX + 1];
    assert_int_equal(ll_auth_token_hash("", hash), LL_EUNAUTHORIZED);
    assert_int_equal(ll_auth_token_hash(
                         "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", hash),
                     LL_EUNAUTHORIZED);
    assert_int_equal(ll_auth_token_hash(TOKEN "0", hash), LL_EUNAUTHORIZED);
}

static void test_token_new_is_random_hex_with_matching_hash(void **state)
{
    (void)state;
    char a[LL_SESSION_TOKEN_HEX + 1], ah[LL_TOKEN_HASH_HEX + 1], check[LL_TOKEN_HASH_HEX + 1];
    char b[LL_SESSION_TOKEN_HEX + 1], bh[LL_TOKEN_HASH_HEX + 1];
    ll_auth_token_new(a, ah);
    ll_auth_token_new(b, bh);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(ll_auth_token_hash(a, check), 0);
    assert_string_equal(check, ah);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, ah); /* what is stored is not what opens */
}

static void test_cookie_finds_session_among_several_with_spaces(void **state)
{
    (void)state;
    char out[80];
    size_t pos = 0;
    const char *h = "theme=dark;  session = " TOKEN " ;lang=en; sessionx=1";
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, out, sizeof out), 64);
    assert_string_equal(out, TOKEN);
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, out, sizeof out), LL_ENOTFOUND);
    pos = 0;
    assert_int_equal(ll_auth_cookie_next(h, "lang", &pos, out, sizeof out), 2);
    assert_string_equal(out, "en");
    pos = 0;
    assert_int_equal(ll_auth_cookie_next(h, "Session", &pos, out, sizeof out), LL_ENOTFOUND);
}

static void test_cookie_walks_repeats_joined_headers_and_quotes(void **state)
{
    (void)state;
    char out[80], tiny[4];
    size_t pos = 0;
    /* Two Cookie headers arrive joined by ", " (RFC 9110 §5.3). */
    const char *h = "session=\"abc\", xsession=no; session=; session=toolong;session=last";
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, out, sizeof out), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, tiny, sizeof tiny), LL_EBADPARAM);
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, tiny, sizeof tiny), LL_EBADPARAM);
    assert_int_equal(ll_auth_cookie_next(h, "session", &pos, tiny, sizeof tiny), LL_ENOTFOUND);
    pos = 0;
    assert_int_equal(ll_auth_cookie_next("", "session", &pos, out, sizeof out), LL_ENOTFOUND);
    pos = 0;
    assert_int_equal(ll_auth_cookie_next(";;=;session", "session", &pos, out, sizeof out),
                     LL_ENOTFOUND);
}

static void test_cookie_header_sets_attributes_and_expires_on_logout(void **state)
{
    (void)state;
    char out[LL_AUTH_COOKIE_HEADER_CAP];
    ll_auth_cookie_header(TOKEN, LL_SESSION_MAX_AGE_S, 0, out, sizeof out);
    assert_string_equal(out, "session=" TOKEN "; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000");
    ll_auth_cookie_header(TOKEN, LL_SESSION_MAX_AGE_S, 1, out, sizeof out);
    assert_non_null(strstr(out, "; Secure"));
    ll_auth_cookie_header(NULL, LL_SESSION_MAX_AGE_S, 0, out, sizeof out);
    assert_string_equal(out, "session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
}

/* ---- account rules ------------------------------------------------------------------ */

static void test_username_rule_takes_3_to_32_of_the_allowed_characters(void **state)
{
    (void)state;
    static const char *const good[] = {"bob", "a.b-c_d", "0123456789abcdefghijklmnopqrstuv", "dev"};
    static const char *const bad[] = {"ab", "Alice", "al ice", "al/ice", "élan", "",
                                      "0123456789abcdefghijklmnopqrstuvw",
                                      /* 32 hex digits: that is an address */
                                      ALICE};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(ll_auth_username_ok(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ll_auth_username_ok(bad[i], strlen(bad[i])));
    assert_false(ll_auth_username_ok("bob\0x", 5)); /* a NUL inside */
    assert_false(ll_auth_password_ok(7));
    assert_true(ll_auth_password_ok(8));
    assert_true(ll_auth_password_ok(1024));
    assert_false(ll_auth_password_ok(1025));
}

/* ---- store rows: users and sessions ---------------------------------------------------- */

static ll_store_t *open_writer(const fixture_t *f)
{
    ll_store_t *st = NULL;
    assert_int_equal(ll_store_open(f->root, LL_STORE_WRITER, LL_SYNC_NORMAL, &st), 0);
    return st;
}

static ll_store_user_t make_user(const ll_custody_t *c, const char *name, const char *password)
{
    ll_store_user_t u;
    assert_int_equal(ll_auth_user_new(c, name, password, strlen(password), &u), 0);
    return u;
}

static void test_user_new_seals_a_key_whose_address_is_stored(void **state)
{
    fixture_t *f = *state;
    ll_custody_t *c = open_custody(f->root);
    ll_store_t *st = open_writer(f);
    ll_store_user_t u = make_user(c, "alice", "password1"), got;
    uint8_t seed[LL_SEED_BYTES];
    ll_keypair_t kp;
    char name[40];
    json_t *result = NULL;
    char why[LL_ERRMSG_MAX] = "";

    assert_int_equal(ll_auth_put_user_fn(st, &u, &result, why), 0);
    assert_json_str(result, "username", "alice");
    assert_json_str(result, "address", u.address);
    json_decref(result);
    result = NULL;
    assert_int_equal(ll_auth_put_user_fn(st, &u, &result, why), LL_EUSERNAMETAKEN);
    assert_null(result);
    assert_non_null(strstr(why, "alice"));

    assert_int_equal(ll_store_get_user(st, "alice", &got), 0);
    assert_string_equal(got.address, u.address);
    assert_int_equal(ll_password_verify(got.password_hash, "password1", 9), 0);
    assert_int_equal(ll_custody_unseal(c, got.sealed_seed, seed), 0);
    ll_keys_from_seed(&kp, seed);
    assert_string_equal(kp.address, u.address);
    assert_int_equal(ll_store_get_user(st, "bob", &got), LL_ENOTFOUND);

    assert_int_equal(ll_store_username_of(st, u.address, name, sizeof name), 0);
    assert_string_equal(name, "alice");
    assert_int_equal(ll_store_username_of(st, CAROL, name, sizeof name), LL_ENOTFOUND);
    assert_int_equal(ll_store_username_of(st, u.address, name, 3), LL_EBADPARAM);
    ll_store_close(st);
    ll_custody_free(c);
}

static void test_session_lookup_finds_live_sessions_only(void **state)
{
    fixture_t *f = *state;
    ll_custody_t *c = open_custody(f->root);
    ll_store_t *st = open_writer(f);
    ll_store_user_t u = make_user(c, "alice", "password1");
    char username[LL_USERNAME_MAX + 1], address[33], hash[LL_TOKEN_HASH_HEX + 1];
    char token[LL_SESSION_TOKEN_HEX + 1], token_hash[LL_TOKEN_HASH_HEX + 1], cookie[200];
    const int64_t now = 1780000000000;

    assert_int_equal(ll_store_put_user(st, &u), 0);
    ll_auth_token_new(token, token_hash);
    assert_int_equal(ll_store_put_session(st, token_hash, "alice", now, now + 1000), 0);
    assert_int_equal(ll_store_put_session(st, TOKEN_HASH, "alice", now - 2000, now - 1000), 0);
    /* An unknown user breaks the foreign key. */
    assert_int_equal(ll_store_put_session(st, TOKEN_HASH "x", "nobody", now, now + 1), LL_ESTORE);

    /* The expired cookie comes first; the live one after it still counts. */
    snprintf(cookie, sizeof cookie, "a=b; session=" TOKEN "; session=%s", token);
    assert_int_equal(ll_auth_session_lookup(st, cookie, now, username, address, hash), 0);
    assert_string_equal(username, "alice");
    assert_string_equal(address, u.address);
    assert_string_equal(hash, token_hash);
    assert_int_equal(ll_auth_session_lookup(st, cookie, now + 1000, username, address, NULL),
                     LL_EUNAUTHORIZED); /* expired at that instant */
    assert_int_equal(ll_auth_session_lookup(st, "session=" TOKEN, now, username, address, NULL),
                     LL_EUNAUTHORIZED);
    assert_int_equal(ll_auth_session_lookup(st, NULL, now, username, address, NULL),
                     LL_EUNAUTHORIZED);
    assert_int_equal(ll_auth_session_lookup(st, "session=zz", now, username, address, NULL),
                     LL_EUNAUTHORIZED);

    /* Pruning drops the expired row only; logout drops the live one. */
    assert_int_equal(ll_store_prune_sessions(st, now), 0);
    int64_t expires;
    assert_int_equal(ll_store_get_session(st, TOKEN_HASH, username, address, &expires),
                     LL_ENOTFOUND);
    assert_int_equal(ll_store_get_session(st, token_hash, username, address, &expires), 0);
    assert_int_equal(expires, now + 1000);
    assert_int_equal(ll_store_delete_session(st, token_hash), 0);
    assert_int_equal(ll_store_delete_session(st, token_hash), 0);
    assert_int_equal(ll_auth_session_lookup(st, cookie, now, username, address, NULL),
                     LL_EUNAUTHORIZED);
    ll_store_close(st);
    ll_custody_free(c);
}

/* ---- store rows: the message history ------------------------------------------------------ */

/* tx_id: the height and index in hex, so a test can name it. */
static void put_tx(ll_store_t *st, uint64_t height, uint32_t index, const char *kind,
                   const char *from, const char *to, const char *memo)
{
    ll_store_tx_t tx;
    char body[256];
    memset(&tx, 0, sizeof tx);
    snprintf(tx.tx_id, sizeof tx.tx_id, "%056llx%08x", (unsigned long long)height, index);
    tx.height = height;
    tx.index = index;
    tx.kind = kind;
    strcpy(tx.sender, from);
    strcpy(tx.recipient, to);
    strcpy(tx.asset_id, "0000000000000000000000000000000000000000000000000000000000000000");
    tx.timestamp_ms = 1780000000000 + (int64_t)height * 10 + index;
    snprintf(body, sizeof body, "{\"kind\":\"%s\",\"memo\":\"%s\"}", kind, memo ? memo : "");
    tx.body = body;
    assert_int_equal(ll_store_put_tx(st, &tx), 0);
}

typedef struct {
    char memos[16][32];
    char senders[16][40];
    size_t n;
} seen_t;

static int collect(const ll_store_msg_t *m, void *arg)
{
    seen_t *s = arg;
    assert_true(s->n < 16);
    snprintf(s->memos[s->n], sizeof s->memos[0], "%s", m->memo);
    snprintf(s->senders[s->n], sizeof s->senders[0], "%s",
             m->sender_username ? m->sender_username : m->sender);
    s->n++;
    return 0;
}

static seen_t messages(ll_store_t *st, const char *me, const char *other, const char *before,
                       uint32_t limit, int expect_rc)
{
    seen_t s;
    ll_store_msg_query_t q = {.me = me, .other = other, .before = before, .limit = limit};
    memset(&s, 0, sizeof s);
    assert_int_equal(ll_store_messages(st, &q, collect, &s), expect_rc);
    return s;
}

/* Requires the page to hold exactly the memos listed (NULL ends the list),
 * in that order. */
static void assert_memos(const seen_t *s, ...)
{
    const char *want[16];
    size_t n = 0;
    va_list ap;

    va_start(ap, s);
    while (n < 16 && (want[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    if (s->n != n)
        fail_msg("got %zu messages, want %zu", s->n, n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->memos[i], want[i]) != 0)
            fail_msg("message %zu: got \"%s\", want \"%s\"", i, s->memos[i], want[i]);
}

static void test_messages_page_newest_first_in_sql_and_return_oldest_first(void **state)
{
    fixture_t *f = *state;
    ll_store_t *st = open_writer(f);
    ll_store_user_t alice, bob;
    char before[65];
    seen_t s;

    memset(&alice, 0, sizeof alice);
    strcpy(alice.username, "alice");
    strcpy(alice.address, ALICE);
    strcpy(alice.password_hash, "x");
    strcpy(alice.sealed_seed, "x");
    bob = alice;
    strcpy(bob.username, "bob");
    strcpy(bob.address, BOB);
    assert_int_equal(ll_store_put_user(st, &alice), 0);
    assert_int_equal(ll_store_put_user(st, &bob), 0);
    for (uint64_t h = 0; h <= 3; h++)
        put_block(st, h);
    put_tx(st, 1, 0, "message", ALICE, BOB, "m1");
    put_tx(st, 1, 1, "transfer", ALICE, BOB, NULL); /* not a message */
    put_tx(st, 1, 2, "message", BOB, ALICE, "m2");
    put_tx(st, 2, 0, "message", CAROL, ALICE, "m3");
    put_tx(st, 2, 1, "message", ALICE, ALICE, "self");
    put_tx(st, 3, 0, "message", BOB, CAROL, "not alice's");

    /* "self" comes once, though alice both sent and got it. */
    s = messages(st, ALICE, NULL, NULL, 100, 0);
    assert_memos(&s, "m1", "m2", "m3", "self", NULL);
    assert_string_equal(s.senders[0], "alice");
    assert_string_equal(s.senders[1], "bob");
    assert_string_equal(s.senders[2], CAROL); /* no user: the address */

    s = messages(st, ALICE, NULL, NULL, 2, 0); /* the newest two, still oldest first */
    assert_memos(&s, "m3", "self", NULL);

    snprintf(before, sizeof before, "%056llx%08x", 2ULL, 0u); /* m3 */
    s = messages(st, ALICE, NULL, before, 100, 0);
    assert_memos(&s, "m1", "m2", NULL);
    snprintf(before, sizeof before, "%056llx%08x", 1ULL, 2u); /* m2: same block, earlier idx */
    s = messages(st, ALICE, NULL, before, 100, 0);
    assert_memos(&s, "m1", NULL);

    s = messages(st, ALICE, BOB, NULL, 100, 0);
    assert_memos(&s, "m1", "m2", NULL);
    s = messages(st, ALICE, ALICE, NULL, 100, 0);
    assert_memos(&s, "self", NULL);
    s = messages(st, BOB, CAROL, NULL, 100, 0);
    assert_memos(&s, "not alice's", NULL);

    messages(st, ALICE, NULL, TOKEN_HASH, 100, LL_ENOTFOUND);
    ll_store_close(st);
}

/* ---- rate limits ----------------------------------------------------------- */

/* Tables are big (fixed size); tests keep theirs on the heap. */
static ll_ratelimit_t *ratelimit_new(void)
{
    ll_ratelimit_t *rl = malloc(sizeof *rl);
    assert_non_null(rl);
    assert_int_equal(ll_ratelimit_init(rl), 0);
    return rl;
}

static void ratelimit_free(ll_ratelimit_t *rl)
{
    ll_ratelimit_close(rl);
    free(rl);
}

/* N at once, then a refusal that says how long to wait: the time one
 * token takes to come back, rounded up to whole seconds. */
static void test_ratelimit_spends_the_burst_then_refuses_with_retry_after(void **state)
{
    (void)state;
    ll_ratelimit_t *rl = ratelimit_new();
    uint32_t retry = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 1000, &retry), 0);
    assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 1000, &retry), LL_ERATELIMIT);
    assert_int_equal(retry, 12); /* 5 a minute: one every 12 s */
    assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 1000 + 11999, &retry), LL_ERATELIMIT);
    assert_int_equal(retry, 1); /* a millisecond short still says 1 s */
    assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 1000 + 12000, &retry), 0);
    assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 1000 + 12000, &retry), LL_ERATELIMIT);
    /* A minute refills it whole, and never more than whole. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 10 * 60000, NULL), 0);
    assert_int_equal(ll_ratelimit_take(rl, "10.0.0.1", 5, 10 * 60000, NULL), LL_ERATELIMIT);
    ratelimit_free(rl);
}

static void test_ratelimit_keys_are_apart_give_returns_one_and_zero_is_no_limit(void **state)
{
    (void)state;
    ll_ratelimit_t *rl = ratelimit_new();
    assert_int_equal(ll_ratelimit_take(rl, "alice", 1, 0, NULL), 0);
    assert_int_equal(ll_ratelimit_take(rl, "alice", 1, 0, NULL), LL_ERATELIMIT);
    assert_int_equal(ll_ratelimit_take(rl, "bob", 1, 0, NULL), 0);
    ll_ratelimit_give(rl, "alice", 1, 0); /* the attempt did not count */
    ll_ratelimit_give(rl, "alice", 1, 0); /* never above a full bucket */
    assert_int_equal(ll_ratelimit_take(rl, "alice", 1, 0, NULL), 0);
    assert_int_equal(ll_ratelimit_take(rl, "alice", 1, 0, NULL), LL_ERATELIMIT);
    ll_ratelimit_give(rl, "carol", 1, 0); /* unknown: nothing to give back to */
    assert_int_equal(ll_ratelimit_take(rl, "carol", 1, 0, NULL), 0);
    assert_int_equal(ll_ratelimit_take(rl, "carol", 1, 0, NULL), LL_ERATELIMIT);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ll_ratelimit_take(rl, "alice", 0, 0, NULL), 0);
    ratelimit_free(rl);
}

/* The set a key falls in, as the table computes it (its layout is in the
 * header: LL_RATELIMIT_SETS sets of LL_RATELIMIT_WAYS buckets). */
static uint64_t set_of(const ll_ratelimit_t *rl, const char *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl->sip_key);
    memcpy(&v, h, sizeof v);
    return (v ? v : 1) % LL_RATELIMIT_SETS;
}

/* Many keys never grow the table (its size is fixed); a new key in a full
 * set replaces a bucket that has refilled before any that is spent, and
 * only when none has, the least recently used one (a refused attempt is a
 * use: a key being hammered stays known). */
static void test_ratelimit_table_is_bounded_and_forgets_refilled_keys_first(void **state)
{
    (void)state;
    ll_ratelimit_t *rl = ratelimit_new();
    char k[16][32]; /* keys of the victim's set */
    int n = 0;
    assert_true(sizeof *rl < 256 * 1024);
    uint64_t set = set_of(rl, "victim");
    for (int i = 0; n < 16; i++) {
        snprintf(k[n], sizeof k[0], "k%d", i);
        if (set_of(rl, k[n]) == set)
            n++;
    }
    assert_int_equal(LL_RATELIMIT_WAYS, 8);
    assert_int_equal(ll_ratelimit_take(rl, "victim", 1, 0, NULL), 0); /* spent */
    for (int i = 0; i < 6; i++) { /* six buckets full again */
        assert_int_equal(ll_ratelimit_take(rl, k[i], 1, 1000, NULL), 0);
        ll_ratelimit_give(rl, k[i], 1, 1000);
    }
    assert_int_equal(ll_ratelimit_take(rl, k[6], 1, 1500, NULL), 0); /* the set is full */
    assert_int_equal(ll_ratelimit_take(rl, k[7], 1, 2000, NULL), 0);
    assert_int_equal(ll_ratelimit_take(rl, "victim", 1, 2000, NULL), LL_ERATELIMIT);
    for (int i = 8; i < 13; i++) /* the five other refilled ones go */
        assert_int_equal(ll_ratelimit_take(rl, k[i], 1, 2500, NULL), 0);
    /* Every bucket spent: the least recent use (k6 at 1500) goes. */
    assert_int_equal(ll_ratelimit_take(rl, k[13], 1, 3000, NULL), 0);
    assert_int_equal(ll_ratelimit_take(rl, "victim", 1, 3000, NULL), LL_ERATELIMIT);
    assert_int_equal(ll_ratelimit_take(rl, k[6], 1, 3000, NULL), 0); /* forgotten: full */
    /* A flood of keys takes no memory the table does not have. */
    for (int i = 0; i < 100000; i++) {
        char key[32];
        snprintf(key, sizeof key, "flood%d", i);
        ll_ratelimit_take(rl, key, 1, 5000, NULL);
    }
    ratelimit_free(rl);
}

static void test_ratelimit_client_key_is_the_ipv4_or_the_ipv6_slash_64(void **state)
{
    (void)state;
    char out[64];
    ll_ratelimit_client_key("192.0.2.7", out, sizeof out);
    assert_string_equal(out, "192.0.2.7");
    ll_ratelimit_client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out, sizeof out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    ll_ratelimit_client_key("2001:db8:1:2::1", out, sizeof out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    ll_ratelimit_client_key("::1", out, sizeof out);
    assert_string_equal(out, "::/64");
    ll_ratelimit_client_key("unknown", out, sizeof out);
    assert_string_equal(out, "unknown");
}

/* ---- the password-hash gate ---------------------------------------------------- */

/* slots run at once; queue_cap wait, served in the order they came; the
 * next one is refused; a waiter whose turn has come waits for a slot. */
static void test_hashgate_runs_slots_at_once_and_serves_a_bounded_line_in_order(void **state)
{
    (void)state;
    ll_hashgate_t g;
    uint64_t t1 = 0, t2 = 0, t3 = 0;
    uint32_t running, waiting;
    assert_int_equal(ll_hashgate_init(&g, 2, 2), 0);
    assert_int_equal(ll_hashgate_enter(&g, &t1), LL_HASHGATE_GO);
    assert_int_equal(ll_hashgate_enter(&g, &t1), LL_HASHGATE_GO);
    assert_int_equal(ll_hashgate_enter(&g, &t1), LL_HASHGATE_WAIT);
    assert_int_equal(ll_hashgate_enter(&g, &t2), LL_HASHGATE_WAIT);
    assert_int_equal(ll_hashgate_enter(&g, &t3), LL_ERATELIMIT);
    ll_hashgate_counts(&g, &running, &waiting);
    assert_int_equal(running, 2);
    assert_int_equal(waiting, 2);
    assert_int_equal(ll_hashgate_poll(&g, t1), 0); /* no slot */
    ll_hashgate_leave(&g);
    assert_int_equal(ll_hashgate_poll(&g, t2), 0); /* t1 came first */
    assert_int_equal(ll_hashgate_poll(&g, t1), 1);
    assert_int_equal(ll_hashgate_poll(&g, t2), 0); /* its turn, but no slot */
    /* A newcomer joins the line rather than overtaking it. */
    assert_int_equal(ll_hashgate_enter(&g, &t3), LL_HASHGATE_WAIT);
    ll_hashgate_leave(&g);
    assert_int_equal(ll_hashgate_poll(&g, t3), 0);
    assert_int_equal(ll_hashgate_poll(&g, t2), 1);
    ll_hashgate_leave(&g);
    assert_int_equal(ll_hashgate_poll(&g, t3), 1);
    ll_hashgate_leave(&g);
    ll_hashgate_leave(&g);
    ll_hashgate_counts(&g, &running, &waiting);
    assert_int_equal(running, 0);
    assert_int_equal(waiting, 0);
    assert_int_equal(ll_hashgate_enter(&g, &t1), LL_HASHGATE_GO);
    ll_hashgate_leave(&g);
    ll_hashgate_close(&g);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_custody_creates_key_file_0600_and_reuses_it),
        T(test_custody_seal_round_trips_with_a_fresh_nonce_each_time),
        T(test_custody_unseal_detects_any_altered_byte),
        T(test_custody_unseal_refuses_another_nodes_seal_and_bad_hex),
        T(test_custody_refuses_a_malformed_key_file),
        T(test_password_hash_verifies_only_the_same_password),
        T(test_password_dummy_hash_costs_what_a_real_one_does),
        T(test_token_hash_is_sha256_of_the_tokens_hex_text),
        T(test_token_hash_refuses_what_cannot_be_a_token),
        T(test_token_new_is_random_hex_with_matching_hash),
        T(test_cookie_finds_session_among_several_with_spaces),
        T(test_cookie_walks_repeats_joined_headers_and_quotes),
        T(test_cookie_header_sets_attributes_and_expires_on_logout),
        T(test_username_rule_takes_3_to_32_of_the_allowed_characters),
        T(test_user_new_seals_a_key_whose_address_is_stored),
        T(test_session_lookup_finds_live_sessions_only),
        T(test_messages_page_newest_first_in_sql_and_return_oldest_first),
        T(test_ratelimit_spends_the_burst_then_refuses_with_retry_after),
        T(test_ratelimit_keys_are_apart_give_returns_one_and_zero_is_no_limit),
        T(test_ratelimit_table_is_bounded_and_forgets_refilled_keys_first),
        T(test_ratelimit_client_key_is_the_ipv4_or_the_ipv6_slash_64),
        T(test_hashgate_runs_slots_at_once_and_serves_a_bounded_line_in_order),
#undef T
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
