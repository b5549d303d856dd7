/* bench/stream_load.c: the load client of bench/vs_nchan.py. It opens N
 * Server-Sent Events streams (or, with --ws, N WebSocket streams) against
 * one HTTP/1.1 server, counts the events each receives, and measures for
 * each event that carries the marker `t=<CLOCK_REALTIME nanoseconds>` how
 * long it took from the publisher's clock reading to here. The same binary
 * reads Ledgerline's streams (chunked bodies, or its WS envelopes) and
 * Nchan's (chunked or plain, or its WS frames), so both sides of the
 * comparison are measured by the same code.
 *
 *   ll_stream_load --host 127.0.0.1 --port P --path PATH [--header 'K: V']...
 *                  --conns N --expect E --timeout S [--ws] [--tls]
 *
 * Once every connection has its response head (or failed), it writes
 * `ready established=.. failed=..` to stderr: the driver publishes only
 * then. It stops when every connection has E events, when none is left
 * open, on SIGINT/SIGTERM, or after S seconds, and prints one line to stdout:
 * established= failed= expected= received= missing= p50_us= p99_us= max_us=
 *
 * http-parser (the project's HTTP/1.1 parser) reads each response: the
 * status line, the headers, and the chunked transfer coding, so this file
 * only reads SSE lines out of the body bytes it hands over. Every buffer is
 * bounded (http-parser caps the head at HTTP_MAX_HEADER_SIZE); a server
 * that breaks the framing fails that connection, never the client.
 *
 * --ws: each connection sends an RFC 6455 upgrade (its own random key) and
 * is established by a `101` whose Sec-WebSocket-Accept matches; http-parser
 * reads that head and stops at the upgrade, and wslay (the node's WebSocket
 * library, here as a client) reads the frames after it and answers pings
 * and close frames. One text message is one event, its marker anywhere in
 * the text (a JSON envelope holds it in a string: the digits need no
 * escaping). The node's `{"type":"dropped",...}` notice is no event (API.md
 * §4.1) and is only counted on stderr, as SSE's `: dropped` comments are not
 * events.
 *
 * --tls: each connection first does a TLS client handshake (OpenSSL,
 * non-blocking, in the same epoll loop; SNI "localhost", ALPN http/1.1, TLS
 * 1.2 or 1.3) and then the same exchange through SSL_read/SSL_write. It is a
 * load client against a development certificate: the peer is not verified.
 * A handshake in flight counts as connecting (CONNECTING_MAX), and one that
 * fails counts as failed; the first failure's reason goes to stderr. That
 * byte stream, plain or TLS, is stream_load_io.c's; this file reads HTTP,
 * SSE and WebSocket out of it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "stream_load_io.h"

#define LINE_MAX_B 65536    /* an SSE line is kept up to this; the rest is skipped */
#define WS_MSG_MAX_B 65536  /* a longer WS message: wslay closes with 1009, the stream ends */
#define REQ_MAX 8192        /* the request we send */
#define CONNECTING_MAX 128  /* handshakes in flight: stay under the listen backlog */
#define SAMPLES_MAX 8000000 /* latency samples kept (64 MB at most) */
#define MAX_HEADERS 16
#define WS_KEY_B64 24    /* Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 §4.1) */
#define WS_ACCEPT_B64 28 /* Sec-WebSocket-Accept: a SHA-1 digest in base64 */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */
#define WS_QUEUED_MAX 16 /* pongs and close frames wslay may hold unwritten */

enum conn_state { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_HEAD, C_BODY, C_DONE, C_FAILED, C_CLOSED };

struct conn {
    ll_sio_t io; /* the socket, or TLS over it; close_conn closes it */
    enum conn_state state;
    size_t sent;        /* bytes of the request written */
    http_parser parser; /* parser.data points back here */
    char line[LINE_MAX_B];
    size_t line_len;
    int event_has_data; /* the current event block has a data: line */
    int64_t event_t_ns; /* its marker, or -1 */
    long events;
    /* --ws only */
    wslay_event_context_ptr ws;               /* from the 101 on; close_conn frees it */
    uint32_t ev_mask;                         /* the epoll interest set once upgraded */
    char ws_key[WS_KEY_B64 + 1];              /* the Sec-WebSocket-Key it sends */
    char hdr_name[24], accept[WS_ACCEPT_B64]; /* Sec-WebSocket-Accept from the head */
    size_t hdr_name_len, accept_len;          /* past their buffer: too long, no match */
    int in_value; /* http-parser's last header callback was for a value */
};

