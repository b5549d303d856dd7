"""Native TLS (issue 15): the node serves every route over https on
--listen when given --tls-cert/--tls-key, with a pair made by
`ledgerline dev-cert` at test time.

1. Clients over TLS: requests (REST, a signed transaction, https/wss
   links, HSTS, Secure session cookie, the seed's Python SSE example),
   python3-websockets over wss (events, close 1000, close 1002 for an
   unmasked frame on a raw TLS socket), headless Chromium showing a live
   block on the explorer, protocol versions and ALPN.
2. Hostile handshakes: garbage, half a ClientHello and 200 stalled
   connections are closed; plain HTTP gets a plain 400 saying "use
   https://" and is closed; the node keeps serving others and stops clean
   (harness: exit 0, no sanitizer report).
4. SIGHUP reloads the pair from the same paths: new handshakes present the
   new certificate, an open SSE stream and WebSocket keep delivering; a bad
   pair leaves the old one in use and the node running.

Every process is ended by its pid (harness.Server, test_browser.Chromium)."""

import json
import os
import selectors
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import warnings

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
import tlsutil as T  # noqa: E402
from test_browser import BROWSER_HTML, Cdp, Chromium, blocking, run_async  # noqa: E402

FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")
HSTS = "max-age=31536000"


@pytest.fixture
def node(shared_node):
    """The file's shared https node, with --hsts."""
    return shared_node(lambda: T.TlsServer(*FLAGS, hsts=True, name="tls-node"))


def transfer_from_funded(srv):
    """A signed transfer from a key the faucet funded; its 202 response and tx."""
    key = srv.funded_key()
    tx = H.transfer(key, H.random_address(), 1234, srv.next_nonce(key.address))
    return srv.submit(tx), tx


def dev_token(srv):
    return H.login(srv, "dev", "devdevdev")


# --------------------------------------------------------------------------
# 1. Clients over TLS
# --------------------------------------------------------------------------

@H.timeout(60)
def test_rest_over_https_verifies_against_dev_cert_and_links_are_https(node):
    # Only the dev certificate as the CA: requests verifies chain and name.
    r = node.get("/healthz")
    assert r.status_code == 200 and r.text.strip() == "ok", (r.status_code, r.text)
    assert r.headers.get("Strict-Transport-Security") == HSTS, r.headers
    r = node.get("/")
    assert r.status_code == 200, r.text[:300]
    links = r.json()["_links"]
    assert links["api_v1"] == node.url + "/api/v1/", links
    assert links["streams_v1"] == node.wss + "/api/v1/streams/", links
    if "streams" in links:
        assert links["streams"].startswith("wss://127.0.0.1:%d/" % node.port), links
    assert all(not v.startswith(("http://", "ws://")) for v in links.values()
               if isinstance(v, str)), links
    r, tx = transfer_from_funded(node)
    H.assert_accepted(r, tx)
    assert r.headers.get("Strict-Transport-Security") == HSTS, r.headers
    assert node.wait_confirmed(tx_id=H.tx_id_of(tx))["status"] == "confirmed"
    # A client that does not trust the certificate is refused by its own check.
    with H.new_session() as s, pytest.raises(requests.exceptions.SSLError):
        s.get(node.url + "/healthz")


@H.timeout(60)
def test_hsts_on_every_response_errors_and_streams_too(node):
    r = node.get("/api/v1/blocks/999999999")
    assert r.status_code == 404, r.status_code
    assert r.headers.get("Strict-Transport-Security") == HSTS, ("404", r.headers)
    with H.SseStream(node.port, "/api/stream", cookie=dev_token(node),
                     ssl_context=node.ssl_context()) as sse:
        assert sse.status == 200, sse.response
        assert sse.headers.get("strict-transport-security") == HSTS, ("SSE 200", sse.headers)
    with H.RawWebSocket(node.port, ssl_context=node.ssl_context()) as raw:
        resp = raw.handshake("/api/v1/streams/valid_tx")
        assert resp.headers.get("strict-transport-security") == HSTS, ("WS 101", resp.headers)


