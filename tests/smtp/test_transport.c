/*
 * The transport (src/send/transport.h) against real SMTP servers on
 * loopback: Postfix's smtp-sink for fault injection (its -f/-r/-Q/-q/-W
 * options reject, defer, 421, hang up or stall at a chosen command) and
 * tests/smtp/capture.py where the test must see what arrived (byte-exact
 * messages, envelopes, connections, a transcript of every command). Each
 * test starts its own servers on free ports under a fresh directory.
 * Failures print what the transport reported next to what was wanted.
 * Every test that sends over SMTP runs twice, named "[own]" and
 * "[libcurl]": the relays are on 127.0.0.1, which the transport gives to
 * bulletin's own client (smtpc.c), and the second run forces libcurl
 * (opts.client); where the two differ by design (RSET instead of a new
 * connection, no STARTTLS on loopback) the test says so.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer.h"
#include "send/transport.h"
#include "util/buf.h"
#include "util/time.h"
#include "util/xalloc.h"

#define MAX_MSGS 256

static const char *const outcome_names[] = {"ACCEPTED", "DEFERRED", "FAILED", "SYSTEMIC",
                                            "CONNECTION"};
static const char *const stage_names[] = {"CONNECT", "GREETING", "EHLO", "STARTTLS", "AUTH",
                                          "MAIL",    "RCPT",     "DATA", "DATA_END"};

/* ------------------------------------------------------------ helpers */

static char workdir[64];

/* The client under test, from the test's initial state (main). */
static enum bl_smtp_client client;
static const enum bl_smtp_client client_own = BL_SMTP_CLIENT_AUTO;
static const enum bl_smtp_client client_curl = BL_SMTP_CLIENT_LIBCURL;

/* Our own client: relays on loopback with STARTTLS not required. */
static int own(void)
{
	return client == BL_SMTP_CLIENT_AUTO;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int setup(void **state)
{
	client = *state ? *(const enum bl_smtp_client *)*state : BL_SMTP_CLIENT_AUTO;
	snprintf(workdir, sizeof(workdir), "/tmp/bl-transport-XXXXXX");
	if (!mkdtemp(workdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	peer_stop_all(); /* the servers of a test that failed half-way */
	nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A path under this test's directory. */
static const char *path_in(const char *name)
{
	static char p[8][256];
	static int next;
	char *out = p[next++ % 8];
	snprintf(out, 256, "%s/%s", workdir, name);
	return out;
}

static struct bl_transport_opts test_opts(int concurrency)
{
	struct bl_transport_opts o;
	bl_transport_opts_init(&o);
	o.concurrency = concurrency;
	o.timeout = 10;
	o.backoff_min = 1;
	o.backoff_max = 2;
	o.helo = "test.bulletin.example";
	o.client = client;
	return o;
}

static struct bl_transport *open_transport(const char *urls, const struct bl_transport_opts *o)
{
	struct bl_transport *t = NULL;
	struct bl_diag d = {""};
	int rc = bl_transport_create(urls, o, &t, &d);
	if (rc != 0)
		fail_msg("bl_transport_create(%s): %d %s", urls, rc, d.msg);
	return t;
}

static char *relay_url(const char *scheme, int port)
{
	static char u[8][128];
	static int next;
	char *out = u[next++ % 8];
	snprintf(out, 128, "%s://127.0.0.1:%d", scheme, port);
	return out;
}

/* One message to send and what came back. */
struct msg {
	char rcpt[128];
	const char *from;
	char *data;
	size_t len;
	int smtputf8;
	int done;
	struct bl_send_result res;
	char relay[128]; /* res.relay, which lives only as long as the transport */
};

struct batch {
	struct msg m[MAX_MSGS];
	size_t n;
};

/* Headers and a body of @lines lines, unique per recipient; CRLF. */
static char *message_for(const char *rcpt, int lines, size_t *len)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b,
	            "From: List <list@bulletin.example>\r\nTo: <%s>\r\nSubject: hello %s\r\n"
	            "Message-ID: <%s.test@bulletin.example>\r\n\r\n",
	            rcpt, rcpt, rcpt);
	for (int i = 0; i < lines; i++)
		bl_buf_addf(&b, "Line %d for %s.\r\n", i, rcpt);
	*len = b.len;
	return bl_buf_take(&b);
}

static void add(struct batch *b, const char *rcpt)
{
	struct msg *m = &b->m[b->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->rcpt, sizeof(m->rcpt), "%s", rcpt);
	m->from = "bounces+test@bulletin.example";
	m->data = message_for(rcpt, 5, &m->len);
}

static void collect(void *arg, const struct bl_send_result *r)
{
	struct batch *b = arg;
	size_t i = (size_t)(uintptr_t)r->tag;
	if (i >= b->n || b->m[i].done)
		fail_msg("result for unknown or finished message %zu", i);
	b->m[i].done = 1;
	b->m[i].res = *r;
	snprintf(b->m[i].relay, sizeof(b->m[i].relay), "%s", r->relay ? r->relay : "(null)");
	b->m[i].res.relay = b->m[i].relay;
}

/* Submit the batch's messages as slots allow (in order) and poll until
 * each has its result; fails the test after @limit seconds. The data of a
 * message is freed by the transport; a copy stays for comparisons. */
static void send_all(struct bl_transport *t, struct batch *b, double limit)
{
	size_t next = 0, done = 0;
	double end = bl_monotonic() + limit;
	while (done < b->n) {
		while (next < b->n && bl_transport_slots(t) > 0) {
			struct msg *m = &b->m[next];
			struct bl_transport_msg tm = {
			    .mail_from = m->from,
			    .rcpt = m->rcpt,
			    .data = bl_xstrndup(m->data, m->len),
			    .len = m->len,
			    .smtputf8 = m->smtputf8,
			    .tag = (void *)(uintptr_t)next,
			};
			int rc = bl_transport_submit(t, &tm);
			if (rc != 0)
				fail_msg("submit %zu: got %d, want 0", next, rc);
			assert_null(tm.data);
			next++;
		}
		int n = bl_transport_poll(t, 200, collect, b);
		if (n < 0)
			fail_msg("poll: got %d", n);
		done += (size_t)n;
		if (bl_monotonic() > end)
			fail_msg("only %zu of %zu results after %.0f s (submitted %zu)", done, b->n,
			         limit, next);
	}
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->m[i].data);
	b->n = 0;
}

static void expect(const struct msg *m, enum bl_send_outcome outcome, enum bl_smtp_stage stage,
                   int code, int in_doubt)
{
	const struct bl_send_result *r = &m->res;
	if (!m->done)
		fail_msg("%s: no result", m->rcpt);
	if (r->outcome != outcome || r->stage != stage || r->code != code ||
	    r->in_doubt != in_doubt)
		fail_msg("%s: got %s at %s, code %d, in_doubt %d (\"%s\" from %s); want %s at %s, "
		         "code %d, in_doubt %d",
		         m->rcpt, outcome_names[r->outcome], stage_names[r->stage], r->code,
		         r->in_doubt, r->reply, r->relay ? r->relay : "?", outcome_names[outcome],
		         stage_names[stage], code, in_doubt);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct bl_buf b;
	bl_buf_init(&b, 0);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return bl_buf_take(&b);
}

/* The capture server's record @seq: its envelope (JSON) and message. */
static json_t *captured(const struct peer *p, int seq, char **eml, size_t *eml_len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%06d.json", p->dir, seq);
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);
	if (j && eml) {
		snprintf(path, sizeof(path), "%s/%06d.eml", p->dir, seq);
		*eml = slurp(path, eml_len);
	}
	return j;
}

