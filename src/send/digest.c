/*
 * Digest periods and the digest tick (digest.h). The calendar arithmetic
 * is on day numbers (days since 1970-01-01, proleptic Gregorian), which
 * know nothing of time zones; only the last step, the instant of
 * digest_time on a date, asks mktime(3) in the process's local zone.
 */
#include "send/digest.h"

#include "util/log.h"
#include "util/time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The local day number of instant @t. */
static int64_t local_day(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	return bl_days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday);
}

/* mktime of @day at digest_time with tm_isdst @isdst; *@exact: local time reads it back. */
static int64_t local_instant(const struct bl_digest_opts *o, int64_t day, int isdst, int *exact)
{
	int64_t y;
	int m, d;
	bl_civil_from_days(day, &y, &m, &d);
	struct tm tm = {.tm_year = (int)(y - 1900),
	                .tm_mon = m - 1,
	                .tm_mday = d,
	                .tm_hour = o->minute / 60,
	                .tm_min = o->minute % 60,
	                .tm_isdst = isdst};
	time_t t = mktime(&tm);
	struct tm back;
	localtime_r(&t, &back);
	*exact = t != (time_t)-1 && back.tm_year == (int)(y - 1900) && back.tm_mon == m - 1 &&
	         back.tm_mday == d && back.tm_hour == o->minute / 60 &&
	         back.tm_min == o->minute % 60;
	return (int64_t)t;
}

/*
 * The instant of digest_time on local day @day. mktime(3) with tm_isdst -1
 * is not used alone: glibc resolves a repeated or skipped wall time from a
 * guess it caches between calls, so the same date could give two answers.
 * Both readings (standard and daylight time) are taken instead: when both
 * exist (the repeated hour) the earlier; when one does, that one; when
 * neither does (the skipped hour) the later, which is the wall time read
 * with the offset in force before the change.
 */
static int64_t boundary_on(const struct bl_digest_opts *o, int64_t day)
{
	int e0, e1;
	int64_t t0 = local_instant(o, day, 0, &e0), t1 = local_instant(o, day, 1, &e1);
	if (e0 && e1)
		return t0 < t1 ? t0 : t1;
	if (e0 || e1)
		return e0 ? t0 : t1;
	return t0 > t1 ? t0 : t1;
}

/* Monday-based weekday (0 monday .. 6 sunday) of day number @day (day 0 was a Thursday). */
static int weekday_of(int64_t day)
{
	return (int)(((day + 3) % 7 + 7) % 7);
}

void bl_digest_opts_from_config(const struct bl_config *c, struct bl_digest_opts *out)
{
	static const char *const days[] = {"monday", "tuesday",  "wednesday", "thursday",
	                                   "friday", "saturday", "sunday"};
	const char *wd = bl_config_str(c, "digest_weekday");
	out->minute = (int)bl_config_int(c, "digest_time");
	out->weekday = 0;
	for (int i = 0; i < 7; i++)
		if (strcmp(wd, days[i]) == 0)
			out->weekday = i;
	out->site_name = bl_config_str(c, "site_name");
}

int64_t bl_digest_boundary(enum bl_mode mode, const struct bl_digest_opts *o, int64_t now)
{
	int64_t day = local_day(now);
	if (mode == BL_MODE_WEEKLY) {
		day -= (weekday_of(day) - o->weekday + 7) % 7;
		int64_t b = boundary_on(o, day);
		return b <= now ? b : boundary_on(o, day - 7);
	}
	int64_t b = boundary_on(o, day);
	return b <= now ? b : boundary_on(o, day - 1);
}

int64_t bl_digest_boundary_before(enum bl_mode mode, const struct bl_digest_opts *o, int64_t b)
{
	return boundary_on(o, local_day(b) - (mode == BL_MODE_WEEKLY ? 7 : 1));
}

