/* relay/recent.c: see recent.h. A ring indexed by seq: the event with seq
 * s sits at (s - first) positions after head. */
#include "relay/recent.h"

#include <stdlib.h>
#include <uv.h>

#define COPY_CHUNK 256 /* refs taken per lock hold while walking */

struct ll_recent {
    uv_rwlock_t lock;
    ll_event_t **slots;
    size_t cap, head, count;
    uint64_t first; /* seq of slots[head] when count > 0 */
};

ll_recent_t *ll_recent_new(size_t cap)
{
    ll_recent_t *r = calloc(1, sizeof *r);
    if (!r || cap == 0 || !(r->slots = calloc(cap, sizeof *r->slots)) ||
        uv_rwlock_init(&r->lock) != 0) {
        if (r)
            free(r->slots);
        free(r);
        return NULL;
    }
    r->cap = cap;
    return r;
}

static void clear(ll_recent_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        ll_event_unref(r->slots[(r->head + i) % r->cap]);
    r->head = r->count = 0;
    r->first = 0;
}

void ll_recent_free(ll_recent_t *r)
{
    if (!r)
        return;
    clear(r);
    uv_rwlock_destroy(&r->lock);
    free(r->slots);
    free(r);
}

void ll_recent_append(ll_recent_t *r, ll_event_t *ev)
{
    ll_event_t *old = NULL;
    ll_event_ref(ev);
    uv_rwlock_wrlock(&r->lock);
    if (r->count && ev->seq != r->first + r->count) {
        clear(r); /* not the next one: what is held no longer leads up to it */
    }
    if (r->count == 0) {
        r->first = ev->seq;
        r->head = 0;
    }
    if (r->count == r->cap) {
        old = r->slots[r->head];
        r->head = (r->head + 1) % r->cap;
        r->first++;
        r->count--;
    }
    r->slots[(r->head + r->count) % r->cap] = ev;
    r->count++;
    uv_rwlock_wrunlock(&r->lock);
    if (old)
        ll_event_unref(old);
}

void ll_recent_range(ll_recent_t *r, uint64_t *first, uint64_t *last)
{
    uv_rwlock_rdlock(&r->lock);
    *first = r->count ? r->first : 0;
    *last = r->count ? r->first + r->count - 1 : 0;
    uv_rwlock_rdunlock(&r->lock);
}

int ll_recent_after(ll_recent_t *r, uint64_t after, size_t limit, ll_history_cb cb, void *arg)
{
    ll_event_t *chunk[COPY_CHUNK];
    size_t visited = 0;
    while (visited < limit) {
        size_t n = 0;
        uv_rwlock_rdlock(&r->lock);
        uint64_t next = after + visited + 1;
        if (r->count && next >= r->first && next < r->first + r->count) {
            size_t at = (size_t)(next - r->first);
            while (n < COPY_CHUNK && visited + n < limit && at + n < r->count)
                chunk[n] = ll_event_ref(r->slots[(r->head + at + n) % r->cap]), n++;
        }
        uv_rwlock_rdunlock(&r->lock);
        if (n == 0)
            break;
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (rc == 0)
                rc = cb(chunk[i], arg);
            ll_event_unref(chunk[i]);
        }
        if (rc)
            return rc;
        visited += n;
    }
    return (int)visited;
}
