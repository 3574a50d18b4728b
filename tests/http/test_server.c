/*
 * The HTTP server core (src/http/server.c) on 127.0.0.1 (and ::1), driven by
 * libcurl and, where the exact bytes matter (bad escapes, chunked bodies,
 * huge headers, HEAD on a kept-alive connection, connection limits), by a
 * raw socket. Each group starts its own server on port 0 with a test route
 * table; handlers echo what they were given, so every check compares what
 * the handler saw (or what the client got) with what was sent. The store
 * tests use a temporary SQLite database.
 */
#define _DEFAULT_SOURCE /* mkdtemp, strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/model.h"
#include "http/http.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define BODY_MAX   4096
#define HEADER_MAX 8192

/* ---- handlers ---- */

static const char *method_name(enum bl_http_method m)
{
	return m == BL_HTTP_GET      ? "GET"
	       : m == BL_HTTP_POST   ? "POST"
	       : m == BL_HTTP_HEAD   ? "HEAD"
	       : m == BL_HTTP_PUT    ? "PUT"
	       : m == BL_HTTP_PATCH  ? "PATCH"
	       : m == BL_HTTP_DELETE ? "DELETE"
	                             : "?";
}

/* Everything the handler was given, one "key=value" line each. */
static void h_echo(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->content_type = "text/plain; charset=utf-8";
	bl_buf_addf(&resp->body,
	            "method=%s\npath=%s\nparam=%s\nquery=%s\nip=%s\nua=%s\nct=%s\nbody_len=%zu\n"
	            "app=%s\n",
	            method_name(req->method), req->path, req->param, req->query, req->ip,
	            req->user_agent, req->content_type, req->body_len,
	            req->app ? (const char *)req->app : "(null)");
}

/* The body, byte for byte. */
static void h_body(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->content_type = "application/octet-stream";
	bl_buf_add(&resp->body, req->body, req->body_len);
	if (req->body[req->body_len] != '\0')
		resp->status = 500; /* the NUL after the body is missing */
}

/* The cookies named in the query ("a&b"): "a=VALUE" or "a=(none)" per line. */
static void h_cookie(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->content_type = "text/plain; charset=utf-8";
	struct bl_form f;
	if (bl_form_parse(req->query, strlen(req->query), &f, NULL) != 0) {
		resp->status = 400;
		return;
	}
	for (size_t i = 0; i < f.n; i++) {
		const char *v = bl_http_cookie(req, f.f[i].name);
		bl_buf_addf(&resp->body, "%s=%s\n", f.f[i].name, v ? v : "(none)");
	}
	const char *x = bl_http_header(req, "X-Probe");
	bl_buf_addf(&resp->body, "x-probe=%s\n", x ? x : "(none)");
	bl_form_clear(&f);
}

/* Adds headers, good and bad, and reports each return code. */
static void h_hdr(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->content_type = "text/plain; charset=utf-8";
	int rc[6];
	rc[0] = bl_http_add_header(resp, "X-One", "%d", 1);
	rc[1] = bl_http_add_header(resp, "X-Bad", "a\r\nInjected: %s", "1");
	rc[2] = bl_http_add_header(resp, "X-Bad", "a\nInjected: 1");
	rc[3] = bl_http_add_header(resp, "X-Bad", "a%cb", 0);
	rc[4] = bl_http_add_header(resp, "Bad Name", "x");
	rc[5] = bl_http_add_header(resp, "Location", "/somewhere?%s", "q=1");
	int fill = 0, last = 0;
	while ((last = bl_http_add_header(resp, "X-Fill", "%d", fill)) == 0)
		fill++;
	bl_buf_addf(&resp->body, "%d %d %d %d %d %d fill=%d last=%d\n", rc[0], rc[1], rc[2], rc[3],
	            rc[4], rc[5], fill, last);
}

static void h_public(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->no_store = 0;
	bl_buf_adds(&resp->body, "<p>public</p>");
}

/* Status from the query ("code=503"); "big" makes a body over the 16 MiB limit. */
static void h_status(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_form f;
	if (bl_form_parse(req->query, strlen(req->query), &f, NULL) != 0)
		return;
	const char *c = bl_form_get(&f, "code");
	if (c)
		resp->status = atoi(c);
	if (bl_form_get(&f, "big")) {
		static char chunk[1 << 20];
		for (int i = 0; i < 17; i++)
			bl_buf_add(&resp->body, chunk, sizeof(chunk));
	}
	bl_buf_adds(&resp->body, "status\n");
	bl_form_clear(&f);
}

/* Uses this thread's store: writes and reads a setting; answers "STORE THREAD". */
static void h_store(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->content_type = "text/plain; charset=utf-8";
	char *v = NULL;
	char val[64];
	snprintf(val, sizeof(val), "%p", (void *)req->store);
	if (!req->store || req->store->ops->setting_set(req->store, "http-test", val) != 0 ||
	    req->store->ops->setting_get(req->store, "http-test", &v) != 1 || strcmp(v, val) != 0) {
		resp->status = 500;
		bl_buf_adds(&resp->body, "store does not work\n");
		free(v);
		return;
	}
	free(v);
	pthread_t self = pthread_self();
	unsigned long long tid = 0;
	memcpy(&tid, &self, sizeof(tid) < sizeof(self) ? sizeof(tid) : sizeof(self));
	bl_buf_addf(&resp->body, "%p %llx\n", (void *)req->store, tid);
}

static void h_ok(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_buf_adds(&resp->body, "ok\n");
}

/* Its own CSP and X-Frame-Options. */
static void h_csp(struct bl_http_req *req, struct bl_http_resp *resp)
{
	resp->csp = "default-src 'none'; frame-ancestors 'self'";
	resp->frame_options = "SAMEORIGIN";
	bl_buf_adds(&resp->body, "framed\n");
}

#define FD_NAME "bl-http-fd-test"

/* The file "0123456789" (unlinked, its name FD_NAME) from offset 3, or with
 * ?fail status 999 (the request fails: the server must close the file all
 * the same), or ?end from its end (an empty body). */
static void h_fd(struct bl_http_req *req, struct bl_http_resp *resp)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/" FD_NAME "-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		resp->status = 500;
		return;
	}
	unlink(path);
	if (write(fd, "0123456789", 10) != 10) {
		close(fd);
		resp->status = 500;
		return;
	}
	lseek(fd, strstr(req->query, "end") ? 10 : 3, SEEK_SET);
	resp->content_type = "text/plain; charset=utf-8";
	resp->use_fd = 1;
	resp->fd = fd;
	if (strstr(req->query, "fail"))
		resp->status = 999;
}

