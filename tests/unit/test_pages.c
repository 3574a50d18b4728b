/*
 * Tests of the web pages (src/http/pages.c and the templates in
 * templates/web/): every page is rendered with sample data that puts a
 * hostile string (markup, quotes, '&', CR/LF, ill-formed UTF-8, control
 * characters, noncharacters) in every field, and the output is parsed by
 * html5lib in strict mode (tests/unit/check_html.py through
 * /usr/bin/python3), which also checks the page rules (lang, labels,
 * headings, no script or inline style, POST forms). Each field must come
 * back as written (scrubbed) where the page shows it. Then the forms of the
 * signup and preference pages, the override directory, errors with their
 * file:line, the stylesheet's ETag, renders from several threads, the
 * scrubber, the post slug and the web HTML of a post. Failures print got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/model.h"
#include "http/pages.h"
#include "send/compose.h"
#include "tmpl/tmpl.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

/* ---- hostile strings -------------------------------------------------------------------- */

/* Everything a field may hold that a page must survive. */
#define NASTY                                                                                      \
	"<script>alert(\"x\")</script> Tom & \"Jerry\" 'q' </p><h1>x</h1> {{tag}} "                \
	"line\r\nbreak \xff\xfe bad \xc3 ctl \x01\x1b\x7f c1 \xc2\x85 non \xef\xbf\xbe "           \
	"\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 &amp; &#39;"

/* A hostile value for field @tag: "[tag] " NASTY (malloc'd). */
static char *hostile(const char *tag)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b, "[%s] %s", tag, NASTY);
	return bl_buf_take(&b);
}

static struct bl_tval *hv(const char *tag)
{
	char *s = hostile(tag);
	struct bl_tval *v = bl_tval_string(s);
	free(s);
	return v;
}

/* What the page's text shows of @tag's value: scrubbed, whitespace runs made one space
 * (check_html.py collapses the text the same way). */
static char *want_text(const char *tag)
{
	char *s = hostile(tag), *o;
	struct bl_buf b;
	size_t n = 0;
	bl_buf_init(&b, 0);
	bl_utf8_scrub(s, strlen(s), &b);
	free(s);
	s = bl_buf_take(&b);
	o = bl_xmalloc(strlen(s) + 1);
	for (const char *p = s; *p; p++) {
		if (strchr(" \t\r\n\f\v", *p)) {
			if (n && o[n - 1] != ' ')
				o[n++] = ' ';
		} else {
			o[n++] = *p;
		}
	}
	while (n && o[n - 1] == ' ')
		n--;
	o[n] = '\0';
	free(s);
	return o;
}

/* What an attribute holding @tag's value reads as: scrubbed, CR LF and CR made LF (HTML's
 * input stream preprocessing). */
static char *want_attr(const char *tag)
{
	char *s = hostile(tag), *o;
	struct bl_buf b;
	size_t n = 0;
	bl_buf_init(&b, 0);
	bl_utf8_scrub(s, strlen(s), &b);
	free(s);
	s = bl_buf_take(&b);
	o = bl_xmalloc(strlen(s) + 1);
	for (const char *p = s; *p; p++) {
		if (*p == '\r') {
			o[n++] = '\n';
			if (p[1] == '\n')
				p++;
		} else {
			o[n++] = *p;
		}
	}
	o[n] = '\0';
	free(s);
	return o;
}

/* ---- sample data, one builder per page -------------------------------------------------- */

static struct bl_tval *s(const char *v)
{
	return bl_tval_string(v);
}

/* The data bl_web_page adds to every page. */
static void common(struct bl_tval *d)
{
	struct bl_tval *site = bl_tval_map();
	bl_tval_set(d, "lang", s("en"));
	bl_tval_set(d, "title", hv("title"));
	bl_tval_set(site, "name", hv("site"));
	bl_tval_set(site, "url", s("https://news.example.com"));
	bl_tval_set(d, "site", site);
	bl_tval_set(d, "stylesheet_url", s("/static/style.css?v=0123456789abcdef"));
	bl_tval_set(d, "home_url", s("/"));
	bl_tval_set(d, "archive_url", s("/archive"));
	bl_tval_set(d, "subscribe_url", s("/subscribe"));
}

static struct bl_tval *list_item(const char *slug, const char *tag, int checked)
{
	struct bl_tval *l = bl_tval_map();
	char t[64];
	bl_tval_set(l, "slug", s(slug));
	bl_tval_set(l, "name", hv(tag));
	snprintf(t, sizeof(t), "%s.description", tag);
	bl_tval_set(l, "description", hv(t));
	bl_tval_set(l, "checked", bl_tval_bool(checked));
	return l;
}

static struct bl_tval *d_index(void)
{
	struct bl_tval *d = bl_tval_map(), *lists = bl_tval_list();
	bl_tval_push(lists, list_item("news", "list1", 1));
	bl_tval_push(lists, list_item("x\"<y>&z", "list2", 0));
	bl_tval_set(d, "lists", lists);
	bl_tval_set(d, "form_token", hv("form_token"));
	bl_tval_set(d, "email", hv("email"));
	bl_tval_set(d, "name", hv("name"));
	bl_tval_set(d, "error", hv("error"));
	return d;
}

static struct bl_tval *d_check_inbox(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "email", hv("email"));
	return d;
}

