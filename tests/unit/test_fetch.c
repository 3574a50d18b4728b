/*
 * Tests of the feed fetcher (src/feed/fetch.c) against a real HTTP server on
 * 127.0.0.1: tests/feed/fixture_server.py (/usr/bin/python3), started here
 * on a free port with a temporary directory of fixture feeds and killed at
 * the end. Its /_log shows what arrived (validators, User-Agent,
 * Accept-Encoding, bytes sent, aborted transfers). Covered: 200 with
 * validators, 304 on If-None-Match / If-Modified-Since and 200 after the
 * feed changed, the User-Agent, redirects (limit, loop, final URL), gzip,
 * the size cap (aborted early, also after decompression), timeouts, HTTP
 * errors, the SSRF guard (a table of addresses for the classifier; private
 * literals, names and redirect hops refused before any socket exists;
 * nothing is ever sent beyond 127.0.0.0/8 and ::1) and URL schemes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "feed/fetch.h"
#include "util/buf.h"
#include "util/xalloc.h"

static char dir[] = "/tmp/bl-test-fetch-XXXXXX";
static pid_t server = -1;
static int port;
static char base[64];
static const struct bl_fetch_opts loopback_ok = {.allow_private = 1, .timeout = 10};

static const char feed_v1[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<rss version=\"2.0\"><channel><title>Fixture</title>\n"
                              "<link>http://127.0.0.1/</link>\n"
                              "<item><title>One</title><guid>1</guid></item>\n"
                              "</channel></rss>\n";
static const char feed_v2[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<rss version=\"2.0\"><channel><title>Fixture</title>\n"
                              "<link>http://127.0.0.1/</link>\n"
                              "<item><title>Two</title><guid>2</guid></item>\n"
                              "<item><title>One (edited)</title><guid>1</guid></item>\n"
                              "</channel></rss>\n";

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* @tmpl with each "{port}" replaced by the fixture server's port. */
static void with_port(const char *tmpl, char *out, size_t n)
{
	struct bl_buf b;
	bl_buf_init(&b, n - 1);
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{port}", 6) == 0) {
			bl_buf_addf(&b, "%d", port);
			p += 6;
		} else {
			bl_buf_addc(&b, *p++);
		}
	}
	snprintf(out, n, "%s", bl_buf_str(&b));
	bl_buf_finish(&b);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write @len bytes to DIR/@name with modification time @mtime (0 = now). */
static void write_fixture(const char *name, const char *data, size_t len, time_t mtime)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	if (mtime) {
		struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
		utimensat(AT_FDCWD, path, ts, 0);
	}
}

/* The repetitive feed of @items items (compresses well). */
static char *repetitive_feed(size_t items, size_t *len)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_adds(&b,
	            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>R</title>\n");
	for (size_t i = 0; i < items; i++)
		bl_buf_addf(&b,
		            "<item><title>Item %zu</title><link>http://127.0.0.1/%zu</link>"
		            "<description>the same words again and again</description></item>\n",
		            i, i);
	bl_buf_adds(&b, "</channel></rss>\n");
	*len = b.len;
	return bl_buf_take(&b);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	const char *root = getenv("BL_SOURCE_ROOT");
	if (!root)
		root = ".";
	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr,
		        "# /usr/bin/python3 is missing (scripts/install-deps.sh --check)\n");
		return -1;
	}
	write_fixture("feed.xml", feed_v1, strlen(feed_v1), time(NULL) - 3600);
	size_t len;
	char *big = repetitive_feed(400, &len); /* ~48 KB */
	write_fixture("big.xml", big, len, 0);
	write_fixture("tiny.xml", "<a/>", 4, 0);
	free(big);
	big = repetitive_feed(30000, &len); /* ~3.6 MB, a few KB gzipped */
	write_fixture("bomb.xml", big, len, 0);
	free(big);

	char script[1024], portfile[256];
	snprintf(script, sizeof(script), "%s/tests/feed/fixture_server.py", root);
	snprintf(portfile, sizeof(portfile), "%s/port", dir);
	server = fork();
	if (server < 0)
		return -1;
	if (server == 0) {
		execl("/usr/bin/python3", "python3", script, "--root", dir, "--port-file", portfile,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) { /* 10 s */
		FILE *f = fopen(portfile, "r");
		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;
			fclose(f);
			if (ok && port > 0) {
				snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
				return 0;
			}
		}
		int st;
		if (waitpid(server, &st, WNOHANG) == server) {
			fprintf(stderr, "# fixture_server.py exited (status %d)\n", st);
			server = -1;
			return -1;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "# fixture_server.py wrote no port in 10 s\n");
	return -1;
}

