/* tests/unit/test_commit_fault.c: a block whose COMMIT fails (the disk is
 * full) loses nothing: after the ledger retries it, the block's events reach
 * a live subscriber of the hub and the event log, each exactly once.
 *
 * The fault is real SQLite behaviour, injected below SQLite: a VFS that
 * wraps the default one and answers SQLITE_FULL to writes of the WAL file
 * while armed. In WAL mode a COMMIT is the write of its frames to the WAL,
 * so the block's rows, state and event rows are all written and then the
 * COMMIT fails, exactly as on a full disk. */
#include "ledger/ledger.h"
#include "store/history.h"
#include "store/store.h"
#include "stream/event.h"
#include "stream/hub.h"
#include "util/err.h"
#include "util/taskq.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "testutil.h"

/* ---- a VFS that fails WAL writes on demand -------------------------------- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;
static _Atomic int wal_writes_to_fail; /* armed by the test thread, spent by the ledger's */
static _Atomic int wal_writes_failed;

typedef struct full_file {
    sqlite3_file base;
    sqlite3_file *real; /* lives right after this struct */
    int is_wal;
} full_file_t;

#define REAL(f) (((full_file_t *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (((full_file_t *)f)->is_wal && atomic_load(&wal_writes_to_fail) > 0) {
        atomic_fetch_sub(&wal_writes_to_fail, 1);
        atomic_fetch_add(&wal_writes_failed, 1);
        return SQLITE_FULL;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}
static int f_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}
static int f_check_lock(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_caps(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* Version 2: WAL needs the shared-memory methods; no memory mapping. */
static const sqlite3_io_methods full_methods = {
    2,          f_close,       f_read,       f_write,   f_truncate, f_sync, f_size,
    f_lock,     f_unlock,      f_check_lock, f_control, f_sector,   f_caps, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap,  NULL,      NULL,
};

static int full_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags)
{
    full_file_t *ff = (full_file_t *)file;
    int rc;
    (void)vfs;
    ff->real = (sqlite3_file *)(ff + 1);
    ff->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods ? &full_methods : NULL;
    return rc;
}

static int full_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, name, sync);
}
static int full_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int full_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static int full_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int full_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}
static int full_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int full_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

/* Makes the wrapper the default VFS, so the store opens through it. */
static int install_full_vfs(void **state)
{
    (void)state;
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    full_vfs = (sqlite3_vfs){
        .iVersion = 1,
        .szOsFile = (int)sizeof(full_file_t) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "ll-test-full",
        .xOpen = full_open,
        .xDelete = full_delete,
        .xAccess = full_access,
        .xFullPathname = full_fullpath,
        .xDlOpen = NULL,
        .xRandomness = full_random,
        .xSleep = full_sleep,
        .xCurrentTime = full_time,
        .xGetLastError = full_last_error,
    };
    return sqlite3_vfs_register(&full_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static int remove_full_vfs(void **state)
{
    (void)state;
    sqlite3_vfs_unregister(&full_vfs);
    return 0;
}

/* ---- the ledger and a live subscriber -------------------------------------- */

typedef struct seen {
    char types[16][16]; /* event types in delivery order */
    uint64_t seqs[16];
    size_t n;
    int replied, reply_rc;
} seen_t;

static seen_t seen_events;

static void on_batch(const ll_batch_t *b, void *arg)
{
    seen_t *s = arg;
    for (size_t i = 0; i < b->n && s->n < 16; i++) {
        snprintf(s->types[s->n], sizeof s->types[0], "%s", ll_ev_type_name(b->events[i]->type));
        s->seqs[s->n++] = b->events[i]->seq;
    }
}

static void on_reply(ll_task_t *task)
{
    ll_ledger_req_t *r = (ll_ledger_req_t *)((char *)task - offsetof(ll_ledger_req_t, reply));
    seen_t *s = r->data;
    s->replied = 1;
    s->reply_rc = r->rc;
    json_decref(r->result);
    r->result = NULL;
}

static int spin_until(uv_loop_t *loop, const int *flag, const size_t *count, size_t want)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        if ((flag && *flag) || (count && *count >= want))
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 30)
            return -1;
        uv_sleep(5);
    }
}

