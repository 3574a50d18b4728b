-- bulletin schema 5 (PostgreSQL): the same tables, counts and indexes as
-- sql/sqlite/005_admin.sql (see there for what each is for). The counts are
-- kept by statement-level triggers with transition tables, so a bulk import
-- or a cascade updates each counter row once per statement, not per row.

CREATE TABLE users (
	id                  bigserial PRIMARY KEY,
	name                text NOT NULL UNIQUE,
	role                text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
	pass_hash           text NOT NULL,
	created_at          bigint NOT NULL,
	password_changed_at bigint NOT NULL,
	last_login_at       bigint
);

CREATE TABLE sessions (
	id_hash    text PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf       text NOT NULL,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
	id           bigserial PRIMARY KEY,
	name         text NOT NULL UNIQUE,
	role         text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
	hash         text NOT NULL UNIQUE,
	created_at   bigint NOT NULL,
	last_used_at bigint
);

CREATE TABLE audit_log (
	id     bigserial PRIMARY KEY,
	at     bigint NOT NULL,
	actor  text NOT NULL,
	action text NOT NULL,
	target text NOT NULL DEFAULT '',
	detail text NOT NULL DEFAULT '',
	ip     text NOT NULL DEFAULT ''
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE jobs (
	id          bigserial PRIMARY KEY,
	kind        text NOT NULL,
	state       text NOT NULL DEFAULT 'queued'
	            CHECK (state IN ('queued', 'running', 'done', 'failed')),
	params      text NOT NULL DEFAULT '{}',
	actor       text NOT NULL DEFAULT '',
	size        bigint NOT NULL DEFAULT 0,
	done        bigint NOT NULL DEFAULT 0,
	report      text NOT NULL DEFAULT '{}',
	error       text NOT NULL DEFAULT '',
	input       bytea,
	created_at  bigint NOT NULL,
	started_at  bigint,
	finished_at bigint,
	heartbeat_at bigint -- the runner's lease: job_progress refreshes it
);
CREATE INDEX jobs_by_state ON jobs (state, id);

-- ---- maintained counts ----
--
-- Each trigger runs once per statement over its transition tables: a batch
-- of the import, or a cascade (an erased subscriber's subscriptions, a
-- deleted list's), changes each counter row once. A statement that moves no
-- count (a change of mode, name or updated_at) touches no counter row and so
-- takes no lock on one; the rows a statement does change are locked in key
-- order first, so two transactions changing the same rows of one table wait
-- for each other instead of deadlocking. Days are UTC: floor(epoch / 86400).

CREATE TABLE list_counts (
	list_id      bigint PRIMARY KEY REFERENCES lists (id) ON DELETE CASCADE,
	unconfirmed  bigint NOT NULL DEFAULT 0,
	confirmed    bigint NOT NULL DEFAULT 0,
	unsubscribed bigint NOT NULL DEFAULT 0
);
INSERT INTO list_counts (list_id, unconfirmed, confirmed, unsubscribed)
SELECT l.id,
       count(s.list_id) FILTER (WHERE s.status = 'unconfirmed'),
       count(s.list_id) FILTER (WHERE s.status = 'confirmed'),
       count(s.list_id) FILTER (WHERE s.status = 'unsubscribed')
FROM lists l LEFT JOIN subscriptions s ON s.list_id = l.id
GROUP BY l.id;

CREATE FUNCTION list_counts_new_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO list_counts (list_id) SELECT id FROM new_rows;
	RETURN NULL;
END;
$$;
CREATE TRIGGER list_counts_new_list AFTER INSERT ON lists
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION list_counts_new_list();

-- The one statement that changes subscriptions, for every event: +1 per new
-- row and -1 per old row, summed per list and status; the lists whose counts
-- move are locked in list order, then updated. (PL/pgSQL plans a statement
-- when it first runs it, so each event reads only the transition tables it has.)
CREATE FUNCTION list_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[];
	du bigint[];
	dc bigint[];
	dx bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(list_id), array_agg(u), array_agg(c), array_agg(x)
		INTO ids, du, dc, dx
		FROM (SELECT list_id, count(*) FILTER (WHERE status = 'unconfirmed') AS u,
		             count(*) FILTER (WHERE status = 'confirmed') AS c,
		             count(*) FILTER (WHERE status = 'unsubscribed') AS x
		      FROM new_rows GROUP BY list_id) d;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT array_agg(list_id), array_agg(-u), array_agg(-c), array_agg(-x)
		INTO ids, du, dc, dx
		FROM (SELECT list_id, count(*) FILTER (WHERE status = 'unconfirmed') AS u,
		             count(*) FILTER (WHERE status = 'confirmed') AS c,
		             count(*) FILTER (WHERE status = 'unsubscribed') AS x
		      FROM old_rows GROUP BY list_id) d;
	ELSE
		SELECT array_agg(list_id), array_agg(u), array_agg(c), array_agg(x)
		INTO ids, du, dc, dx
		FROM (SELECT list_id, sum(CASE WHEN status = 'unconfirmed' THEN sign ELSE 0 END) AS u,
		             sum(CASE WHEN status = 'confirmed' THEN sign ELSE 0 END) AS c,
		             sum(CASE WHEN status = 'unsubscribed' THEN sign ELSE 0 END) AS x
		      FROM (SELECT list_id, status, 1 AS sign FROM new_rows
		            UNION ALL
		            SELECT list_id, status, -1 AS sign FROM old_rows) y
		      GROUP BY list_id) d
		WHERE u <> 0 OR c <> 0 OR x <> 0;
	END IF;
	IF ids IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM 1 FROM list_counts WHERE list_id = ANY (ids) ORDER BY list_id FOR NO KEY UPDATE;
	UPDATE list_counts t SET
		unconfirmed = t.unconfirmed + d.u,
		confirmed = t.confirmed + d.c,
		unsubscribed = t.unsubscribed + d.x
	FROM unnest(ids, du, dc, dx) AS d(list_id, u, c, x)
	WHERE t.list_id = d.list_id;
	RETURN NULL;
END;
$$;
CREATE TRIGGER list_counts_insert AFTER INSERT ON subscriptions
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION list_counts_change();
CREATE TRIGGER list_counts_delete AFTER DELETE ON subscriptions
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION list_counts_change();
CREATE TRIGGER list_counts_update AFTER UPDATE ON subscriptions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION list_counts_change();

CREATE TABLE counters (
	name text PRIMARY KEY,
	n    bigint NOT NULL
);
INSERT INTO counters (name, n)
SELECT 'subscribers_active', count(*) FROM subscribers WHERE status = 'active';
INSERT INTO counters (name, n)
SELECT 'subscribers_blocklisted', count(*) FROM subscribers WHERE status = 'blocklisted';

-- day: UTC days since the epoch. added: subscribers created that day (by
-- their created_at, so a restore counts them on their own days); removed:
-- subscribers deleted (erased) that day, by the transaction's time.
CREATE TABLE subscriber_days (
	day     bigint PRIMARY KEY,
	added   bigint NOT NULL DEFAULT 0,
	removed bigint NOT NULL DEFAULT 0
);
INSERT INTO subscriber_days (day, added)
SELECT floor(extract(epoch FROM created_at) / 86400)::bigint AS day, count(*)
FROM subscribers GROUP BY 1;

-- The subscriber statement of any event: the counters by status (+1 new row,
-- -1 old row; only those that move, locked in name order), then the days. A
-- transaction that changes subscribers and subscriptions takes the counters
-- first (the store locks them ahead when a cascade would take the list counts
-- first): one order for all, so none waits in a cycle.
CREATE FUNCTION counters_subscriber_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	names text[];
	ks bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(name), array_agg(k) INTO names, ks
		FROM (SELECT 'subscribers_' || status AS name, count(*) AS k
		      FROM new_rows GROUP BY 1) d;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT array_agg(name), array_agg(-k) INTO names, ks
		FROM (SELECT 'subscribers_' || status AS name, count(*) AS k
		      FROM old_rows GROUP BY 1) d;
	ELSE
		SELECT array_agg(name), array_agg(k) INTO names, ks
		FROM (SELECT 'subscribers_' || status AS name, sum(sign) AS k
		      FROM (SELECT status, 1 AS sign FROM new_rows
		            UNION ALL
		            SELECT status, -1 AS sign FROM old_rows) y
		      GROUP BY 1 HAVING sum(sign) <> 0) d;
	END IF;
	IF names IS NULL THEN
		RETURN NULL;
	END IF;
	-- The counters first, then the days: every writer takes them in this order.
	PERFORM 1 FROM counters WHERE name = ANY (names) ORDER BY name FOR NO KEY UPDATE;
	UPDATE counters c SET n = c.n + d.k
	FROM unnest(names, ks) AS d(name, k)
	WHERE c.name = d.name;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO subscriber_days AS t (day, added)
		SELECT floor(extract(epoch FROM created_at) / 86400)::bigint, count(*)
		FROM new_rows GROUP BY 1 ORDER BY 1
		ON CONFLICT (day) DO UPDATE SET added = t.added + EXCLUDED.added;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO subscriber_days AS t (day, removed)
		SELECT floor(extract(epoch FROM now()) / 86400)::bigint, count(*) FROM old_rows
		ON CONFLICT (day) DO UPDATE SET removed = t.removed + EXCLUDED.removed;
	END IF;
	RETURN NULL;
END;
$$;
CREATE TRIGGER counters_subscriber_insert AFTER INSERT ON subscribers
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
	EXECUTE FUNCTION counters_subscriber_change();
CREATE TRIGGER counters_subscriber_delete AFTER DELETE ON subscribers
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
	EXECUTE FUNCTION counters_subscriber_change();
CREATE TRIGGER counters_subscriber_update AFTER UPDATE ON subscribers
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
	EXECUTE FUNCTION counters_subscriber_change();

-- A post's delivery rows by state (see sql/sqlite/005_admin.sql), kept by
-- one statement-level trigger for every event (the INSERT of post_queue, a
-- cascade, every UPDATE: a trigger with transition tables cannot name
-- columns, so rows whose state and post stay are left out). Several engines
-- claim and record rows of one post at once, none waiting for another
-- (FOR UPDATE SKIP LOCKED): a counter row they all updated would make each
-- wait for the others' commits. So a statement only appends its change to
-- post_count_deltas (a new row: no lock anyone waits for), and
-- delivery_counts folds the committed changes of the post into post_counts
-- (a short DELETE ... RETURNING and UPDATE of its one row; two folds of one
-- post take the same rows in the same order). The count is post_counts plus
-- the post's deltas; between two reads the deltas grow with the statements
-- that changed the post, not with its rows.
CREATE TABLE post_counts (
	post_id    bigint PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
	pending    bigint NOT NULL DEFAULT 0,
	claimed    bigint NOT NULL DEFAULT 0,
	accepted   bigint NOT NULL DEFAULT 0,
	deferred   bigint NOT NULL DEFAULT 0,
	failed     bigint NOT NULL DEFAULT 0,
	suppressed bigint NOT NULL DEFAULT 0,
	bounced    bigint NOT NULL DEFAULT 0,
	complained bigint NOT NULL DEFAULT 0
);
INSERT INTO post_counts (post_id, pending, claimed, accepted, deferred, failed, suppressed,
                         bounced, complained)
SELECT p.id,
       count(d.post_id) FILTER (WHERE d.state = 'pending'),
       count(d.post_id) FILTER (WHERE d.state = 'claimed'),
       count(d.post_id) FILTER (WHERE d.state = 'accepted'),
       count(d.post_id) FILTER (WHERE d.state = 'deferred'),
       count(d.post_id) FILTER (WHERE d.state = 'failed'),
       count(d.post_id) FILTER (WHERE d.state = 'suppressed'),
       count(d.post_id) FILTER (WHERE d.state = 'bounced'),
       count(d.post_id) FILTER (WHERE d.state = 'complained')
FROM posts p LEFT JOIN deliveries d ON d.post_id = p.id
GROUP BY p.id;

-- No foreign key: a post's deletion cascades to its deliveries, whose
-- trigger must not find the post gone; a post's deltas go with its counts.
CREATE TABLE post_count_deltas (
	id         bigserial PRIMARY KEY,
	post_id    bigint NOT NULL,
	pending    bigint NOT NULL,
	claimed    bigint NOT NULL,
	accepted   bigint NOT NULL,
	deferred   bigint NOT NULL,
	failed     bigint NOT NULL,
	suppressed bigint NOT NULL,
	bounced    bigint NOT NULL,
	complained bigint NOT NULL
);
CREATE INDEX post_count_deltas_by_post ON post_count_deltas (post_id);

CREATE FUNCTION post_counts_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM post_count_deltas WHERE post_id IN (SELECT post_id FROM old_rows);
	RETURN NULL;
END;
$$;
CREATE TRIGGER post_counts_gone AFTER DELETE ON post_counts
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION post_counts_gone();

CREATE FUNCTION post_counts_new_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO post_counts (post_id) SELECT id FROM new_rows;
	RETURN NULL;
END;
$$;
CREATE TRIGGER post_counts_new_post AFTER INSERT ON posts
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION post_counts_new_post();

-- +1 per new row and -1 per old row, summed per post and state; one delta
-- row per post whose counts move (of a post that still has its counts).
CREATE FUNCTION post_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[];
	d1 bigint[]; d2 bigint[]; d3 bigint[]; d4 bigint[];
	d5 bigint[]; d6 bigint[]; d7 bigint[]; d8 bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(post_id ORDER BY post_id), array_agg(a ORDER BY post_id),
		       array_agg(b ORDER BY post_id), array_agg(c ORDER BY post_id),
		       array_agg(e ORDER BY post_id), array_agg(f ORDER BY post_id),
		       array_agg(g ORDER BY post_id), array_agg(h ORDER BY post_id),
		       array_agg(i ORDER BY post_id)
		INTO ids, d1, d2, d3, d4, d5, d6, d7, d8
		FROM (SELECT post_id, count(*) FILTER (WHERE state = 'pending') AS a,
		             count(*) FILTER (WHERE state = 'claimed') AS b,
		             count(*) FILTER (WHERE state = 'accepted') AS c,
		             count(*) FILTER (WHERE state = 'deferred') AS e,
		             count(*) FILTER (WHERE state = 'failed') AS f,
		             count(*) FILTER (WHERE state = 'suppressed') AS g,
		             count(*) FILTER (WHERE state = 'bounced') AS h,
		             count(*) FILTER (WHERE state = 'complained') AS i
		      FROM new_rows GROUP BY post_id) d;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT array_agg(post_id ORDER BY post_id), array_agg(-a ORDER BY post_id),
		       array_agg(-b ORDER BY post_id), array_agg(-c ORDER BY post_id),
		       array_agg(-e ORDER BY post_id), array_agg(-f ORDER BY post_id),
		       array_agg(-g ORDER BY post_id), array_agg(-h ORDER BY post_id),
		       array_agg(-i ORDER BY post_id)
		INTO ids, d1, d2, d3, d4, d5, d6, d7, d8
		FROM (SELECT post_id, count(*) FILTER (WHERE state = 'pending') AS a,
		             count(*) FILTER (WHERE state = 'claimed') AS b,
		             count(*) FILTER (WHERE state = 'accepted') AS c,
		             count(*) FILTER (WHERE state = 'deferred') AS e,
		             count(*) FILTER (WHERE state = 'failed') AS f,
		             count(*) FILTER (WHERE state = 'suppressed') AS g,
		             count(*) FILTER (WHERE state = 'bounced') AS h,
		             count(*) FILTER (WHERE state = 'complained') AS i
		      FROM old_rows GROUP BY post_id) d;
	ELSE
		-- Only the rows whose state or post changed (joined on id, the key).
		SELECT array_agg(post_id ORDER BY post_id), array_agg(a ORDER BY post_id),
		       array_agg(b ORDER BY post_id), array_agg(c ORDER BY post_id),
		       array_agg(e ORDER BY post_id), array_agg(f ORDER BY post_id),
		       array_agg(g ORDER BY post_id), array_agg(h ORDER BY post_id),
		       array_agg(i ORDER BY post_id)
		INTO ids, d1, d2, d3, d4, d5, d6, d7, d8
		FROM (SELECT post_id,
		             sum(CASE WHEN state = 'pending' THEN sign ELSE 0 END) AS a,
		             sum(CASE WHEN state = 'claimed' THEN sign ELSE 0 END) AS b,
		             sum(CASE WHEN state = 'accepted' THEN sign ELSE 0 END) AS c,
		             sum(CASE WHEN state = 'deferred' THEN sign ELSE 0 END) AS e,
		             sum(CASE WHEN state = 'failed' THEN sign ELSE 0 END) AS f,
		             sum(CASE WHEN state = 'suppressed' THEN sign ELSE 0 END) AS g,
		             sum(CASE WHEN state = 'bounced' THEN sign ELSE 0 END) AS h,
		             sum(CASE WHEN state = 'complained' THEN sign ELSE 0 END) AS i
		      FROM (SELECT n.post_id, n.state, 1 AS sign
		            FROM new_rows n JOIN old_rows o ON o.id = n.id
		            WHERE n.state <> o.state OR n.post_id <> o.post_id
		            UNION ALL
		            SELECT o.post_id, o.state, -1 AS sign
		            FROM new_rows n JOIN old_rows o ON o.id = n.id
		            WHERE n.state <> o.state OR n.post_id <> o.post_id) y
		      GROUP BY post_id) d
		WHERE a <> 0 OR b <> 0 OR c <> 0 OR e <> 0 OR f <> 0 OR g <> 0 OR h <> 0 OR i <> 0;
	END IF;
	IF ids IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO post_count_deltas (post_id, pending, claimed, accepted, deferred, failed,
	                               suppressed, bounced, complained)
	SELECT d.* FROM unnest(ids, d1, d2, d3, d4, d5, d6, d7, d8)
		AS d(post_id, a, b, c, e, f, g, h, i)
	WHERE EXISTS (SELECT 1 FROM post_counts t WHERE t.post_id = d.post_id);
	RETURN NULL;
END;
$$;
CREATE TRIGGER post_counts_insert AFTER INSERT ON deliveries
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION post_counts_change();
CREATE TRIGGER post_counts_delete AFTER DELETE ON deliveries
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION post_counts_change();
CREATE TRIGGER post_counts_update AFTER UPDATE ON deliveries
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION post_counts_change();

-- ---- posts ----

CREATE INDEX posts_by_kind ON posts (kind, id DESC);
CREATE INDEX posts_scheduled ON posts (scheduled_at) WHERE status = 'scheduled';

-- ---- subscribers ----

-- The admin's search walks addresses by prefix in byte order, as SQLite
-- does: email_key (and its unique index) compare bytewise, whatever the
-- database's collation, so that a LIKE 'prefix%' is a range of the index.
-- Equality (every other use of email_key) is the same in any collation.
ALTER TABLE subscribers ALTER COLUMN email_key TYPE text COLLATE "C";

-- The admin's status=blocklisted page (subscriber_each) walks the blocklisted
-- along this, O(page), instead of reading every subscriber for the few that
-- are (as sql/sqlite/003_web.sql's index of the same name; with a list, each
-- is checked by the primary key of subscriptions; with a prefix, the planner
-- sorts these few by key when there are fewer of them than of the prefix).
CREATE INDEX subscribers_blocklisted ON subscribers (id) WHERE status = 'blocklisted';
