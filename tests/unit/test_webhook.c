/*
 * Unit tests for src/bounce/webhook.c: each provider's documented payloads, signed at test
 * time with throwaway keys the `openssl` command makes in a temporary directory (an RSA
 * certificate standing in for the SNS signing certificate, EC P-256 keys for SendGrid, an
 * HMAC key for Mailgun), read into reports; then forged, tampered, stale, unsigned and
 * unconfigured requests refused with nothing returned. Signatures and HMACs are made by
 * the openssl command, not by the code under test. No network: the SNS certificate always
 * comes from a file, and every SigningCertURL the code could fetch is refused first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bounce/webhook.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"

static char dir[256];

static const char *path(const char *name)
{
	static char p[16][512];
	static int i;
	i = (i + 1) % 16;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static char *slurp(const char *file)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		fail_msg("cannot open %s", file);
	struct bl_buf b;
	bl_buf_init(&b, 0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&b, chunk, n);
	fclose(f);
	bl_buf_adds(&b, "");
	char *s = bl_buf_take(&b);
	size_t len = strlen(s);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

static void spit(const char *file, const char *data, size_t len)
{
	FILE *f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* base64 of `openssl dgst -DIGEST -sign KEY` over @data: a PKCS #1 v1.5 RSA signature, or a
 * DER ECDSA signature for an EC key. malloc'd. */
static char *sign(const char *key_path, const char *digest, const char *data, size_t len)
{
	char key[512];
	snprintf(key, sizeof(key), "%s", key_path);
	spit(path("data"), data, len);
	run("openssl dgst -%s -sign %s -out %s %s && base64 -w0 %s > %s", digest, key,
	    path("sig.bin"), path("data"), path("sig.bin"), path("sig.b64"));
	return slurp(path("sig.b64"));
}

/* lowercase hex HMAC-SHA-256 of @data under @key, by the openssl command. */
static char *hmac_hex(const char *key, const char *data)
{
	spit(path("data"), data, strlen(data));
	run("openssl dgst -sha256 -mac HMAC -macopt key:%s -r %s | cut -d' ' -f1 > %s", key,
	    path("data"), path("mac"));
	return slurp(path("mac"));
}

