#!/usr/bin/python3
"""Idle streams: the node's memory per open, idle stream connection.

Opens N SSE streams (GET /api/stream with a session) and then N WebSocket
streams (/api/v1/streams/valid_tx) on a fresh node, each answered and then
left idle, and prints the node's RSS growth per connection. Figures only.

    /usr/bin/python3 bench/idle.py build-bench/ledgerline [N]
"""
import os
import resource
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402

N = 10000
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request(kind, cookie):
    if kind == "sse":
        return ("GET /api/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
                "Cookie: session=%s\r\n\r\n" % cookie).encode()
    return ("GET /api/v1/streams/valid_tx HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % WS_KEY).encode()


def measure(kind, n):
    with harness.Server("--dev") as srv:
        cookie = harness.login(srv, "dev", "devdevdev")
        time.sleep(0.5)
        base = harness.rss_kib(srv.proc.pid)
        socks, answered = [], 0
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                s.sendall(request(kind, cookie))
                socks.append(s)
            for s in socks:
                head = s.recv(4096)
                answered += head.startswith(b"HTTP/1.1 101") or head.startswith(b"HTTP/1.1 200")
            time.sleep(1)
            rss = harness.rss_kib(srv.proc.pid)
        finally:
            for s in socks:
                s.close()
        print("idle %s streams: %d opened, %d answered; node RSS %d -> %d KiB = %.2f KB per "
              "connection" % (kind, n, answered, base, rss, (rss - base) * 1024.0 / n / 1000),
              flush=True)


def main():
    if len(sys.argv) > 1:
        os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    harness.require_binary()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else N
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 100)), hard))
    for kind in ("sse", "ws"):
        measure(kind, n)


if __name__ == "__main__":
    main()
