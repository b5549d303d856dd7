/* util/histo.h: the buckets of the node's latency histograms (Prometheus
 * "le" bounds, in seconds) and where one observation falls.
 * Owns:    nothing; a histogram is an array of LL_HISTO_BUCKETS + 1 counts
 *          (per bucket, not cumulative; the last counts what exceeds every
 *          bound) and a sum, kept by whoever observes.
 * Threads: any. */
#ifndef LL_UTIL_HISTO_H
#define LL_UTIL_HISTO_H

#include <stdint.h>

#define LL_HISTO_BUCKETS 15
extern const double ll_histo_le[LL_HISTO_BUCKETS];

/* The bucket of an observation of ns nanoseconds: 0..LL_HISTO_BUCKETS. */
int ll_histo_bucket(uint64_t ns);

#endif
