-- bulletin schema 3 (SQLite): the public web (signup, confirmation,
-- unsubscribe, preference centre, archive, metrics).

-- kind: what a post row is (enum bl_post_kind). 'post' is a publisher's post
-- (the archive, `post ls`, post_queue); 'confirm' a double opt-in
-- confirmation mail made by web_signup for one subscriber, sent through the
-- same ledger; 'digest' is reserved. ADD COLUMN puts it after the body, so the
-- engine's list of sending posts reads it from posts_by_status instead.
ALTER TABLE posts ADD COLUMN kind TEXT NOT NULL DEFAULT 'post'
	CHECK (kind IN ('post', 'confirm', 'digest'));

-- The engine's turn walks the posts in status sending by priority, then id,
-- and needs each one's kind (its claim rule): all from the index.
DROP INDEX posts_by_status;
CREATE INDEX posts_by_status ON posts (status, priority DESC, id, kind);

-- The archive: publisher posts that went out, newest first (keyset pages on
-- id). Confirmation posts, one per signup, soon outnumber them; the archive
-- never walks them. The store names it (INDEXED BY): the table's rowid order
-- looks as good to the planner and walks every confirmation post.
CREATE INDEX posts_archive ON posts (id)
	WHERE kind = 'post' AND status IN ('sending', 'paused', 'sent');

-- The accepted-in-the-last-minute count of the metrics probes the posts
-- still sending or paused (posts_by_status) and those sent recently: this.
CREATE INDEX posts_sent ON posts (finished_at) WHERE status = 'sent';

-- The metrics count blocklisted subscribers along this (the others are all
-- the rest), not by reading every subscriber row.
CREATE INDEX subscribers_blocklisted ON subscribers (id) WHERE status = 'blocklisted';

-- web_signup's throttle (a confirmation mail for this subscriber in the last
-- confirm_interval seconds?) seeks the subscriber's deliveries created since
-- then instead of walking all of them: a reader of a few years has tens of
-- thousands. It still serves the foreign key (erasing a subscriber finds its
-- rows) and subscriber_deliveries_each.
DROP INDEX deliveries_by_subscriber;
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id, created_at);
