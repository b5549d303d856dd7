/* ledger/tx.c: canonical signing bytes and the stateless validation of a
 * submitted transaction. Workers call ll_tx_parse() on every POST body
 * before anything reaches the ledger thread, so everything here depends on
 * the transaction alone: nonces, balances and assets are the ledger's job.
 *
 * The signing bytes must equal Python's json.dumps(body, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False) byte for byte (API.md §2), and
 * tests/vectors/signing_vectors.json holds the proof. jansson's compact,
 * key-sorted output already agrees on everything but one detail, fixed in
 * lower_u_escapes() below. */
#include "ledger/tx.h"
#include "util/err.h"
#include "util/hex.h"
#include "vm/vm.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [LL_TX_TRANSFER] = "transfer", [LL_TX_CREATE] = "create", [LL_TX_MESSAGE] = "message",
    [LL_TX_DEPLOY] = "deploy",     [LL_TX_CALL] = "call",
};
#define KIND_COUNT (sizeof kind_names / sizeof kind_names[0])

const char *ll_tx_kind_name(ll_tx_kind_t kind)
{
    return (size_t)kind < KIND_COUNT ? kind_names[kind] : "unknown";
}

/* ---- canonical text ---------------------------------------------------- */

/* jansson writes \u escapes with upper-case hex ("\u001F"), Python with
 * lower case. Without JSON_ENSURE_ASCII jansson emits \u only for control
 * characters. Stepping over whole escapes, rather than searching for "\u",
 * leaves an escaped backslash followed by the text "u00AB" alone. */
static void lower_u_escapes(char *s)
{
    char *p = s;

    while ((p = strchr(p, '\\')) != NULL) {
        if (p[1] != 'u') {
            p += p[1] ? 2 : 1;
            continue;
        }
        p += 2;
        for (int i = 0; i < 4 && *p; i++, p++) {
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        }
    }
}

/* The one serializer for signing bytes and for ll_tx_dump(): two copies
 * could drift apart, and a dumped transaction must hash to its own id. */
static char *dump_canonical(const json_t *v)
{
    char *text = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);

    if (text)
        lower_u_escapes(text);
    return text;
}

static int has_real(const json_t *v)
{
    if (json_is_real(v))
        return 1;
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        if (has_real(json_array_get(v, i)))
            return 1;
    }
    if (!json_is_object(v))
        return 0;
    /* jansson's iterators take a non-const object; nothing is changed. */
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        if (has_real(json_object_iter_value(it)))
            return 1;
    }
    return 0;
}

int ll_tx_signing_bytes(const json_t *obj, char **out, size_t *len)
{
    json_t *copy = NULL;
    char *text = NULL;
    int rc;

    *out = NULL;
    /* A real's text differs between JSON libraries (1e2, 100.0, 100.00000000000001),
     * so no two implementations could be sure to sign the same bytes. */
    if (!json_is_object(obj) || has_real(obj))
        return LL_EBADTYPE;
    /* Shallow: the copy shares every value with obj and only drops one key. */
    if (!(copy = json_copy((json_t *)obj))) {
        rc = LL_ENOMEM;
        goto out;
    }
    json_object_del(copy, "signature");
    if (!(text = dump_canonical(copy))) {
        rc = LL_ENOMEM;
        goto out;
    }
    *out = text;
    if (len)
        *len = strlen(text);
    rc = 0;
out:
    json_decref(copy);
    return rc;
}

char *ll_tx_dump(const ll_tx_t *tx)
{
    return strdup(tx->text);
}

const char *ll_tx_text(const ll_tx_t *tx)
{
    return tx->text;
}

char *ll_tx_canonical_text(const json_t *obj)
{
    return dump_canonical(obj);
}

