/*
 * Reading a report that came back to bulletin — a delivery status
 * notification, a non-standard bounce, an auto-reply or a feedback-loop
 * complaint — into its MIME structure with GMime 3 (this module and
 * message.c are the only ones that include gmime.h). Nothing here decides
 * what the report means: src/bounce reads this structure, classifies it and
 * attributes it. Follows RFC 3464 (message/delivery-status), RFC 6522
 * (multipart/report), RFC 5965 and RFC 6591 (message/feedback-report),
 * RFC 3834 (Auto-Submitted). Lenient: LF, CRLF and CR-only line ends, a
 * missing or broken MIME structure, an unknown or lying charset (text is
 * decoded as declared, else UTF-8, else windows-1252) never fail the parse.
 * Every string in the result is well-formed UTF-8, never NULL ("" when
 * absent), and every count and size is capped.
 */
#ifndef BL_MIME_REPORT_H
#define BL_MIME_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Largest report accepted, bytes. */
#define BL_REPORT_MAX_BYTES ((size_t)16 << 20)
/* Most per-recipient DSN records kept from one report. */
#define BL_REPORT_MAX_RCPTS 1000
/* Bytes of text kept from the human-readable parts (cut at a UTF-8 boundary). */
#define BL_REPORT_MAX_TEXT ((size_t)256 << 10)

/* One header field as it appeared: name as written, value unfolded (CRLF + WSP -> the WSP),
 * RFC 2047 encoded words decoded, surrounding whitespace trimmed. */
struct bl_report_field {
	char *name, *value;
};

/* One per-recipient block of a message/delivery-status part (RFC 3464 §2.3). Fields hold the
 * value after the "type;" prefix where the RFC gives one (rfc822;addr -> addr, smtp;550 ... ->
 * "550 ..."); the type itself is kept where it matters. */
struct bl_report_rcpt {
	char *final_recipient;    /* Final-Recipient address, "" when absent */
	char *original_recipient; /* Original-Recipient address */
	char *action;             /* lowercased: failed, delayed, delivered, relayed, expanded */
	char *status;             /* Status as written, e.g. "5.1.1" (may be malformed) */
	char *diagnostic_type;    /* "smtp", "x-postfix", ... lowercased, "" */
	char *diagnostic; /* Diagnostic-Code text after the type, continuation lines joined */
	char *remote_mta; /* Remote-MTA after "dns;" */
	char *last_attempt_date; /* as written */
};

/* The per-message fields of a message/delivery-status part (RFC 3464 §2.2). */
struct bl_report_dsn {
	char *reporting_mta;  /* after "dns;" */
	char *arrival_date;   /* as written */
	char *original_envid; /* Original-Envelope-Id */
	struct bl_report_rcpt *rcpts;
	size_t n_rcpts;
};

/* A message/feedback-report part (RFC 5965 §3.1, RFC 6591 §3.1) field by field. Strings keep
 * what the field says (angle brackets as written), with the normalisations the arf-mail-auth
 * corpus expects (reporting_mta without "dns;", source_ip without a trailing comment). */
struct bl_report_arf {
	char *feedback_type; /* lowercased: abuse, fraud, virus, other, not-spam, opt-out,
	                        auth-failure, ... (RFC 5965 §7.3 registry) */
	char *user_agent, *version;
	char *original_mail_from, *original_rcpt_to, *original_envelope_id;
	char *reporting_mta, *source_ip;
	int source_port; /* 0 = absent */
	int64_t
	    arrival_date;   /* Arrival-Date or Received-Date, seconds since the epoch; 0 = absent */
	int incidents;      /* Incidents, default 1 */
	char *auth_failure; /* lowercased RFC 6591 token, "" */
	char *delivery_result; /* lowercased, "" */
	char *identity_alignment;
	char *dkim_domain, *dkim_identity, *dkim_selector;
	char *dkim_canonicalized_header, *dkim_canonicalized_body;
	char *spf_dns;
	char **reported_domain, **reported_uri, **authentication_results; /* lists, in order */
	size_t n_reported_domain, n_reported_uri, n_authentication_results;
	int present; /* 1 when the report has a message/feedback-report part */
};

/* The report as a whole. */
struct bl_report {
	/* the top-level header fields, in order (at most 500) */
	struct bl_report_field *headers;
	size_t n_headers;
	char *content_type; /* top-level media type, lowercased "type/subtype" ("text/plain" when
	                       absent) */
	char *report_type;  /* multipart/report's report-type parameter, lowercased, "" */
	/* message/delivery-status, when present (even mislabelled as text/plain inside a
	   multipart/report, or found as a "Final-Recipient:" block in a text part) */
	int has_dsn;
	struct bl_report_dsn dsn;
	struct bl_report_arf arf;
	/* the human-readable text: every text/plain part outside the returned original, decoded
	   to UTF-8 and joined with "\n"; a text/html part's text when there is no text/plain;
	   the whole body of a single-part message. LF line ends. */
	char *text;
	/* the returned original (message/rfc822, message/global, text/rfc822-headers, or the
	   headers found after a "----- Original message -----" style separator in the text by
	   src/bounce): its header block, unfolded, LF line ends, "" when none */
	char *original_headers;
	int original_complete; /* 1 when the whole original came back (message/rfc822) */
};

/*
 * bl_report_parse - parse @len bytes of @data (an RFC 5322 message, any line ends) into
 * caller-owned @out. Returns 0 and fills @out (free with bl_report_clear); -BL_ELIMIT when
 * @len exceeds BL_REPORT_MAX_BYTES; -BL_EINVAL when there is no header block at all (@d says
 * so). Never fails on a malformed MIME structure, charset or field: what can be read is kept.
 * On error @out is all zero. Thread-safe (bl_mime_init is called).
 */
int bl_report_parse(const char *data, size_t len, struct bl_report *out, struct bl_diag *d);

/* bl_report_clear - free everything @r owns and zero it. NULL-safe. */
void bl_report_clear(struct bl_report *r);

/* bl_report_header - the value of the first top-level header named @name (ASCII,
 * case-insensitive), or NULL when absent. Borrowed from @r. */
const char *bl_report_header(const struct bl_report *r, const char *name);

/*
 * bl_report_original_header - the value of the first header named @name (case-insensitive)
 * in @r->original_headers, unfolded and trimmed, in a malloc'd string; NULL when absent.
 */
char *bl_report_original_header(const struct bl_report *r, const char *name);

#endif
