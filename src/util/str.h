/* Small string helpers that know nothing about mail. */
#ifndef BL_UTIL_STR_H
#define BL_UTIL_STR_H

#include <stddef.h>

/* bl_ascii_lower - lowercase ASCII letters of @s in place; other bytes unchanged. */
void bl_ascii_lower(char *s);

/* bl_strcaseeq - 1 if @a and @b are equal ignoring ASCII case, else 0. */
int bl_strcaseeq(const char *a, const char *b);

/*
 * bl_trim_span - find @s[0..@len) without leading and trailing ASCII spaces
 * and tabs. Stores the start offset in *@start and returns the trimmed length.
 */
size_t bl_trim_span(const char *s, size_t len, size_t *start);

/*
 * bl_trim_dup - copy of @s without leading/trailing ASCII whitespace (space,
 * tab, CR, LF). Caller frees. @s may be NULL (gives "").
 */
char *bl_trim_dup(const char *s);

/*
 * bl_parse_int64 - parse a whole decimal integer (optional sign) in
 * [@min, @max]. Returns 0 and sets *@out, or -BL_EINVAL (not a number)
 * / -BL_ELIMIT (out of range); *@out untouched on error.
 */
int bl_parse_int64(const char *s, long long min, long long max, long long *out);

/*
 * bl_slug_valid - whether @s is a list slug: 1..64 bytes of a-z, 0-9, '-'
 * and '_', starting with a letter or digit. Returns 1 or 0.
 */
int bl_slug_valid(const char *s);

/*
 * bl_url_mask_password - a copy of @s, one URL or a list of them separated
 * by commas or blanks, in which the password of every URL's userinfo
 * ("scheme://user:PASSWORD@host", RFC 3986 §3.2.1) is replaced by "***";
 * the user name and everything else stay. Text without "://" comes back
 * unchanged. For messages and dumps that show configured URLs. Caller
 * frees; never NULL (bl_xmalloc panics when memory runs out).
 */
char *bl_url_mask_password(const char *s);

/* bl_hex_digit - the value 0..15 of hexadecimal digit @c (either case), or -1. */
int bl_hex_digit(unsigned char c);

#endif
