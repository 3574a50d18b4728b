/*
 * The composer: see compose.h. Per post: parse the sender, derive the
 * domains, convert the Markdown once and compile four templates (body and
 * layout, HTML and text). Per message: a small data tree, four renders,
 * one MIME build. Nothing here touches the database.
 */
#include "send/compose.h"

#include "core/address.h"
#include "feed/sanitize.h"
#include "mime/message.h"
#include "render/markdown.h"
#include "tmpl/tmpl.h"
#include "util/embedded.h"
#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct bl_embedded bl_email_templates[];

/* A digest's post as the composer keeps it across subscribers. */
struct excerpt {
	int64_t post_id;
	char *text; /* plain text, at most EXCERPT_MAX bytes */
};
#define EXCERPT_MAX 300

struct bl_composer {
	int64_t post_id;
	enum bl_post_kind kind;
	char *site_name;         /* kind confirm */
	int64_t confirm_expires; /* kind confirm: seconds since the epoch */
	int64_t post_created;    /* seconds: tells apart posts of the same id (a restore) */
	char *subject;
	char from_name[BL_NAME_MAX + 1];
	char from_addr[BL_ADDRESS_MAX + 1];
	char *public_url; /* without a trailing '/' */
	char *bounce_domain, *list_id_domain, *postal_address;
	const struct bl_secret *secret;
	const struct bl_list *lists;
	size_t n_lists;
	struct bl_tmpl *body_html, *body_text, *layout_html, *layout_text;
	/* kind digest */
	struct bl_store *store;
	int have_digest;
	struct bl_digest digest;
	struct excerpt *excerpts; /* per post of the digest, made on first use */
	size_t n_excerpts;
	char *html_body, *text_body;    /* format html: the bodies as they go in; NULL otherwise */
	struct bl_buf body, html, text; /* scratch, reused per message */
};

const char *bl_composer_last_html(const struct bl_composer *c)
{
	return bl_buf_str(&c->html);
}

const char *bl_composer_last_text(const struct bl_composer *c)
{
	return bl_buf_str(&c->text);
}

int64_t bl_composer_post_id(const struct bl_composer *c)
{
	return c->post_id;
}

int bl_post_body_check(enum bl_post_format format, const char *body, size_t len, const char *name,
                       struct bl_diag *d)
{
	char *html = NULL, *text = NULL;
	struct bl_tmpl *t = NULL;
	size_t bad;
	if (memchr(body, 0, len))
		return bl_diag_set(d, BL_EINVAL, "%s holds a NUL byte", name);
	if (!bl_utf8_valid(body, len, &bad))
		return bl_diag_set(d, BL_EINVAL, "%s is not UTF-8 (bad byte at offset %zu)", name,
		                   bad);
	if (format == BL_POST_FORMAT_HTML)
		return 0;
	/* the body itself first: its error lines are the lines the author wrote */
	int rc = bl_tmpl_compile(body, len, name, &t, d);
	bl_tmpl_destroy(t);
	t = NULL;
	if (!rc)
		rc = bl_markdown_render(body, len, &html, &text, d);
	if (!rc)
		rc = bl_tmpl_compile(html, strlen(html), name, &t, d);
	bl_tmpl_destroy(t);
	t = NULL;
	if (!rc)
		rc = bl_tmpl_compile(text, strlen(text), name, &t, d);
	bl_tmpl_destroy(t);
	free(html);
	free(text);
	return rc ? -BL_EINVAL : 0;
}

static int has_crlfnul(const char *s, size_t len)
{
	return memchr(s, '\r', len) || memchr(s, '\n', len) || strlen(s) != len;
}

int bl_sender_parse(const char *from, unsigned flags, char *name, size_t name_size, char *addr,
                    size_t addr_size, struct bl_diag *d)
{
	struct bl_address a;
	struct bl_diag ad;
	const char *lt, *gt, *spec;
	size_t spec_len, nstart = 0, nlen = 0;

	if (!from || !*from)
		return bl_diag_set(d, BL_EINVAL,
		                   "no sender: set `from` in the configuration "
		                   "(\"Name <address>\") or give --from");
	if (strchr(from, '\r') || strchr(from, '\n'))
		return bl_diag_set(d, BL_EINVAL, "the sender holds a line break");
	lt = strrchr(from, '<');
	if (lt) {
		gt = strchr(lt, '>');
		if (!gt || gt[1 + strspn(gt + 1, " \t")] != '\0')
			return bl_diag_set(d, BL_EINVAL,
			                   "sender \"%s\": want \"Name <address>\" or an address",
			                   from);
		spec = lt + 1;
		spec_len = (size_t)(gt - spec);
		nlen = bl_trim_span(from, (size_t)(lt - from), &nstart);
		if (nlen >= 2 && from[nstart] == '"' && from[nstart + nlen - 1] == '"') {
			nstart++;
			nlen -= 2;
		}
	} else {
		spec = from;
		spec_len = strlen(from);
	}
	if (nlen >= name_size || nlen > BL_NAME_MAX)
		return bl_diag_set(d, BL_EINVAL, "the sender's name is over %d bytes", BL_NAME_MAX);
	if (memchr(from + nstart, '<', nlen) || memchr(from + nstart, '>', nlen))
		return bl_diag_set(
		    d, BL_EINVAL,
		    "sender \"%s\": the name may not hold '<' or '>' (one address only)", from);
	if (memchr(from + nstart, '"', nlen) || memchr(from + nstart, '\\', nlen))
		return bl_diag_set(d, BL_EINVAL,
		                   "the sender's name may not hold '\"' or '\\': write it plainly");
	if (bl_address_parse(spec, spec_len, flags, &a, NULL, &ad) != 0)
		return bl_diag_set(d, BL_EINVAL, "sender address: %s", ad.msg);
	if (strlen(a.email) >= addr_size)
		return bl_diag_set(d, BL_EINVAL, "the sender address is too long");
	memcpy(name, from + nstart, nlen);
	name[nlen] = 0;
	strcpy(addr, a.email);
	return 0;
}