static int teardown(void **state)
{
	(void)state;
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	static const char *const names[] = {"feed.xml", "big.xml", "bomb.xml", "tiny.xml", "port"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

static char *url_of(const char *path)
{
	size_t n = strlen(base) + strlen(path) + 1;
	char *u = bl_xmalloc(n);
	snprintf(u, n, "%s%s", base, path);
	return u;
}

/* Every request the server saw (a JSON array; json_decref it). */
static json_t *server_log(void)
{
	struct bl_fetch_result r;
	struct bl_diag d = {{0}};
	char *u = url_of("/_log");
	int rc = bl_fetch(u, NULL, NULL, &loopback_ok, &r, &d);
	free(u);
	if (rc != 0)
		fail_msg("GET /_log: got %d (%s), want 0", rc, d.msg);
	json_error_t je;
	json_t *j = json_loads(r.body, 0, &je);
	bl_fetch_result_clear(&r);
	if (!json_is_array(j))
		fail_msg("/_log is not a JSON array: %s", je.text);
	return j;
}

/* The last logged request for @path, or NULL; borrowed from @log. */
static json_t *last_entry(json_t *log, const char *path)
{
	for (size_t i = json_array_size(log); i-- > 0;) {
		json_t *e = json_array_get(log, i);
		if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0)
			return e;
	}
	return NULL;
}

static const char *field(json_t *e, const char *name)
{
	const char *s = json_string_value(json_object_get(e, name));
	return s ? s : "(absent)";
}

static size_t log_count(const char *path)
{
	json_t *log = server_log();
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(log); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(log, i), "path")),
		           path) == 0)
			n++;
	json_decref(log);
	return n;
}

/* ---------------------------------------------------------------- tests */

static void test_classifier(void **state)
{
	(void)state;
	static const struct {
		const char *addr;
		int want;
		const char *kind;
	} cases[] = {
	    {"127.0.0.1", 1, "loopback"},
	    {"127.255.255.254", 1, "loopback"},
	    {"10.0.0.1", 1, "private"},
	    {"10.255.255.255", 1, "private"},
	    {"172.16.0.1", 1, "private"},
	    {"172.31.255.255", 1, "private"},
	    {"172.15.255.255", 0, NULL},
	    {"172.32.0.0", 0, NULL},
	    {"192.168.1.1", 1, "private"},
	    {"192.169.0.1", 0, NULL},
	    {"169.254.169.254", 1, "link-local"},
	    {"100.64.0.1", 1, "carrier-grade NAT (shared)"},
	    {"100.127.255.255", 1, "carrier-grade NAT (shared)"},
	    {"100.63.255.255", 0, NULL},
	    {"100.128.0.0", 0, NULL},
	    {"0.0.0.0", 1, "unspecified"},
	    {"0.1.2.3", 1, "unspecified"},
	    {"224.0.0.1", 1, "multicast"},
	    {"239.255.255.250", 1, "multicast"},
	    {"255.255.255.255", 1, "reserved"},
	    {"240.0.0.1", 1, "reserved"},
	    {"192.0.0.8", 1, "reserved"},
	    {"198.18.0.1", 1, "reserved"},
	    {"8.8.8.8", 0, NULL},
	    {"93.184.216.34", 0, NULL},
	    {"1.1.1.1", 0, NULL},
	    {"11.0.0.1", 0, NULL},
	    {"126.255.255.255", 0, NULL},
	    {"128.0.0.1", 0, NULL},
	    {"::1", 1, "loopback"},
	    {"::", 1, "unspecified"},
	    {"fe80::1", 1, "link-local"},
	    {"febf::1", 1, "link-local"},
	    {"fec0::1", 1, "site-local"},
	    {"fc00::1", 1, "unique-local"},
	    {"fd12:3456::1", 1, "unique-local"},
	    {"ff02::1", 1, "multicast"},
	    {"::ffff:127.0.0.1", 1, "loopback"},
	    {"::ffff:10.1.2.3", 1, "private"},
	    {"::ffff:169.254.1.1", 1, "link-local"},
	    {"::ffff:0.0.0.0", 1, "unspecified"},
	    {"::ffff:8.8.8.8", 0, NULL},
	    {"::127.0.0.1", 1, "loopback"},
	    {"::192.168.0.1", 1, "private"},
	    {"64:ff9b::10.0.0.1", 1, "private"},
	    {"64:ff9b::8.8.8.8", 0, NULL},
	    {"2002:7f00:1::1", 1, "loopback"},
	    {"2002:0808:0808::1", 0, NULL},
	    {"2001:4860:4860::8888", 0, NULL},
	    {"2606:4700::1111", 0, NULL},
	    {"fbff::1", 0, NULL},
	    {"fe00::1", 0, NULL},
	};
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, cases[i].addr, &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
		} else if (inet_pton(AF_INET6, cases[i].addr, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
		} else {
			fail_msg("bad test address %s", cases[i].addr);
		}
		const char *kind = "unset";
		int got = bl_fetch_address_private((struct sockaddr *)&ss, &kind);
		if (got != cases[i].want || (kind == NULL) != (cases[i].kind == NULL) ||
		    (kind && strcmp(kind, cases[i].kind) != 0)) {
			printf("# %s: got %d %s, want %d %s\n", cases[i].addr, got,
			       kind ? kind : "(public)", cases[i].want,
			       cases[i].kind ? cases[i].kind : "(public)");
			failures++;
		}
	}
	struct sockaddr_un_like {
		sa_family_t family;
		char path[32];
	} un = {AF_UNIX, "/tmp/x"};
	const char *kind = NULL;
	if (bl_fetch_address_private((struct sockaddr *)&un, &kind) != -1)
		fail_msg("AF_UNIX: got not -1, want -1");
	if (failures)
		fail_msg("%d of %zu addresses misclassified", failures,
		         sizeof(cases) / sizeof(cases[0]));
}

