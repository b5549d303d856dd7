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
* Streams   -- sessions (register_user, login, send_message), labelled
               metrics (server_metric), VmRSS (rss_kib); RawWebSocket and
               ws_frame for hand-made frames; WsReader (python3-websockets on
               a LoopThread) and SseStream (raw socket, reader thread) that
               collect what a stream sends and wait on it with deadlines;
               check_*_envelope for the event shapes of API.md §5.
* timeout   -- @timeout(N), a test's own time limit.

The tests run under pytest; conftest.py gives them the shared node of their
file (fresh again after a failed test) and enforces the time limits.

Rules kept here so that the test files need not repeat them: no sleeps for
ordering (poll an observable state with a deadline), every request has a
timeout, every process started is stopped by its pid in a finally block.
"""

import asyncio
import atexit
import base64
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

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


def kill_process(proc):
    """SIGKILL (a crash, or the last resort of a cleanup) and reap it."""
    proc.kill()
    proc.wait()
    _live.discard(proc)


def read_log(path):
    """A process's log file as text; "" before it has one."""
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def end_process(proc, sig, deadline_s, name, report):
    """Stops a started process the checked way: `sig` (SIGTERM for ledgerline,
    SIGINT for nats-server), then up to deadline_s for it to exit; SIGKILL
    and fail when it did not. Fails unless it exited 0, saying whether it
    had exited before it was stopped. report() is the log for a failure,
    read only then."""
    exited_by_itself = proc.poll() is not None
    killed = False
    if not exited_by_itself:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed = True
    _live.discard(proc)
    sig_name = signal.Signals(sig).name
    if killed:
        raise AssertionError("%s ignored %s for %d s (SIGKILLed)\n%s" % (
            name, sig_name, deadline_s, report()))
    if proc.returncode != 0:
        raise AssertionError("%s exited with %d %s\n%s" % (
            name, proc.returncode,
            "before it was stopped" if exited_by_itself else "after " + sig_name, report()))


class ManagedProcess:
    """The context-manager rule of every process helper, on top of its
    start(), stop() (checked; nothing to do when not running) and cleanup():
    start on enter, and cleanup when that fails; on exit stop, then cleanup.
    When the body raised, a failure to stop is printed, not raised, so that
    the first failure is the one reported."""

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
            else:
                try:
                    self.stop()
                except AssertionError as e:  # report it, but keep the first failure
                    print("  (also, while stopping: %s)" % e, flush=True)
        finally:
            self.cleanup()
        return False


def wait_healthz(owner, deadline_s, report, healthy=True):
    """Waits until owner.proc (a ledgerline process started by owner) answers
    GET owner.url + "/healthz" with 200, or, with healthy=False, answers at
    all. Raises _ExitedEarly when the process exits first; at the deadline
    kills it (owner.proc = None) and fails with report()."""
    deadline = time.monotonic() + deadline_s
    while True:
        rc = owner.proc.poll()
        if rc is not None:
            raise _ExitedEarly("exited with %d before answering /healthz" % rc)
        try:
            r = owner.session.get(owner.url + "/healthz", timeout=2)
            if r.status_code == 200 or not healthy:
                return
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            kill_process(owner.proc)
            owner.proc = None
            raise AssertionError("%s not ready within %d s\n%s" % (owner.name, deadline_s,
                                                                  report()))
        time.sleep(0.05)


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

class Server(ManagedProcess):
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
        wait_healthz(self, START_DEADLINE_S, self._stderr_report)

    def stop(self):
        """SIGTERM, wait (30 s deadline, then SIGKILL and fail); asserts exit
        code 0 and no sanitizer report in stderr."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if self.session is not None:
            self.session.close()
        end_process(proc, signal.SIGTERM, STOP_DEADLINE_S, self.name, self._stderr_report)
        self.check_sanitizers()

    def kill9(self):
        """SIGKILL, for crash tests. Only the sanitizers' silence is checked."""
        assert self.proc is not None, "not running"
        proc, self.proc = self.proc, None
        if self.session is not None:
            self.session.close()
        kill_process(proc)
        self.check_sanitizers()

    def restart(self, *flags):
        self.stop()
        return self.start(*flags)

    def cleanup(self):
        if self.proc is not None:
            kill_process(self.proc)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- logs ----------------------------------------------------------------

    def stderr(self):
        return read_log(self.stderr_path)

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
# Time limits (enforced by conftest.py)
# --------------------------------------------------------------------------

