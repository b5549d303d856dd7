/* auth/dev.c: the user dev / devdevdev of a node started with --dev, made
 * once, before the node serves. main() calls it on its own thread, so it may
 * block: it hashes there and waits for the ledger thread (the only writer)
 * to store the row, on a private loop that receives the ledger's reply. */
#include "auth/account.h"
#include "util/err.h"
#include "util/log.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* A ledger request answered on a private loop that the main thread runs. */
typedef struct dev_call {
    ll_ledger_req_t lr; /* first: the reply task points into it */
    ll_taskq_t replies;
} dev_call_t;

static void on_dev_reply(ll_task_t *task)
{
    ll_ledger_req_t *lr = (ll_ledger_req_t *)((char *)task - offsetof(ll_ledger_req_t, reply));
    dev_call_t *call = (dev_call_t *)lr;
    /* Closing the queue's async handle leaves the loop with nothing to do,
     * which ends the caller's uv_run. */
    ll_taskq_close(&call->replies, NULL);
}

/* Runs arg through ll_auth_put_user_fn on the ledger thread and waits. */
static int store_user_blocking(ll_ledger_t *ledger, ll_store_user_t *user)
{
    dev_call_t call;
    uv_loop_t loop;
    int rc;

    memset(&call, 0, sizeof call);
    if (uv_loop_init(&loop) != 0)
        return LL_EINTERNAL;
    if ((rc = ll_taskq_init(&call.replies, &loop)) < 0) {
        uv_loop_close(&loop);
        return rc;
    }
    call.lr.op = LL_LEDGER_STORE_CALL;
    call.lr.store_fn = ll_auth_put_user_fn;
    call.lr.store_arg = user;
    call.lr.reply_q = &call.replies;
    call.lr.reply.run = on_dev_reply;
    if ((rc = ll_ledger_post(ledger, &call.lr)) < 0) {
        call.lr.rc = rc;
        snprintf(call.lr.why, sizeof call.lr.why, "the ledger has stopped");
        ll_taskq_close(&call.replies, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ll_taskq_destroy(&call.replies);
    uv_loop_close(&loop);
    json_decref(call.lr.result);
    if (call.lr.rc < 0 && call.lr.rc != LL_EUSERNAMETAKEN) /* taken: made meanwhile */
        LL_ERROR("auth: cannot store the dev user: %s", call.lr.why);
    return call.lr.rc == LL_EUSERNAMETAKEN ? 0 : call.lr.rc;
}

int ll_auth_ensure_dev_user(ll_ledger_t *ledger, const char *data_dir)
{
    ll_store_t *reader = NULL;
    ll_custody_t *custody = NULL;
    ll_store_user_t user;
    int rc;

    /* The ledger created the database; a reader sees whether dev exists
     * without hashing a password on every start. */
    if ((rc = ll_store_open(data_dir, LL_STORE_READER, LL_SYNC_FULL, &reader)) < 0) {
        LL_ERROR("auth: cannot open the database to look for the dev user");
        goto out;
    }
    rc = ll_store_get_user(reader, LL_DEV_USERNAME, &user);
    if (rc != LL_ENOTFOUND)
        goto out; /* 0: it exists; else a store error (logged) */
    if ((rc = ll_custody_open(data_dir, &custody)) < 0)
        goto out;
    if ((rc = ll_auth_user_new(custody, LL_DEV_USERNAME, LL_DEV_PASSWORD,
                               sizeof LL_DEV_PASSWORD - 1, &user)) < 0) {
        LL_ERROR("auth: cannot hash the dev user's password");
        goto out;
    }
    if ((rc = store_user_blocking(ledger, &user)) == 0)
        LL_INFO("auth: created the dev user (%s)", user.address);
out:
    sodium_memzero(&user, sizeof user);
    ll_custody_free(custody);
    ll_store_close(reader);
    return rc;
}
