/*
 * Mustache compiler and renderer; see tmpl.h. Compiling runs four passes
 * over the source: scan() cuts it into tokens (text split after each
 * newline, tags with their names checked and sections matched), blocks()
 * dedents the bodies of standalone blocks, standalone() empties the lines
 * that hold only tags and blanks, and emit() writes a flat node array whose
 * section nodes know where their body ends. Rendering walks that array; the
 * context stack, the indentation of nested partials and the block
 * overrides of parents are linked lists on the C stack, so a render
 * allocates nothing but output (and partials on first use). A compiled
 * template is immutable and can be shared between threads.
 */
#include "tmpl/tmpl.h"

#include "util/utf8.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- data tree --------------------------------------------------------- */

struct tentry {
	char *key;
	size_t len;
	struct bl_tval *v;
};

struct bl_tval {
	enum bl_tval_kind kind;
	union {
		int b;
		double num;
		struct {
			char *p;
			size_t len;
		} s;
		struct {
			struct bl_tval **v;
			size_t n, cap;
		} list;
		struct {
			struct tentry *e;
			size_t n, cap;
		} map;
	} u;
};

static struct bl_tval *tval_new(enum bl_tval_kind kind)
{
	struct bl_tval *v = bl_xcalloc(1, sizeof(*v));
	v->kind = kind;
	return v;
}

/* Misuse of the tree (a set on a list, a NULL value) is a programming error. */
static void misuse(const char *what)
{
	fprintf(stderr, "bulletin: fatal: %s\n", what);
	abort();
}

struct bl_tval *bl_tval_null(void)
{
	return tval_new(BL_TVAL_NULL);
}

struct bl_tval *bl_tval_bool(int v)
{
	struct bl_tval *t = tval_new(BL_TVAL_BOOL);
	t->u.b = v != 0;
	return t;
}

struct bl_tval *bl_tval_number(double v)
{
	struct bl_tval *t = tval_new(BL_TVAL_NUMBER);
	t->u.num = v;
	return t;
}

struct bl_tval *bl_tval_string(const char *s)
{
	return bl_tval_stringn(s, strlen(s));
}

struct bl_tval *bl_tval_stringf(const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return bl_tval_string(tmp);
}

struct bl_tval *bl_tval_stringn(const char *s, size_t len)
{
	struct bl_tval *t = tval_new(BL_TVAL_STRING);
	const char *nul = len ? memchr(s, '\0', len) : NULL;
	if (nul)
		len = (size_t)(nul - s);
	t->u.s.p = bl_xstrndup(len ? s : "", len);
	t->u.s.len = len;
	return t;
}

struct bl_tval *bl_tval_list(void)
{
	return tval_new(BL_TVAL_LIST);
}

struct bl_tval *bl_tval_map(void)
{
	return tval_new(BL_TVAL_MAP);
}

static struct tentry *map_find(const struct bl_tval *map, const char *key, size_t len)
{
	for (size_t i = 0; i < map->u.map.n; i++) {
		struct tentry *e = &map->u.map.e[i];
		if (e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	}
	return NULL;
}

void bl_tval_set(struct bl_tval *map, const char *key, struct bl_tval *v)
{
	if (!map || map->kind != BL_TVAL_MAP || !key || !v)
		misuse("bl_tval_set: not a map, or a NULL key or value");
	size_t len = strlen(key);
	struct tentry *e = map_find(map, key, len);
	if (e) {
		if (e->v != v)
			bl_tval_destroy(e->v);
		e->v = v;
		return;
	}
	if (map->u.map.n == map->u.map.cap) {
		map->u.map.cap = map->u.map.cap ? map->u.map.cap * 2 : 4;
		map->u.map.e = bl_xrealloc(map->u.map.e, map->u.map.cap * sizeof(*map->u.map.e));
	}
	e = &map->u.map.e[map->u.map.n++];
	e->key = bl_xstrndup(key, len);
	e->len = len;
	e->v = v;
}

void bl_tval_push(struct bl_tval *list, struct bl_tval *v)
{
	if (!list || list->kind != BL_TVAL_LIST || !v)
		misuse("bl_tval_push: not a list, or a NULL value");
	if (list->u.list.n == list->u.list.cap) {
		list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
		list->u.list.v =
		    bl_xrealloc(list->u.list.v, list->u.list.cap * sizeof(*list->u.list.v));
	}
	list->u.list.v[list->u.list.n++] = v;
}

const struct bl_tval *bl_tval_get(const struct bl_tval *map, const char *key)
{
	if (!map || map->kind != BL_TVAL_MAP || !key)
		return NULL;
	struct tentry *e = map_find(map, key, strlen(key));
	return e ? e->v : NULL;
}

enum bl_tval_kind bl_tval_kind(const struct bl_tval *v)
{
	return v ? v->kind : BL_TVAL_NULL;
}

size_t bl_tval_count(const struct bl_tval *v)
{
	return v && v->kind == BL_TVAL_LIST ? v->u.list.n : 0;
}

void bl_tval_destroy(struct bl_tval *v)
{
	if (!v)
		return;
	switch (v->kind) {
	case BL_TVAL_STRING:
		free(v->u.s.p);
		break;
	case BL_TVAL_LIST:
		for (size_t i = 0; i < v->u.list.n; i++)
			bl_tval_destroy(v->u.list.v[i]);
		free(v->u.list.v);
		break;
	case BL_TVAL_MAP:
		for (size_t i = 0; i < v->u.map.n; i++) {
			free(v->u.map.e[i].key);
			bl_tval_destroy(v->u.map.e[i].v);
		}
		free(v->u.map.e);
		break;
	default:
		break;
	}
	free(v);
}

/* ---- compiled form ----------------------------------------------------- */

enum op {
	OP_TEXT,     /* a, n: text in the pool */
	OP_INDENT,   /* a line of the template starts: the partial's indentation */
	OP_VAR,      /* {{name}}: escaped as the render asks */
	OP_RAW,      /* {{{name}}} and {{&name}} */
	OP_SECTION,  /* {{#name}} ... body up to end */
	OP_INVERTED, /* {{^name}} */
	OP_PARTIAL,  /* {{>name}} */
	OP_PARENT,   /* {{<name}} ... its body holds the block overrides */
	OP_BLOCK     /* {{$name}} ... default content */
};

#define F_DYNAMIC    1u /* partial or parent named by data ({{>*name}}) */
#define F_STANDALONE 2u /* partial, parent or block alone on its line: indent it */
#define F_INLINE     4u /* block whose content starts on the line of its tag */

/*
 * One node. Names that resolve through the data are dotted names: segs
 * [a, a + n) of the segment table ("." has none). Static partial, parent
 * and block names are pool strings at a, n bytes long.
 */
struct node {
	uint8_t op;
	uint8_t flags;
	uint32_t a, n;
	uint32_t end;         /* sections, parents, blocks: index after the body */
	uint32_t ind, indlen; /* standalone partials, parents and blocks: indentation */
	uint32_t line;        /* of the tag in the source, for messages */
};

struct seg {
	uint32_t off, len; /* NUL-terminated in the pool */
};

struct bl_tmpl {
	char *name;
	char *pool; /* text, names and indentation, each NUL-terminated */
	size_t pool_len, pool_cap;
	struct node *nodes;
	size_t nnodes, nodes_cap;
	struct seg *segs;
	size_t nsegs, segs_cap;
};

/* ---- diagnostics ------------------------------------------------------- */

/*
 * Copies at most 60 bytes of @s into @buf for a message: one line, valid
 * UTF-8 (control bytes become '?', and so do all non-ASCII bytes when @s is
 * not UTF-8), "..." when cut.
 */
static const char *shown(const char *s, size_t len, char buf[72])
{
	int utf8 = bl_utf8_valid(s, len, NULL);
	size_t n = len > 60 ? 60 : len;
	if (utf8)
		while (n < len && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + n, "...", 4);
	} else {
		buf[n] = '\0';
	}
	return buf;
}

