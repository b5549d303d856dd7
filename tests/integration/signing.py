"""Keys, addresses, signing and blocks (docs/API.md §2, the header rule).

Owns: the chain's constants (units per coin, the native asset, genesis and
faucet amounts), Key (Ed25519 via PyNaCl) and chain addresses, the canonical
signing bytes, tx_id_of, signed transaction bodies, and check_block, which
asserts every rule a block and its link to the previous block obey. Pure
functions: no process, no socket.
"""

import hashlib
import json
import os
import re
import time

from nacl.signing import SigningKey, VerifyKey

UNITS_PER_COIN = 1_000_000
NATIVE_ASSET = "0" * 64
ZERO_HASH = "0" * 64
GENESIS_SUPPLY = 1_000_000_000 * UNITS_PER_COIN  # 10^15 units, allocated to the faucet
FAUCET_DEFAULT = 1000 * UNITS_PER_COIN
FAUCET_MAX = 1_000_000 * UNITS_PER_COIN
INT64_MAX = 2**63 - 1

HEX_RE = re.compile(r"^[0-9a-f]*$")


def is_hex(s, length):
    return isinstance(s, str) and len(s) == length and HEX_RE.match(s) is not None


# --------------------------------------------------------------------------
# Keys, addresses, signing (API.md §2)
# --------------------------------------------------------------------------

def address_of_pubkey(pk_bytes):
    """Chain address: hex of the first 16 bytes of SHA-256(public key)."""
    return hashlib.sha256(pk_bytes).digest()[:16].hex()


class Key:
    def __init__(self, signing_key):
        self.sk = signing_key
        self.pk = bytes(signing_key.verify_key)
        self.pk_hex = self.pk.hex()
        self.secret_hex = bytes(signing_key).hex()  # the 32-byte seed
        self.address = address_of_pubkey(self.pk)

    @classmethod
    def generate(cls):
        return cls(SigningKey.generate())

    @classmethod
    def from_secret_hex(cls, secret_hex):
        return cls(SigningKey(bytes.fromhex(secret_hex)))

    def __repr__(self):
        return "Key(%s)" % self.address


def random_address():
    return os.urandom(16).hex()


def canonical(body):
    """Signing bytes: sorted keys, no white space, UTF-8 unescaped."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def tx_id_of(body):
    """tx_id of a body or of a signed transaction (its signature excluded)."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "signature"})).hexdigest()


def sign(key, body):
    """The signed transaction: body (sender_pubkey filled when absent) plus
    `signature`, 128 hex of Ed25519 over the canonical bytes."""
    body = dict(body)
    body.setdefault("sender_pubkey", key.pk_hex)
    signature = key.sk.sign(canonical(body)).signature.hex()
    return dict(body, signature=signature)


def sign_exact(key, body):
    """Signs body exactly as given (no field filled): for malformed bodies."""
    return dict(body, signature=key.sk.sign(canonical(body)).signature.hex())


def verify_signed(tx):
    """True when tx's signature verifies over its canonical bytes."""
    body = {k: v for k, v in tx.items() if k != "signature"}
    try:
        VerifyKey(bytes.fromhex(tx["sender_pubkey"])).verify(canonical(body),
                                                             bytes.fromhex(tx["signature"]))
        return True
    except Exception:
        return False


def now_ms():
    return int(time.time() * 1000)


def transfer_body(key, recipient, amount, nonce, fee=0, asset_id=None):
    body = {"kind": "transfer", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "recipient": recipient, "amount": amount}
    if asset_id is not None:
        body["asset_id"] = asset_id
    return body


def create_body(key, data, amount, nonce, fee=0):
    return {"kind": "create", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "asset": {"data": data, "amount": amount}}


def message_body(key, recipient, memo, nonce, fee=0):
    return {"kind": "message", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "recipient": recipient, "memo": memo}


def deploy_body(key, code, nonce, gas_limit, fee=0):
    return {"kind": "deploy", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "code": code, "gas_limit": gas_limit}


def call_body(key, to, selector, args, nonce, gas_limit, fee=0, amount=None):
    """A call of the contract at `to` (40 hex; the body carries it with 0x)."""
    body = {"kind": "call", "sender_pubkey": key.pk_hex, "nonce": nonce,
            "timestamp_ms": now_ms(), "fee": fee, "to": "0x" + to, "selector": selector,
            "args": list(args), "gas_limit": gas_limit}
    if amount is not None:
        body["amount"] = amount
    return body


def vm_address(chain_address, nonce):
    """docs/API.md §2: the first 20 bytes of SHA-256(the 16 raw bytes of the
    deployer's chain address || the deploy's nonce, 8 bytes big-endian)."""
    raw = bytes.fromhex(chain_address) + nonce.to_bytes(8, "big")
    return hashlib.sha256(raw).digest()[:20].hex()


def transfer(key, recipient, amount, nonce, fee=0, asset_id=None):
    return sign(key, transfer_body(key, recipient, amount, nonce, fee, asset_id))


# --------------------------------------------------------------------------
# Blocks (the header rule of docs/API.md)
# --------------------------------------------------------------------------

SEED_BLOCK_FIELDS = ["height", "hash", "previous_hash", "timestamp", "tx_count", "miner",
                     "difficulty", "quantum_verified"]
EXT_BLOCK_FIELDS = ["nonce", "timestamp_ms", "tx_root", "transactions"]


def header_hash(block):
    header = {k: block[k] for k in ("difficulty", "height", "miner", "nonce", "previous_hash",
                                    "timestamp_ms", "tx_root")}
    return hashlib.sha256(canonical(header)).hexdigest()


def tx_root_of(tx_ids):
    return hashlib.sha256(b"".join(bytes.fromhex(t) for t in tx_ids)).hexdigest()


def check_block(block, previous=None):
    """Asserts every rule a single block (and its link to `previous`) obeys."""
    h = block.get("height")
    assert is_hex(block["hash"], 64), "block %s: hash %r" % (h, block["hash"])
    assert is_hex(block["miner"], 32), "block %s: miner %r" % (h, block["miner"])
    assert isinstance(block["difficulty"], int) and block["difficulty"] >= 0
    assert block["hash"].startswith("0" * block["difficulty"]), \
        "block %s: hash %s lacks %d leading zeros" % (h, block["hash"], block["difficulty"])
    assert header_hash(block) == block["hash"], \
        "block %s: header re-hashes to %s, not %s" % (h, header_hash(block), block["hash"])
    assert block["tx_root"] == tx_root_of(block["transactions"]), "block %s: tx_root" % h
    assert block["tx_count"] == len(block["transactions"]), "block %s: tx_count" % h
    assert isinstance(block["timestamp"], float), "block %s: timestamp %r is not a float" % (
        h, block["timestamp"])
    assert abs(block["timestamp"] - block["timestamp_ms"] / 1000.0) < 0.0015, "block %s" % h
    assert block["quantum_verified"] is True, "block %s: quantum_verified" % h
    if h == 0:
        assert block["previous_hash"] == ZERO_HASH and block["tx_count"] == 0
    if previous is not None:
        assert h == previous["height"] + 1
        assert block["previous_hash"] == previous["hash"], \
            "block %s: previous_hash %s != hash of block %s" % (h, block["previous_hash"],
                                                                 previous["height"])
