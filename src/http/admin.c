/*
 * The admin UI under /admin (admin.h): server-rendered pages from
 * templates/admin/ (pages.c) that work without JavaScript; admin.js only
 * polls the progress endpoints for live bars. Invariants:
 *  - every page but the login page and the two static files needs a live
 *    session (bl_auth_session); without one a GET goes to
 *    /admin/login?next=PATH and a POST is refused;
 *  - the login POST carries the login page's nonce in "csrf", equal to its
 *    SameSite=Strict cookie (login CSRF); after login only a printable-ASCII
 *    path under /admin is followed (next=);
 *  - every POST carries the session's CSRF token in the field "csrf"
 *    (bl_auth_csrf_ok) and the role it needs (a viewer only reads; an
 *    editor writes lists, subscribers, imports, posts and feeds; an admin also
 *    users, tokens and reads the audit log), else 403 and nothing changes;
 *  - every write is one store operation (or one transaction), followed by
 *    an audit entry (bl_audit) and a 303 to the page that shows it, with
 *    ?done=CODE for a notice the page words from the store (never URL text);
 *  - what cannot be undone (sending or cancelling a post, erasing a
 *    subscriber) asks on a confirmation page first (GET, or a POST without
 *    confirm=1); only the confirmation's POST with confirm=1 does it;
 *  - listings cost O(page): keyset cursors on the store's indexes, counts
 *    from the maintained counters, never a COUNT(*) per request;
 *  - user data reaches pages only through Mustache's escaping {{ }}; the
 *    charts (chart.c) escape their own text.
 */
#include "http/admin.h"

#include "bounce/summary.h"
#include "core/address.h"
#include "core/crypto.h"
#include "feed/poll.h"
#include "http/chart.h"
#include "http/web.h"
#include "import/formats.h"
#include "import/import.h"
#include "send/compose.h"
#include "send/engine.h"
#include "tmpl/tmpl.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Admin pages may load our own script (admin.js) and frame our own preview. */
#define ADMIN_CSP                                                                                  \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "       \
	"base-uri 'none'"
/* The email preview: the message's own inline styles and remote images, never a script;
 * framed only by our admin pages. */
#define PREVIEW_CSP                                                                                \
	"default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action "        \
	"'none'; "                                                                                 \
	"frame-ancestors 'self'; base-uri 'none'; sandbox"

#define PAGE_SIZE    50  /* rows per page of a listing */
#define GROWTH_DAYS  30  /* the dashboard's chart */
#define RECENT_POSTS 10  /* posts on the dashboard */
#define HIST_BUCKETS 60  /* bars of a post's acceptance chart */
#define MAX_LISTS    200 /* lists in a composer or filter */
#define SEARCH_MAX   200 /* bytes of a subscriber search prefix */
#define FROM_MAX     998 /* bytes of a post's From field (as the API) */

/* ---- request state ---- */

struct admin {
	struct bl_principal p;
	struct bl_form query; /* the query string, decoded */
	struct bl_form form;  /* a urlencoded POST body, decoded */
};

static struct bl_web *web_of(const struct bl_http_req *req)
{
	return req->app;
}

static const char *admin_base(const struct bl_http_req *req)
{
	return bl_web_base_path(web_of(req));
}

static void admin_free(struct admin *a)
{
	if (!a)
		return;
	bl_form_clear(&a->query);
	bl_form_clear(&a->form);
	free(a);
}

/* Percent-encode @s for a query value (RFC 3986 unreserved kept) into @out. */
static void urlenc(struct bl_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			bl_buf_addc(out, (char)c);
		} else {
			bl_buf_addc(out, '%');
			bl_buf_addc(out, hex[c >> 4]);
			bl_buf_addc(out, hex[c & 15]);
		}
	}
}

/* 303 to BASE/admin + printf(@fmt, ...). */
static void redirect(struct bl_http_req *req, struct bl_http_resp *resp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void redirect(struct bl_http_req *req, struct bl_http_resp *resp, const char *fmt, ...)
{
	char path[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	resp->status = 303;
	resp->content_type = "text/plain; charset=utf-8";
	bl_buf_reset(&resp->body);
	bl_buf_adds(&resp->body, "See other\n");
	bl_http_add_header(resp, "Location", "%s/admin%s", admin_base(req), path);
}

/* A time as "2026-11-29 16:55 UTC", "" for 0. */
static struct bl_tval *when(int64_t t)
{
	char s[BL_TIME_STRMAX];
	if (!t)
		return bl_tval_string("");
	bl_time_format(t, s);
	/* "YYYY-MM-DDTHH:MM:SSZ" -> "YYYY-MM-DD HH:MM UTC" */
	return bl_tval_stringf("%.10s %.5s UTC", s, s + 11);
}

static struct bl_tval *num(int64_t v)
{
	return bl_tval_number((double)v);
}

void bl_admin_page(struct bl_http_req *req, struct bl_http_resp *resp, int status, const char *name,
                   const char *title, const struct bl_principal *p, struct bl_tval *data)
{
	const struct bl_web *w = web_of(req);
	const char *base = admin_base(req), *etag = "\"0\"";
	char page[64];
	size_t len;

	if (!data)
		data = bl_tval_map();
	bl_tval_set(data, "admin_url", bl_tval_stringf("%s/admin", base));
	bl_pages_asset(w->pages, "admin.css", &len, &etag);
	bl_tval_set(data, "css_url",
	            bl_tval_stringf("%s/admin/static/admin.css?v=%.16s", base, etag + 1));
	bl_pages_asset(w->pages, "admin.js", &len, &etag);
	bl_tval_set(data, "js_url",
	            bl_tval_stringf("%s/admin/static/admin.js?v=%.16s", base, etag + 1));
	if (p) {
		struct bl_tval *me = bl_tval_map();
		bl_tval_set(me, "name", bl_tval_string(p->name));
		bl_tval_set(me, "role", bl_tval_string(bl_role_name(p->role)));
		bl_tval_set(data, "me", me);
		bl_tval_set(data, "csrf", bl_tval_string(p->csrf));
		bl_tval_set(data, "can_edit", bl_tval_bool(p->role >= BL_ROLE_EDITOR));
		bl_tval_set(data, "is_admin", bl_tval_bool(p->role >= BL_ROLE_ADMIN));
	}
	/* has_KEY: a list to show, so a table's head and foot are drawn once */
	static const char *const lists[] = {"lists",         "posts",  "rows",   "jobs",
	                                    "deliveries",    "users",  "tokens", "entries",
	                                    "subscriptions", "events", "feeds",  "findings"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		char key[32];
		snprintf(key, sizeof(key), "has_%s", lists[i]);
		if (bl_tval_count(bl_tval_get(data, lists[i])) > 0)
			bl_tval_set(data, key, bl_tval_bool(1));
	}
	/* a fixed notice after a redirect (?done=CODE): never text from the URL */
	static const struct {
		const char *code, *text;
	} notices[] = {{"created", "Created."},
	               {"saved", "Saved."},
	               {"erased", "The subscriber was erased."},
	               {"deleted", "Deleted."}};
	const char *done = strstr(req->query, "done=");
	if (done && (done == req->query || done[-1] == '&') && !bl_tval_get(data, "notice"))
		for (size_t i = 0; i < sizeof(notices) / sizeof(notices[0]); i++)
			if (strncmp(done + 5, notices[i].code, strlen(notices[i].code)) == 0)
				bl_tval_set(data, "notice", bl_tval_string(notices[i].text));
	resp->csp = ADMIN_CSP;
	resp->no_store = 1;
	snprintf(page, sizeof(page), "admin/%s", name);
	bl_web_page(req, resp, status, page, title, data);
}

/* The admin error page. */
static void admin_error(struct bl_http_req *req, struct bl_http_resp *resp,
                        const struct bl_principal *p, int status, const char *heading,
                        const char *message)
{
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "status", bl_tval_number(status));
	bl_tval_set(data, "heading", bl_tval_string(heading));
	bl_tval_set(data, "message", bl_tval_string(message));
	bl_admin_page(req, resp, status, "error", heading, p, data);
}

static void store_failed(struct bl_http_req *req, struct bl_http_resp *resp,
                         const struct bl_principal *p, const char *what)
{
	bl_error("admin: %s: %s", what, bl_store_error(req->store));
	admin_error(req, resp, p, 500, "Something went wrong",
	            "The store could not complete the request. Please try again in a moment.");
}

static void not_found(struct bl_http_req *req, struct bl_http_resp *resp,
                      const struct bl_principal *p)
{
	admin_error(req, resp, p, 404, "Not found", "There is nothing at this address.");
}

/*
 * The confirmation step of a risky action, without JavaScript: @question and
 * a button @button that POSTs the CSRF token and confirm=1 to @action (a path
 * under /admin); "No, go back" leads to @back (a path under /admin).
 * @detail (NULL: none) is a line of explanation; @danger marks the button.
 */
static void confirm_page(struct bl_http_req *req, struct bl_http_resp *resp,
                         const struct bl_principal *p, const char *section, const char *heading,
                         const char *question, const char *detail, const char *button, int danger,
                         const char *action, const char *back)
{
	struct bl_tval *data = bl_tval_map();
	char key[48];
	bl_tval_set(data, "heading", bl_tval_string(heading));
	bl_tval_set(data, "question", bl_tval_string(question));
	if (detail)
		bl_tval_set(data, "detail", bl_tval_string(detail));
	bl_tval_set(data, "button", bl_tval_string(button));
	bl_tval_set(data, "button_class", bl_tval_string(danger ? "danger" : "primary"));
	bl_tval_set(data, "action", bl_tval_stringf("%s/admin%s", admin_base(req), action));
	bl_tval_set(data, "back_url", bl_tval_stringf("%s/admin%s", admin_base(req), back));
	snprintf(key, sizeof(key), "nav_%s", section);
	bl_tval_set(data, key, bl_tval_bool(1));
	bl_admin_page(req, resp, 200, "confirm", heading, p, data);
}

/* A section of the navigation marked current: data "nav_NAME" true. */
static void nav(struct bl_tval *data, const char *section)
{
	char key[48];
	snprintf(key, sizeof(key), "nav_%s", section);
	bl_tval_set(data, key, bl_tval_bool(1));
}

enum { WRITE = 1, NO_CSRF = 2 };

/*
 * enter - the common door of every admin handler: the session (none: a GET
 * goes to the login page with next=, a POST gets 403), the decoded query,
 * for a POST the decoded form and its CSRF token (unless @flags has
 * NO_CSRF: the handler checks it itself), then the role @min. Returns the
 * request state (admin_free) or NULL when the response is made.
 */
static struct admin *enter(struct bl_http_req *req, struct bl_http_resp *resp, enum bl_role min,
                           unsigned flags)
{
	struct admin *a = bl_xcalloc(1, sizeof(*a));
	struct bl_diag d;
	int rc = bl_auth_session(req, &a->p);

	if (rc < 0) {
		admin_free(a);
		admin_error(req, resp, NULL, 500, "Something went wrong",
		            "The session could not be read. Please try again in a moment.");
		return NULL;
	}
	if (rc == 0) {
		admin_free(a);
		if (req->method == BL_HTTP_POST) {
			admin_error(req, resp, NULL, 403, "Not logged in",
			            "Your session has ended. Log in again and repeat the action.");
			return NULL;
		}
		struct bl_buf next;
		bl_buf_init(&next, 4096);
		bl_buf_adds(&next, req->path);
		if (*req->query) {
			bl_buf_addc(&next, '?');
			bl_buf_adds(&next, req->query);
		}
		struct bl_buf enc;
		bl_buf_init(&enc, 16384);
		urlenc(&enc, bl_buf_err(&next) ? "/admin" : bl_buf_str(&next));
		redirect(req, resp, "/login?next=%s", bl_buf_err(&enc) ? "" : bl_buf_str(&enc));
		bl_buf_finish(&next);
		bl_buf_finish(&enc);
		return NULL;
	}
	if (bl_form_parse(req->query, strlen(req->query), &a->query, &d)) {
		admin_error(req, resp, &a->p, 400, "Bad request", d.msg);
		admin_free(a);
		return NULL;
	}
	if (req->method == BL_HTTP_POST && !(flags & NO_CSRF)) {
		if (bl_form_parse(req->body, req->body_len, &a->form, &d)) {
			admin_error(req, resp, &a->p, 400, "Bad request", d.msg);
			admin_free(a);
			return NULL;
		}
		if (!bl_auth_csrf_ok(&a->p, bl_form_get(&a->form, "csrf"))) {
			admin_error(
			    req, resp, &a->p, 403, "Forbidden",
			    "The form was stale or not sent from this site (CSRF token "
			    "missing or wrong). Nothing was changed; reload the page and try "
			    "again.");
			admin_free(a);
			return NULL;
		}
	}
	if (a->p.role < min) {
		char msg[200];
		snprintf(msg, sizeof(msg), "This needs the %s role; you are %s %s.",
		         bl_role_name(min), a->p.role == BL_ROLE_ADMIN ? "an" : "a",
		         bl_role_name(a->p.role));
		admin_error(req, resp, &a->p, 403, "Forbidden", msg);
		admin_free(a);
		return NULL;
	}
	(void)flags;
	return a;
}

/* A field of the form (POST) or, failing that, the query; "" when absent. */
static const char *field(const struct admin *a, const char *name)
{
	const char *v = bl_form_get(&a->form, name);
	if (!v)
		v = bl_form_get(&a->query, name);
	return v ? v : "";
}

/* The id at the start of @s ("12", "12/send"): > 0, and *@rest after it; 0 when none. */
static int64_t leading_id(const char *s, const char **rest)
{
	long long v = 0;
	size_t n = strspn(s, "0123456789");
	char buf[24];
	if (n == 0 || n > 18)
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (bl_parse_int64(buf, 1, INT64_MAX, &v))
		return 0;
	*rest = s + n;
	return v;
}

/* ---- lists ---- */

struct lists_acc {
	struct bl_list *v;
	size_t n, cap;
};

static int collect_list(void *arg, const struct bl_list *l)
{
	struct lists_acc *a = arg;
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

static int load_lists(struct bl_store *s, struct lists_acc *a)
{
	memset(a, 0, sizeof(*a));
	return s->ops->list_each(s, collect_list, a);
}

/* ---- static files (no session: the login page needs them) ---- */

static void asset(struct bl_http_req *req, struct bl_http_resp *resp, const char *name,
                  const char *type)
{
	size_t len;
	const char *etag, *data = bl_pages_asset(web_of(req)->pages, name, &len, &etag);
	const char *inm = bl_http_header(req, "If-None-Match");
	resp->content_type = type;
	resp->no_store = 0;
	bl_http_add_header(resp, "ETag", "%s", etag);
	bl_http_add_header(resp, "Cache-Control", "public, max-age=86400");
	if (inm && strcmp(inm, etag) == 0) {
		resp->status = 304;
		return;
	}
	bl_buf_add(&resp->body, data, len);
}

static void admin_css(struct bl_http_req *req, struct bl_http_resp *resp)
{
	asset(req, resp, "admin.css", "text/css; charset=utf-8");
}

static void admin_js(struct bl_http_req *req, struct bl_http_resp *resp)
{
	asset(req, resp, "admin.js", "text/javascript; charset=utf-8");
}

/* ---- dashboard ---- */

static int add_recent_post(void *arg, const struct bl_post *p);

struct post_rows {
	struct bl_http_req *req;
	struct bl_tval *rows;
	int64_t last_id;
	size_t n;
	int err;
};

static struct bl_tval *post_row(struct bl_http_req *req, const struct bl_post *p,
                                const struct bl_delivery_counts *c)
{
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "id", num(p->id));
	bl_tval_set(r, "subject", bl_tval_string(p->subject));
	bl_tval_set(r, "status", bl_tval_string(bl_post_status_name(p->status)));
	bl_tval_set(r, "breaking", bl_tval_bool(p->priority == BL_PRIORITY_BREAKING));
	bl_tval_set(r, "created", when(p->created_at));
	bl_tval_set(r, "scheduled", when(p->scheduled_at));
	bl_tval_set(r, "url",
	            bl_tval_stringf("%s/admin/posts/%lld", admin_base(req), (long long)p->id));
	bl_tval_set(r, "total", num(p->total));
	if (c) {
		bl_tval_set(r, "accepted", num(c->n[BL_DELIVERY_ACCEPTED]));
		bl_tval_set(r, "failed", num(c->n[BL_DELIVERY_FAILED]));
		bl_tval_set(r, "waiting",
		            num(c->n[BL_DELIVERY_PENDING] + c->n[BL_DELIVERY_CLAIMED] +
		                c->n[BL_DELIVERY_DEFERRED]));
	}
	return r;
}

static int add_recent_post(void *arg, const struct bl_post *p)
{
	struct post_rows *pr = arg;
	struct bl_delivery_counts c = {0};
	struct bl_store *s = pr->req->store;
	if (s->ops->delivery_counts(s, p->id, &c) < 0) {
		pr->err = 1;
		return 1;
	}
	bl_tval_push(pr->rows, post_row(pr->req, p, &c));
	pr->last_id = p->id;
	pr->n++;
	return 0;
}

static void dashboard(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	struct bl_store *s = req->store;
	struct lists_acc la;
	struct bl_counts totals;
	int64_t first_day = bl_now() / 86400 - (GROWTH_DAYS - 1);
	int64_t added[GROWTH_DAYS] = {0}, removed[GROWTH_DAYS] = {0};
	if (!a)
		return;
	if (load_lists(s, &la) || s->ops->counts(s, &totals) ||
	    s->ops->growth(s, first_day, GROWTH_DAYS, added, removed)) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "dashboard");
		admin_free(a);
		return;
	}
	struct bl_tval *data = bl_tval_map(), *lists = bl_tval_list();
	for (size_t i = 0; i < la.n; i++) {
		struct bl_list_counts c = {0};
		if (s->ops->list_counts(s, la.v[i].id, &c)) {
			bl_tval_destroy(data);
			bl_tval_destroy(lists);
			lists_free(&la);
			store_failed(req, resp, &a->p, "list counts");
			admin_free(a);
			return;
		}
		struct bl_tval *l = bl_tval_map();
		bl_tval_set(l, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(l, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(l, "confirmed", num(c.confirmed));
		bl_tval_set(l, "unconfirmed", num(c.unconfirmed));
		bl_tval_set(l, "unsubscribed", num(c.unsubscribed));
		bl_tval_set(
		    l, "url",
		    bl_tval_stringf("%s/admin/subscribers?list=%s", admin_base(req), la.v[i].slug));
		bl_tval_push(lists, l);
	}
	bl_tval_set(data, "lists", lists);
	bl_tval_set(data, "n_lists", num((int64_t)la.n));
	bl_tval_set(data, "active", num(totals.subscribers[BL_SUBSCRIBER_ACTIVE]));
	bl_tval_set(data, "blocklisted", num(totals.subscribers[BL_SUBSCRIBER_BLOCKLISTED]));
	lists_free(&la);

	/* growth: net subscribers added per day */
	double values[GROWTH_DAYS];
	char names[GROWTH_DAYS][8];
	const char *labels[GROWTH_DAYS];
	int64_t sum_added = 0, sum_removed = 0;
	for (size_t i = 0; i < GROWTH_DAYS; i++) {
		time_t t = (time_t)((first_day + (int64_t)i) * 86400);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(names[i], sizeof(names[i]), "%m-%d", &tm);
		labels[i] = names[i];
		values[i] = (double)added[i];
		sum_added += added[i];
		sum_removed += removed[i];
	}
	struct bl_chart ch = {.kind = BL_CHART_BAR,
	                      .title = "New subscribers per day, last 30 days (UTC)",
	                      .x_label = "Day (UTC)",
	                      .y_label = "New subscribers",
	                      .n = GROWTH_DAYS,
	                      .values = values,
	                      .labels = labels};
	struct bl_buf svg;
	bl_buf_init(&svg, 1 << 20);
	if (bl_chart_svg(&ch, &svg) == 0)
		bl_tval_set(data, "growth_svg", bl_tval_stringn(bl_buf_str(&svg), svg.len));
	bl_buf_finish(&svg);
	bl_tval_set(data, "growth_added", num(sum_added));
	bl_tval_set(data, "growth_removed", num(sum_removed));

	struct post_rows pr = {.req = req, .rows = bl_tval_list()};
	if (s->ops->post_page(s, BL_POST_KIND_POST, 0, RECENT_POSTS, add_recent_post, &pr) < 0 ||
	    pr.err) {
		bl_tval_destroy(data);
		bl_tval_destroy(pr.rows);
		store_failed(req, resp, &a->p, "recent posts");
		admin_free(a);
		return;
	}
	bl_tval_set(data, "posts", pr.rows);
	nav(data, "dashboard");
	bl_admin_page(req, resp, 200, "dashboard", "Dashboard", &a->p, data);
	admin_free(a);
}

/* ---- lists ---- */

static struct bl_tval *list_data(struct bl_http_req *req, const struct bl_list *l)
{
	struct bl_tval *v = bl_tval_map();
	bl_tval_set(v, "slug", bl_tval_string(l->slug ? l->slug : ""));
	bl_tval_set(v, "name", bl_tval_string(l->name ? l->name : ""));
	bl_tval_set(v, "description", bl_tval_string(l->description ? l->description : ""));
	bl_tval_set(v, "double", bl_tval_bool(l->optin == BL_OPTIN_DOUBLE));
	bl_tval_set(v, "single", bl_tval_bool(l->optin == BL_OPTIN_SINGLE));
	bl_tval_set(v, "public", bl_tval_bool(l->visibility == BL_VISIBILITY_PUBLIC));
	bl_tval_set(v, "private", bl_tval_bool(l->visibility == BL_VISIBILITY_PRIVATE));
	bl_tval_set(v, "optin", bl_tval_string(bl_optin_name(l->optin)));
	bl_tval_set(v, "visibility", bl_tval_string(bl_visibility_name(l->visibility)));
	bl_tval_set(v, "breaking_digest", bl_tval_bool(!l->breaking_digest_off));
	if (l->slug)
		bl_tval_set(v, "url",
		            bl_tval_stringf("%s/admin/lists/%s", admin_base(req), l->slug));
	return v;
}

static void lists_index(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a)
{
	struct lists_acc la;
	struct bl_store *s = req->store;
	if (load_lists(s, &la)) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "lists");
		return;
	}
	struct bl_tval *data = bl_tval_map(), *lists = bl_tval_list();
	for (size_t i = 0; i < la.n; i++) {
		struct bl_list_counts c = {0};
		struct bl_tval *l = list_data(req, &la.v[i]);
		/* after a create or save: which list (looked up here, not text from the URL) */
		if (strcmp(field(a, "slug"), la.v[i].slug) == 0 &&
		    (strcmp(field(a, "done"), "created") == 0 ||
		     strcmp(field(a, "done"), "saved") == 0))
			bl_tval_set(data, "notice",
			            bl_tval_stringf("List \u201c%s\u201d %s.", la.v[i].name,
			                            field(a, "done")));
		if (s->ops->list_counts(s, la.v[i].id, &c) == 0) {
			bl_tval_set(l, "confirmed", num(c.confirmed));
			bl_tval_set(l, "unconfirmed", num(c.unconfirmed));
		}
		bl_tval_push(lists, l);
	}
	lists_free(&la);
	bl_tval_set(data, "lists", lists);
	nav(data, "lists");
	bl_admin_page(req, resp, 200, "lists", "Lists", &a->p, data);
}

