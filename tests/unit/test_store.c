/* tests/unit/test_store.c: the SQLite store through store.h. Each test gets
 * its own temporary data directory (setup) and removes it (teardown). */
#include "store/store.h"
#include "util/err.h"

#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ALICE "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define BOB "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"

typedef data_dir_t fixture_t; /* testutil.h */

static int setup(void **state)
{
    return (*state = data_dir_new("store", "data/node")) ? 0 : -1;
}

static int teardown(void **state)
{
    return data_dir_free(*state);
}

static ll_store_t *open_store(const fixture_t *f, ll_store_mode_t mode)
{
    return data_dir_open(f, mode);
}

static ll_store_tx_t tx_at(uint64_t height, uint32_t index, const char *kind, const char *body)
{
    ll_store_tx_t tx;
    memset(&tx, 0, sizeof tx);
    snprintf(tx.tx_id, sizeof tx.tx_id, "%056llx%08x", (unsigned long long)height, index);
    tx.height = height;
    tx.index = index;
    tx.kind = kind;
    strcpy(tx.sender, ALICE);
    strcpy(tx.recipient, BOB);
    strcpy(tx.asset_id, HASH_A);
    tx.amount = 100 + index;
    tx.fee = 1;
    tx.nonce = index;
    tx.timestamp_ms = 1700000000000 + index;
    tx.body = body;
    return tx;
}

/* Commits an empty block with one event and returns that event's seq. */
static uint64_t commit_block_with_event(ll_store_t *st, uint64_t height)
{
    uint64_t seq = 0;
    assert_int_equal(ll_store_begin(st), 0);
    put_block(st, height);
    assert_int_equal(ll_store_append_event(st, height, "block", NULL, "", "{}", &seq), 0);
    assert_int_equal(ll_store_commit(st), 0);
    return seq;
}

static void assert_block_equal(const ll_block_hdr_t *a, const ll_block_hdr_t *b)
{
    assert_int_equal(a->height, b->height);
    assert_string_equal(a->hash, b->hash);
    assert_string_equal(a->previous_hash, b->previous_hash);
    assert_int_equal(a->timestamp_ms, b->timestamp_ms);
    assert_int_equal(a->tx_count, b->tx_count);
    assert_string_equal(a->miner, b->miner);
    assert_int_equal(a->difficulty, b->difficulty);
    assert_true(a->nonce == b->nonce);
    assert_string_equal(a->tx_root, b->tx_root);
    assert_int_equal(a->quantum_verified, b->quantum_verified);
}

