/*
 * The reader's side of the public web: signup (GET /, GET|POST /subscribe),
 * double opt-in confirmation (/confirm/TOKEN), unsubscribe including RFC 8058
 * one-click (/unsubscribe/TOKEN), and the preference centre with "download
 * my data" and erasure (/preferences/TOKEN). Invariants:
 *  - a GET never changes anything (mail scanners follow links);
 *  - the signup answer is the same page whatever the address's state, and
 *    bots (honeypot, missing or too fresh form token) get it too, with
 *    nothing done;
 *  - a 2xx goes out only after the store committed (every store call here is
 *    one transaction);
 *  - every change writes consent events with the client's IP and user agent.
 * Form tokens (BL_TOKEN_FORM) carry a random nonce that must match the
 * bl_form cookie: that is the CSRF check of the signup form (the other
 * forms are authorised by the signed token in their URL).
 */
#include "http/web.h"

#include "core/address.h"
#include "core/crypto.h"
#include "tmpl/tmpl.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORM_COOKIE   "bl_form"
#define FORM_MAX_AGE  (24 * 3600) /* a served form stays usable this long, seconds */
#define MAX_LISTS     200         /* lists in one signup or preference form */
#define ONE_CLICK_KEY "List-Unsubscribe=One-Click"

static struct bl_web *web_of(const struct bl_http_req *req)
{
	return req->app;
}

static struct bl_consent_ctx ctx_of(const struct bl_http_req *req, const char *source)
{
	return (struct bl_consent_ctx){
	    .now = bl_now(), .ip = req->ip, .user_agent = req->user_agent, .source = source};
}

/* ---- lists ---- */

struct lists_acc {
	struct bl_list *v;
	size_t n, cap;
	int public_only;
};

static int collect_list(void *arg, const struct bl_list *l)
{
	struct lists_acc *a = arg;
	if (a->public_only && l->visibility != BL_VISIBILITY_PUBLIC)
		return 0;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->v = bl_xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	bl_list_copy(&a->v[a->n++], l);
	return 0;
}

static void lists_free(struct lists_acc *a)
{
	for (size_t i = 0; i < a->n; i++)
		bl_list_clear(&a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* Every list (or only the public ones), by slug. Returns 0 or a store error. */
static int load_lists(struct bl_store *s, int public_only, struct lists_acc *a)
{
	memset(a, 0, sizeof(*a));
	a->public_only = public_only;
	return s->ops->list_each(s, collect_list, a);
}

static const struct bl_list *list_by_id(const struct lists_acc *a, int64_t id)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].id == id)
			return &a->v[i];
	return NULL;
}

static void store_error(struct bl_http_req *req, struct bl_http_resp *resp, const char *what)
{
	bl_error("%s: %s", what, bl_store_error(req->store));
	bl_web_error(req, resp, 500, "Something went wrong",
	             "The request could not be completed. Nothing was changed; please try again "
	             "in a moment.");
}

/* ---- the signup form ---- */

/* A fresh form token and its cookie on @resp; the token goes into @data. */
static void issue_form_token(struct bl_http_req *req, struct bl_http_resp *resp,
                             struct bl_tval *data)
{
	char token[BL_TOKEN_LEN];
	/* A second tab keeps the nonce of the first: both forms stay valid. */
	const char *had = bl_http_cookie(req, FORM_COOKIE);
	char *end = NULL;
	unsigned long long v = had && *had && strlen(had) <= 16 ? strtoull(had, &end, 16) : 0;
	int64_t nonce = v && end && !*end && v <= INT64_MAX ? (int64_t)v : bl_random_u63();
	bl_token_make(&web_of(req)->secret, BL_TOKEN_FORM, nonce, 0, bl_now(), token);
	bl_tval_set(data, "form_token", bl_tval_string(token));
	bl_http_add_header(resp, "Set-Cookie",
	                   FORM_COOKIE "=%llx; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
	                   (unsigned long long)nonce, FORM_MAX_AGE,
	                   strncmp(web_of(req)->public_url, "https:", 6) == 0 ? "; Secure" : "");
}

