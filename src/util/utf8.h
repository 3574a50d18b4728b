/*
 * UTF-8 checks (RFC 3629): strict decoding that refuses overlong forms,
 * surrogates and code points above U+10FFFF. Used wherever untrusted text
 * enters bulletin (addresses, CSV fields, config values).
 */
#ifndef BL_UTIL_UTF8_H
#define BL_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * bl_utf8_decode - decode the code point starting at @s (at most @len bytes).
 * Stores it in *@cp and returns its length in bytes (1..4), or 0 when the
 * bytes there are not well-formed UTF-8 (or @len is 0); *@cp is then untouched.
 */
size_t bl_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/*
 * bl_utf8_valid - whether @len bytes at @s are well-formed UTF-8.
 * Returns 1 if valid, else 0 with the byte offset of the first bad sequence
 * stored in *@bad_at (when @bad_at is not NULL).
 */
int bl_utf8_valid(const void *s, size_t len, size_t *bad_at);

/*
 * bl_utf8_encode - write code point @cp (<= U+10FFFF, not a surrogate) as
 * UTF-8 into @out (room for 4 bytes). Returns the byte count, 0 if invalid.
 */
size_t bl_utf8_encode(uint32_t cp, char out[4]);

#endif
