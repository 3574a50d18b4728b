/*
 * Attribution and policy of bounce and complaint findings (issue 7;
 * src/bounce/policy.h says the order of attribution). This file turns an
 * analysed report into store events: each finding is attributed to the
 * delivery it concerns (VERP token, then the returned original's
 * Message-ID, then, for signed webhook events, the recipient's latest
 * delivery) and recorded with the policy by store.h bounce_record, which
 * decides in one transaction (dedupe, counts, blocklisting, probes).
 * Review reasons are static strings: the store keeps them for a person.
 */
#include "bounce/policy.h"

#include "util/buf.h"
#include "util/log.h"
#include "util/utf8.h"

#include "core/address.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Bounds the config table enforces too; checked again for a config filled by hand. */
#define HARD_LIMIT_MAX  100
#define SOFT_LIMIT_MAX  1000
#define SOFT_WINDOW_MAX (365LL * 86400)

int bl_bounce_policy_from_config(const struct bl_config *c, struct bl_bounce_policy *out,
                                 struct bl_diag *d)
{
	long long hard = bl_config_int(c, "bounce_hard_limit");
	long long soft = bl_config_int(c, "bounce_soft_limit");
	long long window = bl_config_int(c, "bounce_soft_window");
	if (hard < 1 || hard > HARD_LIMIT_MAX)
		return bl_diag_set(d, BL_EINVAL, "bounce_hard_limit must be 1 to %d, not %lld",
		                   HARD_LIMIT_MAX, hard);
	if (soft < 1 || soft > SOFT_LIMIT_MAX)
		return bl_diag_set(d, BL_EINVAL, "bounce_soft_limit must be 1 to %d, not %lld",
		                   SOFT_LIMIT_MAX, soft);
	if (window < 1 || window > SOFT_WINDOW_MAX)
		return bl_diag_set(d, BL_EINVAL,
		                   "bounce_soft_window must be 1s to 365d, not %lld seconds",
		                   window);
	*out = (struct bl_bounce_policy){
	    .hard_limit = (int)hard, .soft_limit = (int)soft, .soft_window = window};
	return 0;
}

/* The VERP token of @addr "PREFIXTOKEN@domain" (@prefix "bounces+" or "unsubscribe+", in any
 * case; angle brackets allowed) into @tok: 1 found, 0 not such an address. */
static int token_of(const char *addr, const char *prefix, char tok[BL_VERP_TOKEN_MAX])
{
	size_t plen = strlen(prefix);
	if (!addr)
		return 0;
	while (*addr == ' ' || *addr == '<')
		addr++;
	if (strncasecmp(addr, prefix, plen) != 0)
		return 0;
	const char *t = addr + plen, *at = strchr(t, '@');
	size_t n = at ? (size_t)(at - t) : 0;
	if (n == 0 || n >= BL_VERP_TOKEN_MAX)
		return 0;
	memcpy(tok, t, n);
	tok[n] = '\0';
	return 1;
}

/* The token of a Message-ID "bulletin-TOKEN.HEX@domain" (src/send/compose.c), no <>. */
static int message_id_token_of(const char *mid, char tok[BL_VERP_TOKEN_MAX])
{
	static const char prefix[] = "bulletin-";
	if (!mid)
		return 0;
	while (*mid == ' ' || *mid == '<')
		mid++;
	if (strncasecmp(mid, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	const char *t = mid + sizeof(prefix) - 1, *at = strchr(t, '@');
	if (!at)
		return 0;
	const char *dot = NULL;
	for (const char *c = t; c < at; c++)
		if (*c == '.')
			dot = c;
	size_t n = dot ? (size_t)(dot - t) : 0;
	if (n == 0 || n >= BL_VERP_TOKEN_MAX)
		return 0;
	memcpy(tok, t, n);
	tok[n] = '\0';
	return 1;
}

/* The uniqueness key of address @in (angle brackets and spaces allowed around it). */
static int key_of(const char *in, struct bl_address *a)
{
	while (*in == ' ' || *in == '<')
		in++;
	size_t n = strlen(in);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '>'))
		n--;
	return n > 0 && bl_address_parse(in, n, BL_ADDRESS_SMTPUTF8, a, NULL, NULL) == 0;
}

