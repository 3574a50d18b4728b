/*
 * The feed parser: see parse.h. Three stages. (1) Pick the character
 * encoding as feedparser does (BOM or "<?xm" sniffing, the XML declaration,
 * the HTTP charset under RFC 3023's media-type rules, then utf-8,
 * windows-1252, iso-8859-2) and decode to UTF-8 with iconv(3) — the
 * converter libxml2 itself uses, called directly because the fallback chain
 * needs a strict yes/no per candidate. (2) Repair what stops libxml2's
 * recovery early: drop the declaration (the text is UTF-8 now), characters
 * XML forbids, and escape bare '&'. (3) libxml2 builds a tree in recovery
 * mode with its own SAX entity hooks: only internal entities are expanded,
 * HTML named entities (&nbsp;) are supplied from libxml2's HTML table, and
 * nothing external (entity, DTD, URL) is ever loaded. The tree is then read
 * by namespace URI, and links are resolved with curl_url (RFC 3986).
 */
#include "feed/parse.h"

#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/entities.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_ATOM10  "http://www.w3.org/2005/Atom"
#define NS_ATOM03  "http://purl.org/atom/ns#"
#define NS_RDF     "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_RSS090  "http://my.netscape.com/rdf/simple/0.9/"
#define NS_RSS10   "http://purl.org/rss/1.0/"
#define NS_CONTENT "http://purl.org/rss/1.0/modules/content/"
#define NS_DC      "http://purl.org/dc/elements/1.1/"
#define NS_DCTERMS "http://purl.org/dc/terms/"
#define NS_XHTML   "http://www.w3.org/1999/xhtml"

/* Deepest chain of xml:base attributes followed. */
#define MAX_BASE_DEPTH 32

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

/* ---------------------------------------------------------------- text helpers */

static int is_xml_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copy of @s (NULL reads as "") cut to BL_FEED_MAX_FIELD at a UTF-8 boundary. */
static char *own(const char *s)
{
	size_t n;

	if (!s)
		return bl_xstrdup("");
	n = strlen(s);
	if (n > BL_FEED_MAX_FIELD) {
		n = BL_FEED_MAX_FIELD;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return bl_xstrndup(s, n);
}

/* Copy of @s without leading and trailing XML whitespace. */
static char *trimmed(const char *s)
{
	size_t a = 0, b;

	if (!s)
		return bl_xstrdup("");
	b = strlen(s);
	while (a < b && is_xml_space((unsigned char)s[a]))
		a++;
	while (b > a && is_xml_space((unsigned char)s[b - 1]))
		b--;
	if (b - a > BL_FEED_MAX_FIELD) {
		b = a + BL_FEED_MAX_FIELD;
		while (b > a && ((unsigned char)s[b] & 0xC0) == 0x80)
			b--;
	}
	return bl_xstrndup(s + a, b - a);
}

/* Copy of @s with every run of XML whitespace made one space, and trimmed. */
static char *collapsed(const char *s)
{
	struct bl_buf b;
	int space = 0;

	bl_buf_init(&b, BL_FEED_MAX_FIELD);
	for (; s && *s; s++) {
		if (is_xml_space((unsigned char)*s)) {
			space = 1;
			continue;
		}
		if (space && b.len > 0)
			bl_buf_addc(&b, ' ');
		space = 0;
		bl_buf_addc(&b, *s);
	}
	if (bl_buf_err(&b)) { /* cut at a UTF-8 boundary */
		char *t = bl_buf_take(&b);
		char *r = own(t);
		free(t);
		return r;
	}
	return bl_buf_take(&b);
}

/* @s escaped for HTML text (& < > "). */
static char *html_escape(const char *s)
{
	struct bl_buf b;

	bl_buf_init(&b, 0);
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			bl_buf_adds(&b, "&amp;");
			break;
		case '<':
			bl_buf_adds(&b, "&lt;");
			break;
		case '>':
			bl_buf_adds(&b, "&gt;");
			break;
		case '"':
			bl_buf_adds(&b, "&quot;");
			break;
		default:
			bl_buf_addc(&b, *s);
		}
	}
	return bl_buf_take(&b);
}

/*
 * Mojibake repair, as feedparser does it, on text fields holding a C1 control
 * (U+0080-U+009F, which no text means): (1) text whose code points are all
 * below U+0100 and whose Latin-1 bytes are well-formed UTF-8 was UTF-8 decoded twice
 * ("\u00E2\u0080\u00A6" becomes "\u2026"); (2) otherwise the C1 controls are windows-1252 bytes
 * read as Latin-1 ("don\u0092t" becomes "don\u2019t"). Takes @s (owned) and returns the repaired
 * string (owned).
 */
static char *fix_text(char *s)
{
	static const uint16_t cp1252[32] = {
	    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
	    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
	    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
	size_t n = strlen(s), i = 0, k = 0;
	int high = 0, wide = 0, c1 = 0;
	uint32_t cp;

	while (i < n) {
		size_t l = bl_utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (!l)
			return s;
		if (cp >= 0x100)
			wide = 1;
		else if (cp >= 0x80)
			high = 1;
		if (cp >= 0x80 && cp <= 0x9F)
			c1 = 1;
		i += l;
	}
	if (!high || !c1)
		return s;
	if (!wide) { /* C1 in text is never meant: the strongest sign of double decoding */
		char *lat = bl_xmalloc(n + 1);
		for (i = 0; i < n;) {
			size_t l = bl_utf8_decode((const unsigned char *)s + i, n - i, &cp);
			lat[k++] = (char)cp;
			i += l;
		}
		lat[k] = 0;
		int multi = 0;
		for (size_t j = 0; j < k; j++)
			if ((unsigned char)lat[j] >= 0xC2)
				multi = 1;
		if (multi && bl_utf8_valid(lat, k, NULL)) {
			free(s);
			return fix_text(lat);
		}
		free(lat);
	}
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (i = 0; i < n;) {
		size_t l = bl_utf8_decode((const unsigned char *)s + i, n - i, &cp);
		char enc[4];
		if (cp >= 0x80 && cp <= 0x9F && cp1252[cp - 0x80])
			bl_buf_add(&b, enc, bl_utf8_encode(cp1252[cp - 0x80], enc));
		else
			bl_buf_add(&b, s + i, l);
		i += l;
	}
	free(s);
	return bl_buf_take(&b);
}

/* ------------------------------------------------------------------ encodings */

struct sniff {
	char bom[16];  /* encoding named by a BOM or the "<?xm" pattern, "" if none */
	size_t skip;   /* BOM bytes to drop */
	char xml[48];  /* encoding in the XML declaration, lowercase, "" if none */
	char http[48]; /* charset of the Content-Type, lowercase, "" if none */
	char mime[96]; /* media type of the Content-Type, lowercase, "" if none */
};

/* Encoding names are passed to iconv_open: keep them to a tame alphabet. */
static int tame_name(const char *s, size_t n)
{
	if (n == 0 || n >= 40)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* @n bytes of @s lowercased into @dst; bytes outside printable ASCII become '?'
 * (such a name is then unknown to decode(), and safe to quote in a message). */
static void copy_lower(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c < 0x21 || c > 0x7E ? '?' : c);
	}
	dst[n] = 0;
}

/* Decode @n bytes of @in from @enc to UTF-8 into @out. 0, or -1 when the
 * encoding is unknown or the bytes are not valid in it. */
