/* tests/unit/test_state.c: the ledger's rules through state.h, over a real
 * writer store in a temporary directory. state.h has no balance getter, so a
 * test reads the view by flushing it inside a store transaction, reading the
 * rows back on the same connection and rolling back (view_balance below);
 * that leaves both the store and the view as they were. */
#include "ledger/state.h"
#include "ledger/tx.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

#include <inttypes.h>
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

#define NATIVE LL_NATIVE_ASSET_ID
#define ALICE "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define BOB "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define CAROL "c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4"
#define MINER "0123456789abcdef0123456789abcdef"
#define ASSET_X "7777777777777777777777777777777777777777777777777777777777777777"
#define UNKNOWN_ASSET "9999999999999999999999999999999999999999999999999999999999999999"

typedef struct {
    char root[64]; /* the mkdtemp directory */
    char dir[128]; /* root/data */
    ll_store_t *st;
    ll_state_t *s;
    char why[LL_ERRMSG_MAX];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!make_temp_dir(f->root, sizeof f->root, "state")) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "%s/data", f->root);
    if (ll_store_open(f->dir, LL_STORE_WRITER, LL_SYNC_NORMAL, &f->st) != 0)
        return -1;
    if (!(f->s = ll_state_new(f->st)))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ll_state_free(f->s);
    ll_store_close(f->st);
    int rc = remove_tree(f->root);
    free(f);
    return rc;
}

/* Committed balance, written straight to the store. */
static void seed(fixture_t *f, const char *address, const char *asset_id, int64_t units)
{
    assert_int_equal(ll_store_begin(f->st), 0);
    assert_int_equal(ll_store_set_balance(f->st, address, asset_id, units), 0);
    assert_int_equal(ll_store_commit(f->st), 0);
}

/* What the store holds, committed, for address: of asset_id, and its next nonce. */
static int64_t stored_balance(fixture_t *f, const char *address, const char *asset_id)
{
    int64_t units = -1;
    assert_int_equal(ll_store_balance(f->st, address, asset_id, &units), 0);
    return units;
}

static uint64_t stored_nonce(fixture_t *f, const char *address)
{
    uint64_t nonce = UINT64_MAX;
    assert_int_equal(ll_store_nonce(f->st, address, &nonce), 0);
    return nonce;
}

/* What the view says address holds of asset_id (see the file comment). */
static int64_t view_balance(fixture_t *f, ll_state_t *s, const char *address, const char *asset_id)
{
    int64_t units = -1;
    assert_int_equal(ll_store_begin(f->st), 0);
    assert_int_equal(ll_state_flush(s), 0);
    assert_int_equal(ll_store_balance(f->st, address, asset_id, &units), 0);
    ll_store_rollback(f->st);
    return units;
}

/* Writes the view's changes to the store for good. */
static void flush_and_commit(fixture_t *f)
{
    assert_int_equal(ll_store_begin(f->st), 0);
    assert_int_equal(ll_state_flush(f->s), 0);
    assert_int_equal(ll_store_commit(f->st), 0);
}

static int64_t bal(fixture_t *f, const char *address)
{
    return view_balance(f, f->s, address, NATIVE);
}

static uint64_t next_nonce(ll_state_t *s, const char *address)
{
    uint64_t n = UINT64_MAX;
    assert_int_equal(ll_state_next_nonce(s, address, &n), 0);
    return n;
}

static ll_tx_t transfer(const char *from, const char *to, const char *asset_id, int64_t amount,
                        int64_t fee, uint64_t nonce)
{
    ll_tx_t tx;
    memset(&tx, 0, sizeof tx);
    tx.kind = LL_TX_TRANSFER;
    snprintf(tx.tx_id, sizeof tx.tx_id, "%032llx%016llx%016llx", 0ull, (unsigned long long)nonce,
             (unsigned long long)amount);
    snprintf(tx.sender, sizeof tx.sender, "%s", from);
    snprintf(tx.recipient, sizeof tx.recipient, "%s", to);
    snprintf(tx.asset_id, sizeof tx.asset_id, "%s", asset_id);
    tx.amount = amount;
    tx.fee = fee;
    tx.nonce = nonce;
    tx.timestamp_ms = 1700000000000;
    return tx;
}