/* Written by the signal handler, read by the loop; nothing else touches it. */
static volatile sig_atomic_t stop_requested;

static struct conn *conns;
static int n_conns;
static long expect;
static int ws_mode, tls_mode;
static char request[REQ_MAX];
static size_t request_len, ws_key_off;
static int64_t *samples;
static size_t n_samples, samples_cap;
static int established, failed, connecting;
static long ws_drop_notices, ws_binary;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: ll_stream_load --host IPv4 --port P --path PATH [--header 'K: V']... "
                    "--conns N --expect E --timeout S [--ws] [--tls]\n");
    exit(2);
}

/* The marker: `t=` not preceded by a letter or digit, then decimal digits. */
static int64_t find_marker(const char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] != 't' || s[i + 1] != '=')
            continue;
        if (i > 0 && ((s[i - 1] >= 'a' && s[i - 1] <= 'z') ||
                      (s[i - 1] >= 'A' && s[i - 1] <= 'Z') || (s[i - 1] >= '0' && s[i - 1] <= '9')))
            continue;
        int64_t v = 0;
        size_t j = i + 2, digits = 0;
        while (j < len && s[j] >= '0' && s[j] <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return -1; /* not a CLOCK_REALTIME reading in ns */
            v = v * 10 + (s[j] - '0');
            j++;
            digits++;
        }
        if (digits > 0)
            return v;
    }
    return -1;
}

/* One event reached c; t_ns is its marker, or -1 for none. */
static void count_event(struct conn *c, int64_t t_ns)
{
    c->events++;
    if (t_ns >= 0 && n_samples < samples_cap) {
        int64_t us = (now_ns(CLOCK_REALTIME) - t_ns) / 1000;
        samples[n_samples++] = us < 0 ? 0 : us;
    }
}

static void finish_line(struct conn *c)
{
    size_t len = c->line_len;
    c->line_len = 0;
    if (len > 0 && c->line[len - 1] == '\r')
        len--;
    if (len == 0) { /* blank line: the event block ends */
        if (c->event_has_data)
            count_event(c, c->event_t_ns);
        c->event_has_data = 0;
        c->event_t_ns = -1;
        return;
    }
    if (len >= 5 && memcmp(c->line, "data:", 5) == 0) {
        c->event_has_data = 1;
        if (c->event_t_ns < 0)
            c->event_t_ns = find_marker(c->line + 5, len - 5);
    }
}

/* Body bytes (after any chunk framing) go through here: SSE lines. */
static void feed_sse(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = sizeof c->line - c->line_len;
        memcpy(c->line + c->line_len, p, take < room ? take : room); /* overlong: cut */
        c->line_len += take < room ? take : room;
        if (!nl)
            return;
        finish_line(c);
        p += take + 1;
        n -= take + 1;
    }
}

/* Never called from inside a wslay callback: it frees the connection's
 * wslay context. */
static void close_conn(struct conn *c, enum conn_state st)
{
    ll_sio_close(&c->io);
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE || c->state == C_HEAD) {
        connecting--;
        if (st == C_FAILED)
            failed++;
    }
    c->state = st;
}

/* The TCP connect is done: the response head is next (after the request). */
static void start_head(struct conn *c)
{
    c->state = C_HEAD;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
}

/* Moves c's TLS handshake on (the TCP connect is done). Returns 1 when it
 * is done (c is in C_HEAD and waits for both directions: the request is
 * next), 0 when it waits for the socket (the interest set says which way),
 * -1 when it failed (c is closed and counted). */
static int tls_handshake(struct conn *c, int ep)
{
    uint32_t events;
    int rc = ll_sio_handshake(&c->io, &events);
    if (rc < 0) {
        close_conn(c, C_FAILED);
        return -1;
    }
    if (rc == 1)
        start_head(c);
    else
        c->state = C_HANDSHAKE;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->io.fd, &ev);
    return rc;
}

