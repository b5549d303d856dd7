"""Hostile traffic against the ledger (docs/API.md §2.6, §1.3): work costs
its sender, a sender's share of the mempool and of a block is bounded, input
that used to be refused wrongly gets its precise answer, and a stop ends
promptly and loses nothing. Independent clients: only the wire is read."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import assert_error, sign  # noqa: E402

# Runs at the maximum gas must end with their receipt: under the sanitizers
# they can outlast the default time limit (450 ms, sized for a release
# build; docs/API.md §6.1, Time), so these nodes allow 10 s.
FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1",
        "--contract-time-limit-ms", "10000")
SERVER_FLAGS = FAST  # the node shared by the tests that take srv
GAS_PRICE = 1  # units per gas: the default --gas-price

LOOP = """
local function spin(ctx, n)
  local x = 0
  for i = 1, n do x = x + i end
  return x
end
return { [1] = spin }
"""


deploy_body, call_body = H.deploy_body, H.call_body


def receipt(srv, tx_id, timeout=60):
    got = {}

    def ready():
        r = srv.get("/api/v1/receipts/" + tx_id)
        if r.status_code == 200:
            got["r"] = r.json()
            return True
        return False

    H.wait_until(ready, timeout=timeout, what="receipt of %s" % tx_id)
    return got["r"]


def deployed(srv, key, nonce=0, gas_limit=1_000_000):
    tx_id = srv.submit_ok(sign(key, deploy_body(key, LOOP, nonce, gas_limit)))
    rc = receipt(srv, tx_id)
    assert rc["success"] is True, rc
    return rc["to"]


def post_raw(srv, text):
    return srv.post("/api/v1/transactions", data=text.encode(),
                    headers={"Content-Type": "application/json"})


# --------------------------------------------------------------------------
# Work costs its sender
# --------------------------------------------------------------------------

@H.timeout(90)
def test_a_key_the_chain_never_funded_can_neither_run_contracts_nor_fill_blocks(srv):
    owner = srv.funded_key(50 * H.UNITS_PER_COIN)
    contract = deployed(srv, owner)
    stranger = H.Key.generate()
    attempts = {
        "deploy": deploy_body(stranger, LOOP, 0, 1_000_000),
        "call": call_body(stranger, contract, 1, [10], 0, 1_000_000),
        "message": H.message_body(stranger, owner.address, "spam", 0),
        "create": H.create_body(stranger, {"spam": True}, 1, 0),
        "transfer": H.transfer_body(stranger, owner.address, 1, 0),
    }
    for kind, body in attempts.items():
        r = srv.submit(sign(stranger, body))
        assert_error(r, 422, "insufficient_funds")
    assert srv.account(stranger.address) in (None, {}) or \
        srv.account(stranger.address)["nonce"] == 0


@H.timeout(90)
def test_gas_limit_times_price_is_reserved_and_only_the_gas_used_is_paid(srv):
    key = srv.funded_key(3_000_000)  # 3 coins: less than 10M gas at 1 unit each
    r = srv.submit(sign(key, deploy_body(key, LOOP, 0, 10_000_000)))
    assert_error(r, 422, "insufficient_funds")
    before = srv.balance(key.address)
    tx_id = srv.submit_ok(sign(key, deploy_body(key, LOOP, 0, 2_000_000, fee=10)))
    rc = receipt(srv, tx_id)
    assert rc["success"] is True and 0 < rc["gas_used"] < 2_000_000, rc
    assert srv.balance(key.address) == before - 10 - rc["gas_used"] * GAS_PRICE
    # A call that runs out of gas pays all of it, and nothing more.
    before = srv.balance(key.address)
    call = srv.submit_ok(sign(key, call_body(key, rc["to"], 1, [10**9], 1, 50_000)))
    out = receipt(srv, call)
    assert out["success"] is False and "out of gas" in out["error"], out
    assert out["gas_used"] == 50_000, out
    assert srv.balance(key.address) == before - 50_000 * GAS_PRICE


@H.timeout(120)
def test_contracts_fill_a_block_only_up_to_the_block_gas_limit():
    with H.Server(*FAST, "--block-gas-limit", "10000000") as srv:
        key = srv.funded_key(100 * H.UNITS_PER_COIN)
        contract = deployed(srv, key)
        ids = [srv.submit_ok(sign(key, call_body(key, contract, 1, [1], n, 6_000_000)))
               for n in (1, 2, 3)]
        for t in ids:
            receipt(srv, t)
        heights = [srv.tx(t)["block_height"] for t in ids]
        assert len(set(heights)) == 3, "6M + 6M passes the 10M block limit: %r" % heights


@H.timeout(150)
def test_a_sender_can_have_at_most_max_pending_per_sender_transactions_pending():
    with H.Server(*FAST, "--max-pending-per-sender", "3") as srv:
        alice, bob = srv.funded_key(), srv.funded_key()
        # Blocks only every minute from now on: what is admitted stays pending.
        srv.restart("--dev", "--block-interval-ms", "60000", "--difficulty", "1",
                    "--max-pending-per-sender", "3")
        for n in range(3):
            srv.submit_ok(H.transfer(alice, bob.address, 1, n))
        r = srv.submit(H.transfer(alice, bob.address, 1, 3))
        assert_error(r, 429, "too_many_pending")
        srv.submit_ok(H.transfer(bob, alice.address, 1, 0))  # others are not held up


# --------------------------------------------------------------------------
# Precise answers to input that used to be refused wrongly
# --------------------------------------------------------------------------

@H.timeout(60)
def test_regress_u0000_in_a_memo_is_valid_json_and_reaches_the_recipient_whole(srv):
    alice = srv.funded_key()
    bob = H.random_address()
    body = H.message_body(alice, bob, "a\x00b", 0)
    tx = sign(alice, body)
    text = json.dumps(tx)  # Python writes the NUL as \u0000
    assert "\\u0000" in text
    r = post_raw(srv, text)
    assert r.status_code == 202, (r.status_code, r.text)
    srv.wait_confirmed(r.json()["tx_id"])
    assert srv.tx(r.json()["tx_id"])["memo"] == "a\x00b"


@H.timeout(60)
def test_regress_a_number_beyond_double_range_is_wrong_type_not_integer_overflow(srv):
    alice = srv.funded_key()
    text = json.dumps(H.transfer(alice, H.random_address(), 1, 0)).replace(
        '"fee": 0', '"fee": 1e400')
    assert "1e400" in text
    assert_error(post_raw(srv, text), 400, "wrong_type")


@H.timeout(60)
def test_regress_faucet_amount_of_2_pow_63_is_bad_amount(srv):
    r = srv.post("/api/v1/faucet", data='{"address": "%s", "amount": %d}' % (
        H.random_address(), 2 ** 63), headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_amount")


@H.timeout(60)
def test_regress_faucet_refuses_a_cross_origin_text_plain_post(srv):
    address = H.random_address()
    text = '{"address": "%s"}' % address
    r = srv.post("/api/v1/faucet", data=text, headers={
        "Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert_error(r, 403, "forbidden")
    # The node's own pages may; so may a client that sends no Origin (curl).
    own = "http://127.0.0.1:%d" % srv.port
    r = srv.post("/api/v1/faucet", data=text, headers={"Content-Type": "text/plain",
                                                        "Origin": own})
    assert r.status_code == 202, (r.status_code, r.text)
    r = srv.post("/api/v1/faucet", data=text, headers={"Content-Type": "text/plain"})
    assert r.status_code == 202, (r.status_code, r.text)


# --------------------------------------------------------------------------
# A stop ends promptly and loses nothing
# --------------------------------------------------------------------------

@H.timeout(240)
def test_sigterm_while_a_block_of_contracts_is_built_stops_and_the_block_is_built_after_restart():
    srv = H.Server(*FAST, name="stop-node")
    try:
        srv.start()
        key = srv.funded_key(200 * H.UNITS_PER_COIN)
        contract = deployed(srv, key)
        # Two calls at the largest gas: together they fill a block's gas.
        ids = [srv.submit_ok(sign(key, call_body(key, contract, 1, [10**12], n, 10_000_000)))
               for n in (1, 2)]
        time.sleep(0.3)  # not for an assertion: to land the stop inside the block's build
        t0 = time.monotonic()
        srv.stop()  # SIGTERM: exit code 0, no sanitizer report, within the harness's deadline
        took = time.monotonic() - t0
        print("     stop took %.2f s" % took, flush=True)
        srv.start()
        for t in ids:
            rc = receipt(srv, t, timeout=120)
            assert rc["success"] is False and "out of gas" in rc["error"], rc
            assert rc["gas_used"] == 10_000_000, rc
        srv.stop()
    finally:
        srv.cleanup()
