#!/usr/bin/python3
"""Fan-out benchmark: one block of BLOCK transactions delivered to N SSE
subscribers. Prints how long until the last subscriber has every event of
the block, and the events per second that makes.

    /usr/bin/python3 bench/fanout.py build-bench/ledgerline [N]
"""
import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402

BLOCK = 1000


async def subscriber(host, port, cookie, want, started, done_at, ready):
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(("GET /api/stream HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                  "Cookie: session=%s\r\n\r\n" % (host, port, cookie)).encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    ready.set_result(True) if not ready.done() else None
    seen = 0
    tail = b""
    while seen < want:
        chunk = await reader.read(1 << 16)
        if not chunk:
            raise RuntimeError("stream closed after %d events" % seen)
        data = tail + chunk
        if not started and b"id: " in data:  # the block's first event, not the retry hint
            started.append(time.perf_counter())
        seen += data.count(b"\nid: ") + data.startswith(b"id: ")
        tail = data[-6:]
        seen -= tail.count(b"\nid: ")  # counted again with the next chunk
    done_at.append(time.perf_counter())
    writer.close()


async def run(srv, n):
    s = harness.new_session()
    r = s.post(srv.url + "/api/login", json={"username": "dev", "password": "devdevdev"})
    cookie = r.cookies["session"]
    senders = [harness.Key.generate() for _ in range(10)]
    for k in senders:
        srv.post("/api/v1/faucet", json={"address": k.address, "amount": 10**12})
    # The faucet grants and the transfers fill exactly one block: grants +
    # transfers = BLOCK, and the last submission triggers it.
    per = (BLOCK - len(senders)) // len(senders)
    txs = [harness.transfer(k, senders[0].address, 1, i) for k in senders for i in range(per)]
    host, port = "127.0.0.1", int(srv.url.rsplit(":", 1)[1])
    want = 1 + BLOCK  # the block event and one tx event per transaction
    started, done_at = [], []
    readies = [asyncio.get_running_loop().create_future() for _ in range(n)]
    tasks = [asyncio.create_task(subscriber(host, port, cookie, want, started, done_at, readies[i]))
             for i in range(n)]
    await asyncio.gather(*readies)
    for tx in txs:
        assert s.post(srv.url + "/api/v1/transactions", json=tx).status_code == 202
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    span = max(done_at) - started[0]
    total = n * want
    print("fan-out: %d SSE subscribers x %d events (one block of %d): last subscriber done "
          "%.0f ms after the first byte; %.0f events/s delivered"
          % (n, want, BLOCK, span * 1000, total / span))
    samples = harness.parse_metric_samples(srv.get("/metrics").text)
    dropped = harness.metric_sum(samples, "ledgerline_stream_events_dropped_total")
    deepest = harness.metric_sum(samples, "ledgerline_stream_queue_high_water")
    print("  dropped %d, deepest queue %d" % (-1 if dropped is None else dropped,
                                             -1 if deepest is None else deepest))


def raise_fd_limit(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main():
    if len(sys.argv) > 1:
        os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    raise_fd_limit(n)
    with harness.Server("--dev", "--block-interval-ms", "600000", "--max-block-txs",
                        str(BLOCK)) as srv:
        asyncio.run(run(srv, n))


if __name__ == "__main__":
    main()
