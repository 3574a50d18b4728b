/*
 * Provider webhooks (webhook.h): verify, then read bounce and complaint
 * events of Amazon SES (through SNS), Postmark, SendGrid and Mailgun into
 * analysed reports. Signature checks use core/pubkey.h (RSA, ECDSA) and
 * core/crypto.h (HMAC, constant-time comparison); JSON is jansson's. The
 * class of each finding comes from the provider's own type fields, refined
 * by the RFC 3463 status only where the provider's type is generic (docs/
 * webhooks.md has the tables). Nothing is returned unless the whole request
 * verified and parsed. The shared state, each behind its mutex: the cache of
 * SNS signing certificates fetched from their https://sns.REGION.amazonaws.com
 * URLs, and the tokens of accepted Mailgun signatures (replays are refused).
 */
#include "bounce/webhook.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/crypto.h"
#include "core/pubkey.h"
#include "feed/fetch.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

/* Bytes of a finding's diagnostic text at most (bounce.h). */
#define DIAG_MAX 1000
/* SNS keeps retrying a delivery for up to an hour with the original signature. */
#define SNS_WINDOW 3600
/* Largest signing certificate or public key read, bytes. */
#define KEY_MAX (64 << 10)
/* Largest binary signature: RSA-4096 or a DER ECDSA signature. */
#define SIG_MAX 1024

/* ---- provider names ---- */

static const char *const provider_names[] = {"ses", "postmark", "sendgrid", "mailgun"};

const char *bl_webhook_provider_name(enum bl_webhook_provider p)
{
	return (unsigned)p < sizeof(provider_names) / sizeof(provider_names[0]) ? provider_names[p]
	                                                                        : "unknown";
}

int bl_webhook_provider_parse(const char *s, enum bl_webhook_provider *out)
{
	for (size_t i = 0; s && i < sizeof(provider_names) / sizeof(provider_names[0]); i++)
		if (strcmp(s, provider_names[i]) == 0) {
			*out = (enum bl_webhook_provider)i;
			return 0;
		}
	return -1;
}

/* ---- reports under construction ---- */

struct reports {
	struct bl_bounce_report *v;
	size_t n, cap;
};

void bl_webhook_reports_free(struct bl_bounce_report *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		bl_bounce_report_clear(&r[i]);
	free(r);
}

/* A copy of Message-ID value @s without blanks and one pair of angle brackets; "" for NULL. */
static char *msgid_dup(const char *s)
{
	if (!s)
		return bl_xstrdup("");
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	return bl_xstrndup(s, n);
}

/* A new report keyed by the hex SHA-256 of "@provider:" + the provider's event id @id. */
static struct bl_bounce_report *report_add(struct reports *o, enum bl_webhook_provider provider,
                                           enum bl_report_kind kind, const char *id,
                                           const char *message_id, const char *original_to,
                                           const char *subject)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 4;
		o->v = bl_xreallocarray(o->v, o->cap, sizeof(*o->v));
	}
	struct bl_bounce_report *r = &o->v[o->n++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	/* The source first, so that one provider's event id is never another's, nor a mail
	   report's Message-ID (analyze.c hashes "mail:" + it). */
	struct bl_buf in;
	bl_buf_init(&in, 0);
	bl_buf_addf(&in, "%s:", bl_webhook_provider_name(provider));
	bl_buf_adds(&in, id);
	bl_sha256_hex(bl_buf_str(&in), in.len, r->key);
	bl_buf_finish(&in);
	r->envelope_to = bl_xstrdup("");
	r->original_message_id = msgid_dup(message_id);
	r->original_list_id = bl_xstrdup("");
	r->original_to = bl_xstrdup(original_to ? original_to : "");
	r->subject = bl_xstrdup(subject ? subject : "");
	r->from = bl_xstrdup("");
	return r;
}

/* The SMTP reply code at the start of @text ("550 ...", "smtp; 550-..."), else 0. */
static int reply_code_in_text(const char *text)
{
	if (!text)
		return 0;
	const char *p = text;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "smtp;", 5) == 0)
		p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-' || p[3] == '\0'))
		return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	return 0;
}

/* A copy of @s cut to at most DIAG_MAX bytes at a UTF-8 character boundary; "" for NULL. */
static char *diag_dup(const char *s)
{
	if (!s)
		return bl_xstrdup("");
	size_t n = strlen(s);
	if (n > DIAG_MAX) {
		n = DIAG_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return bl_xstrndup(s, n);
}

/*
 * Add a finding to @r. @reason NULL: from the status. @status / @code: the provider's
 * own when it gives them (NULL / 0), else read from @diag. @cls_generic: the class is
 * bl_bounce_classify's from the status and the text, @cls ignored.
 */
struct finding_in {
	const char *recipient;
	enum bl_bounce_class cls;
	int cls_generic;
	const char *reason;
	const char *diag;
	const char *status;
	int code;
	int final;
	const char *feedback_type;
};

static void finding_add(struct bl_bounce_report *r, const struct finding_in *in)
{
	r->findings = bl_xreallocarray(r->findings, r->n_findings + 1, sizeof(*r->findings));
	struct bl_bounce_finding *f = &r->findings[r->n_findings++];
	memset(f, 0, sizeof(*f));
	f->recipient = bl_xstrdup(in->recipient ? in->recipient : "");
	if (!in->status || !bl_bounce_status_from_text(in->status, f->status))
		bl_bounce_status_from_text(in->diag ? in->diag : "", f->status);
	f->reply_code =
	    in->code >= 200 && in->code <= 599 ? in->code : reply_code_in_text(in->diag);
	/* The provider's class when it names one; its reason, else what the status and the
	 * text say (the same classifier as DSNs and the relay's own replies). */
	char reason[BL_BOUNCE_REASON_MAX];
	enum bl_bounce_class cls = bl_bounce_classify(f->status, f->reply_code, in->diag, reason);
	/* A failure the provider reports with nothing the classifier can read: a bounce all the
	 * same, soft for a 4.x.x / 4xx, else hard. */
	if (cls == BL_BOUNCE_UNKNOWN)
		cls = f->status[0] == '4' || (f->reply_code >= 400 && f->reply_code < 500)
		          ? BL_BOUNCE_SOFT
		          : BL_BOUNCE_HARD;
	f->cls = in->cls_generic ? cls : in->cls;
	snprintf(f->reason, sizeof(f->reason), "%s", in->reason ? in->reason : reason);
	f->final = in->final;
	f->diagnostic = diag_dup(in->diag);
	f->feedback_type = bl_xstrdup(in->feedback_type ? in->feedback_type : "");
	if (f->cls == BL_BOUNCE_COMPLAINT && !f->feedback_type[0]) {
		free(f->feedback_type);
		f->feedback_type = bl_xstrdup("abuse");
	}
	bl_ascii_lower(f->feedback_type);
}

/* ---- JSON helpers ---- */

/* The string member @key of @o, or NULL when absent or not a string. */
static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The string or integer member @key of @o as text in @buf, or NULL. */
static const char *jstr_or_int(const json_t *o, const char *key, char *buf, size_t size)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return NULL;
}

