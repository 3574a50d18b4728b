/*
 * The HTTP server core of http.h on libmicrohttpd 0.9.75 (the only file that
 * includes microhttpd.h). libmicrohttpd runs an internal thread pool, each
 * thread with its own epoll loop; a connection stays on one thread, so the
 * handler, the per-request state and the thread's store handle are all used
 * from that thread only. Per request: one allocation in the URI callback
 * (struct request with the raw request target copied in: libmicrohttpd cuts
 * the query off and decodes it in place later), the body buffer for
 * requests that carry one, and the response. The state is freed in the
 * completed callback, which libmicrohttpd calls for every request whose URI
 * callback ran, also when it answered the request itself.
 *
 * Replies are made in the access handler's last call for the request, after
 * the body: one queued earlier makes libmicrohttpd close the connection after
 * it. Errors found on the first call of a request that carries a body (404,
 * 405, 400, 413, 431) are answered at once for that reason, body unread.
 * The first call picks the route before any body byte is read, so the body
 * limit is the route's own (body_max) when it has one. A handler's file
 * response (use_fd) is sent by libmicrohttpd from the file, which it closes
 * when the response is destroyed; a failed request closes it here.
 *
 * Header limits, measured on 0.9.75 (header_max H, connection memory H + 4 KiB):
 *  - a header block (request line included) of at most H bytes is served;
 *  - over H bytes: 431 from here, with the security headers;
 *  - a block that fills the connection memory within a few hundred bytes
 *    (about H + 3.3 KiB to H + 3.7 KiB at H = 16 KiB) leaves no room for any
 *    reply: libmicrohttpd closes the connection without one;
 *  - beyond: libmicrohttpd's own 431 (no security headers; a fixed HTML body
 *    of its own), as for more header lines than its records of them fit in
 *    (about 250 at H = 16 KiB); a request line that does not fit: its 414.
 * libmicrohttpd also answers 400 itself for malformed requests (request
 * line, Content-Length, chunk framing, HTTP/1.1 without Host), and accepts
 * and closes at once a connection over the per-IP or global limit. Replies
 * it makes itself are counted in the metrics under route "none".
 */
#include "http/http.h"

#include "core/model.h"
#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#define CODE_MIN 100
#define CODE_N   500 /* statuses 100..599 are counted */

/* Bytes of an over-long chunked body read and thrown away before the 413: a
 * chunked request's size is unknown up front and libmicrohttpd 0.9.75 cannot
 * answer before the body has been read. Past this the connection is closed. */
#define DRAIN_MAX ((size_t)1 << 20)

/* Connection memory beyond header_max: libmicrohttpd keeps the request
 * headers, its records of them and the response's headers in one pool. */
#define HEADER_RESERVE ((size_t)4 << 10)

#define RESP_BODY_MAX ((size_t)16 << 20)
#define MAX_COOKIES   64

static const char plain_type[] = "text/plain; charset=utf-8";
static const char html_type[] = "text/html; charset=utf-8";

/* One worker thread's store handle; the value of the server's pthread key. */
struct worker {
	struct bl_http_server *srv;
	struct bl_store *store;
	struct worker *prev, *next; /* srv->workers, under srv->lock */
};

struct bl_http_server {
	struct MHD_Daemon *mhd;
	const struct bl_http_route *routes;
	size_t n_routes;
	size_t *path_len;  /* strlen of each route's path */
	size_t *slot_of;   /* route index -> metrics slot (routes sharing a name share one) */
	const char **slot; /* metrics slot -> route name; the last one is "none" */
	size_t n_slots;
	_Atomic uint_least64_t *counts; /* n_slots x CODE_N */
	void *app;
	char *db_uri; /* NULL: handlers get no store */
	struct bl_store_opts db_opts;
	size_t body_max;
	size_t header_max;
	char *csp;
	int (*gate)(struct bl_http_req *req); /* bl_http_opts.gate */
	int port;
	pthread_key_t key;
	pthread_mutex_t lock;
	struct worker *workers;
	atomic_int starting; /* libmicrohttpd's messages go to start_err, not the log */
	char start_err[BL_DIAG_MAX];
};

/* The parsed Cookie header: pairs pointing into text. */
struct cookie_jar {
	size_t n;
	struct {
		const char *name, *value;
	} c[MAX_COOKIES];
	char text[];
};

