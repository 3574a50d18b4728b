/*
 * Markdown to an HTML and a plain-text template; see markdown.h. cmark
 * parses in safe mode and renders the HTML; the text is our own walk of the
 * same tree. Mustache tags are protected for the whole trip: before parsing,
 * each distinct tag becomes an inert placeholder (a digit, nine letters
 * that occur nowhere in the input, six digits of tag number), which cmark
 * never escapes, percent-encodes or splits; after rendering, placeholders
 * become the tags' original bytes again. So a tag is always a tag, in code
 * too (a backslash does not escape it), and Markdown sees it as a word: it
 * is no HTML tag name after "<", and link labels match it byte for byte.
 * A paragraph made only of section, comment, partial or delimiter tags
 * (one per line) is emitted bare, so that Mustache finds standalone tags
 * and removes their lines instead of leaving an empty <p></p>.
 * Each output is bounded (OUT_MAX): inputs that expand past it (a long tag
 * behind thousands of link references) fail with -BL_ELIMIT.
 */
#include "render/markdown.h"

#include <cmark.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define PH_PREFIX 10 /* placeholder: one digit and nine letters ... */
#define PH_DIGITS 6  /* ... then the tag number */
#define PH_LEN    (PH_PREFIX + PH_DIGITS)
#define PH_MAX    999999 /* distinct tags; 1 MiB of input holds fewer than 350000 */

#define OUT_MAX        ((size_t)16 << 20) /* bytes of each output */
#define TEXT_WIDTH     72                 /* columns of wrapped text */
#define TEXT_MIN_WIDTH 20                 /* narrowest column left inside quotes/lists */
#define MAX_FRAMES     16                 /* nesting levels that still indent the text */

/* ---- a set of byte strings, numbered in order of first appearance ------ */

struct strtab {
	struct entry {
		const char *s;
		size_t len;
	} * items;
	size_t n, cap;
	size_t *slots; /* item index + 1; 0 is empty */
	size_t nslots; /* a power of two */
	int owns;      /* the strings are copies to free */
};

static uint64_t hash_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 1099511628211u;
	}
	return h;
}

