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


if __name__ == "__main__":
    H.run(globals(), fixture=lambda: H.Server(*FAST))
