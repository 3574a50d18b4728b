/*
 * SMTP relays through libcurl's multi interface; the only file that
 * includes curl.h. It sends to the relays where TLS may be in play
 * (smtps://, STARTTLS off loopback or required; transport.h), smtpc.c to
 * the others; it also parses every relay URL. One easy handle per slot; a
 * slot sends one message (one MAIL, one RCPT, DATA) and goes back to the
 * pool. Connections live in the multi handle's cache and are reused by
 * whichever slot sends next to the same relay, so a steady stream keeps
 * `slots` connections open.
 *
 * libcurl says little about a failure (an error code, "RCPT failed: 550"),
 * so each slot follows the transcript through the debug callback: every
 * command sent (CURLINFO_HEADER_OUT) sets the stage, every reply line
 * (CURLINFO_HEADER_IN) the code and text. The end of the body, handed out
 * by the read callback, starts the DATA_END stage whose reply carries the
 * queue id. After a failure before the end of DATA libcurl closes the
 * connection (QUIT, no RSET), so the next message starts on a fresh one
 * with no transaction open; after a refusal at the end of DATA the
 * transaction is over (RFC 5321 4.1.1.4) and the connection is reused.
 *
 * libcurl finishes a transfer that is removed early as if it had succeeded:
 * it sends the end-of-data "." (a truncated or empty message would be
 * delivered). So the engine opens and closes the sockets itself, and
 * destroy shuts every socket down before removing a transfer in flight.
 */
#include "send/relay.h"

#include "send/smtp_reply.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct slot {
	struct bl_smtp *owner;
	CURL *easy;
	int busy;
	int trial;
	struct bl_relay *relay;
	struct curl_slist *rcpt;
	char *data; /* the message, ours while busy */
	size_t len, off;
	void *tag;
	int smtputf8; /* the message needs SMTPUTF8 */
	/* what the transcript says so far */
	enum bl_smtp_stage stage;
	int code;      /* code of the last complete reply to the current command; 0 none */
	int in_reply;  /* a reply to the current command has begun */
	int ignore;    /* the current command is QUIT/RSET/NOOP: not ours to report */
	int body_done; /* the read callback handed out the last byte */
	int ehlo_seen, ehlo_utf8;
	char reply[256]; /* first line of that reply */
	char errbuf[CURL_ERROR_SIZE];
};

