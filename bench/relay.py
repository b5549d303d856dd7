#!/usr/bin/python3
"""Relays on NATS JetStream against the node alone, in one run.

    /usr/bin/python3 bench/relay.py build-bench/ledgerline [N] [BLOCKS]

1. Feeding NATS: the node's CPU for 4 x BLOCKS blocks of 1000 transfers with
   no subscriber, without --nats and with it (a nats-server on a free
   port); the difference per event is what feeding the stream costs.
2. Fan-out: the same blocks delivered to 2N WebSocket subscribers of
   /api/v1/streams/valid_tx (one frame per committed transaction), first
   all on the node alone, then N on each of two relays fed by the node
   through NATS. Printed: events delivered per second (from the first
   batch POST until the load client has every event) and the servers'
   CPU per delivered event (utime + stime from /proc: the node; the node,
   both relays and nats-server).

3. Failover: 100 SSE clients of /api/stream on one relay while blocks of
   1000 land; the relay is killed (SIGKILL) and each client reconnects to
   the other relay with its Last-Event-ID. Printed: the time from the kill
   until each client holds every event committed before it, and the gaps
   and repeats seen across the switch.

Figures only, never pass/fail. Needs ll_stream_load next to the node
binary and nats-server (scripts/install-deps.sh).
"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
import natsutil  # noqa: E402

BLOCK = 1000
SENDERS = 10
FAILOVER_CLIENTS = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODE_FLAGS = ("--dev", "--block-interval-ms", "200", "--max-block-txs", str(BLOCK), "--difficulty", "1")


def cpu_us(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * 1_000_000 // CLK_TCK


class Relay:
    """`ledgerline relay` on a free port; stopped by pid."""

    def __init__(self, binary, nats_url):
        self.port = harness.free_port()
        self.log = open(os.devnull, "wb")
        self.proc = subprocess.Popen(
            [binary, "relay", "--listen", "127.0.0.1:%d" % self.port, "--nats", nats_url],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=harness.child_env())
        harness.wait_until(lambda: self._healthy(), timeout=20, what="relay up")

    def _healthy(self):
        try:
            return harness.requests.get("http://127.0.0.1:%d/healthz" % self.port,
                                        timeout=1).status_code == 200
        except harness.requests.RequestException:
            return False

    def last_event_id(self):
        text = harness.requests.get("http://127.0.0.1:%d/metrics" % self.port, timeout=5).text
        return int(harness.parse_metrics(text).get("ledgerline_relay_last_event_id", 0))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def signed_blocks(srv, blocks):
    """BLOCKS lists of BLOCK signed transfers (SENDERS funded keys)."""
    keys = [harness.Key.generate() for _ in range(SENDERS)]
    base = committed(srv)
    for k in keys:
        r = srv.session.post(srv.url + "/api/v1/faucet", json={"address": k.address,
                                                                "amount": 10**12}, timeout=10)
        assert r.status_code in (200, 202), r.text
    harness.wait_until(lambda: committed(srv) >= base + SENDERS, timeout=30,
                       what="faucet grants committed")
    per = BLOCK // SENDERS
    return [[harness.transfer(k, keys[0].address, 1, b * per + i) for k in keys
             for i in range(per)] for b in range(blocks)]


def submit_all(srv, blocks):
    for txs in blocks:
        r = srv.session.post(srv.url + "/api/v1/transactions", json=txs, timeout=60)
        assert r.status_code == 202 or r.status_code == 200, (r.status_code, r.text[:200])


def committed(srv):
    text = srv.session.get(srv.url + "/metrics", timeout=5).text
    return int(harness.parse_metrics(text).get("ledgerline_transactions_committed_total", 0))


def thread_cpu_us(pid, name):
    """utime + stime of the process's threads called name."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() != name:
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total * 1_000_000 // CLK_TCK


def metric(srv, name):
    text = srv.session.get(srv.url + "/metrics", timeout=5).text
    return int(harness.parse_metrics(text).get(name, 0))


