"""The command line (docs/API.md §1.1, §1.4): keygen, sign, submit, --help,
--version, usage errors, and where settings come from (flag > environment >
config file), observed through the links of GET /."""

import hashlib
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

import harness as H  # noqa: E402
from harness import run_cli  # noqa: E402
from nacl.signing import SigningKey, VerifyKey  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ledgerline-cli-")


@pytest.fixture(scope="module", autouse=True)
def _remove_tmp_after_the_file():
    yield
    H.shutil.rmtree(TMP, ignore_errors=True)


SERVER_FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "2")
SERVER_NAME = "cli-node"


def keygen():
    p = run_cli(["keygen"])
    assert p.returncode == 0, (p.returncode, p.stderr)
    return json.loads(p.stdout)


def key_file(doc):
    path = os.path.join(TMP, "%s.key" % doc["address"])
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def funded_key_file(srv, units=10_000_000):
    doc = keygen()
    srv.fund(doc["address"], units)
    return doc, key_file(doc)


# --------------------------------------------------------------------------
# keygen
# --------------------------------------------------------------------------

def test_keygen_prints_a_key_whose_address_derives_from_its_public_key():
    doc = keygen()
    assert set(doc) == {"public_key", "secret_key", "address"}, doc
    assert H.is_hex(doc["public_key"], 64) and H.is_hex(doc["secret_key"], 64), doc
    assert H.is_hex(doc["address"], 32), doc
    sk = SigningKey(bytes.fromhex(doc["secret_key"]))  # the seed, as PyNaCl takes it
    assert bytes(sk.verify_key).hex() == doc["public_key"]
    assert hashlib.sha256(bytes.fromhex(doc["public_key"])).digest()[:16].hex() == doc["address"]
    assert keygen()["secret_key"] != doc["secret_key"], "two keygens gave the same key"


# --------------------------------------------------------------------------
# sign
# --------------------------------------------------------------------------

def test_sign_output_verifies_with_pynacl_over_pythons_signing_bytes(srv):
    doc, path = funded_key_file(srv)
    body = {"kind": "message", "nonce": 0, "timestamp_ms": H.now_ms(), "fee": 5,
            "recipient": H.random_address(), "memo": "héllo € 🚀 \x1f \"q\" \\ /"}
    p = run_cli(["sign", "--key", path], input_text=json.dumps(body))
    assert p.returncode == 0, (p.returncode, p.stderr)
    signed = json.loads(p.stdout)
    expected_body = dict(body, sender_pubkey=doc["public_key"])
    assert set(signed) == set(expected_body) | {"signature"}, sorted(signed)
    assert {k: v for k, v in signed.items() if k != "signature"} == expected_body
    assert H.is_hex(signed["signature"], 128), signed["signature"]
    VerifyKey(bytes.fromhex(doc["public_key"])).verify(H.canonical(expected_body),
                                                       bytes.fromhex(signed["signature"]))
    r = srv.submit(signed)  # the node takes sign's output as it is
    tx_id = H.assert_accepted(r, signed)
    assert tx_id == hashlib.sha256(H.canonical(expected_body)).hexdigest()
    assert srv.wait_confirmed(tx_id)["memo"] == body["memo"]


def test_sign_keeps_a_matching_sender_pubkey_and_refuses_another():
    doc = keygen()
    path = key_file(doc)
    body = {"kind": "transfer", "sender_pubkey": doc["public_key"], "nonce": 3,
            "timestamp_ms": 1780002999123, "fee": 0, "recipient": H.random_address(),
            "amount": 42}
    p = run_cli(["sign", "--key", path], input_text=json.dumps(body))
    assert p.returncode == 0, p.stderr
    signed = json.loads(p.stdout)
    assert H.verify_signed(signed) and {k: signed[k] for k in body} == body

    other = keygen()
    body["sender_pubkey"] = other["public_key"]
    p = run_cli(["sign", "--key", path], input_text=json.dumps(body))
    assert p.returncode != 0, "sign accepted a body with someone else's sender_pubkey"
    assert "signature" not in p.stdout


