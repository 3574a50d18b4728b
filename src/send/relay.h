/*
 * Inside the transport (src/send only; the engine uses transport.h): one
 * relay of a transport and the kinds that deliver to it. transport.c owns
 * the relay list, health (back-off) and the rate limit, and picks the SMTP
 * client per relay (transport.h says which): smtpc.c is bulletin's own
 * client (non-blocking sockets, PIPELINING, no TLS) for relays where TLS is
 * not in play; smtp.c drives libcurl's multi interface (the only file that
 * includes curl.h) for the others; maildir.c writes files. All report
 * through struct bl_send_result, so transport.c sees every outcome in one
 * place and keeps each relay's health from it. The two SMTP clients sort
 * replies into outcomes the same way (tests/smtp/test_transport.c runs
 * each case against both).
 */
#ifndef BL_SEND_RELAY_H
#define BL_SEND_RELAY_H

#include <stddef.h>

#include "send/transport.h"
#include "util/err.h"

enum bl_relay_kind { BL_RELAY_SMTP, BL_RELAY_MAILDIR };

struct bl_relay {
	enum bl_relay_kind kind;
	char *url;  /* shown in results and messages: no credentials */
	char *path; /* maildir: the directory */
	/* smtp: */
	char *curl_url; /* smtp[s]://host:port/HELO for libcurl, no credentials */
	char *host;     /* the host as in the URL, without an IPv6 literal's [] */
	char *port;     /* decimal; the scheme's default when the URL has none */
	int smtps;      /* smtps:// (TLS from the first byte) */
	int loopback;   /* host is 127.0.0.0/8, ::1 or "localhost" (bl_relay_loopback) */
	int own;        /* sent by smtpc.c (bulletin's client), not by smtp.c (libcurl) */
	char *user;     /* decoded userinfo, NULL without AUTH */
	char *pass;
	int smtputf8; /* from the last EHLO seen: -1 unknown, 0 no, 1 yes (RFC 6531) */
	/* health, kept by transport.c: */
	int down;         /* backing off after a connection-level failure */
	int trial;        /* down, due, and one message is in flight to try it */
	int delay;        /* current back-off, seconds; 0 while healthy */
	double next_try;  /* when down: bl_monotonic() time the back-off ends */
	size_t in_flight; /* messages submitted to this relay and not reported */
};

/*
 * bl_smtp_parse - fill the smtp fields of @r from @url ("smtp://" or
 * "smtps://", optional percent-encoded user:password, host, optional port;
 * no path, query or fragment) with @helo as the EHLO name (NULL: the host
 * name). Sets url, curl_url, host, port, smtps, user and pass (`loopback`
 * and `own` are transport.c's). Returns 0 or -BL_EINVAL (@d says why); the strings
 * it sets are the caller's to free(), also on error.
 */
int bl_smtp_parse(struct bl_relay *r, const char *url, const char *helo, struct bl_diag *d);

/*
 * bl_relay_loopback - 1 when @host (as in a URL; an IPv6 literal with or
 * without []) names this machine over loopback: an IPv4 literal in
 * 127.0.0.0/8, ::1 or ::ffff:127.x.y.z, or "localhost" (any case, an
 * optional final dot; smtpc.c then connects only to the loopback
 * addresses it resolves to). Else 0.
 */
int bl_relay_loopback(const char *host);

/* What smtp.c and smtpc.c report for one finished message. */
struct bl_smtp_done {
	struct bl_send_result res;
	struct bl_relay *relay;
	int trial;     /* as given to bl_smtp_start */
	int ehlo_seen; /* a new connection said EHLO during this message... */
	int smtputf8;  /* ...and announced SMTPUTF8 */
};

typedef void (*bl_smtp_done_fn)(void *arg, const struct bl_smtp_done *done);

struct bl_smtp;

/*
 * bl_smtp_create - @slots libcurl easy handles under one multi handle,
 * their connections kept between messages. @o must outlive the engine.
 * Returns NULL only when libcurl cannot start (the caller reports -BL_EIO).
 */
struct bl_smtp *bl_smtp_create(size_t slots, const struct bl_transport_opts *o);

/* bl_smtp_destroy - QUIT and close every connection; drops messages in flight. NULL-safe. */
void bl_smtp_destroy(struct bl_smtp *s);

/*
 * bl_smtp_start - send @m to @r on a free slot; takes @m->data (freed when
 * the message finishes). @trial is handed back in the result. Returns 0,
 * -BL_EBUSY when every slot is taken, -BL_EIO when libcurl refused the
 * transfer (in both cases the data stays the caller's).
 */
int bl_smtp_start(struct bl_smtp *s, struct bl_relay *r, struct bl_transport_msg *m, int trial);

/* bl_smtp_busy - slots sending a message now. NULL-safe (0). */
size_t bl_smtp_busy(const struct bl_smtp *s);

/*
 * bl_smtp_poll - run libcurl for up to @timeout_ms (0: only what is ready),
 * returning as soon as some message finished; @fn gets each one. Returns
 * the number finished, or -BL_EIO when the multi handle failed.
 */
