/*
 * bulletin's own SMTP client (relay.h), for the relays where TLS is not in
 * play (transport.h says which): non-blocking sockets and poll(2) on one
 * thread. Each connection (struct conn) is a small state machine that
 * carries one message (struct job) at a time and is kept for the next.
 * With PIPELINING (RFC 2920) a message costs two writes and two waits:
 * "MAIL FROM, RCPT TO, DATA" in one write, then, after the 354, the
 * dot-stuffed message and its final "." in one sendmsg (the message
 * itself, not a copy, unless it has lines starting with "."). Replies are
 * read by the pure parser of smtp_reply.h and sorted into outcomes the way
 * smtp.c sorts libcurl's (transport.h). A transaction that fails before
 * its end is closed with RSET (RFC 5321 4.1.1.5): replies still due to
 * pipelined commands are read and dropped first (a 354 among them closes
 * the connection, since no message may follow). 421, a hang-up, a timeout
 * or a protocol error close the connection.
 * Invariants: a job is on exactly one connection; the final "." is written
 * only as the tail of the whole message, so a message cut short (destroy,
 * error) never reaches the relay complete; every started job gets exactly
 * one result unless the client is destroyed first.
 */
#include "send/relay.h"

#include "send/smtp_reply.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IDLE_MAX    30.0  /* seconds an unused connection stays open */
#define STALE_AFTER 1.0   /* idle longer than this (s): peek at it before reuse */
#define QUIT_WAIT   0.5   /* seconds destroy and idle closing wait for 221 */
#define READ_CHUNK  16384 /* bytes per recv */

enum cstate {
	CS_FREE,     /* no socket: the entry is unused */
	CS_CONNECT,  /* connect() in progress */
	CS_GREETING, /* waiting for the 220 */
	CS_EHLO,     /* EHLO sent */
	CS_HELO,     /* EHLO refused with 5xx, HELO sent (RFC 5321 4.1.4) */
	CS_AUTH,     /* AUTH in progress, see auth_step */
	CS_IDLE,     /* ready, no message */
	CS_TX,       /* MAIL/RCPT/DATA sent, replies due (pend) */
	CS_BODY,     /* writing the message and its "." */
	CS_DOT,      /* the whole message went out; waiting for the verdict */
	CS_RSET,     /* RSET sent after a failed transaction */
	CS_PROBE,    /* probe: MAIL FROM (or NOOP) sent, then RSET */
	CS_QUIT,     /* QUIT sent; closes at 221, hang-up or QUIT_WAIT */
};

struct job {
	int active;
	int trial;
	void *tag;
	char *from, *rcpt; /* one allocation (from first); rcpt NULL for a probe */
	char *data;        /* the message as submitted, ours */
	size_t len;
	char *wire; /* the dot-stuffed message with its ".\r\n", when it needs stuffing */
	size_t wire_len;
	int smtputf8;   /* the addresses need SMTPUTF8 */
	int eightbit;   /* the message has bytes >= 0x80: BODY=8BITMIME where offered */
	int probe;      /* bl_smtpc_probe's: MAIL FROM + RSET (NOOP when from is NULL) */
	int probe_step; /* 0: MAIL/NOOP sent, 1: RSET sent */
	int reused;     /* handed a connection that carried earlier messages */
	int replied;    /* a reply to one of its own commands arrived */
	int retried;    /* already moved to a fresh connection once */
	int must_wait;  /* queued behind a draining transaction or an RSET */
};

struct conn {
	int fd;         /* -1 when closed */
	unsigned gen;   /* bumped at each close, to spot reuse during a callback */
	enum cstate st; /* CS_FREE when unused */
	struct bl_relay *relay;
	double deadline; /* bl_monotonic() time the current wait ends; 0: none */
	double idle_since;
	struct addrinfo *ai, *next_ai; /* while connecting: the addresses to try */
	char why[192];                 /* the last connect error */
	int greeted;                   /* EHLO (or HELO) was answered: caps below are known */
	unsigned ext, auth;            /* BL_SMTP_EXT_*, BL_SMTP_AUTH_* from EHLO */
	uint64_t size_max;             /* SIZE limit, bytes; 0: none */
	int auth_step;                 /* 0: AUTH PLAIN sent; 1, 2, 3: AUTH LOGIN, user, password */
	int tx_done;                   /* the job's outcome is out; replies still due are dropped */
	enum bl_smtp_stage pend[3];    /* the commands whose replies are due, in order */
	unsigned npend, head;
	struct bl_buf out; /* commands not written yet, from out_off */
	size_t out_off;
	const char *wa, *wb; /* CS_BODY: the message, then its terminator */
	size_t wa_len, wb_len, w_off;
	struct bl_smtp_reply_parser rd;
	struct job job;
};

struct bl_smtpc {
	const struct bl_transport_opts *opts;
	char helo[256];
	struct conn *conns;
	size_t n_conns;
	size_t busy; /* active jobs */
	struct bl_smtp_done *done;
	size_t n_done, cap_done;
	struct pollfd *pfd;
	size_t *pidx;
	unsigned *pgen;
};

static const char *const stage_names[] = {"connect", "greeting", "EHLO", "STARTTLS",   "AUTH",
                                          "MAIL",    "RCPT",     "DATA", "end of DATA"};

/* ------------------------------------------------------------ helpers */

int bl_relay_loopback(const char *host)
{
	char h[256];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(h))
		return 0;
	memcpy(h, host, n);
	h[n] = '\0';
	if (h[n - 1] == '.')
		h[n - 1] = '\0';
	if (strcasecmp(h, "localhost") == 0)
		return 1;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

static int sockaddr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* RFC 4648 base64 of @n bytes at @p, appended to @b. */
static void add_base64(struct bl_buf *b, const unsigned char *p, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = al[(v >> 18) & 63];
		q[1] = al[(v >> 12) & 63];
		q[2] = i + 1 < n ? al[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? al[v & 63] : '=';
		bl_buf_add(b, q, 4);
	}
}

