"""NATS helpers of the integration tests: nats-server processes and the
JetStream stream reader ll_nats_dump (tests/tools/nats_dump.c; Debian has
no Python NATS client). The node relays its event log to a JetStream
stream (docs/API.md, Relays); tests read that stream back with these.

* NatsServer   -- one nats-server on free 127.0.0.1 ports (client and
                  monitoring), JetStream in a temporary store directory,
                  from a generated config file. Waits until the client port
                  accepts and /healthz answers 200 (JetStream ready);
                  stop() (SIGINT, checked), kill() (SIGKILL), restart() on
                  the same ports and store directory.
* NatsCluster  -- `size` such servers routed into one cluster, each with its
                  own store; .urls for --nats; kill(i)/restart(i); waits
                  until every running server sees the JetStream meta leader.
* dump_stream, stream_info -- run ll_nats_dump and parse its JSON lines;
  create_stream, publish, delete_msg -- its tooling-only modes.
* Relay        -- `ledgerline relay --nats URLS` on a free port: waits for
                  /healthz, stop() (SIGTERM: exit 0 and no sanitizer report
                  checked), kill9(); NatsServer.client_names() tells which
                  server a relay or the node is connected to.

    with natsutil.NatsServer() as nats:
        with H.Server("--dev", "--nats", nats.url) as srv:
            ...
            d = natsutil.dump_stream(nats.url)          # stream LEDGERLINE
            assert d.msg_ids == [str(s) for s in seqs]

Processes follow harness.py's rules: each is started from the main thread
and dies with the test process (PR_SET_PDEATHSIG), is listed for the atexit
last-resort kill, and is stopped by its pid.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

import harness as H

NATS_START_DEADLINE_S = 20
NATS_STOP_DEADLINE_S = 15
CLUSTER_READY_DEADLINE_S = 30  # meta leader election, a restarted server catching up
DUMP_TIMEOUT_S = 30            # ll_nats_dump --timeout-s: its whole run

# ll_nats_dump's exit codes
EXIT_NO_STREAM = 3
EXIT_OUT_OF_TIME = 4


# --------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------

def nats_server_binary():
    """nats-server: Debian installs it in /usr/sbin, which a user's PATH
    may lack; else whatever PATH finds."""
    for path in ("/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("nats-server")
    if not found:
        raise AssertionError("no nats-server: run ./scripts/install-deps.sh")
    return found


def dump_tool():
    """ll_nats_dump: $LL_NATS_DUMP (CTest sets it), else next to the node
    binary ($LEDGERLINE_BIN), as the bench scripts find ll_stream_load."""
    path = os.environ.get("LL_NATS_DUMP") or os.path.join(os.path.dirname(H.binary_path()),
                                                          "ll_nats_dump")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("no executable ll_nats_dump at %s: build the ll_nats_dump target "
                             "next to the node, or point LL_NATS_DUMP at it" % path)
    return path


# --------------------------------------------------------------------------
# ll_nats_dump
# --------------------------------------------------------------------------

class NatsToolError(AssertionError):
    """ll_nats_dump failed; .rc is its exit code, .stderr what it said."""

    def __init__(self, message, rc=None, stderr=""):
        super().__init__(message)
        self.rc = rc
        self.stderr = stderr


class StreamNotFound(NatsToolError):
    pass


class NatsUnreachable(NatsToolError):
    """No answer within the tool's timeout: no server reachable, or
    JetStream never became available (no leader)."""


def _urls(urls):
    return urls if isinstance(urls, str) else ",".join(urls)


def run_tool(urls, *args, timeout_s=DUMP_TIMEOUT_S):
    """Runs `ll_nats_dump --nats URLS --timeout-s T ARGS` and returns its
    stdout lines parsed as JSON. Raises StreamNotFound, NatsUnreachable or
    NatsToolError on a non-zero exit, and fails on a sanitizer report."""
    argv = [dump_tool(), "--nats", _urls(urls), "--timeout-s", str(timeout_s)] + \
        [str(a) for a in args]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=H.child_env(),
                            preexec_fn=H._die_with_parent)
    H._live.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout_s + 15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise NatsToolError("ll_nats_dump outlived its --timeout-s %s: %s" % (timeout_s, argv))
    finally:
        H._live.discard(proc)
    err = err.decode("utf-8", "replace")
    found = H.sanitizer_findings(err)
    if found:
        raise AssertionError("ll_nats_dump: sanitizer report (%s)\n%s" % (", ".join(found), err))
    if proc.returncode != 0:
        cls = {EXIT_NO_STREAM: StreamNotFound, EXIT_OUT_OF_TIME: NatsUnreachable}.get(
            proc.returncode, NatsToolError)
        raise cls("ll_nats_dump %s exited with %d: %s" % (" ".join(argv[1:]), proc.returncode,
                                                           err.strip()[-2000:]),
                  proc.returncode, err)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


class StreamDump:
    """What dump_stream read: .messages (dicts with stream_seq, subject,
    msg_id, headers, data) in stream order, and .end (messages, first_seq,
    last_seq from the stream info read first; printed; truncated)."""

    def __init__(self, messages, end):
        self.messages = messages
        self.end = end

    @property
    def msg_ids(self):
        return [m["msg_id"] for m in self.messages]

    @property
    def seqs(self):
        return [m["stream_seq"] for m in self.messages]

    def envelopes(self):
        """Each message's data parsed as JSON (the node's envelopes)."""
        return [json.loads(m["data"]) for m in self.messages]


def dump_stream(urls, stream="LEDGERLINE", from_seq=None, max_msgs=None,
                timeout_s=DUMP_TIMEOUT_S):
    """Every message of the stream (from from_seq, at most max_msgs) in
    stream order: a StreamDump. urls: a URL, a comma-joined list or a list."""
    args = ["--stream", stream]
    if from_seq is not None:
        args += ["--from-seq", from_seq]
    if max_msgs is not None:
        args += ["--max", max_msgs]
    lines = run_tool(urls, *args, timeout_s=timeout_s)
    if not lines or lines[-1].get("end") is not True:
        raise NatsToolError("ll_nats_dump printed no end line: %r" % lines[-3:])
    end = lines.pop()
    assert all("stream_seq" in m for m in lines), lines
    assert end["printed"] == len(lines), (end, len(lines))
    return StreamDump(lines, end)


def stream_info(urls, stream="LEDGERLINE", missing_ok=False, timeout_s=DUMP_TIMEOUT_S):
    """{"name", "config": {subjects, storage, replicas, retention, …},
    "state": {messages, first_seq, last_seq, …}, "cluster": {name, leader,
    replicas} or None}; None for a missing stream when missing_ok."""
    try:
        (info,) = run_tool(urls, "--stream", stream, "--info", timeout_s=timeout_s)
    except StreamNotFound:
        if missing_ok:
            return None
        raise
    return info


def create_stream(urls, name, subjects, replicas=1, storage="file", timeout_s=DUMP_TIMEOUT_S):
    """Creates a stream (for the tooling's own tests); returns its info."""
    (info,) = run_tool(urls, "--create-stream", name, "--subjects", ",".join(subjects),
                       "--replicas", replicas, "--storage", storage, timeout_s=timeout_s)
    return info


def publish(urls, subject, data, msg_id=None, timeout_s=DUMP_TIMEOUT_S):
    """Publishes through JetStream; returns the ack {stream, seq, duplicate}."""
    args = ["--publish", subject, "--data", data]
    if msg_id is not None:
        args += ["--msg-id", msg_id]
    (ack,) = run_tool(urls, *args, timeout_s=timeout_s)
    return ack


def delete_msg(urls, stream, seq, timeout_s=DUMP_TIMEOUT_S):
    run_tool(urls, "--stream", stream, "--delete-seq", seq, timeout_s=timeout_s)


# --------------------------------------------------------------------------
# nats-server
# --------------------------------------------------------------------------

def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


_ExitedEarly = H._ExitedEarly  # one kind of early exit for every process helper


class NatsServer(H.ManagedProcess):
    """One nats-server process at a time on ports and a store directory
    that live until cleanup(). A context manager: start on enter; stop
    (checked) and cleanup on exit.

        with NatsServer() as nats:
            node flags: "--nats", nats.url
            nats.kill(); nats.restart()   # same URL, same stored messages
    """

    def __init__(self, jetstream=True, name="nats", root=None, cluster=None):
        self.jetstream = jetstream
        self.name = name
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="ledgerline-nats-")
        os.makedirs(self.root, exist_ok=True)
        self.store_dir = os.path.join(self.root, "jetstream")
        self.cluster = cluster  # set by NatsCluster: {"name", "port", "routes"}
        self.port = None
        self.http_port = None
        self.proc = None
        self.runs = 0
        self.log_path = None
        self.session = H.new_session()

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    @property
    def monitor_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def pick_ports(self):
        self.port, self.http_port = H.free_port(), H.free_port()

    def _config(self):
        lines = ['server_name: "%s"' % self.name,
                 'listen: "127.0.0.1:%d"' % self.port,
                 'http: "127.0.0.1:%d"' % self.http_port]
        if self.jetstream:
            # Limits only bound what a test may reserve on a shared machine.
            lines += ["jetstream {", '  store_dir: "%s"' % self.store_dir,
                      "  max_memory_store: 256MB", "  max_file_store: 1GB", "}"]
        if self.cluster:
            lines += ["cluster {", '  name: "%s"' % self.cluster["name"],
                      '  listen: "127.0.0.1:%d"' % self.cluster["port"],
                      "  routes: [%s]" % ", ".join('"nats-route://127.0.0.1:%d"' % p
                                                   for p in self.cluster["routes"]),
                      "}"]
        return "\n".join(lines) + "\n"

    def spawn(self):
        """Starts the process on the current ports without waiting."""
        assert self.proc is None, "already running"
        if self.port is None:
            self.pick_ports()
        self.runs += 1
        conf = os.path.join(self.root, "nats.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        self.log_path = os.path.join(self.root, "nats.%d.log" % self.runs)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([nats_server_binary(), "-c", conf],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=H.child_env(), preexec_fn=H._die_with_parent)
        H._live.add(self.proc)

    def healthy(self):
        """True when the client port accepts and /healthz says ok: with
        JetStream, it is enabled and (clustered) knows its meta leader and
        is current."""
        rc = self.proc.poll() if self.proc else -1
        if rc is not None:
            raise _ExitedEarly("%s exited with %s" % (self.name, rc))
        if not _accepts(self.port):
            return False
        try:
            return self.session.get(self.monitor_url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout=NATS_START_DEADLINE_S):
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() >= deadline:
                raise AssertionError("%s not ready within %d s\n%s" % (self.name, timeout,
                                                                       self.log_report()))
            time.sleep(0.05)

    def start(self):
        """Starts nats-server and waits until it is ready. On the first
        start a port taken between probe and bind gets new ports (3 tries);
        a restart keeps its ports, so that clients' URLs stay valid."""
        fixed = self.port is not None
        last = None
        for _attempt in range(1 if fixed else 3):
            self.spawn()
            try:
                self.wait_healthy()
                return self
            except _ExitedEarly as e:
                last = e
                H._live.discard(self.proc)
                self.proc = None
                if not fixed:
                    self.pick_ports()
        raise AssertionError("%s did not start: %s\n%s" % (self.name, last, self.log_report()))

    def stop(self):
        """Graceful shutdown and exit code 0 checked. SIGINT, not SIGTERM:
        nats-server 2.9 shuts down the same way on both but exits 1 after
        SIGTERM, which would hide a real failure."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        H.end_process(proc, signal.SIGINT, NATS_STOP_DEADLINE_S, self.name, self.log_report)

    def kill(self):
        """SIGKILL: a crash; what JetStream synced to its files stays."""
        assert self.proc is not None, "%s not running" % self.name
        proc, self.proc = self.proc, None
        H.kill_process(proc)

    def restart(self):
        """Stops it if running, then starts it on the same ports and store."""
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        if self.proc is not None:
            H.kill_process(self.proc)
            self.proc = None
        self.session.close()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self):
        return H.read_log(self.log_path)

    def log_report(self):
        text = self.log()[-20000:]
        return "---- %s log (run %d) ----\n%s\n---- end of log ----" % (self.name, self.runs,
                                                                        text)

    def jsz(self):
        """The monitoring /jsz document, or None when it does not answer."""
        try:
            r = self.session.get(self.monitor_url + "/jsz", timeout=2)
            return r.json() if r.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def client_names(self):
        """The names of its client connections (monitoring /connz): a
        relay connects as "ledgerline-relay", the node as "ledgerline-node".
        [] when it does not answer."""
        try:
            r = self.session.get(self.monitor_url + "/connz?limit=1024", timeout=2)
            conns = r.json().get("connections") or [] if r.status_code == 200 else []
        except (requests.RequestException, ValueError):
            return []
        return [c.get("name", "") for c in conns]


class NatsCluster(H.ManagedProcess):
    """`size` nats-servers (server names n1..nN) routed into one cluster,
    each with JetStream and a store of its own. A context manager like
    NatsServer.

        with NatsCluster(3) as c:
            node flags: "--nats", c.urls, "--nats-replicas", "3"
            c.kill(0); ...; c.restart(0)
    """

    def __init__(self, size=3, name="ll-test"):
        self.name = name
        self.root = tempfile.mkdtemp(prefix="ledgerline-natsc-")
        self.servers = [NatsServer(name="n%d" % (i + 1), root=os.path.join(self.root, "n%d" % i))
                        for i in range(size)]

    @property
    def urls(self):
        """Every server's URL, comma-joined for --nats (killed ones too: a
        client moves on to the next)."""
        return ",".join(s.url for s in self.servers)

    def live_urls(self):
        return ",".join(s.url for s in self.servers if s.alive())

    def server_named(self, name):
        """The server whose server_name is name (as JetStream reports peers)."""
        for s in self.servers:
            if s.name == name:
                return s
        raise AssertionError("no server named %r in %s" % (name, [s.name for s in self.servers]))

    def _pick_ports(self):
        route_ports = [H.free_port() for _ in self.servers]
        for s, port in zip(self.servers, route_ports):
            s.pick_ports()
            s.cluster = {"name": self.name, "port": port,
                         "routes": [p for p in route_ports if p != port]}

    def start(self):
        """Starts every server, then waits until the cluster is ready. A
        server that exits at once (a port taken) restarts all on new ports."""
        last = None
        for _attempt in range(3):
            self._pick_ports()
            for s in self.servers:
                s.spawn()
            try:
                self.wait_ready()
                return self
            except _ExitedEarly as e:
                last = e
                for s in self.servers:
                    if s.proc is not None:
                        s.kill()
        raise AssertionError("cluster did not start: %s\n%s" % (
            last, "\n".join(s.log_report() for s in self.servers)))

    def meta_leader(self):
        """The meta leader's name when every running server names the same
        running server (a killed leader is named until the next election)."""
        running = [s for s in self.servers if s.alive()]
        leaders = {((s.jsz() or {}).get("meta_cluster") or {}).get("leader") for s in running}
        if len(leaders) == 1 and leaders <= {s.name for s in running}:
            return leaders.pop()
        return None

    def wait_ready(self, timeout=CLUSTER_READY_DEADLINE_S):
        """Waits until every running server is healthy and all of them name
        the same JetStream meta leader."""
        def ready():
            return all(s.healthy() for s in self.servers if s.proc is not None) and \
                self.meta_leader()
        try:
            return H.wait_until(ready, timeout, "the NATS cluster to elect a meta leader",
                                interval=0.1)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, "\n".join(s.log_report() for s in self.servers)))

    def kill(self, i):
        self.servers[i].kill()

    def restart(self, i):
        """Starts server i again (same ports and store) and waits for the
        cluster to be ready."""
        s = self.servers[i]
        s.stop()
        s.spawn()
        try:
            return self.wait_ready()
        except _ExitedEarly as e:  # e.g. its port was taken meanwhile
            raise AssertionError("%s did not restart: %s\n%s" % (s.name, e, s.log_report()))

    def stop(self):
        """Stops every running server; raises the first failure after all
        were stopped."""
        errors = []
        for s in self.servers:
            try:
                s.stop()
            except AssertionError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def cleanup(self):
        for s in self.servers:
            s.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------
# ledgerline relay
# --------------------------------------------------------------------------

RELAY_START_DEADLINE_S = H.START_DEADLINE_S
RELAY_STOP_DEADLINE_S = H.STOP_DEADLINE_S


class Relay(H.ManagedProcess):
    """One `ledgerline relay --nats URLS --listen 127.0.0.1:<free port>`
    process at a time (docs/API.md §8). A context manager: start
    on enter; stop (checked) on exit.

        with Relay(nats.url, "--sse-heartbeat-s", "1") as relay:
            relay.url, relay.port, relay.get("/"), relay.metric(name)
            relay.kill9()   # a crash; relay.start() again on a new port

    start() waits until GET /healthz answers 200, or, with
    healthy=False, answers at all (a relay whose NATS is not up yet).
    stop() sends SIGTERM and checks exit code 0 and no sanitizer report;
    kill9() checks the sanitizers only."""

    def __init__(self, urls, *flags, name="relay", env=None):
        self.urls = _urls(urls)
        self.flags = list(flags)
        self.name = name
        self.env = dict(env or {})
        self.root = tempfile.mkdtemp(prefix="ledgerline-relay-")
        self.proc = None
        self.port = None
        self.runs = 0
        self.stderr_path = None
        self.session = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, healthy=True):
        assert self.proc is None, "%s already running" % self.name
        last = None
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.runs += 1
            self.port = H.free_port()
            self.stderr_path = os.path.join(self.root, "stderr.%d.log" % self.runs)
            argv = [H.require_binary(), "relay", "--nats", self.urls,
                    "--listen", "127.0.0.1:%d" % self.port] + self.flags
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err,
                                             stderr=err, env=H.child_env(self.env),
                                             preexec_fn=H._die_with_parent)
            H._live.add(self.proc)
            self.session = H.new_session()
            try:
                self._wait_ready(healthy)
                return self
            except _ExitedEarly as e:
                last = e
                H._live.discard(self.proc)
                self.proc = None
                if H.sanitizer_findings(self.stderr()):
                    break
        raise AssertionError("%s did not start: %s\n%s" % (self.name, last, self.report()))

    def _wait_ready(self, healthy):
        H.wait_healthz(self, RELAY_START_DEADLINE_S, self.report, healthy)

    def stop(self):
        """SIGTERM; asserts exit code 0 within the deadline and no
        sanitizer report."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        self.session.close()
        H.end_process(proc, signal.SIGTERM, RELAY_STOP_DEADLINE_S, self.name, self.report)
        self.check_sanitizers()

    def kill9(self):
        """SIGKILL: a crash. Only the sanitizers' silence is checked."""
        assert self.proc is not None, "%s not running" % self.name
        proc, self.proc = self.proc, None
        self.session.close()
        H.kill_process(proc)
        self.check_sanitizers()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        if self.proc is not None:
            H.kill_process(self.proc)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def stderr(self):
        return H.read_log(self.stderr_path)

    def report(self):
        text = self.stderr()[-20000:]
        return "---- %s stderr (run %d) ----\n%s\n---- end of stderr ----" % (self.name,
                                                                            self.runs, text)

    def check_sanitizers(self):
        found = H.sanitizer_findings(self.stderr())
        if found:
            raise AssertionError("%s: sanitizer report (%s)\n%s" % (self.name, ", ".join(found),
                                                                   self.report()))

    def get(self, path, **kw):
        return self.session.get(self.url + path, **kw)

    def request(self, method, path, **kw):
        return self.session.request(method, self.url + path, **kw)

    def metric(self, name, **labels):
        """A sample of its /metrics (summed over matching labels), or None."""
        return H.server_metric(self, name, **labels)
