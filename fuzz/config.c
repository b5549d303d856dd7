/* fuzz/config.c: the config file and single settings (src/config.h).
 *
 * Byte 0 picks the way in: even, the rest of the input is written to a
 * temporary file that ll_config_load reads through --config (lines of
 * key = value, comments, every setting's parser); odd, the rest is split at
 * its first newline into a setting name and a value for ll_config_set.
 * Either way, a setting that is accepted must leave every string of the
 * config NUL-terminated within its array, and a refusal must explain itself
 * (a non-empty, terminated message). */
#include "config.h"
#include "util/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* The environment is a source too: none of it may leak into a run. */
    unsetenv("LEDGERLINE_CONFIG");
    snprintf(path, sizeof path, "/tmp/ll-fuzz-config.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_file);
    return 0;
}

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check(const ll_config_t *c, int rc, const char *why)
{
    if (!TERMINATED(c->listen_host) || !TERMINATED(c->data_dir) ||
        !TERMINATED(c->config_file) || !TERMINATED(c->public_url) ||
        !TERMINATED(c->log_level) || !TERMINATED(c->allowed_origins))
        __builtin_trap();
    if (rc < 0 && (!memchr(why, '\0', LL_ERRMSG_MAX) || !why[0]))
        __builtin_trap();
    if (rc != 0 && rc != LL_ECONFIG)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ll_config_t c;
    char why[LL_ERRMSG_MAX];
    int rc;
    if (size == 0)
        return 0;
    ll_config_defaults(&c);
    memset(why, 'x', sizeof why);
    if ((data[0] & 1) == 0) {
        FILE *f = fopen(path, "w");
        if (!f)
            abort();
        if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1)
            abort();
        fclose(f);
        char *argv[] = {"ledgerline", "serve", "--config", path, NULL};
        rc = ll_config_load(&c, 4, argv, 2, why);
    } else {
        char *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        char *nl = strchr(copy, '\n');
        const char *value = "";
        if (nl) {
            *nl = '\0';
            value = nl + 1;
        }
        rc = ll_config_set(&c, copy, value, why);
        free(copy);
    }
    check(&c, rc, why);
    return 0;
}
