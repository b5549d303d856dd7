/* stream/fanout.h: a worker's subscribers and the index that finds, for
 * each event, the subscribers it matches.
 * Owns:    the index (a list of subscribers without an address filter; a
 *          hash map from address to its subscribers), every ll_sub_t opened
 *          on this worker, the idle handle that pages history to
 *          subscribers catching up, the list and timer of the
 *          subscribers bound to a login session, and the worker's stream
 *          counts (plain counters, published to its stats slot once per
 *          batch).
 * Frees:   ll_fanout_close() after every subscriber is closed.
 * Threads: the worker's loop only; ll_fanout_deliver is the hub's callback.
 *
 * Work per event is proportional to the subscribers it matches (the
 * address bucket) plus the unfiltered list, never to all subscribers.
 *
 * Sessions: a stream opened with a session (ll_sub_opts_t.session) ends
 * when that session is logged out or expires. Nothing is checked per event.
 * Once a second (LL_FANOUT_SESSION_CHECK_MS) the fan-out compares each
 * session-bound subscriber's remembered expiry with the clock, and, only
 * when the process-wide revocation count moved (ll_fanout_session_revoked,
 * after a logout commits), reads those subscribers' sessions again through
 * its store reader. The cost is proportional to the session-bound streams
 * of the worker, paid once a second. */
#ifndef LL_STREAM_FANOUT_H
#define LL_STREAM_FANOUT_H

#include "stream/backend.h"
#include "stream/hub.h"
#include "stream/stats.h"
#include "stream/subscriber.h"

#include <stdint.h>
#include <uv.h>

typedef struct ll_fanout ll_fanout_t;

/* How often session-bound streams are checked; a logout or an expiry ends
 * them within about this long. */
#define LL_FANOUT_SESSION_CHECK_MS 1000

/* Events of one batch matched before the touched subscribers are written:
 * one write per subscriber per batch, or per this many events of a larger
 * batch. */
#define LL_FANOUT_WRITE_EVERY 256

/* backend: where history, the newest seq and sessions are read (copied;
 * its ctx must outlive the fan-out). stats: shared by every worker; the fan-out claims
 * one slot of it and publishes its counts there (stats.h). NULL when out of
 * memory or out of slots. */
ll_fanout_t *ll_fanout_new(uv_loop_t *loop, const ll_stream_backend_t *backend,
                           ll_stream_stats_t *stats);

/* With ms > 0, the subscribers a delivery touches are written ms after the
 * first event of the window rather than at once (--stream-flush-ms): fewer
 * writes, each of more events, for that much more latency. 0 (the
 * default): every delivery is written at once. */
void ll_fanout_set_flush_ms(ll_fanout_t *fo, uint32_t ms);

/* Frees fo once its handles are closed; every subscriber must be closed
 * first. */
void ll_fanout_close(ll_fanout_t *fo);

/* Opens a subscriber writing to out. With o->resume it first replays the
 * log from o->resume_after, then goes live with no gap and no duplicate.
 * NULL when out of memory. */
ll_sub_t *ll_sub_open(ll_fanout_t *fo, uv_stream_t *out, const ll_sub_opts_t *o,
                      const ll_sub_hooks_t *hooks, void *owner);

/* Leaves the index and stops writing. The memory goes when the write in
 * flight (if any) completes, which closing the stream forces. */
void ll_sub_close(ll_sub_t *s);

/* The hub's callback: pushes each event to the subscribers it matches,
 * then flushes each touched subscriber once. */
void ll_fanout_deliver(const ll_batch_t *b, void *fo);

/* Says that a session was deleted (logout): every fan-out re-reads its
 * session-bound subscribers' sessions at its next check. Any thread; call
 * it after the deletion is committed, so the re-read cannot miss it. */
void ll_fanout_session_revoked(void);

/* Ends every session-bound subscriber of fo whose session expired by now_ms
 * (wall clock), or, when a revocation was announced since fo last looked,
 * whose session is gone from the store. The hooks' on_session_end runs for
 * each. The timer calls this; tests call it with a time of their own. */
void ll_fanout_check_sessions(ll_fanout_t *fo, int64_t now_ms);

#endif
