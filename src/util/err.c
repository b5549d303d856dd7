/* util/err.c: lookups in the error table of err.h. */
#include "util/err.h"

const char *ll_err_code(int err)
{
    switch (err) {
#define LL_ERR_CASE(name, value, api, status)                                                      \
    case name:                                                                                     \
        return api;
        LL_ERR_MAP(LL_ERR_CASE)
#undef LL_ERR_CASE
    }
    return "internal_error";
}

int ll_err_status(int err)
{
    switch (err) {
#define LL_ERR_CASE(name, value, api, status)                                                      \
    case name:                                                                                     \
        return status;
        LL_ERR_MAP(LL_ERR_CASE)
#undef LL_ERR_CASE
    }
    return 500;
}

const char *ll_err_name(int err)
{
    switch (err) {
#define LL_ERR_CASE(name, value, api, status)                                                      \
    case name:                                                                                     \
        return #name;
        LL_ERR_MAP(LL_ERR_CASE)
#undef LL_ERR_CASE
    }
    return "LL_E?";
}