/* A create whose tx_id (and so the new asset's id) is asset_id. data is
 * borrowed, as from a parsed body. */
static ll_tx_t create(const char *from, const char *asset_id, int64_t amount, int64_t fee,
                      uint64_t nonce, const json_t *data)
{
    ll_tx_t tx;
    memset(&tx, 0, sizeof tx);
    tx.kind = LL_TX_CREATE;
    snprintf(tx.tx_id, sizeof tx.tx_id, "%s", asset_id);
    snprintf(tx.sender, sizeof tx.sender, "%s", from);
    snprintf(tx.asset_id, sizeof tx.asset_id, "%s", asset_id);
    tx.amount = amount;
    tx.fee = fee;
    tx.nonce = nonce;
    tx.asset_data = data;
    return tx;
}

static int apply(fixture_t *f, const ll_tx_t *tx)
{
    f->why[0] = '\0';
    return ll_state_apply(f->s, tx, MINER, 1, f->why);
}

/* A failure must say why. */
static void assert_apply_fails(fixture_t *f, const ll_tx_t *tx, int want)
{
    int rc = apply(f, tx);
    if (rc != want)
        fail_msg("apply returned %s, want %s (%s)", ll_err_name(rc), ll_err_name(want), f->why);
    assert_true(strlen(f->why) > 0);
}

/* The first transaction of a fresh account: from is seeded with units of the
 * native coin, then pays amount to `to` and fee to the miner (nonce 0).
 * Requires want: 0, or a failure that says why. */
static void seed_and_pay(fixture_t *f, const char *from, int64_t units, const char *to,
                         int64_t amount, int64_t fee, int want)
{
    seed(f, from, NATIVE, units);
    ll_tx_t tx = transfer(from, to, NATIVE, amount, fee, 0);
    if (want == 0)
        assert_int_equal(apply(f, &tx), 0);
    else
        assert_apply_fails(f, &tx, want);
}

/* Requires the view's native balances of Alice, Bob and the miner; a
 * failure names the account. */
static void assert_native(fixture_t *f, int64_t alice, int64_t bob, int64_t miner)
{
    const struct {
        const char *name, *address;
        int64_t want;
    } rows[] = {{"alice", ALICE, alice}, {"bob", BOB, bob}, {"miner", MINER, miner}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t got = bal(f, rows[i].address);
        if (got != rows[i].want)
            fail_msg("%s holds %" PRId64 ", want %" PRId64, rows[i].name, got, rows[i].want);
    }
}

static void test_state_unknown_address_has_nonce_zero_and_no_balance(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(next_nonce(f->s, CAROL), 0);
    assert_int_equal(bal(f, CAROL), 0);
}

static void test_state_reads_committed_nonce_and_balance_from_store(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 500);
    assert_int_equal(ll_store_begin(f->st), 0);
    assert_int_equal(ll_store_set_nonce(f->st, ALICE, 7), 0);
    assert_int_equal(ll_store_commit(f->st), 0);
    assert_int_equal(next_nonce(f->s, ALICE), 7);
    ll_tx_t tx = transfer(ALICE, BOB, NATIVE, 100, 0, 7);
    assert_int_equal(apply(f, &tx), 0);
    assert_int_equal(bal(f, ALICE), 400);
    assert_int_equal(next_nonce(f->s, ALICE), 8);
}

static void test_state_transfer_moves_amount_and_pays_fee_to_miner(void **state)
{
    fixture_t *f = *state;
    seed_and_pay(f, ALICE, 1000, BOB, 300, 10, 0);
    assert_native(f, 690, 300, 10);
    assert_int_equal(next_nonce(f->s, ALICE), 1);
    assert_int_equal(next_nonce(f->s, BOB), 0); /* receiving does not bump a nonce */
}

