/* Strict UTF-8 decoding; see utf8.h. */
#include "util/utf8.h"

#include "util/buf.h"

size_t bl_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	if (len == 0)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t n;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

int bl_utf8_valid(const void *p, size_t len, size_t *bad_at)
{
	const unsigned char *s = p;
	size_t i = 0;
	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = bl_utf8_decode(s + i, len - i, &cp);
		if (n == 0) {
			if (bad_at)
				*bad_at = i;
			return 0;
		}
		i += n;
	}
	return 1;
}

size_t bl_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return 0;
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp > 0x10FFFF)
		return 0;
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * The sequence at @s for bl_utf8_scrub: returns its length in bytes (a byte
 * that starts no well-formed sequence counts alone) and sets *@keep to 1
 * when it is copied, 0 when it becomes U+FFFD.
 */
static size_t scan_one(const unsigned char *s, size_t len, int *keep)
{
	uint32_t cp;
	unsigned char c = s[0];
	size_t n;
	if (c < 0x80) {
		*keep = (c >= 0x20 && c != 0x7F) || c == '\t' || c == '\n' || c == '\r';
		return 1;
	}
	if ((n = bl_utf8_decode(s, len, &cp)) == 0) {
		*keep = 0;
		return 1;
	}
	*keep = !((cp >= 0x80 && cp <= 0x9F) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
	          (cp & 0xFFFE) == 0xFFFE);
	return n;
}

int bl_utf8_clean(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;
	int keep;
	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7F) {
			i++;
			continue;
		}
		i += scan_one(s + i, len - i, &keep);
		if (!keep)
			return 0;
	}
	return 1;
}

int bl_utf8_scrub(const char *p, size_t len, struct bl_buf *out)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, run = 0, n;
	int keep;
	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7F) {
			i++;
			continue;
		}
		n = scan_one(s + i, len - i, &keep);
		if (!keep) {
			bl_buf_add(out, p + run, i - run);
			bl_buf_add(out, "\xEF\xBF\xBD", 3);
			run = i + n;
		}
		i += n;
	}
	bl_buf_add(out, p + run, len - run);
	return bl_buf_err(out);
}
