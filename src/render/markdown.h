/*
 * Markdown to the two bodies of a post: an HTML template and a plain-text
 * template, with cmark (CommonMark) in safe mode (raw HTML and
 * javascript:/vbscript:/file:/data: links are dropped). The only module that
 * includes cmark.h. Mustache tags in the Markdown ({{...}}, {{{...}}},
 * sections) pass through untouched — also inside link destinations — so the
 * results are Mustache templates rendered once per subscriber.
 */
#ifndef BL_RENDER_MARKDOWN_H
#define BL_RENDER_MARKDOWN_H

#include <stddef.h>

#include "util/err.h"

#define BL_MARKDOWN_MAX (1u << 20) /* bytes of Markdown in one post */

/*
 * bl_markdown_render - convert Markdown @md (@len bytes, UTF-8) into
 *  *@html: an HTML fragment (no <html>/<body>), and
 *  *@text: a readable plain-text version: paragraphs wrapped at 72
 *          columns where possible, headings underlined or marked, list
 *          items with "- " or "1. ", quotes with "> ", code kept verbatim,
 *          emphasis without markers, images as their alt text, and every
 *          link as "text [N]" with a numbered list "[N] URL" at the end
 *          (the same URL gets the same number).
 * Both are malloc'd, NUL-terminated, LF line ends; the caller frees them.
 * Mustache tags in @md survive in both outputs byte-exact.
 * Returns 0; -BL_EINVAL if @md is not UTF-8; -BL_ELIMIT past BL_MARKDOWN_MAX.
 * Outputs are untouched on error.
 */
int bl_markdown_render(const char *md, size_t len, char **html, char **text, struct bl_diag *d);

#endif