static const struct bl_embedded *template_named(const char *name)
{
	for (const struct bl_embedded *e = bl_email_templates; e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	bl_panic("template %s is not compiled in", name);
	return NULL;
}

/* The host of @url through libcurl's URL parser; malloc'd, or NULL. */
static char *url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out = NULL;
	if (!u)
		bl_panic("out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host)
		out = bl_xstrdup(host);
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

static int is_ip_or_local(const char *host)
{
	if (host[0] == '[' || strcmp(host, "localhost") == 0)
		return 1;
	return strspn(host, "0123456789.") == strlen(host);
}

int bl_public_url_parse(const char *url, char **base, char **host, struct bl_diag *d)
{
	size_t len = strlen(url);
	char *b, *h;
	while (len && url[len - 1] == '/')
		len--;
	b = bl_xstrndup(url, len);
	h = url_host(b);
	if (!h || (strncmp(b, "https://", 8) != 0 && strncmp(b, "http://", 7) != 0)) {
		free(b);
		free(h);
		return bl_diag_set(d, BL_EINVAL, "public_url \"%s\" is not an http(s) URL", url);
	}
	/* Links are public_url + "/unsubscribe/TOKEN": no query or fragment, and
	 * nothing that would end a <URL> in a header or an attribute. */
	if (strpbrk(b, "?#<>\"' \t\r\n\\")) {
		free(b);
		free(h);
		return bl_diag_set(
		    d, BL_EINVAL,
		    "public_url \"%s\" must be a base URL: no query (?), fragment (#), "
		    "spaces, quotes or <>",
		    url);
	}
	*base = b;
	*host = h;
	return 0;
}

/*
 * A domain setting (@name): @value, or @fallback when empty; checked as the
 * domain of an address (hostname rules, IDNA to A-labels) so that it can go
 * into an envelope sender, a Message-ID and a List-Id. *@out malloc'd.
 */
static int domain_setting(const char *name, const char *value, const char *fallback, unsigned flags,
                          char **out, struct bl_diag *d)
{
	const char *v = value && *value ? value : fallback;
	char probe[BL_ADDRESS_MAX + 2];
	struct bl_address a;
	struct bl_diag ad;
	if (strlen(v) > BL_ADDRESS_MAX - 2 ||
	    snprintf(probe, sizeof(probe), "x@%s", v) >= (int)sizeof(probe) ||
	    bl_address_parse(probe, strlen(probe), flags, &a, NULL, &ad) != 0)
		return bl_diag_set(d, BL_EINVAL, "%s \"%s\" is not a valid domain name", name, v);
	*out = bl_xstrdup(strchr(a.email, '@') + 1);
	return 0;
}

/*
 * The two bodies of a post of format html: its HTML sanitised once more (it
 * was when the feed item became a post; a body edited since, or written by
 * an older version, gets the same allowlist; no base URL: the feed's
 * relative URLs were resolved then) and the text rendering of that. Both
 * malloc'd. Neither is a template.
 */
static int html_bodies(const char *body, char **html, char **text, struct bl_diag *d)
{
	struct bl_buf h, t;
	bl_buf_init(&h, BL_MESSAGE_MAX);
	bl_buf_init(&t, BL_MESSAGE_MAX);
	int rc = bl_html_sanitize(body, strlen(body), NULL, &h, d);
	if (!rc && bl_html_to_text(bl_buf_str(&h), h.len, &t))
		rc = bl_diag_set(d, BL_ELIMIT, "the post's text rendering is too large");
	if (rc) {
		bl_buf_finish(&h);
		bl_buf_finish(&t);
		return rc;
	}
	*html = bl_buf_take(&h);
	*text = bl_buf_take(&t);
	return 0;
}

void bl_composer_destroy(struct bl_composer *c)
{
	if (!c)
		return;
	free(c->subject);
	free(c->site_name);
	free(c->public_url);
	free(c->bounce_domain);
	free(c->list_id_domain);
	free(c->postal_address);
	for (size_t i = 0; i < c->n_excerpts; i++)
		free(c->excerpts[i].text);
	free(c->excerpts);
	free(c->html_body);
	free(c->text_body);
	bl_tmpl_destroy(c->body_html);
	bl_tmpl_destroy(c->body_text);
	bl_tmpl_destroy(c->layout_html);
	bl_tmpl_destroy(c->layout_text);
	bl_buf_finish(&c->body);
	bl_buf_finish(&c->html);
	bl_buf_finish(&c->text);
	free(c);
}

int bl_composer_create(const struct bl_compose_opts *o, const struct bl_post *p,
                       const struct bl_list *lists, size_t n_lists, struct bl_composer **out,
                       struct bl_diag *d)
{
	struct bl_composer *c = bl_xcalloc(1, sizeof(*c));
	const char *from = p->from_header && *p->from_header ? p->from_header : o->from;
	char *html = NULL, *text = NULL, *host = NULL;
	const struct bl_embedded *e;
	int rc;

	c->post_id = p->id;
	c->kind = p->kind;
	c->post_created = p->created_at;
	c->secret = o->secret;
	c->lists = lists;
	c->n_lists = n_lists;
	bl_buf_init(&c->body, BL_MESSAGE_MAX);
	bl_buf_init(&c->html, BL_MESSAGE_MAX);
	bl_buf_init(&c->text, BL_MESSAGE_MAX);
	if (has_crlfnul(p->subject, strlen(p->subject))) {
		rc = bl_diag_set(d, BL_EINVAL, "post %lld: the subject holds a line break",
		                 (long long)p->id);
		goto fail;
	}
	c->subject = bl_xstrdup(p->subject);
	if ((rc = bl_sender_parse(from, o->address_flags, c->from_name, sizeof(c->from_name),
	                          c->from_addr, sizeof(c->from_addr), d)))
		goto fail;
	if ((rc = bl_public_url_parse(o->public_url, &c->public_url, &host, d)))
		goto fail;
	const char *sender_domain = strchr(c->from_addr, '@') + 1;
	if ((rc = domain_setting("bounce_domain", o->bounce_domain, sender_domain, o->address_flags,
	                         &c->bounce_domain, d)) ||
	    (rc = domain_setting("list_id_domain", o->list_id_domain,
	                         is_ip_or_local(host) ? sender_domain : host, o->address_flags,
	                         &c->list_id_domain, d)))
		goto fail;
	c->postal_address = bl_xstrdup(o->postal_address ? o->postal_address : "");
	if (c->kind == BL_POST_KIND_DIGEST || c->kind == BL_POST_KIND_PROBE) {
		/* System messages from bulletin's own templates (digest.*, probe.*). */
		const char *name = c->kind == BL_POST_KIND_DIGEST ? "digest" : "probe";
		char file[32];
		c->site_name = bl_xstrdup(o->site_name && *o->site_name ? o->site_name : host);
		if (c->kind == BL_POST_KIND_DIGEST)
			c->store = o->store;
		snprintf(file, sizeof(file), "%s.html.mustache", name);
		e = template_named(file);
		if ((rc = bl_tmpl_compile(e->data, e->size, e->name, &c->body_html, d)))
			goto fail;
		snprintf(file, sizeof(file), "%s.txt.mustache", name);
		e = template_named(file);
		if ((rc = bl_tmpl_compile(e->data, e->size, e->name, &c->body_text, d)))
			goto fail;
		free(host);
		*out = c;
		return 0;
	}
	if (c->kind == BL_POST_KIND_CONFIRM) {
		c->site_name = bl_xstrdup(o->site_name && *o->site_name ? o->site_name : host);
		c->confirm_expires =
		    p->created_at + (o->confirm_ttl > 0 ? o->confirm_ttl : 7 * 86400);
		e = template_named("confirm.html.mustache");
		if ((rc = bl_tmpl_compile(e->data, e->size, e->name, &c->body_html, d)))
			goto fail;
		e = template_named("confirm.txt.mustache");
		if ((rc = bl_tmpl_compile(e->data, e->size, e->name, &c->body_text, d)))
			goto fail;
		free(host);
		*out = c;
		return 0;
	}
	if (p->format == BL_POST_FORMAT_HTML) {
		if ((rc = html_bodies(p->body, &c->html_body, &c->text_body, d)))
			goto fail;
	} else {
		if ((rc = bl_markdown_render(p->body, strlen(p->body), &html, &text, d)))
			goto fail;
		if ((rc = bl_tmpl_compile(html, strlen(html), "body", &c->body_html, d)) ||
		    (rc = bl_tmpl_compile(text, strlen(text), "body", &c->body_text, d)))
			goto fail;
	}
	e = template_named("email.html.mustache");
	if ((rc = bl_tmpl_compile(e->data, e->size, e->name, &c->layout_html, d)))
		goto fail;
	e = template_named("email.txt.mustache");
	if ((rc = bl_tmpl_compile(e->data, e->size, e->name, &c->layout_text, d)))
		goto fail;
	free(html);
	free(text);
	free(host);
	*out = c;
	return 0;
fail:
	free(html);
	free(text);
	free(host);
	bl_composer_destroy(c);
	return rc;
}

/* A jansson value as template data (objects and arrays recursively). */
static struct bl_tval *tval_of_json(const json_t *j, int depth)
{
	struct bl_tval *v;
	const char *k;
	json_t *x;
	size_t i;

	if (depth > 32)
		return bl_tval_null();
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		v = bl_tval_map();
		json_object_foreach((json_t *)j, k, x)
		    bl_tval_set(v, k, tval_of_json(x, depth + 1));
		return v;
	case JSON_ARRAY:
		v = bl_tval_list();
		json_array_foreach(j, i, x) bl_tval_push(v, tval_of_json(x, depth + 1));
		return v;
	case JSON_STRING:
		return bl_tval_stringn(json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		return bl_tval_number((double)json_integer_value(j));
	case JSON_REAL:
		return bl_tval_number(json_real_value(j));
	case JSON_TRUE:
		return bl_tval_bool(1);
	case JSON_FALSE:
		return bl_tval_bool(0);
	default:
		return bl_tval_null();
	}
}

static int printable_ascii_name(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/* The MIME message of @row from the composer's rendered parts (c->html, c->text) and the
 * extra @headers. */
static int build(const struct bl_composer *c, const struct bl_claimed *row, int64_t now,
                 const char *message_id, const struct bl_header *headers, size_t n_headers,
                 struct bl_buf *msg, struct bl_diag *d)
{
	const struct bl_message_spec spec = {
	    .from_name = c->from_name,
	    .from_addr = c->from_addr,
	    .to_name = row->name ? row->name : "",
	    .to_addr = row->email,
	    .subject = c->subject,
	    .date = now,
	    .message_id = message_id,
	    .html = bl_buf_str(&c->html),
	    .html_len = c->html.len,
	    .text = bl_buf_str(&c->text),
	    .text_len = c->text.len,
	    .headers = headers,
	    .n_headers = n_headers,
	};
	return bl_message_build(&spec, msg, d);
}

/* A confirmation mail (kind confirm): its own templates, no List-* headers. */
static int compose_confirm(struct bl_composer *c, const struct bl_claimed *row, int64_t now,
                           struct bl_buf *msg, char mail_from[BL_MAIL_FROM_MAX], struct bl_diag *d)
{
	char verp[BL_VERP_TOKEN_MAX], token[BL_TOKEN_LEN], expires[64], post_id[32];
	char message_id[BL_VERP_TOKEN_MAX + 300];
	struct bl_tval *data = bl_tval_map(), *sub = bl_tval_map(), *lists = bl_tval_list();
	struct tm tm;
	time_t t = (time_t)c->confirm_expires;
	int rc;

	bl_verp_token(c->secret, row->post_id, row->subscriber_id, verp);
	/* The token's list field names the confirmation post: confirming takes exactly the
	 * lists this mail shows (store.h web_confirm). */
	bl_token_make(c->secret, BL_TOKEN_CONFIRM, row->subscriber_id, c->post_id,
	              c->confirm_expires, token);
	gmtime_r(&t, &tm);
	strftime(expires, sizeof(expires), "%d %B %Y, %H:%M UTC", &tm);
	bl_tval_set(sub, "email", bl_tval_string(row->email));
	bl_tval_set(sub, "name", bl_tval_string(row->name ? row->name : ""));
	bl_tval_set(data, "subscriber", sub);
	for (size_t i = 0; i < c->n_lists; i++) {
		struct bl_tval *l = bl_tval_map();
		bl_tval_set(l, "name", bl_tval_string(c->lists[i].name));
		bl_tval_set(l, "slug", bl_tval_string(c->lists[i].slug));
		bl_tval_push(lists, l);
	}
	bl_tval_set(data, "lists", lists);
	bl_tval_set(data, "site_name", bl_tval_string(c->site_name));
	bl_tval_set(data, "confirm_url", bl_tval_stringf("%s/confirm/%s", c->public_url, token));
	bl_tval_set(data, "expires", bl_tval_string(expires));
	bl_tval_set(data, "postal_address", bl_tval_string(c->postal_address));
	struct bl_tval *post = bl_tval_map();
	bl_tval_set(post, "subject", bl_tval_string(c->subject));
	bl_tval_set(data, "post", post);

	bl_buf_reset(&c->html);
	bl_buf_reset(&c->text);
	if ((rc = bl_tmpl_render(c->body_html, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &c->html,
	                         d)) ||
	    (rc = bl_tmpl_render(c->body_text, data, BL_TMPL_ESCAPE_NONE, NULL, NULL, &c->text, d)))
		goto out;
	snprintf(post_id, sizeof(post_id), "%lld", (long long)c->post_id);
	snprintf(message_id, sizeof(message_id), "bulletin-%s.%llx@%s", verp,
	         (unsigned long long)c->post_created, c->list_id_domain);
	snprintf(mail_from, BL_MAIL_FROM_MAX, "bounces+%s@%s", verp, c->bounce_domain);
	const struct bl_header headers[] = {
	    {"Auto-Submitted", "auto-generated"},
	    {"X-Bulletin-Post", post_id},
	};
	rc = build(c, row, now, message_id, headers, sizeof(headers) / sizeof(headers[0]), msg, d);
out:
	bl_tval_destroy(data);
	return rc;
}

/* ---- digests -------------------------------------------------------------------------------- */

/* One post of a subscriber's digest, copied out of the store's walk. */
struct digest_entry {
	int64_t post_id, list_id;
	enum bl_post_format format;
	char *subject, *body, *list_slug, *list_name;
};

struct digest_entries {
	struct digest_entry *v;
	size_t n, cap;
};

static int collect_entry(void *arg, const struct bl_digest_item *it)
{
	struct digest_entries *es = arg;
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 8;
		es->v = bl_xreallocarray(es->v, es->cap, sizeof(*es->v));
	}
	es->v[es->n++] = (struct digest_entry){
	    .post_id = it->post->id,
	    .list_id = it->list_id,
	    .format = it->post->format,
	    .subject = bl_xstrdup(it->post->subject),
	    .body = bl_xstrdup(it->post->body),
	    .list_slug = bl_xstrdup(it->list_slug),
	    .list_name = bl_xstrdup(it->list_name),
	};
	return 0;
}

static void entries_clear(struct digest_entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->v[i].subject);
		free(es->v[i].body);
		free(es->v[i].list_slug);
		free(es->v[i].list_name);
	}
	free(es->v);
}

