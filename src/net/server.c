/* net/server.c: the listening side. The main thread binds one SO_REUSEPORT
 * socket per worker (so bind errors surface synchronously), then starts one
 * thread per worker, each with its own uv loop that adopts its socket, accepts
 * and serves its connections (conn.c; streams: stream_conn.c) and runs the
 * tasks other threads post to its inbox. Stopping is a task too: the worker
 * closes everything it owns and the main thread joins it. Also the
 * ll_worker_* accessors of server.h. */
#include "net/server.h"
#include "net/conn.h"
#include "net/stream_conn.h"
#include "net/tls.h"
#include "net/worker.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 511

struct ll_server {
    ll_server_opts_t opts; /* read-only once workers run */
    int port;
    int nworkers;
    ll_worker_t *workers;
    int nstarted;  /* threads created (and so to be joined) */
    int accepting; /* main thread only */
    uv_sem_t sem;  /* workers post it once started, and once their listener closed */
};

#define WORKER_OF(task, member) ((ll_worker_t *)((char *)(task)-offsetof(ll_worker_t, member)))

void ll_server_opts_defaults(ll_server_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 9984;
    o->workers = 1;
    o->max_head_bytes = 16 * 1024;
    o->max_body_bytes = 1024 * 1024;
    o->header_timeout_ms = 10 * 1000;
    o->body_min_rate = 8 * 1024;
    o->idle_timeout_ms = 60 * 1000;
    o->max_pipelined = 32;
}

ll_taskq_t *ll_worker_taskq(ll_worker_t *w)
{
    return &w->taskq;
}

uv_loop_t *ll_worker_loop(ll_worker_t *w)
{
    return &w->loop;
}

int ll_worker_index(const ll_worker_t *w)
{
    return w->index;
}

int ll_server_port(const ll_server_t *srv)
{
    return srv->port;
}

/* ---- binding (main thread) ------------------------------------------------ */

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) {
        *len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) {
        *len = sizeof(struct sockaddr_in6);
        return 0;
    }
    return UV_EINVAL;
}

/* Returns a bound (and, with do_listen, listening) socket, or a negative uv
 * error code. */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t len, int reuseport,
                       int do_listen)
{
    int one = 1, rc;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0 ||
        (do_listen && listen(fd, LISTEN_BACKLOG) != 0)) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Binds one socket per worker into w->fd. SO_REUSEPORT would let a second
 * process of the same user share a busy port silently, so a fixed port is
 * first probed with a plain bind, which fails with EADDRINUSE as users expect. */
static int bind_all(ll_server_t *srv)
{
    const ll_server_opts_t *o = &srv->opts;
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = parse_addr(o->host, o->port, &ss, &len);
    if (rc == 0 && o->port != 0) {
        if ((rc = bind_socket(&ss, len, 0, 0)) >= 0) {
            close(rc);
            rc = 0;
        }
    }
    for (int i = 0; rc == 0 && i < srv->nworkers; i++) {
        int fd = bind_socket(&ss, len, 1, 1);
        if (fd < 0) {
            rc = fd;
            break;
        }
        srv->workers[i].fd = fd;
        if (i == 0) { /* with port 0 the others join the port the first got */
            srv->port = bound_port(fd);
            if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)srv->port);
            else
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)srv->port);
        }
    }
    if (rc == 0)
        return 0;
    LL_ERROR("net: cannot listen on %s:%d: %s", o->host, o->port, uv_strerror(rc));
    return LL_EIO;
}

/* ---- the worker thread ----------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status)
{
    ll_worker_t *w = listener->data;
    if (status < 0) {
        LL_WARN("net: worker %d: accept: %s", w->index, uv_strerror(status));
        return;
    }
    ll_conn_accept(w, listener);
}

static void on_listener_closed(uv_handle_t *h)
{
    ll_worker_t *w = h->data;
    w->listener_open = 0;
}

static void on_listener_closed_signal(uv_handle_t *h)
{
    ll_worker_t *w = h->data;
    w->listener_open = 0;
    uv_sem_post(&w->srv->sem);
}

static void on_taskq_closed(uv_handle_t *h)
{
    /* h is the taskq's own async handle; its data belongs to the taskq */
    ll_worker_t *w = (ll_worker_t *)((char *)h - offsetof(ll_worker_t, taskq.async));
    w->taskq_open = 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Runs the loop until every handle is closed, then closes the loop. A handle
 * nobody closed (a module's leak) is closed here as a last resort. */
static void finish_loop(ll_worker_t *w)
{
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) == UV_EBUSY) {
        LL_WARN("net: worker %d: handles left open at exit; closing them", w->index);
        uv_walk(&w->loop, close_walk_cb, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
    }
}

