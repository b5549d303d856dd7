/* net/ws.c: see ws.h. wslay parses and validates what the client sends and
 * queues the control frames that answer it (pong, close with 1002, 1007,
 * 1009); its send callback copies those few bytes into the subscriber's
 * queue, so they are ordered with the broadcast frames. */
#include "net/ws.h"
#include "util/err.h"
#include "util/log.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct ll_ws {
    ll_conn_t *conn;
    ll_sub_t *sub;
    wslay_event_context_ptr ctx;
    uv_timer_t idle;
    uint64_t idle_ms;
    const uint8_t *in; /* bytes being handed to wslay by on_data */
    size_t in_len;
    int closing; /* a close frame is queued or sent: end once it is written */
} ll_ws_t;

/* ---- handshake ------------------------------------------------------------- */

/* 1 when the comma-separated header value list holds token (any case). */
static int has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(p, token, n) == 0)
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

int ll_ws_handshake(const ll_req_t *req, char *head, size_t cap, size_t *len, char *why)
{
    const char *upgrade = ll_req_header(req, "Upgrade");
    const char *connection = ll_req_header(req, "Connection");
    const char *key = ll_req_header(req, "Sec-WebSocket-Key");
    const char *version = ll_req_header(req, "Sec-WebSocket-Version");
    unsigned char raw[32], digest[SHA_DIGEST_LENGTH], accept[64];
    char keyed[128];

    if (!upgrade || !has_token(upgrade, "websocket") || !connection ||
        !has_token(connection, "upgrade")) {
        snprintf(why, LL_ERRMSG_MAX,
                 "this is a WebSocket stream: send 'Upgrade: websocket' and "
                 "'Connection: Upgrade'");
        return LL_EBADREQUEST;
    }
    if (!version || strcmp(version, "13") != 0) {
        snprintf(why, LL_ERRMSG_MAX, "only WebSocket version 13 is spoken here");
        return LL_EUPGRADE;
    }
    /* §4.2.1: the key is 16 random bytes in base64, 24 characters. */
    if (!key || strlen(key) != 24 ||
        EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18 || key[22] != '=' ||
        key[23] != '=') {
        snprintf(why, LL_ERRMSG_MAX, "Sec-WebSocket-Key must be 16 bytes in base64");
        return LL_EBADREQUEST;
    }
    int n = snprintf(keyed, sizeof keyed, "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)keyed, (size_t)n, digest);
    EVP_EncodeBlock(accept, digest, sizeof digest);
    n = snprintf(head, cap,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                 accept);
    if (n < 0 || (size_t)n >= cap)
        return LL_EINTERNAL;
    *len = (size_t)n;
    return 0;
}

/* ---- wslay callbacks ------------------------------------------------------- */

static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                             void *user)
{
    ll_ws_t *ws = user;
    (void)flags;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user)
{
    ll_ws_t *ws = user;
    (void)flags;
    if (ll_sub_send_raw(ws->sub, (const char *)data, len) < 0) {
        /* The reserve is full (a ping flood): wslay keeps it for later. */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return (ssize_t)len;
}

static void restart_idle(ll_ws_t *ws);

static void on_wslay_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                         void *user)
{
    ll_ws_t *ws = user;
    if (m->opcode == WSLAY_PING) {
        restart_idle(ws); /* wslay queues the pong itself */
    } else if (m->opcode == WSLAY_TEXT_FRAME && m->msg_length == 4 &&
               memcmp(m->msg, "ping", 4) == 0) {
        /* The seed's keep-alive: a text "ping" is answered by a text "pong". */
        struct wslay_event_msg pong = {WSLAY_TEXT_FRAME, (const uint8_t *)"pong", 4};
        wslay_event_queue_msg(ctx, &pong);
        restart_idle(ws);
    }
    /* Every other message is ignored, as the seed says. */
}

static const struct wslay_event_callbacks wslay_cbs = {
    .recv_callback = on_wslay_recv,
    .send_callback = on_wslay_send,
    .on_msg_recv_callback = on_wslay_msg,
};

/* ---- the connection ---------------------------------------------------------- */

/* Hands wslay's queued frames to the subscriber, and ends the connection
 * once a close has gone out. */
