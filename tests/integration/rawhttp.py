"""Raw HTTP/1.1 over a socket, for the protocol-level tests.

Owns: RawHttp (one TCP connection: send bytes, read whole responses, plain,
chunked or close-delimited; wait_closed), RawResponse, PeerClosed and
http_request (the bytes of one request).
"""

import json
import re
import socket
import time

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