static json_t *parse_json(const char *s, size_t len, struct bl_diag *d, const char *what)
{
	json_error_t e;
	json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		bl_diag_set(d, BL_EINVAL, "%s is not JSON: %s (line %d, column %d)", what, e.text,
		            e.line, e.column);
	return j;
}

/* A seconds-since-the-epoch timestamp in decimal; 0 or -BL_EINVAL. */
static int parse_epoch(const char *s, int64_t *out)
{
	long long v;
	if (!s || bl_parse_int64(s, 0, 100000000000LL, &v) != 0)
		return -BL_EINVAL;
	*out = v;
	return 0;
}

static int64_t window(const struct bl_webhook_keys *k)
{
	return k->max_age > 0 ? k->max_age : 300;
}

static int fresh(int64_t ts, int64_t now, int64_t max_age)
{
	int64_t age = now - ts;
	return age <= max_age && age >= -max_age;
}

static int configured(const char *s)
{
	return s && s[0];
}

/* ---- Amazon SES through SNS ---- */

/*
 * The region of SNS topic ARN @arn (arn:PARTITION:sns:REGION:ACCOUNT:NAME) into @region
 * (size @size) and the host suffix of its partition (".amazonaws.com", or
 * ".amazonaws.com.cn" for aws-cn) into *@tail. 1, or 0 when @arn is no such ARN.
 */
static int sns_topic_region(const char *arn, char *region, size_t size, const char **tail)
{
	static const struct {
		const char *prefix, *tail;
	} partitions[] = {{"arn:aws:sns:", ".amazonaws.com"},
	                  {"arn:aws-cn:sns:", ".amazonaws.com.cn"}};
	for (size_t i = 0; arn && i < sizeof(partitions) / sizeof(partitions[0]); i++) {
		size_t pl = strlen(partitions[i].prefix);
		if (strncmp(arn, partitions[i].prefix, pl) != 0)
			continue;
		const char *r = arn + pl;
		size_t rl = strcspn(r, ":");
		if (rl == 0 || rl >= size || r[rl] != ':')
			return 0;
		for (size_t j = 0; j < rl; j++)
			if (!islower((unsigned char)r[j]) && !isdigit((unsigned char)r[j]) &&
			    r[j] != '-')
				return 0;
		memcpy(region, r, rl);
		region[rl] = '\0';
		*tail = partitions[i].tail;
		return 1;
	}
	return 0;
}

/*
 * 1 when @url is https://sns.REGION.amazonaws.com/... (".amazonaws.com.cn" in aws-cn), REGION
 * being the region of the configured topic @topic_arn — the hosts SNS signs from and confirms
 * subscriptions at; any other label (sns.s3.amazonaws.com is an S3 bucket's host) is refused
 * — with nothing that could move the host elsewhere (userinfo, port, backslashes, blanks),
 * and, when @suffix is not NULL, a path ending in @suffix (no query, no fragment).
 */
static int sns_url_ok(const char *url, const char *topic_arn, const char *suffix)
{
	char region[64], host_want[128];
	const char *tail;
	if (!url || strncmp(url, "https://", 8) != 0 ||
	    !sns_topic_region(topic_arn, region, sizeof(region), &tail))
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '\\')
			return 0;
	snprintf(host_want, sizeof(host_want), "sns.%s%s/", region, tail);
	size_t hl = strlen(host_want);
	if (strncmp(url + 8, host_want, hl) != 0)
		return 0;
	if (suffix) {
		const char *path = url + 8 + hl - 1;
		size_t pl = strcspn(path, "?#"), sl = strlen(suffix);
		if (path[pl] != '\0' || pl <= sl || strcmp(path + pl - sl, suffix) != 0)
			return 0;
	}
	return 1;
}

/* Fetched signing certificates, by URL, for the life of the process. */
#define CERT_CACHE 8
static struct {
	char *url;
	char *pem;
	size_t len;
} cert_cache[CERT_CACHE];
static size_t cert_cache_next;
static pthread_mutex_t cert_lock = PTHREAD_MUTEX_INITIALIZER;

/* The PEM at @url (a checked SNS URL), from the cache or fetched; malloc'd, or NULL. */
static char *cert_fetch(const char *url, size_t *len, struct bl_diag *d)
{
	char *pem = NULL;
	pthread_mutex_lock(&cert_lock);
	for (size_t i = 0; i < CERT_CACHE && !pem; i++)
		if (cert_cache[i].url && strcmp(cert_cache[i].url, url) == 0) {
			pem = bl_xmalloc(cert_cache[i].len + 1);
			memcpy(pem, cert_cache[i].pem, cert_cache[i].len + 1);
			*len = cert_cache[i].len;
		}
	pthread_mutex_unlock(&cert_lock);
	if (pem)
		return pem;
	struct bl_fetch_opts o = {.timeout = 10, .max_bytes = KEY_MAX, .max_redirects = -1};
	struct bl_fetch_result res;
	struct bl_diag fd;
	if (bl_fetch(url, NULL, NULL, &o, &res, &fd) != 0) {
		bl_diag_set(d, BL_EPERM, "SNS signing certificate %s: %s", url, fd.msg);
		bl_fetch_result_clear(&res);
		return NULL;
	}
	pem = res.body;
	*len = res.len;
	res.body = NULL;
	bl_fetch_result_clear(&res);
	pthread_mutex_lock(&cert_lock);
	size_t i = cert_cache_next++ % CERT_CACHE;
	free(cert_cache[i].url);
	free(cert_cache[i].pem);
	cert_cache[i].url = bl_xstrdup(url);
	cert_cache[i].pem = bl_xmalloc(*len + 1);
	memcpy(cert_cache[i].pem, pem, *len + 1);
	cert_cache[i].len = *len;
	pthread_mutex_unlock(&cert_lock);
	return pem;
}