struct bl_smtp {
	CURLM *multi;
	const struct bl_transport_opts *opts;
	struct slot *slots;
	size_t n_slots;
	size_t busy;
	int *socks; /* every socket libcurl has open for us */
	size_t n_socks, cap_socks;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void global_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --------------------------------------------------------------- URLs */

/* An EHLO name: a domain (letters, digits, '-', '.') or an address literal. */
static int helo_valid(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 255)
		return 0;
	if (h[0] == '[')
		return h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.Pv6-") == n - 2;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

static char *url_part(CURLU *u, CURLUPart what, unsigned flags)
{
	char *s = NULL;
	if (curl_url_get(u, what, &s, flags) != CURLUE_OK)
		return NULL;
	char *copy = bl_xstrdup(s);
	curl_free(s);
	return copy;
}

int bl_smtp_parse(struct bl_relay *r, const char *url, const char *helo, struct bl_diag *d)
{
	int rc = 0;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL,
	     *opts = NULL;
	char *shown = bl_url_mask_password(url); /* @url in messages */
	CURLU *u = curl_url();
	CURLU *c = curl_url();
	if (!u || !c) {
		rc = bl_diag_set(d, BL_EIO, "%s: libcurl cannot parse URLs", shown);
		goto out;
	}
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		rc = bl_diag_set(d, BL_EINVAL, "%s: %s", shown, curl_url_strerror(uc));
		goto out;
	}
	scheme = url_part(u, CURLUPART_SCHEME, 0);
	host = url_part(u, CURLUPART_HOST, 0);
	port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	path = url_part(u, CURLUPART_PATH, 0);
	query = url_part(u, CURLUPART_QUERY, 0);
	frag = url_part(u, CURLUPART_FRAGMENT, 0);
	opts = url_part(u, CURLUPART_OPTIONS, 0);
	if (!scheme || (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)) {
		rc = bl_diag_set(d, BL_EINVAL, "%s: not an smtp:// or smtps:// URL", shown);
		goto out;
	}
	if (!host || !*host || !port) {
		rc = bl_diag_set(d, BL_EINVAL, "%s: no host", shown);
		goto out;
	}
	if ((path && strcmp(path, "/") != 0 && *path) || query || frag || opts) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "%s: a relay URL is [user:password@]host[:port] and nothing after",
		                 shown);
		goto out;
	}
	if (helo && !helo_valid(helo)) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "EHLO name \"%s\" is not a domain or address literal", helo);
		goto out;
	}
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
		r->host = bl_xstrndup(host + 1, hl - 2);
	else
		r->host = bl_xstrdup(host);
	r->port = bl_xstrdup(port);
	r->smtps = strcmp(scheme, "smtps") == 0;
	r->user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
	r->pass = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
	if (r->user && !r->pass)
		r->pass = bl_xstrdup("");

	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b, "%s://%s:%s", scheme, host, port);
	r->url = bl_buf_take(&b);

	/* libcurl takes the EHLO name from the URL's path. */
	if (curl_url_set(c, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    curl_url_set(c, CURLUPART_HOST, host, 0) != CURLUE_OK ||
	    curl_url_set(c, CURLUPART_PORT, port, 0) != CURLUE_OK) {
		rc = bl_diag_set(d, BL_EINVAL, "%s: cannot rebuild the URL", shown);
		goto out;
	}
	if (helo) {
		bl_buf_addf(&b, "/%s", helo);
		uc = curl_url_set(c, CURLUPART_PATH, bl_buf_str(&b), CURLU_URLENCODE);
		bl_buf_finish(&b);
		if (uc != CURLUE_OK) {
			rc = bl_diag_set(d, BL_EINVAL, "EHLO name \"%s\": %s", helo,
			                 curl_url_strerror(uc));
			goto out;
		}
	}
	r->curl_url = url_part(c, CURLUPART_URL, 0);
	if (!r->curl_url)
		rc = bl_diag_set(d, BL_EINVAL, "%s: cannot rebuild the URL", shown);
out:
	free(shown);
	free(scheme);
	free(host);
	free(port);
	free(path);
	free(query);
	free(frag);
	free(opts);
	curl_url_cleanup(u);
	curl_url_cleanup(c);
	return rc;
}

/* ------------------------------------------------------ the transcript */

/* Which stage a command line we sent opens (-1: not a stage of ours). */
static int command_stage(const char *line, size_t n)
{
	static const struct {
		const char *verb;
		int stage;
	} verbs[] = {
	    {"EHLO", BL_STAGE_EHLO}, {"HELO", BL_STAGE_EHLO}, {"STARTTLS", BL_STAGE_STARTTLS},
	    {"AUTH", BL_STAGE_AUTH}, {"MAIL", BL_STAGE_MAIL}, {"RCPT", BL_STAGE_RCPT},
	    {"DATA", BL_STAGE_DATA},
	};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		size_t vl = strlen(verbs[i].verb);
		if (n >= vl && strncasecmp(line, verbs[i].verb, vl) == 0 &&
		    (n == vl || line[vl] == ' ' || line[vl] == '\r' || line[vl] == '\n'))
			return verbs[i].stage;
	}
	return -1;
}

static void sent_line(struct slot *s, const char *line, size_t n)
{
	int st = command_stage(line, n);
	if (st < 0) {
		/* SASL continuation lines belong to AUTH; QUIT, RSET, NOOP are
		 * libcurl's own business. */
		if (s->stage == BL_STAGE_AUTH && !s->ignore)
			st = BL_STAGE_AUTH;
		else {
			s->ignore = 1;
			return;
		}
	}
	s->ignore = 0;
	s->stage = (enum bl_smtp_stage)st;
	s->code = 0;
	s->in_reply = 0;
	s->reply[0] = '\0';
	if (st == BL_STAGE_EHLO) {
		s->ehlo_seen = 1;
		s->ehlo_utf8 = 0;
	}
}

