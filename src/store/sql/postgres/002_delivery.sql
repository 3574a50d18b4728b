-- bulletin schema 2 (PostgreSQL): the same tables and rules as
-- sql/sqlite/002_delivery.sql: posts, the lists each post goes to, and the
-- delivery ledger. Times are timestamptz, NULL where the model says 0.

CREATE TABLE posts (
	id           bigserial PRIMARY KEY,
	subject      text NOT NULL,
	body         text NOT NULL DEFAULT '',
	from_header  text NOT NULL DEFAULT '',
	priority     integer NOT NULL DEFAULT 0 CHECK (priority IN (0, 1, 2)),
	status       text NOT NULL DEFAULT 'draft'
	             CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
	pause_reason text NOT NULL DEFAULT '',
	auto_paused  boolean NOT NULL DEFAULT false,
	created_at   timestamptz NOT NULL,
	scheduled_at timestamptz,
	started_at   timestamptz,
	finished_at  timestamptz,
	total        bigint NOT NULL DEFAULT 0,
	in_doubt     bigint NOT NULL DEFAULT 0
);
CREATE INDEX posts_by_status ON posts (status, priority DESC, id);

CREATE TABLE post_lists (
	post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
	list_id bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	PRIMARY KEY (post_id, list_id)
);
CREATE INDEX post_lists_by_list ON post_lists (list_id);

-- See sql/sqlite/002_delivery.sql for the meaning of the columns.
CREATE TABLE deliveries (
	id            bigserial PRIMARY KEY,
	post_id       bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
	subscriber_id bigint REFERENCES subscribers (id) ON DELETE SET NULL,
	priority      integer NOT NULL DEFAULT 0,
	state         text NOT NULL DEFAULT 'pending'
	              CHECK (state IN ('pending', 'claimed', 'accepted', 'deferred', 'failed',
	                               'suppressed', 'bounced', 'complained')),
	attempts      integer NOT NULL DEFAULT 0,
	in_doubt      boolean NOT NULL DEFAULT false,
	next_try      timestamptz NOT NULL,
	first_try_at  timestamptz,
	worker        text,
	lease_until   timestamptz,
	code          integer NOT NULL DEFAULT 0,
	reply         text NOT NULL DEFAULT '',
	queue_id      text NOT NULL DEFAULT '',
	relay         text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	UNIQUE (post_id, subscriber_id)
);
CREATE INDEX deliveries_queue ON deliveries (post_id, state, next_try, id);
CREATE INDEX deliveries_claimed ON deliveries (lease_until) WHERE state = 'claimed';
CREATE INDEX deliveries_accepted ON deliveries (post_id, updated_at) WHERE state = 'accepted';
CREATE INDEX deliveries_by_post ON deliveries (post_id, id);
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id);