/* The list form, with @l's values, @error (NULL: none) and @status. */
static void list_form(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                      int is_new, const struct bl_list *l, const char *error, int status)
{
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "new", bl_tval_bool(is_new));
	bl_tval_set(data, "list", list_data(req, l));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	bl_tval_set(data, "action",
	            is_new ? bl_tval_stringf("%s/admin/lists/new", admin_base(req))
	                   : bl_tval_stringf("%s/admin/lists/%s", admin_base(req), l->slug));
	nav(data, "lists");
	bl_admin_page(req, resp, status, "list_edit", is_new ? "New list" : "Edit list", &a->p,
	              data);
}

/*
 * Read the form's list fields into @l (strings borrowed from @a); NULL, or an
 * error message in @err (@size bytes). Name and description are checked as
 * `bulletin list create` and the API check them (bl_text_problem): UTF-8
 * without control characters or line breaks. The typed values are put in @l
 * either way, so the form shows them again.
 */
static const char *read_list_form(struct admin *a, struct bl_list *l, char *err, size_t size)
{
	const char *name = field(a, "name"), *desc = field(a, "description"), *why;
	l->name = (char *)name;
	l->description = (char *)desc;
	if (!*name)
		return "The list needs a name.";
	if ((why = bl_text_problem(name, BL_LIST_NAME_MAX, 0))) {
		snprintf(err, size,
		         "The name %s: it is one line of at most %d bytes, without control "
		         "characters.",
		         why, BL_LIST_NAME_MAX);
		return err;
	}
	if ((why = bl_text_problem(desc, BL_LIST_DESCRIPTION_MAX, 0))) {
		snprintf(err, size,
		         "The description %s: it is one paragraph of at most %d bytes, without "
		         "line breaks or control characters.",
		         why, BL_LIST_DESCRIPTION_MAX);
		return err;
	}
	if (bl_optin_parse(field(a, "optin"), &l->optin))
		return "Opt-in must be double or single.";
	if (bl_visibility_parse(field(a, "visibility"), &l->visibility))
		return "Visibility must be public or private.";
	const char *bd = field(a, "breaking_digest");
	if (*bd && strcmp(bd, "on") != 0 && strcmp(bd, "off") != 0)
		return "Breaking posts must go to digest subscribers at once (on) or not (off).";
	if (*bd) /* absent: unchanged (a new list: on) */
		l->breaking_digest_off = strcmp(bd, "off") == 0;
	return NULL;
}

static void lists_new(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int post = req->method == BL_HTTP_POST;
	struct admin *a = enter(req, resp, BL_ROLE_EDITOR, post ? WRITE : 0);
	struct bl_list l = {.optin = BL_OPTIN_DOUBLE, .visibility = BL_VISIBILITY_PUBLIC};
	if (!a)
		return;
	if (!post) {
		list_form(req, resp, a, 1, &l, NULL, 200);
		admin_free(a);
		return;
	}
	char errbuf[256];
	const char *err = read_list_form(a, &l, errbuf, sizeof(errbuf));
	l.slug = (char *)field(a, "slug");
	if (!err && !bl_slug_valid(l.slug))
		err = "The slug is 1 to 64 characters of a-z, 0-9, - and _ (it goes into links).";
	if (err) {
		list_form(req, resp, a, 1, &l, err, 422);
		admin_free(a);
		return;
	}
	int rc = req->store->ops->list_create(req->store, &l);
	if (rc == -BL_EEXIST) {
		list_form(req, resp, a, 1, &l, "A list with this slug exists already.", 409);
	} else if (rc) {
		store_failed(req, resp, &a->p, "list create");
	} else {
		bl_audit(req, &a->p, "list.create", NULL, "%s", l.slug);
		redirect(req, resp, "/lists?done=created&slug=%s", l.slug);
	}
	admin_free(a);
}

/* GET|POST /admin/lists/SLUG: the edit form and its save. */
static void lists_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int post = req->method == BL_HTTP_POST;
	struct admin *a =
	    enter(req, resp, post ? BL_ROLE_EDITOR : BL_ROLE_VIEWER, post ? WRITE : 0);
	struct bl_list l = {0};
	if (!a)
		return;
	int rc =
	    bl_slug_valid(req->param) ? req->store->ops->list_get(req->store, req->param, &l) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "list get");
	} else if (rc == 0) {
		not_found(req, resp, &a->p);
	} else if (!post) {
		list_form(req, resp, a, 0, &l, NULL, 200);
	} else {
		struct bl_list upd = l;
		char errbuf[256];
		const char *err = read_list_form(a, &upd, errbuf, sizeof(errbuf));
		if (err) {
			list_form(req, resp, a, 0, &upd, err, 422);
		} else if ((rc = req->store->ops->list_update(req->store, &upd)) < 0) {
			store_failed(req, resp, &a->p, "list update");
		} else if (rc == 0) {
			not_found(req, resp, &a->p);
		} else {
			char target[96];
			snprintf(target, sizeof(target), "list:%s", l.slug);
			bl_audit(req, &a->p, "list.update", target,
			         "%s %s, breaking posts to digest "
			         "subscribers %s",
			         bl_optin_name(upd.optin), bl_visibility_name(upd.visibility),
			         upd.breaking_digest_off ? "off" : "on");
			redirect(req, resp, "/lists?done=saved&slug=%s", l.slug);
		}
	}
	bl_list_clear(&l);
	admin_free(a);
}

static void lists_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	if (!a)
		return;
	lists_index(req, resp, a);
	admin_free(a);
}

/* ---- subscribers ---- */

struct sub_rows {
	struct bl_http_req *req;
	struct bl_tval *rows;
	size_t n;
	int64_t last_id;
	char *last_key;
	const char *list; /* the list filtered on: each row shows its subscription; NULL none */
	int err;
};

struct sub_on_list {
	const char *slug;
	const char *status; /* static */
};

static int find_subscription(void *arg, const struct bl_subscription *x)
{
	struct sub_on_list *o = arg;
	if (x->list_slug && strcmp(x->list_slug, o->slug) == 0) {
		o->status = bl_sub_status_name(x->status);
		return 1;
	}
	return 0;
}

static int add_sub_row(void *arg, const struct bl_subscriber *s)
{
	struct sub_rows *sr = arg;
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "id", num(s->id));
	bl_tval_set(r, "email", bl_tval_string(s->email));
	bl_tval_set(r, "name", bl_tval_string(s->name));
	bl_tval_set(r, "status", bl_tval_string(bl_subscriber_status_name(s->status)));
	bl_tval_set(r, "blocklisted", bl_tval_bool(s->status == BL_SUBSCRIBER_BLOCKLISTED));
	bl_tval_set(r, "created", when(s->created_at));
	bl_tval_set(
	    r, "url",
	    bl_tval_stringf("%s/admin/subscribers/%lld", admin_base(sr->req), (long long)s->id));
	if (sr->list) {
		/* the subscription on the list filtered on: O(the subscriber's lists) */
		struct sub_on_list o = {.slug = sr->list, .status = ""};
		struct bl_store *st = sr->req->store;
		if (st->ops->subscription_each(st, s->id, find_subscription, &o) < 0)
			sr->err = 1;
		bl_tval_set(r, "sub_status", bl_tval_string(o.status));
	}
	bl_tval_push(sr->rows, r);
	sr->n++;
	sr->last_id = s->id;
	free(sr->last_key);
	sr->last_key = bl_xstrdup(s->email_key);
	return 0;
}

/* The subscribers page: the filter, a page of rows, and the form to add one (@error:
 * NULL, or why the form's address was not added, with @status). */
static void subscribers_index(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                              const char *error, int status_code)
{
	struct bl_store *s = req->store;
	struct lists_acc la;
	const char *q = field(a, "q"), *list = field(a, "list"), *status = field(a, "status");
	char prefix[SEARCH_MAX + 1];
	long long after = 0;
	enum bl_subscriber_status st;
	struct bl_subscriber_filter f = {.sub_status = -1, .status = -1, .limit = PAGE_SIZE};

	if (load_lists(s, &la)) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "lists");
		return;
	}
	/* the prefix: trimmed, lowercased as email_key is */
	snprintf(prefix, sizeof(prefix), "%s", q);
	char *t = bl_trim_dup(prefix);
	snprintf(prefix, sizeof(prefix), "%s", t);
	free(t);
	bl_ascii_lower(prefix);
	f.prefix = prefix;
	f.after_key = field(a, "after_key");
	if (*field(a, "after"))
		bl_parse_int64(field(a, "after"), 0, INT64_MAX, &after);
	f.after_id = after;
	enum bl_sub_status ss;
	int sub_filter = 0;
	if (*status && bl_subscriber_status_parse(status, &st) == 0)
		f.status = (int)st;
	else if (*status && bl_sub_status_parse(status, &ss) == 0)
		sub_filter = 1;
	struct bl_tval *data = bl_tval_map(), *opts = bl_tval_list();
	const char *list_name = NULL;
	for (size_t i = 0; i < la.n; i++) {
		struct bl_tval *o = bl_tval_map();
		int sel = strcmp(la.v[i].slug, list) == 0;
		if (sel) {
			f.list_id = la.v[i].id;
			list_name = la.v[i].name;
			bl_tval_set(data, "list_name", bl_tval_string(list_name));
		}
		bl_tval_set(o, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(o, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(o, "selected", bl_tval_bool(sel));
		bl_tval_push(opts, o);
	}
	/* a subscription status (as `subscriber ls --list L --status S`) needs a list */
	if (sub_filter && f.list_id)
		f.sub_status = (int)ss;
	else if (sub_filter)
		bl_tval_set(data, "status_needs_list", bl_tval_bool(1));
	bl_tval_set(data, "with_list", bl_tval_bool(f.list_id != 0));
	static const enum bl_sub_status sub_opts[] = {BL_SUB_UNCONFIRMED, BL_SUB_CONFIRMED,
	                                              BL_SUB_UNSUBSCRIBED};
	struct bl_tval *subst = bl_tval_list();
	for (size_t i = 0; i < 3; i++) {
		struct bl_tval *o = bl_tval_map();
		bl_tval_set(o, "value", bl_tval_string(bl_sub_status_name(sub_opts[i])));
		bl_tval_set(o, "selected", bl_tval_bool(f.sub_status == (int)sub_opts[i]));
		bl_tval_push(subst, o);
	}
	bl_tval_set(data, "sub_statuses", subst);
	struct sub_rows sr = {.req = req, .rows = bl_tval_list()};
	if (f.list_id)
		sr.list = list;
	bl_tval_set(data, "lists", opts);
	bl_tval_set(data, "q", bl_tval_string(q));
	/* the add form, with what was typed when it is shown again */
	struct bl_tval *add = bl_tval_map(), *add_lists = bl_tval_list();
	const char *checked[MAX_LISTS];
	size_t n_checked = bl_form_get_all(&a->form, "add_list", checked, MAX_LISTS);
	for (size_t i = 0; i < la.n; i++) {
		struct bl_tval *o = bl_tval_map();
		int on = 0;
		for (size_t k = 0; k < n_checked; k++)
			on |= strcmp(checked[k], la.v[i].slug) == 0;
		bl_tval_set(o, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(o, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(o, "checked", bl_tval_bool(on));
		bl_tval_push(add_lists, o);
	}
	bl_tval_set(
	    add, "email",
	    bl_tval_string(bl_form_get(&a->form, "email") ? bl_form_get(&a->form, "email") : ""));
	bl_tval_set(
	    add, "name",
	    bl_tval_string(bl_form_get(&a->form, "name") ? bl_form_get(&a->form, "name") : ""));
	bl_tval_set(add, "confirmed", bl_tval_bool(bl_form_get(&a->form, "confirmed") != NULL));
	bl_tval_set(add, "lists", add_lists);
	bl_tval_set(data, "add", add);
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	if (strcmp(field(a, "done"), "erased") == 0)
		bl_tval_set(data, "notice", bl_tval_string("The subscriber was erased."));
	bl_tval_set(data, "status_active", bl_tval_bool(f.status == BL_SUBSCRIBER_ACTIVE));
	bl_tval_set(data, "status_blocklisted",
	            bl_tval_bool(f.status == BL_SUBSCRIBER_BLOCKLISTED));
	bl_tval_set(data, "paged", bl_tval_bool(after > 0 || *f.after_key));

	if (s->ops->subscriber_each(s, &f, add_sub_row, &sr) < 0 || sr.err) {
		lists_free(&la);
		bl_tval_destroy(data);
		bl_tval_destroy(sr.rows);
		free(sr.last_key);
		store_failed(req, resp, &a->p, "subscribers");
		return;
	}
	lists_free(&la);
	bl_tval_set(data, "rows", sr.rows);
	bl_tval_set(data, "empty", bl_tval_bool(sr.n == 0));
	/* the same filter from the first page, and the next page after the last row */
	struct bl_buf u;
	bl_buf_init(&u, 4096);
	bl_buf_addf(&u, "%s/admin/subscribers?q=", admin_base(req));
	urlenc(&u, q);
	bl_buf_adds(&u, "&list=");
	urlenc(&u, list);
	bl_buf_adds(&u, "&status=");
	urlenc(&u, status);
	bl_tval_set(data, "first_url", bl_tval_stringn(bl_buf_str(&u), u.len));
	if (sr.n == PAGE_SIZE) {
		if (*prefix) {
			bl_buf_adds(&u, "&after_key=");
			urlenc(&u, sr.last_key);
		} else {
			bl_buf_addf(&u, "&after=%lld", (long long)sr.last_id);
		}
		if (!bl_buf_err(&u))
			bl_tval_set(data, "next_url", bl_tval_stringn(bl_buf_str(&u), u.len));
	}
	bl_buf_finish(&u);
	free(sr.last_key);
	nav(data, "subscribers");
	bl_admin_page(req, resp, status_code, "subscribers", "Subscribers", &a->p, data);
}

static void subscribers_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	if (!a)
		return;
	subscribers_index(req, resp, a, NULL, 200);
	admin_free(a);
}

/*
 * POST /admin/subscribers/new: one address typed in (email, name, add_list
 * (any number), confirmed) with the rules of `bulletin subscriber add`
 * (bl_import_add); then its page.
 */
static void subscribers_new(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_EDITOR, WRITE);
	const char *slugs[MAX_LISTS];
	struct bl_diag d;
	char msg[700];
	if (!a)
		return;
	const char *email = field(a, "email"), *name = field(a, "name");
	size_t n = bl_form_get_all(&a->form, "add_list", slugs, MAX_LISTS);
	size_t bad = 0;
	int control = 0;
	for (const char *c = name; *c; c++)
		control |= (unsigned char)*c < 0x20 || *c == 0x7f;
	for (size_t i = 0; i < n; i++) {
		struct bl_list l = {0};
		int rc = bl_slug_valid(slugs[i])
		             ? req->store->ops->list_get(req->store, slugs[i], &l)
		             : 0;
		bl_list_clear(&l);
		if (rc < 0) {
			store_failed(req, resp, &a->p, "list get");
			admin_free(a);
			return;
		}
		if (rc == 0)
			bad++;
	}
	const char *err = NULL;
	if (!*email)
		err = "Give the address to add.";
	else if (strlen(name) > BL_NAME_MAX || control)
		err = "The name is one line of at most 200 bytes.";
	else if (bad)
		err = "A list chosen does not exist (any more); reload the page.";
	if (err) {
		subscribers_index(req, resp, a, err, 422);
		admin_free(a);
		return;
	}
	struct bl_import_opts o = {
	    .path = "admin",
	    .source = "admin",
	    .manual = 1,
	    .confirmed = strcmp(field(a, "confirmed"), "1") == 0,
	    .address_flags =
	        bl_config_bool(web_of(req)->config, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0,
	    .allow_role = 1,
	    .batch = 1,
	};
	struct bl_import_add_result res;
	int rc = bl_import_add(req->store, email, name, NULL, slugs, n, &o, &res, &d);
	if (rc) {
		bl_error("admin: subscriber add: %s", d.msg);
		store_failed(req, resp, &a->p, "subscriber add");
	} else if (res.erased) {
		char t[BL_TIME_STRMAX];
		snprintf(
		    msg, sizeof(msg),
		    "This address was erased at its owner's request on %.10s; it can only come "
		    "back through a new signup with confirmation.",
		    bl_time_format(res.erased_at, t));
		subscribers_index(req, resp, a, msg, 409);
	} else if (res.invalid) {
		snprintf(msg, sizeof(msg), "Not added: %s", res.error);
		subscribers_index(req, resp, a, msg, 422);
	} else {
		struct bl_address addr;
		struct bl_subscriber sub;
		if (bl_address_parse(email, strlen(email), o.address_flags, &addr, NULL, &d) ||
		    req->store->ops->subscriber_get(req->store, addr.key, &sub) <= 0) {
			store_failed(req, resp, &a->p, "subscriber get");
		} else {
			char target[64];
			snprintf(target, sizeof(target), "subscriber:%lld", (long long)sub.id);
			bl_audit(req, &a->p, res.imported ? "subscriber.add" : "subscriber.update",
			         target, "%s%s", n ? "lists" : "no list",
			         o.confirmed ? ", confirmed" : "");
			redirect(req, resp, "/subscribers/%lld?done=%s", (long long)sub.id,
			         res.imported  ? "added"
			         : res.updated ? "updated"
			                       : "unchanged");
			bl_subscriber_clear(&sub);
		}
	}
	admin_free(a);
}

struct one_sub {
	struct bl_subscriber sub;
	int found;
};

static int take_sub(void *arg, const struct bl_subscriber *s)
{
	struct one_sub *o = arg;
	bl_subscriber_copy(&o->sub, s);
	o->found = 1;
	return 1;
}

/* Subscriber @id: -1/0/1 (the store's lookup by primary key). */
static int subscriber_by_id(struct bl_store *s, int64_t id, struct one_sub *o)
{
	memset(o, 0, sizeof(*o));
	int rc = s->ops->subscriber_get_id(s, id, &o->sub);
	o->found = rc == 1;
	return rc;
}

static int add_subscription(void *arg, const struct bl_subscription *x)
{
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "list", bl_tval_string(x->list_slug ? x->list_slug : ""));
	bl_tval_set(r, "status", bl_tval_string(bl_sub_status_name(x->status)));
	bl_tval_set(r, "mode", bl_tval_string(bl_mode_name(x->mode)));
	bl_tval_set(r, "created", when(x->created_at));
	bl_tval_set(r, "updated", when(x->updated_at));
	bl_tval_push(arg, r);
	return 0;
}

static int add_consent(void *arg, const struct bl_consent *c)
{
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "kind", bl_tval_string(bl_consent_kind_name(c->kind)));
	bl_tval_set(r, "list", bl_tval_string(c->list_slug ? c->list_slug : ""));
	bl_tval_set(r, "at", when(c->at));
	bl_tval_set(r, "ip", bl_tval_string(c->ip));
	bl_tval_set(r, "source", bl_tval_string(c->source));
	bl_tval_set(r, "user_agent", bl_tval_string(c->user_agent));
	bl_tval_push(arg, r);
	return 0;
}

