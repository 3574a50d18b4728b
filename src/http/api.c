/*
 * The JSON API under /api/v1/ (admin.h): lists, subscribers and their
 * subscriptions, imports (asynchronous jobs), export, posts and their
 * deliveries, stats, and (admins only) users, API tokens and the audit log.
 * The HTTP core sees two prefix routes; the dispatcher here matches the
 * request's path against the endpoint table (bl_api_endpoints, the same
 * table the OpenAPI test compares with templates/api/openapi.json), then
 * checks, in order: who is asking (401), the role (403), the CSRF header of
 * a session's write (403), the body's type (415) and syntax (400). Errors
 * are RFC 9457 problem details; every write is audited (bl_audit).
 */
#include "http/admin.h"

#include "store/json.h"
#include "bounce/summary.h"
#include "config/config.h"
#include "core/address.h"
#include "core/crypto.h"
#include "core/json.h"
#include "feed/poll.h"
#include "http/web.h"
#include "import/export.h"
#include "import/import.h"
#include "render/markdown.h"
#include "send/compose.h"
#include "send/engine.h"
#include "send/transport.h"
#include "tmpl/tmpl.h"
#include "util/embedded.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <errno.h>
#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

extern const struct bl_embedded bl_api_templates[];

#define PREFIX     "/api/v1/"
#define MAX_SEGS   8
#define LIMIT_DFLT 50
#define LIMIT_MAX  1000
#define POST_LISTS 64  /* lists one post may name (as `post create`) */
#define FROM_MAX   500 /* bytes of a post's own sender (as `post create --from`) */
/* The largest request body of POST /posts and PATCH /posts/{id}, bytes: a
 * BL_BODY_MAX Markdown body written wholly in \\uXXXX escapes (6 bytes a
 * byte, JSON's worst case) and 64 KiB for the other members. The decoded
 * body's own limit stays BL_BODY_MAX (422). */
#define POST_BODY_MAX ((size_t)6 * BL_BODY_MAX + ((size_t)64 << 10))
#define JSON_TYPE     "application/json"
#define PROBLEM       "application/problem+json"
#define TYPE_PREFIX   "urn:bulletin:problem:"
#define DB_FAILED                                                                                  \
	"The database failed; try again, and if it keeps failing, the server's log says why."

/* Failed authentications per client IP: AUTH_BURST at once, then AUTH_PER_HOUR. */
#define AUTH_BURST    30
#define AUTH_PER_HOUR 120

struct bl_api_call {
	struct bl_http_req *req;
	struct bl_http_resp *resp;
	struct bl_store *s;
	struct bl_web *w; /* NULL in a server without the web app (then: no config) */
	struct bl_principal who;
	const char *arg[MAX_SEGS]; /* the {placeholders} of the path, in order */
	size_t n_arg;
	struct bl_form q; /* the query */
	json_t *body;     /* a JSON body (an object), or NULL */
	int64_t now;
};

/* ---- responses ---- */

static void reply(struct bl_api_call *c, int status, json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(o);
	c->resp->status = status;
	c->resp->content_type = JSON_TYPE;
	bl_buf_adds(&c->resp->body, t ? t : "null");
	bl_buf_addc(&c->resp->body, '\n');
	free(t);
}

static const char *status_title(int status)
{
	switch (status) {
	case 400:
		return "Bad request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not found";
	case 405:
		return "Method not allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Request body too large";
	case 415:
		return "Unsupported media type";
	case 422:
		return "Validation failed";
	case 429:
		return "Too many requests";
	default:
		return "Internal server error";
	}
}

/* @text (a buffer of @size bytes) as a sentence: a full stop added when it
 * ends without one (messages from below end bare: "line 1: unclosed tag"). */
static void full_stop(char *text, size_t size)
{
	size_t n = strlen(text);
	if (n && !strchr(".?!", text[n - 1]) && n + 1 < size) {
		text[n] = '.';
		text[n + 1] = '\0';
	}
}

/* A problem (RFC 9457 §3) with @status, type TYPE_PREFIX@kind, the status's
 * title and detail printf(@fmt); @errors (consumed, may be NULL) is the
 * extension member listing the fields at fault. */
static void problemv(struct bl_api_call *c, int status, const char *kind, json_t *errors,
                     const char *fmt, va_list ap)
{
	char detail[1024];
	vsnprintf(detail, sizeof(detail), fmt, ap);
	full_stop(detail, sizeof(detail));
	char type[96];
	snprintf(type, sizeof(type), TYPE_PREFIX "%s", kind);
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "title", json_string(status_title(status)));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "detail",
	                    json_string(bl_utf8_valid(detail, strlen(detail), NULL)
	                                    ? detail
	                                    : "(detail not UTF-8)"));
	if (errors)
		json_object_set_new(o, "errors", errors);
	reply(c, status, o);
	c->resp->content_type = PROBLEM;
}

static void problem_with(struct bl_api_call *c, int status, const char *kind, json_t *errors,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem_with(struct bl_api_call *c, int status, const char *kind, json_t *errors,
                         const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	problemv(c, status, kind, errors, fmt, ap);
	va_end(ap);
}

static void problem(struct bl_api_call *c, int status, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(struct bl_api_call *c, int status, const char *kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	problemv(c, status, kind, NULL, fmt, ap);
	va_end(ap);
}

/* 422 with @errs (consumed): [{"pointer":"/field","detail":"..."}], each
 * detail a sentence naming its field; the problem's detail is the first's,
 * and says how many more there are. */
static void invalid(struct bl_api_call *c, json_t *errs)
{
	const char *why = json_string_value(json_object_get(json_array_get(errs, 0), "detail"));
	size_t more = json_array_size(errs) - 1;
	if (more)
		problem_with(c, 422, "validation", errs, "%s (%zu more problem%s in \"errors\".)",
		             why ? why : "", more, more == 1 ? "" : "s");
	else
		problem_with(c, 422, "validation", errs, "%s", why ? why : "");
}

static void field_err(json_t *errs, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void field_err(json_t *errs, const char *pointer, const char *fmt, ...)
{
	char detail[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	full_stop(detail, sizeof(detail));
	json_t *e = json_object();
	json_object_set_new(e, "pointer", json_string(pointer));
	json_object_set_new(e, "detail",
	                    json_string(bl_utf8_valid(detail, strlen(detail), NULL)
	                                    ? detail
	                                    : "(detail not UTF-8)"));
	json_array_append_new(errs, e);
}

/* A list slug (@v, any JSON) at @pointer that names no list. */
static void no_such_list(json_t *errs, const char *pointer, json_t *v)
{
	if (json_is_string(v))
		field_err(errs, pointer, "No such list: %s.", json_string_value(v));
	else
		field_err(errs, pointer, "A list is named by its slug, a string.");
}

/* A store failure: logged with the store's message; the client gets a 500. */
static void store_failed(struct bl_api_call *c)
{
	bl_error("api: %s %s: %s", c->req->method == BL_HTTP_GET ? "GET" : "write", c->req->path,
	         bl_store_error(c->s));
	problem(c, 500, "internal", DB_FAILED);
}

/* 404 for the @what named @name (as the path gave it). */
static void not_found(struct bl_api_call *c, const char *what, const char *name)
{
	problem(c, 404, "not-found", "No such %s: %s.", what, name);
}

static void not_found_id(struct bl_api_call *c, const char *what, int64_t id)
{
	char t[24];
	snprintf(t, sizeof(t), "%lld", (long long)id);
	not_found(c, what, t);
}

static void created(struct bl_api_call *c, json_t *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void created(struct bl_api_call *c, json_t *o, const char *fmt, ...)
{
	char loc[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(loc, sizeof(loc), fmt, ap);
	va_end(ap);
	bl_http_add_header(c->resp, "Location", "%s", loc);
	reply(c, 201, o);
}

static void no_content(struct bl_api_call *c)
{
	c->resp->status = 204;
	c->resp->content_type = JSON_TYPE;
}

/* ---- the audit log ---- */

/* "list:SLUG", "post:ID", ...: an audit entry's target into @buf (@n bytes). */
static const char *target_id(char *buf, size_t n, const char *kind, int64_t id)
{
	snprintf(buf, n, "%s:%lld", kind, (long long)id);
	return buf;
}

static const char *target_name(char *buf, size_t n, const char *kind, const char *name)
{
	snprintf(buf, n, "%s:%s", kind, name);
	return buf;
}

/* The members the body sets, for an update's audit detail: "changed name,
 * optin" (the first few, cut to @n bytes). */
static const char *changed(struct bl_api_call *c, char *buf, size_t n)
{
	const char *k;
	json_t *v;
	size_t len = (size_t)snprintf(buf, n, "changed");
	int any = 0;
	json_object_foreach(c->body, k, v)
	{
		if (len + strlen(k) + 3 >= n)
			break;
		len += (size_t)snprintf(buf + len, n - len, "%s %s", any ? "," : "", k);
		any = 1;
	}
	if (!any)
		snprintf(buf, n, "nothing changed");
	return buf;
}

#define TARGET_MAX 160

/* ---- input ---- */

static const char *qget(struct bl_api_call *c, const char *name)
{
	return bl_form_get(&c->q, name);
}

/* Query integer @name in [@min, @max], @dflt when absent. -1 after a 400. */
static int qint(struct bl_api_call *c, const char *name, long long min, long long max,
                long long dflt, long long *out)
{
	const char *v = qget(c, name);
	*out = dflt;
	if (!v || !*v)
		return 0;
	if (bl_parse_int64(v, min, max, out)) {
		problem(c, 400, "bad-parameter",
		        "The `%s` query parameter must be a whole number from %lld to %lld.", name,
		        min, max);
		return -1;
	}
	return 0;
}

/* Path argument @i as an id: 0 and a 404 when it is not one. An id is
 * canonical decimal only: a digit 1-9 then digits, no sign, blank or leading
 * zero, at most INT64_MAX ("+1", " 1" and "01" name nothing: one resource,
 * one path). */
static int64_t arg_id(struct bl_api_call *c, size_t i, const char *what)
{
	long long v;
	const char *a = i < c->n_arg ? c->arg[i] : "";
	if (a[0] < '1' || a[0] > '9' || a[strspn(a, "0123456789")] != '\0' ||
	    bl_parse_int64(a, 1, INT64_MAX, &v)) {
		not_found(c, what, i < c->n_arg ? c->arg[i] : "");
		return 0;
	}
	return (int64_t)v;
}

/* Member @key of the body as a string: NULL when absent (or null); a type
 * error is added to @errs. With @max, its text is checked too. */
static const char *body_str(struct bl_api_call *c, json_t *errs, const char *key, size_t max,
                            int oneline, int required)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "/%s", key);
	if (!v || json_is_null(v)) {
		if (required)
			field_err(errs, ptr, "The `%s` field is required.", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		field_err(errs, ptr, "The `%s` field must be a string.", key);
		return NULL;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		field_err(errs, ptr, "The `%s` field holds a NUL character; remove it.", key);
		return NULL;
	}
	const char *why = max ? bl_text_problem(s, max, oneline) : NULL;
	if (why) {
		field_err(errs, ptr,
		          "The `%s` field %s; it takes at most %zu bytes of UTF-8 text without "
		          "control characters.",
		          key, why, max);
		return NULL;
	}
	if (required && !*s) {
		field_err(errs, ptr, "The `%s` field must not be empty.", key);
		return NULL;
	}
	return s;
}

/* Member @key as a boolean: -1 when absent; a type error goes to @errs. */
static int body_bool(struct bl_api_call *c, json_t *errs, const char *key)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	if (!v || json_is_null(v))
		return -1;
	if (!json_is_boolean(v)) {
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/%s", key);
		field_err(errs, ptr, "The `%s` field must be true or false.", key);
		return -1;
	}
	return json_is_true(v);
}

/* Member @key as an RFC 3339 time: 0 absent or null (*@set tells), the time, -1 bad
 * (a time not after @c->now included: a schedule in the past, as `post create --at`
 * refuses it, when @future). */
static int64_t body_time(struct bl_api_call *c, json_t *errs, const char *key, int future, int *set)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	*set = v != NULL;
	if (!v || json_is_null(v))
		return 0;
	int64_t t;
	if (!json_is_string(v) || bl_time_parse(json_string_value(v), &t) || t <= 0) {
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/%s", key);
		field_err(errs, ptr,
		          "The `%s` field must be an RFC 3339 time such as "
		          "\"2026-12-01T09:00:00Z\".",
		          key);
		return -1;
	}
	if (future && t <= c->now) {
		char ptr[64], a[BL_TIME_STRMAX], b[BL_TIME_STRMAX];
		snprintf(ptr, sizeof(ptr), "/%s", key);
		field_err(errs, ptr,
		          "The `%s` time %s is in the past (it is %s now); give a later time, or "
		          "send the post now.",
		          key, bl_time_format(t, a), bl_time_format(c->now, b));
		return -1;
	}
	return t;
}

static unsigned address_flags(struct bl_api_call *c)
{
	return c->w && bl_config_bool(c->w->config, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0;
}

static struct bl_consent_ctx consent_ctx(struct bl_api_call *c)
{
	struct bl_consent_ctx x = {c->now, c->req->ip ? c->req->ip : "",
	                           c->req->user_agent ? c->req->user_agent : "", "api"};
	return x;
}

/* A keyset cursor: opaque to clients (hex of "i:ID" or "k:KEY"). */
static json_t *cursor_make(char kind, const char *v)
{
	size_t n = strlen(v);
	char *out = bl_xmalloc(2 * (n + 2) + 1);
	char raw[2] = {kind, ':'};
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < n + 2; i++) {
		unsigned char ch = i < 2 ? (unsigned char)raw[i] : (unsigned char)v[i - 2];
		out[o++] = hex[ch >> 4];
		out[o++] = hex[ch & 15];
	}
	out[o] = '\0';
	json_t *j = json_string(out);
	free(out);
	return j;
}

/* Decodes cursor @s of @kind into a malloc'd string; NULL when malformed. */
static char *cursor_read(const char *s, char kind)
{
	size_t n = strlen(s);
	if (n < 4 || n % 2)
		return NULL;
	char *out = bl_xmalloc(n / 2 + 1);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = bl_hex_digit((unsigned char)s[2 * i]),
		    lo = bl_hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		out[i] = (char)(hi << 4 | lo);
	}
	out[n / 2] = '\0';
	if (out[0] != kind || out[1] != ':') {
		free(out);
		return NULL;
	}
	memmove(out, out + 2, n / 2 - 1);
	return out;
}

/* ---- lists ---- */

struct acc {
	json_t *items;
	int64_t n, limit; /* rows seen; the page size (0: no page) */
	int64_t last_id;
	char *last_key;
	struct bl_api_call *c;
};

static int on_list(void *arg, const struct bl_list *l)
{
	struct acc *a = arg;
	json_array_append_new(a->items, bl_json_list(l, NULL));
	return 0;
}

static void items_reply(struct bl_api_call *c, json_t *items, json_t *next, int with_next)
{
	json_t *o = json_object();
	json_object_set_new(o, "items", items);
	if (with_next)
		json_object_set_new(o, "next", next ? next : json_null());
	reply(c, 200, o);
}

static void lists_get(struct bl_api_call *c)
{
	struct acc a = {.items = json_array()};
	if (c->s->ops->list_each(c->s, on_list, &a)) {
		json_decref(a.items);
		store_failed(c);
		return;
	}
	items_reply(c, a.items, NULL, 0);
}

/* The list named by path argument @i: 1 found, 0 after a 404, -1 after a 500. */
static int load_list(struct bl_api_call *c, size_t i, struct bl_list *l)
{
	int rc = bl_slug_valid(c->arg[i]) ? c->s->ops->list_get(c->s, c->arg[i], l) : 0;
	if (rc < 0)
		store_failed(c);
	else if (rc == 0)
		not_found(c, "list", c->arg[i]);
	return rc;
}

/*
 * The list a `list` query parameter names: 1 with *@id set; 0 after
 * answering 400 (no such list), negative after answering 500.
 */
static int query_list(struct bl_api_call *c, const char *slug, int64_t *id)
{
	struct bl_list l;
	int rc = bl_slug_valid(slug) ? c->s->ops->list_get(c->s, slug, &l) : 0;
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		problem(c, 400, "bad-parameter",
		        "No such list: %s. The `list` query parameter names an existing list "
		        "(GET /api/v1/lists).",
		        slug);
	} else {
		*id = l.id;
		bl_list_clear(&l);
	}
	return rc;
}

static void list_reply(struct bl_api_call *c, const struct bl_list *l, int status)
{
	struct bl_list_counts n = {0};
	if (c->s->ops->list_counts(c->s, l->id, &n)) {
		store_failed(c);
		return;
	}
	json_t *o = bl_json_list(l, &n);
	if (status == 201)
		created(c, o, PREFIX "lists/%s", l->slug);
	else
		reply(c, status, o);
}

/* The list fields of the body onto @l; with @create all are read, slug too. */
static void list_fields(struct bl_api_call *c, json_t *errs, struct bl_list *l, int create)
{
	if (create) {
		const char *slug = body_str(c, errs, "slug", 0, 0, 1);
		if (slug && !bl_slug_valid(slug))
			field_err(
			    errs, "/slug",
			    "The `slug` must be 1 to 64 characters from a-z, 0-9, '-' and '_', "
			    "such as \"news\".");
		l->slug = (char *)(uintptr_t)slug;
	}
	const char *name = body_str(c, errs, "name", BL_LIST_NAME_MAX, 0, create);
	if (name) {
		if (!*name)
			field_err(errs, "/name", "The `name` field must not be empty.");
		l->name = (char *)(uintptr_t)name;
	}
	const char *desc = body_str(c, errs, "description", BL_LIST_DESCRIPTION_MAX, 0, 0);
	if (desc)
		l->description = (char *)(uintptr_t)desc;
	const char *optin = body_str(c, errs, "optin", 0, 0, 0);
	if (optin && bl_optin_parse(optin, &l->optin))
		field_err(errs, "/optin", "The `optin` field must be \"double\" or \"single\".");
	const char *vis = body_str(c, errs, "visibility", 0, 0, 0);
	if (vis && bl_visibility_parse(vis, &l->visibility))
		field_err(errs, "/visibility",
		          "The `visibility` field must be \"public\" or \"private\".");
	int bd = body_bool(c, errs, "breaking_digest"); /* schema 6 */
	if (bd >= 0)
		l->breaking_digest_off = !bd;
}

static void lists_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	struct bl_list l = {.description = "", .optin = BL_OPTIN_DOUBLE};
	list_fields(c, errs, &l, 1);
	if (json_array_size(errs)) {
		invalid(c, errs);
		return;
	}
	json_decref(errs);
	int rc = c->s->ops->list_create(c->s, &l);
	if (rc == -BL_EEXIST) {
		problem(c, 409, "exists",
		        "A list \"%s\" exists already; choose another slug, or change that list "
		        "with PATCH /api/v1/lists/%s.",
		        l.slug, l.slug);
		return;
	}
	if (rc) {
		store_failed(c);
		return;
	}
	char t[TARGET_MAX];
	bl_audit(c->req, &c->who, "list.create", target_name(t, sizeof(t), "list", l.slug), "%s",
	         l.name);
	list_reply(c, &l, 201);
}

