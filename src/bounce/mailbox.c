/*
 * Polling a bounce mailbox over IMAP(S) or POP3(S); see mailbox.h. One
 * libcurl easy handle per poll carries every command, so libcurl keeps one
 * logged-in connection. IMAP works by UID (UID SEARCH ALL, then each message
 * through the ;UID=N URL, which libcurl >= 7.64 sends as UID FETCH), so a
 * message arriving or leaving during the poll never shifts another. POP3
 * message numbers only hold within one session: a poll that loses its
 * connection stops rather than risk deleting the wrong message. The URL
 * handed to libcurl never carries the credentials (they go through
 * CURLOPT_USERNAME/PASSWORD), and every diagnostic is scrubbed of the password.
 */
#include "bounce/mailbox.h"

#include "core/crypto.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The largest message fetched, bytes; a bigger one is kept and skipped. */
#define MAILBOX_MAX_MESSAGE ((size_t)64 << 20)
/* The largest answer to UID SEARCH / LIST / CAPABILITY, bytes. */
#define MAILBOX_MAX_LISTING ((size_t)16 << 20)
/* Messages flagged \Deleted before an EXPUNGE. Each expunged message is an
 * untagged line, and libcurl 7.88.1 (Debian 12) miscounts the lines of one
 * answer as "header" bytes, failing with "Too large response headers" from
 * a few dozen of them on (a 500-message EXPUNGE fails); 16 stays far below. */
#define MAILBOX_EXPUNGE_BATCH 16

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void global_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct session {
	CURL *c;
	int pop3;
	char *base;       /* scheme://host:port/ without credentials */
	char *shown;      /* scheme://user@host:port/path for messages */
	char *folder;     /* IMAP: the decoded mailbox name */
	char *folder_url; /* IMAP: base + percent-encoded folder */
	char *password;   /* for scrubbing; may be NULL */
	char *password_enc;
	struct bl_buf out; /* what the last command returned */
	int too_big;
	int performed; /* commands run so far */
	char errbuf[CURL_ERROR_SIZE];
	int has_move, has_uidplus;
};

/* ---------------------------------------------------------- diagnostics */

/* Passwords shorter than this are not scrubbed: they never reach libcurl's URL or our own
 * words (only a server echoing one could put it in a message), and masking every "to" or "p"
 * in a message garbles it and shows which letters the password has. */
#define SCRUB_MIN 6

/* Replace every occurrence of @secret (at least SCRUB_MIN bytes) in @s (in place) by "***". */
static void scrub(char *s, const char *secret)
{
	if (!secret || strlen(secret) < SCRUB_MIN)
		return;
	size_t n = strlen(secret);
	char *p;
	while ((p = strstr(s, secret)) != NULL) {
		size_t rest = strlen(p + n);
		memcpy(p, "***", 3);
		memmove(p + 3, p + n, rest + 1);
	}
}

/* bl_diag_set with @s's password scrubbed from the result. */
__attribute__((format(printf, 4, 5))) static int fail(struct session *s, struct bl_diag *d,
                                                      int code, const char *fmt, ...)
{
	struct bl_diag tmp;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp.msg, sizeof(tmp.msg), fmt, ap);
	va_end(ap);
	scrub(tmp.msg, s->password);
	scrub(tmp.msg, s->password_enc);
	return bl_diag_set(d, code, "%s", tmp.msg);
}

/* libcurl's words for a failed command: its error buffer, else its strerror. */
static const char *curl_words(const struct session *s, CURLcode cc)
{
	return s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
}

/* ------------------------------------------------------------ transfers */

/* libcurl's progress callback: a non-zero return aborts the command in progress. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	volatile sig_atomic_t *stop = arg;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return *stop != 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct session *s = arg;
	if (bl_buf_add(&s->out, p, size * n) != 0) {
		s->too_big = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	return size * n;
}

/*
 * Run one command: @url with @custom as the request (NULL = the URL's own:
 * FETCH / LIST / RETR), the answer into s->out (at most @max bytes). @nobody
 * for POP3 commands without a multi-line answer. Returns the libcurl code.
 * A POP3 session must not change under a poll: after the first command, a
 * new connection is reported as CURLE_RECV_ERROR (message numbers may have
 * moved and earlier DELEs were rolled back).
 */
