/* auth/session.c: see session.h. The cookie is read here and only here, so
 * /api/me, the messenger and the event streams agree on who is logged in. */
#include "auth/session.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hex.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* SHA-256 of the token's text as the client holds it. */
static void hash_text(const char *token, char out[LL_TOKEN_HASH_HEX + 1])
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const uint8_t *)token, LL_SESSION_TOKEN_HEX);
    ll_hex_encode(digest, sizeof digest, out);
}

void ll_auth_token_new(char token[LL_SESSION_TOKEN_HEX + 1], char token_hash[LL_TOKEN_HASH_HEX + 1])
{
    uint8_t raw[LL_SESSION_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    ll_hex_encode(raw, sizeof raw, token);
    sodium_memzero(raw, sizeof raw);
    hash_text(token, token_hash);
}

int ll_auth_token_hash(const char *token, char out[LL_TOKEN_HASH_HEX + 1])
{
    if (!ll_hex_is_lower(token, LL_SESSION_TOKEN_HEX))
        return LL_EUNAUTHORIZED;
    hash_text(token, out);
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 6265 §5.4 writes "a=1; b=2"; a proxy or a client that sends several
 * Cookie headers makes them one, joined by ", " (net/http.c). Neither ';'
 * nor ',' may appear inside a cookie value (§4.1.1), so both separate. */
int ll_auth_cookie_next(const char *header, const char *name, size_t *pos, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    const char *p = header + *pos;

    while (*p) {
        const char *end = p + strcspn(p, ";,");
        const char *k = p, *eq, *v, *vend;
        *pos = (size_t)(end - header) + (*end ? 1 : 0);
        while (k < end && is_blank(*k))
            k++;
        eq = memchr(k, '=', (size_t)(end - k));
        p = header + *pos;
        if (!eq)
            continue;
        const char *kend = eq;
        while (kend > k && is_blank(kend[-1]))
            kend--;
        if ((size_t)(kend - k) != name_len || memcmp(k, name, name_len) != 0)
            continue;
        v = eq + 1;
        vend = end;
        while (v < vend && is_blank(*v))
            v++;
        while (vend > v && is_blank(vend[-1]))
            vend--;
        if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
            v++;
            vend--;
        }
        size_t n = (size_t)(vend - v);
        if (n >= cap)
            return LL_EBADPARAM;
        memcpy(out, v, n);
        out[n] = '\0';
        return (int)n;
    }
    *pos = (size_t)(p - header);
    return LL_ENOTFOUND;
}

/* A browser may hold several `session` cookies (an old one under another
 * path, say): the first live one wins, so a stale cookie sent first does not
 * log out the user. */
static int lookup(ll_store_t *st, const char *cookie_header, int64_t now_ms,
                  char username[LL_USERNAME_MAX + 1], char address[33], char *token_hash,
                  int64_t *expires_out)
{
    char value[LL_SESSION_TOKEN_HEX + 1], hash[LL_TOKEN_HASH_HEX + 1];
    int64_t expires_ms;
    size_t pos = 0;
    int n, rc;

    if (!cookie_header)
        return LL_EUNAUTHORIZED;
    while ((n = ll_auth_cookie_next(cookie_header, LL_SESSION_COOKIE, &pos, value, sizeof value)) !=
           LL_ENOTFOUND) {
        if (n < 0 || ll_auth_token_hash(value, hash) < 0)
            continue;
        rc = ll_store_get_session(st, hash, username, address, &expires_ms);
        if (rc == LL_ENOTFOUND || (rc == 0 && expires_ms <= now_ms))
            continue; /* expired rows are pruned at the next login */
        if (rc < 0)
            return rc;
        if (token_hash)
            memcpy(token_hash, hash, sizeof hash);
        if (expires_out)
            *expires_out = expires_ms;
        return 0;
    }
    return LL_EUNAUTHORIZED;
}

int ll_auth_session_lookup(ll_store_t *st, const char *cookie_header, int64_t now_ms,
                           char username[LL_USERNAME_MAX + 1], char address[33], char *token_hash)
{
    return lookup(st, cookie_header, now_ms, username, address, token_hash, NULL);
}

int ll_auth_session_get(ll_store_t *reader, const ll_req_t *req, ll_auth_session_t *out)
{
    if (!reader)
        return LL_ESTORE;
    return lookup(reader, ll_req_header(req, "Cookie"), ll_clock_wall_ms(), out->username,
                  out->address, out->token_hash, &out->expires_ms);
}

int ll_auth_session_get_expiry(ll_session_expiry_fn expiry, void *ctx, const ll_req_t *req,
                               ll_auth_session_t *out)
{
    char value[LL_SESSION_TOKEN_HEX + 1], hash[LL_TOKEN_HASH_HEX + 1];
    const char *header = ll_req_header(req, "Cookie");
    int64_t now_ms = ll_clock_wall_ms(), expires_ms;
    size_t pos = 0;
    int n, rc;

    memset(out, 0, sizeof *out);
    if (!header)
        return LL_EUNAUTHORIZED;
    while ((n = ll_auth_cookie_next(header, LL_SESSION_COOKIE, &pos, value, sizeof value)) !=
           LL_ENOTFOUND) {
        if (n < 0 || ll_auth_token_hash(value, hash) < 0)
            continue;
        rc = expiry(ctx, hash, &expires_ms);
        if (rc == LL_ENOTFOUND || (rc == 0 && expires_ms <= now_ms))
            continue;
        if (rc < 0)
            return rc;
        memcpy(out->token_hash, hash, sizeof hash);
        out->expires_ms = expires_ms;
        return 0;
    }
    return LL_EUNAUTHORIZED;
}

int ll_auth_session_find(ll_store_t *reader, const ll_req_t *req,
                         char username[LL_USERNAME_MAX + 1], char address[33],
                         char token_hash[LL_TOKEN_HASH_HEX + 1])
{
    if (!reader)
        return LL_ESTORE;
    return ll_auth_session_lookup(reader, ll_req_header(req, "Cookie"), ll_clock_wall_ms(),
                                  username, address, token_hash);
}

int ll_auth_session_user(ll_store_t *reader, const ll_req_t *req,
                         char username[static LL_USERNAME_MAX + 1], char address[static 33])
{
    return ll_auth_session_find(reader, req, username, address, NULL);
}

/* HttpOnly: page scripts cannot read the token. SameSite=Lax: other sites'
 * pages do not send it with their subrequests or posts. Path=/: the API and
 * the web UI share it. */
void ll_auth_cookie_header(const char *token, uint32_t max_age_s, int secure, char *out, size_t cap)
{
    snprintf(out, cap, "%s=%s; HttpOnly; SameSite=Lax; Path=/; Max-Age=%u%s", LL_SESSION_COOKIE,
             token ? token : "", token ? max_age_s : 0, secure ? "; Secure" : "");
}

int ll_auth_check_json_type(const ll_req_t *req)
{
    static const char json_type[] = "application/json";
    const char *ct = ll_req_header(req, "Content-Type");
    size_t n = sizeof json_type - 1;

    if (!ct)
        return LL_EMEDIATYPE;
    while (is_blank(*ct))
        ct++;
    if (strncasecmp(ct, json_type, n) != 0)
        return LL_EMEDIATYPE;
    ct += n;
    while (is_blank(*ct))
        ct++;
    return *ct == '\0' || *ct == ';' ? 0 : LL_EMEDIATYPE;
}

int ll_auth_json_body(const ll_req_t *req, json_t **out, char *why)
{
    json_error_t jerr;
    size_t len;
    const char *text;
    json_t *body;

    *out = NULL;
    if (ll_auth_check_json_type(req) < 0) {
        snprintf(why, LL_ERRMSG_MAX, "the body must be sent as Content-Type: application/json");
        return LL_EMEDIATYPE;
    }
    text = ll_req_body(req, &len);
    if (!(body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        snprintf(why, LL_ERRMSG_MAX, "body is not JSON: %s", jerr.text);
        return LL_EMALFORMED;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        snprintf(why, LL_ERRMSG_MAX, "body must be a JSON object");
        return LL_EBADTYPE;
    }
    *out = body;
    return 0;
}

int ll_auth_string_field(const json_t *obj, const char *name, const char **s, size_t *len,
                         char *why)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) {
        snprintf(why, LL_ERRMSG_MAX, "field '%s' is missing", name);
        return LL_EMISSING;
    }
    if (!json_is_string(v)) {
        snprintf(why, LL_ERRMSG_MAX, "field '%s' must be a string", name);
        return LL_EBADTYPE;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}