static void subscriber_page(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                            const struct bl_subscriber *sub)
{
	struct bl_store *s = req->store;
	struct bl_tval *data = bl_tval_map(), *subs = bl_tval_list(), *events = bl_tval_list();
	struct bl_tval *v = bl_tval_map();
	if (s->ops->subscription_each(s, sub->id, add_subscription, subs) < 0 ||
	    s->ops->consent_each(s, sub->id, add_consent, events) < 0) {
		bl_tval_destroy(data);
		bl_tval_destroy(subs);
		bl_tval_destroy(events);
		bl_tval_destroy(v);
		store_failed(req, resp, &a->p, "subscriber");
		return;
	}
	bl_tval_set(v, "id", num(sub->id));
	bl_tval_set(v, "email", bl_tval_string(sub->email));
	bl_tval_set(v, "name", bl_tval_string(sub->name));
	bl_tval_set(v, "attributes", bl_tval_string(sub->attributes));
	bl_tval_set(v, "status", bl_tval_string(bl_subscriber_status_name(sub->status)));
	bl_tval_set(v, "status_reason", bl_tval_string(sub->status_reason));
	bl_tval_set(v, "blocklisted", bl_tval_bool(sub->status == BL_SUBSCRIBER_BLOCKLISTED));
	bl_tval_set(v, "created", when(sub->created_at));
	bl_tval_set(v, "updated", when(sub->updated_at));
	bl_tval_set(
	    v, "url",
	    bl_tval_stringf("%s/admin/subscribers/%lld", admin_base(req), (long long)sub->id));
	bl_tval_set(data, "sub", v);
	/* what the redirect to this page did, said with the address (never text from the URL) */
	static const struct {
		const char *code, *text;
	} done[] = {{"added", " added."},
	            {"updated", " was there already; its subscriptions were updated."},
	            {"unchanged", " was there already with these subscriptions: nothing changed."},
	            {"blocklisted", " is blocklisted: no mail goes to it."},
	            {"unblocked", " is no longer blocklisted."}};
	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if (strcmp(field(a, "done"), done[i].code) == 0)
			bl_tval_set(data, "notice",
			            bl_tval_stringf("%s%s", sub->email, done[i].text));
	bl_tval_set(data, "subscriptions", subs);
	bl_tval_set(data, "events", events);
	nav(data, "subscribers");
	bl_admin_page(req, resp, 200, "subscriber", "Subscriber", &a->p, data);
}

/* /admin/subscribers/ID[/blocklist|/unblock|/erase] */
static void subscribers_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int post = req->method == BL_HTTP_POST;
	struct admin *a =
	    enter(req, resp, post ? BL_ROLE_EDITOR : BL_ROLE_VIEWER, post ? WRITE : 0);
	const char *rest = "";
	struct one_sub o = {0};
	if (!a)
		return;
	int64_t id = leading_id(req->param, &rest);
	int rc = id ? subscriber_by_id(req->store, id, &o) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "subscriber");
		goto out;
	}
	int erase = strcmp(rest, "/erase") == 0;
	if (rc == 0 || (!post && *rest && !erase) || (post && !*rest)) {
		if (rc == 0 || !post)
			not_found(req, resp, &a->p);
		else
			admin_error(req, resp, &a->p, 405, "Not allowed", "Nothing to post here.");
		goto out;
	}
	if (erase && (!post || strcmp(field(a, "confirm"), "1") != 0)) {
		/* erasing cannot be undone: ask first (GET or a POST without confirm=1) */
		char question[BL_ADDRESS_MAX + 128], path[64], back[64];
		if (a->p.role < BL_ROLE_EDITOR) {
			admin_error(req, resp, &a->p, 403, "Forbidden",
			            "Erasing needs the editor role.");
			goto out;
		}
		snprintf(question, sizeof(question), "Erase %s for good?", o.sub.email);
		snprintf(path, sizeof(path), "/subscribers/%lld/erase", (long long)id);
		snprintf(back, sizeof(back), "/subscribers/%lld", (long long)id);
		confirm_page(req, resp, &a->p, "subscribers", "Erase this subscriber?", question,
		             "The address, its name, attributes and subscriptions are deleted and "
		             "cannot be restored; the consent history stays without the address, "
		             "and the address cannot be imported again.",
		             "Yes, erase the subscriber", 1, path, back);
		goto out;
	}
	if (!post) {
		subscriber_page(req, resp, a, &o.sub);
		goto out;
	}
	char target[64];
	snprintf(target, sizeof(target), "subscriber:%lld", (long long)id);
	struct bl_consent_ctx ctx = {
	    .now = bl_now(), .ip = req->ip, .user_agent = req->user_agent, .source = "admin"};
	if (strcmp(rest, "/blocklist") == 0 || strcmp(rest, "/unblock") == 0) {
		int block = rest[1] == 'b';
		/* cut to the store's limit between characters (the form's text is UTF-8) */
		char cut[BL_REASON_MAX + 1];
		const char *reason = bl_store_cut_utf8(field(a, "reason"), BL_REASON_MAX, cut);
		struct bl_subscriber upd = o.sub;
		upd.status = block ? BL_SUBSCRIBER_BLOCKLISTED : BL_SUBSCRIBER_ACTIVE;
		upd.status_reason = block ? (*reason ? (char *)reason : "blocked by operator") : "";
		rc = req->store->ops->subscriber_update(req->store, &upd, &ctx);
		if (rc == -BL_EINVAL) {
			/* the store refused what was typed: say so, nothing changed */
			char msg[BL_DIAG_MAX + 64];
			snprintf(msg, sizeof(msg),
			         "The reason was refused: %s. Nothing was changed.",
			         bl_store_error(req->store));
			admin_error(req, resp, &a->p, 422, "Cannot save", msg);
		} else if (rc < 0) {
			store_failed(req, resp, &a->p, "subscriber update");
		} else {
			bl_audit(req, &a->p, block ? "subscriber.blocklist" : "subscriber.unblock",
			         target, "%s", block ? upd.status_reason : "");
			redirect(req, resp, "/subscribers/%lld?done=%s", (long long)id,
			         block ? "blocklisted" : "unblocked");
		}
	} else if (strcmp(rest, "/erase") == 0) {
		char hash[BL_HASH_HEX];
		bl_suppression_hash(o.sub.email_key, hash);
		rc = req->store->ops->subscriber_erase(req->store, id, hash, "erased by operator",
		                                       ctx.now);
		if (rc < 0 && rc != -BL_ENOENT) {
			store_failed(req, resp, &a->p, "subscriber erase");
		} else {
			bl_audit(req, &a->p, "subscriber.erase", target, NULL);
			redirect(req, resp, "/subscribers?done=erased");
		}
	} else {
		not_found(req, resp, &a->p);
	}
out:
	if (o.found)
		bl_subscriber_clear(&o.sub);
	admin_free(a);
}

/* ---- import ---- */

/* The first @nlen bytes of @needle in @hay[0..@hlen), or NULL. */
static const char *find_bytes(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0 || hlen < nlen)
		return NULL;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/* One part of a multipart/form-data body (RFC 7578): borrowed from the body. */
struct part {
	char name[64], filename[256];
	const char *data;
	size_t len;
};

#define MAX_PARTS 16

/* The parameter @key ("name", "filename") of a Content-Disposition value @h (one line). */
static void disposition_param(const char *h, size_t hlen, const char *key, char *out, size_t size)
{
	char pat[32];
	size_t pl = (size_t)snprintf(pat, sizeof(pat), "; %s=\"", key);
	const char *p = find_bytes(h, hlen, pat, pl);
	out[0] = 0;
	if (!p)
		return;
	p += pl;
	size_t n = 0;
	while (p + n < h + hlen && p[n] != '"')
		n++;
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = 0;
	/* a file name is only a label: keep its last path part */
	char *slash = strrchr(out, '/'), *bs = strrchr(out, '\\');
	char *last = slash > bs ? slash : bs;
	if (last)
		memmove(out, last + 1, strlen(last + 1) + 1);
}

/*
 * multipart_parse - split @body (@len bytes) of Content-Type @ctype
 * (multipart/form-data; boundary=...) into at most MAX_PARTS parts.
 * Returns the number of parts, or -1 when it is not a well-formed body.
 */
static int multipart_parse(const char *ctype, const char *body, size_t len, struct part *parts)
{
	char delim[80];
	const char *b = strstr(ctype, "boundary=");
	if (!b)
		return -1;
	b += 9;
	size_t bl = *b == '"' ? strcspn(b + 1, "\"") : strcspn(b, "; \t");
	if (*b == '"')
		b++;
	if (bl == 0 || bl > 70)
		return -1;
	int dl = snprintf(delim, sizeof(delim), "--%.*s", (int)bl, b);
	const char *end = body + len;
	const char *p = find_bytes(body, len, delim, (size_t)dl);
	int n = 0;
	while (p && n < MAX_PARTS) {
		p += dl;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return n; /* the closing delimiter */
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return -1;
		p += 2;
		const char *hend = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!hend)
			return -1;
		struct part *pt = &parts[n];
		memset(pt, 0, sizeof(*pt));
		for (const char *h = p; h < hend;) {
			const char *eol = find_bytes(h, (size_t)(hend - h) + 2, "\r\n", 2);
			size_t hl = (size_t)(eol - h);
			if (hl > 20 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
				disposition_param(h, hl, "name", pt->name, sizeof(pt->name));
				disposition_param(h, hl, "filename", pt->filename,
				                  sizeof(pt->filename));
			}
			h = eol + 2;
		}
		pt->data = hend + 4;
		char next[84];
		int nl = snprintf(next, sizeof(next), "\r\n%s", delim);
		const char *q = find_bytes(pt->data, (size_t)(end - pt->data), next, (size_t)nl);
		if (!q)
			return -1;
		pt->len = (size_t)(q - pt->data);
		n++;
		p = q + 2;
	}
	return p ? -1 : n;
}

static const struct part *part_named(const struct part *parts, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}

/* The import formats the form offers (formats.h), in the form's words. */
static const struct {
	const char *name, *label;
} import_formats[] = {
    {"auto", "Detect from the file"},
    {"plain", "Plain list of addresses (one per line, no header)"},
    {"generic", "CSV with an email column"},
    {"bulletin", "bulletin export"},
    {"mailchimp", "Mailchimp audience export"},
    {"beehiiv", "beehiiv export"},
    {"ghost", "Ghost members export"},
    {"listmonk", "listmonk export"},
    {"keila", "Keila export"},
    {"mailpoet", "MailPoet export"},
};
#define N_IMPORT_FORMATS (sizeof(import_formats) / sizeof(import_formats[0]))

/* The delimiters the form offers (job.h "delimiter"; "" detects). */
static const struct {
	const char *value, *label;
} import_delims[] = {
    {"", "Detect"}, {"comma", "Comma ,"}, {"semicolon", "Semicolon ;"},
    {"tab", "Tab"}, {"|", "Pipe |"},
};
#define N_IMPORT_DELIMS (sizeof(import_delims) / sizeof(import_delims[0]))

static const char *format_label(const char *name)
{
	for (size_t i = 0; i < N_IMPORT_FORMATS; i++)
		if (strcmp(import_formats[i].name, name) == 0)
			return import_formats[i].label;
	return name;
}

/*
 * ui_words - append @msg (an import's message, written for `bulletin
 * import`) to @out with the command-line words put as the admin UI's form
 * says them: options become the form's fields, commands the pages.
 */
static void ui_words(struct bl_buf *out, const char *msg)
{
	static const struct {
		const char *cli, *ui;
	} words[] = {
	    /* the job runner speaks as the API does (src/import, BL_IMPORT_VOICE_API) */
	    {"try the `delimiter` parameter |", "choose the delimiter \u201cPipe |\u201d"},
	    {"use the `format` parameter plain",
	     "choose the format \u201cPlain list of addresses\u201d"},
	    {"The `list` parameter is required", "Choose a list"},
	    {"The `list` parameter does not apply", "The list chosen does not apply"},
	    {"the `list` parameter names an existing list", "choose an existing list"},
	    {"the `format` parameter", "the format"},
	    {"the `delimiter` parameter", "the delimiter"},
	    {"try --delimiter '|'", "choose the delimiter \u201cPipe |\u201d"},
	    {"use --from-format plain", "choose the format \u201cPlain list of addresses\u201d"},
	    {"--list SLUG is required", "choose a list"},
	    {"--list does not apply", "the list chosen does not apply"},
	    {"--from-format", "the format"},
	    {"--delimiter", "the delimiter"},
	    {"--confirmed", "\u201calready confirmed\u201d"},
	    {"--list", "the list"},
	};
	while (*msg) {
		size_t i, n = 0;
		if (strncmp(msg, "with `bulletin list create", 26) == 0) {
			/* "create it first with `bulletin list create x --name NAME`" */
			const char *end = strchr(msg + 6, '`');
			bl_buf_adds(out, "on the Lists page");
			msg = end ? end + 1 : msg + strlen(msg);
			continue;
		}
		if (*msg == '`' && strncmp(msg, "`bulletin list ls`", 18) == 0) {
			bl_buf_adds(out, "the Lists page");
			msg += 18;
			continue;
		}
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			n = strlen(words[i].cli);
			if (strncmp(msg, words[i].cli, n) == 0)
				break;
		}
		if (i < sizeof(words) / sizeof(words[0])) {
			bl_buf_adds(out, words[i].ui);
			msg += n;
		} else {
			bl_buf_addc(out, *msg++);
		}
	}
}

static int add_job_row(void *arg, const struct bl_job *j);

struct job_rows {
	struct bl_http_req *req;
	struct bl_tval *rows;
};

static struct bl_tval *job_data(struct bl_http_req *req, const struct bl_job *j)
{
	struct bl_tval *v = bl_tval_map();
	json_t *params = json_loads(j->params ? j->params : "{}", 0, NULL);
	json_t *report = json_loads(j->report && *j->report ? j->report : "{}", 0, NULL);
	bl_tval_set(v, "id", num(j->id));
	bl_tval_set(v, "kind", bl_tval_string(j->kind));
	bl_tval_set(v, "state", bl_tval_string(bl_job_state_name(j->state)));
	bl_tval_set(v, "running",
	            bl_tval_bool(j->state == BL_JOB_QUEUED || j->state == BL_JOB_RUNNING));
	bl_tval_set(v, "failed", bl_tval_bool(j->state == BL_JOB_FAILED));
	bl_tval_set(v, "list",
	            bl_tval_string(json_string_value(json_object_get(params, "list"))
	                               ? json_string_value(json_object_get(params, "list"))
	                               : ""));
	bl_tval_set(v, "source",
	            bl_tval_string(json_string_value(json_object_get(params, "source"))
	                               ? json_string_value(json_object_get(params, "source"))
	                               : ""));
	bl_tval_set(v, "confirmed",
	            bl_tval_bool(json_is_true(json_object_get(params, "confirmed"))));
	bl_tval_set(v, "actor", bl_tval_string(j->actor ? j->actor : ""));
	bl_tval_set(v, "size", num(j->size));
	bl_tval_set(v, "done", num(j->state == BL_JOB_DONE ? j->size : j->done));
	bl_tval_set(v, "max", num(j->size > 0 ? j->size : 1));
	bl_tval_set(v, "percent",
	            num(j->state == BL_JOB_DONE ? 100
	                : j->size > 0           ? j->done * 100 / j->size
	                                        : 0));
	bl_tval_set(v, "created", when(j->created_at));
	bl_tval_set(v, "started", when(j->started_at));
	bl_tval_set(v, "finished", when(j->finished_at));
	bl_tval_set(v, "url",
	            bl_tval_stringf("%s/admin/jobs/%lld", admin_base(req), (long long)j->id));
	bl_tval_set(
	    v, "progress_url",
	    bl_tval_stringf("%s/admin/jobs/%lld/progress.json", admin_base(req), (long long)j->id));
	/* the report as a table of counts and a list of errors, in the form's words */
	struct bl_tval *rep = bl_tval_list(), *errs = bl_tval_list();
	static const struct {
		const char *key, *label;
	} counts[] = {
	    {"rows", "Rows read"},
	    {"imported", "Imported (new subscribers or subscriptions)"},
	    {"updated", "Updated (already there; name, attributes or status changed)"},
	    {"skipped", "Skipped in all"},
	    {"invalid", "\u2026 invalid (listed below)"},
	    {"duplicate", "\u2026 already there, nothing to change"},
	    {"suppressed", "\u2026 erased at their owner's request earlier"},
	};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		json_t *x = json_object_get(report, counts[i].key);
		if (!json_is_integer(x))
			continue;
		struct bl_tval *r = bl_tval_map();
		bl_tval_set(r, "label", bl_tval_string(counts[i].label));
		bl_tval_set(r, "n", num(json_integer_value(x)));
		bl_tval_push(rep, r);
	}
	const char *fmt = json_string_value(json_object_get(report, "format"));
	if (fmt)
		bl_tval_set(v, "format", bl_tval_string(format_label(fmt)));
	size_t k;
	json_t *e;
	json_array_foreach(json_object_get(report, "errors"), k, e)
	{
		struct bl_buf msg;
		json_int_t line = json_integer_value(json_object_get(e, "line"));
		const char *m = json_string_value(json_object_get(e, "message"));
		bl_buf_init(&msg, 4096);
		if (line > 0)
			bl_buf_addf(&msg, "line %lld: ", (long long)line);
		ui_words(&msg, m ? m : "");
		bl_tval_push(errs, bl_tval_stringn(bl_buf_str(&msg), msg.len));
		bl_buf_finish(&msg);
	}
	json_int_t more = json_integer_value(json_object_get(report, "errors_not_shown"));
	if (more > 0)
		bl_tval_set(v, "errors_not_shown", num(more));
	bl_tval_set(v, "errors", errs);
	bl_tval_set(v, "has_errors", bl_tval_bool(bl_tval_count(errs) > 0));
	/* a failed job shows its error, and counts only when it got somewhere */
	json_int_t rows = json_integer_value(json_object_get(report, "rows"));
	bl_tval_set(
	    v, "has_report",
	    bl_tval_bool(bl_tval_count(rep) > 0 &&
	                 (j->state == BL_JOB_DONE || (j->state == BL_JOB_FAILED && rows > 0))));
	bl_tval_set(v, "dry_run", bl_tval_bool(json_is_true(json_object_get(report, "dry_run"))));
	if (j->error && *j->error) {
		struct bl_buf msg;
		bl_buf_init(&msg, 4096);
		ui_words(&msg, j->error);
		bl_tval_set(v, "error", bl_tval_stringn(bl_buf_str(&msg), msg.len));
		bl_buf_finish(&msg);
	}
	bl_tval_set(v, "report", rep);
	json_decref(params);
	json_decref(report);
	return v;
}

