/*
 * The admin UI (src/http/admin.c) over real HTTP: the web application's
 * route table served by the HTTP core on 127.0.0.1 port 0, driven with
 * libcurl, on a SQLite database (and, with BL_TEST_PG, a PostgreSQL one:
 * BL_TEST_BACKEND=postgres). Users of each role log in through the login
 * page. Covers: every page for every role (and its HTML read back by
 * tests/unit/check_html.py --admin), the login redirect, login CSRF (the
 * nonce cookie), next= sanitising, dead preview links, session fixation,
 * logout, CSRF (missing and wrong token) on every admin POST, a viewer
 * trying every write, XSS payloads in list names, post subjects and
 * subscriber names (and feed titles, URLs and last errors) on every page,
 * and the publisher's flow: list, composer, preview, send, progress,
 * deliveries, actions, import job, users, tokens, audit log, and feeds (add,
 * poll now against tests/feed/fixture_server.py on 127.0.0.1, remove).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/admin.h"
#include "http/web.h"
#include "import/job.h"
#include "send/engine.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/time.h"

#include "lib.h"

#ifndef BL_TEST_BACKEND
#define BL_TEST_BACKEND "sqlite"
#endif

static struct tl_db tdb;
static struct bl_config *cfg;
static struct bl_store *db;
static struct bl_web web;
static struct bl_http_server *srv;
static int port;
static struct tl_feeds feeds; /* tests/feed/fixture_server.py serving tdb.dir */

#define XSS1 "<script>alert(1)</script>"
#define XSS2 "\"><img src=x onerror=alert(1)>"

/* ---- HTTP ---- */

/* One request; @body NULL for a GET; @ctype the body's Content-Type (NULL: urlencoded). */
static void http(const char *method, const char *path, const char *body, size_t body_len,
                 const char *ctype, const char *cookie, struct reply *r)
{
	char h[256];
	struct tl_request q = {
	    .method = method, .path = path, .body = body, .body_len = body_len, .cookie = cookie};
	if (body && ctype) {
		snprintf(h, sizeof(h), "Content-Type: %s", ctype);
		q.hdrs = curl_slist_append(NULL, h);
	}
	tl_fetch(port, &q, r);
	curl_slist_free_all(q.hdrs);
}

static void get(const char *path, const char *cookie, struct reply *r)
{
	http("GET", path, NULL, 0, NULL, cookie, r);
}

static void post(const char *path, const char *body, const char *cookie, struct reply *r)
{
	http("POST", path, body, strlen(body), NULL, cookie, r);
}

/* ---- sessions ---- */

struct who {
	const char *name;
	enum bl_role role;
	char password[BL_PASSWORD_GEN_LEN];
	char cookie[128]; /* "bl_admin=..." */
	char csrf[64];
	int64_t id;
};

static struct who viewer = {.name = "vera", .role = BL_ROLE_VIEWER};
static struct who editor = {.name = "eddie", .role = BL_ROLE_EDITOR};
static struct who admin = {.name = "ada", .role = BL_ROLE_ADMIN};

/* The CSRF token of a page (the first name="csrf" field), into @out; 1 when found. */
static int csrf_of(const char *html, char *out, size_t size)
{
	const char *p = strstr(html, "name=\"csrf\" value=\"");
	if (!p)
		return 0;
	p += 19;
	size_t n = strcspn(p, "\"");
	if (n >= size)
		return 0;
	memcpy(out, p, n);
	out[n] = 0;
	return 1;
}

