/*
 * HTTP tests of the read-only routes (src/http/archive.c, web.c): a SQLite
 * database (or, with BL_TEST_PG, a PostgreSQL one: BL_TEST_BACKEND=postgres)
 * with public and private lists and posts in every state, the
 * public web's routes served by the real server core on 127.0.0.1 port 0,
 * driven with libcurl. Archive pagination by ?before=, what the archive
 * hides (drafts, cancelled posts, private lists), the canonical redirect,
 * 404 pages, the list routes, the feeds (read back by check_feed.py with
 * the values they must hold), content types, caching headers and 304s, the
 * stylesheet, /healthz and the /metrics text format. Every HTML page is
 * also parsed by tests/unit/check_html.py (html5lib, strict). Failures
 * print got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/http.h"
#include "http/web.h"
#include "send/compose.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/time.h"
#include "util/xalloc.h"

#ifndef BL_TEST_BACKEND
#define BL_TEST_BACKEND "sqlite"
#endif

#define PUBLIC_URL "https://news.example.com"
#define T0         1796000000 /* Mon, 30 Nov 2026 00:53:20 UTC */
#define N_NEWS     45         /* posts on the public list "news" */

/* ---- the fixture ------------------------------------------------------------------------ */

struct post_row {
	int64_t id, created, started;
	char subject[200];
	const char *body;
	int visible;           /* the archive shows it */
	int on_news, on_sport; /* on these public lists */
};

static struct {
	char dir[64], uri[512], pg_name[64];
	struct bl_store *s;
	struct bl_config *cfg;
	struct bl_web web;
	struct bl_http_server *srv;
	int port;
	int64_t news_id, staff_id, sport_id;
	struct post_row posts[N_NEWS + 8];
	size_t n_posts;
} fx = {.dir = "/tmp/bl-test-archive-XXXXXX"};

static const char *hostile_subject = "<script>alert(1)</script> & \"Quotes\" caf\xc3\xa9";
static const char *hostile_body = "# Heading\n\nHello {{subscriber.name}}{{^subscriber.name}}"
                                  "reader{{/subscriber.name}}. <script>x()</script>\n\n"
                                  "[Here]({{post.url}}) & [all]({{archive_url}}).\n";

static void add_post(const char *subject, const char *body, const int64_t *lists, size_t n,
                     int queue, int cancel, int visible, int on_news, int on_sport)
{
	struct bl_post p;
	struct post_row *r = &fx.posts[fx.n_posts++];
	int64_t total;
	memset(&p, 0, sizeof(p));
	p.subject = (char *)subject;
	p.body = (char *)body;
	p.created_at = T0 + (int64_t)fx.n_posts * 60;
	if (fx.s->ops->post_create(fx.s, &p, lists, n) != 0)
		fail_msg("post_create %s: %s", subject, bl_store_error(fx.s));
	r->id = p.id;
	r->created = p.created_at;
	r->started = queue ? p.created_at + 30 : 0;
	snprintf(r->subject, sizeof(r->subject), "%s", subject);
	r->body = body;
	r->visible = visible;
	r->on_news = on_news;
	r->on_sport = on_sport;
	if (queue && fx.s->ops->post_queue(fx.s, p.id, r->started, &total) != 1)
		fail_msg("post_queue %s: %s", subject, bl_store_error(fx.s));
	if (cancel && fx.s->ops->post_set_status(fx.s, p.id, ~0u, BL_POST_CANCELLED, NULL, 0,
	                                         r->started) != 1)
		fail_msg("cancel %s: %s", subject, bl_store_error(fx.s));
}

static int64_t make_list(const char *slug, const char *name, enum bl_visibility vis)
{
	struct bl_list l = {.slug = (char *)slug,
	                    .name = (char *)name,
	                    .description = "About <this> & that",
	                    .visibility = vis};
	if (fx.s->ops->list_create(fx.s, &l) != 0)
		fail_msg("list_create %s: %s", slug, bl_store_error(fx.s));
	return l.id;
}

