/* util/thread.c: see thread.h. */
#include "util/thread.h"

#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void ll_thread_name(const char *name)
{
    char cut[16];
    snprintf(cut, sizeof cut, "%s", name);
    (void)prctl(PR_SET_NAME, cut, 0, 0, 0);
}

void ll_thread_nice(int nice)
{
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}
