/*
 * The HTML sanitiser and the HTML-to-text rendering; see sanitize.h.
 * libxml2's HTML parser builds a tree of whatever it is given (it repairs
 * as browsers of the HTML 4 era did); an iterative walk writes only the
 * allowlisted elements and attributes of that tree, escaping every text and
 * attribute value itself. The parser repairs markup differently once
 * elements are unwrapped or dropped (a <div> left inside a <p>, blanks it
 * discards in some places), so the result is sanitised again until it no
 * longer changes: that is what makes the output a fixed point. A second
 * pass is nearly always the last; more than MAX_ROUNDS is refused.
 */
#include "feed/sanitize.h"

#include "util/log.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ROUNDS 4
#define PARSE_OPTS                                                                                 \
	(HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER |       \
	 HTML_PARSE_IGNORE_ENC)
/* Parsed after this, text that opens the input is not wrapped in an implied <p>. */
#define PREFIX "<body>"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

/* ---- the allowlist ---------------------------------------------------------------------- */

enum act { UNWRAP, KEEP, DROP };
enum akind { A_TEXT, A_LINK, A_CITE, A_IMG, A_NUM, A_INT };

struct rule {
	const char *name;
	enum act act;
	int is_void;
	struct {
		const char *name;
		enum akind kind;
	} attrs[5];
};

/* Elements not listed are unwrapped. */
static const struct rule rules[] = {
    {"a", KEEP, 0, {{"href", A_LINK}, {"title", A_TEXT}}},
    {"abbr", KEEP, 0, {{"title", A_TEXT}}},
    {"b", KEEP, 0, {{0}}},
    {"blockquote", KEEP, 0, {{"cite", A_CITE}}},
    {"br", KEEP, 1, {{0}}},
    {"caption", KEEP, 0, {{0}}},
    {"cite", KEEP, 0, {{0}}},
    {"code", KEEP, 0, {{0}}},
    {"dd", KEEP, 0, {{0}}},
    {"del", KEEP, 0, {{0}}},
    {"div", KEEP, 0, {{0}}},
    {"dl", KEEP, 0, {{0}}},
    {"dt", KEEP, 0, {{0}}},
    {"em", KEEP, 0, {{0}}},
    {"figcaption", KEEP, 0, {{0}}},
    {"figure", KEEP, 0, {{0}}},
    {"h1", KEEP, 0, {{0}}},
    {"h2", KEEP, 0, {{0}}},
    {"h3", KEEP, 0, {{0}}},
    {"h4", KEEP, 0, {{0}}},
    {"h5", KEEP, 0, {{0}}},
    {"h6", KEEP, 0, {{0}}},
    {"hr", KEEP, 1, {{0}}},
    {"i", KEEP, 0, {{0}}},
    {"img",
     KEEP,
     1,
     {{"src", A_IMG}, {"alt", A_TEXT}, {"width", A_NUM}, {"height", A_NUM}, {"title", A_TEXT}}},
    {"ins", KEEP, 0, {{0}}},
    {"kbd", KEEP, 0, {{0}}},
    {"li", KEEP, 0, {{0}}},
    {"mark", KEEP, 0, {{0}}},
    {"ol", KEEP, 0, {{"start", A_INT}}},
    {"p", KEEP, 0, {{0}}},
    {"pre", KEEP, 0, {{0}}},
    {"q", KEEP, 0, {{"cite", A_CITE}}},
    {"s", KEEP, 0, {{0}}},
    {"small", KEEP, 0, {{0}}},
    {"span", KEEP, 0, {{0}}},
    {"strong", KEEP, 0, {{0}}},
    {"sub", KEEP, 0, {{0}}},
    {"sup", KEEP, 0, {{0}}},
    {"table", KEEP, 0, {{0}}},
    {"tbody", KEEP, 0, {{0}}},
    {"td", KEEP, 0, {{"colspan", A_NUM}, {"rowspan", A_NUM}}},
    {"tfoot", KEEP, 0, {{0}}},
    {"th", KEEP, 0, {{"colspan", A_NUM}, {"rowspan", A_NUM}}},
    {"thead", KEEP, 0, {{0}}},
    {"time", KEEP, 0, {{"datetime", A_TEXT}}},
    {"tr", KEEP, 0, {{0}}},
    {"u", KEEP, 0, {{0}}},
    {"ul", KEEP, 0, {{0}}},
    /* Dropped with their content: code, controls, embedded documents, head matter. */
    {"applet", DROP, 0, {{0}}},
    {"area", DROP, 0, {{0}}},
    {"base", DROP, 0, {{0}}},
    {"basefont", DROP, 0, {{0}}},
    {"bgsound", DROP, 0, {{0}}},
    {"button", DROP, 0, {{0}}},
    {"datalist", DROP, 0, {{0}}},
    {"embed", DROP, 0, {{0}}},
    {"frame", DROP, 0, {{0}}},
    {"frameset", DROP, 0, {{0}}},
    {"iframe", DROP, 0, {{0}}},
    {"input", DROP, 0, {{0}}},
    {"isindex", DROP, 0, {{0}}},
    {"keygen", DROP, 0, {{0}}},
    {"link", DROP, 0, {{0}}},
    {"math", DROP, 0, {{0}}},
    {"meta", DROP, 0, {{0}}},
    {"noembed", DROP, 0, {{0}}},
    {"noframes", DROP, 0, {{0}}},
    {"noscript", DROP, 0, {{0}}},
    {"object", DROP, 0, {{0}}},
    {"optgroup", DROP, 0, {{0}}},
    {"option", DROP, 0, {{0}}},
    {"param", DROP, 0, {{0}}},
    {"plaintext", DROP, 0, {{0}}},
    {"script", DROP, 0, {{0}}},
    {"select", DROP, 0, {{0}}},
    {"source", DROP, 0, {{0}}},
    {"style", DROP, 0, {{0}}},
    {"svg", DROP, 0, {{0}}},
    {"template", DROP, 0, {{0}}},
    {"textarea", DROP, 0, {{0}}},
    {"title", DROP, 0, {{0}}},
    {"track", DROP, 0, {{0}}},
    {"xmp", DROP, 0, {{0}}},
};