static int setup(void **state)
{
	struct bl_store_opts so = {0};
	struct bl_diag d;
	char key[BL_HASH_HEX], subject[64];
	int from, to;

	if (!mkdtemp(fx.dir))
		return -1;
	if (strcmp(BL_TEST_BACKEND, "postgres") == 0) {
		const char *pg = getenv("BL_TEST_PG"), *slash;
		char cmd[1024];
		if (!pg || !*pg || !(slash = strrchr(pg, '/'))) {
			printf("1..0 # SKIP BL_TEST_PG is not set\n");
			exit(77);
		}
		snprintf(fx.pg_name, sizeof(fx.pg_name), "bl_http_archive_%ld", (long)getpid());
		snprintf(cmd, sizeof(cmd), "psql -q '%s' -c 'CREATE DATABASE %s' >/dev/null", pg,
		         fx.pg_name);
		if (system(cmd) != 0)
			return -1;
		snprintf(fx.uri, sizeof(fx.uri), "%.*s/%s", (int)(slash - pg), pg, fx.pg_name);
	} else {
		snprintf(fx.uri, sizeof(fx.uri), "sqlite:%s/bulletin.db", fx.dir);
	}
	if (bl_store_open(fx.uri, &so, &fx.s, &d) != 0 ||
	    fx.s->ops->migrate(fx.s, &from, &to) != 0) {
		fprintf(stderr, "store: %s %s\n", d.msg, fx.s ? bl_store_error(fx.s) : "");
		return -1;
	}
	bl_secret_generate(key);
	fx.s->ops->setting_set(fx.s, "secret_key", key);
	fx.news_id = make_list("news", "News & <Views>", BL_VISIBILITY_PUBLIC);
	fx.staff_id = make_list("staff", "Staff", BL_VISIBILITY_PRIVATE);
	fx.sport_id = make_list("sport", "Sport", BL_VISIBILITY_PUBLIC);
	int64_t both[2] = {fx.staff_id, fx.sport_id};
	add_post("Staff only", "secret", &fx.staff_id, 1, 1, 0, 0, 0, 0);
	add_post("Both lists", "one *public* list", both, 2, 1, 0, 1, 0, 1);
	add_post("A draft", "not yet", &fx.news_id, 1, 0, 0, 0, 1, 0);
	add_post("Cancelled", "never mind", &fx.news_id, 1, 1, 1, 0, 1, 0);
	add_post("", "no subject letters", &fx.news_id, 1, 1, 0, 1, 1, 0);
	for (int i = 1; i <= N_NEWS; i++) {
		snprintf(subject, sizeof(subject), "News post number %d", i);
		add_post(subject, "Some **news**.\n", &fx.news_id, 1, 1, 0, 1, 1, 0);
	}
	add_post(hostile_subject, hostile_body, &fx.news_id, 1, 1, 0, 1, 1, 0);

	fx.cfg = bl_config_create();
	if (bl_config_set(fx.cfg, "db", fx.uri, BL_ORIGIN_FLAG, "test", &d) ||
	    bl_config_set(fx.cfg, "public_url", PUBLIC_URL "/", BL_ORIGIN_FLAG, "test", &d) ||
	    bl_config_set(fx.cfg, "site_name", "Example <News> & Co", BL_ORIGIN_FLAG, "test", &d)) {
		fprintf(stderr, "config: %s\n", d.msg);
		return -1;
	}
	if (bl_web_init(&fx.web, fx.cfg, fx.s, &d) != 0) {
		fprintf(stderr, "bl_web_init: %s\n", d.msg);
		return -1;
	}
	struct bl_http_opts o = {
	    .listen = "127.0.0.1:0", .app = &fx.web, .db_uri = fx.uri, .threads = 2};
	o.routes = bl_web_routes(&o.n_routes);
	if (bl_http_start(&o, &fx.srv, &d) != 0) {
		fprintf(stderr, "bl_http_start: %s\n", d.msg);
		return -1;
	}
	fx.web.server = fx.srv;
	fx.port = bl_http_port(fx.srv);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	bl_http_stop(fx.srv);
	bl_web_finish(&fx.web);
	bl_config_destroy(fx.cfg);
	bl_store_close(fx.s);
	curl_global_cleanup();
	if (*fx.pg_name) {
		char drop[1024];
		snprintf(drop, sizeof(drop),
		         "psql -q '%s' -c 'DROP DATABASE IF EXISTS %s' >/dev/null",
		         getenv("BL_TEST_PG"), fx.pg_name);
		if (system(drop) != 0)
			fprintf(stderr, "could not drop %s\n", fx.pg_name);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- HTTP with libcurl ------------------------------------------------------------------ */

struct reply {
	long status;
	struct bl_buf body, head;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	bl_buf_add(arg, p, size * n);
	return size * n;
}

/* @method "GET" or "HEAD" or "POST" of @path, with an optional extra request header. */
static void request(const char *method, const char *path, const char *header, struct reply *r)
{
	char url[1024];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;
	assert_non_null(c);
	bl_buf_init(&r->body, 0);
	bl_buf_init(&r->head, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->head);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	if (header)
		h = curl_slist_append(h, header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if ((rc = curl_easy_perform(c)) != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void get(const char *path, struct reply *r)
{
	request("GET", path, NULL, r);
}

static void reply_clear(struct reply *r)
{
	bl_buf_finish(&r->body);
	bl_buf_finish(&r->head);
}

/* The value of response header @name (case-insensitive), malloc'd, or NULL. */
static char *header(const struct reply *r, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = bl_buf_str(&r->head); *p;) {
		const char *e = strstr(p, "\r\n");
		if (!e)
			break;
		if ((size_t)(e - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			v += strspn(v, " \t");
			return bl_xstrndup(v, (size_t)(e - v));
		}
		p = e + 2;
	}
	return NULL;
}

static void expect_header(const struct reply *r, const char *what, const char *name,
                          const char *want)
{
	char *got = header(r, name);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: %s: got \"%s\", want \"%s\"", what, name, got ? got : "(none)", want);
	free(got);
}

static void expect_status(const struct reply *r, const char *what, long want)
{
	if (r->status != want)
		fail_msg("%s: status %ld, want %ld\n%s\n%.2000s", what, r->status, want,
		         bl_buf_str(&r->head), bl_buf_str(&r->body));
}

/* ---- the HTML checker ------------------------------------------------------------------- */

/* Parse @html with check_html.py; fails on any problem; returns the summary (json_decref). */
static json_t *check_page(const char *what, const struct bl_buf *html)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	char path[128], cmd[512], chunk[8192];
	struct bl_buf out;
	json_error_t err;
	size_t got, k;
	json_t *all, *sum, *pr;
	FILE *f;

	assert_non_null(root);
	snprintf(path, sizeof(path), "%s/page.html", fx.dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(html->data ? html->data : "", 1, html->len, f);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/tests/unit/check_html.py' '%s'", root,
	         path);
	bl_buf_init(&out, 0);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&out, chunk, got);
	if (pclose(f) != 0 || !(all = json_loads(bl_buf_str(&out), 0, &err)))
		fail_msg("%s: check_html.py failed: %s", what, bl_buf_str(&out));
	bl_buf_finish(&out);
	sum = json_incref(json_object_get(all, path));
	json_decref(all);
	json_array_foreach(json_object_get(sum, "problems"), k, pr)
	    fail_msg("%s: %s", what, json_string_value(pr));
	return sum;
}

/* The post links (/archive/ID...) of a page summary, in order, into @ids; returns how many. */
static size_t post_links(json_t *sum, int64_t *ids, size_t max, const char *prefix)
{
	size_t n = 0, k, pl = strlen(prefix);
	json_t *l;
	json_array_foreach(json_object_get(sum, "links"), k, l)
	{
		const char *h = json_string_value(l);
		if (h && strncmp(h, prefix, pl) == 0 && h[pl] >= '0' && h[pl] <= '9' && n < max)
			ids[n++] = strtoll(h + pl, NULL, 10);
	}
	return n;
}

/* The older-page link of a summary ("" when none). */
static const char *older_link(json_t *sum)
{
	size_t k;
	json_t *l;
	json_array_foreach(json_object_get(sum, "links"), k, l)
	{
		const char *h = json_string_value(l);
		if (h && strstr(h, "?before="))
			return h;
	}
	return "";
}

/* The archive's posts of a list filter, newest first. */
static size_t expected(int64_t *ids, int news_only)
{
	size_t n = 0;
	for (size_t i = fx.n_posts; i-- > 0;)
		if (fx.posts[i].visible && (!news_only || fx.posts[i].on_news))
			ids[n++] = fx.posts[i].id;
	return n;
}

static const struct post_row *row(int64_t id)
{
	for (size_t i = 0; i < fx.n_posts; i++)
		if (fx.posts[i].id == id)
			return &fx.posts[i];
	fail_msg("no post %lld", (long long)id);
	return NULL;
}

static char *canonical(int64_t id)
{
	char slug[BL_ARCHIVE_SLUG_MAX + 1], *out = bl_xmalloc(128);
	if (bl_archive_slug(row(id)->subject, slug) > 0)
		snprintf(out, 128, "/archive/%lld-%s", (long long)id, slug);
	else
		snprintf(out, 128, "/archive/%lld", (long long)id);
	return out;
}

/* ---- tests ------------------------------------------------------------------------------ */

/* Walk an archive page by page: 20 a page, newest first, ?before= keyset, nothing hidden
 * shown, nothing shown twice. */
static void walk_archive(const char *start, const char *link_prefix, int news_only)
{
	int64_t want[N_NEWS + 8], got[64];
	size_t n_want = expected(want, news_only), seen = 0;
	char path[256];
	snprintf(path, sizeof(path), "%s", start);
	for (int page = 0; page < 10; page++) {
		struct reply r;
		get(path, &r);
		expect_status(&r, path, 200);
		expect_header(&r, path, "Content-Type", "text/html; charset=utf-8");
		json_t *sum = check_page(path, &r.body);
		size_t n = post_links(sum, got, 64, link_prefix);
		size_t want_n = n_want - seen > 20 ? 20 : n_want - seen;
		if (n != want_n)
			fail_msg("%s: %zu posts, want %zu", path, n, want_n);
		for (size_t i = 0; i < n; i++)
			if (got[i] != want[seen + i])
				fail_msg("%s: post %zu is %lld, want %lld", path, i,
				         (long long)got[i], (long long)want[seen + i]);
		seen += n;
		const char *older = older_link(sum);
		if (seen < n_want) {
			char w[256];
			snprintf(w, sizeof(w), "%s?before=%lld", start, (long long)got[n - 1]);
			if (strcmp(older, w) != 0)
				fail_msg("%s: older link \"%s\", want \"%s\"", path, older, w);
			snprintf(path, sizeof(path), "%s", older);
		} else if (*older) {
			fail_msg("%s: an older link \"%s\" on the last page", path, older);
		}
		json_decref(sum);
		reply_clear(&r);
		if (seen == n_want)
			return;
	}
	fail_msg("%s: more pages than expected", start);
}

static void test_archive_pages(void **state)
{
	walk_archive("/archive", "/archive/", 0);
}

static void test_list_archive(void **state)
{
	walk_archive("/lists/news/archive", "/archive/", 1);
	struct reply r;
	get("/lists/news/archive", &r);
	json_t *sum = check_page("list archive", &r.body);
	const char *text = json_string_value(json_object_get(sum, "text"));
	if (!strstr(text, "News & <Views>") || !strstr(text, "About <this> & that"))
		fail_msg("list archive: name or description missing: %s", text);
	json_decref(sum);
	reply_clear(&r);
	/* The sport list shows its one post, which is also on a private list. */
	get("/lists/sport/archive", &r);
	expect_status(&r, "sport", 200);
	if (!strstr(bl_buf_str(&r.body), "Both lists"))
		fail_msg("sport archive: the post on sport and staff is missing");
	reply_clear(&r);
}

static void test_archive_bad_query(void **state)
{
	static const char *const bad[] = {"/archive?before=abc", "/archive?before=-3",
	                                  "/archive?before=0", "/archive?before=%zz"};
	struct reply r;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		get(bad[i], &r);
		expect_status(&r, bad[i], 400);
		json_decref(check_page(bad[i], &r.body));
		reply_clear(&r);
	}
	/* before=1: an empty page, still a page. */
	get("/archive?before=1", &r);
	expect_status(&r, "before=1", 200);
	if (!strstr(bl_buf_str(&r.body), "No posts yet."))
		fail_msg("before=1: want the empty archive");
	reply_clear(&r);
}

/* /archive/ID and wrong slugs redirect to the canonical address; it answers 200. */
static void test_canonical(void **state)
{
	int64_t ids[N_NEWS + 8] = {0};
	size_t n = expected(ids, 0);
	int64_t hostile = ids[0], nosubject = 0;
	for (size_t i = 0; i < fx.n_posts; i++)
		if (!fx.posts[i].subject[0])
			nosubject = fx.posts[i].id;
	char *want = canonical(hostile), path[256];
	struct {
		const char *path;
	} asks[4];
	char p0[64], p1[64], p2[300], p3[64];
	snprintf(p0, sizeof(p0), "/archive/%lld", (long long)hostile);
	snprintf(p1, sizeof(p1), "/archive/%lld-wrong-slug", (long long)hostile);
	snprintf(p2, sizeof(p2), "%s/extra", want);
	snprintf(p3, sizeof(p3), "/archive/%lld-", (long long)hostile);
	asks[0].path = p0;
	asks[1].path = p1;
	asks[2].path = p2;
	asks[3].path = p3;
	for (size_t i = 0; i < 4; i++) {
		struct reply r;
		get(asks[i].path, &r);
		expect_status(&r, asks[i].path, 301);
		expect_header(&r, asks[i].path, "Location", want);
		reply_clear(&r);
	}
	struct reply r;
	get(want, &r);
	expect_status(&r, want, 200);
	json_t *sum = check_page(want, &r.body);
	json_t *h = json_array_get(json_object_get(sum, "headings"), 0);
	const char *h1 = json_string_value(json_array_get(h, 1));
	if (!h1 || strcmp(h1, hostile_subject) != 0)
		fail_msg("post page: h1 \"%s\", want \"%s\"", h1 ? h1 : "(none)", hostile_subject);
	const char *text = json_string_value(json_object_get(sum, "text"));
	if (!strstr(text, "Hello reader.") || strstr(bl_buf_str(&r.body), "<script>") ||
	    !strstr(text, "Heading"))
		fail_msg("post page body wrong: %s", text);
	json_decref(sum);
	reply_clear(&r);
	free(want);
	/* A post without letters in its subject: /archive/ID is canonical. */
	want = canonical(nosubject);
	snprintf(path, sizeof(path), "%s", want);
	get(path, &r);
	expect_status(&r, path, 200);
	reply_clear(&r);
	snprintf(path, sizeof(path), "%s-x", want);
	get(path, &r);
	expect_status(&r, path, 301);
	expect_header(&r, path, "Location", want);
	reply_clear(&r);
	free(want);
	(void)n;
}

/* A post's page names its public lists, never its private ones. */
static void test_post_lists(void **state)
{
	int64_t both = 0;
	for (size_t i = 0; i < fx.n_posts; i++)
		if (strcmp(fx.posts[i].subject, "Both lists") == 0)
			both = fx.posts[i].id;
	char *path = canonical(both);
	struct reply r;
	size_t k;
	json_t *l;
	int sport = 0, staff = 0;
	get(path, &r);
	expect_status(&r, path, 200);
	json_t *sum = check_page(path, &r.body);
	json_array_foreach(json_object_get(sum, "links"), k, l)
	{
		sport |= strcmp(json_string_value(l), "/lists/sport/archive") == 0;
		staff |= strstr(json_string_value(l), "staff") != NULL;
	}
	if (!sport || staff || strstr(json_string_value(json_object_get(sum, "text")), "Staff"))
		fail_msg("%s: sport link %d, staff link %d, want 1 and 0", path, sport, staff);
	json_decref(sum);
	reply_clear(&r);
	free(path);
}

/* Posts the archive does not show, and addresses that name no post: a 404 page. */
static void test_not_found(void **state)
{
	char paths[8][128];
	size_t n = 0;
	for (size_t i = 0; i < fx.n_posts; i++)
		if (!fx.posts[i].visible)
			snprintf(paths[n++], sizeof(paths[0]), "/archive/%lld",
			         (long long)fx.posts[i].id);
	snprintf(paths[n++], sizeof(paths[0]), "/archive/999999");
	snprintf(paths[n++], sizeof(paths[0]), "/archive/abc");
	snprintf(paths[n++], sizeof(paths[0]), "/archive/99999999999999999999999");
	for (size_t i = 0; i < n; i++) {
		struct reply r;
		get(paths[i], &r);
		expect_status(&r, paths[i], 404);
		expect_header(&r, paths[i], "Content-Type", "text/html; charset=utf-8");
		json_decref(check_page(paths[i], &r.body));
		reply_clear(&r);
	}
	static const char *const lists[] = {
	    "/lists/staff/archive",
	    "/lists/staff/feed.atom",
	    "/lists/staff/feed.json",
	    "/lists/nope/archive",
	    "/lists/news/nope",
	    "/lists/news",
	    "/lists/",
	    "/lists/NEWS/archive",
	    "/lists/a%20b/archive",
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct reply r;
		get(lists[i], &r);
		expect_status(&r, lists[i], 404);
		reply_clear(&r);
	}
	struct reply r;
	get("/archive/", &r);
	expect_status(&r, "/archive/", 301);
	expect_header(&r, "/archive/", "Location", "/archive");
	reply_clear(&r);
}

/* A feed served at @path, checked by check_feed.py against the posts it must hold. */
static void check_served_feed(const char *path, const char *kind, int news_only,
                              const char *list_slug, const char *title)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	int64_t ids[N_NEWS + 8];
	size_t n = expected(ids, news_only);
	char base[256], fpath[128], epath[128], cmd[600], chunk[4096], url[512];
	json_t *want = json_object(), *entries = json_array();
	struct bl_buf out;
	struct reply r;
	size_t got;
	FILE *f;

	if (n > 50)
		n = 50;
	if (list_slug)
		snprintf(base, sizeof(base), PUBLIC_URL "/lists/%s", list_slug);
	else
		snprintf(base, sizeof(base), PUBLIC_URL);
	get(path, &r);
	expect_status(&r, path, 200);
	expect_header(&r, path, "Content-Type",
	              strcmp(kind, "atom") == 0 ? "application/atom+xml; charset=utf-8"
	                                        : "application/feed+json; charset=utf-8");
	snprintf(url, sizeof(url), "%s/feed.atom", base);
	json_object_set_new(want, "id", json_string(url));
	json_object_set_new(want, "atom_url", json_string(url));
	snprintf(url, sizeof(url), "%s/feed.json", base);
	json_object_set_new(want, "json_url", json_string(url));
	snprintf(url, sizeof(url), "%s/archive", base);
	json_object_set_new(want, "home_url", json_string(url));
	json_object_set_new(want, "title", json_string(title));
	json_object_set_new(want, "author", json_string("Example <News> & Co"));
	json_object_set_new(want, "lang", json_string("en"));
	json_object_set_new(want, "updated", json_integer(row(ids[0])->started));
	for (size_t i = 0; i < n; i++) {
		const struct post_row *p = row(ids[i]);
		char *c = canonical(p->id), tag[200], day[BL_TIME_STRMAX];
		struct bl_post post = {
		    .id = p->id, .subject = (char *)p->subject, .body = (char *)p->body};
		struct bl_buf html;
		struct bl_diag d;
		json_t *e = json_object();
		snprintf(url, sizeof(url), PUBLIC_URL "%s", c);
		bl_buf_init(&html, 0);
		assert_int_equal(bl_post_web_html(&post, PUBLIC_URL, url, &html, &d), 0);
		bl_time_format(p->created, day);
		day[10] = '\0';
		snprintf(tag, sizeof(tag), "tag:news.example.com,%s:post-%lld-%lld", day,
		         (long long)p->id, (long long)p->created);
		json_object_set_new(e, "id", json_string(tag));
		json_object_set_new(e, "url", json_string(url));
		json_object_set_new(e, "title", json_string(p->subject));
		json_object_set_new(e, "html", json_string(bl_buf_str(&html)));
		json_object_set_new(e, "published", json_integer(p->started));
		json_object_set_new(e, "updated", json_integer(p->started));
		json_array_append_new(entries, e);
		bl_buf_finish(&html);
		free(c);
	}
	json_object_set_new(want, "entries", entries);
	snprintf(fpath, sizeof(fpath), "%s/feed.%s", fx.dir, kind);
	snprintf(epath, sizeof(epath), "%s/expect.json", fx.dir);
	f = fopen(fpath, "wb");
	assert_non_null(f);
	fwrite(bl_buf_str(&r.body), 1, r.body.len, f);
	fclose(f);
	assert_int_equal(json_dump_file(want, epath, 0), 0);
	json_decref(want);
	snprintf(cmd, sizeof(cmd),
	         "/usr/bin/python3 '%s/tests/unit/check_feed.py' %s '%s' '%s' 2>&1", root, kind,
	         fpath, epath);
	bl_buf_init(&out, 0);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&out, chunk, got);
	if (pclose(f) != 0 || out.len)
		fail_msg("%s:\n%s", path, bl_buf_str(&out));
	bl_buf_finish(&out);
	reply_clear(&r);
}

