/*
 * The scheduler (src/send/scheduler.h) and import jobs (src/import/job.h)
 * over a real store, compiled once per backend with -DBL_TEST_BACKEND
 * ("sqlite": a fresh file per test; "postgres": a fresh schema per test in
 * the database of BL_TEST_PG, skipped when unset). The scheduler's clock is
 * injected: each tick gets its own `now`, so "bulletin was down for two
 * hours" is a tick two hours after the post's time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "import/job.h"
#include "send/scheduler.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xalloc.h"

#ifndef BL_TEST_BACKEND
#error "compile with -DBL_TEST_BACKEND=\"sqlite\" or \"postgres\""
#endif

#define T0 INT64_C(1800000000) /* the scheduled time of the posts below */

static int is_pg;
static const char *pg_base;
static PGconn *pg_admin;
static char tmpdir[64];
static unsigned counter;

struct fixture {
	char uri[2048], schema[64], path[128];
	struct bl_store *s;
	int64_t list_id;
};

#define CHECK_INT(what, got, want)                                                                 \
	do {                                                                                       \
		long long got_ = (long long)(got), want_ = (long long)(want);                      \
		if (got_ != want_)                                                                 \
			fail_msg("%s: got %lld, want %lld", what, got_, want_);                    \
	} while (0)

#define CHECK_STR(what, got, want)                                                                 \
	do {                                                                                       \
		const char *got_ = (got), *want_ = (want);                                         \
		if (!got_ || strcmp(got_, want_) != 0)                                             \
			fail_msg("%s: got \"%s\", want \"%s\"", what, got_ ? got_ : "(null)",      \
			         want_);                                                           \
	} while (0)

#define OK(fx, call)                                                                               \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ != 0)                                                                      \
			fail_msg("%s: got %d (%s), want 0", #call, rc_, bl_store_error((fx)->s));  \
	} while (0)

#define OPS(fx) ((fx)->s->ops)

/* Two confirmed instant subscribers on list "news" (single opt-in signups). */
static void add_readers(struct fixture *fx)
{
	struct bl_list l = {.slug = "news",
	                    .name = "News",
	                    .description = "",
	                    .optin = BL_OPTIN_SINGLE,
	                    .visibility = BL_VISIBILITY_PUBLIC};
	OK(fx, OPS(fx)->list_create(fx->s, &l));
	fx->list_id = l.id;
	static const char *const who[] = {"ann@example.org", "ben@example.org"};
	for (size_t i = 0; i < 2; i++) {
		struct bl_signup in = {.email = who[i],
		                       .email_key = who[i],
		                       .list_ids = &fx->list_id,
		                       .n_lists = 1,
		                       .ctx = {.now = T0 - 86400, .source = "test"},
		                       .confirm_subject = "Confirm"};
		struct bl_signup_result r;
		OK(fx, OPS(fx)->web_signup(fx->s, &in, &r));
		CHECK_INT("signup subscribed", r.n_subscribed, 1);
	}
}

static int setup(void **state)
{
	struct fixture *fx = bl_xcalloc(1, sizeof(*fx));
	unsigned n = ++counter;
	if (is_pg) {
		snprintf(fx->schema, sizeof(fx->schema), "bl_sched_%ld_%u", (long)getpid(), n);
		char sql[128];
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", fx->schema);
		PQclear(PQexec(pg_admin, sql));
		snprintf(fx->uri, sizeof(fx->uri), "%s%soptions=-csearch_path%%3D%s", pg_base,
		         strchr(pg_base, '?') ? "&" : "?", fx->schema);
	} else {
		snprintf(fx->path, sizeof(fx->path), "%s/db-%u.sqlite", tmpdir, n);
		snprintf(fx->uri, sizeof(fx->uri), "sqlite:%s", fx->path);
	}
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	if (bl_store_open(fx->uri, &opts, &fx->s, &d))
		fail_msg("bl_store_open(%s): %s", fx->uri, d.msg);
	int from, to;
	OK(fx, OPS(fx)->migrate(fx->s, &from, &to));
	add_readers(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	bl_store_close(fx->s);
	if (is_pg) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", fx->schema);
		PQclear(PQexec(pg_admin, sql));
	} else {
		const char *suffix[] = {"", "-wal", "-shm", "-journal"};
		for (size_t i = 0; i < 4; i++) {
			char p[sizeof(fx->path) + 16];
			snprintf(p, sizeof(p), "%s%s", fx->path, suffix[i]);
			unlink(p);
		}
	}
	free(fx);
	return 0;
}

