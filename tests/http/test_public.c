/*
 * The reader's flows over real HTTP: the public web (src/http/public.c and
 * the route table) served by the HTTP core on 127.0.0.1 port 0, driven with
 * libcurl, on a SQLite database (and, with BL_TEST_PG, a PostgreSQL one:
 * BL_TEST_BACKEND=postgres). Confirmation mail goes through the real
 * delivery engine into a maildir, and the test follows the link in it.
 * Covers signup (same answer whatever the state), double opt-in, token
 * abuse (flipped, forged, expired, wrong purpose, replayed), RFC 8058
 * one-click, the preference centre, data download, erasure, the bot
 * defences, the budgets and the circuit breaker, bad input, and many
 * simultaneous signups of one address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/web.h"
#include "send/engine.h"
#include "store/store.h"
#include "util/time.h"

#include "lib.h"

#ifndef BL_TEST_BACKEND
#define BL_TEST_BACKEND "sqlite"
#endif

static struct tl_db tdb;
static char outbox[256];
static struct bl_config *cfg;
static struct bl_store *db; /* the test's own handle, for checks */
static struct bl_web web;
static struct bl_http_server *srv;
static int port;
static int64_t list_news, list_local, list_hidden;

/* ---- HTTP ---- */

/* One request; @body NULL for a GET; @cookie "name=value" or NULL; @iface a local 127.x
 * address to send from, or NULL. */
static void http(const char *method, const char *path, const char *body, size_t body_len,
                 const char *cookie, const char *iface, struct reply *r)
{
	struct tl_request q = {.method = method,
	                       .path = path,
	                       .body = body,
	                       .body_len = body_len,
	                       .cookie = cookie,
	                       .iface = iface,
	                       .user_agent = "bulletin-test/1"};
	tl_fetch(port, &q, r);
}

static void get(const char *path, struct reply *r)
{
	http("GET", path, NULL, 0, NULL, NULL, r);
}

static void post(const char *path, const char *body, const char *cookie, struct reply *r)
{
	http("POST", path, body, strlen(body), cookie, NULL, r);
}

/* A served form: its token and the cookie that goes with it. */
struct form {
	char token[BL_TOKEN_LEN];
	char cookie[300];
};

static void fetch_form(struct form *f)
{
	struct reply r;
	char sc[256];
	get("/", &r);
	tl_want_status(&r, 200, "GET /");
	const char *p = strstr(r.body, "name=\"form_token\"");
	assert_non_null(p);
	p = strstr(p, "value=\"");
	if (!p) { /* value= may come before name= */
		p = strstr(r.body, "name=\"form_token\"");
		while (p > r.body && strncmp(p, "<input", 6) != 0)
			p--;
		p = strstr(p, "value=\"");
	}
	assert_non_null(p);
	p += 7;
	size_t n = strcspn(p, "\"");
	assert_int_equal(n, BL_TOKEN_LEN - 1);
	memcpy(f->token, p, n);
	f->token[n] = 0;
	assert_true(tl_header(&r, "Set-Cookie", sc, sizeof(sc)));
	size_t k = strcspn(sc, ";");
	sc[k] = 0;
	snprintf(f->cookie, sizeof(f->cookie), "%s", sc);
	reply_free(&r);
}

static char *urlenc(const char *s)
{
	static char out[8][2048];
	static int slot;
	char *o = out[slot++ % 8];
	size_t j = 0;
	for (; *s && j < 2040; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')
			o[j++] = (char)ch;
		else
			j += (size_t)snprintf(o + j, 4, "%%%02X", ch);
	}
	o[j] = 0;
	return o;
}

/* POST /subscribe with a fresh form. @extra is appended to the body ("&list=news"). */
static void signup(const char *email, const char *extra, struct reply *r)
{
	struct form f;
	char body[4096];
	fetch_form(&f);
	snprintf(body, sizeof(body), "email=%s&form_token=%s&website=%s", urlenc(email), f.token,
	         extra ? extra : "&list=news");
	post("/subscribe", body, f.cookie, r);
}

/* ---- the store, for checks ---- */

static int64_t subscriber_id(const char *email_key)
{
	struct bl_subscriber s = {0};
	int rc = db->ops->subscriber_get(db, email_key, &s);
	assert_true(rc >= 0);
	int64_t id = rc == 1 ? s.id : 0;
	bl_subscriber_clear(&s);
	return id;
}

struct sub_find {
	int64_t list_id;
	int found;
	enum bl_sub_status status;
	enum bl_mode mode;
};

