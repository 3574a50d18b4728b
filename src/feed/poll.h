/*
 * Polling a feed (issue 6): fetch (fetch.h, conditional GET), parse
 * (parse.h), and turn each item not seen before into a post, in one store
 * transaction (store op feed_ingest), so a crash or a second poller never
 * loses or doubles an item. Item HTML is untrusted: it is sanitised
 * (sanitize.h) before it becomes a post body. A poll that fails (network,
 * HTTP status, not a feed, too large, too slow) records the error and
 * moves the next poll back (doubling from the feed's interval, at most
 * BL_FEED_BACKOFF_MAX); the feed keeps its validators and its record of
 * items. Used by `bulletin feed poll`, serve's poller thread and the API.
 */
#ifndef BL_FEED_POLL_H
#define BL_FEED_POLL_H

#include <stdint.h>

#include "feed/fetch.h"
#include "feed/parse.h"
#include "store/store.h"
#include "util/err.h"

#define BL_FEED_BACKOFF_MAX   86400 /* seconds: the longest wait after failures */
#define BL_FEED_SUBJECT_MAX   250   /* bytes of a subject made from an item title */
#define BL_FEED_KEY_HEX       65    /* an item key: 64 hex digits and NUL */
#define BL_FEED_EVERY_MIN     60    /* seconds: the shortest interval a feed may have */
#define BL_FEED_EVERY_DEFAULT 900   /* seconds */

/* What one poll did. */
struct bl_feed_poll_report {
	int64_t feed_id;
	int failed;        /* 1: the poll failed, error says why (recorded on the feed) */
	int not_modified;  /* 1: 304, nothing fetched */
	int64_t items;     /* items in the document */
	int64_t new_items; /* items not seen before */
	int64_t posts;     /* posts made (mode send: scheduled now; mode draft: drafts) */
	int64_t first_post_id, last_post_id;
	int64_t next_poll_at; /* seconds since the epoch */
	char error[BL_DIAG_MAX];
};

/*
 * bl_feed_item_key - the identity of item @it, stable across polls and
 * restarts: hex SHA-256 of "id\n" + its guid/id when it has one, else
 * "link\n" + its link, else "hash\n" + its title, "\n", its date (seconds)
 * and, when both are empty, its summary and content. Written to @out.
 */
void bl_feed_item_key(const struct bl_feed_item *it, char out[BL_FEED_KEY_HEX]);

/*
 * bl_feed_next_poll - when a feed polled at @now with interval @every
 * (seconds) polls next: @now + @every after a success (@failures 0), else
 * @now + min(@every * 2^@failures, BL_FEED_BACKOFF_MAX), never earlier
 * than @now + @every. @failures: consecutive failures including this one.
 */
int64_t bl_feed_next_poll(int64_t now, int64_t every, int64_t failures);

/*
 * bl_feed_poll - poll feed @feed_id now (@now: seconds since the epoch, the
 * caller's clock) with fetch options @fo. Fills @rep. Returns 0 when the
 * poll ran: succeeded, or failed and the failure was recorded on the feed
 * (rep->failed, rep->error); -BL_ENOENT for no such feed; a store error
 * (-BL_ESTORE, -BL_EBUSY) with @d saying why (then nothing was recorded);
 * -BL_EIO when @fo->stop was set during the fetch (nothing recorded).
 */
int bl_feed_poll(struct bl_store *s, int64_t feed_id, const struct bl_fetch_opts *fo, int64_t now,
                 struct bl_feed_poll_report *rep, struct bl_diag *d);

/*
 * bl_feed_entries - build the ingest items of document @doc for feed
 * @feed_id (oldest first: by date when every item has one, else the
 * reverse of document order), skipping items the store has already seen
 * (store op feed_seen) so only new ones are sanitised. *@out gets a
 * malloc'd array of *@n items whose strings live in *@arena (free both with
 * bl_feed_entries_free). Exposed for tests. Returns 0 or a store error.
 */
struct bl_feed_entries;
int bl_feed_entries(struct bl_store *s, int64_t feed_id, const struct bl_feed_doc *doc,
                    struct bl_feed_entries **out, struct bl_diag *d);
const struct bl_feed_ingest_item *bl_feed_entries_items(const struct bl_feed_entries *e, size_t *n);
void bl_feed_entries_free(struct bl_feed_entries *e);

/*
 * bl_feed_url_normalize - whether @url can be a feed's URL, and its one
 * spelling: an absolute http or https URL with a host (curl_url), at most
 * BL_FEED_URL_MAX bytes, without spaces, control characters or a user name
 * or password (they would show in `feed ls`, the API and the logs). *@out
 * (when not NULL) gets it normalised, malloc'd: scheme and host in lower
 * case, "." and ".." segments resolved, no fragment, no empty query, no
 * default port — so one feed cannot be added twice under two spellings.
 * Returns 0, or -BL_EINVAL with @d saying what is wrong in words a
 * publisher can act on (*@out untouched). Where it points (a private
 * address) is checked at fetch time.
 */
#define BL_FEED_URL_MAX 2000
int bl_feed_url_normalize(const char *url, char **out, struct bl_diag *d);

#endif