static void test_ok(void **state)
{
	(void)state;
	static const struct {
		const char *path, *content_type;
	} cases[] = {
	    {"/f/feed.xml", "application/xml"},
	    {"/ct/application%2Frss%2Bxml%3B%20charset%3Dutf-8/feed.xml",
	     "application/rss+xml; charset=utf-8"},
	    {"/r/0/feed.xml", "application/xml"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *u = url_of(cases[i].path);
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		int rc = bl_fetch(u, NULL, NULL, &loopback_ok, &r, &d);
		if (rc != 0)
			fail_msg("%s: got %d (%s), want 0", cases[i].path, rc, d.msg);
		if (r.status != 200 || r.not_modified)
			fail_msg("%s: got status %ld not_modified %d, want 200 0", cases[i].path,
			         r.status, r.not_modified);
		if (!r.body || r.len != strlen(feed_v1) || strcmp(r.body, feed_v1) != 0)
			fail_msg("%s: got body (%zu bytes) \"%s\", want the fixture (%zu)",
			         cases[i].path, r.len, r.body ? r.body : "(null)", strlen(feed_v1));
		if (r.etag[0] != '"' || strlen(r.etag) != 34)
			fail_msg("%s: got etag %s, want a strong 32-hex-digit tag", cases[i].path,
			         r.etag);
		if (!strstr(r.last_modified, " GMT"))
			fail_msg("%s: got last_modified \"%s\", want an HTTP date", cases[i].path,
			         r.last_modified);
		if (strcmp(r.content_type, cases[i].content_type) != 0)
			fail_msg("%s: got content_type \"%s\", want \"%s\"", cases[i].path,
			         r.content_type, cases[i].content_type);
		if (strcmp(r.final_url, u) != 0)
			fail_msg("%s: got final_url %s, want %s", cases[i].path, r.final_url, u);
		bl_fetch_result_clear(&r);
		bl_fetch_result_clear(&r); /* idempotent */
		free(u);
	}
	bl_fetch_result_clear(NULL);
}

static void test_conditional(void **state)
{
	(void)state;
	char *u = url_of("/f/feed.xml");
	struct bl_fetch_result r, c;
	struct bl_diag d = {{0}};
	assert_int_equal(bl_fetch(u, NULL, NULL, &loopback_ok, &r, &d), 0);
	char *etag = bl_xstrdup(r.etag), *lm = bl_xstrdup(r.last_modified);
	bl_fetch_result_clear(&r);

	/* Each validator alone, then both: 304, no body, validators kept. */
	static const struct {
		int send_etag, send_lm;
	} cases[] = {{1, 0}, {0, 1}, {1, 1}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *e = cases[i].send_etag ? etag : NULL, *l = cases[i].send_lm ? lm : NULL;
		int rc = bl_fetch(u, e, l, &loopback_ok, &c, &d);
		if (rc != 0 || c.status != 304 || !c.not_modified || c.body)
			fail_msg("case %zu: got rc %d status %ld not_modified %d body %s, want 0 "
			         "304 1 NULL",
			         i, rc, c.status, c.not_modified, c.body ? "set" : "NULL");
		if (strcmp(c.etag, etag) != 0 || strcmp(c.last_modified, lm) != 0)
			fail_msg("case %zu: got validators %s / %s, want %s / %s", i, c.etag,
			         c.last_modified, etag, lm);
		bl_fetch_result_clear(&c);
		json_t *log = server_log();
		json_t *ent = last_entry(log, "/f/feed.xml");
		const char *inm = field(ent, "If-None-Match"),
		           *ims = field(ent, "If-Modified-Since");
		if (strcmp(inm, e ? e : "(absent)") != 0 || strcmp(ims, l ? l : "(absent)") != 0)
			fail_msg("case %zu: server saw If-None-Match %s, If-Modified-Since %s; "
			         "want %s, %s",
			         i, inm, ims, e ? e : "(absent)", l ? l : "(absent)");
		json_decref(log);
	}

	/* The feed changes (an item added, one edited; a newer mtime): 200 with
	 * the new content and new validators, whichever validator is sent. */
	write_fixture("feed.xml", feed_v2, strlen(feed_v2), time(NULL) - 60);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *e = cases[i].send_etag ? etag : NULL, *l = cases[i].send_lm ? lm : NULL;
		int rc = bl_fetch(u, e, l, &loopback_ok, &c, &d);
		if (rc != 0 || c.status != 200 || c.not_modified || !c.body ||
		    strcmp(c.body, feed_v2) != 0)
			fail_msg(
			    "changed, case %zu: got rc %d status %ld body %s, want 0 200 feed_v2",
			    i, rc, c.status, c.body ? c.body : "(null)");
		if (strcmp(c.etag, etag) == 0 || strcmp(c.last_modified, lm) == 0)
			fail_msg("changed, case %zu: got the old validators %s / %s", i, c.etag,
			         c.last_modified);
		bl_fetch_result_clear(&c);
	}
	write_fixture("feed.xml", feed_v1, strlen(feed_v1), time(NULL) - 3600);
	free(etag);
	free(lm);
	free(u);
}

