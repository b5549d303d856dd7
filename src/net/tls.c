/* net/tls.c: see tls.h. Where TLS sits in the data path: between the
 * socket and a connection (conn.c, then stream_conn.c and the subscriber
 * that writes its stream). Nothing here is cryptography of ours: OpenSSL
 * does the handshake and the records, or hands the keys to the kernel.
 *
 * User space. Sessions on one worker share the thread's "pipe", an OpenSSL
 * BIO of our own: SSL_read takes its records from the bytes libuv just read
 * (OpenSSL keeps a partial record in its own buffer), and SSL_write leaves
 * its records in a buffer of the thread's, from which they go to libuv at
 * once. So an idle session holds no buffer of its own (with
 * SSL_MODE_RELEASE_BUFFERS, OpenSSL's are freed too), and every call drains
 * the pipe before it returns: the next session finds it empty. */
#include "net/tls.h"
#include "util/err.h"
#include "util/log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frames are gathered into records of this size (TLS's largest), so a
 * batch of small events costs one AEAD operation per 16 KiB, not one per
 * frame. */
#define RECORD_MAX 16384

/* A thread's ciphertext buffer above this size is given back after use:
 * one huge batch does not pin its memory for good. */
#define OUT_KEEP_MAX (1024 * 1024)

struct ll_tls_ctx {
    char *cert, *key;
    uv_mutex_t lock; /* guards cur: workers take it in ll_tls_new, main swaps it */
    SSL_CTX *cur;
    _Atomic uint64_t ktls, userspace, failed;
};

struct ll_tls {
    SSL *ssl;
    ll_tls_ctx_t *ctx;    /* for the counters; outlives every session */
    unsigned done : 1;    /* handshake complete */
    unsigned ktls_tx : 1; /* the kernel encrypts what we write */
    unsigned ktls_rx : 1; /* the kernel decrypts what we read */
    unsigned counted : 1; /* its outcome is in the counters */
};

/* ---- the context ------------------------------------------------------------ */

/* The first error OpenSSL queued, as words for the operator. */
static void openssl_why(char *why, const char *what, const char *path)
{
    char err[256] = "no detail";
    unsigned long e = ERR_peek_error();
    if (e)
        ERR_error_string_n(e, err, sizeof err);
    ERR_clear_error();
    snprintf(why, LL_ERRMSG_MAX, "%s %.120s: %.80s", what, path, err);
}

