"""The node behind nginx terminating TLS (issue 15, "Behind a proxy";
docs/OPERATIONS.md "Behind nginx", docs/API.md §1.1 --trusted-proxies).

nginx (Debian's) runs the server block of docs/OPERATIONS.md, read from
between its marker comments with only the listen port, the node's address
and the certificate paths substituted, so the documented config is the
tested one. The certificate is made at test time with the openssl CLI.
Through nginx over https: SSE and WebSocket streams deliver, SSE resume has
no gap and no duplicate, GET / advertises https:// and wss://, and the
session cookie is Secure. Direct to the node, or from a peer that is not in
--trusted-proxies, X-Forwarded-Proto changes nothing.

Every process (nodes, nginx master and workers) is ended by its pid."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

NGINX = "/usr/sbin/nginx"
OPENSSL = "/usr/bin/openssl"
OPERATIONS_MD = os.path.join(H.REPO_ROOT, "docs", "OPERATIONS.md")
FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")


def documented_block():
    """The nginx config of docs/OPERATIONS.md, between its markers."""
    with open(OPERATIONS_MD) as f:
        text = f.read()
    m = re.search(r"<!-- nginx-ledgerline\.conf begin -->\s*```nginx\n(.*?)```\s*"
                  r"<!-- nginx-ledgerline\.conf end -->", text, re.S)
    assert m, "docs/OPERATIONS.md has no nginx block between its markers"
    return m.group(1)


def substitute(block, old, new):
    """Replaces exactly one occurrence: the doc changing under the test
    fails here, not as a config that silently differs."""
    assert block.count(old) == 1, "expected %r once in the documented block" % old
    return block.replace(old, new)


def make_cert(tmp):
    """A self-signed pair for 127.0.0.1 and localhost (OPERATIONS.md's line)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def children(pid):
    """Pids whose parent is pid (nginx's workers)."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


class Nginx:
    """A private nginx: own prefix, config, logs and pid file in a tmpdir,
    no daemon; stopped by its master's pid, its workers' pids after that."""

    def __init__(self, node_port, cert, key):
        self.tmp = tempfile.mkdtemp(prefix="ll-proxy-nginx-")
        os.chmod(self.tmp, 0o755)  # workers may run as another user
        self.node_port, self.cert, self.key = node_port, cert, key
        self.proc, self.workers, self.port = None, set(), None

    def _conf(self, port):
        block = documented_block()
        block = substitute(block, "listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % port)
        block = substitute(block, "http://127.0.0.1:9984;", "http://127.0.0.1:%d;" % self.node_port)
        block = substitute(block, "/etc/ssl/ledgerline/cert.pem", self.cert)
        block = substitute(block, "/etc/ssl/ledgerline/key.pem", self.key)
        t = self.tmp
        return ("worker_processes 1;\nevents { worker_connections 256; }\nhttp {\n"
                "    access_log %s/access.log;\n"
                "    client_body_temp_path %s/client_body;\n    proxy_temp_path %s/proxy;\n"
                "    fastcgi_temp_path %s/fastcgi;\n    uwsgi_temp_path %s/uwsgi;\n"
                "    scgi_temp_path %s/scgi;\n%s}\n") % (t, t, t, t, t, t, block)

    def start(self):
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = H.free_port()
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self._conf(self.port))
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.tmp, "-c", conf, "-e", os.path.join(self.tmp, "error.log"),
                 "-g", "daemon off; pid %s/nginx.pid;" % self.tmp],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=H.child_env())
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        self.workers = children(self.proc.pid)
                        return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise AssertionError("nginx did not start:\n%s" % self.log())

    def log(self):
        return H.read_log(os.path.join(self.tmp, "error.log"))

    def stop(self):
        if self.proc is not None:
            self.workers |= children(self.proc.pid)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # fast shutdown
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        for pid in self.workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.workers = set()


class Proxied:
    def __init__(self, srv, nginx, cert):
        self.srv, self.nginx, self.cert = srv, nginx, cert
        self.url = "https://127.0.0.1:%d" % nginx.port
        self.wss = "wss://127.0.0.1:%d" % nginx.port
        self.ssl = ssl.create_default_context(cafile=cert)

    def session(self):
        s = H.new_session()
        s.verify = self.cert
        return s


@pytest.fixture(scope="module")
def proxied():
    if not os.access(NGINX, os.X_OK) or not os.access(OPENSSL, os.X_OK):
        pytest.fail("needs nginx and openssl (./scripts/install-deps.sh)")
    tmp = tempfile.mkdtemp(prefix="ll-proxy-")
    os.chmod(tmp, 0o755)
    cert, key = make_cert(tmp)
    os.chmod(key, 0o644)  # read by the master, which may drop to a worker user
    try:
        with H.Server(*FLAGS, "--trusted-proxies", "127.0.0.1", name="proxied-node") as srv:
            nginx = Nginx(srv.port, cert, key)
            try:
                nginx.start()
                yield Proxied(srv, nginx, cert)
            finally:
                nginx.stop()
                shutil.rmtree(nginx.tmp, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def links(resp):
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["_links"]


def new_user(s, base):
    """Registers and logs in at base through s; returns the login response."""
    name = "u%s" % os.urandom(4).hex()
    r = s.post(base + "/api/register", json={"username": name, "password": "pw-" + name})
    assert r.status_code == 201, r.text[:300]
    r = s.post(base + "/api/login", json={"username": name, "password": "pw-" + name})
    assert r.status_code == 200, r.text[:300]
    return r


def cookie_attrs(resp):
    set_cookie = resp.headers.get("Set-Cookie", "")
    assert set_cookie.startswith("session="), set_cookie
    return [a.strip().lower() for a in set_cookie.split(";")[1:]]


def transfers(srv, count):
    """count transfers from a funded key, submitted to the node; their ids."""
    key = srv.funded_key()
    nonce = srv.next_nonce(key.address)
    return [srv.submit_ok(H.transfer(key, H.random_address(), 1 + i, nonce + i))
            for i in range(count)]


@H.timeout(60)
def test_links_through_proxy_are_https_and_direct_are_http(proxied):
    p = proxied
    with p.session() as s:
        got = links(s.get(p.url + "/"))
    assert got["api_v1"] == p.url + "/api/v1/", got
    assert got["streams_v1"] == p.wss + "/api/v1/streams/", got
    with H.new_session() as s:  # direct, no header: as the client called it
        got = links(s.get(p.srv.url + "/"))
    assert got["api_v1"] == p.srv.url + "/api/v1/", got
    assert got["streams_v1"] == "ws://127.0.0.1:%d/api/v1/streams/" % p.srv.port, got


@H.timeout(60)
def test_login_through_proxy_sets_secure_cookie(proxied):
    p = proxied
    with p.session() as s:
        # A browser on the https page sends its https Origin: the node's own.
        s.headers["Origin"] = p.url
        r = new_user(s, p.url)
    assert "secure" in cookie_attrs(r), r.headers.get("Set-Cookie")
    with H.new_session() as s:
        r = new_user(s, p.srv.url)
    assert "secure" not in cookie_attrs(r), r.headers.get("Set-Cookie")


@H.timeout(90)
def test_forged_forwarded_proto_from_untrusted_peer_is_ignored():
    forged = {"X-Forwarded-Proto": "https"}
    # No --trusted-proxies (trust none), and a list without the peer.
    for extra in ((), ("--trusted-proxies", "192.0.2.1,2001:db8::1")):
        with H.Server(*FLAGS, *extra, name="untrusting-node") as srv:
            with H.new_session() as s:
                got = links(s.get(srv.url + "/", headers=forged))
                assert got["api_v1"] == srv.url + "/api/v1/", (extra, got)
                assert got["streams_v1"].startswith("ws://127.0.0.1:"), (extra, got)
                s.headers.update(forged)
                r = new_user(s, srv.url)
                assert "secure" not in cookie_attrs(r), (extra, r.headers.get("Set-Cookie"))
                token = r.cookies.get("session")
            # The https Origin is foreign to a node reached over http.
            with H.SseStream(srv.port, cookie=token, headers=dict(
                    forged, Origin="https://127.0.0.1:%d" % srv.port)) as sse:
                assert sse.status == 403, (extra, sse.status, sse.response)


def test_trusted_proxies_must_be_addresses():
    for bad in ("localhost", "10.0.0.0/8", "127.0.0.1,nginx"):
        r = H.run_cli(["serve", "--trusted-proxies", bad, "--data", "/nonexistent-ll"])
        assert r.returncode != 0 and "--trusted-proxies" in r.stderr, (bad, r.stderr)


@H.timeout(90)
def test_sse_through_proxy_delivers_and_resumes(proxied):
    p = proxied
    with p.session() as s:
        token = new_user(s, p.url).cookies.get("session")
    assert token
    # With the Origin of a page served over https through nginx: the node's
    # own origin, since the proxy says https (SseStream sends "Host:
    # 127.0.0.1", as a browser on port 443 would, so its Origin has no port).
    with H.SseStream(p.nginx.port, "/api/stream?types=tx", cookie=token,
                     headers={"Origin": "https://127.0.0.1"}, ssl_context=p.ssl) as live:
        assert live.status == 200, live.response
        first = transfers(p.srv, 4)
        # Unbuffered: each event arrives while the stream stays open; a
        # buffering proxy would hold these few hundred bytes back.
        live.wait_for(lambda r: {H.envelope_tx_id(e.json) for e in r.events} >= set(first),
                      what="the first transfers through nginx")
        mark = live.snapshot()[-1].id
        second = transfers(p.srv, 4)
        live.wait_for(lambda r: {H.envelope_tx_id(e.json) for e in r.events} >= set(second),
                      what="the second transfers through nginx")
        with H.SseStream(p.nginx.port, "/api/stream?types=tx", cookie=token,
                         headers={"Last-Event-ID": str(mark)}, ssl_context=p.ssl) as resumed:
            assert resumed.status == 200, resumed.response
            want = [(e.id, e.json) for e in live.snapshot() if e.id > mark]
            resumed.wait_for(lambda r: len(r.events) >= len(want),
                             what="the replay through nginx")
            got = [(e.id, e.json) for e in resumed.snapshot()]
            assert got[:len(want)] == want, "resume through nginx: gap or duplicate"
            assert {H.envelope_tx_id(j) for _, j in want} >= set(second)


@H.timeout(90)
def test_websocket_through_proxy(proxied):
    p = proxied
    with H.LoopThread() as lt:
        ws = H.WsReader(lt, p.wss + "/api/v1/streams/valid_tx", ssl=p.ssl)
        ids = transfers(p.srv, 3)
        ws.wait_for(lambda r: {m.get("txid") for m in r.json_messages()} >= set(ids),
                    what="the transfers on wss:// through nginx")
        ws.close()
        assert ws.wait_closed() == 1000


def test_nginx_served_every_request_without_errors(proxied):
    """Last in the file: nginx logged no upstream failure (a prematurely
    closed or reset connection to the node) for the streams above."""
    log = proxied.nginx.log()
    assert "upstream prematurely closed" not in log and "[alert]" not in log, log[-2000:]


def login_attempt(port, forwarded_lines):
    """A failed login straight to the node, with these X-Forwarded-For
    field lines in order; its status (401 counted, 429 limited)."""
    body = b'{"username": "nobody", "password": "not this one"}'
    head = ["POST /api/login HTTP/1.1", "Host: 127.0.0.1:%d" % port,
            "Content-Type: application/json", "Content-Length: %d" % len(body),
            "Connection: close"] + ["X-Forwarded-For: %s" % v for v in forwarded_lines]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


@H.timeout(60)
def test_per_address_limits_count_the_client_a_trusted_proxy_names():
    """From a trusted proxy, the last X-Forwarded-For address (the one the
    proxy appended; what comes before it the client may have written) is
    the client the per-address limits count; from any other peer the
    header changes nothing."""
    limits = ("--auth-attempts-per-ip", "2", "--login-failures-per-user", "0")
    with H.Server(*FLAGS, *limits, "--trusted-proxies", "127.0.0.1", name="xff-node") as srv:
        forged_then_real = ["198.51.100.7, 203.0.113.1"]
        assert [login_attempt(srv.port, forged_then_real) for _ in range(3)] == [401, 401, 429]
        # Another client of the proxy has its own count, whatever it forges.
        assert login_attempt(srv.port, ["203.0.113.1, 203.0.113.2"]) == 401
        # Two field lines are one list: the last line's last address counts.
        assert login_attempt(srv.port, ["203.0.113.2", "203.0.113.1"]) == 429
        # A last element that is no address: the proxy itself is the client.
        assert login_attempt(srv.port, ["203.0.113.3, unknown"]) == 401
    with H.Server(*FLAGS, *limits, "--trusted-proxies", "192.0.2.1", name="xff-untrusted") as srv:
        got = [login_attempt(srv.port, ["203.0.113.%d" % i]) for i in range(1, 4)]
        assert got == [401, 401, 429], got