/* The value of the Set-Cookie header that sets cookie @name ("NAME=VALUE; attrs"), or 0. */
static int set_cookie_of(const struct reply *r, const char *name, char *out, size_t size)
{
	const char *p = r->headers;
	size_t n = strlen(name);
	while (p && *p) {
		if (strncasecmp(p, "Set-Cookie:", 11) == 0) {
			const char *v = p + 11 + strspn(p + 11, " ");
			if (strncmp(v, name, n) == 0 && v[n] == '=') {
				size_t k = strcspn(v, "\r\n");
				if (k >= size)
					k = size - 1;
				memcpy(out, v, k);
				out[k] = 0;
				return 1;
			}
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

/*
 * GET the login page (with @cookie, NULL: none): its nonce cookie as
 * "bl_login=VALUE" into @cookie_out and the form's nonce into @nonce.
 */
static void login_form(const char *cookie, char *cookie_out, size_t csize, char *nonce,
                       size_t nsize)
{
	struct reply r;
	char sc[256];
	get("/admin/login", cookie, &r);
	tl_want_status(&r, 200, "GET /admin/login");
	if (!set_cookie_of(&r, BL_LOGIN_COOKIE, sc, sizeof(sc)))
		fail_msg("login page: no %s cookie; headers: %s", BL_LOGIN_COOKIE, r.headers);
	sc[strcspn(sc, ";")] = 0;
	if (strlen(sc) >= csize)
		fail_msg("login page: nonce cookie %s too long", sc);
	memcpy(cookie_out, sc, strlen(sc) + 1);
	if (!csrf_of(r.body, nonce, nsize))
		fail_msg("login page: no csrf field in %.2000s", r.body);
	reply_free(&r);
}

/* Log @w in through the login page with @cookie_before (NULL: none) sent along. */
static void login(struct who *w, const char *cookie_before)
{
	struct reply r;
	char body[256], sc[128], loc[256], nonce_cookie[128], nonce[64], cookies[300];
	login_form(NULL, nonce_cookie, sizeof(nonce_cookie), nonce, sizeof(nonce));
	snprintf(cookies, sizeof(cookies), "%s%s%s", nonce_cookie, cookie_before ? "; " : "",
	         cookie_before ? cookie_before : "");
	snprintf(body, sizeof(body), "csrf=%s&name=%s&password=%s&next=%%2Fadmin%%2Fposts", nonce,
	         w->name, w->password);
	post("/admin/login", body, cookies, &r);
	tl_want_status(&r, 303, "login");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	if (strcmp(loc, "/admin/posts") != 0)
		fail_msg("login redirect: got %s, want /admin/posts", loc);
	assert_true(set_cookie_of(&r, BL_ADMIN_COOKIE, sc, sizeof(sc)));
	if (!strstr(sc, "HttpOnly") || !strstr(sc, "SameSite=Strict"))
		fail_msg("session cookie attributes: got %s", sc);
	sc[strcspn(sc, ";")] = 0;
	snprintf(w->cookie, sizeof(w->cookie), "%s", sc);
	/* the nonce is spent: its cookie is cleared */
	if (!set_cookie_of(&r, BL_LOGIN_COOKIE, loc, sizeof(loc)) || !strstr(loc, "Max-Age=0"))
		fail_msg("login: the nonce cookie is not cleared; headers: %s", r.headers);
	reply_free(&r);
	get("/admin", w->cookie, &r);
	tl_want_status(&r, 200, "dashboard after login");
	assert_true(csrf_of(r.body, w->csrf, sizeof(w->csrf)));
	reply_free(&r);
}

static void make_user(struct who *w)
{
	char hash[BL_PASSWORD_HASH_MAX];
	bl_password_generate(w->password);
	assert_int_equal(bl_password_hash(w->password, strlen(w->password), hash), 0);
	struct bl_user u = {.name = (char *)w->name, .role = w->role, .pass_hash = hash};
	assert_int_equal(db->ops->user_create(db, &u), 0);
	w->id = u.id;
	login(w, NULL);
}

/* ---- the HTML checker ---- */

/* Parse @html with check_html.py --admin; fails on any problem. */
static void check_page(const char *what, const char *html, size_t len)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	char path[256], cmd[768], chunk[8192];
	struct bl_buf out;
	json_error_t err;
	size_t got, k;
	json_t *all, *pr;
	FILE *f;
	assert_non_null(root);
	snprintf(path, sizeof(path), "%s/page.html", tdb.dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(html, 1, len, f);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/tests/unit/check_html.py' --admin '%s'",
	         root, path);
	bl_buf_init(&out, 0);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&out, chunk, got);
	if (pclose(f) != 0 || !(all = json_loads(bl_buf_str(&out), 0, &err)))
		fail_msg("%s: check_html.py failed: %s", what, bl_buf_str(&out));
	bl_buf_finish(&out);
	json_array_foreach(json_object_get(json_object_get(all, path), "problems"), k, pr)
	    fail_msg("%s: %s", what, json_string_value(pr));
	json_decref(all);
}

/* ---- fixtures ---- */

static void set(const char *k, const char *v)
{
	struct bl_diag d;
	if (bl_config_set(cfg, k, v, BL_ORIGIN_FLAG, "test", &d))
		fail_msg("config %s: %s", k, d.msg);
}

static int64_t list_news, sub_id, post_draft, post_sent;
/* Feeds with payloads: in the URL and the title; in the last error (never polled). */
static int64_t feed_xss, feed_failing;

static int64_t make_list(const char *slug, const char *name)
{
	struct bl_list l = {.slug = (char *)slug,
	                    .name = (char *)name,
	                    .description = (char *)XSS2,
	                    .optin = BL_OPTIN_SINGLE,
	                    .visibility = BL_VISIBILITY_PUBLIC};
	assert_int_equal(db->ops->list_create(db, &l), 0);
	return l.id;
}

static int64_t signup(const char *email, const char *name, int64_t list)
{
	struct bl_signup in = {
	    .email = email,
	    .email_key = email,
	    .name = name,
	    .list_ids = &list,
	    .n_lists = 1,
	    .ctx = {.now = bl_now(), .ip = "127.0.0.1", .user_agent = "t", .source = "test"},
	    .confirm_interval = 86400,
	    .confirm_subject = "Confirm"};
	struct bl_signup_result out;
	assert_int_equal(db->ops->web_signup(db, &in, &out), 0);
	return out.subscriber_id;
}

static int64_t make_post(const char *subject, int send)
{
	struct bl_post p = {.kind = BL_POST_KIND_POST,
	                    .subject = (char *)subject,
	                    .body = (char *)"Hello **{{name}}**. " XSS1,
	                    .from_header = (char *)"",
	                    .status = BL_POST_DRAFT};
	assert_int_equal(db->ops->post_create(db, &p, &list_news, 1), 0);
	if (send) {
		int64_t total;
		assert_int_equal(db->ops->post_queue(db, p.id, bl_now(), &total), 1);
	}
	return p.id;
}

/* A feed to the news list, never polled by the tests (port 9 on loopback). */
static int64_t make_feed(const char *url)
{
	struct bl_feed f = {
	    .url = (char *)url, .mode = BL_FEED_SEND, .every = 900, .created_at = bl_now()};
	assert_int_equal(db->ops->feed_create(db, &f, &list_news, 1), 0);
	return f.id;
}

/* Records finding @key (store op bounce_record) of @cls for post @post and subscriber @sub
 * (0/0: unattributed, in the review bucket), with a stranger's @recipient and @diagnostic. */
static void record_bounce(const char *key, enum bl_bounce_class cls, int64_t post, int64_t sub,
                          const char *recipient, const char *diagnostic)
{
	struct bl_bounce_policy pol = {.hard_limit = 1, .soft_limit = 5, .soft_window = 30 * 86400};
	struct bl_bounce_event ev = {.report_key = key,
	                             .source = "pipe",
	                             .kind = "dsn",
	                             .cls = cls,
	                             .reason = "",
	                             .status = "5.1.1",
	                             .reply_code = 550,
	                             .final = 1,
	                             .recipient = recipient,
	                             .diagnostic = diagnostic,
	                             .feedback_type = "",
	                             .post_id = post,
	                             .subscriber_id = sub,
	                             .attributed_by = sub ? "verp" : "",
	                             .review = sub ? "" : "no VERP token " XSS2};
	struct bl_bounce_outcome o;
	if (db->ops->bounce_record(db, &ev, &pol, bl_now(), &o))
		fail_msg("bounce_record %s: %s", key, bl_store_error(db));
}

/* ---- a fingerprint of everything an admin POST could change ---- */

static int fp_list(void *arg, const struct bl_list *l)
{
	bl_buf_addf(arg, "L %s|%s|%s|%d|%d\n", l->slug, l->name, l->description, (int)l->optin,
	            (int)l->visibility);
	return 0;
}
static int fp_user(void *arg, const struct bl_user *u)
{
	bl_buf_addf(arg, "U %s|%d|%s\n", u->name, (int)u->role, u->pass_hash);
	return 0;
}
static int fp_token(void *arg, const struct bl_api_token *t)
{
	bl_buf_addf(arg, "T %s|%d\n", t->name, (int)t->role);
	return 0;
}
static int fp_post(void *arg, const struct bl_post *p)
{
	bl_buf_addf(arg, "P %lld|%d|%s|%lld|%s\n", (long long)p->id, (int)p->status, p->subject,
	            (long long)p->scheduled_at, p->body);
	return 0;
}
static int fp_sub(void *arg, const struct bl_subscriber *s)
{
	bl_buf_addf(arg, "S %lld|%s|%d\n", (long long)s->id, s->email, (int)s->status);
	return 0;
}
static int fp_job(void *arg, const struct bl_job *j)
{
	bl_buf_addf(arg, "J %lld\n", (long long)j->id);
	return 0;
}
static int fp_feed(void *arg, const struct bl_feed *f)
{
	bl_buf_addf(arg, "F %lld|%s|%d|%lld|%lld|%lld|%lld|%lld|%s\n", (long long)f->id, f->url,
	            (int)f->mode, (long long)f->every, (long long)f->polled_at,
	            (long long)f->failures, (long long)f->items, (long long)f->posts,
	            f->last_error);
	return 0;
}
static int fp_audit(void *arg, const struct bl_audit *a)
{
	bl_buf_addf(arg, "A %lld %s %s\n", (long long)a->id, a->action, a->target);
	return 0;
}

static char *fingerprint(void)
{
	struct bl_buf b;
	struct bl_subscriber_filter f = {.sub_status = -1, .status = -1};
	bl_buf_init(&b, 0);
	assert_int_equal(db->ops->list_each(db, fp_list, &b), 0);
	assert_int_equal(db->ops->user_each(db, fp_user, &b), 0);
	assert_int_equal(db->ops->token_each(db, fp_token, &b), 0);
	assert_int_equal(db->ops->post_page(db, BL_POST_KIND_POST, 0, 0, fp_post, &b), 0);
	assert_int_equal(db->ops->subscriber_each(db, &f, fp_sub, &b), 0);
	assert_true(db->ops->job_each(db, 0, fp_job, &b) >= 0);
	assert_int_equal(db->ops->feed_each(db, fp_feed, &b), 0);
	/* the newest entries that are not logins */
	assert_int_equal(db->ops->audit_each(db, 0, 0, fp_audit, &b), 0);
	char *s = bl_buf_take(&b);
	/* logins and failed logins are audited too: keep only other entries */
	struct bl_buf k;
	bl_buf_init(&k, 0);
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		if (!strstr(line, " login"))
			bl_buf_addf(&k, "%s\n", line);
	free(s);
	return bl_buf_take(&k);
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
	struct bl_diag d;
	if (tl_db_create(BL_TEST_BACKEND, "admin", &tdb))
		return -1;
	cfg = bl_config_create();
	set("db", tdb.uri);
	set("from", "Test News <news@bulletin.test>");
	set("public_url", "http://bulletin.test");
	set("site_name", "Test News");
	char relay[300];
	snprintf(relay, sizeof(relay), "maildir:%s/outbox", tdb.dir);
	set("relay", relay);
	set("log_level", "error");
	set("login_rate_ip", "0");
	set("login_rate_user", "0");
	/* "Poll now" reaches the fixture server on 127.0.0.1. */
	set("feed_allow_private", "true");
	set("feed_timeout", "10s");
	if (tl_feeds_start(tdb.dir, &feeds))
		return -1;

	struct bl_store_opts so = {.busy_timeout_ms = 10000};
	if (bl_store_open(tdb.uri, &so, &db, &d)) {
		fprintf(stderr, "%s\n", d.msg);
		return -1;
	}
	int from, to;
	char key[BL_HASH_HEX];
	bl_secret_generate(key);
	if (db->ops->migrate(db, &from, &to) || db->ops->setting_set(db, "secret_key", key))
		return -1;
	memset(&web, 0, sizeof(web));
	if (bl_web_init(&web, cfg, db, &d)) {
		fprintf(stderr, "web: %s\n", d.msg);
		return -1;
	}
	size_t n;
	const struct bl_http_route *routes = bl_web_routes(&n);
	struct bl_http_opts ho = {
	    .listen = "127.0.0.1:0",
	    .routes = routes,
	    .n_routes = n,
	    .app = &web,
	    .db_uri = tdb.uri,
	    .db_opts = so,
	    .threads = 4,
	    .body_max = 65536,
	    .gate = bl_auth_gate,
	};
	if (bl_http_start(&ho, &srv, &d)) {
		fprintf(stderr, "server: %s\n", d.msg);
		return -1;
	}
	web.server = srv;
	port = bl_http_port(srv);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	list_news = make_list("news", "News " XSS1);
	make_list("xss", XSS2);
	sub_id = signup("reader@example.org", "Reader " XSS1, list_news);
	signup("other@example.org", XSS2, list_news);
	post_draft = make_post("Draft " XSS1, 0);
	post_sent = make_post("Sent " XSS2, 1);
	feed_xss = make_feed("http://127.0.0.1:9/?q=" XSS2);
	assert_int_equal(db->ops->feed_ingest(db, feed_xss, bl_now(), bl_now() + 900, "", "",
	                                      "Feed " XSS1, NULL, 0, NULL),
	                 1);
	feed_failing = make_feed("http://127.0.0.1:9/err.xml");
	assert_int_equal(
	    db->ops->feed_polled(db, feed_failing, bl_now(), bl_now() + 1800, "Error " XSS2 XSS1),
	    1);
	/* Findings with payloads in what strangers write: the recipient, the diagnostic. */
	record_bounce("fixture-review", BL_BOUNCE_HARD, 0, 0, "x" XSS1 "@evil.example",
	              "550 " XSS2);
	make_user(&viewer);
	make_user(&editor);
	make_user(&admin);
	(void)state;
	return 0;
}

static int group_teardown(void **state)
{
	tl_feeds_stop(&feeds);
	bl_http_stop(srv);
	bl_web_finish(&web);
	bl_store_close(db);
	bl_config_destroy(cfg);
	tl_db_drop(&tdb);
	(void)state;
	return 0;
}

/* ---- pages ---- */

/* Every GET page, and the least role that sees it. */
struct page {
	const char *path; /* "%lld" is the draft post's id, "%s" never */
	enum bl_role role;
};

static void page_path(const struct page *p, char *out, size_t size)
{
	if (strstr(p->path, "SUB"))
		snprintf(out, size, "/admin/subscribers/%lld", (long long)sub_id);
	else if (strstr(p->path, "SENT"))
		snprintf(out, size, "/admin/posts/%lld", (long long)post_sent);
	else if (strstr(p->path, "DRAFTEDIT"))
		snprintf(out, size, "/admin/posts/%lld/edit", (long long)post_draft);
	else if (strstr(p->path, "DRAFT"))
		snprintf(out, size, "/admin/posts/%lld", (long long)post_draft);
	else
		snprintf(out, size, "%s", p->path);
}

static const struct page pages[] = {
    {"/admin", BL_ROLE_VIEWER},
    {"/admin/lists", BL_ROLE_VIEWER},
    {"/admin/lists/news", BL_ROLE_VIEWER},
    {"/admin/lists/xss", BL_ROLE_VIEWER},
    {"/admin/lists/new", BL_ROLE_EDITOR},
    {"/admin/subscribers", BL_ROLE_VIEWER},
    {"/admin/subscribers?q=READER&list=news&status=active", BL_ROLE_VIEWER},
    {"SUB", BL_ROLE_VIEWER},
    {"/admin/import", BL_ROLE_VIEWER},
    {"/admin/posts", BL_ROLE_VIEWER},
    {"/admin/posts/new", BL_ROLE_EDITOR},
    {"DRAFT", BL_ROLE_VIEWER},
    {"DRAFTEDIT", BL_ROLE_EDITOR},
    {"SENT", BL_ROLE_VIEWER},
    {"/admin/feeds", BL_ROLE_VIEWER},
    {"/admin/users", BL_ROLE_ADMIN},
    {"/admin/tokens", BL_ROLE_ADMIN},
    {"/admin/audit", BL_ROLE_ADMIN},
    {"/admin/bounces", BL_ROLE_VIEWER},
    {"/admin/bounces?review=1", BL_ROLE_VIEWER},
    {"/admin/bounces?post=2&before=999999", BL_ROLE_VIEWER},
};
#define N_PAGES (sizeof(pages) / sizeof(pages[0]))

static void test_pages_by_role(void **state)
{
	struct who *whos[] = {&viewer, &editor, &admin};
	struct reply r;
	char path[256], what[320], csp[1024];
	for (size_t w = 0; w < 3; w++) {
		for (size_t i = 0; i < N_PAGES; i++) {
			page_path(&pages[i], path, sizeof(path));
			snprintf(what, sizeof(what), "GET %s as %s", path,
			         bl_role_name(whos[w]->role));
			get(path, whos[w]->cookie, &r);
			long want = whos[w]->role >= pages[i].role ? 200 : 403;
			tl_want_status(&r, want, what);
			check_page(what, r.body, r.len);
			assert_true(tl_header(&r, "Content-Security-Policy", csp, sizeof(csp)));
			if (!strstr(csp, "script-src 'self'") || strstr(csp, "unsafe"))
				fail_msg("%s: CSP %s", what, csp);
			/* the payloads are shown escaped, never raw */
			if (strstr(r.body, XSS1) || strstr(r.body, "<img src=x"))
				fail_msg("%s: a raw XSS payload in the page", what);
			reply_free(&r);
		}
	}
	/* the payloads did reach the pages, escaped */
	get("/admin/lists", admin.cookie, &r);
	assert_non_null(strstr(r.body, "News &lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(r.body, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
	reply_free(&r);
	get("/admin/subscribers", admin.cookie, &r);
	assert_non_null(strstr(r.body, "Reader &lt;script&gt;"));
	reply_free(&r);
	get("/admin/posts", admin.cookie, &r);
	assert_non_null(strstr(r.body, "Draft &lt;script&gt;"));
	reply_free(&r);
	/* the feeds page: a title, a URL and a last error */
	static const char *const feed_escaped[] = {
	    "Feed &lt;script&gt;alert(1)&lt;/script&gt;",
	    "http://127.0.0.1:9/?q=&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
	    "1 failed: Error &quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;",
	};
	get("/admin/feeds", editor.cookie, &r);
	for (size_t i = 0; i < sizeof(feed_escaped) / sizeof(feed_escaped[0]); i++)
		if (!strstr(r.body, feed_escaped[i]))
			fail_msg("GET /admin/feeds: want \"%s\" (escaped) in the page",
			         feed_escaped[i]);
	reply_free(&r);
	(void)state;
}

static void test_login_redirect_and_fixation(void **state)
{
	struct reply r;
	char loc[512];
	/* no session: to the login page with where to go after */
	get("/admin/posts?before=5", NULL, &r);
	tl_want_status(&r, 303, "GET /admin/posts without a session");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	if (strcmp(loc, "/admin/login?next=%2Fadmin%2Fposts%3Fbefore%3D5") != 0)
		fail_msg("login redirect: got %s", loc);
	reply_free(&r);
	/* an unknown cookie is no session */
	get("/admin", "bl_admin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &r);
	tl_want_status(&r, 303, "GET /admin with a made-up cookie");
	reply_free(&r);
	/* the login page renders, and a wrong password gets it again */
	get("/admin/login?next=%2Fadmin%2Flists", NULL, &r);
	tl_want_status(&r, 200, "GET /admin/login");
	check_page("login page", r.body, r.len);
	assert_non_null(strstr(r.body, "value=\"/admin/lists\""));
	reply_free(&r);
	char nc[128], nonce[64], body0[256];
	login_form(NULL, nc, sizeof(nc), nonce, sizeof(nonce));
	snprintf(body0, sizeof(body0), "csrf=%s&name=ada&password=wrong&next=%%2Fadmin", nonce);
	post("/admin/login", body0, nc, &r);
	tl_want_status(&r, 200, "a wrong password");
	assert_non_null(strstr(r.body, "Wrong user name or password"));
	assert_false(set_cookie_of(&r, BL_ADMIN_COOKIE, loc, sizeof(loc)));
	reply_free(&r);
	snprintf(body0, sizeof(body0), "csrf=%s&x=1", nonce);
	post("/admin/login", body0, nc, &r);
	tl_want_status(&r, 422, "login without fields");
	reply_free(&r);

	/* session fixation: a session cookie from before login is not valid after it */
	struct who w = editor;
	char before[128];
	snprintf(before, sizeof(before), "%s", w.cookie);
	login(&w, before);
	if (strcmp(before, w.cookie) == 0)
		fail_msg("the session id did not change at login: %s", w.cookie);
	get("/admin", before, &r);
	tl_want_status(&r, 303, "the session cookie from before login");
	reply_free(&r);
	get("/admin", w.cookie, &r);
	tl_want_status(&r, 200, "the new session");
	reply_free(&r);
	editor = w;

	/* logout: CSRF checked, then the session ends */
	struct who v = viewer;
	login(&v, NULL);
	post("/admin/logout", "csrf=wrong", v.cookie, &r);
	tl_want_status(&r, 403, "logout with a wrong CSRF token");
	reply_free(&r);
	get("/admin", v.cookie, &r);
	tl_want_status(&r, 200, "still logged in after a refused logout");
	reply_free(&r);
	char body[128];
	snprintf(body, sizeof(body), "csrf=%s", v.csrf);
	post("/admin/logout", body, v.cookie, &r);
	tl_want_status(&r, 303, "logout");
	reply_free(&r);
	get("/admin", v.cookie, &r);
	tl_want_status(&r, 303, "after logout");
	reply_free(&r);
	(void)state;
}

/* How many login.failed entries the audit log holds. */
static int count_failed_logins(void)
{
	struct bl_buf b;
	int n = 0;
	bl_buf_init(&b, 0);
	assert_int_equal(db->ops->audit_each(db, 0, 0, fp_audit, &b), 0);
	for (const char *p = bl_buf_str(&b); (p = strstr(p, " login.failed ")); p++)
		n++;
	bl_buf_finish(&b);
	return n;
}

/*
 * Login CSRF: the login page sets a nonce cookie (HttpOnly, SameSite=Strict,
 * short-lived) and puts the same nonce in its form; a POST without both, or
 * with two that differ, is refused with 403 and the form again (with a new
 * nonce), before any password is checked (no login.failed audited, no session).
 */
static void test_login_csrf(void **state)
{
	struct reply r;
	char nc[128], nonce[64], nc2[128], nonce2[64], sc[256], body[512], cookies[300];
	login_form(NULL, nc, sizeof(nc), nonce, sizeof(nonce));
	/* the cookie's attributes */
	get("/admin/login", NULL, &r);
	assert_true(set_cookie_of(&r, BL_LOGIN_COOKIE, sc, sizeof(sc)));
	if (!strstr(sc, "; HttpOnly") || !strstr(sc, "; SameSite=Strict") ||
	    !strstr(sc, "; Max-Age=1800") || !strstr(sc, "; Path=/"))
		fail_msg("login nonce cookie: got %s, want HttpOnly, SameSite=Strict, "
		         "Max-Age=1800, Path=/",
		         sc);
	reply_free(&r);
	/* each page gets a nonce of its own */
	login_form(NULL, nc2, sizeof(nc2), nonce2, sizeof(nonce2));
	if (strcmp(nonce, nonce2) == 0)
		fail_msg("two login pages got the same nonce %s", nonce);
	if (strcmp(nc + strlen(BL_LOGIN_COOKIE) + 1, nonce) != 0)
		fail_msg("login page: cookie %s, form nonce %s: want them equal", nc, nonce);

	static const struct {
		const char *what;
		int field;  /* 0: none, 1: the nonce, 2: the other page's nonce, 3: junk */
		int cookie; /* 0: none, 1: the nonce's cookie, 2: the other page's cookie */
	} cases[] = {
	    {"no field, no cookie (a cross-site form)", 0, 0},
	    {"a field but no cookie (SameSite kept it back)", 1, 0},
	    {"a cookie but no field", 0, 1},
	    {"field and cookie of two different pages", 2, 1},
	    {"the other page's field and cookie mixed", 1, 2},
	    {"a junk field", 3, 1},
	};
	int failed_before = count_failed_logins();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *before = fingerprint();
		const char *f = cases[i].field == 1   ? nonce
		                : cases[i].field == 2 ? nonce2
		                : cases[i].field == 3 ? "AAAA"
		                                      : NULL;
		snprintf(body, sizeof(body), "%s%s%sname=%s&password=%s&next=%%2Fadmin%%2Flists",
		         f ? "csrf=" : "", f ? f : "", f ? "&" : "", admin.name, admin.password);
		post("/admin/login", body,
		     cases[i].cookie == 1   ? nc
		     : cases[i].cookie == 2 ? nc2
		                            : NULL,
		     &r);
		tl_want_status(&r, 403, cases[i].what);
		if (set_cookie_of(&r, BL_ADMIN_COOKIE, sc, sizeof(sc)))
			fail_msg("%s: a session cookie was set: %s", cases[i].what, sc);
		if (!strstr(r.body, "The login form had expired or was not sent from this page"))
			fail_msg("%s: no message in %.2000s", cases[i].what, r.body);
		/* the form again, with a fresh nonce and where to go after */
		char fresh[64];
		if (!csrf_of(r.body, fresh, sizeof(fresh)) || !strcmp(fresh, nonce) ||
		    !set_cookie_of(&r, BL_LOGIN_COOKIE, sc, sizeof(sc)))
			fail_msg("%s: no fresh login form", cases[i].what);
		assert_non_null(strstr(r.body, "value=\"/admin/lists\""));
		check_page(cases[i].what, r.body, r.len);
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something", cases[i].what);
		free(before);
		free(after);
	}
	/* nothing was checked: no login.failed audited for those six */
	if (count_failed_logins() != failed_before)
		fail_msg("refused login forms: got %d login.failed entries, want %d",
		         count_failed_logins(), failed_before);
	/* the matching pair works (with other cookies along) */
	snprintf(cookies, sizeof(cookies), "theme=dark; %s; other=1", nc);
	snprintf(body, sizeof(body), "csrf=%s&name=%s&password=%s&next=%%2Fadmin%%2Flists", nonce,
	         admin.name, admin.password);
	post("/admin/login", body, cookies, &r);
	tl_want_status(&r, 303, "the login page's own nonce and cookie");
	assert_true(set_cookie_of(&r, BL_ADMIN_COOKIE, sc, sizeof(sc)));
	reply_free(&r);
	(void)state;
}

/* next= after login: only a path under /admin of printable ASCII, no backslash, no "//". */
static void test_login_next(void **state)
{
	static const struct {
		const char *next; /* urlencoded */
		long status;
		const char *location; /* NULL: none */
	} cases[] = {
	    {"%2Fadmin%2Fposts%3Fbefore%3D5", 303, "/admin/posts?before=5"},
	    {"%2Fadmin", 303, "/admin"},
	    {"%2Fadmin%3Fdone%3Dsaved", 303, "/admin?done=saved"},
	    {"%2Fadmin%2F%0Bfoo", 303, "/admin"},
	    {"%2Fadmin%2F%09%2Fevil.example", 303, "/admin"},
	    {"%2Fadmin%2F%0D%0ASet-Cookie:%20x=1", 303, "/admin"},
	    {"%2Fadmin%2F%0Aevil", 303, "/admin"},
	    {"%2Fadmin%2F%0Devil", 303, "/admin"},
	    {"%2Fadmin%2F%7Fevil", 303, "/admin"},
	    {"%2Fadmin%2F%1Bevil", 303, "/admin"},
	    {"%2Fadmin%2F%20evil", 303, "/admin"},
	    {"%2Fadmin%2F%5Cevil.example", 303, "/admin"},
	    {"%2Fadmin%2Fcaf%C3%A9", 303, "/admin"},
	    {"%2Fadmin%2F%C2%85evil", 303, "/admin"},
	    {"%2Fadmin%2F%2Fevil.example", 303, "/admin"},
	    {"%2F%2Fevil.example%2Fadmin", 303, "/admin"},
	    {"https%3A%2F%2Fevil.example%2Fadmin", 303, "/admin"},
	    {"%2Fadministrator", 303, "/admin"},
	    {"%2Fadmin%2F%00evil", 400, NULL}, /* the form decoder refuses a NUL */
	};
	struct reply r;
	char path[512], loc[1024], what[600];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* logged in, the login page goes straight to next */
		snprintf(path, sizeof(path), "/admin/login?next=%s", cases[i].next);
		snprintf(what, sizeof(what), "GET %s with a session", path);
		get(path, viewer.cookie, &r);
		tl_want_status(&r, cases[i].status, what);
		int has = tl_header(&r, "Location", loc, sizeof(loc));
		if (cases[i].location ? !has || strcmp(loc, cases[i].location) != 0 : has)
			fail_msg("%s: got Location \"%s\", want \"%s\"", what, has ? loc : "(none)",
			         cases[i].location ? cases[i].location : "(none)");
		reply_free(&r);
		if (!cases[i].location)
			continue;
		/* and the form carries only a good next */
		get(path, NULL, &r);
		tl_want_status(&r, 200, what);
		char want[1100];
		snprintf(want, sizeof(want), "name=\"next\" value=\"%s\"", cases[i].location);
		if (!strstr(r.body, want))
			fail_msg("%s without a session: want %s in the form", what, want);
		reply_free(&r);
	}
	(void)state;
}

/* ---- every admin POST ---- */

struct write {
	const char *path; /* with %lld: the id below */
	int which;        /* 0: none, 1: subscriber, 2: draft post, 3: sent post, 4: viewer user,
	                     5: the failing feed */
	const char *body; /* without csrf */
	enum bl_role role;
};

static const struct write writes[] = {
    {"/admin/lists/new", 0, "slug=made&name=Made&optin=single&visibility=public", BL_ROLE_EDITOR},
    {"/admin/lists/news", 0, "name=Renamed&optin=double&visibility=private", BL_ROLE_EDITOR},
    {"/admin/subscribers/%lld/blocklist", 1, "reason=spam", BL_ROLE_EDITOR},
    {"/admin/subscribers/%lld/unblock", 1, "", BL_ROLE_EDITOR},
    {"/admin/subscribers/%lld/erase", 1, "confirm=1", BL_ROLE_EDITOR},
    {"/admin/subscribers/new", 0, "email=csrf%40example.org&add_list=news&confirmed=1",
     BL_ROLE_EDITOR},
    {"/admin/import?list=news", 0, "email\nnew@example.org\n", BL_ROLE_EDITOR},
    {"/admin/posts/new", 0, "subject=S&body=B&list=news&action=draft", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/edit", 2, "subject=S2&body=B2&list=news&action=draft", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/send", 2, "confirm=1", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/schedule", 2, "scheduled_at=2099-01-01T10:00", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/unschedule", 2, "", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/cancel", 2, "confirm=1", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/pause", 3, "", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/resume", 3, "", BL_ROLE_EDITOR},
    {"/admin/posts/%lld/retry", 3, "", BL_ROLE_EDITOR},
    {"/admin/users/new", 0, "name=mallory&role=admin", BL_ROLE_ADMIN},
    {"/admin/users/%lld/role", 4, "role=admin", BL_ROLE_ADMIN},
    {"/admin/users/%lld/password", 4, "", BL_ROLE_ADMIN},
    {"/admin/users/%lld/delete", 4, "", BL_ROLE_ADMIN},
    {"/admin/tokens/new", 0, "name=script&role=admin", BL_ROLE_ADMIN},
    {"/admin/feeds/new", 0,
     "url=http%3A%2F%2F127.0.0.1%3A9%2Fcsrf.xml&list=news&mode=send&every=900", BL_ROLE_EDITOR},
    {"/admin/feeds/%lld/poll", 5, "", BL_ROLE_EDITOR},
    {"/admin/feeds/%lld/delete", 5, "", BL_ROLE_EDITOR},
};
#define N_WRITES (sizeof(writes) / sizeof(writes[0]))

static void write_path(const struct write *w, char *out, size_t size)
{
	int64_t ids[] = {0, sub_id, post_draft, post_sent, viewer.id, feed_failing};
	const char *mark = strstr(w->path, "%lld");
	if (!mark)
		snprintf(out, size, "%s", w->path);
	else
		snprintf(out, size, "%.*s%lld%s", (int)(mark - w->path), w->path,
		         (long long)ids[w->which], mark + 4);
}

/* POST @w as @who with @csrf ("" none; NULL: @who's own token). */
static void do_write(const struct write *w, const struct who *who, const char *csrf,
                     struct reply *r)
{
	char path[256], body[512];
	write_path(w, path, sizeof(path));
	const char *token = csrf ? csrf : who->csrf;
	if (strncmp(path, "/admin/import", 13) == 0) {
		/* the raw CSV: the token in the query */
		char p2[400];
		snprintf(p2, sizeof(p2), "%s%s%s", path, *token ? "&csrf=" : "", token);
		http("POST", p2, w->body, strlen(w->body), "text/csv", who->cookie, r);
		return;
	}
	if (*token)
		snprintf(body, sizeof(body), "%s%scsrf=%s", w->body, *w->body ? "&" : "", token);
	else
		snprintf(body, sizeof(body), "%s", w->body);
	post(path, body, who->cookie, r);
}

static void test_csrf_every_post(void **state)
{
	struct reply r;
	char path[256], what[400];
	for (size_t i = 0; i < N_WRITES; i++) {
		static const char *const bad[] = {"", "wrong",
		                                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
		for (size_t b = 0; b < 3; b++) {
			char *before = fingerprint();
			write_path(&writes[i], path, sizeof(path));
			snprintf(what, sizeof(what), "POST %s as admin with CSRF token \"%s\"",
			         path, bad[b]);
			do_write(&writes[i], &admin, bad[b], &r);
			tl_want_status(&r, 403, what);
			reply_free(&r);
			char *after = fingerprint();
			if (strcmp(before, after) != 0)
				fail_msg("%s changed something:\nbefore:\n%s\nafter:\n%s", what,
				         before, after);
			free(before);
			free(after);
		}
	}
	/* another session's token is no good either */
	for (size_t i = 0; i < N_WRITES; i++) {
		char *before = fingerprint();
		do_write(&writes[i], &admin, editor.csrf, &r);
		write_path(&writes[i], path, sizeof(path));
		snprintf(what, sizeof(what), "POST %s as admin with the editor's CSRF token", path);
		tl_want_status(&r, 403, what);
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something", what);
		free(before);
		free(after);
	}
	(void)state;
}

static void test_roles_every_post(void **state)
{
	struct reply r;
	char path[256], what[400];
	struct who *whos[] = {&viewer, &editor};
	for (size_t w = 0; w < 2; w++) {
		for (size_t i = 0; i < N_WRITES; i++) {
			if (whos[w]->role >= writes[i].role)
				continue;
			char *before = fingerprint();
			write_path(&writes[i], path, sizeof(path));
			snprintf(what, sizeof(what), "POST %s as %s", path,
			         bl_role_name(whos[w]->role));
			do_write(&writes[i], whos[w], NULL, &r);
			tl_want_status(&r, 403, what);
			reply_free(&r);
			char *after = fingerprint();
			if (strcmp(before, after) != 0)
				fail_msg("%s changed something:\nbefore:\n%s\nafter:\n%s", what,
				         before, after);
			free(before);
			free(after);
		}
	}
	/* without a session a POST is refused too */
	for (size_t i = 0; i < N_WRITES; i++) {
		struct who nobody = {.cookie = "", .csrf = "x"};
		char *before = fingerprint();
		do_write(&writes[i], &nobody, NULL, &r);
		write_path(&writes[i], path, sizeof(path));
		snprintf(what, sizeof(what), "POST %s without a session", path);
		tl_want_status(&r, 403, what);
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something", what);
		free(before);
		free(after);
	}
	(void)state;
}

/* ---- the publisher's flow ---- */

static int64_t id_after(const char *loc, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(loc, prefix, n) != 0)
		fail_msg("redirect: got %s, want %s...", loc, prefix);
	return strtoll(loc + n, NULL, 10);
}

static void test_flow(void **state)
{
	struct reply r;
	char body[1024], loc[256], path[256], v[1024];

	/* a list */
	snprintf(body, sizeof(body),
	         "csrf=%s&slug=town&name=Town+news&description=d&optin=single&visibility=public",
	         editor.csrf);
	post("/admin/lists/new", body, editor.cookie, &r);
	tl_want_status(&r, 303, "create a list");
	reply_free(&r);
	struct bl_list l = {0};
	assert_int_equal(db->ops->list_get(db, "town", &l), 1);
	if (strcmp(l.name, "Town news") != 0 || l.optin != BL_OPTIN_SINGLE)
		fail_msg("list: got %s/%d", l.name, (int)l.optin);
	bl_list_clear(&l);
	post("/admin/lists/new", body, editor.cookie, &r);
	tl_want_status(&r, 409, "the same slug again");
	reply_free(&r);
	signup("t1@example.org", "T One", 0 + list_news);

	/* a post: bad input first, then a draft, the preview, send */
	snprintf(body, sizeof(body), "csrf=%s&subject=&body=x&list=town&action=draft", editor.csrf);
	post("/admin/posts/new", body, editor.cookie, &r);
	tl_want_status(&r, 422, "a post without subject");
	reply_free(&r);
	snprintf(body, sizeof(body),
	         "csrf=%s&subject=Flow+post&body=Hello+%%2A%%2Athere%%2A%%2A&list=news&list=town&"
	         "breaking=1&action=draft",
	         editor.csrf);
	post("/admin/posts/new", body, editor.cookie, &r);
	tl_want_status(&r, 303, "save a draft");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	int64_t id = id_after(loc, "/admin/posts/");
	reply_free(&r);
	struct bl_post p = {0};
	assert_int_equal(db->ops->post_get(db, id, &p), 1);
	if (p.status != BL_POST_DRAFT || p.priority != BL_PRIORITY_BREAKING ||
	    strcmp(p.subject, "Flow post") != 0 || strcmp(p.body, "Hello **there**") != 0)
		fail_msg("draft: got status %d priority %d subject %s body %s", (int)p.status,
		         (int)p.priority, p.subject, p.body);
	bl_post_clear(&p);

	snprintf(path, sizeof(path), "/admin/posts/%lld/preview", (long long)id);
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 200, "preview");
	assert_non_null(strstr(r.body, "<strong>there</strong>"));
	assert_true(tl_header(&r, "X-Frame-Options", v, sizeof(v)));
	assert_string_equal(v, "SAMEORIGIN");
	assert_true(tl_header(&r, "Content-Security-Policy", v, sizeof(v)));
	if (strstr(v, "script-src") || !strstr(v, "default-src 'none'") || !strstr(v, "sandbox"))
		fail_msg("preview CSP: got %s", v);
	reply_free(&r);
	snprintf(path, sizeof(path), "/admin/posts/%lld", (long long)id);
	get(path, viewer.cookie, &r);
	snprintf(v, sizeof(v),
	         "<iframe class=\"preview\" sandbox src=\"/admin/posts/%lld/preview\"",
	         (long long)id);
	if (!strstr(r.body, v))
		fail_msg("post page: no sandboxed preview iframe (%s)", v);
	reply_free(&r);

	/* schedule in the past: refused; in the future: scheduled; then send now */
	snprintf(body, sizeof(body), "csrf=%s&scheduled_at=2001-01-01T10:00", editor.csrf);
	snprintf(path, sizeof(path), "/admin/posts/%lld/schedule", (long long)id);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 422, "schedule in the past");
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&scheduled_at=2099-06-01T10:30", editor.csrf);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 303, "schedule");
	reply_free(&r);
	assert_int_equal(db->ops->post_get(db, id, &p), 1);
	assert_int_equal(p.status, BL_POST_SCHEDULED);
	char t[BL_TIME_STRMAX];
	assert_string_equal(bl_time_format(p.scheduled_at, t), "2099-06-01T10:30:00Z");
	bl_post_clear(&p);

	/* Send asks first: the confirmation page (GET, or a POST without confirm=1) sends
	 * nothing and names the subject, the count and the lists */
	snprintf(body, sizeof(body), "csrf=%s", editor.csrf);
	snprintf(path, sizeof(path), "/admin/posts/%lld/send", (long long)id);
	for (int m = 0; m < 2; m++) {
		if (m == 0)
			get(path, editor.cookie, &r);
		else
			post(path, body, editor.cookie, &r);
		tl_want_status(&r, 200,
		               m ? "POST send without confirm=1" : "GET the send confirmation");
		check_page("send confirmation", r.body, r.len);
		/* news: reader, other and t1 (confirmed, single opt-in); town: none; two lists */
		static const char want_q[] =
		    "Send \xe2\x80\x9c"
		    "Flow post\xe2\x80\x9d to about 3 subscribers of "
		    "\xe2\x80\x9cNews &lt;script&gt;alert(1)&lt;/script&gt;"
		    "\xe2\x80\x9d and \xe2\x80\x9cTown news\xe2\x80\x9d?";
		if (!strstr(r.body, want_q))
			fail_msg("send confirmation: want %s in %.3000s", want_q, r.body);
		if (!strstr(r.body, "name=\"confirm\" value=\"1\"") ||
		    !strstr(r.body, "name=\"csrf\""))
			fail_msg("send confirmation: no confirm/csrf fields");
		reply_free(&r);
		assert_int_equal(db->ops->post_get(db, id, &p), 1);
		assert_int_equal(p.status, BL_POST_SCHEDULED);
		bl_post_clear(&p);
	}
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 403, "a viewer asks to send");
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&confirm=1", editor.csrf);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 303, "send");
	reply_free(&r);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 409, "send twice");
	reply_free(&r);
	assert_int_equal(db->ops->post_get(db, id, &p), 1);
	assert_int_equal(p.status, BL_POST_SENDING);
	if (p.total < 2)
		fail_msg("recipients: got %lld, want at least 2", (long long)p.total);
	bl_post_clear(&p);

	/* progress JSON */
	snprintf(path, sizeof(path), "/admin/posts/%lld/progress.json", (long long)id);
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 200, "progress.json");
	json_t *j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	if (strcmp(json_string_value(json_object_get(j, "status")), "sending") != 0 ||
	    json_integer_value(json_object_get(j, "total")) < 2 ||
	    json_integer_value(json_object_get(json_object_get(j, "counts"), "pending")) < 2)
		fail_msg("progress: got %s", r.body);
	json_decref(j);
	reply_free(&r);

	/* pause, resume, cancel */
	static const char *const steps[][2] = {
	    {"pause", "paused"}, {"resume", "sending"}, {"cancel", "cancelled"}};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/admin/posts/%lld/%s", (long long)id, steps[i][0]);
		if (i == 2) {
			/* cancel asks first too */
			snprintf(body, sizeof(body), "csrf=%s", editor.csrf);
			post(path, body, editor.cookie, &r);
			tl_want_status(&r, 200, "cancel without confirm=1");
			assert_non_null(strstr(r.body, "Cancel \xe2\x80\x9c"
			                               "Flow post\xe2\x80\x9d?"));
			reply_free(&r);
			assert_int_equal(db->ops->post_get(db, id, &p), 1);
			assert_int_equal(p.status, BL_POST_SENDING);
			bl_post_clear(&p);
			snprintf(body, sizeof(body), "csrf=%s&confirm=1", editor.csrf);
		}
		post(path, body, editor.cookie, &r);
		tl_want_status(&r, 303, steps[i][0]);
		reply_free(&r);
		assert_int_equal(db->ops->post_get(db, id, &p), 1);
		if (strcmp(bl_post_status_name(p.status), steps[i][1]) != 0)
			fail_msg("after %s: got %s, want %s", steps[i][0],
			         bl_post_status_name(p.status), steps[i][1]);
		bl_post_clear(&p);
	}
	/* the deliveries table with a filter */
	snprintf(path, sizeof(path), "/admin/posts/%lld?state=suppressed", (long long)id);
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 200, "deliveries filtered");
	check_page("deliveries filtered", r.body, r.len);
	assert_non_null(strstr(r.body, "<option value=\"suppressed\" selected>"));
	assert_non_null(strstr(r.body, "reader@example.org"));
	reply_free(&r);

	/* the audit log has it all, newest first */
	get("/admin/audit", admin.cookie, &r);
	tl_want_status(&r, 200, "audit log");
	static const char *const actions[] = {"post.cancel", "post.resume",   "post.pause",
	                                      "post.send",   "post.schedule", "post.create",
	                                      "list.create"};
	const char *at = r.body;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		char cell[64];
		snprintf(cell, sizeof(cell), "<td>%s</td>", actions[i]);
		const char *f = strstr(at, cell);
		if (!f)
			fail_msg("audit log: %s missing or out of order", actions[i]);
		at = f;
	}
	assert_non_null(strstr(r.body, "<td>user:eddie</td>"));
	reply_free(&r);
	(void)state;
}

