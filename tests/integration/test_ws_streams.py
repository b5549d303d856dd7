"""WebSocket event streams (docs/API.md §4, seed 000) as an independent
client sees them: the valid_tx frames and their order, the BigchainDB 2.x
shape, the session-guarded events stream, the handshake's errors, keep-alive,
the idle timeout, RFC 6455 protocol violations and the close on SIGTERM.

python3-websockets (the asyncio client, on a harness LoopThread) is the
well-behaved client; harness.RawWebSocket sends what a library will not.
One dev node serves the file; the tests that need other flags (allowed
origins, idle timeout, SIGTERM) start their own."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "150", "--difficulty", "1")
STREAMS = ("valid_tx", "valid_transactions", "events")


SERVER_FLAGS = FAST
SERVER_NAME = "ws-node"


def ws_uri(srv, name, query=""):
    return "ws://127.0.0.1:%d/api/v1/streams/%s%s" % (srv.port, name, query)


def dev_cookie(srv):
    return H.login(srv, "dev", "devdevdev")


def frames(reader):
    """The JSON frames of a reader (text pongs left out)."""
    return reader.json_messages()


def committed_since(srv, h0):
    """[(tx_id, block)] of every transaction in blocks h0+1..tip, in block
    order, read when no block is being committed."""
    def attempt():
        tip = srv.height()
        out = [(t, b) for b in srv.chain(h0 + 1, tip) for t in b["transactions"]]
        return out if srv.height() == tip else None
    return H.wait_until(attempt, 20, "a quiet chain")


def mixed_traffic(srv, cookie):
    """One of each committed kind: a faucet grant (native transfer), a
    create, a transfer of that asset, a native transfer, a message tx and a
    chat message through /api/messages. Waits until all are confirmed.
    Returns {name: tx_id}."""
    alice = H.Key.generate()
    ids = {"grant": srv.fund(alice.address, 5_000_000)}
    bob = H.random_address()
    ids["create"] = srv.submit_ok(sign(alice, H.create_body(alice, {"ws": 1}, 100, 0, fee=5)))
    ids["asset_transfer"] = srv.submit_ok(H.transfer(alice, bob, 40, 1, fee=5,
                                                     asset_id=ids["create"]))
    ids["native_transfer"] = srv.submit_ok(H.transfer(alice, bob, 1_000, 2, fee=10_000))
    ids["explicit_native"] = srv.submit_ok(H.transfer(alice, bob, 7, 3,
                                                      asset_id=H.NATIVE_ASSET))
    ids["message"] = srv.submit_ok(sign(alice, H.message_body(alice, bob, "hi over ws", 4)))
    ids["chat"] = H.send_message(srv, cookie, bob, "chat over ws")
    for t in ids.values():
        srv.wait_confirmed(t)
    return ids


def expected_assetid(srv, tx_id):
    """The asset a committed transaction creates or moves (native = zeros)."""
    tx = srv.tx(tx_id)
    if tx["kind"] == "create":
        return tx_id
    if tx["kind"] == "transfer":
        return tx.get("asset_id") or H.NATIVE_ASSET
    return H.NATIVE_ASSET


def upgrade(srv, path, headers=None, key=None, version="13", timeout=10):
    """Sends a (possibly broken) upgrade on a raw socket; returns the
    RawResponse, which must arrive within timeout (no hang)."""
    with H.RawHttp(srv.port) as c:
        c.send(H.ws_upgrade_request(path, key, headers, version))
        return c.read_response(timeout=timeout)


def subscribers(srv, stream):
    return H.server_metric(srv, "ledgerline_stream_subscribers", stream=stream) or 0


# --------------------------------------------------------------------------
# Metrics first, while no earlier test has left a connection behind
# --------------------------------------------------------------------------

def test_metrics_count_subscribers_per_stream_and_events_sent(srv):
    cookie = dev_cookie(srv)
    for s in STREAMS + ("sse",):
        H.wait_until(lambda: subscribers(srv, s) == 0, 10, "no %s subscriber" % s)
    with H.LoopThread() as lt:
        readers = [H.WsReader(lt, ws_uri(srv, "valid_tx")),
                   H.WsReader(lt, ws_uri(srv, "valid_tx")),
                   H.WsReader(lt, ws_uri(srv, "valid_transactions")),
                   H.WsReader(lt, ws_uri(srv, "events"),
                              headers={"Cookie": "session=" + cookie})]
        with H.SseStream(srv.port, cookie=cookie) as sse:
            assert sse.status == 200, sse.response
            want = {"valid_tx": 2, "valid_transactions": 1, "events": 1, "sse": 1}
            for s, n in want.items():
                H.wait_until(lambda: subscribers(srv, s) == n, 10,
                             "ledgerline_stream_subscribers{stream=%r} == %d" % (s, n))
            sent0 = H.server_metric(srv, "ledgerline_stream_events_sent_total")
            assert sent0 is not None, "no ledgerline_stream_events_sent_total"
            assert H.server_metric(srv, "ledgerline_stream_events_dropped_total") is not None
            assert H.server_metric(srv, "ledgerline_stream_queue_high_water") is not None
            tx_id = srv.fund(H.random_address(), 1000)
            for r in readers[:3]:
                r.wait_for(lambda r: len(frames(r)) >= 1, 10, "the grant's frame")
            readers[3].wait_for(lambda r: any(H.envelope_tx_id(e) == tx_id
                                              for e in frames(r)), 10, "the grant's tx event")
            sse.wait_for(lambda s: any(H.envelope_tx_id(e.json) == tx_id for e in s.events),
                         10, "the grant's SSE event")
            got = sum(len(frames(r)) for r in readers) + len(sse.snapshot())
            H.wait_until(lambda: H.server_metric(
                srv, "ledgerline_stream_events_sent_total") >= sent0 + got, 10,
                "events_sent_total to count the %d events the clients got" % got)
            for r in readers:
                r.close()
        for s in STREAMS + ("sse",):
            H.wait_until(lambda: subscribers(srv, s) == 0, 10,
                         "the %s subscribers to be gone after close" % s)


def histogram(srv, name, **labels):
    """{le: cumulative count} of one labelled series of a histogram, and its
    _count and _sum."""
    samples = H.parse_metric_samples(srv.get("/metrics").text)
    buckets = {l["le"]: v for n, l, v in samples if n == name + "_bucket"
               and all(l.get(k) == v2 for k, v2 in labels.items())}
    return (buckets, H.metric_sum(samples, name + "_count", **labels),
            H.metric_sum(samples, name + "_sum", **labels))


def check_histogram(buckets, count, total):
    """Cumulative buckets up to +Inf, which equals _count; a 10 s bound."""
    bounds = sorted((float(le), v) for le, v in buckets.items() if le != "+Inf")
    values = [v for _, v in bounds] + [buckets["+Inf"]]
    assert values == sorted(values), buckets  # cumulative
    assert buckets["+Inf"] == count and total >= 0, (buckets, count, total)
    assert bounds[-1][0] >= 10.0, bounds


def test_metrics_time_each_batch_from_commit_to_its_first_socket_write(srv):
    """ledgerline_event_first_write_seconds{stream=…} is a Prometheus
    histogram: one observation per batch of events a worker writes to at
    least one subscriber of that stream."""
    name = "ledgerline_event_first_write_seconds"
    upgrades0 = H.server_metric(srv, "ledgerline_http_responses_total",
                                route="GET /api/v1/streams/*", status="101") or 0
    _, count0, _ = histogram(srv, name, stream="valid_tx")
    _, other0, _ = histogram(srv, name, stream="valid_transactions")
    with H.LoopThread() as lt:
        reader = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        H.wait_until(lambda: subscribers(srv, "valid_tx") >= 1, 10, "the subscriber")
        tx_id = srv.fund(H.random_address(), 1000)
        reader.wait_for(lambda r: any(f.get("txid") == tx_id for f in frames(r)), 10,
                        "the grant's frame")
        reader.close()
    H.wait_until(lambda: histogram(srv, name, stream="valid_tx")[1] > count0, 10,
                 "a first write counted for the grant's block")
    check_histogram(*histogram(srv, name, stream="valid_tx"))
    assert H.server_metric(srv, "ledgerline_http_responses_total",
                           route="GET /api/v1/streams/*", status="101") == upgrades0 + 1
    # nobody subscribed to valid_transactions: nothing observed there
    assert histogram(srv, name, stream="valid_transactions")[1] == other0


def test_metrics_time_each_phase_of_a_block(srv):
    """ledgerline_block_seconds{phase="apply"|"mine"|"commit"}: one
    observation per block this process produced, in each phase."""
    name = "ledgerline_block_seconds"
    before = {p: histogram(srv, name, phase=p)[1] for p in ("apply", "mine", "commit")}
    blocks0 = H.server_metric(srv, "ledgerline_blocks_produced_total")
    srv.tx(srv.fund(H.random_address(), 1000))
    H.wait_until(lambda: H.server_metric(srv, "ledgerline_blocks_produced_total") > blocks0, 10,
                 "a block")
    for p in ("apply", "mine", "commit"):
        buckets, count, total = histogram(srv, name, phase=p)
        assert count > before[p], (p, before[p], count)
        check_histogram(buckets, count, total)


# --------------------------------------------------------------------------
# valid_tx and valid_transactions
# --------------------------------------------------------------------------

def test_valid_tx_sends_one_frame_per_committed_transaction_in_block_order(srv):
    cookie = dev_cookie(srv)
    with H.LoopThread() as lt:
        vtx = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        vts = H.WsReader(lt, ws_uri(srv, "valid_transactions"))
        h0 = srv.height()  # nothing is pending between tests
        mixed_traffic(srv, cookie)
        want = committed_since(srv, h0)
        assert len(want) >= 7, want
        for r in (vtx, vts):
            r.wait_for(lambda r: len(frames(r)) >= len(want), 20,
                       "%d frames" % len(want))
        got = frames(vtx)
        assert len(got) == len(want), "%d frames for %d transactions" % (len(got), len(want))
        for f, (tx_id, block) in zip(got, want):
            assert set(f) == {"txid", "assetid", "blockid"}, "valid_tx keys: %s" % sorted(f)
            assert f["txid"] == tx_id, "out of block order: %s vs %s" % (f["txid"], tx_id)
            assert f["blockid"] == block["hash"], (f, block["height"])
        got = frames(vts)
        assert len(got) == len(want), "%d frames for %d transactions" % (len(got), len(want))
        for f, (tx_id, block) in zip(got, want):
            assert set(f) == {"transaction_id", "asset_id", "block_height"}, sorted(f)
            assert f["transaction_id"] == tx_id and f["block_height"] == block["height"], f
            assert isinstance(f["block_height"], int), f
        vtx.close()
        vts.close()


def test_valid_tx_assetid_is_the_created_or_moved_asset_and_zeros_for_the_rest(srv):
    cookie = dev_cookie(srv)
    with H.LoopThread() as lt:
        vtx = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        vts = H.WsReader(lt, ws_uri(srv, "valid_transactions"))
        ids = mixed_traffic(srv, cookie)
        want = {
            "grant": H.NATIVE_ASSET, "create": ids["create"], "asset_transfer": ids["create"],
            "native_transfer": H.NATIVE_ASSET, "explicit_native": H.NATIVE_ASSET,
            "message": H.NATIVE_ASSET, "chat": H.NATIVE_ASSET}
        for r, key in ((vtx, "txid"), (vts, "transaction_id")):
            r.wait_for(lambda r: ids["chat"] in [f[key] for f in frames(r)], 20,
                       "the chat message's frame")
        by_id = {f["txid"]: f for f in frames(vtx)}
        by_id2 = {f["transaction_id"]: f for f in frames(vts)}
        for name, asset in want.items():
            assert by_id[ids[name]]["assetid"] == asset, (name, by_id[ids[name]], asset)
            assert by_id2[ids[name]]["asset_id"] == asset, (name, by_id2[ids[name]], asset)
            assert expected_assetid(srv, ids[name]) == asset, name
        vtx.close()
        vts.close()


def test_valid_tx_frame_arrives_only_after_the_block_is_committed(srv):
    with H.LoopThread() as lt:
        vtx = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        grant = srv.fund(H.random_address(), 1000, wait=False)
        f = vtx.wait_for(lambda r: next((f for f in frames(r) if f["txid"] == grant), None),
                         20, "the grant's frame")
        # The frame is out: the REST API must already show the commit.
        tx = srv.tx(grant)
        assert tx is not None and tx["status"] == "confirmed", tx
        assert srv.block(tx["block_height"])["hash"] == f["blockid"], (f, tx)
        vtx.close()


def test_valid_tx_is_public_and_any_origin_is_allowed_by_default(srv):
    with H.LoopThread() as lt:
        r = H.WsReader(lt, ws_uri(srv, "valid_tx"), headers={"Origin": "http://anywhere.example"})
        r.send("ping")
        r.wait_for(lambda r: "pong" in r.messages, 10, "pong")
        r.close()


# --------------------------------------------------------------------------
# The events stream
# --------------------------------------------------------------------------

def test_events_stream_without_session_is_401_json_before_upgrading(srv):
    name = "gone" + os.urandom(3).hex()
    H.register_user(srv, name, "correct horse battery")
    old = H.login(srv, name, "correct horse battery")
    with H.user_session(srv, old) as s:
        assert s.post(srv.url + "/api/logout", json={}).status_code < 300
    for headers in ({}, {"Cookie": "session=" + "00" * 32}, {"Cookie": "session=" + old}):
        r = upgrade(srv, "/api/v1/streams/events", headers)
        assert r.status == 401, (headers, r)
        r.error()  # the JSON error shape
        assert "sec-websocket-accept" not in r.headers, r.headers


def test_events_stream_with_malformed_address_is_400_bad_address(srv):
    cookie = dev_cookie(srv)
    a = H.random_address()
    for bad in (a[:-1], a + "0", "zz" * 16, "0x" + a[:-2], "0x" + "ab" * 19 + "a"):
        r = upgrade(srv, "/api/v1/streams/events?address=" + bad,
                    {"Cookie": "session=" + cookie})
        assert r.status == 400 and r.error() == "bad_address", (bad, r)


def test_events_stream_sends_the_sse_envelopes_with_the_same_filters(srv):
    cookie = dev_cookie(srv)
    alice = srv.funded_key(5_000_000)
    hdr = {"Cookie": "session=" + cookie}
    with H.LoopThread() as lt, H.SseStream(srv.port, cookie=cookie) as sse:
        assert sse.status == 200, sse.response
        everything = H.WsReader(lt, ws_uri(srv, "events"), headers=hdr)
        blocks = H.WsReader(lt, ws_uri(srv, "events", "?types=block"), headers=hdr)
        mine = H.WsReader(lt, ws_uri(srv, "events", "?address=0x" + alice.address.upper()),
                          headers=hdr)
        bob = H.random_address()
        srv.submit_ok(H.transfer(alice, bob, 5, 0, fee=10_000))
        srv.submit_ok(sign(alice, H.message_body(alice, bob, "from alice", 1)))
        H.send_message(srv, cookie, bob, "from dev, not alice")  # not alice's
        # The sentinel: alice's last transaction, after everything else.
        last = H.send_message(srv, cookie, bob, "sentinel")
        srv.wait_confirmed(last)
        last_alice = srv.submit_ok(H.transfer(alice, bob, 6, 2))
        tip = srv.wait_confirmed(last_alice)["block_height"]

        def has_tip(items):
            return any(e.get("type") == "block" and e["block"]["height"] == tip for e in items)
        sse.wait_for(lambda s: has_tip([e.json for e in s.events]) and any(
            H.envelope_tx_id(e.json) == last_alice for e in s.events), 20, "the last block")
        everything.wait_for(lambda r: any(H.envelope_tx_id(e) == last_alice
                                          for e in frames(r)), 20, "alice's last tx")
        blocks.wait_for(lambda r: has_tip(frames(r)), 20, "the last block")
        mine.wait_for(lambda r: any(H.envelope_tx_id(e) == last_alice for e in frames(r)), 20,
                      "alice's last tx")
        ref = [e.json for e in sse.snapshot()]
        assert frames(everything) == ref, "events stream differs from SSE:\n%s\n%s" % (
            frames(everything)[:5], ref[:5])
        assert frames(blocks) == [e for e in ref if e["type"] == "block"], frames(blocks)
        assert frames(mine) == [e for e in ref if H.envelope_involves(e, alice.address)], \
            frames(mine)
        assert {e["type"] for e in frames(mine)} == {"tx", "message"}, frames(mine)
        for r in (everything, blocks, mine):
            r.close()


# --------------------------------------------------------------------------
# The handshake's errors
# --------------------------------------------------------------------------

def test_plain_get_without_upgrade_is_400_bad_request_not_a_hang(srv):
    with H.RawHttp(srv.port) as c:
        c.send(H.http_request("GET", "/api/v1/streams/valid_tx"))
        r = c.read_response(timeout=10)
    assert r.status == 400 and r.error() == "bad_request", r
    r = srv.get("/api/v1/streams/valid_tx")  # as curl or requests would
    H.assert_error(r, 400, "bad_request")
    for headers in ({"Upgrade": None}, {"Upgrade": "h2c"}, {"Connection": None}):
        r = upgrade(srv, "/api/v1/streams/valid_tx", headers)
        assert r.status == 400 and r.error() == "bad_request", (headers, r)


def test_upgrade_with_bad_sec_websocket_key_is_400_bad_request(srv):
    import base64
    for key in ("not base64!!", base64.b64encode(os.urandom(8)).decode(),
                base64.b64encode(os.urandom(20)).decode(), ""):
        r = upgrade(srv, "/api/v1/streams/valid_tx", key=key or None,
                    headers={"Sec-WebSocket-Key": None} if not key else None)
        assert r.status == 400 and r.error() == "bad_request", (key, r)


def test_upgrade_with_websocket_version_other_than_13_is_426_upgrade_required(srv):
    for version in ("8", "12", "14", "abc"):
        r = upgrade(srv, "/api/v1/streams/valid_tx", version=version)
        assert r.status == 426 and r.error() == "upgrade_required", (version, r)
        # RFC 6455 §4.2.2: name the version the server speaks.
        assert "13" in r.headers.get("sec-websocket-version", ""), r.headers


def test_upgrade_accepts_token_lists_and_any_case_as_browsers_send_them(srv):
    # RFC 6455 §4.2.1: Connection *includes* the token "Upgrade"; both
    # tokens are case-insensitive (Firefox sends "keep-alive, Upgrade").
    for headers in ({"Connection": "keep-alive, Upgrade"}, {"Connection": "upgrade"},
                    {"Upgrade": "WebSocket"}, {"Connection": "Upgrade, HTTP2-Settings"}):
        with H.RawWebSocket(srv.port) as c:
            c.handshake("/api/v1/streams/valid_tx", headers)
            c.send_text("ping")
            assert c.recv_frame()[2:] == (0x1, b"pong"), headers


def test_frames_sent_with_the_upgrade_request_are_not_lost(srv):
    # A client may send its first frame in the same packet as the upgrade.
    with H.RawWebSocket(srv.port) as c:
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        c.send(H.ws_upgrade_request("/api/v1/streams/valid_tx", key) + H.ws_frame(0x1, "ping"))
        r = c.read_response()
        assert r.status == 101 and r.headers["sec-websocket-accept"] == H.ws_accept_of(key), r
        assert c.recv_frame()[2:] == (0x1, b"pong")


def test_unknown_stream_is_404_not_found(srv):
    for name in ("nope", "valid_txs", "VALID_TX", "blocks"):
        r = upgrade(srv, "/api/v1/streams/" + name)
        assert r.status == 404 and r.error() == "not_found", (name, r)


# --------------------------------------------------------------------------
# Keep-alive
# --------------------------------------------------------------------------

def test_text_ping_is_answered_with_text_pong_and_other_messages_are_ignored(srv):
    with H.LoopThread() as lt:
        r = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        r.send("hello")
        r.send(b"\x00\x01binary")
        r.send("PING")
        r.send('{"subscribe": "everything"}')
        r.send("ping")
        r.wait_for(lambda r: r.messages.count("pong") == 1, 10, "one pong")
        r.send("ping")
        r.wait_for(lambda r: r.messages.count("pong") == 2, 10, "a second pong")
        assert all(m == "pong" for m in r.messages), r.messages  # nothing else answered
        assert not r.closed
        r.close()
    with H.RawWebSocket(srv.port) as c:  # the exact frame: text, FIN, "pong"
        c.handshake("/api/v1/streams/valid_transactions")
        c.send_text("ping")
        fin, rsv, opcode, payload = c.recv_frame()
        assert (fin, rsv, opcode, payload) == (True, 0, 0x1, b"pong"), (fin, rsv, opcode,
                                                                        payload)


def test_ping_control_frame_is_answered_by_a_pong_with_the_same_payload(srv):
    with H.LoopThread() as lt:
        r = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        r.ping(b"keep me")  # the library matches the pong's payload
        r.ping(b"")
        r.close()
    with H.RawWebSocket(srv.port) as c:
        c.handshake("/api/v1/streams/valid_tx")
        payload = bytes(range(125))  # the largest control payload
        c.send_frame(0x9, payload)
        fin, _rsv, opcode, got = c.recv_frame()
        assert fin and opcode == 0xA and got == payload, (opcode, got)


def test_fragmented_messages_are_reassembled_and_may_carry_control_frames_between(srv):
    with H.RawWebSocket(srv.port) as c:
        c.handshake("/api/v1/streams/valid_tx")
        c.send_frame(0x1, b"\xc3", fin=False)      # "é" split across frames is valid UTF-8
        c.send_frame(0x0, b"\xa9 ok")
        c.send_frame(0x1, b"pi", fin=False)         # a text "ping" in three fragments,
        c.send_frame(0x9, b"between")               # with a ping control frame inside
        c.send_frame(0x0, b"n", fin=False)
        c.send_frame(0x0, b"g")
        got = [c.recv_frame()[2:] for _ in range(2)]
        assert got == [(0xA, b"between"), (0x1, b"pong")], got


def test_client_close_is_answered_with_a_close_frame_and_the_connection_ends(srv):
    with H.RawWebSocket(srv.port) as c:
        c.handshake("/api/v1/streams/valid_tx")
        c.send_frame(0x8, (1000).to_bytes(2, "big") + b"bye")
        _fin, _rsv, opcode, payload = c.recv_frame()
        assert opcode == 0x8, (opcode, payload)
        assert int.from_bytes(payload[:2], "big") == 1000, payload
        assert c.wait_closed_quietly(5), "the server kept TCP open after the closing handshake"


# --------------------------------------------------------------------------
# Protocol violations (RFC 6455 §5, §7.4.1)
# --------------------------------------------------------------------------

def violation_closes_with(srv, code, send):
    with H.RawWebSocket(srv.port) as c:
        c.handshake("/api/v1/streams/valid_tx")
        send(c)
        got, reason = c.expect_close(10)
        assert got == code, "expected close %d, got %s (%r)" % (code, got, reason)
    assert srv.get("/healthz").status_code == 200


def test_unmasked_client_frame_closes_with_1002(srv):
    violation_closes_with(srv, 1002, lambda c: c.send_frame(0x1, "ping", mask=False))


def test_invalid_utf8_in_a_text_frame_closes_with_1007(srv):
    violation_closes_with(srv, 1007, lambda c: c.send_frame(0x1, b"ok \xff\xfe bad"))
    violation_closes_with(srv, 1007, lambda c: c.send_frame(0x1, b"\xed\xa0\x80"))  # surrogate

    def fragmented(c):  # the bad byte in a continuation
        c.send_frame(0x1, b"fine so far ", fin=False)
        c.send_frame(0x0, b"\xc3\x28")
    violation_closes_with(srv, 1007, fragmented)


def test_message_over_64_kib_closes_with_1009(srv):
    violation_closes_with(srv, 1009, lambda c: c.send_frame(0x1, b"a" * (64 * 1024 + 1)))

    def fragmented(c):  # each frame is small; the message is not
        c.send_frame(0x1, b"a" * 40_000, fin=False)
        c.send_frame(0x0, b"b" * 40_000)
    violation_closes_with(srv, 1009, fragmented)
    violation_closes_with(srv, 1009, lambda c: c.send_frame(0x2, b"\x00" * (200 * 1024)))


def test_message_of_exactly_64_kib_is_ignored_not_refused(srv):
    with H.RawWebSocket(srv.port) as c:
        c.handshake("/api/v1/streams/valid_tx")
        c.send_frame(0x1, b"a" * (64 * 1024))
        c.send_text("ping")
        while True:
            _fin, _rsv, opcode, payload = c.recv_frame(10)
            assert opcode != 0x8, "closed: %r" % payload
            if opcode == 0x1 and payload == b"pong":
                break


def test_reserved_opcode_closes_with_1002(srv):
    for opcode in (0x3, 0x7, 0xB, 0xF):
        violation_closes_with(srv, 1002, lambda c: c.send_frame(opcode, b"x"))


def test_reserved_bits_or_a_fragmented_control_frame_close_with_1002(srv):
    violation_closes_with(srv, 1002, lambda c: c.send_frame(0x1, "ping", rsv=0b100))
    violation_closes_with(srv, 1002, lambda c: c.send_frame(0x9, b"p", fin=False))
    violation_closes_with(srv, 1002, lambda c: c.send_frame(0x0, b"no message to continue"))
    violation_closes_with(srv, 1002, lambda c: c.send_frame(0x9, b"p" * 126))  # control > 125

    def new_message_inside_another(c):
        c.send_frame(0x1, b"first", fin=False)
        c.send_frame(0x1, b"second")
    violation_closes_with(srv, 1002, new_message_inside_another)


# --------------------------------------------------------------------------
# Flags: allowed origins, idle timeout; and SIGTERM
# --------------------------------------------------------------------------

def test_origin_outside_allowed_origins_is_403_forbidden():
    allowed = "http://a.example,http://b.example:8080"
    with H.Server(*FAST, "--allowed-origins", allowed, name="origins-node") as srv:
        for origin in ("http://evil.example", "http://a.example.evil", "https://a.example",
                       "http://b.example"):
            r = upgrade(srv, "/api/v1/streams/valid_tx", {"Origin": origin})
            assert r.status == 403 and r.error() == "forbidden", (origin, r)
        for origin in ("http://a.example", "http://b.example:8080"):
            with H.RawWebSocket(srv.port) as c:
                c.handshake("/api/v1/streams/valid_tx", {"Origin": origin})
                c.send_text("ping")
                assert c.recv_frame()[2:] == (0x1, b"pong")


@H.timeout(60)
def test_idle_connection_is_closed_with_1000_and_pings_keep_it_open():
    idle_s = 2
    with H.Server(*FAST, "--ws-idle-timeout-s", str(idle_s), name="idle-node") as srv, \
            H.LoopThread() as lt:
        t0 = time.monotonic()
        quiet = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        texting = H.WsReader(lt, ws_uri(srv, "valid_tx"))
        pinging = H.WsReader(lt, ws_uri(srv, "valid_transactions"))
        chatty = H.WsReader(lt, ws_uri(srv, "valid_tx"))  # talks, but never pings
        raw = H.RawWebSocket(srv.port)
        raw.handshake("/api/v1/streams/valid_tx")
        # Keep two alive for 2.5 idle periods; the quiet one must go at ~idle_s.
        while time.monotonic() - t0 < 2.5 * idle_s:
            texting.send("ping")
            pinging.ping(b"alive")
            try:
                chatty.send("hello")
            except Exception:  # it is meant to be closed at some point: the send races that
                pass
            last_ping = time.monotonic()
            time.sleep(0.4)  # the keep-alive cadence, not an ordering wait
        for r in (quiet, chatty):  # only pings count as keeping alive (seed 000)
            code = r.wait_closed(idle_s + 3)
            assert code == 1000, "idle close code %s" % code
            silent = r.closed_at - t0
            assert idle_s - 0.5 <= silent <= idle_s + 3, "closed after %.2f s without a ping" % (
                silent)
        assert not texting.closed and not pinging.closed, "a pinging connection was closed"
        assert texting.messages.count("pong") >= 5, texting.messages
        code, _ = raw.expect_close(idle_s + 3)
        assert code == 1000, code
        raw.close()
        # Now they stop pinging: closed about idle_s after their last ping.
        for r in (texting, pinging):
            assert r.wait_closed(idle_s + 3) == 1000, r.close_code
            silent = r.closed_at - last_ping
            assert idle_s - 0.5 <= silent <= idle_s + 3, "closed after %.2f s" % silent


@H.timeout(60)
def test_sigterm_sends_close_1001_to_every_open_websocket():
    with H.Server(*FAST, name="sigterm-ws-node") as srv, H.LoopThread() as lt:
        cookie = dev_cookie(srv)
        readers = [H.WsReader(lt, ws_uri(srv, "valid_tx")),
                   H.WsReader(lt, ws_uri(srv, "valid_transactions")),
                   H.WsReader(lt, ws_uri(srv, "events"),
                              headers={"Cookie": "session=" + cookie})]
        raw = H.RawWebSocket(srv.port)
        raw.handshake("/api/v1/streams/valid_tx")
        raw.send_text("ping")
        assert raw.recv_frame()[2:] == (0x1, b"pong")
        for r in readers:
            r.send("ping")
            r.wait_for(lambda r: "pong" in r.messages, 10, "pong")
        srv.proc.send_signal(signal.SIGTERM)
        for r in readers:
            assert r.wait_closed(15) == 1001, (r.uri, r.close_code, r.close_reason)
        code, _ = raw.expect_close(15)
        assert code == 1001, code
        raw.close()
        srv.proc.wait(30)  # then stop() checks the exit code and the sanitizers
