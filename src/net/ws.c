/* net/ws.c: see ws.h. wslay parses and validates what the client sends and
 * queues the control frames that answer it (pong, close with 1002, 1007,
 * 1009); its send callback copies those few bytes into the subscriber's
 * queue, so they are ordered with the broadcast frames. */
#include "net/ws.h"
#include "net/stream_conn.h"
#include "util/err.h"
#include "util/json.h"
#include "util/list.h"
#include "util/log.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* A frame header wslay sends before its payload: at most 2 + 8 bytes from a
 * server (no mask). */
#define WS_HDR_MAX 10
/* Control frames and the text "pong" are all wslay ever sends here. */
#define WS_FRAME_MAX (WS_HDR_MAX + 125)

/* The dropped notice's JSON at most: {"type":"dropped","count":<20 digits>}
 * is 47 bytes. */
#define WS_NOTICE_MAX 64

/* Client bytes handed to wslay per recv callback: each call is a chance to
 * see that its answers have reached LL_WS_MAX_QUEUED (6-byte empty pings:
 * at most 85 answers more). */
#define WS_RECV_SLICE 512

typedef struct ll_ws {
    ll_stream_conn_t *conn;
    ll_sub_t *sub; /* the stream's (ll_stream_conn_sub) */
    wslay_event_context_ptr ctx;
    uint64_t idle_ms;  /* the stream's timer: the idle timeout, then the goodbye deadline */
    const uint8_t *in; /* bytes being handed to wslay */
    size_t in_len;
    char *held; /* bytes read and not yet handed to wslay: reading is stopped */
    size_t held_len, held_off;
    uint8_t hdr[WS_HDR_MAX]; /* a frame header taken from wslay, awaiting its payload */
    size_t hdr_len;
    unsigned closing : 1; /* a close frame is sent (or wslay is gone): end once written */
    unsigned goodbye : 1; /* a close is queued: the connection ends by WS_GOODBYE_MS */
    unsigned ended : 1;   /* ll_stream_conn_end called: nothing more in or out */
    unsigned busy : 1;    /* inside wslay: the drained hook must not re-enter it */
    unsigned again : 1;   /* the subscriber drained while busy: look once more */
    unsigned notify : 1;  /* the events stream: dropped events are announced in-band */
    unsigned lazy : 1;    /* no wslay context yet: the client has sent nothing */
} ll_ws_t;

/* ---- handshake ------------------------------------------------------------- */