static void list_get(struct bl_api_call *c)
{
	struct bl_list l;
	if (load_list(c, 0, &l) <= 0)
		return;
	list_reply(c, &l, 200);
	bl_list_clear(&l);
}

static void list_patch(struct bl_api_call *c)
{
	struct bl_list l;
	if (load_list(c, 0, &l) <= 0)
		return;
	struct bl_list upd = l;
	json_t *errs = json_array();
	list_fields(c, errs, &upd, 0);
	if (json_array_size(errs)) {
		invalid(c, errs);
		bl_list_clear(&l);
		return;
	}
	json_decref(errs);
	int rc = c->s->ops->list_update(c->s, &upd);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found(c, "list", l.slug);
	} else {
		char t[TARGET_MAX], what[128];
		bl_audit(c->req, &c->who, "list.update", target_name(t, sizeof(t), "list", l.slug),
		         "%s", changed(c, what, sizeof(what)));
		list_reply(c, &upd, 200);
	}
	bl_list_clear(&l);
}

static void list_delete(struct bl_api_call *c)
{
	struct bl_list l;
	if (load_list(c, 0, &l) <= 0)
		return;
	int rc = c->s->ops->list_delete(c->s, l.slug);
	if (rc == -BL_ENOENT) {
		not_found(c, "list", l.slug);
	} else if (rc == -BL_EINUSE) {
		/* "list \"news\" is used by post 12 (scheduled): ..." as a sentence */
		const char *m = bl_store_error(c->s);
		problem(c, 409, "in-use", "%c%s.", toupper((unsigned char)m[0]), m + 1);
	} else if (rc) {
		store_failed(c);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "list.delete", target_name(t, sizeof(t), "list", l.slug),
		         "%s", l.name);
		no_content(c);
	}
	bl_list_clear(&l);
}

/* ---- subscribers ---- */

static int on_subscriber(void *arg, const struct bl_subscriber *s)
{
	struct acc *a = arg;
	if (a->limit && a->n == a->limit) { /* one more than the page: there is a next page */
		a->n++;
		return 1;
	}
	a->n++;
	json_array_append_new(a->items, bl_json_subscriber(s));
	a->last_id = s->id;
	free(a->last_key);
	a->last_key = bl_xstrdup(s->email_key);
	return 0;
}

static void subscribers_get(struct bl_api_call *c)
{
	struct bl_subscriber_filter f = {.sub_status = -1, .status = -1};
	long long limit;
	if (qint(c, "limit", 1, LIMIT_MAX, LIMIT_DFLT, &limit))
		return;
	const char *slug = qget(c, "list"), *status = qget(c, "status"),
	           *prefix = qget(c, "prefix"), *after = qget(c, "after");
	if (slug && *slug && query_list(c, slug, &f.list_id) <= 0)
		return;
	if (status && *status) {
		enum bl_subscriber_status ss;
		enum bl_sub_status us;
		if (bl_subscriber_status_parse(status, &ss) == 0) {
			f.status = (int)ss;
		} else if (bl_sub_status_parse(status, &us) == 0 && f.list_id) {
			f.sub_status = (int)us;
		} else {
			problem(c, 400, "bad-parameter",
			        "The `status` query parameter must be active or blocklisted, or, "
			        "with `list`, unconfirmed, confirmed or unsubscribed.");
			return;
		}
	}
	char *lower = NULL, *after_key = NULL;
	if (prefix && *prefix) {
		lower = bl_xstrdup(prefix);
		for (char *p = lower; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		f.prefix = lower;
	}
	if (after && *after) {
		char *v = cursor_read(after, lower ? 'k' : 'i');
		long long id = 0;
		if (!v || (!lower && bl_parse_int64(v, 0, INT64_MAX, &id))) {
			free(v);
			free(lower);
			problem(
			    c, 400, "bad-parameter",
			    "The `after` query parameter is not a cursor of this listing: pass the "
			    "\"next\" of the page before, with the same `prefix`.");
			return;
		}
		if (lower) {
			after_key = v;
			f.after_key = after_key;
		} else {
			f.after_id = id;
			free(v);
		}
	}
	f.limit = limit + 1;
	struct acc a = {.items = json_array(), .limit = limit, .c = c};
	int rc = c->s->ops->subscriber_each(c->s, &f, on_subscriber, &a);
	if (rc < 0) {
		json_decref(a.items);
		store_failed(c);
	} else {
		json_t *next = NULL;
		if (a.n > limit) {
			char idt[32];
			snprintf(idt, sizeof(idt), "%lld", (long long)a.last_id);
			next = lower ? cursor_make('k', a.last_key) : cursor_make('i', idt);
		}
		items_reply(c, a.items, next, 1);
	}
	free(a.last_key);
	free(lower);
	free(after_key);
}

static int on_subscription(void *arg, const struct bl_subscription *x)
{
	json_array_append_new(arg, bl_json_subscription(x));
	return 0;
}

static int on_consent(void *arg, const struct bl_consent *x)
{
	json_array_append_new(arg, bl_json_consent(x));
	return 0;
}

/* The subscriber of path argument 0: 1, 0 after a 404, -1 after a 500. */
static int load_subscriber(struct bl_api_call *c, struct bl_subscriber *sub)
{
	int64_t id = arg_id(c, 0, "subscriber");
	if (!id)
		return 0;
	int rc = c->s->ops->subscriber_get_id(c->s, id, sub);
	if (rc < 0)
		store_failed(c);
	else if (rc == 0)
		not_found_id(c, "subscriber", id);
	return rc;
}

/* The subscriber with subscriptions (and consent events with @events). */
static void subscriber_reply(struct bl_api_call *c, const struct bl_subscriber *sub, int status,
                             int events)
{
	json_t *o = bl_json_subscriber(sub), *subs = json_array(), *ev = json_array();
	if (c->s->ops->subscription_each(c->s, sub->id, on_subscription, subs) ||
	    (events && c->s->ops->consent_each(c->s, sub->id, on_consent, ev))) {
		json_decref(o);
		json_decref(subs);
		json_decref(ev);
		store_failed(c);
		return;
	}
	json_object_set_new(o, "subscriptions", subs);
	if (events)
		json_object_set_new(o, "consent", ev);
	else
		json_decref(ev);
	if (status == 201)
		created(c, o, PREFIX "subscribers/%lld", (long long)sub->id);
	else
		reply(c, status, o);
}

static void subscribers_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	const char *email = body_str(c, errs, "email", 0, 0, 1);
	const char *name = body_str(c, errs, "name", BL_NAME_MAX, 0, 0);
	int confirmed = body_bool(c, errs, "confirmed");
	json_t *lists = json_object_get(c->body, "lists");
	json_t *attrs = json_object_get(c->body, "attributes");
	const char *slugs[POST_LISTS];
	size_t n_slugs = 0;
	struct bl_address addr;
	struct bl_diag d;
	if (email && bl_address_parse(email, strlen(email), address_flags(c), &addr, NULL, &d))
		field_err(errs, "/email",
		          "The `email` field is not an address bulletin can use: %s", d.msg);
	if (attrs && !json_is_null(attrs) && !json_is_object(attrs))
		field_err(errs, "/attributes", "The `attributes` field must be a JSON object.");
	if (lists && !json_is_null(lists)) {
		if (!json_is_array(lists) || json_array_size(lists) > POST_LISTS) {
			field_err(errs, "/lists",
			          "The `lists` field must be an array of at most %d list slugs.",
			          POST_LISTS);
		} else {
			for (size_t i = 0; i < json_array_size(lists); i++) {
				json_t *v = json_array_get(lists, i);
				char ptr[32];
				snprintf(ptr, sizeof(ptr), "/lists/%zu", i);
				struct bl_list l;
				int rc = json_is_string(v) && bl_slug_valid(json_string_value(v))
				             ? c->s->ops->list_get(c->s, json_string_value(v), &l)
				             : 0;
				if (rc < 0) {
					json_decref(errs);
					store_failed(c);
					return;
				}
				if (rc == 0) {
					no_such_list(errs, ptr, v);
					continue;
				}
				bl_list_clear(&l);
				slugs[n_slugs++] = json_string_value(v);
			}
		}
	}
	if (json_array_size(errs)) {
		invalid(c, errs);
		return;
	}
	json_decref(errs);
	/* The rules of `subscriber add`: an erased address needs new consent. */
	struct bl_subscriber existing;
	int found = c->s->ops->subscriber_get(c->s, addr.key, &existing);
	if (found < 0) {
		store_failed(c);
		return;
	}
	if (found > 0)
		bl_subscriber_clear(&existing);
	struct bl_import_opts o = {
	    .path = "api",
	    .source = "api",
	    .manual = 1,
	    .confirmed = confirmed == 1,
	    .address_flags = address_flags(c),
	    .allow_role = 1,
	    .batch = 1,
	};
	struct bl_import_add_result res;
	int arc = bl_import_add(c->s, email, name ? name : "", json_is_object(attrs) ? attrs : NULL,
	                        slugs, n_slugs, &o, &res, &d);
	if (arc) {
		bl_error("api: subscriber add: %s", d.msg);
		problem(c, 500, "internal", "the database failed; the server's log says why");
		return;
	}
	if (res.erased) {
		char t[BL_TIME_STRMAX];
		problem(c, 409, "erased",
		        "The address %s was erased at its owner's request on %s; only a new signup "
		        "with confirmation can bring it back.",
		        addr.display, bl_time_format(res.erased_at, t));
		return;
	}
	if (res.invalid) {
		json_t *e = json_array();
		field_err(e, "", "%s", res.error);
		invalid(c, e);
		return;
	}
	struct bl_subscriber sub;
	int rc = c->s->ops->subscriber_get(c->s, addr.key, &sub);
	if (rc <= 0) {
		store_failed(c);
		return;
	}
	char t[TARGET_MAX], names[256] = "";
	for (size_t i = 0; i < n_slugs; i++)
		if (strlen(names) + strlen(slugs[i]) + 3 < sizeof(names))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			         i ? ", " : "", slugs[i]);
	bl_audit(c->req, &c->who, found ? "subscriber.update" : "subscriber.add",
	         target_id(t, sizeof(t), "subscriber", sub.id), "%s%s%s",
	         n_slugs ? "lists " : "no list", names, confirmed == 1 ? ", confirmed" : "");
	subscriber_reply(c, &sub, found ? 200 : 201, 0);
	bl_subscriber_clear(&sub);
}

