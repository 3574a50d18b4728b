/*
 * Reading a returned report into struct bl_report (see report.h). The bytes
 * are first brought to LF line ends (CRLF and lone CR alike); GMime 3 then
 * gives the MIME tree, and the field blocks (the top-level header, the
 * message/delivery-status and message/feedback-report parts, the returned
 * original's header) are read here line by line, so that a block GMime would
 * not see as a header (indented fields, lowercase names, a missing blank line)
 * still reads. Every string leaves through one funnel (to_utf8): the declared
 * charset through iconv, else each byte that is not well-formed UTF-8 read as
 * windows-1252. Bounded throughout: MIME depth MAX_DEPTH, MAX_PARTS parts,
 * 500 header fields, FIELD_MAX bytes per field value, BL_REPORT_MAX_TEXT of
 * text. Used by src/bounce only; nothing here classifies.
 */
#include "mime/report.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/message.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define MAX_DEPTH        20                  /* nested multiparts walked */
#define MAX_PARTS        2000                /* MIME parts looked at */
#define MAX_HEADERS      500                 /* fields kept of one header block */
#define MAX_GMIME_FIELDS 2000                /* header lines handed to GMime */
#define MAX_FIELDS       20000               /* fields read from one DSN or ARF part */
#define FIELD_MAX        ((size_t)16 << 10)  /* bytes of one field value */
#define ORIG_MAX         ((size_t)256 << 10) /* bytes of original_headers */
#define ARF_LIST_MAX     100                 /* entries of each ARF list */

/* ---- UTF-8 --------------------------------------------------------------- */

/* windows-1252 0x80-0x9F; the five undefined bytes map to the C1 control of the same value
 * (as the WHATWG encoding standard does). */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* Append @n bytes of @s: well-formed UTF-8 as it is, every other byte read as windows-1252;
 * NUL bytes are dropped (the result is a C string). */
static void add_lenient(struct bl_buf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && (unsigned char)s[run] < 0x80 && s[run])
			run++;
		if (run > i) {
			bl_buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		if (!c) {
			i++;
			continue;
		}
		uint32_t cp;
		size_t k = bl_utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (k) {
			bl_buf_add(b, s + i, k);
			i += k;
			continue;
		}
		char u[4];
		size_t m = bl_utf8_encode(c < 0xA0 ? cp1252_c1[c - 0x80] : c, u);
		bl_buf_add(b, u, m);
		i++;
	}
}

/* Whether @cs names UTF-8 or ASCII (read by add_lenient directly). */
static int charset_is_utf8(const char *cs)
{
	return !strcasecmp(cs, "utf-8") || !strcasecmp(cs, "utf8") || !strcasecmp(cs, "us-ascii") ||
	       !strcasecmp(cs, "ascii");
}

/* Convert @n bytes of @s from @charset with iconv into @b; 0, or -1 when iconv does not know
 * the charset or the bytes are not in it (@b is then reset to its length before the call). */
static int add_iconv(struct bl_buf *b, const char *s, size_t n, const char *charset)
{
	const char *name = g_mime_charset_iconv_name(charset);
	iconv_t cd = iconv_open("UTF-8", name ? name : charset);
	if (cd == (iconv_t)-1)
		return -1;
	size_t mark = b->len;
	char *in = (char *)s;
	size_t inleft = n;
	char out[4096];
	int rc = 0;
	while (inleft > 0) {
		char *op = out;
		size_t oleft = sizeof out;
		size_t r = iconv(cd, &in, &inleft, &op, &oleft);
		add_lenient(b, out, (size_t)(op - out));
		if (r == (size_t)-1 && errno != E2BIG) {
			rc = -1;
			break;
		}
	}
	if (!rc) {
		char *op = out;
		size_t oleft = sizeof out;
		if (iconv(cd, NULL, NULL, &op, &oleft) == (size_t)-1)
			rc = -1;
		else
			add_lenient(b, out, (size_t)(op - out));
	}
	iconv_close(cd);
	if (rc) {
		b->len = mark;
		if (b->data)
			b->data[mark] = 0;
	}
	return rc;
}

/* @n bytes of @s as a malloc'd UTF-8 string: decoded from @charset (NULL: none declared)
 * when iconv can, else UTF-8 with windows-1252 for the bytes that are not UTF-8. */
static char *to_utf8(const char *s, size_t n, const char *charset)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	if (!charset || !*charset || charset_is_utf8(charset) || add_iconv(&b, s, n, charset))
		add_lenient(&b, s, n);
	return bl_buf_take(&b);
}

/* The length of the longest prefix of UTF-8 @s (@n bytes) of at most @max bytes that ends on
 * a character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* Append UTF-8 @s to @b without passing @cap bytes; 1 when it was cut. */
static int add_capped(struct bl_buf *b, const char *s, size_t n, size_t cap)
{
	size_t room = b->len < cap ? cap - b->len : 0;
	size_t k = utf8_cut(s, n, room);
	bl_buf_add(b, s, k);
	return k < n;
}

/* ---- line ends and lines --------------------------------------------------- */

