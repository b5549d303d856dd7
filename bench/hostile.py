#!/usr/bin/python3
"""Hostile traffic against the ledger, re-measured: what an attacker gets
for the attacks of docs/API.md §2.6 and §1.3. Prints figures only.

    /usr/bin/python3 bench/hostile.py build-bench/ledgerline

Rows:
  - an unfunded key deploying, calling, messaging and creating with fee 0;
  - storage writes (10 calls x 2000 keys x 4 KB): what they cost in coins,
    how much the database grew, and how long the blocks took;
  - SIGTERM while a block of two 10M-gas calls is being built: time to exit,
    and whether both calls commit after the restart.
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
    sigterm()


if __name__ == "__main__":
    main()