static int on_sub(void *arg, const struct bl_subscription *s)
{
	struct sub_find *f = arg;
	if (s->list_id == f->list_id) {
		f->found = 1;
		f->status = s->status;
		f->mode = s->mode;
	}
	return 0;
}

/* The status of @email_key on @list_id: -1 when no subscription. */
static int sub_status(const char *email_key, int64_t list_id, enum bl_mode *mode)
{
	int64_t id = subscriber_id(email_key);
	struct sub_find f = {.list_id = list_id};
	if (!id)
		return -1;
	assert_int_equal(db->ops->subscription_each(db, id, on_sub, &f), 0);
	if (mode)
		*mode = f.mode;
	return f.found ? (int)f.status : -1;
}

struct ev_count {
	enum bl_consent_kind kind;
	int n;
	char ip[64], ua[128], source[128];
};

static int on_ev(void *arg, const struct bl_consent *c)
{
	struct ev_count *e = arg;
	if (c->kind == e->kind) {
		e->n++;
		snprintf(e->ip, sizeof(e->ip), "%s", c->ip);
		snprintf(e->ua, sizeof(e->ua), "%s", c->user_agent);
		snprintf(e->source, sizeof(e->source), "%s", c->source);
	}
	return 0;
}

static int events(int64_t sub_id, enum bl_consent_kind kind, struct ev_count *out)
{
	struct ev_count e = {.kind = kind};
	assert_int_equal(db->ops->consent_each(db, sub_id, on_ev, &e), 0);
	if (out)
		*out = e;
	return e.n;
}

struct post_count {
	int64_t confirm;
};

static int on_post(void *arg, const struct bl_post *p)
{
	struct post_count *c = arg;
	if (p->kind == BL_POST_KIND_CONFIRM)
		c->confirm++;
	return 0;
}

static int64_t confirm_posts(void)
{
	struct post_count c = {0};
	assert_int_equal(db->ops->post_each(db, on_post, &c), 0);
	return c.confirm;
}

struct del_acc {
	int64_t sub, n;
};

static int on_del(void *arg, const struct bl_delivery_row *d)
{
	struct del_acc *a = arg;
	(void)d;
	a->n++;
	return 0;
}

/* Confirmation mails queued for subscriber @id (its deliveries). */
static int64_t mails_for(int64_t id)
{
	struct del_acc a = {.sub = id};
	assert_int_equal(db->ops->subscriber_deliveries_each(db, id, on_del, &a), 0);
	return a.n;
}

/* ---- mail ---- */

static void run_engine(void)
{
	struct bl_engine_opts o = {.store = db, .config = cfg, .once = 1};
	struct bl_diag d;
	int rc = bl_engine_run(&o, NULL, &d);
	if (rc)
		fail_msg("engine: %s", d.msg);
}

/* The path of the link to @prefix ("/confirm/") in the newest message to @addr in the
 * outbox, into @out (quoted-printable soft breaks undone). 1 when found. */
static int link_in_mail(const char *addr, const char *prefix, char *out, size_t size)
{
	char dir[300], path[600], best[600] = "";
	time_t best_t = 0;
	snprintf(dir, sizeof(dir), "%s/new", outbox);
	DIR *dh = opendir(dir);
	struct dirent *de;
	if (!dh)
		return 0;
	int found = 0;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		char buf[1 << 16];
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = 0;
		char to[400];
		snprintf(to, sizeof(to), "To: %s", addr);
		struct stat st;
		stat(path, &st);
		if (strstr(buf, to) && st.st_mtime >= best_t) {
			best_t = st.st_mtime;
			snprintf(best, sizeof(best), "%s", path);
		}
	}
	closedir(dh);
	if (!*best)
		return 0;
	FILE *f = fopen(best, "rb");
	static char raw[1 << 16], flat[1 << 16];
	size_t n = fread(raw, 1, sizeof(raw) - 1, f), j = 0;
	fclose(f);
	raw[n] = 0;
	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '=' && raw[i + 1] == '\r' && raw[i + 2] == '\n') {
			i += 2;
			continue;
		}
		flat[j++] = raw[i];
	}
	flat[j] = 0;
	char needle[300];
	snprintf(needle, sizeof(needle), "http://bulletin.test%s", prefix);
	const char *p = strstr(flat, needle);
	if (p) {
		p += strlen("http://bulletin.test");
		size_t k = strspn(p + strlen(prefix),
		                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                  "0123456789-_") +
		           strlen(prefix);
		if (k < size) {
			memcpy(out, p, k);
			out[k] = 0;
			found = 1;
		}
	}
	return found;
}

