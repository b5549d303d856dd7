/* util/taskq.c: the cross-thread hand-off of util/taskq.h (ledger requests,
 * replies to workers, the hub's event batches). */
#include "util/taskq.h"
#include "util/err.h"

static void drain(ll_taskq_t *q)
{
    uv_mutex_lock(&q->lock);
    ll_task_t *t = q->head;
    q->head = q->tail = NULL;
    uv_mutex_unlock(&q->lock);
    while (t) {
        ll_task_t *next = t->next; /* run() may free t */
        t->next = NULL;
        t->run(t);
        t = next;
    }
}

static void on_async(uv_async_t *async)
{
    drain(async->data);
}

int ll_taskq_init(ll_taskq_t *q, uv_loop_t *loop)
{
    q->head = q->tail = NULL;
    q->closed = 0;
    q->close_cb = NULL;
    if (uv_mutex_init(&q->lock) != 0)
        return LL_EINTERNAL;
    q->async.data = q;
    if (uv_async_init(loop, &q->async, on_async) != 0) {
        uv_mutex_destroy(&q->lock);
        return LL_EINTERNAL;
    }
    return 0;
}

int ll_taskq_post(ll_taskq_t *q, ll_task_t *task)
{
    task->next = NULL;
    uv_mutex_lock(&q->lock);
    if (q->closed) {
        uv_mutex_unlock(&q->lock);
        return LL_ESHUTDOWN;
    }
    int was_empty = q->head == NULL;
    if (q->tail)
        q->tail->next = task;
    else
        q->head = task;
    q->tail = task;
    /* Signal under the lock: ll_taskq_close takes it too, so the handle
     * cannot be closed (and its loop torn down) between post and send. */
    if (was_empty)
        uv_async_send(&q->async);
    uv_mutex_unlock(&q->lock);
    return 0;
}

static void on_close(uv_handle_t *h)
{
    ll_taskq_t *q = h->data;
    if (q->close_cb)
        q->close_cb(h);
}

void ll_taskq_close(ll_taskq_t *q, uv_close_cb close_cb)
{
    uv_mutex_lock(&q->lock);
    q->closed = 1;
    uv_mutex_unlock(&q->lock);
    drain(q);
    q->close_cb = close_cb;
    uv_close((uv_handle_t *)&q->async, on_close);
}

void ll_taskq_destroy(ll_taskq_t *q)
{
    uv_mutex_destroy(&q->lock);
}
