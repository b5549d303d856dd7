/* ledger/tx.h: transactions: canonical signing bytes, parsing and the
 * stateless half of validation (shape of every field, signature).
 * Owns:    an ll_tx_t owns its body (json_t, one reference) and its signing
 *          bytes; ll_tx_free() releases both.
 * Threads: any; an ll_tx_t is used by one thread at a time (parsed on a
 *          worker, then handed to the ledger thread, which frees it).
 *
 * Signing bytes = the body (every field but "signature") serialized with keys
 * sorted, no white space, UTF-8 unescaped: byte-identical to Python's
 * json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
 * tx_id = lowercase hex SHA-256 of the signing bytes. Floating-point numbers
 * are refused anywhere in a body, because their text differs between JSON
 * libraries and so could not be signed canonically. */
#ifndef LL_LEDGER_TX_H
#define LL_LEDGER_TX_H

#include "ledger/keys.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LL_TX_ID_HEX 64
#define LL_VM_ADDRESS_HEX 40 /* a contract's address */
#define LL_ASSET_ID_HEX 64
#define LL_MEMO_MAX 1024          /* bytes of UTF-8 */
#define LL_UNITS_PER_COIN 1000000 /* amounts are integers of micro-units */
#define LL_NATIVE_ASSET_ID "0000000000000000000000000000000000000000000000000000000000000000"

typedef enum {
    LL_TX_TRANSFER,
    LL_TX_CREATE,
    LL_TX_MESSAGE,
    LL_TX_DEPLOY,
    LL_TX_CALL,
} ll_tx_kind_t;

typedef struct ll_tx {
    ll_tx_kind_t kind;
    char tx_id[LL_TX_ID_HEX + 1];
    uint8_t sender_pk[LL_PK_BYTES];
    char sender[LL_ADDRESS_HEX + 1]; /* chain address of sender_pk */
    uint64_t nonce;
    int64_t timestamp_ms;
    int64_t fee;          /* units, >= 0 */
    int origin;           /* who submitted it: the ledger's code, kept with a saved mempool */
    uint64_t journal_pos; /* its row in journal.db; 0 until it is journaled */
    char recipient[LL_ADDRESS_HEX + 1]; /* transfer, message; "" otherwise */
    int64_t amount;                     /* transfer: units moved (> 0);
                                           create: units issued (> 0);
                                           call: units sent to the contract (>= 0) */
    char asset_id[LL_ASSET_ID_HEX + 1]; /* transfer: the asset moved (native when
                                           absent); create: its own tx_id (the new
                                           asset's id); LL_NATIVE_ASSET_ID otherwise */
    const char *memo;                   /* message: borrowed from body; may hold NUL */
    size_t memo_len;
    const json_t *asset_data; /* create: borrowed from body */
    const char *code;         /* deploy: the Lua source, borrowed */
    size_t code_len;
    uint64_t gas_limit;             /* deploy, call */
    char to[LL_VM_ADDRESS_HEX + 1]; /* call: the contract, without "0x" */
    int64_t selector;               /* call */
    const json_t *args;             /* call: borrowed array */
    uint8_t signature[LL_SIG_BYTES];
    json_t *body;        /* the signed transaction, as submitted */
    char *signing_bytes; /* NUL-terminated canonical body */
    size_t signing_len;
    char *text; /* the canonical text of body, signature included (ll_tx_text) */
} ll_tx_t;

/* "transfer", "create", … for the JSON edge. */
const char *ll_tx_kind_name(ll_tx_kind_t kind);

/* Canonical bytes of obj (a JSON object), every key but "signature".
 * Returns 0 and a malloc'd NUL-terminated string in *out (caller frees), or
 * LL_EBADTYPE when obj holds a real number (see above), LL_ENOMEM. */
int ll_tx_signing_bytes(const json_t *obj, char **out, size_t *len);

/* Parses and validates a submitted transaction: JSON syntax, every field's
 * presence, type and range for its kind, lowercase hex, memo length, integer
 * range, unknown fields, and finally the Ed25519 signature over the signing
 * bytes. Returns 0 and a new ll_tx_t in *out, or a negative LL_E* with a
 * human-readable reason in why (LL_ERRMSG_MAX bytes). For contracts: code
 * over 64 KiB, more than 16 args or an arg over 4 KiB → LL_ETOOLARGE;
 * gas_limit outside 1…10,000,000 → LL_EGASLIMIT; args not integers and
 * strings → LL_EBADARGS; `to` not "0x" + 40 lowercase hex → LL_EBADADDRESS. */
int ll_tx_parse(const char *json, size_t len, ll_tx_t **out, char *why);

/* The same from an already parsed object (the reference is not stolen). */
int ll_tx_from_json(const json_t *signed_tx, ll_tx_t **out, char *why);

/* The same for a body this process has just signed with ll_tx_sign (the
 * faucet, the custodial messenger): every check but the Ed25519 one, which
 * would only repeat the signer's work on the ledger thread. */
int ll_tx_from_own_json(const json_t *signed_tx, ll_tx_t **out, char *why);

/* The same for text this node wrote itself after verifying it (its
 * journal, store/pending.h): every check but the Ed25519 one, so a restart
 * does not verify the whole journal again on the ledger thread. */
int ll_tx_parse_own(const char *json, size_t len, ll_tx_t **out, char *why);

/* Whether stored (a signed transaction's JSON text, as read back from the
 * store) is bound to verified, a transaction whose signature was checked
 * once at admission: it is byte for byte verified's canonical text, which
 * was serialised from the very object whose signing bytes hash to its
 * tx_id and carry its verified signature. No Ed25519 work, no parse: equal
 * bytes carry the check over. Returns 0 or LL_EINTERNAL (why says so). */
int ll_tx_bound(const char *stored, const ll_tx_t *verified, char *why);

/* Fills what a signer may leave out of an unsigned body: "timestamp_ms"
 * (now_ms) and "fee" (0), each only when absent. Returns 0 or LL_ENOMEM.
 * The CLI and the node's own signers (faucet, messenger) share it. */
int ll_tx_fill_defaults(json_t *body, int64_t now_ms);

/* Adds "signature" (128 hex) over body's signing bytes to body, in place.
 * Used by the CLI, the faucet and the messenger. Returns 0 or LL_E*. */
int ll_tx_sign(json_t *body, const ll_keypair_t *kp);

/* The signed transaction as one compact JSON text with sorted keys
 * (signature included), made once when tx was built: what the journal and
 * the chain store. Borrowed; valid while tx lives. */
const char *ll_tx_text(const ll_tx_t *tx);

/* A malloc'd copy of ll_tx_text (caller frees); NULL on failure. */
char *ll_tx_dump(const ll_tx_t *tx);

/* Any JSON object in the canonical text, every key kept (the CLI prints a
 * signed body this way). malloc'd, caller frees; NULL on failure. */
char *ll_tx_canonical_text(const json_t *obj);

/* The REST view of a transaction (GET /api/v1/transactions/{tx_id}, the
 * account pages): its signed body, then tx_id, status and block_height
 * (null while pending). Steals body (NULL is passed through); NULL when
 * memory runs out. */
json_t *ll_tx_view(json_t *body, const char *tx_id, int pending, uint64_t height);

void ll_tx_free(ll_tx_t *tx);

#endif