int bl_smtp_poll(struct bl_smtp *s, int timeout_ms, bl_smtp_done_fn fn, void *arg);

/*
 * bl_smtp_probe - a separate, blocking connection to @r: greeting, EHLO
 * (STARTTLS and AUTH per options), then MAIL FROM:<@mail_from> and RSET
 * (NOOP when @mail_from is NULL), QUIT; at most @timeout_ms. Returns 1 when
 * every reply was positive, 0 when not (@why says what happened).
 */
int bl_smtp_probe(struct bl_relay *r, const struct bl_transport_opts *o, const char *mail_from,
                  int timeout_ms, char *why, size_t why_len);

/*
 * bulletin's own SMTP client (smtpc.c), the same role as bl_smtp_* for the
 * relays transport.c gives it (`own`): plain TCP, no TLS. At most @slots
 * connections, each carrying one message at a time and kept for the next
 * (closed after 30 s unused, or at once on 421). With PIPELINING (RFC
 * 2920) MAIL FROM, RCPT TO and DATA leave in one write and the
 * dot-stuffed message with its final "." in a second; without it, lock
 * step. A transaction that fails before its end is closed with RSET
 * (RFC 5321 4.1.1.5) and the connection kept. Outcomes as smtp.c sorts
 * them (transport.h). Credentials (AUTH PLAIN, else LOGIN; RFC 4954,
 * 4616) go only to loopback relays, and only when the relay offers AUTH.
 */
struct bl_smtpc;

/*
 * bl_smtpc_create - a client for up to @slots messages (and connections) at
 * once, with @o's timeout and EHLO name (NULL: the host name). @o must
 * outlive the client. Never fails (allocation failure aborts).
 */
struct bl_smtpc *bl_smtpc_create(size_t slots, const struct bl_transport_opts *o);

/*
 * bl_smtpc_destroy - messages in flight get no result and their
 * connections are cut at once (reset), so none of them reaches the relay
 * whole unless its final "." had gone out (in doubt); idle connections get
 * QUIT (RFC 5321 4.1.1.10), waiting at most 0.5 s for the relays' 221.
 * NULL-safe.
 */
void bl_smtpc_destroy(struct bl_smtpc *s);

/*
 * bl_smtpc_start - send @m to @r (its `host`, `port`, credentials) on an
 * idle connection to @r, else a new one, else after the RSET in progress
 * on one; takes @m->data (freed when the message finishes) and copies the
 * addresses. @trial is handed back in the result. Returns 0 (the result
 * comes through bl_smtpc_poll, also when sending failed at once) or
 * -BL_EBUSY when @slots messages are in flight (the data stays the
 * caller's).
 */
int bl_smtpc_start(struct bl_smtpc *s, struct bl_relay *r, struct bl_transport_msg *m, int trial);

/* bl_smtpc_busy - messages in flight. NULL-safe (0). */
size_t bl_smtpc_busy(const struct bl_smtpc *s);

/*
 * bl_smtpc_poll - do the I/O that is ready and wait up to @timeout_ms
 * milliseconds (0: none) for more, returning as soon as some message
 * finished; @fn gets each one (it must not call back into @s). Also closes
 * connections idle for 30 s or hung up by the relay, so it is worth calling
 * with no message in flight. Returns the number finished, or -BL_EIO when
 * poll(2) failed.
 */
int bl_smtpc_poll(struct bl_smtpc *s, int timeout_ms, bl_smtp_done_fn fn, void *arg);

/*
 * bl_smtpc_probe - as bl_smtp_probe, with bulletin's client: a separate
 * connection to @r, greeting, EHLO, AUTH as for messages, then MAIL
 * FROM:<@mail_from> and RSET (NOOP when @mail_from is NULL; "<>" is the
 * null sender), QUIT; blocking, at most @timeout_ms. Returns 1 when every
 * reply was positive, 0 when not (@why says what happened).
 */
int bl_smtpc_probe(struct bl_relay *r, const struct bl_transport_opts *o, const char *mail_from,
                   int timeout_ms, char *why, size_t why_len);

/*
 * bl_maildir_prepare - create @path and its tmp/, new/ and cur/ (mode 0700,
 * existing ones are fine). Returns 0 or -BL_EIO (@d names the directory).
 */
int bl_maildir_prepare(const char *path, struct bl_diag *d);

/*
 * bl_maildir_deliver - write @m to @path/tmp/NAME, fsync it, rename it to
 * @path/new/NAME and fsync new/: the file appears whole or not at all. The
 * file is "Return-Path: <from>" and "Delivered-To: <rcpt>" header lines (as
 * an MDA adds them; CRLF) followed by @m->data byte for byte. Fills @res:
 * ACCEPTED with queue_id NAME, or CONNECTION with the system error (nothing
 * is left behind). Does not take @m->data.
 */
void bl_maildir_deliver(const char *path, const struct bl_transport_msg *m,
                        struct bl_send_result *res);

/* bl_maildir_probe - 1 when @path/tmp and @path/new are writable, else 0 (@why says why). */
int bl_maildir_probe(const char *path, char *why, size_t why_len);

#endif
