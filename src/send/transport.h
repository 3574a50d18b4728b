/*
 * Transports: how a rendered message leaves bulletin. One interface, two
 * kinds, chosen by URL:
 *   smtp://[user:pass@]host[:port]   SMTP relay (STARTTLS per opts)
 *   smtps://[user:pass@]host[:port]  SMTP over TLS
 *   maildir:PATH                     files in a maildir (tmp/ then new/)
 * Several comma-separated relays make one transport: on a connection-level
 * failure the next relay is used and the failed one probed with back-off.
 * The transport is asynchronous and single-threaded: the engine submits
 * messages while there are free slots and polls for results. One recipient
 * per SMTP transaction; connections are reused; a failed transaction is
 * followed by RSET (or a fresh connection). The transport never retries a
 * message itself: every submitted message gets exactly one result, which
 * says what the relay answered, and the engine decides (DESIGN.md §Delivery).
 */
#ifndef BL_SEND_TRANSPORT_H
#define BL_SEND_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum bl_send_outcome {
	BL_SEND_ACCEPTED,   /* 2xx after the end of DATA: the relay took it */
	BL_SEND_DEFERRED,   /* 4xx at RCPT or DATA (not 421): try this row again later */
	BL_SEND_FAILED,     /* 5xx at RCPT or DATA: this row failed for good */
	BL_SEND_SYSTEMIC,   /* 5xx at EHLO/MAIL FROM/AUTH, or STARTTLS required but not
	                       offered: the post must pause; no recipient fails */
	BL_SEND_CONNECTION, /* connect/TLS error, timeout, 421, hang-up before a final
	                       reply: the message was not delivered (or is in doubt when the
	                       connection dropped after the end of DATA — then
	                       `in_doubt` is set); the row goes back to the queue */
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
	char queue_id[64];        /* from "250 ... queued as ID" when the relay says it; else "" */
	const char *relay;        /* the relay's URL without credentials; valid for the
	                             transport's lifetime */
};

struct bl_transport_msg {
	const char *mail_from; /* envelope sender (VERP), ASCII */
	const char *rcpt;      /* one envelope recipient */
	char *data;            /* the message, CRLF line ends, not dot-stuffed; the transport
	                          takes ownership (free()) */
	size_t len;            /* bytes of @data */
	int smtputf8;          /* the addresses need SMTPUTF8 (RFC 6531) */
	void *tag;             /* handed back in the result */
};

enum bl_starttls { BL_STARTTLS_OPPORTUNISTIC, BL_STARTTLS_REQUIRED, BL_STARTTLS_OFF };

struct bl_transport_opts {
	int concurrency;   /* connections (messages in flight) at most, >= 1 */
	double rate_limit; /* messages/s over the whole transport; 0 = none */
	enum bl_starttls starttls;
	int timeout;      /* seconds per SMTP command/reply and for connecting */
	int backoff_min;  /* seconds before the first probe of a failed relay */
	int backoff_max;  /* longest wait between probes, seconds */
	const char *helo; /* EHLO name; NULL = the host name */
	int tls_verify;   /* verify the relay's certificate (default on) */
};

typedef void (*bl_send_result_fn)(void *arg, const struct bl_send_result *r);

struct bl_transport;

/*
 * bl_transport_create - parse @urls (comma-separated, see above) and
 * prepare the transport; no connection is made yet. Returns 0 with *@out
 * set (free with bl_transport_destroy), -BL_EINVAL for a malformed or
 * unsupported URL (@d names it), -BL_EIO when a maildir cannot be created.
 */
int bl_transport_create(const char *urls, const struct bl_transport_opts *opts,
                        struct bl_transport **out, struct bl_diag *d);

/*
 * bl_transport_destroy - close every connection (QUIT where possible) and
 * free; messages still in flight get no result. NULL-safe.
 */
void bl_transport_destroy(struct bl_transport *t);

/*
 * bl_transport_slots - how many more messages bl_transport_submit would take
 * now: free connections under `concurrency` on usable relays, also bounded
 * by the rate limit. 0 while every relay is backing off.
 */
size_t bl_transport_slots(struct bl_transport *t);

/*
 * bl_transport_submit - start sending @m. Returns 0 (the result comes
 * through bl_transport_poll, or at once for maildir), or -BL_EBUSY when
 * there is no free slot (@m->data is then still the caller's).
 */
int bl_transport_submit(struct bl_transport *t, struct bl_transport_msg *m);

/*
 * bl_transport_poll - do I/O for up to @timeout_ms milliseconds (0: only
 * what is ready) and call @fn once per message finished since the last
 * call, in no particular order. Returns the number of results reported
 * (>= 0), or a negative -BL_E* for a local failure of the transport itself.
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
 * bl_transport_probe - connect to the relays that are backing off and due,
 * and check they greet with 220 and answer EHLO (and MAIL FROM @mail_from
 * with 250, then RSET), up to @timeout_ms. Returns 1 when some relay is
 * usable afterwards, 0 when none is, negative on a local error. Blocking.
 */
int bl_transport_probe(struct bl_transport *t, const char *mail_from, int timeout_ms);

#endif
