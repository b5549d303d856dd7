#!/usr/bin/python3
"""Ingest benchmark: signed transfers per second end to end against the
node's own signature-verification ceiling, measured in the same run.

Prints figures only; nothing here passes or fails.

1. Verify ceiling: build-bench/ll_verify_bench (bench/verify_bench.c) runs
   libsodium's Ed25519 verification over signing bytes of bench-shaped
   transfers on one thread per core. The node verifies each submitted
   signature once, on its HTTP workers, so this bounds ingest. Beside it,
   build-bench/ll_pow_bench (bench/pow_bench.c): proof-of-work attempts/s
   on one thread, the former libsodium way against the node's OpenSSL one.
2. End to end: a Release node at difficulty 4; S senders, M transfers each,
   signed and serialised as batches of 1000 before the clock starts, POSTed
   from a few client processes. One SSE subscriber counts the transactions
   streamed; the figure runs from the first POST to the arrival of the last
   transaction at that subscriber.
3. While the batches flow, a probe process POSTs single pre-signed transfers
   at PROBE_HZ, open loop (each from its slot in the schedule, so a stall is
   charged to every POST it delays), and times each answer (p50, p99).
4. Block timestamp -> first byte of the block event at the subscriber. The
   node stamps a block when it starts building it, before applying, proof of
   work and the fsync'd commit, so this is an upper bound of commit -> first
   byte, not that figure itself.
5. Loss across kill -9: ROUNDS x (single POSTs from 4 processes for about a
   second, kill -9, restart, wait until the mempool is empty); counts the
   transactions answered 202 that are not confirmed afterwards.

Every client is its own process (no GIL between the probe's clock and the
posters); the CPU they took is printed, and so is the node's per thread.

    /usr/bin/python3 bench/ingest.py build-bench/ledgerline [MAX_BLOCK_TXS]
"""
import http.client
import multiprocessing
import os
import re
import resource
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402

SENDERS = 8            # S
PER_SENDER = 10000     # M
POSTERS = 8            # client processes (batches in flight), SENDERS / POSTERS senders each
BATCH = 1000           # items per POST (the API's most)
MAX_BLOCK_TXS = 10000
PROBE_HZ = 50
PROBE_SENDERS = 16     # the probe's threads, one sender each
PROBE_TXS = 200        # pre-signed per probe sender: more than the load lasts
ROUNDS = 10            # kill -9 rounds
KILL_AFTER_S = 1.0
KILL_POSTERS = 4
CLIENT_QUEUE = 65536   # the subscriber must see every event to time the last one
UNCAPPED = ("--max-pending-per-sender", "100000")

FORK = multiprocessing.get_context("fork")
TX_MARK = b'data: {"type":"tx"'
BLOCK_RE = re.compile(rb'data: \{"type":"block","block":\{"height":(\d+),.*?"timestamp":([0-9.]+)')


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def fund(srv, keys, units=10**12):
    ids = [srv.post("/api/v1/faucet", json={"address": k.address, "amount": units}).json()["tx_id"]
           for k in keys]
    for tx_id in ids:
        srv.wait_confirmed(tx_id, timeout=60)


def metric(srv, name):
    return harness.parse_metrics(srv.get("/metrics").text).get(name, 0)


