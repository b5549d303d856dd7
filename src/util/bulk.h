/* util/bulk.h: marks the calling thread as one that runs bulk work.
 * Owns:    nothing (a per-thread flag).
 * Threads: any; it acts on the calling thread only.
 *
 * libuv's thread pool runs the node's bulk work: a batch's signature
 * checks, the block job, password hashing. On two cores those threads, all
 * busy, would take the CPU in turn with the ledger thread and the workers,
 * whose work is short and latency-bound (a single POST, an event to
 * stream); the Linux scheduler then makes a short task wait behind a time
 * slice of bulk work. At nice +10 a bulk thread still gets every cycle
 * nobody else wants (throughput is unchanged when the others idle), but a
 * woken latency-bound thread preempts it at once. An unprivileged process
 * cannot lower a nice value again, so a pool thread stays at +10: every job
 * it runs is bulk work. */
#ifndef LL_UTIL_BULK_H
#define LL_UTIL_BULK_H

/* The nice value of a bulk thread. */
#define LL_BULK_NICE 10

/* Lowers the calling thread's priority to LL_BULK_NICE, once per thread.
 * Failure is ignored (the work runs as before). */
void ll_bulk_thread(void);

#endif
