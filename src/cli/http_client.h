/* cli/http_client.h: one blocking HTTP/1.1 request, for the CLI only (the
 * node itself never calls out). The response is parsed by http-parser.
 * Owns:    the response body it returns (caller frees).
 * Threads: the calling thread; blocks until done or timeout_ms passes. */
#ifndef LL_CLI_HTTP_CLIENT_H
#define LL_CLI_HTTP_CLIENT_H

#include <stddef.h>

typedef struct ll_http_response {
    int status;
    char *body; /* NUL-terminated, malloc'd */
    size_t len;
} ll_http_response_t;

/* url: http://host[:port]/path. body may be NULL (no body). Returns 0, or
 * LL_EBADPARAM (bad URL), LL_EIO (connect, send, receive, parse) with a
 * message printed to stderr. */
int ll_http_request(const char *method, const char *url, const char *body,
                    ll_http_response_t *out, int timeout_ms);

void ll_http_response_free(ll_http_response_t *r);

#endif