static void add_uint(struct bl_buf *b, uint64_t v)
{
	char d[24];
	size_t i = sizeof(d);
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	bl_buf_add(b, d + i, sizeof(d) - i);
}

/* Lines of @d starting with '.' (RFC 5321 4.5.2): offset 0 or after LF
 * (the transport allows no lone LF, so that LF ends a CRLF). */
static size_t count_dots(const char *d, size_t n)
{
	size_t k = 0;
	const char *p = d, *end = d + n;
	while (p < end && (p = memchr(p, '.', (size_t)(end - p)))) {
		if (p == d || p[-1] == '\n')
			k++;
		p++;
	}
	return k;
}

/* Eight bytes at a time: a byte loop is not vectorised at -O2 and costs
 * more than the rest of a message's handling. */
static int has_8bit(const char *d, size_t n)
{
	uint64_t acc = 0, w[4];
	size_t i = 0;
	for (; i + sizeof(w) <= n; i += sizeof(w)) {
		memcpy(w, d + i, sizeof(w));
		acc |= w[0] | w[1] | w[2] | w[3];
	}
	for (; i < n; i++)
		acc |= (unsigned char)d[i];
	return (acc & UINT64_C(0x8080808080808080)) != 0;
}

/* The terminator after @d: ".\r\n" when it ends in CRLF, else "\r\n.\r\n". */
static const char *terminator(const char *d, size_t n)
{
	return n >= 2 && d[n - 2] == '\r' && d[n - 1] == '\n' ? ".\r\n" : "\r\n.\r\n";
}

/* The dot-stuffed copy of @d with its terminator; *@len its size. */
static char *stuff(const char *d, size_t n, size_t dots, size_t *len)
{
	const char *term = terminator(d, n);
	size_t tl = strlen(term);
	char *w = bl_xmalloc(n + dots + tl);
	char *o = w;
	const char *p = d, *end = d + n, *seg = d;
	while (p < end && (p = memchr(p, '.', (size_t)(end - p)))) {
		if (p == d || p[-1] == '\n') {
			memcpy(o, seg, (size_t)(p - seg));
			o += p - seg;
			*o++ = '.';
			seg = p;
		}
		p++;
	}
	memcpy(o, seg, (size_t)(end - seg));
	o += end - seg;
	memcpy(o, term, tl);
	o += tl;
	*len = (size_t)(o - w);
	return w;
}

/* @src into @dst (@size bytes), truncated, NUL-terminated. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static void job_free(struct job *j)
{
	free(j->from);
	free(j->data);
	free(j->wire);
	memset(j, 0, sizeof(*j));
}

/* ------------------------------------------------------- connections */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->ai)
		freeaddrinfo(c->ai);
	c->ai = c->next_ai = NULL;
	c->st = CS_FREE;
	c->gen++;
	c->deadline = 0;
	c->greeted = 0;
	c->ext = c->auth = 0;
	c->size_max = 0;
	c->tx_done = 0;
	c->npend = c->head = 0;
	bl_buf_reset(&c->out);
	c->out_off = 0;
	c->wa = c->wb = NULL;
	c->wa_len = c->wb_len = c->w_off = 0;
	bl_smtp_reply_parser_init(&c->rd);
}

/* Cut a connection so that nothing more leaves it: unsent data is dropped
 * and the relay sees a reset, never the rest of a message. */
