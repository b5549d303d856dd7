#!/usr/bin/python3
"""Native TLS: what it costs the node, plain HTTP and TLS side by side in one run.

Fan-out: the node with `--dev`, blocks held back as bench/vs_nchan.py runs
it, once plain and once with --tls-cert/--tls-key (a pair made by `BIN
dev-cert DIR`). N SSE subscribers (ll_stream_load, with --tls the second
time) on GET /api/stream?types=message, a stream every subscriber gets every
event; then the same M messages at RATE/s, each one event. Printed for each:
events delivered and missing, the node's CPU time (utime+stime from /proc,
over the publishing window until the client is done) and CPU µs per
delivered event, then the ratio TLS/plain.

After the TLS run, /metrics' ledgerline_tls_handshakes_total{path=...} says
which path the connections took: kernel TLS ("ktls") or OpenSSL encrypting
in user space ("userspace"). A kernel without the `tls` module
(setsockopt(TCP_ULP, "tls") fails) offers no kTLS: its row is then not
measured here, never estimated.

A block's batch: the same subscribers, BLOCK_MSGS messages, the last of
which fills a block; the node's CPU around that last message (its block
and the batch of BLOCK_MSGS `confirmed` events each stream gets, in writes
of --client-queue events), plain and TLS.

Idle: like bench/idle.py, K idle SSE streams (GET /api/stream) on a fresh
node, plain and then TLS; the node's RSS (VmRSS) before and after, in KB
per connection. Figures only, never pass/fail.

    /usr/bin/python3 bench/tls.py build-bench/ledgerline [N] [K]

N defaults to 1000 subscribers, K to 2000 idle streams. Needs ll_stream_load
next to the node binary.
"""
import errno
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import vs_nchan  # noqa: E402  (start-up, publishing and CPU sampling are the same)

IDLE = 2000
IDLE_HOLD_S = 1  # streams held open before RSS is read, as bench/idle.py does
BLOCK_MSGS = 1000  # messages of the block whose batch is measured
CLIENT_QUEUE = 64  # the node's default --client-queue: a batch is written through that many at a time
BLOCK_SETTLE_S = 2  # after the pending events of all but the last, before measuring
FANOUT_PATH = "/api/stream?types=message"
IDLE_PATH = "/api/stream"
FLAGS = ("--dev", "--block-interval-ms", "600000", "--max-block-txs", str(10 * vs_nchan.M),
         "--messages-per-user", "0", "--messages-per-ip", "0", "--stream-flush-ms", "0")
TCP_ULP = getattr(socket, "TCP_ULP", 31)  # linux/tcp.h
TLS_PATHS = ("ktls", "userspace")


class TlsServer(harness.Server):
    """harness.Server with --tls-cert/--tls-key: its URL is https:// and
    its session checks the node's certificate against the dev pair."""

    def __init__(self, cert_dir, *flags):
        self.cafile = os.path.join(cert_dir, "cert.pem")
        super().__init__(*flags, "--tls-cert", self.cafile,
                         "--tls-key", os.path.join(cert_dir, "key.pem"))

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def _wait_ready(self):
        self.session.verify = self.cafile
        super()._wait_ready()


def kernel_tls():
    """(True, "") when the kernel accepts the `tls` upper-layer protocol on
    an established TCP socket, else (False, the errno's name)."""
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        with socket.create_connection(ls.getsockname(), timeout=5) as c:
            peer, _ = ls.accept()
            with peer:
                try:
                    c.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
                    return True, ""
                except OSError as e:
                    return False, errno.errorcode.get(e.errno, str(e.errno))


def node_has_tls(binary):
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=10)
    return "--tls-cert" in out.stdout + out.stderr


def server(tls, cert_dir):
    return TlsServer(cert_dir, *FLAGS) if tls else harness.Server(*FLAGS)


def start_client(loader, port, path, n, expect, timeout_s, tls, cookie):
    argv = [loader, "--host", "127.0.0.1", "--port", str(port), "--path", path,
            "--conns", str(n), "--expect", str(expect), "--timeout", str(timeout_s),
            "--header", "Cookie: session=%s" % cookie] + (["--tls"] if tls else [])
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def end_client(client):
    if client.returncode is None:
        client.kill()
        client.wait()