static void strtab_finish(struct strtab *t)
{
	if (t->owns)
		for (size_t i = 0; i < t->n; i++)
			free((char *)t->items[i].s);
	free(t->items);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static void strtab_rehash(struct strtab *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 64;
	size_t *slots = bl_xcalloc(nslots, sizeof(*slots));
	for (size_t i = 0; i < t->n; i++) {
		size_t h = (size_t)hash_bytes(t->items[i].s, t->items[i].len) & (nslots - 1);
		while (slots[h])
			h = (h + 1) & (nslots - 1);
		slots[h] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
}

/* The number of @s (@len bytes), adding it (a copy when the table owns its strings). */
static size_t strtab_intern(struct strtab *t, const char *s, size_t len)
{
	if (2 * (t->n + 1) > t->nslots)
		strtab_rehash(t);
	size_t h = (size_t)hash_bytes(s, len) & (t->nslots - 1);
	while (t->slots[h]) {
		const struct entry *e = &t->items[t->slots[h] - 1];
		if (e->len == len && memcmp(e->s, s, len) == 0)
			return t->slots[h] - 1;
		h = (h + 1) & (t->nslots - 1);
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->items = bl_xrealloc(t->items, t->cap * sizeof(*t->items));
	}
	t->items[t->n].s = t->owns ? bl_xstrndup(s, len) : s;
	t->items[t->n].len = len;
	t->slots[h] = t->n + 1;
	return t->n++;
}

/* ---- Mustache tag protection ------------------------------------------ */

struct protect {
	char prefix[PH_PREFIX];
	struct strtab tags;        /* each distinct tag, its bytes in the input */
	unsigned char *standalone; /* per tag: a section/comment/partial/delimiter tag */
	size_t standalone_cap;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Position of @needle (@nlen bytes) in @s[from, len), or len. */
static size_t find(const char *s, size_t len, size_t from, const char *needle, size_t nlen)
{
	if (nlen == 0 || len < nlen)
		return len;
	for (size_t i = from; i + nlen <= len; i++) {
		const char *p = memchr(s + i, needle[0], len - nlen + 1 - i);
		if (!p)
			return len;
		i = (size_t)(p - s);
		if (memcmp(p, needle, nlen) == 0)
			return i;
	}
	return len;
}

/*
 * find() that remembers its last answer: the first match at or after
 * @from is the remembered one while @from has not passed it. Keeps the tag
 * scan linear when many openers share one far-away closer (or none).
 */
struct memo {
	int valid;
	size_t from, at;
};

static size_t find_memo(struct memo *m, const char *s, size_t len, size_t from, const char *needle,
                        size_t nlen)
{
	if (!m->valid || from < m->from || from > m->at) {
		m->valid = 1;
		m->from = from;
		m->at = find(s, len, from, needle, nlen);
	}
	return m->at;
}

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/*
 * Choose a prefix that occurs nowhere in the input. It starts with a digit
 * so that "<" + placeholder is no HTML tag and "&" + placeholder no entity,
 * and continues with letters only, so it cannot overlap itself, a
 * neighbouring placeholder or the digits that follow it. Derived from the
 * input: the same Markdown renders the same way every time.
 */
static int choose_prefix(struct protect *p, const char *md, size_t len)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint64_t state = hash_bytes(md, len);
	for (int attempt = 0; attempt < 64; attempt++) {
		uint64_t r = splitmix(&state);
		p->prefix[0] = (char)('1' + r % 9);
		r = splitmix(&state);
		for (int i = 1; i < PH_PREFIX; i++) {
			p->prefix[i] = letters[r % 52];
			r /= 52;
		}
		if (find(md, len, 0, p->prefix, PH_PREFIX) == len)
			return 0;
	}
	return -BL_EINVAL; /* 64 misses in 52^9 choices: not a real input */
}

static void add_placeholder(struct bl_buf *b, const struct protect *p, size_t id)
{
	bl_buf_add(b, p->prefix, PH_PREFIX);
	char digits[PH_DIGITS + 1];
	for (int i = PH_DIGITS - 1; i >= 0; i--) {
		digits[i] = (char)('0' + id % 10);
		id /= 10;
	}
	bl_buf_add(b, digits, PH_DIGITS);
}

/* The tag number of a placeholder at @s (@len bytes available), or -1. */
static long placeholder_at(const struct protect *p, const char *s, size_t len)
{
	if (len < PH_LEN || memcmp(s, p->prefix, PH_PREFIX) != 0)
		return -1;
	long id = 0;
	for (int i = PH_PREFIX; i < PH_LEN; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		id = id * 10 + (s[i] - '0');
	}
	return (size_t)id < p->tags.n ? id : -1;
}

/* Parse the body of a set-delimiter tag "=OPEN CLOSE=" into @open/@close. */
static int set_delimiters(const char *s, size_t len, char *open, size_t *olen, char *close,
                          size_t *clen)
{
	while (len && is_space(*s))
		s++, len--;
	while (len && is_space(s[len - 1]))
		len--;
	if (len < 2 || s[0] != '=' || s[len - 1] != '=')
		return 0;
	s++, len -= 2;
	size_t i = 0;
	while (i < len && is_space(s[i]))
		i++;
	size_t a = i;
	while (i < len && !is_space(s[i]) && s[i] != '=')
		i++;
	size_t alen = i - a;
	while (i < len && is_space(s[i]))
		i++;
	size_t b = i;
	while (i < len && !is_space(s[i]) && s[i] != '=')
		i++;
	size_t blen = i - b;
	while (i < len && is_space(s[i]))
		i++;
	if (i != len || alen == 0 || blen == 0 || alen > 15 || blen > 15)
		return 0;
	memcpy(open, s + a, alen);
	*olen = alen;
	memcpy(close, s + b, blen);
	*clen = blen;
	return 1;
}

/*
 * Copy @md to @out with every Mustache tag replaced by its placeholder. A
 * tag runs from the opening delimiter to the first closing one on the same
 * line (a comment may span lines); "{{{" pairs with "}}}" while the
 * delimiters are the default; a set-delimiter tag changes the delimiters
 * for what follows, as it will when the template is rendered.
 */
static int protect_tags(struct protect *p, const char *md, size_t len, struct bl_buf *out,
                        struct bl_diag *d)
{
	char open[16] = "{{", close[16] = "}}";
	size_t olen = 2, clen = 2;
	size_t copied = 0, i = 0;
	struct memo m_open = {0}, m_close = {0}, m_triple = {0}, m_line = {0};
	while (i < len) {
		size_t start = find_memo(&m_open, md, len, i, open, olen);
		if (start == len)
			break;
		size_t body = start + olen, end = SIZE_MAX;
		int dflt = olen == 2 && clen == 2 && memcmp(open, "{{", 2) == 0 &&
		           memcmp(close, "}}", 2) == 0;
		size_t line_end = find_memo(&m_line, md, len, body, "\n", 1);
		if (dflt && body < len && md[body] == '{') {
			size_t c = find_memo(&m_triple, md, len, body + 1, "}}}", 3);
			if (c < line_end)
				end = c + 3;
		}
		if (end == SIZE_MAX) {
			size_t c = find_memo(&m_close, md, len, body, close, clen);
			if (c == len)
				break; /* nothing closes this opener, nor any later one */
			end = c + clen;
		}
		size_t k = body;
		while (k < len && (md[k] == ' ' || md[k] == '\t'))
			k++;
		char sigil = k < len ? md[k] : '\0';
		if (end > line_end && sigil != '!') {
			i = start + 1; /* not a tag: an unclosed or multi-line opener stays text */
			continue;
		}
		size_t id = strtab_intern(&p->tags, md + start, end - start);
		if (id > PH_MAX)
			return bl_diag_set(d, BL_ELIMIT, "more than %d distinct Mustache tags",
			                   PH_MAX + 1);
		if (id >= p->standalone_cap) {
			p->standalone_cap = p->standalone_cap ? 2 * p->standalone_cap : 64;
			p->standalone = bl_xrealloc(p->standalone, p->standalone_cap);
		}
		p->standalone[id] = sigil && strchr("#^/!>=$<", sigil) != NULL;
		if (sigil == '=' &&
		    set_delimiters(md + body, end - clen - body, open, &olen, close, &clen)) {
			m_open.valid = m_close.valid = 0;
		}
		bl_buf_add(out, md + copied, start - copied);
		add_placeholder(out, p, id);
		copied = i = end;
	}
	bl_buf_add(out, md + copied, len - copied);
	return 0;
}

/*
 * Append @s (@len bytes) to @out with each placeholder replaced by its tag.
 * When @mask is not NULL it receives one byte per byte appended: 1 inside a
 * tag (never a place to break a line), else 0. With @escape_url, bytes
 * outside tags that cannot stand in a plain-text URL are %-encoded.
 */
static void restore(const struct protect *p, const char *s, size_t len, struct bl_buf *out,
                    struct bl_buf *mask, int escape_url)
{
	size_t i = 0;
	while (i < len && !bl_buf_err(out)) {
		size_t j = i;
		long id = -1;
		if (p && p->tags.n) {
			for (j = i; j < len; j++) {
				if (s[j] == p->prefix[0] &&
				    (id = placeholder_at(p, s + j, len - j)) >= 0)
					break;
				if (escape_url && ((unsigned char)s[j] <= ' ' || s[j] == 0x7f))
					break;
			}
		} else if (escape_url) {
			while (j < len && (unsigned char)s[j] > ' ' && s[j] != 0x7f)
				j++;
		} else {
			j = len;
		}
		bl_buf_add(out, s + i, j - i);
		for (size_t k = i; mask && k < j; k++)
			bl_buf_addc(mask, 0);
		if (j == len)
			break;
		if (id >= 0) {
			const struct entry *e = &p->tags.items[id];
			bl_buf_add(out, e->s, e->len);
			for (size_t k = 0; mask && k < e->len; k++)
				bl_buf_addc(mask, 1);
			i = j + PH_LEN;
		} else {
			bl_buf_addf(out, "%%%02X", (unsigned char)s[j]);
			for (size_t k = 0; mask && k < 3; k++)
				bl_buf_addc(mask, 0);
			i = j + 1;
		}
	}
}

/* ---- standalone tag paragraphs ----------------------------------------- */

/*
 * A paragraph whose every line is exactly one section, comment, partial or
 * delimiter tag becomes a custom block holding those placeholders one per
 * line: cmark emits it without <p>, and the text walker without the blank
 * line after it, so each tag stands alone on its line for Mustache.
 */
static void unwrap_standalone(cmark_node *doc, const struct protect *p)
{
	cmark_node **found = NULL;
	size_t n = 0, cap = 0;
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_EXIT || cmark_node_get_type(node) != CMARK_NODE_PARAGRAPH)
			continue;
		int ok = 1, want_text = 1;
		for (cmark_node *c = cmark_node_first_child(node); c && ok;
		     c = cmark_node_next(c)) {
			cmark_node_type t = cmark_node_get_type(c);
			if (want_text && t == CMARK_NODE_TEXT) {
				const char *lit = cmark_node_get_literal(c);
				long id =
				    strlen(lit) == PH_LEN ? placeholder_at(p, lit, PH_LEN) : -1;
				ok = id >= 0 && p->standalone[id];
			} else if (!want_text && t == CMARK_NODE_SOFTBREAK) {
				ok = 1;
			} else {
				ok = 0;
			}
			want_text = !want_text;
		}
		if (!ok || want_text)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			found = bl_xrealloc(found, cap * sizeof(*found));
		}
		found[n++] = node;
	}
	cmark_iter_free(it);

	struct bl_buf lines;
	bl_buf_init(&lines, 0);
	for (size_t i = 0; i < n; i++) {
		bl_buf_reset(&lines);
		for (cmark_node *c = cmark_node_first_child(found[i]); c; c = cmark_node_next(c)) {
			if (cmark_node_get_type(c) == CMARK_NODE_TEXT)
				bl_buf_adds(&lines, cmark_node_get_literal(c));
			else
				bl_buf_addc(&lines, '\n');
		}
		cmark_node *block = cmark_node_new(CMARK_NODE_CUSTOM_BLOCK);
		cmark_node_set_on_enter(block, bl_buf_str(&lines));
		cmark_node_set_on_exit(block, "");
		cmark_node_replace(found[i], block);
		cmark_node_free(found[i]);
	}
	bl_buf_finish(&lines);
	free(found);
}

