"""Backpressure (docs/API.md §5): a client that keeps up never loses an
event, even when a block of 1000 transactions commits at once; a client that
stops reading loses events alone (counted in /metrics, announced on SSE with
`: dropped N events` once it has room again) while 100 others get every
event, and the node's memory stays bounded.

The node runs with --max-block-txs 1000 --block-interval-ms 60000, so that
exactly one block forms as soon as 1000 transactions are pending, and with
--client-queue 64. Its senders are funded first on fast blocks."""

import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

N = 1000
SENDERS = 8
READERS = 100
QUEUE = 64
RSS_BOUND_KIB = 200 * 1024
FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1", "--client-queue", str(QUEUE))
ONE_BLOCK = ("--dev", "--block-interval-ms", "60000", "--max-block-txs", str(N),
             "--difficulty", "1", "--client-queue", str(QUEUE))
STALLED_RCVBUF = 4096  # the stalled clients' kernel buffer: small, so the node's queue fills
MEMO = "x" * 1000      # big events, so that the stalled stream outgrows the socket buffers
ROUND_BYTES = 2 * N * 1200  # what one block of N such messages sends an SSE client, at least
# ASan keeps freed memory in a quarantine (256 MiB by default) that would
# swamp the RSS measurement of a sanitized build; a small one keeps it honest.
ASAN_OPTIONS = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16"]))