static void test_user_agent(void **state)
{
	(void)state;
	static const struct {
		const char *set, *want;
	} cases[] = {
	    {NULL, "bulletin/" BL_VERSION},
	    {"bulletin/" BL_VERSION " (+https://news.example.com/)",
	     "bulletin/" BL_VERSION " (+https://news.example.com/)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_fetch_opts o = loopback_ok;
		o.user_agent = cases[i].set;
		char *u = url_of("/f/feed.xml");
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		assert_int_equal(bl_fetch(u, NULL, NULL, &o, &r, &d), 0);
		bl_fetch_result_clear(&r);
		free(u);
		json_t *log = server_log();
		json_t *ent = last_entry(log, "/f/feed.xml");
		if (strcmp(field(ent, "User-Agent"), cases[i].want) != 0)
			fail_msg("got User-Agent %s, want %s", field(ent, "User-Agent"),
			         cases[i].want);
		if (!strstr(field(ent, "Accept-Encoding"), "gzip"))
			fail_msg("got Accept-Encoding %s, want gzip in it",
			         field(ent, "Accept-Encoding"));
		json_decref(log);
	}
	if (!strstr(BL_FETCH_USER_AGENT, "bulletin/") || strlen(BL_VERSION) < 5)
		fail_msg("got default User-Agent %s, want bulletin/VERSION", BL_FETCH_USER_AGENT);
}

static void test_redirects(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		long max_redirects;
		int want_rc;
		long want_status;
		const char *want_msg;
	} cases[] = {
	    {"/r/1/feed.xml", 0, 0, 200, NULL},
	    {"/r/5/feed.xml", 0, 0, 200, NULL}, /* the default: 5 */
	    {"/r/6/feed.xml", 0, -BL_EIO, 302, "more than 5 redirects"},
	    {"/r/2/feed.xml", 1, -BL_EIO, 302, "more than 1 redirects"},
	    {"/r/3/feed.xml", 3, 0, 200, NULL},
	    {"/r/1/feed.xml", -1, -BL_EIO, 302, "HTTP 302"},
	    {"/loop", 0, -BL_EIO, 302, "redirects"},
	    {"/loop", 20, -BL_EIO, 302, "more than 20 redirects"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_fetch_opts o = loopback_ok;
		o.max_redirects = cases[i].max_redirects;
		char *u = url_of(cases[i].path);
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		int rc = bl_fetch(u, NULL, NULL, &o, &r, &d);
		if (rc != cases[i].want_rc || r.status != cases[i].want_status)
			fail_msg("%s max %ld: got rc %d status %ld (%s), want %d %ld",
			         cases[i].path, cases[i].max_redirects, rc, r.status, d.msg,
			         cases[i].want_rc, cases[i].want_status);
		if (rc == 0) {
			char *want = url_of("/f/feed.xml");
			if (strcmp(r.final_url, want) != 0 || !r.body ||
			    strcmp(r.body, feed_v1) != 0)
				fail_msg("%s: got final_url %s, want %s (and the feed)",
				         cases[i].path, r.final_url, want);
			free(want);
		} else if (!strstr(d.msg, cases[i].want_msg)) {
			fail_msg("%s: got message \"%s\", want it to say \"%s\"", cases[i].path,
			         d.msg, cases[i].want_msg);
		}
		bl_fetch_result_clear(&r);
		free(u);
	}
}

/* Wait up to 10 s for the server to finish the last request for @path. */
static json_t *finished_entry(const char *path, json_t **log)
{
	for (int i = 0; i < 100; i++) {
		*log = server_log();
		json_t *e = last_entry(*log, path);
		if (e && json_is_true(json_object_get(e, "done")))
			return e;
		json_decref(*log);
		sleep_ms(100);
	}
	fail_msg("%s: the server never finished the request", path);
	return NULL;
}

static void test_gzip(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/big.xml", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	char *u = url_of("/gz/big.xml");
	struct bl_fetch_result r;
	struct bl_diag d = {{0}};
	int rc = bl_fetch(u, NULL, NULL, &loopback_ok, &r, &d);
	if (rc != 0 || r.len != (size_t)st.st_size || strncmp(r.body, "<?xml", 5) != 0)
		fail_msg("got rc %d (%s), %zu bytes, want 0 and %lld decoded bytes", rc, d.msg,
		         r.len, (long long)st.st_size);
	bl_fetch_result_clear(&r);
	json_t *log;
	json_t *ent = finished_entry("/gz/big.xml", &log);
	long long sent = json_integer_value(json_object_get(ent, "sent"));
	if (sent <= 0 || sent * 4 > (long long)st.st_size)
		fail_msg("server sent %lld bytes for a %lld-byte file, want it gzipped (< 1/4)",
		         sent, (long long)st.st_size);
	json_decref(log);
	free(u);
}

static void test_too_big(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		size_t max;
		int want_rc;
		size_t want_len;
	} cases[] = {
	    {"/big/1048576", 1048576, 0, 1048576},       /* exactly the limit */
	    {"/big/1048577", 1048576, -BL_ELIMIT, 0},    /* one byte over */
	    {"/big/1073741824", 1048576, -BL_ELIMIT, 0}, /* 1 GiB announced: stop early */
	    {"/gz/bomb.xml", 1048576, -BL_ELIMIT, 0},    /* small gzipped, large decoded */
	    {"/gz/big.xml", 0, 0, 0},                    /* the default (10 MiB) */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_fetch_opts o = loopback_ok;
		o.max_bytes = cases[i].max;
		char *u = url_of(cases[i].path);
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		double t0 = now_s();
		int rc = bl_fetch(u, NULL, NULL, &o, &r, &d);
		double took = now_s() - t0;
		if (rc != cases[i].want_rc || (cases[i].want_len && r.len != cases[i].want_len))
			fail_msg("%s: got rc %d (%s) len %zu, want %d len %zu", cases[i].path, rc,
			         d.msg, r.len, cases[i].want_rc, cases[i].want_len);
		if (rc == -BL_ELIMIT) {
			if (!strstr(d.msg, "1048576 bytes") || !strstr(d.msg, "feed_max_size") ||
			    r.body)
				fail_msg(
				    "%s: got message \"%s\" body %p, want the limit named, no body",
				    cases[i].path, d.msg, (void *)r.body);
			if (took > 5)
				fail_msg("%s: took %.1f s, want the transfer stopped at once",
				         cases[i].path, took);
		}
		bl_fetch_result_clear(&r);
		free(u);
	}
	/* The server saw the 1 GiB transfer cut short. */
	json_t *log;
	json_t *e = finished_entry("/big/1073741824", &log);
	long long sent = json_integer_value(json_object_get(e, "sent"));
	printf("# 1 GiB body with a 1 MiB cap: the server wrote %lld bytes before the client "
	       "hung up\n",
	       sent);
	if (!json_is_true(json_object_get(e, "aborted")) || sent >= 64LL << 20)
		fail_msg("got sent %lld aborted %d, want an aborted transfer far below 1 GiB", sent,
		         json_is_true(json_object_get(e, "aborted")));
	json_decref(log);
}