static CURLcode run(struct session *s, const char *url, const char *custom, int nobody, size_t max,
                    int *reconnected)
{
	bl_buf_finish(&s->out);
	bl_buf_init(&s->out, max);
	s->too_big = 0;
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->c, CURLOPT_URL, url);
	curl_easy_setopt(s->c, CURLOPT_CUSTOMREQUEST, custom);
	curl_easy_setopt(s->c, CURLOPT_NOBODY, nobody ? 1L : 0L);
	CURLcode cc = curl_easy_perform(s->c);
	long connects = 0;
	curl_easy_getinfo(s->c, CURLINFO_NUM_CONNECTS, &connects);
	if (reconnected)
		*reconnected = s->performed > 0 && connects > 0;
	s->performed++;
	return cc;
}

/* ----------------------------------------------------------------- URLs */

static char *url_part(CURLU *u, CURLUPart what, unsigned flags)
{
	char *v = NULL;
	if (curl_url_get(u, what, &v, flags) != CURLUE_OK || !v)
		return NULL;
	char *copy = bl_xstrdup(v);
	curl_free(v);
	return copy;
}

/* Percent-encode @s for a URL path segment (RFC 3986 unreserved kept). */
static char *path_encode(const char *s)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p))
			bl_buf_addc(&b, (char)*p);
		else
			bl_buf_addf(&b, "%%%02X", *p);
	}
	return bl_buf_take(&b);
}

/* @name as an IMAP quoted string (RFC 9051 §4.3) into @b; -1 when it cannot be
 * one (CR, LF, NUL or 8-bit: such names need a literal or modified UTF-7). */
static int imap_quote(struct bl_buf *b, const char *name)
{
	bl_buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '\r' || *p == '\n' || *p >= 0x80)
			return -1;
		if (*p == '"' || *p == '\\')
			bl_buf_addc(b, '\\');
		bl_buf_addc(b, (char)*p);
	}
	bl_buf_addc(b, '"');
	return 0;
}

static void session_finish(struct session *s)
{
	if (s->c)
		curl_easy_cleanup(s->c);
	free(s->base);
	free(s->shown);
	free(s->folder);
	free(s->folder_url);
	if (s->password)
		bl_memzero(s->password, strlen(s->password));
	free(s->password);
	if (s->password_enc)
		bl_memzero(s->password_enc, strlen(s->password_enc));
	free(s->password_enc);
	bl_buf_finish(&s->out);
}

