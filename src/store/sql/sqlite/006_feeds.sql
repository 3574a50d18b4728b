-- bulletin schema 6 (SQLite): feeds to email and digests (issue 6).

-- posts.format: what the body is. 'markdown': a publisher's body, Markdown
-- with Mustache tags (rendered per subscriber). 'html': a feed item's
-- sanitised HTML (src/feed/sanitize.h), inserted as it is, never a template.
ALTER TABLE posts ADD COLUMN format TEXT NOT NULL DEFAULT 'markdown'
	CHECK (format IN ('markdown', 'html'));

-- lists.breaking_digest: 1 (default) = a breaking post also goes at once to
-- the list's daily and weekly subscribers; 0 = they get it in their digest.
ALTER TABLE lists ADD COLUMN breaking_digest INTEGER NOT NULL DEFAULT 1
	CHECK (breaking_digest IN (0, 1));

-- A feed polled for new items. every: seconds between polls. backfill: how
-- many of the items present at the first successful poll become posts
-- (newest first); the others are only marked seen. etag/last_modified: the
-- validators of the last 200 answer (conditional GET). next_poll_at: when
-- the poller takes it next (back-off after failures). failures: consecutive
-- failed polls. ok_at: the last successful poll; NULL = never (the next
-- success is the first poll).
CREATE TABLE feeds (
	id            INTEGER PRIMARY KEY,
	url           TEXT NOT NULL UNIQUE,
	title         TEXT NOT NULL DEFAULT '',
	mode          TEXT NOT NULL DEFAULT 'send' CHECK (mode IN ('send', 'draft')),
	every         INTEGER NOT NULL DEFAULT 900 CHECK (every > 0),
	breaking      INTEGER NOT NULL DEFAULT 0 CHECK (breaking IN (0, 1)),
	backfill      INTEGER NOT NULL DEFAULT 0 CHECK (backfill >= 0),
	etag          TEXT NOT NULL DEFAULT '',
	last_modified TEXT NOT NULL DEFAULT '',
	next_poll_at  INTEGER NOT NULL DEFAULT 0,
	polled_at     INTEGER,
	ok_at         INTEGER,
	failures      INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT NOT NULL DEFAULT '',
	items         INTEGER NOT NULL DEFAULT 0,
	posts         INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX feeds_due ON feeds (next_poll_at);

CREATE TABLE feed_lists (
	feed_id INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
	list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	PRIMARY KEY (feed_id, list_id)
) WITHOUT ROWID;
CREATE INDEX feed_lists_by_list ON feed_lists (list_id);

-- Every item a feed ever showed: the deduplication record. item_key: hex
-- SHA-256 of the item's identity (bl_feed_item_key: guid/id, else link,
-- else title and date). post_id: the post it became; NULL when it was only
-- marked seen (a first poll) or its post was deleted.
CREATE TABLE feed_items (
	feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
	item_key      TEXT NOT NULL,
	post_id       INTEGER REFERENCES posts (id) ON DELETE SET NULL,
	title         TEXT NOT NULL DEFAULT '',
	link          TEXT NOT NULL DEFAULT '',
	first_seen_at INTEGER NOT NULL,
	PRIMARY KEY (feed_id, item_key)
) WITHOUT ROWID;

-- A digest is a post of kind 'digest' for one mode and one period
-- [period_start, period_end): one delivery row per subscriber who has
-- something in it, made in the transaction that records the period. A
-- period in which nobody had anything is recorded without a post (post_id
-- NULL). The UNIQUE key makes a second run for the same period a no-op;
-- periods of a mode are contiguous (each starts where the last one ended),
-- so a post is in at most one digest of each mode.
CREATE TABLE digests (
	id           INTEGER PRIMARY KEY,
	post_id      INTEGER UNIQUE REFERENCES posts (id) ON DELETE SET NULL,
	mode         TEXT NOT NULL CHECK (mode IN ('daily', 'weekly')),
	period_start INTEGER NOT NULL,
	period_end   INTEGER NOT NULL,
	CHECK (period_start < period_end),
	UNIQUE (mode, period_end)
);

-- A digest gathers the publisher posts that started sending in its period.
CREATE INDEX posts_started ON posts (started_at) WHERE kind = 'post';
