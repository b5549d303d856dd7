/* api/sessions.c: POST /api/register, POST /api/login, POST /api/logout and
 * GET /api/me: the messenger's accounts and the session cookie (auth/).
 *
 * Argon2id takes a tenth of a second or more and 64 MiB, so register and
 * login hash on the libuv thread pool; a job then resumes on its worker and,
 * to write, asks the ledger thread (the only writer) with a STORE_CALL. The
 * response goes out from the ledger's reply, on the worker again:
 *
 *   worker: checks, reads ──► thread pool: Argon2id ──► worker: resume
 *        ──► ledger: insert user / session ──► worker: 201/200 + Set-Cookie
 *
 * Hostile clients: both endpoints count every attempt per client address,
 * and failed ones per username (auth/limits.h), before any hash; hashes run
 * at most LL_HASHGATE_SLOTS at once, with a short line behind them, so a
 * flood of logins can neither fill the thread pool nor take 64 MiB each.
 * Logout tells the event streams (stream/fanout.h), which end that
 * session's streams within a second. With --nats, each committed login and
 * logout is also queued for the relays' session bucket (nats/feed.h). */
#include "api/api.h"
#include "auth/account.h"
#include "auth/limits.h"
#include "auth/password.h"
#include "auth/session.h"
#include "net/server.h"
#include "util/bulk.h"
#include "util/clock.h"
#include "util/err.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JOB_REGISTER, JOB_LOGIN, JOB_LOGOUT } job_kind_t;

typedef struct auth_job {
    ll_ledger_req_t lr; /* first: the ledger's reply task points into it */
    uv_work_t work;
    ll_task_t resume; /* the worker's half after the thread pool */
    job_kind_t kind;
    ll_req_t *req;
    ll_api_worker_t *ctx;        /* touched only on the worker, while it serves */
    const ll_custody_t *custody; /* for the thread pool, which must not touch ctx */
    ll_auth_limits_t *limits;    /* process-wide; the thread pool leaves the gate */
    uv_loop_t *loop;             /* the worker's: it outlives ctx when the worker stops */
    uint32_t name_rate;          /* --login-failures-per-user */
    uint32_t max_age_s;          /* --session-max-age-s, for the ledger's half */
    int name_token;              /* one token of name_key's bucket is taken */
    char name_key[LL_USERNAME_MAX + 1];
    int rc;         /* the thread pool's result */
    int found;      /* login: the username has a user */
    int overlong;   /* login: the password is longer than any registered one */
    char *password; /* a copy, wiped and freed with the job */
    size_t password_len;
    ll_store_user_t user;
    char token[LL_SESSION_TOKEN_HEX + 1];
    char token_hash[LL_TOKEN_HASH_HEX + 1];
    int64_t expires_ms; /* login: the session's, set by the ledger's half */
    int secure;         /* the cookie gets Secure (secure_cookie) */
} auth_job_t;

static void job_free(auth_job_t *job)
{
    if (job->password) {
        sodium_memzero(job->password, job->password_len);
        free(job->password);
    }
    json_decref(job->lr.result);
    sodium_memzero(job, sizeof *job); /* hash, token: nothing to leave in freed memory */
    free(job);
}

/* Secure when clients use https: --public-url says so, the node serves TLS,
 * or a trusted proxy says so for this request. Decided when the request comes in, while its
 * connection (the TCP peer) is still known. */
static int secure_cookie(const ll_api_worker_t *ctx, const ll_req_t *req)
{
    return strncmp(ctx->app->config->public_url, "https://", 8) == 0 ||
           ll_api_client_https(ctx, req);
}

static auth_job_t *job_new(ll_api_worker_t *ctx, ll_req_t *req, job_kind_t kind)
{
    auth_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        return NULL;
    }
    job->kind = kind;
    job->req = req;
    job->ctx = ctx;
    job->custody = ctx->app->custody;
    job->limits = ll_auth_limits();
    job->loop = ll_worker_loop(ctx->worker);
    job->name_rate = ctx->app->config->login_failures_per_user;
    job->max_age_s = ctx->app->config->session_max_age_s;
    job->secure = secure_cookie(ctx, req);
    return job;
}

