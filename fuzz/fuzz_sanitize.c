/*
 * libFuzzer harness for bl_html_sanitize and bl_html_to_text
 * (src/feed/sanitize.c). Invariants: no crash or sanitizer report; a
 * refusal is -BL_ELIMIT or -BL_EINVAL with a message and leaves the output
 * empty; an accepted output is a fixed point (sanitised again, with the
 * same base, it comes back byte for byte), holds no "<script" in any case,
 * its tags (scanned here from the bytes: text and attribute values hold no
 * raw '<' or '>') are allowlisted elements with allowlisted attributes in
 * double quotes, every href/src/cite is an http(s) or mailto URL (src:
 * https), it is valid UTF-8 without NUL, and it renders as text. The first byte picks the base URL
 * (https, http, none). Seeds: fuzz/seeds/sanitize; dictionary fuzz/sanitize.dict.
 */
#define _GNU_SOURCE /* strcasestr */
#include "feed/sanitize.h"
#include "util/buf.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int word_in(const char *s, size_t n, const char *list)
{
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && memcmp(p, s, n) == 0)
			return 1;
		p += k + (p[k] == ' ');
	}
	return 0;
}

/* 1 when every tag in @o is an allowed one (see the header comment). */
static int tags_ok(const char *o)
{
	static const char *const elems =
	    "a abbr b blockquote br caption cite code dd del div dl dt em figcaption figure h1 h2 "
	    "h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s small span strong sub sup table "
	    "tbody td tfoot th thead time tr u ul";
	static const char *const attrs =
	    "href title src alt width height colspan rowspan start datetime cite rel";
	for (const char *lt = strchr(o, '<'); lt; lt = strchr(lt + 1, '<')) {
		const char *gt = strchr(lt, '>'), *p = lt + 1;
		if (!gt)
			return 0;
		if (*p == '/')
			p++;
		size_t n = strcspn(p, " >");
		if (!word_in(p, n, elems))
			return 0;
		p += n;
		while (p < gt) {
			if (*p++ != ' ')
				return 0;
			const char *eq = strchr(p, '=');
			if (!eq || eq > gt || eq[1] != '"' || !word_in(p, (size_t)(eq - p), attrs))
				return 0;
			const char *v = eq + 2, *end = strchr(v, '"');
			if (!end || end > gt)
				return 0;
			int url = word_in(p, (size_t)(eq - p), "href src cite");
			if (url && strncmp(v, "https://", 8) != 0 &&
			    (strncmp(p, "src", 3) == 0 ||
			     (strncmp(v, "http://", 7) != 0 &&
			      (strncmp(p, "href", 4) != 0 || strncmp(v, "mailto:", 7) != 0))))
				return 0;
			p = end + 1;
		}
	}
	return 1;
}

static void fail(const char *what, const uint8_t *data, size_t size, const char *out)
{
	fprintf(stderr, "fuzz_sanitize: invariant broken: %s\ninput (%zu bytes):", what, size);
	for (size_t i = 0; i < size && i < 512; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "\noutput: %s\n", out ? out : "");
	abort();
}

#define CHECK(cond, what)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(what, data, size, bl_buf_str(&out));                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const bases[] = {"https://example.org/feed/item", "http://example.org/",
	                                    NULL};
	if (size == 0 || size > 64 * 1024)
		return 0;
	const char *base = bases[data[0] % 3];
	const char *html = (const char *)data + 1;
	size_t len = size - 1;
	struct bl_buf out, again, text;
	struct bl_diag d = {{0}};
	bl_buf_init(&out, 0);
	bl_buf_init(&again, 0);
	bl_buf_init(&text, 0);
	int rc = bl_html_sanitize(html, len, base, &out, &d);
	if (rc != 0) {
		CHECK(rc == -BL_ELIMIT || rc == -BL_EINVAL, "refusal is not ELIMIT/EINVAL");
		CHECK(d.msg[0] != '\0', "refusal without a message");
		CHECK(out.len == 0, "refusal left output");
	} else {
		const char *o = bl_buf_str(&out);
		CHECK(strlen(o) == out.len, "NUL in output");
		CHECK(bl_utf8_valid(o, out.len, NULL), "output is not UTF-8");
		CHECK(!strcasestr(o, "<script"), "<script in output");
		CHECK(tags_ok(o), "a tag, attribute or URL outside the allowlist");
		rc = bl_html_sanitize(o, out.len, base, &again, &d);
		CHECK(rc == 0, "output refused when sanitised again");
		CHECK(again.len == out.len && memcmp(bl_buf_str(&again), o, out.len) == 0,
		      "output is not a fixed point");
		rc = bl_html_to_text(o, out.len, &text);
		CHECK(rc == 0, "text rendering of the output failed");
	}
	bl_buf_reset(&text);
	rc = bl_html_to_text(html, len, &text);
	CHECK(rc == 0 || rc == -BL_ELIMIT, "text rendering of the input failed");
	bl_buf_finish(&out);
	bl_buf_finish(&again);
	bl_buf_finish(&text);
	return 0;
}
