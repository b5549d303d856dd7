/* util/hmap.c: see hmap.h. Capacity is a power of two kept at most 3/4 full. */
#include "util/hmap.h"
#include "util/err.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
} slot_t;

struct ll_hmap {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t count;
    int borrowed; /* keys are the caller's: never copied or freed */
};

/* Written once under key_once (any thread may create the first map), then
 * read-only. */
static unsigned char sip_key[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void init_key(void)
{
    randombytes_buf(sip_key, sizeof sip_key);
}

static uint64_t hash_key(const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), sip_key);
    memcpy(&h, out, sizeof h);
    return h;
}

ll_hmap_t *ll_hmap_new(void)
{
    pthread_once(&key_once, init_key);
    ll_hmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 16;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

ll_hmap_t *ll_hmap_new_borrowed(void)
{
    ll_hmap_t *m = ll_hmap_new();
    if (m)
        m->borrowed = 1;
    return m;
}

void ll_hmap_clear(ll_hmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->borrowed)
            free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = 0;
}

void ll_hmap_free(ll_hmap_t *m)
{
    if (!m)
        return;
    ll_hmap_clear(m);
    free(m->slots);
    free(m);
}

static size_t find_slot(const ll_hmap_t *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

void *ll_hmap_get(const ll_hmap_t *m, const char *key)
{
    size_t i = find_slot(m, key, hash_key(key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(ll_hmap_t *m)
{
    size_t old_cap = m->cap;
    slot_t *old = m->slots;
    slot_t *slots = calloc(old_cap * 2, sizeof *slots);
    if (!slots)
        return LL_ENOMEM;
    m->slots = slots;
    m->cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key)
            continue;
        size_t j = (size_t)old[i].hash & (m->cap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
    return 0;
}

int ll_hmap_put(ll_hmap_t *m, const char *key, void *value)
{
    uint64_t h = hash_key(key);
    size_t i = find_slot(m, key, h);
    if (m->slots[i].key) {
        m->slots[i].value = value;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (grow(m) < 0)
            return LL_ENOMEM;
        i = find_slot(m, key, h);
    }
    /* A borrowed key is never written through: the cast only lets one
     * slot type hold both kinds. */
    char *copy = m->borrowed ? (char *)key : strdup(key);
    if (!copy)
        return LL_ENOMEM;
    m->slots[i] = (slot_t){copy, value, h};
    m->count++;
    return 0;
}

void *ll_hmap_remove(ll_hmap_t *m, const char *key)
{
    size_t mask = m->cap - 1, i = find_slot(m, key, hash_key(key));
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    if (!m->borrowed)
        free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Backward shift: pull later members of the probe run into the hole so
     * every remaining key stays reachable from its home slot. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        int movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return value;
}

size_t ll_hmap_count(const ll_hmap_t *m)
{
    return m->count;
}

void ll_hmap_each(const ll_hmap_t *m, ll_hmap_each_cb cb, void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            cb(m->slots[i].key, m->slots[i].value, arg);
}
