/* config.c: one table of settings drives flags, environment and file alike,
 * so a setting cannot be spelled three different ways. */
#include "config.h"
#include "util/err.h"
#include "util/list.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef enum { OPT_UINT, OPT_STR, OPT_LISTEN, OPT_BOOL, OPT_LEVEL, OPT_ADDRS } opt_type_t;

typedef struct opt {
    const char *name;
    opt_type_t type;
    size_t offset;
    size_t size;       /* OPT_STR: capacity */
    uint32_t min, max; /* OPT_UINT */
} opt_t;

#define U(name, field, lo, hi)                                                                     \
    {                                                                                              \
        name, OPT_UINT, offsetof(ll_config_t, field), 0, lo, hi                                    \
    }
#define S(name, field)                                                                             \
    {                                                                                              \
        name, OPT_STR, offsetof(ll_config_t, field), sizeof(((ll_config_t *)0)->field), 0, 0       \
    }

static const opt_t opts[] = {
    {"listen", OPT_LISTEN, 0, 0, 0, 0},
    S("data", data_dir),
    S("config", config_file),
    U("block-interval-ms", block_interval_ms, 1, 3600000),
    U("max-block-txs", max_block_txs, 1, 100000),
    U("difficulty", difficulty, 0, 12),
    U("sse-heartbeat-s", sse_heartbeat_s, 1, 86400),
    U("ws-idle-timeout-s", ws_idle_timeout_s, 1, 86400),
    U("client-queue", client_queue, 1, 65536),
    U("stream-flush-ms", stream_flush_ms, 0, 1000),
    S("public-url", public_url),
    U("workers", workers, 0, 256),
    {"dev", OPT_BOOL, offsetof(ll_config_t, dev), 0, 0, 0},
    {"log-level", OPT_LEVEL, offsetof(ll_config_t, log_level), 0, 0, 0},
    S("allowed-origins", allowed_origins),
    {"trusted-proxies", OPT_ADDRS, offsetof(ll_config_t, trusted_proxies),
     sizeof(((ll_config_t *)0)->trusted_proxies), 0, 0},
    S("tls-cert", tls_cert),
    S("tls-key", tls_key),
    {"hsts", OPT_BOOL, offsetof(ll_config_t, hsts), 0, 0, 0},
    U("gas-price", gas_price, 0, 1000000),
    U("block-gas-limit", block_gas_limit, 10000000, 1000000000),
    U("max-pending-per-sender", max_pending_per_sender, 1, 100000),
    U("contract-time-limit-ms", contract_time_limit_ms, 10, 10000),
    U("auth-attempts-per-ip", auth_attempts_per_ip, 0, 1000000),
    U("login-failures-per-user", login_failures_per_user, 0, 1000000),
    U("messages-per-user", messages_per_user, 0, 1000000),
    U("messages-per-ip", messages_per_ip, 0, 1000000),
    U("session-max-age-s", session_max_age_s, 1, 31536000),
    S("nats", nats_urls),
    S("nats-stream", nats_stream),
    U("nats-replicas", nats_replicas, 1, 5),
    U("relay-memory", relay_memory, 16, 16777216),
};

void ll_config_defaults(ll_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 9984;
    snprintf(c->data_dir, sizeof c->data_dir, "./data");
    c->block_interval_ms = 1000;
    c->max_block_txs = 1000;
    c->difficulty = 4;
    c->sse_heartbeat_s = 30;
    c->ws_idle_timeout_s = 180;
    c->client_queue = 64;
    c->workers = 0;
    c->gas_price = 1;
    c->block_gas_limit = 20000000;
    c->max_pending_per_sender = 1000;
    c->contract_time_limit_ms = 450;
    snprintf(c->nats_stream, sizeof c->nats_stream, "LEDGERLINE");
    c->nats_replicas = 1;
    c->relay_memory = 65536;
    c->auth_attempts_per_ip = 100;
    c->login_failures_per_user = 5;
    c->messages_per_user = 300;
    c->messages_per_ip = 1200;
    c->session_max_age_s = 2592000;
    snprintf(c->log_level, sizeof c->log_level, "info");
}

