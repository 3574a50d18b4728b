/*
 * Tests of the failure classifier (src/bounce/classify.c): a table of what
 * SMTP servers and DSNs say, each with the class and reason it must get, and
 * a table of texts with and without an RFC 3463 status code in them, and a
 * table of whole reports for the rules of analyze.c that read the report
 * around the reply.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bounce/bounce.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct classify_case {
	const char *status; /* NULL: none */
	int reply_code;
	const char *diagnostic;
	enum bl_bounce_class cls;
	const char *reason;
};

static const struct classify_case classify_cases[] = {
    {NULL, 0, "550 5.1.1 <x@y>: Recipient address rejected: User unknown", BL_BOUNCE_HARD,
     "userunknown"},
    {"5.1.1", 550, "<x@y>: Recipient address rejected: User unknown in local recipient table",
     BL_BOUNCE_HARD, "userunknown"},
    {NULL, 0, "452 4.2.2 Mailbox full", BL_BOUNCE_SOFT, "mailboxfull"},
    {"4.2.2", 452, "Mailbox full", BL_BOUNCE_SOFT, "mailboxfull"},
    /* our sending account refused (a relay's or a provider's quota, a paused account): a block,
       never a full mailbox, so a whole list is not disabled through probes */
    {NULL, 554, "554 5.7.0 Daily sending quota exceeded for this account", BL_BOUNCE_BLOCK,
     "rejected"},
    {"5.2.2", 554, "Transaction failed: Sending paused for this account", BL_BOUNCE_BLOCK,
     "rejected"},
    {NULL, 554, "Message rejected: Sending suspended for this account", BL_BOUNCE_BLOCK,
     "rejected"},
    {NULL, 454, "Throttling failure: Maximum sending rate exceeded.", BL_BOUNCE_BLOCK, "rejected"},
    {NULL, 554, "Throttling failure: Daily message quota exceeded.", BL_BOUNCE_BLOCK, "rejected"},
    {NULL, 550, "550 5.5.0 Requested action not taken: mailbox unavailable (S3115)",
     BL_BOUNCE_BLOCK, "rejected"},
    {NULL, 554, "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
     BL_BOUNCE_BLOCK, "rejected"},
    {"5.2.2", 550, "550 5.2.2 Submission quota exceeded", BL_BOUNCE_BLOCK, "rejected"},
    {NULL, 550, "550 5.4.5 Daily SMTP relay limit exceeded for customer", BL_BOUNCE_BLOCK,
     "rejected"},
    {NULL, 550, "Mailbox has exceeded the daily send limit", BL_BOUNCE_BLOCK, "rejected"},
    {NULL, 0, "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using Spamhaus",
     BL_BOUNCE_BLOCK, "blocked"},
    {NULL, 0, "554 5.7.1 Message rejected as spam", BL_BOUNCE_BLOCK, "spamdetected"},
    {"5.1.2", 0, "", BL_BOUNCE_HARD, "hostunknown"},
    {NULL, 0, "Host or domain name not found. Name service error for name=example.invalid",
     BL_BOUNCE_HARD, "hostunknown"},
    {"4.4.7", 0, "delivery time expired", BL_BOUNCE_SOFT, "expired"},
    {"4.4.7", 0, "", BL_BOUNCE_SOFT, "expired"},
    {NULL, 0, "550 5.7.1 Requested action not taken: mailbox unavailable", BL_BOUNCE_HARD,
     "userunknown"},
    {"5.7.1", 550, "5.7.1 <nobody@example.org>... User unknown", BL_BOUNCE_HARD, "userunknown"},
    /* a temporary status turns an address failure soft */
    {"4.1.1", 450, "4.1.1 <x@y>: Recipient address rejected: User unknown", BL_BOUNCE_SOFT,
     "userunknown"},
    /* the sender, not the recipient, was refused */
    {"5.1.8", 553, "5.1.8 <b@ex>: Sender address rejected: Domain not found", BL_BOUNCE_BLOCK,
     "rejected"},
    {NULL, 550, "550 5.7.1 <x@y>: Relay access denied", BL_BOUNCE_BLOCK, "norelaying"},
    {NULL, 0,
     "550 5.7.25 [192.0.2.1] The IP address sending this message does not have a PTR "
     "record setup",
     BL_BOUNCE_BLOCK, "requireptr"},
    {"5.7.26", 550,
     "Unauthenticated email from example.com is not accepted due to domain's DMARC "
     "policy",
     BL_BOUNCE_BLOCK, "authfailure"},
    {NULL, 0, "552 5.3.4 Message size exceeds fixed limit", BL_BOUNCE_SOFT, "mesgtoobig"},
    {NULL, 0, "554 5.7.1 The message was rejected because it contains a virus", BL_BOUNCE_BLOCK,
     "virusdetected"},
    {NULL, 0, "550 5.2.1 The email account that you tried to reach is disabled", BL_BOUNCE_SOFT,
     "suspend"},
    {NULL, 0,
     "550-5.1.1 The email account that you tried to reach does not exist. Please try "
     "double-checking the recipient's email address",
     BL_BOUNCE_HARD, "userunknown"},
    {NULL, 0, "Sorry, no mailbox here by that name. (#5.1.1)", BL_BOUNCE_HARD, "userunknown"},
    {NULL, 0, "421 4.7.0 Try again later, closing connection. Too many connections", BL_BOUNCE_SOFT,
     "toomanyconn"},
    {NULL, 0, "connect to mx.example.net[192.0.2.7]:25: Connection timed out", BL_BOUNCE_SOFT,
     "networkerror"},
    {"5.1.6", 551, "User has moved; please try <new@example.com>", BL_BOUNCE_HARD, "hasmoved"},
    {NULL, 0, "451 4.7.1 Greylisting in action, please come back later", BL_BOUNCE_SOFT,
     "greylisted"},
    {"2.0.0", 250, "2.0.0 OK delivered", BL_BOUNCE_UNKNOWN, "delivered"},
    {NULL, 0, NULL, BL_BOUNCE_UNKNOWN, "undefined"},
    {NULL, 0, "", BL_BOUNCE_UNKNOWN, "undefined"},
    {"", 0, "something odd happened", BL_BOUNCE_UNKNOWN, "undefined"},
    {"5.0.0", 550, "", BL_BOUNCE_UNKNOWN, "undefined"},
    {"4.0.0", 450, "", BL_BOUNCE_SOFT, "undefined"},
    /* 421 is said of the session: a mailbox status beside it does not outweigh the words */
    {"4.2.1", 421, "421 4.2.1 Service refused, please try later", BL_BOUNCE_BLOCK, "blocked"},
    {"4.2.1", 450, "450 4.2.1 Service refused, please try later", BL_BOUNCE_SOFT, "suspend"},
    /* Sendmail's transcript: the reply to MAIL FROM or HELO refused our sender or host */
    {NULL, 0,
     ">>> MAIL From:<s@example.org> <<< 550 Insecure Mail Relay 554 <r@example.net>... Remote "
     "protocol error",
     BL_BOUNCE_BLOCK, "rejected"},
    {NULL, 0, ">>> HELO mx.example.org <<< 550 User unknown", BL_BOUNCE_BLOCK, "blocked"},
    /* T-Online's block-list code */
    {"5.5.0", 554, "554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster for help.) (BL)",
     BL_BOUNCE_BLOCK, "blocked"},
};

