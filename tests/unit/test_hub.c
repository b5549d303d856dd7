/* tests/unit/test_hub.c: batches from the ledger thread to every worker,
 * through hub.h. Workers are real threads, each with its own uv loop and task
 * queue; each stops its loop when its last expected batch arrives, with a
 * timer as the deadline, never by sleeping. The test keeps one extra
 * reference on every batch it publishes, so it can observe that each
 * delivery's reference was dropped exactly once; ASan reports any event or
 * batch freed twice or never. */
#include "stream/event.h"
#include "stream/hub.h"
#include "util/taskq.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#define DEADLINE_MS 20000 /* only a lost batch should ever reach it */
#define N_BATCHES 200
#define PER_BATCH 3
#define MAX_SEQS (N_BATCHES * PER_BATCH)

/* One worker: everything here is written on its loop thread only, and read
 * by the test after joining that thread (or, for single-loop tests, on the
 * test's own thread). */
typedef struct worker {
    uv_loop_t loop;
    ll_taskq_t q;
    uv_timer_t deadline;
    uv_thread_t thread;
    uv_thread_t loop_thread;
    uv_sem_t ready;
    int expect; /* uv_stop() once this many batches arrived */
    int batches;
    int nseq;
    uint64_t seqs[MAX_SEQS];
    int off_thread; /* a delivery that ran on another thread */
    int bad_refs;   /* a delivery whose batch had no reference of its own */
    int timed_out;
    int loop_close_rc;
} worker_t;

static ll_event_t *make_event(uint64_t seq)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"type\":\"block\",\"height\":%" PRIu64 "}", seq);
    ll_event_desc_t d = {.seq = seq, .type = LL_EV_BLOCK, .payload = payload};
    ll_event_t *ev = ll_event_new(&d);
    assert_non_null(ev);
    return ev;
}

/* A batch of n events from first_seq on, with one extra reference kept by
 * the test (released by release_batch). */
static ll_batch_t *make_batch(uint64_t first_seq, size_t n)
{
    ll_batch_t *b = ll_batch_new(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b->events[b->n++] = make_event(first_seq + i);
    atomic_fetch_add(&b->refs, 1);
    return b;
}

/* Every delivery is done: only the test's reference remains, and each event
 * is held by the batch alone. Dropping it frees all (ASan checks). */
static void release_batch(ll_batch_t *b)
{
    assert_int_equal(atomic_load(&b->refs), 1);
    for (size_t i = 0; i < b->n; i++)
        assert_int_equal(atomic_load(&b->events[i]->refs), 1);
    ll_batch_unref(b);
}

static void on_deliver(const ll_batch_t *b, void *arg)
{
    worker_t *w = arg;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &w->loop_thread))
        w->off_thread = 1;
    if (atomic_load(&b->refs) < 2) /* the test's and this delivery's */
        w->bad_refs = 1;
    for (size_t i = 0; i < b->n && w->nseq < MAX_SEQS; i++)
        w->seqs[w->nseq++] = b->events[i]->seq;
    w->batches++;
    if (w->batches == w->expect)
        uv_stop(&w->loop);
}

static void on_deadline(uv_timer_t *t)
{
    worker_t *w = t->data;
    w->timed_out = 1;
    uv_stop(&w->loop);
}

/* On the loop's own thread; w is zeroed by the caller. */
static void worker_init(worker_t *w, int expect)
{
    w->expect = expect;
    assert_int_equal(uv_loop_init(&w->loop), 0);
    assert_int_equal(ll_taskq_init(&w->q, &w->loop), 0);
    assert_int_equal(uv_timer_init(&w->loop, &w->deadline), 0);
    w->deadline.data = w;
    w->loop_thread = uv_thread_self();
}

/* Closes the queue (running what is queued) and the loop's handles. */
static void worker_close(worker_t *w)
{
    uv_timer_stop(&w->deadline);
    uv_close((uv_handle_t *)&w->deadline, NULL);
    ll_taskq_close(&w->q, NULL);
    /* A delivery run by the close may have called uv_stop(): that ends only
     * the first pass, and the next one finishes the closing. */
    while (uv_run(&w->loop, UV_RUN_DEFAULT) != 0)
        ;
    w->loop_close_rc = uv_loop_close(&w->loop);
}

