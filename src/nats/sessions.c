/* nats/sessions.c: see sessions.h. The session directory in a JetStream KV
 * bucket: the node's writer (queued changes, and a reconcile that merges
 * the bucket's sorted keys with the database's live sessions a page at a
 * time) and the relay's reader (a watching thread and a locked map).
 *
 * Why a reconcile is safe beside live changes: a change is queued only
 * after its row is committed, each token hash is random and written once,
 * and every KV write is idempotent. So a key the bucket holds and the
 * database no longer has (at the moment the merge reads past it) was logged
 * out or expired for good, and a key the merge puts was live when read; a
 * logout committed after that read queues a delete that is applied later.
 * A dropped change (full queue, failed write) restarts the reconcile, whose
 * reads come after the drop and so see what the change would have said. */
#include "nats/sessions.h"
#include "store/users.h"
#include "stream/fanout.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/thread.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_HEX LL_TOKEN_HASH_HEX
#define QUEUE_CAP 1024    /* queued changes; logins are bounded by Argon2id's pace */
#define PAGE 256          /* KV writes a step makes for changes, and as many for a reconcile */
#define KEYS_PAGE 1024    /* bucket keys a step reads */
#define KEYS_WAIT_MS 2000 /* the longest the bucket's next key may take */
#define LOG_EVERY_MS 10000
#define CHECK_MS 2000 /* how often each side asks whether the bucket is still the one it read */

int ll_nats_sessions_bucket(const char *stream, char out[LL_NATS_BUCKET_MAX + 1])
{
    size_t n = stream ? strlen(stream) : 0;
    if (n == 0 || n > LL_NATS_NAME_MAX)
        return LL_ECONFIG;
    snprintf(out, LL_NATS_BUCKET_MAX + 1, "%s%s", stream, LL_NATS_SESSIONS_SUFFIX);
    return 0;
}

/* When the bucket's stream was made (ns). A server that lost its store, or
 * an operator, may delete the bucket and it is made anew: a watch on the
 * old one never hears of it, so both sides compare this now and then.
 * NATS_NOT_FOUND: there is no bucket. */
static natsStatus bucket_created(ll_natsconn_t *nc, const char *bucket, int64_t *created)
{
    char stream[LL_NATS_BUCKET_MAX + 4];
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    snprintf(stream, sizeof stream, "KV_%s", bucket); /* the KV convention */
    natsStatus st = js_GetStreamInfo(&si, ll_natsconn_js(nc), stream, NULL, &jerr);
    if (st == NATS_OK)
        *created = si->Created;
    jsStreamInfo_Destroy(si);
    return st;
}

/* An expiry as the bucket stores it: 1 to 19 decimal digits, not 0.
 * Returns it, or 0 for anything else. */