static int decode(const char *enc, const char *in, size_t n, struct bl_buf *out)
{
	static const struct {
		const char *from, *to;
	} alias[] = {
	    {"cp037", "IBM037"},   {"utf_8", "UTF-8"},        {"u8", "UTF-8"},
	    {"utf8", "UTF-8"},     {"latin_1", "ISO-8859-1"}, {"l1", "ISO-8859-1"},
	    {"ascii", "US-ASCII"}, {"us_ascii", "US-ASCII"},  {"cp_1252", "CP1252"},
	    {"gb2312", "GB18030"}, {"x-sjis", "SHIFT_JIS"},   {"sjis", "SHIFT_JIS"},
	};
	char name[48];
	iconv_t cd = (iconv_t)-1;
	size_t cap;
	char *inp = (char *)in, *outp;
	size_t inleft = n, outleft;

	if (!tame_name(enc, strlen(enc)))
		return -1;
	snprintf(name, sizeof name, "%s", enc);
	for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
		if (bl_strcaseeq(name, alias[i].from))
			snprintf(name, sizeof name, "%s", alias[i].to);
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		for (char *p = name; *p; p++)
			if (*p == '_')
				*p = '-';
		cd = iconv_open("UTF-8", name);
	}
	if (cd == (iconv_t)-1)
		return -1;
	bl_buf_reset(out);
	cap = n + n / 2 + 64;
	out->data = bl_xrealloc(out->data, cap);
	out->cap = cap;
	outp = out->data;
	outleft = cap - 1;
	while (inleft > 0) {
		size_t r = iconv(cd, &inp, &inleft, &outp, &outleft);
		if (r != (size_t)-1)
			break;
		if (errno != E2BIG) {
			iconv_close(cd);
			bl_buf_reset(out);
			return -1;
		}
		size_t used = (size_t)(outp - out->data);
		cap = cap * 2;
		if (cap > 4 * BL_FEED_MAX_BYTES + 64) {
			iconv_close(cd);
			bl_buf_reset(out);
			return -1;
		}
		out->data = bl_xrealloc(out->data, cap);
		out->cap = cap;
		outp = out->data + used;
		outleft = cap - 1 - used;
	}
	/* flush shift state (stateful encodings such as ISO-2022) */
	if (iconv(cd, NULL, NULL, &outp, &outleft) == (size_t)-1) {
		iconv_close(cd);
		bl_buf_reset(out);
		return -1;
	}
	iconv_close(cd);
	out->len = (size_t)(outp - out->data);
	out->data[out->len] = 0;
	return 0;
}

/* BOM and "<?xm" sniffing (XML 1.0 appendix F, as feedparser does it). */
static void sniff_bom(const unsigned char *p, size_t n, struct sniff *s)
{
	static const struct {
		unsigned char b[4];
		size_t len, skip;
		const char *name;
	} tab[] = {
	    {{0x00, 0x00, 0xFE, 0xFF}, 4, 4, "utf-32be"},
	    {{0xFF, 0xFE, 0x00, 0x00}, 4, 4, "utf-32le"},
	    {{0xFE, 0xFF}, 2, 2, "utf-16be"},
	    {{0xFF, 0xFE}, 2, 2, "utf-16le"},
	    {{0xEF, 0xBB, 0xBF}, 3, 3, "utf-8"},
	    {{0x4C, 0x6F, 0xA7, 0x94}, 4, 0, "cp037"},
	    {{0x00, 0x3C, 0x00, 0x3F}, 4, 0, "utf-16be"},
	    {{0x3C, 0x00, 0x3F, 0x00}, 4, 0, "utf-16le"},
	    {{0x00, 0x00, 0x00, 0x3C}, 4, 0, "utf-32be"},
	    {{0x3C, 0x00, 0x00, 0x00}, 4, 0, "utf-32le"},
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		if (n < tab[i].len || memcmp(p, tab[i].b, tab[i].len) != 0)
			continue;
		/* a UTF-16 BOM followed by two zero bytes is UTF-32's (tested first) or nothing */
		if (tab[i].len == 2 && n >= 4 && p[2] == 0 && p[3] == 0)
			continue;
		snprintf(s->bom, sizeof s->bom, "%s", tab[i].name);
		s->skip = tab[i].skip;
		return;
	}
}

/* The encoding="..." of an XML declaration at the start of UTF-8 @t. */
static void sniff_decl(const char *t, size_t n, struct sniff *s)
{
	size_t i = 0, end;
	const char *e;

	while (i < n && is_xml_space((unsigned char)t[i]))
		i++;
	if (n - i < 5 || memcmp(t + i, "<?xml", 5) != 0)
		return;
	for (end = i;
	     end < n && end < i + 512 && !(t[end] == '?' && end + 1 < n && t[end + 1] == '>');
	     end++)
		;
	if (end >= n || end >= i + 512)
		return;
	for (e = t + i; e + 8 < t + end; e++) {
		if (memcmp(e, "encoding", 8) != 0)
			continue;
		const char *q = e + 8;
		while (q < t + end && is_xml_space((unsigned char)*q))
			q++;
		if (q >= t + end || *q != '=')
			return;
		q++;
		while (q < t + end && is_xml_space((unsigned char)*q))
			q++;
		if (q >= t + end || (*q != '"' && *q != '\''))
			return;
		char quote = *q++;
		const char *v = q;
		while (q < t + end && *q != quote)
			q++;
		if (q >= t + end)
			return;
		copy_lower(s->xml, sizeof s->xml, v, (size_t)(q - v));
		return;
	}
}

/* Media type and charset of a Content-Type header value (RFC 9110 §8.3). */
static void sniff_http(const char *ct, struct sniff *s)
{
	const char *p = ct, *semi;
	size_t a, n;

	semi = strchr(p, ';');
	n = semi ? (size_t)(semi - p) : strlen(p);
	n = bl_trim_span(p, n, &a);
	copy_lower(s->mime, sizeof s->mime, p + a, n);
	while (semi) {
		const char *par = semi + 1, *eq;
		semi = strchr(par, ';');
		size_t plen = semi ? (size_t)(semi - par) : strlen(par);
		eq = memchr(par, '=', plen);
		if (!eq)
			continue;
		size_t klen = bl_trim_span(par, (size_t)(eq - par), &a);
		if (klen != 7 || strncasecmp(par + a, "charset", 7) != 0)
			continue;
		const char *v = eq + 1;
		size_t vlen = plen - (size_t)(v - par), va;
		vlen = bl_trim_span(v, vlen, &va);
		v += va;
		while (vlen > 0 && (*v == '"' || *v == '\'')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == '"' || v[vlen - 1] == '\''))
			vlen--;
		copy_lower(s->http, sizeof s->http, v, vlen);
	}
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

struct state {
	const char *doc_url;
	int bozo;
	char reason[256];
	int html_entities;
	xmlDocPtr doc;
	const char *rss_ns; /* the root's default namespace when it is not a known one */
	int atom_no_ns;     /* a <feed> root without a namespace */
};

__attribute__((format(printf, 2, 3))) static void set_bozo(struct state *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->bozo) {
		char raw[sizeof st->reason];
		struct bl_buf b;
		size_t n;
		va_start(ap, fmt);
		vsnprintf(raw, sizeof raw, fmt, ap);
		va_end(ap);
		/* libxml2 quotes the input, maybe cut mid-character: keep it UTF-8 */
		bl_buf_init(&b, 0);
		bl_utf8_scrub(raw, strlen(raw), &b);
		n = b.len < sizeof st->reason - 1 ? b.len : sizeof st->reason - 1;
		while (n > 0 && n < b.len && ((unsigned char)b.data[n] & 0xC0) == 0x80)
			n--;
		memcpy(st->reason, bl_buf_str(&b), n);
		st->reason[n] = 0;
		bl_buf_finish(&b);
	}
	st->bozo = 1;
}

/*
 * Decode @data to UTF-8 into @text, choosing the encoding as feedparser's
 * convert_to_utf8 does; the name used goes to @used. -1 when nothing
 * decodes (cannot happen: iso-8859-2 takes any byte, but be safe).
 */
static int to_utf8(const char *data, size_t len, const char *content_type, struct state *st,
                   struct bl_buf *text, char used[48])
{
	struct sniff s;
	struct bl_buf tmp;
	const char *rfc3023;
	int acceptable = 0;
	const char *cand[6];
	size_t nc = 0;

	memset(&s, 0, sizeof s);
	sniff_bom((const unsigned char *)data, len, &s);
	data += s.skip;
	len -= s.skip;
	bl_buf_init(&tmp, 0);
	if (s.bom[0]) {
		if (decode(s.bom, data, len < 1024 ? len : 1024, &tmp) == 0 ||
		    decode(s.bom, data, len < 1024 ? len & ~(size_t)3 : 1024, &tmp) == 0)
			sniff_decl(tmp.data, tmp.len, &s);
	} else {
		sniff_decl(data, len < 1024 ? len : 1024, &s);
	}
	bl_buf_finish(&tmp);
	if (s.bom[0] && s.xml[0]) {
		static const char *const generic[] = {
		    "u16",   "utf-16", "utf16",           "utf_16",          "u32",    "utf-32",
		    "utf32", "utf_32", "iso-10646-ucs-2", "iso-10646-ucs-4", "csucs4", "csunicode",
		    "ucs-2", "ucs-4"};
		for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
			if (strcmp(s.xml, generic[i]) == 0)
				snprintf(s.xml, sizeof s.xml, "%s", s.bom);
	}
	if (content_type)
		sniff_http(content_type, &s);