/* ---- plain text --------------------------------------------------------- */

/* A container that indents its lines: a block quote or a list item. */
struct frame {
	char first[16];    /* prefix of its first line ("- ", "12. ", "> ") */
	char rest[16];     /* prefix of the lines after ("  ", "    ", "> ") */
	int first_pending; /* its first line is still to come */
};

struct text {
	struct bl_buf out;
	struct bl_buf para, mask; /* the inlines of the current block; mask: 1 = no break */
	struct bl_buf line;
	struct frame frames[MAX_FRAMES];
	size_t depth;    /* frames in use */
	size_t overflow; /* containers nested deeper than MAX_FRAMES */
	int pending_blank;
	int image_depth;
	size_t link_start;
	struct strtab urls; /* link targets with tags restored: [N] is index + 1 */
	const struct protect *prot;
};

/* Columns taken by code point @cp in a fixed-width font (an approximation of UAX #11). */
static int cp_width(uint32_t cp)
{
	if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
	    (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
	    (cp >= 0xfe20 && cp <= 0xfe2f) || (cp >= 0xe0100 && cp <= 0xe01ef))
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
	    (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Columns a Mustache tag is counted as when wrapping: section, comment,
 * partial and delimiter tags render to nothing; a variable to something of
 * unknown length, counted as a short name. */
#define TAG_WIDTH 8

/*
 * Columns of @s (@len bytes) in a fixed-width font; with @mask (1 per byte
 * inside a restored Mustache tag), each tag counts as it will render
 * (TAG_WIDTH or nothing), not as its source.
 */
static size_t text_width_m(const char *s, const char *mask, size_t len)
{
	size_t w = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		if (mask && mask[i]) {
			size_t k = i;
			while (k < len && mask[k])
				k++;
			for (size_t j = i; j + 2 < k; j++) {
				if (s[j] != '{' || s[j + 1] != '{' || (j > i && s[j - 1] == '{'))
					continue;
				char sigil = s[j + 2] == '{' && j + 3 < k ? s[j + 3] : s[j + 2];
				if (!sigil || !strchr("#^/!>=<$", sigil))
					w += TAG_WIDTH;
			}
			i = k;
			continue;
		}
		size_t n = bl_utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0) {
			w++, i++;
			continue;
		}
		w += (size_t)cp_width(cp);
		i += n;
	}
	return w;
}