/* One request's state, from the URI callback to the completed callback. */
struct request {
	struct bl_http_req req;
	int started;    /* the first access-handler call has been made */
	int queued;     /* a response was queued (and counted) */
	int route;      /* index in srv->routes, -1 for none */
	int status;     /* an answer decided before the handler: 400, 404, 405, 413, 431; else 0 */
	unsigned allow; /* 405: the methods of the routes matching the path */
	int api;        /* under a JSON API route's path: errors are problem+json (http.h) */
	const char *method_text; /* as sent (libmicrohttpd's memory, for the log) */
	unsigned method;         /* enum bl_http_method bit; 0 for another method */
	int head;                /* the request is a HEAD */
	int too_big;             /* the body grew past body_max */
	size_t drained;          /* bytes thrown away after that */
	struct bl_buf body;
	struct cookie_jar *jar; /* parsed on the first bl_http_cookie, or NULL */
	int jar_done;
	char why[BL_DIAG_MAX + 32]; /* fill_req's reason for a 503 */
	char ip[INET6_ADDRSTRLEN];
	char ua[BL_USER_AGENT_MAX + 1];
	char uri[]; /* the raw request target; the path is decoded in place */
};

static struct request *request_of(const struct bl_http_req *req)
{
	return (struct request *)(void *)((char *)(uintptr_t)req - offsetof(struct request, req));
}

/* ---- small helpers ---- */

/* Percent-decodes the @len bytes of @s in place and NUL-terminates the result.
 * -1 for a malformed escape or a decoded NUL (RFC 3986 §2.1). */
static int decode_path(char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = bl_hex_digit((unsigned char)s[i + 1])) < 0 ||
			    (lo = bl_hex_digit((unsigned char)s[i + 2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0)
				return -1;
			i += 2;
		}
		s[o++] = (char)c;
	}
	s[o] = '\0';
	return 0;
}

static unsigned method_bit(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return BL_HTTP_GET;
	if (strcmp(m, "POST") == 0)
		return BL_HTTP_POST;
	if (strcmp(m, "HEAD") == 0)
		return BL_HTTP_HEAD;
	if (strcmp(m, "PUT") == 0)
		return BL_HTTP_PUT;
	if (strcmp(m, "PATCH") == 0)
		return BL_HTTP_PATCH;
	if (strcmp(m, "DELETE") == 0)
		return BL_HTTP_DELETE;
	return 0;
}

/* A JSON API route (its name begins with "api"; http.h, struct bl_http_route). */
static int is_api(const struct bl_http_route *rt)
{
	return strncmp(rt->name, "api", 3) == 0;
}

/* Whether the @len bytes of the raw (still encoded) path @p fall under a JSON
 * API route's path: a request refused before routing answers as the API does. */
static int api_path(const struct bl_http_server *srv, const char *p, size_t len)
{
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct bl_http_route *rt = &srv->routes[i];
		size_t n = srv->path_len[i];
		if (is_api(rt) && len >= n && strncmp(p, rt->path, n) == 0 &&
		    (rt->prefix || len == n))
			return 1;
	}
	return 0;
}

/* What a route accepts: HEAD comes with GET. */
static unsigned route_methods(const struct bl_http_route *rt)
{
	unsigned m = rt->methods;
	if (m & BL_HTTP_GET)
		m |= BL_HTTP_HEAD;
	return m;
}

#define ALLOW_TEXT_MAX 64 /* "GET, HEAD, POST, PUT, PATCH, DELETE" and its NUL fit */

static void allow_text(unsigned allow, char out[ALLOW_TEXT_MAX])
{
	out[0] = '\0';
	if (allow & BL_HTTP_GET)
		strcat(out, "GET, ");
	if (allow & BL_HTTP_HEAD)
		strcat(out, "HEAD, ");
	if (allow & BL_HTTP_POST)
		strcat(out, "POST, ");
	if (allow & BL_HTTP_PUT)
		strcat(out, "PUT, ");
	if (allow & BL_HTTP_PATCH)
		strcat(out, "PATCH, ");
	if (allow & BL_HTTP_DELETE)
		strcat(out, "DELETE, ");
	size_t n = strlen(out);
	if (n >= 2)
		out[n - 2] = '\0';
}

/* The path cut to 200 bytes for a log line, bytes outside printable ASCII as \xNN. */
static const char *log_path(const char *p, char out[256])
{
	size_t o = 0;
	for (; *p && o < 200; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f || c == '\\') {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	if (*p) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* The user agent as text for the handler: at most BL_USER_AGENT_MAX bytes,
 * cut before a UTF-8 sequence that would not fit; bytes that are not UTF-8
 * become '?' (the consent events keep it, and PostgreSQL text must be UTF-8). */
static const char *user_agent(struct request *r, const char *ua)
{
	if (!ua)
		return "";
	size_t n = strlen(ua), i;
	for (i = 0; i < n && (unsigned char)ua[i] < 0x80; i++)
		;
	if (i == n && n <= BL_USER_AGENT_MAX)
		return ua;
	size_t o = 0;
	i = 0;
	while (i < n) {
		uint32_t cp;
		size_t k = (unsigned char)ua[i] < 0x80
		               ? 1
		               : bl_utf8_decode((const unsigned char *)ua + i, n - i, &cp);
		size_t w = k ? k : 1;
		if (o + w > BL_USER_AGENT_MAX)
			break;
		if (k)
			memcpy(r->ua + o, ua + i, k);
		else
			r->ua[o] = '?';
		o += w;
		i += w;
	}
	r->ua[o] = '\0';
	return r->ua;
}

static void peer_ip(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	strcpy(out, "");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, out, INET6_ADDRSTRLEN);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, out, INET6_ADDRSTRLEN);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, out, INET6_ADDRSTRLEN);
	}
}