	/* A BOM without a declaration names the encoding (XML 1.0 §4.3.3); feedparser
	 * would call that an override (bozo), bulletin does not. */
	if (!content_type) {
		rfc3023 = s.xml[0] ? s.xml : s.bom[0] ? s.bom : "utf-8";
		acceptable = 1;
	} else if (!strcmp(s.mime, "application/xml") || !strcmp(s.mime, "application/xml-dtd") ||
	           !strcmp(s.mime, "application/xml-external-parsed-entity") ||
	           (!strncmp(s.mime, "application/", 12) && has_suffix(s.mime, "+xml"))) {
		acceptable = 1;
		rfc3023 = s.http[0] ? s.http : s.xml[0] ? s.xml : s.bom[0] ? s.bom : "utf-8";
	} else if (!strcmp(s.mime, "text/xml") ||
	           !strcmp(s.mime, "text/xml-external-parsed-entity") ||
	           (!strncmp(s.mime, "text/", 5) && has_suffix(s.mime, "+xml"))) {
		acceptable = 1;
		rfc3023 = s.http[0] ? s.http : "us-ascii";
	} else if (!strncmp(s.mime, "text/", 5)) {
		rfc3023 = s.http[0] ? s.http : "us-ascii";
	} else if (!s.mime[0]) {
		rfc3023 = s.xml[0] ? s.xml : "iso-8859-1";
	} else {
		rfc3023 = s.xml[0] ? s.xml : "utf-8";
	}
	if (!strcmp(rfc3023, "gb2312"))
		rfc3023 = "gb18030";
	if (!strcmp(s.xml, "gb2312"))
		snprintf(s.xml, sizeof s.xml, "gb18030");
	if (!acceptable)
		set_bozo(st, "%s is not an XML media type",
		         s.mime[0] ? s.mime : "no Content-Type given");

	cand[nc++] = rfc3023;
	cand[nc++] = s.xml;
	cand[nc++] = s.bom;
	cand[nc++] = "utf-8";
	cand[nc++] = "windows-1252";
	cand[nc++] = "iso-8859-2";
	for (size_t i = 0; i < nc; i++) {
		int seen = 0;
		if (!cand[i][0])
			continue;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cand[j], cand[i]))
				seen = 1;
		if (seen || decode(cand[i], data, len, text) != 0)
			continue;
		snprintf(used, 48, "%s", cand[i]);
		if (i > 0) {
			char msg[160];
			snprintf(msg, sizeof msg, "document declared as %.48s, but parsed as %.48s",
			         rfc3023, cand[i]);
			set_bozo(st, "%s", msg);
		}
		return 0;
	}
	return -1;
}

/*
 * Make the decoded text digestible: drop leading whitespace and the XML
 * declaration, drop characters XML 1.0 §2.2 forbids, and escape each '&'
 * that starts no reference (outside CDATA sections, comments and PIs).
 */
static void repair(const char *t, size_t n, struct state *st, struct bl_buf *out)
{
	size_t i = 0, ws;

	while (i < n && is_xml_space((unsigned char)t[i]))
		i++;
	ws = i;
	if (n - i >= 6 && memcmp(t + i, "<?xml", 5) == 0 &&
	    (is_xml_space((unsigned char)t[i + 5]) || t[i + 5] == '?')) {
		const char *end = NULL;
		for (size_t j = i; j + 1 < n; j++)
			if (t[j] == '?' && t[j + 1] == '>') {
				end = t + j + 2;
				break;
			}
		if (ws > 0)
			set_bozo(st, "%s", "whitespace before the XML declaration");
		if (end)
			i = (size_t)(end - t);
	}
	bl_buf_reset(out);
	while (i < n) {
		unsigned char c = (unsigned char)t[i];
		if (c == '<' && n - i >= 9 && memcmp(t + i, "<![CDATA[", 9) == 0) {
			const char *e = NULL;
			for (size_t j = i + 9; j + 2 < n; j++)
				if (t[j] == ']' && t[j + 1] == ']' && t[j + 2] == '>') {
					e = t + j + 3;
					break;
				}
			size_t stop = e ? (size_t)(e - t) : n;
			for (size_t j = i; j < stop; j++) {
				unsigned char d = (unsigned char)t[j];
				if (d < 0x20 && d != '\t' && d != '\n' && d != '\r') {
					set_bozo(st, "%s",
					         "a control character XML does not allow");
					continue;
				}
				bl_buf_addc(out, (char)d);
			}
			i = stop;
			continue;
		}
		if (c == '<' && n - i >= 4 && memcmp(t + i, "<!--", 4) == 0) {
			size_t j = i + 4;
			while (j + 2 < n && !(t[j] == '-' && t[j + 1] == '-' && t[j + 2] == '>'))
				j++;
			j = j + 2 < n ? j + 3 : n;
			bl_buf_add(out, t + i, j - i);
			i = j;
			continue;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			set_bozo(st, "%s", "a control character XML does not allow");
			i++;
			continue;
		}
		if (c == 0xEF && n - i >= 3 && (unsigned char)t[i + 1] == 0xBF &&
		    ((unsigned char)t[i + 2] == 0xBE || (unsigned char)t[i + 2] == 0xBF)) {
			set_bozo(st, "%s", "a noncharacter XML does not allow");
			i += 3;
			continue;
		}
		if (c == '&') {
			size_t j = i + 1;
			int ok = 0;
			if (j < n && t[j] == '#') {
				j++;
				if (j < n && (t[j] == 'x' || t[j] == 'X')) {
					j++;
					size_t d = j;
					while (j < n && bl_hex_digit((unsigned char)t[j]) >= 0)
						j++;
					ok = j > d && j < n && t[j] == ';';
				} else {
					size_t d = j;
					while (j < n && t[j] >= '0' && t[j] <= '9')
						j++;
					ok = j > d && j < n && t[j] == ';';
				}
			} else {
				size_t d = j;
				while (j < n && j - d < 64 &&
				       ((t[j] >= 'a' && t[j] <= 'z') ||
				        (t[j] >= 'A' && t[j] <= 'Z') ||
				        (j > d && ((t[j] >= '0' && t[j] <= '9') || t[j] == '.' ||
				                   t[j] == '-')) ||
				        t[j] == '_' || t[j] == ':'))
					j++;
				ok = j > d && j < n && t[j] == ';';
			}
			if (!ok) {
				set_bozo(st, "%s", "an unescaped '&'");
				bl_buf_adds(out, "&amp;");
				i++;
				continue;
			}
		}
		bl_buf_addc(out, (char)c);
		i++;
	}
}

/* ------------------------------------------------------------ libxml2 hooks */

static struct state *ctx_state(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

/* General entities: predefined, internal ones the document declares, and
 * HTML's named entities. External entities are never returned, so never loaded. */
static xmlEntityPtr get_entity(void *ctx, const xmlChar *name)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct state *st = ctx_state(ctx);
	xmlEntityPtr ent = xmlGetPredefinedEntity(name);
	const htmlEntityDesc *h;
	char utf8[5];
	size_t n;

	if (ent)
		return ent;
	if (!ctxt->myDoc)
		return NULL;
	ent = xmlGetDocEntity(ctxt->myDoc, name);
	if (ent)
		return ent->etype == XML_INTERNAL_GENERAL_ENTITY ? ent : NULL;
	if (ctxt->inSubset)
		return NULL;
	h = htmlEntityLookup(name);
	if (!h || (n = bl_utf8_encode(h->value, utf8)) == 0)
		return NULL;
	utf8[n] = 0;
	if (!ctxt->myDoc->intSubset &&
	    !xmlCreateIntSubset(ctxt->myDoc, BAD_CAST "feed", NULL, NULL))
		return NULL;
	if (!st->html_entities++)
		set_bozo(st, "HTML entity &%s; used without a declaration", (const char *)name);
	/* '&' and '<' as entity text would be parsed as markup: use a character reference */
	if (h->value == '&' || h->value == '<')
		return NULL;
	return xmlAddDocEntity(ctxt->myDoc, name, XML_INTERNAL_GENERAL_ENTITY, NULL, NULL,
	                       BAD_CAST utf8);
}

