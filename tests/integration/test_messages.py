"""The messenger of docs/API.md §3.9: POST /api/messages signs a `message`
transaction with the user's custodial key, and GET /api/messages lists the
user's committed messages in exactly the shape of seed 002's `msg`. An
independent client: it checks the chain through the public REST API
(transactions, blocks) and the list through its documented shape. One dev
node for the whole file; each test makes its own users."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import assert_error  # noqa: E402

JSON = {"Content-Type": "application/json"}
MSG_KEYS = ["sender", "sender_address", "address", "text", "timestamp", "status", "block",
            "tx_id"]

_names = iter(range(10**6))
NO_RATE_LIMITS = ("--auth-attempts-per-ip", "0", "--login-failures-per-user", "0",
                  "--messages-per-user", "0", "--messages-per-ip", "0")


# Every test here registers and logs in from 127.0.0.1: the rate limits
# (0 turns them off) are the subject of test_hostile_auth.py, not of this file.
SERVER_FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "1", *NO_RATE_LIMITS)
SERVER_NAME = "messages-node"


class User:
    """A registered, logged-in user with its own cookie jar."""

    def __init__(self, srv, username=None, password="password1", register=True):
        self.srv = srv
        self.name = username or "u%d_%s" % (next(_names), os.urandom(3).hex())
        self.http = H.new_session()
        if register:
            r = self.http.post(srv.url + "/api/register",
                               json={"username": self.name, "password": password})
            assert r.status_code == 201, (r.status_code, r.text)
        r = self.http.post(srv.url + "/api/login",
                           json={"username": self.name, "password": password})
        assert r.status_code == 200, (r.status_code, r.text)
        self.address = r.json()["address"]

    def send(self, to, text):
        return self.http.post(self.srv.url + "/api/messages", json={"to": to, "text": text})

    def send_ok(self, to, text):
        r = self.send(to, text)
        assert r.status_code == 202, (r.status_code, r.text)
        doc = r.json()
        assert list(doc) == ["tx_id", "status"] and doc["status"] == "pending", doc
        assert H.is_hex(doc["tx_id"], 64), doc
        return doc["tx_id"]

    def messages(self, query=""):
        r = self.http.get(self.srv.url + "/api/messages" + query)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
        doc = r.json()
        assert isinstance(doc, list), doc
        return doc

    def get(self, query):
        return self.http.get(self.srv.url + "/api/messages" + query)


def check_msg(m):
    """Seed 002's msg: these keys in this order, these types."""
    assert list(m) == MSG_KEYS, list(m)
    assert isinstance(m["sender"], str) and m["sender"]
    assert H.is_hex(m["sender_address"], 32) and H.is_hex(m["address"], 32), m
    assert isinstance(m["text"], str)
    assert isinstance(m["timestamp"], float), m
    assert m["status"] == "confirmed", m
    assert isinstance(m["block"], int) and m["block"] >= 1, m
    assert H.is_hex(m["tx_id"], 64), m


# --------------------------------------------------------------------------
# POST /api/messages
# --------------------------------------------------------------------------

def test_message_to_a_username_is_202_and_commits_a_signed_message_tx(srv):
    alice, bob = User(srv), User(srv)
    tx_id = alice.send_ok(bob.name, "hello bob")
    tx = srv.wait_confirmed(tx_id)
    assert tx["kind"] == "message", tx
    assert tx["recipient"] == bob.address and tx["memo"] == "hello bob", tx
    assert H.address_of_pubkey(bytes.fromhex(tx["sender_pubkey"])) == alice.address, tx
    assert tx["fee"] == 0 and tx["nonce"] == 0, tx
    assert H.verify_signed({k: tx[k] for k in tx
                            if k not in ("tx_id", "status", "block_height")}), tx
    assert H.tx_id_of({k: tx[k] for k in tx
                       if k not in ("tx_id", "status", "block_height")}) == tx_id


