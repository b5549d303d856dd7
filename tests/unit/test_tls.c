/* tests/unit/test_tls.c: net/tls.h through its header. The certificate
 * context (loading, refusing, reloading) and the handshake, against an
 * OpenSSL client over a socket pair: what the node presents, which
 * protocol versions and ALPN it takes, and what it counts. The data path
 * over libuv is the integration tests' (test_tls.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "net/tls.h"
#include "testutil.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    char a_cert[512], a_key[512], b_cert[512], b_key[512];
} fixture_t;

static int make_pair(const char *dir, const char *name, char *cert, char *key)
{
    char sub[256];
    snprintf(sub, sizeof sub, "%.200s/%.40s", dir, name);
    char *argv[] = {sub, NULL};
    int saved = dup(STDOUT_FILENO); /* dev-cert prints its two paths */
    int null = open("/dev/null", O_WRONLY);
    fflush(stdout);
    dup2(null, STDOUT_FILENO);
    int rc = ll_cli_dev_cert(1, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(null);
    snprintf(cert, 512, "%s/cert.pem", sub);
    snprintf(key, 512, "%s/key.pem", sub);
    return rc;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f || !make_temp_dir(f->dir, sizeof f->dir, "tls"))
        return -1;
    if (make_pair(f->dir, "a", f->a_cert, f->a_key) != 0 ||
        make_pair(f->dir, "b", f->b_cert, f->b_key) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    remove_tree(f->dir);
    free(f);
    ll_tls_thread_end();
    return 0;
}

/* ---- a client on the other end of a socket pair ------------------------------- */

typedef struct client_opts {
    const unsigned char *alpn; /* wire format, NULL: no ALPN */
    unsigned alpn_len;
    int max_version; /* 0: TLS 1.3 */
} client_opts_t;

typedef struct outcome {
    int server_rc; /* 1 done, LL_EIO failed */
    int client_ok;
    char alpn[32];
    char cipher[64]; /* as the client names it */
    X509 *peer;      /* the certificate the node presented; the caller frees it */
} outcome_t;

/* Runs both ends of a handshake by turns (both sockets non-blocking) until
 * each has finished or one has failed. */
static void handshake(ll_tls_ctx_t *ctx, const client_opts_t *o, outcome_t *out)
{
    int sv[2];
    memset(out, 0, sizeof *out);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ll_tls_t *t = ll_tls_new(ctx, sv[0]);
    assert_non_null(t);
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    assert_non_null(cc);
    SSL_CTX_set_security_level(cc, 0); /* let the client offer old versions */
    SSL_CTX_set_min_proto_version(cc, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(cc, o->max_version ? o->max_version : TLS1_3_VERSION);
    if (o->alpn)
        SSL_CTX_set_alpn_protos(cc, o->alpn, o->alpn_len);
    SSL *c = SSL_new(cc);
    SSL_set_fd(c, sv[1]);
    SSL_set_connect_state(c);
    int server_rc = 0, client_rc = 0, events;
    for (int turn = 0; turn < 100 && (server_rc == 0 || client_rc == 0); turn++) {
        if (client_rc == 0) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                client_rc = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
                client_rc = -1;
        }
        if (server_rc == 0)
            server_rc = ll_tls_handshake(t, &events);
        if (server_rc < 0 || client_rc < 0)
            break;
    }
    out->server_rc = server_rc;
    out->client_ok = client_rc == 1;
    const unsigned char *sel;
    unsigned len;
    SSL_get0_alpn_selected(c, &sel, &len);
    snprintf(out->alpn, sizeof out->alpn, "%.*s", (int)len, sel ? (const char *)sel : "");
    snprintf(out->cipher, sizeof out->cipher, "%s", SSL_get_cipher_name(c));
    out->peer = SSL_get1_peer_certificate(c);
    ERR_clear_error();
    SSL_free(c);
    SSL_CTX_free(cc);
    ll_tls_free(t);
    close(sv[0]);
    close(sv[1]);
}

