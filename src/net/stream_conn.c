/* net/stream_conn.c: see stream_conn.h. What a stream does with its
 * connection is the same for WebSocket and SSE: write the head, read (or
 * discard) what the client sends, stream through a subscriber, and close
 * with a linger so the last bytes are not destroyed by a reset. The protocol
 * lives in ws.c and sse.c, behind the owner's callbacks. Last stage of the
 * data path: events out, after conn.c handed the socket over. */
#include "net/stream_conn.h"
#include "net/conn.h"
#include "net/tls.h"
#include "net/worker.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* How long an ending stream waits for the client's EOF (so that the kernel
 * does not answer what it still sends with RST and destroy our last frame),
 * or for its last bytes to be written. */
#define LINGER_MS 2000

struct ll_stream_conn {
    uv_tcp_t *tcp;     /* from conn.c; freed once closed */
    ll_tls_t *tls;     /* from conn.c too; NULL on plain TCP */
    uv_timer_t linger; /* the goodbye's deadline */
    uv_timer_t timer;  /* the owner's */
    uv_shutdown_t shutdown;
    ll_worker_t *w;
    ll_stream_conn_t *prev, *next; /* w->streams */
    ll_sub_t *sub;
    const ll_stream_conn_cbs_t *cbs;
    void *owner;
    ll_stream_conn_timer_cb timer_cb;
    int handles; /* uv handles still open; freed at 0 */
    unsigned reading : 1;
    unsigned lingering : 1; /* our write side is shut: read and discard until EOF */
    unsigned closing : 1;   /* uv_close() called */
};

/* A stream whose start failed: its owner is gone and hears nothing. */
static const ll_stream_conn_cbs_t no_owner = {NULL, NULL, NULL};

/* ---- closing ---------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    ll_stream_conn_t *s = h->data;
    if (--s->handles > 0)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->w->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->w->nstreams--;
    ll_sub_close(s->sub); /* every write callback has run by now */
    if (s->cbs->on_closed)
        s->cbs->on_closed(s->owner);
    ll_tls_free(s->tls);
    free(s->tcp);
    free(s);
}

/* Closes now. The subscriber's write in flight is cancelled. */
static void stream_close(ll_stream_conn_t *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->reading = 0;
    uv_close((uv_handle_t *)&s->linger, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)s->tcp, on_handle_closed);
}

