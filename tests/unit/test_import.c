/*
 * Tests for src/import against a real SQLite file: format detection, the
 * import rules of import.h (duplicates, never re-subscribe, never
 * downgrade, suppression, role addresses, per-row errors with lines),
 * dry runs, encodings, every file of ../shared/corpora/real-exports with the
 * counts and statuses its SOURCE.md gives, and export -> import round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "import/export.h"
#include "import/import.h"
#include "store/store.h"
#include "util/buf.h"

/* ---- fixtures ---- */

struct fx {
	char dir[64];
	char uri[128];
	struct bl_store *s;
	struct bl_buf errors; /* "LINE: message\n" per invalid row */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	strcpy(fx->dir, "/tmp/bl-import-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->uri, sizeof(fx->uri), "sqlite:%s/test.db", fx->dir);
	struct bl_diag d;
	assert_int_equal(bl_store_open(fx->uri, NULL, &fx->s, &d), 0);
	int from, to;
	assert_int_equal(fx->s->ops->migrate(fx->s, &from, &to), 0);
	bl_buf_init(&fx->errors, 0);
	static const struct {
		const char *slug;
		enum bl_optin optin;
	} lists[] = {{"news", BL_OPTIN_DOUBLE}, {"local", BL_OPTIN_SINGLE}};
	for (size_t i = 0; i < 2; i++) {
		struct bl_list l = {.slug = (char *)lists[i].slug,
		                    .name = (char *)lists[i].slug,
		                    .description = "",
		                    .optin = lists[i].optin};
		assert_int_equal(fx->s->ops->list_create(fx->s, &l), 0);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	bl_store_close(fx->s);
	bl_buf_finish(&fx->errors);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static void on_error(void *arg, size_t line, const char *msg)
{
	struct fx *fx = arg;
	bl_buf_addf(&fx->errors, "%zu: %s\n", line, msg);
}

struct run {
	const char *list;
	int confirmed;
	int dry_run;
	int allow_role;
	size_t batch;
	enum bl_format format;
};

/* Import @path; return the result code, fill @st. */
static int import_path(struct fx *fx, const char *path, const struct run *r,
                       struct bl_import_stats *st, struct bl_diag *d)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	struct bl_import_opts o = {
	    .path = path,
	    .list_slug = r->list,
	    .confirmed = r->confirmed,
	    .dry_run = r->dry_run,
	    .allow_role = r->allow_role,
	    .batch = r->batch,
	    .format = r->format,
	    .on_error = on_error,
	    .arg = fx,
	};
	bl_buf_reset(&fx->errors);
	int rc = bl_import_file(fx->s, f, &o, st, d);
	fclose(f);
	return rc;
}

/* Import the text @csv written to a file named @name in the fixture dir. */
static int import_text(struct fx *fx, const char *name, const char *csv, size_t len,
                       const struct run *r, struct bl_import_stats *st, struct bl_diag *d)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(csv, 1, len, f), len);
	fclose(f);
	return import_path(fx, path, r, st, d);
}

#define IMPORT(fx, csv, r, st, d) import_text(fx, "in.csv", csv, strlen(csv), r, st, d)

static void expect_counts(const struct bl_import_stats *st, size_t imported, size_t updated,
                          size_t invalid, size_t duplicate, size_t suppressed, const char *what)
{
	if (st->imported != imported || st->updated != updated || st->invalid != invalid ||
	    st->duplicate != duplicate || st->suppressed != suppressed ||
	    st->skipped != invalid + duplicate + suppressed)
		fail_msg(
		    "%s: got imported %zu updated %zu invalid %zu duplicate %zu suppressed %zu "
		    "skipped %zu; want %zu %zu %zu %zu %zu",
		    what, st->imported, st->updated, st->invalid, st->duplicate, st->suppressed,
		    st->skipped, imported, updated, invalid, duplicate, suppressed);
}

/* Subscription status of @email on @slug: -1 none, else enum bl_sub_status. */
struct find_sub {
	const char *slug;
	int status;
	int mode;
};

static int on_sub(void *arg, const struct bl_subscription *x)
{
	struct find_sub *f = arg;
	if (strcmp(x->list_slug, f->slug) == 0) {
		f->status = (int)x->status;
		f->mode = (int)x->mode;
	}
	return 0;
}

static int sub_status(struct fx *fx, const char *key, const char *slug)
{
	struct bl_subscriber s;
	int rc = fx->s->ops->subscriber_get(fx->s, key, &s);
	assert_true(rc >= 0);
	if (rc == 0)
		return -2;
	struct find_sub f = {slug, -1, -1};
	assert_int_equal(fx->s->ops->subscription_each(fx->s, s.id, on_sub, &f), 0);
	bl_subscriber_clear(&s);
	return f.status;
}

