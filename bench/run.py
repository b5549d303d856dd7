#!/usr/bin/python3
"""Ledgerline benchmarks: `make bench` runs this against a Release build.

Prints figures only; nothing here passes or fails. Each figure names what it
measured. Transactions are signed before the clock starts, so the figures are
the node's, not Python's signing speed.

    /usr/bin/python3 bench/run.py build-bench/ledgerline
"""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402

N_SERIAL = 3000      # transactions in the single-connection POST loop
N_PARALLEL = 4       # connections in the parallel POST loop
N_PER_CONN = 1500    # transactions per parallel connection
BLOCK = 1000         # transactions in the commit-latency block


def presigned(key, recipient, count, first_nonce=0):
    return [harness.transfer(key, recipient, 1, first_nonce + i) for i in range(count)]


def fund(srv, keys, units=10**12):
    ids = []
    for k in keys:
        r = srv.post("/api/v1/faucet", json={"address": k.address, "amount": units})
        ids.append(r.json()["tx_id"])
    for tx_id in ids:
        srv.wait_confirmed(tx_id, timeout=60)


def post_all(srv, txs):
    s = harness.new_session()
    url = srv.url + "/api/v1/transactions"
    for tx in txs:
        r = s.post(url, json=tx)
        if r.status_code != 202:
            raise RuntimeError("submission refused: %d %s" % (r.status_code, r.text))
    s.close()


def bench_serial(srv, sink):
    key = harness.Key.generate()
    fund(srv, [key])
    txs = presigned(key, sink, N_SERIAL)
    t0 = time.perf_counter()
    post_all(srv, txs)
    dt = time.perf_counter() - t0
    print("post loop, 1 keep-alive connection: %d transactions accepted in %.2f s = %.0f tx/s"
          % (N_SERIAL, dt, N_SERIAL / dt))
    t1 = time.perf_counter()
    srv.wait_confirmed(harness.tx_id_of(txs[-1]), timeout=120)
    print("  all committed %.2f s after the last 202" % (time.perf_counter() - t1))


def bench_parallel(srv, sink):
    keys = [harness.Key.generate() for _ in range(N_PARALLEL)]
    fund(srv, keys)
    batches = [presigned(k, sink, N_PER_CONN) for k in keys]
    threads = [threading.Thread(target=post_all, args=(srv, b)) for b in batches]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    total = N_PARALLEL * N_PER_CONN
    print("post loop, %d connections in parallel: %d transactions in %.2f s = %.0f tx/s"
          % (N_PARALLEL, total, dt, total / dt))
    for b in batches:
        srv.wait_confirmed(harness.tx_id_of(b[-1]), timeout=120)


def bench_block_commit(srv, sink):
    key = harness.Key.generate()
    fund(srv, [key])
    txs = presigned(key, sink, BLOCK)
    post_all(srv, txs[:-1])
    last = txs[-1]
    t0 = time.perf_counter()
    srv.submit_ok(last)  # the 1000th pending transaction triggers the block
    got = srv.wait_confirmed(harness.tx_id_of(last), timeout=120)
    dt = time.perf_counter() - t0
    block = srv.get("/api/v1/blocks/%d" % got["block_height"]).json()
    print("block of %d transactions (difficulty %d): visible %.0f ms after its last 202"
          % (block["tx_count"], block["difficulty"], dt * 1000))


def main():
    if len(sys.argv) > 1:
        os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    print("ledgerline bench: %s on %d cores" % (os.environ.get("LEDGERLINE_BIN"), os.cpu_count()))
    sink = harness.Key.generate().address
    with harness.Server("--dev", "--block-interval-ms", "200", "--max-block-txs", "1000") as srv:
        bench_serial(srv, sink)
        bench_parallel(srv, sink)
        bench_block_commit(srv, sink)


if __name__ == "__main__":
    main()
