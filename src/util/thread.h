/* util/thread.h: names the calling thread, so that top, perf and
 * /proc/<pid>/task/<tid>/comm (which make bench reads) tell the node's
 * threads apart; sets its priority (util/bulk.h says why).
 * Owns:    nothing.
 * Threads: any; it names the calling thread only. */
#ifndef LL_UTIL_THREAD_H
#define LL_UTIL_THREAD_H

/* name: at most 15 bytes (the kernel's limit); longer is cut. */
void ll_thread_name(const char *name);

/* Sets the calling thread's nice value (Linux: per thread). An
 * unprivileged process may only raise it. Failure is ignored. */
void ll_thread_nice(int nice);

#endif
