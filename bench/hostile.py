#!/usr/bin/python3
"""Hostile traffic against the ledger, re-measured: what an attacker gets
for the attacks of docs/API.md §2.6 and §1.3. Prints figures only.

    /usr/bin/python3 bench/hostile.py build-bench/ledgerline

Rows:
  - an unfunded key deploying, calling, messaging and creating with fee 0;
  - storage writes (10 calls x 2000 keys x 4 KB): what they cost in coins,
    how much the database grew, and how long the blocks took;
  - SIGTERM while a block of two 10M-gas calls is being built: time to exit,
    and whether both calls commit after the restart;
  - Lua hash-table attacks (docs/API.md §6.1, Time) from 6 senders at 10M
    gas each: how long a transfer submitted behind them waits, the longest
    gap between blocks, and what became of the attacks.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness as H  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "200", "--difficulty", "1")

WRITER = """
local function fill(ctx, tag, n)
  local v = string.rep("x", 4000)
  for i = 1, n do storage.set(tag .. i, v) end
  return n
end
local function spin(ctx, n)
  local x = 0
  for i = 1, n do x = x + i end
  return x
end
return { [1] = fill, [2] = spin }
"""

# Each selector is one attack on Lua's own tables, looping until stopped:
# integer keys in one hash chain; a full table whose keys come and go.
TABLES = """
local function chain(ctx)
  local t, m = {}, 4095
  for k = 1, 2049 do t[k * m] = true end
  while true do local v = t[m] end
end
local function churn(ctx)
  local t, S = {}, 1 << 14
  for i = 1, S do t[i * 7 + 1000000] = true end
  local k = S + 1
  while true do t[(k - S) * 7 + 1000000] = nil t[k * 7 + 1000000] = true k = k + 1 end