static void conn_cut(struct conn *c)
{
	if (c->fd >= 0) {
		struct linger lg = {1, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	conn_close(c);
}

static void push_done(struct bl_smtpc *s, const struct bl_smtp_done *d)
{
	if (s->n_done == s->cap_done) {
		s->cap_done = s->cap_done ? 2 * s->cap_done : 16;
		s->done = bl_xreallocarray(s->done, s->cap_done, sizeof(*s->done));
	}
	s->done[s->n_done++] = *d;
}

/* Report @c's job with this outcome and free it. */
static void job_finish(struct bl_smtpc *s, struct conn *c, enum bl_send_outcome outcome,
                       enum bl_smtp_stage stage, int code, const char *reply, int in_doubt,
                       const char *queue_id)
{
	struct job *j = &c->job;
	if (!j->active)
		return;
	struct bl_smtp_done d;
	memset(&d, 0, sizeof(d));
	d.relay = c->relay;
	d.trial = j->trial;
	d.ehlo_seen = c->greeted;
	d.smtputf8 = (c->ext & BL_SMTP_EXT_SMTPUTF8) != 0;
	d.res.tag = j->tag;
	d.res.outcome = outcome;
	d.res.stage = stage;
	d.res.code = code;
	d.res.in_doubt = in_doubt;
	copy_str(d.res.reply, sizeof(d.res.reply), reply);
	copy_str(d.res.queue_id, sizeof(d.res.queue_id), queue_id);
	d.res.relay = c->relay->url;
	push_done(s, &d);
	job_free(j);
	s->busy--;
}

/* Where @c's job stands, for a failure that has no reply of its own. */
static enum bl_smtp_stage cur_stage(const struct conn *c)
{
	switch (c->st) {
	case CS_CONNECT:
		return BL_STAGE_CONNECT;
	case CS_GREETING:
		return BL_STAGE_GREETING;
	case CS_EHLO:
	case CS_HELO:
		return BL_STAGE_EHLO;
	case CS_AUTH:
		return BL_STAGE_AUTH;
	case CS_TX:
		if (!c->tx_done && c->head < c->npend)
			return c->pend[c->head];
		return BL_STAGE_MAIL;
	case CS_BODY:
	case CS_DOT:
		return BL_STAGE_DATA_END;
	default:
		return BL_STAGE_MAIL;
	}
}

static double now_s(void)
{
	return bl_monotonic();
}

static void expect_reply(struct bl_smtpc *s, struct conn *c)
{
	c->deadline = now_s() + s->opts->timeout;
}

static void conn_open(struct bl_smtpc *s, struct conn *c, struct bl_relay *r);
static int conn_flush(struct bl_smtpc *s, struct conn *c);
static void ready(struct bl_smtpc *s, struct conn *c);

/*
 * The connection failed without a reply to say why (@why): hang-up, reset,
 * timeout, protocol error. Its job, if any, is reported as CONNECTION, in
 * doubt once its "." went out, except that it moves, once, to a fresh
 * connection when nothing of it can have been accepted: it was still
 * waiting for the connection (must_wait), or, on a hang-up (@hangup), it
 * had no reply yet on a reused connection (the relay closed it while it
 * was idle).
 */
static void conn_fail(struct bl_smtpc *s, struct conn *c, const char *why, int hangup)
{
	struct job *j = &c->job;
	if (j->active && !j->retried && !j->probe &&
	    (j->must_wait || (hangup && j->reused && !j->replied))) {
		struct job keep = *j;
		struct bl_relay *r = c->relay;
		memset(j, 0, sizeof(*j));
		conn_cut(c);
		keep.retried = 1;
		keep.reused = 0;
		keep.must_wait = 0;
		c->job = keep;
		conn_open(s, c, r);
		return;
	}
	if (j->active)
		job_finish(s, c, BL_SEND_CONNECTION, cur_stage(c), 0, why, c->st == CS_DOT, NULL);
	conn_cut(c);
}

/* The outcome of a negative reply @code at @st (as smtp.c's classify). */
static enum bl_send_outcome classify(const struct conn *c, enum bl_smtp_stage st, int code)
{
	int cls = code / 100;
	if (code == 421 || (cls != 4 && cls != 5))
		return BL_SEND_CONNECTION;
	switch (st) {
	case BL_STAGE_CONNECT:
	case BL_STAGE_GREETING:
		return BL_SEND_CONNECTION;
	case BL_STAGE_EHLO:
	case BL_STAGE_STARTTLS:
	case BL_STAGE_AUTH:
		return cls == 4 ? BL_SEND_CONNECTION : BL_SEND_SYSTEMIC;
	case BL_STAGE_MAIL:
		/* A relay without SMTPUTF8 refusing an internationalised
		 * address is about this message, not every message. */
		if (cls == 5)
			return c->job.smtputf8 && !(c->ext & BL_SMTP_EXT_SMTPUTF8)
			           ? BL_SEND_FAILED
			           : BL_SEND_SYSTEMIC;
		return BL_SEND_CONNECTION;
	case BL_STAGE_RCPT:
	case BL_STAGE_DATA:
	case BL_STAGE_DATA_END:
		return cls == 4 ? BL_SEND_DEFERRED : BL_SEND_FAILED;
	}
	return BL_SEND_CONNECTION;
}

/* A reply that is not what @st wanted. 2xx/3xx out of turn is a protocol
 * error; 4xx/5xx is sorted by classify. Returns 1 when the connection
 * survives (no CONNECTION outcome), 0 when it was closed. */
static int reply_failed(struct bl_smtpc *s, struct conn *c, enum bl_smtp_stage st,
                        const struct bl_smtp_reply *r)
{
	int cls = r->code / 100;
	if (cls == 2 || cls == 3) {
		char why[300];
		snprintf(why, sizeof(why), "unexpected reply to %s: %s", stage_names[st], r->text);
		if (c->job.active)
			job_finish(s, c, BL_SEND_CONNECTION, st, 0, why, c->st == CS_DOT, NULL);
		conn_cut(c);
		return 0;
	}
	enum bl_send_outcome o = classify(c, st, r->code);
	job_finish(s, c, o, st, r->code, r->text, 0, NULL);
	if (o == BL_SEND_CONNECTION) {
		conn_cut(c);
		return 0;
	}
	return 1;
}

/* Queue @cmd (NUL-terminated, CRLF included) and write what can be written. */
static int send_cmd(struct bl_smtpc *s, struct conn *c, const char *cmd)
{
	bl_buf_adds(&c->out, cmd);
	expect_reply(s, c);
	return conn_flush(s, c);
}

static void send_quit(struct bl_smtpc *s, struct conn *c)
{
	c->st = CS_QUIT;
	bl_buf_adds(&c->out, "QUIT\r\n");
	c->deadline = now_s() + QUIT_WAIT;
	conn_flush(s, c);
}

static void send_rset(struct bl_smtpc *s, struct conn *c)
{
	c->st = CS_RSET;
	c->tx_done = 0;
	c->npend = c->head = 0;
	send_cmd(s, c, "RSET\r\n");
}

/* ------------------------------------------------------------ writing */

static int wants_write(const struct conn *c)
{
	return c->out_off < c->out.len || (c->st == CS_BODY && c->w_off < c->wa_len + c->wb_len);
}

/*
 * Write what @c has queued: commands, then (CS_BODY) the message and its
 * terminator, in as few sendmsg calls as the socket takes. Returns 0 when
 * the connection is still there (perhaps waiting for POLLOUT), -1 when it
 * failed (its job handled by conn_fail).
 */
static int conn_flush(struct bl_smtpc *s, struct conn *c)
{
	int progress = 0;
	for (;;) {
		struct iovec iov[3];
		int n = 0;
		size_t out_left = c->out.len - c->out_off;
		if (out_left > 0)
			iov[n++] = (struct iovec){c->out.data + c->out_off, out_left};
		if (c->st == CS_BODY) {
			if (c->w_off < c->wa_len)
				iov[n++] =
				    (struct iovec){(char *)c->wa + c->w_off, c->wa_len - c->w_off};
			size_t boff = c->w_off > c->wa_len ? c->w_off - c->wa_len : 0;
			if (boff < c->wb_len)
				iov[n++] = (struct iovec){(char *)c->wb + boff, c->wb_len - boff};
		}
		if (n == 0)
			break;
		struct msghdr mh;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			char why[192];
			snprintf(why, sizeof(why), "sending to the relay: %s", strerror(errno));
			conn_fail(s, c, why, errno == EPIPE || errno == ECONNRESET);
			return -1;
		}
		size_t left = (size_t)w, k = left < out_left ? left : out_left;
		c->out_off += k;
		left -= k;
		c->w_off += left;
		progress = 1;
	}
	if (c->out_off == c->out.len && c->out.len > 0) {
		bl_buf_reset(&c->out);
		c->out_off = 0;
	}
	if (progress && c->deadline > 0 && c->st != CS_QUIT)
		expect_reply(s, c);
	if (c->st == CS_BODY && c->w_off == c->wa_len + c->wb_len) {
		/* The "." is out: from now on the message may be delivered. */
		c->st = CS_DOT;
		expect_reply(s, c);
	}
	return 0;
}

/* ----------------------------------------------------------- the dialog */

static void after_hello(struct bl_smtpc *s, struct conn *c)
{
	struct bl_relay *r = c->relay;
	/* As libcurl: without credentials, or when the relay offers no
	 * AUTH, go on without it (a relay that needs it says 530 to MAIL). */
	if (!r->user || !(c->ext & BL_SMTP_EXT_AUTH)) {
		ready(s, c);
		return;
	}
	if (!r->loopback) {
		job_finish(s, c, BL_SEND_SYSTEMIC, BL_STAGE_AUTH, 0,
		           "refusing to send the relay's password in the clear: it is not on "
		           "loopback (use STARTTLS or smtps://)",
		           0, NULL);
		send_quit(s, c);
		return;
	}
	struct bl_buf *b = &c->out;
	if (c->auth & BL_SMTP_AUTH_PLAIN) {
		/* RFC 4616: authzid NUL authcid NUL passwd, as the initial
		 * response (RFC 4954 4). */
		size_t ul = strlen(r->user), pl = strlen(r->pass);
		unsigned char *cred = bl_xmalloc(ul + pl + 2);
		cred[0] = '\0';
		memcpy(cred + 1, r->user, ul);
		cred[ul + 1] = '\0';
		memcpy(cred + ul + 2, r->pass, pl);
		bl_buf_adds(b, "AUTH PLAIN ");
		add_base64(b, cred, ul + pl + 2);
		bl_buf_adds(b, "\r\n");
		memset(cred, 0, ul + pl + 2);
		free(cred);
		c->auth_step = 0;
	} else if (c->auth & BL_SMTP_AUTH_LOGIN) {
		bl_buf_adds(b, "AUTH LOGIN\r\n");
		c->auth_step = 1;
	} else {
		job_finish(s, c, BL_SEND_SYSTEMIC, BL_STAGE_AUTH, 0,
		           "the relay offers AUTH but neither PLAIN nor LOGIN", 0, NULL);
		send_quit(s, c);
		return;
	}
	c->st = CS_AUTH;
	expect_reply(s, c);
	conn_flush(s, c);
}

static void auth_reply(struct bl_smtpc *s, struct conn *c, const struct bl_smtp_reply *rep)
{
	struct bl_relay *r = c->relay;
	int cls = rep->code / 100;
	if (c->auth_step == 0 || c->auth_step == 3) {
		if (cls == 2) {
			ready(s, c);
			return;
		}
	} else if (rep->code == 334) {
		const char *v = c->auth_step == 1 ? r->user : r->pass;
		add_base64(&c->out, (const unsigned char *)v, strlen(v));
		bl_buf_adds(&c->out, "\r\n");
		c->auth_step++;
		expect_reply(s, c);
		conn_flush(s, c);
		return;
	}
	if (reply_failed(s, c, BL_STAGE_AUTH, rep))
		send_quit(s, c);
}

/* @c is set up and free: start its job, else wait idle. */
static void start_tx(struct bl_smtpc *s, struct conn *c);

static void ready(struct bl_smtpc *s, struct conn *c)
{
	c->tx_done = 0;
	c->npend = c->head = 0;
	if (c->job.active) {
		c->job.must_wait = 0;
		start_tx(s, c);
		return;
	}
	c->st = CS_IDLE;
	c->idle_since = now_s();
	c->deadline = c->idle_since + IDLE_MAX;
}

static void start_tx(struct bl_smtpc *s, struct conn *c)
{
	struct job *j = &c->job;
	struct bl_buf *b = &c->out;
	if (j->probe) {
		c->st = CS_PROBE;
		j->probe_step = 0;
		if (j->from) {
			bl_buf_adds(b, "MAIL FROM:<");
			bl_buf_adds(b, j->from);
			bl_buf_adds(b, ">\r\n");
		} else {
			bl_buf_adds(b, "NOOP\r\n");
			j->probe_step = 1;
		}
		expect_reply(s, c);
		conn_flush(s, c);
		return;
	}
	if (j->smtputf8 && !(c->ext & BL_SMTP_EXT_SMTPUTF8)) {
		job_finish(s, c, BL_SEND_FAILED, BL_STAGE_MAIL, 0,
		           "the relay does not offer SMTPUTF8 (RFC 6531), which this address needs",
		           0, NULL);
		ready(s, c);
		return;
	}
	if ((c->ext & BL_SMTP_EXT_SIZE) && c->size_max > 0 && j->len > c->size_max) {
		char why[200];
		snprintf(why, sizeof(why),
		         "the message (%zu bytes) is larger than the relay takes (SIZE %llu, "
		         "RFC 1870)",
		         j->len, (unsigned long long)c->size_max);
		job_finish(s, c, BL_SEND_SYSTEMIC, BL_STAGE_MAIL, 0, why, 0, NULL);
		ready(s, c);
		return;
	}
	bl_buf_adds(b, "MAIL FROM:<");
	bl_buf_adds(b, j->from);
	bl_buf_adds(b, ">");
	if (c->ext & BL_SMTP_EXT_SIZE) {
		bl_buf_adds(b, " SIZE=");
		add_uint(b, j->len);
	}
	if (j->eightbit && (c->ext & BL_SMTP_EXT_8BITMIME))
		bl_buf_adds(b, " BODY=8BITMIME");
	if (j->smtputf8)
		bl_buf_adds(b, " SMTPUTF8");
	bl_buf_adds(b, "\r\n");
	c->npend = c->head = 0;
	c->tx_done = 0;
	c->pend[c->npend++] = BL_STAGE_MAIL;
	if (c->ext & BL_SMTP_EXT_PIPELINING) {
		/* RFC 2920 3.1: DATA may end a group; its 354 is waited for. */
		bl_buf_adds(b, "RCPT TO:<");
		bl_buf_adds(b, j->rcpt);
		bl_buf_adds(b, ">\r\nDATA\r\n");
		c->pend[c->npend++] = BL_STAGE_RCPT;
		c->pend[c->npend++] = BL_STAGE_DATA;
	}
	c->st = CS_TX;
	expect_reply(s, c);
	conn_flush(s, c);
}

/* Lock step: the next command after a positive reply to @done. */
static void next_cmd(struct bl_smtpc *s, struct conn *c, enum bl_smtp_stage done)
{
	struct bl_buf *b = &c->out;
	if (done == BL_STAGE_MAIL) {
		bl_buf_adds(b, "RCPT TO:<");
		bl_buf_adds(b, c->job.rcpt);
		bl_buf_adds(b, ">\r\n");
		c->pend[c->npend++] = BL_STAGE_RCPT;
	} else {
		bl_buf_adds(b, "DATA\r\n");
		c->pend[c->npend++] = BL_STAGE_DATA;
	}
	expect_reply(s, c);
	conn_flush(s, c);
}

static void start_body(struct bl_smtpc *s, struct conn *c)
{
	struct job *j = &c->job;
	c->st = CS_BODY;
	if (j->wire) {
		c->wa = j->wire;
		c->wa_len = j->wire_len;
		c->wb = NULL;
		c->wb_len = 0;
	} else {
		c->wa = j->data;
		c->wa_len = j->len;
		c->wb = terminator(j->data, j->len);
		c->wb_len = strlen(c->wb);
	}
	c->w_off = 0;
	expect_reply(s, c);
	conn_flush(s, c);
}

/* A reply to one of the transaction's commands (MAIL, RCPT, DATA). */
static void tx_reply(struct bl_smtpc *s, struct conn *c, const struct bl_smtp_reply *r)
{
	if (c->head >= c->npend) {
		conn_fail(s, c, "the relay sent a reply nobody asked for", 0);
		return;
	}
	enum bl_smtp_stage st = c->pend[c->head++];
	int more = c->head < c->npend;
	if (c->tx_done) {
		/* The outcome is out; these replies only close the group. A
		 * 354 means the relay waits for a message that must not come. */
		if (r->code == 421 || r->code == 354) {
			conn_fail(s, c, r->text, 0);
			return;
		}
		if (!more)
			send_rset(s, c);
		return;
	}
	c->job.replied = 1;
	if (st == BL_STAGE_DATA ? r->code == 354 : r->code / 100 == 2) {
		if (st == BL_STAGE_DATA)
			start_body(s, c);
		else if (!more)
			next_cmd(s, c, st);
		return;
	}
	if (!reply_failed(s, c, st, r))
		return;
	if (more)
		c->tx_done = 1;
	else
		send_rset(s, c);
}

static void dot_reply(struct bl_smtpc *s, struct conn *c, const struct bl_smtp_reply *r)
{
	c->job.replied = 1;
	if (r->code / 100 == 2) {
		job_finish(s, c, BL_SEND_ACCEPTED, BL_STAGE_DATA_END, r->code, r->text, 0,
		           r->queue_id);
		ready(s, c);
		return;
	}
	/* A refusal ends the transaction (RFC 5321 4.1.1.4): no RSET. */
	if (reply_failed(s, c, BL_STAGE_DATA_END, r))
		ready(s, c);
}

static void probe_reply(struct bl_smtpc *s, struct conn *c, const struct bl_smtp_reply *r)
{
	struct job *j = &c->job;
	if (r->code / 100 != 2) {
		if (reply_failed(s, c, BL_STAGE_MAIL, r))
			send_quit(s, c);
		return;
	}
	if (j->probe_step == 0) {
		j->probe_step = 1;
		send_cmd(s, c, "RSET\r\n");
		return;
	}
	job_finish(s, c, BL_SEND_ACCEPTED, BL_STAGE_MAIL, r->code, r->text, 0, NULL);
	ready(s, c);
}

static void on_reply(struct bl_smtpc *s, struct conn *c, const struct bl_smtp_reply *r)
{
	int cls = r->code / 100;
	switch (c->st) {
	case CS_GREETING:
		if (cls == 2) {
			char cmd[300];
			snprintf(cmd, sizeof(cmd), "EHLO %s\r\n", s->helo);
			c->st = CS_EHLO;
			send_cmd(s, c, cmd);
		} else if (reply_failed(s, c, BL_STAGE_GREETING, r)) {
			send_quit(s, c);
		}
		return;
	case CS_EHLO:
	case CS_HELO:
		if (cls == 2) {
			c->greeted = 1;
			if (c->st == CS_EHLO) {
				c->ext = r->ext;
				c->auth = r->auth;
				c->size_max = r->size;
			}
			after_hello(s, c);
		} else if (cls == 5 && c->st == CS_EHLO) {
			char cmd[300];
			snprintf(cmd, sizeof(cmd), "HELO %s\r\n", s->helo);
			c->st = CS_HELO;
			send_cmd(s, c, cmd);
		} else if (reply_failed(s, c, BL_STAGE_EHLO, r)) {
			send_quit(s, c);
		}
		return;
	case CS_AUTH:
		auth_reply(s, c, r);
		return;
	case CS_TX:
		tx_reply(s, c, r);
		return;
	case CS_BODY:
		/* The relay gave up on the message before its end (a size
		 * limit, say): its verdict, and the connection is done. */
		c->job.replied = 1;
		if (reply_failed(s, c, BL_STAGE_DATA_END, r))
			conn_cut(c);
		return;
	case CS_DOT:
		dot_reply(s, c, r);
		return;
	case CS_RSET:
		if (cls == 2) {
			ready(s, c);
		} else {
			char why[300];
			snprintf(why, sizeof(why), "RSET refused: %s", r->text);
			conn_fail(s, c, why, 0);
		}
		return;
	case CS_PROBE:
		probe_reply(s, c, r);
		return;
	case CS_QUIT:
		if (r->code == 221 || cls != 2)
			conn_close(c);
		return;
	case CS_IDLE:
		/* Unasked: a 421 before the relay hangs up, or noise. */
		conn_close(c);
		return;
	case CS_FREE:
	case CS_CONNECT:
		return;
	}
}

/* ------------------------------------------------------------- events */

static void conn_read(struct bl_smtpc *s, struct conn *c)
{
	char buf[READ_CHUNK];
	unsigned gen = c->gen;
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0) {
			if (c->st == CS_QUIT || c->st == CS_IDLE)
				conn_close(c);
			else
				conn_fail(s, c, "the relay closed the connection", 1);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (c->st == CS_QUIT || c->st == CS_IDLE) {
				conn_close(c);
			} else {
				char why[192];
				snprintf(why, sizeof(why), "reading from the relay: %s",
				         strerror(errno));
				conn_fail(s, c, why, errno == ECONNRESET);
			}
			return;
		}
		size_t off = 0;
		while (off < (size_t)n) {
			struct bl_smtp_reply rep;
			size_t used;
			int rc =
			    bl_smtp_reply_feed(&c->rd, buf + off, (size_t)n - off, &used, &rep);
			off += used;
			if (rc < 0) {
				if (c->st == CS_QUIT || c->st == CS_IDLE)
					conn_close(c);
				else
					conn_fail(
					    s, c,
					    "protocol error: the relay's reply is malformed or "
					    "longer than 4096 bytes per line, 100 lines",
					    0);
				return;
			}
			if (rc == 0)
				break;
			on_reply(s, c, &rep);
			if (c->gen != gen || c->st == CS_FREE)
				return;
		}
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static void connected(struct bl_smtpc *s, struct conn *c)
{
	if (c->ai)
		freeaddrinfo(c->ai);
	c->ai = c->next_ai = NULL;
	c->st = CS_GREETING;
	expect_reply(s, c);
}

/* Try the next address of @c's relay; reports the job when none is left. */
static void try_connect(struct bl_smtpc *s, struct conn *c)
{
	while (c->next_ai) {
		struct addrinfo *a = c->next_ai;
		c->next_ai = a->ai_next;
		if (c->relay->loopback && !sockaddr_loopback(a->ai_addr)) {
			snprintf(c->why, sizeof(c->why), "%s resolves to an address off loopback",
			         c->relay->host);
			continue;
		}
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(c->why, sizeof(c->why), "socket: %s", strerror(errno));
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			connected(s, c);
			return;
		}
		if (errno == EINPROGRESS) {
			expect_reply(s, c);
			return;
		}
		snprintf(c->why, sizeof(c->why), "connect to %s port %s: %s", c->relay->host,
		         c->relay->port, strerror(errno));
		close(fd);
		c->fd = -1;
	}
	job_finish(s, c, BL_SEND_CONNECTION, BL_STAGE_CONNECT, 0, c->why, 0, NULL);
	conn_close(c);
}