/* Render the signup page: every public list, @checked (slugs) ticked; @error (NULL: none). */
static void signup_page(struct bl_http_req *req, struct bl_http_resp *resp, int status,
                        const char *const *checked, size_t n_checked, const char *email,
                        const char *name, const char *error)
{
	struct lists_acc la;
	struct bl_tval *data = bl_tval_map(), *lists = bl_tval_list();

	if (load_lists(req->store, 1, &la)) {
		bl_tval_destroy(data);
		bl_tval_destroy(lists);
		lists_free(&la);
		store_error(req, resp, "reading lists");
		return;
	}
	for (size_t i = 0; i < la.n; i++) {
		struct bl_tval *l = bl_tval_map();
		int on = la.n == 1;
		for (size_t j = 0; j < n_checked; j++)
			on |= strcmp(checked[j], la.v[i].slug) == 0;
		bl_tval_set(l, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(l, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(l, "description", bl_tval_string(la.v[i].description));
		bl_tval_set(l, "checked", bl_tval_bool(on));
		bl_tval_push(lists, l);
	}
	lists_free(&la);
	bl_tval_set(data, "lists", lists);
	bl_tval_set(data, "email", bl_tval_string(email ? email : ""));
	bl_tval_set(data, "name", bl_tval_string(name ? name : ""));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	issue_form_token(req, resp, data);
	bl_web_page(req, resp, status, "index", "Subscribe", data);
}

void bl_web_index(struct bl_http_req *req, struct bl_http_resp *resp)
{
	signup_page(req, resp, 200, NULL, 0, NULL, NULL, NULL);
}

/* The answer to every accepted (or silently dropped) signup. */
static void check_inbox(struct bl_http_req *req, struct bl_http_resp *resp, const char *email)
{
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "email", bl_tval_string(email ? email : ""));
	bl_web_page(req, resp, 200, "check_inbox", "Check your inbox", data);
}

static void too_many(struct bl_http_req *req, struct bl_http_resp *resp, int retry_after)
{
	bl_http_add_header(resp, "Retry-After", "%d", retry_after > 0 ? retry_after : 60);
	bl_web_error(req, resp, 429, "Too many requests",
	             "Too many requests came from here in a short time. Please wait a while and "
	             "try again.");
}

/* 1 when the confirmation-mail circuit breaker is open (mail stopped). */
static int breaker_open(struct bl_web *w)
{
	return atomic_load(&w->breaker_until) > bl_now();
}

/* The global budget ran out: stop confirmation mail for breaker_cooldown, logged once per trip. */
static void trip_breaker(struct bl_web *w)
{
	long long until = bl_now() + bl_config_int(w->config, "breaker_cooldown");
	long long was = atomic_exchange(&w->breaker_until, until);
	if (was <= bl_now())
		bl_error("signups exceed signup_rate_global (%lld an hour): confirmation mail is "
		         "stopped for %lld s (breaker_cooldown); signups get 429 meanwhile",
		         bl_config_int(w->config, "signup_rate_global"),
		         bl_config_int(w->config, "breaker_cooldown"));
}

/* Whether @s is printable text: no C0/C1 controls, DEL, U+2028/2029. */
static int plain_text(const char *s)
{
	size_t len = strlen(s), i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = bl_utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029)
			return 0;
		i += n;
	}
	return 1;
}

/* Whether the form token and cookie show a person's browser: 1 yes, 0 a bot, -1 a browser
 * without our cookie (cookies off, or a cross-site post), -2 a form too old. */
static int form_check(struct bl_http_req *req, const char *token)
{
	struct bl_web *w = web_of(req);
	int64_t nonce, zero, issued;
	const char *cookie = bl_http_cookie(req, FORM_COOKIE);
	char want[32];

	if (!token || !bl_token_verify(&w->secret, BL_TOKEN_FORM, token, &nonce, &zero, &issued))
		return 0;
	int64_t age = bl_now() - issued;
	if (age < bl_config_int(w->config, "form_min_fill") || age < 0)
		return 0;
	if (age > FORM_MAX_AGE)
		return -2;
	snprintf(want, sizeof(want), "%llx", (unsigned long long)nonce);
	if (!cookie || strlen(cookie) != strlen(want) ||
	    !bl_constant_time_eq(cookie, want, strlen(want)))
		return -1;
	return 1;
}

/* A signup as a job of the group-commit writer (http/batch.h). */
struct signup_job {
	const struct bl_signup *in;
	struct bl_signup_result out;
};

static int signup_job_run(struct bl_store *s, void *arg)
{
	struct signup_job *j = arg;
	memset(&j->out, 0, sizeof(j->out));
	return s->ops->web_signup(s, j->in, &j->out);
}

/* The other writes go through the writer too: one transaction per group, no contention. */
struct wjob {
	int64_t sub_id, id; /* subscriber; the confirmation post or list */
	const struct bl_consent_ctx *ctx;
	const char *name, *hash;
	const struct bl_subscription_change *changes;
	size_t n_changes;
	int64_t n; /* rows changed */
	int found; /* the op's 1 (found) or 0 */
};

static int job_confirm(struct bl_store *s, void *arg)
{
	struct wjob *j = arg;
	int rc = s->ops->web_confirm(s, j->sub_id, j->id, j->ctx, &j->n);
	j->found = rc > 0;
	return rc < 0 ? rc : 0;
}

static int job_unsubscribe(struct bl_store *s, void *arg)
{
	struct wjob *j = arg;
	int rc = s->ops->web_unsubscribe(s, j->sub_id, j->id, j->ctx, &j->n);
	j->found = rc > 0;
	return rc < 0 ? rc : 0;
}

