/*
 * Polling a feed: fetch, parse, sanitise, ingest (poll.h). Everything a
 * poll writes goes through two store ops: feed_ingest (a success: the new
 * items, their posts and the feed's state in one transaction) or
 * feed_polled (304, or a failure). Item HTML never reaches a post without
 * bl_html_sanitize.
 */
#include "feed/poll.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/model.h"
#include "feed/sanitize.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/xalloc.h"

void bl_feed_item_key(const struct bl_feed_item *it, char out[BL_FEED_KEY_HEX])
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	if (it->id && *it->id) {
		bl_buf_adds(&b, "id\n");
		bl_buf_adds(&b, it->id);
	} else if (it->link && *it->link) {
		bl_buf_adds(&b, "link\n");
		bl_buf_adds(&b, it->link);
	} else {
		int64_t date = it->published ? it->published : it->updated;
		bl_buf_addf(&b, "hash\n%s\n%lld", it->title ? it->title : "", (long long)date);
		if ((!it->title || !*it->title) && !date) {
			bl_buf_addc(&b, '\n');
			bl_buf_adds(&b, it->summary ? it->summary : "");
			bl_buf_addc(&b, '\n');
			bl_buf_adds(&b, it->content ? it->content : "");
		}
	}
	bl_sha256_hex(bl_buf_str(&b), strlen(bl_buf_str(&b)), out);
	bl_buf_finish(&b);
}

int64_t bl_feed_next_poll(int64_t now, int64_t every, int64_t failures)
{
	if (every < 1)
		every = 1;
	if (failures <= 0)
		return now + every;
	int64_t wait = every;
	for (int64_t i = 0; i < failures && wait < BL_FEED_BACKOFF_MAX; i++)
		wait *= 2;
	if (wait > BL_FEED_BACKOFF_MAX)
		wait = BL_FEED_BACKOFF_MAX;
	return now + (wait > every ? wait : every);
}

struct bl_feed_entries {
	struct bl_feed_ingest_item *items;
	size_t n;
	char **owned; /* every string the items point to */
	size_t n_owned, cap_owned;
};

static const char *own(struct bl_feed_entries *e, char *s)
{
	if (e->n_owned == e->cap_owned) {
		e->cap_owned = e->cap_owned ? 2 * e->cap_owned : 16;
		e->owned = bl_xrealloc(e->owned, e->cap_owned * sizeof(*e->owned));
	}
	e->owned[e->n_owned++] = s;
	return s;
}

void bl_feed_entries_free(struct bl_feed_entries *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_owned; i++)
		free(e->owned[i]);
	free(e->owned);
	free(e->items);
	free(e);
}

const struct bl_feed_ingest_item *bl_feed_entries_items(const struct bl_feed_entries *e, size_t *n)
{
	*n = e->n;
	return e->items;
}

static void add_escaped(struct bl_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			bl_buf_adds(b, "&amp;");
			break;
		case '<':
			bl_buf_adds(b, "&lt;");
			break;
		case '>':
			bl_buf_adds(b, "&gt;");
			break;
		case '"':
			bl_buf_adds(b, "&quot;");
			break;
		default:
			bl_buf_addc(b, *s);
		}
	}
}

/*
 * @s (malloc'd, consumed) cut to at most @max bytes: at the last space in
 * the second half of the room when there is one, else on a character
 * boundary, then "…" added. Returns a malloc'd string.
 */
static char *cut_words(char *s, size_t max)
{
	if (strlen(s) <= max)
		return s;
	char *cut = bl_xmalloc(max + 1);
	const char *c = bl_store_cut_utf8(s, max - 3, cut);
	if (c != cut) /* short enough already (cannot happen here) */
		strcpy(cut, c);
	char *sp = strrchr(cut, ' ');
	if (sp && (size_t)(sp - cut) > (max - 3) / 2)
		*sp = '\0';
	char *out = bl_xmalloc(strlen(cut) + 4);
	strcpy(out, cut);
	strcat(out, "\xe2\x80\xa6");
	free(cut);
	free(s);
	return out;
}

/*
 * A subject from @text: control characters (CR, LF, tabs...) become spaces,
 * runs of spaces one, trimmed, cut at BL_FEED_SUBJECT_MAX bytes on a
 * character boundary (with "…" when cut). malloc'd; "" when nothing is left.
 */
