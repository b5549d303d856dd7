"""Relays over NATS JetStream (docs/API.md §7 "Relays" and "WebSocket
resume", §8; issue 13) as an independent client sees them: a node feeding
a JetStream stream and `ledgerline relay` processes serving the node's
streams from it.

* Clients on two relays get byte-identical events, with the same ids, as a
  client on the node, for blocks of up to 1000 transactions; filters and
  the node's session cookies work on relays; a logout on the node ends that
  session's streams on every relay and refuses its new requests. A new
  client of a relay gets what comes after it connected, as on the node.
* A relay killed with SIGKILL in mid-stream: its SSE (Last-Event-ID) and
  WebSocket (events?ids=1&last_event_id=) clients resume on another relay
  with no gap and no duplicate.
* nats-server killed while blocks keep coming, then restarted: the node
  goes on serving its own clients, the relays' clients (their streams kept
  open, with heartbeats) get every event, and the stream holds each event
  id of the node once, in order, as Nats-Msg-Id. Likewise after the node's
  own kill -9.
* A three-server NATS cluster with replicas 3 loses a server: the relays
  keep serving without a gap.
* A relay started after 10,000 events resumes a client from id 0.
* A relay and a node started before NATS is up serve once it comes; a
  relay's root advertises its own streams, its REST routes are 404, it
  takes the stream flags of serve; an existing stream is used as it is.

Every comparison is between what clients of the node and of the relays
received (or the node's own log, replayed from id 0 over SSE, and the
chain over REST): markers (faucet grants) bracket the traffic of a test,
so that clients that connected at different moments are compared over the
same span (relayutil.py). Every wait polls an observable state under a
deadline.

One NATS server, one node and two relays serve the tests that do not break
them (the `dep` fixture); the others start their own."""

import contextlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
import natsutil as N  # noqa: E402
import tlsutil as T  # noqa: E402
from harness import sign  # noqa: E402
from relayutil import (SEEN_WITHIN_S, Sender, Traffic, assert_public_streams_complete,  # noqa: E402
                       assert_same, assert_stream_holds_the_log, assert_strictly_increasing,
                       between, chain_txs_between, entries, first_difference, index_of, marker,
                       node_log, open_sse, open_ws, post_batch, public_readers, tx_of,
                       wait_caught_up, wait_seen, ws_ids)

FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")
PASSWORD = "correct horse battery"
DEV = ("dev", "devdevdev")
ENDED_WITHIN_S = 10     # the contract promises 5 s after a logout; the tests allow 10
BIG = 1000              # transactions in the biggest block (a batch of 1000 makes one)
LATE_EVENTS = 10_000    # events in the log before the late relay starts
# After losing the NATS server that held its consumer, a relay has been
# seen to deliver nothing for up to ~40 s (the stream was complete): no gap,
# but slow; this deadline leaves room for that on a loaded machine.
FAILOVER_WITHIN_S = 120


# --------------------------------------------------------------------------
# The shared deployment: NATS, a node feeding it, two relays
# --------------------------------------------------------------------------

def node_and_relays(stack, urls, name, node_flags=(), relay_flags=()):
    """`ledgerline serve --nats URLS` (named <name>-node) and two relays on
    URLS (<name>-relay-1, -2), entered on stack so that they are stopped,
    each checked, in reverse order: (node, [relay-1, relay-2], endpoints),
    endpoints being {"node" / "relay-1" / "relay-2": port}."""
    srv = stack.enter_context(H.Server(*FAST, "--nats", urls, *node_flags, name=name + "-node"))
    relays = [stack.enter_context(N.Relay(urls, *relay_flags, name="%s-relay-%d" % (name, i)))
              for i in (1, 2)]
    return srv, relays, {"node": srv.port, "relay-1": relays[0].port, "relay-2": relays[1].port}


class Deployment:
    """nats-server, `ledgerline serve --nats`, two relays; stopped (each
    checked) in reverse order."""

    def __init__(self):
        self.stack = None

    def __enter__(self):
        with contextlib.ExitStack() as stack:
            self.nats = stack.enter_context(N.NatsServer())
            self.srv, self.relays, self.endpoints = node_and_relays(stack, self.nats.url,
                                                                    "shared")
            self.stack = stack.pop_all()
        return self

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)


@pytest.fixture
def dep(shared_node):
    return shared_node(Deployment)


# --------------------------------------------------------------------------
# The relay's own routes
# --------------------------------------------------------------------------

