/* nats/source.c: see source.h. The thread blocks in the NATS library (a
 * wait for the next message is at most WAIT_MS), so a stop takes at most
 * that long. */
#include "nats/source.h"
#include "nats/evmsg.h"
#include "nats/natsconn.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define WAIT_MS 100    /* the longest one wait for a message lasts */
#define RETRY_MS 250   /* while NATS or the stream is away */
#define BATCH_MAX 1024 /* events handed to the hub as one batch at most */
#define HEARTBEAT_NS                                                                               \
    1000000000LL           /* the consumer's idle heartbeat: a lost one is noticed in ~2 s         \
                            */
#define WATCH_IDLE_MS 2000 /* this long without a message: does the stream have more? */
#define LOG_EVERY_NS 10000000000ull

struct ll_nats_source {
    uv_thread_t thread;
    _Atomic int stopping;
    ll_natsconn_t *nc;
    char stream[LL_NATS_NAME_MAX + 1];
    ll_hub_t *hub;
    ll_recent_t *recent;
    uint64_t start_back;
    natsSubscription *sub; /* the ordered consumer, while it stands */
    uint64_t last_seq;     /* the newest event read (the thread's own) */
    uint64_t last_log_ns;
    /* Read by workers and /metrics. */
    _Atomic int64_t offset; /* stream sequence - seq */
    _Atomic int offset_known;
    _Atomic uint64_t last_seq_shared, received, resets;
    /* The stream's last event when the relay first read it: events up to
     * it are history (the recent memory only), never delivered live to a
     * stream opened now. */
    _Atomic uint64_t edge;
    _Atomic int ready;      /* the edge is known: streams may open */
    uint64_t idle_since_ns; /* no message since (0: one just came) */
};

static void log_failure(ll_nats_source_t *s, const char *what, natsStatus st)
{
    uint64_t now = uv_hrtime();
    if (s->last_log_ns && now - s->last_log_ns < LOG_EVERY_NS)
        return;
    s->last_log_ns = now;
    LL_WARN("relay: %s: %s (retrying)", what, natsStatus_GetText(st));
}

/* Where to start reading: after the newest event read, or, before any was
 * read, start_back events before the edge. The edge is read once, at the
 * first subscribe (which makes the relay ready): a stream opened since then
 * starts after it, so every later event must reach the hub, however often
 * the consumer is made again before the first message comes. */
static natsStatus subscribe(ll_nats_source_t *s)
{
    jsErrCode jerr = 0;
    uint64_t start, first = 1, last = 0;
    int info = !atomic_load(&s->ready) || !atomic_load(&s->offset_known);
    if (info) {
        jsStreamInfo *si = NULL;
        uint64_t id = 0;
        natsStatus st = js_GetStreamInfo(&si, ll_natsconn_js(s->nc), s->stream, NULL, &jerr);
        if (st != NATS_OK)
            return st;
        first = si->State.FirstSeq;
        last = si->State.LastSeq;
        jsStreamInfo_Destroy(si);
        if ((st = ll_natsconn_last_msg_id(s->nc, s->stream, &id)) != NATS_OK)
            return st;
        if (!atomic_load(&s->ready)) {
            atomic_store(&s->edge, id);
            atomic_store(&s->ready, 1);
        }
        if (id && last >= id) { /* the numbering, before any message comes */
            atomic_store(&s->offset, (int64_t)(last - id));
            atomic_store(&s->offset_known, 1);
        }
    }
    uint64_t edge = atomic_load(&s->edge);
    uint64_t from = s->last_seq                ? s->last_seq + 1
                    : edge + 1 > s->start_back ? edge + 1 - s->start_back
                                               : 1;
    if (atomic_load(&s->offset_known))
        start = from + (uint64_t)atomic_load(&s->offset);
    else /* an empty stream, most likely: start_back before its end */
        start = last + 1 > s->start_back ? last + 1 - s->start_back : 1;
    if (info && start < first)
        start = first;
    if (start == 0)
        start = 1;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = s->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start;
    so.Config.Heartbeat = HEARTBEAT_NS;
    return js_SubscribeSync(&s->sub, ll_natsconn_js(s->nc), LL_NATS_SUBJECT_PREFIX ">", NULL, &so,
                            &jerr);
}

