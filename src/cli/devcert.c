/* cli/devcert.c: `ledgerline dev-cert DIR`, a self-signed certificate and
 * its key for trying TLS locally (docs/OPERATIONS.md). OpenSSL makes the
 * key and signs the certificate; nothing here is cryptography of ours.
 *
 * DIR/key.pem: an EC P-256 private key (PKCS#8, mode 0600).
 * DIR/cert.pem: X.509 v3, CN=localhost, subjectAltName DNS:localhost,
 * IP:127.0.0.1, IP:::1, valid from now for 30 days, signed with the key.
 * Existing files are never overwritten. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALID_DAYS 30
#define SAN "DNS:localhost,IP:127.0.0.1,IP:::1"

/* Creates path (which must not exist) with mode and opens it for writing. */
static FILE *create_file(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "ledgerline dev-cert: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

static int add_extension(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key)
{
    unsigned char serial[16];
    X509 *cert = X509_new();
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    BIGNUM *bn = NULL;
    int ok = cert && name && RAND_bytes(serial, sizeof serial) == 1;
    serial[0] &= 0x7f; /* a positive serial */
    ok = ok && (bn = BN_bin2bn(serial, sizeof serial, NULL)) &&
         BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) && X509_set_version(cert, 2) &&
         X509_gmtime_adj(X509_getm_notBefore(cert), 0) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), (long)VALID_DAYS * 24 * 3600) &&
         X509_set_pubkey(cert, key) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) &&
         X509_set_issuer_name(cert, name) && add_extension(cert, NID_subject_alt_name, SAN) == 0 &&
         add_extension(cert, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
         add_extension(cert, NID_key_usage, "critical,digitalSignature") == 0 &&
         add_extension(cert, NID_ext_key_usage, "serverAuth") == 0 &&
         X509_sign(cert, key, EVP_sha256()) > 0;
    BN_free(bn);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

int ll_cli_dev_cert(int argc, char **argv)
{
    char key_path[4096], cert_path[4096];
    int rc = 1;
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: ledgerline dev-cert DIR\n");
        return 2;
    }
    if (mkdir(argv[0], 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "ledgerline dev-cert: %s: %s\n", argv[0], strerror(errno));
        return 1;
    }
    if (snprintf(key_path, sizeof key_path, "%s/key.pem", argv[0]) >= (int)sizeof key_path ||
        snprintf(cert_path, sizeof cert_path, "%s/cert.pem", argv[0]) >= (int)sizeof cert_path) {
        fprintf(stderr, "ledgerline dev-cert: the directory's name is too long\n");
        return 2;
    }
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = key ? make_cert(key) : NULL;
    FILE *kf = NULL, *cf = NULL;
    if (!cert) {
        fprintf(stderr, "ledgerline dev-cert: OpenSSL could not make the pair\n");
        goto out;
    }
    if (!(kf = create_file(key_path, 0600)))
        goto out;
    if (!(cf = create_file(cert_path, 0644)))
        goto out;
    if (!PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) || !PEM_write_X509(cf, cert)) {
        fprintf(stderr, "ledgerline dev-cert: writing the files failed\n");
        goto out;
    }
    rc = 0;
out:
    if (kf && fclose(kf) != 0)
        rc = 1;
    if (cf && fclose(cf) != 0)
        rc = 1;
    if (rc != 0) { /* leave no half pair behind */
        if (kf)
            unlink(key_path);
        if (cf)
            unlink(cert_path);
    } else {
        printf("%s\n%s\n", key_path, cert_path);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}