static int64_t parse_expiry(const void *value, int len)
{
    const char *p = value;
    int64_t v = 0;
    if (!p || len < 1 || len > 19)
        return 0;
    for (int i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (INT64_MAX - (p[i] - '0')) / 10)
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* ---- the node's writer -------------------------------------------------------- */

typedef struct change {
    char key[KEY_HEX + 1];
    int64_t expires_ms; /* 0: delete */
} change_t;

typedef enum { R_NONE, R_KEYS, R_MERGE, R_TAIL } phase_t;

typedef struct rows {
    change_t row[PAGE];
    size_t n;
} rows_t;

struct ll_nats_sessions {
    char bucket[LL_NATS_BUCKET_MAX + 1];
    uint32_t replicas, max_age_s;
    uv_async_t *wake;
    uv_mutex_t lock;
    change_t *pending; /* guarded by lock, like the three below */
    size_t npending;
    int overflow; /* a change was dropped: reconcile */
    int shut;
    /* The owner's thread only. */
    change_t *work; /* the batch being applied, swapped with pending */
    size_t nwork, next;
    kvStore *kv;
    int64_t created;     /* the bound bucket's (bucket_created) */
    uint64_t checked_ms; /* when that was last compared */
    int due;             /* a reconcile must start (again) */
    phase_t phase;
    kvWatcher *keys_w;               /* R_KEYS: reads the bucket's keys */
    char **keys;                     /* the bucket's keys, sorted after R_KEYS */
    size_t nkeys, keys_cap, ki;      /* ki: the first key the merge has not passed */
    char cursor[KEY_HEX + 1];        /* R_MERGE: the last database key handled */
    rows_t rows;                     /* R_MERGE: the page read */
    uint64_t put_n, del_n, last_log; /* this reconcile's writes; rate-limited logs */
};

int ll_nats_sessions_new(const char *bucket, uint32_t replicas, uint32_t max_age_s,
                         uv_async_t *wake, ll_nats_sessions_t **out)
{
    ll_nats_sessions_t *s;
    *out = NULL;
    if (!bucket || !*bucket || strlen(bucket) > LL_NATS_BUCKET_MAX)
        return LL_ECONFIG;
    if (!(s = calloc(1, sizeof *s)))
        return LL_ENOMEM;
    s->pending = calloc(QUEUE_CAP, sizeof *s->pending);
    s->work = calloc(QUEUE_CAP, sizeof *s->work);
    if (!s->pending || !s->work || uv_mutex_init(&s->lock) != 0) {
        free(s->pending);
        free(s->work);
        free(s);
        return LL_ENOMEM;
    }
    strcpy(s->bucket, bucket);
    s->replicas = replicas ? replicas : 1;
    s->max_age_s = max_age_s;
    s->wake = wake;
    s->due = 1; /* whatever the bucket holds is checked once connected */
    *out = s;
    return 0;
}

static void free_keys(ll_nats_sessions_t *s)
{
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i]);
    free(s->keys);
    s->keys = NULL;
    s->nkeys = s->keys_cap = s->ki = 0;
}

/* Forgets a reconcile under way; the next step starts it anew. */
static void restart_reconcile(ll_nats_sessions_t *s)
{
    kvWatcher_Destroy(s->keys_w); /* a no-op on NULL */
    s->keys_w = NULL;
    free_keys(s);
    s->phase = R_NONE;
    s->due = 1;
}

void ll_nats_sessions_free(ll_nats_sessions_t *s)
{
    if (!s)
        return;
    restart_reconcile(s);
    kvStore_Destroy(s->kv);
    uv_mutex_destroy(&s->lock);
    free(s->pending);
    free(s->work);
    free(s);
}

void ll_nats_sessions_push(ll_nats_sessions_t *s, const char *key, int64_t expires_ms)
{
    if (!s || !key || strlen(key) != KEY_HEX || !ll_hex_is_lower(key, KEY_HEX))
        return;
    uv_mutex_lock(&s->lock);
    if (!s->shut) {
        if (s->npending == QUEUE_CAP) {
            s->overflow = 1;
        } else {
            change_t *c = &s->pending[s->npending++];
            memcpy(c->key, key, KEY_HEX + 1);
            c->expires_ms = expires_ms > 0 ? expires_ms : 0;
        }
        /* Sent under the lock: shut() takes it before the handle closes. */
        if (s->npending == 1 || s->overflow)
            uv_async_send(s->wake);
    }
    uv_mutex_unlock(&s->lock);
}

void ll_nats_sessions_shut(ll_nats_sessions_t *s)
{
    if (!s)
        return;
    uv_mutex_lock(&s->lock);
    s->shut = 1;
    uv_mutex_unlock(&s->lock);
}

int ll_nats_sessions_reconciling(const ll_nats_sessions_t *s)
{
    return s->due || s->phase != R_NONE;
}

static void log_failure(ll_nats_sessions_t *s, const char *what, natsStatus st)
{
    uint64_t now = ll_clock_mono_ms();
    if (s->last_log && now - s->last_log < LOG_EVERY_MS)
        return;
    s->last_log = now;
    LL_WARN("nats sessions: %s (bucket %s): %s (retrying; the bucket is reconciled after)", what,
            s->bucket, natsStatus_GetText(st));
}

static natsStatus create_bucket(ll_nats_sessions_t *s, ll_natsconn_t *nc)
{
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = s->bucket;
    cfg.History = 1;
    cfg.TTL = (int64_t)s->max_age_s * 1000000000; /* the stream's MaxAge, in ns */
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = (int)s->replicas;
    return js_CreateKeyValue(&s->kv, ll_natsconn_js(nc), &cfg);
}

