/* util/clock.h: the two clocks the node reads. The wall clock dates what
 * is stored or signed (block and transaction timestamps, session expiry);
 * the monotonic one measures time spans (rate limits, penalties), immune
 * to the wall clock being set.
 * Owns:    nothing.
 * Threads: any. */
#ifndef LL_UTIL_CLOCK_H
#define LL_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t ll_clock_wall_ms(void);

/* Milliseconds since an arbitrary point, never going back. */
uint64_t ll_clock_mono_ms(void);

#endif
