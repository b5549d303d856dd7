/* tests/unit/stream_conn_harness.h: the streams that test_ws.c and test_sse.c
 * drive through a real ll_server (http_harness.h: one worker on 127.0.0.1,
 * plain blocking socket clients), in one header because CMake builds each
 * tests/unit/test_*.c as its own program. Everything here is static, so each
 * program has its own copy.
 *
 * The worker has a fan-out (no log) attached to a hub that the test thread
 * publishes to, standing in for the ledger. Handler paths:
 *   /ws       the WebSocket handshake, then ll_ws_start (events wire)
 *   /sse      ll_sse_start
 *   others    http_harness.h's handler
 *
 *   stream_start                 the server, with the WS idle timeout and the
 *                                SSE heartbeat in seconds
 *   publish                      one event (seq, JSON payload) through the hub
 *   ws_open                      a client past the 101
 *   ws_send                      one masked client frame
 *   ws_read_frame                one server frame off the wire
 *   read_until                   bytes up to and including a marker
 *
 * Owns:    the fixture (http_harness.h) owns its server and clients; the hub
 *          lives from stream_start to the test's teardown.
 * Threads: worker_init/fini and the handler run on the worker; the rest on
 *          the test thread. */
#ifndef LL_TESTS_UNIT_STREAM_CONN_HARNESS_H
#define LL_TESTS_UNIT_STREAM_CONN_HARNESS_H

#include "net/server.h"
#include "net/sse.h"
#include "net/ws.h"
#include "stream/event.h"
#include "stream/fanout.h"
#include "stream/hub.h"
#include "stream/log_backend.h"

#include "http_harness.h"

#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="        /* RFC 6455 §1.3's example */
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* ... and its answer */
#define WS_HANDSHAKE                                                                               \
    "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                 \
    "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n"

static ll_hub_t *hub;           /* test thread: made before the server starts */
static ll_stream_stats_t stats; /* the worker's fan-out counts here */
static uint32_t ws_idle_s = 60; /* read by the worker after start */
static uint32_t sse_heartbeat_s = 15;

typedef struct stream_worker {
    ll_fanout_t *fo;
    ll_hub_sink_t *sink;
} stream_worker_t;

static inline void *stream_worker_init(ll_worker_t *w, void *arg)
{
    (void)arg;
    stream_worker_t *sw = calloc(1, sizeof *sw);
    CHECK(sw);
    ll_stream_backend_t none = ll_log_backend(NULL);
    sw->fo = ll_fanout_new(ll_worker_loop(w), &none, &stats);
    CHECK(sw->fo);
    sw->sink = ll_hub_attach(hub, ll_worker_taskq(w), ll_fanout_deliver, sw->fo);
    CHECK(sw->sink);
    return sw;
}

/* After the worker's last stream closed: every subscriber is closed. */
static inline void stream_worker_fini(void *ctx)
{
    stream_worker_t *sw = ctx;
    ll_hub_detach(hub, sw->sink);
    ll_fanout_close(sw->fo);
    free(sw);
}

static inline void stream_handler(ll_req_t *req)
{
    stream_worker_t *sw = ll_req_ctx(req);
    const char *path = ll_req_path(req);
    if (strcmp(path, "/ws") == 0) {
        char head[256], why[LL_ERRMSG_MAX];
        size_t len;
        ll_sub_opts_t o = {.wire = LL_WIRE_WS_EVENTS, .queue_cap = 64};
        int rc = ll_ws_handshake(req, head, sizeof head, &len, why);
        if (rc == LL_EUPGRADE)
            ll_req_add_header(req, "Sec-WebSocket-Version", "13");
        if (rc < 0)
            ll_req_respond_error(req, rc, "%s", why);
        else
            ll_ws_start(req, head, len, sw->fo, &o, ws_idle_s);
    } else if (strcmp(path, "/sse") == 0) {
        ll_sub_opts_t o = {.wire = LL_WIRE_SSE, .queue_cap = 64};
        ll_sse_start(req, sw->fo, &o, sse_heartbeat_s);
    } else {
        handler(req);
    }
}