/* Binds the bucket, creating it when absent. An existing bucket is used as
 * it is, like the event stream. */
static natsStatus open_bucket(ll_nats_sessions_t *s, ll_natsconn_t *nc)
{
    natsStatus st = js_KeyValue(&s->kv, ll_natsconn_js(nc), s->bucket);
    if (st == NATS_NOT_FOUND)
        st = create_bucket(s, nc);
    if (st == NATS_OK) {
        s->checked_ms = ll_clock_mono_ms();
        st = bucket_created(nc, s->bucket, &s->created);
    }
    return st;
}

/* Every CHECK_MS: the bucket is still the one bound. NATS_ERR when it was
 * made anew meanwhile (what it holds is unknown: reconcile). */
static natsStatus check_bucket(ll_nats_sessions_t *s, ll_natsconn_t *nc)
{
    int64_t created = 0;
    uint64_t now = ll_clock_mono_ms();
    if (now - s->checked_ms < CHECK_MS)
        return NATS_OK;
    s->checked_ms = now;
    natsStatus st = bucket_created(nc, s->bucket, &created);
    return st != NATS_OK ? st : created == s->created ? NATS_OK : NATS_ERR;
}

static natsStatus kv_put(ll_nats_sessions_t *s, const char *key, int64_t expires_ms)
{
    char value[24];
    uint64_t rev;
    snprintf(value, sizeof value, "%" PRId64, expires_ms);
    return kvStore_PutString(&rev, s->kv, key, value);
}

static natsStatus kv_delete(ll_nats_sessions_t *s, const char *key)
{
    natsStatus st = kvStore_Delete(s->kv, key);
    /* A key the client library refuses to name (not one of ours, and no
     * session can have it) is left alone rather than failing forever. */
    return st == NATS_INVALID_ARG ? NATS_OK : st;
}

/* Applies up to PAGE queued changes, taking the queue when the last batch
 * is done. A dropped change makes the reconcile start over. */
static natsStatus apply_changes(ll_nats_sessions_t *s)
{
    if (s->next == s->nwork) {
        uv_mutex_lock(&s->lock);
        change_t *t = s->work;
        int dropped = s->overflow;
        s->work = s->pending;
        s->nwork = s->npending;
        s->pending = t;
        s->npending = 0;
        s->next = 0;
        s->overflow = 0;
        uv_mutex_unlock(&s->lock);
        if (dropped)
            restart_reconcile(s);
    }
    for (int n = 0; n < PAGE && s->next < s->nwork; n++, s->next++) {
        const change_t *c = &s->work[s->next];
        natsStatus st = c->expires_ms ? kv_put(s, c->key, c->expires_ms) : kv_delete(s, c->key);
        if (st != NATS_OK)
            return st;
    }
    return NATS_OK;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* R_KEYS: reads up to KEYS_PAGE of the bucket's keys (delete markers
 * excluded); the watcher's end-of-initial-values marker ends the phase. */
static natsStatus read_keys(ll_nats_sessions_t *s)
{
    natsStatus st;
    if (!s->keys_w) {
        kvWatchOptions o;
        kvWatchOptions_Init(&o);
        o.IgnoreDeletes = true;
        o.MetaOnly = true;
        if ((st = kvStore_WatchAll(&s->keys_w, s->kv, &o)) != NATS_OK)
            return st;
    }
    for (int n = 0; n < KEYS_PAGE; n++) {
        kvEntry *e = NULL;
        if ((st = kvWatcher_Next(&e, s->keys_w, KEYS_WAIT_MS)) != NATS_OK)
            return st;
        if (!e) {
            kvWatcher_Destroy(s->keys_w);
            s->keys_w = NULL;
            if (s->nkeys)
                qsort(s->keys, s->nkeys, sizeof *s->keys, cmp_keys);
            s->phase = R_MERGE;
            s->cursor[0] = '\0';
            return NATS_OK;
        }
        if (s->nkeys == s->keys_cap) {
            size_t cap = s->keys_cap ? 2 * s->keys_cap : 256;
            char **k = realloc(s->keys, cap * sizeof *k);
            if (!k) {
                kvEntry_Destroy(e);
                return NATS_NO_MEMORY;
            }
            s->keys = k;
            s->keys_cap = cap;
        }
        s->keys[s->nkeys] = strdup(kvEntry_Key(e));
        kvEntry_Destroy(e);
        if (!s->keys[s->nkeys])
            return NATS_NO_MEMORY;
        s->nkeys++;
    }
    return NATS_OK;
}

