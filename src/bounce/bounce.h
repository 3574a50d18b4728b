/*
 * Bounce and complaint classification (issue 7): what a report that came
 * back means. bl_bounce_analyze turns one raw message (a DSN, a
 * non-standard MTA bounce, an RFC 3834 auto-reply, an ARF complaint) into
 * per-recipient findings with a class and a finer reason; the finding's
 * class decides the policy (src/bounce/policy.h). Parsing of the MIME
 * structure is src/mime/report.h; this module reads its result, adds the
 * text heuristics for MTAs that do not send RFC 3464 reports (qmail,
 * Exchange, old sendmail, the big providers), and classifies status codes
 * (RFC 3463) and diagnostic texts.
 */
#ifndef BL_BOUNCE_BOUNCE_H
#define BL_BOUNCE_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h" /* enum bl_bounce_class */
#include "util/err.h"

/* Bytes of a finding's fixed-size fields with their NUL. */
#define BL_BOUNCE_REASON_MAX 32
#define BL_BOUNCE_STATUS_MAX 16

/* One recipient's finding. Strings are owned (bl_bounce_report_clear), never NULL. */
struct bl_bounce_finding {
	char *recipient; /* the address that failed or complained, as reported; "" unknown */
	enum bl_bounce_class cls;
	/* finer reason, lowercase: userunknown, hostunknown, mailboxfull, expired, blocked,
	   spamdetected, policyviolation, feedback, vacation, ... (docs/bounces.md lists them) */
	char reason[BL_BOUNCE_REASON_MAX];
	char status[BL_BOUNCE_STATUS_MAX]; /* RFC 3463 "5.1.1", "" when none was found */
	int reply_code;                    /* SMTP reply code (550), 0 when none */
	int final;           /* 1: delivery ended (Action failed / a bounce); 0: a delay warning */
	char *diagnostic;    /* the diagnostic text, UTF-8, at most 1000 bytes, "" */
	char *feedback_type; /* complaints: RFC 5965 Feedback-Type, lowercase; "" otherwise */
};

/* What kind of message a report is, as a whole. */
enum bl_report_kind {
	BL_REPORT_KIND_DSN,       /* RFC 3464 multipart/report */
	BL_REPORT_KIND_BOUNCE,    /* a non-standard bounce read by text heuristics */
	BL_REPORT_KIND_ARF,       /* RFC 5965 feedback report, or a provider's non-ARF complaint */
	BL_REPORT_KIND_AUTOREPLY, /* RFC 3834 auto-reply / vacation */
	BL_REPORT_KIND_OTHER      /* not a report (a person's reply, an unsubscribe request...) */
};
/* "dsn"/"bounce"/"arf"/"auto-reply"/"other" */
const char *bl_report_kind_name(enum bl_report_kind k);

/* Most findings kept from one report (the first ones, in report order). */
#define BL_BOUNCE_MAX_FINDINGS 100

/* Bytes of a report key with its NUL: 64 hex digits. */
#define BL_REPORT_KEY_MAX 65

/* One analysed report. Strings are owned, never NULL. */
struct bl_bounce_report {
	enum bl_report_kind kind;
	struct bl_bounce_finding *findings; /* one per recipient, in report order */
	size_t n_findings;
	/* attribution hints (src/bounce/attribute.h reads them) */
	char *envelope_to; /* the address the report was sent to: the envelope recipient given
	                      by the intake, else X-Original-To / Delivered-To / Envelope-To / To
	                      that looks like bounces+TOKEN@...; "" */
	char *original_message_id; /* Message-ID of the returned original, no <>; "" */
	char *original_list_id;    /* List-Id of the returned original, "" */
	char *original_to;         /* To of the returned original (an address), "" */
	/* dedupe: hex SHA-256 of "mail:" + the report's own Message-ID (no <>) when it has one,
	   else of "mail-bytes:" + its bytes (line ends normalised), so the same report delivered
	   twice has the same key; a webhook event's is of "ses:", "postmark:", "sendgrid:" or
	   "mailgun:" + the provider's event id (webhook.h), so the sources never collide */
	char key[BL_REPORT_KEY_MAX];
	char *subject; /* the report's Subject, UTF-8, for the review bucket */
	char *from;    /* the report's From address, "" */
};

/*
 * bl_bounce_analyze - read @len bytes of @msg (any line ends) and fill caller-owned @out.
 * @envelope_to: the envelope recipient the MTA delivered the report to (Postfix pipe
 * ${original_recipient}), or NULL. Returns 0 with @out filled (free with
 * bl_bounce_report_clear), also for a message that is no report (kind OTHER, no findings);
 * At most BL_BOUNCE_MAX_FINDINGS findings (the first). -BL_ELIMIT for a message over
 * BL_REPORT_MAX_BYTES, -BL_EINVAL for bytes with no header
 * block (@d says why). Never fails because of a charset or a broken MIME structure.
 * Thread-safe.
 */
int bl_bounce_analyze(const char *msg, size_t len, const char *envelope_to,
                      struct bl_bounce_report *out, struct bl_diag *d);

/* bl_bounce_report_clear - free everything @r owns and zero it. NULL-safe. */
void bl_bounce_report_clear(struct bl_bounce_report *r);

/*
 * bl_bounce_classify - the class and reason of one failure from what an SMTP server or a
 * DSN said: @status an RFC 3463 code ("5.1.1", NULL or "" when none), @reply_code the SMTP
 * reply code (0 when none), @diagnostic the text (NULL or ""). The text decides when it is
 * more specific than the code (a "550 5.7.1 mailbox unavailable" is userunknown...). Writes
 * the reason into @reason (BL_BOUNCE_REASON_MAX bytes) and returns the class. Used for DSN
 * records, heuristic bounces, webhook events and the engine's synchronous 5xx replies alike.
 */
enum bl_bounce_class bl_bounce_classify(const char *status, int reply_code, const char *diagnostic,
                                        char reason[BL_BOUNCE_REASON_MAX]);

/*
 * bl_bounce_account_refusal - 1 when @text (an SMTP reply or a diagnostic, any case) refuses
 * bulletin's own sending account rather than a recipient: a sending quota or rate
 * exceeded, a paused or suspended sending account (the account phrases of classify.c,
 * which bl_bounce_classify makes a block); else 0. The delivery engine pauses a post on
 * such a refusal at RCPT or DATA instead of failing the recipient.
 */
int bl_bounce_account_refusal(const char *text);

/*
 * bl_bounce_status_from_text - the first RFC 3463 enhanced status code of class 4 or 5 in
 * @text, else its first of class 2 (a transcript quotes successes before the failure),
 * written to @out (BL_BOUNCE_STATUS_MAX bytes); 1 when found, else 0 and "".
 */
int bl_bounce_status_from_text(const char *text, char out[BL_BOUNCE_STATUS_MAX]);

#endif
