/* util/bulk.c: see bulk.h. On Linux, setpriority(PRIO_PROCESS, tid)
 * applies to one thread, not the whole process. */
#include "util/bulk.h"
#include "util/thread.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void ll_bulk_thread(void)
{
    static _Thread_local int done;
    if (done)
        return;
    done = 1;
    ll_thread_name("ll-pool");
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), LL_BULK_NICE);
}