def test_relay_root_advertises_its_own_streams_and_rest_routes_are_404(dep):
    srv = dep.srv
    tx = H.transfer(H.Key.generate(), H.random_address(), 1, 0)
    for relay in dep.relays:
        r = relay.get("/", headers={"Accept": "application/json"})
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert r.json()["_links"]["streams_v1"] == \
            "ws://127.0.0.1:%d/api/v1/streams/" % relay.port, r.json()
        assert relay.get("/healthz").status_code == 200
        assert relay.metric("ledgerline_nats_connected") == 1
        for method, path, body in (
                ("GET", "/api/v1/blocks/latest", None), ("GET", "/api/v1/blocks/0", None),
                ("GET", "/api/v1/transactions/" + H.tx_id_of(tx), None),
                ("GET", "/api/v1/accounts/" + H.random_address(), None),
                ("GET", "/api/v1/receipts/" + H.tx_id_of(tx), None),
                ("POST", "/api/v1/transactions", tx), ("POST", "/api/v1/faucet",
                                                       {"address": H.random_address()}),
                ("POST", "/api/register", {"username": "relayu", "password": PASSWORD}),
                ("POST", "/api/login", {"username": DEV[0], "password": DEV[1]}),
                ("GET", "/api/me", None), ("GET", "/api/messages", None),
                ("POST", "/api/messages", {"to": H.random_address(), "text": "x"})):
            r = relay.request(method, path, json=body)
            H.assert_error(r, 404, "not_found")
        # The public streams need no session; the others do, as on the node.
        with H.RawWebSocket(relay.port) as ws:
            ws.handshake("/api/v1/streams/valid_tx")
        with H.RawWebSocket(relay.port) as ws:
            r = ws.handshake("/api/v1/streams/nope", expect=404)
            assert r.error() == "not_found"
        with H.RawWebSocket(relay.port) as ws:
            r = ws.handshake("/api/v1/streams/events", expect=401)
            assert r.error() == "unauthorized"
        s = H.SseStream(relay.port)
        assert s.status == 401 and s.response.error() == "unauthorized", (s.status, s.response)
    # What was posted to a relay did not reach the node.
    assert srv.tx(H.tx_id_of(tx)) is None


def test_relay_sigterm_closes_its_websockets_with_1001_and_exits_0(dep):
    relay = N.Relay(dep.nats.url, name="relay-sigterm")
    with contextlib.ExitStack() as stack:
        stack.callback(relay.cleanup)
        relay.start()
        lt = stack.enter_context(H.LoopThread())
        ws = open_ws(lt, relay.port, "valid_tx")
        wait_seen({"valid_tx": ws}, marker(dep.srv))
        relay.stop()  # exit code 0, no sanitizer report
        assert ws.wait_closed(10) == 1001


# --------------------------------------------------------------------------
# 1. Two relays and the node: the same bytes and ids
# --------------------------------------------------------------------------

@H.timeout(150)
def test_public_streams_on_two_relays_match_the_node_byte_for_byte_for_blocks_of_1000(dep):
    srv, endpoints = dep.srv, dep.endpoints
    with H.LoopThread() as lt:
        readers, everyone = public_readers(lt, endpoints)
        start = marker(srv)
        wait_seen(everyone, start)

        alice, bob = Sender(srv), Sender(srv)
        big = alice.batch(BIG)                                # one block of 1000
        asset = srv.submit_ok(sign(bob.key, H.create_body(bob.key, {"relay": 1}, 50, 0)))
        bob.nonce = 1
        srv.submit_ok(H.transfer(bob.key, alice.key.address, 5, 1, asset_id=asset))
        bob.nonce = 2
        bob.batch(300, message_every=5)                       # transfers and message txs
        post_batch(srv, alice.txs(BIG - 1) + bob.txs(1))      # 1000 from two senders
        end = marker(srv)
        wait_seen(everyone, end)

        want, blocks = chain_txs_between(srv, start, end)
        assert max(b["tx_count"] for b in blocks) == BIG, \
            "precondition: no block of %d txs (%s)" % (BIG, [b["tx_count"] for b in blocks])
        assert srv.tx(big[0])["block_height"] == srv.tx(big[-1])["block_height"]
        for stream, rs in readers.items():
            got = assert_same(rs, start, end, "node")
            assert [tx_of(e) for e in got] == want, "%s on the node: not the chain" % stream
        for ep in endpoints:
            frames = [json.loads(f) for f in between(readers["valid_tx"][ep], start, end)]
            assert {f["assetid"] for f in frames if f["txid"] != asset} >= {H.NATIVE_ASSET, asset}
        for r in everyone.values():
            assert not r.closed


