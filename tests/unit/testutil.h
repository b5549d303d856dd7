/* tests/unit/testutil.h: the helpers more than one unit test needs, kept in
 * one header because CMake builds each tests/unit/test_*.c as its own
 * program and links nothing but ll_core and cmocka. Everything here is a
 * macro or a static inline function, so a test pays only for what it calls.
 *
 *   make_temp_dir, remove_tree   a fresh /tmp/ll-test-<tag>-XXXXXX, and its
 *                                removal with all below it (no shell, no rm)
 *   write_file                   a file that holds exactly a given text
 *   assert_code, assert_code_msg an LL_E* result, failing with both codes'
 *                                names (ll_err_name) rather than numbers
 *   load_vectors, free_vectors   tests/vectors/signing_vectors.json, found
 *                                through $LL_TEST_VECTORS, as group state
 *   vector_section               a named array of that file
 *   str_at, assert_json_str      a JSON object's string member: got, or compared
 *   block_at, put_block          a block header chained at a height; its row
 *   data_dir_new, data_dir_free  a temporary data directory for a store, and its
 *   data_dir_open                removal; a store opened on it in a mode
 *
 * Owns:    nothing; each caller owns the buffers and JSON it passes or gets.
 * Frees:   free_vectors() releases what load_vectors() read; remove_tree()
 *          removes what make_temp_dir() made.
 * Threads: the test thread only: cmocka's assertions longjmp.
 *
 * cmocka.h uses jmp_buf, va_list, size_t and uintmax_t without including
 * their headers, so they come first here as in every test file. */
#ifndef LL_TESTS_UNIT_TESTUTIL_H
#define LL_TESTS_UNIT_TESTUTIL_H

#include "store/store.h"
#include "util/err.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---- temporary directories ------------------------------------------------ */

/* Makes a new directory /tmp/ll-test-<tag>-XXXXXX, mode 0700, and leaves its
 * name in buf. Returns buf, or NULL with buf set to "" (so a teardown that
 * skips an empty name has nothing to remove). Setups check the result; tests
 * assert_non_null() it. */
static inline char *make_temp_dir(char *buf, size_t size, const char *tag)
{
    int n = snprintf(buf, size, "/tmp/ll-test-%s-XXXXXX", tag);
    if (n < 0 || (size_t)n >= size || !mkdtemp(buf)) {
        if (size > 0)
            buf[0] = '\0';
        return NULL;
    }
    return buf;
}

