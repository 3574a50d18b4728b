/*
 * The JSON shape of each resource (json.h): one place that names the
 * fields the command line's --json output and the HTTP API both print.
 * Keys are added in a fixed order (the CLI prints with JSON_PRESERVE_ORDER),
 * so a new field is appended where the header lists it and nothing else
 * moves.
 */
#include "core/json.h"

#include "util/buf.h"
#include "util/utf8.h"

#include "core/address.h"
#include "util/time.h"

#include <string.h>

json_t *bl_json_time(int64_t t)
{
	char buf[BL_TIME_STRMAX];
	return t ? json_string(bl_time_format(t, buf)) : json_null();
}

json_t *bl_json_text(const char *s)
{
	if (!s)
		s = "";
	size_t n = strlen(s), bad;
	if (bl_utf8_valid(s, n, &bad))
		return json_stringn(s, n);
	/* Stored text that is not UTF-8 (cut by an older version, written by
	 * hand): each bad byte becomes U+FFFD rather than losing the field. */
	struct bl_buf b;
	bl_buf_init(&b, 0);
	while (!bl_utf8_valid(s, n, &bad)) {
		bl_buf_add(&b, s, bad);
		bl_buf_adds(&b, "\xEF\xBF\xBD");
		s += bad + 1;
		n -= bad + 1;
	}
	bl_buf_add(&b, s, n);
	json_t *j = json_stringn(b.data, b.len);
	bl_buf_finish(&b);
	return j;
}

static json_t *str(const char *s)
{
	return bl_json_text(s);
}

json_t *bl_json_list(const struct bl_list *l, const struct bl_list_counts *n)
{
	json_t *o = json_object();
	json_object_set_new(o, "slug", str(l->slug));
	json_object_set_new(o, "name", str(l->name));
	json_object_set_new(o, "optin", json_string(bl_optin_name(l->optin)));
	json_object_set_new(o, "visibility", json_string(bl_visibility_name(l->visibility)));
	json_object_set_new(o, "description", str(l->description));
	json_object_set_new(o, "created_at", bl_json_time(l->created_at));
	json_object_set_new(o, "breaking_digest", json_boolean(!l->breaking_digest_off));
	if (n) {
		json_t *c = json_object();
		json_object_set_new(c, "unconfirmed", json_integer(n->unconfirmed));
		json_object_set_new(c, "confirmed", json_integer(n->confirmed));
		json_object_set_new(c, "unsubscribed", json_integer(n->unsubscribed));
		json_object_set_new(o, "counts", c);
	}
	return o;
}

/* Stored attributes as an object: either backend's text (PostgreSQL's jsonb
 * spells 1e20 out as an integer jansson cannot hold: read as a real), {} when
 * unreadable. The same reading as bl_import_attributes_load, kept here so
 * core does not depend on the import. */
static json_t *attributes(const char *text)
{
	json_error_t err;
	json_t *a = text ? json_loads(text, 0, &err) : NULL;
	if (!a && text)
		a = json_loads(text, JSON_DECODE_INT_AS_REAL, &err);
	if (a && !json_is_object(a)) {
		json_decref(a);
		a = NULL;
	}
	return a ? a : json_object();
}

json_t *bl_json_subscriber(const struct bl_subscriber *s)
{
	json_t *o = json_object();
	struct bl_address a;
	const char *email = s->email ? s->email : "";
	json_object_set_new(o, "id", json_integer(s->id));
	json_object_set_new(o, "email", str(email));
	if (bl_address_parse(email, strlen(email), BL_ADDRESS_SMTPUTF8, &a, NULL, NULL) == 0)
		json_object_set_new(o, "display", str(a.display));
	else
		json_object_set_new(o, "display", str(email));
	json_object_set_new(o, "name", str(s->name));
	json_object_set_new(o, "attributes", attributes(s->attributes));
	json_object_set_new(o, "status", json_string(bl_subscriber_status_name(s->status)));
	json_object_set_new(o, "status_reason", str(s->status_reason));
	json_object_set_new(o, "created_at", bl_json_time(s->created_at));
	json_object_set_new(o, "updated_at", bl_json_time(s->updated_at));
	return o;
}

json_t *bl_json_subscription(const struct bl_subscription *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "list", s->list_slug ? str(s->list_slug) : json_null());
	json_object_set_new(o, "status", json_string(bl_sub_status_name(s->status)));
	json_object_set_new(o, "mode", json_string(bl_mode_name(s->mode)));
	json_object_set_new(o, "created_at", bl_json_time(s->created_at));
	json_object_set_new(o, "updated_at", bl_json_time(s->updated_at));
	return o;
}

