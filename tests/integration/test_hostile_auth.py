"""Hostile clients against the session side of the node (docs/API.md §3.9,
§3.10, §4.1, §5.1), as an independent client sees it:

* the session streams (/api/stream and the `events` WebSocket) refuse a
  foreign Origin with 403; the node's own origin, --allowed-origins and no
  Origin pass; the public streams keep taking any Origin;
* logout and session expiry end that session's open streams: the SSE body
  ends with its last chunk, the WebSocket closes with 1008;
* login and register attempts are limited per client address, failed ones
  per username, chat messages per user and per address: 429 rate_limited
  with Retry-After;
* a flood of logins is answered with 429 when the password hashes are busy,
  the node keeps serving, and its memory stays bounded;
* unknown or undecodable `types=` names are ignored, not a 400.

Each test starts the node it needs, with small limits where it tests them.
`python3 test_hostile_auth.py --figures` measures, instead of testing, the
figures of the release notes (login flood, logout to stream end) against
$LEDGERLINE_BIN (a release build)."""

import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

PASSWORD = "correct horse battery"
FAST = ("--dev", "--block-interval-ms", "150", "--difficulty", "1")
NO_LIMITS = ("--auth-attempts-per-ip", "0", "--login-failures-per-user", "0",
             "--messages-per-user", "0", "--messages-per-ip", "0")
ENDED_WITHIN_S = 10  # the node promises 5 s (one check a second); the tests allow 10
EVIL = "http://evil.example"
ARGON2_MIB = 64
# ASan keeps freed memory in a quarantine (256 MiB by default) that would
# swamp the RSS measurement of a sanitized build; a small one keeps it honest.
ASAN_OPTIONS = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16"]))


def new_user(srv, prefix="u"):
    name = prefix + os.urandom(4).hex()
    H.register_user(srv, name, PASSWORD)
    return name


def login(srv, name, password=PASSWORD, headers=None):
    return H.new_session().post(srv.url + "/api/login", headers=headers,
                                json={"username": name, "password": password})


def register(srv, name, password=PASSWORD):
    return H.new_session().post(srv.url + "/api/register",
                                json={"username": name, "password": password})


def logout(srv, cookie):
    with H.user_session(srv, cookie) as s:
        r = s.post(srv.url + "/api/logout", json={})
    assert r.status_code == 200, (r.status_code, r.text)


def upgrade(srv, path, headers=None):
    """A WebSocket upgrade on a raw socket; its RawResponse."""
    with H.RawHttp(srv.port) as c:
        c.send(H.ws_upgrade_request(path, headers=headers))
        return c.read_response(timeout=10)


def sse_get(srv, path="/api/stream", headers=None):
    """GET of an event stream on a raw socket: (connection, response head
    as a RawResponse without body) when it is 200, else the whole answer."""
    c = H.RawHttp(srv.port)
    h = {"Accept": "text/event-stream"}
    h.update(headers or {})
    c.send(H.http_request("GET", path, headers=h))
    c.sock.settimeout(10)
    head = c._read_until(b"\r\n\r\n").decode("latin-1")
    status = int(head.split(" ", 2)[1])
    if status != 200:
        c.buf = head.encode("latin-1") + c.buf
        resp = c.read_response()
        c.close()
        return None, resp
    return c, head


def cookie_hdr(cookie):
    return {"Cookie": "session=" + cookie}


def assert_limited(resp, code="rate_limited"):
    """429 with the JSON error and a Retry-After of whole seconds >= 1."""
    H.assert_error(resp, 429, code)
    retry = resp.headers.get("Retry-After", "")
    assert retry.isdigit() and int(retry) >= 1, "Retry-After %r" % retry
    return int(retry)


def read_whole_sse_body(c, timeout):
    """Reads the rest of a chunked event stream until its last chunk; returns
    (body bytes, seconds it took). Fails when the body does not end."""
    t0 = time.monotonic()
    body = b""
    c.sock.settimeout(timeout)
    while True:
        size = int(c._read_until(b"\r\n").split(b";")[0].strip(), 16)
        if size == 0:
            assert c._read_until(b"\r\n") == b"\r\n", "a trailer after the last chunk"
            return body, time.monotonic() - t0
        body += c._read_exact(size)
        assert c._read_exact(2) == b"\r\n"


