/*
 * Who is asking (src/http/auth.c) over real HTTP: the server core on
 * 127.0.0.1 port 0 with a route table of this test's own (the admin UI's
 * pages are not needed: POST /t/login calls bl_auth_login, GET /t/me
 * bl_auth_session then bl_auth_bearer, POST /t/write bl_auth_csrf_ok and
 * bl_audit, POST /t/logout bl_auth_logout), driven with libcurl, on SQLite
 * (and, with BL_TEST_PG, PostgreSQL: BL_TEST_BACKEND=postgres). Covers the
 * cookie's attributes, wrong password and unknown user alike, session
 * fixation, a password change ending sessions, expiry, the login budgets,
 * bearer tokens and their roles, CSRF, logout and the audit entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/admin.h"
#include "http/web.h"
#include "store/store.h"
#include "util/time.h"

#include "lib.h"

#ifndef BL_TEST_BACKEND
#define BL_TEST_BACKEND "sqlite"
#endif

static struct tl_db tdb;
static struct bl_config *cfg;
static struct bl_store *db; /* the test's own handle, for checks */
static struct bl_web web;
static struct bl_http_server *srv;
static int port;
static int64_t alice_id, vera_id;

static const char alice_pw[] = "alice: correct horse";
static const char vera_pw[] = "vera's other password";

/* ---- the test's routes ---- */

static int parse(struct bl_http_req *req, struct bl_form *f)
{
	struct bl_diag d;
	return bl_form_parse(req->body, req->body_len, f, &d);
}

static void reply(struct bl_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply(struct bl_http_resp *resp, int status, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	bl_buf_reset(&resp->body);
	bl_buf_adds(&resp->body, buf);
}

static void t_login(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_form *f = calloc(1, sizeof(*f));
	struct bl_principal p;
	if (parse(req, f)) {
		reply(resp, 400, "bad form");
	} else {
		const char *name = bl_form_get(f, "name"), *pw = bl_form_get(f, "password");
		int rc = bl_auth_login(req, resp, name ? name : "", pw ? pw : "",
		                       pw ? strlen(pw) : 0, &p);
		if (rc == 1)
			reply(resp, 200, "ok %s %s %s", p.name, bl_role_name(p.role), p.csrf);
		else if (rc == 0)
			reply(resp, 403, "wrong name or password");
		else if (rc == -BL_ELIMIT)
			reply(resp, 429, "too many attempts");
		else
			reply(resp, 500, "error %d", rc);
	}
	bl_form_clear(f);
	free(f);
}

/* "session NAME ROLE ACTOR CSRF" or "token NAME ROLE ACTOR ID", 401 "nobody". */
static void t_me(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_principal p;
	int rc = bl_auth_session(req, &p);
	if (rc == 1) {
		reply(resp, 200, "session %s %s %s %s %lld", p.name, bl_role_name(p.role), p.actor,
		      p.csrf, (long long)p.user_id);
		return;
	}
	if (rc == 0 && (rc = bl_auth_bearer(req, &p)) == 1) {
		reply(resp, 200, "token %s %s %s %lld %lld", p.name, bl_role_name(p.role), p.actor,
		      (long long)p.token_id, (long long)p.user_id);
		return;
	}
	reply(resp, rc < 0 ? 500 : 401, "nobody");
}

static void t_write(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_form *f = calloc(1, sizeof(*f));
	struct bl_principal p;
	if (bl_auth_session(req, &p) != 1)
		reply(resp, 401, "log in first");
	else if (parse(req, f) || !bl_auth_csrf_ok(&p, bl_form_get(f, "csrf")))
		reply(resp, 403, "csrf");
	else {
		bl_audit(req, &p, "test.write", "thing:1", "n=%d", 1);
		reply(resp, 200, "written");
	}
	bl_form_clear(f);
	free(f);
}

static void t_logout(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int rc = bl_auth_logout(req, resp);
	reply(resp, rc < 0 ? 500 : 200, "ended %d", rc);
}

static const struct bl_http_route routes[] = {
    {BL_HTTP_POST, "/t/login", 0, "t_login", t_login, 0},
    {BL_HTTP_GET, "/t/me", 0, "t_me", t_me, 0},
    {BL_HTTP_POST, "/t/write", 0, "t_write", t_write, 0},
    {BL_HTTP_POST, "/t/logout", 0, "t_logout", t_logout, 0},
};

/* ---- HTTP ---- */

/* One request; @body NULL for a GET; @cookie "VALUE" of bl_admin or NULL; @auth an
 * Authorization header's value or NULL; @iface a local 127.x address or NULL. */
static void http(const char *path, const char *body, const char *cookie, const char *auth,
                 const char *iface, struct reply *r)
{
	char hdr[512], ck[512];
	struct tl_request q = {
	    .path = path, .body = body, .body_len = body ? strlen(body) : 0, .iface = iface};
	if (cookie) {
		snprintf(ck, sizeof(ck), "%s=%s", BL_ADMIN_COOKIE, cookie);
		q.cookie = ck;
	}
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		q.hdrs = curl_slist_append(NULL, hdr);
	}
	tl_fetch(port, &q, r);
	curl_slist_free_all(q.hdrs);
}

