/* net/worker.h: internal to net/: the state of one worker thread, shared by
 * server.c (which creates, starts and stops workers), conn.c (which adds the
 * worker's connections to it) and stream_conn.c (its streams). Nothing
 * outside net/ includes this.
 * Owns:    the worker's loop, its taskq inbox, its listener and the lists of
 *          its live connections and streams.
 * Frees:   server.c frees the worker array after joining every thread.
 * Threads: every field is touched only on the worker's own thread once it
 *          runs, except fd and start_rc (written by the worker before it posts
 *          the server's start semaphore, read by main after waiting on it) and
 *          the two embedded tasks (posted by main, run on the worker). */
#ifndef LL_NET_WORKER_H
#define LL_NET_WORKER_H

#include "net/server.h"
#include "util/taskq.h"

#include <stddef.h>
#include <uv.h>

typedef struct ll_conn ll_conn_t;
typedef struct ll_stream_conn ll_stream_conn_t;

/* One read buffer per worker is enough: every read is parsed (and what must
 * outlive it copied) before the loop reads from the next connection. */
#define LL_WORKER_RBUF_SIZE 65536

struct ll_worker {
    ll_server_t *srv;
    const ll_server_opts_t *opts; /* the server's own copy */
    int index;
    uv_thread_t thread;
    uv_loop_t loop;
    ll_taskq_t taskq;
    uv_tcp_t listener;
    int fd;            /* the bound socket until uv_tcp_open() takes it; then -1 */
    int start_rc;      /* 0 once serving, else LL_EIO */
    int listener_open; /* listener handle not yet closed */
    int taskq_open;    /* taskq async handle not yet closed */
    int taskq_made;    /* taskq initialised: destroyed after the join */
    void *ctx;         /* what opts->worker_init returned */
    ll_conn_t *conns;  /* live connections (conn.c), until their handles close */
    size_t nconns;
    ll_stream_conn_t *streams; /* taken over (stream_conn.c), until closed */
    size_t nstreams;
    ll_task_t stop_accepting_task;
    ll_task_t stop_task;
    char rbuf[LL_WORKER_RBUF_SIZE];
};

#endif
