/*
 * The scheduler's tick (scheduler.h): the store decides and writes (one
 * transaction per post, safe against a second scheduler); this file tells
 * people what happened, in the log and in the audit log. The posts are
 * collected during the store's walk and looked at after it, so no other
 * store call runs inside the walk.
 */
#include "send/scheduler.h"

#include "util/log.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

struct outcome {
	int64_t post_id, total;
	int held;
};

struct outcomes {
	struct outcome *v;
	size_t n, cap;
};

static int collect(void *arg, int64_t post_id, int held, int64_t total)
{
	struct outcomes *o = arg;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->v = bl_xreallocarray(o->v, o->cap, sizeof(*o->v));
	}
	o->v[o->n++] = (struct outcome){post_id, total, held};
	return 0;
}

/* @secs (>= 0) for people: "45s", "12m 5s", "3h 20m", "2d 4h". */
static const char *human(int64_t secs, char *buf, size_t size)
{
	long long v = (long long)(secs < 0 ? 0 : secs);
	if (v >= 86400)
		snprintf(buf, size, "%lldd %lldh", v / 86400, v % 86400 / 3600);
	else if (v >= 3600)
		snprintf(buf, size, "%lldh %lldm", v / 3600, v % 3600 / 60);
	else if (v >= 60)
		snprintf(buf, size, "%lldm %llds", v / 60, v % 60);
	else
		snprintf(buf, size, "%llds", v);
	return buf;
}

static void audit(struct bl_store *s, int64_t now, const char *action, int64_t post_id,
                  json_t *detail)
{
	char target[32];
	snprintf(target, sizeof(target), "post:%lld", (long long)post_id);
	char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(detail);
	struct bl_audit a = {.at = now,
	                     .actor = "scheduler",
	                     .action = action,
	                     .target = target,
	                     .detail = text ? text : "",
	                     .ip = ""};
	if (s->ops->audit_add(s, &a) < 0)
		bl_warn("post %lld: the audit log entry %s was not written: %s", (long long)post_id,
		        action, bl_store_error(s));
	free(text);
}

static void report(struct bl_store *s, int64_t now, int64_t max_lateness, const struct outcome *x)
{
	struct bl_post p = {0};
	char at[BL_TIME_STRMAX], late[32], max[32];
	int found = s->ops->post_get(s, x->post_id, &p);
	const char *subject = found == 1 ? p.subject : "";
	int64_t scheduled_at = found == 1 ? p.scheduled_at : 0;
	bl_time_format(scheduled_at, at);
	if (x->held) {
		int64_t behind = scheduled_at ? now - scheduled_at : 0;
		bl_warn("post %lld \"%s\" held: it was scheduled for %s and is %s late, more than "
		        "max_schedule_lateness (%s); send it with `bulletin post send %lld` or "
		        "schedule it again",
		        (long long)x->post_id, subject, at, human(behind, late, sizeof(late)),
		        human(max_lateness, max, sizeof(max)), (long long)x->post_id);
		json_t *d = json_object();
		json_object_set_new(d, "scheduled_at",
		                    scheduled_at ? json_string(at) : json_null());
		json_object_set_new(d, "late_seconds", json_integer(behind));
		json_object_set_new(d, "max_schedule_lateness", json_integer(max_lateness));
		audit(s, now, "post.held", x->post_id, d);
	} else {
		bl_info("post %lld \"%s\" scheduled for %s: queued, %lld deliver%s",
		        (long long)x->post_id, subject, at, (long long)x->total,
		        x->total == 1 ? "y" : "ies");
		json_t *d = json_object();
		json_object_set_new(d, "scheduled_at",
		                    scheduled_at ? json_string(at) : json_null());
		json_object_set_new(d, "total", json_integer(x->total));
		audit(s, now, "post.scheduled_send", x->post_id, d);
	}
	bl_post_clear(&p);
}

int bl_scheduler_tick(struct bl_store *s, int64_t now, int64_t max_lateness,
                      struct bl_scheduler_stats *st, struct bl_diag *d)
{
	struct outcomes o = {0};
	struct bl_scheduler_stats got = {0};
	if (max_lateness < 0)
		max_lateness = 0;
	int rc = s->ops->schedule_run(s, now, max_lateness, collect, &o);
	/* Whatever was queued before an error is queued: say so either way. */
	for (size_t i = 0; i < o.n; i++) {
		report(s, now, max_lateness, &o.v[i]);
		if (o.v[i].held) {
			got.held++;
		} else {
			got.queued++;
			got.deliveries += o.v[i].total;
		}
	}
	free(o.v);
	if (st)
		*st = got;
	if (rc < 0)
		return bl_diag_set(d, -rc, "scheduler: %s", bl_store_error(s));
	return 0;
}
