/*
 * The storage interface: everything bulletin keeps lives behind one
 * `const struct bl_store_ops` table, implemented by the SQLite backend
 * (sqlite.c, the embedded default) and the PostgreSQL backend (postgres.c,
 * for scale-out). Both pass the same contract suite (tests/store/contract.c).
 *
 * Conventions for every operation:
 *  - return 0 on success or a negative -BL_E* code; lookups return a
 *    negative code on error, 0 when absent, 1 when found;
 *  - on error bl_store_error() holds a message for people;
 *  - strings handed in are borrowed for the call; strings handed out in
 *    structs are malloc'd and released with the matching *_clear function;
 *  - callbacks return 0 to go on, anything else stops the walk and is
 *    returned by the walk;
 *  - times are int64 seconds since the epoch, UTC.
 * Operations are atomic on their own; begin/commit group several into one
 * transaction (the import commits one batch at a time this way).
 */
#ifndef BL_STORE_STORE_H
#define BL_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "util/err.h"

/* Schema version this binary expects: the number of the last migration. */
#define BL_SCHEMA_VERSION 1

struct bl_store_ops;

/* Base of every backend's handle; each backend embeds it as first member. */
struct bl_store {
	const struct bl_store_ops *ops;
	char error[BL_DIAG_MAX]; /* last error message */
};

struct bl_store_opts {
	int busy_timeout_ms; /* SQLite: wait this long for a lock (ms); 0 = 10000 */
	int must_exist;      /* SQLite: refuse a missing file instead of creating it */
};

/* Filter for subscriber walks. */
struct bl_subscriber_filter {
	int64_t list_id;  /* only subscribers with a subscription to this list; 0 = all */
	int sub_status;   /* with list_id: only this enum bl_sub_status; -1 = any */
	int status;       /* only this enum bl_subscriber_status; -1 = any */
	int64_t after_id; /* keyset pagination: only ids > after_id */
	int64_t limit;    /* at most this many; 0 = no limit */
};

/* What the import needs to know about one address before deciding. */
struct bl_import_state {
	int found;                /* a subscriber with this email_key exists */
	struct bl_subscriber sub; /* when found */
	int has_subscription;     /* the subscriber has a subscription to the list */
	enum bl_sub_status sub_status;
	enum bl_mode mode;
	int suppressed; /* the address hash is on the suppression list (erased) */
};

/* bl_import_state_clear - free the strings held by @st; NULL-safe. */
void bl_import_state_clear(struct bl_import_state *st);

#define BL_CHANGE_MAX_EVENTS 6

/*
 * One subscriber's change, decided by the import (src/import) and written by
 * import_apply. Flags say which rows to write; absent flags leave rows alone.
 */
struct bl_import_change {
	int64_t subscriber_id; /* existing id; for insert_subscriber, set by apply */
	unsigned insert_subscriber : 1, update_subscriber : 1;
	unsigned insert_subscription : 1, update_subscription : 1;
	const char *email, *email_key; /* insert_subscriber */
	const char *name, *attributes; /* insert/update_subscriber; attributes compact JSON */
	enum bl_subscriber_status status;
	const char *status_reason;
	int64_t created_at;     /* insert_subscriber */
	int64_t sub_created_at; /* insert_subscription */
	int64_t updated_at;     /* every write */
	int64_t list_id;        /* insert/update_subscription */
	enum bl_sub_status sub_status;
	enum bl_mode mode;
	size_t n_events; /* consent events to append; subscriber_id filled by apply */
	struct bl_consent events[BL_CHANGE_MAX_EVENTS];
};

/* One subscriber with its subscriptions and (optionally) consent events, for export. */
struct bl_export_item {
	const struct bl_subscriber *sub;
	const struct bl_subscription *subs; /* ordered by list slug; list_slug filled */
	size_t n_subs;
	const struct bl_consent
	    *events; /* ordered by time then id; list_slug filled; NULL without events */
	size_t n_events;
};

typedef int (*bl_list_fn)(void *arg, const struct bl_list *l);
typedef int (*bl_subscriber_fn)(void *arg, const struct bl_subscriber *s);
typedef int (*bl_subscription_fn)(void *arg, const struct bl_subscription *s);
typedef int (*bl_consent_fn)(void *arg, const struct bl_consent *c);
typedef int (*bl_export_fn)(void *arg, const struct bl_export_item *item);
typedef int (*bl_suppression_fn)(void *arg, const char *hash, const char *reason,
                                 int64_t created_at);

struct bl_store_ops {
	const char *name; /* "sqlite", "postgres" */

	/* Open the database named by @uri (after the backend's scheme check). */
	int (*open)(const char *uri, const struct bl_store_opts *opts, struct bl_store **out,
	            struct bl_diag *d);
	void (*close)(struct bl_store *s);

	/* Schema version in the database: 0 when uninitialised. */
	int (*schema_version)(struct bl_store *s, int *version);
	/* Apply the migrations after the current version, each in one transaction.
	 * @from and @to get the versions before and after. -BL_ESCHEMA if the
	 * database is newer than BL_SCHEMA_VERSION (nothing is changed then). */
	int (*migrate)(struct bl_store *s, int *from, int *to);

	int (*begin)(struct bl_store *s);
	int (*commit)(struct bl_store *s);
	int (*rollback)(struct bl_store *s);

	/* settings: key/value text. get: *@value malloc'd. */
	int (*setting_get)(struct bl_store *s, const char *key, char **value);
	int (*setting_set)(struct bl_store *s, const char *key, const char *value);