# --------------------------------------------------------------------------
# submit
# --------------------------------------------------------------------------

def test_submit_fills_the_body_signs_posts_and_the_transfer_lands(srv):
    doc, path = funded_key_file(srv)
    bob = H.random_address()
    t0 = H.now_ms()
    p = run_cli(["submit", "--key", path, "--url", srv.url],
                input_text=json.dumps({"kind": "transfer", "recipient": bob, "amount": 7}))
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    answer = json.loads(p.stdout)
    assert set(answer) == {"tx_id", "status"} and answer["status"] == "pending", answer
    tx = srv.wait_confirmed(answer["tx_id"])
    assert tx["sender_pubkey"] == doc["public_key"] and tx["nonce"] == 0 and tx["fee"] == 0, tx
    assert t0 - 60_000 <= tx["timestamp_ms"] <= H.now_ms() + 60_000, tx
    assert srv.balance(bob) == 7

    # The next one takes its nonce from the account (now committed).
    p = run_cli(["submit", "--key", path, "--url", srv.url],
                input_text=json.dumps({"kind": "transfer", "recipient": bob, "amount": 5,
                                       "fee": 3}))
    assert p.returncode == 0, (p.stdout, p.stderr)
    tx = srv.wait_confirmed(json.loads(p.stdout)["tx_id"])
    assert tx["nonce"] == 1 and tx["fee"] == 3, tx
    assert srv.balance(bob) == 12


def test_submit_sends_a_file_of_one_transaction_per_line_as_a_batch(srv):
    _doc, path = funded_key_file(srv)
    bob = H.random_address()
    lines = [json.dumps({"kind": "transfer", "recipient": bob, "amount": n}) for n in (1, 2, 3)]
    p = run_cli(["submit", "--key", path, "--url", srv.url],
                input_text="\n".join(lines[:2]) + "\n\n" + lines[2] + "\n")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    items = json.loads(p.stdout)
    assert [i["status"] for i in items] == ["pending"] * 3, items
    txs = [srv.wait_confirmed(i["tx_id"]) for i in items]
    assert [t["nonce"] for t in txs] == [0, 1, 2], txs   # consecutive, in file order
    assert srv.balance(bob) == 6
    # a line that is not a JSON object stops it before anything is sent
    p = run_cli(["submit", "--key", path, "--url", srv.url],
                input_text=lines[0] + "\nnot json\n")
    assert p.returncode == 1 and "line 2" in p.stderr, (p.stdout, p.stderr)


def test_submit_exits_1_and_prints_the_error_when_refused(srv):
    doc, path = funded_key_file(srv, units=100)
    p = run_cli(["submit", "--key", path, "--url", srv.url],
                input_text=json.dumps({"kind": "transfer", "recipient": H.random_address(),
                                       "amount": 101}))
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    answer = json.loads(p.stdout)
    assert answer["error"]["code"] == "insufficient_funds", answer


def test_submit_to_a_new_account_uses_nonce_0(srv):
    doc = keygen()
    path = key_file(doc)
    # A new key has no account (404): submit uses nonce 0, and a zero-fee
    # transfer from it fails only for lack of funds.
    p = run_cli(["submit", "--key", path, "--url", srv.url],
                input_text=json.dumps({"kind": "transfer", "recipient": H.random_address(),
                                       "amount": 1}))
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert json.loads(p.stdout)["error"]["code"] == "insufficient_funds", p.stdout


# --------------------------------------------------------------------------
# --help, --version, usage errors
# --------------------------------------------------------------------------

def test_help_prints_usage_and_exits_0():
    for flag in ("--help", "-h"):
        p = run_cli([flag])
        assert p.returncode == 0, (flag, p.returncode, p.stderr)
        assert "usage" in p.stdout.lower(), (flag, p.stdout[:300])
        for word in ("serve", "keygen", "sign", "submit"):
            assert word in p.stdout, (flag, word)


