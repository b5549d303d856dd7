"""A full block: 1000 transactions commit in one block as soon as 1000 are
pending (docs/API.md §2.5), with --block-interval-ms 60000 so that only the
count can trigger it. Three phases on one node, in order (each needs the one
before): 1000 faucet grants, 1000 transfers from 1000 senders, and 1000
transfers from 4 senders with consecutive nonces."""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

N = 1000
WORKERS = 8
STATE = {}  # what one phase leaves for the next


SERVER_FLAGS = ("--dev", "--block-interval-ms", "60000", "--max-block-txs", str(N),
                "--difficulty", "2")
SERVER_NAME = "big-block-node"


_local = threading.local()


def session():
    if not hasattr(_local, "s"):
        _local.s = H.new_session()
    return _local.s


def parallel(fn, items):
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(fn, items))


def post_tx(srv, tx):
    r = session().post(srv.url + "/api/v1/transactions", json=tx)
    return H.assert_accepted(r, tx)


def get_tx(srv, tx_id):
    r = session().get(srv.url + "/api/v1/transactions/" + tx_id)
    assert r.status_code == 200, (tx_id, r.status_code, r.text[:200])
    return r.json()


def the_one_block_of(srv, tx_ids):
    """Waits (less than the 60 s interval) until every tx is confirmed;
    asserts they all share one block of exactly N transactions and that
    GET shows each confirmed at that height. Returns the block."""
    H.wait_until(lambda: get_tx(srv, tx_ids[-1])["status"] == "confirmed", 30,
                 "the block that %d pending transactions trigger" % N)
    txs = parallel(lambda t: get_tx(srv, t), tx_ids)
    heights = {t["block_height"] for t in txs}
    assert all(t["status"] == "confirmed" for t in txs), \
        sum(1 for t in txs if t["status"] != "confirmed")
    assert len(heights) == 1, "spread over blocks %s" % sorted(heights)
    block = srv.block(heights.pop())
    assert block["tx_count"] == N, block["tx_count"]
    assert set(block["transactions"]) == set(tx_ids)
    H.check_block(block, srv.block(block["height"] - 1))
    return block


@H.timeout(150)
def test_1000_faucet_grants_commit_in_one_block(srv):
    start = srv.height()
    keys = [H.Key.generate() for _ in range(N)]

    def grant(k):
        r = session().post(srv.url + "/api/v1/faucet",
                           json={"address": k.address, "amount": 1_000_000})
        assert r.status_code == 202, (r.status_code, r.text[:200])
        return r.json()["tx_id"]
    grants = parallel(grant, keys)
    assert len(set(grants)) == N
    block = the_one_block_of(srv, grants)
    assert block["height"] == start + 1
    STATE["keys"] = keys


@H.timeout(150)
def test_1000_transfers_from_1000_senders_commit_in_one_block(srv):
    keys = STATE.get("keys")
    assert keys, "needs the previous phase"
    sink = H.random_address()
    miner = srv.latest()["miner"]
    miner_before = srv.balance(miner)
    txs = [H.transfer(k, sink, 1, 0, fee=1) for k in keys]
    ids = parallel(lambda tx: post_tx(srv, tx), txs)
    block = the_one_block_of(srv, ids)
    assert block["miner"] == miner
    assert srv.balance(sink) == N
    assert srv.balance(miner) - miner_before == N, "the fees of the block go to its miner"
    for k in keys[:20]:
        assert srv.account(k.address)["nonce"] == 1


@H.timeout(150)
def test_1000_transfers_from_4_senders_with_consecutive_nonces_commit_in_order(srv):
    keys = STATE.get("keys")
    assert keys, "needs the previous phases"
    senders = keys[:4]
    sink = H.random_address()
    per = N // len(senders)
    chains = {k.address: [H.transfer(k, sink, 1, n, fee=1) for n in range(1, per + 1)]
              for k in senders}

    def submit_chain(address):  # one thread per sender keeps its nonces in order
        return [post_tx(srv, tx) for tx in chains[address]]
    ids_by_sender = dict(zip(chains, parallel(submit_chain, list(chains))))
    all_ids = [t for ids in ids_by_sender.values() for t in ids]
    block = the_one_block_of(srv, all_ids)
    position = {t: i for i, t in enumerate(block["transactions"])}
    for address, ids in ids_by_sender.items():
        places = [position[t] for t in ids]
        assert places == sorted(places), "sender %s: nonces out of order in the block" % address
        acc = srv.account(address)
        assert acc["nonce"] == per + 1, acc
        assert acc["balance"] == 1_000_000 - 2 - 2 * per, acc
    assert srv.balance(sink) == N
