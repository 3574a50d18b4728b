/*
 * The transport (transport.h): a list of relays tried in order, each with
 * its own health, plus a token bucket for the rate limit. A relay that ends
 * a message with a connection-level failure backs off for backoff_min
 * seconds; when that has passed, one message may try it (or
 * bl_transport_probe checks it): success makes it healthy again, failure
 * doubles the wait up to backoff_max. Messages go to the first healthy
 * relay, so a second relay takes over while the first is down and gives
 * the traffic back once the first is well. Each smtp:// relay is sent
 * by bulletin's own client (smtpc.c) or libcurl (smtp.c), chosen once at
 * create (own_client, transport.h says why). Results from the kinds
 * (smtpc.c, smtp.c, maildir.c) queue here until bl_transport_poll hands
 * them out.
 */
#include "send/transport.h"

#include "send/relay.h"
#include "util/err.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits on what a caller may ask for. */
#define MAX_CONCURRENCY 1000
#define MAX_RELAYS      32
#define MAX_TIMEOUT     3600

struct bl_transport {
	struct bl_transport_opts opts; /* helo points into our own copy */
	char *helo;
	struct bl_relay *relays;
	size_t n_relays;
	struct bl_smtp *smtp;   /* libcurl; NULL when no relay needs it */
	struct bl_smtpc *smtpc; /* our own client; NULL when no relay needs it */
	size_t in_flight;       /* submitted, not yet handed to the caller */
	/* finished, waiting for bl_transport_poll */
	struct bl_send_result *done;
	size_t n_done, cap_done;
	/* token bucket: `tokens` messages may start now, at most `burst` */
	double tokens, burst, refilled;
};

void bl_transport_opts_init(struct bl_transport_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->concurrency = 4;
	o->rate_limit = 0;
	o->starttls = BL_STARTTLS_OPPORTUNISTIC;
	o->timeout = 60;
	o->backoff_min = 30;
	o->backoff_max = 1800;
	o->helo = NULL;
	o->tls_verify = 1;
}

static void relay_finish(struct bl_relay *r)
{
	free(r->url);
	free(r->path);
	free(r->curl_url);
	free(r->host);
	free(r->port);
	free(r->user);
	free(r->pass);
}

static int check_opts(const struct bl_transport_opts *o, struct bl_diag *d)
{
	if (o->concurrency < 1 || o->concurrency > MAX_CONCURRENCY)
		return bl_diag_set(d, BL_EINVAL, "concurrency %d is not between 1 and %d",
		                   o->concurrency, MAX_CONCURRENCY);
	if (!(o->rate_limit >= 0) || isinf(o->rate_limit))
		return bl_diag_set(d, BL_EINVAL, "rate limit %g is not 0 (none) or a positive rate",
		                   o->rate_limit);
	if (o->timeout < 1 || o->timeout > MAX_TIMEOUT)
		return bl_diag_set(d, BL_EINVAL, "timeout %d s is not between 1 and %d", o->timeout,
		                   MAX_TIMEOUT);
	if (o->backoff_min < 1 || o->backoff_max < o->backoff_min)
		return bl_diag_set(d, BL_EINVAL,
		                   "back-off %d..%d s: want 1 <= backoff_min <= backoff_max",
		                   o->backoff_min, o->backoff_max);
	if (o->starttls != BL_STARTTLS_OPPORTUNISTIC && o->starttls != BL_STARTTLS_REQUIRED &&
	    o->starttls != BL_STARTTLS_OFF)
		return bl_diag_set(d, BL_EINVAL, "unknown STARTTLS setting %d", (int)o->starttls);
	if (o->client != BL_SMTP_CLIENT_AUTO && o->client != BL_SMTP_CLIENT_LIBCURL)
		return bl_diag_set(d, BL_EINVAL, "unknown SMTP client setting %d", (int)o->client);
	return 0;
}

/*
 * Whether bulletin's own client sends to @r: only where TLS is not in play
 * (transport.h). Off loopback with STARTTLS off it would have to send
 * credentials in the clear, which it never does: libcurl keeps those.
 */
