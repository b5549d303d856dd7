/* store/history.h: reading the event log (the events table) back, for
 * subscribers that resume from a Last-Event-ID and for the JetStream feed.
 * Owns:    nothing; its statement is the connection's (sql.h).
 * Threads: the thread that owns the connection (a worker's reader). */
#ifndef LL_STORE_HISTORY_H
#define LL_STORE_HISTORY_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ll_store_event {
    uint64_t seq;
    uint64_t height;
    const char *type;
    const char *tx_id; /* "" when none */
    const char *addresses;
    const char *payload;
    /* A committed transaction's (a tx, or a confirmed message): its asset
     * and its block's hash; NULL for every other row. */
    const char *asset_id;
    const char *block_hash;
} ll_store_event_t;

/* Calls cb for each event with seq > after, in order, at most limit of
 * them; strings are valid during the call. Returns how many rows were
 * visited (fewer than limit: the log ends there), or a negative LL_E*; a
 * non-zero cb result stops the walk and is returned. */
typedef int (*ll_store_event_cb)(const ll_store_event_t *ev, void *arg);
int ll_store_events_after(ll_store_t *st, uint64_t after, size_t limit, ll_store_event_cb cb,
                          void *arg);

#endif
