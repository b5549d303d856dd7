/* tests/unit/test_ledger.c: the ledger thread as the workers meet it
 * (ledger/ledger.h): requests posted with ll_ledger_post and answered on
 * the poster's queue. Admission answers and refuses with the codes of
 * docs/API.md §2; what is admitted is confirmed in a block; a clean stop
 * keeps what is still pending for the next start; a contract run past the
 * time limit is left out and its sender refused (§6.1, Time). */
#include "ledger/keys.h"
#include "ledger/ledger.h"
#include "ledger/tx.h"
#include "store/history.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/taskq.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "testutil.h"

/* ---- a worker's side of the ledger ---------------------------------------- */

typedef struct node {
    char dir[64];
    uv_loop_t loop;
    ll_taskq_t replies;
    ll_ledger_t *l;
    ll_ledger_opts_t opts;
} node_t;

typedef struct answer {
    int done, rc;
    char why[LL_ERRMSG_MAX];
    json_t *result;
} answer_t;

static void on_reply(ll_task_t *task)
{
    ll_ledger_req_t *r = (ll_ledger_req_t *)((char *)task - offsetof(ll_ledger_req_t, reply));
    answer_t *a = r->data;
    a->rc = r->rc;
    snprintf(a->why, sizeof a->why, "%s", r->why);
    a->result = r->result;
    r->result = NULL;
    a->done = 1;
}

/* Posts req and runs the loop until its answer (30 s at most). */
static answer_t ask(node_t *n, ll_ledger_req_t *req)
{
    answer_t a = {0};
    uint64_t start = ll_clock_mono_ms();
    req->reply_q = &n->replies;
    req->reply.run = on_reply;
    req->data = &a;
    assert_int_equal(ll_ledger_post(n->l, req), 0);
    while (!a.done) {
        uv_run(&n->loop, UV_RUN_NOWAIT);
        if (ll_clock_mono_ms() - start > 30000)
            fail_msg("no answer from the ledger in 30 s");
        uv_sleep(2);
    }
    return a;
}

static void start(node_t *n, uint32_t block_interval_ms)
{
    n->opts = (ll_ledger_opts_t){.data_dir = n->dir,
                                 .difficulty = 1,
                                 .block_interval_ms = block_interval_ms,
                                 .max_block_txs = 100,
                                 .sync = LL_SYNC_FULL,
                                 .dev = 1,
                                 .gas_price = 1,
                                 .max_pending_per_sender = n->opts.max_pending_per_sender,
                                 .contract_time_limit_ms = n->opts.contract_time_limit_ms};
    assert_int_equal(ll_ledger_start(&n->opts, &n->l), 0);
}

static void stop(node_t *n)
{
    ll_ledger_stop(n->l);
    ll_ledger_free(n->l);
    n->l = NULL;
}

static int setup(void **state)
{
    node_t *n = calloc(1, sizeof *n);
    assert_non_null(n);
    assert_non_null(make_temp_dir(n->dir, sizeof n->dir, "ledger"));
    assert_int_equal(uv_loop_init(&n->loop), 0);
    assert_int_equal(ll_taskq_init(&n->replies, &n->loop), 0);
    *state = n;
    return 0;
}

static int teardown(void **state)
{
    node_t *n = *state;
    if (n->l)
        stop(n);
    ll_taskq_close(&n->replies, NULL);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    ll_taskq_destroy(&n->replies);
    uv_loop_close(&n->loop);
    remove_tree(n->dir);
    free(n);
    return 0;
}

/* ---- requests ---------------------------------------------------------------- */

/* The transaction's status ("pending", "confirmed") or NULL when unknown. */
static const char *status_of(node_t *n, const char *tx_id, char out[16])
{
    ll_ledger_req_t req = {.op = LL_LEDGER_GET_TX};
    snprintf(req.tx_id, sizeof req.tx_id, "%s", tx_id);
    answer_t a = ask(n, &req);
    if (a.rc == LL_ENOTFOUND)
        return NULL;
    assert_int_equal(a.rc, 0);
    snprintf(out, 16, "%s", json_string_value(json_object_get(a.result, "status")));
    json_decref(a.result);
    return out;
}

static void wait_status(node_t *n, const char *tx_id, const char *want)
{
    char buf[16];
    uint64_t start = ll_clock_mono_ms();
    for (;;) {
        const char *got = status_of(n, tx_id, buf);
        if ((!want && !got) || (want && got && strcmp(got, want) == 0))
            return;
        if (ll_clock_mono_ms() - start > 30000)
            fail_msg("%s is %s, not %s, after 30 s", tx_id, got ? got : "unknown",
                     want ? want : "unknown");
        uv_sleep(10);
    }
}

/* Funds address from the dev faucet; the grant's tx_id into tx_id. */
static void fund(node_t *n, const char *address, char tx_id[LL_TX_ID_HEX + 1])
{
    ll_ledger_req_t req = {.op = LL_LEDGER_FAUCET, .amount = 1000000000};
    snprintf(req.address, sizeof req.address, "%s", address);
    answer_t a = ask(n, &req);
    assert_int_equal(a.rc, 0);
    snprintf(tx_id, LL_TX_ID_HEX + 1, "%s", json_string_value(json_object_get(a.result, "tx_id")));
    json_decref(a.result);
}

