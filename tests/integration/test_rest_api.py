"""Every REST endpoint and every error code of docs/API.md, as an independent
client sees them. One dev node for the whole file (fast blocks, difficulty 2).

Each test makes its own keys, so tests do not depend on each other's state;
the last two tests look at the whole chain the file produced."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import Key, assert_error, assert_accepted, sign  # noqa: E402


SERVER_FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "2")
SERVER_NAME = "rest-node"


def unfunded_transfer(**overrides):
    """A well-formed, signed transfer from a new (unfunded) key, with fields
    replaced by overrides *before* signing (None deletes a field)."""
    key = Key.generate()
    body = H.transfer_body(key, H.random_address(), 1, 0)
    for k, v in overrides.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return H.sign_exact(key, body)


# --------------------------------------------------------------------------
# Root, health, metrics, routing
# --------------------------------------------------------------------------

def test_root_links_use_the_host_header_and_name_the_software(srv):
    r = srv.get("/")
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    base = "127.0.0.1:%d" % srv.port
    assert doc["_links"]["api_v1"] == "http://%s/api/v1/" % base, doc
    assert doc["_links"]["streams_v1"] == "ws://%s/api/v1/streams/" % base, doc
    assert doc["software"] == "ledgerline", doc
    assert re.match(r"^\d+\.\d+\.\d+$", doc["version"]), doc

    doc = srv.get("/", headers={"Host": "ledger.example.org:8080"}).json()
    assert doc["_links"]["api_v1"] == "http://ledger.example.org:8080/api/v1/", doc
    assert doc["_links"]["streams_v1"] == "ws://ledger.example.org:8080/api/v1/streams/", doc


def test_api_v1_root_answers_the_same_links(srv):
    root = srv.get("/").json()
    r = srv.get("/api/v1/")
    assert r.status_code == 200, r.status_code
    doc = r.json()
    assert doc["_links"] == root["_links"], (doc, root)
    assert doc["software"] == "ledgerline" and doc["version"] == root["version"], doc


def test_root_with_browser_accept_serves_the_web_ui_as_html(srv):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = srv.get("/", headers={"Accept": browser})
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
    page = r.text.lower()
    assert "<html" in page or "<!doctype html" in page, r.text[:200]
    for accept in ("*/*", "application/json"):
        r = srv.get("/", headers={"Accept": accept})
        assert r.headers["Content-Type"].startswith("application/json"), (accept, r.headers)


def test_healthz_is_200_ok(srv):
    r = srv.get("/healthz")
    assert r.status_code == 200, r.status_code
    assert r.text.strip() == "ok", r.text


def test_metrics_expose_block_height_and_mempool_size_in_prometheus_text(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200, r.status_code
    ctype = r.headers["Content-Type"].replace(" ", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    srv.funded_key()  # makes a block; afterwards nothing is pending
    tip = srv.height()

    def caught_up():
        m = srv.metrics()
        return (m.get("ledgerline_block_height") == tip
                and m.get("ledgerline_mempool_transactions") == 0)
    H.wait_until(caught_up, 10, "metrics to show height %d and an empty mempool" % tip)


def test_metrics_count_responses_by_route_and_status(srv):
    """ledgerline_http_responses_total{route, status}: the route is the
    method and pattern that matched, or "unmatched"; each response counts
    once, under the status it was sent with."""
    name = "ledgerline_http_responses_total"

    def count(route, status):
        return H.server_metric(srv, name, route=route, status=status) or 0

    key = srv.funded_key()
    accepted0 = count("POST /api/v1/transactions", "202")
    bad0 = count("POST /api/v1/transactions", "400")
    missing0 = count("unmatched", "404")
    wrong0 = count("unmatched", "405")
    healthz0 = count("GET /healthz", "200")
    nonce = srv.account(key.address)["nonce"]
    for i in range(3):
        srv.submit_ok(H.transfer(key, H.random_address(), 1, nonce + i))
    assert srv.post("/api/v1/transactions", data=b"{not json").status_code == 400
    for _ in range(2):
        assert srv.get("/no/such/route").status_code == 404
    assert srv.request("DELETE", "/healthz").status_code == 405
    assert srv.get("/healthz").status_code == 200
    assert count("POST /api/v1/transactions", "202") == accepted0 + 3
    assert count("POST /api/v1/transactions", "400") == bad0 + 1
    assert count("unmatched", "404") == missing0 + 2
    assert count("unmatched", "405") == wrong0 + 1
    assert count("GET /healthz", "200") == healthz0 + 1


def test_unknown_path_is_404_not_found_json(srv):
    for path in ("/nope", "/api/v1/nope", "/api/v2/", "/api/v1/transactions/%s/x" % ("0" * 64)):
        assert_error(srv.get(path), 404, "not_found")


def test_wrong_method_on_known_path_is_405_with_allow_header(srv):
    cases = [("DELETE", "/api/v1/transactions", "POST"),
             ("GET", "/api/v1/transactions", "POST"),
             ("PUT", "/api/v1/blocks/latest", "GET"),
             ("POST", "/api/v1/blocks/0", "GET"),
             ("POST", "/healthz", "GET"),
             ("DELETE", "/api/v1/accounts/" + H.random_address(), "GET"),
             ("GET", "/api/v1/faucet", "POST")]
    for method, path, allowed in cases:
        r = srv.request(method, path)
        assert_error(r, 405, "method_not_allowed")
        allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
        assert allowed in allow, (method, path, r.headers.get("Allow"))


# --------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------

def test_genesis_block_has_height_0_zero_previous_hash_and_no_transactions(srv):
    g = srv.block(0)
    assert g["height"] == 0 and g["previous_hash"] == H.ZERO_HASH, g
    assert g["tx_count"] == 0 and g["transactions"] == [], g
    assert g["tx_root"] == H.tx_root_of([]), g
    H.check_block(g)


def test_block_fields_come_in_seed_order_then_extensions(srv):
    srv.funded_key()
    b = srv.latest()
    assert list(b)[:8] == H.SEED_BLOCK_FIELDS, list(b)
    assert set(b) == set(H.SEED_BLOCK_FIELDS) | set(H.EXT_BLOCK_FIELDS), list(b)
    assert isinstance(b["nonce"], int) and isinstance(b["timestamp_ms"], int), b
    assert H.is_hex(b["miner"], 32), b
    H.check_block(b, srv.block(b["height"] - 1))


def test_latest_block_equals_block_at_its_height(srv):
    srv.funded_key()
    latest = srv.latest()
    assert srv.block(latest["height"]) == latest


def test_block_beyond_tip_is_404_not_found(srv):
    tip = srv.height()
    assert_error(srv.get("/api/v1/blocks/%d" % (tip + 1000)), 404, "not_found")


def test_non_integer_block_height_is_400_bad_parameter(srv):
    for h in ("abc", "1.5", "0x10", "1e3"):
        assert_error(srv.get("/api/v1/blocks/" + h), 400, "bad_parameter")


# --------------------------------------------------------------------------
# Faucet
# --------------------------------------------------------------------------

def test_faucet_grant_is_a_transfer_of_the_requested_units(srv):
    addr = H.random_address()
    r = srv.post("/api/v1/faucet", json={"address": addr, "amount": 1234567})
    assert r.status_code == 202, r.text
    doc = r.json()
    assert set(doc) == {"tx_id", "status"} and doc["status"] == "pending", doc
    tx = srv.wait_confirmed(doc["tx_id"])
    assert tx["kind"] == "transfer" and tx["recipient"] == addr and tx["amount"] == 1234567, tx
    assert "asset_id" not in tx or tx["asset_id"] == H.NATIVE_ASSET, tx
    assert H.tx_id_of(tx_fields(tx)) == doc["tx_id"] and H.verify_signed(tx_fields(tx)), tx
    acc = srv.account(addr)
    assert acc == {"address": addr, "nonce": 0, "balance": 1234567,
                   "balances": {H.NATIVE_ASSET: 1234567}}, acc


def test_faucet_without_amount_grants_1000_coins(srv):
    addr = H.random_address()
    r = srv.post("/api/v1/faucet", json={"address": addr})
    assert r.status_code == 202, r.text
    srv.wait_confirmed(r.json()["tx_id"])
    assert srv.balance(addr) == 1000 * H.UNITS_PER_COIN


def test_faucet_grants_at_most_one_million_coins(srv):
    addr = H.random_address()
    srv.fund(addr, H.FAUCET_MAX)
    assert srv.balance(addr) == H.FAUCET_MAX
    r = srv.post("/api/v1/faucet", json={"address": addr, "amount": H.FAUCET_MAX + 1})
    assert_error(r, 400, "bad_amount")


def test_faucet_with_bad_address_is_400_bad_address(srv):
    good = H.random_address()
    for addr in (good.upper(), good[:-1], good + "0", "0x" + good[2:], "zz" * 16, 42):
        assert_error(srv.post("/api/v1/faucet", json={"address": addr, "amount": 5}),
                     400, "bad_address")
    assert_error(srv.post("/api/v1/faucet", json={"amount": 5}), 400, "bad_address")


def test_faucet_with_bad_amount_is_400_bad_amount(srv):
    for amount in (0, -1, H.FAUCET_MAX + 1, "100"):
        assert_error(srv.post("/api/v1/faucet", json={"address": H.random_address(),
                                                      "amount": amount}), 400, "bad_amount")


# --------------------------------------------------------------------------
# Transactions that are accepted
# --------------------------------------------------------------------------

def tx_fields(tx):
    """The signed transaction inside a GET /api/v1/transactions answer."""
    return {k: v for k, v in tx.items() if k not in ("tx_id", "status", "block_height")}


def test_transfer_is_202_pending_then_confirmed_in_a_block(srv):
    alice = srv.funded_key()
    bob = H.random_address()
    tx = H.transfer(alice, bob, 2_500_000, 0, fee=10_000)
    r = srv.submit(tx)
    tx_id = assert_accepted(r, tx)
    assert tx_id == H.tx_id_of(tx)
    first = srv.tx(tx_id)
    assert first is not None and first["status"] in ("pending", "confirmed"), first
    if first["status"] == "pending":
        assert first["block_height"] is None, first
    got = srv.wait_confirmed(tx_id)
    assert isinstance(got["block_height"], int) and got["block_height"] > 0, got
    block = srv.block(got["block_height"])
    assert tx_id in block["transactions"], block
    H.check_block(block, srv.block(block["height"] - 1))


def test_get_transaction_returns_exactly_the_signed_fields_plus_status(srv):
    alice = srv.funded_key()
    tx = H.transfer(alice, H.random_address(), 7, 0, fee=3)
    tx_id = srv.submit_ok(tx)
    got = srv.wait_confirmed(tx_id)
    assert set(got) == set(tx) | {"tx_id", "status", "block_height"}, sorted(got)
    assert tx_fields(got) == tx, (got, tx)
    assert got["tx_id"] == tx_id and got["status"] == "confirmed", got
    assert H.verify_signed(tx_fields(got)) and H.tx_id_of(tx_fields(got)) == tx_id


def test_transfer_moves_amount_and_debits_fee_from_sender(srv):
    alice = srv.funded_key(10_000_000)
    bob = H.random_address()
    srv.wait_confirmed(srv.submit_ok(H.transfer(alice, bob, 2_500_000, 0, fee=10_000)))
    a = srv.account(alice.address)
    assert a == {"address": alice.address, "nonce": 1, "balance": 7_490_000,
                 "balances": {H.NATIVE_ASSET: 7_490_000}}, a
    b = srv.account(bob)
    assert b == {"address": bob, "nonce": 0, "balance": 2_500_000,
                 "balances": {H.NATIVE_ASSET: 2_500_000}}, b


def quiescent(srv, read):
    """read() at a moment when no block was committed during it (the tip
    height is the same before and after). Returns (tip, value)."""
    def attempt():
        h0 = srv.height()
        value = read(h0)
        return (h0, value) if srv.height() == h0 else None
    return H.wait_until(attempt, 20, "a read without a block committed during it")


def test_fee_is_credited_to_the_block_miner(srv):
    alice = srv.funded_key()
    miner = srv.latest()["miner"]
    h0, before = quiescent(srv, lambda h: srv.balance(miner))
    tx_id = srv.submit_ok(H.transfer(alice, H.random_address(), 1, 0, fee=123_456))
    got = srv.wait_confirmed(tx_id)
    assert srv.block(got["block_height"])["miner"] == miner
    h1, after = quiescent(srv, lambda h: srv.balance(miner))
    fees = sum(srv.tx(t)["fee"] for b in srv.chain(h0 + 1, h1) for t in b["transactions"])
    assert fees >= 123_456
    assert after - before == fees, (before, after, fees)


def test_explicit_native_asset_id_transfers_the_native_coin(srv):
    alice = srv.funded_key(1_000_000)
    bob = H.random_address()
    srv.wait_confirmed(srv.submit_ok(
        H.transfer(alice, bob, 400_000, 0, fee=1, asset_id=H.NATIVE_ASSET)))
    assert srv.balance(bob) == 400_000
    assert srv.balance(alice.address) == 599_999


def test_create_issues_an_asset_whose_id_is_its_tx_id_to_the_sender(srv):
    alice = srv.funded_key(1_000_000)
    data = {"name": "Gold bar #7", "grams": 1000, "tags": ["au", "99.9%"], "vault": None,
            "ok": True, "nested": {"z": [], "a": {}}, "négatif": -42}
    tx = sign(alice, H.create_body(alice, data, 500, 0, fee=10))
    asset_id = srv.submit_ok(tx)
    got = srv.wait_confirmed(asset_id)
    assert got["asset"] == {"data": data, "amount": 500}, got
    acc = srv.account(alice.address)
    assert acc["balances"] == {H.NATIVE_ASSET: 999_990, asset_id: 500}, acc
    assert acc["balance"] == 999_990 and acc["nonce"] == 1, acc


def test_transfer_of_an_asset_still_pending_creation_is_accepted(srv):
    alice = srv.funded_key(1_000_000)
    bob = H.random_address()
    create = sign(alice, H.create_body(alice, "tickets", 100, 0))
    asset_id = srv.submit_ok(create)
    move = H.transfer(alice, bob, 30, 1, asset_id=asset_id)
    srv.submit_ok(move)  # the create may still be pending: pending creates count
    srv.wait_confirmed(H.tx_id_of(move))
    assert srv.account(bob) == {"address": bob, "nonce": 0, "balance": 0,
                                "balances": {asset_id: 30}}
    assert srv.balance(alice.address, asset_id) == 70
    assert srv.balance(alice.address) == 1_000_000


def test_message_moves_only_the_fee(srv):
    alice = srv.funded_key(1_000_000)
    bob = H.random_address()
    tx = sign(alice, H.message_body(alice, bob, "hello bob", 0, fee=250))
    got = srv.wait_confirmed(srv.submit_ok(tx))
    assert got["memo"] == "hello bob" and got["recipient"] == bob, got
    acc = srv.account(alice.address)
    assert acc["balance"] == 999_750 and acc["nonce"] == 1, acc
    assert srv.balance(bob) == 0


def test_non_ascii_and_control_characters_are_signed_like_python(srv):
    # The node must re-serialize exactly as Python does (docs/API.md §2.3):
    # raw UTF-8, lowercase \u00xx for other control characters, '/' unescaped.
    alice = srv.funded_key(1_000_000)
    memo = 'héllo € 🚀 "quoted" back\\slash /slash\ttab\nnl \x01\x0b\x1f\x7f \u2028 end'
    tx = sign(alice, H.message_body(alice, H.random_address(), memo, 0))
    assert b"\\u000b" in H.canonical(tx) and b"\\u001f" in H.canonical(tx)
    got = srv.wait_confirmed(srv.submit_ok(tx))
    assert got["memo"] == memo, got["memo"]
    data = {"ключ": "значение", "Zebra": 1, "apple": 2, "émoji": "🦊", "ctl": "\x0e"}
    tx = sign(alice, H.create_body(alice, data, 1, 1))
    got = srv.wait_confirmed(srv.submit_ok(tx))
    assert got["asset"]["data"] == data, got


def test_canonical_and_pretty_json_of_one_transaction_are_the_same_transaction(srv):
    alice = srv.funded_key(1_000_000)
    tx = sign(alice, H.message_body(alice, H.random_address(), "€ once", 0))
    pretty = json.dumps(tx, indent=3, ensure_ascii=True).encode()  # \u20ac escapes
    r = srv.post("/api/v1/transactions", data=pretty,
                 headers={"Content-Type": "application/json"})
    assert_accepted(r, tx)
    r = srv.post("/api/v1/transactions", data=H.canonical(tx),
                 headers={"Content-Type": "application/json"})
    assert_error(r, 422, "duplicate_transaction")


def test_memo_of_exactly_1024_utf8_bytes_is_accepted(srv):
    alice = srv.funded_key(1_000_000)
    memo = "€" * 341 + "a"  # 341 * 3 + 1 = 1024 bytes, 342 characters
    assert len(memo.encode()) == 1024
    tx = sign(alice, H.message_body(alice, H.random_address(), memo, 0))
    assert srv.wait_confirmed(srv.submit_ok(tx))["memo"] == memo


def test_consecutive_nonces_counting_pending_are_accepted_and_commit_in_order(srv):
    alice = srv.funded_key(1_000_000)
    bob = H.random_address()
    ids = [srv.submit_ok(H.transfer(alice, bob, 10 + n, n)) for n in range(5)]
    heights = [srv.wait_confirmed(t)["block_height"] for t in ids]
    order = []
    for h in sorted(set(heights)):
        order += [t for t in srv.block(h)["transactions"] if t in ids]
    assert order == ids, "one sender's transactions must commit in nonce order"
    assert srv.account(alice.address)["nonce"] == 5
    assert srv.balance(bob) == sum(10 + n for n in range(5))


# --------------------------------------------------------------------------
# Accounts and transaction look-ups
# --------------------------------------------------------------------------

def test_unknown_account_is_404_not_found(srv):
    assert_error(srv.get("/api/v1/accounts/" + H.random_address()), 404, "not_found")


def test_malformed_account_address_is_400_bad_address(srv):
    a = H.random_address()
    for bad in (a.upper(), a[:-1], a + "00", "g" * 32, "0x" + a):
        assert_error(srv.get("/api/v1/accounts/" + bad), 400, "bad_address")


def test_unknown_transaction_is_404_not_found(srv):
    assert_error(srv.get("/api/v1/transactions/" + os_hex(32)), 404, "not_found")


def test_malformed_transaction_id_is_400_bad_parameter(srv):
    t = os_hex(32)
    for bad in (t.upper(), t[:-1], t + "0", "xyz", "g" * 64):
        assert_error(srv.get("/api/v1/transactions/" + bad), 400, "bad_parameter")


def os_hex(n):
    return os.urandom(n).hex()


# --------------------------------------------------------------------------
# Submission errors: one defect per body, otherwise valid and signed
# --------------------------------------------------------------------------

def post_raw(srv, data):
    return srv.post("/api/v1/transactions", data=data,
                    headers={"Content-Type": "application/json"})


def test_submit_malformed_json_is_400_malformed_json(srv):
    for data in (b'{"kind":', b"", b"{'kind': 'transfer'}", b"not json", b'{"a":1}}',
                 b"\xff\xfe{}"):
        assert_error(post_raw(srv, data), 400, "malformed_json")


def test_submit_object_with_a_repeated_key_is_400_malformed_json(srv):
    tx = unfunded_transfer()
    text = json.dumps(tx)
    assert text.endswith("}")
    assert_error(post_raw(srv, (text[:-1] + ', "nonce": 0}').encode()), 400, "malformed_json")


def test_submit_json_that_is_not_an_object_is_400_wrong_type(srv):
    for data in (b"[]", b"42", b'"transfer"', b"null"):
        assert_error(post_raw(srv, data), 400, "wrong_type")


def test_submit_field_of_wrong_type_is_400_wrong_type(srv):
    for field, value in (("nonce", "0"), ("amount", "1"), ("fee", [0]),
                         ("timestamp_ms", True), ("recipient", 12345), ("kind", 1),
                         ("sender_pubkey", {"hex": "00"})):
        tx = unfunded_transfer(**{field: value})
        assert_error(srv.submit(tx), 400, "wrong_type")
    tx = unfunded_transfer()
    tx["signature"] = 7
    assert_error(srv.submit(tx), 400, "wrong_type")


def test_submit_float_anywhere_is_400_wrong_type(srv):
    for field, value in (("fee", 0.5), ("amount", 1.0), ("nonce", 0.0),
                         ("timestamp_ms", 1.78e12)):
        assert_error(srv.submit(unfunded_transfer(**{field: value})), 400, "wrong_type")
    # Written as 1e3 on the wire: still a floating-point number.
    tx = unfunded_transfer()
    text = json.dumps(tx).replace('"amount": 1,', '"amount": 1e0,')
    assert '"amount": 1e0,' in text
    assert_error(post_raw(srv, text.encode()), 400, "wrong_type")


def test_submit_without_a_required_field_is_400_missing_field(srv):
    for field in ("kind", "sender_pubkey", "nonce", "timestamp_ms", "fee", "recipient",
                  "amount"):
        assert_error(srv.submit(unfunded_transfer(**{field: None})), 400, "missing_field")
    tx = unfunded_transfer()
    del tx["signature"]
    assert_error(srv.submit(tx), 400, "missing_field")
    key = Key.generate()
    body = H.message_body(key, H.random_address(), "hi", 0)
    del body["memo"]
    assert_error(srv.submit(sign(key, body)), 400, "missing_field")
    body = H.create_body(key, "x", 1, 0)
    del body["asset"]
    assert_error(srv.submit(sign(key, body)), 400, "missing_field")


def test_submit_with_an_unknown_field_is_400_unknown_field(srv):
    assert_error(srv.submit(unfunded_transfer(colour="blue")), 400, "unknown_field")
    assert_error(srv.submit(unfunded_transfer(memo="not on a transfer")), 400, "unknown_field")


def test_submit_unknown_kind_is_400_unknown_kind(srv):
    for kind in ("mint", "Transfer", ""):
        assert_error(srv.submit(unfunded_transfer(kind=kind)), 400, "unknown_kind")


def test_submit_call_to_an_address_without_a_contract_is_422_unknown_contract(srv):
    key = srv.funded_key(1_000_000)
    call = {"kind": "call", "sender_pubkey": key.pk_hex, "nonce": 0,
            "timestamp_ms": H.now_ms(), "fee": 0, "to": "0x" + os_hex(20), "selector": 1,
            "args": [1, "two"], "gas_limit": 100000}
    assert_error(srv.submit(sign(key, call)), 422, "unknown_contract")
    deploy = {"kind": "deploy", "sender_pubkey": key.pk_hex, "nonce": 0,
              "timestamp_ms": H.now_ms(), "fee": 0,
              "code": "return { [1] = function(ctx) return 1 end }", "gas_limit": 100000}
    assert_accepted(srv.submit(sign(key, deploy)), sign(key, deploy))


def test_submit_bad_hex_is_400_bad_hex(srv):
    key = Key.generate()
    for pk in (key.pk_hex.upper(), key.pk_hex[:-1], key.pk_hex + "00", "z" * 64):
        body = H.transfer_body(key, H.random_address(), 1, 0)
        body["sender_pubkey"] = pk
        tx = dict(body, signature=key.sk.sign(H.canonical(body)).signature.hex())
        assert_error(srv.submit(tx), 400, "bad_hex")
    asset = os_hex(32)
    for bad in (asset.upper(), asset[:-1], "0x" + asset[2:]):
        assert_error(srv.submit(unfunded_transfer(asset_id=bad)), 400, "bad_hex")
    for mangle in (str.upper, lambda s: s[:-1], lambda s: s + "00", lambda s: "q" + s[1:]):
        tx = unfunded_transfer()
        tx["signature"] = mangle(tx["signature"])
        assert_error(srv.submit(tx), 400, "bad_hex")


def test_submit_bad_recipient_is_400_bad_address(srv):
    a = H.random_address()
    for bad in (a.upper(), a[:-1], a + "0", "0x" + a, "g" * 32, ""):
        assert_error(srv.submit(unfunded_transfer(recipient=bad)), 400, "bad_address")
    key = Key.generate()
    tx = sign(key, H.message_body(key, a[:-2], "hi", 0))
    assert_error(srv.submit(tx), 400, "bad_address")


def test_submit_bad_signature_is_400_bad_signature(srv):
    tx = unfunded_transfer()
    other = Key.generate()
    body = {k: v for k, v in tx.items() if k != "signature"}
    tx["signature"] = other.sk.sign(H.canonical(body)).signature.hex()
    assert_error(srv.submit(tx), 400, "bad_signature")
    tx = unfunded_transfer()
    tx["amount"] = 2  # changed after signing
    assert_error(srv.submit(tx), 400, "bad_signature")
    tx = unfunded_transfer()
    tx["signature"] = "0" * 128
    assert_error(srv.submit(tx), 400, "bad_signature")


def test_submit_non_positive_amounts_and_negative_integers_are_400_bad_amount(srv):
    for field, value in (("amount", 0), ("amount", -5), ("fee", -1), ("nonce", -1),
                         ("timestamp_ms", -1)):
        assert_error(srv.submit(unfunded_transfer(**{field: value})), 400, "bad_amount")
    key = Key.generate()
    for amount in (0, -1):
        tx = sign(key, H.create_body(key, "x", amount, 0))
        assert_error(srv.submit(tx), 400, "bad_amount")


def test_submit_memo_over_1024_bytes_is_400_memo_too_long(srv):
    key = Key.generate()
    for memo in ("a" * 1025, "€" * 342):  # 342 characters but 1026 bytes
        tx = sign(key, H.message_body(key, H.random_address(), memo, 0))
        assert_error(srv.submit(tx), 400, "memo_too_long")


def test_submit_integer_beyond_64_bits_is_400_integer_overflow(srv):
    for field, value in (("amount", 2**63), ("fee", 2**64 + 1), ("nonce", 10**30),
                         ("amount", -2**63 - 1)):
        assert_error(srv.submit(unfunded_transfer(**{field: value})), 400, "integer_overflow")
    key = Key.generate()
    tx = sign(key, H.create_body(key, "x", 2**63, 0))
    assert_error(srv.submit(tx), 400, "integer_overflow")


def test_submit_bad_create_asset_is_400_bad_asset(srv):
    key = Key.generate()
    for asset in ("gold", 5, [1, 2], {"data": "x"}, {"amount": 5},
                  {"data": "x", "amount": 5, "extra": 1},
                  {"data": {"weight": 1.5}, "amount": 5},
                  {"data": [1, [2, 0.25]], "amount": 5}):
        body = H.create_body(key, None, 1, 0)
        body["asset"] = asset
        assert_error(srv.submit(sign(key, body)), 400, "bad_asset")


def test_submit_with_wrong_nonce_is_422_bad_nonce(srv):
    alice = srv.funded_key(1_000_000)
    msg = assert_error(srv.submit(H.transfer(alice, H.random_address(), 1, 5)),
                       422, "bad_nonce")
    assert re.search(r"\b0\b", msg), "the message names the expected nonce 0: %r" % msg
    srv.submit_ok(H.transfer(alice, H.random_address(), 1, 0))
    srv.submit_ok(H.transfer(alice, H.random_address(), 1, 1))  # counts the pending one
    for nonce in (0, 1, 3):
        msg = assert_error(srv.submit(H.transfer(alice, H.random_address(), 2, nonce)),
                           422, "bad_nonce")
        assert re.search(r"\b2\b", msg), "the message names the expected nonce 2: %r" % msg


def test_submit_beyond_balance_is_422_insufficient_funds(srv):
    nobody = Key.generate()
    assert_error(srv.submit(H.transfer(nobody, H.random_address(), 1, 0)),
                 422, "insufficient_funds")
    alice = srv.funded_key(1000)
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 1001, 0)),
                 422, "insufficient_funds")
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 1000, 0, fee=1)),
                 422, "insufficient_funds")  # the fee counts
    srv.submit_ok(H.transfer(alice, H.random_address(), 600, 0))
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 600, 1)),
                 422, "insufficient_funds")  # the pending 600 counts
    tx = sign(alice, H.message_body(alice, H.random_address(), "hi", 1, fee=401))
    assert_error(srv.submit(tx), 422, "insufficient_funds")
    srv.submit_ok(H.transfer(alice, H.random_address(), 400, 1))  # exactly the rest


def test_submit_asset_transfer_beyond_holdings_or_without_fee_is_422_insufficient_funds(srv):
    alice = srv.funded_key(100)
    asset = srv.wait_confirmed(srv.submit_ok(sign(alice, H.create_body(alice, "a", 50, 0))))
    asset_id = asset["tx_id"]
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 51, 1, asset_id=asset_id)),
                 422, "insufficient_funds")
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 50, 1, fee=101,
                                       asset_id=asset_id)), 422, "insufficient_funds")
    srv.submit_ok(H.transfer(alice, H.random_address(), 50, 1, fee=100, asset_id=asset_id))


def test_submit_transfer_of_unknown_asset_is_422_unknown_asset(srv):
    alice = srv.funded_key(1_000_000)
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 1, 0, asset_id=os_hex(32))),
                 422, "unknown_asset")
    # The id of a transaction that is not a create names no asset either.
    plain = srv.wait_confirmed(srv.submit_ok(H.transfer(alice, H.random_address(), 1, 0)))
    assert_error(srv.submit(H.transfer(alice, H.random_address(), 1, 1,
                                       asset_id=plain["tx_id"])), 422, "unknown_asset")


def test_submit_same_transaction_twice_is_422_duplicate_transaction(srv):
    alice = srv.funded_key(1_000_000)
    tx = H.transfer(alice, H.random_address(), 1, 0)
    tx_id = srv.submit_ok(tx)
    assert_error(srv.submit(tx), 422, "duplicate_transaction")  # pending or just committed
    srv.wait_confirmed(tx_id)
    assert_error(srv.submit(tx), 422, "duplicate_transaction")  # committed
    assert srv.account(alice.address)["nonce"] == 1


def test_submit_body_over_1_mib_is_413_payload_too_large(srv):
    with H.RawHttp(srv.port) as c:
        c.send(H.http_request("POST", "/api/v1/transactions",
                              headers={"Content-Type": "application/json",
                                       "Content-Length": str(1024 * 1024 + 1)}))
        # The node answers from Content-Length (docs/API.md §3.8); it does not
        # need the body.
        r = c.read_response(timeout=10)
    assert r.status == 413 and r.error() == "payload_too_large", r


# --------------------------------------------------------------------------
# The whole chain this file produced
# --------------------------------------------------------------------------

def test_every_block_links_to_the_previous_and_rehashes_under_the_header_rule(srv):
    blocks = srv.chain()
    assert len(blocks) > 10, "the tests above made blocks"
    prev = None
    for b in blocks:
        H.check_block(b, prev)
        prev = b
    miners = {b["miner"] for b in blocks[1:]}
    assert len(miners) == 1, miners


def test_native_supply_stays_one_billion_coins_across_all_accounts(srv):
    def total(tip):
        addresses = set()
        for b in srv.chain(0, tip):
            if b["height"] > 0:
                addresses.add(b["miner"])
            for t in b["transactions"]:
                tx = srv.tx(t)
                addresses.add(H.address_of_pubkey(bytes.fromhex(tx["sender_pubkey"])))
                if "recipient" in tx:
                    addresses.add(tx["recipient"])
        return sum(srv.balance(a) for a in addresses)
    _tip, supply = quiescent(srv, total)
    assert supply == H.GENESIS_SUPPLY, "%d units, not %d" % (supply, H.GENESIS_SUPPLY)