/* 1 when the comma-separated header value list holds token (any case). */
static int has_token(const char *list, const char *token)
{
    size_t n = strlen(token), len;
    const char *item;
    while (ll_list_next(&list, &item, &len))
        if (len == n && strncasecmp(item, token, n) == 0)
            return 1;
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
    if (!key || strlen(key) != 24 || EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18 ||
        key[22] != '=' || key[23] != '=') {
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
    /* Nothing more while wslay holds LL_WS_MAX_QUEUED answers it could not
     * hand to the subscriber: the client is not reading them. */
    if (ws->in_len == 0 || wslay_event_get_queued_msg_count(ctx) >= LL_WS_MAX_QUEUED) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    if (n > WS_RECV_SLICE)
        n = WS_RECV_SLICE;
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user)
{
    ll_ws_t *ws = user;
    uint8_t frame[WS_FRAME_MAX];
    /* wslay sends a frame as its header (WSLAY_MSG_MORE), then its payload:
     * they go to the subscriber as one piece, one slot of its ring. */
    if ((flags & WSLAY_MSG_MORE) && ws->hdr_len == 0 && len <= sizeof ws->hdr) {
        memcpy(ws->hdr, data, len);
        ws->hdr_len = len;
        return (ssize_t)len;
    }
    const uint8_t *out = data;
    size_t n = len;
    if (ws->hdr_len && ws->hdr_len + len <= sizeof frame) {
        memcpy(frame, ws->hdr, ws->hdr_len);
        memcpy(frame + ws->hdr_len, data, len);
        out = frame;
        n = ws->hdr_len + len;
    } else if (ws->hdr_len) { /* never for a control frame; kept correct anyway */
        if (ll_sub_send_raw(ws->sub, (const char *)ws->hdr, ws->hdr_len) < 0)
            goto full;
        ws->hdr_len = 0;
    }
    if (ll_sub_send_raw(ws->sub, (const char *)out, n) < 0)
        goto full;
    ws->hdr_len = 0;
    return (ssize_t)len;
full:
    /* The ring is full: wslay keeps the frame (see LL_WS_MAX_QUEUED). */
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
}

static void restart_idle(ll_ws_t *ws);
static void start_goodbye(ll_ws_t *ws);

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

/* RFC 6455 §5.5.1: a close frame's body is empty or starts with a 2-byte
 * code, so a 1-byte body is a protocol error (§7.1.5, §7.4.1: 1002). wslay
 * would answer it with an empty close; queued first, ours goes instead. */
static void on_wslay_frame_start(wslay_event_context_ptr ctx,
                                 const struct wslay_event_on_frame_recv_start_arg *f, void *user)
{
    static const char why[] = "close frame with a 1-byte body";
    if (f->opcode != WSLAY_CONNECTION_CLOSE || f->payload_length != 1)
        return;
    wslay_event_queue_close(ctx, WSLAY_CODE_PROTOCOL_ERROR, (const uint8_t *)why, sizeof why - 1);
    start_goodbye(user);
}

static const struct wslay_event_callbacks wslay_cbs = {
    .recv_callback = on_wslay_recv,
    .send_callback = on_wslay_send,
    .on_frame_recv_start_callback = on_wslay_frame_start,
    .on_msg_recv_callback = on_wslay_msg,
};

/* ---- the connection ---------------------------------------------------------- */

static void drop_held(ll_ws_t *ws)
{
    free(ws->held);
    ws->held = NULL;
    ws->held_len = ws->held_off = 0;
}

static void end(ll_ws_t *ws)
{
    if (ws->ended)
        return;
    ws->ended = 1;
    drop_held(ws);
    ll_stream_conn_end(ws->conn); /* reads again, to discard until the client's EOF */
}

/* Ends the connection once our close frame has been written. */
static void maybe_end(ll_ws_t *ws)
{
    if (ws->closing && ll_sub_queued(ws->sub) == 0 && !ll_sub_write_in_flight(ws->sub) &&
        (!ws->ctx || !wslay_event_want_write(ws->ctx)))
        end(ws);
}

/* Hands wslay's queued frames to the subscriber. */
static void pump(ll_ws_t *ws)
{
    if (!ws->ctx || ws->ended)
        return;
    if (wslay_event_want_write(ws->ctx))
        wslay_event_send(ws->ctx);
    if (wslay_event_get_close_received(ws->ctx))
        start_goodbye(ws); /* wslay has queued its answer */
    if (wslay_event_get_close_sent(ws->ctx))
        ws->closing = 1;
    maybe_end(ws);
}

/* A framing error wslay reports without a status code (an oversized or
 * fragmented control frame, a non-minimal length): 1002, §7.4.1. */
static void protocol_error(ll_ws_t *ws)
{
    static const uint8_t close_1002[] = {0x88, 0x02, 0x03, 0xea};
    ws->closing = 1;
    ll_sub_send_raw(ws->sub, (const char *)close_1002, sizeof close_1002);
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
    start_goodbye(ws);
    maybe_end(ws);
}

/* The wslay context (its buffers are most of an idle connection's memory)
 * is made when the client first sends something, or when we first send a
 * frame wslay makes (a close): a subscriber that only listens never has
 * one. Returns 0, or -1 out of memory. */
static int ensure_ctx(ll_ws_t *ws)
{
    if (!ws->lazy)
        return 0;
    if (wslay_event_context_server_init(&ws->ctx, &wslay_cbs, ws) != 0) {
        ws->ctx = NULL;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, LL_WS_MAX_MESSAGE);
    ws->lazy = 0;
    return 0;
}

/* 1 while client bytes mean something: wslay reads (or will, once made),
 * and no close went out (after ours, RFC 6455 §5.5.1: discard). */
static int reading(const ll_ws_t *ws)
{
    if (ws->closing || ws->ended)
        return 0;
    return ws->lazy || (ws->ctx && wslay_event_get_read_enabled(ws->ctx));
}

/* Hands data to wslay and wslay's answers to the subscriber, for as long as
 * both move. Returns how much of data is used (or discarded): the rest must
 * wait until the subscriber drains. */
static size_t consume(ll_ws_t *ws, const char *data, size_t len)
{
    size_t used = 0;
    if (ensure_ctx(ws) < 0) {
        end(ws); /* out of memory: nobody could answer this client */
        return len;
    }
    ws->busy = 1;
    do {
        ws->again = 0;
        pump(ws);
        while (used < len && reading(ws)) {
            ws->in = (const uint8_t *)data + used;
            ws->in_len = len - used;
            if (wslay_event_recv(ws->ctx) != 0) {
                protocol_error(ws);
                break;
            }
            size_t n = len - used - ws->in_len;
            ws->in_len = 0;
            used += n;
            pump(ws);
            if (n == 0)
                break;
        }
    } while (ws->again && used < len && reading(ws));
    ws->busy = 0;
    return reading(ws) ? used : len;
}

static void on_data(void *owner, const char *data, size_t len)
{
    ll_ws_t *ws = owner;
    if (!reading(ws))
        return;
    if (ws->held) { /* reading is stopped while bytes are held; keep the order */
        char *more = realloc(ws->held, ws->held_len + len);
        if (!more) {
            end(ws);
            return;
        }
        memcpy(more + ws->held_len, data, len);
        ws->held = more;
        ws->held_len += len;
        return;
    }
    size_t used = consume(ws, data, len);
    if (used == len)
        return;
    /* The client sends faster than it reads our answers: keep the rest of
     * this read, and read no more until the subscriber drains. */
    ws->held = malloc(len - used);
    if (!ws->held) {
        end(ws);
        return;
    }
    memcpy(ws->held, data + used, len - used);
    ws->held_len = len - used;
    ll_stream_conn_read_stop(ws->conn);
}

/* The subscriber's socket took everything: move what waits, and read again
 * once nothing is held. */
static void on_drained(void *owner)
{
    ll_ws_t *ws = owner;
    if (ws->busy) {
        ws->again = 1;
        return;
    }
    if (!ws->held) {
        ws->busy = 1;
        pump(ws);
        ws->busy = 0;
        return;
    }
    size_t used = consume(ws, ws->held + ws->held_off, ws->held_len - ws->held_off);
    if (!ws->held)
        return; /* ended meanwhile, which dropped them */
    ws->held_off += used;
    if (ws->held_off < ws->held_len)
        return;
    drop_held(ws);
    if (!ws->ended)
        ll_stream_conn_read_start(ws->conn);
}

static void on_goodbye_timeout(void *owner)
{
    ll_ws_t *ws = owner;
    if (ws->ended)
        return; /* ll_stream_conn_end keeps its own time */
    /* Our close frame never got out: the client reads nothing. */
    ws->ended = 1;
    drop_held(ws);
    ll_stream_conn_abort(ws->conn);
}

/* A close is on its way out: however the client behaves, the connection
 * ends within LL_WS_GOODBYE_MS (then ll_stream_conn_end's own 2 s at most). */
static void start_goodbye(ll_ws_t *ws)
{
    if (ws->goodbye)
        return;
    ws->goodbye = 1;
    ll_stream_conn_timer_start(ws->conn, on_goodbye_timeout, LL_WS_GOODBYE_MS, 0);
}

static void close_with(ll_ws_t *ws, uint16_t code, const char *reason)
{
    if (ws->closing || ws->ended || (!ws->ctx && !ws->lazy))
        return;
    if (ensure_ctx(ws) < 0) {
        end(ws);
        return;
    }
    wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, strlen(reason));
    start_goodbye(ws);
    if (!ws->busy) {
        ws->busy = 1;
        pump(ws);
        ws->busy = 0;
    }
}