static int collect_row(const char *token_hash, int64_t expires_ms, void *arg)
{
    rows_t *r = arg;
    memcpy(r->row[r->n].key, token_hash, KEY_HEX + 1);
    r->row[r->n++].expires_ms = expires_ms;
    return 0;
}

/* R_MERGE: one page of live sessions after the cursor, merged with the
 * sorted bucket keys: a key only the bucket has is deleted, a session only
 * the database has is put. At most PAGE writes; the cursor moves past the
 * rows handled, and the next step reads on from there. */
static natsStatus merge_page(ll_nats_sessions_t *s, ll_store_t *db)
{
    rows_t *rows = &s->rows;
    int writes = 0, n;
    size_t i;
    natsStatus st;

    rows->n = 0;
    if ((n = ll_store_live_sessions(db, s->cursor, ll_clock_wall_ms(), PAGE, collect_row, rows)) <
        0) {
        LL_ERROR("nats sessions: reading the sessions failed");
        return NATS_ERR;
    }
    for (i = 0; i < rows->n; i++) {
        const change_t *r = &rows->row[i];
        int c = 1;
        while (s->ki < s->nkeys && (c = strcmp(s->keys[s->ki], r->key)) < 0) {
            if (writes == PAGE)
                return NATS_OK;
            if ((st = kv_delete(s, s->keys[s->ki])) != NATS_OK)
                return st;
            writes++;
            s->del_n++;
            s->ki++;
        }
        if (c == 0) {
            s->ki++;
        } else {
            if (writes == PAGE)
                return NATS_OK;
            if ((st = kv_put(s, r->key, r->expires_ms)) != NATS_OK)
                return st;
            writes++;
            s->put_n++;
        }
        memcpy(s->cursor, r->key, KEY_HEX + 1);
    }
    if ((size_t)n < PAGE)
        s->phase = R_TAIL; /* the table ends here: what the bucket has beyond goes */
    return NATS_OK;
}

/* R_TAIL: deletes up to PAGE of the bucket's keys past the last session. */
static natsStatus delete_tail(ll_nats_sessions_t *s)
{
    natsStatus st;
    for (int n = 0; n < PAGE && s->ki < s->nkeys; n++, s->ki++, s->del_n++)
        if ((st = kv_delete(s, s->keys[s->ki])) != NATS_OK)
            return st;
    if (s->ki == s->nkeys) {
        if (s->put_n || s->del_n)
            LL_INFO("nats sessions: bucket %s reconciled (%" PRIu64 " put, %" PRIu64 " deleted)",
                    s->bucket, s->put_n, s->del_n);
        free_keys(s);
        s->phase = R_NONE;
    }
    return NATS_OK;
}

static natsStatus reconcile_step(ll_nats_sessions_t *s, ll_store_t *db)
{
    if (s->phase == R_NONE) {
        if (!s->due)
            return NATS_OK;
        s->due = 0;
        s->phase = R_KEYS;
        s->put_n = s->del_n = 0;
    }
    switch (s->phase) {
    case R_KEYS:
        return read_keys(s);
    case R_MERGE:
        return merge_page(s, db);
    case R_TAIL:
        return delete_tail(s);
    default:
        return NATS_OK;
    }
}

/* After any failure: the batch in hand is dropped (the reconcile covers it)
 * and the bucket is bound again, or made again if it was lost. */
static int fail(ll_nats_sessions_t *s, const char *what, natsStatus st)
{
    if (what)
        log_failure(s, what, st);
    s->next = s->nwork = 0;
    restart_reconcile(s);
    kvStore_Destroy(s->kv);
    s->kv = NULL;
    return LL_EIO;
}