/* The composer: the lists are offered; a body that does not compile is refused on save,
 * schedule and send with its line; a stored one is neither sent nor scheduled, and its
 * preview says why inside the frame. */
static void test_composer_checks(void **state)
{
	struct reply r;
	char body[1024], path[256], v[1024];
	get("/admin/posts/new", editor.cookie, &r);
	tl_want_status(&r, 200, "the composer");
	if (strstr(r.body, "There is no list to send to yet"))
		fail_msg("the composer says there is no list, with lists");
	assert_non_null(strstr(r.body, "name=\"list\" value=\"news\""));
	/* the hint names a tag that works */
	assert_non_null(strstr(r.body, "{{subscriber.name}}"));
	reply_free(&r);

	static const char *const actions[] = {"draft", "schedule", "send"};
	for (size_t i = 0; i < 3; i++) {
		char *before = fingerprint();
		/* "Hi {{#subscriber.name}}there": a section never closed */
		snprintf(body, sizeof(body),
		         "csrf=%s&subject=Bad&body=Hi+%%7B%%7B%%23subscriber.name%%7D%%7Dthere&"
		         "list=news&scheduled_at=2099-01-01T10:00&action=%s",
		         editor.csrf, actions[i]);
		post("/admin/posts/new", body, editor.cookie, &r);
		snprintf(v, sizeof(v), "save a body that does not compile (%s)", actions[i]);
		tl_want_status(&r, 422, v);
		check_page(v, r.body, r.len);
		if (!strstr(r.body, "The body cannot be composed: line 1:"))
			fail_msg("%s: no error with its line in %.2000s", v, r.body);
		/* the text typed is kept */
		assert_non_null(strstr(r.body, "Hi {{#subscriber.name}}there"));
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something", v);
		free(before);
		free(after);
	}

	/* a stored post whose body does not compile (written before the check) */
	struct bl_post p = {.kind = BL_POST_KIND_POST,
	                    .subject = (char *)"Broken",
	                    .body = (char *)"Hi {{#subscriber.name}}there",
	                    .from_header = (char *)"",
	                    .status = BL_POST_DRAFT};
	assert_int_equal(db->ops->post_create(db, &p, &list_news, 1), 0);
	snprintf(path, sizeof(path), "/admin/posts/%lld/send", (long long)p.id);
	snprintf(body, sizeof(body), "csrf=%s&confirm=1", editor.csrf);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 422, "send a post whose body does not compile");
	assert_non_null(strstr(r.body, "line 1:"));
	reply_free(&r);
	snprintf(path, sizeof(path), "/admin/posts/%lld/schedule", (long long)p.id);
	snprintf(body, sizeof(body), "csrf=%s&scheduled_at=2099-01-01T10:00", editor.csrf);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 422, "schedule a post whose body does not compile");
	reply_free(&r);
	struct bl_post got = {0};
	assert_int_equal(db->ops->post_get(db, p.id, &got), 1);
	if (got.status != BL_POST_DRAFT)
		fail_msg("broken post: got status %s, want draft", bl_post_status_name(got.status));
	bl_post_clear(&got);
	snprintf(path, sizeof(path), "/admin/posts/%lld/preview", (long long)p.id);
	get(path, editor.cookie, &r);
	tl_want_status(&r, 422, "the preview of a body that does not compile");
	assert_true(tl_header(&r, "X-Frame-Options", v, sizeof(v)));
	assert_string_equal(v, "SAMEORIGIN");
	assert_true(tl_header(&r, "Content-Security-Policy", v, sizeof(v)));
	if (!strstr(v, "frame-ancestors 'self'") || strstr(v, "script-src"))
		fail_msg("preview error CSP: got %s", v);
	assert_non_null(strstr(r.body, "No preview"));
	assert_non_null(strstr(r.body, "subscriber.name"));
	reply_free(&r);
	/* tidy: the other tests count posts */
	assert_int_equal(db->ops->post_set_status(db, p.id, 1u << BL_POST_DRAFT, BL_POST_CANCELLED,
	                                          "", 0, bl_now()),
	                 1);
	(void)state;
}