/* The attempt did not fail (a login with the right password, a new user):
 * it does not count against the username. */
static void give_back_name(auth_job_t *job)
{
    if (!job->name_token)
        return;
    ll_ratelimit_give(&job->limits->failures_by_name, job->name_key, job->name_rate,
                      ll_clock_mono_ms());
    job->name_token = 0;
}

/* ---- the ledger's half ------------------------------------------------------ */

/* STORE_CALL, login: a new session row. Expired rows go on the same write,
 * so the table holds live sessions and a few recent ones only. */
static int put_session_fn(ll_store_t *writer, void *arg, json_t **result, char *why)
{
    auth_job_t *job = arg;
    int64_t now = ll_clock_wall_ms();
    int rc;
    (void)why;
    job->expires_ms = now + (int64_t)job->max_age_s * 1000;
    if ((rc = ll_store_prune_sessions(writer, now)) < 0 ||
        (rc = ll_store_put_session(writer, job->token_hash, job->user.username, now,
                                   job->expires_ms)) < 0)
        return rc;
    *result = json_pack("{s:s, s:s}", "username", job->user.username, "address", job->user.address);
    return *result ? 0 : LL_ENOMEM;
}

/* STORE_CALL, logout. */
static int delete_session_fn(ll_store_t *writer, void *arg, json_t **result, char *why)
{
    auth_job_t *job = arg;
    int rc;
    (void)why;
    if ((rc = ll_store_delete_session(writer, job->token_hash)) < 0)
        return rc;
    *result = json_pack("{s:s}", "status", "logged_out");
    return *result ? 0 : LL_ENOMEM;
}

static void on_store_reply(ll_task_t *task)
{
    auth_job_t *job = (auth_job_t *)((char *)task - offsetof(ll_ledger_req_t, reply));
    char cookie[LL_AUTH_COOKIE_HEADER_CAP];
    int status = job->kind == JOB_REGISTER ? 201 : 200;

    if (job->lr.rc < 0) {
        ll_req_respond_error(job->req, job->lr.rc, "%s", job->lr.why);
    } else {
        if (job->kind == JOB_REGISTER)
            give_back_name(job);
        /* Committed by now: the relays' copy follows (a no-op without --nats),
         * before the client can hold, or stop holding, the cookie. */
        if (job->kind == JOB_LOGIN)
            ll_nats_feed_session_put(job->ctx->app->nats_feed, job->token_hash, job->expires_ms);
        if (job->kind == JOB_LOGOUT) {
            ll_fanout_session_revoked(); /* the row is gone (committed): streams may look */
            ll_nats_feed_session_delete(job->ctx->app->nats_feed, job->token_hash);
        }
        if (job->kind != JOB_REGISTER) {
            ll_auth_cookie_header(job->kind == JOB_LOGIN ? job->token : NULL, job->max_age_s,
                                  job->secure, cookie, sizeof cookie);
            ll_req_add_header(job->req, "Set-Cookie", cookie);
        }
        ll_req_respond_json(job->req, status, job->lr.result); /* steals result */
        job->lr.result = NULL;
    }
    job_free(job);
}

/* Hands the job to the ledger; its reply answers the request. */
static void ask_store(auth_job_t *job, ll_ledger_store_fn fn, void *arg)
{
    job->lr.op = LL_LEDGER_STORE_CALL;
    job->lr.store_fn = fn;
    job->lr.store_arg = arg;
    job->lr.reply_q = ll_worker_taskq(job->ctx->worker);
    job->lr.reply.run = on_store_reply;
    if (ll_ledger_post(job->ctx->app->ledger, &job->lr) < 0) {
        ll_req_respond_error(job->req, LL_ESHUTDOWN, "the node is shutting down");
        job_free(job);
    }
}

/* ---- the thread pool's half -------------------------------------------------- */

/* On a thread-pool thread: it touches the job only (ctx may be freed
 * meanwhile by a stopping worker). */
