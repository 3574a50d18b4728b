/*
 * Unit tests for attribution and policy (src/bounce/policy.c) over a real
 * SQLite store in a temporary file: the policy from config keys (defaults,
 * values, refused ranges); attribution by VERP envelope recipient (any
 * case), by the returned original's Message-ID, a forged token to review,
 * a token naming no delivery to review, recipient attribution only when
 * allowed (signed webhooks) and only within the soft window; duplicates
 * counted once; a report with no finding (review) and an auto-reply with
 * none (nothing recorded); the delivery engine's synchronous replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounce/policy.h"
#include "core/crypto.h"

#define NOW INT64_C(1700000000)

#define CHECK_INT(what, got, want)                                                                 \
	do {                                                                                       \
		long long got_ = (long long)(got), want_ = (long long)(want);                      \
		if (got_ != want_)                                                                 \
			fail_msg("%s: got %lld, want %lld", what, got_, want_);                    \
	} while (0)

#define CHECK_STR(what, got, want)                                                                 \
	do {                                                                                       \
		const char *got_ = (got), *want_ = (want);                                         \
		if (strcmp(got_, want_) != 0)                                                      \
			fail_msg("%s: got \"%s\", want \"%s\"", what, got_, want_);                \
	} while (0)

struct fx {
	char dir[64], path[128];
	struct bl_store *s;
	struct bl_secret key;
	struct bl_bounce_ctx ctx;
	int64_t list, post, sub[3]; /* sub[2] received no delivery of post */
};

static void ok(struct fx *f, int rc, const char *what)
{
	if (rc < 0)
		fail_msg("%s: got %d (%s), want success", what, rc, bl_store_error(f->s));
}

static int64_t signup(struct fx *f, const char *email)
{
	struct bl_signup in = {.email = email,
	                       .email_key = email,
	                       .list_ids = &f->list,
	                       .n_lists = 1,
	                       .ctx = {.now = NOW - 86400, .source = "test"}};
	struct bl_signup_result r = {0};
	ok(f, f->s->ops->web_signup(f->s, &in, &r), "web_signup");
	return r.subscriber_id;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/bl-policy-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "sqlite:%s/t.db", f->dir);
	struct bl_diag d;
	if (bl_store_open(f->path, NULL, &f->s, &d))
		fail_msg("open: %s", d.msg);
	int from, to;
	ok(f, f->s->ops->migrate(f->s, &from, &to), "migrate");
	struct bl_list l = {.slug = "news",
	                    .name = "News",
	                    .description = "",
	                    .optin = BL_OPTIN_SINGLE,
	                    .visibility = BL_VISIBILITY_PUBLIC};
	ok(f, f->s->ops->list_create(f->s, &l), "list_create");
	f->list = l.id;
	f->sub[0] = signup(f, "ann@example.org");
	f->sub[1] = signup(f, "ben@example.org");
	struct bl_post p = {.subject = "Hello", .body = "Hi", .from_header = ""};
	ok(f, f->s->ops->post_create(f->s, &p, &f->list, 1), "post_create");
	f->post = p.id;
	int64_t total = 0;
	ok(f, f->s->ops->post_queue(f->s, f->post, NOW - 3600, &total), "post_queue");
	f->sub[2] = signup(f, "cy@example.org"); /* after the post: no delivery */
	struct bl_claimed c[8];
	size_t n = 0;
	ok(f,
	   f->s->ops->delivery_exchange(f->s, "w", NOW - 3600, NOW, NULL, 0, 8, c, &n, NULL, NULL),
	   "claim");
	struct bl_delivery_result r[8];
	for (size_t i = 0; i < n; i++)
		r[i] = (struct bl_delivery_result){
		    .delivery_id = c[i].delivery_id, .state = BL_DELIVERY_ACCEPTED, .code = 250};
	ok(f,
	   f->s->ops->delivery_exchange(f->s, "w", NOW - 3600, NOW, r, n, 0, NULL, NULL, NULL,
	                                NULL),
	   "accept");
	for (size_t i = 0; i < n; i++)
		bl_claimed_clear(&c[i]);
	CHECK_INT("deliveries accepted", n, 2);
	memset(f->key.key, 7, sizeof(f->key.key));
	f->ctx = (struct bl_bounce_ctx){
	    .store = f->s,
	    .secret = &f->key,
	    .policy = {.hard_limit = 1, .soft_limit = 5, .soft_window = 30 * 86400},
	    .source = "pipe"};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	bl_store_close(f->s);
	char p[200];
	static const char *const suffix[] = {"", "-wal", "-shm", "-engine.lock"};
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s/t.db%s", f->dir, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A one-finding report: @cls for @recipient, sent to @env_to, returning @mid. */
struct report1 {
	struct bl_bounce_report r;
	struct bl_bounce_finding f;
};

