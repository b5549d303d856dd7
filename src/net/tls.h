/* net/tls.h: TLS on the server's connections (--tls-cert, --tls-key), with
 * OpenSSL: TLS 1.2 and 1.3 only, the server's cipher preference, ALPN
 * http/1.1.
 *
 * The context holds the certificate and key, and is rebuilt in place on
 * SIGHUP: a session keeps the context it began with, so open streams never
 * notice, and the next handshake presents the new certificate.
 *
 * A session is one connection's TLS. Its handshake runs on the raw socket,
 * so that OpenSSL can hand the keys to the kernel (kTLS) where the kernel
 * offers it. After the handshake each direction is one of two paths:
 *   kernel TLS  the socket takes and gives plaintext: writes pass straight
 *               to libuv, so the fan-out's pre-encoded frames still go out
 *               in one writev per subscriber per batch;
 *   user space  OpenSSL encrypts into a buffer of the worker thread's (in
 *               records of up to 16 KiB, whatever the number of frames)
 *               and decrypts what libuv reads.
 * Every ll_tls_* data call takes a NULL session too, and is then exactly
 * the libuv call it stands for: callers do not branch on TLS.
 *
 * Owns:    the context its SSL_CTX (reference counted: each session holds
 *          the one it began with); a session its SSL, and the ciphertext of
 *          its writes until libuv has written them.
 * Frees:   ll_tls_ctx_free once the server has stopped; ll_tls_free by the
 *          connection's owner (net/conn.c, or net/stream_conn.c after a
 *          take-over) once its socket is closed. Writes still queued in
 *          libuv then complete (or are cancelled) without the session.
 * Threads: the context is made, reloaded and freed on the main thread and
 *          read by workers (a mutex guards the swap; the counters are
 *          atomic); a session is its worker's alone. */
#ifndef LL_NET_TLS_H
#define LL_NET_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ll_tls_ctx ll_tls_ctx_t;
typedef struct ll_tls ll_tls_t;

/* Loads cert (PEM, the chain after the leaf) and key (PEM), and checks that
 * they match. Returns 0, or LL_ECONFIG with the reason for the operator in
 * why (LL_ERRMSG_MAX bytes). */
int ll_tls_ctx_new(const char *cert, const char *key, ll_tls_ctx_t **out, char *why);

/* SIGHUP: reads the same two files again. On success new handshakes use
 * them; on failure (why says what) the old pair stays in use. */
int ll_tls_ctx_reload(ll_tls_ctx_t *ctx, char *why);

void ll_tls_ctx_free(ll_tls_ctx_t *ctx);

/* For /metrics: handshakes completed on each path, and those that failed
 * (a bad or garbled handshake, or none within the head deadline). */
typedef struct ll_tls_stats {
    uint64_t ktls, userspace, failed;
} ll_tls_stats_t;
void ll_tls_ctx_stats(const ll_tls_ctx_t *ctx, ll_tls_stats_t *out);

/* A session for the accepted socket fd, not yet handshaken. NULL when
 * memory runs out. */
ll_tls_t *ll_tls_new(ll_tls_ctx_t *ctx, int fd);

/* Advances the handshake on the socket (never blocks). Returns 1 once it
 * is done (reads and writes may begin), 0 while it waits for the socket:
 * *events is then UV_READABLE or UV_WRITABLE; LL_EIO when it failed (the
 * connection must close; it is counted), LL_EBADREQUEST when what came was
 * a plain HTTP request (the same, and the session is of no more use). */
int ll_tls_handshake(ll_tls_t *t, int *events);

/* 1 when writes go to the kernel as plaintext (kTLS): the caller may then
 * hand its buffers to libuv itself. 1 for a NULL session too. */
int ll_tls_plain_writes(const ll_tls_t *t);

/* What libuv read (in, len) becomes plaintext for plain(arg, …), in one or
 * more calls. Anything OpenSSL must answer goes out on s. Returns 0,
 * UV_EOF when the client closed TLS (close_notify), or LL_EIO for a record
 * that is not valid: the connection must close. */
typedef void (*ll_tls_plain_cb)(void *arg, const char *data, size_t len);
int ll_tls_read(ll_tls_t *t, uv_stream_t *s, const char *in, size_t len, ll_tls_plain_cb plain,
                void *arg);

/* uv_write, with every byte of bufs encrypted first (the bufs are the
 * caller's again on return). cb(req, status) follows once the ciphertext
 * is written, or was cancelled. Returns 0, or a negative libuv code and
 * cb is not called. */
int ll_tls_write(ll_tls_t *t, uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[],
                 unsigned nbufs, uv_write_cb cb);

/* uv_try_write: returns every byte of bufs, encrypted and written or (what
 * the socket did not take) queued in libuv; or UV_EAGAIN with none taken
 * while earlier bytes still wait in libuv's queue; or another negative
 * libuv code. So a writer is held back exactly as by the plain socket, and
 * a session never holds more than one writer's batch unwritten. */
int ll_tls_try_write(ll_tls_t *t, uv_stream_t *s, const uv_buf_t bufs[], unsigned nbufs);

/* uv_shutdown, after a close_notify alert (RFC 8446 §6.1) where it can be
 * queued behind the bytes already written. */
int ll_tls_shutdown(ll_tls_t *t, uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb);

/* Frees the session (NULL is fine); one whose handshake never finished is
 * counted as failed. */
void ll_tls_free(ll_tls_t *t);

/* The worker thread is ending: frees its encryption buffer. */
void ll_tls_thread_end(void);

#endif
