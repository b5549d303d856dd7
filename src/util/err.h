/* util/err.h: every error code of the node, its API string and HTTP status.
 * Owns:    the one table (LL_ERR_MAP); no code string appears anywhere else.
 * Threads: constant data, callable from any thread.
 *
 * Functions return 0 on success and a negative LL_E* on failure. Only the
 * API edge (net/http.c) turns a code into {"error":{"code":…,"message":…}}. */
#ifndef LL_UTIL_ERR_H
#define LL_UTIL_ERR_H

#include <stddef.h>

#define LL_ERR_MAP(X)                                                                              \
    X(LL_ENOMEM, -1, "internal_error", 500)                                                        \
    X(LL_EINTERNAL, -2, "internal_error", 500)                                                     \
    X(LL_ESTORE, -3, "internal_error", 500)                                                        \
    X(LL_ENOTFOUND, -4, "not_found", 404)                                                          \
    X(LL_EMETHOD, -5, "method_not_allowed", 405)                                                   \
    X(LL_EMALFORMED, -6, "malformed_json", 400)                                                    \
    X(LL_EBADTYPE, -7, "wrong_type", 400)                                                          \
    X(LL_EMISSING, -8, "missing_field", 400)                                                       \
    X(LL_EUNKNOWNFIELD, -9, "unknown_field", 400)                                                  \
    X(LL_EKIND, -10, "unknown_kind", 400)                                                          \
    X(LL_EBADHEX, -12, "bad_hex", 400)                                                             \
    X(LL_EBADSIG, -13, "bad_signature", 400)                                                       \
    X(LL_EBADNONCE, -14, "bad_nonce", 422)                                                         \
    X(LL_EFUNDS, -15, "insufficient_funds", 422)                                                   \
    X(LL_EMEMO, -16, "memo_too_long", 400)                                                         \
    X(LL_EOVERFLOW, -17, "integer_overflow", 400)                                                  \
    X(LL_EUNKNOWNASSET, -18, "unknown_asset", 422)                                                 \
    X(LL_EBADAMOUNT, -19, "bad_amount", 400)                                                       \
    X(LL_EBADADDRESS, -20, "bad_address", 400)                                                     \
    X(LL_EDUPLICATE, -21, "duplicate_transaction", 422)                                            \
    X(LL_ETOOLARGE, -22, "payload_too_large", 413)                                                 \
    X(LL_EHEADERS, -23, "headers_too_large", 431)                                                  \
    X(LL_ELENGTH, -24, "length_required", 411)                                                     \
    X(LL_EBADREQUEST, -25, "bad_request", 400)                                                     \
    X(LL_ETIMEOUT, -26, "request_timeout", 408)                                                    \
    X(LL_ESHUTDOWN, -27, "shutting_down", 503)                                                     \
    X(LL_EBUSY, -28, "mempool_full", 503)                                                          \
    X(LL_EBADPARAM, -29, "bad_parameter", 400)                                                     \
    X(LL_EBADASSET, -30, "bad_asset", 400)                                                         \
    X(LL_EBALANCEOVERFLOW, -31, "balance_overflow", 422)                                           \
    X(LL_EIO, -32, "internal_error", 500)                                                          \
    X(LL_ECONFIG, -33, "bad_config", 400)                                                          \
    X(LL_EUNAUTHORIZED, -34, "unauthorized", 401)                                                  \
    X(LL_EBADCREDENTIALS, -35, "bad_credentials", 401)                                             \
    X(LL_EUSERNAMETAKEN, -36, "username_taken", 409)                                               \
    X(LL_EMEDIATYPE, -37, "unsupported_media_type", 415)                                           \
    X(LL_ENOTACCEPTABLE, -38, "not_acceptable", 406)                                               \
    X(LL_EUPGRADE, -39, "upgrade_required", 426)                                                   \
    X(LL_EFORBIDDEN, -40, "forbidden", 403)                                                        \
    X(LL_EBADUSERNAME, -41, "bad_username", 400)                                                   \
    X(LL_EBADPASSWORD, -42, "bad_password", 400)                                                   \
    X(LL_EUNKNOWNUSER, -43, "unknown_recipient", 422)                                              \
    X(LL_EBADARGS, -44, "bad_args", 400)                                                           \
    X(LL_EGASLIMIT, -45, "bad_gas_limit", 422)                                                     \
    X(LL_EUNKNOWNCONTRACT, -46, "unknown_contract", 422)                                           \
    X(LL_ECANCELED, -47, "shutting_down", 503)                                                     \
    X(LL_ERATELIMIT, -48, "rate_limited", 429)                                                     \
    X(LL_EVERSION, -49, "http_version_not_supported", 505)                                         \
    X(LL_ETOOMANYPENDING, -50, "too_many_pending", 429)                                            \
    X(LL_EFEELOW, -51, "fee_too_low", 422)                                                         \
    X(LL_ETIMELIMIT, -52, "contract_time_limit", 429)                                              \
    X(LL_EUNAVAILABLE, -53, "unavailable", 503)

enum {
#define LL_ERR_ENUM(name, value, api, status) name = value,
    LL_ERR_MAP(LL_ERR_ENUM)
#undef LL_ERR_ENUM
};

/* The snake_case code clients see, e.g. "bad_nonce"; "internal_error" for
 * anything unknown. */
const char *ll_err_code(int err);

/* The HTTP status that answers err; 500 for anything unknown. */
int ll_err_status(int err);

/* The C name of err ("LL_EBADNONCE"), for logs and test failures. */
const char *ll_err_name(int err);

/* Room for the human-readable half of an error response. */
#define LL_ERRMSG_MAX 256

#endif