/* Sets PRAGMA user_version by hand, as an operator with the sqlite3 shell would. */
static void set_user_version(const char *path, int version)
{
    sqlite3 *db = NULL;
    char sql[64];
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_store_creates_database_and_reopens_with_same_chain(void **state)
{
    fixture_t *f = *state;
    ll_block_hdr_t b0 = block_at(0), b1 = block_at(1), got;
    struct stat sb;

    b1.nonce = UINT64_MAX; /* the whole range survives the signed column */
    b1.difficulty = UINT32_MAX;
    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(stat(f->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_true(ll_store_schema_version(st) >= 1);
    assert_int_equal(ll_store_begin(st), 0);
    assert_int_equal(ll_store_put_block(st, &b0), 0);
    assert_int_equal(ll_store_put_block(st, &b1), 0);
    assert_int_equal(ll_store_set_verified(st, 1), 0);
    assert_int_equal(ll_store_commit(st), 0);
    int version = ll_store_schema_version(st);
    ll_store_close(st);

    st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_schema_version(st), version);
    assert_int_equal(ll_store_latest_block(st, &got), 0);
    b1.quantum_verified = 1;
    assert_block_equal(&got, &b1);
    assert_int_equal(ll_store_block_by_height(st, 0, &got), 0);
    assert_block_equal(&got, &b0);
    ll_store_close(st);

    /* The file is in WAL mode for every later connection too. */
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_store_reader_fails_when_no_database(void **state)
{
    fixture_t *f = *state;
    ll_store_t *st = (ll_store_t *)f; /* any non-NULL value: open must clear it */

    assert_int_equal(ll_store_open(f->dir, LL_STORE_READER, LL_SYNC_FULL, &st), LL_ENOTFOUND);
    assert_null(st);
    /* A reader creates nothing. */
    assert_int_equal(access(f->dir, F_OK), -1);

    /* A file no writer has initialised yet is no database either. */
    char data[160];
    snprintf(data, sizeof data, "%s/data", f->root);
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(ll_store_open(f->dir, LL_STORE_READER, LL_SYNC_FULL, &st), LL_ENOTFOUND);
    assert_null(st);
}

static void test_store_writer_fails_when_dir_cannot_be_created(void **state)
{
    fixture_t *f = *state;
    char file[160];
    ll_store_t *st = (ll_store_t *)f;

    /* root/data is a file, so root/data/node cannot be a directory. */
    snprintf(file, sizeof file, "%s/data", f->root);
    write_file(file, "");
    assert_int_equal(ll_store_open(f->dir, LL_STORE_WRITER, LL_SYNC_FULL, &st), LL_EIO);
    assert_null(st);
    assert_int_equal(ll_store_open(file, LL_STORE_WRITER, LL_SYNC_FULL, &st), LL_EIO);
    assert_null(st);
    assert_int_equal(ll_store_open("", LL_STORE_WRITER, LL_SYNC_FULL, &st), LL_EIO);
    assert_null(st);
}

static void test_store_reader_sees_commit_of_writer(void **state)
{
    fixture_t *f = *state;
    ll_block_hdr_t got;
    uint64_t seq;
    int64_t units;

    ll_store_t *w = open_store(f, LL_STORE_WRITER);
    commit_block_with_event(w, 0);
    ll_store_t *r = open_store(f, LL_STORE_READER);
    assert_int_equal(ll_store_latest_block(r, &got), 0);
    assert_int_equal(got.height, 0);

    assert_int_equal(ll_store_begin(w), 0);
    put_block(w, 1);
    assert_int_equal(ll_store_set_balance(w, ALICE, HASH_A, 50), 0);
    assert_int_equal(ll_store_append_event(w, 1, "block", NULL, "", "{}", &seq), 0);
    /* Uncommitted: the reader still sees the old chain, without waiting. */
    assert_int_equal(ll_store_latest_block(r, &got), 0);
    assert_int_equal(got.height, 0);
    assert_int_equal(ll_store_balance(r, ALICE, HASH_A, &units), 0);
    assert_int_equal(units, 0);
    assert_int_equal(ll_store_commit(w), 0);

    assert_int_equal(ll_store_latest_block(r, &got), 0);
    assert_int_equal(got.height, 1);
    assert_int_equal(ll_store_balance(r, ALICE, HASH_A, &units), 0);
    assert_int_equal(units, 50);
    assert_int_equal(ll_store_last_event_seq(r, &seq), 0);
    assert_int_equal(seq, 2);
    /* A reader cannot write. */
    ll_block_hdr_t b2 = block_at(2);
    assert_int_equal(ll_store_put_block(r, &b2), LL_ESTORE);
    ll_store_close(r);
    ll_store_close(w);

    /* And opens once the writer has gone. */
    r = open_store(f, LL_STORE_READER);
    assert_int_equal(ll_store_latest_block(r, &got), 0);
    assert_int_equal(got.height, 1);
    ll_store_close(r);
}

typedef struct {
    const fixture_t *f;
    uint64_t blocks;
    atomic_int finished;
} writer_arg_t;

static void *write_blocks(void *p)
{
    writer_arg_t *a = p;
    ll_store_t *w = NULL;
    int failed = ll_store_open(a->f->dir, LL_STORE_WRITER, LL_SYNC_NORMAL, &w) != 0;
    for (uint64_t h = 1; !failed && h <= a->blocks; h++) {
        ll_block_hdr_t b = block_at(h);
        uint64_t seq;
        failed = ll_store_begin(w) != 0 || ll_store_put_block(w, &b) != 0 ||
                 ll_store_append_event(w, h, "block", NULL, "", "{}", &seq) != 0 ||
                 ll_store_commit(w) != 0;
    }
    ll_store_close(w);
    atomic_store(&a->finished, 1);
    return failed ? p : NULL;
}

/* WAL: a reader on another thread never fails or goes backwards while the
 * writer commits, and reaches the last block. */
static void test_store_reader_reads_while_writer_commits_on_another_thread(void **state)
{
    fixture_t *f = *state;
    writer_arg_t arg = {.f = f, .blocks = 200};
    ll_block_hdr_t got;
    uint64_t last = 0;
    int reads = 0, rc = 0;
    pthread_t t;
    void *res;

    atomic_init(&arg.finished, 0);
    ll_store_t *w = open_store(f, LL_STORE_WRITER);
    commit_block_with_event(w, 0);
    ll_store_close(w);
    ll_store_t *r = open_store(f, LL_STORE_READER);
    assert_int_equal(pthread_create(&t, NULL, write_blocks, &arg), 0);
    while (!atomic_load(&arg.finished)) {
        if ((rc = ll_store_latest_block(r, &got)) != 0 || got.height < last)
            break;
        last = got.height;
        reads++;
    }
    assert_int_equal(pthread_join(t, &res), 0); /* before any assert can leave */
    assert_null(res);
    assert_int_equal(rc, 0);
    assert_true(got.height >= last);
    assert_int_equal(ll_store_latest_block(r, &got), 0);
    assert_int_equal(got.height, arg.blocks);
    assert_true(reads > 0);
    assert_int_equal(ll_store_last_event_seq(r, &last), 0);
    assert_int_equal(last, arg.blocks + 1);
    ll_store_close(r);
}

static void test_store_rollback_leaves_no_partial_block_and_no_seq_gap(void **state)
{
    fixture_t *f = *state;
    ll_block_hdr_t got;
    ll_store_tx_t tx = tx_at(1, 0, "transfer", "{\"t\":1}"), out;
    uint64_t seq, next_nonce;
    int64_t units;

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    ll_store_rollback(st); /* nothing open: harmless */
    assert_int_equal(commit_block_with_event(st, 0), 1);

    assert_int_equal(ll_store_begin(st), 0);
    put_block(st, 1);
    assert_int_equal(ll_store_put_tx(st, &tx), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, HASH_A, 900), 0);
    assert_int_equal(ll_store_set_nonce(st, ALICE, 1), 0);
    assert_int_equal(ll_store_put_asset(st, HASH_A, ALICE, 1000, "{}", 1), 0);
    assert_int_equal(ll_store_meta_put(st, "k", "v"), 0);
    assert_int_equal(ll_store_append_event(st, 1, "block", NULL, "", "{}", &seq), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(ll_store_append_event(st, 1, "tx", tx.tx_id, ALICE " " BOB, "{}", &seq), 0);
    assert_int_equal(seq, 3);
    ll_store_rollback(st);
    ll_store_rollback(st); /* twice is harmless too */

    assert_int_equal(ll_store_latest_block(st, &got), 0);
    assert_int_equal(got.height, 0);
    assert_int_equal(ll_store_block_by_height(st, 1, &got), LL_ENOTFOUND);
    assert_int_equal(ll_store_get_tx(st, tx.tx_id, &out), LL_ENOTFOUND);
    assert_int_equal(ll_store_balance(st, ALICE, HASH_A, &units), 0);
    assert_int_equal(units, 0);
    assert_int_equal(ll_store_nonce(st, ALICE, &next_nonce), 0);
    assert_int_equal(next_nonce, 0);
    assert_int_equal(ll_store_asset_exists(st, HASH_A), 0);
    assert_int_equal(ll_store_last_event_seq(st, &seq), 0);
    assert_int_equal(seq, 1);

    /* The retried block takes the seqs the rolled-back one gave up. */
    assert_int_equal(commit_block_with_event(st, 1), 2);
    ll_store_close(st);
}

static void test_store_event_seq_is_gapless_across_reopen(void **state)
{
    fixture_t *f = *state;
    uint64_t seq = 99;

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_last_event_seq(st, &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(ll_store_begin(st), 0);
    put_block(st, 0);
    for (uint64_t want = 1; want <= 3; want++) {
        assert_int_equal(ll_store_append_event(st, 0, "block", NULL, "", "{}", &seq), 0);
        assert_int_equal(seq, want);
    }
    assert_int_equal(ll_store_commit(st), 0);
    ll_store_close(st);

    st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_last_event_seq(st, &seq), 0);
    assert_int_equal(seq, 3);
    assert_int_equal(commit_block_with_event(st, 1), 4);
    ll_store_close(st);
}

typedef struct {
    char assets[8][65];
    int64_t units[8];
    int n;
    int stop_after; /* return 7 from the callback after this many; 0: never */
} balances_t;

static int collect_balance(const char *asset_id, int64_t units, void *arg)
{
    balances_t *b = arg;
    if (b->n >= 8)
        return -1;
    strcpy(b->assets[b->n], asset_id);
    b->units[b->n] = units;
    b->n++;
    return b->stop_after && b->n == b->stop_after ? 7 : 0;
}

static void test_store_balances_list_only_nonzero_in_asset_order(void **state)
{
    fixture_t *f = *state;
    balances_t got;
    int64_t units;

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_set_balance(st, ALICE, "cc", 5), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, "aa", 7), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, "dd", 0), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, "bb", 3), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, "bb", 0), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, "ee", -2), 0);
    assert_int_equal(ll_store_set_balance(st, ALICE, "cc", 6), 0); /* upsert */
    assert_int_equal(ll_store_set_balance(st, BOB, "ab", 1), 0);

    memset(&got, 0, sizeof got);
    assert_int_equal(ll_store_balances(st, ALICE, collect_balance, &got), 0);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.assets[0], "aa");
    assert_int_equal(got.units[0], 7);
    assert_string_equal(got.assets[1], "cc");
    assert_int_equal(got.units[1], 6);
    assert_string_equal(got.assets[2], "ee");
    assert_int_equal(got.units[2], -2);
    assert_int_equal(ll_store_balance(st, ALICE, "bb", &units), 0);
    assert_int_equal(units, 0);

    memset(&got, 0, sizeof got);
    got.stop_after = 1;
    assert_int_equal(ll_store_balances(st, ALICE, collect_balance, &got), 7);
    assert_int_equal(got.n, 1);
    /* The early stop left nothing behind: the walk starts over. */
    memset(&got, 0, sizeof got);
    assert_int_equal(ll_store_balances(st, "nobody", collect_balance, &got), 0);
    assert_int_equal(got.n, 0);
    ll_store_close(st);
}

