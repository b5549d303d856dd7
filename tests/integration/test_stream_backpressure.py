"""Backpressure (docs/API.md §4.1, §5): a client that keeps up never loses
an event, even when a block of 1000 transactions commits at once; a client
that stops reading loses events alone (counted in /metrics, announced once it
has room again: on SSE with `: dropped N events`, on the events WebSocket
with `{"type":"dropped","count":N}`, on valid_tx not at all) while 100 others
get every event, and the node's memory stays bounded.

The node runs with --max-block-txs 1000 --block-interval-ms 60000, so that
exactly one block forms as soon as 1000 transactions are pending, and with
--client-queue 64. Its senders are funded first on fast blocks."""

import json
import os
import re
import socket
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


# One valid_tx frame: a 4-byte header and {"txid","assetid","blockid"} with
# three 64-hex values (229 bytes of JSON).
VTX_FRAME = 233


def rounds_needed(round_bytes=ROUND_BYTES, frame_bytes=2000, most=6):
    """Blocks of N transactions (round_bytes each to the stalled reader, in
    frames of up to frame_bytes) that it needs before the node's queue must
    overflow: more than the largest kernel send buffer can hold
    (net.ipv4.tcp_wmem's maximum) plus the client queue."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 * 2 ** 20
    need = wmem_max + QUEUE * frame_bytes
    rounds = -(-need // round_bytes) + 1
    assert rounds <= most, "tcp_wmem max %d needs %d blocks: too slow for this test" % (
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

    def submit_array(self, batch):
        """Posts the whole batch as one array (docs/API.md §7), each
        sender's chain in order; returns the tx_ids."""
        txs = [tx for chain in batch.values() for tx in chain]
        r = H.new_session().post(self.srv.url + "/api/v1/transactions", json=txs)
        assert r.status_code == 200, r.text[:500]
        items = r.json()
        assert [i.get("status") for i in items] == ["pending"] * len(txs), \
            [i for i in items if i.get("status") != "pending"][:3]
        return [i["tx_id"] for i in items]

    def settle(self):
        """Tops up what an earlier test left pending (its last message) to a
        full block and waits for that block, so that the next N transactions
        form a block of their own."""
        pending = int(H.server_metric(self.srv, "ledgerline_mempool_transactions") or 0)
        if pending == 0:
            return
        fill = {k.address: [] for k in self.senders}
        for i in range(N - pending):
            k = self.senders[i % SENDERS]
            nonce = self.nonces[k.address] + len(fill[k.address])
            fill[k.address].append(sign(k, H.transfer_body(k, H.random_address(), 1, nonce, fee=1)))
        for k in self.senders:
            self.nonces[k.address] += len(fill[k.address])
        self.srv.wait_confirmed(self.submit_array(fill)[-1], timeout=40)

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


def dropped_total(srv, stream=None):
    """Events dropped for full client queues: all, or those of one stream."""
    labels = {"stream": stream} if stream else {}
    return H.server_metric(srv, "ledgerline_stream_events_dropped_total", **labels) or 0


def dropped_notices(sse):
    """N of every `: dropped N events` comment."""
    out = []
    for c in sse.comments:
        m = re.match(r"^dropped (\d+) events?$", c)
        if m:
            out.append(int(m.group(1)))
    return out


