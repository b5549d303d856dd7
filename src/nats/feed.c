/* nats/feed.c: see feed.h. One loop turn publishes at most one page of the
 * log and waits for JetStream's acknowledgements of that page, so a stop or
 * a hub delivery never waits behind more than one page. The session bucket
 * takes turns beside it, a bounded step at a time (nats/sessions.c). */
#include "nats/feed.h"
#include "nats/natsconn.h"
#include "nats/sessions.h"
#include "store/history.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/taskq.h"
#include "util/thread.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PAGE 512                    /* events published before waiting for their acks */
#define ACK_WAIT_MS 2000            /* the longest a page waits for JetStream */
#define RETRY_MS 250                /* after a failure, or while NATS is away */
#define LOG_EVERY_NS 10000000000ull /* a failure that repeats is logged every 10 s */

struct ll_nats_feed {
    uv_thread_t thread;
    uv_loop_t loop;
    ll_taskq_t q;     /* the hub's deliveries */
    uv_idle_t more;   /* publishes the next page on the next loop turn */
    uv_timer_t retry; /* tries again after a failure */
    uv_async_t stop;  /* ll_nats_feed_stop's wake-up */
    /* The session bucket: a change queued wakes sess_wake; sess_more runs
     * the next step while one is ready; sess_tick steps every RETRY_MS, to
     * retry and to notice an outage (after which the bucket is reconciled). */
    ll_nats_sessions_t *sessions;
    uv_async_t sess_wake;
    uv_idle_t sess_more;
    uv_timer_t sess_tick;
    ll_hub_t *hub;
    ll_hub_sink_t *sink;
    ll_store_t *log; /* read-only: ledger.db's event log */
    ll_natsconn_t *nc;
    char stream[LL_NATS_NAME_MAX + 1];
    uint32_t replicas;
    int stream_ready; /* the stream exists (found or created) */
    int cursor_known; /* cursor was read back from the stream */
    uint64_t cursor;  /* the last event seq the stream holds */
    uint64_t last_log_ns;
    /* /metrics; written by the feed thread (and `failed` by the NATS
     * library's thread), read by any. */
    _Atomic uint64_t acked_seq, published, failures;
    _Atomic int failed; /* a publish of the page in flight failed */
};

static void log_failure(ll_nats_feed_t *f, const char *what, natsStatus s)
{
    uint64_t now = uv_hrtime();
    atomic_fetch_add(&f->failures, 1);
    if (now - f->last_log_ns < LOG_EVERY_NS && f->last_log_ns)
        return;
    f->last_log_ns = now;
    LL_WARN("nats feed: %s: %s (retrying every %d ms; events wait in the log)", what,
            natsStatus_GetText(s), RETRY_MS);
}

/* A publish JetStream refused or never answered (the NATS library's thread). */
static void on_publish_error(jsCtx *js, jsPubAckErr *pae, void *arg)
{
    (void)js;
    (void)pae;
    ll_nats_feed_t *f = arg;
    atomic_store(&f->failed, 1);
}

/* Reads the cursor back from the stream's last message: its Nats-Msg-Id is
 * the last event seq the stream holds (none: 0). */
static natsStatus read_cursor(ll_nats_feed_t *f)
{
    uint64_t last = 0;
    natsStatus s = ll_natsconn_last_msg_id(f->nc, f->stream, &last);
    if (s != NATS_OK)
        return s;
    f->cursor = last;
    f->cursor_known = 1;
    atomic_store(&f->acked_seq, last);
    uint64_t log_last = 0;
    if (ll_store_last_event_seq(f->log, &log_last) == 0 && last > log_last)
        LL_ERROR("nats feed: stream %s already holds event %" PRIu64 ", beyond this node's "
                 "log (%" PRIu64 "): it belongs to another chain; nothing more is published",
                 f->stream, last, log_last);
    return NATS_OK;
}

typedef struct page {
    ll_nats_feed_t *f;
    uint64_t last; /* the seq of the last event handed to NATS */
    natsStatus status;
} page_t;

static int publish_row(const ll_store_event_t *row, void *arg)
{
    page_t *p = arg;
    ll_nats_feed_t *f = p->f;
    p->status = ll_natsconn_publish_event(f->nc, row, p->last);
    if (p->status != NATS_OK)
        return LL_EIO;
    p->last = row->seq;
    return 0;
}

