/* ledger/journal.c: the group commit of ledger/journal.h. */
#include "store/journal.h"
#include "ledger/internal.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_timer(uv_timer_t *t)
{
    ll_journal_flush(t->data);
}

int ll_journal_init(ll_ledger_t *l)
{
    uint64_t last = 0;
    int rc = ll_store_journal_last_pos(l->jst, &last);
    uv_timer_init(&l->loop, &l->journal.timer);
    l->journal.timer.data = l;
    l->journal.next_pos = last + 1;
    l->journal.gone_before = last + 1; /* until the start has read the journal */
    return rc;
}

void ll_journal_gone_before(ll_ledger_t *l, uint64_t pos)
{
    l->journal.gone_before = pos;
}

static void arm(ll_ledger_t *l, uint64_t after_ms)
{
    if (!uv_is_active((uv_handle_t *)&l->journal.timer))
        uv_timer_start(&l->journal.timer, on_timer, after_ms, 0);
}

/* Makes room for at least need items. */
static int ensure(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 64;
    while (ncap < need)
        ncap *= 2;
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
    return ensure((void **)&j->admitted, &j->admitted_cap, j->nadmitted + 1, sizeof *j->admitted);
}

void ll_journal_admitted(ll_ledger_t *l, ll_tx_t *tx, ll_ledger_req_t *reply)
{
    ll_journal_t *j = &l->journal;
    tx->journal_pos = j->next_pos++;
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
    if (ensure((void **)&j->dropped, &j->dropped_cap, j->ndropped + 1, sizeof *j->dropped) < 0) {
        /* Its journal row stays: the next start drops it again. */
        LL_ERROR("ledger: out of memory; %s is dropped without its event", tx->tx_id);
        ll_tx_free(tx);
        return;
    }
    j->dropped[j->ndropped++] = tx;
    arm(l, 0);
}

void ll_journal_committed(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    /* The block being produced, if any, holds the oldest (taken first). */
    uint64_t least =
        l->inflight ? l->batch[0]->journal_pos : ll_mempool_oldest_journal_pos(l->mempool);
    j->forget_before = least == UINT64_MAX ? j->next_pos : least;
    arm(l, 0);
}

/* Where this flush's slice of the committed prefix ends; 0: no slice. */
static uint64_t forget_upto(const ll_journal_t *j)
{
    if (j->forget_before <= j->gone_before)
        return 0;
    uint64_t room = j->forget_before - j->gone_before;
    return j->gone_before + (room < LL_JOURNAL_FORGET_SLICE ? room : LL_JOURNAL_FORGET_SLICE);
}

/* Part 1, journal.db: the dropped rows and a slice of the committed prefix
 * go, the admitted ones are appended. */
static int write_rows(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < j->ndropped; i++)
        if (j->dropped[i]->journal_pos)
            rc = ll_store_journal_forget(l->jst, j->dropped[i]->journal_pos);
    uint64_t upto = forget_upto(j);
    if (rc == 0 && upto)
        rc = ll_store_journal_forget_before(l->jst, upto);
    for (size_t i = 0; rc == 0 && i < j->nadmitted; i++) {
        const ll_tx_t *tx = j->admitted[i].tx;
        if (tx)
            rc = ll_store_journal_append(l->jst, tx->journal_pos, tx->origin, ll_tx_text(tx));
    }
    return rc;
}

/* Once the rows are on disk: messages wait for their events, the replies
 * go, and what was dropped without an event to write is freed. */
