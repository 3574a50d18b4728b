/*
 * Inside the transport (src/send only; the engine uses transport.h): one
 * relay of a transport and the two kinds that deliver to it. transport.c
 * owns the relay list, health (back-off) and the rate limit; smtp.c drives
 * libcurl's multi interface (the only file that includes curl.h); maildir.c
 * writes files. Both report through struct bl_send_result, so transport.c
 * sees every outcome in one place and keeps each relay's health from it.
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
 * no path, query or fragment) with @helo as the EHLO name (NULL: libcurl
 * uses the host name). Returns 0 or -BL_EINVAL (@d says why); the strings
 * it sets are the caller's to free(), also on error.
 */
int bl_smtp_parse(struct bl_relay *r, const char *url, const char *helo, struct bl_diag *d);

/* What smtp.c reports for one finished message. */
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
