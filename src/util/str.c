/* String helpers; see str.h. */
#include "util/str.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void bl_ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + ('a' - 'A'));
}

int bl_strcaseeq(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a, y = *b;
		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + 32);
		if (x != y)
			return 0;
		if (!x)
			return 1;
	}
}

size_t bl_trim_span(const char *s, size_t len, size_t *start)
{
	size_t a = 0, b = len;
	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	*start = a;
	return b - a;
}

char *bl_trim_dup(const char *s)
{
	if (!s)
		return bl_xstrdup("");
	size_t len = strlen(s);
	size_t a = 0, b = len;
	while (a < b && strchr(" \t\r\n", s[a]))
		a++;
	while (b > a && strchr(" \t\r\n", s[b - 1]))
		b--;
	return bl_xstrndup(s + a, b - a);
}

int bl_parse_int64(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s)
		return -BL_EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0' || end == s)
		return -BL_EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -BL_ELIMIT;
	*out = v;
	return 0;
}

int bl_slug_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		         (i > 0 && (c == '-' || c == '_'));
		if (!ok)
			return 0;
	}
	return 1;
}

int bl_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The length of the scheme and its ':' when @p starts with one of the schemes bulletin's
 * settings use (any case), else 0. */
static size_t known_scheme(const char *p)
{
	static const char *const schemes[] = {"smtp",       "smtps",    "maildir", "sqlite",
	                                      "postgresql", "postgres", "imap",    "imaps",
	                                      "pop3",       "pop3s",    "http",    "https"};
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	if (p[n] != ':')
		return 0;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strlen(schemes[i]) == n && strncasecmp(p, schemes[i], n) == 0)
			return n + 1;
	return 0;
}

const char *bl_url_list_next(const char *p)
{
	for (const char *c = strchr(p, ','); c; c = strchr(c + 1, ',')) {
		const char *q = c + 1 + strspn(c + 1, " \t");
		size_t n =
		    strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
		if (!*q || *q == ',' || known_scheme(q) || (n && strncmp(q + n, "://", 3) == 0))
			return c;
	}
	return NULL;
}

/* Append @p..@end to @b with the userinfo password replaced by "***". */
static void mask_item(struct bl_buf *b, const char *p, const char *end)
{
	const char *start = p;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	start += known_scheme(start);
	while (start < end && *start == '/')
		start++;
	const char *at = NULL, *colon = NULL;
	for (const char *c = start; c < end; c++)
		if (*c == '@')
			at = c; /* the last one: a raw '@' in a password */
	for (const char *c = start; at && c < at; c++)
		if (*c == ':') {
			colon = c;
			break;
		}
	if (!colon) {
		bl_buf_add(b, p, (size_t)(end - p));
		return;
	}
	bl_buf_add(b, p, (size_t)(colon + 1 - p));
	bl_buf_adds(b, "***");
	bl_buf_add(b, at, (size_t)(end - at));
}

char *bl_url_mask_password(const char *s)
{
	struct bl_buf b, out;
	bl_buf_init(&b, 0);
	for (const char *p = s;;) {
		const char *end = bl_url_list_next(p);
		if (!end)
			end = p + strlen(p);
		mask_item(&b, p, end);
		if (!*end)
			break;
		bl_buf_addc(&b, ',');
		p = end + 1;
	}
	/* A password given as a parameter: "?password=..." or libpq's "password=..." */
	bl_buf_init(&out, 0);
	const char *t = bl_buf_str(&b);
	for (const char *p = t; *p;) {
		int starts = p == t || strchr("?&; \t", p[-1]) != NULL;
		if (starts && strncasecmp(p, "password=", 9) == 0) {
			bl_buf_add(&out, p, 9);
			p += 9;
			if (*p == '\'') { /* libpq's quoting, with \' and \\ inside */
				for (p++; *p && *p != '\''; p++)
					if (*p == '\\' && p[1])
						p++;
				if (*p)
					p++;
			} else {
				p += strcspn(p, "& \t,");
			}
			bl_buf_adds(&out, "***");
			continue;
		}
		bl_buf_addc(&out, *p++);
	}
	int err = bl_buf_err(&b) || bl_buf_err(&out);
	bl_buf_finish(&b);
	if (err) { /* over 64 MiB: show nothing rather than a cut value */
		bl_buf_finish(&out);
		return bl_xstrdup("***");
	}
	return bl_buf_take(&out);
}
