/*
 * Tests of the feed writers (src/feed/writer.c): sample feeds, hostile
 * strings included (markup, quotes, '&', CR/LF, ill-formed UTF-8, control
 * characters), are written as Atom and JSON Feed and read back by
 * tests/unit/check_feed.py (/usr/bin/python3): Atom through
 * python3-feedparser (bozo must be 0) and RFC 4287's rules, JSON Feed
 * through its 1.1 rules; titles, links, ids, dates and content must come
 * back as written (scrubbed). Then the raw bytes: markup escaped, never
 * raw; the empty feed; the size limit. Failures print got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed/writer.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define NASTY                                                                                      \
	"<script>alert(\"x\")</script> Tom & \"Jerry\" 'q' ]]> <![CDATA[ x ]]> "                   \
	"line\r\nbreak \xff\xfe bad \xc3 ctl \x01\x1b\x7f c1 \xc2\x85 non \xef\xbf\xbe "           \
	"\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 &amp; &#39; \\ \\u0000"

static const struct bl_feed_info info = {
    .id = "https://news.example.com/feed.atom",
    .title = "Example <News> & \"Co\" \xc3\xa9\xff",
    .home_url = "https://news.example.com/archive",
    .atom_url = "https://news.example.com/feed.atom",
    .json_url = "https://news.example.com/feed.json",
    .author = "Example & Co",
    .lang = "en",
    .updated = 1796000000,
};

static const struct bl_feed_entry entries[] = {
    {
        .id = "tag:news.example.com,2026-11-30:post-12-1796000000",
        .url = "https://news.example.com/archive/12-weekly-update-12",
        .title = "Weekly update #12",
        .html = "<h2>Hello</h2>\n<p>World &amp; more: <a href=\"https://example.org/?a=1&amp;b=2\">"
                "a link</a></p>\n",
        .published = 1796000000,
        .updated = 1796000000,
    },
    {
        .id = "tag:news.example.com,2026-11-29:post-11-1795900000",
        .url = "https://news.example.com/archive/11-script?a=1&b=\"2\"<x>",
        .title = NASTY,
        .html = "<p>" NASTY "</p><script>alert(1)</script>",
        .published = 1795900000,
        .updated = 1795950000,
    },
    {
        .id = "https://news.example.com/archive/3",
        .url = "https://news.example.com/archive/3-caf",
        .title = "Caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
        .html = "",
        .published = 0,
        .updated = 0,
    },
};
#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static char tmpdir[] = "/tmp/bl-test-feeds-XXXXXX";

static json_t *scrubbed(const char *s)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_utf8_scrub(s, strlen(s), &b);
	json_t *j = json_string(bl_buf_str(&b));
	bl_buf_finish(&b);
	return j;
}

/* What check_feed.py should read back: @f and its @n entries, scrubbed. */
static json_t *expectation(const struct bl_feed_info *f, const struct bl_feed_entry *e, size_t n)
{
	json_t *j = json_object(), *list = json_array();
	json_object_set_new(j, "id", scrubbed(f->id));
	json_object_set_new(j, "title", scrubbed(f->title));
	json_object_set_new(j, "home_url", scrubbed(f->home_url));
	json_object_set_new(j, "atom_url", scrubbed(f->atom_url));
	json_object_set_new(j, "json_url", scrubbed(f->json_url));
	json_object_set_new(j, "author", scrubbed(f->author));
	json_object_set_new(j, "lang", scrubbed(f->lang));
	json_object_set_new(j, "updated", json_integer(f->updated));
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_object();
		json_object_set_new(x, "id", scrubbed(e[i].id));
		json_object_set_new(x, "url", scrubbed(e[i].url));
		json_object_set_new(x, "title", scrubbed(e[i].title));
		json_object_set_new(x, "html", scrubbed(e[i].html));
		json_object_set_new(x, "published", json_integer(e[i].published));
		json_object_set_new(x, "updated", json_integer(e[i].updated));
		json_array_append_new(list, x);
	}
	json_object_set_new(j, "entries", list);
	return j;
}

/* Write @data and the expectation, run check_feed.py @kind; its output ("" when all
 * agree) or NULL when it could not run. malloc'd. */