static void got_line(struct slot *s, const char *line, size_t n)
{
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (s->ignore)
		return;
	if (s->stage == BL_STAGE_CONNECT)
		s->stage = BL_STAGE_GREETING;
	if (n < 3 || line[0] < '0' || line[0] > '9' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return;
	if (!s->in_reply) {
		size_t k = n < sizeof(s->reply) - 1 ? n : sizeof(s->reply) - 1;
		memcpy(s->reply, line, k);
		s->reply[k] = '\0';
		s->in_reply = 1;
	}
	if (s->stage == BL_STAGE_EHLO && n >= 12 && strncasecmp(line + 4, "SMTPUTF8", 8) == 0)
		s->ehlo_utf8 = 1;
	if (n == 3 || line[3] == ' ')
		s->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)h;
	struct slot *s = arg;
	if (type == CURLINFO_HEADER_OUT)
		sent_line(s, data, size);
	else if (type == CURLINFO_HEADER_IN)
		got_line(s, data, size);
	return 0;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct slot *s = arg;
	size_t room = size * nitems, left = s->len - s->off;
	size_t n = left < room ? left : room;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	if (s->off == s->len && !s->body_done) {
		/* What the relay says next is its verdict on the whole message. */
		s->body_done = 1;
		s->stage = BL_STAGE_DATA_END;
		s->code = 0;
		s->in_reply = 0;
		s->reply[0] = '\0';
	}
	return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

/* Sort one finished message into the outcomes of transport.h. */
static void classify(const struct slot *s, CURLcode rc, struct bl_send_result *r)
{
	r->stage = s->stage;
	r->code = s->code;
	r->in_doubt = 0;
	snprintf(r->reply, sizeof(r->reply), "%s", s->reply);
	r->queue_id[0] = '\0';
	int cls = s->code / 100;

	if (rc == CURLE_OK) {
		r->outcome = BL_SEND_ACCEPTED;
		r->stage = BL_STAGE_DATA_END;
		bl_smtp_queue_id(s->reply, strlen(s->reply), r->queue_id, sizeof(r->queue_id));
		return;
	}
	if (rc == CURLE_USE_SSL_FAILED && cls == 2) {
		/* EHLO went fine but did not offer STARTTLS, which is required. */
		r->outcome = BL_SEND_SYSTEMIC;
		r->stage = BL_STAGE_STARTTLS;
		r->code = 0;
		snprintf(r->reply, sizeof(r->reply),
		         "STARTTLS is required but the relay does not offer it");
		return;
	}
	if (rc == CURLE_LOGIN_DENIED && s->stage != BL_STAGE_AUTH) {
		r->outcome = BL_SEND_SYSTEMIC;
		r->stage = BL_STAGE_AUTH;
		r->code = 0;
		snprintf(r->reply, sizeof(r->reply),
		         "the relay offers no AUTH mechanism libcurl can use");
		return;
	}
	if (s->code == 0 || cls == 2 || cls == 3) {
		/* No reply to the last command, or a positive one followed by a
		 * local or TLS failure: the connection is the problem. */
		r->outcome = BL_SEND_CONNECTION;
		r->code = 0;
		r->in_doubt = s->stage == BL_STAGE_DATA_END && s->body_done;
		snprintf(r->reply, sizeof(r->reply), "%s",
		         s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
		return;
	}
	if (s->code == 421 || (cls != 4 && cls != 5)) {
		r->outcome = BL_SEND_CONNECTION;
		return;
	}
	switch (s->stage) {
	case BL_STAGE_CONNECT:
	case BL_STAGE_GREETING:
		r->outcome = BL_SEND_CONNECTION;
		break;
	case BL_STAGE_EHLO:
	case BL_STAGE_STARTTLS:
	case BL_STAGE_AUTH:
		r->outcome = cls == 4 ? BL_SEND_CONNECTION : BL_SEND_SYSTEMIC;
		break;
	case BL_STAGE_MAIL:
		/* A relay that lacks SMTPUTF8 refusing an internationalised
		 * address is about this message, not about every message. */
		if (cls == 5) {
			int utf8 = s->ehlo_seen ? s->ehlo_utf8 : s->relay->smtputf8;
			r->outcome = s->smtputf8 && utf8 != 1 ? BL_SEND_FAILED : BL_SEND_SYSTEMIC;
		} else
			r->outcome = BL_SEND_CONNECTION;
		break;
	case BL_STAGE_RCPT:
	case BL_STAGE_DATA:
	case BL_STAGE_DATA_END:
		r->outcome = cls == 4 ? BL_SEND_DEFERRED : BL_SEND_FAILED;
		break;
	}
}

/* ------------------------------------------------------------ engine */

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct bl_smtp *s = arg;
	(void)purpose;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (s->n_socks == s->cap_socks) {
		s->cap_socks = s->cap_socks ? 2 * s->cap_socks : 16;
		s->socks = bl_xrealloc(s->socks, s->cap_socks * sizeof(*s->socks));
	}
	s->socks[s->n_socks++] = fd;
	return fd;
}

static int on_close_socket(void *arg, curl_socket_t fd)
{
	struct bl_smtp *s = arg;
	for (size_t i = 0; i < s->n_socks; i++)
		if (s->socks[i] == fd) {
			s->socks[i] = s->socks[--s->n_socks];
			break;
		}
	return close(fd);
}

/* STARTTLS for @r: credentials never travel in the clear, so with a user
 * in the URL "opportunistic" means "required" (Postfix's noplaintext). */
static long use_ssl(const struct bl_relay *r, const struct bl_transport_opts *o)
{
	if (o->starttls == BL_STARTTLS_REQUIRED ||
	    (o->starttls == BL_STARTTLS_OPPORTUNISTIC && r->user))
		return CURLUSESSL_ALL;
	return o->starttls == BL_STARTTLS_OFF ? CURLUSESSL_NONE : CURLUSESSL_TRY;
}

static void set_common(CURL *e, const struct bl_transport_opts *o)
{
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)o->timeout);
	curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)o->timeout);
	/* A body that stalls for `timeout` seconds is a dead connection. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->timeout);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
}

struct bl_smtp *bl_smtp_create(size_t slots, const struct bl_transport_opts *o)
{
	pthread_once(&curl_once, global_init);
	if (curl_init_rc != CURLE_OK)
		return NULL;
	struct bl_smtp *s = bl_xcalloc(1, sizeof(*s));
	s->opts = o;
	s->multi = curl_multi_init();
	s->slots = bl_xcalloc(slots, sizeof(*s->slots));
	s->n_slots = slots;
	if (!s->multi)
		goto fail;
	/* Keep every slot's connection (and a few to a relay we left). */
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)(2 * slots));
	for (size_t i = 0; i < slots; i++) {
		struct slot *sl = &s->slots[i];
		sl->owner = s;
		sl->easy = curl_easy_init();
		if (!sl->easy)
			goto fail;
		CURL *e = sl->easy;
		set_common(e, o);
		curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, sl);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf);
		/* The transcript comes through the debug callback, which
		 * libcurl calls only in verbose mode. */
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
		curl_easy_setopt(e, CURLOPT_DEBUGDATA, sl);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, s);
		curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
		curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, s);
	}
	return s;
