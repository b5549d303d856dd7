/* net/arena.h: a bump allocator for everything one request allocates (after
 * h2o's h2o_mem_pool_t): its parse buffers, its header table, its response
 * head, and a copy of a response body that must be kept.
 * Owns:    its chunks and its large blocks: the first chunk is memory the
 *          caller lends it (inline in the request, allocated with it);
 *          further chunks of LL_ARENA_CHUNK bytes are chained as it fills;
 *          an allocation of LL_ARENA_LARGE bytes or more gets a malloc of its
 *          own, linked into the arena.
 * Frees:   ll_arena_close() releases every chunk and large block at once;
 *          nothing taken from an arena is freed on its own. Space left behind
 *          when an allocation grows by copying stays until then.
 * Threads: its owner's only (a request's worker thread); no locks. */
#ifndef LL_NET_ARENA_H
#define LL_NET_ARENA_H

#include <stddef.h>

/* Every allocation starts at a multiple of this. */
#define LL_ARENA_ALIGN _Alignof(max_align_t)

/* The size of each chained chunk, and the size from which an allocation is a
 * malloc of its own (a quarter of a chunk, as in h2o: at most that much of a
 * chunk is ever left unused when a new one starts). */
#define LL_ARENA_CHUNK 4096
#define LL_ARENA_LARGE (LL_ARENA_CHUNK / 4)

typedef struct ll_arena_chunk ll_arena_chunk_t;
typedef struct ll_arena_large ll_arena_large_t;

typedef struct ll_arena {
    char *cur, *end; /* the free space of the current chunk */
    char *last;      /* the newest chunk allocation: it may grow in place */
    char *first;     /* the lent first chunk, [first, first + first_len) */
    size_t first_len;
    ll_arena_chunk_t *chunks; /* chained chunks, newest first */
    ll_arena_large_t *large;  /* large blocks, newest first */
} ll_arena_t;

/* Starts an arena over first[0..len) (any alignment; len may be 0), which the
 * caller keeps alive until ll_arena_close(). */
void ll_arena_init(ll_arena_t *a, void *first, size_t len);

/* Releases every chunk and large block; the arena is then empty again (its
 * first chunk forgotten) and may be closed again or dropped. */
void ll_arena_close(ll_arena_t *a);

/* n bytes (n may be 0), aligned to LL_ARENA_ALIGN, valid until
 * ll_arena_close(); NULL when out of memory. */
void *ll_arena_alloc(ll_arena_t *a, size_t n);

/* Grows p, taken from a with size old (its ll_arena_alloc size or its latest
 * ll_arena_realloc one; NULL with old 0 allocates), to n bytes, keeping its
 * old bytes. In place when p is the newest allocation of the current chunk
 * and it still fits there; by realloc when p is a large block; otherwise by
 * a new allocation and a copy. It never shrinks (n <= old returns p), so an
 * allocation's size alone tells a large block from chunk space. Returns the
 * new address, or NULL when out of memory (p is then unchanged and valid). */
void *ll_arena_realloc(ll_arena_t *a, void *p, size_t old, size_t n);

#endif