static int job_preferences(struct bl_store *s, void *arg)
{
	struct wjob *j = arg;
	int rc = s->ops->web_preferences(s, j->sub_id, j->name, j->changes, j->n_changes, j->ctx);
	j->found = rc > 0;
	return rc < 0 ? rc : 0;
}

static int job_erase(struct bl_store *s, void *arg)
{
	struct wjob *j = arg;
	int rc = s->ops->subscriber_erase(s, j->sub_id, j->hash, "erased on request", j->ctx->now);
	j->found = rc == 0;
	return rc == -BL_ENOENT ? 0 : rc;
}

/* Run write @fn(@arg) through the writer (or on the request's own store without one);
 * logs the error and returns it. */
static int write_op(struct bl_http_req *req, bl_batch_fn fn, void *arg, const char *what)
{
	struct bl_web *w = web_of(req);
	char err[BL_DIAG_MAX] = "";
	int rc = w->writer ? bl_batcher_run(w->writer, fn, arg, err) : fn(req->store, arg);
	if (rc)
		bl_error("%s: %s", what, w->writer ? err : bl_store_error(req->store));
	return rc;
}

/* A confirmation post was queued: count it for /metrics. (The engine finds it on its
 * next turn, at most 100 ms later when idle.) */
static void mail_queued(struct bl_web *w)
{
	atomic_fetch_add(&w->confirm_mails, 1);
}

static void failed_write(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_web_error(req, resp, 500, "Something went wrong",
	             "The request could not be completed. Nothing was changed; please try again "
	             "in a moment.");
}