static void on_more(uv_idle_t *h);
static void on_retry(uv_timer_t *h);
static void on_sess_more(uv_idle_t *h);

static void arm_retry(ll_nats_feed_t *f)
{
    uv_idle_stop(&f->more);
    if (!uv_is_active((uv_handle_t *)&f->retry))
        uv_timer_start(&f->retry, on_retry, RETRY_MS, 0);
}

/* One page: whatever the log holds after the cursor, up to PAGE events. */
static void publish_page(ll_nats_feed_t *f)
{
    natsStatus s;
    if (!ll_natsconn_connected(f->nc)) {
        arm_retry(f);
        return;
    }
    if (!f->stream_ready) {
        if ((s = ll_natsconn_ensure_stream(f->nc, f->stream, f->replicas)) != NATS_OK) {
            log_failure(f, "creating the stream", s);
            arm_retry(f);
            return;
        }
        f->stream_ready = 1;
    }
    if (!f->cursor_known && (s = read_cursor(f)) != NATS_OK) {
        log_failure(f, "reading the stream's last event", s);
        arm_retry(f);
        return;
    }
    page_t p = {.f = f, .last = f->cursor, .status = NATS_OK};
    atomic_store(&f->failed, 0);
    int n = ll_store_events_after(f->log, f->cursor, PAGE, publish_row, &p);
    if (p.last > f->cursor) {
        natsStatus done = ll_natsconn_wait_acks(f->nc, ACK_WAIT_MS);
        if (p.status == NATS_OK)
            p.status = done;
        if (p.status == NATS_OK && atomic_load(&f->failed))
            p.status = NATS_ERR;
    }
    if (n < 0 || p.status != NATS_OK) {
        /* Some of the page may be stored: the stream says how far. */
        f->cursor_known = 0;
        if (n < 0 && p.status == NATS_OK)
            LL_ERROR("nats feed: reading the event log failed");
        else
            log_failure(f, "publishing", p.status);
        arm_retry(f);
        return;
    }
    atomic_fetch_add(&f->published, p.last - f->cursor);
    f->cursor = p.last;
    atomic_store(&f->acked_seq, p.last);
    if ((size_t)n < PAGE)
        uv_idle_stop(&f->more); /* caught up: the next delivery wakes us */
    else
        uv_idle_start(&f->more, on_more);
}

static void on_more(uv_idle_t *h)
{
    publish_page(h->data);
}

static void on_retry(uv_timer_t *h)
{
    ll_nats_feed_t *f = h->data;
    uv_idle_start(&f->more, on_more);
}

/* The hub's callback: events were committed. The page is read from the log
 * on the next loop turn, so a burst of deliveries costs one read. */
static void on_delivery(const ll_batch_t *b, void *arg)
{
    (void)b;
    ll_nats_feed_t *f = arg;
    if (!uv_is_active((uv_handle_t *)&f->retry))
        uv_idle_start(&f->more, on_more);
}

/* One step of the session bucket's work; the tick tries again after a
 * failure, and runs the first step. */
static void run_sessions(ll_nats_feed_t *f)
{
    if (ll_nats_sessions_step(f->sessions, f->nc, f->log) > 0)
        uv_idle_start(&f->sess_more, on_sess_more);
    else
        uv_idle_stop(&f->sess_more);
}

static void on_sess_more(uv_idle_t *h)
{
    run_sessions(h->data);
}

static void on_sess_wake(uv_async_t *h)
{
    run_sessions(h->data);
}

static void on_sess_tick(uv_timer_t *h)
{
    run_sessions(h->data);
}

static void on_stop(uv_async_t *h)
{
    ll_nats_feed_t *f = h->data;
    ll_hub_detach(f->hub, f->sink);
    f->sink = NULL;
    uv_idle_stop(&f->more);
    uv_close((uv_handle_t *)&f->more, NULL);
    uv_close((uv_handle_t *)&f->retry, NULL);
    uv_close((uv_handle_t *)&f->stop, NULL);
    ll_nats_sessions_shut(f->sessions); /* no push sends on sess_wake from now on */
    uv_close((uv_handle_t *)&f->sess_wake, NULL);
    uv_close((uv_handle_t *)&f->sess_more, NULL);
    uv_close((uv_handle_t *)&f->sess_tick, NULL);
    ll_taskq_close(&f->q, NULL);
}

