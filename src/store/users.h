/* store/users.h: the messenger's rows: users (a custodial chain key each),
 * their login sessions, and one user's history of committed messages.
 * Owns:    nothing; its statements are the connection's, prepared at open
 *          and finalized by ll_store_close() (sql.h).
 * Threads: the thread that owns the connection. The writes (put/delete) run
 *          only on the ledger thread's writer, inside an LL_LEDGER_STORE_CALL;
 *          the reads run on any connection (workers use their reader, the
 *          ledger its writer, e.g. ll_store_username_of for message events).
 *
 * The store checks no rule: usernames, hashes and sealed seeds arrive
 * validated (auth/). Only a hash of a session token is ever stored, so a copy
 * of the database opens no session. */
#ifndef LL_STORE_USERS_H
#define LL_STORE_USERS_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define LL_USERNAME_MAX 32       /* characters (all ASCII) */
#define LL_PASSWORD_HASH_CAP 128 /* an Argon2id string with its NUL (crypto_pwhash_STRBYTES) */
#define LL_SEALED_SEED_CAP 256   /* room for a sealed seed's hex and its NUL */
#define LL_TOKEN_HASH_HEX 64     /* SHA-256 of a session token, hex */

typedef struct ll_store_user {
    char username[LL_USERNAME_MAX + 1];
    char address[33];                         /* 32 hex chain address of the user's key */
    char password_hash[LL_PASSWORD_HASH_CAP]; /* Argon2id, crypto_pwhash_str format */
    char sealed_seed[LL_SEALED_SEED_CAP];     /* hex, see auth/custody.h */
    int64_t created_ms;
} ll_store_user_t;

/* Writer. Returns 0, LL_EUSERNAMETAKEN when the username (or, impossibly,
 * the address) already has a row, or LL_ESTORE. */
int ll_store_put_user(ll_store_t *st, const ll_store_user_t *u);

/* Returns 0 and the whole row in *out, LL_ENOTFOUND, or LL_ESTORE. */
int ll_store_get_user(ll_store_t *st, const char *username, ll_store_user_t *out);

/* The username whose key has this chain address, copied into out (cap bytes,
 * NUL-terminated; 33 always suffices). Returns 0, LL_ENOTFOUND (no user has
 * that address: an ordinary key), LL_EBADPARAM (cap too small) or LL_ESTORE.
 * The ledger calls this on its writer to name the sender of message events. */
int ll_store_username_of(ll_store_t *st, const char *address, char *out, size_t cap);

/* Writer. token_hash: 64 hex. Returns 0 or LL_ESTORE (also for an unknown
 * username: the foreign key refuses it). */
int ll_store_put_session(ll_store_t *st, const char *token_hash, const char *username,
                         int64_t created_ms, int64_t expires_ms);

/* The session's user, that user's address and when the session expires.
 * Expiry is the caller's to judge (it knows the time). Returns 0,
 * LL_ENOTFOUND or LL_ESTORE. */
int ll_store_get_session(ll_store_t *st, const char *token_hash, char username[LL_USERNAME_MAX + 1],
                         char address[33], int64_t *expires_ms);

/* Writer. Deleting a session that does not exist is not an error. */
int ll_store_delete_session(ll_store_t *st, const char *token_hash);

/* Writer: deletes every session that expired at or before now_ms. */
int ll_store_prune_sessions(ll_store_t *st, int64_t now_ms);

/* One live session as the JetStream session directory holds it: the hash
 * and the expiry, nothing that names or unlocks a user. */
typedef int (*ll_store_session_cb)(const char *token_hash, int64_t expires_ms, void *arg);

/* Calls cb for each session that expires after now_ms and whose token hash
 * (64 hex: nothing else is a session of this node's) sorts after `after`
 * ("" for the first), in token hash order, at most
 * limit of them; token_hash is valid during the call. Returns how many were
 * visited (fewer than limit: the table ends there), a non-zero cb result
 * (which stops the walk), or LL_ESTORE. cb must not call into this store.
 * Any connection: the node's JetStream feed walks its read-only one. */
int ll_store_live_sessions(ll_store_t *st, const char *after, int64_t now_ms, size_t limit,
                           ll_store_session_cb cb, void *arg);

/* One committed message transaction, as GET /api/messages shows it. */
typedef struct ll_store_msg {
    char tx_id[65];
    uint64_t height;
    uint32_t index;  /* position in its block */
    char sender[33]; /* chain addresses */
    char recipient[33];
    const char *sender_username; /* NULL when no user has the sender's key */
    const char *memo;            /* the body's memo, UTF-8; may hold U+0000 */
    size_t memo_len;
    int64_t timestamp_ms; /* the transaction's own timestamp_ms */
} ll_store_msg_t;

/* Strings in m are valid while the callback runs. A non-zero return stops
 * the walk and is returned by ll_store_messages. */
typedef int (*ll_store_msg_cb)(const ll_store_msg_t *m, void *arg);

/* Which messages ll_store_messages walks. */
typedef struct ll_store_msg_query {
    const char *me;     /* 32 hex: the user's address, sender or recipient */
    const char *other;  /* NULL, or 32 hex: only messages between me and other */
    const char *before; /* NULL, or a committed tx_id: only messages older in
                           chain order (height, then position in block) */
    uint32_t limit;     /* at most this many, the newest ones */
} ll_store_msg_query_t;

/* Calls cb for the newest q->limit committed messages (kind "message") that
 * q->me sent or received, oldest first. A message to oneself counts once.
 * Returns 0, cb's non-zero value, LL_ENOTFOUND when q->before names no
 * committed transaction, or LL_ESTORE. cb must not call into this store. */
int ll_store_messages(ll_store_t *st, const ll_store_msg_query_t *q, ll_store_msg_cb cb, void *arg);

#endif