static void signup_post(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_web *w = web_of(req);
	struct bl_form f = {0};
	struct bl_diag d;
	const char *slugs[MAX_LISTS];
	int64_t ids[MAX_LISTS];
	size_t n_slugs, n_ids = 0;
	int retry = 0;
	double now = (double)bl_now();

	/* Floods first: they cost nothing past this point. */
	if (!bl_ratelimit_take(w->signup_ip, req->ip, now, &retry)) {
		too_many(req, resp, retry);
		return;
	}
	if (!bl_ratelimit_take(w->signup_global, "*", now, &retry)) {
		trip_breaker(w);
		too_many(req, resp, retry);
		return;
	}
	if (bl_form_parse(req->body, req->body_len, &f, &d) != 0) {
		signup_page(req, resp, 400, NULL, 0, NULL, NULL, d.msg);
		return;
	}
	const char *email = bl_form_get(&f, "email"), *name = bl_form_get(&f, "name");
	const char *trap = bl_form_get(&f, "website");
	n_slugs = bl_form_get_all(&f, "list", slugs, MAX_LISTS);

	/* Bots: the normal answer, nothing done. */
	int human = form_check(req, bl_form_get(&f, "form_token"));
	if ((trap && *trap) || human == 0) {
		bl_debug("signup from %s taken for a bot (%s): dropped", req->ip,
		         trap && *trap ? "honeypot filled" : "form token missing or too fresh");
		check_inbox(req, resp, email);
		goto out;
	}
	if (human == -1) {
		bl_web_error(
		    req, resp, 403, "Please allow cookies",
		    "This form needs a cookie to prove it was filled in on this site. Allow "
		    "cookies for this site, reload the page and send the form again.");
		goto out;
	}
	if (human == -2) {
		signup_page(req, resp, 400, slugs, n_slugs, email, name,
		            "The form was open for too long. Please send it again.");
		goto out;
	}

	struct bl_address a;
	if (!email || !*email) {
		signup_page(req, resp, 400, slugs, n_slugs, email, name,
		            "Please enter your email address.");
		goto out;
	}
	if (bl_address_parse(email, strlen(email),
	                     bl_config_bool(w->config, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0, &a,
	                     NULL, &d) != 0) {
		char msg[BL_DIAG_MAX + 64];
		snprintf(msg, sizeof(msg), "That email address cannot be used: %s.", d.msg);
		signup_page(req, resp, 400, slugs, n_slugs, email, name, msg);
		goto out;
	}
	char *clean_name = bl_trim_dup(name ? name : "");
	if (strlen(clean_name) > BL_NAME_MAX || !plain_text(clean_name)) {
		free(clean_name);
		signup_page(req, resp, 400, slugs, n_slugs, email, "",
		            "The name is too long or holds line breaks or control characters.");
		goto out;
	}

	struct lists_acc la;
	if (load_lists(req->store, 1, &la)) {
		free(clean_name);
		lists_free(&la);
		store_error(req, resp, "reading lists");
		goto out;
	}
	for (size_t i = 0; i < n_slugs; i++) {
		const struct bl_list *l = NULL;
		for (size_t j = 0; j < la.n && !l; j++)
			if (strcmp(la.v[j].slug, slugs[i]) == 0)
				l = &la.v[j];
		if (!l) {
			lists_free(&la);
			free(clean_name);
			signup_page(
			    req, resp, 400, slugs, n_slugs, email, name,
			    "One of the chosen lists does not exist (any more). Please choose "
			    "again.");
			goto out;
		}
		int dup = 0;
		for (size_t j = 0; j < n_ids; j++)
			dup |= ids[j] == l->id;
		if (!dup)
			ids[n_ids++] = l->id;
	}
	lists_free(&la);
	if (n_ids == 0) {
		free(clean_name);
		signup_page(req, resp, 400, slugs, n_slugs, email, name,
		            "Please choose at least one list.");
		goto out;
	}

	char subject[512];
	snprintf(subject, sizeof(subject), "Confirm your subscription to %s", w->site_name);
	struct bl_signup in = {
	    .email = a.email,
	    .email_key = a.key,
	    .name = clean_name,
	    .list_ids = ids,
	    .n_lists = n_ids,
	    .ctx = ctx_of(req, "web:/subscribe"),
	    .confirm_interval = bl_config_int(w->config, "confirm_interval"),
	    .send_confirm = !breaker_open(w),
	    .confirm_subject = subject,
	};
	struct signup_job job = {.in = &in};
	int rc = write_op(req, signup_job_run, &job, "recording a signup");
	free(clean_name);
	if (rc) {
		failed_write(req, resp);
		goto out;
	}
	if (job.out.confirm_post_id)
		mail_queued(w);
	check_inbox(req, resp, a.display);
out:
	bl_form_clear(&f);
}

void bl_web_subscribe(struct bl_http_req *req, struct bl_http_resp *resp)
{
	if (req->method == BL_HTTP_POST) {
		signup_post(req, resp);
		return;
	}
	struct bl_form q = {0};
	struct bl_diag d;
	const char *slug = NULL;
	if (bl_form_parse(req->query, strlen(req->query), &q, &d) == 0)
		slug = bl_form_get(&q, "list");
	signup_page(req, resp, 200, slug ? &slug : NULL, slug ? 1 : 0, NULL, NULL, NULL);
	bl_form_clear(&q);
}

/* ---- tokens in paths ---- */

/* Split req->param "TOKEN[/ACTION]": the token into @tok, the action (or "") returned. */
static const char *split_param(const struct bl_http_req *req, char tok[BL_TOKEN_LEN])
{
	const char *slash = strchr(req->param, '/');
	size_t n = slash ? (size_t)(slash - req->param) : strlen(req->param);
	tok[0] = 0;
	if (n < BL_TOKEN_LEN) {
		memcpy(tok, req->param, n);
		tok[n] = 0;
	}
	return slash ? slash + 1 : "";
}

static void bad_link(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_web_error(req, resp, 404, "This link is not valid",
	             "The link may be incomplete or damaged: copy the whole address from the "
	             "message into your browser. If you erased your data, the links of earlier "
	             "messages no longer work.");
}

static void not_found(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_web_error(req, resp, 404, "Page not found", "There is nothing at this address.");
}

/* ---- /confirm/TOKEN ---- */

struct names_acc {
	struct bl_tval *list;
};

static int push_list_name(void *arg, const struct bl_list *l)
{
	struct bl_tval *m = bl_tval_map();
	bl_tval_set(m, "name", bl_tval_string(l->name));
	bl_tval_set(m, "slug", bl_tval_string(l->slug));
	bl_tval_push(arg, m);
	return 0;
}

static void confirm_resend(struct bl_http_req *req, struct bl_http_resp *resp, int64_t sub_id)
{
	struct bl_web *w = web_of(req);
	struct bl_subscriber s = {0};
	int retry = 0;

	if (!bl_ratelimit_take(w->resend_ip, req->ip, (double)bl_now(), &retry)) {
		too_many(req, resp, retry);
		return;
	}
	int rc = req->store->ops->subscriber_get_id(req->store, sub_id, &s);
	if (rc < 0) {
		store_error(req, resp, "reading a subscriber");
		return;
	}
	if (rc == 1) {
		char subject[512];
		snprintf(subject, sizeof(subject), "Confirm your subscription to %s", w->site_name);
		struct bl_signup in = {
		    .email = s.email,
		    .email_key = s.email_key,
		    .ctx = ctx_of(req, "web:/confirm/resend"),
		    .confirm_interval = bl_config_int(w->config, "confirm_interval"),
		    .send_confirm = !breaker_open(w),
		    .confirm_subject = subject,
		};
		struct signup_job job = {.in = &in};
		rc = write_op(req, signup_job_run, &job, "queueing a confirmation mail");
		bl_subscriber_clear(&s);
		if (rc) {
			failed_write(req, resp);
			return;
		}
		if (job.out.confirm_post_id)
			mail_queued(w);
	}
	/* The same answer whether or not a mail went out (throttled, nothing pending). */
	bl_web_page(req, resp, 200, "confirm_resent", "Confirmation sent again", bl_tval_map());
}

void bl_web_confirm(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_web *w = web_of(req);
	char tok[BL_TOKEN_LEN];
	const char *action = split_param(req, tok);
	int64_t sub_id, post_id, expires;

	if (!bl_token_verify(&w->secret, BL_TOKEN_CONFIRM, tok, &sub_id, &post_id, &expires)) {
		bad_link(req, resp);
		return;
	}
	if (strcmp(action, "resend") == 0) {
		if (req->method != BL_HTTP_POST) {
			bl_http_add_header(resp, "Allow", "POST");
			bl_web_error(req, resp, 405, "Method not allowed",
			             "Use the button on the confirmation page.");
			return;
		}
		confirm_resend(req, resp, sub_id);
		return;
	}
	if (*action) {
		not_found(req, resp);
		return;
	}
	if (expires < bl_now()) {
		struct bl_tval *data = bl_tval_map();
		bl_tval_set(data, "resend_url",
		            bl_tval_stringf("%s/confirm/%s/resend", w->public_url, tok));
		bl_web_page(req, resp, 410, "confirm_expired", "This link has expired", data);
		return;
	}
	struct bl_tval *data = bl_tval_map(), *lists = bl_tval_list();
	bl_tval_set(data, "lists", lists);
	if (req->store->ops->post_lists(req->store, post_id, push_list_name, lists)) {
		bl_tval_destroy(data);
		store_error(req, resp, "reading a confirmation");
		return;
	}
	if (req->method != BL_HTTP_POST) {
		bl_tval_set(data, "action_url",
		            bl_tval_stringf("%s/confirm/%s", w->public_url, tok));
		bl_web_page(req, resp, 200, "confirm", "Confirm your subscription", data);
		return;
	}
	struct bl_consent_ctx ctx = ctx_of(req, "web:/confirm");
	struct wjob job = {.sub_id = sub_id, .id = post_id, .ctx = &ctx};
	if (write_op(req, job_confirm, &job, "recording a confirmation")) {
		bl_tval_destroy(data);
		failed_write(req, resp);
		return;
	}
	if (!job.found) {
		bl_tval_destroy(data);
		bad_link(req, resp);
		return;
	}
	char prefs[BL_TOKEN_LEN];
	bl_token_make(&w->secret, BL_TOKEN_PREFERENCES, sub_id, 0, 0, prefs);
	bl_tval_set(data, "preferences_url",
	            bl_tval_stringf("%s/preferences/%s", w->public_url, prefs));
	bl_web_page(req, resp, 200, "confirmed", "Subscription confirmed", data);
}

/* ---- /unsubscribe/TOKEN ---- */

/* Whether a POST body is RFC 8058's one-click request (urlencoded or multipart). */
static int one_click(const struct bl_http_req *req)
{
	if (req->body_len < strlen(ONE_CLICK_KEY))
		return 0;
	if (strstr(req->body, ONE_CLICK_KEY))
		return 1;
	/* multipart/form-data: a part named List-Unsubscribe holding One-Click. */
	return strstr(req->body, "name=\"List-Unsubscribe\"") && strstr(req->body, "One-Click");
}

void bl_web_unsubscribe(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_web *w = web_of(req);
	char tok[BL_TOKEN_LEN];
	const char *action = split_param(req, tok);
	int64_t sub_id, list_id, expires;
	struct bl_subscriber s = {0};

	if (!bl_token_verify(&w->secret, BL_TOKEN_UNSUBSCRIBE, tok, &sub_id, &list_id, &expires) ||
	    (expires && expires < bl_now())) {
		bad_link(req, resp);
		return;
	}
	if (*action) {
		not_found(req, resp);
		return;
	}
	int rc = req->store->ops->subscriber_get_id(req->store, sub_id, &s);
	if (rc < 0) {
		store_error(req, resp, "reading a subscriber");
		return;
	}
	if (rc == 0) {
		/* Erased: there is nothing left to unsubscribe; a one-click client wants 200. */
		if (req->method == BL_HTTP_POST && one_click(req)) {
			resp->content_type = "text/plain; charset=utf-8";
			bl_buf_adds(&resp->body, "unsubscribed\n");
			return;
		}
		bad_link(req, resp);
		return;
	}
	struct lists_acc la;
	if (load_lists(req->store, 0, &la)) {
		lists_free(&la);
		bl_subscriber_clear(&s);
		store_error(req, resp, "reading lists");
		return;
	}
	const struct bl_list *l = list_by_id(&la, list_id);
	struct bl_tval *data = bl_tval_map(), *lt = bl_tval_map();
	bl_tval_set(lt, "name", bl_tval_string(l ? l->name : "all lists"));
	bl_tval_set(data, "list", lt);
	bl_tval_set(data, "email", bl_tval_string(s.email));
	lists_free(&la);

	if (req->method != BL_HTTP_POST) {
		bl_tval_set(data, "action_url",
		            bl_tval_stringf("%s/unsubscribe/%s", w->public_url, tok));
		bl_web_page(req, resp, 200, "unsubscribe", "Unsubscribe", data);
		bl_subscriber_clear(&s);
		return;
	}
	struct bl_consent_ctx ctx =
	    ctx_of(req, one_click(req) ? "web:/unsubscribe (one-click)" : "web:/unsubscribe");
	/* A list deleted since the mail was sent took its subscriptions with it: then this
	 * changes nothing, and says so the same way as a replay. */
	struct wjob job = {.sub_id = sub_id, .id = list_id, .ctx = &ctx};
	rc = write_op(req, job_unsubscribe, &job, "recording an unsubscribe");
	bl_subscriber_clear(&s);
	if (rc) {
		bl_tval_destroy(data);
		failed_write(req, resp);
		return;
	}
	if (one_click(req)) {
		/* RFC 8058 §3.2: answer the mail client plainly, no redirect. */
		bl_tval_destroy(data);
		resp->content_type = "text/plain; charset=utf-8";
		bl_buf_adds(&resp->body, "unsubscribed\n");
		return;
	}
	char prefs[BL_TOKEN_LEN];
	bl_token_make(&w->secret, BL_TOKEN_PREFERENCES, sub_id, 0, 0, prefs);
	bl_tval_set(data, "preferences_url",
	            bl_tval_stringf("%s/preferences/%s", w->public_url, prefs));
	bl_web_page(req, resp, 200, "unsubscribed", "Unsubscribed", data);
}

/* ---- /preferences/TOKEN ---- */

struct subs_acc {
	struct bl_subscription *v;
	size_t n, cap;
};

static int collect_sub(void *arg, const struct bl_subscription *s)
{
	struct subs_acc *a = arg;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 8;
		a->v = bl_xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	a->v[a->n] = *s;
	a->v[a->n++].list_slug = NULL;
	return 0;
}

static const struct bl_subscription *sub_of(const struct subs_acc *a, int64_t list_id)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].list_id == list_id)
			return &a->v[i];
	return NULL;
}

