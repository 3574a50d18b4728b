/*
 * Running an import job (job.h): claim, read the params, spool the input
 * to an unlinked temporary file, run bl_import_file with a progress hook
 * that writes job_progress now and then (or hands the count to the
 * heartbeat thread, which writes it through its own handle), and finish
 * the job with a report.
 */
#include "import/job.h"

#include "core/address.h"
#include "import/import.h"
#include "util/log.h"
#include "util/time.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct run {
	struct bl_store *s;
	int64_t job_id;
	int64_t now0; /* the run's start: @now of bl_import_job_run, at monotonic t0 */
	double t0, interval, last;
	json_t *errors; /* [{"line","message"}], at most BL_JOB_ERRORS_MAX */
	size_t not_shown;
	int progress_failed;
	/* the heartbeat thread (with opts.beat) */
	struct bl_store *beat;
	pthread_t beat_thread;
	pthread_mutex_t mu; /* guards done and stop */
	long long done;
	int stop;
};

/* Seconds since the epoch, from the run's start and the monotonic clock. */
static int64_t run_now(const struct run *r)
{
	return r->now0 + (int64_t)(bl_monotonic() - r->t0);
}

/* The heartbeat: job_progress through its own handle, committed on its own,
 * when the count moved and an interval passed, and every BL_JOB_HEARTBEAT s. */
static void *beat_main(void *arg)
{
	struct run *r = arg;
	double last = bl_monotonic();
	long long written = 0;
	int failed = 0;
	for (;;) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&r->mu);
		long long done = r->done;
		int stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		double t = bl_monotonic();
		if (!(done != written && t - last >= r->interval) && t - last < BL_JOB_HEARTBEAT)
			continue;
		last = t;
		if (r->beat->ops->job_progress(r->beat, r->job_id, done, run_now(r)) < 0) {
			if (!failed)
				bl_warn("import job %lld: heartbeat not recorded: %s",
				        (long long)r->job_id, bl_store_error(r->beat));
			failed = 1;
		} else {
			written = done;
			failed = 0;
		}
	}
	return NULL;
}

static void on_error(void *arg, size_t line, const char *msg)
{
	struct run *r = arg;
	if (json_array_size(r->errors) >= BL_JOB_ERRORS_MAX) {
		r->not_shown++;
		return;
	}
	json_t *e = json_object();
	json_object_set_new(e, "line", json_integer((json_int_t)line));
	json_object_set_new(e, "message", json_string(msg));
	json_array_append_new(r->errors, e);
}

static void on_progress(void *arg, const struct bl_import_stats *st, long long done,
                        long long total)
{
	struct run *r = arg;
	(void)st;
	(void)total;
	if (r->beat) { /* the heartbeat thread writes it */
		pthread_mutex_lock(&r->mu);
		r->done = done;
		pthread_mutex_unlock(&r->mu);
		return;
	}
	double t = bl_monotonic();
	if (t - r->last < r->interval)
		return;
	r->last = t;
	/* In the import's transaction: it shows when the batch commits. A failed
	 * write is not worth stopping the import for; the report comes at the end. */
	if (r->s->ops->job_progress(r->s, r->job_id, done, run_now(r)) < 0 && !r->progress_failed) {
		r->progress_failed = 1;
		bl_warn("import job %lld: progress not recorded: %s", (long long)r->job_id,
		        bl_store_error(r->s));
	}
}

/* As `bulletin import --delimiter`: one character, or "tab", "comma", "semicolon". */
static int parse_delimiter(const char *s, char *out)
{
	if (strcmp(s, "tab") == 0 || strcmp(s, "\\t") == 0 || strcmp(s, "\t") == 0)
		*out = '\t';
	else if (strcmp(s, "comma") == 0)
		*out = ',';
	else if (strcmp(s, "semicolon") == 0)
		*out = ';';
	else if (strlen(s) != 1 || s[0] == '"' || s[0] == '\n' || s[0] == '\r')
		return -BL_EINVAL;
	else
		*out = s[0];
	return 0;
}