/* Parse @o->url into @s and set up the easy handle. */
static int session_init(struct session *s, const struct bl_mailbox_opts *o, struct bl_diag *d)
{
	int rc = 0;
	char *scheme = NULL, *user = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL,
	     *frag = NULL, *options = NULL, *password = NULL;
	memset(s, 0, sizeof(*s));
	bl_buf_init(&s->out, 0);
	if (!o || !o->url || !*o->url)
		return bl_diag_set(d, BL_EINVAL, "no mailbox URL");
	CURLU *u = curl_url();
	if (!u)
		return bl_diag_set(d, BL_EIO, "libcurl cannot parse URLs");
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, o->url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		/* The URL itself may hold the password: never echo it. */
		rc = bl_diag_set(d, BL_EINVAL, "the mailbox URL does not parse: %s",
		                 curl_url_strerror(uc));
		goto out;
	}
	password = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
	if (o->password) {
		free(password);
		password = bl_xstrdup(o->password);
	}
	if (password) {
		s->password = bl_xstrdup(password);
		s->password_enc = path_encode(password);
	}
	scheme = url_part(u, CURLUPART_SCHEME, 0);
	user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
	host = url_part(u, CURLUPART_HOST, 0);
	port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	path = url_part(u, CURLUPART_PATH, CURLU_URLDECODE);
	query = url_part(u, CURLUPART_QUERY, 0);
	frag = url_part(u, CURLUPART_FRAGMENT, 0);
	options = url_part(u, CURLUPART_OPTIONS, 0);
	if (!scheme || (strcmp(scheme, "imap") != 0 && strcmp(scheme, "imaps") != 0 &&
	                strcmp(scheme, "pop3") != 0 && strcmp(scheme, "pop3s") != 0)) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "the mailbox URL is not imap://, imaps://, pop3:// or pop3s:// "
		                 "(scheme \"%s\")",
		                 scheme ? scheme : "");
		goto out;
	}
	s->pop3 = scheme[0] == 'p';
	if (!host || !*host || !port) {
		rc = bl_diag_set(d, BL_EINVAL, "the mailbox URL (%s://) has no host", scheme);
		goto out;
	}
	if (!user || !*user) {
		rc = bl_diag_set(d, BL_EINVAL, "the mailbox URL %s://%s has no user (user@host)",
		                 scheme, host);
		goto out;
	}
	/* The folder: the path without its slashes; "INBOX" when empty. */
	const char *f = path ? path : "";
	while (*f == '/')
		f++;
	size_t flen = strlen(f);
	while (flen > 0 && f[flen - 1] == '/')
		flen--;
	if (s->pop3 ? flen > 0 : memchr(f, ';', flen) != NULL) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 s->pop3 ? "a pop3 mailbox URL takes no path (got \"/%.*s\")"
		                         : "an imap mailbox URL names a folder, not a message "
		                           "(got \"/%.*s\")",
		                 (int)flen, f);
		goto out;
	}
	if (s->pop3 && o->move_to) {
		/* POP3 has no folders: the messages would be deleted, not kept where asked. */
		rc = bl_diag_set(d, BL_EINVAL,
		                 "a pop3 mailbox has no folders to move messages to \"%s\" "
		                 "(--move and bounce_mailbox_move are for IMAP)",
		                 o->move_to);
		goto out;
	}
	if (query || frag) { /* not echoed: "?password=..." */
		rc = bl_diag_set(d, BL_EINVAL, "the mailbox URL takes no %s",
		                 query ? "query (?...)" : "fragment (#...)");
		goto out;
	}
	if (o->move_to && !s->pop3) {
		struct bl_buf q;
		bl_buf_init(&q, 0);
		int bad = !*o->move_to || imap_quote(&q, o->move_to) != 0;
		bl_buf_finish(&q);
		if (bad) {
			rc = bl_diag_set(d, BL_EINVAL,
			                 "the folder to move to is empty or has a line break or "
			                 "8-bit byte (use modified UTF-7)");
			goto out;
		}
	}
	int ipv6 = strchr(host, ':') != NULL && host[0] != '[';
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b, "%s://%s%s%s:%s/", scheme, ipv6 ? "[" : "", host, ipv6 ? "]" : "", port);
	s->base = bl_buf_take(&b);
	if (!s->pop3) {
		s->folder = flen ? bl_xstrndup(f, flen) : bl_xstrdup("INBOX");
		struct bl_buf q;
		bl_buf_init(&q, 0);
		if (imap_quote(&q, s->folder) != 0) {
			bl_buf_finish(&q);
			rc = bl_diag_set(d, BL_EINVAL,
			                 "the IMAP folder name has a line break or 8-bit byte "
			                 "(use modified UTF-7)");
			goto out;
		}
		bl_buf_finish(&q);
		char *enc = path_encode(s->folder);
		bl_buf_addf(&b, "%s%s", s->base, enc);
		free(enc);
		s->folder_url = bl_buf_take(&b);
	}
	bl_buf_addf(&b, "%s://%s@%s%s%s:%s/%s", scheme, user, ipv6 ? "[" : "", host,
	            ipv6 ? "]" : "", port, s->folder ? s->folder : "");
	s->shown = bl_buf_take(&b);

	pthread_once(&curl_once, global_init);
	if (curl_init_rc != CURLE_OK) {
		rc = bl_diag_set(d, BL_EIO, "libcurl failed to initialise");
		goto out;
	}
	s->c = curl_easy_init();
	if (!s->c) {
		rc = bl_diag_set(d, BL_EIO, "libcurl failed to initialise");
		goto out;
	}
	long timeout = o->timeout > 0 ? o->timeout : 60;
	curl_easy_setopt(s->c, CURLOPT_PROTOCOLS_STR, "imap,imaps,pop3,pop3s");
	curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->c, CURLOPT_USERNAME, user);
	if (password)
		curl_easy_setopt(s->c, CURLOPT_PASSWORD, password);
	if (options)
		curl_easy_setopt(s->c, CURLOPT_LOGIN_OPTIONS, options);
	curl_easy_setopt(s->c, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(s->c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(s->c, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
	if (o->stop) {
		curl_easy_setopt(s->c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(s->c, CURLOPT_XFERINFODATA, o->stop);
		curl_easy_setopt(s->c, CURLOPT_NOPROGRESS, 0L);
	}
	if (o->insecure) {
		curl_easy_setopt(s->c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(s->c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
out:
	if (rc && d && password) { /* the path or the folder may hold it */
		scrub(d->msg, password);
		scrub(d->msg, s->password_enc);
	}
	if (password)
		bl_memzero(password, strlen(password));
	free(password);
	free(frag);
	free(scheme);
	free(user);
	free(host);
	free(port);
	free(path);
	free(query);
	free(options);
	curl_url_cleanup(u);
	return rc;
}

/* -------------------------------------------------------------- parsing */

struct numbers {
	unsigned long *v;
	size_t n, cap;
};

static void numbers_add(struct numbers *ns, unsigned long x)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 64;
		ns->v = bl_xreallocarray(ns->v, ns->cap, sizeof(*ns->v));
	}
	ns->v[ns->n++] = x;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

/* The numbers of every "* SEARCH n n n" line of @text (RFC 9051 §7.3.4), sorted. */
static void parse_search(const char *text, struct numbers *ns)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > 9 && strncasecmp(line, "* SEARCH ", 9) == 0) {
			const char *p = line + 9, *stop = line + len;
			while (p < stop) {
				char *e;
				unsigned long x = strtoul(p, &e, 10);
				if (e == p)
					break;
				if (x > 0)
					numbers_add(ns, x);
				p = e;
				while (p < stop && *p == ' ')
					p++;
			}
		}
		line = end ? end + 1 : NULL;
	}
	if (ns->n)
		qsort(ns->v, ns->n, sizeof(*ns->v), cmp_ulong);
}

/* Whether the "* CAPABILITY" answer @text lists @cap as a whole word. */
static int has_capability(const char *text, const char *cap)
{
	size_t n = strlen(cap);
	const char *p = text;
	while (*p) {
		size_t w = strcspn(p, " \r\n");
		if (w == n && strncasecmp(p, cap, n) == 0)
			return 1;
		p += w;
		p += strspn(p, " \r\n");
	}
	return 0;
}

/* POP3 LIST (RFC 1939 §5): "n size" lines, into @num and @size. */
static void parse_list(const char *text, struct numbers *num, struct numbers *size)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		char *e;
		unsigned long x = strtoul(line, &e, 10);
		if (e != line && x > 0 && *e == ' ') {
			numbers_add(num, x);
			numbers_add(size, strtoul(e + 1, NULL, 10));
		}
		line = end ? end + 1 : NULL;
	}
}