/* The lists the preference centre shows: those the subscriber has a subscription to,
 * and the public ones. */
static int shown(const struct bl_list *l, const struct subs_acc *subs)
{
	return l->visibility == BL_VISIBILITY_PUBLIC || sub_of(subs, l->id);
}

static void preferences_page(struct bl_http_req *req, struct bl_http_resp *resp, const char *tok,
                             const struct bl_subscriber *s, const struct lists_acc *la,
                             const struct subs_acc *subs, int saved, const char *error)
{
	struct bl_web *w = web_of(req);
	struct bl_tval *data = bl_tval_map(), *items = bl_tval_list();
	for (size_t i = 0; i < la->n; i++) {
		const struct bl_list *l = &la->v[i];
		if (!shown(l, subs))
			continue;
		const struct bl_subscription *sub = sub_of(subs, l->id);
		enum bl_mode mode = sub ? sub->mode : BL_MODE_INSTANT;
		struct bl_tval *m = bl_tval_map();
		bl_tval_set(m, "id", bl_tval_number((double)l->id));
		bl_tval_set(m, "slug", bl_tval_string(l->slug));
		bl_tval_set(m, "name", bl_tval_string(l->name));
		bl_tval_set(m, "subscribed", bl_tval_bool(sub && sub->status == BL_SUB_CONFIRMED));
		bl_tval_set(
		    m, "status",
		    bl_tval_string(sub ? bl_sub_status_name(sub->status) : "not subscribed"));
		bl_tval_set(m, "instant", bl_tval_bool(mode == BL_MODE_INSTANT));
		bl_tval_set(m, "daily", bl_tval_bool(mode == BL_MODE_DAILY));
		bl_tval_set(m, "weekly", bl_tval_bool(mode == BL_MODE_WEEKLY));
		bl_tval_push(items, m);
	}
	bl_tval_set(data, "subscriptions", items);
	bl_tval_set(data, "email", bl_tval_string(s->email));
	bl_tval_set(data, "name", bl_tval_string(s->name));
	bl_tval_set(data, "saved", bl_tval_bool(saved));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	bl_tval_set(data, "action_url", bl_tval_stringf("%s/preferences/%s", w->public_url, tok));
	bl_tval_set(data, "data_url",
	            bl_tval_stringf("%s/preferences/%s/data", w->public_url, tok));
	bl_tval_set(data, "erase_url",
	            bl_tval_stringf("%s/preferences/%s/erase", w->public_url, tok));
	bl_web_page(req, resp, error ? 400 : 200, "preferences", "Your subscriptions", data);
}

