/* net/arena.c: the per-request bump allocator of net/arena.h. A request
 * allocates a handful of small buffers and frees them all when its response
 * is written, so one bump pointer over memory that came with the request
 * replaces the malloc, realloc and free of each. Under AddressSanitizer the
 * free space of every chunk is poisoned, so a read or write past the end of
 * an allocation is still reported as it would be on the heap. */
#include "net/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define LL_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LL_ARENA_ASAN 1
#endif
#endif

#ifdef LL_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct ll_arena_chunk {
    ll_arena_chunk_t *next;
    max_align_t data[]; /* LL_ARENA_CHUNK bytes */
};

/* prevp points at whatever points at this block (the arena's list head or
 * the block before), so a realloc that moves it relinks it in O(1). */
struct ll_arena_large {
    ll_arena_large_t *next;
    ll_arena_large_t **prevp;
    max_align_t data[];
};

static size_t align_up(size_t n)
{
    return (n + LL_ARENA_ALIGN - 1) & ~(size_t)(LL_ARENA_ALIGN - 1);
}

static char *align_ptr(char *p)
{
    return (char *)align_up((uintptr_t)p);
}

void ll_arena_init(ll_arena_t *a, void *first, size_t len)
{
    memset(a, 0, sizeof *a);
    a->first = first;
    a->first_len = len;
    if (len == 0)
        return;
    char *start = align_ptr(first), *end = (char *)first + len;
    if (start < end) {
        a->cur = start;
        a->end = end;
    }
    POISON(first, len);
}

void ll_arena_close(ll_arena_t *a)
{
    for (ll_arena_chunk_t *c = a->chunks, *next; c; c = next) {
        next = c->next;
        UNPOISON(c->data, LL_ARENA_CHUNK);
        free(c);
    }
    for (ll_arena_large_t *l = a->large, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    if (a->first_len)
        UNPOISON(a->first, a->first_len); /* its owner frees or reuses it */
    memset(a, 0, sizeof *a);
}

static void *large_alloc(ll_arena_t *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(ll_arena_large_t))
        return NULL;
    ll_arena_large_t *l = malloc(sizeof *l + n);
    if (!l)
        return NULL;
    l->next = a->large;
    l->prevp = &a->large;
    if (l->next)
        l->next->prevp = &l->next;
    a->large = l;
    return l->data;
}

static void *large_realloc(void *p, size_t n)
{
    ll_arena_large_t *l = (ll_arena_large_t *)((char *)p - offsetof(ll_arena_large_t, data));
    if (n > SIZE_MAX - sizeof *l)
        return NULL;
    ll_arena_large_t *moved = realloc(l, sizeof *l + n);
    if (!moved)
        return NULL;
    *moved->prevp = moved;
    if (moved->next)
        moved->next->prevp = &moved->next;
    return moved->data;
}

/* Starts a new current chunk; what was left of the old one stays unused. */
static int new_chunk(ll_arena_t *a)
{
    ll_arena_chunk_t *c = malloc(sizeof *c + LL_ARENA_CHUNK);
    if (!c)
        return -1;
    c->next = a->chunks;
    a->chunks = c;
    a->cur = (char *)c->data;
    a->end = a->cur + LL_ARENA_CHUNK;
    a->last = NULL;
    POISON(c->data, LL_ARENA_CHUNK);
    return 0;
}

void *ll_arena_alloc(ll_arena_t *a, size_t n)
{
    if (n >= LL_ARENA_LARGE)
        return large_alloc(a, n);
    size_t need = align_up(n ? n : 1);
    if ((size_t)(a->end - a->cur) < need && new_chunk(a) < 0)
        return NULL;
    char *p = a->cur;
    a->cur += need;
    a->last = p;
    UNPOISON(p, n);
    return p;
}

void *ll_arena_realloc(ll_arena_t *a, void *p, size_t old, size_t n)
{
    if (!p)
        return ll_arena_alloc(a, n);
    if (n <= old)
        return p;
    if (old >= LL_ARENA_LARGE)
        return large_realloc(p, n);
    if (p == a->last && n < LL_ARENA_LARGE && (size_t)(a->end - a->last) >= align_up(n)) {
        a->cur = a->last + align_up(n);
        UNPOISON(p, n);
        return p;
    }
    void *np = ll_arena_alloc(a, n);
    if (np) {
        memcpy(np, p, old);
        POISON(p, old); /* a pointer kept into the old copy is a bug: say so */
    }
    return np;
}
