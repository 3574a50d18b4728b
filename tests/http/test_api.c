/*
 * The JSON API (src/http/api.c) over real HTTP: the whole route table
 * (bl_web_routes) served by the HTTP core on 127.0.0.1 port 0, driven with
 * libcurl and read with jansson, on a SQLite database (and, with
 * BL_TEST_PG, a PostgreSQL one: BL_TEST_BACKEND=postgres). Covers each
 * endpoint's answer, every role against every write (from the endpoint
 * table itself), 401 and the session's CSRF header, the problem+json shape
 * of each error class, keyset pagination, the import job end to end (run
 * by bl_import_job_run, the runner `serve` uses), export as a file
 * response, the feed endpoints (polls against tests/feed/fixture_server.py
 * on 127.0.0.1, config feed_allow_private on), and that the OpenAPI
 * document and the router list the same operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/admin.h"
#include "http/web.h"
#include "import/job.h"
#include "send/engine.h"
#include "store/store.h"
#include "util/time.h"

#include "lib.h"
#include "util/xalloc.h"

#ifndef BL_TEST_BACKEND
#define BL_TEST_BACKEND "sqlite"
#endif

#define IMPORT_MAX 4096 /* the upload route's limit in this test (config import_max) */

static struct tl_db tdb;
static struct bl_config *cfg;
static struct bl_store *db; /* the test's own handle */
static struct bl_web web;
static struct bl_http_server *srv;
static struct bl_http_route *routes;
static int port;
static struct tl_feeds feeds; /* tests/feed/fixture_server.py serving tdb.dir */
/* Tokens by role, and the admin user's session cookie and CSRF token. */
static char tok_viewer[BL_API_TOKEN_LEN], tok_editor[BL_API_TOKEN_LEN], tok_admin[BL_API_TOKEN_LEN];
static char session_id[BL_RANDOM_ID_LEN], session_csrf[BL_RANDOM_ID_LEN];

/* ---- HTTP ---- */

/* Response header @name's value into @out (empty when absent). */
static const char *header(const struct reply *r, const char *name, char *out, size_t n)
{
	tl_header(r, name, out, n);
	return out;
}

/*
 * @method @path with @auth: a token (Bearer), "session" (the admin's cookie
 * and CSRF header), "session-nocsrf" (the cookie alone), "" (nothing) or
 * any other text sent as it is in Authorization. @body with @ctype (NULL:
 * none).
 */
static void call_raw(const char *method, const char *path, const char *auth, const char *ctype,
                     const char *body, size_t body_len, struct reply *r)
{
	char h[512];
	struct curl_slist *hl = NULL;
	if (strcmp(auth, "session") == 0 || strcmp(auth, "session-nocsrf") == 0) {
		snprintf(h, sizeof(h), "Cookie: %s=%s", BL_ADMIN_COOKIE, session_id);
		hl = curl_slist_append(hl, h);
		if (strcmp(auth, "session") == 0) {
			snprintf(h, sizeof(h), "X-CSRF-Token: %s", session_csrf);
			hl = curl_slist_append(hl, h);
		}
	} else if (strncmp(auth, "blt_", 4) == 0) {
		snprintf(h, sizeof(h), "Authorization: Bearer %s", auth);
		hl = curl_slist_append(hl, h);
	} else if (*auth) {
		snprintf(h, sizeof(h), "Authorization: %s", auth);
		hl = curl_slist_append(hl, h);
	}
	if (ctype) {
		snprintf(h, sizeof(h), "Content-Type: %s", ctype);
		hl = curl_slist_append(hl, h);
	}
	hl = curl_slist_append(hl, "Expect:");
	struct tl_request q = {.method = method,
	                       .path = path,
	                       .body = body,
	                       .body_len = body_len,
	                       .hdrs = hl,
	                       .timeout = 60};
	tl_fetch(port, &q, r);
	curl_slist_free_all(hl);
}

/* A JSON call: @body (NULL: none) as application/json. */
static void call(const char *method, const char *path, const char *auth, const char *body,
                 struct reply *r)
{
	call_raw(method, path, auth, body ? "application/json" : NULL, body,
	         body ? strlen(body) : 0, r);
}

/* @text reads as a sentence (see want_problem); the first word doubled
 * ("body body:1:") or a flag ("--list") fails @what. */
static void want_sentence(const char *text, const char *what)
{
	size_t n = text ? strlen(text) : 0;
	if (n == 0 || text[0] < 'A' || text[0] > 'Z' || !strchr(".?!", text[n - 1]))
		fail_msg("%s: got detail \"%s\", want a sentence (a capital first, a full stop "
		         "last)",
		         what, text ? text : "(none)");
	if (strstr(text, " --") || strstr(text, "`--"))
		fail_msg("%s: got detail \"%s\", which names a command-line flag", what, text);
	char w1[64], w2[64];
	for (const char *p = text; *p;) {
		int k = 0;
		if (sscanf(p, "%63[A-Za-z] %63[A-Za-z]%n", w1, w2, &k) == 2 && k > 0 &&
		    strcasecmp(w1, w2) == 0 && strcmp(w1, "that") != 0)
			fail_msg("%s: got detail \"%s\", with \"%s\" twice", what, text, w1);
		const char *sp = strchr(p, ' ');
		if (!sp)
			break;
		p = sp + 1;
	}
}

/* @r is an RFC 9457 problem with @status (and, when @kind is set, that type). */
static void want_problem(const struct reply *r, long status, const char *kind, const char *what)
{
	char ct[128];
	tl_want_status(r, status, what);
	header(r, "Content-Type", ct, sizeof(ct));
	if (strcmp(ct, "application/problem+json") != 0)
		fail_msg("%s: got Content-Type \"%s\", want application/problem+json", what, ct);
	if (!json_is_object(r->json) || !json_is_string(json_object_get(r->json, "type")) ||
	    !json_is_string(json_object_get(r->json, "title")) ||
	    json_integer_value(json_object_get(r->json, "status")) != status ||
	    !json_is_string(json_object_get(r->json, "detail")))
		fail_msg("%s: not a problem with type, title, status %ld, detail: %s", what, status,
		         r->body);
	/* The detail, and each field's, is a sentence for a person: a capital
	 * first, a full stop last, no command-line flag, no word twice in a row. */
	want_sentence(json_string_value(json_object_get(r->json, "detail")), what);
	json_t *errs = json_object_get(r->json, "errors");
	for (size_t i = 0; i < json_array_size(errs); i++)
		want_sentence(json_string_value(json_object_get(json_array_get(errs, i), "detail")),
		              what);
	if (kind) {
		char want[96];
		snprintf(want, sizeof(want), "urn:bulletin:problem:%s", kind);
		const char *got = json_string_value(json_object_get(r->json, "type"));
		if (strcmp(got, want) != 0)
			fail_msg("%s: got type %s, want %s", what, got, want);
	}
}

/* A string member of @r's JSON (a path of keys, e.g. "counts.confirmed" is not supported). */
static const char *jstr(const struct reply *r, const char *key)
{
	const char *v = json_string_value(json_object_get(r->json, key));
	return v ? v : "(none)";
}

/* A string member of object @o; "(none)" when it is not a string. */
static const char *jstr_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "(none)";
}

static json_int_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("member %s: got %s, want an integer", key,
		         v ? json_dumps(v, JSON_ENCODE_ANY) : "(none)");
	return json_integer_value(v);
}

/* ---- fixtures ---- */

static void set(const char *k, const char *v)
{
	struct bl_diag d;
	if (bl_config_set(cfg, k, v, BL_ORIGIN_FLAG, "test", &d))
		fail_msg("config %s: %s", k, d.msg);
}

static void make_token(const char *name, enum bl_role role, char out[BL_API_TOKEN_LEN])
{
	char hex[BL_HASH_HEX];
	struct bl_api_token t = {.name = (char *)name, .role = role};
	bl_api_token_generate(out);
	bl_sha256_hex(out, strlen(out), hex);
	if (db->ops->token_create(db, &t, hex))
		fail_msg("token_create: %s", bl_store_error(db));
}

static int group_setup(void **state)
{
	struct bl_diag d;
	if (tl_db_create(BL_TEST_BACKEND, "api", &tdb))
		return -1;
	cfg = bl_config_create();
	set("db", tdb.uri);
	set("from", "Test News <news@bulletin.test>");
	set("public_url", "http://bulletin.test");
	char relay[300];
	snprintf(relay, sizeof(relay), "maildir:%s/outbox", tdb.dir);
	set("relay", relay);
	set("log_level", "error");
	/* The feed tests poll the fixture server on 127.0.0.1. */
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
	make_token("viewer-token", BL_ROLE_VIEWER, tok_viewer);
	make_token("editor-token", BL_ROLE_EDITOR, tok_editor);
	make_token("admin-token", BL_ROLE_ADMIN, tok_admin);
	/* An admin user with a live session, as a login makes it. */
	char hash[BL_PASSWORD_HASH_MAX], h[BL_HASH_HEX];
	if (bl_password_hash("a password nobody types", 23, hash))
		return -1;
	struct bl_user u = {.name = (char *)"root", .role = BL_ROLE_ADMIN, .pass_hash = hash};
	if (db->ops->user_create(db, &u))
		return -1;
	bl_random_id(session_id);
	bl_random_id(session_csrf);
	bl_sha256_hex(session_id, strlen(session_id), h);
	if (db->ops->session_create(db, h, u.id, session_csrf, bl_now(), bl_now() + 3600))
		return -1;

	memset(&web, 0, sizeof(web));
	if (bl_web_init(&web, cfg, db, &d)) {
		fprintf(stderr, "web: %s\n", d.msg);
		return -1;
	}
	size_t n;
	const struct bl_http_route *table = bl_web_routes(&n);
	routes = bl_xcalloc(n, sizeof(*routes));
	memcpy(routes, table, n * sizeof(*routes));
	bl_api_configure(routes, n, IMPORT_MAX);
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
	    .gate = bl_auth_gate,
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
	tl_feeds_stop(&feeds);
	bl_http_stop(srv);
	free(routes);
	bl_web_finish(&web);
	bl_store_close(db);
	bl_config_destroy(cfg);
	tl_db_drop(&tdb);
	(void)state;
	return 0;
}

/* ---- the OpenAPI document and the router ---- */

static const char *method_lower(unsigned m)
{
	return m == BL_HTTP_GET     ? "get"
	       : m == BL_HTTP_POST  ? "post"
	       : m == BL_HTTP_PUT   ? "put"
	       : m == BL_HTTP_PATCH ? "patch"
	                            : "delete";
}

static const char *operation_ids_problem(json_t *doc);
static const char *refs_problem(json_t *doc, json_t *v, const char *where);

/* Every operation the dispatcher matches is in the document, every operation
 * of the document is one the dispatcher matches, and every API route of the
 * server's table leads to the dispatcher's paths. */
static void test_openapi_matches_router(void **state)
{
	json_error_t err;
	json_t *doc = json_loads(bl_api_openapi(), 0, &err);
	if (!doc)
		fail_msg("openapi.json does not parse: %s (line %d)", err.text, err.line);
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	json_t *paths = json_object_get(doc, "paths");
	size_t n_ep, n_rt, n_doc = 0;
	const struct bl_api_endpoint *ep = bl_api_endpoints(&n_ep);
	const struct bl_http_route *rt = bl_api_routes(&n_rt);
	for (size_t i = 0; i < n_ep; i++) {
		json_t *op =
		    json_object_get(json_object_get(paths, ep[i].path), method_lower(ep[i].method));
		if (!op)
			fail_msg("routed %s %s is not in openapi.json", method_lower(ep[i].method),
			         ep[i].path);
		/* Each documented operation answers errors as problems. */
		json_t *r401 = json_object_get(json_object_get(op, "responses"), "401");
		if (ep[i].role > BL_ROLE_VIEWER || strstr(ep[i].path, "openapi") == NULL) {
			if (!r401 || !json_object_get(json_object_get(r401, "content"),
			                              "application/problem+json"))
				fail_msg("%s %s: no 401 problem response documented",
				         method_lower(ep[i].method), ep[i].path);
		}
		/* A route of the table takes the path. */
		int routed = 0;
		for (size_t k = 0; k < n_rt; k++)
			routed |=
			    (rt[k].methods & ep[i].method) &&
			    (rt[k].prefix ? strncmp(ep[i].path, rt[k].path, strlen(rt[k].path)) == 0
			                  : strcmp(ep[i].path, rt[k].path) == 0);
		if (!routed)
			fail_msg("%s %s: no route of bl_api_routes() takes it",
			         method_lower(ep[i].method), ep[i].path);
	}
	const char *path;
	json_t *item;
	json_object_foreach(paths, path, item)
	{
		const char *m;
		json_t *op;
		json_object_foreach(item, m, op)
		{
			int found = 0;
			for (size_t i = 0; i < n_ep; i++)
				found |= strcmp(ep[i].path, path) == 0 &&
				         strcmp(method_lower(ep[i].method), m) == 0;
			if (!found)
				fail_msg("openapi.json documents %s %s, which is not routed", m,
				         path);
			n_doc++;
		}
	}
	if (n_doc != n_ep)
		fail_msg("got %zu operations in openapi.json, want %zu (the dispatcher's)", n_doc,
		         n_ep);
	/* And each route of the table is one of the API's. */
	for (size_t k = 0; k < n_rt; k++)
		if (strncmp(rt[k].path, "/api/v1/", 8) != 0)
			fail_msg("route %s is not under /api/v1/", rt[k].path);
	const char *why = operation_ids_problem(doc);
	if (why)
		fail_msg("openapi.json: %s", why);
	why = refs_problem(doc, doc, "");
	if (why)
		fail_msg("openapi.json: %s", why);
	json_decref(doc);
}

/* Why the operationIds of @doc are wrong (NULL when they are right): each
 * operation has one, camelCase ([a-z][A-Za-z0-9]*), none used twice. */
static const char *operation_ids_problem(json_t *doc)
{
	static char why[300];
	json_t *seen = json_object();
	const char *path, *m;
	json_t *item, *op;
	*why = '\0';
	json_object_foreach(json_object_get(doc, "paths"), path, item)
	{
		json_object_foreach(item, m, op)
		{
			const char *id = json_string_value(json_object_get(op, "operationId"));
			size_t bad = id ? strspn(id, "abcdefghijklmnopqrstuvwxyz"
			                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
			                : 0;
			if (!*why && !id)
				snprintf(why, sizeof(why), "%s %s has no operationId", m, path);
			else if (!*why && (id[0] < 'a' || id[0] > 'z' || id[bad] != '\0'))
				snprintf(why, sizeof(why),
				         "%s %s: operationId \"%s\" is not camelCase", m, path, id);
			else if (!*why && json_object_get(seen, id))
				snprintf(why, sizeof(why), "%s %s: operationId \"%s\" is also %s's",
				         m, path, id, json_string_value(json_object_get(seen, id)));
			else if (!*why)
				json_object_set_new(seen, id, json_string(path));
		}
	}
	json_decref(seen);
	return *why ? why : NULL;
}

/* The value JSON pointer @ref ("#/a/b~1c", RFC 6901) names in @doc, or NULL. */
static json_t *resolve(json_t *doc, const char *ref)
{
	if (strncmp(ref, "#/", 2) != 0)
		return NULL;
	json_t *v = doc;
	char tok[256];
	for (const char *p = ref + 2; v;) {
		size_t n = 0;
		for (; *p && *p != '/' && n + 1 < sizeof(tok); p++) {
			if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
				tok[n++] = p[1] == '0' ? '~' : '/';
				p++;
			} else {
				tok[n++] = *p;
			}
		}
		tok[n] = '\0';
		v = json_object_get(v, tok);
		if (*p != '/')
			break;
		p++;
	}
	return v;
}

