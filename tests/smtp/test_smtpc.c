/*
 * bulletin's own SMTP client (src/send/smtpc.c) against declared
 * transcripts, and its reply parser (src/send/smtp_reply.h) on its own.
 *
 * Each transcript case is a script for a fake relay that a thread of this
 * test plays on a loopback listener: lines the client must send (byte for
 * byte; "batch" steps also require them to arrive in one read, i.e. one
 * write), replies to send (whole, or one byte at a time), silences the
 * client must keep (lock step), hang-ups. The main thread drives the
 * transport (smtp://127.0.0.1:PORT, which goes to our client) with the
 * case's messages and compares each result with the one wanted; the peer
 * reports the first step that went differently. Nothing leaves 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "send/smtp_reply.h"
#include "send/transport.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/time.h"
#include "util/xalloc.h"

static const char *const outcome_names[] = {"ACCEPTED", "DEFERRED", "FAILED", "SYSTEMIC",
                                            "CONNECTION"};
static const char *const stage_names[] = {"CONNECT", "GREETING", "EHLO", "STARTTLS", "AUTH",
                                          "MAIL",    "RCPT",     "DATA", "DATA_END"};

/* ------------------------------------------------------- the fake relay */

enum step_kind {
	END,
	ACCEPT, /* take the next connection (closing the current one) */
	EXPECT, /* the client sends exactly this */
	BATCH,  /* ... and all of it arrives in one read (one write) */
	QUIET,  /* the client sends nothing for 200 ms (it waits for a reply) */
	SEND,   /* send this */
	BYTES,  /* send this one byte at a time, 1 ms apart */
	HANGUP, /* close the connection */
	EOF_,   /* the client closes the connection (or resets it), sending nothing */
};

struct step {
	enum step_kind kind;
	const char *text;
};

/* clang-format off */
#define S(t)   {SEND, t}
#define C(t)   {EXPECT, t}
#define GREET  {ACCEPT, NULL}, S("220 peer.test ESMTP\r\n")
#define EHLO   C("EHLO test.bulletin.example\r\n")
#define EHLO_P EHLO, S("250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
#define BYE    C("QUIT\r\n"), S("221 2.0.0 bye\r\n"), {EOF_, NULL}
/* clang-format on */
#define MSG(n)    "Subject: t" #n "\r\n\r\nbody " #n "\r\n"
#define WIRE(n)   MSG(n) ".\r\n"
#define TX(n)     "MAIL FROM:<a@x.example>\r\nRCPT TO:<r" #n "@x.example>\r\nDATA\r\n"
#define GO        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"
#define QUEUED(q) "250 2.0.0 Ok: queued as " q "\r\n"

struct peer_run {
	int lfd;
	const struct step *steps;
	char err[1024];
	int conns;
};

/* Printable form of @n bytes at @s (CR, LF, controls escaped), truncated. */
static const char *show(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			o += (size_t)snprintf(out + o, size - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o < size ? o : size - 1] = '\0';
	return out;
}

