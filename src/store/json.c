/*
 * JSON shapes of users, API tokens and audit entries (store/json.h); times
 * through bl_json_time, text through jansson (the store keeps it UTF-8).
 */
#include "store/json.h"

#include "core/json.h"

static json_t *text(const char *s)
{
	json_t *j = json_string(s ? s : "");
	return j ? j : json_string("");
}

json_t *bl_json_user(const struct bl_user *u)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", text(u->name));
	json_object_set_new(o, "role", json_string(bl_role_name(u->role)));
	json_object_set_new(o, "created_at", bl_json_time(u->created_at));
	json_object_set_new(o, "password_changed_at", bl_json_time(u->password_changed_at));
	json_object_set_new(o, "last_login_at", bl_json_time(u->last_login_at));
	return o;
}

json_t *bl_json_api_token(const struct bl_api_token *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", text(t->name));
	json_object_set_new(o, "role", json_string(bl_role_name(t->role)));
	json_object_set_new(o, "created_at", bl_json_time(t->created_at));
	json_object_set_new(o, "last_used_at", bl_json_time(t->last_used_at));
	return o;
}

json_t *bl_json_audit(const struct bl_audit *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(e->id));
	json_object_set_new(o, "at", bl_json_time(e->at));
	json_object_set_new(o, "actor", text(e->actor));
	json_object_set_new(o, "action", text(e->action));
	json_object_set_new(o, "target", text(e->target));
	json_object_set_new(o, "detail", text(e->detail));
	json_object_set_new(o, "ip", text(e->ip));
	return o;
}

static int add_slug(void *arg, const struct bl_list *l)
{
	json_array_append_new(arg, json_string(l->slug));
	return 0;
}

json_t *bl_json_feed_stored(struct bl_store *s, const struct bl_feed *f)
{
	json_t *lists = json_array();
	if (s->ops->feed_lists(s, f->id, add_slug, lists)) {
		json_decref(lists);
		return NULL;
	}
	return bl_json_feed(f, lists);
}