/* Why some "$ref" under @v (at @where in @doc) does not resolve; NULL when all do. */
static const char *refs_problem(json_t *doc, json_t *v, const char *where)
{
	static char why[600];
	char at[512];
	if (json_is_object(v)) {
		json_t *ref = json_object_get(v, "$ref");
		if (ref && (!json_is_string(ref) || !resolve(doc, json_string_value(ref)))) {
			snprintf(why, sizeof(why), "%s: $ref %s does not resolve", where,
			         json_is_string(ref) ? json_string_value(ref) : "(not a string)");
			return why;
		}
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			snprintf(at, sizeof(at), "%s/%s", where, k);
			const char *bad = refs_problem(doc, x, at);
			if (bad)
				return bad;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			snprintf(at, sizeof(at), "%s/%zu", where, i);
			const char *bad = refs_problem(doc, json_array_get(v, i), at);
			if (bad)
				return bad;
		}
	}
	return NULL;
}

/* The checks above catch what they are meant to: a table of broken documents. */
static void test_openapi_checks(void **state)
{
	static const struct {
		const char *doc, *want; /* want: a word of the complaint; NULL: none */
	} cases[] = {
	    {"{\"paths\":{\"/a\":{\"get\":{\"operationId\":\"getA\"},"
	     "\"post\":{\"operationId\":\"createA\"}}}}",
	     NULL},
	    {"{\"paths\":{\"/a\":{\"get\":{}}}}", "no operationId"},
	    {"{\"paths\":{\"/a\":{\"get\":{\"operationId\":\"get_\"}}}}", "camelCase"},
	    {"{\"paths\":{\"/a\":{\"get\":{\"operationId\":\"GetA\"}}}}", "camelCase"},
	    {"{\"paths\":{\"/a\":{\"get\":{\"operationId\":\"x\"}},"
	     "\"/b\":{\"get\":{\"operationId\":\"x\"}}}}",
	     "also /a's"},
	    {"{\"paths\":{},\"components\":{\"schemas\":{\"A\":{},"
	     "\"B\":{\"$ref\":\"#/components/schemas/A\"}}}}",
	     NULL},
	    {"{\"paths\":{},\"components\":{\"schemas\":{\"A\":{\"items\":"
	     "[{\"$ref\":\"#/components/schemas/Nope\"}]}}}}",
	     "/components/schemas/A/items/0: $ref #/components/schemas/Nope"},
	    {"{\"paths\":{},\"x\":{\"a/b\":{}},\"y\":{\"$ref\":\"#/x/a~1b\"}}", NULL},
	    {"{\"paths\":{},\"y\":{\"$ref\":\"other.json#/x\"}}", "does not resolve"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t err;
		json_t *doc = json_loads(cases[i].doc, 0, &err);
		if (!doc)
			fail_msg("case %zu does not parse: %s", i, err.text);
		const char *got = operation_ids_problem(doc);
		if (!got)
			got = refs_problem(doc, doc, "");
		if (cases[i].want ? !got || !strstr(got, cases[i].want) : got != NULL)
			fail_msg("case %zu: got \"%s\", want %s%s%s", i,
			         got ? got : "(no complaint)",
			         cases[i].want ? "a complaint with \"" : "no complaint",
			         cases[i].want ? cases[i].want : "", cases[i].want ? "\"" : "");
		json_decref(doc);
	}
	(void)state;
}

/* Over HTTP: each documented operation reaches a handler (its template filled
 * with values no resource has), never the dispatcher's "no route" or a 405. */
static void test_openapi_operations_routed(void **state)
{
	size_t n_ep;
	const struct bl_api_endpoint *ep = bl_api_endpoints(&n_ep);
	for (size_t i = 0; i < n_ep; i++) {
		char path[256] = "";
		for (const char *p = ep[i].path; *p;) {
			if (*p == '{') {
				const char *e = strchr(p, '}');
				strcat(path, strncmp(p, "{id}", 4) == 0 ? "999999" : "nosuch");
				p = e + 1;
			} else {
				strncat(path, p, 1);
				p++;
			}
		}
		if (ep[i].method == BL_HTTP_DELETE && strstr(path, "tokens/"))
			continue; /* would be harmless, but keep the admin token's peers */
		struct reply r;
		const char *m = ep[i].method == BL_HTTP_GET     ? "GET"
		                : ep[i].method == BL_HTTP_POST  ? "POST"
		                : ep[i].method == BL_HTTP_PUT   ? "PUT"
		                : ep[i].method == BL_HTTP_PATCH ? "PATCH"
		                                                : "DELETE";
		if (ep[i].body == BL_API_BODY_CSV)
			call_raw(m, "/api/v1/imports?dry_run=1", tok_admin, "text/csv", "email\n",
			         6, &r);
		else
			call(m, path, tok_admin, ep[i].body == BL_API_BODY_JSON ? "{}" : NULL, &r);
		char what[300];
		snprintf(what, sizeof(what), "%s %s", m, path);
		if (r.status == 405 || r.status == 401 || r.status == 403 ||
		    (r.status == 404 && strstr(r.body, "no-route")))
			fail_msg("%s: got %ld %s, want a handler's answer", what, r.status, r.body);
		reply_free(&r);
	}
	/* And a path no operation has: the dispatcher's 404 problem, and 405 with Allow. */
	struct reply r;
	call("GET", "/api/v1/nope", tok_admin, NULL, &r);
	want_problem(&r, 404, "no-route", "GET /api/v1/nope");
	reply_free(&r);
	call("GET", "/api/v1/lists/x/y", tok_admin, NULL, &r);
	want_problem(&r, 404, "no-route", "GET /api/v1/lists/x/y");
	reply_free(&r);
	call("PUT", "/api/v1/lists", tok_admin, "{}", &r);
	want_problem(&r, 405, "method-not-allowed", "PUT /api/v1/lists");
	char allow[128];
	if (strcmp(header(&r, "Allow", allow, sizeof(allow)), "GET, HEAD, POST") != 0)
		fail_msg("PUT /api/v1/lists: got Allow \"%s\", want \"GET, HEAD, POST\"", allow);
	reply_free(&r);
	call("GET", "/api/v1/openapi.json", "", NULL, &r);
	tl_want_status(&r, 200, "GET openapi.json without a token");
	assert_non_null(json_object_get(r.json, "paths"));
	reply_free(&r);
}

/* ---- auth and roles ---- */

static void test_unauthenticated(void **state)
{
	static const struct {
		const char *auth;
		const char *what;
	} cases[] = {
	    {"", "no credentials"},
	    {"blt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "an unknown token"},
	    {"Bearer", "an empty bearer"},
	    {"Basic cm9vdDpyb290", "basic auth"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		call("GET", "/api/v1/lists", cases[i].auth, NULL, &r);
		want_problem(&r, 401, "unauthorized", cases[i].what);
		char v[256];
		if (strncmp(header(&r, "WWW-Authenticate", v, sizeof(v)), "Bearer", 6) != 0)
			fail_msg("%s: got WWW-Authenticate \"%s\", want Bearer ...", cases[i].what,
			         v);
		reply_free(&r);
	}
	/* A write is refused before its body is looked at. */
	struct reply r;
	call("POST", "/api/v1/lists", "", "{\"slug\":\"x\",\"name\":\"x\"}", &r);
	want_problem(&r, 401, "unauthorized", "POST /lists without credentials");
	reply_free(&r);
}

/* Every write endpoint refuses a viewer; every admin endpoint refuses an
 * editor; straight from the dispatcher's table. */
static void test_roles(void **state)
{
	size_t n_ep;
	const struct bl_api_endpoint *ep = bl_api_endpoints(&n_ep);
	size_t checked = 0;
	for (size_t i = 0; i < n_ep; i++) {
		const char *m = ep[i].method == BL_HTTP_GET     ? "GET"
		                : ep[i].method == BL_HTTP_POST  ? "POST"
		                : ep[i].method == BL_HTTP_PUT   ? "PUT"
		                : ep[i].method == BL_HTTP_PATCH ? "PATCH"
		                                                : "DELETE";
		char path[256] = "";
		for (const char *p = ep[i].path; *p;) {
			if (*p == '{') {
				strcat(path, strncmp(p, "{id}", 4) == 0 ? "1" : "news");
				p = strchr(p, '}') + 1;
			} else {
				strncat(path, p, 1);
				p++;
			}
		}
		const char *who[2] = {tok_viewer, tok_editor};
		for (int k = 0; k < 2; k++) {
			enum bl_role role = k == 0 ? BL_ROLE_VIEWER : BL_ROLE_EDITOR;
			if (ep[i].role <= role)
				continue;
			struct reply r;
			if (ep[i].body == BL_API_BODY_CSV)
				call_raw(m, path, who[k], "text/csv", "email\na@example.com\n", 20,
				         &r);
			else
				call(m, path, who[k], ep[i].body == BL_API_BODY_JSON ? "{}" : NULL,
				     &r);
			char what[300];
			snprintf(what, sizeof(what), "%s %s as %s", m, path, bl_role_name(role));
			want_problem(&r, 403, "forbidden", what);
			reply_free(&r);
			checked++;
		}
	}
	/* 29 writes refused to a viewer, 8 admin operations to an editor. */
	if (checked != 37)
		fail_msg("got %zu role refusals checked, want 37", checked);
	/* The viewer reads. */
	struct reply r;
	call("GET", "/api/v1/lists", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /lists as viewer");
	reply_free(&r);
}

static void test_session_csrf(void **state)
{
	struct reply r;
	call("GET", "/api/v1/stats", "session-nocsrf", NULL, &r);
	tl_want_status(&r, 200, "GET with a session, no CSRF header");
	reply_free(&r);
	call("POST", "/api/v1/lists", "session-nocsrf", "{\"slug\":\"csrf\",\"name\":\"C\"}", &r);
	want_problem(&r, 403, "csrf", "POST with a session without X-CSRF-Token");
	reply_free(&r);
	call("POST", "/api/v1/lists", "session", "{\"slug\":\"csrf\",\"name\":\"C\"}", &r);
	tl_want_status(&r, 201, "POST with a session and its X-CSRF-Token");
	reply_free(&r);
	call("DELETE", "/api/v1/lists/csrf", "session-nocsrf", NULL, &r);
	want_problem(&r, 403, "csrf", "DELETE with a session without X-CSRF-Token");
	reply_free(&r);
	call("DELETE", "/api/v1/lists/csrf", "session", NULL, &r);
	tl_want_status(&r, 204, "DELETE with a session and its X-CSRF-Token");
	reply_free(&r);
}

/* ---- lists ---- */

static void test_lists(void **state)
{
	struct reply r;
	char loc[256];
	call("POST", "/api/v1/lists", tok_editor,
	     "{\"slug\":\"news\",\"name\":\"News\",\"optin\":\"single\",\"visibility\":\"public\","
	     "\"description\":\"The news\"}",
	     &r);
	tl_want_status(&r, 201, "POST /lists");
	assert_string_equal(header(&r, "Location", loc, sizeof(loc)), "/api/v1/lists/news");
	assert_string_equal(jstr(&r, "slug"), "news");
	assert_string_equal(jstr(&r, "optin"), "single");
	assert_string_equal(jstr(&r, "description"), "The news");
	reply_free(&r);
	call("POST", "/api/v1/lists", tok_editor, "{\"slug\":\"other\",\"name\":\"Other\"}", &r);
	tl_want_status(&r, 201, "POST /lists other");
	assert_string_equal(jstr(&r, "optin"), "double");
	reply_free(&r);

	call("GET", "/api/v1/lists/news", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /lists/news");
	json_t *counts = json_object_get(r.json, "counts");
	assert_int_equal(jint(counts, "confirmed"), 0);
	assert_int_equal(jint(counts, "unconfirmed"), 0);
	reply_free(&r);

	call("PATCH", "/api/v1/lists/other", tok_editor,
	     "{\"name\":\"Other things\",\"visibility\":\"private\"}", &r);
	tl_want_status(&r, 200, "PATCH /lists/other");
	assert_string_equal(jstr(&r, "name"), "Other things");
	assert_string_equal(jstr(&r, "visibility"), "private");
	reply_free(&r);

	call("GET", "/api/v1/lists", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /lists");
	json_t *items = json_object_get(r.json, "items");
	assert_true(json_array_size(items) >= 2);
	reply_free(&r);

	/* Errors, one per class. */
	static const struct {
		const char *method, *path, *ctype, *body;
		long status;
		const char *kind;
	} bad[] = {
	    {"POST", "/api/v1/lists", "application/json", "{\"slug\":\"news\",\"name\":\"N\"}", 409,
	     "exists"},
	    {"POST", "/api/v1/lists", "application/json", "{\"slug\":\"Bad Slug\",\"name\":\"\"}",
	     422, "validation"},
	    {"POST", "/api/v1/lists", "application/json", "{\"slug\":\"x\",\"optin\":\"triple\"}",
	     422, "validation"},
	    {"POST", "/api/v1/lists", "text/plain", "{\"slug\":\"x\",\"name\":\"x\"}", 415,
	     "unsupported-media-type"},
	    {"POST", "/api/v1/lists", NULL, NULL, 415, "unsupported-media-type"},
	    {"POST", "/api/v1/lists", "application/json", "{\"slug\":", 400, "bad-json"},
	    {"POST", "/api/v1/lists", "application/json", "[1,2]", 400, "bad-json"},
	    {"PATCH", "/api/v1/lists/nosuch", "application/json", "{}", 404, "not-found"},
	    {"GET", "/api/v1/lists/NOT%20A%20SLUG", NULL, NULL, 404, "not-found"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[128];
		snprintf(what, sizeof(what), "%s %s %s", bad[i].method, bad[i].path,
		         bad[i].body ? bad[i].body : "");
		call_raw(bad[i].method, bad[i].path, tok_editor, bad[i].ctype, bad[i].body,
		         bad[i].body ? strlen(bad[i].body) : 0, &r);
		want_problem(&r, bad[i].status, bad[i].kind, what);
		if (bad[i].status == 422) {
			json_t *errs = json_object_get(r.json, "errors");
			if (!json_array_size(errs) ||
			    !json_is_string(json_object_get(json_array_get(errs, 0), "pointer")))
				fail_msg("%s: no errors array with pointers: %s", what, r.body);
		}
		reply_free(&r);
	}
	/* The core's own 413 on an API route is a problem too. */
	char *big = bl_xmalloc(70000);
	memset(big, ' ', 70000);
	call_raw("POST", "/api/v1/lists", tok_editor, "application/json", big, 70000, &r);
	want_problem(&r, 413, NULL, "POST /lists with 70000 bytes");
	reply_free(&r);
	free(big);
}

/* ---- subscribers ---- */

static int64_t add_subscriber(const char *email, const char *extra)
{
	char body[512];
	struct reply r;
	snprintf(body, sizeof(body), "{\"email\":\"%s\"%s}", email, extra ? extra : "");
	call("POST", "/api/v1/subscribers", tok_editor, body, &r);
	if (r.status != 201 && r.status != 200)
		fail_msg("POST /subscribers %s: got %ld %s", email, r.status, r.body);
	int64_t id = jint(r.json, "id");
	reply_free(&r);
	return id;
}

static void test_subscribers(void **state)
{
	struct reply r;
	char loc[256], want[256];
	call("POST", "/api/v1/subscribers", tok_editor,
	     "{\"email\":\"Ann@Example.com\",\"name\":\"Ann\",\"lists\":[\"news\"],\"confirmed\":"
	     "true,"
	     "\"attributes\":{\"city\":\"Oslo\"}}",
	     &r);
	tl_want_status(&r, 201, "POST /subscribers");
	int64_t ann = jint(r.json, "id");
	snprintf(want, sizeof(want), "/api/v1/subscribers/%lld", (long long)ann);
	assert_string_equal(header(&r, "Location", loc, sizeof(loc)), want);
	assert_string_equal(jstr(&r, "name"), "Ann");
	json_t *subs = json_object_get(r.json, "subscriptions");
	assert_int_equal(json_array_size(subs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(subs, 0), "status")),
	                    "confirmed");
	reply_free(&r);
	/* The same address again: not duplicated; 200. */
	call("POST", "/api/v1/subscribers", tok_editor, "{\"email\":\"ann@example.com\"}", &r);
	tl_want_status(&r, 200, "POST /subscribers again");
	assert_int_equal(jint(r.json, "id"), ann);
	reply_free(&r);
	/* Validation. */
	call("POST", "/api/v1/subscribers", tok_editor,
	     "{\"email\":\"not an address\",\"lists\":[\"nosuch\"]}", &r);
	want_problem(&r, 422, "validation", "POST /subscribers bad");
	assert_int_equal(json_array_size(json_object_get(r.json, "errors")), 2);
	reply_free(&r);

	char path[128];
	snprintf(path, sizeof(path), "/api/v1/subscribers/%lld", (long long)ann);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /subscribers/ID");
	assert_string_equal(jstr(&r, "email"), "Ann@example.com");
	assert_non_null(json_object_get(r.json, "consent"));
	reply_free(&r);

	call("PATCH", path, tok_editor, "{\"name\":\"Ann B\",\"attributes\":{\"k\":1}}", &r);
	tl_want_status(&r, 200, "PATCH /subscribers/ID");
	assert_string_equal(jstr(&r, "name"), "Ann B");
	assert_int_equal(jint(json_object_get(r.json, "attributes"), "k"), 1);
	reply_free(&r);
	call("PATCH", path, tok_editor, "{\"status\":\"sleeping\"}", &r);
	want_problem(&r, 422, "validation", "PATCH bad status");
	reply_free(&r);

	/* Subscriptions. */
	char sp[160];
	snprintf(sp, sizeof(sp), "%s/subscriptions/other", path);
	call("PUT", sp, tok_editor, "{\"status\":\"confirmed\",\"mode\":\"weekly\"}", &r);
	tl_want_status(&r, 200, "PUT subscription other");
	assert_string_equal(jstr(&r, "list"), "other");
	assert_string_equal(jstr(&r, "mode"), "weekly");
	reply_free(&r);
	call("PUT", sp, tok_editor, "{\"status\":\"unconfirmed\"}", &r);
	want_problem(&r, 422, "validation", "PUT subscription unconfirmed");
	reply_free(&r);
	call("DELETE", sp, tok_editor, NULL, &r);
	tl_want_status(&r, 204, "DELETE subscription other");
	reply_free(&r);
	snprintf(sp, sizeof(sp), "%s/subscriptions", path);
	call("GET", sp, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET subscriptions");
	json_t *items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *x = json_array_get(items, i);
		const char *l = json_string_value(json_object_get(x, "list"));
		const char *st = json_string_value(json_object_get(x, "status"));
		if (strcmp(l, "other") == 0 ? strcmp(st, "unsubscribed") : strcmp(st, "confirmed"))
			fail_msg("subscription %s: got %s", l, st);
	}
	reply_free(&r);

	/* Counts are maintained: the list says one confirmed. */
	call("GET", "/api/v1/lists/news", tok_viewer, NULL, &r);
	assert_int_equal(jint(json_object_get(r.json, "counts"), "confirmed"), 1);
	reply_free(&r);

	/* Erasure; the address cannot be added back by hand. */
	call("DELETE", path, tok_editor, NULL, &r);
	tl_want_status(&r, 204, "DELETE /subscribers/ID");
	reply_free(&r);
	call("GET", path, tok_viewer, NULL, &r);
	want_problem(&r, 404, "not-found", "GET erased subscriber");
	reply_free(&r);
	call("POST", "/api/v1/subscribers", tok_editor, "{\"email\":\"ann@example.com\"}", &r);
	want_problem(&r, 409, "erased", "POST an erased address");
	reply_free(&r);
	call("GET", "/api/v1/subscribers/abc", tok_viewer, NULL, &r);
	want_problem(&r, 404, "not-found", "GET /subscribers/abc");
	reply_free(&r);
}

/* Walk pages of @query until next is null; marks each id in @seen (count per id). */
static size_t walk(const char *query, int64_t base, int *seen, size_t n_seen)
{
	char path[512], cursor[256] = "";
	size_t total = 0, pages = 0;
	for (;;) {
		snprintf(path, sizeof(path), "/api/v1/subscribers?%s%s%s", query,
		         *cursor ? "&after=" : "", cursor);
		struct reply r;
		call("GET", path, tok_viewer, NULL, &r);
		tl_want_status(&r, 200, path);
		json_t *items = json_object_get(r.json, "items"),
		       *next = json_object_get(r.json, "next");
		if (!next)
			fail_msg("%s: no \"next\" member", path);
		for (size_t i = 0; i < json_array_size(items); i++) {
			int64_t id = jint(json_array_get(items, i), "id");
			if (id >= base && (size_t)(id - base) < n_seen)
				seen[id - base]++;
			total++;
		}
		pages++;
		if (json_is_null(next)) {
			reply_free(&r);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		reply_free(&r);
		assert_true(pages < 100);
	}
	return total;
}

static void test_pagination(void **state)
{
	enum { N = 23 };
	int64_t ids[N];
	for (int i = 0; i < N; i++) {
		char email[64];
		snprintf(email, sizeof(email), "%s%02d@page.example", i % 2 ? "pa" : "pb", i);
		ids[i] = add_subscriber(email,
		                        i % 3 ? ",\"lists\":[\"other\"],\"confirmed\":true" : NULL);
	}
	int64_t base = ids[0];
	int seen[N + 8];
	/* By id, 5 a page: every subscriber of this test exactly once. */
	memset(seen, 0, sizeof(seen));
	walk("limit=5", base, seen, N);
	for (int i = 0; i < N; i++)
		if (seen[ids[i] - base] != 1)
			fail_msg("by id: subscriber %lld seen %d times, want 1", (long long)ids[i],
			         seen[ids[i] - base]);
	/* By address prefix (any case), 4 a page: the 12 "pa" ones only. */
	memset(seen, 0, sizeof(seen));
	size_t got = walk("prefix=PA&limit=4", base, seen, N);
	assert_int_equal(got, N / 2);
	for (int i = 0; i < N; i++)
		if (seen[ids[i] - base] != (i % 2))
			fail_msg("prefix pa: subscriber %d seen %d times, want %d", i,
			         seen[ids[i] - base], i % 2);
	/* By list and subscription status. */
	memset(seen, 0, sizeof(seen));
	got = walk("list=other&status=confirmed&limit=7", base, seen, N);
	int want = 0;
	for (int i = 0; i < N; i++)
		want += i % 3 != 0;
	assert_int_equal(got, (size_t)want);
	/* Bad parameters. */
	static const char *const bad[] = {
	    "/api/v1/subscribers?limit=0",          "/api/v1/subscribers?limit=1001",
	    "/api/v1/subscribers?after=zz",         "/api/v1/subscribers?list=nosuch",
	    "/api/v1/subscribers?status=confirmed",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct reply r;
		call("GET", bad[i], tok_viewer, NULL, &r);
		want_problem(&r, 400, "bad-parameter", bad[i]);
		reply_free(&r);
	}
}

/* ---- posts ---- */

static int64_t create_post(const char *body_json)
{
	struct reply r;
	call("POST", "/api/v1/posts", tok_editor, body_json, &r);
	tl_want_status(&r, 201, "POST /posts");
	int64_t id = jint(r.json, "id");
	reply_free(&r);
	return id;
}

static void post_action(int64_t id, const char *action, const char *body, long want,
                        const char *want_status_text)
{
	char path[128], what[160];
	struct reply r;
	snprintf(path, sizeof(path), "/api/v1/posts/%lld/%s", (long long)id, action);
	snprintf(what, sizeof(what), "POST %s", path);
	call("POST", path, tok_editor, body, &r);
	if (want == 409)
		want_problem(&r, 409, "post-status", what);
	else
		tl_want_status(&r, want, what);
	if (want_status_text && strcmp(jstr(&r, "status"), want_status_text) != 0)
		fail_msg("%s: got status %s, want %s", what, jstr(&r, "status"), want_status_text);
	reply_free(&r);
}

static void test_posts(void **state)
{
	struct reply r;
	int64_t id = create_post("{\"subject\":\"Hello {{name}}\",\"body\":\"# Hi\\n\\nHello "
	                         "{{subscriber.name}}.\",\"lists\":[\"news\",\"other\"],"
	                         "\"breaking\":true}");
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/posts/%lld", (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /posts/ID");
	assert_string_equal(jstr(&r, "status"), "draft");
	assert_string_equal(jstr(&r, "priority"), "breaking");
	assert_non_null(strstr(jstr(&r, "body"), "# Hi"));
	assert_int_equal(json_array_size(json_object_get(r.json, "lists")), 2);
	assert_non_null(json_object_get(r.json, "counts"));
	reply_free(&r);

	/* Validation as `post create`. */
	static const char *const bad[] = {
	    "{\"subject\":\"a\\nb\",\"body\":\"x\",\"lists\":[\"news\"]}",
	    "{\"subject\":\"ok\",\"body\":\"{{#open}} never closed\",\"lists\":[\"news\"]}",
	    "{\"subject\":\"ok\",\"body\":\"x\",\"lists\":[]}",
	    "{\"subject\":\"ok\",\"body\":\"x\",\"lists\":[\"nosuch\"]}",
	    "{\"subject\":\"\",\"body\":\"x\",\"lists\":[\"news\"]}",
	    "{\"subject\":\"ok\",\"body\":\"x\",\"lists\":[\"news\"],\"scheduled_at\":\"soon\"}",
	    "{\"body\":\"x\",\"lists\":[\"news\"]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call("POST", "/api/v1/posts", tok_editor, bad[i], &r);
		want_problem(&r, 422, "validation", bad[i]);
		reply_free(&r);
	}

	call("PATCH", path, tok_editor, "{\"subject\":\"Hello again\",\"lists\":[\"other\"]}", &r);
	tl_want_status(&r, 200, "PATCH /posts/ID");
	assert_string_equal(jstr(&r, "subject"), "Hello again");
	assert_int_equal(json_array_size(json_object_get(r.json, "lists")), 1);
	reply_free(&r);

	/* Preview, in each form. */
	snprintf(path, sizeof(path), "/api/v1/posts/%lld/preview", (long long)id);
	call("POST", path, tok_viewer, "{\"format\":\"html\"}", &r);
	tl_want_status(&r, 200, "preview html");
	char ct[128], csp[256];
	assert_string_equal(header(&r, "Content-Type", ct, sizeof(ct)), "text/html; charset=utf-8");
	assert_non_null(strstr(header(&r, "Content-Security-Policy", csp, sizeof(csp)), "sandbox"));
	assert_non_null(strstr(r.body, "<h1>Hi</h1>"));
	reply_free(&r);
	call("POST", path, tok_viewer, "{\"format\":\"text\"}", &r);
	tl_want_status(&r, 200, "preview text");
	assert_non_null(strstr(r.body, "Hi"));
	reply_free(&r);
	call("POST", path, tok_viewer, "{\"format\":\"eml\"}", &r);
	tl_want_status(&r, 200, "preview eml");
	assert_non_null(strstr(r.body, "Subject: Hello again"));
	assert_non_null(strstr(r.body, "List-Unsubscribe"));
	reply_free(&r);
	call("POST", path, tok_viewer, "{\"format\":\"pdf\"}", &r);
	want_problem(&r, 422, "validation", "preview pdf");
	reply_free(&r);

	/* Schedule, unschedule, send, pause, resume, status, deliveries. */
	post_action(id, "schedule", "{\"at\":\"2099-01-01T00:00:00Z\"}", 200, "scheduled");
	post_action(id, "schedule", "{}", 422, NULL);
	post_action(id, "unschedule", NULL, 200, "draft");
	post_action(id, "unschedule", NULL, 409, NULL);
	post_action(id, "pause", NULL, 409, NULL);
	post_action(id, "send", NULL, 200, "sending");
	post_action(id, "send", NULL, 409, NULL);
	snprintf(path, sizeof(path), "/api/v1/posts/%lld", (long long)id);
	call("PATCH", path, tok_editor, "{\"subject\":\"Too late\"}", &r);
	want_problem(&r, 409, "post-status", "PATCH a sending post");
	reply_free(&r);
	post_action(id, "pause", NULL, 200, "paused");
	post_action(id, "resume", NULL, 200, "sending");

	snprintf(path, sizeof(path), "/api/v1/posts/%lld/status", (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET status");
	int64_t total = jint(r.json, "total");
	assert_true(total >= 1);
	assert_int_equal(jint(r.json, "pending"), total);
	assert_true(json_is_number(json_object_get(r.json, "rate")));
	assert_true(json_is_null(json_object_get(r.json, "eta"))); /* nothing sent yet: unknown */
	assert_int_equal(jint(r.json, "in_doubt"), 0);
	/* Flat, key for key what `bulletin post status --json` prints (one
	 * function makes both: bl_json_post_status). */
	{
		static const char *const keys[] = {
		    "id",           "status",   "total",  "pending",    "claimed",
		    "accepted",     "deferred", "failed", "suppressed", "bounced",
		    "complained",   "in_doubt", "rate",   "started_at", "finished_at",
		    "pause_reason", "eta",      "bounces"};
		char got[512] = "", want[512] = "";
		const char *k;
		json_t *v;
		json_object_foreach(r.json, k, v)
		{
			strcat(got, k);
			strcat(got, " ");
		}
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			strcat(want, keys[i]);
			strcat(want, " ");
		}
		if (strcmp(got, want) != 0)
			fail_msg("GET status keys: got %s, want %s", got, want);
	}
	reply_free(&r);

	snprintf(path, sizeof(path), "/api/v1/posts/%lld/deliveries?state=pending&limit=1",
	         (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET deliveries");
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(r.json, "items"), 0), "state")),
	                    "pending");
	assert_true(total == 1 ? json_is_null(json_object_get(r.json, "next"))
	                       : json_is_integer(json_object_get(r.json, "next")));
	reply_free(&r);
	snprintf(path, sizeof(path), "/api/v1/posts/%lld/deliveries?state=sideways", (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	want_problem(&r, 400, "bad-parameter", "deliveries state=sideways");
	reply_free(&r);

	post_action(id, "retry", NULL, 200, "sending");
	post_action(id, "cancel", NULL, 200, "cancelled");
	post_action(id, "retry", NULL, 409, NULL);
	post_action(id, "resume", NULL, 409, NULL);

	/* A post created scheduled. */
	int64_t later = create_post("{\"subject\":\"Later\",\"body\":\"x\",\"lists\":[\"news\"],"
	                            "\"scheduled_at\":\"2099-05-01T08:00:00Z\"}");
	snprintf(path, sizeof(path), "/api/v1/posts/%lld", (long long)later);
	call("GET", path, tok_viewer, NULL, &r);
	assert_string_equal(jstr(&r, "status"), "scheduled");
	assert_string_equal(jstr(&r, "scheduled_at"), "2099-05-01T08:00:00Z");
	reply_free(&r);

	/* The listing, newest first, paged by before. */
	call("GET", "/api/v1/posts?limit=1", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /posts");
	json_t *items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_int_equal(jint(json_array_get(items, 0), "id"), later);
	int64_t next = jint(r.json, "next");
	reply_free(&r);
	char q[128];
	snprintf(q, sizeof(q), "/api/v1/posts?limit=1&before=%lld", (long long)next);
	call("GET", q, tok_viewer, NULL, &r);
	assert_int_equal(jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), id);
	reply_free(&r);
	call("GET", "/api/v1/posts/999999", tok_viewer, NULL, &r);
	want_problem(&r, 404, "not-found", "GET /posts/999999");
	reply_free(&r);
}

/* ---- imports and export ---- */

static void test_imports(void **state)
{
	static const char csv[] =
	    "email,name\nimp1@example.com,One\nimp2@example.com,Two\nbroken\n";
	struct reply r;
	call_raw("POST", "/api/v1/imports?list=news&confirmed=1&file=club.csv", tok_editor,
	         "text/csv", csv, sizeof(csv) - 1, &r);
	tl_want_status(&r, 202, "POST /imports");
	int64_t id = jint(r.json, "id");
	char loc[128], want[128];
	snprintf(want, sizeof(want), "/api/v1/imports/%lld", (long long)id);
	assert_string_equal(header(&r, "Location", loc, sizeof(loc)), want);
	assert_string_equal(jstr(&r, "state"), "queued");
	assert_int_equal(jint(r.json, "size"), (json_int_t)(sizeof(csv) - 1));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r.json, "params"), "list")), "news");
	reply_free(&r);

	/* The runner `serve` uses takes it. */
	struct bl_import_job_opts o = {.batch = 100};
	struct bl_diag d;
	int64_t ran = 0;
	int rc = bl_import_job_run(db, bl_now(), &o, &ran, &d);
	if (rc != 1)
		fail_msg("bl_import_job_run: got %d (%s), want 1", rc, d.msg);
	assert_int_equal(ran, id);
	call("GET", want, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /imports/ID");
	assert_string_equal(jstr(&r, "state"), "done");
	json_t *rep = json_object_get(r.json, "report");
	assert_int_equal(jint(rep, "imported"), 2);
	assert_int_equal(jint(rep, "invalid"), 1);
	reply_free(&r);
	call("GET", "/api/v1/imports", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /imports");
	assert_int_equal(jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), id);
	reply_free(&r);

	/* Errors: type, options, size (config import_max here: IMPORT_MAX). */
	call_raw("POST", "/api/v1/imports", tok_editor, "application/json", "{}", 2, &r);
	want_problem(&r, 415, "unsupported-media-type", "POST /imports as JSON");
	reply_free(&r);
	call_raw("POST", "/api/v1/imports?list=nosuch&format=word", tok_editor, "text/csv", csv,
	         sizeof(csv) - 1, &r);
	want_problem(&r, 422, "validation", "POST /imports bad options");
	assert_int_equal(json_array_size(json_object_get(r.json, "errors")), 2);
	reply_free(&r);
	char *big = bl_xmalloc(IMPORT_MAX + 1);
	memset(big, 'a', IMPORT_MAX + 1);
	call_raw("POST", "/api/v1/imports", tok_editor, "text/csv", big, IMPORT_MAX + 1, &r);
	want_problem(&r, 413, NULL, "POST /imports over import_max");
	reply_free(&r);
	/* Above the server's body limit but within import_max (a CSV file, with a
	 * long note, since what the job would refuse is refused at once)... */
	memcpy(big, "email,note\nbig@example.com,", 27);
	call_raw("POST", "/api/v1/imports?dry_run=1&list=news", tok_editor, "text/csv", big,
	         IMPORT_MAX, &r);
	tl_want_status(&r, 202, "POST /imports at import_max");
	reply_free(&r);
	free(big);
	call("GET", "/api/v1/imports/999999", tok_viewer, NULL, &r);
	want_problem(&r, 404, "not-found", "GET /imports/999999");
	reply_free(&r);
}

/* What an import job would refuse before its first row is refused at once:
 * 422, the query parameter at fault named in the pointer and the detail. */
static void test_import_parameters(void **state)
{
	static const struct {
		const char *query, *body;
		long status;
		const char *pointer, *detail; /* the first error's; a part of its detail */
	} cases[] = {
	    {"", "email\na@example.com\n", 422, "/query/list", "The `list` parameter is required"},
	    {"?list=", "email\na@example.com\n", 422, "/query/list",
	     "`list` parameter is required"},
	    {"?list=nosuch", "email\na@example.com\n", 422, "/query/list", "No such list: nosuch."},
	    {"?list=Bad%20Slug", "email\na@example.com\n", 422, "/query/list",
	     "No such list: Bad Slug."},
	    {"", "a@example.com\nb@example.com\n", 422, "/query/list", "`list` parameter"},
	    {"?format=plain", "email\n", 422, "/query/list", "`list` parameter is required"},
	    {"?list=news&format=word", "email\n", 422, "/query/format", "`format` parameter"},
	    {"?list=news&delimiter=ab", "email\n", 422, "/query/delimiter",
	     "`delimiter` parameter"},
	    {"?list=news&confirmed=maybe", "email\n", 422, "/query/confirmed", "`confirmed`"},
	    {"?list=news&dry_run=2", "email\n", 422, "/query/dry_run", "`dry_run`"},
	    {"?list=news", "name,city\nAnn,Oslo\n", 422, "", "no email column"},
	    {"?list=news", "email|name\na@example.com|Ann\n", 422, "",
	     "the `delimiter` parameter |"},
	    {"?list=news", "{\"format\":\"bulletin\"}\n", 422, "/query/list", "does not apply"},
	    /* Rows that name their lists need none (a dry run: nothing changes). */
	    {"?dry_run=1",
	     "email,name,list,status,mode,subscriber_status\na@example.com,A,news,confirmed,"
	     "instant,active\n",
	     202, NULL, NULL},
	    {"?dry_run=1&list=news",
	     "email,name,list,status,mode,subscriber_status\na@example.com,A,news,confirmed,"
	     "instant,active\n",
	     202, NULL, NULL},
	    {"?dry_run=1&list=news&delimiter=tab", "email\ta\n", 202, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[256], what[300];
		struct reply r;
		snprintf(path, sizeof(path), "/api/v1/imports%s", cases[i].query);
		snprintf(what, sizeof(what), "case %zu: POST %s", i, path);
		call_raw("POST", path, tok_editor, "text/csv", cases[i].body, strlen(cases[i].body),
		         &r);
		if (cases[i].status != 422) {
			tl_want_status(&r, cases[i].status, what);
			reply_free(&r);
			continue;
		}
		want_problem(&r, 422, "validation", what);
		json_t *e = json_array_get(json_object_get(r.json, "errors"), 0);
		const char *ptr = json_string_value(json_object_get(e, "pointer"));
		const char *detail = json_string_value(json_object_get(r.json, "detail"));
		if (!ptr || strcmp(ptr, cases[i].pointer) != 0)
			fail_msg("%s: got pointer %s, want %s", what, ptr ? ptr : "(none)",
			         cases[i].pointer);
		if (!strstr(detail, cases[i].detail))
			fail_msg("%s: got detail \"%s\", want one with \"%s\"", what, detail,
			         cases[i].detail);
		reply_free(&r);
	}

	/* A list a scheduled post goes out on stays: 409 naming the post. */
	{
		struct reply q;
		call("POST", "/api/v1/lists", tok_editor, "{\"slug\":\"kept\",\"name\":\"Kept\"}",
		     &q);
		tl_want_status(&q, 201, "POST /lists kept");
		reply_free(&q);
		char at[BL_TIME_STRMAX], body[256];
		bl_time_format(bl_now() + 86400, at);
		snprintf(body, sizeof(body),
		         "{\"subject\":\"Later\",\"body\":\"Hi\",\"lists\":[\"kept\"],"
		         "\"scheduled_at\":\"%s\"}",
		         at);
		call("POST", "/api/v1/posts", tok_editor, body, &q);
		tl_want_status(&q, 201, "POST /posts scheduled on kept");
		reply_free(&q);
		call("DELETE", "/api/v1/lists/kept", tok_editor, NULL, &q);
		want_problem(&q, 409, "in-use", "DELETE /lists/kept with a scheduled post");
		reply_free(&q);
		call("GET", "/api/v1/lists/kept", tok_viewer, NULL, &q);
		tl_want_status(&q, 200, "the list is still there");
		reply_free(&q);
	}

	/* A list deleted between the upload and the job: the job's error speaks
	 * of the API's parameter, not of a command-line flag. */
	struct reply r;
	call("POST", "/api/v1/lists", tok_editor, "{\"slug\":\"gone\",\"name\":\"Gone\"}", &r);
	tl_want_status(&r, 201, "POST /lists gone");
	reply_free(&r);
	call_raw("POST", "/api/v1/imports?list=gone", tok_editor, "text/csv",
	         "email\nx@example.com\n", 20, &r);
	tl_want_status(&r, 202, "POST /imports?list=gone");
	int64_t id = jint(r.json, "id");
	reply_free(&r);
	call("DELETE", "/api/v1/lists/gone", tok_editor, NULL, &r);
	tl_want_status(&r, 204, "DELETE /lists/gone");
	reply_free(&r);
	struct bl_import_job_opts o = {.batch = 100};
	struct bl_diag d;
	for (int64_t ran = -1; ran != 0;) /* run every queued job, this one among them */
		if (bl_import_job_run(db, bl_now(), &o, &ran, &d) < 0)
			fail_msg("bl_import_job_run: %s", d.msg);
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/imports/%lld", (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET the failed import");
	const char *err = jstr(&r, "error");
	if (strcmp(jstr(&r, "state"), "failed") != 0 || !strstr(err, "No such list: gone") ||
	    !strstr(err, "`list` parameter") || strstr(err, "--"))
		fail_msg("the failed import: got state %s, error \"%s\"; want failed, \"No such "
		         "list: gone ... the `list` parameter ...\" without a flag",
		         jstr(&r, "state"), err);
	reply_free(&r);
	(void)state;
}

static void test_export(void **state)
{
	struct reply r;
	call("GET", "/api/v1/export?list=news&format=csv", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /export csv");
	char ct[128], len[32];
	assert_string_equal(header(&r, "Content-Type", ct, sizeof(ct)), "text/csv; charset=utf-8");
	assert_int_equal(strncmp(r.body, "email,name,attributes", 21), 0);
	assert_non_null(strstr(r.body, "imp1@example.com"));
	snprintf(ct, sizeof(ct), "%zu", r.len);
	assert_string_equal(header(&r, "Content-Length", len, sizeof(len)), ct);
	reply_free(&r);
	call("GET", "/api/v1/export?format=jsonl", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /export jsonl");
	assert_non_null(r.json);
	assert_string_equal(jstr(&r, "format"), "bulletin");
	assert_true(json_array_size(json_object_get(r.json, "subscribers")) >= 25);
	reply_free(&r);
	call("GET", "/api/v1/export?format=xml", tok_viewer, NULL, &r);
	want_problem(&r, 400, "bad-parameter", "GET /export xml");
	reply_free(&r);
	call("GET", "/api/v1/export?list=nosuch", tok_viewer, NULL, &r);
	want_problem(&r, 400, "bad-parameter", "GET /export nosuch");
	reply_free(&r);
}

/* ---- stats, users, tokens, audit ---- */

static void test_stats(void **state)
{
	struct reply r;
	call("GET", "/api/v1/stats", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /stats");
	assert_true(jint(json_object_get(r.json, "subscribers"), "active") >= 25);
	assert_non_null(json_object_get(json_object_get(r.json, "deliveries"), "pending"));
	assert_non_null(json_object_get(r.json, "accepted_last_minute"));
	reply_free(&r);
}

static void test_users_tokens_audit(void **state)
{
	struct reply r;
	call("POST", "/api/v1/users", tok_admin, "{\"name\":\"eve\",\"role\":\"editor\"}", &r);
	tl_want_status(&r, 201, "POST /users");
	assert_int_equal(strlen(jstr(&r, "password")), BL_PASSWORD_GEN_LEN - 1);
	reply_free(&r);
	call("POST", "/api/v1/users", tok_admin, "{\"name\":\"eve\",\"role\":\"editor\"}", &r);
	want_problem(&r, 409, "exists", "POST /users again");
	reply_free(&r);
	call("POST", "/api/v1/users", tok_admin, "{\"name\":\"bad name\",\"role\":\"boss\"}", &r);
	want_problem(&r, 422, "validation", "POST /users bad");
	assert_int_equal(json_array_size(json_object_get(r.json, "errors")), 2);
	reply_free(&r);
	call("PATCH", "/api/v1/users/eve", tok_admin, "{\"role\":\"viewer\",\"password\":true}",
	     &r);
	tl_want_status(&r, 200, "PATCH /users/eve");
	assert_string_equal(jstr(&r, "role"), "viewer");
	assert_int_equal(strlen(jstr(&r, "password")), BL_PASSWORD_GEN_LEN - 1);
	reply_free(&r);
	struct bl_user u;
	assert_int_equal(db->ops->user_get(db, "eve", 0, &u), 1);
	assert_int_equal(u.role, BL_ROLE_VIEWER);
	bl_user_clear(&u);
	call("GET", "/api/v1/users", tok_admin, NULL, &r);
	tl_want_status(&r, 200, "GET /users");
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
	assert_null(strstr(r.body, "argon2")); /* no hash ever leaves */
	reply_free(&r);
	call("DELETE", "/api/v1/users/root", "session", NULL, &r);
	want_problem(&r, 409, "self", "DELETE yourself");
	reply_free(&r);
	call("DELETE", "/api/v1/users/eve", tok_admin, NULL, &r);
	tl_want_status(&r, 204, "DELETE /users/eve");
	reply_free(&r);
	call("DELETE", "/api/v1/users/eve", tok_admin, NULL, &r);
	want_problem(&r, 404, "not-found", "DELETE /users/eve again");
	reply_free(&r);
	/* root is the last admin: a token (no self to protect) cannot demote nor delete it */
	static const struct {
		const char *method, *body;
	} last[] = {{"PATCH", "{\"role\":\"editor\"}"}, {"DELETE", NULL}};
	for (size_t i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		call(last[i].method, "/api/v1/users/root", tok_admin, last[i].body, &r);
		want_problem(&r, 409, "last-admin", last[i].method);
		const char *detail = json_string_value(json_object_get(r.json, "detail"));
		if (strcmp(detail,
		           "The user root is the last admin: make another user admin first.") != 0)
			fail_msg("%s /users/root: got detail \"%s\"", last[i].method, detail);
		reply_free(&r);
	}
	assert_int_equal(db->ops->user_get(db, "root", 0, &u), 1);
	assert_int_equal(u.role, BL_ROLE_ADMIN);
	bl_user_clear(&u);

	/* A token made through the API works, and stops working once revoked. */
	call("POST", "/api/v1/tokens", tok_admin, "{\"name\":\"script\",\"role\":\"viewer\"}", &r);
	tl_want_status(&r, 201, "POST /tokens");
	char tok[BL_API_TOKEN_LEN];
	snprintf(tok, sizeof(tok), "%s", jstr(&r, "token"));
	assert_int_equal(strlen(tok), BL_API_TOKEN_LEN - 1);
	reply_free(&r);
	call("GET", "/api/v1/lists", tok, NULL, &r);
	tl_want_status(&r, 200, "GET with the new token");
	reply_free(&r);
	call("GET", "/api/v1/tokens", tok_admin, NULL, &r);
	tl_want_status(&r, 200, "GET /tokens");
	assert_null(strstr(r.body, tok));
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 4);
	reply_free(&r);
	call("DELETE", "/api/v1/tokens/script", tok_admin, NULL, &r);
	tl_want_status(&r, 204, "DELETE /tokens/script");
	reply_free(&r);
	call("GET", "/api/v1/lists", tok, NULL, &r);
	want_problem(&r, 401, "unauthorized", "GET with a revoked token");
	reply_free(&r);

	/* The audit log holds the writes, newest first, with their actors. */
	call("GET", "/api/v1/audit?limit=3", tok_admin, NULL, &r);
	tl_want_status(&r, 200, "GET /audit");
	json_t *items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 3);
	json_t *e = json_array_get(items, 0);
	assert_string_equal(json_string_value(json_object_get(e, "action")), "token.delete");
	assert_string_equal(json_string_value(json_object_get(e, "actor")), "token:admin-token");
	assert_string_equal(json_string_value(json_object_get(e, "ip")), "127.0.0.1");
	int64_t next = jint(r.json, "next");
	reply_free(&r);
	char q[128];
	snprintf(q, sizeof(q), "/api/v1/audit?limit=1000&before=%lld", (long long)next);
	call("GET", q, tok_admin, NULL, &r);
	tl_want_status(&r, 200, "GET /audit page 2");
	int saw_list_create = 0, saw_session = 0;
	items = json_object_get(r.json, "items");
	for (size_t i = 0; i < json_array_size(items); i++) {
		e = json_array_get(items, i);
		const char *a = json_string_value(json_object_get(e, "action"));
		const char *who = json_string_value(json_object_get(e, "actor"));
		saw_list_create |=
		    strcmp(a, "list.create") == 0 && strcmp(who, "token:editor-token") == 0;
		saw_session |= strcmp(who, "user:root") == 0;
	}
	assert_true(saw_list_create);
	assert_true(saw_session);
	reply_free(&r);
}

/* ---- feeds ---- */

static const char rss_v1[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<rss version=\"2.0\"><channel><title>Fixture news</title>\n"
                             "<link>http://127.0.0.1/</link>\n"
                             "<item><title>One</title><guid>one</guid>"
                             "<description>The first item.</description></item>\n"
                             "</channel></rss>\n";
static const char rss_v2[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<rss version=\"2.0\"><channel><title>Fixture news</title>\n"
                             "<link>http://127.0.0.1/</link>\n"
                             "<item><title>Two</title><guid>two</guid>"
                             "<link>http://127.0.0.1/two</link>"
                             "<description>The second item.</description></item>\n"
                             "<item><title>One</title><guid>one</guid>"
                             "<description>The first item.</description></item>\n"
                             "</channel></rss>\n";

/* POST /feeds with @body as the editor: the new feed's id (201 wanted). */
static int64_t add_feed(const char *body)
{
	struct reply r;
	call("POST", "/api/v1/feeds", tok_editor, body, &r);
	tl_want_status(&r, 201, body);
	int64_t id = jint(r.json, "id");
	reply_free(&r);
	return id;
}

/* How many audit entries have action @action and target "feed:@id"; the
 * last one's detail into @detail (@size bytes, "" when none). */
static int audit_count(const char *action, int64_t id, char *detail, size_t size)
{
	struct reply r;
	char target[64];
	int n = 0;
	snprintf(target, sizeof(target), "feed:%lld", (long long)id);
	if (detail)
		*detail = '\0';
	call("GET", "/api/v1/audit?limit=1000", tok_admin, NULL, &r);
	tl_want_status(&r, 200, "GET /audit");
	json_t *items = json_object_get(r.json, "items");
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *e = json_array_get(items, i);
		if (strcmp(json_string_value(json_object_get(e, "action")), action) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "target")), target) == 0) {
			if (n == 0 && detail) /* newest first */
				snprintf(detail, size, "%s",
				         json_string_value(json_object_get(e, "detail")));
			n++;
		}
	}
	reply_free(&r);
	return n;
}

/* Create, read, validation, conflict, 404s, delete. */
static void test_feeds(void **state)
{
	struct reply r;
	char loc[256], want[256], path[128], detail[512];
	/* Create: 201, Location, the documented shape with the defaults filled in. */
	call("POST", "/api/v1/feeds", tok_editor,
	     "{\"url\":\"https://feeds.example.org/a.xml\",\"lists\":[\"news\",\"other\"]}", &r);
	tl_want_status(&r, 201, "POST /feeds");
	int64_t id = jint(r.json, "id");
	snprintf(want, sizeof(want), "/api/v1/feeds/%lld", (long long)id);
	if (strcmp(header(&r, "Location", loc, sizeof(loc)), want) != 0)
		fail_msg("POST /feeds: got Location \"%s\", want \"%s\"", loc, want);
	static const struct {
		const char *key, *want; /* want: compact JSON */
	} shape[] = {
	    {"url", "\"https://feeds.example.org/a.xml\""},
	    {"title", "\"\""},
	    {"lists", "[\"news\",\"other\"]"},
	    {"mode", "\"send\""},
	    {"every", "900"},
	    {"breaking", "false"},
	    {"backfill", "0"},
	    {"last_poll_at", "null"},
	    {"last_ok_at", "null"},
	    {"failures", "0"},
	    {"last_error", "\"\""},
	    {"items", "0"},
	    {"posts", "0"},
	};
	for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
		char *got = json_dumps(json_object_get(r.json, shape[i].key),
		                       JSON_ENCODE_ANY | JSON_COMPACT);
		if (!got || strcmp(got, shape[i].want) != 0)
			fail_msg("POST /feeds: member %s: got %s, want %s", shape[i].key,
			         got ? got : "(none)", shape[i].want);
		free(got);
	}
	/* A new feed is due at once; both times are RFC 3339 strings. */
	if (!json_is_string(json_object_get(r.json, "next_poll_at")) ||
	    !json_is_string(json_object_get(r.json, "created_at")))
		fail_msg("POST /feeds: want next_poll_at and created_at as times: %s", r.body);
	if (json_object_size(r.json) != 16)
		fail_msg("POST /feeds: got %zu members, want the 16 of the Feed schema: %s",
		         json_object_size(r.json), r.body);
	reply_free(&r);
	if (audit_count("feed.add", id, detail, sizeof(detail)) != 1 ||
	    !strstr(detail, "https://feeds.example.org/a.xml"))
		fail_msg("feed.add: got %d entries (detail \"%s\"), want one naming the URL",
		         audit_count("feed.add", id, NULL, 0), detail);

	/* Every field given. */
	int64_t id2 = add_feed("{\"url\":\"http://feeds.example.org/b.rss\",\"lists\":[\"news\"],"
	                       "\"mode\":\"draft\",\"every\":3600,\"breaking\":true,"
	                       "\"backfill\":5}");
	snprintf(path, sizeof(path), "/api/v1/feeds/%lld", (long long)id2);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /feeds/ID");
	if (strcmp(jstr(&r, "mode"), "draft") != 0 || jint(r.json, "every") != 3600 ||
	    !json_is_true(json_object_get(r.json, "breaking")) || jint(r.json, "backfill") != 5 ||
	    json_array_size(json_object_get(r.json, "lists")) != 1 || jint(r.json, "id") != id2)
		fail_msg("GET %s: got %s, want mode draft, every 3600, breaking, backfill 5, one "
		         "list",
		         path, r.body);
	reply_free(&r);

	/* Validation: 422, one error, its pointer at the field at fault; nothing added. */
	static const struct {
		const char *body, *pointer;
	} bad[] = {
	    {"{\"url\":\"ftp://feeds.example.org/a.xml\",\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":\"javascript:alert(1)\",\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":\"file:///etc/passwd\",\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":\"/feed.xml\",\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":\"feeds.example.org/a.xml\",\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":\"https://feeds.example.org/a b.xml\",\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":42,\"lists\":[\"news\"]}", "/url"},
	    {"{\"lists\":[\"news\"]}", "/url"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\"}", "/lists"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[]}", "/lists"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"nosuch\"]}", "/lists/0"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"news\",\"nosuch\"]}",
	     "/lists/1"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"news\"],\"every\":59}",
	     "/every"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"news\"],\"every\":604801}",
	     "/every"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"news\"],\"every\":\"15m\"}",
	     "/every"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"news\"],\"backfill\":-1}",
	     "/backfill"},
	    {"{\"url\":\"https://feeds.example.org/c.xml\",\"lists\":[\"news\"],\"backfill\":1001}",
	     "/backfill"},
	    {"{\"url\":\"https://feeds.example.org/"
	     "c.xml\",\"lists\":[\"news\"],\"mode\":\"other\"}",
	     "/mode"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call("POST", "/api/v1/feeds", tok_editor, bad[i].body, &r);
		want_problem(&r, 422, "validation", bad[i].body);
		json_t *errs = json_object_get(r.json, "errors");
		const char *got =
		    json_string_value(json_object_get(json_array_get(errs, 0), "pointer"));
		if (json_array_size(errs) != 1 || !got || strcmp(got, bad[i].pointer) != 0)
			fail_msg("POST /feeds %s: got %s, want one error at %s", bad[i].body,
			         r.body, bad[i].pointer);
		reply_free(&r);
	}
	/* The bounds themselves are accepted. */
	int64_t id3 = add_feed("{\"url\":\"https://feeds.example.org/min.xml\",\"lists\":"
	                       "[\"news\"],\"every\":60,\"backfill\":1000}");
	int64_t id4 = add_feed("{\"url\":\"https://feeds.example.org/max.xml\",\"lists\":"
	                       "[\"news\"],\"every\":604800,\"backfill\":0}");
	/* The same URL again: 409. */
	call("POST", "/api/v1/feeds", tok_editor,
	     "{\"url\":\"https://feeds.example.org/a.xml\",\"lists\":[\"news\"]}", &r);
	want_problem(&r, 409, "exists", "POST /feeds with a URL already there");
	reply_free(&r);

	/* The listing: exactly these four feeds, by id (nothing from the refusals). */
	call("GET", "/api/v1/feeds", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /feeds");
	json_t *items = json_object_get(r.json, "items");
	int64_t want_ids[] = {id, id2, id3, id4};
	if (json_array_size(items) != 4)
		fail_msg("GET /feeds: got %zu feeds, want 4: %s", json_array_size(items), r.body);
	for (size_t i = 0; i < 4; i++)
		if (jint(json_array_get(items, i), "id") != want_ids[i])
			fail_msg("GET /feeds: item %zu has id %lld, want %lld", i,
			         (long long)jint(json_array_get(items, i), "id"),
			         (long long)want_ids[i]);
	assert_int_equal(json_array_size(json_object_get(json_array_get(items, 0), "lists")), 2);
	reply_free(&r);

	/* Unknown ids: 404 for each operation. */
	static const char *const methods[] = {"GET", "DELETE", "POST"};
	for (size_t i = 0; i < 3; i++) {
		char what[200];
		snprintf(path, sizeof(path), "/api/v1/feeds/999999%s", i == 2 ? "/poll" : "");
		snprintf(what, sizeof(what), "%s %s", methods[i], path);
		call(methods[i], path, tok_editor, i == 2 ? "{}" : NULL, &r);
		want_problem(&r, 404, "not-found", what);
		reply_free(&r);
	}
	call("GET", "/api/v1/feeds/abc", tok_viewer, NULL, &r);
	want_problem(&r, 404, "not-found", "GET /feeds/abc");
	reply_free(&r);

	/* Delete: 204, then 404; audited once, naming the URL. */
	int64_t gone[] = {id2, id3, id4};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/api/v1/feeds/%lld", (long long)gone[i]);
		call("DELETE", path, tok_editor, NULL, &r);
		tl_want_status(&r, 204, "DELETE /feeds/ID");
		reply_free(&r);
		call("DELETE", path, tok_editor, NULL, &r);
		want_problem(&r, 404, "not-found", "DELETE /feeds/ID again");
		reply_free(&r);
		call("GET", path, tok_viewer, NULL, &r);
		want_problem(&r, 404, "not-found", "GET a deleted feed");
		reply_free(&r);
		if (audit_count("feed.rm", gone[i], detail, sizeof(detail)) != 1 ||
		    !strstr(detail, "feeds.example.org"))
			fail_msg(
			    "feed.rm of %lld: got detail \"%s\", want one entry naming the URL",
			    (long long)gone[i], detail);
	}
	call("GET", "/api/v1/feeds", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /feeds after the deletes");
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	reply_free(&r);
	/* The URL of a deleted feed can be added again. */
	int64_t again = add_feed("{\"url\":\"https://feeds.example.org/min.xml\",\"lists\":"
	                         "[\"other\"]}");
	if (again == id3)
		fail_msg("a feed added again got the deleted feed's id %lld", (long long)id3);
	snprintf(path, sizeof(path), "/api/v1/feeds/%lld", (long long)again);
	call("DELETE", path, tok_editor, NULL, &r);
	tl_want_status(&r, 204, "DELETE the feed added again");
	reply_free(&r);
	(void)state;
}

/* POST /feeds/ID/poll as the editor: the report (200 wanted); json_decref it. */
static json_t *poll_feed(int64_t id)
{
	struct reply r;
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/feeds/%lld/poll", (long long)id);
	call("POST", path, tok_editor, "{}", &r);
	tl_want_status(&r, 200, path);
	json_t *o = json_incref(r.json);
	reply_free(&r);
	if (!o)
		fail_msg("POST %s: no JSON", path);
	return o;
}

/* @o's members are @want (a compact JSON object of the members to compare). */
static void want_members(const char *what, json_t *o, const char *want)
{
	json_error_t err;
	json_t *w = json_loads(want, 0, &err);
	const char *k;
	json_t *v;
	assert_non_null(w);
	json_object_foreach(w, k, v)
	{
		if (!json_equal(json_object_get(o, k), v)) {
			char *got = json_dumps(o, JSON_COMPACT);
			fail_msg("%s: member %s: got %s, want %s", what, k, got, want);
		}
	}
	json_decref(w);
}

/* Polls against tests/feed/fixture_server.py on 127.0.0.1 (feed_allow_private on). */
static void test_feed_poll(void **state)
{
	struct reply r;
	char body[512], path[128], detail[512];
	tl_feeds_write(&feeds, "news.rss", rss_v1, (long)time(NULL) - 3600);
	snprintf(body, sizeof(body),
	         "{\"url\":\"http://127.0.0.1:%d/f/news.rss\",\"lists\":[\"news\"]}", feeds.port);
	int64_t id = add_feed(body);

	/* The first poll marks what is there as seen: no backlog, no post. */
	json_t *o = poll_feed(id);
	want_members("first poll", o,
	             "{\"ok\":true,\"not_modified\":false,\"items\":1,\"new_items\":1,"
	             "\"posts\":0,\"error\":null}");
	if (jint(o, "id") != id || !json_is_string(json_object_get(o, "next_poll_at")))
		fail_msg("first poll: want the feed's id and next_poll_at: %s",
		         json_dumps(o, JSON_COMPACT));
	json_decref(o);
	snprintf(path, sizeof(path), "/api/v1/feeds/%lld", (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET the polled feed");
	want_members("after the first poll", r.json,
	             "{\"title\":\"Fixture news\",\"items\":1,\"posts\":0,\"failures\":0,"
	             "\"last_error\":\"\"}");
	if (!json_is_string(json_object_get(r.json, "last_ok_at")) ||
	    !json_is_string(json_object_get(r.json, "last_poll_at")))
		fail_msg("after the first poll: want last_ok_at and last_poll_at: %s", r.body);
	reply_free(&r);

	/* Unchanged: 304, nothing new. */
	o = poll_feed(id);
	want_members("an unchanged feed", o,
	             "{\"ok\":true,\"not_modified\":true,\"new_items\":0,\"posts\":0}");
	json_decref(o);

	/* A new item: one post, to the feed's list, scheduled (mode send). */
	tl_feeds_write(&feeds, "news.rss", rss_v2, (long)time(NULL) - 60);
	o = poll_feed(id);
	want_members("a changed feed", o,
	             "{\"ok\":true,\"not_modified\":false,\"items\":2,\"new_items\":1,"
	             "\"posts\":1,\"error\":null}");
	json_decref(o);
	call("GET", "/api/v1/posts?limit=1", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /posts");
	json_t *p = json_array_get(json_object_get(r.json, "items"), 0);
	want_members("the feed's post", p,
	             "{\"subject\":\"Two\",\"status\":\"scheduled\",\"lists\":[\"news\"]}");
	reply_free(&r);
	call("GET", path, tok_viewer, NULL, &r);
	want_members("after the second poll", r.json, "{\"items\":2,\"posts\":1,\"failures\":0}");
	reply_free(&r);
	if (audit_count("feed.poll", id, detail, sizeof(detail)) != 3 || strcmp(detail, "ok"))
		fail_msg("feed.poll: got %d entries, the last \"%s\"; want 3, the last \"ok\"",
		         audit_count("feed.poll", id, NULL, 0), detail);

	/* A feed whose server answers 503: the poll answers 200 with ok false and
	 * the error, which the feed keeps with its failure count. */
	snprintf(body, sizeof(body),
	         "{\"url\":\"http://127.0.0.1:%d/status/503\",\"lists\":[\"news\"]}", feeds.port);
	int64_t bad = add_feed(body);
	o = poll_feed(bad);
	want_members("a 503 feed", o, "{\"ok\":false,\"posts\":0,\"new_items\":0}");
	const char *err = json_string_value(json_object_get(o, "error"));
	if (!err || !strstr(err, "503"))
		fail_msg("a 503 feed: got error %s, want one naming 503",
		         json_dumps(o, JSON_COMPACT));
	char err1[512];
	snprintf(err1, sizeof(err1), "%s", err);
	json_decref(o);
	snprintf(path, sizeof(path), "/api/v1/feeds/%lld", (long long)bad);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET the failing feed");
	if (jint(r.json, "failures") != 1 || strcmp(jstr(&r, "last_error"), err1) != 0 ||
	    !json_is_null(json_object_get(r.json, "last_ok_at")) ||
	    !json_is_string(json_object_get(r.json, "last_poll_at")))
		fail_msg("failing feed: got %s, want failures 1, last_error \"%s\", "
		         "last_ok_at null",
		         r.body, err1);
	reply_free(&r);
	o = poll_feed(bad);
	json_decref(o);
	call("GET", path, tok_viewer, NULL, &r);
	if (jint(r.json, "failures") != 2)
		fail_msg("failing feed after two polls: got %s, want failures 2", r.body);
	reply_free(&r);
	if (audit_count("feed.poll", bad, detail, sizeof(detail)) != 2 || !strstr(detail, "503"))
		fail_msg("feed.poll of the failing feed: got detail \"%s\", want the error",
		         detail);
	/* A viewer cannot poll. */
	snprintf(path, sizeof(path), "/api/v1/feeds/%lld/poll", (long long)bad);
	call("POST", path, tok_viewer, "{}", &r);
	want_problem(&r, 403, "forbidden", "POST /feeds/ID/poll as viewer");
	reply_free(&r);
	(void)state;
}

/* Failed authentications from one address end in 429 with Retry-After. */
/* Every entry the API wrote names its target ("list:SLUG", "post:ID", ...)
 * and says what happened in a short detail. Runs after the writes above. */
static void test_audit_targets(void **state)
{
	static const char *const kinds[] = {
	    "list:", "post:", "subscriber:", "user:", "token:", "import:", "feed:"};
	struct reply r;
	call("GET", "/api/v1/audit?limit=1000", tok_admin, NULL, &r);
	tl_want_status(&r, 200, "GET /audit");
	json_t *items = json_object_get(r.json, "items");
	if (json_array_size(items) < 20)
		fail_msg("got %zu audit entries, want the writes of the tests before (20 or more)",
		         json_array_size(items));
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *e = json_array_get(items, i);
		const char *action = json_string_value(json_object_get(e, "action"));
		const char *target = json_string_value(json_object_get(e, "target"));
		const char *detail = json_string_value(json_object_get(e, "detail"));
		int kind = 0;
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			kind |= strncmp(target, kinds[k], strlen(kinds[k])) == 0 &&
			        target[strlen(kinds[k])] != '\0';
		if (!kind || !*detail || strlen(detail) > 200 || strstr(detail, target))
			fail_msg("audit %s: got target \"%s\", detail \"%s\"; want a target "
			         "such as list:SLUG or post:ID, and a short detail that does not "
			         "repeat it",
			         action, target, detail);
	}
	reply_free(&r);
	(void)state;
}

static void test_auth_budget(void **state)
{
	int got429 = 0;
	for (int i = 0; i < 200 && !got429; i++) {
		struct reply r;
		call("GET", "/api/v1/lists", "blt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
		     NULL, &r);
		if (r.status == 429) {
			want_problem(&r, 429, "too-many-requests", "many bad tokens");
			char ra[32];
			assert_true(atoi(header(&r, "Retry-After", ra, sizeof(ra))) >= 1);
			got429 = 1;
		} else {
			want_problem(&r, 401, "unauthorized", "a bad token");
		}
		reply_free(&r);
	}
	assert_true(got429);
	/* A good token still works from there. */
	struct reply r;
	call("GET", "/api/v1/lists", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "a good token after the budget is spent");
	reply_free(&r);
}

/* ---- security review (issue 5) ---- */

/* The token after @marker ("/unsubscribe/") in @text into @out (base64url
 * characters only); fails @what when there is none. */
static void token_after(const char *text, const char *marker, char *out, size_t n, const char *what)
{
	const char *p = text ? strstr(text, marker) : NULL;
	if (!p)
		fail_msg("%s: no %s link in: %.600s", what, marker, text ? text : "(none)");
	p += strlen(marker);
	size_t k = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
	if (k == 0 || k >= n)
		fail_msg("%s: got a %s token of %zu characters", what, marker, k);
	snprintf(out, n, "%.*s", (int)k, p);
}

/* The status of @sub_id's subscription to @slug ("(none)" without one). */
static const char *subscription_status(int64_t sub_id, const char *slug, char *out, size_t n)
{
	char path[128];
	struct reply r;
	snprintf(path, sizeof(path), "/api/v1/subscribers/%lld", (long long)sub_id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, path);
	snprintf(out, n, "(none)");
	json_t *subs = json_object_get(r.json, "subscriptions");
	for (size_t i = 0; i < json_array_size(subs); i++) {
		json_t *x = json_array_get(subs, i);
		if (strcmp(json_string_value(json_object_get(x, "list")), slug) == 0)
			snprintf(out, n, "%s", json_string_value(json_object_get(x, "status")));
	}
	if (strcmp(json_string_value(json_object_get(r.json, "status")), "active") != 0)
		fail_msg("subscriber %lld: got status %s, want active", (long long)sub_id,
		         json_string_value(json_object_get(r.json, "status")));
	reply_free(&r);
	return out;
}

/* A preview's links look real but do nothing: signed with a throwaway key,
 * the public pages refuse them as they refuse any bad link (404), and the
 * subscriber previewed is not changed. */
static void test_preview_links_dead(void **state)
{
	int64_t sub = add_subscriber("previewed@example.com", ",\"lists\":[\"news\"],"
	                                                      "\"confirmed\":true");
	int64_t post =
	    create_post("{\"subject\":\"Preview me\",\"body\":\"Hello.\",\"lists\":[\"news\"]}");
	char path[128], st[32];
	assert_string_equal(subscription_status(sub, "news", st, sizeof(st)), "confirmed");
	snprintf(path, sizeof(path), "/api/v1/posts/%lld/preview", (long long)post);
	static const char *const formats[] = {"text", "html", "eml"};
	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		struct reply r;
		char body[128], what[96], unsub[BL_TOKEN_LEN + 8], prefs[BL_TOKEN_LEN + 8];
		snprintf(body, sizeof(body), "{\"format\":\"%s\",\"to\":\"previewed@example.com\"}",
		         formats[f]);
		snprintf(what, sizeof(what), "a viewer's %s preview", formats[f]);
		call("POST", path, tok_viewer, body, &r);
		tl_want_status(&r, 200, what);
		token_after(r.body, "/unsubscribe/", unsub, sizeof(unsub), what);
		if (strcmp(formats[f], "eml") != 0) /* quoted-printable may cut it in eml */
			token_after(r.body, "/preferences/", prefs, sizeof(prefs), what);
		else
			prefs[0] = '\0';
		reply_free(&r);
		static const struct {
			const char *method, *page, *action, *body;
		} tries[] = {
		    {"GET", "/unsubscribe/", "", NULL},
		    {"POST", "/unsubscribe/", "", "List-Unsubscribe=One-Click"},
		    {"POST", "/unsubscribe/", "", "confirm=1"},
		    {"GET", "/preferences/", "", NULL},
		    {"GET", "/preferences/", "/data", NULL},
		    {"POST", "/preferences/", "/erase", "confirm=1"},
		};
		for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
			const char *tok = strstr(tries[i].page, "unsub") ? unsub : prefs;
			char p2[256], w2[400];
			if (!*tok)
				continue;
			snprintf(p2, sizeof(p2), "%s%s%s", tries[i].page, tok, tries[i].action);
			snprintf(w2, sizeof(w2), "%s: %s %s", what, tries[i].method, p2);
			call_raw(tries[i].method, p2, "",
			         tries[i].body ? "application/x-www-form-urlencoded" : NULL,
			         tries[i].body, tries[i].body ? strlen(tries[i].body) : 0, &r);
			tl_want_status(&r, 404, w2);
			reply_free(&r);
		}
		if (strcmp(subscription_status(sub, "news", st, sizeof(st)), "confirmed") != 0)
			fail_msg("%s: the subscription is %s after its links were used, want "
			         "confirmed",
			         what, st);
	}
}

/* The pointer of @r's first field error. */
static const char *first_pointer(const struct reply *r)
{
	const char *v = json_string_value(
	    json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "pointer"));
	return v ? v : "(none)";
}

static void want_field(const struct reply *r, const char *pointer, const char *words,
                       const char *what)
{
	want_problem(r, 422, "validation", what);
	if (strcmp(first_pointer(r), pointer) != 0)
		fail_msg("%s: got pointer %s, want %s", what, first_pointer(r), pointer);
	if (words && !strstr(jstr(r, "detail"), words))
		fail_msg("%s: got detail \"%s\", want one saying \"%s\"", what, jstr(r, "detail"),
		         words);
}

/* The newest post's id (0: none). */
static int64_t newest_post(void)
{
	struct reply r;
	call("GET", "/api/v1/posts?limit=1", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /posts?limit=1");
	json_t *items = json_object_get(r.json, "items");
	int64_t id = json_array_size(items) ? jint(json_array_get(items, 0), "id") : 0;
	reply_free(&r);
	return id;
}

/* Scheduling through the API refuses what `post create --at`, `--from` and
 * `post send` refuse: a time in the past, a sender that is not one mailbox,
 * and a post that could not go out (the check `send` makes), each a 422
 * naming its field, with nothing written. */
static void test_schedule_checks(void **state)
{
	struct reply r;
	char path[128], sched[160];
	int64_t id = create_post("{\"subject\":\"When\",\"body\":\"x\",\"lists\":[\"news\"]}");
	snprintf(path, sizeof(path), "/api/v1/posts/%lld", (long long)id);
	snprintf(sched, sizeof(sched), "%s/schedule", path);

	/* In the past. */
	call("POST", sched, tok_editor, "{\"at\":\"2001-01-01T00:00:00Z\"}", &r);
	want_field(&r, "/at", "in the past", "schedule in 2001");
	reply_free(&r);
	call("POST", "/api/v1/posts", tok_editor,
	     "{\"subject\":\"s\",\"body\":\"x\",\"lists\":[\"news\"],\"scheduled_at\":"
	     "\"2001-01-01T00:00:00Z\"}",
	     &r);
	want_field(&r, "/scheduled_at", "in the past", "create scheduled in 2001");
	reply_free(&r);
	call("PATCH", path, tok_editor, "{\"scheduled_at\":\"2001-01-01T00:00:00Z\"}", &r);
	want_field(&r, "/scheduled_at", "in the past", "PATCH scheduled_at 2001");
	reply_free(&r);
	call("GET", path, tok_viewer, NULL, &r);
	assert_string_equal(jstr(&r, "status"), "draft");
	reply_free(&r);

	/* The sender, as `post create --from` checks it. */
	static const char *const bad_from[] = {
	    "a@bulletin.test, b@bulletin.test",
	    "A <a@bulletin.test>, B <b@bulletin.test>",
	    "Name <not an address>",
	    "no-at-sign",
	    "Bell\\u0007 <a@bulletin.test>",
	    "Line\\u2028Break <a@bulletin.test>",
	};
	for (size_t i = 0; i < sizeof(bad_from) / sizeof(bad_from[0]); i++) {
		char body[400], what[300];
		snprintf(body, sizeof(body),
		         "{\"subject\":\"s\",\"body\":\"x\",\"lists\":[\"news\"],\"from\":\"%s\"}",
		         bad_from[i]);
		snprintf(what, sizeof(what), "create with from %s", bad_from[i]);
		call("POST", "/api/v1/posts", tok_editor, body, &r);
		want_field(&r, "/from", NULL, what);
		reply_free(&r);
		snprintf(body, sizeof(body), "{\"from\":\"%s\"}", bad_from[i]);
		snprintf(what, sizeof(what), "PATCH from %s", bad_from[i]);
		call("PATCH", path, tok_editor, body, &r);
		want_field(&r, "/from", NULL, what);
		reply_free(&r);
	}
	{
		char body[700], big[520];
		memset(big, 'n', 501 - 18);
		snprintf(big + 501 - 18, sizeof(big) - (501 - 18), " <a@bulletin.test>");
		snprintf(body, sizeof(body), "{\"from\":\"%s\"}", big);
		call("PATCH", path, tok_editor, body, &r);
		want_field(&r, "/from", NULL, "PATCH from of 501 bytes");
		reply_free(&r);
	}
	call("PATCH", path, tok_editor, "{\"from\":\"Desk <desk@bulletin.test>\"}", &r);
	tl_want_status(&r, 200, "PATCH a good from");
	assert_string_equal(jstr(&r, "from"), "Desk <desk@bulletin.test>");
	reply_free(&r);

	/* The check before sending: a relay that cannot be used, then no sender. */
	static const struct {
		const char *key, *value, *pointer;
	} broken[] = {
	    {"relay", "gopher://relay.invalid", ""},
	    {"from", "", "/from"},
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char saved[512], what[128];
		snprintf(saved, sizeof(saved), "%s", bl_config_str(cfg, broken[i].key));
		set(broken[i].key, broken[i].value);
		int64_t draft =
		    create_post("{\"subject\":\"Draft\",\"body\":\"x\",\"lists\":[\"news\"]}");
		int64_t before = draft;
		char dpath[128], dsched[160];
		snprintf(dpath, sizeof(dpath), "/api/v1/posts/%lld", (long long)draft);
		snprintf(dsched, sizeof(dsched), "%s/schedule", dpath);
		snprintf(what, sizeof(what), "schedule with %s \"%s\"", broken[i].key,
		         broken[i].value);
		call("POST", dsched, tok_editor, "{\"at\":\"2099-01-01T00:00:00Z\"}", &r);
		want_field(&r, broken[i].pointer, NULL, what);
		reply_free(&r);
		snprintf(what, sizeof(what), "PATCH scheduled_at with %s \"%s\"", broken[i].key,
		         broken[i].value);
		call("PATCH", dpath, tok_editor, "{\"scheduled_at\":\"2099-01-01T00:00:00Z\"}", &r);
		want_field(&r, broken[i].pointer, NULL, what);
		reply_free(&r);
		call("GET", dpath, tok_viewer, NULL, &r);
		if (strcmp(jstr(&r, "status"), "draft") != 0 ||
		    !json_is_null(json_object_get(r.json, "scheduled_at")))
			fail_msg("%s: got status %s, want an unscheduled draft", what,
			         jstr(&r, "status"));
		reply_free(&r);
		snprintf(what, sizeof(what), "create scheduled with %s \"%s\"", broken[i].key,
		         broken[i].value);
		call("POST", "/api/v1/posts", tok_editor,
		     "{\"subject\":\"s\",\"body\":\"x\",\"lists\":[\"news\"],\"scheduled_at\":"
		     "\"2099-01-01T00:00:00Z\"}",
		     &r);
		want_field(&r, broken[i].pointer, NULL, what);
		reply_free(&r);
		if (newest_post() != before)
			fail_msg("%s: a post was created (newest %lld, want %lld)", what,
			         (long long)newest_post(), (long long)before);
		set(broken[i].key, saved);
	}
	/* Fixed: the same schedule goes through. */
	call("POST", sched, tok_editor, "{\"at\":\"2099-01-01T00:00:00Z\"}", &r);
	tl_want_status(&r, 200, "schedule once the configuration is right");
	assert_string_equal(jstr(&r, "status"), "scheduled");
	reply_free(&r);
}

/* A JSON string member "body" of @n bytes of 'a' in a post object. */
static char *post_json(const char *prefix, size_t n, size_t *len)
{
	size_t pl = strlen(prefix);
	char *b = bl_xmalloc(pl + n + 64);
	memcpy(b, prefix, pl);
	memcpy(b + pl, "\"body\":\"", 8);
	memset(b + pl + 8, 'a', n);
	memcpy(b + pl + 8 + n, "\"}", 3);
	*len = pl + 8 + n + 2;
	return b;
}

/* Whether @hay holds @needle, ASCII case ignored. */
static int ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* Connects to the server, sends @head (a request's header block, no body)
 * and returns the status of the answer it gets within 10 s (0: none); the
 * answer (up to @n - 1 bytes) goes to @out. */
static int headers_only(const char *head, char *out, size_t n)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		fail_msg("connect to 127.0.0.1:%d failed", port);
	if (write(fd, head, strlen(head)) != (ssize_t)strlen(head))
		fail_msg("short write of the header block");
	size_t got = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	/* Until the server closes (it does after an answer made before the body). */
	while (got + 1 < n && poll(&p, 1, 10000) == 1) {
		ssize_t k = read(fd, out + got, n - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	out[got] = '\0';
	close(fd);
	int status = 0;
	if (got >= 12 && strncmp(out, "HTTP/1.1 ", 9) == 0)
		status = atoi(out + 9);
	return status;
}

/* A post's Markdown may be BL_BODY_MAX bytes, more than the server's 64 KiB
 * once in JSON: POST and PATCH /posts take it, from an editor; the decoded
 * body's own limit answers 422; nobody else gets to send a large body (the
 * gate answers on the headers alone). */
static void test_post_body_size(void **state)
{
	struct reply r;
	size_t len;
	char *b = post_json("{\"subject\":\"Long\",\"lists\":[\"news\"],", 200000, &len);
	call_raw("POST", "/api/v1/posts", tok_editor, "application/json", b, len, &r);
	tl_want_status(&r, 201, "POST /posts with a 200 KB body");
	int64_t id = jint(r.json, "id");
	reply_free(&r);
	free(b);
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/posts/%lld", (long long)id);
	b = post_json("{", 300000, &len);
	call_raw("PATCH", path, tok_editor, "application/json", b, len, &r);
	tl_want_status(&r, 200, "PATCH /posts/ID with a 300 KB body");
	if (strlen(jstr(&r, "body")) != 300000)
		fail_msg("PATCH 300 KB: got a body of %zu bytes, want 300000",
		         strlen(jstr(&r, "body")));
	reply_free(&r);
	free(b);
	/* Near BL_BODY_MAX (the HTML the Markdown becomes must fit a template too: a
	 * paragraph adds 8 bytes), and one byte over it. */
	b = post_json("{", ((size_t)1 << 20) - 64, &len);
	call_raw("PATCH", path, tok_editor, "application/json", b, len, &r);
	tl_want_status(&r, 200, "PATCH /posts/ID with a body of BL_BODY_MAX - 64 bytes");
	reply_free(&r);
	free(b);
	b = post_json("{\"subject\":\"Too long\",\"lists\":[\"news\"],", ((size_t)1 << 20) + 1,
	              &len);
	call_raw("POST", "/api/v1/posts", tok_editor, "application/json", b, len, &r);
	want_field(&r, "/body", NULL, "POST /posts with BL_BODY_MAX + 1 bytes of body");
	reply_free(&r);
	free(b);
	/* Other writes keep the server's 64 KiB. */
	b = post_json("{\"name\":\"x\",", 70000, &len);
	call_raw("PATCH", "/api/v1/lists/news", tok_editor, "application/json", b, len, &r);
	want_problem(&r, 413, NULL, "PATCH /lists/news with 70 KB");
	reply_free(&r);
	free(b);
	/* Without credentials the answer comes on the headers alone. */
	static const struct {
		const char *head;
		int want;
	} raw[] = {
	    {"POST /api/v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	     "Content-Length: 200000\r\n\r\n",
	     401},
	    {"PATCH /api/v1/posts/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	     "Content-Length: 200000\r\n\r\n",
	     401},
	    {"POST /api/v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n",
	     401},
	    {"POST /api/v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	     "Authorization: Bearer blt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
	     "Content-Length: 200000\r\n\r\n",
	     401},
	};
	char ans[4096];
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		int got = headers_only(raw[i].head, ans, sizeof(ans));
		if (got != raw[i].want)
			fail_msg("headers only, case %zu: got status %d, want %d (0: no answer "
			         "before the body): %.300s",
			         i, got, raw[i].want, ans);
		if (!ci_contains(ans, "\r\nContent-Type: application/problem+json") ||
		    !ci_contains(ans, "\r\nWWW-Authenticate: Bearer") ||
		    !strstr(ans, "\"status\":401"))
			fail_msg("headers only, case %zu: got %.600s, want a 401 problem with "
			         "WWW-Authenticate",
			         i, ans);
	}
	char head[512];
	snprintf(head, sizeof(head),
	         "POST /api/v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	         "Authorization: Bearer %s\r\nContent-Length: 200000\r\n\r\n",
	         tok_viewer);
	int got = headers_only(head, ans, sizeof(ans));
	if (got != 403 || !strstr(ans, "\"status\":403"))
		fail_msg("headers only, a viewer's token: got %.600s, want a 403 problem", ans);
}

/* Ids in paths are canonical decimal: one resource, one path. */
static void test_canonical_ids(void **state)
{
	int64_t sub = add_subscriber("canonical@example.com", NULL);
	int64_t post = create_post("{\"subject\":\"Ids\",\"body\":\"x\",\"lists\":[\"news\"]}");
	static const struct {
		const char *before, *after; /* around the id */
		const char *what;
		int sub; /* a subscriber's id, else the post's */
	} bad[] = {
	    {"/api/v1/subscribers/+", "", "a sign", 1},
	    {"/api/v1/subscribers/%20", "", "a leading blank", 1},
	    {"/api/v1/subscribers/", "%20", "a trailing blank", 1},
	    {"/api/v1/subscribers/0", "", "a leading zero", 1},
	    {"/api/v1/subscribers/00", "/subscriptions", "leading zeros", 1},
	    {"/api/v1/posts/+", "", "a sign", 0},
	    {"/api/v1/posts/0", "/status", "a leading zero", 0},
	    {"/api/v1/posts/%2B", "", "an encoded sign", 0},
	    {"/api/v1/posts/", ".0", "a decimal point", 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[128], what[200];
		struct reply r;
		snprintf(path, sizeof(path), "%s%lld%s", bad[i].before,
		         (long long)(bad[i].sub ? sub : post), bad[i].after);
		snprintf(what, sizeof(what), "GET %s (%s)", path, bad[i].what);
		call("GET", path, tok_viewer, NULL, &r);
		want_problem(&r, 404, "not-found", what);
		reply_free(&r);
	}
	static const char *const nothing[] = {
	    "/api/v1/subscribers/0",
	    "/api/v1/subscribers/-1",
	    "/api/v1/subscribers/9223372036854775808",
	    "/api/v1/imports/+1",
	    "/api/v1/imports/01",
	};
	for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
		struct reply r;
		call("GET", nothing[i], tok_viewer, NULL, &r);
		want_problem(&r, 404, "not-found", nothing[i]);
		reply_free(&r);
	}
	/* The canonical form answers. */
	char path[128];
	struct reply r;
	snprintf(path, sizeof(path), "/api/v1/subscribers/%lld", (long long)sub);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, path);
	reply_free(&r);
	snprintf(path, sizeof(path), "/api/v1/posts/%lld/status", (long long)post);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, path);
	reply_free(&r);
}

/* Errors the HTTP core answers before the dispatcher are problems on API
 * paths: a malformed path is a 400 problem; a method the server knows no
 * route for is the endpoint's 405, with the endpoint's own Allow. */
static void test_errors_before_handler(void **state)
{
	static const char *const bad_paths[] = {
	    "/api/v1/lists/news%zz",
	    "/api/v1/lists/news%00",
	    "/api/v1/lists/news%2",
	    "/api/v1/posts/1%00/send",
	    "/api/v1/%",
	};
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		struct reply r;
		char what[160];
		snprintf(what, sizeof(what), "GET %s", bad_paths[i]);
		call("GET", bad_paths[i], tok_viewer, NULL, &r);
		want_problem(&r, 400, NULL, what);
		reply_free(&r);
		snprintf(what, sizeof(what), "POST %s with a body", bad_paths[i]);
		call("POST", bad_paths[i], tok_editor, "{}", &r);
		want_problem(&r, 400, NULL, what);
		reply_free(&r);
	}
	/* Outside the API, the plain answer stays. */
	struct reply r;
	char ct[128];
	call("GET", "/confirm/x%zz", "", NULL, &r);
	tl_want_status(&r, 400, "GET /confirm/x%zz");
	if (strncmp(header(&r, "Content-Type", ct, sizeof(ct)), "text/plain", 10) != 0)
		fail_msg("GET /confirm/x%%zz: got Content-Type %s, want text/plain", ct);
	reply_free(&r);

	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
	    {"OPTIONS", "/api/v1/lists", "GET, HEAD, POST"},
	    {"OPTIONS", "/api/v1/lists/news", "GET, HEAD, PATCH, DELETE"},
	    {"TRACE", "/api/v1/posts/1/send", "POST"},
	    {"OPTIONS", "/api/v1/posts", "GET, HEAD, POST"},
	    {"OPTIONS", "/api/v1/posts/1", "GET, HEAD, PATCH"},
	    {"OPTIONS", "/api/v1/imports", "GET, HEAD, POST"},
	    {"BREW", "/api/v1/subscribers/1/subscriptions/news", "PUT, DELETE"},
	    {"OPTIONS", "/api/v1/openapi.json", "GET, HEAD"},
	    {"PUT", "/api/v1/posts/1", "GET, HEAD, PATCH"},
	    {"DELETE", "/api/v1/imports", "GET, HEAD, POST"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[160], allow[128];
		snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
		call(cases[i].method, cases[i].path, tok_admin, NULL, &r);
		want_problem(&r, 405, "method-not-allowed", what);
		if (strcmp(header(&r, "Allow", allow, sizeof(allow)), cases[i].allow) != 0)
			fail_msg("%s: got Allow \"%s\", want \"%s\"", what, allow, cases[i].allow);
		reply_free(&r);
		/* With a body too (answered before it is read). */
		call(cases[i].method, cases[i].path, tok_admin, "{}", &r);
		want_problem(&r, 405, "method-not-allowed", what);
		if (strcmp(header(&r, "Allow", allow, sizeof(allow)), cases[i].allow) != 0)
			fail_msg("%s with a body: got Allow \"%s\", want \"%s\"", what, allow,
			         cases[i].allow);
		reply_free(&r);
	}
	/* No endpoint at the path: the dispatcher's 404, whatever the method. */
	call("OPTIONS", "/api/v1/nope", tok_admin, NULL, &r);
	want_problem(&r, 404, "no-route", "OPTIONS /api/v1/nope");
	reply_free(&r);
}

/* ---- bounces and complaints (issue 7) ---- */

/* Records finding @key of @cls for subscriber @sub of post @post (0/0: the review bucket). */
static void record_bounce(const char *key, enum bl_bounce_class cls, int final, int64_t post,
                          int64_t sub, const char *recipient, const char *diagnostic)
{
	struct bl_bounce_policy pol = {.hard_limit = 1, .soft_limit = 5, .soft_window = 30 * 86400};
	struct bl_bounce_event ev = {
	    .report_key = key,
	    .source = "pipe",
	    .kind = cls == BL_BOUNCE_COMPLAINT ? "arf" : "dsn",
	    .cls = cls,
	    .reason = "",
	    .status = cls == BL_BOUNCE_HARD ? "5.1.1" : "",
	    .reply_code = cls == BL_BOUNCE_HARD ? 550 : 0,
	    .final = final,
	    .recipient = recipient,
	    .diagnostic = diagnostic,
	    .feedback_type = cls == BL_BOUNCE_COMPLAINT ? "abuse" : "",
	    .post_id = post,
	    .subscriber_id = sub,
	    .attributed_by = sub ? "verp" : "",
	    .review = sub ? "" : "no VERP token and no bulletin Message-ID in the report",
	};
	struct bl_bounce_outcome o;
	if (db->ops->bounce_record(db, &ev, &pol, bl_now(), &o))
		fail_msg("bounce_record %s: %s", key, bl_store_error(db));
}

/* The ids of the findings GET @path lists, in order, as "3 2 1 "; *@next the cursor. */
static void bounce_ids(const char *path, char *out, size_t size, int64_t *next)
{
	struct reply r;
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, path);
	json_t *items = json_object_get(r.json, "items"), *it;
	size_t i;
	out[0] = '\0';
	json_array_foreach(items, i, it)
	{
		size_t n = strlen(out);
		snprintf(out + n, size - n, "%lld ", (long long)jint(it, "id"));
	}
	json_t *nx = json_object_get(r.json, "next");
	*next = json_is_integer(nx) ? json_integer_value(nx) : 0;
	reply_free(&r);
}

