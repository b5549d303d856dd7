#!/usr/bin/env python3
"""A complete Ledgerline client: sign a transfer and submit it (docs/API.md §2).

    python3 python_client.py URL SECRET_KEY RECIPIENT AMOUNT

URL        the node, e.g. http://127.0.0.1:9984
SECRET_KEY the 64-hex "secret_key" that `ledgerline keygen` prints
RECIPIENT  a 32-hex chain address
AMOUNT     integer units of the native coin (1 coin = 1,000,000 units)

Prints the HTTP status and the node's JSON answer, e.g.
`202 {"tx_id":"5c1e…","status":"pending"}`, and exits 0 on 202.
Needs PyNaCl and requests (Debian: python3-nacl, python3-requests).
"""
import hashlib
import json
import sys
import time

import requests
from nacl.signing import SigningKey

url, secret, recipient, amount = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

# The signing part: these ten lines are all a client in any language needs.
key = SigningKey(bytes.fromhex(secret))
pubkey = bytes(key.verify_key).hex()
address = hashlib.sha256(bytes(key.verify_key)).digest()[:16].hex()
account = requests.get(f"{url}/api/v1/accounts/{address}", timeout=10)
nonce = account.json()["nonce"] if account.status_code == 200 else 0  # 404: a new account
body = {"kind": "transfer", "sender_pubkey": pubkey, "nonce": nonce, "fee": 0,
        "timestamp_ms": int(time.time() * 1000), "recipient": recipient, "amount": amount}
signing_bytes = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
tx = dict(body, signature=key.sign(signing_bytes).signature.hex())
reply = requests.post(f"{url}/api/v1/transactions", json=tx, timeout=10)

print(reply.status_code, reply.text)
sys.exit(0 if reply.status_code == 202 else 1)
