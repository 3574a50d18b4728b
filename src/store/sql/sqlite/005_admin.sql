-- bulletin schema 5 (SQLite): the publisher tools (issue 5).
--  * users, their browser sessions, API tokens, and the audit log;
--  * jobs: asynchronous work asked over HTTP (a CSV import), with its input
--    kept here until it ends, so a restart picks it up again;
--  * maintained counts, so that no admin page or API call counts a whole
--    table: per-list subscription counts by status (list_counts), the
--    subscribers by status (counters), and subscribers added and erased per
--    UTC day (subscriber_days, the dashboard's growth chart), a post's
--    delivery rows by state (post_counts: the dashboard's, the post page's
--    and the API's progress, polled every second). Triggers keep
--    them in the same transaction as the change (foreign-key cascades fire
--    triggers too, so a deleted subscriber's subscriptions are counted out);
--  * indexes for the admin's post listing (by kind) and the scheduler.

CREATE TABLE users (
	id                  INTEGER PRIMARY KEY,
	name                TEXT NOT NULL UNIQUE,
	role                TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
	pass_hash           TEXT NOT NULL,
	created_at          INTEGER NOT NULL,
	password_changed_at INTEGER NOT NULL,
	last_login_at       INTEGER
);

-- id_hash: hex SHA-256 of the cookie's value (the value itself is never stored).
CREATE TABLE sessions (
	id_hash    TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- hash: hex SHA-256 of the token (a 256-bit random secret: a fast hash is enough).
CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	role         TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
	hash         TEXT NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER
);

CREATE TABLE audit_log (
	id     INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	ip     TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE jobs (
	id          INTEGER PRIMARY KEY,
	kind        TEXT NOT NULL,
	state       TEXT NOT NULL DEFAULT 'queued'
	            CHECK (state IN ('queued', 'running', 'done', 'failed')),
	params      TEXT NOT NULL DEFAULT '{}',
	actor       TEXT NOT NULL DEFAULT '',
	size        INTEGER NOT NULL DEFAULT 0,
	done        INTEGER NOT NULL DEFAULT 0,
	report      TEXT NOT NULL DEFAULT '{}',
	error       TEXT NOT NULL DEFAULT '',
	input       BLOB,
	created_at  INTEGER NOT NULL,
	started_at  INTEGER,
	finished_at INTEGER,
	heartbeat_at INTEGER -- the runner's lease: job_progress refreshes it
);
CREATE INDEX jobs_by_state ON jobs (state, id);

-- ---- maintained counts ----

CREATE TABLE list_counts (
	list_id      INTEGER PRIMARY KEY REFERENCES lists (id) ON DELETE CASCADE,
	unconfirmed  INTEGER NOT NULL DEFAULT 0,
	confirmed    INTEGER NOT NULL DEFAULT 0,
	unsubscribed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO list_counts (list_id, unconfirmed, confirmed, unsubscribed)
SELECT l.id,
       (SELECT count(*) FROM subscriptions s WHERE s.list_id = l.id AND s.status = 'unconfirmed'),
       (SELECT count(*) FROM subscriptions s WHERE s.list_id = l.id AND s.status = 'confirmed'),
       (SELECT count(*) FROM subscriptions s WHERE s.list_id = l.id AND s.status = 'unsubscribed')
FROM lists l;

CREATE TRIGGER list_counts_new_list AFTER INSERT ON lists
BEGIN
	INSERT INTO list_counts (list_id) VALUES (NEW.id);
END;

CREATE TRIGGER list_counts_insert AFTER INSERT ON subscriptions
BEGIN
	UPDATE list_counts SET
		unconfirmed = unconfirmed + (NEW.status = 'unconfirmed'),
		confirmed = confirmed + (NEW.status = 'confirmed'),
		unsubscribed = unsubscribed + (NEW.status = 'unsubscribed')
	WHERE list_id = NEW.list_id;
END;

CREATE TRIGGER list_counts_delete AFTER DELETE ON subscriptions
BEGIN
	UPDATE list_counts SET
		unconfirmed = unconfirmed - (OLD.status = 'unconfirmed'),
		confirmed = confirmed - (OLD.status = 'confirmed'),
		unsubscribed = unsubscribed - (OLD.status = 'unsubscribed')
	WHERE list_id = OLD.list_id;
END;

CREATE TRIGGER list_counts_update AFTER UPDATE OF status, list_id ON subscriptions
WHEN OLD.status IS NOT NEW.status OR OLD.list_id IS NOT NEW.list_id
BEGIN
	UPDATE list_counts SET
		unconfirmed = unconfirmed - (OLD.status = 'unconfirmed'),
		confirmed = confirmed - (OLD.status = 'confirmed'),
		unsubscribed = unsubscribed - (OLD.status = 'unsubscribed')
	WHERE list_id = OLD.list_id;
	UPDATE list_counts SET
		unconfirmed = unconfirmed + (NEW.status = 'unconfirmed'),
		confirmed = confirmed + (NEW.status = 'confirmed'),
		unsubscribed = unsubscribed + (NEW.status = 'unsubscribed')
	WHERE list_id = NEW.list_id;
END;

CREATE TABLE counters (
	name TEXT PRIMARY KEY,
	n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, n)
SELECT 'subscribers_active', count(*) FROM subscribers WHERE status = 'active';
INSERT INTO counters (name, n)
SELECT 'subscribers_blocklisted', count(*) FROM subscribers WHERE status = 'blocklisted';

-- day: seconds since the epoch / 86400 (UTC days).
CREATE TABLE subscriber_days (
	day     INTEGER PRIMARY KEY,
	added   INTEGER NOT NULL DEFAULT 0,
	removed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO subscriber_days (day, added)
SELECT created_at / 86400, count(*) FROM subscribers GROUP BY created_at / 86400;

CREATE TRIGGER counters_subscriber_insert AFTER INSERT ON subscribers
BEGIN
	UPDATE counters SET n = n + 1 WHERE name = 'subscribers_' || NEW.status;
	INSERT INTO subscriber_days (day, added) VALUES (NEW.created_at / 86400, 1)
		ON CONFLICT (day) DO UPDATE SET added = added + 1;
END;

CREATE TRIGGER counters_subscriber_delete AFTER DELETE ON subscribers
BEGIN
	UPDATE counters SET n = n - 1 WHERE name = 'subscribers_' || OLD.status;
	INSERT INTO subscriber_days (day, removed) VALUES (unixepoch() / 86400, 1)
		ON CONFLICT (day) DO UPDATE SET removed = removed + 1;
END;

CREATE TRIGGER counters_subscriber_status AFTER UPDATE OF status ON subscribers
WHEN OLD.status IS NOT NEW.status
BEGIN
	UPDATE counters SET n = n - 1 WHERE name = 'subscribers_' || OLD.status;
	UPDATE counters SET n = n + 1 WHERE name = 'subscribers_' || NEW.status;
END;

-- One row per post: its delivery rows by state (every state the CHECK of
-- deliveries allows). A trigger adds the row with the post; triggers on
-- deliveries keep it: a deletion (a post's cascade) and a change of state
-- (claims, results, reclaims, cancels, retries) per row. Inserts are not
-- counted by a trigger, which would run once per row of post_queue's
-- INSERT ... SELECT (millions of rows): the store adds what it inserts
-- (post_queue: the rows it queued, as pending; a confirmation mail: its one
-- pending row), in the same transaction. A subscriber's erasure sets
-- subscriber_id to NULL and keeps the state: no count moves.
CREATE TABLE post_counts (
	post_id    INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
	pending    INTEGER NOT NULL DEFAULT 0,
	claimed    INTEGER NOT NULL DEFAULT 0,
	accepted   INTEGER NOT NULL DEFAULT 0,
	deferred   INTEGER NOT NULL DEFAULT 0,
	failed     INTEGER NOT NULL DEFAULT 0,
	suppressed INTEGER NOT NULL DEFAULT 0,
	bounced    INTEGER NOT NULL DEFAULT 0,
	complained INTEGER NOT NULL DEFAULT 0
);
INSERT INTO post_counts (post_id, pending, claimed, accepted, deferred, failed, suppressed,
                         bounced, complained)
SELECT p.id,
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'pending'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'claimed'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'accepted'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'deferred'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'failed'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'suppressed'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'bounced'),
       (SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'complained')
FROM posts p;

CREATE TRIGGER post_counts_new_post AFTER INSERT ON posts
BEGIN
	INSERT INTO post_counts (post_id) VALUES (NEW.id);
END;

CREATE TRIGGER post_counts_delete AFTER DELETE ON deliveries
BEGIN
	UPDATE post_counts SET
		pending = pending - (OLD.state = 'pending'),
		claimed = claimed - (OLD.state = 'claimed'),
		accepted = accepted - (OLD.state = 'accepted'),
		deferred = deferred - (OLD.state = 'deferred'),
		failed = failed - (OLD.state = 'failed'),
		suppressed = suppressed - (OLD.state = 'suppressed'),
		bounced = bounced - (OLD.state = 'bounced'),
		complained = complained - (OLD.state = 'complained')
	WHERE post_id = OLD.post_id;
END;

-- One statement per changed row: the row leaves OLD.state for NEW.state.
CREATE TRIGGER post_counts_state AFTER UPDATE OF state ON deliveries
WHEN OLD.state IS NOT NEW.state AND OLD.post_id = NEW.post_id
BEGIN
	UPDATE post_counts SET
		pending = pending - (OLD.state = 'pending') + (NEW.state = 'pending'),
		claimed = claimed - (OLD.state = 'claimed') + (NEW.state = 'claimed'),
		accepted = accepted - (OLD.state = 'accepted') + (NEW.state = 'accepted'),
		deferred = deferred - (OLD.state = 'deferred') + (NEW.state = 'deferred'),
		failed = failed - (OLD.state = 'failed') + (NEW.state = 'failed'),
		suppressed = suppressed - (OLD.state = 'suppressed') + (NEW.state = 'suppressed'),
		bounced = bounced - (OLD.state = 'bounced') + (NEW.state = 'bounced'),
		complained = complained - (OLD.state = 'complained') + (NEW.state = 'complained')
	WHERE post_id = NEW.post_id;
END;

-- No statement moves a row to another post; were one to, it is counted out
-- of the old post and into the new one.
CREATE TRIGGER post_counts_move AFTER UPDATE OF post_id ON deliveries
WHEN OLD.post_id IS NOT NEW.post_id
BEGIN
	UPDATE post_counts SET
		pending = pending - (OLD.state = 'pending'),
		claimed = claimed - (OLD.state = 'claimed'),
		accepted = accepted - (OLD.state = 'accepted'),
		deferred = deferred - (OLD.state = 'deferred'),
		failed = failed - (OLD.state = 'failed'),
		suppressed = suppressed - (OLD.state = 'suppressed'),
		bounced = bounced - (OLD.state = 'bounced'),
		complained = complained - (OLD.state = 'complained')
	WHERE post_id = OLD.post_id;
	UPDATE post_counts SET
		pending = pending + (NEW.state = 'pending'),
		claimed = claimed + (NEW.state = 'claimed'),
		accepted = accepted + (NEW.state = 'accepted'),
		deferred = deferred + (NEW.state = 'deferred'),
		failed = failed + (NEW.state = 'failed'),
		suppressed = suppressed + (NEW.state = 'suppressed'),
		bounced = bounced + (NEW.state = 'bounced'),
		complained = complained + (NEW.state = 'complained')
	WHERE post_id = NEW.post_id;
END;

-- ---- posts ----

-- The admin's and the API's post listings walk one kind, newest first.
CREATE INDEX posts_by_kind ON posts (kind, id);
-- The scheduler's turn: the scheduled posts, by time.
CREATE INDEX posts_scheduled ON posts (scheduled_at) WHERE status = 'scheduled';
