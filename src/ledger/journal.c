/* ledger/journal.c: the group commit of ledger/journal.h. */
#include "ledger/internal.h"
#include "store/pending.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>

static void on_timer(uv_timer_t *t)
{
    ll_journal_flush(t->data);
}

void ll_journal_init(ll_ledger_t *l)
{
    uv_timer_init(&l->loop, &l->journal.timer);
    l->journal.timer.data = l;
}

static void arm(ll_ledger_t *l, uint64_t after_ms)
{
    if (!uv_is_active((uv_handle_t *)&l->journal.timer))
        uv_timer_start(&l->journal.timer, on_timer, after_ms, 0);
}

static int grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 64;
    void *grown = realloc(*items, ncap * size);
    if (!grown)
        return LL_ENOMEM;
    *items = grown;
    *cap = ncap;
    return 0;
}

int ll_journal_reserve(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    return grow((void **)&j->admitted, &j->admitted_cap, j->nadmitted, sizeof *j->admitted);
}

void ll_journal_admitted(ll_ledger_t *l, const ll_tx_t *tx, ll_ledger_req_t *reply)
{
    ll_journal_t *j = &l->journal;
    j->admitted[j->nadmitted++] = (ll_journal_entry_t){tx, reply};
    if (reply)
        reply->held = 1;
    arm(l, 0);
}

int ll_journal_hold(ll_ledger_t *l, ll_ledger_req_t *reply)
{
    if (ll_journal_reserve(l) < 0)
        return LL_ENOMEM;
    l->journal.admitted[l->journal.nadmitted++] = (ll_journal_entry_t){NULL, reply};
    reply->held = 1;
    arm(l, 0);
    return 0;
}

void ll_journal_dropped(ll_ledger_t *l, ll_tx_t *tx)
{
    ll_journal_t *j = &l->journal;
    if (grow((void **)&j->dropped, &j->dropped_cap, j->ndropped, sizeof *j->dropped) < 0) {
        /* Its journal row stays: the next start drops it again. */
        LL_ERROR("ledger: out of memory; %s is dropped without its event", tx->tx_id);
        ll_tx_free(tx);
        return;
    }
    j->dropped[j->ndropped++] = tx;
    arm(l, 0);
}

static int write_rows(ll_ledger_t *l, const ll_tx_t **msgs, ll_batch_t **pending,
                      ll_batch_t **dropped)
{
    ll_journal_t *j = &l->journal;
    size_t m;
    int rc = 0;
    /* Drops first: a dropped transaction submitted again since has a new
     * row to write. */
    for (size_t i = 0; rc == 0 && i < j->ndropped; i++)
        rc = ll_store_forget_pending(l->st, j->dropped[i]->tx_id);
    for (size_t i = 0; rc == 0 && i < j->nadmitted; i++) {
        if (!j->admitted[i].tx)
            continue;
        char *body = ll_tx_dump(j->admitted[i].tx);
        rc = body ? ll_store_save_pending(l->st, j->admitted[i].tx->tx_id,
                                          j->admitted[i].tx->origin, body)
                  : LL_ENOMEM;
        free(body);
    }
    m = 0;
    for (size_t i = 0; i < j->nadmitted; i++)
        if (j->admitted[i].tx && j->admitted[i].tx->kind == LL_TX_MESSAGE)
            msgs[m++] = j->admitted[i].tx;
    if (rc == 0 && m)
        rc =
            ll_events_append_messages(l->events, l->st, l->tip.height, "pending", msgs, m, pending);
    m = 0;
    for (size_t i = 0; i < j->ndropped; i++)
        if (j->dropped[i]->kind == LL_TX_MESSAGE)
            msgs[m++] = j->dropped[i];
    if (rc == 0 && m)
        rc =
            ll_events_append_messages(l->events, l->st, l->tip.height, "dropped", msgs, m, dropped);
    return rc;
}

int ll_journal_flush(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    ll_batch_t *pending = NULL, *dropped = NULL;
    size_t most = j->nadmitted > j->ndropped ? j->nadmitted : j->ndropped;
    const ll_tx_t **msgs;
    int rc;
    if (most == 0)
        return 0;
    if (!(msgs = malloc(most * sizeof *msgs)))
        rc = LL_ENOMEM;
    else if ((rc = ll_store_begin(l->st)) == 0 &&
             (rc = write_rows(l, msgs, &pending, &dropped)) == 0 &&
             (rc = ll_store_commit(l->st)) == 0) {
        ll_events_commit(l->events);
        ll_ledger_publish(l, pending);
        ll_ledger_publish(l, dropped);
        for (size_t i = 0; i < j->nadmitted; i++)
            if (j->admitted[i].reply)
                ll_ledger_send_reply(j->admitted[i].reply);
        for (size_t i = 0; i < j->ndropped; i++)
            ll_tx_free(j->dropped[i]);
        j->nadmitted = j->ndropped = 0;
        free(msgs);
        return 0;
    } else {
        ll_store_rollback(l->st);
        ll_events_abort(l->events);
        ll_batch_unref(pending);
        ll_batch_unref(dropped);
    }
    free(msgs);
    LL_ERROR("ledger: %zu admissions and %zu drops not journaled (%s); retrying", j->nadmitted,
             j->ndropped, ll_err_name(rc));
    uv_timer_stop(&j->timer);
    uv_timer_start(&j->timer, on_timer, l->opts.block_interval_ms, 0);
    return rc;
}

void ll_journal_fail_held(ll_ledger_t *l, int err, const char *why)
{
    ll_journal_t *j = &l->journal;
    for (size_t i = 0; i < j->nadmitted; i++) {
        ll_ledger_req_t *r = j->admitted[i].reply;
        if (!r)
            continue;
        json_decref(r->result);
        r->result = NULL;
        r->rc = err;
        snprintf(r->why, sizeof r->why, "%s", why);
        ll_ledger_send_reply(r);
    }
    j->nadmitted = 0;
}

void ll_journal_close(ll_ledger_t *l, uv_close_cb on_closed)
{
    uv_close((uv_handle_t *)&l->journal.timer, on_closed);
}

void ll_journal_free(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    for (size_t i = 0; i < j->ndropped; i++)
        ll_tx_free(j->dropped[i]);
    free(j->admitted);
    free(j->dropped);
    j->admitted = NULL;
    j->dropped = NULL;
}
