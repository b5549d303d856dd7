"""`ledgerline dev-cert DIR` (docs/API.md §1.4, docs/OPERATIONS.md): a
self-signed key and certificate for trying TLS locally. Checked as a TLS
client would: the pair loads into a server context, and a client that
trusts the certificate completes a handshake with hostname checking for
localhost and 127.0.0.1. Existing files are never overwritten."""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402


def dev_cert(*args):
    r = subprocess.run([H.require_binary(), "dev-cert", *args], capture_output=True,
                       text=True, timeout=30, env=H.child_env())
    assert not H.sanitizer_findings(r.stderr), r.stderr
    return r


def handshake(cert, key, server_hostname):
    """A TLS handshake over a socket pair: server with the pair, client
    trusting cert and checking server_hostname. Returns the client's
    negotiated version."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    errors = []

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (OSError, ssl.SSLError) as e:
            errors.append(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            version = c.version()
            c.send(b"x")
    finally:
        t.join(10)
    assert not errors, errors
    return version


@H.timeout(60)
def test_dev_cert_makes_a_pair_a_client_trusting_it_can_verify():
    with tempfile.TemporaryDirectory() as root:
        d = os.path.join(root, "tls")
        r = dev_cert(d)
        assert r.returncode == 0, r.stderr
        key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        assert r.stdout.split() == [key, cert], r.stdout
        assert os.stat(key).st_mode & 0o077 == 0, oct(os.stat(key).st_mode)  # private
        with open(cert) as f:
            assert f.read().startswith("-----BEGIN CERTIFICATE-----")
        for name in ("localhost", "127.0.0.1"):
            assert handshake(cert, key, name) in ("TLSv1.2", "TLSv1.3")
        # a name the certificate does not carry is refused
        try:
            handshake(cert, key, "example.com")
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("the certificate verified for example.com")


@H.timeout(60)
def test_dev_cert_never_overwrites_and_checks_its_arguments():
    with tempfile.TemporaryDirectory() as d:
        assert dev_cert(d).returncode == 0
        with open(os.path.join(d, "key.pem"), "rb") as f:
            before = f.read()
        r = dev_cert(d)
        assert r.returncode == 1 and "exists" in r.stderr, (r.returncode, r.stderr)
        with open(os.path.join(d, "key.pem"), "rb") as f:
            assert f.read() == before
        assert os.path.exists(os.path.join(d, "cert.pem"))
    assert dev_cert().returncode == 2
    assert dev_cert("a", "b").returncode == 2
