"""Server-Sent Events (docs/API.md §5, seed 002) as an independent client
sees them: the session and Accept rules, the response head, the wire format
(`retry`, `id`, one `data` line, heartbeats), the envelopes and their order
per block, pending then confirmed chat messages, the type and address
filters, and the seed's own Python example.

harness.SseStream reads the raw bytes (so the format itself is checked);
the seed's example uses requests with stream=True. One dev node with a
1-second heartbeat serves the whole file."""

import json
import os
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

# The seed's example calls requests.get as it is: keep it off any proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

PASSWORD = "correct horse battery"


SERVER_FLAGS = ("--dev", "--block-interval-ms", "150", "--difficulty", "1",
                "--sse-heartbeat-s", "1")
SERVER_NAME = "sse-node"


def dev_cookie(srv):
    return H.login(srv, "dev", "devdevdev")


def new_user(srv, prefix):
    """Registers a fresh user; returns (username, session cookie)."""
    name = prefix + os.urandom(3).hex()
    H.register_user(srv, name, PASSWORD)
    return name, H.login(srv, name, PASSWORD)


def tx_of(env):
    return H.envelope_tx_id(env)


def has_tx(reader, tx_id, status=None):
    """reader has an event about tx_id (a message event with status)."""
    for e in reader.events:
        if tx_of(e.json) == tx_id and (status is None or e.json["msg"]["status"] == status):
            return True
    return False


def has_block(reader, height):
    return any(e.type == "block" and e.json["block"]["height"] == height for e in reader.events)


def quiet_tip(srv):
    """The tip height at a moment when nothing is pending."""
    def attempt():
        m = H.parse_metrics(srv.get("/metrics").text)
        if m.get("ledgerline_mempool_transactions") != 0:
            return None
        return (srv.height(),)
    return H.wait_until(attempt, 20, "an empty mempool")[0]


# --------------------------------------------------------------------------
# Sessions, Accept, filters: the answers before the stream
# --------------------------------------------------------------------------

def test_login_sets_an_httponly_samesite_lax_session_cookie(srv):
    r = srv.post("/api/login", json={"username": "dev", "password": "devdevdev"})
    assert r.status_code == 200, r.text
    cookie = r.headers.get("Set-Cookie", "")
    parts = [p.strip().lower() for p in cookie.split(";")]
    assert parts[0].startswith("session=") and len(parts[0]) > len("session="), cookie
    assert "httponly" in parts and "samesite=lax" in parts and "path=/" in parts, cookie
    r = srv.post("/api/login", json={"username": "dev", "password": "wrong-password"})
    assert 400 <= r.status_code < 500 and "session" not in r.cookies, r.status_code
    H.error_of(r)


def test_stream_without_a_valid_session_is_401_json(srv):
    for cookie in (None, "00" * 32, "not-a-session"):
        s = H.SseStream(srv.port, cookie=cookie)
        assert s.status == 401, (cookie, s.status, s.response)
        assert s.response.error(), s.response
    _name, cookie = new_user(srv, "leaver")
    with H.SseStream(srv.port, cookie=cookie) as s:
        assert s.status == 200, s.response
    with H.user_session(srv, cookie) as sess:
        r = sess.post(srv.url + "/api/logout", json={})
    assert 200 <= r.status_code < 300, (r.status_code, r.text)
    s = H.SseStream(srv.port, cookie=cookie)
    assert s.status == 401, ("after logout", s.status, s.response)


def test_stream_whose_accept_excludes_event_stream_is_406_not_acceptable(srv):
    cookie = dev_cookie(srv)
    for accept in ("application/json", "text/html", "text/plain, application/xml"):
        s = H.SseStream(srv.port, cookie=cookie, accept=accept)
        assert s.status == 406 and s.response.error() == "not_acceptable", (accept, s.response)
    for accept in ("text/event-stream", "*/*", "text/*", "application/json, text/event-stream"):
        with H.SseStream(srv.port, cookie=cookie, accept=accept) as s:
            assert s.status == 200, (accept, s.status, s.response)


