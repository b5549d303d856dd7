/* tests/unit/test_taskq.c: the cross-thread hand-off through taskq.h. Posting
 * threads are real (uv_thread_create); the loop thread is the test's own, and
 * it waits by running its loop until the last expected task stops it, with a
 * timer as the deadline, never by sleeping. */
#include "util/err.h"
#include "util/taskq.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#define DEADLINE_MS 20000 /* generous: only a lost task should ever reach it */
#define MAX_TASKS 10000
#define MAX_PRODUCERS 4

/* Written only on the loop thread (in run() and the callbacks below); read
 * by the test body on that same thread after uv_run returns. */
typedef struct ctx {
    uv_loop_t loop;
    uv_timer_t deadline;
    ll_taskq_t q;
    uv_thread_t loop_thread;
    int ran;    /* tasks run so far */
    int expect; /* uv_stop() when ran reaches it */
    int timed_out;
    int off_thread;       /* a task that ran on some other thread */
    int order[MAX_TASKS]; /* (producer << 16) | seq, in run order */
    int close_calls;
    uv_handle_t *closed_handle;
} ctx_t;

typedef struct rec_task {
    ll_task_t task; /* first member: run() casts back */
    ctx_t *ctx;
    int producer;
    int seq;
    int reposts_left; /* test_taskq_task_may_repost_itself_from_run */
} rec_task_t;

static void on_deadline(uv_timer_t *t)
{
    ctx_t *c = t->data;
    c->timed_out = 1;
    uv_stop(&c->loop);
}

static void on_record(ll_task_t *task)
{
    rec_task_t *t = (rec_task_t *)task;
    ctx_t *c = t->ctx;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &c->loop_thread))
        c->off_thread = 1;
    if (c->ran < MAX_TASKS)
        c->order[c->ran] = (t->producer << 16) | t->seq;
    c->ran++;
    if (c->ran == c->expect)
        uv_stop(&c->loop);
}

static int setup(void **state)
{
    ctx_t *c = calloc(1, sizeof *c);
    if (!c || uv_loop_init(&c->loop) != 0)
        return -1;
    c->loop_thread = uv_thread_self();
    if (ll_taskq_init(&c->q, &c->loop) != 0)
        return -1;
    uv_timer_init(&c->loop, &c->deadline);
    c->deadline.data = c;
    *state = c;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_q_closed(uv_handle_t *h)
{
    ctx_t *c = h->loop->data;
    c->close_calls++;
    c->closed_handle = h;
}

/* Closes whatever the test left open and requires a clean loop close. */
static int teardown(void **state)
{
    ctx_t *c = *state;
    int rc;
    c->loop.data = c;
    if (!uv_is_closing((uv_handle_t *)&c->q.async))
        ll_taskq_close(&c->q, NULL);
    uv_close((uv_handle_t *)&c->deadline, on_timer_closed);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    ll_taskq_destroy(&c->q); /* every posting thread was joined by the test */
    rc = uv_loop_close(&c->loop);
    free(c);
    return rc == 0 ? 0 : -1;
}

/* Runs the loop until c->expect tasks ran; fails on the deadline. */
static void run_until_done(ctx_t *c)
{
    if (c->ran >= c->expect)
        return;
    assert_int_equal(uv_timer_start(&c->deadline, on_deadline, DEADLINE_MS, 0), 0);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&c->deadline);
    assert_false(c->timed_out);
    assert_int_equal(c->ran, c->expect);
}

typedef struct producer {
    ctx_t *ctx;
    rec_task_t *tasks; /* owned by the test, so run() does not free them */
    int id;
    int n;
    int failed_posts;
} producer_t;

static void produce(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < p->n; i++) {
        p->tasks[i] =
            (rec_task_t){.task.run = on_record, .ctx = p->ctx, .producer = p->id, .seq = i};
        if (ll_taskq_post(&p->ctx->q, &p->tasks[i].task) != 0)
            p->failed_posts++;
    }
}

static void run_producers(ctx_t *c, int nthreads, int per_thread)
{
    uv_thread_t th[MAX_PRODUCERS];
    producer_t p[MAX_PRODUCERS];
    assert_true(nthreads <= MAX_PRODUCERS && nthreads * per_thread <= MAX_TASKS);
    c->expect = nthreads * per_thread;
    for (int i = 0; i < nthreads; i++) {
        p[i] = (producer_t){.ctx = c, .id = i, .n = per_thread};
        p[i].tasks = calloc((size_t)per_thread, sizeof *p[i].tasks);
        assert_non_null(p[i].tasks);
        assert_int_equal(uv_thread_create(&th[i], produce, &p[i]), 0);
    }
    run_until_done(c);
    for (int i = 0; i < nthreads; i++) {
        assert_int_equal(uv_thread_join(&th[i]), 0);
        assert_int_equal(p[i].failed_posts, 0);
        free(p[i].tasks);
    }
}