static void test_state_wrong_nonce_is_ebadnonce_and_changes_nothing(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 1000);
    ll_tx_t ahead = transfer(ALICE, BOB, NATIVE, 100, 10, 1);
    assert_apply_fails(f, &ahead, LL_EBADNONCE);
    assert_int_equal(next_nonce(f->s, ALICE), 0);
    assert_native(f, 1000, 0, 0);

    ll_tx_t ok = transfer(ALICE, BOB, NATIVE, 100, 10, 0);
    assert_int_equal(apply(f, &ok), 0);
    ll_tx_t replay = transfer(ALICE, BOB, NATIVE, 100, 10, 0); /* behind */
    assert_apply_fails(f, &replay, LL_EBADNONCE);
    assert_int_equal(next_nonce(f->s, ALICE), 1);
    assert_native(f, 890, 100, 10);
}

static void test_state_insufficient_funds_counts_amount_plus_fee(void **state)
{
    fixture_t *f = *state;
    /* The amount alone fits and so does the fee alone, but not both. */
    seed_and_pay(f, ALICE, 1000, BOB, 950, 100, LL_EFUNDS);
    assert_native(f, 1000, 0, 0);
    assert_int_equal(next_nonce(f->s, ALICE), 0);

    ll_tx_t exact = transfer(ALICE, BOB, NATIVE, 900, 100, 0);
    assert_int_equal(apply(f, &exact), 0);
    assert_native(f, 0, 900, 100);
}

static void test_state_fee_alone_beyond_balance_is_efunds(void **state)
{
    fixture_t *f = *state;
    seed_and_pay(f, ALICE, 5, BOB, 1, 10, LL_EFUNDS);
    assert_int_equal(bal(f, ALICE), 5);
    assert_int_equal(next_nonce(f->s, ALICE), 0);
}

static void test_state_second_tx_sees_the_first_in_the_same_view(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 100);
    ll_tx_t first = transfer(ALICE, BOB, NATIVE, 60, 0, 0);
    ll_tx_t second = transfer(ALICE, BOB, NATIVE, 60, 0, 1);
    ll_tx_t onward = transfer(BOB, CAROL, NATIVE, 60, 0, 0); /* spends what first gave */
    assert_int_equal(apply(f, &first), 0);
    assert_apply_fails(f, &second, LL_EFUNDS);
    assert_int_equal(apply(f, &onward), 0);
    assert_int_equal(bal(f, ALICE), 40);
    assert_int_equal(bal(f, BOB), 0);
    assert_int_equal(bal(f, CAROL), 60);
}

static void test_state_self_transfer_costs_only_the_fee(void **state)
{
    fixture_t *f = *state;
    seed_and_pay(f, ALICE, 1000, ALICE, 300, 10, 0);
    assert_int_equal(bal(f, ALICE), 990);
    assert_int_equal(bal(f, MINER), 10);
    assert_int_equal(next_nonce(f->s, ALICE), 1);
}

/* Debits come first: a self-transfer cannot spend the amount it credits. */
static void test_state_self_transfer_beyond_balance_is_efunds(void **state)
{
    fixture_t *f = *state;
    seed_and_pay(f, ALICE, 100, ALICE, 95, 10, LL_EFUNDS);
    assert_int_equal(bal(f, ALICE), 100);
    assert_int_equal(bal(f, MINER), 0);
}

static void test_state_self_transfer_by_the_miner_keeps_balance(void **state)
{
    fixture_t *f = *state;
    seed_and_pay(f, MINER, 1000, MINER, 300, 10, 0);
    assert_int_equal(bal(f, MINER), 1000); /* minus the fee, plus the fee */
    assert_int_equal(next_nonce(f->s, MINER), 1);
}

/* The miner cannot pay a fee out of the very fee it is about to earn. */
static void test_state_miner_cannot_pay_fee_from_its_own_reward(void **state)
{
    fixture_t *f = *state;
    seed_and_pay(f, MINER, 5, BOB, 1, 10, LL_EFUNDS);
    assert_int_equal(bal(f, MINER), 5);
    assert_int_equal(bal(f, BOB), 0);
}

