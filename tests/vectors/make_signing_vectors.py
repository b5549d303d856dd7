#!/usr/bin/python3
"""Signing vectors for Ledgerline transactions, computed by an independent
implementation: Python's json module (the reference of API.md §2) and PyNaCl.

The C side (tests/unit/test_tx.c, test_keys.c) reads signing_vectors.json and
must reproduce every byte. Regenerate with

    /usr/bin/python3 tests/vectors/make_signing_vectors.py          # rewrite
    /usr/bin/python3 tests/vectors/make_signing_vectors.py --check  # compare

The output is deterministic (fixed seeds, Ed25519 signatures are
deterministic), so --check must pass on a clean tree. PyNaCl (python3-nacl)
is required for the keys and signed sections.
"""
import hashlib
import json
import os
import sys

try:
    import nacl.signing
except ImportError:  # the vectors hold signatures: no silent half file
    sys.exit("make_signing_vectors.py needs PyNaCl (apt-get install python3-nacl)")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signing_vectors.json")


def canonical(body):
    """The signing bytes of API.md §2, verbatim."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def unsigned(body):
    return {k: v for k, v in body.items() if k != "signature"}


def seed_of(label):
    return hashlib.sha256(label.encode()).digest()


def address(pk):
    return hashlib.sha256(pk).digest()[:16].hex()


CONTROL = "".join(chr(c) for c in range(0x20))

# Bodies for the signing-bytes section. They need not be valid transactions:
# the serializer is tested on its own, over every shape JSON allows but reals.
SIGNING_CASES = [
    ("empty_object", {}),
    ("flat_transfer_shape", {
        "kind": "transfer", "sender_pubkey": "ab" * 32, "nonce": 0,
        "timestamp_ms": 1700000000000, "fee": 10000, "recipient": "cd" * 16, "amount": 5}),
    ("signature_key_is_excluded", {"b": 1, "signature": "00" * 64, "a": 2}),
    ("keys_sorted_by_code_point", {
        "b": 1, "a": 2, "aa": 3, "A": 4, "Z": 5, "_": 6, "é": 7, "z": 8, "日本": 9,
        "\ue000": 10, "\U0001f600": 11, "\uffff": 12, "a b": 13, "": 14, "1": 15}),
    ("keys_needing_escapes", {"q\"uote": 1, "back\\slash": 2, "tab\t": 3, "\u001f": 4,
                              "new\nline": 5}),
    ("non_ascii_text", {"s": "café", "cjk": "日本語のテキスト", "emoji": "😀🎉",
                        "astral": "\U00010348\U0010ffff", "bmp_high": "\uffff\ufffd"}),
    ("short_escapes", {"s": "quote\" backslash\\ nl\n tab\t bs\b ff\f cr\r"}),
    ("every_control_char", {"s": CONTROL}),
    ("control_chars_with_hex_letters", {"s": "\u000b\u000e\u001a\u001b\u001c\u001d\u001e\u001f"}),
    ("del_and_line_separators_raw", {"s": "del\u007f ls\u2028 ps\u2029 nel\u0085"}),
    ("slash_unescaped", {"s": "a/b</script>", "url": "https://example.com/x?y=1"}),
    ("escaped_backslash_then_u_text", {"s": "\\u00AB", "t": "\\\\u00AB\u001f", "u": "\\u"}),
    ("nested_objects_and_arrays", {
        "z": {"y": {"x": [1, [2, [3, {"b": [], "a": {}}]]]}},
        "a": [{"k": "v", "j": None}, [], {}, [[[]]], True, False, None]}),
    ("empty_containers", {"o": {}, "a": [], "ao": [{}], "oa": {"a": []}, "s": ""}),
    ("large_integers", {"max": 2**63 - 1, "min": -2**63, "neg": -1, "zero": 0,
                        "big": 10**18, "list": [2**63 - 1, -2**63, 2**53 + 1]}),
    ("booleans_and_null", {"t": True, "f": False, "n": None, "l": [True, None, False]}),
    ("create_with_asset", {
        "kind": "create", "sender_pubkey": "01" * 32, "nonce": 3, "timestamp_ms": 1,
        "fee": 0, "asset": {"data": {"name": "Kaffee ☕", "tags": ["a", "b"], "n": None},
                            "amount": 1000}}),
    ("message_multiline_memo", {
        "kind": "message", "sender_pubkey": "02" * 32, "nonce": 1, "timestamp_ms": 2,
        "fee": 1, "recipient": "03" * 16, "memo": "Hallo\nWelt\t😀 \"zitat\" \\ /"}),
]


def signing_section():
    out = []
    for name, body in SIGNING_CASES:
        sb = canonical(unsigned(body))
        out.append({
            "name": name,
            "body": body,
            "signing_bytes": sb.decode(),
            "signing_bytes_hex": sb.hex(),
            "tx_id": hashlib.sha256(sb).hexdigest(),
        })
    return out


KEY_LABELS = ["ledgerline test key 1", "ledgerline test key 2"]


def keys_section():
    out = [{"seed": bytes(32).hex()}] + [{"seed": seed_of(l).hex()} for l in KEY_LABELS]
    for k in out:
        sk = nacl.signing.SigningKey(bytes.fromhex(k["seed"]))
        pk = bytes(sk.verify_key)
        k["public_key"] = pk.hex()
        k["address"] = address(pk)
    return out


def signed_section():
    alice = nacl.signing.SigningKey(seed_of(KEY_LABELS[0]))
    bob = nacl.signing.SigningKey(seed_of(KEY_LABELS[1]))
    alice_pk = bytes(alice.verify_key)
    bob_addr = address(bytes(bob.verify_key))
    common = {"sender_pubkey": alice_pk.hex(), "timestamp_ms": 1714000000123}
    bodies = [
        ("transfer_native", {"kind": "transfer", "nonce": 0, "fee": 10000,
                             "recipient": bob_addr, "amount": 2500000, **common}),
        ("transfer_asset", {"kind": "transfer", "nonce": 1, "fee": 0, "recipient": bob_addr,
                            "amount": 1, "asset_id": hashlib.sha256(b"asset").hexdigest(),
                            **common}),
        ("create_unicode_data", {"kind": "create", "nonce": 2, "fee": 10000, **common,
                                 "asset": {"data": {"name": "Ünïcode 資産 🚀", "serial": 42,
                                                    "tags": ["x\u0001", "/", "\u2028"],
                                                    "meta": None},
                                           "amount": 9223372036854775807}}),
        ("create_null_data", {"kind": "create", "nonce": 3, "fee": 1,
                              "asset": {"data": None, "amount": 1}, **common}),
        ("message_emoji", {"kind": "message", "nonce": 4, "fee": 10000, "recipient": bob_addr,
                           "memo": "hi 👋\nline two\t\"quoted\" \\ é", **common}),
    ]
    out = []
    for i, (name, body) in enumerate(bodies):
        sb = canonical(body)
        sig = alice.sign(sb).signature.hex()
        # The submitted text is deliberately not canonical: signature first,
        # unsorted keys, spaces, \u escapes (ensure_ascii) and, for one case,
        # indentation. The node must sign what the JSON means, not its text.
        submitted = {"signature": sig, **body}
        text = json.dumps(submitted, ensure_ascii=True, indent=2 if i == 0 else None)
        out.append({
            "name": name,
            "seed": seed_of(KEY_LABELS[0]).hex(),
            "unsigned": body,
            "submitted": text,
            "signature": sig,
            "signing_bytes_hex": sb.hex(),
            "tx_id": hashlib.sha256(sb).hexdigest(),
            "sender": address(alice_pk),
            "dump": canonical(submitted).decode(),
        })
    return out


def main():
    doc = {
        "about": "Generated by tests/vectors/make_signing_vectors.py; do not edit by hand.",
        "keys": keys_section(),
        "signing": signing_section(),
        "signed": signed_section(),
    }
    # ASCII-only file: every reader decodes the same bytes, whatever its locale.
    text = json.dumps(doc, indent=1, ensure_ascii=True) + "\n"
    if sys.argv[1:] == ["--check"]:
        with open(OUT, encoding="ascii") as f:
            if f.read() != text:
                sys.exit("signing_vectors.json is stale: rerun make_signing_vectors.py")
        print("signing_vectors.json is up to date")
        return
    with open(OUT, "w", encoding="ascii") as f:
        f.write(text)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
