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
 * It is libc only (the brief of this tool: no library to install on a
 * machine that runs it against a foreign server), so the little HTTP it
 * needs is read here: the status line, Transfer-Encoding, and the chunk
 * framing. Every buffer is bounded; a server that breaks the framing fails
 * that connection, never the client. */
#ifndef _GNU_SOURCE /* memmem; CMake defines it for the whole project */
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 16384      /* a response head larger than this fails the connection */
#define LINE_MAX_B 65536    /* an SSE line is kept up to this; the rest is skipped */
#define REQ_MAX 8192        /* the request we send */
#define CONNECTING_MAX 128  /* handshakes in flight: stay under the listen backlog */
#define SAMPLES_MAX 8000000 /* latency samples kept (64 MB at most) */
#define MAX_HEADERS 16

enum conn_state { C_IDLE, C_CONNECTING, C_HEAD, C_BODY, C_DONE, C_FAILED, C_CLOSED };
enum chunk_state { K_SIZE, K_EXT, K_DATA, K_DATA_END, K_TRAILER, K_TRAILER_LINE };

struct conn {
    int fd;
    enum conn_state state;
    size_t sent; /* bytes of the request written */
    char head[HEAD_MAX];
    size_t head_len;
    int chunked;
    enum chunk_state ks;
    uint64_t chunk_left;
    int chunk_digits;
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

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Undoes chunked transfer coding (RFC 9112 §7.1). Returns 0, 1 when the
 * body ended (the last chunk and its trailers), -1 on a framing error. */
static int feed_chunked(struct conn *c, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        switch (c->ks) {
        case K_SIZE: {
            int h = hexval(ch);
            if (h >= 0) {
                if (++c->chunk_digits > 15) /* more than 2^60 bytes: not a chunk size */
                    return -1;
                c->chunk_left = c->chunk_left * 16 + (uint64_t)h;
            } else if (c->chunk_digits == 0) {
                return -1;
            } else if (ch == '\n') {
                c->ks = c->chunk_left ? K_DATA : K_TRAILER;
            } else {
                c->ks = K_EXT; /* `;ext`, blanks or the CR before LF */
            }
            i++;
            break;
        }
        case K_EXT:
            if (ch == '\n')
                c->ks = c->chunk_left ? K_DATA : K_TRAILER;
            i++;
            break;
        case K_DATA: {
            size_t take = n - i;
            if (take > c->chunk_left)
                take = (size_t)c->chunk_left;
            feed_sse(c, p + i, take);
            c->chunk_left -= take;
            i += take;
            if (c->chunk_left == 0)
                c->ks = K_DATA_END;
            break;
        }
        case K_DATA_END: /* the CRLF after a chunk's data */
            if (ch == '\n') {
                c->ks = K_SIZE;
                c->chunk_digits = 0;
            } else if (ch != '\r') {
                return -1;
            }
            i++;
            break;
        case K_TRAILER: /* at the start of a trailer line; an empty one ends the body */
            if (ch == '\n')
                return 1;
            if (ch != '\r')
                c->ks = K_TRAILER_LINE;
            i++;
            break;
        case K_TRAILER_LINE:
            if (ch == '\n')
                c->ks = K_TRAILER;
            i++;
            break;
        }
    }
    return 0;
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

/* The head is complete in c->head[0..end): status 200, and chunked or not. */
static int parse_head(struct conn *c, size_t end)
{
    if (end < 12 || memcmp(c->head, "HTTP/1.", 7) != 0 || memcmp(c->head + 8, " 200", 4) != 0)
        return -1;
    const char *p = c->head, *stop = c->head + end;
    while (p < stop) {
        const char *eol = memchr(p, '\n', (size_t)(stop - p));
        if (!eol)
            break;
        static const char te[] = "transfer-encoding:";
        if ((size_t)(eol - p) > sizeof te - 1 && strncasecmp(p, te, sizeof te - 1) == 0) {
            const char *v = p + sizeof te - 1;
            for (; v + 7 <= eol; v++)
                if (strncasecmp(v, "chunked", 7) == 0)
                    c->chunked = 1;
        }
        p = eol + 1;
    }
    return 0;
}

static void body_bytes(struct conn *c, const char *p, size_t n)
{
    if (!c->chunked) {
        feed_sse(c, p, n);
        return;
    }
    int rc = feed_chunked(c, p, n);
    if (rc < 0) {
        fprintf(stderr, "stream_load: bad chunk framing; connection dropped\n");
        close_conn(c, C_CLOSED);
    } else if (rc > 0) {
        close_conn(c, C_CLOSED);
    }
}

static void on_readable(struct conn *c)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            close_conn(c, c->state == C_HEAD ? C_FAILED : C_CLOSED);
            return;
        }
        const char *p = buf;
        size_t n = (size_t)r;
        if (c->state == C_HEAD) {
            size_t room = sizeof c->head - c->head_len;
            size_t take = n < room ? n : room;
            memcpy(c->head + c->head_len, p, take);
            size_t old = c->head_len;
            c->head_len += take;
            void *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
            if (!end) {
                if (c->head_len == sizeof c->head) {
                    close_conn(c, C_FAILED);
                    return;
                }
                continue;
            }
            size_t head_end = (size_t)((char *)end - c->head) + 4;
            if (parse_head(c, head_end) < 0) {
                close_conn(c, C_FAILED);
                return;
            }
            c->state = C_BODY;
            connecting--;
            established++;
            p += head_end - old; /* the body's first bytes came with the head */
            n -= head_end - old;
        }
        if (c->state == C_BODY && n > 0)
            body_bytes(c, p, n);
        if (c->state != C_BODY)
            return;
        if (c->events >= expect) {
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