def feed_cost(blocks_n):
    """Node CPU for the blocks without and with --nats (no subscribers)."""
    out = {}
    for mode in ("plain", "nats"):
        with natsutil.NatsServer() as nats:
            flags = NODE_FLAGS + (("--nats", nats.url) if mode == "nats" else ())
            with harness.Server(*flags) as srv:
                blocks = signed_blocks(srv, blocks_n)
                base = committed(srv)
                cpu0 = cpu_us([srv.proc.pid])
                submit_all(srv, blocks)
                harness.wait_until(lambda: committed(srv) >= base + BLOCK * blocks_n,
                                   timeout=120, what="blocks committed")
                if mode == "nats":
                    harness.wait_until(lambda: metric(srv, "ledgerline_nats_stream_seq") ==
                                       metric(srv, "ledgerline_event_last_id"), timeout=60,
                                       what="the stream holds every event")
                    out["thread"] = thread_cpu_us(srv.proc.pid, "ll-nats")
                out[mode] = cpu_us([srv.proc.pid]) - cpu0
    return out, blocks_n * (BLOCK + 1)  # a block event and a tx event per transfer


def load(loader, port, n, expect):
    argv = [loader, "--ws", "--host", "127.0.0.1", "--port", str(port), "--path",
            "/api/v1/streams/valid_tx", "--conns", str(n), "--expect", str(expect),
            "--timeout", "300"]
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = client.stderr.readline()
        if not line:
            raise RuntimeError("ll_stream_load exited before its streams were up")
        if line.startswith("ready "):
            return client


def finish(client):
    out, err = client.communicate(timeout=320)
    return {k: int(v) for k, v in (kv.split("=", 1) for kv in out.split())}


def fanout(binary, loader, n, blocks_n):
    rows = {}
    expect = blocks_n * BLOCK
    for mode in ("node", "relays"):
        with natsutil.NatsServer() as nats:
            with harness.Server(*(NODE_FLAGS + ("--nats", nats.url))) as srv:
                blocks = signed_blocks(srv, blocks_n)
                relays = [Relay(binary, nats.url), Relay(binary, nats.url)] \
                    if mode == "relays" else []
                try:
                    ports = [r.port for r in relays] or [srv.port, srv.port]
                    clients = [load(loader, p, n, expect) for p in ports]
                    pids = [srv.proc.pid] + [r.proc.pid for r in relays] + [nats.proc.pid]
                    cpu0 = cpu_us(pids)
                    t0 = time.perf_counter()
                    submit_all(srv, blocks)
                    results = [finish(c) for c in clients]
                    elapsed = time.perf_counter() - t0
                    cpu = cpu_us(pids) - cpu0
                    node_cpu = cpu_us([srv.proc.pid])
                finally:
                    for r in relays:
                        r.stop()
                received = sum(r["received"] for r in results)
                rows[mode] = dict(received=received, missing=sum(r["missing"] for r in results),
                                  failed=sum(r["failed"] for r in results), elapsed=elapsed,
                                  rate=received / elapsed, cpu_per_event=cpu / max(received, 1),
                                  node_cpu=node_cpu)
    return rows