@H.timeout(90)
def test_no_hsts_header_without_the_flag_or_without_tls():
    with T.TlsServer(*FLAGS, name="tls-no-hsts") as srv:
        for path in ("/healthz", "/", "/api/v1/blocks/latest", "/nope"):
            r = srv.get(path)
            assert "Strict-Transport-Security" not in r.headers, (path, r.headers)
    with H.Server(*FLAGS, "--hsts", name="plain-hsts") as srv:  # --hsts, plain HTTP
        for path in ("/healthz", "/"):
            r = srv.get(path)
            assert r.status_code == 200, (path, r.status_code)
            assert "Strict-Transport-Security" not in r.headers, (path, r.headers)
        assert srv.get("/").json()["_links"]["api_v1"] == srv.url + "/api/v1/"


def cookie_attrs(resp):
    set_cookie = resp.headers.get("Set-Cookie", "")
    assert set_cookie.startswith("session="), set_cookie
    return [a.strip().lower() for a in set_cookie.split(";")[1:]]


@H.timeout(60)
def test_session_cookie_over_tls_is_secure_and_httponly(node):
    name = "tls" + os.urandom(4).hex()
    with node.new_session() as s:
        s.headers["Origin"] = node.url  # as the node's own https page sends it
        r = s.post(node.url + "/api/register", json={"username": name, "password": "pw-" + name})
        assert r.status_code == 201, r.text[:300]
        if "Set-Cookie" in r.headers:
            assert "secure" in cookie_attrs(r), r.headers["Set-Cookie"]
        r = s.post(node.url + "/api/login", json={"username": name, "password": "pw-" + name})
        assert r.status_code == 200, r.text[:300]
        attrs = cookie_attrs(r)
        assert "secure" in attrs and "httponly" in attrs, r.headers["Set-Cookie"]
        assert r.headers.get("Strict-Transport-Security") == HSTS, r.headers
        me = s.get(node.url + "/api/me")  # the cookie goes back over https
        assert me.status_code == 200 and me.json()["username"] == name, me.text[:300]
    r = node.post("/api/login", json={"username": "dev", "password": "devdevdev"})
    assert r.status_code == 200 and "secure" in cookie_attrs(r), r.headers


@H.timeout(60)
def test_seed_python_sse_example_over_https_receives_a_chat_message(node):
    token = dev_token(node)
    text = "hello over tls " + os.urandom(4).hex()
    got, errors = [], []
    # The seed's example, with https and the dev certificate as the CA (and
    # no proxy from the environment, as everywhere in these tests).
    r = requests.get(node.url + "/api/stream", cookies={"session": token}, stream=True,
                     verify=node.ca, timeout=(10, 30),
                     proxies={"http": None, "https": None, "all": None})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/event-stream"), r.headers
    cond = threading.Condition()

    def confirmed():
        return [e for e in got if e.get("type") == "message" and e["msg"]["text"] == text
                and e["msg"]["status"] == "confirmed"]

    def read():  # the example's loop, until our message is confirmed
        try:
            for line in r.iter_lines():
                if line and line.startswith(b"data: "):
                    with cond:
                        got.append(json.loads(line[6:]))
                        cond.notify_all()
                        if confirmed():
                            return
        except Exception as e:
            errors.append(e)
        finally:
            with cond:
                cond.notify_all()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        to = "tlsbob" + os.urandom(3).hex()
        H.register_user(node, to, "correct horse")
        with node.new_session() as s:
            s.cookies.set("session", token)
            m = s.post(node.url + "/api/messages", json={"to": to, "text": text})
        assert m.status_code == 202, m.text[:300]
        tx_id = m.json()["tx_id"]
        with cond:
            assert cond.wait_for(lambda: confirmed() or errors or not t.is_alive(), 30)
            assert confirmed(), ("no confirmed message event", got[-5:], errors)
        ev = confirmed()[0]
        assert ev["msg"]["tx_id"] == tx_id and ev["msg"]["sender"] == "dev", ev
    finally:
        t.join(10)  # it has returned once the event came
        r.close()


