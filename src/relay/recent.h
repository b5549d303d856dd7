/* relay/recent.h: a relay's memory of the latest events, in seq order, so
 * that a client failing over from another relay with its Last-Event-ID
 * resumes from memory (JetStream is read only for older history).
 * Owns:    a reference to each event it holds (at most its capacity; the
 *          oldest is released as a new one comes).
 * Frees:   ll_recent_free().
 * Threads: ll_recent_append on the relay's source thread; the readers on
 *          any worker. A reader-writer lock guards it, held only to copy
 *          pointers, never while a callback runs.
 *
 * Seqs held are contiguous: an event that does not follow the newest one
 * starts the memory afresh (a relay that lost its place). */
#ifndef LL_RELAY_RECENT_H
#define LL_RELAY_RECENT_H

#include "stream/backend.h"
#include "stream/event.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ll_recent ll_recent_t;

/* NULL when out of memory; cap >= 1. */
ll_recent_t *ll_recent_new(size_t cap);
void ll_recent_free(ll_recent_t *r);

/* Takes a reference to ev (seq > 0). */
void ll_recent_append(ll_recent_t *r, ll_event_t *ev);

/* The oldest and newest seqs held; both 0 when empty. */
void ll_recent_range(ll_recent_t *r, uint64_t *first, uint64_t *last);

/* Calls cb for each held event with seq > after, in order, at most limit
 * of them (none when after + 1 is older than the oldest held). Returns how
 * many it visited, or cb's non-zero result. */
int ll_recent_after(ll_recent_t *r, uint64_t after, size_t limit, ll_history_cb cb, void *arg);

#endif
