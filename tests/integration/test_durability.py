"""Durability (docs/API.md §1.3): a restart keeps the chain; a clean stop
commits every transaction answered 202; kill -9 loses nothing the API showed
as committed, nor any transaction answered 202, and leaves a chain whose
every link and hash checks out.
Each test starts its own node(s) on its own data directory."""

import contextlib
import json
import os
import sqlite3
import sys
import threading

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import sign  # noqa: E402

FAST = ("--dev", "--block-interval-ms", "100", "--difficulty", "2")
SLOW = ("--dev", "--block-interval-ms", "60000", "--difficulty", "2")  # blocks only on stop


def check_chain(blocks):
    prev = None
    for b in blocks:
        H.check_block(b, prev)
        prev = b


@H.timeout(150)
def test_restart_keeps_every_block_and_the_next_block_chains_onto_it():
    with H.Server(*FAST, name="restart-node") as srv:
        alice = srv.funded_key(5_000_000)
        bob = H.random_address()
        grant = srv.tx(srv.fund(bob, 1000))
        asset = srv.submit_ok(sign(alice, H.create_body(alice, {"kept": True}, 9, 0)))
        srv.wait_confirmed(srv.submit_ok(H.transfer(alice, bob, 1_000_000, 1, fee=77)))
        srv.wait_confirmed(asset)
        before = srv.chain()
        miner = before[-1]["miner"]
        watched = (alice.address, bob, miner,
                   H.address_of_pubkey(bytes.fromhex(grant["sender_pubkey"])))
        accounts = {a: srv.account(a) for a in watched}

        srv.stop()
        srv.start()

        after = srv.chain()
        assert len(after) == len(before), (len(before), len(after))
        assert after == before, "the chain changed across a restart"
        for a in watched:
            assert srv.account(a) == accounts[a], (a, accounts[a], srv.account(a))
        check_chain(after)

        # The next block chains onto the old tip, mined by the same node key,
        # and the faucet is the same key (node.key and faucet.key persist).
        grant2 = srv.tx(srv.fund(H.random_address(), 1000))
        assert grant2["sender_pubkey"] == grant["sender_pubkey"]
        tip = before[-1]
        nxt = srv.block(tip["height"] + 1)
        H.check_block(nxt, tip)
        assert nxt["miner"] == miner
        assert grant2["block_height"] == nxt["height"]
        # Alice's nonce continues where it was.
        srv.wait_confirmed(srv.submit_ok(H.transfer(alice, bob, 1, 2)))
        assert srv.account(alice.address)["nonce"] == 3


@H.timeout(150)
def test_sigterm_commits_every_transaction_answered_202():
    with H.Server(*FAST, name="sigterm-node") as srv:
        alice = srv.funded_key(10_000_000)
        srv.restart(*SLOW)

        tip = srv.latest()
        bob = H.random_address()
        transfers = [srv.submit_ok(H.transfer(alice, bob, 1000 + n, n, fee=n))
                     for n in range(20)]
        create = srv.submit_ok(sign(alice, H.create_body(alice, {"n": 20}, 10, 20)))
        grantees = [H.random_address() for _ in range(5)]
        grants = [srv.fund(a, 5000, wait=False) for a in grantees]
        accepted = transfers + [create] + grants

        for t in accepted:  # pending: answered, in no block yet
            got = srv.tx(t)
            assert got["status"] == "pending" and got["block_height"] is None, got
        assert srv.height() == tip["height"], "a block was made before the interval"

        srv.stop()  # SIGTERM: exit 0 and silent sanitizers are checked here
        srv.start(*SLOW)  # with a 60 s interval, only the stop can have committed them

        for t in accepted:
            got = srv.tx(t)
            assert got is not None, "tx %s answered 202 was lost by a clean stop" % t
            assert got["status"] == "confirmed", got
            assert got["block_height"] > tip["height"], got
        acc = srv.account(alice.address)
        assert acc["nonce"] == 21, acc
        assert acc["balances"].get(create) == 10, acc
        assert acc["balance"] == 10_000_000 - sum(1000 + n + n for n in range(20)), acc
        assert srv.balance(bob) == sum(1000 + n for n in range(20))
        for a in grantees:
            assert srv.balance(a) == 5000
        check_chain(srv.chain())