def test_the_message_is_listed_for_both_parties_in_the_seed_msg_shape(srv):
    alice, bob = User(srv), User(srv)
    tx_id = alice.send_ok(bob.name, "shape check ✓")
    tx = srv.wait_confirmed(tx_id)
    for user in (alice, bob):
        msgs = user.messages()
        assert len(msgs) == 1, msgs
        m = msgs[0]
        check_msg(m)
        assert m["sender"] == alice.name, m
        assert m["sender_address"] == alice.address and m["address"] == bob.address, m
        assert m["text"] == "shape check ✓" and m["tx_id"] == tx_id, m
        assert m["block"] == tx["block_height"], (m, tx)
        assert abs(m["timestamp"] - tx["timestamp_ms"] / 1000.0) < 0.0015, (m, tx)


def test_to_may_be_a_32_hex_address_with_or_without_a_user(srv):
    alice, bob = User(srv), User(srv)
    stranger = H.random_address()
    t1 = alice.send_ok(bob.address, "by address")
    t2 = alice.send_ok(stranger, "to a bare address")
    srv.wait_confirmed(t1)
    srv.wait_confirmed(t2)
    msgs = alice.messages()
    assert [m["tx_id"] for m in msgs] == [t1, t2], msgs
    assert msgs[0]["address"] == bob.address and msgs[1]["address"] == stranger, msgs
    assert [m["tx_id"] for m in bob.messages()] == [t1]


def test_unknown_username_is_422_unknown_recipient(srv):
    alice = User(srv)
    assert_error(alice.send("nosuchuser_" + os.urandom(3).hex(), "hi"), 422, "unknown_recipient")


def test_a_to_that_is_neither_username_nor_address_is_400_bad_address(srv):
    alice = User(srv)
    for to in ["0x" + H.random_address(), H.random_address().upper(), "a b", "",
               H.random_address()[:31] + "G", "x" * 40]:
        assert_error(alice.send(to, "hi"), 400, "bad_address")


def test_text_is_at_most_1024_bytes_of_utf8(srv):
    alice, bob = User(srv), User(srv)
    assert_error(alice.send(bob.name, "a" * 1025), 400, "memo_too_long")
    assert_error(alice.send(bob.name, "€" * 342), 400, "memo_too_long")  # 1026 bytes
    t1 = alice.send_ok(bob.name, "€" * 341 + "a")  # exactly 1024 bytes
    t2 = alice.send_ok(bob.name, "")
    srv.wait_confirmed(t1)
    srv.wait_confirmed(t2)
    texts = [m["text"] for m in bob.messages()]
    assert texts == ["€" * 341 + "a", ""], [len(t) for t in texts]


def test_post_body_errors_are_400_with_their_codes(srv):
    alice, bob = User(srv), User(srv)
    url = srv.url + "/api/messages"
    assert_error(alice.http.post(url, data=b'{"to":', headers=JSON), 400, "malformed_json")
    assert_error(alice.http.post(url, json=[bob.name, "hi"]), 400, "wrong_type")
    assert_error(alice.http.post(url, json={"to": bob.name}), 400, "missing_field")
    assert_error(alice.http.post(url, json={"text": "hi"}), 400, "missing_field")
    assert_error(alice.http.post(url, json={"to": bob.name, "text": 5}), 400, "wrong_type")
    assert_error(alice.http.post(url, json={"to": None, "text": "hi"}), 400, "wrong_type")


def test_posting_without_a_session_is_401_and_as_a_form_is_415(srv):
    alice, bob = User(srv), User(srv)
    anon = H.new_session()
    assert_error(anon.post(srv.url + "/api/messages", json={"to": bob.name, "text": "hi"}), 401,
                 "unauthorized")
    # A cross-site form carries the cookie but cannot send JSON: refused.
    assert_error(alice.http.post(srv.url + "/api/messages", data={"to": bob.name, "text": "hi"}),
                 415, "unsupported_media_type")
    assert_error(alice.http.post(srv.url + "/api/messages",
                                 data='{"to":"%s","text":"hi"}' % bob.name,
                                 headers={"Content-Type": "text/plain"}),
                 415, "unsupported_media_type")
    assert bob.messages() == [], "nothing was sent"


