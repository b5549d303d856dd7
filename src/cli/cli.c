/* cli/cli.c: keygen, sign and submit. They share the node's own key and
 * transaction code (ledger/keys.h, ledger/tx.h), so what the CLI signs is
 * exactly what the node verifies. */
#include "cli/cli.h"
#include "cli/http_client.h"
#include "ledger/keys.h"
#include "ledger/tx.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_URL "http://127.0.0.1:9984"
#define HTTP_TIMEOUT_MS 30000

typedef struct cli_args {
    const char *key;
    const char *url;
} cli_args_t;

static int parse_args(int argc, char **argv, cli_args_t *a, int want_url)
{
    a->key = NULL;
    a->url = DEFAULT_URL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            a->key = argv[++i];
        else if (want_url && strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            a->url = argv[++i];
        else {
            fprintf(stderr, "ledgerline: unexpected argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!a->key) {
        fprintf(stderr, "ledgerline: --key FILE is required (a file from `ledgerline keygen`)\n");
        return -1;
    }
    return 0;
}

static int print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return 1;
    puts(text);
    free(text);
    return 0;
}

int ll_cli_keygen(int argc, char **argv)
{
    ll_keypair_t kp;
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "ledgerline: keygen takes no arguments\n");
        return 2;
    }
    ll_keys_generate(&kp);
    json_t *obj = ll_keys_to_json(&kp);
    int rc = obj ? print_json(obj) : 1;
    json_decref(obj);
    return rc;
}

/* Reads stdin as a JSON object; NULL (with a message) otherwise. */
static json_t *read_body(void)
{
    json_error_t err;
    json_t *body = json_loadf(stdin, JSON_REJECT_DUPLICATES, &err);
    if (!body) {
        fprintf(stderr, "ledgerline: stdin is not JSON: %s (line %d)\n", err.text, err.line);
        return NULL;
    }
    if (!json_is_object(body)) {
        fprintf(stderr, "ledgerline: the transaction body must be a JSON object\n");
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Sets sender_pubkey from the key, or checks that the one given is it. */
static int claim_sender(json_t *body, const ll_keypair_t *kp)
{
    char pk_hex[2 * LL_PK_BYTES + 1];
    ll_hex_encode(kp->pk, LL_PK_BYTES, pk_hex);
    const char *given = json_string_value(json_object_get(body, "sender_pubkey"));
    if (!json_object_get(body, "sender_pubkey"))
        return json_object_set_new(body, "sender_pubkey", json_string(pk_hex));
    if (!given || strcmp(given, pk_hex) != 0) {
        fprintf(stderr, "ledgerline: sender_pubkey is not the public key of --key\n");
        return -1;
    }
    return 0;
}

static int sign_body(json_t *body, const ll_keypair_t *kp)
{
    if (claim_sender(body, kp) < 0)
        return -1;
    if (ll_tx_sign(body, kp) < 0) {
        fprintf(stderr, "ledgerline: cannot sign: the body holds a floating-point number "
                        "(amounts are integers of units)\n");
        return -1;
    }
    return 0;
}

int ll_cli_sign(int argc, char **argv)
{
    cli_args_t a;
    ll_keypair_t kp;
    json_t *body = NULL;
    int rc = 1;
    if (parse_args(argc, argv, &a, 0) < 0)
        return 2;
    if (ll_keys_load_file(a.key, &kp) < 0) {
        fprintf(stderr, "ledgerline: cannot read key file %s\n", a.key);
        return 1;
    }
    if ((body = read_body()) && sign_body(body, &kp) == 0) {
        char *text = ll_tx_canonical_text(body);
        if (text) {
            puts(text);
            free(text);
            rc = 0;
        }
    }
    json_decref(body);
    return rc;
}

/* The account's next committed nonce; 0 for an account not on chain yet. */
static int fetch_nonce(const char *url, const char *address, json_int_t *nonce)
{
    char target[1024];
    ll_http_response_t resp;
    snprintf(target, sizeof target, "%s/api/v1/accounts/%s", url, address);
    if (ll_http_request("GET", target, NULL, &resp, HTTP_TIMEOUT_MS) < 0)
        return -1;
    int rc = -1;
    *nonce = 0;
    if (resp.status == 404) {
        rc = 0;
    } else if (resp.status == 200) {
        json_t *acct = json_loads(resp.body, 0, NULL);
        json_t *n = json_object_get(acct, "nonce");
        if (json_is_integer(n)) {
            *nonce = json_integer_value(n);
            rc = 0;
        }
        json_decref(acct);
    }
    if (rc < 0)
        fprintf(stderr, "ledgerline: cannot read the account's nonce (HTTP %d)\n", resp.status);
    ll_http_response_free(&resp);
    return rc;
}

/* Most bytes `submit` reads from stdin, and transactions per POST. */
#define SUBMIT_MAX_INPUT (64u * 1024 * 1024)
#define SUBMIT_BATCH 1000

/* Reads all of stdin (at most SUBMIT_MAX_INPUT bytes), NUL-terminated. */
static char *read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *grown = cap < SUBMIT_MAX_INPUT ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                fprintf(stderr, "ledgerline: stdin holds more than %u bytes\n", SUBMIT_MAX_INPUT);
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
    }
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* The transaction bodies on stdin: one JSON object (which may span lines),
 * or one object per line (blank lines skipped). An array of them, or NULL
 * with a message. */
static json_t *read_bodies(void)
{
    size_t len;
    char *text = read_stdin(&len), *line, *save = NULL;
    json_t *all = text ? json_array() : NULL;
    json_error_t err;
    json_t *one = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (one && json_is_object(one)) {
        json_array_append_new(all, one);
        one = NULL;
    } else if (all) {
        int n = 0;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            n++;
            if (line[strspn(line, " \t\r")] == '\0')
                continue;
            json_t *body = json_loads(line, JSON_REJECT_DUPLICATES, &err);
            if (!json_is_object(body)) {
                fprintf(stderr, "ledgerline: line %d is not a JSON object%s%s\n", n,
                        body ? "" : ": ", body ? "" : err.text);
                json_decref(body);
                json_decref(all);
                all = NULL;
                break;
            }
            json_array_append_new(all, body);
        }
    }
    json_decref(one);
    free(text);
    if (all && json_array_size(all) == 0) {
        fprintf(stderr, "ledgerline: stdin holds no transaction\n");
        json_decref(all);
        all = NULL;
    }
    return all;
}