static const struct bl_http_route routes[] = {
    {BL_HTTP_GET | BL_HTTP_POST, "/echo", 0, "echo", h_echo, 0},
    {BL_HTTP_GET, "/p/", 1, "prefix", h_echo, 0},
    {BL_HTTP_POST, "/body", 0, "body", h_body, 0},
    {BL_HTTP_GET, "/cookie", 0, "cookie", h_cookie, 0},
    {BL_HTTP_GET, "/hdr", 0, "hdr", h_hdr, 0},
    {BL_HTTP_GET, "/public", 0, "public", h_public, 0},
    {BL_HTTP_GET, "/status", 0, "status", h_status, 0},
    {BL_HTTP_GET, "/store", 0, "store", h_store, 0},
    {BL_HTTP_GET, "/two", 0, "two", h_ok, 0},
    {BL_HTTP_POST, "/two", 0, "two", h_ok, 0},
    {BL_HTTP_POST, "/postonly", 0, "postonly", h_ok, 0},
    {BL_HTTP_PUT | BL_HTTP_PATCH | BL_HTTP_DELETE, "/m/", 1, "methods", h_echo, 0},
    {BL_HTTP_PUT | BL_HTTP_DELETE, "/pd", 0, "pd", h_echo, 0},
    {BL_HTTP_POST | BL_HTTP_PUT, "/bigbody", 0, "bigbody", h_body, 4 * BODY_MAX},
    {BL_HTTP_GET, "/csp", 0, "csp", h_csp, 0},
    {BL_HTTP_GET, "/fd", 0, "fd", h_fd, 0},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* ---- fixtures ---- */

static char tmpdir[64];
static char db_uri[128];
static struct bl_http_server *srv; /* the main server */
static int port;
static char app_text[] = "the-app";

static struct bl_http_opts main_opts(void)
{
	struct bl_http_opts o;
	memset(&o, 0, sizeof(o));
	o.listen = "127.0.0.1:0";
	o.routes = routes;
	o.n_routes = N_ROUTES;
	o.app = app_text;
	o.db_uri = db_uri;
	o.threads = 2;
	o.body_max = BODY_MAX;
	o.header_max = HEADER_MAX;
	o.per_ip_connections = 64;
	return o;
}

static int group_setup(void **state)
{
	strcpy(tmpdir, "/tmp/bl-http-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(db_uri, sizeof(db_uri), "sqlite:%s/test.db", tmpdir);
	struct bl_store *s = NULL;
	struct bl_store_opts so = {0};
	struct bl_diag d;
	if (bl_store_open(db_uri, &so, &s, &d) != 0) {
		fprintf(stderr, "bl_store_open: %s\n", d.msg);
		return -1;
	}
	int from, to;
	int rc = s->ops->migrate(s, &from, &to);
	bl_store_close(s);
	if (rc != 0)
		return -1;
	struct bl_http_opts o = main_opts();
	if (bl_http_start(&o, &srv, &d) != 0) {
		fprintf(stderr, "bl_http_start: %s\n", d.msg);
		return -1;
	}
	port = bl_http_port(srv);
	return 0;
}

static int group_teardown(void **state)
{
	bl_http_stop(srv);
	char path[160];
	snprintf(path, sizeof(path), "%s/test.db", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/test.db-wal", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/test.db-shm", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

/* ---- a libcurl client ---- */

struct reply {
	long status;
	struct bl_buf body, headers;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	bl_buf_add(arg, p, size * n);
	return size * n;
}

static void reply_free(struct reply *r)
{
	bl_buf_finish(&r->body);
	bl_buf_finish(&r->headers);
}

/*
 * @method on http://HOST:@p@path with @body (NULL: none) and extra request
 * headers @hdrs (NULL-terminated, may be NULL). @host "127.0.0.1" or "[::1]".
 */
static void fetch_at(const char *host, int p, const char *method, const char *path,
                     const char *body, size_t body_len, const char *const *hdrs, struct reply *r)
{
	char url[2048];
	snprintf(url, sizeof(url), "http://%s:%d%s", host, p, path);
	memset(r, 0, sizeof(*r));
	bl_buf_init(&r->body, 0);
	bl_buf_init(&r->headers, 0);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	struct curl_slist *sl = NULL;
	for (size_t i = 0; hdrs && hdrs[i]; i++)
		sl = curl_slist_append(sl, hdrs[i]);
	sl = curl_slist_append(sl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: curl: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);
}

static void fetch(const char *method, const char *path, const char *body, size_t body_len,
                  const char *const *hdrs, struct reply *r)
{
	fetch_at("127.0.0.1", port, method, path, body, body_len, hdrs, r);
}

/* The value of response header @name in @hdrs (raw header text), or NULL; *@out is malloc'd. */
static char *header_of(const char *hdrs, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = hdrs; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			return bl_xstrndup(v, (size_t)(p + ll - v));
		}
		p = eol ? eol + 2 : NULL;
	}
	return NULL;
}

static void want_header(const char *hdrs, const char *name, const char *want, const char *what)
{
	char *got = header_of(hdrs, name);
	if (!want && got)
		fail_msg("%s: header %s: got \"%s\", want none", what, name, got);
	if (want && (!got || strcmp(got, want) != 0))
		fail_msg("%s: header %s: got \"%s\", want \"%s\"", what, name, got ? got : "(none)",
		         want);
	free(got);
}

/* The headers every response carries. */
static void want_security(const char *hdrs, int no_store, const char *what)
{
	want_header(hdrs, "X-Content-Type-Options", "nosniff", what);
	want_header(hdrs, "Referrer-Policy", "no-referrer", what);
	want_header(hdrs, "X-Frame-Options", "DENY", what);
	want_header(hdrs, "Content-Security-Policy", BL_HTTP_DEFAULT_CSP, what);
	want_header(hdrs, "Cache-Control", no_store ? "no-store" : NULL, what);
}

/* The line "KEY=..." of an echo body, malloc'd, or NULL. */
static char *echo_field(const char *body, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = body; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > kl && p[kl] == '=' && strncmp(p, key, kl) == 0)
			return bl_xstrndup(p + kl + 1, ll - kl - 1);
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static void want_field(const struct reply *r, const char *key, const char *want, const char *what)
{
	char *got = echo_field(bl_buf_str(&r->body), key);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: handler saw %s=\"%s\", want \"%s\"", what, key, got ? got : "(none)",
		         want);
	free(got);
}

static void want_status(const struct reply *r, long want, const char *what)
{
	if (r->status != want)
		fail_msg("%s: got status %ld, want %ld (body: %.200s)", what, r->status, want,
		         bl_buf_str(&r->body));
}

/* ---- a raw client ---- */

static int connect_to(int family, int p)
{
	int fd = socket(family, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	int rc;
	if (family == AF_INET) {
		struct sockaddr_in a = {0};
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)p);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in6 a = {0};
		a.sin6_family = AF_INET6;
		a.sin6_port = htons((uint16_t)p);
		a.sin6_addr = in6addr_loopback;
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	}
	if (rc != 0)
		fail_msg("connect to port %d: %s", p, strerror(errno));
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the server closed: the reply tells */
		c += w;
		n -= (size_t)w;
	}
}

/* Reads until the peer closes or @ms pass without data; returns the bytes (malloc'd). */
static char *read_all(int fd, int ms, size_t *len)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	char chunk[8192];
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int n = poll(&pfd, 1, ms);
		if (n <= 0)
			break;
		ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
		if (r <= 0)
			break;
		bl_buf_add(&b, chunk, (size_t)r);
	}
	if (len)
		*len = b.len;
	return bl_buf_take(&b);
}

/* Sends @req on a fresh connection and returns everything that came back. */
static char *raw(const char *req, size_t len)
{
	int fd = connect_to(AF_INET, port);
	send_all(fd, req, len);
	char *out = read_all(fd, 5000, NULL);
	close(fd);
	return out;
}