int ll_nats_sessions_step(ll_nats_sessions_t *s, ll_natsconn_t *nc, ll_store_t *db)
{
    natsStatus st;
    if (!ll_natsconn_connected(nc))
        return fail(s, NULL, NATS_CONNECTION_DISCONNECTED); /* what it missed meanwhile */
    if (!s->kv && (st = open_bucket(s, nc)) != NATS_OK)
        return fail(s, "opening the bucket", st);
    if ((st = check_bucket(s, nc)) != NATS_OK)
        return fail(s, "the bucket is gone or was made anew", st);
    if ((st = apply_changes(s)) != NATS_OK)
        return fail(s, "writing a session", st);
    if ((st = reconcile_step(s, db)) != NATS_OK)
        return fail(s, "reconciling", st);
    uv_mutex_lock(&s->lock);
    int more = s->npending > 0;
    uv_mutex_unlock(&s->lock);
    return more || s->next < s->nwork || ll_nats_sessions_reconciling(s);
}

/* ---- the relay's reader ----------------------------------------------------------- */

#define NEXT_WAIT_MS 250 /* a watch's poll: how soon stop and a lost connection are seen */
#define RETRY_MS 500
#define PRUNE_MS 60000
#define PRUNE_BATCH 1024 /* expired sessions removed per pass; more: another pass at once */

/* The map's values are expiries themselves, not pointers: no allocation
 * per session, nothing to free. An expiry is > 0, so never NULL. */
_Static_assert(sizeof(void *) >= sizeof(int64_t), "an expiry must fit in a pointer");
#define AS_VALUE(ms) ((void *)(uintptr_t)(ms))
#define AS_EXPIRY(v) ((int64_t)(uintptr_t)(v))

struct ll_session_dir {
    uv_thread_t thread;
    ll_natsconn_t *nc;
    int own_nc;
    char bucket[LL_NATS_BUCKET_MAX + 1];
    uv_mutex_t lock;
    ll_hmap_t *map; /* guarded by lock; NULL until the bucket was read once */
    uv_mutex_t stop_lock;
    uv_cond_t stop_cond;
    int stop; /* guarded by stop_lock */
    /* The directory's thread only. */
    kvStore *kv;
    kvWatcher *w;
    ll_hmap_t *building; /* a fresh watch's initial values, not yet served */
    int64_t created;     /* the watched bucket's (bucket_created) */
    uint64_t checked_ms, last_prune, last_log;
    _Atomic uint64_t reloads, failures;
};

static int dir_stopping(ll_session_dir_t *d, uint64_t wait_ms)
{
    uv_mutex_lock(&d->stop_lock);
    if (!d->stop && wait_ms)
        uv_cond_timedwait(&d->stop_cond, &d->stop_lock, wait_ms * 1000000);
    int stop = d->stop;
    uv_mutex_unlock(&d->stop_lock);
    return stop;
}

static void drop_watch(ll_session_dir_t *d)
{
    kvWatcher_Destroy(d->w);
    d->w = NULL;
    kvStore_Destroy(d->kv);
    d->kv = NULL;
    ll_hmap_free(d->building);
    d->building = NULL;
}

/* The watch failed or NATS went away: what the node changed meanwhile is
 * read again from a fresh watch; the map last read keeps answering. */
static void lose_watch(ll_session_dir_t *d, const char *what, natsStatus st)
{
    uint64_t now = ll_clock_mono_ms();
    atomic_fetch_add(&d->failures, 1);
    drop_watch(d);
    if (!d->last_log || now - d->last_log >= LOG_EVERY_MS) {
        d->last_log = now;
        LL_WARN("session directory: %s (bucket %s): %s (retrying every %d ms)", what, d->bucket,
                natsStatus_GetText(st), RETRY_MS);
    }
}

static natsStatus open_watch(ll_session_dir_t *d)
{
    natsStatus st;
    if (!ll_natsconn_connected(d->nc))
        return NATS_CONNECTION_DISCONNECTED;
    d->checked_ms = ll_clock_mono_ms();
    if ((st = js_KeyValue(&d->kv, ll_natsconn_js(d->nc), d->bucket)) != NATS_OK ||
        (st = bucket_created(d->nc, d->bucket, &d->created)) != NATS_OK ||
        (st = kvStore_WatchAll(&d->w, d->kv, NULL)) != NATS_OK)
        return st;
    return (d->building = ll_hmap_new()) ? NATS_OK : NATS_NO_MEMORY;
}

