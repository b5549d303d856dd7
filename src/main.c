/* main.c: the command line and the wiring of the node: config → ledger
 * thread → HTTP workers, the orderly stop on SIGINT/SIGTERM, and SIGHUP's
 * reload of the TLS certificate. */
#include "api/api.h"
#include "auth/account.h"
#include "auth/custody.h"
#include "cli/cli.h"
#include "config.h"
#include "ledger/ledger.h"
#include "nats/feed.h"
#include "nats/natsconn.h"
#include "net/server.h"
#include "relay/relay.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

static void on_signal(uv_signal_t *sig, int signum)
{
    LL_INFO("received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_stop(sig->loop);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void print_dev_banner(const ll_config_t *c, const ll_ledger_t *l, int port)
{
    fprintf(stderr,
            "\nLedgerline dev node on http://%s:%d/\n"
            "  faucet account: %s (funded at genesis)\n"
            "  fund any address:\n"
            "    curl -s -X POST http://%s:%d/api/v1/faucet -d '{\"address\": \"<32 hex>\"}'\n"
            "  make a key:  ledgerline keygen > me.key\n"
            "  dev user: %s / %s\n\n",
            c->listen_host, port, ll_ledger_faucet_address(l), c->listen_host, port,
            LL_DEV_USERNAME, LL_DEV_PASSWORD);
}

typedef struct signals {
    uv_signal_t sigint, sigterm, sighup;
    ll_tls_ctx_t *tls; /* what SIGHUP reloads; NULL without --tls-cert */
} signals_t;

/* The files of --tls-cert and --tls-key are read again: new handshakes
 * present the new pair, open connections keep theirs (net/tls.h). Like
 * nginx, a node does not die of SIGHUP, with TLS or without. */
static void on_sighup(uv_signal_t *h, int signum)
{
    signals_t *sig = h->data;
    char why[LL_ERRMSG_MAX];
    (void)signum;
    if (!sig->tls)
        LL_INFO("received SIGHUP: nothing to reload without --tls-cert");
    else if (ll_tls_ctx_reload(sig->tls, why) < 0)
        LL_ERROR("received SIGHUP: the TLS pair was not reloaded, the old one stays: %s", why);
    else
        LL_INFO("received SIGHUP: TLS certificate and key reloaded");
}

/* Installed before anything starts: a client that sees the node answer
 * may stop it at once, and the signal must find the handler, not the
 * default action. A signal that arrives early waits in libuv's queue. */
static void signals_start(signals_t *sig, ll_tls_ctx_t *tls)
{
    uv_loop_t *loop = uv_default_loop();
    sig->tls = tls;
    uv_signal_init(loop, &sig->sigint);
    uv_signal_init(loop, &sig->sigterm);
    uv_signal_init(loop, &sig->sighup);
    sig->sighup.data = sig;
    uv_signal_start(&sig->sigint, on_signal, SIGINT);
    uv_signal_start(&sig->sigterm, on_signal, SIGTERM);
    uv_signal_start(&sig->sighup, on_sighup, SIGHUP);
}

/* Blocks until SIGINT or SIGTERM (or returns at once if one came). */
static void signals_wait(void)
{
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

static void signals_stop(signals_t *sig)
{
    uv_loop_t *loop = uv_default_loop();
    uv_close((uv_handle_t *)&sig->sigint, on_closed);
    uv_close((uv_handle_t *)&sig->sigterm, on_closed);
    uv_close((uv_handle_t *)&sig->sighup, on_closed);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

/* Every subscriber is a socket: take the hard limit on descriptors, as
 * the soft one is often 1024. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            LL_WARN("cannot raise the descriptor limit; streams may run short of sockets");
    }
}

/* Starts the ledger, the custody key and the server, serves until a signal,
 * and stops them in order. Returns the exit status. */
static int run_node(const ll_config_t *cfg, ll_tls_ctx_t *tls)
{
    ll_config_t config = *cfg;
    ll_ledger_t *ledger = NULL;
    ll_custody_t *custody = NULL;
    ll_server_t *server = NULL;
    ll_hub_t *hub = NULL;
    ll_nats_feed_t *feed = NULL;
    ll_api_t app;
    ll_server_opts_t opts;

    if (config.workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        config.workers = cores > 0 ? (uint32_t)cores : 1;
    }
    ll_ledger_opts_t lopts = {
        .data_dir = config.data_dir,
        .difficulty = config.difficulty,
        .block_interval_ms = config.block_interval_ms,
        .max_block_txs = config.max_block_txs,
        .sync = LL_SYNC_FULL,
        .dev = config.dev,
        .gas_price = config.gas_price,
        .block_gas_limit = config.block_gas_limit,
        .max_pending_per_sender = config.max_pending_per_sender,
        .contract_time_limit_ms = config.contract_time_limit_ms,
    };
    /* The hub outlives both ends: the ledger publishes, the workers attach. */
    /* Contract metering reads the interpreter's own structures (vm/opcode.h):
     * with a Lua it was not written for, refuse to start rather than accept
     * contracts that could never run. */
    if (ll_vm_selftest() < 0) {
        LL_ERROR("contracts: this Lua is not the 5.4.4 the gas meter was written for");
        return 1;
    }
    if (!(hub = ll_hub_new()))
        return 1;
    lopts.hub = hub;
    if (ll_ledger_start(&lopts, &ledger) < 0) {
        ll_hub_free(hub);
        return 1;
    }
    /* The ledger made the data directory; the messenger's key lives there.
     * The dev user is stored before the first client can ask for it. */
    if (ll_custody_open(config.data_dir, &custody) < 0 ||
        (config.dev && ll_auth_ensure_dev_user(ledger, config.data_dir) < 0)) {
        ll_ledger_free(ledger);
        ll_custody_free(custody);
        ll_hub_free(hub);
        return 1;
    }

    /* With --nats the log is also fed to JetStream for relays; NATS being
     * away never stops the node (nats/feed.h). */
    if (config.nats_urls[0]) {
        ll_nats_feed_opts_t fo = {.urls = config.nats_urls,
                                  .stream = config.nats_stream,
                                  .replicas = config.nats_replicas,
                                  .data_dir = config.data_dir,
                                  .hub = hub,
                                  .session_max_age_s = config.session_max_age_s};
        if (ll_nats_feed_start(&fo, &feed) < 0) {
            LL_ERROR("--nats: cannot start the JetStream feed (check the URLs)");
            ll_ledger_free(ledger);
            ll_custody_free(custody);
            ll_hub_free(hub);
            return 1;
        }
    }

    memset(&app, 0, sizeof app);
    app.config = &config;
    app.ledger = ledger;
    app.custody = custody;
    app.hub = hub;
    app.nats_feed = feed;
    app.tls = tls;
    ll_api_server_opts(&app, &opts);
    if (ll_server_start(&opts, &server) < 0) {
        ll_nats_feed_stop(feed);
        ll_ledger_free(ledger);
        ll_custody_free(custody);
        ll_hub_free(hub);
        return 1;
    }
    LL_INFO("ledgerline %s listening on %s://%s:%d with %u workers, data in %s", LL_VERSION,
            tls ? "https" : "http", config.listen_host, ll_server_port(server), config.workers,
            config.data_dir);
    if (config.dev)
        print_dev_banner(&config, ledger, ll_server_port(server));

    signals_wait();

    /* Order matters: no new connections; then the ledger commits what was
     * answered 202 (its replies still reach open connections); then the
     * connections close. */
    ll_server_stop_accepting(server);
    ll_ledger_stop(ledger);
    ll_server_stop(server);
    ll_nats_feed_stop(feed); /* what it has not published waits in the log */
    if (feed)
        ll_nats_release();
    ll_ledger_free(ledger);   /* only now can no worker post to it */
    ll_custody_free(custody); /* after the server: its thread pool jobs seal with it */
    ll_hub_free(hub);
    LL_INFO("stopped cleanly");
    return 0;
}

/* libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says) runs each
 * worker's batch check (one at a time per worker), the encoding of batch
 * answers and password hashing. Sized before its first use so that a login
 * never waits behind every worker's batch; an operator's setting wins. */
static void size_thread_pool(const ll_config_t *config)
{
    char n[16];
    unsigned workers = config->workers ? config->workers : uv_available_parallelism();
    if (getenv("UV_THREADPOOL_SIZE"))
        return;
    snprintf(n, sizeof n, "%u", workers + 3 > 4 ? workers + 3 : 4);
    setenv("UV_THREADPOOL_SIZE", n, 0);
}

static int run_relay(const ll_config_t *config, ll_tls_ctx_t *tls)
{
    return ll_relay_run(config, tls, signals_wait);
}

/* `serve` and `relay` (the streams only, fed by NATS: relay/relay.h, which
 * reads the same flags; those of the ledger are unused) share everything
 * but what runs. */
static int run_process(int argc, char **argv, int first,
                       int (*run)(const ll_config_t *, ll_tls_ctx_t *))
{
    char why[LL_ERRMSG_MAX];
    ll_config_t config;
    ll_tls_ctx_t *tls = NULL;

    if (argc > first && (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0)) {
        fputs(ll_config_usage(), stdout);
        return 0;
    }
    ll_config_defaults(&config);
    if (ll_config_load(&config, argc, argv, first, why) < 0) {
        fprintf(stderr, "ledgerline: %s\n\n%s", why, ll_config_usage());
        return 2;
    }
    ll_log_set_level_name(config.log_level);
    /* A certificate that cannot be served is a configuration error, found
     * before anything starts. */
    if (config.tls_cert[0] && ll_tls_ctx_new(config.tls_cert, config.tls_key, &tls, why) < 0) {
        fprintf(stderr, "ledgerline: %s\n", why);
        return 2;
    }
    raise_fd_limit();
    size_thread_pool(&config);
    signals_t sig;
    signals_start(&sig, tls);
    int rc = run(&config, tls);
    signals_stop(&sig);
    ll_tls_ctx_free(tls); /* after the server: every session is gone */
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a peer that hangs up is an EPIPE, not a death */
    if (sodium_init() < 0) {
        fprintf(stderr, "ledgerline: libsodium failed to initialise\n");
        return 1;
    }
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(ll_config_usage(), stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ledgerline %s\n", LL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return run_process(argc, argv, 2, run_node);
    if (strncmp(cmd, "--", 2) == 0)
        return run_process(argc, argv, 1, run_node);
    if (strcmp(cmd, "relay") == 0)
        return run_process(argc, argv, 2, run_relay);
    if (strcmp(cmd, "dev-cert") == 0)
        return ll_cli_dev_cert(argc - 2, argv + 2);
    if (strcmp(cmd, "keygen") == 0)
        return ll_cli_keygen(argc - 2, argv + 2);
    if (strcmp(cmd, "sign") == 0)
        return ll_cli_sign(argc - 2, argv + 2);
    if (strcmp(cmd, "submit") == 0)
        return ll_cli_submit(argc - 2, argv + 2);
    fprintf(stderr, "ledgerline: unknown command '%s'\n\n%s", cmd, ll_config_usage());
    return 2;
}
