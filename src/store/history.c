/* store/history.c: see history.h. The seq primary key makes each page one
 * index range scan. */
#include "store/history.h"
#include "store/internal.h"
#include "store/sql.h"

int ll_store_events_after(ll_store_t *st, uint64_t after, size_t limit, ll_store_event_cb cb,
                          void *arg)
{
    sqlite3_stmt *q = ll_sql_stmt(st, LL_SQL_EVENTS_AFTER);
    int rc, visited = 0;

    ll_sql_bind_uint(q, 1, after);
    ll_sql_bind_uint(q, 2, limit);
    while ((rc = ll_sql_step(st, q, "read events")) > 0) {
        ll_store_event_t ev = {
            .seq = ll_sql_column_uint(q, 0),
            .height = ll_sql_column_uint(q, 1),
            .type = (const char *)sqlite3_column_text(q, 2),
            .tx_id = (const char *)sqlite3_column_text(q, 3),
            .addresses = (const char *)sqlite3_column_text(q, 4),
            .payload = (const char *)sqlite3_column_text(q, 5),
            .asset_id = (const char *)sqlite3_column_text(q, 6),
            .block_hash = (const char *)sqlite3_column_text(q, 7),
        };
        visited++;
        if (!ev.type || !ev.tx_id || !ev.addresses || !ev.payload) {
            rc = ll_sql_fail(st->db, "read event");
            break;
        }
        if ((rc = cb(&ev, arg)) != 0)
            break;
    }
    ll_sql_done(q); /* ends the read snapshot, so the next page sees new commits */
    return rc == 0 ? visited : rc;
}