static void connect_done(struct bl_smtpc *s, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		connected(s, c);
		return;
	}
	snprintf(c->why, sizeof(c->why), "connect to %s port %s: %s", c->relay->host,
	         c->relay->port, strerror(err));
	close(c->fd);
	c->fd = -1;
	try_connect(s, c);
}

static void conn_open(struct bl_smtpc *s, struct conn *c, struct bl_relay *r)
{
	conn_close(c);
	c->relay = r;
	c->st = CS_CONNECT;
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(r->host, r->port, &hints, &c->ai);
	if (rc != 0) {
		c->ai = NULL;
		snprintf(c->why, sizeof(c->why), "cannot resolve %s: %s", r->host,
		         gai_strerror(rc));
	} else {
		snprintf(c->why, sizeof(c->why), "%s has no address", r->host);
	}
	c->next_ai = c->ai;
	try_connect(s, c);
}

static void on_events(struct bl_smtpc *s, struct conn *c, short ev)
{
	if (c->st == CS_CONNECT) {
		if (ev & (POLLOUT | POLLERR | POLLHUP))
			connect_done(s, c);
		return;
	}
	unsigned gen = c->gen;
	if ((ev & POLLOUT) && (conn_flush(s, c) < 0 || c->gen != gen))
		return;
	if (ev & (POLLIN | POLLHUP | POLLERR))
		conn_read(s, c);
}