int bl_bounce_attribute(struct bl_bounce_ctx *ctx, const struct bl_bounce_report *r,
                        const struct bl_bounce_finding *f, int allow_recipient, int64_t now,
                        struct bl_bounce_event *ev)
{
	char tok[BL_VERP_TOKEN_MAX];
	int64_t post = 0, sub = 0;
	/* Why nothing matched, for the review bucket: the most telling reason met. */
	const char *why = NULL;

	ev->post_id = ev->subscriber_id = 0;
	ev->attributed_by = "";
	ev->review = "";
	if (token_of(r->envelope_to, "bounces+", tok)) {
		if (bl_verp_parse(ctx->secret, tok, &post, &sub) == 1) {
			ev->post_id = post;
			ev->subscriber_id = sub;
			ev->attributed_by = "verp";
			return 0;
		}
		why = "the VERP token of the envelope recipient fails its check (forged, damaged "
		      "or another installation's)";
	}
	if (message_id_token_of(r->original_message_id, tok)) {
		if (bl_verp_parse(ctx->secret, tok, &post, &sub) == 1) {
			ev->post_id = post;
			ev->subscriber_id = sub;
			ev->attributed_by = "message-id";
			return 0;
		}
		if (!why)
			why = "the token in the returned message's Message-ID fails its check "
			      "(forged, "
			      "damaged or another installation's)";
	}
	if (allow_recipient && f && f->recipient && *f->recipient) {
		struct bl_address a;
		if (!key_of(f->recipient, &a)) {
			if (!why)
				why = "no VERP token or bulletin Message-ID, and the event's "
				      "recipient is "
				      "no valid address";
		} else {
			struct bl_subscriber s = {0};
			int rc = ctx->store->ops->subscriber_get(ctx->store, a.key, &s);
			sub = s.id;
			bl_subscriber_clear(&s);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				if (!why)
					why =
					    "no VERP token or bulletin Message-ID, and the event's "
					    "recipient is no subscriber";
			} else {
				rc = ctx->store->ops->delivery_latest(
				    ctx->store, sub, now - ctx->policy.soft_window, &post);
				if (rc < 0)
					return rc;
				if (rc == 1) {
					ev->post_id = post;
					ev->subscriber_id = sub;
					ev->attributed_by = "recipient";
					return 0;
				}
				if (!why)
					why =
					    "no VERP token or bulletin Message-ID, and the event's "
					    "recipient had no delivery within bounce_soft_window";
			}
		}
	}
	ev->review = why ? why
	             : allow_recipient
	                 ? "no VERP token in the envelope recipient, no bulletin Message-ID in "
	                   "the returned message and no recipient in the event"
	                 : "no VERP token in the envelope recipient and no bulletin Message-ID "
	                   "in the returned message";
	return 0;
}

/* Record @ev and count what happened into @res. */
static int record(struct bl_bounce_ctx *ctx, const struct bl_bounce_event *in, int64_t now,
                  struct bl_bounce_result *res, struct bl_diag *d)
{
	/* Text from strangers (a relay's reply, a report's fields) goes in as clean UTF-8:
	 * PostgreSQL refuses other bytes, and one odd byte must not fail a batch. */
	struct bl_bounce_event ev = *in;
	const char **text[] = {&ev.reason, &ev.status, &ev.recipient, &ev.diagnostic,
	                       &ev.feedback_type};
	struct bl_buf clean[sizeof(text) / sizeof(text[0])];
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		bl_buf_init(&clean[i], 0);
		if (*text[i] && !bl_utf8_clean(*text[i], strlen(*text[i]))) {
			bl_utf8_scrub(*text[i], strlen(*text[i]), &clean[i]);
			*text[i] = bl_buf_str(&clean[i]);
		}
	}
	/* An erased address stays erased: a later report about it (its old VERP address, a
	 * stranger's report naming it) goes to review without it. */
	struct bl_address a;
	if (*ev.recipient && key_of(ev.recipient, &a)) {
		char hash[BL_HASH_HEX];
		int64_t since;
		bl_suppression_hash(a.key, hash);
		int sup = ctx->store->ops->suppression_get(ctx->store, hash, &since);
		if (sup < 0) {
			for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
				bl_buf_finish(&clean[i]);
			return bl_diag_set(d, -sup, "recording a bounce: %s",
			                   bl_store_error(ctx->store));
		}
		if (sup == 1)
			ev.recipient = ev.diagnostic = "";
	}
	struct bl_bounce_outcome o = {0};
	int rc = ctx->store->ops->bounce_record(ctx->store, &ev, &ctx->policy, now, &o);
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		bl_buf_finish(&clean[i]);
	if (rc)
		return bl_diag_set(d, -rc, "recording a bounce: %s", bl_store_error(ctx->store));
	if (o.duplicate) {
		res->duplicates++;
		return 0;
	}
	res->recorded++;
	if (strcmp(o.action, "review") == 0)
		res->review++;
	else if (strcmp(o.action, "disabled") == 0)
		res->disabled++;
	else if (strcmp(o.action, "unsubscribed") == 0)
		res->unsubscribed++;
	else if (strcmp(o.action, "probe") == 0) {
		if (res->probes < sizeof(res->probe_posts) / sizeof(res->probe_posts[0]))
			res->probe_posts[res->probes] = o.probe_post_id;
		res->probes++;
	}
	return 0;
}