/* ---- compiler ---------------------------------------------------------- */

enum tok_kind {
	T_TEXT,
	T_VAR,
	T_RAW,
	T_SECTION,
	T_INVERTED,
	T_CLOSE,
	T_PARTIAL,
	T_PARENT,
	T_BLOCK,
	T_COMMENT,
	T_DELIM
};

struct tok {
	uint8_t kind;
	uint8_t dynamic;      /* partial or parent named by data */
	uint8_t line_start;   /* first token of a line that is not standalone */
	uint8_t standalone;   /* partial, parent or block alone on its line */
	uint8_t body_line;    /* block whose content starts on a line of its own */
	uint32_t a, n;        /* text, or the tag's name, in the source */
	uint32_t at;          /* offset of the tag (or text) in the source */
	uint32_t match;       /* open <-> close token of a section */
	uint32_t ind, indlen; /* indentation of a standalone partial, parent or block */
	uint32_t node;        /* node of an open section, once emitted */
};

struct comp {
	const char *src;
	size_t len;
	const char *name;
	struct bl_diag *d;
	const char *otag, *ctag; /* current delimiters, in the source or static */
	size_t olen, clen;
	struct tok *toks;
	size_t ntoks, toks_cap;
	uint32_t open[BL_TMPL_MAX_DEPTH]; /* open section tokens */
	unsigned depth;
	struct bl_tmpl *t;
};

static unsigned line_of(const char *src, size_t at)
{
	unsigned line = 1;
	for (size_t i = 0; i < at; i++)
		line += src[i] == '\n';
	return line;
}

