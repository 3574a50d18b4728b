/*
 * Who is asking (admin.h): admin sessions behind the "bl_admin" cookie,
 * API tokens behind "Authorization: Bearer", the CSRF check, login and
 * logout with their budgets, and the audit log. Secrets never reach the
 * store: a session id and an API token are kept as their SHA-256 only
 * (both are 256 random bits), passwords as argon2id hashes (core/crypto).
 * Shared state (budgets, session_ttl, whether cookies are Secure) lives in
 * struct bl_web (req->app); every function here is thread-safe.
 */
#include "http/admin.h"

#include "core/crypto.h"
#include "http/web.h"
#include "util/log.h"
#include "util/time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Fill @out for a user's session or an API token (@user_id or @token_id 0). */
static void principal(struct bl_principal *out, enum bl_role role, int64_t user_id,
                      int64_t token_id, const char *name, const char *csrf)
{
	memset(out, 0, sizeof(*out));
	out->role = role;
	out->user_id = user_id;
	out->token_id = token_id;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->actor, sizeof(out->actor), "%s:%s", token_id ? "token" : "user", name);
	snprintf(out->csrf, sizeof(out->csrf), "%s", csrf ? csrf : "");
}

/* The hex SHA-256 of @req's session cookie; 0 when there is none or it cannot be one of ours. */
static int cookie_hash(struct bl_http_req *req, char out[BL_HASH_HEX])
{
	const char *c = bl_http_cookie(req, BL_ADMIN_COOKIE);
	if (!bl_random_id_valid(c))
		return 0;
	bl_sha256_hex(c, strlen(c), out);
	return 1;
}

static int store_failed(struct bl_http_req *req, const char *what)
{
	bl_error("%s: %s", what, req->store ? bl_store_error(req->store) : "no store");
	return -BL_ESTORE;
}

int bl_auth_session(struct bl_http_req *req, struct bl_principal *out)
{
	char h[BL_HASH_HEX];
	struct bl_session x = {0};
	if (!cookie_hash(req, h))
		return 0;
	if (!req->store)
		return store_failed(req, "session");
	int rc = req->store->ops->session_get(req->store, h, bl_now(), &x);
	if (rc < 0)
		return store_failed(req, "session");
	if (rc == 1)
		principal(out, x.role, x.user_id, 0, x.user_name, x.csrf);
	bl_session_clear(&x);
	return rc;
}

int bl_auth_bearer(struct bl_http_req *req, struct bl_principal *out)
{
	const char *v = bl_http_header(req, "Authorization");
	char tok[BL_API_TOKEN_LEN], h[BL_HASH_HEX];
	struct bl_api_token t = {0};
	size_t n;
	/* RFC 6750 §2.1: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110 §11.1).
	 */
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	v += 7;
	v += strspn(v, " ");
	n = strcspn(v, " \t");
	if (v[n + strspn(v + n, " \t")] != '\0')
		return 0; /* more than one word */
	/* Only a token of ours can match: a malformed one costs no lookup. */
	if (n != BL_API_TOKEN_LEN - 1 || strncmp(v, BL_API_TOKEN_PREFIX, 4) != 0)
		return 0;
	memcpy(tok, v, n);
	tok[n] = 0;
	if (!bl_random_id_valid(tok + 4))
		return 0;
	if (!req->store)
		return store_failed(req, "API token");
	bl_sha256_hex(tok, n, h);
	int rc = req->store->ops->token_get(req->store, h, bl_now(), &t);
	if (rc < 0)
		return store_failed(req, "API token");
	if (rc == 1)
		principal(out, t.role, 0, t.id, t.name, NULL);
	bl_api_token_clear(&t);
	return rc;
}

int bl_auth_csrf_ok(const struct bl_principal *p, const char *token)
{
	size_t n;
	if (!p || !token || !*token || !*p->csrf)
		return 0;
	n = strlen(p->csrf);
	if (strlen(token) != n)
		return 0;
	return bl_constant_time_eq(p->csrf, token, n);
}

void bl_audit(struct bl_http_req *req, const struct bl_principal *p, const char *action,
              const char *target, const char *fmt, ...)
{
	/* Twice the store's limit: the store cuts at a UTF-8 boundary, snprintf would not. */
	char detail[2 * BL_AUDIT_TEXT_MAX + 1] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	struct bl_audit a = {
	    .at = bl_now(),
	    .actor = p ? p->actor : "anonymous",
	    .action = action,
	    .target = target ? target : "",
	    .detail = detail,
	    .ip = req->ip ? req->ip : "",
	};
	if (!req->store || req->store->ops->audit_add(req->store, &a) != 0)
		bl_error("audit %s %s %s: %s", a.actor, action, a.target,
		         req->store ? bl_store_error(req->store) : "no store");
}

/* Set (@value) or clear (NULL) the session cookie on @resp. */
static int set_cookie(const struct bl_web *w, struct bl_http_resp *resp, const char *value)
{
	return bl_http_add_header(
	    resp, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", BL_ADMIN_COOKIE,
	    value ? value : "", value ? "" : "; Max-Age=0", w->secure_cookies ? "; Secure" : "");
}