static void add_prefix(struct text *t, int blank)
{
	for (size_t i = 0; i < t->depth; i++) {
		const struct frame *f = &t->frames[i];
		if (blank && f->first_pending)
			continue; /* a container that has not started yet */
		bl_buf_adds(&t->out, f->first_pending ? f->first : f->rest);
	}
}

static void trim_line_end(struct text *t, size_t line_start)
{
	while (t->out.len > line_start && t->out.data[t->out.len - 1] == ' ')
		t->out.data[--t->out.len] = '\0';
}

/* Emit one line (@s may hold newlines only inside a tag) with the containers' prefixes. */
static void emit_line(struct text *t, const char *s, size_t len)
{
	if (t->pending_blank && t->out.len) {
		size_t start = t->out.len;
		add_prefix(t, 1);
		trim_line_end(t, start);
		bl_buf_addc(&t->out, '\n');
	}
	t->pending_blank = 0;
	size_t start = t->out.len;
	add_prefix(t, 0);
	bl_buf_add(&t->out, s, len);
	trim_line_end(t, start);
	bl_buf_addc(&t->out, '\n');
	for (size_t i = 0; i < t->depth; i++)
		t->frames[i].first_pending = 0;
}

static size_t wrap_width(const struct text *t)
{
	size_t w = 0;
	for (size_t i = 0; i < t->depth; i++)
		w += strlen(t->frames[i].rest);
	return w + TEXT_MIN_WIDTH > TEXT_WIDTH ? TEXT_MIN_WIDTH : TEXT_WIDTH - w;
}

