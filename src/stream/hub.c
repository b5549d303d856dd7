/* stream/hub.c: see hub.h. One small task per sink per batch is the only
 * allocation of a publish; the events themselves are shared. */
#include "stream/hub.h"
#include "util/log.h"

#include <stdlib.h>
#include <uv.h>

struct ll_hub_sink {
    ll_hub_sink_t *next;
    ll_taskq_t *q;
    ll_hub_deliver_cb cb;
    void *arg;
};

struct ll_hub {
    uv_mutex_t lock;
    ll_hub_sink_t *sinks; /* guarded by lock */
    _Atomic uint64_t last_seq;
};

typedef struct delivery {
    ll_task_t task; /* first: the task queue hands back this pointer */
    ll_batch_t *batch;
    ll_hub_deliver_cb cb;
    void *arg;
} delivery_t;

ll_batch_t *ll_batch_new(size_t cap)
{
    ll_batch_t *b = calloc(1, sizeof *b + cap * sizeof b->events[0]);
    if (b)
        atomic_init(&b->refs, 1);
    return b;
}

void ll_batch_unref(ll_batch_t *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < b->n; i++)
        ll_event_unref(b->events[i]);
    free(b);
}

ll_hub_t *ll_hub_new(void)
{
    ll_hub_t *hub = calloc(1, sizeof *hub);
    if (hub && uv_mutex_init(&hub->lock) != 0) {
        free(hub);
        return NULL;
    }
    return hub;
}

void ll_hub_free(ll_hub_t *hub)
{
    if (!hub)
        return;
    while (hub->sinks) {
        ll_hub_sink_t *s = hub->sinks;
        hub->sinks = s->next;
        free(s);
    }
    uv_mutex_destroy(&hub->lock);
    free(hub);
}

ll_hub_sink_t *ll_hub_attach(ll_hub_t *hub, ll_taskq_t *q, ll_hub_deliver_cb cb, void *arg)
{
    ll_hub_sink_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->q = q;
    s->cb = cb;
    s->arg = arg;
    uv_mutex_lock(&hub->lock);
    s->next = hub->sinks;
    hub->sinks = s;
    uv_mutex_unlock(&hub->lock);
    return s;
}

void ll_hub_detach(ll_hub_t *hub, ll_hub_sink_t *sink)
{
    if (!sink)
        return;
    uv_mutex_lock(&hub->lock);
    for (ll_hub_sink_t **p = &hub->sinks; *p; p = &(*p)->next) {
        if (*p == sink) {
            *p = sink->next;
            break;
        }
    }
    uv_mutex_unlock(&hub->lock);
    free(sink);
}

static void on_delivery(ll_task_t *task)
{
    delivery_t *d = (delivery_t *)task;
    d->cb(d->batch, d->arg);
    ll_batch_unref(d->batch);
    free(d);
}

void ll_hub_publish(ll_hub_t *hub, ll_batch_t *b)
{
    if (b->n > 0)
        atomic_store(&hub->last_seq, b->events[b->n - 1]->seq);
    b->published_ns = uv_hrtime(); /* before any worker can see b */
    uv_mutex_lock(&hub->lock);
    for (ll_hub_sink_t *s = hub->sinks; s; s = s->next) {
        delivery_t *d = malloc(sizeof *d);
        if (!d) {
            LL_ERROR("hub: out of memory; a worker misses a batch");
            continue;
        }
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
        *d = (delivery_t){{NULL, on_delivery}, b, s->cb, s->arg};
        if (ll_taskq_post(s->q, &d->task) < 0) { /* that worker is stopping */
            ll_batch_unref(b);
            free(d);
        }
    }
    uv_mutex_unlock(&hub->lock);
    ll_batch_unref(b);
}

uint64_t ll_hub_last_seq(const ll_hub_t *hub)
{
    return atomic_load(&hub->last_seq);
}
