"""Helpers of the relay tests (test_relay.py): clients of the node's and
the relays' streams and what they received, markers that bracket a test's
traffic, batches of signed transactions, and the check that the JetStream
stream holds the node's event log. Written from docs/API.md §4, §5 and §7,
as an independent client; processes are natsutil's and harness's.

Markers: a faucet grant is one entry in every stream (valid_tx,
valid_transactions, SSE, events), so clients that connected at different
moments are compared over the span between two markers."""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
import natsutil as N  # noqa: E402
from harness import sign  # noqa: E402

SEEN_WITHIN_S = 60  # an event reaching every client, through NATS, on a loaded machine

# --------------------------------------------------------------------------
# Clients and what they received
# --------------------------------------------------------------------------

def cookie_headers(cookie):
    return {"Cookie": "session=" + cookie} if cookie else {}


def passing(status, cookie):
    """Statuses a client retries while opening a stream: 503 unavailable (a
    relay that cannot judge a cookie yet, §8), and with a cookie 401 (a
    login reaches the relays' session bucket a moment after the node has
    answered it, §8)."""
    return status == 503 or (cookie is not None and status == 401)


def open_ws(lt, port, stream, query="", cookie=None):
    """A WsReader on ws://127.0.0.1:port/api/v1/streams/<stream><query>.
    What passing() names is retried as a client would; another refusal is
    a failure that says what the endpoint answered."""
    uri = "ws://127.0.0.1:%d/api/v1/streams/%s%s" % (port, stream, query)

    def attempt():
        try:
            return H.WsReader(lt, uri, headers=cookie_headers(cookie))
        except Exception as e:  # websockets' InvalidStatusCode carries the status
            if passing(getattr(e, "status_code", None), cookie):
                return None
            raise AssertionError("%s: upgrade refused: %r" % (uri, e))
    return H.wait_until(attempt, SEEN_WITHIN_S, "%s to open" % uri,
                        interval=0.1)


def open_sse(port, path="/api/stream", cookie=None, last_id=None):
    """An SseStream that must be answered 200 (after 503s: see open_ws)."""
    headers = {} if last_id is None else {"Last-Event-ID": str(last_id)}

    def attempt():
        s = H.SseStream(port, path, cookie=cookie, headers=headers)
        if passing(s.status, cookie):
            s.close()
            return None
        if s.status != 200:
            raise AssertionError("GET %s on port %d: %d %r" % (path, port, s.status,
                                                               s.response.body[:300]))
        return s
    return H.wait_until(attempt, SEEN_WITHIN_S, "GET %s on port %d to open"
                        % (path, port), interval=0.1)


def wait_caught_up(relay, srv, timeout=SEEN_WITHIN_S):
    """Waits until relay has read every event the node has handed to its
    streams or the stream holds (ledgerline_relay_last_event_id,
    ledgerline_event_last_id, ledgerline_nats_stream_seq; §8)."""
    def caught_up():
        last = max(H.server_metric(srv, "ledgerline_event_last_id") or 0,
                   H.server_metric(srv, "ledgerline_nats_stream_seq") or 0)
        return (relay.metric("ledgerline_relay_last_event_id") or 0) >= last > 0
    H.wait_until(caught_up, timeout, "%s to catch up with the node" % relay.name, interval=0.1)


def entries(reader):
    """What a reader received, comparable between endpoints: (id, data text)
    per SSE event; the text of each WebSocket frame (text pongs left out)."""
    with reader.cond:
        if isinstance(reader, H.SseStream):
            return [(e.id, e.data) for e in reader.events]
        return [m for m in reader.messages if m != "pong"]


def text_of(entry):
    return entry[1] if isinstance(entry, tuple) else entry


def tx_of(entry):
    """The tx_id an entry is about: valid_tx, valid_transactions or an envelope."""
    j = json.loads(text_of(entry))
    return j.get("txid") or j.get("transaction_id") or H.envelope_tx_id(j)


def index_of(items, tx_id):
    """Index of the last entry about tx_id, or None. Markers are committed
    transfers: one entry each in every stream."""
    for i in range(len(items) - 1, -1, -1):
        if tx_id in text_of(items[i]) and tx_of(items[i]) == tx_id:
            return i
    return None


def wait_seen(readers, tx_id, timeout=SEEN_WITHIN_S):
    """Waits until every reader ({name: reader}) has an entry about tx_id."""
    for name, r in readers.items():
        r.wait_for(lambda s: index_of(entries(s), tx_id) is not None, timeout,
                   "tx %s on %s" % (tx_id[:12], name))


def between(reader, start, end):
    """The entries after the one about tx start, up to the one about tx end."""
    items = entries(reader)
    i, j = index_of(items, start), index_of(items, end)
    assert i is not None and j is not None and i < j, (i, j, len(items))
    return items[i + 1:j + 1]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "at %d: %r != %r" % (i, text_of(x)[:200], text_of(y)[:200])
    return "lengths %d != %d" % (len(a), len(b))


def assert_same(readers, start, end, reference):
    """Every reader got, between the markers, exactly what readers[reference]
    got, byte for byte (and the same ids); returns that."""
    want = between(readers[reference], start, end)
    assert want, "%s got nothing between the markers" % reference
    for name, r in readers.items():
        got = between(r, start, end)
        assert got == want, "%s differs from %s: %s" % (name, reference,
                                                        first_difference(got, want))
    return want


def assert_strictly_increasing(ids):
    bad = [(a, b) for a, b in zip(ids, ids[1:]) if not a < b]
    assert not bad, "ids not strictly increasing: %s" % bad[:5]