static char *subject_from(const char *text)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	int space = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == ' ') {
			space = 1;
			continue;
		}
		/* Unicode spaces (no-break, en/em..., ideographic) and C1 controls are
		 * blanks in a subject line too. */
		uint32_t cp;
		size_t n = *p >= 0x80 ? bl_utf8_decode(p, strlen((const char *)p), &cp) : 0;
		if (n > 0 && ((cp >= 0x80 && cp <= 0xa0) || (cp >= 0x2000 && cp <= 0x200b) ||
		              cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
		              cp == 0x3000 || cp == 0xfeff)) {
			space = 1;
			p += n - 1;
			continue;
		}
		if (space && bl_buf_str(&b)[0])
			bl_buf_addc(&b, ' ');
		space = 0;
		bl_buf_addc(&b, (char)*p);
	}
	return cut_words(bl_buf_take(&b), BL_FEED_SUBJECT_MAX);
}

/* The post made from item @it of @doc: its subject and sanitised body (malloc'd). */
static int make_post(const struct bl_feed_doc *doc, const struct bl_feed_item *it, char **subject,
                     char **body, struct bl_diag *d)
{
	const char *html = it->content && *it->content ? it->content
	                   : it->summary               ? it->summary
	                                               : "";
	const char *base = it->base && *it->base ? it->base : doc->link;
	struct bl_buf b, more, text;
	bl_buf_init(&b, 0);
	bl_buf_init(&more, 0);
	bl_buf_init(&text, 0);
	int rc = bl_html_sanitize(html, strlen(html), base, &b, d);
	/* an untitled item's subject comes from its own text, before the link is added */
	char *s = subject_from(it->title ? it->title : "");
	if (rc == 0 && !*s)
		bl_html_to_text(bl_buf_str(&b), strlen(bl_buf_str(&b)), &text);
	if (rc == 0 && it->link && *it->link) {
		bl_buf_adds(&more, "<p><a href=\"");
		add_escaped(&more, it->link);
		bl_buf_adds(&more, "\">Read more</a></p>");
		rc = bl_html_sanitize(bl_buf_str(&more), strlen(bl_buf_str(&more)), NULL, &b, d);
	}
	if (rc) {
		free(s);
		bl_buf_finish(&b);
		bl_buf_finish(&more);
		bl_buf_finish(&text);
		return rc;
	}
	if (!*s) {
		/* no title: the start of the text, else the feed's name */
		free(s);
		s = cut_words(subject_from(bl_buf_str(&text)), 80);
		if (!*s) {
			free(s);
			struct bl_buf n;
			bl_buf_init(&n, 0);
			bl_buf_addf(&n, "New from %s",
			            doc->title && *doc->title ? doc->title : "the feed");
			char *t = bl_buf_take(&n);
			s = subject_from(t);
			free(t);
		}
	}
	*subject = s;
	*body = bl_buf_take(&b);
	bl_buf_finish(&more);
	bl_buf_finish(&text);
	return 0;
}

/* qsort: by date, then later in the document first (feeds list the newest first). */
struct order {
	int64_t date;
	size_t pos;
};

static int by_date(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return x->pos > y->pos ? -1 : x->pos < y->pos;
}

int bl_feed_entries(struct bl_store *s, int64_t feed_id, const struct bl_feed_doc *doc,
                    struct bl_feed_entries **out, struct bl_diag *d)
{
	size_t n = doc->n_items;
	struct bl_feed_entries *e = bl_xcalloc(1, sizeof(*e));
	e->items = bl_xcalloc(n ? n : 1, sizeof(*e->items));
	/* oldest first: by date when every item has one, else the reverse of document order */
	struct order *ord = bl_xcalloc(n ? n : 1, sizeof(*ord));
	int dated = 1;
	for (size_t i = 0; i < n; i++) {
		const struct bl_feed_item *it = &doc->items[i];
		ord[i].date = it->published ? it->published : it->updated;
		ord[i].pos = i; /* the document index */
		dated &= ord[i].date != 0;
	}
	if (dated)
		qsort(ord, n, sizeof(*ord), by_date);
	else
		for (size_t i = 0; i < n; i++)
			ord[i] = (struct order){0, n - 1 - i};
	/* ord[i].pos: the document index of the i-th entry, oldest first */
	char(*keys)[BL_FEED_KEY_HEX] = bl_xcalloc(n ? n : 1, sizeof(*keys));
	const char **kp = bl_xcalloc(n ? n : 1, sizeof(*kp));
	char *seen = bl_xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++) {
		bl_feed_item_key(&doc->items[ord[i].pos], keys[i]);
		kp[i] = keys[i];
	}
	int rc = s->ops->feed_seen(s, feed_id, n, kp, seen);
	if (rc) {
		bl_diag_set(d, BL_ESTORE, "%s", s->error);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (seen[i])
			continue;
		const struct bl_feed_item *it = &doc->items[ord[i].pos];
		char *subject = NULL, *body = NULL;
		struct bl_diag sd;
		if (make_post(doc, it, &subject, &body, &sd)) {
			/* an item whose HTML cannot be made safe is kept as its title and link only
			 */
			bl_warn("feed %lld: item \"%s\": %s; its text is left out",
			        (long long)feed_id, it->title ? it->title : "", sd.msg);
			struct bl_feed_item bare = *it;
			bare.summary = bare.content = "";
			if (make_post(doc, &bare, &subject, &body, &sd))
				continue;
		}
		struct bl_feed_ingest_item *x = &e->items[e->n++];
		x->key = own(e, bl_xstrdup(keys[i]));
		x->title = own(e, bl_xstrdup(it->title ? it->title : ""));
		x->link = own(e, bl_xstrdup(it->link ? it->link : ""));
		x->subject = own(e, subject);
		x->body = own(e, body);
	}
