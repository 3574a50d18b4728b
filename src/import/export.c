/* Subscriber export as CSV or streaming JSON; see export.h. */
#include "import/export.h"

#include "import/csv_write.h"
#include "import/import.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct exporter {
	FILE *out;
	enum bl_export_format format;
	const char *list_slug;
	size_t count;
	int err;
};

static const char *const csv_header[] = {
    "email", "name",   "attributes", "subscriber_status", "status_reason", "created_at",
    "list",  "status", "mode",       "subscribed_at",
};

static int csv_fields(FILE *f, const char *const *v, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bl_csv_write_field(f, v[i], strlen(v[i]), i == 0);
	return rc ? rc : bl_csv_write_end(f);
}

/* Stored attributes re-serialised canonically (compact, sorted keys); caller frees. */
static char *attributes_text(const char *stored)
{
	json_t *a = bl_import_attributes_load(stored);
	if (!a)
		return bl_xstrdup("{}");
	char *s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(a);
	char *out = bl_xstrdup(s ? s : "{}");
	free(s);
	return out;
}

static int csv_item(struct exporter *x, const struct bl_export_item *it)
{
	const struct bl_subscriber *s = it->sub;
	char created[BL_TIME_STRMAX], subscribed[BL_TIME_STRMAX];
	char *attrs = attributes_text(s->attributes);
	const char *v[10] = {
	    s->email,
	    s->name,
	    attrs,
	    bl_subscriber_status_name(s->status),
	    s->status_reason,
	    bl_time_format(s->created_at, created),
	    "",
	    "",
	    "",
	    "",
	};
	int rc = 0;
	if (it->n_subs == 0)
		rc = csv_fields(x->out, v, 10);
	for (size_t i = 0; i < it->n_subs && rc == 0; i++) {
		const struct bl_subscription *sub = &it->subs[i];
		v[6] = sub->list_slug;
		v[7] = bl_sub_status_name(sub->status);
		v[8] = bl_mode_name(sub->mode);
		v[9] = bl_time_format(sub->created_at, subscribed);
		rc = csv_fields(x->out, v, 10);
	}
	free(attrs);
	return rc;
}

static json_t *time_json(int64_t t)
{
	char buf[BL_TIME_STRMAX];
	return json_string(bl_time_format(t, buf));
}

static json_t *event_json(const struct bl_consent *c)
{
	json_t *e = json_object();
	json_object_set_new(e, "kind", json_string(bl_consent_kind_name(c->kind)));
	json_object_set_new(e, "list", json_string(c->list_slug ? c->list_slug : ""));
	json_object_set_new(e, "at", time_json(c->at));
	json_object_set_new(e, "ip", json_string(c->ip));
	json_object_set_new(e, "user_agent", json_string(c->user_agent));
	json_object_set_new(e, "source", json_string(c->source));
	return e;
}

static int json_item(struct exporter *x, const struct bl_export_item *it)
{
	const struct bl_subscriber *s = it->sub;
	json_t *o = json_object();
	json_object_set_new(o, "email", json_string(s->email));
	json_object_set_new(o, "name", json_string(s->name));
	/* Keys sorted whatever the backend stored (jsonb keeps its own order). */
	char *canon = attributes_text(s->attributes);
	json_object_set_new(o, "attributes", json_loads(canon, 0, NULL));
	free(canon);
	json_object_set_new(o, "status", json_string(bl_subscriber_status_name(s->status)));
	json_object_set_new(o, "status_reason", json_string(s->status_reason));
	json_object_set_new(o, "created_at", time_json(s->created_at));
	json_t *subs = json_array();
	for (size_t i = 0; i < it->n_subs; i++) {
		const struct bl_subscription *x2 = &it->subs[i];
		json_t *so = json_object();
		json_object_set_new(so, "list", json_string(x2->list_slug));
		json_object_set_new(so, "status", json_string(bl_sub_status_name(x2->status)));
		json_object_set_new(so, "mode", json_string(bl_mode_name(x2->mode)));
		json_object_set_new(so, "created_at", time_json(x2->created_at));
		json_array_append_new(subs, so);
	}
	json_object_set_new(o, "subscriptions", subs);
	json_t *events = json_array();
	for (size_t i = 0; i < it->n_events; i++) {
		const struct bl_consent *c = &it->events[i];
		const char *list = c->list_slug ? c->list_slug : "";
		/* A one-list export keeps that list's history and the list-less events. */
		if (x->list_slug && *list && strcmp(list, x->list_slug) != 0)
			continue;
		json_array_append_new(events, event_json(c));
	}
	json_object_set_new(o, "consent", events);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	int rc = 0;
	if (!text || fprintf(x->out, "%s%s", x->count ? ",\n" : "", text) < 0)
		rc = -BL_EIO;
	free(text);
	return rc;
}

static int on_item(void *arg, const struct bl_export_item *it)
{
	struct exporter *x = arg;
	int rc = x->format == BL_EXPORT_CSV ? csv_item(x, it) : json_item(x, it);
	if (rc) {
		x->err = errno ? errno : EIO;
		return rc;
	}
	x->count++;
	return 0;
}

