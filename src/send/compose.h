/*
 * Composing a post's messages: one composer per post turns a claimed
 * delivery row into the exact bytes a subscriber gets, and its VERP
 * envelope sender. The Markdown body is converted once (src/render) into an
 * HTML and a text template; a body of format html (a feed item's) is
 * sanitised once more (src/feed/sanitize.h) and rendered as text, and is no
 * template: `{{` in it stays text. Each message renders those and the
 * layout templates (templates/email.{html,txt}.mustache, compiled into the
 * binary) over the subscriber's data, then builds the MIME message
 * (src/mime). Used by the delivery engine and `post preview`. Data names
 * handed to templates (README "Template data"): subscriber.name,
 * subscriber.email, subscriber.attributes.KEY, list.name, list.slug,
 * post.subject, post.id, post.url, unsubscribe_url, preferences_url,
 * archive_url, postal_address.
 * A post of kind confirm (a double opt-in confirmation mail, see store.h
 * web_signup) is composed from templates/confirm.{html,txt}.mustache
 * instead: data subscriber.email, site_name, lists[].name, confirm_url,
 * expires, postal_address; no List-* headers, Auto-Submitted:
 * auto-generated (RFC 3834).
 * A post of kind digest (store.h digest_create) is composed per subscriber
 * from templates/digest.{html,txt}.mustache over the subscriber's posts of
 * the period, read from the store (opts.store) at each message: data
 * subscriber.*, list.* (the row's list), post.subject and post.id (the
 * digest's), digest.mode, digest.since, digest.until, digest.count,
 * digest.one, posts[] (subject, url, excerpt, list.name, list.slug, id),
 * lists[] (name, slug, unsubscribe_url, last), unsubscribe_url,
 * preferences_url, archive_url, site_name, postal_address; List-* headers
 * as a post (the row's list).
 */
#ifndef BL_SEND_COMPOSE_H
#define BL_SEND_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/model.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

/* Largest message composed, bytes. */
#define BL_MESSAGE_MAX (8u << 20)
/* Longest envelope sender: "bounces+" TOKEN "@" domain. */
#define BL_MAIL_FROM_MAX 320

struct bl_compose_opts {
	const char *from;           /* "Name <addr>" or "addr": the config's `from` */
	const char *public_url;     /* base of links, no trailing slash needed */
	const char *bounce_domain;  /* "" = the domain of the sender */
	const char *list_id_domain; /* "" = the host of public_url (the sender's domain when
	                               that is an IP address or localhost) */
	const char *postal_address; /* footer line, "" for none */
	const char *site_name;      /* the publication's name in confirmation mail; "" = the
	                               host of public_url */
	int64_t confirm_ttl;        /* seconds a confirmation link stays valid (from the
	                               confirmation post's creation) */
	const struct bl_secret *secret;
	unsigned address_flags; /* BL_ADDRESS_* for parsing the sender */
	struct bl_store *store; /* digests only: where bl_compose reads a subscriber's posts (the
	                           caller's handle, used from the caller's thread); NULL
	                           otherwise */
};

struct bl_composer;

/*
 * bl_sender_parse - split @from ("Name <addr>", "\"Name\" <addr>" or
 * "addr") into a display name and a validated address (IDNA A-label domain).
 * @name gets at most BL_NAME_MAX+1 bytes, @addr BL_ADDRESS_MAX+1. Returns 0,
 * or -BL_EINVAL when @from is empty, holds CR, LF or NUL, or the address
 * is refused (@d says why).
 */
int bl_sender_parse(const char *from, unsigned flags, char *name, size_t name_size, char *addr,
                    size_t addr_size, struct bl_diag *d);

/*
 * bl_composer_create - prepare post @p (its body and subject; its own
 * from_header when set, else @o->from) for the @n_lists lists in @lists
 * (borrowed for the composer's life). Converts the Markdown and compiles
 * the templates (format html: sanitises the HTML and renders its text).
 * Returns 0 with *@out set (free with bl_composer_destroy);
 * -BL_EINVAL with @d saying what is wrong (no sender configured, a
 * malformed sender or public_url, a template syntax error with its line).
 */
int bl_composer_create(const struct bl_compose_opts *o, const struct bl_post *p,
                       const struct bl_list *lists, size_t n_lists, struct bl_composer **out,
                       struct bl_diag *d);

/* bl_composer_destroy - free @c; NULL-safe. */
void bl_composer_destroy(struct bl_composer *c);