static void pump(ll_ws_t *ws)
{
    if (!ws->ctx)
        return;
    if (wslay_event_want_write(ws->ctx))
        wslay_event_send(ws->ctx);
    if (wslay_event_get_close_sent(ws->ctx))
        ws->closing = 1;
    if (ws->closing && ll_sub_queued(ws->sub) == 0 && !ws->sub->writing &&
        !wslay_event_want_write(ws->ctx))
        ll_conn_end(ws->conn);
}

static void close_with(ll_ws_t *ws, uint16_t code, const char *reason)
{
    if (ws->closing || !ws->ctx)
        return;
    wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, strlen(reason));
    pump(ws);
}

static void on_idle_timeout(uv_timer_t *t)
{
    close_with(t->data, WSLAY_CODE_NORMAL_CLOSURE, "idle timeout");
}

static void restart_idle(ll_ws_t *ws)
{
    if (!ws->closing)
        uv_timer_start(&ws->idle, on_idle_timeout, ws->idle_ms, 0);
}

static void on_data(void *owner, const char *data, size_t len)
{
    ll_ws_t *ws = owner;
    if (ws->closing || !ws->ctx)
        return; /* after our close frame, RFC 6455 §5.5.1: discard */
    ws->in = (const uint8_t *)data;
    ws->in_len = len;
    if (wslay_event_recv(ws->ctx) != 0) {
        /* A framing error wslay reports without a status code (an oversized
         * or fragmented control frame, a non-minimal length): 1002, §7.4.1. */
        static const uint8_t close_1002[] = {0x88, 0x02, 0x03, 0xea};
        ws->closing = 1;
        ll_sub_send_raw(ws->sub, (const char *)close_1002, sizeof close_1002);
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
        if (ll_sub_queued(ws->sub) == 0 && !ws->sub->writing)
            ll_conn_end(ws->conn);
        return;
    }
    ws->in_len = 0;
    pump(ws);
}

static void on_idle_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_closed(void *owner)
{
    ll_ws_t *ws = owner;
    ll_sub_close(ws->sub);
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    uv_close((uv_handle_t *)&ws->idle, on_idle_closed);
}

static void on_shutdown(void *owner)
{
    close_with(owner, WSLAY_CODE_GOING_AWAY, "server stopping");
}

static void on_write_error(void *owner, int status)
{
    ll_ws_t *ws = owner;
    (void)status;
    ll_conn_end(ws->conn);
}

static void on_drained(void *owner)
{
    ll_ws_t *ws = owner;
    if (ws->closing && (!ws->ctx || !wslay_event_want_write(ws->ctx)))
        ll_conn_end(ws->conn);
}

/* The stream's login session was logged out or expired (stream/fanout.h). */
static void on_session_end(void *owner)
{
    close_with(owner, WSLAY_CODE_POLICY_VIOLATION, "session ended");
}

static const ll_takeover_t takeover = {on_data, on_closed, on_shutdown};
static const ll_sub_hooks_t hooks = {NULL, on_write_error, on_drained, on_session_end};

int ll_ws_start(ll_req_t *req, const char *head, size_t len, ll_fanout_t *fo,
                const ll_sub_opts_t *sub_opts, uint32_t idle_timeout_s)
{
    uv_loop_t *loop = ll_worker_loop(ll_req_worker(req));
    ll_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws || wslay_event_context_server_init(&ws->ctx, &wslay_cbs, ws) != 0) {
        free(ws);
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return LL_ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, LL_WS_MAX_MESSAGE);
    uv_timer_init(loop, &ws->idle);
    ws->idle.data = ws;
    ws->idle_ms = (uint64_t)idle_timeout_s * 1000;
    if (!(ws->conn = ll_req_take_over(req, head, len, &takeover, ws))) {
        wslay_event_context_free(ws->ctx);
        uv_close((uv_handle_t *)&ws->idle, on_idle_closed);
        return LL_ESHUTDOWN;
    }
    if (!(ws->sub = ll_sub_open(fo, ll_conn_stream(ws->conn), sub_opts, &hooks, ws))) {
        /* on_closed runs when the connection is gone; it needs a sub. */
        LL_ERROR("ws: out of memory opening a subscriber");
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
        ws->closing = 1;
        ll_conn_end(ws->conn);
        return LL_ENOMEM;
    }
    restart_idle(ws);
    return 0;
}
