/*
 * What the HTTP tests share: the libcurl client and the database each runs
 * on (see lib.h). Compiled into each HTTP test executable that uses it
 * (tests/meson.build).
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	char *grown = realloc(r->body, r->len + size * n + 1);
	if (!grown)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t k = size * n;
	if (r->hlen + k < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

void reply_free(struct reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

void tl_fetch(int port, const struct tl_request *q, struct reply *r)
{
	char url[4096];
	const char *method = q->method ? q->method : q->body ? "POST" : "GET";
	CURL *c = curl_easy_init();
	memset(r, 0, sizeof(*r));
	r->body = calloc(1, 1);
	assert_non_null(c);
	assert_non_null(r->body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, q->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, q->timeout ? q->timeout : 30L);
	if (q->cookie)
		curl_easy_setopt(c, CURLOPT_COOKIE, q->cookie);
	if (q->iface)
		curl_easy_setopt(c, CURLOPT_INTERFACE, q->iface);
	if (q->user_agent)
		curl_easy_setopt(c, CURLOPT_USERAGENT, q->user_agent);
	if (q->hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->hdrs);
	if (q->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)q->body_len);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, q->body ? "POST" : "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, q->path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	json_error_t err;
	r->json = r->len ? json_loads(r->body, 0, &err) : NULL;
}

int tl_header(const struct reply *r, const char *name, char *out, size_t size)
{
	const char *p = r->headers;
	size_t n = strlen(name);
	out[0] = '\0';
	while (p && *p) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			p += strspn(p, " ");
			size_t k = strcspn(p, "\r\n");
			if (k >= size)
				k = size - 1;
			memcpy(out, p, k);
			out[k] = '\0';
			return 1;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

const char *find_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return hay;
	return NULL;
}

void tl_want_status(const struct reply *r, long want, const char *what)
{
	if (r->status != want)
		fail_msg("%s: got HTTP %ld, want %ld; body: %.400s", what, r->status, want,
		         r->body);
}

int tl_db_create(const char *backend, const char *tag, struct tl_db *t)
{
	int pg = strcmp(backend, "postgres") == 0;
	const char *server = getenv("BL_TEST_PG");
	memset(t, 0, sizeof(*t));
	if (pg && !(server && *server)) {
		printf("1..0 # SKIP BL_TEST_PG is not set\n");
		exit(77);
	}
	snprintf(t->dir, sizeof(t->dir), "/tmp/bl-http-%s-XXXXXX", tag);
	if (!mkdtemp(t->dir))
		return -1;
	if (!pg) {
		snprintf(t->uri, sizeof(t->uri), "sqlite:%s/bulletin.db", t->dir);
		return 0;
	}
	char cmd[1024];
	snprintf(t->pg_name, sizeof(t->pg_name), "bl_%s_%ld", tag, (long)getpid());
	snprintf(cmd, sizeof(cmd), "psql -q '%s' -c 'CREATE DATABASE %s' >/dev/null", server,
	         t->pg_name);
	if (system(cmd) != 0)
		return -1;
	const char *slash = strrchr(server, '/');
	snprintf(t->uri, sizeof(t->uri), "%.*s/%s", (int)(slash - server), server, t->pg_name);
	return 0;
}

void tl_db_drop(const struct tl_db *t)
{
	char cmd[1024];
	if (*t->pg_name) {
		snprintf(cmd, sizeof(cmd),
		         "psql -q '%s' -c 'DROP DATABASE IF EXISTS %s' >/dev/null",
		         getenv("BL_TEST_PG"), t->pg_name);
		if (system(cmd) != 0)
			fprintf(stderr, "could not drop %s\n", t->pg_name);
	}
	if (*t->dir) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", t->dir);
	}
}

int tl_feeds_start(const char *dir, struct tl_feeds *f)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	char script[1024], portfile[256];
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	snprintf(script, sizeof(script), "%s/tests/feed/fixture_server.py", root ? root : ".");
	snprintf(portfile, sizeof(portfile), "%s/fixture-port", dir);
	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr,
		        "# /usr/bin/python3 is missing (scripts/install-deps.sh --check)\n");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", script, "--root", dir, "--port-file", portfile,
		      (char *)NULL);
		_exit(127);
	}
	f->pid = (int)pid;
	for (int i = 0; i < 200; i++) { /* 10 s */
		FILE *pf = fopen(portfile, "r");
		if (pf) {
			int ok = fscanf(pf, "%d", &f->port) == 1;
			fclose(pf);
			if (ok && f->port > 0)
				return 0;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "# fixture_server.py exited (status %d)\n", st);
			f->pid = 0;
			return -1;
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "# fixture_server.py wrote no port in 10 s\n");
	tl_feeds_stop(f);
	return -1;
}

void tl_feeds_stop(struct tl_feeds *f)
{
	if (f->pid > 0) {
		kill((pid_t)f->pid, SIGTERM);
		waitpid((pid_t)f->pid, NULL, 0);
	}
	f->pid = 0;
}

void tl_feeds_write(const struct tl_feeds *f, const char *name, const char *text, long mtime)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "wb");
	size_t n = strlen(text);
	if (!fp || fwrite(text, 1, n, fp) != n || fclose(fp) != 0)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	if (mtime) {
		struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
		if (utimensat(AT_FDCWD, path, ts, 0) != 0)
			fail_msg("cannot set the time of %s: %s", path, strerror(errno));
	}
}
