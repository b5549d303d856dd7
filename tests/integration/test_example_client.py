"""docs/examples/python_client.py, the ten-line client of docs/API.md §2,
works against a real node: its transfer is accepted and lands."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402

CLIENT = os.path.join(H.REPO_ROOT, "docs", "examples", "python_client.py")


SERVER_FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "2")
SERVER_NAME = "example-node"


def run_client(srv, key, recipient, amount):
    p = subprocess.run([sys.executable, CLIENT, srv.url, key.secret_hex, recipient, str(amount)],
                       capture_output=True, text=True, timeout=60, env=H.child_env())
    status, _, body = p.stdout.strip().partition(" ")
    return p.returncode, status, body, p.stderr


def test_example_client_transfer_is_accepted_and_lands(srv):
    alice = srv.funded_key(5_000_000)
    bob = H.random_address()
    rc, status, body, err = run_client(srv, alice, bob, 1_250_000)
    assert rc == 0 and status == "202", (rc, status, body, err)
    answer = json.loads(body)
    assert answer["status"] == "pending" and H.is_hex(answer["tx_id"], 64), answer
    tx = srv.wait_confirmed(answer["tx_id"])
    assert tx["sender_pubkey"] == alice.pk_hex and tx["recipient"] == bob, tx
    assert srv.balance(bob) == 1_250_000
    assert srv.balance(alice.address) == 5_000_000 - 1_250_000


def test_example_client_takes_the_next_nonce_from_the_account(srv):
    alice = srv.funded_key(5_000_000)
    bob = H.random_address()
    for n in range(3):
        rc, status, body, err = run_client(srv, alice, bob, 10)
        assert rc == 0 and status == "202", (n, rc, status, body, err)
        tx = srv.wait_confirmed(json.loads(body)["tx_id"])
        assert tx["nonce"] == n, tx
    assert srv.balance(bob) == 30


def test_example_client_reports_a_refusal_with_exit_1(srv):
    broke = H.Key.generate()
    rc, status, body, err = run_client(srv, broke, H.random_address(), 1)
    assert rc == 1 and status == "422", (rc, status, body, err)
    assert json.loads(body)["error"]["code"] == "insufficient_funds", body