/* A malloc'd copy of @n bytes of @s with CRLF and lone CR turned into LF; length in *@out_n. */
static char *normalise_eol(const char *s, size_t n, size_t *out_n)
{
	char *o = bl_xmalloc(n + 1);
	/* most reports have no CR at all: copy up to the first one in one go */
	const char *cr = memchr(s, '\r', n);
	size_t k = cr ? (size_t)(cr - s) : n;
	memcpy(o, s, k);
	for (size_t i = k; i < n; i++) {
		if (s[i] == '\r') {
			o[k++] = '\n';
			if (i + 1 < n && s[i + 1] == '\n')
				i++;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = 0;
	*out_n = k;
	return o;
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The end of the line starting at @p (the LF or @end). */
static const char *line_end(const char *p, const char *end)
{
	const char *e = memchr(p, '\n', (size_t)(end - p));
	return e ? e : end;
}

static int line_blank(const char *p, const char *e)
{
	while (p < e && (is_wsp(*p) || *p == '\f' || *p == '\v'))
		p++;
	return p == e;
}

/* The length of the field name when the line @p..@e is "Name[WSP]:...", else 0. */
static size_t field_name_len(const char *p, const char *e)
{
	size_t i = 0, n = (size_t)(e - p);
	while (i < n && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127 && p[i] != ':')
		i++;
	if (!i)
		return 0;
	size_t j = i;
	while (j < n && is_wsp(p[j]))
		j++;
	return j < n && p[j] == ':' ? i : 0;
}

/* Trim ASCII whitespace (space, tab, LF) from both ends of @s in place. */
static void trim_in_place(char *s)
{
	size_t n = strlen(s), a = 0;
	while (n > 0 && (is_wsp(s[n - 1]) || s[n - 1] == '\n'))
		n--;
	while (a < n && (is_wsp(s[a]) || s[a] == '\n'))
		a++;
	memmove(s, s + a, n - a);
	s[n - a] = 0;
}

/* ---- field blocks -------------------------------------------------------- */

/* How continuation lines join their field's value. */
enum join {
	JOIN_UNFOLD, /* RFC 5322 unfolding: the line break goes, the whitespace stays */
	JOIN_SPACE,  /* one space between the trimmed lines (RFC 3464 fields) */
	JOIN_KEEP    /* LF and the line as written (the arf-mail-auth convention) */
};

struct field {
	char *name;  /* as written; NULL marks a line that is no field (junk) */
	char *value; /* joined, trimmed, UTF-8, at most FIELD_MAX bytes */
	unsigned block;
};

struct fields {
	struct field *v;
	size_t n, cap;
};

static void fields_clear(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	free(f->v);
	memset(f, 0, sizeof *f);
}

/* The RFC 3464 fields (an indented one still starts a field in a delivery-status body). */
enum dsn_field {
	DF_NONE,
	DF_REPORTING_MTA,
	DF_ARRIVAL,
	DF_ENVID,
	DF_MSG_OTHER, /* DSN-Gateway, Received-From-MTA */
	DF_ORIG_RCPT,
	DF_FINAL_RCPT,
	DF_ACTION,
	DF_STATUS,
	DF_REMOTE_MTA,
	DF_DIAG,
	DF_LAST_ATTEMPT,
	DF_RCPT_OTHER /* Final-Log-ID, Will-Retry-Until */
};

static enum dsn_field dsn_field_of_n(const char *name, size_t n)
{
	static const struct {
		const char *name;
		enum dsn_field f;
	} map[] = {
	    {"Reporting-MTA", DF_REPORTING_MTA},
	    {"Arrival-Date", DF_ARRIVAL},
	    {"Original-Envelope-Id", DF_ENVID},
	    {"DSN-Gateway", DF_MSG_OTHER},
	    {"Received-From-MTA", DF_MSG_OTHER},
	    {"Original-Recipient", DF_ORIG_RCPT},
	    {"Final-Recipient", DF_FINAL_RCPT},
	    {"Action", DF_ACTION},
	    {"Status", DF_STATUS},
	    {"Remote-MTA", DF_REMOTE_MTA},
	    {"Diagnostic-Code", DF_DIAG},
	    {"Last-Attempt-Date", DF_LAST_ATTEMPT},
	    {"Final-Log-ID", DF_RCPT_OTHER},
	    {"Will-Retry-Until", DF_RCPT_OTHER},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strlen(map[i].name) == n && !g_ascii_strncasecmp(name, map[i].name, n))
			return map[i].f;
	return DF_NONE;
}

static enum dsn_field dsn_field_of(const char *name)
{
	return dsn_field_of_n(name, strlen(name));
}

struct scan {
	int blocks;   /* 0: stop at the first blank line (a header); 1: blank lines part blocks */
	int indented; /* an indented RFC 3464 field name starts a field */
	enum join join;
	const char *charset; /* of the values, NULL: UTF-8 else windows-1252 */
	size_t max;          /* fields kept */
};

static void field_finish(struct fields *f, struct bl_buf *val, const struct scan *sc)
{
	if (!f->n || f->v[f->n - 1].value || !f->v[f->n - 1].name)
		return;
	char *v = to_utf8(bl_buf_str(val), val->len, sc->charset);
	trim_in_place(v);
	size_t n = strlen(v);
	v[utf8_cut(v, n, FIELD_MAX)] = 0;
	f->v[f->n - 1].value = v;
	bl_buf_reset(val);
}

static void field_push(struct fields *f, char *name, unsigned block)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = bl_xreallocarray(f->v, f->cap, sizeof *f->v);
	}
	f->v[f->n++] = (struct field){name, NULL, block};
}

/*
 * Read the field lines of @p..@end into @f. Returns the offset just after the block (after
 * the blank line ending a header; @end in block mode). Junk lines are kept as nameless
 * entries so a caller can stop at them.
 */
static size_t scan_fields(const char *p, const char *end, const struct scan *sc, struct fields *f)
{
	const char *start = p;
	struct bl_buf val;
	unsigned block = 0;
	int in_field = 0, after_blank = 0;
	bl_buf_init(&val, FIELD_MAX * 4);
	while (p < end) {
		const char *e = line_end(p, end);
		const char *next = e < end ? e + 1 : end;
		if (line_blank(p, e)) {
			field_finish(f, &val, sc);
			in_field = 0;
			if (!sc->blocks) {
				p = next;
				break;
			}
			if (!after_blank && f->n)
				block++;
			after_blank = 1;
			p = next;
			continue;
		}
		after_blank = 0;
		const char *q = p;
		if (is_wsp(*p)) {
			while (q < e && is_wsp(*q))
				q++;
			size_t nl = field_name_len(q, e);
			if (!(sc->indented && nl && dsn_field_of_n(q, nl) != DF_NONE)) {
				if (in_field) {
					if (sc->join == JOIN_SPACE) {
						while (val.len && is_wsp(val.data[val.len - 1]))
							val.data[--val.len] = 0;
						bl_buf_addc(&val, ' ');
						bl_buf_add(&val, q, (size_t)(e - q));
					} else {
						if (sc->join == JOIN_KEEP)
							bl_buf_addc(&val, '\n');
						bl_buf_add(&val, p, (size_t)(e - p));
					}
				}
				p = next;
				continue;
			}
		}
		size_t nl = field_name_len(q, e);
		field_finish(f, &val, sc);
		in_field = 0;
		if (f->n >= sc->max) {
			p = next;
			continue;
		}
		if (!nl) {
			field_push(f, NULL, block);
			p = next;
			continue;
		}
		field_push(f, bl_xstrndup(q, nl), block);
		const char *colon = memchr(q + nl, ':', (size_t)(e - q - nl));
		bl_buf_add(&val, colon + 1, (size_t)(e - colon - 1));
		in_field = 1;
		p = next;
	}
	field_finish(f, &val, sc);
	bl_buf_finish(&val);
	return (size_t)(p - start);
}

/* Write the fields of a header block as "Name: value\n" lines (unfolded) into @b, at most
 * MAX_HEADERS fields and ORIG_MAX bytes. */
static void header_block_text(const char *p, size_t n, struct bl_buf *b)
{
	struct fields f = {0};
	const struct scan sc = {0, 0, JOIN_UNFOLD, NULL, MAX_HEADERS};
	const char *end = p + n;
	while (p < end) { /* leading blank lines */
		const char *e = line_end(p, end);
		if (!line_blank(p, e))
			break;
		p = e < end ? e + 1 : end;
	}
	scan_fields(p, end, &sc, &f);
	for (size_t i = 0; i < f.n; i++) {
		if (!f.v[i].name)
			continue;
		size_t mark = b->len;
		bl_buf_addf(b, "%s: %s\n", f.v[i].name, f.v[i].value);
		if (b->len > ORIG_MAX) {
			b->len = mark;
			b->data[mark] = 0;
			break;
		}
	}
	fields_clear(&f);
}

/* ---- values ---------------------------------------------------------------- */

/* @v after an RFC 3464 "type;" prefix (a token of letters, digits and '-'), trimmed; the type,
 * lowercased, into *@type when @type is not NULL (malloc'd, "" when none). */
static char *after_type(const char *v, char **type)
{
	size_t i = 0;
	while (v[i] && (g_ascii_isalnum(v[i]) || v[i] == '-' || v[i] == '_'))
		i++;
	size_t j = i;
	while (is_wsp(v[j]))
		j++;
	int typed = i > 0 && i <= 32 && v[j] == ';';
	if (type) {
		*type = typed ? bl_xstrndup(v, i) : bl_xstrdup("");
		for (char *t = *type; *t; t++)
			*t = g_ascii_tolower(*t);
	}
	char *r = bl_xstrdup(typed ? v + j + 1 : v);
	trim_in_place(r);
	return r;
}

/* RFC 6533 §3: "\x{HEX}" in a utf-8 address type stands for that code point. */
static char *decode_unitext(const char *s)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	while (*s) {
		if (s[0] == '\\' && s[1] == 'x' && s[2] == '{') {
			uint32_t cp = 0;
			size_t k = 3;
			while (k < 9 && g_ascii_isxdigit(s[k]))
				cp = cp * 16 + (uint32_t)g_ascii_xdigit_value(s[k++]);
			char u[4];
			size_t m;
			if (k > 3 && s[k] == '}' && cp && (m = bl_utf8_encode(cp, u))) {
				bl_buf_add(&b, u, m);
				s += k + 1;
				continue;
			}
		}
		bl_buf_addc(&b, *s++);
	}
	return bl_buf_take(&b);
}

