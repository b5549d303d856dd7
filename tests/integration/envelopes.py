"""Envelopes of the event streams (docs/API.md §5; seed 002).

Owns: the key sets of the block, message and tx envelopes, coins and
same_amount (amounts as events show them), envelope_tx_id and
envelope_involves (which events a filter must pass), and the
check_*_envelope assertions against an event's REST form.
"""

from signing import NATIVE_ASSET, SEED_BLOCK_FIELDS, UNITS_PER_COIN, address_of_pubkey

ENVELOPE_BLOCK_KEYS = set(SEED_BLOCK_FIELDS)
ENVELOPE_MSG_KEYS = {"sender", "sender_address", "address", "text", "timestamp", "status",
                     "block", "tx_id"}
ENVELOPE_TX_KEYS = {"tx_id", "sender", "recipient", "kind", "amount", "fee", "timestamp",
                    "block_height"}  # at least these; calls add to, selector, arg_count


def coins(units):
    """Units as events show them: coins (10000 units = 0.01)."""
    return units / UNITS_PER_COIN


def same_amount(coins_value, units):
    return isinstance(coins_value, (int, float)) and not isinstance(coins_value, bool) and \
        abs(coins_value - coins(units)) < 1e-9


def envelope_tx_id(env):
    """The tx_id an envelope is about (None for a block)."""
    for key in ("tx", "msg", "receipt"):
        if key in env:
            return env[key].get("tx_id")
    return None


def envelope_involves(env, address):
    """True when address is the event's sender, recipient, miner, contract
    or message author (docs/API.md §5), for the kinds without contracts."""
    a = address.lower()
    if a.startswith("0x"):
        a = a[2:]
    if env.get("type") == "block":
        return env["block"]["miner"] == a
    if env.get("type") == "tx":
        t = env["tx"]
        return a in (t.get("sender"), t.get("recipient"), (t.get("to") or "")[2:])
    if env.get("type") == "message":
        m = env["msg"]
        return a in (m.get("sender_address"), m.get("address"))
    if env.get("type") == "receipt":
        return env["receipt"].get("to") == a
    return False


def check_block_envelope(env, block):
    """env is {"type": "block", "block": …} showing exactly the seed fields
    of the REST block."""
    assert set(env) == {"type", "block"} and env["type"] == "block", env
    b = env["block"]
    assert set(b) == ENVELOPE_BLOCK_KEYS, "block envelope keys %s" % sorted(b)
    want = {k: block[k] for k in SEED_BLOCK_FIELDS}
    assert b == want, (b, want)
    assert isinstance(b["timestamp"], float), b


def check_msg_envelope(env, tx, status, height, sender=None):
    """A message envelope for the committed-or-pending message tx (its REST
    form); sender is the username when the author is a registered user."""
    assert set(env) == {"type", "msg"} and env["type"] == "message", env
    m = env["msg"]
    assert set(m) == ENVELOPE_MSG_KEYS, "message envelope keys %s" % sorted(m)
    author = address_of_pubkey(bytes.fromhex(tx["sender_pubkey"]))
    assert m["tx_id"] == tx["tx_id"], (m, tx["tx_id"])
    assert m["sender_address"] == author, (m, author)
    assert m["sender"] == (sender or author), (m, sender or author)
    assert m["address"] == tx["recipient"], (m, tx["recipient"])
    assert m["text"] == tx["memo"], m
    assert isinstance(m["timestamp"], (int, float)) and not isinstance(m["timestamp"], bool), m
    assert m["status"] == status, (m, status)
    assert m["block"] == height, (m, height)


def check_tx_envelope(env, tx, height):
    """A tx envelope for the committed non-message tx (its REST form)."""
    assert set(env) == {"type", "tx"} and env["type"] == "tx", env
    t = env["tx"]
    assert ENVELOPE_TX_KEYS <= set(t), "tx envelope lacks %s" % sorted(ENVELOPE_TX_KEYS - set(t))
    assert t["tx_id"] == tx["tx_id"], (t, tx["tx_id"])
    assert t["sender"] == address_of_pubkey(bytes.fromhex(tx["sender_pubkey"])), t
    assert t["kind"] == tx["kind"], t
    assert t["block_height"] == height, (t, height)
    assert same_amount(t["fee"], tx["fee"]), (t["fee"], tx["fee"])
    assert isinstance(t["timestamp"], (int, float)) and not isinstance(t["timestamp"], bool), t
    if tx["kind"] == "transfer":
        assert t["recipient"] == tx["recipient"], t
        if tx.get("asset_id") in (None, NATIVE_ASSET):
            assert same_amount(t["amount"], tx["amount"]), (t["amount"], tx["amount"])