def test_several_messages_in_a_row_take_consecutive_nonces(srv):
    alice, bob = User(srv), User(srv)
    ids = [alice.send_ok(bob.name, "n%d" % i) for i in range(5)]  # no wait in between
    txs = [srv.wait_confirmed(t) for t in ids]
    assert [t["nonce"] for t in txs] == list(range(5)), [t["nonce"] for t in txs]
    assert [m["text"] for m in bob.messages()] == ["n%d" % i for i in range(5)]


# --------------------------------------------------------------------------
# GET /api/messages
# --------------------------------------------------------------------------

def test_listing_without_a_session_is_401(srv):
    assert_error(H.new_session().get(srv.url + "/api/messages"), 401, "unauthorized")
    r = H.new_session().get(srv.url + "/api/messages", headers={"Cookie": "session=" + "1" * 64})
    assert_error(r, 401, "unauthorized")


def test_messages_are_oldest_first_and_limit_keeps_the_newest(srv):
    alice, bob = User(srv), User(srv)
    ids = []
    for i in range(6):
        sender, to = (alice, bob) if i % 2 == 0 else (bob, alice)
        ids.append(sender.send_ok(to.name, "m%d" % i))
        srv.wait_confirmed(ids[-1])  # alternate senders: wait to fix the chain order
    msgs = alice.messages()
    assert [m["tx_id"] for m in msgs] == ids
    assert [m["sender"] for m in msgs] == [alice.name, bob.name] * 3
    assert [(m["block"]) for m in msgs] == sorted(m["block"] for m in msgs)
    for m in msgs:
        check_msg(m)
    assert [m["tx_id"] for m in alice.messages("?limit=2")] == ids[4:]
    assert [m["tx_id"] for m in alice.messages("?limit=1")] == ids[5:]
    assert [m["tx_id"] for m in alice.messages("?limit=1000")] == ids


def test_before_pages_backwards_without_gap_or_overlap(srv):
    alice, bob = User(srv), User(srv)
    ids = [alice.send_ok(bob.name, "p%d" % i) for i in range(7)]
    srv.wait_confirmed(ids[-1])
    for t in ids:
        srv.wait_confirmed(t)
    pages, query = [], "?limit=3"
    while True:
        page = bob.messages(query)
        if not page:
            break
        pages.append([m["tx_id"] for m in page])
        query = "?limit=3&before=" + page[0]["tx_id"]
    assert pages == [ids[4:], ids[1:4], ids[:1]], pages
    assert bob.messages("?before=" + ids[0]) == [], "nothing is older than the first"


def test_address_narrows_the_list_to_one_other_party(srv):
    alice, bob, carol = User(srv), User(srv), User(srv)
    t_ab = alice.send_ok(bob.name, "to bob")
    t_ac = alice.send_ok(carol.name, "to carol")
    srv.wait_confirmed(t_ac)
    t_ca = carol.send_ok(alice.name, "from carol")
    t_self = alice.send_ok(alice.name, "note to self")
    srv.wait_confirmed(t_ab)
    srv.wait_confirmed(t_ca)
    srv.wait_confirmed(t_self)
    ids = lambda q: [m["tx_id"] for m in alice.messages(q)]  # noqa: E731
    assert ids("") == [t_ab, t_ac, t_ca, t_self], "a message to oneself is listed once"
    assert ids("?address=" + bob.address) == [t_ab]
    assert ids("?address=" + carol.address) == [t_ac, t_ca]
    assert ids("?address=" + alice.address) == [t_self]
    assert ids("?address=" + H.random_address()) == []
    assert ids("?limit=1&address=" + carol.address) == [t_ca]


def test_sender_is_the_address_when_no_user_has_the_key(srv):
    alice = User(srv)
    key = H.Key.generate()
    srv.fund(key.address)  # a plain key pays its own way (docs/API.md §2.6)
    tx = H.sign(key, H.message_body(key, alice.address, "from a plain key", 0))
    tx_id = srv.submit_ok(tx)
    srv.wait_confirmed(tx_id)
    m = alice.messages()[-1]
    check_msg(m)
    assert m["tx_id"] == tx_id and m["sender"] == key.address, m
    assert m["sender_address"] == key.address and m["text"] == "from a plain key", m