static void report_of(struct report1 *x, const char *key, enum bl_bounce_class cls,
                      const char *recipient, const char *env_to, const char *mid)
{
	memset(x, 0, sizeof(*x));
	x->f = (struct bl_bounce_finding){.recipient = (char *)recipient,
	                                  .cls = cls,
	                                  .final = 1,
	                                  .diagnostic = "550 5.1.1 unknown",
	                                  .feedback_type = ""};
	snprintf(x->f.reason, sizeof(x->f.reason), "%s",
	         cls == BL_BOUNCE_HARD ? "userunknown" : "");
	snprintf(x->f.status, sizeof(x->f.status), "%s", cls == BL_BOUNCE_HARD ? "5.1.1" : "");
	x->r = (struct bl_bounce_report){.kind = BL_REPORT_KIND_DSN,
	                                 .findings = &x->f,
	                                 .n_findings = 1,
	                                 .envelope_to = (char *)env_to,
	                                 .original_message_id = (char *)mid,
	                                 .original_list_id = "",
	                                 .original_to = "",
	                                 .subject = "Undelivered Mail",
	                                 .from = ""};
	snprintf(x->r.key, sizeof(x->r.key), "%s", key);
}

/* Subscriber @sub's status name. */
static const char *status_of(struct fx *f, int64_t sub, char buf[32])
{
	struct bl_subscriber s = {0};
	if (f->s->ops->subscriber_get_id(f->s, sub, &s) != 1)
		fail_msg("subscriber %" PRId64 ": got none, want one", sub);
	snprintf(buf, 32, "%s", bl_subscriber_status_name(s.status));
	bl_subscriber_clear(&s);
	return buf;
}