def test_version_prints_the_version_that_the_api_reports(srv):
    p = run_cli(["--version"])
    assert p.returncode == 0, p.stderr
    m = re.match(r"^ledgerline (\d+\.\d+\.\d+)\s*$", p.stdout)
    assert m, p.stdout
    assert srv.get("/").json()["version"] == m.group(1)


def test_unknown_subcommand_exits_non_zero():
    p = run_cli(["frobnicate"])
    assert p.returncode != 0, p.stdout


def test_unknown_flag_exits_2_with_usage_on_stderr():
    p = run_cli(["serve", "--no-such-flag", "--data", os.path.join(TMP, "never")])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "usage" in p.stderr.lower(), p.stderr[:300]
    assert not os.path.exists(os.path.join(TMP, "never", "ledger.db"))


def test_unknown_config_key_or_malformed_line_exits_2():
    for i, text in enumerate(("no-such-setting = 1\n", "difficulty 3\n")):
        path = os.path.join(TMP, "bad-%d.conf" % i)
        with open(path, "w") as f:
            f.write(text)
        data = os.path.join(TMP, "never-%d" % i)
        p = run_cli(["serve", "--config", path, "--data", data, "--listen", "127.0.0.1:1"])
        assert p.returncode == 2, (text, p.returncode, p.stderr)
        assert not os.path.exists(os.path.join(data, "ledger.db"))


# --------------------------------------------------------------------------
# Flag > environment > config file, seen in GET / with --public-url
# --------------------------------------------------------------------------

def links_of(flags=(), env=None, config_lines=None):
    env = dict(env or {})
    flags = list(flags)
    if config_lines is not None:
        path = os.path.join(TMP, "node-%d.conf" % len(os.listdir(TMP)))
        with open(path, "w") as f:
            f.write("\n".join(config_lines) + "\n")
        flags = ["--config", path] + flags
    with H.Server(*flags, env=env, name="config-node") as srv:
        # The genesis block is made on the first start with the difficulty
        # in force, which shows where a numeric setting came from.
        return srv.get("/").json()["_links"], srv.block(0)["difficulty"]


CONFIG = ["# a node configured from a file",
          "",
          "public-url = https://file.example",
          "   block-interval-ms=250   ",
          "difficulty = 1  # a comment after a value"]


@H.timeout(60)
def test_config_file_sets_flags_from_key_equals_value_lines():
    links, difficulty = links_of(config_lines=CONFIG)
    assert links == {"api_v1": "https://file.example/api/v1/",
                     "streams_v1": "wss://file.example/api/v1/streams/"}, links
    assert difficulty == 1, difficulty


@H.timeout(60)
def test_environment_overrides_the_config_file():
    links, difficulty = links_of(env={"LEDGERLINE_PUBLIC_URL": "http://env.example:8080",
                                      "LEDGERLINE_DIFFICULTY": "2"},
                                 config_lines=CONFIG)
    assert links == {"api_v1": "http://env.example:8080/api/v1/",
                     "streams_v1": "ws://env.example:8080/api/v1/streams/"}, links
    assert difficulty == 2, difficulty


@H.timeout(60)
def test_flag_overrides_the_environment_and_the_config_file():
    links, difficulty = links_of(flags=["--public-url", "https://flag.example",
                                        "--difficulty", "3"],
                                 env={"LEDGERLINE_PUBLIC_URL": "http://env.example:8080",
                                      "LEDGERLINE_DIFFICULTY": "2"},
                                 config_lines=CONFIG)
    assert links == {"api_v1": "https://flag.example/api/v1/",
                     "streams_v1": "wss://flag.example/api/v1/streams/"}, links
    assert difficulty == 3, difficulty


@H.timeout(60)
def test_config_file_named_by_environment_is_read():
    path = os.path.join(TMP, "by-env.conf")
    with open(path, "w") as f:
        f.write("public-url = https://byenv.example\n")
    links, _ = links_of(env={"LEDGERLINE_CONFIG": path})
    assert links["api_v1"] == "https://byenv.example/api/v1/", links
