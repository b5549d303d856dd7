/* ledger/journal.h (internal to ledger/): "202 means durable". Every
 * admitted transaction is written to the journal (store/pending.h) before
 * its 202 is sent, and all the admissions of one loop turn share one
 * SQLite transaction, so one fsync (group commit). The same transaction
 * writes the "pending" events of admitted messages, so a client never sees
 * "pending" for a transaction a crash could lose. Transactions that leave
 * the mempool for good without a block (they no longer apply) are
 * forgotten by the journal the same way, with a "dropped" message event
 * for messages, so no client waits forever. A block forgets its own
 * transactions in its own transaction (ledger/commit.c).
 * Owns:    the list of admissions waiting for the next flush (their held
 *          replies and the mempool's transactions, borrowed) and the
 *          transactions dropped since the last flush (owned).
 * Threads: the ledger thread only. */
#ifndef LL_LEDGER_JOURNAL_H
#define LL_LEDGER_JOURNAL_H

#include "ledger/tx.h"

#include <stddef.h>
#include <uv.h>

typedef struct ll_ledger ll_ledger_t;
typedef struct ll_ledger_req ll_ledger_req_t;

typedef struct ll_journal_entry {
    const ll_tx_t *tx;      /* in the mempool until the flush; NULL: a held reply only */
    ll_ledger_req_t *reply; /* sent after the flush; NULL: nobody waits */
} ll_journal_entry_t;

typedef struct ll_journal {
    ll_journal_entry_t *admitted;
    size_t nadmitted, admitted_cap;
    ll_tx_t **dropped;
    size_t ndropped, dropped_cap;
    uv_timer_t timer; /* a flush at the end of this loop turn, or a retry */
} ll_journal_t;

/* Initialises j's timer on the ledger's loop. */
void ll_journal_init(ll_ledger_t *l);

/* Makes room for one more admission. Returns 0 or LL_ENOMEM. */
int ll_journal_reserve(ll_ledger_t *l);

/* Remembers tx, just added to the mempool, for the next flush (after
 * ll_journal_reserve); reply (may be NULL) is held until then. */
void ll_journal_admitted(ll_ledger_t *l, const ll_tx_t *tx, ll_ledger_req_t *reply);

/* Holds reply until the next flush, with no transaction of its own (a
 * batch whose items were journaled with no reply each). Returns 0 or
 * LL_ENOMEM (then the caller answers at once). */
int ll_journal_hold(ll_ledger_t *l, ll_ledger_req_t *reply);

/* Takes tx (owned), out of the mempool for good, for the next flush. */
void ll_journal_dropped(ll_ledger_t *l, ll_tx_t *tx);

/* Writes what is waiting in one store transaction, then publishes its
 * events and sends the held replies. Returns 0, or the store's error:
 * then everything stays waiting and a retry is scheduled; no block may be
 * built until a flush succeeds. */
int ll_journal_flush(ll_ledger_t *l);

/* Answers every held reply with err (the ledger stops and could not make
 * them durable). */
void ll_journal_fail_held(ll_ledger_t *l, int err, const char *why);

/* Closes the timer and frees what is left (the ledger is stopping). */
void ll_journal_close(ll_ledger_t *l, uv_close_cb on_closed);
void ll_journal_free(ll_ledger_t *l);

#endif