/* RFC 7301 §3.2: the one protocol served; a client that offers ALPN
 * without it gets no_application_protocol rather than a guess. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *chosen;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&chosen, outlen, http11, sizeof http11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *build(const char *cert, const char *key, char *why)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        openssl_why(why, "cannot make a TLS context for", cert);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    /* Kernel TLS where the kernel has it (OpenSSL falls back by itself);
     * no renegotiation (a client could make us redo handshakes at will);
     * no session tickets or cache: a resumed session would carry keys of a
     * certificate SIGHUP has replaced, and a ticket costs memory. */
    SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    /* Forward secrecy and AEAD only; AES-128-GCM first: the cheapest per
     * byte with AES-NI, and one every kernel TLS implementation takes. */
    if (SSL_CTX_set_cipher_list(c, "ECDHE+AESGCM+AES128:ECDHE+AESGCM+AES256:ECDHE+CHACHA20") != 1 ||
        SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                    "TLS_CHACHA20_POLY1305_SHA256") != 1) {
        openssl_why(why, "cannot set the cipher suites for", cert);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(c, on_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        openssl_why(why, "cannot load the certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL already compares the key with the certificate here */
        int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        openssl_why(why,
                    mismatch ? "the private key does not match the certificate of"
                             : "cannot load the private key",
                    mismatch ? cert : key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        openssl_why(why, "the private key does not match the certificate", cert);
        goto fail;
    }
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

int ll_tls_ctx_new(const char *cert, const char *key, ll_tls_ctx_t **out, char *why)
{
    ll_tls_ctx_t *ctx = calloc(1, sizeof *ctx);
    *out = NULL;
    if (!ctx || !(ctx->cert = strdup(cert)) || !(ctx->key = strdup(key))) {
        snprintf(why, LL_ERRMSG_MAX, "out of memory");
        goto fail;
    }
    if (!(ctx->cur = build(cert, key, why)))
        goto fail;
    if (uv_mutex_init(&ctx->lock) != 0) {
        snprintf(why, LL_ERRMSG_MAX, "cannot make a mutex");
        SSL_CTX_free(ctx->cur);
        goto fail;
    }
    *out = ctx;
    return 0;
fail:
    if (ctx) {
        free(ctx->cert);
        free(ctx->key);
    }
    free(ctx);
    return LL_ECONFIG;
}

int ll_tls_ctx_reload(ll_tls_ctx_t *ctx, char *why)
{
    SSL_CTX *fresh = build(ctx->cert, ctx->key, why), *old;
    if (!fresh)
        return LL_ECONFIG;
    uv_mutex_lock(&ctx->lock);
    old = ctx->cur;
    ctx->cur = fresh;
    uv_mutex_unlock(&ctx->lock);
    SSL_CTX_free(old); /* sessions begun with it hold their own reference */
    return 0;
}

void ll_tls_ctx_free(ll_tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->cur);
    uv_mutex_destroy(&ctx->lock);
    free(ctx->cert);
    free(ctx->key);
    free(ctx);
}

void ll_tls_ctx_stats(const ll_tls_ctx_t *ctx, ll_tls_stats_t *out)
{
    out->ktls = atomic_load(&ctx->ktls);
    out->userspace = atomic_load(&ctx->userspace);
    out->failed = atomic_load(&ctx->failed);
}

/* ---- the thread's pipe -------------------------------------------------------- */

typedef struct pipe_state {
    BIO *bio;
    const char *in; /* what libuv read, not yet taken by OpenSSL */
    size_t in_len;
    char *out; /* records written, not yet handed to libuv */
    size_t out_len, out_cap;
    char stage[RECORD_MAX]; /* small frames gathered into one record */
    char plain[RECORD_MAX]; /* one record's plaintext */
} pipe_state_t;

static _Thread_local pipe_state_t *pipe_; /* the worker thread's own */
static BIO_METHOD *pipe_method;           /* made once, never freed */
static uv_once_t pipe_method_once = UV_ONCE_INIT;

static int pipe_read(BIO *b, char *data, size_t len, size_t *got)
{
    BIO_clear_retry_flags(b);
    if (pipe_->in_len == 0) {
        BIO_set_retry_read(b); /* SSL_ERROR_WANT_READ: the rest comes later */
        return 0;
    }
    size_t n = len < pipe_->in_len ? len : pipe_->in_len;
    memcpy(data, pipe_->in, n);
    pipe_->in += n;
    pipe_->in_len -= n;
    *got = n;
    return 1;
}

static int pipe_write(BIO *b, const char *data, size_t len, size_t *done)
{
    pipe_state_t *p = pipe_;
    BIO_clear_retry_flags(b);
    if (p->out_len + len > p->out_cap) {
        size_t cap = p->out_cap ? p->out_cap : RECORD_MAX + 64;
        while (cap < p->out_len + len)
            cap *= 2;
        char *grown = realloc(p->out, cap);
        if (!grown)
            return 0; /* SSL_write fails: the connection closes */
        p->out = grown;
        p->out_cap = cap;
    }
    memcpy(p->out + p->out_len, data, len);
    p->out_len += len;
    *done = len;
    return 1;
}

static long pipe_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* everything else: not supported */
}

static void make_pipe_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ledgerline pipe");
    if (m && BIO_meth_set_read_ex(m, pipe_read) && BIO_meth_set_write_ex(m, pipe_write) &&
        BIO_meth_set_ctrl(m, pipe_ctrl))
        pipe_method = m;
    else
        BIO_meth_free(m);
}

static pipe_state_t *thread_pipe(void)
{
    if (pipe_)
        return pipe_;
    uv_once(&pipe_method_once, make_pipe_method);
    pipe_state_t *p = pipe_method ? calloc(1, sizeof *p) : NULL;
    if (!p)
        return NULL;
    if (!(p->bio = BIO_new(pipe_method))) {
        free(p);
        return NULL;
    }
    BIO_set_init(p->bio, 1);
    pipe_ = p;
    return p;
}

void ll_tls_thread_end(void)
{
    if (!pipe_)
        return;
    BIO_free(pipe_->bio); /* sessions hold references until they are freed */
    free(pipe_->out);
    free(pipe_);
    pipe_ = NULL;
}

/* Hands the records OpenSSL wrote (from off on) to libuv: the caller's
 * request and callback ride on the write when given. */
typedef struct sealed {
    uv_write_t wr;
    uv_write_t *user;
    uv_write_cb cb;
    char bytes[];
} sealed_t;

