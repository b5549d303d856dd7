"""Batch submission (docs/API.md §7): `POST /api/v1/transactions` with a
JSON array of up to 1000 signed transactions answers 200 with one result per
item, in order: `{"tx_id", "status": "pending"}` for an admitted one,
`{"error": {"code", "message"}}` for a refused one, each judged as if it
had been submitted alone, in the array's order. An independent client: it
signs its own transactions and reads the chain through the REST API."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import assert_error, sign  # noqa: E402

SERVER_FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")
SERVER_NAME = "batch-node"
URL = "/api/v1/transactions"


def assert_error_item(item, code):
    assert set(item) == {"error"}, item
    assert set(item["error"]) == {"code", "message"}, item
    assert item["error"]["code"] == code, item
    assert item["error"]["message"], item


def test_mixed_batch_answers_each_item_in_order_and_commits_the_good_ones(srv):
    key = srv.funded_key()
    sink = H.random_address()
    first = H.transfer(key, sink, 5, 0)
    forged = H.transfer(key, sink, 6, 1)
    forged["signature"] = "00" * 64
    second = H.transfer(key, sink, 7, 1)       # nonce 1 is next once the first is in
    gap = H.transfer(key, sink, 8, 5)          # a nonce gap: refused by the ledger
    r = srv.post(URL, json=[first, forged, second, gap])
    assert r.status_code == 200, r.text[:500]
    items = r.json()
    assert isinstance(items, list) and len(items) == 4, items
    assert items[0] == {"tx_id": H.tx_id_of(first), "status": "pending"}, items[0]
    assert_error_item(items[1], "bad_signature")
    assert items[2] == {"tx_id": H.tx_id_of(second), "status": "pending"}, items[2]
    assert_error_item(items[3], "bad_nonce")
    for t in (H.tx_id_of(first), H.tx_id_of(second)):
        srv.wait_confirmed(t)
    assert srv.balance(sink) == 12
    assert srv.tx(H.tx_id_of(gap)) is None


def test_batch_items_are_refused_as_alone_duplicates_included(srv):
    key = srv.funded_key()
    tx = H.transfer(key, H.random_address(), 1, 0)
    r = srv.post(URL, json=[tx, tx, {"kind": "transfer"}])
    assert r.status_code == 200, r.text[:500]
    items = r.json()
    assert items[0] == {"tx_id": H.tx_id_of(tx), "status": "pending"}, items
    assert_error_item(items[1], "duplicate_transaction")
    assert_error_item(items[2], "missing_field")
    srv.wait_confirmed(H.tx_id_of(tx))


def test_a_batch_of_1000_is_admitted_and_1001_refused(srv):
    key = srv.funded_key(10**12)
    sink = H.random_address()
    txs = [H.transfer(key, sink, 1, n) for n in range(1000)]
    r = srv.post(URL, json=txs)
    assert r.status_code == 200, r.text[:500]
    items = r.json()
    assert [i.get("status") for i in items] == ["pending"] * 1000, items[:3]
    srv.wait_confirmed(H.tx_id_of(txs[-1]), timeout=60)
    more = [H.transfer(key, sink, 1, 1000 + n) for n in range(1001)]
    assert_error(srv.post(URL, json=more), 400, "bad_request")
    assert srv.tx(H.tx_id_of(more[0])) is None  # nothing of it was admitted


def test_empty_and_malformed_batches_are_400(srv):
    assert_error(srv.post(URL, json=[]), 400, "wrong_type")
    assert_error(srv.post(URL, data=b"[{\"kind\": ", headers={"Content-Type":
                                                             "application/json"}),
                 400, "malformed_json")


def test_signed_batch_item_gets_the_same_error_as_alone(srv):
    key = srv.funded_key()
    body = H.transfer_body(key, H.random_address(), 1, 0)
    body["amount"] = 0
    bad = sign(key, body)
    alone = srv.submit(bad)
    r = srv.post(URL, json=[bad])
    assert r.status_code == 200
    assert_error_item(r.json()[0], H.error_of(alone)[0])


def test_a_block_being_mined_does_not_hold_back_a_202():
    """The pipeline (docs/API.md §7): while a block is mined, admission goes
    on. At difficulty 6 (about 16.7 million hashes, seconds on average) the
    block holding a first transfer is taken within the 100 ms interval; a
    second transfer POSTed meanwhile is answered 202 while the first is
    still pending, which it could not be if the 202 waited for that block.
    Proof of work is luck: a block found within the pause leaves nothing to
    conclude, and the scenario runs again (each run concludes with a
    probability near 0.9)."""
    with H.Server("--dev", "--block-interval-ms", "100", "--difficulty", "1",
                  name="pipeline-node") as srv:
        key = srv.funded_key()
        srv.restart("--dev", "--block-interval-ms", "100", "--difficulty", "6")
        nonce = srv.account(key.address)["nonce"]
        for _ in range(8):
            height = srv.height()
            first = srv.submit_ok(H.transfer(key, H.random_address(), 1, nonce))
            time.sleep(0.3)  # not for an assertion: the first one's block is taken
            second = srv.submit_ok(H.transfer(key, H.random_address(), 1, nonce + 1))
            if srv.tx(first)["status"] == "pending":
                # answered while the first one's block was still being mined
                assert srv.height() == height
                break
            srv.wait_confirmed(second, timeout=240)
            nonce += 2
        else:
            raise AssertionError("every block was mined within 0.3 s: nothing to conclude")
        srv.wait_confirmed(first, timeout=240)
        srv.wait_confirmed(second, timeout=240)


# ---- batches are checked off the worker's loop ---------------------------------------------
# One worker, so that every connection of a test is served by the same loop.

LINE_FLAGS = SERVER_FLAGS + ("--workers", "1")
JSON = {"Content-Type": "application/json"}


def batch_request(txs):
    return H.http_request("POST", URL, json.dumps(txs).encode(), JSON)


def batches(srv, state):
    """ledgerline_batches{state}: "checking" (on the thread pool) or "waiting"."""
    value = H.server_metric(srv, "ledgerline_batches", state=state)
    assert value is not None, "no ledgerline_batches{state=%r} in /metrics" % state
    return value


def funded_keys(srv, n):
    keys = [H.Key.generate() for _ in range(n)]
    for grant in [srv.fund(k.address, wait=False) for k in keys]:
        srv.wait_confirmed(grant)
    return keys


def wait_line_empty(srv):
    H.wait_until(lambda: batches(srv, "checking") == 0 and batches(srv, "waiting") == 0, 120,
                 "every batch checked")


@H.timeout(240)
def test_a_single_post_is_answered_while_batches_are_checked():
    """With one worker, six 1000-item batches in it (one being checked, the
    others waiting their turn), a single transfer POSTed on another
    connection is answered 202 before the last batch is: it waits neither
    for their signature checks nor in their line."""
    with H.Server(*LINE_FLAGS, name="batch-line-node") as srv:
        keys = funded_keys(srv, 7)
        sink = H.random_address()
        bodies = [batch_request([H.transfer(k, sink, 1, n) for n in range(1000)])
                  for k in keys[:6]]
        answered, answers, lock = [], {}, threading.Lock()

        def read_answer(i, conn):
            try:
                resp = conn.read_response(timeout=120)
            except Exception as e:  # reported by the assertions below
                resp = e
            with lock:
                answered.append("batch %d" % i)
                answers[i] = resp

        conns = [H.RawHttp(srv.port, timeout=120) for _ in bodies]
        readers = [threading.Thread(target=read_answer, args=(i, c), daemon=True)
                   for i, c in enumerate(conns)]
        try:
            for conn, reader, body in zip(conns, readers, bodies):
                conn.send(body)
                reader.start()
            # Not a sleep: the single goes once a batch waits behind another.
            H.wait_until(lambda: batches(srv, "waiting") >= 1, 60, "a batch waiting its turn")
            single = H.transfer(keys[6], sink, 1, 0)
            r = srv.submit(single)
            with lock:
                answered.append("single")
            H.assert_accepted(r, single)
            for reader in readers:
                reader.join(150)
        finally:
            for conn in conns:
                conn.close()
        assert len(answers) == 6, answered
        for i, resp in sorted(answers.items()):
            assert isinstance(resp, H.RawResponse) and resp.status == 200, (i, resp)
            assert [item.get("status") for item in resp.json()] == ["pending"] * 1000, i
        assert answered.index("single") < len(answered) - 1, \
            "the single POST was answered after every batch: %s" % answered
        wait_line_empty(srv)


@H.timeout(300)
def test_batches_whose_clients_leave_at_once_are_still_judged_and_freed():
    """Eight clients each send a 1000-item batch and close at once, so each
    request is orphaned while its batch is checked or waits. Every batch
    received in full is still admitted (as a single transaction is), once:
    all 8000 commit, and the worker's line empties. A use after free or a
    double answer would show in the sanitizers' report at the stop."""
    with H.Server(*LINE_FLAGS, name="batch-leave-node") as srv:
        keys = funded_keys(srv, 8)
        committed = srv.metrics()["ledgerline_transactions_committed_total"]
        sink = H.random_address()
        lasts = []
        for key in keys:
            txs = [H.transfer(key, sink, 1, n) for n in range(1000)]
            with H.RawHttp(srv.port) as conn:
                conn.send(batch_request(txs))
            lasts.append(H.tx_id_of(txs[-1]))
        wait_line_empty(srv)
        for tx_id in lasts:
            srv.wait_confirmed(tx_id, timeout=120)
        H.wait_until(lambda: srv.metrics()["ledgerline_mempool_transactions"] == 0, 60,
                     "an empty mempool")
        assert srv.metrics()["ledgerline_transactions_committed_total"] == committed + 8000
        assert srv.balance(sink) == 8000
        # and the node goes on judging batches
        more = [H.transfer(keys[0], sink, 1, 1000 + n) for n in range(10)]
        r = srv.post(URL, json=more)
        assert r.status_code == 200, r.text[:500]
        assert [item.get("status") for item in r.json()] == ["pending"] * 10


