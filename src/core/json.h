/*
 * The JSON shape of each resource, shared by the command line's --json
 * output and the HTTP API (/api/v1), so that a field has one name
 * everywhere (issue 5: "resource fields use the same names as the command
 * line's --json output"). Times are RFC 3339 UTC strings ("2026-11-29T16:55:32Z"),
 * null when not set. Each function returns a new jansson object the caller
 * owns (json_decref); they never fail (allocation failure aborts).
 */
#ifndef BL_CORE_JSON_H
#define BL_CORE_JSON_H

#include <jansson.h>

#include "core/model.h"

/* bl_json_time - RFC 3339 UTC string, or null for 0. */
json_t *bl_json_time(int64_t t);

/* bl_json_text - borrowed C string @s as a JSON string: NULL reads as "" (the store hands
 * out "" for unset text), and each byte that is not part of well-formed UTF-8 becomes
 * U+FFFD (text from strangers: a bounce's recipient or diagnostic) rather than losing the
 * field, as json_string would. */
json_t *bl_json_text(const char *s);

/* {"slug","name","optin","visibility","description","created_at"}, plus
 * "counts":{"unconfirmed","confirmed","unsubscribed"} when @n is not NULL. */
json_t *bl_json_list(const struct bl_list *l, const struct bl_list_counts *n);

/* {"id","email","display","name","attributes"(object),"status","status_reason",
 *  "created_at","updated_at"}; display is the address with its domain in U-labels. */
json_t *bl_json_subscriber(const struct bl_subscriber *s);

/* {"list","status","mode","created_at","updated_at"} (list: list_slug). */
json_t *bl_json_subscription(const struct bl_subscription *s);

/* {"kind","list"(or null),"at","ip","user_agent","source"} */
json_t *bl_json_consent(const struct bl_consent *c);

/* {"id","kind","format","subject","status","priority","from","lists"(array of slugs, when
 *  @slugs is not NULL),"pause_reason","created_at","scheduled_at","started_at",
 *  "finished_at","total"}; the body is not included (callers add "body"). */
json_t *bl_json_post(const struct bl_post *p, const char *const *slugs, size_t n_slugs);

/* {"pending","claimed","accepted","deferred","failed","suppressed","in_doubt"} */
json_t *bl_json_delivery_counts(const struct bl_delivery_counts *n);

/*
 * bl_json_post_status - post @p's delivery progress, one flat object, as
 * `bulletin post status --json` and GET /api/v1/posts/{id}/status print it:
 * {"id","status","total","pending","claimed","accepted","deferred","failed",
 *  "suppressed","in_doubt","rate","started_at","finished_at","pause_reason","eta"}.
 * @n: the post's delivery counts (in_doubt is taken from @p, which keeps it);
 * @accepted_last_minute: its deliveries accepted in the 60 s before @now
 * (seconds since the epoch). rate: messages accepted per second over that
 * minute, to one decimal; a post that finished in less than a minute, less
 * than a minute ago, gets its own duration (at least 1 s) instead. eta:
 * seconds until the pending, claimed and deferred deliveries are done at
 * that rate; 0 when none is left, null when the rate is 0 (unknown).
 * pause_reason: "" unless paused.
 */
json_t *bl_json_post_status(const struct bl_post *p, const struct bl_delivery_counts *n,
                            int64_t accepted_last_minute, int64_t now);

/* {"id","url","title","lists","mode","every"(seconds),"breaking","backfill",
 *  "last_poll_at","last_ok_at","next_poll_at","failures","last_error","items","posts",
 *  "created_at"}; "lists" is @lists (an array of slugs, consumed; NULL: []).
 *  store/json.h's bl_json_feed_stored reads the lists too. */
json_t *bl_json_feed(const struct bl_feed *f, json_t *lists);

#endif