/* ---- metrics ---- */

static void count(struct bl_http_server *srv, int route, int status)
{
	size_t slot = route < 0 ? srv->n_slots - 1 : srv->slot_of[route];
	if (status < CODE_MIN || status >= CODE_MIN + CODE_N)
		return;
	atomic_fetch_add_explicit(&srv->counts[slot * CODE_N + (size_t)(status - CODE_MIN)], 1,
	                          memory_order_relaxed);
}

static void add_label(struct bl_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			bl_buf_addc(out, '\\');
		if (*s == '\n')
			bl_buf_adds(out, "\\n");
		else
			bl_buf_addc(out, *s);
	}
}

void bl_http_metrics(struct bl_http_server *srv, struct bl_buf *out)
{
	bl_buf_adds(out, "# HELP bulletin_http_requests_total HTTP requests answered, by route and "
	                 "status code.\n# TYPE bulletin_http_requests_total counter\n");
	for (size_t s = 0; s < srv->n_slots; s++)
		for (int code = 0; code < CODE_N; code++) {
			uint_least64_t v = atomic_load_explicit(&srv->counts[s * CODE_N + code],
			                                        memory_order_relaxed);
			if (!v)
				continue;
			bl_buf_adds(out, "bulletin_http_requests_total{route=\"");
			add_label(out, srv->slot[s]);
			bl_buf_addf(out, "\",code=\"%d\"} %llu\n", code + CODE_MIN,
			            (unsigned long long)v);
		}
}

/* ---- the worker threads' stores ---- */

static void worker_end(void *p)
{
	struct worker *w = p;
	struct bl_http_server *srv = w->srv;
	pthread_mutex_lock(&srv->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		srv->workers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&srv->lock);
	bl_store_close(w->store);
	free(w);
}

/* This thread's store, opened on first use; NULL with @d set when it cannot be opened
 * (tried again on the next request). */
static struct bl_store *thread_store(struct bl_http_server *srv, struct bl_diag *d)
{
	struct worker *w = pthread_getspecific(srv->key);
	if (w)
		return w->store;
	struct bl_store *s = NULL;
	if (bl_store_open(srv->db_uri, &srv->db_opts, &s, d) != 0)
		return NULL;
	w = bl_xcalloc(1, sizeof(*w));
	w->srv = srv;
	w->store = s;
	pthread_mutex_lock(&srv->lock);
	w->next = srv->workers;
	if (w->next)
		w->next->prev = w;
	srv->workers = w;
	pthread_mutex_unlock(&srv->lock);
	if (pthread_setspecific(srv->key, w) != 0)
		bl_panic("pthread_setspecific failed");
	return s;
}

/* ---- responses ---- */

static void add(struct MHD_Response *m, const char *name, const char *value)
{
	if (MHD_add_response_header(m, name, value) != MHD_YES)
		bl_warn("http: response header %s refused by libmicrohttpd", name);
}

/*
 * Queues response @m (destroyed here) with @status and @type, the security
 * headers (the handler's CSP and X-Frame-Options when @extra sets them), and
 * the handler's @extra headers when not NULL. Counts it; logs a 5xx with @why.
 */