	/* lists. create sets @l->id, and @l->created_at to now unless it is set
	 * already (a restore); -BL_EEXIST for a taken slug. */
	int (*list_create)(struct bl_store *s, struct bl_list *l);
	int (*list_get)(struct bl_store *s, const char *slug, struct bl_list *out);
	int (*list_each)(struct bl_store *s, bl_list_fn fn, void *arg); /* by slug */
	/* delete the list and its subscriptions; consent events keep their history with list_id
	 * NULL. -BL_ENOENT if there is no such list. */
	int (*list_delete)(struct bl_store *s, const char *slug);
	int (*list_counts)(struct bl_store *s, int64_t list_id, struct bl_list_counts *out);

	/* subscribers. get by email_key (the lowercased address). */
	int (*subscriber_get)(struct bl_store *s, const char *email_key, struct bl_subscriber *out);
	int (*subscriber_each)(struct bl_store *s, const struct bl_subscriber_filter *f,
	                       bl_subscriber_fn fn, void *arg); /* by id */
	int (*subscription_each)(struct bl_store *s, int64_t subscriber_id, bl_subscription_fn fn,
	                         void *arg); /* by list slug, list_slug filled */
	/* by time, id; list_slug filled when the list exists. @subscriber_id 0
	 * walks the detached events (those of erased subscribers). */
	int (*consent_each)(struct bl_store *s, int64_t subscriber_id, bl_consent_fn fn, void *arg);
	int (*consent_add)(struct bl_store *s, const struct bl_consent *c);
	/*
	 * erase: delete the subscriber and its subscriptions; strip IP and user
	 * agent from its consent events and detach them (subscriber_id NULL);
	 * append an `erase` event; add @suppression_hash to the suppression list
	 * with @reason. One transaction. -BL_ENOENT if there is no such subscriber.
	 */
	int (*subscriber_erase)(struct bl_store *s, int64_t subscriber_id,
	                        const char *suppression_hash, const char *reason, int64_t now);
	/* the highest subscriber id so far (0 when there are none): ids only grow after it. */
	int (*subscriber_max_id)(struct bl_store *s, int64_t *out);
	/* whether the suppression list has any entry: 0 or 1, or a negative error. */
	int (*suppression_any)(struct bl_store *s);
	/* suppression list lookup by hash (hex SHA-256, see bl_suppression_hash). */
	int (*suppression_get)(struct bl_store *s, const char *hash, int64_t *since);
	/* every suppression, by hash. */
	int (*suppression_each)(struct bl_store *s, bl_suppression_fn fn, void *arg);
	/* add a suppression (a restore); an existing hash keeps its first date. */
	int (*suppression_add)(struct bl_store *s, const char *hash, const char *reason,
	                       int64_t created_at);

	/*
	 * import_lookup - the state of @n addresses (@keys: email_key each,
	 * @hashes: their suppression hashes, or NULL when the caller found the
	 * suppression list empty) with respect to list @list_id (0: none).
	 * @out has @n slots, filled in order.
	 */
	int (*import_lookup)(struct bl_store *s, int64_t list_id, size_t n, const char *const *keys,
	                     const char *const *hashes, struct bl_import_state *out);
	/*
	 * import_mark - the set of rows one import has taken, so that a later
	 * row for the same address and list is counted as a duplicate. Adds
	 * the @n distinct strings @marks to the current session's set and sets
	 * @seen[i] to 1 for each one that was in it already, else 0. The set
	 * lives in the database's temporary storage (a temp table: never in
	 * this process's memory) and follows the caller's transaction.
	 */
	int (*import_mark)(struct bl_store *s, size_t n, const char *const *marks, char *seen);
	/* import_mark_reset - start a new, empty session set. */
	int (*import_mark_reset)(struct bl_store *s);
	/* import_apply - write @n changes in order, inside the caller's transaction. */
	int (*import_apply)(struct bl_store *s, size_t n, struct bl_import_change *changes);

	/*
	 * export_each - every subscriber (or, with @list_id, those subscribed to
	 * that list in any status) by id, with all of its subscriptions (only
	 * that list's with @list_id) and, when @with_events, its consent events.
	 */
	int (*export_each)(struct bl_store *s, int64_t list_id, int with_events, bl_export_fn fn,
	                   void *arg);
};

/*
 * bl_store_open - open the database named by @uri: "sqlite:PATH" (PATH may
 * be relative) or "postgresql://..." / "postgres://..." (libpq URI).
 * Returns 0 with *@out set (close with bl_store_close), -BL_EINVAL for an
 * unknown scheme, -BL_ESTORE if the database cannot be opened; @d says why.
 */
int bl_store_open(const char *uri, const struct bl_store_opts *opts, struct bl_store **out,
                  struct bl_diag *d);

/* bl_store_close - close and free; NULL-safe. */
void bl_store_close(struct bl_store *s);

/* bl_store_error - the message of the last failed operation on @s. */
const char *bl_store_error(const struct bl_store *s);

/* bl_store_set_error - for backends: format the last-error message; returns -@code. */
int bl_store_set_error(struct bl_store *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * bl_store_check_schema - 0 when the schema is current; else -BL_ESCHEMA
 * with a message telling the user to run `bulletin init` (uninitialised or
 * older) or to upgrade bulletin (newer).
 */
int bl_store_check_schema(struct bl_store *s);

/* Backends, for the registry and the contract tests. */
extern const struct bl_store_ops bl_sqlite_ops;
extern const struct bl_store_ops bl_postgres_ops;

#endif
