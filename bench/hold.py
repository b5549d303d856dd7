#!/usr/bin/python3
"""Streams held by one process: H idle SSE streams (default 19,000; the
descriptor limit here is 20,000 per process) held open on one node while
100 more receive 200 chat messages at 200/s through ll_stream_load. Prints
how many streams were answered, whether the receiving ones missed any
event, their latency, and the node's RSS per held stream. Figures only.

    /usr/bin/python3 bench/hold.py build-bench/ledgerline [H]
"""
import os
import resource
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
import vs_nchan  # noqa: E402

HELD = 19000
RECEIVING = 100


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    held_n = int(sys.argv[2]) if len(sys.argv) > 2 else HELD
    loader = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "ll_stream_load")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, held_n + 200), hard))
    flags = ("--dev", "--block-interval-ms", "600000", "--max-block-txs", "10000",
             "--messages-per-user", "0", "--messages-per-ip", "0")
    with harness.Server(*flags) as srv:
        cookie = harness.login(srv, "dev", "devdevdev")
        time.sleep(0.5)
        base = harness.rss_kib(srv.proc.pid)
        req = ("GET /api/stream?types=message HTTP/1.1\r\nHost: bench\r\n"
               "Accept: text/event-stream\r\nCookie: session=%s\r\n\r\n" % cookie).encode()
        held, answered = [], 0
        t = time.monotonic()
        try:
            for i in range(held_n):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
                s.sendall(req)
                held.append(s)
                if i % 500 == 499:  # read the answers as we go: the backlog is bounded
                    for h in held[-500:]:
                        answered += h.recv(4096).startswith(b"HTTP/1.1 200")
            for h in held[len(held) - len(held) % 500:]:
                answered += h.recv(4096).startswith(b"HTTP/1.1 200")
            opened_s = time.monotonic() - t
            rss = harness.rss_kib(srv.proc.pid)
            client = vs_nchan.start_client(loader, srv.port, "/api/stream?types=message",
                                           RECEIVING, ["Cookie: session=%s" % cookie])
            vs_nchan.wait_ready(client)
            with harness.user_session(srv, cookie) as session:
                t0 = time.monotonic()
                for i in range(vs_nchan.M):
                    delay = t0 + i / vs_nchan.RATE - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    r = session.post(srv.url + "/api/messages",
                                     json={"to": "dev", "text": "hold t=%d" % time.time_ns()})
                    assert r.status_code == 202, (r.status_code, r.text[:200])
            result, _cpu = vs_nchan.finish_client(client, time.monotonic() + vs_nchan.DRAIN_S)
        finally:
            for h in held:
                h.close()
        print("held: %d idle SSE streams opened in %.1f s, %d answered; node RSS %d -> %d KiB "
              "= %.2f KB per stream" % (held_n, opened_s, answered, base, rss,
                                        (rss - base) * 1024.0 / held_n / 1000))
        print("receiving meanwhile: %d streams, %d of %d events (missing %d), latency p50 %.2f "
              "ms, p99 %.2f ms" % (result.get("established", 0), result.get("received", 0),
                                   result.get("expected", 0), result.get("missing", -1),
                                   result.get("p50_us", 0) / 1000, result.get("p99_us", 0) / 1000),
              flush=True)


if __name__ == "__main__":
    main()
