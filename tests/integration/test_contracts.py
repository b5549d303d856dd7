"""Contracts (docs/API.md §6, the receipts of seed 002) as an independent
client sees them: deploy and call transactions signed as §2 says, the
receipts at GET /api/v1/receipts/{tx_id}, the contract's address computed
from the deployer's address and nonce, storage that persists across calls
and a restart, the example contracts in examples/contracts/, every failure
a contract can provoke (syntax, runtime errors, gas, memory, recursion, the
sandbox, the limits), the submission refusals, amounts sent to a contract,
the tx and receipt events on the SSE stream, and determinism.

One dev node (difficulty 1, 100 ms blocks) serves the whole file; one test
restarts it on its data directory. Each test makes its own keys, so tests do
not depend on each other's state. Calls that do not depend on each other's
receipts are submitted back to back (the node counts pending nonces) and
waited for together, to keep the file fast."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import assert_error, sign  # noqa: E402

EXAMPLES = os.path.join(H.REPO_ROOT, "examples", "contracts")

FEE = 1000                 # units, paid by every contract transaction below
GAS_PRICE = 1              # units per gas: the node's default --gas-price (docs/API.md §2.6)
GAS = 1_000_000            # the default gas_limit of the deploys and calls below
MAX_GAS = 10_000_000       # docs/API.md §6, Limits
CODE_LIMIT = 64 * 1024     # bytes of source
ARG_LIMIT = 4 * 1024       # bytes of one argument
RECEIPT_FIELDS = ["tx_id", "type", "success", "gas_used", "to", "return_data", "logs", "error"]
RECEIPT_KEYS = set(RECEIPT_FIELDS)


# Runs near the maximum gas must end with their receipt: under the
# sanitizers they can outlast the default time limit (450 ms, sized for
# a release build; docs/API.md §6.1, Time), so this node allows 10 s.
SERVER_FLAGS = ("--dev", "--difficulty", "1", "--block-interval-ms", "100",
                "--contract-time-limit-ms", "10000")
SERVER_NAME = "contracts-node"


def example(name):
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
        return f.read()


# --------------------------------------------------------------------------
# Addresses, words, bodies
# --------------------------------------------------------------------------

vm_address = H.vm_address


def word(n):
    """An integer return: one 32-byte big-endian two's-complement word."""
    return (n & (2 ** 256 - 1)).to_bytes(32, "big").hex()


def text(s):
    """A string return: its bytes, as hex."""
    return s.encode("utf-8").hex()


def deploy_body(key, code, nonce, gas_limit=GAS, fee=FEE):
    return H.deploy_body(key, code, nonce, gas_limit, fee)


def call_body(key, to, selector, args, nonce, gas_limit=GAS, fee=FEE, amount=None):
    return H.call_body(key, to, selector, args, nonce, gas_limit, fee, amount)


class Wallet:
    """A funded key that numbers its own transactions: every accepted one
    takes the next nonce, so calls can be submitted back to back."""

    def __init__(self, srv, units=100 * H.UNITS_PER_COIN):
        self.srv = srv
        self.key = srv.funded_key(units)
        self.address = self.key.address
        self.nonce = 0

    def deploy(self, code, gas_limit=GAS, fee=FEE):
        """Submits a deploy (asserting 202); returns (tx_id, the address it
        deploys to when it succeeds)."""
        tx = sign(self.key, deploy_body(self.key, code, self.nonce, gas_limit, fee))
        tx_id = self.srv.submit_ok(tx)
        address = vm_address(self.address, self.nonce)
        self.nonce += 1
        return tx_id, address

    def call(self, to, selector, args=(), gas_limit=GAS, fee=FEE, amount=None):
        """Submits a call (asserting 202); returns its tx_id."""
        tx = sign(self.key, call_body(self.key, to, selector, args, self.nonce, gas_limit, fee,
                                      amount))
        tx_id = self.srv.submit_ok(tx)
        self.nonce += 1
        return tx_id

    def refused_call(self, to, selector, args=(), **kw):
        """The response to a call that should be refused (the nonce is not used)."""
        return self.srv.submit(sign(self.key, call_body(self.key, to, selector, args,
                                                        self.nonce, **kw)))

    def refused_deploy(self, code, **kw):
        return self.srv.submit(sign(self.key, deploy_body(self.key, code, self.nonce, **kw)))


# --------------------------------------------------------------------------
# Receipts
# --------------------------------------------------------------------------

def check_receipt(rc, tx_id, kind):
    """The seed's receipt: exactly its keys, each of its type."""
    assert isinstance(rc, dict) and set(rc) == RECEIPT_KEYS, \
        "receipt keys %s, want %s: %r" % (sorted(rc), sorted(RECEIPT_KEYS), rc)
    assert rc["tx_id"] == tx_id, (rc, tx_id)
    assert rc["type"] == kind, rc
    assert isinstance(rc["success"], bool), rc
    assert isinstance(rc["gas_used"], int) and not isinstance(rc["gas_used"], bool) \
        and rc["gas_used"] >= 0, rc
    assert rc["to"] is None or H.is_hex(rc["to"], 40), rc
    rd = rc["return_data"]
    assert isinstance(rd, str) and len(rd) % 2 == 0 and H.HEX_RE.match(rd), rc
    assert isinstance(rc["logs"], list), rc
    for log in rc["logs"]:
        assert isinstance(log, dict) and set(log) == {"name", "value"}, rc
    if rc["success"]:
        assert rc["error"] is None, rc
    else:
        assert isinstance(rc["error"], str) and rc["error"], rc


