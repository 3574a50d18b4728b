/*
 * Transports: how a rendered message leaves bulletin. One interface, two
 * kinds, chosen by URL:
 *   smtp://[user:pass@]host[:port]   SMTP relay (STARTTLS per opts)
 *   smtps://[user:pass@]host[:port]  SMTP over TLS
 *   maildir:PATH                     files in a maildir (tmp/ then new/)
 * Several comma-separated relays make one transport (a comma inside a
 * password is written %2C; a maildir path cannot hold one): messages go to
 * the first healthy relay; a relay with a connection-level failure backs
 * off (backoff_min, doubling up to backoff_max) while the next one is used,
 * and when its wait is over one message tries it again (or
 * bl_transport_probe does), which makes it healthy or doubles the wait.
 * The transport is asynchronous and single-threaded: the engine submits
 * messages while there are free slots and polls for results. One recipient
 * per SMTP transaction; connections are reused. The transport never
 * retries a message itself: every submitted message gets exactly one
 * result, which says what the relay answered, and the engine decides
 * (DESIGN.md §Delivery).
 *
 * Two SMTP clients, one behaviour. An smtp:// relay where TLS is not in
 * play goes through bulletin's own client (smtpc.c: PIPELINING, RFC 2920,
 * two writes per message; RSET after a failed transaction, RFC 5321
 * 4.1.1.5, keeping the connection): when `starttls` is OFF (no
 * credentials to send in the clear unless the relay is on loopback), or
 * when the host is on loopback (127.0.0.0/8, ::1, "localhost"; TLS there
 * protects nothing) and `starttls` is not REQUIRED. On loopback, then,
 * OPPORTUNISTIC means no STARTTLS, and credentials go in the clear; a
 * relay that will not take mail or AUTH there without TLS needs
 * `starttls` REQUIRED. Every other relay (smtps://, STARTTLS possible
 * off loopback, REQUIRED) goes through libcurl (smtp.c), which closes the
 * connection (QUIT) after a failure before the end of DATA instead of
 * RSET. Both sort replies into the outcomes below the same way; after a
 * refusal at the end of DATA both keep the connection (RFC 5321 4.1.1.4).
 */
#ifndef BL_SEND_TRANSPORT_H
#define BL_SEND_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum bl_send_outcome {
	BL_SEND_ACCEPTED,   /* 2xx after the end of DATA: the relay took it */
	BL_SEND_DEFERRED,   /* 4xx at RCPT or DATA (not 421): try this row again later */
	BL_SEND_FAILED,     /* 5xx at RCPT or DATA: this row failed for good. Also, with
	                       code 0, an SMTPUTF8 message for a relay that lacks it */
	BL_SEND_SYSTEMIC,   /* 5xx at EHLO/MAIL FROM/AUTH, or STARTTLS required but not
	                       offered: the post must pause; no recipient fails */
	BL_SEND_CONNECTION, /* connect/TLS error, timeout, 421, hang-up before a final
	                       reply, 4xx at greeting/EHLO/STARTTLS/AUTH/MAIL FROM (the
	                       relay, not the recipient, is unwell): the message was not
	                       delivered (or is in doubt when the connection dropped after
	                       the end of DATA — then `in_doubt` is set); the row goes back
	                       to the queue and the relay backs off */
};

enum bl_smtp_stage {
	BL_STAGE_CONNECT,
	BL_STAGE_GREETING,
	BL_STAGE_EHLO,
	BL_STAGE_STARTTLS,
	BL_STAGE_AUTH,
	BL_STAGE_MAIL,
	BL_STAGE_RCPT,
	BL_STAGE_DATA,    /* the DATA command */
	BL_STAGE_DATA_END /* the reply after the final "." */
};

struct bl_send_result {
	void *tag; /* the caller's, from bl_transport_msg */
	enum bl_send_outcome outcome;
	enum bl_smtp_stage stage; /* where it ended */
	int code;                 /* SMTP reply code; 0 when there was none */
	int in_doubt;             /* CONNECTION after the whole message was sent */
	char reply[256];          /* the relay's reply text (first line), or the local error */
	char queue_id[64];        /* from "250 ... queued as ID" (Postfix) or "id=ID" (Exim)
	                             when the relay says it; the file name for maildir; else "" */
	const char *relay;        /* the relay's URL without credentials; valid for the
	                             transport's lifetime */
};

struct bl_transport_msg {
	const char *mail_from; /* envelope sender (VERP), ASCII; "" is the null sender <> */
	const char *rcpt;      /* one envelope recipient, without <> */
	char *data;            /* the message, CRLF line ends (no lone CR or LF), ending in
	                          CRLF, not dot-stuffed; the transport takes ownership (free()) */
	size_t len;            /* bytes of @data */
	int smtputf8;          /* the addresses need SMTPUTF8 (RFC 6531) */
	void *tag;             /* handed back in the result */
};

/*
 * STARTTLS (RFC 3207) on smtp:// relays (smtps:// is TLS from the start):
 * OPPORTUNISTIC uses it when the relay offers it, except that a relay with
 * credentials in its URL must offer it (passwords never go out in the
 * clear), and that on a loopback relay it is never used (see the top);
 * REQUIRED fails systemically when it is not offered, loopback or not;
 * OFF never uses it (and sends credentials in the clear, if any).
 */
enum bl_starttls { BL_STARTTLS_OPPORTUNISTIC, BL_STARTTLS_REQUIRED, BL_STARTTLS_OFF };

