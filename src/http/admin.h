/*
 * Publisher tools over HTTP (issue 5), on top of the public web (web.h):
 *  - auth.c: who is asking. Admin sessions (cookie "bl_admin", HttpOnly,
 *    SameSite=Strict, Secure when public_url is https; a new id at every
 *    login; every session of a user ends when the password changes), login
 *    budgets, a CSRF token per session checked on every admin POST, API
 *    tokens sent as "Authorization: Bearer", and the audit log.
 *  - api.c: the JSON API under /api/v1/ (jansson), errors as RFC 9457
 *    application/problem+json, roles checked on every route; its OpenAPI 3.1
 *    document (templates/api/openapi.json, embedded) at /api/v1/openapi.json.
 *  - admin.c: the admin UI under /admin, server-rendered from
 *    templates/admin/ (Mustache pages), working without JavaScript.
 * Every write through either is appended to the audit log (bl_audit).
 */
#ifndef BL_HTTP_ADMIN_H
#define BL_HTTP_ADMIN_H

#include <stdint.h>

#include "core/model.h"
#include "http/http.h"

#define BL_ADMIN_COOKIE "bl_admin"
/* The login form's CSRF nonce (admin.c): set with the login page, checked by its POST. */
#define BL_LOGIN_COOKIE "bl_login"
#define BL_ACTOR_MAX    (BL_USER_NAME_MAX + 8)

/* Who is asking: a logged-in user (session) or an API token. */
struct bl_principal {
	enum bl_role role;
	int64_t user_id;  /* 0 for an API token */
	int64_t token_id; /* 0 for a session */
	char name[BL_USER_NAME_MAX + 1];
	char actor[BL_ACTOR_MAX]; /* "user:NAME" or "token:NAME": the audit log's actor */
	char csrf[64];            /* the session's CSRF token; "" for a token */
};

/*
 * bl_auth_session - the principal of @req's admin session cookie. Returns 1
 * (and fills @out) for a live session; 0 for no cookie, an unknown or ended
 * session; negative on a store error (logged). @out untouched unless 1.
 */
int bl_auth_session(struct bl_http_req *req, struct bl_principal *out);

/*
 * bl_auth_bearer - the principal of @req's "Authorization: Bearer TOKEN"
 * (an API token made by `bulletin token create`; RFC 6750 §2.1). Returns 1
 * (and fills @out), 0 for no or an unknown token, negative on a store error.
 * The token is looked up by its SHA-256, so the comparison does not depend
 * on how much of a guess is right.
 */
int bl_auth_bearer(struct bl_http_req *req, struct bl_principal *out);

/*
 * bl_auth_csrf_ok - 1 when @token (the form field "csrf", or the API's
 * X-CSRF-Token header for a session-authenticated call) equals @p's session
 * token (constant time); 0 otherwise, and always 0 for an empty token.
 */
int bl_auth_csrf_ok(const struct bl_principal *p, const char *token);

/*
 * bl_audit - append an audit entry: @p's actor (NULL: "anonymous"),
 * @action ("list.create"), @target ("list:news", NULL: ""), a detail
 * printf(@fmt, ...) (NULL: ""), @req's IP, now. A store failure is logged,
 * never returned: the action it records has happened.
 */
void bl_audit(struct bl_http_req *req, const struct bl_principal *p, const char *action,
              const char *target, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * bl_auth_login - log in as @name with @password (@password_len bytes), for
 * the login page's POST (admin.c, which checks the login form's CSRF nonce
 * first). In order:
 *  1. one attempt is taken from the client IP's budget (config
 *     login_rate_ip an hour), whether the password is right or not, and
 *     one from @name's (login_rate_user an hour), given back when the
 *     password is right or the store fails: @name's budget counts failed
 *     attempts only, so logging in often never locks a user out, while
 *     wrong guesses from anywhere do spend it (until it refills, the right
 *     password is refused too: it is never checked). A spent budget returns
 *     -BL_ELIMIT before any password is checked (a Retry-After header in
 *     seconds is added to @resp; not audited);
 *  2. the password is checked with argon2id; an unknown name costs the same
 *     work and gets the same answer as a wrong password: 0, audited as
 *     "login.failed" (actor "anonymous", target "user:NAME");
 *  3. right: the session the request's cookie named, if any, is ended (no
 *     session fixation: the id a browser brought is never the id after
 *     login), a new one made (256 random bits, stored as their SHA-256,
 *     ending session_ttl from now, a new CSRF token), its cookie set on
 *     @resp ("bl_admin=ID; Path=/; HttpOnly; SameSite=Strict", "; Secure"
 *     when public_url is https; no Max-Age: it ends with the browser), and
 *     "login" audited. Returns 1 and fills @out (when not NULL) with the
 *     new session's principal, CSRF token included.
 * A @name that is not a valid user name is just an unknown name. Negative
 * on a store error (logged; nothing is set on @resp then).
 */
int bl_auth_login(struct bl_http_req *req, struct bl_http_resp *resp, const char *name,
                  const char *password, size_t password_len, struct bl_principal *out);

