#!/usr/bin/python3
"""Fan-out against nginx + Nchan, side by side, with the same load client.

For each server: ll_stream_load opens N streams (SSE, or WebSocket with
--transport ws); once all are answered the driver publishes M messages at
RATE/s whose text holds `t=<time_ns>`; the client counts the events and
their latency (now - t). Printed per side:
streams, events received/missing, p50/p99/max latency, the server's CPU
time per delivered event (utime+stime from /proc, over the publishing window
until the client is done; nginx: master and workers) and its memory growth
per stream (VmRSS and PSS deltas; nginx: master and workers summed); then
the ratios Ledgerline/Nchan. Figures only, never pass/fail.

  Ledgerline: `--dev`, GET /api/stream?types=message with the dev session;
      POST /api/messages to itself. Each chat message yields a `pending`
      message event when admitted and a `confirmed` one when its block
      commits (API.md §5, Order). Only the `pending` one is counted
      (E = M): blocks are held back (--block-interval-ms 600000, more
      --max-block-txs than M), so each message is one event, as on Nchan.
  Nchan: nginx with bench/nchan.conf.in on a free port, its own tmpdir,
      logs and pid file; POST /pub, EventSource subscribers on /sub (E = M).
  Over WebSocket (ll_stream_load --ws: one text message is one event), the
      node's streams are GET /api/v1/streams/events?types=message with the
      same session (API.md §4.1: the same envelopes, one per frame) and
      Nchan's are `nchan_subscriber websocket` on /subws; publishing and
      the figures are the same.

    /usr/bin/python3 bench/vs_nchan.py build-bench/ledgerline [N] [W,W,...]
                                       [--transport sse|ws|sse,ws]

W: --stream-flush-ms values to run the node with (default 0; `make bench`
runs 0,5,10: the flush window's trade of latency for CPU).
--transport (anywhere on the line; default sse): the transports to compare,
one after the other, each with its own Nchan run and node runs (`make bench`
runs sse,ws).

Needs `./scripts/install-deps.sh bench` (nginx, libnginx-mod-nchan) and
ll_stream_load next to the node binary. A system nginx service, if any, is
neither used nor touched.
"""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402

M = 200          # messages published per side
RATE = 200       # per second
CLIENT_TIMEOUT_S = 120
DRAIN_S = 20     # after the last publish, how long the client may still wait
NGINX = "/usr/sbin/nginx"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def nchan_module():
    """The module's path from the package's file list (Debian's modules dir)."""
    out = subprocess.run(["dpkg", "-L", "libnginx-mod-nchan"], capture_output=True, text=True,
                         timeout=10).stdout
    for line in out.splitlines():
        if line.endswith("ngx_nchan_module.so"):
            return line.strip()
    raise SystemExit("vs_nchan: libnginx-mod-nchan is not installed "
                     "(./scripts/install-deps.sh bench)")


def children(pid):
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return found