__attribute__((format(printf, 4, 5))) static int syntax(struct comp *cp, int code, size_t at,
                                                        const char *fmt, ...)
{
	char name[72];
	char what[240];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return bl_diag_set(cp->d, code, "%s:%u: %s", shown(cp->name, strlen(cp->name), name),
	                   line_of(cp->src, at), what);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Position of @pat in @s[from..len), or len when absent. */
static size_t find(const char *s, size_t len, size_t from, const char *pat, size_t plen)
{
	while (from < len && len - from >= plen) {
		const char *p = memchr(s + from, pat[0], len - from - plen + 1);
		if (!p)
			break;
		size_t at = (size_t)(p - s);
		if (memcmp(p, pat, plen) == 0)
			return at;
		from = at + 1;
	}
	return len;
}

static struct tok *add_tok(struct comp *cp, enum tok_kind kind, size_t at)
{
	if (cp->ntoks == cp->toks_cap) {
		cp->toks_cap = cp->toks_cap ? cp->toks_cap * 2 : 64;
		cp->toks = bl_xrealloc(cp->toks, cp->toks_cap * sizeof(*cp->toks));
	}
	struct tok *tk = &cp->toks[cp->ntoks++];
	memset(tk, 0, sizeof(*tk));
	tk->kind = (uint8_t)kind;
	tk->at = (uint32_t)at;
	return tk;
}

/* Text @src[from..to) as tokens, each ending after a newline or at @to. */
static void add_text(struct comp *cp, size_t from, size_t to)
{
	while (from < to) {
		const char *nl = memchr(cp->src + from, '\n', to - from);
		size_t end = nl ? (size_t)(nl - cp->src) + 1 : to;
		struct tok *tk = add_tok(cp, T_TEXT, from);
		tk->a = (uint32_t)from;
		tk->n = (uint32_t)(end - from);
		from = end;
	}
}

/*
 * A name with no blanks or control bytes (NUL included: names reach
 * resolvers as C strings); dotted names also have no empty part.
 */
static int name_ok(const char *s, size_t n, int dotted)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ')
			return 0;
	if (!dotted || (n == 1 && s[0] == '.'))
		return 1;
	if (s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return 0;
	return 1;
}

/* {{=<% %>=}}: the two new delimiters in @s[a..a+n), blank-separated. */
static int set_delims(struct comp *cp, size_t at, size_t a, size_t n)
{
	const char *s = cp->src + a;
	size_t i = 0, o0, o1, c0, c1;
	while (i < n && is_space(s[i]))
		i++;
	o0 = i;
	while (i < n && !is_space(s[i]))
		i++;
	o1 = i;
	while (i < n && is_space(s[i]))
		i++;
	c0 = i;
	while (i < n && !is_space(s[i]))
		i++;
	c1 = i;
	while (i < n && is_space(s[i]))
		i++;
	if (o1 == o0 || c1 == c0 || i != n || memchr(s + o0, '=', o1 - o0) ||
	    memchr(s + c0, '=', c1 - c0))
		return syntax(cp, BL_EINVAL, at,
		              "bad delimiter change (want two blank-separated delimiters "
		              "without '=')");
	cp->otag = s + o0;
	cp->olen = o1 - o0;
	cp->ctag = s + c0;
	cp->clen = c1 - c0;
	return 0;
}

/* Reads the tag at @at into a token; *@next is the offset after it. */
static int scan_tag(struct comp *cp, size_t at, size_t *next)
{
	const char *s = cp->src;
	size_t len = cp->len, p = at + cp->olen;
	enum tok_kind kind = T_VAR;
	char tail = 0;
	if (p < len) {
		switch (s[p]) {
		case '#':
			kind = T_SECTION;
			break;
		case '^':
			kind = T_INVERTED;
			break;
		case '/':
			kind = T_CLOSE;
			break;
		case '>':
			kind = T_PARTIAL;
			break;
		case '<':
			kind = T_PARENT;
			break;
		case '$':
			kind = T_BLOCK;
			break;
		case '!':
			kind = T_COMMENT;
			break;
		case '=':
			kind = T_DELIM;
			tail = '=';
			break;
		case '&':
			kind = T_RAW;
			break;
		case '{':
			kind = T_RAW;
			tail = '}';
			break;
		default:
			break;
		}
		if (kind != T_VAR)
			p++;
	}
	/* The closing delimiter, preceded by @tail for {{{x}}} and {{=a b=}}. */
	size_t q = p;
	for (;;) {
		q = find(s, len, q, cp->ctag, cp->clen);
		if (q == len)
			return syntax(cp, BL_EINVAL, at, "unclosed tag");
		if (!tail || (q > p && s[q - 1] == tail))
			break;
		q++;
	}
	*next = q + cp->clen;
	size_t a = p, n = q - p - (tail ? 1 : 0);
	if (kind == T_COMMENT) {
		add_tok(cp, kind, at);
		return 0;
	}
	if (kind == T_DELIM) {
		add_tok(cp, kind, at);
		return set_delims(cp, at, a, n);
	}
	while (n && is_space(s[a])) {
		a++;
		n--;
	}
	while (n && is_space(s[a + n - 1]))
		n--;
	size_t raw = a, rawlen = n; /* for messages: the name as written */
	int dynamic = 0;
	if ((kind == T_PARTIAL || kind == T_PARENT || kind == T_CLOSE) && n && s[a] == '*') {
		dynamic = 1;
		a++;
		n--;
		while (n && is_space(s[a])) {
			a++;
			n--;
		}
	}
	if (n == 0)
		return syntax(cp, BL_EINVAL, at, "empty tag");
	int dotted = kind == T_VAR || kind == T_RAW || kind == T_SECTION || kind == T_INVERTED ||
	             (dynamic && kind != T_CLOSE);
	if (!name_ok(s + a, n, dotted)) {
		char nb[72];
		return syntax(cp, BL_EINVAL, at, "bad name \"%s\"", shown(s + raw, rawlen, nb));
	}
	struct tok *tk = add_tok(cp, kind, at);
	tk->a = (uint32_t)a;
	tk->n = (uint32_t)n;
	tk->dynamic = (uint8_t)dynamic;
	uint32_t self = (uint32_t)(cp->ntoks - 1);
	if (kind == T_SECTION || kind == T_INVERTED || kind == T_PARENT || kind == T_BLOCK) {
		if (cp->depth == BL_TMPL_MAX_DEPTH)
			return syntax(cp, BL_ELIMIT, at, "sections nest deeper than %d",
			              BL_TMPL_MAX_DEPTH);
		cp->open[cp->depth++] = self;
	} else if (kind == T_CLOSE) {
		char nb[72];
		if (cp->depth == 0)
			return syntax(cp, BL_EINVAL, at, "closing \"%s\", which is not open",
			              shown(s + raw, rawlen, nb));
		uint32_t o = cp->open[cp->depth - 1];
		const struct tok *ot = &cp->toks[o];
		/* A close "{{/ *x}}" closes "{{<*x}}" (a dynamic name) and "{{#*x}}" alike. */
		const char *on = s + ot->a;
		int same;
		if (ot->dynamic)
			same = dynamic && ot->n == n && memcmp(on, s + a, n) == 0;
		else if (dynamic)
			same = ot->n == n + 1 && on[0] == '*' && memcmp(on + 1, s + a, n) == 0;
		else
			same = ot->n == n && memcmp(on, s + a, n) == 0;
		if (!same) {
			char ob[72];
			return syntax(cp, BL_EINVAL, at,
			              "closing \"%s\" but \"%s%s\" (line %u) is open",
			              shown(s + raw, rawlen, nb), ot->dynamic ? "*" : "",
			              shown(s + ot->a, ot->n, ob), line_of(s, ot->at));
		}
		cp->depth--;
		cp->toks[o].match = self;
		cp->toks[self].match = o;
	}
	return 0;
}

/* Pass 1: tokens. */
static int scan(struct comp *cp)
{
	size_t pos = 0;
	while (pos < cp->len) {
		size_t at = find(cp->src, cp->len, pos, cp->otag, cp->olen);
		add_text(cp, pos, at);
		if (at == cp->len)
			break;
		int rc = scan_tag(cp, at, &pos);
		if (rc)
			return rc;
	}
	if (cp->depth) {
		const struct tok *ot = &cp->toks[cp->open[cp->depth - 1]];
		char nb[72];
		return syntax(cp, BL_EINVAL, ot->at, "section \"%s%s\" is never closed",
		              ot->dynamic ? "*" : "", shown(cp->src + ot->a, ot->n, nb));
	}
	return 0;
}

/* Length of the line end ("\n" or "\r\n") that @s[0..n) ends with, else 0. */
static size_t eol_len(const char *s, size_t n)
{
	if (n && s[n - 1] == '\n')
		return n > 1 && s[n - 2] == '\r' ? 2 : 1;
	return 0;
}

/* Leading blanks (spaces and tabs) of @s[0..n). */
static size_t blanks(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Blanks only, then optionally a line end. */
static int blank_text(const char *s, size_t n)
{
	return blanks(s, n) + eol_len(s, n) == n;
}

static int ends_line(const struct comp *cp, const struct tok *tk)
{
	return tk->kind == T_TEXT && tk->n && cp->src[tk->a + tk->n - 1] == '\n';
}

/* The end of the line that starts at token @i: after its newline text, or all tokens. */
static size_t line_end(const struct comp *cp, size_t i)
{
	while (i < cp->ntoks)
		if (ends_line(cp, &cp->toks[i++]))
			break;
	return i;
}

/* Tags that may stand alone on a line (everything but interpolation). */
static int quiet_tag(const struct tok *tk)
{
	return tk->kind != T_TEXT && tk->kind != T_VAR && tk->kind != T_RAW;
}

/* Parent and block tags (open or close): several of them may share a line. */
static int inherit_tag(const struct comp *cp, const struct tok *tk)
{
	const struct tok *o = tk->kind == T_CLOSE ? &cp->toks[tk->match] : tk;
	return o->kind == T_PARENT || o->kind == T_BLOCK;
}

enum line_kind {
	LINE_TEXT,  /* rendered as written */
	LINE_ALONE, /* standalone: removed whole */
	LINE_PAIR   /* an empty block "{{$b}}{{/b}}" alone: its line end stays */
};

/*
 * What line [i, j) is. Standalone: blanks and one section, inverted,
 * close, partial, parent, block, comment or delimiter tag; or blanks and
 * only parent and block tags (the inheritance spec: "{{<parent}}{{$block}}"
 * and "{{/block}}{{/parent}}" share lines). An empty block alone on its line
 * keeps the line end, so that an empty override leaves an empty line (the
 * spec's "Standalone block" case).
 */
static enum line_kind line_kind(const struct comp *cp, size_t i, size_t j)
{
	size_t tags = 0, inherit = 0, first = 0;
	for (size_t k = i; k < j; k++) {
		const struct tok *tk = &cp->toks[k];
		if (tk->kind == T_TEXT) {
			if (!blank_text(cp->src + tk->a, tk->n))
				return LINE_TEXT;
			continue;
		}
		if (!quiet_tag(tk))
			return LINE_TEXT;
		if (tags++ == 0)
			first = k;
		inherit += (size_t)inherit_tag(cp, tk);
	}
	if (tags == 2 && cp->toks[first].kind == T_BLOCK && cp->toks[first].match == first + 1)
		return LINE_PAIR;
	return tags == 1 || (tags > 1 && inherit == tags) ? LINE_ALONE : LINE_TEXT;
}

/* The leading blanks of line [i, ...) as an offset and length in the source. */
static void line_indent(const struct comp *cp, size_t i, uint32_t *at, uint32_t *len)
{
	const struct tok *tk = &cp->toks[i];
	*at = tk->kind == T_TEXT ? tk->a : tk->at;
	*len = tk->kind == T_TEXT ? (uint32_t)blanks(cp->src + tk->a, tk->n) : 0;
}

/*
 * The body of a block whose open tag ends a standalone line is dedented:
 * the blanks all its non-blank lines share are cut from each line (and all
 * blanks from blank lines), so the body can be indented afresh where it is
 * expanded (the spec's "Block reindentation"). That indentation is the cut
 * one, or when nothing was cut, the blanks before the open tag ("Intrinsic
 * indentation"). Outer blocks come first, so nested bodies are measured
 * after their parents' cut.
 */
static void dedent_block(struct comp *cp, size_t o, size_t line)
{
	const char *s = cp->src;
	size_t c = cp->toks[o].match;
	const char *margin = NULL;
	size_t mlen = 0;
	for (int pass = 0; pass < 2; pass++) {
		int at_start = 0;
		for (size_t k = o + 1; k < c; k++) {
			struct tok *tk = &cp->toks[k];
			if (at_start) {
				size_t ws = 0, rest = 0;
				if (tk->kind == T_TEXT) {
					ws = blanks(s + tk->a, tk->n);
					rest = tk->n - ws;
				} else {
					rest = 1;
				}
				int blank =
				    tk->kind == T_TEXT &&
				    (rest ? eol_len(s + tk->a + ws, rest) == rest : k + 1 == c);
				if (pass == 0 && !blank && !margin) {
					margin = s + tk->a;
					mlen = ws;
				} else if (pass == 0 && !blank) {
					size_t m = 0;
					while (m < mlen && m < ws && margin[m] == s[tk->a + m])
						m++;
					mlen = m;
				} else if (pass == 1 && tk->kind == T_TEXT) {
					size_t cut = blank ? ws : (mlen < ws ? mlen : ws);
					tk->a += (uint32_t)cut;
					tk->n -= (uint32_t)cut;
				}
			}
			at_start = ends_line(cp, tk);
		}
	}
	struct tok *ot = &cp->toks[o];
	ot->standalone = 1;
	ot->body_line = 1;
	if (mlen) {
		ot->ind = (uint32_t)(margin - s);
		ot->indlen = (uint32_t)mlen;
	} else {
		line_indent(cp, line, &ot->ind, &ot->indlen);
	}
}

/* Pass 2: block indentation (see dedent_block). */
static void blocks(struct comp *cp)
{
	for (size_t i = 0, j; i < cp->ntoks; i = j) {
		j = line_end(cp, i);
		enum line_kind kind = line_kind(cp, i, j);
		if (kind == LINE_TEXT)
			continue;
		size_t last = i;
		for (size_t k = i; k < j; k++)
			if (cp->toks[k].kind != T_TEXT)
				last = k;
		struct tok *tk = &cp->toks[last];
		if (kind == LINE_PAIR) {
			tk = &cp->toks[tk->match];
			tk->standalone = 1;
			line_indent(cp, i, &tk->ind, &tk->indlen);
		} else if (tk->kind == T_BLOCK) {
			dedent_block(cp, last, i);
		}
	}
}

/*
 * Pass 3: standalone lines (see line_kind) lose their blanks and their line
 * end; the blanks before a standalone partial or parent become its
 * indentation. Other lines are marked where they start, for indentation.
 */
static void standalone(struct comp *cp)
{
	for (size_t i = 0, j; i < cp->ntoks; i = j) {
		j = line_end(cp, i);
		enum line_kind kind = line_kind(cp, i, j);
		if (kind == LINE_TEXT) {
			cp->toks[i].line_start = 1;
			continue;
		}
		uint32_t ind, indlen;
		line_indent(cp, i, &ind, &indlen);
		for (size_t k = i; k < j; k++) {
			struct tok *tk = &cp->toks[k];
			if (tk->kind == T_TEXT) {
				size_t keep =
				    kind == LINE_PAIR ? eol_len(cp->src + tk->a, tk->n) : 0;
				tk->a += tk->n - (uint32_t)keep;
				tk->n = (uint32_t)keep;
			} else if (tk->kind == T_PARTIAL || tk->kind == T_PARENT) {
				tk->standalone = 1;
				tk->ind = ind;
				tk->indlen = indlen;
			}
		}
	}
}

static uint32_t pool_add(struct bl_tmpl *t, const char *s, size_t n)
{
	if (t->pool_cap - t->pool_len < n + 1) {
		size_t cap = t->pool_cap ? t->pool_cap : 256;
		while (cap - t->pool_len < n + 1)
			cap *= 2;
		t->pool = bl_xrealloc(t->pool, cap);
		t->pool_cap = cap;
	}
	uint32_t off = (uint32_t)t->pool_len;
	memcpy(t->pool + off, s, n);
	t->pool[off + n] = '\0';
	t->pool_len += n + 1;
	return off;
}

static struct node *add_node(struct bl_tmpl *t, enum op op, unsigned line)
{
	if (t->nnodes == t->nodes_cap) {
		t->nodes_cap = t->nodes_cap ? t->nodes_cap * 2 : 32;
		t->nodes = bl_xrealloc(t->nodes, t->nodes_cap * sizeof(*t->nodes));
	}
	struct node *n = &t->nodes[t->nnodes++];
	memset(n, 0, sizeof(*n));
	n->op = (uint8_t)op;
	n->line = line;
	return n;
}

/*
 * The text node that new text may join: the last node, when it is text in
 * the same body (@fence is the node count at the last section close).
 */
static struct node *open_text(struct bl_tmpl *t, size_t fence)
{
	if (t->nnodes == 0 || t->nnodes - 1 < fence)
		return NULL;
	struct node *last = &t->nodes[t->nnodes - 1];
	return last->op == OP_TEXT && (size_t)last->a + last->n + 1 == t->pool_len ? last : NULL;
}

/* Text joins the previous text node when nothing came between. */
static void emit_text(struct bl_tmpl *t, size_t fence, const char *s, size_t n, unsigned line)
{
	struct node *last = open_text(t, fence);
	if (last) {
		t->pool_len--; /* over the NUL */
		pool_add(t, s, n);
		last->n += (uint32_t)n;
		return;
	}
	struct node *nd = add_node(t, OP_TEXT, line);
	nd->n = (uint32_t)n;
	nd->a = pool_add(t, s, n);
}

/* A dotted name as segments ("." has none). */
static void emit_dotted(struct bl_tmpl *t, struct node *nd, const char *s, size_t n)
{
	nd->a = (uint32_t)t->nsegs;
	nd->n = 0;
	if (n == 1 && s[0] == '.')
		return;
	size_t i = 0;
	while (i <= n) {
		const char *dot = memchr(s + i, '.', n - i);
		size_t e = dot ? (size_t)(dot - s) : n;
		if (t->nsegs == t->segs_cap) {
			t->segs_cap = t->segs_cap ? t->segs_cap * 2 : 16;
			t->segs = bl_xrealloc(t->segs, t->segs_cap * sizeof(*t->segs));
		}
		struct seg *sg = &t->segs[t->nsegs++];
		sg->off = pool_add(t, s + i, e - i);
		sg->len = (uint32_t)(e - i);
		nd->n++;
		i = e + 1;
	}
}

/* Pass 4: nodes. */
static void emit(struct comp *cp)
{
	struct bl_tmpl *t = cp->t;
	const char *s = cp->src;
	unsigned line = 1;
	size_t counted = 0; /* source offset up to which line counts newlines */
	size_t fence = 0;   /* node count at the last close: text before it is in a body */
	for (size_t i = 0; i < cp->ntoks; i++) {
		struct tok *tk = &cp->toks[i];
		for (; counted < tk->at; counted++)
			line += s[counted] == '\n';
		if (tk->line_start) {
			const struct node *last = open_text(t, fence);
			/* A text node ending in a newline indents what follows it. */
			int implied = tk->kind == T_TEXT && tk->n && last &&
			              t->pool[last->a + last->n - 1] == '\n';
			if (!implied)
				add_node(t, OP_INDENT, line);
		}
		struct node *nd;
		switch (tk->kind) {
		case T_TEXT:
			if (tk->n)
				emit_text(t, fence, s + tk->a, tk->n, line);
			break;
		case T_VAR:
		case T_RAW:
			nd = add_node(t, tk->kind == T_VAR ? OP_VAR : OP_RAW, line);
			emit_dotted(t, nd, s + tk->a, tk->n);
			break;
		case T_SECTION:
		case T_INVERTED:
			tk->node = (uint32_t)t->nnodes;
			nd = add_node(t, tk->kind == T_SECTION ? OP_SECTION : OP_INVERTED, line);
			emit_dotted(t, nd, s + tk->a, tk->n);
			break;
		case T_PARTIAL:
		case T_PARENT:
			tk->node = (uint32_t)t->nnodes;
			nd = add_node(t, tk->kind == T_PARTIAL ? OP_PARTIAL : OP_PARENT, line);
			if (tk->dynamic) {
				nd->flags |= F_DYNAMIC;
				emit_dotted(t, nd, s + tk->a, tk->n);
			} else {
				nd->n = tk->n;
				nd->a = pool_add(t, s + tk->a, tk->n);
			}
			if (tk->standalone) {
				nd->flags |= F_STANDALONE;
				nd->indlen = tk->indlen;
				nd->ind = pool_add(t, s + tk->ind, tk->indlen);
			}
			break;
		case T_BLOCK:
			tk->node = (uint32_t)t->nnodes;
			nd = add_node(t, OP_BLOCK, line);
			nd->n = tk->n;
			nd->a = pool_add(t, s + tk->a, tk->n);
			if (!tk->body_line)
				nd->flags |= F_INLINE;
			if (tk->standalone) {
				nd->flags |= F_STANDALONE;
				nd->indlen = tk->indlen;
				nd->ind = pool_add(t, s + tk->ind, tk->indlen);
			}
			break;
		case T_CLOSE:
			t->nodes[cp->toks[tk->match].node].end = (uint32_t)t->nnodes;
			fence = t->nnodes;
			break;
		default: /* comments and delimiter changes leave nothing */
			break;
		}
	}
}

int bl_tmpl_compile(const char *src, size_t len, const char *name, struct bl_tmpl **out,
                    struct bl_diag *d)
{
	if (!name)
		name = "template";
	if (len > BL_TMPL_MAX_SOURCE) {
		char nb[72];
		return bl_diag_set(d, BL_ELIMIT, "%s: template is %zu bytes; the limit is %u",
		                   shown(name, strlen(name), nb), len, BL_TMPL_MAX_SOURCE);
	}
	struct comp cp = {
	    .src = len ? src : "",
	    .len = len,
	    .name = name,
	    .d = d,
	    .otag = "{{",
	    .olen = 2,
	    .ctag = "}}",
	    .clen = 2,
	};
	int rc = scan(&cp);
	if (rc) {
		free(cp.toks);
		return rc;
	}
	blocks(&cp);
	standalone(&cp);
	struct bl_tmpl *t = bl_xcalloc(1, sizeof(*t));
	t->name = bl_xstrdup(name);
	cp.t = t;
	emit(&cp);
	free(cp.toks);
	*out = t;
	return 0;
}

void bl_tmpl_destroy(struct bl_tmpl *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->pool);
	free(t->nodes);
	free(t->segs);
	free(t);
}

/* ---- partial cache ----------------------------------------------------- */

struct centry {
	char *name;
	size_t len;
	struct bl_tmpl *t; /* NULL: the resolver has no such partial */
};

struct bl_tmpl_cache {
	bl_tmpl_partial_fn fn;
	void *arg;
	struct centry *e;
	size_t n, cap;
};

struct bl_tmpl_cache *bl_tmpl_cache_create(bl_tmpl_partial_fn partial, void *partial_arg)
{
	struct bl_tmpl_cache *c = bl_xcalloc(1, sizeof(*c));
	c->fn = partial;
	c->arg = partial_arg;
	return c;
}

static void cache_clear(struct bl_tmpl_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].name);
		bl_tmpl_destroy(c->e[i].t);
	}
	free(c->e);
	c->e = NULL;
	c->n = c->cap = 0;
}