json_t *bl_json_consent(const struct bl_consent *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "kind", json_string(bl_consent_kind_name(c->kind)));
	json_object_set_new(o, "list", c->list_slug ? str(c->list_slug) : json_null());
	json_object_set_new(o, "at", bl_json_time(c->at));
	json_object_set_new(o, "ip", str(c->ip));
	json_object_set_new(o, "user_agent", str(c->user_agent));
	json_object_set_new(o, "source", str(c->source));
	return o;
}

json_t *bl_json_post(const struct bl_post *p, const char *const *slugs, size_t n_slugs)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(p->id));
	json_object_set_new(o, "kind", json_string(bl_post_kind_name(p->kind)));
	json_object_set_new(o, "format", json_string(bl_post_format_name(p->format)));
	json_object_set_new(o, "subject", str(p->subject));
	json_object_set_new(o, "status", json_string(bl_post_status_name(p->status)));
	json_object_set_new(o, "priority", json_string(bl_priority_name(p->priority)));
	json_object_set_new(o, "from", str(p->from_header));
	if (slugs) {
		json_t *a = json_array();
		for (size_t i = 0; i < n_slugs; i++)
			json_array_append_new(a, str(slugs[i]));
		json_object_set_new(o, "lists", a);
	}
	json_object_set_new(o, "pause_reason", str(p->pause_reason));
	json_object_set_new(o, "created_at", bl_json_time(p->created_at));
	json_object_set_new(o, "scheduled_at", bl_json_time(p->scheduled_at));
	json_object_set_new(o, "started_at", bl_json_time(p->started_at));
	json_object_set_new(o, "finished_at", bl_json_time(p->finished_at));
	json_object_set_new(o, "total", json_integer(p->total));
	return o;
}

json_t *bl_json_delivery_counts(const struct bl_delivery_counts *n)
{
	json_t *o = json_object();
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++)
		json_object_set_new(o, bl_delivery_state_name((enum bl_delivery_state)i),
		                    json_integer(n->n[i]));
	json_object_set_new(o, "in_doubt", json_integer(n->in_doubt));
	return o;
}

json_t *bl_json_post_status(const struct bl_post *p, const struct bl_delivery_counts *n,
                            int64_t accepted_last_minute, int64_t now)
{
	double rate = (double)accepted_last_minute / 60.0;
	if (p->status == BL_POST_SENT && p->finished_at && p->started_at &&
	    p->finished_at - p->started_at < 60 && now - p->finished_at < 60) {
		int64_t span = p->finished_at - p->started_at;
		rate = (double)accepted_last_minute / (double)(span > 0 ? span : 1);
	}
	rate = (double)(int64_t)(rate * 10 + 0.5) / 10;
	struct bl_delivery_counts c = *n;
	c.in_doubt = p->in_doubt;
	int64_t left =
	    c.n[BL_DELIVERY_PENDING] + c.n[BL_DELIVERY_CLAIMED] + c.n[BL_DELIVERY_DEFERRED];
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(p->id));
	json_object_set_new(o, "status", json_string(bl_post_status_name(p->status)));
	json_object_set_new(o, "total", json_integer(p->total));
	json_object_update_new(o, bl_json_delivery_counts(&c));
	json_object_set_new(o, "rate", json_real(rate));
	json_object_set_new(o, "started_at", bl_json_time(p->started_at));
	json_object_set_new(o, "finished_at", bl_json_time(p->finished_at));
	json_object_set_new(o, "pause_reason", str(p->pause_reason));
	json_object_set_new(o, "eta",
	                    left == 0  ? json_integer(0)
	                    : rate > 0 ? json_integer((int64_t)((double)left / rate + 0.5))
	                               : json_null());
	return o;
}

json_t *bl_json_feed(const struct bl_feed *f, json_t *lists)
{
	json_t *o = json_object();
	if (!lists)
		lists = json_array();
	json_object_set_new(o, "id", json_integer(f->id));
	json_object_set_new(o, "url", str(f->url));
	json_object_set_new(o, "title", str(f->title));
	json_object_set_new(o, "lists", lists);
	json_object_set_new(o, "mode", json_string(bl_feed_mode_name(f->mode)));
	json_object_set_new(o, "every", json_integer(f->every));
	json_object_set_new(o, "breaking", json_boolean(f->breaking));
	json_object_set_new(o, "backfill", json_integer(f->backfill));
	json_object_set_new(o, "last_poll_at", bl_json_time(f->polled_at));
	json_object_set_new(o, "last_ok_at", bl_json_time(f->ok_at));
	json_object_set_new(o, "next_poll_at", bl_json_time(f->next_poll_at));
	json_object_set_new(o, "failures", json_integer(f->failures));
	json_object_set_new(o, "last_error", str(f->last_error));
	json_object_set_new(o, "items", json_integer(f->items));
	json_object_set_new(o, "posts", json_integer(f->posts));
	json_object_set_new(o, "created_at", bl_json_time(f->created_at));
	return o;
}
