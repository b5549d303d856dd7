/* auth/hashgate.h: a bound on the password hashes (Argon2id, 64 MiB and a
 * tenth of a second of CPU each) that run at once, with a bounded line of
 * those waiting their turn, first come first served.
 * Owns:    counters behind a mutex; no memory per waiter (a waiter holds a
 *          ticket number and asks again).
 * Threads: any.
 *
 * libuv's thread pool has 4 threads for the whole process, and file system
 * work and signature checks use it too: a login flood that filled it would
 * stall them, and take 64 MiB per hash. The gate lets `slots` hashes run and
 * `queue_cap` wait; beyond that a request is refused at once (429 with
 * Retry-After), which costs the node nothing.
 *
 * A waiter polls (ll_hashgate_poll) from a timer on its own loop rather than
 * being woken: no thread ever touches another worker's loop, so a worker
 * that stops with a login still waiting has nothing to clean up but its own
 * timer. Every ticket handed out must be polled until it is let in, or the
 * line stops. */
#ifndef LL_AUTH_HASHGATE_H
#define LL_AUTH_HASHGATE_H

#include <stdint.h>
#include <uv.h>

#define LL_HASHGATE_SLOTS 2   /* hashes at once: half of libuv's pool */
#define LL_HASHGATE_QUEUE 8   /* hashes waiting: at most ~0.5 s of waiting */
#define LL_HASHGATE_POLL_MS 5 /* how often a waiter asks again */

typedef struct ll_hashgate {
    uv_mutex_t lock;
    uint32_t slots, queue_cap;
    uint32_t running;     /* guarded by lock */
    uint64_t next_ticket; /* guarded by lock: tickets handed out */
    uint64_t serving;     /* guarded by lock: the next ticket to let in */
} ll_hashgate_t;

enum { LL_HASHGATE_GO = 0, LL_HASHGATE_WAIT = 1 };

/* Returns 0 or LL_ENOMEM (the mutex could not be made). */
int ll_hashgate_init(ll_hashgate_t *g, uint32_t slots, uint32_t queue_cap);
void ll_hashgate_close(ll_hashgate_t *g);

/* Asks to run one hash. Returns LL_HASHGATE_GO (a slot is the caller's: run
 * it, then ll_hashgate_leave), LL_HASHGATE_WAIT (*ticket is the caller's
 * place in line: poll it), or LL_ERATELIMIT when the line is full. */
int ll_hashgate_enter(ll_hashgate_t *g, uint64_t *ticket);

/* 1 when ticket's turn has come and a slot was free: the slot is the
 * caller's now. 0: ask again later. */
int ll_hashgate_poll(ll_hashgate_t *g, uint64_t ticket);

/* Gives the slot back once the hash is done (its memory freed). */
void ll_hashgate_leave(ll_hashgate_t *g);

/* Hashes running and waiting now (for tests and metrics). */
void ll_hashgate_counts(ll_hashgate_t *g, uint32_t *running, uint32_t *waiting);

#endif
