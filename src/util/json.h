/* util/json.h: the one set of jansson dump flags for everything sent.
 * Owns:    nothing. Threads: any.
 *
 * JSON_REAL_PRECISION(16) prints reals the way a reader expects:
 * 1780002999.123 rather than 1780002999.1229999 (jansson's default of 17
 * significant digits exposes the binary rounding), and 0.01 for 10000 units.
 * Reals only ever come from integer milliseconds or micro-units divided by
 * 10^3 or 10^6, which 16 digits render exactly. */
#ifndef LL_UTIL_JSON_H
#define LL_UTIL_JSON_H

#include <jansson.h>

#define LL_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(16))

#endif
