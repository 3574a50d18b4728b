/*
 * The application/x-www-form-urlencoded decoder of http.h (WHATWG URL §5.1):
 * split on '&', skip empty pieces, the first '=' splits name from value, '+'
 * is a space, %XX a byte. Stricter than the WHATWG parser, which keeps a bad
 * escape as it is and replaces bad UTF-8 with U+FFFD: bulletin refuses both,
 * and a decoded NUL, so a handler never works on a silently altered value.
 * One allocation per form: every decoded name and value lives in one block
 * that starts at f[0].name.
 */
#include "http/http.h"

#include "util/utf8.h"
#include "util/xalloc.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field @i's name for a message: the decoded name when it is printable
 * ASCII and short, else "number N". */
static const char *field_label(const char *name, size_t i, char out[80])
{
	size_t n = name ? strlen(name) : 0;
	int ok = name && n > 0 && n <= 40;
	for (size_t k = 0; ok && k < n; k++)
		ok = name[k] >= 0x20 && name[k] < 0x7f && name[k] != '"';
	if (ok)
		snprintf(out, 80, "\"%s\"", name);
	else
		snprintf(out, 80, "number %zu", i + 1);
	return out;
}

/*
 * Decodes @len bytes at @s ('+' and %XX) into @out, NUL-terminated; sets
 * *@outlen. Returns 0, 1 for a malformed escape, 2 for a decoded NUL, with
 * *@at the offset in @s of the bad escape.
 */
static int decode(const char *s, size_t len, char *out, size_t *outlen, size_t *at)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = bl_hex_digit((unsigned char)s[i + 1])) < 0 ||
			    (lo = bl_hex_digit((unsigned char)s[i + 2])) < 0) {
				*at = i;
				return 1;
			}
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0) {
				*at = i;
				return 2;
			}
			i += 2;
		} else if (c == 0) {
			*at = i;
			return 2;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

int bl_form_parse(const char *s, size_t len, struct bl_form *out, struct bl_diag *d)
{
	out->n = 0;
	/* First pass: count the non-empty pieces. */
	size_t pieces = 0;
	for (size_t i = 0; i < len;) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - s) : len;
		if (end > i)
			pieces++;
		i = end + 1;
	}
	if (pieces > BL_FORM_MAX_FIELDS)
		return bl_diag_set(d, BL_ELIMIT, "form: %zu fields, at most %d are taken", pieces,
		                   BL_FORM_MAX_FIELDS);
	if (pieces == 0)
		return 0;

	/* Decoded text is never longer than the input; two NULs per field. */
	char *block = bl_xmalloc(len + 2 * pieces);
	char *w = block;
	struct bl_form f;
	f.n = 0;
	int rc = 0;
	for (size_t i = 0; i < len;) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - s) : len;
		if (end == i) {
			i = end + 1;
			continue;
		}
		const char *piece = s + i;
		size_t plen = end - i;
		const char *eq = memchr(piece, '=', plen);
		size_t nlen = eq ? (size_t)(eq - piece) : plen;
		const char *val = eq ? eq + 1 : piece + plen;
		size_t vlen = eq ? plen - nlen - 1 : 0;
		struct bl_form_field *fl = &f.f[f.n];
		char label[80];
		size_t got, at = 0;

		fl->name = w;
		int e = decode(piece, nlen, w, &got, &at);
		if (e) {
			rc = bl_diag_set(
			    d, BL_EINVAL, "form field number %zu: %s in the name at byte %zu",
			    f.n + 1, e == 1 ? "malformed %-escape" : "NUL byte", i + at);
			break;
		}
		if (!bl_utf8_valid(w, got, NULL)) {
			rc = bl_diag_set(d, BL_EINVAL,
			                 "form field number %zu: the name is not UTF-8", f.n + 1);
			break;
		}
		w += got + 1;

		fl->value = w;
		e = decode(val, vlen, w, &got, &at);
		if (e) {
			rc = bl_diag_set(d, BL_EINVAL, "form field %s: %s in the value at byte %zu",
			                 field_label(fl->name, f.n, label),
			                 e == 1 ? "malformed %-escape" : "NUL byte",
			                 (size_t)(val - s) + at);
			break;
		}
		if (got > BL_FORM_MAX_VALUE) {
			rc = bl_diag_set(
			    d, BL_ELIMIT,
			    "form field %s: the value is %zu bytes, at most %u are taken",
			    field_label(fl->name, f.n, label), got, BL_FORM_MAX_VALUE);
			break;
		}
		if (!bl_utf8_valid(w, got, NULL)) {
			rc = bl_diag_set(d, BL_EINVAL, "form field %s: the value is not UTF-8",
			                 field_label(fl->name, f.n, label));
			break;
		}
		fl->value_len = got;
		w += got + 1;
		f.n++;
		i = end + 1;
	}
	if (rc) {
		free(block);
		return rc;
	}
	*out = f;
	return 0;
}

void bl_form_clear(struct bl_form *f)
{
	if (!f)
		return;
	if (f->n)
		free(f->f[0].name);
	f->n = 0;
}

const char *bl_form_get(const struct bl_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0)
			return f->f[i].value;
	return NULL;
}

size_t bl_form_get_all(const struct bl_form *f, const char *name, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n && n < max; i++)
		if (strcmp(f->f[i].name, name) == 0)
			out[n++] = f->f[i].value;
	return n;
}
