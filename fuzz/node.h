/* fuzz/node.h: a whole node in the fuzzing process, for the targets whose
 * input arrives over a socket (HTTP, WebSocket, stream queries): the real
 * ledger, custody, hub and HTTP server with the API router, as main.c wires
 * them, on 127.0.0.1 with one worker, a fresh data directory and --dev (the
 * faucet and the user dev/devdevdev exist). Inputs are sent on a fresh
 * loopback connection each, so every byte goes through conn.c, http-parser,
 * http.c and the router exactly as a client's would.
 * Owns:    the node and its temporary data directory, removed at exit.
 * Threads: the fuzzing thread calls these; the node runs on its own. */
#ifndef LL_FUZZ_NODE_H
#define LL_FUZZ_NODE_H

#include <stddef.h>
#include <stdint.h>

/* Starts the node once (later calls return at once). Aborts on failure:
 * a target without its node would fuzz nothing. */
void fuzz_node_start(void);

/* Sends data on a new connection, half-closes it, and reads what the node
 * answers until it closes (or 60 s pass). At most cap bytes are kept in out
 * (NUL-terminated, so cap >= 1); returns the number kept. */
size_t fuzz_node_exchange(const void *data, size_t len, char *out, size_t cap);

/* Sends one complete request, which must ask for "Connection: close", and
 * reads its response until the node closes: unlike an exchange, the node
 * answers even when its handler works on another thread (a half-closed
 * connection drops what is not answered yet). Same out and result. */
size_t fuzz_node_request(const char *req, char *out, size_t cap);

/* "session=<64 hex>": a logged-in session of the dev user, for the
 * cookie-protected streams. Logs in on first use. */
const char *fuzz_node_cookie(void);

/* Copies src into out for use inside a query string (in_query) or a header
 * value. In a query, bytes http-parser would refuse or that would end it
 * (controls, space, DEL, '#') become %XX, so the input still reaches the
 * decoder behind it; in a header value, controls but tab and DEL become '_'.
 * Returns the length written; out needs 3 * len + 1 bytes. */
size_t fuzz_node_escape(const uint8_t *src, size_t len, int in_query, char *out);

#endif
