/*
 * Composing posts whose body is HTML (posts.format = 'html', a feed item's
 * sanitised HTML; src/send/compose.c): the HTML goes into the text/html
 * part inside the layout, sanitised again and never evaluated as Mustache;
 * the text/plain part is its text rendering; the layout still renders with
 * the subscriber's data. The same post on the web (bl_post_web_html), and
 * bl_post_body_check for both formats. Prints what the defensive second
 * sanitising costs per composer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "feed/sanitize.h"
#include "send/compose.h"

#define PUBLIC_URL "https://news.example.org"

static const char html_body[] =
    "<h1>Flood warning</h1>"
    "<p>Dear reader, {{subscriber.email}} and {{#list}}x{{/list}} stay as typed.</p>"
    "<p>See <a href=\"https://river.example/levels\">the levels</a>.</p>"
    "<ul><li>Move cars</li><li>Charge phones</li></ul>"
    "<img src=\"https://river.example/map.png\" alt=\"Map of the river\">"
    "<script>alert(1)</script><p onclick=\"x()\">end</p>";

static struct bl_secret secret;
static struct bl_list list = {.id = 3, .slug = "river", .name = "River alerts"};

static void opts(struct bl_compose_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->from = "River desk <desk@news.example.org>";
	o->public_url = PUBLIC_URL;
	o->postal_address = "1 Quay Street";
	o->secret = &secret;
}

static struct bl_claimed row(void)
{
	struct bl_claimed r = {.delivery_id = 1,
	                       .post_id = 42,
	                       .subscriber_id = 7,
	                       .list_id = 3,
	                       .attempts = 1,
	                       .email = "reader@example.net",
	                       .name = "Rea Der",
	                       .attributes = "{}"};
	return r;
}

static void want_in(const char *what, const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("%s: got\n%s\nwant it to hold: %s", what, hay, needle);
}

static void want_not_in(const char *what, const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("%s: got\n%s\nwant it without: %s", what, hay, needle);
}

static void test_html_post(void **state)
{
	(void)state;
	struct bl_compose_opts o;
	struct bl_composer *c = NULL;
	struct bl_diag d;
	struct bl_post p = {.id = 42,
	                    .kind = BL_POST_KIND_POST,
	                    .format = BL_POST_FORMAT_HTML,
	                    .subject = "Flood warning",
	                    .body = (char *)html_body,
	                    .from_header = "",
	                    .created_at = 1700000000};
	opts(&o);
	if (bl_composer_create(&o, &p, &list, 1, &c, &d))
		fail_msg("bl_composer_create: %s", d.msg);
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX];
	struct bl_claimed r = row();
	bl_buf_init(&msg, 0);
	if (bl_compose(c, &r, 1700000100, &msg, mail_from, &d))
		fail_msg("bl_compose: %s", d.msg);
	const char *html = bl_composer_last_html(c), *text = bl_composer_last_text(c);

	/* text/html: the sanitised HTML, as it is, inside the layout */
	want_in("html part", html,
	        "<h1>Flood warning</h1><p>Dear reader, {{subscriber.email}} and "
	        "{{#list}}x{{/list}} stay as typed.</p>");
	want_in("html part", html,
	        "<a href=\"https://river.example/levels\" rel=\"noopener noreferrer nofollow\">"
	        "the levels</a>");
	want_in("html part", html,
	        "<img src=\"https://river.example/map.png\" alt=\"Map of the river\">");
	want_not_in("html part", html, "<script");
	want_not_in("html part", html, "onclick");
	want_not_in("html part: no Mustache ran on the body", html, "reader@example.net and");
	/* the layout still renders with the subscriber's data */
	want_in("layout", html, "You receive this because you subscribed to River alerts.");
	want_in("layout", html, PUBLIC_URL "/unsubscribe/");
	want_in("layout", html, "<p>1 Quay Street</p>");
	want_in("layout", html, "<title>Flood warning</title>");

	/* text/plain: the text rendering */
	want_in(
	    "text part", text,
	    "Flood warning\n\nDear reader, {{subscriber.email}} and {{#list}}x{{/list}} stay as "
	    "typed.\n\nSee the levels <https://river.example/levels>.\n\n- Move cars\n"
	    "- Charge phones\n\n[Map of the river]\n\nend\n");
	want_in("text layout", text, "You receive this because you subscribed to River alerts.");
	want_not_in("text part", text, "<h1>");
	want_not_in("text part", text, "alert(1)");

	/* the message has both parts */
	want_in("message", bl_buf_str(&msg), "text/html");
	want_in("message", bl_buf_str(&msg), "text/plain");
	want_in("message", bl_buf_str(&msg), "multipart/alternative");
	bl_buf_finish(&msg);
	bl_composer_destroy(c);
}

