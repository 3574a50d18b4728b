/*
 * The public web application on top of the HTTP core (http.h): what
 * `bulletin serve` shares between its handlers (config, secret, compiled
 * page templates, budgets) and the handlers themselves, one module per
 * group: public.c (signup, confirm, unsubscribe, preference centre),
 * archive.c (archive pages, Atom and JSON feeds, stylesheet, healthz,
 * metrics). web.c holds the route table.
 */
#ifndef BL_HTTP_WEB_H
#define BL_HTTP_WEB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/batch.h"
#include "http/http.h"
#include "http/pages.h"

/* Shared by every handler through req->app; read-only after bl_web_init except the
 * budgets (thread-safe) and the atomics. */
struct bl_web {
	const struct bl_config *config;
	struct bl_secret secret;
	struct bl_pages *pages;
	const char *public_url;         /* config public_url without a trailing '/' (malloc'd) */
	const char *site_name;          /* config site_name, else public_url's host (malloc'd) */
	int64_t confirm_ttl;            /* seconds a confirmation link stays valid */
	struct bl_ratelimit *signup_ip; /* signups per client IP */
	struct bl_ratelimit *signup_global; /* signups in all */
	struct bl_ratelimit *resend_ip;     /* confirmation resends per client IP */
	atomic_llong breaker_until;         /* confirmation mail stopped until this time (s) */
	atomic_llong confirm_mails;         /* confirmation posts queued since start */
	struct bl_http_server *server;      /* for /metrics; set once listening */
	struct bl_batcher *writer;          /* group commit of signups (http/batch.h) */
	pthread_mutex_t stats_lock;         /* guards stats and stats_at */
	struct bl_stats stats;              /* /metrics' store counts, reused for a few seconds */
	double stats_at;                    /* when stats was read (monotonic s); 0: never */
	struct bl_page_cache *page_cache;   /* archive.c: rendered public pages, kept a second */
	/* the publisher tools (auth.c) */
	struct bl_ratelimit *login_ip;   /* login attempts per client IP (login_rate_ip an hour) */
	struct bl_ratelimit *login_user; /* login attempts per user name (login_rate_user) */
	int64_t session_ttl;             /* seconds an admin session lasts after login */
	int secure_cookies;              /* public_url is https: cookies carry Secure */
};

/*
 * bl_web_init - fill @w from @c and the store @s (the secret key), compile
 * the page templates (config templates_dir overrides the built-in ones).
 * Returns 0; -BL_EINVAL with @d saying what is wrong (a template error with
 * its file:line, a malformed public_url); -BL_EIO when templates_dir or a
 * file in it cannot be read; -BL_ESCHEMA without a secret key; the store's
 * error when reading the key fails.
 */
int bl_web_init(struct bl_web *w, const struct bl_config *c, struct bl_store *s, struct bl_diag *d);

/* bl_web_finish - free what bl_web_init made; NULL-safe. */
void bl_web_finish(struct bl_web *w);

/*
 * bl_web_base_path - the path of public_url, the prefix of every link a
 * page holds: "" for "https://example.com", "/news" for
 * "https://example.com/news". Borrowed from @w.
 */
const char *bl_web_base_path(const struct bl_web *w);

/* bl_web_routes - the route table of the public web; *@n gets its length. Static. */
const struct bl_http_route *bl_web_routes(size_t *n);

/*
 * bl_web_page - render page template @name over @data (consumed: destroyed
 * here; NULL: no page data) into @resp with @status, adding the common
 * data (lang, site.name, site.url, stylesheet_url, home_url, archive_url,
 * subscribe_url: docs/web-templates.md) and @title. A template failure
 * becomes a plain 500 page and is logged.
 */
struct bl_tval;
void bl_web_page(struct bl_http_req *req, struct bl_http_resp *resp, int status, const char *name,
                 const char *title, struct bl_tval *data);

/* bl_web_error - the error page with @status, a heading and a message (plain text). */
void bl_web_error(struct bl_http_req *req, struct bl_http_resp *resp, int status,
                  const char *heading, const char *message);

/* ---- handlers: public.c ---- */
void bl_web_index(struct bl_http_req *req, struct bl_http_resp *resp);     /* GET / */
void bl_web_subscribe(struct bl_http_req *req, struct bl_http_resp *resp); /* GET|POST /subscribe */
void bl_web_confirm(struct bl_http_req *req,
                    struct bl_http_resp *resp); /* /confirm/TOKEN[/resend] */
void bl_web_unsubscribe(struct bl_http_req *req,
                        struct bl_http_resp *resp); /* /unsubscribe/TOKEN */
void bl_web_preferences(struct bl_http_req *req,
                        struct bl_http_resp *resp); /* /preferences/TOKEN[/data|/erase] */

/* ---- handlers: webhooks.c ---- */

/* POST /webhooks/PROVIDER: a provider's bounce and complaint events (docs/webhooks.md). */
void bl_web_webhook(struct bl_http_req *req, struct bl_http_resp *resp);

/* ---- handlers: archive.c ---- */

/*
 * The page cache of the read-only routes: each rendered archive page, post
 * page and feed (200 responses only) is kept BL_PAGE_CACHE_TTL seconds and
 * served from memory meanwhile, at most BL_PAGE_CACHE_ENTRIES of them and
 * BL_PAGE_CACHE_BYTES in all (least recently used out first). So a new,
 * cancelled or changed post shows within a second, as a browser's cache
 * of max-age=60 would show it later anyway. Thread-safe (one mutex).
 */
#define BL_PAGE_CACHE_TTL     1.0
#define BL_PAGE_CACHE_ENTRIES 256
#define BL_PAGE_CACHE_BYTES   (32u << 20)

struct bl_page_cache;

/* bl_page_cache_create - an empty cache; aborts on OOM. bl_web_init makes one. */
struct bl_page_cache *bl_page_cache_create(void);

/* bl_page_cache_destroy - free @c and its pages; NULL-safe. */
void bl_page_cache_destroy(struct bl_page_cache *c);

void bl_web_archive(struct bl_http_req *req,
                    struct bl_http_resp *resp); /* GET /archive[/ID-slug] */
void bl_web_feed_atom(struct bl_http_req *req, struct bl_http_resp *resp); /* GET /feed.atom */
void bl_web_feed_json(struct bl_http_req *req, struct bl_http_resp *resp); /* GET /feed.json */
void bl_web_list_routes(
    struct bl_http_req *req,
    struct bl_http_resp *resp); /* GET /lists/SLUG/{archive,feed.atom,feed.json} */
void bl_web_stylesheet(struct bl_http_req *req,
                       struct bl_http_resp *resp);                       /* GET /static/style.css */
void bl_web_healthz(struct bl_http_req *req, struct bl_http_resp *resp); /* GET /healthz */
void bl_web_metrics(struct bl_http_req *req, struct bl_http_resp *resp); /* GET /metrics */

/*
 * bl_web_fetch_opts - feed fetch options (src/feed/fetch.h) from
 * configuration @c: feed_timeout, feed_max_size, feed_allow_private; the
 * others take fetch.h's defaults. Used by serve's poller, `feed poll` and
 * the API's poll.
 */
struct bl_fetch_opts;
void bl_web_fetch_opts(const struct bl_config *c, struct bl_fetch_opts *o);

#endif
