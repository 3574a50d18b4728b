/*
 * The HTTP server core on libmicrohttpd (the only module that includes
 * microhttpd.h): a static route table, one request struct per request with
 * the whole body read (bounded) before the handler runs, one response
 * struct the handler fills, security headers on every response, and request
 * counts by route and status for /metrics. Handlers run on the server's
 * worker threads (several at once); each worker thread has its own store
 * handle, opened on first use and closed when the thread ends.
 * Used by `bulletin serve` (src/http/public.c routes) and the HTTP tests.
 */
#ifndef BL_HTTP_HTTP_H
#define BL_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

/* Methods a route accepts, as bits. HEAD is answered by a GET route's handler
 * (the body is dropped by the server). */
enum bl_http_method {
	BL_HTTP_GET = 1,
	BL_HTTP_POST = 2,
	BL_HTTP_HEAD = 4,
	BL_HTTP_PUT = 8, /* PUT, PATCH, DELETE: the JSON API (issue 5) */
	BL_HTTP_PATCH = 16,
	BL_HTTP_DELETE = 32
};

#define BL_HTTP_MAX_HEADERS 8 /* extra response headers a handler may add */

struct bl_http_server;

/* One request, as the handler sees it; every pointer is borrowed for the
 * handler's call and every string is NUL-terminated. */
struct bl_http_req {
	enum bl_http_method method; /* a HEAD on a route with GET comes as BL_HTTP_GET */
	const char *path;           /* percent-decoded path without the query, "/confirm/AbC" */
	const char
	    *param; /* prefix routes: the rest of the path after the prefix ("AbC"); else "" */
	const char
	    *query;     /* raw query string without '?', "" when none (decode with bl_form_parse) */
	const char *ip; /* the peer's address as text ("127.0.0.1", "::1") */
	const char *user_agent;   /* "" when absent; cut to BL_USER_AGENT_MAX bytes at a UTF-8
	                             boundary; bytes that are not UTF-8 become '?' */
	const char *content_type; /* "" when absent */
	const char *body;         /* POST body (NUL added after it), "" for none */
	size_t body_len;          /* bytes, at most the server's body_max */
	struct bl_store *store;   /* this worker thread's store handle */
	void *app;                /* bl_http_opts.app */
	struct bl_http_server *server;
	void *conn; /* libmicrohttpd's connection (for bl_http_header / bl_http_cookie);
	               NULL in a request made by hand (a handler's test): no headers then */
};

struct bl_http_header_pair {
	const char *name;
	char *value; /* malloc'd; freed by the server */
};

/* The response a handler fills; the server sends it after the handler returns. */
struct bl_http_resp {
	int status;               /* 200 unless set */
	const char *content_type; /* static string; "text/html; charset=utf-8" unless set */
	struct bl_buf body;       /* initialised by the server (limit 16 MiB) */
	size_t n_headers;
	struct bl_http_header_pair headers[BL_HTTP_MAX_HEADERS];
	int no_store;    /* send Cache-Control: no-store (pages holding tokens or personal data);
	                    default 1; set 0 for public cacheable pages */
	const char *csp; /* static string: this response's Content-Security-Policy
	                    instead of the server's; NULL = the server's */
	const char *frame_options; /* static string: X-Frame-Options; NULL = "DENY" (a preview
	                              framed by the admin UI says "SAMEORIGIN") */
	int use_fd; /* send the open file @fd (from its current offset to its end) instead of
	               @body; the server closes it (also when the request fails) */
	int fd;
};

/* A handler: fills @resp from @req. It never fails: errors become a response. */
typedef void (*bl_http_handler)(struct bl_http_req *req, struct bl_http_resp *resp);

/* Routes are tried in order: the first whose path matches and that takes the
 * method wins. A path that routes match but none with the method: 405, Allow
 * listing their methods. */
struct bl_http_route {
	unsigned methods;   /* bits of enum bl_http_method; other methods get 405 with Allow */
	const char *path;   /* "/archive" (exact), or "/confirm/" with prefix set */
	int prefix;         /* match any path starting with @path; req->param gets the rest */
	const char *name;   /* label for metrics: "confirm"; a name beginning with "api" marks a
	                       JSON API route: the errors the core answers on it (400, 413, 431,
	                       503, 500; a 400 for a malformed path under its path too) are
	                       RFC 9457 application/problem+json, and a method no route of the
	                       path takes goes to its handler, body unread (req->method 0 for
	                       one outside enum bl_http_method), to answer 405 with the Allow
	                       of the resource itself */
	bl_http_handler fn; /* the handler */
	size_t body_max;    /* this route's largest request body, bytes; 0 = the server's
	                       body_max (a CSV upload route takes more) */
};

