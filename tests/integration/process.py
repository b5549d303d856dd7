"""The processes a test starts, and the node's HTTP client.

Owns: the node binary (binary_path, require_binary, run_cli), child_env,
free_port, the rule that a started process dies with its parent
(_die_with_parent) and the one set of running processes (_live, killed at
exit as a last resort), end_process and ManagedProcess (the checked stop and
the context-manager rule of every process helper), wait_healthz, Server (one
`ledgerline serve` on a temporary data directory, with its REST helpers),
the requests session with a default timeout, the JSON error-shape
assertions, parse_metrics, wait_until, and the time limits conftest.py
enforces (TestTimeout, @timeout).
"""

import atexit
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

from signing import FAUCET_DEFAULT, NATIVE_ASSET, Key, tx_id_of

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

START_DEADLINE_S = 20
STOP_DEADLINE_S = 30
HTTP_TIMEOUT_S = 15

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


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