static void test_slow(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		long timeout, low_speed_time;
		int want_rc;
		double max_s;
	} cases[] = {
	    {"/slow/30/feed.xml", 1, 0, -BL_EIO, 3.0},
	    {"/slow/30/big.xml", 2, 0, -BL_EIO, 4.0},
	    {"/slow/0.5/feed.xml", 10, 0, 0, 5.0},
	    {"/slow/30/tiny.xml", 20, 2, -BL_EIO, 5.0}, /* 4 bytes, one per 7.5 s: stalled */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_fetch_opts o = loopback_ok;
		o.timeout = cases[i].timeout;
		o.low_speed_time = cases[i].low_speed_time;
		char *u = url_of(cases[i].path);
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		double t0 = now_s();
		int rc = bl_fetch(u, NULL, NULL, &o, &r, &d);
		double took = now_s() - t0;
		printf("# %s, timeout %ld s: rc %d after %.2f s\n", cases[i].path, cases[i].timeout,
		       rc, took);
		if (rc != cases[i].want_rc || took > cases[i].max_s)
			fail_msg("%s: got rc %d (%s) after %.2f s, want %d within %.1f s",
			         cases[i].path, rc, d.msg, took, cases[i].want_rc, cases[i].max_s);
		if (rc != 0 && (!strstr(d.msg, "too slow") || r.status != 200 || r.body))
			fail_msg(
			    "%s: got message \"%s\" status %ld, want \"too slow\", 200, no body",
			    cases[i].path, d.msg, r.status);
		if (rc == 0 && strcmp(r.body, feed_v1) != 0)
			fail_msg("%s: got body %s, want the feed", cases[i].path, r.body);
		bl_fetch_result_clear(&r);
		free(u);
	}
}

