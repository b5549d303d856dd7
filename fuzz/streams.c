/* fuzz/streams.c: what api/streams.c parses before it takes a connection
 * over: the query string (ll_req_query_param's percent-decoding, types=
 * through ll_ev_type_parse, address=, last_event_id=) and the Last-Event-ID
 * header, on the cookie-protected event streams of the node of node.h.
 *
 * Input: byte 0 picks the stream (even: SSE /api/stream, odd: WebSocket
 * /api/v1/streams/events); the rest up to the first newline is the query
 * string, what follows it the Last-Event-ID header (absent when there is no
 * newline). Bytes a request line or a header cannot carry are escaped
 * (fuzz_node_escape), so every input is a well-formed request and the
 * fuzzing stays on the parsing behind it. The stream then replays what the
 * event log holds after the resume point, and the connection is half-closed. */
#include "node.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char resp[1 << 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_node_start();
    /* Some events to replay: a faucet grant commits a block of its own. */
    static const char grant[] = "POST /api/v1/faucet HTTP/1.1\r\nHost: fuzz\r\n"
                                "Content-Type: application/json\r\nContent-Length: 57\r\n"
                                "Connection: close\r\n\r\n"
                                "{\"address\":\"139e3940e64b5491722088d9a0d74162\",\"amount\":7}";
    fuzz_node_request(grant, resp, sizeof resp);
    fuzz_node_cookie();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int ws = data[0] & 1;
    data++, size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t qlen = nl ? (size_t)(nl - data) : size;
    char *q = malloc(3 * qlen + 1), *id = NULL;
    if (!q)
        return 0;
    fuzz_node_escape(data, qlen, 1, q);
    if (nl) {
        size_t idlen = size - qlen - 1;
        if (!(id = malloc(3 * idlen + 1))) {
            free(q);
            return 0;
        }
        fuzz_node_escape(nl + 1, idlen, 0, id);
    }
    const char *cookie = fuzz_node_cookie();
    size_t cap = strlen(q) + (id ? strlen(id) : 0) + strlen(cookie) + 512;
    char *req = malloc(cap);
    if (!req) {
        free(q);
        free(id);
        return 0;
    }
    int n = snprintf(req, cap,
                     "GET %s?%s HTTP/1.1\r\nHost: fuzz\r\nCookie: %s\r\n%s%s%s%s\r\n",
                     ws ? "/api/v1/streams/events" : "/api/stream", q, cookie,
                     ws ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                        : "Accept: text/event-stream\r\n",
                     id ? "Last-Event-ID: " : "", id ? id : "", id ? "\r\n" : "");
    if (n > 0 && (size_t)n < cap) {
        size_t got = fuzz_node_exchange(req, (size_t)n, resp, sizeof resp);
        /* A bad query is a JSON error, never a dropped connection. */
        if (got == 0 || strncmp(resp, "HTTP/1.1 ", 9) != 0)
            __builtin_trap();
    }
    free(req);
    free(q);
    free(id);
    return 0;
}