/*
 * The excerpt of a post: its Markdown as plain text (src/render), Mustache
 * tags dropped (a digest has no per-post subscriber data), white space
 * folded, cut at a word before EXCERPT_MAX bytes with "…". Made once per
 * post and composer.
 */
static const char *excerpt_of(struct bl_composer *c, const struct digest_entry *e)
{
	for (size_t i = 0; i < c->n_excerpts; i++)
		if (c->excerpts[i].post_id == e->post_id)
			return c->excerpts[i].text;
	char *html = NULL, *text = NULL;
	struct bl_diag d;
	struct bl_buf out;
	bl_buf_init(&out, 4 * EXCERPT_MAX);
	int rendered;
	if (e->format == BL_POST_FORMAT_HTML) {
		/* a feed item's HTML: its text, never a template */
		struct bl_buf t;
		bl_buf_init(&t, 0);
		rendered = bl_html_to_text(e->body, strlen(e->body), &t) == 0;
		text = bl_buf_take(&t);
		/* The "Read more <link>" a feed post ends with (src/feed/poll.c): the
		 * digest links the post itself. */
		char *more = NULL;
		for (char *q = strstr(text, "Read more <"); q; q = strstr(q + 1, "Read more <"))
			more = q;
		if (more && (more == text || more[-1] == '\n')) {
			const char *rest = more + strcspn(more, "\n");
			while (*rest == '\n')
				rest++;
			if (!*rest) /* its last line */
				*more = '\0';
		}
	} else {
		rendered = bl_markdown_render(e->body, strlen(e->body), &html, &text, &d) == 0;
	}
	if (rendered) {
		int space = 1;
		for (const char *p = text; *p && out.len < 2 * EXCERPT_MAX; p++) {
			if (e->format != BL_POST_FORMAT_HTML && p[0] == '{' && p[1] == '{') {
				const char *end = strstr(p, "}}");
				if (end) {
					p = end + 1;
					continue;
				}
			}
			if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
				if (!space)
					bl_buf_addc(&out, ' ');
				space = 1;
			} else {
				bl_buf_addc(&out, *p);
				space = 0;
			}
		}
	}
	free(html);
	free(text);
	char cut[EXCERPT_MAX + 1];
	const char *t = bl_store_cut_utf8(bl_buf_str(&out), EXCERPT_MAX - 4, cut);
	char *x;
	if (strlen(t) < out.len) { /* cut: back to the last space, then an ellipsis */
		const char *sp = strrchr(t, ' ');
		size_t n = sp && sp > t ? (size_t)(sp - t) : strlen(t);
		x = bl_xmalloc(n + 4);
		memcpy(x, t, n);
		memcpy(x + n, "\xe2\x80\xa6", 4);
	} else {
		x = bl_xstrdup(t);
		size_t n = strlen(x);
		while (n && x[n - 1] == ' ')
			x[--n] = '\0';
	}
	bl_buf_finish(&out);
	c->excerpts = bl_xreallocarray(c->excerpts, c->n_excerpts + 1, sizeof(*c->excerpts));
	c->excerpts[c->n_excerpts++] = (struct excerpt){e->post_id, x};
	return x;
}

