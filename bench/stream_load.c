/* bench/stream_load.c: the load client of bench/vs_nchan.py. It opens N
 * Server-Sent Events streams against one HTTP/1.1 server, counts the events
 * each receives, and measures for each event that carries the marker
 * `t=<CLOCK_REALTIME nanoseconds>` how long it took from the publisher's
 * clock reading to here. The same binary reads Ledgerline's streams (chunked
 * bodies) and Nchan's (chunked or plain), so both sides of the comparison are
 * measured by the same code.
 *
 *   ll_stream_load --host 127.0.0.1 --port P --path PATH [--header 'K: V']...
 *                  --conns N --expect E --timeout S
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
 * that breaks the framing fails that connection, never the client. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_B 65536    /* an SSE line is kept up to this; the rest is skipped */
#define REQ_MAX 8192        /* the request we send */
#define CONNECTING_MAX 128  /* handshakes in flight: stay under the listen backlog */
#define SAMPLES_MAX 8000000 /* latency samples kept (64 MB at most) */
#define MAX_HEADERS 16

enum conn_state { C_IDLE, C_CONNECTING, C_HEAD, C_BODY, C_DONE, C_FAILED, C_CLOSED };

struct conn {
    int fd;
    enum conn_state state;
    size_t sent;        /* bytes of the request written */
    http_parser parser; /* parser.data points back here */
    char line[LINE_MAX_B];
    size_t line_len;
    int event_has_data; /* the current event block has a data: line */
    int64_t event_t_ns; /* its marker, or -1 */
    long events;
};

/* Written by the signal handler, read by the loop; nothing else touches it. */
static volatile sig_atomic_t stop_requested;

static struct conn *conns;
static int n_conns;
static long expect;
static char request[REQ_MAX];
static size_t request_len;
static int64_t *samples;
static size_t n_samples, samples_cap;
static int established, failed, connecting;

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
                    "--conns N --expect E --timeout S\n");
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

static void finish_line(struct conn *c)
{
    size_t len = c->line_len;
    c->line_len = 0;
    if (len > 0 && c->line[len - 1] == '\r')
        len--;
    if (len == 0) { /* blank line: the event block ends */
        if (c->event_has_data) {
            c->events++;
            if (c->event_t_ns >= 0 && n_samples < samples_cap) {
                int64_t us = (now_ns(CLOCK_REALTIME) - c->event_t_ns) / 1000;
                samples[n_samples++] = us < 0 ? 0 : us;
            }
        }
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

static void close_conn(struct conn *c, enum conn_state st)
{
    if (c->fd >= 0)
        close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    if (c->state == C_CONNECTING || c->state == C_HEAD) {
        connecting--;
        if (st == C_FAILED)
            failed++;
    }
    c->state = st;
}

static int open_conn(struct conn *c, int ep, const struct sockaddr_in *sa)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->state = C_CONNECTING;
    connecting++;
    if (c->fd < 0) {
        close_conn(c, C_FAILED);
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        close_conn(c, C_FAILED);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
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

static void on_readable(struct conn *c)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r == 0 && c->state == C_BODY) /* EOF ends a body without framing */
            http_parser_execute(&c->parser, &parser_settings, NULL, 0);
        if (r <= 0) {
            if (c->fd >= 0)
                close_conn(c, c->state == C_HEAD ? C_FAILED : C_CLOSED);
            return;
        }
        if (c->state == C_DONE)
            continue; /* all its events are in; the rest is not counted */
        http_parser_execute(&c->parser, &parser_settings, buf, (size_t)r);
        if (c->fd < 0)
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
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            close_conn(c, C_FAILED);
            return;
        }
        c->state = C_HEAD;
        http_parser_init(&c->parser, HTTP_RESPONSE);
        c->parser.data = c;
    }
    while (c->sent < request_len) {
        ssize_t w = write(c->fd, request + c->sent, request_len - c->sent);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w < 0) {
            close_conn(c, C_FAILED);
            return;
        }
        c->sent += (size_t)w;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
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
    int len = snprintf(request, sizeof request,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n", path,
                       host, port);
    for (int i = 0; i < n_headers && len > 0 && (size_t)len < sizeof request; i++)
        len += snprintf(request + len, sizeof request - (size_t)len, "%s\r\n", headers[i]);
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
        conns[i].fd = -1;
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
            open += conns[i].state == C_CONNECTING || conns[i].state == C_HEAD ||
                    conns[i].state == C_BODY;
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
            if (c->fd < 0)
                continue;
            if ((evs[i].events & EPOLLOUT) || c->state == C_CONNECTING)
                on_writable(c, ep);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
                c->state != C_CONNECTING)
                on_readable(c);
        }
    }

    long long received = 0, missing = 0;
    int closed_early = 0;
    for (int i = 0; i < n_conns; i++) {
        received += conns[i].events;
        if (conns[i].events < expect)
            missing += expect - conns[i].events;
        closed_early += conns[i].state == C_CLOSED && conns[i].events < expect;
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    }
    if (closed_early)
        fprintf(stderr, "stream_load: %d streams ended before their events\n", closed_early);
    qsort(samples, n_samples, sizeof *samples, cmp_i64);
    printf("established=%d failed=%d expected=%llu received=%lld missing=%lld p50_us=%lld "
           "p99_us=%lld max_us=%lld\n",
           established, failed, want, received, missing, (long long)percentile(50),
           (long long)percentile(99), (long long)(n_samples ? samples[n_samples - 1] : -1));
    free(samples);
    free(conns);
    close(ep);
    return 0;
}