json_t *ll_tx_view(json_t *body, const char *tx_id, int pending, uint64_t height)
{
    if (!body)
        return NULL;
    if (json_object_set_new(body, "tx_id", json_string(tx_id)) < 0 ||
        json_object_set_new(body, "status", json_string(pending ? "pending" : "confirmed")) < 0 ||
        json_object_set_new(body, "block_height",
                            pending ? json_null() : json_integer((json_int_t)height)) < 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int ll_tx_fill_defaults(json_t *body, int64_t now_ms)
{
    if ((!json_object_get(body, "timestamp_ms") &&
         json_object_set_new(body, "timestamp_ms", json_integer((json_int_t)now_ms)) < 0) ||
        (!json_object_get(body, "fee") && json_object_set_new(body, "fee", json_integer(0)) < 0))
        return LL_ENOMEM;
    return 0;
}

int ll_tx_sign(json_t *body, const ll_keypair_t *kp)
{
    uint8_t sig[LL_SIG_BYTES];
    char hex[2 * LL_SIG_BYTES + 1];
    char *bytes = NULL;
    size_t len;
    int rc;

    if ((rc = ll_tx_signing_bytes(body, &bytes, &len)) < 0)
        goto out;
    crypto_sign_detached(sig, NULL, (const unsigned char *)bytes, len, kp->sk);
    ll_hex_encode(sig, sizeof sig, hex);
    /* set_new steals the new string, also when it fails. */
    rc = json_object_set_new(body, "signature", json_string(hex)) == 0 ? 0 : LL_ENOMEM;
out:
    free(bytes);
    return rc;
}

/* ---- validation -------------------------------------------------------- */

typedef enum { FT_INT, FT_HEX, FT_TEXT, FT_ASSET, FT_ARRAY } field_type_t;

/* One field of a body and the kinds that carry it. hex_err exists because a
 * bad recipient is reported as an address (LL_EBADADDRESS), every other bad
 * hex field as LL_EBADHEX. */
typedef struct {
    const char *name;
    field_type_t type;
    unsigned kinds; /* KIND_BIT()s */
    int optional;
    size_t hex_len; /* FT_HEX: exact number of digits */
    int hex_err;
    int64_t min; /* FT_INT: smallest accepted value */
} field_t;

#define KIND_BIT(k) (1u << (k))
#define TRANSFER KIND_BIT(LL_TX_TRANSFER)
#define CREATE KIND_BIT(LL_TX_CREATE)
#define MESSAGE KIND_BIT(LL_TX_MESSAGE)
#define DEPLOY KIND_BIT(LL_TX_DEPLOY)
#define CALL KIND_BIT(LL_TX_CALL)
#define ALL_KINDS (TRANSFER | CREATE | MESSAGE | DEPLOY | CALL)

/* Every field of API.md §2, in the order missing ones are reported. */
static const field_t fields[] = {
    {.name = "kind", .type = FT_TEXT, .kinds = ALL_KINDS},
    {.name = "sender_pubkey",
     .type = FT_HEX,
     .kinds = ALL_KINDS,
     .hex_len = 2 * LL_PK_BYTES,
     .hex_err = LL_EBADHEX},
    {.name = "nonce", .type = FT_INT, .kinds = ALL_KINDS},
    {.name = "timestamp_ms", .type = FT_INT, .kinds = ALL_KINDS},
    {.name = "fee", .type = FT_INT, .kinds = ALL_KINDS},
    {.name = "signature",
     .type = FT_HEX,
     .kinds = ALL_KINDS,
     .hex_len = 2 * LL_SIG_BYTES,
     .hex_err = LL_EBADHEX},
    {.name = "recipient",
     .type = FT_HEX,
     .kinds = TRANSFER | MESSAGE,
     .hex_len = LL_ADDRESS_HEX,
     .hex_err = LL_EBADADDRESS},
    {.name = "amount", .type = FT_INT, .kinds = TRANSFER, .min = 1},
    {.name = "asset_id",
     .type = FT_HEX,
     .kinds = TRANSFER,
     .optional = 1,
     .hex_len = LL_ASSET_ID_HEX,
     .hex_err = LL_EBADHEX},
    {.name = "asset", .type = FT_ASSET, .kinds = CREATE},
    {.name = "memo", .type = FT_TEXT, .kinds = MESSAGE},
    {.name = "code", .type = FT_TEXT, .kinds = DEPLOY},
    {.name = "to", .type = FT_TEXT, .kinds = CALL},
    {.name = "selector", .type = FT_INT, .kinds = CALL, .min = INT64_MIN},
    {.name = "args", .type = FT_ARRAY, .kinds = CALL},
    {.name = "amount", .type = FT_INT, .kinds = CALL, .optional = 1},
    {.name = "gas_limit", .type = FT_INT, .kinds = DEPLOY | CALL, .min = 1},
};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])