static void on_work(uv_work_t *w)
{
    auth_job_t *job = w->data;
    ll_bulk_thread();
    if (job->kind == JOB_REGISTER) {
        job->rc = ll_auth_user_new(job->custody, job->user.username, job->password,
                                   job->password_len, &job->user);
    } else {
        /* Login: verify even when there is no such user, against a hash
         * nobody can match, so both failures take the same time. */
        job->rc =
            ll_password_verify(job->found ? job->user.password_hash : ll_password_dummy_hash(),
                               job->password, job->password_len);
    }
    ll_hashgate_leave(&job->limits->hashes); /* the hash's memory is freed by now */
}

static void on_resume(ll_task_t *task)
{
    auth_job_t *job = (auth_job_t *)((char *)task - offsetof(auth_job_t, resume));
    if (job->kind == JOB_REGISTER) {
        if (job->rc < 0) {
            ll_req_respond_error(job->req, job->rc, "the account could not be made");
            job_free(job);
            return;
        }
        ask_store(job, ll_auth_put_user_fn, &job->user);
        return;
    }
    if (!job->found || job->rc < 0) {
        ll_req_respond_error(job->req, LL_EBADCREDENTIALS, "wrong username or password");
        job_free(job);
        return;
    }
    give_back_name(job);
    ll_auth_token_new(job->token, job->token_hash);
    ask_store(job, put_session_fn, job);
}

/* Back on the worker's loop. The rest runs as a task on the worker's queue,
 * not here: a job that outlives a stopping worker finishes in the loop's
 * last pass, after the worker freed ctx; its queue is closed by then and
 * refuses the task, and the orphaned request is only freed. */
static void on_work_done(uv_work_t *w, int status)
{
    auth_job_t *job = w->data;
    (void)status; /* jobs are never cancelled */
    job->resume.run = on_resume;
    if (ll_taskq_post(ll_worker_taskq(ll_req_worker(job->req)), &job->resume) < 0) {
        ll_req_respond_error(job->req, LL_ESHUTDOWN, "the node is shutting down");
        job_free(job);
    }
}

/* Called with a slot of the hash gate held; the thread pool gives it back.
 * A waiter's turn may come while its worker stops, after ctx is freed:
 * nothing here or on the thread pool touches ctx. */
static void queue_work(auth_job_t *job)
{
    job->work.data = job;
    if (uv_queue_work(job->loop, &job->work, on_work, on_work_done) < 0) {
        ll_hashgate_leave(&job->limits->hashes);
        ll_req_respond_error(job->req, LL_EINTERNAL, "the thread pool refused the job");
        job_free(job);
    }
}

/* A job waiting in the hash gate's line, asking on a timer of its own
 * worker's loop. Freed when the timer's handle is closed. */
typedef struct hash_waiter {
    uv_timer_t timer;
    auth_job_t *job;
    uint64_t ticket;
} hash_waiter_t;

static void on_waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

/* A request whose connection is gone (the client left, or the node is
 * stopping and closed it) is an orphan: nobody would read its answer. */
static int client_gone(const ll_req_t *req)
{
    char ip[64];
    return ll_req_peer_ip(req, ip, sizeof ip) < 0;
}

static void on_wait_tick(uv_timer_t *t)
{
    hash_waiter_t *w = t->data;
    if (!ll_hashgate_poll(&w->job->limits->hashes, w->ticket))
        return;
    auth_job_t *job = w->job;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, on_waiter_closed);
    if (client_gone(job->req)) { /* its turn, but no hash for nobody: the next one goes */
        ll_hashgate_leave(&job->limits->hashes);
        give_back_name(job);
        ll_req_respond_error(job->req, LL_ESHUTDOWN, "the client is gone"); /* frees it */
        job_free(job);
        return;
    }
    queue_work(job);
}

/* Runs the job's hash now, or after those ahead of it; answers 429 when
 * the line is full (the node is busy, not the client at fault: the
 * username's token goes back). */