static void test_policy_from_config(void **state)
{
	(void)state;
	static const struct {
		const char *hard, *soft, *window;
		int rc, want_hard, want_soft;
		int64_t want_window;
	} cases[] = {
	    {NULL, NULL, NULL, 0, 1, 5, 30 * 86400}, {"2", "3", "7d", 0, 2, 3, 7 * 86400},
	    {"0", NULL, NULL, -BL_EINVAL, 0, 0, 0},  {NULL, "0", NULL, -BL_EINVAL, 0, 0, 0},
	    {NULL, NULL, "0s", -BL_EINVAL, 0, 0, 0}, {"101", NULL, NULL, -BL_EINVAL, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_config *c = bl_config_create();
		struct bl_diag d = {{0}};
		const char *names[] = {"bounce_hard_limit", "bounce_soft_limit",
		                       "bounce_soft_window"};
		const char *vals[] = {cases[i].hard, cases[i].soft, cases[i].window};
		int rc = 0;
		for (int k = 0; k < 3 && rc == 0; k++)
			if (vals[k])
				rc =
				    bl_config_set(c, names[k], vals[k], BL_ORIGIN_FLAG, "test", &d);
		char w[96];
		snprintf(w, sizeof(w), "case %zu: config_set", i);
		if (cases[i].rc == 0) {
			CHECK_INT(w, rc, 0);
			struct bl_bounce_policy p = {0};
			snprintf(w, sizeof(w), "case %zu: from_config", i);
			CHECK_INT(w, bl_bounce_policy_from_config(c, &p, &d), 0);
			snprintf(w, sizeof(w), "case %zu: hard_limit", i);
			CHECK_INT(w, p.hard_limit, cases[i].want_hard);
			snprintf(w, sizeof(w), "case %zu: soft_limit", i);
			CHECK_INT(w, p.soft_limit, cases[i].want_soft);
			snprintf(w, sizeof(w), "case %zu: soft_window", i);
			CHECK_INT(w, p.soft_window, cases[i].want_window);
		} else {
			/* Out of range is refused where it is set (the config table's ranges). */
			CHECK_INT(w, rc, cases[i].rc);
			if (!*d.msg)
				fail_msg("case %zu: got no message, want one saying the range", i);
		}
		bl_config_destroy(c);
	}
}

static void test_attribute(void **state)
{
	struct fx *f = *state;
	char tok[BL_VERP_TOKEN_MAX], forged[BL_VERP_TOKEN_MAX], env[200], mid[200], up[200];
	bl_verp_token(&f->key, f->post, f->sub[0], tok);
	snprintf(forged, sizeof(forged), "%s", tok);
	forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';
	char notok[BL_VERP_TOKEN_MAX];
	bl_verp_token(&f->key, f->post, f->sub[2], notok); /* sub[2]: no delivery of post */
	snprintf(env, sizeof(env), "bounces+%s@bounce.example.org", tok);
	snprintf(up, sizeof(up), "<BOUNCES+%s@Bounce.Example.ORG>", tok);
	for (char *c = up + 9; *c && *c != '@'; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	snprintf(mid, sizeof(mid), "bulletin-%s.18bcfe5681@news.example.org", tok);
	char fenv[200], fmid[200], nenv[200];
	snprintf(fenv, sizeof(fenv), "bounces+%s@bounce.example.org", forged);
	snprintf(fmid, sizeof(fmid), "bulletin-%s.18bcfe5681@news.example.org", forged);
	snprintf(nenv, sizeof(nenv), "bounces+%s@bounce.example.org", notok);
	static const char *const none = "";
	struct {
		const char *what, *env_to, *mid, *recipient;
		int allow_recipient;
		int64_t want_post, want_sub;
		const char *want_by;
		int want_review; /* review reason expected (non-empty) */
	} cases[] = {
	    {"VERP", env, none, "x@y.org", 0, f->post, f->sub[0], "verp", 0},
	    {"VERP, upper case", up, none, "", 0, f->post, f->sub[0], "verp", 0},
	    {"Message-ID", none, mid, "", 0, f->post, f->sub[0], "message-id", 0},
	    {"forged VERP, good Message-ID", fenv, mid, "", 0, f->post, f->sub[0], "message-id", 0},
	    {"forged VERP", fenv, none, "", 0, 0, 0, "", 1},
	    {"forged Message-ID", none, fmid, "", 0, 0, 0, "", 1},
	    {"nothing", none, none, "ben@example.org", 0, 0, 0, "", 1},
	    {"recipient, allowed", none, none, "Ben@Example.org", 1, f->post, f->sub[1],
	     "recipient", 0},
	    {"recipient, no subscriber", none, none, "nobody@example.org", 1, 0, 0, "", 1},
	    {"recipient, no delivery", none, none, "cy@example.org", 1, 0, 0, "", 1},
	    {"recipient, garbage", none, none, "not an address", 1, 0, 0, "", 1},
	    /* the token checks out; whether its delivery exists, bounce_record says */
	    {"VERP naming no delivery", nenv, none, "", 0, f->post, f->sub[2], "verp", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct report1 x;
		report_of(&x, "k", BL_BOUNCE_HARD, cases[i].recipient, cases[i].env_to,
		          cases[i].mid);
		struct bl_bounce_event ev = {.post_id = 99, .subscriber_id = 99};
		char w[128];
		snprintf(w, sizeof(w), "%s: rc", cases[i].what);
		CHECK_INT(
		    w, bl_bounce_attribute(&f->ctx, &x.r, &x.f, cases[i].allow_recipient, NOW, &ev),
		    0);
		snprintf(w, sizeof(w), "%s: post", cases[i].what);
		CHECK_INT(w, ev.post_id, cases[i].want_post);
		snprintf(w, sizeof(w), "%s: subscriber", cases[i].what);
		CHECK_INT(w, ev.subscriber_id, cases[i].want_sub);
		snprintf(w, sizeof(w), "%s: attributed_by", cases[i].what);
		CHECK_STR(w, ev.attributed_by, cases[i].want_by);
		snprintf(w, sizeof(w), "%s: review (%s)", cases[i].what, ev.review);
		CHECK_INT(w, *ev.review != '\0', cases[i].want_review);
	}
	/* Recipient attribution only within the soft window. */
	struct report1 x;
	report_of(&x, "k", BL_BOUNCE_HARD, "ben@example.org", "", "");
	struct bl_bounce_event ev = {0};
	CHECK_INT("recipient, window passed: rc",
	          bl_bounce_attribute(&f->ctx, &x.r, &x.f, 1, NOW + 31 * 86400, &ev), 0);
	CHECK_INT("recipient, window passed: subscriber", ev.subscriber_id, 0);
}

static void test_process_report(void **state)
{
	struct fx *f = *state;
	char tok[BL_VERP_TOKEN_MAX], env[200], buf[32];
	bl_verp_token(&f->key, f->post, f->sub[0], tok);
	snprintf(env, sizeof(env), "bounces+%s@bounce.example.org", tok);
	struct report1 x;
	report_of(&x, "a1", BL_BOUNCE_HARD, "ann@example.org", env, "");
	struct bl_bounce_result res = {0};
	struct bl_diag d = {{0}};
	CHECK_INT("hard: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	CHECK_INT("hard: findings", res.findings, 1);
	CHECK_INT("hard: recorded", res.recorded, 1);
	CHECK_INT("hard: disabled", res.disabled, 1);
	CHECK_STR("hard: ann", status_of(f, f->sub[0], buf), "blocklisted");
	/* The same report again (a second delivery of it): a duplicate, nothing more. */
	CHECK_INT("again: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	CHECK_INT("again: recorded", res.recorded, 1);
	CHECK_INT("again: duplicates", res.duplicates, 1);
	CHECK_INT("again: disabled", res.disabled, 1);
	/* A token naming no delivery: review. */
	char notok[BL_VERP_TOKEN_MAX], nenv[200];
	bl_verp_token(&f->key, f->post, f->sub[2], notok);
	snprintf(nenv, sizeof(nenv), "bounces+%s@bounce.example.org", notok);
	report_of(&x, "n1", BL_BOUNCE_HARD, "cy@example.org", nenv, "");
	memset(&res, 0, sizeof(res));
	CHECK_INT("no delivery: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	CHECK_INT("no delivery: review", res.review, 1);
	CHECK_STR("no delivery: cy untouched", status_of(f, f->sub[2], buf), "active");
	/* A complaint through a signed webhook, by recipient. */
	report_of(&x, "c1", BL_BOUNCE_COMPLAINT, "ben@example.org", "", "");
	x.r.kind = BL_REPORT_KIND_ARF;
	memset(&res, 0, sizeof(res));
	CHECK_INT("complaint: rc", bl_bounce_process_report(&f->ctx, &x.r, 1, NOW, &res, &d), 0);
	CHECK_INT("complaint: unsubscribed", res.unsubscribed, 1);
	CHECK_INT("complaint: kind", res.kind, BL_REPORT_KIND_ARF);
	CHECK_STR("complaint: ben", status_of(f, f->sub[1], buf), "blocklisted");
	/* No finding: an auto-reply is nothing; a DSN is one unknown finding for review. */
	report_of(&x, "e1", BL_BOUNCE_UNKNOWN, "", "", "");
	x.r.n_findings = 0;
	x.r.kind = BL_REPORT_KIND_AUTOREPLY;
	memset(&res, 0, sizeof(res));
	CHECK_INT("auto-reply: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	CHECK_INT("auto-reply: recorded", res.recorded, 0);
	x.r.kind = BL_REPORT_KIND_DSN;
	CHECK_INT("empty DSN: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	CHECK_INT("empty DSN: recorded", res.recorded, 1);
	CHECK_INT("empty DSN: review", res.review, 1);
	/* No key: refused. */
	x.r.key[0] = '\0';
	CHECK_INT("no key", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), -BL_EINVAL);
}

static int on_row(void *arg, const struct bl_bounce_row *b)
{
	char *out = arg;
	size_t n = strlen(out);
	snprintf(out + n, 512 - n, "%s%s/%s/%s/%d", n ? "," : "", bl_bounce_class_name(b->cls),
	         b->action, b->attributed_by, b->final);
	return 0;
}

static int on_recipient(void *arg, const struct bl_bounce_row *b)
{
	char *out = arg;
	size_t n = strlen(out);
	snprintf(out + n, 512 - n, "%s[%s%s]", n ? "," : "", b->recipient, b->diagnostic);
	return 0;
}

static int on_diag(void *arg, const struct bl_bounce_row *b)
{
	snprintf(arg, 128, "%s", b->diagnostic);
	return 0;
}

/* The engine's synchronous replies: classified, recorded once per (delivery, attempt). */
static void test_smtp_reply(void **state)
{
	struct fx *f = *state;
	char buf[32], rows[512] = "";
	struct bl_bounce_result res = {0};
	struct bl_diag d = {{0}};
	static const struct {
		int attempt, code;
		const char *reply, *want_status;
	} calls[] = {
	    {1, 554, "5.7.1 Message rejected as spam by Content Filtering", "active"},
	    {2, 452, "4.2.2 Mailbox full", "active"},
	    {3, 550, "5.1.1 <ben@example.org>: Recipient address rejected: User unknown",
	     "blocklisted"},
	    {3, 550, "5.1.1 <ben@example.org>: Recipient address rejected: User unknown",
	     "blocklisted"}, /* the same call again */
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char w[64];
		snprintf(w, sizeof(w), "call %zu: rc", i);
		CHECK_INT(w,
		          bl_bounce_smtp_reply(&f->ctx, 77, calls[i].attempt, f->post, f->sub[1],
		                               "ben@example.org", calls[i].code, calls[i].reply,
		                               NOW, &res, &d),
		          0);
		snprintf(w, sizeof(w), "call %zu: ben", i);
		CHECK_STR(w, status_of(f, f->sub[1], buf), calls[i].want_status);
	}
	CHECK_INT("findings", res.findings, 4);
	CHECK_INT("recorded", res.recorded, 3);
	CHECK_INT("duplicates", res.duplicates, 1);
	CHECK_INT("disabled", res.disabled, 1);
	struct bl_bounce_filter flt = {.subscriber_id = f->sub[1]};
	if (f->s->ops->bounce_each(f->s, &flt, on_row, rows) != 0)
		fail_msg("bounce_each: %s", bl_store_error(f->s));
	CHECK_STR("rows (newest first)", rows,
	          "hard/disabled/smtp/1,soft/recorded/smtp/0,block/recorded/smtp/1");

	/* A reply that is not UTF-8 (a relay's Latin-1 text) is stored cleaned, not refused. */
	CHECK_INT("latin-1 reply: rc",
	          bl_bounce_smtp_reply(&f->ctx, 78, 1, f->post, f->sub[0], NULL, 550,
	                               "5.1.1 Empf\xe4nger unbekannt \xff", NOW, &res, &d),
	          0);
	char diag[128] = "";
	struct bl_bounce_filter one = {.subscriber_id = f->sub[0], .limit = 1};
	if (f->s->ops->bounce_each(f->s, &one, on_diag, diag) != 0)
		fail_msg("bounce_each: %s", bl_store_error(f->s));
	CHECK_STR("latin-1 reply: stored", diag,
	          "5.1.1 Empf\xef\xbf\xbdnger unbekannt \xef\xbf\xbd");
}

static int on_sub(void *arg, const struct bl_subscription *x)
{
	snprintf(arg, 32, "%s", bl_sub_status_name(x->status));
	return 0;
}

/* The subscription of @sub to the fixture's list: "confirmed", "unsubscribed"... */
static const char *sub_status(struct fx *f, int64_t sub, char buf[32])
{
	buf[0] = '\0';
	if (f->s->ops->subscription_each(f->s, sub, on_sub, buf) != 0)
		fail_msg("subscription_each: %s", bl_store_error(f->s));
	return buf;
}

/* A message to the List-Unsubscribe mailto: (unsubscribe+TOKEN@...) is an unsubscribe request
 * for the lists of the token's post; a forged token or a bounces+ address is not. */
static void test_mailto_unsubscribe(void **state)
{
	struct fx *f = *state;
	char tok[BL_VERP_TOKEN_MAX], to[200], msg[600], buf[32];
	struct bl_bounce_result res = {0};
	struct bl_diag d = {{0}};
	bl_verp_token(&f->key, f->post, f->sub[0], tok);
	static const char body[] = "From: ann@example.org\nTo: %s\nSubject: unsubscribe\n"
	                           "Message-ID: <u-%d@example.org>\n\nunsubscribe\n";
	/* A forged token: nothing changes (the message is no report either). */
	snprintf(to, sizeof(to), "unsubscribe+%lld-%lld-0123456789abcdef@news.example",
	         (long long)f->post, (long long)f->sub[0]);
	snprintf(msg, sizeof(msg), body, to, 1);
	CHECK_INT("forged: rc", bl_bounce_process(&f->ctx, msg, strlen(msg), to, NOW, &res, &d), 0);
	CHECK_INT("forged: requests", res.unsubscribe_requests, 0);
	CHECK_STR("forged: ann", sub_status(f, f->sub[0], buf), "confirmed");
	/* Through the To header alone (a maildir or mailbox intake has no envelope). */
	snprintf(to, sizeof(to), "unsubscribe+%s@news.example", tok);
	snprintf(msg, sizeof(msg), body, to, 2);
	CHECK_INT("valid: rc", bl_bounce_process(&f->ctx, msg, strlen(msg), NULL, NOW, &res, &d),
	          0);
	CHECK_INT("valid: requests", res.unsubscribe_requests, 1);
	CHECK_STR("valid: ann", sub_status(f, f->sub[0], buf), "unsubscribed");
	CHECK_STR("valid: ann still active", status_of(f, f->sub[0], buf), "active");
	CHECK_STR("valid: ben untouched", sub_status(f, f->sub[1], buf), "confirmed");
	CHECK_INT("valid: no finding recorded", res.recorded, 0);
	/* The same message again: still unsubscribed, nothing else. */
	CHECK_INT("again: rc", bl_bounce_process(&f->ctx, msg, strlen(msg), NULL, NOW, &res, &d),
	          0);
	CHECK_STR("again: ann", sub_status(f, f->sub[0], buf), "unsubscribed");
}

/* An erased subscriber's address does not come back through a later report: its old VERP
 * address, or a stranger's report naming it, goes to review without the address. */
static void test_erased_address(void **state)
{
	struct fx *f = *state;
	char tok[BL_VERP_TOKEN_MAX], env[200], hash[BL_HASH_HEX];
	bl_verp_token(&f->key, f->post, f->sub[0], tok);
	snprintf(env, sizeof(env), "bounces+%s@bounce.example.org", tok);
	bl_suppression_hash("ann@example.org", hash);
	ok(f, f->s->ops->subscriber_erase(f->s, f->sub[0], hash, "erased on request", NOW),
	   "erase");
	struct bl_bounce_result res = {0};
	struct bl_diag d = {{0}};
	struct report1 x;
	report_of(&x, "late", BL_BOUNCE_HARD, "ann@example.org", env, "");
	CHECK_INT("by token: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	report_of(&x, "stranger", BL_BOUNCE_HARD, "Ann@Example.org", "", "");
	CHECK_INT("stranger: rc", bl_bounce_process_report(&f->ctx, &x.r, 0, NOW, &res, &d), 0);
	CHECK_INT("both in review", res.review, 2);
	char rows[512] = "";
	struct bl_bounce_filter flt = {.review_only = 1};
	if (f->s->ops->bounce_each(f->s, &flt, on_recipient, rows) != 0)
		fail_msg("bounce_each: %s", bl_store_error(f->s));
	CHECK_STR("review rows: no address", rows, "[],[]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_from_config),
	    cmocka_unit_test_setup_teardown(test_attribute, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_process_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_smtp_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mailto_unsubscribe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_erased_address, setup, teardown),
	};
	return cmocka_run_group_tests_name("unit/bounce_policy", tests, NULL, NULL);
}