/* One read with a timeout: bytes read, 0 at EOF or reset, -1 on timeout. */
static ssize_t read_some(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	ssize_t n = recv(fd, buf, cap, 0);
	if (n < 0 && errno == ECONNRESET)
		return 0;
	return n < 0 ? 0 : n;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *peer_main(void *arg)
{
	struct peer_run *p = arg;
	int fd = -1;
	char *in = bl_xmalloc(1 << 16);
	size_t n_in = 0;
	char a[600], b[600];
	size_t i = 0;
	for (const struct step *s = p->steps; s->kind != END; s++, i++) {
		size_t want = s->text ? strlen(s->text) : 0;
		switch (s->kind) {
		case END:
			break;
		case ACCEPT: {
			if (fd >= 0)
				close(fd);
			n_in = 0;
			struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
			if (poll(&pfd, 1, 10000) != 1 || (fd = accept(p->lfd, NULL, NULL)) < 0) {
				snprintf(p->err, sizeof(p->err), "step %zu: no connection came", i);
				goto out;
			}
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			p->conns++;
			break;
		}
		case EXPECT:
		case BATCH: {
			if (s->kind == BATCH && n_in > 0) {
				snprintf(p->err, sizeof(p->err),
				         "step %zu: \"%s\" came before the batch \"%s\"", i,
				         show(in, n_in, a, sizeof(a)),
				         show(s->text, want, b, sizeof(b)));
				goto out;
			}
			int reads = 0;
			while (n_in < want) {
				ssize_t r = read_some(fd, in + n_in, (1 << 16) - n_in, 5000);
				if (r <= 0) {
					snprintf(p->err, sizeof(p->err),
					         "step %zu: %s after \"%s\"; want \"%s\"", i,
					         r < 0 ? "nothing more came" : "the client hung up",
					         show(in, n_in, a, sizeof(a)),
					         show(s->text, want, b, sizeof(b)));
					goto out;
				}
				n_in += (size_t)r;
				reads++;
			}
			if (memcmp(in, s->text, want) != 0) {
				snprintf(p->err, sizeof(p->err),
				         "step %zu: got \"%s\", want \"%s\"", i,
				         show(in, n_in < want ? n_in : want, a, sizeof(a)),
				         show(s->text, want, b, sizeof(b)));
				goto out;
			}
			if (s->kind == BATCH && reads != 1) {
				snprintf(p->err, sizeof(p->err),
				         "step %zu: \"%s\" came in %d reads, want one write", i,
				         show(s->text, want, b, sizeof(b)), reads);
				goto out;
			}
			memmove(in, in + want, n_in - want);
			n_in -= want;
			break;
		}
		case QUIET: {
			ssize_t r = n_in > 0 ? (ssize_t)n_in : read_some(fd, in, 1 << 16, 200);
			if (r > 0) {
				snprintf(p->err, sizeof(p->err),
				         "step %zu: got \"%s\" before the reply it must wait for",
				         i, show(in, (size_t)r, a, sizeof(a)));
				goto out;
			}
			if (r == 0) {
				snprintf(p->err, sizeof(p->err), "step %zu: the client hung up", i);
				goto out;
			}
			break;
		}
		case SEND:
			if (send(fd, s->text, want, MSG_NOSIGNAL) != (ssize_t)want) {
				snprintf(p->err, sizeof(p->err), "step %zu: send: %s", i,
				         strerror(errno));
				goto out;
			}
			break;
		case BYTES:
			for (size_t k = 0; k < want; k++) {
				if (send(fd, s->text + k, 1, MSG_NOSIGNAL) != 1) {
					snprintf(p->err, sizeof(p->err), "step %zu: send: %s", i,
					         strerror(errno));
					goto out;
				}
				sleep_ms(1);
			}
			break;
		case HANGUP:
			close(fd);
			fd = -1;
			n_in = 0;
			break;
		case EOF_: {
			ssize_t r = n_in > 0 ? (ssize_t)n_in : read_some(fd, in, 1 << 16, 5000);
			if (r != 0) {
				snprintf(p->err, sizeof(p->err), "step %zu: %s%s%s, want the end",
				         i, r < 0 ? "the connection stayed open" : "got \"",
				         r < 0 ? "" : show(in, (size_t)r, a, sizeof(a)),
				         r < 0 ? "" : "\"");
				goto out;
			}
			close(fd);
			fd = -1;
			break;
		}
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(in);
	return NULL;
}

/* ---------------------------------------------------------- the cases */

struct want {
	enum bl_send_outcome outcome;
	enum bl_smtp_stage stage;
	int code, in_doubt;
	const char *queue_id; /* NULL: not checked */
	const char *reply;    /* prefix; NULL: not checked */
};

#define OK(q)                                                                                      \
	{                                                                                          \
		BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0, q, NULL                               \
	}

struct tcase {
	const char *name;
	const char *userinfo; /* "user:pass" for the URL, or NULL */
	const char *data[4];  /* the messages (to r1@, r2@, ...); NULL ends */
	int smtputf8;         /* the first message needs SMTPUTF8 */
	struct want want[4];
	const struct step *script;
};

/* Filled in main: a line too long, a reply with too many lines. */
static char long_line[BL_SMTP_LINE_MAX + 100];
static char many_lines[(BL_SMTP_LINES_MAX + 1) * 8 + 16];

static const struct step s_pipelined[] = {
    GREET,
    EHLO_P,
    {BATCH, TX(1)},
    S(GO),
    {BATCH, WIRE(1)},
    S(QUEUED("Q1")),
    {BATCH, TX(2)},
    S(GO),
    {BATCH, WIRE(2)},
    S(QUEUED("Q2")),
    BYE,
    {END, NULL},
};

static const struct step s_lockstep[] = {
    GREET,
    EHLO,
    S("250-peer.test\r\n250 8BITMIME\r\n"),
    C("MAIL FROM:<a@x.example>\r\n"),
    {QUIET, NULL},
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<r1@x.example>\r\n"),
    {QUIET, NULL},
    S("250 2.1.5 Ok\r\n"),
    C("DATA\r\n"),
    {QUIET, NULL},
    S("354 go ahead\r\n"),
    {BATCH, WIRE(1)},
    S(QUEUED("L1")),
    BYE,
    {END, NULL},
};

static const struct step s_rcpt_rset[] = {
    GREET,
    EHLO_P,
    {BATCH, TX(1)},
    S("250 2.1.0 Ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n"),
    C("RSET\r\n"),
    {QUIET, NULL}, /* the next MAIL waits for the RSET's reply */
    S("250 2.0.0 Ok\r\n"),
    {BATCH, TX(2)},
    S(GO),
    {BATCH, WIRE(2)},
    S(QUEUED("R2")),
    BYE,
    {END, NULL},
};

static const struct step s_mail_rset[] = {
    GREET,
    EHLO_P,
    {BATCH, TX(1)},
    S("553 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"),
    C("RSET\r\n"),
    S("250 2.0.0 Ok\r\n"),
    {BATCH, TX(2)},
    S("250 2.1.0 Ok\r\n450 4.2.0 greylisted\r\n554 5.5.1 no valid recipients\r\n"),
    C("RSET\r\n"),
    S("250 2.0.0 Ok\r\n"),
    BYE,
    {END, NULL},
};

static const struct step s_multiline[] = {
    {ACCEPT, NULL},
    S("220-peer.test ESMTP\r\n220-no UCE\r\n220 welcome\r\n"),
    EHLO,
    S("250-peer.test\r\n250-SIZE 1000000\r\n250-PIPELINING\r\n250 HELP\r\n"),
    {BATCH, "MAIL FROM:<a@x.example> SIZE=23\r\nRCPT TO:<r1@x.example>\r\nDATA\r\n"},
    S("250-2.1.0 Ok\r\n250 2.1.0 still Ok\r\n250-2.1.5 Ok\r\n250 fine\r\n354-go\r\n354 "
      "ahead\r\n"),
    {BATCH, WIRE(1)},
    S("250-2.0.0 Ok\r\n250-more text\r\n250 2.0.0 queued as M1\r\n"),
    BYE,
    {END, NULL},
};

static const struct step s_bytewise[] = {
    {ACCEPT, NULL},
    {BYTES, "220 peer.test ESMTP\r\n"},
    EHLO,
    {BYTES, "250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
    {BATCH, TX(1)},
    {BYTES, GO},
    {BATCH, WIRE(1)},
    {BYTES, QUEUED("B1")},
    C("QUIT\r\n"),
    {BYTES, "221 bye\r\n"},
    {EOF_, NULL},
    {END, NULL},
};

static const struct step s_421[] = {
    GREET,
    EHLO_P,
    {BATCH, TX(1)},
    S("250 2.1.0 Ok\r\n421 4.3.2 shutting down\r\n"),
    {HANGUP, NULL},
    /* after the relay's back-off (1 s), the next message tries again */
    GREET,
    EHLO_P,
    {BATCH, TX(2)},
    S(GO),
    {BATCH, WIRE(2)},
    S(QUEUED("N2")),
    BYE,
    {END, NULL},
};

static const struct step s_hangup_dot[] = {
    GREET, EHLO_P, {BATCH, TX(1)}, S(GO), {BATCH, WIRE(1)}, {HANGUP, NULL}, {END, NULL},
};

static const struct step s_idle_hangup[] = {
    GREET,
    EHLO_P,
    {BATCH, TX(1)},
    S(GO),
    {BATCH, WIRE(1)},
    /* 421 right after the verdict: the connection is not used again */
    S(QUEUED("I1") "421 4.4.2 idle for too long\r\n"),
    {HANGUP, NULL},
    GREET,
    EHLO_P,
    {BATCH, TX(2)},
    S(GO),
    {BATCH, WIRE(2)},
    S(QUEUED("I2")),
    {HANGUP, NULL}, /* silently this time: the next message moves on */
    GREET,
    EHLO_P,
    {BATCH, TX(3)},
    S(GO),
    {BATCH, WIRE(3)},
    S(QUEUED("I3")),
    BYE,
    {END, NULL},
};

static const struct step s_dots[] = {
    GREET,
    EHLO_P,
    {BATCH, TX(1)},
    S(GO),
    {BATCH, "..first\r\nmid.dle\r\n...two\r\n\r\n..\r\nend\r\n.\r\n"},
    S(QUEUED("D1")),
    {BATCH, TX(2)},
    S(GO),
    {BATCH, "Subject: x\r\n\r\nno line end\r\n.\r\n"},
    S(QUEUED("D2")),
    {BATCH, "MAIL FROM:<a@x.example> BODY=8BITMIME\r\nRCPT TO:<r3@x.example>\r\nDATA\r\n"},
    S(GO),
    {BATCH, "Subject: \xc3\xa9t\xc3\xa9\r\n\r\n\xc3\xa9\r\n.\r\n"},
    S(QUEUED("D3")),
    BYE,
    {END, NULL},
};

static const struct step s_auth_plain[] = {
    GREET,
    EHLO,
    S("250-peer.test\r\n250-AUTH LOGIN PLAIN\r\n250 PIPELINING\r\n"),
    C("AUTH PLAIN AGxpc3RAeC5leGFtcGxlAHBAc3Mgdw==\r\n"),
    S("235 2.7.0 Authentication successful\r\n"),
    {BATCH, TX(1)},
    S(GO),
    {BATCH, WIRE(1)},
    S(QUEUED("A1")),
    BYE,
    {END, NULL},
};

static const struct step s_auth_login[] = {
    GREET,
    EHLO,
    S("250-peer.test\r\n250-AUTH=LOGIN\r\n250 AUTH LOGIN CRAM-MD5\r\n"),
    C("AUTH LOGIN\r\n"),
    S("334 VXNlcm5hbWU6\r\n"),
    C("bGlzdEB4LmV4YW1wbGU=\r\n"),
    S("334 UGFzc3dvcmQ6\r\n"),
    C("cEBzcyB3\r\n"),
    S("235 2.7.0 ok\r\n"),
    C("MAIL FROM:<a@x.example>\r\n"),
    S("250 ok\r\n"),
    C("RCPT TO:<r1@x.example>\r\n"),
    S("250 ok\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    {BATCH, WIRE(1)},
    S(QUEUED("A2")),
    BYE,
    {END, NULL},
};

static const struct step s_auth_refused[] = {
    GREET,
    EHLO,
    S("250-peer.test\r\n250 AUTH PLAIN\r\n"),
    C("AUTH PLAIN AGxpc3RAeC5leGFtcGxlAHBAc3Mgdw==\r\n"),
    S("535 5.7.8 bad credentials\r\n"),
    BYE,
    {END, NULL},
};

static const struct step s_helo[] = {
    GREET,
    EHLO,
    S("502 5.5.2 what is EHLO\r\n"),
    C("HELO test.bulletin.example\r\n"),
    S("250 peer.test\r\n"),
    C("MAIL FROM:<a@x.example>\r\n"),
    S("250 ok\r\n"),
    C("RCPT TO:<r1@x.example>\r\n"),
    S("250 ok\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    {BATCH, WIRE(1)},
    S("250 ok\r\n"),
    BYE,
    {END, NULL},
};

static const struct step s_long_line[] = {
    GREET, EHLO, S(long_line), {EOF_, NULL}, {END, NULL},
};

static const struct step s_many_lines[] = {
    GREET, EHLO, S(many_lines), {EOF_, NULL}, {END, NULL},
};

static const struct step s_garbage[] = {
    GREET, EHLO, S("250-peer.test\r\nHELLO THERE\r\n"), {EOF_, NULL}, {END, NULL},
};

static const struct step s_greeting_554[] = {
    {ACCEPT, NULL},
    S("554 5.3.2 no service\r\n"),
    {EOF_, NULL},
    {END, NULL},
};

static const struct step s_354_after_refusal[] = {
    GREET,          EHLO_P,
    {BATCH, TX(1)}, S("250 2.1.0 Ok\r\n550 5.1.1 no such user\r\n354 go ahead anyway\r\n"),
    {EOF_, NULL}, /* no message may follow: the connection is dropped */
    {END, NULL},
};

static const struct step s_size_utf8[] = {
    GREET,
    EHLO,
    S("250-peer.test\r\n250-SIZE 20\r\n250 PIPELINING\r\n"),
    /* neither message goes out: SMTPUTF8 is not offered, the other is
     * larger than SIZE */
    BYE,
    {END, NULL},
};

static const struct tcase cases[] = {
    {"PIPELINING: MAIL, RCPT, DATA in one write, the message and its dot in another",
     NULL,
     {MSG(1), MSG(2)},
     0,
     {OK("Q1"), OK("Q2")},
     s_pipelined},
    {"no PIPELINING: lock step", NULL, {MSG(1)}, 0, {OK("L1")}, s_lockstep},
    {"550 at RCPT, RSET, the next message on the same connection",
     NULL,
     {MSG(1), MSG(2)},
     0,
     {{BL_SEND_FAILED, BL_STAGE_RCPT, 550, 0, "", "550 5.1.1 no such user"}, OK("R2")},
     s_rcpt_rset},
    {"553 at MAIL is systemic, 450 at RCPT deferred; RSET after each",
     NULL,
     {MSG(1), MSG(2)},
     0,
     {{BL_SEND_SYSTEMIC, BL_STAGE_MAIL, 553, 0, "", "553 5.7.1 sender refused"},
      {BL_SEND_DEFERRED, BL_STAGE_RCPT, 450, 0, "", "450 4.2.0"}},
     s_mail_rset},
    {"multi-line replies (greeting, MAIL, RCPT, 354, verdict); SIZE= sent",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_ACCEPTED, BL_STAGE_DATA_END, 250, 0, "M1", "250-2.0.0 Ok"}},
     s_multiline},
    {"every reply split byte by byte", NULL, {MSG(1)}, 0, {OK("B1")}, s_bytewise},
    {"421 in the middle of a transaction: CONNECTION, then a new connection",
     NULL,
     {MSG(1), MSG(2)},
     0,
     {{BL_SEND_CONNECTION, BL_STAGE_RCPT, 421, 0, "", "421 4.3.2"}, OK("N2")},
     s_421},
    {"hang-up after the final dot: in doubt",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_CONNECTION, BL_STAGE_DATA_END, 0, 1, "", NULL}},
     s_hangup_dot},
    {"the relay ends an idle connection (421, or silently): no message fails",
     NULL,
     {MSG(1), MSG(2), MSG(3)},
     0,
     {OK("I1"), OK("I2"), OK("I3")},
     s_idle_hangup},
    {"dot-stuffing, a message without a final line end, BODY=8BITMIME",
     NULL,
     {".first\r\nmid.dle\r\n..two\r\n\r\n.\r\nend\r\n", "Subject: x\r\n\r\nno line end",
      "Subject: \xc3\xa9t\xc3\xa9\r\n\r\n\xc3\xa9\r\n"},
     0,
     {OK("D1"), OK("D2"), OK("D3")},
     s_dots},
    {"AUTH PLAIN with the URL's credentials (decoded)",
     "list%40x.example:p%40ss%20w",
     {MSG(1)},
     0,
     {OK("A1")},
     s_auth_plain},
    {"AUTH LOGIN when PLAIN is not offered",
     "list%40x.example:p%40ss%20w",
     {MSG(1)},
     0,
     {OK("A2")},
     s_auth_login},
    {"AUTH refused: systemic, QUIT",
     "list%40x.example:p%40ss%20w",
     {MSG(1)},
     0,
     {{BL_SEND_SYSTEMIC, BL_STAGE_AUTH, 535, 0, "", "535 5.7.8"}},
     s_auth_refused},
    {"EHLO refused: HELO, then lock step", NULL, {MSG(1)}, 0, {OK("")}, s_helo},
    {"a reply line longer than 4096 bytes: protocol error",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_CONNECTION, BL_STAGE_EHLO, 0, 0, "", "protocol error"}},
     s_long_line},
    {"a reply of more than 100 lines: protocol error",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_CONNECTION, BL_STAGE_EHLO, 0, 0, "", "protocol error"}},
     s_many_lines},
    {"a line that is not a reply: protocol error",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_CONNECTION, BL_STAGE_EHLO, 0, 0, "", "protocol error"}},
     s_garbage},
    {"554 greeting: CONNECTION",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_CONNECTION, BL_STAGE_GREETING, 554, 0, "", "554 5.3.2"}},
     s_greeting_554},
    {"354 after a refused recipient: the connection is dropped, no message",
     NULL,
     {MSG(1)},
     0,
     {{BL_SEND_FAILED, BL_STAGE_RCPT, 550, 0, "", "550 5.1.1"}},
     s_354_after_refusal},
    {"SMTPUTF8 not offered, message over SIZE: refused before MAIL",
     NULL,
     {MSG(1), MSG(2)},
     1,
     {{BL_SEND_FAILED, BL_STAGE_MAIL, 0, 0, "", "the relay does not offer SMTPUTF8"},
      {BL_SEND_SYSTEMIC, BL_STAGE_MAIL, 0, 0, "", "the message (23 bytes) is larger"}},
     s_size_utf8},
};