static int own_client(const struct bl_relay *r, const struct bl_transport_opts *o)
{
	if (o->client == BL_SMTP_CLIENT_LIBCURL || r->smtps)
		return 0;
	if (r->loopback)
		return o->starttls != BL_STARTTLS_REQUIRED;
	return o->starttls == BL_STARTTLS_OFF && !r->user;
}

/* Parse one relay URL (already trimmed) into @r. */
static int parse_relay(struct bl_transport *t, struct bl_relay *r, const char *url,
                       struct bl_diag *d)
{
	r->smtputf8 = -1;
	if (strncmp(url, "maildir:", 8) == 0) {
		const char *path = url + 8;
		if (!*path)
			return bl_diag_set(d, BL_EINVAL, "%s: the maildir needs a path", url);
		r->kind = BL_RELAY_MAILDIR;
		r->path = bl_xstrdup(path);
		r->url = bl_xstrdup(url);
		return bl_maildir_prepare(path, d);
	}
	const char *colon = strchr(url, ':');
	size_t sl = colon ? (size_t)(colon - url) : 0;
	char scheme[8] = "";
	if (sl > 0 && sl < sizeof(scheme)) {
		memcpy(scheme, url, sl);
		scheme[sl] = '\0';
		bl_ascii_lower(scheme);
	}
	if (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0) {
		char *shown = bl_url_mask_password(url);
		int rc = bl_diag_set(
		    d, BL_EINVAL,
		    "%s: unsupported transport (want smtp://, smtps:// or maildir:PATH)", shown);
		free(shown);
		return rc;
	}
	r->kind = BL_RELAY_SMTP;
	int rc = bl_smtp_parse(r, url, t->opts.helo, d);
	if (rc == 0) {
		r->loopback = bl_relay_loopback(r->host);
		r->own = own_client(r, &t->opts);
	}
	return rc;
}

int bl_transport_create(const char *urls, const struct bl_transport_opts *opts,
                        struct bl_transport **out, struct bl_diag *d)
{
	struct bl_transport_opts defaults;
	if (!opts) {
		bl_transport_opts_init(&defaults);
		opts = &defaults;
	}
	int rc = check_opts(opts, d);
	if (rc)
		return rc;
	if (!urls)
		return bl_diag_set(d, BL_EINVAL, "no transport URL");

	struct bl_transport *t = bl_xcalloc(1, sizeof(*t));
	t->opts = *opts;
	t->helo = bl_xstrdup(opts->helo);
	t->opts.helo = t->helo;
	t->relays = bl_xcalloc(MAX_RELAYS, sizeof(*t->relays));

	int any_curl = 0, any_own = 0;
	const char *p = urls;
	for (;;) {
		const char *end = bl_url_list_next(p); /* a ',' in a password stays in it */
		size_t len = end ? (size_t)(end - p) : strlen(p);
		size_t start;
		len = bl_trim_span(p, len, &start);
		if (len == 0) {
			char *shown = bl_url_mask_password(urls);
			rc = bl_diag_set(d, BL_EINVAL, "\"%s\": empty relay in the list", shown);
			free(shown);
			break;
		}
		if (t->n_relays == MAX_RELAYS) {
			rc = bl_diag_set(d, BL_ELIMIT, "more than %d relays", MAX_RELAYS);
			break;
		}
		char *one = bl_xstrndup(p + start, len);
		struct bl_relay *r = &t->relays[t->n_relays++];
		rc = parse_relay(t, r, one, d);
		free(one);
		if (rc)
			break;
		any_curl |= r->kind == BL_RELAY_SMTP && !r->own;
		any_own |= r->kind == BL_RELAY_SMTP && r->own;
		if (!end)
			break;
		p = end + 1;
	}
	if (rc == 0 && any_curl) {
		t->smtp = bl_smtp_create((size_t)t->opts.concurrency, &t->opts);
		if (!t->smtp)
			rc = bl_diag_set(d, BL_EIO, "libcurl could not start");
	}
	if (rc == 0 && any_own)
		t->smtpc = bl_smtpc_create((size_t)t->opts.concurrency, &t->opts);
	if (rc) {
		bl_transport_destroy(t);
		return rc;
	}
	t->burst = t->opts.rate_limit / 10 > 1 ? t->opts.rate_limit / 10 : 1;
	t->tokens = t->burst;
	t->refilled = bl_monotonic();
	*out = t;
	return 0;
}