static void test_store_get_tx_roundtrips_every_field(void **state)
{
    fixture_t *f = *state;
    ll_store_tx_t out, small = tx_at(0, 1, "message", "{}");
    size_t big_n = 64 * 1024;
    char *big = malloc(big_n + 1);

    assert_non_null(big);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (char)('a' + i % 26);
    big[big_n] = '\0';
    ll_store_tx_t tx = tx_at(0, 0, "transfer", big);
    tx.amount = INT64_MAX;
    tx.fee = -5;
    tx.nonce = UINT64_MAX;
    tx.timestamp_ms = INT64_MIN;
    strcpy(tx.recipient, "");

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_begin(st), 0);
    put_block(st, 0);
    assert_int_equal(ll_store_put_tx(st, &tx), 0);
    assert_int_equal(ll_store_put_tx(st, &small), 0);
    assert_int_equal(ll_store_commit(st), 0);

    memset(&out, 0, sizeof out);
    assert_int_equal(ll_store_get_tx(st, small.tx_id, &out), 0);
    assert_string_equal(out.kind, "message");
    assert_string_equal(out.body, "{}");
    assert_int_equal(ll_store_get_tx(st, tx.tx_id, &out), 0); /* grows the buffer */
    assert_string_equal(out.tx_id, tx.tx_id);
    assert_int_equal(out.height, 0);
    assert_int_equal(out.index, 0);
    assert_string_equal(out.kind, "transfer");
    assert_string_equal(out.sender, ALICE);
    assert_string_equal(out.recipient, "");
    assert_string_equal(out.asset_id, HASH_A);
    assert_true(out.amount == INT64_MAX);
    assert_int_equal(out.fee, -5);
    assert_true(out.nonce == UINT64_MAX);
    assert_true(out.timestamp_ms == INT64_MIN);
    assert_string_equal(out.body, big);
    free(big);
    /* The strings are the store's, not the caller's. */
    assert_ptr_not_equal(out.body, tx.body);
    ll_store_close(st);

    st = open_store(f, LL_STORE_READER);
    assert_int_equal(ll_store_get_tx(st, small.tx_id, &out), 0);
    assert_string_equal(out.kind, "message");
    assert_int_equal(out.index, 1);
    ll_store_close(st);
}