static struct bl_tval *names(const char *a, const char *b)
{
	struct bl_tval *lists = bl_tval_list(), *l = bl_tval_map();
	bl_tval_set(l, "name", hv(a));
	bl_tval_push(lists, l);
	l = bl_tval_map();
	bl_tval_set(l, "name", hv(b));
	bl_tval_push(lists, l);
	return lists;
}

static struct bl_tval *d_confirm(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "action_url", s("/confirm/tok\"en<>&"));
	bl_tval_set(d, "lists", names("list1", "list2"));
	return d;
}

static struct bl_tval *d_confirmed(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "lists", names("list1", "list2"));
	bl_tval_set(d, "preferences_url", s("/preferences/tok\"en"));
	return d;
}

static struct bl_tval *d_confirm_expired(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "resend_url", s("/confirm/tok\"en/resend"));
	return d;
}

static struct bl_tval *d_empty(void)
{
	return bl_tval_map();
}

static struct bl_tval *d_unsubscribe(void)
{
	struct bl_tval *d = bl_tval_map(), *l = bl_tval_map();
	bl_tval_set(d, "action_url", s("/unsubscribe/tok'en"));
	bl_tval_set(d, "email", hv("email"));
	bl_tval_set(l, "name", hv("list"));
	bl_tval_set(d, "list", l);
	return d;
}

static struct bl_tval *d_unsubscribed(void)
{
	struct bl_tval *d = bl_tval_map(), *l = bl_tval_map();
	bl_tval_set(l, "name", hv("list"));
	bl_tval_set(d, "list", l);
	bl_tval_set(d, "preferences_url", s("/preferences/tok\"en"));
	return d;
}

static struct bl_tval *subscription(int id, const char *tag, int subscribed, const char *status,
                                    const char *mode)
{
	struct bl_tval *m = bl_tval_map();
	bl_tval_set(m, "id", bl_tval_number(id));
	bl_tval_set(m, "slug", s("slug"));
	bl_tval_set(m, "name", hv(tag));
	bl_tval_set(m, "subscribed", bl_tval_bool(subscribed));
	bl_tval_set(m, "status", s(status));
	bl_tval_set(m, "instant", bl_tval_bool(strcmp(mode, "instant") == 0));
	bl_tval_set(m, "daily", bl_tval_bool(strcmp(mode, "daily") == 0));
	bl_tval_set(m, "weekly", bl_tval_bool(strcmp(mode, "weekly") == 0));
	return m;
}

static struct bl_tval *d_preferences(void)
{
	struct bl_tval *d = bl_tval_map(), *subs = bl_tval_list();
	bl_tval_set(d, "action_url", s("/preferences/tok\"en"));
	bl_tval_set(d, "email", hv("email"));
	bl_tval_set(d, "name", hv("name"));
	bl_tval_set(d, "saved", bl_tval_bool(1));
	bl_tval_set(d, "error", hv("error"));
	bl_tval_set(d, "data_url", s("/preferences/tok\"en/data"));
	bl_tval_set(d, "erase_url", s("/preferences/tok\"en/erase"));
	bl_tval_push(subs, subscription(3, "sub3", 1, "confirmed", "daily"));
	bl_tval_push(subs, subscription(7, "sub7", 0, "unsubscribed", "weekly"));
	bl_tval_push(subs, subscription(9, "sub9", 0, "not subscribed", "instant"));
	bl_tval_set(d, "subscriptions", subs);
	return d;
}

static struct bl_tval *d_erase(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "action_url", s("/preferences/tok\"en/erase"));
	bl_tval_set(d, "email", hv("email"));
	return d;
}

static struct bl_tval *post_item(int id, const char *tag)
{
	struct bl_tval *p = bl_tval_map();
	char url[64];
	snprintf(url, sizeof(url), "/archive/%d-some-post", id);
	bl_tval_set(p, "id", bl_tval_number(id));
	bl_tval_set(p, "url", s(url));
	bl_tval_set(p, "subject", hv(tag));
	bl_tval_set(p, "date", s("29 November 2026"));
	bl_tval_set(p, "datetime", s("2026-11-29T10:09:36Z"));
	return p;
}

static struct bl_tval *d_archive(void)
{
	struct bl_tval *d = bl_tval_map(), *posts = bl_tval_list(), *l = bl_tval_map();
	bl_tval_push(posts, post_item(12, "post12"));
	bl_tval_push(posts, post_item(11, "post11"));
	bl_tval_set(d, "posts", posts);
	bl_tval_set(l, "slug", s("news"));
	bl_tval_set(l, "name", hv("list"));
	bl_tval_set(l, "description", hv("list.description"));
	bl_tval_set(d, "list", l);
	bl_tval_set(d, "older_url", s("/lists/news/archive?before=11&x=\"y\""));
	bl_tval_set(d, "feed_atom_url", s("/lists/news/feed.atom"));
	bl_tval_set(d, "feed_json_url", s("/lists/news/feed.json"));
	return d;
}

static struct bl_tval *d_archive_all_empty(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "posts", bl_tval_list());
	bl_tval_set(d, "feed_atom_url", s("/feed.atom"));
	bl_tval_set(d, "feed_json_url", s("/feed.json"));
	return d;
}