struct bl_http_opts {
	const char *listen;                 /* "HOST:PORT", "[V6]:PORT"; port 0 picks a free one */
	const struct bl_http_route *routes; /* tried in order; first match wins; borrowed */
	size_t n_routes;
	void *app;          /* handed to handlers as req->app */
	const char *db_uri; /* each worker thread opens its own store on it; NULL: none */
	struct bl_store_opts db_opts;
	int threads;                 /* worker threads (libmicrohttpd thread pool); 0 = 4 */
	size_t body_max;             /* largest request body, bytes: 413 above; 0 = 64 KiB */
	size_t header_max;           /* a request's header block, bytes: 431 above; 0 = 16 KiB */
	unsigned per_ip_connections; /* simultaneous connections per client IP; 0 = 32 */
	unsigned max_connections;    /* simultaneous connections in all; 0 = 1024 */
	unsigned timeout;            /* idle connection timeout, seconds; 0 = 30 */
	const char *csp; /* Content-Security-Policy of every response; NULL = the default below */
	/*
	 * gate - for a request to a route whose own body_max is above the
	 * server's, with a body larger than the server's body_max (or chunked):
	 * called once the headers are in and before any body byte is read,
	 * with the request filled as for the handler but for the body (empty)
	 * and the store (this thread's). Returns 0 to read the body, or an HTTP
	 * status (401, 403) answered at once, without reading it: so an unknown
	 * client cannot make the server hold a large upload in memory. NULL: no
	 * gate (every request may send up to the route's limit).
	 */
	int (*gate)(struct bl_http_req *req);
};

/* Default CSP: nothing but our own stylesheet and same-origin forms; no framing. */
#define BL_HTTP_DEFAULT_CSP                                                                        \
	"default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; "  \
	"frame-ancestors 'none'; base-uri 'none'"

/*
 * bl_http_start - listen on @o->listen and serve @o->routes on worker
 * threads until bl_http_stop. Every response carries
 * X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
 * X-Frame-Options: DENY, the CSP, and Cache-Control: no-store unless the
 * handler cleared no_store. No matching route: 404; a route without the
 * method: 405 with Allow. Bodies over body_max: 413 without reading them (a
 * chunked body: read to its end, up to 1 MiB past body_max, then 413; the
 * connection is closed past that); headers over header_max: 431 (server.c
 * says what libmicrohttpd answers itself near its memory limit); invalid
 * percent-encoding or a NUL in the path: 400. A handler's store handle that
 * cannot be opened: 503 (logged; tried again on the next request). Every
 * 5xx is logged. HOST in @listen is an IPv4 address or "localhost"; IPv6
 * goes in brackets. Returns 0 with *@out set; -BL_EINVAL for a malformed
 * @listen or a route without path, name or handler; -BL_EIO when the
 * address cannot be bound (@d says why: "127.0.0.1:8080: Address already
 * in use").
 */
int bl_http_start(const struct bl_http_opts *o, struct bl_http_server **out, struct bl_diag *d);

/* bl_http_port - the port the server listens on (the one picked for port 0). */
int bl_http_port(const struct bl_http_server *srv);

/* bl_http_stop - stop accepting, finish requests in progress, join the threads,
 * close the worker threads' stores, free @srv. NULL-safe. A handler running
 * finishes; a reply not yet sent, or a request whose body is still coming, is
 * cut off. */
void bl_http_stop(struct bl_http_server *srv);

/* bl_http_header - the value of request header @name (case-insensitive; the
 * first one when repeated), or NULL. Borrowed until the handler returns. */
const char *bl_http_header(const struct bl_http_req *req, const char *name);

/* bl_http_cookie - the value of cookie @name sent with @req, or NULL. The
 * Cookie header is read with RFC 6265 §4.2.1 syntax: a pair whose name is not
 * a token or whose value has other than cookie-octets is skipped; a value in
 * double quotes comes without them; the first of repeated names wins.
 * Borrowed until the handler returns. */
const char *bl_http_cookie(const struct bl_http_req *req, const char *name);