def test_other_kinds_and_other_peoples_messages_are_not_listed(srv):
    alice, bob, carol = User(srv), User(srv), User(srv)
    srv.fund(alice.address, 10 * H.UNITS_PER_COIN)  # a transfer to alice
    t = bob.send_ok(carol.name, "not for alice")
    srv.wait_confirmed(t)
    assert alice.messages() == []


def test_limit_before_and_address_are_checked(srv):
    alice = User(srv)
    for q in ["?limit=0", "?limit=1001", "?limit=-1", "?limit=abc", "?limit=", "?limit=1e3",
              "?limit=99999999999999999999"]:
        assert_error(alice.get(q), 400, "bad_parameter")
    for q in ["?before=xyz", "?before=" + "A" * 64, "?before=" + "0" * 63]:
        assert_error(alice.get(q), 400, "bad_parameter")
    # Well-formed, but no committed transaction has that id.
    assert_error(alice.get("?before=" + "0" * 64), 400, "bad_parameter")
    for q in ["?address=xyz", "?address=" + H.random_address().upper(),
              "?address=0x" + H.random_address()]:
        assert_error(alice.get(q), 400, "bad_address")


@H.timeout(240)
def test_default_limit_is_100_and_1000_is_the_most(srv):
    alice, bob = User(srv), User(srv)
    ids = [alice.send_ok(bob.name, "bulk %d" % i) for i in range(105)]
    srv.wait_confirmed(ids[-1], timeout=60)  # one sender: its nonces commit in order
    default = bob.messages()
    assert [m["tx_id"] for m in default] == ids[5:], "the newest 100, oldest first"
    assert [m["tx_id"] for m in bob.messages("?limit=1000")] == ids
    assert [m["tx_id"] for m in bob.messages("?limit=100")] == ids[5:]
    assert_error(bob.get("?limit=1001"), 400, "bad_parameter")


# --------------------------------------------------------------------------
# --dev and restarts
# --------------------------------------------------------------------------

def test_the_dev_user_can_send_and_receive(srv):
    dev = User(srv, "dev", "devdevdev", register=False)
    alice = User(srv)
    t1 = dev.send_ok(alice.name, "welcome")
    t2 = alice.send_ok("dev", "thanks")
    srv.wait_confirmed(t1)
    srv.wait_confirmed(t2)
    mine = [m for m in dev.messages("?address=" + alice.address)]
    assert [(m["sender"], m["text"]) for m in mine] == [("dev", "welcome"), (alice.name, "thanks")]


@H.timeout(150)
def test_after_a_restart_the_custodial_key_still_signs(srv):
    alice, bob = User(srv), User(srv)
    t1 = alice.send_ok(bob.name, "before restart")
    srv.wait_confirmed(t1)
    srv.restart()
    t2 = alice.send_ok(bob.name, "after restart")  # same cookie, same sealed key
    tx = srv.wait_confirmed(t2)
    assert H.address_of_pubkey(bytes.fromhex(tx["sender_pubkey"])) == alice.address
    assert tx["nonce"] == 1, tx
    assert [m["text"] for m in bob.messages()] == ["before restart", "after restart"]



@H.timeout(150)
def test_without_its_custody_key_the_node_cannot_sign_for_users(srv):
    # Last in the file: it replaces the node's custody key for good.
    alice, bob = User(srv), User(srv)
    srv.stop()
    os.remove(os.path.join(srv.data_dir, "custody.key"))
    srv.start()
    r = alice.http.post(srv.url + "/api/login", json={"username": alice.name,
                                                       "password": "password1"})
    assert r.status_code == 200, "the password still logs in"
    assert_error(alice.send(bob.name, "lost key"), 500, "internal_error")
    assert bob.messages() == []