static void on_idle_timeout(void *owner)
{
    close_with(owner, WSLAY_CODE_NORMAL_CLOSURE, "idle timeout");
}

static void restart_idle(ll_ws_t *ws)
{
    if (!ws->closing && !ws->goodbye)
        ll_stream_conn_timer_start(ws->conn, on_idle_timeout, ws->idle_ms, 0);
}

static void ws_free(ll_ws_t *ws)
{
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    drop_held(ws);
    free(ws);
}

static void on_closed(void *owner)
{
    ws_free(owner); /* the subscriber is closed already */
}

static void on_shutdown(void *owner)
{
    close_with(owner, WSLAY_CODE_GOING_AWAY, "server stopping");
}

static void on_write_error(void *owner, int status)
{
    (void)status;
    end(owner);
}

/* n events were dropped for this client and its queue has room again
 * (stream/subscriber.h): the events stream says so in a text frame
 * {"type":"dropped","count":n} (docs/API.md §4.1), as SSE does in a comment.
 * valid_tx and valid_transactions say nothing: their clients know only the
 * seed's one frame shape. Nothing follows our close frame (RFC 6455 §5.5.1),
 * and a client being closed has no use for it. */
static void on_dropped(void *owner, uint64_t n)
{
    ll_ws_t *ws = owner;
    uint8_t frame[WS_HDR_MAX + WS_NOTICE_MAX];
    if (!ws->notify || ws->closing || ws->goodbye || ws->ended)
        return;
    json_t *notice = json_pack("{s:s, s:I}", "type", "dropped", "count", (json_int_t)n);
    char *text = notice ? json_dumps(notice, LL_JSON_FLAGS) : NULL;
    size_t len = text ? strlen(text) : 0;
    json_decref(notice);
    if (text && len <= WS_NOTICE_MAX) {
        /* Framed like the broadcast frames (stream/event.h). The subscriber
         * calls this only below its queue_cap, so the frame has room: like
         * sse.c, a refusal (out of memory) loses the notice, not the stream. */
        size_t h = ll_ws_frame_header(0x1, len, frame);
        memcpy(frame + h, text, len);
        ll_sub_send_raw(ws->sub, (const char *)frame, h + len);
    }
    free(text);
}

