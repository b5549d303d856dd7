/* stream/log_backend.c: see log_backend.h. A row read back from the log is
 * text: its type and addresses are parsed, and it is encoded again (each
 * resuming subscriber reads its own page). */
#include "stream/log_backend.h"
#include "store/history.h"
#include "store/users.h"
#include "util/err.h"

#include <string.h>

typedef struct walk {
    ll_history_cb cb;
    void *arg;
} walk_t;

static int on_row(const ll_store_event_t *row, void *arg)
{
    walk_t *w = arg;
    ll_event_desc_t d = {
        .seq = row->seq,
        .type = ll_ev_type_parse(row->type, strlen(row->type)),
        .payload = row->payload,
    };
    ll_event_desc_parse_addresses(&d, row->addresses);
    ll_event_t *ev = ll_event_new(&d);
    if (!ev)
        return LL_ENOMEM;
    int rc = w->cb(ev, w->arg);
    ll_event_unref(ev);
    return rc;
}

static int events_after(void *ctx, uint64_t after, size_t limit, ll_history_cb cb, void *arg)
{
    walk_t w = {cb, arg};
    return ctx ? ll_store_events_after(ctx, after, limit, on_row, &w) : 0;
}

static uint64_t last_seq(void *ctx)
{
    uint64_t last = 0;
    if (ctx)
        ll_store_last_event_seq(ctx, &last);
    return last;
}

static int session_expiry(void *ctx, const char *key, int64_t *expires_ms)
{
    char username[LL_USERNAME_MAX + 1], address[33];
    if (!ctx)
        return LL_EINTERNAL;
    return ll_store_get_session(ctx, key, username, address, expires_ms);
}

ll_stream_backend_t ll_log_backend(ll_store_t *reader)
{
    return (ll_stream_backend_t){events_after, last_seq, session_expiry, reader};
}
