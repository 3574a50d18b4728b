/*
 * Fetching a feed over HTTP(S) with libcurl: one conditional GET (RFC 9110
 * 13.1: If-None-Match, If-Modified-Since) with a whole-transfer timeout, a
 * cap on the decompressed body enforced while it arrives, a bounded number
 * of redirects, gzip/deflate/brotli answers decoded, http and https only, no
 * proxy from the environment, and an SSRF guard: every address libcurl is
 * about to connect to (each hop of a redirect, each address of a name, at
 * the moment of connecting, so DNS rebinding cannot slip past) is checked
 * before a socket exists; loopback, private, link-local and other
 * non-public targets are refused unless the caller allows them (config
 * feed_allow_private). Thread-safe: each call uses its own easy handle.
 * The feed poller calls it; the only other libcurl user is src/send.
 */
#ifndef BL_FEED_FETCH_H
#define BL_FEED_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util/err.h"

/* The User-Agent sent when the options name none: "bulletin/VERSION". */
#define BL_FETCH_USER_AGENT "bulletin/" BL_VERSION

/* Defaults for the fields of struct bl_fetch_opts left at 0. */
#define BL_FETCH_TIMEOUT         30L                /* seconds */
#define BL_FETCH_CONNECT_TIMEOUT 10L                /* seconds */
#define BL_FETCH_MAX_BYTES       ((size_t)10 << 20) /* 10 MiB */
#define BL_FETCH_MAX_REDIRECTS   5L

/* Options of one fetch. A zeroed struct (or NULL) means every default. */
struct bl_fetch_opts {
	const char
	    *user_agent; /* NULL = BL_FETCH_USER_AGENT; e.g. "bulletin/0.1.0 (+https://site/)" */
	long timeout;    /* seconds for the whole transfer, redirects included (0 = 30) */
	long connect_timeout; /* seconds per connection attempt (0 = 10) */
	size_t max_bytes;     /* largest body after decompression, bytes (0 = 10 MiB) */
	long max_redirects;   /* redirects followed (0 = 5; negative = none followed) */
	int allow_private;    /* config feed_allow_private: allow non-public targets */
	long low_speed_time;  /* seconds: abort when fewer than 1 byte/s arrive for this long
	                         (0 = no such check; `timeout` still bounds the transfer) */
	/* Tests only: one IP literal ("127.0.0.1") treated as a public address
	 * when allow_private is 0, standing in for a public origin the test
	 * suite cannot reach (redirects from it to private targets must still
	 * be refused). NULL in the program. */
	const char *test_public_addr;
	/* When not NULL: the transfer is abandoned soon after *stop becomes
	 * non-zero (a server shutting down); the fetch then fails with -BL_EIO,
	 * "stopped". */
	volatile sig_atomic_t *stop;
};

/* What a fetch got. Every string is malloc'd; freed by bl_fetch_result_clear. */
struct bl_fetch_result {
	long status;         /* final HTTP status (200, 304, 404 ...); 0 when none arrived */
	int not_modified;    /* 1 for a 304 answer to a conditional request */
	char *body;          /* the body, decompressed, NUL-terminated; NULL on 304 and errors */
	size_t len;          /* bytes in body, excluding the NUL */
	char *etag;          /* ETag of the answer, as sent (quotes kept); "" when absent */
	char *last_modified; /* Last-Modified of the answer, as sent; "" when absent */
	char *content_type;  /* Content-Type of the answer; "" when absent */
	char *final_url;     /* the URL after redirects; "" when no request was made */
};

/*
 * bl_fetch - GET @url (http:// or https:// only) and store the answer in
 * @out. @etag and @last_modified, when non-NULL and non-empty, are the
 * validators of the copy the caller holds: they are sent as If-None-Match
 * and If-Modified-Since, and a 304 answer gives 0 with out->not_modified = 1
 * and out->body NULL; then out->etag and out->last_modified are the 304's
 * own when it carries them (RFC 9110 15.4.5), else the ones passed in.
 * Redirects (301, 302, 303, 307, 308) are followed up to @o->max_redirects;
 * each hop goes through the same scheme and address checks.
 *
 * @o: NULL or options (see struct bl_fetch_opts); zero fields take defaults.
 * @out: caller memory; always initialised (status 0, strings "", body NULL)
 *   and filled as far as the fetch got, also on error (status and final_url
 *   of an HTTP error answer are set). Free with bl_fetch_result_clear in
 *   every case.
 * Returns 0 for a 2xx answer or a 304; else, with @d saying what happened
 * in words a publisher can act on:
 *   -BL_EINVAL  @url is not an absolute http(s) URL, or a validator holds a
 *               control character;
 *   -BL_EPERM   refused by policy: a target address that is not public while
 *               allow_private is 0 ("refused: 127.0.0.1 is a loopback
 *               address; set feed_allow_private = on to allow it"), or a
 *               redirect to a scheme other than http/https. No packet went
 *               to the refused address: the check precedes socket creation;
 *   -BL_ELIMIT  the body passed max_bytes (the transfer is aborted at that
 *               point, not read to the end);
 *   -BL_EIO     the network failed (resolve, connect, TLS, reset), a timeout
 *               passed, more than max_redirects redirects, the encoding was
 *               corrupt, or the final status was >= 400 or another non-2xx
 *               (out->status holds it).
 */
int bl_fetch(const char *url, const char *etag, const char *last_modified,
             const struct bl_fetch_opts *o, struct bl_fetch_result *out, struct bl_diag *d);

/* bl_fetch_result_clear - free @r's memory and zero it. NULL-safe; idempotent. */
void bl_fetch_result_clear(struct bl_fetch_result *r);

/*
 * bl_fetch_address_private - classify @sa (AF_INET or AF_INET6; the port is
 * ignored) for the SSRF guard. Non-public means: unspecified (0.0.0.0/8,
 * ::), loopback (127.0.0.0/8, ::1), private (10/8, 172.16/12, 192.168/16;
 * RFC 1918), carrier-grade NAT (100.64/10; RFC 6598), link-local
 * (169.254/16, fe80::/10), unique-local (fc00::/7; RFC 4193), site-local
 * (fec0::/10), multicast (224/4, ff00::/8), reserved (240/4 with the
 * broadcast address, 192.0.0.0/24, 198.18/15), and IPv6 forms that carry an
 * IPv4 address judged as that address: IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96 (RFC 6052), 6to4 2002::/16.
 * Returns 1 (non-public; *@kind, when @kind is non-NULL, names the class:
 * "loopback", "private", ... a static string), 0 (public; *@kind = NULL) or
 * -1 (not an IP address family; *@kind = "non-IP").
 */
int bl_fetch_address_private(const struct sockaddr *sa, const char **kind);

#endif