/* ----------------------------------------------------------------- IMAP */

/* Run the IMAP command @cmd on the folder; -BL_EIO with @what on failure. */
static int imap_cmd(struct session *s, const char *cmd, const char *what, struct bl_diag *d)
{
	CURLcode cc = run(s, s->folder_url, cmd, 0, MAILBOX_MAX_LISTING, NULL);
	if (cc != CURLE_OK)
		return fail(s, d, BL_EIO, "%s: %s failed: %s", s->shown, what, curl_words(s, cc));
	return 0;
}

/* Send UID EXPUNGE (RFC 4315) for @uids (at most MAILBOX_EXPUNGE_BATCH), or
 * EXPUNGE without UIDPLUS. Adds the messages gone to @st->removed. */
static int imap_expunge(struct session *s, const struct numbers *uids, struct bl_mailbox_stats *st,
                        struct bl_diag *d)
{
	if (uids->n == 0)
		return 0;
	if (!s->has_uidplus) {
		int rc = imap_cmd(s, "EXPUNGE", "EXPUNGE", d);
		if (rc == 0)
			st->removed += uids->n;
		return rc;
	}
	struct bl_buf cmd;
	bl_buf_init(&cmd, 0);
	bl_buf_adds(&cmd, "UID EXPUNGE ");
	for (size_t i = 0; i < uids->n; i++)
		bl_buf_addf(&cmd, "%s%lu", i ? "," : "", uids->v[i]);
	int rc = imap_cmd(s, bl_buf_str(&cmd), "UID EXPUNGE", d);
	bl_buf_finish(&cmd);
	if (rc == 0)
		st->removed += uids->n;
	return rc;
}

/* Take message @uid out of the folder: UID MOVE (RFC 6851), or UID COPY +
 * \Deleted, or \Deleted alone; @flagged collects UIDs awaiting EXPUNGE. */