int bl_digest_due(enum bl_mode mode, const struct bl_digest_opts *o, int64_t now, int64_t last_end,
                  int force_now, int64_t *start, int64_t *end)
{
	int64_t b = force_now ? now : bl_digest_boundary(mode, o, now);
	if (last_end >= b)
		return 0;
	*start = last_end > 0
	             ? last_end
	             : bl_digest_boundary_before(mode, o, bl_digest_boundary(mode, o, now));
	*end = b;
	return *start < *end;
}

static void audit(struct bl_store *s, const struct bl_digest_made *m, int64_t now)
{
	char target[32], a[BL_TIME_STRMAX], b[BL_TIME_STRMAX];
	snprintf(target, sizeof(target), "post:%lld", (long long)m->post_id);
	json_t *detail =
	    json_pack("{s:s, s:s, s:s, s:I}", "mode", bl_mode_name(m->mode), "period_start",
	              bl_time_format(m->period_start, a), "period_end",
	              bl_time_format(m->period_end, b), "deliveries", (json_int_t)m->total);
	char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(detail);
	struct bl_audit e = {.at = now,
	                     .actor = "scheduler",
	                     .action = "digest.create",
	                     .target = target,
	                     .detail = text ? text : "",
	                     .ip = ""};
	if (s->ops->audit_add(s, &e))
		bl_warn("digest %lld: the audit log entry could not be written: %s",
		        (long long)m->post_id, bl_store_error(s));
	free(text);
}

int bl_digest_tick(struct bl_store *s, int64_t now, const struct bl_digest_opts *o,
                   enum bl_mode mode, int force_now, bl_digest_made_fn fn, void *arg,
                   struct bl_diag *d)
{
	static const enum bl_mode modes[] = {BL_MODE_DAILY, BL_MODE_WEEKLY};
	for (size_t i = 0; i < 2; i++) {
		if (mode != BL_MODE_INSTANT && mode != modes[i])
			continue;
		int64_t last = 0, start, end;
		int rc = s->ops->digest_last(s, modes[i], &last);
		if (rc)
			return bl_diag_set(d, -rc, "digests: %s", bl_store_error(s));
		if (!bl_digest_due(modes[i], o, now, last, force_now, &start, &end))
			continue;
		/* The subject names the local date the period ends on. */
		char date[64], subject[300];
		time_t t = (time_t)end;
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%e %B %Y", &tm);
		snprintf(subject, sizeof(subject), "%s%s%s digest, %s",
		         o->site_name ? o->site_name : "",
		         o->site_name && *o->site_name ? ": " : "",
		         modes[i] == BL_MODE_DAILY
		             ? (o->site_name && *o->site_name ? "daily" : "Daily")
		             : (o->site_name && *o->site_name ? "weekly" : "Weekly"),
		         date[0] == ' ' ? date + 1 : date);
		struct bl_digest_spec spec = {.mode = modes[i],
		                              .period_start = start,
		                              .period_end = end,
		                              .subject = subject,
		                              .now = now};
		struct bl_digest_made m = {
		    .mode = modes[i], .period_start = start, .period_end = end};
		rc = s->ops->digest_create(s, &spec, &m.post_id, &m.total);
		if (rc < 0)
			return bl_diag_set(d, -rc, "making the %s digest: %s",
			                   bl_mode_name(modes[i]), bl_store_error(s));
		if (rc == 0)
			continue; /* another process made it first */
		char a[BL_TIME_STRMAX], b[BL_TIME_STRMAX];
		if (m.post_id) {
			bl_info("%s digest %lld made for %s to %s: %lld recipient%s",
			        bl_mode_name(modes[i]), (long long)m.post_id,
			        bl_time_format(start, a), bl_time_format(end, b),
			        (long long)m.total, m.total == 1 ? "" : "s");
			audit(s, &m, now);
		} else {
			bl_debug("%s digest period %s to %s: nobody had anything; no digest",
			         bl_mode_name(modes[i]), bl_time_format(start, a),
			         bl_time_format(end, b));
		}
		if (fn)
			fn(arg, &m);
	}
	return 0;
}
