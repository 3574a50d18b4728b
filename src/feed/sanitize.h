/*
 * The HTML sanitiser: untrusted HTML (a feed item's content or summary)
 * made safe to put into a mail and the web archive, with an allowlist over
 * libxml2's HTML parser, and a plain-text rendering of HTML for the
 * text/plain part. Nothing that runs survives: no script, style, frames,
 * objects, forms, SVG or MathML, no event handler or style attribute, no
 * URL but http(s) and mailto (links) or https (images). The output is
 * well-formed (every element closed, text and attributes escaped by us) and
 * a fixed point: sanitising it again gives the same bytes. Used by the feed
 * poller (item bodies), src/send/compose.c (posts of format html).
 */
#ifndef BL_FEED_SANITIZE_H
#define BL_FEED_SANITIZE_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Largest HTML accepted, bytes. */
#define BL_SANITIZE_INPUT_MAX ((size_t)8 << 20)
/* Largest sanitised output, bytes (it becomes a post body: BL_BODY_MAX). */
#define BL_SANITIZE_OUTPUT_MAX ((size_t)1 << 20)
/* Deepest element nesting of the parsed input (unknown elements count too). */
#define BL_SANITIZE_DEPTH_MAX 128

/*
 * bl_html_sanitize - clean untrusted HTML @html (@len bytes, UTF-8; bytes
 * that are not UTF-8, NUL and other control characters become U+FFFD) and
 * append the safe HTML fragment to @out.
 *
 * The allowlist: p br hr h1-h6 b strong i em u s sub sup small code pre kbd
 * blockquote[cite] q[cite] cite ul ol[start] li dl dt dd a[href title]
 * img[src alt width height title] figure figcaption table thead tbody tfoot
 * tr th[colspan rowspan] td[colspan rowspan] caption abbr[title]
 * time[datetime] mark del ins span div. Elements whose content is code or
 * controls (script, style, template, noscript, iframe, frame(set), object,
 * embed, applet, svg, math, input, button, select, textarea, title, head
 * matter: meta, link, base) are dropped with their content; any other
 * element is unwrapped (its children kept). Comments, CDATA and processing
 * instructions go.
 *
 * URLs (href, src, cite) are taken after entity decoding, with leading and
 * trailing blanks and every TAB, CR and LF removed (as a browser does),
 * resolved against @base_url (an absolute http(s) URL; NULL or "" for none)
 * with libcurl's URL parser and written as libcurl normalises them. A link
 * keeps an http, https or mailto URL, anything else loses its href (and
 * the <a> is unwrapped); an image needs https, else it is replaced by its
 * alt text. A relative URL without a base is dropped. Every link gets
 * rel="noopener noreferrer nofollow": the destinations are a third party's,
 * they get no ranking credit from the archive, no window.opener, and no
 * Referer naming the reader's page. width/height/colspan/rowspan/start
 * keep only numbers.
 *
 * Returns 0; -BL_ELIMIT when @len exceeds BL_SANITIZE_INPUT_MAX, the
 * nesting BL_SANITIZE_DEPTH_MAX, or the output BL_SANITIZE_OUTPUT_MAX or
 * @out's limit; -BL_EINVAL when libxml2 cannot parse at all. @d says why;
 * @out is unchanged on error.
 */
int bl_html_sanitize(const char *html, size_t len, const char *base_url, struct bl_buf *out,
                     struct bl_diag *d);

/*
 * bl_html_to_text - a readable plain-text rendering of HTML @html (@len
 * bytes, UTF-8; meant for bl_html_sanitize's output, safe on any input),
 * appended to @out: paragraphs, headings, quotes, tables and lists
 * separated by blank lines; runs of blanks collapsed but in <pre>; <br> a
 * line break; list items "- " (numbered "1. " in <ol>), nested lists
 * indented two spaces; quotes prefixed "> "; table cells separated by
 * " | "; <hr> a line of dashes; a link "text <url>" (just the URL when the
 * text is the URL); an image its alt text in brackets ("[A chart]"); script and style content
 * skipped. Lines are not wrapped: mail clients wrap plain text themselves,
 * and a hard-wrapped URL breaks. LF line ends; ends with one LF unless
 * empty. Returns 0; -BL_ELIMIT past BL_SANITIZE_INPUT_MAX, the depth
 * limit, or @out's limit (@out then holds a prefix of the text).
 */
int bl_html_to_text(const char *html, size_t len, struct bl_buf *out);

#endif
