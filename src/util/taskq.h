/* util/taskq.h: hand work to another thread's uv loop.
 * Owns:    the queue and its uv_async_t; not the tasks, which belong to
 *          whoever posted them until their run() is called, and to run()
 *          afterwards (run() frees or re-posts its task).
 * Threads: ll_taskq_post() from any thread; everything else on the loop
 *          thread that called ll_taskq_init().
 *
 * A mutex-guarded list plus uv_async_t. The sender signals only when the list
 * goes from empty to non-empty; the receiver swaps out the whole list and runs
 * it unlocked, in posting order. uv_async_send coalesces, so every wake-up
 * drains everything. */
#ifndef LL_UTIL_TASKQ_H
#define LL_UTIL_TASKQ_H

#include <uv.h>

typedef struct ll_task ll_task_t;
typedef void (*ll_task_cb)(ll_task_t *task);

/* Embed as the first member of a larger struct and cast back in run(). */
struct ll_task {
    ll_task_t *next;
    ll_task_cb run;
};

typedef struct ll_taskq {
    uv_async_t async;
    uv_mutex_t lock;
    ll_task_t *head; /* guarded by lock */
    ll_task_t *tail; /* guarded by lock */
    int closed;      /* guarded by lock: posts after close are refused */
    uv_close_cb close_cb;
} ll_taskq_t;

int ll_taskq_init(ll_taskq_t *q, uv_loop_t *loop);

/* Queues task to run on q's loop thread. Returns 0, or LL_ESHUTDOWN when q
 * was closed (task then still belongs to the caller). */
int ll_taskq_post(ll_taskq_t *q, ll_task_t *task);

/* Refuses further posts, runs what is queued, and closes the async handle;
 * close_cb (may be NULL) runs once the handle is closed, with q->async.
 * Posts stay safe (and refused) until ll_taskq_destroy. */
void ll_taskq_close(ll_taskq_t *q, uv_close_cb close_cb);

/* Releases the lock, once the queue is closed and no thread can post any
 * more (its owner has joined the threads that could). */
void ll_taskq_destroy(ll_taskq_t *q);

#endif
