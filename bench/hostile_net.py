#!/usr/bin/python3
"""Hostile clients against a node's network layer, as an attacker would
send them, with what the node does about it: RSS growth (VmRSS from /proc)
for ping and text-ping floods sent without reading, a pipeline of requests
never read, a body trickled a byte every 5 s, the RFC 9112 heads, and a
close frame with a 1-byte body.

    /usr/bin/python3 bench/hostile_net.py BINARY [--ping-mb 1024] [--text-mb 200]
        [--trickle-s 60] [--skip NAME,...]

A node that stops reading stops the flood early: the row says how many MiB
it took first. Each row gets a fresh node with one worker (so that the
warm-up and the attack share one thread's allocator), and a flood follows a
well-behaved client that warms that allocator up. RSS "after" is read once
the node reports no open stream (ledgerline_stream_subscribers), i.e. once
it has let the client go.
"""
import argparse
import os
import select
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness as H  # noqa: E402

MIB = 1024 * 1024
STALL_S = 3.0


def flood(sock, block, limit):
    """Sends block over and over without reading; returns (bytes, stalled)."""
    sock.settimeout(STALL_S)
    sent = 0
    t0 = time.monotonic()
    while sent < limit:
        try:
            sent += sock.send(block[sent % len(block):])
        except socket.timeout:
            return sent, True, time.monotonic() - t0
        except OSError:
            return sent, "closed", time.monotonic() - t0
    return sent, False, time.monotonic() - t0


def open_streams(srv):
    try:
        return H.server_metric(srv, "ledgerline_stream_subscribers") or 0
    except Exception:  # noqa: BLE001 -- an old node may lack the metric
        return 0


def warm_up(srv):
    """A well-behaved stream client first (2000 pings and 2000 text pings,
    every answer read), so that the first use of the allocator and of the
    stream machinery is not counted as the flood's."""
    with H.RawWebSocket(srv.port) as ws:
        ws.handshake("/api/v1/streams/valid_tx")
        ws.send(H.ws_frame(0x9, b"w" * 125) * 2000 + H.ws_frame(0x1, "ping") * 2000)
        for _ in range(4000):
            ws.recv_frame(30)
    deadline = time.monotonic() + 30
    while open_streams(srv) and time.monotonic() < deadline:
        time.sleep(0.1)


def ws_flood(srv, frame, per_block, limit_mb):
    pid = srv.proc.pid
    warm_up(srv)
    base = H.rss_kib(pid)
    ws = H.RawWebSocket(srv.port, rcvbuf=4096)
    ws.handshake("/api/v1/streams/valid_tx")
    peak = H.RssSampler(pid)
    sent, stalled, took = flood(ws.sock, frame * per_block, limit_mb * MIB)
    top = peak.finish()
    ws.close()
    deadline = time.monotonic() + 30
    while open_streams(srv) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    after = H.rss_kib(pid)
    how = {True: "stopped reading", False: "read it all", "closed": "closed it"}[stalled]
    return ("%5d MiB sent in %5.1f s, node %s; RSS %d MiB -> peak %+d KiB, %+d KiB after the "
            "client left" % (sent // MIB, took, how, base // 1024, top - base, after - base))


def closed_unread(sock, timeout):
    """True when the node closes sock (FIN or RST) within timeout, seen
    without reading what it sent."""
    p = select.poll()
    p.register(sock, select.POLLRDHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _fd, ev in p.poll(500):
            if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                return True
    return False


def pipeline(srv, limit_mb):
    pid = srv.proc.pid
    one = H.http_request("GET", "/api/v1/blocks/0")
    base = H.rss_kib(pid)
    c = H.RawStream(srv.port, rcvbuf=4096)
    peak = H.RssSampler(pid)
    sent, stalled, took = flood(c.sock, one * (65536 // len(one)), limit_mb * MIB)
    top = peak.finish()
    how = {True: "stopped reading", False: "read it all", "closed": "closed it"}[stalled]
    t0 = time.monotonic()
    closed = closed_unread(c.sock, 90)
    c.close()
    end = ("closed %.0f s later" % (time.monotonic() - t0)) if closed else "still open after 90 s"
    return "%d requests in %.1f s, node %s; RSS peak %+d KiB; connection %s" % (
        sent // len(one), took, how, top - base, end)


def trickle(srv, limit_s):
    """The issue's attack: a head, then a 1 MiB body at 1 byte every 5 s."""
    c = H.RawHttp(srv.port)
    c.send(H.http_request("POST", "/api/v1/transactions",
                          headers={"Content-Type": "application/json",
                                   "Content-Length": str(MIB)}))
    t0 = time.monotonic()
    answer = None
    while time.monotonic() - t0 < limit_s:
        try:
            c.send(b" ")
        except OSError:
            break
        if select.select([c.sock], [], [], 5.0)[0]:
            try:
                answer = c.read_response(timeout=5)
            except Exception as e:  # noqa: BLE001
                answer = "closed (%s)" % type(e).__name__
            break
    took = time.monotonic() - t0
    c.close()
    if answer is None:
        return "no answer, connection still open after %.0f s" % took
    if isinstance(answer, str):
        return "%s after %.1f s" % (answer, took)
    return "%d %s after %.1f s" % (answer.status, answer.error(), took)


def heads(srv):
    cases = [("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n"),
             ("HTTP/0.9", b"GET /healthz HTTP/0.9\r\nHost: t\r\n\r\n"),
             ("HTTP/2.0", b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n"),
             ("'Host : t'", b"GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n"),
             ("obs-fold", b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n")]
    out = []
    for name, raw in cases:
        with H.RawHttp(srv.port) as c:
            c.send(raw)
            r = c.read_response()
        out.append("%s -> %d" % (name, r.status))
    return "; ".join(out)


def close_1_byte(srv):
    with H.RawWebSocket(srv.port) as ws:
        ws.handshake("/api/v1/streams/valid_tx")
        ws.send_frame(0x8, b"\x03")
        code, _ = ws.expect_close()
    return "close code %s" % ("(none)" if code is None else code)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--ping-mb", type=int, default=1024)
    ap.add_argument("--text-mb", type=int, default=200)
    ap.add_argument("--pipeline-mb", type=int, default=200)
    ap.add_argument("--trickle-s", type=int, default=60)
    ap.add_argument("--skip", default="")
    a = ap.parse_args()
    os.environ["LEDGERLINE_BIN"] = os.path.abspath(a.binary)
    skip = set(filter(None, a.skip.split(",")))
    rows = [("ping", lambda s: ws_flood(s, H.ws_frame(0x9, b"p" * 125), 500, a.ping_mb)),
            ("text", lambda s: ws_flood(s, H.ws_frame(0x1, "ping"), 6000, a.text_mb)),
            ("pipeline", lambda s: pipeline(s, a.pipeline_mb)),
            ("trickle", lambda s: trickle(s, a.trickle_s)),
            ("heads", heads),
            ("close1", close_1_byte)]
    print("node: %s" % a.binary, flush=True)
    for name, fn in rows:
        if name in skip:
            continue
        # A node per row: what one attack leaves behind does not count for the next.
        with H.Server("--block-interval-ms", "3600000", "--difficulty", "1", "--workers", "1",
                      name="hostile-" + name) as srv:
            print("%-9s %s" % (name, fn(srv)), flush=True)


if __name__ == "__main__":
    main()