/* @t as local time for people: "29 March 2026, 08:00 CEST". */
static struct bl_tval *local_time_value(int64_t t)
{
	char buf[80];
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%e %B %Y, %H:%M %Z", &tm);
	return bl_tval_string(buf[0] == ' ' ? buf + 1 : buf);
}

/* A digest (kind digest): the subscriber's posts of the period, one message. */
/* The headers and envelope sender a post and a digest share (a list's mail, RFC 2919
 * List-Id, RFC 2369/8058 List-Unsubscribe), in caller memory. */
struct bulk {
	char list_id[600], list_unsub[1200], post_id[32], message_id[BL_VERP_TOKEN_MAX + 300];
};

/* Fill @b for list @name (NULL or not printable: the slug alone) / @slug, unsubscribe
 * token @unsub and VERP token @verp; the envelope sender goes to @mail_from. */
static void bulk_headers(const struct bl_composer *c, const char *name, const char *slug,
                         const char *unsub, const char *verp, struct bulk *b,
                         char mail_from[BL_MAIL_FROM_MAX])
{
	if (name && printable_ascii_name(name))
		snprintf(b->list_id, sizeof(b->list_id), "\"%s\" <%s.%s>", name, slug,
		         c->list_id_domain);
	else
		snprintf(b->list_id, sizeof(b->list_id), "<%s.%s>", slug, c->list_id_domain);
	snprintf(b->list_unsub, sizeof(b->list_unsub),
	         "<%s/unsubscribe/%s>, <mailto:unsubscribe+%s@%s?subject=unsubscribe>",
	         c->public_url, unsub, verp, c->bounce_domain);
	snprintf(b->post_id, sizeof(b->post_id), "%lld", (long long)c->post_id);
	snprintf(b->message_id, sizeof(b->message_id), "bulletin-%s.%llx@%s", verp,
	         (unsigned long long)c->post_created, c->list_id_domain);
	snprintf(mail_from, BL_MAIL_FROM_MAX, "bounces+%s@%s", verp, c->bounce_domain);
}