static void on_sealed_written(uv_write_t *wr, int status)
{
    sealed_t *o = (sealed_t *)wr;
    if (o->cb)
        o->cb(o->user, status);
    free(o);
}

static int queue_out(uv_stream_t *s, uv_write_t *user, uv_write_cb cb, size_t off)
{
    pipe_state_t *p = pipe_;
    size_t n = p->out_len - off;
    sealed_t *o = malloc(sizeof *o + n);
    if (!o)
        return UV_ENOMEM;
    memcpy(o->bytes, p->out + off, n);
    o->user = user;
    o->cb = cb;
    if (user)
        user->handle = s;
    uv_buf_t buf = uv_buf_init(o->bytes, (unsigned)n);
    int rc = uv_write(&o->wr, s, &buf, 1, on_sealed_written);
    if (rc < 0)
        free(o);
    return rc;
}

/* The pipe holds no records again, for the next session. */
static void pipe_clear(void)
{
    pipe_state_t *p = pipe_;
    p->out_len = 0;
    if (p->out_cap > OUT_KEEP_MAX) {
        free(p->out);
        p->out = NULL;
        p->out_cap = 0;
    }
}

/* What OpenSSL wrote on its own (an alert) goes out now. */
static void pipe_flush(uv_stream_t *s)
{
    if (pipe_->out_len > 0 && queue_out(s, NULL, NULL, 0) < 0)
        LL_DEBUG("tls: an alert could not be queued");
    pipe_->out_len = 0;
}

/* ---- a session ------------------------------------------------------------- */

ll_tls_t *ll_tls_new(ll_tls_ctx_t *ctx, int fd)
{
    ll_tls_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ctx = ctx;
    uv_mutex_lock(&ctx->lock);
    t->ssl = SSL_new(ctx->cur); /* takes its own reference to the context */
    uv_mutex_unlock(&ctx->lock);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_accept_state(t->ssl);
    return t;
}

static void count_failed(ll_tls_t *t)
{
    if (!t->counted)
        atomic_fetch_add(&t->ctx->failed, 1);
    t->counted = 1;
}

/* The handshake is done: each direction the kernel did not take over
 * moves to the thread's pipe, off the socket. */
static int finish(ll_tls_t *t)
{
    pipe_state_t *p = thread_pipe();
    if (!p)
        return LL_ENOMEM;
    t->ktls_tx = BIO_get_ktls_send(SSL_get_wbio(t->ssl)) ? 1 : 0;
    t->ktls_rx = BIO_get_ktls_recv(SSL_get_rbio(t->ssl)) ? 1 : 0;
    if (!t->ktls_rx) {
        BIO_up_ref(p->bio);
        SSL_set0_rbio(t->ssl, p->bio);
    }
    if (!t->ktls_tx) {
        BIO_up_ref(p->bio);
        SSL_set0_wbio(t->ssl, p->bio);
    }
    t->done = 1;
    t->counted = 1;
    atomic_fetch_add(t->ktls_tx ? &t->ctx->ktls : &t->ctx->userspace, 1);
    LL_INFO("tls: %s %s, %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
            t->ktls_tx ? (t->ktls_rx ? "kernel TLS" : "kernel TLS for sending")
                       : "user-space TLS (the kernel offers no kTLS for it)");
    return 1;
}

int ll_tls_handshake(ll_tls_t *t, int *events)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        if (finish(t) < 0) {
            count_failed(t);
            return LL_EIO;
        }
        return 1;
    }
    switch (SSL_get_error(t->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        *events = UV_READABLE;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *events = UV_WRITABLE;
        return 0;
    default: {
        char err[160] = "the client closed";
        unsigned long e = ERR_peek_error();
        int plain =
            ERR_GET_LIB(e) == ERR_LIB_SSL && (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST ||
                                              ERR_GET_REASON(e) == SSL_R_HTTPS_PROXY_REQUEST);
        if (e)
            ERR_error_string_n(e, err, sizeof err);
        ERR_clear_error();
        LL_DEBUG("tls: handshake failed: %s", err);
        count_failed(t);
        return plain ? LL_EBADREQUEST : LL_EIO;
    }
    }
}

int ll_tls_plain_writes(const ll_tls_t *t)
{
    return !t || t->ktls_tx;
}