/* A recipient address field's address: no type, no angle brackets around it. */
static char *recipient_value(const char *v)
{
	char *type;
	char *a = after_type(v, &type);
	size_t n = strlen(a);
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		memmove(a, a + 1, n - 2);
		a[n - 2] = 0;
		trim_in_place(a);
	}
	if (!strcmp(type, "utf-8") || !strcmp(type, "utf8")) {
		char *d = decode_unitext(a);
		free(a);
		a = d;
	}
	free(type);
	return a;
}

/* The first word of @v, lowercased (letters, digits, '-', '.'), malloc'd. */
static char *first_token(const char *v, int lower)
{
	size_t i = 0;
	while (v[i] && !is_wsp(v[i]) && v[i] != '(' && v[i] != ';' && v[i] != ',' && v[i] != '\n')
		i++;
	char *t = bl_xstrndup(v, i);
	if (lower)
		for (char *c = t; *c; c++)
			*c = g_ascii_tolower(*c);
	return t;
}

static char *lower_dup(const char *v)
{
	char *t = bl_xstrdup(v);
	for (char *c = t; *c; c++)
		*c = g_ascii_tolower(*c);
	return t;
}

static void set_once(char **slot, char *v)
{
	if (!*slot || !**slot) {
		free(*slot);
		*slot = v;
	} else {
		free(v);
	}
}

/* ---- RFC 3464 message/delivery-status ---------------------------------------- */

static void rcpt_free(struct bl_report_rcpt *r)
{
	free(r->final_recipient);
	free(r->original_recipient);
	free(r->action);
	free(r->status);
	free(r->diagnostic_type);
	free(r->diagnostic);
	free(r->remote_mta);
	free(r->last_attempt_date);
	memset(r, 0, sizeof *r);
}

/* Whether @r holds something that names or describes a recipient. */
static int rcpt_useful(const struct bl_report_rcpt *r)
{
	return r->final_recipient || r->original_recipient || r->action || r->status;
}

static void rcpt_push(struct bl_report_dsn *dsn, struct bl_report_rcpt *cur)
{
	if (!rcpt_useful(cur) || dsn->n_rcpts >= BL_REPORT_MAX_RCPTS) {
		rcpt_free(cur);
		return;
	}
	dsn->rcpts = bl_xreallocarray(dsn->rcpts, dsn->n_rcpts + 1, sizeof *dsn->rcpts);
	dsn->rcpts[dsn->n_rcpts++] = *cur;
	memset(cur, 0, sizeof *cur);
}

/* The slot of recipient field @f in @r. */
static char **rcpt_slot(struct bl_report_rcpt *r, enum dsn_field f)
{
	switch (f) {
	case DF_ORIG_RCPT:
		return &r->original_recipient;
	case DF_FINAL_RCPT:
		return &r->final_recipient;
	case DF_ACTION:
		return &r->action;
	case DF_STATUS:
		return &r->status;
	case DF_REMOTE_MTA:
		return &r->remote_mta;
	case DF_DIAG:
		return &r->diagnostic;
	case DF_LAST_ATTEMPT:
		return &r->last_attempt_date;
	default:
		return NULL;
	}
}

/*
 * Read the fields of a delivery-status body (RFC 3464 §2.1: per-message fields, then one block
 * per recipient) into @dsn, appending recipients. A new recipient starts at a recipient field
 * after a blank line or at a field the current one already has (a missing blank line).
 * @embedded: the fields came from a text part; reading stops at the first junk line or at a
 * block that does not open with an RFC 3464 field (the returned original's header after it).
 */