static void on_timeout(struct bl_smtpc *s, struct conn *c)
{
	char why[192];
	switch (c->st) {
	case CS_IDLE:
		send_quit(s, c);
		return;
	case CS_QUIT:
		conn_close(c);
		return;
	case CS_CONNECT:
		snprintf(why, sizeof(why), "connect to %s port %s: no answer within %d s",
		         c->relay->host, c->relay->port, s->opts->timeout);
		break;
	case CS_BODY:
		snprintf(why, sizeof(why), "the relay took none of the message for %d s",
		         s->opts->timeout);
		break;
	case CS_RSET:
		snprintf(why, sizeof(why), "no reply to RSET within %d s", s->opts->timeout);
		break;
	default:
		snprintf(why, sizeof(why), "no reply to %s within %d s", stage_names[cur_stage(c)],
		         s->opts->timeout);
		break;
	}
	conn_fail(s, c, why, 0);
}

static void check_timers(struct bl_smtpc *s, double now)
{
	for (size_t i = 0; i < s->n_conns; i++) {
		struct conn *c = &s->conns[i];
		if (c->st != CS_FREE && c->deadline > 0 && now >= c->deadline)
			on_timeout(s, c);
	}
}

static int deliver(struct bl_smtpc *s, bl_smtp_done_fn fn, void *arg)
{
	size_t n = s->n_done;
	for (size_t i = 0; i < n; i++)
		fn(arg, &s->done[i]);
	if (s->n_done > n)
		memmove(s->done, s->done + n, (s->n_done - n) * sizeof(*s->done));
	s->n_done -= n;
	return (int)n;
}

