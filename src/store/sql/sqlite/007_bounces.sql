-- bulletin schema 7 (SQLite): bounces and complaints (issue 7). One row per
-- finding of a report (a DSN recipient, a complaint, an auto-reply, a
-- webhook event, a synchronous 5xx), attributed to the delivery it concerns
-- or kept in the review bucket; the policy (store.h bounce_record) counts
-- a subscriber's findings here. Times are INTEGER seconds since the epoch.

-- posts.kind gains 'probe': a message to one subscriber whose soft bounces
-- reached the limit, sent before disabling them (mlmmj's probe). The CHECK
-- lives in the column definition 003_web.sql added with ALTER TABLE; SQLite
-- cannot alter a CHECK, and rebuilding posts inside the migration's
-- transaction with foreign keys on would cascade the DROP into deliveries
-- and post_lists. Loosening a CHECK leaves every stored row valid, so the
-- "simpler procedure" of https://www.sqlite.org/lang_altertable.html
-- (section 7, "Making Other Kinds Of Table Schema Changes") applies: edit
-- the table's text in sqlite_schema under writable_schema, inside the
-- transaction. RESET reloads this connection's schema; the CREATE TABLE
-- below changes the schema cookie, so every other connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
	SET sql = replace(sql, 'CHECK (kind IN (''post'', ''confirm'', ''digest''))',
	                  'CHECK (kind IN (''post'', ''confirm'', ''digest'', ''probe''))')
	WHERE type = 'table' AND name = 'posts';
PRAGMA writable_schema = RESET;
-- The migration fails (and rolls back) unless exactly the posts table now allows 'probe'.
CREATE TEMP TABLE migration_007_check (n INTEGER CHECK (n = 1));
INSERT INTO migration_007_check
	SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'posts'
	AND sql LIKE '%''digest'', ''probe''))%';
DROP TABLE temp.migration_007_check;

-- report_key, idx: the report (hex SHA-256 of its Message-ID or bytes, or of a
-- provider's event id) and the finding's place in it: the same report
-- delivered twice is recorded once. source: the intake; kind: the report's
-- kind (bl_report_kind_name) or 'smtp'. class: enum bl_bounce_class. final: 1
-- the delivery ended, 0 a delay warning (never counted). post_id,
-- subscriber_id: the delivery it concerns, NULL when not attributed (review
-- says why) — and subscriber_id NULL once the subscriber is erased, which
-- also blanks recipient and diagnostic (personal data), as consent events are
-- detached. attributed_by: 'verp', 'message-id', 'recipient', 'smtp' or ''.
-- action: what the policy did ('disabled', 'unsubscribed', 'probe',
-- 'counted', 'recorded', 'review').
CREATE TABLE bounces (
	id            INTEGER PRIMARY KEY,
	report_key    TEXT NOT NULL CHECK (report_key <> ''),
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	received_at   INTEGER NOT NULL,
	source        TEXT NOT NULL DEFAULT '',
	kind          TEXT NOT NULL DEFAULT '',
	class         TEXT NOT NULL
	              CHECK (class IN ('hard', 'soft', 'block', 'complaint', 'auto-reply', 'unknown')),
	reason        TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL DEFAULT '',
	reply_code    INTEGER NOT NULL DEFAULT 0,
	final         INTEGER NOT NULL DEFAULT 1 CHECK (final IN (0, 1)),
	recipient     TEXT NOT NULL DEFAULT '',
	diagnostic    TEXT NOT NULL DEFAULT '',
	feedback_type TEXT NOT NULL DEFAULT '',
	post_id       INTEGER REFERENCES posts (id) ON DELETE SET NULL,
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	attributed_by TEXT NOT NULL DEFAULT '',
	review        TEXT NOT NULL DEFAULT '',
	action        TEXT NOT NULL DEFAULT '',
	UNIQUE (report_key, idx)
);
-- The policy's counts (a subscriber's hard findings; soft ones in the
-- window), a subscriber's listing, and the foreign key on erasure.
CREATE INDEX bounces_by_subscriber ON bounces (subscriber_id, received_at);
-- A post's findings by class (rates), and its listing.
CREATE INDEX bounces_by_post ON bounces (post_id, class);
-- The review bucket, newest first: only the unattributed rows are in it.
CREATE INDEX bounces_review ON bounces (id) WHERE review <> '';
