/*
 * Tests of the report parser (src/mime/report.c): a table of hand-written
 * reports (DSNs with several recipients, folded and lenient fields, a
 * mislabelled delivery-status part, RFC 6533 global DSNs, bad charsets,
 * RFC 2047, html-only and non-MIME bounces, refusals and limits), each also
 * read with CRLF and CR-only line ends and required to give the same result;
 * every ARF report of $BL_CORPORA/arf-mail-auth against every field of its
 * NNN.json; and every message of the sisimai, php-bounce-handler and
 * flufl-bounce corpora read without failure, all strings UTF-8, with a floor
 * on the DSNs found. Failures print got/want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/report.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

/* ---- helpers ---------------------------------------------------------- */

static int failures;

static void check_str(const char *name, const char *field, const char *got, const char *want)
{
	if (!want || (got && !strcmp(got, want)))
		return;
	print_error("%s: %s: got \"%s\", want \"%s\"\n", name, field, got ? got : "(null)", want);
	failures++;
}

static void check_int(const char *name, const char *field, long long got, long long want)
{
	if (got == want)
		return;
	print_error("%s: %s: got %lld, want %lld\n", name, field, got, want);
	failures++;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct bl_buf b;
	bl_buf_init(&b, 0);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		bl_buf_add(&b, tmp, n);
	fclose(f);
	*len = b.len;
	return bl_buf_take(&b);
}

/* One string of a report: never NULL, well-formed UTF-8, at most @max bytes. Appended to @dump
 * as "label=value\n" so two reports can be compared whole. */
static void dump_str(struct bl_buf *dump, const char *name, const char *label, const char *s,
                     size_t max)
{
	if (!s) {
		print_error("%s: %s is NULL\n", name, label);
		failures++;
		return;
	}
	size_t n = strlen(s), bad;
	if (!bl_utf8_valid(s, n, &bad)) {
		print_error("%s: %s is not UTF-8 (byte %zu)\n", name, label, bad);
		failures++;
	}
	if (n > max) {
		print_error("%s: %s is %zu bytes, more than %zu\n", name, label, n, max);
		failures++;
	}
	bl_buf_addf(dump, "%s=%s\n", label, s);
}

/* Check every invariant of report.h on @r and return its whole content as text (free it). */
static char *check_report(const char *name, const struct bl_report *r)
{
	struct bl_buf b;
	const size_t big = BL_REPORT_MAX_BYTES;
	bl_buf_init(&b, 0);
	if (r->n_headers > 500) {
		print_error("%s: %zu headers, more than 500\n", name, r->n_headers);
		failures++;
	}
	for (size_t i = 0; i < r->n_headers; i++) {
		dump_str(&b, name, "header.name", r->headers[i].name, big);
		dump_str(&b, name, "header.value", r->headers[i].value, big);
	}
	dump_str(&b, name, "content_type", r->content_type, big);
	dump_str(&b, name, "report_type", r->report_type, big);
	bl_buf_addf(&b, "has_dsn=%d\n", r->has_dsn);
	dump_str(&b, name, "reporting_mta", r->dsn.reporting_mta, big);
	dump_str(&b, name, "arrival_date", r->dsn.arrival_date, big);
	dump_str(&b, name, "original_envid", r->dsn.original_envid, big);
	if (r->dsn.n_rcpts > BL_REPORT_MAX_RCPTS) {
		print_error("%s: %zu recipients\n", name, r->dsn.n_rcpts);
		failures++;
	}
	for (size_t i = 0; i < r->dsn.n_rcpts; i++) {
		const struct bl_report_rcpt *x = &r->dsn.rcpts[i];
		dump_str(&b, name, "final_recipient", x->final_recipient, big);
		dump_str(&b, name, "original_recipient", x->original_recipient, big);
		dump_str(&b, name, "action", x->action, big);
		dump_str(&b, name, "status", x->status, big);
		dump_str(&b, name, "diagnostic_type", x->diagnostic_type, big);
		dump_str(&b, name, "diagnostic", x->diagnostic, big);
		dump_str(&b, name, "remote_mta", x->remote_mta, big);
		dump_str(&b, name, "last_attempt_date", x->last_attempt_date, big);
	}
	const struct bl_report_arf *a = &r->arf;
	bl_buf_addf(&b, "arf=%d port=%d date=%lld incidents=%d\n", a->present, a->source_port,
	            (long long)a->arrival_date, a->incidents);
	const char *arf_s[] = {a->feedback_type,
	                       a->user_agent,
	                       a->version,
	                       a->original_mail_from,
	                       a->original_rcpt_to,
	                       a->original_envelope_id,
	                       a->reporting_mta,
	                       a->source_ip,
	                       a->auth_failure,
	                       a->delivery_result,
	                       a->identity_alignment,
	                       a->dkim_domain,
	                       a->dkim_identity,
	                       a->dkim_selector,
	                       a->dkim_canonicalized_header,
	                       a->dkim_canonicalized_body,
	                       a->spf_dns};
	for (size_t i = 0; i < sizeof arf_s / sizeof arf_s[0]; i++)
		dump_str(&b, name, "arf", arf_s[i], big);
	for (size_t i = 0; i < a->n_reported_domain; i++)
		dump_str(&b, name, "reported_domain", a->reported_domain[i], big);
	for (size_t i = 0; i < a->n_reported_uri; i++)
		dump_str(&b, name, "reported_uri", a->reported_uri[i], big);
	for (size_t i = 0; i < a->n_authentication_results; i++)
		dump_str(&b, name, "authentication_results", a->authentication_results[i], big);
	dump_str(&b, name, "text", r->text, BL_REPORT_MAX_TEXT);
	dump_str(&b, name, "original_headers", r->original_headers, big);
	bl_buf_addf(&b, "original_complete=%d\n", r->original_complete);
	return bl_buf_take(&b);
}