static const struct rule unknown = {"", UNWRAP, 0, {{0}}};

static const struct rule *rule_of(const xmlChar *name)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strcmp(rules[i].name, (const char *)name) == 0)
			return &rules[i];
	return &unknown;
}

/* ---- escaping -------------------------------------------------------------------------- */

/* @s escaped for HTML text (@attr 0) or a double-quoted attribute value (@attr 1). */
static void esc(struct bl_buf *b, const char *s, int attr)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = attr ? "&quot;" : NULL;
			break;
		}
		if (rep) {
			bl_buf_add(b, run, (size_t)(s - run));
			bl_buf_adds(b, rep);
			run = s + 1;
		}
	}
	bl_buf_add(b, run, (size_t)(s - run));
}

/* ---- URLs ------------------------------------------------------------------------------- */

struct san {
	struct bl_buf *out;
	CURLU *base; /* NULL: no (usable) base URL */
	struct bl_buf url, attrs;
};

/* Length of the scheme that starts @u ("https" in "https:..."), 0 for none (RFC 3986 §3.1). */
static size_t scheme_len(const char *u)
{
	size_t i = 0;
	if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
		return 0;
	while ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
	       (u[i] >= '0' && u[i] <= '9') || u[i] == '+' || u[i] == '-' || u[i] == '.')
		i++;
	return u[i] == ':' ? i : 0;
}

static int scheme_is(const char *u, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(u, want, n) == 0;
}

/*
 * The URL attribute value @v (entities decoded) as it may be written, in
 * s->url; 1 kept, 0 dropped. WHATWG URL §4.4 (basic URL parser): blanks and
 * C0 controls at both ends are stripped and TAB, LF, CR anywhere removed
 * before the scheme is read, so "jav&#x09;ascript:" is javascript: and so
 * is " JavaScript:". Allowed schemes: http, https and (A_LINK) mailto; A_IMG
 * https only, checked again on the resolved URL. A kept URL's scheme is
 * written in lower case ("MAILTO:x" becomes "mailto:x").
 */