/* How many confirmed subscriptions subscriber @id has (its subscriptions read back). */
static int count_confirmed(void *arg, const struct bl_subscription *x)
{
	*(int *)arg += x->status == BL_SUB_CONFIRMED;
	return 0;
}

/*
 * The preview shows the first confirmed subscriber's message, but its
 * personal links are signed with a throwaway key: anyone who may preview (a
 * viewer) must not get working unsubscribe or preferences links of a real
 * subscriber. Each link of the preview is tried on the public pages, GET and
 * POST (one-click): 404 "not valid", and the subscriber keeps its
 * subscription. The same link signed with the installation's key works (the
 * test can tell).
 */
static void test_preview_links_do_not_work(void **state)
{
	struct reply r;
	char path[256];
	int64_t lid = make_list("pv", "Preview list");
	int64_t sid = signup("preview.victim@example.org", "Victim", lid);
	struct bl_post p = {.kind = BL_POST_KIND_POST,
	                    .subject = (char *)"Preview",
	                    .body = (char *)"Hi {{subscriber.email}}. [Leave]({{unsubscribe_url}})",
	                    .from_header = (char *)"",
	                    .status = BL_POST_DRAFT};
	assert_int_equal(db->ops->post_create(db, &p, &lid, 1), 0);
	snprintf(path, sizeof(path), "/admin/posts/%lld/preview", (long long)p.id);
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 200, "preview as a viewer");
	/* it is the subscriber's message (the address is in it) */
	if (!strstr(r.body, "preview.victim@example.org") &&
	    !strstr(r.body, "preview.victim%40example.org"))
		fail_msg("preview: not the first subscriber's message: %.2000s", r.body);
	static const char *const kinds[] = {"/unsubscribe/", "/preferences/"};
	int links = 0;
	for (size_t k = 0; k < 2; k++) {
		char want[64];
		snprintf(want, sizeof(want), "http://bulletin.test%s", kinds[k]);
		for (const char *at = r.body; (at = strstr(at, want)); at += strlen(want)) {
			char link[256], what[400];
			size_t n = strcspn(at + strlen("http://bulletin.test"), "\"<>' ");
			if (n >= sizeof(link))
				fail_msg("preview: a link too long");
			memcpy(link, at + strlen("http://bulletin.test"), n);
			link[n] = 0;
			links++;
			struct reply pr;
			snprintf(what, sizeof(what), "GET %s from the preview", link);
			get(link, NULL, &pr);
			tl_want_status(&pr, 404, what);
			reply_free(&pr);
			snprintf(what, sizeof(what), "POST %s (one-click) from the preview", link);
			post(link, "List-Unsubscribe=One-Click", NULL, &pr);
			if (pr.status == 200)
				fail_msg("%s: got HTTP 200, want the link refused", what);
			reply_free(&pr);
		}
	}
	if (links < 2)
		fail_msg("preview: got %d personal links, want the unsubscribe and preferences "
		         "ones: %.2000s",
		         links, r.body);
	reply_free(&r);
	int confirmed = 0;
	assert_int_equal(db->ops->subscription_each(db, sid, count_confirmed, &confirmed), 0);
	if (confirmed != 1)
		fail_msg("after the preview's links: got %d confirmed subscriptions, want 1",
		         confirmed);
	/* control: the subscriber's real link (the installation's key) works */
	char tok[BL_TOKEN_LEN];
	bl_token_make(&web.secret, BL_TOKEN_UNSUBSCRIBE, sid, lid, 0, tok);
	snprintf(path, sizeof(path), "/unsubscribe/%s", tok);
	get(path, NULL, &r);
	tl_want_status(&r, 200, "the real unsubscribe link");
	reply_free(&r);
	/* tidy: the other tests count posts */
	assert_int_equal(db->ops->post_set_status(db, p.id, 1u << BL_POST_DRAFT, BL_POST_CANCELLED,
	                                          "", 0, bl_now()),
	                 1);
	(void)state;
}