/* @s with every LF turned into CRLF (@crlf) or CR. */
static char *with_eol(const char *s, int crlf)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (; *s; s++) {
		if (*s == '\n')
			bl_buf_adds(&b, crlf ? "\r\n" : "\r");
		else
			bl_buf_addc(&b, *s);
	}
	return bl_buf_take(&b);
}

/* ---- hand-written reports --------------------------------------------------- */

#define DSN_HEAD                                                                                   \
	"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"                              \
	"To: bounces+abc@lists.example.org\n"                                                      \
	"Subject: Undelivered Mail Returned to Sender\n"                                           \
	"MIME-Version: 1.0\n"                                                                      \
	"Content-Type: multipart/report; report-type=delivery-status;\n"                           \
	"\tboundary=\"BOUND\"\n"                                                                   \
	"\n"                                                                                       \
	"This is a MIME-encapsulated message.\n"                                                   \
	"\n"                                                                                       \
	"--BOUND\n"                                                                                \
	"Content-Type: text/plain; charset=us-ascii\n"                                             \
	"\n"                                                                                       \
	"I'm sorry to have to inform you that your message could not\n"                            \
	"be delivered to one or more recipients.\n"                                                \
	"\n"

#define ORIGINAL                                                                                   \
	"--BOUND\n"                                                                                \
	"Content-Type: message/rfc822\n"                                                           \
	"\n"                                                                                       \
	"From: News <news@lists.example.org>\n"                                                    \
	"To: alice@example.com\n"                                                                  \
	"Subject: Breaking\n"                                                                      \
	"Message-ID: <post-42.7@lists.example.org>\n"                                              \
	"List-Id: Breaking news\n"                                                                 \
	" <breaking.lists.example.org>\n"                                                          \
	"\n"                                                                                       \
	"Body of the post.\n"                                                                      \
	"--BOUND--\n"

struct rcpt_want {
	const char *final, *original, *action, *status, *dtype, *diag, *remote_mta;
};

struct report_case {
	const char *name;
	const char *msg;
	int rc;      /* 0 or -BL_E* */
	int has_dsn; /* -1: not checked */
	int n_rcpts; /* -1: not checked */
	const char *reporting_mta, *arrival_date, *envid;
	struct rcpt_want rcpt[3];
	const char *content_type, *report_type;
	const char *text;         /* the whole text, NULL: not checked */
	const char *text_has;     /* a substring of it */
	const char *text_hasnt;   /* must not be in it */
	const char *subject;      /* bl_report_header(r, "Subject") */
	const char *orig_msgid;   /* bl_report_original_header(r, "Message-ID") */
	const char *orig_list_id; /* bl_report_original_header(r, "List-Id") */
	int original_complete;    /* -1: not checked */
	const char *arf_type;     /* arf.feedback_type */
};

