/*
 * The feed fetcher; see fetch.h. One libcurl easy handle per call, so calls
 * on different threads share nothing but curl_global_init (done once, as in
 * src/send/smtp.c). The SSRF guard lives in the open-socket callback:
 * libcurl hands it the resolved address of every connection it is about to
 * make (every hop, every address tried), and a refused one never gets a
 * socket, so no packet leaves for it.
 */
#include "feed/fetch.h"

#include "util/buf.h"
#include "util/str.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void global_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------ address classes */

/* The class of an IPv4 address in network byte order, or NULL if public. */
static const char *ipv4_class(const unsigned char a[4])
{
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	static const struct {
		uint32_t net, mask;
		const char *kind;
	} nets[] = {
	    {0x00000000, 0xff000000, "unspecified"},                /* 0.0.0.0/8 "this network" */
	    {0x7f000000, 0xff000000, "loopback"},                   /* 127.0.0.0/8 */
	    {0x0a000000, 0xff000000, "private"},                    /* 10.0.0.0/8 */
	    {0xac100000, 0xfff00000, "private"},                    /* 172.16.0.0/12 */
	    {0xc0a80000, 0xffff0000, "private"},                    /* 192.168.0.0/16 */
	    {0x64400000, 0xffc00000, "carrier-grade NAT (shared)"}, /* 100.64.0.0/10 */
	    {0xa9fe0000, 0xffff0000, "link-local"},                 /* 169.254.0.0/16 */
	    {0xe0000000, 0xf0000000, "multicast"},                  /* 224.0.0.0/4 */
	    {0xf0000000, 0xf0000000, "reserved"},                   /* 240.0.0.0/4, broadcast */
	    {0xc0000000, 0xffffff00, "reserved"},                   /* 192.0.0.0/24 */
	    {0xc6120000, 0xfffe0000, "reserved"},                   /* 198.18.0.0/15 */
	};
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if ((v & nets[i].mask) == nets[i].net)
			return nets[i].kind;
	return NULL;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The class of an IPv6 address, or NULL if public. */
static const char *ipv6_class(const unsigned char a[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	if (all_zero(a, 16))
		return "unspecified";
	if (all_zero(a, 15) && a[15] == 1)
		return "loopback";
	/* ::ffff:a.b.c.d, ::a.b.c.d (deprecated), 64:ff9b::a.b.c.d: the IPv4
	 * address inside decides. */
	if (memcmp(a, mapped, 12) == 0 || all_zero(a, 12) || memcmp(a, nat64, 12) == 0)
		return ipv4_class(a + 12);
	if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: 2002:AABB:CCDD::/48 */
		return ipv4_class(a + 2);
	if ((a[0] & 0xfe) == 0xfc)
		return "unique-local";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "link-local";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return "site-local";
	if (a[0] == 0xff)
		return "multicast";
	return NULL;
}

int bl_fetch_address_private(const struct sockaddr *sa, const char **kind)
{
	const char *k = NULL;
	int rc;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		k = ipv4_class((const unsigned char *)&in.sin_addr);
		rc = k != NULL;
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		k = ipv6_class(in6.sin6_addr.s6_addr);
		rc = k != NULL;
	} else {
		k = "non-IP";
		rc = -1;
	}
	if (kind)
		*kind = k;
	return rc;
}

/* ------------------------------------------------------------ transfer */

struct fetch {
	struct bl_buf body;
	int too_big;
	int allow_private;
	int test_family; /* AF_INET/AF_INET6 when opts.test_public_addr is set, else 0 */
	unsigned char test_addr[16];
	/* The first address the guard refused. */
	int refused;
	char refused_addr[INET6_ADDRSTRLEN];
	const char *refused_kind;
	/* Headers of the latest response (reset at each status line). */
	char *etag, *last_modified, *content_type;
};

static int is_test_public(const struct fetch *f, const struct sockaddr *sa)
{
	if (f->test_family != sa->sa_family)
		return 0;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		return memcmp(&in.sin_addr, f->test_addr, 4) == 0;
	}
	struct sockaddr_in6 in6;
	memcpy(&in6, sa, sizeof(in6));
	return memcmp(&in6.sin6_addr, f->test_addr, 16) == 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		inet_ntop(AF_INET, &in.sin_addr, out, (socklen_t)n);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		inet_ntop(AF_INET6, &in6.sin6_addr, out, (socklen_t)n);
	}
}

/* libcurl's open-socket callback: the guard, before any socket exists. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct fetch *f = arg;
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (!f->allow_private) {
		const char *kind;
		if (bl_fetch_address_private(&a->addr, &kind) != 0 &&
		    !is_test_public(f, &a->addr)) {
			if (!f->refused) {
				f->refused = 1;
				f->refused_kind = kind;
				addr_text(&a->addr, f->refused_addr, sizeof(f->refused_addr));
			}
			return CURL_SOCKET_BAD;
		}
	}
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	if (bl_buf_add(&f->body, p, size * n) != 0) {
		f->too_big = 1;
		return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	return size * n;
}

/* Replace *@slot with the header value in @v (@n bytes, CRLF included),
 * without the line end and surrounding blanks. */