int bl_smtpc_poll(struct bl_smtpc *s, int timeout_ms, bl_smtp_done_fn fn, void *arg)
{
	double now = now_s(), end = now + (timeout_ms > 0 ? timeout_ms : 0) / 1000.0;
	for (;;) {
		check_timers(s, now);
		if (s->n_done > 0)
			return deliver(s, fn, arg);
		size_t n = 0;
		double next = end;
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = &s->conns[i];
			if (c->st == CS_FREE || c->fd < 0)
				continue;
			short ev = c->st == CS_CONNECT
			               ? POLLOUT
			               : (short)(POLLIN | (wants_write(c) ? POLLOUT : 0));
			s->pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
			s->pidx[n] = i;
			s->pgen[n] = c->gen;
			n++;
			if (c->deadline > 0 && c->deadline < next)
				next = c->deadline;
		}
		int wait = next > now ? (int)ceil((next - now) * 1000) : 0;
		int rc = poll(s->pfd, (nfds_t)n, wait);
		if (rc < 0 && errno != EINTR)
			return -BL_EIO;
		for (size_t k = 0; rc > 0 && k < n; k++) {
			struct conn *c = &s->conns[s->pidx[k]];
			if (s->pfd[k].revents && c->gen == s->pgen[k] && c->fd == s->pfd[k].fd)
				on_events(s, c, s->pfd[k].revents);
		}
		now = now_s();
		if (s->n_done > 0)
			return deliver(s, fn, arg);
		if (now >= end) {
			check_timers(s, now);
			return deliver(s, fn, arg);
		}
	}
}