static int compose_digest(struct bl_composer *c, const struct bl_claimed *row, int64_t now,
                          struct bl_buf *msg, char mail_from[BL_MAIL_FROM_MAX], struct bl_diag *d)
{
	struct digest_entries es = {0};
	char verp[BL_VERP_TOKEN_MAX], unsub[BL_TOKEN_LEN], prefs[BL_TOKEN_LEN];
	int rc;

	if (!c->store)
		return bl_diag_set(d, BL_ESTORE, "digest %lld: no store to read its posts from",
		                   (long long)c->post_id);
	if (!c->have_digest) {
		rc = c->store->ops->digest_get(c->store, c->post_id, &c->digest);
		if (rc < 0)
			return bl_diag_set(d, BL_ESTORE, "digest %lld: %s", (long long)c->post_id,
			                   bl_store_error(c->store));
		if (rc == 0)
			return bl_diag_set(d, BL_ENOENT, "post %lld is not a digest",
			                   (long long)c->post_id);
		c->have_digest = 1;
	}
	rc = c->store->ops->digest_posts(c->store, c->post_id, row->subscriber_id, collect_entry,
	                                 &es);
	if (rc < 0) {
		entries_clear(&es);
		return bl_diag_set(d, BL_ESTORE, "digest %lld: %s", (long long)c->post_id,
		                   bl_store_error(c->store));
	}
	if (es.n == 0) {
		entries_clear(&es);
		return bl_diag_set(d, BL_ENOENT,
		                   "nothing left in this digest for the subscriber (unsubscribed, "
		                   "another delivery mode, or its posts cancelled)");
	}

	/* The lists of this subscriber's digest, in order of first appearance; the row's
	 * list (the lowest it takes in this mode) names the message, else the first. */
	const struct digest_entry *first = &es.v[0];
	for (size_t i = 0; i < es.n; i++)
		if (es.v[i].list_id == row->list_id)
			first = &es.v[i];
	int64_t main_list = first->list_id;
	bl_verp_token(c->secret, row->post_id, row->subscriber_id, verp);
	bl_token_make(c->secret, BL_TOKEN_UNSUBSCRIBE, row->subscriber_id, main_list, 0, unsub);
	bl_token_make(c->secret, BL_TOKEN_PREFERENCES, row->subscriber_id, 0, 0, prefs);