static void test_taskq_runs_tasks_from_another_thread_on_loop_thread_in_posting_order(void **state)
{
    ctx_t *c = *state;
    run_producers(c, 1, 100);
    assert_false(c->off_thread);
    for (int i = 0; i < 100; i++)
        assert_int_equal(c->order[i], i);
}

/* The sender signals only on empty -> non-empty, so a lone post must be
 * exactly the one that wakes the loop. */
static void test_taskq_single_post_from_another_thread_wakes_the_loop(void **state)
{
    ctx_t *c = *state;
    run_producers(c, 1, 1);
    assert_false(c->off_thread);
    assert_int_equal(c->order[0], 0);
}

/* uv_async_send coalesces: far fewer wake-ups than posts, yet each wake-up
 * must drain everything queued so far. */
static void test_taskq_burst_of_10000_posts_all_run_in_order(void **state)
{
    ctx_t *c = *state;
    run_producers(c, 1, 10000);
    assert_false(c->off_thread);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(c->order[i], i);
}

static void test_taskq_keeps_each_producers_order_with_concurrent_posters(void **state)
{
    ctx_t *c = *state;
    int next[MAX_PRODUCERS] = {0};
    run_producers(c, MAX_PRODUCERS, 2500);
    assert_false(c->off_thread);
    for (int i = 0; i < c->ran; i++) {
        int producer = c->order[i] >> 16, seq = c->order[i] & 0xffff;
        assert_in_range(producer, 0, MAX_PRODUCERS - 1);
        assert_int_equal(seq, next[producer]);
        next[producer]++;
    }
    for (int i = 0; i < MAX_PRODUCERS; i++)
        assert_int_equal(next[i], 2500);
}