static void rows_done(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    for (size_t i = 0; i < j->nadmitted; i++) {
        const ll_tx_t *tx = j->admitted[i].tx;
        if (tx && tx->kind == LL_TX_MESSAGE) /* room made by flush_rows */
            j->msgs_pending[j->nmsgs_pending++] = tx;
    }
    for (size_t i = 0; i < j->ndropped; i++) {
        if (j->dropped[i]->kind == LL_TX_MESSAGE)
            j->msgs_dropped[j->nmsgs_dropped++] = j->dropped[i];
        else
            ll_tx_free(j->dropped[i]);
    }
    for (size_t i = 0; i < j->nadmitted; i++)
        if (j->admitted[i].reply)
            ll_ledger_send_reply(j->admitted[i].reply);
    j->nadmitted = j->ndropped = 0;
    uint64_t upto = forget_upto(j);
    if (upto) {
        j->gone_before = upto;
        if (upto < j->forget_before)
            arm(l, 1); /* the next slice, after the next turn's admissions */
    }
}

static int flush_rows(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    int rc;
    if (j->nadmitted + j->ndropped == 0 && !forget_upto(j))
        return 0;
    /* Room for what rows_done moves, made before the rows are written: a
     * row written twice would be refused. */
    if ((rc = ensure((void **)&j->msgs_pending, &j->msgs_pending_cap,
                     j->nmsgs_pending + j->nadmitted, sizeof *j->msgs_pending)) == 0 &&
        (rc = ensure((void **)&j->msgs_dropped, &j->msgs_dropped_cap,
                     j->nmsgs_dropped + j->ndropped, sizeof *j->msgs_dropped)) == 0 &&
        (rc = ll_store_begin(l->jst)) == 0 && (rc = write_rows(l)) == 0 &&
        (rc = ll_store_commit(l->jst)) == 0) {
        rows_done(l);
        return 0;
    }
    ll_store_rollback(l->jst);
    LL_ERROR("ledger: %zu admissions and %zu drops not journaled (%s); retrying", j->nadmitted,
             j->ndropped, ll_err_name(rc));
    return rc;
}

/* Part 2, ledger.db's event log: the messages' "pending" and "dropped". */
static int flush_events(ll_ledger_t *l)
{
    ll_journal_t *j = &l->journal;
    ll_batch_t *pending = NULL, *dropped = NULL;
    int rc;
    if (j->nmsgs_pending + j->nmsgs_dropped == 0)
        return 0;
    if ((rc = ll_store_begin(l->st)) == 0 &&
        (!j->nmsgs_pending ||
         (rc = ll_events_append_messages(l->events, l->st, l->tip.height, "pending",
                                         j->msgs_pending, j->nmsgs_pending, &pending)) == 0) &&
        (!j->nmsgs_dropped ||
         (rc = ll_events_append_messages(l->events, l->st, l->tip.height, "dropped",
                                         (const ll_tx_t *const *)j->msgs_dropped, j->nmsgs_dropped,
                                         &dropped)) == 0) &&
        (rc = ll_store_commit(l->st)) == 0) {
        ll_events_commit(l->events);
        ll_ledger_publish(l, pending);
        ll_ledger_publish(l, dropped);
        for (size_t i = 0; i < j->nmsgs_dropped; i++)
            ll_tx_free(j->msgs_dropped[i]);
        j->nmsgs_pending = j->nmsgs_dropped = 0;
        return 0;
    }
    ll_store_rollback(l->st);
    ll_events_abort(l->events);
    ll_batch_unref(pending);
    ll_batch_unref(dropped);
    LL_ERROR("ledger: %zu pending and %zu dropped message events not written (%s); retrying",
             j->nmsgs_pending, j->nmsgs_dropped, ll_err_name(rc));
    return rc;
}

int ll_journal_flush(ll_ledger_t *l)
{
    int rc = flush_rows(l);
    if (rc == 0 && !l->job_running)
        rc = flush_events(l);
    if (rc < 0) {
        uv_timer_stop(&l->journal.timer);
        uv_timer_start(&l->journal.timer, on_timer, l->opts.block_interval_ms, 0);
    }
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
    for (size_t i = 0; i < j->nmsgs_dropped; i++)
        ll_tx_free(j->msgs_dropped[i]);
    free(j->admitted);
    free(j->dropped);
    free(j->msgs_pending);
    free(j->msgs_dropped);
    memset(j, 0, sizeof *j);
}