static int raw_status(const char *resp)
{
	int st = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &st) != 1)
		return 0;
	return st;
}

/* ---- tests ---- */

static void test_not_found(void **state)
{
	static const char *const paths[] = {"/", "/nope", "/echo/", "/Echo", "/p", "/echo%2F"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r;
		fetch("GET", paths[i], NULL, 0, NULL, &r);
		want_status(&r, 404, paths[i]);
		want_security(bl_buf_str(&r.headers), 1, paths[i]);
		reply_free(&r);
	}
}

static void test_method_not_allowed(void **state)
{
	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
	    {"POST", "/cookie", "GET, HEAD"}, {"PUT", "/echo", "GET, HEAD, POST"},
	    {"DELETE", "/p/x", "GET, HEAD"},  {"GET", "/postonly", "POST"},
	    {"HEAD", "/postonly", "POST"},    {"PUT", "/two", "GET, HEAD, POST"},
	    {"OPTIONS", "/body", "POST"},     {"get", "/echo", "GET, HEAD, POST"},
	    {"GET", "/pd", "PUT, DELETE"},    {"POST", "/m/x", "PUT, PATCH, DELETE"},
	    {"PATCH", "/pd", "PUT, DELETE"},  {"DELETE", "/bigbody", "POST, PUT"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		char what[64];
		snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
		fetch(cases[i].method, cases[i].path, NULL, 0, NULL, &r);
		want_status(&r, 405, what);
		want_header(bl_buf_str(&r.headers), "Allow", cases[i].allow, what);
		want_security(bl_buf_str(&r.headers), 1, what);
		reply_free(&r);
	}
	/* Two routes on one path: each method finds its own. */
	struct reply r;
	fetch("POST", "/two", "x", 1, NULL, &r);
	want_status(&r, 200, "POST /two");
	reply_free(&r);
	fetch("GET", "/two", NULL, 0, NULL, &r);
	want_status(&r, 200, "GET /two");
	reply_free(&r);
}

static void test_head(void **state)
{
	struct reply get, head;
	fetch("GET", "/echo?x=1", NULL, 0, NULL, &get);
	fetch("HEAD", "/echo?x=1", NULL, 0, NULL, &head);
	want_status(&head, 200, "HEAD /echo");
	assert_int_equal(head.body.len, 0);
	char *cl = header_of(bl_buf_str(&head.headers), "Content-Length");
	char want[32];
	snprintf(want, sizeof(want), "%zu", get.body.len);
	if (!cl || strcmp(cl, want) != 0)
		fail_msg("HEAD Content-Length: got %s, want %s", cl ? cl : "(none)", want);
	free(cl);
	want_security(bl_buf_str(&head.headers), 1, "HEAD");
	reply_free(&get);
	reply_free(&head);

	/* On one kept-alive connection: the HEAD reply has no body, so the next
	 * reply starts right after its header block. The handler saw GET. */
	static const char two[] = "HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n"
	                          "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	char *out = raw(two, sizeof(two) - 1);
	char *end = strstr(out, "\r\n\r\n");
	assert_non_null(end);
	if (strncmp(end + 4, "HTTP/1.1 200", 12) != 0)
		fail_msg("after the HEAD reply: got \"%.40s\", want the next status line", end + 4);
	assert_non_null(strstr(end, "method=GET\n"));
	free(out);
}

static void test_routes_and_params(void **state)
{
	static const struct {
		const char *url, *path, *param, *query;
	} cases[] = {
	    {"/echo", "/echo", "", ""},
	    {"/echo?", "/echo", "", ""},
	    {"/echo?a=1&b=%20x+y&&c", "/echo", "", "a=1&b=%20x+y&&c"},
	    {"/%65cho?q=%2F", "/echo", "", "q=%2F"},
	    {"/p/", "/p/", "", ""},
	    {"/p/AbC", "/p/AbC", "AbC", ""},
	    {"/p/a%2Fb%20c/d?x", "/p/a/b c/d", "a/b c/d", "x"},
	    {"/p/%C3%A9t%C3%A9", "/p/\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9", ""},
	    {"/p/a+b", "/p/a+b", "a+b", ""},
	    {"/p/?only=query", "/p/", "", "only=query"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		fetch("GET", cases[i].url, NULL, 0, NULL, &r);
		want_status(&r, 200, cases[i].url);
		want_field(&r, "method", "GET", cases[i].url);
		want_field(&r, "path", cases[i].path, cases[i].url);
		want_field(&r, "param", cases[i].param, cases[i].url);
		want_field(&r, "query", cases[i].query, cases[i].url);
		want_field(&r, "ip", "127.0.0.1", cases[i].url);
		want_field(&r, "app", "the-app", cases[i].url);
		want_security(bl_buf_str(&r.headers), 1, cases[i].url);
		reply_free(&r);
	}
}

static void test_bad_paths(void **state)
{
	static const char *const paths[] = {
	    "/echo%00", "/p/a%00b", "/echo%zz", "/echo%4", "/echo%", "/p/%g1", "/p/%1g", "/%",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char req[256];
		int n =
		    snprintf(req, sizeof(req),
		             "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", paths[i]);
		char *out = raw(req, (size_t)n);
		if (raw_status(out) != 400)
			fail_msg("GET %s: got \"%.60s\", want 400", paths[i], out);
		/* The security headers are on it too. */
		char *hdr_end = strstr(out, "\r\n\r\n");
		assert_non_null(hdr_end);
		*hdr_end = '\0';
		want_security(strstr(out, "\r\n") + 2, 1, paths[i]);
		free(out);
	}
}

static void test_user_agent_and_content_type(void **state)
{
	/* 300 "é" (600 bytes) is cut to 250 of them (500 bytes). */
	char ua[700] = "User-Agent: ";
	for (int i = 0; i < 300; i++)
		strcat(ua, "\xc3\xa9");
	char want[520] = "";
	for (int i = 0; i < 250; i++)
		strcat(want, "\xc3\xa9");
	const char *h1[] = {ua, "Content-Type: text/x-test; charset=utf-8", NULL};
	struct reply r;
	fetch("GET", "/echo", NULL, 0, h1, &r);
	want_field(&r, "ua", want, "long UA");
	want_field(&r, "ct", "text/x-test; charset=utf-8", "content type");
	reply_free(&r);

	/* 499 ASCII bytes and one "é": the "é" would end at 501 bytes, so it goes. */
	char ua2[600] = "User-Agent: ";
	memset(ua2 + 12, 'a', 499);
	strcpy(ua2 + 12 + 499, "\xc3\xa9z");
	char want2[600];
	memset(want2, 'a', 499);
	want2[499] = '\0';
	const char *h2[] = {ua2, NULL};
	fetch("GET", "/echo", NULL, 0, h2, &r);
	want_field(&r, "ua", want2, "UA cut before a 2-byte sequence");
	reply_free(&r);

	/* Bytes that are not UTF-8 become '?'. */
	const char *h3[] = {"User-Agent: a\xff"
	                    "b\xc3(",
	                    NULL};
	fetch("GET", "/echo", NULL, 0, h3, &r);
	want_field(&r, "ua", "a?b?(", "UA with bad UTF-8");
	reply_free(&r);

	/* No User-Agent, no Content-Type: "". */
	const char *h4[] = {"User-Agent:", NULL};
	fetch("GET", "/echo", NULL, 0, h4, &r);
	want_field(&r, "ua", "", "no UA");
	want_field(&r, "ct", "", "no content type");
	reply_free(&r);
	(void)BL_USER_AGENT_MAX;
}

static void test_body(void **state)
{
	/* Every byte value, NULs included, at every size up to body_max. */
	static const size_t sizes[] = {0, 1, 255, 256, 1000, BODY_MAX - 1, BODY_MAX};
	char body[BODY_MAX];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7 + 3);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct reply r;
		char what[64];
		snprintf(what, sizeof(what), "POST /body of %zu bytes", sizes[k]);
		fetch("POST", "/body", body, sizes[k], NULL, &r);
		want_status(&r, 200, what);
		if (r.body.len != sizes[k] ||
		    memcmp(r.body.data ? r.body.data : "", body, sizes[k]) != 0)
			fail_msg("%s: got %zu bytes back, not the same", what, r.body.len);
		reply_free(&r);
	}
	/* The echo handler sees body_len; a form body reaches it as sent. */
	struct reply r;
	const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	fetch("POST", "/echo", "a=1&b=2", 7, h, &r);
	want_field(&r, "method", "POST", "POST /echo");
	want_field(&r, "body_len", "7", "POST /echo");
	want_field(&r, "ct", "application/x-www-form-urlencoded", "POST /echo");
	reply_free(&r);

	/* Chunked, within the limit: delivered whole. */
	struct bl_buf req;
	bl_buf_init(&req, 0);
	bl_buf_adds(&req, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	                  "Connection: close\r\n\r\n");
	for (int i = 0; i < 4; i++) {
		bl_buf_addf(&req, "%x\r\n", 1000);
		bl_buf_add(&req, body + i * 1000, 1000);
		bl_buf_adds(&req, "\r\n");
	}
	bl_buf_adds(&req, "0\r\n\r\n");
	size_t n;
	int fd = connect_to(AF_INET, port);
	send_all(fd, req.data, req.len);
	char *out = read_all(fd, 5000, &n);
	close(fd);
	assert_int_equal(raw_status(out), 200);
	char *b = strstr(out, "\r\n\r\n");
	assert_non_null(b);
	b += 4;
	if ((size_t)(out + n - b) != 4000 || memcmp(b, body, 4000) != 0)
		fail_msg("chunked body: got %zu bytes back, want the 4000 sent",
		         (size_t)(out + n - b));
	free(out);
	bl_buf_finish(&req);
}