/* The stream's login session was logged out or expired (stream/fanout.h). */
static void on_session_end(void *owner)
{
    close_with(owner, WSLAY_CODE_POLICY_VIOLATION, "session ended");
}

static const ll_stream_conn_cbs_t stream_cbs = {on_data, on_closed, on_shutdown};
static const ll_sub_hooks_t hooks = {on_dropped, on_write_error, on_drained, on_session_end};

int ll_ws_start(ll_req_t *req, const char *head, size_t len, ll_fanout_t *fo,
                const ll_sub_opts_t *sub_opts, uint32_t idle_timeout_s)
{
    ll_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return LL_ENOMEM;
    }
    ws->lazy = 1; /* ensure_ctx */
    ws->idle_ms = (uint64_t)idle_timeout_s * 1000;
    ws->notify = ll_wire_stream(sub_opts->wire) == LL_WIRE_WS_EVENTS; /* ids=1 too */
    ll_req_note_status(req, 101); /* now: the take-over ends the request */
    ws->conn = ll_stream_conn_take_over(req, head, len, fo, sub_opts, &hooks, &stream_cbs, ws);
    if (!ws->conn) {
        ws_free(ws);
        return LL_ESHUTDOWN;
    }
    ws->sub = ll_stream_conn_sub(ws->conn);
    restart_idle(ws);
    return 0;
}