/*
 * bl_auth_logout - end the session @req's cookie names (its row deleted)
 * and clear the cookie on @resp (the same attributes, Max-Age=0); "logout"
 * audited when a live session ended. The caller checks the CSRF token
 * first (logout is a POST like any other). Returns 1 when a session ended,
 * 0 when there was none (the cookie is cleared all the same), negative on
 * a store error (logged).
 */
int bl_auth_logout(struct bl_http_req *req, struct bl_http_resp *resp);

/*
 * bl_auth_gate - the server's gate (struct bl_http_opts.gate) for large
 * uploads (a CSV import): before the body is read, the sender must be an
 * editor or an admin, by bearer token (under /api/) or admin session;
 * except under /webhooks/, whose requests are signed by the provider and
 * checked once read (up to the route's 1 MiB). Returns 0 to read the body;
 * 401 (API, no credentials), 403 (no session
 * on /admin, or a viewer), 503 on a store error.
 */
int bl_auth_gate(struct bl_http_req *req);

/* ---- api.c ---- */

/*
 * bl_api_routes - the API's routes (all under /api/v1/), for web.c's table
 * and the OpenAPI test; *@n gets the count. Static.
 */
const struct bl_http_route *bl_api_routes(size_t *n);

/*
 * bl_api_openapi - the OpenAPI 3.1 document (JSON text, NUL-terminated,
 * static) served at /api/v1/openapi.json.
 */
const char *bl_api_openapi(void);

/* One operation of the API: the dispatcher behind bl_api_routes() matches
 * the request against this table (it is the table the OpenAPI test reads). */
struct bl_api_call; /* api.c's per-request state */
struct bl_api_endpoint {
	unsigned method;   /* one bit of enum bl_http_method */
	const char *path;  /* template as in the OpenAPI document: "/api/v1/lists/{slug}" */
	enum bl_role role; /* the least role allowed */
	int body;          /* what the request carries: BL_API_BODY_* */
	void (*fn)(struct bl_api_call *c);
};
enum { BL_API_BODY_NONE, BL_API_BODY_JSON, BL_API_BODY_CSV };

/* bl_api_endpoints - the API's operations, in dispatch order; *@n gets the count. Static. */
const struct bl_api_endpoint *bl_api_endpoints(size_t *n);

/* The largest CSV upload (POST /api/v1/imports) unless config import_max says otherwise. */
#define BL_API_IMPORT_MAX ((size_t)256 << 20)

/*
 * bl_api_configure - set the body limit of the API's upload route in
 * @routes (a copy of a table that holds bl_api_routes(), @n routes) to
 * @import_max bytes (config import_max); other routes are left alone.
 */
void bl_api_configure(struct bl_http_route *routes, size_t n, size_t import_max);

/* ---- admin.c ---- */

/*
 * The login and logout pages (their POSTs call bl_auth_login / bl_auth_logout).
 * Every rendering of the login page sets a new random nonce both in the cookie
 * BL_LOGIN_COOKIE ("Path=/; Max-Age=1800; HttpOnly; SameSite=Strict", Secure
 * as the session's) and in the form's hidden field "csrf"; a login POST whose
 * field does not equal its cookie (constant time), or that has either
 * missing, is answered 403 with the form again before any budget is spent or
 * password checked (login CSRF). After a login, the browser goes to the
 * form's "next" when it is a path under /admin of printable ASCII (no
 * backslash, no "//"), else to /admin.
 */
void bl_admin_login(struct bl_http_req *req, struct bl_http_resp *resp); /* GET|POST /admin/login */
void bl_admin_logout(struct bl_http_req *req, struct bl_http_resp *resp); /* POST /admin/logout */

/*
 * bl_admin_page - render admin page @name (templates/admin/NAME.html.mustache:
 * "login", "error", ...) over @data (consumed; NULL: none) into @resp with
 * @status and @title, in the admin layout, with the data every admin page
 * gets: admin_url, css_url, js_url and, for a logged-in @p (NULL: nobody),
 * me.name, me.role, csrf, can_edit, is_admin. Sets the admin CSP (our
 * script and stylesheet only) and no-store. The login page reads: csrf (the
 * login nonce), next (where to go after), name (the name typed), error (a
 * message), retry_after (seconds, a 429). A template failure is a plain 500
 * (logged).
 */
struct bl_tval;
void bl_admin_page(struct bl_http_req *req, struct bl_http_resp *resp, int status, const char *name,
                   const char *title, const struct bl_principal *p, struct bl_tval *data);

/*
 * bl_admin_configure - set the body limit of the admin UI's CSV upload
 * route (POST /admin/import) in @routes (a copy of a table that holds
 * bl_admin_routes(), @n routes) to @import_max bytes (config import_max).
 */
void bl_admin_configure(struct bl_http_route *routes, size_t n, size_t import_max);

/* bl_admin_routes - the admin UI's routes (all under /admin); *@n gets the count. Static. */
const struct bl_http_route *bl_admin_routes(size_t *n);

#endif