void bl_transport_destroy(struct bl_transport *t)
{
	if (!t)
		return;
	bl_smtp_destroy(t->smtp);
	bl_smtpc_destroy(t->smtpc);
	for (size_t i = 0; i < t->n_relays; i++)
		relay_finish(&t->relays[i]);
	free(t->relays);
	free(t->done);
	free(t->helo);
	free(t);
}

/* ------------------------------------------------------------- health */

/* A relay may take a message now: healthy, or due for its one trial. */
static int relay_open(const struct bl_relay *r, double now)
{
	return !r->down || (!r->trial && now >= r->next_try);
}

/* The relay for the next message: the first in the list that is healthy
 * or due for its trial (so a preferred relay that is due gets one message
 * even while a later one carries the traffic); NULL when none. */
static struct bl_relay *pick(struct bl_transport *t, double now)
{
	for (size_t i = 0; i < t->n_relays; i++)
		if (relay_open(&t->relays[i], now))
			return &t->relays[i];
	return NULL;
}

/* Update @r's health from one result. */
static void account(struct bl_transport *t, struct bl_relay *r, int trial,
                    const struct bl_send_result *res)
{
	if (r->in_flight > 0)
		r->in_flight--;
	if (res->outcome != BL_SEND_CONNECTION) {
		if (trial) {
			r->down = 0;
			r->trial = 0;
			r->delay = 0;
		}
		return;
	}
	if (!r->down) {
		r->down = 1;
		r->delay = t->opts.backoff_min;
	} else if (trial) {
		r->trial = 0;
		r->delay = r->delay * 2 > t->opts.backoff_max ? t->opts.backoff_max : r->delay * 2;
	} else {
		return; /* sent before the relay went down: the back-off stands */
	}
	r->next_try = bl_monotonic() + r->delay;
}

static void refill(struct bl_transport *t, double now)
{
	if (t->opts.rate_limit <= 0)
		return;
	t->tokens += (now - t->refilled) * t->opts.rate_limit;
	if (t->tokens > t->burst)
		t->tokens = t->burst;
	t->refilled = now;
}

size_t bl_transport_slots(struct bl_transport *t)
{
	size_t conc = (size_t)t->opts.concurrency;
	if (t->in_flight >= conc)
		return 0;
	double now = bl_monotonic();
	size_t n = 0;
	for (size_t i = 0; i < t->n_relays; i++) {
		const struct bl_relay *r = &t->relays[i];
		if (!r->down) {
			n = conc - t->in_flight;
			break;
		}
		if (relay_open(r, now))
			n = 1;
	}
	if (t->opts.rate_limit > 0) {
		refill(t, now);
		size_t tok = t->tokens >= 1 ? (size_t)t->tokens : 0;
		if (n > tok)
			n = tok;
	}
	return n;
}

size_t bl_transport_in_flight(const struct bl_transport *t)
{
	return t->in_flight;
}

int64_t bl_transport_next_probe(const struct bl_transport *t)
{
	double now = bl_monotonic(), first = 0;
	for (size_t i = 0; i < t->n_relays; i++) {
		const struct bl_relay *r = &t->relays[i];
		if (!r->down)
			return 0;
		double at = r->next_try > now ? r->next_try : now;
		if (first == 0 || at < first)
			first = at;
	}
	if (t->n_relays == 0)
		return 0;
	return bl_now() + (int64_t)ceil(first - now);
}

/* ------------------------------------------------------------ sending */

static void push_result(struct bl_transport *t, const struct bl_send_result *res)
{
	if (t->n_done == t->cap_done) {
		t->cap_done = t->cap_done ? 2 * t->cap_done : 16;
		t->done = bl_xrealloc(t->done, t->cap_done * sizeof(*t->done));
	}
	t->done[t->n_done++] = *res;
}