/* The initial values are in: they replace the map at once. A session the
 * old map had and the new one lacks was deleted while we were away, so the
 * streams look again. */
static void serve_built(ll_session_dir_t *d)
{
    uv_mutex_lock(&d->lock);
    ll_hmap_t *old = d->map;
    d->map = d->building;
    uv_mutex_unlock(&d->lock);
    d->building = NULL;
    atomic_fetch_add(&d->reloads, 1);
    if (old)
        ll_fanout_session_revoked();
    ll_hmap_free(old);
}

/* One entry: into the map being built, or, once served, into the live map. */
static int apply_entry(ll_session_dir_t *d, kvEntry *e)
{
    const char *key = kvEntry_Key(e);
    int64_t expires_ms = 0;
    int rc = 0;
    if (kvEntry_Operation(e) == kvOp_Put)
        expires_ms = parse_expiry(kvEntry_Value(e), kvEntry_ValueLen(e));
    /* A key or value this node never writes is no session: as deleted. */
    if (!key || strlen(key) != KEY_HEX || !ll_hex_is_lower(key, KEY_HEX))
        return 0;
    if (d->building) {
        if (expires_ms)
            return ll_hmap_put(d->building, key, AS_VALUE(expires_ms));
        ll_hmap_remove(d->building, key);
        return 0;
    }
    uv_mutex_lock(&d->lock);
    if (expires_ms)
        rc = ll_hmap_put(d->map, key, AS_VALUE(expires_ms));
    else
        ll_hmap_remove(d->map, key);
    uv_mutex_unlock(&d->lock);
    if (!expires_ms)
        ll_fanout_session_revoked(); /* a logout: its streams end */
    return rc;
}

typedef struct expired {
    int64_t now;
    char (*keys)[KEY_HEX + 1];
    size_t n, cap;
} expired_t;

static void collect_expired(const char *key, void *value, void *arg)
{
    expired_t *x = arg;
    if (AS_EXPIRY(value) > x->now || x->n == x->cap)
        return;
    memcpy(x->keys[x->n++], key, KEY_HEX + 1);
}

/* Once a minute: sessions that expired leave the map (the bucket ages
 * them out without telling watchers), at most PRUNE_BATCH a pass. */
static void prune(ll_session_dir_t *d)
{
    char keys[PRUNE_BATCH][KEY_HEX + 1]; /* 65 KB of the thread's stack */
    uint64_t now = ll_clock_mono_ms();
    if (now - d->last_prune < PRUNE_MS)
        return;
    expired_t x = {.now = ll_clock_wall_ms(), .keys = keys, .cap = PRUNE_BATCH};
    uv_mutex_lock(&d->lock);
    if (d->map)
        ll_hmap_each(d->map, collect_expired, &x);
    for (size_t i = 0; i < x.n; i++)
        ll_hmap_remove(d->map, keys[i]);
    uv_mutex_unlock(&d->lock);
    if (x.n < x.cap)
        d->last_prune = now;
}

