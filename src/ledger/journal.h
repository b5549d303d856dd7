/* ledger/journal.h (internal to ledger/): "202 means durable". Every
 * admitted transaction is written to the journal (journal.db,
 * store/pending.h) before its 202 is sent, and all the admissions of one
 * loop turn share one SQLite transaction, so one fsync (group commit).
 * journal.db is a file of its own, so this never waits for a block being
 * committed to ledger.db on the block job's connection.
 *
 * The "pending" events of admitted messages, and the "dropped" events of
 * transactions that leave the mempool for good without a block, go to the
 * event log in ledger.db after their journal rows are on disk, so a client
 * never sees "pending" for a transaction a crash could lose and never waits
 * forever for one that was dropped. While a block job holds ledger.db's
 * writer they wait for it (ll_ledger_block_done flushes them), and every
 * one of them is written before the next block takes transactions, so
 * "pending" always precedes "confirmed". Committed transactions leave the
 * journal at the flush after their block (a start skips rows whose
 * transaction is already in the chain).
 * Owns:    the admissions waiting for the next flush (their held replies,
 *          and the mempool's transactions, borrowed), the transactions
 *          dropped since (owned), the ids to forget, and the messages
 *          whose events wait for the writer (borrowed from the mempool,
 *          which keeps them until a block takes them: after this flush).
 * Threads: the ledger thread only. */
#ifndef LL_LEDGER_JOURNAL_H
#define LL_LEDGER_JOURNAL_H

#include "ledger/tx.h"

#include <stddef.h>
#include <uv.h>

typedef struct ll_ledger ll_ledger_t;
typedef struct ll_ledger_req ll_ledger_req_t;

typedef struct ll_journal_entry {
    ll_tx_t *tx;            /* in the mempool until the flush; NULL: a held reply only */
    ll_ledger_req_t *reply; /* sent after the flush; NULL: nobody waits */
} ll_journal_entry_t;

/* One group commit: what one journal.db transaction writes. */
typedef struct ll_journal_group {
    ll_journal_entry_t *admitted;
    size_t nadmitted, admitted_cap;
    ll_tx_t **dropped; /* owned */
    size_t ndropped, dropped_cap;
    uint64_t upto;    /* rows before it go (a slice of the committed prefix); 0: none */
    uint64_t end_pos; /* next_pos when the group was formed */
} ll_journal_group_t;

typedef struct ll_journal {
    /* The ledger thread's: */
    ll_journal_group_t fill; /* what the next group commit writes */
    ll_journal_group_t fly;  /* the group being written (flying) */
    int flying;              /* fly is the writer's until its done task */
    int failed;              /* fly failed: written again after a pause */
    uint64_t next_pos;       /* the next row's position */
    uint64_t durable_before; /* every row before it is on disk */
    uint64_t forget_before;  /* rows before it are to go; 0: none */
    uint64_t gone_before;    /* rows before it are gone */
    /* journaled, their events not yet in the log */
    const ll_tx_t **msgs_pending;
    size_t nmsgs_pending, msgs_pending_cap;
    ll_tx_t **msgs_dropped;
    size_t nmsgs_dropped, msgs_dropped_cap;
    uv_timer_t timer; /* a group at the end of this loop turn, or a retry */
    /* The writer thread writes fly between a signal and its done task: */
    uv_thread_t writer;
    int writer_started;
    uv_mutex_t lock; /* guards the four fields below */
    uv_cond_t cond;
    int work, quit, done, rc;
    int task_queued;     /* done_task is in the inbox: not posted twice */
    ll_task_t done_task; /* posted to the ledger's inbox when fly is written */
    int closed;          /* the ledger thread's: no group starts any more */
} ll_journal_t;

/* Initialises j's timer on the ledger's loop, reads where journal.db ends
 * and starts the writer thread. Returns 0 or an error. */
int ll_journal_init(ll_ledger_t *l);

/* Waits until everything journaled so far is on disk and its events are
 * in the log (the start, the stop). Returns 0 or the store's error. */
int ll_journal_sync(ll_ledger_t *l);

/* Makes room for one more admission. Returns 0 or LL_ENOMEM. */
int ll_journal_reserve(ll_ledger_t *l);

/* Gives tx, just added to the mempool, the next position and remembers it
 * for the next flush (after ll_journal_reserve); reply (may be NULL) is
 * held until then. */
void ll_journal_admitted(ll_ledger_t *l, ll_tx_t *tx, ll_ledger_req_t *reply);

/* Holds reply until the next flush, with no transaction of its own (a
 * batch whose items were journaled with no reply each). Returns 0 or
 * LL_ENOMEM (then the caller answers at once). */
int ll_journal_hold(ll_ledger_t *l, ll_ledger_req_t *reply);

/* Takes tx (owned), out of the mempool for good, for the next flush. */
void ll_journal_dropped(ll_ledger_t *l, ll_tx_t *tx);

/* A block committed: the rows before the oldest transaction still pending
 * (in the mempool or the block being produced) are to go, at most
 * LL_JOURNAL_FORGET_SLICE positions per flush, so that deleting a block's
 * rows never holds up the admissions of one loop turn. */
void ll_journal_committed(ll_ledger_t *l);
#define LL_JOURNAL_FORGET_SLICE 1024

/* Where the journal starts: rows before pos are gone (a start, once it has
 * read the journal). */
void ll_journal_gone_before(ll_ledger_t *l, uint64_t pos);

/* Hands what waits to the writer thread as one group commit (unless a
 * group is being written: the next starts when it is done, with everything
 * admitted meanwhile), and, unless a block job holds ledger.db's writer,
 * appends the events of what is on disk to the log and publishes them.
 * Returns 0, or the event log's error (then a retry is scheduled). A block
 * takes only transactions before durable_before, after a flush. */
int ll_journal_flush(ll_ledger_t *l);

/* Answers every held reply with err (the ledger stops and could not make
 * them durable). */
void ll_journal_fail_held(ll_ledger_t *l, int err, const char *why);

/* Stops the writer thread, closes the timer and frees what is left (the
 * ledger is stopping; call ll_journal_sync first). */
void ll_journal_close(ll_ledger_t *l, uv_close_cb on_closed);
void ll_journal_free(ll_ledger_t *l);

#endif