/*
 * Emit the collected inlines, wrapped at the column width: lines break at
 * spaces outside tags; a hard break (an unmasked newline) always breaks; a
 * word wider than the column gets a line of its own. Returns the widest
 * line's width (for heading underlines).
 */
static size_t emit_wrapped(struct text *t)
{
	const char *s = bl_buf_str(&t->para);
	const char *m = bl_buf_str(&t->mask);
	size_t n = t->para.len, width = wrap_width(t), widest = 0;
	if (n == 0 || t->mask.len != n)
		return 0;
	size_t i = 0;
	for (;;) {
		size_t end = i;
		while (end < n && !(s[end] == '\n' && !m[end]))
			end++;
		bl_buf_reset(&t->line);
		size_t lw = 0, rlw = 0; /* the line's width as written, and as it will render */
		for (size_t j = i; j < end;) {
			while (j < end && s[j] == ' ' && !m[j])
				j++;
			if (j == end)
				break;
			size_t w0 = j;
			while (j < end && !(s[j] == ' ' && !m[j]))
				j++;
			size_t ww = text_width_m(s + w0, NULL, j - w0);
			size_t rw = text_width_m(s + w0, m + w0, j - w0);
			if (t->line.len && rlw + 1 + rw > width) {
				emit_line(t, t->line.data, t->line.len);
				widest = lw > widest ? lw : widest;
				bl_buf_reset(&t->line);
				lw = rlw = 0;
			}
			if (t->line.len) {
				bl_buf_addc(&t->line, ' ');
				lw++;
				rlw++;
			}
			bl_buf_add(&t->line, s + w0, j - w0);
			lw += ww;
			rlw += rw;
		}
		emit_line(t, bl_buf_str(&t->line), t->line.len);
		widest = lw > widest ? lw : widest;
		if (end >= n)
			break;
		i = end + 1;
	}
	return widest;
}

