"""WebSocket resume on the events stream (docs/API.md §4.1, §7): with
`ids=1` every frame of /api/v1/streams/events is its envelope with
`"id": <seq>` first, the same id the SSE stream gives the same event, and
`last_event_id=N` (or a `Last-Event-ID` header) replays every matching
event after N from the persisted log, then goes on live with no gap and no
duplicate, also across a restart; 0 means from the first event. Without
`ids=1` the frames are the envelopes, byte for byte the SSE data lines.
Malformed values are refused before the upgrade with 400 bad_parameter;
valid_tx and valid_transactions keep the seed's shapes and take neither.

Every check compares the WebSocket against an SSE reader of the same events
(connected all along, or replaying the whole log), and only what the wire
shows; live traffic keeps flowing while a reader replays, so the hand-over
from the log to the live stream is exercised."""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")

SERVER_FLAGS = FAST
SERVER_NAME = "ws-resume-node"


def ws_uri(srv, query=""):
    return "ws://127.0.0.1:%d/api/v1/streams/events%s" % (srv.port, query)


def events_ws(lt, srv, cookie, query="", headers=None):
    """A WsReader on the events stream with the session cookie."""
    h = {"Cookie": "session=" + cookie}
    h.update(headers or {})
    return H.WsReader(lt, ws_uri(srv, query), headers=h)


def texts(reader):
    with reader.cond:
        return [m for m in reader.messages if m != "pong"]


def id_pairs(reader):
    """[(id, envelope without its id)] of an ids=1 reader; asserts that each
    frame has an integer "id" as its first key."""
    out = []
    for text in texts(reader):
        doc = json.loads(text)
        assert list(doc)[:1] == ["id"], "id is not the first key: %s" % text[:120]
        assert isinstance(doc["id"], int) and not isinstance(doc["id"], bool), text[:120]
        out.append((doc.pop("id"), doc))
    return out


def sse_pairs(sse):
    return [(e.id, e.json) for e in sse.snapshot()]


def has_tx(envelopes, tx_id):
    return any(H.envelope_tx_id(env) == tx_id and
               env.get("msg", {}).get("status", "confirmed") == "confirmed" for env in envelopes)


def ws_has_tx(tx_id):
    return lambda r: has_tx([json.loads(t) for t in texts(r)], tx_id)


def sse_has_tx(tx_id):
    return lambda s: has_tx([e.json for e in s.events], tx_id)


def assert_strictly_increasing(ids):
    assert all(a < b for a, b in zip(ids, ids[1:])), "ids not strictly increasing: %s" % ids


def quiet_events_subscribers(srv):
    """Waits until no events WebSocket is open (an earlier test's readers
    are gone), so that the count the test reads is its own."""
    H.wait_until(lambda: (H.server_metric(srv, "ledgerline_stream_subscribers",
                                          stream="events") or 0) == 0, 10,
                 "no events subscriber")


class Traffic:
    """Transfers and messages from one funded key, in a thread, spread over
    several blocks, so that events keep coming while a reader connects and
    replays."""

    def __init__(self, srv, key, count):
        self.srv, self.key, self.count = srv, key, count
        self.ids = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            with H.new_session() as s:
                nonce = self.srv.next_nonce(self.key.address)
                for i in range(self.count):
                    if i % 3 == 2:
                        body = H.message_body(self.key, H.random_address(), "m%d" % i, nonce)
                    else:
                        body = H.transfer_body(self.key, H.random_address(), 1 + i, nonce)
                    tx = sign(self.key, body)
                    self.ids.append(H.assert_accepted(
                        s.post(self.srv.url + "/api/v1/transactions", json=tx), tx))
                    nonce += 1
                    if i % 4 == 3:
                        self.srv.wait_confirmed(self.ids[-1])
        except BaseException as e:
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        """Joins and waits until every transaction is confirmed."""
        self.thread.join(60)
        assert not self.thread.is_alive(), "traffic did not finish"
        if self.error:
            raise self.error
        self.srv.wait_confirmed(self.ids[-1])
        return self


def upgrade(srv, path, headers=None):
    with H.RawHttp(srv.port) as c:
        c.send(H.ws_upgrade_request(path, headers=headers))
        return c.read_response(timeout=10)


# --------------------------------------------------------------------------
# ids=1
# --------------------------------------------------------------------------