/* A bounce probe (kind probe, no list): the test message, its unsubscribe and preference
 * links, List-Unsubscribe without a List-Id, VERP sender and Message-ID naming the row. */
static void test_probe(void **state)
{
	(void)state;
	struct bl_compose_opts o;
	struct bl_composer *c = NULL;
	struct bl_diag d;
	struct bl_post p = {.id = 42,
	                    .kind = BL_POST_KIND_PROBE,
	                    .subject = "Checking that our messages reach you",
	                    .body = "",
	                    .from_header = "",
	                    .created_at = 1700000000};
	opts(&o);
	o.site_name = "River News";
	if (bl_composer_create(&o, &p, NULL, 0, &c, &d))
		fail_msg("bl_composer_create: %s", d.msg);
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX], verp[BL_VERP_TOKEN_MAX], want[200];
	struct bl_claimed r = row();
	r.list_id = 0;
	bl_buf_init(&msg, 0);
	if (bl_compose(c, &r, 1700000100, &msg, mail_from, &d))
		fail_msg("bl_compose: %s", d.msg);
	const char *html = bl_composer_last_html(c), *text = bl_composer_last_text(c);
	const char *m = bl_buf_str(&msg);
	want_in("text", text,
	        "we could not deliver some recent messages from River News to\n"
	        "reader@example.net");
	want_in("text", text, "This message is a test: if it reaches you, no action is needed");
	want_in("text", text, "Manage your preferences: " PUBLIC_URL "/preferences/");
	want_in("text", text, "Unsubscribe from everything: " PUBLIC_URL "/unsubscribe/");
	want_in("text", text, "1 Quay Street");
	want_in("html", html, "<title>Checking that our messages reach you</title>");
	want_in("html", html, "Hello Rea Der,");
	want_in("message", m, "List-Unsubscribe: <" PUBLIC_URL "/unsubscribe/");
	want_in("message", m, "List-Unsubscribe-Post: List-Unsubscribe=One-Click");
	want_in("message", m, "Auto-Submitted: auto-generated");
	want_in("message", m, "X-Bulletin-Probe: 1");
	want_not_in("message", m, "List-Id:");
	want_not_in("message", m, "Precedence: bulk");
	bl_verp_token(&secret, 42, 7, verp);
	snprintf(want, sizeof(want), "bounces+%s@news.example.org", verp);
	if (strcmp(mail_from, want) != 0)
		fail_msg("envelope sender: got %s, want %s", mail_from, want);
	snprintf(want, sizeof(want), "<bulletin-%s.", verp);
	want_in("message", m, want);
	bl_buf_finish(&msg);
	bl_composer_destroy(c);
}

/* The same body as Markdown is a template: its tags are evaluated (the contrast). */
static void test_markdown_contrast(void **state)
{
	(void)state;
	struct bl_compose_opts o;
	struct bl_composer *c = NULL;
	struct bl_diag d;
	struct bl_post p = {.id = 43,
	                    .kind = BL_POST_KIND_POST,
	                    .format = BL_POST_FORMAT_MARKDOWN,
	                    .subject = "Hello",
	                    .body = "Dear {{subscriber.email}}",
	                    .from_header = "",
	                    .created_at = 1700000000};
	opts(&o);
	if (bl_composer_create(&o, &p, &list, 1, &c, &d))
		fail_msg("bl_composer_create: %s", d.msg);
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX];
	struct bl_claimed r = row();
	bl_buf_init(&msg, 0);
	if (bl_compose(c, &r, 1700000100, &msg, mail_from, &d))
		fail_msg("bl_compose: %s", d.msg);
	want_in("markdown html", bl_composer_last_html(c), "Dear reader@example.net");
	want_in("markdown text", bl_composer_last_text(c), "Dear reader@example.net");
	bl_buf_finish(&msg);
	bl_composer_destroy(c);
}