static void push_frame(struct text *t, const char *first, const char *rest)
{
	if (t->depth == MAX_FRAMES) {
		t->overflow++;
		return;
	}
	struct frame *f = &t->frames[t->depth++];
	snprintf(f->first, sizeof(f->first), "%s", first);
	snprintf(f->rest, sizeof(f->rest), "%s", rest);
	f->first_pending = 1;
}

static void pop_frame(struct text *t)
{
	if (t->overflow)
		t->overflow--;
	else if (t->depth)
		t->depth--;
}

/* Whether blocks around @n follow each other without a blank line (a tight list). */
static int is_tight(cmark_node *n)
{
	cmark_node *parent = cmark_node_parent(n);
	if (!parent)
		return 0;
	if (cmark_node_get_type(n) == CMARK_NODE_ITEM)
		return cmark_node_get_list_tight(parent);
	if (cmark_node_get_type(parent) == CMARK_NODE_ITEM)
		return cmark_node_get_list_tight(cmark_node_parent(parent));
	return 0;
}

/* cmark's safe-mode test (scanners.re, _scan_dangerous_url), mirrored. */
static int dangerous_url(const char *url)
{
	static const char *const safe_data[] = {"data:image/png", "data:image/gif",
	                                        "data:image/jpeg", "data:image/webp"};
	static const char *const bad[] = {"javascript:", "vbscript:", "file:", "data:"};
	for (size_t i = 0; i < sizeof(safe_data) / sizeof(safe_data[0]); i++)
		if (strncasecmp(url, safe_data[i], strlen(safe_data[i])) == 0)
			return 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strncasecmp(url, bad[i], strlen(bad[i])) == 0)
			return 1;
	return 0;
}

static void add_text(struct text *t, const char *s, size_t len, int nobreak)
{
	bl_buf_add(&t->para, s, len);
	for (size_t i = 0; i < len; i++)
		bl_buf_addc(&t->mask, (char)nobreak);
}

/*
 * Whether @link is an autolink (<https://...>, <me@example.com>): its one
 * child is the address itself, so the text already shows it.
 */
static int is_autolink(cmark_node *link, const char *url)
{
	cmark_node *c = cmark_node_first_child(link);
	if (!c || cmark_node_next(c) || cmark_node_get_type(c) != CMARK_NODE_TEXT)
		return 0;
	const char *lit = cmark_node_get_literal(c);
	return strcmp(lit, url) == 0 ||
	       (strncmp(url, "mailto:", 7) == 0 && strcmp(lit, url + 7) == 0);
}

/*
 * End of a link: " [N]" after its text, unless it is an autolink or unsafe.
 * Targets are numbered with their placeholders in: the same tags, the same
 * number, and a long tag is restored once, in the list at the end.
 */
static void finish_link(struct text *t, cmark_node *link)
{
	const char *url = cmark_node_get_url(link);
	if (t->image_depth || !url || !*url || dangerous_url(url) || is_autolink(link, url))
		return;
	size_t num = strtab_intern(&t->urls, url, strlen(url)) + 1;
	char ref[32];
	int n = snprintf(ref, sizeof(ref), "[%zu]", num);
	if (t->para.len > t->link_start)
		add_text(t, " ", 1, 1);
	add_text(t, ref, (size_t)n, 0);
}

static void emit_lines(struct text *t, const char *lit, const char *indent)
{
	bl_buf_reset(&t->para);
	bl_buf_reset(&t->mask);
	restore(t->prot, lit, strlen(lit), &t->para, &t->mask, 0);
	const char *s = bl_buf_str(&t->para), *m = bl_buf_str(&t->mask);
	size_t n = t->para.len;
	if (n && s[n - 1] == '\n' && !m[n - 1])
		n--;
	for (size_t i = 0; i <= n;) {
		size_t end = i;
		while (end < n && !(s[end] == '\n' && !m[end]))
			end++;
		bl_buf_reset(&t->line);
		if (end > i) {
			bl_buf_adds(&t->line, indent);
			bl_buf_add(&t->line, s + i, end - i);
		}
		emit_line(t, bl_buf_str(&t->line), t->line.len);
		i = end + 1;
	}
}