fail:
	bl_smtp_destroy(s);
	return NULL;
}

static void slot_clear(struct slot *sl)
{
	free(sl->data);
	sl->data = NULL;
	curl_slist_free_all(sl->rcpt);
	sl->rcpt = NULL;
	sl->busy = 0;
}

void bl_smtp_destroy(struct bl_smtp *s)
{
	if (!s)
		return;
	/* Messages in flight must not end with "." (see the top): with the
	 * sockets shut down nothing more leaves, and libcurl neither waits
	 * for a reply nor sends QUIT. */
	if (s->busy > 0)
		for (size_t i = 0; i < s->n_socks; i++)
			shutdown(s->socks[i], SHUT_RDWR);
	for (size_t i = 0; i < s->n_slots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->busy)
			curl_multi_remove_handle(s->multi, sl->easy);
		slot_clear(sl);
	}
	/* The multi handle owns the connection cache: it sends QUIT on each. */
	if (s->multi)
		curl_multi_cleanup(s->multi);
	for (size_t i = 0; i < s->n_slots; i++)
		if (s->slots[i].easy)
			curl_easy_cleanup(s->slots[i].easy);
	free(s->slots);
	free(s->socks);
	free(s);
}

int bl_smtp_start(struct bl_smtp *s, struct bl_relay *r, struct bl_transport_msg *m, int trial)
{
	struct slot *sl = NULL;
	for (size_t i = 0; i < s->n_slots && !sl; i++)
		if (!s->slots[i].busy)
			sl = &s->slots[i];
	if (!sl)
		return -BL_EBUSY;
	struct curl_slist *rcpt = curl_slist_append(NULL, m->rcpt);
	if (!rcpt)
		return -BL_EIO;
	CURL *e = sl->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->curl_url);
	curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
	curl_easy_setopt(e, CURLOPT_PASSWORD, r->pass);
	curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl(r, s->opts));
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, m->mail_from);
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
	sl->rcpt = rcpt;
	sl->relay = r;
	sl->trial = trial;
	sl->tag = m->tag;
	sl->smtputf8 = m->smtputf8;
	sl->len = m->len;
	sl->off = 0;
	sl->stage = BL_STAGE_CONNECT;
	sl->code = 0;
	sl->in_reply = 0;
	sl->ignore = 0;
	sl->body_done = 0;
	sl->ehlo_seen = 0;
	sl->ehlo_utf8 = 0;
	sl->reply[0] = '\0';
	sl->errbuf[0] = '\0';
	if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
		curl_slist_free_all(rcpt);
		sl->rcpt = NULL;
		return -BL_EIO;
	}
	sl->data = m->data;
	sl->busy = 1;
	s->busy++;
	return 0;
}