/* Ends the consumer. What it still queues is read off and freed first (a
 * consumer the library was re-making can hold messages its destruction
 * does not free), then interest is removed, then the object goes. */
static void end_subscription(natsSubscription *sub)
{
    natsMsg *m = NULL;
    int waiting = 0, bytes = 0;
    natsSubscription_GetPending(sub, &waiting, &bytes);
    while (waiting-- > 0 && natsSubscription_NextMsg(&m, sub, 1) == NATS_OK)
        natsMsg_Destroy(m);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
}

static void drop_subscription(ll_nats_source_t *s)
{
    if (!s->sub)
        return;
    end_subscription(s->sub);
    s->sub = NULL;
    atomic_fetch_add(&s->resets, 1);
}

/* One message: the event it carries joins the batch (unless a repeat). */
static void take(ll_nats_source_t *s, natsMsg *m, ll_batch_t *b)
{
    ll_event_desc_t d;
    jsMsgMetaData *meta = NULL;
    if (ll_evmsg_parse(m, &d) < 0) {
        LL_WARN("relay: a message on %s is not an event; skipped", natsMsg_GetSubject(m));
        return;
    }
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        atomic_store(&s->offset, (int64_t)(meta->Sequence.Stream - d.seq));
        atomic_store(&s->offset_known, 1);
        jsMsgMetaData_Destroy(meta);
    }
    if (d.seq <= s->last_seq)
        return; /* read again after the consumer was re-made */
    ll_event_t *ev = ll_event_new(&d);
    if (!ev) {
        LL_ERROR("relay: out of memory for event %" PRIu64, d.seq);
        return;
    }
    ll_recent_append(s->recent, ev); /* before the hub: see source.h */
    if (d.seq > atomic_load(&s->edge))
        b->events[b->n++] = ev; /* the batch owns it */
    else
        ll_event_unref(ev); /* start-up history: the memory holds it */
    s->last_seq = d.seq;
    atomic_store(&s->last_seq_shared, d.seq);
    atomic_fetch_add(&s->received, 1);
}

/* A consumer the server lost (its stream's leader moved, say) may go
 * quiet without an error until the library misses its heartbeats. After
 * WATCH_IDLE_MS without a message, the stream is asked how far it goes;
 * if past what was read, the consumer is made again from there. */
static void watch_idle(ll_nats_source_t *s)
{
    uint64_t now = uv_hrtime();
    if (!s->idle_since_ns) {
        s->idle_since_ns = now;
        return;
    }
    if (now - s->idle_since_ns < (uint64_t)WATCH_IDLE_MS * 1000000u)
        return;
    s->idle_since_ns = now;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (!atomic_load(&s->offset_known) ||
        js_GetStreamInfo(&si, ll_natsconn_js(s->nc), s->stream, NULL, &jerr) != NATS_OK)
        return;
    uint64_t stream_last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    if (stream_last > s->last_seq + (uint64_t)atomic_load(&s->offset)) {
        LL_WARN("relay: the stream has events past %" PRIu64 " that did not arrive; "
                "reading again from there",
                s->last_seq);
        drop_subscription(s);
    }
}

/* Waits for the next message, then takes every one already waiting, up to
 * BATCH_MAX, as one batch. */
static void read_batch(ll_nats_source_t *s)
{
    natsMsg *m = NULL;
    natsStatus st = natsSubscription_NextMsg(&m, s->sub, WAIT_MS);
    if (st == NATS_TIMEOUT) {
        watch_idle(s);
        return;
    }
    s->idle_since_ns = 0;
    if (st != NATS_OK) {
        log_failure(s, "reading the stream", st);
        drop_subscription(s);
        return;
    }
    ll_batch_t *b = ll_batch_new(BATCH_MAX);
    if (!b) {
        natsMsg_Destroy(m);
        return;
    }
    take(s, m, b);
    natsMsg_Destroy(m);
    int waiting = 0, bytes = 0;
    natsSubscription_GetPending(s->sub, &waiting, &bytes);
    while (waiting-- > 0 && b->n < BATCH_MAX &&
           natsSubscription_NextMsg(&m, s->sub, 1) == NATS_OK) {
        take(s, m, b);
        natsMsg_Destroy(m);
    }
    if (b->n)
        ll_hub_publish(s->hub, b);
    else
        ll_batch_unref(b);
}