async def failover_client(state, ports, cookie, target, t_kill, done):
    """An SSE client of /api/stream: on relay A until it dies, then on relay
    B with its Last-Event-ID. Records ids (gaps and repeats) and when it
    first holds every event up to target (committed before the kill)."""
    import asyncio
    last = None
    for port in ports:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        except OSError:
            continue
        resume = "Last-Event-ID: %d\r\n" % last if last is not None else ""
        if last is not None:  # switching: how far behind the kill it was
            state["behind"].append(max(target[0] - last, 0))
        writer.write(("GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Accept: text/event-stream\r\nCookie: session=%s\r\n%s\r\n"
                      % (port, cookie, resume)).encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n")[0]:
                state["refused"] += 1
                continue
            if last is None:
                state["ready"] += 1
            elif last >= target[0] and not done.done():  # nothing to catch up
                done.set_result(time.perf_counter() - t_kill[0])
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line.startswith(b"id: "):
                    seq = int(line[4:])
                    if port != ports[0] and not state["switched"].get(id(done)):
                        state["switched"][id(done)] = True
                        state["reconnect"].append(time.perf_counter() - t_kill[0])
                    if last is not None and seq != last + 1:
                        state["gaps" if seq > last + 1 else "repeats"] += 1
                    last = seq
                    if port != ports[0] and seq >= target[0] and not done.done():
                        done.set_result(time.perf_counter() - t_kill[0])
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
    state["last"].append(last)  # noqa: the record of where each ended


def failover(binary, clients_n):
    """Time from kill -9 of a relay to its clients holding, on the other
    relay, every event committed before the kill."""
    import asyncio
    import threading
    with natsutil.NatsServer() as nats:
        with harness.Server(*(NODE_FLAGS + ("--nats", nats.url))) as srv:
            blocks = signed_blocks(srv, 20)
            cookie = harness.login(srv, "dev", "devdevdev")
            relay_a, relay_b = Relay(binary, nats.url), Relay(binary, nats.url)
            stop = threading.Event()

            def produce():  # a block of 1000 transfers about every 200 ms
                for txs in blocks:
                    if stop.is_set():
                        return
                    submit_all(srv, [txs])
                    time.sleep(0.2)

            state = {"ready": 0, "refused": 0, "gaps": 0, "repeats": 0, "last": [],
                     "behind": [], "reconnect": [], "switched": {}}
            target, t_kill = [0], [0.0]

            async def run():
                loop = asyncio.get_running_loop()
                dones = [loop.create_future() for _ in range(clients_n)]
                tasks = [asyncio.create_task(failover_client(
                    state, [relay_a.port, relay_b.port], cookie, target, t_kill, d))
                    for d in dones]
                while state["ready"] < clients_n:
                    await asyncio.sleep(0.05)
                producer = threading.Thread(target=produce)
                producer.start()
                await asyncio.sleep(1.5)  # events flowing
                t_kill[0] = time.perf_counter()
                target[0] = metric(srv, "ledgerline_event_last_id")
                relay_a.proc.kill()
                times = await asyncio.wait_for(asyncio.gather(*dones), 120)
                stop.set()
                await loop.run_in_executor(None, producer.join)
                relay_b.stop()
                await asyncio.wait_for(asyncio.gather(*tasks), 60)
                return times

            try:
                times = asyncio.run(run())
            finally:
                stop.set()
                relay_a.proc.wait()
                relay_b.stop()
            return times, state


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    os.environ["LEDGERLINE_BIN"] = binary
    loader = os.path.join(os.path.dirname(binary), "ll_stream_load")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    blocks_n = int(sys.argv[3]) if len(sys.argv) > 3 else 10

    cpu, events = feed_cost(4 * blocks_n)
    print("relay: feeding NATS, %d blocks of %d transfers (%d events), node CPU:" %
          (4 * blocks_n, BLOCK, events))
    print("  without --nats %.3f s, with --nats %.3f s: %.2f us more per event "
          "(/proc counts 10 ms ticks); the feed thread (ll-nats) alone: %.3f s, %.2f us per event"
          % (cpu["plain"] / 1e6, cpu["nats"] / 1e6, (cpu["nats"] - cpu["plain"]) / events,
             cpu["thread"] / 1e6, cpu["thread"] / events))

    times, st = failover(binary, FAILOVER_CLIENTS)
    times.sort()
    rec = sorted(st["reconnect"])
    behind = sorted(st["behind"])
    print("relay: kill -9 of a relay with %d SSE clients while blocks of 1000 land; each "
          "reconnects to the other relay with its Last-Event-ID:" % FAILOVER_CLIENTS)
    print("  first event from the other relay after p50 %.0f ms, max %.0f ms; events the "
          "clients still lacked at the kill p50 %d, max %d" % (
              rec[len(rec) // 2] * 1e3, rec[-1] * 1e3, behind[len(behind) // 2], behind[-1]))
    print("  every event committed before the kill held again after p50 %.0f ms, max %.0f ms; "
          "gaps %d, repeats %d (the Python clients read about 0.5M lines/s in all)" % (
              times[len(times) // 2] * 1e3, times[-1] * 1e3, st["gaps"], st["repeats"]))

    rows = fanout(binary, loader, n, blocks_n)
    print("relay: %d blocks of %d transfers to %d WebSocket subscribers of valid_tx" %
          (blocks_n, BLOCK, 2 * n))
    for mode, label in (("node", "node alone, %d subscribers" % (2 * n)),
                        ("relays", "2 relays x %d subscribers" % n)):
        r = rows[mode]
        print("  %-32s %9.0f events/s delivered (%d received, %d missing, %d failed streams), "
              "%.2f us server CPU per event" % (label, r["rate"], r["received"], r["missing"],
                                                r["failed"], r["cpu_per_event"]))
    print("  relays / node alone: %.2f x the delivery rate, %.2f x the CPU per event" % (
        rows["relays"]["rate"] / rows["node"]["rate"],
        rows["relays"]["cpu_per_event"] / rows["node"]["cpu_per_event"]))


if __name__ == "__main__":
    main()