static struct bl_tval *d_archive_post(void)
{
	struct bl_tval *d = bl_tval_map(), *p = bl_tval_map(), *lists = bl_tval_list(), *l;
	bl_tval_set(p, "id", bl_tval_number(12));
	bl_tval_set(p, "subject", hv("subject"));
	bl_tval_set(
	    p, "html",
	    s("<h2>Inside</h2><p>Body &amp; <a href=\"https://example.com/\">link</a></p>"));
	bl_tval_set(p, "date", s("29 November 2026"));
	bl_tval_set(p, "datetime", s("2026-11-29T10:09:36Z"));
	bl_tval_set(d, "post", p);
	l = bl_tval_map();
	bl_tval_set(l, "slug", s("news"));
	bl_tval_set(l, "name", hv("list"));
	bl_tval_set(l, "url", s("/lists/news/archive"));
	bl_tval_push(lists, l);
	bl_tval_set(d, "lists", lists);
	return d;
}

static struct bl_tval *d_error(void)
{
	struct bl_tval *d = bl_tval_map();
	bl_tval_set(d, "status", bl_tval_number(404));
	bl_tval_set(d, "heading", hv("heading"));
	bl_tval_set(d, "message", hv("message"));
	return d;
}

/* One page rendering and what its text must show (the tags of hostile fields). */
struct page_case {
	const char *file; /* output file base name */
	const char *page;
	struct bl_tval *(*data)(void);
	const char *shows[8]; /* tags whose hostile value the page's text holds */
};