static void test_state_create_issues_asset_to_sender_and_transfer_of_it_succeeds(void **state)
{
    fixture_t *f = *state;
    json_t *data = json_pack("{s:s}", "name", "gold");
    seed(f, ALICE, NATIVE, 100);
    ll_tx_t mint = create(ALICE, ASSET_X, 500, 10, 0, data);
    assert_int_equal(apply(f, &mint), 0);
    json_decref(data); /* the view keeps its own copy */
    assert_int_equal(view_balance(f, f->s, ALICE, ASSET_X), 500);
    assert_int_equal(bal(f, ALICE), 90);
    assert_int_equal(bal(f, MINER), 10);
    assert_int_equal(next_nonce(f->s, ALICE), 1);

    /* Not flushed yet: the asset exists in this view only. */
    ll_tx_t move = transfer(ALICE, BOB, ASSET_X, 200, 5, 1);
    assert_int_equal(apply(f, &move), 0);
    assert_int_equal(view_balance(f, f->s, ALICE, ASSET_X), 300);
    assert_int_equal(view_balance(f, f->s, BOB, ASSET_X), 200);
    assert_int_equal(bal(f, ALICE), 85); /* the fee is paid in the native coin */
    assert_int_equal(bal(f, BOB), 0);
    assert_int_equal(bal(f, MINER), 15);
    assert_int_equal(view_balance(f, f->s, MINER, ASSET_X), 0);
}

/* tx.h allows any JSON but reals as an asset's data, null included. */
static void test_state_create_accepts_any_json_data(void **state)
{
    fixture_t *f = *state;
    json_t *datas[] = {json_null(), json_string("plain"), json_pack("[i,s]", 1, "two"),
                       json_integer(5)};
    char asset[LL_ASSET_ID_HEX + 1];
    seed(f, ALICE, NATIVE, 10);
    for (unsigned i = 0; i < 4; i++) {
        snprintf(asset, sizeof asset, "%064x", 0xa55e7u + i);
        ll_tx_t mint = create(ALICE, asset, 10 + i, 0, i, datas[i]);
        assert_int_equal(apply(f, &mint), 0);
        json_decref(datas[i]);
        assert_int_equal(view_balance(f, f->s, ALICE, asset), 10 + i);
    }
    flush_and_commit(f);
    assert_int_equal(ll_store_asset_exists(f->st, asset), 1);
}

static void test_state_transfer_of_asset_beyond_its_balance_is_efunds(void **state)
{
    fixture_t *f = *state;
    json_t *data = json_pack("{s:i}", "serial", 1);
    seed(f, ALICE, NATIVE, 100);
    ll_tx_t mint = create(ALICE, ASSET_X, 50, 0, 0, data);
    assert_int_equal(apply(f, &mint), 0);
    json_decref(data);
    ll_tx_t move = transfer(ALICE, BOB, ASSET_X, 51, 1, 1);
    assert_apply_fails(f, &move, LL_EFUNDS);
    assert_int_equal(view_balance(f, f->s, ALICE, ASSET_X), 50);
    assert_int_equal(view_balance(f, f->s, BOB, ASSET_X), 0);
    assert_int_equal(bal(f, ALICE), 100);
    assert_int_equal(next_nonce(f->s, ALICE), 1);
}

static void test_state_transfer_of_unknown_asset_is_eunknownasset(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 1000);
    /* Even a balance row does not make an asset exist. */
    seed(f, ALICE, UNKNOWN_ASSET, 1000);
    ll_tx_t tx = transfer(ALICE, BOB, UNKNOWN_ASSET, 10, 1, 0);
    assert_apply_fails(f, &tx, LL_EUNKNOWNASSET);
    assert_int_equal(bal(f, ALICE), 1000);
    assert_int_equal(bal(f, MINER), 0);
    assert_int_equal(view_balance(f, f->s, ALICE, UNKNOWN_ASSET), 1000);
    assert_int_equal(view_balance(f, f->s, BOB, UNKNOWN_ASSET), 0);
    assert_int_equal(next_nonce(f->s, ALICE), 0);
}

static void test_state_recipient_overflow_is_ebalanceoverflow_and_sender_not_debited(void **state)
{
    fixture_t *f = *state;
    seed(f, BOB, NATIVE, INT64_MAX);
    seed_and_pay(f, ALICE, 1000, BOB, 1, 10, LL_EBALANCEOVERFLOW);
    assert_native(f, 1000, INT64_MAX, 0);
    assert_int_equal(next_nonce(f->s, ALICE), 0);
}