# --------------------------------------------------------------------------
# Origins
# --------------------------------------------------------------------------

def test_regress_session_streams_took_a_foreign_origin_with_the_users_cookie():
    with H.Server(*FAST, name="origin-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        h = dict(cookie_hdr(cookie), Origin=EVIL)
        r = upgrade(srv, "/api/v1/streams/events", h)
        assert r.status == 403 and r.error() == "forbidden", r
        assert "sec-websocket-accept" not in r.headers, r.headers
        c, r = sse_get(srv, headers=h)
        assert c is None and r.status == 403 and r.error() == "forbidden", r
        # "null" (a sandboxed frame, a file: page) is foreign too, and a
        # foreign Origin is refused before the session is looked at.
        for origin in ("null", "http://127.0.0.1:%d.evil.example" % srv.port):
            r = upgrade(srv, "/api/v1/streams/events", dict(cookie_hdr(cookie), Origin=origin))
            assert r.status == 403 and r.error() == "forbidden", (origin, r)
        r = upgrade(srv, "/api/v1/streams/events", {"Origin": EVIL})
        assert r.status == 403 and r.error() == "forbidden", r


def test_session_streams_take_their_own_origin_and_clients_without_origin():
    with H.Server(*FAST, name="own-origin-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        # The harness's raw requests send "Host: 127.0.0.1"; browsers leave
        # a default port out, and scheme and host are case-insensitive.
        for origin in ("http://127.0.0.1", "HTTP://127.0.0.1:80", None):
            h = cookie_hdr(cookie)
            if origin:
                h["Origin"] = origin
            with H.RawWebSocket(srv.port) as ws:
                ws.handshake("/api/v1/streams/events", h)
                ws.send_text("ping")
                assert ws.recv_frame()[2:] == (0x1, b"pong")
            c, head = sse_get(srv, headers=h)
            assert c is not None, (origin, head)
            c.close()
        # The public streams keep their rule: any Origin by default.
        with H.RawWebSocket(srv.port) as ws:
            ws.handshake("/api/v1/streams/valid_tx", {"Origin": EVIL})


def test_public_url_names_the_own_origin_and_allowed_origins_add_to_it():
    with H.Server(*FAST, "--public-url", "https://node.example/base/",
                  "--allowed-origins", "http://app.example, http://b.example:8080",
                  name="listed-origin-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        ok = ("https://node.example", "https://node.example:443", "http://app.example",
              "http://app.example:80", "http://b.example:8080")
        refused = ("http://127.0.0.1:%d" % srv.port,  # the Host: --public-url wins
                   "http://node.example", "http://b.example", EVIL)
        for origin in ok:
            h = dict(cookie_hdr(cookie), Origin=origin)
            assert upgrade(srv, "/api/v1/streams/events", h).status == 101, origin
            c, head = sse_get(srv, headers=h)
            assert c is not None, (origin, head)
            c.close()
        for origin in refused:
            h = dict(cookie_hdr(cookie), Origin=origin)
            r = upgrade(srv, "/api/v1/streams/events", h)
            assert r.status == 403 and r.error() == "forbidden", (origin, r)
            c, r = sse_get(srv, headers=h)
            assert c is None and r.status == 403, (origin, r)
        # With a list, the public streams take the listed origins only, as before.
        assert upgrade(srv, "/api/v1/streams/valid_tx", {"Origin": EVIL}).status == 403
        assert upgrade(srv, "/api/v1/streams/valid_tx",
                       {"Origin": "http://app.example"}).status == 101


# --------------------------------------------------------------------------
# Logout and expiry end the session's streams
# --------------------------------------------------------------------------

def open_session_streams(srv, cookie):
    """An SSE stream (raw: its whole body is read) and an events WebSocket."""
    c, head = sse_get(srv, headers=cookie_hdr(cookie))
    assert c is not None, head
    ws = H.RawWebSocket(srv.port)
    ws.handshake("/api/v1/streams/events", cookie_hdr(cookie))
    return c, ws


@H.timeout(60)
def test_regress_sse_stream_kept_delivering_after_logout():
    with H.Server(*FAST, name="logout-node") as srv:
        name = new_user(srv)
        cookie = H.login(srv, name, PASSWORD)
        other = H.login(srv, name, PASSWORD)  # a second session of the same user
        sse, ws = open_session_streams(srv, cookie)
        with H.SseStream(srv.port, cookie=other) as kept:
            logout(srv, cookie)
            body, _took = read_whole_sse_body(sse, ENDED_WITHIN_S)
            assert body.startswith(b"retry: 3000\n\n"), body[:100]
            assert sse.wait_closed(5), "the connection stayed open after the last chunk"
            code, reason = ws.expect_close(ENDED_WITHIN_S)
            assert code == 1008, (code, reason)
            # Only that session's streams end: the other session's goes on.
            tx = srv.fund(H.random_address(), 1)
            kept.wait_for(lambda s: any(H.envelope_tx_id(e.json) == tx for e in s.events),
                          20, "the grant on the other session's stream")
            assert not kept.closed
        sse.close()
        ws.close()
        # A reconnect with the logged-out cookie is refused.
        c, r = sse_get(srv, headers=cookie_hdr(cookie))
        assert c is None and r.status == 401, r


@H.timeout(60)
def test_session_streams_end_when_the_session_expires():
    with H.Server(*FAST, "--session-max-age-s", "2", name="expiry-node") as srv:
        name = new_user(srv)
        cookie = H.login(srv, name, PASSWORD)
        r = H.user_session(srv, cookie).get(srv.url + "/api/me")
        assert r.status_code == 200, r.text
        sse, ws = open_session_streams(srv, cookie)
        body, _took = read_whole_sse_body(sse, 2 + ENDED_WITHIN_S)
        assert body.startswith(b"retry: 3000\n\n"), body[:100]
        code, _reason = ws.expect_close(ENDED_WITHIN_S)
        assert code == 1008, code
        sse.close()
        ws.close()
        r = H.user_session(srv, cookie).get(srv.url + "/api/me")
        H.assert_error(r, 401, "unauthorized")


# --------------------------------------------------------------------------
# Rate limits
# --------------------------------------------------------------------------

def test_regress_login_and_register_attempts_were_unlimited_per_address():
    with H.Server(*FAST, "--auth-attempts-per-ip", "4", "--login-failures-per-user", "0",
                  name="ip-limit-node") as srv:
        name = "ip" + os.urandom(4).hex()
        assert register(srv, name).status_code == 201
        assert login(srv, name).status_code == 200
        assert login(srv, name, "wrong password").status_code == 401
        # A malformed attempt counts too: it is an attempt.
        r = H.new_session().post(srv.url + "/api/login", data="{",
                                 headers={"Content-Type": "application/json"})
        H.assert_error(r, 400, "malformed_json")
        retry = assert_limited(login(srv, name))
        assert retry <= 15, retry  # 4 a minute: one comes back every 15 s
        assert_limited(register(srv, "ip" + os.urandom(4).hex()))
        # Other endpoints are not limited by it.
        assert srv.get("/healthz").status_code == 200


def test_failed_logins_are_limited_per_username_and_successes_do_not_count():
    with H.Server(*FAST, "--auth-attempts-per-ip", "0", "--login-failures-per-user", "2",
                  name="name-limit-node") as srv:
        name, bystander = new_user(srv), new_user(srv)
        for _ in range(3):
            assert login(srv, name).status_code == 200
        for _ in range(2):
            H.assert_error(login(srv, name, "wrong password"), 401, "bad_credentials")
        assert_limited(login(srv, name, "wrong password"))
        retry = assert_limited(login(srv, name))  # even the right one, for now
        assert retry <= 30, retry  # 2 a minute
        assert login(srv, bystander).status_code == 200
        # An unknown name is limited the same way (nothing tells them apart).
        ghost = "ghost" + os.urandom(4).hex()
        for _ in range(2):
            H.assert_error(login(srv, ghost), 401, "bad_credentials")
        assert_limited(login(srv, ghost))


def test_chat_messages_are_limited_per_user_and_per_address():
    with H.Server(*FAST, "--auth-attempts-per-ip", "0", "--messages-per-user", "3",
                  "--messages-per-ip", "5", name="message-limit-node") as srv:
        alice, bob = new_user(srv, "a"), new_user(srv, "b")
        a_cookie, b_cookie = H.login(srv, alice, PASSWORD), H.login(srv, bob, PASSWORD)
        for i in range(3):
            H.send_message(srv, a_cookie, bob, "hi %d" % i)
        with H.user_session(srv, a_cookie) as s:
            retry = assert_limited(s.post(srv.url + "/api/messages",
                                          json={"to": bob, "text": "one too many"}))
        assert retry <= 20, retry  # 3 a minute
        for i in range(2):
            H.send_message(srv, b_cookie, alice, "hello %d" % i)
        # alice's refused message did not count against the address; now
        # bob has budget left, the address has not.
        with H.user_session(srv, b_cookie) as s:
            assert_limited(s.post(srv.url + "/api/messages", json={"to": alice, "text": "x"}))
        # Without a session it is still a 401, not a 429.
        r = H.new_session().post(srv.url + "/api/messages", json={"to": bob, "text": "x"})
        H.assert_error(r, 401, "unauthorized")


def flood_logins(srv, name, clients, seconds, password=PASSWORD, on_sample=None):
    """clients threads log in as name for seconds; returns {status: count}
    and every 429's Retry-After. on_sample() runs every 0.1 s meanwhile."""
    counts, retries, lock = {}, [], threading.Lock()
    stop = threading.Event()
    errors = []

    def one():
        with H.new_session() as s:
            while not stop.is_set():
                try:
                    r = s.post(srv.url + "/api/login", timeout=60,
                               json={"username": name, "password": password})
                except Exception as e:  # noqa: B902 -- reported below
                    errors.append(e)
                    return
                with lock:
                    counts[r.status_code] = counts.get(r.status_code, 0) + 1
                    if r.status_code == 429:
                        retries.append(r.headers.get("Retry-After"))
                        assert json.loads(r.text)["error"]["code"] == "rate_limited"

    threads = [threading.Thread(target=one, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if on_sample:
            on_sample()
        time.sleep(0.1)  # sampling, not ordering
    stop.set()
    for t in threads:
        t.join(90)
    assert not errors, errors[:3]
    return counts, retries


@H.timeout(120)
def test_regress_a_login_flood_took_the_thread_pool_and_64_mib_per_client():
    with H.Server(*FAST, *NO_LIMITS, env={"ASAN_OPTIONS": ASAN_OPTIONS},
                  name="flood-node") as srv:
        name = new_user(srv)
        base = H.rss_kib(srv.proc.pid)
        peak = [base]
        slow = []

        def sample():
            peak[0] = max(peak[0], H.rss_kib(srv.proc.pid))
            t0 = time.monotonic()
            r = srv.get("/api/v1/blocks/latest")
            assert r.status_code == 200, r.status_code
            slow.append(time.monotonic() - t0)

        counts, retries = flood_logins(srv, name, 32, 6, on_sample=sample)
        assert counts.get(200, 0) > 0, counts
        assert counts.get(429, 0) > 0, counts  # more at once than the gate lets wait
        assert set(counts) <= {200, 429}, counts
        assert all(v and v.isdigit() and int(v) >= 1 for v in retries), retries[:5]
        # At most two hashes of 64 MiB at once: under four by a margin.
        grew_mib = (peak[0] - base) / 1024
        assert grew_mib < 3.5 * ARGON2_MIB, "RSS grew %.0f MiB under the flood" % grew_mib
        # The node kept answering everything else (a generous bound: a
        # starved node takes seconds).
        assert max(slow) < 5, max(slow)
        print("  (flood: %s; RSS +%.0f MiB; slowest other request %.3f s)" % (
            counts, grew_mib, max(slow)), flush=True)
        # After the flood the user logs in at once.
        assert login(srv, name).status_code == 200


# --------------------------------------------------------------------------
# types= with junk is ignored
# --------------------------------------------------------------------------

@H.timeout(60)
def test_regress_junk_types_filter_names_were_a_400():
    with H.Server(*FAST, name="types-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        junk = "x" * 700
        for query in ("types=%ff%00junk", "types=" + junk, "types=%zz,block", "types="):
            c, head = sse_get(srv, "/api/stream?" + query, cookie_hdr(cookie))
            assert c is not None, (query, head)
            c.close()
            r = upgrade(srv, "/api/v1/streams/events?" + query, cookie_hdr(cookie))
            assert r.status == 101, (query, r)
        # A malformed address stays a 400.
        c, r = sse_get(srv, "/api/stream?types=block&address=zz", cookie_hdr(cookie))
        assert c is None and r.status == 400 and r.error() == "bad_address", r
        r = upgrade(srv, "/api/v1/streams/events?address=" + "a" * 600, cookie_hdr(cookie))
        assert r.status == 400 and r.error() == "bad_address", r
        # A long list keeps its known names: blocks only.
        with H.SseStream(srv.port, "/api/stream?types=%s,block,%s" % (junk, junk),
                         cookie=cookie) as blocks:
            first = srv.fund(H.random_address(), 1)
            h1 = srv.tx(first)["block_height"]
            second = srv.fund(H.random_address(), 1)  # its block fences the first's events
            h2 = srv.tx(second)["block_height"]
            blocks.wait_for(lambda s: any(e.type == "block" and e.json["block"]["height"] == h2
                                          for e in s.events), 20, "block %d" % h2)
            types = {e.type for e in blocks.snapshot()}
            assert types == {"block"}, types
            assert h1 in {e.json["block"]["height"] for e in blocks.snapshot()}


# --------------------------------------------------------------------------
# Figures (not tests): python3 test_hostile_auth.py --figures
# --------------------------------------------------------------------------

def figures():
    out = {}
    for label, flags in (("defaults", ()), ("per-address limit off", NO_LIMITS)):
        with H.Server(*FAST, *flags, name="figures-node") as srv:
            name = new_user(srv)
            base = H.rss_kib(srv.proc.pid)
            peak = [base]
            counts, _ = flood_logins(srv, name, 32, 20,
                                     on_sample=lambda: peak.__setitem__(
                                         0, max(peak[0], H.rss_kib(srv.proc.pid))))
            out["login flood, " + label] = (
                "%.1f logins/s served, %d answered 429, %d other; RSS %.0f MB at start, "
                "%.0f MB peak" % (counts.get(200, 0) / 20, counts.get(429, 0),
                                  sum(v for k, v in counts.items() if k not in (200, 429)),
                                  base / 1024, peak[0] / 1024))
    with H.Server(*FAST, *NO_LIMITS, name="figures-node") as srv:
        name = new_user(srv)
        sse_t, ws_t = [], []
        for _ in range(10):
            cookie = H.login(srv, name, PASSWORD)
            sse, ws = open_session_streams(srv, cookie)
            ws.sock.settimeout(ENDED_WITHIN_S)
            t0 = time.monotonic()
            logout(srv, cookie)
            read_whole_sse_body(sse, ENDED_WITHIN_S)
            sse_t.append(time.monotonic() - t0)
            ws.expect_close(ENDED_WITHIN_S)
            ws_t.append(time.monotonic() - t0)
            sse.close()
            ws.close()
        for label, ts in (("SSE", sse_t), ("WebSocket", ws_t)):
            out["logout to %s end" % label] = "median %.2f s, max %.2f s (10 runs)" % (
                statistics.median(ts), max(ts))
    for k, v in out.items():
        print("%s: %s" % (k, v))


if __name__ == "__main__":
    if sys.argv[1:] != ["--figures"]:
        sys.exit("usage: %s --figures (the tests run under pytest)" % sys.argv[0])
    figures()