static int add_job_row(void *arg, const struct bl_job *j)
{
	struct job_rows *jr = arg;
	bl_tval_push(jr->rows, job_data(jr->req, j));
	return 0;
}

/* The import page: the form (its format and delimiter @format, @delim chosen), @error
 * (NULL: none) with @status, and the recent jobs. */
static void import_form(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                        const char *format, const char *delim, const char *error, int status)
{
	struct bl_store *s = req->store;
	struct lists_acc la;
	struct job_rows jr = {.req = req, .rows = bl_tval_list()};
	if (load_lists(s, &la) || s->ops->job_each(s, 20, add_job_row, &jr) < 0) {
		lists_free(&la);
		bl_tval_destroy(jr.rows);
		store_failed(req, resp, &a->p, "import page");
		return;
	}
	struct bl_tval *data = bl_tval_map(), *opts = bl_tval_list();
	for (size_t i = 0; i < la.n; i++) {
		struct bl_tval *o = bl_tval_map();
		bl_tval_set(o, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(o, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(o, "selected",
		            bl_tval_bool(strcmp(la.v[i].slug, field(a, "list")) == 0));
		bl_tval_push(opts, o);
	}
	lists_free(&la);
	struct bl_tval *fmts = bl_tval_list(), *delims = bl_tval_list();
	for (size_t i = 0; i < N_IMPORT_FORMATS; i++) {
		struct bl_tval *o = bl_tval_map();
		bl_tval_set(o, "value", bl_tval_string(import_formats[i].name));
		bl_tval_set(o, "label", bl_tval_string(import_formats[i].label));
		bl_tval_set(o, "selected",
		            bl_tval_bool(strcmp(import_formats[i].name, format) == 0));
		bl_tval_push(fmts, o);
	}
	for (size_t i = 0; i < N_IMPORT_DELIMS; i++) {
		struct bl_tval *o = bl_tval_map();
		bl_tval_set(o, "value", bl_tval_string(import_delims[i].value));
		bl_tval_set(o, "label", bl_tval_string(import_delims[i].label));
		bl_tval_set(o, "selected",
		            bl_tval_bool(strcmp(import_delims[i].value, delim) == 0));
		bl_tval_push(delims, o);
	}
	bl_tval_set(data, "formats", fmts);
	bl_tval_set(data, "delimiters", delims);
	bl_tval_set(data, "lists", opts);
	bl_tval_set(data, "jobs", jr.rows);
	bl_tval_set(data, "import_max_mib",
	            num((int64_t)bl_config_int(web_of(req)->config, "import_max") >> 20));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	nav(data, "import");
	bl_admin_page(req, resp, status, "import", "Import", &a->p, data);
}

/*
 * POST /admin/import: a CSV as multipart/form-data (fields csrf, list,
 * confirmed, file) or as the raw body (text/csv; the fields in the query,
 * the file name in "filename"). Queues an import job and shows its page.
 */
static void import_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int post = req->method == BL_HTTP_POST;
	struct admin *a = enter(req, resp, post ? BL_ROLE_EDITOR : BL_ROLE_VIEWER, NO_CSRF);
	struct part parts[MAX_PARTS];
	const char *csrf, *list, *source = "upload.csv", *data = NULL;
	char list_buf[80], source_buf[256], format[32], delim[16];
	size_t len = 0;
	int confirmed = 0;
	if (!a)
		return;
	if (!post) {
		import_form(req, resp, a, "auto", "", NULL, 200);
		admin_free(a);
		return;
	}
	if (strncasecmp(req->content_type, "multipart/form-data", 19) == 0) {
		int n = multipart_parse(req->content_type, req->body, req->body_len, parts);
		/* A text field is text: a NUL in one (csrf "TOKEN\0junk" read as "TOKEN")
		 * refuses the whole form; only the file may hold any byte. */
		for (int i = 0; i < n; i++) {
			if (strcmp(parts[i].name, "file") != 0 &&
			    memchr(parts[i].data, 0, parts[i].len)) {
				admin_error(req, resp, &a->p, 400, "Bad request",
				            "A field of the form holds a NUL byte. Nothing was "
				            "imported.");
				admin_free(a);
				return;
			}
		}
		const struct part *c = n > 0 ? part_named(parts, n, "csrf") : NULL;
		const struct part *l = n > 0 ? part_named(parts, n, "list") : NULL;
		const struct part *f = n > 0 ? part_named(parts, n, "file") : NULL;
		const struct part *k = n > 0 ? part_named(parts, n, "confirmed") : NULL;
		const struct part *fm = n > 0 ? part_named(parts, n, "format") : NULL;
		const struct part *dl = n > 0 ? part_named(parts, n, "delimiter") : NULL;
		snprintf(format, sizeof(format), "%.*s",
		         fm ? (int)(fm->len < 31 ? fm->len : 31) : 0, fm ? fm->data : "");
		snprintf(delim, sizeof(delim), "%.*s", dl ? (int)(dl->len < 15 ? dl->len : 15) : 0,
		         dl ? dl->data : "");
		/* the whole field is the token: one too long is not cut to fit */
		char csrf_buf[128];
		snprintf(csrf_buf, sizeof(csrf_buf), "%.*s",
		         c ? (int)(c->len < 127 ? c->len : 127) : 0, c ? c->data : "");
		if (!c || c->len >= sizeof(csrf_buf) || strlen(csrf_buf) != c->len ||
		    !bl_auth_csrf_ok(&a->p, csrf_buf)) {
			admin_error(
			    req, resp, &a->p, 403, "Forbidden",
			    "The form was stale or not sent from this site (CSRF token missing "
			    "or wrong). Nothing was imported.");
			admin_free(a);
			return;
		}
		snprintf(list_buf, sizeof(list_buf), "%.*s",
		         l ? (int)(l->len < 79 ? l->len : 79) : 0, l ? l->data : "");
		list = list_buf;
		confirmed = k && k->len > 0 && k->data[0] == '1';
		if (f) {
			data = f->data;
			len = f->len;
			if (*f->filename) {
				snprintf(source_buf, sizeof(source_buf), "%s", f->filename);
				source = source_buf;
			}
		}
	} else {
		csrf = field(a, "csrf");
		if (!bl_auth_csrf_ok(&a->p, csrf)) {
			admin_error(req, resp, &a->p, 403, "Forbidden",
			            "CSRF token missing or wrong. Nothing was imported.");
			admin_free(a);
			return;
		}
		snprintf(list_buf, sizeof(list_buf), "%s", field(a, "list"));
		list = list_buf;
		snprintf(format, sizeof(format), "%s", field(a, "format"));
		snprintf(delim, sizeof(delim), "%s", field(a, "delimiter"));
		confirmed = strcmp(field(a, "confirmed"), "1") == 0;
		if (*field(a, "filename")) {
			snprintf(source_buf, sizeof(source_buf), "%s", field(a, "filename"));
			source = source_buf;
		}
		data = req->body;
		len = req->body_len;
	}
	if (!*format)
		snprintf(format, sizeof(format), "auto");
	size_t fi = 0, di = 0;
	while (fi < N_IMPORT_FORMATS && strcmp(import_formats[fi].name, format) != 0)
		fi++;
	while (di < N_IMPORT_DELIMS && strcmp(import_delims[di].value, delim) != 0)
		di++;
	struct bl_list l = {0};
	int rc = bl_slug_valid(list) ? req->store->ops->list_get(req->store, list, &l) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "list get");
	} else if (rc == 0) {
		import_form(req, resp, a, format, delim, "Choose the list to import into.", 422);
	} else if (fi == N_IMPORT_FORMATS || di == N_IMPORT_DELIMS) {
		import_form(req, resp, a, "auto", "",
		            "Choose a format and a delimiter from the lists.", 422);
	} else if (!data || len == 0) {
		import_form(req, resp, a, format, delim, "Choose a CSV file to upload.", 422);
	} else if (!bl_utf8_valid(source, strlen(source), NULL)) {
		import_form(req, resp, a, format, delim, "The file name is not UTF-8.", 422);
	} else {
		json_t *params = json_pack("{s:s, s:b, s:s, s:s}", "list", list, "confirmed",
		                           confirmed, "source", source, "format", format);
		if (*delim)
			json_object_set_new(params, "delimiter", json_string(delim));
		char *ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
		struct bl_job j = {
		    .kind = "import", .params = ptext, .actor = a->p.actor, .size = (int64_t)len};
		rc = req->store->ops->job_create(req->store, &j, data, len);
		if (rc) {
			store_failed(req, resp, &a->p, "job create");
		} else {
			char target[48];
			snprintf(target, sizeof(target), "job:%lld", (long long)j.id);
			bl_audit(req, &a->p, "import.create", target, "%s", ptext);
			redirect(req, resp, "/jobs/%lld", (long long)j.id);
		}
		free(ptext);
		json_decref(params);
	}
	bl_list_clear(&l);
	admin_free(a);
}

/* GET /admin/jobs/ID and /admin/jobs/ID/progress.json */
static void jobs_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	const char *rest = "";
	struct bl_job j = {0};
	if (!a)
		return;
	int64_t id = leading_id(req->param, &rest);
	int rc = id ? req->store->ops->job_get(req->store, id, &j) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "job get");
	} else if (rc == 0 || (*rest && strcmp(rest, "/progress.json") != 0)) {
		not_found(req, resp, &a->p);
	} else if (*rest) {
		json_t *report = json_loads(j.report && *j.report ? j.report : "{}", 0, NULL);
		json_t *o = json_pack(
		    "{s:I, s:s, s:I, s:I, s:I, s:b, s:o, s:s}", "id", (json_int_t)j.id, "state",
		    bl_job_state_name(j.state), "done",
		    (json_int_t)(j.state == BL_JOB_DONE ? j.size : j.done), "size",
		    (json_int_t)j.size, "percent",
		    (json_int_t)(j.state == BL_JOB_DONE ? 100
		                 : j.size > 0           ? j.done * 100 / j.size
		                                        : 0),
		    "finished", j.state == BL_JOB_DONE || j.state == BL_JOB_FAILED, "report",
		    report ? report : json_object(), "error", j.error ? j.error : "");
		char *txt = json_dumps(o, JSON_COMPACT);
		resp->content_type = "application/json";
		bl_buf_adds(&resp->body, txt ? txt : "{}");
		free(txt);
		json_decref(o);
	} else {
		struct bl_tval *data = bl_tval_map();
		bl_tval_set(data, "job", job_data(req, &j));
		if (j.state == BL_JOB_QUEUED || j.state == BL_JOB_RUNNING)
			bl_tval_set(data, "refresh", num(2));
		nav(data, "import");
		bl_admin_page(req, resp, 200, "job", "Import job", &a->p, data);
	}
	bl_job_clear(&j);
	admin_free(a);
}

/* ---- posts ---- */

#define COMPOSER_BODY_MAX ((size_t)BL_BODY_MAX * 3 + (64u << 10)) /* urlencoded, bytes */

/*
 * Decode application/x-www-form-urlencoded value @s (@len bytes) into a
 * malloc'd string; NULL when malformed, holding NUL or not UTF-8.
 */
static char *form_decode(const char *s, size_t len)
{
	char *out = bl_xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int h, l;
			if (i + 2 >= len)
				goto bad;
			h = bl_hex_digit((unsigned char)s[i + 1]);
			l = bl_hex_digit((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				goto bad;
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	if (!bl_utf8_valid(out, o, NULL))
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

/*
 * The composer's form: the field "body" (up to BL_BODY_MAX bytes, over the
 * form decoder's per-value limit) decoded into *@body (malloc'd, "" when
 * absent), every other field into @a->form. Returns 0, or -1 when malformed.
 */
static int composer_form(struct bl_http_req *req, struct admin *a, char **body)
{
	struct bl_buf rest;
	struct bl_diag d;
	const char *p = req->body, *end = req->body + req->body_len;
	*body = NULL;
	bl_buf_init(&rest, req->body_len + 1);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if (e - p >= 5 && memcmp(p, "body=", 5) == 0 && !*body) {
			if (!(*body = form_decode(p + 5, (size_t)(e - p - 5)))) {
				bl_buf_finish(&rest);
				return -1;
			}
		} else if (e > p) {
			if (rest.len)
				bl_buf_addc(&rest, '&');
			bl_buf_add(&rest, p, (size_t)(e - p));
		}
		p = e + (amp ? 1 : 0);
	}
	int rc = bl_form_parse(bl_buf_str(&rest), rest.len, &a->form, &d);
	bl_buf_finish(&rest);
	if (rc) {
		free(*body);
		*body = NULL;
		return -1;
	}
	if (!*body)
		*body = bl_xstrdup("");
	return 0;
}

/* "YYYY-MM-DDTHH:MM[:SS]" (datetime-local, read as UTC) to seconds; -1 when malformed. */
static int64_t parse_local_utc(const char *s)
{
	char buf[40];
	int64_t t;
	size_t n = strlen(s);
	if (n != 16 && n != 19)
		return -1;
	snprintf(buf, sizeof(buf), "%s%sZ", s, n == 16 ? ":00" : "");
	return bl_time_parse(buf, &t) ? -1 : t;
}

/* A time for a datetime-local input: "YYYY-MM-DDTHH:MM" (UTC); "" for 0. */
static struct bl_tval *local_utc(int64_t t)
{
	char s[BL_TIME_STRMAX];
	if (!t)
		return bl_tval_string("");
	bl_time_format(t, s);
	return bl_tval_stringf("%.16s", s);
}

struct post_index {
	struct bl_http_req *req;
	struct bl_tval *rows;
	size_t n;
	int64_t last_id;
};

static int add_post_index(void *arg, const struct bl_post *p)
{
	struct post_index *pi = arg;
	bl_tval_push(pi->rows, post_row(pi->req, p, NULL));
	pi->n++;
	pi->last_id = p->id;
	return 0;
}

static void posts_index(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	long long before = 0;
	if (!a)
		return;
	if (*field(a, "before"))
		bl_parse_int64(field(a, "before"), 0, INT64_MAX, &before);
	struct post_index pi = {.req = req, .rows = bl_tval_list()};
	if (req->store->ops->post_page(req->store, BL_POST_KIND_POST, before, PAGE_SIZE,
	                               add_post_index, &pi) < 0) {
		bl_tval_destroy(pi.rows);
		store_failed(req, resp, &a->p, "posts");
		admin_free(a);
		return;
	}
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "posts", pi.rows);
	bl_tval_set(data, "empty", bl_tval_bool(pi.n == 0));
	bl_tval_set(data, "paged", bl_tval_bool(before > 0));
	bl_tval_set(data, "first_url", bl_tval_stringf("%s/admin/posts", admin_base(req)));
	if (pi.n == PAGE_SIZE)
		bl_tval_set(data, "next_url",
		            bl_tval_stringf("%s/admin/posts?before=%lld", admin_base(req),
		                            (long long)pi.last_id));
	nav(data, "posts");
	bl_admin_page(req, resp, 200, "posts", "Posts", &a->p, data);
	admin_free(a);
}

struct id_set {
	int64_t v[MAX_LISTS];
	size_t n;
};

static int collect_id(void *arg, const struct bl_list *l)
{
	struct id_set *s = arg;
	if (s->n < MAX_LISTS)
		s->v[s->n++] = l->id;
	return 0;
}

/* The composer page for @p (id 0: a new post), its lists @checked. */
static void composer(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                     const struct bl_post *p, const struct id_set *checked, const char *error,
                     int status)
{
	struct lists_acc la;
	if (load_lists(req->store, &la)) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "lists");
		return;
	}
	struct bl_tval *data = bl_tval_map(), *lists = bl_tval_list(), *v = bl_tval_map();
	for (size_t i = 0; i < la.n; i++) {
		struct bl_tval *o = bl_tval_map();
		int on = 0;
		for (size_t k = 0; k < checked->n; k++)
			on |= checked->v[k] == la.v[i].id;
		bl_tval_set(o, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(o, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(o, "checked", bl_tval_bool(on));
		bl_tval_push(lists, o);
	}
	size_t n_lists = la.n; /* lists_free zeroes la */
	lists_free(&la);
	bl_tval_set(v, "id", num(p->id));
	bl_tval_set(v, "subject", bl_tval_string(p->subject ? p->subject : ""));
	bl_tval_set(v, "from", bl_tval_string(p->from_header ? p->from_header : ""));
	bl_tval_set(v, "body", bl_tval_string(p->body ? p->body : ""));
	bl_tval_set(v, "breaking", bl_tval_bool(p->priority == BL_PRIORITY_BREAKING));
	bl_tval_set(v, "scheduled_at", local_utc(p->scheduled_at));
	bl_tval_set(data, "post", v);
	bl_tval_set(data, "new", bl_tval_bool(p->id == 0));
	bl_tval_set(data, "lists", lists);
	bl_tval_set(data, "no_lists", bl_tval_bool(n_lists == 0));
	bl_tval_set(
	    data, "action",
	    p->id ? bl_tval_stringf("%s/admin/posts/%lld/edit", admin_base(req), (long long)p->id)
	          : bl_tval_stringf("%s/admin/posts/new", admin_base(req)));
	if (p->id)
		bl_tval_set(data, "preview_url",
		            bl_tval_stringf("%s/admin/posts/%lld/preview", admin_base(req),
		                            (long long)p->id));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	nav(data, "posts");
	bl_admin_page(req, resp, status, "post_edit", p->id ? "Edit post" : "New post", &a->p,
	              data);
}

/* The composer's message for a body that does not compile (@d from bl_post_body_check
 * with the name "body"): "body:3: why" becomes "line 3: why". */
static const char *body_error(const struct bl_diag *d, char *out, size_t size)
{
	const char *m = d->msg;
	size_t digits = strncmp(m, "body:", 5) == 0 ? strspn(m + 5, "0123456789") : 0;
	if (digits && m[5 + digits] == ':')
		snprintf(out, size, "The body cannot be composed: line %.*s:%s", (int)digits, m + 5,
		         m + 6 + digits);
	else
		snprintf(out, size, "The body cannot be composed: %s", m);
	return out;
}

/*
 * sendable - what would fail at send time, found now (as `bulletin post
 * send` and the API find it): post @p's composer is made for its @n lists
 * with the installation's settings, which checks the sender (@p's own
 * from, else the config's `from`) and public_url, and compiles the body.
 * Returns 1 when it can go out; 0 with @msg (@size bytes) saying why.
 */
static int sendable(struct bl_http_req *req, const struct bl_post *p, const struct bl_list *lists,
                    size_t n, char *msg, size_t size)
{
	struct bl_compose_opts co;
	struct bl_composer *comp = NULL;
	struct bl_diag d;
	bl_compose_opts_from_config(web_of(req)->config, &web_of(req)->secret, &co);
	int rc = bl_composer_create(&co, p, lists, n, &comp, &d);
	bl_composer_destroy(comp);
	if (rc)
		snprintf(msg, size, "The post cannot go out as it is: %s", d.msg);
	return rc == 0;
}

/*
 * The composer's From field @from ("" = the config's `from`) checked as
 * `bulletin post create --from` and the API check it: one line of UTF-8
 * without control characters, and a sender address bl_sender_parse takes.
 * NULL, or the message in @err (@size bytes).
 */
static const char *from_problem(struct bl_http_req *req, const char *from, char *err, size_t size)
{
	struct bl_compose_opts co;
	struct bl_diag d;
	char name[BL_NAME_MAX + 1], addr[BL_ADDRESS_MAX + 1];
	const char *why;
	if (!*from)
		return NULL;
	if ((why = bl_text_problem(from, FROM_MAX, 1))) {
		snprintf(err, size,
		         "The sender %s: it is one line of at most %d bytes, without control "
		         "characters, such as \u201cNews <news@example.org>\u201d.",
		         why, FROM_MAX);
		return err;
	}
	bl_compose_opts_from_config(web_of(req)->config, &web_of(req)->secret, &co);
	if (bl_sender_parse(from, co.address_flags, name, sizeof(name), addr, sizeof(addr), &d)) {
		snprintf(err, size, "The sender is not an address mail can come from: %s", d.msg);
		return err;
	}
	return NULL;
}

/*
 * POST of the composer (new or @existing): validate, create or update, then
 * per the button ("action": draft, schedule, send) leave it a draft,
 * schedule it, or queue it. Responds.
 */
static void composer_save(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                          const struct bl_post *existing)
{
	struct bl_store *s = req->store;
	struct bl_post p = {.kind = BL_POST_KIND_POST, .status = BL_POST_DRAFT, .from_header = ""};
	struct id_set ids = {0};
	struct lists_acc la = {0};
	char *body = NULL;
	const char *err = NULL, *why;
	const char *slugs[MAX_LISTS];
	char errbuf[BL_DIAG_MAX + 128];
	struct bl_diag d;
	int64_t at = 0;
	int rc;

	if (composer_form(req, a, &body)) {
		admin_error(req, resp, &a->p, 400, "Bad request", "The form could not be read.");
		return;
	}
	if (!bl_auth_csrf_ok(&a->p, bl_form_get(&a->form, "csrf"))) {
		admin_error(req, resp, &a->p, 403, "Forbidden",
		            "The form was stale or not sent from this site (CSRF token missing or "
		            "wrong). Nothing was changed; reload the page and try again.");
		free(body);
		return;
	}
	if (a->p.role < BL_ROLE_EDITOR) {
		admin_error(req, resp, &a->p, 403, "Forbidden",
		            "Writing posts needs the editor role.");
		free(body);
		return;
	}
	const char *action = field(a, "action");
	p.id = existing ? existing->id : 0;
	p.format = existing ? existing->format : BL_POST_FORMAT_MARKDOWN;
	p.subject = (char *)field(a, "subject");
	p.body = body;
	p.priority =
	    strcmp(field(a, "breaking"), "1") == 0 ? BL_PRIORITY_BREAKING : BL_PRIORITY_NORMAL;
	/* the From field; a form without one keeps the post's */
	const char *from = bl_form_get(&a->form, "from");
	p.from_header = from                                ? (char *)from
	                : existing && existing->from_header ? existing->from_header
	                                                    : "";
	size_t n = bl_form_get_all(&a->form, "list", slugs, MAX_LISTS);
	for (size_t i = 0; i < n; i++) {
		struct bl_list l = {0};
		rc = bl_slug_valid(slugs[i]) ? s->ops->list_get(s, slugs[i], &l) : 0;
		if (rc < 0) {
			store_failed(req, resp, &a->p, "list get");
			lists_free(&la);
			free(body);
			return;
		}
		if (rc == 1) {
			ids.v[ids.n++] = l.id;
			collect_list(&la, &l);
		}
		bl_list_clear(&l);
	}
	if (strcmp(action, "schedule") == 0) {
		at = parse_local_utc(field(a, "scheduled_at"));
		if (at < 0)
			err = "Give the schedule time as a date and time (UTC).";
		else if (at <= bl_now())
			err =
			    "The schedule time has passed; choose a later time (UTC), or send now.";
	} else if (strcmp(action, "draft") && strcmp(action, "send")) {
		err = "Choose save, schedule or send.";
	}
	if (!*p.subject) {
		err = "The post needs a subject.";
	} else if ((why = bl_text_problem(p.subject, BL_SUBJECT_MAX, 1))) {
		snprintf(errbuf, sizeof(errbuf),
		         "The subject %s: it is one line of at most %d bytes, without control "
		         "characters.",
		         why, BL_SUBJECT_MAX);
		err = errbuf;
	} else if (from_problem(req, p.from_header, errbuf, sizeof(errbuf))) {
		err = errbuf;
	} else if (strlen(body) > BL_BODY_MAX) {
		err = "The body is over 1 MiB.";
	} else if (ids.n == 0) {
		err = "Choose at least one list.";
	} else if (bl_post_body_check(p.format, body, strlen(body), "body", &d)) {
		err = body_error(&d, errbuf, sizeof(errbuf));
	} else if (!err && (strcmp(action, "schedule") == 0 || strcmp(action, "send") == 0) &&
	           !sendable(req, &p, la.v, la.n, errbuf, sizeof(errbuf))) {
		/* refused now, not paused at send time (a draft may wait for the settings) */
		err = errbuf;
	}
	lists_free(&la);
	if (err) {
		p.scheduled_at = at > 0 ? at : 0;
		composer(req, resp, a, &p, &ids, err, 422);
		free(body);
		return;
	}
	if (existing) {
		rc = s->ops->post_update(s, &p, ids.v, ids.n);
		if (rc == 0) {
			admin_error(
			    req, resp, &a->p, 409, "Cannot edit",
			    "This post is no longer a draft or scheduled: it cannot be edited.");
			free(body);
			return;
		}
	} else {
		rc = s->ops->post_create(s, &p, ids.v, ids.n);
	}
	if (rc < 0) {
		store_failed(req, resp, &a->p, existing ? "post update" : "post create");
		free(body);
		return;
	}
	char target[48];
	snprintf(target, sizeof(target), "post:%lld", (long long)p.id);
	bl_audit(req, &a->p, existing ? "post.update" : "post.create", target, "%s", p.subject);
	if (strcmp(action, "schedule") == 0) {
		rc = s->ops->post_schedule(s, p.id, at);
		if (rc > 0) {
			char t[BL_TIME_STRMAX];
			bl_audit(req, &a->p, "post.schedule", target, "%s", bl_time_format(at, t));
		}
	} else if (strcmp(action, "send") == 0) {
		/* saved; sending is confirmed on the next page (as the post page's Send) */
		free(body);
		redirect(req, resp, "/posts/%lld/send", (long long)p.id);
		return;
	} else if (existing && existing->status == BL_POST_SCHEDULED) {
		rc = s->ops->post_schedule(s, p.id, 0); /* saved as a draft: no longer scheduled */
		if (rc > 0)
			bl_audit(req, &a->p, "post.unschedule", target, NULL);
	}
	free(body);
	if (rc < 0)
		store_failed(req, resp, &a->p, "post action");
	else
		redirect(req, resp, "/posts/%lld?done=%s", (long long)p.id,
		         strcmp(action, "schedule") == 0 ? "schedule" : "draft");
}

static void posts_new(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int post = req->method == BL_HTTP_POST;
	struct admin *a = enter(req, resp, BL_ROLE_EDITOR, post ? NO_CSRF : 0);
	if (!a)
		return;
	if (post) {
		composer_save(req, resp, a, NULL);
	} else {
		struct bl_post p = {.kind = BL_POST_KIND_POST};
		struct id_set none = {0};
		composer(req, resp, a, &p, &none, NULL, 200);
	}
	admin_free(a);
}

/* Progress of post @p from its delivery counts: JSON for admin.js and the page's numbers. */
struct progress {
	struct bl_delivery_counts c;
	int64_t total, done, waiting, percent;
	double rate; /* accepted per second over the last minute */
	int64_t eta; /* seconds; -1 unknown */
};

static int progress_of(struct bl_store *s, const struct bl_post *p, struct progress *out)
{
	int64_t last_minute = 0, now = bl_now();
	memset(out, 0, sizeof(*out));
	if (s->ops->delivery_counts(s, p->id, &out->c) < 0 ||
	    s->ops->delivery_accepted_since(s, p->id, now - 60, &last_minute) < 0)
		return -1;
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++)
		out->total += out->c.n[i];
	out->done = out->c.n[BL_DELIVERY_ACCEPTED] + out->c.n[BL_DELIVERY_FAILED] +
	            out->c.n[BL_DELIVERY_SUPPRESSED] + out->c.n[BL_DELIVERY_BOUNCED] +
	            out->c.n[BL_DELIVERY_COMPLAINED];
	out->waiting = out->total - out->done;
	out->percent = out->total                  ? out->done * 100 / out->total
	               : p->status == BL_POST_SENT ? 100
	                                           : 0;
	/* the rate over the time the post has been sending, at most the last minute */
	int64_t span = p->started_at && now - p->started_at < 60 ? now - p->started_at : 60;
	out->rate = span > 0 ? (double)last_minute / (double)span : 0;
	out->eta = out->waiting == 0 ? 0
	           : out->rate > 0   ? (int64_t)((double)out->waiting / out->rate)
	                             : -1;
	return 0;
}