@H.timeout(150)
def test_session_streams_on_two_relays_match_the_node_with_the_same_ids_and_filters(dep):
    """Needs sessions on relays: the node's cookie opens /api/stream and
    the events WebSocket on relays."""
    srv = dep.srv
    cookie = H.login(srv, *DEV)
    alice = H.Key.generate()
    a = alice.address
    sse_paths = {"all": "/api/stream", "blocks": "/api/stream?types=block",
                 "alice": "/api/stream?address=" + a.upper(),
                 "alice-txmsg": "/api/stream?types=tx,message&address=0x" + a}
    ws_queries = {"ws-all": "", "ws-alice-tx": "?types=tx&address=" + a}
    filters = {"all": lambda env: True, "blocks": lambda env: env["type"] == "block",
               "alice": lambda env: H.envelope_involves(env, a),
               "alice-txmsg": lambda env: env["type"] in ("tx", "message") and
               H.envelope_involves(env, a)}
    endpoints = dep.endpoints
    with contextlib.ExitStack() as stack:
        lt = stack.enter_context(H.LoopThread())
        readers = {}
        for ep, port in endpoints.items():
            for name, path in sse_paths.items():
                readers.setdefault(name, {})[ep] = stack.enter_context(
                    open_sse(port, path, cookie=cookie))
            for name, query in ws_queries.items():
                readers.setdefault(name, {})[ep] = open_ws(lt, port, "events", query, cookie)
        everyone = {"%s %s" % (n, ep): r for n, rs in readers.items() for ep, r in rs.items()
                    if n in ("all", "ws-all")}
        start = marker(srv)
        wait_seen(everyone, start)

        sender = Sender(srv, alice)
        sender.batch(BIG)                                           # a block of 1000
        other = Sender(srv)
        post_batch(srv, other.txs(20, message_every=2, to=a))       # message txs to alice
        chats = [H.send_message(srv, cookie, a, "to alice over relays"),
                 H.send_message(srv, cookie, H.random_address(), "to someone else")]
        for t in chats:
            srv.wait_confirmed(t)
        sender.batch(200, message_every=4)
        end = marker(srv)
        wait_seen(everyone, end)

        all_events = assert_same(readers["all"], start, end, "node")
        assert_strictly_increasing([i for i, _ in all_events])
        statuses = [json.loads(d)["msg"]["status"] for _, d in all_events
                    if json.loads(d)["type"] == "message"]
        assert "pending" in statuses and "confirmed" in statuses, statuses[:5]
        # The WebSocket frames are the SSE data, and the filtered streams
        # are the full one filtered, on every endpoint alike.
        assert assert_same(readers["ws-all"], start, end, "node") == [d for _, d in all_events]
        lo, hi = all_events[0][0], all_events[-1][0]
        for name, keep in filters.items():
            want = [(i, d) for i, d in all_events if keep(json.loads(d))]
            assert want, "%s: no event passes the filter" % name
            for ep in endpoints:
                rs = readers[name]
                rs[ep].wait_for(lambda s: any(i == want[-1][0] for i, _ in entries(s)),
                                SEEN_WITHIN_S, "event %d on %s %s" % (want[-1][0], name, ep))
                got = [(i, d) for i, d in entries(rs[ep]) if lo <= i <= hi]
                assert got == want, "%s on %s: %s" % (name, ep, first_difference(got, want))
        # alice's key is new: every event about her lies between the markers.
        want = [d for _, d in all_events if json.loads(d)["type"] == "tx" and
                H.envelope_involves(json.loads(d), a)]
        for ep in endpoints:
            readers["ws-alice-tx"][ep].wait_for(lambda s: want[-1] in entries(s), SEEN_WITHIN_S,
                                                "alice's last tx on ws-alice-tx %s" % ep)
            got = entries(readers["ws-alice-tx"][ep])
            assert got == want, "ws-alice-tx on %s: %s" % (ep, first_difference(got, want))

        # Malformed filters are refused on relays as on the node.
        for port in endpoints.values():
            s = H.SseStream(port, "/api/stream?address=xyz", cookie=cookie)
            assert s.status == 400 and s.response.error() == "bad_address", (port, s.status)


def sse_status(port, cookie, path="/api/stream"):
    """The status of a new SSE request (the stream is closed at once)."""
    s = H.SseStream(port, path, cookie=cookie)
    s.close()
    return s.status


