/*
 * What the HTTP tests share (tests/http/test_{admin,api,auth,public}.c): a
 * libcurl client for our server on 127.0.0.1 (one request, its status,
 * headers and body, the body parsed when it is JSON), and the database a
 * test runs on: a temporary directory and a SQLite file in it, or with
 * BL_TEST_BACKEND "postgres" a database of its own on the server in
 * BL_TEST_PG. cmocka's fail_msg reports a transport failure.
 */
#ifndef BL_TESTS_HTTP_LIB_H
#define BL_TESTS_HTTP_LIB_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

/* One response. @body is NUL-terminated (never NULL after tl_fetch); @json
 * the body parsed, NULL when it is not JSON. */
struct reply {
	long status;
	char *body;
	size_t len;
	char headers[16384]; /* the response's header lines as received, cut at the size */
	size_t hlen;
	json_t *json;
};

/* One request. Unset members (zero) are left out. */
struct tl_request {
	const char *method;      /* NULL: GET, or POST when @body is set; "HEAD" sends none */
	const char *path;        /* from the root: "/admin/lists?x=1" */
	const char *body;        /* NULL: none */
	size_t body_len;         /* bytes of @body */
	const char *cookie;      /* a Cookie header's value ("name=value") */
	const char *iface;       /* a local 127.x address to send from */
	const char *user_agent;  /* a User-Agent header's value */
	struct curl_slist *hdrs; /* more request headers; the caller frees them */
	long timeout;            /* seconds; 0: 30 */
};

/*
 * tl_fetch - perform @q against http://127.0.0.1:@port into @r (cleared
 * first; free it with reply_free). A transport failure fails the test
 * (fail_msg); any HTTP status is a result.
 */
void tl_fetch(int port, const struct tl_request *q, struct reply *r);

/* reply_free - free what tl_fetch put in @r and clear it. */
void reply_free(struct reply *r);

/*
 * tl_header - response header @name's value (case-insensitive name, the
 * first such line) into @out of @size bytes, cut to fit; "" when absent.
 * Returns 1 when present, 0 when not.
 */
int tl_header(const struct reply *r, const char *name, char *out, size_t size);

/* find_ci - @needle in @hay, ASCII letter case ignored; NULL when absent. */
const char *find_ci(const char *hay, const char *needle);

/* tl_want_status - fail @what unless @r's status is @want (the body's start shown). */
void tl_want_status(const struct reply *r, long want, const char *what);

/* The database a test runs on. */
struct tl_db {
	char dir[128];    /* a temporary directory, removed by tl_db_drop */
	char uri[512];    /* "sqlite:DIR/bulletin.db" or the PostgreSQL database's URI */
	char pg_name[64]; /* the PostgreSQL database made, "" for SQLite */
};

/*
 * tl_db_create - make @t for @backend ("sqlite", "postgres"): the directory
 * /tmp/bl-http-@tag-XXXXXX and, for PostgreSQL, database bl_@tag_PID on the
 * server in BL_TEST_PG (created with psql). Without BL_TEST_PG a PostgreSQL
 * run prints a TAP skip and exits 77. Returns 0, or -1 when the directory
 * or the database cannot be made.
 */
int tl_db_create(const char *backend, const char *tag, struct tl_db *t);

/* tl_db_drop - drop @t's PostgreSQL database (if any) and remove its directory;
 * failures are printed, not returned. */
void tl_db_drop(const struct tl_db *t);

/* A feed fixture server: tests/feed/fixture_server.py serving files of a directory. */
struct tl_feeds {
	int pid;       /* the server's process id; 0 when not running */
	int port;      /* its port on 127.0.0.1 */
	char dir[160]; /* the directory it serves (DIR/f/NAME is the file NAME) */
};

/*
 * tl_feeds_start - start tests/feed/fixture_server.py (/usr/bin/python3,
 * from BL_SOURCE_ROOT) on a free port of 127.0.0.1 serving @dir (an
 * existing directory; its name is copied into @f), and wait up to 10 s for
 * it to listen. Returns 0, or -1 (said on stderr) when it does not start.
 */
int tl_feeds_start(const char *dir, struct tl_feeds *f);

/* tl_feeds_stop - stop @f's server (SIGTERM, then wait for it); no-op when not running. */
void tl_feeds_stop(struct tl_feeds *f);

/*
 * tl_feeds_write - write @text into @f's directory as file @name, with
 * modification time @mtime (seconds since the epoch; 0: now), so the
 * server's ETag and Last-Modified change with it. Fails the test on error.
 */
void tl_feeds_write(const struct tl_feeds *f, const char *name, const char *text, long mtime);

#endif