static inline void stream_start(fixture_t *f, uint32_t idle_s, uint32_t heartbeat_s)
{
    ll_server_opts_t o;
    test_opts(&o);
    o.workers = 1;
    o.handler = stream_handler;
    o.worker_init = stream_worker_init;
    o.worker_fini = stream_worker_fini;
    ws_idle_s = idle_s;
    sse_heartbeat_s = heartbeat_s;
    hub = ll_hub_new();
    assert_non_null(hub);
    start(f, &o);
}

/* Stops the server (if the test did not) and frees the hub. The clients go
 * first, so their streams need not wait out their goodbyes. */
static inline int stream_teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < f->nclients; i++) {
        close(f->clients[i]->fd);
        f->clients[i]->fd = -1;
    }
    if (f->srv)
        stop(f);
    ll_hub_free(hub);
    hub = NULL;
    return teardown(state);
}

static inline void publish(uint64_t seq, const char *payload)
{
    ll_event_desc_t d = {.seq = seq, .type = LL_EV_TX, .payload = payload};
    ll_batch_t *b = ll_batch_new(1);
    assert_non_null(b);
    b->events[b->n++] = ll_event_new(&d);
    assert_non_null(b->events[0]);
    ll_hub_publish(hub, b);
}

/* Reads until marker has arrived; returns the length up to its end. */
static inline size_t read_until(client_t *c, const char *marker)
{
    char *at;
    while (!(at = memmem(c->buf, c->len, marker, strlen(marker))))
        assert_true(fill(c) > 0);
    return (size_t)(at - c->buf) + strlen(marker);
}

/* A client that completed the opening handshake. */
static inline client_t *ws_open(fixture_t *f)
{
    resp_t r;
    client_t *c = dial(f);
    send_str(c, WS_HANDSHAKE);
    read_response_ex(c, &r, 1);
    assert_int_equal(r.status, 101);
    return c;
}

/* Sends one frame with FIN set, masked as a client must (RFC 6455 §5.3). */
static inline void ws_send(client_t *c, uint8_t opcode, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t frame[256];
    assert_true(len <= 125);
    frame[0] = (uint8_t)(0x80 | opcode);
    frame[1] = (uint8_t)(0x80 | len);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
    send_all(c, (const char *)frame, 6 + len);
}

typedef struct ws_frame {
    uint8_t first; /* FIN, RSV and opcode */
    char payload[8192];
    size_t len;
} ws_frame_t;

/* Reads one unmasked server frame; returns 0, or -1 when the connection
 * ended first. */
static inline int ws_read_frame(client_t *c, ws_frame_t *fr)
{
    while (c->len < 2)
        if (fill(c) <= 0)
            return -1;
    const uint8_t *b = (const uint8_t *)c->buf;
    assert_int_equal(b[1] & 0x80, 0); /* a server never masks */
    size_t hdr = 2, len = b[1] & 0x7f;
    if (len == 126) {
        while (c->len < 4)
            if (fill(c) <= 0)
                return -1;
        len = (size_t)b[2] << 8 | b[3];
        hdr = 4;
    }
    assert_true(len < sizeof fr->payload);
    while (c->len < hdr + len)
        if (fill(c) <= 0)
            return -1;
    fr->first = b[0];
    memcpy(fr->payload, c->buf + hdr, len);
    fr->payload[len] = '\0';
    fr->len = len;
    consume(c, hdr + len);
    return 0;
}

/* The status code of a close frame's body. */
static inline unsigned close_code(const ws_frame_t *fr)
{
    assert_true(fr->len >= 2);
    return (unsigned)(uint8_t)fr->payload[0] << 8 | (uint8_t)fr->payload[1];
}

#endif
