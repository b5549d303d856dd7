/* tests/unit/test_config.c: settings through config.h: the defaults of
 * API.md §1, flags over environment over file, and every way a value can be
 * refused. Each test starts and ends with no LEDGERLINE_* variable set. */
#include "config.h"
#include "util/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

extern char **environ;

typedef struct {
    ll_config_t c;
    char why[LL_ERRMSG_MAX];
    char root[64]; /* the mkdtemp directory */
    char file[96]; /* root/ledgerline.conf, once write_config() wrote it */
} fixture_t;

static void clear_ledgerline_env(void)
{
    /* Collect first: unsetenv() rewrites environ under the loop. */
    char names[64][128];
    int n;
    do {
        n = 0;
        for (char **e = environ; *e && n < 64; e++) {
            if (strncmp(*e, "LEDGERLINE_", 11) != 0)
                continue;
            const char *eq = strchr(*e, '=');
            size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
            if (len >= sizeof names[0])
                len = sizeof names[0] - 1;
            memcpy(names[n], *e, len);
            names[n++][len] = '\0';
        }
        for (int i = 0; i < n; i++)
            unsetenv(names[i]);
    } while (n == 64);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!make_temp_dir(f->root, sizeof f->root, "config")) {
        free(f);
        return -1;
    }
    clear_ledgerline_env();
    ll_config_defaults(&f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc = remove_tree(f->root);
    clear_ledgerline_env();
    free(f);
    return rc;
}

/* Writes text to the test's config file and returns its path (f->file). */
static const char *write_config(fixture_t *f, const char *text)
{
    snprintf(f->file, sizeof f->file, "%s/ledgerline.conf", f->root);
    write_file(f->file, text);
    return f->file;
}

/* ll_config_load over argv = {"ledgerline", "serve", args..., NULL}. */
static int load(fixture_t *f, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "ledgerline";
    argv[argc++] = "serve";
    for (; args && *args; args++) {
        assert_true(argc < 31);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    f->why[0] = '\0';
    return ll_config_load(&f->c, argc, argv, 2, f->why);
}

static void assert_refused(fixture_t *f, const char *const *args, const char *why_has)
{
    ll_config_defaults(&f->c);
    int rc = load(f, args);
    if (rc != LL_ECONFIG)
        fail_msg("%s %s: got %s, want LL_ECONFIG", args[0] ? args[0] : "(no flags)",
                 args[0] && args[1] ? args[1] : "", ll_err_name(rc));
    if (why_has && !strstr(f->why, why_has))
        fail_msg("why '%s' does not mention '%s'", f->why, why_has);
}

/* Loads a config file holding text and requires a refusal that names the
 * file and the line: "<path>:<line>:". */
static void assert_file_refused_at(fixture_t *f, const char *text, int line)
{
    char want[160];
    const char *path = write_config(f, text);
    const char *args[] = {"--config", path, NULL};
    snprintf(want, sizeof want, "%s:%d:", path, line);
    assert_refused(f, args, want);
}

static void test_config_defaults_match_api_md(void **state)
{
    fixture_t *f = *state;
    ll_config_t *c = &f->c;
    memset(c, 0x5a, sizeof *c); /* defaults must set every field */
    ll_config_defaults(c);
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 9984);
    assert_string_equal(c->data_dir, "./data");
    assert_string_equal(c->config_file, "");
    assert_int_equal(c->block_interval_ms, 1000);
    assert_int_equal(c->max_block_txs, 1000);
    assert_int_equal(c->difficulty, 4);
    assert_int_equal(c->sse_heartbeat_s, 30);
    assert_int_equal(c->ws_idle_timeout_s, 180);
    assert_int_equal(c->client_queue, 64);
    assert_string_equal(c->public_url, "");
    assert_int_equal(c->workers, 0); /* number of cores */
    assert_int_equal(c->dev, 0);
}

static void test_config_load_without_sources_keeps_defaults(void **state)
{
    fixture_t *f = *state;
    ll_config_t want;
    ll_config_defaults(&want);
    assert_int_equal(load(f, NULL), 0);
    assert_memory_equal(&f->c, &want, sizeof want);
}

static void test_config_flag_overrides_env_overrides_file(void **state)
{
    fixture_t *f = *state;
    const char *path = write_config(f, "difficulty = 7\n");
    const char *with_flag[] = {"--config", path, "--difficulty", "9", NULL};
    const char *without_flag[] = {"--config", path, NULL};

    setenv("LEDGERLINE_DIFFICULTY", "8", 1);
    assert_int_equal(load(f, with_flag), 0);
    assert_int_equal(f->c.difficulty, 9);

    ll_config_defaults(&f->c);
    assert_int_equal(load(f, without_flag), 0);
    assert_int_equal(f->c.difficulty, 8);

    unsetenv("LEDGERLINE_DIFFICULTY");
    ll_config_defaults(&f->c);
    assert_int_equal(load(f, without_flag), 0);
    assert_int_equal(f->c.difficulty, 7);
    assert_string_equal(f->c.config_file, path);
}