	struct bl_tval *data = bl_tval_map(), *sub = bl_tval_map(), *lst = bl_tval_map();
	json_t *attrs = NULL;
	bl_tval_set(sub, "name", bl_tval_string(row->name ? row->name : ""));
	bl_tval_set(sub, "email", bl_tval_string(row->email));
	if (row->attributes && *row->attributes)
		attrs = json_loads(row->attributes, JSON_REJECT_DUPLICATES, NULL);
	bl_tval_set(sub, "attributes",
	            attrs && json_is_object(attrs) ? tval_of_json(attrs, 0) : bl_tval_map());
	json_decref(attrs);
	bl_tval_set(data, "subscriber", sub);
	bl_tval_set(lst, "name", bl_tval_string(first->list_name));
	bl_tval_set(lst, "slug", bl_tval_string(first->list_slug));
	bl_tval_set(data, "list", lst);
	struct bl_tval *post = bl_tval_map();
	bl_tval_set(post, "subject", bl_tval_string(c->subject));
	bl_tval_set(post, "id", bl_tval_number((double)c->post_id));
	bl_tval_set(data, "post", post);
	struct bl_tval *dg = bl_tval_map();
	bl_tval_set(dg, "mode", bl_tval_string(bl_mode_name(c->digest.mode)));
	bl_tval_set(dg, "since", local_time_value(c->digest.period_start));
	bl_tval_set(dg, "until", local_time_value(c->digest.period_end));
	bl_tval_set(dg, "count", bl_tval_number((double)es.n));
	bl_tval_set(dg, "one", bl_tval_bool(es.n == 1));
	bl_tval_set(data, "digest", dg);
	struct bl_tval *posts = bl_tval_list(), *lists = bl_tval_list();
	struct bl_tval *last_list = NULL;
	for (size_t i = 0; i < es.n; i++) {
		const struct digest_entry *e = &es.v[i];
		char slug[BL_ARCHIVE_SLUG_MAX + 1];
		struct bl_tval *pv = bl_tval_map(), *pl = bl_tval_map();
		bl_tval_set(pv, "id", bl_tval_number((double)e->post_id));
		bl_tval_set(pv, "subject", bl_tval_string(e->subject));
		if (bl_archive_slug(e->subject, slug) > 0)
			bl_tval_set(pv, "url",
			            bl_tval_stringf("%s/archive/%lld-%s", c->public_url,
			                            (long long)e->post_id, slug));
		else
			bl_tval_set(pv, "url",
			            bl_tval_stringf("%s/archive/%lld", c->public_url,
			                            (long long)e->post_id));
		bl_tval_set(pv, "excerpt", bl_tval_string(excerpt_of(c, e)));
		bl_tval_set(pl, "name", bl_tval_string(e->list_name));
		bl_tval_set(pl, "slug", bl_tval_string(e->list_slug));
		bl_tval_set(pv, "list", pl);
		bl_tval_push(posts, pv);
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = es.v[j].list_id == e->list_id;
		if (!seen) {
			char tok[BL_TOKEN_LEN];
			struct bl_tval *lv = bl_tval_map();
			bl_token_make(c->secret, BL_TOKEN_UNSUBSCRIBE, row->subscriber_id,
			              e->list_id, 0, tok);
			bl_tval_set(lv, "name", bl_tval_string(e->list_name));
			bl_tval_set(lv, "slug", bl_tval_string(e->list_slug));
			bl_tval_set(lv, "unsubscribe_url",
			            bl_tval_stringf("%s/unsubscribe/%s", c->public_url, tok));
			bl_tval_push(lists, lv);
			last_list = lv;
		}
	}
	if (last_list)
		bl_tval_set(last_list, "last", bl_tval_bool(1));
	bl_tval_set(data, "posts", posts);
	bl_tval_set(data, "lists", lists);
	bl_tval_set(data, "unsubscribe_url",
	            bl_tval_stringf("%s/unsubscribe/%s", c->public_url, unsub));
	bl_tval_set(data, "preferences_url",
	            bl_tval_stringf("%s/preferences/%s", c->public_url, prefs));
	bl_tval_set(data, "archive_url", bl_tval_stringf("%s/archive", c->public_url));
	bl_tval_set(data, "site_name", bl_tval_string(c->site_name));
	bl_tval_set(data, "postal_address", bl_tval_string(c->postal_address));

	bl_buf_reset(&c->html);
	bl_buf_reset(&c->text);
	if ((rc = bl_tmpl_render(c->body_html, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &c->html,
	                         d)) ||
	    (rc = bl_tmpl_render(c->body_text, data, BL_TMPL_ESCAPE_NONE, NULL, NULL, &c->text, d)))
		goto out;
	struct bulk b;
	bulk_headers(c, first->list_name, first->list_slug, unsub, verp, &b, mail_from);
	const struct bl_header headers[] = {
	    {"List-Id", b.list_id},
	    {"List-Unsubscribe", b.list_unsub},
	    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	    {"Precedence", "bulk"},
	    {"X-Bulletin-Post", b.post_id},
	    {"X-Bulletin-Digest", bl_mode_name(c->digest.mode)},
	};
	rc =
	    build(c, row, now, b.message_id, headers, sizeof(headers) / sizeof(headers[0]), msg, d);
out:
	bl_tval_destroy(data);
	entries_clear(&es);
	return rc;
}

/*
 * A bounce probe (kind probe, store.h bounce_record): a short test message to a subscriber
 * whose soft bounces reached bounce_soft_limit; a bounce of it disables them. No list
 * (List-Id) of its own; List-Unsubscribe leaves every list (RFC 2369, RFC 8058), since the
 * probe concerns the address, not one list.
 */
static int compose_probe(struct bl_composer *c, const struct bl_claimed *row, int64_t now,
                         struct bl_buf *msg, char mail_from[BL_MAIL_FROM_MAX], struct bl_diag *d)
{
	char verp[BL_VERP_TOKEN_MAX], unsub[BL_TOKEN_LEN], prefs[BL_TOKEN_LEN];
	struct bl_tval *data = bl_tval_map(), *sub = bl_tval_map(), *post = bl_tval_map();
	int rc;