static void dsn_read(struct bl_report_dsn *dsn, const struct fields *f, int embedded)
{
	struct bl_report_rcpt cur = {0};
	int have_cur = 0;
	unsigned cur_block = 0, last_block = (unsigned)-1;
	int started = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct field *fl = &f->v[i];
		if (!fl->name) {
			if (embedded && started)
				break;
			continue;
		}
		enum dsn_field k = dsn_field_of(fl->name);
		if (embedded && fl->block != last_block && started && k == DF_NONE &&
		    g_ascii_strncasecmp(fl->name, "X-", 2))
			break;
		last_block = fl->block;
		if (k == DF_NONE)
			continue;
		started = 1;
		switch (k) {
		case DF_REPORTING_MTA:
			set_once(&dsn->reporting_mta, after_type(fl->value, NULL));
			continue;
		case DF_ARRIVAL:
			set_once(&dsn->arrival_date, bl_xstrdup(fl->value));
			continue;
		case DF_ENVID:
			set_once(&dsn->original_envid, bl_xstrdup(fl->value));
			continue;
		case DF_MSG_OTHER:
			continue;
		default:
			break;
		}
		char **slot = rcpt_slot(&cur, k);
		if (have_cur && (fl->block != cur_block || (slot && *slot))) {
			rcpt_push(dsn, &cur);
			have_cur = 0;
		}
		if (!have_cur) {
			have_cur = 1;
			cur_block = fl->block;
		}
		if (!slot)
			continue;
		switch (k) {
		case DF_ORIG_RCPT:
		case DF_FINAL_RCPT:
			*slot = recipient_value(fl->value);
			break;
		case DF_ACTION:
			*slot = first_token(fl->value, 1);
			break;
		case DF_STATUS:
			*slot = first_token(fl->value, 0);
			break;
		case DF_REMOTE_MTA:
			*slot = after_type(fl->value, NULL);
			break;
		case DF_DIAG:
			free(cur.diagnostic_type);
			*slot = after_type(fl->value, &cur.diagnostic_type);
			break;
		default:
			*slot = bl_xstrdup(fl->value);
			break;
		}
	}
	if (have_cur)
		rcpt_push(dsn, &cur);
	rcpt_free(&cur);
}

/* Parse the LF text @p (@n bytes, UTF-8) as a delivery-status body into @r. */
static size_t dsn_parse(struct bl_report *r, const char *p, size_t n, int embedded)
{
	struct fields f = {0};
	const struct scan sc = {1, 1, JOIN_SPACE, NULL, MAX_FIELDS};
	size_t before = r->dsn.n_rcpts;
	scan_fields(p, p + n, &sc, &f);
	dsn_read(&r->dsn, &f, embedded);
	fields_clear(&f);
	return r->dsn.n_rcpts - before;
}

/* Where the delivery-status fields start in text @s: the line of the first Final-Recipient or
 * Original-Recipient field, or a Reporting-MTA line before it. NULL when there is none or no
 * Action or Status line follows it. */
static const char *dsn_start(const char *s, size_t n)
{
	const char *end = s + n, *mta = NULL, *rcpt = NULL;
	for (const char *p = s; p < end;) {
		const char *e = line_end(p, end), *q = p;
		while (q < e && is_wsp(*q))
			q++;
		size_t nl = field_name_len(q, e);
		if (nl) {
			enum dsn_field k = dsn_field_of_n(q, nl);
			if (!rcpt && k == DF_REPORTING_MTA && !mta)
				mta = q;
			else if (!rcpt && (k == DF_FINAL_RCPT || k == DF_ORIG_RCPT))
				rcpt = q;
			else if (rcpt && (k == DF_ACTION || k == DF_STATUS))
				return mta ? mta : rcpt;
		}
		p = e < end ? e + 1 : end;
	}
	return NULL;
}

/* ---- RFC 5965 / RFC 6591 message/feedback-report -------------------------------- */

static void list_add(char ***list, size_t *n, const char *v)
{
	if (*n >= ARF_LIST_MAX)
		return;
	*list = bl_xreallocarray(*list, *n + 1, sizeof **list);
	(*list)[(*n)++] = bl_xstrdup(v);
}

/* An RFC 5322 date (RFC 5965 §3.1 Arrival-Date, RFC 6591 §3.1 Received-Date) as seconds since
 * the epoch, 0 when it does not parse. */
static int64_t arf_date(const char *v)
{
	char *u = bl_xstrdup(v);
	for (char *c = u; *c; c++)
		if (*c == '\n')
			*c = ' ';
	GDateTime *dt = g_mime_utils_header_decode_date(u);
	free(u);
	if (!dt)
		return 0;
	int64_t t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	return t;
}

static long arf_int(const char *v, long lo, long hi, long dflt)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (end == v || errno || x < lo || x > hi)
		return dflt;
	return x;
}

/* Read a message/feedback-report body (RFC 5965 §3.1 and §3.2, RFC 6591 §3.1) into @a. Values
 * keep their folding as LF + the continuation line (the arf-mail-auth convention); a single
 * field given twice keeps the first. */
static void arf_parse(struct bl_report_arf *a, const char *p, size_t n)
{
	struct fields f = {0};
	const struct scan sc = {1, 0, JOIN_KEEP, NULL, MAX_FIELDS};
	scan_fields(p, p + n, &sc, &f);
	a->present = 1;
	for (size_t i = 0; i < f.n; i++) {
		const char *name = f.v[i].name, *v = f.v[i].value;
		if (!name)
			continue;
#define IS(s) (!strcasecmp(name, s))
		if (IS("Feedback-Type"))
			set_once(&a->feedback_type, lower_dup(v));
		else if (IS("User-Agent"))
			set_once(&a->user_agent, bl_xstrdup(v));
		else if (IS("Version"))
			set_once(&a->version, bl_xstrdup(v));
		else if (IS("Original-Mail-From"))
			set_once(&a->original_mail_from, bl_xstrdup(v));
		else if (IS("Original-Rcpt-To"))
			set_once(&a->original_rcpt_to, bl_xstrdup(v));
		else if (IS("Original-Envelope-Id"))
			set_once(&a->original_envelope_id, bl_xstrdup(v));
		else if (IS("Reporting-MTA"))
			set_once(&a->reporting_mta, after_type(v, NULL));
		else if (IS("Source-IP")) {
			char *ip = bl_xstrdup(v);
			char *c = strchr(ip, '(');
			if (c)
				*c = 0;
			trim_in_place(ip);
			set_once(&a->source_ip, ip);
		} else if (IS("Source-Port")) {
			if (!a->source_port)
				a->source_port = (int)arf_int(v, 0, 65535, 0);
		} else if (IS("Arrival-Date") || IS("Received-Date")) {
			if (!a->arrival_date)
				a->arrival_date = arf_date(v);
		} else if (IS("Incidents")) {
			a->incidents = (int)arf_int(v, 0, INT_MAX, 1);
		} else if (IS("Auth-Failure"))
			set_once(&a->auth_failure, lower_dup(v));
		else if (IS("Delivery-Result"))
			set_once(&a->delivery_result, lower_dup(v));
		else if (IS("Identity-Alignment"))
			set_once(&a->identity_alignment, lower_dup(v));
		else if (IS("DKIM-Domain"))
			set_once(&a->dkim_domain, bl_xstrdup(v));
		else if (IS("DKIM-Identity"))
			set_once(&a->dkim_identity, bl_xstrdup(v));
		else if (IS("DKIM-Selector"))
			set_once(&a->dkim_selector, bl_xstrdup(v));
		else if (IS("DKIM-Canonicalized-Header"))
			set_once(&a->dkim_canonicalized_header, bl_xstrdup(v));
		else if (IS("DKIM-Canonicalized-Body"))
			set_once(&a->dkim_canonicalized_body, bl_xstrdup(v));
		else if (IS("SPF-DNS"))
			set_once(&a->spf_dns, bl_xstrdup(v));
		else if (IS("Reported-Domain"))
			list_add(&a->reported_domain, &a->n_reported_domain, v);
		else if (IS("Reported-URI"))
			list_add(&a->reported_uri, &a->n_reported_uri, v);
		else if (IS("Authentication-Results"))
			list_add(&a->authentication_results, &a->n_authentication_results, v);
#undef IS
	}
	fields_clear(&f);
}