/*
 * bl_http_add_header - add response header @name (a static string) with
 * value printf(@fmt, ...). CR, LF and NUL in the value are refused (the
 * header is not added; returns -BL_EINVAL); -BL_ELIMIT past
 * BL_HTTP_MAX_HEADERS. Returns 0.
 */
int bl_http_add_header(struct bl_http_resp *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * bl_http_metrics - append the server's request counts in the Prometheus
 * text exposition format (version 0.0.4) to @out:
 *   # TYPE bulletin_http_requests_total counter
 *   bulletin_http_requests_total{route="confirm",code="200"} 12
 * one line per (route, status) seen, routes by table order, codes ascending;
 * routes sharing a name share their lines; a 405 counts for the first route
 * on its path; route "none", last, for requests no route matched (404, 400,
 * 431, and the replies libmicrohttpd makes itself). Thread-safe.
 */
void bl_http_metrics(struct bl_http_server *srv, struct bl_buf *out);

/* ---- application/x-www-form-urlencoded (WHATWG URL §5) ---- */

#define BL_FORM_MAX_FIELDS 512 /* fields in one form or query (a preference form: 2 per list) */
#define BL_FORM_MAX_VALUE  (16u << 10) /* bytes of one decoded value */

struct bl_form_field {
	char *name, *value; /* decoded, NUL-terminated, valid UTF-8 */
	size_t value_len;   /* bytes (a value cannot hold NUL: refused) */
};

struct bl_form {
	size_t n;
	struct bl_form_field f[BL_FORM_MAX_FIELDS];
};

/*
 * bl_form_parse - decode @len bytes of @s ("a=1&b=x+y&c=%C3%A9") into @out:
 * '+' is a space, %XX a byte, empty pieces ("&&") skipped, a piece without
 * '=' a field with an empty value, "=v" a field with an empty name. Refused
 * with -BL_EINVAL (and @out left empty): a malformed %-escape, a decoded
 * NUL, a name or value that is not valid UTF-8; -BL_ELIMIT: more than
 * BL_FORM_MAX_FIELDS fields or a value over BL_FORM_MAX_VALUE bytes. @d says
 * which field and why. Free with bl_form_clear.
 */
int bl_form_parse(const char *s, size_t len, struct bl_form *out, struct bl_diag *d);

/* bl_form_clear - free @f's strings; NULL-safe; @f is empty afterwards. */
void bl_form_clear(struct bl_form *f);

/* bl_form_get - the value of the first field named @name, or NULL. */
const char *bl_form_get(const struct bl_form *f, const char *name);

/* bl_form_get_all - up to @max values of fields named @name, in order, into
 * @out (borrowed from @f); returns how many. */
size_t bl_form_get_all(const struct bl_form *f, const char *name, const char **out, size_t max);

/* ---- budgets: token buckets keyed by a string (a client IP) ---- */

struct bl_ratelimit;

/*
 * bl_ratelimit_create - buckets of @burst tokens refilled at @per_hour
 * tokens an hour, at most @max_keys keys tracked (the least recently used
 * key is forgotten beyond that: a forgotten key starts full again).
 * @per_hour 0 means unlimited. A @burst under 1 is 1, @max_keys 0 is 1.
 * Thread-safe. Free with bl_ratelimit_destroy.
 */
struct bl_ratelimit *bl_ratelimit_create(double per_hour, double burst, size_t max_keys);

/* bl_ratelimit_destroy - NULL-safe. */
void bl_ratelimit_destroy(struct bl_ratelimit *rl);

/*
 * bl_ratelimit_take - take one token from @key's bucket at time @now
 * (seconds, monotonic or wall: one clock per limiter). Returns 1 when taken,
 * 0 when the bucket is empty; *@retry_after (when not NULL) gets the seconds
 * until a token is back (≥ 1) when refused.
 */
int bl_ratelimit_take(struct bl_ratelimit *rl, const char *key, double now, int *retry_after);

/*
 * bl_ratelimit_refund - give one token back to @key's bucket at time @now
 * (seconds, the limiter's clock): for a take that turned out not to count,
 * such as a login whose password was right. Taking first and refunding
 * after (rather than looking first and taking on failure) keeps parallel
 * attempts from all passing a nearly spent budget. The bucket never holds
 * more than its burst; a key that is not tracked (never taken, or
 * forgotten since) is left alone. Nothing happens when unlimited.
 */
void bl_ratelimit_refund(struct bl_ratelimit *rl, const char *key, double now);

#endif