@H.timeout(90)
def test_logout_on_the_node_ends_that_sessions_streams_on_every_relay_and_refuses_it(dep):
    """Needs sessions on relays."""
    srv = dep.srv
    r1, r2 = dep.relays
    name = "relay" + os.urandom(4).hex()
    H.register_user(srv, name, PASSWORD)
    gone, kept = H.login(srv, name, PASSWORD), H.login(srv, name, PASSWORD)
    with contextlib.ExitStack() as stack:
        lt = stack.enter_context(H.LoopThread())
        ending = {"sse relay-1": stack.enter_context(open_sse(r1.port, cookie=gone)),
                  "sse relay-2": stack.enter_context(open_sse(r2.port, "/api/stream?types=tx",
                                                              cookie=gone)),
                  "ws relay-1": open_ws(lt, r1.port, "events", "", gone),
                  "ws relay-2": open_ws(lt, r2.port, "events", "?types=tx", gone)}
        staying = {"sse relay-1 (other session)": stack.enter_context(
            open_sse(r1.port, cookie=kept)),
            "ws relay-2 (other session)": open_ws(lt, r2.port, "events", "", kept)}
        wait_seen(dict(ending, **staying), marker(srv))  # all live before the logout

        with H.user_session(srv, gone) as s:
            r = s.post(srv.url + "/api/logout", json={})
        assert 200 <= r.status_code < 300, (r.status_code, r.text[:300])

        for what, reader in ending.items():
            if isinstance(reader, H.SseStream):
                reader.wait_closed(ENDED_WITHIN_S)
            else:
                assert reader.wait_closed(ENDED_WITHIN_S) == 1008, (what, reader.close_code)
        for relay in (r1, r2):
            H.wait_until(lambda: sse_status(relay.port, gone) == 401, ENDED_WITHIN_S,
                         "401 for the logged-out cookie on %s" % relay.name)
            with H.RawWebSocket(relay.port) as ws:
                resp = ws.handshake("/api/v1/streams/events", {"Cookie": "session=" + gone},
                                    expect=401)
                assert resp.error() == "unauthorized"
        # Only that session ended: the user's other session goes on.
        wait_seen(staying, marker(srv))
        assert not any(r.closed for r in staying.values())
        assert sse_status(r2.port, kept) == 200


@H.timeout(90)
def test_a_new_client_of_a_relay_that_just_started_gets_only_what_comes_after(dep):
    """On the node, a stream opened without a last id starts with the next
    event. So must it on a relay, also on one that is still reading the
    stream's history into its memory when the client connects."""
    srv = dep.srv
    cookie = H.login(srv, *DEV)
    fresh = N.Relay(dep.nats.url, name="relay-fresh")
    with contextlib.ExitStack() as stack:
        stack.callback(fresh.cleanup)
        on_node = stack.enter_context(open_sse(srv.port, cookie=cookie))
        sender = Sender(srv)
        for _ in range(3):
            sender.batch(BIG)  # history for the new relay to read
        pre = marker(srv)
        wait_seen({"node": on_node}, pre)
        before = entries(on_node)[-1][0]
        fresh.start()
        lt = stack.enter_context(H.LoopThread())
        readers = {"valid_tx": open_ws(lt, fresh.port, "valid_tx"),
                   "sse": stack.enter_context(open_sse(fresh.port, cookie=cookie))}
        live = marker(srv)
        wait_seen(readers, live)
        got = [tx_of(e) for e in entries(readers["valid_tx"])]
        old = [i for i, _ in entries(readers["sse"]) if i <= before]
        assert got == [live] and not old, \
            "new clients got events of before they connected: valid_tx %d frames of older " \
            "blocks, SSE (no Last-Event-ID) %d events with ids %s..%s (the node was at %d)" % (
                len(got) - 1, len(old), old[:1], old[-1:], before)
        fresh.stop()