static inline int remove_tree_entry(const char *path, const struct stat *sb, int flag,
                                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it, deepest first, following no symbolic
 * link. Returns 0, or -1 when something could not be removed. */
static inline int remove_tree(const char *dir)
{
    return nftw(dir, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates or truncates path and writes text to it; asserts every step. */
static inline void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

/* ---- a store in a temporary data directory ----------------------------------- */

/* root: the temporary directory (removed by data_dir_free); dir: the data
 * directory below it (root/sub: a writer creates what is missing); path:
 * dir/ledger.db. */
typedef struct data_dir {
    char root[64];
    char dir[128];
    char path[160];
} data_dir_t;

/* A new data_dir_t under /tmp/ll-test-<tag>-XXXXXX, or NULL. */
static inline data_dir_t *data_dir_new(const char *tag, const char *sub)
{
    data_dir_t *d = calloc(1, sizeof *d);
    if (!d || !make_temp_dir(d->root, sizeof d->root, tag)) {
        free(d);
        return NULL;
    }
    snprintf(d->dir, sizeof d->dir, "%s/%s", d->root, sub);
    snprintf(d->path, sizeof d->path, "%s/ledger.db", d->dir);
    return d;
}

/* Removes the tree and frees d; 0 or -1 (cmocka teardown's result). */
static inline int data_dir_free(data_dir_t *d)
{
    int rc = remove_tree(d->root);
    free(d);
    return rc;
}

/* The store of d in mode; asserts it opens. */
static inline ll_store_t *data_dir_open(const data_dir_t *d, ll_store_mode_t mode)
{
    ll_store_t *st = NULL;
    assert_int_equal(ll_store_open(d->dir, mode, LL_SYNC_FULL, &st), 0);
    assert_non_null(st);
    return st;
}

/* ---- result codes ----------------------------------------------------------- */

/* Requires rc == want, both 0 or LL_E* codes; a failure names both codes. */
#define assert_code(rc, want)                                                                      \
    do {                                                                                           \
        int rc_ = (rc), want_ = (want);                                                            \
        if (rc_ != want_)                                                                          \
            fail_msg("got %s, want %s", ll_err_name(rc_), ll_err_name(want_));                     \
    } while (0)

/* The same, with what (a string naming the case) in front of the message. */
#define assert_code_msg(rc, want, what)                                                            \
    do {                                                                                           \
        int rc_ = (rc), want_ = (want);                                                            \
        if (rc_ != want_)                                                                          \
            fail_msg("%s: got %s, want %s", (what), ll_err_name(rc_), ll_err_name(want_));         \
    } while (0)

/* ---- tests/vectors/signing_vectors.json --------------------------------------- */

/* A group setup: parses the vectors file once into *state, which cmocka then
 * passes to each test. JSON_ALLOW_NUL because one vector's string holds
 * U+0000. Returns -1, with the reason on stderr, when it cannot. */
static inline int load_vectors(void **state)
{
    const char *dir = getenv("LL_TEST_VECTORS");
    char path[4096];
    json_error_t err;

    if (!dir) {
        fprintf(stderr, "LL_TEST_VECTORS is not set (CMake points it at tests/vectors)\n");
        return -1;
    }
    snprintf(path, sizeof path, "%s/signing_vectors.json", dir);
    if (!(*state = json_load_file(path, JSON_ALLOW_NUL, &err))) {
        fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
        return -1;
    }
    return 0;
}

/* The group teardown that goes with load_vectors. */
static inline int free_vectors(void **state)
{
    json_decref(*state);
    return 0;
}

/* The array name of the loaded vectors (borrowed), asserted to hold at least
 * min entries. */
static inline json_t *vector_section(void **state, const char *name, size_t min)
{
    json_t *arr = json_object_get(*state, name);
    assert_true(json_is_array(arr));
    assert_true(json_array_size(arr) >= min);
    return arr;
}

/* ---- JSON ----------------------------------------------------------------------- */

/* The string member key of obj (borrowed), asserted present. */
static inline const char *str_at(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    assert_non_null(s);
    return s;
}

/* Requires obj's member key to be a JSON string equal to want. A macro, so
 * a failure reports the test's line. */
#define assert_json_str(obj, key, want)                                                            \
    do {                                                                                           \
        const char *key_ = (key);                                                                  \
        const json_t *v_ = json_object_get((obj), key_);                                           \
        if (!json_is_string(v_))                                                                   \
            fail_msg("\"%s\" is not a string member", key_);                                       \
        assert_string_equal(json_string_value(v_), (want));                                        \
    } while (0)

/* ---- blocks ------------------------------------------------------------------- */

/* A block at height whose hash is height + 1 in 64 hex digits, chained to
 * the previous one (whose hash is height); its other fields are fixed
 * functions of height, so two calls agree. No transactions. */
static inline ll_block_hdr_t block_at(uint64_t height)
{
    ll_block_hdr_t b;
    memset(&b, 0, sizeof b);
    b.height = height;
    snprintf(b.hash, sizeof b.hash, "%064llx", (unsigned long long)height + 1);
    snprintf(b.previous_hash, sizeof b.previous_hash, "%064llx", (unsigned long long)height);
    b.timestamp_ms = 1700000000000 + (int64_t)height;
    b.tx_count = 0;
    snprintf(b.miner, sizeof b.miner, "%s", "0123456789abcdef0123456789abcdef");
    b.difficulty = 20;
    b.nonce = height * 7;
    snprintf(b.tx_root, sizeof b.tx_root, "%064llx", (unsigned long long)height * 3);
    return b;
}

/* Writes block_at(height) to st, in whatever transaction st has open. */
static inline void put_block(ll_store_t *st, uint64_t height)
{
    ll_block_hdr_t b = block_at(height);
    assert_int_equal(ll_store_put_block(st, &b), 0);
}

#endif