static void subscriber_get(struct bl_api_call *c)
{
	struct bl_subscriber sub;
	if (load_subscriber(c, &sub) <= 0)
		return;
	subscriber_reply(c, &sub, 200, 1);
	bl_subscriber_clear(&sub);
}

static void subscriber_patch(struct bl_api_call *c)
{
	struct bl_subscriber sub;
	if (load_subscriber(c, &sub) <= 0)
		return;
	json_t *errs = json_array();
	struct bl_subscriber upd = sub;
	const char *name = body_str(c, errs, "name", BL_NAME_MAX, 0, 0);
	const char *status = body_str(c, errs, "status", 0, 0, 0);
	const char *reason = body_str(c, errs, "status_reason", 200, 0, 0);
	json_t *attrs = json_object_get(c->body, "attributes");
	char *attr_text = NULL;
	if (name)
		upd.name = (char *)(uintptr_t)name;
	if (status && bl_subscriber_status_parse(status, &upd.status))
		field_err(errs, "/status",
		          "The `status` field must be \"active\" or \"blocklisted\".");
	if (attrs && !json_is_null(attrs)) {
		if (!json_is_object(attrs)) {
			field_err(errs, "/attributes",
			          "The `attributes` field must be a JSON object.");
		} else {
			attr_text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
			if (!attr_text || strlen(attr_text) > BL_ATTRIBUTES_MAX)
				field_err(
				    errs, "/attributes",
				    "The `attributes` field must be at most %d bytes as JSON.",
				    BL_ATTRIBUTES_MAX);
			else
				upd.attributes = attr_text;
		}
	}
	if (reason)
		upd.status_reason = (char *)(uintptr_t)reason;
	else if (status && upd.status != sub.status)
		upd.status_reason = upd.status == BL_SUBSCRIBER_BLOCKLISTED ? "api" : "";
	if (json_array_size(errs)) {
		invalid(c, errs);
		goto out;
	}
	json_decref(errs);
	struct bl_consent_ctx ctx = consent_ctx(c);
	int rc = c->s->ops->subscriber_update(c->s, &upd, &ctx);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found_id(c, "subscriber", sub.id);
	} else {
		char t[TARGET_MAX], what[128];
		bl_audit(c->req, &c->who, "subscriber.update",
		         target_id(t, sizeof(t), "subscriber", sub.id), "%s",
		         changed(c, what, sizeof(what)));
		struct bl_subscriber now;
		if (c->s->ops->subscriber_get_id(c->s, sub.id, &now) > 0) {
			subscriber_reply(c, &now, 200, 0);
			bl_subscriber_clear(&now);
		} else {
			store_failed(c);
		}
	}
out:
	free(attr_text);
	bl_subscriber_clear(&sub);
}

static void subscriber_delete(struct bl_api_call *c)
{
	struct bl_subscriber sub;
	if (load_subscriber(c, &sub) <= 0)
		return;
	char hash[BL_HASH_HEX];
	bl_suppression_hash(sub.email_key, hash);
	int rc = c->s->ops->subscriber_erase(c->s, sub.id, hash, "api", c->now);
	if (rc == -BL_ENOENT) {
		not_found_id(c, "subscriber", sub.id);
	} else if (rc) {
		store_failed(c);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "subscriber.erase",
		         target_id(t, sizeof(t), "subscriber", sub.id),
		         "erased; the address is suppressed");
		no_content(c);
	}
	bl_subscriber_clear(&sub);
}

static void subscriptions_get(struct bl_api_call *c)
{
	struct bl_subscriber sub;
	if (load_subscriber(c, &sub) <= 0)
		return;
	json_t *items = json_array();
	if (c->s->ops->subscription_each(c->s, sub.id, on_subscription, items)) {
		json_decref(items);
		store_failed(c);
	} else {
		items_reply(c, items, NULL, 0);
	}
	bl_subscriber_clear(&sub);
}

struct find_sub {
	int64_t list_id;
	int found;
	struct bl_subscription x;
};

static int on_find_sub(void *arg, const struct bl_subscription *x)
{
	struct find_sub *f = arg;
	if (x->list_id != f->list_id)
		return 0;
	f->found = 1;
	f->x = *x;
	f->x.list_slug = NULL;
	return 1;
}

static void subscription_put(struct bl_api_call *c)
{
	struct bl_subscriber sub;
	if (load_subscriber(c, &sub) <= 0)
		return;
	struct bl_list l;
	if (load_list(c, 1, &l) <= 0) {
		bl_subscriber_clear(&sub);
		return;
	}
	struct find_sub f = {.list_id = l.id};
	json_t *errs = json_array();
	const char *status = body_str(c, errs, "status", 0, 0, 1);
	const char *mode = body_str(c, errs, "mode", 0, 0, 0);
	struct bl_subscription_change ch = {.list_id = l.id, .mode = BL_MODE_INSTANT};
	if (status && (bl_sub_status_parse(status, &ch.status) || ch.status == BL_SUB_UNCONFIRMED))
		field_err(errs, "/status",
		          "The `status` field must be \"confirmed\" or \"unsubscribed\".");
	if (c->s->ops->subscription_each(c->s, sub.id, on_find_sub, &f) < 0) {
		json_decref(errs);
		store_failed(c);
		goto out;
	}
	if (f.found)
		ch.mode = f.x.mode;
	if (mode && bl_mode_parse(mode, &ch.mode))
		field_err(errs, "/mode",
		          "The `mode` field must be \"instant\", \"daily\" or \"weekly\".");
	if (json_array_size(errs)) {
		invalid(c, errs);
		goto out;
	}
	json_decref(errs);
	struct bl_consent_ctx ctx = consent_ctx(c);
	int rc = c->s->ops->web_preferences(c->s, sub.id, NULL, &ch, 1, &ctx);
	if (rc < 0) {
		store_failed(c);
		goto out;
	}
	if (rc == 0) {
		not_found_id(c, "subscriber", sub.id);
		goto out;
	}
	char t[TARGET_MAX];
	bl_audit(c->req, &c->who, "subscription.set", target_id(t, sizeof(t), "subscriber", sub.id),
	         "list %s: %s, %s", l.slug, bl_sub_status_name(ch.status), bl_mode_name(ch.mode));
	f.found = 0;
	if (c->s->ops->subscription_each(c->s, sub.id, on_find_sub, &f) < 0) {
		store_failed(c);
		goto out;
	}
	if (!f.found) { /* unsubscribing from a list never joined: nothing to show */
		no_content(c);
		goto out;
	}
	f.x.list_slug = l.slug;
	reply(c, 200, bl_json_subscription(&f.x));
out:
	bl_list_clear(&l);
	bl_subscriber_clear(&sub);
}

static void subscription_delete(struct bl_api_call *c)
{
	struct bl_subscriber sub;
	if (load_subscriber(c, &sub) <= 0)
		return;
	struct bl_list l;
	if (load_list(c, 1, &l) <= 0) {
		bl_subscriber_clear(&sub);
		return;
	}
	struct bl_consent_ctx ctx = consent_ctx(c);
	int64_t n = 0;
	int rc = c->s->ops->web_unsubscribe(c->s, sub.id, l.id, &ctx, &n);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found_id(c, "subscriber", sub.id);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "subscription.unsubscribe",
		         target_id(t, sizeof(t), "subscriber", sub.id), "list %s", l.slug);
		no_content(c);
	}
	bl_list_clear(&l);
	bl_subscriber_clear(&sub);
}

/* ---- imports ---- */

static json_t *job_json(const struct bl_job *j)
{
	json_t *o = json_object();
	json_error_t err;
	json_t *params = j->params ? json_loads(j->params, 0, &err) : NULL;
	json_t *report = j->report && *j->report ? json_loads(j->report, 0, &err) : NULL;
	json_object_set_new(o, "id", json_integer(j->id));
	json_object_set_new(o, "kind", json_string(j->kind ? j->kind : ""));
	json_object_set_new(o, "state", json_string(bl_job_state_name(j->state)));
	json_object_set_new(o, "params", params ? params : json_object());
	json_object_set_new(o, "actor", json_string(j->actor ? j->actor : ""));
	json_object_set_new(o, "size", json_integer(j->size));
	json_object_set_new(o, "done", json_integer(j->done));
	json_object_set_new(o, "report", report ? report : json_object());
	json_object_set_new(o, "error", json_string(j->error ? j->error : ""));
	json_object_set_new(o, "created_at", bl_json_time(j->created_at));
	json_object_set_new(o, "started_at", bl_json_time(j->started_at));
	json_object_set_new(o, "finished_at", bl_json_time(j->finished_at));
	return o;
}

/* @ct names @type (its parameters aside, RFC 9110 §8.3.1: case-insensitive). */
static int type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (strncasecmp(ct, type, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

static int qflag(struct bl_api_call *c, const char *name, int *out)
{
	const char *v = qget(c, name);
	*out = 0;
	if (!v)
		return 0;
	if (!*v || strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "0") && strcmp(v, "false"))
		return -1;
	return 0;
}

static void imports_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	const char *slug = qget(c, "list"), *delim = qget(c, "delimiter"),
	           *format = qget(c, "format"), *file = qget(c, "file");
	int confirmed, dry_run;
	if (qflag(c, "confirmed", &confirmed))
		field_err(errs, "/query/confirmed",
		          "The `confirmed` parameter must be 1 (or true) or 0 (or false).");
	if (qflag(c, "dry_run", &dry_run))
		field_err(errs, "/query/dry_run",
		          "The `dry_run` parameter must be 1 (or true) or 0 (or false).");
	if (slug && !*slug)
		slug = NULL;
	if (slug) {
		struct bl_list l;
		int rc = bl_slug_valid(slug) ? c->s->ops->list_get(c->s, slug, &l) : 0;
		if (rc < 0) {
			json_decref(errs);
			store_failed(c);
			return;
		}
		if (rc == 0)
			field_err(errs, "/query/list",
			          "No such list: %s. The `list` parameter names an existing list "
			          "(GET /api/v1/lists lists them).",
			          slug);
		else
			bl_list_clear(&l);
	}
	enum bl_format fmt = BL_FORMAT_AUTO;
	if (format && *format && bl_format_parse(format, &fmt))
		field_err(errs, "/query/format", "The `format` parameter must be one of %s.",
		          bl_format_names());
	char delim_ch = 0;
	if (delim && *delim) {
		if (strcmp(delim, "tab") == 0)
			delim_ch = '\t';
		else if (strcmp(delim, "comma") == 0)
			delim_ch = ',';
		else if (strcmp(delim, "semicolon") == 0)
			delim_ch = ';';
		else if (strlen(delim) == 1 && !strchr("\"\r\n", delim[0]))
			delim_ch = delim[0];
		else
			field_err(errs, "/query/delimiter",
			          "The `delimiter` parameter must be one character (not a quote or "
			          "a line end), or tab, comma or semicolon.");
	}
	if (file && bl_text_problem(file, 200, 1))
		field_err(errs, "/query/file",
		          "The `file` parameter must be a file name of at most 200 bytes, "
		          "without control characters.");
	if (c->req->body_len == 0)
		field_err(errs, "", "The CSV file is empty: send it as the request body.");
	if (!json_array_size(errs)) {
		/* What the job would refuse before its first row, refused now. */
		struct bl_import_opts io = {.list_slug = slug,
		                            .format = fmt,
		                            .delimiter = delim_ch,
		                            .voice = BL_IMPORT_VOICE_API};
		struct bl_diag d;
		const char *param = NULL;
		bl_diag_clear(&d);
		if (bl_import_precheck(c->req->body, c->req->body_len, &io, &param, &d)) {
			char ptr[32];
			snprintf(ptr, sizeof(ptr), "/query/%s", param ? param : "");
			if (param)
				field_err(errs, ptr, "%s", d.msg);
			else
				field_err(errs, "", "The file cannot be imported: %s", d.msg);
		}
	}
	if (json_array_size(errs)) {
		invalid(c, errs);
		return;
	}
	json_decref(errs);
	json_t *params = json_object();
	json_object_set_new(params, "list", slug ? json_string(slug) : json_null());
	json_object_set_new(params, "confirmed", json_boolean(confirmed));
	if (delim && *delim)
		json_object_set_new(params, "delimiter", json_string(delim));
	json_object_set_new(params, "format", json_string(bl_format_name(fmt)));
	json_object_set_new(params, "dry_run", json_boolean(dry_run));
	json_object_set_new(params, "source", json_string(file && *file ? file : "upload.csv"));
	char *ptext = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(params);
	struct bl_job j = {
	    .kind = "import",
	    .params = ptext,
	    .actor = c->who.actor,
	    .size = (int64_t)c->req->body_len,
	};
	int rc = c->s->ops->job_create(c->s, &j, c->req->body, c->req->body_len);
	free(ptext);
	if (rc) {
		store_failed(c);
		return;
	}
	char t[TARGET_MAX];
	bl_audit(c->req, &c->who, "import.create", target_id(t, sizeof(t), "import", j.id),
	         "%zu bytes into %s%s%s", c->req->body_len, slug ? "list " : "the lists it names",
	         slug ? slug : "", dry_run ? " (dry run)" : "");
	struct bl_job got;
	if (c->s->ops->job_get(c->s, j.id, &got) <= 0) {
		store_failed(c);
		return;
	}
	bl_http_add_header(c->resp, "Location", PREFIX "imports/%lld", (long long)j.id);
	reply(c, 202, job_json(&got));
	bl_job_clear(&got);
}

