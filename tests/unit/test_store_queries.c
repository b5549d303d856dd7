/* tests/unit/test_store_queries.c: the explorer's reads through store.h and
 * contracts.h: pages of blocks, an address's transactions (as sender, as
 * recipient, as a contract) below a position, a contract's row and newest
 * receipts, and the migration that indexes calls by contract. Each test
 * gets its own temporary data directory. */
#include "store/contracts.h"
#include "store/store.h"
#include "util/err.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define ALICE "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define BOB "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define CAROL "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
#define CONTRACT "cccccccccccccccccccccccccccccccccccccccc"
#define OTHER "dddddddddddddddddddddddddddddddddddddddd"
#define NATIVE "0000000000000000000000000000000000000000000000000000000000000000"
#define NEWEST ((ll_store_pos_t){UINT64_MAX, UINT32_MAX})

static int setup(void **state)
{
    return (*state = data_dir_new("queries", "data")) ? 0 : -1;
}

static int teardown(void **state)
{
    return data_dir_free(*state);
}

/* A transaction row named by its position: tx_id "<height><index>" in hex. */
static void put_tx(ll_store_t *st, uint64_t height, uint32_t index, const char *kind,
                   const char *sender, const char *recipient, const char *body)
{
    ll_store_tx_t tx;
    memset(&tx, 0, sizeof tx);
    snprintf(tx.tx_id, sizeof tx.tx_id, "%056llx%08x", (unsigned long long)height, index);
    tx.height = height;
    tx.index = index;
    tx.kind = kind;
    snprintf(tx.sender, sizeof tx.sender, "%s", sender);
    snprintf(tx.recipient, sizeof tx.recipient, "%s", recipient);
    snprintf(tx.asset_id, sizeof tx.asset_id, "%s", NATIVE);
    tx.body = body;
    assert_int_equal(ll_store_put_tx(st, &tx), 0);
}

#define CALL_BODY(to) "{\"kind\":\"call\",\"to\":\"0x" to "\"}"

/* Blocks 0..5. Alice sends to Bob (0:0, 2:1), Bob to Alice (1:0), Alice to
 * herself (3:0), Carol to Bob (3:1); Alice deploys CONTRACT (2:0) and calls
 * it (4:0, 5:1), Carol calls it (5:0) and OTHER (4:1). Each deploy and call
 * has a receipt naming its position. */
static void fill(ll_store_t *st)
{
    char receipt[64];
    assert_int_equal(ll_store_begin(st), 0);
    for (uint64_t h = 0; h <= 5; h++)
        put_block(st, h);
    put_tx(st, 0, 0, "transfer", ALICE, BOB, "{}");
    put_tx(st, 1, 0, "transfer", BOB, ALICE, "{}");
    put_tx(st, 2, 0, "deploy", ALICE, "", "{\"kind\":\"deploy\"}");
    put_tx(st, 2, 1, "message", ALICE, BOB, "{}");
    put_tx(st, 3, 0, "transfer", ALICE, ALICE, "{}");
    put_tx(st, 3, 1, "transfer", CAROL, BOB, "{}");
    put_tx(st, 4, 0, "call", ALICE, "", CALL_BODY(CONTRACT));
    put_tx(st, 4, 1, "call", CAROL, "", CALL_BODY(OTHER));
    put_tx(st, 5, 0, "call", CAROL, "", CALL_BODY(CONTRACT));
    put_tx(st, 5, 1, "call", ALICE, "", CALL_BODY(CONTRACT));
    static const uint64_t h[] = {2, 4, 4, 5, 5};
    static const uint32_t i[] = {0, 0, 1, 0, 1};
    char id[65];
    snprintf(id, sizeof id, "%056llx%08x", 2ULL, 0U); /* the deploy */
    assert_int_equal(ll_store_put_contract(st, CONTRACT, "return {}", 9, ALICE, id, 2), 0);
    for (int k = 0; k < 5; k++) {
        snprintf(id, sizeof id, "%056llx%08x", (unsigned long long)h[k], i[k]);
        snprintf(receipt, sizeof receipt, "{\"at\":\"%llu:%u\"}", (unsigned long long)h[k], i[k]);
        assert_int_equal(ll_store_put_receipt(st, id, h[k], receipt), 0);
    }
    assert_int_equal(ll_store_commit(st), 0);
}