static void test_state_miner_overflow_undoes_the_recipient_credit(void **state)
{
    fixture_t *f = *state;
    seed(f, MINER, NATIVE, INT64_MAX);
    seed_and_pay(f, ALICE, 1000, BOB, 100, 1, LL_EBALANCEOVERFLOW);
    assert_native(f, 1000, 0, INT64_MAX);
    assert_int_equal(next_nonce(f->s, ALICE), 0);
}

/* One pass over every failure kind after a success: each failed apply
 * leaves all balances, nonces and assets exactly as the success left them. */
static void test_state_failed_apply_leaves_every_balance_and_nonce_as_before(void **state)
{
    fixture_t *f = *state;
    json_t *data = json_pack("{s:s}", "name", "x");
    seed(f, ALICE, NATIVE, 1000);
    seed(f, CAROL, NATIVE, INT64_MAX - 5);
    ll_tx_t ok = transfer(ALICE, BOB, NATIVE, 100, 10, 0);
    assert_int_equal(apply(f, &ok), 0);

    ll_tx_t bad[] = {
        transfer(ALICE, BOB, NATIVE, 100, 10, 0),     /* nonce replayed */
        transfer(ALICE, BOB, NATIVE, 100, 10, 5),     /* nonce ahead */
        transfer(ALICE, BOB, NATIVE, 800, 91, 1),     /* 891 > 890 */
        transfer(ALICE, BOB, UNKNOWN_ASSET, 1, 1, 1), /* no such asset */
        transfer(ALICE, CAROL, NATIVE, 6, 1, 1),      /* Carol would overflow */
        transfer(BOB, ALICE, NATIVE, 100, 1, 0),      /* Bob has 100, not 101 */
        create(BOB, ASSET_X, 10, 101, 0, data),       /* fee beyond Bob's 100 */
    };
    const int want[] = {LL_EBADNONCE,        LL_EBADNONCE, LL_EFUNDS, LL_EUNKNOWNASSET,
                        LL_EBALANCEOVERFLOW, LL_EFUNDS,    LL_EFUNDS};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_apply_fails(f, &bad[i], want[i]);
        assert_native(f, 890, 100, 10);
        assert_int_equal(bal(f, CAROL), INT64_MAX - 5);
        assert_int_equal(next_nonce(f->s, ALICE), 1);
        assert_int_equal(next_nonce(f->s, BOB), 0);
        assert_int_equal(view_balance(f, f->s, BOB, ASSET_X), 0);
    }
    /* The failed create recorded no asset: transferring it is unknown. */
    ll_tx_t ghost = transfer(ALICE, BOB, ASSET_X, 1, 0, 1);
    assert_apply_fails(f, &ghost, LL_EUNKNOWNASSET);
    json_decref(data);
}

static void test_state_message_pays_only_the_fee(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 50);
    ll_tx_t tx = transfer(ALICE, BOB, NATIVE, 0, 20, 0);
    tx.kind = LL_TX_MESSAGE;
    tx.memo = "hello";
    tx.memo_len = 5;
    assert_int_equal(apply(f, &tx), 0);
    assert_native(f, 30, 0, 20);
    assert_int_equal(next_nonce(f->s, ALICE), 1);
}