struct results {
	size_t n;
	int done[4];
	struct bl_send_result res[4];
};

static void collect(void *arg, const struct bl_send_result *r)
{
	struct results *rs = arg;
	size_t i = (size_t)(uintptr_t)r->tag;
	if (i >= rs->n || rs->done[i])
		fail_msg("result for unknown or finished message %zu", i);
	rs->done[i] = 1;
	rs->res[i] = *r;
	rs->res[i].relay = NULL;
}

static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void run_case(const struct tcase *tc)
{
	int port = 0;
	struct peer_run pr;
	memset(&pr, 0, sizeof(pr));
	pr.steps = tc->script;
	pr.lfd = listen_loopback(&port);
	assert_true(pr.lfd >= 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, peer_main, &pr), 0);

	char url[256];
	snprintf(url, sizeof(url), "smtp://%s%s127.0.0.1:%d", tc->userinfo ? tc->userinfo : "",
	         tc->userinfo ? "@" : "", port);
	struct bl_transport_opts o;
	bl_transport_opts_init(&o);
	o.concurrency = 1;
	o.timeout = 3;
	o.backoff_min = 1;
	o.backoff_max = 1;
	o.helo = "test.bulletin.example";
	struct bl_transport *t = NULL;
	struct bl_diag d = {""};
	if (bl_transport_create(url, &o, &t, &d) != 0)
		fail_msg("%s: %s", tc->name, d.msg);

	struct results rs;
	memset(&rs, 0, sizeof(rs));
	while (rs.n < 4 && tc->data[rs.n])
		rs.n++;
	size_t next = 0, done = 0;
	double end = bl_monotonic() + 20;
	while (done < rs.n && bl_monotonic() < end) {
		while (next < rs.n && bl_transport_slots(t) > 0) {
			char rcpt[64];
			snprintf(rcpt, sizeof(rcpt), "r%zu@x.example", next + 1);
			struct bl_transport_msg m = {
			    .mail_from = "a@x.example",
			    .rcpt = rcpt,
			    .data = bl_xstrdup(tc->data[next]),
			    .len = strlen(tc->data[next]),
			    .smtputf8 = next == 0 && tc->smtputf8,
			    .tag = (void *)(uintptr_t)next,
			};
			assert_int_equal(bl_transport_submit(t, &m), 0);
			next++;
		}
		int n = bl_transport_poll(t, 100, collect, &rs);
		assert_true(n >= 0);
		done += (size_t)n;
	}
	bl_transport_destroy(t);
	pthread_join(th, NULL);
	close(pr.lfd);

	for (size_t i = 0; i < rs.n; i++) {
		const struct want *w = &tc->want[i];
		const struct bl_send_result *r = &rs.res[i];
		if (!rs.done[i])
			fail_msg("%s: message %zu: no result (peer: %s)", tc->name, i + 1,
			         pr.err[0] ? pr.err : "ok");
		if (r->outcome != w->outcome || r->stage != w->stage || r->code != w->code ||
		    r->in_doubt != w->in_doubt ||
		    (w->queue_id && strcmp(r->queue_id, w->queue_id) != 0) ||
		    (w->reply && strncmp(r->reply, w->reply, strlen(w->reply)) != 0))
			fail_msg("%s: message %zu: got %s at %s, code %d, in_doubt %d, queue id "
			         "\"%s\", \"%s\"; want %s at %s, code %d, in_doubt %d, queue id "
			         "\"%s\", \"%s...\" (peer: %s)",
			         tc->name, i + 1, outcome_names[r->outcome], stage_names[r->stage],
			         r->code, r->in_doubt, r->queue_id, r->reply,
			         outcome_names[w->outcome], stage_names[w->stage], w->code,
			         w->in_doubt, w->queue_id ? w->queue_id : "*",
			         w->reply ? w->reply : "*", pr.err[0] ? pr.err : "ok");
	}
	if (pr.err[0])
		fail_msg("%s: the relay's script: %s", tc->name, pr.err);
}