int bl_auth_login(struct bl_http_req *req, struct bl_http_resp *resp, const char *name,
                  const char *password, size_t password_len, struct bl_principal *out)
{
	const struct bl_web *w = req->app;
	struct bl_store *s = req->store;
	struct bl_user u = {0};
	char target[BL_USER_NAME_MAX + 8];
	int64_t now = bl_now();
	int retry = 1, valid = bl_user_name_valid(name), found = 0, rc;
	/* A name that cannot be a user's shares one bucket: it can never log in anyway. */
	const char *key = valid ? name : "";

	/* 1. The budgets, before anything is checked. The name's token is taken
	 * now and given back when the password is right (only failures count
	 * against a name); taken first so parallel guesses cannot all slip
	 * through a nearly spent budget. */
	if (!bl_ratelimit_take(w->login_ip, req->ip, (double)now, &retry) ||
	    !bl_ratelimit_take(w->login_user, key, (double)now, &retry)) {
		bl_http_add_header(resp, "Retry-After", "%d", retry);
		bl_info("login budget spent (%s, %s): refused", req->ip, valid ? name : "?");
		return -BL_ELIMIT;
	}
	if (!s) {
		bl_ratelimit_refund(w->login_user, key, (double)bl_now());
		return store_failed(req, "login");
	}

	/* 2. The password; an unknown name does the same work. */
	if (valid && (found = s->ops->user_get(s, name, 0, &u)) < 0) {
		bl_ratelimit_refund(w->login_user, key, (double)bl_now());
		return store_failed(req, "login");
	}
	snprintf(target, sizeof(target), "user:%s", valid ? name : "?");
	if (!found) {
		bl_password_dummy_verify(password, password_len);
	} else if (!bl_password_verify(u.pass_hash, password, password_len, NULL)) {
		found = 0;
	}
	if (!found) {
		bl_audit(req, NULL, "login.failed", target, "%s", valid ? "" : "not a user name");
		bl_user_clear(&u);
		return 0;
	}

	/* 3. The right password: it does not count against the name. */
	bl_ratelimit_refund(w->login_user, key, (double)bl_now());

	/* 4. A new session; the one the browser brought (if any) ends. */
	char old[BL_HASH_HEX], id[BL_RANDOM_ID_LEN], csrf[BL_RANDOM_ID_LEN], h[BL_HASH_HEX];
	if (cookie_hash(req, old) && s->ops->session_delete(s, old) != 0) {
		bl_user_clear(&u);
		return store_failed(req, "login: ending the old session");
	}
	bl_random_id(id);
	bl_random_id(csrf);
	bl_sha256_hex(id, strlen(id), h);
	now = bl_now(); /* the session's clock starts now, not before the password check */
	rc = s->ops->session_create(s, h, u.id, csrf, now, now + w->session_ttl);
	if (rc == -BL_ENOENT) { /* the user was removed meanwhile */
		bl_user_clear(&u);
		return 0;
	}
	if (rc) {
		bl_user_clear(&u);
		return store_failed(req, "login: new session");
	}
	if (set_cookie(w, resp, id) != 0)
		bl_error("login: the session cookie could not be set");
	struct bl_principal p;
	principal(&p, u.role, u.id, 0, u.name, csrf);
	bl_audit(req, &p, "login", target, NULL);
	if (out)
		*out = p;
	bl_user_clear(&u);
	return 1;
}

int bl_auth_logout(struct bl_http_req *req, struct bl_http_resp *resp)
{
	const struct bl_web *w = req->app;
	struct bl_store *s = req->store;
	struct bl_session x = {0};
	char h[BL_HASH_HEX];
	int rc = 0;

	set_cookie(w, resp, NULL);
	if (!cookie_hash(req, h))
		return 0;
	if (!s)
		return store_failed(req, "logout");
	rc = s->ops->session_get(s, h, bl_now(), &x);
	if (rc < 0)
		return store_failed(req, "logout");
	if (s->ops->session_delete(s, h) != 0) {
		bl_session_clear(&x);
		return store_failed(req, "logout");
	}
	if (rc == 1) {
		struct bl_principal p;
		char target[BL_USER_NAME_MAX + 8];
		principal(&p, x.role, x.user_id, 0, x.user_name, x.csrf);
		snprintf(target, sizeof(target), "user:%s", x.user_name);
		bl_audit(req, &p, "logout", target, NULL);
	}
	bl_session_clear(&x);
	return rc;
}

int bl_auth_gate(struct bl_http_req *req)
{
	/* Provider webhooks carry their own signatures, checked once the body is in. */
	if (strncmp(req->path, "/webhooks/", 10) == 0)
		return 0;
	struct bl_principal p;
	int api = strncmp(req->path, "/api/", 5) == 0;
	int rc = api ? bl_auth_bearer(req, &p) : 0;
	if (rc == 0)
		rc = bl_auth_session(req, &p);
	if (rc < 0)
		return 503;
	if (rc == 0)
		return api ? 401 : 403;
	return p.role >= BL_ROLE_EDITOR ? 0 : 403;
}