class StalledWebSocket(H._Waiting):
    """A WebSocket client with a small receive buffer that reads its 101 and
    then nothing until .start(); from then on a thread reads every frame
    into .frames as (opcode, payload), and each text frame but "pong" into
    .messages as JSON."""

    def __init__(self, port, path, headers=None):
        self.raw = H.RawWebSocket(port, rcvbuf=STALLED_RCVBUF)
        self.raw.handshake(path, headers)
        self.path = path
        self.frames = []
        self.messages = []
        self.closed = False
        self.error = None
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        # Frames are parsed only once whole, so a slow segment loses nothing.
        buf, sock = self.raw.buf, self.raw.sock
        sock.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
                frames, at = [], 0
                while len(buf) - at >= 2:
                    n, h = buf[at + 1] & 0x7F, 2
                    assert not buf[at + 1] & 0x80, "the server masked a frame"
                    if n >= 126:
                        h += 2 if n == 126 else 8
                        if len(buf) - at < h:
                            break
                        n = int.from_bytes(buf[at + 2:at + h], "big")
                    if len(buf) - at < h + n:
                        break
                    frames.append((buf[at] & 0x0F, buf[at + h:at + h + n]))
                    at += h + n
                buf = buf[at:]
                msgs = [json.loads(p) for op, p in frames if op == 0x1 and p != b"pong"]
                with self.cond:
                    self.frames += frames
                    self.messages += msgs
                    self.cond.notify_all()
        except Exception as e:  # reported by wait_for
            self.error = "%s: %r" % (self.path, e)
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def _failure(self):
        return self.error

    def _state(self):
        return "on %s: %d frames, last: %r" % (self.path, len(self.frames), self.frames[-3:])

    def _closed_while(self, what):
        return "%s closed while waiting for %s" % (self.path, what)

    def texts(self):
        """.messages; asserts that every frame was a text frame."""
        with self.cond:
            ops = {op for op, _ in self.frames}
            assert ops <= {0x1}, "frames with opcodes %s" % ops
            return list(self.messages)

    def drain(self, what):
        """Reads everything queued for it: the node answers a text "ping"
        after all it queued before."""
        def pongs(s):
            return sum(1 for op, p in s.frames if p == b"pong")
        before = pongs(self)
        self.raw.send_text("ping")
        self.wait_for(lambda s: pongs(s) > before, 30, "the pong behind %s" % what)

    def close(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.raw.close()


def is_subsequence(part, whole):
    it = iter(whole)
    return all(x in it for x in part)


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


@H.timeout(150)
def test_a_stalled_events_websocket_is_told_what_it_lost_and_valid_tx_keeps_the_seed_shape(node):
    srv = node.srv
    cookie = H.login(srv, "dev", "devdevdev")
    bob = H.random_address()
    # Enough blocks to overflow the smaller stream, valid_tx; every tx
    # envelope is larger than its valid_tx frame, so events overflows too.
    rounds = rounds_needed(N * VTX_FRAME, VTX_FRAME, most=24)

    def transfers():
        return node.batch(lambda k, nonce, i: H.transfer_body(k, bob, 1 + i, nonce, fee=1))

    node.settle()
    events = StalledWebSocket(srv.port, "/api/v1/streams/events",
                              {"Cookie": "session=" + cookie})
    vtx = StalledWebSocket(srv.port, "/api/v1/streams/valid_tx")
    try:
        dropped0 = dropped_total(srv)
        by_stream0 = {k: dropped_total(srv, k) for k in ("events", "valid_tx", "sse")}
        want, order = [], []  # what the events and the valid_tx streams carried
        for _ in range(rounds):
            block = node.the_block_of(node.submit_array(transfers()))
            want += [("block", block["height"])] + [("tx", t) for t in block["transactions"]]
            order += block["transactions"]
        H.wait_until(lambda: dropped_total(srv) > dropped0, 10,
                     "ledgerline_stream_events_dropped_total to count the stalled readers")

        # They read again: events hears of its loss once it has room again.
        events.start()
        vtx.start()
        events.drain("the backlog")
        events.wait_for(lambda s: any(m.get("type") == "dropped" for m in s.messages), 20,
                        '{"type":"dropped"}')
        vtx.drain("the backlog")
        # One more block, which both now read whole.
        last = transfers()
        last_ids = {H.tx_id_of(tx) for chain in last.values() for tx in chain}
        block = node.the_block_of(node.submit_array(last))
        want += [("block", block["height"])] + [("tx", t) for t in block["transactions"]]
        order += block["transactions"]

        def has_last_block(key):
            return lambda s: last_ids <= {key(m) for m in s.messages}
        events.wait_for(has_last_block(lambda m: m.get("tx", {}).get("tx_id")), 30,
                        "the last block's tx events")
        vtx.wait_for(has_last_block(lambda m: m.get("txid")), 30, "the last block's frames")

        msgs = events.texts()
        notices = [m for m in msgs if m.get("type") == "dropped"]
        assert notices and all(set(m) == {"type", "count"} and isinstance(m["count"], int)
                               and m["count"] >= 1 for m in notices), notices
        got = [("block", m["block"]["height"]) if m["type"] == "block" else
               ("tx", m["tx"]["tx_id"]) for m in msgs if m.get("type") != "dropped"]
        assert is_subsequence(got, want), "events out of order or not sent"
        assert got[-(N + 1):] == want[-(N + 1):], "the block after the drops is not whole"
        missing = len(want) - len(got)
        counts = [m["count"] for m in notices]
        assert missing > 0 and sum(counts) == missing, "lost %d events, announced %s" % (
            missing, counts)
        # the drops counted per stream: this client's on "events", none on sse
        assert dropped_total(srv, "events") - by_stream0["events"] == missing
        assert dropped_total(srv, "sse") == by_stream0["sse"]

        # valid_tx lost frames too, and heard nothing but the seed's shape.
        frames = vtx.texts()
        assert all(set(f) == {"txid", "assetid", "blockid"} for f in frames), \
            [f for f in frames if set(f) != {"txid", "assetid", "blockid"}][:3]
        txids = [f["txid"] for f in frames]
        assert is_subsequence(txids, order), "valid_tx frames out of order or not sent"
        assert len(txids) < len(order), "valid_tx lost nothing: the test did not overflow it"
        assert dropped_total(srv, "valid_tx") - by_stream0["valid_tx"] == len(order) - len(txids)
    finally:
        events.close()
        vtx.close()