static void worker_main(void *arg)
{
    worker_t *w = arg;
    worker_init(w, w->expect);
    uv_timer_start(&w->deadline, on_deadline, DEADLINE_MS, 0);
    uv_sem_post(&w->ready);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    worker_close(w);
}

static void worker_start(worker_t *w, int expect)
{
    memset(w, 0, sizeof *w);
    w->expect = expect;
    assert_int_equal(uv_sem_init(&w->ready, 0), 0);
    assert_int_equal(uv_thread_create(&w->thread, worker_main, w), 0);
    uv_sem_wait(&w->ready); /* its queue exists: sinks may be attached */
}

static void worker_join(worker_t *w)
{
    assert_int_equal(uv_thread_join(&w->thread), 0);
    uv_sem_destroy(&w->ready);
    assert_false(w->timed_out);
    assert_false(w->off_thread);
    assert_false(w->bad_refs);
    assert_int_equal(w->loop_close_rc, 0);
}

/* Runs a worker's loop on this thread until it has its batches. */
static void worker_run(worker_t *w)
{
    uv_timer_start(&w->deadline, on_deadline, DEADLINE_MS, 0);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&w->deadline);
    assert_false(w->timed_out);
}

/* A worker whose loop runs on the test's own thread, zeroed first. */
static void worker_init_here(worker_t *w, int expect)
{
    memset(w, 0, sizeof *w);
    worker_init(w, expect);
}

/* worker_close() on the test's thread, which may assert the loop closed. */
static void worker_close_here(worker_t *w)
{
    worker_close(w);
    assert_int_equal(w->loop_close_rc, 0);
}

static ll_hub_t *new_hub(void)
{
    ll_hub_t *hub = ll_hub_new();
    assert_non_null(hub);
    return hub;
}

static void test_hub_two_workers_receive_every_batch_in_order_once(void **state)
{
    (void)state;
    static worker_t w[2];
    static ll_batch_t *sent[N_BATCHES];
    ll_hub_t *hub = new_hub();
    ll_hub_sink_t *sinks[2];
    for (int i = 0; i < 2; i++) {
        worker_start(&w[i], N_BATCHES);
        sinks[i] = ll_hub_attach(hub, &w[i].q, on_deliver, &w[i]);
        assert_non_null(sinks[i]);
    }
    /* This thread plays the ledger's part: it publishes while both workers
     * are delivering. */
    for (int i = 0; i < N_BATCHES; i++) {
        sent[i] = make_batch((uint64_t)i * PER_BATCH + 1, PER_BATCH);
        ll_hub_publish(hub, sent[i]);
    }
    for (int i = 0; i < 2; i++) {
        worker_join(&w[i]);
        assert_int_equal(w[i].batches, N_BATCHES);
        assert_int_equal(w[i].nseq, MAX_SEQS);
        for (int k = 0; k < MAX_SEQS; k++)
            assert_int_equal(w[i].seqs[k], (uint64_t)k + 1);
    }
    for (int i = 0; i < 2; i++) {
        ll_hub_detach(hub, sinks[i]);
        ll_taskq_destroy(&w[i].q);
    }
    for (int i = 0; i < N_BATCHES; i++)
        release_batch(sent[i]);
    assert_int_equal(ll_hub_last_seq(hub), MAX_SEQS);
    ll_hub_free(hub);
}

static void test_hub_detach_stops_deliveries(void **state)
{
    (void)state;
    static worker_t w;
    worker_init_here(&w, 2);
    ll_hub_t *hub = new_hub();
    /* Two sinks on one queue: the marker stays attached, so its deliveries
     * show when the other's would have run. */
    static worker_t gone_rec;
    memset(&gone_rec, 0, sizeof gone_rec);
    gone_rec.loop_thread = uv_thread_self();
    ll_hub_sink_t *gone = ll_hub_attach(hub, &w.q, on_deliver, &gone_rec);
    ll_hub_sink_t *marker = ll_hub_attach(hub, &w.q, on_deliver, &w);
    assert_non_null(gone);
    assert_non_null(marker);

    ll_batch_t *b1 = make_batch(1, 2);
    ll_hub_publish(hub, b1);
    w.expect = 1;
    worker_run(&w);
    assert_int_equal(gone_rec.batches, 1);
    assert_int_equal(w.batches, 1);

    ll_hub_detach(hub, gone);
    ll_batch_t *b2 = make_batch(3, 2);
    ll_hub_publish(hub, b2);
    w.expect = 2;
    worker_run(&w);
    assert_int_equal(w.batches, 2);
    assert_int_equal(w.nseq, 4);
    assert_int_equal(w.seqs[3], 4);
    assert_int_equal(gone_rec.batches, 1);
    assert_int_equal(gone_rec.nseq, 2);

    /* Anything still queued for the detached sink would run here. */
    worker_close_here(&w);
    assert_int_equal(gone_rec.batches, 1);
    ll_hub_detach(hub, marker);
    ll_taskq_destroy(&w.q);
    release_batch(b1);
    release_batch(b2);
    ll_hub_free(hub);
}

