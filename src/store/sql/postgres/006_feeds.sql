-- bulletin schema 6 (PostgreSQL): the same tables and rules as
-- sql/sqlite/006_feeds.sql (see there for what each column means). Times
-- are bigint seconds since the epoch, like the tables of schema 5.

ALTER TABLE posts ADD COLUMN format text NOT NULL DEFAULT 'markdown'
	CHECK (format IN ('markdown', 'html'));

ALTER TABLE lists ADD COLUMN breaking_digest boolean NOT NULL DEFAULT true;

CREATE TABLE feeds (
	id            bigserial PRIMARY KEY,
	url           text NOT NULL UNIQUE,
	title         text NOT NULL DEFAULT '',
	mode          text NOT NULL DEFAULT 'send' CHECK (mode IN ('send', 'draft')),
	every         bigint NOT NULL DEFAULT 900 CHECK (every > 0),
	breaking      boolean NOT NULL DEFAULT false,
	backfill      bigint NOT NULL DEFAULT 0 CHECK (backfill >= 0),
	etag          text NOT NULL DEFAULT '',
	last_modified text NOT NULL DEFAULT '',
	next_poll_at  bigint NOT NULL DEFAULT 0,
	polled_at     bigint,
	ok_at         bigint,
	failures      bigint NOT NULL DEFAULT 0,
	last_error    text NOT NULL DEFAULT '',
	items         bigint NOT NULL DEFAULT 0,
	posts         bigint NOT NULL DEFAULT 0,
	created_at    bigint NOT NULL,
	updated_at    bigint NOT NULL
);
CREATE INDEX feeds_due ON feeds (next_poll_at);

CREATE TABLE feed_lists (
	feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
	list_id bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	PRIMARY KEY (feed_id, list_id)
);
CREATE INDEX feed_lists_by_list ON feed_lists (list_id);

CREATE TABLE feed_items (
	feed_id       bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
	item_key      text COLLATE "C" NOT NULL,
	post_id       bigint REFERENCES posts (id) ON DELETE SET NULL,
	title         text NOT NULL DEFAULT '',
	link          text NOT NULL DEFAULT '',
	first_seen_at bigint NOT NULL,
	PRIMARY KEY (feed_id, item_key)
);

CREATE TABLE digests (
	id           bigserial PRIMARY KEY,
	post_id      bigint UNIQUE REFERENCES posts (id) ON DELETE SET NULL,
	mode         text NOT NULL CHECK (mode IN ('daily', 'weekly')),
	period_start bigint NOT NULL,
	period_end   bigint NOT NULL,
	CHECK (period_start < period_end),
	UNIQUE (mode, period_end)
);

CREATE INDEX posts_started ON posts (started_at) WHERE kind = 'post';