@H.timeout(150)
def test_relay_killed_mid_stream_its_clients_resume_on_the_other_relay_without_gap_or_dup(dep):
    """Needs sessions on relays and WebSocket resume (ids=1, last_event_id)."""
    srv = dep.srv
    cookie = H.login(srv, *DEV)
    doomed = N.Relay(dep.nats.url, name="relay-doomed")
    other = dep.relays[0]
    with contextlib.ExitStack() as stack:
        stack.callback(doomed.cleanup)
        doomed.start()
        # Not the subject here: what a relay sends while it reads the
        # stream's history at start (see the test above).
        wait_caught_up(doomed, srv)
        lt = stack.enter_context(H.LoopThread())
        ref = stack.enter_context(open_sse(srv.port, cookie=cookie))
        sse = stack.enter_context(open_sse(doomed.port, cookie=cookie))
        ws = open_ws(lt, doomed.port, "events", "?ids=1", cookie)
        start = marker(srv)
        wait_seen({"node": ref, "sse": sse, "ws": ws}, start)

        traffic = Traffic(Sender(srv), size=20, message_every=3).start()
        traffic.wait_batches(2, "blocks while the relay is up")
        doomed.kill9()
        at_kill = traffic.batches
        sse.wait_closed(SEEN_WITHIN_S)
        ws.wait_closed(SEEN_WITHIN_S)
        sse_before, ws_before = entries(sse), ws_ids(ws)
        assert sse_before and ws_before

        # Each client reconnects to the other relay with its last id.
        sse2 = stack.enter_context(open_sse(other.port, cookie=cookie, last_id=sse_before[-1][0]))
        ws2 = open_ws(lt, other.port, "events", "?ids=1&last_event_id=%d" % ws_before[-1][0],
                      cookie)
        traffic.wait_batches(at_kill + 2, "blocks after the kill")
        traffic.stop()
        end = marker(srv)
        wait_seen({"node": ref, "sse": sse2, "ws": ws2}, end)

        log = entries(ref)
        end_id = log[index_of(log, end)][0]
        want = [e for e in log if sse_before[0][0] <= e[0] <= end_id]
        got = [e for e in sse_before + entries(sse2) if e[0] <= end_id]
        assert got == want, "SSE resumed after %d: %s" % (sse_before[-1][0],
                                                          first_difference(got, want))
        want = [(i, json.loads(d)) for i, d in log if ws_before[0][0] <= i <= end_id]
        got = [e for e in ws_before + ws_ids(ws2) if e[0] <= end_id]
        assert got == want, "WebSocket resumed after %d: %s" % (
            ws_before[-1][0], first_difference([json.dumps(x) for x in got],
                                               [json.dumps(x) for x in want]))
        assert sse_before[-1][0] < log[-1][0], "precondition: the kill came after the traffic"


# --------------------------------------------------------------------------
# 3. NATS is killed, then restarted
# --------------------------------------------------------------------------

@H.timeout(180)
def test_nats_killed_while_blocks_keep_coming_then_restarted_relays_miss_nothing():
    """Also: the node goes on producing blocks and serving its own clients
    while NATS is down, and the stream then holds each of its event ids
    exactly once, in order, as Nats-Msg-Id."""
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        srv, relays, endpoints = node_and_relays(stack, nats.url, "outage")
        lt = stack.enter_context(H.LoopThread())
        cookie = H.login(srv, *DEV)
        readers, everyone = public_readers(lt, endpoints)
        start = marker(srv)
        wait_seen(everyone, start)
        sender = Sender(srv)
        sender.batch(200, message_every=10)

        nats.kill()
        for relay in relays:
            H.wait_until(lambda: relay.metric("ledgerline_nats_connected") == 0, SEEN_WITHIN_S,
                         "%s to see NATS gone" % relay.name)
        h0 = srv.height()
        on_node = {"%s node" % s: rs["node"] for s, rs in readers.items()}
        for _ in range(4):
            wait_seen(on_node, sender.batch(100, message_every=10)[-1])
        srv.wait_confirmed(H.send_message(srv, cookie, H.random_address(), "NATS is down"))
        assert srv.height() >= h0 + 5, (h0, srv.height())
        assert all(not r.closed for r in everyone.values())

        nats.restart()  # same port, same store
        sender.batch(100, message_every=10)
        end = marker(srv)
        wait_seen(everyone, end)
        assert_public_streams_complete(srv, readers, start, end)
        assert_stream_holds_the_log(nats.url, srv, node_log(srv, cookie, end))


