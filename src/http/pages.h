/*
 * The web page templates: Mustache files compiled once at start, built into
 * the binary from templates/web/ (NAME.html.mustache; layout.html.mustache
 * wraps every page through {{{content}}}) and overridable one by one from a
 * directory (config templates_dir: a file there with the same name wins;
 * style.css too). The admin UI's pages come from templates/admin/ the same
 * way (overridden by DIR/admin/NAME), rendered as "admin/NAME" in their own
 * layout, with two static files (admin.css, admin.js). Rendering is thread-safe (compiled templates
 * are read-only); its output is scrubbed (bl_utf8_scrub).
 */
#ifndef BL_HTTP_PAGES_H
#define BL_HTTP_PAGES_H

#include "tmpl/tmpl.h"
#include "util/buf.h"
#include "util/err.h"

struct bl_pages;

/*
 * bl_pages_create - compile the layout and every page, taking each from
 * @override_dir (NULL or "": none) when the file is there, else the
 * built-in one. Returns 0 with *@out set (bl_pages_destroy); -BL_EINVAL
 * with @d naming the file and line of a template error; -BL_EIO when an
 * override file exists but cannot be read.
 */
int bl_pages_create(const char *override_dir, struct bl_pages **out, struct bl_diag *d);

/* bl_pages_destroy - NULL-safe. */
void bl_pages_destroy(struct bl_pages *p);

/*
 * bl_pages_render - render page @name ("index", "preferences", ...,
 * "admin/dashboard": an admin page in the admin layout) over
 * @data, HTML-escaped, then the layout over @data with "content" set to the
 * page's output, appending to @out with ill-formed UTF-8 and control
 * characters replaced by U+FFFD (bl_utf8_scrub). @data is borrowed (the layout's
 * "content" key is added to it and stays). Returns 0; -BL_ENOENT for an
 * unknown page; -BL_ELIMIT when the output exceeds @out's limit or the
 * template engine's; @d says why.
 */
int bl_pages_render(const struct bl_pages *p, const char *name, struct bl_tval *data,
                    struct bl_buf *out, struct bl_diag *d);

/*
 * bl_pages_stylesheet - the stylesheet served at /static/style.css
 * (templates/web/style.css, or style.css in the override directory):
 * *@len bytes, NUL-terminated, and *@etag its strong entity tag with the
 * quotes ("\"0123456789abcdef\"", a hash of the content). Both borrowed
 * for @p's life.
 */
const char *bl_pages_stylesheet(const struct bl_pages *p, size_t *len, const char **etag);

/*
 * bl_pages_asset - a static file of the admin UI ("admin.css", "admin.js";
 * templates/admin/, or DIR/admin/ of the override directory): its bytes
 * (*@len, NUL-terminated) and strong entity tag *@etag, borrowed for @p's
 * life; NULL for an unknown name.
 */
const char *bl_pages_asset(const struct bl_pages *p, const char *name, size_t *len,
                           const char **etag);

#endif