/* A fresh Sec-WebSocket-Key for c: 16 bytes from getrandom, in base64. */
static int new_ws_key(struct conn *c)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    return EVP_EncodeBlock((unsigned char *)c->ws_key, raw, sizeof raw) == WS_KEY_B64 ? 0 : -1;
}

static int open_conn(struct conn *c, int ep, const struct sockaddr_in *sa)
{
    c->io.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->state = C_CONNECTING;
    connecting++;
    if (c->io.fd < 0 || (ws_mode && new_ws_key(c) < 0)) {
        close_conn(c, C_FAILED);
        return -1;
    }
    int one = 1;
    setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->io.fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        close_conn(c, C_FAILED);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->io.fd, &ev) < 0) {
        close_conn(c, C_FAILED);
        return -1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    if (p->status_code != 200) {
        close_conn(c, C_FAILED);
        return -1; /* stop parsing: on_readable sees the closed fd */
    }
    c->state = C_BODY;
    connecting--;
    established++;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    feed_sse(p->data, at, len);
    return 0;
}

/* The stream ended (last chunk, or EOF on a body without framing). */
static int on_message_complete(http_parser *p)
{
    close_conn(p->data, C_CLOSED);
    http_parser_pause(p, 1); /* whatever follows belongs to no stream we read */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- --ws: the frames, read by wslay ---------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    struct conn *c = user;
    (void)flags;
    /* Read nothing more while WS_QUEUED_MAX answers wait unwritten (the
     * server does not read them): wslay would queue a pong per ping without
     * bound. ws_pump drops EPOLLIN meanwhile. */
    if (wslay_event_get_queued_msg_count(ctx) >= WS_QUEUED_MAX) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ssize_t r = ll_sio_recv(&c->io, buf, len, 0);
    if (r > 0)
        return r;
    /* EOF or a socket error ends the stream: wslay_event_recv fails. */
    wslay_event_set_error(ctx, r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    struct conn *c = user;
    (void)flags;
    ssize_t w = ll_sio_send(&c->io, data, len);
    if (w >= 0)
        return w;
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* Client frames are masked with a fresh key each (RFC 6455 §5.3). */
static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

/* A whole message. For a ping or a close frame wslay has queued the answer
 * itself; ws_pump writes it. */
static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                      void *user)
{
    static const char notice[] = "{\"type\":\"dropped\"";
    struct conn *c = user;
    (void)ctx;
    if (c->state != C_BODY)
        return; /* C_DONE: all its events are in; the rest is not counted */
    if (m->opcode == WSLAY_BINARY_FRAME)
        ws_binary++;
    if (m->opcode != WSLAY_TEXT_FRAME)
        return;
    if (m->msg_length >= sizeof notice - 1 && memcmp(m->msg, notice, sizeof notice - 1) == 0) {
        ws_drop_notices++;
        return;
    }
    count_event(c, find_marker((const char *)m->msg, m->msg_length));
    if (c->events >= expect)
        c->state = C_DONE; /* stays open: closing would be work the server measures */
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

/* Lets wslay read every frame there is (when readable) and write what it has
 * queued, then sets the epoll interest to what it wants next. The stream
 * ends when wslay fails (EOF, a socket error, a protocol error: it has queued
 * its close frame) or when the closing handshake is over. */
static void ws_pump(struct conn *c, int ep, int readable)
{
    /* TLS may hold decrypted bytes the socket no longer shows, or a read
     * that waited for EPOLLOUT. */
    readable = readable || ll_sio_read_pending(&c->io);
    if ((readable && wslay_event_recv(c->ws) != 0) || wslay_event_send(c->ws) != 0 ||
        (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws))) {
        close_conn(c, C_CLOSED);
        return;
    }
    uint32_t mask = 0;
    if (wslay_event_want_read(c->ws) && wslay_event_get_queued_msg_count(c->ws) < WS_QUEUED_MAX)
        mask |= EPOLLIN;
    if (wslay_event_want_write(c->ws) || c->io.read_wants_wr)
        mask |= EPOLLOUT;
    if (mask != c->ev_mask) {
        struct epoll_event ev = {.events = mask, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->io.fd, &ev);
        c->ev_mask = mask;
    }
}

/* ---- --ws: the handshake's response head, read by http-parser --------------- */

/* Appends while it fits; past that *len is left beyond cap, where the value
 * matches nothing. */
static void append_bounded(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
    if (*len <= cap && n <= cap - *len) {
        memcpy(buf + *len, at, n);
        *len += n;
    } else {
        *len = cap + 1;
    }
}

/* http-parser may hand a name or a value over in pieces (a read boundary):
 * a name starts when a field follows a value. */
static int on_ws_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (c->in_value)
        c->hdr_name_len = 0;
    c->in_value = 0;
    append_bounded(c->hdr_name, sizeof c->hdr_name, &c->hdr_name_len, at, len);
    return 0;
}