typedef struct {
    ll_store_t *st;
    uint32_t indexes[8];
    char kinds[8][16];
    int n;
} txs_t;

static int collect_tx(const ll_store_tx_t *tx, void *arg)
{
    txs_t *t = arg;
    uint64_t seq;
    if (t->n >= 8)
        return -1;
    t->indexes[t->n] = tx->index;
    snprintf(t->kinds[t->n], sizeof t->kinds[t->n], "%s", tx->kind);
    t->n++;
    /* Another query from inside the callback is fine. */
    return ll_store_last_event_seq(t->st, &seq);
}

static int reenter(const ll_store_tx_t *tx, void *arg)
{
    (void)tx;
    txs_t *t = arg;
    t->n++;
    return ll_store_block_txs(t->st, 0, collect_tx, t);
}

static void test_store_block_txs_in_block_order(void **state)
{
    fixture_t *f = *state;
    static const char *const kinds[] = {"transfer", "create", "message", "transfer"};
    static const uint32_t order[] = {2, 0, 3, 1};
    txs_t got;

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_begin(st), 0);
    put_block(st, 0);
    put_block(st, 1);
    for (int i = 0; i < 4; i++) {
        ll_store_tx_t tx = tx_at(0, order[i], kinds[order[i]], "{}");
        assert_int_equal(ll_store_put_tx(st, &tx), 0);
    }
    ll_store_tx_t other = tx_at(1, 0, "message", "{}");
    assert_int_equal(ll_store_put_tx(st, &other), 0);
    assert_int_equal(ll_store_commit(st), 0);

    memset(&got, 0, sizeof got);
    got.st = st;
    assert_int_equal(ll_store_block_txs(st, 0, collect_tx, &got), 0);
    assert_int_equal(got.n, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(got.indexes[i], i);
        assert_string_equal(got.kinds[i], kinds[i]);
    }

    memset(&got, 0, sizeof got);
    got.st = st;
    assert_int_equal(ll_store_block_txs(st, 9, collect_tx, &got), 0);
    assert_int_equal(got.n, 0);

    /* Re-entering the walk from its callback is refused, not corrupted. */
    memset(&got, 0, sizeof got);
    got.st = st;
    assert_int_equal(ll_store_block_txs(st, 0, reenter, &got), LL_EINTERNAL);
    assert_int_equal(got.n, 1);
    memset(&got, 0, sizeof got);
    got.st = st;
    assert_int_equal(ll_store_block_txs(st, 1, collect_tx, &got), 0);
    assert_int_equal(got.n, 1);
    ll_store_close(st);
}