/* A post of kind post on "news", scheduled at @at (0: a draft). */
static int64_t make_post(struct fixture *fx, const char *subject, int64_t at)
{
	struct bl_post p = {.subject = (char *)subject,
	                    .body = "Hello",
	                    .from_header = "",
	                    .pause_reason = "",
	                    .status = at ? BL_POST_SCHEDULED : BL_POST_DRAFT,
	                    .scheduled_at = at,
	                    .created_at = T0 - 3600};
	OK(fx, OPS(fx)->post_create(fx->s, &p, &fx->list_id, 1));
	return p.id;
}

static void get_post(struct fixture *fx, int64_t id, struct bl_post *p)
{
	memset(p, 0, sizeof(*p));
	if (OPS(fx)->post_get(fx->s, id, p) != 1)
		fail_msg("post %lld: not found (%s)", (long long)id, bl_store_error(fx->s));
}

static void tick(struct fixture *fx, int64_t now, int64_t max, struct bl_scheduler_stats *st)
{
	struct bl_diag d = {{0}};
	int rc = bl_scheduler_tick(fx->s, now, max, st, &d);
	if (rc)
		fail_msg("bl_scheduler_tick(now %lld): got %d (%s), want 0", (long long)now, rc,
		         d.msg);
}

/* The audit log's actions by the scheduler on @target, newest first, joined by ','. */
struct audit_acc {
	const char *target;
	char text[512];
};

static int on_audit(void *arg, const struct bl_audit *a)
{
	struct audit_acc *acc = arg;
	if (strcmp(a->actor, "scheduler") != 0 || strcmp(a->target, acc->target) != 0)
		return 0;
	size_t n = strlen(acc->text);
	snprintf(acc->text + n, sizeof(acc->text) - n, "%s%s", n ? "," : "", a->action);
	return 0;
}

static const char *audit_of(struct fixture *fx, int64_t post_id, struct audit_acc *acc)
{
	char target[32];
	snprintf(target, sizeof(target), "post:%lld", (long long)post_id);
	memset(acc, 0, sizeof(*acc));
	acc->target = target;
	OK(fx, OPS(fx)->audit_each(fx->s, 0, 0, on_audit, acc));
	acc->target = NULL;
	return acc->text;
}

/* Due posts are queued once; late ones (past max_lateness) held; early ones wait. */
static void test_scheduler_cases(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *name;
		int64_t now_offset; /* tick at T0 + this */
		int64_t max;        /* max_schedule_lateness, seconds */
		int queued, held;
		enum bl_post_status after;
		const char *audit;
	} cases[] = {
	    {"not due yet", -1, 3600, 0, 0, BL_POST_SCHEDULED, ""},
	    {"due this second", 0, 3600, 1, 0, BL_POST_SENDING, "post.scheduled_send"},
	    {"down 59 minutes, max 1h", 3540, 3600, 1, 0, BL_POST_SENDING, "post.scheduled_send"},
	    {"exactly max late", 3600, 3600, 1, 0, BL_POST_SENDING, "post.scheduled_send"},
	    {"down 2 hours, max 1h: held", 7200, 3600, 0, 1, BL_POST_SCHEDULED, "post.held"},
	    {"max 0, one second late: held", 1, 0, 0, 1, BL_POST_SCHEDULED, "post.held"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t id = make_post(fx, cases[i].name, T0);
		struct bl_scheduler_stats st;
		tick(fx, T0 + cases[i].now_offset, cases[i].max, &st);
		print_message("# %s: queued %lld (want %d), held %lld (want %d)\n", cases[i].name,
		              (long long)st.queued, cases[i].queued, (long long)st.held,
		              cases[i].held);
		CHECK_INT(cases[i].name, st.queued, cases[i].queued);
		CHECK_INT(cases[i].name, st.held, cases[i].held);
		CHECK_INT(cases[i].name, st.deliveries, cases[i].queued ? 2 : 0);
		struct bl_post p;
		get_post(fx, id, &p);
		if (p.status != cases[i].after)
			fail_msg("%s: status got %s, want %s", cases[i].name,
			         bl_post_status_name(p.status),
			         bl_post_status_name(cases[i].after));
		CHECK_INT(cases[i].name, p.total, cases[i].queued ? 2 : 0);
		if (cases[i].held && strncmp(p.pause_reason, "held:", 5) != 0)
			fail_msg("%s: pause_reason got \"%s\", want \"held: ...\"", cases[i].name,
			         p.pause_reason);
		bl_post_clear(&p);
		struct audit_acc acc;
		CHECK_STR(cases[i].name, audit_of(fx, id, &acc), cases[i].audit);

		/* A second tick changes nothing: queued once, held once. */
		tick(fx, T0 + cases[i].now_offset, cases[i].max, &st);
		CHECK_INT("second tick queued", st.queued, 0);
		CHECK_INT("second tick held", st.held, 0);
		get_post(fx, id, &p);
		CHECK_INT("second tick total", p.total, cases[i].queued ? 2 : 0);
		bl_post_clear(&p);
		CHECK_STR("second tick audit", audit_of(fx, id, &acc), cases[i].audit);

		/* Out of the way of the next case. */
		OPS(fx)->post_set_status(fx->s, id, ~0u, BL_POST_CANCELLED, "", 0, T0);
	}
}