static void token_path(const char *prefix, enum bl_token_purpose purpose, int64_t a, int64_t b,
                       int64_t expires, char *out, size_t size)
{
	char tok[BL_TOKEN_LEN];
	bl_token_make(&web.secret, purpose, a, b, expires, tok);
	snprintf(out, size, "%s%s", prefix, tok);
}

/* ---- set-up ---- */

static void set(const char *k, const char *v)
{
	struct bl_diag d;
	if (bl_config_set(cfg, k, v, BL_ORIGIN_FLAG, "test", &d))
		fail_msg("config %s: %s", k, d.msg);
}

static int64_t make_list(const char *slug, enum bl_optin optin, enum bl_visibility vis)
{
	struct bl_list l = {.slug = (char *)slug,
	                    .name = (char *)slug,
	                    .description = (char *)"a list",
	                    .optin = optin,
	                    .visibility = vis};
	assert_int_equal(db->ops->list_create(db, &l), 0);
	return l.id;
}

static void budgets(double ip, double global, double resend)
{
	bl_ratelimit_destroy(web.signup_ip);
	bl_ratelimit_destroy(web.signup_global);
	bl_ratelimit_destroy(web.resend_ip);
	web.signup_ip = bl_ratelimit_create(ip, ip ? ip : 1, 100000);
	web.signup_global = bl_ratelimit_create(global, global ? global : 1, 10);
	web.resend_ip = bl_ratelimit_create(resend, resend ? resend : 1, 100000);
	atomic_store(&web.breaker_until, 0);
}

static int group_setup(void **state)
{
	struct bl_diag d;
	if (tl_db_create(BL_TEST_BACKEND, "public", &tdb))
		return -1;
	snprintf(outbox, sizeof(outbox), "%s/outbox", tdb.dir);
	cfg = bl_config_create();
	set("db", tdb.uri);
	set("from", "Test News <news@bulletin.test>");
	set("public_url", "http://bulletin.test");
	set("site_name", "Test News");
	char relay[300];
	snprintf(relay, sizeof(relay), "maildir:%s", outbox);
	set("relay", relay);
	set("form_min_fill", "0");
	set("log_level", "error");

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
	list_news = make_list("news", BL_OPTIN_DOUBLE, BL_VISIBILITY_PUBLIC);
	list_local = make_list("local", BL_OPTIN_SINGLE, BL_VISIBILITY_PUBLIC);
	list_hidden = make_list("hidden", BL_OPTIN_DOUBLE, BL_VISIBILITY_PRIVATE);

	memset(&web, 0, sizeof(web));
	if (bl_web_init(&web, cfg, db, &d)) {
		fprintf(stderr, "web: %s\n", d.msg);
		return -1;
	}
	budgets(0, 0, 0);
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
	    .per_ip_connections = 64,
	};
	if (bl_http_start(&ho, &srv, &d)) {
		fprintf(stderr, "server: %s\n", d.msg);
		return -1;
	}
	web.server = srv;
	port = bl_http_port(srv);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	(void)state;
	return 0;
}

static int group_teardown(void **state)
{
	bl_http_stop(srv);
	bl_web_finish(&web);
	bl_store_close(db);
	bl_config_destroy(cfg);
	tl_db_drop(&tdb);
	(void)state;
	return 0;
}

/* ---- tests ---- */

static void test_index(void **state)
{
	struct reply r;
	char v[512];
	get("/", &r);
	tl_want_status(&r, 200, "GET /");
	assert_non_null(strstr(r.body, "value=\"news\""));
	assert_non_null(strstr(r.body, "value=\"local\""));
	assert_null(strstr(r.body, "value=\"hidden\"")); /* private lists are not offered */
	assert_non_null(strstr(r.body, "name=\"website\""));
	assert_true(tl_header(&r, "Content-Security-Policy", v, sizeof(v)));
	assert_non_null(strstr(v, "frame-ancestors 'none'"));
	assert_true(tl_header(&r, "X-Content-Type-Options", v, sizeof(v)));
	assert_string_equal(v, "nosniff");
	assert_true(tl_header(&r, "Referrer-Policy", v, sizeof(v)));
	assert_true(tl_header(&r, "Set-Cookie", v, sizeof(v)));
	assert_non_null(strstr(v, "HttpOnly"));
	assert_non_null(strstr(v, "SameSite=Strict"));
	reply_free(&r);
	get("/subscribe?list=local", &r);
	tl_want_status(&r, 200, "GET /subscribe?list=local");
	reply_free(&r);
	(void)state;
}