void bl_tmpl_cache_destroy(struct bl_tmpl_cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c);
}

/* ---- renderer ---------------------------------------------------------- */

/* The context stack: innermost first. */
struct ctx {
	const struct bl_tval *v;
	const struct ctx *up;
};

/* Indentation of nested standalone partials: innermost first. */
struct indent {
	const char *s;
	size_t len;
	const struct indent *up;
};

/* Parents being expanded, innermost first: where block overrides live. */
struct scope {
	const struct bl_tmpl *t;
	uint32_t parent; /* its OP_PARENT node */
	const struct scope *up;
};

struct render {
	struct bl_tmpl_cache *cache;
	enum bl_tmpl_escape esc;
	struct bl_buf *out;
	struct bl_diag *d;
	unsigned depth;      /* partials, parents and blocks being expanded */
	unsigned long steps; /* nodes visited and list items, against BL_TMPL_MAX_STEPS */
};

static int out_full(struct render *r, const struct bl_tmpl *t)
{
	char nb[72];
	return bl_diag_set(r->d, BL_ELIMIT, "%s: the output exceeds its limit of %zu bytes",
	                   shown(t->name, strlen(t->name), nb), r->out->max);
}

static int too_long(struct render *r, const struct bl_tmpl *t, const struct node *nd)
{
	char tb[72];
	return bl_diag_set(r->d, BL_ELIMIT,
	                   "%s:%u: rendering takes more than %lu steps (sections or partials "
	                   "repeat too often)",
	                   shown(t->name, strlen(t->name), tb), nd->line,
	                   (unsigned long)BL_TMPL_MAX_STEPS);
}