/* Submits body (stolen) signed by kp with nonce; the answer's code, and the
 * tx_id into tx_id when accepted. */
static int submit(node_t *n, const ll_keypair_t *kp, json_t *body, uint64_t nonce,
                  char tx_id[LL_TX_ID_HEX + 1], char *why)
{
    char pk[2 * LL_PK_BYTES + 1], err[LL_ERRMSG_MAX];
    ll_tx_t *tx = NULL;
    for (size_t i = 0; i < LL_PK_BYTES; i++)
        snprintf(pk + 2 * i, 3, "%02x", kp->pk[i]);
    assert_int_equal(json_object_set_new(body, "sender_pubkey", json_string(pk)), 0);
    assert_int_equal(json_object_set_new(body, "nonce", json_integer((json_int_t)nonce)), 0);
    assert_int_equal(ll_tx_fill_defaults(body, ll_clock_wall_ms()), 0);
    assert_int_equal(ll_tx_sign(body, kp), 0);
    assert_int_equal(ll_tx_from_json(body, &tx, err), 0);
    json_decref(body);
    if (tx_id)
        snprintf(tx_id, LL_TX_ID_HEX + 1, "%s", tx->tx_id);
    ll_ledger_req_t req = {.op = LL_LEDGER_SUBMIT, .tx = tx};
    answer_t a = ask(n, &req);
    if (why)
        snprintf(why, LL_ERRMSG_MAX, "%s", a.why);
    json_decref(a.result);
    return a.rc;
}

static json_t *deploy_of(const char *code, int64_t gas_limit)
{
    return json_pack("{s:s, s:s, s:I}", "kind", "deploy", "code", code, "gas_limit",
                     (json_int_t)gas_limit);
}

static json_t *transfer_to(const char *recipient, int64_t amount)
{
    return json_pack("{s:s, s:s, s:I}", "kind", "transfer", "recipient", recipient, "amount",
                     (json_int_t)amount);
}

/* A funded key, its grant confirmed. */
static void funded(node_t *n, ll_keypair_t *kp)
{
    char grant[LL_TX_ID_HEX + 1];
    ll_keys_generate(kp);
    fund(n, kp->address, grant);
    wait_status(n, grant, "confirmed");
}

/* ---- tests -------------------------------------------------------------------- */

static void test_ledger_admits_then_confirms_and_refuses_by_the_rules(void **state)
{
    node_t *n = *state;
    ll_keypair_t kp, other;
    char id[LL_TX_ID_HEX + 1], again[LL_TX_ID_HEX + 1], why[LL_ERRMSG_MAX], buf[16];
    ll_keys_generate(&other);
    start(n, 20);
    funded(n, &kp);
    assert_int_equal(submit(n, &kp, transfer_to(other.address, 5), 0, id, NULL), 0);
    /* answered pending or already confirmed, and confirmed in a block */
    assert_non_null(status_of(n, id, buf));
    wait_status(n, id, "confirmed");
    /* the same nonce again: the message names the one expected */
    assert_int_equal(submit(n, &kp, transfer_to(other.address, 6), 0, again, why), LL_EBADNONCE);
    assert_non_null(strstr(why, "1"));
    /* a key the chain never funded may not submit */
    ll_keys_generate(&other);
    assert_int_equal(submit(n, &other, transfer_to(kp.address, 1), 0, NULL, NULL), LL_EFUNDS);
    ll_ledger_stats_t s;
    ll_ledger_stats(n->l, &s);
    assert_true(s.height >= 2); /* the grant's block and the transfer's */
    assert_true(s.txs_committed >= 2);
}

static void test_ledger_caps_each_senders_pending_transactions(void **state)
{
    node_t *n = *state;
    ll_keypair_t kp, to;
    ll_keys_generate(&to);
    n->opts.max_pending_per_sender = 2;
    start(n, 20);
    funded(n, &kp);
    stop(n); /* the same chain, with blocks far apart: everything stays pending */
    start(n, 600000);
    assert_int_equal(submit(n, &kp, transfer_to(to.address, 1), 0, NULL, NULL), 0);
    assert_int_equal(submit(n, &kp, transfer_to(to.address, 1), 1, NULL, NULL), 0);
    assert_int_equal(submit(n, &kp, transfer_to(to.address, 1), 2, NULL, NULL), LL_ETOOMANYPENDING);
}

static void test_ledger_stop_keeps_pending_transactions_for_the_next_start(void **state)
{
    node_t *n = *state;
    ll_keypair_t kp, to;
    char id[LL_TX_ID_HEX + 1], buf[16];
    ll_keys_generate(&to);
    start(n, 20);
    funded(n, &kp);
    stop(n);
    start(n, 600000); /* no block will come before the stop */
    assert_int_equal(submit(n, &kp, transfer_to(to.address, 7), 0, id, NULL), 0);
    assert_string_equal(status_of(n, id, buf), "pending");
    /* a stop builds what is pending in its last blocks, or saves it */
    stop(n);
    start(n, 20);
    wait_status(n, id, "confirmed");
}