/* ---- HTML ------------------------------------------------------------------- */

/*
 * The text of an HTML part, for the bounce heuristics only (src/bounce reads it for
 * addresses and status phrases; nobody sees it): tags dropped, script, style and comments
 * dropped with their content, <br> and block ends become line breaks, character references
 * decoded. libxml2 belongs to src/feed and src/mime may not depend on it (DESIGN.md), so this
 * is a deliberately small scanner, not an HTML parser.
 */
static char *html_to_text(const char *s, size_t n)
{
	static const char *const blocks[] = {"br",    "p",  "div", "tr",         "li",
	                                     "table", "h1", "h2",  "h3",         "h4",
	                                     "h5",    "h6", "pre", "blockquote", "hr"};
	struct bl_buf b;
	bl_buf_init(&b, 0);
	const char *end = s + n;
	int space = 1, nl = 2;
	for (const char *p = s; p < end;) {
		if (*p == '<') {
			if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
				const char *c = g_strstr_len(p + 4, end - p - 4, "-->");
				p = c ? c + 3 : end;
				continue;
			}
			const char *q = p + 1;
			int closing = q < end && *q == '/';
			if (closing)
				q++;
			const char *nm = q;
			while (q < end && g_ascii_isalnum(*q))
				q++;
			size_t nlen = (size_t)(q - nm);
			if (!nlen && !closing && !(q < end && (*q == '!' || *q == '?'))) {
				bl_buf_addc(&b, '<'); /* a lone '<' is text */
				space = nl = 0;
				p++;
				continue;
			}
			/* skip to the tag's end, over quoted attribute values */
			char quote = 0;
			while (q < end && (quote || *q != '>')) {
				if (quote && *q == quote)
					quote = 0;
				else if (!quote && (*q == '"' || *q == '\''))
					quote = *q;
				q++;
			}
			p = q < end ? q + 1 : end;
			if (!closing && ((nlen == 6 && !g_ascii_strncasecmp(nm, "script", 6)) ||
			                 (nlen == 5 && !g_ascii_strncasecmp(nm, "style", 5)))) {
				const char *c = p;
				while (c < end) {
					c = memchr(c, '<', (size_t)(end - c));
					if (!c)
						break;
					if (end - c >= (ptrdiff_t)(nlen + 2) && c[1] == '/' &&
					    !g_ascii_strncasecmp(c + 2, nm, nlen))
						break;
					c++;
				}
				p = c ? c : end;
				continue;
			}
			for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
				if (strlen(blocks[i]) == nlen &&
				    !g_ascii_strncasecmp(nm, blocks[i], nlen)) {
					while (b.len && b.data[b.len - 1] == ' ')
						b.data[--b.len] = 0;
					if (nl < 2) {
						bl_buf_addc(&b, '\n');
						nl++;
					}
					space = 1;
					break;
				}
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') {
			if (!space) {
				bl_buf_addc(&b, ' ');
				space = 1;
			}
			p++;
			continue;
		}
		if (*p == '&') {
			const char *q = p + 1;
			uint32_t cp = 0;
			size_t k = 0;
			if (q < end && *q == '#') {
				int hex = q + 1 < end && (q[1] == 'x' || q[1] == 'X');
				q += hex ? 2 : 1;
				while (q < end && k < 8 &&
				       (hex ? g_ascii_isxdigit(*q) : g_ascii_isdigit(*q))) {
					cp = cp * (hex ? 16 : 10) +
					     (uint32_t)(hex ? g_ascii_xdigit_value(*q) : *q - '0');
					q++, k++;
				}
				if (!k)
					cp = 0;
				else if (!cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
					cp = 0xFFFD;
			} else {
				static const struct {
					const char *name;
					uint32_t cp;
				} ents[] = {{"amp", '&'},  {"lt", '<'},    {"gt", '>'},
				            {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '}};
				for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
					size_t l = strlen(ents[i].name);
					if ((size_t)(end - q) >= l && !memcmp(q, ents[i].name, l)) {
						cp = ents[i].cp;
						q += l;
						break;
					}
				}
			}
			if (cp) {
				if (q < end && *q == ';')
					q++;
				char u[4];
				size_t m = bl_utf8_encode(cp, u);
				bl_buf_add(&b, u, m);
				space = cp == ' ';
				nl = 0;
				p = q;
				continue;
			}
		}
		bl_buf_addc(&b, *p++);
		space = nl = 0;
	}
	char *t = bl_buf_take(&b);
	trim_in_place(t);
	return t;
}

/* ---- the MIME walk --------------------------------------------------------------- */

struct walk {
	struct bl_report *r;
	struct bl_buf text; /* text/plain parts, "\n" between them */
	struct bl_buf html; /* text of text/html parts, used when there is no text/plain */
	int n_plain, have_orig;
	size_t parts;
	char *dsn_text; /* a text part holding delivery-status fields, read when no DSN part is */
};

static void add_text(struct bl_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (!n)
		return;
	if (b->len)
		add_capped(b, "\n", 1, BL_REPORT_MAX_TEXT);
	add_capped(b, s, n, BL_REPORT_MAX_TEXT);
}

/* The content of leaf @part, transfer-decoded, LF line ends, malloc'd; length in *@n. */
static char *part_bytes(GMimePart *part, size_t *n)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	*n = 0;
	if (!w)
		return bl_xstrdup("");
	GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
	GMimeStream *src = g_mime_data_wrapper_get_stream(w); /* borrowed (GMime 3) */
	if (src && enc != GMIME_CONTENT_ENCODING_BASE64 &&
	    enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
	    enc != GMIME_CONTENT_ENCODING_UUENCODE) {
		/* No transfer decoding: the bytes are the report's own, LF line ends already
		 * (bl_report_parse normalised them). Read them as they are, as
		 * g_mime_data_wrapper_write_to_stream would copy them, without the stream and
		 * the copies in between. */
		gint64 len = g_mime_stream_length(src);
		size_t cap = len > 0 ? (size_t)len : 0, k = 0;
		char *r = bl_xmalloc(cap + 1);
		g_mime_stream_reset(src);
		for (;;) {
			if (k == cap) {
				cap = cap ? 2 * cap : 4096;
				r = bl_xrealloc(r, cap + 1);
			}
			ssize_t got = g_mime_stream_read(src, r + k, cap - k);
			if (got <= 0)
				break;
			k += (size_t)got;
		}
		g_mime_stream_reset(src);
		r[k] = 0;
		*n = k;
		return r;
	}
	GMimeStream *ms = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, ms);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	char *r = normalise_eol(ba && ba->len ? (const char *)ba->data : "", ba ? ba->len : 0, n);
	g_object_unref(ms);
	return r;
}

