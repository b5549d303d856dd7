"""Integration-test harness: an independent client of a Ledgerline node.

Everything here is written from docs/API.md (the wire contract), never from
the server's code. It provides:

* Server    -- starts `ledgerline serve` on a free 127.0.0.1 port with a
               temporary data directory, waits until GET /healthz answers,
               stops it with SIGTERM (and checks the exit code and that the
               sanitizers stayed silent), or kills it with SIGKILL for crash
               tests; restarts it on the same data directory.
* Key, sign -- Ed25519 keys (PyNaCl), chain addresses and the canonical
               signing bytes of API.md §2, byte for byte.
* RawHttp   -- a raw-socket HTTP/1.1 client for the protocol-level tests.
* wait_until, the header rule of blocks, error-shape assertions.
* run       -- a tiny runner: every test file ends with `N passed, M failed`
               and exits non-zero when anything failed.

Rules kept here so that the test files need not repeat them: no sleeps for
ordering (poll an observable state with a deadline), every request has a
timeout, every process started is stopped by its pid in a finally block.
"""

import atexit
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import requests
from nacl.signing import SigningKey, VerifyKey

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

UNITS_PER_COIN = 1_000_000
NATIVE_ASSET = "0" * 64
ZERO_HASH = "0" * 64
GENESIS_SUPPLY = 1_000_000_000 * UNITS_PER_COIN  # 10^15 units, allocated to the faucet
FAUCET_DEFAULT = 1000 * UNITS_PER_COIN
FAUCET_MAX = 1_000_000 * UNITS_PER_COIN
INT64_MAX = 2**63 - 1

START_DEADLINE_S = 20
STOP_DEADLINE_S = 30
HTTP_TIMEOUT_S = 15

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

HEX_RE = re.compile(r"^[0-9a-f]*$")


def is_hex(s, length):
    return isinstance(s, str) and len(s) == length and HEX_RE.match(s) is not None


def binary_path():
    """The node binary: $LEDGERLINE_BIN, else build/ledgerline in the repo."""
    path = os.environ.get("LEDGERLINE_BIN") or os.path.join(REPO_ROOT, "build", "ledgerline")
    return os.path.abspath(path)


def require_binary():
    path = binary_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("no executable node at %s: build it, or point LEDGERLINE_BIN at it"
                             % path)
    return path


def free_port():
    """A port that was free a moment ago: bind port 0, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra=None):
    """The environment for a child process: ours without any LEDGERLINE_*
    variable (the node reads LEDGERLINE_<FLAG>, and a developer's shell must
    not change what a test starts) and without proxies, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LEDGERLINE_") and k.lower() not in ("http_proxy", "https_proxy",
                                                                    "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


def sanitizer_findings(text):
    """The sanitizer markers that appear in a process's stderr."""
    return [m for m in SANITIZER_MARKERS if m in text]


# A process started by the harness dies with the Python process that started
# it even when that one is killed (CTest's timeout): PR_SET_PDEATHSIG. The
# signal follows the *thread* that forked, so servers are started from the
# main thread only.
_libc = None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    pass


def _die_with_parent():
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_live = set()  # every Popen still running, killed at exit as a last resort


@atexit.register
def _kill_leftovers():
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------

def wait_until(predicate, timeout=20.0, what="condition", interval=0.02):
    """Polls predicate() until it returns something truthy and returns that.
    Fails with `what` and the last value when the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


# --------------------------------------------------------------------------
# Keys, addresses, signing (API.md §2)
# --------------------------------------------------------------------------

def address_of_pubkey(pk_bytes):
    """Chain address: hex of the first 16 bytes of SHA-256(public key)."""
    return hashlib.sha256(pk_bytes).digest()[:16].hex()


class Key:
    def __init__(self, signing_key):
        self.sk = signing_key
        self.pk = bytes(signing_key.verify_key)
        self.pk_hex = self.pk.hex()
        self.secret_hex = bytes(signing_key).hex()  # the 32-byte seed
        self.address = address_of_pubkey(self.pk)

    @classmethod
    def generate(cls):
        return cls(SigningKey.generate())

    @classmethod
    def from_secret_hex(cls, secret_hex):
        return cls(SigningKey(bytes.fromhex(secret_hex)))

    def __repr__(self):
        return "Key(%s)" % self.address


def random_address():
    return os.urandom(16).hex()


def canonical(body):
    """Signing bytes: sorted keys, no white space, UTF-8 unescaped."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def tx_id_of(body):
    """tx_id of a body or of a signed transaction (its signature excluded)."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "signature"})).hexdigest()


def sign(key, body):
    """The signed transaction: body (sender_pubkey filled when absent) plus
    `signature`, 128 hex of Ed25519 over the canonical bytes."""
    body = dict(body)
    body.setdefault("sender_pubkey", key.pk_hex)
    signature = key.sk.sign(canonical(body)).signature.hex()
    return dict(body, signature=signature)


def sign_exact(key, body):
    """Signs body exactly as given (no field filled): for malformed bodies."""
    return dict(body, signature=key.sk.sign(canonical(body)).signature.hex())


def verify_signed(tx):
    """True when tx's signature verifies over its canonical bytes."""
    body = {k: v for k, v in tx.items() if k != "signature"}
    try:
        VerifyKey(bytes.fromhex(tx["sender_pubkey"])).verify(canonical(body),
                                                             bytes.fromhex(tx["signature"]))
        return True
    except Exception:
        return False


