/*
 * Unit tests for digest periods (src/send/digest.c) with an injected
 * clock: daily and weekly boundaries in UTC, Europe/Paris and
 * America/New_York across both DST changes of 2026 (a 23-hour and a
 * 25-hour day), a digest_time inside the skipped hour and inside the
 * repeated hour, a run exactly at the boundary and a second before it,
 * the period after several days of downtime, `--now` periods, a year of
 * boundaries (strictly increasing, every gap 24 h but two), and the
 * config keys digest_time, digest_weekday and timezone. The time zone is
 * switched between cases with bl_timezone_set (one thread).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "send/digest.h"
#include "util/time.h"

static int64_t T(const char *s)
{
	int64_t t = 0;
	if (bl_time_parse(s, &t))
		fail_msg("bad time in the test table: %s", s);
	return t;
}

static const char *fmt(int64_t t, char buf[BL_TIME_STRMAX])
{
	return bl_time_format(t, buf);
}

static void set_zone(const char *tz)
{
	if (bl_timezone_set(tz))
		fail_msg("time zone %s is not installed (tzdata)", tz);
}

/* minute of day from "HH:MM" */
static int hm(const char *s)
{
	int h = 0, m = 0;
	sscanf(s, "%d:%d", &h, &m);
	return h * 60 + m;
}