static void start_hash(auth_job_t *job)
{
    hash_waiter_t *w = malloc(sizeof *w); /* before a ticket: a ticket must be polled */
    uint64_t ticket = 0;
    if (!w) {
        ll_req_respond_error(job->req, LL_ENOMEM, "out of memory");
        job_free(job);
        return;
    }
    int rc = ll_hashgate_enter(&job->limits->hashes, &ticket);
    if (rc != LL_HASHGATE_WAIT) {
        free(w);
        if (rc == LL_HASHGATE_GO) {
            queue_work(job);
            return;
        }
        give_back_name(job);
        ll_auth_respond_limited(job->req, 1, "password checks at once: the node is busy");
        job_free(job);
        return;
    }
    w->job = job;
    w->ticket = ticket;
    uv_timer_init(job->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_wait_tick, LL_HASHGATE_POLL_MS, LL_HASHGATE_POLL_MS);
}

/* Every attempt counts against the client's address, first: even one the
 * checks below refuse. Returns 0, or < 0 with req answered. */
static int limit_attempt(ll_api_worker_t *ctx, ll_req_t *req)
{
    char client[LL_AUTH_CLIENT_KEY_CAP], ip[64];
    int known = ll_api_client_ip(ctx, req, ip, sizeof ip) == 0;
    ll_auth_limits_t *limits = ll_auth_limits_for(req, known ? ip : NULL, client);
    if (!limits)
        return LL_EINTERNAL;
    return ll_auth_limit(req, &limits->attempts_by_client, client,
                         ctx->app->config->auth_attempts_per_ip,
                         "login and register attempts from this address");
}

/* Takes a token of the job's username; a failed attempt keeps it. Returns
 * 0, or < 0 with the request answered and the job freed. */
static int limit_name(auth_job_t *job)
{
    memcpy(job->name_key, job->user.username, sizeof job->name_key);
    if (ll_auth_limit(job->req, &job->limits->failures_by_name, job->name_key, job->name_rate,
                      "failed attempts for this username") < 0) {
        job_free(job);
        return LL_ERATELIMIT;
    }
    job->name_token = 1;
    return 0;
}

/* ---- the handlers ------------------------------------------------------------- */

/* Parses {"username", "password"}: both strings; the password is copied
 * into the job, since the request body may be gone when the hash runs. */
static auth_job_t *credentials_job(ll_api_worker_t *ctx, ll_req_t *req, job_kind_t kind,
                                   size_t *username_len)
{
    char why[LL_ERRMSG_MAX];
    json_t *body = NULL;
    const char *username, *password;
    size_t password_len;
    auth_job_t *job = NULL;
    int rc;

    if (!ctx->reader) { /* both register and login look the user up */
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return NULL;
    }
    if ((rc = ll_auth_json_body(req, &body, why)) < 0 ||
        (rc = ll_auth_string_field(body, "username", &username, username_len, why)) < 0 ||
        (rc = ll_auth_string_field(body, "password", &password, &password_len, why)) < 0) {
        ll_req_respond_error(req, rc, "%s", why);
        goto out;
    }
    if (kind == JOB_REGISTER && !ll_auth_username_ok(username, *username_len)) {
        ll_req_respond_error(req, LL_EBADUSERNAME,
                             "a username is %d to %d characters of a-z, 0-9, '_', '.' and '-', "
                             "and not 32 hex digits (that is an address)",
                             LL_USERNAME_MIN, LL_USERNAME_MAX);
        goto out;
    }
    if (kind == JOB_REGISTER && !ll_auth_password_ok(password_len)) {
        ll_req_respond_error(req, LL_EBADPASSWORD, "a password is %d to %d bytes of UTF-8",
                             LL_PASSWORD_MIN, LL_PASSWORD_MAX);
        goto out;
    }
    if (!(job = job_new(ctx, req, kind)))
        goto out;
    /* Login takes any length, but hashes no more than the rule allows. A
     * longer password cannot be right: login verifies it against the dummy
     * hash (same time), and fails. Cut, it must not match the prefix. */
    job->overlong = password_len > LL_PASSWORD_MAX;
    job->password_len = job->overlong ? LL_PASSWORD_MAX : password_len;
    if (!(job->password = malloc(job->password_len + 1))) {
        ll_req_respond_error(req, LL_ENOMEM, "out of memory");
        job_free(job);
        job = NULL;
        goto out;
    }
    memcpy(job->password, password, job->password_len);
    job->password[job->password_len] = '\0';
    /* Cut to fit: login treats a longer name as unknown (see its caller). */
    snprintf(job->user.username, sizeof job->user.username, "%.*s",
             (int)(*username_len < LL_USERNAME_MAX ? *username_len : LL_USERNAME_MAX), username);
out:
    json_decref(body); /* username and password pointed into it */
    return job;
}