static void test_too_large(void **state)
{
	char body[BODY_MAX + 1];
	memset(body, 'x', sizeof(body));
	/* By Content-Length, one byte over. */
	struct reply r;
	fetch("POST", "/body", body, BODY_MAX + 1, NULL, &r);
	want_status(&r, 413, "POST body_max + 1");
	want_security(bl_buf_str(&r.headers), 1, "413");
	reply_free(&r);
	/* On a path without a route a body gets the 404 at once. */
	fetch("POST", "/nope", body, BODY_MAX + 1, NULL, &r);
	want_status(&r, 404, "POST /nope with a body");
	reply_free(&r);

	/* A Content-Length of 100 MB and no body at all: the 413 comes before any
	 * body byte is sent, i.e. the server does not wait for it. */
	static const char huge[] =
	    "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n";
	int fd = connect_to(AF_INET, port);
	send_all(fd, huge, sizeof(huge) - 1);
	char *out = read_all(fd, 3000, NULL);
	close(fd);
	if (raw_status(out) != 413)
		fail_msg("Content-Length 100000000: got \"%.60s\", want 413", out);
	free(out);

	/* Chunked, growing past body_max: read to its end, then 413. */
	struct bl_buf req;
	bl_buf_init(&req, 0);
	bl_buf_adds(&req, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 6; i++) {
		bl_buf_addf(&req, "%x\r\n", 1000);
		bl_buf_add(&req, body, 1000);
		bl_buf_adds(&req, "\r\n");
	}
	bl_buf_adds(&req, "0\r\n\r\n");
	fd = connect_to(AF_INET, port);
	send_all(fd, req.data, req.len);
	out = read_all(fd, 3000, NULL);
	close(fd);
	if (raw_status(out) != 413)
		fail_msg("chunked 6000 bytes: got \"%.60s\", want 413", out);
	char *hdr_end = strstr(out, "\r\n\r\n");
	assert_non_null(hdr_end);
	*hdr_end = '\0';
	want_security(strstr(out, "\r\n") + 2, 1, "chunked 413");
	free(out);
	bl_buf_finish(&req);

	/* Chunked without end: past body_max + 1 MiB thrown away, the server hangs up. */
	fd = connect_to(AF_INET, port);
	static const char head[] =
	    "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
	send_all(fd, head, sizeof(head) - 1);
	char chunk[8192 + 16];
	int cl = snprintf(chunk, sizeof(chunk), "%x\r\n", 8192);
	memset(chunk + cl, 'y', 8192);
	memcpy(chunk + cl + 8192, "\r\n", 2);
	int closed = 0;
	for (int i = 0; i < 400 && !closed; i++) { /* 3.2 MB at most */
		ssize_t w = send(fd, chunk, (size_t)cl + 8194, MSG_NOSIGNAL);
		closed = w <= 0;
	}
	if (!closed) {
		out = read_all(fd, 3000, NULL);
		free(out);
		struct pollfd pfd = {fd, POLLIN, 0};
		closed = poll(&pfd, 1, 0) == 1 && recv(fd, chunk, 1, MSG_DONTWAIT) <= 0;
		closed = closed || send(fd, chunk, 1, MSG_NOSIGNAL) < 0;
	}
	close(fd);
	if (!closed)
		fail_msg("an endless chunked body: the server kept reading past 3 MB");
}

