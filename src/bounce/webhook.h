/*
 * Provider webhooks for bounces and complaints (issue 7): check that a
 * request really comes from the provider, then read its events into
 * analysed reports (bounce.h) for src/bounce/policy.h. Amazon SES through
 * SNS (the SNS message signature, SignatureVersion 1 and 2, against the
 * signing certificate), Postmark (HTTP Basic credentials it is configured
 * to send), SendGrid (the Event Webhook's ECDSA P-256 signature over
 * timestamp + body), Mailgun (HMAC-SHA-256 of timestamp + token with the
 * webhook signing key). A request that is unsigned, forged, or older than
 * the replay window is refused before anything is read from it.
 */
#ifndef BL_BOUNCE_WEBHOOK_H
#define BL_BOUNCE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "bounce/bounce.h"
#include "util/err.h"

enum bl_webhook_provider {
	BL_WEBHOOK_SES,
	BL_WEBHOOK_POSTMARK,
	BL_WEBHOOK_SENDGRID,
	BL_WEBHOOK_MAILGUN
};
/* "ses"/"postmark"/"sendgrid"/"mailgun"; bl_webhook_provider_parse: 0 or -1. */
const char *bl_webhook_provider_name(enum bl_webhook_provider p);
int bl_webhook_provider_parse(const char *s, enum bl_webhook_provider *out);

/* The secrets, from config; NULL or "" = that provider's webhook is off (404). */
struct bl_webhook_keys {
	const char *sns_topic_arn;   /* SES: the only TopicArn accepted */
	const char *sns_cert_file;   /* SES: PEM of the SNS signing certificate to trust;
	                                NULL = fetch SigningCertURL (https://sns.REGION.amazonaws.com
	                                /...pem only, REGION that of sns_topic_arn) and
	                                cache it */
	const char *postmark_auth;   /* Postmark: "user:password" of its Basic credentials */
	const char *sendgrid_pubkey; /* SendGrid: base64 DER (SubjectPublicKeyInfo) P-256 key */
	const char *mailgun_key;     /* Mailgun: the HTTP webhook signing key */
	int64_t max_age;             /* seconds a signed timestamp may be old (default 300) */
};

/* One request as the HTTP layer hands it over. */
struct bl_webhook_request {
	const char *body; /* raw bytes */
	size_t len;
	/* header lookup, case-insensitive: value or NULL */
	const char *(*header)(void *arg, const char *name);
	void *header_arg;
};

/*
 * bl_webhook_read - verify request @req for @provider with @keys at @now, then read its
 * events into *@out (an array of *@n reports, each with its findings; free with
 * bl_webhook_reports_free). Each report's key is the hex SHA-256 of the provider's name,
 * ':' and its event id ("ses:" + SNS MessageId, "sendgrid:" + sg_event_id, "mailgun:" +
 * event id, "postmark:" + ID), so a redelivered event is recorded once and never taken for
 * another provider's event or a mail report (bounce.h, key). Events that are not bounces or
 * complaints (deliveries, opens) give no report. Returns 0; -BL_ENOENT when the provider is not
 * configured; -BL_EPERM when the signature is missing, wrong or too old, or is a Mailgun signature
 * whose token was accepted before within the window (a replay: Mailgun signs only timestamp +
 * token, so its tokens are remembered in memory, up to 100,000, oldest evicted first, per process —
 * several serve processes do not share them) (@d says which, without secrets); -BL_EINVAL for a
 * body that is not what the provider sends (@d). Nothing is returned on error.
 * An SNS SubscriptionConfirmation returns 0 with no report and *@subscribe_url set
 * (malloc'd) when the caller should confirm it; NULL otherwise.
 */
int bl_webhook_read(enum bl_webhook_provider provider, const struct bl_webhook_keys *keys,
                    const struct bl_webhook_request *req, int64_t now,
                    struct bl_bounce_report **out, size_t *n, char **subscribe_url,
                    struct bl_diag *d);

/* bl_webhook_reports_free - free @n reports of @r and the array. NULL-safe. */
void bl_webhook_reports_free(struct bl_bounce_report *r, size_t n);

#endif
