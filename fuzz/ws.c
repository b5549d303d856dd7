/* fuzz/ws.c: WebSocket frames. Each input follows a valid opening handshake
 * to /api/v1/streams/valid_tx on a fresh connection of the node of node.h,
 * so its bytes reach net/ws.c exactly as a client's frames do: wslay's
 * server context as ws.c configures it (message limit, callbacks), the
 * ping/pong and text "ping" replies, the close handshake and its status
 * codes, the subscriber's write queue. The connection is half-closed after
 * the input. Masking matters: a server drops unmasked client frames, so the
 * seeds are masked and libFuzzer keeps that shape. */
#include "node.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char handshake[] = "GET /api/v1/streams/valid_tx HTTP/1.1\r\n"
                                "Host: fuzz\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n";

static char resp[1 << 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_node_start();
    /* A node that refuses the handshake would fuzz the 400 path only. */
    fuzz_node_exchange(handshake, sizeof handshake - 1, resp, sizeof resp);
    if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t hl = sizeof handshake - 1;
    char *msg = malloc(hl + size + 1);
    if (!msg)
        return 0;
    memcpy(msg, handshake, hl);
    if (size)
        memcpy(msg + hl, data, size);
    size_t n = fuzz_node_exchange(msg, hl + size, resp, sizeof resp);
    free(msg);
    if (n > 0 && strncmp(resp, "HTTP/1.1 101 ", n < 13 ? n : 13) != 0)
        __builtin_trap();
    return 0;
}