@H.timeout(300)
def test_kill9_loses_no_transaction_answered_202():
    """202 means durable (docs/API.md §1.3): transfers and messages answered
    202 right up to a kill -9 are all committed after the restart, and the
    pending-message events of those messages are followed by confirmed."""
    rounds = 3
    with H.Server("--dev", "--block-interval-ms", "300", "--difficulty", "2",
                  name="kill9-202-node") as srv:
        senders = [H.Key.generate() for _ in range(4)]
        grants = [srv.fund(k.address, 10**9, wait=False) for k in senders]
        for t in grants:
            srv.wait_confirmed(t)
        sink = H.random_address()
        accepted = []       # tx_ids answered 202, across every round
        nonces = [0] * len(senders)
        lock = threading.Lock()

        def burst(i, stop):
            session = H.new_session()
            url = srv.url + "/api/v1/transactions"  # a restart may change the port
            k = senders[i]
            while not stop.is_set():
                n = nonces[i]
                if i == 0:  # one sender sends chat messages (pending events)
                    tx = sign(k, H.message_body(k, sink, "m%d" % n, n))
                else:
                    tx = H.transfer(k, sink, 1, n)
                try:
                    r = session.post(url, json=tx, timeout=5)
                except requests.RequestException:
                    return  # the node is gone
                if r.status_code != 202:
                    return
                with lock:
                    accepted.append(H.tx_id_of(tx))
                nonces[i] = n + 1

        def settled():
            m = srv.metrics()
            return m.get("ledgerline_mempool_transactions", 1) == 0

        for _ in range(rounds):
            # A transaction in flight at the kill may be journaled without
            # its 202 reaching us: start each round from the chain's nonces.
            H.wait_until(settled, 120, "the journal to be committed")
            for i, k in enumerate(senders):
                nonces[i] = srv.next_nonce(k.address)
            stop = threading.Event()
            threads = [threading.Thread(target=burst, args=(i, stop), daemon=True)
                       for i in range(len(senders))]
            for t in threads:
                t.start()
            before = len(accepted)
            H.wait_until(lambda: len(accepted) >= before + 200, 60,
                         "200 transactions answered 202", interval=0.01)
            srv.kill9()  # mid-burst: most of the last ones are in no block yet
            stop.set()
            for t in threads:
                t.join(15)
            srv.start()
        assert len(accepted) >= rounds * 200
        for t in accepted:
            srv.wait_confirmed(t, timeout=120)


@H.timeout(240)
def test_kill9_mid_burst_keeps_every_block_seen_committed():
    with H.Server("--dev", "--block-interval-ms", "50", "--difficulty", "2",
                  name="kill9-node") as srv:
        grants = {}
        senders = [H.Key.generate() for _ in range(4)]
        for k in senders:
            grants[k.address] = srv.fund(k.address, 10**9, wait=False)
        for t in grants.values():
            srv.wait_confirmed(t)
        sink = H.random_address()
        url = srv.url + "/api/v1/transactions"

        attempted = {}   # tx_id -> (sender index, nonce, amount, fee); filled before sending
        refused = []     # answers other than 202 while the node was up
        lock = threading.Lock()
        stop = threading.Event()

        def burst(i):
            session = H.new_session()
            nonce = 0
            while not stop.is_set():
                amount = 1 + nonce % 7
                tx = H.transfer(senders[i], sink, amount, nonce, fee=2)
                with lock:
                    attempted[H.tx_id_of(tx)] = (i, nonce, amount, 2)
                try:
                    r = session.post(url, json=tx, timeout=5)
                except requests.RequestException:
                    return  # the node is gone
                if r.status_code != 202:
                    with lock:
                        refused.append((i, nonce, r.status_code, r.text[:200]))
                    return
                nonce += 1

        threads = [threading.Thread(target=burst, args=(i,), daemon=True)
                   for i in range(len(senders))]
        first = srv.height() + 1
        seen = {}  # height -> block as GET showed it before the kill

        def enough_committed():
            for h in range(max(seen, default=first - 1) + 1, srv.height() + 1):
                seen[h] = srv.block(h)
            with lock:
                ids = set(attempted)
            return sum(1 for b in seen.values() if ids.intersection(b["transactions"])) >= 5

        try:
            for t in threads:
                t.start()
            H.wait_until(enough_committed, 90, "5 blocks of the burst", interval=0.01)
            assert not refused, refused
            assert all(t.is_alive() for t in threads), "the burst ended before the kill"
            srv.kill9()
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        assert seen

        srv.start()

        for h, b in sorted(seen.items()):
            assert srv.block(h) == b, "block %d changed across kill -9" % h
            for t in b["transactions"]:
                got = srv.tx(t)
                assert got is not None and got["status"] == "confirmed", (t, got)
                assert got["block_height"] == h, (t, h, got)

        cache = {}

        def block(h):
            if h not in cache:
                cache[h] = srv.block(h)
            return cache[h]

        def mismatches(tip):
            """How the accounts differ from what the chain up to tip implies."""
            blocks = [block(h) for h in range(tip + 1)]
            check_chain(blocks)
            nonces = {i: [] for i in range(len(senders))}
            spent = {i: 0 for i in range(len(senders))}
            received = 0
            for b in blocks:
                for t in b["transactions"]:
                    if t in attempted:
                        i, nonce, amount, fee = attempted[t]
                        nonces[i].append(nonce)
                        spent[i] += amount + fee
                        received += amount
            out = []
            for i, k in enumerate(senders):
                if nonces[i] != list(range(len(nonces[i]))):
                    out.append("sender %d committed nonces %s" % (i, nonces[i][:20]))
                acc = srv.account(k.address)
                if acc["nonce"] != len(nonces[i]) or acc["balance"] != 10**9 - spent[i]:
                    out.append("sender %d: account %s, chain says nonce %d balance %d"
                               % (i, acc, len(nonces[i]), 10**9 - spent[i]))
            if srv.balance(sink) != received:
                out.append("sink: %d, chain says %d" % (srv.balance(sink), received))
            return out

        def consistent_read():
            tip = srv.height()
            found = mismatches(tip)
            return (tip, found) if srv.height() == tip else None
        _tip, found = H.wait_until(consistent_read, 60,
                                   "a state read without a block committed during it")
        assert not found, "account state differs from the chain:\n" + "\n".join(found)