static void progress_json(struct bl_http_resp *resp, const struct bl_post *p,
                          const struct progress *g)
{
	json_t *counts = json_object();
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++)
		json_object_set_new(counts, bl_delivery_state_name((enum bl_delivery_state)i),
		                    json_integer(g->c.n[i]));
	json_t *o = json_pack(
	    "{s:I, s:s, s:I, s:I, s:I, s:o, s:f, s:o, s:b}", "id", (json_int_t)p->id, "status",
	    bl_post_status_name(p->status), "total", (json_int_t)g->total, "done",
	    (json_int_t)g->done, "percent", (json_int_t)g->percent, "counts", counts, "rate",
	    round(g->rate * 10) / 10, "eta", g->eta >= 0 ? json_integer(g->eta) : json_null(),
	    "finished", p->status == BL_POST_SENT || p->status == BL_POST_CANCELLED);
	char *txt = json_dumps(o, JSON_COMPACT);
	resp->content_type = "application/json";
	bl_buf_adds(&resp->body, txt ? txt : "{}");
	free(txt);
	json_decref(o);
}

static void eta_text(char *out, size_t size, int64_t eta)
{
	if (eta < 0)
		snprintf(out, size, "unknown");
	else if (eta < 90)
		snprintf(out, size, "%lld s", (long long)eta);
	else if (eta < 5400)
		snprintf(out, size, "%lld min", (long long)((eta + 30) / 60));
	else
		snprintf(out, size, "%.1f h", (double)eta / 3600);
}

struct dl_rows {
	struct bl_tval *rows;
	size_t n;
	int64_t last_id;
};

static int add_delivery(void *arg, const struct bl_delivery_row *d)
{
	struct dl_rows *dr = arg;
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "id", num(d->id));
	bl_tval_set(r, "email", bl_tval_string(d->email && *d->email ? d->email : "(erased)"));
	bl_tval_set(r, "state", bl_tval_string(bl_delivery_state_name(d->state)));
	bl_tval_set(r, "attempts", num(d->attempts));
	bl_tval_set(r, "code", bl_tval_string(""));
	if (d->code)
		bl_tval_set(r, "code", bl_tval_stringf("%d", d->code));
	bl_tval_set(r, "reply", bl_tval_string(d->reply ? d->reply : ""));
	bl_tval_set(r, "updated", when(d->updated_at));
	bl_tval_push(dr->rows, r);
	dr->n++;
	dr->last_id = d->id;
	return 0;
}

static int add_list_name(void *arg, const struct bl_list *l)
{
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "slug", bl_tval_string(l->slug));
	bl_tval_set(r, "name", bl_tval_string(l->name));
	bl_tval_push(arg, r);
	return 0;
}

/* The post page's bounces block: counts by class (auto-reply and unknown only when there are
 * some), the hard-bounce rate over the sent messages and the complaint rate over the delivered
 * ones, and a warning for each rate above its
 * threshold (bounce/summary.h), in the page's alert style. */
static struct bl_tval *bounce_block(struct bl_http_req *req, int64_t post_id,
                                    const struct bl_bounce_summary *b)
{
	const struct bl_bounce_counts *c = &b->counts;
	struct bl_tval *v = bl_tval_map(), *classes = bl_tval_list(), *warnings = bl_tval_list();
	char hard[24], complaint[24], limit[24];
	for (int i = 0; i < BL_BOUNCE_NCLASSES; i++) {
		if ((i == BL_BOUNCE_AUTOREPLY || i == BL_BOUNCE_UNKNOWN) && c->n[i] == 0)
			continue;
		struct bl_tval *r = bl_tval_map();
		bl_tval_set(r, "class",
		            bl_tval_string(bl_bounce_class_name((enum bl_bounce_class)i)));
		bl_tval_set(r, "n", num(c->n[i]));
		bl_tval_push(classes, r);
	}
	for (size_t i = 0; i < b->n_warnings; i++) {
		struct bl_tval *r = bl_tval_map();
		bl_tval_set(r, "kind", bl_tval_string(b->warn[i].kind));
		bl_tval_set(r, "text", bl_tval_string(b->warn[i].text));
		bl_tval_push(warnings, r);
	}
	bl_tval_set(v, "classes", classes);
	bl_tval_set(v, "warnings", warnings);
	bl_tval_set(v, "delivered", num(c->delivered));
	bl_tval_set(v, "sent", num(c->sent));
	bl_bounce_pct(c->n[BL_BOUNCE_HARD], c->sent, b->thr.hard_ppm, hard, sizeof(hard));
	bl_bounce_pct(c->n[BL_BOUNCE_COMPLAINT], c->delivered, b->thr.complaint_ppm, complaint,
	              sizeof(complaint));
	bl_tval_set(v, "hard_rate", bl_tval_string(hard));
	bl_tval_set(v, "complaint_rate", bl_tval_string(complaint));
	snprintf(limit, sizeof(limit), "%g%%", (double)b->thr.complaint_ppm / 1e4);
	bl_tval_set(v, "complaint_limit", bl_tval_string(limit));
	snprintf(limit, sizeof(limit), "%g%%", (double)b->thr.hard_ppm / 1e4);
	bl_tval_set(v, "hard_limit", bl_tval_string(limit));
	bl_tval_set(
	    v, "list_url",
	    bl_tval_stringf("%s/admin/bounces?post=%lld", admin_base(req), (long long)post_id));
	return v;
}

static void post_page(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                      const struct bl_post *p)
{
	struct bl_store *s = req->store;
	struct progress g;
	const char *state = field(a, "state");
	long long after = 0;
	enum bl_delivery_state ds;
	int filter = -1;
	struct bl_tval *lists = bl_tval_list();
	struct dl_rows dr = {.rows = bl_tval_list()};

	if (*state && bl_delivery_state_parse(state, &ds) == 0)
		filter = (int)ds;
	if (*field(a, "after"))
		bl_parse_int64(field(a, "after"), 0, INT64_MAX, &after);
	struct bl_bounce_thresholds thr;
	struct bl_bounce_summary bs;
	bl_bounce_thresholds_from_config(web_of(req)->config, &thr);
	if (progress_of(s, p, &g) || s->ops->post_lists(s, p->id, add_list_name, lists) < 0 ||
	    s->ops->delivery_each(s, p->id, filter, after, PAGE_SIZE, add_delivery, &dr) < 0 ||
	    bl_bounce_summary_load(s, p->id, &thr, &bs) < 0) {
		bl_tval_destroy(lists);
		bl_tval_destroy(dr.rows);
		store_failed(req, resp, &a->p, "post page");
		return;
	}
	struct bl_tval *data = bl_tval_map(), *v = post_row(req, p, &g.c);
	const char *base = admin_base(req);
	int st = p->status;
	bl_tval_set(v, "body", bl_tval_string(p->body));
	bl_tval_set(v, "started", when(p->started_at));
	bl_tval_set(v, "finished", when(p->finished_at));
	bl_tval_set(v, "scheduled_at", local_utc(p->scheduled_at));
	bl_tval_set(v, "pause_reason", bl_tval_string(p->pause_reason ? p->pause_reason : ""));
	bl_tval_set(v, "held",
	            bl_tval_bool(st == BL_POST_SCHEDULED && p->pause_reason && *p->pause_reason));
	bl_tval_set(v, "lists", lists);
	bl_tval_set(data, "post", v);
	/* what the redirect here did, with the post's subject */
	static const struct {
		const char *code, *text;
	} done[] = {{"draft", "saved as a draft."},
	            {"schedule", "scheduled."},
	            {"unschedule", "is no longer scheduled: a draft again."},
	            {"send", "is being sent."},
	            {"pause", "paused: no more messages go out until you resume."},
	            {"resume", "resumed: sending again."},
	            {"cancel", "cancelled."},
	            {"retry", "will be tried again for the failed deliveries."}};
	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if (strcmp(field(a, "done"), done[i].code) == 0)
			bl_tval_set(
			    data, "notice",
			    bl_tval_stringf("Post \u201c%s\u201d %s", p->subject, done[i].text));

	/* progress */
	struct bl_tval *states = bl_tval_list();
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++) {
		struct bl_tval *r = bl_tval_map();
		bl_tval_set(r, "state",
		            bl_tval_string(bl_delivery_state_name((enum bl_delivery_state)i)));
		bl_tval_set(r, "n", num(g.c.n[i]));
		bl_tval_push(states, r);
	}
	char eta[32], rate[32];
	eta_text(eta, sizeof(eta), g.eta);
	snprintf(rate, sizeof(rate), "%.1f", g.rate);
	bl_tval_set(data, "states", states);
	bl_tval_set(data, "in_doubt", num(g.c.in_doubt));
	bl_tval_set(data, "total", num(g.total));
	bl_tval_set(data, "done", num(g.done));
	bl_tval_set(data, "max", num(g.total ? g.total : 1));
	bl_tval_set(data, "percent", num(g.percent));
	bl_tval_set(data, "rate", bl_tval_string(rate));
	bl_tval_set(data, "eta", bl_tval_string(eta));
	/* admin.js watches a sending or scheduled post and reloads the page when its status
	 * changes; the rate and ETA mean something only while it sends */
	bl_tval_set(data, "live", bl_tval_bool(st == BL_POST_SENDING || st == BL_POST_SCHEDULED));
	bl_tval_set(data, "sending", bl_tval_bool(st == BL_POST_SENDING));
	if (st == BL_POST_SENDING)
		bl_tval_set(data, "refresh",
		            num(5)); /* without JavaScript: <noscript> meta refresh */
	bl_tval_set(data, "started", bl_tval_bool(p->started_at != 0));
	bl_tval_set(data, "progress_url",
	            bl_tval_stringf("%s/admin/posts/%lld/progress.json", base, (long long)p->id));
	bl_tval_set(data, "self_url",
	            bl_tval_stringf("%s/admin/posts/%lld", base, (long long)p->id));
	bl_tval_set(data, "preview_url",
	            bl_tval_stringf("%s/admin/posts/%lld/preview", base, (long long)p->id));

	/* acceptances over time: HIST_BUCKETS bars from the start to the end (or now) */
	if (p->started_at) {
		int64_t from = p->started_at;
		int64_t to = p->finished_at ? p->finished_at : bl_now();
		int64_t bucket = (to - from) / HIST_BUCKETS + 1;
		size_t n = (size_t)((to - from) / bucket + 1);
		int64_t hist[HIST_BUCKETS + 1] = {0};
		double values[HIST_BUCKETS + 1];
		if (n > HIST_BUCKETS + 1)
			n = HIST_BUCKETS + 1;
		if (s->ops->delivery_accepted_hist(s, p->id, from, bucket, n, hist) == 0) {
			char names[HIST_BUCKETS + 1][24];
			const char *labels[HIST_BUCKETS + 1];
			char ylab[64];
			for (size_t i = 0; i < n; i++) {
				values[i] = (double)hist[i];
				int64_t off = (int64_t)i * bucket;
				if (bucket >= 60)
					snprintf(names[i], sizeof(names[i]), "%lldm",
					         (long long)(off / 60));
				else
					snprintf(names[i], sizeof(names[i]), "%llds",
					         (long long)off);
				labels[i] = names[i];
			}
			snprintf(ylab, sizeof(ylab), "Accepted per %lld s", (long long)bucket);
			struct bl_chart ch = {.kind = BL_CHART_BAR,
			                      .title = "Deliveries accepted over time",
			                      .x_label = "Time since the start",
			                      .y_label = ylab,
			                      .n = n,
			                      .values = values,
			                      .labels = labels};
			struct bl_buf svg;
			bl_buf_init(&svg, 1 << 20);
			if (bl_chart_svg(&ch, &svg) == 0)
				bl_tval_set(data, "hist_svg",
				            bl_tval_stringn(bl_buf_str(&svg), svg.len));
			bl_buf_finish(&svg);
		}
	}

	bl_tval_set(data, "bounces", bounce_block(req, p->id, &bs));

	/* the deliveries: filter and keyset paging */
	struct bl_tval *filters = bl_tval_list();
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++) {
		struct bl_tval *r = bl_tval_map();
		bl_tval_set(r, "state",
		            bl_tval_string(bl_delivery_state_name((enum bl_delivery_state)i)));
		bl_tval_set(r, "selected", bl_tval_bool(filter == i));
		bl_tval_push(filters, r);
	}
	bl_tval_set(data, "filters", filters);
	bl_tval_set(data, "deliveries", dr.rows);
	bl_tval_set(data, "no_deliveries", bl_tval_bool(dr.n == 0));
	bl_tval_set(data, "paged", bl_tval_bool(after > 0));
	bl_tval_set(data, "first_url",
	            bl_tval_stringf("%s/admin/posts/%lld?state=%s#deliveries", base,
	                            (long long)p->id, filter >= 0 ? state : ""));
	if (dr.n == PAGE_SIZE)
		bl_tval_set(data, "next_url",
		            bl_tval_stringf("%s/admin/posts/%lld?state=%s&after=%lld#deliveries",
		                            base, (long long)p->id, filter >= 0 ? state : "",
		                            (long long)dr.last_id));

	/* what can be done now */
	int draft = st == BL_POST_DRAFT, sched = st == BL_POST_SCHEDULED;
	bl_tval_set(data, "can_compose", bl_tval_bool(draft || sched));
	bl_tval_set(data, "can_send", bl_tval_bool(draft || sched));
	bl_tval_set(data, "can_schedule", bl_tval_bool(draft || sched));
	bl_tval_set(data, "can_unschedule", bl_tval_bool(sched));
	bl_tval_set(data, "can_pause", bl_tval_bool(st == BL_POST_SENDING));
	bl_tval_set(data, "can_resume", bl_tval_bool(st == BL_POST_PAUSED));
	bl_tval_set(data, "can_cancel",
	            bl_tval_bool(draft || sched || st == BL_POST_SENDING || st == BL_POST_PAUSED));
	int can_retry = g.c.n[BL_DELIVERY_FAILED] > 0 &&
	                (st == BL_POST_SENDING || st == BL_POST_PAUSED || st == BL_POST_SENT);
	bl_tval_set(data, "can_retry", bl_tval_bool(can_retry));
	/* a sent or cancelled post has no actions: no empty "Actions" section */
	bl_tval_set(data, "has_actions",
	            bl_tval_bool(draft || sched || st == BL_POST_SENDING || st == BL_POST_PAUSED ||
	                         can_retry));
	nav(data, "posts");
	bl_admin_page(req, resp, 200, "post", "Post", &a->p, data);
}

