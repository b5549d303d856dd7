"""A relay's history beyond its memory (docs/API.md §8): with
`--relay-memory N` a relay keeps the newest N events; a client resuming
from further back is served from the JetStream stream by sequence, then
from the memory, then live, with the same bytes and ids as on the node.
While NATS is away, a resume from within the memory is still served and
one from further back is answered `503 unavailable`."""
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
import natsutil as N  # noqa: E402
from relayutil import (SEEN_WITHIN_S, Sender, entries, first_difference, index_of,  # noqa: E402
                       marker, open_sse, open_ws, wait_caught_up, wait_seen, ws_ids)
import json  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")
DEV = ("dev", "devdevdev")
MEMORY = 64  # events the relay keeps: far fewer than the log holds


def node_log_from(srv, cookie, after, end):
    """The node's own replay after `after` up to the marker `end`."""
    ref = open_sse(srv.port, cookie=cookie, last_id=after)
    ref.wait_for(lambda s: index_of(entries(s), end) is not None, SEEN_WITHIN_S,
                 "the node's log up to the marker")
    return ref


@H.timeout(180)
def test_resume_from_before_the_relays_memory_reads_the_stream_and_matches_the_node():
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        srv = stack.enter_context(H.Server(*FAST, "--nats", nats.url, name="node"))
        cookie = H.login(srv, *DEV)
        sender = Sender(srv)
        for _ in range(3):  # about 600 events: ten times the relay's memory
            sender.batch(200, message_every=7)
        end = marker(srv)
        ref = stack.enter_context(node_log_from(srv, cookie, 0, end))
        log = entries(ref)
        assert len(log) > 10 * MEMORY, len(log)

        relay = stack.enter_context(N.Relay(nats.url, "--relay-memory", str(MEMORY)))
        wait_caught_up(relay, srv)
        assert relay.metric("ledgerline_relay_memory_first_event_id") > log[0][0] + MEMORY, \
            "the relay holds more than --relay-memory events"

        lt = stack.enter_context(H.LoopThread())
        sse = stack.enter_context(open_sse(relay.port, cookie=cookie, last_id=0))
        middle = log[len(log) // 3][0]
        ws = open_ws(lt, relay.port, "events", "?ids=1&last_event_id=%d" % middle, cookie)
        live = marker(srv)  # after the replays: they go on live
        wait_seen({"node": ref, "relay sse": sse, "relay ws": ws}, live, timeout=120)
        want = entries(ref)
        got = entries(sse)
        assert got == want, "SSE from 0: %s" % first_difference(got, want)
        got = ws_ids(ws)
        want_ws = [(i, json.loads(d)) for i, d in want if i > middle]
        assert got == want_ws, "events?ids=1 from %d: first ids %r, want %r" % (
            middle, [i for i, _ in got[:3]], [i for i, _ in want_ws[:3]])


@H.timeout(120)
def test_with_nats_away_a_resume_within_memory_is_served_and_older_is_503():
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(N.NatsServer())
        srv = stack.enter_context(H.Server(*FAST, "--nats", nats.url, name="node"))
        cookie = H.login(srv, *DEV)
        Sender(srv).batch(200)
        relay = stack.enter_context(N.Relay(nats.url, "--relay-memory", str(MEMORY)))
        wait_caught_up(relay, srv)
        first = int(relay.metric("ledgerline_relay_memory_first_event_id"))
        last = int(relay.metric("ledgerline_relay_last_event_id"))
        assert last - first + 1 == MEMORY, (first, last)

        nats.kill()
        H.wait_until(lambda: relay.metric("ledgerline_nats_connected") == 0, SEEN_WITHIN_S,
                     "the relay to see NATS gone")
        recent = stack.enter_context(H.SseStream(
            relay.port, "/api/stream", cookie=cookie, headers={"Last-Event-ID": str(last - 5)}))
        assert recent.status == 200, recent.status
        recent.wait_for(lambda s: [e.id for e in s.events] == list(range(last - 4, last + 1)),
                        SEEN_WITHIN_S, "the five newest events from the relay's memory")
        old = H.SseStream(relay.port, "/api/stream", cookie=cookie,
                          headers={"Last-Event-ID": "1"})
        with old:
            assert old.status == 503, old.status
            assert old.response.json()["error"]["code"] == "unavailable", old.response