typedef struct row_list {
    char types[16][16];
    size_t n;
} row_list_t;

static int collect_row(const ll_store_event_t *row, void *arg)
{
    row_list_t *rl = arg;
    if (rl->n < 16)
        snprintf(rl->types[rl->n++], sizeof rl->types[0], "%s", row->type);
    return 0;
}

static void test_regress_failed_commit_keeps_the_blocks_events(void **state)
{
    char dir[64];
    uv_loop_t loop;
    ll_taskq_t replies;
    ll_hub_t *hub = ll_hub_new();
    ll_ledger_t *l = NULL;
    ll_store_t *reader = NULL;
    ll_ledger_req_t req = {0};
    row_list_t rows = {0};
    (void)state;

    memset(&seen_events, 0, sizeof seen_events);
    assert_non_null(make_temp_dir(dir, sizeof dir, "commit-fault"));
    assert_non_null(hub);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ll_taskq_init(&replies, &loop), 0);

    ll_ledger_opts_t opts = {.data_dir = dir,
                             .difficulty = 1,
                             .block_interval_ms = 20,
                             .max_block_txs = 100,
                             .sync = LL_SYNC_FULL,
                             .dev = 1,
                             .hub = hub};
    assert_int_equal(ll_ledger_start(&opts, &l), 0); /* genesis commits normally */
    ll_hub_sink_t *sink = ll_hub_attach(hub, &replies, on_batch, &seen_events);
    assert_non_null(sink);

    /* The disk fills up: the next two COMMITs fail, the third succeeds. */
    atomic_store(&wal_writes_to_fail, 2);
    req.op = LL_LEDGER_FAUCET;
    snprintf(req.address, sizeof req.address, "%s", "39848b50aaaaaaaaaaaaaaaaaaaaaaaa");
    req.amount = 1000000;
    req.reply_q = &replies;
    req.reply.run = on_reply;
    req.data = &seen_events;
    assert_int_equal(ll_ledger_post(l, &req), 0);
    assert_int_equal(spin_until(&loop, &seen_events.replied, NULL, 0), 0);
    assert_int_equal(seen_events.reply_rc, 0);

    /* The retried block reaches the live subscriber: block, then its tx. */
    assert_int_equal(spin_until(&loop, NULL, &seen_events.n, 2), 0);
    assert_true(atomic_load(&wal_writes_failed) >= 2);
    assert_int_equal(seen_events.n, 2);
    assert_string_equal(seen_events.types[0], "block");
    assert_string_equal(seen_events.types[1], "tx");
    assert_true(seen_events.seqs[1] == seen_events.seqs[0] + 1);

    ll_ledger_stop(l);
    /* ... and the event log, once each, with the same numbers. */
    assert_int_equal(ll_store_open(dir, LL_STORE_READER, LL_SYNC_FULL, &reader), 0);
    assert_int_equal(ll_store_events_after(reader, 0, 16, collect_row, &rows), 3);
    assert_int_equal(rows.n, 3); /* genesis block, block 1, its tx */
    assert_string_equal(rows.types[0], "block");
    assert_string_equal(rows.types[1], "block");
    assert_string_equal(rows.types[2], "tx");

    ll_store_close(reader);
    ll_ledger_free(l);
    ll_hub_detach(hub, sink);
    ll_taskq_close(&replies, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ll_taskq_destroy(&replies);
    assert_int_equal(uv_loop_close(&loop), 0);
    ll_hub_free(hub);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regress_failed_commit_keeps_the_blocks_events),
    };
    return cmocka_run_group_tests_name("ledger/commit_fault", tests, install_full_vfs,
                                       remove_full_vfs);
}