@H.timeout(90)
def test_ids_1_frames_are_the_sse_envelopes_with_the_sse_id_first(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    alice = srv.funded_key()
    quiet_events_subscribers(srv)
    with H.LoopThread() as lt, H.SseStream(srv.port, cookie=cookie) as sse:
        assert sse.status == 200, sse.response
        with_ids = events_ws(lt, srv, cookie, "?ids=1")
        ids_0 = events_ws(lt, srv, cookie, "?ids=0")
        plain = events_ws(lt, srv, cookie)
        # An ids=1 client is an events subscriber like any other.
        H.wait_until(lambda: H.server_metric(srv, "ledgerline_stream_subscribers",
                                             stream="events") == 3, 10,
                     "ledgerline_stream_subscribers{stream=\"events\"} == 3")
        traffic = Traffic(srv, alice, 9).start().finish()
        last = traffic.ids[-1]
        sse.wait_for(sse_has_tx(last), 20, "the last transaction on SSE")
        for r in (with_ids, ids_0, plain):
            r.wait_for(ws_has_tx(last), 20, "the last transaction")

        # Every reader connected before the traffic: the same events, and
        # the SSE stream holds at least what each WebSocket got.
        events = [e for e in sse.snapshot()]
        got = id_pairs(with_ids)
        assert len(got) >= 9, got
        want = [(e.id, e.json) for e in events if e.id >= got[0][0]]
        assert got == want, "ids=1: %d frames, SSE %d events" % (len(got), len(want))
        # Byte for byte: {"id":<seq>, then the SSE data line after its "{".
        by_id = {e.id: e.data for e in events}
        for text, (i, _) in zip(texts(with_ids), got):
            assert text == '{"id":%d,%s' % (i, by_id[i][1:]), (text[:120], by_id[i][:120])
        # Without ids=1 (or with ids=0) a frame is the SSE data line itself.
        data = [e.data for e in events]
        for r in (ids_0, plain):
            frames = texts(r)
            assert frames == data[len(data) - len(frames):], "frames are not the envelopes"
            assert not any('"id"' in f[:6] for f in frames), frames[:2]
            assert len(frames) == len(got), (len(frames), len(got))


# --------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------

@H.timeout(120)
def test_resume_after_a_disconnect_replays_the_missed_blocks_then_goes_live_without_gap_or_dup(
        srv):
    cookie = H.login(srv, "dev", "devdevdev")
    alice = srv.funded_key()
    with H.LoopThread() as lt, H.SseStream(srv.port, cookie=cookie) as full:
        first = events_ws(lt, srv, cookie, "?ids=1")
        t1 = Traffic(srv, alice, 8).start().finish()
        first.wait_for(ws_has_tx(t1.ids[-1]), 20, "the first traffic")
        first.close()
        first.wait_closed(10)
        seen = id_pairs(first)
        # Blocks committed while the client is away.
        h_away = srv.height() + 1
        gap = Traffic(srv, alice, 8).start().finish()
        h_back = srv.height()
        assert h_back >= h_away, (h_away, h_back)
        full.wait_for(sse_has_tx(gap.ids[-1]), 20, "the missed traffic on SSE")
        live = Traffic(srv, alice, 8).start()  # flows while the reader replays
        again = events_ws(lt, srv, cookie, "?ids=1&last_event_id=%d" % seen[-1][0])
        live.finish()
        # One more, once the reader is surely live: nothing doubles at the end.
        marker = srv.fund(H.random_address(), 1)
        again.wait_for(ws_has_tx(marker), 20, "the marker")
        full.wait_for(sse_has_tx(marker), 20, "the marker on SSE")

        got = id_pairs(again)
        combined = seen + got
        assert_strictly_increasing([i for i, _ in combined])
        want = [p for p in sse_pairs(full) if p[0] >= seen[0][0]]
        assert combined == want, "before + after the reconnect: %d events, SSE %d" % (
            len(combined), len(want))
        # The replay held what happened while away: its blocks and transactions.
        envs = [env for _, env in got]
        heights = {env["block"]["height"] for env in envs if env["type"] == "block"}
        assert set(range(h_away, h_back + 1)) <= heights, (h_away, h_back, sorted(heights))
        assert all(has_tx(envs, t) for t in gap.ids + live.ids)


@H.timeout(90)
def test_last_event_id_header_resumes_too_and_the_filters_apply(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    alice = srv.funded_key()
    with H.LoopThread() as lt, H.SseStream(srv.port, cookie=cookie) as full:
        Traffic(srv, alice, 6).start().finish()
        mid = full.wait_for(lambda s: len(s.events) >= 6 and s.events[len(s.events) // 2].id,
                            20, "events")
        live = Traffic(srv, alice, 6).start()
        header = {"Last-Event-ID": str(mid)}
        readers = {
            "all": events_ws(lt, srv, cookie, "?ids=1", header),
            "tx": events_ws(lt, srv, cookie, "?types=tx&ids=1", header),
            "alice": events_ws(lt, srv, cookie, "?address=%s&ids=1" % alice.address.upper(),
                               header),
            # the query parameter, for a client that cannot set headers
            "block": events_ws(lt, srv, cookie, "?types=block&ids=1&last_event_id=%d" % mid)}
        live.finish()
        last = live.ids[-1]  # a message (Traffic: every third)
        marker = srv.fund(alice.address, 1)  # a tx of alice's, in a block of its own
        tip = srv.tx(marker)["block_height"]
        full.wait_for(sse_has_tx(marker), 20, "the marker on SSE")
        for k in ("all", "tx", "alice"):
            readers[k].wait_for(ws_has_tx(marker), 20, "the marker on %s" % k)
        readers["block"].wait_for(lambda r: any(
            env["type"] == "block" and env["block"]["height"] == tip
            for _, env in id_pairs(r)), 20, "the marker's block")
        assert has_tx([env for _, env in id_pairs(readers["all"])], last)
        ref = [p for p in sse_pairs(full) if p[0] > mid]
        keep = {"all": lambda env: True,
                "tx": lambda env: env["type"] == "tx",
                "alice": lambda env: H.envelope_involves(env, alice.address),
                "block": lambda env: env["type"] == "block"}
        for k, r in readers.items():
            want = [p for p in ref if keep[k](p[1])]
            got = id_pairs(r)
            assert got == want, "%s resumed after %d: %d events, want %d" % (
                k, mid, len(got), len(want))


@H.timeout(120)
def test_resume_across_a_restart_has_no_gap_or_duplicate():
    with H.Server(*FAST, name="ws-resume-restart-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        alice = srv.funded_key()
        with H.LoopThread() as lt:
            before = events_ws(lt, srv, cookie, "?ids=1")
            t1 = Traffic(srv, alice, 8).start().finish()
            before.wait_for(ws_has_tx(t1.ids[-1]), 20, "the first traffic")
            srv.stop()
            assert before.wait_closed(20) == 1001  # server stopping
            seen = id_pairs(before)
            srv.start()
            cookie = H.login(srv, "dev", "devdevdev")  # sessions may or may not survive
            away = Traffic(srv, alice, 6).start().finish()  # before the client is back
            live = Traffic(srv, alice, 6).start()
            after = events_ws(lt, srv, cookie, "?ids=1",
                              {"Last-Event-ID": str(seen[-1][0])})
            live.finish()
            marker = srv.fund(H.random_address(), 1)
            after.wait_for(ws_has_tx(marker), 20, "the marker")
            # The whole log from the first id the first connection saw.
            with H.SseStream(srv.port, "/api/stream?last_event_id=%d" % seen[0][0],
                             cookie=cookie) as log:
                assert log.status == 200, log.response
                log.wait_for(sse_has_tx(marker), 20, "the marker on SSE")
                combined = seen + id_pairs(after)
                assert_strictly_increasing([i for i, _ in combined])
                assert sse_pairs(log) == combined[1:], \
                    "across the restart: %d events, the log %d" % (len(combined) - 1,
                                                                   len(log.events))
            envs = [env for _, env in combined]
            assert all(has_tx(envs, t) for t in t1.ids + away.ids + live.ids)


@H.timeout(90)
def test_last_event_id_0_replays_from_the_first_event_on_websocket_and_sse(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    marker = srv.fund(H.random_address(), 1000)  # at least one block since the start
    tip = srv.tx(marker)["block_height"]
    with H.LoopThread() as lt:
        everything = events_ws(lt, srv, cookie, "?ids=1&last_event_id=0")
        blocks = events_ws(lt, srv, cookie, "?types=block&ids=1&last_event_id=0")
        plain = events_ws(lt, srv, cookie, "?types=block", {"Last-Event-ID": "0"})
        sse_query = H.SseStream(srv.port, "/api/stream?types=block&last_event_id=0",
                                cookie=cookie)
        sse_header = H.SseStream(srv.port, "/api/stream?types=block", cookie=cookie,
                                 headers={"Last-Event-ID": "0"})
        try:
            everything.wait_for(ws_has_tx(marker), 20, "the marker")

            def at_tip(envs):
                return any(env["type"] == "block" and env["block"]["height"] == tip
                           for env in envs)
            blocks.wait_for(lambda r: at_tip(env for _, env in id_pairs(r)), 20, "the tip")
            plain.wait_for(lambda r: at_tip(json.loads(t) for t in texts(r)), 20, "the tip")
            for s in (sse_query, sse_header):
                assert s.status == 200, s.response
                s.wait_for(lambda s: at_tip(e.json for e in s.events), 20, "the tip on SSE")

            # The log has no gaps and starts at 1: the whole of it came.
            ids = [i for i, _ in id_pairs(everything)]
            assert ids[0] == 1 and ids == list(range(1, len(ids) + 1)), ids[:5]
            got = id_pairs(blocks)
            heights = [env["block"]["height"] for _, env in got]
            # Every block since the node started, once (the genesis block may
            # or may not have an event: it is mined before anyone listens).
            assert heights[heights.index(1):] == list(range(1, tip + 1)), heights
            assert got == sse_pairs(sse_query) == sse_pairs(sse_header)
            assert texts(plain) == [e.data for e in sse_query.snapshot()]
        finally:
            sse_query.close()
            sse_header.close()


def wmem_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * 2 ** 20


def read_frames_until(ws, done, what):
    """Reads text frames (as str) from a RawWebSocket until done(frames)."""
    frames = []
    while not done(frames):
        try:
            _fin, _rsv, opcode, payload = ws.recv_frame(30)
        except OSError as e:  # socket.timeout included
            raise AssertionError("%r while waiting for %s after %d frames" % (
                e, what, len(frames)))
        assert opcode == 0x1, (opcode, payload[:80])
        frames.append(payload.decode())
    return frames


@H.timeout(120)
def test_a_stalled_ids_1_client_is_told_its_loss_as_before_and_resumes_from_its_last_id():
    """The drop notice stays {"type":"dropped","count":N} (no id: it is not
    an event), and the ids let the client fetch exactly what it lost."""
    per_round, memo = 500, "x" * 1000  # ~1.2 KB a frame, two events a message
    rounds = -(-2 * wmem_max() // (per_round * 2 * 1200)) + 2  # past any send buffer
    with H.Server(*FAST, "--client-queue", "8", name="ws-resume-drop-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        alice = srv.funded_key(100 * H.UNITS_PER_COIN)
        nonce = srv.next_nonce(alice.address)
        with H.RawWebSocket(srv.port, rcvbuf=4096) as stalled:  # reads nothing for now
            stalled.handshake("/api/v1/streams/events?ids=1", {"Cookie": "session=" + cookie})
            for _ in range(rounds):
                txs = [sign(alice, H.message_body(alice, H.random_address(), memo, nonce + i))
                       for i in range(per_round)]
                nonce += per_round
                r = srv.post("/api/v1/transactions", json=txs)
                assert r.status_code == 200, r.text[:300]
                srv.wait_confirmed(r.json()[-1]["tx_id"])
                if H.server_metric(srv, "ledgerline_stream_events_dropped_total",
                                   stream="events"):
                    break
            assert H.server_metric(srv, "ledgerline_stream_events_dropped_total",
                                   stream="events"), \
                "no drop after %d rounds: the test did not overflow the client" % rounds
            # It reads again. The node answers "ping" after what it queued
            # before, and tells the loss once the queue has room: read until
            # both, then past a second pong for anything queued meanwhile.
            stalled.send_text("ping")
            frames = read_frames_until(stalled, lambda fs: "pong" in fs and any(
                f.startswith('{"type":"dropped"') for f in fs), "the pong and the notice")
            stalled.send_text("ping")
            frames += read_frames_until(stalled, lambda fs: "pong" in fs, "the second pong")
        frames = [f for f in frames if f != "pong"]
        notices = [f for f in frames if not f.startswith('{"id":')]
        counts = [json.loads(f)["count"] for f in notices]
        assert notices == ['{"type":"dropped","count":%d}' % n for n in counts], notices[:3]
        assert all(n >= 1 for n in counts), counts
        ids = [json.loads(f)["id"] for f in frames if f.startswith('{"id":')]
        assert_strictly_increasing(ids)

        # The log has no gaps: a hole in the ids is what was lost. Resume
        # from before the first hole and get all of it, once.
        holes = [a for a, b in zip(ids, ids[1:]) if b != a + 1]
        before_hole = holes[0] if holes else ids[-1]
        with H.LoopThread() as lt:
            again = events_ws(lt, srv, cookie, "?ids=1&last_event_id=%d" % before_hole)
            marker = srv.fund(H.random_address(), 1)
            again.wait_for(ws_has_tx(marker), 30, "the marker after the replay")
            got = id_pairs(again)
        height = srv.tx(marker)["block_height"]
        last = next(i for i, env in got if env["type"] == "block" and
                    env["block"]["height"] == height) - 1  # the traffic's last event
        assert [i for i, _ in got] == list(range(before_hole + 1, got[-1][0] + 1)), \
            "the resumed ids after %d are not the whole log" % before_hole
        # What the stalled client missed is exactly what it was told it lost.
        assert ids[-1] <= last, (ids[-1], last)
        missing = (last - ids[0] + 1) - len(ids)
        assert missing > 0 and sum(counts) == missing, (counts, missing)
        assert H.server_metric(srv, "ledgerline_stream_events_dropped_total",
                               stream="events") == missing


# --------------------------------------------------------------------------
# Refusals, and the seed's streams
# --------------------------------------------------------------------------

def test_malformed_last_event_id_or_ids_is_400_bad_parameter_before_upgrading(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    hdr = {"Cookie": "session=" + cookie}
    bad_ids = ["abc", "-1", "1.5", "+1", "%201", "1x", "0x10", "18446744073709551616",
               "1" * 40, "%zz", "%00"]
    for bad in bad_ids:
        r = upgrade(srv, "/api/v1/streams/events?ids=1&last_event_id=" + bad, hdr)
        assert r.status == 400 and r.error() == "bad_parameter", (bad, r)
        assert "sec-websocket-accept" not in r.headers, r.headers
    for bad in ("abc", "-1", "18446744073709551616"):
        r = upgrade(srv, "/api/v1/streams/events", dict(hdr, **{"Last-Event-ID": bad}))
        assert r.status == 400 and r.error() == "bad_parameter", (bad, r)
    for bad in ("2", "true", "yes", "", "01", "-1", "1x", "%zz", "1" * 20):
        r = upgrade(srv, "/api/v1/streams/events?ids=" + bad, hdr)
        assert r.status == 400 and r.error() == "bad_parameter", (bad, r)
        assert "sec-websocket-accept" not in r.headers, r.headers
    # The same ids as SSE refuses (docs/API.md §5.1), on SSE.
    for bad in ("abc", "1" * 40, "%zz"):
        with H.SseStream(srv.port, "/api/stream?last_event_id=" + bad, cookie=cookie) as s:
            assert s.status == 400 and s.response.error() == "bad_parameter", (bad, s.status)


def test_regress_sse_ignored_a_last_event_id_query_too_long_for_an_id(srv):
    """A 40-digit last_event_id (no event id has that many) streamed live
    from now instead of being refused like the same value in the header."""
    cookie = H.login(srv, "dev", "devdevdev")
    with H.SseStream(srv.port, "/api/stream?last_event_id=" + "9" * 40, cookie=cookie) as s:
        assert s.status == 400 and s.response.error() == "bad_parameter", s.status
    with H.SseStream(srv.port, "/api/stream", cookie=cookie,
                     headers={"Last-Event-ID": "9" * 40}) as s:
        assert s.status == 400 and s.response.error() == "bad_parameter", s.status


def test_valid_tx_and_valid_transactions_take_neither_option(srv):
    with H.LoopThread() as lt:
        query = "?ids=1&last_event_id=0"
        vtx = H.WsReader(lt, "ws://127.0.0.1:%d/api/v1/streams/valid_tx%s" % (srv.port, query))
        vts = H.WsReader(lt, "ws://127.0.0.1:%d/api/v1/streams/valid_transactions%s" % (
            srv.port, query))
        # Malformed values are not even read there.
        with H.RawWebSocket(srv.port) as raw:
            raw.handshake("/api/v1/streams/valid_tx?ids=2&last_event_id=abc")
        grant = srv.fund(H.random_address(), 1000)
        vtx.wait_for(lambda r: any(json.loads(m)["txid"] == grant for m in r.messages), 20,
                     "the grant")
        vts.wait_for(lambda r: any(json.loads(m)["transaction_id"] == grant for m in r.messages),
                     20, "the grant")
        # Live only (no replay of the log), and the seed's shapes.
        assert [json.loads(m) for m in vtx.messages] == [
            {"txid": grant, "assetid": H.NATIVE_ASSET,
             "blockid": srv.block(srv.tx(grant)["block_height"])["hash"]}]
        assert [set(json.loads(m)) for m in vts.messages] == [
            {"transaction_id", "asset_id", "block_height"}]