static int on_ws_header_value(http_parser *p, const char *at, size_t len)
{
    static const char name[] = "Sec-WebSocket-Accept";
    struct conn *c = p->data;
    c->in_value = 1;
    if (c->hdr_name_len == sizeof name - 1 && strncasecmp(c->hdr_name, name, sizeof name - 1) == 0)
        append_bounded(c->accept, sizeof c->accept, &c->accept_len, at, len);
    return 0;
}

/* RFC 6455 §4.1: the client fails the connection unless the accept value is
 * base64(SHA-1(key + GUID)). */
static int accept_matches(const struct conn *c)
{
    char keyed[WS_KEY_B64 + sizeof WS_GUID];
    unsigned char digest[SHA_DIGEST_LENGTH], want[WS_ACCEPT_B64 + 1];
    memcpy(keyed, c->ws_key, WS_KEY_B64);
    memcpy(keyed + WS_KEY_B64, WS_GUID, sizeof WS_GUID);
    SHA1((const unsigned char *)keyed, WS_KEY_B64 + sizeof WS_GUID - 1, digest);
    EVP_EncodeBlock(want, digest, sizeof digest);
    return c->accept_len == WS_ACCEPT_B64 && memcmp(c->accept, want, WS_ACCEPT_B64) == 0;
}

/* http-parser sets p->upgrade before this for a 101 with `Upgrade` and
 * `Connection: upgrade`, and then stops right after the head. */
static int on_ws_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    if (p->status_code != 101 || !p->upgrade || !accept_matches(c) ||
        wslay_event_context_client_init(&c->ws, &ws_callbacks, c) != 0) {
        c->ws = NULL;
        close_conn(c, C_FAILED);
        return -1; /* stop parsing: ws_read_head sees the closed fd */
    }
    /* wslay gathers each message whole before handing it over: bound it. */
    wslay_event_config_set_max_recv_msg_length(c->ws, WS_MSG_MAX_B);
    c->ev_mask = EPOLLIN; /* what on_writable left after the request */
    c->state = C_BODY;
    connecting--;
    established++;
    return 0;
}

static const http_parser_settings ws_parser_settings = {
    .on_header_field = on_ws_header_field,
    .on_header_value = on_ws_header_value,
    .on_headers_complete = on_ws_headers_complete,
};

/* The head is peeked, then taken off the socket only as far as http-parser
 * went: after the 101 it stops at the end of the head, and the frames that
 * may follow stay in the socket for wslay's reads. */
static void ws_read_head(struct conn *c)
{
    char buf[4096];
    while (c->state == C_HEAD) {
        ssize_t r = ll_sio_recv(&c->io, buf, sizeof buf, 1);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            close_conn(c, C_FAILED);
            return;
        }
        size_t used = http_parser_execute(&c->parser, &ws_parser_settings, buf, (size_t)r);
        if (c->io.fd < 0)
            return; /* refused: not the 101 we asked for */
        if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
            fprintf(stderr, "stream_load: bad HTTP response (%s); connection dropped\n",
                    http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
            close_conn(c, C_FAILED);
            return;
        }
        if (ll_sio_recv(&c->io, buf, used, 0) != (ssize_t)used) { /* what was just peeked */
            close_conn(c, c->state == C_HEAD ? C_FAILED : C_CLOSED);
            return;
        }
    }
}

/* ---- both ------------------------------------------------------------------ */

