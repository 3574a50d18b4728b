/*
 * Import jobs (issue 5): a CSV (or bulletin JSON export) uploaded through
 * the API or the admin UI is stored as a job (store op job_create) and run
 * here, in `bulletin serve`'s job runner thread, by the same import as
 * `bulletin import` (import.h), so the same rules hold: an interrupted
 * import run again never duplicates anything, so a job whose runner died
 * simply starts over.
 *
 * A job's params are a JSON object mirroring `bulletin import`'s options:
 *   {"list": SLUG, "confirmed": bool, "source": "FILE NAME",
 *    "delimiter": "," | "tab" | one character, "format": "auto"|"generic"|...,
 *    "dry_run": bool}
 * all optional ("source" names the file in messages and in the consent
 * source "import:FILE"; default "upload.csv"). Its report, when done, holds
 * the import's counts under the names `bulletin import --json` prints:
 *   {"rows","imported","updated","skipped","invalid","duplicate",
 *    "suppressed","format","dry_run","errors":[{"line","message"}...],
 *    "errors_not_shown"}
 * (the first BL_JOB_ERRORS_MAX invalid rows, each with its line; line 0
 * when not about one line).
 */
#ifndef BL_IMPORT_JOB_H
#define BL_IMPORT_JOB_H

#include <signal.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define BL_JOB_ERRORS_MAX 100 /* invalid rows listed in a report */

struct bl_import_job_opts {
	unsigned address_flags;      /* BL_ADDRESS_* (config `smtputf8`) */
	int allow_role;              /* config `import_role_addresses` */
	size_t batch;                /* rows per transaction (config `import_batch`); the
	                                job commits at least every BL_JOB_BATCH_MAX rows */
	int64_t takeover;            /* seconds: a running job whose heartbeat is older is
	                                taken over first (its runner died or hangs);
	                                0 = never (serve: BL_JOB_TAKEOVER) */
	struct bl_store *beat;       /* a second handle on the same database for the
	                                heartbeat (see below); NULL: none */
	double progress_interval;    /* seconds between job_progress writes; 0 = 0.5 */
	volatile sig_atomic_t *stop; /* non-zero: stop the import (see below); may be NULL */
};

/*
 * The lease. job_progress writes the job's done count and its heartbeat;
 * a runner that sees a running job silent for @takeover seconds takes it
 * over. With @beat, a thread writes job_progress through it, committed on
 * its own, every progress_interval while the count moves and at least
 * every BL_JOB_HEARTBEAT seconds while it does not (a long batch, a lock
 * wait), so a live runner's job is never taken. Without @beat, the
 * progress hook writes it in the import's transaction: it shows when a
 * batch commits (jobs commit at least every BL_JOB_BATCH_MAX rows), so a
 * batch slower than @takeover loses the job.
 */
#define BL_JOB_BATCH_MAX 10000
#define BL_JOB_HEARTBEAT 10 /* seconds: the longest silence of a live runner with @beat */
#define BL_JOB_TAKEOVER  60 /* seconds: the silence after which serve takes a job over */

/*
 * bl_import_job_run - claim the oldest queued job (store op job_claim at
 * @now, seconds since the epoch; with @o->takeover a running one silent
 * since before @now - @o->takeover first) and
 * run it: its input through bl_import_file (from a temporary file, so the
 * import sees a regular file: encoding check and format detection as for
 * `bulletin import FILE`) with its params, writing the bytes read so far
 * with job_progress (see the lease above), then
 * job_finish: done with the report (see above), or failed with the
 * import's error (bad params, no such list, not UTF-8, a store error) and
 * the report of what was read until then. Rows committed before a failure
 * stay imported. Finish time: @now plus the seconds the run took.
 * When *@o->stop becomes set, the import stops after its current batch and
 * the job is left running (not finished): a runner takes it over, and
 * starts it over, once its heartbeat is @takeover seconds old. @job_id (may be NULL) gets the job's
 * id, 0 when none. Returns 1 when a job ran (done, failed or stopped: look at the job), 0 when
 * there was none, or a negative store error (-BL_ESTORE, -BL_EBUSY) of the job's own bookkeeping
 * (claim, finish), @d saying why.
 */
int bl_import_job_run(struct bl_store *s, int64_t now, const struct bl_import_job_opts *o,
                      int64_t *job_id, struct bl_diag *d);

#endif