/* The whole double opt-in: signup, mail, GET (no change), POST, replay. */
static void test_double_optin(void **state)
{
	struct reply r;
	char path[512];
	signup("Reader.One@Example.org", "&name=Reader%20One&list=news", &r);
	tl_want_status(&r, 200, "signup");
	assert_non_null(strstr(r.body, "Reader.One@example.org"));
	reply_free(&r);
	int64_t id = subscriber_id("reader.one@example.org");
	assert_true(id > 0);
	assert_int_equal(sub_status("reader.one@example.org", list_news, NULL), BL_SUB_UNCONFIRMED);
	struct ev_count e;
	assert_int_equal(events(id, BL_CONSENT_SIGNUP, &e), 1);
	assert_string_equal(e.ip, "127.0.0.1");
	assert_string_equal(e.ua, "bulletin-test/1");
	assert_string_equal(e.source, "web:/subscribe");

	run_engine();
	if (!link_in_mail("Reader One <Reader.One@example.org>", "/confirm/", path, sizeof(path)) &&
	    !link_in_mail("Reader.One@example.org", "/confirm/", path, sizeof(path)))
		fail_msg("no confirmation mail with a /confirm/ link in %s", outbox);

	get(path, &r); /* a mail scanner following the link changes nothing */
	tl_want_status(&r, 200, "GET confirm");
	assert_non_null(strstr(r.body, "method=\"post\""));
	reply_free(&r);
	assert_int_equal(sub_status("reader.one@example.org", list_news, NULL), BL_SUB_UNCONFIRMED);

	post(path, "", NULL, &r);
	tl_want_status(&r, 200, "POST confirm");
	assert_non_null(strstr(r.body, "/preferences/"));
	reply_free(&r);
	assert_int_equal(sub_status("reader.one@example.org", list_news, NULL), BL_SUB_CONFIRMED);
	assert_int_equal(events(id, BL_CONSENT_CONFIRM, NULL), 1);

	post(path, "", NULL, &r); /* a replay: the success page again, nothing new */
	tl_want_status(&r, 200, "replayed confirm");
	reply_free(&r);
	assert_int_equal(events(id, BL_CONSENT_CONFIRM, NULL), 1);

	/* Signing up again never downgrades, and sends no new mail. */
	int64_t mails = mails_for(id);
	signup("reader.one@example.org", NULL, &r);
	tl_want_status(&r, 200, "second signup");
	reply_free(&r);
	assert_int_equal(sub_status("reader.one@example.org", list_news, NULL), BL_SUB_CONFIRMED);
	assert_int_equal(mails_for(id), mails);
	(void)state;
}

static void test_single_optin(void **state)
{
	struct reply r;
	signup("local.reader@example.org", "&list=local", &r);
	tl_want_status(&r, 200, "single opt-in signup");
	reply_free(&r);
	assert_int_equal(sub_status("local.reader@example.org", list_local, NULL),
	                 BL_SUB_CONFIRMED);
	assert_int_equal(mails_for(subscriber_id("local.reader@example.org")), 0);
	(void)state;
}

