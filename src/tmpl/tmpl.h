/*
 * Mustache templates (https://mustache.github.io/mustache.5.html and the
 * spec in ../shared/corpora/mustache-spec): a compiler to a small tree and
 * a renderer over a data tree of our own (struct bl_tval). Templates are
 * data-only: they reach nothing but the tree they are handed and the
 * partials the caller's resolver returns — no environment, files or network.
 * Used by the message composer (src/send) and, later, the web pages.
 * Every size is bounded: nesting depth, partial depth, output bytes.
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
 * added with bl_tval_set/bl_tval_push, by its parent). Abort on OOM. */
struct bl_tval *bl_tval_null(void);
struct bl_tval *bl_tval_bool(int v);
struct bl_tval *bl_tval_number(double v);
struct bl_tval *bl_tval_string(const char *s); /* copies @s */
struct bl_tval *bl_tval_stringn(const char *s, size_t len);
struct bl_tval *bl_tval_list(void);
struct bl_tval *bl_tval_map(void);

/* bl_tval_set - set @key of map @map to @v, taking ownership of @v (and
 * destroying a previous value under @key). @key is copied. */
void bl_tval_set(struct bl_tval *map, const char *key, struct bl_tval *v);
/* bl_tval_push - append @v to list @list, taking ownership. */
void bl_tval_push(struct bl_tval *list, struct bl_tval *v);
/* bl_tval_get - the value under @key of map @map, or NULL; borrowed. */
const struct bl_tval *bl_tval_get(const struct bl_tval *map, const char *key);
enum bl_tval_kind bl_tval_kind(const struct bl_tval *v);
/* bl_tval_destroy - free @v and everything below it; NULL-safe. */
void bl_tval_destroy(struct bl_tval *v);

/* Limits. */
#define BL_TMPL_MAX_SOURCE  (1u << 20) /* bytes of one template */
#define BL_TMPL_MAX_DEPTH   64         /* nested sections */
#define BL_TMPL_MAX_PARTIAL 16         /* nested partial inclusions */

/* How {{name}} is escaped ({{{name}}} and {{&name}} never are). */
enum bl_tmpl_escape {
	BL_TMPL_ESCAPE_HTML, /* & < > " ' as entities (the spec's escaping) */
	BL_TMPL_ESCAPE_NONE  /* plain text parts and headers */
};

/*
 * Partial resolver: set *@src and *@len to the source of partial @name and
 * return 1; 0 when there is no such partial (it renders as empty, as the
 * spec says); negative -BL_E* to fail the render. The source must stay
 * valid for the whole render call.
 */
typedef int (*bl_tmpl_partial_fn)(void *arg, const char *name, const char **src, size_t *len);

struct bl_tmpl;

/*
 * bl_tmpl_compile - parse Mustache source @src (@len bytes, UTF-8; need not
 * be NUL-terminated). @name names it in messages ("layout.html").
 * Returns 0 with *@out set (free with bl_tmpl_destroy); -BL_EINVAL for a
 * syntax error (unclosed tag or section, mismatched close, bad delimiter
 * change) with @d saying "NAME:LINE: problem"; -BL_ELIMIT beyond the limits.
 */
int bl_tmpl_compile(const char *src, size_t len, const char *name, struct bl_tmpl **out,
                    struct bl_diag *d);

/* bl_tmpl_destroy - free @t; NULL-safe. */
void bl_tmpl_destroy(struct bl_tmpl *t);

/*
 * bl_tmpl_render - render @t over @data (a map, or any value) appending to
 * @out. Names resolve with the spec's context stack and dotted names.
 * Partials come from @partial (NULL: none); each is compiled on first use
 * in this call. Returns 0; -BL_EINVAL for a partial that does not compile
 * (@d says which and why); -BL_ELIMIT when partials nest past
 * BL_TMPL_MAX_PARTIAL or @out's bound is hit; a resolver's error as is.
 * On error @out holds a partial rendering the caller must discard.
 */
int bl_tmpl_render(const struct bl_tmpl *t, const struct bl_tval *data, enum bl_tmpl_escape esc,
                   bl_tmpl_partial_fn partial, void *partial_arg, struct bl_buf *out,
                   struct bl_diag *d);

#endif