static void keep_header(char **slot, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r'))
		n--;
	size_t start;
	size_t len = bl_trim_span(v, n, &start);
	free(*slot);
	*slot = NULL;
	/* A value holding a control character (a bare CR) is not kept: sent back as a
	 * validator it would be refused, and the feed would never be fetched again. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[start + i] < 0x20 || v[start + i] == 0x7f)
			return;
	*slot = bl_xstrndup(v + start, len);
}

static int header_is(const char *line, size_t n, const char *name, size_t *vstart)
{
	size_t k = strlen(name);
	if (n <= k || line[k] != ':')
		return 0;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)name[i])
			return 0;
	}
	*vstart = k + 1;
	return 1;
}

/* Each response (redirects and 1xx included) starts with its status line:
 * forget the headers and body of the one before. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	size_t len = size * n, v;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		bl_buf_reset(&f->body);
		f->too_big = 0;
		free(f->etag);
		free(f->last_modified);
		free(f->content_type);
		f->etag = f->last_modified = f->content_type = NULL;
	} else if (header_is(p, len, "etag", &v)) {
		keep_header(&f->etag, p + v, len - v);
	} else if (header_is(p, len, "last-modified", &v)) {
		keep_header(&f->last_modified, p + v, len - v);
	} else if (header_is(p, len, "content-type", &v)) {
		keep_header(&f->content_type, p + v, len - v);
	}
	return len;
}

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* 0 when @url is an absolute http(s) URL with a host, else -BL_EINVAL. */
static int check_url(const char *url, struct bl_diag *d)
{
	CURLU *u = curl_url();
	if (!u)
		abort();
	char *scheme = NULL, *host = NULL;
	int rc = 0;
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		rc = bl_diag_set(
		    d, BL_EINVAL,
		    "%s: not a feed URL (%s); a feed URL starts with http:// or https://", url,
		    curl_url_strerror(uc));
	} else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	           (!bl_strcaseeq(scheme, "http") && !bl_strcaseeq(scheme, "https"))) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "%s: feeds are fetched over http:// and https:// only, not %s://",
		                 url, scheme ? scheme : "?");
	} else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		rc = bl_diag_set(d, BL_EINVAL, "%s: the URL names no host", url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static char *dup_or_empty(const char *s)
{
	return bl_xstrdup(s ? s : "");
}

/* libcurl's progress callback (about once a second, and on every chunk): a
 * non-zero return abandons the transfer. @arg: the caller's stop flag. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return *(volatile sig_atomic_t *)arg != 0;
}

/* Turn the outcome of curl_easy_perform into 0 / -BL_E* and a message. */
static int outcome(CURLcode cc, const struct fetch *f, const char *errbuf, const char *url,
                   const char *where, const char *redirect, long status, long timeout,
                   size_t max_bytes, long max_redirects, struct bl_diag *d)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
	switch (cc) {
	case CURLE_OK:
		if (status == 304 || (status >= 200 && status < 300))
			return 0;
		return bl_diag_set(d, BL_EIO, "%s: the server answered HTTP %ld%s", where, status,
		                   status >= 300 && status < 400 ? " (a redirect not followed)"
		                                                 : "");
	case CURLE_WRITE_ERROR:
		if (f->too_big)
			return bl_diag_set(d, BL_ELIMIT,
			                   "%s: the feed is larger than %zu bytes (feed_max_size); "
			                   "stopped reading it",
			                   where, max_bytes);
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		return bl_diag_set(d, BL_EIO, "%s: stopped (bulletin is shutting down)", where);
	case CURLE_OPERATION_TIMEDOUT:
		return bl_diag_set(d, BL_EIO, "%s: too slow: %s (feed_timeout is %ld s)", where,
		                   why, timeout);
	case CURLE_TOO_MANY_REDIRECTS:
		return bl_diag_set(d, BL_EIO, "%s: more than %ld redirects (last: %s)", url,
		                   max_redirects, where);
	case CURLE_UNSUPPORTED_PROTOCOL:
		if (!redirect &&
		    strcmp(where, url) == 0) /* no redirect: a reply curl cannot read */
			return bl_diag_set(d, BL_EIO, "%s: the answer is not HTTP (%s)", where,
			                   why);
		return bl_diag_set(d, BL_EPERM,
		                   "%s: refused: redirected to %s; feeds are fetched over "
		                   "http:// and https:// only",
		                   url, redirect ? redirect : where);
	case CURLE_COULDNT_CONNECT:
		if (f->refused)
			return bl_diag_set(
			    d, BL_EPERM,
			    "%s: refused: %s is a%s %s address; set feed_allow_private = "
			    "on to allow it",
			    where, f->refused_addr, strchr("aeiou", f->refused_kind[0]) ? "n" : "",
			    f->refused_kind);
		break;
	default:
		break;
	}
	return bl_diag_set(d, BL_EIO, "%s: %s", where, why);
}