static void test_state_flush_writes_nonces_balances_and_assets_for_a_fresh_view(void **state)
{
    fixture_t *f = *state;
    json_t *data = json_pack("{s:s, s:i}", "name", "gold", "n", 3);
    seed(f, ALICE, NATIVE, 1000);
    ll_tx_t t1 = transfer(ALICE, BOB, NATIVE, 300, 10, 0);
    ll_tx_t t2 = create(ALICE, ASSET_X, 500, 10, 1, data);
    assert_int_equal(apply(f, &t1), 0);
    assert_int_equal(apply(f, &t2), 0);
    json_decref(data);

    flush_and_commit(f);

    /* The committed rows, read straight from the store. */
    assert_int_equal(stored_balance(f, ALICE, NATIVE), 680);
    assert_int_equal(stored_balance(f, BOB, NATIVE), 300);
    assert_int_equal(stored_balance(f, MINER, NATIVE), 20);
    assert_int_equal(stored_balance(f, ALICE, ASSET_X), 500);
    assert_int_equal(stored_nonce(f, ALICE), 2);
    assert_int_equal(ll_store_asset_exists(f->st, ASSET_X), 1);

    /* A fresh view over the same store continues from there. */
    ll_state_t *fresh = ll_state_new(f->st);
    assert_non_null(fresh);
    assert_int_equal(next_nonce(fresh, ALICE), 2);
    assert_int_equal(next_nonce(fresh, BOB), 0);
    ll_tx_t t3 = transfer(ALICE, CAROL, ASSET_X, 125, 0, 2);
    assert_int_equal(ll_state_apply(fresh, &t3, MINER, 2, f->why), 0);
    assert_int_equal(view_balance(f, fresh, ALICE, ASSET_X), 375);
    assert_int_equal(view_balance(f, fresh, CAROL, ASSET_X), 125);
    assert_int_equal(view_balance(f, fresh, ALICE, NATIVE), 680);
    ll_tx_t replay = transfer(ALICE, BOB, NATIVE, 300, 10, 0);
    assert_int_equal(ll_state_apply(fresh, &replay, MINER, 2, f->why), LL_EBADNONCE);
    ll_state_free(fresh);
}

static void test_state_flush_without_changes_writes_nothing(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 1000);
    ll_tx_t bad = transfer(ALICE, BOB, NATIVE, 5000, 0, 0); /* reads, then fails */
    assert_apply_fails(f, &bad, LL_EFUNDS);
    assert_int_equal(next_nonce(f->s, CAROL), 0);
    flush_and_commit(f);
    assert_int_equal(stored_balance(f, ALICE, NATIVE), 1000);
    assert_int_equal(stored_balance(f, BOB, NATIVE), 0);
    assert_int_equal(stored_nonce(f, ALICE), 0);
}

static void test_state_credit_then_flush_is_a_genesis_allocation(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(ll_state_credit(f->s, ALICE, NATIVE, 700), 0);
    assert_int_equal(ll_state_credit(f->s, ALICE, NATIVE, 300), 0);
    flush_and_commit(f);
    assert_int_equal(stored_balance(f, ALICE, NATIVE), 1000);
    /* Spendable in the same view. */
    ll_tx_t tx = transfer(ALICE, BOB, NATIVE, 1000, 0, 0);
    assert_int_equal(apply(f, &tx), 0);
}

static void test_state_credit_past_int64_max_is_ebalanceoverflow(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, INT64_MAX - 1);
    assert_int_equal(ll_state_credit(f->s, ALICE, NATIVE, 2), LL_EBALANCEOVERFLOW);
    assert_int_equal(bal(f, ALICE), INT64_MAX - 1);
    assert_int_equal(ll_state_credit(f->s, ALICE, NATIVE, 1), 0);
    assert_int_equal(bal(f, ALICE), INT64_MAX);
}

static void test_state_reset_forgets_the_overlay(void **state)
{
    fixture_t *f = *state;
    json_t *data = json_pack("{s:s}", "name", "gone");
    seed(f, ALICE, NATIVE, 1000);
    ll_tx_t t1 = transfer(ALICE, BOB, NATIVE, 400, 10, 0);
    ll_tx_t t2 = create(ALICE, ASSET_X, 50, 0, 1, data);
    assert_int_equal(apply(f, &t1), 0);
    assert_int_equal(apply(f, &t2), 0);
    json_decref(data);
    assert_int_equal(bal(f, ALICE), 590);
    assert_int_equal(next_nonce(f->s, ALICE), 2);

    ll_state_reset(f->s);
    assert_int_equal(next_nonce(f->s, ALICE), 0);
    assert_native(f, 1000, 0, 0);
    assert_int_equal(view_balance(f, f->s, ALICE, ASSET_X), 0);
    ll_tx_t ghost = transfer(ALICE, BOB, ASSET_X, 1, 0, 0);
    assert_apply_fails(f, &ghost, LL_EUNKNOWNASSET);
    /* And the same transaction applies again from scratch. */
    assert_int_equal(apply(f, &t1), 0);
    assert_int_equal(bal(f, ALICE), 590);
}

