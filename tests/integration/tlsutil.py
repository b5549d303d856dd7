"""Helpers for the native TLS tests (issue 15): certificates made by
`ledgerline dev-cert`, a node serving https (TlsServer), client contexts,
the certificate a new handshake presents, and raw TLS/TCP probes.

Written from docs/API.md and the TLS contract, never from the node's code."""

import os
import shutil
import socket
import ssl
import subprocess
import time

import harness as H

HEAD_DEADLINE_S = 10  # a handshake, like a request head, has 10 s from accept


def dev_cert(directory):
    """Runs `ledgerline dev-cert DIR`; returns (cert, key) paths."""
    r = subprocess.run([H.require_binary(), "dev-cert", directory], capture_output=True,
                       text=True, timeout=30, env=H.child_env())
    assert not H.sanitizer_findings(r.stderr), r.stderr
    assert r.returncode == 0, "dev-cert %s: %d %s" % (directory, r.returncode, r.stderr)
    return os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")


def der_of(cert_path):
    """The DER bytes of the first certificate of a PEM file."""
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_context(cafile=None, alpn=None):
    """A client context: verifying against cafile, or (cafile None) not
    verifying at all (to look at whatever certificate is presented)."""
    if cafile is not None:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port, ctx, timeout=10.0):
    """A completed TLS connection to 127.0.0.1:port (an SSLSocket)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    except BaseException:
        sock.close()
        raise


def presented_der(port):
    """The DER certificate a new handshake with the node presents."""
    with tls_connect(port, client_context()) as s:
        return s.getpeercert(binary_form=True)


def client_hello(alpn=("http/1.1",)):
    """The bytes of a real ClientHello (what a TLS client sends first)."""
    ctx = client_context(alpn=list(alpn))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, hello[:16]
    return hello


def read_until_closed(sock, timeout):
    """Reads until the peer closes (FIN or reset). Returns (closed, data):
    closed is False when the connection was still open after timeout s."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, data
        sock.settimeout(min(left, 1.0))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:  # a reset, or a TLS connection ended without close_notify
            return True, data
        if not chunk:
            return True, data
        data += chunk


class TlsServer(H.Server):
    """A harness Server serving https: started with --tls-cert/--tls-key
    (made here by dev-cert unless given) and --hsts when asked. Its url is
    https://127.0.0.1:PORT, its session (and the /healthz wait) verifies
    against `ca` (the certificate by default)."""

    def __init__(self, *flags, cert=None, key=None, ca=None, hsts=False, **kw):
        super().__init__(*flags, **kw)
        if cert is None:
            cert, key = dev_cert(os.path.join(self.root, "tls"))
        self.cert, self.key, self.ca = cert, key, ca or cert
        self.flags += ["--tls-cert", cert, "--tls-key", key] + (["--hsts"] if hsts else [])

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def wss(self):
        return "wss://127.0.0.1:%d" % self.port

    def ssl_context(self):
        return client_context(self.ca)

    def new_session(self):
        s = H.new_session()
        s.verify = self.ca
        return s

    def _wait_ready(self):
        self.session.verify = self.ca
        super()._wait_ready()


def copy_pair(src_cert, src_key, dst_cert, dst_key):
    """Puts a pair in place of the files a node was given (each file
    replaced whole, so it is never seen half-written)."""
    for src, dst in ((src_cert, dst_cert), (src_key, dst_key)):
        tmp = dst + ".new"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, dst)