static void test_classify_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(classify_cases) / sizeof(classify_cases[0]); i++) {
		const struct classify_case *c = &classify_cases[i];
		char reason[BL_BOUNCE_REASON_MAX];
		memset(reason, 'x', sizeof(reason));
		enum bl_bounce_class got =
		    bl_bounce_classify(c->status, c->reply_code, c->diagnostic, reason);
		if (got != c->cls || strcmp(reason, c->reason) != 0) {
			printf("# case %zu (%s / %d / \"%s\"): got %s/%s, want %s/%s\n", i,
			       c->status ? c->status : "NULL", c->reply_code,
			       c->diagnostic ? c->diagnostic : "NULL", bl_bounce_class_name(got),
			       reason, bl_bounce_class_name(c->cls), c->reason);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

struct status_case {
	const char *text;
	const char *want; /* "" = none */
};

static const struct status_case status_cases[] = {
    {"550 5.1.1 <x@y>: Recipient address rejected", "5.1.1"},
    {"smtp; 452 4.2.2 Mailbox full", "4.2.2"},
    {"Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"},
    {"host 192.0.2.1 said: 554 5.7.1 rejected", "5.7.1"}, /* not the IP address */
    {"version 5.1.1.4 of the server", ""},
    {"5.7.26 at the start", "5.7.26"},
    {"code 5.1.1234 too long", ""},
    {"x5.1.1 glued to a word", ""},
    {"3.1.1 is not a class", ""},
    {"2.0.0 Ok", "2.0.0"},
    {"", ""},
    {"5.1", ""},
    {"5.1.", ""},
    {"at the end 4.4.7", "4.4.7"},
};

static void test_status_from_text(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		char out[BL_BOUNCE_STATUS_MAX];
		int r = bl_bounce_status_from_text(status_cases[i].text, out);
		int want_r = status_cases[i].want[0] != '\0';
		if (r != want_r || strcmp(out, status_cases[i].want) != 0) {
			printf("# \"%s\": got %d \"%s\", want %d \"%s\"\n", status_cases[i].text, r,
			       out, want_r, status_cases[i].want);
			bad++;
		}
	}
	char out[BL_BOUNCE_STATUS_MAX];
	assert_int_equal(bl_bounce_status_from_text(NULL, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(bad, 0);
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(bl_report_kind_name(BL_REPORT_KIND_DSN), "dsn");
	assert_string_equal(bl_report_kind_name(BL_REPORT_KIND_BOUNCE), "bounce");
	assert_string_equal(bl_report_kind_name(BL_REPORT_KIND_ARF), "arf");
	assert_string_equal(bl_report_kind_name(BL_REPORT_KIND_AUTOREPLY), "auto-reply");
	assert_string_equal(bl_report_kind_name(BL_REPORT_KIND_OTHER), "other");
}

/* Whole reports through bl_bounce_analyze: rules that need the report around the reply. */
struct analyze_case {
	const char *name;
	const char *msg;
	size_t finding; /* which finding to check */
	const char *recipient;
	enum bl_bounce_class cls;
	const char *reason;
};

#define DSN_HEAD                                                                                   \
	"From: MAILER-DAEMON@mx.example.net\nTo: bounces+t@example.org\nSubject: Returned mail\n"  \
	"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "         \
	"boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n"

static const struct analyze_case analyze_cases[] = {
    /* the reply names our sender (the report's To) after its code: the sender was refused */
    {"sender in reply",
     DSN_HEAD "x\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "
              "mx.example.net\n\nFinal-Recipient: rfc822; r@example.com\nAction: failed\n"
              "Status: 5.0.0\nDiagnostic-Code: smtp; 5.1.0 - Unknown address error 550-'5.7.1 "
              "<bounces+t@example.org>... Access denied'\n\n--B--\n",
     0, "r@example.com", BL_BOUNCE_BLOCK, "rejected"},
    /* ... but a reply naming the recipient is about the recipient */
    {"recipient in reply",
     DSN_HEAD "x\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "
              "mx.example.net\n\nFinal-Recipient: rfc822; r@example.com\nAction: failed\n"
              "Status: 5.0.0\nDiagnostic-Code: smtp; 550 5.1.1 <r@example.com>... User "
              "unknown\n\n--B--\n",
     0, "r@example.com", BL_BOUNCE_HARD, "userunknown"},
    /* Exim: the failed address's part runs on over a line naming our sender */
    {"exim part with sender",
     "From: Mail Delivery System <mailer-daemon@mx.example.net>\nTo: s@example.org\n"
     "X-Failed-Recipients: r@example.com\nSubject: Mail delivery failed\n\n"
     "The following address(es) failed:\n\n  r@example.com\n    SMTP error from remote mail "
     "server after end of data:\n    550 5.2.0 <s@example.org> From:\n    Domain is "
     "invalid.\n\n------ This is a copy of the message, including all the headers. ------\n",
     0, "r@example.com", BL_BOUNCE_BLOCK, "rejected"},
    /* a DSN record without Diagnostic-Code, generic status, the text lists only its address:
       the transcript says why */
    {"sendmail transcript",
     DSN_HEAD "   ----- The following addresses had permanent fatal errors -----\n"
              "<r@example.com>\n\n   ----- Transcript of session follows -----\n"
              "mail.local: unknown user: r\n554 <r@example.com>... Service unavailable\n"
              "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "
              "mx.example.net\n\nFinal-Recipient: rfc822; r@example.com\nAction: failed\n"
              "Status: 5.5.0\n\n--B--\n",
     0, "r@example.com", BL_BOUNCE_HARD, "userunknown"},
    /* ... while a specific status is not outweighed by the rest of the text */
    {"specific status kept",
     DSN_HEAD "Delivery failed:\n\n  r@example.com\n\nScanned by an antivirus system\n"
              "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "
              "mx.example.net\n\nFinal-Recipient: rfc822; r@example.com\nAction: failed\n"
              "Status: 5.1.1\n\n--B--\n",
     0, "r@example.com", BL_BOUNCE_HARD, "userunknown"},
    /* Sendmail v5: "Remote protocol error" takes the reply quoted above it */
    {"remote protocol error",
     "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\nTo: s@example.org\n"
     "Subject: Returned mail: Remote protocol error\n\n"
     "   ----- Transcript of session follows -----\nWhile talking to mx.example.com:\n"
     ">>> MAIL From:<s@example.org>\n<<< 550 Insecure Mail Relay\n"
     "554 <r@example.com>... Remote protocol error\n"
     "550 example.net (smtp)... 550 Host unknown\n\n"
     "   ----- Unsent message follows -----\nFrom: s@example.org\nTo: r@example.com\n"
     "Subject: x\n\nx\n",
     0, "r@example.com", BL_BOUNCE_BLOCK, "rejected"},
};

static void test_analyze_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(analyze_cases) / sizeof(analyze_cases[0]); i++) {
		const struct analyze_case *c = &analyze_cases[i];
		struct bl_bounce_report r;
		struct bl_diag d;
		if (bl_bounce_analyze(c->msg, strlen(c->msg), NULL, &r, &d) != 0) {
			printf("# %s: analyze failed: %s\n", c->name, d.msg);
			bad++;
			continue;
		}
		const struct bl_bounce_finding *f =
		    c->finding < r.n_findings ? &r.findings[c->finding] : NULL;
		if (!f || strcmp(f->recipient, c->recipient) != 0 || f->cls != c->cls ||
		    strcmp(f->reason, c->reason) != 0) {
			printf("# %s: got %s %s/%s, want %s %s/%s\n", c->name,
			       f ? f->recipient : "(no finding)",
			       f ? bl_bounce_class_name(f->cls) : "-", f ? f->reason : "-",
			       c->recipient, bl_bounce_class_name(c->cls), c->reason);
			bad++;
		}
		bl_bounce_report_clear(&r);
	}
	assert_int_equal(bad, 0);
}

/* An ARF naming 20,000 recipients gives the first BL_BOUNCE_MAX_FINDINGS, not 20,000 rows. */
static void test_findings_capped(void **state)
{
	(void)state;
	static const char head[] =
	    "From: fbl@isp.example\nTo: bounces@news.example\nSubject: report\n"
	    "Message-ID: <many@isp.example>\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=feedback-report; boundary=B\n\n"
	    "--B\nContent-Type: text/plain\n\nabuse\n\n"
	    "--B\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n";
	size_t cap = sizeof(head) + 20000 * 48 + 64, n = 0;
	char *msg = malloc(cap);
	n += (size_t)snprintf(msg + n, cap - n, "%s", head);
	for (int i = 0; i < 20000; i++)
		n += (size_t)snprintf(msg + n, cap - n, "Original-Rcpt-To: <r%05d@example.org>\n",
		                      i);
	n += (size_t)snprintf(msg + n, cap - n, "\n--B--\n");
	struct bl_bounce_report r;
	struct bl_diag d;
	if (bl_bounce_analyze(msg, n, NULL, &r, &d) != 0)
		fail_msg("analyze: %s", d.msg);
	if (r.kind != BL_REPORT_KIND_ARF || r.n_findings != BL_BOUNCE_MAX_FINDINGS)
		fail_msg("got kind %s with %zu findings, want arf with %d",
		         bl_report_kind_name(r.kind), r.n_findings, BL_BOUNCE_MAX_FINDINGS);
	if (strcmp(r.findings[0].recipient, "r00000@example.org") != 0)
		fail_msg("first finding: got %s, want r00000@example.org", r.findings[0].recipient);
	bl_bounce_report_clear(&r);
	free(msg);
}

/* Refusals of our own sending account, which pause a post, against refusals of a recipient. */
static void test_account_refusal(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int want;
	} rows[] = {
	    {"550 5.7.1 Daily sending quota exceeded for this account", 1},
	    {"554 5.7.0 DAILY SENDING QUOTA EXCEEDED", 1},
	    {"454 Throttling failure: Maximum sending rate exceeded.", 1},
	    {"550 Sending paused for this account", 1},
	    {"550 5.7.1 Your sending has been suspended", 1},
	    {"552 5.2.2 Mailbox quota exceeded", 0},
	    {"550 Sending is paused for this account", 1},
	    {"554 Your account has exceeded its daily sending limit", 1},
	    {"550 The sender account has been suspended", 1},
	    {"550 Sending-quota exceeded", 1},
	    {"550 sending_quota_exceeded", 1},
	    {"554 Throttling failure: Daily message quota exceeded.", 1},
	    /* the words in a quoted recipient, or beside a status about the recipient */
	    {"550 5.1.1 <\"sending quota\"@evil.example>: Recipient address rejected: User unknown",
	     0},
	    {"550 \"sending quota\"@evil.example: User unknown", 0},
	    {"550 sending.quota@evil.example: no such user", 0},
	    {"552 5.2.2 Mailbox full, message quota exceeded", 0},
	    {"552 5.2.2 <u1@example.org>: Recipient message quota exceeded", 0},
	    {"550 5.1.1 User unknown (sending quota: n/a)", 0},
	    /* a relay passing on the recipient's server's words */
	    {"550 5.7.1 <s3@example.org>: Recipient address rejected: undeliverable address: host "
	     "mx.example.org[192.0.2.1] said: 550 5.7.1 daily sending limit exceeded (in reply to "
	     "RCPT TO command)",
	     0},
	    /* providers' wording */
	    {"550 5.5.0 Requested action not taken: mailbox unavailable (S3115)", 1},
	    {"550 5.4.5 Daily SMTP relay limit exceeded for customer. For more", 1},
	    {"554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
	     "process message due to a permanent exception: Submission quota exceeded",
	     1},
	    {"550 5.1.90 Your message can't be sent because you've reached your daily limit for "
	     "message recipients",
	     1},
	    {"553 5.1.8 Sending limit exceeded", 1},
	    {"550 5.4.6 Unusual sending activity detected", 1},
	    {"550 Maximum credits exceeded", 1},
	    {"550 5.1.1 User unknown", 0},
	    {"550 5.7.1 account is disabled", 0},
	    {"", 0},
	    {NULL, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (bl_bounce_account_refusal(rows[i].text) != rows[i].want)
			fail_msg("\"%s\": got %d, want %d", rows[i].text ? rows[i].text : "(null)",
			         !rows[i].want, rows[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify_table),  cmocka_unit_test(test_status_from_text),
	    cmocka_unit_test(test_kind_names),      cmocka_unit_test(test_analyze_table),
	    cmocka_unit_test(test_findings_capped), cmocka_unit_test(test_account_refusal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