/* Replays capture.py's transcript: counts connections and the MAIL
 * commands sent while a transaction was open on their connection (what
 * Postfix answers with 503 "nested MAIL command"). A transaction opens with
 * a 2xx to MAIL and ends at RSET, at the reply after DATA's 354, or with
 * the connection. */
static void transcript_check(const struct peer *p, int *sessions, int *nested)
{
	enum { NONE, MAIL, RSET, DATA, DATA_END, OTHER };
	static int in_tx[4096], pending[4096];
	memset(in_tx, 0, sizeof(in_tx));
	memset(pending, 0, sizeof(pending));
	*sessions = *nested = 0;
	FILE *f = fopen(p->transcript, "r");
	assert_non_null(f);
	char line[2048];
	while (fgets(line, sizeof(line), f)) {
		int s;
		char dir;
		int off;
		if (sscanf(line, "%d %c %n", &s, &dir, &off) != 2 || s < 0 || s >= 4096)
			continue;
		const char *rest = line + off;
		if (dir == '*') {
			if (strncmp(rest, "connect", 7) == 0)
				(*sessions)++;
			in_tx[s] = 0;
			pending[s] = NONE;
		} else if (dir == '>') {
			if (strncasecmp(rest, "MAIL", 4) == 0) {
				if (in_tx[s])
					(*nested)++;
				pending[s] = MAIL;
			} else if (strncasecmp(rest, "RSET", 4) == 0) {
				pending[s] = RSET;
			} else if (strncasecmp(rest, "DATA", 4) == 0) {
				pending[s] = DATA;
			} else {
				pending[s] = OTHER;
			}
		} else if (dir == '<' && strlen(rest) >= 4 && rest[3] != '-') {
			int code = atoi(rest);
			if (pending[s] == MAIL && code / 100 == 2)
				in_tx[s] = 1;
			else if (pending[s] == RSET)
				in_tx[s] = 0;
			else if (pending[s] == DATA_END)
				in_tx[s] = 0;
			pending[s] = pending[s] == DATA && code == 354 ? DATA_END : NONE;
		}
	}
	fclose(f);
}

/* ------------------------------------------------------------- tests */

/* Relay URLs and options: what bl_transport_create accepts and refuses. */
static void test_create(void **state)
{
	(void)state;
	static const struct {
		const char *urls;
		int rc;
	} cases[] = {
	    {"smtp://127.0.0.1:2525", 0},
	    {"SMTP://relay.example", 0},
	    {"smtps://relay.example", 0},
	    {"smtp://user:p%2Css@[::1]:587", 0},
	    {"smtp://127.0.0.1:2525/", 0},
	    {"smtp://a.example, smtp://b.example:26", 0},
	    {"smtp://user:p,ss@relay.example, smtp://b.example", 0}, /* a raw ',' in a password */
	    {"maildir:/proc/bl-no,such/md", -BL_EIO}, /* ... or in a path: one item (else EINVAL) */
	    {"smtp://a.example, ftp://b.example", -BL_EINVAL},
	    {"", -BL_EINVAL},
	    {"http://relay.example", -BL_EINVAL},
	    {"relay.example:25", -BL_EINVAL},
	    {"smtp://", -BL_EINVAL},
	    {"smtp://relay.example/helo.example", -BL_EINVAL},
	    {"smtp://relay.example?x=1", -BL_EINVAL},
	    {"smtp://relay.example#frag", -BL_EINVAL},
	    {"smtp://relay.example:99999", -BL_EINVAL},
	    {"smtp://a.example,,smtp://b.example", -BL_EINVAL},
	    {"smtp://a.example,", -BL_EINVAL},
	    {"maildir:", -BL_EINVAL},
	    {"maildir:/proc/bl-no-such/md", -BL_EIO},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_transport *t = NULL;
		struct bl_diag d = {""};
		int rc = bl_transport_create(cases[i].urls, NULL, &t, &d);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": got %d (%s), want %d", cases[i].urls, rc, d.msg,
			         cases[i].rc);
		if (rc == 0)
			assert_int_equal(bl_transport_slots(t), 4);
		else
			assert_true(d.msg[0] != '\0');
		bl_transport_destroy(t);
	}

	static const struct {
		const char *what;
		int concurrency, timeout, bmin, bmax;
		double rate;
		const char *helo;
	} bad[] = {
	    {"concurrency 0", 0, 10, 1, 2, 0, NULL},
	    {"concurrency 1001", 1001, 10, 1, 2, 0, NULL},
	    {"timeout 0", 1, 0, 1, 2, 0, NULL},
	    {"backoff_min 0", 1, 10, 0, 2, 0, NULL},
	    {"backoff_max < min", 1, 10, 5, 2, 0, NULL},
	    {"negative rate", 1, 10, 1, 2, -1, NULL},
	    {"EHLO name with a slash", 1, 10, 1, 2, 0, "a/b"},
	    {"empty EHLO name", 1, 10, 1, 2, 0, ""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bl_transport_opts o = test_opts(bad[i].concurrency);
		o.timeout = bad[i].timeout;
		o.backoff_min = bad[i].bmin;
		o.backoff_max = bad[i].bmax;
		o.rate_limit = bad[i].rate;
		o.helo = bad[i].helo;
		struct bl_transport *t = NULL;
		struct bl_diag d = {""};
		int rc = bl_transport_create("smtp://127.0.0.1:25", &o, &t, &d);
		if (rc != -BL_EINVAL)
			fail_msg("%s: got %d, want -BL_EINVAL", bad[i].what, rc);
		assert_null(t);
	}
}

