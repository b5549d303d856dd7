/* auth/session.h: login sessions of the messenger: tokens, the `session`
 * cookie that carries them, and the request rules every session endpoint
 * shares (JSON bodies only, so no cross-site HTML form can post to them).
 * Owns:    nothing; the session rows are in the store (store/users.h).
 * Threads: any; the lookups use whichever store connection they are given
 *          (a worker passes its reader).
 *
 * A token is 32 random bytes, sent to the client as 64 lowercase hex digits
 * in the cookie. The node stores only SHA-256(token) in hex, so a copy of the
 * database opens no session. A session lasts LL_SESSION_MAX_AGE_S from
 * login, or until logout deletes its row. */
#ifndef LL_AUTH_SESSION_H
#define LL_AUTH_SESSION_H

#include "net/http.h"
#include "store/users.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LL_SESSION_COOKIE "session"
#define LL_SESSION_TOKEN_HEX 64
#define LL_SESSION_MAX_AGE_S 2592000 /* 30 days: --session-max-age-s's default */

/* A fresh token (64 hex and a NUL) and its stored form, SHA-256 in hex. */
void ll_auth_token_new(char token[LL_SESSION_TOKEN_HEX + 1],
                       char token_hash[LL_TOKEN_HASH_HEX + 1]);

/* The stored form of a token a client sent. Returns 0, or LL_EUNAUTHORIZED
 * when token is not 64 lowercase hex (it cannot be one of ours). */
int ll_auth_token_hash(const char *token, char out[LL_TOKEN_HASH_HEX + 1]);

/* Walks the cookies called name in a Cookie header value ("a=1; b=2"; values
 * of repeated Cookie headers arrive joined by ", ", which is split too).
 * Blanks around names and values, and a value's surrounding double quotes,
 * are dropped; names compare case-sensitively. Start with *pos = 0; each call
 * moves *pos past the cookie it returns. Returns the value's length with the
 * value (NUL-terminated) in out; LL_EBADPARAM for a value that does not fit
 * in cap (skipped: call again for the next); LL_ENOTFOUND when no further
 * cookie has that name. */
int ll_auth_cookie_next(const char *header, const char *name, size_t *pos, char *out, size_t cap);

/* The user of the first live session among the `session` cookies of
 * cookie_header (may be NULL), checked against the store at now_ms.
 * token_hash, when not NULL, receives that session's stored key. Returns 0,
 * LL_EUNAUTHORIZED (no cookie, unknown or expired session) or LL_ESTORE. */
int ll_auth_session_lookup(ll_store_t *st, const char *cookie_header, int64_t now_ms,
                           char username[LL_USERNAME_MAX + 1], char address[33], char *token_hash);

/* The same for a request, now; reader may be NULL (the worker has no
 * database), which is LL_ESTORE. Called by every endpoint that needs a
 * session: /api/me, /api/logout, /api/messages, and the SSE and WebSocket
 * event streams. On LL_EUNAUTHORIZED the caller answers 401. */
int ll_auth_session_user(ll_store_t *reader, const ll_req_t *req,
                         char username[static LL_USERNAME_MAX + 1], char address[static 33]);

/* Like ll_auth_session_user, and also gives the session's token hash (for
 * logout, which deletes that row). */
int ll_auth_session_find(ll_store_t *reader, const ll_req_t *req,
                         char username[LL_USERNAME_MAX + 1], char address[33],
                         char token_hash[LL_TOKEN_HASH_HEX + 1]);

/* A live session, as a request's cookie names it. */
typedef struct ll_auth_session {
    char username[LL_USERNAME_MAX + 1];
    char address[33];
    char token_hash[LL_TOKEN_HASH_HEX + 1]; /* the row's key */
    int64_t expires_ms;                     /* wall clock */
} ll_auth_session_t;

/* Like ll_auth_session_user, with the session's key and expiry too: the
 * event streams remember both, to end when the session does. */
int ll_auth_session_get(ll_store_t *reader, const ll_req_t *req, ll_auth_session_t *out);

/* Where a process without the user table (a relay) learns whether the
 * session stored under key stands: its expiry (wall clock, ms), or
 * LL_ENOTFOUND. */
typedef int (*ll_session_expiry_fn)(void *ctx, const char *key, int64_t *expires_ms);

/* Like ll_auth_session_get, through expiry: out gets the key and expiry
 * only (no username or address). Returns 0, LL_EUNAUTHORIZED, or what
 * expiry failed with. */
int ll_auth_session_get_expiry(ll_session_expiry_fn expiry, void *ctx, const ll_req_t *req,
                               ll_auth_session_t *out);

/* The Set-Cookie value that starts a session of max_age_s seconds (secure:
 * add the Secure attribute, for a node served over https) into out, or
 * that ends one when token is NULL (empty value, Max-Age=0). */
void ll_auth_cookie_header(const char *token, uint32_t max_age_s, int secure, char *out,
                           size_t cap);
#define LL_AUTH_COOKIE_HEADER_CAP 160

/* ---- request rules shared by the session and messenger endpoints ---------- */

/* 0 when the request's Content-Type is application/json (parameters such as
 * charset allowed, case-insensitive), else LL_EMEDIATYPE. A browser sends
 * a cross-site form post only as form or text types, so this shuts out
 * forged posts that would ride on the cookie. */
int ll_auth_check_json_type(const ll_req_t *req);

/* Checks the media type, then parses the body as one JSON object into *out
 * (caller decrefs). Returns 0, LL_EMEDIATYPE, LL_EMALFORMED (not JSON, or a
 * repeated key) or LL_EBADTYPE (not an object), with the reason in why
 * (LL_ERRMSG_MAX bytes). */
int ll_auth_json_body(const ll_req_t *req, json_t **out, char *why);

/* The string field name of obj, borrowed, with its byte length. Returns 0,
 * LL_EMISSING or LL_EBADTYPE, with the reason in why. */
int ll_auth_string_field(const json_t *obj, const char *name, const char **s, size_t *len,
                         char *why);

#endif
