/*
 * Unit tests for the pieces of src/feed/poll.c that need no server: the
 * item key (which identity wins, stability, what changes it), the back-off
 * schedule, the feed URL check, and the entries a parsed document becomes
 * over a real SQLite store (oldest first, seen items skipped, subjects made
 * from titles, sanitised bodies with their "Read more" link). Polls over
 * HTTP are tested end to end by tests/cli/feeds.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed/poll.h"
#include "util/err.h"

#define KNOWN_KEY "9a2c1c21f82ea8a9d5aca856c87786fb7f95b543f820670f977111a777eb904a"

static void key_of(const struct bl_feed_item *it, char out[BL_FEED_KEY_HEX])
{
	bl_feed_item_key(it, out);
	assert_int_equal(strlen(out), 64);
}

static void test_item_key(void **state)
{
	(void)state;
	struct bl_feed_item a = {
	    .id = "urn:1", .link = "https://x.example/1", .title = "T", .published = 100};
	struct bl_feed_item b = a;
	char ka[BL_FEED_KEY_HEX], kb[BL_FEED_KEY_HEX];
	key_of(&a, ka);
	b.title = "T edited";
	b.link = "https://x.example/moved";
	b.published = 200;
	key_of(&b, kb);
	if (strcmp(ka, kb))
		fail_msg("an id keeps the key when title, link and date change: got %s and %s", ka,
		         kb);
	b.id = "urn:2";
	key_of(&b, kb);
	if (!strcmp(ka, kb))
		fail_msg("another id, another key");
	/* no id: the link */
	struct bl_feed_item c = {.id = "", .link = "https://x.example/1", .title = "A"};
	struct bl_feed_item d = {.id = "", .link = "https://x.example/1", .title = "B"};
	char kc[BL_FEED_KEY_HEX], kd[BL_FEED_KEY_HEX];
	key_of(&c, kc);
	key_of(&d, kd);
	if (strcmp(kc, kd))
		fail_msg("without an id the link is the identity");
	/* an id that equals another item's link is not the same identity */
	struct bl_feed_item e = {.id = "https://x.example/1", .link = ""};
	char ke[BL_FEED_KEY_HEX];
	key_of(&e, ke);
	if (!strcmp(ke, kc))
		fail_msg("\"id\" and \"link\" identities are kept apart");
	/* neither: title and date */
	struct bl_feed_item f = {.title = "Hello", .published = 5};
	struct bl_feed_item g = {.title = "Hello", .published = 6};
	struct bl_feed_item h = {.title = "Hello", .published = 5, .summary = "other text"};
	char kf[BL_FEED_KEY_HEX], kg[BL_FEED_KEY_HEX], kh[BL_FEED_KEY_HEX];
	key_of(&f, kf);
	key_of(&g, kg);
	key_of(&h, kh);
	if (!strcmp(kf, kg))
		fail_msg("title and date: another date, another item");
	if (strcmp(kf, kh))
		fail_msg("title and date: the text does not count when they are set");
	/* nothing at all: the text */
	struct bl_feed_item i1 = {.summary = "one"}, i2 = {.summary = "two"};
	char k1[BL_FEED_KEY_HEX], k2[BL_FEED_KEY_HEX];
	key_of(&i1, k1);
	key_of(&i2, k2);
	if (!strcmp(k1, k2))
		fail_msg("an item with no id, link, title or date is told apart by its text");
	/* the stored value never changes between versions: sha256("id\nx") */
	struct bl_feed_item s = {.id = "x"};
	char ks[BL_FEED_KEY_HEX];
	key_of(&s, ks);
	if (strcmp(ks, KNOWN_KEY))
		fail_msg("the key of id \"x\": got %s, want %s", ks, KNOWN_KEY);
}