static enum MHD_Result queue(struct bl_http_server *srv, struct request *r,
                             struct MHD_Connection *c, int status, const char *type,
                             struct MHD_Response *m, int no_store, const struct bl_http_resp *extra,
                             const char *why)
{
	add(m, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	add(m, "X-Content-Type-Options", "nosniff");
	add(m, "Referrer-Policy", "no-referrer");
	add(m, "X-Frame-Options", extra && extra->frame_options ? extra->frame_options : "DENY");
	add(m, "Content-Security-Policy", extra && extra->csp ? extra->csp : srv->csp);
	if (no_store)
		add(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	int own_allow = 0; /* the handler said what it allows (a sub-path of a prefix route) */
	for (size_t i = 0; extra && i < extra->n_headers; i++)
		own_allow |= strcasecmp(extra->headers[i].name, MHD_HTTP_HEADER_ALLOW) == 0;
	if (status == 405 && !own_allow && r->allow) {
		char allow[ALLOW_TEXT_MAX];
		allow_text(r->allow, allow);
		add(m, MHD_HTTP_HEADER_ALLOW, allow);
	}
	if (extra)
		for (size_t i = 0; i < extra->n_headers; i++)
			add(m, extra->headers[i].name, extra->headers[i].value);
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, m);
	MHD_destroy_response(m);
	if (ok == MHD_YES) {
		r->queued = 1;
		count(srv, r->route, status);
	}
	if (status >= 500) {
		char p[256];
		bl_error("http: %d for %s %s (route %s)%s%s", status,
		         r->method_text ? r->method_text : "?",
		         log_path(r->req.path ? r->req.path : r->uri, p),
		         r->route >= 0 ? srv->routes[r->route].name : "none", why ? ": " : "",
		         why ? why : "");
	}
	return ok;
}

static enum MHD_Result respond_error(struct bl_http_server *srv, struct request *r,
                                     struct MHD_Connection *c, int status, const char *why);

/* Queues @len bytes of @body (malloc'd and handed over when @owned, else
 * static) as queue() does. */
static enum MHD_Result respond(struct bl_http_server *srv, struct request *r,
                               struct MHD_Connection *c, int status, const char *type, char *body,
                               size_t len, int owned, int no_store,
                               const struct bl_http_resp *extra, const char *why)
{
	struct MHD_Response *m = MHD_create_response_from_buffer(
	    len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!m) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	return queue(srv, r, c, status, type, m, no_store, extra, why);
}

/* Queues the rest of open file @fd (from its offset to its end) as queue()
 * does; @fd is closed here or by libmicrohttpd once sent, whatever happens. */
static enum MHD_Result respond_fd(struct bl_http_server *srv, struct request *r,
                                  struct MHD_Connection *c, int fd, const struct bl_http_resp *resp)
{
	struct stat st;
	off_t at = lseek(fd, 0, SEEK_CUR);
	const char *bad = NULL;
	if (at < 0 || fstat(fd, &st) != 0)
		bad = strerror(errno);
	else if (at > st.st_size)
		bad = "its offset is past its end";
	if (bad) {
		char why[128];
		snprintf(why, sizeof(why), "the handler's file: %s", bad);
		close(fd);
		return respond_error(srv, r, c, 500, why);
	}
	struct MHD_Response *m =
	    MHD_create_response_from_fd_at_offset64((uint64_t)(st.st_size - at), fd, (uint64_t)at);
	if (!m) {
		close(fd);
		return respond_error(srv, r, c, 500, "libmicrohttpd refused the file response");
	}
	return queue(srv, r, c, resp->status, resp->content_type ? resp->content_type : html_type,
	             m, resp->no_store, resp, NULL);
}

static enum MHD_Result respond_error(struct bl_http_server *srv, struct request *r,
                                     struct MHD_Connection *c, int status, const char *why)
{
	static const char bad[] = "Bad request\n", nf[] = "Not found\n",
	                  unauth[] = "Authentication required\n", forb[] = "Forbidden\n",
	                  na[] = "Method not allowed\n", big[] = "Request body too large\n",
	                  hdr[] = "Request headers too large\n", unav[] = "Service unavailable\n",
	                  ie[] = "Internal server error\n";
	const char *text = status == 400   ? bad
	                   : status == 401 ? unauth
	                   : status == 403 ? forb
	                   : status == 404 ? nf
	                   : status == 405 ? na
	                   : status == 413 ? big
	                   : status == 431 ? hdr
	                   : status == 503 ? unav
	                                   : ie;
	if (r->api || (r->route >= 0 && is_api(&srv->routes[r->route]))) {
		/* A JSON API route: an RFC 9457 problem (http.h, struct bl_http_route). */
		size_t n = strlen(text) - 1; /* without the newline */
		size_t max = r->route >= 0 && srv->routes[r->route].body_max
		                 ? srv->routes[r->route].body_max
		                 : srv->body_max;
		char detail[160];
		if (status == 413)
			snprintf(
			    detail, sizeof(detail),
			    "The request body is larger than the %zu bytes this endpoint takes.",
			    max);
		else
			snprintf(detail, sizeof(detail), "%s",
			         status == 400 ? "The request is malformed."
			         : status == 401
			             ? "A body this large is read only from an editor or an admin: "
			               "send an API token in an Authorization: Bearer header."
			         : status == 403
			             ? "A body this large is read only from an editor or an admin."
			         : status == 404 ? "There is nothing at this path."
			         : status == 405 ? "This path does not take that method."
			         : status == 431 ? "The request headers are too large."
			         : status == 503 ? "The server is busy; try again in a moment."
			                         : "The server failed; its log says why.");
		char *body = bl_xmalloc(512);
		snprintf(body, 512,
		         "{\"type\":\"about:blank\",\"title\":\"%.*s\",\"status\":%d,"
		         "\"detail\":\"%s\"}\n",
		         (int)n, text, status, detail);
		/* RFC 9110 §11.6.1: a 401 names its scheme (the gate's, before a large body). */
		struct bl_http_resp auth;
		memset(&auth, 0, sizeof(auth));
		auth.headers[0].name = "WWW-Authenticate";
		auth.headers[0].value = (char *)(uintptr_t) "Bearer realm=\"bulletin\"";
		auth.n_headers = status == 401;
		return respond(srv, r, c, status, "application/problem+json", body, strlen(body), 1,
		               1, &auth, why);
	}
	return respond(srv, r, c, status, plain_type, (char *)(uintptr_t)text, strlen(text), 0, 1,
	               NULL, why);
}

static void free_headers(struct bl_http_resp *resp)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		free(resp->headers[i].value);
	resp->n_headers = 0;
}