	bl_verp_token(c->secret, row->post_id, row->subscriber_id, verp);
	bl_token_make(c->secret, BL_TOKEN_UNSUBSCRIBE, row->subscriber_id, 0, 0, unsub);
	bl_token_make(c->secret, BL_TOKEN_PREFERENCES, row->subscriber_id, 0, 0, prefs);
	bl_tval_set(sub, "email", bl_tval_string(row->email));
	bl_tval_set(sub, "name", bl_tval_string(row->name ? row->name : ""));
	bl_tval_set(data, "subscriber", sub);
	bl_tval_set(post, "subject", bl_tval_string(c->subject));
	bl_tval_set(data, "post", post);
	bl_tval_set(data, "site_name", bl_tval_string(c->site_name));
	bl_tval_set(data, "unsubscribe_url",
	            bl_tval_stringf("%s/unsubscribe/%s", c->public_url, unsub));
	bl_tval_set(data, "preferences_url",
	            bl_tval_stringf("%s/preferences/%s", c->public_url, prefs));
	bl_tval_set(data, "postal_address", bl_tval_string(c->postal_address));

	bl_buf_reset(&c->html);
	bl_buf_reset(&c->text);
	if ((rc = bl_tmpl_render(c->body_html, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &c->html,
	                         d)) ||
	    (rc = bl_tmpl_render(c->body_text, data, BL_TMPL_ESCAPE_NONE, NULL, NULL, &c->text, d)))
		goto out;
	struct bulk b;
	bulk_headers(c, NULL, "probe", unsub, verp, &b, mail_from);
	const struct bl_header headers[] = {
	    {"List-Unsubscribe", b.list_unsub},
	    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	    {"Auto-Submitted", "auto-generated"},
	    {"X-Bulletin-Post", b.post_id},
	    {"X-Bulletin-Probe", "1"},
	};
	rc =
	    build(c, row, now, b.message_id, headers, sizeof(headers) / sizeof(headers[0]), msg, d);
out:
	bl_tval_destroy(data);
	return rc;
}

int bl_compose(struct bl_composer *c, const struct bl_claimed *row, int64_t now, struct bl_buf *msg,
               char mail_from[BL_MAIL_FROM_MAX], struct bl_diag *d)
{
	if (c->kind == BL_POST_KIND_PROBE)
		return compose_probe(c, row, now, msg, mail_from, d);
	if (c->kind == BL_POST_KIND_CONFIRM)
		return compose_confirm(c, row, now, msg, mail_from, d);
	if (c->kind == BL_POST_KIND_DIGEST)
		return compose_digest(c, row, now, msg, mail_from, d);

	const struct bl_list *list = c->n_lists ? &c->lists[0] : NULL;
	char verp[BL_VERP_TOKEN_MAX], unsub[BL_TOKEN_LEN], prefs[BL_TOKEN_LEN];
	struct bl_tval *data, *sub, *lst, *post;
	json_t *attrs = NULL;
	int rc;

	for (size_t i = 0; i < c->n_lists; i++)
		if (c->lists[i].id == row->list_id)
			list = &c->lists[i];
	bl_verp_token(c->secret, row->post_id, row->subscriber_id, verp);
	bl_token_make(c->secret, BL_TOKEN_UNSUBSCRIBE, row->subscriber_id, list ? list->id : 0, 0,
	              unsub);
	bl_token_make(c->secret, BL_TOKEN_PREFERENCES, row->subscriber_id, 0, 0, prefs);

	data = bl_tval_map();
	sub = bl_tval_map();
	bl_tval_set(sub, "name", bl_tval_string(row->name ? row->name : ""));
	bl_tval_set(sub, "email", bl_tval_string(row->email));
	if (row->attributes && *row->attributes)
		attrs = json_loads(row->attributes, JSON_REJECT_DUPLICATES, NULL);
	bl_tval_set(sub, "attributes",
	            attrs && json_is_object(attrs) ? tval_of_json(attrs, 0) : bl_tval_map());
	json_decref(attrs);
	bl_tval_set(data, "subscriber", sub);
	lst = bl_tval_map();
	bl_tval_set(lst, "name", bl_tval_string(list ? list->name : ""));
	bl_tval_set(lst, "slug", bl_tval_string(list ? list->slug : ""));
	bl_tval_set(data, "list", lst);
	post = bl_tval_map();
	bl_tval_set(post, "subject", bl_tval_string(c->subject));
	bl_tval_set(post, "id", bl_tval_number((double)c->post_id));
	bl_tval_set(post, "url",
	            bl_tval_stringf("%s/archive/%lld", c->public_url, (long long)c->post_id));
	bl_tval_set(data, "post", post);
	bl_tval_set(data, "unsubscribe_url",
	            bl_tval_stringf("%s/unsubscribe/%s", c->public_url, unsub));
	bl_tval_set(data, "preferences_url",
	            bl_tval_stringf("%s/preferences/%s", c->public_url, prefs));
	bl_tval_set(data, "archive_url", bl_tval_stringf("%s/archive", c->public_url));
	bl_tval_set(data, "postal_address", bl_tval_string(c->postal_address));

	bl_buf_reset(&c->body);
	bl_buf_reset(&c->html);
	bl_buf_reset(&c->text);
	/* A body of format html is no template: it goes into the layout as it is. */
	if (c->html_body) {
		bl_tval_set(data, "body", bl_tval_string(c->html_body));
	} else {
		if ((rc = bl_tmpl_render(c->body_html, data, BL_TMPL_ESCAPE_HTML, NULL, NULL,
		                         &c->body, d)))
			goto out;
		bl_tval_set(data, "body", bl_tval_stringn(bl_buf_str(&c->body), c->body.len));
	}
	if ((rc = bl_tmpl_render(c->layout_html, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &c->html,
	                         d)))
		goto out;
	bl_buf_reset(&c->body);
	if (c->text_body) {
		bl_tval_set(data, "body", bl_tval_string(c->text_body));
	} else {
		if ((rc = bl_tmpl_render(c->body_text, data, BL_TMPL_ESCAPE_NONE, NULL, NULL,
		                         &c->body, d)))
			goto out;
		bl_tval_set(data, "body", bl_tval_stringn(bl_buf_str(&c->body), c->body.len));
	}
	if ((rc = bl_tmpl_render(c->layout_text, data, BL_TMPL_ESCAPE_NONE, NULL, NULL, &c->text,
	                         d)))
		goto out;

	struct bulk b;
	bulk_headers(c, list ? list->name : NULL, list ? list->slug : "post", unsub, verp, &b,
	             mail_from);
	const struct bl_header headers[] = {
	    {"List-Id", b.list_id},
	    {"List-Unsubscribe", b.list_unsub},
	    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
	    {"Precedence", "bulk"},
	    {"X-Bulletin-Post", b.post_id},
	};
	rc =
	    build(c, row, now, b.message_id, headers, sizeof(headers) / sizeof(headers[0]), msg, d);
out:
	bl_tval_destroy(data);
	return rc;
}