def sched_by_thread(pid):
    """{tid: (ns on a core, ns waiting for one)} of every thread of pid,
    from /proc/<pid>/task/<tid>/schedstat. The rest of the wall time a
    thread spent blocked: in epoll, in fsync, on a lock."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                on_cpu, waiting = f.read().split()[:2]
            out[int(tid)] = (int(on_cpu), int(waiting))
        except (OSError, ValueError):
            pass
    return out


def thread_names(tids, pid, workers):
    """Names as the node sets them (ll-ledger, ll-journal, ll-producer, ll-worker, ll-pool:
    util/thread.h), read from /proc; the main thread is pid. Workers are
    numbered by creation order."""
    names, n = {pid: "main"}, 0
    for tid in sorted(t for t in tids if t != pid):
        try:
            with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
                comm = f.read().strip()
        except OSError:
            comm = "?"
        if comm == "ll-worker":
            n += 1
            comm = "worker %d" % n
        names[tid] = {"ll-ledger": "ledger", "ll-journal": "journal writer",
                      "ll-producer": "block producer", "ll-pool": "libuv pool"}.get(comm, comm)
    return names


def rusage_cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------
# 1. The verify ceiling
# --------------------------------------------------------------------------

def verify_ceiling(binary, label="verify ceiling"):
    tool = os.path.join(os.path.dirname(binary), "ll_verify_bench")
    out = subprocess.run([tool, "--seconds", "2"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"threads=(\d+) .*per_s=(\d+)", out)
    threads, per_s = int(m.group(1)), int(m.group(2))
    print("%s: %d verifications/s (libsodium Ed25519 over the signing bytes of bench "
          "transfers, %d threads)" % (label, per_s, threads), flush=True)
    pow_tool = os.path.join(os.path.dirname(binary), "ll_pow_bench")
    if os.path.exists(pow_tool):
        out = subprocess.run([pow_tool, "--seconds", "2"], capture_output=True, text=True,
                             check=True).stdout
        m = re.search(r"difficulty=(\d+) blocks=(\d+) .*libsodium_per_s=(\d+) "
                      r"openssl_per_s=(\d+) ratio=([\d.]+)", out)
        print("%sproof of work: %s attempts/s libsodium, %s attempts/s OpenSSL = %s x (1 thread, "
              "the same %s headers at difficulty %s)"
              % (label[:len(label) - len(label.lstrip())], m.group(3), m.group(4), m.group(5),
                 m.group(2), m.group(1)), flush=True)
    return per_s


# --------------------------------------------------------------------------
# 2-4. End to end, with the probe and the subscriber
# --------------------------------------------------------------------------

def sign_batches(seed_hex, sink, count):
    """A sender's transfers 0..count-1 as pre-serialised batch bodies."""
    key = harness.Key.from_secret_hex(seed_hex)
    txs = [harness.canonical(harness.transfer(key, sink, 1, n)) for n in range(count)]
    return [b"[" + b",".join(txs[i:i + BATCH]) + b"]" for i in range(0, count, BATCH)]


def sign_singles(seed_hex, sink, count):
    key = harness.Key.from_secret_hex(seed_hex)
    return [harness.canonical(harness.transfer(key, sink, 1, n)) for n in range(count)]