/* A batch posted before the detach is still delivered (the queue's close
 * runs it), and its reference is then released. */
static void test_hub_batch_posted_before_detach_still_runs(void **state)
{
    (void)state;
    static worker_t w;
    worker_init_here(&w, 1);
    ll_hub_t *hub = new_hub();
    ll_hub_sink_t *sink = ll_hub_attach(hub, &w.q, on_deliver, &w);
    ll_batch_t *b = make_batch(7, 3);
    ll_hub_publish(hub, b);
    ll_hub_detach(hub, sink);
    assert_int_equal(w.batches, 0);
    worker_close_here(&w); /* runs the queued delivery */
    assert_int_equal(w.batches, 1);
    assert_int_equal(w.nseq, 3);
    ll_taskq_destroy(&w.q);
    release_batch(b);
    ll_hub_free(hub);
}

static void test_hub_publish_to_a_closed_queue_releases_the_batch(void **state)
{
    (void)state;
    static worker_t w;
    worker_init_here(&w, 1);
    ll_hub_t *hub = new_hub();
    ll_hub_sink_t *sink = ll_hub_attach(hub, &w.q, on_deliver, &w);
    assert_non_null(sink);
    worker_close_here(&w); /* the worker is stopping; its sink is still attached */

    ll_batch_t *b = make_batch(1, 2);
    ll_hub_publish(hub, b); /* refused by the queue: the hub drops its reference */
    assert_int_equal(w.batches, 0);
    release_batch(b); /* refs == 1 here, and ASan sees no leaked delivery */

    ll_hub_detach(hub, sink);
    ll_taskq_destroy(&w.q);
    ll_hub_free(hub);
}

static void test_hub_publish_without_sinks_drops_the_batch(void **state)
{
    (void)state;
    ll_hub_t *hub = new_hub();
    ll_batch_t *b = make_batch(1, 4);
    ll_hub_publish(hub, b);
    release_batch(b);
    /* Handing over the only reference frees it all (ASan checks). */
    ll_batch_t *only = ll_batch_new(1);
    assert_non_null(only);
    only->events[only->n++] = make_event(5);
    ll_hub_publish(hub, only);
    assert_int_equal(ll_hub_last_seq(hub), 5);
    ll_hub_free(hub);
}

static void test_hub_last_seq_is_the_newest_published(void **state)
{
    (void)state;
    ll_hub_t *hub = new_hub();
    assert_int_equal(ll_hub_last_seq(hub), 0);

    ll_batch_t *b = make_batch(41, 3);
    ll_hub_publish(hub, b);
    assert_int_equal(ll_hub_last_seq(hub), 43);
    release_batch(b);

    ll_batch_t *empty = make_batch(0, 0); /* no events: nothing newer */
    ll_hub_publish(hub, empty);
    assert_int_equal(ll_hub_last_seq(hub), 43);
    release_batch(empty);

    b = make_batch(44, 1);
    ll_hub_publish(hub, b);
    assert_int_equal(ll_hub_last_seq(hub), 44);
    release_batch(b);
    ll_hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_two_workers_receive_every_batch_in_order_once),
        cmocka_unit_test(test_hub_detach_stops_deliveries),
        cmocka_unit_test(test_hub_batch_posted_before_detach_still_runs),
        cmocka_unit_test(test_hub_publish_to_a_closed_queue_releases_the_batch),
        cmocka_unit_test(test_hub_publish_without_sinks_drops_the_batch),
        cmocka_unit_test(test_hub_last_seq_is_the_newest_published),
    };
    return cmocka_run_group_tests_name("stream/hub", tests, NULL, NULL);
}