/* A held post waits for a person: later ticks leave it; `post send` (post_queue)
 * sends it; scheduling it again makes the scheduler send it at the new time. */
static void test_held_then_sent(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_post(fx, "held, then sent by hand", T0);
	int64_t b = make_post(fx, "held, then scheduled again", T0);
	struct bl_scheduler_stats st;
	tick(fx, T0 + 7200, 3600, &st);
	CHECK_INT("held", st.held, 2);
	tick(fx, T0 + 7201, 3600, &st);
	CHECK_INT("held posts stay held, not queued", st.queued + st.held, 0);

	int64_t total = 0;
	CHECK_INT("post_queue of a held post", OPS(fx)->post_queue(fx->s, a, T0 + 7300, &total), 1);
	CHECK_INT("its deliveries", total, 2);
	struct bl_post p;
	get_post(fx, a, &p);
	CHECK_STR("sent by hand: status", bl_post_status_name(p.status), "sending");
	CHECK_STR("sent by hand: the hold is gone", p.pause_reason, "");
	bl_post_clear(&p);

	CHECK_INT("schedule again", OPS(fx)->post_schedule(fx->s, b, T0 + 9000), 1);
	get_post(fx, b, &p);
	CHECK_STR("rescheduled: hold cleared", p.pause_reason, "");
	bl_post_clear(&p);
	tick(fx, T0 + 8999, 3600, &st);
	CHECK_INT("rescheduled: not before its new time", st.queued, 0);
	tick(fx, T0 + 9001, 3600, &st);
	CHECK_INT("rescheduled: queued at its new time", st.queued, 1);
	get_post(fx, b, &p);
	CHECK_STR("rescheduled: status", bl_post_status_name(p.status), "sending");
	bl_post_clear(&p);
	CHECK_INT("unschedule a sending post refused", OPS(fx)->post_schedule(fx->s, b, 0), 0);
}

/* ---- import jobs ---- */

static int64_t make_job(struct fixture *fx, const char *params, const char *csv)
{
	struct bl_job j = {.kind = "import",
	                   .params = (char *)params,
	                   .actor = "user:test",
	                   .size = (int64_t)strlen(csv)};
	OK(fx, OPS(fx)->job_create(fx->s, &j, csv, strlen(csv)));
	return j.id;
}

/* bl_import_job_run at @now, taking over jobs silent for @takeover seconds
 * (0: never), with @beat as its heartbeat handle (may be NULL). */
static int run_job_at(struct fixture *fx, int64_t now, int64_t takeover, struct bl_store *beat,
                      int64_t *id)
{
	struct bl_import_job_opts o = {
	    .batch = 2, .takeover = takeover, .beat = beat, .progress_interval = 0.01};
	struct bl_diag d = {{0}};
	int rc = bl_import_job_run(fx->s, now, &o, id, &d);
	if (rc < 0)
		fail_msg("bl_import_job_run: got %d (%s)", rc, d.msg);
	return rc;
}

static int run_job(struct fixture *fx, int64_t *id)
{
	return run_job_at(fx, T0, 0, NULL, id);
}