static void test_taskq_close_runs_every_task_posted_before_it(void **state)
{
    ctx_t *c = *state;
    rec_task_t t[50];
    c->loop.data = c;
    for (int i = 0; i < 50; i++) {
        t[i] = (rec_task_t){.task.run = on_record, .ctx = c, .seq = i};
        assert_int_equal(ll_taskq_post(&c->q, &t[i].task), 0);
    }
    /* The loop never ran: nothing has been delivered yet. */
    assert_int_equal(c->ran, 0);
    ll_taskq_close(&c->q, on_q_closed);
    uv_run(&c->loop, UV_RUN_NOWAIT);
    assert_int_equal(c->ran, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(c->order[i], i);
    assert_false(c->off_thread);
}

static void test_taskq_close_runs_tasks_posted_by_a_finished_thread(void **state)
{
    ctx_t *c = *state;
    uv_thread_t th;
    producer_t p = {.ctx = c, .id = 0, .n = 300};
    p.tasks = calloc(300, sizeof *p.tasks);
    assert_non_null(p.tasks);
    assert_int_equal(uv_thread_create(&th, produce, &p), 0);
    assert_int_equal(uv_thread_join(&th), 0);
    assert_int_equal(p.failed_posts, 0);
    ll_taskq_close(&c->q, NULL);
    uv_run(&c->loop, UV_RUN_NOWAIT);
    assert_int_equal(c->ran, 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(c->order[i], i);
    free(p.tasks);
}

static void test_taskq_post_after_close_returns_eshutdown_and_task_never_runs(void **state)
{
    ctx_t *c = *state;
    rec_task_t before = {.task.run = on_record, .ctx = c, .seq = 1};
    rec_task_t after = {.task.run = on_record, .ctx = c, .seq = 2};
    assert_int_equal(ll_taskq_post(&c->q, &before.task), 0);
    ll_taskq_close(&c->q, NULL);
    assert_int_equal(ll_taskq_post(&c->q, &after.task), LL_ESHUTDOWN);
    uv_run(&c->loop, UV_RUN_NOWAIT);
    assert_int_equal(c->ran, 1);
    assert_int_equal(c->order[0], 1);
}

typedef struct refused {
    ctx_t *ctx;
    rec_task_t task;
    int rc;
} refused_t;

static void post_once(void *arg)
{
    refused_t *r = arg;
    r->rc = ll_taskq_post(&r->ctx->q, &r->task.task);
}

static void test_taskq_post_after_close_from_another_thread_returns_eshutdown(void **state)
{
    ctx_t *c = *state;
    uv_thread_t th;
    refused_t r = {.ctx = c, .task = {.task.run = on_record, .ctx = c}, .rc = 1};
    ll_taskq_close(&c->q, NULL);
    assert_int_equal(uv_thread_create(&th, post_once, &r), 0);
    assert_int_equal(uv_thread_join(&th), 0);
    assert_int_equal(r.rc, LL_ESHUTDOWN);
    uv_run(&c->loop, UV_RUN_NOWAIT);
    assert_int_equal(c->ran, 0);
}

/* Shutdown races: a worker may post after the owner's close has completed
 * (close_cb ran); the header promises LL_ESHUTDOWN for any post until
 * ll_taskq_destroy. The post runs in a child process so that a crash is
 * reported as this test's failure, not the whole run's.
 * on_close used to destroy the lock, so this post aborted. */
static void test_regress_taskq_post_after_close_cb_aborted(void **state)
{
    ctx_t *c = *state;
    rec_task_t late = {.task.run = on_record, .ctx = c};
    int status = 0;
    c->loop.data = c;
    ll_taskq_close(&c->q, on_q_closed);
    uv_run(&c->loop, UV_RUN_NOWAIT);
    assert_int_equal(c->close_calls, 1);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(ll_taskq_post(&c->q, &late.task) == LL_ESHUTDOWN ? 0 : 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("ll_taskq_post after close_cb died with signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(c->ran, 0);
}

static void test_taskq_close_cb_runs_once_with_the_async_handle(void **state)
{
    ctx_t *c = *state;
    c->loop.data = c;
    ll_taskq_close(&c->q, on_q_closed);
    assert_int_equal(c->close_calls, 0); /* only once the handle is closed */
    uv_run(&c->loop, UV_RUN_NOWAIT);
    assert_int_equal(c->close_calls, 1);
    assert_ptr_equal(c->closed_handle, (uv_handle_t *)&c->q.async);
}

static void on_repost(ll_task_t *task)
{
    rec_task_t *t = (rec_task_t *)task;
    if (t->reposts_left-- > 0) {
        t->seq++;
        if (ll_taskq_post(&t->ctx->q, task) != 0)
            t->ctx->off_thread = 1; /* flagged below as a failure */
        t->ctx->ran++;
        return;
    }
    t->ctx->ran++;
    uv_stop(&t->ctx->loop);
}

static void test_taskq_task_may_repost_itself_from_run(void **state)
{
    ctx_t *c = *state;
    rec_task_t t = {.task.run = on_repost, .ctx = c, .reposts_left = 5};
    c->expect = 6;
    assert_int_equal(ll_taskq_post(&c->q, &t.task), 0);
    run_until_done(c);
    assert_false(c->off_thread);
    assert_int_equal(t.seq, 5);
}

/* run() may free its task: the queue must not touch it afterwards (ASan). */
static void on_free(ll_task_t *task)
{
    rec_task_t *t = (rec_task_t *)task;
    ctx_t *c = t->ctx;
    free(t);
    if (++c->ran == c->expect)
        uv_stop(&c->loop);
}

static void test_taskq_run_may_free_its_task(void **state)
{
    ctx_t *c = *state;
    c->expect = 20;
    for (int i = 0; i < 20; i++) {
        rec_task_t *t = calloc(1, sizeof *t);
        assert_non_null(t);
        t->task.run = on_free;
        t->ctx = c;
        assert_int_equal(ll_taskq_post(&c->q, &t->task), 0);
    }
    run_until_done(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_taskq_runs_tasks_from_another_thread_on_loop_thread_in_posting_order),
        T(test_taskq_single_post_from_another_thread_wakes_the_loop),
        T(test_taskq_burst_of_10000_posts_all_run_in_order),
        T(test_taskq_keeps_each_producers_order_with_concurrent_posters),
        T(test_taskq_close_runs_every_task_posted_before_it),
        T(test_taskq_close_runs_tasks_posted_by_a_finished_thread),
        T(test_taskq_post_after_close_returns_eshutdown_and_task_never_runs),
        T(test_taskq_post_after_close_from_another_thread_returns_eshutdown),
        T(test_regress_taskq_post_after_close_cb_aborted),
        T(test_taskq_close_cb_runs_once_with_the_async_handle),
        T(test_taskq_task_may_repost_itself_from_run),
        T(test_taskq_run_may_free_its_task),
    };
#undef T
    return cmocka_run_group_tests_name("util/taskq", tests, NULL, NULL);
}