/* Apply the preference form. Returns NULL when saved, else a message for the reader
 * (*@failed set for a store error). */
static const char *preferences_save(struct bl_http_req *req, const struct bl_subscriber *s,
                                    const struct lists_acc *la, const struct subs_acc *subs,
                                    int *failed, char msg[BL_DIAG_MAX + 64])
{
	struct bl_form f = {0};
	struct bl_diag d;
	const char *checked[MAX_LISTS];
	struct bl_subscription_change ch[MAX_LISTS];
	size_t n_checked, n = 0;
	const char *res = NULL;

	*failed = 0;
	if (bl_form_parse(req->body, req->body_len, &f, &d) != 0) {
		snprintf(msg, BL_DIAG_MAX + 64, "The form could not be read: %s", d.msg);
		return msg;
	}
	/* The page's form always sends the name field: a body without it (JSON, another
	 * form) is not a request to leave every list. */
	if (!bl_form_get(&f, "name")) {
		bl_form_clear(&f);
		return "The form was incomplete; nothing was changed. Please use the form on this "
		       "page.";
	}
	n_checked = bl_form_get_all(&f, "list", checked, MAX_LISTS);
	const char *name = bl_form_get(&f, "name");
	char *clean = name ? bl_trim_dup(name) : NULL;
	if (clean && (strlen(clean) > BL_NAME_MAX || !plain_text(clean))) {
		res = "The name is too long or holds line breaks or control characters.";
		goto out;
	}
	for (size_t i = 0; i < la->n && n < MAX_LISTS; i++) {
		const struct bl_list *l = &la->v[i];
		if (!shown(l, subs))
			continue;
		const struct bl_subscription *sub = sub_of(subs, l->id);
		char key[40], idtxt[24];
		snprintf(key, sizeof(key), "mode_%lld", (long long)l->id);
		snprintf(idtxt, sizeof(idtxt), "%lld", (long long)l->id);
		int on = 0;
		for (size_t j = 0; j < n_checked; j++)
			on |= strcmp(checked[j], idtxt) == 0;
		enum bl_mode mode = sub ? sub->mode : BL_MODE_INSTANT;
		const char *m = bl_form_get(&f, key);
		if (m && bl_mode_parse(m, &mode) != 0) {
			res = "Choose instant, daily or weekly for each list.";
			goto out;
		}
		enum bl_sub_status want;
		if (on)
			want = BL_SUB_CONFIRMED;
		else if (sub && sub->status != BL_SUB_UNSUBSCRIBED)
			want = BL_SUB_UNSUBSCRIBED;
		else
			continue; /* never subscribed, still not: nothing to write */
		if (sub && sub->status == want && sub->mode == mode)
			continue;
		ch[n++] =
		    (struct bl_subscription_change){.list_id = l->id, .status = want, .mode = mode};
	}
	struct bl_consent_ctx ctx = ctx_of(req, "web:/preferences");
	struct wjob job = {
	    .sub_id = s->id, .name = clean, .changes = ch, .n_changes = n, .ctx = &ctx};
	if (write_op(req, job_preferences, &job, "saving preferences")) {
		*failed = 1;
		res = "store";
	} else if (!job.found) {
		res = "This subscriber no longer exists.";
	}
out:
	free(clean);
	bl_form_clear(&f);
	return res;
}