/* The content of @part as UTF-8 (its charset parameter, else UTF-8 or windows-1252). */
static char *part_text(GMimePart *part, const char *force_charset)
{
	size_t n;
	char *raw = part_bytes(part, &n);
	const char *cs =
	    force_charset ? force_charset
	                  : g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	char *t = to_utf8(raw, n, cs);
	free(raw);
	return t;
}

/* Whether text @s opens with a header block naming a message (a returned original pasted
 * into an attachment): its first line is a field, and it has From, To, Subject, Date,
 * Message-ID, Received or Return-Path among its first fields. */
static int looks_like_message(const char *s)
{
	const char *end = s + strlen(s), *p = s;
	while (p < end && line_blank(p, line_end(p, end)))
		p = line_end(p, end) + (line_end(p, end) < end);
	for (int i = 0; i < 20 && p < end; i++) {
		const char *e = line_end(p, end);
		if (line_blank(p, e))
			break;
		size_t nl = field_name_len(p, e);
		if (!nl && !is_wsp(*p))
			return 0;
		static const char *const names[] = {"From",       "To",       "Subject",    "Date",
		                                    "Message-ID", "Received", "Return-Path"};
		for (size_t k = 0; nl && k < sizeof names / sizeof names[0]; k++)
			if (strlen(names[k]) == nl && !g_ascii_strncasecmp(p, names[k], nl))
				return 1;
		p = e < end ? e + 1 : end;
	}
	return 0;
}

static void set_original(struct walk *w, const char *p, size_t n, int complete)
{
	if (w->have_orig)
		return;
	struct bl_buf b;
	bl_buf_init(&b, 0);
	header_block_text(p, n, &b);
	if (!b.len) {
		bl_buf_finish(&b);
		return;
	}
	free(w->r->original_headers);
	w->r->original_headers = bl_buf_take(&b);
	w->r->original_complete = complete;
	w->have_orig = 1;
}

static char *lower_type(GMimeObject *o)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *s = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	char *v = g_strdup_printf("%s/%s", t ? t : "text", s ? s : "plain");
	char *u = to_utf8(v, strlen(v), NULL);
	g_free(v);
	for (char *c = u; *c; c++)
		*c = g_ascii_tolower(*c);
	return u;
}

static void walk(struct walk *w, GMimeObject *o, int depth, int report_child);
static void leaf_text(struct walk *w, const char *t, size_t n, const char *disp, int report_child);

static void walk_leaf(struct walk *w, GMimePart *part, const char *type, int depth,
                      int report_child)
{
	struct bl_report *r = w->r;
	GMimeObject *o = GMIME_OBJECT(part);
	if (!strcmp(type, "message/delivery-status") ||
	    !strcmp(type, "message/global-delivery-status")) {
		int global = !strcmp(type, "message/global-delivery-status");
		char *t = part_text(part, global ? "utf-8" : NULL);
		dsn_parse(r, t, strlen(t), 0);
		r->has_dsn = 1;
		free(t);
		return;
	}
	if (!strcmp(type, "message/feedback-report")) {
		if (!r->arf.present) {
			char *t = part_text(part, NULL);
			arf_parse(&r->arf, t, strlen(t));
			free(t);
		}
		return;
	}
	if (!strcmp(type, "text/rfc822-headers") || !strcmp(type, "message/global-headers") ||
	    !strcmp(type, "message/rfc822-headers") || !strcmp(type, "message/rfc822") ||
	    !strcmp(type, "message/global")) {
		int complete =
		    !strncmp(type, "message/rfc822", 15) || !strcmp(type, "message/global");
		char *t = part_text(part, NULL);
		set_original(w, t, strlen(t), complete);
		free(t);
		return;
	}
	int plain = !strcmp(type, "text/plain") || !strcmp(type, "text/plain-text");
	int html = !strcmp(type, "text/html");
	if (!plain && !html && depth > 0)
		return; /* attachments; a single-part message's body is its text whatever its type
		         */
	char *t = part_text(part, NULL);
	if (html) {
		char *h = html_to_text(t, strlen(t));
		add_text(&w->html, h);
		free(h);
		free(t);
		return;
	}
	const char *disp = g_mime_object_get_disposition(o);
	leaf_text(w, t, strlen(t), disp, report_child);
	free(t);
}

/* A text/plain body @t (UTF-8) outside the returned original: the text, a delivery-status
 * block in it, or a returned original pasted into an attachment. */
static void leaf_text(struct walk *w, const char *t, size_t n, const char *disp, int report_child)
{
	struct bl_report *r = w->r;
	const char *ds = dsn_start(t, n);
	if (report_child > 0 && ds && dsn_parse(r, ds, strlen(ds), 1)) {
		/* the machine-readable part of a multipart/report, mislabelled as text */
		r->has_dsn = 1;
	} else if (disp && !g_ascii_strcasecmp(disp, "attachment") && looks_like_message(t)) {
		set_original(w, t, strlen(t), 1);
	} else {
		add_text(&w->text, t);
		w->n_plain++;
		if (ds && !w->dsn_text)
			w->dsn_text = bl_xstrdup(ds);
	}
}

static void walk(struct walk *w, GMimeObject *o, int depth, int report_child)
{
	if (!o || depth > MAX_DEPTH || w->parts >= MAX_PARTS)
		return;
	w->parts++;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		char *type = lower_type(o);
		int report = !strcmp(type, "multipart/report");
		free(type);
		if (report && !w->r->report_type) {
			const char *rt = g_mime_object_get_content_type_parameter(o, "report-type");
			if (rt) {
				w->r->report_type = to_utf8(rt, strlen(rt), NULL);
				for (char *c = w->r->report_type; *c; c++)
					*c = g_ascii_tolower(*c);
			}
		}
		int n = g_mime_multipart_get_count(mp);
		if (n == 0) {
			/* no boundary line came: what GMime saw is the prologue; read it as text */
			const char *pro = g_mime_multipart_get_prologue(mp);
			if (pro) {
				size_t plen;
				char *lf = normalise_eol(pro, strlen(pro), &plen);
				char *t = to_utf8(lf, plen, NULL);
				leaf_text(w, t, strlen(t), NULL, -1);
				free(t);
				free(lf);
			}
			return;
		}
		for (int i = 0; i < n && w->parts < MAX_PARTS; i++)
			walk(w, g_mime_multipart_get_part(mp, i), depth + 1, report ? i : -1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m && !w->have_orig) {
			char *h = g_mime_object_get_headers(GMIME_OBJECT(m), NULL);
			if (h)
				set_original(w, h, strlen(h), 1);
			g_free(h);
		}
		return;
	}
	if (GMIME_IS_PART(o)) {
		char *type = lower_type(o);
		walk_leaf(w, GMIME_PART(o), type, depth, report_child);
		free(type);
	}
}