/* Bad, forged, flipped, wrong-purpose and expired tokens. */
static void test_tokens(void **state)
{
	struct reply r;
	char path[512], bad[600];
	signup("tok@example.org", NULL, &r);
	reply_free(&r);
	int64_t id = subscriber_id("tok@example.org");
	run_engine();
	assert_true(link_in_mail("tok@example.org", "/confirm/", path, sizeof(path)));

	/* flipped: one character of the token changed */
	snprintf(bad, sizeof(bad), "%s", path);
	size_t at = strlen("/confirm/") + 5;
	bad[at] = bad[at] == 'A' ? 'B' : 'A';
	post(bad, "", NULL, &r);
	tl_want_status(&r, 404, "flipped token");
	reply_free(&r);
	/* forged: right shape, another key */
	struct bl_secret other;
	memset(&other, 7, sizeof(other));
	char tok[BL_TOKEN_LEN];
	bl_token_make(&other, BL_TOKEN_CONFIRM, id, 1, bl_now() + 3600, tok);
	snprintf(bad, sizeof(bad), "/confirm/%s", tok);
	post(bad, "", NULL, &r);
	tl_want_status(&r, 404, "forged token");
	reply_free(&r);
	/* wrong purpose: an unsubscribe token on /confirm/, a confirm token on /unsubscribe/ */
	token_path("/confirm/", BL_TOKEN_UNSUBSCRIBE, id, list_news, 0, bad, sizeof(bad));
	post(bad, "", NULL, &r);
	tl_want_status(&r, 404, "unsubscribe token on /confirm/");
	reply_free(&r);
	snprintf(bad, sizeof(bad), "/unsubscribe/%s", path + strlen("/confirm/"));
	post(bad, "List-Unsubscribe=One-Click", NULL, &r);
	tl_want_status(&r, 404, "confirm token on /unsubscribe/");
	reply_free(&r);
	/* garbage and truncation */
	get("/confirm/short", &r);
	tl_want_status(&r, 404, "short token");
	reply_free(&r);
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(path) - 1, path);
	get(bad, &r);
	tl_want_status(&r, 404, "truncated token");
	reply_free(&r);
	assert_int_equal(sub_status("tok@example.org", list_news, NULL), BL_SUB_UNCONFIRMED);

	/* expired: authentic but past its time: a resend page, and nothing confirmed */
	int64_t confirm_post = 0, zero, exp;
	assert_true(bl_token_verify(&web.secret, BL_TOKEN_CONFIRM, path + strlen("/confirm/"),
	                            &zero, &confirm_post, &exp));
	token_path("/confirm/", BL_TOKEN_CONFIRM, id, confirm_post, bl_now() - 10, bad,
	           sizeof(bad));
	post(bad, "", NULL, &r);
	tl_want_status(&r, 410, "expired token");
	assert_non_null(strstr(r.body, "/resend"));
	reply_free(&r);
	assert_int_equal(sub_status("tok@example.org", list_news, NULL), BL_SUB_UNCONFIRMED);
	/* the resend is throttled: a mail went out less than confirm_interval ago */
	int64_t before = mails_for(id);
	char resend[700];
	snprintf(resend, sizeof(resend), "%s/resend", bad);
	post(resend, "", NULL, &r);
	tl_want_status(&r, 200, "resend");
	reply_free(&r);
	assert_int_equal(mails_for(id), before);
	get(resend, &r);
	tl_want_status(&r, 405, "GET resend");
	reply_free(&r);
	(void)state;
}

/* RFC 8058 one-click, the unsubscribe page, replays, and a GET that changes nothing. */
static void test_unsubscribe(void **state)
{
	struct reply r;
	char path[512], v[256];
	signup("leaver@example.org", "&list=local", &r);
	reply_free(&r);
	int64_t id = subscriber_id("leaver@example.org");
	token_path("/unsubscribe/", BL_TOKEN_UNSUBSCRIBE, id, list_local, 0, path, sizeof(path));

	get(path, &r); /* a GET on the one-click URL: a page, no change */
	tl_want_status(&r, 200, "GET unsubscribe");
	assert_non_null(strstr(r.body, "method=\"post\""));
	reply_free(&r);
	assert_int_equal(sub_status("leaver@example.org", list_local, NULL), BL_SUB_CONFIRMED);

	http("POST", path, "List-Unsubscribe=One-Click", 26, NULL, NULL, &r);
	tl_want_status(&r, 200, "one-click");
	assert_false(tl_header(&r, "Location", v, sizeof(v)));
	reply_free(&r);
	assert_int_equal(sub_status("leaver@example.org", list_local, NULL), BL_SUB_UNSUBSCRIBED);
	assert_int_equal(events(id, BL_CONSENT_UNSUBSCRIBE, NULL), 1);

	http("POST", path, "List-Unsubscribe=One-Click", 26, NULL, NULL, &r); /* replay */
	tl_want_status(&r, 200, "one-click replay");
	reply_free(&r);
	assert_int_equal(events(id, BL_CONSENT_UNSUBSCRIBE, NULL), 1);

	/* the button of the page, on a list-less token: every list */
	signup("leaver@example.org", "&list=local", &r);
	reply_free(&r);
	assert_int_equal(sub_status("leaver@example.org", list_local, NULL), BL_SUB_CONFIRMED);
	token_path("/unsubscribe/", BL_TOKEN_UNSUBSCRIBE, id, 0, 0, path, sizeof(path));
	post(path, "", NULL, &r);
	tl_want_status(&r, 200, "unsubscribe button");
	assert_non_null(strstr(r.body, "/preferences/"));
	reply_free(&r);
	assert_int_equal(sub_status("leaver@example.org", list_local, NULL), BL_SUB_UNSUBSCRIBED);
	(void)state;
}

