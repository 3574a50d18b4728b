-- bulletin schema 1 (PostgreSQL): the same tables and rules as
-- sql/sqlite/001_init.sql. Times are timestamptz; the store converts to and
-- from seconds since the epoch. Attributes are jsonb. Slugs use the "C"
-- collation so that listings "by slug" sort bytewise, as SQLite does,
-- whatever the database's default collation is.

CREATE TABLE settings (
	key   text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE lists (
	id          bigserial PRIMARY KEY,
	slug        text COLLATE "C" NOT NULL UNIQUE,
	name        text NOT NULL,
	description text NOT NULL DEFAULT '',
	optin       text NOT NULL DEFAULT 'double' CHECK (optin IN ('double', 'single')),
	visibility  text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE TABLE subscribers (
	id            bigserial PRIMARY KEY,
	email         text NOT NULL,
	email_key     text NOT NULL UNIQUE,
	name          text NOT NULL DEFAULT '',
	attributes    jsonb NOT NULL DEFAULT '{}',
	status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocklisted')),
	status_reason text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);

CREATE TABLE subscriptions (
	subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	list_id       bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	status        text NOT NULL CHECK (status IN ('unconfirmed', 'confirmed', 'unsubscribed')),
	mode          text NOT NULL DEFAULT 'instant' CHECK (mode IN ('instant', 'daily', 'weekly')),
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	PRIMARY KEY (subscriber_id, list_id)
);
CREATE INDEX subscriptions_by_list ON subscriptions (list_id, status, subscriber_id);

-- Append-only; no foreign keys (see sql/sqlite/001_init.sql): the store
-- detaches events itself on erasure and list removal.
CREATE TABLE consent_events (
	id            bigserial PRIMARY KEY,
	subscriber_id bigint,
	list_id       bigint,
	kind          text NOT NULL CHECK (kind IN ('signup', 'confirm', 'unsubscribe', 'import',
	                                            'erase', 'preference', 'blocklist')),
	at            timestamptz NOT NULL,
	ip            text NOT NULL DEFAULT '',
	user_agent    text NOT NULL DEFAULT '',
	source        text NOT NULL DEFAULT ''
);
CREATE INDEX consent_events_by_subscriber ON consent_events (subscriber_id);

CREATE FUNCTION consent_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'consent events are append-only';
	END IF;
	IF NEW.id IS DISTINCT FROM OLD.id OR NEW.kind IS DISTINCT FROM OLD.kind
	   OR NEW.at IS DISTINCT FROM OLD.at OR NEW.source IS DISTINCT FROM OLD.source
	   OR (NEW.subscriber_id IS NOT NULL AND NEW.subscriber_id IS DISTINCT FROM OLD.subscriber_id)
	   OR (NEW.list_id IS NOT NULL AND NEW.list_id IS DISTINCT FROM OLD.list_id)
	   OR (NEW.ip <> '' AND NEW.ip IS DISTINCT FROM OLD.ip)
	   OR (NEW.user_agent <> '' AND NEW.user_agent IS DISTINCT FROM OLD.user_agent) THEN
		RAISE EXCEPTION 'consent events are append-only (only erasure may blank them)';
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER consent_events_guard BEFORE UPDATE OR DELETE ON consent_events
	FOR EACH ROW EXECUTE FUNCTION consent_events_guard();

CREATE TABLE suppressions (
	hash       text PRIMARY KEY,
	reason     text NOT NULL,
	created_at timestamptz NOT NULL
);