def now_ms():
    return int(time.time() * 1000)


def transfer_body(key, recipient, amount, nonce, fee=0, asset_id=None):
    body = {"kind": "transfer", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "recipient": recipient, "amount": amount}
    if asset_id is not None:
        body["asset_id"] = asset_id
    return body


def create_body(key, data, amount, nonce, fee=0):
    return {"kind": "create", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "asset": {"data": data, "amount": amount}}


def message_body(key, recipient, memo, nonce, fee=0):
    return {"kind": "message", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "recipient": recipient, "memo": memo}


def transfer(key, recipient, amount, nonce, fee=0, asset_id=None):
    return sign(key, transfer_body(key, recipient, amount, nonce, fee, asset_id))


# --------------------------------------------------------------------------
# Blocks (the header rule of docs/API.md)
# --------------------------------------------------------------------------

SEED_BLOCK_FIELDS = ["height", "hash", "previous_hash", "timestamp", "tx_count", "miner",
                     "difficulty", "quantum_verified"]
EXT_BLOCK_FIELDS = ["nonce", "timestamp_ms", "tx_root", "transactions"]


def header_hash(block):
    header = {k: block[k] for k in ("difficulty", "height", "miner", "nonce", "previous_hash",
                                    "timestamp_ms", "tx_root")}
    return hashlib.sha256(canonical(header)).hexdigest()


def tx_root_of(tx_ids):
    return hashlib.sha256(b"".join(bytes.fromhex(t) for t in tx_ids)).hexdigest()


def check_block(block, previous=None):
    """Asserts every rule a single block (and its link to `previous`) obeys."""
    h = block.get("height")
    assert is_hex(block["hash"], 64), "block %s: hash %r" % (h, block["hash"])
    assert is_hex(block["miner"], 32), "block %s: miner %r" % (h, block["miner"])
    assert isinstance(block["difficulty"], int) and block["difficulty"] >= 0
    assert block["hash"].startswith("0" * block["difficulty"]), \
        "block %s: hash %s lacks %d leading zeros" % (h, block["hash"], block["difficulty"])
    assert header_hash(block) == block["hash"], \
        "block %s: header re-hashes to %s, not %s" % (h, header_hash(block), block["hash"])
    assert block["tx_root"] == tx_root_of(block["transactions"]), "block %s: tx_root" % h
    assert block["tx_count"] == len(block["transactions"]), "block %s: tx_count" % h
    assert isinstance(block["timestamp"], float), "block %s: timestamp %r is not a float" % (
        h, block["timestamp"])
    assert abs(block["timestamp"] - block["timestamp_ms"] / 1000.0) < 0.0015, "block %s" % h
    assert block["quantum_verified"] is True, "block %s: quantum_verified" % h
    if h == 0:
        assert block["previous_hash"] == ZERO_HASH and block["tx_count"] == 0
    if previous is not None:
        assert h == previous["height"] + 1
        assert block["previous_hash"] == previous["hash"], \
            "block %s: previous_hash %s != hash of block %s" % (h, block["previous_hash"],
                                                                 previous["height"])


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------

class _Session(requests.Session):
    """requests with a default timeout and no proxy from the environment."""

    def __init__(self, timeout=HTTP_TIMEOUT_S):
        super().__init__()
        self.trust_env = False
        self._timeout = timeout

    def request(self, method, url, **kw):
        kw.setdefault("timeout", self._timeout)
        return super().request(method, url, **kw)


def new_session():
    return _Session()