static const struct report_case cases[] = {
    {.name = "three recipients, folded Diagnostic-Code",
     .msg = DSN_HEAD "--BOUND\n"
                     "Content-Type: message/delivery-status\n"
                     "\n"
                     "Reporting-MTA: dns; mx.example.net\n"
                     "X-Postfix-Queue-ID: 4F1A2\n"
                     "Arrival-Date: Mon, 3 Feb 2025 10:00:00 +0100\n"
                     "Original-Envelope-Id: post-42.7\n"
                     "\n"
                     "Final-Recipient: rfc822; alice@example.com\n"
                     "Original-Recipient: rfc822;<Alice@Example.com>\n"
                     "Action: failed\n"
                     "Status: 5.1.1\n"
                     "Remote-MTA: dns; mx1.example.com\n"
                     "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to\n"
                     "    reach does not exist. Please try\n"
                     "\t550 5.1.1 double-checking the recipient's email address\n"
                     "\n"
                     "Final-Recipient: rfc822; bob@example.com\n"
                     "Action: delayed\n"
                     "Status: 4.4.1\n"
                     "Diagnostic-Code: X-Postfix; connect to mx.example.com: Connection refused\n"
                     "Will-Retry-Until: Wed, 5 Feb 2025 10:00:00 +0100\n"
                     "\n"
                     "Final-Recipient: RFC822; carol@example.com\n"
                     "Action: Failed\n"
                     "Status: 5.2.2\n"
                     "Diagnostic-Code: smtp;552 mailbox full\n"
                     "\n" ORIGINAL,
     .rc = 0,
     .has_dsn = 1,
     .n_rcpts = 3,
     .reporting_mta = "mx.example.net",
     .arrival_date = "Mon, 3 Feb 2025 10:00:00 +0100",
     .envid = "post-42.7",
     .rcpt = {{"alice@example.com", "Alice@Example.com", "failed", "5.1.1", "smtp",
               "550-5.1.1 The email account that you tried to reach does not exist. Please "
               "try 550 5.1.1 double-checking the recipient's email address",
               "mx1.example.com"},
              {"bob@example.com", "", "delayed", "4.4.1", "x-postfix",
               "connect to mx.example.com: Connection refused", ""},
              {"carol@example.com", "", "failed", "5.2.2", "smtp", "552 mailbox full", ""}},
     .content_type = "multipart/report",
     .report_type = "delivery-status",
     .text = "I'm sorry to have to inform you that your message could not\n"
             "be delivered to one or more recipients.\n",
     .subject = "Undelivered Mail Returned to Sender",
     .orig_msgid = "<post-42.7@lists.example.org>",
     .orig_list_id = "Breaking news <breaking.lists.example.org>",
     .original_complete = 1},
    {.name = "lenient delivery-status block",
     .msg = DSN_HEAD "--BOUND\n"
                     "Content-Type: message/delivery-status\n"
                     "\n"
                     "  reporting-mta: dns;mx.example.net  \n"
                     "   \n"
                     "final-recipient: rfc822; dave@example.com\n"
                     "  action: failed\n"
                     "STATUS: 5.1.1 (user unknown)\n"
                     "x-actual-recipient: rfc822; dave@internal\n"
                     "final-recipient: rfc822; erin@example.com\n"
                     "action: failed\n"
                     "status: 5.7.1\n"
                     "diagnostic-code: smtp; 554 5.7.1 rejected\n"
                     "\t\t\n"
                     "\n"
                     "\n"
                     "--BOUND\n"
                     "Content-Type: text/rfc822-headers\n"
                     "\n"
                     "Message-ID: <p.1@lists.example.org>\n"
                     "List-Id: <breaking.lists.example.org>\n"
                     "--BOUND--\n",
     .rc = 0,
     .has_dsn = 1,
     .n_rcpts = 2,
     .reporting_mta = "mx.example.net",
     .rcpt = {{"dave@example.com", "", "failed", "5.1.1", "", "", ""},
              {"erin@example.com", "", "failed", "5.7.1", "smtp", "554 5.7.1 rejected", ""}},
     .orig_msgid = "<p.1@lists.example.org>",
     .orig_list_id = "<breaking.lists.example.org>",
     .original_complete = 0},
    {.name = "delivery-status mislabelled as text/plain",
     .msg = DSN_HEAD "--BOUND\n"
                     "Content-Type: text/plain\n"
                     "\n"
                     "Reporting-MTA: dns; mx.example.net\n"
                     "\n"
                     "Final-Recipient: rfc822; frank@example.com\n"
                     "Action: failed\n"
                     "Status: 5.0.0\n"
                     "\n" ORIGINAL,
     .rc = 0,
     .has_dsn = 1,
     .n_rcpts = 1,
     .reporting_mta = "mx.example.net",
     .rcpt = {{"frank@example.com", "", "failed", "5.0.0", "", "", ""}},
     .text_has = "could not",
     .text_hasnt = "Final-Recipient",
     .orig_msgid = "<post-42.7@lists.example.org>",
     .original_complete = 1},
    {.name = "RFC 6533 global delivery status",
     .msg = "From: MAILER-DAEMON@mx.example.net\n"
            "Subject: =?UTF-8?Q?Unzustellbar:_Gr=C3=BC=C3=9Fe?=\n"
            "Content-Type: multipart/report; report-type=global-delivery-status;\n"
            " boundary=\"BOUND\"\n"
            "\n"
            "--BOUND\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "\n"
            "Die Nachricht an j\xc3\xb6rg konnte nicht zugestellt werden.\n"
            "--BOUND\n"
            "Content-Type: message/global-delivery-status\n"
            "\n"
            "Reporting-MTA: dns; mx.example.net\n"
            "\n"
            "Original-Recipient: utf-8; j\\x{F6}rg@b\\x{FC}cher.example\n"
            "Final-Recipient: utf-8; j\xc3\xb6rg@b\xc3\xbc\x63her.example\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 Empf\xc3\xa4nger unbekannt\n"
            "\n"
            "--BOUND\n"
            "Content-Type: message/global\n"
            "\n"
            "Message-ID: <g.1@lists.example.org>\n"
            "Subject: Gr\xc3\xbc\xc3\x9f\x65\n"
            "\n"
            "Hallo\n"
            "--BOUND--\n",
     .rc = 0,
     .has_dsn = 1,
     .n_rcpts = 1,
     .rcpt = {{"j\xc3\xb6rg@b\xc3\xbc\x63her.example", "j\xc3\xb6rg@b\xc3\xbc\x63her.example",
               "failed", "5.1.1", "smtp", "550 5.1.1 Empf\xc3\xa4nger unbekannt", ""}},
     .report_type = "global-delivery-status",
     .text = "Die Nachricht an j\xc3\xb6rg konnte nicht zugestellt werden.",
     .subject = "Unzustellbar: Gr\xc3\xbc\xc3\x9f\x65",
     .orig_msgid = "<g.1@lists.example.org>",
     .original_complete = 1},
    {.name = "unknown charset with 8-bit bytes (windows-1252)",
     .msg = "From: postmaster@example.fr\n"
            "Subject: =?ISO-8859-1?Q?Message_non_d=E9livr=E9?=\n"
            "Content-Type: text/plain; charset=\"x-unknown\"\n"
            "Content-Transfer-Encoding: 8bit\n"
            "\n"
            "Votre message n'a pas \xe9t\xe9 d\xe9livr\xe9 \x96 bo\xeete pleine.\n",
     .rc = 0,
     .has_dsn = 0,
     .n_rcpts = 0,
     .content_type = "text/plain",
     .report_type = "",
     .text = "Votre message n'a pas \xc3\xa9t\xc3\xa9 d\xc3\xa9livr\xc3\xa9 \xe2\x80\x93 "
             "bo\xc3\xaete pleine.\n",
     .subject = "Message non d\xc3\xa9livr\xc3\xa9",
     .original_complete = 0},
    {.name = "us-ascii declared, UTF-8 sent; iso-8859-1 quoted-printable",
     .msg = "From: postmaster@example.de\n"
            "Subject: Zustellung =?utf-8?B?ZmVobGdlc2NobGFnZW4=?= (=?iso-8859-1?q?f=FCr?= dich)\n"
            "Content-Type: multipart/mixed; boundary=b\n"
            "\n"
            "--b\n"
            "Content-Type: text/plain; charset=us-ascii\n"
            "\n"
            "Postfach \xc3\xbc\x62\x65rf\xc3\xbcllt\n"
            "--b\n"
            "Content-Type: text/plain; charset=iso-8859-1\n"
            "Content-Transfer-Encoding: quoted-printable\n"
            "\n"
            "Gr=FC=DFe=\n"
            " aus K=F6ln\n"
            "--b--\n",
     .rc = 0,
     .has_dsn = 0,
     .content_type = "multipart/mixed",
     .text = "Postfach \xc3\xbc\x62\x65rf\xc3\xbcllt\nGr\xc3\xbc\xc3\x9f\x65 aus K\xc3\xb6ln",
     .subject = "Zustellung fehlgeschlagen (f\xc3\xbcr dich)"},
    {.name = "no header block",
     .msg = "This is not a message at all.\n\nJust text.\n",
     .rc = -BL_EINVAL},
    {.name = "only blank lines", .msg = "\n\n   \n", .rc = -BL_EINVAL},
    {.name = "mbox From_ line and leading blank lines",
     .msg = "\n   \nFrom MAILER-DAEMON Mon Feb  3 10:00:00 2025\n"
            "Return-Path: <>\n"
            "Subject: failure notice\n"
            "\n"
            "Hi. This is the qmail-send program at mx.example.net.\n"
            "<gina@example.com>:\n"
            "Sorry, no mailbox here by that name. (#5.1.1)\n",
     .rc = 0,
     .has_dsn = 0,
     .n_rcpts = 0,
     .content_type = "text/plain",
     .text_has = "Sorry, no mailbox here by that name. (#5.1.1)",
     .subject = "failure notice"},
    {.name = "delivery-status fields inside a text bounce",
     .msg = "From: MAILER-DAEMON@old.example.net\n"
            "Subject: Returned mail: User unknown\n"
            "\n"
            "   ----- Transcript of session follows -----\n"
            "550 henry@example.com... User unknown\n"
            "\n"
            "Reporting-MTA: dns; old.example.net\n"
            "\n"
            "Final-Recipient: RFC822; henry@example.com\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "\n"
            "Return-Path: <bounces+x@lists.example.org>\n"
            "Status: RO\n"
            "Message-ID: <t.9@lists.example.org>\n",
     .rc = 0,
     .has_dsn = 1,
     .n_rcpts = 1,
     .reporting_mta = "old.example.net",
     .rcpt = {{"henry@example.com", "", "failed", "5.1.1", "", "", ""}},
     .text_has = "User unknown",
     .original_complete = 0},
    {.name = "html only, with script and style",
     .msg = "From: postmaster@example.com\n"
            "Subject: Undeliverable\n"
            "Content-Type: text/html; charset=windows-1252\n"
            "\n"
            "<html><head><style>p { color: red }</style>\n"
            "<script type=\"text/javascript\">var x = \"<b>not text</b>\";</script></head>\n"
            "<body><!-- a comment --><p>Delivery has failed to <b>ivy@example.com</b>&nbsp;"
            "&amp; &#x41;&#66;.</p><p>Remote server said: 550&#160;5.1.1</p>\n"
            "<SCRIPT>alert(1)</SCRIPT>caf\xe9</body></html>\n",
     .rc = 0,
     .has_dsn = 0,
     .content_type = "text/html",
     .text = "Delivery has failed to ivy@example.com & AB.\n\n"
             "Remote server said: 550\xc2\xa0"
             "5.1.1\ncaf\xc3\xa9"},
    {.name = "non-standard bounce, original as a text attachment",
     .msg = "From: postmaster@example.com\n"
            "Subject: Undeliverable: Breaking\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\n"
            "\n"
            "--b1\n"
            "Content-Type: text/plain\n"
            "\n"
            "Your message to jack@example.com could not be delivered.\n"
            "--b1\n"
            "Content-Type: text/plain; name=\"original.txt\"\n"
            "Content-Disposition: attachment; filename=\"original.txt\"\n"
            "\n"
            "Received: from lists.example.org\n"
            "Message-ID: <att.3@lists.example.org>\n"
            "Subject: Breaking\n"
            "\n"
            "the body\n"
            "--b1--\n",
     .rc = 0,
     .has_dsn = 0,
     .text = "Your message to jack@example.com could not be delivered.",
     .orig_msgid = "<att.3@lists.example.org>",
     .original_complete = 1},
    {.name = "multipart/report without its boundary lines",
     .msg = "From: MAILER-DAEMON@mx.example.net\n"
            "Subject: Returned mail\n"
            "Content-Type: multipart/report; report-type=delivery-status;\n"
            "    boundary=\"never-used\"\n"
            "\n"
            "The original message could not be d\xe9livered (8-bit, no charset).\n"
            "\n"
            "Reporting-MTA: dns; mx.example.net\n"
            "Final-Recipient: rfc822; kim@example.com\n"
            "Action: failed\n"
            "Status: 5.1.1\n",
     .rc = 0,
     .has_dsn = 1,
     .n_rcpts = 1,
     .reporting_mta = "mx.example.net",
     .rcpt = {{"kim@example.com", "", "failed", "5.1.1", "", "", ""}},
     .content_type = "multipart/report",
     .report_type = "delivery-status",
     .text_has = "could not be d\xc3\xa9livered"},
    {.name = "auto-reply",
     .msg = "From: Liz <liz@example.com>\n"
            "Subject: Out of office: Breaking\n"
            "Auto-Submitted: auto-replied\n"
            "Content-Type: multipart/alternative; boundary=alt\n"
            "\n"
            "--alt\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: base64\n"
            "\n"
            "SSdtIGF3YXkgdW50aWwgTW9uZGF5Lg0K\n"
            "--alt\n"
            "Content-Type: text/html\n"
            "\n"
            "<p>I'm away until Monday.</p>\n"
            "--alt--\n",
     .rc = 0,
     .has_dsn = 0,
     .text = "I'm away until Monday.\n",
     .subject = "Out of office: Breaking"},
    {.name = "ARF with a folded Authentication-Results",
     .msg = "From: feedback@isp.example\n"
            "Subject: complaint\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=B\n"
            "\n"
            "--B\n"
            "Content-Type: text/plain\n"
            "\n"
            "A complaint.\n"
            "--B\n"
            "Content-Type: message/feedback-report\n"
            "\n"
            "Feedback-Type: Abuse\n"
            "User-Agent: Isp/1.0\n"
            "Version: 1\n"
            "Original-Rcpt-To: <mia@isp.example>\n"
            "Source-IP: 192.0.2.7 (mail.example.org)\n"
            "Source-Port: 25\n"
            "Incidents: 3\n"
            "Reporting-MTA: dns; fbl.isp.example\n"
            "\n"
            "--B\n"
            "Content-Type: message/rfc822\n"
            "\n"
            "Message-ID: <arf.1@lists.example.org>\n"
            "\n"
            "x\n"
            "--B--\n",
     .rc = 0,
     .has_dsn = 0,
     .n_rcpts = 0,
     .report_type = "feedback-report",
     .text = "A complaint.",
     .orig_msgid = "<arf.1@lists.example.org>",
     .original_complete = 1,
     .arf_type = "abuse"},
};