@H.timeout(60)
def test_wss_stream_delivers_and_closes_with_1000_and_1002(node):
    with H.LoopThread() as lt:
        ws = H.WsReader(lt, node.wss + "/api/v1/streams/valid_transactions",
                        ssl=node.ssl_context())
        r, tx = transfer_from_funded(node)
        tx_id = H.assert_accepted(r, tx)
        msg = ws.wait_for(lambda w: [m for m in w.json_messages()
                                     if m.get("transaction_id") == tx_id],
                          what="the transfer over wss")[0]
        assert set(msg) == {"transaction_id", "asset_id", "block_height"}, msg
        assert msg["block_height"] == node.tx(tx_id)["block_height"], msg
        ws.close()
        assert ws.wait_closed() == 1000
    # A protocol error on a hand-made TLS WebSocket: an unmasked frame.
    with H.RawWebSocket(node.port, ssl_context=node.ssl_context()) as raw:
        raw.handshake("/api/v1/streams/valid_tx")
        raw.send_frame(0x1, b"not masked", mask=False)
        code, _reason = raw.expect_close()
        assert code == 1002, code


@H.timeout(120)
def test_explorer_in_chromium_over_https_shows_a_live_block(node):
    url = node.url + "/"

    async def scenario(browser):
        cdp = await Cdp.connect(browser.devtools_url())
        try:
            # The browser-wide switch of --ignore-certificate-errors.
            await cdp.send("Security.setIgnoreCertificateErrors", {"ignore": True}, page=False)
            await cdp.open_page()
            await cdp.navigate(url)
            assert await cdp.js("location.protocol") == "https:"
            await cdp.wait_js("window.explorer && window.explorer.conn === 'open' && "
                              "document.querySelectorAll('#blocks tbody tr').length > 0", 30,
                              "the explorer's block list over wss")
            grant = await blocking(node.fund, H.random_address(), 4321)
            height = (await blocking(node.tx, grant))["block_height"]
            await cdp.wait_js("!!document.querySelector('#blocks tbody tr[data-height=\"%d\"]')"
                              % height, 30, "block %d arriving live" % height)
            return height
        finally:
            await cdp.close()

    assert node.get("/", headers={"Accept": BROWSER_HTML}).headers["Content-Type"].startswith(
        "text/html")
    with Chromium() as browser:
        assert run_async(scenario(browser)) > 0


@H.timeout(60)
def test_only_tls_12_and_13_and_alpn_http11(node):
    # TLS 1.1: refused by the node, when this client can offer it at all.
    old = T.client_context()
    with warnings.catch_warnings():  # deprecated versions, on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with T.tls_connect(node.port, old) as s:
            raise AssertionError("a %s handshake succeeded" % s.version())
    except (ssl.SSLError, ConnectionResetError) as e:
        local = "NO_PROTOCOLS_AVAILABLE" in str(e) or "NO_CIPHERS_AVAILABLE" in str(e)
        print("TLS 1.1 attempt: %s (%s)" % (e, "refused by this client's OpenSSL" if local
                                            else "refused by the node"))
    # 1.2 and 1.3 each work; 1.2 negotiates an ECDHE AEAD suite.
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = node.ssl_context()
        ctx.minimum_version = ctx.maximum_version = version
        with T.tls_connect(node.port, ctx) as s:
            assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            cipher = s.cipher()[0]
            if version == ssl.TLSVersion.TLSv1_2:
                assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), \
                    cipher
            s.sendall(H.http_request("GET", "/healthz", headers={"Connection": "close"}))
            _closed, data = T.read_until_closed(s, 10)
            assert data.startswith(b"HTTP/1.1 200 "), data[:100]
    # ALPN: http/1.1 is selected when offered; only h2 fails the handshake.
    for offer in (["http/1.1"], ["h2", "http/1.1"]):
        with T.tls_connect(node.port, T.client_context(node.ca, alpn=offer)) as s:
            assert s.selected_alpn_protocol() == "http/1.1", (offer, s.selected_alpn_protocol())
    with pytest.raises(ssl.SSLError) as e:
        T.tls_connect(node.port, T.client_context(node.ca, alpn=["h2"])).close()
    assert "no application protocol" in str(e.value).lower().replace("_", " "), e.value
    assert node.get("/healthz").status_code == 200


