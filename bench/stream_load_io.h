/* bench/stream_load_io.h: the byte stream under each ll_stream_load
 * connection, the socket itself or TLS over it (--tls), read and written
 * the way recv(2) and write(2) are, so the HTTP, SSE and WebSocket readers
 * above it never ask which one they have.
 * Owns:    one process-wide TLS client context (ll_sio_tls_init), and in
 *          each ll_sio_t its SSL object, from the first ll_sio_handshake()
 *          on. The socket is the caller's: it creates it and connects it,
 *          puts it in io->fd, and hands it over to ll_sio_close().
 * Frees:   ll_sio_close() frees the SSL object and closes the socket;
 *          ll_sio_tls_free() frees the context once no connection is left.
 * Threads: ll_stream_load's one thread, its epoll loop; nothing here locks. */
#ifndef LL_STREAM_LOAD_IO_H
#define LL_STREAM_LOAD_IO_H

#include <stdint.h>
#include <sys/types.h>

struct ssl_st;

typedef struct ll_sio {
    int fd;             /* the non-blocking socket, or -1 once closed */
    struct ssl_st *ssl; /* --tls: from the first ll_sio_handshake() on */
    int read_wants_wr;  /* the last TLS read must write first (a TLS 1.3
                           KeyUpdate answer): wait for EPOLLOUT, then read again */
} ll_sio_t;

/* main() calls this once with --tls, before any ll_sio_handshake(): one
 * client context for every connection (TLS 1.2 or 1.3, ALPN http/1.1, no
 * peer verification). Returns 0, or -1 when there is no usable context;
 * the caller then exits (after ll_sio_tls_free() if it likes). */
int ll_sio_tls_init(void);

/* Whether ll_sio_tls_init() made the context: connections then need a handshake. */
int ll_sio_tls_enabled(void);

/* Frees the context (after every ll_sio_close()); safe without one. */
void ll_sio_tls_free(void);

/* Moves io's TLS client handshake on (SNI "localhost"), starting it on the
 * first call, once the TCP connect is done. Returns 1 when it is done, 0
 * when it waits for the socket, -1 when it failed; on 1 and 0 *events is
 * the epoll interest it needs next (after 1: both ways, the request is
 * next). After -1 the caller closes io with ll_sio_close(); the failure is
 * counted for ll_sio_tls_failures(). */
int ll_sio_handshake(ll_sio_t *io, uint32_t *events);

/* Reads (with peek: only looks at) what there is, as recv(2) does: the
 * byte count, 0 at the end of the stream (EOF, or TLS close_notify), or -1
 * with errno (EAGAIN when it waits for the socket; then, if
 * io->read_wants_wr, for EPOLLOUT). */
ssize_t ll_sio_recv(ll_sio_t *io, void *buf, size_t len, int peek);

/* Writes what the socket takes now, as write(2) does: the byte count, or
 * -1 with errno (EAGAIN when it waits). A TLS write that waited must be
 * retried with the same bytes first (SSL_write's rule). */
ssize_t ll_sio_send(ll_sio_t *io, const void *buf, size_t len);

/* Nonzero when a read may give bytes the socket does not show as readable:
 * TLS holds decrypted bytes, or a read waits for a write. */
int ll_sio_read_pending(const ll_sio_t *io);

/* Frees io's SSL object and closes its socket (which also leaves the epoll
 * set); io->fd is -1 after. Safe to call on a closed io. */
void ll_sio_close(ll_sio_t *io);

/* How many handshakes failed, and in *first the first one's reason (a
 * static buffer, empty while none failed). */
int ll_sio_tls_failures(const char **first);

#endif
