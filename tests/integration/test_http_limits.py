"""The HTTP layer seen through raw sockets: limits (431, 413, 411, 408, 400),
pipelining, keep-alive, and the JSON shape of 404/405 (docs/API.md §3.7,
§3.8). One node for the file, started *without* --dev."""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import RawHttp, http_request  # noqa: E402

KIB = 1024
MIB = 1024 * 1024


SERVER_FLAGS = ("--block-interval-ms", "100", "--difficulty", "2")
SERVER_NAME = "http-node"


def get(path, **headers):
    return http_request("GET", path, headers=headers)


def assert_json_error(r, status, code):
    assert r.status == status, "expected %d %s, got %r" % (status, code, r)
    assert r.error() == code, r
    assert "content-length" in r.headers, r.header_list


# --------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------

def test_head_over_16_kib_is_431_headers_too_large(srv):
    with RawHttp(srv.port) as c:
        c.send(get("/healthz", **{"X-Fill": "a" * (17 * KIB)}))
        assert_json_error(c.read_response(), 431, "headers_too_large")
    many = {"X-Fill-%03d" % i: "b" * 60 for i in range(300)}  # ~21 KiB of small headers
    with RawHttp(srv.port) as c:
        c.send(get("/healthz", **many))
        assert_json_error(c.read_response(), 431, "headers_too_large")


def test_head_under_16_kib_is_served(srv):
    with RawHttp(srv.port) as c:
        c.send(get("/healthz", **{"X-Fill": "a" * (15 * KIB)}))
        r = c.read_response()
    assert r.status == 200 and r.body.strip() == b"ok", r


def test_body_over_1_mib_is_413_before_the_body_is_sent(srv):
    with RawHttp(srv.port) as c:
        c.send(http_request("POST", "/api/v1/transactions",
                            headers={"Content-Length": str(MIB + 1)}))
        assert_json_error(c.read_response(timeout=10), 413, "payload_too_large")


def test_body_over_1_mib_sent_at_once_is_413_payload_too_large(srv):
    body = b"{" + b" " * (MIB + 16) + b"}"
    with RawHttp(srv.port) as c:
        def pump():
            try:
                c.send(http_request("POST", "/api/v1/transactions", body=body))
            except OSError:
                pass  # the node may close before it has read everything
        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        r = c.read_response(timeout=15)
        sender.join(15)
    assert_json_error(r, 413, "payload_too_large")


def test_body_of_exactly_1_mib_is_not_refused_for_size(srv):
    body = b"{" + b" " * (MIB - 2) + b"}"
    assert len(body) == MIB
    with RawHttp(srv.port) as c:
        c.send(http_request("POST", "/api/v1/transactions", body=body))
        r = c.read_response(timeout=15)
    assert_json_error(r, 400, "missing_field")  # an empty object lacks "kind"