/* Lua hashes integers without its seed: every key in one chain, so each
 * lookup walks 2049 nodes for 1 gas; only the time limit stops it. */
#define ONE_CHAIN                                                                                  \
    "local t, m = {}, 4095 for k = 1, 2049 do t[k * m] = true end "                                \
    "while true do local v = t[m] end return {}"

static void test_ledger_leaves_out_a_run_past_the_time_limit_and_refuses_its_sender(void **state)
{
    node_t *n = *state;
    ll_keypair_t kp, to;
    char attack[LL_TX_ID_HEX + 1], paid[LL_TX_ID_HEX + 1], why[LL_ERRMSG_MAX];
    ll_keys_generate(&to);
    n->opts.contract_time_limit_ms = 50;
    start(n, 20);
    funded(n, &kp);
    json_t *deploy = deploy_of(ONE_CHAIN, 10000000);
    assert_int_equal(submit(n, &kp, deploy, 0, attack, NULL), 0);
    wait_status(n, attack, NULL); /* left out of every block, then forgotten */
    /* its nonce is free, its deploys and calls are refused, transfers pass */
    deploy = deploy_of("return {}", 10000);
    assert_int_equal(submit(n, &kp, deploy, 0, NULL, why), LL_ETIMELIMIT);
    assert_non_null(strstr(why, "time limit"));
    assert_int_equal(submit(n, &kp, transfer_to(to.address, 1), 0, paid, NULL), 0);
    wait_status(n, paid, "confirmed");
    ll_ledger_stats_t s;
    ll_ledger_stats(n->l, &s);
    assert_int_equal(s.contract_time_limits, 1);
}

/* The statuses of tx_id's message events in the node's event log, in
 * order, joined by spaces. */
typedef struct statuses {
    const char *tx_id;
    char text[128];
} statuses_t;

static int collect_status(const ll_store_event_t *row, void *arg)
{
    statuses_t *st = arg;
    if (strcmp(row->type, "message") != 0 || strcmp(row->tx_id, st->tx_id) != 0)
        return 0;
    json_t *p = json_loads(row->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(json_object_get(p, "msg"), "status"));
    size_t n = strlen(st->text);
    snprintf(st->text + n, sizeof st->text - n, "%s%s", n ? " " : "", status ? status : "?");
    json_decref(p);
    return 0;
}

static void message_statuses(node_t *n, const char *tx_id, statuses_t *out)
{
    ll_store_t *reader = NULL;
    memset(out, 0, sizeof *out);
    out->tx_id = tx_id;
    assert_int_equal(ll_store_open(n->dir, LL_STORE_READER, LL_SYNC_FULL, &reader), 0);
    assert_true(ll_store_events_after(reader, 0, 10000, collect_status, out) >= 0);
    ll_store_close(reader);
}

static void test_ledger_journals_a_message_then_drops_it_with_an_event(void **state)
{
    node_t *n = *state;
    ll_keypair_t kp, to;
    char attack[LL_TX_ID_HEX + 1], msg[LL_TX_ID_HEX + 1];
    statuses_t seen;
    ll_keys_generate(&to);
    n->opts.contract_time_limit_ms = 50;
    start(n, 20);
    funded(n, &kp);
    stop(n); /* the same chain, with blocks far apart: both stay pending */
    start(n, 600000);
    json_t *deploy = deploy_of(ONE_CHAIN, 10000000);
    assert_int_equal(submit(n, &kp, deploy, 0, attack, NULL), 0);
    json_t *m = json_pack("{s:s, s:s, s:s}", "kind", "message", "recipient", to.address, "memo",
                          "after the deploy");
    assert_int_equal(submit(n, &kp, m, 1, msg, NULL), 0);
    /* answered 202: journaled; its pending event follows in the ledger
     * thread's next step (the reply does not wait for it) */
    for (int tries = 0; tries < 500; tries++) {
        message_statuses(n, msg, &seen);
        if (seen.text[0])
            break;
        uv_sleep(10);
    }
    assert_string_equal(seen.text, "pending");
    /* the stop builds what is pending: the deploy outlives the time limit
     * and is left out, and the message's nonce no longer follows: dropped,
     * with its event, and forgotten by the journal, so the restart does
     * not bring it back */
    stop(n);
    start(n, 20);
    wait_status(n, msg, NULL);
    wait_status(n, attack, NULL);
    message_statuses(n, msg, &seen);
    assert_string_equal(seen.text, "pending dropped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ledger_admits_then_confirms_and_refuses_by_the_rules,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_caps_each_senders_pending_transactions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_ledger_stop_keeps_pending_transactions_for_the_next_start, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ledger_leaves_out_a_run_past_the_time_limit_and_refuses_its_sender, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_ledger_journals_a_message_then_drops_it_with_an_event,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