static void check_case(const struct report_case *c, const char *variant, const char *msg,
                       size_t len, char **dump_out)
{
	char name[256];
	struct bl_report r;
	struct bl_diag d = {{0}};
	snprintf(name, sizeof name, "%s [%s]", c->name, variant);
	int rc = bl_report_parse(msg, len, &r, &d);
	check_int(name, "rc", rc, c->rc);
	if (rc) {
		if (!d.msg[0]) {
			print_error("%s: no diagnostic with rc %d\n", name, rc);
			failures++;
		}
		check_int(name, "n_headers after an error", (long long)r.n_headers, 0);
		check_int(name, "text NULL after an error", r.text != NULL, 0);
		*dump_out = bl_xstrdup("");
		return;
	}
	*dump_out = check_report(name, &r);
	if (c->has_dsn >= 0)
		check_int(name, "has_dsn", r.has_dsn, c->has_dsn);
	if (c->n_rcpts >= 0)
		check_int(name, "n_rcpts", (long long)r.dsn.n_rcpts, c->n_rcpts);
	check_str(name, "reporting_mta", r.dsn.reporting_mta, c->reporting_mta);
	check_str(name, "arrival_date", r.dsn.arrival_date, c->arrival_date);
	check_str(name, "original_envid", r.dsn.original_envid, c->envid);
	for (size_t i = 0; i < 3 && i < r.dsn.n_rcpts; i++) {
		const struct rcpt_want *w = &c->rcpt[i];
		const struct bl_report_rcpt *x = &r.dsn.rcpts[i];
		if (!w->final)
			continue;
		check_str(name, "final_recipient", x->final_recipient, w->final);
		check_str(name, "original_recipient", x->original_recipient, w->original);
		check_str(name, "action", x->action, w->action);
		check_str(name, "status", x->status, w->status);
		check_str(name, "diagnostic_type", x->diagnostic_type, w->dtype);
		check_str(name, "diagnostic", x->diagnostic, w->diag);
		check_str(name, "remote_mta", x->remote_mta, w->remote_mta);
	}
	check_str(name, "content_type", r.content_type, c->content_type);
	check_str(name, "report_type", r.report_type, c->report_type);
	check_str(name, "text", r.text, c->text);
	if (c->text_has && !strstr(r.text, c->text_has)) {
		print_error("%s: text \"%s\" lacks \"%s\"\n", name, r.text, c->text_has);
		failures++;
	}
	if (c->text_hasnt && strstr(r.text, c->text_hasnt)) {
		print_error("%s: text \"%s\" holds \"%s\"\n", name, r.text, c->text_hasnt);
		failures++;
	}
	check_str(name, "Subject", bl_report_header(&r, "subject"), c->subject);
	char *v = bl_report_original_header(&r, "message-id");
	check_str(name, "original Message-ID", v, c->orig_msgid);
	free(v);
	v = bl_report_original_header(&r, "List-ID");
	check_str(name, "original List-Id", v, c->orig_list_id);
	free(v);
	if (c->original_complete >= 0)
		check_int(name, "original_complete", r.original_complete, c->original_complete);
	check_str(name, "arf.feedback_type", r.arf.feedback_type, c->arf_type);
	check_int(name, "arf.present", r.arf.present, c->arf_type != NULL);
	bl_report_clear(&r);
	check_int(name, "cleared", r.n_headers == 0 && r.text == NULL, 1);
}