def receipt(srv, tx_id, timeout=30):
    """The receipt of tx_id once the transaction is confirmed: a receipt is
    persisted with its block, so it must be there as soon as the block is."""
    tx = srv.wait_confirmed(tx_id, timeout)
    r = srv.get("/api/v1/receipts/" + tx_id)
    assert r.status_code == 200, "GET receipt of confirmed %s %s: %d %s" % (
        tx["kind"], tx_id, r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    rc = r.json()
    check_receipt(rc, tx_id, tx["kind"])
    assert list(rc) == RECEIPT_FIELDS, "receipt keys not in the seed's order: %s" % list(rc)
    return rc


def receipts(srv, tx_ids):
    return [receipt(srv, t) for t in tx_ids]


def ok(rc, return_data=None):
    assert rc["success"] is True, "call failed: %r" % rc
    if return_data is not None:
        assert rc["return_data"] == return_data, "return_data %s, want %s" % (
            rc["return_data"], return_data)
    return rc


def failed(rc, *fragments):
    """Asserts a failed receipt whose error holds one of fragments (any
    error when none given); a failure undoes logs and returns nothing."""
    assert rc["success"] is False, "expected a failure (%s), got %r" % (" or ".join(fragments),
                                                                          rc)
    if fragments:
        assert any(f in rc["error"] for f in fragments), "error %r lacks %s" % (
            rc["error"], " or ".join(repr(f) for f in fragments))
    assert rc["logs"] == [], "a failed call keeps no logs: %r" % rc
    assert rc["return_data"] == "", "a failed call returns nothing: %r" % rc
    return rc


def deployed(srv, wallet, code, gas_limit=GAS):
    """Deploys code, asserts the success receipt; returns (address, receipt)."""
    tx_id, address = wallet.deploy(code, gas_limit)
    rc = receipt(srv, tx_id)
    assert rc == {"tx_id": tx_id, "type": "deploy", "success": True, "gas_used": rc["gas_used"],
                  "to": address, "return_data": "", "logs": [], "error": None}, \
        "deploy receipt %r (want to=%s)" % (rc, address)
    assert rc["gas_used"] > 0, rc
    return address, rc


def gas_note(label, rc):
    print("    gas %-40s %d" % (label, rc["gas_used"]), flush=True)


def healthy(srv):
    r = srv.get("/healthz")
    assert r.status_code == 200 and r.text.strip() == "ok", (r.status_code, r.text)


# A contract for the tests: it shows ctx, echoes arguments, and provokes
# the results and failures of §6 on demand.
PROBE = r"""
local function echo(ctx, x) return x end
local function field(name) return function(ctx) return ctx[name] end end
local function set(ctx, key, value) storage.set(key, value) end
local function get(ctx, key) return storage.get(key) end
local function set_emit_then_fail(ctx, key, value)
    storage.set(key, value)
    emit("before", value)
    error("boom")
end
local function emit_one(ctx, name, value) emit(name, value) end
local function emit_n(ctx, n, size)
    for i = 1, n do emit("e", string.rep("x", size)) end
end
local function rep(ctx, n) return string.rep("y", n) end
local function arg_types(ctx, ...)
    local out = {}
    for i = 1, select("#", ...) do
        local v = select(i, ...)
        out[i] = math.type(v) or type(v)
    end
    return table.concat(out, ",")
end
local function ctx_types(ctx)
    return math.type(ctx.amount) .. "," .. math.type(ctx.height) .. "," ..
           type(ctx.sender) .. "," .. type(ctx.contract)
end
return {
    [1] = echo, [2] = field("amount"), [3] = field("height"), [4] = field("sender"),
    [5] = field("contract"), [6] = set, [7] = get, [8] = set_emit_then_fail,
    [9] = emit_one, [10] = emit_n, [11] = rep, [12] = arg_types, [13] = ctx_types,
    [20] = function() return 1.5 end,
    [21] = function() return {} end,
    [22] = function() return function() end end,
    [23] = function() return true end,
    [24] = function() return false end,
    [25] = function() return nil end,
    [26] = function() end,
    [27] = function() error("boom") end,
    [28] = function() return math.maxinteger end,
    [29] = function() return math.mininteger end,
}
"""

# Contracts that attack the node: gas, memory, recursion, metering.
HOSTILE = r"""
local function spin() while true do end end
local function double() local s = "x" while true do s = s .. s end end
local function recurse(n) return 1 + recurse(n + 1) end
local function c_recurse(s) return (string.gsub(s, ".", c_recurse)) end
return {
    [1] = function(ctx) spin() end,
    [2] = function(ctx) pcall(spin) return 7 end,
    [3] = function(ctx) local t, i = {}, 1 while true do t[i] = i i = i + 1 end end,
    [4] = function(ctx) double() end,
    [5] = function(ctx) pcall(double) return 7 end,
    [6] = function(ctx) return recurse(1) end,
    [7] = function(ctx) return c_recurse("x") end,
    [8] = function(ctx, n) return #string.rep("x", n) end,
    [9] = function(ctx, n)
        local s, hits = string.rep("ab", 500000), 0
        for i = 1, n do
            if string.find(s, "c", 1, true) then hits = hits + 1 end
        end
        return hits
    end,
    [10] = function(ctx)
        local t = {}
        for i = 1, 200000 do t[i] = "xxxxxxxx" end
        local s = table.concat(t)
        for i = 1, 50 do s = table.concat(t) end
        return #s
    end,
}
"""

# The sandbox: none of these may exist (§6: "Nothing else").
FORBIDDEN = ["os", "io", "require", "load", "loadfile", "dofile", "debug", "collectgarbage",
             "package", "string.dump", "math.random", "math.randomseed", "(\"\").dump"]
SANDBOX = r"""
local function method_dump()   -- strings' metatable may be gone altogether: that is fine too
    local found, dump = pcall(function() return ("").dump end)
    return found and type(dump) or "nil"
end
local function probe(ctx)
    return type(os) .. "," .. type(io) .. "," .. type(require) .. "," .. type(load) .. "," ..
           type(loadfile) .. "," .. type(dofile) .. "," .. type(debug) .. "," ..
           type(collectgarbage) .. "," .. type(package) .. "," .. type(string.dump) .. "," ..
           type(math.random) .. "," .. type(math.randomseed) .. "," .. method_dump()
end
return {
    [1] = probe,
    [2] = function(ctx) return os.time() end,
    [3] = function(ctx) io.write("x") return 1 end,
    [4] = function(ctx) return require("os") end,
    [5] = function(ctx) return load("return 1")() end,
    [6] = function(ctx) return debug.traceback() end,
    [7] = function(ctx) return dofile("/etc/hostname") end,
    [8] = function(ctx) return string.dump(probe) end,
    [9] = function(ctx) return collectgarbage("count") end,
    [10] = function(ctx) return math.random(1, 6) end,
}
"""

# pairs over a table of mixed keys, flattened into a string.
PAIRS = r"""
local function keys(ctx)
    local t = {}
    for i = 1, 8 do t[i] = i end
    t[5] = nil
    t[100] = 1; t[-7] = 1; t[0] = 1; t[math.maxinteger] = 1
    for i = 1, 48 do t["k" .. (i * 7919 % 1000)] = i end
    t["Z"] = 1; t["a b"] = 1; t[""] = 1; t["\xff"] = 1
    local out = {}
    for k in pairs(t) do out[#out + 1] = tostring(k) end
    return table.concat(out, ",")
end
return { [1] = keys }
"""


# --------------------------------------------------------------------------
# Deploy
# --------------------------------------------------------------------------

@H.timeout(60)
def test_deploy_is_202_and_its_receipt_names_the_vm_address_of_sender_and_nonce(srv):
    w = Wallet(srv)
    before = srv.balance(w.address)
    code = example("counter.lua")
    tx = sign(w.key, deploy_body(w.key, code, 0))
    r = srv.submit(tx)
    assert r.status_code == 202, (r.status_code, r.text[:300])
    assert r.json() == {"tx_id": H.tx_id_of(tx), "status": "pending"}, r.json()
    tx_id = r.json()["tx_id"]
    rc = receipt(srv, tx_id)
    address = vm_address(w.address, 0)
    assert rc == {"tx_id": tx_id, "type": "deploy", "success": True, "gas_used": rc["gas_used"],
                  "to": address, "return_data": "", "logs": [], "error": None}, \
        "deploy receipt %r (want to=%s)" % (rc, address)
    assert rc["gas_used"] > 0, rc
    gas_note("deploy counter.lua", rc)
    got = srv.tx(tx_id)
    assert got["kind"] == "deploy" and got["code"] == code and got["gas_limit"] == GAS, got
    acc = srv.account(w.address)
    assert acc["nonce"] == 1 and acc["balance"] == before - FEE - rc["gas_used"] * GAS_PRICE, \
        (acc, before, rc["gas_used"])

    # A second deploy of the same code by the same key: nonce 1, a new address.
    w.nonce = 1
    address2, _rc = deployed(srv, w, code)
    assert address2 == vm_address(w.address, 1) != address


def test_receipt_of_an_unknown_transaction_or_of_a_transfer_is_404_not_found(srv):
    assert_error(srv.get("/api/v1/receipts/" + "ab" * 32), 404, "not_found")
    grant = srv.fund(H.random_address(), 5)
    assert_error(srv.get("/api/v1/receipts/" + grant), 404, "not_found")


# --------------------------------------------------------------------------
# The counter: return data and storage
# --------------------------------------------------------------------------

@H.timeout(60)
def test_counter_returns_1_then_2_as_32_byte_words_and_get_reads_storage(srv):
    w = Wallet(srv)
    counter, _ = deployed(srv, w, example("counter.lua"))
    first = ok(receipt(srv, w.call(counter, 1)), word(1))
    assert len(first["return_data"]) == 64 and first["to"] == counter, first
    assert first["type"] == "call" and first["logs"] == [], first
    gas_note("counter.increment()", first)
    second = ok(receipt(srv, w.call(counter, 1)), word(2))
    gas_note("counter.increment() again", second)
    got = ok(receipt(srv, w.call(counter, 2)), word(2))
    gas_note("counter.get()", got)
    # In one block, back to back: each call sees the one before.
    ids = [w.call(counter, 1, [40]), w.call(counter, 1, [-50]), w.call(counter, 2)]
    rcs = receipts(srv, ids)
    assert [r["return_data"] for r in rcs] == [word(42), word(-8), word(-8)], rcs
    assert rcs[1]["return_data"] == "f" * 62 + "f8", rcs[1]
    gas_note("counter.increment(40)", rcs[0])
    for r in rcs:
        assert r["gas_used"] > 0, r


@H.timeout(60)
def test_return_values_integers_booleans_strings_and_nothing_are_encoded_as_documented(srv):
    w = Wallet(srv)
    probe, _ = deployed(srv, w, PROBE)
    big = 2 ** 63 - 1
    cases = [
        ((1, [0]), word(0)),
        ((1, [-1]), "f" * 64),
        ((1, [big]), "00" * 24 + "7fffffffffffffff"),
        ((1, [-big - 1]), "f" * 48 + "8000000000000000"),
        ((1, ["hi"]), "6869"),
        ((1, ["\u00e9\u20ac \U0001F680"]), text("\u00e9\u20ac \U0001F680")),
        ((1, [""]), ""),
        ((28, []), word(big)),
        ((29, []), word(-big - 1)),
        ((23, []), word(1)),
        ((24, []), word(0)),
        ((25, []), ""),
        ((26, []), ""),
    ]
    ids = [w.call(probe, sel, args) for (sel, args), _want in cases]
    for ((sel, args), want), rc in zip(cases, receipts(srv, ids)):
        assert rc["success"] is True, (sel, args, rc)
        assert rc["return_data"] == want, "selector %d %r: return_data %s, want %s" % (
            sel, args, rc["return_data"], want)


@H.timeout(60)
def test_call_sees_ctx_sender_amount_height_and_contract_and_args_as_lua_types(srv):
    w = Wallet(srv)
    probe, _ = deployed(srv, w, PROBE)
    ids = [w.call(probe, 4), w.call(probe, 5), w.call(probe, 2), w.call(probe, 2, amount=12345),
           w.call(probe, 3), w.call(probe, 13),
           w.call(probe, 12, [1, "a", -5, "", 2 ** 63 - 1, "12"])]
    rcs = receipts(srv, ids)
    for rc in rcs:
        assert rc["success"] is True, rc
    assert rcs[0]["return_data"] == text(w.address), rcs[0]
    assert rcs[1]["return_data"] == text(probe), rcs[1]
    assert rcs[2]["return_data"] == word(0), rcs[2]
    assert rcs[3]["return_data"] == word(12345), rcs[3]
    height = srv.tx(ids[4])["block_height"]
    assert rcs[4]["return_data"] == word(height), (rcs[4], height)
    assert rcs[5]["return_data"] == text("integer,integer,string,string"), \
        bytes.fromhex(rcs[5]["return_data"])
    assert rcs[6]["return_data"] == text("integer,string,integer,string,integer,string"), \
        bytes.fromhex(rcs[6]["return_data"])


@H.timeout(90)
def test_storage_persists_across_calls_and_a_restart(srv):
    w = Wallet(srv)
    counter, _ = deployed(srv, w, example("counter.lua"))
    pairs_addr, _ = deployed(srv, w, PAIRS)
    ids = [w.call(counter, 1), w.call(counter, 1, [2]), w.call(counter, 2),
           w.call(pairs_addr, 1)]
    before = receipts(srv, ids)
    assert before[1]["return_data"] == word(3), before[1]
    ok(before[2], word(3))
    order = ok(before[3])["return_data"]

    srv.restart()

    # Committed receipts, state and accounts survive.
    for t, rc in zip(ids, before):
        assert receipt(srv, t) == rc, t
    assert srv.account(w.address)["nonce"] == w.nonce
    after = receipts(srv, [w.call(counter, 2), w.call(counter, 1, [10]), w.call(pairs_addr, 1)])
    ok(after[0], word(3))
    ok(after[1], word(13))
    assert after[2]["return_data"] == order, "pairs order changed across a restart:\n%s\n%s" % (
        bytes.fromhex(order), bytes.fromhex(after[2]["return_data"]))
    # The same call on the same state costs the same gas, before and after.
    assert after[0]["gas_used"] == before[2]["gas_used"], (before[2], after[0])


# --------------------------------------------------------------------------
# The token
# --------------------------------------------------------------------------

@H.timeout(90)
def test_token_mint_transfer_balance_of_and_total_supply(srv):
    alice, bob = Wallet(srv), Wallet(srv)
    carol = H.random_address()
    token, _ = deployed(srv, alice, example("token.lua"))
    ids = [alice.call(token, 1, [1000]),             # alice mints and becomes the owner
           alice.call(token, 2, [bob.address, 300]),
           alice.call(token, 3, [alice.address]),
           alice.call(token, 3, [bob.address]),
           alice.call(token, 3, [carol]),
           alice.call(token, 4)]
    mint, xfer, bal_a, bal_b, bal_c, supply = receipts(srv, ids)
    ok(mint, word(1000))
    assert mint["logs"] == [{"name": "mint", "value": "%s:1000" % alice.address}], mint
    ok(xfer, word(1))
    assert xfer["logs"] == [{"name": "transfer",
                             "value": "%s:%s:300" % (alice.address, bob.address)}], xfer
    ok(bal_a, word(700))
    ok(bal_b, word(300))
    ok(bal_c, word(0))
    ok(supply, word(1000))
    for label, rc in (("token.mint(1000)", mint), ("token.transfer(bob, 300)", xfer),
                      ("token.balance_of(alice)", bal_a), ("token.total_supply()", supply)):
        gas_note(label, rc)

    # bob is not the owner; bob passes on 100 to carol; upper-case hex is the same address.
    ids = [bob.call(token, 1, [5]), bob.call(token, 2, [carol.upper(), 100]),
           bob.call(token, 3, [carol]), bob.call(token, 3, [bob.address.upper()]),
           bob.call(token, 4)]
    mint_b, xfer_b, bal_c, bal_b, supply = receipts(srv, ids)
    failed(mint_b, "only the owner")
    ok(xfer_b, word(1))
    assert xfer_b["logs"] == [{"name": "transfer",
                               "value": "%s:%s:100" % (bob.address, carol)}], xfer_b
    ok(bal_c, word(100))
    ok(bal_b, word(200))
    ok(supply, word(1000))


@H.timeout(60)
def test_token_transfer_beyond_balance_fails_changes_nothing_and_still_costs_the_fee(srv):
    alice, bob = Wallet(srv), Wallet(srv)
    token, _ = deployed(srv, alice, example("token.lua"))
    receipts(srv, [alice.call(token, 1, [500]), alice.call(token, 2, [bob.address, 50])])
    balance, nonce = srv.balance(bob.address), srv.account(bob.address)["nonce"]

    over = receipt(srv, bob.call(token, 2, [alice.address, 51]))
    failed(over, "insufficient balance")
    assert over["to"] == token, over
    gas_note("token.transfer beyond balance (failed)", over)
    acc = srv.account(bob.address)
    assert acc["balance"] == balance - FEE - over["gas_used"] * GAS_PRICE, \
        "the fee and the gas used are paid: %d → %d" % (balance, acc["balance"])
    assert acc["nonce"] == nonce + 1, "the nonce is used: %r" % acc

    ids = [bob.call(token, 3, [bob.address]), bob.call(token, 3, [alice.address]),
           bob.call(token, 2, [alice.address, 50])]           # the whole balance: fine
    rcs = receipts(srv, ids)
    ok(rcs[0], word(50))
    ok(rcs[1], word(450))
    ok(rcs[2], word(1))
    # wrong argument types are failed receipts, not refusals
    rcs = receipts(srv, [bob.call(token, 2, [12345, 1]), bob.call(token, 2, [alice.address, "1"]),
                         bob.call(token, 3, [7])])
    for rc in rcs:
        failed(rc)


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------

@H.timeout(60)
def test_registry_register_owner_of_and_transfer_by_the_owner_only(srv):
    alice, bob = Wallet(srv), Wallet(srv)
    dave = H.random_address()
    registry, _ = deployed(srv, alice, example("registry.lua"))
    ids = [alice.call(registry, 1, ["alice.ll"]), bob.call(registry, 1, ["alice.ll"]),
           bob.call(registry, 2, ["alice.ll"]), bob.call(registry, 2, ["nobody.ll"]),
           bob.call(registry, 3, ["alice.ll", bob.address])]
    reg, taken, owner, nobody, stolen = receipts(srv, ids)
    ok(reg, word(1))
    assert reg["logs"] == [{"name": "register", "value": "alice.ll"}], reg
    failed(taken, "taken")
    ok(owner, text(alice.address))
    assert bytes.fromhex(owner["return_data"]).decode() == alice.address, owner
    ok(nobody, "")
    failed(stolen, "only the owner")
    gas_note("registry.register(name)", reg)
    gas_note("registry.owner_of(name)", owner)

    ids = [alice.call(registry, 3, ["alice.ll", dave]), alice.call(registry, 2, ["alice.ll"]),
           alice.call(registry, 3, ["alice.ll", alice.address]),   # no longer hers
           bob.call(registry, 1, ["bob.ll"]), alice.call(registry, 2, ["bob.ll"])]
    given, owner, back, reg_b, owner_b = receipts(srv, ids)
    ok(given, word(1))
    assert given["logs"] == [{"name": "transfer", "value": "alice.ll:" + dave}], given
    gas_note("registry.transfer(name, owner)", given)
    ok(owner, text(dave))
    failed(back, "only the owner")
    ok(reg_b, word(1))
    ok(owner_b, text(bob.address))


# --------------------------------------------------------------------------
# Failures inside a contract: failed receipts
# --------------------------------------------------------------------------

@H.timeout(60)
def test_failed_deploys_have_to_null_deploy_nothing_and_cost_the_fee(srv):
    w = Wallet(srv)
    balance = srv.balance(w.address)
    codes = [
        ("syntax", "return { [1] = function(ctx) return 1 end", GAS),
        ("runtime error", 'error("deploy boom")\nreturn { [1] = function(ctx) end }', GAS),
        ("not a table", "return 42", GAS),
        ("a selector that is no function", "return { [1] = 42 }", GAS),
        ("out of gas", "while true do end\nreturn { [1] = function(ctx) end }", 100_000),
    ]
    sent = [w.deploy(code, gas_limit) for _label, code, gas_limit in codes]
    rcs = receipts(srv, [t for t, _a in sent])
    for (label, _code, _g), rc in zip(codes, rcs):
        assert rc["success"] is False and rc["to"] is None, "%s: %r" % (label, rc)
        assert rc["return_data"] == "" and rc["logs"] == [], "%s: %r" % (label, rc)
    assert "'}' expected near <eof>" in rcs[0]["error"], "Lua's message: %r" % rcs[0]
    assert "deploy boom" in rcs[1]["error"], rcs[1]
    assert "out of gas" in rcs[4]["error"] and rcs[4]["gas_used"] <= 100_000, rcs[4]
    acc = srv.account(w.address)
    gas = sum(rc["gas_used"] for rc in rcs) * GAS_PRICE
    assert acc["nonce"] == len(codes) and acc["balance"] == balance - len(codes) * FEE - gas, acc
    # Nothing was deployed at any of those addresses.
    for _tx_id, address in sent:
        assert_error(w.refused_call(address, 1), 422, "unknown_contract")
    # The next deploy (nonce 5) works and lands at its own address.
    address, _ = deployed(srv, w, "return { [1] = function(ctx) return 5 end }")
    assert address == vm_address(w.address, len(codes))
    ok(receipt(srv, w.call(address, 1)), word(5))


@H.timeout(60)
def test_unknown_selector_wrong_argument_type_error_and_bad_returns_fail_the_call(srv):
    w = Wallet(srv)
    counter, _ = deployed(srv, w, example("counter.lua"))
    probe, _ = deployed(srv, w, PROBE)
    ids = [w.call(counter, 99), w.call(counter, 0), w.call(counter, 1, ["x"]),
           w.call(probe, 27), w.call(probe, 20), w.call(probe, 21), w.call(probe, 22),
           w.call(counter, 2)]
    unknown, zero, wrong, boom, flt, tbl, fn, get = receipts(srv, ids)
    for rc in (unknown, zero, wrong):
        failed(rc)
        assert rc["to"] == counter, rc
    failed(unknown, "unknown selector 99")
    failed(zero, "unknown selector 0")
    failed(boom, "boom")
    for rc in (flt, tbl, fn):
        failed(rc, "unsupported return type")
        assert rc["error"] == "unsupported return type", rc
    ok(get, word(0))   # the failed increment wrote nothing


@H.timeout(60)
def test_failed_call_reverts_its_storage_writes_and_logs(srv):
    w = Wallet(srv)
    probe, _ = deployed(srv, w, PROBE)
    ids = [w.call(probe, 6, ["k", "kept"]), w.call(probe, 8, ["k", "lost"]),
           w.call(probe, 8, ["fresh", 5]), w.call(probe, 7, ["k"]), w.call(probe, 7, ["fresh"]),
           w.call(probe, 9, ["name", "value"])]
    put, lost, fresh, get_k, get_fresh, logged = receipts(srv, ids)
    ok(put, "")
    failed(lost, "boom")
    failed(fresh, "boom")
    ok(get_k, text("kept"))
    ok(get_fresh, "")
    ok(logged)
    assert logged["logs"] == [{"name": "name", "value": "value"}], logged
    # An integer is stored as an integer.
    rcs = receipts(srv, [w.call(probe, 6, ["n", -2]), w.call(probe, 7, ["n"])])
    ok(rcs[1], word(-2))


@H.timeout(60)
def test_infinite_loop_runs_out_of_gas_at_exactly_its_gas_limit_even_inside_pcall(srv):
    w = Wallet(srv)
    hostile, _ = deployed(srv, w, HOSTILE)
    ids = [w.call(hostile, 1, gas_limit=100_000), w.call(hostile, 2, gas_limit=100_000),
           w.call(hostile, 1, gas_limit=12_345)]
    for rc, limit in zip(receipts(srv, ids), (100_000, 100_000, 12_345)):
        failed(rc, "out of gas")
        assert rc["gas_used"] == limit, "gas_used %d, gas_limit %d: %r" % (rc["gas_used"],
                                                                           limit, rc)
    healthy(srv)


@H.timeout(60)
def test_memory_bombs_fail_out_of_memory_or_gas_even_inside_pcall(srv):
    w = Wallet(srv)
    hostile, _ = deployed(srv, w, HOSTILE)
    ids = [w.call(hostile, 3, gas_limit=MAX_GAS), w.call(hostile, 4, gas_limit=MAX_GAS),
           w.call(hostile, 5, gas_limit=MAX_GAS), w.call(hostile, 8, [2 ** 40], gas_limit=MAX_GAS)]
    labels = ["a table growing forever", "string doubling", "string doubling in pcall",
              "string.rep of 1 TiB"]
    for label, rc in zip(labels, receipts(srv, ids)):
        assert rc["success"] is False, "%s: %r" % (label, rc)
        assert "out of memory" in rc["error"] or "out of gas" in rc["error"], \
            "%s: %r" % (label, rc)
        assert rc["gas_used"] <= MAX_GAS, rc
    healthy(srv)
    ok(receipt(srv, w.call(hostile, 8, [1000])), word(1000))   # the contract still works


@H.timeout(60)
def test_deep_recursion_fails_the_call_and_the_node_keeps_answering(srv):
    w = Wallet(srv)
    hostile, _ = deployed(srv, w, HOSTILE)
    ids = [w.call(hostile, 6, gas_limit=MAX_GAS), w.call(hostile, 7, gas_limit=MAX_GAS)]
    for label, rc in zip(("Lua recursion", "recursion through string.gsub"),
                         receipts(srv, ids)):
        assert rc["success"] is False, "%s: %r" % (label, rc)
        assert rc["return_data"] == "" and rc["logs"] == [], rc
    healthy(srv)
    assert srv.alive()


@H.timeout(60)
def test_library_functions_are_metered_by_the_bytes_they_touch(srv):
    # §6: string.rep, find, table.concat … are charged per byte or element,
    # "so that no single call escapes metering".
    w = Wallet(srv)
    hostile, _ = deployed(srv, w, HOSTILE)
    ids = [w.call(hostile, 8, [8_000_000], gas_limit=100_000),   # 8 MB from one call
           w.call(hostile, 9, [200], gas_limit=3_000_000),       # 200 scans of 1 MB
           w.call(hostile, 10, gas_limit=3_000_000)]             # 50 concats of 1.6 MB
    for label, rc, limit in zip(("string.rep 8 MB", "string.find x200 over 1 MB",
                                 "table.concat x50 of 200000 elements"),
                                receipts(srv, ids), (100_000, 3_000_000, 3_000_000)):
        assert rc["success"] is False and "out of gas" in rc["error"], "%s: %r" % (label, rc)
        assert rc["gas_used"] == limit, "%s: %r" % (label, rc)


@H.timeout(60)
def test_sandbox_offers_no_os_io_require_load_debug_or_randomness(srv):
    w = Wallet(srv)
    sandbox, _ = deployed(srv, w, SANDBOX)
    ids = [w.call(sandbox, 1)] + [w.call(sandbox, sel) for sel in range(2, 11)]
    rcs = receipts(srv, ids)
    probe = bytes.fromhex(ok(rcs[0])["return_data"]).decode()
    assert dict(zip(FORBIDDEN, probe.split(","))) == {name: "nil" for name in FORBIDDEN}, probe
    for label, rc in zip(["os.time()", "io.write", "require", "load", "debug.traceback",
                          "dofile", "string.dump", "collectgarbage", "math.random"], rcs[1:]):
        assert rc["success"] is False, "%s: %r" % (label, rc)
        assert rc["return_data"] == "", rc


# --------------------------------------------------------------------------
# Limits inside the call: failed receipts
# --------------------------------------------------------------------------

@H.timeout(60)
def test_return_data_and_logs_over_their_limits_fail_the_call(srv):
    w = Wallet(srv)
    probe, _ = deployed(srv, w, PROBE)
    ids = [w.call(probe, 11, [4096]), w.call(probe, 11, [4097]),
           w.call(probe, 10, [64, 10]), w.call(probe, 10, [65, 10]),
           w.call(probe, 9, ["n", "v" * 1000]), w.call(probe, 9, ["n", "v" * 1025])]
    ret_ok, ret_big, logs_ok, logs_many, log_ok, log_big = receipts(srv, ids)
    ok(ret_ok, "79" * 4096)
    failed(ret_big, "return data too large")
    ok(logs_ok)
    assert logs_ok["logs"] == [{"name": "e", "value": "x" * 10}] * 64, len(logs_ok["logs"])
    failed(logs_many)
    ok(log_ok)
    assert log_ok["logs"] == [{"name": "n", "value": "v" * 1000}], log_ok
    failed(log_big)


@H.timeout(60)
def test_storage_and_logs_cost_one_gas_per_byte(srv):
    # §6: storage.set and emit cost "a fixed cost plus 1 per byte stored or
    # logged": the same code path with 90 more bytes costs 90 more gas.
    w = Wallet(srv)
    probe, _ = deployed(srv, w, PROBE)
    ids = [w.call(probe, 6, ["ka", "s" * 10]), w.call(probe, 6, ["kb", "s" * 100]),
           w.call(probe, 9, ["e", "l" * 10]), w.call(probe, 9, ["e", "l" * 100])]
    set10, set100, log10, log100 = [ok(rc) for rc in receipts(srv, ids)]
    assert set100["gas_used"] - set10["gas_used"] == 90, (set10["gas_used"], set100["gas_used"])
    assert log100["gas_used"] - log10["gas_used"] == 90, (log10["gas_used"], log100["gas_used"])


# --------------------------------------------------------------------------
# Refused at submission
# --------------------------------------------------------------------------

@H.timeout(60)
def test_call_to_an_address_without_a_contract_is_422_unknown_contract(srv):
    w = Wallet(srv)
    for address in (os.urandom(20).hex(), vm_address(w.address, 0)):
        assert_error(w.refused_call(address, 1), 422, "unknown_contract")
    assert srv.account(w.address)["nonce"] == 0


@H.timeout(60)
def test_args_other_than_integers_and_strings_are_400_bad_args(srv):
    w = Wallet(srv)
    counter, _ = deployed(srv, w, example("counter.lua"))
    for args in ([1.5], [1, 2.0], [{"a": 1}], [[1]], [True], [None], ["ok", {}]):
        r = w.refused_call(counter, 1, args)
        assert_error(r, 400, "bad_args")
    ok(receipt(srv, w.call(counter, 1, [3])), word(3))  # the nonce was never used


@H.timeout(60)
def test_gas_limit_over_ten_million_is_422_bad_gas_limit_and_zero_is_refused(srv):
    w = Wallet(srv)
    counter, _ = deployed(srv, w, example("counter.lua"))
    assert_error(w.refused_call(counter, 1, gas_limit=MAX_GAS + 1), 422, "bad_gas_limit")
    assert_error(w.refused_deploy(example("counter.lua"), gas_limit=MAX_GAS + 1), 422,
                 "bad_gas_limit")
    # docs/API.md §6.1: gas_limit is 1 … 10,000,000; which code refuses 0 is not written down.
    r = w.refused_call(counter, 1, gas_limit=0)
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    H.error_of(r)
    ok(receipt(srv, w.call(counter, 1, gas_limit=MAX_GAS)), word(1))


@H.timeout(60)
def test_source_over_64_kib_is_413_payload_too_large(srv):
    w = Wallet(srv)
    head = "return { [1] = function(ctx) return 64 end }\n--"
    exact = head + "x" * (CODE_LIMIT - len(head))
    assert len(exact.encode()) == CODE_LIMIT
    assert_error(w.refused_deploy(exact + "x"), 413, "payload_too_large")
    address, _ = deployed(srv, w, exact)
    ok(receipt(srv, w.call(address, 1)), word(64))


@H.timeout(60)
def test_more_than_16_args_or_an_arg_over_4_kib_is_413_payload_too_large(srv):
    w = Wallet(srv)
    probe, _ = deployed(srv, w, PROBE)
    assert_error(w.refused_call(probe, 12, list(range(17))), 413, "payload_too_large")
    assert_error(w.refused_call(probe, 1, ["a" * (ARG_LIMIT + 1)]), 413, "payload_too_large")
    euros = "\u20ac" * 1366  # 1366 characters, 4098 bytes of UTF-8
    assert_error(w.refused_call(probe, 1, [euros]), 413, "payload_too_large")
    ids = [w.call(probe, 12, list(range(8)) + ["s"] * 8), w.call(probe, 1, ["a" * ARG_LIMIT])]
    sixteen, big = receipts(srv, ids)
    ok(sixteen, text(",".join(["integer"] * 8 + ["string"] * 8)))
    ok(big, "61" * ARG_LIMIT)


# --------------------------------------------------------------------------
# Amounts
# --------------------------------------------------------------------------

@H.timeout(60)
def test_call_amount_moves_to_the_contract_and_a_failed_call_returns_it(srv):
    w = Wallet(srv)
    counter, _ = deployed(srv, w, example("counter.lua"))
    assert srv.balance(counter) == 0
    balance = srv.balance(w.address)
    rc = ok(receipt(srv, w.call(counter, 1, amount=1_000_000)), word(1))
    acc = srv.account(counter)
    assert acc is not None and acc["address"] == counter and acc["balance"] == 1_000_000, acc
    assert srv.balance(w.address) == balance - FEE - rc["gas_used"] * GAS_PRICE - 1_000_000
    gas_note("counter.increment() with an amount", rc)

    balance = srv.balance(w.address)
    rc = failed(receipt(srv, w.call(counter, 1, ["x"], amount=1_000_000)))
    assert srv.balance(counter) == 1_000_000, srv.account(counter)
    assert srv.balance(w.address) == balance - FEE - rc["gas_used"] * GAS_PRICE, \
        (balance, srv.balance(w.address))
    assert srv.account(w.address)["nonce"] == w.nonce

    # More than the caller holds is refused at submission.
    r = w.refused_call(counter, 1, amount=srv.balance(w.address))
    assert_error(r, 422, "insufficient_funds")


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------

def events_about(reader, tx_id):
    return [e for e in reader.snapshot() if H.envelope_tx_id(e.json) == tx_id]


def has_receipt(reader, tx_id):
    return any(e.type == "receipt" for e in events_about(reader, tx_id))


def tx_then_receipt(reader, tx_id, label):
    """Asserts that reader saw tx_id's tx event immediately followed by its
    receipt event; returns both envelopes."""
    events = reader.snapshot()
    idx = [i for i, e in enumerate(events) if H.envelope_tx_id(e.json) == tx_id]
    assert [events[i].type for i in idx] == ["tx", "receipt"], \
        "%s: events about %s: %r" % (label, tx_id, [events[i] for i in idx])
    assert idx[1] == idx[0] + 1, "%s: the receipt does not follow its tx: %r" % (
        label, events[idx[0]:idx[1] + 1])
    return events[idx[0]].json, events[idx[1]].json


@H.timeout(60)
def test_call_tx_event_is_followed_by_its_receipt_and_address_filters_match_the_contract(srv):
    cookie = H.login(srv, "dev", "devdevdev")
    w = Wallet(srv)
    contract = vm_address(w.address, 0)   # known before the deploy
    other = os.urandom(20).hex()
    paths = {"all": "", "vm": "?address=" + contract, "0xVM": "?address=0x" + contract.upper(),
             "caller": "?address=" + w.address, "receipts": "?types=receipt&address=" + contract,
             "other": "?address=" + other}
    readers = {k: H.SseStream(srv.port, "/api/stream" + q, cookie=cookie)
               for k, q in paths.items()}
    try:
        for k, r in readers.items():
            assert r.status == 200, (k, r.status, r.response)
        deploy_id, _ = w.deploy(example("counter.lua"))
        deploy_rc = receipt(srv, deploy_id)
        call_id = w.call(contract, 1, [7], amount=1_500_000)
        call_rc = ok(receipt(srv, call_id), word(7))
        call_tx = srv.tx(call_id)
        height = call_tx["block_height"]
        bad_id, _ = w.deploy("return {")
        bad_rc = receipt(srv, bad_id)
        assert bad_rc["success"] is False and bad_rc["to"] is None, bad_rc
        readers["caller"].wait_for(lambda s: has_receipt(s, bad_id), 20, "the failed deploy")
        for k in ("all", "vm", "0xVM", "caller", "receipts"):
            readers[k].wait_for(lambda s: has_receipt(s, call_id), 20,
                                "the call's receipt on %s" % paths[k])

        # Unfiltered: block, …, the deploy's tx then its receipt; the call's tx then its receipt.
        d_tx, d_rc = tx_then_receipt(readers["all"], deploy_id, "deploy")
        H.check_tx_envelope(d_tx, srv.tx(deploy_id), srv.tx(deploy_id)["block_height"])
        assert d_tx["tx"]["recipient"] == "contract" and d_tx["tx"]["to"] == "0x" + contract, d_tx
        assert d_rc == {"type": "receipt", "receipt": deploy_rc}, d_rc
        env_tx, env_rc = tx_then_receipt(readers["all"], call_id, "call")
        H.check_tx_envelope(env_tx, call_tx, height)
        t = env_tx["tx"]
        assert t["recipient"] == "contract" and t["kind"] == "call", t
        assert t["to"] == "0x" + contract and t["selector"] == 1 and t["arg_count"] == 1, t
        assert H.same_amount(t["amount"], 1_500_000) and t["amount"] == 1.5, t
        assert H.same_amount(t["fee"], FEE), t
        assert env_rc == {"type": "receipt", "receipt": call_rc}, (env_rc, call_rc)
        events = readers["all"].snapshot()
        blocks = [i for i, e in enumerate(events)
                  if e.type == "block" and e.json["block"]["height"] == height]
        first = [i for i, e in enumerate(events) if H.envelope_tx_id(e.json) == call_id][0]
        assert blocks and blocks[0] < first, "the call's block event comes first"

        # The contract's address, bare or 0x + upper case: the call and its receipt, and
        # the deploy's receipt (its `to`); nothing that does not involve the contract.
        want = [(e.id, e.json) for e in readers["all"].snapshot()
                if H.envelope_tx_id(e.json) == call_id]
        for k in ("vm", "0xVM"):
            got = readers[k].snapshot()
            assert [(e.id, e.json) for e in got if H.envelope_tx_id(e.json) == call_id] == want, \
                (k, got)
            tx_then_receipt(readers[k], call_id, k)
            assert has_receipt(readers[k], deploy_id), (k, got)
            strays = [e for e in got if e.type == "block" or
                      H.envelope_tx_id(e.json) not in (deploy_id, call_id)]
            assert not strays, "%s matched %r" % (paths[k], strays)
        rcs = readers["receipts"].snapshot()
        assert [e.json["receipt"]["tx_id"] for e in rcs] == [deploy_id, call_id], rcs
        # The caller's address: its deploys and its call, each with the receipt.
        tx_then_receipt(readers["caller"], deploy_id, "caller/deploy")
        c_tx, c_rc = tx_then_receipt(readers["caller"], call_id, "caller/call")
        assert (c_tx, c_rc) == (env_tx, env_rc)
        b_tx, b_rc = tx_then_receipt(readers["caller"], bad_id, "caller/failed deploy")
        assert b_tx["tx"]["kind"] == "deploy" and b_tx["tx"]["to"] is None, b_tx
        assert b_rc == {"type": "receipt", "receipt": bad_rc}, b_rc
        # An unrelated VM address sees none of it.
        assert not [e for e in readers["other"].snapshot()
                    if H.envelope_tx_id(e.json) in (deploy_id, call_id)]
    finally:
        for r in readers.values():
            r.close()


# --------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------

@H.timeout(60)
def test_same_code_from_two_senders_gives_the_same_results_and_gas(srv):
    alice, bob = Wallet(srv), Wallet(srv)
    runs = {}
    for w in (alice, bob):
        counter, counter_rc = deployed(srv, w, example("counter.lua"))
        pairs_addr, pairs_rc = deployed(srv, w, PAIRS)
        token, token_rc = deployed(srv, w, example("token.lua"))
        ids = [w.call(counter, 1, [5]), w.call(counter, 1), w.call(counter, 2),
               w.call(pairs_addr, 1), w.call(pairs_addr, 1), w.call(pairs_addr, 1),
               w.call(token, 1, [77]), w.call(token, 4), w.call(counter, 1, ["bad"])]
        rcs = receipts(srv, ids)
        runs[w.address] = [(rc["success"], rc["return_data"], rc["gas_used"])
                           for rc in [counter_rc, pairs_rc, token_rc] + rcs]
        orders = {rc["return_data"] for rc in rcs[3:6]}
        assert len(orders) == 1, "pairs order differs between calls: %s" % [
            bytes.fromhex(o) for o in orders]
    a, b = runs[alice.address], runs[bob.address]
    assert a == b, "different results or gas:\n%s\n%s" % (a, b)
    assert [s for s, _r, _g in a] == [True] * 11 + [False], a
    assert a[5][1] == word(6), a
    keys = bytes.fromhex(a[6][1]).decode("latin-1").split(",")
    want = {str(i) for i in (1, 2, 3, 4, 6, 7, 8, 100, -7, 0, 2 ** 63 - 1)} | \
        {"k%d" % (i * 7919 % 1000) for i in range(1, 49)} | {"Z", "a b", "", "\xff"}
    assert len(keys) == len(want) and set(keys) == want, keys


# --------------------------------------------------------------------------
# The README's example
# --------------------------------------------------------------------------

@H.timeout(60)
def test_readme_python_example_deploys_the_counter_and_calls_it(srv):
    with open(os.path.join(EXAMPLES, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) == 1, "one Python example in the README, found %d" % len(blocks)
    p = subprocess.run([sys.executable, "-c", blocks[0]], cwd=H.REPO_ROOT, capture_output=True,
                       text=True, timeout=50, env=H.child_env({"NODE": srv.url}))
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    m = re.search(r"counter deployed at ([0-9a-f]{40})\nincrement\(5\) -> 5 using (\d+) gas",
                  p.stdout)
    assert m and int(m.group(2)) > 0, p.stdout
    for line in p.stdout.splitlines():
        print("    README: " + line, flush=True)
