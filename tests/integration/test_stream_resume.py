"""SSE resume (docs/API.md §5 (ext)): `Last-Event-ID` (header) and
`last_event_id` (query) replay every matching event after that id from the
persisted event log, then continue live, with no gap and no duplicate, also
across a server restart.

Every check compares a resumed reader against a reader that was connected
all along (or against the whole log), and the stream itself against the
chain: an event stream without a gap rebuilds every block and transaction
the REST API shows. Live traffic keeps flowing while a reader replays, so
the hand-over from the log to the live stream is exercised."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")
SLOW = ("--dev", "--block-interval-ms", "60000", "--difficulty", "1")


SERVER_FLAGS = FAST
SERVER_NAME = "resume-node"


def pairs(events):
    return [(e.id, e.json) for e in events]


class Traffic:
    """Transfers and messages from one funded key, in a thread, so that
    events keep coming while a reader connects and replays."""

    def __init__(self, srv, key, count, message_every=3):
        self.srv, self.key, self.count, self.every = srv, key, count, message_every
        self.ids = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _run(self):
        try:
            with H.new_session() as s:
                nonce = self.srv.next_nonce(self.key.address)
                for i in range(self.count):
                    if i % self.every == self.every - 1:
                        body = H.message_body(self.key, H.random_address(), "m%d" % i, nonce)
                    else:
                        body = H.transfer_body(self.key, H.random_address(), 1 + i, nonce)
                    tx = sign(self.key, body)
                    self.ids.append(H.assert_accepted(
                        s.post(self.srv.url + "/api/v1/transactions", json=tx), tx))
                    nonce += 1
                    if i % 4 == 3:  # spread over several blocks
                        self.srv.wait_confirmed(self.ids[-1])
        except BaseException as e:
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        """Joins and waits until every transaction is confirmed; returns the
        last one's block height."""
        self.thread.join(60)
        assert not self.thread.is_alive(), "traffic did not finish"
        if self.error:
            raise self.error
        return self.srv.wait_confirmed(self.ids[-1])["block_height"]


def has_tx(reader, tx_id):
    return any(H.envelope_tx_id(e.json) == tx_id and
               e.json.get("msg", {}).get("status", "confirmed") == "confirmed"
               for e in reader.events)


def wait_all(readers, tx_id, what="the last transaction"):
    for r in readers:
        r.wait_for(lambda s: has_tx(s, tx_id), 20, what)


def check_rebuilds_the_chain(srv, events, first_height, last_height):
    """The confirmed events of blocks first..last are, in order, each block
    followed by its transactions, exactly as the REST API shows them."""
    got = [("block", e.json["block"]["height"]) if e.type == "block" else
           ("tx", H.envelope_tx_id(e.json)) for e in events
           if not (e.type == "message" and e.json["msg"]["status"] == "pending")]
    start = got.index(("block", first_height))
    want = []
    for b in srv.chain(first_height, last_height):
        want.append(("block", b["height"]))
        want += [("tx", t) for t in b["transactions"]]
    assert got[start:start + len(want)] == want, "the stream does not rebuild blocks %d..%d" % (
        first_height, last_height)


def assert_strictly_increasing(ids):
    assert all(a < b for a, b in zip(ids, ids[1:])), "ids not strictly increasing: %s" % ids


# --------------------------------------------------------------------------