static char *file_read(const char *path, size_t *len, struct bl_diag *d)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		bl_diag_set(d, BL_EPERM, "SNS certificate %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = bl_xmalloc(KEY_MAX + 1);
	size_t n = fread(buf, 1, KEY_MAX + 1, f);
	int bad = ferror(f) || n > KEY_MAX;
	fclose(f);
	if (bad) {
		free(buf);
		bl_diag_set(d, BL_EPERM, "SNS certificate %s: unreadable or over %d bytes", path,
		            KEY_MAX);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * The string SNS signs (docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message):
 * "Name\nvalue\n" for each field in byte order of the names, Subject only when present;
 * Notification: Message, MessageId, Subject, Timestamp, TopicArn, Type;
 * (Un)SubscriptionConfirmation: Message, MessageId, SubscribeURL, Timestamp, Token,
 * TopicArn, Type. 0, or -BL_EPERM when a signed field is missing.
 */
static int sns_canonical(const json_t *m, int notification, struct bl_buf *b, struct bl_diag *d)
{
	static const char *const note[] = {"Message",  "MessageId", "Subject", "Timestamp",
	                                   "TopicArn", "Type",      NULL};
	static const char *const conf[] = {"Message", "MessageId", "SubscribeURL", "Timestamp",
	                                   "Token",   "TopicArn",  "Type",         NULL};
	for (const char *const *f = notification ? note : conf; *f; f++) {
		const json_t *v = json_object_get(m, *f);
		if (strcmp(*f, "Subject") == 0 && (!v || json_is_null(v)))
			continue;
		if (!json_is_string(v))
			return bl_diag_set(d, BL_EPERM, "SNS message without a signed %s", *f);
		bl_buf_adds(b, *f);
		bl_buf_addc(b, '\n');
		bl_buf_add(b, json_string_value(v), json_string_length(v));
		bl_buf_addc(b, '\n');
	}
	return bl_buf_err(b) ? bl_diag_set(d, BL_ELIMIT, "SNS message too large") : 0;
}

/* Verify SNS message @m: topic, signature, age. 0 or -BL_EPERM (@d). */
static int sns_verify(const struct bl_webhook_keys *k, const json_t *m, int notification,
                      int64_t now, struct bl_diag *d)
{
	const char *topic = jstr(m, "TopicArn");
	if (!topic || strcmp(topic, k->sns_topic_arn) != 0)
		return bl_diag_set(d, BL_EPERM, "SNS TopicArn %s is not the configured topic",
		                   topic ? topic : "(none)");
	const char *ver = jstr(m, "SignatureVersion");
	enum bl_pubkey_hash alg;
	if (ver && strcmp(ver, "1") == 0)
		alg = BL_PUBKEY_SHA1;
	else if (ver && strcmp(ver, "2") == 0)
		alg = BL_PUBKEY_SHA256;
	else
		return bl_diag_set(d, BL_EPERM, "SNS SignatureVersion %s not supported",
		                   ver ? ver : "(none)");
	const char *sig64 = jstr(m, "Signature");
	unsigned char sig[SIG_MAX];
	size_t sig_len = 0;
	if (!sig64 || bl_base64_decode(sig64, strlen(sig64), sig, sizeof(sig), &sig_len) != 0 ||
	    sig_len == 0)
		return bl_diag_set(d, BL_EPERM, "SNS message without a base64 Signature");
	int64_t ts;
	const char *tss = jstr(m, "Timestamp");
	if (!tss || bl_time_parse(tss, &ts) != 0)
		return bl_diag_set(d, BL_EPERM, "SNS Timestamp missing or malformed");
	int64_t win = window(k) > SNS_WINDOW ? window(k) : SNS_WINDOW;
	if (!fresh(ts, now, win))
		return bl_diag_set(d, BL_EPERM, "SNS Timestamp %s is outside the %lld s window",
		                   tss, (long long)win);
	struct bl_buf b;
	bl_buf_init(&b, 1 << 20);
	int rc = sns_canonical(m, notification, &b, d);
	if (rc != 0) {
		bl_buf_finish(&b);
		return rc == -BL_ELIMIT ? -BL_EPERM : rc;
	}
	char *pem;
	size_t pem_len = 0;
	if (configured(k->sns_cert_file)) {
		pem = file_read(k->sns_cert_file, &pem_len, d);
	} else {
		const char *url = jstr(m, "SigningCertURL");
		if (!sns_url_ok(url, k->sns_topic_arn, ".pem")) {
			bl_buf_finish(&b);
			return bl_diag_set(
			    d, BL_EPERM,
			    "SNS SigningCertURL %s is not https://sns.REGION.amazonaws.com/"
			    "...pem with the REGION of webhook_sns_topic",
			    url ? url : "(none)");
		}
		pem = cert_fetch(url, &pem_len, d);
	}
	if (!pem) {
		bl_buf_finish(&b);
		return -BL_EPERM;
	}
	struct bl_diag vd;
	rc = bl_pubkey_verify_x509_rsa(pem, pem_len, alg, bl_buf_str(&b), b.len, sig, sig_len, &vd);
	free(pem);
	bl_buf_finish(&b);
	if (rc == -BL_EINVAL)
		return bl_diag_set(d, BL_EPERM, "SNS signing certificate: %s", vd.msg);
	if (rc != 0)
		return bl_diag_set(d, BL_EPERM, "SNS signature does not verify");
	return 0;
}

/* The value of header @name in SES mail.headers (case-insensitive), or NULL. */
static const char *ses_header(const json_t *mail, const char *name)
{
	size_t i;
	const json_t *h;
	json_array_foreach(json_object_get(mail, "headers"), i, h)
	{
		const char *n = jstr(h, "name");
		if (n && bl_strcaseeq(n, name))
			return jstr(h, "value");
	}
	return NULL;
}

struct ses_subtype {
	const char *name;
	enum bl_bounce_class cls; /* BL_BOUNCE_UNKNOWN: generic (from the status) */
	const char *reason;       /* NULL: from the status */
};

/* SES bounceSubType values (SES developer guide, "Bounce types"). */
static const struct ses_subtype ses_permanent[] = {
    {"General", BL_BOUNCE_UNKNOWN, NULL},
    {"NoEmail", BL_BOUNCE_HARD, "userunknown"},
    {"Suppressed", BL_BOUNCE_BLOCK, "suppressed"},
    {"OnAccountSuppressionList", BL_BOUNCE_BLOCK, "suppressed"},
    {"MailboxFull", BL_BOUNCE_SOFT, "mailboxfull"},
    {"MessageTooLarge", BL_BOUNCE_SOFT, "mesgtoobig"},
    {"ContentRejected", BL_BOUNCE_BLOCK, "contenterror"},
    {"AttachmentRejected", BL_BOUNCE_BLOCK, "contenterror"},
};
static const struct ses_subtype ses_transient[] = {
    {"General", BL_BOUNCE_SOFT, NULL},
    {"MailboxFull", BL_BOUNCE_SOFT, "mailboxfull"},
    {"MessageTooLarge", BL_BOUNCE_SOFT, "mesgtoobig"},
    {"ContentRejected", BL_BOUNCE_BLOCK, "contenterror"},
    {"AttachmentRejected", BL_BOUNCE_BLOCK, "contenterror"},
};

/* Read SES notification @n (the SNS Message) into @o under event id @id. */
static int ses_read(const json_t *n, const char *id, struct reports *o, struct bl_diag *d)
{
	const char *type = jstr(n, "notificationType");
	if (!type)
		type = jstr(n, "eventType"); /* event publishing (configuration sets) */
	if (!type)
		return bl_diag_set(d, BL_EINVAL, "SES notification without notificationType");
	const json_t *mail = json_object_get(n, "mail");
	const char *msgid = ses_header(mail, "Message-ID");
	if (!msgid)
		msgid = jstr(json_object_get(mail, "commonHeaders"), "messageId");
	const char *subject = jstr(json_object_get(mail, "commonHeaders"), "subject");
	const json_t *dest = json_object_get(mail, "destination");
	const char *to =
	    json_array_size(dest) == 1 ? json_string_value(json_array_get(dest, 0)) : NULL;
	const char *list_id = ses_header(mail, "List-Id");
	char subj[256];

	if (strcmp(type, "Bounce") == 0) {
		const json_t *b = json_object_get(n, "bounce");
		const char *bt = jstr(b, "bounceType"), *st = jstr(b, "bounceSubType");
		const json_t *rcpts = json_object_get(b, "bouncedRecipients");
		if (!bt || !json_is_array(rcpts))
			return bl_diag_set(d, BL_EINVAL,
			                   "SES bounce without bounceType/bouncedRecipients");
		const struct ses_subtype *tab = NULL;
		size_t ntab = 0;
		enum bl_bounce_class cls = BL_BOUNCE_UNKNOWN;
		const char *reason = "undefined";
		int generic = 0;
		if (strcmp(bt, "Permanent") == 0) {
			tab = ses_permanent;
			ntab = sizeof(ses_permanent) / sizeof(ses_permanent[0]);
			generic = 1; /* an unknown subtype reads like General */
			reason = NULL;
		} else if (strcmp(bt, "Transient") == 0) {
			tab = ses_transient;
			ntab = sizeof(ses_transient) / sizeof(ses_transient[0]);
			cls = BL_BOUNCE_SOFT;
			reason = NULL;
		}
		for (size_t i = 0; st && i < ntab; i++)
			if (strcmp(st, tab[i].name) == 0) {
				generic = tab[i].cls == BL_BOUNCE_UNKNOWN;
				cls = tab[i].cls;
				reason = tab[i].reason;
			}
		snprintf(subj, sizeof(subj), "SES bounce %s/%s", bt, st ? st : "-");
		struct bl_bounce_report *r = report_add(o, BL_WEBHOOK_SES, BL_REPORT_KIND_DSN, id,
		                                        msgid, to, subject ? subject : subj);
		free(r->original_list_id);
		r->original_list_id = bl_xstrdup(list_id ? list_id : "");
		size_t i;
		const json_t *rc;
		json_array_foreach(rcpts, i, rc)
		{
			struct finding_in in = {.recipient = jstr(rc, "emailAddress"),
			                        .cls = cls,
			                        .cls_generic = generic,
			                        .reason = reason,
			                        .diag = jstr(rc, "diagnosticCode"),
			                        .status = jstr(rc, "status"),
			                        .final = 1};
			finding_add(r, &in);
		}
		return 0;
	}
	if (strcmp(type, "Complaint") == 0) {
		const json_t *c = json_object_get(n, "complaint");
		const json_t *rcpts = json_object_get(c, "complainedRecipients");
		if (!json_is_array(rcpts))
			return bl_diag_set(d, BL_EINVAL,
			                   "SES complaint without complainedRecipients");
		const char *ft = jstr(c, "complaintFeedbackType");
		const char *sub = jstr(c, "complaintSubType");
		if (ft && bl_strcaseeq(ft, "not-spam"))
			return 0; /* the recipient says it is not spam: nothing to act on */
		int suppressed = sub && strcmp(sub, "OnAccountSuppressionList") == 0;
		struct bl_bounce_report *r =
		    report_add(o, BL_WEBHOOK_SES, BL_REPORT_KIND_ARF, id, msgid, to,
		               subject ? subject : "SES complaint");
		free(r->original_list_id);
		r->original_list_id = bl_xstrdup(list_id ? list_id : "");
		size_t i;
		const json_t *rc;
		json_array_foreach(rcpts, i, rc)
		{
			struct finding_in in = {
			    .recipient = jstr(rc, "emailAddress"),
			    .cls = suppressed ? BL_BOUNCE_BLOCK : BL_BOUNCE_COMPLAINT,
			    .reason = suppressed ? "suppressed" : "feedback",
			    .final = 1,
			    .feedback_type = suppressed ? "" : ft,
			};
			finding_add(r, &in);
		}
		return 0;
	}
	if (strcmp(type, "DeliveryDelay") == 0) {
		const json_t *dd = json_object_get(n, "deliveryDelay");
		const json_t *rcpts = json_object_get(dd, "delayedRecipients");
		if (!json_is_array(rcpts))
			return bl_diag_set(d, BL_EINVAL,
			                   "SES DeliveryDelay without delayedRecipients");
		const char *dt = jstr(dd, "delayType");
		snprintf(subj, sizeof(subj), "SES delivery delay %s", dt ? dt : "-");
		struct bl_bounce_report *r = report_add(o, BL_WEBHOOK_SES, BL_REPORT_KIND_DSN, id,
		                                        msgid, to, subject ? subject : subj);
		size_t i;
		const json_t *rc;
		json_array_foreach(rcpts, i, rc)
		{
			struct finding_in in = {
			    .recipient = jstr(rc, "emailAddress"),
			    .cls = BL_BOUNCE_SOFT,
			    .reason = dt && strcmp(dt, "MailboxFull") == 0 ? "mailboxfull" : NULL,
			    .diag = jstr(rc, "diagnosticCode"),
			    .status = jstr(rc, "status"),
			    .final = 0};
			finding_add(r, &in);
		}
		return 0;
	}
	return 0; /* Delivery, Send, Open, Click, Reject, ...: no report */
}

static int read_ses(const struct bl_webhook_keys *k, const struct bl_webhook_request *req,
                    int64_t now, struct reports *o, char **subscribe_url, struct bl_diag *d)
{
	if (!configured(k->sns_topic_arn))
		return bl_diag_set(d, BL_ENOENT,
		                   "the SES webhook is not configured (webhook_sns_topic)");
	json_t *m = parse_json(req->body, req->len, d, "SNS message");
	if (!m)
		return -BL_EINVAL;
	int rc = 0;
	const char *type = jstr(m, "Type");
	int notification = type && strcmp(type, "Notification") == 0;
	if (!json_is_object(m) || !type ||
	    (!notification && strcmp(type, "SubscriptionConfirmation") != 0 &&
	     strcmp(type, "UnsubscribeConfirmation") != 0)) {
		rc = bl_diag_set(d, BL_EINVAL, "not an SNS message (Type %s)",
		                 type ? type : "missing");
		goto out;
	}
	if ((rc = sns_verify(k, m, notification, now, d)) != 0)
		goto out;
	if (strcmp(type, "SubscriptionConfirmation") == 0) {
		const char *url = jstr(m, "SubscribeURL");
		if (!sns_url_ok(url, k->sns_topic_arn, NULL)) {
			rc =
			    bl_diag_set(d, BL_EINVAL,
			                "SNS SubscribeURL is not https://sns.REGION.amazonaws.com/ "
			                "with the REGION of webhook_sns_topic");
			goto out;
		}
		*subscribe_url = bl_xstrdup(url);
		goto out;
	}
	if (!notification)
		goto out; /* UnsubscribeConfirmation: nothing to do */
	const json_t *msg = json_object_get(m, "Message");
	json_t *n = parse_json(json_string_value(msg), json_string_length(msg), d, "SNS Message");
	if (!n) {
		rc = -BL_EINVAL;
		goto out;
	}
	if (!json_is_object(n))
		rc = bl_diag_set(d, BL_EINVAL, "SNS Message is not a JSON object");
	else
		rc = ses_read(n, jstr(m, "MessageId"), o, d);
	json_decref(n);
out:
	json_decref(m);
	return rc;
}

/* ---- Postmark ---- */

static int postmark_auth_ok(const char *want, const char *authz)
{
	/* "Basic base64(user:password)" */
	if (!authz || strncasecmp(authz, "Basic ", 6) != 0)
		return 0;
	const char *b64 = authz + 6;
	while (*b64 == ' ')
		b64++;
	size_t blen = strlen(b64);
	if (blen > 1024)
		return 0;
	unsigned char got[800];
	size_t n = 0;
	if (bl_base64_decode(b64, blen, got, sizeof(got), &n) != 0)
		return 0;
	/* Hash both sides so the comparison takes the same time whatever the lengths. */
	char hg[BL_HASH_HEX], hw[BL_HASH_HEX];
	bl_sha256_hex(got, n, hg);
	bl_sha256_hex(want, strlen(want), hw);
	int ok = bl_constant_time_eq(hg, hw, BL_HASH_HEX);
	bl_memzero(got, sizeof(got));
	return ok;
}

struct postmark_type {
	const char *name;
	enum bl_bounce_class cls;
	const char *reason;
	int final;
};

/* Postmark bounce Type values that are failures (Postmark API, "Bounce types");
 * the others (Unsubscribe, Subscribe, AutoResponder, AddressChange, OpenRelayTest,
 * ChallengeVerification, ManuallyDeactivated, Unconfirmed, SMTPApiError,
 * InboundError, TemplateRenderingFailed) give no finding. */
static const struct postmark_type postmark_types[] = {
    {"HardBounce", BL_BOUNCE_HARD, "userunknown", 1},
    {"BadEmailAddress", BL_BOUNCE_HARD, "syntaxerror", 1},
    {"Transient", BL_BOUNCE_SOFT, NULL, 0},
    {"SoftBounce", BL_BOUNCE_SOFT, NULL, 1},
    {"DnsError", BL_BOUNCE_SOFT, "hostunknown", 1},
    {"SpamNotification", BL_BOUNCE_BLOCK, "spamdetected", 1},
    {"VirusNotification", BL_BOUNCE_BLOCK, "virusdetected", 1},
    {"Blocked", BL_BOUNCE_BLOCK, "blocked", 1},
    {"DMARCPolicy", BL_BOUNCE_BLOCK, "authfailure", 1},
    {"Unknown", BL_BOUNCE_UNKNOWN, "undefined", 1},
    {"SpamComplaint", BL_BOUNCE_COMPLAINT, "feedback", 1},
};

static int read_postmark(const struct bl_webhook_keys *k, const struct bl_webhook_request *req,
                         struct reports *o, struct bl_diag *d)
{
	if (!configured(k->postmark_auth))
		return bl_diag_set(
		    d, BL_ENOENT, "the Postmark webhook is not configured (webhook_postmark_auth)");
	if (!postmark_auth_ok(k->postmark_auth, req->header(req->header_arg, "Authorization")))
		return bl_diag_set(d, BL_EPERM,
		                   "Postmark request without the configured Basic "
		                   "credentials");
	json_t *j = parse_json(req->body, req->len, d, "Postmark webhook");
	if (!j)
		return -BL_EINVAL;
	int rc = 0;
	const char *rt = jstr(j, "RecordType");
	const char *type = jstr(j, "Type");
	if (!json_is_object(j)) {
		rc = bl_diag_set(d, BL_EINVAL, "Postmark webhook body is not a JSON object");
		goto out;
	}
	if (rt && strcmp(rt, "Bounce") != 0 && strcmp(rt, "SpamComplaint") != 0)
		goto out; /* Delivery, Open, Click, SubscriptionChange */
	if (!rt && !type) {
		rc = bl_diag_set(d, BL_EINVAL, "Postmark webhook without RecordType");
		goto out;
	}
	char idbuf[32];
	const char *id = jstr_or_int(j, "ID", idbuf, sizeof(idbuf));
	const char *email = jstr(j, "Email");
	if (!id || !email || !type) {
		rc = bl_diag_set(d, BL_EINVAL, "Postmark %s without ID, Email or Type",
		                 rt ? rt : "bounce");
		goto out;
	}
	const struct postmark_type *t = NULL;
	for (size_t i = 0; i < sizeof(postmark_types) / sizeof(postmark_types[0]); i++)
		if (strcmp(type, postmark_types[i].name) == 0)
			t = &postmark_types[i];
	if (rt && strcmp(rt, "SpamComplaint") == 0)
		t = &postmark_types[sizeof(postmark_types) / sizeof(postmark_types[0]) - 1];
	if (!t)
		goto out;
	/* Postmark's MessageID is its own; our Message-ID only when the sender put it in
	 * Metadata (X-PM-Metadata-bulletin-message-id). */
	const char *msgid = jstr(json_object_get(j, "Metadata"), "bulletin-message-id");
	char subj[128];
	snprintf(subj, sizeof(subj), "Postmark %s", type);
	const char *subject = jstr(j, "Subject");
	struct bl_bounce_report *r =
	    report_add(o, BL_WEBHOOK_POSTMARK,
	               t->cls == BL_BOUNCE_COMPLAINT ? BL_REPORT_KIND_ARF : BL_REPORT_KIND_DSN, id,
	               msgid, email, subject ? subject : subj);
	const char *details = jstr(j, "Details");
	struct finding_in in = {.recipient = email,
	                        .cls = t->cls,
	                        .reason = t->reason,
	                        .diag = details && details[0] ? details : jstr(j, "Description"),
	                        .final = t->final};
	finding_add(r, &in);
out:
	json_decref(j);
	return rc;
}

/* ---- SendGrid ---- */

static int sendgrid_verify(const struct bl_webhook_keys *k, const struct bl_webhook_request *req,
                           int64_t now, struct bl_diag *d)
{
	const char *sig64 = req->header(req->header_arg, "X-Twilio-Email-Event-Webhook-Signature");
	const char *tss = req->header(req->header_arg, "X-Twilio-Email-Event-Webhook-Timestamp");
	if (!sig64 || !tss)
		return bl_diag_set(d, BL_EPERM, "SendGrid request without the signature headers");
	int64_t ts;
	if (parse_epoch(tss, &ts) != 0)
		return bl_diag_set(d, BL_EPERM, "SendGrid signature timestamp is not a number");
	if (!fresh(ts, now, window(k)))
		return bl_diag_set(d, BL_EPERM,
		                   "SendGrid signature timestamp is outside the %lld s "
		                   "window",
		                   (long long)window(k));
	unsigned char key[KEY_MAX / 4], sig[SIG_MAX];
	size_t key_len = 0, sig_len = 0;
	if (bl_base64_decode(k->sendgrid_pubkey, strlen(k->sendgrid_pubkey), key, sizeof(key),
	                     &key_len) != 0)
		return bl_diag_set(d, BL_EPERM, "webhook_sendgrid_key is not base64");
	if (bl_base64_decode(sig64, strlen(sig64), sig, sizeof(sig), &sig_len) != 0)
		return bl_diag_set(d, BL_EPERM, "SendGrid signature is not base64");
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_adds(&b, tss);
	bl_buf_add(&b, req->body, req->len);
	struct bl_diag vd;
	int rc = bl_buf_err(&b) ? -BL_EPERM
	                        : bl_pubkey_verify_ecdsa_p256(key, key_len, bl_buf_str(&b), b.len,
	                                                      sig, sig_len, &vd);
	bl_buf_finish(&b);
	if (rc == -BL_EINVAL)
		return bl_diag_set(d, BL_EPERM, "webhook_sendgrid_key: %s", vd.msg);
	if (rc != 0)
		return bl_diag_set(d, BL_EPERM, "SendGrid signature does not verify");
	return 0;
}

/* SendGrid bounce_classification values (Event Webhook reference). */
static const struct {
	const char *name;
	enum bl_bounce_class cls; /* BL_BOUNCE_UNKNOWN: generic */
	const char *reason;
} sendgrid_classes[] = {
    {"Invalid Address", BL_BOUNCE_HARD, "userunknown"},
    {"Mailbox Unavailable", BL_BOUNCE_SOFT, NULL},
    {"Technical", BL_BOUNCE_SOFT, "systemerror"},
    {"Content", BL_BOUNCE_BLOCK, "contenterror"},
    {"Reputation", BL_BOUNCE_BLOCK, "badreputation"},
    {"Frequency or Volume Too High", BL_BOUNCE_BLOCK, "ratelimited"},
    {"Unclassified", BL_BOUNCE_UNKNOWN, NULL},
};

static void sendgrid_event(const json_t *e, struct reports *o)
{
	const char *ev = jstr(e, "event");
	const char *email = jstr(e, "email");
	if (!ev || !email)
		return;
	struct finding_in in = {.recipient = email, .final = 1};
	enum bl_report_kind kind = BL_REPORT_KIND_DSN;
	if (strcmp(ev, "bounce") == 0) {
		const char *type = jstr(e, "type");
		const char *bc = jstr(e, "bounce_classification");
		in.diag = jstr(e, "reason");
		in.status = jstr(e, "status");
		in.cls_generic = 1;
		if (type && strcmp(type, "blocked") == 0) {
			in.cls_generic = 0;
			in.cls = BL_BOUNCE_BLOCK;
		}
		for (size_t i = 0; bc && i < sizeof(sendgrid_classes) / sizeof(sendgrid_classes[0]);
		     i++)
			if (strcmp(bc, sendgrid_classes[i].name) == 0 &&
			    sendgrid_classes[i].cls != BL_BOUNCE_UNKNOWN && in.cls_generic) {
				in.cls_generic = 0;
				in.cls = sendgrid_classes[i].cls;
				in.reason = sendgrid_classes[i].reason;
			}
	} else if (strcmp(ev, "dropped") == 0) {
		in.cls = BL_BOUNCE_BLOCK;
		in.reason = "suppressed";
		in.diag = jstr(e, "reason");
	} else if (strcmp(ev, "deferred") == 0) {
		in.cls = BL_BOUNCE_SOFT;
		in.diag = jstr(e, "response");
		in.final = 0;
	} else if (strcmp(ev, "spamreport") == 0) {
		in.cls = BL_BOUNCE_COMPLAINT;
		in.reason = "feedback";
		kind = BL_REPORT_KIND_ARF;
	} else {
		return; /* processed, delivered, open, click, unsubscribe, ... */
	}
	const char *id = jstr(e, "sg_event_id");
	char *dump = NULL;
	if (!id) /* no event id: the event's own bytes, keys sorted, stand in for it */
		id = dump = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);
	char subj[64];
	snprintf(subj, sizeof(subj), "SendGrid %s", ev);
	struct bl_bounce_report *r =
	    report_add(o, BL_WEBHOOK_SENDGRID, kind, id ? id : "", jstr(e, "smtp-id"), email, subj);
	finding_add(r, &in);
	free(dump);
}

static int read_sendgrid(const struct bl_webhook_keys *k, const struct bl_webhook_request *req,
                         int64_t now, struct reports *o, struct bl_diag *d)
{
	if (!configured(k->sendgrid_pubkey))
		return bl_diag_set(d, BL_ENOENT,
		                   "the SendGrid webhook is not configured (webhook_sendgrid_key)");
	int rc = sendgrid_verify(k, req, now, d);
	if (rc != 0)
		return rc;
	json_t *j = parse_json(req->body, req->len, d, "SendGrid events");
	if (!j)
		return -BL_EINVAL;
	if (!json_is_array(j)) {
		json_decref(j);
		return bl_diag_set(d, BL_EINVAL, "SendGrid events are not a JSON array");
	}
	size_t i;
	const json_t *e;
	json_array_foreach(j, i, e) sendgrid_event(e, o);
	json_decref(j);
	return 0;
}

/* ---- Mailgun ---- */

/*
 * The tokens of accepted Mailgun signatures, remembered until their signed timestamp leaves
 * the window: Mailgun signs only timestamp + token, so the same signature on other
 * event-data is a replay, refused by its token. At most MG_TOKENS entries (about 5 MB,
 * allocated on first use), the oldest evicted first; one set per process, not shared by
 * several serve processes. Each entry is the first half of the token's SHA-256 in hex.
 */
#define MG_TOKENS  100000
#define MG_BUCKETS 131072 /* a power of 2 */
#define MG_NIL     UINT32_MAX
#define MG_HASH    32
struct mg_token {
	char h[MG_HASH];
	int64_t expires; /* seconds since the epoch: after it, the timestamp check refuses */
	uint32_t next;   /* in its bucket's chain */
};
static struct {
	struct mg_token *slot; /* a ring in order of acceptance */
	uint32_t *bucket;
	uint32_t head, count; /* the oldest slot, slots in use */
} mg_seen;
static pthread_mutex_t mg_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t mg_bucket_of(const char *h)
{
	uint32_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = v << 4 |
		    (uint32_t)(isdigit((unsigned char)h[i]) ? h[i] - '0' : h[i] - 'a' + 10);
	return v & (MG_BUCKETS - 1);
}

/* Take the oldest entry out of the set. */
static void mg_drop_oldest(void)
{
	uint32_t i = mg_seen.head;
	uint32_t *p = &mg_seen.bucket[mg_bucket_of(mg_seen.slot[i].h)];
	while (*p != i)
		p = &mg_seen.slot[*p].next;
	*p = mg_seen.slot[i].next;
	mg_seen.head = (i + 1) % MG_TOKENS;
	mg_seen.count--;
}

/* 1 when @token was accepted before and has not expired at @now; else remember it until
 * @expires and 0. */
static int mg_token_replayed(const char *token, int64_t now, int64_t expires)
{
	char hex[BL_HASH_HEX];
	bl_sha256_hex(token, strlen(token), hex);
	int seen = 0;
	pthread_mutex_lock(&mg_lock);
	if (!mg_seen.slot) {
		mg_seen.slot = bl_xcalloc(MG_TOKENS, sizeof(*mg_seen.slot));
		mg_seen.bucket = bl_xmalloc(MG_BUCKETS * sizeof(*mg_seen.bucket));
		for (size_t i = 0; i < MG_BUCKETS; i++)
			mg_seen.bucket[i] = MG_NIL;
	}
	while (mg_seen.count && mg_seen.slot[mg_seen.head].expires < now)
		mg_drop_oldest();
	uint32_t b = mg_bucket_of(hex);
	for (uint32_t j = mg_seen.bucket[b]; j != MG_NIL && !seen; j = mg_seen.slot[j].next)
		seen =
		    memcmp(mg_seen.slot[j].h, hex, MG_HASH) == 0 && mg_seen.slot[j].expires >= now;
	if (!seen) {
		if (mg_seen.count == MG_TOKENS)
			mg_drop_oldest();
		uint32_t i = (mg_seen.head + mg_seen.count) % MG_TOKENS;
		memcpy(mg_seen.slot[i].h, hex, MG_HASH);
		mg_seen.slot[i].expires = expires;
		mg_seen.slot[i].next = mg_seen.bucket[b];
		mg_seen.bucket[b] = i;
		mg_seen.count++;
	}
	pthread_mutex_unlock(&mg_lock);
	return seen;
}

static int mailgun_verify(const struct bl_webhook_keys *k, const json_t *j, int64_t now,
                          struct bl_diag *d)
{
	const json_t *s = json_object_get(j, "signature");
	char tbuf[32];
	const char *tss = jstr_or_int(s, "timestamp", tbuf, sizeof(tbuf));
	const char *token = jstr(s, "token"), *sig = jstr(s, "signature");
	if (!tss || !token || !sig)
		return bl_diag_set(d, BL_EPERM,
		                   "Mailgun webhook without signature.timestamp, "
		                   "token and signature");
	int64_t ts;
	if (parse_epoch(tss, &ts) != 0)
		return bl_diag_set(d, BL_EPERM, "Mailgun signature timestamp is not a number");
	if (!fresh(ts, now, window(k)))
		return bl_diag_set(d, BL_EPERM,
		                   "Mailgun signature timestamp is outside the %lld s "
		                   "window",
		                   (long long)window(k));
	struct bl_buf b;
	bl_buf_init(&b, 4096);
	bl_buf_adds(&b, tss);
	bl_buf_adds(&b, token);
	unsigned char mac[32];
	bl_hmac_sha256(k->mailgun_key, strlen(k->mailgun_key), bl_buf_str(&b), b.len, mac);
	int bad = bl_buf_err(&b) != 0;
	bl_buf_finish(&b);
	char want[65], got[65];
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < 32; i++) {
		want[2 * i] = hex[mac[i] >> 4];
		want[2 * i + 1] = hex[mac[i] & 15];
	}
	want[64] = '\0';
	size_t n = strlen(sig);
	for (size_t i = 0; i < 64; i++)
		got[i] = i < n ? (char)tolower((unsigned char)sig[i]) : '\0';
	got[64] = '\0';
	if (!bl_constant_time_eq(want, got, 64) || n != 64 || bad)
		return bl_diag_set(d, BL_EPERM, "Mailgun signature does not verify");
	/* Only a verified token is remembered: no one else can fill the set. */
	if (mg_token_replayed(token, now, ts + window(k)))
		return bl_diag_set(d, BL_EPERM, "a Mailgun signature token seen before: a replay");
	return 0;
}