/* Why there is no preview, as a page of its own for the preview frame: the preview's CSP
 * and X-Frame-Options, so the browser shows it in the frame (an admin page would be refused
 * there), with only inline style. */
static void preview_error(struct bl_http_resp *resp, const char *msg)
{
	resp->status = 422;
	resp->content_type = "text/html; charset=utf-8";
	resp->csp = PREVIEW_CSP;
	resp->frame_options = "SAMEORIGIN";
	bl_buf_reset(&resp->body);
	bl_buf_adds(&resp->body,
	            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	            "<title>No preview</title></head>\n<body style=\"font-family:system-ui,"
	            "sans-serif;margin:1rem;color:#1c1c1a;background:#fff\">\n<h1 "
	            "style=\"font-size:1.2rem;color:#a3161b\">No preview</h1>\n<p>");
	for (const char *c = msg; *c; c++) {
		switch (*c) {
		case '<':
			bl_buf_adds(&resp->body, "&lt;");
			break;
		case '>':
			bl_buf_adds(&resp->body, "&gt;");
			break;
		case '&':
			bl_buf_adds(&resp->body, "&amp;");
			break;
		case '"':
			bl_buf_adds(&resp->body, "&quot;");
			break;
		default:
			bl_buf_addc(&resp->body, *c);
		}
	}
	bl_buf_adds(&resp->body, "</p>\n<p>Fix the body in the composer and save it again.</p>\n"
	                         "</body></html>\n");
}

/* GET /admin/posts/ID/preview: the HTML part of the message as its first subscriber gets it
 * (as `bulletin post preview ID --format html`), but signed with a throwaway key made for
 * this one preview: a viewer sees what the links look like, and none of them works (the
 * subscriber's unsubscribe, preferences and erase links would otherwise be theirs to use). */
static void post_preview(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                         const struct bl_post *p)
{
	struct bl_store *s = req->store;
	struct lists_acc la = {0};
	struct one_sub fs = {0};
	struct bl_composer *comp = NULL;
	struct bl_compose_opts co;
	struct bl_diag d;
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX];

	if (s->ops->post_lists(s, p->id, collect_list, &la) < 0) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "post lists");
		return;
	}
	for (size_t i = 0; i < la.n && !fs.found; i++) {
		struct bl_subscriber_filter f = {.list_id = la.v[i].id,
		                                 .sub_status = BL_SUB_CONFIRMED,
		                                 .status = BL_SUBSCRIBER_ACTIVE,
		                                 .limit = 1};
		if (s->ops->subscriber_each(s, &f, take_sub, &fs) < 0) {
			lists_free(&la);
			store_failed(req, resp, &a->p, "preview subscriber");
			return;
		}
	}
	struct bl_claimed row = {.post_id = p->id, .attempts = 1, .list_id = la.n ? la.v[0].id : 0};
	if (fs.found) {
		row.subscriber_id = fs.sub.id;
		row.email = fs.sub.email;
		row.name = fs.sub.name;
		row.attributes = fs.sub.attributes;
	} else {
		row.email = "reader@example.com";
		row.name = "Sample Reader";
		row.attributes = "{}";
	}
	struct bl_secret throwaway;
	bl_secret_random(&throwaway);
	bl_compose_opts_from_config(web_of(req)->config, &throwaway, &co);
	bl_buf_init(&msg, BL_MESSAGE_MAX);
	if (bl_composer_create(&co, p, la.v, la.n, &comp, &d) ||
	    bl_compose(comp, &row, bl_now(), &msg, mail_from, &d)) {
		preview_error(resp, d.msg);
	} else {
		resp->content_type = "text/html; charset=utf-8";
		bl_buf_adds(&resp->body, bl_composer_last_html(comp));
		resp->csp = PREVIEW_CSP;
		resp->frame_options = "SAMEORIGIN";
	}
	bl_buf_finish(&msg);
	bl_composer_destroy(comp);
	bl_memzero(&throwaway, sizeof(throwaway));
	if (fs.found)
		bl_subscriber_clear(&fs.sub);
	lists_free(&la);
}

/*
 * The confirmation page of "send" (@action "send") or "cancel" for post @p:
 * how many subscribers it goes to, from the maintained counts (confirmed
 * subscriptions of its lists; "about" when it has several lists, as a
 * subscriber on two of them is counted twice but mailed once).
 */
static void post_confirm(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                         const struct bl_post *p, const char *action)
{
	struct bl_store *s = req->store;
	struct lists_acc la = {0};
	char question[BL_SUBJECT_MAX + 2048], path[64], back[64];
	int64_t n = 0;
	snprintf(path, sizeof(path), "/posts/%lld/%s", (long long)p->id, action);
	snprintf(back, sizeof(back), "/posts/%lld", (long long)p->id);
	if (s->ops->post_lists(s, p->id, collect_list, &la) < 0) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "post lists");
		return;
	}
	struct bl_buf names;
	bl_buf_init(&names, 1024);
	for (size_t i = 0; i < la.n; i++) {
		struct bl_list_counts c = {0};
		if (s->ops->list_counts(s, la.v[i].id, &c)) {
			bl_buf_finish(&names);
			lists_free(&la);
			store_failed(req, resp, &a->p, "list counts");
			return;
		}
		n += c.confirmed;
		if (i)
			bl_buf_adds(&names, i + 1 == la.n ? " and " : ", ");
		bl_buf_addf(&names, "\u201c%s\u201d", la.v[i].name);
	}
	if (strcmp(action, "send") == 0) {
		snprintf(question, sizeof(question),
		         "Send \u201c%s\u201d to %s%lld subscriber%s of %s?", p->subject,
		         la.n > 1 ? "about " : "", (long long)n, n == 1 ? "" : "s",
		         bl_buf_err(&names) ? "its lists" : bl_buf_str(&names));
		confirm_page(req, resp, &a->p, "posts", "Send this post?", question,
		             "Delivery starts at once; it can be paused or cancelled, but messages "
		             "already accepted by the relay cannot be called back.",
		             "Yes, send it", 0, path, back);
	} else {
		snprintf(question, sizeof(question), "Cancel \u201c%s\u201d?", p->subject);
		confirm_page(req, resp, &a->p, "posts", "Cancel this post?", question,
		             p->status == BL_POST_SENDING || p->status == BL_POST_PAUSED
		                 ? "No more messages go out; those already sent stay sent. A "
		                   "cancelled post cannot be sent again."
		                 : "A cancelled post cannot be edited or sent again.",
		             "Yes, cancel the post", 1, path, back);
	}
	bl_buf_finish(&names);
	lists_free(&la);
}

/* Refuse (422) to send or schedule post @p when its body does not compose; 1 when refused. */
static int body_refused(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                        const struct bl_post *p, const char *what)
{
	struct bl_diag d;
	char msg[BL_DIAG_MAX + 128], why[BL_DIAG_MAX + 64];
	const char *body = p->body ? p->body : "";
	if (!bl_post_body_check(p->format, body, strlen(body), "body", &d))
		return 0;
	snprintf(msg, sizeof(msg), "%s. Edit the post first.", body_error(&d, why, sizeof(why)));
	admin_error(req, resp, &a->p, 422, what, msg);
	return 1;
}

/* Refuse (422) to send or schedule post @p when it would fail at send time (sendable);
 * 1 when refused (or the store failed: the response is made). */
static int send_refused(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                        const struct bl_post *p, const char *what)
{
	struct lists_acc la = {0};
	char msg[BL_DIAG_MAX + 128], full[BL_DIAG_MAX + 192];
	if (req->store->ops->post_lists(req->store, p->id, collect_list, &la) < 0) {
		lists_free(&la);
		store_failed(req, resp, &a->p, "post lists");
		return 1;
	}
	int ok = sendable(req, p, la.v, la.n, msg, sizeof(msg));
	lists_free(&la);
	if (ok)
		return 0;
	snprintf(full, sizeof(full), "%s. Fix it first; nothing was changed.", msg);
	admin_error(req, resp, &a->p, 422, what, full);
	return 1;
}

/* POST /admin/posts/ID/ACTION (send and cancel ask first: confirm=1 does it) */
static void post_action(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                        const struct bl_post *p, const char *action)
{
	struct bl_store *s = req->store;
	int64_t now = bl_now(), n = 0;
	char target[48], reason[BL_ACTOR_MAX + 16];
	int rc;
	snprintf(target, sizeof(target), "post:%lld", (long long)p->id);
	if ((strcmp(action, "send") == 0 || strcmp(action, "cancel") == 0) &&
	    strcmp(field(a, "confirm"), "1") != 0) {
		post_confirm(req, resp, a, p, action);
		return;
	}
	if (strcmp(action, "send") == 0) {
		if (body_refused(req, resp, a, p, "Cannot send") ||
		    send_refused(req, resp, a, p, "Cannot send"))
			return;
		rc = s->ops->post_queue(s, p->id, now, &n);
		if (rc > 0)
			bl_audit(req, &a->p, "post.send", target, "%lld recipients", (long long)n);
	} else if (strcmp(action, "pause") == 0) {
		snprintf(reason, sizeof(reason), "paused by %s", a->p.actor);
		rc = s->ops->post_set_status(s, p->id, 1u << BL_POST_SENDING, BL_POST_PAUSED,
		                             reason, 0, now);
		if (rc > 0)
			bl_audit(req, &a->p, "post.pause", target, NULL);
	} else if (strcmp(action, "resume") == 0) {
		rc = s->ops->post_set_status(s, p->id, 1u << BL_POST_PAUSED, BL_POST_SENDING, "", 0,
		                             now);
		if (rc > 0)
			bl_audit(req, &a->p, "post.resume", target, NULL);
	} else if (strcmp(action, "cancel") == 0) {
		unsigned from = 1u << BL_POST_DRAFT | 1u << BL_POST_SCHEDULED |
		                1u << BL_POST_SENDING | 1u << BL_POST_PAUSED;
		rc = s->ops->post_set_status(s, p->id, from, BL_POST_CANCELLED, "", 0, now);
		if (rc > 0)
			bl_audit(req, &a->p, "post.cancel", target, NULL);
	} else if (strcmp(action, "retry") == 0) {
		rc = s->ops->delivery_retry(s, p->id, now, &n);
		if (rc > 0)
			bl_audit(req, &a->p, "post.retry", target, "%lld deliveries", (long long)n);
	} else if (strcmp(action, "schedule") == 0) {
		int64_t at = parse_local_utc(field(a, "scheduled_at"));
		if (at <= now) {
			admin_error(
			    req, resp, &a->p, 422, "Cannot schedule",
			    at < 0 ? "Give the schedule time as a date and time (UTC)."
			           : "The schedule time has passed; choose a later time (UTC).");
			return;
		}
		if (body_refused(req, resp, a, p, "Cannot schedule") ||
		    send_refused(req, resp, a, p, "Cannot schedule"))
			return;
		rc = s->ops->post_schedule(s, p->id, at);
		if (rc > 0) {
			char t[BL_TIME_STRMAX];
			bl_audit(req, &a->p, "post.schedule", target, "%s", bl_time_format(at, t));
		}
	} else if (strcmp(action, "unschedule") == 0) {
		rc = s->ops->post_schedule(s, p->id, 0);
		if (rc > 0)
			bl_audit(req, &a->p, "post.unschedule", target, NULL);
	} else {
		not_found(req, resp, &a->p);
		return;
	}
	if (rc < 0) {
		store_failed(req, resp, &a->p, action);
	} else if (rc == 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "The post is %s: it cannot be %s now.",
		         bl_post_status_name(p->status),
		         strcmp(action, "send") == 0 ? "sent" : action);
		admin_error(req, resp, &a->p, 409, "Not possible now", msg);
	} else {
		redirect(req, resp, "/posts/%lld?done=%s", (long long)p->id, action);
	}
}

/* /admin/posts/ID[/edit|/preview|/progress.json|/ACTION] */
static void posts_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int post = req->method == BL_HTTP_POST;
	const char *rest = "";
	int64_t id = leading_id(req->param, &rest);
	int edit = strcmp(rest, "/edit") == 0;
	struct admin *a =
	    enter(req, resp, post ? BL_ROLE_EDITOR : BL_ROLE_VIEWER, post && edit ? NO_CSRF : 0);
	struct bl_post p = {0};
	if (!a)
		return;
	int rc = id ? req->store->ops->post_get(req->store, id, &p) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "post get");
	} else if (rc == 0 || p.kind != BL_POST_KIND_POST) {
		not_found(req, resp, &a->p);
	} else if (post && edit) {
		composer_save(req, resp, a, &p);
	} else if (post && *rest == '/') {
		post_action(req, resp, a, &p, rest + 1);
	} else if (post) {
		admin_error(req, resp, &a->p, 405, "Not allowed", "Nothing to post here.");
	} else if (edit) {
		if (p.status != BL_POST_DRAFT && p.status != BL_POST_SCHEDULED) {
			admin_error(req, resp, &a->p, 409, "Cannot edit",
			            "Only a draft or a scheduled post can be edited.");
		} else if (a->p.role < BL_ROLE_EDITOR) {
			admin_error(req, resp, &a->p, 403, "Forbidden",
			            "Editing needs the editor role.");
		} else {
			struct id_set ids = {0};
			if (req->store->ops->post_lists(req->store, p.id, collect_id, &ids) < 0)
				store_failed(req, resp, &a->p, "post lists");
			else
				composer(req, resp, a, &p, &ids, NULL, 200);
		}
	} else if (strcmp(rest, "/send") == 0 || strcmp(rest, "/cancel") == 0) {
		/* the confirmation step, also what a link to the action shows */
		if (a->p.role < BL_ROLE_EDITOR)
			admin_error(req, resp, &a->p, 403, "Forbidden",
			            "Sending and cancelling need the editor role.");
		else
			post_confirm(req, resp, a, &p, rest + 1);
	} else if (strcmp(rest, "/preview") == 0) {
		post_preview(req, resp, a, &p);
	} else if (strcmp(rest, "/progress.json") == 0) {
		struct progress g;
		if (progress_of(req->store, &p, &g))
			store_failed(req, resp, &a->p, "progress");
		else
			progress_json(resp, &p, &g);
	} else if (*rest == 0) {
		post_page(req, resp, a, &p);
	} else {
		not_found(req, resp, &a->p);
	}
	bl_post_clear(&p);
	admin_free(a);
}

/* ---- users and tokens (admin) ---- */

/* A user or token name: 1..BL_USER_NAME_MAX bytes of [A-Za-z0-9._@-]. */
static int name_valid(const char *s)
{
	return bl_user_name_valid(s);
}

struct user_rows {
	struct bl_tval *rows;
	int64_t done_id; /* the user whose role changed: named in the notice */
	char notice[BL_USER_NAME_MAX + 64];
};

static int add_user(void *arg, const struct bl_user *u)
{
	struct user_rows *ur = arg;
	struct bl_tval *r = bl_tval_map(), *roles = bl_tval_list();
	if (u->id == ur->done_id)
		snprintf(ur->notice, sizeof(ur->notice), "%s is now %s %s.", u->name,
		         u->role == BL_ROLE_VIEWER ? "a" : "an", bl_role_name(u->role));
	for (int i = BL_ROLE_VIEWER; i <= BL_ROLE_ADMIN; i++) {
		struct bl_tval *o = bl_tval_map();
		bl_tval_set(o, "role", bl_tval_string(bl_role_name((enum bl_role)i)));
		bl_tval_set(o, "selected", bl_tval_bool(u->role == (enum bl_role)i));
		bl_tval_push(roles, o);
	}
	bl_tval_set(r, "id", num(u->id));
	bl_tval_set(r, "name", bl_tval_string(u->name));
	bl_tval_set(r, "role", bl_tval_string(bl_role_name(u->role)));
	bl_tval_set(r, "roles", roles);
	bl_tval_set(r, "created", when(u->created_at));
	bl_tval_set(r, "last_login", when(u->last_login_at));
	bl_tval_push(ur->rows, r);
	return 0;
}

static void users_page(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                       const char *error, int status)
{
	long long done_id = 0;
	if (strcmp(field(a, "done"), "role") == 0)
		bl_parse_int64(field(a, "id"), 1, INT64_MAX, &done_id);
	struct user_rows ur = {.rows = bl_tval_list(), .done_id = done_id};
	if (req->store->ops->user_each(req->store, add_user, &ur) < 0) {
		bl_tval_destroy(ur.rows);
		store_failed(req, resp, &a->p, "users");
		return;
	}
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "users", ur.rows);
	if (*ur.notice)
		bl_tval_set(data, "notice", bl_tval_string(ur.notice));
	else if (strcmp(field(a, "done"), "deleted") == 0)
		bl_tval_set(data, "notice",
		            bl_tval_string("The user was deleted; their sessions ended."));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	nav(data, "users");
	bl_admin_page(req, resp, status, "users", "Users", &a->p, data);
}

/* A secret shown once: a new user's password or an API token. */
static void secret_page(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                        const char *heading, const char *what, const char *name, const char *secret,
                        const char *back)
{
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "heading", bl_tval_string(heading));
	bl_tval_set(data, "what", bl_tval_string(what));
	bl_tval_set(data, "name", bl_tval_string(name));
	bl_tval_set(data, "secret", bl_tval_string(secret));
	bl_tval_set(data, "back_url", bl_tval_stringf("%s/admin/%s", admin_base(req), back));
	nav(data, back);
	bl_admin_page(req, resp, 200, "user_secret", heading, &a->p, data);
}

