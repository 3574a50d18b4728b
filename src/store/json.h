/*
 * The JSON shape of the publisher tools' records (users, API tokens, audit
 * entries), shared by the command line's --json output and the HTTP API so
 * a field has one name everywhere, as src/core/json.h does for the domain
 * records. Each function returns a new jansson object the caller owns
 * (json_decref); allocation failure aborts.
 */
#ifndef BL_STORE_JSON_H
#define BL_STORE_JSON_H

#include <jansson.h>

#include "store/store.h"

/* {"name","role","created_at","password_changed_at","last_login_at"} (never the hash) */
json_t *bl_json_user(const struct bl_user *u);

/* {"name","role","created_at","last_used_at"} (never the secret) */
json_t *bl_json_api_token(const struct bl_api_token *t);

/* {"id","at","actor","action","target","detail","ip"} */
json_t *bl_json_audit(const struct bl_audit *e);

/* bl_json_feed_stored - feed @f as bl_json_feed shapes it, with the slugs of its
 * lists read from @s (store op feed_lists). NULL on a store error (bl_store_error
 * says which). */
json_t *bl_json_feed_stored(struct bl_store *s, const struct bl_feed *f);

#endif