/*
 * Fills @r->req for the route @r->route (the body as read so far) and opens
 * this thread's store. NULL, or why the store could not be opened (in @r's
 * buffer: valid while @r is).
 */
static const char *fill_req(struct bl_http_server *srv, struct request *r, struct MHD_Connection *c)
{
	const struct bl_http_route *rt = &srv->routes[r->route];
	struct bl_http_req *q = &r->req;
	q->method =
	    (r->head && (rt->methods & BL_HTTP_GET)) ? BL_HTTP_GET : (enum bl_http_method)r->method;
	q->param = rt->prefix ? q->path + srv->path_len[r->route] : "";
	peer_ip(c, r->ip);
	q->ip = r->ip;
	q->user_agent = user_agent(
	    r, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT));
	const char *ct =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	q->content_type = ct ? ct : "";
	q->body = bl_buf_str(&r->body);
	q->body_len = r->body.len;
	q->app = srv->app;
	q->server = srv;
	q->conn = c;
	q->store = NULL;
	if (srv->db_uri) {
		struct bl_diag d;
		bl_diag_clear(&d);
		q->store = thread_store(srv, &d);
		if (!q->store) {
			snprintf(r->why, sizeof(r->why), "store: %s", d.msg);
			return r->why;
		}
	}
	return NULL;
}

static enum MHD_Result run_handler(struct bl_http_server *srv, struct request *r,
                                   struct MHD_Connection *c)
{
	struct bl_http_req *q = &r->req;
	const char *unavailable = fill_req(srv, r, c);
	if (unavailable)
		return respond_error(srv, r, c, 503, unavailable);
	const struct bl_http_route *rt = &srv->routes[r->route];

	struct bl_http_resp resp;
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.content_type = html_type;
	resp.no_store = 1;
	bl_buf_init(&resp.body, RESP_BODY_MAX);
	rt->fn(q, &resp);

	enum MHD_Result ok;
	int fd = resp.use_fd ? resp.fd : -1;
	if (fd >= 0 && resp.status >= CODE_MIN && resp.status < CODE_MIN + CODE_N) {
		ok = respond_fd(srv, r, c, fd, &resp);
		fd = -1;
	} else if (resp.use_fd && fd < 0) {
		ok = respond_error(srv, r, c, 500, "the handler set use_fd without a file");
	} else if (bl_buf_err(&resp.body)) {
		ok = respond_error(srv, r, c, 500, "the response body is over 16 MiB");
	} else if (resp.status < CODE_MIN || resp.status >= CODE_MIN + CODE_N) {
		char why[64];
		snprintf(why, sizeof(why), "the handler set status %d", resp.status);
		ok = respond_error(srv, r, c, 500, why);
	} else {
		size_t len = resp.body.len;
		char *body = bl_buf_take(&resp.body);
		ok = respond(srv, r, c, resp.status,
		             resp.content_type ? resp.content_type : html_type, body, len, 1,
		             resp.no_store, &resp, NULL);
	}
	if (fd >= 0) /* the handler's file when the request failed */
		close(fd);
	bl_buf_finish(&resp.body);
	free_headers(&resp);
	return ok;
}

/* ---- libmicrohttpd callbacks ---- */

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	size_t n = strlen(uri);
	struct request *r = bl_xmalloc(sizeof(*r) + n + 1);
	memset(r, 0, offsetof(struct request, ip));
	r->route = -1;
	r->ip[0] = '\0';
	bl_buf_init(&r->body, ((struct bl_http_server *)cls)->body_max);
	memcpy(r->uri, uri, n + 1);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
	struct bl_http_server *srv = cls;
	struct request *r = *con_cls;
	if (!r)
		return;
	if (!r->queued) {
		/* libmicrohttpd answered on its own (431, 400): count it. */
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (ci && ci->http_status)
			count(srv, -1, (int)ci->http_status);
	}
	bl_buf_finish(&r->body);
	free(r->jar);
	free(r);
	*con_cls = NULL;
}

/* Parses a Content-Length value; SIZE_MAX when it does not fit. */
static size_t content_length(const char *s)
{
	size_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (SIZE_MAX - 9) / 10)
			return SIZE_MAX;
		v = v * 10 + (size_t)(*s - '0');
	}
	return v;
}