/* An envelope address as libcurl will put it between <>: no control bytes,
 * no angle brackets (they would end the path early or start a command). */
static int address_ok(const char *a)
{
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
	return 1;
}

/* Every line ends in CRLF and there is no lone CR or LF: a bare LF could
 * end the DATA early on some relays ("SMTP smuggling"). */
static int crlf_ok(const char *s, size_t len)
{
	const char *end = s + len, *p = s;
	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!cr && !lf)
			return 1;
		if (!cr || (lf && lf < cr) || cr + 1 == end || cr[1] != '\n')
			return 0;
		p = cr + 2;
	}
	return 1;
}

int bl_transport_submit(struct bl_transport *t, struct bl_transport_msg *m)
{
	if (!m->mail_from || !m->rcpt || !*m->rcpt || !address_ok(m->mail_from) ||
	    !address_ok(m->rcpt) || !m->data || m->len == 0 || !crlf_ok(m->data, m->len))
		return -BL_EINVAL;
	if (bl_transport_slots(t) == 0)
		return -BL_EBUSY;
	double now = bl_monotonic();
	struct bl_relay *r = pick(t, now);
	if (!r)
		return -BL_EBUSY;
	int trial = r->down;

	struct bl_send_result res;
	memset(&res, 0, sizeof(res));
	res.tag = m->tag;
	res.relay = r->url;
	if (r->kind == BL_RELAY_MAILDIR) {
		bl_maildir_deliver(r->path, m, &res);
		free(m->data);
		m->data = NULL;
	} else if (m->smtputf8 && r->smtputf8 == 0) {
		res.outcome = BL_SEND_FAILED;
		res.stage = BL_STAGE_MAIL;
		snprintf(res.reply, sizeof(res.reply),
		         "the relay does not offer SMTPUTF8 (RFC 6531), which this address needs");
		free(m->data);
		m->data = NULL;
		trial = 0; /* says nothing about the relay's health */
	} else {
		int rc = r->own ? bl_smtpc_start(t->smtpc, r, m, trial)
		                : bl_smtp_start(t->smtp, r, m, trial);
		if (rc)
			return rc;
		m->data = NULL;
		if (trial)
			r->trial = 1;
		r->in_flight++;
		t->in_flight++;
		if (t->opts.rate_limit > 0)
			t->tokens -= 1;
		return 0;
	}
	/* Finished at once: report at the next poll. */
	if (trial)
		r->trial = 1;
	r->in_flight++;
	account(t, r, trial, &res);
	t->in_flight++;
	if (t->opts.rate_limit > 0)
		t->tokens -= 1;
	push_result(t, &res);
	return 0;
}

static void on_smtp_done(void *arg, const struct bl_smtp_done *done)
{
	struct bl_transport *t = arg;
	struct bl_relay *r = done->relay;
	if (done->ehlo_seen)
		r->smtputf8 = done->smtputf8;
	account(t, r, done->trial, &done->res);
	push_result(t, &done->res);
}

/* Milliseconds until bl_transport_slots may grow without a result coming
 * in: a token arriving or a back-off ending; -1 for never. */
static int ms_until_change(struct bl_transport *t)
{
	double now = bl_monotonic(), wait = -1;
	if (t->in_flight >= (size_t)t->opts.concurrency)
		return -1;
	int any_up = 0;
	for (size_t i = 0; i < t->n_relays; i++) {
		const struct bl_relay *r = &t->relays[i];
		if (relay_open(r, now))
			any_up = 1;
		else if (!r->trial && (wait < 0 || r->next_try - now < wait))
			wait = r->next_try - now;
	}
	if (any_up) {
		if (t->opts.rate_limit <= 0)
			return 0;
		refill(t, now);
		wait = t->tokens >= 1 ? 0 : (1 - t->tokens) / t->opts.rate_limit;
	}
	return wait < 0 ? -1 : (int)ceil(wait * 1000);
}

/* Do the clients' I/O for up to @wait ms, returning once some message
 * finished. With messages in flight on both clients (relays of both kinds
 * in one list, rare) they take turns in slices of at most 5 ms. */