def handshakes(srv):
    """{path: count} from /metrics, and the failures."""
    text = srv.get("/metrics").text
    samples = harness.parse_metric_samples(text)
    paths = {p: harness.metric_sum(samples, "ledgerline_tls_handshakes_total", path=p) or 0
             for p in TLS_PATHS}
    return paths, harness.metric_sum(samples, "ledgerline_tls_handshake_failures_total") or 0


def fanout(loader, n, tls, cert_dir):
    with server(tls, cert_dir) as srv:
        cookie = harness.login(srv, "dev", "devdevdev")
        time.sleep(0.5)  # let start-up settle, as vs_nchan does
        client = start_client(loader, srv.port, FANOUT_PATH, n, vs_nchan.M,
                              vs_nchan.CLIENT_TIMEOUT_S, tls, cookie)
        try:
            with harness.user_session(srv, cookie) as s:
                s.verify = getattr(srv, "cafile", True)

                def publish(text):
                    r = s.post(srv.url + "/api/messages", json={"to": "dev", "text": text})
                    assert r.status_code == 202, (r.status_code, r.text[:200])
                row = vs_nchan.measure("TLS" if tls else "plain", lambda: [srv.proc.pid],
                                       client, publish, n)
        finally:
            end_client(client)
        if tls:
            row["paths"], row["hs_failures"] = handshakes(srv)
        return row


def block_fanout(loader, n, tls, cert_dir):
    """One block's batch: BLOCK_MSGS messages are published (each a `pending`
    event, written at once), then the last one fills a block, whose
    BLOCK_MSGS `confirmed` message events reach every subscriber as one
    batch, written through the subscriber's ring CLIENT_QUEUE events at a
    time, gathered into 16 KiB records over TLS. The
    node's CPU is read around the last message only: its pending event,
    the block (no proof of work) and the batch. Returns (events delivered
    in that window, missing over the run, CPU us)."""
    flags = list(FLAGS)
    flags[flags.index("--max-block-txs") + 1] = str(BLOCK_MSGS)
    flags += ["--difficulty", "0"]
    srv = TlsServer(cert_dir, *flags) if tls else harness.Server(*flags)
    with srv:
        cookie = harness.login(srv, "dev", "devdevdev")
        time.sleep(0.5)
        client = start_client(loader, srv.port, FANOUT_PATH, n, 2 * BLOCK_MSGS,
                              vs_nchan.CLIENT_TIMEOUT_S, tls, cookie)
        try:
            vs_nchan.wait_ready(client)
            with harness.user_session(srv, cookie) as s:
                s.verify = getattr(srv, "cafile", True)
                for i in range(BLOCK_MSGS):
                    if i == BLOCK_MSGS - 1:
                        time.sleep(BLOCK_SETTLE_S)  # the pending events are out
                        cpu0 = vs_nchan.cpu_us([srv.proc.pid])
                    r = s.post(srv.url + "/api/messages", json={"to": "dev", "text": "b%d" % i})
                    assert r.status_code == 202, (r.status_code, r.text[:200])
            result, _ = vs_nchan.finish_client(client, time.monotonic() + vs_nchan.DRAIN_S)
            cpu1 = vs_nchan.cpu_us([srv.proc.pid])
        finally:
            end_client(client)
    return n * (BLOCK_MSGS + 1), result["missing"], cpu1 - cpu0


def idle(loader, k, tls, cert_dir):
    """(streams answered, RSS before, RSS after) in KiB."""
    with server(tls, cert_dir) as srv:
        cookie = harness.login(srv, "dev", "devdevdev")
        time.sleep(0.5)
        base = harness.rss_kib(srv.proc.pid)
        # No event comes (blocks are held back): the streams stay idle until
        # the client is ended.
        client = start_client(loader, srv.port, IDLE_PATH, k, 1, 300, tls, cookie)
        try:
            ready = dict(kv.split("=") for kv in vs_nchan.wait_ready(client))
            time.sleep(IDLE_HOLD_S)
            rss = harness.rss_kib(srv.proc.pid)
            client.send_signal(signal.SIGTERM)
            vs_nchan.finish_client(client, time.monotonic() + 10)
        finally:
            end_client(client)
        return int(ready["established"]), base, rss


def ratio(a, b):
    return "n/a" if b <= 0 else "%.2f" % (a / b)