/* Report every transfer libcurl has finished. */
static int drain(struct bl_smtp *s, bl_smtp_done_fn fn, void *arg)
{
	int n = 0, left;
	CURLMsg *msg;
	while ((msg = curl_multi_info_read(s->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct slot *sl = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
		CURLcode rc = msg->data.result;
		struct bl_smtp_done done;
		memset(&done, 0, sizeof(done));
		done.relay = sl->relay;
		done.trial = sl->trial;
		done.ehlo_seen = sl->ehlo_seen;
		done.smtputf8 = sl->ehlo_utf8;
		done.res.tag = sl->tag;
		done.res.relay = sl->relay->url;
		classify(sl, rc, &done.res);
		curl_multi_remove_handle(s->multi, sl->easy);
		slot_clear(sl);
		s->busy--;
		fn(arg, &done);
		n++;
	}
	return n;
}

int bl_smtp_poll(struct bl_smtp *s, int timeout_ms, bl_smtp_done_fn fn, void *arg)
{
	double end = bl_monotonic() + timeout_ms / 1000.0;
	int n = 0;
	for (;;) {
		int running;
		if (curl_multi_perform(s->multi, &running) != CURLM_OK)
			return -BL_EIO;
		n += drain(s, fn, arg);
		if (n > 0 || s->busy == 0)
			return n;
		double left = end - bl_monotonic();
		if (left <= 0)
			return n;
		if (curl_multi_poll(s->multi, NULL, 0, (int)(left * 1000) + 1, NULL) != CURLM_OK)
			return -BL_EIO;
	}
}

size_t bl_smtp_busy(const struct bl_smtp *s)
{
	return s ? s->busy : 0;
}

/* ------------------------------------------------------------- probe */

int bl_smtp_probe(struct bl_relay *r, const struct bl_transport_opts *o, const char *mail_from,
                  int timeout_ms, char *why, size_t why_len)
{
	pthread_once(&curl_once, global_init);
	CURL *e = curl_easy_init();
	if (!e) {
		snprintf(why, why_len, "libcurl cannot start");
		return 0;
	}
	char err[CURL_ERROR_SIZE] = "";
	set_common(e, o);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(e, CURLOPT_URL, r->curl_url);
	curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
	curl_easy_setopt(e, CURLOPT_PASSWORD, r->pass);
	curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl(r, o));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));

	/* libcurl sends a custom request as the command, after URL-decoding it. */
	struct bl_buf cmd;
	bl_buf_init(&cmd, 0);
	if (mail_from) {
		bl_buf_adds(&cmd, "MAIL FROM:<");
		for (const char *p = mail_from; *p; p++)
			if (*p == '%')
				bl_buf_adds(&cmd, "%25");
			else
				bl_buf_addc(&cmd, *p);
		bl_buf_adds(&cmd, ">");
	} else {
		bl_buf_adds(&cmd, "NOOP");
	}
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, bl_buf_str(&cmd));
	CURLcode rc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && mail_from) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "RSET");
		rc = curl_easy_perform(e);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	}
	int ok = rc == CURLE_OK;
	if (ok)
		snprintf(why, why_len, "%s answers", r->url);
	else
		snprintf(why, why_len, "%s: %s (last reply code %ld)", r->url,
		         err[0] ? err : curl_easy_strerror(rc), code);
	bl_buf_finish(&cmd);
	curl_easy_cleanup(e);
	return ok;
}