/* @params (the job's JSON object) into @io; strings borrowed from @p. 0, or a
 * message in @err and -BL_EINVAL. */
static int read_params(const json_t *p, struct bl_import_opts *io, char *err, size_t size)
{
	const char *key;
	json_t *v;
	if (!json_is_object(p)) {
		snprintf(err, size, "the job's parameters are not a JSON object");
		return -BL_EINVAL;
	}
	json_object_foreach((json_t *)p, key, v)
	{
		if (strcmp(key, "list") == 0) {
			if (json_is_null(v))
				continue;
			if (!json_is_string(v) || !*json_string_value(v))
				goto bad_string;
			io->list_slug = json_string_value(v);
		} else if (strcmp(key, "source") == 0) {
			if (!json_is_string(v) || !*json_string_value(v))
				goto bad_string;
			io->path = json_string_value(v);
		} else if (strcmp(key, "confirmed") == 0 || strcmp(key, "dry_run") == 0) {
			if (!json_is_boolean(v)) {
				snprintf(err, size, "the `%s` parameter must be true or false",
				         key);
				return -BL_EINVAL;
			}
			*(key[0] == 'c' ? &io->confirmed : &io->dry_run) = json_is_true(v);
		} else if (strcmp(key, "delimiter") == 0) {
			if (!json_is_string(v) ||
			    parse_delimiter(json_string_value(v), &io->delimiter)) {
				snprintf(err, size,
				         "the `delimiter` parameter must be one character, "
				         "or tab, comma or semicolon");
				return -BL_EINVAL;
			}
		} else if (strcmp(key, "format") == 0) {
			if (!json_is_string(v) ||
			    bl_format_parse(json_string_value(v), &io->format)) {
				snprintf(err, size, "the `format` parameter must be one of %s",
				         bl_format_names());
				return -BL_EINVAL;
			}
		} else {
			snprintf(err, size, "unknown parameter `%.64s`", key);
			return -BL_EINVAL;
		}
		continue;
	bad_string:
		snprintf(err, size, "the `%s` parameter must be a non-empty string", key);
		return -BL_EINVAL;
	}
	return 0;
}

static json_t *make_report(const struct bl_import_stats *st, int dry_run, struct run *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "rows", json_integer((json_int_t)st->rows));
	json_object_set_new(o, "imported", json_integer((json_int_t)st->imported));
	json_object_set_new(o, "updated", json_integer((json_int_t)st->updated));
	json_object_set_new(o, "skipped", json_integer((json_int_t)st->skipped));
	json_object_set_new(o, "invalid", json_integer((json_int_t)st->invalid));
	json_object_set_new(o, "duplicate", json_integer((json_int_t)st->duplicate));
	json_object_set_new(o, "suppressed", json_integer((json_int_t)st->suppressed));
	json_object_set_new(o, "format", json_string(bl_format_name(st->format)));
	json_object_set_new(o, "dry_run", json_boolean(dry_run));
	json_object_set_new(o, "errors", json_incref(r->errors));
	json_object_set_new(o, "errors_not_shown", json_integer((json_int_t)r->not_shown));
	return o;
}

/* Spool @len bytes of @input into an unlinked temporary file, rewound; NULL on failure. */
static FILE *spool(const void *input, size_t len)
{
	FILE *f = tmpfile();
	if (!f)
		return NULL;
	if ((len && fwrite(input, 1, len, f) != len) || fflush(f) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return NULL;
	}
	return f;
}

