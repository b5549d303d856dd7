/* stream/log_backend.h: the node's stream backend (backend.h): history from
 * the SQLite event log, sessions from their rows, through a worker's reader.
 * Owns:    nothing; the reader is the worker's.
 * Threads: the worker that owns the reader. */
#ifndef LL_STREAM_LOG_BACKEND_H
#define LL_STREAM_LOG_BACKEND_H

#include "store/store.h"
#include "stream/backend.h"

/* A backend over reader (NULL: no history and no session re-reads; resuming
 * subscribers then start live). */
ll_stream_backend_t ll_log_backend(ll_store_t *reader);

#endif