static void expect_status(struct fx *fx, const char *key, const char *slug, int want)
{
	int got = sub_status(fx, key, slug);
	if (got != want)
		fail_msg("%s on %s: got status %d, want %d (-2 = no subscriber, -1 = no "
		         "subscription, 0 unconfirmed, 1 confirmed, 2 unsubscribed)",
		         key, slug, got, want);
}

/* The stored subscriber @key (must exist); caller clears. */
static void get_sub(struct fx *fx, const char *key, struct bl_subscriber *out)
{
	int rc = fx->s->ops->subscriber_get(fx->s, key, out);
	if (rc != 1)
		fail_msg("subscriber %s: got %d, want found", key, rc);
}

struct count_events {
	int kind;
	size_t n;
	int64_t last_at;
	char source[128];
};

static int on_event(void *arg, const struct bl_consent *e)
{
	struct count_events *c = arg;
	if (c->kind < 0 || (int)e->kind == c->kind) {
		c->n++;
		c->last_at = e->at;
		snprintf(c->source, sizeof(c->source), "%s", e->source);
	}
	return 0;
}

static size_t events_of(struct fx *fx, const char *key, int kind, struct count_events *out)
{
	struct bl_subscriber s;
	get_sub(fx, key, &s);
	struct count_events c = {.kind = kind};
	assert_int_equal(fx->s->ops->consent_each(fx->s, s.id, on_event, &c), 0);
	bl_subscriber_clear(&s);
	if (out)
		*out = c;
	return c.n;
}

static char *export_text(struct fx *fx, const char *list, enum bl_export_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct bl_diag d;
	int rc = bl_export(fx->s, list, fmt, f, NULL, &d);
	fclose(f);
	if (rc)
		fail_msg("export: %s", d.msg);
	return buf;
}

static const char *corpus(const char *rel, char *buf, size_t n)
{
	const char *root = getenv("BL_CORPORA");
	if (!root)
		root = "../shared/corpora";
	snprintf(buf, n, "%s/%s", root, rel);
	if (access(buf, R_OK) != 0)
		fail_msg("corpus file %s is missing", buf);
	return buf;
}

/* ---- format detection ---- */

