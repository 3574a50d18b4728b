-- bulletin schema 7 (PostgreSQL): the same table and rules as
-- sql/sqlite/007_bounces.sql (see there for what each column means). Times
-- are bigint seconds since the epoch, like the tables of schema 5.

-- posts.kind gains 'probe' (the CHECK of 003_web.sql, named by PostgreSQL).
ALTER TABLE posts DROP CONSTRAINT posts_kind_check;
ALTER TABLE posts ADD CONSTRAINT posts_kind_check
	CHECK (kind IN ('post', 'confirm', 'digest', 'probe'));

CREATE TABLE bounces (
	id            bigserial PRIMARY KEY,
	report_key    text NOT NULL CHECK (report_key <> ''),
	idx           integer NOT NULL CHECK (idx >= 0),
	received_at   bigint NOT NULL,
	source        text NOT NULL DEFAULT '',
	kind          text NOT NULL DEFAULT '',
	class         text NOT NULL
	              CHECK (class IN ('hard', 'soft', 'block', 'complaint', 'auto-reply', 'unknown')),
	reason        text NOT NULL DEFAULT '',
	status        text NOT NULL DEFAULT '',
	reply_code    integer NOT NULL DEFAULT 0,
	final         boolean NOT NULL DEFAULT true,
	recipient     text NOT NULL DEFAULT '',
	diagnostic    text NOT NULL DEFAULT '',
	feedback_type text NOT NULL DEFAULT '',
	post_id       bigint REFERENCES posts (id) ON DELETE SET NULL,
	subscriber_id bigint REFERENCES subscribers (id) ON DELETE SET NULL,
	attributed_by text NOT NULL DEFAULT '',
	review        text NOT NULL DEFAULT '',
	action        text NOT NULL DEFAULT '',
	UNIQUE (report_key, idx)
);
CREATE INDEX bounces_by_subscriber ON bounces (subscriber_id, received_at);
CREATE INDEX bounces_by_post ON bounces (post_id, class);
CREATE INDEX bounces_review ON bounces (id DESC) WHERE review <> '';