static int imap_remove(struct session *s, const struct bl_mailbox_opts *o, unsigned long uid,
                       struct numbers *flagged, struct bl_mailbox_stats *st, struct bl_diag *d)
{
	struct bl_buf cmd;
	bl_buf_init(&cmd, 0);
	int rc = 0;
	if (o->move_to) {
		for (int attempt = 0; attempt < 2; attempt++) {
			bl_buf_reset(&cmd);
			bl_buf_addf(&cmd, "UID %s %lu ", s->has_move ? "MOVE" : "COPY", uid);
			imap_quote(&cmd, o->move_to);
			CURLcode cc =
			    run(s, s->folder_url, bl_buf_str(&cmd), 0, MAILBOX_MAX_LISTING, NULL);
			if (cc == CURLE_OK)
				break;
			if (attempt == 0 && cc == CURLE_QUOTE_ERROR) {
				/* Perhaps [TRYCREATE]: create the folder once and retry. */
				bl_buf_reset(&cmd);
				bl_buf_adds(&cmd, "CREATE ");
				imap_quote(&cmd, o->move_to);
				run(s, s->folder_url, bl_buf_str(&cmd), 0, MAILBOX_MAX_LISTING,
				    NULL);
				continue;
			}
			rc = fail(s, d, BL_EIO, "%s: UID %s of message %lu to \"%s\" failed: %s",
			          s->shown, s->has_move ? "MOVE" : "COPY", uid, o->move_to,
			          curl_words(s, cc));
			goto out;
		}
		if (s->has_move) {
			st->removed++;
			goto out;
		}
	}
	bl_buf_reset(&cmd);
	bl_buf_addf(&cmd, "UID STORE %lu +FLAGS.SILENT (\\Deleted)", uid);
	rc = imap_cmd(s, bl_buf_str(&cmd), "UID STORE \\Deleted", d);
	if (rc == 0)
		numbers_add(flagged, uid);
out:
	bl_buf_finish(&cmd);
	return rc;
}

static int poll_imap(struct session *s, const struct bl_mailbox_opts *o, bl_mailbox_fn fn,
                     void *arg, struct bl_mailbox_stats *st, struct bl_diag *d)
{
	struct numbers uids = {0}, flagged = {0};
	int rc = 0;
	/* CAPABILITY after login: the server's full list (RFC 9051 §6.1.1). */
	CURLcode cc = run(s, s->base, "CAPABILITY", 0, MAILBOX_MAX_LISTING, NULL);
	if (cc != CURLE_OK) {
		rc = fail(s, d, BL_EIO, "%s: %s", s->shown, curl_words(s, cc));
		goto out;
	}
	s->has_move = has_capability(bl_buf_str(&s->out), "MOVE");
	s->has_uidplus = has_capability(bl_buf_str(&s->out), "UIDPLUS");
	rc = imap_cmd(s, "UID SEARCH ALL", "UID SEARCH", d);
	if (rc != 0)
		goto out;
	parse_search(bl_buf_str(&s->out), &uids);
	for (size_t i = 0; i < uids.n; i++) {
		if (o->max_messages && st->seen >= o->max_messages)
			break;
		struct bl_buf u;
		bl_buf_init(&u, 0);
		bl_buf_addf(&u, "%s/;UID=%lu", s->folder_url, uids.v[i]);
		cc = run(s, bl_buf_str(&u), NULL, 0, MAILBOX_MAX_MESSAGE, NULL);
		bl_buf_finish(&u);
		if (cc == CURLE_REMOTE_FILE_NOT_FOUND)
			continue; /* expunged by someone else since the search */
		st->seen++;
		if (cc == CURLE_WRITE_ERROR && s->too_big) {
			st->kept++; /* over MAILBOX_MAX_MESSAGE: left for a human */
			continue;
		}
		if (cc != CURLE_OK) {
			st->kept++;
			rc = fail(s, d, BL_EIO, "%s: UID FETCH %lu failed: %s", s->shown, uids.v[i],
			          curl_words(s, cc));
			goto out;
		}
		int r = fn(arg, bl_buf_str(&s->out), s->out.len);
		if (r != 0) {
			st->kept++;
			if (r < 0) {
				rc = r;
				goto out;
			}
			continue;
		}
		st->processed++;
		rc = imap_remove(s, o, uids.v[i], &flagged, st, d);
		if (rc == 0 && flagged.n >= MAILBOX_EXPUNGE_BATCH) {
			rc = imap_expunge(s, &flagged, st, d);
			flagged.n = 0;
		}
		if (rc != 0)
			goto out;
	}
out:;
	/* Expunge what was flagged, also after an error (a best effort then). */
	struct bl_diag d2;
	int rc2 = imap_expunge(s, &flagged, st, rc ? &d2 : d);
	if (rc == 0)
		rc = rc2;
	free(uids.v);
	free(flagged.v);
	return rc;
}

