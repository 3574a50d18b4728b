/*
 * Digests (issue 6): daily and weekly subscribers get one message per
 * period gathering the posts of their lists. This module decides the
 * periods and asks the store to make each digest (digest_create: a post of
 * kind digest with one delivery row per subscriber who has something in
 * it, in one transaction, at most once per (mode, period end)); the
 * delivery engine then sends it like any post and the composer renders it
 * per subscriber (compose.h).
 *
 * Periods are contiguous per mode. Boundaries fall at config digest_time
 * ("HH:MM") in the local time of config timezone, every day (daily) or on
 * digest_weekday (weekly). They are computed in local calendar terms: the
 * date is moved by whole days, then mktime(3) finds the instant of
 * digest_time on that date, so a day is 23 or 25 hours long across a DST
 * change. A digest_time that does not exist on a date (inside the hour
 * skipped in spring) is read with the offset in force before the change
 * (02:30 becomes 03:30 after a 02:00->03:00 jump); one that happens twice
 * (autumn) is the first of the two. Local time is the process's zone, set once at start
 * from config timezone (bl_timezone_set, util/time.h).
 */
#ifndef BL_SEND_DIGEST_H
#define BL_SEND_DIGEST_H

#include <stdint.h>

#include "config/config.h"
#include "core/model.h"
#include "store/store.h"
#include "util/err.h"

struct bl_digest_opts {
	int minute;            /* digest_time: minutes after local midnight, 0..1439 */
	int weekday;           /* digest_weekday: 0 monday .. 6 sunday */
	const char *site_name; /* starts each digest's subject when not "" (borrowed) */
};

/* bl_digest_opts_from_config - @out from config digest_time, digest_weekday and site_name
 * (strings borrowed from @c). */
void bl_digest_opts_from_config(const struct bl_config *c, struct bl_digest_opts *out);

/*
 * bl_digest_boundary - the latest period boundary of @mode (BL_MODE_DAILY or
 * BL_MODE_WEEKLY) at or before @now (seconds since the epoch), in the
 * process's local time zone. A boundary equal to @now counts.
 */
int64_t bl_digest_boundary(enum bl_mode mode, const struct bl_digest_opts *o, int64_t now);

/* bl_digest_boundary_before - the boundary one period (a local day, or week) before
 * boundary @b. */
int64_t bl_digest_boundary_before(enum bl_mode mode, const struct bl_digest_opts *o, int64_t b);

/*
 * bl_digest_due - the period of @mode a run at @now must make, given the
 * end of the last digest of the mode @last_end (0: none yet). With
 * @force_now (`digest run --now`) the period ends at @now itself. The
 * period starts at @last_end, or without one a period before the
 * boundary at or before @now. Returns 1 with *@start and *@end set when a
 * digest is due; 0 when the last one already reaches the boundary (or
 * @now, forced).
 */
int bl_digest_due(enum bl_mode mode, const struct bl_digest_opts *o, int64_t now, int64_t last_end,
                  int force_now, int64_t *start, int64_t *end);

/* What one tick made: a digest post and its recipients. */
struct bl_digest_made {
	int64_t post_id;
	enum bl_mode mode;
	int64_t period_start, period_end; /* seconds since the epoch */
	int64_t total;                    /* delivery rows: subscribers with something in it */
};

typedef void (*bl_digest_made_fn)(void *arg, const struct bl_digest_made *m);

/*
 * bl_digest_tick - make the digests due at @now (the caller's clock, so
 * tests inject one): for each mode (only @mode when it is daily or
 * weekly; BL_MODE_INSTANT: both), bl_digest_due against the store's
 * digest_last, then digest_create with a subject naming the mode and the
 * local date of the period's end. A digest another process made first is
 * not made again (the store's UNIQUE key). Each digest made is logged, put
 * in the audit log (actor "scheduler", action "digest.create", target
 * "post:ID") and handed to @fn (may be NULL). Returns 0, or the store's
 * error with @d saying why (digests made before it stay made).
 */
int bl_digest_tick(struct bl_store *s, int64_t now, const struct bl_digest_opts *o,
                   enum bl_mode mode, int force_now, bl_digest_made_fn fn, void *arg,
                   struct bl_diag *d);

#endif