static void add_indent(struct bl_buf *b, const struct indent *ind)
{
	if (!ind)
		return;
	add_indent(b, ind->up);
	bl_buf_add(b, ind->s, ind->len);
}

/* Literal text; inside an indented partial each line after a newline is indented. */
static void put_text(struct bl_buf *b, const char *s, size_t n, const struct indent *ind)
{
	if (!ind) {
		bl_buf_add(b, s, n);
		return;
	}
	while (n) {
		const char *nl = memchr(s, '\n', n);
		if (!nl || (size_t)(nl - s) + 1 == n) {
			bl_buf_add(b, s, n);
			return;
		}
		size_t k = (size_t)(nl - s) + 1;
		bl_buf_add(b, s, k);
		add_indent(b, ind);
		s += k;
		n -= k;
	}
}

static void put_html(struct bl_buf *b, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		switch (s[i]) {
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
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		bl_buf_add(b, s + run, i - run);
		bl_buf_adds(b, rep);
		run = i + 1;
	}
	bl_buf_add(b, s + run, n - run);
}

/* The shortest of %.15g..%.17g that reads back as @v; '.' whatever the locale. */
static size_t format_number(double v, char *buf, size_t cap)
{
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	for (int i = 0; i < n; i++)
		if (buf[i] == ',')
			buf[i] = '.';
	return (size_t)n;
}