static void test_header_too_large(void **state)
{
	/* One header of HEADER_MAX bytes: the server's own 431, with its headers. */
	char *h = bl_xmalloc(3 * HEADER_MAX + 32);
	strcpy(h, "X-Big: ");
	memset(h + 7, 'b', 3 * HEADER_MAX);
	h[7 + HEADER_MAX] = '\0';
	const char *hs[] = {h, NULL};
	struct reply r;
	fetch("GET", "/echo", NULL, 0, hs, &r);
	want_status(&r, 431, "a header of header_max bytes");
	want_security(bl_buf_str(&r.headers), 1, "431");
	reply_free(&r);
	/* With a body on the way: 431 at once, the body not read. */
	fetch("POST", "/body", "abc", 3, hs, &r);
	want_status(&r, 431, "a header of header_max bytes and a body");
	reply_free(&r);
	/* Three times as much does not fit in the connection's memory at all:
	 * libmicrohttpd answers 431 itself. */
	h[7 + 3 * HEADER_MAX] = '\0';
	fetch("GET", "/echo", NULL, 0, hs, &r);
	want_status(&r, 431, "a header of 3 x header_max bytes");
	reply_free(&r);
	/* Many small ones adding up: 431 too. */
	struct bl_buf req;
	bl_buf_init(&req, 0);
	bl_buf_adds(&req, "GET /echo HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < HEADER_MAX / 20; i++)
		bl_buf_addf(&req, "X-H%04d: 0123456789\r\n", i);
	bl_buf_adds(&req, "\r\n");
	char *out = raw(req.data, req.len);
	if (raw_status(out) != 431)
		fail_msg("%zu bytes of small headers: got \"%.60s\", want 431", req.len, out);
	free(out);
	bl_buf_finish(&req);
	/* A header block just under header_max is served. */
	h[HEADER_MAX - 200] = '\0';
	fetch("GET", "/echo", NULL, 0, hs, &r);
	want_status(&r, 200, "a header block just under header_max");
	reply_free(&r);
	free(h);
}

static void test_no_store(void **state)
{
	struct reply r;
	fetch("GET", "/public", NULL, 0, NULL, &r);
	want_status(&r, 200, "/public");
	want_security(bl_buf_str(&r.headers), 0, "/public");
	want_header(bl_buf_str(&r.headers), "Content-Type", "text/html; charset=utf-8", "/public");
	reply_free(&r);
	fetch("GET", "/echo", NULL, 0, NULL, &r);
	want_security(bl_buf_str(&r.headers), 1, "/echo");
	want_header(bl_buf_str(&r.headers), "Content-Type", "text/plain; charset=utf-8", "/echo");
	reply_free(&r);
}

static void test_status_and_errors(void **state)
{
	static const struct {
		const char *url;
		long want;
	} cases[] = {
	    {"/status?code=201", 201}, {"/status?code=302", 302}, {"/status?code=503", 503},
	    {"/status?code=0", 500},   {"/status?code=600", 500}, {"/status?big=1", 500},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		fetch("GET", cases[i].url, NULL, 0, NULL, &r);
		want_status(&r, cases[i].want, cases[i].url);
		want_security(bl_buf_str(&r.headers), 1, cases[i].url);
		reply_free(&r);
	}
}

static void test_cookies(void **state)
{
	static const struct {
		const char *cookie; /* NULL: no Cookie header */
		const char *query, *want;
	} cases[] = {
	    {"a=1; b=2; c=3", "a&b&c&d", "a=1\nb=2\nc=3\nd=(none)\n"},
	    {"a=1;b=2", "a&b", "a=1\nb=2\n"},
	    {NULL, "a", "a=(none)\n"},
	    {"sid=\"abc\"", "sid", "sid=abc\n"},
	    {"sid=\"\"", "sid", "sid=\n"},
	    {"e=", "e", "e=\n"},
	    {"dup=1; dup=2", "dup", "dup=1\n"},
	    {"bad name=1; ok=2", "bad+name&ok", "bad name=(none)\nok=2\n"},
	    {"x=a,b; y=a b; z=a\\b; w=\"a\"b\"", "x&y&z&w",
	     "x=(none)\ny=(none)\nz=(none)\nw=(none)\n"},
	    {"=novalue; v=1", "v", "v=1\n"},
	    {"noequals; v=2", "noequals&v", "noequals=(none)\nv=2\n"},
	    {"  lead=1 ;  trail=2  ", "lead&trail", "lead=1\ntrail=2\n"},
	    {"tok=AbC-_.~x%2F; n=\"q\"", "tok&n", "tok=AbC-_.~x%2F\nn=q\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char url[128], hdr[256];
		snprintf(url, sizeof(url), "/cookie?%s", cases[i].query);
		snprintf(hdr, sizeof(hdr), "Cookie: %s", cases[i].cookie ? cases[i].cookie : "");
		const char *hs[] = {cases[i].cookie ? hdr : "Cookie:", "X-Probe: yes", NULL};
		struct reply r;
		fetch("GET", url, NULL, 0, hs, &r);
		want_status(&r, 200, url);
		char want[256];
		snprintf(want, sizeof(want), "%sx-probe=yes\n", cases[i].want);
		if (strcmp(bl_buf_str(&r.body), want) != 0)
			fail_msg("Cookie: %s: got\n%s\nwant\n%s",
			         cases[i].cookie ? cases[i].cookie : "(none)", bl_buf_str(&r.body),
			         want);
		reply_free(&r);
	}
}

static void test_added_headers(void **state)
{
	struct reply r;
	fetch("GET", "/hdr", NULL, 0, NULL, &r);
	want_status(&r, 200, "/hdr");
	char want[128];
	snprintf(want, sizeof(want), "0 %d %d %d %d 0 fill=%d last=%d\n", -BL_EINVAL, -BL_EINVAL,
	         -BL_EINVAL, -BL_EINVAL, BL_HTTP_MAX_HEADERS - 2, -BL_ELIMIT);
	if (strcmp(bl_buf_str(&r.body), want) != 0)
		fail_msg("add_header results: got %s, want %s", bl_buf_str(&r.body), want);
	const char *h = bl_buf_str(&r.headers);
	want_header(h, "X-One", "1", "/hdr");
	want_header(h, "Location", "/somewhere?q=1", "/hdr");
	want_header(h, "X-Bad", NULL, "/hdr");
	want_header(h, "Injected", NULL, "/hdr");
	want_security(h, 1, "/hdr");
	reply_free(&r);
}

/* Parses "STORE THREAD" from /store. */
static void store_thread(const struct reply *r, char store[32], char thread[32])
{
	if (sscanf(bl_buf_str(&r->body), "%31s %31s", store, thread) != 2)
		fail_msg("/store: got \"%s\"", bl_buf_str(&r->body));
}

static void test_store_per_thread(void **state)
{
	char stores[40][32], threads[40][32];
	for (int i = 0; i < 40; i++) {
		struct reply r;
		fetch("GET", "/store", NULL, 0, NULL, &r);
		want_status(&r, 200, "/store");
		store_thread(&r, stores[i], threads[i]);
		reply_free(&r);
	}
	/* One store per thread, a different one on each thread; two threads at most. */
	int n_threads = 0;
	for (int i = 0; i < 40; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++) {
			if (strcmp(threads[i], threads[j]) == 0) {
				seen = 1;
				if (strcmp(stores[i], stores[j]) != 0)
					fail_msg("thread %s used stores %s and %s", threads[i],
					         stores[j], stores[i]);
			} else if (strcmp(stores[i], stores[j]) == 0) {
				fail_msg("store %s used by threads %s and %s", stores[i],
				         threads[j], threads[i]);
			}
		}
		n_threads += !seen;
	}
	if (n_threads > 2)
		fail_msg("%d worker threads ran handlers, want at most 2", n_threads);
}

static void test_store_unavailable(void **state)
{
	struct bl_http_opts o = main_opts();
	char uri[160];
	snprintf(uri, sizeof(uri), "sqlite:%s/missing.db", tmpdir);
	o.db_uri = uri;
	o.db_opts.must_exist = 1;
	struct bl_http_server *s2;
	struct bl_diag d;
	assert_int_equal(bl_http_start(&o, &s2, &d), 0);
	struct reply r;
	fetch_at("127.0.0.1", bl_http_port(s2), "GET", "/store", NULL, 0, NULL, &r);
	want_status(&r, 503, "/store without a database");
	want_security(bl_buf_str(&r.headers), 1, "503");
	want_header(bl_buf_str(&r.headers), "Content-Type", "text/plain; charset=utf-8", "503");
	assert_string_equal(bl_buf_str(&r.body), "Service unavailable\n");
	reply_free(&r);
	/* Routes that 404 do not need the store. */
	fetch_at("127.0.0.1", bl_http_port(s2), "GET", "/nope", NULL, 0, NULL, &r);
	want_status(&r, 404, "/nope without a database");
	reply_free(&r);
	bl_http_stop(s2);
}

/* The connections of one client address beyond per_ip_connections are closed at once. */
static void test_per_ip_limit(void **state)
{
	struct bl_http_opts o = main_opts();
	o.per_ip_connections = 3;
	o.db_uri = NULL;
	o.threads = 1;
	struct bl_http_server *s2;
	struct bl_diag d;
	assert_int_equal(bl_http_start(&o, &s2, &d), 0);
	int p = bl_http_port(s2);
	static const char get[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = connect_to(AF_INET, p);
		send_all(fds[i], get, sizeof(get) - 1);
		char *out = read_all(fds[i], 500, NULL);
		if (raw_status(out) != 200)
			fail_msg("connection %d of 3: got \"%.60s\", want 200", i + 1, out);
		free(out);
	}
	for (int extra = 0; extra < 3; extra++) {
		int fd = connect_to(AF_INET, p);
		send_all(fd, get, sizeof(get) - 1);
		char *out = read_all(fd, 3000, NULL);
		if (out[0])
			fail_msg("connection %d over the limit: got \"%.60s\", want a hang-up",
			         extra + 1, out);
		free(out);
		close(fd);
	}
	/* The three still work, and once one closes a new one is let in. */
	send_all(fds[0], get, sizeof(get) - 1);
	char *out = read_all(fds[0], 500, NULL);
	assert_int_equal(raw_status(out), 200);
	free(out);
	close(fds[1]);
	int ok = 0;
	for (int tries = 0; tries < 50 && !ok; tries++) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		int fd = connect_to(AF_INET, p);
		send_all(fd, get, sizeof(get) - 1);
		out = read_all(fd, 500, NULL);
		ok = raw_status(out) == 200;
		free(out);
		close(fd);
	}
	if (!ok)
		fail_msg("after one of the 3 closed, a new connection was still refused");
	close(fds[0]);
	close(fds[2]);
	bl_http_stop(s2);
}

