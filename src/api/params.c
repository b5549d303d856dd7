/* api/params.c: the parameters several routes read the same way: decimal
 * integers in a range, a page's limit, and an address in any case with an
 * optional 0x. Checked here, before anything reaches the store. */
#include "api/api.h"
#include "util/err.h"

#include <ctype.h>
#include <string.h>

int ll_api_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return LL_EBADPARAM;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return LL_EBADPARAM;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10) /* v * 10 + d would pass max (or wrap) */
            return LL_EBADPARAM;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ll_api_query_uint(const ll_req_t *req, const char *name, uint64_t min, uint64_t max,
                      uint64_t *out)
{
    char value[24]; /* 2^64 has 20 digits: longer is out of range anyway */
    uint64_t v;
    int rc = ll_req_query_param(req, name, value, sizeof value);
    if (rc == LL_ENOTFOUND)
        return 0;
    if (rc < 0 || ll_api_parse_uint(value, max, &v) < 0 || v < min)
        return LL_EBADPARAM;
    *out = v;
    return 1;
}

int ll_api_parse_address(const char *in, char out[LL_API_ADDRESS_MAX + 1])
{
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    size_t n = strlen(in);
    if (n != 32 && n != 40)
        return LL_EBADADDRESS;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)in[i]))
            return LL_EBADADDRESS;
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[n] = '\0';
    return (int)n;
}

int ll_api_page_start(ll_api_worker_t *ctx, ll_req_t *req, uint64_t *limit)
{
    if (ll_api_query_uint(req, "limit", 1, LL_API_PAGE_MAX, limit) < 0) {
        ll_req_respond_error(req, LL_EBADPARAM, "limit must be an integer from 1 to %d",
                             LL_API_PAGE_MAX);
        return LL_EBADPARAM;
    }
    if (!ctx->reader) {
        ll_req_respond_error(req, LL_ESTORE, "the database is not readable");
        return LL_ESTORE;
    }
    return 0;
}