struct data_acc {
	json_t *arr;
};

static int json_sub(void *arg, const struct bl_subscription *s)
{
	json_array_append_new(arg, json_pack("{s:s?, s:s, s:s, s:I, s:I}", "list", s->list_slug,
	                                     "status", bl_sub_status_name(s->status), "mode",
	                                     bl_mode_name(s->mode), "created_at",
	                                     (json_int_t)s->created_at, "updated_at",
	                                     (json_int_t)s->updated_at));
	return 0;
}

static int json_event(void *arg, const struct bl_consent *c)
{
	json_array_append_new(arg, json_pack("{s:s, s:s?, s:I, s:s, s:s, s:s}", "kind",
	                                     bl_consent_kind_name(c->kind), "list", c->list_slug,
	                                     "at", (json_int_t)c->at, "ip", c->ip, "user_agent",
	                                     c->user_agent, "source", c->source));
	return 0;
}

static int json_delivery(void *arg, const struct bl_delivery_row *r)
{
	json_array_append_new(arg, json_pack("{s:I, s:s?, s:s, s:I}", "post",
	                                     (json_int_t)r->post_id, "subject", r->post_subject,
	                                     "state", bl_delivery_state_name(r->state), "at",
	                                     (json_int_t)r->updated_at));
	return 0;
}