__attribute__((format(printf, 3, 4))) static int fail(char *why, int rc, const char *fmt, ...)
{
    va_list ap;

    if (why) {
        va_start(ap, fmt);
        vsnprintf(why, LL_ERRMSG_MAX, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int check_kind(const json_t *body, ll_tx_kind_t *kind, char *why)
{
    const json_t *v = json_object_get(body, "kind");
    const char *name;

    if (!v)
        return fail(why, LL_EMISSING, "missing field 'kind'");
    if (!json_is_string(v))
        return fail(why, LL_EBADTYPE, "field 'kind' must be a string");
    name = json_string_value(v);
    for (size_t k = 0; k < KIND_COUNT; k++) {
        /* Bodies may hold U+0000: "transfer\u0000x" is not "transfer". */
        if (strlen(name) != json_string_length(v) || strcmp(name, kind_names[k]) != 0)
            continue;
        *kind = (ll_tx_kind_t)k;
        return 0;
    }
    return fail(why, LL_EKIND, "unknown kind '%.64s'", name);
}

static int is_field_of(ll_tx_kind_t kind, const char *name)
{
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        if ((fields[i].kinds & KIND_BIT(kind)) && strcmp(fields[i].name, name) == 0)
            return 1;
    }
    return 0;
}

/* Presence, unknown keys, types, hex, ranges: each pass runs over the whole
 * body before the next starts, so the code a client gets for a body with
 * several faults does not depend on the order of its keys. */
static int check_fields(const json_t *body, ll_tx_kind_t kind, char *why)
{
    const unsigned bit = KIND_BIT(kind);
    const field_t *f;
    const json_t *v;

    for (f = fields; f < fields + FIELD_COUNT; f++) {
        if ((f->kinds & bit) && !f->optional && !json_object_get(body, f->name))
            return fail(why, LL_EMISSING, "missing field '%s'", f->name);
    }
    /* jansson's iterators take a non-const object; nothing is changed. */
    for (void *it = json_object_iter((json_t *)body); it;
         it = json_object_iter_next((json_t *)body, it)) {
        const char *key = json_object_iter_key(it);
        if (!is_field_of(kind, key))
            return fail(why, LL_EUNKNOWNFIELD, "unknown field '%.64s' for a %s transaction", key,
                        kind_names[kind]);
    }
    for (f = fields; f < fields + FIELD_COUNT; f++) {
        if (!(f->kinds & bit) || !(v = json_object_get(body, f->name)))
            continue;
        if (f->type == FT_INT && !json_is_integer(v))
            return fail(why, LL_EBADTYPE, "field '%s' must be an integer", f->name);
        if ((f->type == FT_HEX || f->type == FT_TEXT) && !json_is_string(v))
            return fail(why, LL_EBADTYPE, "field '%s' must be a string", f->name);
        if (f->type == FT_ARRAY && !json_is_array(v))
            return fail(why, LL_EBADTYPE, "field '%s' must be an array", f->name);
    }
    for (f = fields; f < fields + FIELD_COUNT; f++) {
        if (f->type != FT_HEX || !(f->kinds & bit) || !(v = json_object_get(body, f->name)))
            continue;
        /* The length check also refuses a string with an embedded NUL. */
        if (json_string_length(v) != f->hex_len ||
            !ll_hex_is_lower(json_string_value(v), f->hex_len))
            return fail(why, f->hex_err, "field '%s' must be %zu lowercase hex digits", f->name,
                        f->hex_len);
    }
    for (f = fields; f < fields + FIELD_COUNT; f++) {
        if (f->type != FT_INT || !(f->kinds & bit) || !json_object_get(body, f->name))
            continue;
        if (json_integer_value(json_object_get(body, f->name)) < f->min)
            return fail(why, LL_EBADAMOUNT, "field '%s' must be %s", f->name,
                        f->min > 0 ? "positive" : "zero or more");
    }
    return 0;
}

/* The limits of API.md §6 that a submission can be checked against. */
static int check_contract(const json_t *body, ll_tx_kind_t kind, char *why)
{
    const json_t *code = json_object_get(body, "code"), *args = json_object_get(body, "args");
    const char *to = json_string_value(json_object_get(body, "to"));
    json_int_t gas = json_integer_value(json_object_get(body, "gas_limit"));
    if (gas > (json_int_t)LL_VM_MAX_GAS)
        return fail(why, LL_EGASLIMIT, "field 'gas_limit' may be at most %llu",
                    (unsigned long long)LL_VM_MAX_GAS);
    if (kind == LL_TX_DEPLOY) {
        size_t len = json_string_length(code);
        if (len > LL_VM_MAX_CODE)
            return fail(why, LL_ETOOLARGE, "field 'code' is %zu bytes, at most %d are allowed", len,
                        LL_VM_MAX_CODE);
        if (strlen(json_string_value(code)) != len)
            return fail(why, LL_EBADTYPE, "field 'code' may not contain NUL");
        return 0;
    }
    if (json_string_length(json_object_get(body, "to")) != 2 + LL_VM_ADDRESS_HEX ||
        strncmp(to, "0x", 2) != 0 || !ll_hex_is_lower(to + 2, LL_VM_ADDRESS_HEX))
        return fail(why, LL_EBADADDRESS, "field 'to' must be 0x and 40 lowercase hex digits");
    if (json_array_size(args) > LL_VM_MAX_ARGS)
        return fail(why, LL_ETOOLARGE, "at most %d args are allowed", LL_VM_MAX_ARGS);
    for (size_t i = 0; i < json_array_size(args); i++) {
        const json_t *a = json_array_get(args, i);
        if (json_is_string(a) && json_string_length(a) > LL_VM_MAX_ARG_BYTES)
            return fail(why, LL_ETOOLARGE, "args[%zu] is over %d bytes", i, LL_VM_MAX_ARG_BYTES);
        if (!json_is_integer(a) && !json_is_string(a))
            return fail(why, LL_EBADARGS, "args[%zu] must be an integer or a string", i);
    }
    return 0;
}

static int check_memo(const json_t *memo, char *why)
{
    size_t len = json_string_length(memo);

    if (len > LL_MEMO_MAX)
        return fail(why, LL_EMEMO, "field 'memo' is %zu bytes, at most %d are allowed", len,
                    LL_MEMO_MAX);
    /* U+0000 is text like any other: the memo travels with its length. */
    return 0;
}

/* asset is {"data": any JSON but reals, "amount": positive integer}. */
static int check_asset(const json_t *asset, char *why)
{
    const json_t *data = json_object_get(asset, "data");
    const json_t *amount = json_object_get(asset, "amount");

    if (!json_is_object(asset) || json_object_size(asset) != 2 || !data || !amount)
        return fail(why, LL_EBADASSET,
                    "field 'asset' must be an object with exactly 'data' and 'amount'");
    if (!json_is_integer(amount))
        return fail(why, LL_EBADTYPE, "field 'asset.amount' must be an integer");
    if (json_integer_value(amount) <= 0)
        return fail(why, LL_EBADAMOUNT, "field 'asset.amount' must be positive");
    if (has_real(data))
        return fail(why, LL_EBADASSET, "field 'asset.data' must not hold floating-point numbers");
    return 0;
}

/* Copies the validated body into tx's typed fields. */
static void fill(ll_tx_t *tx)
{
    const json_t *body = tx->body;
    const json_t *v;

    ll_hex_decode(json_string_value(json_object_get(body, "sender_pubkey")), tx->sender_pk,
                  LL_PK_BYTES);
    ll_keys_address(tx->sender_pk, tx->sender);
    ll_hex_decode(json_string_value(json_object_get(body, "signature")), tx->signature,
                  LL_SIG_BYTES);
    tx->nonce = (uint64_t)json_integer_value(json_object_get(body, "nonce"));
    tx->timestamp_ms = json_integer_value(json_object_get(body, "timestamp_ms"));
    tx->fee = json_integer_value(json_object_get(body, "fee"));
    if ((v = json_object_get(body, "recipient")))
        memcpy(tx->recipient, json_string_value(v), LL_ADDRESS_HEX + 1);
    memcpy(tx->asset_id, LL_NATIVE_ASSET_ID, LL_ASSET_ID_HEX + 1);
    switch (tx->kind) {
    case LL_TX_TRANSFER:
        tx->amount = json_integer_value(json_object_get(body, "amount"));
        if ((v = json_object_get(body, "asset_id")))
            memcpy(tx->asset_id, json_string_value(v), LL_ASSET_ID_HEX + 1);
        break;
    case LL_TX_CREATE:
        v = json_object_get(body, "asset");
        tx->amount = json_integer_value(json_object_get(v, "amount"));
        tx->asset_data = json_object_get(v, "data");
        /* The asset's id is the create transaction's id: set after hashing. */
        break;
    case LL_TX_MESSAGE:
        tx->memo = json_string_value(json_object_get(body, "memo"));
        tx->memo_len = json_string_length(json_object_get(body, "memo"));
        break;
    case LL_TX_DEPLOY:
        tx->code = json_string_value(json_object_get(body, "code"));
        tx->code_len = json_string_length(json_object_get(body, "code"));
        tx->gas_limit = (uint64_t)json_integer_value(json_object_get(body, "gas_limit"));
        break;
    case LL_TX_CALL:
        memcpy(tx->to, json_string_value(json_object_get(body, "to")) + 2, LL_VM_ADDRESS_HEX + 1);
        tx->selector = json_integer_value(json_object_get(body, "selector"));
        tx->args = json_object_get(body, "args");
        tx->amount = json_integer_value(json_object_get(body, "amount")); /* 0 when absent */
        tx->gas_limit = (uint64_t)json_integer_value(json_object_get(body, "gas_limit"));
        break;
    }
}

/* Validates body (stolen: it becomes the new tx's, or is released); the
 * signature too when verify is set. */
static int from_body(json_t *body, ll_tx_t **out, char *why, int verify)
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    ll_tx_t *tx = NULL;
    int rc;

    *out = NULL;
    if (!json_is_object(body)) {
        rc = fail(why, LL_EBADTYPE, "a transaction must be a JSON object");
        goto out;
    }
    if (!(tx = calloc(1, sizeof *tx))) {
        rc = fail(why, LL_ENOMEM, "out of memory");
        goto out;
    }
    tx->body = body; /* from here on, ll_tx_free() releases body */
    body = NULL;
    if ((rc = check_kind(tx->body, &tx->kind, why)) < 0 ||
        (rc = check_fields(tx->body, tx->kind, why)) < 0)
        goto out;
    if (tx->kind == LL_TX_MESSAGE && (rc = check_memo(json_object_get(tx->body, "memo"), why)) < 0)
        goto out;
    if (tx->kind == LL_TX_CREATE && (rc = check_asset(json_object_get(tx->body, "asset"), why)) < 0)
        goto out;
    if ((tx->kind == LL_TX_DEPLOY || tx->kind == LL_TX_CALL) &&
        (rc = check_contract(tx->body, tx->kind, why)) < 0)
        goto out;
    fill(tx);
    /* Every real was refused above, so only LL_ENOMEM can fail here. */
    if ((rc = ll_tx_signing_bytes(tx->body, &tx->signing_bytes, &tx->signing_len)) < 0) {
        rc = fail(why, rc, "cannot serialize the transaction");
        goto out;
    }
    /* Made here, once, from the object the signing bytes came from: the
     * journal and the block store it, and ll_tx_bound compares with it. */
    if (!(tx->text = dump_canonical(tx->body))) {
        rc = fail(why, LL_ENOMEM, "cannot serialize the transaction");
        goto out;
    }
    crypto_hash_sha256(digest, (const unsigned char *)tx->signing_bytes, tx->signing_len);
    ll_hex_encode(digest, sizeof digest, tx->tx_id);
    if (tx->kind == LL_TX_CREATE)
        memcpy(tx->asset_id, tx->tx_id, LL_TX_ID_HEX + 1);
    if (verify &&
        crypto_sign_verify_detached(tx->signature, (const unsigned char *)tx->signing_bytes,
                                    tx->signing_len, tx->sender_pk) != 0) {
        rc = fail(why, LL_EBADSIG, "field 'signature' does not verify for 'sender_pubkey'");
        goto out;
    }
    *out = tx;
    tx = NULL;
    rc = 0;
    if (why)
        why[0] = '\0';
out:
    ll_tx_free(tx);
    json_decref(body);
    return rc;
}

int ll_tx_parse(const char *json, size_t len, ll_tx_t **out, char *why)
{
    json_error_t err;
    json_t *body;

    /* JSON_ALLOW_NUL: "\u0000" is valid JSON (Python writes it for a NUL);
     * fields that cannot hold one refuse it by name, memos carry it.
     * JSON_DECODE_ANY lets a top level that is valid JSON but not an object
     * be reported as the wrong type. */
    body = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!body) {
        *out = NULL;
        /* jansson reports both a too-big integer and a real beyond double's
         * range (1e400) as numeric overflow; only the first is an integer. */
        if (json_error_code(&err) == json_error_numeric_overflow && strstr(err.text, "real"))
            return fail(why, LL_EBADTYPE,
                        "numbers with a fraction or an exponent are refused (line %d, column %d)",
                        err.line, err.column);
        if (json_error_code(&err) == json_error_numeric_overflow)
            return fail(why, LL_EOVERFLOW, "integer out of range at line %d, column %d", err.line,
                        err.column);
        return fail(why, LL_EMALFORMED, "malformed JSON at line %d, column %d: %s", err.line,
                    err.column, err.text);
    }
    return from_body(body, out, why, 1);
}

