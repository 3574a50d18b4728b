/* String helpers; see str.h. */
#include "util/str.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdint.h>
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

/* The length of any scheme and "://" at @p ("ftp://"), else 0. */
static size_t slashed_scheme(const char *p)
{
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	return n && strncmp(p + n, "://", 3) == 0 ? n + 3 : 0;
}

/* The first ',' in @p that ends a list item: one followed, after blanks, by another URL,
 * or also (@empty_too) by the end or another ','. NULL when none. */
static const char *item_comma(const char *p, int empty_too)
{
	for (const char *c = strchr(p, ','); c; c = strchr(c + 1, ',')) {
		const char *q = c + 1 + strspn(c + 1, " \t");
		if ((empty_too && (!*q || *q == ',')) || known_scheme(q) || slashed_scheme(q))
			return c;
	}
	return NULL;
}

const char *bl_url_list_next(const char *p)
{
	return item_comma(p, 1);
}

/* A byte range of a string that holds a secret. */
struct span {
	size_t at, len;
};

#define MAX_SPANS 64

struct spans {
	struct span v[MAX_SPANS];
	size_t n;
	int overflow; /* more than MAX_SPANS: some are not listed */
};

static void add_span(struct spans *sp, size_t at, size_t len)
{
	if (sp->n == MAX_SPANS) {
		sp->overflow = 1;
		return;
	}
	sp->v[sp->n++] = (struct span){at, len};
}

/* 1 when the parameter name @k (@n bytes, percent-encoded) names a password: "password",
 * "sslpassword", "passwd" ... in any case. */
static int secret_key(const char *k, size_t n)
{
	char name[64];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof(name); i++) {
		int hi, lo;
		char ch = k[i];
		if (ch == '%' && i + 2 < n && (hi = bl_hex_digit((unsigned char)k[i + 1])) >= 0 &&
		    (lo = bl_hex_digit((unsigned char)k[i + 2])) >= 0) {
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		name[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	name[o] = '\0';
	return strstr(name, "pass") != NULL;
}

/* The secrets of the item @s[@a, @z) of a URL list (see bl_url_mask_password). */
static void item_spans(const char *s, size_t a, size_t z, struct spans *sp)
{
	size_t start = a;
	while (start < z && (s[start] == ' ' || s[start] == '\t'))
		start++;
	size_t k = known_scheme(s + start);
	int authority = slashed_scheme(s + start) != 0;
	if (!k)
		k = slashed_scheme(s + start);
	start += k;
	if (k && start < z && s[start] == '/')
		authority = 1;
	while (start < z && s[start] == '/')
		start++;
	size_t at = SIZE_MAX;
	for (size_t i = start; i < z; i++)
		if (s[i] == '@')
			at = i; /* the last one: a raw '@' in a password */
	if (at != SIZE_MAX) {
		for (size_t i = start; i < at; i++)
			if (s[i] == ':') {
				add_span(sp, i + 1, at - i - 1);
				break;
			}
	} else if (authority) {
		/* "smtp://u:SECRET" cut before its '@' (a list split inside a password): a ':' in
		 * the authority not followed by a port. */
		size_t i = start, depth = 0;
		for (; i < z && !strchr("/?#", s[i]); i++) {
			if (s[i] == '[')
				depth++;
			else if (s[i] == ']' && depth)
				depth--;
			else if (s[i] == ':' && !depth)
				break;
		}
		if (i < z && s[i] == ':') {
			size_t e = i + 1;
			while (e < z && !strchr("/?#", s[e]))
				e++;
			size_t digits = 0;
			while (i + 1 + digits < e && s[i + 1 + digits] >= '0' &&
			       s[i + 1 + digits] <= '9')
				digits++;
			if (digits != e - i - 1)
				add_span(sp, i + 1, e - i - 1);
		}
	}
	/* parameters: "?password=...", "&sslpassword=...", libpq's "password=..." */
	for (size_t i = a; i < z; i++) {
		if (!(i == a || strchr("?&; \t", s[i - 1])))
			continue;
		size_t n = 0;
		while (i + n < z && !strchr("=& \t", s[i + n]))
			n++;
		if (i + n >= z || s[i + n] != '=' || n == 0 || !secret_key(s + i, n))
			continue;
		size_t v = i + n + 1, e = v;
		if (e < z && s[e] == '\'') { /* libpq's quoting, with \' and \\ inside */
			for (e++; e < z && s[e] != '\''; e++)
				if (s[e] == '\\' && e + 1 < z)
					e++;
			if (e < z)
				e++;
		} else {
			while (e < z && !strchr("& \t", s[e]))
				e++;
		}
		add_span(sp, v, e - v);
		i = e > i ? e - 1 : i;
	}
}

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* Every secret of @s, sorted, overlaps merged. */
static void secret_spans(const char *s, struct spans *sp)
{
	memset(sp, 0, sizeof(*sp));
	size_t len = strlen(s);
	/* items split only before another URL: a ",," or a final "," stays in the item */
	for (size_t a = 0;;) {
		const char *c = item_comma(s + a, 0);
		size_t z = c ? (size_t)(c - s) : len;
		item_spans(s, a, z, sp);
		if (z >= len)
			break;
		a = z + 1;
	}
	qsort(sp->v, sp->n, sizeof(sp->v[0]), span_cmp);
	size_t o = 0;
	for (size_t i = 0; i < sp->n; i++) {
		if (o && sp->v[i].at <= sp->v[o - 1].at + sp->v[o - 1].len) {
			size_t end = sp->v[i].at + sp->v[i].len;
			if (end > sp->v[o - 1].at + sp->v[o - 1].len)
				sp->v[o - 1].len = end - sp->v[o - 1].at;
		} else {
			sp->v[o++] = sp->v[i];
		}
	}
	sp->n = o;
}

char *bl_url_mask_password(const char *s)
{
	struct spans sp;
	struct bl_buf b;
	secret_spans(s, &sp);
	bl_buf_init(&b, 0);
	size_t p = 0;
	for (size_t i = 0; i < sp.n; i++) {
		bl_buf_add(&b, s + p, sp.v[i].at - p);
		bl_buf_adds(&b, "***");
		p = sp.v[i].at + sp.v[i].len;
	}
	bl_buf_adds(&b, s + p);
	if (sp.overflow || bl_buf_err(&b)) { /* too many secrets, or over 64 MiB: show nothing
		                                 rather than a value half masked or cut */
		bl_buf_finish(&b);
		return bl_xstrdup("***");
	}
	return bl_buf_take(&b);
}

void bl_url_scrub(char *msg, const char *url)
{
	struct spans sp;
	if (!msg || !url)
		return;
	secret_spans(url, &sp);
	for (size_t i = 0; i < sp.n; i++) {
		size_t n = sp.v[i].len;
		const char *secret = url + sp.v[i].at;
		if (n < 3) /* "***" must not be longer than what it replaces */
			continue;
		for (char *c = msg; *c;) {
			if (strncmp(c, secret, n) == 0) {
				memcpy(c, "***", 3);
				memmove(c + 3, c + n, strlen(c + n) + 1);
				c += 3;
			} else {
				c++;
			}
		}
	}
}
