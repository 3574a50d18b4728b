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
	finished_at bigint
);
CREATE INDEX jobs_by_state ON jobs (state, id);

-- ---- maintained counts ----

CREATE TABLE list_counts (
	list_id      bigint PRIMARY KEY REFERENCES lists (id) ON DELETE CASCADE,
	unconfirmed  bigint NOT NULL DEFAULT 0,
	confirmed    bigint NOT NULL DEFAULT 0,
	unsubscribed bigint NOT NULL DEFAULT 0
);
INSERT INTO list_counts (list_id, unconfirmed, confirmed, unsubscribed)
SELECT l.id,
       count(*) FILTER (WHERE s.status = 'unconfirmed'),
       count(*) FILTER (WHERE s.status = 'confirmed'),
       count(*) FILTER (WHERE s.status = 'unsubscribed')
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

CREATE FUNCTION list_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE list_counts c SET
		unconfirmed = c.unconfirmed + d.unconfirmed,
		confirmed = c.confirmed + d.confirmed,
		unsubscribed = c.unsubscribed + d.unsubscribed
	FROM (SELECT list_id,
	             count(*) FILTER (WHERE status = 'unconfirmed') AS unconfirmed,
	             count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
	             count(*) FILTER (WHERE status = 'unsubscribed') AS unsubscribed
	      FROM new_rows GROUP BY list_id) d
	WHERE c.list_id = d.list_id;
	RETURN NULL;
END;
$$;
CREATE FUNCTION list_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE list_counts c SET
		unconfirmed = c.unconfirmed - d.unconfirmed,
		confirmed = c.confirmed - d.confirmed,
		unsubscribed = c.unsubscribed - d.unsubscribed
	FROM (SELECT list_id,
	             count(*) FILTER (WHERE status = 'unconfirmed') AS unconfirmed,
	             count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
	             count(*) FILTER (WHERE status = 'unsubscribed') AS unsubscribed
	      FROM old_rows GROUP BY list_id) d
	WHERE c.list_id = d.list_id;
	RETURN NULL;
END;
$$;
CREATE FUNCTION list_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE list_counts c SET
		unconfirmed = c.unconfirmed + d.unconfirmed,
		confirmed = c.confirmed + d.confirmed,
		unsubscribed = c.unsubscribed + d.unsubscribed
	FROM (SELECT list_id,
	             sum(CASE WHEN status = 'unconfirmed' THEN sign ELSE 0 END) AS unconfirmed,
	             sum(CASE WHEN status = 'confirmed' THEN sign ELSE 0 END) AS confirmed,
	             sum(CASE WHEN status = 'unsubscribed' THEN sign ELSE 0 END) AS unsubscribed
	      FROM (SELECT list_id, status, 1 AS sign FROM new_rows
	            UNION ALL
	            SELECT list_id, status, -1 AS sign FROM old_rows) x
	      GROUP BY list_id) d
	WHERE c.list_id = d.list_id;
	RETURN NULL;
END;
$$;
CREATE TRIGGER list_counts_insert AFTER INSERT ON subscriptions
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION list_counts_insert();
CREATE TRIGGER list_counts_delete AFTER DELETE ON subscriptions
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION list_counts_delete();
CREATE TRIGGER list_counts_update AFTER UPDATE ON subscriptions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION list_counts_update();

CREATE TABLE counters (
	name text PRIMARY KEY,
	n    bigint NOT NULL
);
INSERT INTO counters (name, n)
SELECT 'subscribers_active', count(*) FROM subscribers WHERE status = 'active';
INSERT INTO counters (name, n)
SELECT 'subscribers_blocklisted', count(*) FROM subscribers WHERE status = 'blocklisted';

CREATE TABLE subscriber_days (
	day     bigint PRIMARY KEY,
	added   bigint NOT NULL DEFAULT 0,
	removed bigint NOT NULL DEFAULT 0
);
INSERT INTO subscriber_days (day, added)
SELECT created_at / 86400, count(*) FROM subscribers GROUP BY created_at / 86400;

CREATE FUNCTION counters_subscriber_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE counters c SET n = c.n + d.k
	FROM (SELECT 'subscribers_' || status AS name, count(*) AS k FROM new_rows GROUP BY 1) d
	WHERE c.name = d.name;
	INSERT INTO subscriber_days AS t (day, added)
	SELECT created_at / 86400, count(*) FROM new_rows GROUP BY 1
	ON CONFLICT (day) DO UPDATE SET added = t.added + EXCLUDED.added;
	RETURN NULL;
END;
$$;
CREATE FUNCTION counters_subscriber_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE counters c SET n = c.n - d.k
	FROM (SELECT 'subscribers_' || status AS name, count(*) AS k FROM old_rows GROUP BY 1) d
	WHERE c.name = d.name;
	INSERT INTO subscriber_days AS t (day, removed)
	SELECT (extract(epoch FROM now())::bigint) / 86400, count(*) FROM old_rows HAVING count(*) > 0
	ON CONFLICT (day) DO UPDATE SET removed = t.removed + EXCLUDED.removed;
	RETURN NULL;
END;
$$;
CREATE FUNCTION counters_subscriber_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE counters c SET n = c.n + d.k
	FROM (SELECT 'subscribers_' || status AS name, sum(sign) AS k
	      FROM (SELECT status, 1 AS sign FROM new_rows
	            UNION ALL
	            SELECT status, -1 AS sign FROM old_rows) x
	      GROUP BY 1) d
	WHERE c.name = d.name;
	RETURN NULL;
END;
$$;
CREATE TRIGGER counters_subscriber_insert AFTER INSERT ON subscribers
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
	EXECUTE FUNCTION counters_subscriber_insert();
CREATE TRIGGER counters_subscriber_delete AFTER DELETE ON subscribers
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
	EXECUTE FUNCTION counters_subscriber_delete();
CREATE TRIGGER counters_subscriber_update AFTER UPDATE ON subscribers
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
	EXECUTE FUNCTION counters_subscriber_update();

-- ---- posts ----

CREATE INDEX posts_by_kind ON posts (kind, id DESC);
CREATE INDEX posts_scheduled ON posts (scheduled_at) WHERE status = 'scheduled';
