/*
 * The read-only routes: the archive (all public lists, or one list), a
 * post's page, the Atom and JSON feeds, the stylesheet, /healthz and
 * /metrics. Posts come from the store's archive_each/archive_get (only
 * posts of public lists that went out); bodies are rendered with
 * bl_post_web_html. Every rendered page and feed is kept a second in the
 * page cache (web.h), keyed by the route and its query, so a busy archive
 * costs one render a second. Public pages are cacheable by clients too:
 * Cache-Control max-age and an ETag (a hash of the body) that answers
 * If-None-Match with 304.
 */
#include "http/web.h"

#include "feed/writer.h"
#include "send/compose.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARCHIVE_PAGE 20     /* posts per archive page */
#define FEED_ENTRIES 50     /* entries per feed */
#define PAGE_MAX_AGE 60     /* seconds a client may keep an archive page or feed */
#define CSS_MAX_AGE  604800 /* the stylesheet's URL changes with its content */

/* ---- helpers ---------------------------------------------------------------------------- */

/* A 64-bit hash of @len bytes, eight at a time, as a quoted entity tag. Not a
 * defence against anyone: it tells versions of a page apart. */
static void etag_of(const char *s, size_t len, char out[20])
{
	uint64_t h = 0x243f6a8885a308d3ull ^ len, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s + i, len - i);
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 32;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	snprintf(out, 20, "\"%016llx\"", (unsigned long long)h);
}

/* Whether If-None-Match of @req names @etag (or is "*"), weak tags compared weakly
 * (RFC 9110 §13.1.2). */
static int not_modified(const struct bl_http_req *req, const char *etag)
{
	const char *inm = bl_http_header(req, "If-None-Match");
	size_t n = strlen(etag);
	if (!inm)
		return 0;
	for (const char *p = inm; *p;) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || strchr(" \t,", p[n])))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

/* Make a 200 response public and cacheable for @max_age seconds with ETag @etag
 * (NULL: a hash of the body); a matching If-None-Match turns it into a 304
 * without a body. */
static void cacheable(struct bl_http_req *req, struct bl_http_resp *resp, int max_age,
                      const char *etag)
{
	char tag[20];
	if (resp->status != 200)
		return;
	if (!etag) {
		etag_of(bl_buf_str(&resp->body), resp->body.len, tag);
		etag = tag;
	}
	resp->no_store = 0;
	bl_http_add_header(resp, "Cache-Control", "public, max-age=%d", max_age);
	bl_http_add_header(resp, "ETag", "%s", etag);
	if (not_modified(req, etag)) {
		resp->status = 304;
		bl_buf_reset(&resp->body);
	}
}

/* ---- the page cache --------------------------------------------------------------------- */

#define KEY_MAX 240 /* longer keys (odd queries) are not cached */

struct page {
	char key[KEY_MAX + 1]; /* "" = a free slot */
	char *body;
	size_t len;
	const char *content_type;
	char etag[20];
	double born, used; /* bl_monotonic() */
};

struct bl_page_cache {
	pthread_mutex_t lock;
	size_t bytes; /* bodies held */
	struct page v[BL_PAGE_CACHE_ENTRIES];
};