# --------------------------------------------------------------------------
# 2. Hostile handshakes
# --------------------------------------------------------------------------

def failures(srv):
    return H.server_metric(srv, "ledgerline_tls_handshake_failures_total") or 0


def kernel_offers_tls():
    """True when this kernel takes the `tls` upper-layer protocol on a TCP
    socket: Linux's kernel TLS, which the node uses where it can."""
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        with socket.create_connection(lst.getsockname()):
            peer, _ = lst.accept()
            with peer:
                try:
                    peer.setsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_ULP", 31), b"tls")
                    return True
                except OSError:
                    return False


@H.timeout(60)
def test_each_handshake_is_counted_by_its_path_kernel_tls_where_the_kernel_has_it(node):
    """TLS 1.3 and 1.2 connections each serve a request and count once in
    ledgerline_tls_handshakes_total: as "ktls" on a kernel with the tls
    module (the node hands the keys to it), else as "userspace"."""
    def count(path):
        return H.server_metric(node, "ledgerline_tls_handshakes_total", path=path) or 0
    before = {p: count(p) for p in ("ktls", "userspace")}
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = node.ssl_context()
        ctx.maximum_version = version
        with T.tls_connect(node.port, ctx) as s:
            s.sendall(H.http_request("GET", "/healthz", headers={"Connection": "close"}))
            closed, data = T.read_until_closed(s, 10)
        assert closed and data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"ok"), data
    # The requests session's own connection may be new too: at least two more.
    path = "ktls" if kernel_offers_tls() else "userspace"
    other = "userspace" if path == "ktls" else "ktls"
    assert count(path) >= before[path] + 2, (path, before, count(path))
    assert count(other) == before[other], (other, before, count(other))


@H.timeout(60)
def test_garbage_to_the_tls_port_is_closed_without_an_answer(node):
    before = failures(node)
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
            s.sendall(b"\xff\x00garbage" + os.urandom(500))
            closed, data = T.read_until_closed(s, 5)
        assert closed, "the node kept the connection open after garbage"
        assert not data.startswith(b"HTTP/"), "an HTTP answer to garbage: %r" % data[:100]
        assert node.get("/healthz").status_code == 200  # and it keeps serving
    assert failures(node) >= before + 2


@H.timeout(60)
def test_plain_http_to_the_tls_port_is_told_to_use_https_and_closed(node):
    """http:// typed for https://: a 400 in plain HTTP that says so (as
    nginx answers), then the connection closes; nothing is served."""
    before = failures(node)
    for request in (H.http_request("GET", "/"),
                    H.http_request("GET", "/healthz", headers={"Connection": "close"})):
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
            s.sendall(request)
            closed, data = T.read_until_closed(s, 5)
        assert closed, "the node kept the connection open after %r" % request[:20]
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), data[:200]
        assert b"strict-transport-security" not in head.lower()  # never over plain HTTP
        err = json.loads(body)["error"]
        assert err["code"] == "bad_request" and "https://" in err["message"], err
        assert node.get("/healthz").status_code == 200
    assert failures(node) >= before + 2