/*
 * Answers the status decided before the handler (r->status). A 405 on a
 * JSON API route is the handler's to make (http.h): the API's dispatcher
 * knows the methods of the endpoint at the path, where the core knows only
 * its routes'. The handler gets no body (none was read) and req->method 0
 * for a method outside enum bl_http_method.
 */
static enum MHD_Result answer_early(struct bl_http_server *srv, struct request *r,
                                    struct MHD_Connection *c)
{
	if (r->status == 405 && r->route >= 0 && is_api(&srv->routes[r->route]))
		return run_handler(srv, r, c);
	return respond_error(srv, r, c, r->status, NULL);
}

/* The first call: headers are in. Decode the path, pick the route, look at the body. */
static enum MHD_Result first_call(struct bl_http_server *srv, struct request *r,
                                  struct MHD_Connection *c, const char *method)
{
	r->started = 1;
	r->method_text = method;
	r->method = method_bit(method);
	r->head = r->method == BL_HTTP_HEAD;
	size_t raw = strcspn(r->uri, "?");
	r->req.query = r->uri[raw] == '?' ? r->uri + raw + 1 : "";
	r->api = api_path(srv, r->uri, raw);
	if (decode_path(r->uri, raw) != 0) {
		r->uri[raw] = '\0';
		r->req.path = r->uri;
		r->status = 400;
	} else {
		r->req.path = r->uri;
		int first = -1; /* the first route on this path, for a 405's metrics */
		for (size_t i = 0; i < srv->n_routes; i++) {
			const struct bl_http_route *rt = &srv->routes[i];
			int match = rt->prefix ? strncmp(r->uri, rt->path, srv->path_len[i]) == 0
			                       : strcmp(r->uri, rt->path) == 0;
			if (!match)
				continue;
			if (route_methods(rt) & r->method) {
				r->route = (int)i;
				break;
			}
			r->allow |= route_methods(rt);
			if (first < 0)
				first = (int)i;
		}
		if (r->route < 0 && r->allow) {
			r->status = 405;
			r->route = first;
		} else if (r->route < 0) {
			r->status = 404;
		}
	}
	const union MHD_ConnectionInfo *hs =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (hs && hs->header_size > srv->header_max) {
		r->status = 431;
		r->route = -1;
	}
	/* The body limit is the route's (a CSV upload takes more than a form). */
	size_t body_max = srv->body_max;
	if (r->route >= 0 && srv->routes[r->route].body_max)
		body_max = srv->routes[r->route].body_max;
	if (body_max != srv->body_max) {
		bl_buf_finish(&r->body);
		bl_buf_init(&r->body, body_max);
	}
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	size_t len = cl ? content_length(cl) : 0;
	if (!te && len == 0)
		return MHD_YES; /* answered in the final call: the connection stays open */
	if (!r->status && len > body_max)
		r->status = 413;
	if (!r->status && srv->gate && body_max > srv->body_max && (te || len > srv->body_max)) {
		/* A large upload: who is sending it, before reading it (http.h, gate). */
		const char *why = fill_req(srv, r, c);
		if (why)
			return respond_error(srv, r, c, 503, why);
		r->status = srv->gate(&r->req);
	}
	if (r->status) /* answer now, without reading the body; the connection closes */
		return answer_early(srv, r, c);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct bl_http_server *srv = cls;
	struct request *r = *con_cls;
	if (!r) /* no URI callback ran (not expected): start from the path */
		r = *con_cls = on_uri(srv, url, c);
	if (!r->started)
		return first_call(srv, r, c, method);
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (!r->too_big) {
			if (bl_buf_add(&r->body, upload_data, n) == 0)
				return MHD_YES;
			r->too_big = 1;
			bl_buf_finish(&r->body);
		}
		r->drained += n;
		return r->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
	}
	if (r->queued)
		return MHD_YES;
	if (r->too_big)
		r->status = 413;
	if (r->status)
		return answer_early(srv, r, c);
	return run_handler(srv, r, c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct bl_http_server *srv = cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (atomic_load(&srv->starting))
		snprintf(srv->start_err, sizeof(srv->start_err), "%s", msg);
	else
		bl_debug("libmicrohttpd: %s", msg);
}

/* ---- request accessors ---- */

