"""The NATS tooling of the relay tests (natsutil.py, ll_nats_dump): the
dump shows a JetStream stream as it is stored (order, Nats-Msg-Id, data,
gaps), says when a stream is missing or NATS is unreachable, and the
server helpers keep file-stored messages across kill -9 and keep a
3-replica stream readable after one server of three is killed.
Each test starts its own nats-server(s) on free ports and temporary stores."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
import natsutil as N  # noqa: E402

SUBJECTS = ["ledgerline.events.>"]


def publish_events(urls, first, last):
    """Messages first..last as the node would relay them: subject by type,
    Nats-Msg-Id = seq, data = an envelope."""
    for seq in range(first, last + 1):
        kind = "block" if seq % 2 else "tx"
        ack = N.publish(urls, "ledgerline.events." + kind,
                        '{"type":"%s","n":%d,"text":"caf\u00e9 %d"}' % (kind, seq, seq),
                        msg_id=str(seq))
        assert ack["duplicate"] is False, ack


@H.timeout(60)
def test_dump_shows_the_stream_in_order_with_msg_ids_and_skips_deleted_sequences():
    with N.NatsServer() as nats:
        assert N.stream_info(nats.url, missing_ok=True) is None
        with pytest.raises(N.StreamNotFound):
            N.dump_stream(nats.url)

        info = N.create_stream(nats.url, "LEDGERLINE", SUBJECTS)
        assert info["config"]["storage"] == "file" and info["config"]["replicas"] == 1
        assert info["config"]["subjects"] == SUBJECTS
        empty = N.dump_stream(nats.url)
        assert empty.messages == [] and empty.end["messages"] == 0

        publish_events(nats.url, 1, 6)
        # JetStream drops a repeated Nats-Msg-Id: the relay's backfill relies on it
        again = N.publish(nats.url, "ledgerline.events.tx", '{"again":true}', msg_id="4")
        assert again == {"stream": "LEDGERLINE", "seq": 4, "duplicate": True}
        plain = N.publish(nats.url, "ledgerline.events.message", "no id")

        d = N.dump_stream(nats.url)
        assert d.msg_ids == ["1", "2", "3", "4", "5", "6", None]
        assert d.seqs == list(range(1, 8)) and plain["seq"] == 7
        assert [m["subject"] for m in d.messages[:2]] == ["ledgerline.events.block",
                                                          "ledgerline.events.tx"]
        assert json.loads(d.messages[3]["data"]) == {"type": "tx", "n": 4, "text": "caf\u00e9 4"}
        assert d.messages[0]["headers"] == {"Nats-Msg-Id": "1"}
        assert d.messages[6]["data"] == "no id" and d.messages[6]["headers"] == {}
        assert d.end == {"end": True, "messages": 7, "first_seq": 1, "last_seq": 7,
                         "printed": 7, "truncated": False}

        N.delete_msg(nats.url, "LEDGERLINE", 3)
        d = N.dump_stream(nats.url)
        assert d.msg_ids == ["1", "2", "4", "5", "6", None]
        assert d.end["messages"] == 6 and d.end["last_seq"] == 7

        part = N.dump_stream(nats.url, from_seq=2, max_msgs=2)
        assert part.seqs == [2, 4] and part.end["truncated"] is True

        state = N.stream_info(nats.url)["state"]
        assert (state["messages"], state["first_seq"], state["last_seq"]) == (6, 1, 7)


@H.timeout(60)
def test_file_stream_survives_kill9_and_restart_on_the_same_url():
    with N.NatsServer() as nats:
        url = nats.url
        N.create_stream(url, "LEDGERLINE", SUBJECTS)
        publish_events(url, 1, 5)

        nats.kill()
        with pytest.raises(N.NatsUnreachable):
            N.dump_stream(url, timeout_s=1)

        nats.restart()
        assert nats.url == url
        assert N.dump_stream(url).msg_ids == ["1", "2", "3", "4", "5"]
        # the dedupe window survived too, and new messages follow on
        assert N.publish(url, "ledgerline.events.tx", "x", msg_id="5")["duplicate"] is True
        publish_events(url, 6, 7)
        assert N.dump_stream(url).msg_ids == [str(i) for i in range(1, 8)]


@H.timeout(120)
def test_three_replica_stream_stays_readable_and_writable_after_its_leader_is_killed():
    with N.NatsCluster(3) as c:
        info = N.create_stream(c.urls, "LEDGERLINE", SUBJECTS, replicas=3)
        assert info["config"]["replicas"] == 3
        publish_events(c.urls, 1, 5)

        leader = N.stream_info(c.urls)["cluster"]["leader"]
        killed = c.server_named(leader)
        killed.kill()

        # the two left elect a new stream leader; the dump waits for it
        d = N.dump_stream(c.live_urls())
        assert d.msg_ids == ["1", "2", "3", "4", "5"]
        publish_events(c.live_urls(), 6, 8)
        info = N.stream_info(c.live_urls())
        assert info["cluster"]["leader"] not in (None, leader), info["cluster"]

        c.restart(c.servers.index(killed))
        # the restarted server catches up on what was written without it
        H.wait_until(lambda: (killed.jsz() or {}).get("messages") == 8, 30,
                     "the restarted server to hold all 8 messages")
        assert N.dump_stream(c.urls).msg_ids == [str(i) for i in range(1, 9)]