static int on_job(void *arg, const struct bl_job *j)
{
	if (j->kind && strcmp(j->kind, "import") == 0)
		json_array_append_new(arg, job_json(j));
	return 0;
}

static void imports_get(struct bl_api_call *c)
{
	long long limit;
	if (qint(c, "limit", 1, LIMIT_MAX, LIMIT_DFLT, &limit))
		return;
	json_t *items = json_array();
	if (c->s->ops->job_each(c->s, limit, on_job, items)) {
		json_decref(items);
		store_failed(c);
		return;
	}
	items_reply(c, items, NULL, 0);
}

static void import_get(struct bl_api_call *c)
{
	int64_t id = arg_id(c, 0, "import");
	if (!id)
		return;
	struct bl_job j;
	int rc = c->s->ops->job_get(c->s, id, &j);
	if (rc < 0) {
		store_failed(c);
		return;
	}
	if (rc == 0 || !j.kind || strcmp(j.kind, "import") != 0) {
		if (rc)
			bl_job_clear(&j);
		not_found_id(c, "import", id);
		return;
	}
	reply(c, 200, job_json(&j));
	bl_job_clear(&j);
}

/* ---- export ---- */

static void export_get(struct bl_api_call *c)
{
	const char *slug = qget(c, "list"), *format = qget(c, "format");
	enum bl_export_format fmt = BL_EXPORT_CSV;
	if (format && *format) {
		if (strcmp(format, "json") == 0 || strcmp(format, "jsonl") == 0) {
			fmt = BL_EXPORT_JSON;
		} else if (strcmp(format, "csv") != 0) {
			problem(c, 400, "bad-parameter",
			        "The `format` query parameter must be csv or jsonl.");
			return;
		}
	}
	int64_t list_id = 0;
	if (slug && *slug && query_list(c, slug, &list_id) <= 0)
		return;
	FILE *f = tmpfile(); /* unlinked: the data never has a name on disk */
	if (!f) {
		problem(c, 500, "internal",
		        "The server cannot make a temporary file for the export: %s.",
		        strerror(errno));
		return;
	}
	struct bl_diag d;
	size_t n = 0;
	int rc = bl_export(c->s, slug && *slug ? slug : NULL, fmt, f, &n, &d);
	if (rc == 0 && fflush(f) != 0)
		rc = -BL_EIO;
	if (rc == -BL_EINVAL) {
		fclose(f);
		problem(c, 400, "bad-parameter", "The export cannot be made: %s", d.msg);
		return;
	}
	if (rc) {
		fclose(f);
		bl_error("api: export: %s", d.msg);
		problem(c, 500, "internal", "The export failed; the server's log says why.");
		return;
	}
	int fd = dup(fileno(f));
	fclose(f);
	if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) {
		if (fd >= 0)
			close(fd);
		problem(c, 500, "internal", "The export file cannot be read back: %s.",
		        strerror(errno));
		return;
	}
	c->resp->content_type = fmt == BL_EXPORT_CSV ? "text/csv; charset=utf-8" : JSON_TYPE;
	bl_http_add_header(c->resp, "Content-Disposition", "attachment; filename=\"%s.%s\"",
	                   slug && *slug ? slug : "subscribers",
	                   fmt == BL_EXPORT_CSV ? "csv" : "json");
	c->resp->use_fd = 1;
	c->resp->fd = fd;
	char t[TARGET_MAX];
	bl_audit(c->req, &c->who, "export",
	         target_name(t, sizeof(t), "list", slug && *slug ? slug : "*"),
	         "%zu subscribers as %s", n, fmt == BL_EXPORT_CSV ? "csv" : "jsonl");
}

/* ---- posts ---- */

struct post_lists {
	struct bl_list v[POST_LISTS];
	size_t n;
};

static int on_post_list(void *arg, const struct bl_list *l)
{
	struct post_lists *pl = arg;
	if (pl->n < POST_LISTS)
		bl_list_copy(&pl->v[pl->n++], l);
	return 0;
}

static void post_lists_clear(struct post_lists *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		bl_list_clear(&pl->v[i]);
	pl->n = 0;
}

/* The post JSON with its lists' slugs; NULL after a 500. */
static json_t *post_json_full(struct bl_api_call *c, const struct bl_post *p, int body)
{
	struct post_lists pl = {0};
	if (c->s->ops->post_lists(c->s, p->id, on_post_list, &pl)) {
		post_lists_clear(&pl);
		store_failed(c);
		return NULL;
	}
	const char *slugs[POST_LISTS];
	for (size_t i = 0; i < pl.n; i++)
		slugs[i] = pl.v[i].slug;
	json_t *o = bl_json_post(p, slugs, pl.n);
	post_lists_clear(&pl);
	if (body)
		json_object_set_new(o, "body", json_string(p->body ? p->body : ""));
	return o;
}

struct post_page {
	struct bl_api_call *c;
	json_t *items;
	int64_t n, limit, last_id;
	int failed;
};

static int on_post(void *arg, const struct bl_post *p)
{
	struct post_page *pp = arg;
	if (pp->n++ == pp->limit)
		return 1;
	json_t *o = post_json_full(pp->c, p, 0);
	if (!o) {
		pp->failed = 1;
		return 1;
	}
	json_array_append_new(pp->items, o);
	pp->last_id = p->id;
	return 0;
}

static void posts_get(struct bl_api_call *c)
{
	long long limit, before;
	if (qint(c, "limit", 1, LIMIT_MAX, LIMIT_DFLT, &limit) ||
	    qint(c, "before", 0, INT64_MAX, 0, &before))
		return;
	struct post_page pp = {c, json_array(), 0, limit, 0, 0};
	int rc = c->s->ops->post_page(c->s, BL_POST_KIND_POST, before, limit + 1, on_post, &pp);
	if (pp.failed) {
		json_decref(pp.items);
		return;
	}
	if (rc < 0) {
		json_decref(pp.items);
		store_failed(c);
		return;
	}
	items_reply(c, pp.items, pp.n > limit ? json_integer(pp.last_id) : NULL, 1);
}

/* The body as `post create` checks it: UTF-8 without NUL, at most
 * BL_BODY_MAX bytes, Markdown that converts and Mustache that compiles (a
 * post of @format html: only UTF-8 without NUL). */
static void check_body(json_t *errs, const char *body, enum bl_post_format format)
{
	size_t len = strlen(body), bad;
	if (len > BL_BODY_MAX) {
		field_err(errs, "/body", "The `body` is %zu bytes; the limit is %d.", len,
		          BL_BODY_MAX);
		return;
	}
	if (!bl_utf8_valid(body, len, &bad)) {
		field_err(errs, "/body", "The `body` is not UTF-8 (a bad byte at offset %zu).",
		          bad);
		return;
	}
	struct bl_diag d;
	int rc = bl_post_body_check(format, body, len, "body", &d);
	if (rc) {
		/* A template's message starts with its name, "body:LINE: ...". */
		const char *m = strncmp(d.msg, "body:", 5) == 0 ? d.msg + 5 : d.msg;
		char *end;
		long line = strtol(m, &end, 10);
		if (end != m && *end == ':')
			field_err(errs, "/body", "The `body` has an error on line %ld:%s", line,
			          end + 1);
		else
			field_err(errs, "/body", "The `body` has an error: %s", m);
	}
}

static int sendable(struct bl_api_call *c, const struct bl_post *p, struct post_lists *pl);

/* The post fields of the body onto @p, @ids and @pl (the lists themselves;
 * with @create: subject, body and lists are required). *@n_ids and @pl->n
 * stay 0 when lists is absent. `from` and `scheduled_at` are checked as
 * `post create --from` and `--at` check them: one mailbox, one line, no
 * control characters, at most 500 bytes; a time to come. */
/*
 * The body's `lists` (an array of 1 to POST_LISTS slugs): their ids to @ids
 * (*@n_ids of them) and the lists themselves to @pl (handed over). Absent:
 * nothing, or an error when @required. Errors go to @errs.
 */
static void body_lists(struct bl_api_call *c, json_t *errs, int64_t *ids, size_t *n_ids,
                       struct post_lists *pl, int required)
{
	json_t *lists = json_object_get(c->body, "lists");
	*n_ids = 0;
	if (lists && !json_is_null(lists)) {
		if (!json_is_array(lists) || json_array_size(lists) == 0 ||
		    json_array_size(lists) > POST_LISTS) {
			field_err(errs, "/lists",
			          "The `lists` field must be an array of 1 to %d list slugs.",
			          POST_LISTS);
			return;
		}
		for (size_t i = 0; i < json_array_size(lists); i++) {
			json_t *v = json_array_get(lists, i);
			char ptr[32];
			snprintf(ptr, sizeof(ptr), "/lists/%zu", i);
			struct bl_list l;
			int rc = json_is_string(v) && bl_slug_valid(json_string_value(v))
			             ? c->s->ops->list_get(c->s, json_string_value(v), &l)
			             : 0;
			if (rc < 0) {
				bl_error("api: list lookup: %s", bl_store_error(c->s));
				field_err(errs, ptr,
				          "The database failed looking this list up; try again.");
			} else if (rc == 0) {
				no_such_list(errs, ptr, v);
			} else {
				ids[(*n_ids)++] = l.id;
				pl->v[pl->n++] = l; /* handed over */
			}
		}
	} else if (required) {
		field_err(errs, "/lists",
		          "The `lists` field is required: the slugs of the lists to send to.");
	}
}

static void post_fields(struct bl_api_call *c, json_t *errs, struct bl_post *p, int64_t *ids,
                        size_t *n_ids, struct post_lists *pl, int create, int64_t *at, int *at_set)
{
	const char *subject = body_str(c, errs, "subject", BL_SUBJECT_MAX, 1, create);
	if (subject) {
		if (!*subject)
			field_err(errs, "/subject", "The `subject` field must not be empty.");
		p->subject = (char *)(uintptr_t)subject;
	}
	json_t *bv = json_object_get(c->body, "body");
	if (bv && !json_is_null(bv)) {
		if (!json_is_string(bv) ||
		    strlen(json_string_value(bv)) != json_string_length(bv)) {
			field_err(errs, "/body",
			          "The `body` field must be a string without NUL characters.");
		} else {
			check_body(errs, json_string_value(bv), p->format);
			p->body = (char *)(uintptr_t)json_string_value(bv);
		}
	} else if (create) {
		field_err(errs, "/body", "The `body` field is required.");
	}
	const char *from = body_str(c, errs, "from", FROM_MAX, 1, 0);
	if (from && *from) { /* "" goes back to the configured sender */
		char name[BL_NAME_MAX + 1], addr[BL_ADDRESS_MAX + 1];
		struct bl_diag d;
		if (bl_sender_parse(from, address_flags(c), name, sizeof(name), addr, sizeof(addr),
		                    &d))
			field_err(errs, "/from",
			          "The `from` field is not one sender bulletin can use (\"Name "
			          "<address>\" or an address): %s",
			          d.msg);
		else
			p->from_header = (char *)(uintptr_t)from;
	} else if (from) {
		p->from_header = (char *)(uintptr_t)from;
	}
	int breaking = body_bool(c, errs, "breaking");
	if (breaking >= 0)
		p->priority = breaking ? BL_PRIORITY_BREAKING : BL_PRIORITY_NORMAL;
	*at = body_time(c, errs, "scheduled_at", 1, at_set);
	body_lists(c, errs, ids, n_ids, pl, create);
}

/* The post of path argument 0 (kind post): 1, 0 after a 404, -1 after a 500. */
static int load_post(struct bl_api_call *c, struct bl_post *p)
{
	int64_t id = arg_id(c, 0, "post");
	if (!id)
		return 0;
	int rc = c->s->ops->post_get(c->s, id, p);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 1 && p->kind != BL_POST_KIND_POST) {
		bl_post_clear(p);
		rc = 0;
	}
	if (rc == 0)
		not_found_id(c, "post", id);
	return rc;
}