static void test_cases(void **state)
{
	(void)state;
	failures = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct report_case *c = &cases[i];
		char *dumps[3];
		char *crlf = with_eol(c->msg, 1), *cr = with_eol(c->msg, 0);
		check_case(c, "LF", c->msg, strlen(c->msg), &dumps[0]);
		check_case(c, "CRLF", crlf, strlen(crlf), &dumps[1]);
		check_case(c, "CR", cr, strlen(cr), &dumps[2]);
		for (int k = 1; k < 3; k++)
			if (strcmp(dumps[0], dumps[k])) {
				print_error("%s: %s differs from LF:\n--- LF\n%s--- %s\n%s",
				            c->name, k == 1 ? "CRLF" : "CR", dumps[0],
				            k == 1 ? "CRLF" : "CR", dumps[k]);
				failures++;
			}
		for (int k = 0; k < 3; k++)
			free(dumps[k]);
		free(crlf);
		free(cr);
	}
	assert_int_equal(failures, 0);
}

/* ---- API edges and limits ------------------------------------------------------ */

static void test_limits(void **state)
{
	(void)state;
	struct bl_report r;
	struct bl_diag d = {{0}};
	failures = 0;

	/* over the size limit: refused before anything is read */
	size_t big = BL_REPORT_MAX_BYTES + 1;
	char *huge = bl_xmalloc(big);
	memset(huge, 'a', big);
	memcpy(huge, "Subject: x\n\n", 12);
	check_int("oversize", "rc", bl_report_parse(huge, big, &r, &d), -BL_ELIMIT);
	check_int("oversize", "diagnostic", d.msg[0] != 0, 1);
	/* exactly the limit is read, its text cut to BL_REPORT_MAX_TEXT on a UTF-8 boundary */
	for (size_t i = 12; i + 2 < big - 1; i += 3)
		memcpy(huge + i, "\xe2\x82\xac", 3); /* U+20AC */
	check_int("at the limit", "rc", bl_report_parse(huge, big - 1, &r, &d), 0);
	free(check_report("at the limit", &r));
	check_int("at the limit", "text capped",
	          strlen(r.text) <= BL_REPORT_MAX_TEXT && strlen(r.text) > BL_REPORT_MAX_TEXT - 4,
	          1);
	bl_report_clear(&r);
	free(huge);

	check_int("NULL", "rc", bl_report_parse(NULL, 0, &r, NULL), -BL_EINVAL);
	check_int("empty", "rc", bl_report_parse("", 0, &r, &d), -BL_EINVAL);

	/* 600 header fields: 500 kept */
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (int i = 0; i < 600; i++)
		bl_buf_addf(&b, "X-H%d: v%d\n", i, i);
	bl_buf_adds(&b, "\nbody\n");
	check_int("600 headers", "rc", bl_report_parse(b.data, b.len, &r, &d), 0);
	check_int("600 headers", "n_headers", (long long)r.n_headers, 500);
	check_str("600 headers", "X-H499", bl_report_header(&r, "x-h499"), "v499");
	check_int("600 headers", "X-H500 absent", bl_report_header(&r, "X-H500") == NULL, 1);
	check_int("600 headers", "absent", bl_report_header(&r, "Subject") == NULL, 1);
	char *v = bl_report_original_header(&r, "Message-ID");
	check_int("600 headers", "no original", v == NULL, 1);
	bl_report_clear(&r);
	bl_report_clear(NULL);

	/* 1200 recipients: BL_REPORT_MAX_RCPTS kept */
	bl_buf_reset(&b);
	bl_buf_adds(&b, "Subject: many\nContent-Type: message/delivery-status\n\n"
	                "Reporting-MTA: dns; mx.example.net\n");
	for (int i = 0; i < 1200; i++)
		bl_buf_addf(&b,
		            "\nFinal-Recipient: rfc822; u%d@example.com\nAction: failed\n"
		            "Status: 5.1.1\n",
		            i);
	check_int("1200 recipients", "rc", bl_report_parse(b.data, b.len, &r, &d), 0);
	check_int("1200 recipients", "n_rcpts", (long long)r.dsn.n_rcpts, BL_REPORT_MAX_RCPTS);
	if (r.dsn.n_rcpts == BL_REPORT_MAX_RCPTS)
		check_str("1200 recipients", "last", r.dsn.rcpts[999].final_recipient,
		          "u999@example.com");
	free(check_report("1200 recipients", &r));
	bl_report_clear(&r);

	/* 60 nested multiparts: the text below MAX_DEPTH (20) is not read, nothing breaks */
	bl_buf_reset(&b);
	bl_buf_adds(&b, "Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n");
	for (int i = 1; i < 60; i++)
		bl_buf_addf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i - 1, i);
	bl_buf_adds(&b, "--b59\nContent-Type: text/plain\n\ndeep text\n");
	check_int("60 levels", "rc", bl_report_parse(b.data, b.len, &r, &d), 0);
	check_str("60 levels", "text", r.text, "");
	free(check_report("60 levels", &r));
	bl_report_clear(&r);
	/* 5 levels are read */
	bl_buf_reset(&b);
	bl_buf_adds(&b, "Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n");
	for (int i = 1; i < 5; i++)
		bl_buf_addf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i - 1, i);
	bl_buf_adds(&b, "--b4\nContent-Type: text/plain\n\nshallow text\n");
	check_int("5 levels", "rc", bl_report_parse(b.data, b.len, &r, &d), 0);
	check_str("5 levels", "text", r.text, "shallow text\n");
	bl_report_clear(&r);

	/* NUL bytes and bare 8-bit bytes in a header never leave a string that is not UTF-8 */
	static const char nul[] = "Subject: a\0b \xff\xfe =?utf-8?B?/w==?=\n\nbody\0\xc3\n";
	check_int("NUL", "rc", bl_report_parse(nul, sizeof nul - 1, &r, &d), 0);
	free(check_report("NUL", &r));
	const char *subj = bl_report_header(&r, "Subject");
	if (!subj || strncmp(subj, "ab \xc3\xbf\xc3\xbe ", 8)) {
		print_error("NUL: Subject: got \"%s\", want \"ab \xc3\xbf\xc3\xbe ...\"\n", subj);
		failures++;
	}
	bl_report_clear(&r);
	bl_buf_finish(&b);
	assert_int_equal(failures, 0);
}