/* Loop, inbox and listener. On failure everything opened here is closed
 * again and w->fd still belongs to the main thread if it was not adopted. */
static int worker_open(ll_worker_t *w)
{
    int rc = uv_loop_init(&w->loop);
    if (rc < 0) {
        LL_ERROR("net: worker %d: loop: %s", w->index, uv_strerror(rc));
        return LL_EIO;
    }
    if (ll_taskq_init(&w->taskq, &w->loop) < 0) {
        LL_ERROR("net: worker %d: cannot create its task queue", w->index);
        uv_loop_close(&w->loop);
        return LL_EIO;
    }
    w->taskq_open = 1;
    w->taskq_made = 1;
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    w->listener_open = 1;
    if ((rc = uv_tcp_open(&w->listener, w->fd)) == 0) {
        w->fd = -1; /* the handle owns and closes it now */
        rc = uv_listen((uv_stream_t *)&w->listener, LISTEN_BACKLOG, on_connection);
    }
    if (rc == 0)
        return 0;
    LL_ERROR("net: worker %d: listen: %s", w->index, uv_strerror(rc));
    uv_close((uv_handle_t *)&w->listener, on_listener_closed);
    ll_taskq_close(&w->taskq, on_taskq_closed);
    finish_loop(w);
    return LL_EIO;
}

/* After the stop task: close what the server owns, let those close callbacks
 * run, then give worker_fini its turn (it may close handles of its own, which
 * is why the loop is not simply run to the end first), then finish. */
static void worker_close(ll_worker_t *w)
{
    const ll_server_opts_t *o = w->opts;
    if (w->listener_open && !uv_is_closing((uv_handle_t *)&w->listener))
        uv_close((uv_handle_t *)&w->listener, on_listener_closed);
    ll_conn_close_all(w);
    ll_stream_conn_close_all(w);
    ll_taskq_close(&w->taskq, on_taskq_closed); /* runs what is still queued */
    while (w->nconns > 0 || w->nstreams > 0 || w->listener_open || w->taskq_open)
        uv_run(&w->loop, UV_RUN_ONCE); /* closing handles make it poll without blocking */
    if (o->worker_fini)
        o->worker_fini(w->ctx);
    finish_loop(w);
    ll_tls_thread_end(); /* every session of this thread is freed by now */
}

static void worker_main(void *arg)
{
    ll_worker_t *w = arg;
    const ll_server_opts_t *o = w->opts;
    ll_thread_name("ll-worker");
    int rc = worker_open(w);
    if (rc == 0 && o->worker_init)
        w->ctx = o->worker_init(w, o->arg);
    w->start_rc = rc;
    uv_sem_post(&w->srv->sem);
    if (rc < 0)
        return;
    uv_run(&w->loop, UV_RUN_DEFAULT); /* until on_stop_task() */
    worker_close(w);
}

static void on_stop_accepting_task(ll_task_t *t)
{
    ll_worker_t *w = WORKER_OF(t, stop_accepting_task);
    if (w->listener_open && !uv_is_closing((uv_handle_t *)&w->listener))
        uv_close((uv_handle_t *)&w->listener, on_listener_closed_signal);
    else
        uv_sem_post(&w->srv->sem);
}

static void on_stop_task(ll_task_t *t)
{
    ll_worker_t *w = WORKER_OF(t, stop_task);
    uv_stop(&w->loop); /* worker_main goes on with worker_close() */
}

/* ---- main thread ----------------------------------------------------------- */

/* Stops and joins the workers that started, closes sockets no worker
 * adopted, and frees srv. */