static xmlEntityPtr get_parameter_entity(void *ctx, const xmlChar *name)
{
	xmlParserCtxtPtr ctxt = ctx;
	xmlEntityPtr ent;

	if (!ctxt->myDoc)
		return NULL;
	ent = xmlGetParameterEntity(ctxt->myDoc, name);
	return ent && ent->etype == XML_INTERNAL_PARAMETER_ENTITY ? ent : NULL;
}

/* Entity declarations: an external entity (general or parameter) is declared
 * as an empty internal one instead, so that nothing can ever load it. */
static void entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                        const xmlChar *system_id, xmlChar *content)
{
	if (type == XML_INTERNAL_GENERAL_ENTITY || type == XML_INTERNAL_PARAMETER_ENTITY) {
		xmlSAX2EntityDecl(ctx, name, type, public_id, system_id, content);
		return;
	}
	xmlSAX2EntityDecl(ctx, name,
	                  type == XML_EXTERNAL_PARAMETER_ENTITY ? XML_INTERNAL_PARAMETER_ENTITY
	                                                        : XML_INTERNAL_GENERAL_ENTITY,
	                  NULL, NULL, BAD_CAST "");
}

static void unparsed_entity_decl(void *ctx, const xmlChar *name, const xmlChar *public_id,
                                 const xmlChar *system_id, const xmlChar *notation)
{
}

static void no_external_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
                               const xmlChar *sys)
{
}

static xmlParserInputPtr no_resolve(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
	return NULL;
}

static void on_error(void *ctx, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct state *st;
	char msg[200];
	size_t n;

	if (!ctxt || !e || e->level < XML_ERR_ERROR)
		return;
	st = ctx_state(ctxt);
	if (!st || st->bozo)
		return;
	snprintf(msg, sizeof msg, "line %d: %s", e->line, e->message ? e->message : "error");
	n = strlen(msg);
	while (n > 0 && is_xml_space((unsigned char)msg[n - 1]))
		msg[--n] = 0;
	set_bozo(st, "%s", msg);
}

/* Whether @text (@len bytes) holds the end tag of @root ("</rss", "</rdf:RDF", then
 * blanks and '>') after its start: a document cut short lacks it, even when
 * libxml2's recovery closed the elements for us. */