@H.timeout(90)
def test_last_event_id_header_replays_after_it_then_continues_live_without_gap_or_duplicate(
        srv):
    cookie = H.login(srv, "dev", "devdevdev")
    alice = srv.funded_key()
    with H.SseStream(srv.port, cookie=cookie) as full:
        h_first = srv.height() + 1
        first = Traffic(srv, alice, 12).start()
        first.finish()
        wait_all([full], first.ids[-1])
        mid = full.snapshot()[len(full.events) // 2].id
        live = Traffic(srv, alice, 12).start()  # flows while the reader replays
        with H.SseStream(srv.port, cookie=cookie, headers={"Last-Event-ID": str(mid)}) as res:
            assert res.status == 200, res.response
            h_last = live.finish()
            wait_all([full, res], live.ids[-1])
            # One more, after the reader is surely live: nothing doubles at the end.
            wait_all([full, res], srv.fund(H.random_address(), 1))
            want = [p for p in pairs(full.snapshot()) if p[0] > mid]
            got = pairs(res.snapshot())
            assert_strictly_increasing([i for i, _ in got])
            assert got == want, "resumed after %d: %d events, want %d; first got %s want %s" % (
                mid, len(got), len(want), got[:2], want[:2])
        assert_strictly_increasing([e.id for e in full.snapshot()])
        check_rebuilds_the_chain(srv, full.snapshot(), h_first, h_last)


@H.timeout(90)
def test_last_event_id_query_parameter_resumes_and_applies_the_filters(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    alice = srv.funded_key()
    with H.SseStream(srv.port, cookie=cookie) as full:
        first = Traffic(srv, alice, 9).start()
        first.finish()
        wait_all([full], first.ids[-1])
        mid = full.snapshot()[len(full.events) // 3].id
        live = Traffic(srv, alice, 9).start()
        readers = {
            "all": H.SseStream(srv.port, "/api/stream?last_event_id=%d" % mid, cookie=cookie),
            "tx": H.SseStream(srv.port, "/api/stream?types=tx&last_event_id=%d" % mid,
                              cookie=cookie),
            "alice": H.SseStream(srv.port, "/api/stream?last_event_id=%d&address=%s" % (
                mid, alice.address.upper()), cookie=cookie),
            "block": H.SseStream(srv.port, "/api/stream?types=block&last_event_id=%d" % mid,
                                 cookie=cookie)}
        try:
            live.finish()
            last = live.ids[-1]
            wait_all([full, readers["all"], readers["alice"]], last)
            tip = srv.tx(last)["block_height"]
            readers["block"].wait_for(lambda s: any(
                e.json["block"]["height"] == tip for e in s.events), 20, "the last block")
            readers["tx"].wait_for(lambda s: any(
                H.envelope_tx_id(e.json) == live.ids[-2] for e in s.events), 20,
                "the last transfer")  # the last one is a message
            ref = [p for p in pairs(full.snapshot()) if p[0] > mid]
            filters = {"all": lambda env: True,
                       "tx": lambda env: env["type"] == "tx",
                       "alice": lambda env: H.envelope_involves(env, alice.address),
                       "block": lambda env: env["type"] == "block"}
            for k, keep in filters.items():
                got = pairs(readers[k].snapshot())
                want = [p for p in ref if keep(p[1])]
                assert got == want, "%s resumed after %d: %d events, want %d" % (
                    k, mid, len(got), len(want))
        finally:
            for r in readers.values():
                r.close()


def test_last_event_id_0_replays_the_whole_log(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    srv.funded_key(1000)  # at least one block since the start
    tip = srv.height()
    with H.SseStream(srv.port, "/api/stream?types=block", cookie=cookie,
                     headers={"Last-Event-ID": "0"}) as s:
        s.wait_for(lambda s: any(e.json["block"]["height"] == tip for e in s.events), 20,
                   "block %d" % tip)
        heights = [e.json["block"]["height"] for e in s.snapshot()]
    assert_strictly_increasing([e.id for e in s.snapshot()])
    # Every block since the node started, once (the genesis block may or may
    # not have an event: it is mined before anyone can listen).
    assert heights[heights.index(1):] == list(range(1, tip + 1)), heights


@H.timeout(120)
def test_reconnect_with_last_event_id_across_a_restart_has_no_gap_or_duplicate():
    with H.Server(*FAST, name="resume-restart-node") as srv:
        cookie = H.login(srv, "dev", "devdevdev")
        alice = srv.funded_key()
        with H.SseStream(srv.port, cookie=cookie) as before:
            h_first = srv.height() + 1
            first = Traffic(srv, alice, 10).start()
            first.finish()
            wait_all([before], first.ids[-1])
            srv.stop()
            before.wait_closed(20)  # the node ends the stream when it stops
            seen = pairs(before.snapshot())
        srv.start()
        cookie = H.login(srv, "dev", "devdevdev")  # sessions may or may not survive
        last_id = seen[-1][0]
        live = Traffic(srv, alice, 10).start()
        # As EventSource reconnects: the last id it saw, in the header.
        with H.SseStream(srv.port, cookie=cookie,
                         headers={"Last-Event-ID": str(last_id)}) as after:
            assert after.status == 200, after.response
            h_last = live.finish()
            wait_all([after], live.ids[-1])
            # The whole log, from the first id the first reader saw.
            with H.SseStream(srv.port, "/api/stream?last_event_id=%d" % seen[0][0],
                             cookie=cookie) as log:
                wait_all([log], live.ids[-1])
                combined = seen + pairs(after.snapshot())
                assert_strictly_increasing([i for i, _ in combined])
                assert pairs(log.snapshot()) == combined[1:], \
                    "across the restart: reconnected stream != the log (%d vs %d events)" % (
                        len(combined) - 1, len(log.events))
                check_rebuilds_the_chain(srv, log.snapshot(), h_first + 1, h_last)


@H.timeout(120)
def test_resume_after_restart_includes_the_blocks_committed_while_stopping():
    with H.Server(*FAST, name="resume-stop-node") as srv:
        alice = srv.funded_key()
        srv.restart(*SLOW)  # from here on, blocks form only when the node stops
        cookie = H.login(srv, "dev", "devdevdev")
        bob = H.random_address()
        with H.SseStream(srv.port, cookie=cookie, headers={"Last-Event-ID": "0"}) as r1:
            r1.wait_for(lambda s: s.events, 20, "the replayed log")
            pending = [srv.submit_ok(H.transfer(alice, bob, 10 + n, n)) for n in range(5)]
            msg = srv.submit_ok(sign(alice, H.message_body(alice, bob, "on the way down", 5)))
            r1.wait_for(lambda s: any(H.envelope_tx_id(e.json) == msg for e in s.events), 20,
                        "the pending message event")
            srv.stop()  # commits the six pending transactions in a final block
            r1.wait_closed(20)
            first = pairs(r1.snapshot())
        srv.start(*FAST)
        cookie = H.login(srv, "dev", "devdevdev")
        final = srv.tx(msg)
        assert final["status"] == "confirmed", final
        h = final["block_height"]
        with H.SseStream(srv.port, cookie=cookie,
                         headers={"Last-Event-ID": str(first[-1][0])}) as r2:
            # A live event after the restart marks the end of the replay.
            marker = srv.fund(H.random_address(), 1)
            r2.wait_for(lambda s: any(H.envelope_tx_id(e.json) == marker for e in s.events),
                        20, "the first live event after the restart")
            combined = first + pairs(r2.snapshot())
        assert_strictly_increasing([i for i, _ in combined])
        envs = [env for _i, env in combined]
        for t in pending:
            n = sum(1 for env in envs if env["type"] == "tx" and env["tx"]["tx_id"] == t)
            assert n == 1, "transfer %s: %d events across the restart" % (t, n)
        statuses = [env["msg"]["status"] for env in envs
                    if env["type"] == "message" and env["msg"]["tx_id"] == msg]
        assert statuses == ["pending", "confirmed"], statuses
        blocks = [env["block"]["height"] for env in envs if env["type"] == "block"]
        assert blocks.count(h) == 1, (h, blocks)