def cpu_us(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total * 1_000_000 // CLK_TCK


def mem_kib(pids):
    """(VmRSS, PSS) summed over pids. PSS splits shared pages (nginx's shared
    memory zone is mapped by every worker) so that the sum counts them once."""
    rss = pss = 0
    for pid in pids:
        rss += harness.rss_kib(pid)
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss, pss


# Per transport: the node's stream path, Nchan's location, the client's flag.
NODE_PATH = {"sse": "/api/stream?types=message", "ws": "/api/v1/streams/events?types=message"}
NCHAN_PATH = {"sse": "/sub", "ws": "/subws"}
CLIENT_FLAGS = {"sse": [], "ws": ["--ws"]}


def start_client(loader, port, path, n, transport, headers=()):
    argv = [loader, "--host", "127.0.0.1", "--port", str(port), "--path", path,
            "--conns", str(n), "--expect", str(M), "--timeout", str(CLIENT_TIMEOUT_S)]
    argv += CLIENT_FLAGS[transport]
    for h in headers:
        argv += ["--header", h]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(client):
    """The client's `ready established=.. failed=..` line (stderr)."""
    while True:
        line = client.stderr.readline()
        if not line:
            raise RuntimeError("ll_stream_load exited before its streams were up")
        if line.startswith("ready "):
            return line.split()[1:]


def finish_client(client, deadline):
    """Waits for the client (SIGTERM at the deadline: it then prints what it
    has); returns its result line as a dict and its CPU time in µs."""
    while time.monotonic() < deadline:
        pid, status, ru = os.wait4(client.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.01)
    else:
        client.send_signal(signal.SIGTERM)
        pid, status, ru = os.wait4(client.pid, 0)
    client.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    out = client.stdout.read()
    err = client.stderr.read()
    if err.strip():
        print("  client: %s" % err.strip().replace("\n", "; "))
    fields = dict(kv.split("=", 1) for kv in out.split())
    return {k: int(v) for k, v in fields.items()}, int((ru.ru_utime + ru.ru_stime) * 1e6)


def measure(side, server_pids, client, publish, n):
    """Common to both sides: ready, then publish, sampling CPU and memory."""
    pids = server_pids()
    mem_base = mem_kib(pids)
    ready = wait_ready(client)
    pids = server_pids()
    mem_peak = mem_kib(pids)
    cpu0 = cpu_us(pids)
    t0 = time.monotonic()
    for i in range(M):
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publish("bench t=%d i=%d" % (time.time_ns(), i))
        if i % 20 == 19:
            mem_peak = tuple(max(a, b) for a, b in zip(mem_peak, mem_kib(pids)))
    rate = M / max(time.monotonic() - t0, 1e-9)
    result, client_cpu = finish_client(client, time.monotonic() + DRAIN_S)
    cpu1 = cpu_us(server_pids())
    mem_peak = tuple(max(a, b) for a, b in zip(mem_peak, mem_kib(server_pids())))
    delivered = max(result["received"], 1)
    row = dict(result)
    row.update(side=side, ready=" ".join(ready), rate=rate, cpu_us=cpu1 - cpu0,
               cpu_per_event_us=(cpu1 - cpu0) / delivered, client_cpu_us=client_cpu,
               rss_per_conn_kib=(mem_peak[0] - mem_base[0]) / n,
               pss_per_conn_kib=(mem_peak[1] - mem_base[1]) / n)
    return row


def run_ledgerline(loader, n, transport, flush_ms=0):
    flags = ("--dev", "--block-interval-ms", "600000", "--max-block-txs", str(10 * M),
             "--messages-per-user", "0", "--messages-per-ip", "0",
             "--stream-flush-ms", str(flush_ms))
    with harness.Server(*flags) as srv:
        cookie = harness.login(srv, "dev", "devdevdev")
        time.sleep(0.5)  # let start-up settle before the memory baseline
        client = start_client(loader, srv.port, NODE_PATH[transport], n, transport,
                              ["Cookie: session=%s" % cookie])
        try:
            with harness.user_session(srv, cookie) as s:
                def publish(text):
                    r = s.post(srv.url + "/api/messages", json={"to": "dev", "text": text})
                    assert r.status_code == 202, (r.status_code, r.text[:200])
                return measure("ledgerline", lambda: [srv.proc.pid], client, publish, n)
        finally:
            if client.returncode is None:
                client.kill()
                client.wait()


def write_conf(tmp, port, n):
    with open(os.path.join(HERE, "nchan.conf.in")) as f:
        conf = f.read()
    values = {"NCHAN_MODULE": nchan_module(), "WORKERS": str(os.cpu_count() or 2),
              "NOFILE": str(2 * n + 1024), "WORKER_CONNECTIONS": str(n + 1024),
              "TMP": tmp, "PORT": str(port)}
    for k, v in values.items():
        conf = conf.replace("@%s@" % k, v)
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def wait_port(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_nginx(proc, workers):
    """SIGTERM to the master (fast shutdown), then SIGKILL to anything left,
    each by its pid."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_nchan(loader, n, transport):
    if not os.access(NGINX, os.X_OK):
        raise SystemExit("vs_nchan: no %s (./scripts/install-deps.sh bench)" % NGINX)
    tmp = tempfile.mkdtemp(prefix="ll-vs-nchan-")
    os.chmod(tmp, 0o755)  # workers may run as another user; they read nothing here
    nginx = client = None
    workers = set()
    try:
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = harness.free_port()
            conf = write_conf(tmp, port, n)
            nginx = subprocess.Popen(
                [NGINX, "-p", tmp + "/", "-c", conf, "-e", os.path.join(tmp, "error.log"),
                 "-g", "daemon off; pid %s;" % os.path.join(tmp, "nginx.pid")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(tmp, "stderr.log"), "wb"))
            if wait_port(port, nginx, time.monotonic() + 10):
                break
            stop_nginx(nginx, [])
            nginx = None
        if nginx is None:
            with open(os.path.join(tmp, "error.log"), errors="replace") as f:
                raise SystemExit("vs_nchan: nginx did not start:\n" + f.read()[-4000:])

        def server_pids():
            kids = children(nginx.pid)
            workers.update(kids)
            return [nginx.pid] + kids

        server_pids()
        time.sleep(0.5)
        client = start_client(loader, port, NCHAN_PATH[transport], n, transport)
        pub = requests.Session()
        url = "http://127.0.0.1:%d/pub" % port

        def publish(text):
            r = pub.post(url, data=text.encode(), timeout=10,
                         headers={"Content-Type": "text/plain"})
            assert r.status_code in (200, 201, 202), (r.status_code, r.text[:200])

        try:
            return measure("nchan", server_pids, client, publish, n)
        finally:
            pub.close()
    finally:
        if client is not None and client.returncode is None:
            client.kill()
            client.wait()
        if nginx is not None:
            stop_nginx(nginx, workers)
        shutil.rmtree(tmp, ignore_errors=True)


def print_row(r, n):
    print("%-10s streams %d/%d (failed %d), events %d/%d (missing %d) at %.0f msg/s; "
          "latency p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (
              r["side"], r["established"], n, r["failed"], r["received"], r["expected"],
              r["missing"], r["rate"], r["p50_us"] / 1000, r["p99_us"] / 1000,
              r["max_us"] / 1000))
    print("%-10s server CPU %.0f ms = %.2f us per delivered event; client CPU %.0f ms; "
          "memory per stream: RSS %.1f KiB, PSS %.1f KiB" % (
              "", r["cpu_us"] / 1000, r["cpu_per_event_us"], r["client_cpu_us"] / 1000,
              r["rss_per_conn_kib"], r["pss_per_conn_kib"]))


def ratio(a, b):
    return "n/a" if b <= 0 else "%.2f" % (a / b)


def parse_args(argv):
    """(positional arguments, transports): --transport LIST or --transport=LIST
    may stand anywhere, so the old command lines keep their meaning."""
    args, transports = [], ["sse"]
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--transport" or a.startswith("--transport="):
            if a == "--transport":
                i += 1
                if i == len(argv):
                    raise SystemExit(__doc__)
                a = argv[i]
            transports = a.split("=", 1)[-1].split(",")
            if not transports or any(t not in NODE_PATH for t in transports):
                raise SystemExit("vs_nchan: --transport takes sse, ws or sse,ws\n" + __doc__)
        else:
            args.append(a)
        i += 1
    return args, transports


def compare(loader, n, windows, transport):
    print("fan-out vs Nchan over %s: %d streams, %d messages at %d/s per side; one event per "
          "message (Ledgerline: the `pending` message event, blocks held back)" % (
              transport.upper(), n, M, RATE))
    nc = run_nchan(loader, n, transport)
    print_row(nc, n)
    for w in windows:
        ll = run_ledgerline(loader, n, transport, w)
        if w:
            print("(--stream-flush-ms %d)" % w)
        print_row(ll, n)
        print("Ledgerline/Nchan: CPU per event %s, RSS per stream %s, PSS per stream %s, "
              "p50 latency %s, p99 latency %s" % (
                  ratio(ll["cpu_per_event_us"], nc["cpu_per_event_us"]),
                  ratio(ll["rss_per_conn_kib"], nc["rss_per_conn_kib"]),
                  ratio(ll["pss_per_conn_kib"], nc["pss_per_conn_kib"]),
                  ratio(ll["p50_us"], nc["p50_us"]), ratio(ll["p99_us"], nc["p99_us"])))


def main():
    args, transports = parse_args(sys.argv[1:])
    if not args:
        raise SystemExit(__doc__)
    os.environ["LEDGERLINE_BIN"] = os.path.abspath(args[0])
    n = int(args[1]) if len(args) > 1 else 1000
    windows = [int(w) for w in args[2].split(",")] if len(args) > 2 else [0]
    loader = os.path.join(os.path.dirname(os.path.abspath(args[0])), "ll_stream_load")
    if not os.access(loader, os.X_OK):
        raise SystemExit("vs_nchan: no %s (cmake --build ... --target ll_stream_load)" % loader)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * n + 1024)), hard))
    for transport in transports:
        compare(loader, n, windows, transport)


if __name__ == "__main__":
    main()