static long long report_int(const struct bl_job *j, const char *key)
{
	json_error_t err;
	json_t *r = json_loads(j->report, 0, &err);
	if (!r)
		fail_msg("job %lld report is not JSON: \"%s\"", (long long)j->id, j->report);
	json_t *v = json_object_get(r, key);
	long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
	json_decref(r);
	return n;
}

static int64_t count_subscribers(struct fixture *fx)
{
	struct bl_counts n;
	OK(fx, OPS(fx)->counts(fx->s, &n));
	return n.subscribers[0] + n.subscribers[1];
}

static void test_import_jobs(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *name, *params, *csv;
		enum bl_job_state state;
		long long rows, imported, updated, invalid, duplicate;
		const char *error; /* substring of the job's error when failed */
	} cases[] = {
	    {"good CSV", "{\"list\":\"news\",\"confirmed\":true,\"source\":\"good.csv\"}",
	     "email,name\ncat@example.org,Cat\ndan@example.org,Dan\neve@example.org,Eve\n",
	     BL_JOB_DONE, 3, 3, 0, 0, 0, NULL},
	    {"bad rows rejected, counted", "{\"list\":\"news\",\"source\":\"bad.csv\"}",
	     "email,name\nnot-an-address,X\nfay@example.org,Fay\n@nope,Y\nFAY@example.org,Fay\n",
	     BL_JOB_DONE, 4, 1, 0, 2, 1, NULL},
	    {"again: nothing duplicated", "{\"list\":\"news\",\"confirmed\":true}",
	     "email,name\ncat@example.org,Cat\ndan@example.org,Dan\neve@example.org,Eve\n",
	     BL_JOB_DONE, 3, 0, 0, 0, 3, NULL},
	    {"no such list", "{\"list\":\"nope\"}", "email\ngus@example.org\n", BL_JOB_FAILED, 0, 0,
	     0, 0, 0, "nope"},
	    {"bad params", "{\"confirmed\":\"yes\"}", "email\ngus@example.org\n", BL_JOB_FAILED, 0,
	     0, 0, 0, 0, "confirmed"},
	    {"Latin-1 file", "{\"list\":\"news\"}", "email,name\nh\xe9@example.org,Ren\xe9\n",
	     BL_JOB_FAILED, 0, 0, 0, 0, 0, "UTF-8"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t want_id = make_job(fx, cases[i].params, cases[i].csv), id = -1;
		CHECK_INT(cases[i].name, run_job(fx, &id), 1);
		CHECK_INT("the job run", id, want_id);
		struct bl_job j = {0};
		CHECK_INT("job_get", OPS(fx)->job_get(fx->s, id, &j), 1);
		print_message("# %s: state %s, report %s, error \"%s\"\n", cases[i].name,
		              bl_job_state_name(j.state), j.report, j.error);
		if (j.state != cases[i].state)
			fail_msg("%s: state got %s, want %s (error \"%s\")", cases[i].name,
			         bl_job_state_name(j.state), bl_job_state_name(cases[i].state),
			         j.error);
		if (cases[i].error) {
			if (!strstr(j.error, cases[i].error))
				fail_msg("%s: error got \"%s\", want it to name \"%s\"",
				         cases[i].name, j.error, cases[i].error);
		} else {
			CHECK_STR(cases[i].name, j.error, "");
			CHECK_INT("rows", report_int(&j, "rows"), cases[i].rows);
			CHECK_INT("imported", report_int(&j, "imported"), cases[i].imported);
			CHECK_INT("updated", report_int(&j, "updated"), cases[i].updated);
			CHECK_INT("invalid", report_int(&j, "invalid"), cases[i].invalid);
			CHECK_INT("duplicate", report_int(&j, "duplicate"), cases[i].duplicate);
			CHECK_INT("progress: every byte", j.done, (int64_t)strlen(cases[i].csv));
		}
		if (!j.finished_at)
			fail_msg("%s: finished_at not set", cases[i].name);
		bl_job_clear(&j);
	}
	CHECK_INT("subscribers: 2 + cat, dan, eve, fay", count_subscribers(fx), 6);
	int64_t id = -1;
	CHECK_INT("no job left", run_job(fx, &id), 0);
	CHECK_INT("no job: id", id, 0);
}