struct bl_page_cache *bl_page_cache_create(void)
{
	struct bl_page_cache *c = bl_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void bl_page_cache_destroy(struct bl_page_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < BL_PAGE_CACHE_ENTRIES; i++)
		free(c->v[i].body);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void drop(struct bl_page_cache *c, struct page *p)
{
	c->bytes -= p->len;
	free(p->body);
	memset(p, 0, sizeof(*p));
}

/* The cache key of @req: "PATH?QUERY", or NULL when too long. */
static const char *cache_key(const struct bl_http_req *req, char out[KEY_MAX + 1])
{
	size_t n = (size_t)snprintf(out, KEY_MAX + 1, "%s?%s", req->path, req->query);
	return n <= KEY_MAX ? out : NULL;
}

/* Fill @resp from the cache when it holds a fresh page for @key; 1 when it did. */
static int from_cache(struct bl_http_req *req, struct bl_http_resp *resp, const char *key,
                      int max_age)
{
	struct bl_page_cache *c = ((const struct bl_web *)req->app)->page_cache;
	double now = bl_monotonic();
	char etag[20];
	int hit = 0;
	if (!c || !key)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < BL_PAGE_CACHE_ENTRIES; i++) {
		struct page *p = &c->v[i];
		if (p->key[0] && strcmp(p->key, key) == 0) {
			if (now - p->born < BL_PAGE_CACHE_TTL) {
				bl_buf_reset(&resp->body);
				bl_buf_add(&resp->body, p->body, p->len);
				resp->content_type = p->content_type;
				memcpy(etag, p->etag, sizeof(etag));
				p->used = now;
				hit = 1;
			} else {
				drop(c, p);
			}
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (hit) {
		resp->status = 200;
		cacheable(req, resp, max_age, etag);
	}
	return hit;
}

/* Finish a rendered public page: keep a 200 in the cache under @key (NULL: not
 * cached), then make it cacheable for clients. */
static void publish(struct bl_http_req *req, struct bl_http_resp *resp, const char *key,
                    int max_age)
{
	struct bl_page_cache *c = ((const struct bl_web *)req->app)->page_cache;
	char etag[20];
	if (resp->status != 200)
		return;
	etag_of(bl_buf_str(&resp->body), resp->body.len, etag);
	if (c && key && resp->body.len <= BL_PAGE_CACHE_BYTES / 8) {
		double now = bl_monotonic();
		struct page *slot = NULL;
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < BL_PAGE_CACHE_ENTRIES; i++)
			if (c->v[i].key[0] && strcmp(c->v[i].key, key) == 0)
				drop(c, &c->v[i]);
		for (;;) {
			struct page *lru = NULL;
			slot = NULL;
			for (size_t i = 0; i < BL_PAGE_CACHE_ENTRIES; i++) {
				struct page *p = &c->v[i];
				if (!p->key[0])
					slot = slot ? slot : p;
				else if (!lru || p->used < lru->used)
					lru = p;
			}
			if (slot && c->bytes + resp->body.len <= BL_PAGE_CACHE_BYTES)
				break;
			drop(c, lru); /* full: the least recently used goes */
		}
		snprintf(slot->key, sizeof(slot->key), "%s", key);
		slot->body = bl_xmalloc(resp->body.len + 1);
		memcpy(slot->body, bl_buf_str(&resp->body), resp->body.len + 1);
		slot->len = resp->body.len;
		slot->content_type = resp->content_type;
		memcpy(slot->etag, etag, sizeof(etag));
		slot->born = slot->used = now;
		c->bytes += slot->len;
		pthread_mutex_unlock(&c->lock);
	}
	cacheable(req, resp, max_age, etag);
}

static void unavailable(struct bl_http_req *req, struct bl_http_resp *resp, const char *why)
{
	bl_error("%s: %s", req->path, why);
	bl_web_error(req, resp, 503, "Temporarily unavailable",
	             "The archive cannot be read right now. Please try again in a minute.");
	bl_http_add_header(resp, "Retry-After", "60");
}

static void not_found(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_web_error(req, resp, 404, "Page not found",
	             "There is no page at this address. It may have moved, or the link may be "
	             "incomplete.");
}

static void redirect(struct bl_http_resp *resp, const char *base, const char *path)
{
	resp->status = 301;
	resp->content_type = "text/plain; charset=utf-8";
	bl_buf_reset(&resp->body);
	bl_http_add_header(resp, "Location", "%s%s", base, path);
	bl_buf_addf(&resp->body, "Moved to %s%s\n", base, path);
}

/* The time a post counts from: when it started going out (else when it was made). */
static int64_t post_time(int64_t started, int64_t created)
{
	return started ? started : created;
}

static void human_date(int64_t t, char out[40])
{
	static const char *const month[12] = {"January",   "February", "March",    "April",
	                                      "May",       "June",     "July",     "August",
	                                      "September", "October",  "November", "December"};
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, 40, "?");
		return;
	}
	snprintf(out, 40, "%d %s %d", tm.tm_mday, month[tm.tm_mon], tm.tm_year + 1900);
}

/* "ID-SLUG", or "ID" for a subject without a letter or digit. */
static void post_path(int64_t id, const char *subject, char out[96])
{
	char slug[BL_ARCHIVE_SLUG_MAX + 1];
	if (bl_archive_slug(subject, slug) > 0)
		snprintf(out, 96, "%lld-%s", (long long)id, slug);
	else
		snprintf(out, 96, "%lld", (long long)id);
}

