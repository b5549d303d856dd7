/* store/schema.c: everything done to ledger.db before store.c prepares its
 * statements: the writer creates the directory, every connection sets its
 * PRAGMAs, and the writer applies the migrations (readers check the version).
 *
 * migrations[i] takes a database from version i to version i + 1. A shipped
 * step is never edited: a change to the schema is a new step at the end. */
#include "store/schema.h"
#include "store/sql.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
    /* 1: the chain, the state it yields, the event log and node facts. */
    "CREATE TABLE blocks ("
    "  height INTEGER PRIMARY KEY,"
    "  hash TEXT UNIQUE NOT NULL,"
    "  previous_hash TEXT NOT NULL,"
    "  timestamp_ms INTEGER NOT NULL,"
    "  tx_count INTEGER NOT NULL,"
    "  miner TEXT NOT NULL,"
    "  difficulty INTEGER NOT NULL,"
    "  nonce INTEGER NOT NULL,"
    "  tx_root TEXT NOT NULL,"
    "  quantum_verified INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE txs ("
    "  tx_id TEXT PRIMARY KEY,"
    "  height INTEGER NOT NULL REFERENCES blocks(height),"
    "  idx INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  asset_id TEXT NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  fee INTEGER NOT NULL,"
    "  nonce INTEGER NOT NULL,"
    "  timestamp_ms INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  UNIQUE(height, idx));"
    /* Per-address history (the messenger's inbox and outbox) in chain order
     * straight from the index, without a sort. */
    "CREATE INDEX txs_sender ON txs(sender, height, idx);"
    "CREATE INDEX txs_recipient ON txs(recipient, height, idx);"
    "CREATE TABLE balances ("
    "  address TEXT,"
    "  asset_id TEXT,"
    "  units INTEGER NOT NULL,"
    "  PRIMARY KEY(address, asset_id)) WITHOUT ROWID;"
    "CREATE TABLE accounts ("
    "  address TEXT PRIMARY KEY,"
    "  next_nonce INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE assets ("
    "  asset_id TEXT PRIMARY KEY,"
    "  issuer TEXT NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  data TEXT NOT NULL,"
    "  height INTEGER NOT NULL);"
    /* seq is assigned by the store, gapless (chain.c), never by SQLite. */
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  height INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  tx_id TEXT,"
    "  addresses TEXT NOT NULL,"
    "  payload TEXT NOT NULL);"
    "CREATE INDEX events_height ON events(height);"
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL) WITHOUT ROWID;",
    /* 2: the messenger's users and their sessions. A user's chain key is
     * custodial: its seed is kept sealed (secretbox) under the node's
     * custody key, never in the clear. Only a hash of a session token is
     * stored, so a copy of the database opens no session. */
    "CREATE TABLE users ("
    "  username TEXT PRIMARY KEY,"
    "  address TEXT UNIQUE NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  sealed_seed TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY,"
    "  username TEXT NOT NULL REFERENCES users(username),"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX sessions_expiry ON sessions(expires_ms);",
    /* 3: contracts, their storage and the receipts of deploys and calls.
     * A slot holds an integer or bytes; keys are bytes. */
    "CREATE TABLE contracts ("
    "  address TEXT PRIMARY KEY,"
    "  code TEXT NOT NULL,"
    "  deployer TEXT NOT NULL,"
    "  tx_id TEXT NOT NULL,"
    "  height INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE contract_storage ("
    "  address TEXT NOT NULL,"
    "  key BLOB NOT NULL,"
    "  ival INTEGER,"
    "  sval BLOB,"
    "  PRIMARY KEY(address, key)) WITHOUT ROWID;"
    "CREATE TABLE receipts ("
    "  tx_id TEXT PRIMARY KEY,"
    "  height INTEGER NOT NULL,"
    "  body TEXT NOT NULL) WITHOUT ROWID;",
    /* 4: transactions answered 202 and not yet in a block. Since the
     * journal moved to journal.db (JOURNAL_TABLE) this table is only read,
     * once, at a start after an older binary left rows in it. */
    "CREATE TABLE pending_txs ("
    "  pos INTEGER PRIMARY KEY,"
    "  tx_id TEXT UNIQUE NOT NULL,"
    "  origin INTEGER NOT NULL,"
    "  body TEXT NOT NULL);",
    /* 5: a contract's calls in chain order, for its page and its history
     * (GET /api/v1/contracts/{address}, …/accounts/{address}/transactions):
     * a call names its contract only in its body's "to". Partial, so only
     * calls pay for it; the queries spell the expression as queries.c's
     * CALL_TO does. An older database gets it over its existing calls. */
    "CREATE INDEX txs_call_to ON txs(body ->> '$.to', height, idx) WHERE kind = 'call';",
};

/* journal.db, its own file so that the ledger thread makes admissions
 * durable while a block commits to ledger.db. Rows are keyed by their
 * position alone (no index on tx_id to keep up): a committed prefix goes
 * in one range delete (store/journal.h). */