/* Each layer only overrides the settings it names. */
static void test_config_layers_merge_setting_by_setting(void **state)
{
    fixture_t *f = *state;
    const char *path = write_config(f, "block-interval-ms = 250\n"
                                       "max-block-txs = 10\n"
                                       "difficulty = 2\n");
    char config_arg[128];
    snprintf(config_arg, sizeof config_arg, "--config=%s", path);
    const char *args[] = {config_arg, "--difficulty=3", NULL};
    setenv("LEDGERLINE_MAX_BLOCK_TXS", "20", 1);
    setenv("LEDGERLINE_DIFFICULTY", "5", 1);
    assert_int_equal(load(f, args), 0);
    assert_int_equal(f->c.block_interval_ms, 250); /* file only */
    assert_int_equal(f->c.max_block_txs, 20);      /* env over file */
    assert_int_equal(f->c.difficulty, 3);          /* flag over both */
    assert_int_equal(f->c.client_queue, 64);       /* nobody: default */
}

static void test_config_file_named_by_env_is_read(void **state)
{
    fixture_t *f = *state;
    const char *path = write_config(f, "client-queue = 128\n");
    setenv("LEDGERLINE_CONFIG", path, 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(f->c.client_queue, 128);
    assert_string_equal(f->c.config_file, path);
}

static void test_config_env_names_use_underscores_for_dashes(void **state)
{
    fixture_t *f = *state;
    setenv("LEDGERLINE_BLOCK_INTERVAL_MS", "1500", 1);
    setenv("LEDGERLINE_SSE_HEARTBEAT_S", "5", 1);
    setenv("LEDGERLINE_WS_IDLE_TIMEOUT_S", "60", 1);
    setenv("LEDGERLINE_LISTEN", "0.0.0.0:8000", 1);
    setenv("LEDGERLINE_DATA", "/var/lib/ll", 1);
    setenv("LEDGERLINE_DEV", "true", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(f->c.block_interval_ms, 1500);
    assert_int_equal(f->c.sse_heartbeat_s, 5);
    assert_int_equal(f->c.ws_idle_timeout_s, 60);
    assert_string_equal(f->c.listen_host, "0.0.0.0");
    assert_int_equal(f->c.listen_port, 8000);
    assert_string_equal(f->c.data_dir, "/var/lib/ll");
    assert_int_equal(f->c.dev, 1);
}

static void test_config_flag_equals_and_separate_value_forms_agree(void **state)
{
    fixture_t *f = *state;
    const char *joined[] = {
        "--block-interval-ms=250",         "--data=/srv/a",          "--workers=3",
        "--public-url=https://x.example/", "--listen=10.0.0.1:1234", NULL};
    const char *split[] = {"--block-interval-ms",
                           "250",
                           "--data",
                           "/srv/a",
                           "--workers",
                           "3",
                           "--public-url",
                           "https://x.example/",
                           "--listen",
                           "10.0.0.1:1234",
                           NULL};
    ll_config_t a;
    assert_int_equal(load(f, joined), 0);
    a = f->c;
    ll_config_defaults(&f->c);
    assert_int_equal(load(f, split), 0);
    assert_memory_equal(&a, &f->c, sizeof a);
    assert_int_equal(a.block_interval_ms, 250);
    assert_string_equal(a.data_dir, "/srv/a");
    assert_int_equal(a.workers, 3);
    assert_string_equal(a.public_url, "https://x.example/");
    assert_string_equal(a.listen_host, "10.0.0.1");
    assert_int_equal(a.listen_port, 1234);
}

static void test_config_value_after_equals_may_contain_equals(void **state)
{
    fixture_t *f = *state;
    const char *args[] = {"--public-url=http://h/?a=b", NULL};
    assert_int_equal(load(f, args), 0);
    assert_string_equal(f->c.public_url, "http://h/?a=b");
}

static void test_config_dev_takes_no_value_and_does_not_eat_the_next_flag(void **state)
{
    fixture_t *f = *state;
    const char *first[] = {"--dev", "--difficulty", "3", NULL};
    const char *last[] = {"--difficulty", "3", "--dev", NULL};
    const char *off[] = {"--dev=false", NULL};
    assert_int_equal(load(f, first), 0);
    assert_int_equal(f->c.dev, 1);
    assert_int_equal(f->c.difficulty, 3);
    ll_config_defaults(&f->c);
    assert_int_equal(load(f, last), 0);
    assert_int_equal(f->c.dev, 1);
    assert_int_equal(f->c.difficulty, 3);
    ll_config_defaults(&f->c);
    setenv("LEDGERLINE_DEV", "1", 1);
    assert_int_equal(load(f, off), 0); /* the flag beats the environment */
    assert_int_equal(f->c.dev, 0);
}

static void test_config_unknown_flag_is_econfig_naming_it(void **state)
{
    fixture_t *f = *state;
    const char *a[] = {"--difficulty", "3", "--bogus-flag", "1", NULL};
    const char *b[] = {"--bogus-flag=1", NULL};
    assert_refused(f, a, "bogus-flag");
    assert_refused(f, b, "bogus-flag");
    assert_int_equal(ll_config_set(&f->c, "no-such-setting", "1", f->why), LL_ECONFIG);
    assert_non_null(strstr(f->why, "no-such-setting"));
}

static void test_config_rejects_arguments_that_are_not_flags(void **state)
{
    fixture_t *f = *state;
    const char *a[] = {"stray", NULL};
    const char *b[] = {"-difficulty", "3", NULL};
    assert_refused(f, a, "stray");
    assert_refused(f, b, NULL);
}

static void test_config_flag_without_its_value_is_econfig(void **state)
{
    fixture_t *f = *state;
    const char *a[] = {"--difficulty", NULL};
    assert_refused(f, a, "difficulty");
}

static void test_config_rejects_out_of_range_numbers(void **state)
{
    fixture_t *f = *state;
    const char *cases[][3] = {
        {"--difficulty", "13", NULL},
        {"--block-interval-ms", "0", NULL},
        {"--max-block-txs", "0", NULL},
        {"--client-queue", "0", NULL},
        {"--sse-heartbeat-s", "0", NULL},
        {"--ws-idle-timeout-s", "0", NULL},
        {"--difficulty", "4294967300", NULL}, /* would wrap to 4 in a uint32_t */
        {"--difficulty", "99999999999999999999999", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_refused(f, cases[i], cases[i][0] + 2);
    /* The edges themselves are fine. */
    const char *edges[] = {"--difficulty", "0", "--difficulty", "12", NULL};
    ll_config_defaults(&f->c);
    assert_int_equal(load(f, edges), 0);
    assert_int_equal(f->c.difficulty, 12);
}

static void test_config_rejects_non_numeric_numbers(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {"abc", "4x", "", "-1", "1.5", "0x10", "4 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"--difficulty", bad[i], NULL};
        assert_refused(f, args, "difficulty");
        assert_int_equal(ll_config_set(&f->c, "max-block-txs", bad[i], f->why), LL_ECONFIG);
    }
}

static void test_config_rejects_bad_value_from_env(void **state)
{
    fixture_t *f = *state;
    const char *none[] = {NULL};
    setenv("LEDGERLINE_DIFFICULTY", "lots", 1);
    assert_refused(f, none, "difficulty");
}

static void test_config_listen_accepts_ipv6_in_brackets(void **state)
{
    fixture_t *f = *state;
    const char *args[] = {"--listen", "[::1]:9000", NULL};
    assert_int_equal(load(f, args), 0);
    assert_string_equal(f->c.listen_host, "::1");
    assert_int_equal(f->c.listen_port, 9000);
    assert_int_equal(ll_config_set(&f->c, "listen", "[::]:80", f->why), 0);
    assert_string_equal(f->c.listen_host, "::");
    assert_int_equal(f->c.listen_port, 80);
    assert_int_equal(ll_config_set(&f->c, "listen", "0.0.0.0:65535", f->why), 0);
    assert_string_equal(f->c.listen_host, "0.0.0.0");
    assert_int_equal(f->c.listen_port, 65535);
}

static void test_config_listen_rejects_malformed_addresses(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {"127.0.0.1",
                         "127.0.0.1:",
                         "127.0.0.1:65536",
                         "127.0.0.1:-1",
                         "127.0.0.1:80x",
                         ":9000",
                         "[::1]",
                         "[::1:9000",
                         "999.0.0.1:80",
                         "",
                         "1.2.3.4:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"--listen", bad[i], NULL};
        assert_refused(f, args, "listen");
    }
}

static void test_config_file_skips_comments_and_blank_lines(void **state)
{
    fixture_t *f = *state;
    const char *path = write_config(f, "# Ledgerline settings\n"
                                       "\n"
                                       "   \n"
                                       "\t# indented comment\n"
                                       "difficulty = 6   # trailing comment\n"
                                       "  data=/srv/ledger  \n"
                                       "listen = [::1]:9001\n"
                                       "dev = yes\n");
    const char *args[] = {"--config", path, NULL};
    assert_int_equal(load(f, args), 0);
    assert_int_equal(f->c.difficulty, 6);
    assert_string_equal(f->c.data_dir, "/srv/ledger");
    assert_string_equal(f->c.listen_host, "::1");
    assert_int_equal(f->c.listen_port, 9001);
    assert_int_equal(f->c.dev, 1);
}

/* Nothing in the format limits a line's length: a long comment is still a
 * comment, and the lines after it keep their numbers. A fixed 1024-byte
 * fgets buffer used to read the comment's tail as a bad line 2. */
static void test_regress_config_file_lines_over_1024_bytes_were_split(void **state)
{
    fixture_t *f = *state;
    size_t cap = 4096;
    char *text = malloc(cap);
    assert_non_null(text);
    int n = snprintf(text, cap, "difficulty = 6 # ");
    memset(text + n, 'c', 2000);
    snprintf(text + n + 2000, cap - (size_t)n - 2000, "\nclient-queue = 99\nbroken line\n");
    assert_file_refused_at(f, text, 3); /* line 3 is the first bad one */
    free(text);
    assert_int_equal(f->c.difficulty, 6);
    assert_int_equal(f->c.client_queue, 99);
}

static void test_config_file_bad_line_reports_file_and_line_number(void **state)
{
    fixture_t *f = *state;
    assert_file_refused_at(f,
                           "# fine\n"
                           "difficulty = 5\n"
                           "\n"
                           "this line has no equals sign\n",
                           4);
}

static void test_config_file_bad_value_reports_file_and_line_number(void **state)
{
    fixture_t *f = *state;
    assert_file_refused_at(f,
                           "difficulty = 5\n"
                           "client-queue = many\n",
                           2);
    assert_non_null(strstr(f->why, "client-queue"));
}

static void test_config_file_unknown_key_reports_file_and_line_number(void **state)
{
    fixture_t *f = *state;
    assert_file_refused_at(f, "\n\n\nmystery = 1\n# after\n", 4);
    assert_non_null(strstr(f->why, "mystery"));
}

static void test_config_missing_file_is_econfig_naming_it(void **state)
{
    fixture_t *f = *state;
    const char *args[] = {"--config", "/nonexistent/ledgerline.conf", NULL};
    assert_refused(f, args, "/nonexistent/ledgerline.conf");
}

static void test_config_rejects_string_longer_than_its_field(void **state)
{
    fixture_t *f = *state;
    char *long_dir = malloc(LL_CONFIG_STR_MAX + 10);
    assert_non_null(long_dir);
    memset(long_dir, 'd', LL_CONFIG_STR_MAX + 9);
    long_dir[LL_CONFIG_STR_MAX + 9] = '\0';
    const char *args[] = {"--data", long_dir, NULL};
    assert_refused(f, args, "data");
    free(long_dir);
}

static void test_config_load_ignores_arguments_before_first(void **state)
{
    fixture_t *f = *state;
    /* load() passes first = 2, past "ledgerline serve": neither is a flag. */
    const char *args[] = {"--client-queue", "9", NULL};
    assert_int_equal(load(f, args), 0);
    assert_int_equal(f->c.client_queue, 9);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_config_defaults_match_api_md),
        T(test_config_load_without_sources_keeps_defaults),
        T(test_config_flag_overrides_env_overrides_file),
        T(test_config_layers_merge_setting_by_setting),
        T(test_config_file_named_by_env_is_read),
        T(test_config_env_names_use_underscores_for_dashes),
        T(test_config_flag_equals_and_separate_value_forms_agree),
        T(test_config_value_after_equals_may_contain_equals),
        T(test_config_dev_takes_no_value_and_does_not_eat_the_next_flag),
        T(test_config_unknown_flag_is_econfig_naming_it),
        T(test_config_rejects_arguments_that_are_not_flags),
        T(test_config_flag_without_its_value_is_econfig),
        T(test_config_rejects_out_of_range_numbers),
        T(test_config_rejects_non_numeric_numbers),
        T(test_config_rejects_bad_value_from_env),
        T(test_config_listen_accepts_ipv6_in_brackets),
        T(test_config_listen_rejects_malformed_addresses),
        T(test_config_file_skips_comments_and_blank_lines),
        T(test_regress_config_file_lines_over_1024_bytes_were_split),
        T(test_config_file_bad_line_reports_file_and_line_number),
        T(test_config_file_bad_value_reports_file_and_line_number),
        T(test_config_file_unknown_key_reports_file_and_line_number),
        T(test_config_missing_file_is_econfig_naming_it),
        T(test_config_rejects_string_longer_than_its_field),
        T(test_config_load_ignores_arguments_before_first),
    };
#undef T
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
