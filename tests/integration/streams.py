"""Streams: sessions, labelled metrics, process memory, and the raw
WebSocket and SSE clients (docs/API.md §3 sessions, §4, §5).

Owns: register_user, login, user_session, send_message; parse_metric_samples,
metric_sum, server_metric; rss_kib and RssSampler (VmRSS of a process);
RawStream, RawWebSocket and ws_frame for hand-made frames; _Waiting (a
reading thread fills the object, the test waits on it with a deadline);
SseStream (raw socket, reader thread); LoopThread and WsReader
(python3-websockets on an asyncio loop of its own thread).
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import threading
import time

from process import new_session
from rawhttp import PeerClosed, RawHttp, RawResponse, http_request
from signing import is_hex

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
    unmasked frames, reserved opcodes, bad UTF-8, oversized messages. Over
    TLS when given an ssl_context."""

    def __init__(self, port, timeout=10.0, rcvbuf=None, ssl_context=None):
        super().__init__(port, timeout, rcvbuf, ssl_context)
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