static void test_store_refuses_schema_newer_than_binary(void **state)
{
    fixture_t *f = *state;
    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    int version = ll_store_schema_version(st);
    put_block(st, 0);
    ll_store_close(st);

    set_user_version(f->path, version + 1);
    st = (ll_store_t *)f;
    assert_int_equal(ll_store_open(f->dir, LL_STORE_WRITER, LL_SYNC_FULL, &st), LL_ESTORE);
    assert_null(st);
    st = (ll_store_t *)f;
    assert_int_equal(ll_store_open(f->dir, LL_STORE_READER, LL_SYNC_FULL, &st), LL_ESTORE);
    assert_null(st);

    /* Nothing was touched: at its own version the database opens again. */
    set_user_version(f->path, version);
    st = open_store(f, LL_STORE_READER);
    ll_block_hdr_t got;
    assert_int_equal(ll_store_latest_block(st, &got), 0);
    ll_store_close(st);
}

static void test_store_meta_roundtrip(void **state)
{
    fixture_t *f = *state;
    char out[16];

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_meta_put(st, "chain_id", "ledgerline-dev"), 0);
    assert_int_equal(ll_store_meta_get(st, "chain_id", out, sizeof out), 0);
    assert_string_equal(out, "ledgerline-dev");
    assert_int_equal(ll_store_meta_put(st, "chain_id", "main"), 0);
    assert_int_equal(ll_store_meta_get(st, "chain_id", out, sizeof out), 0);
    assert_string_equal(out, "main");
    assert_int_equal(ll_store_meta_put(st, "genesis", "0123456789abcdefXYZ"), 0);
    assert_int_equal(ll_store_meta_get(st, "genesis", out, sizeof out), 0);
    assert_string_equal(out, "0123456789abcde"); /* truncated to cap */
    ll_store_close(st);

    st = open_store(f, LL_STORE_READER);
    assert_int_equal(ll_store_meta_get(st, "chain_id", out, sizeof out), 0);
    assert_string_equal(out, "main");
    ll_store_close(st);
}

