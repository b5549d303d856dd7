#!/usr/bin/python3
"""Ledgerline benchmarks: `make bench` runs this against a Release build.

Prints figures only; nothing here passes or fails. The load comes from
Debian's wrk (bench/post_loop.lua) posting transactions that were signed
before the clock started, so the figures are the node's, not the client's.

    /usr/bin/python3 bench/run.py build-bench/ledgerline
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402

DURATION_S = 5
PER_SENDER = 40000   # pre-signed per wrk connection; more than it can send in DURATION_S
BLOCK = 1000
# One wrk connection posts tens of thousands of one sender's transactions:
# lift the per-sender cap (docs/API.md §2.6) so the figure is ingest's own.
UNCAPPED = ("--max-pending-per-sender", "100000")


def fund(srv, keys, units=10**12):
    ids = [srv.post("/api/v1/faucet", json={"address": k.address, "amount": units}).json()["tx_id"]
           for k in keys]
    for tx_id in ids:
        srv.wait_confirmed(tx_id, timeout=60)


def presign(key, sink, count):
    return [harness.transfer(key, sink, 1, n) for n in range(count)]


def write_jsonl(path, txs):
    with open(path, "w") as f:
        for tx in txs:
            f.write(harness.canonical(tx).decode() + "\n")


def metric(srv, name):
    return harness.parse_metrics(srv.get("/metrics").text).get(name, 0)


def post_loop(srv, connections, sink, tmp):
    keys = [harness.Key.generate() for _ in range(connections)]
    fund(srv, keys)
    for i, k in enumerate(keys):
        write_jsonl(os.path.join(tmp, "tx_%d.jsonl" % i), presign(k, sink, PER_SENDER))
    committed_before = metric(srv, "ledgerline_transactions_committed_total")
    out = subprocess.run(
        ["wrk", "-t%d" % connections, "-c%d" % connections, "-d%ds" % DURATION_S,
         "-s", os.path.join(HERE, "post_loop.lua"), srv.url],
        env=dict(os.environ, BENCH_TX_DIR=tmp), capture_output=True, text=True, check=True).stdout
    m = re.search(r"BENCH accepted=(\d+) refused=(\d+) p50_us=(\d+) p99_us=(\d+) duration_us=(\d+)",
                  out)
    accepted, refused, p50, p99, dur = (int(x) for x in m.groups())
    secs = dur / 1e6
    print("POST loop, %d connection%s: %d accepted (202) in %.1f s = %.0f tx/s; "
          "%d refused; latency p50 %.2f ms, p99 %.2f ms"
          % (connections, "" if connections == 1 else "s", accepted, secs, accepted / secs,
             refused, p50 / 1000, p99 / 1000))
    t0 = time.perf_counter()
    harness.wait_until(lambda: metric(srv, "ledgerline_mempool_transactions") == 0, timeout=300,
                       what="mempool drained")
    committed = metric(srv, "ledgerline_transactions_committed_total") - committed_before
    print("  committed %d in blocks; mempool drained %.2f s after the load stopped"
          % (committed, time.perf_counter() - t0))


def contract_calls(sink, tmp, connections=4, per_sender=6000):
    """Calls of one counter contract: accepted per second, and committed per
    second from the first POST to the last call's block (the contract runs
    while its block is built, so the second is the contract's figure)."""
    code = open(os.path.join(HERE, "..", "examples", "contracts", "counter.lua")).read()
    with harness.Server("--dev", "--block-interval-ms", "200", *UNCAPPED) as srv:
        owner = harness.Key.generate()
        fund(srv, [owner])
        deploy = harness.sign(owner, {"kind": "deploy", "sender_pubkey": owner.pk_hex, "nonce": 0,
                                      "timestamp_ms": harness.now_ms(), "fee": 0,
                                      "code": code, "gas_limit": 1000000})
        tx_id = srv.submit_ok(deploy)
        srv.wait_confirmed(tx_id, timeout=60)
        contract = srv.get("/api/v1/receipts/" + tx_id).json()["to"]
        keys = [harness.Key.generate() for _ in range(connections)]
        fund(srv, keys)
        for i, k in enumerate(keys):
            calls = [harness.sign(k, {"kind": "call", "sender_pubkey": k.pk_hex, "nonce": n,
                                      "timestamp_ms": harness.now_ms(), "fee": 0,
                                      "to": "0x" + contract, "selector": 1, "args": [],
                                      "gas_limit": 100000})
                     for n in range(per_sender)]
            write_jsonl(os.path.join(tmp, "tx_%d.jsonl" % i), calls)
        before = metric(srv, "ledgerline_transactions_committed_total")
        t0 = time.perf_counter()
        out = subprocess.run(
            ["wrk", "-t%d" % connections, "-c%d" % connections, "-d%ds" % DURATION_S,
             "-s", os.path.join(HERE, "post_loop.lua"), srv.url],
            env=dict(os.environ, BENCH_TX_DIR=tmp), capture_output=True, text=True,
            check=True).stdout
        accepted = int(re.search(r"accepted=(\d+)", out).group(1))
        harness.wait_until(lambda: metric(srv, "ledgerline_mempool_transactions") == 0,
                           timeout=600, what="every call committed")
        dt = time.perf_counter() - t0
        committed = metric(srv, "ledgerline_transactions_committed_total") - before
        print("contract calls (counter.increment, %d senders): %d accepted in %ds; %d committed "
              "in %.1f s = %.0f calls/s" % (connections, accepted, DURATION_S, committed, dt,
                                            committed / dt))


def block_latency(sink):
    with harness.Server("--dev", "--block-interval-ms", "600000", "--max-block-txs",
                        str(BLOCK)) as srv:
        key = harness.Key.generate()
        srv.post("/api/v1/faucet", json={"address": key.address, "amount": 10**12})
        txs = presign(key, sink, BLOCK - 1)  # + the faucet grant = BLOCK pending
        s = harness.new_session()
        for tx in txs[:-1]:
            assert s.post(srv.url + "/api/v1/transactions", json=tx).status_code == 202
        t0 = time.perf_counter()
        assert s.post(srv.url + "/api/v1/transactions", json=txs[-1]).status_code == 202
        got = srv.wait_confirmed(harness.tx_id_of(txs[-1]), timeout=120)
        dt = time.perf_counter() - t0
        block = srv.get("/api/v1/blocks/%d" % got["block_height"]).json()
        print("block of %d transactions at difficulty %d (verify, PoW, fsync'd commit): "
              "visible %.0f ms after the 202 that filled it"
              % (block["tx_count"], block["difficulty"], dt * 1000))


def main():
    if len(sys.argv) > 1:
        os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    print("ledgerline bench: %s, %d cores, wrk %ds per run"
          % (os.environ.get("LEDGERLINE_BIN"), os.cpu_count(), DURATION_S))
    sink = harness.Key.generate().address
    tmp = tempfile.mkdtemp(prefix="ll-bench-")
    try:
        for connections in (1, 4):
            with harness.Server("--dev", *UNCAPPED) as srv:
                post_loop(srv, connections, sink, tmp)
        block_latency(sink)
        contract_calls(sink, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
