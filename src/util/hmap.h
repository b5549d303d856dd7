/* util/hmap.h: a string-keyed hash map of void pointers.
 * Owns:    copies of its keys (unless made by ll_hmap_new_borrowed); not the
 *          values (the caller frees them, e.g. in an ll_hmap_each pass before
 *          ll_hmap_free).
 * Threads: one thread at a time, like any plain struct.
 *
 * Open addressing with linear probing and backward-shift deletion, so there
 * are no tombstones to clean; keys are hashed with libsodium's SipHash
 * (crypto_shorthash) under a per-process random key, so clients cannot
 * choose addresses or ids that collide on purpose. */
#ifndef LL_UTIL_HMAP_H
#define LL_UTIL_HMAP_H

#include <stddef.h>

typedef struct ll_hmap ll_hmap_t;

ll_hmap_t *ll_hmap_new(void);

/* A map that keeps the caller's key pointers instead of copies, for keys
 * that live in the value itself (a transaction's tx_id): each key must stay
 * unchanged and allocated until its entry is removed. It saves a copy and
 * a free per entry where a block's worth of entries comes and goes. */
ll_hmap_t *ll_hmap_new_borrowed(void);
void ll_hmap_free(ll_hmap_t *m);

/* The value under key, or NULL. */
void *ll_hmap_get(const ll_hmap_t *m, const char *key);

/* Sets key to value (value may not be NULL). Returns 0 or LL_ENOMEM. */
int ll_hmap_put(ll_hmap_t *m, const char *key, void *value);

/* Removes key and returns its value, or NULL when absent. */
void *ll_hmap_remove(ll_hmap_t *m, const char *key);

size_t ll_hmap_count(const ll_hmap_t *m);

/* Calls cb for every entry in no particular order; cb must not change m. */
typedef void (*ll_hmap_each_cb)(const char *key, void *value, void *arg);
void ll_hmap_each(const ll_hmap_t *m, ll_hmap_each_cb cb, void *arg);

/* Removes every entry (keys freed, values untouched). */
void ll_hmap_clear(ll_hmap_t *m);

#endif
