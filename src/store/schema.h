/* store/schema.h (internal to store/): ledger.db's directory, connection
 * settings and versioned schema.
 * Owns:    the ordered list of migrations; the version lives in the
 *          database's PRAGMA user_version.
 * Threads: whichever thread owns the connection passed in.
 *
 * Only store.c includes this header. */
#ifndef LL_STORE_SCHEMA_H
#define LL_STORE_SCHEMA_H

#include "store/store.h"

#include <sqlite3.h>

/* Writer, at open: mkdir -p dir, creating missing components 0700. Returns 0,
 * LL_ENOMEM, or LL_EIO (logged) when a component cannot be created or dir is
 * not a directory. */
int ll_schema_make_dirs(const char *dir);

/* Every connection, at open: busy timeout, WAL, synchronous per sync,
 * foreign keys. Returns 0, or LL_ESTORE (logged), also when the file system
 * cannot do WAL. */
int ll_schema_pragmas(sqlite3 *db, ll_store_sync_t sync);

/* Writer, at open: applies every migration the database lacks, each in its own
 * transaction that also bumps user_version, and stores the resulting version
 * in *version. Returns 0, or LL_ESTORE (logged) on an SQLite error or when the
 * database is newer than this binary; the database is then left at the last
 * version that committed. */
int ll_schema_migrate(sqlite3 *db, int *version);

/* Reader, at open: stores the database's version in *version and returns 0
 * when it is the one this binary writes. Returns LL_ENOTFOUND for a database
 * no writer has initialised yet (version 0), LL_ESTORE (logged) for any other
 * version or an SQLite error. */
int ll_schema_check(sqlite3 *db, int *version);

/* Journal, at open: creates journal.db's one table when it is absent.
 * Returns 0 or LL_ESTORE (logged). */
int ll_schema_journal(sqlite3 *db);

#endif
