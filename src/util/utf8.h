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

struct bl_buf;

/*
 * bl_utf8_scrub - append @len bytes of @s to @out as text that HTML (WHATWG
 * §13.2.3.5: no control or noncharacter in the input stream) and XML 1.0
 * (§2.2 Char) both accept: each byte that does not start a well-formed
 * sequence, each control character other than TAB, LF and CR (U+0000-U+001F,
 * U+007F-U+009F) and each noncharacter (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF)
 * becomes U+FFFD; everything else is copied as is. Returns 0, or -BL_ELIMIT
 * when @out's limit is hit (its sticky error).
 */
int bl_utf8_scrub(const char *s, size_t len, struct bl_buf *out);

/* bl_utf8_clean - whether bl_utf8_scrub would copy @len bytes of @s unchanged: 1 or 0. */
int bl_utf8_clean(const char *s, size_t len);

#endif
