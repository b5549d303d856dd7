/* tests/unit/test_nats_sessions.c: the session directory in a JetStream KV
 * bucket (nats/sessions.h), both halves, against a real nats-server that
 * each test starts on a free loopback port with its own store directory,
 * and kills by pid at the end. The node's half runs inside the JetStream
 * feed (nats/feed.h), or stepped by hand; the relay's half is the
 * directory. Every wait polls what a relay would see, up to a deadline. */
#include "nats/feed.h"
#include "nats/natsconn.h"
#include "nats/sessions.h"
#include "store/users.h"
#include "stream/hub.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/hex.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define STREAM "LLTEST"
#define BUCKET STREAM "_SESSIONS"
#define DEADLINE_MS 20000 /* generous: a loaded 2-core machine under ASan */
#define HOUR_MS 3600000

extern char **environ;

typedef struct fx {
    char root[64];
    char data[128]; /* the node's data directory */
    char js[128];   /* nats-server's store directory */
    char url[64];
    int port;
    pid_t server;
    ll_store_t *db; /* the node's writer, standing in for the ledger thread */
    ll_hub_t *hub;
} fx_t;

static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int accepts(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static const char *server_path(void)
{
    static const char *paths[] = {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                                  "/usr/local/bin/nats-server"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* nats-server with JetStream on fx's port and store directory; returns
 * once it accepts connections. */
static void start_server(fx_t *f)
{
    char port[16];
    const char *path = server_path();
    posix_spawn_file_actions_t fa;
    if (!path) /* scripts/install-deps.sh installs it: its absence is a failure */
        fail_msg("nats-server not found; run scripts/install-deps.sh");
    snprintf(port, sizeof port, "%d", f->port);
    char *argv[] = {(char *)path, "-js", "-a", "127.0.0.1", "-p", port, "-sd", f->js, NULL};
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    assert_int_equal(posix_spawn(&f->server, path, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    uint64_t end = ll_clock_mono_ms() + DEADLINE_MS;
    while (!accepts(f->port)) {
        int status;
        assert_int_equal(waitpid(f->server, &status, WNOHANG), 0); /* still running */
        assert_true(ll_clock_mono_ms() < end);
        pause_ms(20);
    }
}

static void kill_server(fx_t *f)
{
    if (f->server <= 0)
        return;
    kill(f->server, SIGKILL);
    waitpid(f->server, NULL, 0);
    f->server = 0;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    ll_store_user_t u = {.username = "alice",
                         .address = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
                         .password_hash = "$argon2id$not-checked-here",
                         .sealed_seed = "00",
                         .created_ms = 1};
    if (sodium_init() < 0 || !f || !make_temp_dir(f->root, sizeof f->root, "natssess")) {
        free(f);
        return -1;
    }
    snprintf(f->data, sizeof f->data, "%s/data", f->root);
    snprintf(f->js, sizeof f->js, "%s/js", f->root);
    f->port = free_port();
    snprintf(f->url, sizeof f->url, "nats://127.0.0.1:%d", f->port);
    if (ll_store_open(f->data, LL_STORE_WRITER, LL_SYNC_FULL, &f->db) < 0 ||
        ll_store_put_user(f->db, &u) < 0 || !(f->hub = ll_hub_new()))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kill_server(f);
    ll_store_close(f->db);
    ll_hub_free(f->hub);
    int rc = remove_tree(f->root);
    free(f);
    return rc;
}

/* A token hash as login makes one: 64 random lowercase hex. */
static void new_key(char key[LL_TOKEN_HASH_HEX + 1])
{
    uint8_t b[LL_TOKEN_HASH_HEX / 2];
    randombytes_buf(b, sizeof b);
    ll_hex_encode(b, sizeof b, key);
}

/* What the node does on a login and a logout: commit, then queue. */
static int64_t login(fx_t *f, ll_nats_feed_t *feed, char key[LL_TOKEN_HASH_HEX + 1])
{
    int64_t now = ll_clock_wall_ms(), expires = now + HOUR_MS;
    new_key(key);
    assert_int_equal(ll_store_put_session(f->db, key, "alice", now, expires), 0);
    ll_nats_feed_session_put(feed, key, expires);
    return expires;
}

static void logout(fx_t *f, ll_nats_feed_t *feed, const char *key)
{
    assert_int_equal(ll_store_delete_session(f->db, key), 0);
    ll_nats_feed_session_delete(feed, key);
}

/* Polls the directory until key answers want; returns what it answered
 * last (the caller asserts). */
static int wait_dir(ll_session_dir_t *d, const char *key, int want, int64_t *expires)
{
    uint64_t end = ll_clock_mono_ms() + DEADLINE_MS;
    int64_t e = 0;
    int rc;
    while ((rc = ll_session_dir_expiry(d, key, &e)) != want && ll_clock_mono_ms() < end)
        pause_ms(10);
    if (expires)
        *expires = e;
    return rc;
}

static ll_nats_feed_t *start_feed(fx_t *f)
{
    ll_nats_feed_t *feed = NULL;
    ll_nats_feed_opts_t o = {.urls = f->url,
                             .stream = STREAM,
                             .replicas = 1,
                             .data_dir = f->data,
                             .hub = f->hub,
                             .session_max_age_s = 3600};
    assert_int_equal(ll_nats_feed_start(&o, &feed), 0);
    return feed;
}

static ll_session_dir_t *start_dir(fx_t *f)
{
    ll_session_dir_t *d = NULL;
    ll_session_dir_opts_t o = {.urls = f->url, .bucket = BUCKET};
    assert_int_equal(ll_session_dir_start(&o, &d), 0);
    return d;
}

/* A client of the test's own, writing the bucket as nobody but the node
 * should: to leave keys the database never had. */
static ll_natsconn_t *connect_raw(fx_t *f)
{
    ll_natsconn_t *nc = NULL;
    assert_int_equal(ll_natsconn_open(f->url, "test", NULL, NULL, &nc), 0);
    uint64_t end = ll_clock_mono_ms() + DEADLINE_MS;
    while (!ll_natsconn_connected(nc) && ll_clock_mono_ms() < end)
        pause_ms(10);
    assert_true(ll_natsconn_connected(nc));
    return nc;
}

static kvStore *make_bucket(ll_natsconn_t *nc)
{
    kvStore *kv = NULL;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = BUCKET;
    cfg.History = 1;
    cfg.StorageType = js_FileStorage;
    assert_int_equal(js_CreateKeyValue(&kv, ll_natsconn_js(nc), &cfg), NATS_OK);
    return kv;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_bucket_is_named_after_the_stream(void **state)
{
    char b[LL_NATS_BUCKET_MAX + 1], longest[LL_NATS_NAME_MAX + 2];
    (void)state;
    assert_int_equal(ll_nats_sessions_bucket("LEDGERLINE", b), 0);
    assert_string_equal(b, "LEDGERLINE_SESSIONS");
    memset(longest, 'S', sizeof longest - 1);
    longest[LL_NATS_NAME_MAX] = '\0';
    assert_int_equal(ll_nats_sessions_bucket(longest, b), 0);
    longest[LL_NATS_NAME_MAX] = 'S';
    longest[LL_NATS_NAME_MAX + 1] = '\0';
    assert_code(ll_nats_sessions_bucket(longest, b), LL_ECONFIG);
    assert_code(ll_nats_sessions_bucket("", b), LL_ECONFIG);
}

typedef struct walk {
    char keys[8][LL_TOKEN_HASH_HEX + 1];
    int n;
} walk_t;

static int walk_row(const char *key, int64_t expires_ms, void *arg)
{
    walk_t *w = arg;
    assert_true(expires_ms > 1000);
    strcpy(w->keys[w->n++], key);
    return 0;
}

static void test_live_sessions_walk_in_key_order_without_expired(void **state)
{
    fx_t *f = *state;
    walk_t w = {.n = 0};
    char k[4][LL_TOKEN_HASH_HEX + 1];
    for (int i = 0; i < 4; i++)
        memset(k[i], "c1ab"[i], LL_TOKEN_HASH_HEX), k[i][LL_TOKEN_HASH_HEX] = '\0';
    assert_int_equal(ll_store_put_session(f->db, k[0], "alice", 1, 5000), 0);
    assert_int_equal(ll_store_put_session(f->db, k[1], "alice", 1, 999), 0); /* expired */
    assert_int_equal(ll_store_put_session(f->db, k[2], "alice", 1, 5000), 0);
    assert_int_equal(ll_store_put_session(f->db, k[3], "alice", 1, 5000), 0);

    assert_int_equal(ll_store_live_sessions(f->db, "", 1000, 2, walk_row, &w), 2);
    assert_string_equal(w.keys[0], k[2]); /* aaa… */
    assert_string_equal(w.keys[1], k[3]); /* bbb… */
    assert_int_equal(ll_store_live_sessions(f->db, w.keys[1], 1000, 2, walk_row, &w), 1);
    assert_string_equal(w.keys[2], k[0]); /* ccc…; 111… expired */
    assert_int_equal(ll_store_live_sessions(f->db, k[0], 1000, 2, walk_row, &w), 0);
}

static void test_directory_is_not_ready_until_the_bucket_is_read(void **state)
{
    fx_t *f = *state;
    char key[LL_TOKEN_HASH_HEX + 1];
    int64_t e;
    start_server(f);
    new_key(key);
    ll_session_dir_t *d = start_dir(f);
    /* No bucket yet (nobody made it): the relay cannot tell. */
    assert_code(ll_session_dir_expiry(d, key, &e), LL_ESHUTDOWN);
    ll_session_dir_stats_t st;
    ll_session_dir_stats(d, &st);
    assert_int_equal(st.loaded, 0);

    ll_nats_feed_t *feed = start_feed(f); /* makes the bucket */
    assert_code(wait_dir(d, key, LL_ENOTFOUND, NULL), LL_ENOTFOUND);
    ll_session_dir_stats(d, &st);
    assert_int_equal(st.loaded, 1);
    ll_nats_feed_stop(feed);
    ll_session_dir_stop(d);
}

static void test_logins_and_logouts_reach_the_directory(void **state)
{
    fx_t *f = *state;
    char live[LL_TOKEN_HASH_HEX + 1], expired[LL_TOKEN_HASH_HEX + 1], stale[LL_TOKEN_HASH_HEX + 1],
        k[LL_TOKEN_HASH_HEX + 1];
    int64_t now = ll_clock_wall_ms(), e = 0;
    start_server(f);

    /* Before the node connects: the bucket holds a session the database
     * no longer has (logged out while the node was away from NATS), and
     * the database holds one the bucket lacks, and an expired one. */
    ll_natsconn_t *raw = connect_raw(f);
    kvStore *kv = make_bucket(raw);
    new_key(stale);
    uint64_t rev;
    assert_int_equal(kvStore_PutString(&rev, kv, stale, "99999999999999"), NATS_OK);
    new_key(live);
    new_key(expired);
    assert_int_equal(ll_store_put_session(f->db, live, "alice", now, now + HOUR_MS), 0);
    assert_int_equal(ll_store_put_session(f->db, expired, "alice", now - 2, now - 1), 0);
    ll_session_dir_t *d = start_dir(f);
    assert_int_equal(wait_dir(d, stale, 0, NULL), 0); /* the relay has read it */

    ll_nats_feed_t *feed = start_feed(f); /* reconciles */
    assert_int_equal(wait_dir(d, live, 0, &e), 0);
    assert_true(e == now + HOUR_MS);
    assert_code(wait_dir(d, stale, LL_ENOTFOUND, NULL), LL_ENOTFOUND);
    assert_code(ll_session_dir_expiry(d, expired, &e), LL_ENOTFOUND);

    int64_t expires = login(f, feed, k);
    assert_int_equal(wait_dir(d, k, 0, &e), 0);
    assert_true(e == expires);
    logout(f, feed, live);
    assert_code(wait_dir(d, live, LL_ENOTFOUND, NULL), LL_ENOTFOUND);
    assert_int_equal(ll_session_dir_expiry(d, k, &e), 0);

    /* The bucket holds the hash and the expiry, nothing more. */
    kvEntry *ent = NULL;
    assert_int_equal(kvStore_Get(&ent, kv, k), NATS_OK);
    char want[24];
    snprintf(want, sizeof want, "%lld", (long long)expires);
    assert_int_equal(kvEntry_ValueLen(ent), (int)strlen(want));
    assert_memory_equal(kvEntry_Value(ent), want, strlen(want));
    kvEntry_Destroy(ent);

    ll_nats_feed_stop(feed);
    ll_session_dir_stop(d);
    kvStore_Destroy(kv);
    ll_natsconn_free(raw);
}

static int count_keys(kvStore *kv)
{
    kvKeysList keys;
    assert_int_equal(kvStore_Keys(&keys, kv, NULL), NATS_OK);
    int n = keys.Count;
    kvKeysList_Destroy(&keys);
    return n;
}

/* Steps the writer by hand, as the feed's loop would, until it is idle. */
static void step_until_idle(ll_nats_sessions_t *s, ll_natsconn_t *nc, ll_store_t *reader)
{
    uint64_t end = ll_clock_mono_ms() + DEADLINE_MS;
    int rc;
    while ((rc = ll_nats_sessions_step(s, nc, reader)) != 0 && ll_clock_mono_ms() < end)
        if (rc < 0)
            pause_ms(50);
    assert_int_equal(rc, 0);
}

/* More changes than the queue holds: what was dropped arrives anyway,
 * through the reconcile the overflow calls for. */
static void test_full_queue_falls_back_to_a_reconcile(void **state)
{
    enum { N = 1100 }; /* the queue holds 1024 */
    fx_t *f = *state;
    static char keys[N][LL_TOKEN_HASH_HEX + 1];
    uv_loop_t loop;
    uv_async_t wake;
    ll_store_t *reader = NULL;
    ll_nats_sessions_t *s = NULL;
    int64_t now = ll_clock_wall_ms();
    start_server(f);

    ll_natsconn_t *nc = connect_raw(f);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_async_init(&loop, &wake, NULL), 0);
    assert_int_equal(ll_store_open(f->data, LL_STORE_READER, LL_SYNC_FULL, &reader), 0);
    assert_int_equal(ll_nats_sessions_new(BUCKET, 1, 0, &wake, &s), 0);
    step_until_idle(s, nc, reader); /* the first reconcile, of an empty bucket */

    assert_int_equal(ll_store_begin(f->db), 0);
    for (int i = 0; i < N; i++) {
        new_key(keys[i]);
        assert_int_equal(ll_store_put_session(f->db, keys[i], "alice", now, now + HOUR_MS), 0);
    }
    assert_int_equal(ll_store_commit(f->db), 0);
    for (int i = 0; i < N; i++)
        ll_nats_sessions_push(s, keys[i], now + HOUR_MS);
    step_until_idle(s, nc, reader);
    assert_int_equal(ll_nats_sessions_reconciling(s), 0);

    kvStore *kv = NULL;
    kvEntry *ent = NULL;
    assert_int_equal(js_KeyValue(&kv, ll_natsconn_js(nc), BUCKET), NATS_OK);
    assert_int_equal(count_keys(kv), N);
    assert_int_equal(kvStore_Get(&ent, kv, keys[N - 1]), NATS_OK); /* a dropped change */
    kvEntry_Destroy(ent);

    ll_nats_sessions_shut(s);
    ll_nats_sessions_free(s);
    kvStore_Destroy(kv);
    ll_store_close(reader);
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    ll_natsconn_free(nc);
}

static void test_directory_recovers_after_nats_restarts(void **state)
{
    fx_t *f = *state;
    char a[LL_TOKEN_HASH_HEX + 1], b[LL_TOKEN_HASH_HEX + 1], c[LL_TOKEN_HASH_HEX + 1];
    int64_t e;
    start_server(f);
    ll_session_dir_t *d = start_dir(f);
    ll_nats_feed_t *feed = start_feed(f);
    login(f, feed, a);
    assert_int_equal(wait_dir(d, a, 0, NULL), 0);

    kill_server(f);
    /* NATS is away: the relay keeps what it read. */
    assert_int_equal(ll_session_dir_expiry(d, a, &e), 0);
    logout(f, feed, a);
    login(f, feed, b);

    start_server(f); /* the same port and store */
    assert_code(wait_dir(d, a, LL_ENOTFOUND, NULL), LL_ENOTFOUND);
    assert_int_equal(wait_dir(d, b, 0, NULL), 0);
    login(f, feed, c);
    assert_int_equal(wait_dir(d, c, 0, NULL), 0);

    ll_nats_feed_stop(feed);
    ll_session_dir_stop(d);
}

/* A bucket deleted and made anew (an operator, a server that lost its
 * store): the node fills the new one from its database, and the relay
 * reads the new one instead of waiting on the old. */
static void test_a_bucket_made_anew_is_refilled_and_reread(void **state)
{
    fx_t *f = *state;
    char a[LL_TOKEN_HASH_HEX + 1], x[LL_TOKEN_HASH_HEX + 1], c[LL_TOKEN_HASH_HEX + 1];
    start_server(f);
    ll_natsconn_t *raw = connect_raw(f);
    ll_session_dir_t *d = start_dir(f);
    ll_nats_feed_t *feed = start_feed(f);
    login(f, feed, a);
    for (int i = 0; i < 5; i++) { /* the old bucket's sequence runs ahead of the new one's */
        login(f, feed, x);
        logout(f, feed, x);
    }
    assert_code(wait_dir(d, x, LL_ENOTFOUND, NULL), LL_ENOTFOUND);
    assert_int_equal(wait_dir(d, a, 0, NULL), 0);

    assert_int_equal(js_DeleteKeyValue(ll_natsconn_js(raw), BUCKET), NATS_OK);
    /* No login or logout happens: the node notices by itself. */
    uint64_t end = ll_clock_mono_ms() + DEADLINE_MS;
    kvStore *kv = NULL;
    kvEntry *ent = NULL;
    natsStatus st = NATS_NOT_FOUND;
    while (ll_clock_mono_ms() < end) {
        if (!kv && js_KeyValue(&kv, ll_natsconn_js(raw), BUCKET) != NATS_OK)
            kv = NULL;
        if (kv && (st = kvStore_Get(&ent, kv, a)) == NATS_OK)
            break;
        pause_ms(20);
    }
    assert_int_equal(st, NATS_OK);
    kvEntry_Destroy(ent);

    logout(f, feed, a);
    assert_code(wait_dir(d, a, LL_ENOTFOUND, NULL), LL_ENOTFOUND);
    login(f, feed, c);
    assert_int_equal(wait_dir(d, c, 0, NULL), 0);

    ll_nats_feed_stop(feed);
    ll_session_dir_stop(d);
    kvStore_Destroy(kv);
    ll_natsconn_free(raw);
}

static int group_teardown(void **state)
{
    (void)state;
    ll_nats_release(); /* the NATS library's threads end */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_is_named_after_the_stream),
        cmocka_unit_test_setup_teardown(test_live_sessions_walk_in_key_order_without_expired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_directory_is_not_ready_until_the_bucket_is_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_logins_and_logouts_reach_the_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_falls_back_to_a_reconcile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_recovers_after_nats_restarts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_bucket_made_anew_is_refilled_and_reread, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("nats/sessions", tests, NULL, group_teardown);
}