/* ---- the report -------------------------------------------------------------------- */

/* The offset of the header block in @s: after leading blank lines and an mbox "From " line. */
static size_t header_start(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	int from_seen = 0;
	while (p < end) {
		const char *e = line_end(p, end);
		if (line_blank(p, e) ||
		    (!from_seen && e - p >= 5 && !memcmp(p, "From ", 5) && !field_name_len(p, e))) {
			from_seen |= !line_blank(p, e);
			p = e < end ? e + 1 : end;
			continue;
		}
		break;
	}
	return (size_t)(p - s);
}

/*
 * GMime keeps every header field and every part it meets (some 150 bytes a field, 2 KB a part:
 * 16 MB of one-line fields or empty parts cost it 500 MB). The bytes it is given are bounded
 * here: a header block of more than MAX_GMIME_FIELDS lines loses the lines after that (the
 * body is moved up behind them, in place), and the input ends before its (MAX_PARTS * 4)-th
 * line that starts with "--" (a multipart that long is cut; nothing after it is read).
 * @s: the message from its header block, *@np bytes; *@bodyp: the offset of its body (both
 * updated when the header block is cut). Returns the bytes to parse.
 */
static size_t gmime_bound(char *s, size_t *np, size_t *bodyp)
{
	size_t n = *np, body = *bodyp;
	const char *p = s, *end = s + n;
	size_t lines = 0;
	while (p < s + body) {
		const char *e = line_end(p, end);
		if (++lines > MAX_GMIME_FIELDS) {
			/* keep the blank line that ends the header block */
			size_t cut = (size_t)(p - s), from = body > 0 ? body - 1 : body;
			while (from > cut && s[from - 1] != '\n')
				from--;
			memmove(s + cut, s + from, n - from);
			n -= from - cut;
			body = cut;
			end = s + n;
			*np = n;
			*bodyp = body;
			break;
		}
		p = e < end ? e + 1 : end;
	}
	size_t dashes = 0;
	for (p = s + body; p < end;) {
		const char *e = line_end(p, end);
		if (e - p >= 2 && p[0] == '-' && p[1] == '-' && ++dashes >= (size_t)MAX_PARTS * 4)
			return (size_t)(p - s);
		p = e < end ? e + 1 : end;
	}
	return n;
}

/* A field GMime needs to see in the top-level header: Content-* and MIME-Version. */
static int mime_field(const char *p, size_t nl)
{
	return (nl > 8 && !g_ascii_strncasecmp(p, "Content-", 8)) ||
	       (nl == 12 && !g_ascii_strncasecmp(p, "MIME-Version", 12));
}

/*
 * The top-level header is read here (scan_fields); GMime needs only its MIME fields. Parsing
 * the others again (every address of From, To and Cc into objects, the date, an object per
 * field) was a third of GMime's time, so they are dropped before GMime sees the bytes: from
 * the start of the header, every field that is well-formed ("Name:" with printable ASCII
 * name characters and no space before the colon, no control character in it) and not a MIME
 * field goes with its continuation lines. At the first other line (a blank one ending the
 * header, a space-only line, junk) the rest is kept as it is, so that where GMime ends the
 * header and what it makes of the MIME fields do not change.
 * @s: *@np bytes, the header block at 0 and the body at *@bodyp; *@gmp: the bytes GMime is
 * given (gmime_bound). All three are updated; the bytes move up in place.
 */
static void drop_plain_fields(char *s, size_t *np, size_t *bodyp, size_t *gmp)
{
	size_t n = *np, r = 0, w = 0;
	int keep = 1; /* the field the current continuation lines belong to is kept */
	while (r < *bodyp) {
		const char *p = s + r, *e = line_end(p, s + n);
		size_t ll = (size_t)(e - p), next = r + ll + (e < s + n);
		int ok = ll > 0;
		for (size_t i = 0; ok && i < ll; i++)
			ok = (unsigned char)p[i] >= 0x20 || p[i] == '\t';
		if (ok && is_wsp(*p)) {
			ok = !line_blank(p, e); /* a continuation of the field before */
		} else if (ok) {
			size_t nl = 0;
			while (nl < ll && (unsigned char)p[nl] > 32 && (unsigned char)p[nl] < 127 &&
			       p[nl] != ':')
				nl++;
			ok = nl > 0 && nl < ll && p[nl] == ':';
			if (ok)
				keep = mime_field(p, nl);
		}
		if (!ok)
			break;
		if (keep) {
			memmove(s + w, p, next - r);
			w += next - r;
		}
		r = next;
	}
	if (r == w)
		return;
	memmove(s + w, s + r, n - r);
	size_t gone = r - w;
	*np = n - gone;
	*bodyp -= gone;
	*gmp -= gone;
	s[*np] = 0;
}

static char *decode_header_value(const char *v)
{
	if (!strstr(v, "=?"))
		return bl_xstrdup(v);
	char *d = g_mime_utils_header_decode_text(NULL, v);
	char *u = to_utf8(d ? d : v, strlen(d ? d : v), NULL);
	g_free(d);
	trim_in_place(u);
	return u;
}

static void fill(char **s)
{
	if (!*s)
		*s = bl_xstrdup("");
}

/* Make every string of @r non-NULL. */
static void fill_all(struct bl_report *r)
{
	fill(&r->content_type);
	fill(&r->report_type);
	fill(&r->text);
	fill(&r->original_headers);
	fill(&r->dsn.reporting_mta);
	fill(&r->dsn.arrival_date);
	fill(&r->dsn.original_envid);
	for (size_t i = 0; i < r->dsn.n_rcpts; i++) {
		struct bl_report_rcpt *x = &r->dsn.rcpts[i];
		fill(&x->final_recipient);
		fill(&x->original_recipient);
		fill(&x->action);
		fill(&x->status);
		fill(&x->diagnostic_type);
		fill(&x->diagnostic);
		fill(&x->remote_mta);
		fill(&x->last_attempt_date);
	}
	struct bl_report_arf *a = &r->arf;
	char **arf_strings[] = {&a->feedback_type,
	                        &a->user_agent,
	                        &a->version,
	                        &a->original_mail_from,
	                        &a->original_rcpt_to,
	                        &a->original_envelope_id,
	                        &a->reporting_mta,
	                        &a->source_ip,
	                        &a->auth_failure,
	                        &a->delivery_result,
	                        &a->identity_alignment,
	                        &a->dkim_domain,
	                        &a->dkim_identity,
	                        &a->dkim_selector,
	                        &a->dkim_canonicalized_header,
	                        &a->dkim_canonicalized_body,
	                        &a->spf_dns};
	for (size_t i = 0; i < sizeof arf_strings / sizeof arf_strings[0]; i++)
		fill(arf_strings[i]);
}

