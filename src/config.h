/* config.h: the node's settings from flags, LEDGERLINE_* environment
 * variables and a config file, in that order of precedence.
 * Owns:    the ll_config_t it fills (plain values, no heap).
 * Threads: filled by main() before any thread starts; read-only after. */
#ifndef LL_CONFIG_H
#define LL_CONFIG_H

#include <stdint.h>

#define LL_CONFIG_STR_MAX 512

typedef struct ll_config {
    char listen_host[64];
    int listen_port;
    char data_dir[LL_CONFIG_STR_MAX];
    char config_file[LL_CONFIG_STR_MAX];
    uint32_t block_interval_ms;
    uint32_t max_block_txs;
    uint32_t difficulty;
    uint32_t sse_heartbeat_s;
    uint32_t ws_idle_timeout_s;
    uint32_t client_queue;
    uint32_t stream_flush_ms; /* 0: write at once (stream/fanout.h) */
    char public_url[LL_CONFIG_STR_MAX];
    uint32_t workers; /* 0 in a source means "number of cores" */
    int dev;
    char log_level[16];
    /* Comma-separated Origin values allowed to open streams: the public
     * WebSocket streams take any Origin while it is empty; the session
     * streams take these besides the node's own origin. */
    char allowed_origins[LL_CONFIG_STR_MAX];
    /* Comma-separated IP addresses of reverse proxies (TCP peers) whose
     * X-Forwarded-Proto the node believes; empty: none (api/origin.c). */
    char trusted_proxies[LL_CONFIG_STR_MAX];
    /* TLS on --listen (net/tls.h): PEM files, both or neither; hsts: send
     * Strict-Transport-Security over it. */
    char tls_cert[LL_CONFIG_STR_MAX];
    char tls_key[LL_CONFIG_STR_MAX];
    int hsts;
    /* What work costs (docs/API.md §2.6). */
    uint32_t gas_price;
    uint32_t block_gas_limit;
    uint32_t max_pending_per_sender;
    uint32_t contract_time_limit_ms;
    /* Rate limits (auth/limits.h), each "N a minute, at most N at once";
     * 0 turns that limit off. */
    uint32_t auth_attempts_per_ip;    /* login + register per client address */
    uint32_t login_failures_per_user; /* failed logins / registrations per username */
    uint32_t messages_per_user;       /* POST /api/messages per user */
    uint32_t messages_per_ip;         /* POST /api/messages per client address */
    uint32_t session_max_age_s;       /* a login session's life */
    /* Relays (nats/): the JetStream stream the node feeds; urls empty:
     * none. A stream name is at most 64 bytes (nats/natsconn.h). */
    char nats_urls[LL_CONFIG_STR_MAX];
    char nats_stream[65];
    uint32_t nats_replicas;
    uint32_t relay_memory; /* events a relay keeps for resuming clients */
} ll_config_t;

/* Sets every default of API.md §1. */
void ll_config_defaults(ll_config_t *c);

/* Applies the config file (--config or LEDGERLINE_CONFIG), then the
 * environment, then argv[first..argc-1] over the defaults. Returns 0, or
 * LL_ECONFIG with a message for the user in why (LL_ERRMSG_MAX bytes). */
int ll_config_load(ll_config_t *c, int argc, char **argv, int first, char *why);

/* Applies one setting by flag name without dashes ("block-interval-ms").
 * Returns 0 or LL_ECONFIG with why filled. */
int ll_config_set(ll_config_t *c, const char *name, const char *value, char *why);

/* Usage text for `ledgerline serve` flags, for --help. */
const char *ll_config_usage(void);

#endif