@H.timeout(150)
def test_session_streams_on_relays_stay_open_with_heartbeats_through_a_nats_outage():
    """Needs sessions on relays. SSE and events clients of relays keep
    their streams (heartbeats go on) while NATS is down and then get every
    event with the node's ids."""
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        srv, relays, endpoints = node_and_relays(stack, nats.url, "outage-sse",
                                                 relay_flags=("--sse-heartbeat-s", "1"))
        lt = stack.enter_context(H.LoopThread())
        cookie = H.login(srv, *DEV)
        sse = {ep: stack.enter_context(open_sse(port, cookie=cookie))
               for ep, port in endpoints.items()}
        ws = {ep: open_ws(lt, port, "events", "", cookie) for ep, port in endpoints.items()}
        everyone = dict([("sse " + k, v) for k, v in sse.items()] +
                        [("ws " + k, v) for k, v in ws.items()])
        start = marker(srv)
        wait_seen(everyone, start)
        sender = Sender(srv)
        sender.batch(100, message_every=5)

        nats.kill()
        for ep in ("relay-1", "relay-2"):
            n = len(sse[ep].comments)
            sse[ep].wait_for(lambda s: s.comments[n:].count("heartbeat") >= 2, SEEN_WITHIN_S,
                             "heartbeats on %s while NATS is down" % ep)
        for _ in range(3):
            sender.batch(50, message_every=5)
        srv.wait_confirmed(H.send_message(srv, cookie, H.random_address(), "NATS is down"))
        assert all(not r.closed for r in everyone.values())

        nats.restart()
        sender.batch(50, message_every=5)
        end = marker(srv)
        wait_seen(everyone, end)
        got = assert_same({k: sse[k] for k in sse}, start, end, "node")
        assert_strictly_increasing([i for i, _ in got])
        assert assert_same(ws, start, end, "node") == [d for _, d in got]
        assert all(not r.closed for r in everyone.values())


@H.timeout(120)
def test_node_killed_mid_traffic_and_restarted_feeds_each_event_once_and_relays_go_on():
    """The node's log is the source of truth: after a kill -9 right after a
    block of 1000 commits (its events most likely still being published),
    the restarted node completes the stream with no gap and no repeat, and
    the relay's clients, kept open, get it all."""
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        srv = stack.enter_context(H.Server(*FAST, "--nats", nats.url, name="crash-node"))
        relay = stack.enter_context(N.Relay(nats.url, name="crash-relay"))
        lt = stack.enter_context(H.LoopThread())
        on_relay = {s: open_ws(lt, relay.port, s) for s in ("valid_tx", "valid_transactions")}
        start = marker(srv)
        wait_seen(on_relay, start)
        sender = Sender(srv)
        sender.batch(100, message_every=10)
        big = post_batch(srv, sender.txs(BIG, message_every=50))
        srv.wait_confirmed(big[-1])
        srv.kill9()  # while the block's 1000 events are being published, most likely
        srv.start()
        sender.batch(100, message_every=10)
        end = marker(srv)
        wait_seen(on_relay, end)
        want, _blocks = chain_txs_between(srv, start, end)
        for stream, r in on_relay.items():
            got = [tx_of(e) for e in between(r, start, end)]
            assert got == want, "%s on the relay: %s" % (stream, first_difference(got, want))
            assert not r.closed
        assert_stream_holds_the_log(nats.url, srv, node_log(srv, H.login(srv, *DEV), end))


# --------------------------------------------------------------------------
# 4. A three-server NATS cluster loses a server
# --------------------------------------------------------------------------

def harm(server, leader):
    """How much losing server hurts: it leads the stream, the node and
    relays are connected to it."""
    names = server.client_names()
    return (server.name == leader) + names.count("ledgerline-relay") + \
        names.count("ledgerline-node")


@H.timeout(240)
def test_three_server_cluster_loses_a_server_and_the_relays_keep_serving_without_a_gap():
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(N.NatsCluster(3))
        srv, relays, endpoints = node_and_relays(stack, cluster.urls, "cluster",
                                                 node_flags=("--nats-replicas", "3"))
        lt = stack.enter_context(H.LoopThread())
        cookie = H.login(srv, *DEV)
        readers, everyone = public_readers(lt, endpoints)
        start = marker(srv)
        wait_seen(everyone, start)
        info = H.wait_until(lambda: (lambda i: i if i["cluster"]["leader"] else None)(
            N.stream_info(cluster.urls)), SEEN_WITHIN_S, "the stream to have a leader")
        assert info["config"]["replicas"] == 3 and info["config"]["storage"] == "file", info

        traffic = Traffic(Sender(srv)).start()
        traffic.wait_batches(2, "blocks before the kill")
        victim = max(cluster.servers, key=lambda s: harm(s, info["cluster"]["leader"]))
        victim.kill()
        at_kill = traffic.batches
        traffic.wait_batches(at_kill + 4, "blocks after the kill")
        traffic.stop()
        end = marker(srv)
        wait_seen(everyone, end, FAILOVER_WITHIN_S)
        assert_public_streams_complete(srv, readers, start, end)
        assert_stream_holds_the_log(cluster.live_urls(), srv, node_log(srv, cookie, end))
        assert N.stream_info(cluster.live_urls())["cluster"]["leader"] != victim.name