static void test_feeds(void **state)
{
	check_served_feed("/feed.atom", "atom", 0, NULL, "Example <News> & Co");
	check_served_feed("/feed.json", "json", 0, NULL, "Example <News> & Co");
	check_served_feed("/lists/news/feed.atom", "atom", 1, "news",
	                  "Example <News> & Co: News & <Views>");
	check_served_feed("/lists/news/feed.json", "json", 1, "news",
	                  "Example <News> & Co: News & <Views>");
}

/* Public pages: cacheable, an ETag that answers 304; pages with tokens stay no-store. */
static void test_caching(void **state)
{
	static const char *const paths[] = {"/archive", "/feed.atom", "/feed.json",
	                                    "/static/style.css", "/lists/news/archive"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r, r2;
		char ifnm[128];
		get(paths[i], &r);
		expect_status(&r, paths[i], 200);
		char *cc = header(&r, "Cache-Control"), *etag = header(&r, "ETag");
		if (!cc || strstr(cc, "no-store") || !strstr(cc, "max-age="))
			fail_msg("%s: Cache-Control \"%s\"", paths[i], cc ? cc : "(none)");
		if (!etag || etag[0] != '"')
			fail_msg("%s: ETag \"%s\"", paths[i], etag ? etag : "(none)");
		snprintf(ifnm, sizeof(ifnm), "If-None-Match: W/\"x\", %s", etag);
		request("GET", paths[i], ifnm, &r2);
		expect_status(&r2, paths[i], 304);
		if (r2.body.len)
			fail_msg("%s: a 304 with a body", paths[i]);
		reply_clear(&r2);
		request("GET", paths[i], "If-None-Match: \"nope\"", &r2);
		expect_status(&r2, paths[i], 200);
		reply_clear(&r2);
		free(cc);
		free(etag);
		reply_clear(&r);
	}
	/* The stylesheet: text/css, long max-age, and the URL pages use. */
	struct reply r;
	get("/static/style.css", &r);
	expect_header(&r, "stylesheet", "Content-Type", "text/css; charset=utf-8");
	if (!strstr(bl_buf_str(&r.body), ".hp"))
		fail_msg("stylesheet: not ours");
	char *cc = header(&r, "Cache-Control");
	if (!cc || !strstr(cc, "max-age=604800"))
		fail_msg("stylesheet: Cache-Control %s", cc ? cc : "(none)");
	free(cc);
	reply_clear(&r);
	get("/archive", &r);
	json_t *sum = check_page("archive", &r.body);
	const char *css = json_string_value(json_array_get(json_object_get(sum, "stylesheets"), 0));
	if (!css || strncmp(css, "/static/style.css?v=", 20) != 0)
		fail_msg("archive: stylesheet link %s", css ? css : "(none)");
	struct reply r2;
	get(css, &r2);
	expect_status(&r2, css, 200);
	reply_clear(&r2);
	json_decref(sum);
	reply_clear(&r);
	/* Errors are not cached. */
	get("/archive/999999", &r);
	cc = header(&r, "Cache-Control");
	if (!cc || !strstr(cc, "no-store"))
		fail_msg("404: Cache-Control %s, want no-store", cc ? cc : "(none)");
	free(cc);
	reply_clear(&r);
}