void ll_stream_conn_abort(ll_stream_conn_t *s)
{
    uv_os_fd_t fd;
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    if (s->closing)
        return;
    /* What uv_tcp_close_reset() does, which libuv refuses after uv_shutdown:
     * close(2) with a zero linger sends RST and frees the send queue. */
    if (uv_fileno((const uv_handle_t *)s->tcp, &fd) == 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    stream_close(s);
}

/* The goodbye took too long. A stream whose last bytes are still unwritten
 * has a client that reads nothing: a reset frees what the kernel holds for
 * it too. */
static void on_linger_timeout(uv_timer_t *t)
{
    ll_stream_conn_t *s = t->data;
    if (uv_stream_get_write_queue_size((const uv_stream_t *)s->tcp) > 0)
        ll_stream_conn_abort(s);
    else
        stream_close(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    ll_stream_conn_t *s = req->data;
    if (status < 0)
        stream_close(s);
}

static void reading(ll_stream_conn_t *s, int on);

/* Like an HTTP connection's last response: send FIN after what is queued,
 * then wait for the client's EOF (reading again if the owner had paused it;
 * what arrives is discarded) or LINGER_MS, so our last frame is not
 * destroyed by a reset. A client that reads nothing keeps the FIN behind
 * its unwritten bytes: LINGER_MS ends that too. */
void ll_stream_conn_end(ll_stream_conn_t *s)
{
    if (s->closing || s->lingering)
        return;
    s->lingering = 1;
    s->shutdown.data = s;
    if (ll_tls_shutdown(s->tls, &s->shutdown, (uv_stream_t *)s->tcp, on_shutdown) < 0) {
        stream_close(s);
        return;
    }
    reading(s, 1);
    uv_timer_start(&s->linger, on_linger_timeout, LINGER_MS, 0);
}

void ll_stream_conn_close_all(ll_worker_t *w)
{
    for (ll_stream_conn_t *s = w->streams; s; s = s->next) {
        if (s->closing)
            continue;
        /* The owner says goodbye and ends it; the timer ends it anyway. */
        uv_timer_start(&s->linger, on_linger_timeout, LINGER_MS, 0);
        if (s->cbs->on_shutdown)
            s->cbs->on_shutdown(s->owner);
        else
            ll_stream_conn_end(s);
    }
}

/* ---- reading ---------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ll_stream_conn_t *s = h->data;
    (void)suggested;
    *buf = uv_buf_init(s->w->rbuf, sizeof s->w->rbuf);
}

/* Client bytes go to the owner until the stream ends; after that (the
 * owner said goodbye) they are discarded. */
static void give(ll_stream_conn_t *s, const char *data, size_t len)
{
    if (len > 0 && !s->closing && !s->lingering && s->cbs->on_data)
        s->cbs->on_data(s->owner, data, len);
}

static void on_plain(void *arg, const char *data, size_t len)
{
    give(arg, data, len);
}

static void on_read(uv_stream_t *tcp, ssize_t nread, const uv_buf_t *buf)
{
    ll_stream_conn_t *s = tcp->data;
    if (nread == 0 || s->closing)
        return;
    if (nread < 0 || ll_tls_read(s->tls, tcp, buf->base, (size_t)nread, on_plain, s) < 0)
        stream_close(s); /* EOF (also the one lingering waits for), reset, error */
}

static void reading(ll_stream_conn_t *s, int on)
{
    if (!on) {
        if (s->reading)
            uv_read_stop((uv_stream_t *)s->tcp);
        s->reading = 0;
        return;
    }
    if (s->reading || s->closing)
        return;
    int rc = uv_read_start((uv_stream_t *)s->tcp, on_alloc, on_read);
    if (rc < 0) {
        LL_WARN("stream: cannot read from connection: %s", uv_strerror(rc));
        stream_close(s);
        return;
    }
    s->reading = 1;
}

void ll_stream_conn_read_stop(ll_stream_conn_t *s)
{
    if (!s->lingering) /* an ending stream reads on until EOF */
        reading(s, 0);
}

void ll_stream_conn_read_start(ll_stream_conn_t *s)
{
    reading(s, 1);
}

/* conn.c's ll_conn_rest_cb: what followed the request in its read (RFC 6455
 * §4.1: a client may send frames right after its handshake). */
static void on_rest(void *heir, const char *data, size_t len)
{
    give(heir, data, len);
}

/* ---- the owner's timer -------------------------------------------------------- */

static void on_owner_timer(uv_timer_t *t)
{
    ll_stream_conn_t *s = t->data;
    s->timer_cb(s->owner);
}

void ll_stream_conn_timer_start(ll_stream_conn_t *s, ll_stream_conn_timer_cb cb,
                                uint64_t timeout_ms, uint64_t repeat_ms)
{
    if (s->closing)
        return;
    s->timer_cb = cb;
    uv_timer_start(&s->timer, on_owner_timer, timeout_ms, repeat_ms);
}

ll_sub_t *ll_stream_conn_sub(ll_stream_conn_t *s)
{
    return s->sub;
}

/* ---- taking over ---------------------------------------------------------------- */

static int tls_try_write(void *tls, uv_stream_t *out, const uv_buf_t bufs[], unsigned n)
{
    return ll_tls_try_write(tls, out, bufs, n);
}

static int tls_write(void *tls, uv_write_t *req, uv_stream_t *out, const uv_buf_t bufs[],
                     unsigned n, uv_write_cb cb)
{
    return ll_tls_write(tls, req, out, bufs, n, cb);
}

static const ll_sub_io_t tls_io = {tls_try_write, tls_write};

typedef struct head_write {
    uv_write_t wr;
    char bytes[];
} head_write_t;

static void on_head_written(uv_write_t *wr, int status)
{
    (void)status; /* a failure shows up in the subscriber's next write or a read */
    free(wr);
}

ll_stream_conn_t *ll_stream_conn_take_over(ll_req_t *req, const char *head, size_t len,
                                           ll_fanout_t *fo, const ll_sub_opts_t *sub_opts,
                                           const ll_sub_hooks_t *hooks,
                                           const ll_stream_conn_cbs_t *cbs, void *owner)
{
    ll_worker_t *w = ll_req_worker(req);
    /* The stream's head carries what every response does (--hsts), before
     * the blank line that ends it. */
    const char *hsts = ll_req_hsts_header(req);
    size_t hsts_len = strlen(hsts);
    ll_stream_conn_t *s = calloc(1, sizeof *s);
    head_write_t *hw = s && len >= 2 ? malloc(sizeof *hw + len + hsts_len) : NULL;
    if (!hw) {
        free(s);
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return NULL;
    }
    if (!(s->tcp = ll_conn_hand_over(req, on_rest, s, &s->tls))) {
        free(hw);
        free(s);
        return NULL;
    }
    s->tcp->data = s;
    s->w = w;
    s->cbs = cbs;
    s->owner = owner;
    uv_timer_init(&w->loop, &s->linger);
    uv_timer_init(&w->loop, &s->timer);
    s->linger.data = s->timer.data = s;
    s->handles = 3;
    s->next = w->streams;
    if (w->streams)
        w->streams->prev = s;
    w->streams = s;
    w->nstreams++;
    reading(s, 1);

    memcpy(hw->bytes, head, len - 2);
    memcpy(hw->bytes + len - 2, hsts, hsts_len);
    memcpy(hw->bytes + len - 2 + hsts_len, "\r\n", 2);
    uv_buf_t buf = uv_buf_init(hw->bytes, (unsigned)(len + hsts_len));
    if (s->closing ||
        ll_tls_write(s->tls, &hw->wr, (uv_stream_t *)s->tcp, &buf, 1, on_head_written) < 0) {
        free(hw);
        s->cbs = &no_owner;
        stream_close(s);
        return NULL;
    }
    /* A stream encrypted in user space writes through its session; with
     * kernel TLS, or none, the subscriber's writev reaches the socket. */
    ll_sub_opts_t o = *sub_opts;
    if (!ll_tls_plain_writes(s->tls)) {
        o.io = &tls_io;
        o.io_arg = s->tls;
    }
    if (!(s->sub = ll_sub_open(fo, (uv_stream_t *)s->tcp, &o, hooks, owner))) {
        LL_ERROR("stream: out of memory opening a subscriber");
        s->cbs = &no_owner;
        ll_stream_conn_end(s);
        return NULL;
    }
    return s;
}
