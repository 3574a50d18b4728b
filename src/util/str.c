/* String helpers; see str.h. */
#include "util/str.h"

#include "util/err.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

char *bl_url_mask_password(const char *s)
{
	size_t n = strlen(s);
	char *out = bl_xmalloc(n * 2 + 4); /* each password of >= 1 byte becomes 3 */
	size_t o = 0;
	const char *p = s;
	for (const char *sep; (sep = strstr(p, "://"));) {
		const char *auth = sep + 3;
		size_t seg = strcspn(auth, ", \t\r\n"); /* to the next list item */
		const char *at = NULL, *colon = NULL;
		for (size_t i = 0; i < seg; i++)
			if (auth[i] == '@')
				at = auth + i; /* the last one: a raw '@' in a password */
		for (const char *c = auth; at && c < at; c++)
			if (*c == ':') {
				colon = c;
				break;
			}
		const char *keep_to = colon ? colon + 1 : auth + seg;
		memcpy(out + o, p, (size_t)(keep_to - p));
		o += (size_t)(keep_to - p);
		if (colon) {
			memcpy(out + o, "***", 3);
			o += 3;
			memcpy(out + o, at, (size_t)(auth + seg - at));
			o += (size_t)(auth + seg - at);
		}
		p = auth + seg;
	}
	memcpy(out + o, p, strlen(p) + 1);
	return out;
}