/* What a walk saw, as "height:index" (or a block's "height") joined by ' '. */
typedef struct {
    char seen[256];
    int n;
    int stop_after; /* 0: never */
} walk_t;

static int note(walk_t *w, const char *what)
{
    size_t len = strlen(w->seen);
    snprintf(w->seen + len, sizeof w->seen - len, "%s%s", len ? " " : "", what);
    w->n++;
    return w->stop_after && w->n == w->stop_after ? 7 : 0;
}

static int see_tx(const ll_store_tx_t *tx, void *arg)
{
    char pos[48];
    snprintf(pos, sizeof pos, "%llu:%u", (unsigned long long)tx->height, tx->index);
    return note(arg, pos);
}

static int see_block(const ll_block_hdr_t *b, void *arg)
{
    char h[24];
    ll_block_hdr_t want = block_at(b->height);
    assert_string_equal(b->hash, want.hash);
    snprintf(h, sizeof h, "%llu", (unsigned long long)b->height);
    return note(arg, h);
}

static int see_text(const char *text, void *arg)
{
    return note(arg, text);
}

static const char *txs_of(ll_store_t *st, const char *address, ll_store_pos_t before,
                          uint32_t limit, walk_t *w)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(ll_store_address_txs(st, address, before, limit, see_tx, w), 0);
    return w->seen;
}

static void test_store_blocks_before_pages_newest_first(void **state)
{
    data_dir_t *f = *state;
    ll_store_t *st = data_dir_open(f, LL_STORE_WRITER);
    walk_t w;
    fill(st);

    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_blocks_before(st, UINT64_MAX, 4, see_block, &w), 0);
    assert_string_equal(w.seen, "5 4 3 2");
    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_blocks_before(st, 2, 4, see_block, &w), 0);
    assert_string_equal(w.seen, "1 0");
    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_blocks_before(st, 0, 4, see_block, &w), 0);
    assert_int_equal(w.n, 0);
    /* A callback's non-zero value stops the walk and is returned. */
    memset(&w, 0, sizeof w);
    w.stop_after = 2;
    assert_int_equal(ll_store_blocks_before(st, 100, 10, see_block, &w), 7);
    assert_string_equal(w.seen, "5 4");
    ll_store_close(st);
}

static int see_id(const char *tx_id, void *arg)
{
    return note(arg, tx_id + 56); /* the index part */
}

static void test_store_block_tx_ids_in_block_order(void **state)
{
    data_dir_t *f = *state;
    ll_store_t *st = data_dir_open(f, LL_STORE_WRITER);
    walk_t w;
    fill(st);
    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_block_tx_ids(st, 5, see_id, &w), 0);
    assert_string_equal(w.seen, "00000000 00000001");
    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_block_tx_ids(st, 9, see_id, &w), 0);
    assert_int_equal(w.n, 0);
    ll_store_close(st);
}

static void test_store_address_txs_are_sent_and_received_newest_first_once(void **state)
{
    data_dir_t *f = *state;
    ll_store_t *st = data_dir_open(f, LL_STORE_WRITER);
    walk_t w;
    fill(st);
    /* Her transfer to herself is listed once. */
    assert_string_equal(txs_of(st, ALICE, NEWEST, 100, &w), "5:1 4:0 3:0 2:1 2:0 1:0 0:0");
    assert_string_equal(txs_of(st, BOB, NEWEST, 100, &w), "3:1 2:1 1:0 0:0");
    /* Pages: limit rows strictly below the position. */
    assert_string_equal(txs_of(st, ALICE, NEWEST, 3, &w), "5:1 4:0 3:0");
    assert_string_equal(txs_of(st, ALICE, (ll_store_pos_t){3, 0}, 3, &w), "2:1 2:0 1:0");
    assert_string_equal(txs_of(st, ALICE, (ll_store_pos_t){1, 0}, 3, &w), "0:0");
    assert_string_equal(txs_of(st, ALICE, (ll_store_pos_t){0, 0}, 3, &w), "");
    assert_string_equal(txs_of(st, "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0", NEWEST, 3, &w), "");
    ll_store_close(st);
}