static void expect(const struct reply *r, long status, const char *body_prefix, const char *what)
{
	if (r->status != status || strncmp(r->body, body_prefix, strlen(body_prefix)) != 0)
		fail_msg("%s: got HTTP %ld \"%s\", want %ld \"%s...\"", what, r->status, r->body,
		         status, body_prefix);
}

static char *urlenc(const char *s)
{
	static char out[4][512];
	static int slot;
	char *o = out[slot++ % 4], *p = o;
	for (; *s && p < o + sizeof(out[0]) - 4; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.')
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = 0;
	return o;
}

struct session {
	char cookie[BL_RANDOM_ID_LEN];
	char csrf[BL_RANDOM_ID_LEN];
	char set_cookie[512]; /* the whole Set-Cookie value */
};

/* POST /t/login as @name with @pw, presenting @cookie (or NULL); the reply in @r. */
static void login_raw(const char *name, const char *pw, const char *cookie, const char *iface,
                      struct reply *r)
{
	char body[1024];
	snprintf(body, sizeof(body), "name=%s&password=%s", urlenc(name), urlenc(pw));
	http("/t/login", body, cookie, NULL, iface, r);
}

/* A successful login: its cookie and CSRF token in @s. */
static void login(const char *name, const char *pw, const char *cookie, struct session *s)
{
	struct reply r;
	char want[128];
	memset(s, 0, sizeof(*s));
	login_raw(name, pw, cookie, NULL, &r);
	snprintf(want, sizeof(want), "ok %s ", name);
	expect(&r, 200, want, "login");
	if (!tl_header(&r, "Set-Cookie", s->set_cookie, sizeof(s->set_cookie)))
		fail_msg("login: no Set-Cookie; headers: %s", r.headers);
	const char *v = s->set_cookie + strlen(BL_ADMIN_COOKIE) + 1;
	if (strncmp(s->set_cookie, BL_ADMIN_COOKIE "=", strlen(BL_ADMIN_COOKIE) + 1) != 0 ||
	    strcspn(v, ";") != BL_RANDOM_ID_LEN - 1)
		fail_msg("login: Set-Cookie: got %s, want bl_admin=<43 characters>; ...",
		         s->set_cookie);
	memcpy(s->cookie, v, BL_RANDOM_ID_LEN - 1);
	const char *c = strrchr(r.body, ' ') + 1;
	snprintf(s->csrf, sizeof(s->csrf), "%s", c);
	reply_free(&r);
}

/* GET /t/me with @cookie: the reply's status. */
static long me(const char *cookie, const char *auth, struct reply *r)
{
	http("/t/me", NULL, cookie, auth, NULL, r);
	return r->status;
}

/* ---- set-up ---- */

static void set(const char *k, const char *v)
{
	struct bl_diag d;
	if (bl_config_set(cfg, k, v, BL_ORIGIN_FLAG, "test", &d))
		fail_msg("config %s: %s", k, d.msg);
}

static int64_t make_user(const char *name, enum bl_role role, const char *pw)
{
	char h[BL_PASSWORD_HASH_MAX];
	assert_int_equal(bl_password_hash(pw, strlen(pw), h), 0);
	struct bl_user u = {.name = (char *)name, .role = role, .pass_hash = h};
	assert_int_equal(db->ops->user_create(db, &u), 0);
	return u.id;
}

/* Login budgets: @ip and @user attempts an hour (the burst too); 0 = unlimited. */
static void budgets(double ip, double user)
{
	bl_ratelimit_destroy(web.login_ip);
	bl_ratelimit_destroy(web.login_user);
	web.login_ip = bl_ratelimit_create(ip, ip ? ip : 1, 1000);
	web.login_user = bl_ratelimit_create(user, user ? user : 1, 1000);
}

static int group_setup(void **state)
{
	struct bl_diag d;
	if (tl_db_create(BL_TEST_BACKEND, "auth", &tdb))
		return -1;
	cfg = bl_config_create();
	set("db", tdb.uri);
	set("public_url", "http://bulletin.test");
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
	alice_id = make_user("alice", BL_ROLE_ADMIN, alice_pw);
	vera_id = make_user("vera", BL_ROLE_VIEWER, vera_pw);

	memset(&web, 0, sizeof(web));
	if (bl_web_init(&web, cfg, db, &d)) {
		fprintf(stderr, "web: %s\n", d.msg);
		return -1;
	}
	budgets(0, 0);
	struct bl_http_opts ho = {
	    .listen = "127.0.0.1:0",
	    .routes = routes,
	    .n_routes = sizeof(routes) / sizeof(routes[0]),
	    .app = &web,
	    .db_uri = tdb.uri,
	    .db_opts = so,
	    .threads = 2,
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

/* The store's view of a cookie: 1 when a live session is keyed by its SHA-256. */
static int stored(const char *cookie)
{
	char h[BL_HASH_HEX];
	struct bl_session x = {0};
	bl_sha256_hex(cookie, strlen(cookie), h);
	int rc = db->ops->session_get(db, h, bl_now(), &x);
	bl_session_clear(&x);
	return rc;
}

/* ---- tests ---- */

static void test_login_cookie(void **state)
{
	struct session s;
	struct reply r;
	char want[256];
	int64_t before = bl_now();
	login("alice", alice_pw, NULL, &s);
	static const char *const attrs[] = {"; Path=/", "; HttpOnly", "; SameSite=Strict"};
	for (size_t i = 0; i < 3; i++)
		if (!strstr(s.set_cookie, attrs[i]))
			fail_msg("Set-Cookie: got %s, want %s in it", s.set_cookie, attrs[i]);
	if (strstr(s.set_cookie, "Secure") || strstr(s.set_cookie, "Max-Age"))
		fail_msg("Set-Cookie over http: got %s, want no Secure, no Max-Age", s.set_cookie);
	assert_true(bl_random_id_valid(s.csrf));
	assert_string_not_equal(s.csrf, s.cookie);

	/* The cookie names the session; the CSRF token is the session's. */
	assert_int_equal(me(s.cookie, NULL, &r), 200);
	snprintf(want, sizeof(want), "session alice admin user:alice %s %lld", s.csrf,
	         (long long)alice_id);
	expect(&r, 200, want, "GET /t/me with the cookie");
	reply_free(&r);
	/* The store keeps the SHA-256, never the value. */
	assert_int_equal(stored(s.cookie), 1);
	struct bl_session x = {0};
	assert_int_equal(db->ops->session_get(db, s.cookie, bl_now(), &x), 0);
	struct bl_user u = {0};
	assert_int_equal(db->ops->user_get(db, "alice", 0, &u), 1);
	if (u.last_login_at < before)
		fail_msg("last_login_at: got %lld, want >= %lld", (long long)u.last_login_at,
		         (long long)before);
	bl_user_clear(&u);

	/* A cookie that is not ours, or none: nobody. */
	static const char *const bad[] = {NULL, "", "x",
	                                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (me(bad[i], NULL, &r) != 401)
			fail_msg("cookie \"%s\": got HTTP %ld, want 401",
			         bad[i] ? bad[i] : "(none)", r.status);
		reply_free(&r);
	}

	/* Under https the cookie is Secure. */
	struct bl_config *c2 = bl_config_create();
	struct bl_web w2;
	struct bl_diag d;
	bl_config_set(c2, "db", tdb.uri, BL_ORIGIN_FLAG, "test", &d);
	bl_config_set(c2, "public_url", "https://news.example/bulletin", BL_ORIGIN_FLAG, "test",
	              &d);
	bl_config_set(c2, "session_ttl", "2h", BL_ORIGIN_FLAG, "test", &d);
	assert_int_equal(bl_web_init(&w2, c2, db, &d), 0);
	assert_int_equal(w2.secure_cookies, 1);
	assert_int_equal(w2.session_ttl, 7200);
	bl_web_finish(&w2);
	bl_config_destroy(c2);
	assert_int_equal(web.secure_cookies, 0);
	assert_int_equal(web.session_ttl, 12 * 3600);
	web.secure_cookies = 1;
	login("vera", vera_pw, NULL, &s);
	web.secure_cookies = 0;
	if (!strstr(s.set_cookie, "; Secure"))
		fail_msg("Set-Cookie under https: got %s, want ; Secure", s.set_cookie);
	(void)state;
}

static void test_wrong_password(void **state)
{
	static const struct {
		const char *name, *pw;
	} cases[] = {
	    {"alice", "alice: correct horsE"},
	    {"alice", ""},
	    {"Alice", alice_pw},
	    {"nobody", alice_pw},
	    {"a b", "x"},
	    {"", ""},
	    {"vera", alice_pw},
	};
	char body0[256] = "";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		char sc[256];
		login_raw(cases[i].name, cases[i].pw, NULL, NULL, &r);
		if (r.status != 403 || tl_header(&r, "Set-Cookie", sc, sizeof(sc)))
			fail_msg("case %zu (%s): got HTTP %ld %s, want 403 without a cookie", i,
			         cases[i].name, r.status, r.body);
		if (i == 0)
			snprintf(body0, sizeof(body0), "%s", r.body);
		else if (strcmp(body0, r.body) != 0)
			fail_msg("case %zu: got \"%s\", want the same answer \"%s\"", i, r.body,
			         body0);
		reply_free(&r);
	}
	/* An unknown name costs a password check too: its time does not tell it apart. */
	double t_wrong = 0, t_unknown = 0;
	for (int i = 0; i < 3; i++) {
		struct reply r;
		double t0 = bl_monotonic();
		login_raw("alice", "wrong password", NULL, NULL, &r);
		double t1 = bl_monotonic();
		reply_free(&r);
		login_raw("nobody-at-all", "wrong password", NULL, NULL, &r);
		double t2 = bl_monotonic();
		reply_free(&r);
		t_wrong += t1 - t0;
		t_unknown += t2 - t1;
	}
	if (t_unknown < 0.25 * t_wrong)
		fail_msg("unknown user: got %.3f s for 3 attempts, want about the %.3f s of a "
		         "wrong password",
		         t_unknown, t_wrong);
	(void)state;
}

static void test_fixation(void **state)
{
	struct session a, b;
	struct reply r;
	login("alice", alice_pw, NULL, &a);
	/* The same browser logs in again, bringing its cookie (or one planted in it). */
	login("alice", alice_pw, a.cookie, &b);
	assert_string_not_equal(a.cookie, b.cookie);
	assert_string_not_equal(a.csrf, b.csrf);
	if (me(a.cookie, NULL, &r) != 401)
		fail_msg("the cookie presented at login: got HTTP %ld, want 401", r.status);
	reply_free(&r);
	assert_int_equal(stored(a.cookie), 0);
	assert_int_equal(me(b.cookie, NULL, &r), 200);
	reply_free(&r);
	/* A cookie from another user's session, presented at login, ends too. */
	struct session v;
	login("vera", vera_pw, NULL, &v);
	login("alice", alice_pw, v.cookie, &a);
	assert_int_equal(me(v.cookie, NULL, &r), 401);
	reply_free(&r);
	/* A made-up cookie value is never the one after. */
	char planted[BL_RANDOM_ID_LEN];
	bl_random_id(planted);
	login("alice", alice_pw, planted, &a);
	assert_string_not_equal(a.cookie, planted);
	assert_int_equal(me(planted, NULL, &r), 401);
	reply_free(&r);
	(void)state;
}

static void test_password_change(void **state)
{
	struct session s1, s2, other;
	struct reply r;
	login("vera", vera_pw, NULL, &s1);
	login("vera", vera_pw, NULL, &s2);
	login("alice", alice_pw, NULL, &other);
	char h[BL_PASSWORD_HASH_MAX];
	static const char new_pw[] = "vera's new password";
	assert_int_equal(bl_password_hash(new_pw, strlen(new_pw), h), 0);
	assert_int_equal(db->ops->user_set_password(db, vera_id, h, bl_now()), 1);
	const char *gone[] = {s1.cookie, s2.cookie};
	for (int i = 0; i < 2; i++) {
		if (me(gone[i], NULL, &r) != 401)
			fail_msg("session %d after the password change: got HTTP %ld, want 401", i,
			         r.status);
		reply_free(&r);
	}
	assert_int_equal(me(other.cookie, NULL, &r), 200); /* another user's stays */
	reply_free(&r);
	login_raw("vera", vera_pw, NULL, NULL, &r);
	expect(&r, 403, "wrong", "the old password");
	reply_free(&r);
	login("vera", new_pw, NULL, &s1);
	/* back as it was, for the other tests */
	assert_int_equal(bl_password_hash(vera_pw, strlen(vera_pw), h), 0);
	assert_int_equal(db->ops->user_set_password(db, vera_id, h, bl_now()), 1);
	(void)state;
}

static void test_expired(void **state)
{
	struct session s;
	struct reply r;
	/* 3 s: the session made at second T ends at T + 3, at least 2 s after login
	 * returns (a 1-second session could end before the next request). */
	web.session_ttl = 3;
	login("alice", alice_pw, NULL, &s);
	web.session_ttl = 12 * 3600;
	if (me(s.cookie, NULL, &r) != 200)
		fail_msg("a 3-second session at once: got HTTP %ld, want 200", r.status);
	reply_free(&r);
	sleep(4);
	if (me(s.cookie, NULL, &r) != 401)
		fail_msg("an ended session: got HTTP %ld %s, want 401", r.status, r.body);
	reply_free(&r);
	/* It was deleted on lookup: not there even for a clock that went back. */
	char h[BL_HASH_HEX];
	struct bl_session x = {0};
	bl_sha256_hex(s.cookie, strlen(s.cookie), h);
	assert_int_equal(db->ops->session_get(db, h, 0, &x), 0);
	(void)state;
}

static void test_budget(void **state)
{
	struct reply r;
	char v[64];
	/* Per client address: 3 attempts, right or wrong; then even the right password
	 * is refused, before it is checked. */
	budgets(3, 0);
	for (int i = 0; i < 3; i++) {
		login_raw("alice", "wrong", NULL, NULL, &r);
		if (r.status != 403)
			fail_msg("attempt %d: got HTTP %ld, want 403", i + 1, r.status);
		reply_free(&r);
	}
	login_raw("alice", alice_pw, NULL, NULL, &r);
	expect(&r, 429, "too many", "the 4th attempt from one address");
	if (!tl_header(&r, "Retry-After", v, sizeof(v)) || atoi(v) < 1)
		fail_msg("Retry-After: got \"%s\", want >= 1 s", v);
	reply_free(&r);
	login_raw("nobody", "x", NULL, NULL, &r);
	expect(&r, 429, "too many", "another name from the same address");
	reply_free(&r);
	login_raw("alice", alice_pw, NULL, "127.0.0.2", &r);
	expect(&r, 200, "ok alice", "another address");
	reply_free(&r);

	/* Per name: 2 attempts at vera from any address; alice is not affected. */
	budgets(0, 2);
	login_raw("vera", "wrong", NULL, "127.0.0.3", &r);
	reply_free(&r);
	login_raw("vera", "wrong", NULL, "127.0.0.4", &r);
	expect(&r, 403, "wrong", "the 2nd attempt at one name");
	reply_free(&r);
	login_raw("vera", vera_pw, NULL, "127.0.0.5", &r);
	expect(&r, 429, "too many", "the 3rd attempt at one name, from a third address");
	reply_free(&r);
	login_raw("alice", alice_pw, NULL, NULL, &r);
	expect(&r, 200, "ok alice", "another name");
	reply_free(&r);

	/* Per name, only failures count: a budget of 2 takes any number of right
	 * passwords, then still 2 wrong ones before it is spent. */
	budgets(0, 2);
	for (int i = 0; i < 5; i++) {
		char what[64];
		snprintf(what, sizeof(what), "right password %d of 5 under a budget of 2", i + 1);
		login_raw("alice", alice_pw, NULL, NULL, &r);
		expect(&r, 200, "ok alice", what);
		reply_free(&r);
	}
	static const struct {
		const char *pw;
		long status;
		const char *want, *what;
	} seq[] = {
	    {"wrong", 403, "wrong", "1st wrong after 5 right"},
	    {NULL, 200, "ok alice", "right between wrong ones"},
	    {"wrong", 403, "wrong", "2nd wrong"},
	    {NULL, 429, "too many", "right once 2 wrong spent the budget"},
	    {"wrong", 429, "too many", "wrong once 2 wrong spent the budget"},
	};
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		login_raw("alice", seq[i].pw ? seq[i].pw : alice_pw, NULL, NULL, &r);
		expect(&r, seq[i].status, seq[i].want, seq[i].what);
		reply_free(&r);
	}
	budgets(0, 0);
	(void)state;
}

static void test_bearer(void **state)
{
	char tok[BL_API_TOKEN_LEN], tok_v[BL_API_TOKEN_LEN], h[BL_HASH_HEX], auth[128], want[128];
	struct reply r;
	bl_api_token_generate(tok);
	bl_sha256_hex(tok, strlen(tok), h);
	struct bl_api_token t = {.name = (char *)"deploy", .role = BL_ROLE_EDITOR};
	assert_int_equal(db->ops->token_create(db, &t, h), 0);
	bl_api_token_generate(tok_v);
	bl_sha256_hex(tok_v, strlen(tok_v), h);
	struct bl_api_token tv = {.name = (char *)"reader", .role = BL_ROLE_VIEWER};
	assert_int_equal(db->ops->token_create(db, &tv, h), 0);

	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	snprintf(want, sizeof(want), "token deploy editor token:deploy %lld 0", (long long)t.id);
	me(NULL, auth, &r);
	expect(&r, 200, want, "a good token");
	reply_free(&r);
	snprintf(auth, sizeof(auth), "bearer   %s ", tok);
	me(NULL, auth, &r);
	expect(&r, 200, want, "the scheme in lower case, more spaces");
	reply_free(&r);
	snprintf(auth, sizeof(auth), "Bearer %s", tok_v);
	snprintf(want, sizeof(want), "token reader viewer token:reader %lld 0", (long long)tv.id);
	me(NULL, auth, &r);
	expect(&r, 200, want, "a viewer's token carries its role");
	reply_free(&r);

	/* Refused: wrong, truncated, extended, another scheme, two words, none. */
	char wrong[BL_API_TOKEN_LEN];
	memcpy(wrong, tok, sizeof(wrong));
	wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
	char bad[6][128];
	snprintf(bad[0], sizeof(bad[0]), "Bearer %s", wrong);
	snprintf(bad[1], sizeof(bad[1]), "Bearer %.46s", tok);
	snprintf(bad[2], sizeof(bad[2]), "Bearer %sA", tok);
	snprintf(bad[3], sizeof(bad[3]), "Basic %s", tok);
	snprintf(bad[4], sizeof(bad[4]), "Bearer %s %s", tok, tok);
	snprintf(bad[5], sizeof(bad[5]), "Bearer%s", tok);
	for (size_t i = 0; i < 6; i++) {
		if (me(NULL, bad[i], &r) != 401)
			fail_msg("Authorization \"%s\": got HTTP %ld, want 401", bad[i], r.status);
		reply_free(&r);
	}
	assert_int_equal(me(NULL, NULL, &r), 401);
	reply_free(&r);
	/* A token is no session: it carries no CSRF token and cannot pass the check. */
	struct bl_principal p = {0};
	assert_int_equal(bl_auth_csrf_ok(&p, ""), 0);
	assert_int_equal(bl_auth_csrf_ok(&p, "x"), 0);
	/* Used: last_used_at is set. Removed: refused. */
	struct bl_api_token got = {0};
	bl_sha256_hex(tok, strlen(tok), h);
	assert_int_equal(db->ops->token_get(db, h, bl_now(), &got), 1);
	assert_true(got.last_used_at > 0);
	bl_api_token_clear(&got);
	assert_int_equal(db->ops->token_delete(db, "deploy"), 1);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	assert_int_equal(me(NULL, auth, &r), 401);
	reply_free(&r);
	(void)state;
}

static void test_csrf(void **state)
{
	struct session s, other;
	struct reply r;
	char body[256];
	login("alice", alice_pw, NULL, &s);
	login("vera", vera_pw, NULL, &other);
	snprintf(body, sizeof(body), "csrf=%s", s.csrf);
	http("/t/write", body, s.cookie, NULL, NULL, &r);
	expect(&r, 200, "written", "the session's token");
	reply_free(&r);

	char flipped[BL_RANDOM_ID_LEN];
	memcpy(flipped, s.csrf, sizeof(flipped));
	flipped[42] = flipped[42] == 'A' ? 'B' : 'A';
	char cases[6][256];
	snprintf(cases[0], sizeof(cases[0]), "csrf=%s", flipped);
	snprintf(cases[1], sizeof(cases[1]), "csrf=");
	snprintf(cases[2], sizeof(cases[2]), "other=%s", s.csrf);
	snprintf(cases[3], sizeof(cases[3]), "csrf=%s", other.csrf);
	snprintf(cases[4], sizeof(cases[4]), "csrf=%.42s", s.csrf);
	snprintf(cases[5], sizeof(cases[5]), "csrf=%sA", s.csrf);
	for (size_t i = 0; i < 6; i++) {
		http("/t/write", cases[i], s.cookie, NULL, NULL, &r);
		expect(&r, 403, "csrf", cases[i]);
		reply_free(&r);
	}
	/* The right token without the session's cookie: not logged in. */
	http("/t/write", body, NULL, NULL, NULL, &r);
	expect(&r, 401, "log in", "no cookie");
	reply_free(&r);
	(void)state;
}

/* Audit entries newer than an id, oldest first. */
struct entries {
	int64_t after;
	size_t n;
	char line[16][300];
};

static int collect(void *arg, const struct bl_audit *a)
{
	struct entries *e = arg;
	if (a->id <= e->after || e->n >= 16)
		return 0;
	memmove(e->line[1], e->line[0], e->n * sizeof(e->line[0]));
	snprintf(e->line[0], sizeof(e->line[0]), "%s %s %s [%s] %s", a->actor, a->action, a->target,
	         a->detail, a->ip);
	e->n++;
	return 0;
}

static int max_id(void *arg, const struct bl_audit *a)
{
	*(int64_t *)arg = a->id;
	return 0;
}

static void test_logout_and_audit(void **state)
{
	struct session s;
	struct reply r;
	struct entries e = {0};
	char body[128], sc[256];
	assert_int_equal(db->ops->audit_each(db, 0, 1, max_id, &e.after), 0);

	login("alice", alice_pw, NULL, &s);
	login_raw("alice", "wrong", NULL, NULL, &r);
	reply_free(&r);
	login_raw("nobody", "wrong", NULL, NULL, &r);
	reply_free(&r);
	snprintf(body, sizeof(body), "csrf=%s", s.csrf);
	http("/t/write", body, s.cookie, NULL, NULL, &r);
	reply_free(&r);
	http("/t/logout", "", s.cookie, NULL, NULL, &r);
	expect(&r, 200, "ended 1", "logout");
	if (!tl_header(&r, "Set-Cookie", sc, sizeof(sc)) || strncmp(sc, "bl_admin=;", 10) != 0 ||
	    !strstr(sc, "Max-Age=0") || !strstr(sc, "HttpOnly") || !strstr(sc, "Path=/"))
		fail_msg("logout's Set-Cookie: got \"%s\", want bl_admin=; ... Max-Age=0", sc);
	reply_free(&r);
	assert_int_equal(me(s.cookie, NULL, &r), 401);
	reply_free(&r);
	assert_int_equal(stored(s.cookie), 0);
	http("/t/logout", "", s.cookie, NULL, NULL, &r);
	expect(&r, 200, "ended 0", "a second logout");
	reply_free(&r);
	http("/t/logout", "", NULL, NULL, NULL, &r);
	expect(&r, 200, "ended 0", "logout without a cookie");
	reply_free(&r);

	assert_int_equal(db->ops->audit_each(db, 0, 0, collect, &e), 0);
	static const char *const want[] = {
	    "user:alice login user:alice [] 127.0.0.1",
	    "anonymous login.failed user:alice [] 127.0.0.1",
	    "anonymous login.failed user:nobody [] 127.0.0.1",
	    "user:alice test.write thing:1 [n=1] 127.0.0.1",
	    "user:alice logout user:alice [] 127.0.0.1",
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	if (e.n != n)
		fail_msg("audit entries: got %zu, want %zu (first: %s)", e.n, n, e.line[0]);
	for (size_t i = 0; i < n; i++)
		if (strcmp(e.line[i], want[i]) != 0)
			fail_msg("audit entry %zu: got \"%s\", want \"%s\"", i, e.line[i], want[i]);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_cookie),     cmocka_unit_test(test_wrong_password),
	    cmocka_unit_test(test_fixation),         cmocka_unit_test(test_password_change),
	    cmocka_unit_test(test_expired),          cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_bearer),           cmocka_unit_test(test_csrf),
	    cmocka_unit_test(test_logout_and_audit),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
