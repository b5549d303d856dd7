"""pytest fixtures and hooks of the integration tests.

* srv          -- the node a file's tests share, `ledgerline serve` with the
                  file's module-level SERVER_FLAGS (and SERVER_NAME,
                  SERVER_ENV when given). It starts on first use and is
                  stopped after the file's last test.
* shared_node  -- what srv is built on, for a file whose tests share
                  something other than a bare Server: `shared_node(factory)`
                  returns the value of factory()'s context manager, made on
                  first use (see test_stream_backpressure.py).

Sharing keeps the suite fast; one failure must not cascade through the
file, so a test that used the shared node and failed stops it (in its own
teardown), and the next test gets a fresh node with a new data directory.
A node that died during a test is stopped there too.

Every stop is checked: exit code 0 after SIGTERM and no sanitizer report in
its stderr, else the test in whose teardown it happens fails with the
node's stderr (Server.stop).

Time limits: a test runs under its @H.timeout(N) (default 120 s), set up
and torn down under limits of their own; SIGALRM raises H.TestTimeout in
the main thread, where pytest runs tests and the harness starts servers.
"""

import contextlib
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

DEFAULT_TEST_TIMEOUT_S = 120
SETUP_TIMEOUT_S = H.START_DEADLINE_S * 3 + 10   # a start may take three tries
TEARDOWN_TIMEOUT_S = H.STOP_DEADLINE_S + 30     # a stop waits STOP_DEADLINE_S for the exit

_CALL_FAILED = pytest.StashKey()


# --------------------------------------------------------------------------
# Time limits
# --------------------------------------------------------------------------

@contextlib.contextmanager
def _time_limit(seconds, what):
    def on_alarm(signum, frame):
        raise H.TestTimeout("%s exceeded its time limit of %d s" % (what, seconds))
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _time_limit(SETUP_TIMEOUT_S, "setup"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    seconds = getattr(getattr(item, "function", None), "timeout_s", DEFAULT_TEST_TIMEOUT_S)
    with _time_limit(seconds, "the test"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _time_limit(TEARDOWN_TIMEOUT_S, "teardown"):
        yield


# --------------------------------------------------------------------------
# Failures: a test that failed leaves its successors a fresh node
# --------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True


class _SharedNode:
    """The node of one test file: made on first use, stopped by release()."""

    def __init__(self):
        self.cm = None      # the context manager: a Server, or a file's own
        self.value = None   # what its __enter__ returned: what the tests get
        self.start_error = None

    def get(self, factory):
        if self.start_error is not None:
            pytest.fail("not run: the shared node did not start for an earlier test: %s"
                        % self.start_error, pytrace=False)
        if self.cm is None:
            cm = factory()
            try:
                self.value = cm.__enter__()  # cleans up after itself when it fails
            except Exception as e:
                self.start_error = "%s: %s" % (type(e).__name__, str(e).splitlines()[0])
                raise
            self.cm = cm
        return self.value

    def died(self):
        """True when the node's process has exited without being stopped."""
        srv = self.value if isinstance(self.value, H.Server) else getattr(self.value, "srv", None)
        return srv is not None and srv.proc is not None and srv.proc.poll() is not None

    def release(self):
        """Stops the node (exit code and sanitizers checked) and removes its
        data directory; raises AssertionError when the check fails."""
        cm, self.cm, self.value = self.cm, None, None
        if cm is not None:
            cm.__exit__(None, None, None)


@pytest.fixture(scope="module")
def _node_of_file():
    node = _SharedNode()
    yield node
    node.release()


@pytest.fixture
def shared_node(request, _node_of_file):
    """shared_node(factory): the file's shared node, factory() (a context
    manager) entered on first use or after a failed test."""
    used = []

    def get(factory):
        used.append(factory)
        return _node_of_file.get(factory)

    yield get
    if not used or _node_of_file.cm is None:
        return
    if request.node.stash.get(_CALL_FAILED, False) or _node_of_file.died():
        _node_of_file.release()


@pytest.fixture
def srv(request, shared_node):
    """The file's shared Server, started with the module's SERVER_FLAGS."""
    module = request.module
    flags = getattr(module, "SERVER_FLAGS", None)
    if flags is None:
        pytest.fail("%s uses srv but declares no SERVER_FLAGS" % module.__name__,
                    pytrace=False)
    return shared_node(lambda: H.Server(*flags, name=getattr(module, "SERVER_NAME", "ledgerline"),
                                        env=getattr(module, "SERVER_ENV", None)))
