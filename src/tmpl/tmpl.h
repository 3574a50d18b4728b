/*
 * Mustache templates (https://mustache.github.io/mustache.5.html and the
 * spec in ../shared/corpora/mustache-spec): a compiler to a flat node array and
 * a renderer over a data tree of our own (struct bl_tval). Templates are
 * data-only: they reach nothing but the tree they are handed and the
 * partials the caller's resolver returns — no environment, files or network.
 * Used by the message composer (src/send) and, later, the web pages.
 * Every size is bounded: nesting depth, partial depth, output bytes, work.
 */
#ifndef BL_TMPL_TMPL_H
#define BL_TMPL_TMPL_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Data tree. Maps keep insertion order; keys are unique (a later set replaces). */
enum bl_tval_kind {
	BL_TVAL_NULL,
	BL_TVAL_BOOL,
	BL_TVAL_NUMBER, /* double; interpolated as the shortest text that reads back the same
	                   ("1.21", "85") */
	BL_TVAL_STRING, /* UTF-8, may hold any byte but NUL */
	BL_TVAL_LIST,
	BL_TVAL_MAP
};

struct bl_tval;

/* Constructors: each returns a new node owned by the caller (or, once
 * added with bl_tval_set/bl_tval_push, by its parent). Abort on OOM.
 * Strings are copied and cut at their first NUL. */
struct bl_tval *bl_tval_null(void);
struct bl_tval *bl_tval_bool(int v);
struct bl_tval *bl_tval_number(double v);
struct bl_tval *bl_tval_string(const char *s); /* copies @s */
struct bl_tval *bl_tval_stringn(const char *s, size_t len);
/* bl_tval_stringf - a string value from printf(@fmt, ...), cut at 2047 bytes (URLs, labels). */
struct bl_tval *bl_tval_stringf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct bl_tval *bl_tval_list(void);
struct bl_tval *bl_tval_map(void);

/* bl_tval_set - set @key of map @map to @v, taking ownership of @v (and
 * destroying a previous value under @key). @key is copied. A @map that is
 * not a map, or a NULL @key or @v, is a programming error: it aborts.
 * Linear in the size of the map (maps are meant to be small). */
void bl_tval_set(struct bl_tval *map, const char *key, struct bl_tval *v);
/* bl_tval_push - append @v to list @list, taking ownership; aborts as bl_tval_set. */
void bl_tval_push(struct bl_tval *list, struct bl_tval *v);
/* bl_tval_get - the value under @key of map @map, or NULL (also when @map is
 * not a map); borrowed, valid while @map is unchanged. */
const struct bl_tval *bl_tval_get(const struct bl_tval *map, const char *key);
/* bl_tval_kind - the kind of @v; BL_TVAL_NULL for NULL. */
enum bl_tval_kind bl_tval_kind(const struct bl_tval *v);
/* bl_tval_count - the number of items of list @v; 0 for anything else (NULL too). */
size_t bl_tval_count(const struct bl_tval *v);
/* bl_tval_destroy - free @v and everything below it; NULL-safe. */
void bl_tval_destroy(struct bl_tval *v);

/*
 * Limits. Together the first three bound the renderer's recursion: at most
 * BL_TMPL_MAX_DEPTH + 1 levels in each of BL_TMPL_MAX_PARTIAL + 1 nested
 * expansions. Steps bound the work of one render whatever the output: every
 * node visited and every list item iterated counts, so "{{#l}}{{#l}}{{/l}}
 * {{/l}}" over a long list, or partials that fan out level after level, stop
 * with -BL_ELIMIT instead of running for hours. 4 Mi steps are some tens of
 * milliseconds of work and allow a digest of 100 000 posts of 20 tags each.
 */
#define BL_TMPL_MAX_SOURCE                                                                         \
	(4u << 20)             /* bytes of one template (a 1 MiB Markdown body grows as HTML) */
#define BL_TMPL_MAX_DEPTH   64 /* nested sections, parents and blocks */
#define BL_TMPL_MAX_PARTIAL 16 /* partials, parents and blocks expanded in one another */
#define BL_TMPL_MAX_STEPS   (1ul << 22) /* nodes visited and list items in one render */

/* How {{name}} is escaped ({{{name}}} and {{&name}} never are). */
enum bl_tmpl_escape {
	BL_TMPL_ESCAPE_HTML, /* & < > " as the spec's entities, and ' as &#39; */
	BL_TMPL_ESCAPE_NONE  /* plain text parts and headers */
};