def test_chunked_request_body_is_411_length_required(srv):
    key = H.Key.generate()
    tx = json.dumps(H.transfer(key, H.random_address(), 1, 0)).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(tx), tx)
    req = (b"POST /api/v1/transactions HTTP/1.1\r\nHost: t\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    with RawHttp(srv.port) as c:
        c.send(req)
        assert_json_error(c.read_response(), 411, "length_required")


def test_garbage_requests_are_400_bad_request_json_and_closed(srv):
    tls_client_hello = bytes.fromhex("16030100a5010000a10303") + os.urandom(32) + b"\x00" * 40
    cases = [b"HELLO WORLD\r\n\r\n",
             tls_client_hello,
             b"GET / HTTP/1.1\r\nHost: t\r\nThis is not a header\r\n\r\n",
             b"POST /api/v1/transactions HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
             b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]
    for raw in cases:
        with RawHttp(srv.port) as c:
            c.send(raw)
            r = c.read_response()
            assert_json_error(r, 400, "bad_request")
            assert c.wait_closed(5), "the node keeps a connection after %r" % raw[:30]


# --------------------------------------------------------------------------
# Pipelining and keep-alive
# --------------------------------------------------------------------------

def pipeline():
    """Five requests, the first of which needs the ledger thread (a valid
    transfer from an account without funds) and so is the slowest."""
    key = H.Key.generate()
    tx = json.dumps(H.transfer(key, H.random_address(), 1, 0)).encode()
    reqs = [http_request("POST", "/api/v1/transactions", body=tx,
                         headers={"Content-Type": "application/json"}),
            get("/healthz"),
            get("/api/v1/blocks/0"),
            get("/no/such/path"),
            get("/api/v1/accounts/" + H.random_address())]
    return b"".join(reqs)


def check_pipeline_answers(c):
    r = c.read_response()
    assert r.status == 422 and r.error() == "insufficient_funds", r
    r = c.read_response()
    assert r.status == 200 and r.body.strip() == b"ok", r
    r = c.read_response()
    assert r.status == 200 and r.json()["height"] == 0, r
    r = c.read_response()
    assert_json_error(r, 404, "not_found")
    r = c.read_response()
    assert_json_error(r, 404, "not_found")


def test_pipelined_requests_are_answered_in_order(srv):
    with RawHttp(srv.port) as c:
        c.send(pipeline())
        check_pipeline_answers(c)


def test_pipelined_requests_split_at_odd_boundaries_are_answered_in_order(srv):
    data = pipeline()
    with RawHttp(srv.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
        check_pipeline_answers(c)


def test_keep_alive_serves_many_requests_on_one_connection(srv):
    with RawHttp(srv.port) as c:
        for i in range(20):
            c.send(get("/healthz") if i % 2 else get("/api/v1/blocks/0"))
            r = c.read_response()
            assert r.status == 200, (i, r)
            assert r.headers.get("connection", "").lower() != "close", r.header_list
        assert not c.wait_closed(0.3), "closed after 20 keep-alive requests"


def test_connection_close_is_answered_then_closed(srv):
    with RawHttp(srv.port) as c:
        c.send(get("/healthz", Connection="close"))
        r = c.read_response()
        assert r.status == 200, r
        assert c.wait_closed(5), "Connection: close was not honoured"
    with RawHttp(srv.port) as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body.strip() == b"ok", r
        assert c.wait_closed(5), "an HTTP/1.0 request without keep-alive stays open"


# --------------------------------------------------------------------------
# 404 / 405 shapes
# --------------------------------------------------------------------------

def test_unknown_path_is_404_json_error(srv):
    for path in ("/no/such/path", "/api/v1/blockz/1", "/api/v1/streams/valid_tx/extra"):
        with RawHttp(srv.port) as c:
            c.send(get(path))
            assert_json_error(c.read_response(), 404, "not_found")


def test_wrong_method_is_405_json_with_allow_header(srv):
    with RawHttp(srv.port) as c:
        c.send(http_request("DELETE", "/api/v1/blocks/latest"))
        r = c.read_response()
        assert_json_error(r, 405, "method_not_allowed")
        assert "GET" in [m.strip() for m in r.headers.get("allow", "").split(",")], r.header_list
        c.send(http_request("PUT", "/api/v1/transactions", body=b"{}"))
        r = c.read_response()
        assert_json_error(r, 405, "method_not_allowed")
        assert "POST" in [m.strip() for m in r.headers.get("allow", "").split(",")], r.header_list
        c.send(get("/healthz"))  # a 405 does not end the connection
        assert c.read_response().status == 200


def test_faucet_without_dev_is_404_not_found(srv):
    body = json.dumps({"address": H.random_address(), "amount": 5}).encode()
    with RawHttp(srv.port) as c:
        c.send(http_request("POST", "/api/v1/faucet", body=body,
                            headers={"Content-Type": "application/json"}))
        assert_json_error(c.read_response(), 404, "not_found")


# --------------------------------------------------------------------------
# Timeouts (slow: 10 s and 60 s)
# --------------------------------------------------------------------------

@H.timeout(40)
def test_slow_head_is_408_request_timeout_after_10_s(srv):
    with RawHttp(srv.port) as c:
        t0 = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        r = c.read_response(timeout=25)
        elapsed = time.monotonic() - t0
        assert_json_error(r, 408, "request_timeout")
        assert elapsed >= 8, "408 after %.1f s, before the 10 s limit" % elapsed


@H.timeout(100)
def test_idle_keep_alive_connection_is_closed_after_60_s(srv):
    with RawHttp(srv.port) as c:
        c.send(get("/healthz"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.wait_closed(80), "an idle keep-alive connection is still open after 80 s"
        elapsed = time.monotonic() - t0
        assert elapsed >= 55, "closed after %.1f s of idleness, before 60 s" % elapsed