int bl_report_parse(const char *data, size_t len, struct bl_report *out, struct bl_diag *d)
{
	memset(out, 0, sizeof *out);
	if (len > BL_REPORT_MAX_BYTES)
		return bl_diag_set(d, BL_ELIMIT,
		                   "the report is %zu bytes, more than the %zu accepted", len,
		                   BL_REPORT_MAX_BYTES);
	if (!data || !len)
		return bl_diag_set(d, BL_EINVAL, "the report is empty");
	size_t n;
	char *buf = normalise_eol(data, len, &n);
	size_t start = header_start(buf, n);
	const char *hp = buf + start, *end = buf + n;
	if (hp >= end || !field_name_len(hp, line_end(hp, end))) {
		free(buf);
		return bl_diag_set(d, BL_EINVAL,
		                   "the report has no header block (its first line is no header "
		                   "field)");
	}
	bl_mime_init();
	struct bl_report *r = out;
	r->arf.incidents = 1;

	/* the top-level header, read here: names as written, RFC 2047 decoded */
	struct fields hf = {0};
	const struct scan sc = {0, 0, JOIN_UNFOLD, NULL, MAX_HEADERS};
	size_t body = scan_fields(hp, end, &sc, &hf);
	r->headers = bl_xcalloc(hf.n ? hf.n : 1, sizeof *r->headers);
	for (size_t i = 0; i < hf.n; i++) {
		if (!hf.v[i].name)
			continue;
		struct bl_report_field *x = &r->headers[r->n_headers++];
		x->name = hf.v[i].name;
		hf.v[i].name = NULL;
		x->value = decode_header_value(hf.v[i].value);
	}
	fields_clear(&hf);

	struct walk w = {.r = r};
	bl_buf_init(&w.text, BL_REPORT_MAX_TEXT + 1);
	bl_buf_init(&w.html, BL_REPORT_MAX_TEXT + 1);
	size_t hn = (size_t)(end - hp);
	size_t gm_len = gmime_bound(buf + start, &hn, &body);
	drop_plain_fields(buf + start, &hn, &body, &gm_len);
	end = hp + hn;
	GMimeStream *ms = g_mime_stream_mem_new_with_buffer(hp, gm_len);
	GMimeParser *parser = g_mime_parser_new_with_stream(ms);
	/* the top-level entity as a part: no GMimeMessage (its six address lists and header
	 * list) around it, as nothing here reads the message-level fields from GMime */
	GMimeObject *top = g_mime_parser_construct_part(parser, NULL);
	if (top) {
		r->content_type = lower_type(top);
		walk(&w, top, 0, -1);
	} else {
		r->content_type = bl_xstrdup("text/plain");
		char *t = to_utf8(hp + body, (size_t)(end - hp - body), NULL);
		add_text(&w.text, t);
		w.n_plain++;
		w.dsn_text = bl_xstrdup(dsn_start(t, strlen(t)) ? dsn_start(t, strlen(t)) : "");
		free(t);
	}
	if (top)
		g_object_unref(top);
	g_object_unref(parser);
	g_object_unref(ms);
	free(buf);

	if (!r->has_dsn && w.dsn_text && *w.dsn_text &&
	    dsn_parse(r, w.dsn_text, strlen(w.dsn_text), 1))
		r->has_dsn = 1;
	free(w.dsn_text);
	r->text = bl_buf_take(w.n_plain ? &w.text : &w.html);
	bl_buf_finish(&w.text);
	bl_buf_finish(&w.html);
	fill_all(r);
	return 0;
}

void bl_report_clear(struct bl_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->content_type);
	free(r->report_type);
	free(r->dsn.reporting_mta);
	free(r->dsn.arrival_date);
	free(r->dsn.original_envid);
	for (size_t i = 0; i < r->dsn.n_rcpts; i++)
		rcpt_free(&r->dsn.rcpts[i]);
	free(r->dsn.rcpts);
	struct bl_report_arf *a = &r->arf;
	char *arf_strings[] = {a->feedback_type,
	                       a->user_agent,
	                       a->version,
	                       a->original_mail_from,
	                       a->original_rcpt_to,
	                       a->original_envelope_id,
	                       a->reporting_mta,
	                       a->source_ip,
	                       a->auth_failure,
	                       a->delivery_result,
	                       a->identity_alignment,
	                       a->dkim_domain,
	                       a->dkim_identity,
	                       a->dkim_selector,
	                       a->dkim_canonicalized_header,
	                       a->dkim_canonicalized_body,
	                       a->spf_dns};
	for (size_t i = 0; i < sizeof arf_strings / sizeof arf_strings[0]; i++)
		free(arf_strings[i]);
	for (size_t i = 0; i < a->n_reported_domain; i++)
		free(a->reported_domain[i]);
	free(a->reported_domain);
	for (size_t i = 0; i < a->n_reported_uri; i++)
		free(a->reported_uri[i]);
	free(a->reported_uri);
	for (size_t i = 0; i < a->n_authentication_results; i++)
		free(a->authentication_results[i]);
	free(a->authentication_results);
	free(r->text);
	free(r->original_headers);
	memset(r, 0, sizeof *r);
}

const char *bl_report_header(const struct bl_report *r, const char *name)
{
	for (size_t i = 0; r && name && i < r->n_headers; i++)
		if (!g_ascii_strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

char *bl_report_original_header(const struct bl_report *r, const char *name)
{
	if (!r || !name || !r->original_headers)
		return NULL;
	size_t nl = strlen(name);
	const char *p = r->original_headers, *end = p + strlen(p);
	while (p < end) {
		const char *e = line_end(p, end);
		size_t fl = field_name_len(p, e);
		if (fl == nl && !g_ascii_strncasecmp(p, name, nl)) {
			const char *colon = memchr(p + fl, ':', (size_t)(e - p - fl));
			char *v = bl_xstrndup(colon + 1, (size_t)(e - colon - 1));
			trim_in_place(v);
			return v;
		}
		p = e < end ? e + 1 : end;
	}
	return NULL;
}