static void test_detect(void **state)
{
	(void)state;
	static const struct {
		const char *header[8];
		enum bl_format want;
	} cases[] = {
	    {{"email", "name", "attributes"}, BL_FORMAT_LISTMONK},
	    {{"Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME"},
	     BL_FORMAT_MAILCHIMP},
	    {{"email", "name", "subscribed_to_emails"}, BL_FORMAT_GHOST},
	    {{"email", "status", "tier", "unsubscribed_at"}, BL_FORMAT_BEEHIIV},
	    {{"Email", "First name", "Last name", "List status", "Global status"},
	     BL_FORMAT_MAILPOET},
	    {{"Email", "First name", "Last name", "Status"}, BL_FORMAT_KEILA},
	    {{"E-Mail", "Vorname"}, BL_FORMAT_GENERIC},
	    {{"email", "name", "attributes", "subscriber_status", "status_reason", "created_at",
	      "list", "mode"},
	     BL_FORMAT_BULLETIN},
	    {{"jane@example.org"}, BL_FORMAT_PLAIN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;
		size_t lens[8];
		while (n < 8 && cases[i].header[n]) {
			lens[n] = strlen(cases[i].header[n]);
			n++;
		}
		struct bl_csv_record rec = {
		    .line = 1, .nfields = n, .fields = cases[i].header, .lens = lens};
		struct bl_mapping *m;
		struct bl_diag d;
		assert_int_equal(
		    bl_mapping_create(&rec, BL_FORMAT_AUTO, BL_IMPORT_VOICE_CLI, &m, &d), 0);
		if (bl_mapping_format(m) != cases[i].want)
			fail_msg("header %zu (%s...): got %s, want %s", i, cases[i].header[0],
			         bl_format_name(bl_mapping_format(m)),
			         bl_format_name(cases[i].want));
		bl_mapping_destroy(m);
	}
	const char *bad[] = {"name", "city"};
	size_t lens[] = {4, 4};
	struct bl_csv_record rec = {.line = 1, .nfields = 2, .fields = bad, .lens = lens};
	struct bl_mapping *m;
	struct bl_diag d;
	assert_int_equal(bl_mapping_create(&rec, BL_FORMAT_AUTO, BL_IMPORT_VOICE_CLI, &m, &d),
	                 -BL_EINVAL);
	assert_non_null(strstr(d.msg, "no email column"));
}

/* ---- the rules ---- */

static void test_basic_and_reimport(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	struct run r = {.list = "news"};
	const char *csv = "Email,Name,City\n"
	                  "alice@example.org,Alice,Paris\n"
	                  "bob@example.org,Bob,\n"
	                  "ALICE@Example.ORG,,Lyon\n"
	                  "not-an-address,X,Y\n"
	                  "carol@example.org,Carol\n";
	assert_int_equal(IMPORT(fx, csv, &r, &st, &d), 0);
	/* The ALICE row repeats an address of the file in another case: the first row wins. */
	expect_counts(&st, 2, 0, 2, 1, 0, "first import");
	const char *errs = bl_buf_str(&fx->errors);
	if (!strstr(errs, "5: invalid address \"not-an-address\"") ||
	    !strstr(errs, "6: has 2 fields; the header has 3"))
		fail_msg("row errors: got \"%s\"", errs);
	expect_status(fx, "alice@example.org", "news", BL_SUB_UNCONFIRMED);
	struct bl_subscriber s;
	get_sub(fx, "alice@example.org", &s);
	assert_string_equal(s.name, "Alice");
	assert_string_equal(s.attributes, "{\"City\":\"Paris\"}");
	assert_string_equal(s.email, "alice@example.org");
	bl_subscriber_clear(&s);
	struct count_events ev;
	assert_int_equal(events_of(fx, "alice@example.org", BL_CONSENT_IMPORT, &ev), 1);
	assert_string_equal(ev.source, "import:in.csv");

	char *before = export_text(fx, NULL, BL_EXPORT_JSON);
	assert_int_equal(IMPORT(fx, csv, &r, &st, &d), 0);
	expect_counts(&st, 0, 0, 2, 3, 0, "re-import");
	char *after = export_text(fx, NULL, BL_EXPORT_JSON);
	/* Identical apart from the export time on the first line. */
	assert_string_equal(strchr(before, '\n'), strchr(after, '\n'));
	free(before);
	free(after);
}

static void test_status_rules(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	struct run r = {.list = "news"};
	assert_int_equal(IMPORT(fx,
	                        "email,status\n"
	                        "unconf@example.org,\n"
	                        "conf@example.org,confirmed\n"
	                        "gone@example.org,unsubscribed\n"
	                        "bounce@example.org,bounced\n",
	                        &r, &st, &d),
	                 0);
	expect_counts(&st, 4, 0, 0, 0, 0, "setup");
	expect_status(fx, "unconf@example.org", "news", BL_SUB_UNCONFIRMED);
	expect_status(fx, "conf@example.org", "news", BL_SUB_CONFIRMED);
	expect_status(fx, "gone@example.org", "news", BL_SUB_UNSUBSCRIBED);
	expect_status(fx, "bounce@example.org", "news", BL_SUB_UNSUBSCRIBED);
	struct bl_subscriber s;
	get_sub(fx, "bounce@example.org", &s);
	assert_int_equal(s.status, BL_SUBSCRIBER_BLOCKLISTED);
	assert_string_equal(s.status_reason, "bounced");
	bl_subscriber_clear(&s);

	/* --confirmed: confirms the unconfirmed, never re-subscribes, never lifts a block. */
	r.confirmed = 1;
	assert_int_equal(IMPORT(fx,
	                        "email\nunconf@example.org\nconf@example.org\ngone@example.org\n"
	                        "bounce@example.org\n",
	                        &r, &st, &d),
	                 0);
	expect_counts(&st, 0, 1, 0, 3, 0, "second");
	expect_status(fx, "unconf@example.org", "news", BL_SUB_CONFIRMED);
	expect_status(fx, "gone@example.org", "news", BL_SUB_UNSUBSCRIBED);
	get_sub(fx, "bounce@example.org", &s);
	assert_int_equal(s.status, BL_SUBSCRIBER_BLOCKLISTED);
	bl_subscriber_clear(&s);
	assert_int_equal(events_of(fx, "unconf@example.org", BL_CONSENT_CONFIRM, NULL), 1);

	/* A pending row never downgrades a confirmed subscription; an unsubscribed row
	 * unsubscribes. */
	r.confirmed = 0;
	assert_int_equal(
	    IMPORT(fx, "email,status\nconf@example.org,pending\nunconf@example.org,unsubscribed\n",
	           &r, &st, &d),
	    0);
	expect_counts(&st, 0, 1, 0, 1, 0, "third");
	expect_status(fx, "conf@example.org", "news", BL_SUB_CONFIRMED);
	expect_status(fx, "unconf@example.org", "news", BL_SUB_UNSUBSCRIBED);
	assert_int_equal(events_of(fx, "unconf@example.org", BL_CONSENT_UNSUBSCRIBE, NULL), 1);

	/* Single opt-in list: confirmed at once. Unknown status words are row errors. */
	r.list = "local";
	assert_int_equal(
	    IMPORT(fx, "email,status\nnew@example.org,\nodd@example.org,maybe\n", &r, &st, &d), 0);
	expect_counts(&st, 1, 0, 1, 0, 0, "single opt-in");
	expect_status(fx, "new@example.org", "local", BL_SUB_CONFIRMED);
	assert_non_null(strstr(bl_buf_str(&fx->errors), "3: unknown status \"maybe\""));
}

static void test_suppression_and_roles(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	struct run r = {.list = "news", .confirmed = 1};
	assert_int_equal(IMPORT(fx, "email\nerased@example.org\nkeep@example.org\n", &r, &st, &d),
	                 0);
	struct bl_subscriber s;
	get_sub(fx, "erased@example.org", &s);
	char hash[BL_HASH_HEX];
	bl_suppression_hash(s.email_key, hash);
	assert_int_equal(fx->s->ops->subscriber_erase(fx->s, s.id, hash, "test", 1000), 0);
	bl_subscriber_clear(&s);
	assert_int_equal(
	    IMPORT(fx,
	           "email\nErased@Example.org\nkeep@example.org\npostmaster@example.org\n"
	           "NoReply@example.org\n",
	           &r, &st, &d),
	    0);
	expect_counts(&st, 0, 0, 2, 1, 1, "suppressed and roles");
	assert_int_equal(sub_status(fx, "erased@example.org", "news"), -2);
	assert_non_null(strstr(bl_buf_str(&fx->errors), "role address \"postmaster@example.org\""));
	r.allow_role = 1;
	assert_int_equal(IMPORT(fx, "email\npostmaster@example.org\n", &r, &st, &d), 0);
	expect_counts(&st, 1, 0, 0, 0, 0, "roles allowed");
}

static void test_batches_and_dupes(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	/* Batch of 2: duplicates within a batch, across batches, and in the same flush. */
	struct run r = {.list = "news", .batch = 2, .confirmed = 1};
	const char *csv = "email,name\n"
	                  "a@example.org,A\n"
	                  "A@EXAMPLE.ORG,\n"
	                  "b@example.org,B\n"
	                  "c@example.org,C\n"
	                  "b@example.org,B\n"
	                  "a@example.org,A2\n"
	                  "d@example.org,D\n";
	assert_int_equal(IMPORT(fx, csv, &r, &st, &d), 0);
	expect_counts(&st, 4, 0, 0, 3, 0, "batches");
	struct bl_subscriber s;
	get_sub(fx, "a@example.org", &s);
	assert_string_equal(s.name, "A");
	bl_subscriber_clear(&s);
	struct bl_list_counts n;
	struct bl_list l;
	assert_int_equal(fx->s->ops->list_get(fx->s, "news", &l), 1);
	assert_int_equal(fx->s->ops->list_counts(fx->s, l.id, &n), 0);
	assert_int_equal(n.confirmed, 4);
	bl_list_clear(&l);
}

static void test_dry_run(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	struct run r = {.list = "news", .dry_run = 1, .batch = 2};
	assert_int_equal(
	    IMPORT(fx, "email\nx@example.org\ny@example.org\nX@example.org\nz@example.org\n", &r,
	           &st, &d),
	    0);
	expect_counts(&st, 3, 0, 0, 1, 0, "dry run");
	assert_int_equal(sub_status(fx, "x@example.org", "news"), -2);
}

static void test_errors(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	struct run r = {.list = "news"};
	/* Latin-1: refused whole, nothing imported. */
	const char latin1[] = "email,name\nhe@example.org,Andr\xe9\nshe@example.org,Zo\xeb\n";
	int rc = import_text(fx, "latin1.csv", latin1, sizeof(latin1) - 1, &r, &st, &d);
	assert_int_equal(rc, -BL_EENCODING);
	assert_int_equal(sub_status(fx, "he@example.org", "news"), -2);
	/* UTF-16 with a BOM. */
	const char utf16[] = "\xff\xfe"
	                     "e\0m\0a\0i\0l\0\n\0";
	rc = import_text(fx, "utf16.csv", utf16, sizeof(utf16) - 1, &r, &st, &d);
	assert_int_equal(rc, -BL_EENCODING);
	assert_non_null(strstr(d.msg, "UTF-16"));
	/* No email column. */
	assert_int_equal(IMPORT(fx, "name,city\nA,B\n", &r, &st, &d), -BL_EINVAL);
	assert_non_null(strstr(d.msg, "no email column"));
	/* Unknown list. */
	r.list = "nope";
	assert_int_equal(IMPORT(fx, "email\na@example.org\n", &r, &st, &d), -BL_EINVAL);
	assert_non_null(strstr(d.msg, "no list \"nope\""));
	/* No list at all for a generic file. */
	r.list = NULL;
	assert_int_equal(IMPORT(fx, "email\na@example.org\n", &r, &st, &d), -BL_EINVAL);
	assert_non_null(strstr(d.msg, "--list"));
	/* A UTF-8 file with one broken row: that row only. */
	r.list = "news";
	const char mixed[] = "email,name\nok@example.org,Zo\xc3\xab\nbad@example.org,Zo\xeb\n"
	                     "ok2@example.org,\xc3\x89lise\n";
	assert_int_equal(import_text(fx, "mixed.csv", mixed, sizeof(mixed) - 1, &r, &st, &d), 0);
	expect_counts(&st, 2, 0, 1, 0, 0, "mixed encodings");
	assert_non_null(strstr(bl_buf_str(&fx->errors), "3: field 2 is not valid UTF-8"));
	/* Empty file. */
	assert_int_equal(IMPORT(fx, "", &r, &st, &d), -BL_EINVAL);
}

/* ---- real exports (../shared/corpora/real-exports, SOURCE.md) ---- */

static void test_mailchimp(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	char p[512];
	struct run r = {.list = "news"};
	assert_int_equal(
	    import_path(
	        fx, corpus("real-exports/tryghost-migrate/mailchimp/subscribed.csv", p, sizeof(p)),
	        &r, &st, &d),
	    0);
	expect_counts(&st, 5, 0, 0, 0, 0, "mailchimp subscribed");
	assert_int_equal(st.format, BL_FORMAT_MAILCHIMP);
	/* CONFIRM_TIME is proof of double opt-in: confirmed without --confirmed. */
	for (int i = 1; i <= 5; i++) {
		char key[64];
		snprintf(key, sizeof(key), "s%d@example.com", i);
		expect_status(fx, key, "news", BL_SUB_CONFIRMED);
	}
	struct bl_subscriber s;
	get_sub(fx, "s5@example.com", &s);
	assert_string_equal(s.name, "Dolor Simet");
	assert_int_equal(s.created_at, 1517858902); /* 2018-02-05T19:28:22Z */
	if (!strstr(s.attributes, "\"TAGS\":\"Lorem Editors\""))
		fail_msg("s5 attributes: got %s, want TAGS \"Lorem Editors\"", s.attributes);
	bl_subscriber_clear(&s);
	assert_int_equal(events_of(fx, "s5@example.com", BL_CONSENT_SIGNUP, NULL), 1);
	assert_int_equal(events_of(fx, "s5@example.com", BL_CONSENT_CONFIRM, NULL), 1);

	assert_int_equal(
	    import_path(fx,
	                corpus("real-exports/tryghost-migrate/mailchimp/cleaned.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	expect_counts(&st, 5, 0, 0, 0, 0, "mailchimp cleaned");
	for (int i = 1; i <= 5; i++) {
		char key[64];
		snprintf(key, sizeof(key), "c%d@example.com", i);
		expect_status(fx, key, "news", BL_SUB_UNSUBSCRIBED);
		get_sub(fx, key, &s);
		assert_int_equal(s.status, BL_SUBSCRIBER_BLOCKLISTED);
		assert_string_equal(s.status_reason, "cleaned");
		bl_subscriber_clear(&s);
	}
	assert_int_equal(
	    import_path(
	        fx,
	        corpus("real-exports/tryghost-migrate/mailchimp/unsubscribed.csv", p, sizeof(p)),
	        &r, &st, &d),
	    0);
	expect_counts(&st, 5, 0, 0, 0, 0, "mailchimp unsubscribed");
	get_sub(fx, "u3@example.com", &s);
	assert_string_equal(s.name, "Lorem Ipsum");
	bl_subscriber_clear(&s);
	expect_status(fx, "u3@example.com", "news", BL_SUB_UNSUBSCRIBED);
	struct count_events ev;
	assert_int_equal(events_of(fx, "u3@example.com", BL_CONSENT_UNSUBSCRIBE, &ev), 1);
	assert_int_equal(ev.last_at, 1670274107); /* 2022-12-05 21:01:47 */
	/* All three: 15 subscribers, 5 confirmed; nothing unsubscribed or cleaned came out
	 * confirmed. */
	struct bl_list l;
	struct bl_list_counts n;
	assert_int_equal(fx->s->ops->list_get(fx->s, "news", &l), 1);
	assert_int_equal(fx->s->ops->list_counts(fx->s, l.id, &n), 0);
	bl_list_clear(&l);
	assert_int_equal(n.confirmed + n.unconfirmed + n.unsubscribed, 15);
	assert_int_equal(n.confirmed, 5);
}

static void test_beehiiv(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	char p[512];
	struct run r = {.list = "news", .confirmed = 1};
	assert_int_equal(
	    import_path(fx,
	                corpus("real-exports/tryghost-migrate/beehiiv/members.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	expect_counts(&st, 9, 0, 0, 0, 0, "beehiiv");
	assert_int_equal(st.format, BL_FORMAT_BEEHIIV);
	static const struct {
		const char *key;
		int status;
		const char *name;
	} want[] = {
	    {"lorem@example.com", BL_SUB_CONFIRMED, "Lorem Name"},
	    {"ipsum@example.com", BL_SUB_CONFIRMED, "Ipsum Name"},
	    {"dolor@example.com", BL_SUB_UNSUBSCRIBED, "Dolor Name"}, /* inactive */
	    {"simet@example.com", BL_SUB_UNSUBSCRIBED, ""},           /* inactive */
	    {"amett@example.com", BL_SUB_UNCONFIRMED, ""},            /* pending */
	    {"elit@example.com", BL_SUB_CONFIRMED, ""},
	    {"nullfirst@example.com", BL_SUB_CONFIRMED, "Last Only"},
	    {"unsublit@example.com", BL_SUB_UNSUBSCRIBED, ""}, /* unsubscribed_at */
	    {"fromsubstack@example.com", BL_SUB_CONFIRMED, ""},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		expect_status(fx, want[i].key, "news", want[i].status);
		struct bl_subscriber s;
		get_sub(fx, want[i].key, &s);
		if (strcmp(s.name, want[i].name) != 0)
			fail_msg("%s: got name \"%s\", want \"%s\"", want[i].key, s.name,
			         want[i].name);
		bl_subscriber_clear(&s);
	}
	struct bl_subscriber s;
	get_sub(fx, "elit@example.com", &s);
	assert_non_null(strstr(s.attributes, "\"stripe_customer_id\":\"cus_1234\""));
	bl_subscriber_clear(&s);
	get_sub(fx, "fromsubstack@example.com", &s);
	assert_int_equal(s.created_at, 1647085403); /* Substack date wins: 2022-03-12 11:43:23 */
	bl_subscriber_clear(&s);
}

static void test_ghost(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	char p[512];
	struct run r = {.list = "news", .confirmed = 1};
	assert_int_equal(
	    import_path(fx, corpus("real-exports/ghost/member-csv-export.csv", p, sizeof(p)), &r,
	                &st, &d),
	    0);
	expect_counts(&st, 2, 0, 0, 0, 0, "ghost export");
	assert_int_equal(st.format, BL_FORMAT_GHOST);
	expect_status(fx, "member_complimentary_test@example.com", "news", BL_SUB_CONFIRMED);
	expect_status(fx, "member_stripe_test@example.com", "news", BL_SUB_UNSUBSCRIBED);

	/* The 15 consent cases: 5 existing subscribed, 5 existing unsubscribed, 5 new. */
	const char *groups[] = {"true", "false", "null", "empty", "invalid"};
	struct bl_buf pre;
	bl_buf_init(&pre, 0);
	bl_buf_adds(&pre, "email,status\n");
	for (int i = 0; i < 5; i++)
		bl_buf_addf(&pre,
		            "member_subscribed_%s@example.com,confirmed\n"
		            "member_not_subscribed_%s@example.com,unsubscribed\n",
		            groups[i], groups[i]);
	assert_int_equal(IMPORT(fx, bl_buf_str(&pre), &r, &st, &d), 0);
	bl_buf_finish(&pre);
	expect_counts(&st, 10, 0, 0, 0, 0, "ghost setup");
	assert_int_equal(
	    import_path(fx,
	                corpus("real-exports/ghost/subscribed-to-emails-cases.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	/*
	 * Upstream: imported = 5 (the new members). The 10 existing members get
	 * the file's name and attributes (updated); one of them unsubscribes.
	 */
	expect_counts(&st, 5, 10, 0, 0, 0, "ghost cases");
	for (int i = 0; i < 5; i++) {
		char key[96];
		int is_false = strcmp(groups[i], "false") == 0;
		snprintf(key, sizeof(key), "member_subscribed_%s@example.com", groups[i]);
		expect_status(fx, key, "news", is_false ? BL_SUB_UNSUBSCRIBED : BL_SUB_CONFIRMED);
		snprintf(key, sizeof(key), "member_not_subscribed_%s@example.com", groups[i]);
		expect_status(fx, key, "news", BL_SUB_UNSUBSCRIBED);
		snprintf(key, sizeof(key), "new_member_%s@example.com", groups[i]);
		expect_status(fx, key, "news", is_false ? BL_SUB_UNSUBSCRIBED : BL_SUB_CONFIRMED);
	}
}

static void test_listmonk_keila_mailpoet_medium(void **state)
{
	struct fx *fx = *state;
	struct bl_import_stats st;
	struct bl_diag d;
	char p[512];
	struct run r = {.list = "news", .confirmed = 1};
	assert_int_equal(
	    import_path(fx, corpus("real-exports/listmonk/subs.csv", p, sizeof(p)), &r, &st, &d),
	    0);
	expect_counts(&st, 100, 0, 0, 0, 0, "listmonk subs");
	assert_int_equal(st.format, BL_FORMAT_LISTMONK);
	struct bl_subscriber s;
	get_sub(fx, "user0@mail.com", &s);
	assert_string_equal(s.name, "First0 Last0");
	assert_string_equal(s.attributes,
	                    "{\"age\":29,\"city\":\"Bangalore\",\"clientId\":\"DAXX79\"}");
	bl_subscriber_clear(&s);
	assert_int_equal(
	    import_path(fx, corpus("real-exports/listmonk/subs-domain-blocklist.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	/* bulletin has no domain blocklist: all four import (upstream rejects the ban.* two). */
	expect_counts(&st, 4, 0, 0, 0, 0, "listmonk blocklist file");
	expect_status(fx, "ban1-import@ban.net", "news", BL_SUB_CONFIRMED);

	assert_int_equal(import_path(fx,
	                             corpus("real-exports/keila/import_excel.csv", p, sizeof(p)),
	                             &r, &st, &d),
	                 0);
	expect_counts(&st, 201, 0, 0, 0, 0, "keila excel");
	assert_int_equal(st.delimiter, ';');
	get_sub(fx, "foo-1@example.com", &s);
	assert_string_equal(s.name, "Jo\xc3\xabl M\xc3\xbcller-Schulthei\xc3\x9f");
	bl_subscriber_clear(&s);
	get_sub(fx, "foo-2@example.com", &s);
	assert_string_equal(s.name, "Eli\xc5\xa1ka \xc3\x9eorl\xc3\xa1ksson");
	bl_subscriber_clear(&s);
	assert_int_equal(
	    import_path(fx,
	                corpus("real-exports/keila/import_rfc_4180_with_status.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	expect_counts(&st, 4, 0, 0, 0, 0, "keila status");
	expect_status(fx, "active@example.com", "news", BL_SUB_CONFIRMED);
	expect_status(fx, "unsubscribed@example.com", "news", BL_SUB_UNSUBSCRIBED);
	expect_status(fx, "unreachable@example.com", "news", BL_SUB_UNSUBSCRIBED);
	get_sub(fx, "unreachable@example.com", &s);
	assert_int_equal(s.status, BL_SUBSCRIBER_BLOCKLISTED);
	bl_subscriber_clear(&s);
	/* Empty status: no status, so --confirmed applies (Keila itself skips the row). */
	expect_status(fx, "empty@example.com", "news", BL_SUB_CONFIRMED);

	assert_int_equal(
	    import_path(fx, corpus("real-exports/mailpoet/MailPoetImportList.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	/* Upstream: 9 added, 2 skipped (an invalid address and a role address). */
	expect_counts(&st, 9, 0, 2, 0, 0, "mailpoet");
	assert_int_equal(st.format, BL_FORMAT_MAILPOET);
	assert_int_equal(
	    import_path(fx, corpus("real-exports/mailpoet/MailPoetImportList.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	expect_counts(&st, 0, 0, 2, 9, 0, "mailpoet again");
	get_sub(fx, "hhh@example.com", &s);
	assert_string_equal(s.name, "Null d\xe2\x80\x99"
	                            "Arcy");
	bl_subscriber_clear(&s);
	assert_int_equal(
	    import_path(fx, corpus("real-exports/mailpoet/MailPoetImportBigList.csv", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	expect_counts(&st, 304, 0, 0, 0, 0, "mailpoet big");

	assert_int_equal(
	    import_path(fx,
	                corpus("real-exports/tryghost-migrate/medium/members.txt", p, sizeof(p)),
	                &r, &st, &d),
	    0);
	expect_counts(&st, 5, 0, 0, 0, 0, "medium");
	assert_int_equal(st.format, BL_FORMAT_PLAIN);
	expect_status(fx, "amett@example.com", "news", BL_SUB_CONFIRMED);
}

/* ---- round trips ---- */

static void round_trip(struct fx *fx, enum bl_export_format fmt)
{
	struct bl_import_stats st;
	struct bl_diag d;
	struct run r = {.list = "news"};
	char p[512];
	assert_int_equal(
	    import_path(
	        fx,
	        corpus("real-exports/tryghost-migrate/mailchimp/unsubscribed.csv", p, sizeof(p)),
	        &r, &st, &d),
	    0);
	assert_int_equal(IMPORT(fx,
	                        "email,name,attributes\n"
	                        "b\xc3\xbc@b\xc3\xbc"
	                        "cher.example,\"Quote \"\"Q\"\", "
	                        "comma\",\"{\"\"n\"\":1,\"\"s\"\":\"\"\xc3\xa9\"\"}\"\n"
	                        "plain@example.org,Plain,\n",
	                        &r, &st, &d),
	                 0);
	r.list = "local";
	assert_int_equal(IMPORT(fx, "email\nplain@example.org\nsolo@example.org\n", &r, &st, &d),
	                 0);
	struct bl_list l = {.slug = "empty",
	                    .name = "Empty list",
	                    .description = "d",
	                    .visibility = BL_VISIBILITY_PRIVATE};
	assert_int_equal(fx->s->ops->list_create(fx->s, &l), 0);
	char *a = export_text(fx, NULL, fmt);
	char path[256];
	snprintf(path, sizeof(path), "%s/export.%s", fx->dir,
	         fmt == BL_EXPORT_CSV ? "csv" : "json");
	FILE *f = fopen(path, "wb");
	fputs(a, f);
	fclose(f);

	/* A fresh database: the export restores into it unchanged. */
	struct bl_store *old = fx->s;
	char uri[160];
	snprintf(uri, sizeof(uri), "sqlite:%s/restored.db", fx->dir);
	assert_int_equal(bl_store_open(uri, NULL, &fx->s, &d), 0);
	int from, to;
	assert_int_equal(fx->s->ops->migrate(fx->s, &from, &to), 0);
	if (fmt == BL_EXPORT_CSV) {
		/* CSV carries no lists: create them as they were. */
		static const char *slugs[] = {"empty", "local", "news"};
		for (int i = 0; i < 3; i++) {
			struct bl_list nl = {
			    .slug = (char *)slugs[i], .name = (char *)slugs[i], .description = ""};
			assert_int_equal(fx->s->ops->list_create(fx->s, &nl), 0);
		}
	}
	struct run r2 = {0};
	assert_int_equal(import_path(fx, path, &r2, &st, &d), 0);
	if (st.invalid)
		fail_msg("restore: %zu invalid rows: %s", st.invalid, bl_buf_str(&fx->errors));
	assert_int_equal(st.format, BL_FORMAT_BULLETIN);
	char *b = export_text(fx, NULL, fmt);
	const char *ta = fmt == BL_EXPORT_JSON ? strchr(a, '\n') : a;
	const char *tb = fmt == BL_EXPORT_JSON ? strchr(b, '\n') : b;
	if (strcmp(ta, tb) != 0) {
		/* Show the first difference with some context. */
		size_t i = 0;
		while (ta[i] && ta[i] == tb[i])
			i++;
		size_t back = i > 120 ? i - 120 : 0;
		fail_msg("round trip differs at byte %zu:\n got: %.240s\nwant: %.240s", i,
		         tb + back, ta + back);
	}
	if (fmt == BL_EXPORT_JSON) {
		/* The lists came back too, with their settings. */
		assert_int_equal(fx->s->ops->list_get(fx->s, "empty", &l), 1);
		assert_int_equal(l.visibility, BL_VISIBILITY_PRIVATE);
		assert_string_equal(l.name, "Empty list");
		bl_list_clear(&l);
		/* Restoring twice changes nothing. */
		assert_int_equal(import_path(fx, path, &r2, &st, &d), 0);
		assert_int_equal(st.imported + st.updated, 0);
		char *c = export_text(fx, NULL, fmt);
		assert_string_equal(strchr(c, '\n'), tb);
		free(c);
	}
	free(a);
	free(b);
	bl_store_close(fx->s);
	fx->s = old;
}

static void test_round_trip_csv(void **state)
{
	round_trip(*state, BL_EXPORT_CSV);
}

static void test_round_trip_json(void **state)
{
	round_trip(*state, BL_EXPORT_JSON);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test_setup_teardown(test_basic_and_reimport, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suppression_and_roles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batches_and_dupes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mailchimp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_beehiiv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ghost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listmonk_keila_mailpoet_medium, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_csv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_json, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