static void test_next_poll(void **state)
{
	(void)state;
	static const struct {
		int64_t every, failures, want;
	} cases[] = {
	    {900, 0, 900},    {900, 1, 1800},      {900, 2, 3600},      {900, 3, 7200},
	    {900, 6, 57600},  {900, 7, 86400},     {900, 60, 86400},    {60, 1, 120},
	    {3600, 5, 86400}, {172800, 0, 172800}, {172800, 3, 172800}, {0, 0, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = bl_feed_next_poll(1000, cases[i].every, cases[i].failures) - 1000;
		if (got != cases[i].want)
			fail_msg("every %lld after %lld failures: got a wait of %lld s, want %lld",
			         (long long)cases[i].every, (long long)cases[i].failures,
			         (long long)got, (long long)cases[i].want);
	}
}

static void test_url_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *want; /* the normal spelling, NULL: refused */
		const char *msg;  /* in the refusal */
	} cases[] = {
	    {"https://example.org/feed.xml", "https://example.org/feed.xml", NULL},
	    {"http://127.0.0.1:8080/f/x.rss?a=1&b=2", "http://127.0.0.1:8080/f/x.rss?a=1&b=2",
	     NULL},
	    {"HTTPS://EXAMPLE.ORG/Feed", "https://example.org/Feed", NULL},
	    {"http://example.org/f/../f/five.xml", "http://example.org/f/five.xml", NULL},
	    {"http://example.org/five.xml#dup", "http://example.org/five.xml", NULL},
	    {"http://example.org/five.xml?", "http://example.org/five.xml", NULL},
	    {"http://example.org:80/x", "http://example.org/x", NULL},
	    {"https://example.org:443/x", "https://example.org/x", NULL},
	    {"https://example.org:8443/x", "https://example.org:8443/x", NULL},
	    {"http://[::1]/feed", "http://[::1]/feed", NULL},
	    {"ftp://example.org/feed", NULL, "http or https"},
	    {"file:///etc/passwd", NULL, "http or https"},
	    {"javascript:alert(1)", NULL, NULL},
	    {"/feed.xml", NULL, "absolute"},
	    {"example.org/feed", NULL, NULL},
	    {"http://exa mple.org/", NULL, "space"},
	    {"http://example.org/\x01", NULL, "control"},
	    {"http://user:pw@example.org/feed", NULL, "user name or password"},
	    {"http://user@example.org/feed", NULL, "user name or password"},
	    {"", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_diag d = {{0}};
		char *norm = NULL;
		int rc = bl_feed_url_normalize(cases[i].url, &norm, &d);
		if ((rc == 0) != (cases[i].want != NULL))
			fail_msg("url \"%s\": got %d (%s), want %s", cases[i].url, rc, d.msg,
			         cases[i].want ? "ok" : "refused");
		if (cases[i].want && strcmp(norm, cases[i].want))
			fail_msg("url \"%s\": got \"%s\", want \"%s\"", cases[i].url, norm,
			         cases[i].want);
		if (!cases[i].want && cases[i].msg && !strstr(d.msg, cases[i].msg))
			fail_msg("url \"%s\": message \"%s\" should say \"%s\"", cases[i].url,
			         d.msg, cases[i].msg);
		free(norm);
	}
	char longer[BL_FEED_URL_MAX + 40];
	strcpy(longer, "https://example.org/");
	memset(longer + strlen(longer), 'a', sizeof(longer) - strlen(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	struct bl_diag d;
	if (bl_feed_url_normalize(longer, NULL, &d) != -BL_EINVAL || !strstr(d.msg, "longer"))
		fail_msg("an over-long URL is refused: %s", d.msg);
}

/* A fresh SQLite store with one list and feed 1 on it. */
static struct bl_store *store_with_feed(char path[64])
{
	snprintf(path, 64, "/tmp/bl-feedpoll-%d.db", (int)getpid());
	unlink(path);
	char uri[80];
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	struct bl_store *s;
	struct bl_diag d;
	if (bl_store_open(uri, &(struct bl_store_opts){0}, &s, &d))
		fail_msg("open: %s", d.msg);
	int from, to;
	if (s->ops->migrate(s, &from, &to))
		fail_msg("migrate: %s", s->error);
	struct bl_list l = {.slug = "news", .name = "News", .description = ""};
	if (s->ops->list_create(s, &l))
		fail_msg("list: %s", s->error);
	struct bl_feed f = {.url = "https://x.example/feed", .every = 900, .created_at = 1};
	if (s->ops->feed_create(s, &f, &l.id, 1))
		fail_msg("feed: %s", s->error);
	return s;
}

static void test_entries(void **state)
{
	(void)state;
	char path[64];
	struct bl_store *s = store_with_feed(path);
	struct bl_feed_item items[] = {
	    {.id = "c",
	     .link = "https://x.example/c",
	     .title = "  Newest\n\ttitle\xc2\xa0 here ",
	     .summary = "<p>ok</p><script>alert(1)</script>",
	     .published = 300},
	    {.id = "a",
	     .link = "https://x.example/a",
	     .title = "",
	     .content =
	         "<p>The <b>body</b> "
	         "of an untitled item, long enough to be cut into a subject line of its own when "
	         "there is no title at all</p>",
	     .published = 100},
	    {.id = "b",
	     .link = "",
	     .title = "Middle",
	     .summary = "<img src=\"http://t.example/x\">",
	     .published = 200},
	};
	struct bl_feed_doc doc = {.format = "rss",
	                          .title = "Site",
	                          .link = "https://x.example/",
	                          .items = items,
	                          .n_items = 3};
	struct bl_feed_entries *e;
	struct bl_diag d;
	if (bl_feed_entries(s, 1, &doc, &e, &d))
		fail_msg("entries: %s", d.msg);
	size_t n;
	const struct bl_feed_ingest_item *x = bl_feed_entries_items(e, &n);
	assert_int_equal(n, 3);
	/* oldest first, by date */
	static const char *const subjects[] = {"The body of an untitled item, long enough to be "
	                                       "cut into a subject line of\xe2\x80\xa6",
	                                       "Middle", "Newest title here"};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(x[i].subject, subjects[i]))
			fail_msg("entry %zu subject: got \"%s\", want \"%s\"", i, x[i].subject,
			         subjects[i]);
	if (strstr(x[2].body, "script") || !strstr(x[2].body, "<p>ok</p>") ||
	    !strstr(x[2].body, "href=\"https://x.example/c\"") || !strstr(x[2].body, "Read more"))
		fail_msg("sanitised body with its read-more link: got %s", x[2].body);
	if (strstr(x[1].body, "t.example") || strstr(x[1].body, "Read more"))
		fail_msg("an http image goes, no link means no read-more: got %s", x[1].body);
	/* once ingested, nothing is new */
	struct bl_feed_ingest_result r;
	if (s->ops->feed_ingest(s, 1, 10, 20, "", "", "Site", x, n, &r) != 1)
		fail_msg("ingest: %s", s->error);
	bl_feed_entries_free(e);
	if (bl_feed_entries(s, 1, &doc, &e, &d))
		fail_msg("entries: %s", d.msg);
	bl_feed_entries_items(e, &n);
	assert_int_equal(n, 0);
	bl_feed_entries_free(e);
	/* a short untitled item: its subject is its own text, not the read-more link */
	{
		struct bl_feed_item one = {.id = "short",
		                           .link = "https://x.example/s",
		                           .summary = "<p>Pier closed</p>",
		                           .published = 400};
		struct bl_feed_doc d1 = {.format = "rss",
		                         .title = "Site",
		                         .link = "https://x.example/",
		                         .items = &one,
		                         .n_items = 1};
		struct bl_feed_entries *e1;
		if (bl_feed_entries(s, 1, &d1, &e1, &d))
			fail_msg("entries: %s", d.msg);
		size_t n1;
		const struct bl_feed_ingest_item *y = bl_feed_entries_items(e1, &n1);
		assert_int_equal(n1, 1);
		if (strcmp(y[0].subject, "Pier closed") || !strstr(y[0].body, "Read more"))
			fail_msg("untitled item: got subject \"%s\", body %s; want \"Pier closed\" "
			         "and a read-more link",
			         y[0].subject, y[0].body);
		bl_feed_entries_free(e1);
	}
	/* without dates: the reverse of document order */
	items[0].id = "z1", items[1].id = "z2", items[2].id = "z3";
	items[1].published = 0;
	if (bl_feed_entries(s, 1, &doc, &e, &d))
		fail_msg("entries: %s", d.msg);
	x = bl_feed_entries_items(e, &n);
	assert_int_equal(n, 3);
	if (strcmp(x[0].subject, "Middle") || strcmp(x[2].subject, "Newest title here"))
		fail_msg("undated: the last item in the document first: got %s .. %s", x[0].subject,
		         x[2].subject);
	bl_feed_entries_free(e);
	bl_store_close(s);
	unlink(path);
	char side[80];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_item_key),
	    cmocka_unit_test(test_next_poll),
	    cmocka_unit_test(test_url_normalize),
	    cmocka_unit_test(test_entries),
	};
	return cmocka_run_group_tests_name("feed_poll", tests, NULL, NULL);
}