static void test_idle_timeout(void **state)
{
	struct bl_http_opts o = main_opts();
	o.timeout = 1;
	o.db_uri = NULL;
	struct bl_http_server *s2;
	struct bl_diag d;
	assert_int_equal(bl_http_start(&o, &s2, &d), 0);
	int fd = connect_to(AF_INET, bl_http_port(s2));
	struct pollfd pfd = {fd, POLLIN, 0};
	int n = poll(&pfd, 1, 4000);
	char c;
	if (n != 1 || recv(fd, &c, 1, 0) > 0)
		fail_msg("an idle connection was not closed after the 1 s timeout");
	close(fd);
	bl_http_stop(s2);
}

/* Metrics: exact text after a known sequence on a fresh server. */
static void test_metrics(void **state)
{
	static const struct bl_http_route mr[] = {
	    {BL_HTTP_GET, "/a", 0, "a", h_ok, 0},
	    {BL_HTTP_GET, "/s", 0, "s\"q", h_status, 0},
	    {BL_HTTP_POST, "/a2", 0, "a", h_ok, 0},
	    {BL_HTTP_GET, "/unused", 0, "unused", h_ok, 0},
	};
	struct bl_http_opts o = main_opts();
	o.routes = mr;
	o.n_routes = sizeof(mr) / sizeof(mr[0]);
	o.db_uri = NULL;
	struct bl_http_server *s2;
	struct bl_diag d;
	assert_int_equal(bl_http_start(&o, &s2, &d), 0);
	int p = bl_http_port(s2);
	static const struct {
		const char *method, *path;
		long want;
	} seq[] = {
	    {"GET", "/a", 200},          {"HEAD", "/a", 200},         {"POST", "/a2", 200},
	    {"POST", "/a", 405},         {"GET", "/nope", 404},       {"GET", "/s?code=503", 503},
	    {"GET", "/s?code=204", 204}, {"GET", "/s?code=503", 503},
	};
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct reply r;
		const char *body = strcmp(seq[i].method, "POST") == 0 ? "" : NULL;
		fetch_at("127.0.0.1", p, seq[i].method, seq[i].path, body, 0, NULL, &r);
		want_status(&r, seq[i].want, seq[i].path);
		reply_free(&r);
	}
	char req[] = "GET /a%zz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	int fd = connect_to(AF_INET, p);
	send_all(fd, req, sizeof(req) - 1);
	free(read_all(fd, 3000, NULL));
	close(fd);

	static const char want[] = "# HELP bulletin_http_requests_total HTTP requests answered, by "
	                           "route and status code.\n"
	                           "# TYPE bulletin_http_requests_total counter\n"
	                           "bulletin_http_requests_total{route=\"a\",code=\"200\"} 3\n"
	                           "bulletin_http_requests_total{route=\"a\",code=\"405\"} 1\n"
	                           "bulletin_http_requests_total{route=\"s\\\"q\",code=\"204\"} 1\n"
	                           "bulletin_http_requests_total{route=\"s\\\"q\",code=\"503\"} 2\n"
	                           "bulletin_http_requests_total{route=\"none\",code=\"400\"} 1\n"
	                           "bulletin_http_requests_total{route=\"none\",code=\"404\"} 1\n";
	struct bl_buf m;
	bl_buf_init(&m, 0);
	bl_http_metrics(s2, &m);
	if (strcmp(bl_buf_str(&m), want) != 0)
		fail_msg("metrics:\ngot:\n%s\nwant:\n%s", bl_buf_str(&m), want);

	/* libmicrohttpd's own 431 is counted under "none" once the connection ends. */
	char *h = bl_xmalloc(HEADER_MAX + 32);
	strcpy(h, "X-Big: ");
	memset(h + 7, 'b', HEADER_MAX);
	h[7 + HEADER_MAX] = '\0';
	const char *hs[] = {h, NULL};
	struct reply r;
	fetch_at("127.0.0.1", p, "GET", "/a", NULL, 0, hs, &r);
	want_status(&r, 431, "huge header");
	reply_free(&r);
	free(h);
	int seen = 0;
	for (int i = 0; i < 100 && !seen; i++) {
		bl_buf_reset(&m);
		bl_http_metrics(s2, &m);
		seen = strstr(bl_buf_str(&m), "{route=\"none\",code=\"431\"} 1\n") != NULL;
		if (!seen) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (!seen)
		fail_msg("metrics after a 431:\n%s", bl_buf_str(&m));
	bl_buf_finish(&m);
	bl_http_stop(s2);
}