@H.timeout(180)
def test_a_node_stopped_while_batches_are_checked_exits_cleanly():
    """SIGTERM while one batch is being checked and others wait: the node
    exits 0 with its sanitizers silent (a check that outlives its worker
    frees its request without touching the worker), and each client gets a
    whole answer (200, or 503 shutting_down) or a closed connection. The
    senders hold no coin, so the stop has nothing to commit and reaches the
    workers while they still check."""
    srv = H.Server(*LINE_FLAGS, name="batch-stop-node")
    with srv:
        sink = H.random_address()
        conns = []
        try:
            for _ in range(6):
                key = H.Key.generate()
                conns.append(H.RawHttp(srv.port, timeout=60))
                conns[-1].send(batch_request([H.transfer(key, sink, 1, n) for n in range(1000)]))
            H.wait_until(lambda: batches(srv, "waiting") >= 1, 60, "a batch waiting its turn")
            srv.stop()  # asserts exit code 0 and no sanitizer report
            for conn in conns:
                try:
                    resp = conn.read_response(timeout=30)
                except (H.PeerClosed, ConnectionResetError):
                    continue
                assert resp.status in (200, 503), resp
                if resp.status == 503:
                    assert resp.error() == "shutting_down", resp
        finally:
            for conn in conns:
                conn.close()