def path_label(paths):
    used = [p for p in TLS_PATHS if paths[p] > 0]
    return "TLS/" + "+".join(used) if used else "TLS/?"


def print_fanout(r, n, label):
    print("%-14s streams %d/%d (failed %d), events %d/%d delivered (missing %d) at %.0f msg/s; "
          "latency p50 %.2f ms, p99 %.2f ms" % (
              label, r["established"], n, r["failed"], r["received"], r["expected"],
              r["missing"], r["rate"], r["p50_us"] / 1000, r["p99_us"] / 1000))
    print("%-14s server CPU %.3f s = %.2f us per delivered event" % (
        "", r["cpu_us"] / 1e6, r["cpu_per_event_us"]))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    os.environ["LEDGERLINE_BIN"] = binary
    harness.require_binary()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    k = int(sys.argv[3]) if len(sys.argv) > 3 else IDLE
    loader = os.path.join(os.path.dirname(binary), "ll_stream_load")
    if not os.access(loader, os.X_OK):
        raise SystemExit("tls: no %s (cmake --build ... --target ll_stream_load)" % loader)
    if not node_has_tls(binary):
        print("tls: this node has no --tls-cert; nothing measured")
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * max(n, k) + 1024)), hard))
    ktls, why = kernel_tls()

    tmp = tempfile.mkdtemp(prefix="ll-bench-tls-")
    cert_dir = os.path.join(tmp, "pair")
    try:
        subprocess.run([binary, "dev-cert", cert_dir], check=True, capture_output=True,
                       timeout=30)

        print("TLS vs plain: %d SSE streams, %d messages at %d/s per side; one event per "
              "message (the `pending` message event, blocks held back)" % (
                  n, vs_nchan.M, vs_nchan.RATE), flush=True)
        plain = fanout(loader, n, False, cert_dir)
        print_fanout(plain, n, "plain")
        tls = fanout(loader, n, True, cert_dir)
        label = path_label(tls["paths"])
        print_fanout(tls, n, label)
        print("%s/plain: CPU per event %s, server CPU %s" % (
            label, ratio(tls["cpu_per_event_us"], plain["cpu_per_event_us"]),
            ratio(tls["cpu_us"], plain["cpu_us"])))
        print("TLS handshakes by path (/metrics): ktls %d, userspace %d; failures %d" % (
            tls["paths"]["ktls"], tls["paths"]["userspace"], tls["hs_failures"]))
        if not ktls:
            print("kTLS: not offered by this kernel (setsockopt TCP_ULP \"tls\": %s); the kTLS "
                  "row cannot be measured here" % why)
        elif tls["paths"]["ktls"] == 0:
            print("kTLS: offered by this kernel, but the node put no connection on it")
        if ktls and tls["paths"]["userspace"] == 0:
            print("userspace TLS: every connection used kTLS; the userspace row is not "
                  "measured here")
        sys.stdout.flush()

        print("One block's batch: %d confirmed events per stream, written %d at a time "
              "(--client-queue), %d streams" % (BLOCK_MSGS, CLIENT_QUEUE, n), flush=True)
        per = {}
        for is_tls in (False, True):
            name = "TLS" if is_tls else "plain"
            events, missing, cpu = block_fanout(loader, n, is_tls, cert_dir)
            per[name] = cpu / events
            print("%-14s %d events in the window (missing %d over the run); server CPU %.3f s = "
                  "%.2f us per delivered event" % (name, events, missing, cpu / 1e6, per[name]),
                  flush=True)
        print("TLS/plain at a block's batch: CPU per event %s" % ratio(per["TLS"], per["plain"]))
        sys.stdout.flush()

        kb = {}
        for is_tls in (False, True):
            name = "TLS" if is_tls else "plain"
            answered, base, rss = idle(loader, k, is_tls, cert_dir)
            kb[name] = (rss - base) * 1024.0 / k / 1000
            print("idle %-5s SSE streams: %d opened, %d answered; node RSS %d -> %d KiB = "
                  "%.2f KB per connection" % (name, k, answered, base, rss, kb[name]), flush=True)
        print("TLS/plain: idle memory per connection %s (TLS adds %.2f KB per connection)" % (
            ratio(kb["TLS"], kb["plain"]), kb["TLS"] - kb["plain"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