static int hash_password(const char *pw, char out[BL_PASSWORD_HASH_MAX])
{
	return bl_password_hash(pw, strlen(pw), out);
}

static void users_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, 0);
	if (!a)
		return;
	users_page(req, resp, a, NULL, 200);
	admin_free(a);
}

/* POST /admin/users/new: name, role; the password is generated and shown once. */
static void users_new(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, WRITE);
	char pw[BL_PASSWORD_GEN_LEN], hash[BL_PASSWORD_HASH_MAX];
	enum bl_role role;
	if (!a)
		return;
	const char *name = field(a, "name");
	if (!name_valid(name)) {
		users_page(req, resp, a,
		           "A user name is 1 to 64 characters of A-Z, a-z, 0-9, . _ @ -.", 422);
	} else if (bl_role_parse(field(a, "role"), &role)) {
		users_page(req, resp, a, "Choose a role: viewer, editor or admin.", 422);
	} else {
		bl_password_generate(pw);
		if (hash_password(pw, hash)) {
			admin_error(req, resp, &a->p, 500, "Something went wrong",
			            "The password could not be hashed (out of memory).");
			admin_free(a);
			return;
		}
		struct bl_user u = {.name = (char *)name, .role = role, .pass_hash = hash};
		int rc = req->store->ops->user_create(req->store, &u);
		if (rc == -BL_EEXIST) {
			users_page(req, resp, a, "A user with this name exists already.", 409);
		} else if (rc) {
			store_failed(req, resp, &a->p, "user create");
		} else {
			char target[BL_USER_NAME_MAX + 8];
			snprintf(target, sizeof(target), "user:%s", name);
			bl_audit(req, &a->p, "user.add", target, "%s", bl_role_name(role));
			secret_page(req, resp, a, "User added", "password", name, pw, "users");
		}
		bl_memzero(pw, sizeof(pw));
	}
	admin_free(a);
}

/* 409: the users page saying the store refused to demote or delete the
 * last admin (-BL_ELASTADMIN), with the store's message. */
static void last_admin(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a)
{
	char msg[BL_DIAG_MAX];
	snprintf(msg, sizeof(msg), "%s", bl_store_error(req->store));
	users_page(req, resp, a, msg, 409);
}

/* POST /admin/users/ID/{role,password,delete} */
static void users_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, WRITE);
	const char *rest = "";
	struct bl_user u = {0};
	char target[BL_USER_NAME_MAX + 8];
	if (!a)
		return;
	int64_t id = leading_id(req->param, &rest);
	int rc = id ? req->store->ops->user_get(req->store, NULL, id, &u) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "user get");
		goto out;
	}
	if (rc == 0) {
		not_found(req, resp, &a->p);
		goto out;
	}
	snprintf(target, sizeof(target), "user:%s", u.name);
	if (strcmp(rest, "/role") == 0) {
		enum bl_role role;
		if (bl_role_parse(field(a, "role"), &role)) {
			users_page(req, resp, a, "Choose a role: viewer, editor or admin.", 422);
		} else if (id == a->p.user_id && role != BL_ROLE_ADMIN) {
			users_page(req, resp, a, "You cannot take the admin role from yourself.",
			           409);
		} else if ((rc = req->store->ops->user_set_role(req->store, id, role)) ==
		           -BL_ELASTADMIN) {
			last_admin(req, resp, a);
		} else if (rc < 0) {
			store_failed(req, resp, &a->p, "user role");
		} else {
			bl_audit(req, &a->p, "user.role", target, "%s", bl_role_name(role));
			redirect(req, resp, "/users?done=role&id=%lld", (long long)id);
		}
	} else if (strcmp(rest, "/password") == 0) {
		char pw[BL_PASSWORD_GEN_LEN], hash[BL_PASSWORD_HASH_MAX];
		bl_password_generate(pw);
		if (hash_password(pw, hash)) {
			admin_error(req, resp, &a->p, 500, "Something went wrong",
			            "The password could not be hashed (out of memory).");
		} else if ((rc = req->store->ops->user_set_password(req->store, id, hash,
		                                                    bl_now())) < 0) {
			store_failed(req, resp, &a->p, "user password");
		} else {
			bl_audit(req, &a->p, "user.password", target, NULL);
			secret_page(req, resp, a, "Password reset", "new password", u.name, pw,
			            "users");
		}
		bl_memzero(pw, sizeof(pw));
	} else if (strcmp(rest, "/delete") == 0) {
		if (id == a->p.user_id) {
			users_page(req, resp, a, "You cannot delete yourself.", 409);
		} else if ((rc = req->store->ops->user_delete(req->store, id)) == -BL_ELASTADMIN) {
			last_admin(req, resp, a);
		} else if (rc < 0) {
			store_failed(req, resp, &a->p, "user delete");
		} else {
			bl_audit(req, &a->p, "user.delete", target, NULL);
			redirect(req, resp, "/users?done=deleted");
		}
	} else {
		not_found(req, resp, &a->p);
	}
out:
	bl_user_clear(&u);
	admin_free(a);
}

static int add_token(void *arg, const struct bl_api_token *t)
{
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "name", bl_tval_string(t->name));
	bl_tval_set(r, "role", bl_tval_string(bl_role_name(t->role)));
	bl_tval_set(r, "created", when(t->created_at));
	bl_tval_set(r, "last_used", when(t->last_used_at));
	bl_tval_push(arg, r);
	return 0;
}

static void tokens_page(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                        const char *error, int status)
{
	struct bl_tval *tokens = bl_tval_list();
	if (req->store->ops->token_each(req->store, add_token, tokens) < 0) {
		bl_tval_destroy(tokens);
		store_failed(req, resp, &a->p, "tokens");
		return;
	}
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "tokens", tokens);
	if (strcmp(field(a, "done"), "deleted") == 0 && name_valid(field(a, "name")))
		bl_tval_set(data, "notice",
		            bl_tval_stringf("Token \u201c%s\u201d deleted: it no longer works.",
		                            field(a, "name")));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	nav(data, "tokens");
	bl_admin_page(req, resp, status, "tokens", "API tokens", &a->p, data);
}

static void tokens_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, 0);
	if (!a)
		return;
	tokens_page(req, resp, a, NULL, 200);
	admin_free(a);
}

/* POST /admin/tokens/new: name, role; the token is shown once, stored as its SHA-256. */
static void tokens_new(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, WRITE);
	enum bl_role role;
	if (!a)
		return;
	const char *name = field(a, "name");
	if (!name_valid(name)) {
		tokens_page(req, resp, a,
		            "A token name is 1 to 64 characters of A-Z, a-z, 0-9, . _ @ -.", 422);
	} else if (bl_role_parse(field(a, "role"), &role)) {
		tokens_page(req, resp, a, "Choose a role: viewer, editor or admin.", 422);
	} else {
		char secret[BL_API_TOKEN_LEN], hex[BL_HASH_HEX];
		bl_api_token_generate(secret);
		bl_sha256_hex(secret, strlen(secret), hex);
		struct bl_api_token t = {.name = (char *)name, .role = role};
		int rc = req->store->ops->token_create(req->store, &t, hex);
		if (rc == -BL_EEXIST) {
			tokens_page(req, resp, a, "A token with this name exists already.", 409);
		} else if (rc) {
			store_failed(req, resp, &a->p, "token create");
		} else {
			char target[BL_USER_NAME_MAX + 8];
			snprintf(target, sizeof(target), "token:%s", name);
			bl_audit(req, &a->p, "token.create", target, "%s", bl_role_name(role));
			secret_page(req, resp, a, "Token created", "API token", name, secret,
			            "tokens");
		}
		bl_memzero(secret, sizeof(secret));
	}
	admin_free(a);
}

/* POST /admin/tokens/NAME/delete */
static void tokens_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, WRITE);
	char name[BL_USER_NAME_MAX + 1];
	if (!a)
		return;
	const char *slash = strrchr(req->param, '/');
	size_t n = slash ? (size_t)(slash - req->param) : 0;
	if (!slash || strcmp(slash, "/delete") != 0 || n == 0 || n > BL_USER_NAME_MAX) {
		not_found(req, resp, &a->p);
		admin_free(a);
		return;
	}
	memcpy(name, req->param, n);
	name[n] = 0;
	int rc = name_valid(name) ? req->store->ops->token_delete(req->store, name) : 0;
	if (rc < 0) {
		store_failed(req, resp, &a->p, "token delete");
	} else if (rc == 0) {
		not_found(req, resp, &a->p);
	} else {
		char target[BL_USER_NAME_MAX + 8];
		snprintf(target, sizeof(target), "token:%s", name);
		bl_audit(req, &a->p, "token.delete", target, NULL);
		redirect(req, resp, "/tokens?done=deleted&name=%s", name);
	}
	admin_free(a);
}

/* ---- feeds (issue 6) ---- */

/* The poll intervals the add form offers, seconds (the API takes any from
 * BL_FEED_EVERY_MIN to a week). */
static const struct {
	int64_t seconds;
	const char *label;
} every_choices[] = {
    {300, "5 minutes"},  {900, "15 minutes"}, {1800, "30 minutes"},
    {3600, "1 hour"},    {10800, "3 hours"},  {21600, "6 hours"},
    {43200, "12 hours"}, {86400, "1 day"},    {604800, "1 week"},
};
#define FEED_EVERY_MAX    604800 /* seconds: a week, as the API */
#define FEED_BACKFILL_MAX 1000   /* items, as the API */

/* "." when @s does not end a sentence itself, else "" (for "%s%s" messages). */
static const char *stop(const char *s)
{
	size_t n = strlen(s);
	return n && strchr(".!?", s[n - 1]) ? "" : ".";
}

/* A poll interval in words: "15 minutes", "2 hours", "90 seconds". */
static struct bl_tval *every_text(int64_t s)
{
	for (size_t i = 0; i < sizeof(every_choices) / sizeof(every_choices[0]); i++)
		if (every_choices[i].seconds == s)
			return bl_tval_string(every_choices[i].label);
	static const struct {
		int64_t unit;
		const char *one, *many;
	} units[] = {{86400, "day", "days"}, {3600, "hour", "hours"}, {60, "minute", "minutes"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (s >= units[i].unit && s % units[i].unit == 0)
			return bl_tval_stringf("%lld %s", (long long)(s / units[i].unit),
			                       s == units[i].unit ? units[i].one : units[i].many);
	return bl_tval_stringf("%lld seconds", (long long)s);
}

/* What the add form holds: the typed values, shown again after an error. */
struct feed_form {
	const char *url;
	enum bl_feed_mode mode;
	int64_t every, backfill;
	int breaking;
	struct id_set lists; /* checked lists */
};

struct feed_rows {
	struct bl_http_req *req;
	struct bl_tval *rows;
	int64_t notice_id; /* the feed a ?done= notice names (0: none) */
	char *notice_url;  /* its URL, from the store (malloc'd) */
	int failed;
};

static int add_feed_slug(void *arg, const struct bl_list *l)
{
	struct bl_tval *o = bl_tval_map();
	bl_tval_set(o, "slug", bl_tval_string(l->slug));
	bl_tval_push(arg, o);
	return 0;
}

/* A feed as a row of the table (the store passes it borrowed). */
static int add_feed_row(void *arg, const struct bl_feed *f)
{
	struct feed_rows *fr = arg;
	struct bl_store *s = fr->req->store;
	struct bl_tval *r = bl_tval_map(), *lists = bl_tval_list();
	if (s->ops->feed_lists(s, f->id, add_feed_slug, lists)) {
		bl_tval_destroy(lists);
		bl_tval_destroy(r);
		fr->failed = 1;
		return 1;
	}
	bl_tval_set(r, "id", num(f->id));
	bl_tval_set(r, "url", bl_tval_string(f->url ? f->url : ""));
	bl_tval_set(r, "title", bl_tval_string(f->title ? f->title : ""));
	bl_tval_set(r, "feed_lists", lists);
	bl_tval_set(r, "mode", bl_tval_string(bl_feed_mode_name(f->mode)));
	bl_tval_set(r, "breaking", bl_tval_bool(f->breaking));
	bl_tval_set(r, "every", every_text(f->every));
	bl_tval_set(r, "last_ok", f->ok_at ? when(f->ok_at) : bl_tval_string("never"));
	bl_tval_set(r, "next_poll", when(f->next_poll_at));
	bl_tval_set(r, "failures", num(f->failures));
	bl_tval_set(r, "failing", bl_tval_bool(f->failures > 0));
	bl_tval_set(r, "last_error", bl_tval_string(f->last_error ? f->last_error : ""));
	bl_tval_set(r, "items", num(f->items));
	bl_tval_set(r, "posts", num(f->posts));
	bl_tval_push(fr->rows, r);
	if (f->id == fr->notice_id && !fr->notice_url)
		fr->notice_url = bl_xstrdup(f->url ? f->url : "");
	return 0;
}

/*
 * The feeds page: the table, and for an editor the add form with @form's
 * values (NULL: the defaults). @error (NULL: none) is the form's error;
 * @notice (NULL: none) a line above the table, @alert marking it as a
 * failure (a poll that failed).
 */
static void feeds_page(struct bl_http_req *req, struct bl_http_resp *resp, struct admin *a,
                       const struct feed_form *form, const char *error, const char *notice,
                       int alert, int status)
{
	struct bl_store *s = req->store;
	struct feed_rows fr = {.req = req, .rows = bl_tval_list()};
	const char *done = field(a, "done");
	long long nid = 0;
	if (strcmp(done, "created") == 0 && !bl_parse_int64(field(a, "id"), 1, INT64_MAX, &nid))
		fr.notice_id = nid;
	if (s->ops->feed_each(s, add_feed_row, &fr) < 0 || fr.failed) {
		bl_tval_destroy(fr.rows);
		free(fr.notice_url);
		store_failed(req, resp, &a->p, "feeds");
		return;
	}
	struct lists_acc la;
	if (load_lists(s, &la)) {
		lists_free(&la);
		bl_tval_destroy(fr.rows);
		free(fr.notice_url);
		store_failed(req, resp, &a->p, "lists");
		return;
	}
	struct feed_form dflt = {.mode = BL_FEED_SEND, .every = BL_FEED_EVERY_DEFAULT};
	if (!form)
		form = &dflt;
	struct bl_tval *data = bl_tval_map(), *lists = bl_tval_list(), *every = bl_tval_list();
	for (size_t i = 0; i < la.n; i++) {
		struct bl_tval *o = bl_tval_map();
		int on = 0;
		for (size_t k = 0; k < form->lists.n; k++)
			on |= form->lists.v[k] == la.v[i].id;
		bl_tval_set(o, "slug", bl_tval_string(la.v[i].slug));
		bl_tval_set(o, "name", bl_tval_string(la.v[i].name));
		bl_tval_set(o, "checked", bl_tval_bool(on));
		bl_tval_push(lists, o);
	}
	bl_tval_set(data, "no_lists", bl_tval_bool(la.n == 0));
	lists_free(&la);
	for (size_t i = 0; i < sizeof(every_choices) / sizeof(every_choices[0]); i++) {
		struct bl_tval *o = bl_tval_map();
		bl_tval_set(o, "seconds", num(every_choices[i].seconds));
		bl_tval_set(o, "label", bl_tval_string(every_choices[i].label));
		bl_tval_set(o, "selected", bl_tval_bool(every_choices[i].seconds == form->every));
		bl_tval_push(every, o);
	}
	bl_tval_set(data, "feeds", fr.rows);
	bl_tval_set(data, "lists", lists);
	bl_tval_set(data, "every_choices", every);
	struct bl_tval *v = bl_tval_map();
	bl_tval_set(v, "url", bl_tval_string(form->url ? form->url : ""));
	bl_tval_set(v, "draft", bl_tval_bool(form->mode == BL_FEED_DRAFT));
	bl_tval_set(v, "breaking", bl_tval_bool(form->breaking));
	bl_tval_set(v, "backfill", num(form->backfill));
	bl_tval_set(data, "form", v);
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	if (notice && alert)
		bl_tval_set(data, "poll_error", bl_tval_string(notice));
	else if (notice)
		bl_tval_set(data, "notice", bl_tval_string(notice));
	else if (fr.notice_url)
		bl_tval_set(
		    data, "notice",
		    bl_tval_stringf("Feed \u201c%s\u201d added. Its first poll marks the items "
		                    "already there as seen; later items become posts.",
		                    fr.notice_url));
	free(fr.notice_url);
	nav(data, "feeds");
	bl_admin_page(req, resp, status, "feeds", "Feeds", &a->p, data);
}

static void feeds_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	if (!a)
		return;
	feeds_page(req, resp, a, NULL, NULL, NULL, 0, 200);
	admin_free(a);
}

/*
 * Read the add form into @f (strings borrowed from @a): NULL, or an error
 * in words a publisher can act on (in @err, @size bytes, or static). The
 * checks are the API's (POST /api/v1/feeds).
 */
static const char *read_feed_form(struct bl_http_req *req, struct admin *a, struct feed_form *f,
                                  char *err, size_t size)
{
	const char *slugs[MAX_LISTS], *why = NULL;
	struct bl_diag d;
	long long v;
	f->url = field(a, "url");
	size_t n = bl_form_get_all(&a->form, "list", slugs, MAX_LISTS);
	for (size_t i = 0; i < n; i++) {
		struct bl_list l;
		int rc = bl_slug_valid(slugs[i])
		             ? req->store->ops->list_get(req->store, slugs[i], &l)
		             : 0;
		if (rc < 0)
			return "The store could not look the lists up. Please try again in a "
			       "moment.";
		if (rc == 0) {
			if (!why) {
				snprintf(err, size, "There is no list \u201c%s\u201d (any more).",
				         slugs[i]);
				why = err;
			}
			continue;
		}
		f->lists.v[f->lists.n++] = l.id;
		bl_list_clear(&l);
	}
	f->breaking = strcmp(field(a, "breaking"), "1") == 0;
	if (bl_feed_mode_parse(field(a, "mode"), &f->mode))
		return "The mode must be send or draft.";
	if (bl_parse_int64(field(a, "every"), BL_FEED_EVERY_MIN, FEED_EVERY_MAX, &v))
		return "Choose how often to poll: from every minute to once a week.";
	f->every = v;
	const char *bf = field(a, "backfill");
	if (*bf && bl_parse_int64(bf, 0, FEED_BACKFILL_MAX, &v))
		return "Backfill is a number of items from 0 to 1000.";
	f->backfill = *bf ? v : 0;
	if (!*f->url)
		return "The feed needs a URL.";
	if (bl_feed_url_normalize(f->url, NULL, &d)) {
		snprintf(err, size, "The URL is not usable: %s%s", d.msg, stop(d.msg));
		return err;
	}
	if (why)
		return why;
	if (f->lists.n == 0)
		return "Choose at least one list for the feed's posts.";
	return NULL;
}

/* POST /admin/feeds/new: url, list (repeated), mode, every, breaking, backfill. */
static void feeds_new(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_EDITOR, WRITE);
	if (!a)
		return;
	struct feed_form form = {.mode = BL_FEED_SEND, .every = BL_FEED_EVERY_DEFAULT};
	char errbuf[BL_DIAG_MAX + 64];
	const char *err = read_feed_form(req, a, &form, errbuf, sizeof(errbuf));
	if (err) {
		feeds_page(req, resp, a, &form, err, NULL, 0, 422);
		admin_free(a);
		return;
	}
	char *norm = NULL; /* checked by read_feed_form: its one spelling */
	if (bl_feed_url_normalize(form.url, &norm, NULL))
		norm = bl_xstrdup(form.url);
	struct bl_feed f = {.url = norm,
	                    .mode = form.mode,
	                    .every = form.every,
	                    .breaking = form.breaking,
	                    .backfill = form.backfill,
	                    .created_at = bl_now()};
	int rc = req->store->ops->feed_create(req->store, &f, form.lists.v, form.lists.n);
	if (rc == -BL_EEXIST) {
		feeds_page(req, resp, a, &form, "A feed with this URL exists already.", NULL, 0,
		           409);
	} else if (rc == -BL_ENOENT) {
		feeds_page(req, resp, a, &form,
		           "A list was deleted meanwhile; choose the lists again.", NULL, 0, 409);
	} else if (rc) {
		store_failed(req, resp, &a->p, "feed create");
	} else {
		char target[48];
		snprintf(target, sizeof(target), "feed:%lld", (long long)f.id);
		bl_audit(req, &a->p, "feed.add", target, "%s, %s", norm,
		         bl_feed_mode_name(form.mode));
		redirect(req, resp, "/feeds?done=created&id=%lld", (long long)f.id);
	}
	free(norm);
	admin_free(a);
}