def test_malformed_address_filter_is_400_bad_address(srv):
    cookie = dev_cookie(srv)
    a = H.random_address()
    vm = os.urandom(20).hex()
    for bad in (a[:-1], a + "0", "0x" + a[:-1], "g" * 32, vm[:-1], vm + "0", "0x",
                "xyz"):
        s = H.SseStream(srv.port, "/api/stream?address=" + bad, cookie=cookie)
        assert s.status == 400 and s.response.error() == "bad_address", (bad, s.response)
    for good in (a, a.upper(), "0x" + a, a[:16] + a[16:].upper(), vm, "0x" + vm.upper()):
        with H.SseStream(srv.port, "/api/stream?address=" + good, cookie=cookie) as s:
            assert s.status == 200, (good, s.status, s.response)


# --------------------------------------------------------------------------
# The response head and the wire format
# --------------------------------------------------------------------------

def test_stream_answers_200_event_stream_no_cache_unbuffered_and_starts_with_retry(srv):
    with H.SseStream(srv.port, cookie=dev_cookie(srv)) as s:
        assert s.status == 200, s.response
        assert s.headers.get("content-type", "").split(";")[0].strip() == "text/event-stream", \
            s.headers
        assert s.headers.get("cache-control", "").lower() == "no-cache", s.headers
        assert s.headers.get("x-accel-buffering", "").lower() == "no", s.headers
        s.wait_for(lambda s: s.lines, 10, "the first line")
        assert s.lines[0] == "retry: 3000", s.lines[:3]


def test_each_event_is_an_id_line_then_one_data_line_then_a_blank_line(srv):
    cookie = dev_cookie(srv)
    with H.SseStream(srv.port, cookie=cookie) as s:
        alice = srv.funded_key(1_000_000)
        last = H.send_message(srv, cookie, alice.address, "line\nbreaks\r\nand \u2028 stay in one")
        srv.wait_confirmed(last)
        s.wait_for(lambda s: has_tx(s, last, "confirmed"), 20, "the confirmed message")
        with s.cond:
            blocks = list(s.blocks)
            events = list(s.events)
        assert s.lines[0] == "retry: 3000", s.lines[:3]
        ids = []
        for b in blocks:
            body = [line for line in b if not line.startswith(":") and not
                    line.startswith("retry:")]
            if not body:
                continue
            assert len(body) == 2 and body[0].startswith("id: ") and \
                body[1].startswith("data: "), "not `id` + one `data` line: %r" % b
            assert body[0][4:].isdigit(), body
            ids.append(int(body[0][4:]))
            json.loads(body[1][6:])  # one line of complete JSON
        assert not [line for line in s.lines if line.startswith("event:")], \
            "an `event:` field would hide the event from EventSource.onmessage"
        assert len(ids) == len(events) >= 4, (len(ids), len(events))
        assert all(a < b for a, b in zip(ids, ids[1:])), "ids not strictly increasing: %s" % ids
        msg = [e for e in events if tx_of(e.json) == last][-1].json
        assert msg["msg"]["text"] == "line\nbreaks\r\nand \u2028 stay in one", msg


def test_heartbeat_comment_comes_every_sse_heartbeat_s(srv):
    with H.SseStream(srv.port, "/api/stream?types=receipt", cookie=dev_cookie(srv)) as s:
        s.wait_for(lambda s: s.comments.count("heartbeat") >= 3, 8, "three heartbeats")
        assert ": heartbeat" in s.lines, [line for line in s.lines if line.startswith(":")]
        times = [t for c, t in zip(s.comments, s.comment_times) if c == "heartbeat"]
        mean = (times[-1] - times[0]) / (len(times) - 1)  # one late read can bunch two
        assert 0.6 <= mean <= 1.8, "heartbeats %.2f s apart on average, for 1 s" % mean


# --------------------------------------------------------------------------
# Envelopes and their order
# --------------------------------------------------------------------------