def poster(port, batches, go, results):
    """POSTs its batches in order over one connection; reports the items
    admitted, the ones refused and the CPU it took."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    admitted = refused = 0
    go.wait()
    for body in batches:
        conn.request("POST", "/api/v1/transactions", body, headers)
        resp = conn.getresponse()
        text = resp.read()
        if resp.status != 200:
            refused += BATCH
            continue
        ok = text.count(b'"status":"pending"')
        admitted += ok
        refused += text.count(b'{"error":')
    conn.close()
    results.put(("poster", admitted, refused))


def probe(port, bodies_by_sender, go, stop, results):
    """Single POSTs at PROBE_HZ in all, open loop, until stop: one thread
    per sender (each sends its own nonces in order) takes every
    len(bodies_by_sender)-th slot of the schedule. A latency counts from the
    slot's time, so a POST that went out late because the previous answer
    was slow is charged for the wait (no coordinated omission)."""
    import threading
    latencies, counts, lock = [], [0, 0], threading.Lock()
    n = len(bodies_by_sender)

    def run(i, bodies, start):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        for k, body in enumerate(bodies):
            slot = start + (i + k * n) / PROBE_HZ
            pause = slot - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if stop.is_set():
                break
            conn.request("POST", "/api/v1/transactions", body, headers)
            resp = conn.getresponse()
            resp.read()
            took = time.monotonic() - slot
            with lock:
                latencies.append(took)
                counts[0 if resp.status == 202 else 1] += 1
        conn.close()

    go.wait()
    start = time.monotonic()
    threads = [threading.Thread(target=run, args=(i, b, start))
               for i, b in enumerate(bodies_by_sender)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(("probe", latencies, counts[0], counts[1]))


def subscriber(port, cookie, ready, target, results):
    """One SSE subscriber (types tx and block): counts tx events and notes
    when the last arrived, and when each block event's first byte arrived."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(("GET /api/stream?types=tx,block HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Accept: text/event-stream\r\nCookie: session=%s\r\n\r\n" % cookie).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert b" 200 " in head.split(b"\r\n")[0], head
    ready.set()
    sock.settimeout(0.2)
    seen, last_at, blocks, dropped = 0, None, [], 0
    carry, carry_at = b"", None  # an event line cut by the end of a read; its first byte's time
    while True:
        want = target.value
        if want and seen >= want:
            break
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        now = time.time()
        if not chunk:
            break
        data = carry + chunk
        n = data.count(TX_MARK)
        if n:
            seen += n
            last_at = now
        for m in BLOCK_RE.finditer(data):
            arrived = carry_at if m.start() < len(carry) else now
            blocks.append((int(m.group(1)), float(m.group(2)), arrived))
        dropped += sum(int(x) for x in re.findall(rb": dropped (\d+) events", data))
        cut = data.rfind(b"\n")
        if cut >= 0 or not carry:  # the new carry starts in this read
            carry_at = now
        carry = data[cut + 1:] if cut >= 0 else data
        # A mark already counted must not be counted again with the next read.
        if carry.startswith(b"data: "):
            if TX_MARK in carry:
                seen -= 1
            if BLOCK_RE.search(carry):
                blocks.pop()
    sock.close()
    results.put(("subscriber", seen, last_at, blocks, dropped))


def first_write_buckets(srv):
    """[(upper bound in s, cumulative count)] of the node's
    ledgerline_event_first_write_seconds histogram for SSE (the bench's
    subscriber)."""
    samples = harness.parse_metric_samples(srv.get("/metrics").text)
    return sorted((float("inf") if l["le"] == "+Inf" else float(l["le"]), v)
                  for n, l, v in samples if n == "ledgerline_event_first_write_seconds_bucket"
                  and l.get("stream") == "sse")