/* ---- arf-mail-auth: every field of NNN.json ------------------------------------- */

/* The Rust enum names of the corpus as our lowercase RFC tokens. */
static const char *arf_token(const char *field, const char *name)
{
	static const struct {
		const char *rust, *token;
	} map[] = {
	    {"Unspecified", ""},      {"Abuse", "abuse"},      {"AuthFailure", "auth-failure"},
	    {"Fraud", "fraud"},       {"NotSpam", "not-spam"}, {"OptOut", "opt-out"},
	    {"Other", "other"},       {"Virus", "virus"},      {"Adsp", "adsp"},
	    {"BodyHash", "bodyhash"}, {"Revoked", "revoked"},  {"Signature", "signature"},
	    {"Spf", "spf"},           {"Dmarc", "dmarc"},      {"Delivered", "delivered"},
	    {"Spam", "spam"},         {"Policy", "policy"},    {"Reject", "reject"},
	    {"None", "none"},         {"Dkim", "dkim"},        {"DkimSpf", "dkim, spf"}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i].rust, name))
			return map[i].token;
	print_error("%s: unknown corpus value %s\n", field, name);
	failures++;
	return "?";
}

/* RFC 5322 unfolding of the corpus's raw header text, as original_headers holds it. */
static char *unfold(const char *s)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (; *s; s++) {
		if (*s == '\n' && (s[1] == ' ' || s[1] == '\t'))
			continue;
		bl_buf_addc(&b, *s);
	}
	return bl_buf_take(&b);
}