static int url_ok(struct san *s, const char *v, enum akind kind)
{
	struct bl_buf *u = &s->url;
	size_t a = 0, z = strlen(v);
	bl_buf_reset(u);
	while (a < z && (unsigned char)v[a] <= 0x20)
		a++;
	while (z > a && (unsigned char)v[z - 1] <= 0x20)
		z--;
	for (size_t i = a; i < z; i++)
		if (v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
			bl_buf_addc(u, v[i]);
	if (bl_buf_err(u) || u->len == 0)
		return 0;
	const char *str = bl_buf_str(u);
	size_t n = scheme_len(str);
	if (n && scheme_is(str, n, "mailto")) {
		memcpy(u->data, "mailto", n); /* one spelling: the scheme is case-insensitive */
		return kind == A_LINK;
	}
	if (n && !scheme_is(str, n, "http") && !scheme_is(str, n, "https"))
		return 0;
	if (!n && !s->base)
		return 0; /* relative, and nothing to resolve it against */
	CURLU *h = s->base ? curl_url_dup(s->base) : curl_url();
	char *res = NULL, *scheme = NULL;
	int ok = 0;
	CURLUcode set;
	if (!h)
		bl_panic("out of memory");
	if (str[0] == '#') /* RFC 3986 §5.2.2: the base with another fragment (libcurl 7.88
	                      resolves "#f" against the base's directory) */
		set = curl_url_set(h, CURLUPART_FRAGMENT, str[1] ? str + 1 : NULL, CURLU_URLENCODE);
	else
		set = curl_url_set(h, CURLUPART_URL, str, CURLU_ALLOW_SPACE | CURLU_URLENCODE);
	if (set == CURLUE_OK && curl_url_get(h, CURLUPART_URL, &res, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
		ok = strcmp(scheme, "https") == 0 || (kind != A_IMG && strcmp(scheme, "http") == 0);
		if (ok) {
			bl_buf_reset(u);
			bl_buf_adds(u, res);
			ok = !bl_buf_err(u);
		}
	}
	curl_free(res);
	curl_free(scheme);
	curl_url_cleanup(h);
	return ok;
}

/* 1 when @v is 1-5 digits (A_NUM) or an optional '-' and 1-9 digits (A_INT). */
static int number_ok(const char *v, enum akind kind)
{
	if (kind == A_INT && *v == '-')
		v++;
	size_t n = strspn(v, "0123456789");
	return n >= 1 && v[n] == '\0' && n <= (kind == A_NUM ? 5u : 9u);
}

/* ---- the sanitising walk ---------------------------------------------------------------- */

/* An attribute's value as libxml2 decoded it; malloc'd (xmlFree), NULL when absent. */
static char *attr_value(xmlNode *n, const char *name)
{
	for (xmlAttr *a = n->properties; a; a = a->next)
		if (strcmp((const char *)a->name, name) == 0) {
			xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
			return v ? (char *)v : (char *)xmlStrdup(BAD_CAST "");
		}
	return NULL;
}

/*
 * The start tag of allowlisted element @n into s->out. Returns 1 when it
 * was written (its end tag is due), 0 when the element is unwrapped
 * instead (an <a> without a usable href), -1 when it was replaced (an
 * image without an https src: its alt text) and its children are not
 * wanted.
 */
static int open_tag(struct san *s, xmlNode *n, const struct rule *r)
{
	int has_url = 0, need_url = 0;
	char *alt = NULL;
	bl_buf_reset(&s->attrs);
	for (size_t i = 0; i < sizeof(r->attrs) / sizeof(r->attrs[0]) && r->attrs[i].name; i++) {
		enum akind k = r->attrs[i].kind;
		char *v = attr_value(n, r->attrs[i].name);
		int ok = v != NULL;
		const char *w = v;
		if (k == A_LINK || k == A_IMG)
			need_url = 1;
		if (ok && (k == A_LINK || k == A_CITE || k == A_IMG)) {
			ok = url_ok(s, v, k);
			w = bl_buf_str(&s->url);
			if (ok && k != A_CITE)
				has_url = 1;
		} else if (ok && (k == A_NUM || k == A_INT)) {
			ok = number_ok(v, k);
		}
		if (ok) {
			bl_buf_addf(&s->attrs, " %s=\"", r->attrs[i].name);
			esc(&s->attrs, w, 1);
			bl_buf_addc(&s->attrs, '"');
		}
		if (v && strcmp(r->attrs[i].name, "alt") == 0)
			alt = bl_xstrdup(v);
		xmlFree(v);
	}
	if (need_url && !has_url) {
		int img = r->is_void;
		if (img && alt)
			esc(s->out, alt, 0);
		free(alt);
		return img ? -1 : 0;
	}
	free(alt);
	bl_buf_addf(s->out, "<%s", r->name);
	bl_buf_add(s->out, bl_buf_str(&s->attrs), s->attrs.len);
	if (strcmp(r->name, "a") == 0)
		bl_buf_adds(s->out, " rel=\"noopener noreferrer nofollow\"");
	bl_buf_addc(s->out, '>');
	return 1;
}

/* @html as UTF-8 text libxml2 takes whole, after PREFIX; parsed into *@doc. */
static int parse(const char *html, size_t len, htmlDocPtr *doc, struct bl_diag *d)
{
	struct bl_buf in;
	pthread_once(&xml_once, xml_init);
	bl_buf_init(&in, BL_SANITIZE_INPUT_MAX + sizeof(PREFIX));
	bl_buf_adds(&in, PREFIX);
	bl_utf8_scrub(html, len, &in);
	if (bl_buf_err(&in)) {
		bl_buf_finish(&in);
		return bl_diag_set(d, BL_ELIMIT, "the HTML is over %zu bytes",
		                   BL_SANITIZE_INPUT_MAX);
	}
	*doc = htmlReadMemory(bl_buf_str(&in), (int)in.len, NULL, "UTF-8", PARSE_OPTS);
	bl_buf_finish(&in);
	if (!*doc)
		return bl_diag_set(d, BL_EINVAL, "the HTML could not be parsed");
	return 0;
}

static int sanitize_once(const char *html, size_t len, CURLU *base, struct bl_buf *res,
                         struct bl_diag *d)
{
	htmlDocPtr doc = NULL;
	int rc = parse(html, len, &doc, d);
	if (rc)
		return rc;
	struct san s = {.out = res, .base = base};
	const char *open[BL_SANITIZE_DEPTH_MAX]; /* per level: the end tag due, or NULL */
	int depth = 0;
	bl_buf_init(&s.url, 0);
	bl_buf_init(&s.attrs, 0);
	xmlNode *n = doc->children;
	while (n && !rc) {
		int descend = 0;
		const char *due = NULL;
		if (n->type == XML_TEXT_NODE && n->content) {
			esc(res, (const char *)n->content, 0);
		} else if (n->type == XML_ELEMENT_NODE) {
			const struct rule *r = rule_of(n->name);
			int opened = 0;
			if (r->act == KEEP)
				opened = open_tag(&s, n, r);
			if (r->act != DROP && opened >= 0 && !r->is_void && n->children) {
				descend = 1;
				due = opened ? r->name : NULL;
			} else if (opened > 0 && !r->is_void) {
				bl_buf_addf(res, "</%s>", r->name);
			}
		}
		if (bl_buf_err(res)) {
			rc = bl_diag_set(d, BL_ELIMIT, "the sanitised HTML is over %zu bytes",
			                 res->max);
			break;
		}
		if (descend) {
			if (depth == BL_SANITIZE_DEPTH_MAX) {
				rc = bl_diag_set(d, BL_ELIMIT,
				                 "the HTML nests deeper than %d elements",
				                 BL_SANITIZE_DEPTH_MAX);
				break;
			}
			open[depth++] = due;
			n = n->children;
			continue;
		}
		while (n && !n->next) {
			if (depth == 0) {
				n = NULL;
				break;
			}
			n = n->parent;
			if (open[--depth])
				bl_buf_addf(res, "</%s>", open[depth]);
		}
		if (n)
			n = n->next;
	}
	if (!rc && bl_buf_err(res))
		rc = bl_diag_set(d, BL_ELIMIT, "the sanitised HTML is over %zu bytes", res->max);
	bl_buf_finish(&s.url);
	bl_buf_finish(&s.attrs);
	xmlFreeDoc(doc);
	return rc;
}

int bl_html_sanitize(const char *html, size_t len, const char *base_url, struct bl_buf *out,
                     struct bl_diag *d)
{
	struct bl_buf a, b;
	CURLU *base = NULL;
	int rc;
	if (len > BL_SANITIZE_INPUT_MAX)
		return bl_diag_set(d, BL_ELIMIT, "the HTML is over %zu bytes",
		                   BL_SANITIZE_INPUT_MAX);
	if (base_url && *base_url) {
		char *scheme = NULL;
		if (!(base = curl_url()))
			bl_panic("out of memory");
		if (curl_url_set(base, CURLUPART_URL, base_url,
		                 CURLU_ALLOW_SPACE | CURLU_URLENCODE) != CURLUE_OK ||
		    curl_url_get(base, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
			curl_url_cleanup(base);
			base = NULL;
		}
		curl_free(scheme);
	}
	bl_buf_init(&a, BL_SANITIZE_OUTPUT_MAX);
	bl_buf_init(&b, BL_SANITIZE_OUTPUT_MAX);
	rc = sanitize_once(html, len, base, &a, d);
	for (int round = 1; !rc; round++) {
		bl_buf_reset(&b);
		if ((rc = sanitize_once(bl_buf_str(&a), a.len, base, &b, d)))
			break;
		if (b.len == a.len && memcmp(bl_buf_str(&a), bl_buf_str(&b), a.len) == 0)
			break;
		if (round == MAX_ROUNDS) {
			rc = bl_diag_set(d, BL_EINVAL,
			                 "the HTML does not settle after %d rounds of sanitising",
			                 MAX_ROUNDS);
			break;
		}
		struct bl_buf t = a;
		a = b;
		b = t;
	}
	if (!rc && bl_buf_add(out, bl_buf_str(&a), a.len))
		rc =
		    bl_diag_set(d, BL_ELIMIT, "the sanitised HTML does not fit (%zu bytes)", a.len);
	bl_buf_finish(&a);
	bl_buf_finish(&b);
	curl_url_cleanup(base);
	return rc;
}

/* ---- HTML to plain text ----------------------------------------------------------------- */

#define TEXT_PREFIX_MAX 64 /* bytes of quote markers and indents kept per line */
#define TEXT_LISTS_MAX  16 /* list nesting that still numbers and indents */

struct txt {
	struct bl_buf *out;
	int nl;      /* line ends owed before the next text */
	size_t gap;  /* prefix length of the empty lines among them (the outermost) */
	int space;   /* a blank owed before the next text on the same line */
	int bol;     /* the line's prefix is not written yet */
	int started; /* some text was written */
	char prefix[TEXT_PREFIX_MAX + 1];
	size_t plen;
	char marker[24]; /* a list item's marker, due on its first line; "" none */
	size_t marker_at, marker_w;
	int pre;       /* inside <pre> */
	int pre_start; /* nothing of the <pre> read yet (a first line end is dropped) */
	int lists;     /* open <ul>/<ol> */
	long count[TEXT_LISTS_MAX];
	int ordered[TEXT_LISTS_MAX];
	int cells;         /* cells so far in the current table row */
	int in_link;       /* inside an <a> with an href */
	size_t link_first; /* where that link's text starts in out; SIZE_MAX: none yet */
};

static void want_nl(struct txt *t, int n)
{
	if (t->nl == 0 || t->plen < t->gap)
		t->gap = t->plen;
	if (t->nl < n)
		t->nl = n;
}

/* Write @n bytes of @s on the current line, after the line ends and prefix owed. */
static void put(struct txt *t, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (!t->started) {
		t->nl = 0;
		t->bol = 1;
	}
	for (; t->nl > 0; t->nl--) {
		bl_buf_addc(t->out, '\n');
		if (t->nl > 1) { /* an empty line: only the quote markers */
			size_t k = t->gap < t->plen ? t->gap : t->plen;
			while (k && t->prefix[k - 1] == ' ')
				k--;
			bl_buf_add(t->out, t->prefix, k);
		}
		t->bol = 1;
	}
	if (t->bol) {
		if (t->marker[0] && t->marker_at + t->marker_w <= t->plen) {
			bl_buf_add(t->out, t->prefix, t->marker_at);
			bl_buf_adds(t->out, t->marker);
			bl_buf_add(t->out, t->prefix + t->marker_at + t->marker_w,
			           t->plen - t->marker_at - t->marker_w);
		} else {
			bl_buf_add(t->out, t->prefix, t->plen);
		}
		t->marker[0] = '\0';
		t->bol = 0;
	} else if (t->space) {
		bl_buf_addc(t->out, ' ');
	}
	t->space = 0;
	t->started = 1;
	if (t->in_link && t->link_first == SIZE_MAX)
		t->link_first = t->out->len;
	bl_buf_add(t->out, s, n);
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Text content: blanks collapsed, or (in <pre>) kept with its line ends. */
static void text(struct txt *t, const char *s)
{
	if (t->pre_start && *s == '\n')
		s++;
	t->pre_start = 0;
	while (*s) {
		if (t->pre) {
			size_t n = strcspn(s, "\n");
			put(t, s, n);
			s += n;
			if (*s == '\n') {
				want_nl(t, t->nl + 1);
				s++;
			}
			continue;
		}
		if (blank(*s)) {
			t->space = 1;
			s++;
			continue;
		}
		size_t n = 0;
		while (s[n] && !blank(s[n]))
			n++;
		put(t, s, n);
		s += n;
	}
}

static void push_prefix(struct txt *t, const char *s)
{
	size_t n = strlen(s);
	if (t->plen + n <= TEXT_PREFIX_MAX) {
		memcpy(t->prefix + t->plen, s, n);
		t->plen += n;
		t->prefix[t->plen] = '\0';
	}
}

static int is_block(const char *name)
{
	static const char *const blocks[] = {
	    "address", "article", "aside",    "blockquote", "caption", "center",  "details",
	    "dl",      "div",     "fieldset", "figcaption", "figure",  "footer",  "form",
	    "h1",      "h2",      "h3",       "h4",         "h5",      "h6",      "header",
	    "main",    "nav",     "p",        "pre",        "section", "summary", "table"};
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		if (strcmp(blocks[i], name) == 0)
			return 1;
	return 0;
}

struct tframe {
	size_t plen;   /* prefix length to restore on leaving */
	char *href;    /* <a>: its href (xmlFree), or NULL */
	int pre, list; /* what entering changed */
};

/* Entering element @n; 1 to descend into its children, 0 to skip them. */
static int enter(struct txt *t, xmlNode *n, struct tframe *f)
{
	const char *name = (const char *)n->name;
	const struct rule *r = rule_of(n->name);
	f->plen = t->plen;
	if (r->act == DROP)
		return 0;
	if (strcmp(name, "br") == 0) {
		if (t->started)
			want_nl(t, t->nl < 2 ? t->nl + 1 : 2);
		t->space = 0;
		return 0;
	}
	if (strcmp(name, "hr") == 0) {
		want_nl(t, 2);
		put(t, "----", 4);
		want_nl(t, 2);
		return 0;
	}
	if (strcmp(name, "img") == 0) {
		/* "[alt]": an image between words keeps them apart in the text */
		char *alt = attr_value(n, "alt");
		if (alt && *alt) {
			struct bl_buf b;
			bl_buf_init(&b, 0);
			bl_buf_addf(&b, "[%s]", alt);
			text(t, bl_buf_str(&b));
			bl_buf_finish(&b);
		}
		xmlFree(alt);
		return 0;
	}
	if (strcmp(name, "ul") == 0 || strcmp(name, "ol") == 0) {
		want_nl(t, t->lists ? 1 : 2);
		if (t->lists < TEXT_LISTS_MAX) {
			char *start = attr_value(n, "start");
			t->ordered[t->lists] = name[0] == 'o';
			t->count[t->lists] = start && number_ok(start, A_INT) ? atol(start) : 1;
			xmlFree(start);
		}
		t->lists++;
		f->list = 1;
		return 1;
	}
	if (strcmp(name, "li") == 0) {
		int k = t->lists - 1;
		want_nl(t, 1);
		if (k < 0 || k >= TEXT_LISTS_MAX) {
			snprintf(t->marker, sizeof(t->marker), "- ");
		} else if (t->ordered[k]) {
			snprintf(t->marker, sizeof(t->marker), "%ld. ", t->count[k]++);
		} else {
			snprintf(t->marker, sizeof(t->marker), "- ");
		}
		char indent[sizeof(t->marker)];
		size_t w = strlen(t->marker);
		memset(indent, ' ', w);
		indent[w] = '\0';
		t->marker_at = t->plen;
		push_prefix(t, indent);
		t->marker_w = t->plen - t->marker_at; /* 0 when the prefix is full */
		return 1;
	}
	if (strcmp(name, "blockquote") == 0) {
		want_nl(t, 2);
		push_prefix(t, "> ");
		return 1;
	}
	if (strcmp(name, "dd") == 0) {
		want_nl(t, 1);
		push_prefix(t, "  ");
		return 1;
	}
	if (strcmp(name, "dt") == 0 || strcmp(name, "tr") == 0) {
		want_nl(t, 1);
		t->cells = 0;
		return 1;
	}
	if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0) {
		if (t->cells++) {
			t->space = 1;
			put(t, "|", 1);
			t->space = 1;
		}
		return 1;
	}
	if (strcmp(name, "pre") == 0) {
		want_nl(t, 2);
		t->pre++;
		t->pre_start = 1;
		f->pre = 1;
		return 1;
	}
	if (is_block(name)) {
		want_nl(t, 2);
		return 1;
	}
	if (strcmp(name, "a") == 0) {
		if (t->in_link) /* links do not nest; an inner one is text */
			return 1;
		f->href = attr_value(n, "href");
		t->in_link = f->href != NULL;
		t->link_first = SIZE_MAX;
	}
	return 1;
}

static void leave(struct txt *t, xmlNode *n, struct tframe *f)
{
	const char *name = (const char *)n->name;
	t->plen = f->plen;
	t->prefix[t->plen] = '\0';
	if (t->nl && t->gap > t->plen)
		t->gap = t->plen;
	if (f->pre)
		t->pre--;
	if (f->list) {
		t->lists--;
		want_nl(t, t->lists ? 1 : 2);
	} else if (strcmp(name, "li") == 0 || strcmp(name, "dt") == 0 || strcmp(name, "dd") == 0 ||
	           strcmp(name, "tr") == 0) {
		want_nl(t, 1);
	} else if (is_block(name) || strcmp(name, "blockquote") == 0) {
		want_nl(t, 2);
	}
	if (strcmp(name, "li") == 0)
		t->marker[0] = '\0'; /* an empty item */
	if (f->href) {
		const char *h = f->href;
		const char *shown =
		    t->link_first == SIZE_MAX ? "" : bl_buf_str(t->out) + t->link_first;
		size_t len = strlen(shown);
		size_t hlen = strlen(h);
		/* libcurl adds the "/" of an empty path: "https://x" shows https://x/ */
		int same = (len == hlen || (len + 1 == hlen && h[len] == '/')) &&
		           memcmp(shown, h, len) == 0;
		if (!same && strncmp(h, "mailto:", 7) == 0)
			same = len == strlen(h + 7) && memcmp(shown, h + 7, len) == 0;
		t->in_link = 0;
		if (*h && !same) {
			struct bl_buf b;
			bl_buf_init(&b, 0);
			bl_buf_addf(&b, "<%s>", h);
			t->space = t->started;
			put(t, bl_buf_str(&b), b.len);
			bl_buf_finish(&b);
		}
		xmlFree(f->href);
		f->href = NULL;
	}
}

int bl_html_to_text(const char *html, size_t len, struct bl_buf *out)
{
	htmlDocPtr doc = NULL;
	int rc;
	if (len > BL_SANITIZE_INPUT_MAX)
		return -BL_ELIMIT;
	if ((rc = parse(html, len, &doc, NULL)))
		return rc;
	struct txt t = {.out = out, .bol = 1};
	struct tframe frames[BL_SANITIZE_DEPTH_MAX];
	int depth = 0;
	xmlNode *n = doc->children;
	while (n && !rc) {
		int descend = 0;
		if (n->type == XML_TEXT_NODE && n->content) {
			text(&t, (const char *)n->content);
		} else if (n->type == XML_ELEMENT_NODE) {
			if (depth == BL_SANITIZE_DEPTH_MAX) {
				rc = -BL_ELIMIT;
				break;
			}
			memset(&frames[depth], 0, sizeof(frames[depth]));
			descend = enter(&t, n, &frames[depth]) && n->children;
			if (!descend)
				leave(&t, n, &frames[depth]);
		}
		if (bl_buf_err(out))
			rc = -BL_ELIMIT;
		if (descend) {
			depth++;
			n = n->children;
			continue;
		}
		while (n && !n->next) {
			if (depth == 0) {
				n = NULL;
				break;
			}
			n = n->parent;
			depth--;
			leave(&t, n, &frames[depth]);
		}
		if (n)
			n = n->next;
	}
	for (; depth > 0; depth--) /* an early stop: free the hrefs still held */
		xmlFree(frames[depth - 1].href);
	if (!rc && t.started)
		bl_buf_addc(out, '\n');
	if (!rc && bl_buf_err(out))
		rc = -BL_ELIMIT;
	xmlFreeDoc(doc);
	return rc;
}
