/* cli/http_client.c: see http_client.h. "Connection: close" lets the
 * response end at EOF as well as at its Content-Length. */
#include "cli/http_client.h"
#include "util/err.h"

#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct parse_state {
    ll_http_response_t *out;
    size_t cap;
    int done;
} parse_state_t;

static int on_body(http_parser *p, const char *at, size_t len)
{
    parse_state_t *s = p->data;
    if (s->out->len + len + 1 > s->cap) {
        size_t cap = (s->out->len + len + 1) * 2;
        char *b = realloc(s->out->body, cap);
        if (!b)
            return 1;
        s->out->body = b;
        s->cap = cap;
    }
    memcpy(s->out->body + s->out->len, at, len);
    s->out->len += len;
    s->out->body[s->out->len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    parse_state_t *s = p->data;
    s->out->status = (int)p->status_code;
    s->done = 1;
    return 0;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int ll_http_request(const char *method, const char *url, const char *body,
                    ll_http_response_t *out, int timeout_ms)
{
    struct http_parser_url u;
    http_parser_settings settings = {0};
    http_parser parser;
    parse_state_t state = {out, 0, 0};
    char host[256], port[8] = "80", path[2048], head[2600], buf[16384];
    int fd = -1, rc = LL_EIO;

    memset(out, 0, sizeof *out);
    http_parser_url_init(&u);
    if (strncmp(url, "http://", 7) != 0 || http_parser_parse_url(url, strlen(url), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_HOST)) || u.field_data[UF_HOST].len >= sizeof host) {
        fprintf(stderr, "ledgerline: '%s' is not an http:// URL\n", url);
        return LL_EBADPARAM;
    }
    snprintf(host, sizeof host, "%.*s", (int)u.field_data[UF_HOST].len,
             url + u.field_data[UF_HOST].off);
    if (u.field_set & (1 << UF_PORT))
        snprintf(port, sizeof port, "%u", u.port);
    if (u.field_set & (1 << UF_PATH))
        snprintf(path, sizeof path, "%s", url + u.field_data[UF_PATH].off);
    else
        snprintf(path, sizeof path, "/");

    if ((fd = connect_to(host, port)) < 0) {
        fprintf(stderr, "ledgerline: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
        goto out;
    }
    size_t blen = body ? strlen(body) : 0;
    int hlen = snprintf(head, sizeof head,
                        "%s %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: application/json\r\n"
                        "Connection: close\r\n%sContent-Length: %zu\r\n\r\n",
                        method, path, host, port,
                        body ? "Content-Type: application/json\r\n" : "", blen);
    if (hlen < 0 || (size_t)hlen >= sizeof head || send_all(fd, head, (size_t)hlen) < 0 ||
        (blen && send_all(fd, body, blen) < 0)) {
        fprintf(stderr, "ledgerline: cannot send the request to %s:%s\n", host, port);
        goto out;
    }
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = &state;
    settings.on_body = on_body;
    settings.on_message_complete = on_complete;
    while (!state.done) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready <= 0) {
            fprintf(stderr, "ledgerline: no answer from %s:%s\n", host, port);
            goto out;
        }
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        /* A zero-length execute tells the parser the stream ended. */
        size_t used = http_parser_execute(&parser, &settings, buf, (size_t)n);
        if (HTTP_PARSER_ERRNO(&parser) != HPE_OK || used != (size_t)n) {
            fprintf(stderr, "ledgerline: malformed answer: %s\n",
                    http_errno_description(HTTP_PARSER_ERRNO(&parser)));
            goto out;
        }
        if (n == 0 && !state.done) {
            fprintf(stderr, "ledgerline: connection closed before the answer ended\n");
            goto out;
        }
    }
    if (!out->body && !(out->body = calloc(1, 1)))
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        ll_http_response_free(out);
    return rc;
}

void ll_http_response_free(ll_http_response_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
