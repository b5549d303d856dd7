"""Batch submission (docs/API.md §7): `POST /api/v1/transactions` with a
JSON array of up to 1000 signed transactions answers 200 with one result per
item, in order: `{"tx_id", "status": "pending"}` for an admitted one,
`{"error": {"code", "message"}}` for a refused one, each judged as if it
had been submitted alone, in the array's order. An independent client: it
signs its own transactions and reads the chain through the REST API."""

import os
import sys
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
    on. At difficulty 6 (about 16.7 million hashes) the block holding the
    first transfer is still being mined when the second one is answered:
    the 202 does not wait for it."""
    with H.Server("--dev", "--block-interval-ms", "100", "--difficulty", "1",
                  name="pipeline-node") as srv:
        key = srv.funded_key()
        srv.restart("--dev", "--block-interval-ms", "100", "--difficulty", "6")
        height = srv.height()
        first = srv.submit_ok(H.transfer(key, H.random_address(), 1, 0))
        time.sleep(1.0)  # not for an assertion: to land inside the first block's mining
        second = srv.submit_ok(H.transfer(key, H.random_address(), 1, 1))
        # answered while the first one's block is still being mined
        assert srv.height() == height
        assert srv.tx(first)["status"] == "pending"
        srv.wait_confirmed(first, timeout=240)
        srv.wait_confirmed(second, timeout=240)