static char *sns_pem, *other_pem, *sg_pub, *sg_other_pub;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/bl-webhook-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	run("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	    "-subj /CN=sns.us-east-1.amazonaws.com -keyout sns.key -out sns.pem >/dev/null 2>&1 && "
	    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=forger "
	    "-keyout other.key -out other.pem >/dev/null 2>&1 && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out sg.key && "
	    "openssl ec -in sg.key -pubout -outform DER 2>/dev/null | base64 -w0 > sg.pub && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out sg2.key && "
	    "openssl ec -in sg2.key -pubout -outform DER 2>/dev/null | base64 -w0 > sg2.pub",
	    dir);
	sns_pem = bl_xstrdup(path("sns.pem"));
	other_pem = bl_xstrdup(path("other.pem"));
	sg_pub = slurp(path("sg.pub"));
	sg_other_pub = slurp(path("sg2.pub"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	run("rm -rf %s", dir);
	free(sns_pem);
	free(other_pem);
	free(sg_pub);
	free(sg_other_pub);
	return 0;
}

/* The hex SHA-256 of @s, by the sha256sum command, into @out. */
static void sha256_of(const char *s, char out[65])
{
	spit(path("keyin"), s, strlen(s));
	run("sha256sum < %s | cut -d' ' -f1 > %s", path("keyin"), path("keyout"));
	char *h = slurp(path("keyout"));
	snprintf(out, 65, "%s", h);
	free(h);
}

/* ---- requests ---- */

struct hdrs {
	const char *name[4];
	const char *value[4];
};

static const char *hdr(void *arg, const char *name)
{
	const struct hdrs *h = arg;
	for (size_t i = 0; h && i < 4; i++)
		if (h->name[i] && strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

static const char TOPIC[] = "arn:aws:sns:us-east-1:123456789012:bulletin-ses";
static const int64_t NOW = 1767225600; /* 2026-01-01T00:00:00Z */

static struct bl_webhook_keys keys(void)
{
	struct bl_webhook_keys k = {
	    .sns_topic_arn = TOPIC,
	    .sns_cert_file = sns_pem,
	    .postmark_auth = "bulletin:s3cret",
	    .sendgrid_pubkey = sg_pub,
	    .mailgun_key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0",
	    .max_age = 300,
	};
	return k;
}

struct result {
	int rc;
	struct bl_bounce_report *r;
	size_t n;
	char *url;
	struct bl_diag d;
};

static struct result call(enum bl_webhook_provider p, const struct bl_webhook_keys *k,
                          const char *body, struct hdrs *h, int64_t now)
{
	struct result res = {0};
	struct bl_bounce_report sentinel;
	res.r = &sentinel; /* must stay untouched on error */
	res.n = 777;
	struct bl_webhook_request req = {body, strlen(body), hdr, h};
	res.rc = bl_webhook_read(p, k, &req, now, &res.r, &res.n, &res.url, &res.d);
	if (res.rc != 0) {
		if (res.r != &sentinel || res.n != 777 || res.url)
			fail_msg("%s: error %d returned output", bl_webhook_provider_name(p),
			         res.rc);
		res.r = NULL;
		res.n = 0;
	}
	return res;
}

static void result_free(struct result *res)
{
	bl_webhook_reports_free(res->r, res->n);
	free(res->url);
}

/* What one finding should be. */
struct want {
	const char *recipient;
	enum bl_bounce_class cls;
	const char *reason;
	const char *status;
	int reply_code;
	int final;
	const char *feedback_type;
	const char *diag_prefix;
};

static void check_finding(const char *what, const struct bl_bounce_finding *f, const struct want *w)
{
	if (strcmp(f->recipient, w->recipient) != 0)
		fail_msg("%s: recipient got %s, want %s", what, f->recipient, w->recipient);
	if (f->cls != w->cls)
		fail_msg("%s: class got %s, want %s", what, bl_bounce_class_name(f->cls),
		         bl_bounce_class_name(w->cls));
	if (strcmp(f->reason, w->reason) != 0)
		fail_msg("%s: reason got %s, want %s", what, f->reason, w->reason);
	if (strcmp(f->status, w->status) != 0)
		fail_msg("%s: status got \"%s\", want \"%s\"", what, f->status, w->status);
	if (f->reply_code != w->reply_code)
		fail_msg("%s: reply code got %d, want %d", what, f->reply_code, w->reply_code);
	if (f->final != w->final)
		fail_msg("%s: final got %d, want %d", what, f->final, w->final);
	if (strcmp(f->feedback_type, w->feedback_type) != 0)
		fail_msg("%s: feedback type got \"%s\", want \"%s\"", what, f->feedback_type,
		         w->feedback_type);
	if (strncmp(f->diagnostic, w->diag_prefix, strlen(w->diag_prefix)) != 0)
		fail_msg("%s: diagnostic got \"%s\", want it to start \"%s\"", what, f->diagnostic,
		         w->diag_prefix);
}

static void expect_rc(const char *what, const struct result *res, int want)
{
	if (res->rc != want)
		fail_msg("%s: got %d (%s), want %d", what, res->rc, res->d.msg, want);
}

/* ---- Amazon SES through SNS ---- */

/* An SES notification as SNS delivers it (SES developer guide, notification contents). */
static char *ses_bounce(const char *type, const char *subtype, const char *status, const char *diag)
{
	json_t *n = json_pack(
	    "{s:s, s:{s:s, s:s, s:[{s:s, s:s, s:s, s:s}, {s:s}], s:s, s:s, s:s}, "
	    "s:{s:s, s:s, s:s, s:[s], s:b, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}], "
	    "s:{s:[s], s:[s], s:s, s:s}}}",
	    "notificationType", "Bounce", "bounce", "bounceType", type, "bounceSubType", subtype,
	    "bouncedRecipients", "emailAddress", "jane@example.com", "action", "failed", "status",
	    status, "diagnosticCode", diag, "emailAddress", "richard@example.com", "timestamp",
	    "2025-12-31T23:59:50.000Z", "feedbackId",
	    "0100019a-bounce-feedback-000000000001-000000", "reportingMTA",
	    "dsn; e226-55.smtp-out.us-east-1.amazonses.com", "mail", "timestamp",
	    "2025-12-31T23:59:40.000Z", "source", "news@example.org", "messageId",
	    "0100019a-ses-0000-0000-000000000000-000000", "destination", "jane@example.com",
	    "headersTruncated", 0, "headers", "name", "From", "value", "News <news@example.org>",
	    "name", "Message-ID", "value", "<bulletin-42-7-abcdef@example.org>", "name", "List-Id",
	    "value", "News <news.example.org>", "commonHeaders", "from", "News <news@example.org>",
	    "to", "jane@example.com", "messageId", "bulletin-42-7-abcdef@example.org", "subject",
	    "Breaking: test");
	char *s = json_dumps(n, JSON_COMPACT);
	json_decref(n);
	return s;
}

struct sns_opts {
	const char *type;       /* "Notification" */
	const char *message_id; /* "0000000-1111-2222-3333-444444444444" */
	const char *topic;      /* TOPIC */
	const char *timestamp;  /* "2026-01-01T00:00:00.000Z" */
	const char *version;    /* "1" */
	const char *key;        /* sns.key */
	const char *subject;    /* NULL: none */
	const char *subscribe_url;
	const char *cert_url;
	const char *tamper; /* replaces Message after signing */
};

/* An SNS HTTP POST body carrying @message, signed per @o (canonical string built here). */
static char *sns_body(const char *message, const struct sns_opts *o)
{
	const char *type = o->type ? o->type : "Notification";
	const char *id = o->message_id ? o->message_id : "0000000-1111-2222-3333-444444444444";
	const char *topic = o->topic ? o->topic : TOPIC;
	const char *ts = o->timestamp ? o->timestamp : "2026-01-01T00:00:00.000Z";
	const char *ver = o->version ? o->version : "1";
	const char *token = "2336412f37fb687f5d51e6e2425f004aed4e3d8bb2bf4a1e8b9d7f6a1";
	const char *sub_url =
	    o->subscribe_url
	        ? o->subscribe_url
	        : "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&"
	          "TopicArn=arn:aws:sns:us-east-1:123456789012:bulletin-ses&Token=2336";
	int note = strcmp(type, "Notification") == 0;
	struct bl_buf c;
	bl_buf_init(&c, 0);
	bl_buf_addf(&c, "Message\n%s\nMessageId\n%s\n", message, id);
	if (note && o->subject)
		bl_buf_addf(&c, "Subject\n%s\n", o->subject);
	if (!note)
		bl_buf_addf(&c, "SubscribeURL\n%s\n", sub_url);
	bl_buf_addf(&c, "Timestamp\n%s\n", ts);
	if (!note)
		bl_buf_addf(&c, "Token\n%s\n", token);
	bl_buf_addf(&c, "TopicArn\n%s\nType\n%s\n", topic, type);
	char *sig = sign(o->key ? o->key : path("sns.key"),
	                 strcmp(ver, "2") == 0 ? "sha256" : "sha1", bl_buf_str(&c), c.len);
	bl_buf_finish(&c);
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", type, "MessageId", id,
	              "TopicArn", topic, "Message", o->tamper ? o->tamper : message, "Timestamp",
	              ts, "SignatureVersion", ver, "Signature", sig, "SigningCertURL",
	              o->cert_url ? o->cert_url
	                          : "https://sns.us-east-1.amazonaws.com/"
	                            "SimpleNotificationService-0000000000000000000.pem");
	if (note && o->subject)
		json_object_set_new(j, "Subject", json_string(o->subject));
	if (note)
		json_object_set_new(
		    j, "UnsubscribeURL",
		    json_string("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"));
	else {
		json_object_set_new(j, "SubscribeURL", json_string(sub_url));
		json_object_set_new(j, "Token", json_string(token));
	}
	free(sig);
	char *s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	return s;
}

static void test_ses_bounces(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys();
	static const struct {
		const char *type, *subtype, *status, *diag, *version;
		struct want w0;
	} cases[] = {
	    {"Permanent",
	     "General",
	     "5.1.1",
	     "smtp; 550 5.1.1 user unknown",
	     "1",
	     {"jane@example.com", BL_BOUNCE_HARD, "userunknown", "5.1.1", 550, 1, "",
	      "smtp; 550 5.1.1"}},
	    {"Permanent",
	     "General",
	     "5.1.1",
	     "smtp; 550 5.1.1 user unknown",
	     "2",
	     {"jane@example.com", BL_BOUNCE_HARD, "userunknown", "5.1.1", 550, 1, "", "smtp; 550"}},
	    {"Permanent",
	     "NoEmail",
	     "5.0.0",
	     "smtp; 550 no such mailbox",
	     "2",
	     {"jane@example.com", BL_BOUNCE_HARD, "userunknown", "5.0.0", 550, 1, "", "smtp;"}},
	    {"Permanent",
	     "General",
	     "5.7.1",
	     "smtp; 554 5.7.1 rejected by policy",
	     "2",
	     {"jane@example.com", BL_BOUNCE_BLOCK, "policyviolation", "5.7.1", 554, 1, "",
	      "smtp; 554"}},
	    {"Permanent",
	     "Suppressed",
	     "5.1.1",
	     "Amazon SES has suppressed sending",
	     "1",
	     {"jane@example.com", BL_BOUNCE_BLOCK, "suppressed", "5.1.1", 0, 1, "", "Amazon SES"}},
	    {"Permanent",
	     "OnAccountSuppressionList",
	     "5.1.1",
	     "",
	     "2",
	     {"jane@example.com", BL_BOUNCE_BLOCK, "suppressed", "5.1.1", 0, 1, "", ""}},
	    {"Permanent",
	     "ContentRejected",
	     "5.6.0",
	     "smtp; 552 5.6.0 content",
	     "2",
	     {"jane@example.com", BL_BOUNCE_BLOCK, "contenterror", "5.6.0", 552, 1, "", "smtp;"}},
	    {"Transient",
	     "MailboxFull",
	     "4.2.2",
	     "smtp; 452 4.2.2 over quota",
	     "2",
	     {"jane@example.com", BL_BOUNCE_SOFT, "mailboxfull", "4.2.2", 452, 1, "", "smtp; 452"}},
	    {"Transient",
	     "General",
	     "4.4.7",
	     "smtp; 451 4.4.7 expired",
	     "2",
	     {"jane@example.com", BL_BOUNCE_SOFT, "expired", "4.4.7", 451, 1, "", "smtp; 451"}},
	    {"Undetermined",
	     "Undetermined",
	     "",
	     "",
	     "2",
	     {"jane@example.com", BL_BOUNCE_UNKNOWN, "undefined", "", 0, 1, "", ""}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *msg =
		    ses_bounce(cases[i].type, cases[i].subtype, cases[i].status, cases[i].diag);
		struct sns_opts o = {.version = cases[i].version};
		char *body = sns_body(msg, &o);
		struct result res = call(BL_WEBHOOK_SES, &k, body, NULL, NOW + 5);
		char what[128];
		snprintf(what, sizeof(what), "case %zu (%s/%s v%s)", i, cases[i].type,
		         cases[i].subtype, cases[i].version);
		expect_rc(what, &res, 0);
		if (res.n != 1 || res.r[0].n_findings != 2)
			fail_msg("%s: got %zu reports, want 1 with 2 findings", what, res.n);
		const struct bl_bounce_report *r = &res.r[0];
		assert_int_equal(r->kind, BL_REPORT_KIND_DSN);
		check_finding(what, &r->findings[0], &cases[i].w0);
		/* The second recipient has no status nor diagnostic. */
		assert_string_equal(r->findings[1].recipient, "richard@example.com");
		assert_int_equal(r->findings[1].cls,
		                 cases[i].w0.cls == BL_BOUNCE_BLOCK &&
		                         strcmp(cases[i].subtype, "General") == 0
		                     ? BL_BOUNCE_HARD
		                     : cases[i].w0.cls);
		assert_string_equal(r->original_message_id, "bulletin-42-7-abcdef@example.org");
		assert_string_equal(r->original_list_id, "News <news.example.org>");
		assert_string_equal(r->original_to, "jane@example.com");
		assert_string_equal(r->subject, "Breaking: test");
		/* hex SHA-256 of "ses:" + the SNS MessageId, by sha256sum */
		char want_key[65];
		sha256_of("ses:0000000-1111-2222-3333-444444444444", want_key);
		assert_string_equal(r->key, want_key);
		assert_null(res.url);
		result_free(&res);
		free(body);
		free(msg);
	}
}

static void test_ses_complaints_and_others(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys();
	static const struct {
		const char *message;
		size_t reports;
		enum bl_bounce_class cls;
		const char *feedback_type;
	} cases[] = {
	    {"{\"notificationType\":\"Complaint\",\"complaint\":{\"userAgent\":\"AnyCompany "
	     "Feedback "
	     "Loop (V0.01)\",\"complainedRecipients\":[{\"emailAddress\":\"jane@example.com\"}],"
	     "\"complaintFeedbackType\":\"abuse\",\"arrivalDate\":\"2025-12-31T23:50:00.000Z\","
	     "\"timestamp\":\"2025-12-31T23:59:00.000Z\",\"feedbackId\":\"0100019a-c1\"},"
	     "\"mail\":{\"messageId\":\"0100019a-ses\",\"destination\":[\"jane@example.com\"],"
	     "\"commonHeaders\":{\"messageId\":\"<bulletin-1-2-ab@example.org>\","
	     "\"subject\":\"Hi\"}}}",
	     1, BL_BOUNCE_COMPLAINT, "abuse"},
	    /* no feedback type given: "abuse" */
	    {"{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":["
	     "{\"emailAddress\":\"jane@example.com\"}],\"feedbackId\":\"x\"},\"mail\":{"
	     "\"commonHeaders\":{\"messageId\":\"<bulletin-1-2-ab@example.org>\"}}}",
	     1, BL_BOUNCE_COMPLAINT, "abuse"},
	    {"{\"eventType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":["
	     "{\"emailAddress\":\"jane@example.com\"}],\"complaintFeedbackType\":\"Fraud\"},"
	     "\"mail\":{\"commonHeaders\":{\"messageId\":\"bulletin-1-2-ab@example.org\"}}}",
	     1, BL_BOUNCE_COMPLAINT, "fraud"},
	    {"{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":["
	     "{\"emailAddress\":\"jane@example.com\"}],\"complaintSubType\":"
	     "\"OnAccountSuppressionList\"},\"mail\":{\"commonHeaders\":{\"messageId\":"
	     "\"bulletin-1-2-ab@example.org\"}}}",
	     1, BL_BOUNCE_BLOCK, ""},
	    {"{\"notificationType\":\"Delivery\",\"delivery\":{\"timestamp\":\"2025-12-31T23:59:"
	     "00Z\","
	     "\"recipients\":[\"jane@example.com\"],\"smtpResponse\":\"250 ok\"},\"mail\":{}}",
	     0, 0, ""},
	    {"{\"eventType\":\"Open\",\"open\":{},\"mail\":{}}", 0, 0, ""},
	    {"{\"eventType\":\"DeliveryDelay\",\"deliveryDelay\":{\"delayType\":\"MailboxFull\","
	     "\"delayedRecipients\":[{\"emailAddress\":\"jane@example.com\",\"status\":\"4.2.2\","
	     "\"diagnosticCode\":\"smtp; 452 4.2.2 full\"}]},\"mail\":{\"commonHeaders\":{"
	     "\"messageId\":\"<bulletin-1-2-ab@example.org>\"}}}",
	     1, BL_BOUNCE_SOFT, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sns_opts o = {.version = "2",
		                     .subject = "Amazon SES Email Event Notification"};
		char *body = sns_body(cases[i].message, &o);
		struct result res = call(BL_WEBHOOK_SES, &k, body, NULL, NOW);
		char what[32];
		snprintf(what, sizeof(what), "case %zu", i);
		expect_rc(what, &res, 0);
		if (res.n != cases[i].reports)
			fail_msg("%s: got %zu reports, want %zu", what, res.n, cases[i].reports);
		if (res.n) {
			const struct bl_bounce_report *r = &res.r[0];
			assert_int_equal(r->n_findings, 1);
			if (r->findings[0].cls != cases[i].cls)
				fail_msg("%s: class got %s, want %s", what,
				         bl_bounce_class_name(r->findings[0].cls),
				         bl_bounce_class_name(cases[i].cls));
			assert_string_equal(r->findings[0].feedback_type, cases[i].feedback_type);
			assert_string_equal(r->findings[0].recipient, "jane@example.com");
			assert_string_equal(r->original_message_id, "bulletin-1-2-ab@example.org");
			assert_int_equal(r->kind, cases[i].cls == BL_BOUNCE_SOFT
			                              ? BL_REPORT_KIND_DSN
			                              : BL_REPORT_KIND_ARF);
			assert_int_equal(r->findings[0].final,
			                 cases[i].cls == BL_BOUNCE_SOFT ? 0 : 1);
		}
		result_free(&res);
		free(body);
	}
}

static void test_ses_subscription(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys();
	const char *msg = "You have chosen to subscribe to the topic "
	                  "arn:aws:sns:us-east-1:123456789012:bulletin-ses.\n"
	                  "To confirm the subscription, visit the SubscribeURL included in this "
	                  "message.";
	struct sns_opts o = {.type = "SubscriptionConfirmation"};
	char *body = sns_body(msg, &o);
	struct result res = call(BL_WEBHOOK_SES, &k, body, NULL, NOW);
	expect_rc("confirmation", &res, 0);
	assert_int_equal(res.n, 0);
	assert_non_null(res.url);
	assert_int_equal(strncmp(res.url,
	                         "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&",
	                         64),
	                 0);
	result_free(&res);
	free(body);

	/* Signed, but a SubscribeURL elsewhere: refused as a bad body. */
	static const char *const bad[] = {
	    "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription",
	    "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
	    "https://sns.us-east-1.amazonaws.com@127.0.0.1/?Action=ConfirmSubscription",
	    "https://127.0.0.1/?Action=ConfirmSubscription",
	    /* an S3 bucket's host, another region than the topic's, another partition */
	    "https://sns.s3.amazonaws.com/?Action=ConfirmSubscription",
	    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
	    "https://sns.us-east-1.amazonaws.com.cn/?Action=ConfirmSubscription",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.subscribe_url = bad[i];
		body = sns_body(msg, &o);
		res = call(BL_WEBHOOK_SES, &k, body, NULL, NOW);
		expect_rc(bad[i], &res, -BL_EINVAL);
		result_free(&res);
		free(body);
	}
	/* A topic in the China partition: its region's host under .amazonaws.com.cn. */
	struct bl_webhook_keys cn = keys();
	cn.sns_topic_arn = "arn:aws-cn:sns:cn-north-1:123456789012:bulletin-ses";
	struct sns_opts oc = {.type = "SubscriptionConfirmation",
	                      .topic = cn.sns_topic_arn,
	                      .subscribe_url = "https://sns.cn-north-1.amazonaws.com.cn/"
	                                       "?Action=ConfirmSubscription"};
	body = sns_body(msg, &oc);
	res = call(BL_WEBHOOK_SES, &cn, body, NULL, NOW);
	expect_rc("aws-cn confirmation", &res, 0);
	assert_non_null(res.url);
	result_free(&res);
	free(body);
	oc.subscribe_url = "https://sns.cn-north-1.amazonaws.com/?Action=ConfirmSubscription";
	body = sns_body(msg, &oc);
	res = call(BL_WEBHOOK_SES, &cn, body, NULL, NOW);
	expect_rc("aws-cn topic, .amazonaws.com URL", &res, -BL_EINVAL);
	result_free(&res);
	free(body);
	/* UnsubscribeConfirmation: nothing to do. */
	struct sns_opts u = {.type = "UnsubscribeConfirmation"};
	body = sns_body(msg, &u);
	res = call(BL_WEBHOOK_SES, &k, body, NULL, NOW);
	expect_rc("unsubscribe confirmation", &res, 0);
	assert_int_equal(res.n, 0);
	assert_null(res.url);
	result_free(&res);
	free(body);
}

static void test_ses_refused(void **state)
{
	(void)state;
	char *msg = ses_bounce("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown");
	char *tampered =
	    ses_bounce("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknowN");
	struct bl_webhook_keys good = keys(), other_cert = keys(), no_topic = keys(),
	                       fetch = keys(), garbage_cert = keys();
	other_cert.sns_cert_file = other_pem;
	no_topic.sns_topic_arn = "";
	fetch.sns_cert_file = NULL;
	struct bl_webhook_keys fetch_noregion = fetch;
	fetch_noregion.sns_topic_arn = "arn:aws:sns::123456789012:bulletin-ses";
	char *garbage = bl_xstrdup(path("sg.pub")), *other_key = bl_xstrdup(path("other.key"));
	garbage_cert.sns_cert_file = garbage;
	const struct {
		const char *what;
		struct bl_webhook_keys *k;
		struct sns_opts o;
		int64_t now;
		int want;
	} cases[] = {
	    {"valid", &good, {0}, NOW, 0},
	    {"valid v2 50 min later (SNS retries)", &good, {.version = "2"}, NOW + 3000, 0},
	    {"signed by another key", &good, {.key = other_key}, NOW, -BL_EPERM},
	    {"checked against another certificate", &other_cert, {0}, NOW, -BL_EPERM},
	    {"not a certificate", &garbage_cert, {0}, NOW, -BL_EPERM},
	    {"tampered Message", &good, {.tamper = tampered}, NOW, -BL_EPERM},
	    {"another topic",
	     &good,
	     {.topic = "arn:aws:sns:us-east-1:999999999999:x"},
	     NOW,
	     -BL_EPERM},
	    {"two hours old", &good, {0}, NOW + 7201, -BL_EPERM},
	    {"two hours ahead", &good, {0}, NOW - 7201, -BL_EPERM},
	    {"SignatureVersion 3", &good, {.version = "3"}, NOW, -BL_EPERM},
	    {"unconfigured", &no_topic, {0}, NOW, -BL_ENOENT},
	    /* With no certificate file the code would fetch SigningCertURL: each of these is
	       refused before any connection. */
	    {"cert URL on another host",
	     &fetch,
	     {.cert_url = "https://sns.us-east-1.amazonaws.com.evil.example/c.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL with userinfo",
	     &fetch,
	     {.cert_url = "https://sns.us-east-1.amazonaws.com@127.0.0.1/c.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL over http",
	     &fetch,
	     {.cert_url = "http://sns.us-east-1.amazonaws.com/c.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL with a port",
	     &fetch,
	     {.cert_url = "https://sns.us-east-1.amazonaws.com:8443/c.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL not a .pem",
	     &fetch,
	     {.cert_url = "https://sns.us-east-1.amazonaws.com/c.txt"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL on loopback",
	     &fetch,
	     {.cert_url = "https://127.0.0.1/c.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL on an S3 bucket's host",
	     &fetch,
	     {.cert_url = "https://sns.s3.amazonaws.com/SimpleNotificationService-x.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL in another region than the topic's",
	     &fetch,
	     {.cert_url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL in another partition than the topic's",
	     &fetch,
	     {.cert_url = "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-x.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL with .pem only in its query",
	     &fetch,
	     {.cert_url = "https://sns.us-east-1.amazonaws.com/c.txt?x=.pem"},
	     NOW,
	     -BL_EPERM},
	    {"cert URL, topic ARN without a region",
	     &fetch_noregion,
	     {.topic = "arn:aws:sns::123456789012:bulletin-ses",
	      .cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem"},
	     NOW,
	     -BL_EPERM},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = sns_body(msg, &cases[i].o);
		struct result res = call(BL_WEBHOOK_SES, cases[i].k, body, NULL, cases[i].now);
		expect_rc(cases[i].what, &res, cases[i].want);
		/* refused by the URL check, before any connection (not by a failed fetch) */
		if (cases[i].k->sns_cert_file == NULL && !strstr(res.d.msg, "SigningCertURL"))
			fail_msg("%s: got diagnostic \"%s\", want the SigningCertURL refused",
			         cases[i].what, res.d.msg);
		if (cases[i].want == 0 && res.n != 1)
			fail_msg("%s: got %zu reports, want 1", cases[i].what, res.n);
		result_free(&res);
		free(body);
	}
	/* Signature fields removed, and bodies that are no SNS message. */
	struct sns_opts o = {0};
	char *body = sns_body(msg, &o);
	json_t *j = json_loads(body, 0, NULL);
	json_object_del(j, "Signature");
	char *unsigned_body = json_dumps(j, 0);
	json_decref(j);
	struct result res = call(BL_WEBHOOK_SES, &good, unsigned_body, NULL, NOW);
	expect_rc("no Signature", &res, -BL_EPERM);
	static const char *const malformed[] = {
	    "", "{\"Type\":\"Notification\",", "[1,2]", "{\"Type\":\"Gossip\"}", "<xml/>",
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		res = call(BL_WEBHOOK_SES, &good, malformed[i], NULL, NOW);
		expect_rc(malformed[i], &res, -BL_EINVAL);
	}
	/* Signed, but the Message is not JSON. */
	char *odd = sns_body("just text", &o);
	res = call(BL_WEBHOOK_SES, &good, odd, NULL, NOW);
	expect_rc("Message not JSON", &res, -BL_EINVAL);
	free(odd);
	free(unsigned_body);
	free(body);
	free(msg);
	free(tampered);
	free(garbage);
	free(other_key);
}

/* ---- Postmark ---- */

static const char postmark_bounce[] =
    "{\"RecordType\":\"Bounce\",\"MessageStream\":\"broadcast\",\"ID\":42,"
    "\"Type\":\"HardBounce\",\"TypeCode\":1,\"Name\":\"Hard bounce\",\"Tag\":\"news\","
    "\"MessageID\":\"883953f4-6105-42a2-a16a-77a8eac79483\",\"ServerID\":23,"
    "\"Description\":\"The server was unable to deliver your message (ex: unknown user, "
    "mailbox not found).\",\"Details\":\"smtp;550 5.1.1 The email account that you tried to "
    "reach does not exist.\",\"Email\":\"john@example.com\",\"From\":\"news@example.org\","
    "\"BouncedAt\":\"2025-12-31T23:59:00Z\",\"DumpAvailable\":true,\"Inactive\":true,"
    "\"CanActivate\":true,\"Subject\":\"Breaking\",\"Metadata\":{\"bulletin-message-id\":"
    "\"<bulletin-9-8-cd@example.org>\"}}";

static void test_postmark(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys(), off = keys();
	off.postmark_auth = NULL;
	struct hdrs ok = {{"authorization"}, {"Basic YnVsbGV0aW46czNjcmV0"}};
	struct hdrs wrong = {{"Authorization"}, {"Basic YnVsbGV0aW46d3Jvbmc="}};
	struct hdrs bearer = {{"Authorization"}, {"Bearer YnVsbGV0aW46czNjcmV0"}};
	struct hdrs none = {{0}, {0}};

	struct result res = call(BL_WEBHOOK_POSTMARK, &k, postmark_bounce, &ok, NOW);
	expect_rc("hard bounce", &res, 0);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].kind, BL_REPORT_KIND_DSN);
	assert_int_equal(res.r[0].n_findings, 1);
	struct want w = {
	    "john@example.com",        BL_BOUNCE_HARD, "userunknown", "5.1.1", 550, 1, "",
	    "smtp;550 5.1.1 The email"};
	check_finding("hard bounce", &res.r[0].findings[0], &w);
	assert_string_equal(res.r[0].original_message_id, "bulletin-9-8-cd@example.org");
	char want_key[65];
	sha256_of("postmark:42", want_key); /* "postmark:" + its ID */
	assert_string_equal(res.r[0].key, want_key);
	result_free(&res);

	static const struct {
		const char *body;
		size_t reports;
		struct want w;
	} cases[] = {
	    {"{\"RecordType\":\"SpamComplaint\",\"ID\":43,\"Type\":\"SpamComplaint\",\"TypeCode\":"
	     "100001,\"Email\":\"john@example.com\",\"Details\":\"\",\"Description\":\"The "
	     "subscriber explicitly marked this message as spam.\"}",
	     1,
	     {"john@example.com", BL_BOUNCE_COMPLAINT, "feedback", "", 0, 1, "abuse", "The subsc"}},
	    {"{\"RecordType\":\"Bounce\",\"ID\":44,\"Type\":\"Transient\",\"TypeCode\":2,"
	     "\"Email\":\"john@example.com\",\"Details\":\"smtp;421 4.4.2 timeout\"}",
	     1,
	     {"john@example.com", BL_BOUNCE_SOFT, "networkerror", "4.4.2", 421, 0, "", "smtp;421"}},
	    {"{\"RecordType\":\"Bounce\",\"ID\":45,\"Type\":\"SoftBounce\",\"TypeCode\":4096,"
	     "\"Email\":\"john@example.com\",\"Details\":\"552 5.2.2 mailbox full\"}",
	     1,
	     {"john@example.com", BL_BOUNCE_SOFT, "mailboxfull", "5.2.2", 552, 1, "", "552"}},
	    {"{\"RecordType\":\"Bounce\",\"ID\":46,\"Type\":\"Blocked\",\"TypeCode\":100006,"
	     "\"Email\":\"john@example.com\",\"Details\":\"554 5.7.1 blocked by RBL\"}",
	     1,
	     {"john@example.com", BL_BOUNCE_BLOCK, "blocked", "5.7.1", 554, 1, "", "554"}},
	    {"{\"RecordType\":\"Bounce\",\"ID\":47,\"Type\":\"AutoResponder\",\"TypeCode\":64,"
	     "\"Email\":\"john@example.com\",\"Details\":\"out of office\"}",
	     0,
	     {0}},
	    {"{\"RecordType\":\"Delivery\",\"ServerID\":23,\"MessageID\":\"883953f4\","
	     "\"Recipient\":\"john@example.com\",\"DeliveredAt\":\"2025-12-31T23:59:00Z\"}",
	     0,
	     {0}},
	    {"{\"RecordType\":\"Open\",\"Recipient\":\"john@example.com\"}", 0, {0}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[32];
		snprintf(what, sizeof(what), "case %zu", i);
		res = call(BL_WEBHOOK_POSTMARK, &k, cases[i].body, &ok, NOW);
		expect_rc(what, &res, 0);
		if (res.n != cases[i].reports)
			fail_msg("%s: got %zu reports, want %zu", what, res.n, cases[i].reports);
		if (res.n) {
			check_finding(what, &res.r[0].findings[0], &cases[i].w);
			assert_string_equal(res.r[0].original_message_id, "");
			assert_int_equal(res.r[0].kind, cases[i].w.cls == BL_BOUNCE_COMPLAINT
			                                    ? BL_REPORT_KIND_ARF
			                                    : BL_REPORT_KIND_DSN);
		}
		result_free(&res);
	}

	const struct {
		const char *what;
		struct bl_webhook_keys *k;
		const char *body;
		struct hdrs *h;
		int want;
	} refused[] = {
	    {"wrong password", &k, postmark_bounce, &wrong, -BL_EPERM},
	    {"not Basic", &k, postmark_bounce, &bearer, -BL_EPERM},
	    {"no Authorization", &k, postmark_bounce, &none, -BL_EPERM},
	    {"unconfigured", &off, postmark_bounce, &ok, -BL_ENOENT},
	    {"malformed", &k, "{\"RecordType\":", &ok, -BL_EINVAL},
	    {"no RecordType", &k, "{\"Hello\":1}", &ok, -BL_EINVAL},
	    {"bounce without Email", &k,
	     "{\"RecordType\":\"Bounce\",\"ID\":1,\"Type\":\"HardBounce\"}", &ok, -BL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		res = call(BL_WEBHOOK_POSTMARK, refused[i].k, refused[i].body, refused[i].h, NOW);
		expect_rc(refused[i].what, &res, refused[i].want);
	}
}

/* ---- SendGrid ---- */

static const char sendgrid_events[] =
    "[{\"email\":\"a@example.com\",\"timestamp\":1767225590,\"smtp-id\":"
    "\"<bulletin-5-1-aa@example.org>\",\"event\":\"bounce\",\"category\":[\"news\"],"
    "\"sg_event_id\":\"sg-event-1\",\"sg_message_id\":\"14c5d75ce93.dfd.64b469.filter0001\","
    "\"reason\":\"550 5.1.1 The email account that you tried to reach does not exist.\","
    "\"status\":\"5.1.1\",\"type\":\"bounce\",\"bounce_classification\":\"Invalid Address\"},"
    "{\"email\":\"b@example.com\",\"timestamp\":1767225590,\"smtp-id\":"
    "\"<bulletin-5-2-bb@example.org>\",\"event\":\"bounce\",\"sg_event_id\":\"sg-event-2\","
    "\"reason\":\"554 5.7.1 Service unavailable; client host blocked\",\"status\":\"5.7.1\","
    "\"type\":\"blocked\"},"
    "{\"email\":\"c@example.com\",\"timestamp\":1767225590,\"event\":\"deferred\","
    "\"sg_event_id\":\"sg-event-3\",\"response\":\"421 4.7.0 try again later\","
    "\"attempt\":\"2\",\"smtp-id\":\"<bulletin-5-3-cc@example.org>\"},"
    "{\"email\":\"d@example.com\",\"timestamp\":1767225590,\"event\":\"spamreport\","
    "\"sg_event_id\":\"sg-event-4\",\"smtp-id\":\"<bulletin-5-4-dd@example.org>\"},"
    "{\"email\":\"e@example.com\",\"timestamp\":1767225590,\"event\":\"delivered\","
    "\"sg_event_id\":\"sg-event-5\",\"response\":\"250 OK\"},"
    "{\"email\":\"e@example.com\",\"timestamp\":1767225590,\"event\":\"open\","
    "\"sg_event_id\":\"sg-event-6\",\"useragent\":\"Mozilla/5.0\",\"ip\":\"192.0.2.1\"},"
    "{\"email\":\"f@example.com\",\"timestamp\":1767225590,\"event\":\"dropped\","
    "\"sg_event_id\":\"sg-event-7\",\"reason\":\"Bounced Address\",\"status\":\"5.0.0\","
    "\"smtp-id\":\"<bulletin-5-6-ff@example.org>\"},"
    "{\"email\":\"g@example.com\",\"timestamp\":1767225590,\"event\":\"bounce\","
    "\"sg_event_id\":\"sg-event-8\",\"reason\":\"452 4.2.2 mailbox full\","
    "\"status\":\"4.2.2\",\"smtp-id\":\"<bulletin-5-7-gg@example.org>\"}]";

static void test_sendgrid(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys(), other = keys(), off = keys();
	other.sendgrid_pubkey = sg_other_pub;
	off.sendgrid_pubkey = "";
	char ts[32];
	snprintf(ts, sizeof(ts), "%lld", (long long)NOW);
	struct bl_buf signed_data;
	bl_buf_init(&signed_data, 0);
	bl_buf_addf(&signed_data, "%s%s", ts, sendgrid_events);
	char *sig = sign(path("sg.key"), "sha256", bl_buf_str(&signed_data), signed_data.len);
	char *sig2 = sign(path("sg2.key"), "sha256", bl_buf_str(&signed_data), signed_data.len);
	bl_buf_finish(&signed_data);
	struct hdrs h = {
	    {"X-Twilio-Email-Event-Webhook-Signature", "x-twilio-email-event-webhook-timestamp"},
	    {sig, ts}};

	struct result res = call(BL_WEBHOOK_SENDGRID, &k, sendgrid_events, &h, NOW + 60);
	expect_rc("events", &res, 0);
	static const struct {
		struct want w;
		const char *msgid;
	} want[] = {
	    {{"a@example.com", BL_BOUNCE_HARD, "userunknown", "5.1.1", 550, 1, "", "550 5.1.1"},
	     "bulletin-5-1-aa@example.org"},
	    {{"b@example.com", BL_BOUNCE_BLOCK, "blocked", "5.7.1", 554, 1, "", "554 5.7.1"},
	     "bulletin-5-2-bb@example.org"},
	    {{"c@example.com", BL_BOUNCE_SOFT, "systemerror", "4.7.0", 421, 0, "", "421"},
	     "bulletin-5-3-cc@example.org"},
	    {{"d@example.com", BL_BOUNCE_COMPLAINT, "feedback", "", 0, 1, "abuse", ""},
	     "bulletin-5-4-dd@example.org"},
	    {{"f@example.com", BL_BOUNCE_BLOCK, "suppressed", "", 0, 1, "", "Bounced Address"},
	     "bulletin-5-6-ff@example.org"},
	    {{"g@example.com", BL_BOUNCE_SOFT, "mailboxfull", "4.2.2", 452, 1, "", "452"},
	     "bulletin-5-7-gg@example.org"},
	};
	if (res.n != sizeof(want) / sizeof(want[0]))
		fail_msg("got %zu reports, want %zu", res.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < res.n; i++) {
		char what[32];
		snprintf(what, sizeof(what), "event %zu", i);
		assert_int_equal(res.r[i].n_findings, 1);
		check_finding(what, &res.r[i].findings[0], &want[i].w);
		assert_string_equal(res.r[i].original_message_id, want[i].msgid);
		for (size_t j = 0; j < i; j++)
			if (strcmp(res.r[i].key, res.r[j].key) == 0)
				fail_msg("events %zu and %zu share a key", j, i);
	}
	char want_key[65];
	sha256_of("sendgrid:sg-event-1", want_key); /* "sendgrid:" + its sg_event_id */
	assert_string_equal(res.r[0].key, want_key);
	assert_int_equal(res.r[3].kind, BL_REPORT_KIND_ARF);
	result_free(&res);

	/* The same body again: the same keys. */
	res = call(BL_WEBHOOK_SENDGRID, &k, sendgrid_events, &h, NOW);
	expect_rc("again", &res, 0);
	assert_string_equal(res.r[0].key, want_key);
	result_free(&res);

	char *tampered = bl_xstrdup(sendgrid_events);
	tampered[strlen("[{\"email\":\"")] = 'z';
	char old_ts[32];
	snprintf(old_ts, sizeof(old_ts), "%lld", (long long)(NOW - 301));
	struct hdrs wrong_sig = {
	    {"X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"},
	    {sig2, ts}};
	struct hdrs stale = {
	    {"X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"},
	    {sig, old_ts}};
	struct hdrs no_ts = {{"X-Twilio-Email-Event-Webhook-Signature"}, {sig}};
	struct hdrs no_sig = {{"X-Twilio-Email-Event-Webhook-Timestamp"}, {ts}};
	struct hdrs not_b64 = {
	    {"X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"},
	    {"!!!", ts}};
	const struct {
		const char *what;
		struct bl_webhook_keys *k;
		const char *body;
		struct hdrs *h;
		int64_t now;
		int want;
	} refused[] = {
	    {"signed by another key", &k, sendgrid_events, &wrong_sig, NOW, -BL_EPERM},
	    {"checked with another key", &other, sendgrid_events, &h, NOW, -BL_EPERM},
	    {"tampered body", &k, tampered, &h, NOW, -BL_EPERM},
	    {"timestamp changed", &k, sendgrid_events, &stale, NOW, -BL_EPERM},
	    {"stale", &k, sendgrid_events, &h, NOW + 301, -BL_EPERM},
	    {"no timestamp header", &k, sendgrid_events, &no_ts, NOW, -BL_EPERM},
	    {"no signature header", &k, sendgrid_events, &no_sig, NOW, -BL_EPERM},
	    {"signature not base64", &k, sendgrid_events, &not_b64, NOW, -BL_EPERM},
	    {"unconfigured", &off, sendgrid_events, &h, NOW, -BL_ENOENT},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		res = call(BL_WEBHOOK_SENDGRID, refused[i].k, refused[i].body, refused[i].h,
		           refused[i].now);
		expect_rc(refused[i].what, &res, refused[i].want);
	}
	/* Signed but malformed: a bad body, not a forgery. */
	static const char *const malformed[] = {"{\"event\":\"bounce\"}", "[{\"event\":"};
	for (size_t i = 0; i < 2; i++) {
		struct bl_buf b;
		bl_buf_init(&b, 0);
		bl_buf_addf(&b, "%s%s", ts, malformed[i]);
		char *s = sign(path("sg.key"), "sha256", bl_buf_str(&b), b.len);
		bl_buf_finish(&b);
		struct hdrs hm = {{"X-Twilio-Email-Event-Webhook-Signature",
		                   "X-Twilio-Email-Event-Webhook-Timestamp"},
		                  {s, ts}};
		res = call(BL_WEBHOOK_SENDGRID, &k, malformed[i], &hm, NOW);
		expect_rc(malformed[i], &res, -BL_EINVAL);
		free(s);
	}
	free(tampered);
	free(sig);
	free(sig2);
}

/* ---- Mailgun ---- */

static const char MG_TOKEN[] = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f";
/* The token of the last body mailgun_body made: each body has a token of its own, since the
   code refuses a token it accepted before. */
static char mg_token[64];

/* A Mailgun webhook body with @event_data and the signature fields as given. malloc'd. */
static char *mailgun_raw(const char *event_data, const char *tss, const char *token,
                         const char *mac)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b,
	            "{\"signature\":{\"timestamp\":\"%s\",\"token\":\"%s\",\"signature\":\"%s\"},"
	            "\"event-data\":%s}",
	            tss, token, mac, event_data);
	return bl_buf_take(&b);
}

/* A Mailgun webhook body with @event_data and a new token, signed with @key at @ts (NULL sig:
   computed). */
static char *mailgun_body(const char *event_data, const char *key, int64_t ts, const char *sig)
{
	static unsigned serial;
	char tss[32], data[128];
	snprintf(tss, sizeof(tss), "%lld", (long long)ts);
	snprintf(mg_token, sizeof(mg_token), "%s%04u", MG_TOKEN, serial++);
	snprintf(data, sizeof(data), "%s%s", tss, mg_token);
	char *mac = sig ? bl_xstrdup(sig) : hmac_hex(key, data);
	char *body = mailgun_raw(event_data, tss, mg_token, mac);
	free(mac);
	return body;
}

static void test_mailgun(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys(), off = keys();
	off.mailgun_key = NULL;
	static const struct {
		const char *event;
		size_t reports;
		struct want w;
	} cases[] = {
	    {"{\"event\":\"failed\",\"id\":\"G9Bn5sl1TC6nu79C8C0bwg\",\"timestamp\":1767225599.5,"
	     "\"severity\":\"permanent\",\"reason\":\"bounce\",\"recipient\":\"alice@example.com\","
	     "\"log-level\":\"error\",\"delivery-status\":{\"attempt-no\":1,\"code\":550,"
	     "\"message\":\"5.1.1 The email account that you tried to reach does not exist\","
	     "\"description\":\"\",\"enhanced-code\":\"5.1.1\",\"mx-host\":\"mx.example.com\"},"
	     "\"message\":{\"headers\":{\"to\":\"alice@example.com\",\"message-id\":"
	     "\"bulletin-3-4-ef@example.org\",\"from\":\"news@example.org\",\"subject\":"
	     "\"Breaking\"},\"size\":1234}}",
	     1,
	     {"alice@example.com", BL_BOUNCE_HARD, "userunknown", "5.1.1", 550, 1, "",
	      "5.1.1 The"}},
	    {"{\"event\":\"failed\",\"id\":\"t1\",\"severity\":\"temporary\",\"reason\":"
	     "\"generic\","
	     "\"recipient\":\"alice@example.com\",\"delivery-status\":{\"code\":452,\"message\":"
	     "\"4.2.2 mailbox full\"},\"message\":{\"headers\":{\"message-id\":"
	     "\"bulletin-3-4-ef@example.org\"}}}",
	     1,
	     {"alice@example.com", BL_BOUNCE_SOFT, "mailboxfull", "4.2.2", 452, 0, "", "4.2.2"}},
	    {"{\"event\":\"failed\",\"id\":\"p2\",\"severity\":\"permanent\",\"reason\":"
	     "\"suppress-bounce\",\"recipient\":\"alice@example.com\",\"delivery-status\":{"
	     "\"code\":"
	     "605,\"description\":\"Not delivering to previously bounced "
	     "address\",\"message\":\"\"},"
	     "\"message\":{\"headers\":{\"message-id\":\"bulletin-3-4-ef@example.org\"}}}",
	     1,
	     {"alice@example.com", BL_BOUNCE_BLOCK, "suppressed", "", 0, 1, "", "Not delivering"}},
	    {"{\"event\":\"failed\",\"id\":\"p3\",\"severity\":\"permanent\",\"reason\":\"bounce\","
	     "\"recipient\":\"alice@example.com\",\"delivery-status\":{\"code\":554,\"message\":"
	     "\"5.7.1 spam policy\"},\"message\":{\"headers\":{\"message-id\":"
	     "\"bulletin-3-4-ef@example.org\"}}}",
	     1,
	     {"alice@example.com", BL_BOUNCE_BLOCK, "spamdetected", "5.7.1", 554, 1, "", "5.7.1"}},
	    {"{\"event\":\"complained\",\"id\":\"c1\",\"recipient\":\"alice@example.com\","
	     "\"message\":{\"headers\":{\"message-id\":\"bulletin-3-4-ef@example.org\"}}}",
	     1,
	     {"alice@example.com", BL_BOUNCE_COMPLAINT, "feedback", "", 0, 1, "abuse", ""}},
	    {"{\"event\":\"delivered\",\"id\":\"d1\",\"recipient\":\"alice@example.com\","
	     "\"delivery-status\":{\"code\":250,\"message\":\"OK\"}}",
	     0,
	     {0}},
	    {"{\"event\":\"opened\",\"id\":\"o1\",\"recipient\":\"alice@example.com\"}", 0, {0}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[32];
		snprintf(what, sizeof(what), "case %zu", i);
		char *body = mailgun_body(cases[i].event, k.mailgun_key, NOW - 10, NULL);
		struct result res = call(BL_WEBHOOK_MAILGUN, &k, body, NULL, NOW);
		expect_rc(what, &res, 0);
		if (res.n != cases[i].reports)
			fail_msg("%s: got %zu reports, want %zu", what, res.n, cases[i].reports);
		if (res.n) {
			check_finding(what, &res.r[0].findings[0], &cases[i].w);
			assert_string_equal(res.r[0].original_message_id,
			                    "bulletin-3-4-ef@example.org");
		}
		if (i == 0) {
			assert_string_equal(res.r[0].subject, "Breaking");
			char want_key[65];
			/* the key is the SHA-256 of "mailgun:" + the event id, by sha256sum */
			sha256_of("mailgun:G9Bn5sl1TC6nu79C8C0bwg", want_key);
			assert_string_equal(res.r[0].key, want_key);
		}
		result_free(&res);
		free(body);
	}

	const char *ev = cases[0].event;
	char *good = mailgun_body(ev, k.mailgun_key, NOW, NULL);
	char *bad_key = mailgun_body(ev, "key-not-the-right-one", NOW, NULL);
	char *stale = mailgun_body(ev, k.mailgun_key, NOW - 301, NULL);
	char *bad_hex = mailgun_body(
	    ev, NULL, NOW, "zz99f5a15355c180971bed7494d578b093c958f57766f3fe750761baed12345");
	/* Changing the token breaks the signature (test_mailgun_replay: reusing it on other
	   event-data is refused as a replay). */
	char *tampered = bl_xstrdup(good);
	char *t = strstr(tampered, MG_TOKEN);
	t[0] = t[0] == 'a' ? 'b' : 'a';
	char *short_sig = mailgun_body(ev, NULL, NOW, "12d99f5a");
	struct result res = call(BL_WEBHOOK_MAILGUN, &k, good, NULL, NOW + 299);
	expect_rc("fresh", &res, 0);
	result_free(&res);
	const struct {
		const char *what;
		struct bl_webhook_keys *k;
		const char *body;
		int want;
	} refused[] = {
	    {"HMAC with another key", &k, bad_key, -BL_EPERM},
	    {"stale", &k, stale, -BL_EPERM},
	    {"signature not hex", &k, bad_hex, -BL_EPERM},
	    {"signature too short", &k, short_sig, -BL_EPERM},
	    {"token changed", &k, tampered, -BL_EPERM},
	    {"the accepted request again", &k, good, -BL_EPERM},
	    {"no signature", &k, "{\"event-data\":{\"event\":\"failed\"}}", -BL_EPERM},
	    {"unconfigured", &off, good, -BL_ENOENT},
	    {"malformed", &k, "{\"signature\":", -BL_EINVAL},
	    {"an array", &k, "[]", -BL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		res = call(BL_WEBHOOK_MAILGUN, refused[i].k, refused[i].body, NULL, NOW);
		expect_rc(refused[i].what, &res, refused[i].want);
	}
	free(good);
	free(bad_key);
	free(stale);
	free(bad_hex);
	free(short_sig);
	free(tampered);
}

/*
 * Mailgun signs only timestamp + token: a signature captured from a harmless event, put on
 * other event-data (a complaint about someone else), must be refused by its token; a new
 * token is accepted. The set of tokens holds 100,000: the oldest goes first.
 */
static void test_mailgun_replay(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys();
	static const char delivered[] =
	    "{\"event\":\"delivered\",\"id\":\"d9\",\"recipient\":\"alice@example.com\"}";
	static const char complaint[] =
	    "{\"event\":\"complained\",\"id\":\"c9\",\"recipient\":\"bob@example.com\","
	    "\"message\":{\"headers\":{\"message-id\":\"bulletin-3-4-ef@example.org\"}}}";
	char *harmless = mailgun_body(delivered, k.mailgun_key, NOW, NULL);
	struct result res = call(BL_WEBHOOK_MAILGUN, &k, harmless, NULL, NOW);
	expect_rc("delivered event", &res, 0);
	result_free(&res);
	/* its timestamp, token and signature on the complaint */
	json_t *j = json_loads(harmless, 0, NULL);
	json_t *sj = json_object_get(j, "signature");
	char *forged = mailgun_raw(complaint, json_string_value(json_object_get(sj, "timestamp")),
	                           json_string_value(json_object_get(sj, "token")),
	                           json_string_value(json_object_get(sj, "signature")));
	json_decref(j);
	res = call(BL_WEBHOOK_MAILGUN, &k, forged, NULL, NOW + 5);
	expect_rc("signature reused on a complaint", &res, -BL_EPERM);
	if (!strstr(res.d.msg, "replay"))
		fail_msg("replay: got diagnostic \"%s\", want one saying replay", res.d.msg);
	char *fresh = mailgun_body(complaint, k.mailgun_key, NOW, NULL);
	res = call(BL_WEBHOOK_MAILGUN, &k, fresh, NULL, NOW + 5);
	expect_rc("the complaint with its own token", &res, 0);
	if (res.n != 1)
		fail_msg("complaint: got %zu reports, want 1", res.n);
	result_free(&res);

	/* Bounded: a first token, then 100,000 - 1 others (HMACs by python3's hmac module). */
	enum { CAP = 100000 };
	run("/usr/bin/python3 -c 'import hmac,hashlib\n"
	    "for i in range(%d):\n"
	    " t=\"cap%%045d\" %% i\n"
	    " print(t, hmac.new(b\"%s\", b\"%lld\"+t.encode(), hashlib.sha256).hexdigest())'"
	    " > %s",
	    CAP + 1, k.mailgun_key, (long long)NOW, path("tokens"));
	FILE *f = fopen(path("tokens"), "r");
	assert_non_null(f);
	char tss[32], tok[64], mac[80], first[256];
	snprintf(tss, sizeof(tss), "%lld", (long long)NOW);
	for (int i = 0; i <= CAP; i++) {
		if (fscanf(f, "%63s %79s", tok, mac) != 2)
			fail_msg("tokens: line %d unreadable", i);
		char *body = mailgun_raw(delivered, tss, tok, mac);
		if (i == 0)
			snprintf(first, sizeof(first), "%s", body);
		if (i == CAP) {
			/* 100,000 - 1 accepted since the first: it is still remembered */
			res = call(BL_WEBHOOK_MAILGUN, &k, first, NULL, NOW);
			expect_rc("first token with 99,999 after it", &res, -BL_EPERM);
		}
		res = call(BL_WEBHOOK_MAILGUN, &k, body, NULL, NOW);
		if (res.rc != 0)
			fail_msg("token %d: got %d (%s), want 0", i, res.rc, res.d.msg);
		result_free(&res);
		free(body);
	}
	fclose(f);
	/* 100,000 after it: the first was evicted */
	res = call(BL_WEBHOOK_MAILGUN, &k, first, NULL, NOW);
	expect_rc("first token with 100,000 after it", &res, 0);
	result_free(&res);
	free(harmless);
	free(forged);
	free(fresh);
}

/*
 * Report keys name their source: a mail whose Message-ID is <777> and a Postmark event
 * whose ID is 777 (or a SendGrid event 777) are three reports, not one and its duplicates.
 * Keys by sha256sum of "mail:" / "mail-bytes:" / "PROVIDER:" + the id.
 */
static void test_report_keys(void **state)
{
	(void)state;
	struct bl_webhook_keys k = keys();
	char want[65];
	struct hdrs auth = {{"Authorization"}, {"Basic YnVsbGV0aW46czNjcmV0"}};
	struct result pm = call(BL_WEBHOOK_POSTMARK, &k,
	                        "{\"RecordType\":\"Bounce\",\"ID\":777,\"Type\":\"HardBounce\","
	                        "\"Email\":\"john@example.com\",\"Details\":\"550 5.1.1 no\"}",
	                        &auth, NOW);
	expect_rc("Postmark 777", &pm, 0);
	assert_int_equal(pm.n, 1);
	sha256_of("postmark:777", want);
	if (strcmp(pm.r[0].key, want) != 0)
		fail_msg("Postmark 777: got key %s, want %s", pm.r[0].key, want);

	static const char mail[] = "From: MAILER-DAEMON@example.net\r\n"
	                           "To: bounces@example.org\r\n"
	                           "Subject: Undelivered Mail Returned to Sender\r\n"
	                           "%s"
	                           "\r\n"
	                           "550 5.1.1 <john@example.com>: no such user\r\n";
	char msg[512];
	const struct {
		const char *what, *mid, *hashed;
	} mails[] = {
	    {"mail <777>", "Message-ID: <777>\r\n", "mail:777"},
	    {"mail without Message-ID", "", NULL},
	};
	for (size_t i = 0; i < sizeof(mails) / sizeof(mails[0]); i++) {
		snprintf(msg, sizeof(msg), mail, mails[i].mid);
		struct bl_bounce_report r;
		struct bl_diag d;
		if (bl_bounce_analyze(msg, strlen(msg), NULL, &r, &d) != 0)
			fail_msg("%s: analyze failed: %s", mails[i].what, d.msg);
		if (mails[i].hashed) {
			sha256_of(mails[i].hashed, want);
		} else {
			/* "mail-bytes:" + the bytes with CRLF made LF */
			struct bl_buf b;
			bl_buf_init(&b, 0);
			bl_buf_adds(&b, "mail-bytes:");
			for (const char *c = msg; *c; c++)
				if (*c != '\r')
					bl_buf_addc(&b, *c);
			sha256_of(bl_buf_str(&b), want);
			bl_buf_finish(&b);
		}
		if (strcmp(r.key, want) != 0)
			fail_msg("%s: got key %s, want %s", mails[i].what, r.key, want);
		if (strcmp(r.key, pm.r[0].key) == 0)
			fail_msg("%s: same key as Postmark event 777", mails[i].what);
		bl_bounce_report_clear(&r);
	}
	result_free(&pm);
}

static void test_provider_names(void **state)
{
	(void)state;
	static const char *const names[] = {"ses", "postmark", "sendgrid", "mailgun"};
	for (int i = 0; i < 4; i++) {
		enum bl_webhook_provider p;
		assert_int_equal(bl_webhook_provider_parse(names[i], &p), 0);
		assert_int_equal(p, i);
		assert_string_equal(bl_webhook_provider_name(p), names[i]);
	}
	enum bl_webhook_provider p;
	assert_int_equal(bl_webhook_provider_parse("sparkpost", &p), -1);
	assert_int_equal(bl_webhook_provider_parse("SES", &p), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_provider_names),
	    cmocka_unit_test(test_ses_bounces),
	    cmocka_unit_test(test_ses_complaints_and_others),
	    cmocka_unit_test(test_ses_subscription),
	    cmocka_unit_test(test_ses_refused),
	    cmocka_unit_test(test_postmark),
	    cmocka_unit_test(test_sendgrid),
	    cmocka_unit_test(test_mailgun),
	    cmocka_unit_test(test_mailgun_replay),
	    cmocka_unit_test(test_report_keys),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
