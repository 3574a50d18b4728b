-- bulletin schema 4 (SQLite): the id of a deleted subscriber or list is never
-- given to a new one. Links carry ids (signed tokens: unsubscribe,
-- preferences; VERP), so an erased subscriber's old links must not open the
-- next subscriber's data. SQLite gives a new row max(id) + 1, which reuses
-- the id of a deleted newest row; AUTOINCREMENT would need the tables rebuilt.
-- Instead the store inserts with an explicit id above both the highest id
-- and the highest id ever deleted (id_floors, kept by the triggers below).
-- PostgreSQL's sequences never reuse a value: its schema 4 changes nothing.

CREATE TABLE id_floors (
	name TEXT PRIMARY KEY,
	id   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO id_floors (name, id) SELECT 'subscribers', coalesce(max(id), 0) FROM subscribers;
INSERT INTO id_floors (name, id) SELECT 'lists', coalesce(max(id), 0) FROM lists;

CREATE TRIGGER subscribers_id_floor AFTER DELETE ON subscribers
BEGIN
	UPDATE id_floors SET id = max(id, OLD.id) WHERE name = 'subscribers';
END;

CREATE TRIGGER lists_id_floor AFTER DELETE ON lists
BEGIN
	UPDATE id_floors SET id = max(id, OLD.id) WHERE name = 'lists';
END;