static void dir_thread(void *arg)
{
    ll_session_dir_t *d = arg;
    natsStatus st;
    ll_thread_name("ll-sessions");
    d->last_prune = ll_clock_mono_ms();
    while (!dir_stopping(d, 0)) {
        if (!d->w && (st = open_watch(d)) != NATS_OK) {
            lose_watch(d, "watching the bucket", st);
            dir_stopping(d, RETRY_MS);
            continue;
        }
        kvEntry *e = NULL;
        st = kvWatcher_Next(&e, d->w, NEXT_WAIT_MS);
        if (st != NATS_OK && st != NATS_TIMEOUT && dir_stopping(d, 0))
            break; /* stop closed our connection */
        if (st == NATS_OK && !e) {
            serve_built(d);
        } else if (st == NATS_OK) {
            int rc = apply_entry(d, e);
            kvEntry_Destroy(e);
            if (rc < 0) {
                lose_watch(d, "out of memory", NATS_NO_MEMORY);
                continue;
            }
        } else if (st != NATS_TIMEOUT) {
            lose_watch(d, "watching the bucket", st);
            dir_stopping(d, RETRY_MS);
            continue;
        }
        /* A watch survives a short outage by itself, but not one whose
         * server lost the bucket: any outage seen means a fresh read. */
        if (!ll_natsconn_connected(d->nc)) {
            lose_watch(d, "the connection", NATS_CONNECTION_DISCONNECTED);
            continue;
        }
        uint64_t now = ll_clock_mono_ms();
        if (now - d->checked_ms >= CHECK_MS) {
            int64_t created = 0;
            d->checked_ms = now;
            st = bucket_created(d->nc, d->bucket, &created);
            if (st == NATS_NOT_FOUND || (st == NATS_OK && created != d->created)) {
                lose_watch(d, "the bucket is gone or was made anew", st);
                continue;
            }
        }
        if (!d->building)
            prune(d);
    }
    drop_watch(d);
}

static void dir_free(ll_session_dir_t *d)
{
    if (d->own_nc)
        ll_natsconn_free(d->nc);
    ll_hmap_free(d->map);
    uv_cond_destroy(&d->stop_cond);
    uv_mutex_destroy(&d->stop_lock);
    uv_mutex_destroy(&d->lock);
    free(d);
}

int ll_session_dir_start(const ll_session_dir_opts_t *o, ll_session_dir_t **out)
{
    ll_session_dir_t *d;
    int rc;
    *out = NULL;
    if (!o->bucket || !*o->bucket || strlen(o->bucket) > LL_NATS_BUCKET_MAX || (!o->nc && !o->urls))
        return LL_ECONFIG;
    if (!(d = calloc(1, sizeof *d)))
        return LL_ENOMEM;
    if (uv_mutex_init(&d->lock) != 0) {
        free(d);
        return LL_ENOMEM;
    }
    if (uv_mutex_init(&d->stop_lock) != 0) {
        uv_mutex_destroy(&d->lock);
        free(d);
        return LL_ENOMEM;
    }
    if (uv_cond_init(&d->stop_cond) != 0) {
        uv_mutex_destroy(&d->stop_lock);
        uv_mutex_destroy(&d->lock);
        free(d);
        return LL_ENOMEM;
    }
    strcpy(d->bucket, o->bucket);
    d->nc = o->nc;
    if (!d->nc) {
        if ((rc = ll_natsconn_open(o->urls, "ledgerline-relay-sessions", NULL, NULL, &d->nc)) < 0) {
            dir_free(d);
            return rc;
        }
        d->own_nc = 1;
    }
    if (uv_thread_create(&d->thread, dir_thread, d) != 0) {
        dir_free(d);
        return LL_EINTERNAL;
    }
    *out = d;
    return 0;
}

void ll_session_dir_stop(ll_session_dir_t *d)
{
    if (!d)
        return;
    uv_mutex_lock(&d->stop_lock);
    d->stop = 1;
    uv_cond_signal(&d->stop_cond);
    uv_mutex_unlock(&d->stop_lock);
    if (d->own_nc)
        ll_natsconn_close(d->nc); /* a watch waiting for its next entry ends at once */
    uv_thread_join(&d->thread);
    dir_free(d);
}

int ll_session_dir_expiry(ll_session_dir_t *d, const char *key, int64_t *expires_ms)
{
    int rc = LL_ESHUTDOWN;
    uv_mutex_lock(&d->lock);
    if (d->map) {
        void *v = ll_hmap_get(d->map, key);
        rc = v ? 0 : LL_ENOTFOUND;
        if (v)
            *expires_ms = AS_EXPIRY(v);
    }
    uv_mutex_unlock(&d->lock);
    return rc;
}

void ll_session_dir_stats(ll_session_dir_t *d, ll_session_dir_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!d)
        return;
    uv_mutex_lock(&d->lock);
    out->loaded = d->map != NULL;
    out->sessions = d->map ? ll_hmap_count(d->map) : 0;
    uv_mutex_unlock(&d->lock);
    out->reloads = atomic_load(&d->reloads);
    out->failures = atomic_load(&d->failures);
}