/* Posts bodies[from, from + n) as one batch and prints the answer. Returns
 * 0 when every item was admitted. */
static int submit_batch(const char *url, json_t *bodies, size_t from, size_t n)
{
    ll_http_response_t resp = {0};
    json_t *batch = json_array();
    char *text = NULL, target[1024];
    int rc = 1;
    for (size_t i = from; batch && i < from + n; i++)
        json_array_append(batch, json_array_get(bodies, i));
    if (!batch || !(text = json_dumps(batch, JSON_COMPACT)))
        goto out;
    snprintf(target, sizeof target, "%s/api/v1/transactions", url);
    if (ll_http_request("POST", target, text, &resp, HTTP_TIMEOUT_MS) < 0)
        goto out;
    puts(resp.body);
    if (resp.status == 200) {
        json_t *items = json_loads(resp.body, 0, NULL);
        size_t i;
        json_t *item;
        rc = json_is_array(items) ? 0 : 1;
        json_array_foreach (items, i, item)
            rc |= json_object_get(item, "error") != NULL;
        json_decref(items);
    }
out:
    ll_http_response_free(&resp);
    free(text);
    json_decref(batch);
    return rc;
}

int ll_cli_submit(int argc, char **argv)
{
    cli_args_t a;
    ll_keypair_t kp;
    ll_http_response_t resp = {0};
    json_t *body = NULL;
    char *text = NULL, target[1024];
    json_int_t nonce;
    int rc = 1;
    if (parse_args(argc, argv, &a, 1) < 0)
        return 2;
    if (ll_keys_load_file(a.key, &kp) < 0) {
        fprintf(stderr, "ledgerline: cannot read key file %s\n", a.key);
        return 1;
    }
    json_t *bodies = read_bodies();
    size_t i, n = json_array_size(bodies);
    int fetched = 0;
    if (!bodies)
        goto out;
    /* Transactions without a nonce take consecutive ones from the
     * account's committed nonce, in the order given. */
    json_array_foreach (bodies, i, body) {
        if (ll_tx_fill_defaults(body, ll_clock_wall_ms()) < 0)
            break;
        if (!json_object_get(body, "nonce")) {
            if (!fetched && fetch_nonce(a.url, kp.address, &nonce) < 0)
                break;
            fetched = 1;
            json_object_set_new(body, "nonce", json_integer(nonce++));
        }
        if (sign_body(body, &kp) < 0)
            break;
    }
    if (i < n) {
        json_decref(bodies);
        body = NULL;
        goto out;
    }
    if (n > 1) { /* a batch per SUBMIT_BATCH transactions (docs/API.md §7) */
        rc = 0;
        for (size_t from = 0; from < n; from += SUBMIT_BATCH)
            rc |= submit_batch(a.url, bodies, from,
                               n - from < SUBMIT_BATCH ? n - from : SUBMIT_BATCH);
        json_decref(bodies);
        body = NULL;
        goto out;
    }
    body = json_incref(json_array_get(bodies, 0));
    json_decref(bodies);
    if (!(text = ll_tx_canonical_text(body)))
        goto out;
    snprintf(target, sizeof target, "%s/api/v1/transactions", a.url);
    if (ll_http_request("POST", target, text, &resp, HTTP_TIMEOUT_MS) < 0)
        goto out;
    puts(resp.body);
    rc = resp.status == 202 ? 0 : 1;
out:
    ll_http_response_free(&resp);
    free(text);
    json_decref(body);
    return rc;
}
