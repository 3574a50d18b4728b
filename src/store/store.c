/* Backend registry and shared helpers of the store; see store.h. */
#include "store/store.h"

#include "util/str.h"
#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *prefix;
	const struct bl_store_ops *ops;
} registry[] = {
    {"sqlite:", &bl_sqlite_ops},
    {"postgresql://", &bl_postgres_ops},
    {"postgres://", &bl_postgres_ops},
};

int bl_store_open(const char *uri, const struct bl_store_opts *opts, struct bl_store **out,
                  struct bl_diag *d)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++) {
		if (strncmp(uri, registry[i].prefix, strlen(registry[i].prefix)) == 0)
			return registry[i].ops->open(uri, opts, out, d);
	}
	char *shown = bl_url_mask_password(uri); /* libpq's "password=" form, say */
	int rc = bl_diag_set(
	    d, BL_EINVAL, "unknown database \"%s\": use sqlite:PATH or postgresql://USER@HOST/DB",
	    shown);
	free(shown);
	return rc;
}

void bl_store_close(struct bl_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *bl_store_error(const struct bl_store *s)
{
	return s->error;
}

int bl_store_set_error(struct bl_store *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	return -code;
}

int bl_store_check_schema(struct bl_store *s)
{
	int v = 0;
	int rc = s->ops->schema_version(s, &v);
	if (rc)
		return rc;
	if (v == 0)
		return bl_store_set_error(s, BL_ESCHEMA,
		                          "the database is not initialised; run `bulletin init`");
	if (v < BL_SCHEMA_VERSION)
		return bl_store_set_error(s, BL_ESCHEMA,
		                          "the database schema is version %d, this bulletin needs "
		                          "%d; run `bulletin init` to migrate it",
		                          v, BL_SCHEMA_VERSION);
	if (v > BL_SCHEMA_VERSION)
		return bl_store_set_error(s, BL_ESCHEMA,
		                          "the database schema is version %d, newer than this "
		                          "bulletin (%d); upgrade bulletin",
		                          v, BL_SCHEMA_VERSION);
	return 0;
}

void bl_import_state_clear(struct bl_import_state *st)
{
	if (!st)
		return;
	bl_subscriber_clear(&st->sub);
	memset(st, 0, sizeof(*st));
}

void bl_claimed_clear(struct bl_claimed *c)
{
	if (!c)
		return;
	free(c->email);
	free(c->name);
	free(c->attributes);
	memset(c, 0, sizeof(*c));
}

const char *bl_store_cut_utf8(const char *text, size_t max, char *buf)
{
	if (!text)
		return "";
	size_t n = strlen(text);
	if (n <= max)
		return text;
	n = max;
	/* Back off continuation bytes (10xxxxxx) to the start of the cut sequence. */
	while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
		n--;
	memcpy(buf, text, n);
	buf[n] = '\0';
	return buf;
}

const char *bl_store_cut_reply(const char *reply, char buf[BL_REPLY_MAX + 1])
{
	return bl_store_cut_utf8(reply, BL_REPLY_MAX, buf);
}

void bl_store_ctx_text(const struct bl_consent_ctx *ctx, struct bl_ctx_text *out)
{
	out->ip = ctx && ctx->ip ? ctx->ip : "";
	out->user_agent =
	    bl_store_cut_utf8(ctx ? ctx->user_agent : NULL, BL_USER_AGENT_MAX, out->ua_buf);
	out->source = bl_store_cut_utf8(ctx ? ctx->source : NULL, BL_SOURCE_MAX, out->source_buf);
}

int bl_store_check_signup(struct bl_store *s, const struct bl_signup *in)
{
	if (!in || !in->email || !*in->email || !in->email_key || !*in->email_key)
		return bl_store_set_error(s, BL_EINVAL, "web_signup: no address");
	if (in->n_lists > 0 && !in->list_ids)
		return bl_store_set_error(s, BL_EINVAL, "web_signup: %zu lists missing",
		                          in->n_lists);
	if (in->confirm_interval < 0)
		return bl_store_set_error(s, BL_EINVAL,
		                          "web_signup: negative confirm_interval %lld",
		                          (long long)in->confirm_interval);
	return 0;
}

/* @what's @v (NULL reads as "") must be valid UTF-8 of at most @max bytes. */
static int check_text(struct bl_store *s, const char *what, const char *v, size_t max)
{
	size_t n = v ? strlen(v) : 0, bad;
	if (n > max)
		return bl_store_set_error(s, BL_EINVAL, "%s is %zu bytes; at most %zu", what, n,
		                          max);
	if (n && !bl_utf8_valid(v, n, &bad))
		return bl_store_set_error(s, BL_EINVAL, "%s is not valid UTF-8 (byte %zu)", what,
		                          bad + 1);
	return 0;
}

int bl_store_check_subscriber(struct bl_store *s, const struct bl_subscriber *sub)
{
	int rc;
	if ((unsigned)sub->status > BL_SUBSCRIBER_BLOCKLISTED)
		return bl_store_set_error(s, BL_EINVAL, "unknown subscriber status %d",
		                          (int)sub->status);
	if ((rc = check_text(s, "the name", sub->name, BL_NAME_MAX)) ||
	    (rc = check_text(s, "the attributes", sub->attributes, BL_ATTRIBUTES_MAX)) ||
	    (rc = check_text(s, "the status reason", sub->status_reason, BL_REASON_MAX)))
		return rc;
	return 0;
}

int bl_store_check_changes(struct bl_store *s, const struct bl_subscription_change *changes,
                           size_t n)
{
	if (n > 0 && !changes)
		return bl_store_set_error(s, BL_EINVAL, "web_preferences: %zu changes missing", n);
	for (size_t i = 0; i < n; i++) {
		const struct bl_subscription_change *c = &changes[i];
		if (c->list_id < 1)
			return bl_store_set_error(s, BL_EINVAL,
			                          "web_preferences: change %zu names no list", i);
		if (c->status != BL_SUB_CONFIRMED && c->status != BL_SUB_UNSUBSCRIBED)
			return bl_store_set_error(
			    s, BL_EINVAL,
			    "web_preferences: list %lld: the target status must be confirmed or "
			    "unsubscribed, not %d",
			    (long long)c->list_id, (int)c->status);
		if ((unsigned)c->mode > BL_MODE_WEEKLY)
			return bl_store_set_error(s, BL_EINVAL,
			                          "web_preferences: list %lld: unknown mode %d",
			                          (long long)c->list_id, (int)c->mode);
	}
	return 0;
}

int bl_store_check_exchange(struct bl_store *s, const char *worker,
                            const struct bl_delivery_result *results, size_t n, size_t max,
                            const struct bl_claimed *out, const size_t *n_out)
{
	if (!worker || !*worker)
		return bl_store_set_error(s, BL_EINVAL, "delivery_exchange: no worker name");
	if (max > 0 && (!out || !n_out))
		return bl_store_set_error(
		    s, BL_EINVAL, "delivery_exchange: %zu claims asked with nowhere to put them",
		    max);
	if (n > 0 && !results)
		return bl_store_set_error(s, BL_EINVAL, "delivery_exchange: %zu results missing",
		                          n);
	for (size_t i = 0; i < n; i++) {
		const struct bl_delivery_result *r = &results[i];
		switch (r->state) {
		case BL_DELIVERY_PENDING:
		case BL_DELIVERY_ACCEPTED:
		case BL_DELIVERY_FAILED:
		case BL_DELIVERY_SUPPRESSED:
			break;
		case BL_DELIVERY_DEFERRED:
			if (r->next_try <= 0)
				return bl_store_set_error(
				    s, BL_EINVAL,
				    "result %zu (delivery %lld) defers without a "
				    "next try time",
				    i, (long long)r->delivery_id);
			break;
		default:
			return bl_store_set_error(
			    s, BL_EINVAL,
			    "result %zu (delivery %lld) has state %d, which a "
			    "result cannot have",
			    i, (long long)r->delivery_id, (int)r->state);
		}
	}
	return 0;
}

void bl_user_clear(struct bl_user *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->pass_hash);
	memset(u, 0, sizeof(*u));
}