/*
 * Partial resolver: set *@src and *@len to the source of partial @name and
 * return 1; 0 when there is no such partial (it renders as empty, as the
 * spec says); negative -BL_E* to fail the render. The source must stay
 * valid for the whole render call. @name is as written in the template
 * (no blanks or control bytes) or, for {{>*x}}, the string found in the
 * data: a resolver must not take it for a file path without checking it.
 */
typedef int (*bl_tmpl_partial_fn)(void *arg, const char *name, const char **src, size_t *len);

struct bl_tmpl;

/*
 * bl_tmpl_compile - parse Mustache source @src (@len bytes, UTF-8; need not
 * be NUL-terminated; NULL when @len is 0). @name names it in messages
 * ("layout.html"; NULL gives "template"). The source is not kept.
 * Returns 0 with *@out set (free with bl_tmpl_destroy); -BL_EINVAL for a
 * syntax error (unclosed tag or section, mismatched close, empty tag, a name
 * with blanks or an empty dotted part, bad delimiter change) with @d saying
 * "NAME:LINE: problem"; -BL_ELIMIT beyond BL_TMPL_MAX_SOURCE or
 * BL_TMPL_MAX_DEPTH. *@out is untouched on error.
 *
 * The language is the Mustache spec's required modules (interpolation,
 * sections, inverted sections, comments, partials, set delimiters) plus its
 * optional dynamic names ({{>*name}}) and inheritance ({{<parent}},
 * {{$block}}); lambdas do not exist in a data-only tree. Where the spec
 * leaves truthiness to the host language: null, false, the empty list and
 * the empty string are falsey; every number (0 too), map and other string
 * is truthy. Lists and maps interpolate as nothing, booleans as "true" and
 * "false". A standalone partial's indentation goes before each line of the
 * partial's own text, never inside the data it prints; a standalone block's
 * content loses the indentation it was written with and takes that of the
 * place it expands into (the inheritance spec's rules). A compiled template
 * is read-only: threads may share it.
 */
int bl_tmpl_compile(const char *src, size_t len, const char *name, struct bl_tmpl **out,
                    struct bl_diag *d);

/* bl_tmpl_destroy - free @t; NULL-safe. */
void bl_tmpl_destroy(struct bl_tmpl *t);

/*
 * bl_tmpl_render - render @t over @data (a map, or any value; NULL is an
 * empty context) appending to @out. Names resolve with the spec's context
 * stack and dotted names; a name that resolves to nothing renders as empty.
 * Partials come from @partial (NULL: none); each is compiled on first use
 * in this call, so a loop over subscribers wants bl_tmpl_render_cached.
 * Returns 0; -BL_EINVAL for a partial that does not compile (@d says which
 * and why); -BL_ELIMIT when partials, parents and blocks nest past
 * BL_TMPL_MAX_PARTIAL, the render passes BL_TMPL_MAX_STEPS, or @out's bound
 * is hit (or was hit before the call); a resolver's error as is. On error
 * @out holds a partial rendering the caller must discard.
 */
int bl_tmpl_render(const struct bl_tmpl *t, const struct bl_tval *data, enum bl_tmpl_escape esc,
                   bl_tmpl_partial_fn partial, void *partial_arg, struct bl_buf *out,
                   struct bl_diag *d);

/*
 * A partial cache: partials resolved and compiled once and kept for many
 * renders, which then parse nothing and allocate only output. It remembers
 * absent partials too, so the resolver is asked once per name; it assumes a
 * name keeps its source for the cache's life (make a new cache when
 * templates change). One cache serves one thread at a time.
 */
struct bl_tmpl_cache;

/*
 * bl_tmpl_cache_create - an empty cache over resolver @partial (NULL: no
 * partials) and its @partial_arg, which must outlive the cache. The source
 * the resolver returns need only stay valid until it is called again.
 * Free with bl_tmpl_cache_destroy. Aborts on OOM.
 */
struct bl_tmpl_cache *bl_tmpl_cache_create(bl_tmpl_partial_fn partial, void *partial_arg);

/* bl_tmpl_cache_destroy - free @c and the partials it holds; NULL-safe. */
void bl_tmpl_cache_destroy(struct bl_tmpl_cache *c);

/*
 * bl_tmpl_render_cached - as bl_tmpl_render, with partials from @cache
 * (resolved and compiled on the first use of each name; NULL: no partials).
 * A partial that fails to compile is not kept: the next render reports it
 * again.
 */
int bl_tmpl_render_cached(const struct bl_tmpl *t, const struct bl_tval *data,
                          enum bl_tmpl_escape esc, struct bl_tmpl_cache *cache, struct bl_buf *out,
                          struct bl_diag *d);

#endif
