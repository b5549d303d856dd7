/* bench/stream_load_io.c: the byte stream of ll_stream_load's connections.
 * Without --tls it is the socket; with --tls, an OpenSSL client on the same
 * non-blocking socket, its handshake moved on by the same epoll loop, and
 * its reads and writes turned into recv(2)'s and write(2)'s answers. It is
 * a load client against a development certificate: the peer is not
 * verified. See stream_load_io.h for the contract. */
#include "stream_load_io.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* ll_stream_load's one thread owns these. */
static SSL_CTX *tls_ctx; /* --tls: one client context for every connection */
static int tls_failed;
static char tls_first_error[256];

/* One client context for every connection: TLS 1.2 or 1.3, ALPN http/1.1
 * (an HTTP/1.1 client says so), no verification, partial writes (a write
 * that waits is retried from where the loop stands). */
int ll_sio_tls_init(void)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION) ||
        SSL_CTX_set_alpn_protos(tls_ctx, alpn, sizeof alpn - 1) != 0)
        return -1;
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return 0;
}

int ll_sio_tls_enabled(void)
{
    return tls_ctx != NULL;
}

void ll_sio_tls_free(void)
{
    SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
}

int ll_sio_tls_failures(const char **first)
{
    *first = tls_first_error;
    return tls_failed;
}

int ll_sio_handshake(ll_sio_t *io, uint32_t *events)
{
    if (!io->ssl) {
        io->ssl = SSL_new(tls_ctx);
        if (!io->ssl || !SSL_set_fd(io->ssl, io->fd) ||
            !SSL_set_tlsext_host_name(io->ssl, "localhost"))
            goto failed;
        SSL_set_connect_state(io->ssl);
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(io->ssl), err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(io->ssl, rc);
    if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        goto failed;
    *events = err == SSL_ERROR_WANT_READ    ? EPOLLIN
              : err == SSL_ERROR_WANT_WRITE ? EPOLLOUT
                                            : EPOLLIN | EPOLLOUT;
    return rc == 1;
failed:
    if (tls_failed++ == 0) {
        unsigned long e = ERR_peek_error();
        if (e)
            ERR_error_string_n(e, tls_first_error, sizeof tls_first_error);
        else
            snprintf(tls_first_error, sizeof tls_first_error, "the server closed the connection");
    }
    return -1;
}

/* A TLS call's failure as a socket's: EAGAIN when it waits for the socket
 * (a read that must write first sets read_wants_wr: its caller then waits
 * for EPOLLOUT too), 0 for the end of the stream (close_notify, or EOF:
 * SSL_OP_IGNORE_UNEXPECTED_EOF), any other errno when the connection is
 * broken. */
static ssize_t tls_io_error(ll_sio_t *io, int err, int reading)
{
    switch (err) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        io->read_wants_wr = reading;
        /* fall through */
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

ssize_t ll_sio_recv(ll_sio_t *io, void *buf, size_t len, int peek)
{
    if (!io->ssl) {
        ssize_t r;
        do
            r = recv(io->fd, buf, len, peek ? MSG_PEEK : 0);
        while (r < 0 && errno == EINTR);
        return r;
    }
    size_t n = 0;
    if (len == 0)
        return 0;
    ERR_clear_error();
    io->read_wants_wr = 0;
    if (peek ? SSL_peek_ex(io->ssl, buf, len, &n) : SSL_read_ex(io->ssl, buf, len, &n))
        return (ssize_t)n;
    return tls_io_error(io, SSL_get_error(io->ssl, 0), 1);
}

ssize_t ll_sio_send(ll_sio_t *io, const void *buf, size_t len)
{
    if (!io->ssl) {
        ssize_t w;
        do
            w = write(io->fd, buf, len);
        while (w < 0 && errno == EINTR);
        return w;
    }
    size_t n = 0;
    if (len == 0)
        return 0;
    ERR_clear_error();
    if (SSL_write_ex(io->ssl, buf, len, &n))
        return (ssize_t)n;
    return tls_io_error(io, SSL_get_error(io->ssl, 0), 0);
}

int ll_sio_read_pending(const ll_sio_t *io)
{
    return io->ssl && (SSL_has_pending(io->ssl) || io->read_wants_wr);
}

void ll_sio_close(ll_sio_t *io)
{
    SSL_free(io->ssl); /* leaves the socket open (SSL_set_fd) */
    io->ssl = NULL;
    if (io->fd >= 0)
        close(io->fd); /* also removes it from the epoll set */
    io->fd = -1;
}