void bl_session_clear(struct bl_session *x)
{
	if (!x)
		return;
	free(x->user_name);
	free(x->csrf);
	memset(x, 0, sizeof(*x));
}

void bl_api_token_clear(struct bl_api_token *t)
{
	if (!t)
		return;
	free(t->name);
	memset(t, 0, sizeof(*t));
}

void bl_job_clear(struct bl_job *j)
{
	if (!j)
		return;
	free(j->kind);
	free(j->params);
	free(j->actor);
	free(j->report);
	free(j->error);
	memset(j, 0, sizeof(*j));
}

const char *bl_job_state_name(enum bl_job_state v)
{
	static const char *const names[] = {"queued", "running", "done", "failed"};
	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

int bl_feed_key_repeated(const struct bl_feed_ingest_item *e, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(e[j].key, e[i].key) == 0)
			return 1;
	return 0;
}

const char *bl_store_nz(const char *s)
{
	return s ? s : "";
}

int bl_store_check_bounce(struct bl_store *s, const struct bl_bounce_event *ev,
                          const struct bl_bounce_policy *pol)
{
	if (!ev || !pol)
		return bl_store_set_error(s, BL_EINVAL, "bounce_record: no finding or no policy");
	if (!ev->report_key || !*ev->report_key)
		return bl_store_set_error(s, BL_EINVAL,
		                          "bounce_record: the finding has no report key");
	if (ev->idx < 0)
		return bl_store_set_error(s, BL_EINVAL, "bounce_record: negative finding index %d",
		                          ev->idx);
	if ((unsigned)ev->cls >= BL_BOUNCE_NCLASSES)
		return bl_store_set_error(s, BL_EINVAL, "bounce_record: unknown class %d",
		                          (int)ev->cls);
	return 0;
}

const char *bl_store_bounce_action(const char *stored)
{
	static const char *const actions[] = {"disabled", "unsubscribed", "probe",
	                                      "counted",  "recorded",     "review"};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (stored && strcmp(stored, actions[i]) == 0)
			return actions[i];
	return "recorded";
}