/* The post as GET /posts/{id} shows it: body, lists and delivery counts. */
static void post_reply(struct bl_api_call *c, int64_t id, int status)
{
	struct bl_post p = {0};
	struct bl_delivery_counts n;
	int rc = c->s->ops->post_get(c->s, id, &p);
	if (rc <= 0 || c->s->ops->delivery_counts(c->s, id, &n)) {
		if (rc > 0)
			bl_post_clear(&p);
		store_failed(c);
		return;
	}
	json_t *o = post_json_full(c, &p, 1);
	if (o) {
		n.in_doubt = p.in_doubt;
		json_object_set_new(o, "counts", bl_json_delivery_counts(&n));
		if (status == 201)
			created(c, o, PREFIX "posts/%lld", (long long)id);
		else
			reply(c, status, o);
	}
	bl_post_clear(&p);
}

static void posts_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	struct bl_post p = {.kind = BL_POST_KIND_POST, .from_header = "", .status = BL_POST_DRAFT};
	int64_t ids[POST_LISTS], at;
	size_t n_ids;
	int at_set;
	struct post_lists pl = {0};
	post_fields(c, errs, &p, ids, &n_ids, &pl, 1, &at, &at_set);
	if (json_array_size(errs)) {
		invalid(c, errs);
		post_lists_clear(&pl);
		return;
	}
	json_decref(errs);
	/* Created scheduled: checked as POST /posts/{id}/schedule checks, before anything
	 * is written. */
	if (at > 0 && !sendable(c, &p, &pl)) {
		post_lists_clear(&pl);
		return;
	}
	post_lists_clear(&pl);
	int rc = c->s->ops->post_create(c->s, &p, ids, n_ids);
	if (rc == 0 && at > 0 && c->s->ops->post_schedule(c->s, p.id, at) < 0)
		rc = -BL_ESTORE;
	if (rc) {
		store_failed(c);
		return;
	}
	char t[TARGET_MAX];
	bl_audit(c->req, &c->who, "post.create", target_id(t, sizeof(t), "post", p.id), "%s",
	         p.subject);
	post_reply(c, p.id, 201);
}

static void post_get(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	post_reply(c, p.id, 200);
	bl_post_clear(&p);
}

/* 409: @p's status does not allow @verb ("send"). */
static void not_now(struct bl_api_call *c, const struct bl_post *p, const char *verb)
{
	static const char *const allowed[][2] = {{"change", "a draft or a scheduled post"},
	                                         {"send", "a draft or a scheduled post"},
	                                         {"schedule", "a draft or a scheduled post"},
	                                         {"unschedule", "a scheduled post"},
	                                         {"pause", "a sending post"},
	                                         {"resume", "a paused post"},
	                                         {"cancel", "a post not yet sent"},
	                                         {"retry", "a post with failed deliveries"}};
	const char *who = "a post in another state";
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(allowed[i][0], verb) == 0)
			who = allowed[i][1];
	problem(c, 409, "post-status", "Post %lld is %s; you can only %s %s.", (long long)p->id,
	        bl_post_status_name(p->status), verb, who);
}

static void post_patch(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	if (p.status != BL_POST_DRAFT && p.status != BL_POST_SCHEDULED) {
		not_now(c, &p, "change");
		bl_post_clear(&p);
		return;
	}
	json_t *errs = json_array();
	struct bl_post upd = p;
	int64_t ids[POST_LISTS], at;
	size_t n_ids;
	int at_set;
	struct post_lists pl = {0};
	post_fields(c, errs, &upd, ids, &n_ids, &pl, 0, &at, &at_set);
	if (json_array_size(errs)) {
		invalid(c, errs);
		post_lists_clear(&pl);
		bl_post_clear(&p);
		return;
	}
	json_decref(errs);
	/* Scheduled by this change: the post as it will be (its lists as they will be) must
	 * pass the check POST /posts/{id}/schedule makes, before anything is written. */
	if (at > 0) {
		int ok = 1;
		if (n_ids == 0 && c->s->ops->post_lists(c->s, p.id, on_post_list, &pl)) {
			store_failed(c);
			ok = 0;
		}
		ok = ok && sendable(c, &upd, &pl);
		if (!ok) {
			post_lists_clear(&pl);
			bl_post_clear(&p);
			return;
		}
	}
	post_lists_clear(&pl);
	int rc = c->s->ops->post_update(c->s, &upd, ids, n_ids);
	if (rc == 1 && at_set)
		rc = c->s->ops->post_schedule(c->s, p.id, at);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_now(c, &p, "change"); /* it moved on meanwhile */
	} else {
		char t[TARGET_MAX], what[128];
		bl_audit(c->req, &c->who, "post.update", target_id(t, sizeof(t), "post", p.id),
		         "%s", changed(c, what, sizeof(what)));
		post_reply(c, p.id, 200);
	}
	bl_post_clear(&p);
}

/* The composer of post @p for the lists @pl (borrowed for the composer's
 * life), its links signed with @secret (borrowed as long; NULL: the
 * installation's key, for the check before sending; a preview passes a
 * throwaway one). NULL after a 422 saying why. */
static struct bl_composer *composer(struct bl_api_call *c, const struct bl_post *p,
                                    struct post_lists *pl, const struct bl_secret *secret)
{
	if (!c->w) {
		problem(c, 500, "internal",
		        "The server has no configuration to compose mail with.");
		return NULL;
	}
	struct bl_compose_opts co;
	struct bl_diag d;
	struct bl_composer *comp = NULL;
	bl_compose_opts_from_config(c->w->config, secret ? secret : &c->w->secret, &co);
	if ((!co.from || !*co.from) && (!p->from_header || !*p->from_header)) {
		json_t *e = json_array();
		field_err(e, "/from",
		          "There is no sender: set `from` in the server's configuration, or give "
		          "the post its own `from`.");
		invalid(c, e);
		return NULL;
	}
	if (bl_composer_create(&co, p, pl->v, pl->n, &comp, &d)) {
		json_t *e = json_array();
		if (p->id)
			field_err(e, "", "Post %lld cannot be composed: %s", (long long)p->id,
			          d.msg);
		else
			field_err(e, "", "The post cannot be composed: %s", d.msg);
		invalid(c, e);
		return NULL;
	}
	return comp;
}

/*
 * The check before a post is queued or scheduled (POST /posts/{id}/send,
 * /schedule, and scheduled_at on create and PATCH), as `post create --at`
 * and `post send` make it: post @p composes for the lists @pl (a sender, a
 * public_url, a body that renders) and the server's relay setting makes a
 * transport. What would only fail with nobody watching fails now. 1 when
 * it may go; 0 after a 422 (or a 500) saying why.
 */
static int sendable(struct bl_api_call *c, const struct bl_post *p, struct post_lists *pl)
{
	struct bl_composer *comp = composer(c, p, pl, NULL);
	if (!comp)
		return 0;
	bl_composer_destroy(comp);
	struct bl_transport *t = NULL;
	struct bl_transport_opts to;
	struct bl_diag d;
	bl_transport_opts_init(&to);
	if (bl_transport_create(bl_config_str(c->w->config, "relay"), &to, &t, &d)) {
		json_t *e = json_array();
		field_err(e, "",
		          "The server's `relay` setting is wrong (%s); fix the configuration, then "
		          "try again.",
		          d.msg);
		invalid(c, e);
		return 0;
	}
	bl_transport_destroy(t);
	return 1;
}

struct first_sub {
	struct bl_subscriber sub;
	int found;
};

static int take_first(void *arg, const struct bl_subscriber *s)
{
	struct first_sub *f = arg;
	bl_subscriber_copy(&f->sub, s);
	f->found = 1;
	return 1;
}

struct pick {
	const struct post_lists *pl;
	int64_t list_id;
};

static int pick_list(void *arg, const struct bl_subscription *x)
{
	struct pick *pk = arg;
	if (x->status != BL_SUB_CONFIRMED || x->mode != BL_MODE_INSTANT)
		return 0;
	for (size_t i = 0; i < pk->pl->n; i++)
		if (pk->pl->v[i].id == x->list_id && (pk->list_id == 0 || x->list_id < pk->list_id))
			pk->list_id = x->list_id;
	return 0;
}

static void post_preview(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	json_t *errs = json_array();
	const char *to = body_str(c, errs, "to", 0, 0, 0);
	const char *format = body_str(c, errs, "format", 0, 0, 0);
	struct post_lists pl = {0};
	struct first_sub fs = {0};
	struct bl_composer *comp = NULL;
	struct bl_secret throwaway = {{0}};
	struct bl_address addr;
	struct bl_diag d;
	if (!format)
		format = "html";
	if (strcmp(format, "html") && strcmp(format, "text") && strcmp(format, "eml"))
		field_err(errs, "/format",
		          "The `format` field must be \"html\", \"text\" or \"eml\".");
	if (to && bl_address_parse(to, strlen(to), address_flags(c), &addr, NULL, &d))
		field_err(errs, "/to", "The `to` field is not an address bulletin can use: %s",
		          d.msg);
	if (!json_array_size(errs) && to) {
		int rc = c->s->ops->subscriber_get(c->s, addr.key, &fs.sub);
		if (rc < 0) {
			json_decref(errs);
			store_failed(c);
			goto out;
		}
		if (rc == 0)
			field_err(
			    errs, "/to",
			    "No subscriber %s; name a subscriber in `to`, or leave it out for a "
			    "sample reader.",
			    addr.display);
		fs.found = rc == 1;
	}
	if (json_array_size(errs)) {
		invalid(c, errs);
		goto out;
	}
	json_decref(errs);
	if (c->s->ops->post_lists(c->s, p.id, on_post_list, &pl)) {
		store_failed(c);
		goto out;
	}
	for (size_t i = 0; i < pl.n && !fs.found; i++) {
		struct bl_subscriber_filter f = {.list_id = pl.v[i].id,
		                                 .sub_status = BL_SUB_CONFIRMED,
		                                 .status = BL_SUBSCRIBER_ACTIVE,
		                                 .limit = 1};
		if (c->s->ops->subscriber_each(c->s, &f, take_first, &fs) < 0) {
			store_failed(c);
			goto out;
		}
	}
	struct bl_claimed row = {.post_id = p.id, .attempts = 1};
	if (fs.found) {
		struct pick pk = {&pl, 0};
		c->s->ops->subscription_each(c->s, fs.sub.id, pick_list, &pk);
		row.subscriber_id = fs.sub.id;
		row.email = fs.sub.email;
		row.name = fs.sub.name;
		row.attributes = fs.sub.attributes;
		row.list_id = pk.list_id ? pk.list_id : (pl.n ? pl.v[0].id : 0);
	} else { /* no subscriber yet: a sample reader, as `post preview` */
		row.email = "reader@example.com";
		row.name = "Sample Reader";
		row.attributes = "{}";
		row.list_id = pl.n ? pl.v[0].id : 0;
	}
	/* A preview's links must not work: anyone who may preview (a viewer) would
	 * otherwise hold a working unsubscribe, preferences (erase) and confirm link of
	 * any subscriber. They are signed with a key made for this preview and
	 * forgotten: they look real, and never verify. */
	bl_secret_random(&throwaway);
	if (!(comp = composer(c, &p, &pl, &throwaway)))
		goto out;
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX];
	bl_buf_init(&msg, BL_MESSAGE_MAX);
	if (bl_compose(comp, &row, c->now, &msg, mail_from, &d)) {
		json_t *e = json_array();
		field_err(e, "", "The message cannot be composed: %s", d.msg);
		invalid(c, e);
	} else if (strcmp(format, "eml") == 0) {
		c->resp->content_type = "message/rfc822";
		bl_buf_add(&c->resp->body, msg.data, msg.len);
	} else if (strcmp(format, "text") == 0) {
		c->resp->content_type = "text/plain; charset=utf-8";
		bl_buf_adds(&c->resp->body, bl_composer_last_text(comp));
	} else {
		/* The message's own HTML, shown alone: no script, no form, no plugin runs. */
		c->resp->content_type = "text/html; charset=utf-8";
		c->resp->csp = "sandbox; default-src 'none'; img-src https: data:; "
		               "style-src 'unsafe-inline'; frame-ancestors 'self'";
		c->resp->frame_options = "SAMEORIGIN";
		bl_buf_adds(&c->resp->body, bl_composer_last_html(comp));
	}
	bl_buf_finish(&msg);
out:
	bl_composer_destroy(comp);
	bl_memzero(&throwaway, sizeof(throwaway));
	if (fs.found)
		bl_subscriber_clear(&fs.sub);
	post_lists_clear(&pl);
	bl_post_clear(&p);
}

/* The post's state after an action: {"id","status","total"} (+ extra). */
static void action_reply(struct bl_api_call *c, int64_t id, const char *key, int64_t v)
{
	struct bl_post p;
	int rc = c->s->ops->post_get(c->s, id, &p);
	if (rc <= 0) {
		store_failed(c);
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(p.id));
	json_object_set_new(o, "status", json_string(bl_post_status_name(p.status)));
	json_object_set_new(o, "scheduled_at", bl_json_time(p.scheduled_at));
	json_object_set_new(o, "total", json_integer(p.total));
	if (key)
		json_object_set_new(o, key, json_integer(v));
	reply(c, 200, o);
	bl_post_clear(&p);
}