def test_regress_sigterm_during_startup_is_a_clean_stop():
    """A SIGTERM that arrived before the signal handlers were installed took
    the default action and killed the node (exit -15). Sent while the node
    is still starting, it must be held and end in a clean stop."""
    import subprocess
    import tempfile
    import time
    data = tempfile.mkdtemp(prefix="ll-sigterm-")
    proc = subprocess.Popen([H.binary_path(), "serve", "--listen", "127.0.0.1:%d" % H.free_port(),
                             "--data", data, "--difficulty", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=H.child_env())
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"created genesis" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        assert b"created genesis" in seen, seen.decode(errors="replace")
        proc.send_signal(15)  # the server may not even be listening yet
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0, (proc.returncode, (seen + rest).decode(errors="replace"))
        assert not H.sanitizer_findings((seen + rest).decode(errors="replace"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        import shutil
        shutil.rmtree(data, ignore_errors=True)


def journal_rows(data_dir):
    with contextlib.closing(sqlite3.connect(os.path.join(data_dir, "journal.db"))) as db:
        return db.execute("SELECT pos, origin, body FROM journal ORDER BY pos").fetchall()


def journal_text(tx):
    """A signed transaction as the node journals it: compact, sorted keys."""
    return json.dumps(tx, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@H.timeout(120)
def test_the_journal_of_an_older_version_in_ledger_db_is_admitted_and_moved():
    """Older versions journaled 202s in ledger.db's pending_txs. A start
    admits what they left there (in order), journals it in journal.db and
    empties the old table; the transactions are then committed."""
    with H.Server(*FAST, name="legacy-journal-node") as srv:
        alice = srv.funded_key(5_000_000)
        bob = H.random_address()
        nonce = srv.account(alice.address)["nonce"]
        txs = [H.transfer(alice, bob, 1000 + i, nonce + i) for i in range(3)]
        srv.stop()
        with contextlib.closing(sqlite3.connect(os.path.join(srv.data_dir, "ledger.db"))) as db:
            db.executemany("INSERT INTO pending_txs(pos, tx_id, origin, body) VALUES(?, ?, 0, ?)",
                           [(i + 1, H.tx_id_of(tx), journal_text(tx)) for i, tx in enumerate(txs)])
            db.commit()
        srv.start()
        for tx in txs:
            srv.wait_confirmed(H.tx_id_of(tx))
        assert srv.account(bob)["balances"], srv.account(bob)
        with contextlib.closing(sqlite3.connect(os.path.join(srv.data_dir, "ledger.db"))) as db:
            assert db.execute("SELECT COUNT(*) FROM pending_txs").fetchone() == (0,)


@H.timeout(120)
def test_a_journal_row_of_a_committed_transaction_is_skipped_not_dropped():
    """A kill -9 between a block's commit and the journal forgetting its
    transactions leaves rows of committed transactions in journal.db. The
    next start skips them: they are not admitted again, and no "dropped"
    event follows their "confirmed" one."""
    with H.Server(*FAST, name="committed-row-node") as srv:
        alice = srv.funded_key(5_000_000)
        bob = H.random_address()
        nonce = srv.account(alice.address)["nonce"]
        msg = sign(alice, H.message_body(alice, bob, "already in a block", nonce))
        srv.wait_confirmed(srv.submit_ok(msg))
        srv.stop()
        with contextlib.closing(sqlite3.connect(os.path.join(srv.data_dir, "journal.db"))) as db:
            db.execute("INSERT INTO journal(pos, origin, body) VALUES(1000000, 0, ?)",
                       (journal_text(msg),))
            db.commit()
        srv.start()
        H.wait_until(lambda: not journal_rows(srv.data_dir), what="the stale row forgotten")
        assert srv.tx(H.tx_id_of(msg))["status"] == "confirmed"
        assert H.server_metric(srv, "ledgerline_mempool_transactions") == 0
        # A marker after the restart: once its events arrive, a "dropped"
        # event for the old message would have arrived before them.
        marker = srv.submit_ok(sign(alice, H.message_body(alice, bob, "marker", nonce + 1)))
        H.register_user(srv, "reader", "a long enough password")
        token = H.login(srv, "reader", "a long enough password")
        stream = H.SseStream(srv.port, "/api/stream?types=message", cookie=token,
                             headers={"Last-Event-ID": "0"})
        try:
            stream.wait_for(lambda s: any(marker in e.data and '"confirmed"' in e.data
                                          for e in s.events), what="the marker confirmed")
            about_old = [json.loads(e.data) for e in stream.events if H.tx_id_of(msg) in e.data]
        finally:
            stream.close()
        assert [e["msg"]["status"] for e in about_old] == ["pending", "confirmed"], about_old
