"""Hostile contracts (docs/API.md §6.1): each trick that once made one
Lua instruction do work proportional to its operands, run at the largest
gas_limit, in a call and inside a deploy's own chunk. The outcome asserted
is what a user notices: the run ends (out of gas or memory, or an error)
and the chain goes on: the next block, holding a plain transfer submitted
right after, commits. No timing is asserted beyond a generous deadline; the
wall times are `make bench`'s (bench/worst_contract.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "1")
# The tricks bounded by gas are asserted to end with a receipt; under the
# sanitizers a run at the maximum gas can outlast the default time limit
# (450 ms, sized for a release build), so this file's server allows 10 s.
# The time-limit tests start their own server with the default.
GAS_BOUNDED = FAST + ("--contract-time-limit-ms", "10000")
SERVER_FLAGS = GAS_BOUNDED
MAX_GAS = 10_000_000
DEADLINE_S = 90  # the chain goes on well within this; unbounded tricks took minutes

# Each trick is the body of a function; `mb()` makes a 1 MB string and
# `many()` returns 100,000 values.
PRELUDE = """
local function mb() return string.rep("a", 1 << 20) end
local function many() return string.byte(string.rep("a", 100000), 1, -1) end
"""

TRICKS = {
    "vararg table": """
        local function f(...) for i = 1, 1e9 do local t = {...} end end
        f(many())""",
    "long string <": """
        local MB, n = mb(), 0
        for i = 1, 1e9 do if MB < MB then n = n + 1 end end""",
    "long string ==": """
        local MB, other, n = mb(), mb(), 0
        for i = 1, 1e9 do if MB == other then n = n + 1 end end""",
    "select # over varargs": """
        local function f(...) local n = 0
          for i = 1, 1e9 do n = n + select('#', ...) end end
        f(many())""",
    "pairs over dead keys": """
        local t = {}
        for i = 1, 100000 do t[i] = i end
        for i = 1, 100000 do t[i] = nil end
        for j = 1, 1e9 do for k, v in pairs(t) do end end""",
    "unpack into a call": """
        local t = {many()}
        local function f(...) return 0 end
        for i = 1, 1e9 do f(table.unpack(t)) end""",
    "return many": """
        local function f(...) return ... end
        local function g(...) return 1, f(...) end
        for i = 1, 1e9 do g(many()) end""",
}


def call_code(trick):
    return PRELUDE + "return { [1] = function(ctx)\n" + trick + "\nend }\n"


def deploy_code(trick):
    return PRELUDE + trick + "\nreturn { [1] = function(ctx) end }\n"


def body(key, kind, nonce, **fields):
    b = {"kind": kind, "sender_pubkey": key.pk_hex, "nonce": nonce,
         "timestamp_ms": H.now_ms(), "fee": 0}
    b.update(fields)
    return b


def receipt(srv, tx_id):
    got = {}

    def ready():
        r = srv.get("/api/v1/receipts/" + tx_id)
        got["r"] = r.json() if r.status_code == 200 else None
        return got["r"] is not None

    H.wait_until(ready, timeout=DEADLINE_S, what="receipt of %s" % tx_id)
    return got["r"]


class Attacker:
    def __init__(self, srv):
        self.srv = srv
        self.key = srv.funded_key(1000 * H.UNITS_PER_COIN)
        self.nonce = 0

    def submit(self, kind, **fields):
        tx_id = self.srv.submit_ok(sign(self.key, body(self.key, kind, self.nonce, **fields)))
        self.nonce += 1
        return tx_id


def assert_bounded_and_the_chain_goes_on(srv, attacker, tx_id, label):
    """The hostile run ends with a failed receipt and a transfer submitted
    after it commits within the deadline."""
    bystander = srv.funded_key()
    follow = srv.submit_ok(H.transfer(bystander, H.random_address(), 1, 0))
    srv.wait_confirmed(follow, timeout=DEADLINE_S)
    rc = receipt(srv, tx_id)
    assert rc["success"] is False, "%s: %r" % (label, rc)
    assert rc["gas_used"] <= MAX_GAS, rc
    return rc


def run_tricks(srv, as_deploy):
    a = Attacker(srv)
    for label, trick in TRICKS.items():
        if as_deploy:
            tx_id = a.submit("deploy", code=deploy_code(trick), gas_limit=MAX_GAS)
        else:
            deployed = receipt(srv, a.submit("deploy", code=call_code(trick),
                                              gas_limit=1_000_000))
            assert deployed["success"] is True, (label, deployed)
            tx_id = a.submit("call", to="0x" + deployed["to"], selector=1, args=[],
                             gas_limit=MAX_GAS)
        rc = assert_bounded_and_the_chain_goes_on(srv, a, tx_id, label)
        print("     %-22s %-7s gas_used %8d  %s" % (label, "deploy" if as_deploy else "call",
                                                    rc["gas_used"], rc["error"]), flush=True)


@H.timeout(900)
def test_each_trick_in_a_call_ends_and_the_next_block_commits(srv):
    run_tricks(srv, as_deploy=False)


@H.timeout(900)
def test_each_trick_in_a_deploys_chunk_ends_and_the_next_block_commits(srv):
    run_tricks(srv, as_deploy=True)


@H.timeout(300)
def test_the_same_trick_costs_the_same_gas_every_time(srv):
    """Bounds are charges, not clocks: two runs of a trick use equal gas."""
    a = Attacker(srv)
    code = call_code(TRICKS["long string =="])
    deployed = receipt(srv, a.submit("deploy", code=code, gas_limit=1_000_000))
    small = 2_000_000
    r1 = receipt(srv, a.submit("call", to="0x" + deployed["to"], selector=1, args=[],
                               gas_limit=small))
    r2 = receipt(srv, a.submit("call", to="0x" + deployed["to"], selector=1, args=[],
                               gas_limit=small))
    assert r1["gas_used"] == r2["gas_used"] and r1["error"] == r2["error"], (r1, r2)


# Lua hashes integers without its random seed: every key of this table
# lands in one hash chain, so each lookup walks 2049 nodes for 1 gas. At the
# maximum gas_limit that is tens of seconds: only the node's time limit on a
# run (--contract-time-limit-ms, docs/API.md §6.1, Time) bounds it.
ONE_CHAIN = """
        local t, m = {}, 4095
        for k = 1, 2049 do t[k * m] = true end
        while true do local v = t[m] end"""


def assert_left_out(srv, tx_id):
    """tx_id never gets a block: after the next block commits, the node no
    longer knows it."""
    follow = srv.submit_ok(H.transfer(srv.funded_key(), H.random_address(), 1, 0))
    srv.wait_confirmed(follow, timeout=DEADLINE_S)
    H.wait_until(lambda: srv.tx(tx_id) is None, timeout=DEADLINE_S,
                 what="%s to be left out" % tx_id)
    assert srv.get("/api/v1/receipts/" + tx_id).status_code == 404


def assert_refused_contract_runs(srv, a):
    """a's deploys and calls get 429 contract_time_limit; its transfers
    still commit."""
    refused = srv.submit(sign(a.key, body(a.key, "deploy", a.nonce,
                                          code="return {}", gas_limit=10_000)))
    message = H.assert_error(refused, 429, "contract_time_limit")
    assert "time limit" in message, message
    paid = a.submit("transfer", recipient=H.random_address(), amount=1)
    srv.wait_confirmed(paid, timeout=DEADLINE_S)


@H.timeout(300)
def test_a_call_past_the_time_limit_is_left_out_and_its_sender_refused():
    with H.Server(*FAST) as srv:
        before = srv.metrics().get("ledgerline_contract_time_limit_total", 0)
        a = Attacker(srv)
        deployed = receipt(srv, a.submit("deploy", code=call_code(ONE_CHAIN), gas_limit=1_000_000))
        assert deployed["success"] is True, deployed
        attack = a.submit("call", to="0x" + deployed["to"], selector=1, args=[], gas_limit=MAX_GAS)
        assert_left_out(srv, attack)
        a.nonce -= 1  # the call was never committed: its nonce is free again
        assert_refused_contract_runs(srv, a)
        assert srv.metrics()["ledgerline_contract_time_limit_total"] >= before + 1


@H.timeout(300)
def test_a_deploy_past_the_time_limit_is_left_out_and_its_sender_refused():
    with H.Server(*FAST) as srv:
        a = Attacker(srv)
        attack = a.submit("deploy", code=deploy_code(ONE_CHAIN), gas_limit=MAX_GAS)
        assert_left_out(srv, attack)
        a.nonce -= 1
        assert_refused_contract_runs(srv, a)


@H.timeout(300)
def test_pending_runs_of_a_penalised_sender_never_run():
    """Calls admitted before the sender's first run hit the limit are left
    out without running (or refused, if they arrive after it): none commits,
    and the chain goes on."""
    with H.Server(*FAST) as srv:
        a = Attacker(srv)
        deployed = receipt(srv, a.submit("deploy", code=call_code(ONE_CHAIN), gas_limit=1_000_000))
        to = "0x" + deployed["to"]
        first = a.submit("call", to=to, selector=1, args=[], gas_limit=MAX_GAS)
        later = []
        for _ in range(3):
            r = srv.submit(sign(a.key, body(a.key, "call", a.nonce, to=to, selector=1, args=[],
                                            gas_limit=MAX_GAS)))
            if r.status_code == 202:
                later.append(r.json()["tx_id"])
                a.nonce += 1
            else:
                H.assert_error(r, 429, "contract_time_limit")
        for tx_id in [first] + later:
            assert_left_out(srv, tx_id)
        assert srv.metrics()["ledgerline_contract_time_limit_total"] >= 1