static X509 *read_cert(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

static void assert_presents(const outcome_t *o, const char *cert_path)
{
    X509 *want = read_cert(cert_path);
    assert_non_null(o->peer);
    assert_int_equal(X509_cmp(o->peer, want), 0);
    X509_free(want);
}

static const unsigned char alpn_h2_h11[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h2[] = "\x02h2";

/* ---- the context ---------------------------------------------------------------- */

static void test_tls_ctx_refuses_a_key_of_another_pair(void **state)
{
    fixture_t *f = *state;
    ll_tls_ctx_t *ctx = (void *)1;
    char why[LL_ERRMSG_MAX] = "";
    assert_code(ll_tls_ctx_new(f->a_cert, f->b_key, &ctx, why), LL_ECONFIG);
    assert_null(ctx);
    assert_non_null(strstr(why, "does not match"));
}

static void test_tls_ctx_refuses_a_missing_file_and_names_it(void **state)
{
    fixture_t *f = *state;
    ll_tls_ctx_t *ctx;
    char why[LL_ERRMSG_MAX] = "", missing[600];
    snprintf(missing, sizeof missing, "%s/nowhere.pem", f->dir);
    assert_code(ll_tls_ctx_new(missing, f->a_key, &ctx, why), LL_ECONFIG);
    assert_non_null(strstr(why, "nowhere.pem"));
    assert_code(ll_tls_ctx_new(f->a_cert, missing, &ctx, why), LL_ECONFIG);
    assert_non_null(strstr(why, "nowhere.pem"));
}

/* ---- the handshake ---------------------------------------------------------------- */

static void test_tls_handshake_selects_http11_and_counts_the_path(void **state)
{
    fixture_t *f = *state;
    ll_tls_ctx_t *ctx;
    char why[LL_ERRMSG_MAX];
    outcome_t o;
    client_opts_t co = {alpn_h2_h11, sizeof alpn_h2_h11 - 1, 0};
    assert_int_equal(ll_tls_ctx_new(f->a_cert, f->a_key, &ctx, why), 0);
    handshake(ctx, &co, &o);
    assert_int_equal(o.server_rc, 1);
    assert_true(o.client_ok);
    assert_string_equal(o.alpn, "http/1.1");
    assert_presents(&o, f->a_cert);
    X509_free(o.peer);
    ll_tls_stats_t st;
    ll_tls_ctx_stats(ctx, &st);
    assert_int_equal(st.ktls + st.userspace, 1); /* a socket pair: user space */
    assert_int_equal(st.failed, 0);
    ll_tls_ctx_free(ctx);
}

static void test_tls_handshake_refuses_alpn_without_http11(void **state)
{
    fixture_t *f = *state;
    ll_tls_ctx_t *ctx;
    char why[LL_ERRMSG_MAX];
    outcome_t o;
    client_opts_t co = {alpn_h2, sizeof alpn_h2 - 1, 0};
    assert_int_equal(ll_tls_ctx_new(f->a_cert, f->a_key, &ctx, why), 0);
    handshake(ctx, &co, &o);
    assert_code(o.server_rc, LL_EIO);
    assert_false(o.client_ok);
    X509_free(o.peer);
    ll_tls_stats_t st;
    ll_tls_ctx_stats(ctx, &st);
    assert_int_equal(st.ktls + st.userspace, 0);
    assert_int_equal(st.failed, 1);
    ll_tls_ctx_free(ctx);
}

static void test_tls_handshake_refuses_tls11_and_prefers_aes128_gcm_in_tls12(void **state)
{
    fixture_t *f = *state;
    ll_tls_ctx_t *ctx;
    char why[LL_ERRMSG_MAX];
    outcome_t o;
    client_opts_t co = {NULL, 0, TLS1_1_VERSION};
    assert_int_equal(ll_tls_ctx_new(f->a_cert, f->a_key, &ctx, why), 0);
    handshake(ctx, &co, &o);
    assert_code(o.server_rc, LL_EIO);
    assert_false(o.client_ok);
    X509_free(o.peer);
    co.max_version = TLS1_2_VERSION; /* and 1.2 is served */
    handshake(ctx, &co, &o);
    assert_int_equal(o.server_rc, 1);
    assert_true(o.client_ok);
    /* the server's preference, over a client that offers everything */
    assert_string_equal(o.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
    X509_free(o.peer);
    ll_tls_ctx_free(ctx);
}

/* One handshake step of a session whose client has sent `sent` (maybe
 * nothing), then the session is freed: the step's result, what it waits
 * for, and the failures counted. */
static int lone_step(const fixture_t *f, const char *sent, int *events, uint64_t *failed)
{
    ll_tls_ctx_t *ctx;
    char why[LL_ERRMSG_MAX];
    int sv[2];
    assert_int_equal(ll_tls_ctx_new(f->a_cert, f->a_key, &ctx, why), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(write(sv[1], sent, strlen(sent)), (ssize_t)strlen(sent));
    ll_tls_t *t = ll_tls_new(ctx, sv[0]);
    int rc = ll_tls_handshake(t, events);
    ll_tls_free(t);
    ll_tls_stats_t st;
    ll_tls_ctx_stats(ctx, &st);
    *failed = st.failed;
    close(sv[0]);
    close(sv[1]);
    ll_tls_ctx_free(ctx);
    return rc;
}

/* A session that never finishes its handshake counts as failed when freed
 * (the connection closed at the head deadline, or the client left). */
static void test_tls_session_freed_mid_handshake_counts_a_failure(void **state)
{
    int events = 0;
    uint64_t failed;
    assert_int_equal(lone_step(*state, "", &events, &failed), 0); /* nothing sent yet */
    assert_int_equal(events, UV_READABLE);
    assert_int_equal(failed, 1);
}

/* http:// typed for https://: the handshake says so, for conn.c to answer
 * in plain HTTP. */
static void test_tls_handshake_tells_a_plain_http_request_apart(void **state)
{
    int events = 0;
    uint64_t failed;
    assert_code(lone_step(*state, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &events, &failed),
                LL_EBADREQUEST);
    assert_int_equal(failed, 1);
}

/* ---- SIGHUP's reload ------------------------------------------------------------------ */

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[4096];
    size_t n;
    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void test_tls_reload_presents_the_new_pair_and_keeps_the_old_when_bad(void **state)
{
    fixture_t *f = *state;
    ll_tls_ctx_t *ctx;
    char why[LL_ERRMSG_MAX], cert[600], key[600];
    outcome_t o;
    client_opts_t co = {NULL, 0, 0};
    snprintf(cert, sizeof cert, "%s/live-cert.pem", f->dir);
    snprintf(key, sizeof key, "%s/live-key.pem", f->dir);
    copy_file(f->a_cert, cert);
    copy_file(f->a_key, key);
    assert_int_equal(ll_tls_ctx_new(cert, key, &ctx, why), 0);

    copy_file(f->b_cert, cert);
    copy_file(f->b_key, key);
    assert_int_equal(ll_tls_ctx_reload(ctx, why), 0);
    handshake(ctx, &co, &o);
    assert_int_equal(o.server_rc, 1);
    assert_presents(&o, f->b_cert);
    X509_free(o.peer);

    write_file(cert, "not a certificate\n");
    assert_code(ll_tls_ctx_reload(ctx, why), LL_ECONFIG);
    assert_non_null(strstr(why, "live-cert.pem"));
    handshake(ctx, &co, &o);
    assert_int_equal(o.server_rc, 1);
    assert_presents(&o, f->b_cert); /* the last good pair */
    X509_free(o.peer);
    ll_tls_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_ctx_refuses_a_key_of_another_pair),
        cmocka_unit_test(test_tls_ctx_refuses_a_missing_file_and_names_it),
        cmocka_unit_test(test_tls_handshake_selects_http11_and_counts_the_path),
        cmocka_unit_test(test_tls_handshake_refuses_alpn_without_http11),
        cmocka_unit_test(test_tls_handshake_refuses_tls11_and_prefers_aes128_gcm_in_tls12),
        cmocka_unit_test(test_tls_session_freed_mid_handshake_counts_a_failure),
        cmocka_unit_test(test_tls_handshake_tells_a_plain_http_request_apart),
        cmocka_unit_test(test_tls_reload_presents_the_new_pair_and_keeps_the_old_when_bad),
    };
    return cmocka_run_group_tests_name("net/tls", tests, setup, teardown);
}