static void test_ipv6(void **state)
{
	struct bl_http_opts o = main_opts();
	o.listen = "[::1]:0";
	o.db_uri = NULL;
	struct bl_http_server *s2;
	struct bl_diag d;
	int rc = bl_http_start(&o, &s2, &d);
	if (rc == -BL_EIO && (strstr(d.msg, "Cannot assign requested address") ||
	                      strstr(d.msg, "Address family not supported"))) {
		print_message("# no IPv6 loopback here: %s\n", d.msg);
		skip();
	}
	if (rc != 0)
		fail_msg("listen [::1]:0: got %d (%s)", rc, d.msg);
	struct reply r;
	fetch_at("[::1]", bl_http_port(s2), "GET", "/echo", NULL, 0, NULL, &r);
	want_status(&r, 200, "GET [::1]/echo");
	want_field(&r, "ip", "::1", "IPv6 peer");
	reply_free(&r);
	bl_http_stop(s2);
}

static void test_listen_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "127.0.0.1",
	    "127.0.0.1:",
	    "127.0.0.1:99999",
	    "127.0.0.1:8a",
	    "::1:80",
	    "[::1]80",
	    "[::1",
	    "example.com:80",
	    "1.2.3:80",
	    "[zz]:80",
	    "[127.0.0.1]:80",
	    "127.0.0.1:-1",
	    ":80",
	    "127.0.0.1:123456",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bl_http_opts o = main_opts();
		o.listen = bad[i];
		struct bl_http_server *s2 = NULL;
		struct bl_diag d;
		bl_diag_clear(&d);
		int rc = bl_http_start(&o, &s2, &d);
		if (rc != -BL_EINVAL || !d.msg[0] || s2)
			fail_msg("listen \"%s\": got %d (%s), want %d with a message", bad[i], rc,
			         d.msg, -BL_EINVAL);
	}
	/* A port in use: -BL_EIO naming the address and the reason. */
	char busy[64];
	snprintf(busy, sizeof(busy), "127.0.0.1:%d", port);
	struct bl_http_opts o = main_opts();
	o.listen = busy;
	struct bl_http_server *s2 = NULL;
	struct bl_diag d;
	int rc = bl_http_start(&o, &s2, &d);
	char want[128];
	snprintf(want, sizeof(want), "%s: Address already in use", busy);
	if (rc != -BL_EIO || strcmp(d.msg, want) != 0)
		fail_msg("busy port: got %d \"%s\", want %d \"%s\"", rc, d.msg, -BL_EIO, want);
	/* "localhost" is 127.0.0.1. */
	o.listen = "localhost:0";
	assert_int_equal(bl_http_start(&o, &s2, &d), 0);
	bl_http_stop(s2);
	bl_http_stop(NULL);
}

/* Many clients at once on the two threads: every reply is the right one. */
struct load_arg {
	int id, bad;
};

static void *load_main(void *p)
{
	struct load_arg *a = p;
	CURL *c = curl_easy_init();
	for (int i = 0; i < 50; i++) {
		char url[128], want[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/p/%d-%d", port, a->id, i);
		snprintf(want, sizeof(want), "param=%d-%d\n", a->id, i);
		struct bl_buf b;
		bl_buf_init(&b, 0);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		if (curl_easy_perform(c) != CURLE_OK || !strstr(bl_buf_str(&b), want))
			a->bad++;
		bl_buf_finish(&b);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static void test_concurrent(void **state)
{
	pthread_t th[8];
	struct load_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i].id = i;
		args[i].bad = 0;
		assert_int_equal(pthread_create(&th[i], NULL, load_main, &args[i]), 0);
	}
	int bad = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		bad += args[i].bad;
	}
	if (bad)
		fail_msg("%d of 400 concurrent requests got a wrong or no reply", bad);
}

/* A request made by hand (a handler's unit test) has no headers and no cookies. */
static void test_request_by_hand(void **state)
{
	struct bl_http_req req;
	memset(&req, 0, sizeof(req));
	assert_null(bl_http_header(&req, "Cookie"));
	assert_null(bl_http_cookie(&req, "sid"));
}