static void check_list(const char *name, const char *field, json_t *want, char **got, size_t n)
{
	if (!json_is_array(want)) {
		print_error("%s: %s is not a list in the corpus\n", name, field);
		failures++;
		return;
	}
	check_int(name, field, (long long)n, (long long)json_array_size(want));
	for (size_t i = 0; i < n && i < json_array_size(want); i++)
		check_str(name, field, got[i], json_string_value(json_array_get(want, i)));
}

static void test_arf_corpus(void **state)
{
	(void)state;
	const char *root = getenv("BL_CORPORA");
	if (!root)
		fail_msg("BL_CORPORA is not set (run through meson test)");
	failures = 0;
	int fields_compared = 0;
	for (int k = 1; k <= 5; k++) {
		char path[4096], name[32];
		size_t len;
		snprintf(name, sizeof name, "arf/%03d", k);
		snprintf(path, sizeof path, "%s/arf-mail-auth/arf/%03d.json", root, k);
		json_error_t jerr;
		json_t *want = json_load_file(path, 0, &jerr);
		if (!want)
			fail_msg("cannot read %s: %s", path, jerr.text);
		snprintf(path, sizeof path, "%s/arf-mail-auth/arf/%03d.eml", root, k);
		char *msg = read_file(path, &len);
		if (!msg)
			fail_msg("cannot read %s", path);
		struct bl_report r;
		struct bl_diag d = {{0}};
		int rc = bl_report_parse(msg, len, &r, &d);
		check_int(name, "rc", rc, 0);
		if (rc) {
			print_error("%s: %s\n", name, d.msg);
			json_decref(want);
			free(msg);
			continue;
		}
		free(check_report(name, &r));
		const struct bl_report_arf *a = &r.arf;
		check_int(name, "present", a->present, 1);
		const char *key;
		json_t *v;
		json_object_foreach(want, key, v)
		{
			const char *s = json_string_value(v);
			fields_compared++;
#define STR(field) else if (!strcmp(key, #field)) check_str(name, key, a->field, s ? s : "")
			if (!strcmp(key, "message"))
				check_int(name, "message is null in the corpus", json_is_null(v),
				          1);
			else if (!strcmp(key, "feedback_type"))
				check_str(name, key, a->feedback_type, arf_token(key, s));
			else if (!strcmp(key, "auth_failure"))
				check_str(name, key, a->auth_failure, arf_token(key, s));
			else if (!strcmp(key, "delivery_result"))
				check_str(name, key, a->delivery_result, arf_token(key, s));
			else if (!strcmp(key, "identity_alignment"))
				check_str(name, key, a->identity_alignment, arf_token(key, s));
			else if (!strcmp(key, "arrival_date"))
				check_int(name, key, a->arrival_date,
				          json_is_null(v) ? 0 : json_integer_value(v));
			else if (!strcmp(key, "incidents"))
				check_int(name, key, a->incidents, json_integer_value(v));
			else if (!strcmp(key, "source_port"))
				check_int(name, key, a->source_port, json_integer_value(v));
			else if (!strcmp(key, "version")) {
				char num[32];
				snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
				check_str(name, key, a->version, num);
			} else if (!strcmp(key, "authentication_results"))
				check_list(name, key, v, a->authentication_results,
				           a->n_authentication_results);
			else if (!strcmp(key, "reported_domain"))
				check_list(name, key, v, a->reported_domain, a->n_reported_domain);
			else if (!strcmp(key, "reported_uri"))
				check_list(name, key, v, a->reported_uri, a->n_reported_uri);
			else if (!strcmp(key, "dkim_adsp_dns") ||
			         !strcmp(key, "dkim_selector_dns")) {
				/* not kept by bl_report_arf: the corpus must not need them */
				check_int(name, key, json_is_null(v), 1);
			} else if (!strcmp(key, "headers")) {
				if (json_is_null(v)) {
					/* no text/rfc822-headers: the message/rfc822 part came back
					 */
					check_int(name, "original_complete", r.original_complete,
					          1);
				} else {
					char *u = unfold(s);
					check_str(name, key, r.original_headers, u);
					check_int(name, "original_complete", r.original_complete,
					          0);
					free(u);
				}
			}
			STR(original_envelope_id);
			STR(original_mail_from);
			STR(original_rcpt_to);
			STR(reporting_mta);
			STR(source_ip);
			STR(user_agent);
			STR(dkim_canonicalized_body);
			STR(dkim_canonicalized_header);
			STR(dkim_domain);
			STR(dkim_identity);
			STR(dkim_selector);
			STR(spf_dns);
			else
			{
				print_error("%s: corpus field %s not compared\n", name, key);
				failures++;
			}
#undef STR
		}
		bl_report_clear(&r);
		json_decref(want);
		free(msg);
	}
	print_message("# arf-mail-auth: %d fields compared, %d mismatches\n", fields_compared,
	              failures);
	check_int("arf-mail-auth", "fields compared", fields_compared, 5 * 27);
	assert_int_equal(failures, 0);
}