static void post_send(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	struct post_lists pl = {0};
	if (p.status != BL_POST_DRAFT && p.status != BL_POST_SCHEDULED) {
		not_now(c, &p, "send");
		goto out;
	}
	/* Refuse now what would only fail at send time (no sender, a bad relay). */
	if (c->s->ops->post_lists(c->s, p.id, on_post_list, &pl)) {
		store_failed(c);
		goto out;
	}
	if (!sendable(c, &p, &pl))
		goto out;
	int64_t total = 0;
	int rc = c->s->ops->post_queue(c->s, p.id, c->now, &total);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_now(c, &p, "send");
	} else {
		char tg[TARGET_MAX];
		bl_audit(c->req, &c->who, "post.send", target_id(tg, sizeof(tg), "post", p.id),
		         "%lld recipients", (long long)total);
		action_reply(c, p.id, NULL, 0);
	}
out:
	post_lists_clear(&pl);
	bl_post_clear(&p);
}

static void post_schedule(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	json_t *errs = json_array();
	int set;
	int64_t at = body_time(c, errs, "at", 1, &set);
	if (!set || at == 0)
		field_err(errs, "/at",
		          "The `at` field is required: an RFC 3339 time such as "
		          "\"2026-12-01T09:00:00Z\".");
	struct post_lists pl = {0};
	if (json_array_size(errs)) {
		invalid(c, errs);
		goto out;
	}
	json_decref(errs);
	if (p.status != BL_POST_DRAFT && p.status != BL_POST_SCHEDULED) {
		not_now(c, &p, "schedule");
		goto out;
	}
	/* It goes out with nobody watching: what would fail then fails now. */
	if (c->s->ops->post_lists(c->s, p.id, on_post_list, &pl)) {
		store_failed(c);
		goto out;
	}
	if (!sendable(c, &p, &pl))
		goto out;
	int rc = c->s->ops->post_schedule(c->s, p.id, at);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_now(c, &p, "schedule");
	} else {
		char t[BL_TIME_STRMAX];
		char tg[TARGET_MAX];
		bl_audit(c->req, &c->who, "post.schedule", target_id(tg, sizeof(tg), "post", p.id),
		         "%s", bl_time_format(at, t));
		action_reply(c, p.id, NULL, 0);
	}
out:
	post_lists_clear(&pl);
	bl_post_clear(&p);
}

static void post_unschedule(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	int rc = p.status == BL_POST_SCHEDULED ? c->s->ops->post_schedule(c->s, p.id, 0) : 0;
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_now(c, &p, "unschedule");
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "post.unschedule", target_id(t, sizeof(t), "post", p.id),
		         "a draft again");
		action_reply(c, p.id, NULL, 0);
	}
	bl_post_clear(&p);
}

static void transition(struct bl_api_call *c, const char *verb, unsigned from,
                       enum bl_post_status to)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	int rc = c->s->ops->post_set_status(
	    c->s, p.id, from, to, to == BL_POST_PAUSED ? "paused by a person" : "", 0, c->now);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_now(c, &p, verb);
	} else {
		char action[32];
		snprintf(action, sizeof(action), "post.%s", verb);
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, action, target_id(t, sizeof(t), "post", p.id), "was %s",
		         bl_post_status_name(p.status));
		action_reply(c, p.id, NULL, 0);
	}
	bl_post_clear(&p);
}

static void post_pause(struct bl_api_call *c)
{
	transition(c, "pause", 1u << BL_POST_SENDING, BL_POST_PAUSED);
}

static void post_resume(struct bl_api_call *c)
{
	transition(c, "resume", 1u << BL_POST_PAUSED, BL_POST_SENDING);
}

static void post_cancel(struct bl_api_call *c)
{
	transition(c, "cancel",
	           1u << BL_POST_DRAFT | 1u << BL_POST_SCHEDULED | 1u << BL_POST_SENDING |
	               1u << BL_POST_PAUSED,
	           BL_POST_CANCELLED);
}

static void post_retry(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	int64_t n = 0;
	int rc = c->s->ops->delivery_retry(c->s, p.id, c->now, &n);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_now(c, &p, "retry");
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "post.retry", target_id(t, sizeof(t), "post", p.id),
		         "%lld deliveries", (long long)n);
		action_reply(c, p.id, "retried", n);
	}
	bl_post_clear(&p);
}

static void post_status(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	struct bl_delivery_counts n;
	int64_t recent = 0;
	if (c->s->ops->delivery_counts(c->s, p.id, &n) ||
	    c->s->ops->delivery_accepted_since(c->s, p.id, c->now - 60, &recent)) {
		store_failed(c);
		bl_post_clear(&p);
		return;
	}
	struct bl_bounce_thresholds thr;
	struct bl_bounce_summary b;
	bl_bounce_thresholds_from_config(c->w ? c->w->config : NULL, &thr);
	if (bl_bounce_summary_load(c->s, p.id, &thr, &b)) {
		store_failed(c);
		bl_post_clear(&p);
		return;
	}
	json_t *o = bl_json_post_status(&p, &n, recent, c->now);
	json_object_set_new(o, "bounces", bl_json_bounce_summary(&b));
	reply(c, 200, o);
	bl_post_clear(&p);
}

struct deliveries {
	json_t *items;
	int64_t n, limit, last_id;
};

static int on_delivery(void *arg, const struct bl_delivery_row *r)
{
	struct deliveries *o = arg;
	if (o->n++ == o->limit)
		return 1;
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(r->id));
	json_object_set_new(j, "email", r->subscriber_id ? json_string(r->email) : json_null());
	json_object_set_new(j, "state", json_string(bl_delivery_state_name(r->state)));
	json_object_set_new(j, "attempts", json_integer(r->attempts));
	json_object_set_new(j, "in_doubt", json_boolean(r->in_doubt));
	json_object_set_new(j, "code", r->code ? json_integer(r->code) : json_null());
	json_object_set_new(j, "reply", json_string(r->reply ? r->reply : ""));
	json_object_set_new(j, "queue_id", json_string(r->queue_id ? r->queue_id : ""));
	json_object_set_new(j, "relay", json_string(r->relay ? r->relay : ""));
	json_object_set_new(j, "updated_at", bl_json_time(r->updated_at));
	json_object_set_new(j, "next_try",
	                    r->state == BL_DELIVERY_DEFERRED ? bl_json_time(r->next_try)
	                                                     : json_null());
	json_array_append_new(o->items, j);
	o->last_id = r->id;
	return 0;
}

static void post_deliveries(struct bl_api_call *c)
{
	struct bl_post p;
	if (load_post(c, &p) <= 0)
		return;
	long long limit, after;
	int state = -1;
	const char *st = qget(c, "state");
	if (qint(c, "limit", 1, LIMIT_MAX, LIMIT_DFLT, &limit) ||
	    qint(c, "after", 0, INT64_MAX, 0, &after)) {
		bl_post_clear(&p);
		return;
	}
	if (st && *st) {
		enum bl_delivery_state ds;
		if (bl_delivery_state_parse(st, &ds)) {
			problem(c, 400, "bad-parameter",
			        "The `state` query parameter must be pending, claimed, accepted, "
			        "deferred, failed, suppressed, bounced or complained.");
			bl_post_clear(&p);
			return;
		}
		state = (int)ds;
	}
	struct deliveries o = {json_array(), 0, limit, 0};
	int rc = c->s->ops->delivery_each(c->s, p.id, state, after, limit + 1, on_delivery, &o);
	if (rc < 0) {
		json_decref(o.items);
		store_failed(c);
	} else {
		items_reply(c, o.items, o.n > limit ? json_integer(o.last_id) : NULL, 1);
	}
	bl_post_clear(&p);
}

/* ---- bounces and complaints (issue 7) ---- */

struct bounce_page {
	json_t *items;
	int64_t n, limit, last_id;
};

static int on_bounce(void *arg, const struct bl_bounce_row *r)
{
	struct bounce_page *o = arg;
	if (o->n++ == o->limit)
		return 1;
	json_array_append_new(o->items, bl_json_bounce(r));
	o->last_id = r->id;
	return 0;
}

/* GET /bounces?post=ID&subscriber=ID&review=1&before=ID&limit=N: stored findings, newest
 * first, keyset-paged by id ("next": the before= of the next page). */
static void bounces_get(struct bl_api_call *c)
{
	long long limit, before, post, subscriber;
	const char *review = qget(c, "review");
	if (qint(c, "limit", 1, LIMIT_MAX, LIMIT_DFLT, &limit) ||
	    qint(c, "before", 0, INT64_MAX, 0, &before) ||
	    qint(c, "post", 0, INT64_MAX, 0, &post) ||
	    qint(c, "subscriber", 0, INT64_MAX, 0, &subscriber))
		return;
	int review_only = 0;
	if (review && *review) {
		if (strcmp(review, "1") == 0 || strcmp(review, "true") == 0) {
			review_only = 1;
		} else if (strcmp(review, "0") != 0 && strcmp(review, "false") != 0) {
			problem(
			    c, 400, "bad-parameter",
			    "The `review` query parameter must be 1 or true (only the reports that "
			    "could not be matched to a delivery), or 0 or false.");
			return;
		}
	}
	struct bl_bounce_filter f = {.post_id = post,
	                             .subscriber_id = subscriber,
	                             .review_only = review_only,
	                             .before_id = before,
	                             .limit = limit + 1};
	struct bounce_page o = {json_array(), 0, limit, 0};
	if (c->s->ops->bounce_each(c->s, &f, on_bounce, &o) < 0) {
		json_decref(o.items);
		store_failed(c);
		return;
	}
	items_reply(c, o.items, o.n > limit ? json_integer(o.last_id) : NULL, 1);
}

/* ---- stats ---- */

static void stats_get(struct bl_api_call *c)
{
	struct bl_stats st;
	struct bl_counts n;
	if (c->s->ops->stats(c->s, c->now, &st) || c->s->ops->counts(c->s, &n)) {
		store_failed(c);
		return;
	}
	json_t *o = json_object(), *subs = json_object(), *sc = json_object(), *dc = json_object();
	json_object_set_new(subs, "active", json_integer(n.subscribers[BL_SUBSCRIBER_ACTIVE]));
	json_object_set_new(subs, "blocklisted",
	                    json_integer(n.subscribers[BL_SUBSCRIBER_BLOCKLISTED]));
	for (int i = 0; i < 3; i++)
		json_object_set_new(sc, bl_sub_status_name((enum bl_sub_status)i),
		                    json_integer(st.subscriptions[i]));
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++)
		json_object_set_new(dc, bl_delivery_state_name((enum bl_delivery_state)i),
		                    json_integer(st.deliveries[i]));
	json_object_set_new(o, "subscribers", subs);
	json_object_set_new(o, "subscriptions", sc);
	json_object_set_new(o, "deliveries", dc);
	json_object_set_new(o, "accepted_last_minute", json_integer(st.accepted_last_minute));
	json_object_set_new(o, "posts_sending", json_integer(st.posts_sending));
	reply(c, 200, o);
}

/* ---- users, tokens, audit (admins) ---- */

static int on_user(void *arg, const struct bl_user *u)
{
	json_array_append_new(arg, bl_json_user(u));
	return 0;
}

static void users_get(struct bl_api_call *c)
{
	json_t *items = json_array();
	if (c->s->ops->user_each(c->s, on_user, items)) {
		json_decref(items);
		store_failed(c);
		return;
	}
	items_reply(c, items, NULL, 0);
}

/* The password of the body ("password": text of BL_PASSWORD_MIN to
 * BL_PASSWORD_MAX bytes, or true or absent for a generated one) into @pw;
 * *@given says which. 0, or -1 with @errs told. */
static int password_field(struct bl_api_call *c, json_t *errs, char pw[BL_PASSWORD_MAX + 1],
                          int *given)
{
	json_t *v = json_object_get(c->body, "password");
	*given = 0;
	if (!v || json_is_null(v) || json_is_true(v)) {
		bl_password_generate(pw);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) < BL_PASSWORD_MIN ||
	    json_string_length(v) > BL_PASSWORD_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		field_err(errs, "/password",
		          "The `password` field must be text of %d to %d bytes, or true for a "
		          "generated password.",
		          BL_PASSWORD_MIN, BL_PASSWORD_MAX);
		return -1;
	}
	memcpy(pw, json_string_value(v), json_string_length(v) + 1);
	*given = 1;
	return 0;
}

static int hash_password(const char *pw, char out[BL_PASSWORD_HASH_MAX])
{
	return bl_password_hash(pw, strlen(pw), out);
}

static void users_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	const char *name = body_str(c, errs, "name", 0, 0, 1);
	const char *role = body_str(c, errs, "role", 0, 0, 1);
	struct bl_user u = {0};
	char pw[BL_PASSWORD_MAX + 1], hash[BL_PASSWORD_HASH_MAX];
	int given;
	if (name && !bl_user_name_valid(name))
		field_err(errs, "/name",
		          "The `name` must be 1 to %d characters from A-Z, a-z, 0-9, '.', '_', '@' "
		          "and '-'.",
		          BL_USER_NAME_MAX);
	if (role && bl_role_parse(role, &u.role))
		field_err(errs, "/role",
		          "The `role` field must be \"admin\", \"editor\" or \"viewer\".");
	password_field(c, errs, pw, &given);
	if (json_array_size(errs)) {
		invalid(c, errs);
		return;
	}
	json_decref(errs);
	if (hash_password(pw, hash)) {
		problem(c, 500, "internal",
		        "The server ran out of memory hashing the password; try again.");
		return;
	}
	u.name = (char *)(uintptr_t)name;
	u.pass_hash = hash;
	int rc = c->s->ops->user_create(c->s, &u);
	if (rc == -BL_EEXIST) {
		problem(c, 409, "exists",
		        "A user \"%s\" exists already; choose another name, or change that user "
		        "with PATCH /api/v1/users/%s.",
		        name, name);
	} else if (rc) {
		store_failed(c);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "user.add", target_name(t, sizeof(t), "user", name), "%s",
		         bl_role_name(u.role));
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "role", json_string(bl_role_name(u.role)));
		if (!given)
			json_object_set_new(o, "password", json_string(pw));
		created(c, o, PREFIX "users/%s", name);
	}
	bl_memzero(pw, sizeof(pw));
}