/* Slots, -BL_EBUSY, and messages the transport must refuse. */
static void test_submit_rules(void **state)
{
	(void)state;
	struct peer sink;
	assert_int_equal(peer_sink(&sink, (const char *const[]){"-w", "1", NULL}, 0), 0);
	struct bl_transport_opts o = test_opts(3);
	struct bl_transport *t = open_transport(relay_url("smtp", sink.port), &o);

	static const struct {
		const char *from, *rcpt, *data;
	} refused[] = {
	    {"a@x.example", "b@x.example\r\nRCPT TO:<c@x.example>", "x\r\n"},
	    {"a@x.example>", "b@x.example", "x\r\n"},
	    {"a@x.example", "<b@x.example", "x\r\n"},
	    {"a@x.example", "", "x\r\n"},
	    {"a@x.example", "b@x.example", ""},
	    {"a@x.example", "b@x.example", "bare\nLF\r\n"},
	    {"a@x.example", "b@x.example", "bare\rCR\r\n"},
	    {"a@x.example", "b@x.example", "ends in CR\r"},
	    {"a@x.example", "b@x.example", "smuggle\r\n\n.\r\n"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *data = bl_xstrdup(refused[i].data);
		struct bl_transport_msg m = {.mail_from = refused[i].from,
		                             .rcpt = refused[i].rcpt,
		                             .data = data,
		                             .len = strlen(data)};
		int rc = bl_transport_submit(t, &m);
		if (rc != -BL_EINVAL)
			fail_msg("case %zu: got %d, want -BL_EINVAL", i, rc);
		assert_ptr_equal(m.data, data);
		free(data);
	}

	struct batch *b = bl_xcalloc(1, sizeof(*b));
	assert_int_equal(bl_transport_slots(t), 3);
	for (int i = 0; i < 3; i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "r%d@x.example", i);
		add(b, rcpt);
		struct bl_transport_msg m = {.mail_from = "", /* the null sender */
		                             .rcpt = b->m[i].rcpt,
		                             .data = bl_xstrndup(b->m[i].data, b->m[i].len),
		                             .len = b->m[i].len,
		                             .tag = (void *)(uintptr_t)i};
		assert_int_equal(bl_transport_submit(t, &m), 0);
	}
	assert_int_equal(bl_transport_slots(t), 0);
	assert_int_equal(bl_transport_in_flight(t), 3);
	char *data = bl_xstrdup("x\r\n");
	struct bl_transport_msg extra = {
	    .mail_from = "a@x.example", .rcpt = "b@x.example", .data = data, .len = 3};
	assert_int_equal(bl_transport_submit(t, &extra), -BL_EBUSY);
	assert_ptr_equal(extra.data, data);
	free(data);
	size_t done = 0;
	double end = bl_monotonic() + 30;
	while (done < 3 && bl_monotonic() < end)
		done += (size_t)bl_transport_poll(t, 500, collect, b);
	assert_int_equal(done, 3);
	for (int i = 0; i < 3; i++)
		expect(&b->m[i], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	assert_int_equal(bl_transport_slots(t), 3);
	assert_int_equal(bl_transport_in_flight(t), 0);
	assert_int_equal(bl_transport_next_probe(t), 0);
	bl_transport_destroy(t);
	batch_free(b);
	free(b);
	peer_stop(&sink);
}

/* 100 messages over 4 connections: all accepted with the relay's queue id,
 * one recipient per transaction, bytes as sent, connections reused. */
static void test_hundred_messages(void **state)
{
	(void)state;
	struct peer cap;
	assert_int_equal(peer_capture(&cap, path_in("cap"), NULL, 0), 0);
	struct bl_transport_opts o = test_opts(4);
	struct bl_transport *t = open_transport(relay_url("smtp", cap.port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	for (int i = 0; i < 100; i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "reader%03d@example.org", i);
		add(b, rcpt);
	}
	send_all(t, b, 60);
	bl_transport_destroy(t);
	peer_stop(&cap);

	for (size_t i = 0; i < b->n; i++) {
		expect(&b->m[i], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
		assert_true(b->m[i].res.queue_id[0] == 'C');
		assert_string_equal(b->m[i].res.relay, relay_url("smtp", cap.port));
	}
	int max_session = 0;
	for (int seq = 1; seq <= 100; seq++) {
		char *eml = NULL;
		size_t len = 0;
		json_t *j = captured(&cap, seq, &eml, &len);
		if (!j)
			fail_msg("capture %d missing", seq);
		json_t *rcpts = json_object_get(j, "rcpt_tos");
		assert_int_equal(json_array_size(rcpts), 1);
		const char *rcpt = json_string_value(json_array_get(rcpts, 0));
		int idx = atoi(rcpt + 6);
		assert_true(idx >= 0 && idx < 100);
		const struct msg *m = &b->m[idx];
		assert_string_equal(rcpt, m->rcpt);
		assert_string_equal(json_string_value(json_object_get(j, "mail_from")), m->from);
		assert_string_equal(json_string_value(json_object_get(j, "queue_id")),
		                    m->res.queue_id);
		assert_string_equal(json_string_value(json_object_get(j, "helo")),
		                    "test.bulletin.example");
		if (len != m->len || memcmp(eml, m->data, len) != 0)
			fail_msg("message %d: %zu bytes arrived, %zu sent, or they differ", idx,
			         len, m->len);
		int s = (int)json_integer_value(json_object_get(j, "session"));
		if (s > max_session)
			max_session = s;
		json_decref(j);
		free(eml);
	}
	assert_null(captured(&cap, 101, NULL, NULL));
	int sessions, nested;
	transcript_check(&cap, &sessions, &nested);
	if (sessions > 4 || max_session > 4)
		fail_msg("got %d connections for 100 messages, want at most 4", sessions);
	assert_int_equal(nested, 0);
	batch_free(b);
	free(b);
}

/* Refusals at RCPT and at the end of DATA from the capture server, on one
 * connection slot: the outcome of each, and the next message goes through.
 * After a RCPT failure our client sends RSET and keeps the connection,
 * libcurl ends it with QUIT; after a DATA_END failure the transaction is
 * over and both reuse the connection. */
static void test_refusals_then_next(void **state)
{
	(void)state;
	struct peer cap;
	const char *const args[] = {"--reply-rcpt",
	                            "hard@example.org=550:5.1.1 no such user",
	                            "--reply-rcpt",
	                            "soft@example.org=450",
	                            "--reply-data",
	                            "content@example.org=554",
	                            "--reply-data",
	                            "later@example.org=451",
	                            NULL};
	assert_int_equal(peer_capture(&cap, path_in("cap"), args, 0), 0);
	struct bl_transport_opts o = test_opts(1);
	struct bl_transport *t = open_transport(relay_url("smtp", cap.port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	const char *seq[] = {
	    "first@example.org",         "hard@example.org",       "after-hard@example.org",
	    "soft@example.org",          "after-soft@example.org", "content@example.org",
	    "after-content@example.org", "later@example.org",      "after-later@example.org"};
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		add(b, seq[i]);
	send_all(t, b, 60);
	bl_transport_destroy(t);
	peer_stop(&cap);

	expect(&b->m[0], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	expect(&b->m[1], BL_SEND_FAILED, BL_STAGE_RCPT, 550, 0);
	assert_string_equal(b->m[1].res.reply, "550 5.1.1 no such user");
	expect(&b->m[2], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	expect(&b->m[3], BL_SEND_DEFERRED, BL_STAGE_RCPT, 450, 0);
	expect(&b->m[4], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	expect(&b->m[5], BL_SEND_FAILED, BL_STAGE_DATA_END, 554, 0);
	expect(&b->m[6], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	expect(&b->m[7], BL_SEND_DEFERRED, BL_STAGE_DATA_END, 451, 0);
	expect(&b->m[8], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	for (size_t i = 0; i < b->n; i++)
		if (b->m[i].res.outcome != BL_SEND_ACCEPTED)
			assert_string_equal(b->m[i].res.queue_id, "");

	/* No MAIL inside an open transaction. Our client: one connection,
	 * an RSET after each RCPT failure (2). libcurl: a new connection
	 * after each RCPT failure, the same one after the DATA_END failures. */
	int sessions, nested;
	transcript_check(&cap, &sessions, &nested);
	assert_int_equal(nested, 0);
	size_t len;
	char *tr = slurp(cap.transcript, &len);
	assert_non_null(tr);
	int rsets = 0;
	for (const char *p = tr; (p = strstr(p, "> RSET")); p++)
		rsets++;
	free(tr);
	if (sessions != (own() ? 1 : 3) || rsets != (own() ? 2 : 0))
		fail_msg("%d connections and %d RSETs, want %d and %d", sessions, rsets,
		         own() ? 1 : 3, own() ? 2 : 0);
	batch_free(b);
	free(b);
}

/* smtp-sink's faults, one per row: what the transport reports, and whether
 * the relay is then backing off (connection-level outcomes only). */
static void test_faults(void **state)
{
	(void)state;
	static const struct {
		const char *args[6];
		enum bl_send_outcome outcome;
		enum bl_smtp_stage stage;
		int code, in_doubt;
		const char *reply; /* prefix; NULL: any */
	} cases[] = {
	    {{"-f", "MAIL"}, BL_SEND_SYSTEMIC, BL_STAGE_MAIL, 500, 0, "500 5.3.0"},
	    {{"-B", "553 5.7.1 sender rejected", "-f", "MAIL"},
	     BL_SEND_SYSTEMIC,
	     BL_STAGE_MAIL,
	     553,
	     0,
	     "553 5.7.1 sender rejected"},
	    {{"-r", "MAIL"}, BL_SEND_CONNECTION, BL_STAGE_MAIL, 450, 0, "450 "},
	    {{"-f", "RCPT"}, BL_SEND_FAILED, BL_STAGE_RCPT, 500, 0, "500 "},
	    {{"-r", "RCPT"}, BL_SEND_DEFERRED, BL_STAGE_RCPT, 450, 0, "450 "},
	    {{"-f", "DATA"}, BL_SEND_FAILED, BL_STAGE_DATA, 500, 0, "500 "},
	    {{"-r", "DATA"}, BL_SEND_DEFERRED, BL_STAGE_DATA, 450, 0, "450 "},
	    {{"-f", "."}, BL_SEND_FAILED, BL_STAGE_DATA_END, 500, 0, "500 "},
	    {{"-r", "."}, BL_SEND_DEFERRED, BL_STAGE_DATA_END, 450, 0, "450 "},
	    {{"-Q", "CONNECT"}, BL_SEND_CONNECTION, BL_STAGE_GREETING, 421, 0, "421 "},
	    {{"-f", "CONNECT"}, BL_SEND_CONNECTION, BL_STAGE_GREETING, 500, 0, "500 "},
	    {{"-Q", "MAIL"}, BL_SEND_CONNECTION, BL_STAGE_MAIL, 421, 0, "421 "},
	    {{"-Q", "RCPT"}, BL_SEND_CONNECTION, BL_STAGE_RCPT, 421, 0, "421 "},
	    {{"-Q", "."}, BL_SEND_CONNECTION, BL_STAGE_DATA_END, 421, 0, "421 "},
	    {{"-q", "RCPT"}, BL_SEND_CONNECTION, BL_STAGE_RCPT, 0, 0, NULL},
	    {{"-q", "DATA"}, BL_SEND_CONNECTION, BL_STAGE_DATA, 0, 0, NULL},
	    /* gone after the whole message: it may have been delivered */
	    {{"-q", "."}, BL_SEND_CONNECTION, BL_STAGE_DATA_END, 0, 1, NULL},
	    /* no reply within the timeout (2 s here); -p: without PIPELINING,
	     * since smtp-sink answers the commands after a delayed one first */
	    {{"-p", "-W", "RCPT:5"}, BL_SEND_CONNECTION, BL_STAGE_RCPT, 0, 0, NULL},
	    {{"-W", ".:5"}, BL_SEND_CONNECTION, BL_STAGE_DATA_END, 0, 1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer sink;
		assert_int_equal(peer_sink(&sink, cases[i].args, 0), 0);
		struct bl_transport_opts o = test_opts(2);
		o.timeout = 2;
		o.backoff_min = 30;
		o.backoff_max = 60;
		struct bl_transport *t = open_transport(relay_url("smtp", sink.port), &o);
		struct batch *b = bl_xcalloc(1, sizeof(*b));
		add(b, "reader@example.org");
		send_all(t, b, 30);
		char args[128] = "";
		for (size_t k = 0, at = 0; cases[i].args[k] && at < sizeof(args); k++)
			at += (size_t)snprintf(args + at, sizeof(args) - at, "%s%s", k ? " " : "",
			                       cases[i].args[k]);
		print_message("# case %zu (%s): %s at %s, %d \"%s\"\n", i, args,
		              outcome_names[b->m[0].res.outcome], stage_names[b->m[0].res.stage],
		              b->m[0].res.code, b->m[0].res.reply);
		expect(&b->m[0], cases[i].outcome, cases[i].stage, cases[i].code,
		       cases[i].in_doubt);
		if (cases[i].reply &&
		    strncmp(b->m[0].res.reply, cases[i].reply, strlen(cases[i].reply)) != 0)
			fail_msg("case %zu: reply \"%s\", want it to start \"%s\"", i,
			         b->m[0].res.reply, cases[i].reply);
		assert_true(b->m[0].res.reply[0] != '\0');
		int64_t probe = bl_transport_next_probe(t);
		if (cases[i].outcome == BL_SEND_CONNECTION) {
			/* the only relay is backing off: nothing may be sent */
			assert_int_equal(bl_transport_slots(t), 0);
			assert_true(probe >= bl_now() + 25 && probe <= bl_now() + 31);
		} else {
			assert_int_equal(bl_transport_slots(t), 2);
			assert_int_equal(probe, 0);
		}
		bl_transport_destroy(t);
		batch_free(b);
		free(b);
		peer_stop(&sink);
	}
}

/* A relay with nothing listening fails over to the second relay; when its
 * back-off is over, one message tries it again; once it is back, traffic
 * returns to it. */
static void test_failover(void **state)
{
	(void)state;
	int dead = peer_free_port();
	struct peer live;
	assert_int_equal(peer_capture(&live, path_in("live"), NULL, 0), 0);
	char urls[256];
	snprintf(urls, sizeof(urls), "%s,%s", relay_url("smtp", dead),
	         relay_url("smtp", live.port));
	struct bl_transport_opts o = test_opts(2);
	o.backoff_min = 2;
	o.backoff_max = 3;
	struct bl_transport *t = open_transport(urls, &o);

	struct batch *b = bl_xcalloc(1, sizeof(*b));
	add(b, "first@example.org");
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_CONNECTION, BL_STAGE_CONNECT, 0, 0);
	assert_string_equal(b->m[0].res.relay, relay_url("smtp", dead));
	assert_int_equal(bl_transport_slots(t), 2); /* the second relay is fine */
	assert_int_equal(bl_transport_next_probe(t), 0);
	batch_free(b);

	for (int i = 0; i < 5; i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "while-down%d@example.org", i);
		add(b, rcpt);
	}
	send_all(t, b, 30);
	for (size_t i = 0; i < b->n; i++) {
		expect(&b->m[i], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
		assert_string_equal(b->m[i].res.relay, relay_url("smtp", live.port));
	}
	batch_free(b);

	/* After 2 s one message tries the first relay, still dead: 3 s more. */
	sleep(3);
	add(b, "trial@example.org");
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_CONNECTION, BL_STAGE_CONNECT, 0, 0);
	assert_string_equal(b->m[0].res.relay, relay_url("smtp", dead));
	batch_free(b);

	/* It comes back; after its back-off the next message goes there again. */
	struct peer back;
	assert_int_equal(peer_capture(&back, path_in("back"), NULL, dead), 0);
	add(b, "still-second@example.org");
	send_all(t, b, 30);
	assert_string_equal(b->m[0].res.relay, relay_url("smtp", live.port));
	batch_free(b);
	sleep(4);
	add(b, "trial-back@example.org"); /* alone: the trial */
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	assert_string_equal(b->m[0].res.relay, relay_url("smtp", dead));
	batch_free(b);
	for (int i = 0; i < 4; i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "back%d@example.org", i);
		add(b, rcpt);
	}
	send_all(t, b, 30);
	for (size_t i = 0; i < b->n; i++) {
		expect(&b->m[i], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
		assert_string_equal(b->m[i].res.relay, relay_url("smtp", dead));
	}
	bl_transport_destroy(t);
	batch_free(b);
	free(b);
	peer_stop(&live);
	peer_stop(&back);
}

/* The only relay is down: slots 0, next_probe says when, probes fail and
 * double the wait until the relay answers again. */
static void test_probe(void **state)
{
	(void)state;
	int port = peer_free_port();
	struct bl_transport_opts o = test_opts(3);
	o.backoff_min = 1;
	o.backoff_max = 4;
	struct bl_transport *t = open_transport(relay_url("smtp", port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	add(b, "first@example.org");
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_CONNECTION, BL_STAGE_CONNECT, 0, 0);
	assert_int_equal(bl_transport_slots(t), 0);
	assert_int_equal(bl_transport_in_flight(t), 0);
	int64_t at = bl_transport_next_probe(t);
	assert_true(at >= bl_now() && at <= bl_now() + 1);

	/* Not due yet: no probe, still down. */
	assert_int_equal(bl_transport_probe(t, "probe@bulletin.example", 2000), 0);
	sleep(2);
	/* Due: probed, still dead, the wait doubles to 2 s. */
	assert_int_equal(bl_transport_probe(t, "probe@bulletin.example", 2000), 0);
	at = bl_transport_next_probe(t);
	assert_true(at >= bl_now() + 1 && at <= bl_now() + 2);
	assert_int_equal(bl_transport_slots(t), 0);

	struct peer cap;
	assert_int_equal(peer_capture(&cap, path_in("cap"), NULL, port), 0);
	sleep(3);
	assert_int_equal(bl_transport_slots(t), 1); /* due: one message may try it */
	assert_int_equal(bl_transport_probe(t, "probe@bulletin.example", 5000), 1);
	assert_int_equal(bl_transport_slots(t), 3);
	assert_int_equal(bl_transport_next_probe(t), 0);
	batch_free(b);
	add(b, "after@example.org");
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	bl_transport_destroy(t);
	peer_stop(&cap);

	/* The probe said MAIL FROM and RSET and delivered nothing. */
	int sessions, nested;
	transcript_check(&cap, &sessions, &nested);
	assert_int_equal(nested, 0);
	char *tr;
	size_t len;
	tr = slurp(cap.transcript, &len);
	assert_non_null(strstr(tr, "> MAIL FROM:<probe@bulletin.example>"));
	assert_non_null(strstr(tr, "> RSET"));
	free(tr);
	json_t *j = captured(&cap, 1, NULL, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "rcpt_tos"), 0)),
	                    "after@example.org");
	json_decref(j);
	assert_null(captured(&cap, 2, NULL, NULL));
	batch_free(b);
	free(b);
}

/* Lines starting with "." arrive intact (libcurl stuffs them, RFC 5321
 * 4.5.2), also across libcurl's 64 KiB upload buffers, a lone "." line
 * last, and a message that starts with a dot. */
static void test_dot_stuffing(void **state)
{
	(void)state;
	struct peer cap;
	assert_int_equal(peer_capture(&cap, path_in("cap"), NULL, 0), 0);
	struct bl_transport_opts o = test_opts(1);
	struct bl_transport *t = open_transport(relay_url("smtp", cap.port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));

	struct bl_buf big;
	bl_buf_init(&big, 0);
	bl_buf_adds(&big, "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n...\r\n");
	/* lines of every length 0..199 starting with '.', ~300 KB: the dots
	 * fall on every offset of the upload buffer's boundaries */
	for (int i = 0; big.len < 300000; i++) {
		bl_buf_addc(&big, '.');
		for (int k = 0; k < i % 200; k++)
			bl_buf_addc(&big, (char)('a' + k % 26));
		bl_buf_adds(&big, i % 7 ? "\r\n" : "\r\n\r\n");
	}
	bl_buf_adds(&big, "the end\r\n.\r\n");
	const char *bodies[] = {
	    bl_buf_str(&big),
	    ".starts with a dot\r\n\r\nbody\r\n",
	    "Subject: x\r\n\r\n.\r\n",
	    "Subject: y\r\n\r\nno final dot.\r\n..\r\n",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "dots%zu@example.org", i);
		add(b, rcpt);
		free(b->m[i].data);
		b->m[i].data = bl_xstrdup(bodies[i]);
		b->m[i].len = strlen(bodies[i]);
	}
	bl_buf_finish(&big);
	send_all(t, b, 60);
	bl_transport_destroy(t);
	peer_stop(&cap);
	for (size_t i = 0; i < b->n; i++) {
		expect(&b->m[i], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
		char *eml = NULL;
		size_t len = 0;
		json_t *j = captured(&cap, (int)i + 1, &eml, &len);
		assert_non_null(j);
		if (len != b->m[i].len || memcmp(eml, b->m[i].data, len) != 0) {
			size_t k = 0;
			while (k < len && k < b->m[i].len && eml[k] == b->m[i].data[k])
				k++;
			fail_msg(
			    "message %zu: %zu bytes arrived, %zu sent; first difference at %zu", i,
			    len, b->m[i].len, k);
		}
		json_decref(j);
		free(eml);
	}
	batch_free(b);
	free(b);
}

/* maildir: results at the next poll, queue id = file name in new/, the file
 * is the envelope lines plus the message byte for byte, nothing in tmp/;
 * a failed rename leaves nothing behind. */
static void test_maildir(void **state)
{
	(void)state;
	const char *md = path_in("md");
	char url[300];
	snprintf(url, sizeof(url), "maildir:%s", md);
	struct bl_transport_opts o = test_opts(2);
	struct bl_transport *t = open_transport(url, &o);
	const char *sub[] = {"tmp", "new", "cur"};
	for (int i = 0; i < 3; i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", md, sub[i]);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	add(b, "one@example.org");
	add(b, "two@example.org");
	add(b, "three@example.org");
	free(b->m[2].data);
	b->m[2].data = bl_xstrdup("Subject: dot\r\n\r\n.\r\n\r\nbinary \x01\xff\r\n");
	b->m[2].len = strlen(b->m[2].data);
	send_all(t, b, 10);
	for (size_t i = 0; i < b->n; i++) {
		const struct msg *m = &b->m[i];
		expect(m, BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 0, 0);
		assert_string_equal(m->res.relay, url);
		char p[512], want_head[300];
		snprintf(p, sizeof(p), "%s/new/%s", md, m->res.queue_id);
		size_t len;
		char *file = slurp(p, &len);
		if (!file)
			fail_msg("%s: no file %s", m->rcpt, p);
		int hl = snprintf(want_head, sizeof(want_head),
		                  "Return-Path: <%s>\r\nDelivered-To: <%s>\r\n", m->from, m->rcpt);
		if (len != (size_t)hl + m->len || memcmp(file, want_head, (size_t)hl) != 0 ||
		    memcmp(file + hl, m->data, m->len) != 0)
			fail_msg("%s: the file differs from the message (%zu bytes, want %zu)",
			         m->rcpt, len, (size_t)hl + m->len);
		free(file);
	}
	assert_true(strcmp(b->m[0].res.queue_id, b->m[1].res.queue_id) != 0);
	char tmpd[512];
	snprintf(tmpd, sizeof(tmpd), "rmdir %s/tmp 2>/dev/null", md);
	assert_int_equal(system(tmpd), 0); /* empty */
	snprintf(tmpd, sizeof(tmpd), "%s/tmp", md);
	assert_int_equal(mkdir(tmpd, 0700), 0);
	batch_free(b);

	/* new/ replaced by a file: the rename fails, tmp/ stays empty. */
	char newd[512];
	snprintf(newd, sizeof(newd), "rm -rf %s/new && touch %s/new", md, md);
	assert_int_equal(system(newd), 0);
	add(b, "lost@example.org");
	send_all(t, b, 10);
	expect(&b->m[0], BL_SEND_CONNECTION, BL_STAGE_DATA_END, 0, 0);
	assert_non_null(strstr(b->m[0].res.reply, "rename"));
	snprintf(tmpd, sizeof(tmpd), "rmdir %s/tmp 2>/dev/null", md);
	assert_int_equal(system(tmpd), 0);
	assert_int_equal(bl_transport_slots(t), 0); /* the maildir backs off too */
	bl_transport_destroy(t);
	batch_free(b);
	free(b);
}

/* rate_limit 20 messages/s: 30 messages take at least (30 - burst 2)/20 s. */
static void test_rate_limit(void **state)
{
	(void)state;
	struct peer sink;
	assert_int_equal(peer_sink(&sink, NULL, 0), 0);
	struct bl_transport_opts o = test_opts(4);
	o.rate_limit = 20;
	struct bl_transport *t = open_transport(relay_url("smtp", sink.port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	for (int i = 0; i < 30; i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "rated%d@example.org", i);
		add(b, rcpt);
	}
	double t0 = bl_monotonic();
	send_all(t, b, 30);
	double secs = bl_monotonic() - t0;
	for (size_t i = 0; i < b->n; i++)
		expect(&b->m[i], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	print_message("# 30 messages at 20/s took %.2f s\n", secs);
	if (secs < 28.0 / 20 * 0.95 || secs > 10)
		fail_msg("30 messages at 20/s took %.2f s, want 1.33..10 s", secs);
	bl_transport_destroy(t);
	batch_free(b);
	free(b);
	peer_stop(&sink);
}

/* Writes a throwaway self-signed certificate for 127.0.0.1; 0 on success. */
static int make_cert(const char *cert, const char *key)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
	         "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
	         key, cert);
	return system(cmd);
}

/* STARTTLS required/opportunistic/off against relays with and without it.
 * The relays are on loopback, where the transport uses no STARTTLS unless
 * it is required (transport.h): in the [own] run, opportunistic is plain
 * (and goes through our client), required still goes through libcurl. */
static void test_starttls(void **state)
{
	(void)state;
	char cert[300], key[300];
	snprintf(cert, sizeof(cert), "%s", path_in("cert.pem"));
	snprintf(key, sizeof(key), "%s", path_in("key.pem"));
	assert_int_equal(make_cert(cert, key), 0);
	struct peer tls, plain;
	const char *const targs[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	assert_int_equal(peer_capture(&tls, path_in("tls"), targs, 0), 0);
	assert_int_equal(peer_capture(&plain, path_in("plain"), NULL, 0), 0);

	static const struct {
		int tls_relay;
		enum bl_starttls mode;
		int verify;
		enum bl_send_outcome outcome;
		enum bl_smtp_stage stage;
		int encrypted, encrypted_own; /* the capture says tls: libcurl, [own] */
	} cases[] = {
	    {1, BL_STARTTLS_REQUIRED, 0, BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 1, 1},
	    {1, BL_STARTTLS_OPPORTUNISTIC, 0, BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 1, 0},
	    {1, BL_STARTTLS_OFF, 0, BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 0, 0},
	    /* self-signed: verification fails, a connection-level problem */
	    {1, BL_STARTTLS_REQUIRED, 1, BL_SEND_CONNECTION, BL_STAGE_STARTTLS, 0, 0},
	    {0, BL_STARTTLS_REQUIRED, 0, BL_SEND_SYSTEMIC, BL_STAGE_STARTTLS, 0, 0},
	    {0, BL_STARTTLS_OPPORTUNISTIC, 1, BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 0, 0},
	};
	int seq_tls = 0, seq_plain = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_transport_opts o = test_opts(1);
		o.starttls = cases[i].mode;
		o.tls_verify = cases[i].verify;
		struct peer *p = cases[i].tls_relay ? &tls : &plain;
		struct bl_transport *t = open_transport(relay_url("smtp", p->port), &o);
		struct batch *b = bl_xcalloc(1, sizeof(*b));
		add(b, "secret@example.org");
		send_all(t, b, 30);
		const struct bl_send_result *r = &b->m[0].res;
		if (r->outcome != cases[i].outcome || r->stage != cases[i].stage)
			fail_msg("case %zu: got %s at %s (\"%s\"), want %s at %s", i,
			         outcome_names[r->outcome], stage_names[r->stage], r->reply,
			         outcome_names[cases[i].outcome], stage_names[cases[i].stage]);
		if (r->outcome == BL_SEND_ACCEPTED) {
			int seq = cases[i].tls_relay ? ++seq_tls : ++seq_plain;
			json_t *j = captured(p, seq, NULL, NULL);
			assert_non_null(j);
			int want = own() ? cases[i].encrypted_own : cases[i].encrypted;
			if (json_is_true(json_object_get(j, "tls")) != want)
				fail_msg("case %zu: tls %d, want %d", i,
				         json_is_true(json_object_get(j, "tls")), want);
			json_decref(j);
		}
		bl_transport_destroy(t);
		batch_free(b);
		free(b);
	}
	peer_stop(&tls);
	peer_stop(&plain);
}

/* AUTH from the URL's userinfo (percent-decoded); a wrong password is
 * systemic; the relay's name in results carries no credentials. libcurl
 * sends credentials only over TLS unless STARTTLS is off. Our client uses
 * no TLS on loopback (transport.h): it sends them in the clear there, and
 * a relay that offers AUTH only after STARTTLS gets none (it answers MAIL
 * with 530). STARTTLS required goes through libcurl in both runs. */
struct auth_want {
	enum bl_send_outcome outcome;
	enum bl_smtp_stage stage;
	int code;
};

static void test_auth(void **state)
{
	(void)state;
	char cert[300], key[300];
	snprintf(cert, sizeof(cert), "%s", path_in("cert.pem"));
	snprintf(key, sizeof(key), "%s", path_in("key.pem"));
	assert_int_equal(make_cert(cert, key), 0);
	struct peer tls, clear;
	const char *const targs[] = {
	    "--auth", "list@bulletin.example:p,a:ss", "--tls-cert", cert, "--tls-key", key, NULL};
	const char *const cargs[] = {"--auth", "list@bulletin.example:p,a:ss", "--auth-cleartext",
	                             NULL};
	assert_int_equal(peer_capture(&tls, path_in("tls"), targs, 0), 0);
	assert_int_equal(peer_capture(&clear, path_in("clear"), cargs, 0), 0);
	static const char good[] = "list%40bulletin.example:p%2Ca%3Ass";
	static const char wrong[] = "list%40bulletin.example:wrong";
	static const struct auth_want accepted = {BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250};
	static const struct auth_want no_auth = {BL_SEND_SYSTEMIC, BL_STAGE_MAIL, 530};
	static const struct auth_want refused = {BL_SEND_SYSTEMIC, BL_STAGE_AUTH, 535};
	static const struct {
		int tls_relay;
		const char *userinfo;
		enum bl_starttls mode;
		struct auth_want curl, own;
	} cases[] = {
	    {1, good, BL_STARTTLS_OPPORTUNISTIC, accepted, no_auth},
	    {1, wrong, BL_STARTTLS_OPPORTUNISTIC, refused, no_auth},
	    /* no credentials: the relay refuses MAIL */
	    {1, NULL, BL_STARTTLS_OPPORTUNISTIC, no_auth, no_auth},
	    /* no STARTTLS offered: libcurl does not send the password */
	    {0,
	     good,
	     BL_STARTTLS_OPPORTUNISTIC,
	     {BL_SEND_SYSTEMIC, BL_STAGE_STARTTLS, 0},
	     accepted},
	    /* unless asked to */
	    {0, good, BL_STARTTLS_OFF, accepted, accepted},
	    {0, wrong, BL_STARTTLS_OFF, refused, refused},
	    {1, good, BL_STARTTLS_REQUIRED, accepted, accepted},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct peer *p = cases[i].tls_relay ? &tls : &clear;
		const struct auth_want *w = own() ? &cases[i].own : &cases[i].curl;
		char url[256];
		if (cases[i].userinfo)
			snprintf(url, sizeof(url), "smtp://%s@127.0.0.1:%d", cases[i].userinfo,
			         p->port);
		else
			snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", p->port);
		struct bl_transport_opts o = test_opts(1);
		o.starttls = cases[i].mode;
		o.tls_verify = 0;
		struct bl_transport *t = open_transport(url, &o);
		struct batch *b = bl_xcalloc(1, sizeof(*b));
		add(b, "reader@example.org");
		send_all(t, b, 30);
		print_message("# case %zu: %s at %s, %d \"%s\"\n", i,
		              outcome_names[b->m[0].res.outcome], stage_names[b->m[0].res.stage],
		              b->m[0].res.code, b->m[0].res.reply);
		expect(&b->m[0], w->outcome, w->stage, w->code, 0);
		assert_string_equal(b->m[0].res.relay, relay_url("smtp", p->port));
		bl_transport_destroy(t);
		batch_free(b);
		free(b);
	}
	peer_stop(&tls);
	peer_stop(&clear);
	/* What arrived: with TLS on the TLS relay, in the clear on the other;
	 * always authenticated. */
	for (int k = 0; k < 2; k++) {
		int n = k ? (own() ? 2 : 1) : (own() ? 1 : 2);
		for (int seq = 1; seq <= n; seq++) {
			json_t *j = captured(k ? &clear : &tls, seq, NULL, NULL);
			if (!j)
				fail_msg("%s relay: message %d of %d missing", k ? "clear" : "TLS",
				         seq, n);
			assert_string_equal(json_string_value(json_object_get(j, "auth")),
			                    "list@bulletin.example");
			assert_int_equal(json_is_true(json_object_get(j, "tls")), !k);
			json_decref(j);
		}
		assert_null(captured(k ? &clear : &tls, n + 1, NULL, NULL));
	}
	/* On the relay without TLS, the first connection (opportunistic) said
	 * AUTH only with our client; the second (STARTTLS off) did with both. */
	size_t len;
	char *tr = slurp(clear.transcript, &len);
	assert_non_null(tr);
	if ((strstr(tr, "\n1 > AUTH") != NULL) != own())
		fail_msg("the first connection to the clear relay %s AUTH",
		         own() ? "lacks" : "has");
	assert_non_null(strstr(tr, "\n2 > AUTH"));
	free(tr);
}

/* An internationalised address goes out with SMTPUTF8 where the relay
 * offers it, and fails (code 0, not systemic) where it does not. */
static void test_smtputf8(void **state)
{
	(void)state;
	struct peer utf8, ascii;
	assert_int_equal(peer_capture(&utf8, path_in("utf8"), NULL, 0), 0);
	assert_int_equal(
	    peer_capture(&ascii, path_in("ascii"), (const char *const[]){"--no-smtputf8", NULL}, 0),
	    0);
	struct bl_transport_opts o = test_opts(1);

	struct bl_transport *t = open_transport(relay_url("smtp", utf8.port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	add(b, "j\xc3\xb6rg@example.org");
	b->m[0].smtputf8 = 1;
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	json_t *j = captured(&utf8, 1, NULL, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "rcpt_tos"), 0)),
	                    "j\xc3\xb6rg@example.org");
	char *opts = json_dumps(json_object_get(j, "mail_options"), 0);
	assert_non_null(opts);
	assert_non_null(strstr(opts, "SMTPUTF8"));
	free(opts);
	json_decref(j);
	bl_transport_destroy(t);
	batch_free(b);

	t = open_transport(relay_url("smtp", ascii.port), &o);
	add(b, "ascii@example.org");
	add(b, "j\xc3\xb6rg@example.org");
	b->m[1].smtputf8 = 1;
	send_all(t, b, 30);
	expect(&b->m[0], BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0);
	expect(&b->m[1], BL_SEND_FAILED, BL_STAGE_MAIL, 0, 0);
	assert_non_null(strstr(b->m[1].res.reply, "SMTPUTF8"));
	assert_int_equal(bl_transport_slots(t), 1); /* the relay is fine */
	bl_transport_destroy(t);
	batch_free(b);
	free(b);
	peer_stop(&utf8);
	peer_stop(&ascii);
}

/* Destroying with messages in flight: no results, nothing leaks, and no
 * message is delivered: neither empty ones (destroyed while waiting for the
 * 354) nor truncated ones (destroyed in the middle of the body). libcurl
 * would end both with "." if the transport let it. */
static void test_destroy_in_flight(void **state)
{
	(void)state;
	struct peer wait354, stall;
	assert_int_equal(peer_capture(&wait354, path_in("wait354"),
	                              (const char *const[]){"--delay", "DATA=3", NULL}, 0),
	                 0);
	assert_int_equal(peer_capture(&stall, path_in("stall"),
	                              (const char *const[]){"--delay", "BODY=3", "--size-limit",
	                                                    "100000000", NULL},
	                              0),
	                 0);
	struct bl_transport_opts o = test_opts(2);
	struct bl_transport *t1 = open_transport(relay_url("smtp", wait354.port), &o);
	struct bl_transport *t2 = open_transport(relay_url("smtp", stall.port), &o);
	struct batch *b = bl_xcalloc(1, sizeof(*b));
	add(b, "empty0@example.org");
	add(b, "empty1@example.org");
	add(b, "truncated@example.org");
	/* 32 MB: more than the loopback socket buffers hold */
	struct bl_buf big;
	bl_buf_init(&big, 0);
	bl_buf_adds(&big, "Subject: big\r\n\r\n");
	while (big.len < (32u << 20))
		bl_buf_adds(&big, "0123456789012345678901234567890123456789012345678901234567890123"
		                  "456789\r\n");
	free(b->m[2].data);
	b->m[2].len = big.len;
	b->m[2].data = bl_buf_take(&big);
	for (size_t i = 0; i < 3; i++) {
		struct bl_transport_msg m = {.mail_from = "a@example.org",
		                             .rcpt = b->m[i].rcpt,
		                             .data = bl_xstrndup(b->m[i].data, b->m[i].len),
		                             .len = b->m[i].len,
		                             .tag = (void *)(uintptr_t)i};
		assert_int_equal(bl_transport_submit(i < 2 ? t1 : t2, &m), 0);
	}
	double end = bl_monotonic() + 1;
	while (bl_monotonic() < end) {
		assert_int_equal(bl_transport_poll(t1, 50, collect, b), 0);
		assert_int_equal(bl_transport_poll(t2, 50, collect, b), 0);
	}
	assert_int_equal(bl_transport_in_flight(t1), 2);
	assert_int_equal(bl_transport_in_flight(t2), 1);
	bl_transport_destroy(t1);
	bl_transport_destroy(t2);
	bl_transport_destroy(NULL);
	for (size_t i = 0; i < 3; i++)
		assert_false(b->m[i].done);
	/* past the servers' delays: they have read whatever was sent */
	sleep(4);
	peer_stop(&wait354);
	peer_stop(&stall);
	json_t *empty = captured(&wait354, 1, NULL, NULL);
	json_t *cut = captured(&stall, 1, NULL, NULL);
	if (empty || cut)
		fail_msg("delivered: %s message (%lld bytes) while waiting for the 354; %s message "
		         "(%lld of %zu bytes) while sending the body",
		         empty ? "a" : "no",
		         (long long)json_integer_value(json_object_get(empty, "size")),
		         cut ? "a" : "no",
		         (long long)json_integer_value(json_object_get(cut, "size")), b->m[2].len);
	batch_free(b);
	free(b);
}

/* Each test that talks SMTP, once per client (see the top). */
/* clang-format off */
#define BOTH(f)                                                        \
	{#f " [own]", f, setup, teardown, (void *)&client_own},        \
	{#f " [libcurl]", f, setup, teardown, (void *)&client_curl}
/* clang-format on */

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create, setup, teardown),
	    BOTH(test_submit_rules),
	    BOTH(test_hundred_messages),
	    BOTH(test_refusals_then_next),
	    BOTH(test_faults),
	    BOTH(test_failover),
	    BOTH(test_probe),
	    BOTH(test_dot_stuffing),
	    cmocka_unit_test_setup_teardown(test_maildir, setup, teardown),
	    BOTH(test_rate_limit),
	    BOTH(test_starttls),
	    BOTH(test_auth),
	    BOTH(test_smtputf8),
	    BOTH(test_destroy_in_flight),
	};
	return cmocka_run_group_tests_name("smtp/transport", tests, NULL, NULL);
}
