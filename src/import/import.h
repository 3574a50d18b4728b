/*
 * Import: subscribers from a CSV file (any of the formats in formats.h) or
 * from bulletin's JSON export, into the store. Streaming: memory depends on
 * the batch size, never on the file. Rows are committed in whole batches,
 * so a killed import leaves a consistent database and running it again
 * completes it with no duplicate. The rules, for every row:
 *  - an invalid row (address, field count, UTF-8, status word...) is
 *    reported with its line and skipped; nothing else stops the import;
 *  - an address already present (any letter case, in the database or
 *    earlier in the file) is never duplicated: its row may add a name or
 *    attributes, confirm an unconfirmed subscription, or unsubscribe, and is
 *    counted `updated`; a row that changes nothing counts as `duplicate`;
 *  - an import never re-subscribes an unsubscribed subscription, never
 *    downgrades a confirmed one, and never lifts a blocklisting;
 *  - unsubscribed, cleaned and bounced rows never come out confirmed;
 *  - an address erased at its owner's request (on the suppression list) is
 *    skipped and counted `suppressed`;
 *  - each new subscription gets an `import` consent event naming the file,
 *    plus the opt-in/confirmation/unsubscribe events the file records.
 */
#ifndef BL_IMPORT_IMPORT_H
#define BL_IMPORT_IMPORT_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "import/formats.h"
#include "store/store.h"

struct bl_import_stats {
	size_t rows;     /* data rows read (header and ignored blank lines excluded) */
	size_t imported; /* rows that created a subscriber or a subscription */
	size_t updated;  /* rows that changed an existing subscriber or subscription */
	size_t skipped;  /* invalid + duplicate + suppressed */
	size_t invalid;
	size_t duplicate;
	size_t suppressed;
	enum bl_format format; /* the format used (detected or forced); BULLETIN for JSON */
	char delimiter;        /* the CSV delimiter used; 0 for JSON */
	int json;              /* 1 when the input was a bulletin JSON export */
	size_t committed;      /* rows in transactions already committed */
};

struct bl_import_opts {
	const char *path;           /* for messages and the consent source "import:BASENAME" */
	const char *list_slug;      /* target list of every row; NULL if the file names lists */
	int confirmed;              /* the publisher holds consent: new subscriptions confirmed */
	char delimiter;             /* 0 = detect */
	int dry_run;                /* do everything, then roll back */
	enum bl_format format;      /* BL_FORMAT_AUTO = detect */
	unsigned address_flags;     /* BL_ADDRESS_* (smtputf8) */
	int allow_role;             /* accept role addresses (postmaster@...) */
	size_t batch;               /* rows per transaction; 0 = 5000 */
	const char *source;         /* consent source; NULL = "import:BASENAME" */
	int manual;                 /* one address added by hand: record "signup", not "import" */
	enum bl_import_voice voice; /* whom the messages name settings for (formats.h) */
	/* Called for each invalid row: @line 0 when not about one line. */
	void (*on_error)(void *arg, size_t line, const char *msg);
	/* Called after each batch with bytes read so far and the file size (0 if unknown). */
	void (*on_progress)(void *arg, const struct bl_import_stats *st, long long done,
	                    long long total);
	void *arg;
	/* When *@stop becomes non-zero (a signal handler, another thread), the
	 * import stops after the batch it is reading: that batch rolls back,
	 * committed rows stay, and bl_import_file returns -BL_EBUSY ("stopped").
	 * Running the same import again completes it. NULL: never stops. */
	volatile sig_atomic_t *stop;
};

/*
 * bl_import_file - import everything in @f (opened for reading, binary).
 * @s: an open store at the current schema; the import manages transactions.
 * @st: filled with the counts, also when an error stops the import (rows
 *      already committed stay committed; the batch in flight is rolled back).
 * Returns 0 when the file was read to its end (invalid rows do not count as
 * failure); -BL_EENCODING for a file that is not UTF-8 (nothing imported);
 * -BL_EINVAL when the header names no email column, --list is missing or
 * names no list, or a JSON export is malformed; -BL_EIO on a read error;
 * a store error (-BL_ESTORE, -BL_EBUSY) from the database. @d says what.
 */
int bl_import_file(struct bl_store *s, FILE *f, const struct bl_import_opts *opts,
                   struct bl_import_stats *st, struct bl_diag *d);

/*
 * bl_import_precheck - what bl_import_file would refuse before its first
 * row, checked on an upload held in memory (@data, @len bytes) with @o's
 * list_slug, format, delimiter and voice, so that a caller can refuse a
 * request at once rather than queue a job that fails: a bulletin JSON
 * export must come without a list; a plain address list, and a CSV file
 * whose header has no list column, need one; a CSV header needs an email
 * column. Reads only what it needs (the first record); no database (that
 * the list exists is the caller's check). Returns 0; or -BL_EINVAL (or
 * -BL_EENCODING for a file that is not UTF-8) with @d saying why in @o's
 * voice and *@param naming the setting at fault ("list") or NULL (the
 * file itself).
 */
int bl_import_precheck(const void *data, size_t len, const struct bl_import_opts *o,
                       const char **param, struct bl_diag *d);

/*
 * bl_import_one - the same rules for one row (bulletin subscriber add):
 * @row is mapped by the caller and consumed (cleared) here; @o->path names
 * the source for messages ("cli"), @o->list_slug the list (or NULL for the
 * subscriber alone). An invalid row is reported through @o->on_error and
 * counted in @st->invalid; the result is 0 unless the store fails or the
 * list does not exist. One transaction.
 */
int bl_import_one(struct bl_store *s, struct bl_import_row *row, const struct bl_import_opts *o,
                  struct bl_import_stats *st, struct bl_diag *d);

/* What bl_import_add did. */
struct bl_import_add_result {
	int erased;        /* 1: refused, the address was erased at its owner's request */
	int64_t erased_at; /* then: when, seconds since the epoch */
	int invalid;       /* 1: refused, @error says why (the address, the name...) */
	char error[512];
	size_t imported, updated; /* lists (or the subscriber alone) added / changed */
};

/*
 * bl_import_add - one address added by hand, as `bulletin subscriber add`
 * adds it (the API's POST /subscribers and the admin UI's form use it):
 * an address erased at its owner's request (on the suppression list) and
 * not present is refused (@r->erased); otherwise bl_import_one with @o
 * (its list_slug, on_error and arg are set here) once for each of the
 * @n_slugs lists in @slugs (which must exist), or once for the subscriber
 * alone when @n_slugs is 0. @email as typed; @name "" for none (trimmed
 * here); @attributes a JSON object (borrowed, copied) or NULL. Stops at
 * the first invalid round (@r->invalid, @r->error). Returns 0 (look at @r)
 * or a store error (-BL_ESTORE, -BL_EBUSY, -BL_EINVAL for a missing list)
 * with @d saying why.
 */
int bl_import_add(struct bl_store *s, const char *email, const char *name, const json_t *attributes,
                  const char *const *slugs, size_t n_slugs, const struct bl_import_opts *o,
                  struct bl_import_add_result *r, struct bl_diag *d);

/*
 * bl_import_attributes_load - parse stored attributes (a JSON object) as
 * written by either backend; integers too large for jansson (PostgreSQL's
 * jsonb spells 1e20 out) are read as reals. Returns a new reference, or
 * NULL when the text is not a JSON object.
 */
json_t *bl_import_attributes_load(const char *text);

/* bl_is_role_address - 1 if the local part of @key (lowercased address) is a role account. */
int bl_is_role_address(const char *key);

#endif