static void interpolate(struct render *r, const struct bl_tval *v, int escape)
{
	if (!v)
		return;
	const char *s;
	size_t n;
	char num[40];
	switch (v->kind) {
	case BL_TVAL_STRING:
		s = v->u.s.p;
		n = v->u.s.len;
		break;
	case BL_TVAL_NUMBER:
		n = format_number(v->u.num, num, sizeof(num));
		s = num;
		break;
	case BL_TVAL_BOOL:
		s = v->u.b ? "true" : "false";
		n = strlen(s);
		break;
	default: /* null, lists and maps print nothing */
		return;
	}
	if (escape)
		put_html(r->out, s, n);
	else
		bl_buf_add(r->out, s, n);
}

/* Resolves the dotted name of node @nd through the context stack; NULL on a miss. */
static const struct bl_tval *lookup(const struct bl_tmpl *t, const struct node *nd,
                                    const struct ctx *c)
{
	if (nd->n == 0)
		return c->v;
	const struct seg *sg = &t->segs[nd->a];
	const struct tentry *e = NULL;
	for (; c && !e; c = c->up)
		if (c->v && c->v->kind == BL_TVAL_MAP)
			e = map_find(c->v, t->pool + sg->off, sg->len);
	if (!e)
		return NULL;
	const struct bl_tval *v = e->v;
	for (uint32_t i = 1; i < nd->n; i++) {
		if (v->kind != BL_TVAL_MAP)
			return NULL;
		e = map_find(v, t->pool + sg[i].off, sg[i].len);
		if (!e)
			return NULL;
		v = e->v;
	}
	return v;
}