static void mailgun_event(const json_t *e, struct reports *o)
{
	const char *ev = jstr(e, "event");
	const char *email = jstr(e, "recipient");
	if (!ev || !email)
		return;
	const json_t *ds = json_object_get(e, "delivery-status");
	const json_t *headers = json_object_get(json_object_get(e, "message"), "headers");
	struct finding_in in = {.recipient = email, .final = 1};
	enum bl_report_kind kind = BL_REPORT_KIND_DSN;
	if (strcmp(ev, "failed") == 0) {
		const char *sev = jstr(e, "severity"), *reason = jstr(e, "reason");
		const char *msg = jstr(ds, "message");
		in.diag = msg && msg[0] ? msg : jstr(ds, "description");
		in.status = jstr(ds, "enhanced-code");
		in.code = (int)json_integer_value(json_object_get(ds, "code"));
		if (sev && strcmp(sev, "temporary") == 0) {
			in.cls = BL_BOUNCE_SOFT;
			in.final = 0;
		} else if (reason && strncmp(reason, "suppress-", 9) == 0) {
			in.cls = BL_BOUNCE_BLOCK;
			in.reason = "suppressed";
		} else if (reason && strcmp(reason, "espblock") == 0) {
			in.cls = BL_BOUNCE_BLOCK;
			in.reason = "blocked";
		} else if (reason && strcmp(reason, "old") == 0) {
			in.cls = BL_BOUNCE_SOFT;
			in.reason = "expired";
		} else {
			in.cls_generic = 1;
		}
	} else if (strcmp(ev, "complained") == 0) {
		in.cls = BL_BOUNCE_COMPLAINT;
		in.reason = "feedback";
		kind = BL_REPORT_KIND_ARF;
	} else {
		return; /* accepted, delivered, opened, clicked, unsubscribed, ... */
	}
	const char *id = jstr(e, "id");
	char *dump = NULL;
	if (!id)
		id = dump = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);
	char subj[64];
	snprintf(subj, sizeof(subj), "Mailgun %s", ev);
	const char *subject = jstr(headers, "subject");
	struct bl_bounce_report *r =
	    report_add(o, BL_WEBHOOK_MAILGUN, kind, id ? id : "", jstr(headers, "message-id"),
	               email, subject ? subject : subj);
	finding_add(r, &in);
	free(dump);
}