static void test_state_next_nonce_counts_applied_transactions(void **state)
{
    fixture_t *f = *state;
    seed(f, ALICE, NATIVE, 1000);
    seed(f, BOB, NATIVE, 1000);
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(next_nonce(f->s, ALICE), i);
        ll_tx_t tx = transfer(ALICE, CAROL, NATIVE, 1, 1, i);
        assert_int_equal(apply(f, &tx), 0);
    }
    ll_tx_t failed = transfer(ALICE, CAROL, NATIVE, 5000, 1, 5);
    assert_apply_fails(f, &failed, LL_EFUNDS);
    ll_tx_t by_bob = transfer(BOB, ALICE, NATIVE, 1, 1, 0);
    assert_int_equal(apply(f, &by_bob), 0);
    assert_int_equal(next_nonce(f->s, ALICE), 5);
    assert_int_equal(next_nonce(f->s, BOB), 1);
    assert_int_equal(next_nonce(f->s, CAROL), 0);
}

/* A contract's address has 40 hex digits; a balance kept under it was
 * stored under its first 32 (a chain address's length), so a call's amount
 * left the supply. */
static void test_regress_contract_balance_was_stored_under_a_truncated_address(void **state)
{
    fixture_t *f = *state;
    static const char contract[] = "0123456789abcdef0123456789abcdef01234567";
    assert_int_equal(ll_state_credit(f->s, contract, NATIVE, 1000000), 0);
    flush_and_commit(f);
    assert_int_equal(stored_balance(f, contract, NATIVE), 1000000);
    assert_int_equal(stored_balance(f, "0123456789abcdef0123456789abcdef", NATIVE), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_state_unknown_address_has_nonce_zero_and_no_balance),
        T(test_state_reads_committed_nonce_and_balance_from_store),
        T(test_state_transfer_moves_amount_and_pays_fee_to_miner),
        T(test_state_wrong_nonce_is_ebadnonce_and_changes_nothing),
        T(test_state_insufficient_funds_counts_amount_plus_fee),
        T(test_state_fee_alone_beyond_balance_is_efunds),
        T(test_state_second_tx_sees_the_first_in_the_same_view),
        T(test_state_self_transfer_costs_only_the_fee),
        T(test_state_self_transfer_beyond_balance_is_efunds),
        T(test_state_self_transfer_by_the_miner_keeps_balance),
        T(test_state_miner_cannot_pay_fee_from_its_own_reward),
        T(test_state_create_issues_asset_to_sender_and_transfer_of_it_succeeds),
        T(test_state_create_accepts_any_json_data),
        T(test_state_transfer_of_asset_beyond_its_balance_is_efunds),
        T(test_state_transfer_of_unknown_asset_is_eunknownasset),
        T(test_state_recipient_overflow_is_ebalanceoverflow_and_sender_not_debited),
        T(test_state_miner_overflow_undoes_the_recipient_credit),
        T(test_state_failed_apply_leaves_every_balance_and_nonce_as_before),
        T(test_state_message_pays_only_the_fee),
        T(test_state_flush_writes_nonces_balances_and_assets_for_a_fresh_view),
        T(test_state_flush_without_changes_writes_nothing),
        T(test_state_credit_then_flush_is_a_genesis_allocation),
        T(test_state_credit_past_int64_max_is_ebalanceoverflow),
        T(test_state_reset_forgets_the_overlay),
        T(test_state_next_nonce_counts_applied_transactions),
        T(test_regress_contract_balance_was_stored_under_a_truncated_address),
    };
#undef T
    if (sodium_init() < 0)
        return 1;
    ll_log_set_level(LL_LOG_WARN); /* one "schema migrated" line per test is noise */
    return cmocka_run_group_tests_name("ledger/state", tests, NULL, NULL);
}
