/* store/history.c: see history.h. The seq primary key makes each page one
 * index range scan. */
#include "store/history.h"
#include "store/internal.h"
#include "util/err.h"

static const char events_after_sql[] =
    "SELECT seq, height, type, COALESCE(tx_id, ''), addresses, payload FROM events "
    "WHERE seq > ?1 ORDER BY seq LIMIT ?2";

int ll_store_events_after(ll_store_t *st, uint64_t after, size_t limit, ll_store_event_cb cb,
                          void *arg)
{
    sqlite3_stmt *q = ll_store_stmt(st, events_after_sql);
    int rc, visited = 0;
    if (!q)
        return LL_ESTORE;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        ll_store_event_t ev = {
            .seq = (uint64_t)sqlite3_column_int64(q, 0),
            .height = (uint64_t)sqlite3_column_int64(q, 1),
            .type = (const char *)sqlite3_column_text(q, 2),
            .tx_id = (const char *)sqlite3_column_text(q, 3),
            .addresses = (const char *)sqlite3_column_text(q, 4),
            .payload = (const char *)sqlite3_column_text(q, 5),
        };
        visited++;
        if (!ev.type || !ev.tx_id || !ev.addresses || !ev.payload) {
            rc = ll_store_fail(st, "read event");
            goto out;
        }
        if ((rc = cb(&ev, arg)) != 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? visited : ll_store_fail(st, "read events");
out:
    sqlite3_reset(q); /* ends the read snapshot, so the next page sees new commits */
    return rc;
}