/* The posts of one archive_each walk. */
struct item {
	int64_t id, created, when;
	char *subject, *body;
};

struct walk {
	struct item *v;
	size_t n, max;
	int bodies; /* keep the bodies too (feeds) */
};

static int collect(void *arg, const struct bl_post *p)
{
	struct walk *w = arg;
	if (w->n == w->max)
		return 1;
	struct item *it = &w->v[w->n++];
	it->id = p->id;
	it->created = p->created_at;
	it->when = post_time(p->started_at, p->created_at);
	it->subject = bl_xstrdup(p->subject ? p->subject : "");
	it->body = w->bodies ? bl_xstrdup(p->body ? p->body : "") : NULL;
	return 0;
}

static void walk_clear(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].subject);
		free(w->v[i].body);
	}
	free(w->v);
}

static int walk_posts(struct bl_store *s, int64_t list_id, int64_t before, size_t max, int bodies,
                      struct walk *w)
{
	memset(w, 0, sizeof(*w));
	w->v = bl_xcalloc(max, sizeof(*w->v));
	w->max = max;
	w->bodies = bodies;
	int rc = s->ops->archive_each(s, list_id, before, (int64_t)max, collect, w);
	return rc < 0 ? rc : 0;
}

/* ---- the archive pages ------------------------------------------------------------------ */

/* ?before=ID: 0 when absent; -1 when malformed. */
static int64_t query_before(const struct bl_http_req *req)
{
	struct bl_form q;
	const char *v;
	long long id = 0;
	if (bl_form_parse(req->query, strlen(req->query), &q, NULL) != 0)
		return -1;
	v = bl_form_get(&q, "before");
	if (v && bl_parse_int64(v, 1, INT64_MAX, &id) != 0)
		id = -1;
	bl_form_clear(&q);
	return id;
}

/* GET /archive and GET /lists/SLUG/archive (@list: that public list). */
static void archive_page(struct bl_http_req *req, struct bl_http_resp *resp,
                         const struct bl_list *list)
{
	const struct bl_web *w = req->app;
	const char *base = bl_web_base_path(w);
	int64_t before = query_before(req);
	char here[600], path[96], date[40], ts[BL_TIME_STRMAX];
	struct bl_tval *data, *posts, *p, *l;
	struct walk wk;

	if (before < 0) {
		bl_web_error(req, resp, 400, "Bad request",
		             "The page number in this address is not valid.");
		return;
	}
	if (list)
		snprintf(here, sizeof(here), "%s/lists/%s", base, list->slug);
	else
		snprintf(here, sizeof(here), "%s", base);
	if (walk_posts(req->store, list ? list->id : 0, before, ARCHIVE_PAGE + 1, 0, &wk) != 0) {
		unavailable(req, resp, bl_store_error(req->store));
		walk_clear(&wk);
		return;
	}
	data = bl_tval_map();
	posts = bl_tval_list();
	for (size_t i = 0; i < wk.n && i < ARCHIVE_PAGE; i++) {
		const struct item *it = &wk.v[i];
		p = bl_tval_map();
		post_path(it->id, it->subject, path);
		human_date(it->when, date);
		bl_tval_set(p, "id", bl_tval_number((double)it->id));
		bl_tval_set(p, "url", bl_tval_stringf("%s/archive/%s", base, path));
		bl_tval_set(p, "subject", bl_tval_string(it->subject));
		bl_tval_set(p, "date", bl_tval_string(date));
		bl_tval_set(p, "datetime", bl_tval_string(bl_time_format(it->when, ts)));
		bl_tval_push(posts, p);
	}
	bl_tval_set(data, "posts", posts);
	if (wk.n > ARCHIVE_PAGE)
		bl_tval_set(data, "older_url",
		            bl_tval_stringf("%s/archive?before=%lld", here,
		                            (long long)wk.v[ARCHIVE_PAGE - 1].id));
	bl_tval_set(data, "feed_atom_url", bl_tval_stringf("%s/feed.atom", here));
	bl_tval_set(data, "feed_json_url", bl_tval_stringf("%s/feed.json", here));
	if (list) {
		l = bl_tval_map();
		bl_tval_set(l, "slug", bl_tval_string(list->slug));
		bl_tval_set(l, "name", bl_tval_string(list->name));
		bl_tval_set(l, "description",
		            bl_tval_string(list->description ? list->description : ""));
		bl_tval_set(data, "list", l);
	}
	walk_clear(&wk);
	bl_web_page(req, resp, 200, "archive", list ? list->name : "Archive", data);
}

