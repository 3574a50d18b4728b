/*
 * The scheduler (issue 5): scheduled posts go out at their time. One tick
 * asks the store (schedule_run) to queue every scheduled post that is due;
 * a post whose time passed more than `max_schedule_lateness` ago (bulletin
 * was down) is held instead, for a person to send or schedule again. The
 * delivery engine ticks at start and about once a second, so `bulletin
 * serve` and `bulletin send` both send scheduled posts. Each queued or held
 * post is logged and written to the audit log (actor "scheduler").
 */
#ifndef BL_SEND_SCHEDULER_H
#define BL_SEND_SCHEDULER_H

#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

struct bl_scheduler_stats {
	int64_t queued;     /* posts queued by this tick */
	int64_t held;       /* posts held by this tick (too late) */
	int64_t deliveries; /* delivery rows the queued posts got */
};

/*
 * bl_scheduler_tick - one turn of the scheduler at @now (seconds since the
 * epoch; the caller's clock, so tests inject one). Every post in status
 * scheduled with scheduled_at <= @now that is not held is queued when it is
 * at most @max_lateness seconds late (>= 0), else held (store op
 * schedule_run says how; two schedulers never queue one post twice). Each
 * queued post is logged at info level, each held post as a warning naming
 * the post, its time and how late it is; each gets an audit entry (actor
 * "scheduler", action "post.scheduled_send" or "post.held", target
 * "post:ID", detail compact JSON). @st (may be NULL) gets the counts.
 * Returns 0, or the store's error (-BL_ESTORE, -BL_EBUSY...) with @d saying
 * why; posts queued before the error stay queued. A failed audit write is
 * logged and does not fail the tick (the post is already queued).
 */
int bl_scheduler_tick(struct bl_store *s, int64_t now, int64_t max_lateness,
                      struct bl_scheduler_stats *st, struct bl_diag *d);

#endif