@H.timeout(90)
def test_events_come_per_block_as_the_block_then_each_transaction_in_block_order(srv):
    cookie = dev_cookie(srv)
    bob_name, bob_cookie = new_user(srv, "bob")
    with H.SseStream(srv.port, cookie=cookie) as s:
        h0 = quiet_tip(srv)
        alice = srv.funded_key(5_000_000)
        carol = H.random_address()
        ids = [srv.submit_ok(sign(alice, H.create_body(alice, {"sse": True}, 50, 0, fee=1))),
               srv.submit_ok(H.transfer(alice, carol, 2_500_000, 1, fee=10_000))]
        ids.append(srv.submit_ok(H.transfer(alice, carol, 5, 2, asset_id=ids[0])))
        ids.append(srv.submit_ok(sign(alice, H.message_body(alice, carol, "raw message", 3))))
        ids.append(H.send_message(srv, cookie, bob_name, "dev to bob"))
        ids.append(H.send_message(srv, bob_cookie, alice.address, "bob to alice"))
        for t in ids:
            srv.wait_confirmed(t)
        h1 = quiet_tip(srv)
        last_txs = srv.block(h1)["transactions"]
        s.wait_for(lambda s: has_block(s, h1) and all(has_tx(s, t) for t in last_txs), 20,
                   "block %d" % h1)
        events = s.snapshot()

    assert all(a.id < b.id for a, b in zip(events, events[1:])), [e.id for e in events]
    authors = {ids[4]: "dev", ids[5]: bob_name}
    committed = [e for e in events
                 if not (e.type == "message" and e.json["msg"]["status"] == "pending")]
    expected = []
    for block in srv.chain(h0 + 1, h1):
        expected.append(("block", block["height"]))
        expected += [("tx", t) for t in block["transactions"]]
    got = [("block", e.json["block"]["height"]) if e.type == "block" else ("tx", tx_of(e.json))
           for e in committed]
    assert got == expected, "order per block:\n got %s\nwant %s" % (got, expected)

    height_of = {}
    for e in committed:
        if e.type == "block":
            height = e.json["block"]["height"]
            H.check_block_envelope(e.json, srv.block(height))
            continue
        tx = srv.tx(tx_of(e.json))
        height_of[tx["tx_id"]] = height
        if tx["kind"] == "message":
            H.check_msg_envelope(e.json, tx, "confirmed", height, authors.get(tx["tx_id"]))
        else:
            H.check_tx_envelope(e.json, tx, height)
    # Amounts in coins: 2,500,000 units and a 10,000-unit fee.
    t = next(e.json["tx"] for e in committed if tx_of(e.json) == ids[1])
    assert t["amount"] == 2.5 and t["fee"] == 0.01, t
    # Every message (raw or chat) was announced pending before its block.
    block_index = {e.json["block"]["height"]: i for i, e in enumerate(events)
                   if e.type == "block"}
    for t in (ids[3], ids[4], ids[5]):
        pend = [i for i, e in enumerate(events) if e.type == "message" and tx_of(e.json) == t
                and e.json["msg"]["status"] == "pending"]
        assert len(pend) == 1, "message %s: %d pending events" % (t, len(pend))
        assert pend[0] < block_index[height_of[t]], "pending after its block was announced"
        H.check_msg_envelope(events[pend[0]].json, srv.tx(t), "pending", None, authors.get(t))
    # Dedupe: no key twice.
    keys = [(e.type, e.json["block"]["height"]) if e.type == "block" else
            (e.type, tx_of(e.json), e.json.get("msg", {}).get("status")) for e in events]
    assert len(keys) == len(set(keys)), "duplicate events"