static void test_boundaries(void **state)
{
	(void)state;
	static const struct {
		const char *tz, *time;
		int weekly, weekday; /* weekday 0 monday .. 6 sunday */
		const char *now, *want, *want_prev;
		const char *what;
	} cases[] = {
	    {"UTC", "08:00", 0, 0, "2026-11-29T19:44:03Z", "2026-11-29T08:00:00Z",
	     "2026-11-28T08:00:00Z", "UTC daily"},
	    {"UTC", "08:00", 0, 0, "2026-11-29T08:00:00Z", "2026-11-29T08:00:00Z",
	     "2026-11-28T08:00:00Z", "UTC daily, exactly at the boundary"},
	    {"UTC", "08:00", 0, 0, "2026-11-29T07:59:59Z", "2026-11-28T08:00:00Z",
	     "2026-11-27T08:00:00Z", "UTC daily, a second before"},
	    {"UTC", "00:00", 0, 0, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z",
	     "2025-12-31T00:00:00Z", "UTC midnight, new year"},
	    {"UTC", "08:00", 1, 0, "2026-11-29T19:44:03Z", "2026-11-23T08:00:00Z",
	     "2026-11-16T08:00:00Z", "UTC weekly monday, on a sunday"},
	    {"UTC", "08:00", 1, 0, "2026-11-30T08:00:00Z", "2026-11-30T08:00:00Z",
	     "2026-11-23T08:00:00Z", "UTC weekly monday, exactly at the boundary"},
	    {"UTC", "08:00", 1, 0, "2026-11-30T07:59:59Z", "2026-11-23T08:00:00Z",
	     "2026-11-16T08:00:00Z", "UTC weekly monday, a second before"},
	    {"UTC", "23:59", 1, 6, "2026-11-29T23:59:00Z", "2026-11-29T23:59:00Z",
	     "2026-11-22T23:59:00Z", "UTC weekly sunday 23:59"},
	    /* Europe/Paris: 29 March 2026 02:00 CET -> 03:00 CEST (a 23-hour day),
	     * 25 October 2026 03:00 CEST -> 02:00 CET (a 25-hour day). */
	    {"Europe/Paris", "08:00", 0, 0, "2026-03-29T12:00:00Z", "2026-03-29T06:00:00Z",
	     "2026-03-28T07:00:00Z", "Paris, the 23-hour day"},
	    {"Europe/Paris", "08:00", 0, 0, "2026-03-29T05:59:59Z", "2026-03-28T07:00:00Z",
	     "2026-03-27T07:00:00Z", "Paris, a second before the first CEST boundary"},
	    {"Europe/Paris", "08:00", 0, 0, "2026-10-25T12:00:00Z", "2026-10-25T07:00:00Z",
	     "2026-10-24T06:00:00Z", "Paris, the 25-hour day"},
	    {"Europe/Paris", "02:30", 0, 0, "2026-03-29T12:00:00Z", "2026-03-29T01:30:00Z",
	     "2026-03-28T01:30:00Z", "Paris, 02:30 does not exist on 29 March: 03:30 CEST"},
	    {"Europe/Paris", "02:30", 0, 0, "2026-03-30T12:00:00Z", "2026-03-30T00:30:00Z",
	     "2026-03-29T01:30:00Z", "Paris, the day after the skipped 02:30"},
	    {"Europe/Paris", "02:30", 0, 0, "2026-10-25T12:00:00Z", "2026-10-25T00:30:00Z",
	     "2026-10-24T00:30:00Z", "Paris, 02:30 happens twice on 25 October: the first"},
	    {"Europe/Paris", "08:00", 1, 6, "2026-03-29T10:00:00Z", "2026-03-29T06:00:00Z",
	     "2026-03-22T07:00:00Z", "Paris weekly sunday, a 167-hour week"},
	    {"Europe/Paris", "08:00", 1, 6, "2026-10-25T10:00:00Z", "2026-10-25T07:00:00Z",
	     "2026-10-18T06:00:00Z", "Paris weekly sunday, a 169-hour week"},
	    /* America/New_York: 8 March 2026 02:00 EST -> 03:00 EDT, 1 November 2026
	     * 02:00 EDT -> 01:00 EST. */
	    {"America/New_York", "08:00", 0, 0, "2026-03-08T18:00:00Z", "2026-03-08T12:00:00Z",
	     "2026-03-07T13:00:00Z", "New York, the 23-hour day"},
	    {"America/New_York", "08:00", 0, 0, "2026-11-01T18:00:00Z", "2026-11-01T13:00:00Z",
	     "2026-10-31T12:00:00Z", "New York, the 25-hour day"},
	    {"America/New_York", "02:30", 0, 0, "2026-03-08T18:00:00Z", "2026-03-08T07:30:00Z",
	     "2026-03-07T07:30:00Z", "New York, 02:30 does not exist on 8 March: 03:30 EDT"},
	    {"America/New_York", "00:00", 0, 0, "2026-11-01T04:30:00Z", "2026-11-01T04:00:00Z",
	     "2026-10-31T04:00:00Z", "New York, local midnight in UTC terms"},
	    {"America/New_York", "08:00", 1, 0, "2026-03-09T12:00:00Z", "2026-03-09T12:00:00Z",
	     "2026-03-02T13:00:00Z", "New York weekly monday across spring"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_zone(cases[i].tz);
		struct bl_digest_opts o = {
		    .minute = hm(cases[i].time), .weekday = cases[i].weekday, .site_name = ""};
		enum bl_mode mode = cases[i].weekly ? BL_MODE_WEEKLY : BL_MODE_DAILY;
		int64_t b = bl_digest_boundary(mode, &o, T(cases[i].now));
		int64_t prev = bl_digest_boundary_before(mode, &o, b);
		char g1[BL_TIME_STRMAX], g2[BL_TIME_STRMAX];
		if (b != T(cases[i].want) || prev != T(cases[i].want_prev))
			fail_msg("%s (%s %s, now %s): got boundary %s, previous %s; want %s, %s",
			         cases[i].what, cases[i].tz, cases[i].time, cases[i].now,
			         fmt(b, g1), fmt(prev, g2), cases[i].want, cases[i].want_prev);
	}
}

static void test_due(void **state)
{
	(void)state;
	static const struct {
		const char *tz;
		int weekly, force;
		const char *now, *last_end; /* last_end NULL: no digest yet */
		int want_due;
		const char *want_start, *want_end;
		const char *what;
	} cases[] = {
	    {"UTC", 0, 0, "2026-11-29T19:44:03Z", NULL, 1, "2026-11-28T08:00:00Z",
	     "2026-11-29T08:00:00Z", "first digest: the last full period"},
	    {"UTC", 0, 0, "2026-11-29T19:44:03Z", "2026-11-29T08:00:00Z", 0, NULL, NULL,
	     "made already"},
	    {"UTC", 0, 0, "2026-11-29T08:00:00Z", "2026-11-28T08:00:00Z", 1, "2026-11-28T08:00:00Z",
	     "2026-11-29T08:00:00Z", "a run exactly at the boundary"},
	    {"UTC", 0, 0, "2026-11-29T07:59:59Z", "2026-11-28T08:00:00Z", 0, NULL, NULL,
	     "a run a second before the boundary"},
	    {"UTC", 0, 0, "2026-11-29T19:44:03Z", "2026-11-25T08:00:00Z", 1, "2026-11-25T08:00:00Z",
	     "2026-11-29T08:00:00Z", "after four days down: one digest gathers them"},
	    {"UTC", 1, 0, "2026-11-29T19:44:03Z", "2026-11-02T08:00:00Z", 1, "2026-11-02T08:00:00Z",
	     "2026-11-23T08:00:00Z", "weekly after three weeks down"},
	    {"UTC", 0, 1, "2026-11-29T19:44:03Z", "2026-11-29T08:00:00Z", 1, "2026-11-29T08:00:00Z",
	     "2026-11-29T19:44:03Z", "--now after a boundary digest"},
	    {"UTC", 0, 1, "2026-11-29T19:44:03Z", "2026-11-29T19:44:03Z", 0, NULL, NULL,
	     "--now twice in one second"},
	    {"UTC", 0, 0, "2026-11-30T09:00:00Z", "2026-11-29T19:44:03Z", 1, "2026-11-29T19:44:03Z",
	     "2026-11-30T08:00:00Z", "the boundary after a --now digest: contiguous"},
	    {"Europe/Paris", 0, 0, "2026-03-30T12:00:00Z", "2026-03-27T07:00:00Z", 1,
	     "2026-03-27T07:00:00Z", "2026-03-30T06:00:00Z", "Paris, down across spring"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_zone(cases[i].tz);
		struct bl_digest_opts o = {.minute = 8 * 60, .weekday = 0, .site_name = ""};
		int64_t start = -1, end = -1;
		int due = bl_digest_due(
		    cases[i].weekly ? BL_MODE_WEEKLY : BL_MODE_DAILY, &o, T(cases[i].now),
		    cases[i].last_end ? T(cases[i].last_end) : 0, cases[i].force, &start, &end);
		char g1[BL_TIME_STRMAX], g2[BL_TIME_STRMAX];
		if (due != cases[i].want_due)
			fail_msg("%s: got due %d, want %d", cases[i].what, due, cases[i].want_due);
		if (due && (start != T(cases[i].want_start) || end != T(cases[i].want_end)))
			fail_msg("%s: got [%s, %s), want [%s, %s)", cases[i].what, fmt(start, g1),
			         fmt(end, g2), cases[i].want_start, cases[i].want_end);
	}
}

/* A year of daily boundaries: increasing, and every gap 24 h except one of 23 and one of 25
 * in a zone with DST (none in UTC). */
static void test_year(void **state)
{
	(void)state;
	static const struct {
		const char *tz, *time;
		int short_days, long_days;
	} cases[] = {
	    {"UTC", "08:00", 0, 0},
	    {"Europe/Paris", "08:00", 1, 1},
	    {"Europe/Paris", "02:30", 1, 1},
	    {"America/New_York", "01:30", 1, 1},
	    {"Australia/Sydney", "08:00", 1, 1},
	    {"Asia/Kolkata", "08:00", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_zone(cases[i].tz);
		struct bl_digest_opts o = {.minute = hm(cases[i].time), .site_name = ""};
		int64_t b = bl_digest_boundary(BL_MODE_DAILY, &o, T("2026-01-01T12:00:00Z"));
		int n23 = 0, n25 = 0, other = 0;
		for (int day = 0; day < 365; day++) {
			/* the next boundary: the latest one at or before a time a day and
			 * a half later, walked back until it follows b */
			int64_t next = bl_digest_boundary(BL_MODE_DAILY, &o, b + 36 * 3600);
			if (bl_digest_boundary_before(BL_MODE_DAILY, &o, next) != b)
				fail_msg("%s %s day %d: the boundary before %lld is not %lld",
				         cases[i].tz, cases[i].time, day, (long long)next,
				         (long long)b);
			int64_t gap = next - b;
			if (gap == 23 * 3600)
				n23++;
			else if (gap == 25 * 3600)
				n25++;
			else if (gap != 24 * 3600)
				other++;
			b = next;
		}
		if (n23 != cases[i].short_days || n25 != cases[i].long_days || other)
			fail_msg(
			    "%s %s: got %d days of 23 h, %d of 25 h, %d others; want %d, %d, 0",
			    cases[i].tz, cases[i].time, n23, n25, other, cases[i].short_days,
			    cases[i].long_days);
	}
}

static void test_config(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value;
		int ok;
		long long minutes; /* digest_time */
	} cases[] = {
	    {"digest_time", "08:00", 1, 480},
	    {"digest_time", "00:00", 1, 0},
	    {"digest_time", "23:59", 1, 1439},
	    {"digest_time", "24:00", 0, 0},
	    {"digest_time", "8:00", 0, 0},
	    {"digest_time", "08:60", 0, 0},
	    {"digest_time", "08:00x", 0, 0},
	    {"digest_time", "-1:00", 0, 0},
	    {"digest_time", "", 0, 0},
	    {"digest_weekday", "sunday", 1, 0},
	    {"digest_weekday", "Sunday", 0, 0},
	    {"digest_weekday", "someday", 0, 0},
	    {"timezone", "UTC", 1, 0},
	    {"timezone", "Europe/Paris", 1, 0},
	    {"timezone", "America/New_York", 1, 0},
	    {"timezone", "Mars/Olympus", 0, 0},
	    {"timezone", "../../etc/passwd", 0, 0},
	    {"timezone", "/etc/localtime", 0, 0},
	    {"timezone", "Europe/../UTC", 0, 0},
	    {"timezone", "", 0, 0},
	    {"timezone", "Europe", 0, 0}, /* a directory, not a zone */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_config *c = bl_config_create();
		struct bl_diag d = {0};
		int rc = bl_config_set(c, cases[i].key, cases[i].value, BL_ORIGIN_FILE, "test", &d);
		if ((rc == 0) != cases[i].ok)
			fail_msg("%s = \"%s\": got %s (%s), want %s", cases[i].key, cases[i].value,
			         rc ? "refused" : "accepted", d.msg,
			         cases[i].ok ? "accepted" : "refused");
		if (rc == 0 && strcmp(cases[i].key, "digest_time") == 0 &&
		    bl_config_int(c, "digest_time") != cases[i].minutes)
			fail_msg("digest_time = \"%s\": got %lld minutes, want %lld",
			         cases[i].value, bl_config_int(c, "digest_time"), cases[i].minutes);
		bl_config_destroy(c);
	}
	struct bl_config *c = bl_config_create();
	struct bl_digest_opts o;
	bl_digest_opts_from_config(c, &o);
	if (o.minute != 480 || o.weekday != 0 || strcmp(bl_config_str(c, "timezone"), "UTC"))
		fail_msg("defaults: got %d minutes, weekday %d, zone %s; want 480, 0 (monday), UTC",
		         o.minute, o.weekday, bl_config_str(c, "timezone"));
	bl_config_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_boundaries),
	    cmocka_unit_test(test_due),
	    cmocka_unit_test(test_year),
	    cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