static void text_enter(struct text *t, cmark_node *node)
{
	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_BLOCK_QUOTE:
		push_frame(t, "> ", "> ");
		break;
	case CMARK_NODE_LIST:
		cmark_node_set_user_data(node, (void *)(intptr_t)cmark_node_get_list_start(node));
		break;
	case CMARK_NODE_ITEM: {
		cmark_node *list = cmark_node_parent(node);
		char first[16], rest[16];
		if (cmark_node_get_list_type(list) == CMARK_ORDERED_LIST) {
			intptr_t num = (intptr_t)cmark_node_get_user_data(list);
			cmark_node_set_user_data(list, (void *)(num + 1));
			int delim =
			    cmark_node_get_list_delim(list) == CMARK_PAREN_DELIM ? ')' : '.';
			int w = snprintf(first, sizeof(first), "%ld%c ", (long)num, delim);
			memset(rest, ' ', (size_t)w);
			rest[w] = '\0';
		} else {
			strcpy(first, "- ");
			strcpy(rest, "  ");
		}
		push_frame(t, first, rest);
		break;
	}
	case CMARK_NODE_PARAGRAPH:
	case CMARK_NODE_HEADING:
		bl_buf_reset(&t->para);
		bl_buf_reset(&t->mask);
		if (cmark_node_get_type(node) == CMARK_NODE_HEADING) {
			int level = cmark_node_get_heading_level(node);
			if (level > 2) {
				add_text(t, "######", (size_t)level, 0);
				add_text(t, " ", 1, 0);
			}
		}
		break;
	case CMARK_NODE_CODE_BLOCK:
		emit_lines(t, cmark_node_get_literal(node), "    ");
		t->pending_blank = !is_tight(node);
		break;
	case CMARK_NODE_THEMATIC_BREAK:
		emit_line(t, "* * *", 5);
		t->pending_blank = !is_tight(node);
		break;
	case CMARK_NODE_CUSTOM_BLOCK: /* standalone tags, one per line */
		emit_lines(t, cmark_node_get_on_enter(node), "");
		break;
	case CMARK_NODE_TEXT:
	case CMARK_NODE_CODE: {
		const char *lit = cmark_node_get_literal(node);
		restore(t->prot, lit, strlen(lit), &t->para, &t->mask, 0);
		break;
	}
	case CMARK_NODE_SOFTBREAK:
		add_text(t, " ", 1, 0);
		break;
	case CMARK_NODE_LINEBREAK:
		add_text(t, "\n", 1, 0);
		break;
	case CMARK_NODE_LINK:
		t->link_start = t->para.len;
		break;
	case CMARK_NODE_IMAGE:
		t->image_depth++;
		break;
	default: /* document, emphasis, raw HTML (dropped in safe mode) */
		break;
	}
}

static void text_exit(struct text *t, cmark_node *node)
{
	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_BLOCK_QUOTE:
	case CMARK_NODE_ITEM:
		pop_frame(t);
		t->pending_blank = !is_tight(node);
		break;
	case CMARK_NODE_LIST:
		t->pending_blank = !is_tight(node);
		break;
	case CMARK_NODE_PARAGRAPH:
		emit_wrapped(t);
		t->pending_blank = !is_tight(node);
		break;
	case CMARK_NODE_HEADING: {
		size_t w = emit_wrapped(t);
		int level = cmark_node_get_heading_level(node);
		if (level <= 2 && w) {
			bl_buf_reset(&t->line);
			for (size_t i = 0; i < w; i++)
				bl_buf_addc(&t->line, level == 1 ? '=' : '-');
			emit_line(t, t->line.data, t->line.len);
		}
		t->pending_blank = !is_tight(node);
		break;
	}
	case CMARK_NODE_CUSTOM_BLOCK:
		t->pending_blank = 0;
		break;
	case CMARK_NODE_LINK:
		finish_link(t, node);
		break;
	case CMARK_NODE_IMAGE:
		t->image_depth--;
		break;
	default:
		break;
	}
}