#define JOURNAL_TABLE                                                                              \
    "CREATE TABLE IF NOT EXISTS journal ("                                                         \
    "  pos INTEGER PRIMARY KEY,"                                                                   \
    "  origin INTEGER NOT NULL,"                                                                   \
    "  body TEXT NOT NULL);"

int ll_schema_journal(sqlite3 *db)
{
    if (sqlite3_exec(db, JOURNAL_TABLE, NULL, NULL, NULL) != SQLITE_OK)
        return ll_sql_fail(db, "create the journal table");
    return 0;
}

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* mkdir -p: each missing component is created 0700 (the database is private
 * to the node); existing ones are left as they are. */
int ll_schema_make_dirs(const char *dir)
{
    char *p = strdup(dir);
    struct stat sb;
    int rc = 0;

    if (!p)
        return LL_ENOMEM;
    if (!*p) {
        LL_ERROR("store: no data directory given");
        rc = LL_EIO;
        goto out;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            LL_ERROR("store: cannot create %s: %s", p, strerror(errno));
            rc = LL_EIO;
            goto out;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        LL_ERROR("store: %s is not a directory", dir);
        rc = LL_EIO;
    }
out:
    free(p);
    return rc;
}

/* These PRAGMAs hold per connection (journal_mode also persists in the file),
 * so every connection sets them. */
int ll_schema_pragmas(sqlite3 *db, ll_store_sync_t sync)
{
    sqlite3_stmt *q = NULL;
    const char *mode;
    int rc;

    if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return ll_sql_fail(db, "busy_timeout");
    /* journal_mode answers with the mode now in force; a file system without
     * shared memory keeps the old one, and readers would then block. */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        rc = ll_sql_fail(db, "journal_mode");
        goto out;
    }
    mode = (const char *)sqlite3_column_text(q, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        LL_ERROR("store: journal_mode is %s, not wal", mode ? mode : "(null)");
        rc = LL_ESTORE;
        goto out;
    }
    if (sqlite3_exec(db,
                     sync == LL_SYNC_NORMAL ? "PRAGMA synchronous = NORMAL"
                                            : "PRAGMA synchronous = FULL",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = ll_sql_fail(db, "synchronous");
        goto out;
    }
    if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
        rc = ll_sql_fail(db, "foreign_keys");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(q);
    return rc;
}

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK) {
        rc = ll_sql_fail(db, "read user_version");
        goto out;
    }
    if (sqlite3_step(q) != SQLITE_ROW) {
        rc = ll_sql_fail(db, "read user_version");
        goto out;
    }
    *version = sqlite3_column_int(q, 0);
    rc = 0;
out:
    sqlite3_finalize(q);
    return rc;
}

static int refuse_newer(int version)
{
    LL_ERROR("store: database schema version %d is newer than this binary's %d; "
             "refusing to open it",
             version, N_MIGRATIONS);
    return LL_ESTORE;
}

/* One step in one transaction. BEGIN IMMEDIATE takes the write lock before the
 * version is read again, so two writers racing on a new file cannot both
 * apply the same step. */
static int apply(sqlite3 *db, int to)
{
    char bump[48];
    int version = 0;
    int rc;

    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return ll_sql_fail(db, "begin migration");
    if ((rc = read_version(db, &version)) < 0)
        goto out;
    if (version >= to) {
        rc = version > N_MIGRATIONS ? refuse_newer(version) : 0;
        goto out;
    }
    if (sqlite3_exec(db, migrations[to - 1], NULL, NULL, NULL) != SQLITE_OK) {
        LL_ERROR("store: migration %d: %s", to, sqlite3_errmsg(db));
        rc = LL_ESTORE;
        goto out;
    }
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", to);
    if (sqlite3_exec(db, bump, NULL, NULL, NULL) != SQLITE_OK) {
        rc = ll_sql_fail(db, "bump user_version");
        goto out;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = ll_sql_fail(db, "commit migration");
        goto out;
    }
    LL_INFO("store: schema migrated to version %d", to);
    rc = 0;
out:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int ll_schema_migrate(sqlite3 *db, int *version)
{
    int rc;

    if ((rc = read_version(db, version)) < 0)
        return rc;
    if (*version > N_MIGRATIONS)
        return refuse_newer(*version);
    for (int to = *version + 1; to <= N_MIGRATIONS; to++) {
        if ((rc = apply(db, to)) < 0)
            return rc;
        *version = to;
    }
    return 0;
}

int ll_schema_check(sqlite3 *db, int *version)
{
    int rc;

    if ((rc = read_version(db, version)) < 0)
        return rc;
    if (*version == N_MIGRATIONS)
        return 0;
    if (*version == 0)
        return LL_ENOTFOUND;
    if (*version > N_MIGRATIONS)
        return refuse_newer(*version);
    LL_ERROR("store: database schema version %d is older than %d; "
             "the writer migrates it when it opens",
             *version, N_MIGRATIONS);
    return LL_ESTORE;
}
