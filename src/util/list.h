/* util/list.h: comma-separated lists, as HTTP headers (RFC 9110 §5.6.1),
 * query parameters (types=) and flags (--allowed-origins) write them.
 * Owns:    nothing; items point into the caller's string.
 * Threads: any. */
#ifndef LL_UTIL_LIST_H
#define LL_UTIL_LIST_H

#include <stddef.h>

/* Takes the next item of the list at *cursor, with the white space
 * (isspace) around it trimmed: returns 1 with *item / *len set (len may be 0 for an
 * empty item) and *cursor moved past it and its comma, or 0 at the end. */
int ll_list_next(const char **cursor, const char **item, size_t *len);

#endif