int bl_bounce_process_report(struct bl_bounce_ctx *ctx, const struct bl_bounce_report *r,
                             int allow_recipient, int64_t now, struct bl_bounce_result *res,
                             struct bl_diag *d)
{
	const char *source = ctx->source ? ctx->source : "";
	res->kind = r->kind;
	res->findings += r->n_findings;
	if (!r->key[0])
		return bl_diag_set(d, BL_EINVAL, "the report has no key to recognise it again by");
	if (r->n_findings == 0) {
		/* An auto-reply or a message that is no report: handled, nothing to record. */
		if (r->kind == BL_REPORT_KIND_AUTOREPLY || r->kind == BL_REPORT_KIND_OTHER)
			return 0;
		/* A report with no finding read from it: a person looks at it. */
		struct bl_bounce_event ev = {
		    .report_key = r->key,
		    .idx = 0,
		    .source = source,
		    .kind = bl_report_kind_name(r->kind),
		    .cls = BL_BOUNCE_UNKNOWN,
		    .reason = "",
		    .status = "",
		    .final = 0,
		    .recipient = r->original_to ? r->original_to : "",
		    .diagnostic = r->subject ? r->subject : "",
		    .feedback_type = "",
		    .attributed_by = "",
		    .review =
		        r->kind == BL_REPORT_KIND_ARF
		            ? "a complaint with no original recipient or report that could be read"
		            : "a bounce with no recipient or status that could be read",
		};
		return record(ctx, &ev, now, res, d);
	}
	for (size_t i = 0; i < r->n_findings; i++) {
		const struct bl_bounce_finding *f = &r->findings[i];
		struct bl_bounce_event ev = {
		    .report_key = r->key,
		    .idx = (int)i,
		    .source = source,
		    .kind = bl_report_kind_name(r->kind),
		    .cls = f->cls,
		    .reason = f->reason,
		    .status = f->status,
		    .reply_code = f->reply_code,
		    .final = f->final,
		    .recipient = f->recipient ? f->recipient : "",
		    .diagnostic = f->diagnostic ? f->diagnostic : "",
		    .feedback_type = f->feedback_type ? f->feedback_type : "",
		};
		int rc = bl_bounce_attribute(ctx, r, f, allow_recipient, now, &ev);
		if (rc)
			return bl_diag_set(d, -rc, "attributing a bounce: %s",
			                   bl_store_error(ctx->store));
		if ((rc = record(ctx, &ev, now, res, d)))
			return rc;
	}
	return 0;
}