static void test_status(void **state)
{
	(void)state;
	static const struct {
		long code;
		int want_rc;
	} cases[] = {
	    {404, -BL_EIO}, {410, -BL_EIO}, {500, -BL_EIO}, {503, -BL_EIO},
	    {403, -BL_EIO}, {204, 0},       {300, -BL_EIO},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64], want[32];
		snprintf(path, sizeof(path), "/status/%ld", cases[i].code);
		snprintf(want, sizeof(want), "HTTP %ld", cases[i].code);
		char *u = url_of(path);
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		int rc = bl_fetch(u, NULL, NULL, &loopback_ok, &r, &d);
		if (rc != cases[i].want_rc || r.status != cases[i].code)
			fail_msg("%s: got rc %d status %ld (%s), want %d %ld", path, rc, r.status,
			         d.msg, cases[i].want_rc, cases[i].code);
		if (rc != 0 && (!strstr(d.msg, want) || !strstr(d.msg, u) || r.body))
			fail_msg("%s: got message \"%s\", want it to name %s and the URL, no body",
			         path, d.msg, want);
		if (rc == 0 && (!r.body || r.len != 0))
			fail_msg("%s: got body %p len %zu, want \"\"", path, (void *)r.body, r.len);
		bl_fetch_result_clear(&r);
		free(u);
	}
}

/* Targets the guard must refuse with allow_private = 0. Only loopback ones
 * carry the fixture server's port; the others must never be reached. They
 * come first: a guard that is not wired in fails the test (fail_msg leaves
 * it) at the first loopback case, before any other address is tried, and
 * each non-loopback literal is checked by the classifier before it is
 * fetched, so a broken guard cannot send a packet off the machine. */