/* PUT, PATCH and DELETE reach their routes with their bodies. */
static void test_more_methods(void **state)
{
	static const struct {
		const char *method, *path, *body, *want_param, *want_len;
	} cases[] = {
	    {"PUT", "/m/a/b", "{\"x\":1}", "a/b", "7"}, {"PATCH", "/m/7", "{}", "7", "2"},
	    {"DELETE", "/m/slug", NULL, "slug", "0"},   {"PUT", "/pd", "x", "", "1"},
	    {"DELETE", "/pd", NULL, "", "0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		char what[64];
		snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
		fetch(cases[i].method, cases[i].path, cases[i].body,
		      cases[i].body ? strlen(cases[i].body) : 0, NULL, &r);
		want_status(&r, 200, what);
		want_field(&r, "method", cases[i].method, what);
		want_field(&r, "param", cases[i].want_param, what);
		want_field(&r, "body_len", cases[i].want_len, what);
		want_security(bl_buf_str(&r.headers), 1, what);
		reply_free(&r);
	}
}

/* A route's own body limit: above the server's, and its 413 at its own limit. */
/* The gate of bl_http_opts: lets in only a request with "X-Let-In: yes". */
static int gate_calls;
static int let_in(struct bl_http_req *req)
{
	gate_calls++;
	const char *v = bl_http_header(req, "X-Let-In");
	return v && strcmp(v, "yes") == 0 ? 0 : 403;
}

/* A large upload is refused by the gate from its headers alone: the answer
 * comes while the body has not been sent; a small body, or one on a route
 * without its own limit, never asks the gate. */
static void test_gate(void **state)
{
	struct bl_http_server *g = NULL;
	struct bl_diag d;
	struct bl_http_opts o = main_opts();
	o.gate = let_in;
	if (bl_http_start(&o, &g, &d) != 0)
		fail_msg("bl_http_start: %s", d.msg);
	int gp = bl_http_port(g);
	static const struct {
		const char *path, *extra;
		size_t len;
		int calls;
		const char *want;
	} cases[] = {
	    /* headers only: a body of len is announced but never sent */
	    {"/bigbody", "", 3 * BODY_MAX, 1, "HTTP/1.1 403"},
	    {"/bigbody", "X-Let-In: no\r\n", 3 * BODY_MAX, 1, "HTTP/1.1 403"},
	    {"/bigbody", "Transfer-Encoding: chunked\r\n", 0, 1, "HTTP/1.1 403"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char req[512];
		gate_calls = 0;
		if (cases[i].len)
			snprintf(req, sizeof(req),
			         "POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n",
			         cases[i].path, cases[i].extra, cases[i].len);
		else
			snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: t\r\n%s\r\n",
			         cases[i].path, cases[i].extra);
		int fd = connect_to(AF_INET, gp);
		send_all(fd, req, strlen(req));
		char *out = read_all(fd, 3000, NULL);
		close(fd);
		if (strncmp(out, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%.40s\", want \"%s\" before any body byte", i,
			         out, cases[i].want);
		if (gate_calls != cases[i].calls)
			fail_msg("case %zu: the gate ran %d times, want %d", i, gate_calls,
			         cases[i].calls);
		free(out);
	}
	/* Let in: the whole body reaches the handler. Small: no gate at all. */
	char *body = bl_xmalloc(3 * BODY_MAX);
	memset(body, 'x', 3 * BODY_MAX);
	for (int small = 0; small < 2; small++) {
		size_t n = small ? 100 : 3 * BODY_MAX;
		struct bl_buf req;
		bl_buf_init(&req, 0);
		bl_buf_addf(&req,
		            "POST /bigbody HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n"
		            "Content-Length: %zu\r\n\r\n",
		            small ? "" : "X-Let-In: yes\r\n", n);
		bl_buf_add(&req, body, n);
		gate_calls = 0;
		int fd = connect_to(AF_INET, gp);
		send_all(fd, req.data, req.len);
		char *out = read_all(fd, 3000, NULL);
		close(fd);
		if (strncmp(out, "HTTP/1.1 200", 12) != 0)
			fail_msg("%s body: got \"%.40s\", want 200", small ? "small" : "let-in",
			         out);
		if (gate_calls != !small)
			fail_msg("%s body: the gate ran %d times, want %d",
			         small ? "small" : "let-in", gate_calls, !small);
		free(out);
		bl_buf_finish(&req);
	}
	free(body);
	bl_http_stop(g);
}

static void test_route_body_max(void **state)
{
	static const struct {
		const char *method, *path;
		size_t len;
		long want;
	} cases[] = {
	    {"POST", "/bigbody", BODY_MAX + 1, 200}, {"PUT", "/bigbody", 3 * BODY_MAX, 200},
	    {"POST", "/bigbody", 4 * BODY_MAX, 200}, {"POST", "/bigbody", 4 * BODY_MAX + 1, 413},
	    {"POST", "/body", BODY_MAX + 1, 413},    {"POST", "/body", BODY_MAX, 200},
	    {"PUT", "/bigbody", 10 * BODY_MAX, 413},
	};
	char *body = bl_xmalloc(10 * BODY_MAX);
	for (size_t i = 0; i < 10 * BODY_MAX; i++)
		body[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		char what[64];
		snprintf(what, sizeof(what), "%s %s %zu bytes", cases[i].method, cases[i].path,
		         cases[i].len);
		fetch(cases[i].method, cases[i].path, body, cases[i].len, NULL, &r);
		want_status(&r, cases[i].want, what);
		if (cases[i].want == 200 &&
		    (r.body.len != cases[i].len || memcmp(r.body.data, body, r.body.len) != 0))
			fail_msg("%s: got %zu bytes back, want the %zu sent", what, r.body.len,
			         cases[i].len);
		reply_free(&r);
	}
	/* Chunked past the route's limit: 413; within it: the body. */
	for (int over = 0; over < 2; over++) {
		struct bl_buf req;
		bl_buf_init(&req, 0);
		bl_buf_adds(&req, "POST /bigbody HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		                  "Transfer-Encoding: chunked\r\n\r\n");
		size_t n = over ? 5 * BODY_MAX : 2 * BODY_MAX;
		for (size_t o = 0; o < n; o += 1000) {
			size_t k = n - o < 1000 ? n - o : 1000;
			bl_buf_addf(&req, "%zx\r\n", k);
			bl_buf_add(&req, body + o, k);
			bl_buf_adds(&req, "\r\n");
		}
		bl_buf_adds(&req, "0\r\n\r\n");
		int fd = connect_to(AF_INET, port);
		send_all(fd, req.data, req.len);
		char *out = read_all(fd, 3000, NULL);
		close(fd);
		int want = over ? 413 : 200;
		if (raw_status(out) != want)
			fail_msg("chunked %zu bytes to /bigbody: got \"%.60s\", want %d", n, out,
			         want);
		free(out);
		bl_buf_finish(&req);
	}
	free(body);
}

/* A handler's CSP and X-Frame-Options replace the server's; others keep them. */
static void test_csp_override(void **state)
{
	struct reply r;
	fetch("GET", "/csp", NULL, 0, NULL, &r);
	want_status(&r, 200, "GET /csp");
	want_header(bl_buf_str(&r.headers), "Content-Security-Policy",
	            "default-src 'none'; frame-ancestors 'self'", "GET /csp");
	want_header(bl_buf_str(&r.headers), "X-Frame-Options", "SAMEORIGIN", "GET /csp");
	want_header(bl_buf_str(&r.headers), "X-Content-Type-Options", "nosniff", "GET /csp");
	reply_free(&r);
	fetch("GET", "/two", NULL, 0, NULL, &r);
	want_security(bl_buf_str(&r.headers), 1, "GET /two after /csp");
	reply_free(&r);
}

/* How many of this process's descriptors are open on a file named FD_NAME-*. */
static int open_fd_files(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		char link[64], target[256];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		n += strstr(target, FD_NAME) != NULL;
	}
	return n;
}

/* A file response: the rest of the file from its offset, Content-Length
 * from its size; the server closes the file, also when the request fails. */
static void test_fd_response(void **state)
{
	static const struct {
		const char *path;
		long status;
		const char *body, *length;
	} cases[] = {
	    {"/fd", 200, "3456789", "7"},
	    {"/fd?end", 200, "", "0"},
	    {"/fd?fail", 500, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r;
		fetch("GET", cases[i].path, NULL, 0, NULL, &r);
		want_status(&r, cases[i].status, cases[i].path);
		if (cases[i].body && strcmp(bl_buf_str(&r.body), cases[i].body) != 0)
			fail_msg("%s: got body \"%s\", want \"%s\"", cases[i].path,
			         bl_buf_str(&r.body), cases[i].body);
		if (cases[i].length) {
			want_header(bl_buf_str(&r.headers), "Content-Length", cases[i].length,
			            cases[i].path);
			want_header(bl_buf_str(&r.headers), "Content-Type",
			            "text/plain; charset=utf-8", cases[i].path);
		}
		want_header(bl_buf_str(&r.headers), "X-Content-Type-Options", "nosniff",
		            cases[i].path);
		reply_free(&r);
	}
	/* HEAD: the headers, no body, and the file closed as well. */
	struct reply r;
	fetch("HEAD", "/fd", NULL, 0, NULL, &r);
	want_status(&r, 200, "HEAD /fd");
	want_header(bl_buf_str(&r.headers), "Content-Length", "7", "HEAD /fd");
	reply_free(&r);
	/* libmicrohttpd closes a file when the response is destroyed: allow it a moment. */
	int open = 0;
	for (int i = 0; i < 100 && (open = open_fd_files()) > 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (open)
		fail_msg("after 4 file responses: got %d files still open, want 0", open);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_method_not_allowed),
	    cmocka_unit_test(test_head),
	    cmocka_unit_test(test_routes_and_params),
	    cmocka_unit_test(test_bad_paths),
	    cmocka_unit_test(test_user_agent_and_content_type),
	    cmocka_unit_test(test_body),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_header_too_large),
	    cmocka_unit_test(test_no_store),
	    cmocka_unit_test(test_status_and_errors),
	    cmocka_unit_test(test_cookies),
	    cmocka_unit_test(test_added_headers),
	    cmocka_unit_test(test_store_per_thread),
	    cmocka_unit_test(test_store_unavailable),
	    cmocka_unit_test(test_per_ip_limit),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_listen_errors),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_request_by_hand),
	    cmocka_unit_test(test_more_methods),
	    cmocka_unit_test(test_route_body_max),
	    cmocka_unit_test(test_gate),
	    cmocka_unit_test(test_csp_override),
	    cmocka_unit_test(test_fd_response),
	};
	int rc = cmocka_run_group_tests_name("http/server", tests, group_setup, group_teardown);
	curl_global_cleanup();
	return rc;
}
