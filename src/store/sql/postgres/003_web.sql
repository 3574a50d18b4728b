-- bulletin schema 3 (PostgreSQL): the same changes as sql/sqlite/003_web.sql
-- (see there for why each index exists), but for SQLite's covering
-- posts_by_status (the body is TOASTed out of line here) and its
-- subscribers_blocklisted (the metrics count subscribers in one scan here).

ALTER TABLE posts ADD COLUMN kind text NOT NULL DEFAULT 'post'
	CHECK (kind IN ('post', 'confirm', 'digest'));

CREATE INDEX posts_archive ON posts (id DESC)
	WHERE kind = 'post' AND status IN ('sending', 'paused', 'sent');

CREATE INDEX posts_sent ON posts (finished_at) WHERE status = 'sent';

DROP INDEX deliveries_by_subscriber;
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id, created_at);