int bl_import_job_run(struct bl_store *s, int64_t now, const struct bl_import_job_opts *o,
                      int64_t *job_id, struct bl_diag *d)
{
	struct bl_job j = {0};
	void *input = NULL;
	size_t len = 0;
	double t0 = bl_monotonic();
	if (job_id)
		*job_id = 0;
	int rc =
	    s->ops->job_claim(s, now, o->takeover > 0 ? now - o->takeover : 0, &j, &input, &len);
	if (rc < 0)
		return bl_diag_set(d, -rc, "claiming an import job: %s", bl_store_error(s));
	if (rc == 0)
		return 0;
	if (job_id)
		*job_id = j.id;

	struct run r = {.s = s,
	                .job_id = j.id,
	                .now0 = now,
	                .t0 = t0,
	                .interval = o->progress_interval > 0 ? o->progress_interval : 0.5,
	                .last = t0,
	                .errors = json_array(),
	                .beat = o->beat};
	pthread_mutex_init(&r.mu, NULL);
	if (r.beat && pthread_create(&r.beat_thread, NULL, beat_main, &r) != 0) {
		bl_warn("import job %lld: no heartbeat thread; progress shows per batch",
		        (long long)j.id);
		r.beat = NULL;
	}
	struct bl_import_opts io = {.path = "upload.csv",
	                            .address_flags = o->address_flags,
	                            .allow_role = o->allow_role,
	                            .voice = BL_IMPORT_VOICE_API,
	                            .batch = o->batch,
	                            .on_error = on_error,
	                            .on_progress = on_progress,
	                            .arg = &r,
	                            .stop = o->stop};
	if (!io.batch || io.batch > BL_JOB_BATCH_MAX)
		io.batch = BL_JOB_BATCH_MAX;
	struct bl_import_stats st;
	memset(&st, 0, sizeof(st));
	char err[BL_DIAG_MAX + 128] = "";
	json_error_t jerr;
	json_t *params = json_loads(j.params ? j.params : "{}", 0, &jerr);
	FILE *f = NULL;
	int stopped = 0;

	if (strcmp(j.kind ? j.kind : "", "import") != 0) {
		snprintf(err, sizeof(err), "unknown job kind \"%.64s\"", j.kind ? j.kind : "");
	} else if (!params) {
		snprintf(err, sizeof(err), "the job's parameters are not JSON: %s", jerr.text);
	} else if (read_params(params, &io, err, sizeof(err)) == 0) {
		if (!(f = spool(input, len))) {
			snprintf(err, sizeof(err), "cannot spool the upload to a temporary file");
		} else {
			struct bl_diag id;
			bl_diag_clear(&id);
			int irc = bl_import_file(s, f, &io, &st, &id);
			if (irc == -BL_EBUSY && o->stop && *o->stop) {
				stopped = 1;
			} else if (irc) {
				snprintf(err, sizeof(err), "%s%s", id.msg,
				         st.committed
				             ? " (rows committed before the error stay "
				               "imported; the same import again finishes it)"
				             : "");
			}
		}
	}
	if (r.beat) {
		pthread_mutex_lock(&r.mu);
		r.stop = 1;
		pthread_mutex_unlock(&r.mu);
		pthread_join(r.beat_thread, NULL);
	}
	pthread_mutex_destroy(&r.mu);
	if (f && !*err && !stopped && !io.dry_run)
		s->ops->job_progress(s, j.id, (int64_t)len, run_now(&r));
	if (f)
		fclose(f);
	free(input);

	rc = 1;
	if (stopped) {
		bl_info("import job %lld stopped after %zu rows; a runner starts it over once its "
		        "heartbeat is %lld s old",
		        (long long)j.id, st.rows, (long long)o->takeover);
	} else {
		json_t *report = make_report(&st, io.dry_run, &r);
		char *text = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(report);
		int64_t end = now + (int64_t)(bl_monotonic() - t0 + 0.5);
		if (s->ops->job_finish(s, j.id, text, *err ? err : NULL, end) < 0)
			rc = bl_diag_set(d, BL_ESTORE, "import job %lld: cannot record its end: %s",
			                 (long long)j.id, bl_store_error(s));
		else if (*err)
			bl_warn("import job %lld failed: %s", (long long)j.id, err);
		else
			bl_info("import job %lld done: %zu rows, %zu imported, %zu updated, %zu "
			        "skipped (%zu invalid)",
			        (long long)j.id, st.rows, st.imported, st.updated, st.skipped,
			        st.invalid);
		free(text);
	}
	json_decref(params);
	json_decref(r.errors);
	bl_job_clear(&j);
	return rc;
}