def chain_txs_between(srv, start, end):
    """Every committed tx after start up to end, in block order (REST)."""
    h0, h1 = srv.tx(start)["block_height"], srv.tx(end)["block_height"]
    blocks = srv.chain(h0, h1)
    txs = [t for b in blocks for t in b["transactions"]]
    return txs[txs.index(start) + 1:txs.index(end) + 1], blocks


def node_log(srv, cookie, until_tx, timeout=SEEN_WITHIN_S):
    """The node's whole event log as its own SSE stream replays it from id
    0, up to the event about until_tx: [(id, data)]."""
    with open_sse(srv.port, cookie=cookie, last_id=0) as s:
        s.wait_for(lambda s: index_of(entries(s), until_tx) is not None, timeout,
                   "the node's log up to %s" % until_tx[:12])
        return entries(s)


def assert_stream_holds_the_log(urls, srv, log, stream="LEDGERLINE", timeout=SEEN_WITHIN_S):
    """The JetStream stream holds each event of the node's log exactly once,
    in order, with Nats-Msg-Id = its id, the SSE data bytes as message data,
    on ledgerline.events.<type>."""
    last = log[-1][0]
    H.wait_until(lambda: (H.server_metric(srv, "ledgerline_nats_stream_seq") or 0) >= last,
                 timeout, "the node to have published event %d" % last)
    d = N.dump_stream(urls, stream)
    got = [int(i) for i in d.msg_ids]
    assert len(set(got)) == len(got), "repeated Nats-Msg-Id: %s" % sorted(
        {i for i in got if got.count(i) > 1})[:10]
    want = [i for i, _ in log]
    assert got == want, "stream's Nats-Msg-Ids differ from the node's log ids: %s" % (
        first_difference([str(x) for x in got], [str(x) for x in want]),)
    for m, (i, data) in zip(d.messages, log):
        assert m["data"] == data, "event %d: stream data %r != node's %r" % (i, m["data"][:200],
                                                                            data[:200])
        assert m["subject"] == "ledgerline.events." + json.loads(data)["type"], (i, m["subject"])
    return d


# --------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------

def marker(srv):
    """A faucet grant to a fresh address, confirmed: one entry in every
    stream, to bracket a test's traffic."""
    return srv.fund(H.random_address(), 1)


def post_batch(srv, txs):
    """POST of up to 1000 signed txs; asserts each is pending. Returns ids."""
    r = srv.post("/api/v1/transactions", json=txs)
    assert r.status_code == 200, "batch: %d %s" % (r.status_code, r.text[:300])
    items = r.json()
    assert [i.get("status") for i in items] == ["pending"] * len(txs), items[:3]
    return [H.tx_id_of(t) for t in txs]


class Sender:
    """A funded key and its next nonce."""

    def __init__(self, srv, key=None, units=10**12):
        self.srv = srv
        self.key = key or H.Key.generate()
        self.grant = srv.fund(self.key.address, units)
        self.nonce = 0

    def txs(self, n, message_every=0, to=None):
        """n signed transfers (every message_every-th a message tx)."""
        out = []
        for i in range(n):
            recipient = to or H.random_address()
            if message_every and i % message_every == message_every - 1:
                body = H.message_body(self.key, recipient, "relay m%d" % self.nonce, self.nonce)
            else:
                body = H.transfer_body(self.key, recipient, 1 + i, self.nonce)
            out.append(sign(self.key, body))
            self.nonce += 1
        return out

    def batch(self, n, message_every=0, wait=True):
        ids = post_batch(self.srv, self.txs(n, message_every))
        if wait:
            self.srv.wait_confirmed(ids[-1], SEEN_WITHIN_S)
        return ids


class Traffic:
    """Batches from a Sender on a thread until stop() (or `limit`
    batches), each confirmed before the next: blocks keep coming while the
    test breaks something. .batches counts those confirmed."""

    def __init__(self, sender, size=50, message_every=7, limit=200):
        self.sender, self.size, self.every, self.limit = sender, size, message_every, limit
        self.batches = 0
        self.error = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            while not self._stop.is_set() and self.batches < self.limit:
                self.sender.batch(self.size, self.every)
                self.batches += 1
        except BaseException as e:
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def wait_batches(self, n, what):
        H.wait_until(lambda: self.batches >= n or self.error or not self.thread.is_alive(),
                     SEEN_WITHIN_S, what)
        if self.error:
            raise self.error

    def stop(self):
        self._stop.set()
        self.thread.join(SEEN_WITHIN_S)
        assert not self.thread.is_alive(), "traffic did not stop"
        if self.error:
            raise self.error



def ws_ids(reader):
    """[(id, envelope without id)] of an events?ids=1 reader."""
    out = []
    for f in entries(reader):
        env = json.loads(f)
        assert isinstance(env.get("id"), int), "a frame of events?ids=1 without an id: %s" % f[:200]
        out.append((env.pop("id"), env))
    return out


def public_readers(lt, endpoints):
    """valid_tx and valid_transactions readers on every endpoint:
    ({stream: {endpoint: reader}}, {"<stream> <endpoint>": reader})."""
    readers = {stream: {ep: open_ws(lt, port, stream) for ep, port in endpoints.items()}
               for stream in ("valid_tx", "valid_transactions")}
    return readers, {"%s %s" % (s, ep): r for s, rs in readers.items() for ep, r in rs.items()}


def assert_public_streams_complete(srv, readers, start, end):
    """Relays' public streams equal the node's byte for byte between the
    markers, and the node's are the chain's transactions in block order."""
    want, _blocks = chain_txs_between(srv, start, end)
    for stream, rs in readers.items():
        got = assert_same(rs, start, end, "node")
        assert [tx_of(e) for e in got] == want, "%s: not the chain's transactions" % stream
        for ep, r in rs.items():
            assert not r.closed, "%s on %s was closed (code %s)" % (stream, ep, r.close_code)