static const opt_t *find_opt(const char *name)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static int parse_listen(ll_config_t *c, const char *v, char *why)
{
    /* HOST:PORT, with [v6]:PORT for IPv6 literals. */
    const char *colon = strrchr(v, ':');
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    char host[sizeof c->listen_host];
    char *end;
    if (!colon || colon == v)
        goto bad;
    size_t hlen = (size_t)(colon - v);
    if (v[0] == '[' && hlen > 2 && v[hlen - 1] == ']') {
        v++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        goto bad;
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    if (uv_ip4_addr(host, (int)port, &a4) != 0 && uv_ip6_addr(host, (int)port, &a6) != 0)
        goto bad;
    snprintf(c->listen_host, sizeof c->listen_host, "%s", host);
    c->listen_port = (int)port;
    return 0;
bad:
    snprintf(why, LL_ERRMSG_MAX, "--listen wants a numeric HOST:PORT, got '%s'", v);
    return LL_ECONFIG;
}

static int set_str(const opt_t *o, char *field, const char *value, char *why)
{
    if (strlen(value) >= o->size) {
        snprintf(why, LL_ERRMSG_MAX, "--%s is too long", o->name);
        return LL_ECONFIG;
    }
    memcpy(field, value, strlen(value) + 1);
    return 0;
}

/* A comma list of numeric IPv4 / IPv6 addresses; a name or a CIDR range
 * is refused here rather than silently never matching a peer. */
static int check_addrs(const char *name, const char *v, char *why)
{
    const char *item;
    size_t len;
    unsigned char bin[16];
    char addr[64];
    while (ll_list_next(&v, &item, &len)) {
        if (len == 0)
            continue;
        snprintf(addr, sizeof addr, "%.*s", (int)len, item);
        if (len >= sizeof addr ||
            (uv_inet_pton(AF_INET, addr, bin) != 0 && uv_inet_pton(AF_INET6, addr, bin) != 0)) {
            snprintf(why, LL_ERRMSG_MAX, "--%s wants IP addresses, got '%.*s'", name,
                     (int)(len > 64 ? 64 : len), item);
            return LL_ECONFIG;
        }
    }
    return 0;
}

int ll_config_set(ll_config_t *c, const char *name, const char *value, char *why)
{
    const opt_t *o = find_opt(name);
    char *field;
    if (!o) {
        snprintf(why, LL_ERRMSG_MAX, "unknown setting '%s'", name);
        return LL_ECONFIG;
    }
    field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_LISTEN:
        return parse_listen(c, value, why);
    case OPT_ADDRS: /* stored as given once valid, matched per request */
        if (check_addrs(name, value, why) < 0)
            return LL_ECONFIG;
        return set_str(o, field, value, why);
    case OPT_STR:
        return set_str(o, field, value, why);
    case OPT_BOOL:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
            *(int *)(void *)field = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || strcmp(value, "no") == 0)
            *(int *)(void *)field = 0;
        else {
            snprintf(why, LL_ERRMSG_MAX, "--%s wants true or false, got '%s'", name, value);
            return LL_ECONFIG;
        }
        return 0;
    case OPT_LEVEL:
        if (strcmp(value, "debug") && strcmp(value, "info") && strcmp(value, "warn") &&
            strcmp(value, "error")) {
            snprintf(why, LL_ERRMSG_MAX, "--log-level wants debug, info, warn or error");
            return LL_ECONFIG;
        }
        snprintf(c->log_level, sizeof c->log_level, "%s", value);
        return 0;
    case OPT_UINT: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(value, &end, 10);
        if (errno || *end || end == value || value[0] == '-' || n < o->min || n > o->max) {
            snprintf(why, LL_ERRMSG_MAX, "--%s wants an integer from %u to %u, got '%s'", name,
                     o->min, o->max, value);
            return LL_ECONFIG;
        }
        *(uint32_t *)(void *)field = (uint32_t)n;
        return 0;
    }
    }
    return LL_ECONFIG;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Lines of `key = value`; '#' starts a comment; blank lines are skipped. */
