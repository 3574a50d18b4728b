-- bulletin schema 1 (SQLite): lists, subscribers, subscriptions, consent
-- events, suppressions, settings. Times are INTEGER seconds since the epoch,
-- UTC. Later migrations add posts, the delivery ledger and bounces; ids are
-- INTEGER PRIMARY KEY so the ledger can reference (post_id, subscriber_id).

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE lists (
	id          INTEGER PRIMARY KEY,
	slug        TEXT NOT NULL UNIQUE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	optin       TEXT NOT NULL DEFAULT 'double' CHECK (optin IN ('double', 'single')),
	visibility  TEXT NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

-- email: what SMTP gets (domain as IDNA A-label); email_key: email with
-- ASCII letters lowercased, unique. attributes: a compact JSON object.
CREATE TABLE subscribers (
	id            INTEGER PRIMARY KEY,
	email         TEXT NOT NULL,
	email_key     TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL DEFAULT '',
	attributes    TEXT NOT NULL DEFAULT '{}',
	status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocklisted')),
	status_reason TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);

CREATE TABLE subscriptions (
	subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	list_id       INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
	status        TEXT NOT NULL CHECK (status IN ('unconfirmed', 'confirmed', 'unsubscribed')),
	mode          TEXT NOT NULL DEFAULT 'instant' CHECK (mode IN ('instant', 'daily', 'weekly')),
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (subscriber_id, list_id)
) WITHOUT ROWID;

-- Counting and walking a list's audience by status.
CREATE INDEX subscriptions_by_list ON subscriptions (list_id, status, subscriber_id);

-- Append-only. The only change allowed is erasure: detaching the subscriber
-- and the list and blanking IP and user agent (see the triggers below).
-- subscriber_id and list_id carry no foreign key: the log must outlive what
-- it refers to, the store detaches them itself (erasure, list removal), and
-- the checks would double the cost of every import row.
CREATE TABLE consent_events (
	id            INTEGER PRIMARY KEY,
	subscriber_id INTEGER,
	list_id       INTEGER,
	kind          TEXT NOT NULL CHECK (kind IN ('signup', 'confirm', 'unsubscribe', 'import',
	                                            'erase', 'preference', 'blocklist')),
	at            INTEGER NOT NULL,
	ip            TEXT NOT NULL DEFAULT '',
	user_agent    TEXT NOT NULL DEFAULT '',
	source        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consent_events_by_subscriber ON consent_events (subscriber_id);

CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN
	SELECT RAISE(ABORT, 'consent events are append-only');
END;

CREATE TRIGGER consent_events_erase_only BEFORE UPDATE ON consent_events
WHEN NEW.id IS NOT OLD.id OR NEW.kind IS NOT OLD.kind OR NEW.at IS NOT OLD.at
  OR NEW.source IS NOT OLD.source
  OR (NEW.subscriber_id IS NOT NULL AND NEW.subscriber_id IS NOT OLD.subscriber_id)
  OR (NEW.list_id IS NOT NULL AND NEW.list_id IS NOT OLD.list_id)
  OR (NEW.ip <> '' AND NEW.ip IS NOT OLD.ip)
  OR (NEW.user_agent <> '' AND NEW.user_agent IS NOT OLD.user_agent)
BEGIN
	SELECT RAISE(ABORT, 'consent events are append-only (only erasure may blank them)');
END;

-- Addresses that must not come back without new consent (erased on
-- request): hex SHA-256 of the email_key, never the address itself.
CREATE TABLE suppressions (
	hash       TEXT PRIMARY KEY,
	reason     TEXT NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