int ll_tls_read(ll_tls_t *t, uv_stream_t *s, const char *in, size_t len, ll_tls_plain_cb plain,
                void *arg)
{
    if (!t || t->ktls_rx) {
        plain(arg, in, len);
        return 0;
    }
    pipe_state_t *p = pipe_;
    int rc = 0;
    p->in = in;
    p->in_len = len;
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, p->plain, sizeof p->plain);
        int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
        if (!t->ktls_tx)
            pipe_flush(s); /* an alert of OpenSSL's, before anything else */
        if (e == SSL_ERROR_NONE) {
            /* The handler may write on any session of this thread (the
             * pipe's records are flushed); reads never nest: only libuv's
             * read callback calls here. */
            plain(arg, p->plain, (size_t)n);
            continue;
        }
        if (e != SSL_ERROR_WANT_READ)
            rc = e == SSL_ERROR_ZERO_RETURN ? UV_EOF : UV_EPROTO;
        break;
    }
    ERR_clear_error();
    p->in = NULL;
    p->in_len = 0;
    return rc;
}

/* Encrypts bufs into the pipe: small frames gathered into records of up
 * to RECORD_MAX, a large one written as it is. Returns the bytes of bufs
 * (as an int, as libuv counts), or UV_EIO. */
static int seal(ll_tls_t *t, const uv_buf_t bufs[], unsigned nbufs)
{
    pipe_state_t *p = pipe_;
    size_t fill = 0, total = 0;
    ERR_clear_error();
    for (unsigned i = 0; i < nbufs; i++) {
        const char *at = bufs[i].base;
        size_t left = bufs[i].len;
        total += left;
        if (fill == 0 && left >= RECORD_MAX) {
            if (SSL_write(t->ssl, at, (int)left) <= 0)
                goto fail;
            continue;
        }
        while (left > 0) {
            size_t n = RECORD_MAX - fill < left ? RECORD_MAX - fill : left;
            memcpy(p->stage + fill, at, n);
            fill += n;
            at += n;
            left -= n;
            if (fill == RECORD_MAX) {
                if (SSL_write(t->ssl, p->stage, (int)fill) <= 0)
                    goto fail;
                fill = 0;
            }
        }
    }
    if (fill > 0 && SSL_write(t->ssl, p->stage, (int)fill) <= 0)
        goto fail;
    return (int)total;
fail:
    ERR_clear_error();
    pipe_clear();
    return UV_EIO;
}

int ll_tls_write(ll_tls_t *t, uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[],
                 unsigned nbufs, uv_write_cb cb)
{
    if (ll_tls_plain_writes(t))
        return uv_write(req, s, bufs, nbufs, cb);
    if (!t->done)
        return UV_ENOTCONN; /* nothing is written before the handshake */
    int rc = seal(t, bufs, nbufs);
    if (rc >= 0)
        rc = queue_out(s, req, cb, 0);
    pipe_clear();
    return rc;
}

int ll_tls_try_write(ll_tls_t *t, uv_stream_t *s, const uv_buf_t bufs[], unsigned nbufs)
{
    if (ll_tls_plain_writes(t))
        return uv_try_write(s, bufs, nbufs);
    if (!t->done)
        return UV_ENOTCONN;
    if (uv_stream_get_write_queue_size(s) > 0)
        return UV_EAGAIN; /* encrypting now would only queue behind it */
    int total = seal(t, bufs, nbufs);
    if (total <= 0) {
        pipe_clear();
        return total;
    }
    uv_buf_t out = uv_buf_init(pipe_->out, (unsigned)pipe_->out_len);
    int rc = uv_try_write(s, &out, 1);
    size_t taken = rc > 0 ? (size_t)rc : 0;
    if (rc < 0 && rc != UV_EAGAIN)
        total = rc;
    else if (taken < pipe_->out_len && (rc = queue_out(s, NULL, NULL, taken)) < 0)
        total = rc; /* the records are sealed: a gap in them would be fatal */
    pipe_clear();
    return total;
}

int ll_tls_shutdown(ll_tls_t *t, uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb)
{
    /* With kernel TLS the alert would bypass libuv's queue and could land
     * before the last frames: the FIN alone ends such a stream. */
    if (t && t->done && !t->ktls_tx) {
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* our close_notify: 0, we do not wait for theirs */
        ERR_clear_error();
        pipe_flush(s);
    }
    return uv_shutdown(req, s, cb);
}

void ll_tls_free(ll_tls_t *t)
{
    if (!t)
        return;
    if (!t->done)
        count_failed(t);
    SSL_free(t->ssl);
    free(t);
}
