/*
 * Writing the archive's feeds: Atom 1.0 (RFC 4287) with libxml2's
 * xmlTextWriter and JSON Feed 1.1 (https://jsonfeed.org/version/1.1) with
 * jansson, from entries the caller prepares (src/http/archive.c). Pure
 * functions: no store, no clock. Every string is scrubbed on the way out
 * (bl_utf8_scrub: ill-formed UTF-8 and control characters become U+FFFD), so
 * any bytes in give a well-formed document. The module that includes
 * libxml2's headers (the feed poller will join it).
 */
#ifndef BL_FEED_WRITER_H
#define BL_FEED_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The feed itself. Every URL is absolute. */
struct bl_feed_info {
	const char *id;       /* Atom <id>: a stable IRI (the Atom feed's own URL) */
	const char *title;    /* "Example News" */
	const char *home_url; /* the HTML page of the same posts (the archive) */
	const char *atom_url; /* where the Atom feed is served (rel="self" of the Atom feed) */
	const char *json_url; /* where the JSON Feed is served (its feed_url) */
	const char *author;   /* the publisher's name (Atom needs an author) */
	const char *lang;     /* "en" */
	int64_t updated;      /* seconds since the epoch: the newest entry's time (0 if none) */
};

/* One entry, newest first in the arrays handed in. */
struct bl_feed_entry {
	const char *id;    /* stable: a tag: URI (RFC 4151) or the post's URL */
	const char *url;   /* the post's page */
	const char *title; /* the subject, plain text */
	const char *html;  /* the body, an HTML fragment */
	int64_t published; /* seconds since the epoch */
	int64_t updated;   /* seconds since the epoch */
};

/*
 * bl_feed_atom - append the Atom document of @f and its @n entries @e to
 * @out: <feed xmlns="http://www.w3.org/2005/Atom" xml:lang=...> with id,
 * title, updated, author, generator, link rel="self" (atom_url) and
 * rel="alternate" (home_url); per entry id, title, updated, published,
 * link rel="alternate" and content type="html" (the HTML escaped as text,
 * RFC 4287 §3.1.1.2). Times are RFC 3339 UTC. Returns 0; -BL_ELIMIT when
 * @out's limit is hit; -BL_EIO when libxml2 fails (@d says so).
 */
int bl_feed_atom(const struct bl_feed_info *f, const struct bl_feed_entry *e, size_t n,
                 struct bl_buf *out, struct bl_diag *d);

/*
 * bl_feed_json - append the JSON Feed 1.1 document of @f and its @n entries
 * @e to @out: version, title, home_page_url, feed_url, language, authors;
 * per item id, url, title, content_html, date_published, date_modified.
 * Returns 0; -BL_ELIMIT when @out's limit is hit.
 */
int bl_feed_json(const struct bl_feed_info *f, const struct bl_feed_entry *e, size_t n,
                 struct bl_buf *out, struct bl_diag *d);

#endif