static int has_end_tag(const char *text, size_t len, xmlNodePtr root)
{
	char tag[256];
	if (root->ns && root->ns->prefix)
		snprintf(tag, sizeof(tag), "</%s:%s", (const char *)root->ns->prefix,
		         (const char *)root->name);
	else
		snprintf(tag, sizeof(tag), "</%s", (const char *)root->name);
	size_t n = strlen(tag);
	for (size_t i = len; i-- > 0;) {
		if (text[i] != '<' || len - i < n || memcmp(text + i, tag, n) != 0)
			continue;
		size_t j = i + n;
		while (j < len && is_xml_space((unsigned char)text[j]))
			j++;
		if (j < len && text[j] == '>')
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ tree reading */

static int name_is(xmlNodePtr n, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local);
}

static const char *ns_of(xmlNodePtr n)
{
	return n->ns && n->ns->href ? (const char *)n->ns->href : NULL;
}

/* An element of RSS itself: no namespace, or one of the RSS namespaces. */
static int rss_el(struct state *st, xmlNodePtr n, const char *local)
{
	const char *ns;

	if (!name_is(n, local))
		return 0;
	ns = ns_of(n);
	return !ns || !strcmp(ns, NS_RSS090) || !strcmp(ns, NS_RSS10) ||
	       !strncmp(ns, "http://backend.userland.com/rss", 31) ||
	       !strcmp(ns, "http://blogs.law.harvard.edu/tech/rss") ||
	       (st->rss_ns && !strcmp(ns, st->rss_ns));
}

static int ns_el(xmlNodePtr n, const char *ns, const char *local)
{
	const char *h;

	if (!name_is(n, local))
		return 0;
	h = ns_of(n);
	return h && !strcmp(h, ns);
}

/* An Atom element; in a <feed> without a namespace, any element without one. */
static int atom_el(const struct state *st, xmlNodePtr n, const char *local)
{
	return ns_el(n, NS_ATOM10, local) || ns_el(n, NS_ATOM03, local) ||
	       (st->atom_no_ns && name_is(n, local) && !n->ns);
}

static int media_el(xmlNodePtr n, const char *local)
{
	const char *h;

	if (!name_is(n, local) || !(h = ns_of(n)))
		return 0;
	return !strncmp(h, "http://search.yahoo.com/mrss", 28) ||
	       !strcmp(h, "http://video.search.yahoo.com/mrss");
}

/* The text of @n and its descendants (entities are already expanded). Caller frees. */
static char *text_of(xmlNodePtr n)
{
	xmlChar *c = xmlNodeGetContent(n);
	char *r = own((const char *)c);
	xmlFree(c);
	return r;
}

static char *attr_of(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	char *r;

	if (!v)
		return NULL;
	r = own((const char *)v);
	xmlFree(v);
	return r;
}

static int has_element_child(xmlNodePtr n)
{
	for (xmlNodePtr c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return 1;
	return 0;
}

/* Elements of the XHTML namespace under @n lose their prefix (<h:p> is <p>
 * to an HTML reader); depth-first without recursion. */
static void unprefix_xhtml(xmlNodePtr top)
{
	xmlNodePtr n = top->children;

	while (n && n != top) {
		if (n->type == XML_ELEMENT_NODE && n->ns && n->ns->prefix && n->ns->href &&
		    !strcmp((const char *)n->ns->href, NS_XHTML))
			n->ns = NULL;
		if (n->type == XML_ELEMENT_NODE && n->children) {
			n = n->children;
			continue;
		}
		while (n && n != top && !n->next)
			n = n->parent;
		if (n && n != top)
			n = n->next;
	}
}

/* The children of @n serialised as markup. Caller frees. */
static char *inner_xml(xmlNodePtr n)
{
	xmlBufferPtr b = xmlBufferCreate();
	char *r;

	unprefix_xhtml(n);

	for (xmlNodePtr c = n->children; c; c = c->next)
		xmlNodeDump(b, n->doc, c, 0, 0);
	r = own((const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	return r;
}

/* Text of an HTML fragment: tags dropped, entities decoded. Caller frees. */
static char *html_to_text(const char *html)
{
	struct bl_buf b;
	htmlDocPtr d;
	xmlChar *c;
	char *r;

	if (!strchr(html, '<') && !strchr(html, '&'))
		return bl_xstrdup(html);
	bl_buf_init(&b, 0);
	bl_buf_adds(&b, "<html><body><div>");
	bl_buf_adds(&b, html);
	bl_buf_adds(&b, "</div></body></html>");
	d = htmlReadMemory(bl_buf_str(&b), (int)b.len, NULL, "UTF-8",
	                   HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
	                       HTML_PARSE_NONET);
	bl_buf_finish(&b);
	if (!d)
		return bl_xstrdup(html);
	c = xmlNodeGetContent((xmlNodePtr)xmlDocGetRootElement(d));
	r = own((const char *)c);
	xmlFree(c);
	xmlFreeDoc(d);
	return r;
}

/* Atom text construct type (RFC 4287 §3.1): 0 text, 1 html, 2 xhtml, 3 other. */
static int text_type(xmlNodePtr n)
{
	char *t = attr_of(n, "type");
	int r = 0;

	if (!t)
		return 0;
	bl_ascii_lower(t);
	if (!strcmp(t, "html") || !strcmp(t, "text/html") || !strcmp(t, "escaped"))
		r = 1;
	else if (!strcmp(t, "xhtml") || !strcmp(t, "application/xhtml+xml"))
		r = 2;
	else if (!strcmp(t, "text") || !strcmp(t, "text/plain"))
		r = 0;
	else
		r = 3;
	free(t);
	return r;
}

/* The xhtml:div wrapper of an xhtml text construct, or @n itself. */
static xmlNodePtr xhtml_div(xmlNodePtr n)
{
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			return ns_el(c, NS_XHTML, "div") ? c : n;
		if (c->type == XML_TEXT_NODE) {
			for (const xmlChar *p = c->content; p && *p; p++)
				if (!is_xml_space(*p))
					return n;
		}
	}
	return n;
}

/* A text construct (Atom) or RSS text element as plain text. Caller frees. */
static char *plain_of(xmlNodePtr n, int atom)
{
	int type = atom ? text_type(n) : 0;
	char *t, *r;

	if (type == 1) {
		char *h = text_of(n);
		t = html_to_text(h);
		free(h);
	} else if (type == 2) {
		t = text_of(xhtml_div(n));
	} else {
		t = text_of(n);
	}
	r = collapsed(t);
	free(t);
	return r;
}

/* A text construct (Atom) or RSS text element as HTML. Caller frees. */
static char *html_of(xmlNodePtr n, int atom)
{
	int type = atom ? text_type(n) : 1;
	char *t, *r;

	if (type == 2) {
		t = inner_xml(xhtml_div(n));
	} else if (type == 1 || type == 3) {
		if (has_element_child(n)) {
			t = inner_xml(n);
		} else {
			t = text_of(n);
			if (type == 3) {
				char *e = html_escape(t);
				free(t);
				t = e;
			}
		}
	} else {
		char *p = text_of(n);
		t = html_escape(p);
		free(p);
	}
	r = trimmed(t);
	free(t);
	return r;
}

/* ------------------------------------------------------------------ URLs */

static int has_scheme(const char *s)
{
	const char *p = s;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return 0;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

/* @ref resolved against @base (RFC 3986 §5.2) with curl_url; @ref itself
 * when it is absolute or cannot be resolved. Caller frees. */
static char *resolve(const char *base, const char *ref)
{
	char *r = trimmed(ref), *out = NULL;
	CURLU *u;

	if (has_scheme(r) || !base || !*base)
		return r;
	u = curl_url();
	if (!u)
		return r;
	if (curl_url_set(u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME | CURLU_URLENCODE) ==
	        CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, r, CURLU_NON_SUPPORT_SCHEME | CURLU_URLENCODE) ==
	        CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK && out) {
		free(r);
		r = own(out);
	}
	curl_free(out);
	curl_url_cleanup(u);
	return r;
}

/* The base URI in effect at @n: its and its ancestors' xml:base over the document URL. */
static char *base_of(struct state *st, xmlNodePtr n)
{
	xmlChar *chain[MAX_BASE_DEPTH];
	size_t k = 0;
	char *base = bl_xstrdup(st->doc_url ? st->doc_url : "");

	for (xmlNodePtr p = n; p && p->type == XML_ELEMENT_NODE; p = p->parent) {
		xmlChar *v = xmlGetNsProp(p, BAD_CAST "base", XML_XML_NAMESPACE);
		if (!v)
			continue;
		if (k == MAX_BASE_DEPTH) {
			xmlFree(v);
			break;
		}
		chain[k++] = v;
	}
	while (k > 0) {
		xmlChar *v = chain[--k];
		char *nb = resolve(base, (const char *)v);
		free(base);
		base = nb;
		xmlFree(v);
	}
	return base;
}

/* The text (or @attr) of @n as an absolute URL. Caller frees. */
static char *url_of(struct state *st, xmlNodePtr n, const char *attr)
{
	char *v = attr ? attr_of(n, attr) : text_of(n), *base, *r;

	if (!v)
		return bl_xstrdup("");
	base = base_of(st, n);
	r = *v ? resolve(base, v) : bl_xstrdup("");
	free(v);
	free(base);
	return r;
}

/* ------------------------------------------------------------------ items */

static void set_once(char **slot, char *v)
{
	if (*slot || !v) {
		free(v);
		return;
	}
	*slot = v;
}

static void set_nonempty(char **slot, char *v)
{
	if (*slot || !v || !*v) {
		free(v);
		return;
	}
	*slot = v;
}

static int64_t date_of(xmlNodePtr n)
{
	char *t = text_of(n);
	int64_t r = bl_feed_date_parse(t);
	free(t);
	return r;
}

static int is_alternate(xmlNodePtr n)
{
	char *rel = attr_of(n, "rel");
	int r = !rel || !*rel || !strcmp(rel, "alternate") ||
	        !strcmp(rel, "http://www.iana.org/assignments/relation/alternate");
	free(rel);
	return r;
}

static int is_rel(xmlNodePtr n, const char *want)
{
	char *rel = attr_of(n, "rel");
	int r = rel && !strcmp(rel, want);
	free(rel);
	return r;
}

/* media:content (or one inside media:group) as the enclosure. */
static void media_enclosure(struct state *st, xmlNodePtr n, struct bl_feed_item *it)
{
	if (it->enclosure_url)
		return;
	if (media_el(n, "group")) {
		for (xmlNodePtr c = n->children; c; c = c->next)
			if (media_el(c, "content"))
				media_enclosure(st, c, it);
		return;
	}
	char *u = url_of(st, n, "url");
	if (!*u) {
		free(u);
		return;
	}
	it->enclosure_url = u;
	it->enclosure_type = attr_of(n, "type");
}

static char *media_description(xmlNodePtr n)
{
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (media_el(c, "description")) {
			char *t = text_of(c), *h, *r;
			if (text_type(c) == 1)
				h = t;
			else {
				h = html_escape(t);
				free(t);
			}
			r = trimmed(h);
			free(h);
			return r;
		}
	}
	return NULL;
}

static void fill_defaults(struct bl_feed_item *it)
{
	char **s[] = {&it->id,   &it->link,   &it->title,         &it->summary,       &it->content,
	              &it->base, &it->author, &it->enclosure_url, &it->enclosure_type};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		if (!*s[i])
			*s[i] = bl_xstrdup("");
}

static int is_http_url(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

static void rss_item(struct state *st, xmlNodePtr item, struct bl_feed_item *it)
{
	xmlNodePtr content_el = NULL, summary_el = NULL;
	char *guid = NULL, *email = NULL, *dc_title = NULL, *atom_link = NULL, *guid_link = NULL;
	int64_t dc_date = 0, issued = 0, modified = 0;

	it->id = attr_of(item, "about"); /* rdf:about */
	if (it->id && !*it->id) {
		free(it->id);
		it->id = NULL;
	}
	for (xmlNodePtr c = item->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (rss_el(st, c, "title")) {
			set_once(&it->title, plain_of(c, 0));
		} else if (rss_el(st, c, "link")) {
			if (!it->link) {
				char *u = url_of(st, c, NULL);
				set_nonempty(&it->link, u);
			}
		} else if (rss_el(st, c, "guid")) {
			if (!guid) {
				char *perma = attr_of(c, "isPermaLink");
				char *t = text_of(c);
				guid = trimmed(t);
				free(t);
				if (!perma || strcasecmp(perma, "false") != 0) {
					char *u = url_of(st, c, NULL);
					if (is_http_url(u))
						guid_link = u;
					else
						free(u);
				}
				free(perma);
			}
		} else if (rss_el(st, c, "description")) {
			if (!summary_el)
				summary_el = c;
		} else if (rss_el(st, c, "author")) {
			set_once(&email, plain_of(c, 0));
		} else if (rss_el(st, c, "pubDate")) {
			if (!it->published)
				it->published = date_of(c);
		} else if (rss_el(st, c, "enclosure")) {
			if (!it->enclosure_url) {
				char *u = url_of(st, c, "url");
				if (*u) {
					it->enclosure_url = u;
					it->enclosure_type = attr_of(c, "type");
				} else {
					free(u);
				}
			}
		} else if (ns_el(c, NS_CONTENT, "encoded")) {
			if (!content_el) {
				char *t = text_of(c), *tt = trimmed(t);
				if (*tt)
					content_el = c;
				free(t);
				free(tt);
			}
		} else if (ns_el(c, NS_XHTML, "body") || rss_el(st, c, "fullitem")) {
			if (!content_el)
				content_el = c;
		} else if (ns_el(c, NS_DC, "date")) {
			if (!dc_date)
				dc_date = date_of(c);
		} else if (ns_el(c, NS_DCTERMS, "issued") || ns_el(c, NS_DCTERMS, "created")) {
			if (!issued)
				issued = date_of(c);
		} else if (ns_el(c, NS_DCTERMS, "modified")) {
			if (!modified)
				modified = date_of(c);
		} else if (ns_el(c, NS_DC, "creator") || ns_el(c, NS_DC, "author")) {
			set_nonempty(&it->author, plain_of(c, 0));
		} else if (ns_el(c, NS_DC, "description")) {
			if (!summary_el)
				summary_el = c;
		} else if (ns_el(c, NS_DC, "title")) {
			set_once(&dc_title, plain_of(c, 0));
		} else if (atom_el(st, c, "link")) {
			if (!atom_link && is_alternate(c))
				set_nonempty(&atom_link, url_of(st, c, "href"));
		} else if (atom_el(st, c, "updated")) {
			if (!modified)
				modified = date_of(c);
		} else if (atom_el(st, c, "published")) {
			if (!issued)
				issued = date_of(c);
		} else if (media_el(c, "content") || media_el(c, "group")) {
			media_enclosure(st, c, it);
		}
	}
	if (!it->title)
		it->title = dc_title, dc_title = NULL;
	if (!it->author && email)
		it->author = email, email = NULL;
	if (!it->link)
		it->link = atom_link, atom_link = NULL;
	if (!it->link)
		it->link = guid_link, guid_link = NULL;
	if (guid && *guid) {
		free(it->id);
		it->id = guid;
		guid = NULL;
	}
	if (!it->published)
		it->published = issued ? issued : dc_date;
	it->updated = modified ? modified : dc_date;
	if (summary_el) {
		it->summary = html_of(summary_el, 0);
		it->base = base_of(st, summary_el);
	}
	if (content_el) {
		if (ns_el(content_el, NS_XHTML, "body")) {
			char *x = inner_xml(content_el);
			it->content = trimmed(x);
			free(x);
		} else {
			it->content = html_of(content_el, 0);
		}
		free(it->base);
		it->base = base_of(st, content_el);
	}
	if (!it->base)
		it->base = base_of(st, item);
	free(guid);
	free(email);
	free(dc_title);
	free(atom_link);
	free(guid_link);
}

static void atom_entry(struct state *st, xmlNodePtr entry, struct bl_feed_item *it)
{
	xmlNodePtr content_el = NULL, summary_el = NULL;
	char *alt_html = NULL, *alt_any = NULL, *media_desc = NULL;

	for (xmlNodePtr c = entry->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (atom_el(st, c, "title")) {
			set_once(&it->title, plain_of(c, 1));
		} else if (atom_el(st, c, "link")) {
			if (is_alternate(c)) {
				char *type = attr_of(c, "type");
				int html = !type || !strcmp(type, "text/html") ||
				           !strcmp(type, "application/xhtml+xml");
				free(type);
				char *u = url_of(st, c, "href");
				if (html && !alt_html && *u)
					alt_html = u;
				else if (!alt_any && *u)
					alt_any = u;
				else
					free(u);
			} else if (is_rel(c, "enclosure") && !it->enclosure_url) {
				char *u = url_of(st, c, "href");
				if (*u) {
					it->enclosure_url = u;
					it->enclosure_type = attr_of(c, "type");
				} else {
					free(u);
				}
			}
		} else if (atom_el(st, c, "id")) {
			if (!it->id) {
				char *t = text_of(c);
				it->id = trimmed(t);
				free(t);
			}
		} else if (atom_el(st, c, "summary")) {
			if (!summary_el)
				summary_el = c;
		} else if (atom_el(st, c, "content")) {
			char *src = attr_of(c, "src");
			if (!content_el && !src)
				content_el = c;
			free(src);
		} else if (atom_el(st, c, "published") || atom_el(st, c, "issued")) {
			if (!it->published)
				it->published = date_of(c);
		} else if (atom_el(st, c, "updated") || atom_el(st, c, "modified")) {
			if (!it->updated)
				it->updated = date_of(c);
		} else if (atom_el(st, c, "author")) {
			for (xmlNodePtr a = c->children; a && !it->author; a = a->next)
				if (atom_el(st, a, "name"))
					set_nonempty(&it->author, plain_of(a, 0));
			for (xmlNodePtr a = c->children; a && !it->author; a = a->next)
				if (atom_el(st, a, "email"))
					set_nonempty(&it->author, plain_of(a, 0));
		} else if (ns_el(c, NS_DC, "creator")) {
			set_nonempty(&it->author, plain_of(c, 0));
		} else if (media_el(c, "content")) {
			media_enclosure(st, c, it);
		} else if (media_el(c, "group")) {
			media_enclosure(st, c, it);
			if (!media_desc)
				media_desc = media_description(c);
		}
	}
	it->link = alt_html ? alt_html : alt_any;
	if (alt_html)
		free(alt_any);
	if (summary_el) {
		it->summary = html_of(summary_el, 1);
		it->base = base_of(st, summary_el);
	} else if (media_desc) {
		it->summary = media_desc;
		media_desc = NULL;
	}
	if (content_el) {
		it->content = html_of(content_el, 1);
		free(it->base);
		it->base = base_of(st, content_el);
	}
	if (!it->base)
		it->base = base_of(st, entry);
	if (!it->published)
		it->published = it->updated;
	free(media_desc);
}

/* ------------------------------------------------------------------ document */

static const char *rss_version(xmlNodePtr root)
{
	char *v = attr_of(root, "version");
	const char *r = "rss";

	if (!v)
		return r;
	if (!strncmp(v, "2.", 2))
		r = "rss20";
	else if (!strcmp(v, "0.91"))
		r = "rss091u";
	else if (!strcmp(v, "0.92"))
		r = "rss092";
	else if (!strcmp(v, "0.93"))
		r = "rss093";
	else if (!strcmp(v, "0.94"))
		r = "rss094";
	else if (!strcmp(v, "0.90"))
		r = "rss090";
	free(v);
	return r;
}

static int add_item(struct bl_feed_doc *out, size_t *cap, struct bl_diag *d)
{
	if (out->n_items >= BL_FEED_MAX_ITEMS)
		return bl_diag_set(
		    d, BL_ELIMIT,
		    "the feed has more than %d items; bulletin reads at most that many",
		    BL_FEED_MAX_ITEMS);
	if (out->n_items == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		out->items = bl_xreallocarray(out->items, *cap, sizeof *out->items);
	}
	memset(&out->items[out->n_items], 0, sizeof *out->items);
	out->n_items++;
	return 0;
}

static int read_doc(struct state *st, xmlNodePtr root, struct bl_feed_doc *out, struct bl_diag *d)
{
	const char *rns = ns_of(root);
	xmlNodePtr channel = NULL;
	size_t cap = 0;
	int rc;

	if (name_is(root, "rss") || name_is(root, "channel")) {
		out->format = "rss";
		out->version = name_is(root, "rss") ? rss_version(root) : "rss";
		if (!strcmp(out->version, "rss091u") && root->doc->intSubset &&
		    root->doc->intSubset->ExternalID &&
		    strstr((const char *)root->doc->intSubset->ExternalID, "Netscape"))
			out->version = "rss091n";
		if (rns)
			st->rss_ns = rns;
		if (name_is(root, "channel"))
			channel = root;
		for (xmlNodePtr c = root->children; c && !channel; c = c->next)
			if (rss_el(st, c, "channel"))
				channel = c;
	} else if (name_is(root, "RDF")) {
		out->format = "rdf";
		out->version = "rss10";
		for (xmlNsPtr ns = root->nsDef; ns; ns = ns->next)
			if (!ns->prefix && ns->href && !strcmp((const char *)ns->href, NS_RSS090))
				out->version = "rss090";
		for (xmlNodePtr c = root->children; c; c = c->next) {
			if (name_is(c, "channel") || name_is(c, "item")) {
				const char *ns = ns_of(c);
				if (ns && !strcmp(ns, NS_RSS090))
					out->version = "rss090";
				if (ns && strcmp(ns, NS_RSS090) && strcmp(ns, NS_RSS10))
					st->rss_ns = ns;
				break;
			}
		}
		for (xmlNodePtr c = root->children; c && !channel; c = c->next)
			if (rss_el(st, c, "channel"))
				channel = c;
	} else if (name_is(root, "feed")) {
		out->format = "atom";
		out->version = rns && !strcmp(rns, NS_ATOM03) ? "atom03" : "atom10";
		st->atom_no_ns = rns == NULL;
	} else {
		const char *what = (const char *)root->name;
		if (!strcasecmp(what, "html"))
			return bl_diag_set(
			    d, BL_EINVAL,
			    "this is a web page (<html>), not a feed: give the URL of the "
			    "site's RSS or Atom feed instead");
		return bl_diag_set(
		    d, BL_EINVAL,
		    "the document's root element is <%.60s>, not <rss>, <rdf:RDF> or "
		    "<feed>: this is not an RSS or Atom feed",
		    what);
	}

	if (!strcmp(out->format, "atom")) {
		char *alt_html = NULL, *alt_any = NULL;
		/* Atom 0.3 documents use their own namespace: read them with the same rules */
		for (xmlNodePtr c = root->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			if (atom_el(st, c, "title")) {
				set_once(&out->title, plain_of(c, 1));
			} else if ((atom_el(st, c, "link") || (!rns && name_is(c, "link"))) &&
			           is_alternate(c)) {
				char *u = url_of(st, c, "href");
				char *type = attr_of(c, "type");
				int html = !type || !strcmp(type, "text/html") ||
				           !strcmp(type, "application/xhtml+xml");
				free(type);
				if (html && !alt_html && *u)
					alt_html = u;
				else if (!alt_any && *u)
					alt_any = u;
				else
					free(u);
			} else if (atom_el(st, c, "entry")) {
				if ((rc = add_item(out, &cap, d)) < 0) {
					free(alt_html);
					free(alt_any);
					return rc;
				}
				atom_entry(st, c, &out->items[out->n_items - 1]);
			}
		}
		out->link = alt_html ? alt_html : alt_any;
		if (alt_html)
			free(alt_any);
	} else {
		char *atom_link = NULL;
		if (channel) {
			for (xmlNodePtr c = channel->children; c; c = c->next) {
				if (rss_el(st, c, "title"))
					set_once(&out->title, plain_of(c, 0));
				else if (ns_el(c, NS_DC, "title") && !out->title)
					set_once(&out->title, plain_of(c, 0));
				else if (rss_el(st, c, "link") && !out->link)
					set_nonempty(&out->link, url_of(st, c, NULL));
				else if (atom_el(st, c, "link") && !atom_link && is_alternate(c))
					set_nonempty(&atom_link, url_of(st, c, "href"));
			}
		}
		if (!out->link)
			out->link = atom_link, atom_link = NULL;
		free(atom_link);
		/* items: children of the root (RSS 0.90/1.0, some 0.9x) and of the channel, in
		 * order */
		for (xmlNodePtr c = root->children; c; c = c->next) {
			xmlNodePtr list = NULL;
			if (c == channel && c != root)
				list = c->children;
			else if (rss_el(st, c, "item")) {
				if ((rc = add_item(out, &cap, d)) < 0)
					return rc;
				rss_item(st, c, &out->items[out->n_items - 1]);
			}
			for (xmlNodePtr i = list; i; i = i->next) {
				if (!rss_el(st, i, "item"))
					continue;
				if ((rc = add_item(out, &cap, d)) < 0)
					return rc;
				rss_item(st, i, &out->items[out->n_items - 1]);
			}
		}
		if (channel == root) {
			for (xmlNodePtr i = root->children; i; i = i->next) {
				if (!rss_el(st, i, "item"))
					continue;
				if ((rc = add_item(out, &cap, d)) < 0)
					return rc;
				rss_item(st, i, &out->items[out->n_items - 1]);
			}
		}
	}
	for (size_t i = 0; i < out->n_items; i++) {
		struct bl_feed_item *it = &out->items[i];
		fill_defaults(it);
		it->title = fix_text(it->title);
		it->summary = fix_text(it->summary);
		it->content = fix_text(it->content);
		it->author = fix_text(it->author);
	}
	if (out->title)
		out->title = fix_text(out->title);
	if (!out->title)
		out->title = bl_xstrdup("");
	if (!out->link)
		out->link = bl_xstrdup("");
	return 0;
}

int bl_feed_parse(const char *data, size_t len, const char *doc_url, const char *content_type,
                  struct bl_feed_doc *out, struct bl_diag *d)
{
	struct state st;
	struct bl_buf text, clean;
	char used[48] = "";
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&st, 0, sizeof st);
	st.doc_url = doc_url && *doc_url ? doc_url : NULL;
	if (len > BL_FEED_MAX_BYTES)
		return bl_diag_set(
		    d, BL_ELIMIT,
		    "the feed is %zu bytes; bulletin reads feeds of at most %zu bytes", len,
		    BL_FEED_MAX_BYTES);
	if (!data)
		len = 0;
	pthread_once(&xml_once, xml_init);
	bl_buf_init(&text, 4 * BL_FEED_MAX_BYTES + 64);
	bl_buf_init(&clean, 4 * BL_FEED_MAX_BYTES + 64);
	if (to_utf8(data ? data : "", len, content_type, &st, &text, used) != 0) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "the feed's character encoding could not be determined");
		goto out;
	}
	{
		const char *t = bl_buf_str(&text);
		size_t n = text.len;
		if (n >= 3 && !memcmp(t, "\xEF\xBB\xBF", 3)) /* a BOM the codec kept */
			t += 3, n -= 3;
		repair(t, n, &st, &clean);
	}
	bl_buf_finish(&text);
	if (clean.len == 0 || clean.len > INT32_MAX) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "the document is empty: this is not an RSS or Atom feed");
		goto out;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		bl_panic("xmlNewParserCtxt failed");
	ctxt->_private = &st;
	ctxt->sax->getEntity = get_entity;
	ctxt->sax->getParameterEntity = get_parameter_entity;
	ctxt->sax->externalSubset = no_external_subset;
	ctxt->sax->entityDecl = entity_decl;
	ctxt->sax->unparsedEntityDecl = unparsed_entity_decl;
	ctxt->sax->resolveEntity = no_resolve;
	ctxt->sax->serror = on_error;
	doc = xmlCtxtReadMemory(ctxt, bl_buf_str(&clean), (int)clean.len, NULL, "UTF-8",
	                        XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOENT |
	                            XML_PARSE_NOCDATA | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC);
	if (!ctxt->wellFormed)
		set_bozo(&st, "%s", "the document is not well-formed XML");
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!root) {
		rc = bl_diag_set(d, BL_EINVAL,
		                 "the document is not XML (%s): this is not an RSS or "
		                 "Atom feed",
		                 st.reason[0] ? st.reason : "no root element");
		goto out;
	}
	st.doc = doc;
	rc = read_doc(&st, root, out, d);
	if (rc >= 0)
		out->truncated = !has_end_tag(bl_buf_str(&clean), clean.len, root);
	if (rc < 0)
		goto out;
	out->encoding = bl_xstrdup(used);
	bl_ascii_lower(out->encoding);
	out->bozo = st.bozo;
	out->bozo_reason = bl_xstrdup(st.bozo ? st.reason : "");