int bl_archive_slug(const char *subject, char out[BL_ARCHIVE_SLUG_MAX + 1])
{
	/* Latin-1 letters U+00C0-U+00FF folded to ASCII ('-': a separator). */
	static const char *const fold[64] = {
	    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
	    "d", "n", "o", "o", "o", "o", "o",  "-", "o", "u", "u", "u", "u", "y", "th", "ss",
	    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
	    "d", "n", "o", "o", "o", "o", "o",  "-", "o", "u", "u", "u", "u", "y", "th", "y"};
	const unsigned char *s = (const unsigned char *)subject;
	size_t n = 0, len = strlen(subject), i = 0, k;
	int gap = 0;
	uint32_t cp;

	while (i < len && n < BL_ARCHIVE_SLUG_MAX) {
		const char *piece;
		char one[2] = {0, 0};
		if (s[i] < 0x80) {
			one[0] = (char)s[i];
			if (one[0] >= 'A' && one[0] <= 'Z')
				one[0] = (char)(one[0] - 'A' + 'a');
			piece = (one[0] >= 'a' && one[0] <= 'z') || (one[0] >= '0' && one[0] <= '9')
			            ? one
			            : "-";
			i++;
		} else if ((k = bl_utf8_decode(s + i, len - i, &cp)) != 0) {
			piece = cp >= 0xC0 && cp <= 0xFF ? fold[cp - 0xC0] : "-";
			i += k;
		} else {
			piece = "-";
			i++;
		}
		if (*piece == '-') {
			gap = n > 0;
			continue;
		}
		if (gap) {
			if (n + 1 >= BL_ARCHIVE_SLUG_MAX)
				break;
			out[n++] = '-';
		}
		gap = 0;
		for (; *piece && n < BL_ARCHIVE_SLUG_MAX; piece++)
			out[n++] = *piece;
	}
	out[n] = '\0';
	return (int)n;
}

/* Move the headings of cmark's HTML @html one level down in place: <hN> and
 * </hN> for N = 1..5 (cmark writes them without attributes; text "<" is
 * always escaped, so every "<h" here is a tag). */
static void shift_headings(char *html)
{
	for (char *p = strstr(html, "<h"); p; p = strstr(p + 1, "<h"))
		if (p[2] >= '1' && p[2] <= '5' && p[3] == '>')
			p[2]++;
	for (char *p = strstr(html, "</h"); p; p = strstr(p + 1, "</h"))
		if (p[3] >= '1' && p[3] <= '5' && p[4] == '>')
			p[3]++;
}

int bl_post_web_html(const struct bl_post *p, const char *public_url, const char *post_url,
                     struct bl_buf *out, struct bl_diag *d)
{
	char *html = NULL, *text = NULL;
	struct bl_tmpl *t = NULL;
	struct bl_tval *data, *sub, *lst, *post;
	size_t len = strlen(public_url);
	int rc;

	while (len && public_url[len - 1] == '/')
		len--;
	if (p->format == BL_POST_FORMAT_HTML) {
		/* Not a template: sanitised (as for mail), its headings moved down, as it is. */
		struct bl_buf h;
		bl_buf_init(&h, BL_MESSAGE_MAX);
		if ((rc = bl_html_sanitize(p->body, strlen(p->body), NULL, &h, d)) == 0) {
			html = bl_buf_take(&h);
			shift_headings(html);
			if (bl_buf_adds(out, html))
				rc = bl_diag_set(d, BL_ELIMIT, "the post's HTML does not fit");
			free(html);
		}
		bl_buf_finish(&h);
		return rc;
	}
	if ((rc = bl_markdown_render(p->body, strlen(p->body), &html, &text, d)))
		return rc;
	free(text);
	/* Before the Mustache render: only cmark's tags move, never what data puts in. */
	shift_headings(html);
	rc = bl_tmpl_compile(html, strlen(html), "body", &t, d);
	free(html);
	if (rc)
		return rc;
	data = bl_tval_map();
	sub = bl_tval_map();
	bl_tval_set(sub, "name", bl_tval_string(""));
	bl_tval_set(sub, "email", bl_tval_string(""));
	bl_tval_set(sub, "attributes", bl_tval_map());
	bl_tval_set(data, "subscriber", sub);
	lst = bl_tval_map();
	bl_tval_set(lst, "name", bl_tval_string(""));
	bl_tval_set(lst, "slug", bl_tval_string(""));
	bl_tval_set(data, "list", lst);
	post = bl_tval_map();
	bl_tval_set(post, "subject", bl_tval_string(p->subject));
	bl_tval_set(post, "id", bl_tval_number((double)p->id));
	bl_tval_set(post, "url", bl_tval_string(post_url));
	bl_tval_set(data, "post", post);
	/* No subscriber on the web: a reader's own links lead to the signup page. */
	bl_tval_set(data, "unsubscribe_url", bl_tval_stringf("%.*s/", (int)len, public_url));
	bl_tval_set(data, "preferences_url", bl_tval_stringf("%.*s/", (int)len, public_url));
	bl_tval_set(data, "archive_url", bl_tval_stringf("%.*s/archive", (int)len, public_url));
	bl_tval_set(data, "postal_address", bl_tval_string(""));
	rc = bl_tmpl_render(t, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, out, d);
	bl_tval_destroy(data);
	bl_tmpl_destroy(t);
	return rc;
}
