/*
 * The storage contract: one cmocka suite that every backend of store.h must
 * pass, compiled once per backend with -DBL_TEST_BACKEND="sqlite" or
 * "postgres" (tests/meson.build). SQLite runs on a fresh file per test under
 * a mkdtemp directory; PostgreSQL runs on a fresh schema per test in the
 * database named by BL_TEST_PG (a postgresql:// URI of a database the suite
 * may write to; it only creates and drops schemas named bl_contract_PID_N),
 * and is skipped when BL_TEST_PG is unset. Times are explicit or come from
 * BULLETIN_FAKE_NOW, so runs are deterministic. A few checks need SQL the
 * interface does not offer (the append-only trigger, the detached erase
 * event, a newer schema); they use a raw connection of the backend's own
 * library, the only place outside src/store that includes sqlite3.h and
 * libpq-fe.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "core/crypto.h"
#include "store/store.h"
#include "util/embedded.h"
#include "util/time.h"
#include "util/xalloc.h"

#ifndef BL_TEST_BACKEND
#error "compile with -DBL_TEST_BACKEND=\"sqlite\" or \"postgres\""
#endif

#define NOW     INT64_C(1700000000) /* BULLETIN_FAKE_NOW: what bl_now() says */
#define NOW_STR "1700000000"

static int is_pg;                /* BL_TEST_BACKEND is "postgres" */
static const char *pg_base;      /* BL_TEST_PG */
static PGconn *pg_admin;         /* creates and drops the per-test schemas */
static char tmpdir[64];          /* SQLite: the per-run directory */
static unsigned fixture_counter; /* names each test's database */

/* One test's database, an open store on it, and (on demand) a raw connection. */
struct fixture {
	char uri[2048];
	char schema[64]; /* PostgreSQL */
	char path[128];  /* SQLite */
	struct bl_store *s;
	PGconn *raw_pg;
	sqlite3 *raw_lite;
	char raw_error[512];
};

/* ---- checks that print got/want --------------------------------------------------------- */

#define CHECK_INT(what, got, want)                                                                 \
	do {                                                                                       \
		long long got_ = (long long)(got), want_ = (long long)(want);                      \
		if (got_ != want_)                                                                 \
			fail_msg("%s: got %lld, want %lld", what, got_, want_);                    \
	} while (0)

#define CHECK_STR(what, got, want)                                                                 \
	do {                                                                                       \
		const char *got_ = (got), *want_ = (want);                                         \
		if ((got_ == NULL) != (want_ == NULL) || (got_ && strcmp(got_, want_) != 0))       \
			fail_msg("%s: got \"%s\", want \"%s\"", what, got_ ? got_ : "(null)",      \
			         want_ ? want_ : "(null)");                                        \
	} while (0)

/* A store call that must succeed; prints the code and the store's message otherwise. */
#define OK(fx, call)                                                                               \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ != 0)                                                                      \
			fail_msg("%s: got %d (%s: %s), want 0", #call, rc_, bl_strerror(rc_),      \
			         bl_store_error((fx)->s));                                         \
	} while (0)

/* A store call that must return @want (a code or a lookup's 0/1). */
#define RC(fx, call, want)                                                                         \
	do {                                                                                       \
		int rc_ = (call), want_ = (want);                                                  \
		if (rc_ != want_)                                                                  \
			fail_msg("%s: got %d (%s), want %d (%s)", #call, rc_,                      \
			         rc_ < 0 ? bl_store_error((fx)->s) : "-", want_,                   \
			         want_ < 0 ? bl_strerror(want_) : "-");                            \
	} while (0)

#define OPS(fx) ((fx)->s->ops)

/* JSON text with the whitespace outside strings removed: jsonb prints {"a": 1}, SQLite keeps
 * {"a":1}. */
static char *squash_json(const char *j, char *out, size_t size)
{
	size_t n = 0;
	int in_str = 0;
	for (; *j && n + 1 < size; j++) {
		if (in_str) {
			out[n++] = *j;
			if (*j == '\\' && j[1] && n + 1 < size)
				out[n++] = *++j;
			else if (*j == '"')
				in_str = 0;
		} else if (*j == '"') {
			in_str = 1;
			out[n++] = *j;
		} else if (*j != ' ' && *j != '\n' && *j != '\t') {
			out[n++] = *j;
		}
	}
	out[n] = '\0';
	return out;
}

#define CHECK_JSON(what, got, want)                                                                \
	do {                                                                                       \
		char g_[1024];                                                                     \
		CHECK_STR(what, squash_json(got, g_, sizeof(g_)), want);                           \
	} while (0)

/* ---- raw SQL on the test's database ----------------------------------------------------- */

/* Run @sql on a raw connection: 0, or -1 with fx->raw_error set. */
static int raw_try(struct fixture *fx, const char *sql)
{
	fx->raw_error[0] = '\0';
	if (is_pg) {
		if (!fx->raw_pg) {
			fx->raw_pg = PQconnectdb(fx->uri);
			if (PQstatus(fx->raw_pg) != CONNECTION_OK)
				fail_msg("raw connection: %s", PQerrorMessage(fx->raw_pg));
		}
		PGresult *r = PQexec(fx->raw_pg, sql);
		int ok =
		    PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
			snprintf(fx->raw_error, sizeof(fx->raw_error), "%s",
			         PQresultErrorMessage(r));
		PQclear(r);
		return ok ? 0 : -1;
	}
	if (!fx->raw_lite && sqlite3_open(fx->path, &fx->raw_lite) != SQLITE_OK)
		fail_msg("raw connection: %s", sqlite3_errmsg(fx->raw_lite));
	char *err = NULL;
	if (sqlite3_exec(fx->raw_lite, sql, NULL, NULL, &err) != SQLITE_OK) {
		snprintf(fx->raw_error, sizeof(fx->raw_error), "%s", err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static void raw_exec(struct fixture *fx, const char *sql)
{
	if (raw_try(fx, sql) != 0)
		fail_msg("raw SQL \"%s\": %s", sql, fx->raw_error);
}

static int lite_int(void *arg, int n, char **vals, char **cols)
{
	(void)cols;
	if (n > 0 && vals[0])
		*(int64_t *)arg = strtoll(vals[0], NULL, 10);
	return 0;
}

/* The integer in the first column of the first row of @sql (0 for no row). */
static int64_t raw_int(struct fixture *fx, const char *sql)
{
	int64_t v = 0;
	if (is_pg) {
		raw_try(fx, "SELECT 1"); /* connect */
		PGresult *r = PQexec(fx->raw_pg, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("raw SQL \"%s\": %s", sql, PQresultErrorMessage(r));
		if (PQntuples(r) > 0)
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return v;
	}
	raw_try(fx, "SELECT 1");
	char *err = NULL;
	if (sqlite3_exec(fx->raw_lite, sql, lite_int, &v, &err) != SQLITE_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err ? err : "?");
		sqlite3_free(err);
		fail_msg("raw SQL \"%s\": %s", sql, msg);
	}
	return v;
}

/* SQL for a time column as seconds since the epoch, in the backend's dialect. */
static const char *epoch_of(const char *col, char *buf, size_t size)
{
	if (is_pg)
		snprintf(buf, size, "extract(epoch from %s)::bigint", col);
	else
		snprintf(buf, size, "%s", col);
	return buf;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static void admin_exec(const char *sql)
{
	PGresult *r = PQexec(pg_admin, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

/* A fresh, empty database and a store open on it (not migrated). */
static int setup_empty(void **state)
{
	struct fixture *fx = bl_xcalloc(1, sizeof(*fx));
	unsigned n = ++fixture_counter;
	if (is_pg) {
		snprintf(fx->schema, sizeof(fx->schema), "bl_contract_%ld_%u", (long)getpid(), n);
		char sql[128];
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", fx->schema);
		admin_exec(sql);
		/* libpq URI parameter: options=-c search_path=SCHEMA, percent-encoded */
		snprintf(fx->uri, sizeof(fx->uri), "%s%soptions=-csearch_path%%3D%s", pg_base,
		         strchr(pg_base, '?') ? "&" : "?", fx->schema);
	} else {
		snprintf(fx->path, sizeof(fx->path), "%s/db-%u.sqlite", tmpdir, n);
		snprintf(fx->uri, sizeof(fx->uri), "sqlite:%s", fx->path);
	}
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	int rc = bl_store_open(fx->uri, &opts, &fx->s, &d);
	if (rc != 0)
		fail_msg("bl_store_open(%s): got %d (%s), want 0", fx->uri, rc, d.msg);
	CHECK_STR("store backend", fx->s->ops->name, BL_TEST_BACKEND);
	*state = fx;
	return 0;
}

/* A fresh database migrated to BL_SCHEMA_VERSION. */
static int setup(void **state)
{
	setup_empty(state);
	struct fixture *fx = *state;
	int from = -1, to = -1;
	OK(fx, OPS(fx)->migrate(fx->s, &from, &to));
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		return 0;
	bl_store_close(fx->s);
	if (fx->raw_pg)
		PQfinish(fx->raw_pg);
	if (fx->raw_lite)
		sqlite3_close(fx->raw_lite);
	if (is_pg) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", fx->schema);
		PQclear(PQexec(pg_admin, sql));
	} else {
		const char *suffix[] = {"", "-wal", "-shm", "-journal", "-engine.lock"};
		for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
			char p[sizeof(fx->path) + 16];
			snprintf(p, sizeof(p), "%s%s", fx->path, suffix[i]);
			unlink(p);
		}
	}
	free(fx);
	*state = NULL;
	return 0;
}

/* ---- building data ------------------------------------------------------------------------ */

static int64_t make_list(struct fixture *fx, const char *slug)
{
	struct bl_list l = {.slug = (char *)slug,
	                    .name = (char *)slug,
	                    .description = "",
	                    .optin = BL_OPTIN_DOUBLE,
	                    .visibility = BL_VISIBILITY_PUBLIC};
	OK(fx, OPS(fx)->list_create(fx->s, &l));
	return l.id;
}

/* A fake suppression hash for @key: 64 hex digits derived from the text. */
static const char *hash_of(const char *key, char out[65])
{
	uint64_t h = 1469598103934665603u;
	for (const char *c = key; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211u;
	snprintf(out, 65, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, h, ~h, h ^ 0xff,
	         h + 1);
	return out;
}

/*
 * Add one subscriber through import_apply: @email (its key is the same,
 * lowercased by the caller), @status, and when @list_id a subscription in
 * @sub_status with an `import` event at @at. Returns the new id.
 */
static int64_t add_subscriber(struct fixture *fx, const char *email,
                              enum bl_subscriber_status status, int64_t list_id,
                              enum bl_sub_status sub_status, int64_t at)
{
	struct bl_import_change c = {
	    .insert_subscriber = 1,
	    .insert_subscription = list_id != 0,
	    .email = email,
	    .email_key = email,
	    .name = "",
	    .attributes = "{}",
	    .status = status,
	    .status_reason = status == BL_SUBSCRIBER_BLOCKLISTED ? "bounced" : "",
	    .created_at = at,
	    .sub_created_at = at,
	    .updated_at = at,
	    .list_id = list_id,
	    .sub_status = sub_status,
	    .mode = BL_MODE_INSTANT,
	};
	if (list_id) {
		c.n_events = 1;
		c.events[0] = (struct bl_consent){
		    .list_id = list_id, .kind = BL_CONSENT_IMPORT, .at = at, .source = "import:t"};
	}
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
	if (c.subscriber_id <= 0)
		fail_msg("%s: got id %" PRId64 ", want > 0", email, c.subscriber_id);
	return c.subscriber_id;
}

/* Add a subscription of existing @id to @list_id through import_apply. */
static void add_subscription(struct fixture *fx, int64_t id, int64_t list_id, enum bl_sub_status st,
                             enum bl_mode mode, int64_t at)
{
	struct bl_import_change c = {.subscriber_id = id,
	                             .insert_subscription = 1,
	                             .created_at = at,
	                             .sub_created_at = at,
	                             .updated_at = at,
	                             .list_id = list_id,
	                             .sub_status = st,
	                             .mode = mode};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
}

/* ---- collecting walks ---------------------------------------------------------------------- */

#define MAX_SEEN 64

struct seen {
	int n;
	int stop_after; /* return 7 from the callback after this many; 0 = never */
	int64_t id[MAX_SEEN];
	char text[MAX_SEEN][96];
	struct bl_consent ev[MAX_SEEN];
	struct bl_subscription sub[MAX_SEEN];
};

static int note(struct seen *w, int64_t id, const char *text)
{
	if (w->n < MAX_SEEN) {
		w->id[w->n] = id;
		snprintf(w->text[w->n], sizeof(w->text[0]), "%s", text ? text : "(null)");
	}
	w->n++;
	return w->stop_after && w->n >= w->stop_after ? 7 : 0;
}

static int on_list(void *arg, const struct bl_list *l)
{
	return note(arg, l->id, l->slug);
}

static int on_subscriber(void *arg, const struct bl_subscriber *s)
{
	return note(arg, s->id, s->email);
}

static int on_subscription(void *arg, const struct bl_subscription *u)
{
	struct seen *w = arg;
	if (w->n < MAX_SEEN) {
		w->sub[w->n] = *u;
		w->sub[w->n].list_slug = NULL; /* borrowed: keep the text instead */
	}
	return note(w, u->list_id, u->list_slug);
}

static int on_consent(void *arg, const struct bl_consent *c)
{
	struct seen *w = arg;
	char text[96];
	snprintf(text, sizeof(text), "%s|%s|%s|%s|%s", bl_consent_kind_name(c->kind),
	         c->list_slug ? c->list_slug : "-", c->ip, c->user_agent, c->source);
	if (w->n < MAX_SEEN) {
		w->ev[w->n] = *c;
		w->ev[w->n].list_slug = w->ev[w->n].ip = w->ev[w->n].user_agent =
		    w->ev[w->n].source = NULL;
	}
	return note(w, c->id, text);
}

/* "1,2,3" of the ids seen, for got/want messages. */
static const char *ids_text(const int64_t *ids, int n, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, i ? "," : "", ids[i]);
	return buf;
}

/* ---- migrations ------------------------------------------------------------------------------ */

static void test_migrate(void **state)
{
	struct fixture *fx = *state;
	int v = -1, from = -1, to = -1;
	OK(fx, OPS(fx)->schema_version(fx->s, &v));
	CHECK_INT("schema version of an empty database", v, 0);
	RC(fx, bl_store_check_schema(fx->s), -BL_ESCHEMA);

	OK(fx, OPS(fx)->migrate(fx->s, &from, &to));
	CHECK_INT("first migrate: from", from, 0);
	CHECK_INT("first migrate: to", to, BL_SCHEMA_VERSION);
	OK(fx, OPS(fx)->schema_version(fx->s, &v));
	CHECK_INT("schema version after migrate", v, BL_SCHEMA_VERSION);
	OK(fx, bl_store_check_schema(fx->s));

	OK(fx, OPS(fx)->setting_set(fx->s, "marker", "kept"));
	from = to = -1;
	OK(fx, OPS(fx)->migrate(fx->s, &from, &to));
	CHECK_INT("second migrate: from", from, BL_SCHEMA_VERSION);
	CHECK_INT("second migrate: to", to, BL_SCHEMA_VERSION);
	char *value = NULL;
	RC(fx, OPS(fx)->setting_get(fx->s, "marker", &value), 1);
	CHECK_STR("setting after the second migrate", value, "kept");
	free(value);
	if (is_pg)
		CHECK_INT("rows in schema_migrations",
		          raw_int(fx, "SELECT count(*) FROM schema_migrations"), BL_SCHEMA_VERSION);
}

/* Several `bulletin init` at once: every one succeeds and the migrations run once. */
static void test_migrate_concurrent(void **state)
{
	struct fixture *fx = *state;
	enum { N = 4 };
	int gate[2];
	if (pipe(gate) != 0)
		fail_msg("pipe: got an error, want a pipe");
	pid_t pid[N];
	for (int i = 0; i < N; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			fail_msg("fork: got an error, want a child");
		if (pid[i] == 0) {
			/* Child: its own store; never touch the parent's connections. */
			char c;
			close(gate[1]);
			struct bl_store *s = NULL;
			struct bl_diag d = {{0}};
			struct bl_store_opts opts = {0};
			if (bl_store_open(fx->uri, &opts, &s, &d) != 0) {
				fprintf(stderr, "child %d: open: %s\n", i, d.msg);
				_exit(2);
			}
			(void)!read(gate[0], &c, 1); /* returns when the parent closes the gate */
			int from = -1, to = -1;
			int rc = s->ops->migrate(s, &from, &to);
			if (rc)
				fprintf(stderr, "child %d: %s\n", i, bl_store_error(s));
			_exit(rc == 0 && to == BL_SCHEMA_VERSION ? 0 : 1);
		}
	}
	close(gate[0]);
	/* Let every child connect, then open the gate for all at once. */
	nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
	close(gate[1]);
	int ok = 0;
	for (int i = 0; i < N; i++) {
		int status = 0;
		waitpid(pid[i], &status, 0);
		ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK_INT("concurrent migrations that succeeded", ok, N);
	int v = -1;
	OK(fx, OPS(fx)->schema_version(fx->s, &v));
	CHECK_INT("schema version", v, BL_SCHEMA_VERSION);
	if (is_pg)
		CHECK_INT("rows in schema_migrations",
		          raw_int(fx, "SELECT count(*) FROM schema_migrations"), BL_SCHEMA_VERSION);
}

static void test_migrate_newer_refused(void **state)
{
	struct fixture *fx = *state;
	char sql[256];
	int newer = BL_SCHEMA_VERSION + 1;
	if (is_pg) {
		snprintf(sql, sizeof(sql),
		         "INSERT INTO schema_migrations (version, name, applied_at) "
		         "VALUES (%d, 'future', now())",
		         newer);
		raw_exec(fx, sql);
	} else {
		/* whichever way the SQLite backend records its version */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
		raw_exec(fx, sql);
		snprintf(sql, sizeof(sql),
		         "INSERT INTO schema_migrations (version, name, applied_at) "
		         "VALUES (%d, 'future', 0)",
		         newer);
		raw_try(fx, sql);
	}
	OK(fx, OPS(fx)->setting_set(fx->s, "marker", "kept"));
	int v = -1, from = -1, to = -1;
	RC(fx, OPS(fx)->migrate(fx->s, &from, &to), -BL_ESCHEMA);
	OK(fx, OPS(fx)->schema_version(fx->s, &v));
	CHECK_INT("schema version after the refusal", v, newer);
	RC(fx, bl_store_check_schema(fx->s), -BL_ESCHEMA);
	if (!strstr(bl_store_error(fx->s), "upgrade"))
		fail_msg("check_schema message: got \"%s\", want it to say upgrade",
		         bl_store_error(fx->s));
	char *value = NULL;
	RC(fx, OPS(fx)->setting_get(fx->s, "marker", &value), 1);
	CHECK_STR("data after the refusal", value, "kept");
	free(value);
}

/* ---- settings ------------------------------------------------------------------------------ */

static void test_settings(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *key, *first, *second;
	} cases[] = {
	    {"site.name", "Bulletin", "The Bulletin"},
	    {"empty", "", "now set"},
	    {"utf8", "Zoë – ünïcödé ✓", "日本語"},
	    {"quote's \"key\"", "a'b\"c\\d", "{}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *v = NULL;
		RC(fx, OPS(fx)->setting_get(fx->s, cases[i].key, &v), 0);
		OK(fx, OPS(fx)->setting_set(fx->s, cases[i].key, cases[i].first));
		RC(fx, OPS(fx)->setting_get(fx->s, cases[i].key, &v), 1);
		CHECK_STR(cases[i].key, v, cases[i].first);
		free(v);
		OK(fx, OPS(fx)->setting_set(fx->s, cases[i].key, cases[i].second));
		RC(fx, OPS(fx)->setting_get(fx->s, cases[i].key, &v), 1);
		CHECK_STR(cases[i].key, v, cases[i].second);
		free(v);
	}
}

/* ---- lists ---------------------------------------------------------------------------------- */

static void test_lists(void **state)
{
	struct fixture *fx = *state;
	/* Slugs whose bytewise order differs from most locales' collation. */
	static const struct {
		const char *slug, *name, *description;
		enum bl_optin optin;
		enum bl_visibility visibility;
	} cases[] = {
	    {"news", "News", "Daily news", BL_OPTIN_DOUBLE, BL_VISIBILITY_PUBLIC},
	    {"ab", "AB", "", BL_OPTIN_SINGLE, BL_VISIBILITY_PRIVATE},
	    {"a_b", "A underscore B", "x", BL_OPTIN_DOUBLE, BL_VISIBILITY_PRIVATE},
	    {"a-b", "A dash B", "Zoë's list", BL_OPTIN_SINGLE, BL_VISIBILITY_PUBLIC},
	    {"a0", "A zero", "", BL_OPTIN_DOUBLE, BL_VISIBILITY_PUBLIC},
	};
	const size_t n = sizeof(cases) / sizeof(cases[0]);
	int64_t ids[8];
	for (size_t i = 0; i < n; i++) {
		struct bl_list l = {.slug = (char *)cases[i].slug,
		                    .name = (char *)cases[i].name,
		                    .description = (char *)cases[i].description,
		                    .optin = cases[i].optin,
		                    .visibility = cases[i].visibility};
		OK(fx, OPS(fx)->list_create(fx->s, &l));
		if (l.id <= 0)
			fail_msg("%s: got id %" PRId64 ", want > 0", cases[i].slug, l.id);
		for (size_t j = 0; j < i; j++) {
			if (ids[j] == l.id)
				fail_msg("%s: got id %" PRId64 ", the id of %s", cases[i].slug,
				         l.id, cases[j].slug);
		}
		CHECK_INT(cases[i].slug, l.created_at, NOW);
		ids[i] = l.id;
	}

	struct bl_list dup = {.slug = "a-b", .name = "Other", .description = ""};
	RC(fx, OPS(fx)->list_create(fx->s, &dup), -BL_EEXIST);

	for (size_t i = 0; i < n; i++) {
		struct bl_list got = {0};
		RC(fx, OPS(fx)->list_get(fx->s, cases[i].slug, &got), 1);
		CHECK_INT(cases[i].slug, got.id, ids[i]);
		CHECK_STR(cases[i].slug, got.slug, cases[i].slug);
		CHECK_STR(cases[i].slug, got.name, cases[i].name);
		CHECK_STR(cases[i].slug, got.description, cases[i].description);
		CHECK_INT(cases[i].slug, got.optin, cases[i].optin);
		CHECK_INT(cases[i].slug, got.visibility, cases[i].visibility);
		CHECK_INT(cases[i].slug, got.created_at, NOW);
		bl_list_clear(&got);
	}
	struct bl_list none = {0};
	RC(fx, OPS(fx)->list_get(fx->s, "missing", &none), 0);

	struct seen w = {0};
	OK(fx, OPS(fx)->list_each(fx->s, on_list, &w));
	static const char *const order[] = {"a-b", "a0", "a_b", "ab", "news"};
	CHECK_INT("lists walked", w.n, 5);
	for (int i = 0; i < 5; i++)
		CHECK_STR("list_each order (bytewise by slug)", w.text[i], order[i]);

	struct seen stop = {.stop_after = 2};
	RC(fx, OPS(fx)->list_each(fx->s, on_list, &stop), 7);
	CHECK_INT("lists walked before the callback stopped", stop.n, 2);
}

static void test_list_counts_and_delete(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t s1 = add_subscriber(fx, "s1@example.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED,
	                            NOW - 50);
	add_subscriber(fx, "s2@example.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_UNSUBSCRIBED,
	               NOW - 40);
	add_subscriber(fx, "s3@example.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_UNCONFIRMED, NOW - 30);
	add_subscriber(fx, "s4@example.org", BL_SUBSCRIBER_BLOCKLISTED, a, BL_SUB_CONFIRMED,
	               NOW - 20);
	add_subscription(fx, s1, b, BL_SUB_UNCONFIRMED, BL_MODE_DAILY, NOW - 10);
	struct bl_consent ev = {.subscriber_id = s1,
	                        .list_id = a,
	                        .kind = BL_CONSENT_CONFIRM,
	                        .at = NOW - 5,
	                        .ip = "192.0.2.1",
	                        .user_agent = "UA",
	                        .source = "web:/confirm"};
	OK(fx, OPS(fx)->consent_add(fx->s, &ev));

	static const struct {
		const char *what;
		int64_t uc, c, u;
	} want[] = {{"counts of a", 1, 2, 1}, {"counts of b", 1, 0, 0}};
	int64_t lists[] = {a, b};
	for (int i = 0; i < 2; i++) {
		struct bl_list_counts got = {-1, -1, -1};
		OK(fx, OPS(fx)->list_counts(fx->s, lists[i], &got));
		CHECK_INT(want[i].what, got.unconfirmed, want[i].uc);
		CHECK_INT(want[i].what, got.confirmed, want[i].c);
		CHECK_INT(want[i].what, got.unsubscribed, want[i].u);
	}

	OK(fx, OPS(fx)->list_delete(fx->s, "a"));
	struct bl_list gone = {0};
	RC(fx, OPS(fx)->list_get(fx->s, "a", &gone), 0);
	struct bl_list_counts zero = {-1, -1, -1};
	OK(fx, OPS(fx)->list_counts(fx->s, a, &zero));
	CHECK_INT("counts of a deleted list", zero.unconfirmed + zero.confirmed + zero.unsubscribed,
	          0);
	struct bl_list_counts bc = {0};
	OK(fx, OPS(fx)->list_counts(fx->s, b, &bc));
	CHECK_INT("counts of b after deleting a: unconfirmed", bc.unconfirmed, 1);

	struct seen subs = {0};
	OK(fx, OPS(fx)->subscription_each(fx->s, s1, on_subscription, &subs));
	CHECK_INT("subscriptions of s1 after deleting a", subs.n, 1);
	CHECK_STR("remaining subscription", subs.text[0], "b");

	struct seen evs = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, s1, on_consent, &evs));
	CHECK_INT("consent events of s1 kept", evs.n, 2);
	CHECK_STR("import event, list gone", evs.text[0], "import|-|||import:t");
	CHECK_INT("import event list_id", evs.ev[0].list_id, 0);
	CHECK_STR("confirm event, list gone", evs.text[1], "confirm|-|192.0.2.1|UA|web:/confirm");
	CHECK_INT("confirm event list_id", evs.ev[1].list_id, 0);
	CHECK_INT("events kept in the database",
	          raw_int(fx, "SELECT count(*) FROM consent_events WHERE list_id IS NULL"), 5);

	struct bl_subscriber sub = {0};
	RC(fx, OPS(fx)->subscriber_get(fx->s, "s2@example.org", &sub), 1);
	bl_subscriber_clear(&sub);
	RC(fx, OPS(fx)->list_delete(fx->s, "a"), -BL_ENOENT);
}

/* ---- import -------------------------------------------------------------------------------------
 */

static void test_import_new(void **state)
{
	struct fixture *fx = *state;
	int64_t list = make_list(fx, "news");
	int64_t other = make_list(fx, "other");
	static const struct {
		const char *email, *key, *name, *attributes;
		enum bl_subscriber_status status;
		const char *reason;
		enum bl_sub_status sub_status;
		enum bl_mode mode;
	} rows[] = {
	    {"Ann@Example.org", "ann@example.org", "Ann", "{\"city\":\"Zürich\",\"plan\":\"pro\"}",
	     BL_SUBSCRIBER_ACTIVE, "", BL_SUB_CONFIRMED, BL_MODE_INSTANT},
	    {"bob@example.net", "bob@example.net", "Bob \"B\" O'Neil", "{}",
	     BL_SUBSCRIBER_BLOCKLISTED, "complained", BL_SUB_UNCONFIRMED, BL_MODE_DAILY},
	    {"zoe@xn--bcher-kva.example", "zoe@xn--bcher-kva.example", "Zoë", "{\"n\":[1,2]}",
	     BL_SUBSCRIBER_ACTIVE, "", BL_SUB_UNSUBSCRIBED, BL_MODE_WEEKLY},
	};
	enum { N = 3 };
	const char *keys[N], *hashes[N];
	char hb[N][65];
	for (int i = 0; i < N; i++) {
		keys[i] = rows[i].key;
		hashes[i] = hash_of(rows[i].key, hb[i]);
	}

	struct bl_import_state st[N];
	memset(st, 0xab, sizeof(st));
	OK(fx, OPS(fx)->import_lookup(fx->s, list, N, keys, hashes, st));
	for (int i = 0; i < N; i++) {
		CHECK_INT(rows[i].key, st[i].found, 0);
		CHECK_INT(rows[i].key, st[i].has_subscription, 0);
		CHECK_INT(rows[i].key, st[i].suppressed, 0);
		bl_import_state_clear(&st[i]);
	}

	struct bl_import_change ch[N];
	memset(ch, 0, sizeof(ch));
	for (int i = 0; i < N; i++) {
		int64_t t = NOW - 1000 + i;
		ch[i] = (struct bl_import_change){.insert_subscriber = 1,
		                                  .insert_subscription = 1,
		                                  .email = rows[i].email,
		                                  .email_key = rows[i].key,
		                                  .name = rows[i].name,
		                                  .attributes = rows[i].attributes,
		                                  .status = rows[i].status,
		                                  .status_reason = rows[i].reason,
		                                  .created_at = t,
		                                  .sub_created_at = t,
		                                  .updated_at = t + 1,
		                                  .list_id = list,
		                                  .sub_status = rows[i].sub_status,
		                                  .mode = rows[i].mode,
		                                  .n_events = 2};
		ch[i].events[0] = (struct bl_consent){.list_id = list,
		                                      .kind = BL_CONSENT_SIGNUP,
		                                      .at = t - 100,
		                                      .ip = "198.51.100.7",
		                                      .user_agent = "Mozilla/5.0",
		                                      .source = "web:/subscribe"};
		ch[i].events[1] = (struct bl_consent){
		    .list_id = list, .kind = BL_CONSENT_IMPORT, .at = t, .source = "import:a.csv"};
	}
	OK(fx, OPS(fx)->import_apply(fx->s, N, ch));
	for (int i = 0; i < N; i++) {
		if (ch[i].subscriber_id <= 0)
			fail_msg("%s: got id %" PRId64 ", want > 0", rows[i].key,
			         ch[i].subscriber_id);
		for (int j = 0; j < i; j++) {
			if (ch[j].subscriber_id == ch[i].subscriber_id)
				fail_msg("%s: got id %" PRId64 ", also given to %s", rows[i].key,
				         ch[i].subscriber_id, rows[j].key);
		}
		for (int j = 0; j < 2; j++)
			CHECK_INT("event subscriber_id filled by apply",
			          ch[i].events[j].subscriber_id, ch[i].subscriber_id);
	}

	OK(fx, OPS(fx)->import_lookup(fx->s, list, N, keys, hashes, st));
	for (int i = 0; i < N; i++) {
		const char *k = rows[i].key;
		CHECK_INT(k, st[i].found, 1);
		CHECK_INT(k, st[i].sub.id, ch[i].subscriber_id);
		CHECK_STR(k, st[i].sub.email, rows[i].email);
		CHECK_STR(k, st[i].sub.email_key, rows[i].key);
		CHECK_STR(k, st[i].sub.name, rows[i].name);
		CHECK_JSON(k, st[i].sub.attributes, rows[i].attributes);
		CHECK_INT(k, st[i].sub.status, rows[i].status);
		CHECK_STR(k, st[i].sub.status_reason, rows[i].reason);
		CHECK_INT(k, st[i].sub.created_at, NOW - 1000 + i);
		CHECK_INT(k, st[i].sub.updated_at, NOW - 999 + i);
		CHECK_INT(k, st[i].has_subscription, 1);
		CHECK_INT(k, st[i].sub_status, rows[i].sub_status);
		CHECK_INT(k, st[i].mode, rows[i].mode);
		CHECK_INT(k, st[i].suppressed, 0);
		bl_import_state_clear(&st[i]);
	}

	/* No list, another list, and an unknown address among known ones. */
	const char *mixed[] = {"nobody@example.com", rows[1].key};
	const char *mixed_hashes[] = {hb[0], hb[1]}; /* hashes of no suppressed address */
	struct bl_import_state ms[2];
	OK(fx, OPS(fx)->import_lookup(fx->s, 0, 2, mixed, mixed_hashes, ms));
	CHECK_INT("unknown address: found", ms[0].found, 0);
	CHECK_INT("known address, list 0: found", ms[1].found, 1);
	CHECK_INT("known address, list 0: has_subscription", ms[1].has_subscription, 0);
	bl_import_state_clear(&ms[0]);
	bl_import_state_clear(&ms[1]);
	OK(fx, OPS(fx)->import_lookup(fx->s, other, 2, mixed, mixed_hashes, ms));
	CHECK_INT("known address, other list: has_subscription", ms[1].has_subscription, 0);
	bl_import_state_clear(&ms[0]);
	bl_import_state_clear(&ms[1]);

	for (int i = 0; i < N; i++) {
		struct bl_subscriber s = {0};
		RC(fx, OPS(fx)->subscriber_get(fx->s, rows[i].key, &s), 1);
		CHECK_INT(rows[i].key, s.id, ch[i].subscriber_id);
		CHECK_STR(rows[i].key, s.email, rows[i].email);
		CHECK_STR(rows[i].key, s.name, rows[i].name);
		bl_subscriber_clear(&s);
		struct seen evs = {0};
		OK(fx, OPS(fx)->consent_each(fx->s, ch[i].subscriber_id, on_consent, &evs));
		CHECK_INT("events after import", evs.n, 2);
		CHECK_STR("first event", evs.text[0],
		          "signup|news|198.51.100.7|Mozilla/5.0|web:/subscribe");
		CHECK_STR("second event", evs.text[1], "import|news|||import:a.csv");
		CHECK_INT("first event time", evs.ev[0].at, NOW - 1100 + i);
		CHECK_INT("event subscriber", evs.ev[1].subscriber_id, ch[i].subscriber_id);
		CHECK_INT("event list", evs.ev[1].list_id, list);
	}
	struct bl_subscriber none = {0};
	RC(fx, OPS(fx)->subscriber_get(fx->s, "Ann@Example.org", &none), 0);
}

static void test_import_update(void **state)
{
	struct fixture *fx = *state;
	int64_t news = make_list(fx, "news"), alerts = make_list(fx, "alerts");
	int64_t id = add_subscriber(fx, "eve@example.org", BL_SUBSCRIBER_ACTIVE, news,
	                            BL_SUB_CONFIRMED, NOW - 500);

	struct bl_import_change c = {.subscriber_id = id,
	                             .update_subscriber = 1,
	                             .update_subscription = 1,
	                             .name = "Eve",
	                             .attributes = "{\"tier\":\"gold\"}",
	                             .status = BL_SUBSCRIBER_BLOCKLISTED,
	                             .status_reason = "bounced",
	                             .updated_at = NOW - 100,
	                             .list_id = news,
	                             .sub_status = BL_SUB_UNSUBSCRIBED,
	                             .mode = BL_MODE_WEEKLY,
	                             .n_events = 1};
	c.events[0] = (struct bl_consent){
	    .list_id = news, .kind = BL_CONSENT_UNSUBSCRIBE, .at = NOW - 100, .source = "import:b"};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
	CHECK_INT("update keeps the id", c.subscriber_id, id);

	const char *key = "eve@example.org";
	char hb[65];
	const char *hash = hash_of(key, hb);
	struct bl_import_state st;
	OK(fx, OPS(fx)->import_lookup(fx->s, news, 1, &key, &hash, &st));
	CHECK_INT("found", st.found, 1);
	CHECK_STR("name", st.sub.name, "Eve");
	CHECK_JSON("attributes", st.sub.attributes, "{\"tier\":\"gold\"}");
	CHECK_INT("status", st.sub.status, BL_SUBSCRIBER_BLOCKLISTED);
	CHECK_STR("status_reason", st.sub.status_reason, "bounced");
	CHECK_INT("created_at unchanged", st.sub.created_at, NOW - 500);
	CHECK_INT("updated_at", st.sub.updated_at, NOW - 100);
	CHECK_INT("sub_status", st.sub_status, BL_SUB_UNSUBSCRIBED);
	CHECK_INT("mode", st.mode, BL_MODE_WEEKLY);
	bl_import_state_clear(&st);

	/* A second list for an existing subscriber, and back to active. */
	struct bl_import_change c2 = {.subscriber_id = id,
	                              .update_subscriber = 1,
	                              .insert_subscription = 1,
	                              .name = "Eve",
	                              .attributes = "{}",
	                              .status = BL_SUBSCRIBER_ACTIVE,
	                              .status_reason = "",
	                              .created_at = NOW - 50,
	                              .sub_created_at = NOW - 60,
	                              .updated_at = NOW - 50,
	                              .list_id = alerts,
	                              .sub_status = BL_SUB_CONFIRMED,
	                              .mode = BL_MODE_INSTANT,
	                              .n_events = 1};
	c2.events[0] = (struct bl_consent){
	    .list_id = alerts, .kind = BL_CONSENT_IMPORT, .at = NOW - 50, .source = "import:c"};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c2));

	struct seen subs = {0};
	OK(fx, OPS(fx)->subscription_each(fx->s, id, on_subscription, &subs));
	CHECK_INT("subscriptions", subs.n, 2);
	CHECK_STR("first by slug", subs.text[0], "alerts");
	CHECK_INT("alerts status", subs.sub[0].status, BL_SUB_CONFIRMED);
	CHECK_INT("alerts created_at is sub_created_at", subs.sub[0].created_at, NOW - 60);
	CHECK_STR("second by slug", subs.text[1], "news");
	CHECK_INT("news status", subs.sub[1].status, BL_SUB_UNSUBSCRIBED);
	CHECK_INT("news created_at unchanged", subs.sub[1].created_at, NOW - 500);
	CHECK_INT("news updated_at", subs.sub[1].updated_at, NOW - 100);

	struct seen evs = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, id, on_consent, &evs));
	CHECK_INT("events", evs.n, 3);
	CHECK_STR("event 1", evs.text[0], "import|news|||import:t");
	CHECK_STR("event 2", evs.text[1], "unsubscribe|news|||import:b");
	CHECK_STR("event 3", evs.text[2], "import|alerts|||import:c");
}

/* Changes are applied in order, even when one batch names a subscriber twice. */
static void test_import_in_order(void **state)
{
	struct fixture *fx = *state;
	int64_t list = make_list(fx, "news");
	int64_t id = add_subscriber(fx, "twice@example.org", BL_SUBSCRIBER_ACTIVE, list,
	                            BL_SUB_UNCONFIRMED, NOW - 900);
	struct bl_import_change ch[3] = {
	    {.subscriber_id = id,
	     .update_subscriber = 1,
	     .update_subscription = 1,
	     .name = "first",
	     .attributes = "{}",
	     .updated_at = NOW - 30,
	     .list_id = list,
	     .sub_status = BL_SUB_CONFIRMED,
	     .n_events = 1,
	     .events = {{.list_id = list, .kind = BL_CONSENT_CONFIRM, .at = NOW - 30}}},
	    {.insert_subscriber = 1,
	     .email = "new@example.org",
	     .email_key = "new@example.org",
	     .attributes = "{}",
	     .created_at = NOW - 20,
	     .updated_at = NOW - 20},
	    {.subscriber_id = id,
	     .update_subscriber = 1,
	     .update_subscription = 1,
	     .name = "second",
	     .attributes = "{}",
	     .updated_at = NOW - 30,
	     .list_id = list,
	     .sub_status = BL_SUB_UNSUBSCRIBED,
	     .n_events = 1,
	     .events = {{.list_id = list, .kind = BL_CONSENT_UNSUBSCRIBE, .at = NOW - 30}}},
	};
	OK(fx, OPS(fx)->import_apply(fx->s, 3, ch));
	struct bl_subscriber s = {0};
	RC(fx, OPS(fx)->subscriber_get(fx->s, "twice@example.org", &s), 1);
	CHECK_STR("the later change wins", s.name, "second");
	bl_subscriber_clear(&s);
	RC(fx, OPS(fx)->subscriber_get(fx->s, "new@example.org", &s), 1);
	CHECK_INT("inserted between: id", s.id, ch[1].subscriber_id);
	bl_subscriber_clear(&s);
	struct bl_list_counts c = {0};
	OK(fx, OPS(fx)->list_counts(fx->s, list, &c));
	CHECK_INT("unsubscribed after both changes", c.unsubscribed, 1);
	struct seen evs = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, id, on_consent, &evs));
	CHECK_INT("events", evs.n, 3);
	/* The two later events share a time: the id keeps the order they were applied in. */
	CHECK_STR("same time, applied first", evs.text[1], "confirm|news|||");
	CHECK_STR("same time, applied second", evs.text[2], "unsubscribe|news|||");
}

static void test_import_suppressed(void **state)
{
	struct fixture *fx = *state;
	int64_t list = make_list(fx, "news");
	int64_t id = add_subscriber(fx, "gone@example.org", BL_SUBSCRIBER_ACTIVE, list,
	                            BL_SUB_CONFIRMED, NOW - 100);
	char h1[65], h2[65];
	OK(fx,
	   OPS(fx)->subscriber_erase(fx->s, id, hash_of("gone@example.org", h1), "request", NOW));
	const char *keys[] = {"gone@example.org", "fresh@example.org"};
	const char *hashes[] = {h1, hash_of("fresh@example.org", h2)};
	struct bl_import_state st[2];
	OK(fx, OPS(fx)->import_lookup(fx->s, list, 2, keys, hashes, st));
	CHECK_INT("erased address: found", st[0].found, 0);
	CHECK_INT("erased address: suppressed", st[0].suppressed, 1);
	CHECK_INT("fresh address: found", st[1].found, 0);
	CHECK_INT("fresh address: suppressed", st[1].suppressed, 0);
	bl_import_state_clear(&st[0]);
	bl_import_state_clear(&st[1]);
}

/* ---- subscribers ----------------------------------------------------------------------------- */

/* The data set of the filter tests: subscriber i of 12. */
enum { NSUB = 12 };
static int model_blocklisted(int i)
{
	return i % 4 == 3;
}
static int model_a(int i) /* status on list a, or -1 */
{
	return i % 3 == 0 ? BL_SUB_CONFIRMED : i % 3 == 1 ? BL_SUB_UNSUBSCRIBED : -1;
}
static int model_b(int i)
{
	return i % 2 == 0 ? BL_SUB_UNCONFIRMED : -1;
}

static void test_subscriber_each_filters(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t ids[NSUB];
	for (int i = 0; i < NSUB; i++) {
		char email[64];
		snprintf(email, sizeof(email), "user%02d@example.org", i);
		enum bl_subscriber_status st =
		    model_blocklisted(i) ? BL_SUBSCRIBER_BLOCKLISTED : BL_SUBSCRIBER_ACTIVE;
		int sa = model_a(i);
		ids[i] = add_subscriber(fx, email, st, sa >= 0 ? a : 0,
		                        sa >= 0 ? (enum bl_sub_status)sa : BL_SUB_CONFIRMED, NOW);
		if (model_b(i) >= 0)
			add_subscription(fx, ids[i], b, BL_SUB_UNCONFIRMED, BL_MODE_DAILY, NOW);
	}
	int64_t nolist = make_list(fx, "empty");

	static const struct {
		const char *name;
		int list; /* 0 none, 1 a, 2 b, 3 the empty list */
		int sub_status, status;
		int after; /* index of after_id, -1 for 0 */
		int64_t limit;
	} cases[] = {
	    {"all", 0, -1, -1, -1, 0},
	    {"active", 0, -1, BL_SUBSCRIBER_ACTIVE, -1, 0},
	    {"blocklisted", 0, -1, BL_SUBSCRIBER_BLOCKLISTED, -1, 0},
	    {"blocklisted after 3 limit 1", 0, -1, BL_SUBSCRIBER_BLOCKLISTED, 3, 1},
	    {"list a", 1, -1, -1, -1, 0},
	    {"list a confirmed", 1, BL_SUB_CONFIRMED, -1, -1, 0},
	    {"list a unsubscribed", 1, BL_SUB_UNSUBSCRIBED, -1, -1, 0},
	    {"list a unconfirmed", 1, BL_SUB_UNCONFIRMED, -1, -1, 0},
	    {"list b", 2, -1, -1, -1, 0},
	    {"list b blocklisted", 2, -1, BL_SUBSCRIBER_BLOCKLISTED, -1, 0},
	    {"list b active unconfirmed", 2, BL_SUB_UNCONFIRMED, BL_SUBSCRIBER_ACTIVE, -1, 0},
	    {"empty list", 3, -1, -1, -1, 0},
	    {"sub_status without list is ignored", 0, BL_SUB_CONFIRMED, -1, -1, 0},
	    {"after 5", 0, -1, -1, 5, 0},
	    {"after the last", 0, -1, -1, NSUB - 1, 0},
	    {"limit 4", 0, -1, -1, -1, 4},
	    {"after 2 limit 3", 0, -1, -1, 2, 3},
	    {"list a after 3 limit 2", 1, -1, -1, 3, 2},
	    /* the page crosses statuses and the filter cuts rows: each status's walk filters
	     * before it stops at the page */
	    {"list a blocklisted limit 2", 1, -1, BL_SUBSCRIBER_BLOCKLISTED, -1, 2},
	    {"list a limit 5", 1, -1, -1, -1, 5},
	    {"active limit 100", 0, -1, BL_SUBSCRIBER_ACTIVE, -1, 100},
	    /* every combination of a list with a subscriber status, past the first page */
	    {"list a blocklisted after 3", 1, -1, BL_SUBSCRIBER_BLOCKLISTED, 3, 0},
	    {"list a unsubscribed blocklisted", 1, BL_SUB_UNSUBSCRIBED, BL_SUBSCRIBER_BLOCKLISTED,
	     -1, 0},
	    {"list a active limit 3", 1, -1, BL_SUBSCRIBER_ACTIVE, -1, 3},
	    {"list a active after 4 limit 2", 1, -1, BL_SUBSCRIBER_ACTIVE, 4, 2},
	    {"list a confirmed active after 0", 1, BL_SUB_CONFIRMED, BL_SUBSCRIBER_ACTIVE, 0, 0},
	    {"list b active", 2, -1, BL_SUBSCRIBER_ACTIVE, -1, 0},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int64_t lists[] = {0, a, b, nolist};
		struct bl_subscriber_filter f = {.list_id = lists[cases[c].list],
		                                 .sub_status = cases[c].sub_status,
		                                 .status = cases[c].status,
		                                 .after_id =
		                                     cases[c].after >= 0 ? ids[cases[c].after] : 0,
		                                 .limit = cases[c].limit};
		int64_t want[NSUB];
		int nwant = 0;
		for (int i = 0; i < NSUB; i++) {
			int on = cases[c].list == 1   ? model_a(i)
			         : cases[c].list == 2 ? model_b(i)
			                              : -1;
			if (cases[c].list == 3)
				continue;
			if (cases[c].list && on < 0)
				continue;
			if (cases[c].list && cases[c].sub_status >= 0 && on != cases[c].sub_status)
				continue;
			if (cases[c].status >= 0 && model_blocklisted(i) != cases[c].status)
				continue;
			if (cases[c].after >= 0 && i <= cases[c].after)
				continue;
			if (cases[c].limit && nwant == cases[c].limit)
				break;
			want[nwant++] = ids[i];
		}
		struct seen w = {0};
		OK(fx, OPS(fx)->subscriber_each(fx->s, &f, on_subscriber, &w));
		char gb[512], wb[512];
		ids_text(w.id, w.n < MAX_SEEN ? w.n : MAX_SEEN, gb, sizeof(gb));
		ids_text(want, nwant, wb, sizeof(wb));
		if (strcmp(gb, wb) != 0)
			fail_msg("subscriber_each %s: got [%s], want [%s]", cases[c].name, gb, wb);
	}

	/* Keyset pagination: pages of 5 put together are the whole walk, in order. */
	int64_t got[NSUB + 1];
	int n = 0, pages = 0;
	struct bl_subscriber_filter f = {.sub_status = -1, .status = -1, .limit = 5};
	for (;;) {
		struct seen w = {0};
		OK(fx, OPS(fx)->subscriber_each(fx->s, &f, on_subscriber, &w));
		pages++;
		for (int i = 0; i < w.n && n <= NSUB; i++)
			got[n++] = w.id[i];
		if (w.n < 5)
			break;
		f.after_id = w.id[w.n - 1];
	}
	char gb[512], wb[512];
	ids_text(got, n, gb, sizeof(gb));
	ids_text(ids, NSUB, wb, sizeof(wb));
	if (strcmp(gb, wb) != 0)
		fail_msg("pages of 5: got [%s], want [%s]", gb, wb);
	CHECK_INT("pages of 5 for 12 subscribers", pages, 3);

	struct seen stop = {.stop_after = 3};
	struct bl_subscriber_filter none = {.sub_status = -1, .status = -1};
	RC(fx, OPS(fx)->subscriber_each(fx->s, &none, on_subscriber, &stop), 7);
	CHECK_INT("subscribers walked before the callback stopped", stop.n, 3);
}

static void test_subscription_each(void **state)
{
	struct fixture *fx = *state;
	int64_t zeta = make_list(fx, "zeta"), alpha = make_list(fx, "alpha"),
	        mid = make_list(fx, "mid");
	make_list(fx, "unused");
	int64_t id = add_subscriber(fx, "sub@example.org", BL_SUBSCRIBER_ACTIVE, zeta,
	                            BL_SUB_CONFIRMED, NOW - 30);
	add_subscription(fx, id, alpha, BL_SUB_UNCONFIRMED, BL_MODE_WEEKLY, NOW - 20);
	add_subscription(fx, id, mid, BL_SUB_UNSUBSCRIBED, BL_MODE_DAILY, NOW - 10);
	add_subscriber(fx, "other@example.org", BL_SUBSCRIBER_ACTIVE, alpha, BL_SUB_CONFIRMED, NOW);

	struct seen w = {0};
	OK(fx, OPS(fx)->subscription_each(fx->s, id, on_subscription, &w));
	static const struct {
		const char *slug;
		enum bl_sub_status st;
		enum bl_mode mode;
		int64_t at;
	} want[] = {
	    {"alpha", BL_SUB_UNCONFIRMED, BL_MODE_WEEKLY, NOW - 20},
	    {"mid", BL_SUB_UNSUBSCRIBED, BL_MODE_DAILY, NOW - 10},
	    {"zeta", BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW - 30},
	};
	int64_t list_ids[] = {alpha, mid, zeta};
	CHECK_INT("subscriptions", w.n, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_STR("subscription_each order and list_slug", w.text[i], want[i].slug);
		CHECK_INT(want[i].slug, w.sub[i].subscriber_id, id);
		CHECK_INT(want[i].slug, w.sub[i].list_id, list_ids[i]);
		CHECK_INT(want[i].slug, w.sub[i].status, want[i].st);
		CHECK_INT(want[i].slug, w.sub[i].mode, want[i].mode);
		CHECK_INT(want[i].slug, w.sub[i].created_at, want[i].at);
		CHECK_INT(want[i].slug, w.sub[i].updated_at, want[i].at);
	}
	struct seen none = {0};
	OK(fx, OPS(fx)->subscription_each(fx->s, 999999, on_subscription, &none));
	CHECK_INT("subscriptions of nobody", none.n, 0);
}

static void test_consent_each(void **state)
{
	struct fixture *fx = *state;
	int64_t list = make_list(fx, "news");
	int64_t id = add_subscriber(fx, "c@example.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW);
	int64_t other = add_subscriber(fx, "d@example.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW);
	static const struct {
		int64_t at;
		int on_list;
		enum bl_consent_kind kind;
		const char *source;
	} add[] = {
	    {NOW + 300, 1, BL_CONSENT_UNSUBSCRIBE, "web:/unsubscribe"},
	    {NOW + 100, 1, BL_CONSENT_SIGNUP, "web:/subscribe"},
	    {NOW + 200, 0, BL_CONSENT_PREFERENCE, "web:/preferences"},
	    {NOW + 100, 1, BL_CONSENT_CONFIRM, "web:/confirm"},
	};
	for (size_t i = 0; i < 4; i++) {
		struct bl_consent c = {.subscriber_id = id,
		                       .list_id = add[i].on_list ? list : 0,
		                       .kind = add[i].kind,
		                       .at = add[i].at,
		                       .ip = "2001:db8::1",
		                       .user_agent = "curl/8",
		                       .source = add[i].source};
		OK(fx, OPS(fx)->consent_add(fx->s, &c));
	}
	struct bl_consent o = {.subscriber_id = other, .kind = BL_CONSENT_BLOCKLIST, .at = NOW};
	OK(fx, OPS(fx)->consent_add(fx->s, &o));

	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, id, on_consent, &w));
	static const char *const want[] = {
	    "signup|news|2001:db8::1|curl/8|web:/subscribe",
	    "confirm|news|2001:db8::1|curl/8|web:/confirm",
	    "preference|-|2001:db8::1|curl/8|web:/preferences",
	    "unsubscribe|news|2001:db8::1|curl/8|web:/unsubscribe",
	};
	static const int64_t want_at[] = {NOW + 100, NOW + 100, NOW + 200, NOW + 300};
	CHECK_INT("events", w.n, 4);
	for (int i = 0; i < 4; i++) {
		CHECK_STR("consent_each by time then id", w.text[i], want[i]);
		CHECK_INT(want[i], w.ev[i].at, want_at[i]);
		CHECK_INT(want[i], w.ev[i].subscriber_id, id);
		CHECK_INT(want[i], w.ev[i].list_id, i == 2 ? 0 : list);
		if (i > 0 && w.id[i] == w.id[i - 1])
			fail_msg("event ids: got %" PRId64 " twice, want distinct", w.id[i]);
	}
	if (w.id[0] > w.id[1])
		fail_msg("same time: got ids %" PRId64 ", %" PRId64 ", want ascending", w.id[0],
		         w.id[1]);

	struct seen stop = {.stop_after = 1};
	RC(fx, OPS(fx)->consent_each(fx->s, id, on_consent, &stop), 7);
	CHECK_INT("events walked before the callback stopped", stop.n, 1);
}

static void test_consent_append_only(void **state)
{
	struct fixture *fx = *state;
	int64_t list = make_list(fx, "news");
	add_subscriber(fx, "ao@example.org", BL_SUBSCRIBER_ACTIVE, list, BL_SUB_CONFIRMED, NOW);
	struct bl_consent c = {
	    .kind = BL_CONSENT_SIGNUP, .at = NOW, .ip = "192.0.2.9", .source = "x"};
	OK(fx, OPS(fx)->consent_add(fx->s, &c));
	static const struct {
		const char *sql;
		int allowed;
	} cases[] = {
	    {"DELETE FROM consent_events", 0},
	    {"UPDATE consent_events SET source = 'forged'", 0},
	    {"UPDATE consent_events SET kind = 'confirm'", 0},
	    {"UPDATE consent_events SET ip = '203.0.113.1' WHERE ip <> ''", 0},
	    {"UPDATE consent_events SET subscriber_id = subscriber_id + 1000 "
	     "WHERE subscriber_id IS NOT NULL",
	     0},
	    {"UPDATE consent_events SET ip = '', user_agent = ''", 1},
	    {"UPDATE consent_events SET subscriber_id = NULL, list_id = NULL", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = raw_try(fx, cases[i].sql);
		if (cases[i].allowed && rc != 0)
			fail_msg("%s: got refused (%s), want allowed", cases[i].sql, fx->raw_error);
		if (!cases[i].allowed && rc == 0)
			fail_msg("%s: got allowed, want refused", cases[i].sql);
	}
	CHECK_INT("events left", raw_int(fx, "SELECT count(*) FROM consent_events"), 2);
	CHECK_INT("forged sources",
	          raw_int(fx, "SELECT count(*) FROM consent_events WHERE source = 'forged'"), 0);
}

static void test_erase(void **state)
{
	struct fixture *fx = *state;
	int64_t news = make_list(fx, "news"), alerts = make_list(fx, "alerts");
	int64_t id = add_subscriber(fx, "erase@example.org", BL_SUBSCRIBER_ACTIVE, news,
	                            BL_SUB_CONFIRMED, NOW - 100);
	add_subscription(fx, id, alerts, BL_SUB_UNCONFIRMED, BL_MODE_INSTANT, NOW - 90);
	int64_t keep = add_subscriber(fx, "keep@example.org", BL_SUBSCRIBER_ACTIVE, news,
	                              BL_SUB_CONFIRMED, NOW - 80);
	for (int i = 0; i < 2; i++) {
		struct bl_consent c = {.subscriber_id = i ? keep : id,
		                       .list_id = news,
		                       .kind = BL_CONSENT_CONFIRM,
		                       .at = NOW - 70,
		                       .ip = "198.51.100.1",
		                       .user_agent = "Mozilla/5.0",
		                       .source = "web:/confirm"};
		OK(fx, OPS(fx)->consent_add(fx->s, &c));
	}
	char h[65];
	hash_of("erase@example.org", h);
	int64_t since = -1;
	RC(fx, OPS(fx)->suppression_get(fx->s, h, &since), 0);

	OK(fx, OPS(fx)->subscriber_erase(fx->s, id, h, "request", NOW + 10));

	struct bl_subscriber s = {0};
	RC(fx, OPS(fx)->subscriber_get(fx->s, "erase@example.org", &s), 0);
	struct seen subs = {0}, evs = {0};
	OK(fx, OPS(fx)->subscription_each(fx->s, id, on_subscription, &subs));
	CHECK_INT("subscriptions of the erased subscriber", subs.n, 0);
	OK(fx, OPS(fx)->consent_each(fx->s, id, on_consent, &evs));
	CHECK_INT("events still attached to the erased subscriber", evs.n, 0);
	struct bl_list_counts c = {0};
	OK(fx, OPS(fx)->list_counts(fx->s, news, &c));
	CHECK_INT("news confirmed after erase", c.confirmed, 1);

	CHECK_INT("detached events of the erased subscriber (import + confirm)",
	          raw_int(fx, "SELECT count(*) FROM consent_events "
	                      "WHERE subscriber_id IS NULL AND kind <> 'erase'"),
	          2);
	CHECK_INT("detached events still holding IP or user agent",
	          raw_int(fx, "SELECT count(*) FROM consent_events WHERE subscriber_id IS NULL "
	                      "AND (ip <> '' OR user_agent <> '')"),
	          0);
	CHECK_INT(
	    "detached events keep kind, time, list and source",
	    raw_int(fx, "SELECT count(*) FROM consent_events WHERE subscriber_id IS NULL "
	                "AND kind = 'confirm' AND source = 'web:/confirm' AND list_id IS NOT NULL"),
	    1);
	char sql[256], ep[64];
	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM consent_events WHERE kind = 'erase' AND subscriber_id IS NULL",
	         epoch_of("at", ep, sizeof(ep)));
	CHECK_INT("erase event time", raw_int(fx, sql), NOW + 10);
	CHECK_INT("erase events",
	          raw_int(fx, "SELECT count(*) FROM consent_events WHERE kind = 'erase'"), 1);

	struct seen kept = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, keep, on_consent, &kept));
	CHECK_INT("the other subscriber's events", kept.n, 2);
	CHECK_STR("the other subscriber keeps its IP", kept.text[1],
	          "confirm|news|198.51.100.1|Mozilla/5.0|web:/confirm");

	RC(fx, OPS(fx)->suppression_get(fx->s, h, &since), 1);
	CHECK_INT("suppressed since", since, NOW + 10);
	char other[65];
	RC(fx, OPS(fx)->suppression_get(fx->s, hash_of("keep@example.org", other), &since), 0);

	RC(fx, OPS(fx)->subscriber_erase(fx->s, id, h, "request", NOW + 20), -BL_ENOENT);
	RC(fx, OPS(fx)->subscriber_erase(fx->s, 999999, h, "request", NOW + 20), -BL_ENOENT);
	CHECK_INT("erase events after refused erasures",
	          raw_int(fx, "SELECT count(*) FROM consent_events WHERE kind = 'erase'"), 1);
}

/* ---- export -------------------------------------------------------------------------------------
 */

struct export_seen {
	int n, stop_after;
	char line[16][256];
	int events_null[16];
};

/* One line per item: "email [slug:status,...] {kind/slug@at,...}". */
static int on_export(void *arg, const struct bl_export_item *it)
{
	struct export_seen *w = arg;
	if (w->n < 16) {
		char *l = w->line[w->n];
		size_t size = sizeof(w->line[0]), len = 0;
		len += (size_t)snprintf(l + len, size - len, "%s [", it->sub->email);
		for (size_t i = 0; i < it->n_subs && len < size; i++)
			len += (size_t)snprintf(l + len, size - len, "%s%s:%s", i ? "," : "",
			                        it->subs[i].list_slug,
			                        bl_sub_status_name(it->subs[i].status));
		len += (size_t)snprintf(l + len, size - len, "] {");
		for (size_t i = 0; i < it->n_events && len < size; i++)
			len += (size_t)snprintf(
			    l + len, size - len, "%s%s/%s@%" PRId64, i ? "," : "",
			    bl_consent_kind_name(it->events[i].kind),
			    it->events[i].list_slug ? it->events[i].list_slug : "-",
			    it->events[i].at - NOW);
		if (len < size)
			snprintf(l + len, size - len, "}");
		w->events_null[w->n] = it->events == NULL;
	}
	w->n++;
	return w->stop_after && w->n >= w->stop_after ? 7 : 0;
}

static void test_export(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t s1 = add_subscriber(fx, "s1@example.org", BL_SUBSCRIBER_ACTIVE, b,
	                            BL_SUB_UNCONFIRMED, NOW - 10);
	add_subscription(fx, s1, a, BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW - 9);
	struct bl_consent ev = {
	    .subscriber_id = s1, .list_id = a, .kind = BL_CONSENT_CONFIRM, .at = NOW - 20};
	OK(fx, OPS(fx)->consent_add(fx->s, &ev));
	add_subscriber(fx, "s2@example.org", BL_SUBSCRIBER_ACTIVE, b, BL_SUB_CONFIRMED, NOW - 8);
	int64_t s3 = add_subscriber(fx, "s3@example.org", BL_SUBSCRIBER_BLOCKLISTED, 0, 0, NOW - 7);
	ev = (struct bl_consent){.subscriber_id = s3, .kind = BL_CONSENT_BLOCKLIST, .at = NOW - 6};
	OK(fx, OPS(fx)->consent_add(fx->s, &ev));
	add_subscriber(fx, "s4@example.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_UNSUBSCRIBED, NOW - 5);

	static const struct {
		const char *name;
		int list; /* 0 all, 1 a, 2 b */
		int with_events;
		int n;
		const char *want[4];
	} cases[] = {
	    {"all, no events",
	     0,
	     0,
	     4,
	     {"s1@example.org [a:confirmed,b:unconfirmed] {}", "s2@example.org [b:confirmed] {}",
	      "s3@example.org [] {}", "s4@example.org [a:unsubscribed] {}"}},
	    {"all, events",
	     0,
	     1,
	     4,
	     {"s1@example.org [a:confirmed,b:unconfirmed] {confirm/a@-20,import/b@-10}",
	      "s2@example.org [b:confirmed] {import/b@-8}", "s3@example.org [] {blocklist/-@-6}",
	      "s4@example.org [a:unsubscribed] {import/a@-5}"}},
	    {"list a, events",
	     1,
	     1,
	     2,
	     {"s1@example.org [a:confirmed] {confirm/a@-20,import/b@-10}",
	      "s4@example.org [a:unsubscribed] {import/a@-5}"}},
	    {"list b, no events",
	     2,
	     0,
	     2,
	     {"s1@example.org [b:unconfirmed] {}", "s2@example.org [b:confirmed] {}"}},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int64_t lists[] = {0, a, b};
		struct export_seen w = {0};
		OK(fx, OPS(fx)->export_each(fx->s, lists[cases[c].list], cases[c].with_events,
		                            on_export, &w));
		char what[128];
		snprintf(what, sizeof(what), "export %s: items", cases[c].name);
		CHECK_INT(what, w.n, cases[c].n);
		for (int i = 0; i < cases[c].n; i++) {
			snprintf(what, sizeof(what), "export %s: item %d", cases[c].name, i);
			CHECK_STR(what, w.line[i], cases[c].want[i]);
			snprintf(what, sizeof(what), "export %s: item %d events == NULL",
			         cases[c].name, i);
			CHECK_INT(what, w.events_null[i], !cases[c].with_events);
		}
	}
	struct export_seen stop = {.stop_after = 2};
	RC(fx, OPS(fx)->export_each(fx->s, 0, 1, on_export, &stop), 7);
	CHECK_INT("items exported before the callback stopped", stop.n, 2);
	/* The store is usable after a stopped export. */
	struct bl_list l = {0};
	RC(fx, OPS(fx)->list_get(fx->s, "a", &l), 1);
	bl_list_clear(&l);
}

/* ---- transactions
 * -------------------------------------------------------------------------------- */

static void test_transactions(void **state)
{
	struct fixture *fx = *state;
	struct bl_list l = {0};

	OK(fx, OPS(fx)->begin(fx->s));
	make_list(fx, "rolled-back");
	add_subscriber(fx, "rb@example.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW);
	OK(fx, OPS(fx)->setting_set(fx->s, "k", "v"));
	OK(fx, OPS(fx)->rollback(fx->s));
	RC(fx, OPS(fx)->list_get(fx->s, "rolled-back", &l), 0);
	struct bl_subscriber s = {0};
	RC(fx, OPS(fx)->subscriber_get(fx->s, "rb@example.org", &s), 0);
	char *v = NULL;
	RC(fx, OPS(fx)->setting_get(fx->s, "k", &v), 0);

	OK(fx, OPS(fx)->begin(fx->s));
	int64_t id = make_list(fx, "committed");
	/* A taken slug inside a transaction is an answer; the transaction goes on. */
	struct bl_list dup = {.slug = "committed", .name = "x", .description = ""};
	RC(fx, OPS(fx)->list_create(fx->s, &dup), -BL_EEXIST);
	add_subscriber(fx, "c@example.org", BL_SUBSCRIBER_ACTIVE, id, BL_SUB_CONFIRMED, NOW);
	OK(fx, OPS(fx)->commit(fx->s));
	RC(fx, OPS(fx)->list_get(fx->s, "committed", &l), 1);
	CHECK_INT("committed list id", l.id, id);
	bl_list_clear(&l);
	RC(fx, OPS(fx)->subscriber_get(fx->s, "c@example.org", &s), 1);
	bl_subscriber_clear(&s);

	/* A failed erase inside a transaction leaves the transaction's other work alone. */
	OK(fx, OPS(fx)->begin(fx->s));
	make_list(fx, "kept");
	char h[65];
	RC(fx, OPS(fx)->subscriber_erase(fx->s, 424242, hash_of("x", h), "request", NOW),
	   -BL_ENOENT);
	OK(fx, OPS(fx)->commit(fx->s));
	RC(fx, OPS(fx)->list_get(fx->s, "kept", &l), 1);
	bl_list_clear(&l);

	OK(fx, OPS(fx)->begin(fx->s));
	if (OPS(fx)->begin(fx->s) == 0)
		fail_msg("begin inside a transaction: got 0, want an error");
	OK(fx, OPS(fx)->rollback(fx->s));
}

/* ---- a larger import ----------------------------------------------------------------------------
 */

enum { BIG_ROWS = 20000, BIG_BATCH = 5000 };

struct big_export {
	int64_t n, last, bad;
};

/* Exported items must come in id order, each with its one subscription and its events. */
static int on_big_export(void *arg, const struct bl_export_item *it)
{
	struct big_export *e = arg;
	size_t want_events = 1;
	if (it->n_subs == 1 && it->subs[0].status == BL_SUB_UNSUBSCRIBED)
		want_events = 2;
	if (it->sub->id <= e->last || it->n_subs != 1 || !it->subs[0].list_slug ||
	    strcmp(it->subs[0].list_slug, "big") != 0 || it->n_events != want_events) {
		if (e->bad++ == 0)
			printf("# export item %" PRId64 ": n_subs %zu, n_events %zu\n", it->sub->id,
			       it->n_subs, it->n_events);
	}
	e->last = it->sub->id;
	e->n++;
	return 0;
}

static void test_big_import(void **state)
{
	struct fixture *fx = *state;
	int64_t list = make_list(fx, "big");
	char(*emails)[40] = bl_xcalloc(BIG_ROWS, sizeof(*emails));
	char(*hashes)[65] = bl_xcalloc(BIG_ROWS, sizeof(*hashes));
	const char **keys = bl_xcalloc(BIG_ROWS, sizeof(*keys));
	const char **hp = bl_xcalloc(BIG_ROWS, sizeof(*hp));
	int64_t *ids = bl_xcalloc(BIG_ROWS, sizeof(*ids));
	struct bl_import_state *st = bl_xcalloc(BIG_BATCH, sizeof(*st));
	struct bl_import_change *ch = bl_xcalloc(BIG_BATCH, sizeof(*ch));
	for (int i = 0; i < BIG_ROWS; i++) {
		snprintf(emails[i], sizeof(emails[i]), "reader%05d@example.org", i);
		keys[i] = emails[i];
		hp[i] = hash_of(emails[i], hashes[i]);
	}

	/* Pass 1: all new. */
	double t0 = bl_monotonic();
	for (int b = 0; b < BIG_ROWS; b += BIG_BATCH) {
		OK(fx, OPS(fx)->begin(fx->s));
		OK(fx, OPS(fx)->import_lookup(fx->s, list, BIG_BATCH, keys + b, hp + b, st));
		for (int i = 0; i < BIG_BATCH; i++) {
			if (st[i].found)
				fail_msg("%s: got found, want new", keys[b + i]);
			ch[i] = (struct bl_import_change){.insert_subscriber = 1,
			                                  .insert_subscription = 1,
			                                  .email = keys[b + i],
			                                  .email_key = keys[b + i],
			                                  .name = "Reader",
			                                  .attributes = "{\"n\":1}",
			                                  .created_at = NOW,
			                                  .sub_created_at = NOW,
			                                  .updated_at = NOW,
			                                  .list_id = list,
			                                  .sub_status = BL_SUB_CONFIRMED,
			                                  .n_events = 1};
			ch[i].events[0] = (struct bl_consent){.list_id = list,
			                                      .kind = BL_CONSENT_IMPORT,
			                                      .at = NOW,
			                                      .source = "import:big.csv"};
			bl_import_state_clear(&st[i]);
		}
		OK(fx, OPS(fx)->import_apply(fx->s, BIG_BATCH, ch));
		OK(fx, OPS(fx)->commit(fx->s));
		for (int i = 0; i < BIG_BATCH; i++) {
			ids[b + i] = ch[i].subscriber_id;
			if (ids[b + i] <= 0 || (b + i > 0 && ids[b + i] == ids[b + i - 1]))
				fail_msg("%s: got id %" PRId64 ", want a new positive id",
				         keys[b + i], ids[b + i]);
		}
	}
	double t1 = bl_monotonic();
	printf("# %s: imported %d new rows in %.3f s (%.0f rows/s)\n", BL_TEST_BACKEND, BIG_ROWS,
	       t1 - t0, BIG_ROWS / (t1 - t0));

	struct bl_list_counts c = {0};
	OK(fx, OPS(fx)->list_counts(fx->s, list, &c));
	CHECK_INT("confirmed after pass 1", c.confirmed, BIG_ROWS);

	/* Pass 2: every address is known; unsubscribe every other one. */
	t0 = bl_monotonic();
	for (int b = 0; b < BIG_ROWS; b += BIG_BATCH) {
		OK(fx, OPS(fx)->begin(fx->s));
		OK(fx, OPS(fx)->import_lookup(fx->s, list, BIG_BATCH, keys + b, hp + b, st));
		size_t n = 0;
		for (int i = 0; i < BIG_BATCH; i++) {
			if (!st[i].found || st[i].sub.id != ids[b + i] || !st[i].has_subscription ||
			    st[i].sub_status != BL_SUB_CONFIRMED)
				fail_msg("%s: got found=%d id=%" PRId64 " has_subscription=%d, "
				         "want found=1 id=%" PRId64 " has_subscription=1",
				         keys[b + i], st[i].found, st[i].sub.id,
				         st[i].has_subscription, ids[b + i]);
			bl_import_state_clear(&st[i]);
			if (i % 2)
				continue;
			ch[n] = (struct bl_import_change){.subscriber_id = ids[b + i],
			                                  .update_subscription = 1,
			                                  .updated_at = NOW + 1,
			                                  .list_id = list,
			                                  .sub_status = BL_SUB_UNSUBSCRIBED,
			                                  .n_events = 1};
			ch[n].events[0] = (struct bl_consent){.list_id = list,
			                                      .kind = BL_CONSENT_UNSUBSCRIBE,
			                                      .at = NOW + 1,
			                                      .source = "import:big2.csv"};
			n++;
		}
		OK(fx, OPS(fx)->import_apply(fx->s, n, ch));
		OK(fx, OPS(fx)->commit(fx->s));
	}
	t1 = bl_monotonic();
	printf("# %s: looked up %d rows and updated %d in %.3f s (%.0f rows/s)\n", BL_TEST_BACKEND,
	       BIG_ROWS, BIG_ROWS / 2, t1 - t0, BIG_ROWS / (t1 - t0));
	OK(fx, OPS(fx)->list_counts(fx->s, list, &c));
	CHECK_INT("confirmed after pass 2", c.confirmed, BIG_ROWS / 2);
	CHECK_INT("unsubscribed after pass 2", c.unsubscribed, BIG_ROWS / 2);

	struct seen w = {0};
	struct bl_subscriber_filter f = {
	    .list_id = list, .sub_status = BL_SUB_UNSUBSCRIBED, .status = -1};
	OK(fx, OPS(fx)->subscriber_each(fx->s, &f, on_subscriber, &w));
	CHECK_INT("subscriber_each over pages: unsubscribed", w.n, BIG_ROWS / 2);
	CHECK_INT("first unsubscribed", w.id[0], ids[0]);
	free(ch);
	free(st);
	free(hp);
	free(keys);
	free(hashes);
	free(emails);

	/* The export streams all of them, in id order, across pages. */
	struct big_export e = {0};
	OK(fx, OPS(fx)->export_each(fx->s, list, 1, on_big_export, &e));
	CHECK_INT("exported", e.n, BIG_ROWS);
	CHECK_INT("exported out of order or incomplete", e.bad, 0);
	CHECK_INT("last exported", e.last, ids[BIG_ROWS - 1]);
	free(ids);
}

/* ---- posts and the delivery ledger (schema 2) ----------------------------------------------- */

#define WORKER "engine-1"
#define LEASE  (NOW + 300)

/* A post with @n lists, status draft; returns its id. */
static int64_t make_post(struct fixture *fx, const char *subject, enum bl_priority priority,
                         const int64_t *lists, size_t n)
{
	struct bl_post p = {.subject = (char *)subject,
	                    .body = "Hello {{name}}",
	                    .from_header = "",
	                    .priority = priority,
	                    .status = BL_POST_DRAFT};
	OK(fx, OPS(fx)->post_create(fx->s, &p, lists, n));
	if (p.id <= 0)
		fail_msg("post_create %s: got id %" PRId64 ", want > 0", subject, p.id);
	return p.id;
}

/* Queue post @id at NOW; checks that it queued @want rows. */
static void queue_post(struct fixture *fx, int64_t id, int64_t want)
{
	int64_t total = -1;
	RC(fx, OPS(fx)->post_queue(fx->s, id, NOW, &total), 1);
	CHECK_INT("post_queue total", total, want);
}

/* Set subscriber @id's subscription to @list_id to @st (mode instant). */
static void set_subscription(struct fixture *fx, int64_t id, int64_t list_id, enum bl_sub_status st)
{
	struct bl_import_change c = {.subscriber_id = id,
	                             .update_subscription = 1,
	                             .updated_at = NOW,
	                             .list_id = list_id,
	                             .sub_status = st,
	                             .mode = BL_MODE_INSTANT};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
}

static void blocklist(struct fixture *fx, int64_t id, const char *reason)
{
	struct bl_import_change c = {.subscriber_id = id,
	                             .update_subscriber = 1,
	                             .name = "",
	                             .attributes = "{}",
	                             .status = BL_SUBSCRIBER_BLOCKLISTED,
	                             .status_reason = reason,
	                             .updated_at = NOW};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
}

#define MAX_CLAIM 64

/* One engine turn's outcome. */
struct turn {
	struct bl_claimed c[MAX_CLAIM];
	size_t n, stale, finished;
};

static void turn_clear(struct turn *t)
{
	for (size_t i = 0; i < t->n; i++)
		bl_claimed_clear(&t->c[i]);
	t->n = 0;
}

/* delivery_exchange on store @s as @worker at @now; @t is cleared first. */
static int exchange_on(struct bl_store *s, const char *worker, int64_t now,
                       const struct bl_delivery_result *r, size_t nr, size_t max, struct turn *t)
{
	turn_clear(t);
	t->stale = t->finished = 99;
	return s->ops->delivery_exchange(s, worker, now, now + 300, r, nr, max, t->c, &t->n,
	                                 &t->stale, &t->finished);
}

/* An engine turn that must succeed. */
static void exchange(struct fixture *fx, int64_t now, const struct bl_delivery_result *r, size_t nr,
                     size_t max, struct turn *t)
{
	OK(fx, exchange_on(fx->s, WORKER, now, r, nr, max, t));
}

/* Results of the rows of @t, all in @state. */
static size_t results_for(const struct turn *t, enum bl_delivery_state state,
                          struct bl_delivery_result *r)
{
	for (size_t i = 0; i < t->n; i++)
		r[i] = (struct bl_delivery_result){
		    .delivery_id = t->c[i].delivery_id,
		    .state = state,
		    .code = state == BL_DELIVERY_ACCEPTED ? 250 : 0,
		    .reply = state == BL_DELIVERY_ACCEPTED ? "2.0.0 Ok" : NULL,
		    .queue_id = "Q1",
		    .relay = "smtp://127.0.0.1"};
	return t->n;
}

/* Collected delivery rows. */
struct rows {
	int n;
	struct {
		int64_t id, subscriber_id, next_try, updated_at;
		enum bl_delivery_state state;
		int attempts, in_doubt, code;
		char email[64], reply[BL_REPLY_MAX + 1], queue_id[32], relay[64];
		char subject[64]; /* post_subject; "(null)" for NULL */
	} r[MAX_SEEN];
};

static int on_delivery(void *arg, const struct bl_delivery_row *d)
{
	struct rows *w = arg;
	if (w->n < MAX_SEEN) {
		w->r[w->n].id = d->id;
		w->r[w->n].subscriber_id = d->subscriber_id;
		w->r[w->n].next_try = d->next_try;
		w->r[w->n].updated_at = d->updated_at;
		w->r[w->n].state = d->state;
		w->r[w->n].attempts = d->attempts;
		w->r[w->n].in_doubt = d->in_doubt;
		w->r[w->n].code = d->code;
		snprintf(w->r[w->n].email, sizeof(w->r[0].email), "%s", d->email);
		snprintf(w->r[w->n].reply, sizeof(w->r[0].reply), "%s", d->reply);
		snprintf(w->r[w->n].queue_id, sizeof(w->r[0].queue_id), "%s", d->queue_id);
		snprintf(w->r[w->n].relay, sizeof(w->r[0].relay), "%s", d->relay);
		snprintf(w->r[w->n].subject, sizeof(w->r[0].subject), "%s",
		         d->post_subject ? d->post_subject : "(null)");
	}
	w->n++;
	return 0;
}

static void rows_of(struct fixture *fx, int64_t post, int state, struct rows *w)
{
	memset(w, 0, sizeof(*w));
	OK(fx, OPS(fx)->delivery_each(fx->s, post, state, 0, 0, on_delivery, w));
}

/* The row of @w for subscriber @sub (fails when absent). */
static int row_of(const struct rows *w, int64_t sub)
{
	for (int i = 0; i < w->n && i < MAX_SEEN; i++)
		if (w->r[i].subscriber_id == sub)
			return i;
	fail_msg("no delivery row for subscriber %" PRId64, sub);
	return -1;
}

static void check_counts(struct fixture *fx, const char *what, int64_t post, int64_t pending,
                         int64_t claimed, int64_t accepted, int64_t deferred, int64_t failed,
                         int64_t suppressed, int64_t in_doubt)
{
	struct bl_delivery_counts c;
	memset(&c, 0xab, sizeof(c));
	OK(fx, OPS(fx)->delivery_counts(fx->s, post, &c));
	char w[160];
	const int64_t want[BL_DELIVERY_NSTATES] = {pending,  claimed, accepted,
	                                           deferred, failed,  suppressed};
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++) {
		snprintf(w, sizeof(w), "%s: %s rows", what,
		         bl_delivery_state_name((enum bl_delivery_state)i));
		CHECK_INT(w, c.n[i], want[i]);
		/* The maintained count agrees with a count of the rows themselves. */
		char sql[160];
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM deliveries WHERE post_id = %" PRId64
		         " AND state = '%s'",
		         post, bl_delivery_state_name((enum bl_delivery_state)i));
		snprintf(w, sizeof(w), "%s: %s rows counted", what,
		         bl_delivery_state_name((enum bl_delivery_state)i));
		CHECK_INT(w, c.n[i], raw_int(fx, sql));
	}
	snprintf(w, sizeof(w), "%s: in doubt", what);
	CHECK_INT(w, c.in_doubt, in_doubt);
}

static enum bl_post_status status_of(struct fixture *fx, int64_t post)
{
	struct bl_post p = {0};
	RC(fx, OPS(fx)->post_get(fx->s, post, &p), 1);
	enum bl_post_status st = p.status;
	bl_post_clear(&p);
	return st;
}

static int on_post(void *arg, const struct bl_post *p)
{
	return note(arg, p->id, p->subject);
}

static void test_posts(void **state)
{
	struct fixture *fx = *state;
	int64_t b = make_list(fx, "b"), a = make_list(fx, "a");
	int64_t lists[] = {b, a, b}; /* a repeated list counts once */
	struct bl_post p = {.subject = "Storm warning ✓",
	                    .body = "# Take cover\n\n{{name}}",
	                    .from_header = "Desk <desk@example.org>",
	                    .priority = BL_PRIORITY_BREAKING,
	                    .status = BL_POST_SCHEDULED,
	                    .scheduled_at = NOW + 3600};
	OK(fx, OPS(fx)->post_create(fx->s, &p, lists, 3));
	CHECK_INT("created_at defaults to now", p.created_at, NOW);
	int64_t first = p.id;
	int64_t second = make_post(fx, "Weekly notes", BL_PRIORITY_NORMAL, &a, 1);

	struct bl_post got;
	memset(&got, 0xab, sizeof(got));
	RC(fx, OPS(fx)->post_get(fx->s, first, &got), 1);
	CHECK_INT("id", got.id, first);
	CHECK_STR("subject", got.subject, "Storm warning ✓");
	CHECK_STR("body", got.body, "# Take cover\n\n{{name}}");
	CHECK_STR("from", got.from_header, "Desk <desk@example.org>");
	CHECK_INT("priority", got.priority, BL_PRIORITY_BREAKING);
	CHECK_INT("status", got.status, BL_POST_SCHEDULED);
	CHECK_STR("pause_reason", got.pause_reason, "");
	CHECK_INT("auto_paused", got.auto_paused, 0);
	CHECK_INT("created_at", got.created_at, NOW);
	CHECK_INT("scheduled_at", got.scheduled_at, NOW + 3600);
	CHECK_INT("started_at", got.started_at, 0);
	CHECK_INT("finished_at", got.finished_at, 0);
	CHECK_INT("total", got.total, 0);
	CHECK_INT("in_doubt", got.in_doubt, 0);
	bl_post_clear(&got);
	RC(fx, OPS(fx)->post_get(fx->s, second + 100, &got), 0);

	struct seen w = {0};
	OK(fx, OPS(fx)->post_each(fx->s, on_post, &w));
	CHECK_INT("posts", w.n, 2);
	CHECK_INT("post_each: newest first", w.id[0], second);
	CHECK_INT("post_each: then the older", w.id[1], first);

	struct seen l = {0};
	OK(fx, OPS(fx)->post_lists(fx->s, first, on_list, &l));
	CHECK_INT("lists of the post", l.n, 2);
	CHECK_STR("post_lists by slug", l.text[0], "a");
	CHECK_STR("post_lists by slug", l.text[1], "b");

	/* Refusals leave nothing behind. */
	int64_t bad[] = {a, 9999};
	struct bl_post q = {.subject = "x", .body = "", .from_header = ""};
	RC(fx, OPS(fx)->post_create(fx->s, &q, bad, 2), -BL_ENOENT);
	if (!strstr(bl_store_error(fx->s), "9999"))
		fail_msg("unknown list message: got \"%s\", want it to name 9999",
		         bl_store_error(fx->s));
	RC(fx, OPS(fx)->post_create(fx->s, &q, NULL, 0), -BL_EINVAL);
	q.status = BL_POST_SENDING;
	RC(fx, OPS(fx)->post_create(fx->s, &q, &a, 1), -BL_EINVAL);
	CHECK_INT("posts after the refusals", raw_int(fx, "SELECT count(*) FROM posts"), 2);
	CHECK_INT("post lists after the refusals", raw_int(fx, "SELECT count(*) FROM post_lists"),
	          3);

	/* Deleting a list takes it off its posts (drafts: test_list_delete_busy). */
	RC(fx, OPS(fx)->post_schedule(fx->s, first, 0), 1);
	OK(fx, OPS(fx)->list_delete(fx->s, "b"));
	memset(&l, 0, sizeof(l));
	OK(fx, OPS(fx)->post_lists(fx->s, first, on_list, &l));
	CHECK_INT("lists of the post after deleting b", l.n, 1);
}

/* Who gets a row: active subscribers confirmed in instant mode on one of the post's lists. */
static void test_post_queue(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b"), c = make_list(fx, "c");
	int64_t both =
	    add_subscriber(fx, "both@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW - 9);
	add_subscription(fx, both, b, BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW - 9);
	int64_t only_a =
	    add_subscriber(fx, "a@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW - 8);
	add_subscriber(fx, "unconfirmed@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_UNCONFIRMED,
	               NOW - 7);
	add_subscriber(fx, "left@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_UNSUBSCRIBED, NOW - 6);
	int64_t daily = add_subscriber(fx, "daily@x.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW - 5);
	add_subscription(fx, daily, a, BL_SUB_CONFIRMED, BL_MODE_DAILY, NOW - 5);
	add_subscriber(fx, "blocked@x.org", BL_SUBSCRIBER_BLOCKLISTED, a, BL_SUB_CONFIRMED,
	               NOW - 4);
	add_subscriber(fx, "c@x.org", BL_SUBSCRIBER_ACTIVE, c, BL_SUB_CONFIRMED, NOW - 3);
	int64_t mixed = add_subscriber(fx, "mixed@x.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW - 2);
	add_subscription(fx, mixed, a, BL_SUB_CONFIRMED, BL_MODE_WEEKLY, NOW - 2);
	add_subscription(fx, mixed, b, BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW - 2);

	int64_t lists[] = {a, b};
	int64_t post = make_post(fx, "News", BL_PRIORITY_BREAKING, lists, 2);
	int64_t total = -1;
	RC(fx, OPS(fx)->post_queue(fx->s, post + 100, NOW, &total), -BL_ENOENT);
	/* Schema 6: a breaking post reaches the daily subscriber at once too (list a's
	 * breaking_digest is on by default; test_digests turns it off). */
	queue_post(fx, post, 4);

	struct rows w;
	rows_of(fx, post, -1, &w);
	CHECK_INT("delivery rows", w.n, 4);
	static const struct {
		const char *email;
	} want[] = {{"both@x.org"}, {"a@x.org"}, {"mixed@x.org"}, {"daily@x.org"}};
	int64_t ids[] = {both, only_a, mixed, daily};
	for (int i = 0; i < 4; i++) {
		int k = row_of(&w, ids[i]);
		CHECK_STR("row email", w.r[k].email, want[i].email);
		CHECK_INT("row state", w.r[k].state, BL_DELIVERY_PENDING);
		CHECK_INT("row attempts", w.r[k].attempts, 0);
		CHECK_INT("row in_doubt", w.r[k].in_doubt, 0);
		CHECK_INT("row next_try", w.r[k].next_try, NOW);
	}
	CHECK_INT("rows carry the post's priority",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE priority = 1"), 4);

	struct bl_post p = {0};
	RC(fx, OPS(fx)->post_get(fx->s, post, &p), 1);
	CHECK_INT("status after queueing", p.status, BL_POST_SENDING);
	CHECK_INT("started_at", p.started_at, NOW);
	CHECK_INT("total", p.total, 4);
	bl_post_clear(&p);
	check_counts(fx, "queued", post, 4, 0, 0, 0, 0, 0, 0);

	/* A second queue changes nothing. */
	total = -1;
	RC(fx, OPS(fx)->post_queue(fx->s, post, NOW + 10, &total), 0);
	CHECK_INT("total untouched by a refused queue", total, -1);
	CHECK_INT("rows after the second queue", raw_int(fx, "SELECT count(*) FROM deliveries"), 4);
	RC(fx, OPS(fx)->post_get(fx->s, post, &p), 1);
	CHECK_INT("started_at after the second queue", p.started_at, NOW);
	bl_post_clear(&p);
}

static void test_claim_order(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t s[4];
	char email[32];
	for (int i = 0; i < 4; i++) {
		snprintf(email, sizeof(email), "s%d@x.org", i);
		s[i] = add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, b, BL_SUB_CONFIRMED, NOW);
	}
	/* s1 is confirmed on a too (a has the lower id): its list is a. */
	add_subscription(fx, s[1], a, BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW);
	struct bl_import_change named = {.subscriber_id = s[1],
	                                 .update_subscriber = 1,
	                                 .name = "Zoë",
	                                 .attributes = "{\"city\":\"Oslo\"}",
	                                 .status = BL_SUBSCRIBER_ACTIVE,
	                                 .status_reason = "",
	                                 .updated_at = NOW};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &named));
	int64_t ab[] = {a, b};
	int64_t normal = make_post(fx, "normal", BL_PRIORITY_NORMAL, ab, 2);
	queue_post(fx, normal, 4);
	int64_t breaking = make_post(fx, "breaking", BL_PRIORITY_BREAKING, &a, 1);
	queue_post(fx, breaking, 1);

	struct turn t = {0}, u = {0}, v = {0};
	exchange(fx, NOW + 1, NULL, 0, 3, &t);
	CHECK_INT("claimed", t.n, 3);
	CHECK_INT("stale", t.stale, 0);
	CHECK_INT("finished", t.finished, 0);
	CHECK_INT("first claim: the breaking post, queued later", t.c[0].post_id, breaking);
	CHECK_INT("first claim: its subscriber", t.c[0].subscriber_id, s[1]);
	CHECK_INT("then the normal post", t.c[1].post_id, normal);
	CHECK_INT("then the normal post", t.c[2].post_id, normal);
	check_counts(fx, "normal post after the claim", normal, 2, 2, 0, 0, 0, 0, 0);
	CHECK_INT("worker and lease",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE worker = '" WORKER
	                      "' AND lease_until IS NOT NULL"),
	          3);
	exchange(fx, NOW + 2, NULL, 0, 8, &u);
	CHECK_INT("claimed the rest", u.n, 2);
	exchange(fx, NOW + 3, NULL, 0, 8, &v);
	CHECK_INT("nothing left to claim", v.n, 0);
	CHECK_INT("rows claimed more than once",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE attempts <> 1"), 0);

	/* Within a post, rows are claimed by id: the two lowest ids first. */
	struct rows w;
	rows_of(fx, normal, BL_DELIVERY_CLAIMED, &w);
	CHECK_INT("claimed rows of the normal post", w.n, 4);
	for (int i = 0; i < w.n; i++)
		CHECK_INT("claim time in id order", w.r[i].updated_at, i < 2 ? NOW + 1 : NOW + 2);

	/* What each claim carries. */
	int seen_s1 = 0;
	for (int k = 0; k < 2; k++) {
		const struct turn *x = k ? &u : &t;
		for (size_t i = 0; i < x->n; i++) {
			const struct bl_claimed *c = &x->c[i];
			int64_t want_list =
			    c->post_id == breaking || c->subscriber_id == s[1] ? a : b;
			CHECK_INT("list_id: the lowest of the post's lists it is confirmed on",
			          c->list_id, want_list);
			CHECK_INT("attempts", c->attempts, 1);
			CHECK_INT("first_try_at", c->first_try_at, NOW + 1 + k);
			CHECK_INT("in_doubt", c->in_doubt, 0);
			if (c->subscriber_id == s[1]) {
				seen_s1++;
				CHECK_STR("email", c->email, "s1@x.org");
				CHECK_STR("name", c->name, "Zoë");
				CHECK_JSON("attributes", c->attributes, "{\"city\":\"Oslo\"}");
			} else {
				CHECK_STR("name", c->name, "");
				CHECK_JSON("attributes", c->attributes, "{}");
			}
		}
	}
	CHECK_INT("claims of s1 (one per post)", seen_s1, 2);
	turn_clear(&t);
	turn_clear(&u);
}

static void test_exchange_results(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	char email[32];
	for (int i = 0; i < 5; i++) {
		snprintf(email, sizeof(email), "r%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	int64_t post = make_post(fx, "results", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, 5);
	struct turn t = {0};
	exchange(fx, NOW, NULL, 0, 4, &t);
	CHECK_INT("claimed", t.n, 4);

	char long_reply[BL_REPLY_MAX + 40];
	memset(long_reply, 'x', sizeof(long_reply));
	memcpy(long_reply + BL_REPLY_MAX - 1, "é", 2); /* a sequence across the cut */
	long_reply[sizeof(long_reply) - 1] = '\0';
	struct bl_delivery_result r[6] = {
	    {t.c[0].delivery_id, BL_DELIVERY_ACCEPTED, 250, "2.0.0 Ok: queued as ABC", "ABC",
	     "smtp://relay", 0},
	    {t.c[1].delivery_id, BL_DELIVERY_FAILED, 550, long_reply, NULL, "smtp://relay", 0},
	    {t.c[2].delivery_id, BL_DELIVERY_DEFERRED, 451, "4.7.1 Try later", NULL, "smtp://relay",
	     NOW + 600},
	    {t.c[3].delivery_id, BL_DELIVERY_PENDING, 0, NULL, NULL, NULL, 0},
	    /* the same row again: no longer claimed */
	    {t.c[0].delivery_id, BL_DELIVERY_FAILED, 550, "late", NULL, NULL, 0},
	    /* a row never claimed */
	    {t.c[3].delivery_id + 1, BL_DELIVERY_ACCEPTED, 250, "x", NULL, NULL, 0},
	};
	int64_t ids[4];
	for (int i = 0; i < 4; i++)
		ids[i] = t.c[i].subscriber_id;

	/* A result no row can take is refused, and nothing is written. */
	struct bl_delivery_result bad = r[0];
	bad.state = BL_DELIVERY_CLAIMED;
	struct bl_delivery_result both[] = {r[0], bad};
	RC(fx, exchange_on(fx->s, WORKER, NOW + 5, both, 2, 4, &t), -BL_EINVAL);
	CHECK_INT("claimed after a refused exchange", t.n, 0);
	check_counts(fx, "after a refused exchange", post, 1, 4, 0, 0, 0, 0, 0);
	bad = r[2];
	bad.next_try = 0;
	RC(fx, exchange_on(fx->s, WORKER, NOW + 5, &bad, 1, 0, &t), -BL_EINVAL);

	exchange(fx, NOW + 5, r, 6, 0, &t);
	CHECK_INT("stale results", t.stale, 2);
	CHECK_INT("no claims with max 0", t.n, 0);
	check_counts(fx, "after the results", post, 2, 0, 1, 1, 1, 0, 0);

	struct rows w;
	rows_of(fx, post, -1, &w);
	int k = row_of(&w, ids[0]);
	CHECK_INT("accepted: state", w.r[k].state, BL_DELIVERY_ACCEPTED);
	CHECK_INT("accepted: code", w.r[k].code, 250);
	CHECK_STR("accepted: reply", w.r[k].reply, "2.0.0 Ok: queued as ABC");
	CHECK_STR("accepted: queue id", w.r[k].queue_id, "ABC");
	CHECK_STR("accepted: relay", w.r[k].relay, "smtp://relay");
	CHECK_INT("accepted: updated_at", w.r[k].updated_at, NOW + 5);
	k = row_of(&w, ids[1]);
	CHECK_INT("failed: state", w.r[k].state, BL_DELIVERY_FAILED);
	CHECK_INT("failed: reply cut to BL_REPLY_MAX at a character boundary",
	          (long long)strlen(w.r[k].reply), BL_REPLY_MAX - 1);
	k = row_of(&w, ids[2]);
	CHECK_INT("deferred: state", w.r[k].state, BL_DELIVERY_DEFERRED);
	CHECK_INT("deferred: next_try", w.r[k].next_try, NOW + 600);
	CHECK_STR("deferred: reply", w.r[k].reply, "4.7.1 Try later");
	k = row_of(&w, ids[3]);
	CHECK_INT("released: state", w.r[k].state, BL_DELIVERY_PENDING);
	CHECK_INT("released: attempts back down", w.r[k].attempts, 0);
	CHECK_INT("released: worker cleared",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE worker IS NOT NULL "
	                      "OR lease_until IS NOT NULL"),
	          0);
	int64_t since = 0;
	OK(fx, OPS(fx)->delivery_accepted_since(fx->s, post, NOW + 5, &since));
	CHECK_INT("accepted since NOW+5", since, 1);
	OK(fx, OPS(fx)->delivery_accepted_since(fx->s, post, NOW + 6, &since));
	CHECK_INT("accepted since NOW+6", since, 0);

	/* The released row is due again from its release (NOW+5): it comes after
	 * the post's last fresh row (queued at NOW); the deferred row waits. */
	k = row_of(&w, ids[3]);
	CHECK_INT("released: next_try is the release time", w.r[k].next_try, NOW + 5);
	exchange(fx, NOW + 10, NULL, 0, 8, &t);
	CHECK_INT("claimed before next_try", t.n, 2);
	CHECK_INT("the fresh row first", t.c[0].attempts, 1);
	if (t.c[0].subscriber_id == ids[0] || t.c[0].subscriber_id == ids[1] ||
	    t.c[0].subscriber_id == ids[2] || t.c[0].subscriber_id == ids[3])
		fail_msg("first claim: got subscriber %" PRId64 ", want the one never claimed",
		         t.c[0].subscriber_id);
	CHECK_INT("then the released row", t.c[1].subscriber_id, ids[3]);
	CHECK_INT("released row: attempts", t.c[1].attempts, 1);
	CHECK_INT("released row: first_try_at set again", t.c[1].first_try_at, NOW + 10);
	struct bl_delivery_result acc[MAX_CLAIM];
	size_t n = results_for(&t, BL_DELIVERY_ACCEPTED, acc);
	/* Another worker's results are stale and change nothing. */
	OK(fx, exchange_on(fx->s, "engine-2", NOW + 11, acc, n, 0, &t));
	CHECK_INT("results of another worker: stale", t.stale, 2);
	check_counts(fx, "after another worker's results", post, 0, 2, 1, 1, 1, 0, 0);
	exchange(fx, NOW + 11, acc, n, 8, &t);
	CHECK_INT("stale", t.stale, 0);
	CHECK_INT("deferred row not due yet", t.n, 0);
	CHECK_INT("post not finished: a deferred row is left", t.finished, 0);
	int64_t next = -1;
	int waiting = -1;
	OK(fx, OPS(fx)->queue_next_due(fx->s, &next, &waiting));
	CHECK_INT("queue_next_due", next, NOW + 600);
	CHECK_INT("waiting", waiting, 1);

	exchange(fx, NOW + 600, NULL, 0, 8, &t);
	CHECK_INT("deferred row claimed at next_try", t.n, 1);
	CHECK_INT("deferred row: subscriber", t.c[0].subscriber_id, ids[2]);
	CHECK_INT("deferred row: attempts", t.c[0].attempts, 2);
	CHECK_INT("deferred row: first_try_at kept", t.c[0].first_try_at, NOW);
	n = results_for(&t, BL_DELIVERY_ACCEPTED, acc);
	exchange(fx, NOW + 601, acc, n, 8, &t);
	CHECK_INT("finished with the last result", t.finished, 1);
	struct bl_post p = {0};
	RC(fx, OPS(fx)->post_get(fx->s, post, &p), 1);
	CHECK_INT("status", p.status, BL_POST_SENT);
	CHECK_INT("finished_at", p.finished_at, NOW + 601);
	bl_post_clear(&p);
	check_counts(fx, "sent", post, 0, 0, 4, 0, 1, 0, 0);
	OK(fx, OPS(fx)->queue_next_due(fx->s, &next, &waiting));
	CHECK_INT("queue_next_due when done", next, 0);
	CHECK_INT("waiting when done", waiting, 0);

	/* delivery_each pages: state filter, after_id, limit. */
	rows_of(fx, post, BL_DELIVERY_ACCEPTED, &w);
	CHECK_INT("accepted rows", w.n, 4);
	struct rows pg1 = {0};
	OK(fx, OPS(fx)->delivery_each(fx->s, post, -1, w.r[0].id, 2, on_delivery, &pg1));
	CHECK_INT("page after the first accepted row, limit 2", pg1.n, 2);
	if (pg1.r[0].id <= w.r[0].id || pg1.r[1].id <= pg1.r[0].id)
		fail_msg("delivery_each: got ids %" PRId64 ",%" PRId64 " after %" PRId64
		         ", want ascending ids after it",
		         pg1.r[0].id, pg1.r[1].id, w.r[0].id);
	RC(fx, OPS(fx)->delivery_each(fx->s, post, 17, 0, 0, on_delivery, &pg1), -BL_EINVAL);
	turn_clear(&t);
}

/* Suppression is checked at claim time: unsubscribe, blocklist and erase take effect mid-send. */
static void test_claim_suppression(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t s[6];
	char email[32];
	for (int i = 0; i < 6; i++) {
		snprintf(email, sizeof(email), "m%d@x.org", i);
		s[i] = add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	add_subscription(fx, s[4], b, BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW);
	int64_t ab[] = {a, b};
	int64_t post = make_post(fx, "mid-send", BL_PRIORITY_NORMAL, ab, 2);
	queue_post(fx, post, 6);

	/* s5 is claimed before it is erased: its row keeps going, anonymous. */
	struct turn t = {0};
	exchange(fx, NOW, NULL, 0, 1, &t);
	CHECK_INT("first claim", t.n, 1);
	CHECK_INT("first claim: s0", t.c[0].subscriber_id, s[0]);
	int64_t claimed_row = t.c[0].delivery_id;
	char hb[65];
	OK(fx, OPS(fx)->subscriber_erase(fx->s, s[0], hash_of("m0@x.org", hb), "request", NOW));

	/* An erased subscriber's rows keep their states (one claimed, one pending). */
	check_counts(fx, "after erasing a claimed subscriber", post, 5, 1, 0, 0, 0, 0, 0);
	set_subscription(fx, s[1], a, BL_SUB_UNSUBSCRIBED);
	blocklist(fx, s[2], "complained");
	OK(fx, OPS(fx)->subscriber_erase(fx->s, s[3], hash_of("m3@x.org", hb), "request", NOW));
	check_counts(fx, "after erasing a pending subscriber", post, 5, 1, 0, 0, 0, 0, 0);
	set_subscription(fx, s[4], a, BL_SUB_UNSUBSCRIBED); /* still confirmed on b */

	exchange(fx, NOW + 1, NULL, 0, 8, &t);
	CHECK_INT("claimed after the changes", t.n, 2);
	CHECK_INT("s4, confirmed on b", t.c[0].subscriber_id, s[4]);
	CHECK_INT("s4's list is now b", t.c[0].list_id, b);
	CHECK_INT("s5", t.c[1].subscriber_id, s[5]);
	check_counts(fx, "after the suppressions", post, 0, 3, 0, 0, 0, 3, 0);

	struct rows w;
	rows_of(fx, post, BL_DELIVERY_SUPPRESSED, &w);
	CHECK_INT("suppressed rows", w.n, 3);
	static const struct {
		const char *want;
	} why[] = {{"no longer confirmed"}, {"blocklisted: complained"}, {"erased"}};
	for (int i = 0; i < 3; i++) {
		if (!strstr(w.r[i].reply, why[i].want))
			fail_msg("suppressed row %d: got reply \"%s\", want it to say \"%s\"", i,
			         w.r[i].reply, why[i].want);
		CHECK_INT("suppressed rows are not attempts", w.r[i].attempts, 0);
	}
	CHECK_INT("erased row: subscriber_id", w.r[2].subscriber_id, 0);
	CHECK_STR("erased row: email", w.r[2].email, "");

	/* The claimed row of the erased subscriber still takes its result. */
	struct bl_delivery_result r = {claimed_row, BL_DELIVERY_ACCEPTED, 250, "ok", NULL, NULL, 0};
	exchange(fx, NOW + 2, &r, 1, 0, &t);
	CHECK_INT("result on an erased subscriber's row: stale", t.stale, 0);
	rows_of(fx, post, BL_DELIVERY_ACCEPTED, &w);
	CHECK_INT("accepted rows", w.n, 1);
	CHECK_INT("accepted row is anonymous", w.r[0].subscriber_id, 0);
	CHECK_INT("ledger rows kept", raw_int(fx, "SELECT count(*) FROM deliveries"), 6);
	turn_clear(&t);
}

/* A post is sent only when every row is terminal; a post with no rows is sent at once. */
static void test_post_finishes(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), empty = make_list(fx, "empty");
	add_subscriber(fx, "f1@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	add_subscriber(fx, "f2@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t post = make_post(fx, "two", BL_PRIORITY_NORMAL, &a, 1);
	int64_t none = make_post(fx, "none", BL_PRIORITY_NORMAL, &empty, 1);
	queue_post(fx, post, 2);
	queue_post(fx, none, 0);

	struct turn t = {0};
	struct bl_delivery_result r[MAX_CLAIM];
	exchange(fx, NOW, NULL, 0, 1, &t);
	CHECK_INT("finished: the post with no rows", t.finished, 1);
	CHECK_INT("status of the post with no rows", status_of(fx, none), BL_POST_SENT);
	size_t n = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	exchange(fx, NOW + 1, r, n, 0, &t); /* results only; one pending row left */
	CHECK_INT("finished with a pending row left", t.finished, 0);
	CHECK_INT("status", status_of(fx, post), BL_POST_SENDING);
	exchange(fx, NOW + 2, NULL, 0, 1, &t);
	CHECK_INT("claimed the last row", t.n, 1);
	CHECK_INT("finished with a claimed row left", t.finished, 0);
	exchange(fx, NOW + 3, NULL, 0, 1, &t); /* an empty batch does not finish it */
	CHECK_INT("empty claim", t.n, 0);
	CHECK_INT("finished after an empty claim", t.finished, 0);
	CHECK_INT("status after an empty claim", status_of(fx, post), BL_POST_SENDING);
	struct bl_delivery_result f = {0};
	f.delivery_id = raw_int(fx, "SELECT id FROM deliveries WHERE state = 'claimed'");
	f.state = BL_DELIVERY_FAILED;
	f.code = 550;
	f.reply = "5.1.1 no such user";
	exchange(fx, NOW + 4, &f, 1, 4, &t);
	CHECK_INT("finished with the last terminal row", t.finished, 1);
	CHECK_INT("status", status_of(fx, post), BL_POST_SENT);
	turn_clear(&t);
}

/* Expired claims are in doubt: queued again, flagged and counted, never skipped. */
static void test_reclaim(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	char email[32];
	for (int i = 0; i < 5; i++) {
		snprintf(email, sizeof(email), "c%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	int64_t post = make_post(fx, "crash", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, 5);
	struct turn t = {0}, u = {0};
	exchange(fx, NOW, NULL, 0, 2, &t);       /* lease NOW + 300 */
	exchange(fx, NOW + 100, NULL, 0, 2, &u); /* lease NOW + 400 */
	int64_t n = -1;
	OK(fx, OPS(fx)->delivery_reclaim(fx->s, NOW + 300, 0, &n));
	CHECK_INT("reclaimed before any lease ended", n, 0);
	OK(fx, OPS(fx)->delivery_reclaim(fx->s, NOW + 301, 0, &n));
	CHECK_INT("reclaimed: the first two leases ended", n, 2);
	check_counts(fx, "after reclaiming two", post, 3, 2, 0, 0, 0, 0, 2);
	struct rows w;
	rows_of(fx, post, BL_DELIVERY_PENDING, &w);
	int in_doubt = 0;
	for (int i = 0; i < w.n; i++)
		in_doubt += w.r[i].in_doubt;
	CHECK_INT("pending rows in doubt", in_doubt, 2);

	/* The old claims' results are stale now. */
	struct bl_delivery_result r[MAX_CLAIM];
	size_t nr = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	struct turn v = {0};
	exchange(fx, NOW + 302, r, nr, 0, &v);
	CHECK_INT("results of reclaimed claims", v.stale, 2);

	/* Reclaimed rows are due from the reclaim: after the fresh row, flagged. */
	exchange(fx, NOW + 303, NULL, 0, 3, &v);
	CHECK_INT("claimed again", v.n, 3);
	CHECK_INT("the fresh row first", v.c[0].in_doubt, 0);
	CHECK_INT("the fresh row's attempts", v.c[0].attempts, 1);
	CHECK_INT("resend 1 is in doubt", v.c[1].in_doubt, 1);
	CHECK_INT("resend 2 is in doubt", v.c[2].in_doubt, 1);
	CHECK_INT("resend attempts", v.c[1].attempts, 2);
	CHECK_INT("resend keeps first_try_at", v.c[1].first_try_at, NOW);
	CHECK_INT("resend is the same row", v.c[1].delivery_id, t.c[0].delivery_id);
	CHECK_INT("resend is the same row", v.c[2].delivery_id, t.c[1].delivery_id);

	/* all: every claim, whatever its lease (SQLite's single engine after a crash). */
	OK(fx, OPS(fx)->delivery_reclaim(fx->s, NOW + 304, 1, &n));
	CHECK_INT("reclaimed all", n, 5);
	check_counts(fx, "after reclaiming all", post, 5, 0, 0, 0, 0, 0, 7);
	struct bl_post p = {0};
	RC(fx, OPS(fx)->post_get(fx->s, post, &p), 1);
	CHECK_INT("post in_doubt", p.in_doubt, 7);
	bl_post_clear(&p);
	CHECK_INT("claims left",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE worker IS NOT "
	                      "NULL OR lease_until IS NOT NULL"),
	          0);
	turn_clear(&t);
	turn_clear(&u);
	turn_clear(&v);
}

/* Resuming a paused post makes its deferred rows due at once; another post's deferred rows
 * keep their time. */
static void test_resume_makes_deferred_due(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	char email[32];
	for (int i = 0; i < 2; i++) {
		snprintf(email, sizeof(email), "r%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	int64_t one = make_post(fx, "one", BL_PRIORITY_NORMAL, &a, 1);
	int64_t two = make_post(fx, "two", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, one, 2);
	queue_post(fx, two, 2);
	struct turn t = {0};
	exchange(fx, NOW + 1, NULL, 0, 4, &t);
	CHECK_INT("claimed", t.n, 4);
	struct bl_delivery_result r[MAX_CLAIM];
	size_t nr = results_for(&t, BL_DELIVERY_DEFERRED, r);
	for (size_t i = 0; i < nr; i++)
		r[i].next_try = NOW + 3600;
	struct turn u = {0};
	exchange(fx, NOW + 2, r, nr, 4, &u);
	CHECK_INT("nothing due before the retry time", u.n, 0);
	const unsigned from_sending = 1u << BL_POST_SENDING, from_paused = 1u << BL_POST_PAUSED;
	RC(fx,
	   OPS(fx)->post_set_status(fx->s, one, from_sending, BL_POST_PAUSED, "quota", 0, NOW + 3),
	   1);
	RC(fx,
	   OPS(fx)->post_set_status(fx->s, one, from_paused, BL_POST_SENDING, NULL, 0, NOW + 10),
	   1);
	struct turn w = {0};
	exchange(fx, NOW + 10, NULL, 0, 4, &w);
	CHECK_INT("the resumed post's deferred rows are due", w.n, 2);
	for (size_t i = 0; i < w.n; i++)
		CHECK_INT("only the resumed post's", w.c[i].post_id, one);
	turn_clear(&t);
	turn_clear(&u);
	turn_clear(&w);
}

static void test_pause_and_cancel(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	char email[32];
	for (int i = 0; i < 4; i++) {
		snprintf(email, sizeof(email), "p%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	int64_t one = make_post(fx, "one", BL_PRIORITY_BREAKING, &a, 1);
	int64_t two = make_post(fx, "two", BL_PRIORITY_NORMAL, &a, 1);
	const unsigned from_sending = 1u << BL_POST_SENDING, from_paused = 1u << BL_POST_PAUSED;
	RC(fx, OPS(fx)->post_set_status(fx->s, one, from_sending, BL_POST_PAUSED, "x", 0, NOW), 0);
	queue_post(fx, one, 4);
	queue_post(fx, two, 4);

	/* Pause: the post is not claimed; the other one is. */
	RC(fx,
	   OPS(fx)->post_set_status(fx->s, one, from_sending, BL_POST_PAUSED, "relay refused MAIL",
	                            1, NOW),
	   1);
	struct bl_post p = {0};
	RC(fx, OPS(fx)->post_get(fx->s, one, &p), 1);
	CHECK_INT("paused", p.status, BL_POST_PAUSED);
	CHECK_STR("pause_reason", p.pause_reason, "relay refused MAIL");
	CHECK_INT("auto_paused", p.auto_paused, 1);
	CHECK_INT("finished_at of a paused post", p.finished_at, 0);
	bl_post_clear(&p);
	struct turn t = {0};
	exchange(fx, NOW + 1, NULL, 0, 2, &t);
	CHECK_INT("claimed while one is paused", t.n, 2);
	CHECK_INT("from the other post", t.c[0].post_id, two);
	CHECK_INT("from the other post", t.c[1].post_id, two);
	int64_t next = -1;
	int waiting = -1;
	OK(fx, OPS(fx)->queue_next_due(fx->s, &next, &waiting));
	CHECK_INT("waiting with a paused post", waiting, 1);

	/* Resume: reason cleared, claims come from it again (higher priority). */
	RC(fx, OPS(fx)->post_set_status(fx->s, one, from_paused, BL_POST_SENDING, NULL, 0, NOW + 2),
	   1);
	RC(fx, OPS(fx)->post_get(fx->s, one, &p), 1);
	CHECK_STR("pause_reason after resuming", p.pause_reason, "");
	CHECK_INT("auto_paused after resuming", p.auto_paused, 0);
	bl_post_clear(&p);
	struct turn u = {0};
	exchange(fx, NOW + 3, NULL, 0, 1, &u);
	CHECK_INT("claimed after resuming", u.n, 1);
	CHECK_INT("from the resumed post", u.c[0].post_id, one);

	/* Cancel two while two of its rows are claimed: the other rows end now. */
	struct bl_delivery_result r[MAX_CLAIM];
	size_t nr = results_for(&t, BL_DELIVERY_DEFERRED, r);
	r[0].state = BL_DELIVERY_ACCEPTED;
	r[1].next_try = NOW + 60;
	RC(fx,
	   OPS(fx)->post_set_status(fx->s, two, from_sending | from_paused, BL_POST_CANCELLED,
	                            "wrong post", 0, NOW + 4),
	   1);
	check_counts(fx, "cancelled", two, 0, 2, 0, 0, 0, 2, 0);
	struct rows w;
	rows_of(fx, two, BL_DELIVERY_SUPPRESSED, &w);
	CHECK_STR("reply of a cancelled row", w.r[0].reply, "post cancelled");
	RC(fx, OPS(fx)->post_get(fx->s, two, &p), 1);
	CHECK_INT("status", p.status, BL_POST_CANCELLED);
	CHECK_INT("finished_at", p.finished_at, NOW + 4);
	bl_post_clear(&p);
	RC(fx,
	   OPS(fx)->post_set_status(fx->s, two, from_sending | from_paused, BL_POST_CANCELLED, NULL,
	                            0, NOW + 5),
	   0);
	/* The claimed rows' results still count; a deferral ends the row instead. */
	struct turn v = {0};
	exchange(fx, NOW + 6, r, nr, 8, &v);
	CHECK_INT("results on a cancelled post: stale", v.stale, 0);
	CHECK_INT("claims: only the resumed post", v.n, 3);
	for (size_t i = 0; i < v.n; i++)
		CHECK_INT("claimed post", v.c[i].post_id, one);
	CHECK_INT("a cancelled post never becomes sent", v.finished, 0);
	check_counts(fx, "cancelled, results in", two, 0, 0, 1, 0, 0, 3, 0);
	CHECK_INT("status stays cancelled", status_of(fx, two), BL_POST_CANCELLED);
	turn_clear(&t);
	turn_clear(&u);
	turn_clear(&v);
}

/* PostgreSQL: two engines claiming at once never get the same row. */
static void test_claim_concurrent(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	enum { ROWS = 10 };
	char email[32];
	for (int i = 0; i < ROWS; i++) {
		snprintf(email, sizeof(email), "k%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	int64_t post = make_post(fx, "race", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, ROWS);
	struct bl_store *other = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	if (bl_store_open(fx->uri, &opts, &other, &d) != 0)
		fail_msg("second handle: %s", d.msg);

	/* A claims inside a transaction it keeps open: its rows stay locked. */
	struct turn t = {0}, u = {0}, v = {0};
	OK(fx, OPS(fx)->begin(fx->s));
	OK(fx, exchange_on(fx->s, "A", NOW, NULL, 0, 4, &t));
	CHECK_INT("A claimed", t.n, 4);
	/* B does not wait for A and takes other rows. */
	int rc = exchange_on(other, "B", NOW, NULL, 0, 4, &u);
	if (rc)
		fail_msg("B's exchange: got %d (%s), want 0", rc, bl_store_error(other));
	CHECK_INT("B claimed while A's claim is open", u.n, 4);
	OK(fx, OPS(fx)->commit(fx->s));
	rc = exchange_on(other, "B", NOW, NULL, 0, 8, &v);
	if (rc)
		fail_msg("B's second exchange: got %d (%s), want 0", rc, bl_store_error(other));
	CHECK_INT("B claimed the rest", v.n, 2);
	int64_t seen[ROWS];
	size_t n = 0;
	struct turn *all[] = {&t, &u, &v};
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < all[k]->n; i++) {
			for (size_t j = 0; j < n; j++)
				if (seen[j] == all[k]->c[i].delivery_id)
					fail_msg("row %" PRId64 " claimed twice",
					         all[k]->c[i].delivery_id);
			seen[n++] = all[k]->c[i].delivery_id;
		}
	CHECK_INT("rows claimed in all", n, ROWS);
	CHECK_INT("attempts above 1",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE attempts <> 1"), 0);
	turn_clear(&t);
	turn_clear(&u);
	turn_clear(&v);
	bl_store_close(other);
}

/*
 * PostgreSQL: rows another engine claimed and then rolled back are not lost
 * behind this engine's place in the post (it walks from the start when its
 * walk comes up short).
 */
static void test_claim_rolled_back(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	enum { ROWS = 10 };
	char email[32];
	for (int i = 0; i < ROWS; i++) {
		snprintf(email, sizeof(email), "b%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	int64_t post = make_post(fx, "rollback", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, ROWS);
	struct bl_store *other = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	if (bl_store_open(fx->uri, &opts, &other, &d) != 0)
		fail_msg("second handle: %s", d.msg);
	struct turn t = {0}, u = {0};
	exchange(fx, NOW, NULL, 0, 2, &t);
	CHECK_INT("A's first claim", t.n, 2);
	if (other->ops->begin(other) != 0)
		fail_msg("B's begin: %s", bl_store_error(other));
	if (exchange_on(other, "B", NOW, NULL, 0, 2, &u) != 0)
		fail_msg("B's exchange: %s", bl_store_error(other));
	CHECK_INT("B's claim, not committed", u.n, 2);
	int64_t b_rows[2] = {u.c[0].delivery_id, u.c[1].delivery_id};
	exchange(fx, NOW, NULL, 0, 2, &t);
	CHECK_INT("A's second claim, past B's rows", t.n, 2);
	if (t.c[0].delivery_id < b_rows[1])
		fail_msg("A's second claim: got row %" PRId64 ", want one after B's %" PRId64,
		         t.c[0].delivery_id, b_rows[1]);
	if (other->ops->rollback(other) != 0)
		fail_msg("B's rollback: %s", bl_store_error(other));
	turn_clear(&u);
	exchange(fx, NOW, NULL, 0, 8, &t);
	CHECK_INT("A's third claim: the rest and B's rolled-back rows", t.n, 6);
	int found = 0;
	for (size_t i = 0; i < t.n; i++)
		found += t.c[i].delivery_id == b_rows[0] || t.c[i].delivery_id == b_rows[1];
	CHECK_INT("B's rolled-back rows claimed by A", found, 2);
	check_counts(fx, "all claimed", post, 0, ROWS, 0, 0, 0, 0, 0);
	CHECK_INT("rows claimed more than once",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE attempts <> 1"), 0);
	turn_clear(&t);
	bl_store_close(other);
}

/* PostgreSQL: engines in several processes drain one post; every row is sent once. */
static void test_engines_drain(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	enum { ROWS = 600, ENGINES = 4 };
	struct bl_import_change *ch = bl_xcalloc(ROWS, sizeof(*ch));
	char(*emails)[32] = bl_xcalloc(ROWS, sizeof(*emails));
	for (int i = 0; i < ROWS; i++) {
		snprintf(emails[i], sizeof(emails[i]), "d%04d@x.org", i);
		ch[i] = (struct bl_import_change){.insert_subscriber = 1,
		                                  .insert_subscription = 1,
		                                  .email = emails[i],
		                                  .email_key = emails[i],
		                                  .name = "",
		                                  .attributes = "{}",
		                                  .status_reason = "",
		                                  .created_at = NOW,
		                                  .sub_created_at = NOW,
		                                  .updated_at = NOW,
		                                  .list_id = a,
		                                  .sub_status = BL_SUB_CONFIRMED};
	}
	OK(fx, OPS(fx)->import_apply(fx->s, ROWS, ch));
	free(ch);
	free(emails);
	int64_t post = make_post(fx, "drain", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, ROWS);
	pid_t pid[ENGINES];
	for (int e = 0; e < ENGINES; e++) {
		pid[e] = fork();
		if (pid[e] < 0)
			fail_msg("fork: got an error, want a child");
		if (pid[e] == 0) {
			struct bl_store *s = NULL;
			struct bl_diag d = {{0}};
			struct bl_store_opts opts = {0};
			if (bl_store_open(fx->uri, &opts, &s, &d) != 0) {
				fprintf(stderr, "engine %d: %s\n", e, d.msg);
				_exit(2);
			}
			char worker[16];
			snprintf(worker, sizeof(worker), "w%d", e);
			struct turn t = {0};
			struct bl_delivery_result r[MAX_CLAIM];
			size_t nr = 0;
			for (;;) {
				if (exchange_on(s, worker, NOW, r, nr, 5, &t)) {
					fprintf(stderr, "engine %d: %s\n", e, bl_store_error(s));
					_exit(1);
				}
				if (t.stale) {
					fprintf(stderr, "engine %d: %zu stale results\n", e,
					        t.stale);
					_exit(1);
				}
				if (t.n == 0)
					break;
				nr = results_for(&t, BL_DELIVERY_ACCEPTED, r);
				for (size_t i = 0; i < nr; i++)
					r[i].relay = worker;
			}
			bl_store_close(s);
			_exit(0);
		}
	}
	int ok = 0;
	for (int e = 0; e < ENGINES; e++) {
		int status = 0;
		waitpid(pid[e], &status, 0);
		ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK_INT("engines that finished cleanly", ok, ENGINES);
	check_counts(fx, "drained", post, 0, 0, ROWS, 0, 0, 0, 0);
	CHECK_INT("rows sent more than once",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE attempts <> 1"), 0);
	printf("# %d engines: %lld of them sent rows\n", ENGINES,
	       (long long)raw_int(fx, "SELECT count(DISTINCT relay) FROM deliveries"));
	struct turn t = {0};
	exchange(fx, NOW, NULL, 0, 1, &t);
	CHECK_INT("status", status_of(fx, post), BL_POST_SENT);
}

/* SQLite: one engine per database; PostgreSQL: any number. */
static void test_engine_lock(void **state)
{
	struct fixture *fx = *state;
	OK(fx, OPS(fx)->engine_lock(fx->s, WORKER));
	OK(fx, OPS(fx)->engine_lock(fx->s, WORKER)); /* again on the same handle */
	struct bl_store *other = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	if (bl_store_open(fx->uri, &opts, &other, &d) != 0)
		fail_msg("second handle: %s", d.msg);
	int rc = other->ops->engine_lock(other, "engine-2");
	if (is_pg) {
		CHECK_INT("second engine on PostgreSQL", rc, 0);
		bl_store_close(other);
		return;
	}
	CHECK_INT("second handle in this process", rc, -BL_EBUSY);
	char want[64];
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	if (!strstr(bl_store_error(other), want) || !strstr(bl_store_error(other), fx->path))
		fail_msg("engine lock message: got \"%s\", want it to name %s and %s",
		         bl_store_error(other), want, fx->path);
	/* Another process, on a handle of its own. */
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: got an error, want a child");
	if (pid == 0) {
		struct bl_store *s = NULL;
		struct bl_diag cd = {{0}};
		if (bl_store_open(fx->uri, &opts, &s, &cd) != 0)
			_exit(2);
		_exit(s->ops->engine_lock(s, "child") == -BL_EBUSY ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK_INT("a child process's engine lock refused",
	          WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	/* Closing the holder releases it. */
	bl_store_close(fx->s);
	fx->s = NULL;
	rc = other->ops->engine_lock(other, "engine-2");
	if (rc)
		fail_msg("engine lock after the holder closed: got %d (%s), want 0", rc,
		         bl_store_error(other));
	fx->s = other;
}

extern const struct bl_embedded bl_sqlite_migrations[];
extern const struct bl_embedded bl_postgres_migrations[];

/* A database of schema 1, with data, migrates to schema 2 and sends. */
static void test_migrate_from_1(void **state)
{
	struct fixture *fx = *state;
	const struct bl_embedded *m = is_pg ? bl_postgres_migrations : bl_sqlite_migrations;
	if (strncmp(m[0].name, "001_", 4) != 0)
		fail_msg("first migration: got %s, want 001_*", m[0].name);
	raw_exec(fx, m[0].data);
	raw_exec(fx, is_pg ? "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
	                     "name text NOT NULL, applied_at timestamptz NOT NULL); "
	                     "INSERT INTO schema_migrations VALUES (1, '001_init.sql', now())"
	                   : "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
	                     "name TEXT NOT NULL, applied_at INTEGER NOT NULL); "
	                     "INSERT INTO schema_migrations VALUES (1, '001_init.sql', 0)");
	int v = -1;
	OK(fx, OPS(fx)->schema_version(fx->s, &v));
	CHECK_INT("schema version before", v, 1);
	/* Rows as a schema-1 bulletin wrote them (the store's statements are the current
	 * schema's). */
	raw_exec(fx, is_pg ? "INSERT INTO lists (slug, name, created_at, updated_at) "
	                     "VALUES ('a', 'a', now(), now())"
	                   : "INSERT INTO lists (slug, name, created_at, updated_at) "
	                     "VALUES ('a', 'a', 1, 1)");
	int64_t a = raw_int(fx, "SELECT id FROM lists WHERE slug = 'a'");
	for (int i = 1; i <= 2; i++) {
		char sql[512];
		snprintf(sql, sizeof(sql),
		         is_pg
		             ? "INSERT INTO subscribers (email, email_key, created_at, updated_at) "
		               "VALUES ('old%d@x.org', 'old%d@x.org', now(), now())"
		             : "INSERT INTO subscribers (email, email_key, created_at, updated_at) "
		               "VALUES ('old%d@x.org', 'old%d@x.org', 1, 1)",
		         i, i);
		raw_exec(fx, sql);
		snprintf(
		    sql, sizeof(sql),
		    is_pg
		        ? "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, "
		          "updated_at) SELECT id, %lld, 'confirmed', now(), now() FROM "
		          "subscribers WHERE email_key = 'old%d@x.org'"
		        : "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, "
		          "updated_at) SELECT id, %lld, 'confirmed', 1, 1 FROM subscribers "
		          "WHERE email_key = 'old%d@x.org'",
		    (long long)a, i);
		raw_exec(fx, sql);
	}
	int64_t s1 = raw_int(fx, "SELECT id FROM subscribers WHERE email_key = 'old1@x.org'");

	int from = -1, to = -1;
	OK(fx, OPS(fx)->migrate(fx->s, &from, &to));
	CHECK_INT("migrate from", from, 1);
	CHECK_INT("migrate to", to, BL_SCHEMA_VERSION);
	OK(fx, bl_store_check_schema(fx->s));
	int64_t post = make_post(fx, "after the upgrade", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, 2);
	/* Erasure keeps working, and leaves the ledger row anonymous. */
	char hb[65];
	OK(fx, OPS(fx)->subscriber_erase(fx->s, s1, hash_of("old1@x.org", hb), "request", NOW));
	CHECK_INT("ledger rows after the erasure", raw_int(fx, "SELECT count(*) FROM deliveries"),
	          2);
	CHECK_INT("anonymous ledger rows",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE subscriber_id IS NULL"), 1);
}

/* The engine's pace on a 20,000-row post: claim 8, record 8 per turn. */
static void test_exchange_rate(void **state)
{
	struct fixture *fx = *state;
	enum { ROWS = 20000, BATCH = 8, CHUNK_ROWS = 2000 };
	int64_t a = make_list(fx, "a");
	struct bl_import_change *ch = bl_xcalloc(CHUNK_ROWS, sizeof(*ch));
	char(*emails)[32] = bl_xcalloc(CHUNK_ROWS, sizeof(*emails));
	for (int base = 0; base < ROWS; base += CHUNK_ROWS) {
		for (int i = 0; i < CHUNK_ROWS; i++) {
			snprintf(emails[i], sizeof(emails[i]), "rate%06d@x.org", base + i);
			ch[i] = (struct bl_import_change){.insert_subscriber = 1,
			                                  .insert_subscription = 1,
			                                  .email = emails[i],
			                                  .email_key = emails[i],
			                                  .name = "Reader",
			                                  .attributes = "{\"plan\":\"pro\"}",
			                                  .status_reason = "",
			                                  .created_at = NOW,
			                                  .sub_created_at = NOW,
			                                  .updated_at = NOW,
			                                  .list_id = a,
			                                  .sub_status = BL_SUB_CONFIRMED};
		}
		OK(fx, OPS(fx)->import_apply(fx->s, CHUNK_ROWS, ch));
	}
	free(ch);
	free(emails);
	int64_t post = make_post(fx, "rate", BL_PRIORITY_NORMAL, &a, 1);
	double t0 = bl_monotonic();
	queue_post(fx, post, ROWS);
	double t1 = bl_monotonic();
	struct turn t = {0};
	struct bl_delivery_result r[MAX_CLAIM];
	size_t nr = 0, sent = 0, turns = 0, finished = 0;
	for (;;) {
		exchange(fx, NOW, r, nr, BATCH, &t);
		turns++;
		finished += t.finished;
		if (t.n == 0)
			break;
		sent += t.n;
		nr = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	}
	double t2 = bl_monotonic();
	printf("# %s: queued %d rows in %.3f s; %zu exchanges in %.3f s: %.0f exchanges/s, %.0f "
	       "rows/s\n",
	       BL_TEST_BACKEND, ROWS, t1 - t0, turns, t2 - t1, turns / (t2 - t1), sent / (t2 - t1));
	CHECK_INT("rows sent", sent, ROWS);
	CHECK_INT("post finished once", finished, 1);
	check_counts(fx, "after the run", post, 0, 0, ROWS, 0, 0, 0, 0);
}

/* ---- the public web (schema 3) ------------------------------------------------------------ */

static int64_t make_list_as(struct fixture *fx, const char *slug, enum bl_optin optin,
                            enum bl_visibility visibility)
{
	struct bl_list l = {.slug = (char *)slug,
	                    .name = (char *)slug,
	                    .description = "",
	                    .optin = optin,
	                    .visibility = visibility};
	OK(fx, OPS(fx)->list_create(fx->s, &l));
	return l.id;
}

#define WEB_IP "192.0.2.7"
#define WEB_UA "Mozilla/5.0 (contract test)"

/* Who asks, at @now, from @source. */
static struct bl_consent_ctx web_ctx(int64_t now, const char *source)
{
	return (struct bl_consent_ctx){
	    .now = now, .ip = WEB_IP, .user_agent = WEB_UA, .source = source};
}

/* A signup of @email (its own key) to @n lists at @now; interval one day, mail on. */
static struct bl_signup signup_of(const char *email, const int64_t *lists, size_t n, int64_t now)
{
	return (struct bl_signup){.email = email,
	                          .email_key = email,
	                          .name = NULL,
	                          .list_ids = lists,
	                          .n_lists = n,
	                          .ctx = web_ctx(now, "web:/subscribe"),
	                          .confirm_interval = 86400,
	                          .send_confirm = 1,
	                          .confirm_subject = "Confirm your subscription"};
}

/* web_signup that must succeed. */
static struct bl_signup_result do_signup(struct fixture *fx, const struct bl_signup *in)
{
	struct bl_signup_result r;
	memset(&r, 0xab, sizeof(r));
	OK(fx, OPS(fx)->web_signup(fx->s, in, &r));
	return r;
}

/* Move post @id to @to whatever its status. */
static void force_status(struct fixture *fx, int64_t id, enum bl_post_status to)
{
	RC(fx, OPS(fx)->post_set_status(fx->s, id, 0x3f, to, NULL, 0, NOW), 1);
}

/* Subscriber @sub's subscription to @list: its status, or -1 when there is none. */
static int sub_status_of(struct fixture *fx, int64_t sub, int64_t list, enum bl_mode *mode)
{
	struct seen w = {0};
	OK(fx, OPS(fx)->subscription_each(fx->s, sub, on_subscription, &w));
	for (int i = 0; i < w.n && i < MAX_SEEN; i++)
		if (w.sub[i].list_id == list) {
			if (mode)
				*mode = w.sub[i].mode;
			return (int)w.sub[i].status;
		}
	return -1;
}

/* "kind|slug,kind|slug,..." of subscriber @sub's consent events, in order. */
static const char *events_of(struct fixture *fx, int64_t sub, char *buf, size_t size)
{
	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, sub, on_consent, &w));
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < w.n && i < MAX_SEEN && len < size; i++) {
		char kind_slug[96];
		snprintf(kind_slug, sizeof(kind_slug), "%s", w.text[i]);
		/* keep "kind|slug" of "kind|slug|ip|ua|source" */
		char *bar = strchr(kind_slug, '|');
		if (bar && (bar = strchr(bar + 1, '|')))
			*bar = '\0';
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", kind_slug);
	}
	return buf;
}

/* Post @id's lists as "slug,slug" (by slug). */
static const char *lists_of(struct fixture *fx, int64_t id, char *buf, size_t size)
{
	struct seen w = {0};
	OK(fx, OPS(fx)->post_lists(fx->s, id, on_list, &w));
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < w.n && i < MAX_SEEN && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", w.text[i]);
	return buf;
}

/* What the format of a post's body is, seen by post_get */
struct formats {
	int n;
	int64_t id[8];
	enum bl_post_format format[8];
	char body[8][64];
};

static int on_post_format(void *arg, const struct bl_post *p)
{
	struct formats *f = arg;
	if (f->n < 8) {
		f->id[f->n] = p->id;
		f->format[f->n] = p->format;
		snprintf(f->body[f->n], sizeof(f->body[f->n]), "%s", p->body);
		f->n++;
	}
	return 0;
}

/* Post formats (schema 6): markdown by default; html written by post_create and
 * post_update, read back by every read of a post (post_get, post_each, post_page,
 * archive_each, archive_get); an unknown format is refused. */
static void test_post_format(void **state)
{
	struct fixture *fx = *state;
	int64_t pub = make_list(fx, "pub");
	add_subscriber(fx, "r@x.org", BL_SUBSCRIBER_ACTIVE, pub, BL_SUB_CONFIRMED, NOW);
	int64_t md = make_post(fx, "markdown", BL_PRIORITY_NORMAL, &pub, 1);
	static const char html_body[] = "<p>{{not a tag}} &amp; <b>bold</b></p>";
	struct bl_post h = {.subject = "html",
	                    .body = (char *)html_body,
	                    .from_header = "",
	                    .format = BL_POST_FORMAT_HTML};
	OK(fx, OPS(fx)->post_create(fx->s, &h, &pub, 1));
	struct bl_post got;
	RC(fx, OPS(fx)->post_get(fx->s, md, &got), 1);
	CHECK_STR("default format", bl_post_format_name(got.format), "markdown");
	bl_post_clear(&got);
	RC(fx, OPS(fx)->post_get(fx->s, h.id, &got), 1);
	CHECK_STR("post_get format", bl_post_format_name(got.format), "html");
	CHECK_STR("post_get html body", got.body, html_body);
	bl_post_clear(&got);
	CHECK_INT("stored as text", raw_int(fx, "SELECT count(*) FROM posts WHERE format = 'html'"),
	          1);

	struct formats f = {0};
	OK(fx, OPS(fx)->post_each(fx->s, on_post_format, &f));
	CHECK_INT("post_each posts", f.n, 2);
	CHECK_INT("post_each: html first (newest)", f.id[0], h.id);
	CHECK_STR("post_each format", bl_post_format_name(f.format[0]), "html");
	CHECK_STR("post_each format", bl_post_format_name(f.format[1]), "markdown");
	memset(&f, 0, sizeof(f));
	OK(fx, OPS(fx)->post_page(fx->s, BL_POST_KIND_POST, 0, 10, on_post_format, &f));
	CHECK_INT("post_page posts", f.n, 2);
	CHECK_STR("post_page format", bl_post_format_name(f.format[0]), "html");
	CHECK_STR("post_page body", f.body[0], html_body);

	/* post_update writes the format: html becomes markdown and back */
	struct bl_post u = {.id = md,
	                    .subject = "now html",
	                    .body = "<p>x</p>",
	                    .from_header = "",
	                    .format = BL_POST_FORMAT_HTML};
	RC(fx, OPS(fx)->post_update(fx->s, &u, NULL, 0), 1);
	RC(fx, OPS(fx)->post_get(fx->s, md, &got), 1);
	CHECK_STR("post_update format", bl_post_format_name(got.format), "html");
	bl_post_clear(&got);
	u.format = BL_POST_FORMAT_MARKDOWN;
	RC(fx, OPS(fx)->post_update(fx->s, &u, NULL, 0), 1);
	RC(fx, OPS(fx)->post_get(fx->s, md, &got), 1);
	CHECK_STR("post_update back", bl_post_format_name(got.format), "markdown");
	bl_post_clear(&got);

	/* the archive reads it too */
	int64_t total;
	RC(fx, OPS(fx)->post_queue(fx->s, h.id, NOW, &total), 1);
	memset(&f, 0, sizeof(f));
	RC(fx, OPS(fx)->archive_each(fx->s, 0, 0, 0, on_post_format, &f), 0);
	CHECK_INT("archive posts", f.n, 1);
	CHECK_STR("archive_each format", bl_post_format_name(f.format[0]), "html");
	RC(fx, OPS(fx)->archive_get(fx->s, h.id, &got), 1);
	CHECK_STR("archive_get format", bl_post_format_name(got.format), "html");
	bl_post_clear(&got);

	/* an unknown format: refused, nothing written */
	struct bl_post bad = {.subject = "bad", .body = "", .from_header = "", .format = 7};
	RC(fx, OPS(fx)->post_create(fx->s, &bad, &pub, 1), -BL_EINVAL);
	u.format = 7;
	RC(fx, OPS(fx)->post_update(fx->s, &u, NULL, 0), -BL_EINVAL);
	CHECK_INT("posts after the refusals", raw_int(fx, "SELECT count(*) FROM posts"), 2);
}

/* Post kinds: post_create makes posts only; reads carry the kind; post_queue sends posts only. */
static void test_post_kinds(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	add_subscriber(fx, "reader@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	static const enum bl_post_kind refused[] = {BL_POST_KIND_CONFIRM, BL_POST_KIND_DIGEST};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct bl_post q = {
		    .kind = refused[i], .subject = "x", .body = "", .from_header = ""};
		RC(fx, OPS(fx)->post_create(fx->s, &q, &a, 1), -BL_EINVAL);
	}
	CHECK_INT("posts after the refusals", raw_int(fx, "SELECT count(*) FROM posts"), 0);
	int64_t post = make_post(fx, "a post", BL_PRIORITY_NORMAL, &a, 1);
	CHECK_INT("created posts of kind post",
	          raw_int(fx, "SELECT count(*) FROM posts WHERE kind = 'post'"), 1);

	/* A confirmation post, made by a signup to a double opt-in list. */
	int64_t b = make_list(fx, "b");
	struct bl_signup in = signup_of("new@x.org", &b, 1, NOW + 5);
	struct bl_signup_result r = do_signup(fx, &in);
	int64_t confirm = r.confirm_post_id;
	if (confirm <= post)
		fail_msg("confirmation post id: got %" PRId64 ", want > %" PRId64, confirm, post);
	check_counts(fx, "a confirmation post's one row", confirm, 1, 0, 0, 0, 0, 0, 0);

	static const struct {
		const char *what;
		enum bl_post_kind kind;
	} cases[] = {
	    {"post", BL_POST_KIND_POST},
	    {"confirmation", BL_POST_KIND_CONFIRM},
	};
	int64_t ids[] = {post, confirm};
	for (size_t i = 0; i < 2; i++) {
		struct bl_post got;
		memset(&got, 0xab, sizeof(got));
		RC(fx, OPS(fx)->post_get(fx->s, ids[i], &got), 1);
		char what[64];
		snprintf(what, sizeof(what), "post_get kind of the %s", cases[i].what);
		CHECK_STR(what, bl_post_kind_name(got.kind), bl_post_kind_name(cases[i].kind));
		bl_post_clear(&got);
	}
	/* The confirmation post as web_signup makes it. */
	struct bl_post c;
	RC(fx, OPS(fx)->post_get(fx->s, confirm, &c), 1);
	CHECK_STR("confirmation post: subject", c.subject, "Confirm your subscription");
	CHECK_STR("confirmation post: body", c.body, "");
	CHECK_STR("confirmation post: from", c.from_header, "");
	CHECK_INT("confirmation post: priority", c.priority, BL_PRIORITY_TRANSACTIONAL);
	CHECK_INT("confirmation post: status", c.status, BL_POST_SENDING);
	CHECK_INT("confirmation post: created_at", c.created_at, NOW + 5);
	CHECK_INT("confirmation post: started_at", c.started_at, NOW + 5);
	CHECK_INT("confirmation post: total", c.total, 1);
	bl_post_clear(&c);
	char buf[256];
	CHECK_STR("confirmation post: lists", lists_of(fx, confirm, buf, sizeof(buf)), "b");
	struct rows rw;
	rows_of(fx, confirm, -1, &rw);
	CHECK_INT("confirmation post: rows", rw.n, 1);
	CHECK_INT("its row: subscriber", rw.r[0].subscriber_id, r.subscriber_id);
	CHECK_INT("its row: state", rw.r[0].state, BL_DELIVERY_PENDING);
	CHECK_INT("its row: next_try", rw.r[0].next_try, NOW + 5);
	CHECK_INT("its row: priority",
	          raw_int(fx, "SELECT priority FROM deliveries WHERE subscriber_id IS NOT NULL "
	                      "AND post_id = (SELECT max(id) FROM posts)"),
	          BL_PRIORITY_TRANSACTIONAL);
	CHECK_INT("the subscription it asks for", sub_status_of(fx, r.subscriber_id, b, NULL),
	          BL_SUB_UNCONFIRMED);
	CHECK_STR("the events of the signup", events_of(fx, r.subscriber_id, buf, sizeof(buf)),
	          "signup|b");

	/* post_each: every kind, newest first, each with its kind. */
	struct seen w = {0};
	OK(fx, OPS(fx)->post_each(fx->s, on_post, &w));
	CHECK_INT("post_each", w.n, 2);
	CHECK_INT("post_each: the confirmation post first", w.id[0], confirm);

	/* post_queue refuses a post of another kind, whatever its status. */
	raw_exec(fx, "UPDATE posts SET status = 'draft' WHERE kind = 'confirm'");
	int64_t total = -1;
	RC(fx, OPS(fx)->post_queue(fx->s, confirm, NOW, &total), 0);
	CHECK_INT("total untouched", total, -1);
	CHECK_INT("status after the refused queue", status_of(fx, confirm), BL_POST_DRAFT);
	CHECK_INT("rows of the confirmation post",
	          raw_int(fx, "SELECT count(*) FROM deliveries d JOIN posts p ON p.id = d.post_id "
	                      "WHERE p.kind = 'confirm'"),
	          1);
	queue_post(fx, post, 1);
}

/* How each post's status and lists decide whether the archive shows it. */
static void test_archive(void **state)
{
	struct fixture *fx = *state;
	int64_t pub = make_list(fx, "pub"), pub2 = make_list(fx, "pub2");
	int64_t priv = make_list_as(fx, "priv", BL_OPTIN_DOUBLE, BL_VISIBILITY_PRIVATE);
	add_subscriber(fx, "r@x.org", BL_SUBSCRIBER_ACTIVE, pub, BL_SUB_CONFIRMED, NOW);
	int64_t pub_priv[] = {pub, priv};
	int64_t p1 = make_post(fx, "p1 sent on pub", BL_PRIORITY_NORMAL, &pub, 1);
	int64_t p2 = make_post(fx, "p2 sent on priv", BL_PRIORITY_NORMAL, &priv, 1);
	int64_t p3 = make_post(fx, "p3 sending on pub+priv", BL_PRIORITY_BREAKING, pub_priv, 2);
	int64_t p4 = make_post(fx, "p4 paused on pub2", BL_PRIORITY_NORMAL, &pub2, 1);
	int64_t p5 = make_post(fx, "p5 draft on pub", BL_PRIORITY_NORMAL, &pub, 1);
	struct bl_post sched = {.subject = "p6 scheduled on pub",
	                        .body = "",
	                        .from_header = "",
	                        .status = BL_POST_SCHEDULED,
	                        .scheduled_at = NOW + 60};
	OK(fx, OPS(fx)->post_create(fx->s, &sched, &pub, 1));
	int64_t p7 = make_post(fx, "p7 cancelled on pub", BL_PRIORITY_NORMAL, &pub, 1);
	struct bl_signup in = signup_of("c@x.org", &pub, 1, NOW);
	int64_t confirm = do_signup(fx, &in).confirm_post_id; /* sending, on pub */
	int64_t p8 = make_post(fx, "p8 sent on pub2", BL_PRIORITY_NORMAL, &pub2, 1);
	int64_t queued[] = {p1, p2, p3, p4, p7, p8};
	for (size_t i = 0; i < sizeof(queued) / sizeof(queued[0]); i++) {
		int64_t total;
		RC(fx, OPS(fx)->post_queue(fx->s, queued[i], NOW, &total), 1);
	}
	force_status(fx, p1, BL_POST_SENT);
	force_status(fx, p2, BL_POST_SENT);
	force_status(fx, p4, BL_POST_PAUSED);
	force_status(fx, p7, BL_POST_CANCELLED);
	force_status(fx, p8, BL_POST_SENT);
	(void)p5;
	if (confirm <= 0)
		fail_msg("confirmation post: got id %" PRId64 ", want one", confirm);

	static const struct {
		const char *what;
		int list;   /* 0 none, 1 pub, 2 pub2, 3 priv */
		int before; /* index into the posts (0: none) */
		int64_t limit;
		const char *want; /* post numbers */
	} cases[] = {
	    {"public lists, newest first", 0, 0, 0, "8,4,3,1"},
	    {"first page of 2", 0, 0, 2, "8,4"},
	    {"second page of 2", 0, 4, 2, "3,1"},
	    {"after the last", 0, 1, 2, ""},
	    {"list pub", 1, 0, 0, "3,1"},
	    {"list pub, before p3", 1, 3, 5, "1"},
	    {"list pub2", 2, 0, 10, "8,4"},
	    {"a private list when asked for", 3, 0, 0, "3,2"},
	};
	int64_t by_number[9] = {0, p1, p2, p3, p4, p5, sched.id, p7, p8};
	int64_t list_of[] = {0, pub, pub2, priv};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen w = {0};
		OK(fx, OPS(fx)->archive_each(fx->s, list_of[cases[i].list],
		                             cases[i].before ? by_number[cases[i].before] : 0,
		                             cases[i].limit, on_post, &w));
		char got[128] = "";
		size_t len = 0;
		for (int k = 0; k < w.n && k < MAX_SEEN; k++) {
			int number = -1;
			for (int j = 1; j < 9; j++)
				if (by_number[j] == w.id[k])
					number = j;
			if (w.id[k] == confirm)
				number = 99;
			len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%d", k ? "," : "",
			                        number);
		}
		CHECK_STR(cases[i].what, got, cases[i].want);
	}
	/* A callback's non-zero stops the walk and is returned. */
	struct seen w = {.stop_after = 1};
	RC(fx, OPS(fx)->archive_each(fx->s, 0, 0, 0, on_post, &w), 7);
	CHECK_INT("posts seen before the stop", w.n, 1);

	/* archive_get: what archive_each with list 0 shows, with the whole post. */
	static const struct {
		int number;
		int want;
	} gets[] = {{1, 1}, {2, 0}, {3, 1}, {4, 1},  {5, 0},
	            {6, 0}, {7, 0}, {8, 1}, {99, 0}, {0, 0}};
	for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
		int64_t id = gets[i].number == 99 ? confirm
		             : gets[i].number     ? by_number[gets[i].number]
		                                  : p8 + 1000;
		struct bl_post got;
		memset(&got, 0, sizeof(got));
		int rc = OPS(fx)->archive_get(fx->s, id, &got);
		if (rc != gets[i].want)
			fail_msg("archive_get of post %d: got %d (%s), want %d", gets[i].number, rc,
			         rc < 0 ? bl_store_error(fx->s) : "-", gets[i].want);
		if (rc == 1) {
			CHECK_INT("archive_get id", got.id, id);
			CHECK_STR("archive_get kind", bl_post_kind_name(got.kind), "post");
			CHECK_STR("archive_get body", got.body, "Hello {{name}}");
			if (gets[i].number == 3) {
				CHECK_STR("archive_get subject", got.subject,
				          "p3 sending on pub+priv");
				CHECK_INT("archive_get status", got.status, BL_POST_SENDING);
				CHECK_INT("archive_get priority", got.priority,
				          BL_PRIORITY_BREAKING);
				CHECK_INT("archive_get started_at", got.started_at, NOW);
			}
			bl_post_clear(&got);
		}
	}
}

/* The metrics' counts, and the accepted rows of the last minute as time goes by. */
static void test_stats(void **state)
{
	struct fixture *fx = *state;
	struct bl_stats st;
	memset(&st, 0xab, sizeof(st));
	OK(fx, OPS(fx)->stats(fx->s, NOW, &st));
	struct bl_stats zero;
	memset(&zero, 0, sizeof(zero));
	if (memcmp(&st, &zero, sizeof(st)) != 0)
		fail_msg("stats of an empty database: got non-zero counts, want all 0");

	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t s[4];
	char email[32];
	for (int i = 0; i < 4; i++) {
		snprintf(email, sizeof(email), "st%d@x.org", i);
		s[i] = add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	add_subscription(fx, s[0], b, BL_SUB_UNCONFIRMED, BL_MODE_INSTANT, NOW);
	add_subscription(fx, s[1], b, BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT, NOW);
	add_subscriber(fx, "bl@x.org", BL_SUBSCRIBER_BLOCKLISTED, a, BL_SUB_CONFIRMED, NOW);
	add_subscriber(fx, "none@x.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW);
	int64_t post = make_post(fx, "counted", BL_PRIORITY_NORMAL, &a, 1);
	int64_t other = make_post(fx, "other", BL_PRIORITY_NORMAL, &b, 1);
	queue_post(fx, post, 4);
	queue_post(fx, other, 0); /* sending until the next turn */
	struct turn t = {0};
	exchange(fx, NOW + 10, NULL, 0, 3, &t); /* other is sent, post has 3 claimed */
	struct bl_delivery_result r[MAX_CLAIM];
	size_t nr = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	r[2].state = BL_DELIVERY_DEFERRED;
	r[2].next_try = NOW + 500;
	exchange(fx, NOW + 20, r, nr, 0, &t);

	static const struct {
		const char *what;
		int64_t at, accepted_last_minute;
	} at[] = {
	    {"at the results", NOW + 20, 2},
	    {"60 s later: the window's first second", NOW + 80, 2},
	    {"61 s later", NOW + 81, 0},
	    {"before the results", NOW + 19, 0},
	};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memset(&st, 0xab, sizeof(st));
		OK(fx, OPS(fx)->stats(fx->s, at[i].at, &st));
		char w[128];
		snprintf(w, sizeof(w), "accepted in the last minute, %s", at[i].what);
		CHECK_INT(w, st.accepted_last_minute, at[i].accepted_last_minute);
		CHECK_INT("active subscribers", st.subscribers[BL_SUBSCRIBER_ACTIVE], 5);
		CHECK_INT("blocklisted subscribers", st.subscribers[BL_SUBSCRIBER_BLOCKLISTED], 1);
		CHECK_INT("unconfirmed subscriptions", st.subscriptions[BL_SUB_UNCONFIRMED], 1);
		CHECK_INT("confirmed subscriptions", st.subscriptions[BL_SUB_CONFIRMED], 5);
		CHECK_INT("unsubscribed subscriptions", st.subscriptions[BL_SUB_UNSUBSCRIBED], 1);
		static const int64_t want[BL_DELIVERY_NSTATES] = {1, 0, 2, 1, 0, 0};
		for (int k = 0; k < BL_DELIVERY_NSTATES; k++) {
			snprintf(w, sizeof(w), "%s deliveries",
			         bl_delivery_state_name((enum bl_delivery_state)k));
			CHECK_INT(w, st.deliveries[k], want[k]);
		}
		CHECK_INT("posts sending", st.posts_sending, 1);
	}

	/* Rows accepted for a post finished since: still counted in its minute. */
	exchange(fx, NOW + 30, NULL, 0, 8, &t); /* the pending row */
	nr = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	force_status(fx, post, BL_POST_PAUSED);
	exchange(fx, NOW + 40, r, nr, 0, &t);
	force_status(fx, post, BL_POST_SENDING);
	/* The deferred row, accepted long ago (as if by another engine's clock). */
	raw_exec(fx, is_pg ? "UPDATE deliveries SET state = 'accepted', "
	                     "updated_at = to_timestamp(1699990000) WHERE state = 'deferred'"
	                   : "UPDATE deliveries SET state = 'accepted', updated_at = 1699990000 "
	                     "WHERE state = 'deferred'");
	exchange(fx, NOW + 50, NULL, 0, 8, &t);
	CHECK_INT("the post finished", status_of(fx, post), BL_POST_SENT);
	OK(fx, OPS(fx)->stats(fx->s, NOW + 60, &st));
	CHECK_INT("accepted in [NOW, NOW + 60] on a sent post", st.accepted_last_minute, 3);
	CHECK_INT("accepted rows", st.deliveries[BL_DELIVERY_ACCEPTED], 4);
	CHECK_INT("posts sending after the finish", st.posts_sending, 0);
	/* A confirmation post is a post sending too; its row is pending. */
	struct bl_signup in = signup_of("st9@x.org", &b, 1, NOW + 60);
	do_signup(fx, &in);
	OK(fx, OPS(fx)->stats(fx->s, NOW + 60, &st));
	CHECK_INT("posts sending with a confirmation post", st.posts_sending, 1);
	CHECK_INT("pending rows with a confirmation post", st.deliveries[BL_DELIVERY_PENDING], 1);
	CHECK_INT("active subscribers after the signup", st.subscribers[BL_SUBSCRIBER_ACTIVE], 6);
	turn_clear(&t);
}

/* A schema-2 database with data migrates to schema 3: its posts are of kind post. */
/* list_counts of @list must be (@uc, @c, @u) and agree with a count of the rows. */
static void check_list_counts(struct fixture *fx, const char *what, int64_t list, int64_t uc,
                              int64_t c, int64_t u)
{
	struct bl_list_counts got = {-1, -1, -1};
	OK(fx, OPS(fx)->list_counts(fx->s, list, &got));
	char w[160], sql[160];
	static const char *const names[] = {"unconfirmed", "confirmed", "unsubscribed"};
	const int64_t g[] = {got.unconfirmed, got.confirmed, got.unsubscribed}, want[] = {uc, c, u};
	for (int i = 0; i < 3; i++) {
		snprintf(w, sizeof(w), "%s: list %" PRId64 " %s", what, list, names[i]);
		CHECK_INT(w, g[i], want[i]);
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM subscriptions WHERE list_id = %" PRId64
		         " AND status = '%s'",
		         list, names[i]);
		snprintf(w, sizeof(w), "%s: list %" PRId64 " %s counted", what, list, names[i]);
		CHECK_INT(w, raw_int(fx, sql), want[i]);
	}
}

/* counts (and stats) must say @active and @blocklisted subscribers, as a count of the rows. */
static void check_subscriber_counts(struct fixture *fx, const char *what, int64_t active,
                                    int64_t blocklisted)
{
	struct bl_counts c;
	memset(&c, 0xab, sizeof(c));
	OK(fx, OPS(fx)->counts(fx->s, &c));
	char w[160];
	snprintf(w, sizeof(w), "%s: active", what);
	CHECK_INT(w, c.subscribers[BL_SUBSCRIBER_ACTIVE], active);
	CHECK_INT(w, raw_int(fx, "SELECT count(*) FROM subscribers WHERE status = 'active'"),
	          active);
	snprintf(w, sizeof(w), "%s: blocklisted", what);
	CHECK_INT(w, c.subscribers[BL_SUBSCRIBER_BLOCKLISTED], blocklisted);
	CHECK_INT(w, raw_int(fx, "SELECT count(*) FROM subscribers WHERE status = 'blocklisted'"),
	          blocklisted);
	struct bl_stats st;
	OK(fx, OPS(fx)->stats(fx->s, NOW, &st));
	snprintf(w, sizeof(w), "%s: stats active", what);
	CHECK_INT(w, st.subscribers[BL_SUBSCRIBER_ACTIVE], active);
	snprintf(w, sizeof(w), "%s: stats blocklisted", what);
	CHECK_INT(w, st.subscribers[BL_SUBSCRIBER_BLOCKLISTED], blocklisted);
}

static void test_migrate_from_2(void **state)
{
	struct fixture *fx = *state;
	const struct bl_embedded *m = is_pg ? bl_postgres_migrations : bl_sqlite_migrations;
	raw_exec(fx, m[0].data);
	raw_exec(fx, m[1].data);
	raw_exec(fx, is_pg ? "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
	                     "name text NOT NULL, applied_at timestamptz NOT NULL); "
	                     "INSERT INTO schema_migrations VALUES (1, '001_init.sql', now()), "
	                     "(2, '002_delivery.sql', now())"
	                   : "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
	                     "name TEXT NOT NULL, applied_at INTEGER NOT NULL); "
	                     "INSERT INTO schema_migrations VALUES (1, '001_init.sql', 0), "
	                     "(2, '002_delivery.sql', 0)");
	int v = -1;
	OK(fx, OPS(fx)->schema_version(fx->s, &v));
	CHECK_INT("schema version before", v, 2);
	RC(fx, bl_store_check_schema(fx->s), -BL_ESCHEMA);
	/* Schema-2 data, written with schema-2 SQL. */
	raw_exec(
	    fx, is_pg ? "INSERT INTO lists (id, slug, name, created_at, updated_at) "
	                "VALUES (1, 'a', 'A', now(), now()); "
	                "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) "
	                "VALUES (1, 'old@x.org', 'old@x.org', now(), now()); "
	                "INSERT INTO subscriptions VALUES (1, 1, 'confirmed', 'instant', now(), "
	                "now()); "
	                "INSERT INTO posts (id, subject, status, created_at, started_at, total) "
	                "VALUES (1, 'old sent', 'sent', now(), now(), 1), "
	                "(2, 'old draft', 'draft', now(), NULL, 0); "
	                "INSERT INTO post_lists VALUES (1, 1), (2, 1); "
	                "INSERT INTO deliveries (post_id, subscriber_id, state, next_try, "
	                "created_at, updated_at) VALUES (1, 1, 'accepted', now(), now(), now()); "
	                "SELECT setval('lists_id_seq', 1); SELECT setval('subscribers_id_seq', 1); "
	                "SELECT setval('posts_id_seq', 2)"
	              : "INSERT INTO lists (id, slug, name, created_at, updated_at) "
	                "VALUES (1, 'a', 'A', 1, 1); "
	                "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) "
	                "VALUES (1, 'old@x.org', 'old@x.org', 1, 1); "
	                "INSERT INTO subscriptions VALUES (1, 1, 'confirmed', 'instant', 1, 1); "
	                "INSERT INTO posts (id, subject, status, created_at, started_at, total) "
	                "VALUES (1, 'old sent', 'sent', 1, 1, 1), (2, 'old draft', 'draft', 1, "
	                "NULL, 0); "
	                "INSERT INTO post_lists VALUES (1, 1), (2, 1); "
	                "INSERT INTO deliveries (post_id, subscriber_id, state, next_try, "
	                "created_at, updated_at) VALUES (1, 1, 'accepted', 1, 1, 1)");
	int from = -1, to = -1;
	OK(fx, OPS(fx)->migrate(fx->s, &from, &to));
	CHECK_INT("migrate from", from, 2);
	CHECK_INT("migrate to", to, BL_SCHEMA_VERSION);
	OK(fx, bl_store_check_schema(fx->s));
	/* Schema 5 counted what was there before. */
	check_list_counts(fx, "counted by the upgrade", 1, 0, 1, 0);
	check_counts(fx, "deliveries counted by the upgrade", 1, 0, 0, 1, 0, 0, 0, 0);
	check_counts(fx, "no deliveries counted by the upgrade", 2, 0, 0, 0, 0, 0, 0, 0);
	check_subscriber_counts(fx, "counted by the upgrade", 1, 0);
	for (int64_t id = 1; id <= 2; id++) {
		struct bl_post p;
		RC(fx, OPS(fx)->post_get(fx->s, id, &p), 1);
		CHECK_STR("kind of a post from schema 2", bl_post_kind_name(p.kind), "post");
		bl_post_clear(&p);
	}
	struct seen w = {0};
	OK(fx, OPS(fx)->archive_each(fx->s, 0, 0, 0, on_post, &w));
	CHECK_INT("archive after the upgrade", w.n, 1);
	CHECK_STR("archived post", w.text[0], "old sent");
	/* The old draft still goes out; the subscriber's old delivery is listed. */
	queue_post(fx, 2, 1);
	struct turn t = {0};
	exchange(fx, NOW, NULL, 0, 8, &t);
	CHECK_INT("claimed after the upgrade", t.n, 1);
	turn_clear(&t);
	struct rows r;
	memset(&r, 0, sizeof(r));
	OK(fx, OPS(fx)->subscriber_deliveries_each(fx->s, 1, on_delivery, &r));
	CHECK_INT("deliveries of the old subscriber", r.n, 2);
	/* A signup works on the upgraded database. */
	int64_t one = 1;
	struct bl_signup in = signup_of("new@x.org", &one, 1, NOW);
	struct bl_signup_result res = do_signup(fx, &in);
	CHECK_INT("signup on the upgraded database: created", res.created, 1);
	if (res.confirm_post_id <= 2)
		fail_msg("confirmation post after the upgrade: got %" PRId64 ", want > 2",
		         res.confirm_post_id);
	/* Schema 7 on the upgraded data: the old accepted row bounces, a probe post is made
	 * (posts.kind allows 'probe' now, and nothing else new). */
	struct bl_bounce_policy pol = {.hard_limit = 1, .soft_limit = 1, .soft_window = 86400};
	struct bl_bounce_event ev = {.report_key = "upgrade",
	                             .cls = BL_BOUNCE_SOFT,
	                             .final = 1,
	                             .post_id = 1,
	                             .subscriber_id = 1,
	                             .attributed_by = "verp"};
	struct bl_bounce_outcome o = {0};
	OK(fx, OPS(fx)->bounce_record(fx->s, &ev, &pol, NOW, &o));
	CHECK_STR("bounce on the upgraded database", o.action, "probe");
	struct bl_delivery_counts dc;
	OK(fx, OPS(fx)->delivery_counts(fx->s, 1, &dc));
	CHECK_INT("old post: bounced rows", dc.n[BL_DELIVERY_BOUNCED], 1);
	if (raw_try(fx, "UPDATE posts SET kind = 'bogus' WHERE id = 2") == 0)
		fail_msg("kind 'bogus' after the upgrade: got accepted, want refused");
	if (!is_pg)
		CHECK_INT("integrity after the upgrade",
		          raw_int(fx, "SELECT count(*) FROM pragma_integrity_check "
		                      "WHERE integrity_check = 'ok'"),
		          1);
}

/* Rows of table @table (a count through the raw connection). */
static int64_t rows_in(struct fixture *fx, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return raw_int(fx, sql);
}

/* The row counts a refused operation must leave as they were. */
struct census {
	int64_t subscribers, subscriptions, events, posts, deliveries, suppressions;
};

static struct census census_of(struct fixture *fx)
{
	return (struct census){rows_in(fx, "subscribers"),    rows_in(fx, "subscriptions"),
	                       rows_in(fx, "consent_events"), rows_in(fx, "posts"),
	                       rows_in(fx, "deliveries"),     rows_in(fx, "suppressions")};
}

static void check_census(struct fixture *fx, const char *what, struct census before)
{
	struct census now = census_of(fx);
	char w[160];
	static const char *const names[] = {"subscribers", "subscriptions", "consent events",
	                                    "posts",       "deliveries",    "suppressions"};
	const int64_t *a = &before.subscribers, *b = &now.subscribers;
	for (int i = 0; i < 6; i++) {
		snprintf(w, sizeof(w), "%s: %s", what, names[i]);
		CHECK_INT(w, b[i], a[i]);
	}
}

/* The number of confirmation posts. */
static int64_t confirm_posts(struct fixture *fx)
{
	return raw_int(fx, "SELECT count(*) FROM posts WHERE kind = 'confirm'");
}

/*
 * web_signup, one case per row: the subscriber's state before (on lists d:
 * double opt-in and s: single opt-in), the lists asked for, and what must
 * come of it.
 */
static void test_signup(void **state)
{
	enum { NONE = -1 };
	static const struct {
		const char *what;
		int exists, blocklisted;
		const char *name_before; /* when it exists */
		int d_before, s_before;  /* enum bl_sub_status, or NONE */
		enum bl_mode d_mode;     /* of the existing subscription to d */
		const char *lists;       /* "d", "s", "ds", "dd", ... */
		const char *name;        /* given with the signup */
		/* wanted */
		int created, subscribed, pending, already, mail, blocked;
		int d_after, s_after;
		enum bl_mode d_mode_after;
		const char *events; /* the events this signup adds */
		const char *name_after;
	} cases[] = {
	    {"new address, double opt-in",
	     0,
	     0,
	     NULL,
	     NONE,
	     NONE,
	     0,
	     "d",
	     NULL,
	     1,
	     0,
	     1,
	     0,
	     1,
	     0,
	     BL_SUB_UNCONFIRMED,
	     NONE,
	     BL_MODE_INSTANT,
	     "signup|d",
	     ""},
	    {"new address, single opt-in",
	     0,
	     0,
	     NULL,
	     NONE,
	     NONE,
	     0,
	     "s",
	     "Ann",
	     1,
	     1,
	     0,
	     0,
	     0,
	     0,
	     NONE,
	     BL_SUB_CONFIRMED,
	     0,
	     "signup|s,confirm|s",
	     "Ann"},
	    {"new address, both kinds",
	     0,
	     0,
	     NULL,
	     NONE,
	     NONE,
	     0,
	     "sd",
	     "",
	     1,
	     1,
	     1,
	     0,
	     1,
	     0,
	     BL_SUB_UNCONFIRMED,
	     BL_SUB_CONFIRMED,
	     BL_MODE_INSTANT,
	     "signup|s,confirm|s,signup|d",
	     ""},
	    {"a list given twice counts once",
	     0,
	     0,
	     NULL,
	     NONE,
	     NONE,
	     0,
	     "dd",
	     NULL,
	     1,
	     0,
	     1,
	     0,
	     1,
	     0,
	     BL_SUB_UNCONFIRMED,
	     NONE,
	     BL_MODE_INSTANT,
	     "signup|d",
	     ""},
	    {"confirmed is never downgraded",
	     1,
	     0,
	     "Old",
	     BL_SUB_CONFIRMED,
	     BL_SUB_CONFIRMED,
	     BL_MODE_DAILY,
	     "ds",
	     "New",
	     0,
	     0,
	     0,
	     2,
	     0,
	     0,
	     BL_SUB_CONFIRMED,
	     BL_SUB_CONFIRMED,
	     BL_MODE_DAILY,
	     "",
	     "Old"},
	    {"unsubscribed is revived (double)",
	     1,
	     0,
	     "",
	     BL_SUB_UNSUBSCRIBED,
	     NONE,
	     BL_MODE_WEEKLY,
	     "d",
	     "Bob",
	     0,
	     0,
	     1,
	     0,
	     1,
	     0,
	     BL_SUB_UNCONFIRMED,
	     NONE,
	     BL_MODE_INSTANT,
	     "signup|d",
	     "Bob"},
	    {"unsubscribed is revived (single)",
	     1,
	     0,
	     "",
	     NONE,
	     BL_SUB_UNSUBSCRIBED,
	     0,
	     "s",
	     NULL,
	     0,
	     1,
	     0,
	     0,
	     0,
	     0,
	     NONE,
	     BL_SUB_CONFIRMED,
	     0,
	     "signup|s,confirm|s",
	     ""},
	    {"still unconfirmed: asked again, mode kept",
	     1,
	     0,
	     "",
	     BL_SUB_UNCONFIRMED,
	     NONE,
	     BL_MODE_DAILY,
	     "d",
	     NULL,
	     0,
	     0,
	     1,
	     0,
	     1,
	     0,
	     BL_SUB_UNCONFIRMED,
	     NONE,
	     BL_MODE_DAILY,
	     "signup|d",
	     ""},
	    {"unconfirmed on a single opt-in list",
	     1,
	     0,
	     "",
	     NONE,
	     BL_SUB_UNCONFIRMED,
	     0,
	     "s",
	     NULL,
	     0,
	     1,
	     0,
	     0,
	     0,
	     0,
	     NONE,
	     BL_SUB_CONFIRMED,
	     0,
	     "signup|s,confirm|s",
	     ""},
	    {"blocklisted: nothing changes",
	     1,
	     1,
	     "",
	     BL_SUB_UNSUBSCRIBED,
	     NONE,
	     0,
	     "ds",
	     "X",
	     0,
	     0,
	     0,
	     0,
	     0,
	     1,
	     BL_SUB_UNSUBSCRIBED,
	     NONE,
	     0,
	     "",
	     ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture *fx = NULL;
		setup((void **)&fx);
		int64_t d = make_list_as(fx, "d", BL_OPTIN_DOUBLE, BL_VISIBILITY_PUBLIC);
		int64_t sl = make_list_as(fx, "s", BL_OPTIN_SINGLE, BL_VISIBILITY_PRIVATE);
		const char *email = "case@x.org";
		int64_t id = 0;
		if (cases[i].exists) {
			id = add_subscriber(fx, email,
			                    cases[i].blocklisted ? BL_SUBSCRIBER_BLOCKLISTED
			                                         : BL_SUBSCRIBER_ACTIVE,
			                    0, 0, NOW - 100);
			if (*cases[i].name_before) {
				struct bl_import_change c = {
				    .subscriber_id = id,
				    .update_subscriber = 1,
				    .name = cases[i].name_before,
				    .attributes = "{}",
				    .status = cases[i].blocklisted ? BL_SUBSCRIBER_BLOCKLISTED
				                                   : BL_SUBSCRIBER_ACTIVE,
				    .status_reason = "",
				    .updated_at = NOW - 100};
				OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
			}
			if (cases[i].d_before != NONE)
				add_subscription(fx, id, d, (enum bl_sub_status)cases[i].d_before,
				                 cases[i].d_mode, NOW - 100);
			if (cases[i].s_before != NONE)
				add_subscription(fx, id, sl, (enum bl_sub_status)cases[i].s_before,
				                 BL_MODE_INSTANT, NOW - 100);
		}
		int64_t lists[4];
		size_t n = 0;
		for (const char *c = cases[i].lists; *c; c++)
			lists[n++] = *c == 'd' ? d : sl;
		char before_events[512];
		events_of(fx, id, before_events, sizeof(before_events));
		int64_t posts_before = rows_in(fx, "posts");
		struct bl_signup in = signup_of(email, lists, n, NOW);
		in.name = cases[i].name;
		struct bl_signup_result r = do_signup(fx, &in);

		char w[200];
#define CASE_INT(field, got, want)                                                                 \
	do {                                                                                       \
		snprintf(w, sizeof(w), "%s: %s", cases[i].what, field);                            \
		CHECK_INT(w, got, want);                                                           \
	} while (0)
#define CASE_STR(field, got, want)                                                                 \
	do {                                                                                       \
		snprintf(w, sizeof(w), "%s: %s", cases[i].what, field);                            \
		CHECK_STR(w, got, want);                                                           \
	} while (0)
		CASE_INT("created", r.created, cases[i].created);
		CASE_INT("n_subscribed", r.n_subscribed, cases[i].subscribed);
		CASE_INT("n_pending", r.n_pending, cases[i].pending);
		CASE_INT("n_already", r.n_already, cases[i].already);
		CASE_INT("blocklisted", r.blocklisted, cases[i].blocked);
		CASE_INT("throttled", r.throttled, 0);
		CASE_INT("a confirmation post", r.confirm_post_id != 0, cases[i].mail);
		CASE_INT("posts made", rows_in(fx, "posts") - posts_before, cases[i].mail);
		struct bl_subscriber sub;
		RC(fx, OPS(fx)->subscriber_get(fx->s, email, &sub), 1);
		CASE_INT("subscriber_id", r.subscriber_id, cases[i].blocked ? 0 : sub.id);
		if (cases[i].exists)
			CASE_INT("the same subscriber", sub.id, id);
		CASE_STR("name", sub.name, cases[i].name_after);
		CASE_STR("email", sub.email, email);
		CASE_INT("status", sub.status,
		         cases[i].blocked ? BL_SUBSCRIBER_BLOCKLISTED : BL_SUBSCRIBER_ACTIVE);
		if (cases[i].created) {
			CASE_INT("created_at", sub.created_at, NOW);
			CASE_STR("attributes", sub.attributes, "{}");
		}
		enum bl_mode mode = (enum bl_mode) - 1;
		CASE_INT("status on d", sub_status_of(fx, sub.id, d, &mode), cases[i].d_after);
		if (cases[i].d_after != NONE)
			CASE_INT("mode on d", mode, cases[i].d_mode_after);
		CASE_INT("status on s", sub_status_of(fx, sub.id, sl, &mode), cases[i].s_after);
		if (cases[i].s_after != NONE)
			CASE_INT("mode on s", mode, BL_MODE_INSTANT);
		char after[512], want[1100];
		events_of(fx, sub.id, after, sizeof(after));
		snprintf(want, sizeof(want), "%s%s%s", before_events,
		         *before_events && *cases[i].events ? "," : "", cases[i].events);
		CASE_STR("events", after, want);
		if (r.confirm_post_id) {
			char buf[64];
			CASE_STR("lists of the confirmation post",
			         lists_of(fx, r.confirm_post_id, buf, sizeof(buf)), "d");
			struct rows rw;
			rows_of(fx, r.confirm_post_id, -1, &rw);
			CASE_INT("rows of the confirmation post", rw.n, 1);
			CASE_INT("its subscriber", rw.r[0].subscriber_id, sub.id);
		}
		bl_subscriber_clear(&sub);
#undef CASE_INT
#undef CASE_STR
		teardown((void **)&fx);
	}
}

/* The events a signup writes carry the request's IP, user agent (cut) and source. */
static void test_signup_context(void **state)
{
	struct fixture *fx = *state;
	int64_t d = make_list(fx, "d");
	/* 498 bytes of 'a', then "é" (2 bytes) twice: the cut falls inside the second. */
	char ua[BL_USER_AGENT_MAX + 64];
	memset(ua, 'a', 498);
	snprintf(ua + 498, sizeof(ua) - 498, "\xc3\xa9\xc3\xa9 and more");
	struct bl_signup in = signup_of("ctx@x.org", &d, 1, NOW + 7);
	in.ctx.user_agent = ua;
	in.ctx.ip = "2001:db8::1";
	struct bl_signup_result r = do_signup(fx, &in);
	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, r.subscriber_id, on_consent, &w));
	CHECK_INT("events", w.n, 1);
	CHECK_INT("event time", w.ev[0].at, NOW + 7);
	CHECK_INT("event list", w.ev[0].list_id, d);
	CHECK_INT("event kind", w.ev[0].kind, BL_CONSENT_SIGNUP);
	char want_ua[BL_USER_AGENT_MAX + 1];
	memcpy(want_ua, ua, 500);
	want_ua[500] = '\0';
	char sql[128];
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM consent_events WHERE subscriber_id = %" PRId64
	         " AND ip = '2001:db8::1' AND source = 'web:/subscribe'",
	         r.subscriber_id);
	CHECK_INT("ip and source", raw_int(fx, sql), 1);
	snprintf(sql, sizeof(sql),
	         "SELECT %s(user_agent) FROM consent_events WHERE subscriber_id = %" PRId64,
	         is_pg ? "octet_length" : "length(CAST(user_agent AS BLOB)) + 0*length",
	         r.subscriber_id);
	CHECK_INT("user agent bytes: cut at 500 on a UTF-8 boundary", raw_int(fx, sql), 500);
	/* The exact stored text: 498 'a' and one "é". */
	char exact[BL_USER_AGENT_MAX + 200];
	snprintf(exact, sizeof(exact),
	         "SELECT count(*) FROM consent_events WHERE user_agent = '%.498s\xc3\xa9'", ua);
	CHECK_INT("stored user agent: 498 a and one é", raw_int(fx, exact), 1);
	/* NULL strings read as "". */
	struct bl_signup bare = signup_of("bare@x.org", &d, 1, NOW);
	bare.ctx.ip = bare.ctx.user_agent = bare.ctx.source = NULL;
	r = do_signup(fx, &bare);
	memset(&w, 0, sizeof(w));
	OK(fx, OPS(fx)->consent_each(fx->s, r.subscriber_id, on_consent, &w));
	CHECK_STR("event without context", w.text[0], "signup|d|||");
}

/* Refusals write nothing. */
static void test_signup_refused(void **state)
{
	struct fixture *fx = *state;
	int64_t d = make_list(fx, "d");
	int64_t known = add_subscriber(fx, "known@x.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW);
	(void)known;
	struct census before = census_of(fx);
	int64_t bad[] = {d, d + 100};
	static const struct {
		const char *what, *email;
		int n;
		int want;
	} cases[] = {
	    {"an unknown list", "new@x.org", 2, -BL_ENOENT},
	    {"an unknown list, a known address", "known@x.org", 2, -BL_ENOENT},
	    {"an empty address", "", 1, -BL_EINVAL},
	    {"no address", NULL, 1, -BL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_signup in = signup_of(cases[i].email, bad, (size_t)cases[i].n, NOW);
		struct bl_signup_result r;
		memset(&r, 0x5a, sizeof(r));
		int rc = OPS(fx)->web_signup(fx->s, &in, &r);
		if (rc != cases[i].want)
			fail_msg("%s: got %d (%s), want %d", cases[i].what, rc,
			         bl_store_error(fx->s), cases[i].want);
		check_census(fx, cases[i].what, before);
	}
	if (!strstr(bl_store_error(fx->s), "address"))
		fail_msg("message: got \"%s\", want it to name the address", bl_store_error(fx->s));
	struct bl_signup in = signup_of("new@x.org", bad, 2, NOW);
	OPS(fx)->web_signup(fx->s, &in, &(struct bl_signup_result){0});
	char want[32];
	snprintf(want, sizeof(want), "%" PRId64, d + 100);
	if (!strstr(bl_store_error(fx->s), want))
		fail_msg("unknown list message: got \"%s\", want it to name %s",
		         bl_store_error(fx->s), want);
	/* Inside the caller's transaction a refusal undoes only itself. */
	OK(fx, OPS(fx)->begin(fx->s));
	struct bl_signup ok = signup_of("in-tx@x.org", &d, 1, NOW);
	do_signup(fx, &ok);
	RC(fx, OPS(fx)->web_signup(fx->s, &in, &(struct bl_signup_result){0}), -BL_ENOENT);
	OK(fx, OPS(fx)->commit(fx->s));
	CHECK_INT("subscribers after the transaction", rows_in(fx, "subscribers"),
	          before.subscribers + 1);
}

/* An erased address comes back on new consent; its suppression goes only with a confirmation. */
/* Ids of erased subscribers and removed lists are never given again (signed links carry
 * them): not by a signup, not by an import, not by list_create. */
static void test_ids_not_reused(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	int64_t last_list = make_list(fx, "gone");
	add_subscriber(fx, "first@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t newest =
	    add_subscriber(fx, "newest@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	char hb[65];
	OK(fx,
	   OPS(fx)->subscriber_erase(fx->s, newest, hash_of("newest@x.org", hb), "request", NOW));
	/* an import (the store's own id sequence) */
	int64_t imported =
	    add_subscriber(fx, "imported@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	if (imported <= newest)
		fail_msg("import after erasing id %lld: got id %lld, want a new one",
		         (long long)newest, (long long)imported);
	OK(fx, OPS(fx)->subscriber_erase(fx->s, imported, hash_of("imported@x.org", hb), "request",
	                                 NOW));
	/* a web signup */
	struct bl_signup in = {.email = "web@x.org",
	                       .email_key = "web@x.org",
	                       .list_ids = &a,
	                       .n_lists = 1,
	                       .ctx = {.now = NOW, .ip = "", .user_agent = "", .source = "test"},
	                       .confirm_interval = 86400,
	                       .send_confirm = 0,
	                       .confirm_subject = "c"};
	struct bl_signup_result r;
	OK(fx, OPS(fx)->web_signup(fx->s, &in, &r));
	if (r.subscriber_id <= imported)
		fail_msg("signup after erasing id %lld: got id %lld, want a new one",
		         (long long)imported, (long long)r.subscriber_id);
	/* lists */
	OK(fx, OPS(fx)->list_delete(fx->s, "gone"));
	int64_t fresh = make_list(fx, "fresh");
	if (fresh <= last_list)
		fail_msg("list after removing id %lld: got id %lld, want a new one",
		         (long long)last_list, (long long)fresh);
}

static void test_signup_erased(void **state)
{
	struct fixture *fx = *state;
	int64_t d = make_list(fx, "d");
	int64_t sl = make_list_as(fx, "s", BL_OPTIN_SINGLE, BL_VISIBILITY_PUBLIC);
	char h1[BL_HASH_HEX], h2[BL_HASH_HEX];
	bl_suppression_hash("gone@x.org", h1);
	bl_suppression_hash("gone2@x.org", h2);
	int64_t old =
	    add_subscriber(fx, "gone@x.org", BL_SUBSCRIBER_ACTIVE, d, BL_SUB_CONFIRMED, NOW - 1000);
	OK(fx, OPS(fx)->subscriber_erase(fx->s, old, h1, "request", NOW - 900));
	int64_t old2 = add_subscriber(fx, "gone2@x.org", BL_SUBSCRIBER_ACTIVE, d, BL_SUB_CONFIRMED,
	                              NOW - 1000);
	OK(fx, OPS(fx)->subscriber_erase(fx->s, old2, h2, "request", NOW - 900));

	/* Double opt-in: a new subscriber, still suppressed until it confirms. */
	struct bl_signup in = signup_of("gone@x.org", &d, 1, NOW);
	struct bl_signup_result r = do_signup(fx, &in);
	CHECK_INT("created again", r.created, 1);
	CHECK_INT("pending", r.n_pending, 1);
	RC(fx, OPS(fx)->suppression_get(fx->s, h1, NULL), 1);
	struct bl_consent_ctx ctx = web_ctx(NOW + 60, "web:/confirm");
	int64_t n = -1;
	RC(fx, OPS(fx)->web_confirm(fx->s, r.subscriber_id, r.confirm_post_id, &ctx, &n), 1);
	CHECK_INT("confirmed", n, 1);
	RC(fx, OPS(fx)->suppression_get(fx->s, h1, NULL), 0);

	/* Single opt-in: anyone could have typed an erased address, so it waits for a
	 * confirmation like a double opt-in one; then the entry goes. */
	in = signup_of("gone2@x.org", &sl, 1, NOW);
	r = do_signup(fx, &in);
	CHECK_INT("single opt-in, erased address: subscribed", r.n_subscribed, 0);
	CHECK_INT("single opt-in, erased address: pending", r.n_pending, 1);
	if (r.confirm_post_id == 0)
		fail_msg("single opt-in, erased address: no confirmation post");
	RC(fx, OPS(fx)->suppression_get(fx->s, h2, NULL), 1);
	RC(fx, OPS(fx)->web_confirm(fx->s, r.subscriber_id, r.confirm_post_id, &ctx, &n), 1);
	CHECK_INT("single opt-in, erased address: confirmed", n, 1);
	RC(fx, OPS(fx)->suppression_get(fx->s, h2, NULL), 0);
	/* The other addresses' entries are not touched. */
	char h3[BL_HASH_HEX];
	bl_suppression_hash("other@x.org", h3);
	OK(fx, OPS(fx)->suppression_add(fx->s, h3, "request", NOW));
	in = signup_of("third@x.org", &sl, 1, NOW);
	do_signup(fx, &in);
	RC(fx, OPS(fx)->suppression_get(fx->s, h3, NULL), 1);
}

/* At most one confirmation mail per subscriber per confirm_interval; resends; send_confirm 0. */
static void test_signup_throttle(void **state)
{
	struct fixture *fx = *state;
	int64_t d = make_list(fx, "d"), e = make_list(fx, "e");
	int64_t sl = make_list_as(fx, "s", BL_OPTIN_SINGLE, BL_VISIBILITY_PUBLIC);
	const int64_t day = 86400;
	static const struct {
		const char *what;
		const char *email;
		int64_t at;        /* seconds after NOW */
		const char *lists; /* "" is a resend */
		int send_confirm;
		int64_t interval;
		/* wanted */
		int64_t subscriber; /* 1: the first address's id, 0: none */
		int pending, mail, throttled;
		const char *mail_lists;
	} steps[] = {
	    {"first signup", "t@x.org", 0, "d", 1, 86400, 1, 1, 1, 0, "d"},
	    {"again at once", "t@x.org", 1, "d", 1, 86400, 1, 1, 0, 1, NULL},
	    {"another list, same day", "t@x.org", 100, "e", 1, 86400, 1, 1, 0, 1, NULL},
	    {"a resend, same day", "t@x.org", 200, "", 1, 86400, 1, 2, 0, 1, NULL},
	    {"a second before the day is over", "t@x.org", 86399, "d", 1, 86400, 1, 1, 0, 1, NULL},
	    {"a single opt-in list: no mail due", "t@x.org", 86399, "s", 1, 86400, 1, 0, 0, 0,
	     NULL},
	    {"another address is not throttled", "u@x.org", 300, "d", 1, 86400, 0, 1, 1, 0, "d"},
	    {"a day later: a resend asks for both", "t@x.org", 86400, "", 1, 86400, 1, 2, 1, 0,
	     "d,e"},
	    {"send_confirm 0: no mail, not throttled", "t@x.org", 3 * 86400, "", 0, 86400, 1, 2, 0,
	     0, NULL},
	    {"interval 0: never throttled", "t@x.org", 86401, "e", 1, 0, 1, 1, 1, 0, "e"},
	    {"a resend for an unknown address", "nobody@x.org", 0, "", 1, 86400, 0, 0, 0, 0, NULL},
	};
	int64_t first = 0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int64_t lists[4];
		size_t n = 0;
		for (const char *c = steps[i].lists; *c; c++)
			lists[n++] = *c == 'd' ? d : *c == 'e' ? e : sl;
		struct bl_signup in = signup_of(steps[i].email, lists, n, NOW + steps[i].at);
		in.send_confirm = steps[i].send_confirm;
		in.confirm_interval = steps[i].interval;
		int64_t mails = confirm_posts(fx);
		struct census before = census_of(fx);
		struct bl_signup_result r = do_signup(fx, &in);
		if (i == 0)
			first = r.subscriber_id;
		char w[160];
		snprintf(w, sizeof(w), "%s: n_pending", steps[i].what);
		CHECK_INT(w, r.n_pending, steps[i].pending);
		snprintf(w, sizeof(w), "%s: a mail", steps[i].what);
		CHECK_INT(w, r.confirm_post_id != 0, steps[i].mail);
		CHECK_INT(w, confirm_posts(fx) - mails, steps[i].mail);
		snprintf(w, sizeof(w), "%s: throttled", steps[i].what);
		CHECK_INT(w, r.throttled, steps[i].throttled);
		snprintf(w, sizeof(w), "%s: subscriber", steps[i].what);
		if (steps[i].subscriber)
			CHECK_INT(w, r.subscriber_id, first);
		else if (*steps[i].lists)
			CHECK_INT(w, r.subscriber_id != first && r.subscriber_id > 0, 1);
		else
			CHECK_INT(w, r.subscriber_id, 0);
		if (steps[i].mail_lists) {
			char buf[64];
			snprintf(w, sizeof(w), "%s: the mail's lists", steps[i].what);
			CHECK_STR(w, lists_of(fx, r.confirm_post_id, buf, sizeof(buf)),
			          steps[i].mail_lists);
		}
		if (!*steps[i].lists && !steps[i].subscriber) {
			snprintf(w, sizeof(w), "%s", steps[i].what);
			check_census(fx, w, before);
		}
	}
	(void)day;
	/* A resend of a blocklisted subscriber says so and sends nothing. */
	blocklist(fx, first, "complained");
	int64_t mails = confirm_posts(fx);
	struct bl_signup in = signup_of("t@x.org", NULL, 0, NOW + 10 * 86400);
	struct bl_signup_result r = do_signup(fx, &in);
	CHECK_INT("resend, blocklisted: blocklisted", r.blocklisted, 1);
	CHECK_INT("resend, blocklisted: subscriber_id", r.subscriber_id, 0);
	CHECK_INT("resend, blocklisted: mails", confirm_posts(fx), mails);
}

/* 50 signups of one address at once, each on a handle (connection) of its own. */
struct racer {
	const char *uri, *email, *key;
	int64_t list;
	pthread_barrier_t *gate;
	int rc;
	struct bl_signup_result r;
	char error[BL_DIAG_MAX + 16];
};

static void *race_signup(void *arg)
{
	struct racer *x = arg;
	struct bl_store *s = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	x->rc = bl_store_open(x->uri, &opts, &s, &d);
	if (x->rc)
		snprintf(x->error, sizeof(x->error), "open: %s", d.msg);
	pthread_barrier_wait(x->gate);
	if (x->rc)
		return NULL;
	struct bl_signup in = signup_of(x->email, &x->list, 1, NOW);
	in.email_key = x->key;
	x->rc = s->ops->web_signup(s, &in, &x->r);
	if (x->rc)
		snprintf(x->error, sizeof(x->error), "%s", bl_store_error(s));
	bl_store_close(s);
	return NULL;
}

/*
 * A new address (the first insert holds the others back), then an address
 * that exists and is pending already (only the serialisation of signups
 * keeps two of them from each finding no recent confirmation mail and
 * making one).
 */
static void test_signup_concurrent(void **state)
{
	struct fixture *fx = *state;
	enum { N = 50 };
	int64_t d = make_list(fx, "d");
	/* Pending on d already (imported unconfirmed): the signups write no subscription row,
	 * whose lock would line them up too. */
	int64_t old =
	    add_subscriber(fx, "old@x.org", BL_SUBSCRIBER_ACTIVE, d, BL_SUB_UNCONFIRMED, NOW - 100);
	static const struct {
		const char *what, *email, *key;
		int exists;
	} rounds[] = {
	    {"a new address", "Race@x.org", "race@x.org", 0},
	    {"an existing subscriber", "old@x.org", "old@x.org", 1},
	};
	for (size_t k = 0; k < 2; k++) {
		pthread_barrier_t gate;
		pthread_barrier_init(&gate, NULL, N);
		struct racer x[N];
		pthread_t th[N];
		int64_t events = rows_in(fx, "consent_events"), subs = rows_in(fx, "subscribers");
		int64_t mails_before = confirm_posts(fx);
		for (int i = 0; i < N; i++) {
			x[i] = (struct racer){.uri = fx->uri,
			                      .email = rounds[k].email,
			                      .key = rounds[k].key,
			                      .list = d,
			                      .gate = &gate};
			if (pthread_create(&th[i], NULL, race_signup, &x[i]) != 0)
				fail_msg("pthread_create %d: got an error, want a thread", i);
		}
		int ok = 0, created = 0, mails = 0, throttled = 0;
		for (int i = 0; i < N; i++) {
			pthread_join(th[i], NULL);
			if (x[i].rc != 0)
				printf("# %s, signup %d: got %d (%s)\n", rounds[k].what, i, x[i].rc,
				       x[i].error);
			ok += x[i].rc == 0;
			created += x[i].r.created;
			mails += x[i].r.confirm_post_id != 0;
			throttled += x[i].r.throttled;
		}
		pthread_barrier_destroy(&gate);
		char w[160];
#define ROUND_INT(field, got, want)                                                                \
	do {                                                                                       \
		snprintf(w, sizeof(w), "%s: %s", rounds[k].what, field);                           \
		CHECK_INT(w, got, want);                                                           \
	} while (0)
		ROUND_INT("signups that returned 0", ok, N);
		ROUND_INT("subscribers", rows_in(fx, "subscribers") - subs,
		          rounds[k].exists ? 0 : 1);
		ROUND_INT("signups that created it", created, rounds[k].exists ? 0 : 1);
		ROUND_INT("confirmation posts", confirm_posts(fx) - mails_before, 1);
		ROUND_INT("signups that made the mail", mails, 1);
		ROUND_INT("signups throttled", throttled, N - 1);
		ROUND_INT("signup events", rows_in(fx, "consent_events") - events, N);
		struct bl_subscriber sub;
		RC(fx, OPS(fx)->subscriber_get(fx->s, rounds[k].key, &sub), 1);
		ROUND_INT("email as given", strcmp(sub.email, rounds[k].email), 0);
		if (rounds[k].exists)
			ROUND_INT("the existing subscriber", sub.id, old);
		for (int i = 0; i < N; i++)
			ROUND_INT("every signup names the subscriber", x[i].r.subscriber_id,
			          sub.id);
		ROUND_INT("its subscription", sub_status_of(fx, sub.id, d, NULL),
		          BL_SUB_UNCONFIRMED);
		bl_subscriber_clear(&sub);
#undef ROUND_INT
	}
	CHECK_INT("subscriptions", rows_in(fx, "subscriptions"), 2);
	CHECK_INT("delivery rows", rows_in(fx, "deliveries"), 2);
}

/* web_confirm: what a confirmation post asked, once; nothing for the wrong post. */
static void test_confirm(void **state)
{
	struct fixture *fx = *state;
	int64_t d1 = make_list(fx, "d1"), d2 = make_list(fx, "d2"), d3 = make_list(fx, "d3");
	int64_t both[] = {d1, d2};
	struct bl_signup in = signup_of("c@x.org", both, 2, NOW);
	in.confirm_interval = 0;
	struct bl_signup_result r = do_signup(fx, &in);
	int64_t sub = r.subscriber_id, p12 = r.confirm_post_id;
	raw_exec(fx, "UPDATE subscriptions SET mode = 'daily' WHERE list_id = 2");
	in = signup_of("c@x.org", &d3, 1, NOW + 1);
	in.confirm_interval = 0;
	int64_t p3 = do_signup(fx, &in).confirm_post_id;
	in = signup_of("other@x.org", &d1, 1, NOW + 2);
	struct bl_signup_result ro = do_signup(fx, &in);
	int64_t plain = make_post(fx, "a post", BL_PRIORITY_NORMAL, &d1, 1);
	if (!sub || !p12 || !p3 || !ro.confirm_post_id)
		fail_msg("setup: got ids %" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
		         ", want all set",
		         sub, p12, p3, ro.confirm_post_id);

	struct bl_consent_ctx ctx = web_ctx(NOW + 100, "web:/confirm");
	struct census before = census_of(fx);
	static const struct {
		const char *what;
		int who;  /* 0: c, 1: other, 2: no such subscriber */
		int post; /* 0: p12, 1: p3, 2: other's, 3: a post of kind post, 4: none */
	} wrong[] = {
	    {"a confirmation post of another subscriber", 0, 2},
	    {"a post of kind post", 0, 3},
	    {"no such post", 0, 4},
	    {"no such subscriber", 2, 0},
	    {"another subscriber's token on this post", 1, 0},
	};
	int64_t who[] = {sub, ro.subscriber_id, sub + ro.subscriber_id + 100};
	int64_t post[] = {p12, p3, ro.confirm_post_id, plain, plain + 100};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		int64_t n = -1;
		int rc =
		    OPS(fx)->web_confirm(fx->s, who[wrong[i].who], post[wrong[i].post], &ctx, &n);
		if (rc != 0)
			fail_msg("web_confirm, %s: got %d (%s), want 0", wrong[i].what, rc,
			         rc < 0 ? bl_store_error(fx->s) : "-");
		CHECK_INT("*n when web_confirm returns 0", n, 0);
		check_census(fx, wrong[i].what, before);
	}

	/* The right one: d1 and d2 (mode kept), not d3. */
	int64_t n = -1;
	RC(fx, OPS(fx)->web_confirm(fx->s, sub, p12, &ctx, &n), 1);
	CHECK_INT("confirmed now", n, 2);
	enum bl_mode mode;
	CHECK_INT("d1", sub_status_of(fx, sub, d1, &mode), BL_SUB_CONFIRMED);
	CHECK_INT("d1 mode", mode, BL_MODE_INSTANT);
	CHECK_INT("d2", sub_status_of(fx, sub, d2, &mode), BL_SUB_CONFIRMED);
	CHECK_INT("d2 mode kept", mode, BL_MODE_DAILY);
	CHECK_INT("d3: not this post's list", sub_status_of(fx, sub, d3, NULL), BL_SUB_UNCONFIRMED);
	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, sub, on_consent, &w));
	CHECK_STR("event", w.text[w.n - 2], "confirm|d1|" WEB_IP "|" WEB_UA "|web:/confirm");
	CHECK_STR("event", w.text[w.n - 1], "confirm|d2|" WEB_IP "|" WEB_UA "|web:/confirm");
	CHECK_INT("event time", w.ev[w.n - 1].at, NOW + 100);
	int64_t events = rows_in(fx, "consent_events");

	/* Idempotent. */
	n = -1;
	RC(fx, OPS(fx)->web_confirm(fx->s, sub, p12, &ctx, &n), 1);
	CHECK_INT("a second confirm", n, 0);
	CHECK_INT("events after a second confirm", rows_in(fx, "consent_events"), events);
	RC(fx, OPS(fx)->web_confirm(fx->s, sub, p12, &ctx, NULL), 1);

	/* A subscription left since is not confirmed by a late click. */
	int64_t left = 0;
	RC(fx, OPS(fx)->web_unsubscribe(fx->s, sub, d3, &ctx, &left), 1);
	n = -1;
	RC(fx, OPS(fx)->web_confirm(fx->s, sub, p3, &ctx, &n), 1);
	CHECK_INT("confirm after leaving", n, 0);
	CHECK_INT("d3 stays unsubscribed", sub_status_of(fx, sub, d3, NULL), BL_SUB_UNSUBSCRIBED);

	/* An erased subscriber's token finds nobody. */
	char h[BL_HASH_HEX];
	bl_suppression_hash("other@x.org", h);
	OK(fx, OPS(fx)->subscriber_erase(fx->s, ro.subscriber_id, h, "request", NOW + 200));
	RC(fx, OPS(fx)->web_confirm(fx->s, ro.subscriber_id, ro.confirm_post_id, &ctx, &n), 0);
	RC(fx, OPS(fx)->suppression_get(fx->s, h, NULL), 1);
}

/* The engine sends a confirmation mail ahead of every post, and never one with nothing left. */
static void test_confirm_claims(void **state)
{
	struct fixture *fx = *state;
	int64_t d1 = make_list(fx, "d1"), d2 = make_list(fx, "d2");
	int64_t reader =
	    add_subscriber(fx, "reader@x.org", BL_SUBSCRIBER_ACTIVE, d1, BL_SUB_CONFIRMED, NOW);
	(void)reader;
	int64_t breaking = make_post(fx, "breaking", BL_PRIORITY_BREAKING, &d1, 1);
	queue_post(fx, breaking, 1);
	int64_t both[] = {d1, d2};
	struct bl_signup in = signup_of("new@x.org", both, 2, NOW);
	in.confirm_interval = 0;
	struct bl_signup_result r = do_signup(fx, &in);
	int64_t first = r.confirm_post_id, sub = r.subscriber_id;
	in = signup_of("new@x.org", both, 2, NOW + 1);
	in.confirm_interval = 0;
	int64_t second = do_signup(fx, &in).confirm_post_id;
	in = signup_of("later@x.org", &d2, 1, NOW + 2);
	int64_t third = do_signup(fx, &in).confirm_post_id;
	int64_t later = raw_int(fx, "SELECT subscriber_id FROM deliveries WHERE post_id = "
	                            "(SELECT max(id) FROM posts)");

	/* d1 confirmed another way (an import): the first mail still asks for d2. */
	set_subscription(fx, sub, d1, BL_SUB_CONFIRMED);
	struct turn t = {0};
	exchange(fx, NOW + 5, NULL, 0, 1, &t);
	CHECK_INT("claimed", t.n, 1);
	CHECK_INT("first claim: the first confirmation post", t.c[0].post_id, first);
	CHECK_INT("its list: the one still unconfirmed", t.c[0].list_id, d2);
	CHECK_INT("its subscriber", t.c[0].subscriber_id, sub);
	CHECK_STR("its address", t.c[0].email, "new@x.org");
	struct bl_delivery_result res[MAX_CLAIM];
	size_t nr = results_for(&t, BL_DELIVERY_ACCEPTED, res);

	/* Confirmed through the first mail: the second has nothing left to ask. */
	struct bl_consent_ctx ctx = web_ctx(NOW + 6, "web:/confirm");
	RC(fx, OPS(fx)->web_confirm(fx->s, sub, first, &ctx, NULL), 1);
	blocklist(fx, later, "bounced");
	exchange(fx, NOW + 7, res, nr, 8, &t);
	CHECK_INT("claimed after the confirmation: the breaking post's row", t.n, 1);
	CHECK_INT("the breaking post", t.c[0].post_id, breaking);
	CHECK_INT("finished: the first and second mails, the third", t.finished, 3);
	struct rows w;
	rows_of(fx, second, -1, &w);
	CHECK_INT("second mail: state", w.r[0].state, BL_DELIVERY_SUPPRESSED);
	CHECK_STR("second mail: reply", w.r[0].reply, "nothing left to confirm");
	CHECK_INT("second mail: attempts", w.r[0].attempts, 0);
	rows_of(fx, third, -1, &w);
	CHECK_STR("third mail: reply", w.r[0].reply, "subscriber blocklisted: bounced");
	CHECK_INT("first mail", status_of(fx, first), BL_POST_SENT);
	CHECK_INT("second mail", status_of(fx, second), BL_POST_SENT);

	/* A confirmation mail's list: in any mode, and once its list is gone, nothing. */
	in = signup_of("weekly@x.org", &d2, 1, NOW + 8);
	r = do_signup(fx, &in);
	raw_exec(fx, "UPDATE subscriptions SET mode = 'weekly' WHERE status = 'unconfirmed'");
	exchange(fx, NOW + 9, NULL, 0, 1, &t);
	CHECK_INT("weekly, unconfirmed: claimed", t.n, 1);
	CHECK_INT("weekly, unconfirmed: the mail", t.c[0].post_id, r.confirm_post_id);
	nr = results_for(&t, BL_DELIVERY_PENDING, res);
	exchange(fx, NOW + 10, res, nr, 0, &t); /* released */
	OK(fx, OPS(fx)->list_delete(fx->s, "d2"));
	exchange(fx, NOW + 11, NULL, 0, 1, &t);
	CHECK_INT("its list deleted: claimed", t.n, 0);
	rows_of(fx, r.confirm_post_id, -1, &w);
	CHECK_STR("its list deleted: reply", w.r[0].reply, "nothing left to confirm");
	turn_clear(&t);
}

/* web_unsubscribe: one list or every one; idempotent. */
static void test_unsubscribe(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b"), c = make_list(fx, "c");
	int64_t e = make_list(fx, "e");
	int64_t sub = add_subscriber(fx, "u@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	add_subscription(fx, sub, b, BL_SUB_UNCONFIRMED, BL_MODE_DAILY, NOW);
	add_subscription(fx, sub, c, BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT, NOW);
	int64_t other =
	    add_subscriber(fx, "o@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	struct bl_consent_ctx ctx = web_ctx(NOW + 50, "web:/unsubscribe");
	static const struct {
		const char *what;
		int list; /* 0 all, 1 a, 2 b, 3 c, 4 e (no subscription), 5 no such list */
		int64_t n;
		const char *statuses; /* a, b, c afterwards: C confirmed, U unconfirmed, X left */
		const char *events;   /* added */
	} steps[] = {
	    {"leave a", 1, 1, "XUX", "unsubscribe|a"},
	    {"leave a again", 1, 0, "XUX", ""},
	    {"leave c, left already", 3, 0, "XUX", ""},
	    {"leave e, never on it", 4, 0, "XUX", ""},
	    {"leave a list that does not exist", 5, 0, "XUX", ""},
	    {"leave all", 0, 1, "XXX", "unsubscribe|b"},
	    {"leave all again", 0, 0, "XXX", ""},
	};
	int64_t list_of[] = {0, a, b, c, e, e + 100};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char before[512], after[512], want[1100];
		events_of(fx, sub, before, sizeof(before));
		int64_t n = -1;
		RC(fx, OPS(fx)->web_unsubscribe(fx->s, sub, list_of[steps[i].list], &ctx, &n), 1);
		char w[160];
		snprintf(w, sizeof(w), "%s: n", steps[i].what);
		CHECK_INT(w, n, steps[i].n);
		char got[4];
		for (int k = 0; k < 3; k++) {
			int st = sub_status_of(fx, sub, list_of[k + 1], NULL);
			got[k] = st == BL_SUB_CONFIRMED     ? 'C'
			         : st == BL_SUB_UNCONFIRMED ? 'U'
			                                    : 'X';
		}
		got[3] = '\0';
		snprintf(w, sizeof(w), "%s: statuses", steps[i].what);
		CHECK_STR(w, got, steps[i].statuses);
		events_of(fx, sub, after, sizeof(after));
		snprintf(want, sizeof(want), "%s%s%s", before, *steps[i].events ? "," : "",
		         steps[i].events);
		snprintf(w, sizeof(w), "%s: events", steps[i].what);
		CHECK_STR(w, after, want);
	}
	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, sub, on_consent, &w));
	CHECK_STR("unsubscribe event", w.text[w.n - 1],
	          "unsubscribe|b|" WEB_IP "|" WEB_UA "|web:/unsubscribe");
	CHECK_INT("unsubscribe event time", w.ev[w.n - 1].at, NOW + 50);
	enum bl_mode mode;
	sub_status_of(fx, sub, b, &mode);
	CHECK_INT("mode kept", mode, BL_MODE_DAILY);
	CHECK_INT("the other subscriber is untouched", sub_status_of(fx, other, a, NULL),
	          BL_SUB_CONFIRMED);
	int64_t n = -1;
	RC(fx, OPS(fx)->web_unsubscribe(fx->s, sub + other + 10, 0, &ctx, &n), 0);
	RC(fx, OPS(fx)->web_unsubscribe(fx->s, sub, 0, &ctx, NULL), 1);
}

/* web_preferences: each change writes what it changes and its event, nothing else. */
static void test_preferences(void **state)
{
	enum { NONE = -1 };
	static const struct {
		const char *what;
		int before; /* enum bl_sub_status, or NONE */
		enum bl_mode mode_before;
		enum bl_sub_status to;
		enum bl_mode mode_to;
		int after; /* status afterwards, or NONE */
		const char *events;
	} cases[] = {
	    {"a new mode", BL_SUB_CONFIRMED, BL_MODE_INSTANT, BL_SUB_CONFIRMED, BL_MODE_DAILY,
	     BL_SUB_CONFIRMED, "preference|l"},
	    {"leaving", BL_SUB_CONFIRMED, BL_MODE_INSTANT, BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT,
	     BL_SUB_UNSUBSCRIBED, "unsubscribe|l"},
	    {"leaving and a new mode", BL_SUB_CONFIRMED, BL_MODE_INSTANT, BL_SUB_UNSUBSCRIBED,
	     BL_MODE_WEEKLY, BL_SUB_UNSUBSCRIBED, "unsubscribe|l,preference|l"},
	    {"re-joining", BL_SUB_UNSUBSCRIBED, BL_MODE_DAILY, BL_SUB_CONFIRMED, BL_MODE_DAILY,
	     BL_SUB_CONFIRMED, "confirm|l"},
	    {"confirming a pending one", BL_SUB_UNCONFIRMED, BL_MODE_INSTANT, BL_SUB_CONFIRMED,
	     BL_MODE_INSTANT, BL_SUB_CONFIRMED, "confirm|l"},
	    {"no change", BL_SUB_CONFIRMED, BL_MODE_WEEKLY, BL_SUB_CONFIRMED, BL_MODE_WEEKLY,
	     BL_SUB_CONFIRMED, ""},
	    {"no change, left", BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT, BL_SUB_UNSUBSCRIBED,
	     BL_MODE_INSTANT, BL_SUB_UNSUBSCRIBED, ""},
	    {"joining a new list", NONE, 0, BL_SUB_CONFIRMED, BL_MODE_WEEKLY, BL_SUB_CONFIRMED,
	     "signup|l,confirm|l"},
	    {"leaving a list never joined", NONE, 0, BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT, NONE,
	     ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture *fx = NULL;
		setup((void **)&fx);
		int64_t l = make_list(fx, "l");
		int64_t sub = add_subscriber(fx, "p@x.org", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW - 10);
		if (cases[i].before != NONE)
			add_subscription(fx, sub, l, (enum bl_sub_status)cases[i].before,
			                 cases[i].mode_before, NOW - 10);
		struct bl_subscription_change ch = {l, cases[i].to, cases[i].mode_to};
		struct bl_consent_ctx ctx = web_ctx(NOW, "web:/preferences");
		int64_t written = rows_in(fx, "subscriptions") + rows_in(fx, "consent_events");
		RC(fx, OPS(fx)->web_preferences(fx->s, sub, NULL, &ch, 1, &ctx), 1);
		char w[160], got[256];
		enum bl_mode mode = (enum bl_mode) - 1;
		snprintf(w, sizeof(w), "%s: status", cases[i].what);
		CHECK_INT(w, sub_status_of(fx, sub, l, &mode), cases[i].after);
		if (cases[i].after != NONE) {
			snprintf(w, sizeof(w), "%s: mode", cases[i].what);
			CHECK_INT(w, mode, cases[i].mode_to);
		}
		snprintf(w, sizeof(w), "%s: events", cases[i].what);
		events_of(fx, sub, got, sizeof(got));
		CHECK_STR(w, got, cases[i].events);
		if (!*cases[i].events) {
			snprintf(w, sizeof(w), "%s: rows written", cases[i].what);
			CHECK_INT(w, rows_in(fx, "subscriptions") + rows_in(fx, "consent_events"),
			          written);
		} else {
			struct seen ev = {0};
			OK(fx, OPS(fx)->consent_each(fx->s, sub, on_consent, &ev));
			snprintf(w, sizeof(w), "%s: event context", cases[i].what);
			if (!strstr(ev.text[0], "|" WEB_IP "|" WEB_UA "|web:/preferences"))
				fail_msg("%s: got \"%s\"", w, ev.text[0]);
		}
		teardown((void **)&fx);
	}
}

/* web_preferences: the name, refusals (nothing written), several changes at once. */
static void test_preferences_form(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	int64_t sub = add_subscriber(fx, "f@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	struct bl_consent_ctx ctx = web_ctx(NOW + 1, "web:/preferences");
	static const struct {
		const char *what, *name, *want_name, *events;
	} names[] = {
	    {"no name given", NULL, "", ""},
	    {"the same name", "", "", ""},
	    {"a new name", "Zoë", "Zoë", "preference|-"},
	    {"the same again", "Zoë", "Zoë", ""},
	    {"cleared", "", "", "preference|-"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char before[512], after[512], want[1100], w[160];
		events_of(fx, sub, before, sizeof(before));
		RC(fx, OPS(fx)->web_preferences(fx->s, sub, names[i].name, NULL, 0, &ctx), 1);
		struct bl_subscriber s;
		RC(fx, OPS(fx)->subscriber_get_id(fx->s, sub, &s), 1);
		snprintf(w, sizeof(w), "%s: name", names[i].what);
		CHECK_STR(w, s.name, names[i].want_name);
		bl_subscriber_clear(&s);
		events_of(fx, sub, after, sizeof(after));
		snprintf(want, sizeof(want), "%s%s%s", before, *names[i].events ? "," : "",
		         names[i].events);
		snprintf(w, sizeof(w), "%s: events", names[i].what);
		CHECK_STR(w, after, want);
	}

	/* Refusals write nothing, whatever else the form holds. */
	struct census before = census_of(fx);
	struct bl_subscription_change bad[][2] = {
	    {{b, BL_SUB_CONFIRMED, BL_MODE_DAILY}, {a, BL_SUB_UNCONFIRMED, BL_MODE_INSTANT}},
	    {{a, BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT},
	     {b + 100, BL_SUB_CONFIRMED, BL_MODE_INSTANT}},
	    {{a, BL_SUB_CONFIRMED, (enum bl_mode)7}, {b, BL_SUB_CONFIRMED, BL_MODE_INSTANT}},
	};
	static const int want_rc[] = {-BL_EINVAL, -BL_ENOENT, -BL_EINVAL};
	for (size_t i = 0; i < 3; i++) {
		RC(fx, OPS(fx)->web_preferences(fx->s, sub, "Renamed", bad[i], 2, &ctx),
		   want_rc[i]);
		check_census(fx, "a refused form", before);
	}
	struct bl_subscriber s;
	RC(fx, OPS(fx)->subscriber_get_id(fx->s, sub, &s), 1);
	CHECK_STR("name after the refusals", s.name, "");
	bl_subscriber_clear(&s);
	RC(fx, OPS(fx)->web_preferences(fx->s, sub + 100, "x", NULL, 0, &ctx), 0);

	/* The whole form at once; a confirmation through it lifts the address's suppression. */
	char h[BL_HASH_HEX];
	bl_suppression_hash("f@x.org", h);
	OK(fx, OPS(fx)->suppression_add(fx->s, h, "request", NOW));
	struct bl_subscription_change form[] = {{a, BL_SUB_CONFIRMED, BL_MODE_WEEKLY},
	                                        {b, BL_SUB_CONFIRMED, BL_MODE_INSTANT}};
	RC(fx, OPS(fx)->web_preferences(fx->s, sub, "Form", form, 2, &ctx), 1);
	char got[512];
	CHECK_STR(
	    "events of the form", events_of(fx, sub, got, sizeof(got)),
	    "import|a,preference|-,preference|-,preference|-,preference|a,signup|b,confirm|b");
	RC(fx, OPS(fx)->suppression_get(fx->s, h, NULL), 0);
}

/* subscriber_get_id and subscriber_deliveries_each. */
static void test_subscriber_web_reads(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), d = make_list(fx, "d");
	int64_t sub =
	    add_subscriber(fx, "r@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW - 5);
	int64_t other =
	    add_subscriber(fx, "o@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW - 5);
	struct bl_subscriber s;
	memset(&s, 0xab, sizeof(s));
	RC(fx, OPS(fx)->subscriber_get_id(fx->s, sub, &s), 1);
	CHECK_INT("id", s.id, sub);
	CHECK_STR("email", s.email, "r@x.org");
	CHECK_STR("email_key", s.email_key, "r@x.org");
	CHECK_INT("status", s.status, BL_SUBSCRIBER_ACTIVE);
	CHECK_INT("created_at", s.created_at, NOW - 5);
	bl_subscriber_clear(&s);
	RC(fx, OPS(fx)->subscriber_get_id(fx->s, sub + other, &s), 0);

	int64_t p1 = make_post(fx, "First ✓", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, p1, 2);
	struct bl_signup in = signup_of("r@x.org", &d, 1, NOW);
	int64_t confirm = do_signup(fx, &in).confirm_post_id;
	int64_t p2 = make_post(fx, "Second", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, p2, 2);
	struct turn t = {0};
	exchange(fx, NOW + 1, NULL, 0, 1, &t); /* the confirmation mail */
	struct rows w;
	memset(&w, 0, sizeof(w));
	OK(fx, OPS(fx)->subscriber_deliveries_each(fx->s, sub, on_delivery, &w));
	CHECK_INT("deliveries of the subscriber", w.n, 3);
	static const struct {
		const char *subject;
		enum bl_delivery_state state;
	} want[] = {{"First ✓", BL_DELIVERY_PENDING},
	            {"Confirm your subscription", BL_DELIVERY_CLAIMED},
	            {"Second", BL_DELIVERY_PENDING}};
	int64_t want_post[] = {p1, confirm, p2};
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof(what), "row %d is the subscriber's", i);
		CHECK_INT(what, w.r[i].id > 0 && w.r[i].subscriber_id == sub, 1);
		CHECK_STR("row email", w.r[i].email, "r@x.org");
		CHECK_STR("row post_subject", w.r[i].subject, want[i].subject);
		CHECK_INT("row state", w.r[i].state, want[i].state);
		if (i && w.r[i].id <= w.r[i - 1].id)
			fail_msg("rows by id: got %" PRId64 " after %" PRId64 ", want ascending",
			         w.r[i].id, w.r[i - 1].id);
	}
	char sql[160];
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql), "SELECT post_id FROM deliveries WHERE id = %" PRId64,
		         w.r[i].id);
		CHECK_INT("row post", raw_int(fx, sql), want_post[i]);
	}
	/* Elsewhere post_subject is NULL. */
	memset(&w, 0, sizeof(w));
	OK(fx, OPS(fx)->delivery_each(fx->s, p1, -1, 0, 0, on_delivery, &w));
	CHECK_STR("delivery_each: post_subject", w.r[0].subject, "(null)");
	turn_clear(&t);
	/* Erased: its rows stay with the posts, not with anybody. */
	char h[BL_HASH_HEX];
	bl_suppression_hash("r@x.org", h);
	OK(fx, OPS(fx)->subscriber_erase(fx->s, sub, h, "request", NOW + 2));
	memset(&w, 0, sizeof(w));
	OK(fx, OPS(fx)->subscriber_deliveries_each(fx->s, sub, on_delivery, &w));
	CHECK_INT("deliveries of an erased subscriber", w.n, 0);
	memset(&w, 0, sizeof(w));
	OK(fx, OPS(fx)->subscriber_deliveries_each(fx->s, other, on_delivery, &w));
	CHECK_INT("deliveries of the other subscriber", w.n, 2);
	CHECK_INT("anonymous rows",
	          raw_int(fx, "SELECT count(*) FROM deliveries WHERE subscriber_id IS NULL"), 3);
}

/* ---- main
 * ------------------------------------------------------------------------------------------ */

/* import_mark: a per-import set in temporary storage that follows transactions. */
static void test_import_marks(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *marks[4];
		size_t n;
		const char *want; /* seen flags as '0'/'1' */
	} steps[] = {
	    {{"a@x.org\x1f"
	      "1",
	      "b@x.org\x1f"
	      "1"},
	     2,
	     "00"},
	    {{"b@x.org\x1f"
	      "1",
	      "c@x.org\x1f"
	      "1",
	      "b@x.org\x1f"
	      "2"},
	     3,
	     "100"},
	    {{"a@x.org\x1f"
	      "1",
	      "c@x.org\x1f"
	      "1",
	      "d \"quoted\\ mark\x1f"
	      "1"},
	     3,
	     "110"},
	    {{"d \"quoted\\ mark\x1f"
	      "1"},
	     1,
	     "1"},
	};
	OK(fx, OPS(fx)->import_mark_reset(fx->s));
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char seen[4] = {0}, got[5] = {0};
		OK(fx, OPS(fx)->import_mark(fx->s, steps[i].n, steps[i].marks, seen));
		for (size_t k = 0; k < steps[i].n; k++)
			got[k] = seen[k] ? '1' : '0';
		CHECK_STR("seen flags", got, steps[i].want);
	}
	/* Marks made in a rolled-back transaction are gone with it. */
	OK(fx, OPS(fx)->begin(fx->s));
	const char *e[] = {"e@x.org\x1f"
	                   "1"};
	char seen[1];
	OK(fx, OPS(fx)->import_mark(fx->s, 1, e, seen));
	CHECK_INT("e new", seen[0], 0);
	OK(fx, OPS(fx)->rollback(fx->s));
	OK(fx, OPS(fx)->import_mark(fx->s, 1, e, seen));
	CHECK_INT("e new again after rollback", seen[0], 0);
	/* A reset starts an empty set. */
	OK(fx, OPS(fx)->import_mark_reset(fx->s));
	const char *a[] = {"a@x.org\x1f"
	                   "1"};
	OK(fx, OPS(fx)->import_mark(fx->s, 1, a, seen));
	CHECK_INT("a new after reset", seen[0], 0);
	OK(fx, OPS(fx)->import_mark_reset(fx->s));
}

/* ---- publisher tools (schema 5): users, sessions, API tokens, the audit log ---------------- */

#define HASH_A "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
#define HASH_B "$argon2id$v=19$m=65536,t=2,p=1$cGVwcGVy$b3RoZXJoYXNo"
/* Hex SHA-256-shaped keys of cookies and token secrets (the store never sees the secrets). */
#define SID(c) "5e55" c "0000000000000000000000000000000000000000000000000000000000"
#define TOK(c) "70c0" c "0000000000000000000000000000000000000000000000000000000000"
#define CSRF_A "csrfAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static int64_t make_user(struct fixture *fx, const char *name, enum bl_role role)
{
	struct bl_user u = {.name = (char *)name, .role = role, .pass_hash = HASH_A};
	OK(fx, OPS(fx)->user_create(fx->s, &u));
	if (u.id <= 0)
		fail_msg("user_create %s: got id %" PRId64 ", want > 0", name, u.id);
	return u.id;
}

static int on_user(void *arg, const struct bl_user *u)
{
	char t[96];
	snprintf(t, sizeof(t), "%s:%s", u->name, bl_role_name(u->role));
	return note(arg, u->id, t);
}

static int on_token(void *arg, const struct bl_api_token *t)
{
	char x[96];
	snprintf(x, sizeof(x), "%s:%s:%" PRId64, t->name, bl_role_name(t->role), t->last_used_at);
	return note(arg, t->id, x);
}

/* "text,text,..." of a walk. */
static const char *texts_of(const struct seen *w, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < w->n && i < MAX_SEEN && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", w->text[i]);
	return buf;
}

static void test_users(void **state)
{
	struct fixture *fx = *state;
	struct bl_user u = {.name = "alice", .role = BL_ROLE_ADMIN, .pass_hash = HASH_A};
	OK(fx, OPS(fx)->user_create(fx->s, &u));
	int64_t alice = u.id;
	int64_t bob = make_user(fx, "bob", BL_ROLE_VIEWER);
	make_user(fx, "carol.x@y-z", BL_ROLE_EDITOR);
	CHECK_INT("ids differ", alice != bob, 1);

	struct bl_user dup = {.name = "alice", .role = BL_ROLE_VIEWER, .pass_hash = HASH_B};
	RC(fx, OPS(fx)->user_create(fx->s, &dup), -BL_EEXIST);

	/* get by name (exact), by id, absent */
	static const struct {
		const char *name;
		int64_t id;
		int want;
		const char *want_name;
		enum bl_role role;
	} cases[] = {
	    {"alice", 0, 1, "alice", BL_ROLE_ADMIN},
	    {"ALICE", 0, 0, NULL, 0},
	    {"nobody", 0, 0, NULL, 0},
	    {NULL, -1, 1, "bob", BL_ROLE_VIEWER}, /* -1: bob's id */
	    {NULL, 999999, 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_user got = {0};
		char what[96];
		snprintf(what, sizeof(what), "user_get case %zu", i);
		int64_t id = cases[i].id == -1 ? bob : cases[i].id;
		int rc = OPS(fx)->user_get(fx->s, cases[i].name, id, &got);
		CHECK_INT(what, rc, cases[i].want);
		if (rc == 1) {
			CHECK_STR(what, got.name, cases[i].want_name);
			CHECK_INT(what, got.role, cases[i].role);
		}
		bl_user_clear(&got);
	}
	struct bl_user got = {0};
	RC(fx, OPS(fx)->user_get(fx->s, "alice", 0, &got), 1);
	CHECK_INT("alice id", got.id, alice);
	CHECK_STR("pass hash kept", got.pass_hash, HASH_A);
	CHECK_INT("created_at defaults to now", got.created_at, NOW);
	CHECK_INT("password_changed_at defaults to now", got.password_changed_at, NOW);
	CHECK_INT("never logged in", got.last_login_at, 0);
	bl_user_clear(&got);

	struct seen w = {0};
	char buf[256];
	OK(fx, OPS(fx)->user_each(fx->s, on_user, &w));
	CHECK_STR("users by name", texts_of(&w, buf, sizeof(buf)),
	          "alice:admin,bob:viewer,carol.x@y-z:editor");
	struct seen stop = {.stop_after = 1};
	RC(fx, OPS(fx)->user_each(fx->s, on_user, &stop), 7);

	/* role */
	RC(fx, OPS(fx)->user_set_role(fx->s, bob, BL_ROLE_EDITOR), 1);
	RC(fx, OPS(fx)->user_set_role(fx->s, 999999, BL_ROLE_EDITOR), 0);
	RC(fx, OPS(fx)->user_get(fx->s, NULL, bob, &got), 1);
	CHECK_INT("bob's new role", got.role, BL_ROLE_EDITOR);
	bl_user_clear(&got);

	/* a new password ends every session of the user, not the others' */
	OK(fx, OPS(fx)->session_create(fx->s, SID("a1"), alice, CSRF_A, NOW, NOW + 3600));
	OK(fx, OPS(fx)->session_create(fx->s, SID("a2"), alice, CSRF_A, NOW, NOW + 3600));
	OK(fx, OPS(fx)->session_create(fx->s, SID("b1"), bob, CSRF_A, NOW, NOW + 3600));
	RC(fx, OPS(fx)->user_set_password(fx->s, alice, HASH_B, NOW + 100), 1);
	RC(fx, OPS(fx)->user_set_password(fx->s, 999999, HASH_B, NOW + 100), 0);
	RC(fx, OPS(fx)->user_get(fx->s, NULL, alice, &got), 1);
	CHECK_STR("new hash", got.pass_hash, HASH_B);
	CHECK_INT("password_changed_at", got.password_changed_at, NOW + 100);
	CHECK_INT("last_login_at from session_create", got.last_login_at, NOW);
	bl_user_clear(&got);
	struct bl_session x = {0};
	RC(fx, OPS(fx)->session_get(fx->s, SID("a1"), NOW + 101, &x), 0);
	RC(fx, OPS(fx)->session_get(fx->s, SID("a2"), NOW + 101, &x), 0);
	RC(fx, OPS(fx)->session_get(fx->s, SID("b1"), NOW + 101, &x), 1);
	bl_session_clear(&x);

	/* delete: the user and its sessions */
	OK(fx, OPS(fx)->session_create(fx->s, SID("b2"), bob, CSRF_A, NOW, NOW + 3600));
	RC(fx, OPS(fx)->user_delete(fx->s, bob), 1);
	RC(fx, OPS(fx)->user_delete(fx->s, bob), 0);
	RC(fx, OPS(fx)->user_get(fx->s, "bob", 0, &got), 0);
	RC(fx, OPS(fx)->session_get(fx->s, SID("b1"), NOW + 101, &x), 0);
	RC(fx, OPS(fx)->session_get(fx->s, SID("b2"), NOW + 101, &x), 0);
	CHECK_INT("no session row of a deleted user", raw_int(fx, "SELECT count(*) FROM sessions"),
	          0);
	/* the name is free again */
	make_user(fx, "bob", BL_ROLE_VIEWER);
}

/* Role of user @id, or -1 when absent. */
static int role_of(struct fixture *fx, int64_t id)
{
	struct bl_user u = {0};
	int rc = OPS(fx)->user_get(fx->s, NULL, id, &u);
	int role = rc == 1 ? (int)u.role : -1;
	bl_user_clear(&u);
	return role;
}

/* The last admin is never demoted nor deleted; every other change goes through. */
static void test_last_admin(void **state)
{
	struct fixture *fx = *state;
	int64_t ids[3] = {make_user(fx, "ann", BL_ROLE_ADMIN), make_user(fx, "ben", BL_ROLE_EDITOR),
	                  make_user(fx, "cat", BL_ROLE_VIEWER)};
	enum { ROLE, DEL };
	static const struct {
		int op, who; /* who: index in ids */
		enum bl_role role;
		int want;
		const char *want_error; /* with want < 0 */
		int roles[3];           /* every user's role after the step, -1 absent */
	} steps[] = {
	    {ROLE,
	     0,
	     BL_ROLE_EDITOR,
	     -BL_ELASTADMIN,
	     "ann is the last admin: make another user admin first",
	     {BL_ROLE_ADMIN, BL_ROLE_EDITOR, BL_ROLE_VIEWER}},
	    {ROLE,
	     0,
	     BL_ROLE_VIEWER,
	     -BL_ELASTADMIN,
	     "ann is the last admin: make another user admin first",
	     {BL_ROLE_ADMIN, BL_ROLE_EDITOR, BL_ROLE_VIEWER}},
	    {DEL,
	     0,
	     0,
	     -BL_ELASTADMIN,
	     "ann is the last admin: make another user admin first",
	     {BL_ROLE_ADMIN, BL_ROLE_EDITOR, BL_ROLE_VIEWER}},
	    {ROLE, 0, BL_ROLE_ADMIN, 1, NULL, {BL_ROLE_ADMIN, BL_ROLE_EDITOR, BL_ROLE_VIEWER}},
	    {ROLE, 1, BL_ROLE_VIEWER, 1, NULL, {BL_ROLE_ADMIN, BL_ROLE_VIEWER, BL_ROLE_VIEWER}},
	    {DEL, 2, 0, 1, NULL, {BL_ROLE_ADMIN, BL_ROLE_VIEWER, -1}},
	    {ROLE, 1, BL_ROLE_ADMIN, 1, NULL, {BL_ROLE_ADMIN, BL_ROLE_ADMIN, -1}},
	    {ROLE, 0, BL_ROLE_EDITOR, 1, NULL, {BL_ROLE_EDITOR, BL_ROLE_ADMIN, -1}},
	    {DEL,
	     1,
	     0,
	     -BL_ELASTADMIN,
	     "ben is the last admin: make another user admin first",
	     {BL_ROLE_EDITOR, BL_ROLE_ADMIN, -1}},
	    {DEL, 0, 0, 1, NULL, {-1, BL_ROLE_ADMIN, -1}},
	    {DEL, 0, 0, 0, NULL, {-1, BL_ROLE_ADMIN, -1}}, /* absent: 0, not a refusal */
	    {ROLE, 0, BL_ROLE_VIEWER, 0, NULL, {-1, BL_ROLE_ADMIN, -1}},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "step %zu", i);
		int64_t id = ids[steps[i].who];
		int rc = steps[i].op == DEL ? OPS(fx)->user_delete(fx->s, id)
		                            : OPS(fx)->user_set_role(fx->s, id, steps[i].role);
		if (rc != steps[i].want)
			fail_msg("%s: got %d (%s), want %d", what, rc,
			         rc < 0 ? bl_store_error(fx->s) : "-", steps[i].want);
		if (steps[i].want_error)
			CHECK_STR(what, bl_store_error(fx->s), steps[i].want_error);
		for (int k = 0; k < 3; k++) {
			snprintf(what, sizeof(what), "step %zu: role of user %d", i, k);
			CHECK_INT(what, role_of(fx, ids[k]), steps[i].roles[k]);
		}
	}
}

struct demotion {
	struct bl_store *s;
	int64_t id;
	int rc;
	char error[BL_DIAG_MAX];
};

static void *demote(void *arg)
{
	struct demotion *d = arg;
	d->rc = d->s->ops->user_set_role(d->s, d->id, BL_ROLE_VIEWER);
	snprintf(d->error, sizeof(d->error), "%s", bl_store_error(d->s));
	return NULL;
}

/* Two demotions of the last two admins at once: the second waits for the
 * first's transaction, then sees one admin left and refuses. */
static void test_last_admin_concurrent(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_user(fx, "ann", BL_ROLE_ADMIN), b = make_user(fx, "ben", BL_ROLE_ADMIN);
	struct demotion d = {.id = b};
	struct bl_diag diag = {{0}};
	struct bl_store_opts opts = {0};
	if (bl_store_open(fx->uri, &opts, &d.s, &diag) != 0)
		fail_msg("second handle: %s", diag.msg);
	OK(fx, OPS(fx)->begin(fx->s));
	RC(fx, OPS(fx)->user_set_role(fx->s, a, BL_ROLE_VIEWER), 1);
	pthread_t th;
	if (pthread_create(&th, NULL, demote, &d) != 0)
		fail_msg("pthread_create");
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL); /* the other demotion is waiting for our lock by now */
	OK(fx, OPS(fx)->commit(fx->s));
	pthread_join(th, NULL);
	bl_store_close(d.s);
	CHECK_INT("the second demotion", d.rc, -BL_ELASTADMIN);
	CHECK_STR("its message", d.error, "ben is the last admin: make another user admin first");
	CHECK_INT("ann demoted", role_of(fx, a), BL_ROLE_VIEWER);
	CHECK_INT("ben still admin", role_of(fx, b), BL_ROLE_ADMIN);
}

static void test_sessions(void **state)
{
	struct fixture *fx = *state;
	int64_t alice = make_user(fx, "alice", BL_ROLE_EDITOR);
	RC(fx, OPS(fx)->session_create(fx->s, SID("x0"), 999999, CSRF_A, NOW, NOW + 60),
	   -BL_ENOENT);
	OK(fx, OPS(fx)->session_create(fx->s, SID("s1"), alice, CSRF_A, NOW + 5, NOW + 60));
	struct bl_user u = {0};
	RC(fx, OPS(fx)->user_get(fx->s, NULL, alice, &u), 1);
	CHECK_INT("last_login_at = session's now", u.last_login_at, NOW + 5);
	bl_user_clear(&u);

	struct bl_session x = {0};
	RC(fx, OPS(fx)->session_get(fx->s, SID("s1"), NOW + 59, &x), 1);
	CHECK_INT("user_id", x.user_id, alice);
	CHECK_STR("user_name", x.user_name, "alice");
	CHECK_INT("role", x.role, BL_ROLE_EDITOR);
	CHECK_STR("csrf", x.csrf, CSRF_A);
	CHECK_INT("created_at", x.created_at, NOW + 5);
	CHECK_INT("expires_at", x.expires_at, NOW + 60);
	bl_session_clear(&x);
	RC(fx, OPS(fx)->session_get(fx->s, SID("zz"), NOW, &x), 0);

	/* the session follows the user's role */
	RC(fx, OPS(fx)->user_set_role(fx->s, alice, BL_ROLE_VIEWER), 1);
	RC(fx, OPS(fx)->session_get(fx->s, SID("s1"), NOW + 59, &x), 1);
	CHECK_INT("role after set_role", x.role, BL_ROLE_VIEWER);
	bl_session_clear(&x);

	/* at expires_at it has ended: 0, and the row is gone (an earlier time finds nothing) */
	RC(fx, OPS(fx)->session_get(fx->s, SID("s1"), NOW + 60, &x), 0);
	RC(fx, OPS(fx)->session_get(fx->s, SID("s1"), NOW, &x), 0);
	CHECK_INT("ended session deleted",
	          raw_int(fx, "SELECT count(*) FROM sessions WHERE csrf = '" CSRF_A "'"), 0);

	/* logout */
	OK(fx, OPS(fx)->session_create(fx->s, SID("s2"), alice, "other", NOW, NOW + 60));
	OK(fx, OPS(fx)->session_delete(fx->s, SID("s2")));
	RC(fx, OPS(fx)->session_get(fx->s, SID("s2"), NOW, &x), 0);
	OK(fx, OPS(fx)->session_delete(fx->s, SID("s2")));
	/* the same key twice is refused */
	OK(fx, OPS(fx)->session_create(fx->s, SID("s3"), alice, "c", NOW, NOW + 60));
	RC(fx, OPS(fx)->session_create(fx->s, SID("s3"), alice, "c", NOW, NOW + 60), -BL_EEXIST);
}

static void test_tokens(void **state)
{
	struct fixture *fx = *state;
	struct bl_api_token t = {.name = "deploy", .role = BL_ROLE_EDITOR};
	OK(fx, OPS(fx)->token_create(fx->s, &t, TOK("01")));
	int64_t deploy = t.id;
	struct bl_api_token r = {.name = "reader", .role = BL_ROLE_VIEWER, .created_at = NOW - 10};
	OK(fx, OPS(fx)->token_create(fx->s, &r, TOK("02")));
	struct bl_api_token dup = {.name = "deploy", .role = BL_ROLE_ADMIN};
	RC(fx, OPS(fx)->token_create(fx->s, &dup, TOK("03")), -BL_EEXIST);

	struct seen w = {0};
	char buf[256];
	OK(fx, OPS(fx)->token_each(fx->s, on_token, &w));
	CHECK_STR("tokens by name, never used", texts_of(&w, buf, sizeof(buf)),
	          "deploy:editor:0,reader:viewer:0");

	struct bl_api_token got = {0};
	RC(fx, OPS(fx)->token_get(fx->s, TOK("99"), NOW, &got), 0);
	RC(fx, OPS(fx)->token_get(fx->s, TOK("03"), NOW, &got), 0); /* the refused one */

	/* last_used_at: written on first use, then at most once a minute */
	static const struct {
		int64_t at, want_used;
	} uses[] = {
	    {NOW, NOW},           {NOW + 30, NOW},       {NOW + 59, NOW},
	    {NOW + 61, NOW + 61}, {NOW + 100, NOW + 61},
	};
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "token_get at NOW%+" PRId64 ": last_used_at",
		         uses[i].at - NOW);
		RC(fx, OPS(fx)->token_get(fx->s, TOK("01"), uses[i].at, &got), 1);
		CHECK_INT("token id", got.id, deploy);
		CHECK_STR("token name", got.name, "deploy");
		CHECK_INT("token role", got.role, BL_ROLE_EDITOR);
		CHECK_INT("token created_at", got.created_at, NOW);
		CHECK_INT(what, got.last_used_at, uses[i].want_used);
		bl_api_token_clear(&got);
		memset(&w, 0, sizeof(w));
		OK(fx, OPS(fx)->token_each(fx->s, on_token, &w));
		char want[96];
		snprintf(want, sizeof(want), "deploy:editor:%" PRId64 ",reader:viewer:0",
		         uses[i].want_used);
		CHECK_STR(what, texts_of(&w, buf, sizeof(buf)), want);
	}

	RC(fx, OPS(fx)->token_delete(fx->s, "deploy"), 1);
	RC(fx, OPS(fx)->token_delete(fx->s, "deploy"), 0);
	RC(fx, OPS(fx)->token_get(fx->s, TOK("01"), NOW + 200, &got), 0);
	RC(fx, OPS(fx)->token_get(fx->s, TOK("02"), NOW + 200, &got), 1);
	CHECK_INT("reader's created_at as given", got.created_at, NOW - 10);
	bl_api_token_clear(&got);
}

struct audits {
	int n;
	int64_t id[MAX_SEEN];
	char text[MAX_SEEN][160];
	size_t target_len, detail_len;
};

static int on_audit(void *arg, const struct bl_audit *a)
{
	struct audits *w = arg;
	if (w->n < MAX_SEEN) {
		w->id[w->n] = a->id;
		snprintf(w->text[w->n], sizeof(w->text[0]), "%" PRId64 "|%s|%s|%.20s|%.20s|%s",
		         a->at - NOW, a->actor, a->action, a->target, a->detail, a->ip);
	}
	if (strlen(a->target) > w->target_len)
		w->target_len = strlen(a->target);
	if (strlen(a->detail) > w->detail_len)
		w->detail_len = strlen(a->detail);
	w->n++;
	return 0;
}

static void test_audit(void **state)
{
	struct fixture *fx = *state;
	static const struct bl_audit entries[] = {
	    {.at = NOW - 3, .actor = "cli", .action = "user.add", .target = "user:alice"},
	    {.at = NOW - 2,
	     .actor = "user:alice",
	     .action = "login",
	     .target = "",
	     .detail = "",
	     .ip = "192.0.2.9"},
	    {.actor = "token:deploy",
	     .action = "list.create",
	     .target = "list:news",
	     .detail = "{\"slug\":\"news\"}",
	     .ip = "::1"},
	    {.at = NOW + 1, .actor = "scheduler", .action = "post.send", .target = "post:12"},
	};
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		OK(fx, OPS(fx)->audit_add(fx->s, &entries[i]));

	struct audits w = {0};
	OK(fx, OPS(fx)->audit_each(fx->s, 0, 0, on_audit, &w));
	CHECK_INT("entries", w.n, 4);
	static const char *const want[] = {
	    "1|scheduler|post.send|post:12||",
	    "0|token:deploy|list.create|list:news|{\"slug\":\"news\"}|::1",
	    "-2|user:alice|login|||192.0.2.9",
	    "-3|cli|user.add|user:alice||",
	};
	for (int i = 0; i < 4; i++)
		CHECK_STR("audit entry, newest first (at defaults to now)", w.text[i], want[i]);
	for (int i = 1; i < 4; i++)
		CHECK_INT("ids go down", w.id[i] < w.id[i - 1], 1);

	/* keyset pages of 2 */
	struct audits p1 = {0}, p2 = {0}, p3 = {0};
	OK(fx, OPS(fx)->audit_each(fx->s, 0, 2, on_audit, &p1));
	CHECK_INT("page 1", p1.n, 2);
	CHECK_STR("page 1 first", p1.text[0], want[0]);
	OK(fx, OPS(fx)->audit_each(fx->s, p1.id[1], 2, on_audit, &p2));
	CHECK_INT("page 2", p2.n, 2);
	CHECK_STR("page 2 first", p2.text[0], want[2]);
	CHECK_STR("page 2 last", p2.text[1], want[3]);
	OK(fx, OPS(fx)->audit_each(fx->s, p2.id[1], 2, on_audit, &p3));
	CHECK_INT("page 3 empty", p3.n, 0);

	/* long target and detail are cut to BL_AUDIT_TEXT_MAX bytes, not inside a UTF-8 char */
	char big[2 * BL_AUDIT_TEXT_MAX];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + BL_AUDIT_TEXT_MAX - 1, "\xc3\xa9", 2); /* é across the limit */
	struct bl_audit cut = {.actor = "cli", .action = "x", .target = big, .detail = big};
	OK(fx, OPS(fx)->audit_add(fx->s, &cut));
	struct audits c = {0};
	OK(fx, OPS(fx)->audit_each(fx->s, 0, 1, on_audit, &c));
	CHECK_INT("target cut", c.target_len, BL_AUDIT_TEXT_MAX - 1);
	CHECK_INT("detail cut", c.detail_len, BL_AUDIT_TEXT_MAX - 1);

	/* append-only, by the schema itself */
	CHECK_INT("UPDATE refused", raw_try(fx, "UPDATE audit_log SET actor = 'mallory'"), -1);
	CHECK_INT("DELETE refused", raw_try(fx, "DELETE FROM audit_log"), -1);
	CHECK_INT("rows kept", raw_int(fx, "SELECT count(*) FROM audit_log"), 5);
	CHECK_INT("actors kept",
	          raw_int(fx, "SELECT count(*) FROM audit_log WHERE actor = 'mallory'"), 0);
}

/* ---- publisher tools (schema 5): maintained counts, lists, subscribers -------------------- */

static void test_maintained_counts(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list_as(fx, "a", BL_OPTIN_DOUBLE, BL_VISIBILITY_PUBLIC);
	int64_t b = make_list_as(fx, "b", BL_OPTIN_SINGLE, BL_VISIBILITY_PUBLIC);
	check_list_counts(fx, "new list", a, 0, 0, 0);
	check_subscriber_counts(fx, "empty", 0, 0);

	/* import_apply: inserts, a second subscription, an update of one */
	int64_t s1 = add_subscriber(fx, "s1@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t s2 =
	    add_subscriber(fx, "s2@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_UNCONFIRMED, NOW);
	add_subscriber(fx, "s3@x.org", BL_SUBSCRIBER_BLOCKLISTED, a, BL_SUB_CONFIRMED, NOW);
	add_subscription(fx, s1, b, BL_SUB_CONFIRMED, BL_MODE_DAILY, NOW);
	check_list_counts(fx, "after the import", a, 1, 2, 0);
	check_list_counts(fx, "after the import", b, 0, 1, 0);
	check_subscriber_counts(fx, "after the import", 2, 1);
	set_subscription(fx, s2, a, BL_SUB_CONFIRMED);
	check_list_counts(fx, "after an import update", a, 0, 3, 0);
	blocklist(fx, s2, "bounced");
	check_subscriber_counts(fx, "after an import blocklisting", 1, 2);

	/* the public web: signup, confirm, unsubscribe */
	struct bl_signup in = signup_of("w@x.org", &a, 1, NOW);
	struct bl_signup_result r = do_signup(fx, &in);
	check_list_counts(fx, "after a signup", a, 1, 3, 0);
	check_subscriber_counts(fx, "after a signup", 2, 2);
	int64_t n = -1;
	struct bl_consent_ctx ctx = web_ctx(NOW, "web:/confirm");
	RC(fx, OPS(fx)->web_confirm(fx->s, r.subscriber_id, r.confirm_post_id, &ctx, &n), 1);
	check_list_counts(fx, "after a confirmation", a, 0, 4, 0);
	RC(fx, OPS(fx)->web_unsubscribe(fx->s, s1, 0, &ctx, &n), 1);
	CHECK_INT("unsubscribed from", n, 2);
	check_list_counts(fx, "after an unsubscribe", a, 0, 3, 1);
	check_list_counts(fx, "after an unsubscribe", b, 0, 0, 1);

	/* erase: the subscriptions go with the subscriber */
	char h[65];
	OK(fx, OPS(fx)->subscriber_erase(fx->s, s1, hash_of("s1@x.org", h), "request", NOW));
	check_list_counts(fx, "after an erase", a, 0, 3, 0);
	check_list_counts(fx, "after an erase", b, 0, 0, 0);
	check_subscriber_counts(fx, "after an erase", 1, 2);

	/* stats' subscriptions are the sums */
	struct bl_stats st;
	OK(fx, OPS(fx)->stats(fx->s, NOW, &st));
	CHECK_INT("stats confirmed", st.subscriptions[BL_SUB_CONFIRMED], 3);
	CHECK_INT("stats unconfirmed", st.subscriptions[BL_SUB_UNCONFIRMED], 0);
	CHECK_INT("stats unsubscribed", st.subscriptions[BL_SUB_UNSUBSCRIBED], 0);

	/* list_delete: the list's counts go, the others stay */
	add_subscription(fx, s2, b, BL_SUB_UNCONFIRMED, BL_MODE_INSTANT, NOW);
	OK(fx, OPS(fx)->list_delete(fx->s, "a"));
	check_list_counts(fx, "deleted list", a, 0, 0, 0);
	check_list_counts(fx, "after deleting a", b, 1, 0, 0);
	OK(fx, OPS(fx)->stats(fx->s, NOW, &st));
	CHECK_INT("stats confirmed after list_delete", st.subscriptions[BL_SUB_CONFIRMED], 0);
	CHECK_INT("stats unconfirmed after list_delete", st.subscriptions[BL_SUB_UNCONFIRMED], 1);
	check_subscriber_counts(fx, "after list_delete", 1, 2);

	/* a rolled-back change leaves the counts as they were */
	OK(fx, OPS(fx)->begin(fx->s));
	add_subscriber(fx, "rb@x.org", BL_SUBSCRIBER_ACTIVE, b, BL_SUB_CONFIRMED, NOW);
	OK(fx, OPS(fx)->rollback(fx->s));
	check_list_counts(fx, "after a rollback", b, 1, 0, 0);
	check_subscriber_counts(fx, "after a rollback", 1, 2);
}

static void test_growth(void **state)
{
	struct fixture *fx = *state;
	const int64_t day = NOW / 86400;
	static const struct {
		const char *email;
		int64_t at; /* seconds after the start of day */
	} subs[] = {
	    {"d0a@x.org", 0},
	    {"d0b@x.org", 86399},
	    {"d2a@x.org", 2 * 86400 + 5},
	    {"d9a@x.org", 9 * 86400}, /* outside the window asked */
	};
	int64_t ids[4];
	for (int i = 0; i < 4; i++)
		ids[i] = add_subscriber(fx, subs[i].email, BL_SUBSCRIBER_ACTIVE, 0, 0,
		                        day * 86400 + subs[i].at);
	/* a day before: day - 1 .. day + 3 */
	int64_t added[5], removed[5];
	memset(added, 0xab, sizeof(added));
	memset(removed, 0xab, sizeof(removed));
	OK(fx, OPS(fx)->growth(fx->s, day - 1, 5, added, removed));
	static const int64_t want_added[5] = {0, 2, 0, 1, 0};
	for (int i = 0; i < 5; i++) {
		char w[64];
		snprintf(w, sizeof(w), "added on day %+d", i - 1);
		CHECK_INT(w, added[i], want_added[i]);
		snprintf(w, sizeof(w), "removed on day %+d", i - 1);
		CHECK_INT(w, removed[i], 0);
	}
	OK(fx, OPS(fx)->growth(fx->s, day, 0, added, removed)); /* no days: nothing */

	/* an erase counts on the day it happens (the database's clock) */
	int64_t before = (int64_t)time(NULL) / 86400;
	char h[65];
	OK(fx, OPS(fx)->subscriber_erase(fx->s, ids[0], hash_of("d0a@x.org", h), "request", NOW));
	int64_t after = (int64_t)time(NULL) / 86400;
	int64_t ra[2] = {0, 0}, rr[2] = {0, 0};
	OK(fx, OPS(fx)->growth(fx->s, before, (size_t)(after - before + 1), ra, rr));
	CHECK_INT("removed today", rr[0] + rr[1], 1);
	OK(fx, OPS(fx)->growth(fx->s, day, 1, added, removed));
	CHECK_INT("added on the erased one's day stays", added[0], 2);
}

static void test_list_update(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	struct bl_list l = {.id = a,
	                    .slug = "ignored",
	                    .name = "Alerts <b>",
	                    .description = "Storms & floods",
	                    .optin = BL_OPTIN_SINGLE,
	                    .visibility = BL_VISIBILITY_PRIVATE};
	RC(fx, OPS(fx)->list_update(fx->s, &l), 1);
	struct bl_list got = {0};
	RC(fx, OPS(fx)->list_get(fx->s, "a", &got), 1);
	CHECK_INT("id", got.id, a);
	CHECK_STR("name", got.name, "Alerts <b>");
	CHECK_STR("description", got.description, "Storms & floods");
	CHECK_STR("optin", bl_optin_name(got.optin), "single");
	CHECK_STR("visibility", bl_visibility_name(got.visibility), "private");
	bl_list_clear(&got);
	RC(fx, OPS(fx)->list_get(fx->s, "ignored", &got), 0);
	l.id = 999999;
	RC(fx, OPS(fx)->list_update(fx->s, &l), 0);
}

static void test_subscriber_update(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	int64_t id = add_subscriber(fx, "u@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	struct bl_consent_ctx ctx = {.now = NOW + 10, .ip = "", .source = "admin:user:alice"};
	struct bl_subscriber s = {.id = id,
	                          .name = "Ursula",
	                          .attributes = "{\"city\":\"Oslo\"}",
	                          .status = BL_SUBSCRIBER_ACTIVE,
	                          .status_reason = ""};
	RC(fx, OPS(fx)->subscriber_update(fx->s, &s, &ctx), 1);
	char buf[256];
	CHECK_STR("no event for a name change", events_of(fx, id, buf, sizeof(buf)), "import|a");
	s.status = BL_SUBSCRIBER_BLOCKLISTED;
	s.status_reason = "operator";
	ctx.now = NOW + 20;
	RC(fx, OPS(fx)->subscriber_update(fx->s, &s, &ctx), 1);
	CHECK_STR("blocklist event", events_of(fx, id, buf, sizeof(buf)), "import|a,blocklist|-");
	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, id, on_consent, &w));
	CHECK_STR("event context", w.text[1], "blocklist|-|||admin:user:alice");
	CHECK_INT("event time", w.ev[1].at, NOW + 20);
	/* the same status again: no second event */
	RC(fx, OPS(fx)->subscriber_update(fx->s, &s, &ctx), 1);
	CHECK_STR("no second event", events_of(fx, id, buf, sizeof(buf)), "import|a,blocklist|-");

	struct bl_subscriber got = {0};
	RC(fx, OPS(fx)->subscriber_get_id(fx->s, id, &got), 1);
	CHECK_STR("name", got.name, "Ursula");
	CHECK_JSON("attributes", got.attributes, "{\"city\":\"Oslo\"}");
	CHECK_STR("status", bl_subscriber_status_name(got.status), "blocklisted");
	CHECK_STR("status_reason", got.status_reason, "operator");
	CHECK_INT("updated_at", got.updated_at, NOW + 20);
	CHECK_STR("email unchanged", got.email, "u@x.org");
	bl_subscriber_clear(&got);
	check_subscriber_counts(fx, "after blocklisting", 0, 1);

	/* back to active: counted back, no event kind for it */
	s.status = BL_SUBSCRIBER_ACTIVE;
	s.status_reason = "";
	RC(fx, OPS(fx)->subscriber_update(fx->s, &s, &ctx), 1);
	check_subscriber_counts(fx, "after unblocking", 1, 0);
	s.id = 999999;
	RC(fx, OPS(fx)->subscriber_update(fx->s, &s, &ctx), 0);

	/* text that is not UTF-8 or too long is refused, nothing written */
	char reason[BL_REASON_MAX + 2];
	memset(reason, 'r', BL_REASON_MAX - 1);
	memcpy(reason + BL_REASON_MAX - 1, "\xC3", 2); /* a cut "é" */
	const struct {
		const char *what, *name, *reason;
	} bad[] = {
	    {"a reason ending in half a character", "Ursula", reason},
	    {"a name with a stray byte", "Urs\xFFla", ""},
	};
	s.id = id;
	s.status = BL_SUBSCRIBER_BLOCKLISTED;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.name = (char *)(uintptr_t)bad[i].name;
		s.status_reason = (char *)(uintptr_t)bad[i].reason;
		int rc = OPS(fx)->subscriber_update(fx->s, &s, &ctx);
		if (rc != -BL_EINVAL)
			fail_msg("%s: got %d, want -BL_EINVAL", bad[i].what, rc);
	}
	memset(reason, 'r', BL_REASON_MAX + 1);
	reason[BL_REASON_MAX + 1] = '\0';
	s.name = "Ursula";
	s.status_reason = reason;
	RC(fx, OPS(fx)->subscriber_update(fx->s, &s, &ctx), -BL_EINVAL);
	RC(fx, OPS(fx)->subscriber_get_id(fx->s, id, &got), 1);
	CHECK_STR("status after refusals", bl_subscriber_status_name(got.status), "active");
	bl_subscriber_clear(&got);
}

static void test_subscriber_search(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b");
	/* created out of key order, so id order and key order differ */
	static const struct {
		const char *email;
		int blocklisted;
		int on_a; /* -1 none, else enum bl_sub_status */
	} subs[] = {
	    {"annb@x.org", 1, -1},
	    {"ann3@x.org", 0, BL_SUB_UNCONFIRMED},
	    {"bob1@x.org", 0, BL_SUB_CONFIRMED},
	    {"anna@x.org", 0, BL_SUB_CONFIRMED},
	    {"ano0@x.org", 0, BL_SUB_CONFIRMED}, /* just past the prefix "ann" */
	    {"ann1@x.org", 0, -1},
	    {"an01@x.org", 0, BL_SUB_CONFIRMED}, /* just before it */
	    {"ann2@x.org", 0, BL_SUB_CONFIRMED},
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		int64_t id = add_subscriber(
		    fx, subs[i].email, subs[i].blocklisted ? BL_SUBSCRIBER_BLOCKLISTED : 0,
		    subs[i].on_a >= 0 ? a : 0, subs[i].on_a >= 0 ? subs[i].on_a : 0, NOW);
		if (strcmp(subs[i].email, "ann2@x.org") == 0)
			add_subscription(fx, id, b, BL_SUB_UNSUBSCRIBED, BL_MODE_INSTANT, NOW);
	}
	static const struct {
		const char *what, *prefix, *after_key;
		int64_t list_id;
		int sub_status, status;
		int64_t limit;
		const char *want; /* local parts, in order */
	} cases[] = {
	    {"prefix", "ann", NULL, 0, -1, -1, 0, "ann1,ann2,ann3,anna,annb"},
	    {"page 1", "ann", "", 0, -1, -1, 2, "ann1,ann2"},
	    {"page 2", "ann", "ann2@x.org", 0, -1, -1, 2, "ann3,anna"},
	    {"page 3", "ann", "anna@x.org", 0, -1, -1, 2, "annb"},
	    {"past the end", "ann", "annb@x.org", 0, -1, -1, 2, ""},
	    {"after_key before the prefix", "ann", "a", 0, -1, -1, 2, "ann1,ann2"},
	    {"after_key past the prefix", "ann", "b", 0, -1, -1, 0, ""},
	    {"whole key", "ann1@x.org", NULL, 0, -1, -1, 0, "ann1"},
	    {"no match", "zz", NULL, 0, -1, -1, 0, ""},
	    {"one letter", "a", NULL, 0, -1, -1, 0, "an01,ann1,ann2,ann3,anna,annb,ano0"},
	    {"active only", "ann", NULL, 0, -1, BL_SUBSCRIBER_ACTIVE, 0, "ann1,ann2,ann3,anna"},
	    {"blocklisted only", "ann", NULL, 0, -1, BL_SUBSCRIBER_BLOCKLISTED, 0, "annb"},
	    {"on list a", "ann", NULL, -1, -1, -1, 0, "ann2,ann3,anna"},
	    {"on list a, page 2", "ann", "ann2@x.org", -1, -1, -1, 1, "ann3"},
	    {"confirmed on a", "ann", NULL, -1, BL_SUB_CONFIRMED, -1, 0, "ann2,anna"},
	    {"unconfirmed on a", "ann", NULL, -1, BL_SUB_UNCONFIRMED, -1, 0, "ann3"},
	    {"unsubscribed on b", "ann", NULL, -2, BL_SUB_UNSUBSCRIBED, -1, 0, "ann2"},
	    {"confirmed on b", "ann", NULL, -2, BL_SUB_CONFIRMED, -1, 0, ""},
	    {"confirmed on a, active", "a", NULL, -1, BL_SUB_CONFIRMED, BL_SUBSCRIBER_ACTIVE, 0,
	     "an01,ann2,anna,ano0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_subscriber_filter f = {.list_id = cases[i].list_id == -1   ? a
		                                            : cases[i].list_id == -2 ? b
		                                                                     : 0,
		                                 .sub_status = cases[i].sub_status,
		                                 .status = cases[i].status,
		                                 .after_id =
		                                     INT64_MAX / 2, /* ignored with a prefix */
		                                 .limit = cases[i].limit,
		                                 .prefix = cases[i].prefix,
		                                 .after_key = cases[i].after_key};
		struct seen w = {0};
		OK(fx, OPS(fx)->subscriber_each(fx->s, &f, on_subscriber, &w));
		char got[256] = "";
		size_t len = 0;
		for (int k = 0; k < w.n && k < MAX_SEEN; k++) {
			char *at = strchr(w.text[k], '@');
			len +=
			    (size_t)snprintf(got + len, sizeof(got) - len, "%s%.*s", k ? "," : "",
			                     (int)(at ? at - w.text[k] : 0), w.text[k]);
		}
		CHECK_STR(cases[i].what, got, cases[i].want);
	}
	/* without a prefix, after_key is ignored and the walk is by id */
	struct bl_subscriber_filter f = {
	    .list_id = 0, .sub_status = -1, .status = -1, .prefix = "", .after_key = "zzz"};
	struct seen w = {0};
	OK(fx, OPS(fx)->subscriber_each(fx->s, &f, on_subscriber, &w));
	CHECK_INT("empty prefix: every subscriber", w.n, 8);
	CHECK_STR("empty prefix: by id", w.text[0], "annb@x.org");
}

/* ---- publisher tools (schema 5): posts, the scheduler, retries ----------------------------- */

/* A list "a" with @n confirmed subscribers p0@x.org...; returns its id. */
static int64_t audience(struct fixture *fx, int n)
{
	int64_t a = make_list(fx, "a");
	char email[32];
	for (int i = 0; i < n; i++) {
		snprintf(email, sizeof(email), "p%d@x.org", i);
		add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	}
	return a;
}

static void test_post_page(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list_as(fx, "a", BL_OPTIN_DOUBLE, BL_VISIBILITY_PUBLIC);
	int64_t p[5];
	char subject[16];
	for (int i = 0; i < 5; i++) {
		snprintf(subject, sizeof(subject), "post %d", i);
		p[i] = make_post(fx, subject, BL_PRIORITY_NORMAL, &a, 1);
		if (i == 1 || i == 3) { /* confirmation posts in between */
			char email[32];
			snprintf(email, sizeof(email), "c%d@x.org", i);
			struct bl_signup in = signup_of(email, &a, 1, NOW);
			do_signup(fx, &in);
		}
	}
	static const struct {
		const char *what;
		enum bl_post_kind kind;
		int before; /* index into p, -1: 0 (from the newest) */
		int64_t limit;
		const char *want;
	} cases[] = {
	    {"all posts", BL_POST_KIND_POST, -1, 0, "post 4,post 3,post 2,post 1,post 0"},
	    {"page 1", BL_POST_KIND_POST, -1, 2, "post 4,post 3"},
	    {"page 2", BL_POST_KIND_POST, 3, 2, "post 2,post 1"},
	    {"page 3", BL_POST_KIND_POST, 1, 2, "post 0"},
	    {"past the end", BL_POST_KIND_POST, 0, 2, ""},
	    {"confirmations", BL_POST_KIND_CONFIRM, -1, 0,
	     "Confirm your subscription,Confirm your subscription"},
	    {"confirmations before post 3", BL_POST_KIND_CONFIRM, 3, 0,
	     "Confirm your subscription"},
	    {"digests", BL_POST_KIND_DIGEST, -1, 0, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen w = {0};
		int64_t before = cases[i].before < 0 ? 0 : p[cases[i].before];
		OK(fx,
		   OPS(fx)->post_page(fx->s, cases[i].kind, before, cases[i].limit, on_post, &w));
		char buf[256];
		CHECK_STR(cases[i].what, texts_of(&w, buf, sizeof(buf)), cases[i].want);
	}
	struct seen stop = {.stop_after = 1};
	RC(fx, OPS(fx)->post_page(fx->s, BL_POST_KIND_POST, 0, 0, on_post, &stop), 7);
}

static void test_post_update(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a"), b = make_list(fx, "b"), c = make_list(fx, "c");
	int64_t draft = make_post(fx, "draft", BL_PRIORITY_NORMAL, &a, 1);
	struct bl_post np = {.id = draft,
	                     .subject = "New subject",
	                     .body = "New body",
	                     .from_header = "Desk <desk@x.org>",
	                     .priority = BL_PRIORITY_BREAKING};
	int64_t bc[] = {c, b, c};
	RC(fx, OPS(fx)->post_update(fx->s, &np, bc, 3), 1);
	struct bl_post got;
	RC(fx, OPS(fx)->post_get(fx->s, draft, &got), 1);
	CHECK_STR("subject", got.subject, "New subject");
	CHECK_STR("body", got.body, "New body");
	CHECK_STR("from", got.from_header, "Desk <desk@x.org>");
	CHECK_INT("priority", got.priority, BL_PRIORITY_BREAKING);
	CHECK_INT("still a draft", got.status, BL_POST_DRAFT);
	bl_post_clear(&got);
	char buf[128];
	CHECK_STR("lists replaced", lists_of(fx, draft, buf, sizeof(buf)), "b,c");

	/* no lists: the lists stay */
	np.subject = "Third";
	RC(fx, OPS(fx)->post_update(fx->s, &np, NULL, 0), 1);
	CHECK_STR("lists kept", lists_of(fx, draft, buf, sizeof(buf)), "b,c");

	/* a missing list: refused, nothing changed */
	int64_t bad[] = {a, 999999};
	np.subject = "Never";
	RC(fx, OPS(fx)->post_update(fx->s, &np, bad, 2), -BL_ENOENT);
	RC(fx, OPS(fx)->post_get(fx->s, draft, &got), 1);
	CHECK_STR("subject after a refused update", got.subject, "Third");
	bl_post_clear(&got);
	CHECK_STR("lists after a refused update", lists_of(fx, draft, buf, sizeof(buf)), "b,c");
	np.priority = (enum bl_priority)7;
	RC(fx, OPS(fx)->post_update(fx->s, &np, NULL, 0), -BL_EINVAL);
	np.priority = BL_PRIORITY_NORMAL;

	/* scheduled: changed, still scheduled at its time */
	int64_t sched = make_post(fx, "sched", BL_PRIORITY_NORMAL, &a, 1);
	RC(fx, OPS(fx)->post_schedule(fx->s, sched, NOW + 500), 1);
	np.id = sched;
	np.subject = "Sched 2";
	RC(fx, OPS(fx)->post_update(fx->s, &np, &b, 1), 1);
	RC(fx, OPS(fx)->post_get(fx->s, sched, &got), 1);
	CHECK_STR("scheduled subject", got.subject, "Sched 2");
	CHECK_INT("still scheduled", got.status, BL_POST_SCHEDULED);
	CHECK_INT("at its time", got.scheduled_at, NOW + 500);
	bl_post_clear(&got);
	CHECK_STR("scheduled lists", lists_of(fx, sched, buf, sizeof(buf)), "b");

	/* sending, a confirmation post, absent: 0, unchanged */
	int64_t sent = make_post(fx, "sent", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, sent, 0);
	struct bl_signup in = signup_of("w@x.org", &a, 1, NOW);
	int64_t confirm = do_signup(fx, &in).confirm_post_id;
	const int64_t others[] = {sent, confirm, 999999};
	for (int i = 0; i < 3; i++) {
		np.id = others[i];
		np.subject = "Changed";
		RC(fx, OPS(fx)->post_update(fx->s, &np, &c, 1), 0);
	}
	RC(fx, OPS(fx)->post_get(fx->s, sent, &got), 1);
	CHECK_STR("a sending post keeps its subject", got.subject, "sent");
	bl_post_clear(&got);
	CHECK_STR("a sending post keeps its lists", lists_of(fx, sent, buf, sizeof(buf)), "a");
}

/* list_delete keeps a list a post still has to go out on. */
static void test_list_delete_busy(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	int64_t id = make_post(fx, "s", BL_PRIORITY_NORMAL, &a, 1);
	static const struct {
		int64_t at; /* post_schedule: 0 = draft */
		int want;
	} steps[] = {{NOW + 100, -BL_EINUSE}, {0, 0}};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		RC(fx, OPS(fx)->post_schedule(fx->s, id, steps[i].at), 1);
		int rc = OPS(fx)->list_delete(fx->s, "a");
		if (rc != steps[i].want)
			fail_msg("list_delete with the post %s: got %d, want %d",
			         steps[i].at ? "scheduled" : "a draft", rc, steps[i].want);
		struct bl_list l = {0};
		int found = OPS(fx)->list_get(fx->s, "a", &l);
		bl_list_clear(&l);
		CHECK_INT("list still there", found, steps[i].want ? 1 : 0);
		if (steps[i].want && !strstr(bl_store_error(fx->s), "post"))
			fail_msg("the refusal does not name the post: %s", bl_store_error(fx->s));
	}
}

static void test_post_schedule(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "a");
	int64_t id = make_post(fx, "s", BL_PRIORITY_NORMAL, &a, 1);
	struct bl_post got;
	static const struct {
		int64_t at;
		enum bl_post_status want;
	} steps[] = {
	    {NOW + 100, BL_POST_SCHEDULED},
	    {NOW + 200, BL_POST_SCHEDULED},
	    {0, BL_POST_DRAFT},
	    {NOW - 10, BL_POST_SCHEDULED}, /* in the past: the scheduler's next turn takes it */
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "post_schedule step %zu", i);
		RC(fx, OPS(fx)->post_schedule(fx->s, id, steps[i].at), 1);
		RC(fx, OPS(fx)->post_get(fx->s, id, &got), 1);
		CHECK_INT(what, got.status, steps[i].want);
		CHECK_INT(what, got.scheduled_at, steps[i].at);
		bl_post_clear(&got);
	}
	/* a hold is cleared by scheduling again */
	OK(fx, OPS(fx)->schedule_run(fx->s, NOW + 10000, 60, NULL, NULL));
	RC(fx, OPS(fx)->post_get(fx->s, id, &got), 1);
	CHECK_INT("held: still scheduled", got.status, BL_POST_SCHEDULED);
	CHECK_INT("held: a reason", got.pause_reason[0] != '\0', 1);
	bl_post_clear(&got);
	RC(fx, OPS(fx)->post_schedule(fx->s, id, NOW + 20000), 1);
	RC(fx, OPS(fx)->post_get(fx->s, id, &got), 1);
	CHECK_STR("hold cleared", got.pause_reason, "");
	bl_post_clear(&got);

	/* not for a post that went out, a confirmation post or no post */
	int64_t out = make_post(fx, "out", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, out, 0);
	struct bl_signup in = signup_of("w@x.org", &a, 1, NOW);
	int64_t confirm = do_signup(fx, &in).confirm_post_id;
	RC(fx, OPS(fx)->post_schedule(fx->s, out, NOW + 100), 0);
	RC(fx, OPS(fx)->post_schedule(fx->s, confirm, NOW + 100), 0);
	RC(fx, OPS(fx)->post_schedule(fx->s, 999999, NOW + 100), 0);
	CHECK_INT("sending post untouched", status_of(fx, out), BL_POST_SENDING);
}

struct sched_calls {
	int n;
	char text[256];
};

static int on_schedule(void *arg, int64_t post_id, int held, int64_t total)
{
	struct sched_calls *c = arg;
	size_t len = strlen(c->text);
	snprintf(c->text + len, sizeof(c->text) - len, "%s%" PRId64 ":%s:%" PRId64, c->n ? "," : "",
	         post_id, held ? "held" : "queued", total);
	c->n++;
	return 0;
}

static void test_schedule_run(void **state)
{
	struct fixture *fx = *state;
	int64_t a = audience(fx, 2);
	int64_t on_time = make_post(fx, "on time", BL_PRIORITY_NORMAL, &a, 1);
	int64_t late = make_post(fx, "late", BL_PRIORITY_NORMAL, &a, 1);
	int64_t future = make_post(fx, "future", BL_PRIORITY_NORMAL, &a, 1);
	int64_t draft = make_post(fx, "draft", BL_PRIORITY_NORMAL, &a, 1);
	RC(fx, OPS(fx)->post_schedule(fx->s, on_time, NOW - 10), 1);
	RC(fx, OPS(fx)->post_schedule(fx->s, late, NOW - 1000), 1);
	RC(fx, OPS(fx)->post_schedule(fx->s, future, NOW + 100), 1);

	struct sched_calls c = {0};
	char want[256];
	OK(fx, OPS(fx)->schedule_run(fx->s, NOW, 300, on_schedule, &c));
	snprintf(want, sizeof(want), "%" PRId64 ":held:0,%" PRId64 ":queued:2", late, on_time);
	CHECK_STR("first run, by scheduled time", c.text, want);

	struct bl_post got;
	RC(fx, OPS(fx)->post_get(fx->s, on_time, &got), 1);
	CHECK_INT("on time: sending", got.status, BL_POST_SENDING);
	CHECK_INT("on time: total", got.total, 2);
	CHECK_INT("on time: started at", got.started_at, NOW);
	bl_post_clear(&got);
	check_counts(fx, "on time", on_time, 2, 0, 0, 0, 0, 0, 0);
	RC(fx, OPS(fx)->post_get(fx->s, late, &got), 1);
	CHECK_INT("late: still scheduled", got.status, BL_POST_SCHEDULED);
	CHECK_STR("late: held", got.pause_reason,
	          "held: scheduled for 2023-11-14T21:56:40Z, 1000 s late "
	          "(max_schedule_lateness 300 s); send it or schedule it again");
	bl_post_clear(&got);
	check_counts(fx, "late", late, 0, 0, 0, 0, 0, 0, 0);
	CHECK_INT("future: untouched", status_of(fx, future), BL_POST_SCHEDULED);
	CHECK_INT("draft: untouched", status_of(fx, draft), BL_POST_DRAFT);

	/* a second run takes nothing twice: the held post stays held, the queued one queued once */
	memset(&c, 0, sizeof(c));
	OK(fx, OPS(fx)->schedule_run(fx->s, NOW + 1, 300, on_schedule, &c));
	CHECK_STR("second run", c.text, "");
	check_counts(fx, "on time after the second run", on_time, 2, 0, 0, 0, 0, 0, 0);

	/* the future post's time comes, 50 s late: queued */
	memset(&c, 0, sizeof(c));
	OK(fx, OPS(fx)->schedule_run(fx->s, NOW + 150, 300, on_schedule, &c));
	snprintf(want, sizeof(want), "%" PRId64 ":queued:2", future);
	CHECK_STR("third run", c.text, want);

	/* lateness exactly at the limit still goes; a held post rescheduled goes at its time */
	RC(fx, OPS(fx)->post_schedule(fx->s, late, NOW + 200), 1);
	memset(&c, 0, sizeof(c));
	OK(fx, OPS(fx)->schedule_run(fx->s, NOW + 500, 300, on_schedule, &c));
	snprintf(want, sizeof(want), "%" PRId64 ":queued:2", late);
	CHECK_STR("rescheduled held post", c.text, want);
	CHECK_INT("rescheduled: sending", status_of(fx, late), BL_POST_SENDING);
	memset(&c, 0, sizeof(c));
	OK(fx, OPS(fx)->schedule_run(fx->s, NOW + 10000, 300, on_schedule, &c));
	CHECK_STR("nothing left", c.text, "");
}

static void test_delivery_retry(void **state)
{
	struct fixture *fx = *state;
	int64_t a = audience(fx, 3);
	int64_t post = make_post(fx, "retry", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, 3);
	struct turn t = {0};
	exchange(fx, NOW, NULL, 0, 3, &t);
	CHECK_INT("claimed", t.n, 3);
	struct bl_delivery_result r[3];
	for (int i = 0; i < 3; i++)
		r[i] = (struct bl_delivery_result){.delivery_id = t.c[i].delivery_id,
		                                   .state = i ? BL_DELIVERY_FAILED
		                                              : BL_DELIVERY_ACCEPTED,
		                                   .code = i ? 550 : 250,
		                                   .reply = i ? "5.1.1 no such user" : "2.0.0 Ok"};
	exchange(fx, NOW + 1, r, 3, 0, &t);
	CHECK_INT("sent with failed rows", status_of(fx, post), BL_POST_SENT);

	int64_t n = -1;
	RC(fx, OPS(fx)->delivery_retry(fx->s, post, NOW + 10, &n), 1);
	CHECK_INT("rows retried", n, 2);
	struct bl_post got;
	RC(fx, OPS(fx)->post_get(fx->s, post, &got), 1);
	CHECK_INT("back to sending", got.status, BL_POST_SENDING);
	CHECK_INT("finished_at cleared", got.finished_at, 0);
	bl_post_clear(&got);
	check_counts(fx, "after retry", post, 2, 0, 1, 0, 0, 0, 0);
	struct rows w;
	rows_of(fx, post, BL_DELIVERY_PENDING, &w);
	for (int i = 0; i < w.n; i++) {
		CHECK_INT("retried row: attempts kept", w.r[i].attempts, 1);
		CHECK_INT("retried row: code kept", w.r[i].code, 550);
		CHECK_STR("retried row: reply kept", w.r[i].reply, "5.1.1 no such user");
		CHECK_INT("retried row: due now", w.r[i].next_try, NOW + 10);
	}

	/* the engine takes them again */
	exchange(fx, NOW + 11, NULL, 0, 8, &t);
	CHECK_INT("claimed again", t.n, 2);
	for (size_t i = 0; i < t.n; i++)
		CHECK_INT("second attempt", t.c[i].attempts, 2);
	size_t nr = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	exchange(fx, NOW + 12, r, nr, 0, &t);
	CHECK_INT("finished after the retry", t.finished, 1);
	RC(fx, OPS(fx)->post_get(fx->s, post, &got), 1);
	CHECK_INT("sent again", got.status, BL_POST_SENT);
	CHECK_INT("finished again", got.finished_at, NOW + 12);
	bl_post_clear(&got);

	/* nothing failed: done, no row, still sent */
	n = -1;
	RC(fx, OPS(fx)->delivery_retry(fx->s, post, NOW + 20, &n), 1);
	CHECK_INT("no rows", n, 0);
	CHECK_INT("stays sent", status_of(fx, post), BL_POST_SENT);
	RC(fx, OPS(fx)->delivery_retry(fx->s, post, NOW + 20, NULL), 1);

	/* a paused post: its rows come back, it stays paused */
	int64_t paused = make_post(fx, "paused", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, paused, 3);
	exchange(fx, NOW + 30, NULL, 0, 1, &t);
	r[0] = (struct bl_delivery_result){
	    .delivery_id = t.c[0].delivery_id, .state = BL_DELIVERY_FAILED, .code = 554};
	exchange(fx, NOW + 31, r, 1, 0, &t);
	RC(fx,
	   OPS(fx)->post_set_status(fx->s, paused, 1u << BL_POST_SENDING, BL_POST_PAUSED,
	                            "operator", 0, NOW + 32),
	   1);
	RC(fx, OPS(fx)->delivery_retry(fx->s, paused, NOW + 33, &n), 1);
	CHECK_INT("paused: rows", n, 1);
	CHECK_INT("paused: stays paused", status_of(fx, paused), BL_POST_PAUSED);
	check_counts(fx, "paused after retry", paused, 3, 0, 0, 0, 0, 0, 0);

	/* a draft, a cancelled post, no post: 0 */
	int64_t draft = make_post(fx, "draft", BL_PRIORITY_NORMAL, &a, 1);
	RC(fx, OPS(fx)->delivery_retry(fx->s, draft, NOW, &n), 0);
	force_status(fx, paused, BL_POST_CANCELLED);
	RC(fx, OPS(fx)->delivery_retry(fx->s, paused, NOW, &n), 0);
	RC(fx, OPS(fx)->delivery_retry(fx->s, 999999, NOW, &n), 0);
	turn_clear(&t);
}

static void test_accepted_hist(void **state)
{
	struct fixture *fx = *state;
	int64_t a = audience(fx, 6);
	int64_t post = make_post(fx, "hist", BL_PRIORITY_NORMAL, &a, 1);
	int64_t other = make_post(fx, "other", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, post, 6);
	struct turn t = {0};
	exchange(fx, NOW, NULL, 0, 6, &t);
	CHECK_INT("claimed", t.n, 6);
	int64_t ids[6];
	for (int i = 0; i < 6; i++)
		ids[i] = t.c[i].delivery_id;
	/* accepted at NOW+5 (2), NOW+10 (1), NOW+29 (1), NOW+30 (1); one failed at NOW+29 */
	static const struct {
		int64_t at;
		int first, count;
		enum bl_delivery_state state;
	} turns[] = {
	    {NOW + 5, 0, 2, BL_DELIVERY_ACCEPTED},  {NOW + 10, 2, 1, BL_DELIVERY_ACCEPTED},
	    {NOW + 29, 3, 1, BL_DELIVERY_ACCEPTED}, {NOW + 29, 4, 1, BL_DELIVERY_FAILED},
	    {NOW + 30, 5, 1, BL_DELIVERY_ACCEPTED},
	};
	for (size_t k = 0; k < sizeof(turns) / sizeof(turns[0]); k++) {
		struct bl_delivery_result r[2];
		for (int i = 0; i < turns[k].count; i++)
			r[i] = (struct bl_delivery_result){.delivery_id = ids[turns[k].first + i],
			                                   .state = turns[k].state};
		exchange(fx, turns[k].at, r, (size_t)turns[k].count, 0, &t);
	}
	static const struct {
		const char *what;
		int64_t post_off, from;
		int64_t bucket;
		size_t n;
		int64_t want[4];
	} cases[] = {
	    {"10 s buckets", 0, NOW, 10, 4, {2, 1, 1, 1}},
	    {"from NOW+10", 0, NOW + 10, 10, 2, {1, 1}},
	    {"one big bucket", 0, NOW - 100, 1000, 1, {5}},
	    {"before the sending", 0, NOW - 100, 10, 3, {0, 0, 0}},
	    {"1 s buckets", 0, NOW + 4, 1, 3, {0, 2, 0}},
	    {"another post", 1, NOW, 10, 4, {0, 0, 0, 0}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t out[4];
		memset(out, 0xab, sizeof(out));
		OK(fx, OPS(fx)->delivery_accepted_hist(fx->s, cases[i].post_off ? other : post,
		                                       cases[i].from, cases[i].bucket, cases[i].n,
		                                       out));
		for (size_t k = 0; k < cases[i].n; k++) {
			char what[96];
			snprintf(what, sizeof(what), "%s: bucket %zu", cases[i].what, k);
			CHECK_INT(what, out[k], cases[i].want[k]);
		}
	}
	int64_t out[1];
	RC(fx, OPS(fx)->delivery_accepted_hist(fx->s, post, NOW, 0, 1, out), -BL_EINVAL);
	turn_clear(&t);
}

/* ---- publisher tools (schema 5): asynchronous jobs ----------------------------------------- */

static int on_job(void *arg, const struct bl_job *j)
{
	char t[96];
	snprintf(t, sizeof(t), "%s:%s:%" PRId64, j->actor, bl_job_state_name(j->state), j->done);
	return note(arg, j->id, t);
}

/* job_claim that must return @want; on 1 checks the job is @want_id with input @want_input. */
static void claim_job(struct fixture *fx, int64_t now, int64_t stale_before, int want,
                      int64_t want_id, const char *want_input, size_t want_len)
{
	struct bl_job j;
	void *in = (void *)"untouched";
	size_t len = 12345;
	RC(fx, OPS(fx)->job_claim(fx->s, now, stale_before, &j, &in, &len), want);
	if (want != 1)
		return;
	CHECK_INT("claimed job", j.id, want_id);
	CHECK_INT("claimed: running", j.state, BL_JOB_RUNNING);
	CHECK_INT("claimed: started_at", j.started_at, now);
	CHECK_INT("claimed: done starts at 0", j.done, 0);
	CHECK_INT("claimed: input length", len, want_len);
	if (len == want_len && memcmp(in, want_input, want_len) != 0)
		fail_msg("claimed job %" PRId64 ": input differs", want_id);
	free(in);
	bl_job_clear(&j);
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT heartbeat_at FROM jobs WHERE id = %" PRId64, want_id);
	CHECK_INT("claimed: heartbeat_at", raw_int(fx, sql), now);
}

static void test_jobs(void **state)
{
	struct fixture *fx = *state;
	static const char csv1[] = "email\na@x.org\n\0binary", csv2[] = "email\nb@x.org\n";
	struct bl_job j1 = {.kind = "import",
	                    .params = "{\"list\":\"news\"}",
	                    .actor = "user:alice",
	                    .size = sizeof(csv1)};
	OK(fx, OPS(fx)->job_create(fx->s, &j1, csv1, sizeof(csv1)));
	struct bl_job j2 = {.kind = "import", .params = "{}", .actor = "token:deploy", .size = 14};
	OK(fx, OPS(fx)->job_create(fx->s, &j2, csv2, strlen(csv2)));
	struct bl_job j3 = {.kind = "import", .params = "{}", .actor = "cli"};
	OK(fx, OPS(fx)->job_create(fx->s, &j3, NULL, 0));
	CHECK_INT("ids grow", j1.id < j2.id && j2.id < j3.id, 1);

	struct bl_job got;
	RC(fx, OPS(fx)->job_get(fx->s, j1.id, &got), 1);
	CHECK_STR("kind", got.kind, "import");
	CHECK_STR("state", bl_job_state_name(got.state), "queued");
	CHECK_JSON("params", got.params, "{\"list\":\"news\"}");
	CHECK_STR("actor", got.actor, "user:alice");
	CHECK_INT("size", got.size, sizeof(csv1));
	CHECK_INT("done", got.done, 0);
	CHECK_JSON("report before the end", got.report, "{}");
	CHECK_STR("error", got.error, "");
	CHECK_INT("created_at", got.created_at, NOW);
	CHECK_INT("started_at", got.started_at, 0);
	CHECK_INT("finished_at", got.finished_at, 0);
	bl_job_clear(&got);
	RC(fx, OPS(fx)->job_get(fx->s, 999999, &got), 0);

	/* the oldest queued job first, with its input (bytes, NUL included) */
	claim_job(fx, NOW + 1, 0, 1, j1.id, csv1, sizeof(csv1));
	/* progress refreshes the heartbeat (the lease), also without a new count */
	OK(fx, OPS(fx)->job_progress(fx->s, j1.id, 7, NOW + 4));
	OK(fx, OPS(fx)->job_progress(fx->s, j1.id, 7, NOW + 5));
	RC(fx, OPS(fx)->job_get(fx->s, j1.id, &got), 1);
	CHECK_INT("progress", got.done, 7);
	CHECK_INT("progress keeps started_at", got.started_at, NOW + 1);
	bl_job_clear(&got);
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT heartbeat_at FROM jobs WHERE id = %" PRId64, j1.id);
	CHECK_INT("progress: heartbeat_at", raw_int(fx, sql), NOW + 5);
	claim_job(fx, NOW + 2, 0, 1, j2.id, csv2, strlen(csv2));

	/* the lease: a running job silent since before stale_before is taken over
	 * (the oldest first) and starts over; a fresher one, or one with its
	 * heartbeat at stale_before, is not: the queued job comes first */
	claim_job(fx, NOW + 6, NOW + 2, 1, j3.id, "", 0); /* j1 at 5, j2 at 2: both live */
	claim_job(fx, NOW + 7, NOW + 3, 1, j2.id, csv2, strlen(csv2)); /* j2 silent */
	claim_job(fx, NOW + 8, NOW + 6, 1, j1.id, csv1, sizeof(csv1)); /* j1 silent */
	claim_job(fx, NOW + 9, NOW + 6, 0, 0, NULL, 0); /* j3 at 6, j2 at 7, j1 at 8 */
	claim_job(fx, NOW + 9, 0, 0, 0, NULL, 0);       /* 0: no takeover at all */

	struct seen w = {0};
	char buf[256];
	OK(fx, OPS(fx)->job_each(fx->s, 0, on_job, &w));
	CHECK_STR("jobs newest first", texts_of(&w, buf, sizeof(buf)),
	          "cli:running:0,token:deploy:running:0,user:alice:running:0");
	memset(&w, 0, sizeof(w));
	OK(fx, OPS(fx)->job_each(fx->s, 1, on_job, &w));
	CHECK_STR("jobs, limit 1", texts_of(&w, buf, sizeof(buf)), "cli:running:0");

	/* finish: done with a report, failed with an error; the input goes */
	OK(fx, OPS(fx)->job_progress(fx->s, j1.id, sizeof(csv1), NOW + 10));
	OK(fx, OPS(fx)->job_finish(fx->s, j1.id, "{\"added\":1}", NULL, NOW + 4));
	/* an ended job's progress and heartbeat stay */
	OK(fx, OPS(fx)->job_progress(fx->s, j1.id, 1, NOW + 11));
	CHECK_INT("no heartbeat after the end", raw_int(fx, sql), NOW + 10);
	OK(fx, OPS(fx)->job_finish(fx->s, j2.id, NULL, "line 2: not an address", NOW + 5));
	RC(fx, OPS(fx)->job_get(fx->s, j1.id, &got), 1);
	CHECK_STR("done", bl_job_state_name(got.state), "done");
	CHECK_JSON("report", got.report, "{\"added\":1}");
	CHECK_STR("no error", got.error, "");
	CHECK_INT("finished_at", got.finished_at, NOW + 4);
	CHECK_INT("done count kept", got.done, sizeof(csv1));
	bl_job_clear(&got);
	RC(fx, OPS(fx)->job_get(fx->s, j2.id, &got), 1);
	CHECK_STR("failed", bl_job_state_name(got.state), "failed");
	CHECK_STR("error", got.error, "line 2: not an address");
	CHECK_JSON("report of a failed job", got.report, "{}");
	bl_job_clear(&got);
	CHECK_INT("input dropped at the end",
	          raw_int(fx, "SELECT count(*) FROM jobs WHERE state IN ('done', 'failed') "
	                      "AND input IS NOT NULL"),
	          0);

	/* ended jobs are never claimed again; an empty input is 0 bytes */
	claim_job(fx, NOW + 20, NOW + 20, 1, j3.id, "", 0);
	OK(fx, OPS(fx)->job_finish(fx->s, j3.id, NULL, NULL, NOW + 21));
	claim_job(fx, NOW + 100, NOW + 100, 0, 0, NULL, 0);
}

/* ---- feeds (schema 6) ---------------------------------------------------------------------- */

static int count_feed(void *arg, const struct bl_feed *f)
{
	(void)f;
	(*(int *)arg)++;
	return 0;
}

static int collect_slug(void *arg, const struct bl_list *l)
{
	char *out = arg;
	if (*out)
		strcat(out, ",");
	strcat(out, l->slug);
	return 0;
}

/* A feed entry with key @k (64 hex digits from the digit @c) and subject @subj. */
static struct bl_feed_ingest_item entry(char key[65], char c, const char *subj)
{
	memset(key, c, 64);
	key[64] = '\0';
	return (struct bl_feed_ingest_item){.key = key,
	                                    .title = subj,
	                                    .link = "https://example.org/x",
	                                    .subject = subj,
	                                    .body = "<p>body</p>"};
}

static void test_feeds(void **state)
{
	struct fixture *fx = *state;
	int64_t news = make_list(fx, "feed-news"), town = make_list(fx, "feed-town");
	int64_t lists[] = {town, news, news}; /* a list named twice counts once */
	struct bl_feed f = {.url = "https://example.org/feed.xml",
	                    .mode = BL_FEED_SEND,
	                    .every = 600,
	                    .breaking = 1,
	                    .backfill = 1,
	                    .created_at = NOW};
	OK(fx, OPS(fx)->feed_create(fx->s, &f, lists, 3));
	CHECK_INT("first poll due at once", f.next_poll_at, NOW);
	struct bl_feed dup = f;
	RC(fx, OPS(fx)->feed_create(fx->s, &dup, lists, 1), -BL_EEXIST);
	int64_t nolist[] = {999999};
	struct bl_feed other = {.url = "https://example.org/other.xml", .every = 60};
	RC(fx, OPS(fx)->feed_create(fx->s, &other, nolist, 1), -BL_ENOENT);
	RC(fx, OPS(fx)->feed_create(fx->s, &other, lists, 0), -BL_EINVAL);
	other.every = 0;
	RC(fx, OPS(fx)->feed_create(fx->s, &other, lists, 1), -BL_EINVAL);
	CHECK_INT("nothing left by refused feeds", raw_int(fx, "SELECT count(*) FROM feeds"), 1);

	struct bl_feed got;
	RC(fx, OPS(fx)->feed_get(fx->s, f.id, &got), 1);
	CHECK_STR("url", got.url, f.url);
	CHECK_STR("mode", bl_feed_mode_name(got.mode), "send");
	CHECK_INT("every", got.every, 600);
	CHECK_INT("breaking", got.breaking, 1);
	CHECK_INT("backfill", got.backfill, 1);
	CHECK_INT("ok_at", got.ok_at, 0);
	CHECK_INT("created_at", got.created_at, NOW);
	bl_feed_clear(&got);
	RC(fx, OPS(fx)->feed_get(fx->s, 999999, &got), 0);
	char slugs[64] = "";
	OK(fx, OPS(fx)->feed_lists(fx->s, f.id, collect_slug, slugs));
	CHECK_STR("lists by slug", slugs, "feed-news,feed-town");
	int n = 0;
	OK(fx, OPS(fx)->feed_each(fx->s, count_feed, &n));
	CHECK_INT("feed_each", n, 1);

	int64_t ids[4];
	size_t nd = 9;
	OK(fx, OPS(fx)->feed_due(fx->s, NOW - 1, ids, 4, &nd));
	CHECK_INT("not due before its time", (int64_t)nd, 0);
	OK(fx, OPS(fx)->feed_due(fx->s, NOW, ids, 4, &nd));
	CHECK_INT("due", (int64_t)nd, 1);

	/* a failure counts, keeps the validators, moves the next poll */
	RC(fx, OPS(fx)->feed_polled(fx->s, f.id, NOW + 1, NOW + 100, "HTTP 500"), 1);
	RC(fx, OPS(fx)->feed_polled(fx->s, f.id, NOW + 2, NOW + 200, "HTTP 502"), 1);
	RC(fx, OPS(fx)->feed_get(fx->s, f.id, &got), 1);
	CHECK_INT("failures", got.failures, 2);
	CHECK_STR("last_error", got.last_error, "HTTP 502");
	CHECK_INT("next_poll_at", got.next_poll_at, NOW + 200);
	CHECK_INT("polled_at", got.polled_at, NOW + 2);
	CHECK_INT("still never ok", got.ok_at, 0);
	bl_feed_clear(&got);
	RC(fx, OPS(fx)->feed_polled(fx->s, 999999, NOW, NOW, NULL), 0);

	/* first successful poll: three items, backfill 1 -> only the newest (last) becomes a post
	 */
	char k1[65], k2[65], k3[65], k4[65];
	struct bl_feed_ingest_item e[] = {entry(k1, 'a', "one"), entry(k2, 'b', "two"),
	                                  entry(k3, 'c', "three"), entry(k3, 'c', "three again")};
	struct bl_feed_ingest_result r;
	RC(fx,
	   OPS(fx)->feed_ingest(fx->s, f.id, NOW + 10, NOW + 610, "\"v1\"", "Mon, 01 Jan 2024",
	                        "Site", e, 4, &r),
	   1);
	CHECK_INT("new items (a repeated key once)", r.new_items, 3);
	CHECK_INT("posts (backfill 1)", r.posts, 1);
	struct bl_post p;
	RC(fx, OPS(fx)->post_get(fx->s, r.first_post_id, &p), 1);
	CHECK_STR("post subject: the newest", p.subject, "three");
	CHECK_STR("scheduled (mode send)", bl_post_status_name(p.status), "scheduled");
	CHECK_INT("scheduled at the poll", p.scheduled_at, NOW + 10);
	CHECK_INT("breaking", (int64_t)p.priority, BL_PRIORITY_BREAKING);
	bl_post_clear(&p);
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM post_lists WHERE post_id = %" PRId64,
	         r.first_post_id);
	CHECK_INT("the post goes to the feed's lists", raw_int(fx, sql), 2);
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM posts WHERE id = %" PRId64 " AND format = 'html'",
	         r.first_post_id);
	CHECK_INT("format html", raw_int(fx, sql), 1);
	RC(fx, OPS(fx)->feed_get(fx->s, f.id, &got), 1);
	CHECK_STR("etag", got.etag, "\"v1\"");
	CHECK_STR("last_modified", got.last_modified, "Mon, 01 Jan 2024");
	CHECK_STR("title", got.title, "Site");
	CHECK_INT("failures reset", got.failures, 0);
	CHECK_STR("error cleared", got.last_error, "");
	CHECK_INT("ok_at", got.ok_at, NOW + 10);
	CHECK_INT("items", got.items, 3);
	CHECK_INT("posts", got.posts, 1);
	CHECK_INT("next", got.next_poll_at, NOW + 610);
	bl_feed_clear(&got);

	/* seen */
	const char *keys[] = {k1, k2, entry(k4, 'd', "four").key};
	char seen[3] = {9, 9, 9};
	OK(fx, OPS(fx)->feed_seen(fx->s, f.id, 3, keys, seen));
	CHECK_INT("seen a", seen[0], 1);
	CHECK_INT("seen b", seen[1], 1);
	CHECK_INT("not seen d", seen[2], 0);

	/* a later poll: every new item becomes a post; old ones never again; NULL title kept */
	struct bl_feed_ingest_item e2[] = {entry(k1, 'a', "one edited"), entry(k4, 'd', "four")};
	RC(fx, OPS(fx)->feed_ingest(fx->s, f.id, NOW + 20, NOW + 620, "", "", NULL, e2, 2, &r), 1);
	CHECK_INT("one new", r.new_items, 1);
	CHECK_INT("one post", r.posts, 1);
	RC(fx, OPS(fx)->post_get(fx->s, r.first_post_id, &p), 1);
	CHECK_STR("new post", p.subject, "four");
	bl_post_clear(&p);
	RC(fx, OPS(fx)->feed_ingest(fx->s, f.id, NOW + 30, NOW + 630, "", "", NULL, e2, 2, &r), 1);
	CHECK_INT("nothing new the second time", r.new_items + r.posts, 0);
	RC(fx, OPS(fx)->feed_get(fx->s, f.id, &got), 1);
	CHECK_STR("title kept", got.title, "Site");
	CHECK_INT("items", got.items, 4);
	CHECK_INT("posts", got.posts, 2);
	bl_feed_clear(&got);
	RC(fx, OPS(fx)->feed_ingest(fx->s, 999999, NOW, NOW, "", "", NULL, e2, 2, &r), 0);

	/* mode draft: drafts; backfill 0 on the first poll: nothing */
	struct bl_feed d = {.url = "https://example.org/drafts.xml",
	                    .mode = BL_FEED_DRAFT,
	                    .every = 60,
	                    .created_at = NOW};
	OK(fx, OPS(fx)->feed_create(fx->s, &d, lists, 1));
	RC(fx, OPS(fx)->feed_ingest(fx->s, d.id, NOW, NOW + 60, "", "", "D", e, 2, &r), 1);
	CHECK_INT("first poll, backfill 0: seen", r.new_items, 2);
	CHECK_INT("first poll, backfill 0: no post", r.posts, 0);
	RC(fx, OPS(fx)->feed_ingest(fx->s, d.id, NOW + 1, NOW + 60, "", "", "D", e, 3, &r), 1);
	RC(fx, OPS(fx)->post_get(fx->s, r.first_post_id, &p), 1);
	CHECK_STR("draft", bl_post_status_name(p.status), "draft");
	CHECK_INT("normal priority", (int64_t)p.priority, BL_PRIORITY_NORMAL);
	CHECK_INT("no schedule", p.scheduled_at, 0);
	bl_post_clear(&p);

	/* removal: its items go, its posts stay */
	int64_t before = raw_int(fx, "SELECT count(*) FROM posts");
	RC(fx, OPS(fx)->feed_delete(fx->s, f.id), 1);
	RC(fx, OPS(fx)->feed_delete(fx->s, f.id), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM feed_items WHERE feed_id = %" PRId64,
	         f.id);
	CHECK_INT("items gone", raw_int(fx, sql), 0);
	CHECK_INT("posts stay", raw_int(fx, "SELECT count(*) FROM posts"), before);
}

/* ---- digests (schema 6) ---------------------------------------------------------------------- */

/* Collected digest items: post ids and list slugs. */
struct items {
	int n;
	int64_t post[MAX_SEEN];
	int64_t list[MAX_SEEN];
};

static int on_item(void *arg, const struct bl_digest_item *it)
{
	struct items *w = arg;
	if (w->n < MAX_SEEN) {
		w->post[w->n] = it->post->id;
		w->list[w->n] = it->list_id;
		w->n++;
	}
	return 0;
}

/* "P1,P3" of a subscriber's digest: the post ids in order, as text, for got/want messages. */
static const char *items_of(struct fixture *fx, int64_t digest, int64_t sub, char *buf, size_t size)
{
	struct items w = {0};
	OK(fx, OPS(fx)->digest_posts(fx->s, digest, sub, on_item, &w));
	buf[0] = '\0';
	for (int i = 0; i < w.n; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, "%s%" PRId64, i ? "," : "", w.post[i]);
	}
	return buf;
}

/* Set subscriber @id's subscription to @list_id to confirmed in @mode. */
static void set_mode(struct fixture *fx, int64_t id, int64_t list_id, enum bl_mode mode)
{
	struct bl_import_change c = {.subscriber_id = id,
	                             .update_subscription = 1,
	                             .updated_at = NOW,
	                             .list_id = list_id,
	                             .sub_status = BL_SUB_CONFIRMED,
	                             .mode = mode};
	OK(fx, OPS(fx)->import_apply(fx->s, 1, &c));
}

static int64_t queue_at(struct fixture *fx, int64_t post, int64_t at)
{
	int64_t total = -1;
	RC(fx, OPS(fx)->post_queue(fx->s, post, at, &total), 1);
	return total;
}

/* The id of subscriber @sub's delivery row of @post in @state (-1: any); 0 when none. */
static int64_t row_in(struct fixture *fx, int64_t post, int64_t sub, const char *state)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM deliveries WHERE post_id = %" PRId64
	         " AND subscriber_id = %" PRId64 "%s%s%s",
	         post, sub, state ? " AND state = '" : "", state ? state : "", state ? "'" : "");
	return raw_int(fx, sql);
}

/*
 * One digest per (mode, period), made once; no empty digest; the posts of
 * other lists, modes and periods left out; a post got at once (breaking)
 * not repeated, one whose row was suppressed because the subscriber left
 * instant mode gathered; unsubscribed, unconfirmed and blocklisted
 * subscribers left out; breaking posts queued to digest subscribers unless
 * the list's breaking_digest is off, and claimed for them.
 */
static void test_digests(void **state)
{
	struct fixture *fx = *state;
	const int64_t T0 = NOW - 10000, T1 = NOW - 1000;
	int64_t a = make_list(fx, "news"), b = make_list(fx, "sport");
	struct bl_list lc = {
	    .slug = "quiet", .name = "Quiet", .description = "", .breaking_digest_off = 1};
	OK(fx, OPS(fx)->list_create(fx->s, &lc));
	struct bl_list got = {0};
	RC(fx, OPS(fx)->list_get(fx->s, "quiet", &got), 1);
	CHECK_INT("quiet breaking_digest_off", got.breaking_digest_off, 1);
	bl_list_clear(&got);
	RC(fx, OPS(fx)->list_get(fx->s, "news", &got), 1);
	CHECK_INT("news breaking_digest_off (default)", got.breaking_digest_off, 0);
	bl_list_clear(&got);
	int64_t c = lc.id;

	int64_t s1 = add_subscriber(fx, "s1@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s1, a, BL_SUB_CONFIRMED, BL_MODE_DAILY, T0 - 100);
	int64_t s2 = add_subscriber(fx, "s2@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s2, a, BL_SUB_CONFIRMED, BL_MODE_WEEKLY, T0 - 100);
	int64_t s3 = add_subscriber(fx, "s3@x.example", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED,
	                            T0 - 100); /* instant */
	int64_t s4 = add_subscriber(fx, "s4@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s4, a, BL_SUB_CONFIRMED, BL_MODE_DAILY, T0 - 100);
	add_subscription(fx, s4, b, BL_SUB_CONFIRMED, BL_MODE_DAILY, T0 - 100);
	int64_t s5 = add_subscriber(fx, "s5@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s5, a, BL_SUB_UNSUBSCRIBED, BL_MODE_DAILY, T0 - 100);
	int64_t s6 = add_subscriber(fx, "s6@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s6, a, BL_SUB_CONFIRMED, BL_MODE_DAILY, T0 - 100);
	int64_t s7 = add_subscriber(fx, "s7@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s7, b, BL_SUB_CONFIRMED, BL_MODE_DAILY, T0 - 100);
	int64_t s8 = add_subscriber(fx, "s8@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s8, c, BL_SUB_CONFIRMED, BL_MODE_DAILY, T0 - 100);
	int64_t s9 = add_subscriber(fx, "s9@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, T0 - 100);
	add_subscription(fx, s9, a, BL_SUB_UNCONFIRMED, BL_MODE_DAILY, T0 - 100);
	int64_t s10 = add_subscriber(fx, "s10@x.example", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED,
	                             T0 - 100); /* instant, then daily */

	blocklist(fx, s6, "bounced");
	int64_t p_before = make_post(fx, "before", BL_PRIORITY_NORMAL, &a, 1);
	CHECK_INT("post before the period: rows", queue_at(fx, p_before, T0 - 1), 2); /* s3 s10 */
	int64_t p1 = make_post(fx, "p1", BL_PRIORITY_NORMAL, &a, 1);
	CHECK_INT("p1 (normal): rows (instant only)", queue_at(fx, p1, T0), 2);
	int64_t p2 = make_post(fx, "p2", BL_PRIORITY_BREAKING, &a, 1);
	/* s1, s2, s4 (digest modes, breaking_digest on), s3, s10 (instant) */
	CHECK_INT("p2 (breaking): rows (digest subscribers too)", queue_at(fx, p2, T0 + 200), 5);
	int64_t p3 = make_post(fx, "p3", BL_PRIORITY_BREAKING, &c, 1);
	CHECK_INT("p3 (breaking, breaking_digest off): rows", queue_at(fx, p3, T0 + 300), 0);
	int64_t p_after = make_post(fx, "after", BL_PRIORITY_NORMAL, &b, 1);
	CHECK_INT("post after the period: rows", queue_at(fx, p_after, T1), 0);
	make_post(fx, "draft", BL_PRIORITY_NORMAL, &a, 1); /* never sent */

	/* s10 leaves instant mode: its rows become suppressed at claim time, and p1
	 * goes to its digest instead. The digest subscribers' rows of p2 are claimed. */
	set_mode(fx, s10, a, BL_MODE_DAILY);
	struct turn t = {0};
	exchange(fx, T0 + 400, NULL, 0, MAX_CLAIM, &t);
	CHECK_INT("claimed: before s3, p1 s3, p2 s1 s2 s3 s4 s10", t.n, 7);
	for (size_t i = 0; i < t.n; i++)
		if (t.c[i].post_id == p2 && t.c[i].list_id != a)
			fail_msg("p2 row of subscriber %" PRId64 ": got list %" PRId64
			         ", want %" PRId64,
			         t.c[i].subscriber_id, t.c[i].list_id, a);
	CHECK_INT("s10's p1 row suppressed", row_in(fx, p1, s10, "suppressed"), 1);
	turn_clear(&t);

	struct bl_digest_spec spec = {.mode = BL_MODE_DAILY,
	                              .period_start = T0,
	                              .period_end = T1,
	                              .subject = "Daily digest",
	                              .now = T1 + 5};
	int64_t id = -1, total = -1;
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, &id, &total), 1);
	/* s1 (p1), s4 (p1; p2 it got at once; nothing of sport in the period), s8 (p3), s10 (p1) */
	CHECK_INT("daily digest recipients", total, 4);
	char buf[256];
	static const struct {
		const char *who, *want;
		int sub; /* index into subs[] */
	} expect[] = {
	    {"s1: p1 (p2 got at once)", "P1", 0},
	    {"s2: weekly", "", 1},
	    {"s3: instant", "", 2},
	    {"s4: p1 once (two lists)", "P1", 3},
	    {"s5: unsubscribed", "", 4},
	    {"s6: blocklisted", "", 5},
	    {"s7: nothing on sport", "", 6},
	    {"s8: p3 (breaking_digest off)", "P3", 7},
	    {"s9: unconfirmed", "", 8},
	    {"s10: p1 (row suppressed)", "P1", 9},
	};
	int64_t subs[] = {s1, s2, s3, s4, s5, s6, s7, s8, s9, s10};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		char want[64] = "";
		if (strcmp(expect[i].want, "P1") == 0)
			snprintf(want, sizeof(want), "%" PRId64, p1);
		else if (strcmp(expect[i].want, "P3") == 0)
			snprintf(want, sizeof(want), "%" PRId64, p3);
		int64_t sid = subs[expect[i].sub];
		const char *gotp = items_of(fx, id, sid, buf, sizeof(buf));
		if (strcmp(gotp, want) != 0)
			fail_msg("digest posts of %s: got \"%s\", want \"%s\"", expect[i].who, gotp,
			         want);
		CHECK_INT(expect[i].who, row_in(fx, id, sid, NULL), *want ? 1 : 0);
	}
	struct bl_post dp = {0};
	RC(fx, OPS(fx)->post_get(fx->s, id, &dp), 1);
	CHECK_INT("digest kind", dp.kind, BL_POST_KIND_DIGEST);
	CHECK_INT("digest status", dp.status, BL_POST_SENDING);
	CHECK_INT("digest total", dp.total, 4);
	bl_post_clear(&dp);
	struct bl_digest g = {0};
	RC(fx, OPS(fx)->digest_get(fx->s, id, &g), 1);
	CHECK_INT("digest_get mode", g.mode, BL_MODE_DAILY);
	CHECK_INT("digest_get start", g.period_start, T0);
	CHECK_INT("digest_get end", g.period_end, T1);
	RC(fx, OPS(fx)->digest_get(fx->s, p1, &g), 0);

	/* The same period again (a second run, a crash and a restart): nothing. */
	int64_t id2 = -7, total2 = -7;
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, &id2, &total2), 0);
	CHECK_INT("second run: post id untouched", id2, -7);
	CHECK_INT("second run: digests", raw_int(fx, "SELECT count(*) FROM digests"), 1);
	CHECK_INT("second run: digest posts",
	          raw_int(fx, "SELECT count(*) FROM posts WHERE kind = 'digest'"), 1);

	/* The weekly digest of the same period: s2 only. */
	spec.mode = BL_MODE_WEEKLY;
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, &id2, &total2), 1);
	CHECK_INT("weekly recipients", total2, 1);
	snprintf(buf, sizeof(buf), "%" PRId64, p1);
	char buf2[256];
	CHECK_STR("weekly: s2", items_of(fx, id2, s2, buf2, sizeof(buf2)), buf);

	/* A period with nothing in it: recorded, without a post. */
	spec = (struct bl_digest_spec){.mode = BL_MODE_DAILY,
	                               .period_start = T1 + 1, /* after "after" started */
	                               .period_end = T1 + 2,
	                               .subject = "Empty",
	                               .now = T1 + 6};
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, &id2, &total2), 1);
	CHECK_INT("empty period: recipients", total2, 0);
	CHECK_INT("empty period: no post", id2, 0);
	CHECK_INT("empty period: still one digest post",
	          raw_int(fx, "SELECT count(*) FROM posts WHERE kind = 'digest'"), 2);
	CHECK_INT("empty period: recorded",
	          raw_int(fx, "SELECT count(*) FROM digests WHERE post_id IS NULL"), 1);
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, &id2, &total2), 0);
	int64_t last = -1;
	OK(fx, OPS(fx)->digest_last(fx->s, BL_MODE_DAILY, &last));
	CHECK_INT("digest_last daily", last, T1 + 2);
	OK(fx, OPS(fx)->digest_last(fx->s, BL_MODE_WEEKLY, &last));
	CHECK_INT("digest_last weekly", last, T1);

	/* The digest's rows are claimed with the row's list; s1 unsubscribing empties its set. */
	set_subscription(fx, s1, a, BL_SUB_UNSUBSCRIBED);
	CHECK_STR("s1 after unsubscribing", items_of(fx, id, s1, buf, sizeof(buf)), "");
	exchange(fx, T1 + 10, NULL, 0, MAX_CLAIM, &t);
	int n_digest = 0;
	for (size_t i = 0; i < t.n; i++) {
		if (t.c[i].post_id != id)
			continue;
		n_digest++;
		int64_t want = t.c[i].subscriber_id == s8 ? c : a;
		if (t.c[i].list_id != want)
			fail_msg("digest row of %" PRId64 ": got list %" PRId64 ", want %" PRId64,
			         t.c[i].subscriber_id, t.c[i].list_id, want);
	}
	CHECK_INT("digest rows claimed (s1 suppressed: unsubscribed)", n_digest, 3);
	CHECK_INT("s1's digest row suppressed", row_in(fx, id, s1, "suppressed"), 1);
	turn_clear(&t);

	/* Refused arguments. */
	spec.period_end = spec.period_start;
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, NULL, NULL), -BL_EINVAL);
	spec.period_end = spec.period_start + 10;
	spec.mode = BL_MODE_INSTANT;
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, NULL, NULL), -BL_EINVAL);

	/* breaking_digest through list_update. */
	RC(fx, OPS(fx)->list_get(fx->s, "quiet", &got), 1);
	got.breaking_digest_off = 0;
	RC(fx, OPS(fx)->list_update(fx->s, &got), 1);
	bl_list_clear(&got);
	RC(fx, OPS(fx)->list_get(fx->s, "quiet", &got), 1);
	CHECK_INT("quiet after list_update", got.breaking_digest_off, 0);
	bl_list_clear(&got);
	int64_t p4 = make_post(fx, "p4", BL_PRIORITY_BREAKING, &c, 1);
	CHECK_INT("p4 (breaking, breaking_digest on again): rows", queue_at(fx, p4, T1 + 20), 1);
}

/* Another handle (another process, a restart) making the same digest: nothing more. */
static void test_digest_second_handle(void **state)
{
	struct fixture *fx = *state;
	int64_t a = make_list(fx, "news");
	int64_t s1 = add_subscriber(fx, "s1@x.example", BL_SUBSCRIBER_ACTIVE, 0, 0, NOW - 5000);
	add_subscription(fx, s1, a, BL_SUB_CONFIRMED, BL_MODE_DAILY, NOW - 5000);
	int64_t p1 = make_post(fx, "p1", BL_PRIORITY_NORMAL, &a, 1);
	queue_at(fx, p1, NOW - 3000);
	struct bl_digest_spec spec = {.mode = BL_MODE_DAILY,
	                              .period_start = NOW - 4000,
	                              .period_end = NOW - 1000,
	                              .subject = "Daily",
	                              .now = NOW};
	int64_t total = -1;
	RC(fx, OPS(fx)->digest_create(fx->s, &spec, NULL, &total), 1);
	CHECK_INT("first maker's recipients", total, 1);
	struct bl_store *other = NULL;
	struct bl_diag d;
	struct bl_store_opts so = {.busy_timeout_ms = 10000};
	if (bl_store_open(fx->uri, &so, &other, &d))
		fail_msg("second handle: %s", d.msg);
	int rc = other->ops->digest_create(other, &spec, NULL, NULL);
	bl_store_close(other);
	CHECK_INT("second handle: digest_create", rc, 0);
	CHECK_INT("digest rows",
	          raw_int(fx, "SELECT count(*) FROM deliveries d JOIN posts p ON "
	                      "p.id = d.post_id WHERE p.kind = 'digest'"),
	          1);
}

/* ---- bounces and complaints (schema 7) ------------------------------------------------------ */

static const struct bl_bounce_policy default_policy = {
    .hard_limit = 1, .soft_limit = 5, .soft_window = 30 * 86400};

/* A finding of report @key at @idx: class @cls, @final, about (@post, @sub). */
static struct bl_bounce_event finding(const char *key, int idx, enum bl_bounce_class cls, int final,
                                      int64_t post, int64_t sub)
{
	return (struct bl_bounce_event){.report_key = key,
	                                .idx = idx,
	                                .source = "pipe",
	                                .kind = "dsn",
	                                .cls = cls,
	                                .reason = cls == BL_BOUNCE_HARD ? "userunknown" : "",
	                                .status = cls == BL_BOUNCE_HARD ? "5.1.1" : "",
	                                .reply_code = cls == BL_BOUNCE_HARD ? 550 : 0,
	                                .final = final,
	                                .recipient = "someone@x.org",
	                                .diagnostic = "550 5.1.1 no such user",
	                                .feedback_type = cls == BL_BOUNCE_COMPLAINT ? "abuse" : "",
	                                .post_id = post,
	                                .subscriber_id = sub,
	                                .attributed_by = sub ? "verp" : "",
	                                .review = sub ? "" : "no VERP token"};
}

/* bounce_record that must succeed; the outcome's action. */
static const char *record(struct fixture *fx, const struct bl_bounce_event *ev,
                          const struct bl_bounce_policy *pol, int64_t now,
                          struct bl_bounce_outcome *o)
{
	struct bl_bounce_outcome mine;
	if (!o)
		o = &mine;
	memset(o, 0, sizeof(*o));
	OK(fx, OPS(fx)->bounce_record(fx->s, ev, pol, now, o));
	if (!o->action)
		fail_msg("bounce_record %s/%d: got no action, want one", ev->report_key, ev->idx);
	return o->action;
}

/* Post @subject to @list, queued at NOW and accepted by the relay for every row. */
static int64_t accepted_post(struct fixture *fx, const char *subject, int64_t list, int64_t rows)
{
	int64_t post = make_post(fx, subject, BL_PRIORITY_NORMAL, &list, 1);
	queue_post(fx, post, rows);
	struct turn t = {0};
	struct bl_delivery_result r[MAX_CLAIM];
	exchange(fx, NOW, NULL, 0, MAX_CLAIM, &t);
	CHECK_INT("rows claimed", t.n, rows);
	size_t n = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	exchange(fx, NOW, r, n, 0, &t);
	turn_clear(&t);
	return post;
}

/* The state of subscriber @sub's row of @post, as its name ("" when none). */
static const char *state_of(struct fixture *fx, int64_t post, int64_t sub, char *buf, size_t size)
{
	static const char *const names[] = {"pending", "claimed",    "accepted", "deferred",
	                                    "failed",  "suppressed", "bounced",  "complained"};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (row_in(fx, post, sub, names[i]) == 1)
			snprintf(buf, size, "%s", names[i]);
	return buf;
}

/* Subscriber @sub's status and status_reason as "status/reason". */
static const char *standing_of(struct fixture *fx, int64_t sub, char *buf, size_t size)
{
	struct bl_subscriber x = {0};
	RC(fx, OPS(fx)->subscriber_get_id(fx->s, sub, &x), 1);
	snprintf(buf, size, "%s/%s", bl_subscriber_status_name(x.status), x.status_reason);
	bl_subscriber_clear(&x);
	return buf;
}

/* The last consent event of @sub as "kind|slug|ip|ua|source". */
static const char *last_event(struct fixture *fx, int64_t sub, char *buf, size_t size)
{
	struct seen w = {0};
	OK(fx, OPS(fx)->consent_each(fx->s, sub, on_consent, &w));
	snprintf(buf, size, "%s", w.n > 0 && w.n <= MAX_SEEN ? w.text[w.n - 1] : "");
	return buf;
}

struct bounce_rows {
	int n;
	struct {
		int64_t id, post_id, subscriber_id;
		char cls[16], action[16], review[96], recipient[64], diagnostic[64];
	} r[MAX_SEEN];
};

static int on_bounce(void *arg, const struct bl_bounce_row *b)
{
	struct bounce_rows *w = arg;
	if (w->n < MAX_SEEN) {
		w->r[w->n].id = b->id;
		w->r[w->n].post_id = b->post_id;
		w->r[w->n].subscriber_id = b->subscriber_id;
		snprintf(w->r[w->n].cls, sizeof(w->r[0].cls), "%s", bl_bounce_class_name(b->cls));
		snprintf(w->r[w->n].action, sizeof(w->r[0].action), "%s", b->action);
		snprintf(w->r[w->n].review, sizeof(w->r[0].review), "%s", b->review);
		snprintf(w->r[w->n].recipient, sizeof(w->r[0].recipient), "%s", b->recipient);
		snprintf(w->r[w->n].diagnostic, sizeof(w->r[0].diagnostic), "%s", b->diagnostic);
	}
	w->n++;
	return 0;
}

static void bounces_of(struct fixture *fx, const struct bl_bounce_filter *f, struct bounce_rows *w)
{
	memset(w, 0, sizeof(*w));
	OK(fx, OPS(fx)->bounce_each(fx->s, f, on_bounce, w));
}

/*
 * Dedupe, the review bucket, each class's action, the delivery states
 * (accepted -> bounced -> complained; failed stays failed), the complaint's
 * unsubscribes and blocklisting with their events, bounce_each's filters,
 * bounce_counts and delivery_latest.
 */
static void test_bounce_record(void **state)
{
	struct fixture *fx = *state;
	char buf[256], w[160];
	int64_t a = make_list(fx, "news"), b = make_list(fx, "more");
	int64_t s[6];
	for (int i = 0; i < 6; i++) {
		char email[32];
		snprintf(email, sizeof(email), "s%d@x.org", i);
		s[i] = add_subscriber(fx, email, BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED,
		                      NOW - 1000);
	}
	add_subscription(fx, s[4], b, BL_SUB_CONFIRMED, BL_MODE_INSTANT, NOW - 1000);
	int64_t post = accepted_post(fx, "p1", a, 6);
	const struct bl_bounce_policy *pol = &default_policy;
	struct bl_bounce_outcome o, o2;

	/* Arguments. */
	struct bl_bounce_event bad = finding("", 0, BL_BOUNCE_HARD, 1, post, s[0]);
	RC(fx, OPS(fx)->bounce_record(fx->s, &bad, pol, NOW, &o), -BL_EINVAL);
	bad = finding("k-bad", 0, (enum bl_bounce_class)17, 1, post, s[0]);
	RC(fx, OPS(fx)->bounce_record(fx->s, &bad, pol, NOW, &o), -BL_EINVAL);
	CHECK_INT("rows after refused records", rows_in(fx, "bounces"), 0);

	/* Review: not attributed. */
	struct bl_bounce_event ev = finding("k-review", 0, BL_BOUNCE_HARD, 1, 0, 0);
	CHECK_STR("unattributed: action", record(fx, &ev, pol, NOW, &o), "review");
	/* A block finding: recorded, the row bounced, the subscriber untouched. */
	ev = finding("k-block", 0, BL_BOUNCE_BLOCK, 1, post, s[0]);
	CHECK_STR("block: action", record(fx, &ev, pol, NOW, NULL), "recorded");
	CHECK_STR("block: row", state_of(fx, post, s[0], buf, sizeof(buf)), "bounced");
	CHECK_STR("block: subscriber", standing_of(fx, s[0], buf, sizeof(buf)), "active/");
	/* An auto-reply and a delay warning: recorded, nothing changes. */
	ev = finding("k-auto", 0, BL_BOUNCE_AUTOREPLY, 1, post, s[1]);
	CHECK_STR("auto-reply: action", record(fx, &ev, pol, NOW, NULL), "recorded");
	ev = finding("k-delay", 0, BL_BOUNCE_SOFT, 0, post, s[1]);
	CHECK_STR("delay warning: action", record(fx, &ev, pol, NOW, NULL), "recorded");
	CHECK_STR("auto-reply and delay: row", state_of(fx, post, s[1], buf, sizeof(buf)),
	          "accepted");
	/* A soft bounce under the limit: counted. */
	ev = finding("k-soft", 0, BL_BOUNCE_SOFT, 1, post, s[1]);
	CHECK_STR("soft: action", record(fx, &ev, pol, NOW, NULL), "counted");
	CHECK_STR("soft: row", state_of(fx, post, s[1], buf, sizeof(buf)), "bounced");
	CHECK_STR("soft: subscriber", standing_of(fx, s[1], buf, sizeof(buf)), "active/");
	/* A hard bounce (limit 1): disabled, with a blocklist event from the intake. */
	ev = finding("k-hard", 0, BL_BOUNCE_HARD, 1, post, s[2]);
	CHECK_STR("hard: action", record(fx, &ev, pol, NOW, &o), "disabled");
	CHECK_STR("hard: row", state_of(fx, post, s[2], buf, sizeof(buf)), "bounced");
	CHECK_STR("hard: subscriber", standing_of(fx, s[2], buf, sizeof(buf)),
	          "blocklisted/bounced");
	CHECK_STR("hard: event", last_event(fx, s[2], buf, sizeof(buf)),
	          "blocklist|-|||bounce:pipe");
	/* The same report again: a duplicate, nothing changes. */
	int64_t events = rows_in(fx, "consent_events");
	ev.idx = 0;
	CHECK_STR("duplicate: action", record(fx, &ev, pol, NOW + 5, &o2), "disabled");
	CHECK_INT("duplicate: flag", o2.duplicate, 1);
	CHECK_INT("duplicate: the earlier row", o2.bounce_id, o.bounce_id);
	CHECK_INT("first: not a duplicate", o.duplicate, 0);
	CHECK_INT("duplicate: events", rows_in(fx, "consent_events"), events);
	/* Another finding of that report (idx 1) is new: a blocklisted subscriber stays so. */
	ev.idx = 1;
	CHECK_STR("second finding, blocklisted subscriber", record(fx, &ev, pol, NOW, &o2),
	          "recorded");
	CHECK_INT("second finding: not a duplicate", o2.duplicate, 0);
	CHECK_INT("blocklisted again: no event", rows_in(fx, "consent_events"), events);
	/* A complaint after a bounce: complained, every list left, blocklisted. */
	ev = finding("k-hard4", 0, BL_BOUNCE_SOFT, 1, post, s[4]);
	record(fx, &ev, pol, NOW, NULL);
	ev = finding("k-complaint", 0, BL_BOUNCE_COMPLAINT, 1, post, s[4]);
	ev.source = "webhook:ses";
	CHECK_STR("complaint: action", record(fx, &ev, pol, NOW, NULL), "unsubscribed");
	CHECK_STR("complaint: row (from bounced)", state_of(fx, post, s[4], buf, sizeof(buf)),
	          "complained");
	CHECK_STR("complaint: subscriber", standing_of(fx, s[4], buf, sizeof(buf)),
	          "blocklisted/complained");
	CHECK_INT("complaint: news", sub_status_of(fx, s[4], a, NULL), BL_SUB_UNSUBSCRIBED);
	CHECK_INT("complaint: more", sub_status_of(fx, s[4], b, NULL), BL_SUB_UNSUBSCRIBED);
	CHECK_STR("complaint: events", events_of(fx, s[4], buf, sizeof(buf)),
	          "import|news,unsubscribe|news,unsubscribe|more,blocklist|-");
	{
		struct seen sw = {0};
		OK(fx, OPS(fx)->consent_each(fx->s, s[4], on_consent, &sw));
		for (int i = 1; i < sw.n && i < MAX_SEEN; i++) {
			const char *src = strrchr(sw.text[i], '|');
			snprintf(w, sizeof(w), "complaint event %d: source", i);
			CHECK_STR(w, src ? src + 1 : "", "complaint:webhook:ses");
		}
	}
	/* A complaint on an accepted row: complained. A failed row stays failed. */
	ev = finding("k-complaint5", 0, BL_BOUNCE_COMPLAINT, 1, post, s[5]);
	record(fx, &ev, pol, NOW, NULL);
	CHECK_STR("complaint: row (from accepted)", state_of(fx, post, s[5], buf, sizeof(buf)),
	          "complained");
	{
		char sql[200];
		snprintf(sql, sizeof(sql),
		         "UPDATE deliveries SET state = 'failed' WHERE post_id = %" PRId64
		         " AND subscriber_id = %" PRId64,
		         post, s[3]);
		raw_exec(fx, sql);
	}
	ev = finding("k-failed", 0, BL_BOUNCE_HARD, 1, post, s[3]);
	CHECK_STR("hard on a failed row: action", record(fx, &ev, pol, NOW, NULL), "disabled");
	CHECK_STR("failed stays failed", state_of(fx, post, s[3], buf, sizeof(buf)), "failed");
	/* A subscriber that does not exist: review. */
	ev = finding("k-ghost", 0, BL_BOUNCE_HARD, 1, post, 999999);
	CHECK_STR("no such subscriber: action", record(fx, &ev, pol, NOW, NULL), "review");
	/* A token naming a post the subscriber had no delivery of: review, nothing changes. */
	int64_t other = make_post(fx, "never sent", BL_PRIORITY_NORMAL, &a, 1);
	ev = finding("k-nodelivery", 0, BL_BOUNCE_HARD, 1, other, s[0]);
	CHECK_STR("no delivery: action", record(fx, &ev, pol, NOW, NULL), "review");
	CHECK_STR("no delivery: subscriber", standing_of(fx, s[0], buf, sizeof(buf)), "active/");

	/* bounce_each: newest first; filters. */
	struct bounce_rows br;
	bounces_of(fx, &(struct bl_bounce_filter){0}, &br);
	CHECK_INT("bounce_each: all", br.n, 13);
	for (int i = 1; i < br.n && i < MAX_SEEN; i++)
		if (br.r[i].id >= br.r[i - 1].id)
			fail_msg("bounce_each order: got id %" PRId64 " after %" PRId64
			         ", want newest first",
			         br.r[i].id, br.r[i - 1].id);
	bounces_of(fx, &(struct bl_bounce_filter){.review_only = 1}, &br);
	CHECK_INT("review bucket", br.n, 3);
	CHECK_STR("review: action", br.r[2].action, "review");
	CHECK_STR("review: reason", br.r[2].review, "no VERP token");
	CHECK_INT("review: no subscriber", br.r[2].subscriber_id, 0);
	CHECK_STR("review: no delivery's reason", br.r[0].review, BL_BOUNCE_NO_DELIVERY);
	bounces_of(fx, &(struct bl_bounce_filter){.subscriber_id = s[2]}, &br);
	CHECK_INT("s2's findings", br.n, 2);
	CHECK_STR("s2's first finding: class", br.r[1].cls, "hard");
	bounces_of(fx, &(struct bl_bounce_filter){.post_id = post, .limit = 3}, &br);
	CHECK_INT("post's findings, limit 3", br.n, 3);
	int64_t third = br.r[2].id;
	bounces_of(fx, &(struct bl_bounce_filter){.post_id = post, .before_id = third}, &br);
	CHECK_INT("post's findings before the third", br.n, 11 - 3);

	/* bounce_counts: final findings by class, each subscriber once; delivered rows. */
	struct bl_bounce_counts c;
	memset(&c, 0xab, sizeof(c));
	OK(fx, OPS(fx)->bounce_counts(fx->s, post, &c));
	CHECK_INT("counts: hard (s2 twice, s3)", c.n[BL_BOUNCE_HARD], 2);
	CHECK_INT("counts: soft (s1, s4)", c.n[BL_BOUNCE_SOFT], 2);
	CHECK_INT("counts: block", c.n[BL_BOUNCE_BLOCK], 1);
	CHECK_INT("counts: complaint", c.n[BL_BOUNCE_COMPLAINT], 2);
	CHECK_INT("counts: auto-reply", c.n[BL_BOUNCE_AUTOREPLY], 1);
	CHECK_INT("counts: unknown", c.n[BL_BOUNCE_UNKNOWN], 0);
	CHECK_INT("counts: delivered (accepted, bounced, complained)", c.delivered, 5);
	CHECK_INT("counts: sent (delivered and s3's failed row)", c.sent, 6);
	OK(fx, OPS(fx)->bounce_counts(fx->s, 424242, &c));
	CHECK_INT("counts of no post: delivered", c.delivered, 0);
	CHECK_INT("counts of no post: sent", c.sent, 0);
	CHECK_INT("counts of no post: hard", c.n[BL_BOUNCE_HARD], 0);
	struct bl_delivery_counts dc;
	OK(fx, OPS(fx)->delivery_counts(fx->s, post, &dc));
	CHECK_INT("delivery counts: bounced", dc.n[BL_DELIVERY_BOUNCED], 3);
	CHECK_INT("delivery counts: complained", dc.n[BL_DELIVERY_COMPLAINED], 2);
	CHECK_INT("delivery counts: failed", dc.n[BL_DELIVERY_FAILED], 1);

	/* delivery_latest: the post of the latest delivered row since a time. */
	int64_t got = -1;
	RC(fx, OPS(fx)->delivery_latest(fx->s, s[1], NOW - 100, &got), 1);
	CHECK_INT("delivery_latest", got, post);
	RC(fx, OPS(fx)->delivery_latest(fx->s, s[1], NOW + 100, &got), 0);
	RC(fx, OPS(fx)->delivery_latest(fx->s, s[3], NOW - 100, &got), 0); /* failed */
}

/* hard_limit 2: the first hard finding is counted, the second disables. */
static void test_bounce_hard_limit(void **state)
{
	struct fixture *fx = *state;
	char buf[128];
	int64_t a = make_list(fx, "news");
	int64_t s1 = add_subscriber(fx, "s1@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t p1 = accepted_post(fx, "p1", a, 1), p2 = accepted_post(fx, "p2", a, 1);
	struct bl_bounce_policy pol = default_policy;
	pol.hard_limit = 2;
	struct bl_bounce_event ev = finding("h1", 0, BL_BOUNCE_HARD, 1, p1, s1);
	CHECK_STR("first hard: action", record(fx, &ev, &pol, NOW, NULL), "counted");
	CHECK_STR("first hard: subscriber", standing_of(fx, s1, buf, sizeof(buf)), "active/");
	ev = finding("h2", 0, BL_BOUNCE_HARD, 1, p2, s1);
	CHECK_STR("second hard: action", record(fx, &ev, &pol, NOW, NULL), "disabled");
	CHECK_STR("second hard: subscriber", standing_of(fx, s1, buf, sizeof(buf)),
	          "blocklisted/bounced");
}

/*
 * Soft bounces: only final ones within the window count (older ones and
 * delay warnings never); at the limit a probe post is made, once per
 * window; the probe is claimed whatever the subscriber's subscriptions; a
 * soft or hard finding on the probe disables.
 */
static void test_bounce_soft_probe(void **state)
{
	struct fixture *fx = *state;
	char buf[128], w[128];
	int64_t a = make_list(fx, "news");
	int64_t s1 = add_subscriber(fx, "s1@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t s2 = add_subscriber(fx, "s2@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t post = accepted_post(fx, "p1", a, 2), p2 = accepted_post(fx, "p2", a, 2),
	        p3 = accepted_post(fx, "p3", a, 2), p4 = accepted_post(fx, "p4", a, 2);
	const struct bl_bounce_policy pol = {.hard_limit = 2, .soft_limit = 3, .soft_window = 1000};
	/* Two old soft bounces, outside the window at NOW, and delay warnings. */
	struct bl_bounce_event ev = finding("old", 0, BL_BOUNCE_SOFT, 1, p2, s1);
	CHECK_STR("old 1", record(fx, &ev, &pol, NOW - 2000, NULL), "counted");
	ev = finding("old", 1, BL_BOUNCE_SOFT, 1, p3, s1);
	CHECK_STR("old 2", record(fx, &ev, &pol, NOW - 1500, NULL), "counted");
	for (int i = 0; i < 4; i++) {
		ev = finding("delay", i, BL_BOUNCE_SOFT, 0, post, s1);
		snprintf(w, sizeof(w), "delay warning %d", i);
		CHECK_STR(w, record(fx, &ev, &pol, NOW - 10, NULL), "recorded");
	}
	ev = finding("new", 0, BL_BOUNCE_SOFT, 1, post, s1);
	CHECK_STR("new 1 (old ones not counted)", record(fx, &ev, &pol, NOW - 5, NULL), "counted");
	ev = finding("new", 1, BL_BOUNCE_SOFT, 1, p2, s1);
	CHECK_STR("new 2", record(fx, &ev, &pol, NOW - 4, NULL), "counted");
	/* Bounces, not findings: more findings about the same posts (one report naming the
	 * address again, the same report under another key) do not reach the limit. */
	ev = finding("new", 2, BL_BOUNCE_SOFT, 1, p2, s1);
	CHECK_STR("new 2 again (same post)", record(fx, &ev, &pol, NOW - 3, NULL), "counted");
	ev = finding("new-resent", 0, BL_BOUNCE_SOFT, 1, post, s1);
	CHECK_STR("new 1 resent (same post)", record(fx, &ev, &pol, NOW - 3, NULL), "counted");
	struct bl_bounce_outcome o;
	ev = finding("new", 3, BL_BOUNCE_SOFT, 1, p3, s1);
	CHECK_STR("new 3: the limit (a third post)", record(fx, &ev, &pol, NOW, &o), "probe");
	if (o.probe_post_id <= p4)
		fail_msg("probe post: got %" PRId64 ", want a new post", o.probe_post_id);
	int64_t probe = o.probe_post_id;
	struct bl_post p = {0};
	RC(fx, OPS(fx)->post_get(fx->s, probe, &p), 1);
	CHECK_STR("probe: kind", bl_post_kind_name(p.kind), "probe");
	CHECK_STR("probe: status", bl_post_status_name(p.status), "sending");
	CHECK_INT("probe: priority", p.priority, BL_PRIORITY_TRANSACTIONAL);
	CHECK_INT("probe: total", p.total, 1);
	bl_post_clear(&p);
	CHECK_STR("probe: its row", state_of(fx, probe, s1, buf, sizeof(buf)), "pending");
	CHECK_STR("probe: subscriber still active", standing_of(fx, s1, buf, sizeof(buf)),
	          "active/");
	/* Once per window: the next soft bounce is counted, no second probe. */
	ev = finding("new", 4, BL_BOUNCE_SOFT, 1, p4, s1);
	CHECK_STR("new 4: probed already", record(fx, &ev, &pol, NOW + 1, &o), "counted");
	CHECK_INT("no second probe", o.probe_post_id, 0);
	CHECK_INT("probe posts", raw_int(fx, "SELECT count(*) FROM posts WHERE kind = 'probe'"), 1);
	/* The probe goes out although the subscriber left every list; post ls-style walks of
	 * kind post never show it. */
	set_subscription(fx, s1, a, BL_SUB_UNSUBSCRIBED);
	struct turn t = {0};
	exchange(fx, NOW + 2, NULL, 0, MAX_CLAIM, &t);
	CHECK_INT("probe claimed", t.n, 1);
	CHECK_INT("probe claimed: post", t.n ? t.c[0].post_id : 0, probe);
	CHECK_INT("probe claimed: list (none confirmed)", t.n ? t.c[0].list_id : -1, 0);
	struct bl_delivery_result r[MAX_CLAIM];
	size_t n = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	exchange(fx, NOW + 2, r, n, 0, &t);
	/* A soft bounce of the probe disables. */
	ev = finding("probe-bounce", 0, BL_BOUNCE_SOFT, 1, probe, s1);
	CHECK_STR("soft on the probe", record(fx, &ev, &pol, NOW + 3, NULL), "disabled");
	CHECK_STR("soft on the probe: subscriber", standing_of(fx, s1, buf, sizeof(buf)),
	          "blocklisted/bounced");
	/* A hard finding on a probe disables although hard_limit is 2. */
	int64_t probe2 = 0;
	const int64_t s2_posts[] = {post, p2, p3};
	for (int i = 0; i < 3; i++) {
		ev = finding("s2-soft", i, BL_BOUNCE_SOFT, 1, s2_posts[i], s2);
		record(fx, &ev, &pol, NOW, &o);
		probe2 = o.probe_post_id ? o.probe_post_id : probe2;
	}
	if (probe2 == 0)
		fail_msg("s2's probe: got none, want one at the third soft bounce");
	exchange(fx, NOW + 2, NULL, 0, MAX_CLAIM, &t);
	n = results_for(&t, BL_DELIVERY_ACCEPTED, r);
	exchange(fx, NOW + 2, r, n, 0, &t);
	ev = finding("probe2-hard", 0, BL_BOUNCE_HARD, 1, probe2, s2);
	CHECK_STR("hard on the probe", record(fx, &ev, &pol, NOW + 3, NULL), "disabled");
	CHECK_STR("hard on the probe: row", state_of(fx, probe2, s2, buf, sizeof(buf)), "bounced");
	/* Probes are no publisher posts. */
	struct seen sp = {0};
	OK(fx, OPS(fx)->archive_each(fx->s, 0, 0, 0, on_post, &sp));
	for (int i = 0; i < sp.n && i < MAX_SEEN; i++)
		if (sp.id[i] == probe || sp.id[i] == probe2)
			fail_msg("archive: got probe post %" PRId64 ", want none", sp.id[i]);
}

/* Erasure blanks the personal data of the subscriber's findings and detaches them; a
 * blocklisted subscriber's next delivery is suppressed at claim time (mid-send). */
static void test_bounce_erase_and_claim(void **state)
{
	struct fixture *fx = *state;
	char hash[65];
	int64_t a = make_list(fx, "news");
	int64_t s1 = add_subscriber(fx, "s1@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t s2 = add_subscriber(fx, "s2@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	int64_t p1 = accepted_post(fx, "p1", a, 2);
	/* p2 is being sent: both rows pending when s2's hard bounce of p1 comes back. */
	int64_t p2 = make_post(fx, "p2", BL_PRIORITY_NORMAL, &a, 1);
	queue_post(fx, p2, 2);
	struct bl_bounce_event ev = finding("e1", 0, BL_BOUNCE_SOFT, 1, p1, s1);
	record(fx, &ev, &default_policy, NOW, NULL);
	struct bl_bounce_event rv = finding("e-review", 0, BL_BOUNCE_HARD, 1, 0, 0);
	rv.recipient = "S1@x.org";
	record(fx, &rv, &default_policy, NOW, NULL);
	ev = finding("e2", 0, BL_BOUNCE_HARD, 1, p1, s2);
	CHECK_STR("s2 hard", record(fx, &ev, &default_policy, NOW, NULL), "disabled");
	struct turn t = {0};
	exchange(fx, NOW + 1, NULL, 0, MAX_CLAIM, &t);
	CHECK_INT("p2: claimed (s1 only)", t.n, 1);
	CHECK_INT("p2: claimed subscriber", t.n ? t.c[0].subscriber_id : 0, s1);
	turn_clear(&t);
	struct rows w;
	rows_of(fx, p2, BL_DELIVERY_SUPPRESSED, &w);
	CHECK_INT("p2: suppressed rows", w.n, 1);
	CHECK_STR("p2: suppressed reason", w.r[0].reply, "subscriber blocklisted: bounced");

	OK(fx, OPS(fx)->subscriber_erase(fx->s, s1, hash_of("s1@x.org", hash), "request", NOW));
	struct bounce_rows br;
	bounces_of(fx, &(struct bl_bounce_filter){0}, &br);
	CHECK_INT("findings kept", br.n, 3);
	for (int i = 0; i < br.n && i < MAX_SEEN; i++) {
		int erased = strcmp(br.r[i].action, "disabled") != 0;
		char what[96];
		snprintf(what, sizeof(what), "finding %d (%s): recipient", i, br.r[i].action);
		CHECK_STR(what, br.r[i].recipient, erased ? "" : "someone@x.org");
		snprintf(what, sizeof(what), "finding %d (%s): diagnostic", i, br.r[i].action);
		CHECK_STR(what, br.r[i].diagnostic, erased ? "" : "550 5.1.1 no such user");
		snprintf(what, sizeof(what), "finding %d (%s): subscriber", i, br.r[i].action);
		CHECK_INT(what, br.r[i].subscriber_id, erased ? 0 : s2);
	}
}

struct bounce_racer {
	const char *uri;
	char key[32];
	int64_t post, sub;
	pthread_barrier_t *gate;
	int rc;
	struct bl_bounce_outcome o;
	char error[BL_DIAG_MAX + 16];
};

static void *race_bounce(void *arg)
{
	struct bounce_racer *x = arg;
	struct bl_store *s = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {.busy_timeout_ms = 30000};
	x->rc = bl_store_open(x->uri, &opts, &s, &d);
	if (x->rc)
		snprintf(x->error, sizeof(x->error), "open: %s", d.msg);
	pthread_barrier_wait(x->gate);
	if (x->rc)
		return NULL;
	struct bl_bounce_policy pol = default_policy;
	pol.hard_limit = 8;
	struct bl_bounce_event ev = finding(x->key, 0, BL_BOUNCE_HARD, 1, x->post, x->sub);
	x->rc = s->ops->bounce_record(s, &ev, &pol, NOW, &x->o);
	if (x->rc)
		snprintf(x->error, sizeof(x->error), "%s", bl_store_error(s));
	bl_store_close(s);
	return NULL;
}

/* Eight reports about one subscriber at once, hard_limit 8: the count ends right, exactly
 * one of them disables (the subscriber row is the turnstile). */
static void test_bounce_concurrent(void **state)
{
	struct fixture *fx = *state;
	enum { N = 8 };
	char buf[128];
	int64_t a = make_list(fx, "news");
	int64_t s1 = add_subscriber(fx, "s1@x.org", BL_SUBSCRIBER_ACTIVE, a, BL_SUB_CONFIRMED, NOW);
	/* One post each: no delivery row they all change lines them up instead. */
	int64_t posts[N];
	for (int i = 0; i < N; i++)
		posts[i] = accepted_post(fx, "p", a, 1);
	pthread_barrier_t gate;
	pthread_barrier_init(&gate, NULL, N);
	struct bounce_racer x[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		x[i] = (struct bounce_racer){
		    .uri = fx->uri, .post = posts[i], .sub = s1, .gate = &gate};
		snprintf(x[i].key, sizeof(x[i].key), "race-%d", i);
		if (pthread_create(&th[i], NULL, race_bounce, &x[i]) != 0)
			fail_msg("pthread_create %d: got an error, want a thread", i);
	}
	int ok = 0, disabled = 0, counted = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		if (x[i].rc)
			printf("# bounce %d: got %d (%s)\n", i, x[i].rc, x[i].error);
		ok += x[i].rc == 0;
		disabled += x[i].rc == 0 && strcmp(x[i].o.action, "disabled") == 0;
		counted += x[i].rc == 0 && strcmp(x[i].o.action, "counted") == 0;
	}
	pthread_barrier_destroy(&gate);
	CHECK_INT("records that returned 0", ok, N);
	CHECK_INT("disabled", disabled, 1);
	CHECK_INT("counted", counted, N - 1);
	CHECK_INT("rows", rows_in(fx, "bounces"), N);
	CHECK_STR("subscriber", standing_of(fx, s1, buf, sizeof(buf)), "blocklisted/bounced");
}

#define TEST(f)       cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TEST_EMPTY(f) cmocka_unit_test_setup_teardown(f, setup_empty, teardown)
#define TEST_OWN(f)   cmocka_unit_test(f) /* a fresh database per case, made by the test */

int main(void)
{
	is_pg = strcmp(BL_TEST_BACKEND, "postgres") == 0;
	setenv("BULLETIN_FAKE_NOW", NOW_STR, 1);
	if (is_pg) {
		pg_base = getenv("BL_TEST_PG");
		if (!pg_base || !*pg_base) {
			/* TAP's skip; exit 77 is the skip code of plain (exit-code) runners, but
			 * meson's TAP protocol counts a non-zero exit as an error. */
			printf("1..0 # SKIP BL_TEST_PG is not set\n");
			const char *out = getenv("CMOCKA_MESSAGE_OUTPUT");
			return out && strcmp(out, "TAP") == 0 ? 0 : 77;
		}
		pg_admin = PQconnectdb(pg_base);
		if (PQstatus(pg_admin) != CONNECTION_OK) {
			fprintf(stderr, "BL_TEST_PG: %s", PQerrorMessage(pg_admin));
			PQfinish(pg_admin);
			return 1;
		}
		PQclear(PQexec(pg_admin, "SET client_min_messages = warning"));
	} else {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/bl-contract-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			return 1;
		}
	}

	const struct CMUnitTest tests[] = {
	    TEST(test_import_marks),
	    TEST_EMPTY(test_migrate),
	    TEST_EMPTY(test_migrate_concurrent),
	    TEST(test_migrate_newer_refused),
	    TEST(test_settings),
	    TEST(test_lists),
	    TEST(test_list_counts_and_delete),
	    TEST(test_import_new),
	    TEST(test_import_update),
	    TEST(test_import_in_order),
	    TEST(test_import_suppressed),
	    TEST(test_subscriber_each_filters),
	    TEST(test_subscription_each),
	    TEST(test_consent_each),
	    TEST(test_consent_append_only),
	    TEST(test_erase),
	    TEST(test_export),
	    TEST(test_transactions),
	    TEST(test_big_import),
	    TEST(test_posts),
	    TEST(test_post_queue),
	    TEST(test_claim_order),
	    TEST(test_exchange_results),
	    TEST(test_claim_suppression),
	    TEST(test_post_finishes),
	    TEST(test_reclaim),
	    TEST(test_pause_and_cancel),
	    TEST(test_resume_makes_deferred_due),
	    TEST(test_engine_lock),
	    TEST_EMPTY(test_migrate_from_1),
	    TEST(test_exchange_rate),
	    TEST(test_post_kinds),
	    TEST(test_post_format),
	    TEST(test_archive),
	    TEST(test_stats),
	    TEST_EMPTY(test_migrate_from_2),
	    TEST_OWN(test_signup),
	    TEST(test_signup_context),
	    TEST(test_signup_refused),
	    TEST(test_signup_erased),
	    TEST(test_ids_not_reused),
	    TEST(test_signup_throttle),
	    TEST(test_signup_concurrent),
	    TEST(test_confirm),
	    TEST(test_confirm_claims),
	    TEST(test_unsubscribe),
	    TEST_OWN(test_preferences),
	    TEST(test_preferences_form),
	    TEST(test_subscriber_web_reads),
	    TEST(test_users),
	    TEST(test_sessions),
	    TEST(test_last_admin),
	    TEST(test_last_admin_concurrent),
	    TEST(test_tokens),
	    TEST(test_audit),
	    TEST(test_maintained_counts),
	    TEST(test_growth),
	    TEST(test_list_update),
	    TEST(test_subscriber_update),
	    TEST(test_subscriber_search),
	    TEST(test_post_page),
	    TEST(test_post_update),
	    TEST(test_list_delete_busy),
	    TEST(test_post_schedule),
	    TEST(test_schedule_run),
	    TEST(test_delivery_retry),
	    TEST(test_accepted_hist),
	    TEST(test_jobs),
	    TEST(test_feeds),
	    TEST(test_digests),
	    TEST(test_digest_second_handle),
	    TEST(test_bounce_record),
	    TEST(test_bounce_hard_limit),
	    TEST(test_bounce_soft_probe),
	    TEST(test_bounce_erase_and_claim),
	    TEST(test_bounce_concurrent),
	    /* PostgreSQL only (several engines at once): the last 3, left out for SQLite */
	    TEST(test_claim_concurrent),
	    TEST(test_claim_rolled_back),
	    TEST(test_engines_drain),
	};
	size_t n_tests = sizeof(tests) / sizeof(tests[0]) - (is_pg ? 0 : 3);
	int rc = _cmocka_run_group_tests("store/" BL_TEST_BACKEND, tests, n_tests, NULL, NULL);
	if (is_pg)
		PQfinish(pg_admin);
	else
		rmdir(tmpdir);
	return rc;
}
