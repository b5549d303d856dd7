/* fuzz/node.c: see node.h. The wiring copies main.c's serve(): hub, ledger,
 * custody and dev user, then the server with the API router. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "node.h"

#include "api/api.h"
#include "auth/account.h"
#include "auth/custody.h"
#include "config.h"
#include "ledger/ledger.h"
#include "net/server.h"
#include "stream/hub.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct {
    int started;
    char dir[64];
    ll_config_t config;
    ll_hub_t *hub;
    ll_ledger_t *ledger;
    ll_custody_t *custody;
    ll_server_t *server;
    ll_api_t app;
    int port;
    char cookie[128];
} node;

static void die(const char *what)
{
    fprintf(stderr, "fuzz node: %s\n", what);
    abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* At exit, so that a replay or a fuzzing run that ends normally stops every
 * thread before the sanitizers look for leaks, and leaves no files. */
static void node_stop(void)
{
    if (!node.started)
        return;
    ll_server_stop_accepting(node.server);
    ll_ledger_stop(node.ledger);
    ll_server_stop(node.server);
    ll_ledger_free(node.ledger);
    ll_custody_free(node.custody);
    ll_hub_free(node.hub);
    nftw(node.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    node.started = 0;
}

void fuzz_node_start(void)
{
    if (node.started)
        return;
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0)
        die("sodium_init failed");
    ll_log_set_level_name(getenv("LL_FUZZ_LOG") ? getenv("LL_FUZZ_LOG") : "error");
    snprintf(node.dir, sizeof node.dir, "/tmp/ll-fuzz-node.XXXXXX");
    if (!mkdtemp(node.dir))
        die("cannot make a data directory");

    ll_config_t *c = &node.config;
    ll_config_defaults(c);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", node.dir);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 0;
    c->workers = 1;
    c->dev = 1;
    c->difficulty = 1;        /* blocks are cheap: the faucet makes some */
    c->block_interval_ms = 50;
    c->ws_idle_timeout_s = 5; /* every connection ends with the input anyway */

    ll_ledger_opts_t lopts = {
        .data_dir = c->data_dir,
        .difficulty = c->difficulty,
        .block_interval_ms = c->block_interval_ms,
        .max_block_txs = c->max_block_txs,
        .sync = LL_SYNC_NORMAL, /* nothing here needs to survive a power cut */
        .dev = 1,
    };
    if (!(node.hub = ll_hub_new()))
        die("no hub");
    lopts.hub = node.hub;
    if (ll_ledger_start(&lopts, &node.ledger) < 0)
        die("the ledger did not start");
    if (ll_custody_open(c->data_dir, &node.custody) < 0 ||
        ll_auth_ensure_dev_user(node.ledger, c->data_dir) < 0)
        die("no custody key or dev user");

    node.app.config = c;
    node.app.ledger = node.ledger;
    node.app.custody = node.custody;
    node.app.hub = node.hub;
    ll_server_opts_t opts;
    ll_server_opts_defaults(&opts);
    opts.host = c->listen_host;
    opts.port = 0;
    opts.workers = 1;
    opts.handler = ll_api_handle;
    opts.worker_init = ll_api_worker_init;
    opts.worker_fini = ll_api_worker_fini;
    opts.arg = &node.app;
    if (ll_server_start(&opts, &node.server) < 0)
        die("the server did not start");
    node.port = ll_server_port(node.server);
    /* OpenSSL loads its configuration once, on the first thread that needs
     * it, and that thread's error state is never freed when the thread is
     * a worker (LeakSanitizer reports it at exit): make it this one. */
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)"", 0, digest);
    node.started = 1;
    atexit(node_stop);
}

/* Connects from 127.0.0.2 … 127.0.0.251 in turn. Each input closes one
 * connection, and the side that sends the first FIN keeps a TIME_WAIT entry
 * for 60 s. From one source address, a thousand inputs a second would use
 * up the 28k local ports within a minute, and connect() would then fail. */
/* connect(), finishing it when a signal interrupts it: libFuzzer's timer
 * signals do, and an interrupted connect goes on in the kernel. */
static int connect_to(int fd, const struct sockaddr_in *dst)
{
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) == 0)
        return 0;
    if (errno != EINTR)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n, err = 0;
    socklen_t len = sizeof err;
    do
        n = poll(&p, 1, 5000);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        err = ETIMEDOUT;
    else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    errno = err;
    return err ? -1 : 0;
}

static int dial(void)
{
    static unsigned next_src;
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)node.port)};
    /* Generous: a loaded machine must not turn a slow answer into a finding. */
    struct timeval tv = {.tv_sec = 60};
    int one = 1;
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    for (int attempt = 0; attempt < 500; attempt++) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000000u | (2 + next_src++ % 250));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            die("socket");
        /* The port is picked at connect(), for the whole address pair. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) == 0 && connect_to(fd, &dst) == 0) {
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            return fd;
        }
        int err = errno;
        close(fd);
        if (err != EADDRNOTAVAIL && err != EADDRINUSE && err != EAGAIN) {
            fprintf(stderr, "fuzz node: connect: %s\n", strerror(err));
            die("cannot connect to the node");
        }
    }
    die("no local address is free to connect from");
    return -1;
}

static size_t exchange(const void *data, size_t len, char *out, size_t cap, int half_close)
{
    size_t got = 0;
    int fd = dial();
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue; /* a socket with a timeout is never restarted */
        if (n <= 0)
            break; /* the node closed on us: what it said is still readable */
        p += n;
        len -= (size_t)n;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    for (;;) {
        char sink[4096];
        char *dst = got + 1 < cap ? out + got : sink;
        size_t room = got + 1 < cap ? cap - 1 - got : sizeof sink;
        ssize_t n = recv(fd, dst, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

size_t fuzz_node_exchange(const void *data, size_t len, char *out, size_t cap)
{
    return exchange(data, len, out, cap, 1);
}

size_t fuzz_node_request(const char *req, char *out, size_t cap)
{
    return exchange(req, strlen(req), out, cap, 0);
}

const char *fuzz_node_cookie(void)
{
    static const char login[] = "POST /api/login HTTP/1.1\r\nHost: fuzz\r\n"
                                "Content-Type: application/json\r\nContent-Length: 43\r\n"
                                "Connection: close\r\n\r\n"
                                "{\"username\":\"dev\",\"password\":\"devdevdev\"}  ";
    char resp[4096];
    if (node.cookie[0])
        return node.cookie;
    fuzz_node_request(login, resp, sizeof resp);
    const char *s = strstr(resp, "Set-Cookie: session=");
    if (!s)
        die("the dev user cannot log in");
    s += strlen("Set-Cookie: ");
    size_t n = strcspn(s, ";\r");
    if (n >= sizeof node.cookie)
        die("odd session cookie");
    memcpy(node.cookie, s, n);
    node.cookie[n] = '\0';
    return node.cookie;
}

size_t fuzz_node_escape(const uint8_t *src, size_t len, int in_query, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = src[i];
        int bad = in_query ? b < 0x21 || b == 0x7f || b == '#'
                           : (b < 0x20 && b != '\t') || b == 0x7f;
        if (!bad) {
            out[n++] = (char)b;
        } else if (in_query) {
            out[n++] = '%';
            out[n++] = hex[b >> 4];
            out[n++] = hex[b & 15];
        } else {
            out[n++] = '_'; /* a header value has no escapes: keep its shape */
        }
    }
    out[n] = '\0';
    return n;
}