/* Falsey: missing, null, false, the empty list and the empty string. */
static int falsey(const struct bl_tval *v)
{
	if (!v)
		return 1;
	switch (v->kind) {
	case BL_TVAL_NULL:
		return 1;
	case BL_TVAL_BOOL:
		return !v->u.b;
	case BL_TVAL_LIST:
		return v->u.list.n == 0;
	case BL_TVAL_STRING:
		return v->u.s.len == 0;
	default:
		return 0;
	}
}

/*
 * The compiled partial named @name (@len bytes, NUL-terminated), from the
 * cache or the resolver. Returns 1 with *@out set, 0 when there is none,
 * or a negative error with the diagnostic set.
 */
static int get_partial(struct render *r, const struct bl_tmpl *t, const struct node *nd,
                       const char *name, size_t len, const struct bl_tmpl **out)
{
	struct bl_tmpl_cache *c = r->cache;
	if (!c->fn)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].len == len && memcmp(c->e[i].name, name, len) == 0) {
			*out = c->e[i].t;
			return *out != NULL;
		}
	struct bl_tmpl *p = NULL;
	const char *src = NULL;
	size_t slen = 0;
	int rc = c->fn(c->arg, name, &src, &slen);
	if (rc < 0) {
		char tb[72], nb[72];
		return bl_diag_set(r->d, -rc, "%s:%u: partial \"%s\": %s",
		                   shown(t->name, strlen(t->name), tb), nd->line,
		                   shown(name, len, nb), bl_strerror(rc));
	}
	if (rc > 0) {
		rc = bl_tmpl_compile(src, slen, name, &p, r->d);
		if (rc)
			return rc;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->e = bl_xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	c->e[c->n].name = bl_xmalloc(len + 1);
	memcpy(c->e[c->n].name, name, len);
	c->e[c->n].name[len] = '\0';
	c->e[c->n].len = len;
	c->e[c->n].t = p;
	c->n++;
	*out = p;
	return p != NULL;
}

static int run(struct render *r, const struct bl_tmpl *t, uint32_t i, uint32_t end,
               const struct ctx *c, const struct indent *ind, const struct scope *sc);

/* {{>name}} and {{<name}}...{{/name}} at node @i. */
static int include(struct render *r, const struct bl_tmpl *t, uint32_t i, const struct ctx *c,
                   const struct indent *ind, const struct scope *sc)
{
	const struct node *nd = &t->nodes[i];
	const char *name;
	size_t len;
	if (nd->flags & F_DYNAMIC) {
		const struct bl_tval *v = lookup(t, nd, c);
		if (!v || v->kind != BL_TVAL_STRING)
			return 0;
		name = v->u.s.p;
		len = v->u.s.len;
	} else {
		name = t->pool + nd->a;
		len = nd->n;
	}
	const struct bl_tmpl *p = NULL;
	int rc = get_partial(r, t, nd, name, len, &p);
	if (rc <= 0)
		return rc;
	if (r->depth == BL_TMPL_MAX_PARTIAL) {
		char tb[72], nb[72];
		return bl_diag_set(r->d, BL_ELIMIT, "%s:%u: partial \"%s\" nests deeper than %d",
		                   shown(t->name, strlen(t->name), tb), nd->line,
		                   shown(name, len, nb), BL_TMPL_MAX_PARTIAL);
	}
	/*
	 * A standalone partial's lines take its indentation on top of ours; an
	 * inline one's take none (only the template's own lines are indented).
	 */
	struct indent ni = {t->pool + nd->ind, nd->indlen, ind};
	const struct indent *pind = NULL;
	if (nd->flags & F_STANDALONE)
		pind = nd->indlen ? &ni : ind;
	struct scope ns = {t, i, sc};
	r->depth++;
	rc = run(r, p, 0, (uint32_t)p->nnodes, c, pind, nd->op == OP_PARENT ? &ns : sc);
	r->depth--;
	return rc;
}