/*
 * A multipart import whose text fields hold a NUL byte is refused whole (a
 * csrf "TOKEN\0junk" is not TOKEN), and a token with more after it is not
 * cut to fit; nothing is imported. The file itself may hold any byte.
 */
static void test_import_multipart_nul(void **state)
{
	static const char more[] =
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	static const struct {
		const char *what, *field; /* the field that gets the value */
		int token;                /* the value starts with the editor's CSRF token */
		const char *tail;         /* then these bytes */
		size_t tail_len;
		long status;
	} cases[] = {
	    {"csrf TOKEN NUL junk", "csrf", 1, "\0junk", 5, 400},
	    {"csrf TOKEN NUL", "csrf", 1, "\0", 1, 400},
	    {"list news NUL junk (csrf right)", "list", 0, "news\0junk", 9, 400},
	    {"csrf TOKEN then 200 more bytes", "csrf", 1, more, sizeof(more) - 1, 403},
	};
	const char *b = "NuLbOuNdArY";
	char ctype[128];
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char value[512];
		int csrf_field = strcmp(cases[i].field, "csrf") == 0;
		size_t vlen = cases[i].token ? strlen(editor.csrf) : 0;
		memcpy(value, editor.csrf, vlen);
		memcpy(value + vlen, cases[i].tail, cases[i].tail_len);
		vlen += cases[i].tail_len;
		struct bl_buf bb;
		bl_buf_init(&bb, 4096);
		bl_buf_addf(&bb, "--%s\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n",
		            b);
		if (csrf_field)
			bl_buf_add(&bb, value, vlen);
		else
			bl_buf_adds(&bb, editor.csrf);
		bl_buf_addf(&bb,
		            "\r\n--%s\r\nContent-Disposition: form-data; name=\"list\"\r\n\r\n", b);
		if (csrf_field)
			bl_buf_adds(&bb, "news");
		else
			bl_buf_add(&bb, value, vlen);
		bl_buf_addf(&bb,
		            "\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; "
		            "filename=\"nul.csv\"\r\nContent-Type: text/csv\r\n\r\n"
		            "email\r\nnul@example.org\r\n\r\n--%s--\r\n",
		            b, b);
		assert_false(bl_buf_err(&bb));
		char *before = fingerprint();
		struct reply r;
		http("POST", "/admin/import", bl_buf_str(&bb), bb.len, ctype, editor.cookie, &r);
		tl_want_status(&r, cases[i].status, cases[i].what);
		reply_free(&r);
		bl_buf_finish(&bb);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something:\nbefore:\n%s\nafter:\n%s", cases[i].what,
			         before, after);
		free(before);
		free(after);
	}
	(void)state;
}

/*
 * The admin UI refuses what `bulletin post create`, `bulletin list create`
 * and the API refuse (bl_text_problem): control characters (TAB, ESC, CR,
 * LF, DEL; in header-bound text also C1 and U+2028/U+2029) in a post's
 * subject and From, a From that is no address, control characters in a
 * list's name and description. Each is a 422 that names the field and
 * keeps what was typed; nothing changes.
 */
static void test_validation_matches_api(void **state)
{
	static const struct {
		const char *path, *fields; /* urlencoded, without csrf */
		const char *want;          /* in the page */
		const char *kept;          /* text typed, shown again (HTML-escaped) */
	} cases[] = {
	    {"/admin/posts/new", "subject=A%09B&body=x&list=news&action=draft", "The subject holds",
	     "A\tB"},
	    {"/admin/posts/new", "subject=A%1BB&body=x&list=news&action=draft", "The subject holds",
	     NULL},
	    {"/admin/posts/new", "subject=A%0DB&body=x&list=news&action=draft", "The subject holds",
	     NULL},
	    {"/admin/posts/new", "subject=A%0AB&body=x&list=news&action=draft", "The subject holds",
	     NULL},
	    {"/admin/posts/new", "subject=A%7FB&body=x&list=news&action=draft", "The subject holds",
	     NULL},
	    {"/admin/posts/new", "subject=A%C2%85B&body=x&list=news&action=draft",
	     "The subject holds", NULL}, /* the page scrubs C1: not shown as typed */
	    {"/admin/posts/new", "subject=A%E2%80%A8B&body=x&list=news&action=draft",
	     "The subject holds", NULL},
	    {"/admin/posts/new", "subject=A%E2%80%A9B&body=x&list=news&action=draft",
	     "The subject holds", NULL},
	    {"/admin/posts/new",
	     "subject=S&from=News+%3Cn%40example.org%3E%09&body=x&list=news&"
	     "action=draft",
	     "The sender holds", NULL},
	    {"/admin/posts/new",
	     "subject=S&from=News%0D%0ABcc%3A+x%40example.org+%3Cn%40example."
	     "org%3E&body=x&list=news&action=draft",
	     "The sender holds", NULL},
	    {"/admin/posts/new",
	     "subject=S&from=News+%E2%80%A8+%3Cn%40example.org%3E&body=x&list="
	     "news&action=draft",
	     "The sender holds", NULL},
	    {"/admin/posts/new", "subject=S&from=not+an+address&body=x&list=news&action=draft",
	     "The sender is not an address", "not an address"},
	    {"/admin/posts/new", "subject=S&from=a%40b%40example.org&body=x&list=news&action=send",
	     "The sender is not an address", "a@b@example.org"},
	    {"/admin/lists/new", "slug=v1&name=A%0D%0AB&optin=single&visibility=public",
	     "The name holds", NULL},
	    {"/admin/lists/new", "slug=v1&name=A%09B&optin=single&visibility=public",
	     "The name holds", "A\tB"},
	    {"/admin/lists/new", "slug=v1&name=A%1BB&optin=single&visibility=public",
	     "The name holds", NULL},
	    {"/admin/lists/new", "slug=v1&name=A%7FB&optin=single&visibility=public",
	     "The name holds", NULL},
	    {"/admin/lists/new", "slug=v1&name=N&description=a%0Ab&optin=single&visibility=public",
	     "The description holds", NULL},
	    {"/admin/lists/new", "slug=v1&name=N&description=a%0Db&optin=single&visibility=public",
	     "The description holds", NULL},
	    {"/admin/lists/news", "name=A%0AB&optin=single&visibility=public", "The name holds",
	     NULL},
	    {"/admin/lists/news", "name=N&description=x%1By&optin=single&visibility=public",
	     "The description holds", NULL},
	    {"/admin/lists/news", "name=N&optin=single&visibility=public&breaking_digest=maybe",
	     "Breaking posts must go", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[1024], what[1200];
		struct reply r;
		snprintf(body, sizeof(body), "csrf=%s&%s", editor.csrf, cases[i].fields);
		snprintf(what, sizeof(what), "POST %s %s", cases[i].path, cases[i].fields);
		char *before = fingerprint();
		post(cases[i].path, body, editor.cookie, &r);
		tl_want_status(&r, 422, what);
		check_page(what, r.body, r.len);
		if (!strstr(r.body, cases[i].want))
			fail_msg("%s: want \"%s\" in %.3000s", what, cases[i].want, r.body);
		if (cases[i].kept && !strstr(r.body, cases[i].kept))
			fail_msg("%s: the text typed (%s) is not kept", what, cases[i].kept);
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something:\nbefore:\n%s\nafter:\n%s", what, before,
			         after);
		free(before);
		free(after);
	}

	/* breaking posts to a list's digest subscribers: off, then on again */
	{
		static const char *const want[] = {"off", "on"};
		struct bl_list orig;
		assert_int_equal(db->ops->list_get(db, "news", &orig), 1);
		for (int k = 0; k < 2; k++) {
			char b[512];
			struct reply rr;
			snprintf(
			    b, sizeof(b),
			    "csrf=%s&name=News&optin=double&visibility=public&breaking_digest=%s",
			    editor.csrf, want[k]);
			post("/admin/lists/news", b, editor.cookie, &rr);
			tl_want_status(&rr, 303, "the list form with breaking_digest");
			reply_free(&rr);
			struct bl_list l;
			assert_int_equal(db->ops->list_get(db, "news", &l), 1);
			if (l.breaking_digest_off != (k == 0))
				fail_msg("breaking_digest=%s: got breaking_digest_off %d", want[k],
				         l.breaking_digest_off);
			bl_list_clear(&l);
		}
		assert_int_equal(db->ops->list_update(db, &orig), 1); /* its name back */
		bl_list_clear(&orig);
	}

	/* a good From is kept with the post, and shown in the composer again */
	char body[1024], loc[256], path[256];
	struct reply r;
	snprintf(body, sizeof(body),
	         "csrf=%s&subject=With+from&from=Desk+%%3Cdesk%%40bulletin.test%%3E&body=x&list="
	         "news&action=draft",
	         editor.csrf);
	post("/admin/posts/new", body, editor.cookie, &r);
	tl_want_status(&r, 303, "a draft with a good From");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	int64_t good = id_after(loc, "/admin/posts/");
	reply_free(&r);
	struct bl_post got = {0};
	assert_int_equal(db->ops->post_get(db, good, &got), 1);
	if (strcmp(got.from_header, "Desk <desk@bulletin.test>") != 0)
		fail_msg("from: got \"%s\", want \"Desk <desk@bulletin.test>\"", got.from_header);
	bl_post_clear(&got);
	snprintf(path, sizeof(path), "/admin/posts/%lld/edit", (long long)good);
	get(path, editor.cookie, &r);
	assert_non_null(strstr(r.body, "value=\"Desk &lt;desk@bulletin.test&gt;\""));
	reply_free(&r);
	assert_int_equal(db->ops->post_set_status(db, good, 1u << BL_POST_DRAFT, BL_POST_CANCELLED,
	                                          "", 0, bl_now()),
	                 1);
	(void)state;
}

/*
 * Send and Schedule run the pre-send check that `bulletin post send` and the
 * API run (the post's composer with the installation's settings: sender,
 * public_url): a post whose stored From is no address (written before the
 * checks, or by an older client) is refused with 422 and stays a draft,
 * instead of being queued and paused by the engine. A draft may still be
 * saved while the settings are wrong; sending it is refused.
 */
static void test_send_checks_sender(void **state)
{
	char body[512], path[256], what[300];
	struct reply r;
	struct bl_post p = {.kind = BL_POST_KIND_POST,
	                    .subject = (char *)"Bad sender",
	                    .body = (char *)"Hello",
	                    .from_header = (char *)"Broken <no-at-sign>",
	                    .status = BL_POST_DRAFT};
	assert_int_equal(db->ops->post_create(db, &p, &list_news, 1), 0);
	static const struct {
		const char *action, *fields, *title;
	} cases[] = {
	    {"send", "confirm=1", "Cannot send"},
	    {"schedule", "scheduled_at=2099-01-01T10:00", "Cannot schedule"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "/admin/posts/%lld/%s", (long long)p.id,
		         cases[i].action);
		snprintf(body, sizeof(body), "csrf=%s&%s", editor.csrf, cases[i].fields);
		snprintf(what, sizeof(what), "%s a post whose From is no address", cases[i].action);
		post(path, body, editor.cookie, &r);
		tl_want_status(&r, 422, what);
		if (!strstr(r.body, cases[i].title) || !strstr(r.body, "cannot go out"))
			fail_msg("%s: want \"%s\" and why in %.3000s", what, cases[i].title,
			         r.body);
		reply_free(&r);
		struct bl_post got = {0};
		assert_int_equal(db->ops->post_get(db, p.id, &got), 1);
		if (got.status != BL_POST_DRAFT)
			fail_msg("%s: got status %s, want draft", what,
			         bl_post_status_name(got.status));
		bl_post_clear(&got);
	}
	/* the composer's Send and Schedule too, with the installation's sender unset */
	set("from", "");
	static const char *const actions[] = {"send", "schedule"};
	for (size_t i = 0; i < 2; i++) {
		char *before = fingerprint();
		snprintf(body, sizeof(body),
		         "csrf=%s&subject=No+sender&body=x&list=news&scheduled_at=2099-01-01T10:00&"
		         "action=%s",
		         editor.csrf, actions[i]);
		snprintf(what, sizeof(what), "composer %s without a sender", actions[i]);
		post("/admin/posts/new", body, editor.cookie, &r);
		tl_want_status(&r, 422, what);
		if (!strstr(r.body, "cannot go out"))
			fail_msg("%s: no reason in %.3000s", what, r.body);
		assert_non_null(strstr(r.body, "value=\"No sender\""));
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something", what);
		free(before);
		free(after);
	}
	/* a draft can wait for the settings */
	snprintf(body, sizeof(body), "csrf=%s&subject=No+sender+yet&body=x&list=news&action=draft",
	         editor.csrf);
	post("/admin/posts/new", body, editor.cookie, &r);
	tl_want_status(&r, 303, "a draft without a sender configured");
	char loc[256];
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	int64_t later = id_after(loc, "/admin/posts/");
	reply_free(&r);
	set("from", "Test News <news@bulletin.test>");
	/* tidy: the other tests count posts */
	int64_t ids[] = {p.id, later};
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(db->ops->post_set_status(db, ids[i], 1u << BL_POST_DRAFT,
		                                          BL_POST_CANCELLED, "", 0, bl_now()),
		                 1);
	(void)state;
}

