"""The REST additions the explorer pages read (docs/API.md §3.3, §3.4, §3.11)
and the web UI's Content-Security-Policy (§3.6), as an independent client
sees them:

* GET /api/v1/blocks?before=&limit= pages through the chain newest first,
  every block exactly once, each exactly as GET /api/v1/blocks/{height};
* GET /api/v1/accounts/{address}/transactions pages through an address's
  committed transactions newest first, as sender and as recipient, and a
  contract's deploy and calls;
* GET /api/v1/contracts/{address} shows a contract's source, deploy and
  newest receipts;
* every file of the web UI carries the policy and nosniff, and scripts are
  served as JavaScript.

One dev node (difficulty 1, 100 ms blocks) serves the file; each test makes
its own keys."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import assert_error, sign  # noqa: E402

SERVER_FLAGS = ("--dev", "--difficulty", "1", "--block-interval-ms", "100")
SERVER_NAME = "explorer-node"

BROWSER_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")

FEE = 1000
GAS = 1_000_000
COUNTER = open(os.path.join(H.REPO_ROOT, "examples", "contracts", "counter.lua"),
               encoding="utf-8").read()


def get_json(srv, path, **kw):
    r = srv.get(path, **kw)
    assert r.status_code == 200, "GET %s: %d %s" % (path, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    return r.json()


def grow_chain(srv, height):
    """Blocks come with transactions only: a faucet grant, confirmed before
    the next, makes at least one more."""
    while srv.height() < height:
        srv.fund(H.random_address(), 1)


vm_address = H.vm_address


def account_pages(srv, address, limit, path_address=None):
    """Every transaction of address, walking the pages; checks each page's
    shape and returns (transactions, number of pages)."""
    txs, pages, before = [], 0, None
    while True:
        params = {"limit": limit}
        if before is not None:
            params["before"] = before
        page = get_json(srv, "/api/v1/accounts/%s/transactions" % (path_address or address),
                        params=params)
        assert set(page) == {"transactions", "next_before"}, page
        assert len(page["transactions"]) <= limit, page
        pages += 1
        txs += page["transactions"]
        before = page["next_before"]
        if before is None:
            return txs, pages
        assert isinstance(before, str) and len(page["transactions"]) == limit, page
        assert pages < 100, "the pages do not end"


def assert_newest_first(srv, txs):
    """Chain order, newest first: by height, then by place in the block."""
    def position(tx):
        block = srv.block(tx["block_height"])
        return tx["block_height"], block["transactions"].index(tx["tx_id"])
    positions = [position(tx) for tx in txs]
    assert positions == sorted(positions, reverse=True), positions


# --------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------

def test_block_pages_walk_every_block_exactly_once_newest_first(srv):
    grow_chain(srv, 12)
    tip = srv.height()
    heights, before, pages = [], tip + 1, 0
    while before is not None:
        page = get_json(srv, "/api/v1/blocks", params={"before": before, "limit": 5})
        assert set(page) == {"blocks", "next_before"}, page
        assert 1 <= len(page["blocks"]) <= 5, page
        for b in page["blocks"]:
            assert b == srv.block(b["height"]), "a listed block differs from its own page"
        got = [b["height"] for b in page["blocks"]]
        heights += got
        before = page["next_before"]
        assert before is None or before == got[-1], page
        pages += 1
    assert heights == list(range(tip, -1, -1)), heights
    assert pages == (tip + 1 + 4) // 5
    # Below genesis there is nothing.
    empty = get_json(srv, "/api/v1/blocks?before=0")
    assert empty == {"blocks": [], "next_before": None}


def test_a_page_of_blocks_ends_before_2000_transaction_ids_but_lists_every_block():
    """Each listed block carries all its transaction ids, so a page stops
    before the block that would pass 2,000 of them (one block is always
    listed): blocks of 1000 come two to a page, and the walk still lists
    every block once."""
    from relayutil import Sender, post_batch
    with H.Server(*SERVER_FLAGS, name="big-pages-node") as srv:
        sender = Sender(srv)
        srv.wait_confirmed(sender.grant)
        last = None
        for _ in range(3):  # three blocks of 1000 (a batch of 1000 fills one)
            last = post_batch(srv, sender.txs(1000))[-1]
            srv.wait_confirmed(last)
        tip = srv.height()
        heights, before = [], tip + 1
        while before is not None:
            page = get_json(srv, "/api/v1/blocks", params={"before": before, "limit": 100})
            ids = sum(len(b["transactions"]) for b in page["blocks"])
            assert ids <= 2000 or len(page["blocks"]) == 1, [b["tx_count"] for b in page["blocks"]]
            heights += [b["height"] for b in page["blocks"]]
            before = page["next_before"]
        assert heights == list(range(tip, -1, -1)), heights
        first = get_json(srv, "/api/v1/blocks", params={"limit": 100})["blocks"]
        assert [b["tx_count"] for b in first][:2] == [1000, 1000] and len(first) == 2, \
            [b["tx_count"] for b in first]


def test_block_list_defaults_to_the_newest_twenty(srv):
    grow_chain(srv, 25)
    tip = srv.height()
    for path in ("/api/v1/blocks", "/api/v1/blocks/"):
        page = get_json(srv, path)
        got = [b["height"] for b in page["blocks"]]
        assert len(got) == 20 and got[0] >= tip, (tip, got)
        assert got == list(range(got[0], got[0] - 20, -1)), got
        assert page["next_before"] == got[-1], page
    full = get_json(srv, "/api/v1/blocks?limit=100")
    assert len(full["blocks"]) == min(100, full["blocks"][0]["height"] + 1), full["next_before"]


def test_block_list_refuses_bad_parameters_with_400(srv):
    for query in ("before=abc", "before=-1", "before=1.5", "before=", "before=0x10",
                  "before=99999999999999999999", "before=9223372036854775808",
                  "limit=0", "limit=101", "limit=-5", "limit=ten", "limit=", "limit=2.0"):
        assert_error(srv.get("/api/v1/blocks?" + query), 400, "bad_parameter")
    assert len(get_json(srv, "/api/v1/blocks?limit=1")["blocks"]) == 1
    assert len(get_json(srv, "/api/v1/blocks?before=2&limit=100")["blocks"]) == 2


# --------------------------------------------------------------------------
# An account's transactions
# --------------------------------------------------------------------------

def test_account_transactions_page_newest_first_as_sender_and_recipient(srv):
    alice, bob = srv.funded_key(), srv.funded_key()
    ids = []
    for n in range(7):
        ids.append(srv.submit_ok(H.transfer(alice, bob.address, 10 + n, n)))
    back = srv.submit_ok(H.transfer(bob, alice.address, 5, 0))
    note = srv.submit_ok(sign(alice, H.message_body(alice, bob.address, "hi bob", 7)))
    for tx_id in ids + [back, note]:
        srv.wait_confirmed(tx_id)

    txs, pages = account_pages(srv, alice.address, 3)
    got = [t["tx_id"] for t in txs]
    assert len(got) == len(set(got)), "a transaction is listed twice"
    # the faucet's grant (alice as recipient), her 7 transfers and her
    # message (sender), bob's transfer to her (recipient)
    assert set(ids + [back, note]) < set(got) and len(got) == 10, got
    grant = [t for t in txs if t["tx_id"] not in ids + [back, note]][0]
    assert grant["recipient"] == alice.address and grant["kind"] == "transfer", grant
    assert pages == 4
    assert_newest_first(srv, txs)
    for t in txs:
        assert t == srv.tx(t["tx_id"]), "a listed transaction differs from its own page"
        assert t["status"] == "confirmed" and isinstance(t["block_height"], int), t
    senders = {t["sender_pubkey"] for t in txs}
    assert alice.pk_hex in senders and bob.pk_hex in senders, senders

    # One page of everything is the same list.
    whole = get_json(srv, "/api/v1/accounts/%s/transactions?limit=100" % alice.address)
    assert whole["transactions"] == txs and whole["next_before"] is None
    # The default page holds 20; bob's list has the same transfers.
    bobs, _ = account_pages(srv, bob.address, 20)
    assert set(ids + [back, note]) < {t["tx_id"] for t in bobs}
    # Any case and an optional 0x name the same address.
    shouted = get_json(srv, "/api/v1/accounts/0X%s/transactions" % alice.address.upper())
    assert shouted == whole


def test_account_transactions_of_an_unknown_address_are_an_empty_list(srv):
    page = get_json(srv, "/api/v1/accounts/%s/transactions" % H.random_address())
    assert page == {"transactions": [], "next_before": None}
    page = get_json(srv, "/api/v1/accounts/%s/transactions" % os.urandom(20).hex())
    assert page == {"transactions": [], "next_before": None}


def test_account_transactions_refuse_bad_addresses_cursors_and_limits(srv):
    good = "/api/v1/accounts/%s/transactions" % H.random_address()
    for bad in ("abc", "0" * 31, "0" * 33, "0" * 39, "0" * 41, "g" * 32, "0x" + "0" * 30,
                "0x", "x" * 40):
        assert_error(srv.get("/api/v1/accounts/%s/transactions" % bad), 400, "bad_address")
    for cursor in ("abc", "1", "1.", ".1", "-1.0", "1.-1", "1.2.3", "1.99999999999",
                   "99999999999999999999.0", "0x1.0", ""):
        assert_error(srv.get(good, params={"before": cursor}), 400, "bad_parameter")
    for limit in ("0", "101", "x", "", "-1"):
        assert_error(srv.get(good, params={"limit": limit}), 400, "bad_parameter")


# --------------------------------------------------------------------------
# Contracts
# --------------------------------------------------------------------------

def deploy_body(key, code, nonce):
    return H.deploy_body(key, code, nonce, GAS, FEE)


def call_body(key, to, selector, args, nonce):
    return H.call_body(key, to, selector, args, nonce, GAS, FEE)


def test_contract_page_shows_code_deploy_and_newest_twenty_receipts(srv):
    owner, caller = srv.funded_key(), srv.funded_key()
    deploy = srv.submit_ok(sign(owner, deploy_body(owner, COUNTER, 0)))
    contract = vm_address(owner.address, 0)
    srv.wait_confirmed(deploy)
    calls = [srv.submit_ok(sign(owner, call_body(owner, contract, 1, [1], 1)))]
    calls += [srv.submit_ok(sign(caller, call_body(caller, contract, 1, [n], n)))
              for n in range(21)]
    calls.append(srv.submit_ok(sign(owner, call_body(owner, contract, 9, [], 2))))  # fails
    for tx_id in calls:
        srv.wait_confirmed(tx_id)

    page = get_json(srv, "/api/v1/contracts/" + contract)
    assert set(page) == {"address", "code", "deployer", "height", "tx_id", "receipts"}, page
    assert page["address"] == contract and page["code"] == COUNTER
    assert page["deployer"] == owner.address and page["tx_id"] == deploy
    assert page["height"] == srv.tx(deploy)["block_height"]
    receipts = page["receipts"]
    assert len(receipts) == 20, len(receipts)
    for r in receipts:
        assert r == get_json(srv, "/api/v1/receipts/" + r["tx_id"]), r
        assert r["to"] == contract and r["type"] == "call", r
    assert get_json(srv, "/api/v1/contracts/0x" + contract.upper()) == page

    # The contract's own history: its deploy and every call, newest first.
    history, _ = account_pages(srv, contract, 7)
    assert {t["tx_id"] for t in history} == set(calls) | {deploy}
    assert len(history) == len(calls) + 1 and history[-1]["tx_id"] == deploy
    assert_newest_first(srv, history)
    # The page's receipts are those of the 20 newest of them, in that order.
    assert [r["tx_id"] for r in receipts] == [t["tx_id"] for t in history[:20]]
    failed = [r for r in receipts if r["tx_id"] == calls[-1]]
    assert len(failed) == 1 and failed[0]["success"] is False, failed
    assert account_pages(srv, contract, 100, "0x" + contract.upper())[0] == history
    # The deployer's history holds the deploy and the owner's calls, once each.
    mine = [t["tx_id"] for t in account_pages(srv, owner.address, 100)[0]]
    assert deploy in mine and calls[0] in mine and calls[-1] in mine
    assert len(mine) == len(set(mine)) == 4, mine  # the grant, the deploy, two calls


def test_contract_page_of_a_fresh_contract_lists_its_deploy_receipt(srv):
    owner = srv.funded_key()
    deploy = srv.submit_ok(sign(owner, deploy_body(owner, COUNTER, 0)))
    contract = vm_address(owner.address, 0)
    srv.wait_confirmed(deploy)
    page = get_json(srv, "/api/v1/contracts/" + contract)
    assert page["receipts"] == [get_json(srv, "/api/v1/receipts/" + deploy)]
    assert page["receipts"][0]["type"] == "deploy"


def test_contract_page_is_404_when_unknown_and_400_when_malformed(srv):
    assert_error(srv.get("/api/v1/contracts/" + os.urandom(20).hex()), 404, "not_found")
    for bad in (H.random_address(), "0" * 39, "0" * 41, "z" * 40, "0x", "abc"):
        assert_error(srv.get("/api/v1/contracts/" + bad), 400, "bad_address")


# --------------------------------------------------------------------------
# The web UI's headers
# --------------------------------------------------------------------------

def assert_web_headers(r, content_type):
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith(content_type), r.headers
    assert r.headers.get("Content-Security-Policy") == CSP, r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers


def test_web_pages_and_scripts_carry_the_policy_and_nosniff(srv):
    assert_web_headers(srv.get("/", headers={"Accept": BROWSER_HTML}), "text/html")
    assert_web_headers(srv.get("/live.html"), "text/html")
    # Every file of web/, with the type its extension must get (a module
    # script with another type would not run).
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
             ".svg": "image/svg+xml"}
    for name in sorted(os.listdir(os.path.join(H.REPO_ROOT, "web"))):
        ext = os.path.splitext(name)[1]
        assert ext in types, "a web file of a type this test does not know: %s" % name
        r = srv.get("/" + name)
        assert r.status_code == 200, (name, r.status_code)
        assert_web_headers(r, types[ext])
    assert "unsafe-inline" not in CSP
    # A page is also served without its extension.
    plain = srv.get("/live")
    assert_web_headers(plain, "text/html")
    assert plain.content == srv.get("/live.html").content
    # The JSON API is not a page.
    api = srv.get("/", headers={"Accept": "application/json"})
    assert api.headers["Content-Type"].startswith("application/json")
    assert_error(srv.get("/no-such-page"), 404, "not_found")