static void render_text(cmark_node *doc, const struct protect *prot, struct bl_buf *out)
{
	struct text t;
	memset(&t, 0, sizeof(t));
	t.out = *out;
	bl_buf_init(&t.para, OUT_MAX);
	bl_buf_init(&t.mask, OUT_MAX);
	bl_buf_init(&t.line, OUT_MAX);
	t.urls.owns = 1;
	t.prot = prot;

	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		if (bl_buf_err(&t.out) || bl_buf_err(&t.para) || bl_buf_err(&t.mask))
			break;
		cmark_node *node = cmark_iter_get_node(it);
		if (ev == CMARK_EVENT_ENTER)
			text_enter(&t, node);
		else
			text_exit(&t, node);
	}
	cmark_iter_free(it);

	if (t.urls.n) {
		t.pending_blank = 1;
		for (size_t i = 0; i < t.urls.n; i++) {
			bl_buf_reset(&t.line);
			bl_buf_addf(&t.line, "[%zu] ", i + 1);
			restore(prot, t.urls.items[i].s, t.urls.items[i].len, &t.line, NULL, 1);
			emit_line(&t, t.line.data, t.line.len);
		}
	}
	if (bl_buf_err(&t.para) || bl_buf_err(&t.mask) || bl_buf_err(&t.line))
		t.out.err = -BL_ELIMIT;
	*out = t.out;
	bl_buf_finish(&t.para);
	bl_buf_finish(&t.mask);
	bl_buf_finish(&t.line);
	strtab_finish(&t.urls);
}

/* ---- the entry point ---------------------------------------------------- */

int bl_markdown_render(const char *md, size_t len, char **html, char **text, struct bl_diag *d)
{
	if (len > BL_MARKDOWN_MAX)
		return bl_diag_set(d, BL_ELIMIT, "the Markdown is %zu bytes; the limit is %u", len,
		                   BL_MARKDOWN_MAX);
	if (!md && len)
		return bl_diag_set(d, BL_EINVAL, "no Markdown given");
	if (!md)
		md = "";
	size_t bad;
	if (!bl_utf8_valid(md, len, &bad))
		return bl_diag_set(d, BL_EINVAL,
		                   "the Markdown is not UTF-8 (bad byte at offset %zu)", bad);

	struct protect prot;
	memset(&prot, 0, sizeof(prot));
	struct bl_buf src, hbuf, tbuf;
	bl_buf_init(&src, 0);
	bl_buf_init(&hbuf, OUT_MAX);
	bl_buf_init(&tbuf, OUT_MAX);
	int rc = 0;
	const char *parse = md;
	size_t parse_len = len;
	if (find(md, len, 0, "{{", 2) < len) { /* no "{{", no tags (nor delimiter changes) */
		rc = choose_prefix(&prot, md, len);
		if (rc) {
			bl_diag_set(d, BL_EINVAL,
			            "could not choose a placeholder for Mustache tags");
			goto out;
		}
		rc = protect_tags(&prot, md, len, &src, d);
		if (rc)
			goto out;
		if (prot.tags.n) {
			parse = bl_buf_str(&src);
			parse_len = src.len;
		}
	}

	cmark_node *doc = cmark_parse_document(parse, parse_len, CMARK_OPT_DEFAULT);
	if (prot.tags.n)
		unwrap_standalone(doc, &prot);
	char *raw = cmark_render_html(doc, CMARK_OPT_DEFAULT);
	restore(prot.tags.n ? &prot : NULL, raw, strlen(raw), &hbuf, NULL, 0);
	cmark_get_default_mem_allocator()->free(raw);
	render_text(doc, prot.tags.n ? &prot : NULL, &tbuf);
	cmark_node_free(doc);

	if (bl_buf_err(&hbuf) || bl_buf_err(&tbuf)) {
		rc = bl_diag_set(d, BL_ELIMIT, "the rendered %s would exceed %zu MiB",
		                 bl_buf_err(&hbuf) ? "HTML" : "text", OUT_MAX >> 20);
		goto out;
	}
	*html = bl_buf_take(&hbuf);
	*text = bl_buf_take(&tbuf);
out:
	bl_buf_finish(&src);
	bl_buf_finish(&hbuf);
	bl_buf_finish(&tbuf);
	strtab_finish(&prot.tags);
	free(prot.standalone);
	return rc;
}
