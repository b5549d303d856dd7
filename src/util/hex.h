/* util/hex.h: lowercase hex, the only spelling of ids and addresses.
 * Owns:    nothing; thin wrappers over libsodium's constant-time codecs.
 * Threads: any. */
#ifndef LL_UTIL_HEX_H
#define LL_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*n lowercase hex digits and a NUL to out (room: 2*n+1). */
void ll_hex_encode(const uint8_t *bin, size_t n, char *out);

/* Decodes exactly n bytes from a string of exactly 2*n lowercase hex digits.
 * Returns 0, or LL_EBADHEX (wrong length, upper case, or not hex). */
int ll_hex_decode(const char *hex, uint8_t *out, size_t n);

/* 1 when s is exactly n lowercase hex digits, else 0. */
int ll_hex_is_lower(const char *s, size_t n);

#endif