/* GET /preferences/TOKEN/data: everything we hold about the subscriber, as JSON. */
static void download_data(struct bl_http_req *req, struct bl_http_resp *resp,
                          const struct bl_subscriber *s)
{
	struct bl_store *st = req->store;
	json_t *subs = json_array(), *events = json_array(), *dels = json_array();
	json_t *attrs = json_loads(s->attributes, 0, NULL);
	int rc = st->ops->subscription_each(st, s->id, json_sub, subs);
	if (!rc)
		rc = st->ops->consent_each(st, s->id, json_event, events);
	if (!rc)
		rc = st->ops->subscriber_deliveries_each(st, s->id, json_delivery, dels);
	if (rc) {
		json_decref(subs);
		json_decref(events);
		json_decref(dels);
		json_decref(attrs);
		store_error(req, resp, "reading a subscriber's data");
		return;
	}
	json_t *doc =
	    json_pack("{s:{s:s, s:s, s:o, s:s, s:I, s:I}, s:o, s:o, s:o}", "subscriber", "email",
	              s->email, "name", s->name, "attributes", attrs ? attrs : json_object(),
	              "status", bl_subscriber_status_name(s->status), "created_at",
	              (json_int_t)s->created_at, "updated_at", (json_int_t)s->updated_at,
	              "subscriptions", subs, "consent_events", events, "deliveries", dels);
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (!text) {
		bl_web_error(req, resp, 500, "Something went wrong",
		             "The data could not be written.");
		return;
	}
	resp->content_type = "application/json; charset=utf-8";
	bl_http_add_header(resp, "Content-Disposition",
	                   "attachment; filename=\"bulletin-my-data.json\"");
	bl_buf_adds(&resp->body, text);
	bl_buf_addc(&resp->body, '\n');
	free(text);
}

void bl_web_preferences(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_web *w = web_of(req);
	char tok[BL_TOKEN_LEN];
	const char *action = split_param(req, tok);
	int64_t sub_id, zero, expires;
	struct bl_subscriber s = {0};
	struct lists_acc la = {0};
	struct subs_acc subs = {0};

	if (!bl_token_verify(&w->secret, BL_TOKEN_PREFERENCES, tok, &sub_id, &zero, &expires) ||
	    (expires && expires < bl_now())) {
		bad_link(req, resp);
		return;
	}
	if (*action && strcmp(action, "data") != 0 && strcmp(action, "erase") != 0) {
		not_found(req, resp);
		return;
	}
	int rc = req->store->ops->subscriber_get_id(req->store, sub_id, &s);
	if (rc < 0) {
		store_error(req, resp, "reading a subscriber");
		return;
	}
	if (rc == 0) {
		bad_link(req, resp);
		return;
	}
	if (strcmp(action, "data") == 0) {
		if (req->method == BL_HTTP_POST) {
			bl_http_add_header(resp, "Allow", "GET, HEAD");
			bl_web_error(req, resp, 405, "Method not allowed", "Use the link instead.");
		} else {
			download_data(req, resp, &s);
		}
		goto out;
	}
	if (strcmp(action, "erase") == 0) {
		struct bl_tval *data = bl_tval_map();
		if (req->method != BL_HTTP_POST) {
			bl_tval_set(data, "email", bl_tval_string(s.email));
			bl_tval_set(data, "action_url",
			            bl_tval_stringf("%s/preferences/%s/erase", w->public_url, tok));
			bl_web_page(req, resp, 200, "erase", "Erase my data", data);
			goto out;
		}
		char hash[BL_HASH_HEX];
		bl_suppression_hash(s.email_key, hash);
		struct bl_consent_ctx ctx = ctx_of(req, "web:/preferences/erase");
		struct wjob job = {.sub_id = s.id, .hash = hash, .ctx = &ctx};
		if (write_op(req, job_erase, &job, "erasing a subscriber")) {
			bl_tval_destroy(data);
			failed_write(req, resp);
			goto out;
		}
		bl_info("subscriber %lld erased on request from %s", (long long)s.id, req->ip);
		bl_web_page(req, resp, 200, "erased", "Your data is erased", data);
		goto out;
	}
	if (load_lists(req->store, 0, &la) ||
	    req->store->ops->subscription_each(req->store, s.id, collect_sub, &subs)) {
		store_error(req, resp, "reading subscriptions");
		goto out;
	}
	if (req->method == BL_HTTP_POST) {
		int failed = 0;
		char msg[BL_DIAG_MAX + 64];
		const char *err = preferences_save(req, &s, &la, &subs, &failed, msg);
		if (failed) {
			failed_write(req, resp);
			goto out;
		}
		if (!err) {
			/* Show what is stored now. */
			bl_subscriber_clear(&s);
			free(subs.v);
			memset(&subs, 0, sizeof(subs));
			if (req->store->ops->subscriber_get_id(req->store, sub_id, &s) != 1 ||
			    req->store->ops->subscription_each(req->store, s.id, collect_sub,
			                                       &subs)) {
				store_error(req, resp, "reading subscriptions");
				goto out;
			}
		}
		preferences_page(req, resp, tok, &s, &la, &subs, err == NULL, err);
		goto out;
	}
	preferences_page(req, resp, tok, &s, &la, &subs, 0, NULL);
out:
	lists_free(&la);
	free(subs.v);
	bl_subscriber_clear(&s);
}