out:
	if (rc < 0)
		bl_feed_doc_clear(out);
	if (doc)
		xmlFreeDoc(doc);
	if (ctxt)
		xmlFreeParserCtxt(ctxt);
	bl_buf_finish(&text);
	bl_buf_finish(&clean);
	return rc;
}

void bl_feed_item_clear(struct bl_feed_item *it)
{
	free(it->id);
	free(it->link);
	free(it->title);
	free(it->summary);
	free(it->content);
	free(it->base);
	free(it->author);
	free(it->enclosure_url);
	free(it->enclosure_type);
	memset(it, 0, sizeof *it);
}

void bl_feed_doc_clear(struct bl_feed_doc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->n_items; i++)
		bl_feed_item_clear(&doc->items[i]);
	free(doc->items);
	free(doc->title);
	free(doc->link);
	free(doc->encoding);
	free(doc->bozo_reason);
	memset(doc, 0, sizeof *doc);
}

/* ------------------------------------------------------------------ dates */

static int64_t make_time(int y, int mo, int dd, int h, int mi, int s, int off_min)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t t;

	if (y < 1 || y > 9999 || mo < 1 || mo > 12 || dd < 1 || dd > mdays[mo - 1] || h < 0 ||
	    h > 24 || mi < 0 || mi > 59 || s < 0 || s > 60 || (h == 24 && (mi || s)))
		return 0;
	if (s == 60)
		s = 59;
	t = bl_days_from_civil(y, mo, dd) * 86400 + h * 3600 + mi * 60 + s - (int64_t)off_min * 60;
	if (t < 0)
		return 0; /* before 1970: read as no date */
	return t == 0 ? 1 : t;
}