end
return { [1] = chain, [2] = churn }
"""


def body(key, kind, nonce, **fields):
    b = {"kind": kind, "sender_pubkey": key.pk_hex, "nonce": nonce,
         "timestamp_ms": H.now_ms(), "fee": 0}
    b.update(fields)
    return b


def receipt(srv, tx_id, timeout=300):
    got = {}

    def ready():
        r = srv.get("/api/v1/receipts/" + tx_id)
        got["r"] = r.json() if r.status_code == 200 else None
        return got["r"] is not None

    H.wait_until(ready, timeout=timeout, what="receipt")
    return got["r"]


def db_bytes(srv):
    d = srv.data_dir
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
               if f.startswith("ledger.db"))


def deploy(srv, key, nonce=0):
    tx_id = srv.submit_ok(H.sign(key, body(key, "deploy", nonce, code=WRITER,
                                           gas_limit=1_000_000)))
    return receipt(srv, tx_id)["to"]


def unfunded(srv):
    owner = srv.funded_key(10**12)
    contract = deploy(srv, owner)
    k = H.Key.generate()
    tries = {
        "deploy": body(k, "deploy", 0, code=WRITER, gas_limit=10_000_000),
        "call (storage writes)": body(k, "call", 0, to="0x" + contract, selector=1,
                                      args=["a", 2000], gas_limit=10_000_000),
        "message": body(k, "message", 0, recipient=owner.address, memo="x"),
        "create": body(k, "create", 0, asset={"data": {}, "amount": 1}),
    }
    for what, b in tries.items():
        r = srv.submit(H.sign(k, b))
        print("unfunded key, fee 0, %-22s -> %d %s" % (what, r.status_code,
                                                        r.json().get("error", {}).get("code")))


def storage(srv):
    key = srv.funded_key(10**12)
    contract = deploy(srv, key)
    before_db, before_units = db_bytes(srv), srv.balance(key.address)
    t0 = time.monotonic()
    ids = [srv.submit_ok(H.sign(key, body(key, "call", n, to="0x" + contract, selector=1,
                                           args=["k%d_" % n, 2000], gas_limit=10_000_000)))
           for n in range(1, 11)]
    rcs = [receipt(srv, t) for t in ids]
    dt = time.monotonic() - t0
    grew = db_bytes(srv) - before_db
    paid = before_units - srv.balance(key.address)
    ok = sum(1 for rc in rcs if rc["success"])
    print("storage: 10 calls x 2000 keys x 4 KB at max gas: %d succeeded, gas %s; database "
          "grew %.1f MB in %.1f s; the sender paid %.2f coins (%.2f MB per coin)"
          % (ok, sorted({rc["gas_used"] for rc in rcs}), grew / 1e6, dt, paid / 1e6,
             (grew / 1e6) / (paid / 1e6) if paid else float("inf")))


def table_attacks(srv):
    owner = srv.funded_key(10**12)
    tx = srv.submit_ok(H.sign(owner, body(owner, "deploy", 0, code=TABLES, gas_limit=1_000_000)))
    contract = "0x" + receipt(srv, tx)["to"]
    start_height = srv.height()
    attackers = [srv.funded_key(10**12) for _ in range(6)]
    t0 = time.monotonic()
    ids = [srv.submit_ok(H.sign(k, body(k, "call", 0, to=contract, selector=1 + i % 2, args=[],
                                        gas_limit=10_000_000)))
           for i, k in enumerate(attackers)]
    bystander = srv.funded_key()
    follow = srv.submit_ok(H.transfer(bystander, H.random_address(), 1, 0))
    srv.wait_confirmed(follow, timeout=600)
    waited = time.monotonic() - t0
    H.wait_until(lambda: all(srv.tx(t) is None or srv.tx(t)["status"] == "confirmed"
                             for t in ids), timeout=600, what="the attacks to end")
    left_out = sum(1 for t in ids if srv.tx(t) is None)
    blocks = [srv.block(h) for h in range(start_height, srv.height() + 1)]
    gaps = [(b["timestamp_ms"] - a["timestamp_ms"]) / 1000 for a, b in zip(blocks, blocks[1:])]
    again = srv.submit(H.sign(attackers[0], body(attackers[0], "call", 0, to=contract,
                                                 selector=1, args=[], gas_limit=10_000_000)))
    print("table attacks: 6 calls at 10M gas (one hash chain, full-table churn): a transfer "
          "behind them confirmed after %.2f s; longest gap between blocks %.2f s; %d of 6 left "
          "out with no receipt; the sender's next call -> %d %s; %s runs stopped so far"
          % (waited, max(gaps) if gaps else 0.0, left_out, again.status_code,
             again.json().get("error", {}).get("code"),
             srv.metrics().get("ledgerline_contract_time_limit_total")))


def sigterm_in_table_attack():
    srv = H.Server(*FAST, name="stop-bench")
    try:
        srv.start()
        key = srv.funded_key(10**12)
        tx = srv.submit_ok(H.sign(key, body(key, "deploy", 0, code=TABLES, gas_limit=1_000_000)))
        contract = "0x" + receipt(srv, tx)["to"]
        srv.submit_ok(H.sign(key, body(key, "call", 1, to=contract, selector=2, args=[],
                                       gas_limit=10_000_000)))
        time.sleep(0.35)  # inside the run (~0.2 s interval, then the churn)
        t0 = time.monotonic()
        srv.stop()
        print("SIGTERM during a full-table churn call: exited 0 after %.2f s"
              % (time.monotonic() - t0))
    finally:
        srv.cleanup()


def sigterm():
    srv = H.Server(*FAST, name="stop-bench")
    try:
        srv.start()
        key = srv.funded_key(10**12)
        contract = deploy(srv, key)
        ids = [srv.submit_ok(H.sign(key, body(key, "call", n, to="0x" + contract, selector=2,
                                               args=[10**12], gas_limit=10_000_000)))
               for n in (1, 2)]
        time.sleep(0.4)  # inside the block's build (~0.2 s interval, then the contracts)
        t0 = time.monotonic()
        srv.stop()
        took = time.monotonic() - t0
        srv.start()
        rcs = [receipt(srv, t) for t in ids]
        print("SIGTERM during a block of two 10M-gas calls: exited 0 after %.2f s; after the "
              "restart both calls committed (gas_used %s)"
              % (took, [rc["gas_used"] for rc in rcs]))
        srv.stop()
    finally:
        srv.cleanup()


def main():
    if len(sys.argv) > 1:
        os.environ["LEDGERLINE_BIN"] = os.path.abspath(sys.argv[1])
    print("hostile ledger bench: %s" % os.environ.get("LEDGERLINE_BIN"))
    with H.Server(*FAST) as srv:
        unfunded(srv)
        storage(srv)
        table_attacks(srv)
    sigterm()
    sigterm_in_table_attack()


if __name__ == "__main__":
    main()
