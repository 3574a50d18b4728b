/*
 * The public web application's shared state and its route table: see
 * web.h. bl_web_init reads the config and the store once; afterwards the
 * struct is read-only but for the budgets and atomics, so handlers on every
 * worker thread share it through req->app. Pages are rendered here
 * (bl_web_page) with the data every page gets (docs/web-templates.md).
 */
#include "http/web.h"

#include "feed/fetch.h"

#include "http/admin.h"

#include "http/batch.h"

#include "send/compose.h"
#include "send/engine.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Keys (client addresses) a budget remembers before forgetting the least recent. */
#define BUDGET_KEYS 65536

int bl_web_init(struct bl_web *w, const struct bl_config *c, struct bl_store *s, struct bl_diag *d)
{
	char *base = NULL, *host = NULL;
	const char *site;
	int rc;

	memset(w, 0, sizeof(*w));
	w->config = c;
	pthread_mutex_init(&w->stats_lock, NULL);
	if ((rc = bl_public_url_parse(bl_config_str(c, "public_url"), &base, &host, d)))
		return rc;
	w->public_url = base;
	site = bl_config_str(c, "site_name");
	w->site_name = bl_xstrdup(site && *site ? site : host);
	free(host);
	w->confirm_ttl = bl_config_int(c, "confirm_ttl");
	if ((rc = bl_load_secret(s, &w->secret, d)))
		goto fail;
	if ((rc = bl_pages_create(bl_config_str(c, "templates_dir"), &w->pages, d)))
		goto fail;
	/* Budgets: the hourly figure is also the burst, so a client may spend an
	 * hour's worth at once and then one token per 3600/N seconds. */
	double ip = (double)bl_config_int(c, "signup_rate_ip");
	double global = (double)bl_config_int(c, "signup_rate_global");
	double resend = (double)bl_config_int(c, "resend_rate_ip");
	w->signup_ip = bl_ratelimit_create(ip, ip, BUDGET_KEYS);
	w->signup_global = bl_ratelimit_create(global, global, 1);
	w->resend_ip = bl_ratelimit_create(resend, resend, BUDGET_KEYS);
	double login_ip = (double)bl_config_int(c, "login_rate_ip");
	double login_user = (double)bl_config_int(c, "login_rate_user");
	w->login_ip = bl_ratelimit_create(login_ip, login_ip, BUDGET_KEYS);
	w->login_user = bl_ratelimit_create(login_user, login_user, BUDGET_KEYS);
	w->session_ttl = bl_config_int(c, "session_ttl");
	w->secure_cookies = strncasecmp(w->public_url, "https://", 8) == 0;
	atomic_init(&w->breaker_until, 0);
	atomic_init(&w->confirm_mails, 0);
	w->page_cache = bl_page_cache_create();
	/* Signups commit in groups on one writer (src/http/batch.h). */
	struct bl_store_opts so = {
	    .busy_timeout_ms = (int)(bl_config_int(c, "db_busy_timeout") * 1000),
	    .must_exist = 1,
	};
	if ((rc = bl_batcher_create(bl_config_str(c, "db"), &so, 0, &w->writer, d)))
		goto fail;
	return 0;
fail:
	bl_web_finish(w);
	return rc;
}

void bl_web_finish(struct bl_web *w)
{
	if (!w)
		return;
	bl_batcher_destroy(w->writer);
	if (w->config)
		pthread_mutex_destroy(&w->stats_lock);
	bl_pages_destroy(w->pages);
	bl_page_cache_destroy(w->page_cache);
	bl_ratelimit_destroy(w->signup_ip);
	bl_ratelimit_destroy(w->signup_global);
	bl_ratelimit_destroy(w->resend_ip);
	bl_ratelimit_destroy(w->login_ip);
	bl_ratelimit_destroy(w->login_user);
	free((char *)w->public_url);
	free((char *)w->site_name);
	memset(w, 0, sizeof(*w));
}

