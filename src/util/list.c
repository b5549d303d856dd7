/* util/list.c: the iterator of util/list.h. */
#include "util/list.h"

#include <ctype.h>
#include <string.h>

int ll_list_next(const char **cursor, const char **item, size_t *len)
{
    const char *p = *cursor;
    size_t n;
    if (!p || !*p)
        return 0;
    n = strcspn(p, ",");
    *cursor = p + n + (p[n] == ',');
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    *item = p;
    *len = n;
    return 1;
}
