/* util/bulk.c: see bulk.h. */
#include "util/bulk.h"
#include "util/thread.h"

void ll_bulk_thread(void)
{
    static _Thread_local int done;
    if (done)
        return;
    done = 1;
    ll_thread_name("ll-pool");
    ll_thread_nice(LL_BULK_NICE);
}