/* The lease: a job left running is taken over only once its heartbeat is
 * @takeover seconds old (job_progress keeps it fresh), and the rerun, here
 * with a heartbeat thread on its own handle, imports without duplicates. */
static void test_import_job_takeover(void **state)
{
	struct fixture *fx = *state;
	const char *csv = "email,name\nhal@example.org,Hal\nivy@example.org,Ivy\n";
	int64_t want = make_job(fx, "{\"list\":\"news\",\"confirmed\":true}", csv), id = -1;
	/* A runner claims it at T0 (its heartbeat) and goes silent; another job imports hal. */
	struct bl_job j = {0};
	void *input = NULL;
	size_t len = 0;
	CHECK_INT("job_claim", OPS(fx)->job_claim(fx->s, T0, 0, &j, &input, &len), 1);
	free(input);
	bl_job_clear(&j);
	int64_t other = make_job(fx, "{\"list\":\"news\",\"confirmed\":true}",
	                         "email,name\nhal@example.org,Hal\n");
	static const struct {
		const char *name;
		int64_t now, takeover,
		    beat_at; /* beat_at: job_progress first at that time, 0 none */
		int want;
		int want_other; /* 1: the job run is other, 0: want (when want is 1) */
	} steps[] = {
	    {"silent 30 s of 60: the queued job instead", T0 + 30, 60, 0, 1, 1},
	    {"silent 59 s of 60: left", T0 + 59, 60, 0, 0, 0},
	    {"no takeover at all: left", T0 + 1000, 0, 0, 0, 0},
	    {"a heartbeat at +50, now +61: left", T0 + 61, 60, T0 + 50, 0, 0},
	    {"silent 61 s since its heartbeat: taken over", T0 + 111, 60, 0, 1, 0},
	};
	struct bl_store *beat = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts so = {0};
	if (bl_store_open(fx->uri, &so, &beat, &d) != 0)
		fail_msg("heartbeat handle: %s", d.msg);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].beat_at)
			CHECK_INT("job_progress",
			          OPS(fx)->job_progress(fx->s, want, 1, steps[i].beat_at), 0);
		CHECK_INT(steps[i].name, run_job_at(fx, steps[i].now, steps[i].takeover, beat, &id),
		          steps[i].want);
		CHECK_INT(steps[i].name, id,
		          !steps[i].want        ? 0
		          : steps[i].want_other ? other
		                                : want);
	}
	bl_store_close(beat);
	CHECK_INT("job_get", OPS(fx)->job_get(fx->s, want, &j), 1);
	CHECK_STR("taken-over job state", bl_job_state_name(j.state), "done");
	CHECK_INT("taken over: started again", j.started_at, T0 + 111);
	CHECK_INT("taken over: every byte", j.done, (int64_t)strlen(csv));
	CHECK_INT("taken over: hal was there already", report_int(&j, "duplicate"), 1);
	CHECK_INT("taken over: ivy imported", report_int(&j, "imported"), 1);
	bl_job_clear(&j);
	CHECK_INT("subscribers: 2 + hal, ivy", count_subscribers(fx), 4);
}

int main(void)
{
	is_pg = strcmp(BL_TEST_BACKEND, "postgres") == 0;
	bl_log_set_level(BL_LOG_ERROR); /* the scheduler's info and warnings are expected */
	if (is_pg) {
		pg_base = getenv("BL_TEST_PG");
		if (!pg_base || !*pg_base) {
			printf("1..0 # SKIP BL_TEST_PG is not set\n");
			const char *out = getenv("CMOCKA_MESSAGE_OUTPUT");
			return out && strcmp(out, "TAP") == 0 ? 0 : 77;
		}
		pg_admin = PQconnectdb(pg_base);
		if (PQstatus(pg_admin) != CONNECTION_OK) {
			fprintf(stderr, "BL_TEST_PG: %s", PQerrorMessage(pg_admin));
			return 1;
		}
		PQclear(PQexec(pg_admin, "SET client_min_messages = warning"));
	} else {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/bl-sched-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			return 1;
		}
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scheduler_cases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_then_sent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_jobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_job_takeover, setup, teardown),
	};
	int rc = cmocka_run_group_tests_name("sched_jobs/" BL_TEST_BACKEND, tests, NULL, NULL);
	if (is_pg)
		PQfinish(pg_admin);
	else
		rmdir(tmpdir);
	return rc;
}