static void test_import(void **state)
{
	struct reply r;
	char body[2048], ctype[128], loc[256], path[300];
	const char *b = "XyZboundary";
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", b);
	int n = snprintf(body, sizeof(body),
	                 "--%s\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n%s\r\n"
	                 "--%s\r\nContent-Disposition: form-data; name=\"list\"\r\n\r\nnews\r\n"
	                 "--%s\r\nContent-Disposition: form-data; name=\"confirmed\"\r\n\r\n1\r\n"
	                 "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
	                 "filename=\"C:\\\\dir\\\\people.csv\"\r\nContent-Type: text/csv\r\n\r\n"
	                 "email,name\r\nimp1@example.org,Imp One\r\nimp2@example.org,Imp Two\r\n"
	                 "\r\n--%s--\r\n",
	                 b, editor.csrf, b, b, b, b);
	http("POST", "/admin/import", body, (size_t)n, ctype, editor.cookie, &r);
	tl_want_status(&r, 303, "import upload");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	int64_t id = id_after(loc, "/admin/jobs/");
	reply_free(&r);
	struct bl_job j = {0};
	assert_int_equal(db->ops->job_get(db, id, &j), 1);
	assert_string_equal(j.kind, "import");
	json_t *params = json_loads(j.params, 0, NULL);
	assert_non_null(params);
	if (strcmp(json_string_value(json_object_get(params, "list")), "news") != 0 ||
	    !json_is_true(json_object_get(params, "confirmed")) ||
	    strcmp(json_string_value(json_object_get(params, "source")), "people.csv") != 0)
		fail_msg("job params: got %s", j.params);
	json_decref(params);
	if (j.size !=
	    (int64_t)strlen("email,name\r\nimp1@example.org,Imp One\r\nimp2@example.org,Imp "
	                    "Two\r\n"))
		fail_msg("job size: got %lld", (long long)j.size);
	bl_job_clear(&j);
	get(loc, viewer.cookie, &r);
	tl_want_status(&r, 200, "job page");
	check_page("job page", r.body, r.len);
	assert_non_null(strstr(r.body, "people.csv"));
	assert_non_null(strstr(r.body, "<progress"));
	reply_free(&r);
	snprintf(path, sizeof(path), "%s/progress.json", loc);
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 200, "job progress");
	json_t *o = json_loads(r.body, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), id);
	json_decref(o);
	reply_free(&r);
	/* no file, no list: refused, no job */
	http("POST", "/admin/import?list=nope", "email\n", 6, "text/csv", editor.cookie, &r);
	tl_want_status(&r, 403, "raw upload without a CSRF token");
	reply_free(&r);
	snprintf(path, sizeof(path), "/admin/import?list=nope&csrf=%s", editor.csrf);
	http("POST", path, "email\n", 6, "text/csv", editor.cookie, &r);
	tl_want_status(&r, 422, "an unknown list");
	reply_free(&r);
	(void)state;
}

struct later {
	struct bl_store *s;
	int rc;
};

/* Commit @arg's transaction four seconds from now: long enough for the
 * request racing it to reach its store call even on a loaded machine (a
 * sanitizer build under a parallel test run). */
static void *commit_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = {4, 0};
	nanosleep(&ts, NULL);
	l->rc = l->s->ops->commit(l->s);
	return NULL;
}

static int demote_admin(void *arg, const struct bl_user *u)
{
	if (u->role == BL_ROLE_ADMIN && u->id != *(int64_t *)arg)
		assert_int_equal(db->ops->user_set_role(db, u->id, BL_ROLE_VIEWER), 1);
	return 0;
}

/*
 * The last admin is never demoted. Past the page's own check (not
 * yourself), only a race gets there: ada demotes bea, the other admin,
 * while ada's own demotion (from another handle) commits; the store sees
 * one admin left and refuses, and the page says so.
 */
static void test_last_admin(void **state)
{
	assert_int_equal(db->ops->user_each(db, demote_admin, &admin.id), 0);
	struct who bea = {.name = "bea", .role = BL_ROLE_ADMIN};
	make_user(&bea);
	assert_int_equal(db->ops->begin(db), 0);
	assert_int_equal(db->ops->user_set_role(db, admin.id, BL_ROLE_EDITOR), 1);
	struct later l = {.s = db};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, commit_later, &l), 0);
	struct reply r;
	char body[256], path[128];
	snprintf(body, sizeof(body), "csrf=%s&role=viewer", admin.csrf);
	snprintf(path, sizeof(path), "/admin/users/%lld/role", (long long)bea.id);
	post(path, body, admin.cookie, &r);
	pthread_join(th, NULL);
	assert_int_equal(l.rc, 0);
	tl_want_status(&r, 409, "demote the last admin");
	if (!strstr(r.body, "bea is the last admin: make another user admin first"))
		fail_msg("demote the last admin: the page does not say why: %.2000s", r.body);
	check_page("last admin", r.body, r.len);
	reply_free(&r);
	struct bl_user u = {0};
	assert_int_equal(db->ops->user_get(db, "bea", 0, &u), 1);
	assert_int_equal(u.role, BL_ROLE_ADMIN);
	bl_user_clear(&u);
	assert_int_equal(db->ops->user_set_role(db, admin.id, BL_ROLE_ADMIN), 1);
}

/* Upload @csv (as text/csv, @query: list, format, delimiter...) as the editor, run every
 * queued job, and return the job page's HTML (malloc'd). */
static char *import_and_run(const char *query, const char *csv, int64_t *job)
{
	struct reply r;
	char path[512], loc[256];
	snprintf(path, sizeof(path), "/admin/import?%s&csrf=%s", query, editor.csrf);
	http("POST", path, csv, strlen(csv), "text/csv", editor.cookie, &r);
	tl_want_status(&r, 303, query);
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	*job = id_after(loc, "/admin/jobs/");
	reply_free(&r);
	struct bl_import_job_opts o = {.batch = 100};
	struct bl_diag d;
	int64_t ran = 0;
	int rc;
	while ((rc = bl_import_job_run(db, bl_now(), &o, &ran, &d)) == 1)
		;
	if (rc != 0)
		fail_msg("bl_import_job_run: got %d (%s)", rc, d.msg);
	get(loc, viewer.cookie, &r);
	tl_want_status(&r, 200, "job page");
	check_page(query, r.body, r.len);
	char *html = r.body;
	r.body = NULL;
	reply_free(&r);
	return html;
}

/* Import in the form's words: the format and delimiter offered and kept in the job, a
 * failed job's error without command-line flags and without a report of zeros, a done
 * job's report as a table and its errors as "line N: message". */
static void test_import_report(void **state)
{
	struct reply r;
	int64_t job;
	get("/admin/import", editor.cookie, &r);
	tl_want_status(&r, 200, "import page");
	static const char *const want[] = {
	    "<select id=\"format\" name=\"format\">",
	    "<option value=\"plain\">Plain list of addresses",
	    "<option value=\"mailchimp\">",
	    "<select id=\"delimiter\" name=\"delimiter\">",
	    "<option value=\"semicolon\">",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(r.body, want[i]))
			fail_msg("import page: want %s", want[i]);
	reply_free(&r);

	/* no email column, format detected: fails, and says so in the form's words */
	char *html = import_and_run("list=news", "name,city\nAnn,Oslo\n", &job);
	if (!strstr(html, "The import failed: "))
		fail_msg("failed job: no error shown: %.3000s", html);
	if (!strstr(html, "choose the format \xe2\x80\x9cPlain list of addresses\xe2\x80\x9d"))
		fail_msg("failed job: the error does not name the form's choice: %.3000s", html);
	if (strstr(html, "--from-format") || strstr(html, "--delimiter"))
		fail_msg("failed job: a command-line flag in the page");
	if (strstr(html, "Rows read") || strstr(html, "<h2>Report</h2>"))
		fail_msg("failed job: a report of zeros");
	free(html);

	/* a plain list with a bad line, format chosen: the report table and the error list */
	html = import_and_run("list=news&format=plain",
	                      "pl1@example.org\npl2@example.org\nnot an address\n", &job);
	struct bl_job j = {0};
	assert_int_equal(db->ops->job_get(db, job, &j), 1);
	if (!strstr(j.params, "\"format\":\"plain\""))
		fail_msg("job params: got %s, want format plain", j.params);
	bl_job_clear(&j);
	static const char *const rep[] = {
	    "<tr><th scope=\"row\">Rows read</th><td class=\"num\">3</td></tr>",
	    "<tr><th scope=\"row\">Imported (new subscribers or subscriptions)</th><td "
	    "class=\"num\">2</td></tr>",
	    "<li>line 3: ",
	    "Format: Plain list of addresses",
	};
	for (size_t i = 0; i < sizeof(rep) / sizeof(rep[0]); i++)
		if (!strstr(html, rep[i]))
			fail_msg("job report: want %s in %.4000s", rep[i], html);
	if (strstr(html, "{&quot;") || strstr(html, "&quot;errors&quot;"))
		fail_msg("job report: raw JSON in the page");
	free(html);
	/* an unknown format is refused, no job */
	char path[256];
	snprintf(path, sizeof(path), "/admin/import?list=news&format=excel&csrf=%s", editor.csrf);
	http("POST", path, "email\n", 6, "text/csv", editor.cookie, &r);
	tl_want_status(&r, 422, "an unknown format");
	reply_free(&r);
	(void)state;
}

/* One subscriber from the browser, by the rules of `subscriber add`; the subscription
 * status filter and column with a list; erase asks first; notices say what happened. */
/*
 * A blocklist reason longer than the store keeps (BL_REASON_MAX bytes) is cut
 * between characters, never inside one (the store refuses text that is not
 * UTF-8): a 2-, 3- and 4-byte character straddling the limit is dropped
 * whole, and the subscriber is blocklisted with the rest.
 */
static void test_blocklist_reason_cut(void **state)
{
	static const struct {
		const char *ch, *enc; /* the character, and its urlencoding */
	} cases[] = {
	    {"\xc3\xa9", "%C3%A9"},
	    {"\xe2\x82\xac", "%E2%82%AC"},
	    {"\xf0\x9f\x93\xb0", "%F0%9F%93%B0"},
	};
	int64_t sid = signup("blocked.reason@example.org", "Blocked", list_news);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[1024], path[128], want[BL_REASON_MAX + 1], what[64];
		struct reply r;
		/* BL_REASON_MAX - 1 ASCII bytes, then the character: over the limit */
		memset(want, 'a', BL_REASON_MAX - 1);
		want[BL_REASON_MAX - 1] = 0;
		snprintf(body, sizeof(body), "csrf=%s&reason=%s%s", editor.csrf, want,
		         cases[i].enc);
		snprintf(path, sizeof(path), "/admin/subscribers/%lld/blocklist", (long long)sid);
		snprintf(what, sizeof(what), "blocklist, a reason cut at a %zu-byte character",
		         strlen(cases[i].ch));
		post(path, body, editor.cookie, &r);
		tl_want_status(&r, 303, what);
		reply_free(&r);
		struct bl_subscriber got = {0};
		assert_int_equal(db->ops->subscriber_get_id(db, sid, &got), 1);
		if (got.status != BL_SUBSCRIBER_BLOCKLISTED || strcmp(got.status_reason, want) != 0)
			fail_msg("%s: got status %d reason \"%s\", want blocklisted \"%s\"", what,
			         (int)got.status, got.status_reason, want);
		bl_subscriber_clear(&got);
		/* a reason that fits is kept whole, the character too */
		snprintf(body, sizeof(body), "csrf=%s&reason=short+%s", editor.csrf, cases[i].enc);
		post(path, body, editor.cookie, &r);
		tl_want_status(&r, 303, "blocklist, a short reason");
		reply_free(&r);
		assert_int_equal(db->ops->subscriber_get_id(db, sid, &got), 1);
		snprintf(want, sizeof(want), "short %s", cases[i].ch);
		if (strcmp(got.status_reason, want) != 0)
			fail_msg("short reason: got \"%s\", want \"%s\"", got.status_reason, want);
		bl_subscriber_clear(&got);
	}
	(void)state;
}

static void test_subscribers_add_filter_erase(void **state)
{
	struct reply r;
	char body[1024], loc[256], path[256];
	get("/admin/subscribers", editor.cookie, &r);
	assert_non_null(strstr(r.body, "action=\"/admin/subscribers/new\""));
	assert_non_null(strstr(r.body, "name=\"add_list\" value=\"news\""));
	assert_non_null(strstr(r.body, "consent"));
	reply_free(&r);
	get("/admin/subscribers", viewer.cookie, &r);
	assert_null(strstr(r.body, "/admin/subscribers/new"));
	reply_free(&r);

	/* added, confirmed, to news */
	snprintf(body, sizeof(body),
	         "csrf=%s&email=Added%%40Example.org&name=Ada+Added&add_list=news&confirmed=1",
	         editor.csrf);
	post("/admin/subscribers/new", body, editor.cookie, &r);
	tl_want_status(&r, 303, "add a subscriber");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	int64_t id = id_after(loc, "/admin/subscribers/");
	if (!strstr(loc, "done=added"))
		fail_msg("add: got Location %s", loc);
	reply_free(&r);
	get(loc, editor.cookie, &r);
	tl_want_status(&r, 200, "the added subscriber");
	if (!find_ci(r.body, "Added@Example.org added.</p>"))
		fail_msg("add notice: got %.3000s", r.body);
	reply_free(&r);
	struct bl_subscriber sub = {0};
	assert_int_equal(db->ops->subscriber_get(db, "added@example.org", &sub), 1);
	assert_int_equal(sub.id, id);
	assert_string_equal(sub.name, "Ada Added");
	bl_subscriber_clear(&sub);

	/* refused: a bad address, with the page again and what was typed */
	static const struct {
		const char *body, *want;
		long status;
	} bad[] = {
	    {"email=not-an-address&name=X&add_list=news", "Not added: invalid address", 422},
	    {"email=&name=X", "Give the address to add.", 422},
	    {"email=a%40example.org&add_list=nope", "A list chosen does not exist", 422},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *before = fingerprint();
		snprintf(body, sizeof(body), "csrf=%s&%s", editor.csrf, bad[i].body);
		post("/admin/subscribers/new", body, editor.cookie, &r);
		tl_want_status(&r, bad[i].status, bad[i].body);
		check_page(bad[i].body, r.body, r.len);
		if (!strstr(r.body, bad[i].want))
			fail_msg("%s: want %s", bad[i].body, bad[i].want);
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("%s changed something", bad[i].body);
		free(before);
		free(after);
	}
	/* a viewer cannot add */
	snprintf(body, sizeof(body), "csrf=%s&email=v%%40example.org", viewer.csrf);
	post("/admin/subscribers/new", body, viewer.cookie, &r);
	tl_want_status(&r, 403, "a viewer adds");
	reply_free(&r);

	/* an unconfirmed one on the xss list (single opt-in: added unconfirmed? no: subscribed);
	 * the filter by subscription status needs the list and shows the column */
	get("/admin/subscribers?list=news&status=confirmed", viewer.cookie, &r);
	tl_want_status(&r, 200, "filter confirmed on news");
	check_page("filter confirmed on news", r.body, r.len);
	assert_non_null(strstr(r.body, "<optgroup label=\"On News &lt;script&gt;"));
	assert_non_null(strstr(r.body, "<option value=\"confirmed\" selected>"));
	if (!find_ci(r.body, "Added@Example.org</a></th><td>Ada Added</td><td>active</td><td>"
	                     "confirmed</td>"))
		fail_msg("filter: the row with its subscription: got %.4000s", r.body);
	reply_free(&r);
	get("/admin/subscribers?list=news&status=unsubscribed", viewer.cookie, &r);
	tl_want_status(&r, 200, "filter unsubscribed on news");
	if (find_ci(r.body, "Added@Example.org"))
		fail_msg("filter unsubscribed: a confirmed subscriber listed");
	reply_free(&r);
	get("/admin/subscribers?status=confirmed", viewer.cookie, &r);
	assert_non_null(strstr(r.body, "A subscription status needs a list"));
	assert_null(strstr(r.body, "<optgroup"));
	reply_free(&r);

	/* erase asks first (GET and a POST without confirm=1), then erases */
	snprintf(path, sizeof(path), "/admin/subscribers/%lld/erase", (long long)id);
	get(path, editor.cookie, &r);
	tl_want_status(&r, 200, "erase confirmation");
	check_page("erase confirmation", r.body, r.len);
	assert_non_null(find_ci(r.body, "Erase Added@Example.org for good?"));
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s", editor.csrf);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 200, "erase without confirm=1");
	reply_free(&r);
	assert_int_equal(db->ops->subscriber_get(db, "added@example.org", &sub), 1);
	bl_subscriber_clear(&sub);
	get(path, viewer.cookie, &r);
	tl_want_status(&r, 403, "a viewer asks to erase");
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&confirm=1", editor.csrf);
	post(path, body, editor.cookie, &r);
	tl_want_status(&r, 303, "erase");
	reply_free(&r);
	assert_int_equal(db->ops->subscriber_get(db, "added@example.org", &sub), 0);
	/* and the erased address cannot be added back here */
	snprintf(body, sizeof(body), "csrf=%s&email=added%%40example.org&add_list=news",
	         editor.csrf);
	post("/admin/subscribers/new", body, editor.cookie, &r);
	tl_want_status(&r, 409, "add an erased address");
	assert_non_null(strstr(r.body, "erased at its owner's request"));
	reply_free(&r);
	(void)state;
}