/* Up to @max digits at *@p as a number; the count read, 0 if none. */
static int digits(const char **p, int max, int *v)
{
	int n = 0;

	*v = 0;
	while (n < max && **p >= '0' && **p <= '9') {
		*v = *v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n;
}

/* A zone at @p: Z, +HH:MM, +HHMM, +HH. 1 and the offset in minutes, or 0. */
static int numeric_zone(const char **p, int *off)
{
	const char *q = *p;
	int sign, h, m = 0, n;

	if (*q == 'Z' || *q == 'z') {
		*off = 0;
		*p = q + 1;
		return 1;
	}
	if (*q != '+' && *q != '-')
		return 0;
	sign = *q == '-' ? -1 : 1;
	q++;
	n = digits(&q, 4, &h);
	if (n == 4) {
		m = h % 100;
		h /= 100;
	} else if (n == 2 || n == 1) {
		if (*q == ':') {
			q++;
			if (digits(&q, 2, &m) != 2)
				return 0;
		}
	} else {
		return 0;
	}
	if (h > 23 || m > 59)
		return 0;
	*off = sign * (h * 60 + m);
	*p = q;
	return 1;
}

static int64_t parse_iso(const char *s)
{
	const char *p = s;
	int y, mo = 1, dd = 1, h = 0, mi = 0, sec = 0, off = 0, n;
	char sep;

	if (digits(&p, 4, &y) != 4)
		return 0;
	sep = *p;
	if (sep == '-' || sep == '/') {
		p++;
		if (!(n = digits(&p, 2, &mo)) || (n == 1 && sep == '-'))
			return 0;
		if (*p == sep) {
			p++;
			if (!(n = digits(&p, 2, &dd)) || (n == 1 && sep == '-'))
				return 0;
		}
	} else if (sep >= '0' && sep <= '9') { /* YYYYMMDD */
		if (digits(&p, 2, &mo) != 2 || digits(&p, 2, &dd) != 2)
			return 0;
	}
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		while (*p == ' ')
			p++;
		if (digits(&p, 2, &h) < 1)
			return 0;
		if (*p == ':')
			p++;
		if (digits(&p, 2, &mi) != 2)
			return 0;
		if (*p == ':' || (*p >= '0' && *p <= '9')) {
			if (*p == ':')
				p++;
			if (digits(&p, 2, &sec) != 2)
				return 0;
			if (*p == '.' || *p == ',') {
				p++;
				while (*p >= '0' && *p <= '9')
					p++;
			}
		}
		while (*p == ' ')
			p++;
		if (*p && !numeric_zone(&p, &off)) {
			if (!strncasecmp(p, "UTC", 3) || !strncasecmp(p, "GMT", 3))
				p += 3;
			else
				return 0;
		}
	}
	while (is_xml_space((unsigned char)*p))
		p++;
	if (*p)
		return 0;
	return make_time(y, mo, dd, h, mi, sec, off);
}