static void test_transcripts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# %s\n", cases[i].name);
		run_case(&cases[i]);
	}
}

/* ------------------------------------------------------- the parser */

struct preply {
	int code;
	unsigned lines;
	const char *text;
	unsigned ext, auth;
	uint64_t size;
	const char *queue_id;
};

struct pcase {
	const char *in;
	int n_replies; /* complete replies before the end or the error */
	struct preply want[3];
	int error; /* the input ends in a protocol error */
};

static const struct pcase pcases[] = {
    {"250 ok\r\n", 1, {{250, 1, "250 ok", 0, 0, 0, ""}}, 0},
    {"250\r\n", 1, {{250, 1, "250", 0, 0, 0, ""}}, 0},
    {"250 \r\n", 1, {{250, 1, "250 ", 0, 0, 0, ""}}, 0},
    {"250 bare LF\n354 x\r\n",
     2,
     {{250, 1, "250 bare LF", 0, 0, 0, ""}, {354, 1, "354 x", 0, 0, 0, ""}},
     0},
    {"250-peer\r\n250-PIPELINING\r\n250-size 35882577\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
     "250-AUTH=LOGIN\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n",
     1,
     {{250, 8, "250-peer",
       BL_SMTP_EXT_PIPELINING | BL_SMTP_EXT_SIZE | BL_SMTP_EXT_AUTH | BL_SMTP_EXT_STARTTLS |
           BL_SMTP_EXT_SMTPUTF8 | BL_SMTP_EXT_8BITMIME,
       BL_SMTP_AUTH_PLAIN | BL_SMTP_AUTH_LOGIN, 35882577, ""}},
     0},
    /* keywords count on the lines after the first only */
    {"250 PIPELINING\r\n", 1, {{250, 1, "250 PIPELINING", 0, 0, 0, ""}}, 0},
    {"250-x\r\n250-SIZE\r\n250 AUTH XOAUTH2\r\n",
     1,
     {{250, 3, "250-x", BL_SMTP_EXT_SIZE | BL_SMTP_EXT_AUTH, 0, 0, ""}},
     0},
    {"250-x\r\n250 SIZE 99999999999999999999999\r\n",
     1,
     {{250, 2, "250-x", BL_SMTP_EXT_SIZE, 0, UINT64_MAX, ""}},
     0},
    {"250 2.0.0 Ok: queued as 4XyZ-1_a.b.\r\n",
     1,
     {{250, 1, "250 2.0.0 Ok: queued as 4XyZ-1_a.b.", 0, 0, 0, "4XyZ-1_a.b"}},
     0},
    {"250-first\r\n250 OK id=1kABCD-0001Xy-2Z\r\n",
     1,
     {{250, 2, "250-first", 0, 0, 0, "1kABCD-0001Xy-2Z"}},
     0},
    {"250 a\x01"
     "b\x7f\r\n",
     1,
     {{250, 1, "250 a?b?", 0, 0, 0, ""}},
     0},
    {"250-a\r\n251 b\r\n", 0, {{0}}, 1},
    {"2x0 a\r\n", 0, {{0}}, 1},
    {"199 a\r\n", 0, {{0}}, 1},
    {"600 a\r\n", 0, {{0}}, 1},
    {"250_a\r\n", 0, {{0}}, 1},
    {"25\r\n", 0, {{0}}, 1},
    {"\r\n", 0, {{0}}, 1},
    {"250 ok\r\nHELLO\r\n", 1, {{250, 1, "250 ok", 0, 0, 0, ""}}, 1},
    /* incomplete: no reply, no error */
    {"250-a\r\n250 b", 0, {{0}}, 0},
};