/* Notices name what changed; a finished post has no rate, ETA or empty Actions. */
static void test_notices_and_finished_post(void **state)
{
	struct reply r;
	char body[512], loc[512];
	snprintf(body, sizeof(body),
	         "csrf=%s&slug=book-club&name=Book+club&description=&optin=double&"
	         "visibility=public",
	         editor.csrf);
	post("/admin/lists/new", body, editor.cookie, &r);
	tl_want_status(&r, 303, "create Book club");
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	reply_free(&r);
	get(loc, editor.cookie, &r);
	if (!strstr(r.body, "List \xe2\x80\x9c"
	                    "Book club\xe2\x80\x9d created."))
		fail_msg("list notice: got %.2000s", r.body);
	reply_free(&r);
	/* a notice never carries text from the URL */
	get("/admin/lists?done=created&slug=nope", editor.cookie, &r);
	assert_null(strstr(r.body, "nope"));
	reply_free(&r);

	/* a sent post: no msgs/s, no ETA, no Actions heading */
	int64_t id = make_post("Finished", 1);
	assert_int_equal(
	    db->ops->post_set_status(db, id, 1u << BL_POST_SENDING, BL_POST_SENT, "", 0, bl_now()),
	    1);
	char path[128];
	snprintf(path, sizeof(path), "/admin/posts/%lld", (long long)id);
	get(path, editor.cookie, &r);
	tl_want_status(&r, 200, "a sent post");
	check_page("a sent post", r.body, r.len);
	if (strstr(r.body, "msgs/s") || strstr(r.body, "ETA") || strstr(r.body, ">Actions<"))
		fail_msg("a sent post shows rate, ETA or an Actions heading");
	assert_non_null(strstr(r.body, "data-status=\"sent\""));
	reply_free(&r);
	/* a sending one: its rate and the status admin.js watches */
	id = make_post("Going", 1);
	snprintf(path, sizeof(path), "/admin/posts/%lld", (long long)id);
	get(path, editor.cookie, &r);
	assert_non_null(strstr(r.body, "msgs/s"));
	assert_non_null(strstr(r.body, "data-status=\"sending\" data-live=\"1\""));
	assert_non_null(strstr(r.body, ">Actions<"));
	reply_free(&r);
	assert_int_equal(db->ops->post_set_status(db, id, 1u << BL_POST_SENDING, BL_POST_CANCELLED,
	                                          "", 0, bl_now()),
	                 1);
	(void)state;
}

static void test_users_and_tokens(void **state)
{
	struct reply r;
	char body[512], path[256];
	/* a user: the password shown once works */
	snprintf(body, sizeof(body), "csrf=%s&name=newbie&role=editor", admin.csrf);
	post("/admin/users/new", body, admin.cookie, &r);
	tl_want_status(&r, 200, "add a user");
	check_page("user added", r.body, r.len);
	struct who nb = {.name = "newbie", .role = BL_ROLE_EDITOR};
	const char *p = strstr(r.body, "id=\"secret\" class=\"mono secret\" value=\"");
	assert_non_null(p);
	p += strlen("id=\"secret\" class=\"mono secret\" value=\"");
	snprintf(nb.password, sizeof(nb.password), "%.*s", (int)strcspn(p, "\""), p);
	assert_int_equal(strlen(nb.password), BL_PASSWORD_GEN_LEN - 1);
	reply_free(&r);
	login(&nb, NULL);
	struct bl_user u = {0};
	assert_int_equal(db->ops->user_get(db, "newbie", 0, &u), 1);
	nb.id = u.id;
	bl_user_clear(&u);
	/* role change, password reset (ends the sessions), delete */
	snprintf(body, sizeof(body), "csrf=%s&role=viewer", admin.csrf);
	snprintf(path, sizeof(path), "/admin/users/%lld/role", (long long)nb.id);
	post(path, body, admin.cookie, &r);
	tl_want_status(&r, 303, "change the role");
	char loc[256];
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	reply_free(&r);
	get(loc, admin.cookie, &r);
	assert_non_null(strstr(r.body, "newbie is now a viewer."));
	/* the Actions cell is a table cell, not a flex box */
	assert_null(strstr(r.body, "<td class=\"actions\">"));
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&subject=x&body=y&list=news&action=draft", nb.csrf);
	post("/admin/posts/new", body, nb.cookie, &r);
	tl_want_status(&r, 403, "a demoted user writes");
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s", admin.csrf);
	snprintf(path, sizeof(path), "/admin/users/%lld/password", (long long)nb.id);
	post(path, body, admin.cookie, &r);
	tl_want_status(&r, 200, "reset the password");
	reply_free(&r);
	get("/admin", nb.cookie, &r);
	tl_want_status(&r, 303, "a session after a password reset");
	reply_free(&r);
	snprintf(path, sizeof(path), "/admin/users/%lld/delete", (long long)admin.id);
	post(path, body, admin.cookie, &r);
	tl_want_status(&r, 409, "delete yourself");
	reply_free(&r);
	snprintf(path, sizeof(path), "/admin/users/%lld/delete", (long long)nb.id);
	post(path, body, admin.cookie, &r);
	tl_want_status(&r, 303, "delete a user");
	reply_free(&r);
	assert_int_equal(db->ops->user_get(db, "newbie", 0, &u), 0);

	/* a token, shown once, works as a bearer token; then deleted */
	snprintf(body, sizeof(body), "csrf=%s&name=ci-bot&role=viewer", admin.csrf);
	post("/admin/tokens/new", body, admin.cookie, &r);
	tl_want_status(&r, 200, "create a token");
	p = strstr(r.body, "value=\"" BL_API_TOKEN_PREFIX);
	assert_non_null(p);
	char token[BL_API_TOKEN_LEN + 8], hex[BL_HASH_HEX];
	snprintf(token, sizeof(token), "%.*s", (int)strcspn(p + 7, "\""), p + 7);
	reply_free(&r);
	bl_sha256_hex(token, strlen(token), hex);
	struct bl_api_token t = {0};
	assert_int_equal(db->ops->token_get(db, hex, bl_now(), &t), 1);
	assert_string_equal(t.name, "ci-bot");
	assert_int_equal(t.role, BL_ROLE_VIEWER);
	bl_api_token_clear(&t);
	get("/admin/tokens", admin.cookie, &r);
	assert_non_null(strstr(r.body, "ci-bot"));
	assert_null(strstr(r.body, token)); /* never shown again */
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s", admin.csrf);
	post("/admin/tokens/ci-bot/delete", body, admin.cookie, &r);
	tl_want_status(&r, 303, "delete a token");
	reply_free(&r);
	assert_int_equal(db->ops->token_get(db, hex, bl_now(), &t), 0);
	(void)state;
}

/* ---- feeds ---- */

static const char rss_v1[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<rss version=\"2.0\"><channel><title>Town feed</title>\n"
                             "<link>http://127.0.0.1/</link>\n"
                             "<item><title>First</title><guid>first</guid>"
                             "<description>The first item.</description></item>\n"
                             "</channel></rss>\n";
static const char rss_v2[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<rss version=\"2.0\"><channel><title>Town feed</title>\n"
                             "<link>http://127.0.0.1/</link>\n"
                             "<item><title>Second</title><guid>second</guid>"
                             "<description>The second item.</description></item>\n"
                             "<item><title>First</title><guid>first</guid>"
                             "<description>The first item.</description></item>\n"
                             "</channel></rss>\n";

/* Percent-encode @s into @out for a form value (RFC 3986 unreserved kept). */
static void urlencode(struct bl_buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c))
			bl_buf_addc(out, (char)c);
		else
			bl_buf_addf(out, "%%%02X", c);
	}
}

/* The feed of the store with URL @url into @out (bl_feed_clear): 1, or 0 when none. */
struct feed_find {
	const char *url;
	struct bl_feed *out;
	int found;
};
static int on_feed_find(void *arg, const struct bl_feed *f)
{
	struct feed_find *ff = arg;
	if (!ff->found && strcmp(f->url, ff->url) == 0) {
		*ff->out = *f;
		ff->out->url = strdup(f->url ? f->url : "");
		ff->out->title = strdup(f->title ? f->title : "");
		ff->out->etag = NULL;
		ff->out->last_modified = NULL;
		ff->out->last_error = strdup(f->last_error ? f->last_error : "");
		ff->found = 1;
	}
	return 0;
}
static int feed_by_url(const char *url, struct bl_feed *out)
{
	struct feed_find ff = {url, out, 0};
	assert_int_equal(db->ops->feed_each(db, on_feed_find, &ff), 0);
	return ff.found;
}

/* The number of audit entries with @action and @target. */
static int audit_entries(const char *action, const char *target)
{
	struct bl_buf b;
	char want[160];
	int n = 0;
	snprintf(want, sizeof(want), " %s %s\n", action, target);
	bl_buf_init(&b, 0);
	assert_int_equal(db->ops->audit_each(db, 0, 0, fp_audit, &b), 0);
	for (const char *p = bl_buf_str(&b); (p = strstr(p, want)); p++)
		n++;
	bl_buf_finish(&b);
	return n;
}

/* POST @path with @fields (and the editor's CSRF token) as the editor; want
 * @status, and a page that passes check_html.py unless it is a 303. */
static void editor_post(const char *path, const char *fields, long status, const char *what,
                        struct reply *r)
{
	char body[1024];
	snprintf(body, sizeof(body), "%s&csrf=%s", fields, editor.csrf);
	post(path, body, editor.cookie, r);
	tl_want_status(r, status, what);
	if (status != 303)
		check_page(what, r->body, r->len);
}