static void test_bounces(void **state)
{
	struct reply r;
	char path[256];
	call("POST", "/api/v1/lists", tok_editor,
	     "{\"slug\":\"bnc\",\"name\":\"Bounce test\",\"optin\":\"single\"}", &r);
	tl_want_status(&r, 201, "POST /lists bnc");
	reply_free(&r);
	int64_t sub[4];
	for (int i = 0; i < 4; i++) {
		char email[64];
		snprintf(email, sizeof(email), "bnc%d@example.net", i);
		sub[i] = add_subscriber(email, ",\"lists\":[\"bnc\"],\"confirmed\":true");
	}
	int64_t id =
	    create_post("{\"subject\":\"Bounce test\",\"body\":\"Hi\",\"lists\":[\"bnc\"]}");
	post_action(id, "send", NULL, 200, "sending");
	struct bl_engine_opts eo = {.store = db, .config = cfg, .once = 1};
	struct bl_diag d;
	if (bl_engine_run(&eo, NULL, &d))
		fail_msg("engine: %s", d.msg);

	/* Delivered, nothing back yet: zero counts and rates, no warning. */
	snprintf(path, sizeof(path), "/api/v1/posts/%lld/status", (long long)id);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET status before bounces");
	json_t *b = json_object_get(r.json, "bounces");
	assert_int_equal(jint(b, "delivered"), 4);
	assert_int_equal(jint(b, "hard"), 0);
	assert_true(json_real_value(json_object_get(b, "complaint_rate")) == 0);
	assert_int_equal(json_array_size(json_object_get(b, "warnings")), 0);
	reply_free(&r);

	/* A complaint, a hard bounce, a soft one, a delay warning (never counted), and a
	 * hostile report nobody can attribute (the review bucket). */
	record_bounce("k-complaint", BL_BOUNCE_COMPLAINT, 1, id, sub[0], "bnc0@example.net", "");
	record_bounce("k-hard", BL_BOUNCE_HARD, 1, id, sub[1], "bnc1@example.net",
	              "550 5.1.1 <bnc1@example.net>: user unknown");
	record_bounce("k-soft", BL_BOUNCE_SOFT, 1, id, sub[2], "bnc2@example.net", "mailbox full");
	record_bounce("k-delay", BL_BOUNCE_SOFT, 0, id, sub[3], "bnc3@example.net", "delayed");
	/* Bytes that are not UTF-8 are kept by SQLite and shown as U+FFFD; PostgreSQL refuses
	 * them in bounce_record (a store matter: see the report), so it gets valid text. */
	int pg = strcmp(BL_TEST_BACKEND, "postgres") == 0;
	const char *hostile_diag =
	    pg ? "550 not UTF-8 <b>bold</b>" : "550 \xff\xfe not UTF-8 <b>bold</b>";
	const char *want_diag =
	    pg ? hostile_diag : "550 \xef\xbf\xbd\xef\xbf\xbd not UTF-8 <b>bold</b>";
	record_bounce("k-review", BL_BOUNCE_HARD, 1, 0, 0, "<script>alert(1)</script>@evil.example",
	              hostile_diag);

	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET status after bounces");
	b = json_object_get(r.json, "bounces");
	static const struct {
		const char *key;
		int64_t want;
	} counts[] = {{"hard", 1},       {"soft", 1},    {"block", 0},    {"complaint", 1},
	              {"auto-reply", 0}, {"unknown", 0}, {"delivered", 4}};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (jint(b, counts[i].key) != counts[i].want)
			fail_msg("bounces.%s: got %lld, want %lld", counts[i].key,
			         (long long)jint(b, counts[i].key), (long long)counts[i].want);
	if (json_real_value(json_object_get(b, "hard_rate")) != 0.25 ||
	    json_real_value(json_object_get(b, "complaint_rate")) != 0.25)
		fail_msg("rates: got %s, want 0.25 and 0.25", r.body);
	json_t *w = json_object_get(b, "warnings");
	if (json_array_size(w) != 2 ||
	    strcmp(json_string_value(json_object_get(json_array_get(w, 0), "kind")), "complaint") ||
	    strcmp(json_string_value(json_object_get(json_array_get(w, 1), "kind")), "hard"))
		fail_msg("warnings: got %s, want complaint then hard", r.body);
	static const char want_msg[] = "complaint rate 25.00% is above 0.1%: ";
	const char *msg = json_string_value(json_object_get(json_array_get(w, 0), "message"));
	if (!msg || strncmp(msg, want_msg, strlen(want_msg)) != 0)
		fail_msg("complaint warning: got \"%s\", want \"%s...\"", msg ? msg : "(none)",
		         want_msg);
	reply_free(&r);
	/* At a threshold equal to the rate: no warning (only strictly above). */
	set("bounce_warn_complaint_rate", "25%");
	call("GET", path, tok_viewer, NULL, &r);
	set("bounce_warn_complaint_rate", "0.001");
	w = json_object_get(json_object_get(r.json, "bounces"), "warnings");
	if (json_array_size(w) != 1 ||
	    strcmp(json_string_value(json_object_get(json_array_get(w, 0), "kind")), "hard"))
		fail_msg("complaint threshold 25%%: got %s, want only the hard warning", r.body);
	reply_free(&r);

	/* The listing: newest first; by post, subscriber, the review bucket. */
	char all[128], got[128];
	int64_t next;
	bounce_ids("/api/v1/bounces", all, sizeof(all), &next);
	if (next != 0 || strlen(all) == 0)
		fail_msg("GET /bounces: got ids \"%s\" next %lld, want 5 ids and no next", all,
		         (long long)next);
	long long ids[5];
	if (sscanf(all, "%lld %lld %lld %lld %lld", &ids[0], &ids[1], &ids[2], &ids[3], &ids[4]) !=
	        5 ||
	    !(ids[0] > ids[1] && ids[1] > ids[2] && ids[2] > ids[3] && ids[3] > ids[4]))
		fail_msg("GET /bounces: got ids \"%s\", want 5, newest first", all);
	/* Keyset pages of 2 give the same rows. */
	char paged[128] = "", page[64];
	snprintf(path, sizeof(path), "/api/v1/bounces?limit=2");
	for (int i = 0; i < 5; i++) {
		bounce_ids(path, page, sizeof(page), &next);
		strcat(paged, page);
		if (!next)
			break;
		snprintf(path, sizeof(path), "/api/v1/bounces?limit=2&before=%lld",
		         (long long)next);
	}
	if (strcmp(paged, all) != 0)
		fail_msg("pages of 2: got \"%s\", want \"%s\"", paged, all);
	snprintf(path, sizeof(path), "/api/v1/bounces?post=%lld", (long long)id);
	bounce_ids(path, got, sizeof(got), &next);
	char want[128];
	snprintf(want, sizeof(want), "%lld %lld %lld %lld ", ids[1], ids[2], ids[3], ids[4]);
	if (strcmp(got, want) != 0)
		fail_msg("?post=%lld: got \"%s\", want \"%s\"", (long long)id, got, want);

	snprintf(path, sizeof(path), "/api/v1/bounces?subscriber=%lld", (long long)sub[1]);
	call("GET", path, tok_viewer, NULL, &r);
	tl_want_status(&r, 200, path);
	json_t *items = json_object_get(r.json, "items"), *it = json_array_get(items, 0);
	if (json_array_size(items) != 1 || strcmp(jstr_of(it, "class"), "hard") != 0 ||
	    jint(it, "post_id") != id || jint(it, "subscriber_id") != sub[1] ||
	    strcmp(jstr_of(it, "attributed_by"), "verp") != 0 ||
	    strcmp(jstr_of(it, "status"), "5.1.1") != 0 || jint(it, "reply_code") != 550 ||
	    !json_is_true(json_object_get(it, "final")) ||
	    strcmp(jstr_of(it, "action"), "disabled") != 0)
		fail_msg("?subscriber=%lld: got %s, want the one hard finding, disabled",
		         (long long)sub[1], r.body);
	reply_free(&r);

	for (int k = 0; k < 2; k++) {
		call("GET", k ? "/api/v1/bounces?review=true" : "/api/v1/bounces?review=1",
		     tok_viewer, NULL, &r);
		tl_want_status(&r, 200, "GET /bounces?review=1");
		items = json_object_get(r.json, "items");
		it = json_array_get(items, 0);
		if (json_array_size(items) != 1 || !json_is_null(json_object_get(it, "post_id")) ||
		    !json_is_null(json_object_get(it, "subscriber_id")) ||
		    strcmp(jstr_of(it, "action"), "review") != 0 ||
		    strstr(jstr_of(it, "review"), "no VERP token") == NULL ||
		    strcmp(jstr_of(it, "recipient"), "<script>alert(1)</script>@evil.example") !=
		        0 ||
		    strcmp(jstr_of(it, "diagnostic"), want_diag) != 0)
			fail_msg(
			    "?review=1: got %s, want the one unattributed finding with its reason "
			    "(bad bytes as U+FFFD)",
			    r.body);
		reply_free(&r);
	}
	call("GET", "/api/v1/bounces?review=0", tok_viewer, NULL, &r);
	tl_want_status(&r, 200, "GET /bounces?review=0");
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 5);
	reply_free(&r);

	static const char *const bad[] = {
	    "/api/v1/bounces?review=maybe",  "/api/v1/bounces?post=x",
	    "/api/v1/bounces?subscriber=-1", "/api/v1/bounces?limit=0",
	    "/api/v1/bounces?limit=1001",    "/api/v1/bounces?before=zz",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call("GET", bad[i], tok_viewer, NULL, &r);
		want_problem(&r, 400, "bad-parameter", bad[i]);
		reply_free(&r);
	}
	/* Any role reads; nobody without credentials. */
	const char *who[] = {tok_viewer, tok_editor, tok_admin, "session"};
	for (size_t i = 0; i < 4; i++) {
		call("GET", "/api/v1/bounces?limit=1", who[i], NULL, &r);
		tl_want_status(&r, 200, "GET /bounces by each role");
		reply_free(&r);
	}
	call("GET", "/api/v1/bounces", "", NULL, &r);
	want_problem(&r, 401, "unauthorized", "GET /bounces without credentials");
	reply_free(&r);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openapi_matches_router),
	    cmocka_unit_test(test_openapi_checks),
	    cmocka_unit_test(test_unauthenticated),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_session_csrf),
	    cmocka_unit_test(test_subscribers),
	    cmocka_unit_test(test_pagination),
	    cmocka_unit_test(test_posts),
	    cmocka_unit_test(test_imports),
	    cmocka_unit_test(test_import_parameters),
	    cmocka_unit_test(test_export),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_users_tokens_audit),
	    cmocka_unit_test(test_openapi_operations_routed),
	    cmocka_unit_test(test_feeds),
	    cmocka_unit_test(test_feed_poll),
	    cmocka_unit_test(test_audit_targets),
	    cmocka_unit_test(test_auth_budget),
	    cmocka_unit_test(test_preview_links_dead),
	    cmocka_unit_test(test_schedule_checks),
	    cmocka_unit_test(test_post_body_size),
	    cmocka_unit_test(test_canonical_ids),
	    cmocka_unit_test(test_errors_before_handler),
	    cmocka_unit_test(test_bounces),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