out:
	free(ord);
	free(keys);
	free(kp);
	free(seen);
	if (rc) {
		bl_feed_entries_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* Record a failed poll of @f with message @msg. */
static int record_failure(struct bl_store *s, const struct bl_feed *f, int64_t now,
                          struct bl_feed_poll_report *rep, const char *msg, struct bl_diag *d)
{
	rep->failed = 1;
	snprintf(rep->error, sizeof(rep->error), "%s", msg);
	rep->next_poll_at = bl_feed_next_poll(now, f->every, f->failures + 1);
	int rc = s->ops->feed_polled(s, f->id, now, rep->next_poll_at, rep->error);
	if (rc < 0) {
		bl_diag_set(d, BL_ESTORE, "%s", s->error);
		return rc;
	}
	if (strstr(rep->error, f->url))
		bl_warn("feed %lld: %s; next try in %lld s", (long long)f->id, rep->error,
		        (long long)(rep->next_poll_at - now));
	else
		bl_warn("feed %lld (%s): %s; next try in %lld s", (long long)f->id, f->url,
		        rep->error, (long long)(rep->next_poll_at - now));
	return 0;
}

int bl_feed_poll(struct bl_store *s, int64_t feed_id, const struct bl_fetch_opts *fo, int64_t now,
                 struct bl_feed_poll_report *rep, struct bl_diag *d)
{
	memset(rep, 0, sizeof(*rep));
	rep->feed_id = feed_id;
	struct bl_feed f;
	int rc = s->ops->feed_get(s, feed_id, &f);
	if (rc < 0) {
		bl_diag_set(d, BL_ESTORE, "%s", s->error);
		return rc;
	}
	if (rc == 0) {
		bl_diag_set(d, BL_ENOENT, "there is no feed %lld", (long long)feed_id);
		return -BL_ENOENT;
	}
	struct bl_fetch_result res;
	struct bl_diag fd;
	rc = bl_fetch(f.url, f.etag, f.last_modified, fo, &res, &fd);
	if (rc && fo && fo->stop && *fo->stop) {
		/* shutting down: not the feed's failure, nothing recorded */
		bl_diag_set(d, BL_EIO, "%s", fd.msg);
		bl_fetch_result_clear(&res);
		bl_feed_clear(&f);
		return -BL_EIO;
	}
	if (rc) {
		rc = record_failure(s, &f, now, rep, fd.msg, d);
		bl_fetch_result_clear(&res); /* filled as far as the fetch got, also on error */
		bl_feed_clear(&f);
		return rc;
	}
	if (res.not_modified && f.ok_at == 0) {
		/* Nothing was ever read, so nothing can be "not modified": taken as such,
		 * the next answer's items would all count as new (a backlog blast). */
		char msg[BL_DIAG_MAX];
		snprintf(msg, sizeof(msg),
		         "%.300s: the server answered 304 Not Modified to a first request, which "
		         "named no copy; the feed is read again later",
		         f.url);
		rc = record_failure(s, &f, now, rep, msg, d);
		bl_fetch_result_clear(&res);
		bl_feed_clear(&f);
		return rc;
	}
	if (res.not_modified) {
		rep->not_modified = 1;
		rep->items = -1; /* not fetched: unknown */
		rep->next_poll_at = bl_feed_next_poll(now, f.every, 0);
		rc = s->ops->feed_polled(s, f.id, now, rep->next_poll_at, NULL);
		if (rc < 0)
			bl_diag_set(d, BL_ESTORE, "%s", s->error);
		bl_fetch_result_clear(&res);
		bl_feed_clear(&f);
		return rc < 0 ? rc : 0;
	}
	struct bl_feed_doc doc;
	struct bl_diag pd;
	rc = bl_feed_parse(res.body, res.len,
	                   res.final_url && *res.final_url ? res.final_url : f.url,
	                   res.content_type, &doc, &pd);
	if (rc) {
		rc = record_failure(s, &f, now, rep, pd.msg, d); /* it says "not ... a feed" */
		bl_fetch_result_clear(&res);
		bl_feed_clear(&f);
		return rc;
	}
	rep->items = (int64_t)doc.n_items;
	if (doc.truncated && f.ok_at == 0) {
		/* A first poll marks every item there as seen: it must see them all, or the
		 * rest would be sent as new next time. */
		char msg[BL_DIAG_MAX];
		snprintf(msg, sizeof(msg),
		         "%.300s: the document stops before its end (a cut download?); a first "
		         "poll reads the whole feed, so it is read again later",
		         f.url);
		rc = record_failure(s, &f, now, rep, msg, d);
		bl_feed_doc_clear(&doc);
		bl_fetch_result_clear(&res);
		bl_feed_clear(&f);
		return rc;
	}
	if (doc.truncated && doc.n_items > 0) {
		/* The document stops early (a cut download): its last item may be cut too, and
		 * a partial item, once recorded, would never be read again. It waits for the
		 * next poll. */
		bl_warn("feed %lld (%s): the document stops before its end; its last item is left "
		        "for the next poll",
		        (long long)f.id, f.url);
		doc.n_items--;
		bl_feed_item_clear(&doc.items[doc.n_items]);
	}
	struct bl_feed_entries *e = NULL;
	rc = bl_feed_entries(s, f.id, &doc, &e, d);
	if (rc == 0) {
		size_t n;
		const struct bl_feed_ingest_item *items = bl_feed_entries_items(e, &n);
		struct bl_feed_ingest_result r;
		rep->next_poll_at = bl_feed_next_poll(now, f.every, 0);
		rc = s->ops->feed_ingest(s, f.id, now, rep->next_poll_at, res.etag,
		                         res.last_modified,
		                         doc.title && *doc.title ? doc.title : NULL, items, n, &r);
		if (rc < 0)
			bl_diag_set(d, BL_ESTORE, "%s", s->error);
		else if (rc == 0) {
			bl_diag_set(d, BL_ENOENT, "feed %lld was removed during its poll",
			            (long long)f.id);
			rc = -BL_ENOENT;
		} else {
			rc = 0;
			rep->new_items = r.new_items;
			rep->posts = r.posts;
			rep->first_post_id = r.first_post_id;
			rep->last_post_id = r.last_post_id;
			if (r.posts)
				bl_info("feed %lld (%s): %lld new item%s, %lld post%s",
				        (long long)f.id, f.url, (long long)r.new_items,
				        r.new_items == 1 ? "" : "s", (long long)r.posts,
				        r.posts == 1 ? "" : "s");
		}
	}
	bl_feed_entries_free(e);
	bl_feed_doc_clear(&doc);
	bl_fetch_result_clear(&res);
	bl_feed_clear(&f);
	return rc;
}

int bl_feed_url_normalize(const char *url, char **out, struct bl_diag *d)
{
	if (strlen(url) > BL_FEED_URL_MAX)
		return bl_diag_set(d, BL_EINVAL, "the feed URL is longer than %d bytes",
		                   BL_FEED_URL_MAX);
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return bl_diag_set(d, BL_EINVAL,
			                   "the feed URL holds a space or a control character; "
			                   "percent-encode it");
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *port = NULL, *norm = NULL;
	int rc = 0;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		rc = bl_diag_set(
		    d, BL_EINVAL,
		    "\"%.200s\" is not an absolute URL (want http://... or https://...)", url);
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		rc = bl_diag_set(d, BL_EINVAL,
		                 "\"%.200s\": a feed is fetched over http or https only", url);
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		rc = bl_diag_set(d, BL_EINVAL, "\"%.200s\" names no host", url);
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		rc = bl_diag_set(d, BL_EINVAL,
		                 "a feed URL with a user name or password is not supported: it "
		                 "would show in `feed ls`, the API and the logs");
	if (rc == 0) {
		/* One spelling per feed: host in lower case, no fragment, no empty query, no
		 * default port; curl_url has already resolved "." and ".." segments. */
		bl_ascii_lower(host);
		curl_url_set(u, CURLUPART_HOST, host, 0);
		curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
		if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && !*query)
			curl_url_set(u, CURLUPART_QUERY, NULL, 0);
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK &&
		    ((strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
		     (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0)))
			curl_url_set(u, CURLUPART_PORT, NULL, 0);
		if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK)
			rc = bl_diag_set(d, BL_EINVAL, "\"%.200s\" is not a URL bulletin can use",
			                 url);
		else if (out)
			*out = bl_xstrdup(norm);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(port);
	curl_free(norm);
	curl_url_cleanup(u);
	return rc;
}