static char *check_feed(const char *kind, const char *data, size_t len, json_t *want)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	char feed[300], exp[300], cmd[1200], chunk[4096];
	struct bl_buf out;
	size_t got;
	FILE *f;

	assert_non_null(root);
	if (access("/usr/bin/python3", X_OK) != 0)
		fail_msg("/usr/bin/python3 is missing (scripts/install-deps.sh --check)");
	snprintf(feed, sizeof(feed), "%s/feed.%s", tmpdir, kind);
	snprintf(exp, sizeof(exp), "%s/expect.json", tmpdir);
	f = fopen(feed, "wb");
	assert_non_null(f);
	fwrite(data, 1, len, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(json_dump_file(want, exp, 0), 0);
	snprintf(cmd, sizeof(cmd),
	         "/usr/bin/python3 '%s/tests/unit/check_feed.py' %s '%s' '%s' 2>&1", root, kind,
	         feed, exp);
	bl_buf_init(&out, 0);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&out, chunk, got);
	int status = pclose(f);
	if (status != 0 && out.len == 0)
		bl_buf_addf(&out, "check_feed.py exited with status %d\n", status);
	return bl_buf_take(&out);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void roundtrip(const char *kind, size_t n)
{
	struct bl_buf out;
	struct bl_diag d;
	struct bl_feed_info f = info;
	int rc;
	if (n == 0)
		f.updated = 0;
	bl_buf_init(&out, 0);
	rc = strcmp(kind, "atom") == 0 ? bl_feed_atom(&f, entries, n, &out, &d)
	                               : bl_feed_json(&f, entries, n, &out, &d);
	if (rc)
		fail_msg("%s: got %d (%s), want 0", kind, rc, d.msg);
	if (!bl_utf8_valid(bl_buf_str(&out), out.len, NULL))
		fail_msg("%s: the output is not UTF-8", kind);
	json_t *want = expectation(&f, entries, n);
	char *problems = check_feed(kind, bl_buf_str(&out), out.len, want);
	json_decref(want);
	if (*problems)
		fail_msg("%s feed of %zu entries:\n%s\n--- the feed:\n%s", kind, n, problems,
		         bl_buf_str(&out));
	free(problems);
	bl_buf_finish(&out);
}

static void test_atom(void **state)
{
	roundtrip("atom", N_ENTRIES);
}

static void test_json(void **state)
{
	roundtrip("json", N_ENTRIES);
}

static void test_empty(void **state)
{
	roundtrip("atom", 0);
	roundtrip("json", 0);
}

/* The raw bytes: markup from a title or a body never appears as markup. */
static void test_escaped(void **state)
{
	struct bl_buf out;
	struct bl_diag d;
	bl_buf_init(&out, 0);
	assert_int_equal(bl_feed_atom(&info, entries, N_ENTRIES, &out, &d), 0);
	const char *x = bl_buf_str(&out);
	if (strstr(x, "<script") || strstr(x, "<p>") || strstr(x, "<h2>") || strstr(x, "<News>") ||
	    strstr(x, "<x>") || strstr(x, "<![CDATA["))
		fail_msg("atom: markup came through unescaped:\n%s", x);
	if (!strstr(x, "&lt;script&gt;alert(") || !strstr(x, "&lt;h2&gt;Hello&lt;/h2&gt;") ||
	    !strstr(x, "Example &lt;News&gt; &amp; &quot;Co&quot;"))
		fail_msg("atom: escaped text missing:\n%s", x);
	if (!strstr(x, "href=\"https://news.example.com/archive/11-script?a=1&amp;b=&quot;2&quot;"
	               "&lt;x&gt;\""))
		fail_msg("atom: attribute not escaped:\n%s", x);
	/* The control characters are gone, and with them any way to end the document early. */
	for (const char *p = x; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
			fail_msg("atom: control byte 0x%02x at %zu", *p, (size_t)(p - x));

	bl_buf_reset(&out);
	assert_int_equal(bl_feed_json(&info, entries, N_ENTRIES, &out, &d), 0);
	json_error_t err;
	json_t *j = json_loads(bl_buf_str(&out), JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("json: not JSON: %s\n%s", err.text, bl_buf_str(&out));
	json_t *want = scrubbed(NASTY);
	json_t *it = json_array_get(json_object_get(j, "items"), 1);
	if (!json_equal(json_object_get(it, "title"), want))
		fail_msg("json: title: got %s, want %s",
		         json_string_value(json_object_get(it, "title")), json_string_value(want));
	json_decref(want);
	json_decref(j);
	bl_buf_finish(&out);
}

/* Over the output's limit: -BL_ELIMIT, for both. */
static void test_limit(void **state)
{
	struct bl_buf out;
	struct bl_diag d;
	bl_buf_init(&out, 200);
	assert_int_equal(bl_feed_atom(&info, entries, N_ENTRIES, &out, &d), -BL_ELIMIT);
	bl_buf_finish(&out);
	bl_buf_init(&out, 200);
	assert_int_equal(bl_feed_json(&info, entries, N_ENTRIES, &out, &d), -BL_ELIMIT);
	bl_buf_finish(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_atom),  cmocka_unit_test(test_json),
	    cmocka_unit_test(test_empty), cmocka_unit_test(test_escaped),
	    cmocka_unit_test(test_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