/*
 * bl_compose - the message for claimed row @row (its subscriber and list):
 * appended to @msg (CRLF, ready for SMTP DATA), the VERP envelope sender
 * written to @mail_from. @now is the Date header (seconds since the epoch).
 * The Message-ID is the same for every attempt of the row:
 * <bulletin-POST-SUBSCRIBER-MAC.CREATED@list_id_domain>, CREATED being the
 * post's creation time in hex (post ids start again in a restored database). Returns 0; -BL_EINVAL
 * when the subscriber's data cannot be rendered (@d says why); -BL_ELIMIT past BL_MESSAGE_MAX.
 * A digest: -BL_ENOENT when the subscriber has nothing left in it (unsubscribed, another
 * mode, its posts cancelled; @d says so: the engine suppresses the row), -BL_ESTORE when the
 * store cannot be read or opts.store was NULL.
 */
int bl_compose(struct bl_composer *c, const struct bl_claimed *row, int64_t now, struct bl_buf *msg,
               char mail_from[BL_MAIL_FROM_MAX], struct bl_diag *d);

/*
 * bl_composer_last_html / bl_composer_last_text - the HTML and text bodies
 * of the last message bl_compose made (as they went into the MIME parts);
 * borrowed, valid until the next bl_compose or bl_composer_destroy.
 */
const char *bl_composer_last_html(const struct bl_composer *c);
const char *bl_composer_last_text(const struct bl_composer *c);

/*
 * bl_post_body_check - whether post body @body (@len bytes) of @format will
 * compose: no NUL byte, UTF-8; for Markdown (with Mustache tags) also
 * Markdown that converts, and Mustache that compiles in the body itself
 * and in the HTML and text the Markdown becomes (what bl_composer_create
 * compiles). An HTML body is no template and is sanitised when composed:
 * nothing more to check. @name names the body in messages ("body", a file
 * name). The one check of `post create`, the API and the admin composer.
 * Returns 0, or -BL_EINVAL with @d saying what is wrong, a template error
 * with its line ("body:3: ...").
 */
int bl_post_body_check(enum bl_post_format format, const char *body, size_t len, const char *name,
                       struct bl_diag *d);

/* bl_composer_post_id - the post @c composes. */
int64_t bl_composer_post_id(const struct bl_composer *c);

/*
 * bl_public_url_parse - check @url (config public_url) as the base of every
 * link: an http:// or https:// URL with a host, without query, fragment,
 * blanks, quotes, '<', '>' or '\\'. *@base gets it without trailing '/',
 * *@host its host (as libcurl's URL parser gives it, "[::1]" for IPv6);
 * both malloc'd, the caller frees them. Returns 0, or -BL_EINVAL with @d
 * saying what is wrong (outputs untouched).
 */
int bl_public_url_parse(const char *url, char **base, char **host, struct bl_diag *d);

/* Longest URL slug of a post: the part after "ID-" in /archive/ID-SLUG. */
#define BL_ARCHIVE_SLUG_MAX 60

/*
 * bl_archive_slug - the URL slug of a post with subject @subject: ASCII
 * letters lowercased and digits kept, Latin-1 letters folded to ASCII
 * ("é" -> "e", "ß" -> "ss"), every other run of characters one '-', none
 * at either end, cut at BL_ARCHIVE_SLUG_MAX bytes (never ending in '-').
 * Writes it NUL-terminated to @out and returns its length (0 when the
 * subject has no letter or digit: the post's URL is then /archive/ID).
 */
int bl_archive_slug(const char *subject, char out[BL_ARCHIVE_SLUG_MAX + 1]);

/*
 * bl_post_web_html - the body of post @p as HTML for the web archive and
 * the feeds, appended to @out. A post of format html: its HTML sanitised as
 * for mail, headings moved one level down, no template. Markdown: converted
 * as for mail (cmark,
 * safe mode), headings moved one level down (<h1> becomes <h2>: the page's
 * own heading is the subject; <h6> stays), then rendered as a Mustache
 * template over data without a subscriber: post.subject, post.id,
 * post.url (@post_url) and archive_url (@public_url + "/archive") work;
 * unsubscribe_url and preferences_url lead to the signup page (@public_url
 * + "/"); subscriber.*, list.* and postal_address render empty. Nothing is cached. Returns 0;
 * -BL_EINVAL for a body that is not UTF-8 or whose Mustache does not compile (@d says why);
 * -BL_ELIMIT past BL_MARKDOWN_MAX or @out's limit.
 */
int bl_post_web_html(const struct bl_post *p, const char *public_url, const char *post_url,
                     struct bl_buf *out, struct bl_diag *d);

#endif