struct lists_acc {
	json_t *arr;
	const char *only;
};

static int on_list(void *arg, const struct bl_list *l)
{
	struct lists_acc *acc = arg;
	if (acc->only && strcmp(acc->only, l->slug) != 0)
		return 0;
	json_t *o = json_object();
	json_object_set_new(o, "slug", json_string(l->slug));
	json_object_set_new(o, "name", json_string(l->name));
	json_object_set_new(o, "optin", json_string(bl_optin_name(l->optin)));
	json_object_set_new(o, "visibility", json_string(bl_visibility_name(l->visibility)));
	json_object_set_new(o, "description", json_string(l->description));
	json_object_set_new(o, "created_at", time_json(l->created_at));
	json_array_append_new(acc->arr, o);
	return 0;
}

static int on_detached(void *arg, const struct bl_consent *c)
{
	json_array_append_new(arg, event_json(c));
	return 0;
}

static int on_suppression(void *arg, const char *hash, const char *reason, int64_t created_at)
{
	json_t *o = json_object();
	json_object_set_new(o, "hash", json_string(hash));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "created_at", time_json(created_at));
	json_array_append_new(arg, o);
	return 0;
}

/*
 * The first line of a JSON export: everything but the subscribers. A full
 * export (no list) also carries the secret key, the suppression list and
 * the consent events of erased subscribers, so that a restore is complete.
 */
static int json_header(struct bl_store *s, const char *list_slug, FILE *out, struct bl_diag *d)
{
	json_t *h = json_object();
	char now[BL_TIME_STRMAX];
	json_object_set_new(h, "format", json_string("bulletin"));
	json_object_set_new(h, "version", json_integer(1));
	json_object_set_new(h, "exported_at", json_string(bl_time_format(bl_now(), now)));
	struct lists_acc acc = {.arr = json_array(), .only = list_slug};
	json_object_set_new(h, "lists", acc.arr);
	int rc = s->ops->list_each(s, on_list, &acc);
	if (rc == 0 && !list_slug) {
		char *key = NULL;
		int found = s->ops->setting_get(s, "secret_key", &key);
		if (found < 0)
			rc = found;
		json_t *settings = json_object();
		if (found > 0)
			json_object_set_new(settings, "secret_key", json_string(key));
		free(key);
		json_object_set_new(h, "settings", settings);
		json_t *sup = json_array(), *erased = json_array();
		json_object_set_new(h, "suppressions", sup);
		json_object_set_new(h, "erased_consent", erased);
		if (rc == 0)
			rc = s->ops->suppression_each(s, on_suppression, sup);
		if (rc == 0)
			rc = s->ops->consent_each(s, 0, on_detached, erased);
	}
	if (rc) {
		json_decref(h);
		return bl_diag_set(d, -rc, "%s", bl_store_error(s));
	}
	/* Open the subscribers array on the same line: the import streams from here. */
	json_object_set_new(h, "subscribers", json_array());
	char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	size_t len = text ? strlen(text) : 0;
	int w = len > 2 && fprintf(out, "%.*s\n", (int)(len - 2), text) >= 0;
	free(text);
	if (!w)
		return bl_diag_set(d, BL_EIO, "writing the export failed: %s",
		                   strerror(errno ? errno : EIO));
	return 0;
}

int bl_export(struct bl_store *s, const char *list_slug, enum bl_export_format format, FILE *out,
              size_t *count, struct bl_diag *d)
{
	int64_t list_id = 0;
	int rc;
	if (list_slug) {
		struct bl_list l;
		rc = s->ops->list_get(s, list_slug, &l);
		if (rc < 0)
			return bl_diag_set(d, -rc, "%s", bl_store_error(s));
		if (rc == 0)
			return bl_diag_set(d, BL_EINVAL, "no list \"%s\" (see `bulletin list ls`)",
			                   list_slug);
		list_id = l.id;
		bl_list_clear(&l);
	}
	struct exporter x = {.out = out, .format = format, .list_slug = list_slug};
	errno = 0;
	if (format == BL_EXPORT_CSV) {
		if (csv_fields(out, csv_header, 10))
			return bl_diag_set(d, BL_EIO, "writing the export failed: %s",
			                   strerror(errno ? errno : EIO));
	} else {
		if ((rc = json_header(s, list_slug, out, d)))
			return rc;
	}
	rc = s->ops->export_each(s, list_id, format == BL_EXPORT_JSON, on_item, &x);
	if (rc == 0 && format == BL_EXPORT_JSON && fprintf(out, "%s]}\n", x.count ? "\n" : "") < 0)
		rc = -BL_EIO;
	if (rc == 0 && fflush(out) != 0)
		rc = -BL_EIO;
	if (count)
		*count = x.count;
	if (rc == -BL_EIO)
		return bl_diag_set(d, BL_EIO, "writing the export failed: %s",
		                   strerror(x.err   ? x.err
		                            : errno ? errno
		                                    : EIO));
	if (rc)
		return bl_diag_set(d, -rc, "%s", bl_store_error(s));
	return 0;
}