static void test_store_unknown_rows_are_not_found(void **state)
{
    fixture_t *f = *state;
    ll_block_hdr_t b;
    ll_store_tx_t tx;
    char out[8];
    uint64_t u = 99;
    int64_t units = 99;

    ll_store_t *st = open_store(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_latest_block(st, &b), LL_ENOTFOUND);
    assert_int_equal(ll_store_block_by_height(st, 0, &b), LL_ENOTFOUND);
    assert_int_equal(ll_store_get_tx(st, HASH_A, &tx), LL_ENOTFOUND);
    assert_int_equal(ll_store_meta_get(st, "nope", out, sizeof out), LL_ENOTFOUND);
    assert_int_equal(ll_store_set_verified(st, 5), LL_ENOTFOUND);
    assert_int_equal(ll_store_asset_exists(st, HASH_A), 0);
    assert_int_equal(ll_store_balance(st, ALICE, HASH_A, &units), 0);
    assert_int_equal(units, 0);
    assert_int_equal(ll_store_nonce(st, ALICE, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(ll_store_last_event_seq(st, &u), 0);
    assert_int_equal(u, 0);

    put_block(st, 0);
    assert_int_equal(ll_store_put_asset(st, HASH_A, ALICE, 10, "{}", 0), 0);
    assert_int_equal(ll_store_asset_exists(st, HASH_A), 1);
    assert_int_equal(ll_store_set_nonce(st, ALICE, 4), 0);
    assert_int_equal(ll_store_nonce(st, ALICE, &u), 0);
    assert_int_equal(u, 4);
    assert_int_equal(ll_store_block_by_height(st, 1, &b), LL_ENOTFOUND);
    /* A transaction of a block that is not there breaks the foreign key. */
    ll_store_tx_t orphan = tx_at(7, 0, "transfer", "{}");
    assert_int_equal(ll_store_put_tx(st, &orphan), LL_ESTORE);
    ll_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_creates_database_and_reopens_with_same_chain),
        T(test_store_reader_fails_when_no_database),
        T(test_store_writer_fails_when_dir_cannot_be_created),
        T(test_store_reader_sees_commit_of_writer),
        T(test_store_reader_reads_while_writer_commits_on_another_thread),
        T(test_store_rollback_leaves_no_partial_block_and_no_seq_gap),
        T(test_store_event_seq_is_gapless_across_reopen),
        T(test_store_balances_list_only_nonzero_in_asset_order),
        T(test_store_get_tx_roundtrips_every_field),
        T(test_store_block_txs_in_block_order),
        T(test_store_refuses_schema_newer_than_binary),
        T(test_store_meta_roundtrip),
        T(test_store_unknown_rows_are_not_found),
#undef T
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