static void test_preferences(void **state)
{
	struct reply r;
	char path[512], body[512];
	enum bl_mode mode;
	signup("prefs@example.org", "&list=local", &r);
	reply_free(&r);
	int64_t id = subscriber_id("prefs@example.org");
	token_path("/preferences/", BL_TOKEN_PREFERENCES, id, 0, 0, path, sizeof(path));
	get(path, &r);
	tl_want_status(&r, 200, "GET preferences");
	assert_non_null(strstr(r.body, "prefs@example.org"));
	reply_free(&r);

	/* daily on local, join news (the token proves the address), a name */
	snprintf(body, sizeof(body), "name=P%%C3%%A9r&list=%lld&mode_%lld=daily&list=%lld",
	         (long long)list_local, (long long)list_local, (long long)list_news);
	post(path, body, NULL, &r);
	tl_want_status(&r, 200, "POST preferences");
	reply_free(&r);
	assert_int_equal(sub_status("prefs@example.org", list_local, &mode), BL_SUB_CONFIRMED);
	assert_int_equal(mode, BL_MODE_DAILY);
	assert_int_equal(sub_status("prefs@example.org", list_news, NULL), BL_SUB_CONFIRMED);
	assert_true(events(id, BL_CONSENT_PREFERENCE, NULL) >= 1);

	/* unticking a list leaves it */
	snprintf(body, sizeof(body), "name=P%%C3%%A9r&list=%lld&mode_%lld=daily",
	         (long long)list_local, (long long)list_local);
	post(path, body, NULL, &r);
	tl_want_status(&r, 200, "POST preferences 2");
	reply_free(&r);
	assert_int_equal(sub_status("prefs@example.org", list_news, NULL), BL_SUB_UNSUBSCRIBED);

	/* refused input changes nothing */
	snprintf(body, sizeof(body), "name=a%%0Db&list=%lld", (long long)list_local);
	post(path, body, NULL, &r);
	tl_want_status(&r, 400, "CR in the name");
	reply_free(&r);
	snprintf(body, sizeof(body), "list=%lld&mode_%lld=hourly", (long long)list_local,
	         (long long)list_local);
	post(path, body, NULL, &r);
	tl_want_status(&r, 400, "unknown mode");
	reply_free(&r);
	assert_int_equal(sub_status("prefs@example.org", list_local, &mode), BL_SUB_CONFIRMED);
	assert_int_equal(mode, BL_MODE_DAILY);

	/* a body that is not the page's form (JSON, no fields) is not "leave every list" */
	post(path, "{\"lists\": []}", NULL, &r);
	tl_want_status(&r, 400, "a JSON body on the preferences form");
	reply_free(&r);
	assert_int_equal(sub_status("prefs@example.org", list_local, NULL), BL_SUB_CONFIRMED);

	/* download my data */
	char data[600];
	snprintf(data, sizeof(data), "%s/data", path);
	get(data, &r);
	tl_want_status(&r, 200, "data");
	json_error_t je;
	json_t *doc = json_loads(r.body, 0, &je);
	if (!doc)
		fail_msg("data is not JSON: %s", je.text);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(doc, "subscriber"), "email")),
	    "prefs@example.org");
	assert_true(json_array_size(json_object_get(doc, "subscriptions")) == 2);
	assert_true(json_array_size(json_object_get(doc, "consent_events")) >= 3);
	assert_true(json_is_array(json_object_get(doc, "deliveries")));
	json_decref(doc);
	reply_free(&r);

	/* erase: a confirmation page, then the hard delete with a suppression entry */
	char erase[600];
	snprintf(erase, sizeof(erase), "%s/erase", path);
	get(erase, &r);
	tl_want_status(&r, 200, "GET erase");
	reply_free(&r);
	assert_true(subscriber_id("prefs@example.org") > 0);
	post(erase, "", NULL, &r);
	tl_want_status(&r, 200, "POST erase");
	reply_free(&r);
	assert_int_equal(subscriber_id("prefs@example.org"), 0);
	char hash[BL_HASH_HEX];
	int64_t since;
	bl_suppression_hash("prefs@example.org", hash);
	assert_int_equal(db->ops->suppression_get(db, hash, &since), 1);
	get(path, &r);
	tl_want_status(&r, 404, "preferences after erasure");
	reply_free(&r);
	/* the next subscriber never gets the erased one's id: the old link stays dead */
	signup("after.erase@example.org", "&list=local", &r);
	reply_free(&r);
	assert_true(subscriber_id("after.erase@example.org") > id);
	get(path, &r);
	tl_want_status(&r, 404, "an erased subscriber's link after a new signup");
	reply_free(&r);
	(void)state;
}

