/* auth/hashgate.c: see hashgate.h. The line is two counters: tickets handed
 * out and the ticket being served; the waiters are the difference. */
#include "auth/hashgate.h"
#include "util/err.h"

int ll_hashgate_init(ll_hashgate_t *g, uint32_t slots, uint32_t queue_cap)
{
    g->slots = slots ? slots : 1;
    g->queue_cap = queue_cap;
    g->running = 0;
    g->next_ticket = g->serving = 0;
    return uv_mutex_init(&g->lock) == 0 ? 0 : LL_ENOMEM;
}

void ll_hashgate_close(ll_hashgate_t *g)
{
    uv_mutex_destroy(&g->lock);
}

int ll_hashgate_enter(ll_hashgate_t *g, uint64_t *ticket)
{
    int rc;
    uv_mutex_lock(&g->lock);
    uint64_t waiting = g->next_ticket - g->serving;
    if (waiting == 0 && g->running < g->slots) {
        g->running++; /* nobody is ahead: no line to join */
        rc = LL_HASHGATE_GO;
    } else if (waiting < g->queue_cap) {
        *ticket = g->next_ticket++;
        rc = LL_HASHGATE_WAIT;
    } else {
        rc = LL_ERATELIMIT;
    }
    uv_mutex_unlock(&g->lock);
    return rc;
}

int ll_hashgate_poll(ll_hashgate_t *g, uint64_t ticket)
{
    int in = 0;
    uv_mutex_lock(&g->lock);
    if (ticket == g->serving && g->running < g->slots) {
        g->serving++;
        g->running++;
        in = 1;
    }
    uv_mutex_unlock(&g->lock);
    return in;
}

void ll_hashgate_leave(ll_hashgate_t *g)
{
    uv_mutex_lock(&g->lock);
    if (g->running > 0)
        g->running--;
    uv_mutex_unlock(&g->lock);
}

void ll_hashgate_counts(ll_hashgate_t *g, uint32_t *running, uint32_t *waiting)
{
    uv_mutex_lock(&g->lock);
    *running = g->running;
    *waiting = (uint32_t)(g->next_ticket - g->serving);
    uv_mutex_unlock(&g->lock);
}