void ll_api_register(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    size_t len;
    ll_store_user_t existing;
    int rc;
    (void)param;
    if (limit_attempt(ctx, req) < 0)
        return;
    auth_job_t *job = credentials_job(ctx, req, JOB_REGISTER, &len);
    if (!job || limit_name(job) < 0)
        return;
    /* Spares the hash when the name is taken; the insert checks again, for
     * two registrations racing for one name. */
    rc = ll_store_get_user(ctx->reader, job->user.username, &existing);
    sodium_memzero(&existing, sizeof existing);
    if (rc != LL_ENOTFOUND) {
        if (rc == 0)
            ll_req_respond_error(req, LL_EUSERNAMETAKEN, "the username '%s' is taken",
                                 job->user.username);
        else
            ll_req_respond_error(req, rc, "the database could not be read");
        job_free(job);
        return;
    }
    start_hash(job);
}

void ll_api_login(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char name[LL_USERNAME_MAX + 1];
    size_t len;
    int rc;
    (void)param;
    if (limit_attempt(ctx, req) < 0)
        return;
    auth_job_t *job = credentials_job(ctx, req, JOB_LOGIN, &len);
    if (!job || limit_name(job) < 0)
        return;
    /* A name that breaks the rule, or was cut to fit, has no user either. */
    memcpy(name, job->user.username, sizeof name); /* the lookup overwrites job->user */
    rc = len <= LL_USERNAME_MAX ? ll_store_get_user(ctx->reader, name, &job->user) : LL_ENOTFOUND;
    if (rc < 0 && rc != LL_ENOTFOUND) {
        ll_req_respond_error(req, rc, "the database could not be read");
        job_free(job);
        return;
    }
    job->found = rc == 0 && !job->overlong;
    start_hash(job);
}

void ll_api_logout(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char username[LL_USERNAME_MAX + 1], address[33], hash[LL_TOKEN_HASH_HEX + 1];
    auth_job_t *job;
    int rc;
    (void)param;
    /* The body, if any, is ignored, but the media type rule holds for every
     * POST that a cookie authenticates: it is what stops forged form posts. */
    if ((rc = ll_auth_check_json_type(req)) < 0) {
        ll_req_respond_error(req, rc, "the request must be sent as Content-Type: application/json");
        return;
    }
    if ((rc = ll_auth_session_find(ctx->reader, req, username, address, hash)) < 0) {
        ll_req_respond_error(req, rc, "%s",
                             rc == LL_EUNAUTHORIZED ? "no session: log in first"
                                                    : "the database could not be read");
        return;
    }
    if (!(job = job_new(ctx, req, JOB_LOGOUT)))
        return;
    memcpy(job->token_hash, hash, sizeof hash);
    ask_store(job, delete_session_fn, job);
}

void ll_api_me(ll_api_worker_t *ctx, ll_req_t *req, const char *param)
{
    char username[LL_USERNAME_MAX + 1], address[33];
    int rc;
    (void)param;
    if ((rc = ll_auth_session_user(ctx->reader, req, username, address)) < 0) {
        ll_req_respond_error(req, rc, "%s",
                             rc == LL_EUNAUTHORIZED ? "no session: log in first"
                                                    : "the database could not be read");
        return;
    }
    ll_req_respond_json(req, 200,
                        json_pack("{s:s, s:s}", "username", username, "address", address));
}