/* {{$name}} at node @i: the outermost override of the parents being expanded, or its own. */
static int block(struct render *r, const struct bl_tmpl *t, uint32_t i, const struct ctx *c,
                 const struct indent *ind, const struct scope *sc)
{
	const struct node *nd = &t->nodes[i];
	const char *name = t->pool + nd->a;
	const struct bl_tmpl *bt = t;
	uint32_t bi = i;
	for (const struct scope *p = sc; p; p = p->up) {
		const struct bl_tmpl *pt = p->t;
		uint32_t end = pt->nodes[p->parent].end;
		for (uint32_t k = p->parent + 1; k < end;) {
			const struct node *kn = &pt->nodes[k];
			if (kn->op == OP_BLOCK && kn->n == nd->n &&
			    memcmp(pt->pool + kn->a, name, nd->n) == 0) {
				bt = pt;
				bi = k;
			}
			k = (kn->op == OP_SECTION || kn->op == OP_INVERTED || kn->op == OP_PARENT ||
			     kn->op == OP_BLOCK)
			        ? kn->end
			        : k + 1;
		}
	}
	/*
	 * Blocks count as expansions: an override can hold its own block
	 * ("{{$b}}{{$b}}{{/b}}{{/b}}" in a parent tag) and would expand forever.
	 */
	if (r->depth == BL_TMPL_MAX_PARTIAL) {
		char tb[72], nb[72];
		return bl_diag_set(r->d, BL_ELIMIT, "%s:%u: block \"%s\" nests deeper than %d",
		                   shown(t->name, strlen(t->name), tb), nd->line,
		                   shown(name, nd->n, nb), BL_TMPL_MAX_PARTIAL);
	}
	/*
	 * A standalone block indents its (dedented) content afresh, the first
	 * line too when the content starts inline ("{{$b}}text{{/b}}").
	 */
	struct indent ni = {t->pool + nd->ind, nd->indlen, ind};
	if (nd->flags & F_STANDALONE) {
		if (nd->indlen)
			ind = &ni;
		if ((bt->nodes[bi].flags & F_INLINE) && bi + 1 < bt->nodes[bi].end)
			add_indent(r->out, ind);
	}
	r->depth++;
	int rc = run(r, bt, bi + 1, bt->nodes[bi].end, c, ind, sc);
	r->depth--;
	return rc;
}

static int run(struct render *r, const struct bl_tmpl *t, uint32_t i, uint32_t end,
               const struct ctx *c, const struct indent *ind, const struct scope *sc)
{
	int rc = 0;
	while (i < end && !rc) {
		const struct node *nd = &t->nodes[i];
		if (r->out->err)
			return out_full(r, t);
		if (++r->steps > BL_TMPL_MAX_STEPS)
			return too_long(r, t, nd);
		const struct bl_tval *v;
		switch ((enum op)nd->op) {
		case OP_TEXT:
			put_text(r->out, t->pool + nd->a, nd->n, ind);
			i++;
			break;
		case OP_INDENT:
			add_indent(r->out, ind);
			i++;
			break;
		case OP_VAR:
		case OP_RAW:
			interpolate(r, lookup(t, nd, c),
			            nd->op == OP_VAR && r->esc == BL_TMPL_ESCAPE_HTML);
			i++;
			break;
		case OP_SECTION:
			v = lookup(t, nd, c);
			if (v && v->kind == BL_TVAL_LIST) {
				for (size_t k = 0; k < v->u.list.n && !rc; k++) {
					/* Items count: an empty body repeated is work too. */
					if (++r->steps > BL_TMPL_MAX_STEPS)
						return too_long(r, t, nd);
					struct ctx item = {v->u.list.v[k], c};
					rc = run(r, t, i + 1, nd->end, &item, ind, sc);
				}
			} else if (!falsey(v)) {
				struct ctx item = {v, c};
				rc = run(r, t, i + 1, nd->end, &item, ind, sc);
			}
			i = nd->end;
			break;
		case OP_INVERTED:
			if (falsey(lookup(t, nd, c)))
				rc = run(r, t, i + 1, nd->end, c, ind, sc);
			i = nd->end;
			break;
		case OP_PARTIAL:
			rc = include(r, t, i, c, ind, sc);
			i++;
			break;
		case OP_PARENT:
			rc = include(r, t, i, c, ind, sc);
			i = nd->end;
			break;
		case OP_BLOCK:
			rc = block(r, t, i, c, ind, sc);
			i = nd->end;
			break;
		}
	}
	if (!rc && r->out->err)
		return out_full(r, t);
	return rc;
}

int bl_tmpl_render_cached(const struct bl_tmpl *t, const struct bl_tval *data,
                          enum bl_tmpl_escape esc, struct bl_tmpl_cache *cache, struct bl_buf *out,
                          struct bl_diag *d)
{
	struct bl_tmpl_cache none = {.fn = NULL};
	struct render r = {.cache = cache ? cache : &none, .esc = esc, .out = out, .d = d};
	struct ctx root = {data, NULL};
	if (out->err)
		return out_full(&r, t);
	return run(&r, t, 0, (uint32_t)t->nnodes, &root, NULL, NULL);
}

int bl_tmpl_render(const struct bl_tmpl *t, const struct bl_tval *data, enum bl_tmpl_escape esc,
                   bl_tmpl_partial_fn partial, void *partial_arg, struct bl_buf *out,
                   struct bl_diag *d)
{
	struct bl_tmpl_cache cache = {.fn = partial, .arg = partial_arg};
	int rc = bl_tmpl_render_cached(t, data, esc, &cache, out, d);
	cache_clear(&cache);
	return rc;
}