const char *bl_web_base_path(const struct bl_web *w)
{
	const char *p = strstr(w->public_url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : "";
}

void bl_web_page(struct bl_http_req *req, struct bl_http_resp *resp, int status, const char *name,
                 const char *title, struct bl_tval *data)
{
	const struct bl_web *w = req->app;
	const char *base = bl_web_base_path(w), *etag;
	struct bl_tval *site;
	struct bl_diag d;
	size_t css_len;

	if (!data)
		data = bl_tval_map();
	bl_pages_stylesheet(w->pages, &css_len, &etag);
	bl_tval_set(data, "lang", bl_tval_string("en"));
	bl_tval_set(data, "title", bl_tval_string(title ? title : ""));
	site = bl_tval_map();
	bl_tval_set(site, "name", bl_tval_string(w->site_name));
	bl_tval_set(site, "url", bl_tval_string(w->public_url));
	bl_tval_set(data, "site", site);
	/* The stylesheet's URL carries its hash, so a changed stylesheet is a new URL. */
	bl_tval_set(data, "stylesheet_url",
	            bl_tval_stringf("%s/static/style.css?v=%.16s", base, etag + 1));
	bl_tval_set(data, "home_url", bl_tval_stringf("%s/", base));
	bl_tval_set(data, "archive_url", bl_tval_stringf("%s/archive", base));
	bl_tval_set(data, "subscribe_url", bl_tval_stringf("%s/subscribe", base));
	bl_buf_reset(&resp->body);
	if (bl_pages_render(w->pages, name, data, &resp->body, &d) != 0) {
		bl_error("page %s: %s", name, d.msg);
		bl_buf_reset(&resp->body);
		bl_buf_adds(&resp->body,
		            "Internal server error: the page could not be rendered.\n");
		resp->status = 500;
		resp->content_type = "text/plain; charset=utf-8";
	} else {
		resp->status = status;
		resp->content_type = "text/html; charset=utf-8";
	}
	bl_tval_destroy(data);
}

void bl_web_error(struct bl_http_req *req, struct bl_http_resp *resp, int status,
                  const char *heading, const char *message)
{
	struct bl_tval *data = bl_tval_map();
	bl_tval_set(data, "status", bl_tval_number(status));
	bl_tval_set(data, "heading", bl_tval_string(heading));
	bl_tval_set(data, "message", bl_tval_string(message));
	bl_web_page(req, resp, status, "error", heading, data);
}

/* Any other GET: the error page, so a mistyped address still looks like the site. */
static void not_found(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_web_error(req, resp, 404, "Page not found", "There is nothing at this address.");
}

static const struct bl_http_route public_routes[] = {
    {BL_HTTP_GET, "/", 0, "index", bl_web_index, 0},
    {BL_HTTP_GET | BL_HTTP_POST, "/subscribe", 0, "subscribe", bl_web_subscribe, 0},
    {BL_HTTP_GET | BL_HTTP_POST, "/confirm/", 1, "confirm", bl_web_confirm, 0},
    {BL_HTTP_GET | BL_HTTP_POST, "/unsubscribe/", 1, "unsubscribe", bl_web_unsubscribe, 0},
    {BL_HTTP_GET | BL_HTTP_POST, "/preferences/", 1, "preferences", bl_web_preferences, 0},
    {BL_HTTP_GET, "/archive", 0, "archive", bl_web_archive, 0},
    {BL_HTTP_GET, "/archive/", 1, "archive_post", bl_web_archive, 0},
    {BL_HTTP_GET, "/feed.atom", 0, "feed_atom", bl_web_feed_atom, 0},
    {BL_HTTP_GET, "/feed.json", 0, "feed_json", bl_web_feed_json, 0},
    {BL_HTTP_GET, "/lists/", 1, "lists", bl_web_list_routes, 0},
    {BL_HTTP_GET, "/static/style.css", 0, "stylesheet", bl_web_stylesheet, 0},
    {BL_HTTP_GET, "/healthz", 0, "healthz", bl_web_healthz, 0},
    {BL_HTTP_GET, "/metrics", 0, "metrics", bl_web_metrics, 0},
    /* provider webhooks (a SendGrid batch can pass the server's 64 KiB) */
    {BL_HTTP_POST, "/webhooks/", 1, "webhooks", bl_web_webhook, 1 << 20},
};

/* last: every other path (a POST elsewhere keeps the server's plain 404 or 405) */
static const struct bl_http_route catch_all = {BL_HTTP_GET, "/", 1, "not_found", not_found, 0};

#define N_PUBLIC   (sizeof(public_routes) / sizeof(public_routes[0]))
#define ROUTES_MAX 256

static struct bl_http_route routes[ROUTES_MAX];
static size_t n_routes;
static pthread_once_t routes_once = PTHREAD_ONCE_INIT;

static void add_routes(const struct bl_http_route *r, size_t n)
{
	if (n_routes + n > ROUTES_MAX)
		bl_fatal("web.c: ROUTES_MAX (%d) is too small", ROUTES_MAX);
	memcpy(routes + n_routes, r, n * sizeof(*r));
	n_routes += n;
}

/* The table: the public pages, the JSON API (api.c), the admin UI (admin.c), the catch-all. */
static void build_routes(void)
{
	size_t n;
	const struct bl_http_route *r;
	add_routes(public_routes, N_PUBLIC);
	r = bl_api_routes(&n);
	add_routes(r, n);
	r = bl_admin_routes(&n);
	add_routes(r, n);
	add_routes(&catch_all, 1);
}

const struct bl_http_route *bl_web_routes(size_t *n)
{
	pthread_once(&routes_once, build_routes);
	*n = n_routes;
	return routes;
}

void bl_web_fetch_opts(const struct bl_config *c, struct bl_fetch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = (long)bl_config_int(c, "feed_timeout");
	o->max_bytes = (size_t)bl_config_int(c, "feed_max_size");
	o->allow_private = bl_config_bool(c, "feed_allow_private");
}