/* Feed @in in pieces of @step bytes (0: whole); returns the replies in
 * @out (up to 3) and their number, *@err set on a protocol error. */
static int parse_all(const char *in, size_t len, size_t step, struct bl_smtp_reply *out, int *err)
{
	struct bl_smtp_reply_parser *p = bl_xmalloc(sizeof(*p));
	bl_smtp_reply_parser_init(p);
	int n = 0;
	*err = 0;
	for (size_t off = 0; off < len && !*err;) {
		size_t piece = step && step < len - off ? step : len - off;
		size_t pos = 0;
		while (pos < piece) {
			struct bl_smtp_reply r;
			size_t used;
			int rc = bl_smtp_reply_feed(p, in + off + pos, piece - pos, &used, &r);
			pos += used;
			if (rc < 0) {
				*err = 1;
				break;
			}
			if (rc == 0)
				break;
			if (n < 3)
				out[n] = r;
			n++;
		}
		off += piece;
	}
	free(p);
	return n;
}

static void test_reply_parser(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		size_t len = strlen(c->in);
		/* whole, then cut at every size: the same replies */
		for (size_t step = 0; step <= len; step++) {
			struct bl_smtp_reply got[3];
			int err;
			int n = parse_all(c->in, len, step, got, &err);
			if (n != c->n_replies || err != c->error)
				fail_msg("case %zu, pieces of %zu: %d replies%s; want %d%s", i,
				         step, n, err ? " then an error" : "", c->n_replies,
				         c->error ? " then an error" : "");
			for (int k = 0; k < n && k < 3; k++) {
				const struct preply *w = &c->want[k];
				const struct bl_smtp_reply *g = &got[k];
				if (g->code != w->code || g->lines != w->lines ||
				    strcmp(g->text, w->text) != 0 || g->ext != w->ext ||
				    g->auth != w->auth || g->size != w->size ||
				    strcmp(g->queue_id, w->queue_id) != 0)
					fail_msg(
					    "case %zu, pieces of %zu, reply %d: got %d, %u lines, "
					    "\"%s\", ext %#x, auth %#x, size %llu, id \"%s\"; want "
					    "%d, %u, \"%s\", %#x, %#x, %llu, \"%s\"",
					    i, step, k, g->code, g->lines, g->text, g->ext, g->auth,
					    (unsigned long long)g->size, g->queue_id, w->code,
					    w->lines, w->text, w->ext, w->auth,
					    (unsigned long long)w->size, w->queue_id);
			}
		}
	}

	/* Limits: a line of BL_SMTP_LINE_MAX bytes with its CRLF passes, one
	 * more byte does not; BL_SMTP_LINES_MAX lines pass, one more does not. */
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (int extra = 0; extra < 2; extra++) {
		bl_buf_reset(&b);
		bl_buf_adds(&b, "250 ");
		while (b.len < BL_SMTP_LINE_MAX - 2 + (size_t)extra)
			bl_buf_addc(&b, 'x');
		bl_buf_adds(&b, "\r\n");
		struct bl_smtp_reply got[3];
		int err;
		int n = parse_all(b.data, b.len, 0, got, &err);
		if (n != !extra || err != extra)
			fail_msg("a line of %zu bytes: %d replies, error %d", b.len, n, err);
		bl_buf_reset(&b);
		for (int k = 0; k < BL_SMTP_LINES_MAX - 1 + extra; k++)
			bl_buf_adds(&b, "250-x\r\n");
		bl_buf_adds(&b, "250 x\r\n");
		n = parse_all(b.data, b.len, 0, got, &err);
		if (n != !extra || err != extra)
			fail_msg("a reply of %d lines: %d replies, error %d",
			         BL_SMTP_LINES_MAX + extra, n, err);
		if (!extra && got[0].lines != BL_SMTP_LINES_MAX)
			fail_msg("%u lines counted, want %d", got[0].lines, BL_SMTP_LINES_MAX);
	}
	bl_buf_finish(&b);

	/* The error sticks until init. */
	struct bl_smtp_reply_parser *p = bl_xmalloc(sizeof(*p));
	bl_smtp_reply_parser_init(p);
	struct bl_smtp_reply r;
	size_t used;
	assert_int_equal(bl_smtp_reply_feed(p, "x\r\n", 3, &used, &r), -BL_EINVAL);
	assert_int_equal(bl_smtp_reply_feed(p, "250 ok\r\n", 8, &used, &r), -BL_EINVAL);
	bl_smtp_reply_parser_init(p);
	assert_int_equal(bl_smtp_reply_feed(p, "250 ok\r\n", 8, &used, &r), 1);
	assert_int_equal(used, 8);
	free(p);
}

int main(void)
{
	/* EHLO answered with one line of 5000 bytes, and with 101 lines */
	memcpy(long_line, "250-", 4);
	memset(long_line + 4, 'x', sizeof(long_line) - 8);
	memcpy(long_line + sizeof(long_line) - 4, "\r\n", 3);
	size_t o = 0;
	for (int i = 0; i < BL_SMTP_LINES_MAX; i++)
		o += (size_t)snprintf(many_lines + o, sizeof(many_lines) - o, "250-x\r\n");
	snprintf(many_lines + o, sizeof(many_lines) - o, "250 x\r\n");

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_parser),
	    cmocka_unit_test(test_transcripts),
	};
	return cmocka_run_group_tests_name("smtp/smtpc", tests, NULL, NULL);
}