def rounds_needed():
    """Blocks of N messages that the stalled reader needs before the node's
    queue must overflow: more than the largest kernel send buffer can hold
    (net.ipv4.tcp_wmem's maximum) plus the client queue."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 * 2 ** 20
    need = wmem_max + QUEUE * 2000
    rounds = -(-need // ROUND_BYTES) + 1
    assert rounds <= 6, "tcp_wmem max %d needs %d blocks: too slow for this test" % (
        wmem_max, rounds)
    return rounds


class Node:
    """The fixture: a node whose SENDERS keys are funded, restarted on the
    one-block flags. .nonces keeps each sender's next nonce."""

    def __enter__(self):
        self.srv = H.Server(*FAST, name="backpressure-node", env={"ASAN_OPTIONS": ASAN_OPTIONS})
        self.srv.__enter__()
        try:
            self.senders = [H.Key.generate() for _ in range(SENDERS)]
            grants = [self.srv.fund(k.address, 100 * H.UNITS_PER_COIN, wait=False)
                      for k in self.senders]
            for g in grants:
                self.srv.wait_confirmed(g)
            self.srv.restart(*ONE_BLOCK)
            self.nonces = {k.address: 0 for k in self.senders}
        except BaseException:
            self.srv.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        return self.srv.__exit__(*exc)

    def batch(self, make):
        """N transactions, N / SENDERS per sender with consecutive nonces:
        {address: [tx]}; make(key, nonce, i) builds one body."""
        out = {}
        for k in self.senders:
            n0 = self.nonces[k.address]
            out[k.address] = [sign(k, make(k, n0 + i, i)) for i in range(N // SENDERS)]
            self.nonces[k.address] = n0 + N // SENDERS
        return out

    def submit(self, batch):
        """Posts every sender's chain in order (one thread per sender);
        returns the tx_ids."""
        local = threading.local()

        def post_chain(txs):
            if not hasattr(local, "s"):
                local.s = H.new_session()
            return [H.assert_accepted(local.s.post(self.srv.url + "/api/v1/transactions",
                                                   json=tx), tx) for tx in txs]
        with ThreadPoolExecutor(SENDERS) as pool:
            return [t for ids in pool.map(post_chain, list(batch.values())) for t in ids]

    def the_block_of(self, tx_ids):
        """Waits for the one block that holds all of tx_ids; returns it."""
        last = self.srv.wait_confirmed(tx_ids[-1], timeout=40)
        block = self.srv.block(last["block_height"])
        assert block["tx_count"] == N and set(block["transactions"]) == set(tx_ids), \
            "%d transactions in block %d" % (block["tx_count"], block["height"])
        return block


@pytest.fixture
def node(shared_node):
    """The file's Node, shared by its tests (conftest.py)."""
    return shared_node(Node)


def dropped_total(srv):
    return H.server_metric(srv, "ledgerline_stream_events_dropped_total") or 0


def dropped_notices(sse):
    """N of every `: dropped N events` comment."""
    out = []
    for c in sse.comments:
        m = re.match(r"^dropped (\d+) events?$", c)
        if m:
            out.append(int(m.group(1)))
    return out


@H.timeout(90)
def test_fast_readers_get_all_1000_transactions_of_one_block_without_a_drop(node):
    srv = node.srv
    cookie = H.login(srv, "dev", "devdevdev")
    hdr = {"Cookie": "session=" + cookie}
    bob = H.random_address()
    batch = node.batch(lambda k, nonce, i: H.transfer_body(k, bob, 1 + i, nonce, fee=1))
    with H.LoopThread() as lt, H.SseStream(srv.port, cookie=cookie) as sse:
        base = "ws://127.0.0.1:%d/api/v1/streams/" % srv.port
        vtx = H.WsReader(lt, base + "valid_tx")
        vts = H.WsReader(lt, base + "valid_transactions")
        events = H.WsReader(lt, base + "events", headers=hdr)
        dropped0 = dropped_total(srv)
        block = node.the_block_of(node.submit(batch))
        order = block["transactions"]

        vtx.wait_for(lambda r: len(r.messages) >= N, 30, "%d valid_tx frames" % N)
        assert [f["txid"] for f in vtx.json_messages()] == order, "valid_tx frames != the block"
        assert all(f["blockid"] == block["hash"] for f in vtx.json_messages())
        vts.wait_for(lambda r: len(r.messages) >= N, 30, "%d valid_transactions frames" % N)
        assert [f["transaction_id"] for f in vts.json_messages()] == order

        want = [("block", block["height"])] + [("tx", t) for t in order]
        sse.wait_for(lambda s: len(s.events) >= N + 1, 30, "the block and %d tx events" % N)
        got = [("block", e.json["block"]["height"]) if e.type == "block" else
               ("tx", e.json["tx"]["tx_id"]) for e in sse.snapshot()]
        assert got == want, "SSE lost or reordered events: %d of %d" % (len(got), len(want))
        assert not dropped_notices(sse), sse.comments
        events.wait_for(lambda r: len(r.messages) >= N + 1, 30, "%d envelopes" % (N + 1))
        assert events.json_messages() == [e.json for e in sse.snapshot()]
        assert dropped_total(srv) == dropped0, "a reader that keeps up lost events"
        for r in (vtx, vts, events):
            r.close()


@H.timeout(150)
def test_a_stalled_subscriber_loses_events_alone_while_100_readers_get_all(node):
    srv = node.srv
    cookie = H.login(srv, "dev", "devdevdev")
    rounds = rounds_needed()
    batches = [node.batch(lambda k, nonce, i: H.message_body(k, H.random_address(), MEMO, nonce))
               for _ in range(rounds)]
    base = "ws://127.0.0.1:%d/api/v1/streams/" % srv.port
    baseline = H.rss_kib(srv.proc.pid)
    stalled_ws = stalled_sse = None
    with H.LoopThread() as lt, H.SseStream(srv.port, cookie=cookie) as ref:
        readers = [H.WsReader(lt, base + "valid_tx") for _ in range(READERS)]
        # The stalled ones read their response head, then nothing.
        stalled_ws = H.RawWebSocket(srv.port, rcvbuf=STALLED_RCVBUF)
        stalled_ws.handshake("/api/v1/streams/events", {"Cookie": "session=" + cookie})
        stalled_sse = H.SseStream(srv.port, cookie=cookie, rcvbuf=STALLED_RCVBUF, start=False)
        assert stalled_sse.status == 200, stalled_sse.response
        try:
            dropped0 = dropped_total(srv)
            rss = H.RssSampler(srv.proc.pid)
            order = []
            for batch in batches:  # one full block each
                order += node.the_block_of(node.submit(batch))["transactions"]
            total = len(order)
            for r in readers:
                r.wait_for(lambda r: len(r.messages) >= total, 30, "%d frames" % total)
            peak = rss.finish()
            for i, r in enumerate(readers):
                assert [f["txid"] for f in r.json_messages()] == order, "reader %d" % i
            ref.wait_for(lambda s: len(s.events) >= rounds * (2 * N + 1), 30,
                         "every message event")
            assert not dropped_notices(ref), ref.comments
            H.wait_until(lambda: dropped_total(srv) > dropped0, 10,
                         "ledgerline_stream_events_dropped_total to count the stalled readers")
            grew = peak - baseline
            assert grew < RSS_BOUND_KIB, "RSS grew by %d MiB (from %d MiB)" % (
                grew // 1024, baseline // 1024)

            # The stalled SSE reader reads again: it hears how many it lost,
            # then gets what comes next.
            stalled_sse.start()
            stalled_sse.wait_for(lambda s: dropped_notices(s), 20, "`: dropped N events`")
            k = node.senders[0]
            nxt = srv.submit_ok(sign(k, H.message_body(k, H.random_address(), "after",
                                                       node.nonces[k.address])))
            node.nonces[k.address] += 1
            stalled_sse.wait_for(lambda s: any(H.envelope_tx_id(e.json) == nxt
                                               for e in s.events), 20, "the next event")
            ref.wait_for(lambda s: any(H.envelope_tx_id(e.json) == nxt for e in s.events), 20,
                         "the next event")
            ref_ids = [e.id for e in ref.snapshot()]
            got_ids = [e.id for e in stalled_sse.snapshot()]
            assert set(got_ids) <= set(ref_ids), "the stalled reader got events nobody else did"
            assert got_ids == sorted(got_ids), "out of order after drops"
            missing = len(set(ref_ids) - set(got_ids))
            notices = dropped_notices(stalled_sse)
            assert missing > 0 and sum(notices) == missing, \
                "lost %d events, announced %s" % (missing, notices)
            assert stalled_sse.events[-1].id == ref_ids[-1], "the next event is not the last"
            assert dropped_total(srv) - dropped0 >= missing, "metrics count fewer drops"
        finally:
            stalled_sse.close()
            stalled_ws.close()