/* ---------------------------------------------------------- lifecycle */

struct bl_smtpc *bl_smtpc_create(size_t slots, const struct bl_transport_opts *o)
{
	struct bl_smtpc *s = bl_xcalloc(1, sizeof(*s));
	s->opts = o;
	if (o->helo) {
		snprintf(s->helo, sizeof(s->helo), "%s", o->helo);
	} else {
		/* As libcurl: the host name when it is a usable domain. */
		char h[256] = "";
		if (gethostname(h, sizeof(h) - 1) != 0 || !h[0] ||
		    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
		        strlen(h))
			snprintf(h, sizeof(h), "localhost");
		snprintf(s->helo, sizeof(s->helo), "%s", h);
	}
	s->n_conns = slots;
	s->conns = bl_xcalloc(slots, sizeof(*s->conns));
	for (size_t i = 0; i < slots; i++) {
		struct conn *c = &s->conns[i];
		c->fd = -1;
		bl_buf_init(&c->out, 0);
		bl_smtp_reply_parser_init(&c->rd);
	}
	s->pfd = bl_xcalloc(slots, sizeof(*s->pfd));
	s->pidx = bl_xcalloc(slots, sizeof(*s->pidx));
	s->pgen = bl_xcalloc(slots, sizeof(*s->pgen));
	return s;
}

void bl_smtpc_destroy(struct bl_smtpc *s)
{
	if (!s)
		return;
	/* Messages in flight: cut, never ended with "." (see the top). A
	 * connection merely draining a finished transaction gets QUIT. */
	for (size_t i = 0; i < s->n_conns; i++) {
		struct conn *c = &s->conns[i];
		if (c->job.active) {
			conn_cut(c);
			job_free(&c->job);
		} else if (c->st == CS_CONNECT || c->st == CS_GREETING || c->st == CS_EHLO ||
		           c->st == CS_HELO || c->st == CS_AUTH) {
			conn_cut(c);
		} else if (c->st == CS_TX && c->tx_done) {
			conn_cut(c); /* a 354 may still come: no QUIT into a message */
		} else if (c->st != CS_FREE && c->st != CS_QUIT) {
			send_quit(s, c);
		}
	}
	s->busy = 0;
	/* Wait a little for the 221s (the relay logs a clean QUIT). */
	double end = now_s() + QUIT_WAIT;
	for (;;) {
		size_t n = 0;
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = &s->conns[i];
			if (c->st == CS_QUIT && c->fd >= 0) {
				s->pfd[n] = (struct pollfd){
				    .fd = c->fd,
				    .events = (short)(POLLIN | (wants_write(c) ? POLLOUT : 0))};
				s->pidx[n++] = i;
			}
		}
		double left = end - now_s();
		if (n == 0 || left <= 0)
			break;
		if (poll(s->pfd, (nfds_t)n, (int)ceil(left * 1000)) <= 0)
			break;
		for (size_t k = 0; k < n; k++)
			if (s->pfd[k].revents)
				on_events(s, &s->conns[s->pidx[k]], s->pfd[k].revents);
	}
	for (size_t i = 0; i < s->n_conns; i++) {
		conn_close(&s->conns[i]);
		bl_buf_finish(&s->conns[i].out);
	}
	free(s->conns);
	free(s->done);
	free(s->pfd);
	free(s->pidx);
	free(s->pgen);
	free(s);
}