static int poll_clients(struct bl_transport *t, int wait)
{
	size_t own = bl_smtpc_busy(t->smtpc), curl = bl_smtp_busy(t->smtp);
	if (own > 0 && curl > 0) {
		double end = bl_monotonic() + wait / 1000.0;
		for (;;) {
			int n1 = bl_smtpc_poll(t->smtpc, 0, on_smtp_done, t);
			if (n1 < 0)
				return n1;
			double left = end - bl_monotonic();
			int slice = left > 0.005 ? 5 : left > 0 ? (int)ceil(left * 1000) : 0;
			int n2 = bl_smtp_poll(t->smtp, slice, on_smtp_done, t);
			if (n2 < 0)
				return n2;
			if (n1 + n2 > 0 || bl_monotonic() >= end)
				return n1 + n2;
		}
	}
	if (curl > 0) {
		if (t->smtpc) {
			/* idle connections of our own client: closing, hang-ups */
			int n = bl_smtpc_poll(t->smtpc, 0, on_smtp_done, t);
			if (n < 0)
				return n;
		}
		return bl_smtp_poll(t->smtp, wait, on_smtp_done, t);
	}
	if (t->smtpc)
		return bl_smtpc_poll(t->smtpc, wait, on_smtp_done, t);
	if (wait > 0)
		poll(NULL, 0, wait);
	return 0;
}

int bl_transport_poll(struct bl_transport *t, int timeout_ms, bl_send_result_fn fn, void *arg)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	int wait = t->n_done > 0 ? 0 : timeout_ms;
	/* While slots are free the caller knows it may submit; otherwise wake
	 * up when one frees without a result (a token, a back-off ending). */
	int change = bl_transport_slots(t) > 0 ? -1 : ms_until_change(t);
	if (change >= 0 && change < wait)
		wait = change;
	int rc = poll_clients(t, wait);
	if (rc < 0)
		return rc;
	/* Hand out what was there; results pushed by @fn (a maildir submit
	 * from inside it) wait for the next call. */
	size_t n = t->n_done;
	for (size_t i = 0; i < n; i++) {
		struct bl_send_result res = t->done[i];
		t->in_flight--;
		fn(arg, &res);
	}
	if (t->n_done > n)
		memmove(t->done, t->done + n, (t->n_done - n) * sizeof(*t->done));
	t->n_done -= n;
	return (int)n;
}

int bl_transport_probe(struct bl_transport *t, const char *mail_from, int timeout_ms)
{
	double now = bl_monotonic();
	int usable = 0;
	for (size_t i = 0; i < t->n_relays; i++) {
		struct bl_relay *r = &t->relays[i];
		if (r->down && !r->trial && now >= r->next_try) {
			char why[256];
			int ok = r->kind == BL_RELAY_MAILDIR
			             ? bl_maildir_probe(r->path, why, sizeof(why))
			         : r->own ? bl_smtpc_probe(r, &t->opts, mail_from, timeout_ms, why,
			                                   sizeof(why))
			                  : bl_smtp_probe(r, &t->opts, mail_from, timeout_ms, why,
			                                  sizeof(why));
			if (ok) {
				r->down = 0;
				r->delay = 0;
			} else {
				r->delay = r->delay * 2 > t->opts.backoff_max ? t->opts.backoff_max
				                                              : r->delay * 2;
				r->next_try = bl_monotonic() + r->delay;
			}
		}
		if (!r->down)
			usable = 1;
	}
	return usable;
}

int bl_transport_probe_sender(struct bl_transport *t, const char *mail_from, int timeout_ms)
{
	for (size_t i = 0; i < t->n_relays; i++) {
		struct bl_relay *r = &t->relays[i];
		char why[256];
		if (r->down)
			continue;
		int ok = r->kind == BL_RELAY_MAILDIR ? bl_maildir_probe(r->path, why, sizeof(why))
		         : r->own
		             ? bl_smtpc_probe(r, &t->opts, mail_from, timeout_ms, why, sizeof(why))
		             : bl_smtp_probe(r, &t->opts, mail_from, timeout_ms, why, sizeof(why));
		if (ok)
			return 1;
	}
	return 0;
}