/* Honeypot, missing or too fresh form token, and a missing cookie. */
static void test_bots(void **state)
{
	struct reply r;
	struct form f;
	char body[1024];
	fetch_form(&f);
	snprintf(body, sizeof(body), "email=bot1%%40example.org&list=news&form_token=%s&website=x",
	         f.token);
	post("/subscribe", body, f.cookie, &r);
	tl_want_status(&r, 200, "honeypot");
	reply_free(&r);
	assert_int_equal(subscriber_id("bot1@example.org"), 0);

	post("/subscribe", "email=bot2%40example.org&list=news&website=", NULL, &r);
	tl_want_status(&r, 200, "no form token");
	reply_free(&r);
	assert_int_equal(subscriber_id("bot2@example.org"), 0);

	set("form_min_fill", "30");
	fetch_form(&f);
	snprintf(body, sizeof(body),
	         "email=bot3%%40example.org&list=news&form_token=%s&website=", f.token);
	post("/subscribe", body, f.cookie, &r);
	tl_want_status(&r, 200, "too fresh");
	reply_free(&r);
	assert_int_equal(subscriber_id("bot3@example.org"), 0);
	set("form_min_fill", "0");

	/* two tabs: the second page keeps the first one's cookie, so both forms work */
	struct reply r2;
	char sc[256];
	fetch_form(&f);
	http("GET", "/", NULL, 0, f.cookie, NULL, &r2);
	tl_want_status(&r2, 200, "a second tab");
	if (tl_header(&r2, "Set-Cookie", sc, sizeof(sc)))
		assert_int_equal(strncmp(sc, f.cookie, strlen(f.cookie)), 0);
	reply_free(&r2);
	snprintf(body, sizeof(body),
	         "email=tab1%%40example.org&list=local&form_token=%s&website=", f.token);
	post("/subscribe", body, f.cookie, &r);
	tl_want_status(&r, 200, "the first tab's form after a second tab opened");
	reply_free(&r);
	assert_true(subscriber_id("tab1@example.org") > 0);

	/* a cross-site post: a valid token without our cookie */
	fetch_form(&f);
	snprintf(body, sizeof(body),
	         "email=csrf%%40example.org&list=news&form_token=%s&website=", f.token);
	post("/subscribe", body, NULL, &r);
	tl_want_status(&r, 403, "no cookie");
	reply_free(&r);
	post("/subscribe", body, "bl_form=1234", &r);
	tl_want_status(&r, 403, "another cookie");
	reply_free(&r);
	assert_int_equal(subscriber_id("csrf@example.org"), 0);
	(void)state;
}

/* Malformed input: a clear 4xx and nothing written. */
static void test_bad_input(void **state)
{
	static const struct {
		const char *email, *extra;
		long status;
		const char *what;
	} cases[] = {
	    {"not-an-address", NULL, 400, "no @"},
	    {"", NULL, 400, "empty"},
	    {"a\r\nBcc: x@example.org", NULL, 400, "CR/LF in the address"},
	    {"bad@exa\xff"
	     "mple.org",
	     NULL, 400, "invalid UTF-8"},
	    {"ok1@example.org", "&name=a%0Ab&list=news", 400, "LF in the name"},
	    {"ok2@example.org", "&list=nosuch", 400, "unknown list"},
	    {"ok3@example.org", "&list=hidden", 400, "private list"},
	    {"ok4@example.org", "", 400, "no list"},
	};
	struct reply r;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		signup(cases[i].email, cases[i].extra, &r);
		if (r.status != cases[i].status)
			fail_msg("%s: got %ld, want %ld", cases[i].what, r.status, cases[i].status);
		reply_free(&r);
	}
	for (const char *k = "ok1@example.org"; k; k = NULL)
		assert_int_equal(subscriber_id(k), 0);
	assert_int_equal(subscriber_id("ok2@example.org"), 0);
	assert_int_equal(subscriber_id("ok3@example.org"), 0);
	assert_int_equal(subscriber_id("ok4@example.org"), 0);

	/* a bad %-escape, and a body over the limit */
	post("/subscribe", "email=%ZZ&list=news", NULL, &r);
	tl_want_status(&r, 400, "bad escape");
	reply_free(&r);
	size_t big = 70000;
	char *huge = malloc(big + 1);
	memset(huge, 'a', big);
	memcpy(huge, "email=", 6);
	huge[big] = 0;
	http("POST", "/subscribe", huge, big, NULL, NULL, &r);
	tl_want_status(&r, 413, "oversized body");
	reply_free(&r);
	free(huge);
	(void)state;
}

