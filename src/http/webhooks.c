/*
 * POST /webhooks/{ses,postmark,sendgrid,mailgun}: bounce and complaint
 * events from email providers (issue 7). src/bounce/webhook.h verifies and
 * reads the request; each report then goes through the bounce policy
 * (src/bounce/policy.h) with attribution by recipient allowed, since the
 * provider signed it — except Mailgun's, whose signature does not cover the
 * event (only its Message-ID attributes it). Answers are small JSON documents: 200 with what was
 * done, else an RFC 9457 problem — 401 for an unsigned, forged or stale
 * request (nothing read, nothing changed), 404 for a provider that is not
 * configured, 400 for a body the provider would not send, 503 when the
 * database failed (the provider retries; event keys make that safe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bounce/policy.h"
#include "bounce/webhook.h"
#include "feed/fetch.h"
#include "http/web.h"
#include "util/log.h"
#include "util/time.h"

static const char *header(void *arg, const char *name)
{
	return bl_http_header(arg, name);
}

static void reply_json(struct bl_http_resp *resp, int status, const char *content_type, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	resp->status = status;
	resp->content_type = content_type;
	bl_buf_adds(&resp->body, s ? s : "{}");
	bl_buf_addc(&resp->body, '\n');
	free(s);
}

/* An RFC 9457 problem document. */
static void problem(struct bl_http_resp *resp, int status, const char *title, const char *detail)
{
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string("about:blank"));
	json_object_set_new(o, "title", json_string(title));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "detail", json_string(detail));
	if (status == 401)
		bl_http_add_header(resp, "WWW-Authenticate", "Basic realm=\"webhooks\"");
	reply_json(resp, status, "application/problem+json", o);
}

/* SNS SubscriptionConfirmation: GET the SubscribeURL (checked by bl_webhook_read to be
 * https://sns.REGION.amazonaws.com/...). 0 or -BL_EIO (@d). */
static int sns_confirm(const struct bl_web *w, const char *url, struct bl_diag *d)
{
	struct bl_fetch_opts o;
	bl_web_fetch_opts(w->config, &o);
	o.max_redirects = -1;
	o.max_bytes = 64 << 10;
	struct bl_fetch_result res;
	int rc = bl_fetch(url, NULL, NULL, &o, &res, d);
	bl_fetch_result_clear(&res);
	return rc;
}

void bl_web_webhook(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_web *w = req->app;
	const struct bl_config *c = w->config;
	enum bl_webhook_provider p;
	if (bl_webhook_provider_parse(req->param, &p) != 0) {
		problem(resp, 404, "Not Found", "no such webhook");
		return;
	}
	struct bl_webhook_keys k = {
	    .sns_topic_arn = bl_config_str(c, "webhook_sns_topic"),
	    .sns_cert_file = bl_config_str(c, "webhook_sns_cert")[0]
	                         ? bl_config_str(c, "webhook_sns_cert")
	                         : NULL,
	    .postmark_auth = bl_config_str(c, "webhook_postmark_auth"),
	    .sendgrid_pubkey = bl_config_str(c, "webhook_sendgrid_key"),
	    .mailgun_key = bl_config_str(c, "webhook_mailgun_key"),
	    .max_age = bl_config_int(c, "webhook_max_age"),
	};
	struct bl_webhook_request wr = {req->body, req->body_len, header, req};
	struct bl_bounce_report *r = NULL;
	size_t n = 0;
	char *url = NULL;
	struct bl_diag d = {""};
	int64_t now = bl_now();
	int rc = bl_webhook_read(p, &k, &wr, now, &r, &n, &url, &d);
	const char *name = bl_webhook_provider_name(p);
	if (rc == -BL_ENOENT) {
		problem(resp, 404, "Not Found", d.msg);
		return;
	}
	if (rc == -BL_EPERM) {
		bl_warn("webhook %s from %s refused: %s", name, req->ip, d.msg);
		problem(resp, 401, "Unauthorized", d.msg);
		return;
	}
	if (rc != 0) {
		problem(resp, 400, "Bad Request", d.msg);
		return;
	}
	if (url) {
		rc = sns_confirm(w, url, &d);
		free(url);
		if (rc != 0) {
			bl_warn("webhook ses: confirming the subscription failed: %s", d.msg);
			problem(resp, 502, "Bad Gateway",
			        "the SNS subscription could not be confirmed");
			return;
		}
		bl_info("webhook ses: SNS subscription confirmed");
		json_t *o = json_object();
		json_object_set_new(o, "provider", json_string(name));
		json_object_set_new(o, "subscription", json_string("confirmed"));
		reply_json(resp, 200, "application/json", o);
		return;
	}
	char source[32];
	snprintf(source, sizeof(source), "webhook-%s", name);
	struct bl_bounce_ctx ctx = {.store = req->store, .secret = &w->secret, .source = source};
	rc = bl_bounce_policy_from_config(c, &ctx.policy, &d);
	struct bl_bounce_result res = {0};
	/* Mailgun signs only timestamp + token, not the event: its events are attributed only
	 * through bulletin's Message-ID (or VERP), never by the recipient address they name. */
	int allow_recipient = p != BL_WEBHOOK_MAILGUN;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = bl_bounce_process_report(&ctx, &r[i], allow_recipient, now, &res, &d);
	bl_webhook_reports_free(r, n);
	if (rc != 0) {
		bl_error("webhook %s: %s", name, d.msg);
		problem(resp, 503, "Service Unavailable",
		        "the events could not be recorded; retry");
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "provider", json_string(name));
	json_object_set_new(o, "events", json_integer((json_int_t)n));
	json_object_set_new(o, "findings", json_integer((json_int_t)res.findings));
	json_object_set_new(o, "recorded", json_integer((json_int_t)res.recorded));
	json_object_set_new(o, "duplicates", json_integer((json_int_t)res.duplicates));
	json_object_set_new(o, "review", json_integer((json_int_t)res.review));
	json_object_set_new(o, "disabled", json_integer((json_int_t)res.disabled));
	json_object_set_new(o, "unsubscribed", json_integer((json_int_t)res.unsubscribed));
	reply_json(resp, 200, "application/json", o);
}