@H.timeout(60)
def test_stalled_handshakes_are_closed_at_the_head_deadline_while_others_are_served(node):
    hello = T.client_hello()
    before = failures(node)
    sel = selectors.DefaultSelector()
    opened = {}
    try:
        for i in range(200):  # half send half a ClientHello, half send nothing
            s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
            opened[s] = time.monotonic()
            if i % 2 == 0:
                s.sendall(hello[:len(hello) // 2])
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        # Meanwhile a normal https client is served, REST and a stream.
        assert node.get("/healthz").status_code == 200
        r, tx = transfer_from_funded(node)
        node.wait_confirmed(H.assert_accepted(r, tx))
        closed_at = {}
        deadline = max(opened.values()) + T.HEAD_DEADLINE_S + 3
        while len(closed_at) < len(opened) and time.monotonic() < deadline:
            for k, _ in sel.select(max(0.05, min(1.0, deadline - time.monotonic()))):
                try:
                    data = k.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:  # reset
                    data = b""
                assert not data.startswith(b"HTTP/"), data[:100]
                if not data:
                    closed_at[k.fileobj] = time.monotonic()
                    sel.unregister(k.fileobj)
        late = len(opened) - len(closed_at)
        assert late == 0, "%d of %d stalled connections still open %.1f s after accept" % (
            late, len(opened), T.HEAD_DEADLINE_S + 3)
        assert all(closed_at[s] - opened[s] <= T.HEAD_DEADLINE_S + 3 for s in opened)
    finally:
        sel.close()
        for s in opened:
            s.close()
    assert node.get("/healthz").status_code == 200
    assert failures(node) >= before + 100


# --------------------------------------------------------------------------
# 4. SIGHUP reloads the certificate
# --------------------------------------------------------------------------

class Pairs:
    """Pairs A and B by dev-cert and the live paths a node is given (holding
    A). Both certificates name CN=localhost with no key identifiers, so one
    CA file cannot hold both: clients trust one at a time (trust())."""

    def __init__(self, root):
        self.a = T.dev_cert(os.path.join(root, "a"))
        self.b = T.dev_cert(os.path.join(root, "b"))
        os.makedirs(os.path.join(root, "live"))
        self.cert, self.key = (os.path.join(root, "live", n) for n in ("cert.pem", "key.pem"))
        T.copy_pair(*self.a, self.cert, self.key)
        self.der_a, self.der_b = T.der_of(self.a[0]), T.der_of(self.b[0])
        assert self.der_a != self.der_b


def hup(srv):
    os.kill(srv.proc.pid, signal.SIGHUP)


def wait_presented(srv, der, what):
    H.wait_until(lambda: T.presented_der(srv.port) == der, 20, what, interval=0.1)


def trust(srv, cert):
    """The test's own requests (faucet, health) verify against cert from now on."""
    srv.session.close()  # its pooled connections verified the old one
    srv.ca = cert
    srv.session = srv.new_session()


def reload_b_and_see_it_on(srv, p, sse, amount, when):
    """Pair B into the node's paths and SIGHUP; once new handshakes present
    B, a grant of `amount` must reach the open SSE stream. Its tx id."""
    T.copy_pair(*p.b, p.cert, p.key)
    hup(srv)
    wait_presented(srv, p.der_b, "new handshakes to present certificate B " + when)
    trust(srv, p.b[0])
    tx_id = srv.fund(H.random_address(), amount)
    sse.wait_for(lambda r: any(H.envelope_tx_id(e.json) == tx_id for e in r.events),
                 what="the SSE stream opened before to deliver " + when)
    return tx_id


@H.timeout(90)
def test_sighup_presents_the_new_certificate_and_keeps_open_streams():
    with tempfile.TemporaryDirectory() as root:
        p = Pairs(root)
        with T.TlsServer(*FLAGS, cert=p.cert, key=p.key, ca=p.a[0], name="tls-hup") as srv, \
                H.LoopThread() as lt:
            assert T.presented_der(srv.port) == p.der_a
            token = dev_token(srv)
            with H.SseStream(srv.port, "/api/stream?types=tx", cookie=token,
                             ssl_context=srv.ssl_context()) as sse:
                assert sse.status == 200, sse.response
                ws = H.WsReader(lt, srv.wss + "/api/v1/streams/valid_tx", ssl=srv.ssl_context())
                first = srv.fund(H.random_address(), 1000)
                sse.wait_for(lambda r: any(H.envelope_tx_id(e.json) == first for e in r.events),
                             what="a tx event before the reload")
                second = reload_b_and_see_it_on(srv, p, sse, 2000, "after the reload")
                ws.wait_for(lambda w: {first, second} <= {m.get("txid") for m in
                                                          w.json_messages()},
                            what="the same WebSocket to deliver after the reload")
                assert not sse.closed and not ws.closed
                ws.close()
                assert ws.wait_closed() == 1000


def stays_presented(srv, der, seconds=1.0):
    """New handshakes keep presenting der for `seconds` (a reload that was
    refused leaves nothing else to observe)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert srv.alive(), "the node exited"
        assert T.presented_der(srv.port) == der, "a bad pair replaced the certificate"
        time.sleep(0.1)


@H.timeout(90)
def test_sighup_with_a_bad_pair_keeps_the_old_certificate_and_the_node_running():
    with tempfile.TemporaryDirectory() as root:
        p = Pairs(root)
        with T.TlsServer(*FLAGS, cert=p.cert, key=p.key, ca=p.a[0], name="tls-hup-bad") as srv:
            with H.SseStream(srv.port, "/api/stream?types=tx", cookie=dev_token(srv),
                             ssl_context=srv.ssl_context()) as sse:
                assert sse.status == 200, sse.response
                bad = os.path.join(root, "garbage.pem")
                with open(bad, "w") as f:
                    f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                            "-----END CERTIFICATE-----\n")
                for cert, key in ((bad, p.a[1]),         # a certificate that does not parse
                                  (p.b[0], p.a[1])):     # B's certificate with A's key
                    T.copy_pair(cert, key, p.cert, p.key)
                    hup(srv)
                    stays_presented(srv, p.der_a)
                    assert srv.get("/healthz").status_code == 200
                os.remove(p.key)  # a key that cannot be read
                hup(srv)
                stays_presented(srv, p.der_a)
                # A good pair after the bad ones is taken; the stream lived on.
                reload_b_and_see_it_on(srv, p, sse, 3000, "after the refused reloads")


def test_a_pair_that_cannot_be_served_is_a_usage_error_with_exit_2(tmp_path):
    """Only one of --tls-cert/--tls-key, a file that is not there, or a key
    of another pair: exit 2 before serving, with the reason on stderr. A
    good pair from the environment or the config file serves."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for d in (a, b):
        assert H.run_cli(["dev-cert", d]).returncode == 0
    base = ["serve", "--listen", "127.0.0.1:%d" % H.free_port(), "--data", str(tmp_path / "data")]
    cases = (
        (["--tls-cert", a + "/cert.pem"], "--tls-key"),
        (["--tls-cert", a + "/cert.pem", "--tls-key", a + "/nowhere.pem"], "nowhere.pem"),
        (["--tls-cert", a + "/cert.pem", "--tls-key", b + "/key.pem"], "does not match"),
    )
    for flags, said in cases:
        proc = H.run_cli(base + flags, timeout=20)
        assert proc.returncode == 2, (flags, proc.returncode, proc.stderr)
        assert said in proc.stderr, (flags, proc.stderr)
    # The same pair from the environment, and from the config file, as
    # every flag: it serves https.
    conf = tmp_path / "node.conf"
    conf.write_text("tls-cert = %s/cert.pem\ntls-key = %s/key.pem\nhsts = true\n" % (b, b))
    env = {"LEDGERLINE_TLS_CERT": b + "/cert.pem", "LEDGERLINE_TLS_KEY": b + "/key.pem"}
    for flags, env, hsts in ((["--dev"], env, False), (["--dev", "--config", str(conf)], {}, True)):
        srv = T.TlsServer(cert=b + "/cert.pem", key=b + "/key.pem", env=env, name="tls-env")
        srv.flags = flags  # the pair comes from the environment or the file alone
        with srv:
            r = srv.get("/healthz")
            assert r.status_code == 200
            assert ("Strict-Transport-Security" in r.headers) == hsts, r.headers