/* Budgets: per IP, then global with the circuit breaker. */
static void test_budgets(void **state)
{
	struct reply r;
	char email[64];
	budgets(3, 0, 0);
	for (int i = 0; i < 3; i++) {
		snprintf(email, sizeof(email), "budget%d@example.org", i);
		signup(email, NULL, &r);
		tl_want_status(&r, 200, "within the per-IP budget");
		reply_free(&r);
	}
	signup("budget9@example.org", NULL, &r);
	tl_want_status(&r, 429, "over the per-IP budget");
	char v[64];
	assert_true(tl_header(&r, "Retry-After", v, sizeof(v)));
	reply_free(&r);
	assert_int_equal(subscriber_id("budget9@example.org"), 0);

	budgets(0, 2, 0);
	int64_t before = confirm_posts();
	signup("breaker0@example.org", NULL, &r);
	reply_free(&r);
	signup("breaker1@example.org", NULL, &r);
	reply_free(&r);
	signup("breaker2@example.org", NULL, &r);
	tl_want_status(&r, 429, "over the global budget");
	reply_free(&r);
	assert_int_equal(confirm_posts(), before + 2);
	/* the breaker is open: signups still recorded once the budget allows, but no mail */
	bl_ratelimit_destroy(web.signup_global);
	web.signup_global = bl_ratelimit_create(0, 1, 10);
	signup("breaker3@example.org", NULL, &r);
	tl_want_status(&r, 200, "signup while the breaker is open");
	reply_free(&r);
	assert_true(subscriber_id("breaker3@example.org") > 0);
	assert_int_equal(confirm_posts(), before + 2);
	budgets(0, 0, 0);
	(void)state;
}

struct par {
	const struct form *f;
	const char *email;
	long status;
};

static void *par_signup(void *arg)
{
	struct par *p = arg;
	struct reply r;
	char body[1024];
	snprintf(body, sizeof(body), "email=%s&list=news&form_token=%s&website=", p->email,
	         p->f->token);
	http("POST", "/subscribe", body, strlen(body), p->f->cookie, NULL, &r);
	p->status = r.status;
	reply_free(&r);
	return NULL;
}

/* 50 signups of one address at once: one subscriber, at most one mail, all 200. */
static void test_parallel_signups(void **state)
{
	struct form f;
	pthread_t th[50];
	struct par p[50];
	int64_t before = confirm_posts();
	fetch_form(&f);
	for (int i = 0; i < 50; i++) {
		p[i] = (struct par){.f = &f, .email = "same%40example.org"};
		pthread_create(&th[i], NULL, par_signup, &p[i]);
	}
	for (int i = 0; i < 50; i++) {
		pthread_join(th[i], NULL);
		if (p[i].status != 200)
			fail_msg("signup %d: HTTP %ld", i, p[i].status);
	}
	int64_t id = subscriber_id("same@example.org");
	assert_true(id > 0);
	assert_int_equal(mails_for(id), 1);
	assert_int_equal(confirm_posts(), before + 1);
	(void)state;
}

/* 1,000 signups of one address from 1,000 client addresses: one mail. */
static void test_many_ips(void **state)
{
	struct reply r;
	struct form f;
	char body[1024], ip[32];
	budgets(30, 0, 0);
	int64_t before = confirm_posts();
	fetch_form(&f);
	snprintf(body, sizeof(body),
	         "email=Target%%40Example.org&list=news&form_token=%s&website=", f.token);
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "127.0.%d.%d", 1 + i / 250, 1 + i % 250);
		http("POST", "/subscribe", body, strlen(body), f.cookie, ip, &r);
		if (r.status != 200)
			fail_msg("signup from %s: HTTP %ld", ip, r.status);
		reply_free(&r);
	}
	int64_t id = subscriber_id("target@example.org");
	assert_true(id > 0);
	assert_int_equal(mails_for(id), 1);
	assert_int_equal(confirm_posts(), before + 1);
	struct ev_count e;
	assert_int_equal(events(id, BL_CONSENT_SIGNUP, &e), 1000);
	budgets(0, 0, 0);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index),        cmocka_unit_test(test_double_optin),
	    cmocka_unit_test(test_single_optin), cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_unsubscribe),  cmocka_unit_test(test_preferences),
	    cmocka_unit_test(test_bots),         cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_budgets),      cmocka_unit_test(test_parallel_signups),
	    cmocka_unit_test(test_many_ips),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
