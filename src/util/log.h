/* util/log.h: log lines to stderr with UTC time and level.
 * Owns:    the process-wide minimum level (set once at start, before any
 *          thread is spawned; read-only afterwards).
 * Threads: any thread may log; each line is written with one write(2), so
 *          lines from different threads never interleave. */
#ifndef LL_UTIL_LOG_H
#define LL_UTIL_LOG_H

typedef enum { LL_LOG_DEBUG, LL_LOG_INFO, LL_LOG_WARN, LL_LOG_ERROR } ll_log_level_t;

/* Called by main() before threads start. Returns LL_ECONFIG for an unknown
 * name ("debug", "info", "warn", "error"). */
int ll_log_set_level_name(const char *name);
void ll_log_set_level(ll_log_level_t level);

void ll_log(ll_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LL_DEBUG(...) ll_log(LL_LOG_DEBUG, __VA_ARGS__)
#define LL_INFO(...) ll_log(LL_LOG_INFO, __VA_ARGS__)
#define LL_WARN(...) ll_log(LL_LOG_WARN, __VA_ARGS__)
#define LL_ERROR(...) ll_log(LL_LOG_ERROR, __VA_ARGS__)

#endif