# --------------------------------------------------------------------------
# 5. A relay started late; a relay started before NATS
# --------------------------------------------------------------------------

@H.timeout(180)
def test_relay_started_after_10000_events_resumes_a_client_from_id_0_with_all_in_order():
    """The stream part passes alone; the relay part needs sessions on
    relays (SSE) and WebSocket resume (events?ids=1&last_event_id=0)."""
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        srv = stack.enter_context(H.Server(*FAST, "--nats", nats.url, name="late-node"))
        cookie = H.login(srv, *DEV)
        keys = [H.Key.generate() for _ in range(LATE_EVENTS // BIG)]
        for grant in [srv.fund(k.address, 10**9, wait=False) for k in keys]:
            srv.wait_confirmed(grant)
        sink = H.random_address()
        lasts = [post_batch(srv, [H.transfer(k, sink, 1, n) for n in range(BIG)])[-1]
                 for k in keys]
        for t in lasts:
            srv.wait_confirmed(t, SEEN_WITHIN_S)
        end = marker(srv)
        ref = stack.enter_context(open_sse(srv.port, cookie=cookie, last_id=0))
        ref.wait_for(lambda s: index_of(entries(s), end) is not None, SEEN_WITHIN_S,
                     "the node's log")
        log = entries(ref)
        assert len(log) >= LATE_EVENTS, len(log)
        assert_stream_holds_the_log(nats.url, srv, log)

        late = stack.enter_context(N.Relay(nats.url, name="late-relay"))
        lt = stack.enter_context(H.LoopThread())
        sse = stack.enter_context(open_sse(late.port, cookie=cookie, last_id=0))
        ws = open_ws(lt, late.port, "events", "?ids=1&last_event_id=0", cookie)
        live = marker(srv)  # while they replay: the replay then goes on live
        wait_seen({"node": ref, "relay sse": sse, "relay ws": ws}, live, timeout=120)
        want = entries(ref)
        got = entries(sse)
        assert got == want, "SSE from 0 on the late relay: %s" % first_difference(got, want)
        got = ws_ids(ws)
        want = [(i, json.loads(d)) for i, d in want]
        assert got == want, "events?ids=1&last_event_id=0 on the late relay: %s" % (
            first_difference([json.dumps(x) for x in got], [json.dumps(x) for x in want]),)


def try_open_ws(lt, port, stream):
    try:
        return H.WsReader(lt, "ws://127.0.0.1:%d/api/v1/streams/%s" % (port, stream))
    except Exception:  # refused (503) while the relay has no NATS yet
        return None


@H.timeout(120)
def test_relay_and_node_started_before_nats_start_anyway_and_serve_once_it_comes():
    nats = N.NatsServer()
    try:
        nats.pick_ports()  # its URL, nobody listening yet
        relay = N.Relay(nats.url, name="early-relay")
        try:
            relay.start(healthy=False)  # it answers /healthz, whatever it says
            with H.Server(*FAST, "--nats", nats.url, name="early-node") as srv, \
                    H.LoopThread() as lt:
                assert relay.alive()
                cookie = H.login(srv, *DEV)
                # Without NATS the node produces blocks and serves its clients.
                on_node = open_ws(lt, srv.port, "valid_tx")
                wait_seen({"node": on_node}, marker(srv))
                Sender(srv).batch(50, message_every=5)

                nats.start()
                on_relay = H.wait_until(lambda: try_open_ws(lt, relay.port, "valid_tx"),
                                        SEEN_WITHIN_S, "the relay to take a valid_tx client")
                H.wait_until(lambda: relay.get("/healthz").status_code == 200, SEEN_WITHIN_S,
                             "the relay's /healthz to say 200")
                live = marker(srv)
                wait_seen({"node": on_node, "relay": on_relay}, live)
                got, node = entries(on_relay), entries(on_node)
                assert got == node[len(node) - len(got):], first_difference(
                    got, node[len(node) - len(got):])
                # What the node logged before NATS came is in the stream too.
                assert_stream_holds_the_log(nats.url, srv, node_log(srv, cookie, live))
            relay.stop()
        finally:
            relay.cleanup()
        nats.stop()
    finally:
        nats.cleanup()


# --------------------------------------------------------------------------
# The stream's name and configuration; the relay's stream flags
# --------------------------------------------------------------------------

@H.timeout(90)
def test_an_existing_stream_is_used_as_it_is_and_nats_stream_names_it_on_node_and_relays():
    """An operator's stream (here: memory storage, a subject list of its
    own) keeps its configuration; --nats-stream points node and relay at it."""
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        made = N.create_stream(nats.url, "OPS", ["ledgerline.events.>"], storage="memory")
        srv = stack.enter_context(H.Server(*FAST, "--nats", nats.url, "--nats-stream", "OPS",
                                           name="ops-node"))
        relay = stack.enter_context(N.Relay(nats.url, "--nats-stream", "OPS", name="ops-relay"))
        lt = stack.enter_context(H.LoopThread())
        cookie = H.login(srv, *DEV)
        readers = {"node": open_ws(lt, srv.port, "valid_tx"),
                   "relay": open_ws(lt, relay.port, "valid_tx")}
        start = marker(srv)
        wait_seen(readers, start)
        Sender(srv).batch(30)
        end = marker(srv)
        wait_seen(readers, end)
        assert_same(readers, start, end, "node")
        assert_stream_holds_the_log(nats.url, srv, node_log(srv, cookie, end), stream="OPS")
        info = N.stream_info(nats.url, "OPS")
        assert info["config"] == made["config"], (info["config"], made["config"])
        assert N.stream_info(nats.url, missing_ok=True) is None  # no LEDGERLINE stream made


@H.timeout(90)
def test_relay_takes_the_stream_flags_of_serve(dep):
    """--ws-idle-timeout-s closes an idle WebSocket with 1000,
    --allowed-origins restricts the public streams' Origin, as on the node."""
    relay = N.Relay(dep.nats.url, "--ws-idle-timeout-s", "1",
                    "--allowed-origins", "http://app.example", name="relay-flags")
    with contextlib.ExitStack() as stack:
        stack.callback(relay.cleanup)
        relay.start()
        with H.RawWebSocket(relay.port) as ws:
            r = ws.handshake("/api/v1/streams/valid_tx", {"Origin": "http://evil.example"},
                             expect=403)
            assert r.error() == "forbidden"
        with H.RawWebSocket(relay.port) as ws:
            ws.handshake("/api/v1/streams/valid_tx", {"Origin": "http://app.example"})
            code, _reason = ws.expect_close(20)  # idle: neither ping nor text sent
            assert code == 1000, code
        relay.stop()


# --------------------------------------------------------------------------
# TLS on a relay (issue 15: "relay takes the same flags")
# --------------------------------------------------------------------------

class TlsRelay(N.Relay):
    """A relay started with --tls-cert/--tls-key: its URL is https, and its
    session trusts the certificate."""

    def __init__(self, urls, cert_dir, *flags, name="relay-tls"):
        self.cert = os.path.join(cert_dir, "cert.pem")
        super().__init__(urls, "--tls-cert", self.cert, "--tls-key",
                         os.path.join(cert_dir, "key.pem"), *flags, name=name)

    @property
    def url(self):
        return "https://localhost:%d" % self.port

    def _wait_ready(self, healthy):
        self.session.verify = self.cert
        super()._wait_ready(healthy)


def test_relay_serves_its_streams_over_tls_with_the_flags_of_serve(dep, tmp_path):
    """relay --tls-cert/--tls-key: GET / over https advertises wss://
    streams, with --hsts every answer says so, and a wss:// client of the
    relay gets the node's transactions."""
    import asyncio
    import websockets
    cert, _key = T.dev_cert(str(tmp_path / "tls"))
    relay = TlsRelay(dep.nats.url, os.path.dirname(cert), "--hsts")
    with contextlib.ExitStack() as stack:
        stack.callback(relay.cleanup)
        relay.start()
        r = relay.session.get(relay.url + "/", headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text
        assert r.json()["_links"]["streams_v1"].startswith("wss://localhost:%d/" % relay.port)
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        ctx = T.client_context(relay.cert)

        async def receive_grant():
            url = "wss://localhost:%d/api/v1/streams/valid_transactions" % relay.port
            async with websockets.connect(url, ssl=ctx) as ws:
                tx_id = dep.srv.fund(H.random_address(), 1000, wait=False)
                deadline = asyncio.get_running_loop().time() + SEEN_WITHIN_S
                while True:
                    left = deadline - asyncio.get_running_loop().time()
                    assert left > 0, "the grant %s did not reach the wss client" % tx_id
                    event = json.loads(await asyncio.wait_for(ws.recv(), left))
                    if event.get("transaction_id") == tx_id:
                        return
        asyncio.run(receive_grant())
        relay.stop()