/* POST /admin/feeds/ID/delete and /admin/feeds/ID/poll. */
static void feeds_one(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_EDITOR, WRITE);
	const char *rest = "";
	struct bl_feed f = {0};
	if (!a)
		return;
	int64_t id = leading_id(req->param, &rest);
	int rc = id && (strcmp(rest, "/delete") == 0 || strcmp(rest, "/poll") == 0)
	             ? req->store->ops->feed_get(req->store, id, &f)
	             : 0;
	char target[48];
	snprintf(target, sizeof(target), "feed:%lld", (long long)id);
	if (rc < 0) {
		store_failed(req, resp, &a->p, "feed get");
	} else if (rc == 0) {
		not_found(req, resp, &a->p);
	} else if (strcmp(rest, "/delete") == 0) {
		rc = req->store->ops->feed_delete(req->store, id);
		if (rc < 0) {
			store_failed(req, resp, &a->p, "feed delete");
		} else if (rc == 0) {
			not_found(req, resp, &a->p);
		} else {
			bl_audit(req, &a->p, "feed.rm", target, "%s", f.url);
			redirect(req, resp, "/feeds?done=deleted");
		}
	} else {
		struct bl_fetch_opts fo;
		struct bl_feed_poll_report r;
		struct bl_diag d;
		bl_web_fetch_opts(web_of(req)->config, &fo);
		rc = bl_feed_poll(req->store, id, &fo, bl_now(), &r, &d);
		if (rc == -BL_ENOENT) {
			not_found(req, resp, &a->p);
		} else if (rc) {
			bl_error("admin: feed poll: %s", d.msg);
			admin_error(req, resp, &a->p, 500, "Something went wrong",
			            "The store could not record the poll. Please try again in a "
			            "moment.");
		} else {
			bl_audit(req, &a->p, "feed.poll", target, "%s", r.failed ? r.error : "ok");
			char msg[BL_DIAG_MAX + 2400], next[BL_TIME_STRMAX];
			const char *name = *f.title ? f.title : f.url, *why = r.error;
			size_t ul = strlen(f.url);
			/* the fetcher's message may start with the URL, named already */
			if (strncmp(why, f.url, ul) == 0 && why[ul] == ':' && why[ul + 1] == ' ')
				why += ul + 2;
			bl_time_format(r.next_poll_at, next);
			if (r.failed)
				snprintf(
				    msg, sizeof(msg),
				    "Polling \u201c%s\u201d failed: %s%s The next try is at %.10s "
				    "%.5s UTC.",
				    name, why, stop(why), next, next + 11);
			else if (r.not_modified)
				snprintf(msg, sizeof(msg),
				         "Polled \u201c%s\u201d: not changed since the last poll.",
				         name);
			else
				snprintf(
				    msg, sizeof(msg),
				    "Polled \u201c%s\u201d: %lld item%s, %lld new, %lld post%s "
				    "made.",
				    name, (long long)r.items, r.items == 1 ? "" : "s",
				    (long long)r.new_items, (long long)r.posts,
				    r.posts == 1 ? "" : "s");
			feeds_page(req, resp, a, NULL, NULL, msg, r.failed, 200);
		}
	}
	bl_feed_clear(&f);
	admin_free(a);
}

/* ---- bounces and complaints (issue 7) ---- */

/* Text from a report (a stranger wrote it) as a template string: what HTML accepts, each
 * bad byte or control character as U+FFFD (bl_utf8_scrub); Mustache escapes the rest. */
static struct bl_tval *report_text(const char *s)
{
	size_t n = strlen(s);
	if (bl_utf8_clean(s, n))
		return bl_tval_string(s);
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_utf8_scrub(s, n, &b);
	struct bl_tval *v = bl_tval_string(bl_buf_str(&b));
	bl_buf_finish(&b);
	return v;
}

struct finding_rows {
	struct bl_http_req *req;
	struct bl_tval *rows;
	size_t n;
	int64_t last_id;
};

static int add_finding(void *arg, const struct bl_bounce_row *b)
{
	struct finding_rows *fr = arg;
	const char *base = admin_base(fr->req);
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "id", num(b->id));
	bl_tval_set(r, "at", when(b->received_at));
	bl_tval_set(r, "class", bl_tval_string(bl_bounce_class_name(b->cls)));
	bl_tval_set(r, "delay", bl_tval_bool(!b->final));
	bl_tval_set(r, "source", report_text(b->source));
	bl_tval_set(r, "recipient", report_text(*b->recipient ? b->recipient : "(none)"));
	bl_tval_set(r, "status", report_text(b->status));
	bl_tval_set(r, "reply_code", bl_tval_string(""));
	if (b->reply_code)
		bl_tval_set(r, "reply_code", bl_tval_stringf("%d", b->reply_code));
	bl_tval_set(r, "diagnostic", report_text(b->diagnostic));
	bl_tval_set(r, "feedback_type", report_text(b->feedback_type));
	bl_tval_set(r, "action", report_text(b->action));
	bl_tval_set(r, "review", report_text(b->review));
	if (b->post_id) {
		bl_tval_set(r, "post_id", num(b->post_id));
		bl_tval_set(r, "post_url",
		            bl_tval_stringf("%s/admin/posts/%lld", base, (long long)b->post_id));
	}
	if (b->subscriber_id) {
		bl_tval_set(r, "subscriber_id", num(b->subscriber_id));
		bl_tval_set(r, "subscriber_url",
		            bl_tval_stringf("%s/admin/subscribers/%lld", base,
		                            (long long)b->subscriber_id));
	}
	bl_tval_push(fr->rows, r);
	fr->n++;
	fr->last_id = b->id;
	return 0;
}

/* GET /admin/bounces[?review=1][&post=ID][&before=ID]: stored findings, newest first; the
 * review bucket (reports no delivery could be found for, with the reason) on its own. */
static void bounces_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	long long before = 0, post = 0;
	if (!a)
		return;
	if (*field(a, "before"))
		bl_parse_int64(field(a, "before"), 0, INT64_MAX, &before);
	if (*field(a, "post"))
		bl_parse_int64(field(a, "post"), 0, INT64_MAX, &post);
	int review = strcmp(field(a, "review"), "1") == 0;
	struct bl_bounce_filter f = {
	    .post_id = post, .review_only = review, .before_id = before, .limit = PAGE_SIZE};
	struct finding_rows fr = {.req = req, .rows = bl_tval_list()};
	if (req->store->ops->bounce_each(req->store, &f, add_finding, &fr) < 0) {
		bl_tval_destroy(fr.rows);
		store_failed(req, resp, &a->p, "bounces");
		admin_free(a);
		return;
	}
	const char *base = admin_base(req);
	char filter[64];
	if (post)
		snprintf(filter, sizeof(filter), "review=%d&post=%lld", review, post);
	else
		snprintf(filter, sizeof(filter), "review=%d", review);
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "findings", fr.rows);
	bl_tval_set(data, "empty", bl_tval_bool(fr.n == 0));
	bl_tval_set(data, "review", bl_tval_bool(review));
	if (post) {
		bl_tval_set(data, "post_id", num(post));
		bl_tval_set(data, "post_url", bl_tval_stringf("%s/admin/posts/%lld", base, post));
	}
	bl_tval_set(data, "self_url", bl_tval_stringf("%s/admin/bounces", base));
	bl_tval_set(data, "paged", bl_tval_bool(before > 0));
	bl_tval_set(data, "first_url", bl_tval_stringf("%s/admin/bounces?%s", base, filter));
	if (fr.n == PAGE_SIZE)
		bl_tval_set(data, "next_url",
		            bl_tval_stringf("%s/admin/bounces?%s&before=%lld", base, filter,
		                            (long long)fr.last_id));
	nav(data, "bounces");
	bl_admin_page(req, resp, 200, "bounces", review ? "Bounces to review" : "Bounces", &a->p,
	              data);
	admin_free(a);
}

/* ---- audit log (admin) ---- */

struct audit_rows {
	struct bl_tval *rows;
	size_t n;
	int64_t last_id;
};

static int add_audit(void *arg, const struct bl_audit *e)
{
	struct audit_rows *ar = arg;
	struct bl_tval *r = bl_tval_map();
	bl_tval_set(r, "id", num(e->id));
	bl_tval_set(r, "at", when(e->at));
	bl_tval_set(r, "actor", bl_tval_string(e->actor));
	bl_tval_set(r, "action", bl_tval_string(e->action));
	bl_tval_set(r, "target", bl_tval_string(e->target));
	bl_tval_set(r, "detail", bl_tval_string(e->detail));
	bl_tval_set(r, "ip", bl_tval_string(e->ip));
	bl_tval_push(ar->rows, r);
	ar->n++;
	ar->last_id = e->id;
	return 0;
}

static void audit_route(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_ADMIN, 0);
	long long before = 0;
	if (!a)
		return;
	if (*field(a, "before"))
		bl_parse_int64(field(a, "before"), 0, INT64_MAX, &before);
	struct audit_rows ar = {.rows = bl_tval_list()};
	if (req->store->ops->audit_each(req->store, before, PAGE_SIZE, add_audit, &ar) < 0) {
		bl_tval_destroy(ar.rows);
		store_failed(req, resp, &a->p, "audit log");
		admin_free(a);
		return;
	}
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "entries", ar.rows);
	bl_tval_set(data, "empty", bl_tval_bool(ar.n == 0));
	bl_tval_set(data, "paged", bl_tval_bool(before > 0));
	bl_tval_set(data, "first_url", bl_tval_stringf("%s/admin/audit", admin_base(req)));
	if (ar.n == PAGE_SIZE)
		bl_tval_set(data, "next_url",
		            bl_tval_stringf("%s/admin/audit?before=%lld", admin_base(req),
		                            (long long)ar.last_id));
	nav(data, "audit");
	bl_admin_page(req, resp, 200, "audit", "Audit log", &a->p, data);
	admin_free(a);
}

/* ---- login and logout ---- */

/*
 * Whether @next is a path of the admin UI to go to after login (never another
 * site, never a header break): "/admin" alone or followed by '/' or '?',
 * under 1024 bytes of printable ASCII (0x21..0x7E) without a backslash or
 * "//". It goes into Location as it is, so anything else (a control
 * character, a space, UTF-8 that a browser might strip or fold into "//")
 * is refused, and the caller goes to /admin instead.
 */
static int next_ok(const char *next)
{
	size_t n = strlen(next);
	if (n >= 1024 || strncmp(next, "/admin", 6) != 0 ||
	    (next[6] != 0 && next[6] != '/' && next[6] != '?'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)next[i];
		if (c < 0x21 || c > 0x7e || c == '\\')
			return 0;
	}
	return strstr(next, "//") == NULL;
}

/* How long a login form stays good: its nonce cookie's Max-Age, seconds. */
#define LOGIN_NONCE_TTL 1800

/*
 * Login CSRF (an attacker's page logging a browser in as the attacker): the
 * login page's form carries a random nonce in the field "csrf" and the same
 * nonce in the cookie BL_LOGIN_COOKIE (HttpOnly, SameSite=Strict, so a
 * cross-site POST does not carry it); a login POST needs both, equal.
 * login_nonce_new makes one, sets its cookie on @resp and returns it in @out.
 */
static void login_nonce_new(struct bl_http_req *req, struct bl_http_resp *resp,
                            char out[BL_RANDOM_ID_LEN])
{
	bl_random_id(out);
	bl_http_add_header(
	    resp, "Set-Cookie", "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
	    BL_LOGIN_COOKIE, out, LOGIN_NONCE_TTL, web_of(req)->secure_cookies ? "; Secure" : "");
}

/* 1 when the form's nonce @field equals the request's login cookie (constant time). */
static int login_nonce_ok(struct bl_http_req *req, const char *field)
{
	const char *c = bl_http_cookie(req, BL_LOGIN_COOKIE);
	if (!field || !bl_random_id_valid(c) || strlen(field) != strlen(c))
		return 0;
	return bl_constant_time_eq(c, field, strlen(c));
}

/* The login page, with a new nonce (and its cookie) in its form. */
static void login_page(struct bl_http_req *req, struct bl_http_resp *resp, int status,
                       const char *next, const char *name, const char *error, int retry_after)
{
	struct bl_tval *data = bl_tval_map();
	char nonce[BL_RANDOM_ID_LEN];
	login_nonce_new(req, resp, nonce);
	bl_tval_set(data, "csrf", bl_tval_string(nonce));
	bl_tval_set(data, "next", bl_tval_string(next_ok(next) ? next : "/admin"));
	bl_tval_set(data, "name", bl_tval_string(name));
	if (error)
		bl_tval_set(data, "error", bl_tval_string(error));
	if (retry_after > 0)
		bl_tval_set(data, "retry_after", num(retry_after));
	bl_admin_page(req, resp, status, "login", "Log in", NULL, data);
}

void bl_admin_login(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_form *f = bl_xcalloc(1, sizeof(*f));
	struct bl_diag d;
	struct bl_principal p;
	const char *src = req->method == BL_HTTP_POST ? req->body : req->query;
	size_t len = req->method == BL_HTTP_POST ? req->body_len : strlen(req->query);

	if (bl_form_parse(src, len, f, &d)) {
		login_page(req, resp, 400, "", "", d.msg, 0);
		free(f);
		return;
	}
	const char *next = bl_form_get(f, "next"), *name = bl_form_get(f, "name");
	const char *pw = bl_form_get(f, "password");
	if (!next || !next_ok(next))
		next = "/admin";
	if (req->method != BL_HTTP_POST) {
		int rc = bl_auth_session(req, &p);
		if (rc == 1)
			redirect(req, resp, "%s", next + 6);
		else
			login_page(req, resp, 200, next, "", NULL, 0);
	} else if (!login_nonce_ok(req, bl_form_get(f, "csrf"))) {
		/* before the budgets: a forged login costs its victim nothing */
		login_page(req, resp, 403, next, name ? name : "",
		           "The login form had expired or was not sent from this page. Nothing "
		           "was checked; log in again.",
		           0);
	} else if (!name || !*name || !pw || !*pw) {
		login_page(req, resp, 422, next, name ? name : "",
		           "Give your user name and password.", 0);
	} else {
		size_t pwlen = 0;
		for (size_t i = 0; i < f->n; i++)
			if (f->f[i].value == pw)
				pwlen = f->f[i].value_len;
		int rc = bl_auth_login(req, resp, name, pw, pwlen, &p);
		if (rc == -BL_ELIMIT) {
			int retry = 0;
			for (size_t i = 0; i < resp->n_headers; i++)
				if (strcmp(resp->headers[i].name, "Retry-After") == 0)
					retry = atoi(resp->headers[i].value);
			login_page(req, resp, 429, next, name,
			           "Too many login attempts. Wait a while before you try again.",
			           retry);
		} else if (rc < 0) {
			admin_error(
			    req, resp, NULL, 500, "Something went wrong",
			    "The login could not be checked. Please try again in a moment.");
		} else if (rc == 0) {
			login_page(req, resp, 200, next, name, "Wrong user name or password.", 0);
		} else {
			/* the nonce has done its work */
			bl_http_add_header(resp, "Set-Cookie",
			                   "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
			                   BL_LOGIN_COOKIE,
			                   web_of(req)->secure_cookies ? "; Secure" : "");
			redirect(req, resp, "%s", next + 6);
		}
	}
	bl_form_clear(f);
	free(f);
}

void bl_admin_logout(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_principal p;
	struct bl_form *f = bl_xcalloc(1, sizeof(*f));
	struct bl_diag d;
	int rc = bl_auth_session(req, &p);
	if (rc == 1 && (bl_form_parse(req->body, req->body_len, f, &d) ||
	                !bl_auth_csrf_ok(&p, bl_form_get(f, "csrf")))) {
		admin_error(req, resp, &p, 403, "Forbidden",
		            "The form was stale or not sent from this site (CSRF token missing or "
		            "wrong). You are still logged in.");
	} else if (rc < 0 || bl_auth_logout(req, resp) < 0) {
		admin_error(req, resp, NULL, 500, "Something went wrong",
		            "The session could not be ended. Please try again in a moment.");
	} else {
		redirect(req, resp, "/login");
	}
	bl_form_clear(f);
	free(f);
}

/* ---- the route table ---- */

static void admin_not_found(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct admin *a = enter(req, resp, BL_ROLE_VIEWER, 0);
	if (!a)
		return;
	not_found(req, resp, &a->p);
	admin_free(a);
}

#define GP (BL_HTTP_GET | BL_HTTP_POST)

static const struct bl_http_route admin_routes[] = {
    {BL_HTTP_GET, "/admin", 0, "admin", dashboard, 0},
    {BL_HTTP_GET, "/admin/", 0, "admin", dashboard, 0},
    {BL_HTTP_GET, "/admin/static/admin.css", 0, "admin_static", admin_css, 0},
    {BL_HTTP_GET, "/admin/static/admin.js", 0, "admin_static", admin_js, 0},
    {GP, "/admin/login", 0, "admin_login", bl_admin_login, 0},
    {BL_HTTP_POST, "/admin/logout", 0, "admin_logout", bl_admin_logout, 0},
    {BL_HTTP_GET, "/admin/lists", 0, "admin_lists", lists_route, 0},
    {GP, "/admin/lists/new", 0, "admin_lists", lists_new, 0},
    {GP, "/admin/lists/", 1, "admin_lists", lists_one, 0},
    {BL_HTTP_GET, "/admin/subscribers", 0, "admin_subscribers", subscribers_route, 0},
    {BL_HTTP_POST, "/admin/subscribers/new", 0, "admin_subscribers", subscribers_new, 0},
    {GP, "/admin/subscribers/", 1, "admin_subscribers", subscribers_one, 0},
    {GP, "/admin/import", 0, "admin_import", import_route, BL_API_IMPORT_MAX},
    {BL_HTTP_GET, "/admin/jobs/", 1, "admin_jobs", jobs_one, 0},
    {BL_HTTP_GET, "/admin/posts", 0, "admin_posts", posts_index, 0},
    {GP, "/admin/posts/new", 0, "admin_posts", posts_new, COMPOSER_BODY_MAX},
    {GP, "/admin/posts/", 1, "admin_posts", posts_one, COMPOSER_BODY_MAX},
    {BL_HTTP_GET, "/admin/feeds", 0, "admin_feeds", feeds_route, 0},
    {BL_HTTP_POST, "/admin/feeds/new", 0, "admin_feeds", feeds_new, 0},
    {BL_HTTP_POST, "/admin/feeds/", 1, "admin_feeds", feeds_one, 0},
    {BL_HTTP_GET, "/admin/users", 0, "admin_users", users_route, 0},
    {BL_HTTP_POST, "/admin/users/new", 0, "admin_users", users_new, 0},
    {BL_HTTP_POST, "/admin/users/", 1, "admin_users", users_one, 0},
    {BL_HTTP_GET, "/admin/tokens", 0, "admin_tokens", tokens_route, 0},
    {BL_HTTP_POST, "/admin/tokens/new", 0, "admin_tokens", tokens_new, 0},
    {BL_HTTP_POST, "/admin/tokens/", 1, "admin_tokens", tokens_one, 0},
    {BL_HTTP_GET, "/admin/bounces", 0, "admin_bounces", bounces_route, 0},
    {BL_HTTP_GET, "/admin/audit", 0, "admin_audit", audit_route, 0},
    {BL_HTTP_GET, "/admin/", 1, "admin_not_found", admin_not_found, 0},
};

const struct bl_http_route *bl_admin_routes(size_t *n)
{
	*n = sizeof(admin_routes) / sizeof(admin_routes[0]);
	return admin_routes;
}

void bl_admin_configure(struct bl_http_route *routes, size_t n, size_t import_max)
{
	for (size_t i = 0; i < n; i++)
		if (routes[i].fn == import_route)
			routes[i].body_max = import_max;
}