const char *bl_http_header(const struct bl_http_req *req, const char *name)
{
	if (!req->conn) /* a request the server did not make (a handler's unit test) */
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* RFC 6265 §4.1.1: token characters of a cookie name (RFC 2616 token). */
static int token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
static int cookie_octet(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

/* Splits the Cookie header (RFC 6265 §4.2.1: name=value pairs separated by
 * "; ") into @r's jar. Pairs that do not follow the syntax are skipped. */
static void parse_cookies(struct request *r)
{
	r->jar_done = 1;
	const char *h = MHD_lookup_connection_value(r->req.conn, MHD_HEADER_KIND, "Cookie");
	if (!h)
		return;
	size_t n = strlen(h);
	struct cookie_jar *jar = bl_xmalloc(sizeof(*jar) + n + 1);
	jar->n = 0;
	memcpy(jar->text, h, n + 1);
	char *p = jar->text;
	while (*p && jar->n < MAX_COOKIES) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (!*p)
			break;
		char *start = p, *end = strchr(p, ';');
		if (end) {
			*end = '\0';
			p = end + 1;
		} else {
			end = start + strlen(start);
			p = end;
		}
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		char *eq = strchr(start, '=');
		if (!eq || eq == start)
			continue;
		*eq = '\0';
		char *val = eq + 1;
		size_t vlen = (size_t)(end - val);
		int ok = 1;
		for (char *s = start; *s; s++)
			ok &= token_char((unsigned char)*s);
		if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
			val[vlen - 1] = '\0';
			val++;
			vlen -= 2;
		}
		for (size_t i = 0; i < vlen; i++)
			ok &= cookie_octet((unsigned char)val[i]);
		if (!ok)
			continue;
		jar->c[jar->n].name = start;
		jar->c[jar->n].value = val;
		jar->n++;
	}
	r->jar = jar;
}

const char *bl_http_cookie(const struct bl_http_req *req, const char *name)
{
	if (!req->conn) /* a request the server did not make: it has no state around it */
		return NULL;
	struct request *r = request_of(req);
	if (!r->jar_done)
		parse_cookies(r);
	if (!r->jar)
		return NULL;
	for (size_t i = 0; i < r->jar->n; i++)
		if (strcmp(r->jar->c[i].name, name) == 0)
			return r->jar->c[i].value;
	return NULL;
}

int bl_http_add_header(struct bl_http_resp *resp, const char *name, const char *fmt, ...)
{
	if (!name || !*name)
		return -BL_EINVAL;
	for (const char *s = name; *s; s++)
		if (!token_char((unsigned char)*s))
			return -BL_EINVAL;
	if (resp->n_headers >= BL_HTTP_MAX_HEADERS)
		return -BL_ELIMIT;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -BL_EINVAL;
	char *v = bl_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(v, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (strlen(v) != (size_t)n || strpbrk(v, "\r\n")) {
		free(v);
		return -BL_EINVAL;
	}
	resp->headers[resp->n_headers].name = name;
	resp->headers[resp->n_headers].value = v;
	resp->n_headers++;
	return 0;
}

/* ---- start and stop ---- */

/* Parses "HOST:PORT" (HOST an IPv4 address or "localhost") or "[IPV6]:PORT". */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
                        struct bl_diag *d)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	size_t hl;
	if (!s || !*s)
		return bl_diag_set(d, BL_EINVAL, "listen: empty address (want HOST:PORT)");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return bl_diag_set(d, BL_EINVAL,
			                   "listen \"%s\": want [IPV6]:PORT, e.g. [::1]:8080", s);
		hl = (size_t)(close - s - 1);
		if (hl >= sizeof(host))
			return bl_diag_set(d, BL_EINVAL, "listen \"%s\": not an IPv6 address", s);
		memcpy(host, s + 1, hl);
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return bl_diag_set(d, BL_EINVAL,
			                   "listen \"%s\": want HOST:PORT, e.g. 127.0.0.1:8080", s);
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl))
			return bl_diag_set(d, BL_EINVAL,
			                   "listen \"%s\": an IPv6 address goes in brackets, "
			                   "e.g. [::1]:8080",
			                   s);
		if (hl >= sizeof(host))
			return bl_diag_set(d, BL_EINVAL, "listen \"%s\": not an IP address", s);
		memcpy(host, s, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	unsigned long p = 0;
	size_t pl = strspn(port, "0123456789");
	if (pl == 0 || pl > 5 || port[pl] || (p = strtoul(port, NULL, 10)) > 65535)
		return bl_diag_set(d, BL_EINVAL, "listen \"%s\": the port must be 0 to 65535", s);
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return bl_diag_set(d, BL_EINVAL,
			                   "listen \"%s\": \"%s\" is not an IPv6 address", s, host);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return bl_diag_set(d, BL_EINVAL,
			                   "listen \"%s\": \"%s\" is not an IPv4 address "
			                   "(IPv6 goes in brackets)",
			                   s, host);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*in);
	}
	return 0;
}

/* Creates the listening socket (non-blocking, close-on-exec) and sets *@port. */
static int open_listener(const char *listen_s, const struct sockaddr_storage *ss, socklen_t sslen,
                         int *fd_out, int *port, struct bl_diag *d)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return bl_diag_set(d, BL_EIO, "%s: socket: %s", listen_s, strerror(errno));
	int one = 1;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		int e = errno;
		close(fd);
		return bl_diag_set(d, BL_EIO, "%s: %s", listen_s, strerror(e));
	}
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 || listen(fd, SOMAXCONN) < 0) {
		int e = errno;
		close(fd);
		return bl_diag_set(d, BL_EIO, "%s: %s", listen_s, strerror(e));
	}
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	if (getsockname(fd, (struct sockaddr *)&got, &gl) < 0) {
		int e = errno;
		close(fd);
		return bl_diag_set(d, BL_EIO, "%s: getsockname: %s", listen_s, strerror(e));
	}
	*port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
	                                        : ((struct sockaddr_in *)&got)->sin_port);
	*fd_out = fd;
	return 0;
}

