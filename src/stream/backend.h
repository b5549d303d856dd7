/* stream/backend.h: where a worker's fan-out reads what is not live: the
 * history a resuming subscriber replays, the newest seq, and whether a
 * login session still stands. The node reads its SQLite event log and
 * session rows (stream/log_backend.h); a relay reads its JetStream stream
 * and the session directory NATS gives it (relay/).
 * Owns:    nothing; ctx belongs to whoever made the backend.
 * Threads: every call on the worker that owns the fan-out. */
#ifndef LL_STREAM_BACKEND_H
#define LL_STREAM_BACKEND_H

#include "stream/event.h"

#include <stddef.h>
#include <stdint.h>

/* One event of history, borrowed for the call (take a reference to keep
 * it). A non-zero result stops the walk and is returned. */
typedef int (*ll_history_cb)(ll_event_t *ev, void *arg);

typedef struct ll_stream_backend {
    /* Calls cb for each event with seq > after, in order, at most limit of
     * them. Returns how many were visited (fewer than limit: history ends
     * there, and live events take over), or a negative LL_E*. */
    int (*events_after)(void *ctx, uint64_t after, size_t limit, ll_history_cb cb, void *arg);
    /* The newest seq history holds (0: none). Every event up to it is
     * readable through events_after before the hub delivers it live. */
    uint64_t (*last_seq)(void *ctx);
    /* The expiry (wall clock, ms) of the session stored under key (SHA-256
     * of its token, hex); LL_ENOTFOUND once it was logged out. */
    int (*session_expiry)(void *ctx, const char *key, int64_t *expires_ms);
    void *ctx;
} ll_stream_backend_t;

#endif