static int load_file(ll_config_t *c, const char *path, char *why)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, LL_ERRMSG_MAX, "cannot read config file %s: %s", path, strerror(errno));
        return LL_ECONFIG;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(why, LL_ERRMSG_MAX, "%.100s:%d: expected 'key = value'", path, lineno);
            rc = LL_ECONFIG;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (strcmp(key, "config") == 0)
            continue; /* a file cannot name another file */
        if ((rc = ll_config_set(c, key, value, why)) < 0) {
            /* Prefix the place; the message is cut to fit rather than lost. */
            char inner[LL_ERRMSG_MAX / 2];
            snprintf(inner, sizeof inner, "%s", why);
            snprintf(why, LL_ERRMSG_MAX, "%.100s:%d: %s", path, lineno, inner);
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static void env_name(const char *flag, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "LEDGERLINE_");
    for (const char *p = flag; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

int ll_config_load(ll_config_t *c, int argc, char **argv, int first, char *why)
{
    char name[64];
    int rc;
    /* The file is the lowest layer, so find its name first (flag, then env). */
    const char *file = getenv("LEDGERLINE_CONFIG");
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file && *file) {
        if ((rc = load_file(c, file, why)) < 0)
            return rc;
        snprintf(c->config_file, sizeof c->config_file, "%s", file);
    }
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        env_name(opts[i].name, name, sizeof name);
        const char *v = getenv(name);
        if (v && strcmp(opts[i].name, "config") != 0 &&
            (rc = ll_config_set(c, opts[i].name, v, why)) < 0)
            return rc;
    }
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(why, LL_ERRMSG_MAX, "unexpected argument '%s'", arg);
            return LL_ECONFIG;
        }
        arg += 2;
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name) {
            snprintf(why, LL_ERRMSG_MAX, "unknown flag '%s'", argv[i]);
            return LL_ECONFIG;
        }
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        const opt_t *o = find_opt(name);
        if (!o) {
            snprintf(why, LL_ERRMSG_MAX, "unknown flag '%s'", argv[i]);
            return LL_ECONFIG;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && o->type == OPT_BOOL)
            value = "true";
        if (!value) {
            if (i + 1 >= argc) {
                snprintf(why, LL_ERRMSG_MAX, "flag '--%s' needs a value", name);
                return LL_ECONFIG;
            }
            value = argv[++i];
        }
        if ((rc = ll_config_set(c, name, value, why)) < 0)
            return rc;
    }
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        snprintf(why, LL_ERRMSG_MAX, "--tls-cert and --tls-key go together");
        return LL_ECONFIG;
    }
    return 0;
}

const char *ll_config_usage(void)
{
    return "usage: ledgerline [serve] [--listen HOST:PORT] [--data DIR] [--config FILE]\n"
           "                  [--block-interval-ms N] [--max-block-txs N] [--difficulty N]\n"
           "                  [--sse-heartbeat-s N] [--ws-idle-timeout-s N] [--client-queue N]\n"
           "                  [--stream-flush-ms N]\n"
           "                  [--public-url URL] [--workers N] [--dev] [--log-level LEVEL]\n"
           "                  [--allowed-origins ORIGIN,…] [--trusted-proxies IP,…]\n"
           "                  [--tls-cert FILE --tls-key FILE [--hsts]]\n"
           "                  [--gas-price N] [--block-gas-limit N]\n"
           "                  [--max-pending-per-sender N] [--auth-attempts-per-ip N]\n"
           "                  [--login-failures-per-user N] [--messages-per-user N]\n"
           "                  [--messages-per-ip N] [--session-max-age-s N]\n"
           "                  [--nats nats://HOST:PORT,…] [--nats-stream NAME] [--nats-replicas "
           "N]\n"
           "       ledgerline relay --nats nats://HOST:PORT,… [--listen HOST:PORT]\n"
           "                  [--nats-stream NAME] [--relay-memory N] [the stream flags above]\n"
           "       ledgerline dev-cert DIR\n"
           "       ledgerline keygen\n"
           "       ledgerline sign --key FILE < body.json\n"
           "       ledgerline submit --key FILE [--url URL] < body.json\n"
           "       ledgerline --help | --version\n"
           "\n"
           "Every serve flag is also read from LEDGERLINE_<FLAG> (e.g. LEDGERLINE_DIFFICULTY)\n"
           "and from the config file as 'flag-name = value'; flag > environment > file.\n"
           "Defaults: --listen 127.0.0.1:9984 --data ./data --block-interval-ms 1000\n"
           "--max-block-txs 1000 --difficulty 4 --sse-heartbeat-s 30 --ws-idle-timeout-s 180\n"
           "--client-queue 64 --stream-flush-ms 0 --workers <cores> --gas-price 1 "
           "--block-gas-limit 20000000\n"
           "--max-pending-per-sender 1000 --auth-attempts-per-ip 100 --login-failures-per-user 5\n"
           "--messages-per-user 300 --messages-per-ip 1200 --session-max-age-s 2592000\n"
           "--nats-stream LEDGERLINE --nats-replicas 1 (no --nats: no JetStream feed)\n"
           "--relay-memory 65536 (no --tls-cert: plain HTTP; SIGHUP re-reads the TLS files)\n";
}