@H.timeout(240)
def test_a_batch_beyond_the_workers_line_is_429_and_admits_nothing():
    """One worker checks one batch and lets 8 wait: of sixteen batches sent
    at once (5 MB over loopback, against three checks of a thousand
    signatures each), the ninth's successors find the line full. Each is
    answered 429 rate_limited with Retry-After and admits nothing; the nine
    in line are all judged."""
    with H.Server(*LINE_FLAGS, name="batch-full-node") as srv:
        keys = funded_keys(srv, 16)
        sink = H.random_address()
        batches_txs = [[H.transfer(k, sink, 1, n) for n in range(1000)] for k in keys]
        conns = [H.RawHttp(srv.port, timeout=120) for _ in batches_txs]
        try:
            for conn, txs in zip(conns, batches_txs):
                conn.send(batch_request(txs))
            answers = [conn.read_response(timeout=120) for conn in conns]
        finally:
            for conn in conns:
                conn.close()
        judged = [i for i, resp in enumerate(answers) if resp.status == 200]
        full = [i for i, resp in enumerate(answers) if resp.status != 200]
        assert len(judged) >= 9 and full, [resp.status for resp in answers]
        for i in judged:
            assert [item.get("status") for item in answers[i].json()] == ["pending"] * 1000, i
        for i in full:
            assert answers[i].status == 429 and answers[i].error() == "rate_limited", answers[i]
            assert answers[i].headers.get("retry-after") == "1", answers[i].headers
            assert srv.tx(H.tx_id_of(batches_txs[i][0])) is None
        wait_line_empty(srv)