struct post_lists {
	struct bl_tval *lists;
	const char *base;
};

static int add_public_list(void *arg, const struct bl_list *l)
{
	struct post_lists *pl = arg;
	if (l->visibility != BL_VISIBILITY_PUBLIC)
		return 0;
	struct bl_tval *m = bl_tval_map();
	bl_tval_set(m, "slug", bl_tval_string(l->slug));
	bl_tval_set(m, "name", bl_tval_string(l->name));
	bl_tval_set(m, "url", bl_tval_stringf("%s/lists/%s/archive", pl->base, l->slug));
	bl_tval_push(pl->lists, m);
	return 0;
}

/* GET /archive/ID-SLUG (@param: "ID-SLUG"). */
static void post_page(struct bl_http_req *req, struct bl_http_resp *resp, const char *param)
{
	const struct bl_web *w = req->app;
	const char *base = bl_web_base_path(w);
	char path[96], digits[20], url[2048], date[40], ts[BL_TIME_STRMAX];
	struct bl_post p;
	struct bl_tval *data, *post;
	struct post_lists pl;
	struct bl_buf html;
	struct bl_diag d;
	long long id;
	size_t nd = strspn(param, "0123456789");
	int rc;

	if (!*param) {
		redirect(resp, base, "/archive");
		return;
	}
	if (nd == 0 || nd >= sizeof(digits)) {
		not_found(req, resp);
		return;
	}
	memcpy(digits, param, nd);
	digits[nd] = '\0';
	if (bl_parse_int64(digits, 1, INT64_MAX, &id) != 0) {
		not_found(req, resp);
		return;
	}
	memset(&p, 0, sizeof(p));
	rc = req->store->ops->archive_get(req->store, id, &p);
	if (rc < 0) {
		unavailable(req, resp, bl_store_error(req->store));
		return;
	}
	if (rc == 0) {
		not_found(req, resp);
		return;
	}
	post_path(p.id, p.subject, path);
	if (strcmp(param, path) != 0) {
		char to[128];
		snprintf(to, sizeof(to), "/archive/%s", path);
		redirect(resp, base, to);
		bl_post_clear(&p);
		return;
	}
	snprintf(url, sizeof(url), "%s/archive/%s", w->public_url, path);
	bl_buf_init(&html, resp->body.max);
	if ((rc = bl_post_web_html(&p, w->public_url, url, &html, &d)) != 0) {
		bl_error("post %lld: %s", id, d.msg);
		bl_buf_finish(&html);
		bl_post_clear(&p);
		bl_web_error(req, resp, 500, "This post cannot be shown",
		             "Something is wrong with this post. The publisher has been told.");
		return;
	}
	pl.lists = bl_tval_list();
	pl.base = base;
	if (req->store->ops->post_lists(req->store, p.id, add_public_list, &pl) < 0) {
		bl_tval_destroy(pl.lists);
		bl_buf_finish(&html);
		bl_post_clear(&p);
		unavailable(req, resp, bl_store_error(req->store));
		return;
	}
	int64_t when = post_time(p.started_at, p.created_at);
	human_date(when, date);
	data = bl_tval_map();
	post = bl_tval_map();
	bl_tval_set(post, "id", bl_tval_number((double)p.id));
	bl_tval_set(post, "subject", bl_tval_string(p.subject));
	bl_tval_set(post, "html", bl_tval_stringn(bl_buf_str(&html), html.len));
	bl_tval_set(post, "date", bl_tval_string(date));
	bl_tval_set(post, "datetime", bl_tval_string(bl_time_format(when, ts)));
	bl_tval_set(data, "post", post);
	bl_tval_set(data, "lists", pl.lists);
	bl_buf_finish(&html);
	bl_web_page(req, resp, 200, "archive_post", p.subject, data);
	bl_post_clear(&p);
}