int bl_bounce_smtp_reply(struct bl_bounce_ctx *ctx, int64_t delivery_id, int attempt,
                         int64_t post_id, int64_t subscriber_id, const char *rcpt, int code,
                         const char *reply, int64_t now, struct bl_bounce_result *res,
                         struct bl_diag *d)
{
	char key[64], status[BL_BOUNCE_STATUS_MAX], reason[BL_BOUNCE_REASON_MAX];
	const char *text = reply ? reply : "";
	/* One key per (delivery, attempt): the engine retrying the same call records once. */
	snprintf(key, sizeof(key), "smtp-%lld-%d", (long long)delivery_id, attempt);
	bl_bounce_status_from_text(text, status);
	enum bl_bounce_class cls = bl_bounce_classify(status, code, text, reason);
	struct bl_bounce_event ev = {
	    .report_key = key,
	    .idx = 0,
	    .source = "smtp",
	    .kind = "smtp",
	    .cls = cls,
	    .reason = reason,
	    .status = status,
	    .reply_code = code,
	    /* A 4xx is the relay's deferral, not the end of the delivery: never counted. */
	    .final = code >= 500,
	    .recipient = rcpt ? rcpt : "",
	    .diagnostic = text,
	    .feedback_type = "",
	    .post_id = post_id,
	    .subscriber_id = subscriber_id,
	    .attributed_by = "smtp",
	    .review = "",
	};
	res->findings++;
	return record(ctx, &ev, now, res, d);
}

static int collect_list(void *arg, const struct bl_list *l)
{
	struct {
		int64_t ids[64];
		size_t n;
	} *c = arg;
	if (c->n < sizeof(c->ids) / sizeof(c->ids[0]))
		c->ids[c->n++] = l->id;
	return 0;
}

/*
 * A message to unsubscribe+TOKEN@bounce_domain: the mailto: of the List-Unsubscribe header
 * (RFC 2369) src/send/compose.c writes. With a valid token the subscriber leaves the lists of
 * that post (every list for a post without lists: a probe), with unsubscribe consent events
 * (source "mailto:unsubscribe"); an unsubscribe is idempotent, so a message read twice changes
 * nothing more. Returns 1 when @r was such a request (handled), 0 when it is not one, negative
 * on a store error (@d).
 */
static int mailto_unsubscribe(struct bl_bounce_ctx *ctx, const struct bl_bounce_report *r,
                              int64_t now, struct bl_bounce_result *res, struct bl_diag *d)
{
	char tok[BL_VERP_TOKEN_MAX];
	int64_t post = 0, sub = 0;
	if (!token_of(r->envelope_to, "unsubscribe+", tok))
		return 0;
	if (bl_verp_parse(ctx->secret, tok, &post, &sub) != 1) {
		bl_warn(
		    "a message to unsubscribe+%.*s@...: the token fails its check (forged, damaged "
		    "or another installation's); nobody is unsubscribed",
		    40, tok);
		return 0;
	}
	struct bl_store *s = ctx->store;
	struct {
		int64_t ids[64];
		size_t n;
	} lists = {.n = 0};
	if (s->ops->post_lists(s, post, collect_list, &lists) != 0)
		return bl_diag_set(d, BL_ESTORE, "an unsubscribe request: %s", bl_store_error(s));
	if (lists.n == 0)
		lists.ids[lists.n++] = 0; /* every list */
	struct bl_consent_ctx cc = {
	    .now = now, .ip = "", .user_agent = "", .source = "mailto:unsubscribe"};
	for (size_t i = 0; i < lists.n; i++) {
		int rc = s->ops->web_unsubscribe(s, sub, lists.ids[i], &cc, NULL);
		if (rc < 0)
			return bl_diag_set(d, -rc, "an unsubscribe request: %s", bl_store_error(s));
		if (rc == 0)
			return 1; /* the subscriber is gone (erased): nothing to do */
	}
	res->kind = r->kind;
	res->unsubscribe_requests++;
	return 1;
}

int bl_bounce_process(struct bl_bounce_ctx *ctx, const char *msg, size_t len,
                      const char *envelope_to, int64_t now, struct bl_bounce_result *res,
                      struct bl_diag *d)
{
	struct bl_bounce_report r;
	int rc = bl_bounce_analyze(msg, len, envelope_to, &r, d);
	if (rc)
		return rc;
	rc = mailto_unsubscribe(ctx, &r, now, res, d);
	if (rc == 0)
		rc = bl_bounce_process_report(ctx, &r, 0, now, res, d);
	else if (rc == 1)
		rc = 0;
	bl_bounce_report_clear(&r);
	return rc;
}