def error_of(resp):
    """(code, message) of a JSON error response; fails on any other shape."""
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), "error Content-Type %r (status %d, body %r)" % (
        ctype, resp.status_code, resp.text[:300])
    doc = resp.json()
    assert isinstance(doc, dict) and set(doc) == {"error"}, "error shape %r" % doc
    err = doc["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, "error shape %r" % doc
    assert isinstance(err["code"], str) and re.match(r"^[a-z][a-z0-9_]*$", err["code"]), doc
    assert isinstance(err["message"], str) and err["message"], "empty message: %r" % doc
    return err["code"], err["message"]


def assert_error(resp, status, code):
    """Asserts an error response: status and {"error": {"code", "message"}}.
    Returns the message."""
    assert resp.status_code == status, "expected %d %s, got %d: %s" % (
        status, code, resp.status_code, resp.text[:500])
    got, message = error_of(resp)
    assert got == code, "expected code %s, got %s (%s)" % (code, got, message)
    return message


def assert_accepted(resp, tx):
    """Asserts 202 {"tx_id": <tx's id>, "status": "pending"}; returns tx_id."""
    assert resp.status_code == 202, "expected 202, got %d: %s" % (resp.status_code, resp.text[:500])
    doc = resp.json()
    assert doc == {"tx_id": tx_id_of(tx), "status": "pending"}, doc
    return doc["tx_id"]


def parse_metrics(text):
    """{name: value} of the unlabelled samples of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2 and "{" not in parts[0]:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------

class Server:
    """One `ledgerline serve` process at a time on a data directory that
    lives until cleanup(). Use as a context manager: start on enter; stop
    (checked) and cleanup on exit.

        with Server("--dev", "--block-interval-ms", "100") as srv:
            srv.get("/healthz")
    """

    def __init__(self, *flags, env=None, name="ledgerline"):
        self.flags = list(flags)
        self.env = dict(env or {})
        self.name = name
        self.root = tempfile.mkdtemp(prefix="ledgerline-it-")
        self.data_dir = os.path.join(self.root, "data")
        self.proc = None
        self.port = None
        self.runs = 0
        self.stderr_path = None
        self.stdout_path = None
        self.session = None

    # -- life cycle --------------------------------------------------------

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, *flags):
        """Starts the node (with `flags` instead of the constructor's when
        given) and waits until GET /healthz answers 200."""
        assert self.proc is None, "already running"
        if flags:
            self.flags = list(flags)
        last_error = None
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.runs += 1
            self.port = free_port()
            self.stderr_path = os.path.join(self.root, "stderr.%d.log" % self.runs)
            self.stdout_path = os.path.join(self.root, "stdout.%d.log" % self.runs)
            argv = [require_binary(), "serve", "--listen", "127.0.0.1:%d" % self.port,
                    "--data", self.data_dir] + self.flags
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, env=child_env(self.env),
                                             preexec_fn=_die_with_parent)
            _live.add(self.proc)
            self.session = new_session()
            try:
                self._wait_ready()
                return self
            except _ExitedEarly as e:
                last_error = e
                _live.discard(self.proc)
                self.proc = None
                if sanitizer_findings(self.stderr()):
                    break
        raise AssertionError("%s did not start: %s\n%s" % (self.name, last_error,
                                                           self._stderr_report()))

    def _wait_ready(self):
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise _ExitedEarly("exited with %d before answering /healthz" % rc)
            try:
                r = self.session.get(self.url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() >= deadline:
                self.proc.kill()
                self.proc.wait()
                _live.discard(self.proc)
                self.proc = None
                raise AssertionError("%s not ready within %d s\n%s" % (
                    self.name, START_DEADLINE_S, self._stderr_report()))
            time.sleep(0.05)

    def stop(self):
        """SIGTERM, wait (30 s deadline, then SIGKILL and fail); asserts exit
        code 0 and no sanitizer report in stderr."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if self.session is not None:
            self.session.close()
        killed = False
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                killed = True
        _live.discard(proc)
        if killed:
            raise AssertionError("%s ignored SIGTERM for %d s (SIGKILLed)\n%s" % (
                self.name, STOP_DEADLINE_S, self._stderr_report()))
        if proc.returncode != 0:
            raise AssertionError("%s exited with %d after SIGTERM\n%s" % (
                self.name, proc.returncode, self._stderr_report()))
        self.check_sanitizers()

    def kill9(self):
        """SIGKILL, for crash tests. Only the sanitizers' silence is checked."""
        assert self.proc is not None, "not running"
        proc, self.proc = self.proc, None
        if self.session is not None:
            self.session.close()
        proc.kill()
        proc.wait()
        _live.discard(proc)
        self.check_sanitizers()

    def restart(self, *flags):
        self.stop()
        return self.start(*flags)

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            _live.discard(self.proc)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
            elif self.proc is not None:
                try:
                    self.stop()
                except AssertionError as e:  # report it, but keep the first failure
                    print("  (also, while stopping: %s)" % e, flush=True)
        finally:
            self.cleanup()
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- logs ----------------------------------------------------------------

    def stderr(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _stderr_report(self):
        text = self.stderr()
        if len(text) > 20000:
            text = "[… %d characters cut …]\n" % (len(text) - 20000) + text[-20000:]
        return "---- %s stderr (run %d) ----\n%s\n---- end of stderr ----" % (
            self.name, self.runs, text)

    def check_sanitizers(self):
        found = sanitizer_findings(self.stderr())
        if found:
            raise AssertionError("%s: sanitizer report (%s) in stderr\n%s" % (
                self.name, ", ".join(found), self._stderr_report()))

    # -- HTTP ------------------------------------------------------------------

    def get(self, path, **kw):
        return self.session.get(self.url + path, **kw)

    def post(self, path, **kw):
        return self.session.post(self.url + path, **kw)

    def request(self, method, path, **kw):
        return self.session.request(method, self.url + path, **kw)

    def submit(self, tx):
        return self.post("/api/v1/transactions", json=tx)

    def submit_ok(self, tx):
        """Submits tx and asserts 202; returns its tx_id."""
        return assert_accepted(self.submit(tx), tx)

    def tx(self, tx_id):
        r = self.get("/api/v1/transactions/" + tx_id)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, "GET tx %s: %d %s" % (tx_id, r.status_code, r.text[:300])
        return r.json()

    def wait_confirmed(self, tx_id, timeout=30):
        def confirmed():
            t = self.tx(tx_id)
            return t if t is not None and t.get("status") == "confirmed" else None
        return wait_until(confirmed, timeout, "tx %s to be confirmed" % tx_id)

    def account(self, address):
        """The account object, or None on 404."""
        r = self.get("/api/v1/accounts/" + address)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, "GET account: %d %s" % (r.status_code, r.text[:300])
        return r.json()

    def balance(self, address, asset=None):
        acc = self.account(address)
        if acc is None:
            return 0
        if asset is None or asset == NATIVE_ASSET:
            return acc["balance"]
        return acc["balances"].get(asset, 0)

    def next_nonce(self, address):
        acc = self.account(address)
        return 0 if acc is None else acc["nonce"]

    def block(self, height):
        r = self.get("/api/v1/blocks/%s" % height)
        assert r.status_code == 200, "GET block %s: %d %s" % (height, r.status_code, r.text[:300])
        return r.json()

    def latest(self):
        return self.block("latest")

    def height(self):
        return self.latest()["height"]

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, r.status_code
        return parse_metrics(r.text)

    def fund(self, address, units=FAUCET_DEFAULT, wait=True):
        """Credits units from the dev faucet; waits until the grant is
        confirmed unless wait=False. Returns the grant's tx_id."""
        r = self.post("/api/v1/faucet", json={"address": address, "amount": units})
        assert r.status_code == 202, "faucet: %d %s" % (r.status_code, r.text[:300])
        tx_id = r.json()["tx_id"]
        if wait:
            self.wait_confirmed(tx_id)
        return tx_id

    def funded_key(self, units=FAUCET_DEFAULT):
        key = Key.generate()
        self.fund(key.address, units)
        return key

    def chain(self, from_height=0, to_height=None):
        """Blocks from_height..to_height (the tip when None), in order."""
        if to_height is None:
            to_height = self.height()
        return [self.block(h) for h in range(from_height, to_height + 1)]


class _ExitedEarly(Exception):
    pass


def run_cli(args, input_text=None, env=None, timeout=30):
    """Runs the binary with args (not `serve`); returns CompletedProcess with
    text stdout/stderr. Fails on any sanitizer report."""
    proc = subprocess.run([require_binary()] + list(args), input=input_text, capture_output=True,
                          text=True, env=child_env(env), timeout=timeout)
    found = sanitizer_findings(proc.stderr)
    assert not found, "sanitizer report (%s) from %s:\n%s" % (", ".join(found), args, proc.stderr)
    return proc


# --------------------------------------------------------------------------
# Raw HTTP/1.1 over a socket
# --------------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.header_list = headers          # [(name, value)] as received
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def error(self):
        ctype = self.headers.get("content-type", "")
        assert ctype.startswith("application/json"), "Content-Type %r, body %r" % (
            ctype, self.body[:200])
        doc = self.json()
        assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message"}, doc
        assert isinstance(doc["error"]["message"], str) and doc["error"]["message"], doc
        return doc["error"]["code"]

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.reason, self.body[:120])


class PeerClosed(Exception):
    pass


class RawHttp:
    """One TCP connection; send bytes, read whole responses."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise PeerClosed("connection closed by the server")
        self.buf += chunk

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, timeout=10.0, head_request=False):
        self.sock.settimeout(timeout)
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        assert m, "bad status line %r" % lines[0]
        status = int(m.group(1))
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
        hmap = {k.lower(): v for k, v in headers}
        if head_request or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in hmap.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n")  # no trailers expected
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in hmap:
            body = self._read_exact(int(hmap["content-length"]))
        else:  # delimited by close
            while True:
                try:
                    self._fill()
                except PeerClosed:
                    break
            body, self.buf = self.buf, b""
        return RawResponse(status, m.group(2), headers, body)

    def wait_closed(self, timeout):
        """True when the server closes the connection (FIN or RST) within
        timeout seconds without sending anything more; False when it stays
        open. Bytes received instead are a failure."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(min(left, 1.0))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            raise AssertionError("unexpected bytes from the server: %r" % chunk[:200])


def http_request(method, path, body=b"", headers=None, host="127.0.0.1"):
    """The bytes of one HTTP/1.1 request with Content-Length when body."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    given = {k.lower() for k in (headers or {})}
    if (body or method in ("POST", "PUT")) and not given & {"content-length",
                                                             "transfer-encoding"}:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------

class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def timeout(seconds):
    """Decorator: a test's own time limit (default 120 s)."""
    def mark(fn):
        fn.timeout_s = seconds
        return fn
    return mark


def run(namespace, fixture=None, default_timeout=120):
    """Runs the test_* functions of a module in the order they are written.

    fixture, when given, is a callable returning a context manager (usually
    a Server); it is entered once for the file and its value is passed to
    every test. A test fails on any exception; a failing fixture exit (the
    server's exit code or a sanitizer report) counts as one more failure.
    Command-line arguments select tests by name. Prints one line per test
    and finally `N passed, M failed`; exits 1 when M > 0."""
    tests = [f for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    tests.sort(key=lambda f: f.__code__.co_firstlineno)
    wanted = set(sys.argv[1:])
    if wanted:
        tests = [f for f in tests if f.__name__ in wanted]
    signal.signal(signal.SIGALRM, _on_alarm)
    passed = failed = 0

    def one(fn, args):
        nonlocal passed, failed
        t0 = time.monotonic()
        signal.alarm(getattr(fn, "timeout_s", default_timeout))
        try:
            fn(*args)
            ok, detail = True, ""
        except BaseException as e:  # noqa: B902 -- a test may fail any way
            if isinstance(e, KeyboardInterrupt):
                raise
            ok, detail = False, traceback.format_exc()
        finally:
            signal.alarm(0)
        dt = time.monotonic() - t0
        if ok:
            passed += 1
            print("ok   %s (%.2f s)" % (fn.__name__, dt), flush=True)
        else:
            failed += 1
            print("FAIL %s (%.2f s)\n%s" % (fn.__name__, dt, _indent(detail)), flush=True)

    if fixture is None:
        for fn in tests:
            one(fn, ())
    else:
        cm = None
        try:
            signal.alarm(START_DEADLINE_S * 3 + 10)
            cm = fixture()
            value = cm.__enter__()
            signal.alarm(0)
        except BaseException:
            signal.alarm(0)
            detail = traceback.format_exc()
            print("FAIL fixture setup\n%s" % _indent(detail), flush=True)
            for fn in tests:
                print("FAIL %s (not run: fixture setup failed)" % fn.__name__, flush=True)
            failed += len(tests)
            cm = None
        if cm is not None:
            try:
                for fn in tests:
                    one(fn, (value,))
            finally:
                signal.alarm(STOP_DEADLINE_S + 30)
                try:
                    cm.__exit__(None, None, None)
                except BaseException:
                    failed += 1
                    print("FAIL fixture teardown\n%s" % _indent(traceback.format_exc()),
                          flush=True)
                finally:
                    signal.alarm(0)

    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


def _indent(text):
    return "\n".join("    " + line for line in text.rstrip().splitlines())