static void test_private_refused(void **state)
{
	(void)state;
	static const struct {
		const char *fmt; /* {port} = the fixture server's port */
		const char *addr, *kind;
	} cases[] = {
	    {"http://127.0.0.1:{port}/f/feed.xml", "127.0.0.1", "loopback"},
	    {"http://127.1.2.3:{port}/f/feed.xml", "127.1.2.3", "loopback"},
	    {"http://[::1]:{port}/f/feed.xml", "::1", "loopback"},
	    {"http://[::ffff:127.0.0.1]:{port}/f/feed.xml", "127.0.0.1", "loopback"},
	    {"http://localhost:{port}/f/feed.xml", NULL, "loopback"},
	    {"http://0.0.0.0:{port}/f/feed.xml", "0.0.0.0", "unspecified"},
	    {"http://10.1.2.3/feed.xml", "10.1.2.3", "private"},
	    {"http://192.168.0.1:8080/rss", "192.168.0.1", "private"},
	    {"http://172.16.5.4/rss", "172.16.5.4", "private"},
	    {"http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"},
	    {"http://100.64.0.1/rss", "100.64.0.1", "carrier-grade NAT"},
	    {"https://[fd00::1]/rss", "fd00::1", "unique-local"},
	    {"http://[::ffff:10.0.0.1]/rss", "10.0.0.1", "private"},
	    {"http://224.0.0.1/rss", "224.0.0.1", "multicast"},
	};
	size_t before = log_count("/f/feed.xml");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].addr) { /* never let a packet leave: the classifier must agree first */
			struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
			struct sockaddr_in in = {.sin_family = AF_INET};
			const struct sockaddr *sa = (const struct sockaddr *)&in;
			if (inet_pton(AF_INET, cases[i].addr, &in.sin_addr) != 1) {
				assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &in6.sin6_addr),
				                 1);
				sa = (const struct sockaddr *)&in6;
			}
			if (bl_fetch_address_private(sa, NULL) != 1)
				fail_msg("%s: the classifier calls it public; not fetching it",
				         cases[i].addr);
		}
		char url[128];
		with_port(cases[i].fmt, url, sizeof(url));
		struct bl_fetch_opts o = {.timeout = 5, .connect_timeout = 2};
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		double t0 = now_s();
		int rc = bl_fetch(url, NULL, NULL, &o, &r, &d);
		double took = now_s() - t0;
		if (rc != -BL_EPERM || r.status != 0 || r.body)
			fail_msg("%s: got rc %d status %ld (%s), want %d (refused), no answer", url,
			         rc, r.status, d.msg, -BL_EPERM);
		if (!strstr(d.msg, "refused") || !strstr(d.msg, cases[i].kind) ||
		    !strstr(d.msg, "feed_allow_private = on") ||
		    (cases[i].addr && !strstr(d.msg, cases[i].addr)))
			fail_msg(
			    "%s: got message \"%s\", want refused, %s, %s and feed_allow_private",
			    url, d.msg, cases[i].addr ? cases[i].addr : "", cases[i].kind);
		if (took > 1.0)
			fail_msg("%s: took %.2f s, want an immediate refusal", url, took);
		if (i == 0)
			printf("# %s\n", d.msg);
		bl_fetch_result_clear(&r);
	}
	size_t after = log_count("/f/feed.xml");
	if (after != before)
		fail_msg(
		    "the server got %zu requests for /f/feed.xml while the guard was on, want 0",
		    after - before);
	/* With feed_allow_private on, the same loopback targets are fetched. */
	static const char *const allowed[] = {"http://127.0.0.1:{port}/f/feed.xml",
	                                      "http://localhost:{port}/f/feed.xml"};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		char url[128];
		with_port(allowed[i], url, sizeof(url));
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		int rc = bl_fetch(url, NULL, NULL, &loopback_ok, &r, &d);
		if (rc != 0 || r.status != 200)
			fail_msg("%s with allow_private: got rc %d (%s), want 0", url, rc, d.msg);
		bl_fetch_result_clear(&r);
	}
}

/* A redirect from a "public" origin (127.0.0.1 standing in for one through
 * test_public_addr) to a private target is refused at that hop. Loopback
 * hops first, for the reason given above test_private_refused. */
static void test_redirect_to_private(void **state)
{
	(void)state;
	char hop[4][160];
	with_port("http://127.0.0.2:{port}/f/feed.xml", hop[0], sizeof(hop[0]));
	with_port("http://[::1]:{port}/f/feed.xml", hop[1], sizeof(hop[1]));
	snprintf(hop[2], sizeof(hop[2]), "http://10.0.0.1/feed.xml");
	snprintf(hop[3], sizeof(hop[3]), "http://169.254.169.254/latest/meta-data/");
	static const char *const kinds[] = {"loopback", "loopback", "private", "link-local"};
	static const char *const addrs[] = {"127.0.0.2", "::1", "10.0.0.1", "169.254.169.254"};
	struct bl_fetch_opts o = {
	    .timeout = 5, .connect_timeout = 2, .test_public_addr = "127.0.0.1"};

	/* The stand-in origin itself is allowed. */
	char *u = url_of("/r/2/feed.xml");
	struct bl_fetch_result r;
	struct bl_diag d = {{0}};
	int rc = bl_fetch(u, NULL, NULL, &o, &r, &d);
	if (rc != 0)
		fail_msg("%s via the stand-in public address: got %d (%s), want 0", u, rc, d.msg);
	bl_fetch_result_clear(&r);
	free(u);

	for (size_t i = 0; i < 4; i++) {
		char path[256];
		char *esc = bl_xstrdup(hop[i]);
		struct bl_buf b;
		bl_buf_init(&b, 0);
		bl_buf_adds(&b, "/to/");
		for (const char *p = esc; *p; p++)
			bl_buf_addf(&b, strchr(":/[]", *p) ? "%%%02X" : "%c", (unsigned char)*p);
		snprintf(path, sizeof(path), "%s", bl_buf_str(&b));
		bl_buf_finish(&b);
		free(esc);
		u = url_of(path);
		rc = bl_fetch(u, NULL, NULL, &o, &r, &d);
		if (rc != -BL_EPERM || !strstr(d.msg, addrs[i]) || !strstr(d.msg, kinds[i]))
			fail_msg("redirect to %s: got rc %d (%s), want %d naming %s, %s", hop[i],
			         rc, d.msg, -BL_EPERM, addrs[i], kinds[i]);
		bl_fetch_result_clear(&r);
		free(u);
	}
}