static void test_web_html(void **state)
{
	(void)state;
	struct bl_post p = {.id = 42,
	                    .format = BL_POST_FORMAT_HTML,
	                    .subject = "Flood warning",
	                    .body = (char *)html_body};
	struct bl_buf out;
	struct bl_diag d;
	bl_buf_init(&out, 0);
	if (bl_post_web_html(&p, PUBLIC_URL, PUBLIC_URL "/archive/42-flood-warning", &out, &d))
		fail_msg("bl_post_web_html: %s", d.msg);
	const char *h = bl_buf_str(&out);
	want_in(
	    "web", h,
	    "<h2>Flood warning</h2><p>Dear reader, {{subscriber.email}} and {{#list}}x{{/list}} "
	    "stay as typed.</p>");
	want_not_in("web", h, "<h1>");
	want_not_in("web", h, "<script");
	want_not_in("web", h, "onclick");
	bl_buf_finish(&out);
}

static void test_body_check(void **state)
{
	(void)state;
	static const struct {
		enum bl_post_format format;
		const char *body;
		size_t len;
		int want;
	} cases[] = {
	    {BL_POST_FORMAT_HTML, "<p>{{#unclosed</p>", 18, 0},
	    {BL_POST_FORMAT_MARKDOWN, "{{#unclosed", 11, -BL_EINVAL},
	    {BL_POST_FORMAT_HTML, "<p>a\0b</p>", 10, -BL_EINVAL},
	    {BL_POST_FORMAT_HTML, "<p>\xff</p>", 8, -BL_EINVAL},
	    {BL_POST_FORMAT_HTML, "<script>x</script>", 18, 0}, /* sanitised when composed */
	    {BL_POST_FORMAT_MARKDOWN, "# fine {{name}}", 15, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_diag d = {{0}};
		int rc =
		    bl_post_body_check(cases[i].format, cases[i].body, cases[i].len, "body", &d);
		if (rc != cases[i].want)
			fail_msg("case %zu (%s): got %d (%s), want %d", i,
			         bl_post_format_name(cases[i].format), rc, d.msg, cases[i].want);
	}
}

/* What sanitising again costs: composers of a 40 KB item, and messages composed. */
static void test_cost(void **state)
{
	(void)state;
	struct bl_buf big;
	bl_buf_init(&big, 0);
	while (big.len < 40000)
		bl_buf_adds(
		    &big, "<p>A paragraph of <b>news</b> with <a href=\"https://ex.example/a\">a "
		          "link</a> and an <img src=\"https://ex.example/i.png\" alt=\"i\">.</p>");
	struct bl_post p = {.id = 44,
	                    .kind = BL_POST_KIND_POST,
	                    .format = BL_POST_FORMAT_HTML,
	                    .subject = "Big",
	                    .body = (char *)bl_buf_str(&big),
	                    .from_header = "",
	                    .created_at = 1700000000};
	struct bl_compose_opts o;
	struct bl_diag d;
	struct timespec t0, t1;
	opts(&o);
	int n = 20;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		struct bl_composer *c = NULL;
		assert_int_equal(bl_composer_create(&o, &p, &list, 1, &c, &d), 0);
		bl_composer_destroy(c);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double create_ms =
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / n;
	struct bl_composer *c = NULL;
	assert_int_equal(bl_composer_create(&o, &p, &list, 1, &c, &d), 0);
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX];
	struct bl_claimed r = row();
	bl_buf_init(&msg, 0);
	int m = 200;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < m; i++) {
		bl_buf_reset(&msg);
		assert_int_equal(bl_compose(c, &r, 1700000100, &msg, mail_from, &d), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double msg_us =
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / m;
	printf("# html post of %zu bytes: bl_composer_create %.2f ms (sanitise + text, once per "
	       "post), bl_compose %.0f us per message\n",
	       big.len, create_ms, msg_us);
	bl_buf_finish(&msg);
	bl_composer_destroy(c);
	bl_buf_finish(&big);
}

int main(void)
{
	bl_secret_random(&secret);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_html_post), cmocka_unit_test(test_markdown_contrast),
	    cmocka_unit_test(test_web_html),  cmocka_unit_test(test_body_check),
	    cmocka_unit_test(test_cost),      cmocka_unit_test(test_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