/* The user of path argument 0: 1, 0 after a 404, -1 after a 500. */
static int load_user(struct bl_api_call *c, struct bl_user *u)
{
	int rc = bl_user_name_valid(c->arg[0]) ? c->s->ops->user_get(c->s, c->arg[0], 0, u) : 0;
	if (rc < 0)
		store_failed(c);
	else if (rc == 0)
		not_found(c, "user", c->arg[0]);
	return rc;
}

static void user_patch(struct bl_api_call *c)
{
	struct bl_user u;
	if (load_user(c, &u) <= 0)
		return;
	json_t *errs = json_array();
	const char *role = body_str(c, errs, "role", 0, 0, 0);
	json_t *pv = json_object_get(c->body, "password");
	enum bl_role r = u.role;
	char pw[BL_PASSWORD_MAX + 1] = "", hash[BL_PASSWORD_HASH_MAX];
	int given = 0, new_pw = pv && !json_is_null(pv) && !json_is_false(pv);
	if (role && bl_role_parse(role, &r))
		field_err(errs, "/role",
		          "The `role` field must be \"admin\", \"editor\" or \"viewer\".");
	if (new_pw)
		password_field(c, errs, pw, &given);
	if (json_array_size(errs)) {
		invalid(c, errs);
		bl_user_clear(&u);
		return;
	}
	json_decref(errs);
	if (role && r != u.role && u.id == c->who.user_id && r != BL_ROLE_ADMIN) {
		problem(c, 409, "self",
		        "You cannot take the admin role from yourself; another admin can.");
		bl_user_clear(&u);
		return;
	}
	int rc = 1;
	if (role && r != u.role)
		rc = c->s->ops->user_set_role(c->s, u.id, r);
	if (rc == 1 && new_pw) {
		if (hash_password(pw, hash)) {
			problem(c, 500, "internal",
			        "The server ran out of memory hashing the password; try again.");
			bl_user_clear(&u);
			return;
		}
		rc = c->s->ops->user_set_password(c->s, u.id, hash, c->now);
	}
	if (rc == -BL_ELASTADMIN) {
		problem(c, 409, "last-admin", "The user %s.", bl_store_error(c->s));
	} else if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found(c, "user", u.name);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "user.update", target_name(t, sizeof(t), "user", u.name),
		         "%s%s", bl_role_name(r), new_pw ? ", new password" : "");
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(u.name));
		json_object_set_new(o, "role", json_string(bl_role_name(r)));
		if (new_pw && !given)
			json_object_set_new(o, "password", json_string(pw));
		reply(c, 200, o);
	}
	bl_memzero(pw, sizeof(pw));
	bl_user_clear(&u);
}

static void user_delete(struct bl_api_call *c)
{
	struct bl_user u;
	if (load_user(c, &u) <= 0)
		return;
	if (u.id == c->who.user_id) {
		problem(c, 409, "self", "You cannot delete yourself; another admin can.");
		bl_user_clear(&u);
		return;
	}
	int rc = c->s->ops->user_delete(c->s, u.id);
	if (rc == -BL_ELASTADMIN) {
		problem(c, 409, "last-admin", "The user %s.", bl_store_error(c->s));
	} else if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found(c, "user", u.name);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "user.delete", target_name(t, sizeof(t), "user", u.name),
		         "was %s", bl_role_name(u.role));
		no_content(c);
	}
	bl_user_clear(&u);
}

static int on_token(void *arg, const struct bl_api_token *t)
{
	json_array_append_new(arg, bl_json_api_token(t));
	return 0;
}

static void tokens_get(struct bl_api_call *c)
{
	json_t *items = json_array();
	if (c->s->ops->token_each(c->s, on_token, items)) {
		json_decref(items);
		store_failed(c);
		return;
	}
	items_reply(c, items, NULL, 0);
}

static void tokens_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	const char *name = body_str(c, errs, "name", 0, 0, 1);
	const char *role = body_str(c, errs, "role", 0, 0, 1);
	struct bl_api_token t = {0};
	if (name && !bl_user_name_valid(name))
		field_err(errs, "/name",
		          "The `name` must be 1 to %d characters from A-Z, a-z, 0-9, '.', '_', '@' "
		          "and '-'.",
		          BL_USER_NAME_MAX);
	if (role && bl_role_parse(role, &t.role))
		field_err(errs, "/role",
		          "The `role` field must be \"admin\", \"editor\" or \"viewer\".");
	if (json_array_size(errs)) {
		invalid(c, errs);
		return;
	}
	json_decref(errs);
	char secret[BL_API_TOKEN_LEN], hex[BL_HASH_HEX];
	bl_api_token_generate(secret);
	bl_sha256_hex(secret, strlen(secret), hex);
	t.name = (char *)(uintptr_t)name;
	int rc = c->s->ops->token_create(c->s, &t, hex);
	if (rc == -BL_EEXIST) {
		problem(c, 409, "exists",
		        "A token \"%s\" exists already; choose another name, or revoke that one "
		        "first with DELETE /api/v1/tokens/%s.",
		        name, name);
	} else if (rc) {
		store_failed(c);
	} else {
		char tg[TARGET_MAX];
		bl_audit(c->req, &c->who, "token.create",
		         target_name(tg, sizeof(tg), "token", name), "%s", bl_role_name(t.role));
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "role", json_string(bl_role_name(t.role)));
		json_object_set_new(o, "token", json_string(secret));
		created(c, o, PREFIX "tokens/%s", name);
	}
	bl_memzero(secret, sizeof(secret));
}

static void token_delete(struct bl_api_call *c)
{
	int rc = bl_user_name_valid(c->arg[0]) ? c->s->ops->token_delete(c->s, c->arg[0]) : 0;
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found(c, "token", c->arg[0]);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "token.delete",
		         target_name(t, sizeof(t), "token", c->arg[0]), "revoked");
		no_content(c);
	}
}

struct audit_page {
	json_t *items;
	int64_t n, limit, last_id;
};

static int on_audit(void *arg, const struct bl_audit *e)
{
	struct audit_page *a = arg;
	if (a->n++ == a->limit)
		return 1;
	json_array_append_new(a->items, bl_json_audit(e));
	a->last_id = e->id;
	return 0;
}

static void audit_get(struct bl_api_call *c)
{
	long long limit, before;
	if (qint(c, "limit", 1, LIMIT_MAX, LIMIT_DFLT, &limit) ||
	    qint(c, "before", 0, INT64_MAX, 0, &before))
		return;
	struct audit_page a = {json_array(), 0, limit, 0};
	if (c->s->ops->audit_each(c->s, before, limit + 1, on_audit, &a) < 0) {
		json_decref(a.items);
		store_failed(c);
		return;
	}
	items_reply(c, a.items, a.n > limit ? json_integer(a.last_id) : NULL, 1);
}

/* ---- feeds (issue 6) ---- */

/* @f as JSON with its lists; NULL after a store failure (500 sent). */
static json_t *feed_json(struct bl_api_call *c, const struct bl_feed *f)
{
	json_t *o = bl_json_feed_stored(c->s, f);
	if (!o)
		store_failed(c);
	return o;
}

struct feeds_walk {
	struct bl_api_call *c;
	json_t *items;
};

static int on_feed(void *arg, const struct bl_feed *f)
{
	struct feeds_walk *w = arg;
	json_t *o = feed_json(w->c, f);
	if (!o)
		return 1;
	json_array_append_new(w->items, o);
	return 0;
}

static void feeds_get(struct bl_api_call *c)
{
	struct feeds_walk w = {c, json_array()};
	int rc = c->s->ops->feed_each(c->s, on_feed, &w);
	if (rc) {
		json_decref(w.items);
		if (rc < 0)
			store_failed(c);
		return;
	}
	items_reply(c, w.items, NULL, 0);
}

/* The feed of path argument 0: 1, 0 after a 404, -1 after a 500. */
static int load_feed(struct bl_api_call *c, struct bl_feed *f)
{
	int64_t id = arg_id(c, 0, "feed");
	if (!id)
		return 0;
	int rc = c->s->ops->feed_get(c->s, id, f);
	if (rc < 0)
		store_failed(c);
	else if (rc == 0)
		not_found_id(c, "feed", id);
	return rc;
}

static void feed_get(struct bl_api_call *c)
{
	struct bl_feed f;
	if (load_feed(c, &f) <= 0)
		return;
	json_t *o = feed_json(c, &f);
	if (o)
		reply(c, 200, o);
	bl_feed_clear(&f);
}

static void feeds_post(struct bl_api_call *c)
{
	json_t *errs = json_array();
	struct bl_feed f = {.mode = BL_FEED_SEND, .every = BL_FEED_EVERY_DEFAULT};
	const char *url = body_str(c, errs, "url", 0, 0, 1);
	struct bl_diag d;
	char *norm = NULL; /* the URL's one spelling (bl_feed_url_normalize) */
	if (url && bl_feed_url_normalize(url, &norm, &d))
		field_err(errs, "/url", "The `url` is not usable: %s.", d.msg);
	const char *mode = body_str(c, errs, "mode", 0, 0, 0);
	if (mode && bl_feed_mode_parse(mode, &f.mode))
		field_err(errs, "/mode", "The `mode` field must be \"send\" or \"draft\".");
	json_t *v = json_object_get(c->body, "every");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < BL_FEED_EVERY_MIN ||
		    json_integer_value(v) > 7 * 86400)
			field_err(errs, "/every",
			          "The `every` field must be a number of seconds from %d to %d.",
			          BL_FEED_EVERY_MIN, 7 * 86400);
		else
			f.every = json_integer_value(v);
	}
	v = json_object_get(c->body, "backfill");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000)
			field_err(errs, "/backfill",
			          "The `backfill` field must be a number of items from 0 to 1000.");
		else
			f.backfill = json_integer_value(v);
	}
	int breaking = body_bool(c, errs, "breaking");
	f.breaking = breaking > 0;
	int64_t ids[POST_LISTS];
	size_t n_ids = 0;
	struct post_lists pl = {0};
	body_lists(c, errs, ids, &n_ids, &pl, 1);
	post_lists_clear(&pl);
	if (json_array_size(errs)) {
		free(norm);
		invalid(c, errs);
		return;
	}
	json_decref(errs);
	f.url = norm;
	f.created_at = c->now;
	int rc = c->s->ops->feed_create(c->s, &f, ids, n_ids);
	if (rc == -BL_EEXIST) {
		free(norm);
		problem(c, 409, "exists",
		        "A feed with this URL exists already (see GET /api/v1/feeds).");
		return;
	}
	if (rc) {
		free(norm);
		store_failed(c);
		return;
	}
	char t[TARGET_MAX];
	bl_audit(c->req, &c->who, "feed.add", target_id(t, sizeof(t), "feed", f.id), "%s, %s", norm,
	         bl_feed_mode_name(f.mode));
	free(norm);
	struct bl_feed got;
	if (c->s->ops->feed_get(c->s, f.id, &got) != 1) {
		store_failed(c);
		return;
	}
	json_t *o = feed_json(c, &got);
	bl_feed_clear(&got);
	if (o)
		created(c, o, PREFIX "feeds/%lld", (long long)f.id);
}

static void feed_delete(struct bl_api_call *c)
{
	struct bl_feed f;
	if (load_feed(c, &f) <= 0)
		return;
	int rc = c->s->ops->feed_delete(c->s, f.id);
	if (rc < 0) {
		store_failed(c);
	} else if (rc == 0) {
		not_found_id(c, "feed", f.id);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "feed.rm", target_id(t, sizeof(t), "feed", f.id), "%s",
		         f.url);
		no_content(c);
	}
	bl_feed_clear(&f);
}

/* POST /feeds/{id}/poll: poll it now (within feed_timeout), answer what it did. */
static void feed_poll(struct bl_api_call *c)
{
	struct bl_feed f;
	if (load_feed(c, &f) <= 0)
		return;
	if (!c->w) {
		problem(c, 503, "unavailable",
		        "This server has no configuration to fetch feeds with.");
		bl_feed_clear(&f);
		return;
	}
	struct bl_fetch_opts fo;
	bl_web_fetch_opts(c->w->config, &fo);
	struct bl_feed_poll_report r;
	struct bl_diag d;
	int rc = bl_feed_poll(c->s, f.id, &fo, c->now, &r, &d);
	if (rc == -BL_ENOENT) {
		not_found_id(c, "feed", f.id);
	} else if (rc) {
		bl_error("api: feed poll: %s", d.msg);
		store_failed(c);
	} else {
		char t[TARGET_MAX];
		bl_audit(c->req, &c->who, "feed.poll", target_id(t, sizeof(t), "feed", f.id), "%s",
		         r.failed ? r.error : "ok");
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(f.id));
		json_object_set_new(o, "ok", json_boolean(!r.failed));
		json_object_set_new(o, "not_modified", json_boolean(r.not_modified));
		json_object_set_new(o, "items", r.items < 0 ? json_null() : json_integer(r.items));
		json_object_set_new(o, "new_items", json_integer(r.new_items));
		json_object_set_new(o, "posts", json_integer(r.posts));
		json_object_set_new(o, "error", r.failed ? json_string(r.error) : json_null());
		json_object_set_new(o, "next_poll_at", bl_json_time(r.next_poll_at));
		reply(c, 200, o);
	}
	bl_feed_clear(&f);
}

static void openapi_get(struct bl_api_call *c)
{
	c->resp->content_type = JSON_TYPE;
	c->resp->no_store = 0;
	bl_buf_adds(&c->resp->body, bl_api_openapi());
}