static void on_readable(struct conn *c, int ep)
{
    if (ws_mode) {
        if (c->state == C_HEAD)
            ws_read_head(c);
        if (c->ws)
            ws_pump(c, ep, 1);
        return;
    }
    char buf[65536];
    for (;;) {
        ssize_t r = ll_sio_recv(&c->io, buf, sizeof buf, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->io.read_wants_wr) { /* on_writable goes on with it */
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->io.fd, &ev);
            }
            return;
        }
        if (r == 0 && c->state == C_BODY) /* EOF ends a body without framing */
            http_parser_execute(&c->parser, &parser_settings, NULL, 0);
        if (r <= 0) {
            if (c->io.fd >= 0)
                close_conn(c, c->state == C_HEAD ? C_FAILED : C_CLOSED);
            return;
        }
        if (c->state == C_DONE)
            continue; /* all its events are in; the rest is not counted */
        http_parser_execute(&c->parser, &parser_settings, buf, (size_t)r);
        if (c->io.fd < 0)
            return; /* a callback closed it: not 200, or the stream ended */
        if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
            fprintf(stderr, "stream_load: bad HTTP response (%s); connection dropped\n",
                    http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
            close_conn(c, c->state == C_HEAD ? C_FAILED : C_CLOSED);
            return;
        }
        if (c->state == C_BODY && c->events >= expect) {
            c->state = C_DONE; /* stays open: closing would be work the server measures */
            return;
        }
    }
}

static void on_writable(struct conn *c, int ep)
{
    if (c->ws) { /* upgraded: what wslay has queued (pongs, a close frame) */
        ws_pump(c, ep, 0);
        return;
    }
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            close_conn(c, C_FAILED);
            return;
        }
        if (!ll_sio_tls_enabled())
            start_head(c);
    }
    if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && tls_handshake(c, ep) != 1)
        return; /* waits for the socket, or failed */
    while (c->sent < request_len) {
        /* One request head serves every connection; each puts its own key in
         * before it writes (write copies the bytes; one thread). */
        if (ws_mode)
            memcpy(request + ws_key_off, c->ws_key, WS_KEY_B64);
        ssize_t w = ll_sio_send(&c->io, request + c->sent, request_len - c->sent);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w < 0) {
            close_conn(c, C_FAILED);
            return;
        }
        c->sent += (size_t)w;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->io.fd, &ev);
    if (c->io.read_wants_wr)
        on_readable(c, ep); /* the TLS read that had to write first */
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t percentile(int pct)
{
    if (n_samples == 0)
        return -1;
    return samples[(n_samples - 1) * (size_t)pct / 100];
}