void bl_web_archive(struct bl_http_req *req, struct bl_http_resp *resp)
{
	char kb[KEY_MAX + 1];
	const char *key = cache_key(req, kb);
	if (from_cache(req, resp, key, PAGE_MAX_AGE))
		return;
	if (strcmp(req->path, "/archive") == 0)
		archive_page(req, resp, NULL);
	else
		post_page(req, resp, req->param);
	publish(req, resp, key, PAGE_MAX_AGE);
}

/* ---- feeds ------------------------------------------------------------------------------ */

/*
 * The entry id of a post: tag:HOST,DATE:post-ID-CREATED (RFC 4151; DATE the
 * day the post was made, CREATED its creation time, which tells apart posts
 * of the same id after a restore), or the post's URL when the host of
 * public_url is not a DNS name (an IPv6 literal).
 */
static void entry_id(const struct bl_web *w, const struct item *it, const char *url, char out[600])
{
	const char *h = strstr(w->public_url, "://") + 3;
	size_t hl = strcspn(h, ":/");
	char day[BL_TIME_STRMAX];
	if (hl == 0 || hl > 253 ||
	    strspn(h, "abcdefghijklmnopqrstuvwxyz"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") < hl) {
		snprintf(out, 600, "%s", url);
		return;
	}
	bl_time_format(it->created, day);
	day[10] = '\0';
	snprintf(out, 600, "tag:%.*s,%s:post-%lld-%lld", (int)hl, h, day, (long long)it->id,
	         (long long)it->created);
	for (size_t i = 4; i < 4 + hl; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
}

/* GET /feed.atom, /feed.json, /lists/SLUG/feed.{atom,json}. */
static void feed(struct bl_http_req *req, struct bl_http_resp *resp, const struct bl_list *list,
                 int json)
{
	const struct bl_web *w = req->app;
	char here[1200], home[1300], atom[1300], jsonu[1300], title[600];
	char(*ids)[600] = NULL, (*urls)[1300] = NULL;
	struct bl_feed_entry *e = NULL;
	struct bl_buf *html = NULL;
	struct bl_feed_info f;
	struct bl_diag d;
	struct walk wk;
	int rc;

	if (list)
		snprintf(here, sizeof(here), "%s/lists/%s", w->public_url, list->slug);
	else
		snprintf(here, sizeof(here), "%s", w->public_url);
	if (walk_posts(req->store, list ? list->id : 0, 0, FEED_ENTRIES, 1, &wk) != 0) {
		unavailable(req, resp, bl_store_error(req->store));
		walk_clear(&wk);
		return;
	}
	snprintf(home, sizeof(home), "%s/archive", here);
	snprintf(atom, sizeof(atom), "%s/feed.atom", here);
	snprintf(jsonu, sizeof(jsonu), "%s/feed.json", here);
	if (list)
		snprintf(title, sizeof(title), "%s: %s", w->site_name, list->name);
	else
		snprintf(title, sizeof(title), "%s", w->site_name);
	f = (struct bl_feed_info){.id = atom,
	                          .title = title,
	                          .home_url = home,
	                          .atom_url = atom,
	                          .json_url = jsonu,
	                          .author = w->site_name,
	                          .lang = "en",
	                          .updated = 0};
	if (wk.n) {
		e = bl_xcalloc(wk.n, sizeof(*e));
		ids = bl_xcalloc(wk.n, sizeof(*ids));
		urls = bl_xcalloc(wk.n, sizeof(*urls));
		html = bl_xcalloc(wk.n, sizeof(*html));
	}
	for (size_t i = 0; i < wk.n; i++) {
		struct item *it = &wk.v[i];
		char path[96];
		struct bl_post p = {.id = it->id, .subject = it->subject, .body = it->body};
		post_path(it->id, it->subject, path);
		snprintf(urls[i], sizeof(urls[i]), "%s/archive/%s", w->public_url, path);
		entry_id(w, it, urls[i], ids[i]);
		bl_buf_init(&html[i], 0);
		if (bl_post_web_html(&p, w->public_url, urls[i], &html[i], &d) != 0) {
			bl_error("post %lld: %s", (long long)it->id, d.msg);
			bl_buf_reset(&html[i]);
		}
		e[i] = (struct bl_feed_entry){.id = ids[i],
		                              .url = urls[i],
		                              .title = it->subject,
		                              .html = bl_buf_str(&html[i]),
		                              .published = it->when,
		                              .updated = it->when};
		if (it->when > f.updated)
			f.updated = it->when;
	}
	bl_buf_reset(&resp->body);
	rc = json ? bl_feed_json(&f, e, wk.n, &resp->body, &d)
	          : bl_feed_atom(&f, e, wk.n, &resp->body, &d);
	for (size_t i = 0; i < wk.n; i++)
		bl_buf_finish(&html[i]);
	free(html);
	free(e);
	free(ids);
	free(urls);
	walk_clear(&wk);
	if (rc) {
		bl_error("%s: %s", req->path, d.msg);
		bl_web_error(req, resp, 500, "The feed cannot be made",
		             "Something went wrong building this feed.");
		return;
	}
	resp->status = 200;
	resp->content_type =
	    json ? "application/feed+json; charset=utf-8" : "application/atom+xml; charset=utf-8";
}

/* A feed of every public list; the query plays no part. */
static void whole_feed(struct bl_http_req *req, struct bl_http_resp *resp, int json)
{
	const char *key = json ? "/feed.json" : "/feed.atom";
	if (from_cache(req, resp, key, PAGE_MAX_AGE))
		return;
	feed(req, resp, NULL, json);
	publish(req, resp, key, PAGE_MAX_AGE);
}

void bl_web_feed_atom(struct bl_http_req *req, struct bl_http_resp *resp)
{
	whole_feed(req, resp, 0);
}

void bl_web_feed_json(struct bl_http_req *req, struct bl_http_resp *resp)
{
	whole_feed(req, resp, 1);
}

/* GET /lists/SLUG/archive, /lists/SLUG/feed.atom, /lists/SLUG/feed.json: public lists only. */
void bl_web_list_routes(struct bl_http_req *req, struct bl_http_resp *resp)
{
	const char *slash = strchr(req->param, '/');
	char slug[65], kb[KEY_MAX + 1];
	const char *key = cache_key(req, kb);
	struct bl_list l;
	size_t n;
	int rc, what;

	if (!slash || (n = (size_t)(slash - req->param)) == 0 || n >= sizeof(slug)) {
		not_found(req, resp);
		return;
	}
	if (strcmp(slash + 1, "archive") == 0)
		what = 0;
	else if (strcmp(slash + 1, "feed.atom") == 0)
		what = 1;
	else if (strcmp(slash + 1, "feed.json") == 0)
		what = 2;
	else {
		not_found(req, resp);
		return;
	}
	memcpy(slug, req->param, n);
	slug[n] = '\0';
	if (!bl_slug_valid(slug)) {
		not_found(req, resp);
		return;
	}
	if (from_cache(req, resp, key, PAGE_MAX_AGE))
		return;
	memset(&l, 0, sizeof(l));
	rc = req->store->ops->list_get(req->store, slug, &l);
	if (rc < 0) {
		unavailable(req, resp, bl_store_error(req->store));
		return;
	}
	if (rc == 0 || l.visibility != BL_VISIBILITY_PUBLIC) {
		if (rc > 0)
			bl_list_clear(&l);
		not_found(req, resp);
		return;
	}
	if (what == 0)
		archive_page(req, resp, &l);
	else
		feed(req, resp, &l, what == 2);
	bl_list_clear(&l);
	publish(req, resp, key, PAGE_MAX_AGE);
}

/* ---- stylesheet, health, metrics -------------------------------------------------------- */

void bl_web_stylesheet(struct bl_http_req *req, struct bl_http_resp *resp)
{
	const struct bl_web *w = req->app;
	const char *etag, *css;
	size_t len;

	css = bl_pages_stylesheet(w->pages, &len, &etag);
	resp->status = 200;
	resp->content_type = "text/css; charset=utf-8";
	bl_buf_reset(&resp->body);
	bl_buf_add(&resp->body, css, len);
	cacheable(req, resp, CSS_MAX_AGE, etag);
}

void bl_web_healthz(struct bl_http_req *req, struct bl_http_resp *resp)
{
	int version = 0, rc;
	resp->content_type = "text/plain; charset=utf-8";
	bl_buf_reset(&resp->body);
	rc = req->store->ops->schema_version(req->store, &version);
	if (rc != 0 || version != BL_SCHEMA_VERSION) {
		if (rc != 0)
			bl_error("healthz: %s", bl_store_error(req->store));
		else
			bl_error("healthz: schema version %d, want %d", version, BL_SCHEMA_VERSION);
		resp->status = 503;
		bl_buf_adds(&resp->body, "unavailable\n");
		return;
	}
	resp->status = 200;
	bl_buf_adds(&resp->body, "ok\n");
}

/* Seconds /metrics reuses the store's counts. */
#define METRICS_TTL 5.0

static void gauge(struct bl_buf *b, const char *name, const char *help)
{
	bl_buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

void bl_web_metrics(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_web *w = req->app;
	struct bl_buf *b = &resp->body;
	struct bl_stats st;
	int64_t now = bl_now();

	memset(&st, 0, sizeof(st));
	bl_buf_reset(b);
	/* The counts read whole tables (0.3 s at a million rows): a scrape every few
	 * seconds, or many scrapers, reuse one reading for METRICS_TTL seconds. */
	int rc = 0;
	pthread_mutex_lock(&w->stats_lock);
	if (w->stats_at > 0 && bl_monotonic() - w->stats_at < METRICS_TTL) {
		st = w->stats;
	} else if ((rc = req->store->ops->stats(req->store, now, &st)) == 0) {
		w->stats = st;
		w->stats_at = bl_monotonic();
	}
	pthread_mutex_unlock(&w->stats_lock);
	if (rc != 0) {
		bl_error("metrics: %s", bl_store_error(req->store));
		resp->status = 503;
		resp->content_type = "text/plain; charset=utf-8";
		bl_buf_adds(b, "unavailable\n");
		return;
	}
	gauge(b, "bulletin_subscribers", "Subscribers by status.");
	for (int i = 0; i < 2; i++)
		bl_buf_addf(b, "bulletin_subscribers{status=\"%s\"} %lld\n",
		            bl_subscriber_status_name((enum bl_subscriber_status)i),
		            (long long)st.subscribers[i]);
	gauge(b, "bulletin_subscriptions", "Subscriptions by status.");
	for (int i = 0; i < 3; i++)
		bl_buf_addf(b, "bulletin_subscriptions{status=\"%s\"} %lld\n",
		            bl_sub_status_name((enum bl_sub_status)i),
		            (long long)st.subscriptions[i]);
	gauge(b, "bulletin_deliveries", "Delivery rows of every post, by state.");
	for (int i = 0; i < BL_DELIVERY_NSTATES; i++)
		bl_buf_addf(b, "bulletin_deliveries{state=\"%s\"} %lld\n",
		            bl_delivery_state_name((enum bl_delivery_state)i),
		            (long long)st.deliveries[i]);
	gauge(b, "bulletin_queue_depth",
	      "Deliveries not yet final: pending, claimed or deferred (the engine's backlog).");
	bl_buf_addf(b, "bulletin_queue_depth %lld\n",
	            (long long)(st.deliveries[BL_DELIVERY_PENDING] +
	                        st.deliveries[BL_DELIVERY_CLAIMED] +
	                        st.deliveries[BL_DELIVERY_DEFERRED]));
	gauge(b, "bulletin_posts_sending", "Posts in status sending.");
	bl_buf_addf(b, "bulletin_posts_sending %lld\n", (long long)st.posts_sending);
	gauge(b, "bulletin_deliveries_accepted_last_minute",
	      "Deliveries a relay accepted in the last 60 seconds.");
	bl_buf_addf(b, "bulletin_deliveries_accepted_last_minute %lld\n",
	            (long long)st.accepted_last_minute);
	gauge(b, "bulletin_send_rate",
	      "Messages accepted per second, averaged over the last minute.");
	bl_buf_addf(b, "bulletin_send_rate %.3f\n", (double)st.accepted_last_minute / 60.0);
	bl_buf_addf(b,
	            "# HELP bulletin_confirm_mails_total Confirmation mails queued since start.\n"
	            "# TYPE bulletin_confirm_mails_total counter\n"
	            "bulletin_confirm_mails_total %lld\n",
	            (long long)atomic_load(&w->confirm_mails));
	gauge(b, "bulletin_signup_breaker_open",
	      "1 while confirmation mail is stopped because the global signup budget ran out.");
	bl_buf_addf(b, "bulletin_signup_breaker_open %d\n",
	            atomic_load(&w->breaker_until) > (long long)now);
	bl_http_metrics(req->server, b);
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