int bl_fetch(const char *url, const char *etag, const char *last_modified,
             const struct bl_fetch_opts *o, struct bl_fetch_result *out, struct bl_diag *d)
{
	static const struct bl_fetch_opts none;
	if (!o)
		o = &none;
	long timeout = o->timeout > 0 ? o->timeout : BL_FETCH_TIMEOUT;
	long connect_timeout =
	    o->connect_timeout > 0 ? o->connect_timeout : BL_FETCH_CONNECT_TIMEOUT;
	size_t max_bytes = o->max_bytes > 0 ? o->max_bytes : BL_FETCH_MAX_BYTES;
	long max_redirects = o->max_redirects != 0 ? o->max_redirects : BL_FETCH_MAX_REDIRECTS;

	memset(out, 0, sizeof(*out));
	out->etag = dup_or_empty(NULL);
	out->last_modified = dup_or_empty(NULL);
	out->content_type = dup_or_empty(NULL);
	out->final_url = dup_or_empty(NULL);

	int rc = check_url(url, d);
	if (rc)
		return rc;
	if ((etag && has_ctl(etag)) || (last_modified && has_ctl(last_modified)))
		return bl_diag_set(d, BL_EINVAL, "%s: a stored validator holds a control character",
		                   url);

	pthread_once(&curl_once, global_init);
	if (curl_init_rc != CURLE_OK)
		return bl_diag_set(d, BL_EIO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
	CURL *e = curl_easy_init();
	if (!e)
		abort();

	struct fetch f = {.allow_private = o->allow_private};
	bl_buf_init(&f.body, max_bytes);
	if (o->test_public_addr) {
		if (inet_pton(AF_INET, o->test_public_addr, f.test_addr) == 1)
			f.test_family = AF_INET;
		else if (inet_pton(AF_INET6, o->test_public_addr, f.test_addr) == 1)
			f.test_family = AF_INET6;
	}

	struct curl_slist *hdrs = NULL;
	struct bl_buf h;
	bl_buf_init(&h, 0);
	hdrs = curl_slist_append(hdrs, "Accept: application/rss+xml, application/atom+xml, "
	                               "application/rdf+xml;q=0.9, application/xml;q=0.9, "
	                               "text/xml;q=0.9, */*;q=0.5");
	if (etag && *etag) {
		bl_buf_addf(&h, "If-None-Match: %s", etag);
		hdrs = curl_slist_append(hdrs, bl_buf_str(&h));
	}
	if (last_modified && *last_modified) {
		bl_buf_reset(&h);
		bl_buf_addf(&h, "If-Modified-Since: %s", last_modified);
		hdrs = curl_slist_append(hdrs, bl_buf_str(&h));
	}
	bl_buf_finish(&h);
	if (!hdrs)
		abort();

	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, max_redirects > 0 ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, max_redirects > 0 ? max_redirects : 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect_timeout);
	if (o->low_speed_time > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time);
	}
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding libcurl decodes */
	curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : BL_FETCH_USER_AGENT);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &f);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &f);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	if (o->stop) {
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)o->stop);
	}

	CURLcode cc = curl_easy_perform(e);

	long status = 0;
	char *eff = NULL, *redirect = NULL;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
	curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &redirect);
	out->status = status;
	if (eff) {
		free(out->final_url);
		out->final_url = bl_xstrdup(eff);
	}
	rc = outcome(cc, &f, errbuf, url, eff && *eff ? eff : url, redirect, status, timeout,
	             max_bytes, max_redirects, d);
	if (rc == 0) {
		if (f.content_type) {
			free(out->content_type);
			out->content_type = bl_xstrdup(f.content_type);
		}
		if (status == 304) {
			out->not_modified = 1;
			free(out->etag);
			free(out->last_modified);
			out->etag = dup_or_empty(f.etag ? f.etag : etag);
			out->last_modified =
			    dup_or_empty(f.last_modified ? f.last_modified : last_modified);
		} else {
			if (f.etag) {
				free(out->etag);
				out->etag = bl_xstrdup(f.etag);
			}
			if (f.last_modified) {
				free(out->last_modified);
				out->last_modified = bl_xstrdup(f.last_modified);
			}
			out->len = f.body.len;
			out->body = bl_buf_take(&f.body);
		}
	}

	bl_buf_finish(&f.body);
	free(f.etag);
	free(f.last_modified);
	free(f.content_type);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(e);
	return rc;
}

void bl_fetch_result_clear(struct bl_fetch_result *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->etag);
	free(r->last_modified);
	free(r->content_type);
	free(r->final_url);
	memset(r, 0, sizeof(*r));
}