static void server_free(ll_server_t *srv)
{
    for (int i = 0; i < srv->nstarted; i++) {
        ll_worker_t *w = &srv->workers[i];
        if (w->start_rc == 0) {
            w->stop_task.run = on_stop_task;
            if (ll_taskq_post(&w->taskq, &w->stop_task) < 0)
                LL_ERROR("net: worker %d: cannot post stop", w->index);
        }
    }
    for (int i = 0; i < srv->nstarted; i++)
        uv_thread_join(&srv->workers[i].thread);
    for (int i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].fd >= 0)
            close(srv->workers[i].fd);
        if (srv->workers[i].taskq_made)
            ll_taskq_destroy(&srv->workers[i].taskq);
    }
    uv_sem_destroy(&srv->sem);
    free(srv->workers);
    free(srv);
}

/* libuv writes with write(2): a client that resets while a response is on
 * its way would raise SIGPIPE and kill the process. Writes must fail with
 * EPIPE instead, so SIGPIPE is ignored unless someone installed a handler. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

int ll_server_start(const ll_server_opts_t *opts, ll_server_t **out)
{
    *out = NULL;
    ignore_sigpipe();
    if (!opts->handler || !opts->host || opts->workers < 1 || opts->port < 0 ||
        opts->port > 65535) {
        LL_ERROR("net: bad server options (handler, host, workers >= 1, port 0..65535)");
        return LL_EIO;
    }
    ll_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return LL_EIO;
    srv->workers = calloc((size_t)opts->workers, sizeof *srv->workers);
    if (!srv->workers || uv_sem_init(&srv->sem, 0) != 0) {
        free(srv->workers);
        free(srv);
        return LL_EIO;
    }
    srv->opts = *opts;
    /* A zero limit or timeout would refuse everything: read it as the default. */
    ll_server_opts_t d;
    ll_server_opts_defaults(&d);
    ll_server_opts_t *o = &srv->opts;
    o->max_head_bytes = o->max_head_bytes ? o->max_head_bytes : d.max_head_bytes;
    o->max_body_bytes = o->max_body_bytes ? o->max_body_bytes : d.max_body_bytes;
    o->header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms : d.header_timeout_ms;
    o->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : d.idle_timeout_ms;
    o->max_pipelined = o->max_pipelined ? o->max_pipelined : d.max_pipelined;
    srv->nworkers = opts->workers;
    for (int i = 0; i < srv->nworkers; i++) {
        ll_worker_t *w = &srv->workers[i];
        w->srv = srv;
        w->opts = &srv->opts;
        w->index = i;
        w->fd = -1;
        w->start_rc = LL_EIO;
    }
    int rc = bind_all(srv);
    for (int i = 0; rc == 0 && i < srv->nworkers; i++) {
        ll_worker_t *w = &srv->workers[i];
        if (uv_thread_create(&w->thread, worker_main, w) != 0) {
            LL_ERROR("net: cannot start worker thread %d", i);
            rc = LL_EIO;
            break;
        }
        srv->nstarted++;
    }
    for (int i = 0; i < srv->nstarted; i++)
        uv_sem_wait(&srv->sem);
    for (int i = 0; rc == 0 && i < srv->nworkers; i++)
        rc = srv->workers[i].start_rc;
    if (rc < 0) {
        server_free(srv);
        return LL_EIO;
    }
    srv->accepting = 1;
    LL_INFO("net: listening on %s:%d with %d workers", o->host, srv->port, srv->nworkers);
    *out = srv;
    return 0;
}

void ll_server_stop_accepting(ll_server_t *srv)
{
    if (!srv || !srv->accepting)
        return;
    srv->accepting = 0;
    int posted = 0;
    for (int i = 0; i < srv->nworkers; i++) {
        ll_worker_t *w = &srv->workers[i];
        w->stop_accepting_task.run = on_stop_accepting_task;
        if (ll_taskq_post(&w->taskq, &w->stop_accepting_task) == 0)
            posted++;
    }
    for (int i = 0; i < posted; i++)
        uv_sem_wait(&srv->sem);
}

void ll_server_stop(ll_server_t *srv)
{
    if (!srv)
        return;
    server_free(srv);
}
