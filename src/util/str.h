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
 * bl_url_list_next - the ',' that ends the item of a comma-separated URL list (config
 * relay) starting at @p: the first one followed, after blanks, by the end, another ',', a
 * scheme bulletin knows (smtp, smtps, maildir, sqlite, postgres(ql), imap(s), pop3(s),
 * http(s), any case, then ':') or any scheme then "://". NULL when the item runs to the
 * end. A ',' followed by anything else belongs to the item: a password or a path may
 * hold one.
 */
const char *bl_url_list_next(const char *p);

/*
 * bl_url_mask_password - a copy of @s, a URL, a comma-separated list of them, or libpq's
 * key=value connection string, in which every password is "***". A list item ends at a
 * ',' followed by another URL (a known scheme, or any "scheme://"), so a ',' inside a
 * password stays in its item. Secrets: an item's userinfo password (RFC 3986 §3.2.1: from
 * the first ':' after "scheme:" and its slashes to the item's last '@', so a raw '@', ','
 * or blank in a password is covered; an item without a scheme is read the same way); in an
 * authority cut before its '@' ("smtp://u:SECRET"), what follows a ':' that is not a port;
 * and the value of a parameter whose name holds "pass" once percent-decoded ("password",
 * "sslpassword"; a URI's query or libpq's form, quoted or not). User names and hosts stay.
 * For messages and dumps that show configured URLs. Caller frees; never NULL.
 */
char *bl_url_mask_password(const char *s);

/*
 * bl_url_scrub - replace in @msg (in place; it only shrinks) every occurrence of a secret
 * of @url (as bl_url_mask_password finds them, 3 bytes or longer) by "***": for messages
 * of libraries that echo what they were given (libpq's URI errors). NULL-safe.
 */
void bl_url_scrub(char *msg, const char *url);

/* bl_hex_digit - the value 0..15 of hexadecimal digit @c (either case), or -1. */
int bl_hex_digit(unsigned char c);

#endif