static void test_store_address_txs_of_a_contract_are_its_deploy_and_calls(void **state)
{
    data_dir_t *f = *state;
    ll_store_t *st = data_dir_open(f, LL_STORE_WRITER);
    walk_t w;
    fill(st);
    assert_string_equal(txs_of(st, CONTRACT, NEWEST, 100, &w), "5:1 5:0 4:0 2:0");
    assert_string_equal(txs_of(st, CONTRACT, (ll_store_pos_t){5, 0}, 2, &w), "4:0 2:0");
    /* A contract with calls but no deploy row (as after a failed deploy). */
    assert_string_equal(txs_of(st, OTHER, NEWEST, 100, &w), "4:1");
    ll_store_close(st);
}

static void test_store_contract_info_and_newest_receipts(void **state)
{
    data_dir_t *f = *state;
    ll_store_t *st = data_dir_open(f, LL_STORE_WRITER);
    ll_store_contract_t c;
    walk_t w;
    fill(st);
    ll_store_close(st);

    st = data_dir_open(f, LL_STORE_READER);
    assert_int_equal(ll_store_contract_info(st, CONTRACT, &c), 0);
    assert_string_equal(c.code, "return {}");
    assert_int_equal(c.code_len, 9);
    assert_string_equal(c.deployer, ALICE);
    assert_int_equal(c.height, 2);
    assert_string_equal(c.tx_id,
                        "0000000000000000000000000000000000000000000000000000000200000000");
    free(c.code);
    assert_int_equal(ll_store_contract_info(st, OTHER, &c), LL_ENOTFOUND);
    assert_null(c.code);

    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_contract_receipts(st, CONTRACT, 20, see_text, &w), 0);
    assert_string_equal(w.seen,
                        "{\"at\":\"5:1\"} {\"at\":\"5:0\"} {\"at\":\"4:0\"} {\"at\":\"2:0\"}");
    memset(&w, 0, sizeof w);
    assert_int_equal(ll_store_contract_receipts(st, CONTRACT, 2, see_text, &w), 0);
    assert_string_equal(w.seen, "{\"at\":\"5:1\"} {\"at\":\"5:0\"}");
    ll_store_close(st);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int count_rows(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int n;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return n;
}

/* A database written by a binary of schema 4 (no txs_call_to, calls already
 * in it): the writer migrates it, a reader then opens it, and the calls
 * already there are found through the new index. */
static void test_store_migrates_a_version_4_database_and_indexes_its_calls(void **state)
{
    data_dir_t *f = *state;
    ll_store_t *st = data_dir_open(f, LL_STORE_WRITER);
    walk_t w;
    assert_int_equal(ll_store_schema_version(st), 5);
    fill(st);
    ll_store_close(st);
    exec_sql(f->path, "DROP INDEX txs_call_to; PRAGMA user_version = 4;");

    /* A reader refuses the older schema until the writer has migrated it. */
    assert_int_equal(ll_store_open(f->dir, LL_STORE_READER, LL_SYNC_FULL, &st), LL_ESTORE);
    st = data_dir_open(f, LL_STORE_WRITER);
    assert_int_equal(ll_store_schema_version(st), 5);
    ll_store_close(st);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM sqlite_master "
                                         "WHERE type = 'index' AND name = 'txs_call_to'"),
                     1);
    assert_int_equal(count_rows(f->path,
                                "SELECT count(*) FROM txs INDEXED BY txs_call_to "
                                "WHERE kind = 'call' AND (body ->> '$.to') = '0x" CONTRACT "'"),
                     3);
    st = data_dir_open(f, LL_STORE_READER);
    assert_string_equal(txs_of(st, CONTRACT, NEWEST, 100, &w), "5:1 5:0 4:0 2:0");
    ll_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_blocks_before_pages_newest_first),
        T(test_store_block_tx_ids_in_block_order),
        T(test_store_address_txs_are_sent_and_received_newest_first_once),
        T(test_store_address_txs_of_a_contract_are_its_deploy_and_calls),
        T(test_store_contract_info_and_newest_receipts),
        T(test_store_migrates_a_version_4_database_and_indexes_its_calls),
#undef T
    };
    return cmocka_run_group_tests_name("store/queries", tests, NULL, NULL);
}