static void server_free(struct bl_http_server *srv)
{
	free(srv->path_len);
	free(srv->slot_of);
	free(srv->slot);
	free((void *)srv->counts);
	free(srv->db_uri);
	free(srv->csp);
	free(srv);
}

int bl_http_start(const struct bl_http_opts *o, struct bl_http_server **out, struct bl_diag *d)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int rc = parse_listen(o->listen, &ss, &sslen, d);
	if (rc)
		return rc;
	for (size_t i = 0; i < o->n_routes; i++)
		if (!o->routes[i].path || !o->routes[i].name || !o->routes[i].fn)
			return bl_diag_set(d, BL_EINVAL,
			                   "route %zu: path, name and handler are needed", i);

	struct bl_http_server *srv = bl_xcalloc(1, sizeof(*srv));
	srv->routes = o->routes;
	srv->n_routes = o->n_routes;
	srv->app = o->app;
	srv->db_uri = o->db_uri ? bl_xstrdup(o->db_uri) : NULL;
	srv->db_opts = o->db_opts;
	srv->body_max = o->body_max ? o->body_max : (size_t)64 << 10;
	srv->header_max = o->header_max ? o->header_max : (size_t)16 << 10;
	srv->csp = bl_xstrdup(o->csp ? o->csp : BL_HTTP_DEFAULT_CSP);
	srv->gate = o->gate;
	srv->path_len = bl_xcalloc(o->n_routes + 1, sizeof(size_t));
	srv->slot_of = bl_xcalloc(o->n_routes + 1, sizeof(size_t));
	srv->slot = bl_xcalloc(o->n_routes + 1, sizeof(char *));
	for (size_t i = 0; i < o->n_routes; i++) {
		srv->path_len[i] = strlen(o->routes[i].path);
		size_t s;
		for (s = 0; s < srv->n_slots; s++)
			if (strcmp(srv->slot[s], o->routes[i].name) == 0)
				break;
		if (s == srv->n_slots)
			srv->slot[srv->n_slots++] = o->routes[i].name;
		srv->slot_of[i] = s;
	}
	srv->slot[srv->n_slots++] = "none";
	srv->counts = bl_xcalloc(srv->n_slots * CODE_N, sizeof(*srv->counts));
	for (size_t i = 0; i < srv->n_slots * CODE_N; i++)
		atomic_init(&srv->counts[i], 0);

	int fd = -1;
	rc = open_listener(o->listen, &ss, sslen, &fd, &srv->port, d);
	if (rc) {
		server_free(srv);
		return rc;
	}
	if (pthread_key_create(&srv->key, worker_end) != 0) {
		close(fd);
		server_free(srv);
		return bl_diag_set(d, BL_EIO, "%s: pthread_key_create failed", o->listen);
	}
	pthread_mutex_init(&srv->lock, NULL);

	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	unsigned threads = o->threads > 0 ? (unsigned)o->threads : 4;
	atomic_store(&srv->starting, 1);
	srv->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->header_max + HEADER_RESERVE,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)(o->per_ip_connections ? o->per_ip_connections : 32),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o->max_connections ? o->max_connections : 1024),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout ? o->timeout : 30),
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    srv, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, srv, MHD_OPTION_END);
	atomic_store(&srv->starting, 0);
	if (!srv->mhd) {
		if (fcntl(fd, F_GETFD) != -1)
			close(fd);
		rc = bl_diag_set(d, BL_EIO, "%s: libmicrohttpd did not start%s%s", o->listen,
		                 srv->start_err[0] ? ": " : "", srv->start_err);
		pthread_key_delete(srv->key);
		pthread_mutex_destroy(&srv->lock);
		server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

int bl_http_port(const struct bl_http_server *srv)
{
	return srv->port;
}

void bl_http_stop(struct bl_http_server *srv)
{
	if (!srv)
		return;
	/* Joins the threads; each one's store is closed by worker_end as it exits. */
	MHD_stop_daemon(srv->mhd);
	pthread_mutex_lock(&srv->lock);
	struct worker *w = srv->workers;
	srv->workers = NULL;
	pthread_mutex_unlock(&srv->lock);
	while (w) {
		struct worker *next = w->next;
		bl_store_close(w->store);
		free(w);
		w = next;
	}
	pthread_key_delete(srv->key);
	pthread_mutex_destroy(&srv->lock);
	server_free(srv);
}
