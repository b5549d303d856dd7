/* util/histo.c: see histo.h. From a quarter of a millisecond (an event's
 * way to a socket) to ten seconds (a block full of contract runs). */
#include "util/histo.h"

const double ll_histo_le[LL_HISTO_BUCKETS] = {
    0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
};

int ll_histo_bucket(uint64_t ns)
{
    int i = 0;
    while (i < LL_HISTO_BUCKETS && (double)ns > ll_histo_le[i] * 1e9)
        i++;
    return i;
}