/* ---- the table and the dispatcher ---- */

#define V  BL_ROLE_VIEWER
#define E  BL_ROLE_EDITOR
#define A  BL_ROLE_ADMIN
#define NB BL_API_BODY_NONE
#define JB BL_API_BODY_JSON
#define CB BL_API_BODY_CSV

static const struct bl_api_endpoint endpoints[] = {
    {BL_HTTP_GET, PREFIX "openapi.json", V, NB, openapi_get},
    {BL_HTTP_GET, PREFIX "lists", V, NB, lists_get},
    {BL_HTTP_POST, PREFIX "lists", E, JB, lists_post},
    {BL_HTTP_GET, PREFIX "lists/{slug}", V, NB, list_get},
    {BL_HTTP_PATCH, PREFIX "lists/{slug}", E, JB, list_patch},
    {BL_HTTP_DELETE, PREFIX "lists/{slug}", E, NB, list_delete},
    {BL_HTTP_GET, PREFIX "subscribers", V, NB, subscribers_get},
    {BL_HTTP_POST, PREFIX "subscribers", E, JB, subscribers_post},
    {BL_HTTP_GET, PREFIX "subscribers/{id}", V, NB, subscriber_get},
    {BL_HTTP_PATCH, PREFIX "subscribers/{id}", E, JB, subscriber_patch},
    {BL_HTTP_DELETE, PREFIX "subscribers/{id}", E, NB, subscriber_delete},
    {BL_HTTP_GET, PREFIX "subscribers/{id}/subscriptions", V, NB, subscriptions_get},
    {BL_HTTP_PUT, PREFIX "subscribers/{id}/subscriptions/{slug}", E, JB, subscription_put},
    {BL_HTTP_DELETE, PREFIX "subscribers/{id}/subscriptions/{slug}", E, NB, subscription_delete},
    {BL_HTTP_GET, PREFIX "imports", V, NB, imports_get},
    {BL_HTTP_POST, PREFIX "imports", E, CB, imports_post},
    {BL_HTTP_GET, PREFIX "imports/{id}", V, NB, import_get},
    {BL_HTTP_GET, PREFIX "export", V, NB, export_get},
    {BL_HTTP_GET, PREFIX "posts", V, NB, posts_get},
    {BL_HTTP_POST, PREFIX "posts", E, JB, posts_post},
    {BL_HTTP_GET, PREFIX "posts/{id}", V, NB, post_get},
    {BL_HTTP_PATCH, PREFIX "posts/{id}", E, JB, post_patch},
    {BL_HTTP_POST, PREFIX "posts/{id}/preview", V, JB, post_preview},
    {BL_HTTP_POST, PREFIX "posts/{id}/send", E, JB, post_send},
    {BL_HTTP_POST, PREFIX "posts/{id}/schedule", E, JB, post_schedule},
    {BL_HTTP_POST, PREFIX "posts/{id}/unschedule", E, JB, post_unschedule},
    {BL_HTTP_POST, PREFIX "posts/{id}/pause", E, JB, post_pause},
    {BL_HTTP_POST, PREFIX "posts/{id}/resume", E, JB, post_resume},
    {BL_HTTP_POST, PREFIX "posts/{id}/cancel", E, JB, post_cancel},
    {BL_HTTP_POST, PREFIX "posts/{id}/retry", E, JB, post_retry},
    {BL_HTTP_GET, PREFIX "posts/{id}/status", V, NB, post_status},
    {BL_HTTP_GET, PREFIX "posts/{id}/deliveries", V, NB, post_deliveries},
    {BL_HTTP_GET, PREFIX "bounces", V, NB, bounces_get},
    {BL_HTTP_GET, PREFIX "feeds", V, NB, feeds_get},
    {BL_HTTP_POST, PREFIX "feeds", E, JB, feeds_post},
    {BL_HTTP_GET, PREFIX "feeds/{id}", V, NB, feed_get},
    {BL_HTTP_DELETE, PREFIX "feeds/{id}", E, NB, feed_delete},
    {BL_HTTP_POST, PREFIX "feeds/{id}/poll", E, JB, feed_poll},
    {BL_HTTP_GET, PREFIX "stats", V, NB, stats_get},
    {BL_HTTP_GET, PREFIX "users", A, NB, users_get},
    {BL_HTTP_POST, PREFIX "users", A, JB, users_post},
    {BL_HTTP_PATCH, PREFIX "users/{name}", A, JB, user_patch},
    {BL_HTTP_DELETE, PREFIX "users/{name}", A, NB, user_delete},
    {BL_HTTP_GET, PREFIX "tokens", A, NB, tokens_get},
    {BL_HTTP_POST, PREFIX "tokens", A, JB, tokens_post},
    {BL_HTTP_DELETE, PREFIX "tokens/{name}", A, NB, token_delete},
    {BL_HTTP_GET, PREFIX "audit", A, NB, audit_get},
};
#define N_ENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

const struct bl_api_endpoint *bl_api_endpoints(size_t *n)
{
	*n = N_ENDPOINTS;
	return endpoints;
}

/* Matches @path against template @tmpl; the {placeholders} go to @c->arg. */
static int match(const char *tmpl, const char *path, struct bl_api_call *c, char *buf)
{
	size_t n = 0;
	strcpy(buf, path);
	char *p = buf;
	const char *t = tmpl;
	while (*t && *p) {
		if (*t == '{') {
			const char *te = strchr(t, '}');
			char *pe = strchr(p, '/');
			if (!te || (pe ? pe == p : !*p) || n == MAX_SEGS)
				return 0;
			c->arg[n++] = p;
			t = te + 1;
			if (pe) {
				if (*t != '/')
					return 0;
				*pe = '\0';
				p = pe + 1;
				t++;
			} else {
				p += strlen(p);
			}
			continue;
		}
		if (*t != *p)
			return 0;
		t++;
		p++;
	}
	if (*t || *p)
		return 0;
	c->n_arg = n;
	return 1;
}

static const char *method_name(unsigned m)
{
	return m == BL_HTTP_GET     ? "GET"
	       : m == BL_HTTP_POST  ? "POST"
	       : m == BL_HTTP_PUT   ? "PUT"
	       : m == BL_HTTP_PATCH ? "PATCH"
	                            : "DELETE";
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct bl_ratelimit *bad_auth; /* failed authentications per client IP */

static void init_once(void)
{
	bad_auth = bl_ratelimit_create(AUTH_PER_HOUR, AUTH_BURST, 10000);
}

/* Who is asking: 1 with @c->who set, 0 after a 401/429/403, -1 after a 500. */
static int authenticate(struct bl_api_call *c)
{
	const char *authz = bl_http_header(c->req, "Authorization");
	int rc = 0;
	int session = 0;
	if (authz) {
		rc = bl_auth_bearer(c->req, &c->who);
	} else if (bl_http_cookie(c->req, BL_ADMIN_COOKIE)) {
		rc = bl_auth_session(c->req, &c->who);
		session = 1;
	}
	if (rc < 0) {
		problem(c, 500, "internal", DB_FAILED);
		return -1;
	}
	if (rc == 0) {
		int retry = 0;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((authz || session) &&
		    !bl_ratelimit_take(bad_auth, c->req->ip, (double)ts.tv_sec, &retry)) {
			bl_http_add_header(c->resp, "Retry-After", "%d", retry);
			problem(
			    c, 429, "too-many-requests",
			    "Too many failed authentications from this address; try again in %d s.",
			    retry);
			return 0;
		}
		bl_http_add_header(c->resp, "WWW-Authenticate", "Bearer realm=\"bulletin\"%s",
		                   authz ? ", error=\"invalid_token\"" : "");
		problem(c, 401, "unauthorized",
		        authz ? "The token is not valid: it was revoked, or mistyped. Send the "
		                "token exactly as `bulletin token create` printed it."
		              : "Send an API token as \"Authorization: Bearer TOKEN\" (`bulletin "
		                "token create` makes one), or log in at /admin/login.");
		return 0;
	}
	if (session && c->req->method != BL_HTTP_GET &&
	    !bl_auth_csrf_ok(&c->who, bl_http_header(c->req, "X-CSRF-Token"))) {
		problem(
		    c, 403, "csrf",
		    "A call made with a session cookie needs the session's X-CSRF-Token header.");
		return 0;
	}
	return 1;
}

static void dispatch(struct bl_http_req *req, struct bl_http_resp *resp)
{
	pthread_once(&once, init_once);
	struct bl_api_call c;
	memset(&c, 0, sizeof(c));
	c.req = req;
	c.resp = resp;
	c.s = req->store;
	c.w = req->app;
	c.now = bl_now();
	resp->content_type = JSON_TYPE;
	char *buf = bl_xmalloc(strlen(req->path) + 1);
	const struct bl_api_endpoint *ep = NULL;
	unsigned allow = 0;
	for (size_t i = 0; i < N_ENDPOINTS; i++) {
		struct bl_api_call probe = c;
		if (!match(endpoints[i].path, req->path, &probe, buf))
			continue;
		allow |= endpoints[i].method;
		if (endpoints[i].method == (unsigned)req->method) {
			ep = &endpoints[i];
			memcpy(c.arg, probe.arg, sizeof(c.arg));
			c.n_arg = probe.n_arg;
			break;
		}
	}
	if (!ep) {
		free(buf);
		if (allow) {
			char text[64] = "";
			for (unsigned m = 1; m <= BL_HTTP_DELETE; m <<= 1)
				if (allow & m) {
					if (*text)
						strcat(text, ", ");
					strcat(text, method_name(m));
					if (m == BL_HTTP_GET)
						strcat(text, ", HEAD");
				}
			bl_http_add_header(resp, "Allow", "%s", text);
			problem(&c, 405, "method-not-allowed", "The path %s takes only %s.",
			        req->path, text);
		} else {
			problem(&c, 404, "no-route",
			        "There is no API endpoint at %s; %sopenapi.json lists them.",
			        req->path, PREFIX);
		}
		return;
	}
	/* The path arguments live in @buf, re-matched for the endpoint found. */
	match(ep->path, req->path, &c, buf);
	if (!c.s) {
		problem(&c, 500, "internal", "The server has no database.");
		goto out;
	}
	if (ep->fn != openapi_get && authenticate(&c) <= 0)
		goto out;
	if (ep->fn != openapi_get && c.who.role < ep->role) {
		problem(&c, 403, "forbidden", "%s %s needs the %s role; %s has the %s role.",
		        method_name(ep->method), ep->path, bl_role_name(ep->role), c.who.actor,
		        bl_role_name(c.who.role));
		goto out;
	}
	if (ep->body == BL_API_BODY_CSV && !type_is(req->content_type, "text/csv")) {
		problem(&c, 415, "unsupported-media-type",
		        "Send the file with \"Content-Type: text/csv\".");
		goto out;
	}
	if (ep->body == BL_API_BODY_JSON || (ep->body == BL_API_BODY_NONE && req->body_len)) {
		if (req->body_len == 0 && ep->method == BL_HTTP_POST &&
		    strstr(ep->path, "}/")) { /* an action with nothing to say: {} */
			c.body = json_object();
		} else if (!type_is(req->content_type, JSON_TYPE)) {
			problem(&c, 415, "unsupported-media-type",
			        "Send the request body with \"Content-Type: application/json\".");
			goto out;
		} else {
			json_error_t err;
			c.body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
			if (!c.body) {
				problem(&c, 400, "bad-json",
				        "The request body is not JSON: %s (line %d, column %d).",
				        err.text, err.line, err.column);
				goto out;
			}
			if (!json_is_object(c.body)) {
				problem(&c, 400, "bad-json",
				        "The request body must be a JSON object.");
				goto out;
			}
		}
	}
	if (bl_form_parse(req->query, strlen(req->query), &c.q, NULL) != 0) {
		problem(&c, 400, "bad-parameter",
		        "The query string is malformed (bad %%-escapes, or too long).");
		goto out;
	}
	ep->fn(&c);
out:
	json_decref(c.body);
	bl_form_clear(&c.q);
	free(buf);
}

/* Three routes take more than the server's body limit (each above it is
 * asked of the server's gate, bl_auth_gate, before a byte of the body is
 * read: an editor's token or session): the CSV upload, and the writes that
 * carry a post's Markdown (POST /posts, PATCH /posts/{id}: POST_BODY_MAX).
 * Every other API path is the last, prefix route's. */
static const struct bl_http_route api_routes[] = {
    {BL_HTTP_GET | BL_HTTP_POST, PREFIX "imports", 0, "api", dispatch, BL_API_IMPORT_MAX},
    {BL_HTTP_POST, PREFIX "posts", 0, "api", dispatch, POST_BODY_MAX},
    {BL_HTTP_PATCH, PREFIX "posts/", 1, "api", dispatch, POST_BODY_MAX},
    {BL_HTTP_GET | BL_HTTP_POST | BL_HTTP_PUT | BL_HTTP_PATCH | BL_HTTP_DELETE, PREFIX, 1, "api",
     dispatch, 0},
};

const struct bl_http_route *bl_api_routes(size_t *n)
{
	*n = sizeof(api_routes) / sizeof(api_routes[0]);
	return api_routes;
}

void bl_api_configure(struct bl_http_route *routes, size_t n, size_t import_max)
{
	for (size_t i = 0; i < n; i++)
		if (routes[i].fn == dispatch && strcmp(routes[i].path, PREFIX "imports") == 0)
			routes[i].body_max = import_max;
}

const char *bl_api_openapi(void)
{
	for (const struct bl_embedded *e = bl_api_templates; e->name; e++)
		if (strcmp(e->name, "openapi.json") == 0)
			return e->data;
	return "{}";
}