/* ----------------------------------------------------------------- POP3 */

static int poll_pop3(struct session *s, const struct bl_mailbox_opts *o, bl_mailbox_fn fn,
                     void *arg, struct bl_mailbox_stats *st, struct bl_diag *d)
{
	struct numbers num = {0}, size = {0};
	size_t deleted = 0;
	int rc = 0, reconnected = 0;
	char *url = NULL;
	CURLcode cc = run(s, s->base, NULL, 0, MAILBOX_MAX_LISTING, NULL);
	if (cc != CURLE_OK) {
		rc = fail(s, d, BL_EIO, "%s: %s", s->shown, curl_words(s, cc));
		goto out;
	}
	parse_list(bl_buf_str(&s->out), &num, &size);
	for (size_t i = 0; i < num.n; i++) {
		if (o->max_messages && st->seen >= o->max_messages)
			break;
		st->seen++;
		if (size.v[i] > MAILBOX_MAX_MESSAGE) {
			st->kept++;
			continue;
		}
		struct bl_buf u;
		bl_buf_init(&u, 0);
		bl_buf_addf(&u, "%s%lu", s->base, num.v[i]);
		free(url);
		url = bl_buf_take(&u);
		cc = run(s, url, NULL, 0, MAILBOX_MAX_MESSAGE, &reconnected);
		if (cc == CURLE_OK && reconnected) {
			st->kept++;
			goto lost;
		}
		if (cc != CURLE_OK) {
			st->kept++;
			rc = fail(s, d, BL_EIO, "%s: RETR %lu failed: %s", s->shown, num.v[i],
			          curl_words(s, cc));
			goto out;
		}
		int r = fn(arg, bl_buf_str(&s->out), s->out.len);
		if (r != 0) {
			st->kept++;
			if (r < 0) {
				rc = r;
				goto out;
			}
			continue;
		}
		st->processed++;
		cc = run(s, url, "DELE", 1, MAILBOX_MAX_LISTING, &reconnected);
		if (cc == CURLE_OK && reconnected)
			goto lost;
		if (cc != CURLE_OK) {
			rc = fail(s, d, BL_EIO, "%s: DELE %lu failed: %s", s->shown, num.v[i],
			          curl_words(s, cc));
			goto out;
		}
		deleted++;
	}
out:
	/* QUIT commits the DELEs (RFC 1939 §6); sent here rather than at cleanup so
	 * its answer counts. The server closes the connection after it. */
	if (deleted > 0) {
		cc = run(s, s->base, "QUIT", 1, MAILBOX_MAX_LISTING, &reconnected);
		if (cc == CURLE_OK && !reconnected) {
			st->removed += deleted;
		} else if (rc == 0) {
			rc = fail(s, d, BL_EIO, "%s: QUIT failed, no message removed: %s", s->shown,
			          reconnected ? "the connection was lost" : curl_words(s, cc));
		}
		/* libcurl believes the connection is open: close it without a second QUIT. */
		curl_easy_cleanup(s->c);
		s->c = NULL;
	}
	free(url);
	free(num.v);
	free(size.v);
	return rc;
lost:
	deleted = 0;
	rc = fail(s, d, BL_EIO,
	          "%s: the connection was lost mid-poll; messages not yet removed are kept",
	          s->shown);
	goto out;
}

int bl_mailbox_poll(const struct bl_mailbox_opts *o, bl_mailbox_fn fn, void *arg,
                    struct bl_mailbox_stats *st, struct bl_diag *d)
{
	struct session s;
	struct bl_mailbox_stats local = {0};
	int rc = session_init(&s, o, d);
	if (rc == 0 && !fn)
		rc = bl_diag_set(d, BL_EINVAL, "no callback");
	if (rc == 0)
		rc = s.pop3 ? poll_pop3(&s, o, fn, arg, &local, d)
		            : poll_imap(&s, o, fn, arg, &local, d);
	session_finish(&s);
	if (st)
		*st = local;
	return rc;
}

int bl_mailbox_check(const struct bl_mailbox_opts *o, struct bl_diag *d)
{
	struct session s;
	int rc = session_init(&s, o, d);
	session_finish(&s);
	return rc;
}
