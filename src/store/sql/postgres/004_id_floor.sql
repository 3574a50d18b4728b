-- bulletin schema 4 (PostgreSQL): nothing to change. SQLite's schema 4 keeps
-- the ids of deleted subscribers and lists from being given again (links carry
-- ids); PostgreSQL's identity sequences never reuse a value.
SELECT 1;