static int from_json(const json_t *signed_tx, ll_tx_t **out, char *why, int verify)
{
    json_t *copy;

    /* A deep copy, not a reference: the tx crosses to the ledger thread and
     * borrows memo and asset data from its body, so nobody else may share
     * (and mutate) that body. */
    *out = NULL;
    if (!json_is_object(signed_tx))
        return fail(why, LL_EBADTYPE, "a transaction must be a JSON object");
    if (!(copy = json_deep_copy(signed_tx)))
        return fail(why, LL_ENOMEM, "out of memory");
    return from_body(copy, out, why, verify);
}

int ll_tx_parse_own(const char *json, size_t len, ll_tx_t **out, char *why)
{
    json_t *body = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    *out = NULL;
    if (!body)
        return fail(why, LL_EMALFORMED, "malformed JSON");
    return from_body(body, out, why, 0);
}

int ll_tx_from_json(const json_t *signed_tx, ll_tx_t **out, char *why)
{
    return from_json(signed_tx, out, why, 1);
}

int ll_tx_from_own_json(const json_t *signed_tx, ll_tx_t **out, char *why)
{
    return from_json(signed_tx, out, why, 0);
}

int ll_tx_bound(const char *stored, const ll_tx_t *verified, char *why)
{
    if (strcmp(stored, verified->text) != 0)
        return fail(why, LL_EINTERNAL, "the stored bytes differ from those of the verified %s",
                    verified->tx_id);
    return 0;
}

void ll_tx_free(ll_tx_t *tx)
{
    if (!tx)
        return;
    json_decref(tx->body);
    free(tx->signing_bytes);
    free(tx->text);
    free(tx);
}