static void test_schemes(void **state)
{
	(void)state;
	static const struct {
		const char *url; /* {port} = the fixture server's port */
		int want_rc;
	} cases[] = {
	    {"file:///etc/passwd", -BL_EINVAL},
	    {"ftp://127.0.0.1:{port}/feed.xml", -BL_EINVAL},
	    {"gopher://127.0.0.1:{port}/1", -BL_EINVAL},
	    {"dict://127.0.0.1:{port}/x", -BL_EINVAL},
	    {"127.0.0.1:{port}/f/feed.xml", -BL_EINVAL}, /* no scheme: no guessing */
	    {"not a url", -BL_EINVAL},
	    {"http://", -BL_EINVAL},
	    {"http://[::1/f/feed.xml", -BL_EINVAL},
	    {"HTTP://127.0.0.1:{port}/f/feed.xml", 0},
	    /* Redirects to other schemes. */
	    {"http://127.0.0.1:{port}/to/file%3A%2F%2F%2Fetc%2Fpasswd", -BL_EPERM},
	    {"http://127.0.0.1:{port}/to/ftp%3A%2F%2F127.0.0.1%2Ffeed.xml", -BL_EPERM},
	    {"http://127.0.0.1:{port}/to/gopher%3A%2F%2F127.0.0.1%2F1", -BL_EPERM},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char url[256];
		with_port(cases[i].url, url, sizeof(url));
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		int rc = bl_fetch(url, NULL, NULL, &loopback_ok, &r, &d);
		if (rc != cases[i].want_rc)
			fail_msg("%s: got %d (%s), want %d", url, rc, d.msg, cases[i].want_rc);
		if (rc == -BL_EPERM)
			printf("# %s\n", d.msg);
		if (rc != 0 && (!strstr(d.msg, "http") || r.body))
			fail_msg("%s: got message \"%s\", want it to say why (http/https only)",
			         url, d.msg);
		bl_fetch_result_clear(&r);
	}
	/* A validator with CR/LF would inject a header. */
	char *u = url_of("/f/feed.xml");
	struct bl_fetch_result r;
	struct bl_diag d = {{0}};
	assert_int_equal(bl_fetch(u, "\"x\"\r\nX-Evil: 1", NULL, &loopback_ok, &r, &d), -BL_EINVAL);
	bl_fetch_result_clear(&r);
	assert_int_equal(bl_fetch(u, NULL, "Mon\n", &loopback_ok, &r, &d), -BL_EINVAL);
	bl_fetch_result_clear(&r);
	free(u);
}

static void *fetch_many(void *arg)
{
	(void)arg;
	long bad = 0;
	char *u = url_of("/r/1/feed.xml");
	for (int i = 0; i < 10; i++) {
		struct bl_fetch_result r;
		struct bl_diag d = {{0}};
		if (bl_fetch(u, NULL, NULL, &loopback_ok, &r, &d) != 0 ||
		    strcmp(r.body, feed_v1) != 0)
			bad++;
		bl_fetch_result_clear(&r);
	}
	free(u);
	return (void *)bad;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fetch_many, NULL), 0);
	long bad = 0;
	for (int i = 0; i < 4; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		bad += (long)rv;
	}
	if (bad)
		fail_msg("got %ld failed fetches of 40 from 4 threads, want 0", bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classifier),
	    cmocka_unit_test(test_ok),
	    cmocka_unit_test(test_conditional),
	    cmocka_unit_test(test_user_agent),
	    cmocka_unit_test(test_redirects),
	    cmocka_unit_test(test_gzip),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_slow),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_private_refused),
	    cmocka_unit_test(test_redirect_to_private),
	    cmocka_unit_test(test_schemes),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