static void feed_thread(void *arg)
{
    ll_nats_feed_t *f = arg;
    ll_thread_name("ll-nats");
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void feed_free(ll_nats_feed_t *f)
{
    ll_nats_sessions_free(f->sessions);
    ll_natsconn_free(f->nc);
    ll_store_close(f->log);
    free(f);
}

int ll_nats_feed_start(const ll_nats_feed_opts_t *o, ll_nats_feed_t **out)
{
    ll_nats_feed_t *f = calloc(1, sizeof *f);
    char bucket[LL_NATS_BUCKET_MAX + 1];
    int rc;
    *out = NULL;
    if (!f)
        return LL_ENOMEM;
    if (strlen(o->stream) > LL_NATS_NAME_MAX || ll_nats_sessions_bucket(o->stream, bucket) < 0) {
        free(f);
        return LL_ECONFIG;
    }
    strcpy(f->stream, o->stream);
    f->replicas = o->replicas;
    f->hub = o->hub;
    if ((rc = ll_nats_sessions_new(bucket, o->replicas, o->session_max_age_s, &f->sess_wake,
                                   &f->sessions)) < 0) {
        free(f);
        return rc;
    }
    if ((rc = ll_store_open(o->data_dir, LL_STORE_READER, LL_SYNC_FULL, &f->log)) < 0) {
        feed_free(f);
        return rc;
    }
    if ((rc = ll_natsconn_open(o->urls, "ledgerline-node", on_publish_error, f, &f->nc)) < 0) {
        feed_free(f);
        return rc;
    }
    if (uv_loop_init(&f->loop) != 0) {
        feed_free(f);
        return LL_EINTERNAL;
    }
    uv_idle_init(&f->loop, &f->more);
    uv_timer_init(&f->loop, &f->retry);
    uv_async_init(&f->loop, &f->stop, on_stop);
    uv_async_init(&f->loop, &f->sess_wake, on_sess_wake);
    uv_idle_init(&f->loop, &f->sess_more);
    uv_timer_init(&f->loop, &f->sess_tick);
    f->more.data = f->retry.data = f->stop.data = f;
    f->sess_wake.data = f->sess_more.data = f->sess_tick.data = f;
    if (ll_taskq_init(&f->q, &f->loop) != 0 ||
        !(f->sink = ll_hub_attach(f->hub, &f->q, on_delivery, f))) {
        LL_ERROR("nats feed: cannot start");
        /* Handles are closed by running the loop once. */
        on_stop(&f->stop);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        uv_loop_close(&f->loop);
        ll_taskq_destroy(&f->q);
        feed_free(f);
        return LL_ENOMEM;
    }
    /* Whatever the log holds that the stream lacks goes out first. */
    uv_idle_start(&f->more, on_more);
    uv_timer_start(&f->sess_tick, on_sess_tick, 0, RETRY_MS);
    if (uv_thread_create(&f->thread, feed_thread, f) != 0) {
        on_stop(&f->stop);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        uv_loop_close(&f->loop);
        ll_taskq_destroy(&f->q);
        feed_free(f);
        return LL_EINTERNAL;
    }
    *out = f;
    return 0;
}

void ll_nats_feed_stop(ll_nats_feed_t *f)
{
    if (!f)
        return;
    /* A page waiting for acks ends at once when the connection closes. */
    ll_natsconn_close(f->nc);
    uv_async_send(&f->stop);
    uv_thread_join(&f->thread);
    uv_loop_close(&f->loop);
    ll_taskq_destroy(&f->q);
    feed_free(f);
}

void ll_nats_feed_stats(const ll_nats_feed_t *f, ll_nats_feed_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!f)
        return;
    out->acked_seq = atomic_load(&f->acked_seq);
    out->published = atomic_load(&f->published);
    out->failures = atomic_load(&f->failures);
    out->connected = ll_natsconn_connected(f->nc);
}

void ll_nats_feed_session_put(ll_nats_feed_t *f, const char *key, int64_t expires_ms)
{
    if (f && expires_ms > 0)
        ll_nats_sessions_push(f->sessions, key, expires_ms);
}

void ll_nats_feed_session_delete(ll_nats_feed_t *f, const char *key)
{
    if (f)
        ll_nats_sessions_push(f->sessions, key, 0);
}
