/* api/messages.c: the messenger: POST /api/messages signs and submits a
 * `message` transaction for the logged-in user with the user's custodial
 * key; GET /api/messages pages through the user's committed messages in the
 * shape of seed 002's `msg` payload.
 *
 * The key is unsealed here on the worker (microseconds) and handed to the
 * ledger thread in the request, which fills sender_pubkey and the next nonce
 * (only it knows what is pending), signs, wipes the key and admits.
 *
 * Messages are free to their senders (fee 0), so they are rate-limited per
 * client address and per user instead (auth/limits.h). */
#include "api/api.h"
#include "auth/account.h"
#include "auth/limits.h"
#include "auth/session.h"
#include "store/users.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES_DEFAULT_LIMIT 100
#define MESSAGES_MAX_LIMIT 1000

/* Answers 401 or 500 for a failed session lookup. */
static void respond_no_session(ll_req_t *req, int rc)
{
    ll_req_respond_error(req, rc, "%s",
                         rc == LL_EUNAUTHORIZED ? "no session: log in first"
                                                : "the database could not be read");
}

/* Counts the message against the client's address and the user. Returns 0,
 * or < 0 with req answered (429, or 500 without limit tables). */
static int limit_message(ll_api_worker_t *ctx, ll_req_t *req, const char *username)
{
    char client[LL_AUTH_CLIENT_KEY_CAP], ip[64];
    int known = ll_api_client_ip(ctx, req, ip, sizeof ip) == 0;
    ll_auth_limits_t *limits = ll_auth_limits_for(req, known ? ip : NULL, client);
    if (!limits)
        return LL_EINTERNAL;
    if (ll_auth_limit(req, &limits->messages_by_client, client, ctx->app->config->messages_per_ip,
                      "messages from this address") < 0)
        return LL_ERATELIMIT;
    if (ll_auth_limit(req, &limits->messages_by_user, username, ctx->app->config->messages_per_user,
                      "messages from this user") < 0) {
        /* Not sent: it does not count against the others at that address. */
        ll_ratelimit_give(&limits->messages_by_client, client, ctx->app->config->messages_per_ip,
                          ll_clock_mono_ms());
        return LL_ERATELIMIT;
    }
    return 0;
}

/* `to` is an address when it is 32 lowercase hex (no username can be, see
 * ll_auth_username_ok), else a username. Fills address or answers. */
static int resolve_recipient(ll_api_worker_t *ctx, ll_req_t *req, const char *to, size_t len,
                             char address[LL_ADDRESS_HEX + 1])
{
    ll_store_user_t user;
    int rc;

    if (ll_hex_is_lower(to, LL_ADDRESS_HEX)) {
        memcpy(address, to, LL_ADDRESS_HEX + 1);
        return 0;
    }
    if (!ll_auth_username_ok(to, len)) {
        ll_req_respond_error(req, LL_EBADADDRESS,
                             "field 'to' must be a username or a 32 lowercase hex address");
        return LL_EBADADDRESS;
    }
    rc = ll_store_get_user(ctx->reader, to, &user);
    if (rc == 0)
        memcpy(address, user.address, LL_ADDRESS_HEX + 1);
    else if (rc == LL_ENOTFOUND)
        ll_req_respond_error(req, LL_EUNKNOWNUSER, "no user is called '%s'", to);
    else
        ll_req_respond_error(req, rc, "the database could not be read");
    sodium_memzero(&user, sizeof user);
    return rc == LL_ENOTFOUND ? LL_EUNKNOWNUSER : rc;
}

/* The user's key pair from its sealed seed. The seed's own address must be
 * the row's: a seal moved to another row would sign as someone else. */
static int unseal_key(ll_api_worker_t *ctx, const char *username, ll_keypair_t *kp)
{
    ll_store_user_t user;
    uint8_t seed[LL_SEED_BYTES];
    int rc;

    if ((rc = ll_store_get_user(ctx->reader, username, &user)) < 0) {
        rc = rc == LL_ENOTFOUND ? LL_EINTERNAL : rc; /* the session named this user */
        goto out;
    }
    /* A seal that does not open is the node's fault (another custody.key,
     * say), never the client's: 500 whatever the reason. */
    if (ll_custody_unseal(ctx->app->custody, user.sealed_seed, seed) < 0) {
        LL_ERROR("messages: the key of user '%s' does not unseal: custody.key is not the "
                 "one it was sealed with, or the row was altered",
                 username);
        rc = LL_EINTERNAL;
        goto out;
    }
    ll_keys_from_seed(kp, seed);
    rc = strcmp(kp->address, user.address) == 0 ? 0 : LL_EINTERNAL;
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(&user, sizeof user);
    if (rc < 0)
        sodium_memzero(kp, sizeof *kp);
    return rc;
}