def histogram_quantile(before, after, q):
    """The upper bound of the bucket holding quantile q of the observations
    made between two snapshots, and how many there were."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = counts[-1][1] if counts else 0
    for le, cumulative in counts:
        if total and cumulative >= q * total:
            return le, total
    return float("nan"), total


def end_to_end(ceiling, max_block_txs):
    sink = harness.Key.generate().address
    flags = ("--dev", "--difficulty", "4", "--max-block-txs", str(max_block_txs),
             "--client-queue", str(CLIENT_QUEUE)) + UNCAPPED
    with harness.Server(*flags) as srv:
        workers = os.cpu_count()
        senders = [harness.Key.generate() for _ in range(SENDERS)]
        probe_keys = [harness.Key.generate() for _ in range(PROBE_SENDERS)]
        fund(srv, senders + probe_keys)
        t = time.perf_counter()
        with FORK.Pool(os.cpu_count()) as pool:
            per_sender = pool.starmap(sign_batches,
                                      [(k.secret_hex, sink, PER_SENDER) for k in senders])
            probe_bodies = pool.starmap(sign_singles,
                                        [(k.secret_hex, sink, PROBE_TXS) for k in probe_keys])
        print("end to end: node flags %s; %d senders x %d transfers signed and serialised as "
              "batches of %d in %.1f s, before the clock" % (" ".join(flags), SENDERS, PER_SENDER,
                                                            BATCH, time.perf_counter() - t),
              flush=True)
        cookie = harness.login(srv, "dev", "devdevdev")
        results, go, stop = FORK.Queue(), FORK.Event(), FORK.Event()
        ready, target = FORK.Event(), FORK.Value("q", 0)
        cpu_children0, cpu_self0 = (rusage_cpu(resource.RUSAGE_CHILDREN),
                                    rusage_cpu(resource.RUSAGE_SELF))
        procs = [FORK.Process(target=subscriber, args=(srv.port, cookie, ready, target, results))]
        procs[0].start()
        ready.wait(10)
        procs.append(FORK.Process(target=probe, args=(srv.port, probe_bodies, go, stop, results)))
        for i in range(POSTERS):
            # Each poster interleaves its own senders' batches, each sender in nonce order.
            mine = per_sender[i::POSTERS]
            batches = [b for group in zip(*mine) for b in group]
            procs.append(FORK.Process(target=poster, args=(srv.port, batches, go, results)))
        for p in procs[1:]:
            p.start()
        node_cpu0 = sched_by_thread(srv.proc.pid)
        hist0 = first_write_buckets(srv)
        t0 = time.time()
        go.set()
        admitted = refused = posters_done = 0
        got = {}
        while "subscriber" not in got:
            r = results.get(timeout=600)
            got[r[0]] = r
            if r[0] == "poster":
                admitted, refused, posters_done = (admitted + r[1], refused + r[2],
                                                   posters_done + 1)
                if posters_done == POSTERS:
                    posted_at = time.time()
                    stop.set()
            if posters_done == POSTERS and "probe" in got and not target.value:
                target.value = admitted + got["probe"][2]
        _, latencies, probe_admitted, probe_other = got["probe"]
        _, seen, last_at, blocks, dropped = got["subscriber"]
        node_cpu1 = sched_by_thread(srv.proc.pid)
        hist1 = first_write_buckets(srv)
        for p in procs:
            p.join()
        client_cpu = (rusage_cpu(resource.RUSAGE_CHILDREN) - cpu_children0
                      + rusage_cpu(resource.RUSAGE_SELF) - cpu_self0)
        span = last_at - t0
        rate = seen / span
        print("  %d transfers admitted (%d refused) + %d probe singles; all POSTs answered "
              "after %.2f s; last of %d streamed to the subscriber after %.2f s (%d events "
              "dropped)" % (admitted, refused, probe_admitted, posted_at - t0, seen, span,
                            dropped))
        after = verify_ceiling(harness.binary_path(), "  verify ceiling again, after the load")
        ceiling = max(ceiling, after)
        print("  end to end: %.0f signed transfers/s = %.2f x the verify ceiling (%d/s, the "
              "higher of the two)" % (rate, rate / ceiling, ceiling))
        print("  single POST under that load (%d at %d/s from %d connections, %d not 202): "
              "p50 %.2f ms, p99 %.2f ms, max %.2f ms"
              % (len(latencies), PROBE_HZ, PROBE_SENDERS, probe_other,
                 percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000,
                 max(latencies) * 1000))
        gaps = [(arrived - stamped) * 1000 for _h, stamped, arrived in blocks]
        print("  block timestamp -> first byte of its event (%d blocks; an upper bound of commit "
              "-> first byte: it includes applying, proof of work and the fsync'd commit): "
              "p50 %.1f ms, p99 %.1f ms" % (len(gaps), percentile(gaps, 50),
                                            percentile(gaps, 99)))
        (p50, n), (p99, _) = (histogram_quantile(hist0, hist1, 0.5),
                              histogram_quantile(hist0, hist1, 0.99))
        print("  commit -> first byte to a subscriber (the node's histogram "
              "ledgerline_event_first_write_seconds{stream=\"sse\"}, %d batches; bucket upper bounds): "
              "p50 <= %.2f ms, p99 <= %.2f ms" % (n, p50 * 1000, p99 * 1000))
        print("  client CPU (posters, probe, subscriber, this process): %.2f s over %.2f s "
              "= %.0f%% of one core" % (client_cpu, span, 100 * client_cpu / span))
        names = thread_names(node_cpu1, srv.proc.pid, workers)
        split = {}
        for tid, (on_cpu, waiting) in node_cpu1.items():
            before = node_cpu0.get(tid, (0, 0))
            a, b = split.get(names[tid], (0, 0))
            split[names[tid]] = (a + (on_cpu - before[0]) / 1e9, b + (waiting - before[1]) / 1e9)
        total = sum(a for a, _b in split.values())
        print("  node CPU over those %.2f s: %.2f s = %.0f%% of one core; per thread, on a core "
              "/ waiting for one (the rest: blocked): %s"
              % (span, total, 100 * total / span,
                 ", ".join("%s %.0f%% / %.0f%%" % (n, 100 * a / span, 100 * b / span)
                           for n, (a, b) in sorted(split.items(), key=lambda kv: -kv[1][0])
                           if a > 0.01)), flush=True)


# --------------------------------------------------------------------------
# 5. Loss across kill -9
# --------------------------------------------------------------------------

def single_poster(port, seed_hex, sink, results):
    """Signs and POSTs one transfer at a time, nonces 0, 1, …, until the
    node goes away; reports how many were answered 202 and the last one's
    tx_id (a sender's 202s are a prefix of its nonces)."""
    key = harness.Key.from_secret_hex(seed_hex)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    accepted, last_id, nonce = 0, None, 0
    try:
        while True:
            tx = harness.transfer(key, sink, 1, nonce)
            conn.request("POST", "/api/v1/transactions", harness.canonical(tx), headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 202:
                break
            accepted, last_id, nonce = accepted + 1, harness.tx_id_of(tx), nonce + 1
    except (OSError, http.client.HTTPException):
        pass
    results.put((key.address, accepted, last_id))


def loss_across_kill9():
    sink = harness.Key.generate().address
    with harness.Server("--dev", *UNCAPPED) as srv:
        keys = [harness.Key.generate() for _ in range(ROUNDS * KILL_POSTERS)]
        fund(srv, keys)
        answered, lost, unconfirmed_last = 0, 0, 0
        t = time.perf_counter()
        for rnd in range(ROUNDS):
            results = FORK.Queue()
            mine = keys[rnd * KILL_POSTERS:(rnd + 1) * KILL_POSTERS]
            procs = [FORK.Process(target=single_poster,
                                  args=(srv.port, k.secret_hex, sink, results)) for k in mine]
            for p in procs:
                p.start()
            time.sleep(KILL_AFTER_S)
            srv.kill9()
            got = [results.get(timeout=30) for _ in procs]
            for p in procs:
                p.join()
            srv.start()
            harness.wait_until(lambda: metric(srv, "ledgerline_mempool_transactions") == 0,
                               timeout=60, what="mempool empty after the restart")
            for address, accepted, last_id in got:
                answered += accepted
                committed_nonce = srv.get("/api/v1/accounts/" + address).json()["nonce"]
                lost += max(0, accepted - committed_nonce)
                if last_id and srv.get("/api/v1/transactions/" + last_id).json().get(
                        "status") != "confirmed":
                    unconfirmed_last += 1
        print("loss across kill -9: %d rounds x (%d processes posting single transfers for "
              "%.1f s, kill -9, restart, mempool empty) in %.1f s: %d answered 202, %d of them "
              "not confirmed after the restarts (last 202 of a sender not confirmed: %d)"
              % (ROUNDS, KILL_POSTERS, KILL_AFTER_S, time.perf_counter() - t, answered, lost,
                 unconfirmed_last), flush=True)


def main():
    if len(sys.argv) > 1:
        os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    binary = harness.require_binary()
    print("ingest bench: %s, %d cores, %s" % (binary, os.cpu_count(),
                                              time.strftime("%Y-%m-%d %H:%M:%S %Z")), flush=True)
    t = time.perf_counter()
    ceiling = verify_ceiling(binary)
    end_to_end(ceiling, int(sys.argv[2]) if len(sys.argv) > 2 else MAX_BLOCK_TXS)
    loss_across_kill9()
    print("ingest bench took %.0f s" % (time.perf_counter() - t))


if __name__ == "__main__":
    main()