def test_chat_message_yields_pending_then_confirmed_message_events(srv):
    alice_name, alice_cookie = new_user(srv, "alice")
    bob_name, _bob_cookie = new_user(srv, "bob")
    with H.SseStream(srv.port, "/api/stream?types=message", cookie=alice_cookie) as s:
        tx_id = H.send_message(srv, alice_cookie, bob_name, "hello bob \U0001F680")
        s.wait_for(lambda s: has_tx(s, tx_id, "pending"), 10, "the pending event")
        s.wait_for(lambda s: has_tx(s, tx_id, "confirmed"), 20, "the confirmed event")
        mine = [e for e in s.snapshot() if tx_of(e.json) == tx_id]
    tx = srv.wait_confirmed(tx_id)
    assert [e.json["msg"]["status"] for e in mine] == ["pending", "confirmed"], mine
    pending, confirmed = mine[0].json, mine[1].json
    H.check_msg_envelope(pending, tx, "pending", None, alice_name)
    H.check_msg_envelope(confirmed, tx, "confirmed", tx["block_height"], alice_name)
    assert pending["msg"]["block"] is None and confirmed["msg"]["block"] == tx["block_height"]
    assert confirmed["msg"]["text"] == "hello bob \U0001F680"
    assert confirmed["msg"]["sender_address"] != confirmed["msg"]["address"]


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------

def test_types_filter_keeps_the_listed_types_and_ignores_unknown_values(srv):
    cookie = dev_cookie(srv)
    alice = srv.funded_key(1_000_000)
    paths = {"all": "", "block": "?types=block", "txmsg": "?types=tx,message",
             "bogus": "?types=block,bogus,receipts", "tx": "?types=tx"}
    readers = {k: H.SseStream(srv.port, "/api/stream" + q, cookie=cookie)
               for k, q in paths.items()}
    try:
        bob = H.random_address()
        msg = srv.submit_ok(sign(alice, H.message_body(alice, bob, "typed", 0)))
        srv.wait_confirmed(msg)
        last = srv.submit_ok(H.transfer(alice, bob, 1, 1))
        tip = srv.wait_confirmed(last)["block_height"]
        readers["all"].wait_for(lambda s: has_tx(s, last) and has_block(s, tip), 20, "the end")
        for k in ("block", "bogus"):
            readers[k].wait_for(lambda s: has_block(s, tip), 20, "block %d" % tip)
        for k in ("txmsg", "tx"):
            readers[k].wait_for(lambda s: has_tx(s, last), 20, "the last transfer")
        ref = readers["all"].snapshot()

        def only(types):
            return [(e.id, e.json) for e in ref if e.type in types]
        for k, types in (("block", {"block"}), ("bogus", {"block"}),
                         ("txmsg", {"tx", "message"}), ("tx", {"tx"})):
            got = [(e.id, e.json) for e in readers[k].snapshot()]
            assert got == only(types), "types filter %s:\n%s\n%s" % (paths[k], got[:4],
                                                                     only(types)[:4])
        assert any(e.type == "message" for e in readers["txmsg"].snapshot())
    finally:
        for r in readers.values():
            r.close()


def test_address_filter_matches_sender_recipient_author_and_miner_in_any_case(srv):
    cookie = dev_cookie(srv)
    alice = srv.funded_key(1_000_000)
    carol = srv.funded_key(1_000_000)
    bob, dave = H.random_address(), H.random_address()
    miner = srv.latest()["miner"]
    paths = {"all": "", "alice": "?address=" + alice.address,
             "ALICE": "?address=" + alice.address.upper(),
             "0xalice": "?address=0x" + alice.address,
             "bob": "?types=tx,message&address=" + bob,
             "miner": "?types=block&address=" + miner.upper(),
             "vm": "?address=" + os.urandom(20).hex()}
    readers = {k: H.SseStream(srv.port, "/api/stream" + q, cookie=cookie)
               for k, q in paths.items()}
    try:
        srv.submit_ok(H.transfer(carol, dave, 3, 0))           # neither alice nor bob
        srv.submit_ok(H.transfer(alice, bob, 4, 0))            # alice sends, bob receives
        srv.submit_ok(sign(alice, H.message_body(alice, dave, "alice writes", 1)))
        srv.wait_confirmed(srv.submit_ok(H.transfer(carol, dave, 5, 1)))
        last = srv.submit_ok(H.transfer(alice, bob, 6, 2))     # the sentinel
        tip = srv.wait_confirmed(last)["block_height"]
        readers["all"].wait_for(lambda s: has_tx(s, last) and has_block(s, tip), 20, "the end")
        for k in ("alice", "ALICE", "0xalice", "bob"):
            readers[k].wait_for(lambda s: has_tx(s, last), 20, "the sentinel")
        readers["miner"].wait_for(lambda s: has_block(s, tip), 20, "the last block")
        ref = readers["all"].snapshot()

        def of(k):
            return [(e.id, e.json) for e in readers[k].snapshot()]
        want = [(e.id, e.json) for e in ref if H.envelope_involves(e.json, alice.address)]
        assert {env["type"] for _i, env in want} == {"tx", "message"}, want
        for k in ("alice", "ALICE", "0xalice"):
            assert of(k) == want, "address filter %s:\n%s\n%s" % (paths[k], of(k)[:4], want[:4])
        want_bob = [(e.id, e.json) for e in ref if e.type == "tx"
                    and e.json["tx"]["recipient"] == bob]
        assert len(want_bob) == 2 and of("bob") == want_bob, of("bob")
        want_miner = [(e.id, e.json) for e in ref if e.type == "block"]
        assert want_miner and of("miner") == want_miner, of("miner")
        assert of("vm") == [], of("vm")
    finally:
        for r in readers.values():
            r.close()


