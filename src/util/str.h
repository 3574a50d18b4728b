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

/* bl_hex_digit - the value 0..15 of hexadecimal digit @c (either case), or -1. */
int bl_hex_digit(unsigned char c);

#endif
