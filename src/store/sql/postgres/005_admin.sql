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