# --------------------------------------------------------------------------
# The seed's Python example
# --------------------------------------------------------------------------

@H.timeout(60)
def test_seed_python_example_reads_events_with_requests(srv):
    token = dev_cookie(srv)
    sent, stop = [], threading.Event()

    def traffic():  # grants until the reader has seen one (iter_lines reads in 512-byte bites)
        with H.new_session() as s:
            for _ in range(60):
                if stop.is_set():
                    return
                r = s.post(srv.url + "/api/v1/faucet", json={"address": H.random_address(),
                                                             "amount": 1})
                sent.append(r.json()["tx_id"])
                stop.wait(0.25)

    # --- seed 002, "Example — Python", against this node -------------------
    r = requests.get(srv.url + '/api/stream',
                     cookies={'session': token}, stream=True, timeout=10)
    assert r.status_code == 200, r.text
    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    seen = []
    deadline = time.monotonic() + 40
    try:
        for line in r.iter_lines():
            if line and line.startswith(b'data: '):
                event = json.loads(line[6:])
                seen.append(event)
                if event["type"] == "tx" and sent and event["tx"]["tx_id"] == sent[0]:
                    break
            assert time.monotonic() < deadline, "no event for the first grant; saw %s" % seen
    finally:
        stop.set()
        r.close()
        t.join(10)
    # ------------------------------------------------------------------------
    types = {e["type"] for e in seen}
    assert {"block", "tx"} <= types, types
    tx = next(e["tx"] for e in seen if e["type"] == "tx" and e["tx"]["tx_id"] == sent[0])
    assert tx["kind"] == "transfer" and tx["amount"] == 0.000001, tx


@H.timeout(60)
def test_seed_python_example_sees_a_lone_event_as_soon_as_it_happens(srv):
    # The same example, but with nothing else going on than one transfer
    # and the heartbeats: its event must not wait for more bytes to come.
    # (iter_lines reads 512-byte blocks; on a close-delimited body those
    # wait for 512 bytes, on a chunked one each chunk is yielded at once.)
    token = dev_cookie(srv)
    r = requests.get(srv.url + '/api/stream?types=tx',
                     cookies={'session': token}, stream=True, timeout=10)
    assert r.status_code == 200, r.text
    seen = []

    def example():
        try:
            for line in r.iter_lines():
                if line and line.startswith(b'data: '):
                    event = json.loads(line[6:])
                    seen.append((time.monotonic(), event))
        except Exception:  # the test closes the response
            pass
    t = threading.Thread(target=example, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        grant = srv.fund(H.random_address(), 1)
        H.wait_until(lambda: any(e["tx"]["tx_id"] == grant for _t, e in seen), 10,
                     "the seed's example to print the transfer (headers %s)" % dict(r.headers))
        assert seen[-1][0] - t0 < 5, "the event took %.1f s" % (seen[-1][0] - t0)
    finally:
        r.close()
        t.join(10)