/* HEAD answers like GET without a body; POST to a read-only route is 405. */
static void test_methods(void **state)
{
	struct reply r;
	request("HEAD", "/archive", NULL, &r);
	expect_status(&r, "HEAD /archive", 200);
	if (r.body.len)
		fail_msg("HEAD /archive: a body");
	reply_clear(&r);
	request("POST", "/archive", NULL, &r);
	expect_status(&r, "POST /archive", 405);
	reply_clear(&r);
	request("POST", "/feed.atom", NULL, &r);
	expect_status(&r, "POST /feed.atom", 405);
	reply_clear(&r);
}

static void test_healthz(void **state)
{
	struct reply r;
	get("/healthz", &r);
	expect_status(&r, "/healthz", 200);
	if (strcmp(bl_buf_str(&r.body), "ok\n") != 0)
		fail_msg("/healthz: body \"%s\", want \"ok\\n\"", bl_buf_str(&r.body));
	reply_clear(&r);
}

/* /metrics: the Prometheus text format 0.0.4, every family typed before its samples. */
static void test_metrics(void **state)
{
	struct reply r;
	regex_t sample, help, type;
	char typed[64][96];
	size_t n_typed = 0;
	get("/archive", &r); /* at least one counted request */
	reply_clear(&r);
	get("/metrics", &r);
	expect_status(&r, "/metrics", 200);
	expect_header(&r, "/metrics", "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(
	    regcomp(&sample,
	            "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\]*\""
	            "(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\]*\")*\\})? "
	            "-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$",
	            REG_EXTENDED),
	    0);
	assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$", REG_EXTENDED), 0);
	assert_int_equal(
	    regcomp(&type,
	            "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|"
	            "untyped)$",
	            REG_EXTENDED),
	    0);
	char *text = bl_xstrdup(bl_buf_str(&r.body)), *save = NULL;
	if (!r.body.len || text[r.body.len - 1] != '\n')
		fail_msg("/metrics: does not end with a line feed");
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[2];
		if (regexec(&type, line, 2, m, 0) == 0) {
			snprintf(typed[n_typed++], sizeof(typed[0]), "%.*s",
			         (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
			continue;
		}
		if (line[0] == '#') {
			if (regexec(&help, line, 0, NULL, 0) != 0)
				fail_msg("/metrics: bad comment line \"%s\"", line);
			continue;
		}
		if (regexec(&sample, line, 2, m, 0) != 0)
			fail_msg("/metrics: bad sample line \"%s\"", line);
		int known = 0;
		for (size_t i = 0; i < n_typed; i++)
			known |= strlen(typed[i]) == (size_t)(m[1].rm_eo - m[1].rm_so) &&
			         strncmp(typed[i], line + m[1].rm_so, strlen(typed[i])) == 0;
		if (!known)
			fail_msg("/metrics: \"%s\" before its # TYPE", line);
	}
	free(text);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
	/* The values: no subscriber, no delivery, the HTTP counts. */
	static const char *const want[] = {
	    "bulletin_subscribers{status=\"active\"} 0\n",
	    "bulletin_subscribers{status=\"blocklisted\"} 0\n",
	    "bulletin_subscriptions{status=\"confirmed\"} 0\n",
	    "bulletin_deliveries{state=\"pending\"} 0\n",
	    "bulletin_deliveries_accepted_last_minute 0\n",
	    "bulletin_queue_depth 0\n",
	    "bulletin_send_rate 0",
	    "bulletin_signup_breaker_open 0\n",
	    "# TYPE bulletin_http_requests_total counter\n",
	    "bulletin_http_requests_total{route=\"archive\",code=\"200\"} ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(bl_buf_str(&r.body), want[i]))
			fail_msg("/metrics: no \"%s\" in\n%s", want[i], bl_buf_str(&r.body));
	reply_clear(&r);
}

/* The page cache: a new post shows within BL_PAGE_CACHE_TTL; a cancelled one goes as fast.
 * Runs last: it adds a post to the fixture. */
static void test_page_cache(void **state)
{
	struct reply r;
	char subject[64];
	get("/archive", &r); /* now in the cache */
	expect_status(&r, "/archive", 200);
	reply_clear(&r);
	snprintf(subject, sizeof(subject), "Fresh post %d", (int)getpid());
	add_post(subject, "fresh", &fx.news_id, 1, 1, 0, 1, 1, 0);
	int64_t id = fx.posts[fx.n_posts - 1].id;
	double t0 = bl_monotonic();
	for (;;) {
		get("/archive", &r);
		int shown = strstr(bl_buf_str(&r.body), subject) != NULL;
		reply_clear(&r);
		if (shown)
			break;
		if (bl_monotonic() - t0 > BL_PAGE_CACHE_TTL + 0.5)
			fail_msg("a new post not in /archive %.1f s later", bl_monotonic() - t0);
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	get("/feed.atom", &r);
	reply_clear(&r);
	if (fx.s->ops->post_set_status(fx.s, id, ~0u, BL_POST_CANCELLED, NULL, 0, T0) != 1)
		fail_msg("cancel: %s", bl_store_error(fx.s));
	fx.posts[fx.n_posts - 1].visible = 0;
	t0 = bl_monotonic();
	for (;;) {
		get("/feed.atom", &r);
		int shown = strstr(bl_buf_str(&r.body), subject) != NULL;
		reply_clear(&r);
		if (!shown)
			break;
		if (bl_monotonic() - t0 > BL_PAGE_CACHE_TTL + 0.5)
			fail_msg("a cancelled post still in /feed.atom %.1f s later",
			         bl_monotonic() - t0);
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_archive_pages),
	    cmocka_unit_test(test_list_archive),
	    cmocka_unit_test(test_archive_bad_query),
	    cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_post_lists),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_feeds),
	    cmocka_unit_test(test_caching),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_healthz),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_page_cache),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