/* Which SMTP client sends to smtp:// relays (see the top). */
enum bl_smtp_client {
	BL_SMTP_CLIENT_AUTO,    /* bulletin's own where TLS is not in play, else libcurl */
	BL_SMTP_CLIENT_LIBCURL, /* libcurl for every relay: for tests and benchmarks that
	                           compare the two (not a configuration setting) */
};

struct bl_transport_opts {
	int concurrency;   /* connections (messages in flight) at most, >= 1 */
	double rate_limit; /* messages/s over the whole transport; 0 = none */
	enum bl_starttls starttls;
	int timeout;                /* seconds per SMTP command/reply and for connecting */
	int backoff_min;            /* seconds before the first probe of a failed relay */
	int backoff_max;            /* longest wait between probes, seconds */
	const char *helo;           /* EHLO name; NULL = the host name */
	int tls_verify;             /* verify the relay's certificate (default on) */
	enum bl_smtp_client client; /* default AUTO */
};

/*
 * bl_transport_opts_init - fill @o with the defaults: concurrency 4, no rate
 * limit, opportunistic STARTTLS, timeout 60 s, back-off 30..1800 s, the host
 * name for EHLO, certificates verified, the SMTP client chosen per relay. Start from this, not from
 * zeros (zeros are refused, and tls_verify 0 would turn verification off).
 */
void bl_transport_opts_init(struct bl_transport_opts *o);

typedef void (*bl_send_result_fn)(void *arg, const struct bl_send_result *r);

struct bl_transport;

/*
 * bl_transport_create - parse @urls (comma-separated, see above; at most
 * 32) and prepare the transport with @opts (NULL: the defaults); maildirs
 * are created (with tmp/, new/, cur/), no connection is made yet. Returns
 * 0 with *@out set (free with bl_transport_destroy), -BL_EINVAL for a
 * malformed or unsupported URL or option out of range (@d says which; the
 * limits: concurrency 1..1000, timeout 1..3600 s, 1 <= backoff_min <=
 * backoff_max), -BL_ELIMIT for too many relays, -BL_EIO when a maildir
 * cannot be created or libcurl cannot start.
 */
int bl_transport_create(const char *urls, const struct bl_transport_opts *opts,
                        struct bl_transport **out, struct bl_diag *d);

/*
 * bl_transport_destroy - close every connection (QUIT where possible) and
 * free. Messages still in flight get no result; their connections are cut
 * without ending the DATA, so none of them is delivered, unless its final
 * "." had already gone out (then it may have been: in doubt). NULL-safe.
 */
void bl_transport_destroy(struct bl_transport *t);

/*
 * bl_transport_slots - how many more messages bl_transport_submit would take
 * now: free connections under `concurrency` on usable relays, also bounded
 * by the rate limit (a token bucket holding up to rate_limit/10 messages,
 * at least 1). 0 while every relay is backing off; 1 while the best relay
 * left is a backing-off one whose wait is over (one message tries it).
 */
size_t bl_transport_slots(struct bl_transport *t);

/*
 * bl_transport_submit - start sending @m. Returns 0 (the result comes
 * through bl_transport_poll; a maildir writes the file at once and reports
 * it at the next poll) and sets @m->data to NULL; -BL_EBUSY when there is
 * no free slot; -BL_EINVAL when an address holds a control byte, '<' or
 * '>', the data is empty or has a lone CR or LF; -BL_EIO when libcurl
 * refuses the transfer. On error @m->data is still the caller's; the
 * addresses are copied (they need not outlive the call).
 */
int bl_transport_submit(struct bl_transport *t, struct bl_transport_msg *m);

/*
 * bl_transport_poll - do I/O for up to @timeout_ms milliseconds (0: only
 * what is ready) and call @fn once per message finished since the last
 * call, in no particular order. Returns early once some message finished,
 * or, while bl_transport_slots is 0, once it would not be (a rate-limit
 * token, a back-off over). @fn may call bl_transport_submit; the result @r
 * is valid during the call only. Returns the number of results reported
 * (>= 0), or -BL_EIO when libcurl's multi handle or poll(2) failed.
 */
int bl_transport_poll(struct bl_transport *t, int timeout_ms, bl_send_result_fn fn, void *arg);

/* bl_transport_in_flight - messages submitted and not yet reported. */
size_t bl_transport_in_flight(const struct bl_transport *t);

/*
 * bl_transport_next_probe - when every relay is backing off, the time
 * (seconds since the epoch) of the next probe; 0 when some relay is usable.
 */
int64_t bl_transport_next_probe(const struct bl_transport *t);

/*
 * bl_transport_probe - connect to the relays that are backing off and due
 * (and not being tried by a message), and check they greet with 2xx and
 * answer EHLO (STARTTLS and AUTH as for messages), then MAIL FROM
 * <@mail_from> with 2xx and RSET (NOOP when @mail_from is NULL), each
 * relay within @timeout_ms; a maildir is checked for writable tmp/ and new/.
 * A relay that passes is healthy again; one that fails waits twice as long.
 * Returns 1 when some relay is usable afterwards, 0 when none is. Blocking.
 */
int bl_transport_probe(struct bl_transport *t, const char *mail_from, int timeout_ms);

/*
 * bl_transport_probe_sender - after a 5xx at MAIL FROM (a systemic refusal,
 * which does not mark the relay down): ask each usable relay whether it now
 * takes MAIL FROM:<@mail_from> (then RSET; nothing is sent), up to
 * @timeout_ms each. Returns 1 as soon as one does, else 0. Blocking.
 */
int bl_transport_probe_sender(struct bl_transport *t, const char *mail_from, int timeout_ms);

#endif