static const struct page_case cases[] = {
    {"index", "index", d_index, {"site", "error", "list1", "list1.description", "list2"}},
    {"check_inbox", "check_inbox", d_check_inbox, {"site", "email"}},
    {"confirm", "confirm", d_confirm, {"site", "list1", "list2"}},
    {"confirmed", "confirmed", d_confirmed, {"site", "list1", "list2"}},
    {"confirm_expired", "confirm_expired", d_confirm_expired, {"site"}},
    {"confirm_resent", "confirm_resent", d_empty, {"site"}},
    {"unsubscribe", "unsubscribe", d_unsubscribe, {"site", "email", "list"}},
    {"unsubscribed", "unsubscribed", d_unsubscribed, {"site", "list"}},
    {"preferences",
     "preferences",
     d_preferences,
     {"site", "error", "email", "sub3", "sub7", "sub9"}},
    {"erase", "erase", d_erase, {"site", "email"}},
    {"erased", "erased", d_empty, {"site"}},
    {"archive", "archive", d_archive, {"site", "list", "list.description", "post12", "post11"}},
    {"archive_empty", "archive", d_archive_all_empty, {"site"}},
    {"archive_post", "archive_post", d_archive_post, {"site", "subject", "list"}},
    {"error", "error", d_error, {"site", "heading", "message"}},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* ---- running check_html.py -------------------------------------------------------------- */

static char tmpdir[] = "/tmp/bl-test-pages-XXXXXX";

static char *render_page(const struct bl_pages *p, const struct page_case *c)
{
	struct bl_tval *d = c->data();
	struct bl_buf out;
	struct bl_diag diag;
	int rc;
	common(d);
	bl_buf_init(&out, 0);
	rc = bl_pages_render(p, c->page, d, &out, &diag);
	if (rc != 0)
		print_error("render %s: got %d (%s), want 0\n", c->page, rc, diag.msg);
	assert_int_equal(rc, 0);
	bl_tval_destroy(d);
	return bl_buf_take(&out);
}

static char *write_tmp(const char *name, const char *data)
{
	char *path = bl_xmalloc(strlen(tmpdir) + strlen(name) + 8);
	sprintf(path, "%s/%s.html", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(data, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* check_html.py over @n files; the parsed JSON summary (json_decref it). */
static json_t *check_html(char **paths, size_t n)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	struct bl_buf cmd, out;
	char chunk[65536];
	size_t got;
	json_error_t err;
	json_t *j;

	assert_non_null(root);
	if (access("/usr/bin/python3", X_OK) != 0)
		fail_msg("/usr/bin/python3 is missing (scripts/install-deps.sh --check)");
	bl_buf_init(&cmd, 0);
	bl_buf_init(&out, 0);
	bl_buf_addf(&cmd, "/usr/bin/python3 '%s/tests/unit/check_html.py'", root);
	for (size_t i = 0; i < n; i++)
		bl_buf_addf(&cmd, " '%s'", paths[i]);
	FILE *p = popen(bl_buf_str(&cmd), "r");
	assert_non_null(p);
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0)
		bl_buf_add(&out, chunk, got);
	int status = pclose(p);
	if (status != 0)
		fail_msg("check_html.py failed (status %d): %s", status, bl_buf_str(&out));
	j = json_loads(bl_buf_str(&out), 0, &err);
	if (!j)
		fail_msg("check_html.py printed no JSON: %s\n%s", err.text, bl_buf_str(&out));
	bl_buf_finish(&cmd);
	bl_buf_finish(&out);
	return j;
}

static int fails;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error(__VA_ARGS__);                                                  \
			print_error("\n");                                                         \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "(none)";
}

/* The form control of @summary's forms whose attribute @attr is @value (the @nth such). */
static json_t *control(json_t *summary, const char *attr, const char *value, int nth)
{
	size_t i, k;
	json_t *f, *c;
	json_array_foreach(json_object_get(summary, "forms"), i, f)
	{
		json_array_foreach(json_object_get(f, "controls"), k, c)
		{
			const char *v =
			    json_string_value(json_object_get(json_object_get(c, "attrs"), attr));
			if (v && strcmp(v, value) == 0 && nth-- == 0)
				return c;
		}
	}
	return NULL;
}

/* Attribute @attr of control @c, "(none)" when absent. */
static const char *cattr(json_t *c, const char *attr)
{
	const char *v =
	    c ? json_string_value(json_object_get(json_object_get(c, "attrs"), attr)) : NULL;
	return v ? v : "(none)";
}

static int has_attr(json_t *c, const char *attr)
{
	return c && json_object_get(json_object_get(c, "attrs"), attr) != NULL;
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

static struct bl_pages *pages;

static int setup(void **state)
{
	struct bl_diag d;
	if (!mkdtemp(tmpdir))
		return -1;
	if (bl_pages_create(NULL, &pages, &d) != 0) {
		fprintf(stderr, "bl_pages_create: %s\n", d.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	bl_pages_destroy(pages);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Every page with hostile data: strict HTML5, the page rules, the fields shown as written. */
static void test_every_page(void **state)
{
	char *paths[N_CASES];
	json_t *res;
	fails = 0;
	for (size_t i = 0; i < N_CASES; i++) {
		char *html = render_page(pages, &cases[i]);
		paths[i] = write_tmp(cases[i].file, html);
		CHECK(!strstr(html, "<script>") && !strstr(html, "<h1>x</h1>"),
		      "%s: hostile markup came through unescaped", cases[i].file);
		CHECK(bl_utf8_clean(html, strlen(html)),
		      "%s: the output holds ill-formed UTF-8 or a control character",
		      cases[i].file);
		free(html);
	}
	res = check_html(paths, N_CASES);
	for (size_t i = 0; i < N_CASES; i++) {
		const struct page_case *c = &cases[i];
		json_t *sum = json_object_get(res, paths[i]), *pr;
		const char *text = jstr(sum, "text");
		size_t k;
		CHECK(sum, "%s: no summary", c->file);
		json_array_foreach(json_object_get(sum, "problems"), k, pr)
		    CHECK(0, "%s: %s", c->file, json_string_value(pr));
		CHECK(streq(jstr(sum, "lang"), "en"), "%s: lang: got %s, want en", c->file,
		      jstr(sum, "lang"));
		char *title = want_text("title");
		CHECK(strstr(jstr(sum, "title"), title),
		      "%s: title: got \"%s\", want it to hold \"%s\"", c->file, jstr(sum, "title"),
		      title);
		free(title);
		json_t *css = json_array_get(json_object_get(sum, "stylesheets"), 0);
		CHECK(streq(json_string_value(css), "/static/style.css?v=0123456789abcdef"),
		      "%s: stylesheet: got %s", c->file, json_string_value(css));
		for (size_t t = 0; t < 8 && c->shows[t]; t++) {
			char *want = want_text(c->shows[t]);
			CHECK(strstr(text, want),
			      "%s: text does not show field [%s]:\n got: %s\nwant: %s", c->file,
			      c->shows[t], text, want);
			free(want);
		}
	}
	json_decref(res);
	for (size_t i = 0; i < N_CASES; i++)
		free(paths[i]);
	assert_int_equal(fails, 0);
}

/* The signup form: fields, checkboxes as the data says, the honeypot, hostile values intact. */
static void test_index_form(void **state)
{
	char *html = render_page(pages, &cases[0]), *path = write_tmp("index_form", html);
	json_t *res = check_html(&path, 1), *sum = json_object_get(res, path), *form, *c;
	char *email = want_attr("email"), *name = want_attr("name"),
	     *token = want_attr("form_token");
	fails = 0;
	form = json_array_get(json_object_get(sum, "forms"), 0);
	CHECK(json_array_size(json_object_get(sum, "forms")) == 1, "forms: got %zu, want 1",
	      json_array_size(json_object_get(sum, "forms")));
	CHECK(streq(jstr(form, "method"), "post"), "method: got %s", jstr(form, "method"));
	CHECK(streq(jstr(form, "action"), "/subscribe"), "action: got %s", jstr(form, "action"));
	c = control(sum, "name", "email", 0);
	CHECK(streq(cattr(c, "type"), "email"), "email type: got %s", cattr(c, "type"));
	CHECK(has_attr(c, "required"), "email: not required");
	CHECK(streq(cattr(c, "autocomplete"), "email"), "email autocomplete: got %s",
	      cattr(c, "autocomplete"));
	CHECK(streq(cattr(c, "value"), email), "email value:\n got: %s\nwant: %s",
	      cattr(c, "value"), email);
	c = control(sum, "name", "name", 0);
	CHECK(streq(cattr(c, "value"), name), "name value:\n got: %s\nwant: %s", cattr(c, "value"),
	      name);
	CHECK(!has_attr(c, "required"), "name: required, want optional");
	c = control(sum, "name", "form_token", 0);
	CHECK(streq(cattr(c, "type"), "hidden"), "form_token type: got %s", cattr(c, "type"));
	CHECK(streq(cattr(c, "value"), token), "form_token value:\n got: %s\nwant: %s",
	      cattr(c, "value"), token);
	c = control(sum, "name", "list", 0);
	CHECK(streq(cattr(c, "type"), "checkbox") && streq(cattr(c, "value"), "news") &&
	          has_attr(c, "checked"),
	      "first list: got type %s value %s checked %d, want checkbox news checked",
	      cattr(c, "type"), cattr(c, "value"), has_attr(c, "checked"));
	c = control(sum, "name", "list", 1);
	CHECK(streq(cattr(c, "value"), "x\"<y>&z") && !has_attr(c, "checked"),
	      "second list: got value %s checked %d, want x\"<y>&z unchecked", cattr(c, "value"),
	      has_attr(c, "checked"));
	c = control(sum, "name", "website", 0);
	CHECK(c, "no honeypot input");
	CHECK(streq(cattr(c, "tabindex"), "-1") && streq(cattr(c, "autocomplete"), "off") &&
	          streq(cattr(c, "value"), ""),
	      "honeypot: tabindex %s autocomplete %s value %s", cattr(c, "tabindex"),
	      cattr(c, "autocomplete"), cattr(c, "value"));
	CHECK(c && streq(json_string_value(json_object_get(c, "hidden_in")), "hp"),
	      "honeypot: not inside an aria-hidden container of class hp");
	c = control(sum, "type", "submit", 0);
	CHECK(c && streq(jstr(c, "text"), "Subscribe"), "submit button: got %s",
	      c ? jstr(c, "text") : "none");
	json_decref(res);
	free(html);
	free(path);
	free(email);
	free(name);
	free(token);
	assert_int_equal(fails, 0);
}

/* One list only: still a checkbox, checked (the data says so). No list: a message. */
static void test_index_lists(void **state)
{
	struct bl_tval *d = bl_tval_map(), *lists = bl_tval_list();
	struct bl_buf out;
	struct bl_diag diag;
	char *paths[2];
	fails = 0;
	bl_tval_push(lists, list_item("only", "only", 1));
	bl_tval_set(d, "lists", lists);
	common(d);
	bl_buf_init(&out, 0);
	assert_int_equal(bl_pages_render(pages, "index", d, &out, &diag), 0);
	bl_tval_destroy(d);
	paths[0] = write_tmp("index_one", bl_buf_str(&out));
	bl_buf_reset(&out);
	d = bl_tval_map();
	bl_tval_set(d, "lists", bl_tval_list());
	common(d);
	assert_int_equal(bl_pages_render(pages, "index", d, &out, &diag), 0);
	bl_tval_destroy(d);
	paths[1] = write_tmp("index_none", bl_buf_str(&out));
	bl_buf_finish(&out);
	json_t *res = check_html(paths, 2), *sum, *pr;
	size_t k;
	sum = json_object_get(res, paths[0]);
	json_array_foreach(json_object_get(sum, "problems"), k, pr)
	    CHECK(0, "one list: %s", json_string_value(pr));
	json_t *c = control(sum, "name", "list", 0);
	CHECK(streq(cattr(c, "type"), "checkbox") && has_attr(c, "checked"),
	      "one list: got type %s checked %d, want a checked checkbox", cattr(c, "type"),
	      has_attr(c, "checked"));
	CHECK(!control(sum, "name", "list", 1), "one list: a second list input");
	sum = json_object_get(res, paths[1]);
	json_array_foreach(json_object_get(sum, "problems"), k, pr)
	    CHECK(0, "no list: %s", json_string_value(pr));
	CHECK(strstr(jstr(sum, "text"), "nothing to subscribe to"), "no list: text %s",
	      jstr(sum, "text"));
	json_decref(res);
	free(paths[0]);
	free(paths[1]);
	assert_int_equal(fails, 0);
}

/* The preference centre: name, per list a checkbox and a select with the mode chosen, links. */
static void test_preferences_form(void **state)
{
	char *html = render_page(pages, &cases[8]), *path = write_tmp("prefs_form", html);
	json_t *res = check_html(&path, 1), *sum = json_object_get(res, path), *c;
	char *name = want_attr("name");
	static const struct {
		const char *id, *mode_name, *mode;
		int checked;
	} want[] = {{"3", "mode_3", "daily", 1},
	            {"7", "mode_7", "weekly", 0},
	            {"9", "mode_9", "instant", 0}};
	fails = 0;
	CHECK(streq(jstr(json_array_get(json_object_get(sum, "forms"), 0), "action"),
	            "/preferences/tok\"en"),
	      "action: got %s", jstr(json_array_get(json_object_get(sum, "forms"), 0), "action"));
	c = control(sum, "name", "name", 0);
	CHECK(streq(cattr(c, "value"), name), "name value:\n got: %s\nwant: %s", cattr(c, "value"),
	      name);
	for (size_t i = 0; i < 3; i++) {
		c = control(sum, "name", "list", (int)i);
		CHECK(streq(cattr(c, "type"), "checkbox") && streq(cattr(c, "value"), want[i].id),
		      "list %zu: got type %s value %s, want checkbox %s", i, cattr(c, "type"),
		      cattr(c, "value"), want[i].id);
		CHECK(has_attr(c, "checked") == want[i].checked, "list %s: checked %d, want %d",
		      want[i].id, has_attr(c, "checked"), want[i].checked);
		c = control(sum, "name", want[i].mode_name, 0);
		json_t *sel = c ? json_object_get(c, "selected") : NULL;
		CHECK(c && streq(jstr(c, "tag"), "select"), "%s: no select", want[i].mode_name);
		CHECK(json_array_size(sel) == 1 &&
		          streq(json_string_value(json_array_get(sel, 0)), want[i].mode),
		      "%s: selected %s, want %s", want[i].mode_name,
		      json_string_value(json_array_get(sel, 0)), want[i].mode);
		json_t *opts = c ? json_object_get(c, "options") : NULL;
		CHECK(json_array_size(opts) == 3 &&
		          streq(json_string_value(json_array_get(opts, 0)), "instant") &&
		          streq(json_string_value(json_array_get(opts, 1)), "daily") &&
		          streq(json_string_value(json_array_get(opts, 2)), "weekly"),
		      "%s: options are not instant, daily, weekly", want[i].mode_name);
	}
	int data = 0, erase = 0;
	size_t k;
	json_t *l;
	json_array_foreach(json_object_get(sum, "links"), k, l)
	{
		data |= streq(json_string_value(l), "/preferences/tok\"en/data");
		erase |= streq(json_string_value(l), "/preferences/tok\"en/erase");
	}
	CHECK(data && erase, "links: data %d erase %d, want both", data, erase);
	CHECK(strstr(jstr(sum, "text"), "Download my data") &&
	          strstr(jstr(sum, "text"), "Erase me"),
	      "the data links are not named");
	json_decref(res);
	free(html);
	free(path);
	free(name);
	assert_int_equal(fails, 0);
}

/* The archive: links to the posts, the older page, the feeds in the page and in <head>. */
static void test_archive_links(void **state)
{
	char *html = render_page(pages, &cases[11]), *path = write_tmp("archive_links", html);
	json_t *res = check_html(&path, 1), *sum = json_object_get(res, path), *l;
	int post12 = 0, older = 0, atom = 0, json = 0;
	size_t k;
	fails = 0;
	json_array_foreach(json_object_get(sum, "links"), k, l)
	{
		post12 |= streq(json_string_value(l), "/archive/12-some-post");
		older |= streq(json_string_value(l), "/lists/news/archive?before=11&x=\"y\"");
		atom |= streq(json_string_value(l), "/lists/news/feed.atom");
		json |= streq(json_string_value(l), "/lists/news/feed.json");
	}
	CHECK(post12 && older && atom && json, "links: post %d older %d atom %d json %d", post12,
	      older, atom, json);
	json_t *alt = json_object_get(sum, "alternates");
	CHECK(json_array_size(alt) == 2 &&
	          streq(json_string_value(json_array_get(json_array_get(alt, 0), 0)),
	                "application/atom+xml") &&
	          streq(json_string_value(json_array_get(json_array_get(alt, 1), 1)),
	                "/lists/news/feed.json"),
	      "feed <link rel=alternate> missing or wrong");
	json_decref(res);
	free(html);
	free(path);
	assert_int_equal(fails, 0);
}

static void write_file(const char *dir, const char *name, const char *data)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

/* templates_dir: a file there replaces the built-in one; errors name the file and line. */
static void test_override(void **state)
{
	char dir[300], want[400];
	struct bl_pages *p = NULL;
	struct bl_diag d;
	struct bl_tval *data;
	struct bl_buf out;
	const char *etag1, *etag2, *css;
	size_t len;
	int rc;

	snprintf(dir, sizeof(dir), "%s/override", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(dir, "error.html.mustache", "<h1>Oops {{status}}</h1><p>{{message}}</p>\n");
	write_file(dir, "style.css", "body { color: black; }\n");
	assert_int_equal(bl_pages_create(dir, &p, &d), 0);
	data = bl_tval_map();
	bl_tval_set(data, "status", bl_tval_number(404));
	bl_tval_set(data, "message", s("a & b"));
	common(data);
	bl_buf_init(&out, 0);
	assert_int_equal(bl_pages_render(p, "error", data, &out, &d), 0);
	bl_tval_destroy(data);
	if (!strstr(bl_buf_str(&out), "<h1>Oops 404</h1><p>a &amp; b</p>") ||
	    !strstr(bl_buf_str(&out), "<!DOCTYPE html>"))
		fail_msg("override not used or layout lost: got\n%s", bl_buf_str(&out));
	/* Others stay built-in. */
	bl_buf_reset(&out);
	data = bl_tval_map();
	common(data);
	assert_int_equal(bl_pages_render(p, "erased", data, &out, &d), 0);
	bl_tval_destroy(data);
	assert_non_null(strstr(bl_buf_str(&out), "Your data is erased"));
	bl_buf_finish(&out);
	css = bl_pages_stylesheet(p, &len, &etag1);
	assert_string_equal(css, "body { color: black; }\n");
	assert_int_equal(len, strlen(css));
	bl_pages_stylesheet(pages, &len, &etag2);
	assert_int_equal(strlen(etag1), 18);
	assert_true(etag1[0] == '"' && etag1[17] == '"');
	assert_string_not_equal(etag1, etag2);
	bl_pages_destroy(p);

	/* A syntax error: the file and its line. */
	write_file(dir, "confirm.html.mustache", "<h1>x</h1>\n<p>\n{{#lists}}\n");
	p = NULL;
	rc = bl_pages_create(dir, &p, &d);
	snprintf(want, sizeof(want), "%s/confirm.html.mustache:", dir);
	if (rc != -BL_EINVAL || !strstr(d.msg, want))
		fail_msg("syntax error: got %d \"%s\", want %d and a message naming %s", rc, d.msg,
		         -BL_EINVAL, want);
	assert_null(p);
	snprintf(want, sizeof(want), "%s/confirm.html.mustache:3", dir);
	if (!strstr(d.msg, want))
		fail_msg("syntax error: got \"%s\", want line 3 (%s)", d.msg, want);
	snprintf(want, sizeof(want), "%s/confirm.html.mustache", dir);
	unlink(want);

	/* An unreadable override (a directory in its place): -BL_EIO. */
	snprintf(want, sizeof(want), "%s/layout.html.mustache", dir);
	assert_int_equal(mkdir(want, 0700), 0);
	rc = bl_pages_create(dir, &p, &d);
	if (rc != -BL_EIO || !strstr(d.msg, "layout.html.mustache"))
		fail_msg("unreadable override: got %d \"%s\", want %d", rc, d.msg, -BL_EIO);
	rmdir(want);

	/* A missing directory. */
	snprintf(want, sizeof(want), "%s/nope", tmpdir);
	rc = bl_pages_create(want, &p, &d);
	if (rc != -BL_EIO || !strstr(d.msg, "nope"))
		fail_msg("missing templates_dir: got %d \"%s\", want %d", rc, d.msg, -BL_EIO);
}

static void test_unknown_page(void **state)
{
	struct bl_tval *d = bl_tval_map();
	struct bl_buf out;
	struct bl_diag diag;
	bl_buf_init(&out, 0);
	assert_int_equal(bl_pages_render(pages, "nope", d, &out, &diag), -BL_ENOENT);
	assert_int_equal(bl_pages_render(pages, "layout", d, &out, &diag), -BL_ENOENT);
	assert_int_equal(out.len, 0);
	/* Past the output's limit: -BL_ELIMIT. */
	struct bl_buf small;
	bl_buf_init(&small, 100);
	common(d);
	assert_int_equal(bl_pages_render(pages, "erased", d, &small, &diag), -BL_ELIMIT);
	bl_buf_finish(&small);
	bl_buf_finish(&out);
	bl_tval_destroy(d);
}

/* Threads share one struct bl_pages: every render gives the same bytes. */
struct thread_arg {
	const char *want;
	int bad;
};

static void *render_loop(void *arg)
{
	struct thread_arg *a = arg;
	for (int i = 0; i < 200; i++) {
		char *got = render_page(pages, &cases[8]);
		if (strcmp(got, a->want) != 0)
			a->bad++;
		free(got);
	}
	return NULL;
}

static void test_threads(void **state)
{
	char *want = render_page(pages, &cases[8]);
	pthread_t t[4];
	struct thread_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){want, 0};
		assert_int_equal(pthread_create(&t[i], NULL, render_loop, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].bad, 0);
	}
	free(want);
}

/* bl_utf8_scrub, table-driven. */
static void test_scrub(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"plain ascii", "plain ascii"},
	    {"tab\tlf\ncr\r", "tab\tlf\ncr\r"},
	    {"nul-free \x01\x08\x0b\x0c\x1f\x7f", "nul-free \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                                          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xc2\x80\xc2\x9f\xc2\xa0", "\xef\xbf\xbd\xef\xbf\xbd\xc2\xa0"},
	    {"\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xef\xb7\x90\xef\xb7\xaf\xef\xb7\xb0", "\xef\xbf\xbd\xef\xbf\xbd\xef\xb7\xb0"},
	    {"\xf0\x9f\xbf\xbe|\xf4\x8f\xbf\xbf|\xf0\x9f\x98\x80",
	     "\xef\xbf\xbd|\xef\xbf\xbd|\xf0\x9f\x98\x80"},
	    {"\xff", "\xef\xbf\xbd"},
	    {"a\xc3", "a\xef\xbf\xbd"},
	    {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
	    {"\xc3\xa9\xe4\xb8\xad", "\xc3\xa9\xe4\xb8\xad"},
	    {"", ""},
	};
	struct bl_buf b;
	int bad = 0;
	bl_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bl_buf_reset(&b);
		assert_int_equal(bl_utf8_scrub(t[i].in, strlen(t[i].in), &b), 0);
		if (strcmp(bl_buf_str(&b), t[i].want) != 0) {
			print_error("scrub case %zu: got \"%s\", want \"%s\"\n", i, bl_buf_str(&b),
			            t[i].want);
			bad++;
		}
		int clean = strcmp(t[i].in, t[i].want) == 0;
		if (bl_utf8_clean(t[i].in, strlen(t[i].in)) != clean) {
			print_error("clean case %zu: got %d, want %d\n", i, !clean, clean);
			bad++;
		}
	}
	/* The limit is reported. */
	struct bl_buf small;
	bl_buf_init(&small, 4);
	assert_int_equal(bl_utf8_scrub("\xff\xff", 2, &small), -BL_ELIMIT);
	bl_buf_finish(&small);
	bl_buf_finish(&b);
	assert_int_equal(bad, 0);
}

/* bl_archive_slug, table-driven. */
static void test_slug(void **state)
{
	static const struct {
		const char *subject, *want;
	} t[] = {
	    {"Hello, World!", "hello-world"},
	    {"  --Breaking: 3 dead in M4 crash--  ", "breaking-3-dead-in-m4-crash"},
	    {"Caf\xc3\xa9 \xc3\x9f\xc3\xa6 \xc3\x9e\xc3\xb8r", "cafe-ssae-thor"},
	    {"\xe4\xb8\xad\xe6\x96\x87", ""},
	    {"\xe4\xb8\xad x \xe6\x96\x87", "x"},
	    {"", ""},
	    {"<script>alert(1)</script>", "script-alert-1-script"},
	    {"a\xff"
	     "b",
	     "a-b"},
	    {"Mot \xc3\x97 mot \xc3\xb7 fin", "mot-mot-fin"},
	    {"aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff gggg",
	     "aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd-eeeeeeeeee-fffff"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b",
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	};
	char out[BL_ARCHIVE_SLUG_MAX + 1];
	int bad = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = bl_archive_slug(t[i].subject, out);
		if (strcmp(out, t[i].want) != 0 || n != (int)strlen(out)) {
			print_error("slug \"%s\": got \"%s\" (%d), want \"%s\"\n", t[i].subject,
			            out, n, t[i].want);
			bad++;
		}
		if (strlen(out) > BL_ARCHIVE_SLUG_MAX || (n && out[n - 1] == '-') ||
		    out[0] == '-') {
			print_error("slug \"%s\": \"%s\" is not a slug\n", t[i].subject, out);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A post's web HTML: headings one level down, no subscriber data, post data escaped. */
static void test_post_web_html(void **state)
{
	struct bl_post p = {
	    .id = 42,
	    .subject = "A <b>bold</b> & \"plain\" subject",
	    .body = "# Title\n\n## Part\n\n###### Six\n\nHi {{subscriber.name}}{{^subscriber.name}}"
	            "there{{/subscriber.name}}, {{subscriber.attributes.city}}!\n\n"
	            "Read [{{post.subject}}]({{post.url}}) or the [archive]({{archive_url}}).\n\n"
	            "<script>alert(1)</script>\n\n<h1>raw</h1>\n\n`<h1>code</h1>`\n\n"
	            "[leave]({{unsubscribe_url}}) {{list.name}}\n",
	};
	static const char *const want[] = {
	    "<h2>Title</h2>",
	    "<h3>Part</h3>",
	    "<h6>Six</h6>",
	    "<p>Hi there, !</p>",
	    "<a href=\"https://news.example.com/archive/42-a-b-bold-b-plain-subject\">A "
	    "&lt;b&gt;bold"
	    "&lt;/b&gt; &amp; &quot;plain&quot; subject</a>",
	    "<a href=\"https://news.example.com/archive\">archive</a>",
	    "<code>&lt;h1&gt;code&lt;/h1&gt;</code>",
	    "<a href=\"https://news.example.com/\">leave</a> </p>",
	};
	struct bl_buf out;
	struct bl_diag d;
	bl_buf_init(&out, 0);
	int rc = bl_post_web_html(&p, "https://news.example.com/",
	                          "https://news.example.com/archive/42-a-b-bold-b-plain-subject",
	                          &out, &d);
	if (rc)
		fail_msg("bl_post_web_html: %d %s", rc, d.msg);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(bl_buf_str(&out), want[i]))
			fail_msg("web HTML: want \"%s\" in\n%s", want[i], bl_buf_str(&out));
	if (strstr(bl_buf_str(&out), "<script") || strstr(bl_buf_str(&out), "<h1"))
		fail_msg("web HTML holds raw HTML or an h1:\n%s", bl_buf_str(&out));
	/* A body whose Mustache does not compile: -BL_EINVAL. */
	p.body = "{{#open}} never closed";
	bl_buf_reset(&out);
	assert_int_equal(
	    bl_post_web_html(&p, "https://x.example", "https://x.example/archive/42", &out, &d),
	    -BL_EINVAL);
	bl_buf_finish(&out);
}

/* The built-in stylesheet: what the brief and the templates rely on. */
static void test_stylesheet(void **state)
{
	const char *etag, *css;
	size_t len;
	css = bl_pages_stylesheet(pages, &len, &etag);
	assert_int_equal(len, strlen(css));
	assert_non_null(strstr(css, ".hp {"));
	assert_non_null(strstr(css, ":focus"));
	assert_non_null(strstr(css, "@media (max-width"));
	assert_null(strstr(css, "@import"));
	assert_null(strstr(css, "@font-face"));
	assert_null(strstr(css, "url("));
	assert_true(bl_utf8_clean(css, len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_page),    cmocka_unit_test(test_index_form),
	    cmocka_unit_test(test_index_lists),   cmocka_unit_test(test_preferences_form),
	    cmocka_unit_test(test_archive_links), cmocka_unit_test(test_override),
	    cmocka_unit_test(test_unknown_page),  cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_scrub),         cmocka_unit_test(test_slug),
	    cmocka_unit_test(test_post_web_html), cmocka_unit_test(test_stylesheet),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