static int build_request(const char *host, int port, const char *path, char **headers,
                         int n_headers)
{
    int len =
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s", path, host, port,
                 ws_mode ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                         : "Accept: text/event-stream\r\n");
    for (int i = 0; i < n_headers && len > 0 && (size_t)len < sizeof request; i++)
        len += snprintf(request + len, sizeof request - (size_t)len, "%s\r\n", headers[i]);
    /* The key goes last, in a place of known offset that on_writable fills
     * with each connection's own. */
    if (ws_mode && len > 0 && (size_t)len < sizeof request) {
        ws_key_off = (size_t)len + strlen("Sec-WebSocket-Key: ");
        len += snprintf(request + len, sizeof request - (size_t)len, "Sec-WebSocket-Key: %*s\r\n",
                        WS_KEY_B64, "");
    }
    if (len > 0 && (size_t)len < sizeof request)
        len += snprintf(request + len, sizeof request - (size_t)len, "\r\n");
    if (len <= 0 || (size_t)len >= sizeof request)
        return -1;
    request_len = (size_t)len;
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = NULL, *path = NULL;
    char *headers[MAX_HEADERS];
    int n_headers = 0, port = 0;
    double timeout_s = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ws")) {
            ws_mode = 1;
            continue;
        }
        if (!strcmp(argv[i], "--tls")) {
            tls_mode = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--host"))
            host = v;
        else if (!strcmp(k, "--port"))
            port = atoi(v);
        else if (!strcmp(k, "--path"))
            path = v;
        else if (!strcmp(k, "--header") && n_headers < MAX_HEADERS)
            headers[n_headers++] = argv[i];
        else if (!strcmp(k, "--conns"))
            n_conns = atoi(v);
        else if (!strcmp(k, "--expect"))
            expect = atol(v);
        else if (!strcmp(k, "--timeout"))
            timeout_s = atof(v);
        else
            usage();
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!host || !path || port <= 0 || port > 65535 || n_conns <= 0 || expect <= 0 ||
        timeout_s <= 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        usage();
    if (tls_mode && ll_sio_tls_init() < 0) {
        fprintf(stderr, "stream_load: no TLS client context\n");
        return 1;
    }
    if (build_request(host, port, path, headers, n_headers) < 0) {
        fprintf(stderr, "stream_load: request head over %d bytes\n", REQ_MAX);
        return 2;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_conns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n_conns + 64 ? rl.rlim_max : (rlim_t)n_conns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sact = {.sa_handler = on_signal};
    sigaction(SIGINT, &sact, NULL);
    sigaction(SIGTERM, &sact, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned long long want = (unsigned long long)n_conns * (unsigned long long)expect;
    samples_cap = want + (size_t)n_conns < SAMPLES_MAX ? want + (size_t)n_conns : SAMPLES_MAX;
    conns = calloc((size_t)n_conns, sizeof *conns);
    samples = malloc(samples_cap * sizeof *samples);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !samples || ep < 0) {
        fprintf(stderr, "stream_load: out of memory or no epoll\n");
        return 1;
    }
    for (int i = 0; i < n_conns; i++) {
        conns[i].io.fd = -1;
        conns[i].event_t_ns = -1;
    }

    int64_t deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)(timeout_s * 1e9);
    int next = 0, announced = 0;
    struct epoll_event evs[256];
    while (!stop_requested) {
        while (next < n_conns && connecting < CONNECTING_MAX)
            open_conn(&conns[next++], ep, &sa);
        if (!announced && next == n_conns && connecting == 0) {
            fprintf(stderr, "ready established=%d failed=%d\n", established, failed);
            fflush(stderr);
            announced = 1;
        }
        int open = 0;
        for (int i = 0; i < n_conns; i++)
            open += conns[i].state == C_CONNECTING || conns[i].state == C_HANDSHAKE ||
                    conns[i].state == C_HEAD || conns[i].state == C_BODY;
        if (next == n_conns && open == 0)
            break; /* every stream has all its events, failed, or was closed */
        int64_t left_ms = (deadline - now_ns(CLOCK_MONOTONIC)) / 1000000;
        if (left_ms <= 0)
            break;
        int n = epoll_wait(ep, evs, 256, left_ms > 200 ? 200 : (int)left_ms);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->io.fd < 0)
                continue;
            if ((evs[i].events & EPOLLOUT) || c->state == C_CONNECTING || c->state == C_HANDSHAKE)
                on_writable(c, ep);
            if (c->io.fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
                c->state != C_CONNECTING && c->state != C_HANDSHAKE)
                on_readable(c, ep);
        }
    }

    long long received = 0, missing = 0;
    int closed_early = 0;
    for (int i = 0; i < n_conns; i++) {
        received += conns[i].events;
        if (conns[i].events < expect)
            missing += expect - conns[i].events;
        closed_early += conns[i].state == C_CLOSED && conns[i].events < expect;
        ll_sio_close(&conns[i].io);
        if (conns[i].ws)
            wslay_event_context_free(conns[i].ws);
    }
    if (closed_early)
        fprintf(stderr, "stream_load: %d streams ended before their events\n", closed_early);
    if (ws_drop_notices)
        fprintf(stderr,
                "stream_load: %ld {\"type\":\"dropped\"} notices: the server dropped events\n",
                ws_drop_notices);
    const char *tls_first_error;
    int tls_failed = ll_sio_tls_failures(&tls_first_error);
    if (tls_failed)
        fprintf(stderr, "stream_load: %d TLS handshakes failed (the first: %s)\n", tls_failed,
                tls_first_error);
    if (ws_binary)
        fprintf(stderr, "stream_load: %ld binary messages, not counted as events\n", ws_binary);
    qsort(samples, n_samples, sizeof *samples, cmp_i64);
    printf("established=%d failed=%d expected=%llu received=%lld missing=%lld p50_us=%lld "
           "p99_us=%lld max_us=%lld\n",
           established, failed, want, received, missing, (long long)percentile(50),
           (long long)percentile(99), (long long)(n_samples ? samples[n_samples - 1] : -1));
    ll_sio_tls_free();
    free(samples);
    free(conns);
    close(ep);
    return 0;
}