static int month_of(const char *w)
{
	static const char *const names[] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                    "jul", "aug", "sep", "oct", "nov", "dec"};
	if (strlen(w) < 3)
		return 0;
	for (int i = 0; i < 12; i++)
		if (!strncasecmp(w, names[i], 3))
			return i + 1;
	return 0;
}

/* Named zones (RFC 822 §5.1 and a few common ones), minutes east of UTC. */
static int zone_of(const char *w, int *off)
{
	static const struct {
		const char *name;
		int off;
	} z[] = {
	    {"UT", 0},      {"UTC", 0},    {"GMT", 0},    {"Z", 0},      {"EST", -300},
	    {"EDT", -240},  {"CST", -360}, {"CDT", -300}, {"MST", -420}, {"MDT", -360},
	    {"PST", -480},  {"PDT", -420}, {"AST", -240}, {"ADT", -180}, {"AKST", -540},
	    {"AKDT", -480}, {"HST", -600}, {"CET", 60},   {"CEST", 120}, {"MET", 60},
	    {"MEST", 120},  {"BST", 60},   {"IST", 330},  {"EET", 120},  {"EEST", 180},
	    {"WET", 0},     {"WEST", 60},  {"MSK", 180},  {"JST", 540},  {"KST", 540},
	    {"AEST", 600},  {"AEDT", 660}, {"NZST", 720}, {"NZDT", 780}, {"ET", -300},
	    {"CT", -360},   {"MT", -420},  {"PT", -480},  {"A", -60},    {"N", 60},
	    {"M", -720},    {"Y", 720},
	};
	for (size_t i = 0; i < sizeof z / sizeof z[0]; i++)
		if (!strcasecmp(w, z[i].name)) {
			*off = z[i].off;
			return 1;
		}
	return 0;
}

static int64_t parse_rfc822(const char *s)
{
	char buf[128], *tok[12], *save = NULL;
	size_t nt = 0;
	int y = -1, mo = 0, dd = -1, h = 0, mi = 0, sec = 0, off = 0, have_time = 0;

	if (strlen(s) >= sizeof buf)
		return 0;
	strcpy(buf, s);
	for (char *p = buf; *p; p++)
		if (*p == ',' || *p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	for (char *t = strtok_r(buf, " ", &save); t && nt < 12; t = strtok_r(NULL, " ", &save))
		tok[nt++] = t;
	for (size_t i = 0; i < nt; i++) {
		char *t = tok[i];
		const char *q = t;
		int v, n;
		if (strchr(t, ':') && !have_time && t[0] >= '0' && t[0] <= '9') {
			if (digits(&q, 2, &h) < 1 || *q++ != ':' || digits(&q, 2, &mi) != 2)
				return 0;
			if (*q == ':') {
				q++;
				if (digits(&q, 2, &sec) != 2)
					return 0;
				if (*q == '.')
					for (q++; *q >= '0' && *q <= '9'; q++)
						;
			}
			have_time = 1;
			if (*q && !numeric_zone(&q, &off) && !zone_of(q, &off))
				return 0;
			continue;
		}
		if ((t[0] == '+' || t[0] == '-') && have_time) {
			if (!numeric_zone(&q, &off) || *q)
				return 0;
			continue;
		}
		if (t[0] >= '0' && t[0] <= '9') {
			n = digits(&q, 5, &v);
			if (*q == '-' && month_of(q + 1)) { /* 07-Sep-2002 */
				const char *r = q + 1;
				while (*r && *r != '-')
					r++;
				if (*r == '-' && dd < 0) {
					dd = v;
					mo = month_of(q + 1);
					r++;
					n = digits(&r, 4, &y);
					if (n == 2)
						y += y < 50 ? 2000 : 1900;
					continue;
				}
				return 0;
			}
			if (*q)
				return 0;
			if (n <= 2 && dd < 0 && (mo == 0 || y < 0))
				dd = v;
			else if (y < 0) {
				y = v;
				if (n == 2)
					y += y < 50 ? 2000 : 1900;
				else if (n == 3)
					y += 1900;
			} else
				return 0;
			continue;
		}
		if (month_of(t) && !mo && strlen(t) <= 9) {
			mo = month_of(t);
			continue;
		}
		if (have_time && zone_of(t, &off))
			continue;
		if (!mo && dd < 0 && i == 0)
			continue; /* a weekday */
		if (have_time && (i == nt - 1 || t[0] == '('))
			break; /* an unknown zone name or a comment: read as UTC */
		if (!have_time && !mo && i < 2)
			continue;
	}
	if (y < 0 || !mo || dd < 0)
		return 0;
	return make_time(y, mo, dd, h, mi, sec, off);
}

int64_t bl_feed_date_parse(const char *s)
{
	char *t;
	int64_t r = 0;

	if (!s)
		return 0;
	t = trimmed(s);
	if (*t >= '0' && *t <= '9')
		r = parse_iso(t);
	if (!r)
		r = parse_rfc822(t);
	free(t);
	return r;
}