void ll_api_message_post(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char why[LL_ERRMSG_MAX], username[LL_USERNAME_MAX + 1], me[33];
    char recipient[LL_ADDRESS_HEX + 1];
    const char *to, *text;
    size_t to_len, text_len;
    json_t *body = NULL, *tx_body = NULL;
    ll_ledger_req_t *lr;
    ll_keypair_t kp;
    int rc;
    (void)param;

    sodium_memzero(&kp, sizeof kp);
    if ((rc = ll_auth_check_json_type(req)) < 0) {
        ll_req_respond_error(req, rc, "the body must be sent as Content-Type: application/json");
        return;
    }
    if ((rc = ll_auth_session_user(ctx->reader, req, username, me)) < 0) {
        respond_no_session(req, rc);
        return;
    }
    if (limit_message(ctx, req, username) < 0)
        return;
    if ((rc = ll_auth_json_body(req, &body, why)) < 0 ||
        (rc = ll_auth_string_field(body, "to", &to, &to_len, why)) < 0 ||
        (rc = ll_auth_string_field(body, "text", &text, &text_len, why)) < 0) {
        ll_req_respond_error(req, rc, "%s", why);
        goto out;
    }
    if (text_len > LL_MEMO_MAX) {
        ll_req_respond_error(req, LL_EMEMO, "field 'text' is %zu bytes, at most %d are allowed",
                             text_len, LL_MEMO_MAX);
        goto out;
    }
    if (resolve_recipient(ctx, req, to, to_len, recipient) < 0)
        goto out;
    if ((rc = unseal_key(ctx, username, &kp)) < 0) {
        ll_req_respond_error(req, rc, "the account's key could not be opened");
        goto out;
    }
    /* The ledger adds sender_pubkey, nonce, timestamp_ms and fee 0. */
    tx_body = json_pack("{s:s, s:s, s:s%}", "kind", "message", "recipient", recipient, "memo", text,
                        text_len);
    if (!tx_body) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        goto out;
    }
    if (!(lr = ll_api_ledger_req(req, LL_LEDGER_SIGN_SUBMIT, 202)))
        goto out;
    lr->body = tx_body; /* the request owns it now */
    tx_body = NULL;
    lr->key = kp; /* wiped by the ledger after signing, and by the reply */
    ll_api_ask_ledger(ctx, lr);
out:
    sodium_memzero(&kp, sizeof kp);
    json_decref(tx_body);
    json_decref(body);
}

/* ---- GET /api/messages ---------------------------------------------------------- */

/* One row as seed 002's msg, keys in the seed's order. Committed rows only,
 * so status is always "confirmed" and block a height. */
static int add_msg(const ll_store_msg_t *m, void *arg)
{
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s%, s:f, s:s, s:I, s:s}", "sender",
                            m->sender_username ? m->sender_username : m->sender, "sender_address",
                            m->sender, "address", m->recipient, "text", m->memo, m->memo_len,
                            "timestamp", (double)m->timestamp_ms / 1000.0, "status", "confirmed",
                            "block", (json_int_t)m->height, "tx_id", m->tx_id);
    return msg && json_array_append_new(arg, msg) == 0 ? 0 : LL_ENOMEM; /* steals msg */
}

/* Parses limit: a decimal integer from 1 to MESSAGES_MAX_LIMIT. */
void ll_api_messages_get(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char username[LL_USERNAME_MAX + 1], me[33];
    char before[LL_TX_ID_HEX + 1], other[LL_ADDRESS_HEX + 1];
    ll_store_msg_query_t q = {.me = me, .limit = MESSAGES_DEFAULT_LIMIT};
    json_t *list;
    int rc;
    (void)param;

    if ((rc = ll_auth_session_user(ctx->reader, req, username, me)) < 0) {
        respond_no_session(req, rc);
        return;
    }
    uint64_t n = q.limit;
    if (ll_api_query_uint(req, "limit", 1, MESSAGES_MAX_LIMIT, &n) < 0) {
        ll_req_respond_error(req, LL_EBADPARAM, "limit must be an integer from 1 to %d",
                             MESSAGES_MAX_LIMIT);
        return;
    }
    q.limit = (uint32_t)n;
    rc = ll_req_query_param(req, "before", before, sizeof before);
    if (rc != LL_ENOTFOUND) {
        if (rc < 0 || !ll_hex_is_lower(before, LL_TX_ID_HEX)) {
            ll_req_respond_error(req, LL_EBADPARAM, "before must be a tx_id (64 lowercase hex)");
            return;
        }
        q.before = before;
    }
    rc = ll_req_query_param(req, "address", other, sizeof other);
    if (rc != LL_ENOTFOUND) {
        if (rc < 0 || !ll_hex_is_lower(other, LL_ADDRESS_HEX)) {
            ll_req_respond_error(req, LL_EBADADDRESS, "address must be 32 lowercase hex digits");
            return;
        }
        q.other = other;
    }
    if (!(list = json_array())) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return;
    }
    if ((rc = ll_store_messages(ctx->reader, &q, add_msg, list)) < 0) {
        json_decref(list);
        if (rc == LL_ENOTFOUND)
            ll_req_respond_error(req, LL_EBADPARAM, "before names no committed transaction");
        else
            ll_req_respond_error(req, rc, "the database could not be read");
        return;
    }
    ll_req_respond_json(req, 200, list); /* steals list */
}