/* ---- robustness over the bounce corpora --------------------------------------------- */

struct tally {
	int files, einval, reports, reports_with_rcpt, dsn, rcpts, arf, original;
};

/* Files that hold no header block at all (the only ones allowed -BL_EINVAL). */
static const char *const no_header[] = {"php-bounce-handler/eml/unsubscribe.txt"};

static void read_dir(const char *root, const char *rel, struct tally *t)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/%s", root, rel);
	DIR *dp = opendir(dir);
	if (!dp) {
		print_error("cannot open %s\n", dir);
		failures++;
		return;
	}
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.')
			continue;
		char path[8192], name[4096];
		size_t len;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		snprintf(name, sizeof name, "%s/%s", rel, de->d_name);
		char *msg = read_file(path, &len);
		if (!msg) {
			print_error("cannot read %s\n", path);
			failures++;
			continue;
		}
		t->files++;
		struct bl_report r;
		struct bl_diag d = {{0}};
		int rc = bl_report_parse(msg, len, &r, &d);
		int allowed = 0;
		for (size_t i = 0; i < sizeof no_header / sizeof no_header[0]; i++)
			allowed |= !strcmp(name, no_header[i]);
		if (rc == -BL_EINVAL && allowed) {
			t->einval++;
		} else if (rc) {
			print_error("%s: rc %d (%s), want 0\n", name, rc, d.msg);
			failures++;
		} else {
			if (allowed) {
				print_error("%s: read, but listed as having no header\n", name);
				failures++;
			}
			free(check_report(name, &r));
			int report = !strcmp(r.content_type, "multipart/report") &&
			             strstr(r.report_type, "delivery-status");
			t->reports += report;
			t->reports_with_rcpt += report && r.has_dsn && r.dsn.n_rcpts > 0;
			t->dsn += r.has_dsn;
			t->rcpts += (int)r.dsn.n_rcpts;
			t->arf += r.arf.present;
			t->original += r.original_headers[0] != 0;
			bl_report_clear(&r);
		}
		free(msg);
	}
	closedir(dp);
}

static void test_bounce_corpora(void **state)
{
	(void)state;
	const char *root = getenv("BL_CORPORA");
	if (!root)
		fail_msg("BL_CORPORA is not set (run through meson test)");
	static const struct {
		const char *dir;
		int files, einval, reports_with_rcpt, dsn, arf, original;
	} dirs[] = {
	    /* floors measured on the corpora (files must match exactly) */
	    {"sisimai-set-of-emails/maildir/bsd", 612, 0, 316, 348, 13, 364},
	    {"sisimai-set-of-emails/maildir/dos", 64, 0, 26, 28, 1, 32},
	    {"sisimai-set-of-emails/maildir/mac", 65, 0, 26, 28, 1, 32},
	    {"sisimai-set-of-emails/maildir/not", 2, 0, 0, 0, 0, 1},
	    {"php-bounce-handler/eml", 79, 1, 15, 15, 8, 30},
	    {"flufl-bounce/data", 103, 0, 10, 19, 0, 34},
	};
	failures = 0;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct tally t = {0};
		read_dir(root, dirs[i].dir, &t);
		print_message("# %s: %d files, %d without a header, %d multipart/report DSNs of "
		              "which %d with recipients, %d with a DSN (%d recipients), %d ARF, %d "
		              "with the original's header\n",
		              dirs[i].dir, t.files, t.einval, t.reports, t.reports_with_rcpt, t.dsn,
		              t.rcpts, t.arf, t.original);
		check_int(dirs[i].dir, "files", t.files, dirs[i].files);
		check_int(dirs[i].dir, "no header", t.einval, dirs[i].einval);
		if (t.reports_with_rcpt < dirs[i].reports_with_rcpt || t.dsn < dirs[i].dsn ||
		    t.arf < dirs[i].arf || t.original < dirs[i].original) {
			print_error(
			    "%s: below a floor: reports with recipients %d (floor %d), DSNs %d "
			    "(%d), ARF %d (%d), originals %d (%d)\n",
			    dirs[i].dir, t.reports_with_rcpt, dirs[i].reports_with_rcpt, t.dsn,
			    dirs[i].dsn, t.arf, dirs[i].arf, t.original, dirs[i].original);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_arf_corpus),
	    cmocka_unit_test(test_bounce_corpora),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