/* The feeds page: add (with bad input first), poll now, a failing feed, remove. */
static void test_feeds(void **state)
{
	struct reply r;
	char fields[1024], url[256], want[512], path[128], target[64];
	tl_feeds_write(&feeds, "town.rss", rss_v1, (long)time(NULL) - 3600);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/f/town.rss", feeds.port);
	struct bl_buf enc;
	bl_buf_init(&enc, 0);
	urlencode(&enc, url);

	/* The form's refusals: 422 (or 409) with the reason, the values kept, nothing added. */
	static const struct {
		const char *fields; /* URL= is replaced by the feed's URL */
		long status;
		const char *error;
	} bad[] = {
	    {"url=ftp%3A%2F%2F127.0.0.1%2Ffeed.xml&list=news&mode=send&every=900", 422,
	     "The URL is not usable"},
	    {"url=%2Ffeed.xml&list=news&mode=send&every=900", 422, "The URL is not usable"},
	    {"url=&list=news&mode=send&every=900", 422, "The feed needs a URL."},
	    {"url=URL&mode=send&every=900", 422, "Choose at least one list"},
	    {"url=URL&list=nosuch&mode=send&every=900", 422, "There is no list \xe2\x80\x9cnosuch"},
	    {"url=URL&list=news&mode=other&every=900", 422, "The mode must be send or draft."},
	    {"url=URL&list=news&mode=send&every=59", 422, "Choose how often to poll"},
	    {"url=URL&list=news&mode=send&every=604801", 422, "Choose how often to poll"},
	    {"url=URL&list=news&mode=send&every=15m", 422, "Choose how often to poll"},
	    {"url=URL&list=news&mode=send&every=900&backfill=1001", 422, "Backfill is a number"},
	    {"url=URL&list=news&mode=send&every=900&backfill=-1", 422, "Backfill is a number"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *before = fingerprint();
		const char *u = strstr(bad[i].fields, "URL&");
		if (u)
			snprintf(fields, sizeof(fields), "%.*s%s%s", (int)(u - bad[i].fields),
			         bad[i].fields, bl_buf_str(&enc), u + 3);
		else
			snprintf(fields, sizeof(fields), "%s", bad[i].fields);
		editor_post("/admin/feeds/new", fields, bad[i].status, fields, &r);
		if (!strstr(r.body, bad[i].error))
			fail_msg("POST /admin/feeds/new %s: want \"%s\" in the page", fields,
			         bad[i].error);
		if (!strstr(r.body, "class=\"error\" role=\"alert\""))
			fail_msg("POST /admin/feeds/new %s: the error is not shown as an alert",
			         fields);
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("POST /admin/feeds/new %s changed something", fields);
		free(before);
		free(after);
	}
	/* The typed values come back with the error. */
	snprintf(fields, sizeof(fields), "url=%s&list=news&mode=draft&every=3600&backfill=1001",
	         bl_buf_str(&enc));
	editor_post("/admin/feeds/new", fields, 422, "the form again", &r);
	snprintf(want, sizeof(want), "value=\"%s\"", url);
	if (!strstr(r.body, want) || !strstr(r.body, "<option value=\"draft\" selected>") ||
	    !strstr(r.body, "<option value=\"3600\" selected>") ||
	    !strstr(r.body, "value=\"news\" checked"))
		fail_msg("the form after an error: want the URL, draft, 1 hour and news again");
	reply_free(&r);

	/* Added: 303 to the page, which names it; the store has it as asked. */
	snprintf(fields, sizeof(fields),
	         "url=%s&list=news&list=xss&mode=send&every=1800&breaking=1&backfill=0",
	         bl_buf_str(&enc));
	editor_post("/admin/feeds/new", fields, 303, "add a feed", &r);
	char loc[256];
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	reply_free(&r);
	struct bl_feed f;
	if (!feed_by_url(url, &f))
		fail_msg("the feed %s is not in the store", url);
	int64_t id = f.id;
	if (f.mode != BL_FEED_SEND || f.every != 1800 || !f.breaking || f.backfill != 0)
		fail_msg("added feed: got mode %d every %lld breaking %d backfill %lld, want send, "
		         "1800, 1, 0",
		         (int)f.mode, (long long)f.every, f.breaking, (long long)f.backfill);
	bl_feed_clear(&f);
	snprintf(want, sizeof(want), "/admin/feeds?done=created&id=%lld", (long long)id);
	if (strcmp(loc, want) != 0)
		fail_msg("add a feed: got Location %s, want %s", loc, want);
	snprintf(target, sizeof(target), "feed:%lld", (long long)id);
	assert_int_equal(audit_entries("feed.add", target), 1);
	get(loc, viewer.cookie, &r);
	tl_want_status(&r, 200, loc);
	check_page(loc, r.body, r.len);
	snprintf(want, sizeof(want), "Feed \xe2\x80\x9c%s\xe2\x80\x9d added.", url);
	if (!strstr(r.body, want))
		fail_msg("after adding: want the notice \"%s\"", want);
	if (!strstr(r.body, "30 minutes") || !strstr(r.body, "<span class=\"tag\">news</span>") ||
	    !strstr(r.body, "<span class=\"tag\">xss</span>") || !strstr(r.body, "never"))
		fail_msg("feeds page: want the new feed's interval, lists and \"never\"");
	/* a viewer reads it but gets no buttons nor form */
	if (strstr(r.body, "/poll\"") || strstr(r.body, "/feeds/new"))
		fail_msg("feeds page as viewer: want no poll button and no add form");
	reply_free(&r);
	/* The same URL again: 409. */
	editor_post("/admin/feeds/new", fields, 409, "the same URL again", &r);
	assert_non_null(strstr(r.body, "A feed with this URL exists already."));
	reply_free(&r);

	/* Poll now: the first poll marks the item seen; no post. */
	snprintf(path, sizeof(path), "/admin/feeds/%lld/poll", (long long)id);
	editor_post(path, "x=1", 200, "poll now", &r);
	if (!strstr(r.body, "Polled \xe2\x80\x9c") ||
	    !strstr(r.body, ": 1 item, 1 new, 0 posts made."))
		fail_msg("first poll: want \"1 item, 1 new, 0 posts made.\" in the notice");
	reply_free(&r);
	/* Unchanged: said so. */
	editor_post(path, "x=1", 200, "poll now, unchanged", &r);
	assert_non_null(strstr(r.body, "not changed since the last poll."));
	reply_free(&r);
	/* A new item: one post. */
	tl_feeds_write(&feeds, "town.rss", rss_v2, (long)time(NULL) - 60);
	editor_post(path, "x=1", 200, "poll now, changed", &r);
	if (!strstr(r.body,
	            "Polled \xe2\x80\x9cTown feed\xe2\x80\x9d: 2 items, 1 new, 1 post made."))
		fail_msg("second poll: want \"Polled “Town feed”: 2 items, 1 new, 1 post made.\"");
	reply_free(&r);
	assert_int_equal(feed_by_url(url, &f), 1);
	if (f.items != 2 || f.posts != 1 || f.failures != 0 || strcmp(f.title, "Town feed") != 0)
		fail_msg("after two polls: got items %lld posts %lld failures %lld title %s",
		         (long long)f.items, (long long)f.posts, (long long)f.failures, f.title);
	bl_feed_clear(&f);
	assert_int_equal(audit_entries("feed.poll", target), 3);

	/* A failing feed: the poll's error as an alert, and in the table, marked. */
	snprintf(fields, sizeof(fields),
	         "url=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fstatus%%2F503&list=news&mode=draft&"
	         "every=900",
	         feeds.port);
	editor_post("/admin/feeds/new", fields, 303, "add a failing feed", &r);
	assert_true(tl_header(&r, "Location", loc, sizeof(loc)));
	reply_free(&r);
	int64_t bad_id = strtoll(strstr(loc, "id=") + 3, NULL, 10);
	snprintf(path, sizeof(path), "/admin/feeds/%lld/poll", (long long)bad_id);
	editor_post(path, "x=1", 200, "poll a failing feed", &r);
	const char *alert = strstr(r.body, "<p class=\"error\" role=\"alert\">Polling");
	snprintf(
	    want, sizeof(want),
	    "<p class=\"error\" role=\"alert\">Polling \xe2\x80\x9chttp://127.0.0.1:%d/status/503"
	    "\xe2\x80\x9d failed: the server answered HTTP 503. The next try is at ",
	    feeds.port);
	if (!alert || !strstr(r.body, want))
		fail_msg("poll of a 503 feed: want \"%s\" in %.600s", want, alert ? alert : r.body);
	if (!strstr(r.body, "<strong class=\"feed-error\">1 failed: ") ||
	    !strstr(r.body, "<tr class=\"failing\">"))
		fail_msg("poll of a 503 feed: want the row marked and its error highlighted");
	reply_free(&r);

	/* A viewer cannot add, poll or remove. */
	static const char *const viewer_writes[] = {"poll", "delete"};
	for (size_t i = 0; i < 2; i++) {
		char *before = fingerprint();
		char body[256];
		snprintf(path, sizeof(path), "/admin/feeds/%lld/%s", (long long)id,
		         viewer_writes[i]);
		snprintf(body, sizeof(body), "csrf=%s", viewer.csrf);
		post(path, body, viewer.cookie, &r);
		tl_want_status(&r, 403, path);
		assert_non_null(strstr(r.body, "This needs the editor role"));
		reply_free(&r);
		char *after = fingerprint();
		if (strcmp(before, after) != 0)
			fail_msg("POST %s as viewer changed something", path);
		free(before);
		free(after);
	}

	/* Remove: 303, gone; an unknown id is 404. */
	snprintf(path, sizeof(path), "/admin/feeds/%lld/delete", (long long)id);
	editor_post(path, "x=1", 303, "remove a feed", &r);
	reply_free(&r);
	assert_int_equal(feed_by_url(url, &f), 0);
	assert_int_equal(audit_entries("feed.rm", target), 1);
	editor_post(path, "x=1", 404, "remove it again", &r);
	reply_free(&r);
	editor_post("/admin/feeds/999999/poll", "x=1", 404, "poll an unknown feed", &r);
	reply_free(&r);
	editor_post("/admin/feeds/1/other", "x=1", 404, "an unknown action", &r);
	reply_free(&r);
	get("/admin/feeds?done=deleted", editor.cookie, &r);
	tl_want_status(&r, 200, "the feeds page after a removal");
	check_page("the feeds page after a removal", r.body, r.len);
	snprintf(want, sizeof(want), ">%s<", url);
	if (strstr(r.body, want))
		fail_msg("the removed feed is still listed");
	reply_free(&r);
	bl_buf_finish(&enc);
	(void)state;
}

static void test_static(void **state)
{
	struct reply r;
	char v[256];
	get("/admin/static/admin.js", NULL, &r);
	tl_want_status(&r, 200, "admin.js");
	assert_true(tl_header(&r, "Content-Type", v, sizeof(v)));
	assert_non_null(strstr(v, "javascript"));
	assert_non_null(strstr(r.body, "data-progress-url"));
	reply_free(&r);
	get("/admin/static/admin.css", NULL, &r);
	tl_want_status(&r, 200, "admin.css");
	assert_non_null(strstr(r.body, ".bl-chart-bar"));
	reply_free(&r);
	get("/admin/nothing-here", admin.cookie, &r);
	tl_want_status(&r, 404, "an unknown admin page");
	reply_free(&r);
	(void)state;
}

/* ---- bounces and complaints (issue 7) ---- */

static int first_accepted(void *arg, const struct bl_delivery_row *d)
{
	int64_t *sub = arg;
	if (!*sub && d->state == BL_DELIVERY_ACCEPTED)
		*sub = d->subscriber_id;
	return 0;
}

/* A page that passes check_html.py and holds each of @want (NULL-terminated) and none of
 * @never (the raw payloads). */
static void bounce_page(const char *path, const char *cookie, const char *const *want)
{
	struct reply r;
	get(path, cookie, &r);
	tl_want_status(&r, 200, path);
	check_page(path, r.body, r.len);
	for (size_t i = 0; want[i]; i++)
		if (!strstr(r.body, want[i]))
			fail_msg("GET %s: want \"%s\" in the page", path, want[i]);
	if (strstr(r.body, XSS1) || strstr(r.body, "<img src=x"))
		fail_msg("GET %s: a raw XSS payload in the page", path);
	reply_free(&r);
}

static void test_bounces(void **state)
{
	int64_t id = make_post("Bounced " XSS1, 1);
	struct bl_engine_opts eo = {.store = db, .config = cfg, .once = 1};
	struct bl_diag d;
	if (bl_engine_run(&eo, NULL, &d))
		fail_msg("engine: %s", d.msg);
	int64_t sub = 0;
	assert_int_equal(db->ops->delivery_each(db, id, -1, 0, 0, first_accepted, &sub), 0);
	if (!sub)
		fail_msg("post %lld: got no accepted delivery, want one", (long long)id);
	char path[128], post_path[64], sub_link[128];
	snprintf(post_path, sizeof(post_path), "/admin/posts/%lld", (long long)id);
	/* Before any finding: the block, no warning. */
	{
		const char *const want[] = {"Bounces and complaints", "data-rate=\"complaint\">0%<",
		                            NULL};
		bounce_page(post_path, viewer.cookie, want);
		struct reply r;
		get(post_path, viewer.cookie, &r);
		if (strstr(r.body, "data-warning"))
			fail_msg("GET %s before findings: got a warning", post_path);
		reply_free(&r);
	}
	record_bounce("admin-complaint", BL_BOUNCE_COMPLAINT, id, sub, "y" XSS2 "@example.org",
	              "complained " XSS1);
	/* The post page: the complaint counted and the warning in the alert style. */
	{
		const char *const want[] = {
		    "<div class=\"error\" role=\"alert\" data-warning=\"complaint\">",
		    "<strong>Warning:</strong> complaint rate ",
		    "is above 0.1%: mailbox providers may start filtering this sender",
		    "<dd data-class=\"complaint\">1</dd>",
		    "/admin/bounces?post=",
		    NULL};
		bounce_page(post_path, viewer.cookie, want);
	}
	/* The listing for the post: the finding, escaped, linked to its subscriber. */
	snprintf(path, sizeof(path), "/admin/bounces?post=%lld", (long long)id);
	snprintf(sub_link, sizeof(sub_link), "/admin/subscribers/%lld\">%lld</a>", (long long)sub,
	         (long long)sub);
	{
		const char *const want[] = {
		    "y&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@example.org",
		    "complained &lt;script&gt;alert(1)&lt;/script&gt;", sub_link,
		    "aria-current=\"page\">Bounces</a>", NULL};
		bounce_page(path, viewer.cookie, want);
		struct reply r;
		get(path, viewer.cookie, &r);
		if (strstr(r.body, "evil.example"))
			fail_msg("GET %s: got the unattributed finding, want only the post's",
			         path);
		reply_free(&r);
	}
	/* The review bucket: only the unattributed report, with its reason, escaped. */
	{
		const char *const want[] = {"x&lt;script&gt;alert(1)&lt;/script&gt;@evil.example",
		                            "review: no VERP token &quot;&gt;&lt;img src=x",
		                            "550 &quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
		                            "<option value=\"1\" selected>", NULL};
		bounce_page("/admin/bounces?review=1", viewer.cookie, want);
		struct reply r;
		get("/admin/bounces?review=1", viewer.cookie, &r);
		if (strstr(r.body, "complained &lt;script"))
			fail_msg("GET /admin/bounces?review=1: got an attributed finding");
		reply_free(&r);
	}
	/* Every role reads it; without a session it is the login page. */
	const struct who *whos[] = {&viewer, &editor, &admin};
	for (size_t i = 0; i < 3; i++) {
		struct reply r;
		get("/admin/bounces", whos[i]->cookie, &r);
		tl_want_status(&r, 200, "GET /admin/bounces");
		reply_free(&r);
	}
	struct reply r;
	get("/admin/bounces", NULL, &r);
	tl_want_status(&r, 303, "GET /admin/bounces without a session");
	reply_free(&r);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pages_by_role),
	    cmocka_unit_test(test_login_redirect_and_fixation),
	    cmocka_unit_test(test_login_csrf),
	    cmocka_unit_test(test_login_next),
	    cmocka_unit_test(test_csrf_every_post),
	    cmocka_unit_test(test_roles_every_post),
	    cmocka_unit_test(test_flow),
	    cmocka_unit_test(test_composer_checks),
	    cmocka_unit_test(test_preview_links_do_not_work),
	    cmocka_unit_test(test_validation_matches_api),
	    cmocka_unit_test(test_send_checks_sender),
	    cmocka_unit_test(test_import),
	    cmocka_unit_test(test_import_multipart_nul),
	    cmocka_unit_test(test_import_report),
	    cmocka_unit_test(test_subscribers_add_filter_erase),
	    cmocka_unit_test(test_blocklist_reason_cut),
	    cmocka_unit_test(test_notices_and_finished_post),
	    cmocka_unit_test(test_users_and_tokens),
	    cmocka_unit_test(test_last_admin),
	    cmocka_unit_test(test_feeds),
	    cmocka_unit_test(test_static),
	    cmocka_unit_test(test_bounces),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