static void source_thread(void *arg)
{
    ll_nats_source_t *s = arg;
    ll_thread_name("ll-source");
    while (!atomic_load(&s->stopping)) {
        if (!ll_natsconn_connected(s->nc)) {
            uv_sleep(RETRY_MS);
            continue;
        }
        if (!s->sub) {
            natsStatus st = subscribe(s);
            if (st != NATS_OK) {
                s->sub = NULL;
                log_failure(s, "subscribing to the stream", st);
                uv_sleep(RETRY_MS);
                continue;
            }
        }
        read_batch(s);
    }
    if (s->sub)
        end_subscription(s->sub);
    s->sub = NULL;
}

int ll_nats_source_start(const ll_nats_source_opts_t *o, ll_nats_source_t **out)
{
    ll_nats_source_t *s = calloc(1, sizeof *s);
    int rc;
    *out = NULL;
    if (!s)
        return LL_ENOMEM;
    if (strlen(o->stream) > LL_NATS_NAME_MAX) {
        free(s);
        return LL_ECONFIG;
    }
    strcpy(s->stream, o->stream);
    s->hub = o->hub;
    s->recent = o->recent;
    s->start_back = o->start_back;
    if ((rc = ll_natsconn_open(o->urls, "ledgerline-relay", NULL, NULL, &s->nc)) < 0) {
        free(s);
        return rc;
    }
    if (uv_thread_create(&s->thread, source_thread, s) != 0) {
        ll_natsconn_free(s->nc);
        free(s);
        return LL_EINTERNAL;
    }
    *out = s;
    return 0;
}

void ll_nats_source_stop(ll_nats_source_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    uv_thread_join(&s->thread);
    ll_natsconn_close(s->nc);
    ll_natsconn_free(s->nc);
    free(s);
}

int ll_nats_source_ready(ll_nats_source_t *s)
{
    return atomic_load(&s->ready);
}

int ll_nats_source_can_read(ll_nats_source_t *s)
{
    return atomic_load(&s->offset_known) && ll_natsconn_connected(s->nc);
}

uint64_t ll_nats_source_edge(ll_nats_source_t *s)
{
    uint64_t edge = atomic_load(&s->edge), last = atomic_load(&s->last_seq_shared);
    return edge > last ? edge : last;
}

void ll_nats_source_stats(ll_nats_source_t *s, ll_nats_source_stats_t *out)
{
    out->connected = ll_natsconn_connected(s->nc);
    out->last_seq = atomic_load(&s->last_seq_shared);
    out->received = atomic_load(&s->received);
    out->resets = atomic_load(&s->resets);
}

int ll_nats_source_history(ll_nats_source_t *s, uint64_t after, size_t limit, uint64_t stop_before,
                           ll_history_cb cb, void *arg)
{
    if (!ll_nats_source_can_read(s))
        return LL_EUNAVAILABLE;
    int64_t offset = atomic_load(&s->offset);
    uint64_t newest = ll_nats_source_edge(s);
    size_t passed = 0;
    for (uint64_t seq = after + 1; passed < limit && seq <= newest; seq++, passed++) {
        if (stop_before && seq >= stop_before)
            break;
        natsMsg *m = NULL;
        jsErrCode jerr = 0;
        natsStatus st =
            js_GetMsg(&m, ll_natsconn_js(s->nc), s->stream, seq + (uint64_t)offset, NULL, &jerr);
        if (st != NATS_OK) {
            if (jerr == JSNoMessageFoundErr || st == NATS_NOT_FOUND)
                continue; /* gone from the stream (its limits): passed over */
            /* NATS away mid-read: the same answer as away before it */
            return LL_EUNAVAILABLE;
        }
        ll_event_desc_t d;
        ll_event_t *ev = NULL;
        if (ll_evmsg_parse(m, &d) == 0 && d.seq == seq)
            ev = ll_event_new(&d);
        natsMsg_Destroy(m);
        if (!ev)
            continue; /* not the event expected there: passed over */
        int rc = cb(ev, arg);
        ll_event_unref(ev);
        if (rc)
            return rc;
    }
    return (int)passed;
}