static int read_mailgun(const struct bl_webhook_keys *k, const struct bl_webhook_request *req,
                        int64_t now, struct reports *o, struct bl_diag *d)
{
	if (!configured(k->mailgun_key))
		return bl_diag_set(d, BL_ENOENT,
		                   "the Mailgun webhook is not configured (webhook_mailgun_key)");
	json_t *j = parse_json(req->body, req->len, d, "Mailgun webhook");
	if (!j)
		return -BL_EINVAL;
	int rc;
	if (!json_is_object(j))
		rc = bl_diag_set(d, BL_EINVAL, "Mailgun webhook body is not a JSON object");
	else if ((rc = mailgun_verify(k, j, now, d)) == 0) {
		const json_t *e = json_object_get(j, "event-data");
		if (!json_is_object(e))
			rc = bl_diag_set(d, BL_EINVAL, "Mailgun webhook without event-data");
		else
			mailgun_event(e, o);
	}
	json_decref(j);
	return rc;
}

/* ---- entry point ---- */

int bl_webhook_read(enum bl_webhook_provider provider, const struct bl_webhook_keys *keys,
                    const struct bl_webhook_request *req, int64_t now,
                    struct bl_bounce_report **out, size_t *n, char **subscribe_url,
                    struct bl_diag *d)
{
	struct reports o = {0};
	char *url = NULL;
	int rc;
	if (!req->body && req->len)
		return bl_diag_set(d, BL_EINVAL, "no body");
	switch (provider) {
	case BL_WEBHOOK_SES:
		rc = read_ses(keys, req, now, &o, &url, d);
		break;
	case BL_WEBHOOK_POSTMARK:
		rc = read_postmark(keys, req, &o, d);
		break;
	case BL_WEBHOOK_SENDGRID:
		rc = read_sendgrid(keys, req, now, &o, d);
		break;
	case BL_WEBHOOK_MAILGUN:
		rc = read_mailgun(keys, req, now, &o, d);
		break;
	default:
		rc = bl_diag_set(d, BL_ENOENT, "unknown webhook provider");
	}
	if (rc != 0) {
		bl_webhook_reports_free(o.v, o.n);
		free(url);
		return rc;
	}
	*out = o.v;
	*n = o.n;
	if (subscribe_url)
		*subscribe_url = url;
	else
		free(url);
	return 0;
}
