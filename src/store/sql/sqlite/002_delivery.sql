-- bulletin schema 2 (SQLite): posts, the lists each post goes to, and the
-- delivery ledger (DESIGN.md, "Delivery semantics"): one row per (post,
-- subscriber), created before sending starts. Times are INTEGER seconds since
-- the epoch, UTC; NULL where the model says 0 ("not yet").

-- priority: enum bl_priority (0 normal, 1 breaking, 2 transactional).
-- in_doubt: claims found expired after a crash and queued again (a count).
-- The body comes last: the engine reads status on its hot path, and columns
-- after a large body would sit in its overflow pages.
CREATE TABLE posts (
	id           INTEGER PRIMARY KEY,
	status       TEXT NOT NULL DEFAULT 'draft'
	             CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
	priority     INTEGER NOT NULL DEFAULT 0 CHECK (priority IN (0, 1, 2)),
	pause_reason TEXT NOT NULL DEFAULT '',
	auto_paused  INTEGER NOT NULL DEFAULT 0 CHECK (auto_paused IN (0, 1)),
	created_at   INTEGER NOT NULL,
	scheduled_at INTEGER,
	started_at   INTEGER,
	finished_at  INTEGER,
	total        INTEGER NOT NULL DEFAULT 0,
	in_doubt     INTEGER NOT NULL DEFAULT 0,
	from_header  TEXT NOT NULL DEFAULT '',
	subject      TEXT NOT NULL,
	body         TEXT NOT NULL DEFAULT ''
);
-- The engine's turn walks the posts in status sending by priority, then id.
CREATE INDEX posts_by_status ON posts (status, priority DESC, id);

CREATE TABLE post_lists (
	post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
	list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	PRIMARY KEY (post_id, list_id)
) WITHOUT ROWID;
-- For the foreign key: deleting a list finds its posts without a scan.
CREATE INDEX post_lists_by_list ON post_lists (list_id);

-- The ledger. subscriber_id becomes NULL when the subscriber is erased: the
-- row stays, anonymous, so the post's counts keep adding up. UNIQUE allows
-- any number of such NULL rows.
-- state: 'bounced' and 'complained' are reserved for feedback handling (a
-- later schema version would have to rebuild this table to add them).
-- next_try: pending rows carry the time they were queued, deferred rows the
-- time before which they are not tried again; claims take the due rows of a
-- post in (next_try, id) order. worker and lease_until are set while claimed.
-- in_doubt: 1 once an expired claim of this row was queued again (a resend).
CREATE TABLE deliveries (
	id            INTEGER PRIMARY KEY,
	post_id       INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
	subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	priority      INTEGER NOT NULL DEFAULT 0,
	state         TEXT NOT NULL DEFAULT 'pending'
	              CHECK (state IN ('pending', 'claimed', 'accepted', 'deferred', 'failed',
	                               'suppressed', 'bounced', 'complained')),
	attempts      INTEGER NOT NULL DEFAULT 0,
	in_doubt      INTEGER NOT NULL DEFAULT 0 CHECK (in_doubt IN (0, 1)),
	next_try      INTEGER NOT NULL DEFAULT 0,
	first_try_at  INTEGER,
	worker        TEXT,
	lease_until   INTEGER,
	code          INTEGER NOT NULL DEFAULT 0,
	reply         TEXT NOT NULL DEFAULT '',
	queue_id      TEXT NOT NULL DEFAULT '',
	relay         TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	UNIQUE (post_id, subscriber_id)
);
-- Claims (seek (post_id, 'pending') and (post_id, 'deferred', next_try <=
-- now), both in claim order), the "post finished?" probe (three seeks) and
-- the counts of a post by state, all from the index alone.
CREATE INDEX deliveries_queue ON deliveries (post_id, state, next_try, id);
-- Reclaiming expired claims: only the few claimed rows are in it.
CREATE INDEX deliveries_claimed ON deliveries (lease_until) WHERE state = 'claimed';
-- The send rate (rows accepted since a time), from the index alone.
CREATE INDEX deliveries_accepted ON deliveries (post_id, updated_at) WHERE state = 'accepted';
-- Listing a post's rows by id (keyset pages); only inserts touch it.
CREATE INDEX deliveries_by_post ON deliveries (post_id, id);
-- For the foreign key: erasing a subscriber finds its rows without a scan.
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id);