class TestTimeout(Exception):
    """Raised in a test that outlives its time limit."""
    __test__ = False  # not a test class


def timeout(seconds):
    """Decorator: a test's own time limit (default 120 s, conftest.py)."""
    def mark(fn):
        fn.timeout_s = seconds
        return fn
    return mark


# --------------------------------------------------------------------------
# Streams: sessions, labelled metrics, process memory, raw WebSocket and SSE
# clients (docs/API.md §3 sessions, §4, §5). Added for the stream tests; the
# helpers above are unchanged.
# --------------------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def register_user(srv, username, password):
    """POST /api/register (JSON); asserts 201."""
    r = srv.post("/api/register", json={"username": username, "password": password})
    assert r.status_code == 201, "register %s: %d %s" % (username, r.status_code, r.text[:300])
    return r


def login(srv, username, password):
    """POST /api/login (JSON); asserts 200 and a `session` cookie. Returns
    the cookie's value."""
    r = srv.post("/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, "login %s: %d %s" % (username, r.status_code, r.text[:300])
    token = r.cookies.get("session")
    assert token, "login %s: no session cookie in %r" % (username, r.headers.get("Set-Cookie"))
    return token


def user_session(srv, token):
    """A requests session that sends the session cookie."""
    s = new_session()
    s.cookies.set("session", token)
    return s


def send_message(srv, token, to, text):
    """POST /api/messages as the cookie's user; asserts 202 pending. Returns tx_id."""
    with user_session(srv, token) as s:
        r = s.post(srv.url + "/api/messages", json={"to": to, "text": text})
    assert r.status_code == 202, "message: %d %s" % (r.status_code, r.text[:300])
    doc = r.json()
    assert set(doc) == {"tx_id", "status"} and doc["status"] == "pending", doc
    assert is_hex(doc["tx_id"], 64), doc
    return doc["tx_id"]


_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metric_samples(text):
    """Every sample of a Prometheus text page, labelled or not:
    [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = dict(_LABEL_RE.findall(m.group(2) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            pass
    return out


def metric_sum(samples, name, **labels):
    """The sum of the samples called name whose labels include `labels`;
    None when there is no such sample."""
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == v2 for k, v2 in labels.items())]
    return sum(found) if found else None


def server_metric(srv, name, **labels):
    r = srv.get("/metrics")
    assert r.status_code == 200, r.status_code
    return metric_sum(parse_metric_samples(r.text), name, **labels)


def rss_kib(pid):
    """VmRSS of a process in KiB, from /proc/<pid>/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class RawStream(RawHttp):
    """A RawHttp whose socket may get a small receive buffer before it
    connects (a reader that stalls fills it quickly), over TLS when given an
    ssl_context (a proxy in front, test_proxy.py)."""

    def __init__(self, port, timeout=10.0, rcvbuf=None, ssl_context=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.buf = b""


def ws_accept_of(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_upgrade_request(path, key=None, headers=None, version="13"):
    """The bytes of a WebSocket upgrade request (RFC 6455 §4.1). A header
    whose value is None in `headers` is left out."""
    h = {"Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
         "Sec-WebSocket-Version": version}
    h.update(headers or {})
    return http_request("GET", path, headers={k: v for k, v in h.items() if v is not None})


class WsClosedWithoutCloseFrame(Exception):
    pass


class RawWebSocket(RawStream):
    """A hand-made WebSocket client for what a library will not send:
    unmasked frames, reserved opcodes, bad UTF-8, oversized messages."""

    def __init__(self, port, timeout=10.0, rcvbuf=None):
        super().__init__(port, timeout, rcvbuf)
        self.response = None

    def handshake(self, path, headers=None, expect=101):
        """Sends the upgrade and reads the answer (kept in .response).
        With expect=101 asserts the switch and Sec-WebSocket-Accept."""
        key = base64.b64encode(os.urandom(16)).decode()
        self.send(ws_upgrade_request(path, key, headers))
        self.response = r = self.read_response()
        if expect is not None:
            assert r.status == expect, "upgrade %s: expected %d, got %r %r" % (
                path, expect, r, r.headers)
        if r.status == 101:
            assert r.headers.get("upgrade", "").lower() == "websocket", r.headers
            assert "upgrade" in r.headers.get("connection", "").lower(), r.headers
            assert r.headers.get("sec-websocket-accept") == ws_accept_of(key), r.headers
        return r

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.send(ws_frame(opcode, payload, fin, mask, rsv))

    def send_text(self, text):
        self.send_frame(0x1, text)

    def send_close(self, code=1000):
        try:
            self.send_frame(0x8, code.to_bytes(2, "big"))
        except OSError:
            pass

    def recv_frame(self, timeout=10.0):
        """(fin, rsv, opcode, payload) of the next frame from the server,
        which must be unmasked (RFC 6455 §5.1)."""
        self.sock.settimeout(timeout)
        try:
            b0, b1 = self._read_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._read_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._read_exact(8), "big")
            assert not b1 & 0x80, "the server masked a frame"
            payload = self._read_exact(n)
        except (PeerClosed, ConnectionResetError) as e:
            raise WsClosedWithoutCloseFrame(str(e))
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def expect_close(self, timeout=10.0):
        """Reads frames (data frames are skipped) until a close frame; returns
        its (code, reason), echoes the close and checks that the server then
        closes the TCP connection. code is None for an empty close payload."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no close frame within %.1f s" % timeout)
            try:
                _fin, _rsv, opcode, payload = self.recv_frame(left)
            except socket.timeout:
                raise AssertionError("no close frame within %.1f s" % timeout)
            if opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.send_close(code or 1000)
                assert self.wait_closed_quietly(5), "the server kept TCP open after its close"
                return code, payload[2:].decode("utf-8", "replace")

    def wait_closed_quietly(self, timeout):
        """True when the server closes TCP within timeout (bytes still
        arriving are dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                continue
            except OSError:
                return True
        return False


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """The bytes of one WebSocket frame (RFC 6455 §5.2), masked as a
    client's must be unless mask=False."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)
        payload = _mask_fast(payload, key) if payload else b""
        head += key
    return head + payload


def _mask_fast(payload, key):
    k = int.from_bytes((key * ((len(payload) + 3) // 4))[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


class SseEvent:
    """One dispatched SSE event: its id (int, or None without an id line),
    the data text and the parsed JSON."""

    def __init__(self, event_id, data):
        self.id = event_id
        self.data = data
        self.json = json.loads(data)

    @property
    def type(self):
        return self.json.get("type")

    def __repr__(self):
        return "SseEvent(%r, %s)" % (self.id, self.data[:100])


class _Waiting:
    """What the SSE and WebSocket readers share: a reading thread fills the
    object under self.cond, and the test waits on it with a deadline. A
    subclass names its own state for the failure messages."""

    def _failure(self):
        return None  # a reading thread's own error, if it reports one

    def wait_for(self, predicate, timeout=20.0, what="an event"):
        """Waits until predicate(self) is truthy and returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                failure = self._failure()
                if failure:
                    raise AssertionError(failure)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %.1f s waiting for %s (%s)" % (
                        timeout, what, self._state()))
                if self.closed:
                    raise AssertionError(self._closed_while(what))
                self.cond.wait(min(left, 0.5))


class SseStream(_Waiting):
    """GET an event stream over a raw socket. A non-200 answer is read whole
    (.status, .response). A 200 is read by a thread (start=False defers it:
    a reader that stalls) that decodes chunked or close-delimited bodies and
    keeps: .lines (every line, in order), .events (SseEvent), .comments
    (comment lines without the colon), .blocks (lines between blank lines)
    and .closed once the server ends the stream."""

    def __init__(self, port, path="/api/stream", cookie=None, headers=None, rcvbuf=None,
                 start=True, accept="text/event-stream", timeout=10.0, ssl_context=None):
        self.conn = RawStream(port, timeout, rcvbuf, ssl_context)
        h = {}
        if accept is not None:
            h["Accept"] = accept
        if cookie is not None:
            h["Cookie"] = "session=%s" % cookie
        h.update(headers or {})
        self.conn.send(http_request("GET", path, headers=h))
        self.conn.sock.settimeout(timeout)
        self.head = head = self.conn._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^HTTP/1\.[01] (\d{3})", lines[0])
        assert m, "bad status line %r" % lines[0]
        self.status = int(m.group(1))
        self.headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
        self.response = None
        self.lines, self.events, self.comments, self.blocks = [], [], [], []
        self.comment_times = []  # time.monotonic() of each comment's arrival
        self.closed = False
        self.error = None
        self.cond = threading.Condition()
        self._thread = None
        self._stop = False
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            body = self.conn._read_exact(n)
            self.response = RawResponse(self.status, "", list(self.headers.items()), body)
            self.conn.close()
            self.closed = True
            return
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if start:
            self.start()

    def start(self):
        assert self._thread is None and self.status == 200
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- the reading thread --------------------------------------------------

    def _body_bytes(self):
        """Yields body bytes as they arrive, de-chunked."""
        c = self.conn
        c.sock.settimeout(0.5)
        pending = c.buf
        c.buf = b""
        if not self.chunked:
            if pending:
                yield pending
            while not self._stop:
                try:
                    chunk = c.sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                yield chunk
            return
        buf = pending
        while not self._stop:
            # size line
            while b"\r\n" not in buf:
                more = self._recv()
                if more is None:
                    return
                buf += more
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            while len(buf) < size + 2:
                more = self._recv()
                if more is None:
                    return
                buf += more
            data, buf = buf[:size], buf[size + 2:]
            yield data

    def _recv(self):
        while not self._stop:
            try:
                chunk = self.conn.sock.recv(65536)
            except socket.timeout:
                continue
            return chunk or None
        return None

    def _run(self):
        text = b""
        block = []
        data_lines = []
        event_id = None
        try:
            for chunk in self._body_bytes():
                text += chunk
                *complete, text = text.split(b"\n")
                if not complete:
                    continue
                with self.cond:
                    for raw in complete:
                        line = raw.decode("utf-8")
                        if line.endswith("\r"):
                            line = line[:-1]
                        self.lines.append(line)
                        if line == "":
                            if block:
                                self.blocks.append(block)
                            if data_lines:
                                self.events.append(SseEvent(event_id, "\n".join(data_lines)))
                            block, data_lines, event_id = [], [], None
                            continue
                        block.append(line)
                        if line.startswith(":"):
                            self.comments.append(line[1:].strip())
                            self.comment_times.append(time.monotonic())
                            continue
                        field, _, value = line.partition(":")
                        if value.startswith(" "):
                            value = value[1:]
                        if field == "data":
                            data_lines.append(value)
                        elif field == "id":
                            event_id = int(value) if value.isdigit() else value
                    self.cond.notify_all()
        except BaseException as e:  # reported by wait_for
            self.error = e
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    # -- the test's side ---------------------------------------------------------

    def _failure(self):
        return "SSE reader failed: %r" % (self.error,) if self.error is not None else None

    def _state(self):
        return "%d events, closed=%s, last: %r" % (len(self.events), self.closed, self.events[-3:])

    def _closed_while(self, what):
        return "stream closed while waiting for %s (%d events)" % (what, len(self.events))

    def wait_closed(self, timeout=20.0):
        return self.wait_for(lambda s: s.closed or None, timeout, "the stream to end") \
            if not self.closed else True

    def snapshot(self):
        with self.cond:
            return list(self.events)

    def close(self):
        self._stop = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(5)
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class LoopThread:
    """An asyncio loop on its own thread, so that a test can keep many
    WebSocket connections open while its main thread makes blocking calls."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.readers = []  # every WsReader on this loop, closed by stop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro, timeout=20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        """Closes every reader still open (a close handshake, bounded), then
        cancels what is left and stops the loop."""
        async def shutdown():
            closing = [asyncio.ensure_future(r.ws.close()) for r in self.readers
                       if not r.closed]
            if closing:
                await asyncio.wait(closing, timeout=5)
            for r in self.readers:
                if r.ws.transport is not None and not r.ws.transport.is_closing():
                    r.ws.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)
        try:
            self.call(shutdown(), 20)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class WsReader(_Waiting):
    """A websockets (asyncio) client on a LoopThread that collects every
    text message the server sends (.messages) and how the connection ended
    (.close_code once .closed)."""

    def __init__(self, lt, uri, headers=None, open_timeout=10.0, **kw):
        import websockets  # python3-websockets
        self.websockets = websockets
        self.lt = lt
        self.uri = uri
        self.messages = []
        self.closed = False
        self.closed_at = None  # time.monotonic() when the connection ended
        self.close_code = None
        self.close_reason = None
        self.cond = threading.Condition()
        kw.setdefault("ping_interval", None)  # the tests decide when to ping
        kw.setdefault("max_size", 2 ** 20)
        kw.setdefault("close_timeout", 3)

        async def connect():
            return await websockets.connect(uri, extra_headers=headers or {},
                                            open_timeout=open_timeout, **kw)
        self.ws = lt.call(connect(), open_timeout + 5)
        lt.readers.append(self)
        self.task = asyncio.run_coroutine_threadsafe(self._read(), lt.loop)

    async def _read(self):
        try:
            async for msg in self.ws:
                with self.cond:
                    self.messages.append(msg)
                    self.cond.notify_all()
        except self.websockets.ConnectionClosed:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.closed_at = time.monotonic()
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason
                self.cond.notify_all()

    def _state(self):
        return "on %s: %d messages, closed=%s code=%s, last: %r" % (
            self.uri, len(self.messages), self.closed, self.close_code, self.messages[-3:])

    def _closed_while(self, what):
        return "%s closed (code %s) while waiting for %s" % (self.uri, self.close_code, what)

    def wait_closed(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s still open after %.1f s" % (self.uri, timeout))
                self.cond.wait(min(left, 0.5))
        return self.close_code

    def json_messages(self):
        with self.cond:
            return [json.loads(m) for m in self.messages if m not in ("pong",)]

    def send(self, data):
        self.lt.call(self.ws.send(data))

    def ping(self, payload, timeout=10.0):
        """Sends a ping control frame; waits for the pong with that payload."""
        async def go():
            waiter = await self.ws.ping(payload)
            await asyncio.wait_for(waiter, timeout)
        self.lt.call(go(), timeout + 5)

    def close(self):
        if not self.closed:
            try:
                self.lt.call(self.ws.close(), 15)
            except Exception:
                pass


# Envelopes of the event streams (docs/API.md §5; seed 002).
ENVELOPE_BLOCK_KEYS = set(SEED_BLOCK_FIELDS)
ENVELOPE_MSG_KEYS = {"sender", "sender_address", "address", "text", "timestamp", "status",
                     "block", "tx_id"}
ENVELOPE_TX_KEYS = {"tx_id", "sender", "recipient", "kind", "amount", "fee", "timestamp",
                    "block_height"}  # at least these; calls add to, selector, arg_count


def coins(units):
    """Units as events show them: coins (10000 units = 0.01)."""
    return units / UNITS_PER_COIN


def same_amount(coins_value, units):
    return isinstance(coins_value, (int, float)) and not isinstance(coins_value, bool) and \
        abs(coins_value - coins(units)) < 1e-9


def envelope_tx_id(env):
    """The tx_id an envelope is about (None for a block)."""
    for key in ("tx", "msg", "receipt"):
        if key in env:
            return env[key].get("tx_id")
    return None


def envelope_involves(env, address):
    """True when address is the event's sender, recipient, miner, contract
    or message author (docs/API.md §5), for the kinds without contracts."""
    a = address.lower()
    if a.startswith("0x"):
        a = a[2:]
    if env.get("type") == "block":
        return env["block"]["miner"] == a
    if env.get("type") == "tx":
        t = env["tx"]
        return a in (t.get("sender"), t.get("recipient"), (t.get("to") or "")[2:])
    if env.get("type") == "message":
        m = env["msg"]
        return a in (m.get("sender_address"), m.get("address"))
    if env.get("type") == "receipt":
        return env["receipt"].get("to") == a
    return False


def check_block_envelope(env, block):
    """env is {"type": "block", "block": …} showing exactly the seed fields
    of the REST block."""
    assert set(env) == {"type", "block"} and env["type"] == "block", env
    b = env["block"]
    assert set(b) == ENVELOPE_BLOCK_KEYS, "block envelope keys %s" % sorted(b)
    want = {k: block[k] for k in SEED_BLOCK_FIELDS}
    assert b == want, (b, want)
    assert isinstance(b["timestamp"], float), b


def check_msg_envelope(env, tx, status, height, sender=None):
    """A message envelope for the committed-or-pending message tx (its REST
    form); sender is the username when the author is a registered user."""
    assert set(env) == {"type", "msg"} and env["type"] == "message", env
    m = env["msg"]
    assert set(m) == ENVELOPE_MSG_KEYS, "message envelope keys %s" % sorted(m)
    author = address_of_pubkey(bytes.fromhex(tx["sender_pubkey"]))
    assert m["tx_id"] == tx["tx_id"], (m, tx["tx_id"])
    assert m["sender_address"] == author, (m, author)
    assert m["sender"] == (sender or author), (m, sender or author)
    assert m["address"] == tx["recipient"], (m, tx["recipient"])
    assert m["text"] == tx["memo"], m
    assert isinstance(m["timestamp"], (int, float)) and not isinstance(m["timestamp"], bool), m
    assert m["status"] == status, (m, status)
    assert m["block"] == height, (m, height)


def check_tx_envelope(env, tx, height):
    """A tx envelope for the committed non-message tx (its REST form)."""
    assert set(env) == {"type", "tx"} and env["type"] == "tx", env
    t = env["tx"]
    assert ENVELOPE_TX_KEYS <= set(t), "tx envelope lacks %s" % sorted(ENVELOPE_TX_KEYS - set(t))
    assert t["tx_id"] == tx["tx_id"], (t, tx["tx_id"])
    assert t["sender"] == address_of_pubkey(bytes.fromhex(tx["sender_pubkey"])), t
    assert t["kind"] == tx["kind"], t
    assert t["block_height"] == height, (t, height)
    assert same_amount(t["fee"], tx["fee"]), (t["fee"], tx["fee"])
    assert isinstance(t["timestamp"], (int, float)) and not isinstance(t["timestamp"], bool), t
    if tx["kind"] == "transfer":
        assert t["recipient"] == tx["recipient"], t
        if tx.get("asset_id") in (None, NATIVE_ASSET):
            assert same_amount(t["amount"], tx["amount"]), (t["amount"], tx["amount"])


class RssSampler:
    """The peak VmRSS of process pid while it runs (a measurement, not a
    wait): sampled every 20 ms on a thread until finish() returns it."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, rss_kib(pid), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.02):
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except (OSError, AssertionError):
                return

    def finish(self):
        self.stop.set()
        self.thread.join(5)
        return self.peak