size_t bl_smtpc_busy(const struct bl_smtpc *s)
{
	return s ? s->busy : 0;
}

/* An idle connection unused for a while may have been closed by the relay
 * (or be about to: a 421 waiting to be read). Returns 1 when it is fine. */
static int still_open(struct conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	conn_close(c);
	return 0;
}

/* The connection for a new job to @r (see bl_smtpc_start); NULL when none. */
static struct conn *pick(struct bl_smtpc *s, struct bl_relay *r)
{
	double now = now_s();
	struct conn *c;
	for (size_t i = 0; i < s->n_conns; i++) {
		c = &s->conns[i];
		if (c->st != CS_IDLE || c->relay != r)
			continue;
		if (now >= c->deadline) {
			send_quit(s, c); /* idle too long: nobody polled to close it */
			continue;
		}
		if (now - c->idle_since < STALE_AFTER || still_open(c))
			return c;
	}
	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i].st == CS_FREE)
			return &s->conns[i];
	for (size_t i = 0; i < s->n_conns; i++) {
		c = &s->conns[i];
		if (!c->job.active && c->relay == r &&
		    (c->st == CS_RSET || (c->st == CS_TX && c->tx_done)))
			return c;
	}
	/* Room only by closing a connection no message needs. */
	for (size_t i = 0; i < s->n_conns; i++) {
		c = &s->conns[i];
		if (!c->job.active) {
			conn_cut(c);
			return c;
		}
	}
	return NULL;
}

/* Put @j (filled, active) on @c, picked for @r, and get it going; a
 * failure that happens at once is queued as its result. */
static void launch(struct bl_smtpc *s, struct conn *c, struct bl_relay *r, const struct job *j)
{
	c->job = *j;
	s->busy++;
	if (c->st == CS_FREE) {
		conn_open(s, c, r);
	} else if (c->st == CS_IDLE) {
		c->job.reused = 1;
		start_tx(s, c);
	} else {
		c->job.reused = 1;
		c->job.must_wait = 1;
	}
}

int bl_smtpc_start(struct bl_smtpc *s, struct bl_relay *r, struct bl_transport_msg *m, int trial)
{
	if (s->busy >= s->n_conns)
		return -BL_EBUSY;
	struct conn *c = pick(s, r);
	if (!c)
		return -BL_EBUSY;
	struct job j;
	memset(&j, 0, sizeof(j));
	size_t fl = strlen(m->mail_from), rl = strlen(m->rcpt);
	j.from = bl_xmalloc(fl + rl + 2);
	memcpy(j.from, m->mail_from, fl + 1);
	j.rcpt = j.from + fl + 1;
	memcpy(j.rcpt, m->rcpt, rl + 1);
	j.active = 1;
	j.trial = trial;
	j.tag = m->tag;
	j.len = m->len;
	j.smtputf8 = m->smtputf8;
	j.eightbit = has_8bit(m->data, m->len);
	size_t dots = count_dots(m->data, m->len);
	if (dots > 0) {
		/* The stuffed copy is what goes out; the original is done. */
		j.wire = stuff(m->data, m->len, dots, &j.wire_len);
		free(m->data);
	} else {
		j.data = m->data;
	}
	launch(s, c, r, &j);
	return 0;
}

/* ------------------------------------------------------------- probe */

struct probe_result {
	int done;
	struct bl_send_result res;
};

static void on_probe_done(void *arg, const struct bl_smtp_done *d)
{
	struct probe_result *p = arg;
	p->done = 1;
	p->res = d->res;
}

int bl_smtpc_probe(struct bl_relay *r, const struct bl_transport_opts *o, const char *mail_from,
                   int timeout_ms, char *why, size_t why_len)
{
	if (timeout_ms < 1)
		timeout_ms = 1;
	struct bl_transport_opts po = *o;
	int secs = (timeout_ms + 999) / 1000;
	if (secs < po.timeout)
		po.timeout = secs;
	struct job j;
	memset(&j, 0, sizeof(j));
	j.active = 1;
	j.probe = 1;
	if (mail_from) {
		size_t n = strlen(mail_from);
		if (n >= 2 && mail_from[0] == '<' && mail_from[n - 1] == '>') {
			mail_from++;
			n -= 2;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)mail_from[i];
			if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>') {
				snprintf(why, why_len, "%s: the probe's sender is not an address",
				         r->url);
				return 0;
			}
		}
		j.from = bl_xstrndup(mail_from, n);
	}
	struct bl_smtpc *s = bl_smtpc_create(1, &po);
	struct probe_result pr;
	memset(&pr, 0, sizeof(pr));
	double end = now_s() + timeout_ms / 1000.0;
	launch(s, &s->conns[0], r, &j);
	while (!pr.done) {
		double left = end - now_s();
		if (left <= 0 || bl_smtpc_poll(s, (int)ceil(left * 1000), on_probe_done, &pr) < 0)
			break;
	}
	int ok = pr.done && pr.res.outcome == BL_SEND_ACCEPTED;
	if (ok)
		snprintf(why, why_len, "%s answers", r->url);
	else if (pr.done)
		snprintf(why, why_len, "%s: %s (at %s)", r->url, pr.res.reply,
		         stage_names[pr.res.stage]);
	else
		snprintf(why, why_len, "%s: no answer within %d ms", r->url, timeout_ms);
	bl_smtpc_destroy(s);
	return ok;
}
