/* fuzz/http.c: the HTTP request path. The input is what a client sends on
 * one connection (any number of pipelined requests, or garbage); it goes
 * through the real server of node.h: conn.c's reads and timeouts,
 * http-parser, the request glue of http.c, the router and whichever route
 * handler it reaches, the ledger included. The connection is half-closed
 * after the input, so the node must answer what it can and close.
 * Found: any crash, sanitizer report or leak in that path; and a node that
 * stops answering (libFuzzer's -timeout, 30 s in run.sh). */
#include "node.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_node_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char resp[1 << 16];
    size_t n = fuzz_node_exchange(data, size, resp, sizeof resp);
    /* Whatever the node says starts as an HTTP/1.1 response. */
    if (n > 0 && strncmp(resp, "HTTP/1.1 ", n < 9 ? n : 9) != 0)
        __builtin_trap();
    return 0;
}
