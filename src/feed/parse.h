/*
 * Reading RSS 0.9x, RSS 1.0 (RDF), RSS 2.0 and Atom 1.0 (RFC 4287) feeds
 * into one flat model the feed poller turns into posts. Lenient like
 * Python's feedparser: the character encoding is chosen with the rules of
 * RFC 7303 / RFC 3023 as feedparser applies them (falling back to
 * windows-1252 for undeclared 8-bit text), libxml2 parses in recovery mode,
 * HTML named entities are decoded, and whatever needed repair sets `bozo`.
 * libxml2 never loads an external entity, DTD or URL. Every string in the
 * result is well-formed UTF-8; every count and size is capped (below).
 */
#ifndef BL_FEED_PARSE_H
#define BL_FEED_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Largest document accepted, bytes (before decoding). */
#define BL_FEED_MAX_BYTES ((size_t)16 << 20)
/* Most top-level items/entries accepted in one document. */
#define BL_FEED_MAX_ITEMS 10000
/* Longest string field kept, bytes; longer text is cut at a UTF-8 boundary. */
#define BL_FEED_MAX_FIELD ((size_t)2 << 20)

/* One item (RSS) or entry (Atom). Every string is owned, never NULL ("" when absent). */
struct bl_feed_item {
	char *id;      /* RSS guid / Atom id / RDF rdf:about, trimmed */
	char *link;    /* absolute URL of the item's page (alternate link, else a permalink guid) */
	char *title;   /* plain text: entities decoded, tags of HTML titles removed, whitespace
	                  collapsed */
	char *summary; /* HTML: description / atom:summary / dc:description (text constructs
	                  escaped) */
	char *content; /* HTML: content:encoded / atom:content / xhtml:body (xhtml serialised) */
	char *base;    /* what relative links inside summary/content resolve against */
	char *author;  /* plain text: author name (or the RSS author's address when that is all) */
	int64_t published;    /* seconds since the epoch, 0 = absent or unparsable */
	int64_t updated;      /* seconds since the epoch, 0 = absent or unparsable */
	char *enclosure_url;  /* first enclosure / media:content / Atom rel="enclosure", absolute */
	char *enclosure_type; /* its MIME type as given */
};

/* A parsed document. Strings are owned, never NULL after a successful parse. */
struct bl_feed_doc {
	const char *format;  /* "rss", "rdf" or "atom" (static) */
	const char *version; /* feedparser's names: "rss20", "rss091u", "rss090", "rss10", "atom10",
	                        "atom03", "rss" (static) */
	char *title;         /* the channel's / feed's title, plain text */
	char *link;          /* the channel's / feed's alternate link, absolute */
	char *encoding;      /* the encoding the bytes were decoded with, lowercase ("utf-8") */
	int bozo;            /* 1 when the document needed repair or an encoding fallback */
	char *bozo_reason;   /* the first such repair, in words; "" when bozo is 0 */
	int truncated;       /* 1 when the root element's end tag never comes: the document
	                        stops early (a cut download); its last item may be partial */
	struct bl_feed_item *items; /* top-level items in document order (nested ones ignored) */
	size_t n_items;
};

/*
 * bl_feed_parse - parse @len bytes of @data as a feed into caller-owned @out.
 * @doc_url: the URL the document was fetched from (relative links resolve
 * against it when no xml:base says otherwise), or NULL.
 * @content_type: the HTTP Content-Type header value, or NULL when the bytes
 * did not come over HTTP; its charset and media type pick the encoding
 * (RFC 7303 §3, RFC 3023 §3 as feedparser applies them).
 * Returns 0 and fills @out (free it with bl_feed_doc_clear), or
 * -BL_EINVAL when the bytes are not a feed (no <rss>, <rdf:RDF> or <feed>
 * root; @d says what was found instead), -BL_ELIMIT when @len exceeds
 * BL_FEED_MAX_BYTES or the items BL_FEED_MAX_ITEMS (@d says which). On
 * error @out is left empty (all zero). Thread-safe.
 */
int bl_feed_parse(const char *data, size_t len, const char *doc_url, const char *content_type,
                  struct bl_feed_doc *out, struct bl_diag *d);

/* bl_feed_doc_clear - free everything @doc owns and zero it. NULL-safe. */
void bl_feed_doc_clear(struct bl_feed_doc *doc);

/* bl_feed_item_clear - free the strings of one item of a document and zero it; the
 * document's own clear frees the rest (a caller may drop items from its end). */
void bl_feed_item_clear(struct bl_feed_item *it);

/*
 * bl_feed_date_parse - a feed date as seconds since the epoch: RFC 822 /
 * RFC 2822 §3.3 ("Sat, 07 Sep 2002 00:00:01 GMT", named zones UT, GMT, Z,
 * EST/EDT, CST/CDT, MST/MDT, PST/PDT and a few others, numeric offsets,
 * 2-digit years, a missing weekday or seconds), RFC 3339 / W3C-DTF
 * ("2002-09-07T00:00:01Z", "+02:00", fractions, date only) and the
 * "2020/1/10 14:33:00" form. Times without a zone are UTC. Returns the time,
 * or 0 when @s is NULL, not a date in one of these forms, or before 1970
 * (1970-01-01T00:00:00Z itself reads as 1, since 0 means "no date").
 */
int64_t bl_feed_date_parse(const char *s);

#endif
