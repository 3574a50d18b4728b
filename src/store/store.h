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
#define BL_SCHEMA_VERSION 7

struct bl_store_ops;

/* ---- bounces and complaints (schema 7, issue 7) ---- */

/* The subscriber policy for findings (config bounce_*; src/bounce/policy.h). */
struct bl_bounce_policy {
	int hard_limit;      /* hard findings that disable a subscriber (default 1), >= 1 */
	int soft_limit;      /* posts with a final soft finding within soft_window that start a
	                        probe (5) */
	int64_t soft_window; /* seconds (30 days) */
};

/* One finding to record, attributed (or not) by src/bounce/attribute.c. Strings borrowed. */
struct bl_bounce_event {
	const char *report_key; /* dedupe: hex SHA-256 of the report (or of a provider event id) */
	int idx;                /* the finding's index in its report, from 0 */
	const char *source;     /* intake: "pipe", "maildir", "imap", "pop3", "smtp",
	                           "webhook:ses", "webhook:postmark", "webhook:sendgrid",
	                           "webhook:mailgun", "cli" */
	const char *kind;       /* bl_report_kind_name, or "smtp" for a synchronous reply */
	enum bl_bounce_class cls;
	const char *reason;             /* finer reason ("userunknown"), "" */
	const char *status;             /* RFC 3463 code, "" */
	int reply_code;                 /* SMTP code, 0 */
	int final;                      /* 1 delivery ended; 0 a delay warning (never counted) */
	const char *recipient;          /* as reported, "" */
	const char *diagnostic;         /* "" ; cut to BL_REPLY_MAX bytes at a UTF-8 boundary */
	const char *feedback_type;      /* "" */
	int64_t post_id, subscriber_id; /* the delivery it concerns; 0/0 when not attributed */
	const char *attributed_by;      /* "verp", "message-id", "recipient", "smtp"; "" when not */
	const char *review; /* not attributed: why, for a person ("no VERP token ..."), else "" */
};

/* What bounce_record did. */
struct bl_bounce_outcome {
	int duplicate;      /* 1: (report_key, idx) was recorded before; nothing changed */
	int64_t bounce_id;  /* the row (the earlier one for a duplicate) */
	const char *action; /* static: "disabled", "unsubscribed", "probe", "counted", "recorded",
	                       "review" */
	int64_t probe_post_id; /* "probe": the probe post made */
};

/* A stored finding, as listings show it. Strings borrowed for the callback. */
struct bl_bounce_row {
	int64_t id, received_at;
	const char *source, *kind;
	enum bl_bounce_class cls;
	const char *reason, *status;
	int reply_code, final;
	const char *recipient, *diagnostic, *feedback_type;
	int64_t post_id, subscriber_id; /* 0 when not attributed, or the subscriber erased */
	const char *attributed_by, *review, *action;
};
typedef int (*bl_bounce_fn)(void *arg, const struct bl_bounce_row *row);

/* Which stored findings a walk visits, newest first. */
struct bl_bounce_filter {
	int64_t post_id;       /* 0 = any */
	int64_t subscriber_id; /* 0 = any */
	int review_only;       /* only those in the review bucket */
	int64_t before_id;     /* keyset: ids < before_id; 0 = from the newest */
	int64_t limit;         /* 0 = no limit */
};

/* A post's findings by class (final ones, distinct subscribers), for rates. */
struct bl_bounce_counts {
	int64_t n[BL_BOUNCE_NCLASSES];
	int64_t delivered; /* rows the relay accepted: accepted + bounced + complained (what
	                      complaints are counted over) */
	int64_t sent;      /* rows handed to the relay with a final answer: delivered + failed
	                      (what hard bounces are counted over: a 5xx at RCPT is one) */
};

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
	/* schema 5: with @prefix (not NULL, not ""), only subscribers whose
	 * email_key starts with it (bytes, case as stored: callers lowercase),
	 * walked in email_key order instead of id order, after_id ignored and
	 * only keys > @after_key (NULL or "": from the first). A range on the
	 * unique email_key index: a page costs O(page), however many match. */
	const char *prefix;
	const char *after_key;
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

/* One delivery row claimed by an engine, with what composing its message needs. */
struct bl_claimed {
	int64_t delivery_id, post_id, subscriber_id;
	int64_t list_id;      /* the first (lowest id) of the post's lists the subscriber is
	                         confirmed on in instant mode: names the list in the message and its
	                         unsubscribe link (a confirmation post: the first it is still
	                         unconfirmed on) */
	int attempts;         /* claims of this row so far, this one included */
	int64_t first_try_at; /* time of the row's first claim */
	int in_doubt;         /* this row had an expired claim before (a resend) */
	char *email, *name, *attributes; /* the subscriber's; malloc'd */
};

/* bl_claimed_clear - free the strings of @c; NULL-safe. */
void bl_claimed_clear(struct bl_claimed *c);

/* What happened to one claimed row, for delivery_exchange. */
struct bl_delivery_result {
	int64_t delivery_id;
	/* ACCEPTED, DEFERRED, FAILED, SUPPRESSED: the new state; PENDING: release
	 * the claim unused (the message was not handed over; attempts goes back
	 * down by one; code, reply, queue_id and relay are ignored). */
	enum bl_delivery_state state;
	int code;             /* SMTP reply code, 0 when none */
	const char *reply;    /* relay reply or reason, or NULL; BL_REPLY_MAX bytes kept */
	const char *queue_id; /* the relay's queue id, or NULL */
	const char *relay;    /* which relay, or NULL */
	int64_t next_try;     /* DEFERRED: not before this time */
};

/* A subscriber row's summary as a listing of deliveries shows it. */
struct bl_delivery_row {
	int64_t id, post_id, subscriber_id; /* subscriber_id 0 once erased */
	const char *email;                  /* "" once erased */
	enum bl_delivery_state state;
	int attempts, in_doubt, code;
	const char *reply, *queue_id, *relay;
	int64_t updated_at, next_try;
	const char *post_subject; /* subscriber_deliveries_each only (NULL elsewhere) */
};

/* ---- the public web (schema 3) ---- */

/* Who asked, for the consent events an operation writes (borrowed strings). */
struct bl_consent_ctx {
	int64_t now;            /* seconds since the epoch: event time and updated_at */
	const char *ip;         /* "" when unknown */
	const char *user_agent; /* "" when unknown; cut to BL_USER_AGENT_MAX */
	const char *source; /* "web:/subscribe", "web:/preferences", ...; cut to BL_SOURCE_MAX */
};

/* A signup from the public form (or a resend of a confirmation mail). */
struct bl_signup {
	const char *email, *email_key; /* a validated address (struct bl_address) */
	const char *name;              /* NULL or "": none given */
	const int64_t *list_ids;       /* existing lists; 0 lists: a resend (see web_signup) */
	size_t n_lists;
	struct bl_consent_ctx ctx;
	int64_t confirm_interval;    /* seconds: at most one confirmation mail per subscriber in any
	                                window this long (86400) */
	int send_confirm;            /* 0: queue no confirmation mail (circuit breaker, bots) */
	const char *confirm_subject; /* subject of the confirmation post */
};

struct bl_signup_result {
	int64_t subscriber_id;   /* 0 when blocklisted, or a resend for an unknown address */
	int created;             /* the subscriber row is new */
	size_t n_subscribed;     /* single opt-in lists this signup confirmed */
	size_t n_pending;        /* double opt-in lists awaiting confirmation after it */
	size_t n_already;        /* lists already confirmed: left as they were */
	int64_t confirm_post_id; /* the confirmation post queued; 0 when none */
	int throttled;           /* a mail was due but one went out within confirm_interval */
	int blocklisted;         /* the address is blocklisted: nothing was changed */
};

/* One subscription change from the preference centre. */
struct bl_subscription_change {
	int64_t list_id;
	enum bl_sub_status status; /* confirmed (re-join, the token proves the address) or
	                              unsubscribed; unconfirmed is refused */
	enum bl_mode mode;
};

/* Counts for /metrics, from one snapshot. */
struct bl_stats {
	int64_t subscribers[2];                  /* by enum bl_subscriber_status */
	int64_t subscriptions[3];                /* by enum bl_sub_status */
	int64_t deliveries[BL_DELIVERY_NSTATES]; /* every post's rows, by state */
	int64_t accepted_last_minute;            /* rows accepted in [now - 60, now] */
	int64_t posts_sending;                   /* posts in status sending (any kind) */
};

/* ---- publisher tools (schema 5) ---- */

/* A person who logs in to /admin. Strings malloc'd by the store (bl_user_clear). */
struct bl_user {
	int64_t id;
	char *name; /* unique, BL_USER_NAME_MAX bytes of [A-Za-z0-9._@-] */
	enum bl_role role;
	char *pass_hash; /* crypto_pwhash_str output (argon2id), "$argon2id$..." */
	int64_t created_at, password_changed_at, last_login_at; /* 0 = never */
};
void bl_user_clear(struct bl_user *u);

/* A logged-in browser: the session row joined with its user. */
struct bl_session {
	int64_t user_id;
	char *user_name; /* malloc'd (bl_session_clear) */
	enum bl_role role;
	char *csrf; /* the session's CSRF token (43 chars base64url); malloc'd */
	int64_t created_at, expires_at;
};
void bl_session_clear(struct bl_session *x);

/* An API token (the secret itself is never stored: only its SHA-256). */
struct bl_api_token {
	int64_t id;
	char *name; /* unique; malloc'd (bl_api_token_clear) */
	enum bl_role role;
	int64_t created_at, last_used_at; /* 0 = never used */
};
void bl_api_token_clear(struct bl_api_token *t);

/* One audit log entry: who did what to what, when. Strings borrowed. */
struct bl_audit {
	int64_t id, at;     /* at: seconds since the epoch */
	const char *actor;  /* "user:NAME", "token:NAME", "cli", "scheduler" */
	const char *action; /* "list.create", "post.send", "user.add", "login", ... */
	const char *target; /* "list:news", "post:12", "" ; cut to BL_AUDIT_TEXT_MAX */
	const char *detail; /* free text or compact JSON, ""; cut to BL_AUDIT_TEXT_MAX */
	const char *ip;     /* "" when not over HTTP */
};

/* Maintained counts (triggers keep them; reading them costs O(1)). */
struct bl_counts {
	int64_t subscribers[2]; /* by enum bl_subscriber_status */
};

/* An asynchronous job (a CSV import uploaded through the API or the admin UI). */
enum bl_job_state { BL_JOB_QUEUED, BL_JOB_RUNNING, BL_JOB_DONE, BL_JOB_FAILED };
/* "queued"/"running"/"done"/"failed" */
const char *bl_job_state_name(enum bl_job_state v);

struct bl_job {
	int64_t id;
	char *kind; /* "import" */
	enum bl_job_state state;
	char *params; /* compact JSON object: what the job is asked (list, options, file name) */
	char *actor;  /* who asked ("user:NAME", "token:NAME") */
	int64_t size; /* bytes of input */
	int64_t done; /* progress: bytes (or rows) handled so far */
	char *report; /* compact JSON object when done ({} before); the result counts */
	char *error;  /* why it failed, "" otherwise */
	int64_t created_at, started_at, finished_at; /* 0 = not yet */
};
void bl_job_clear(struct bl_job *j);

/*
 * One item of a successful feed poll, for feed_ingest (src/feed/poll.c
 * builds them). Strings borrowed for the call.
 */
struct bl_feed_ingest_item {
	const char *key;     /* hex SHA-256 identity (bl_feed_item_key), 64 chars */
	const char *title;   /* plain text, for the record ("" allowed) */
	const char *link;    /* absolute URL, for the record ("" allowed) */
	const char *subject; /* the post's subject: UTF-8, no CR/LF, at most BL_SUBJECT_MAX bytes */
	const char *body;    /* the post's body: sanitised HTML (posts.format 'html') */
};

/* What one feed_ingest did. */
struct bl_feed_ingest_result {
	int64_t new_items; /* entries not seen before (now recorded) */
	int64_t posts;     /* posts made from them (fewer on a first poll: backfill) */
	int64_t first_post_id, last_post_id; /* the ids made, 0 when none */
};

typedef int (*bl_feed_fn)(void *arg, const struct bl_feed *f);
/* ---- digests (schema 6) ---- */

/* One digest to make: a post of kind digest for @mode and [period_start, period_end). */
struct bl_digest_spec {
	enum bl_mode mode;                /* BL_MODE_DAILY or BL_MODE_WEEKLY */
	int64_t period_start, period_end; /* seconds since the epoch, start < end */
	const char *subject;              /* the digest post's subject (one line) */
	int64_t now;                      /* created_at, started_at, next_try */
};

/* One digest as digest_get reads it. */
struct bl_digest {
	int64_t post_id;
	enum bl_mode mode;
	int64_t period_start, period_end;
};

/* One post of a subscriber's digest, as digest_posts hands it out (strings borrowed). */
struct bl_digest_item {
	const struct bl_post *post; /* kind post; subject and body filled */
	int64_t list_id;            /* the lowest of the post's lists the subscriber takes in
	                               the digest's mode */
	const char *list_slug, *list_name;
};

typedef int (*bl_digest_item_fn)(void *arg, const struct bl_digest_item *it);

typedef int (*bl_user_fn)(void *arg, const struct bl_user *u);
typedef int (*bl_api_token_fn)(void *arg, const struct bl_api_token *t);
typedef int (*bl_audit_fn)(void *arg, const struct bl_audit *a);
typedef int (*bl_job_fn)(void *arg, const struct bl_job *j);
/* schedule_run: post @post_id was queued (held 0, @total rows) or held (held 1). */
typedef int (*bl_schedule_fn)(void *arg, int64_t post_id, int held, int64_t total);

typedef int (*bl_list_fn)(void *arg, const struct bl_list *l);
typedef int (*bl_subscriber_fn)(void *arg, const struct bl_subscriber *s);
typedef int (*bl_subscription_fn)(void *arg, const struct bl_subscription *s);
typedef int (*bl_consent_fn)(void *arg, const struct bl_consent *c);
typedef int (*bl_export_fn)(void *arg, const struct bl_export_item *item);
typedef int (*bl_post_fn)(void *arg, const struct bl_post *p);
typedef int (*bl_delivery_fn)(void *arg, const struct bl_delivery_row *d);
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
	 * NULL. -BL_ENOENT if there is no such list; -BL_EINUSE (nothing
	 * deleted; the message names the post) while a post of kind post in
	 * status scheduled, sending or paused is on the list (deleting it would
	 * empty the post's audience mid-way). */
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

	/* ---- posts (schema 2) ---- */

	/*
	 * post_create - insert @p (status draft unless set; created_at now unless
	 * set; NULL strings stored as "") with its @n_lists lists @list_ids
	 * (existing list ids; one given twice counts once). Sets @p->id and
	 * @p->created_at; started_at and total start at 0. -BL_ENOENT when a list
	 * id does not exist (the message names it); -BL_EINVAL for no list, a
	 * status other than draft or scheduled (a post starts sending through
	 * post_queue only), an unknown priority or a kind other than post
	 * (confirmation posts are made by web_signup). Nothing is written on error.
	 */
	int (*post_create)(struct bl_store *s, struct bl_post *p, const int64_t *list_ids,
	                   size_t n_lists);
	/* post_get - lookup by id, any kind: -1/0/1. @out filled with malloc'd strings
	 * (bl_post_clear). */
	int (*post_get)(struct bl_store *s, int64_t id, struct bl_post *out);
	/* post_each - every post of every kind (callers filter on kind), newest (highest id)
	 * first. */
	int (*post_each)(struct bl_store *s, bl_post_fn fn, void *arg);
	/* post_lists - the lists of post @post_id, by slug (a deleted list leaves its posts). */
	int (*post_lists)(struct bl_store *s, int64_t post_id, bl_list_fn fn, void *arg);
	/*
	 * post_set_status - move post @id to @to if its status is one of the
	 * bits (1 << enum bl_post_status) in @from_mask; set pause_reason to
	 * @reason ("" or NULL clears it) and auto_paused to @auto_paused;
	 * finished_at = @now when @to is sent or cancelled. Cancelling also
	 * turns every pending and deferred row of the post into suppressed with
	 * reply "post cancelled"; rows claimed at that moment keep their claim
	 * and take their result (a deferral or release of one of them ends it
	 * as suppressed, "post cancelled", instead). Resuming (@from_mask exactly
	 * the paused bit, @to sending) makes the post's deferred rows due at
	 * @now: a person or the engine resuming means "go on now", and a
	 * refusal of the sending account deferred rows until then. One
	 * transaction. Returns 1
	 * when changed, 0 when the status was not in @from_mask (or no such
	 * post), negative on error (-BL_EINVAL for an unknown @to).
	 */
	int (*post_set_status)(struct bl_store *s, int64_t id, unsigned from_mask,
	                       enum bl_post_status to, const char *reason, int auto_paused,
	                       int64_t now);
	/*
	 * post_queue - start sending draft or scheduled post @id of kind post, in one
	 * transaction: one pending delivery row per distinct subscriber that is
	 * active and confirmed in instant mode on at least one of the post's
	 * lists, or (schema 6) a breaking post: confirmed in any mode on one of
	 * its lists whose breaking_digest is on (priority copied from the post, next_try = @now),
	 * total = that number, status sending, started_at = @now, pause_reason cleared (a
	 * scheduler's hold: a held post sent by a person). A single INSERT ... SELECT
	 * in the database: memory does not grow with the audience. Sets *@total
	 * (when not NULL). Returns 1 when queued; 0 when the post was not
	 * draft/scheduled or is of another kind (nothing changes, *@total
	 * untouched; the caller looks at the post); -BL_ENOENT for no such post. A post queued with
	 * no recipient becomes sent at the next delivery_exchange.
	 */
	int (*post_queue)(struct bl_store *s, int64_t id, int64_t now, int64_t *total);
	/*
	 * delivery_counts - rows of post @post_id by state, and the post's
	 * in-doubt count (posts.in_doubt), from one snapshot. All zero for no
	 * such post.
	 */
	int (*delivery_counts)(struct bl_store *s, int64_t post_id, struct bl_delivery_counts *out);
	/*
	 * delivery_each - rows of post @post_id by id, only those in @state
	 * (-1: any; -BL_EINVAL for another value outside the enum), ids >
	 * @after_id, at most @limit (0: all). The row's strings are borrowed
	 * for the call.
	 */
	int (*delivery_each)(struct bl_store *s, int64_t post_id, int state, int64_t after_id,
	                     int64_t limit, bl_delivery_fn fn, void *arg);
	/* delivery_accepted_since - rows of post @post_id accepted at or after @since
	 * (updated_at), for the send rate. An index range: cheap on a large post. */
	int (*delivery_accepted_since)(struct bl_store *s, int64_t post_id, int64_t since,
	                               int64_t *out);

	/* ---- the delivery engine ---- */

	/*
	 * engine_lock - claim the right to run a delivery engine as @worker.
	 * SQLite allows one engine per database: an exclusive flock(2) on the
	 * side file "PATH-engine.lock", which holds "PID WORKER". -BL_EBUSY when
	 * another handle holds it, in this process or another ("another delivery
	 * engine (pid N) is running on PATH"); the lock lives until close (or
	 * the process dies; a forked child shares it, exec does not keep it).
	 * Calling it again
	 * on the holding handle returns 0. PostgreSQL allows many engines:
	 * always 0.
	 */
	int (*engine_lock)(struct bl_store *s, const char *worker);
	/*
	 * delivery_reclaim - rows in state claimed whose lease ended before @now
	 * (every claimed row when @all: SQLite's single engine after a crash)
	 * go back to pending with in_doubt set and next_try = @now (after the
	 * post's rows queued earlier), keeping attempts; those of a cancelled
	 * post become suppressed ("post cancelled")
	 * instead. Each such row adds one to its post's in_doubt count. Sets
	 * *@n (when not NULL) to the number of rows. One transaction.
	 */
	int (*delivery_reclaim)(struct bl_store *s, int64_t now, int all, int64_t *n);
	/*
	 * delivery_exchange - the engine's one transaction per turn:
	 *  1. record @n_results results, in order, at @now (updated_at): only on
	 *     rows still claimed by @worker; others (and a row's second result
	 *     in the same call) are skipped and counted in *@stale. The reply is
	 *     cut to BL_REPLY_MAX bytes at a UTF-8 boundary; worker and lease
	 *     are cleared. A release (PENDING) gives attempts back (clearing
	 *     first_try_at when it drops to 0) and sets next_try = @now, keeping
	 *     the earlier code and reply. On a cancelled post a deferral or a
	 *     release ends the row as suppressed, reply "post cancelled".
	 *  2. claim up to @max rows for @worker with lease_until = @lease_until:
	 *     posts in status sending only (not paused, not cancelled), highest
	 *     priority first, then post id; within a post its pending rows and
	 *     its deferred rows whose next_try <= @now, in (next_try, id) order
	 *     (a pending row's next_try is when it was queued, or released or
	 *     reclaimed: rows given back come after the post's fresh rows, as
	 *     its retries do). A claim adds one to attempts and
	 *     sets first_try_at = @now on a row's first claim. At claim time a
	 *     row whose subscriber was erased, is blocklisted, or is no longer
	 *     confirmed in instant mode on any of the post's lists (an
	 *     unsubscribe, or a switch to a digest, which gathers the post
	 *     instead; a breaking post: in any mode on a list whose
	 *     breaking_digest is on) becomes suppressed (reply: "subscriber erased",
	 *     "subscriber blocklisted: REASON", "subscriber no longer confirmed
	 *     in instant mode on the post's lists") and is not returned; the
	 *     next rows are taken in its place. A row of a confirmation post
	 *     (kind confirm) goes out instead while its subscriber is still
	 *     unconfirmed, in any mode, on one of the post's lists (list_id: the
	 *     lowest such list); once there is none (confirmed through another
	 *     mail, unsubscribed, the list deleted) it becomes suppressed with
	 *     reply "nothing left to confirm". A row of a digest (kind digest)
	 *     goes out while its subscriber is confirmed in the digest's mode on
	 *     one of the digest's lists (list_id: the lowest), else it becomes
	 *     suppressed, "subscriber no longer takes this digest's mode on any
	 *     of its lists". A row of a bounce probe (kind probe, schema 7) goes
	 *     out while its subscriber is active (not blocklisted, not erased),
	 *     whatever their subscriptions (list_id: the lowest list they are
	 *     confirmed on, 0 when none). On PostgreSQL rows are taken
	 *     with FOR UPDATE SKIP LOCKED so engines never share one.
	 *  3. every post in status sending with no pending, claimed or deferred
	 *     row left becomes sent (finished_at = @now); *@finished counts them.
	 *     Each turn looks at every sending post (an index probe each), so
	 *     a post whose last rows ended in another engine's turn, or that
	 *     was queued with no row, is finished by the next turn of any
	 *     engine. On PostgreSQL a post another transaction holds is left for
	 *     a later turn.
	 * @out has @max slots; *@n_out is set to the rows claimed, their
	 * strings malloc'd (bl_claimed_clear). @stale and @finished may be NULL.
	 * -BL_EINVAL (nothing done) for an empty @worker, @max > 0 without @out
	 * or @n_out, a result in state claimed or out of range, or a deferral
	 * without next_try. All or nothing: on error nothing is recorded or
	 * claimed and *@n_out is 0.
	 */
	int (*delivery_exchange)(struct bl_store *s, const char *worker, int64_t now,
	                         int64_t lease_until, const struct bl_delivery_result *results,
	                         size_t n_results, size_t max, struct bl_claimed *out,
	                         size_t *n_out, size_t *stale, size_t *finished);
	/*
	 * queue_next_due - the earliest next_try of a deferred row of a post in
	 * status sending, or 0 when there is none; *@waiting (when not NULL) is
	 * set to 1 when some post is sending or paused with rows not yet
	 * terminal, else 0.
	 */
	int (*queue_next_due)(struct bl_store *s, int64_t *next_try, int *waiting);

	/* ---- the public web (schema 3) ---- */

	/*
	 * web_signup - one signup, in one transaction, serialised per address:
	 * 50 simultaneous signups of one address make one subscriber and at most
	 * one confirmation post, and none of them fails (SQLite: BEGIN IMMEDIATE,
	 * every signup takes its turn; PostgreSQL: INSERT ... ON CONFLICT DO
	 * NOTHING, then the subscriber row locked FOR UPDATE to the end). Events
	 * carry @in->ctx (see struct bl_consent_ctx) and the list.
	 *
	 * A blocklisted subscriber: nothing changes, blocklisted = 1,
	 * subscriber_id 0. Otherwise the subscriber is created when absent
	 * (email and email_key as given, name as given or "", attributes {},
	 * created_at now; created = 1); an existing one keeps its name unless it
	 * has none (then it takes a non-empty @in->name). For each list (one
	 * given twice counts once): confirmed stays confirmed, mode and all
	 * (n_already; never downgraded, no event); otherwise the request is new
	 * consent (event signup) and a single opt-in list becomes confirmed in
	 * instant mode (event confirm; n_subscribed), a double opt-in list
	 * unconfirmed (n_pending). A subscription this creates or revives (it
	 * was unsubscribed) is in instant mode; one still unconfirmed keeps its
	 * mode. An erased address (its bl_suppression_hash of email_key on the
	 * suppression list) is treated as if every list were double opt-in:
	 * anyone may have typed it, so only a confirmation (web_confirm) brings
	 * it back and lifts the suppression entry.
	 *
	 * With @in->n_lists == 0 (a resend) nothing is subscribed and no event
	 * is written: the subscriber's unconfirmed subscriptions are the pending
	 * ones (n_pending); no subscriber: returns
	 * 0 with subscriber_id 0 and nothing written.
	 *
	 * Then, when some double opt-in list is pending and send_confirm is set:
	 * if a confirmation post for this subscriber was created in the last
	 * confirm_interval seconds (created_at > now - confirm_interval; an
	 * interval of 0 never throttles), throttled = 1 and nothing is sent;
	 * else a confirmation post is created: kind confirm, priority
	 * transactional, status sending, subject confirm_subject, empty body and
	 * from, created_at = started_at = now, total 1, its lists the pending
	 * double opt-in lists of this request (a resend: all pending ones), with
	 * one pending delivery row for the subscriber (next_try now, priority
	 * transactional); confirm_post_id is its id. The engine sends it ahead
	 * of every other post (delivery_exchange says how it claims it).
	 * -BL_ENOENT when a list id does not exist (the message names it);
	 * -BL_EINVAL for no address, lists counted without an array or a
	 * negative interval. Nothing is written on error; *@out is set on
	 * success only.
	 */
	int (*web_signup)(struct bl_store *s, const struct bl_signup *in,
	                  struct bl_signup_result *out);
	/*
	 * web_confirm - confirm what confirmation post @confirm_post_id asked
	 * subscriber @subscriber_id for: each of the post's lists the subscriber
	 * is still unconfirmed on becomes confirmed (mode kept; event confirm
	 * per list, in list id order, with @ctx) and the address's suppression
	 * entry (erasure) is removed. A subscription left or confirmed since is
	 * not touched. One transaction. Idempotent: a second call confirms
	 * nothing (*@n = 0) and succeeds. *@n (when not NULL) = subscriptions
	 * confirmed now (0 when the call returns 0). Returns 1; 0 when there is
	 * no such subscriber, the post is not a confirmation post or has no
	 * delivery row for this subscriber (a token of an erased subscriber, a
	 * replay against another database); negative on error.
	 */
	int (*web_confirm)(struct bl_store *s, int64_t subscriber_id, int64_t confirm_post_id,
	                   const struct bl_consent_ctx *ctx, int64_t *n);
	/*
	 * web_unsubscribe - subscriber @subscriber_id leaves list @list_id (0:
	 * every list): each confirmed or unconfirmed subscription becomes
	 * unsubscribed (mode kept) with an unsubscribe event (@ctx), in list id
	 * order. Idempotent (*@n = 0 on a replay; also for a list the subscriber
	 * is not on, or that does not exist). *@n (when not NULL) = the
	 * subscriptions left now. Returns 1; 0 when there is no such
	 * subscriber; negative on error.
	 */
	int (*web_unsubscribe)(struct bl_store *s, int64_t subscriber_id, int64_t list_id,
	                       const struct bl_consent_ctx *ctx, int64_t *n);
	/*
	 * web_preferences - apply the preference centre's form in one
	 * transaction: @name (NULL: unchanged; "" clears) and @n changes, in
	 * order. A change that alters nothing writes nothing; a new status
	 * writes a confirm or an unsubscribe event, a new mode (or name) a
	 * preference event (both when both change: the status's first). A list
	 * the subscriber had no subscription to gets one (a public list joined
	 * from the preference centre; the caller checks the visibility) with
	 * events signup and confirm; an unsubscribed target for such a list
	 * writes nothing. A confirmation here also lifts the address's
	 * suppression entry (the preferences token proves the address). Events
	 * carry @ctx. Returns 1; 0 when there is no such subscriber; -BL_EINVAL
	 * for an unconfirmed (or unknown) target status or an unknown mode;
	 * -BL_ENOENT for a missing list. Nothing is written on error.
	 */
	int (*web_preferences)(struct bl_store *s, int64_t subscriber_id, const char *name,
	                       const struct bl_subscription_change *changes, size_t n,
	                       const struct bl_consent_ctx *ctx);
	/* subscriber_get_id - lookup by id: -1/0/1; @out as subscriber_get. */
	int (*subscriber_get_id)(struct bl_store *s, int64_t id, struct bl_subscriber *out);
	/*
	 * subscriber_deliveries_each - the deliveries of subscriber @id, by id,
	 * with the post's subject in post_subject (confirmation posts included;
	 * rows in a state the model does not know are skipped). The row's
	 * strings are borrowed for the call. An erased subscriber has none: its
	 * rows stay with their posts, anonymous.
	 */
	int (*subscriber_deliveries_each)(struct bl_store *s, int64_t subscriber_id,
	                                  bl_delivery_fn fn, void *arg);
	/*
	 * archive_each - the posts the archive shows: kind post, status sending,
	 * paused or sent, on at least one public list (with @list_id: on that
	 * list, whatever its visibility; the caller checks it), newest (highest
	 * id) first, only ids < @before_id (0: from the newest), at most @limit
	 * (0: all). Posts carry their body. An index walk that never visits the
	 * confirmation posts, however many there are.
	 */
	int (*archive_each)(struct bl_store *s, int64_t list_id, int64_t before_id, int64_t limit,
	                    bl_post_fn fn, void *arg);
	/* archive_get - post @id when the archive shows it (as archive_each with list 0): -1/0/1.
	 */
	int (*archive_get)(struct bl_store *s, int64_t id, struct bl_post *out);
	/*
	 * stats - the counts of struct bl_stats at @now, from one snapshot. The
	 * subscriber and subscription counts are the maintained ones (schema 5:
	 * O(lists)); the delivery counts are counts (they read every row, or
	 * every entry of an index); the last minute's accepted rows
	 * cost an index probe per post still sending, paused or cancelled or
	 * sent in that minute.
	 */
	int (*stats)(struct bl_store *s, int64_t now, struct bl_stats *out);

	/*
	 * export_each - every subscriber (or, with @list_id, those subscribed to
	 * that list in any status) by id, with all of its subscriptions (only
	 * that list's with @list_id) and, when @with_events, its consent events.
	 */
	int (*export_each)(struct bl_store *s, int64_t list_id, int with_events, bl_export_fn fn,
	                   void *arg);
	/* ---- publisher tools (schema 5) ---- */

	/* user_create - insert @u (name, role, pass_hash; created_at and
	 * password_changed_at = now unless set); sets @u->id. -BL_EEXIST for a
	 * taken name. */
	int (*user_create)(struct bl_store *s, struct bl_user *u);
	/* user_get - by name (exact) or, with @name NULL, by @id: -1/0/1. */
	int (*user_get)(struct bl_store *s, const char *name, int64_t id, struct bl_user *out);
	int (*user_each)(struct bl_store *s, bl_user_fn fn, void *arg); /* by name */
	/* user_set_password - new hash, password_changed_at = @now, and every
	 * session of the user deleted, in one transaction. 1 changed, 0 no such user. */
	int (*user_set_password)(struct bl_store *s, int64_t id, const char *pass_hash,
	                         int64_t now);
	/* user_set_role - 1 changed, 0 no such user. Never takes the role admin
	 * from the last user who has it: -BL_ELASTADMIN (nothing changed;
	 * bl_store_error: "NAME is the last admin: make another user admin
	 * first"). The check and the change are one transaction, and the admin
	 * rows are locked first (PostgreSQL: FOR UPDATE), so two concurrent
	 * demotions of the last two admins cannot both pass. */
	int (*user_set_role)(struct bl_store *s, int64_t id, enum bl_role role);
	/* user_delete - the user and its sessions; 1 deleted, 0 no such user.
	 * Never deletes the last admin: -BL_ELASTADMIN as user_set_role. */
	int (*user_delete)(struct bl_store *s, int64_t id);

	/* session_create - a session of user @user_id keyed by @id_hash (hex
	 * SHA-256 of the cookie's value) with @csrf, created now, ending at
	 * @expires_at; sets the user's last_login_at = @now. -BL_ENOENT for no
	 * such user. */
	int (*session_create)(struct bl_store *s, const char *id_hash, int64_t user_id,
	                      const char *csrf, int64_t now, int64_t expires_at);
	/* session_get - the session keyed by @id_hash with its user, when it
	 * ends after @now: -1/0/1 (an ended one is 0, and deleted). */
	int (*session_get)(struct bl_store *s, const char *id_hash, int64_t now,
	                   struct bl_session *out);
	/* session_delete - drop one session (logout, rotation); 0 whether or not it existed. */
	int (*session_delete)(struct bl_store *s, const char *id_hash);

	/* token_create - insert @t (name, role; created_at now unless set) with
	 * @hash (hex SHA-256 of the secret); sets @t->id. -BL_EEXIST for a taken name. */
	int (*token_create)(struct bl_store *s, struct bl_api_token *t, const char *hash);
	/* token_get - by @hash: -1/0/1; sets last_used_at = @now when it was
	 * older than a minute (so a busy script does not write per request). */
	int (*token_get)(struct bl_store *s, const char *hash, int64_t now,
	                 struct bl_api_token *out);
	int (*token_each)(struct bl_store *s, bl_api_token_fn fn, void *arg); /* by name */
	/* token_delete - by name; 1 deleted, 0 no such token. */
	int (*token_delete)(struct bl_store *s, const char *name);

	/* audit_add - append @a (id and at: at = now unless set; target/detail cut). */
	int (*audit_add)(struct bl_store *s, const struct bl_audit *a);
	/* audit_each - newest first, only ids < @before_id (0: from the newest), at most
	 * @limit (0: all); strings borrowed for the call. */
	int (*audit_each)(struct bl_store *s, int64_t before_id, int64_t limit, bl_audit_fn fn,
	                  void *arg);

	/* list_update - set name, description, optin, visibility and (schema 6)
	 * breaking_digest of the list with @l->id (the slug never changes). 1
	 * changed, 0 no such list. */
	int (*list_update)(struct bl_store *s, const struct bl_list *l);
	/* counts - the maintained totals (struct bl_counts): O(1). list_counts
	 * reads maintained per-list counts too from schema 5 on. */
	int (*counts)(struct bl_store *s, struct bl_counts *out);
	/* growth - per day (UTC, day = time / 86400) from @first_day, @n_days
	 * of them: subscribers added (created) into @added[i] and erased into
	 * @removed[i]. Maintained per day: O(@n_days). */
	int (*growth)(struct bl_store *s, int64_t first_day, size_t n_days, int64_t *added,
	              int64_t *removed);
	/* subscriber_update - set name, attributes (compact JSON object),
	 * status and status_reason of subscriber @sub->id, updated_at = @now;
	 * a change of status appends a blocklist event (to blocklisted) with
	 * @ctx. 1 changed, 0 no such subscriber. -BL_EINVAL (nothing written)
	 * for an unknown status, or a name (over BL_NAME_MAX bytes), attributes
	 * (over BL_ATTRIBUTES_MAX) or status_reason (over BL_REASON_MAX) that is
	 * not valid UTF-8 or too long (bl_store_check_subscriber). */
	int (*subscriber_update)(struct bl_store *s, const struct bl_subscriber *sub,
	                         const struct bl_consent_ctx *ctx);

	/* post_page - posts of @kind, newest first, only ids < @before_id (0:
	 * from the newest), at most @limit (0: all): an index walk (kind, id)
	 * that never visits other kinds. Posts carry their body. */
	int (*post_page)(struct bl_store *s, enum bl_post_kind kind, int64_t before_id,
	                 int64_t limit, bl_post_fn fn, void *arg);
	/* post_update - a draft or scheduled post @p->id takes @p's subject,
	 * body, from_header and priority, and the @n_lists lists @list_ids (n
	 * 0: lists unchanged). 1 changed; 0 when the post is in another status
	 * or kind, or absent; -BL_ENOENT for a missing list; -BL_EINVAL for a
	 * bad priority. One transaction. */
	int (*post_update)(struct bl_store *s, const struct bl_post *p, const int64_t *list_ids,
	                   size_t n_lists);
	/* post_schedule - a draft or scheduled post (kind post) becomes
	 * scheduled at @at (seconds since the epoch), its hold (pause_reason)
	 * cleared; @at 0 makes it a draft again. 1 changed; 0 another status,
	 * kind, or absent. */
	int (*post_schedule)(struct bl_store *s, int64_t id, int64_t at);
	/*
	 * schedule_run - the scheduler's turn at @now: each post in status
	 * scheduled whose scheduled_at <= @now and which is not held
	 * (pause_reason "") is queued as post_queue does (@fn gets held 0 and
	 * its total) when it is at most @max_lateness seconds late; a later
	 * one is held instead: it stays scheduled with pause_reason "held:
	 * scheduled for TIME, N s late (max_schedule_lateness L s); send it or
	 * schedule it again" (TIME: scheduled_at in RFC 3339 UTC,
	 * "2023-11-14T22:13:20Z"; @fn gets held 1). Each post in its own
	 * transaction; a post another scheduler took first is skipped, so two
	 * schedulers never queue one post twice. @fn may be NULL.
	 */
	int (*schedule_run)(struct bl_store *s, int64_t now, int64_t max_lateness,
	                    bl_schedule_fn fn, void *arg);
	/* delivery_retry - rows of post @post_id in state failed go back to
	 * pending (next_try = @now, attempts kept, code/reply kept until the
	 * next result); a sent post that had such rows goes back to sending
	 * (finished_at cleared; without any it stays sent).
	 * Only for posts sending, paused or sent. Sets *@n (when not NULL) to
	 * the rows. 1 done (also with 0 rows); 0 the post is in another status
	 * or absent. One transaction. */
	int (*delivery_retry)(struct bl_store *s, int64_t post_id, int64_t now, int64_t *n);
	/* delivery_accepted_hist - accepted rows of post @post_id by
	 * updated_at in @n buckets of @bucket seconds from @from:
	 * out[i] = rows with from + i*bucket <= updated_at < from + (i+1)*bucket.
	 * A walk of the post's accepted index range. */
	int (*delivery_accepted_hist)(struct bl_store *s, int64_t post_id, int64_t from,
	                              int64_t bucket, size_t n, int64_t *out);

	/* job_create - insert @j (kind, params, actor, size; state queued,
	 * created_at now) with @len bytes of @input kept in the database until
	 * the job ends; sets @j->id. */
	int (*job_create)(struct bl_store *s, struct bl_job *j, const void *input, size_t len);
	/* job_get - by id: -1/0/1. */
	int (*job_get)(struct bl_store *s, int64_t id, struct bl_job *out);
	/* job_each - newest first, at most @limit (0: all). */
	int (*job_each)(struct bl_store *s, int64_t limit, bl_job_fn fn, void *arg);
	/* job_claim - the oldest queued job becomes running (started_at and
	 * heartbeat_at = @now, done 0); its input in *@input (malloc'd, *@len
	 * bytes). A lease: with @stale_before > 0, the oldest running job whose
	 * heartbeat_at < @stale_before (its runner died or hangs) is taken first,
	 * and starts over. Two runners never take one job (PostgreSQL: FOR
	 * UPDATE SKIP LOCKED). -1/0/1. */
	int (*job_claim)(struct bl_store *s, int64_t now, int64_t stale_before, struct bl_job *out,
	                 void **input, size_t *len);
	/* job_progress - a running job's done count, and its heartbeat_at = @now
	 * (the runner's lease: call it at least every few seconds, also when
	 * @done has not moved). Nothing for a job not running. */
	int (*job_progress)(struct bl_store *s, int64_t id, int64_t done, int64_t now);
	/* job_finish - the job becomes done (@error NULL) or failed (@error),
	 * with @report (compact JSON, NULL: {}), finished_at = @now; its input is
	 * dropped. */
	int (*job_finish)(struct bl_store *s, int64_t id, const char *report, const char *error,
	                  int64_t now);

	/* ---- feeds (schema 6, issue 6) ---- */
	/*
	 * feed_create - add feed @f (url, mode, every, breaking, backfill; the
	 * rest starts empty, next_poll_at = @f->created_at so the first poll is
	 * due at once) sending to the @n_lists lists @list_ids (at least one).
	 * Sets @f->id. -BL_EEXIST when a feed with that URL exists, -BL_ENOENT
	 * for a list id that does not exist, -BL_EINVAL for no list or every <=
	 * 0. One transaction; nothing written on error.
	 */
	int (*feed_create)(struct bl_store *s, struct bl_feed *f, const int64_t *list_ids,
	                   size_t n_lists);
	/* feed_get - by id: -1/0/1; @out malloc'd strings (bl_feed_clear). */
	int (*feed_get)(struct bl_store *s, int64_t id, struct bl_feed *out);
	/* feed_each - every feed by id; the feed passed is borrowed for the call. */
	int (*feed_each)(struct bl_store *s, bl_feed_fn fn, void *arg);
	/* feed_lists - the lists feed @feed_id posts to, by slug. */
	int (*feed_lists)(struct bl_store *s, int64_t feed_id, bl_list_fn fn, void *arg);
	/* feed_delete - remove feed @id and its seen-items record (its posts
	 * stay). 1 removed, 0 no such feed. */
	int (*feed_delete)(struct bl_store *s, int64_t id);
	/*
	 * feed_due - the ids of at most @max feeds whose next_poll_at <= @now,
	 * soonest first, into @ids; *@n gets the count.
	 */
	int (*feed_due)(struct bl_store *s, int64_t now, int64_t *ids, size_t max, size_t *n);
	/*
	 * feed_seen - for each of the @n hex keys @keys, @seen[i] = 1 when feed
	 * @feed_id has recorded that item, else 0 (so the poller sanitises only
	 * new items).
	 */
	int (*feed_seen)(struct bl_store *s, int64_t feed_id, size_t n, const char *const *keys,
	                 char *seen);
	/*
	 * feed_polled - record a poll that made no item: @error NULL for a
	 * success without new content (304, or nothing new: failures = 0,
	 * last_error cleared, ok_at = @now), else a failure (failures + 1,
	 * last_error = @error cut to BL_REASON_MAX bytes). polled_at = @now,
	 * next_poll_at = @next. The validators are untouched. 1 done, 0 no such feed.
	 */
	int (*feed_polled)(struct bl_store *s, int64_t feed_id, int64_t now, int64_t next,
	                   const char *error);
	/*
	 * feed_ingest - record a successful poll of feed @feed_id at @now, in
	 * one transaction: each of the @n entries (oldest first) not recorded
	 * yet is recorded, and becomes a post (kind post, format html, the
	 * feed's lists, priority breaking when the feed is, status scheduled at
	 * @now for mode send — the scheduler sends it — or draft for mode
	 * draft), except on the feed's first successful poll (ok_at NULL): then
	 * only the last `backfill` new entries (the newest) become posts, the
	 * others are only marked seen. An entry recorded meanwhile by another
	 * poller is skipped (never two posts for one item). Then etag,
	 * last_modified, title (@title; NULL keeps it), polled_at = ok_at =
	 * @now, failures = 0, last_error = '', items and posts counted,
	 * next_poll_at = @next. @out (may be NULL) says what was made. 1 done,
	 * 0 no such feed (nothing written), negative on error (nothing written).
	 */
	int (*feed_ingest)(struct bl_store *s, int64_t feed_id, int64_t now, int64_t next,
	                   const char *etag, const char *last_modified, const char *title,
	                   const struct bl_feed_ingest_item *entries, size_t n,
	                   struct bl_feed_ingest_result *out);
	/* ---- digests (schema 6) ---- */

	/*
	 * A digest's set for subscriber X, mode M, period [A, B): each post of
	 * kind post in status sending, paused or sent whose started_at is in
	 * [A, B), on a list X is confirmed on in mode M, for which X has no
	 * delivery row in a state other than suppressed (a breaking post X got
	 * at once is not repeated; a row suppressed because X left instant mode
	 * does not count), while X is active. Each post once.
	 */

	/* digest_last - *@period_end = the end of the latest digest of @mode, 0 when
	 * there is none. */
	int (*digest_last)(struct bl_store *s, enum bl_mode mode, int64_t *period_end);
	/*
	 * digest_create - in one transaction: a post of kind digest (subject
	 * @in->subject, priority normal, empty body, created_at = started_at =
	 * @in->now), its digests row, its lists (every list of a post in the
	 * period), and one pending delivery row (next_try @in->now) per active
	 * subscriber whose set (above) is not empty, by one INSERT ... SELECT
	 * (memory does not grow with the audience); the post is sending, total =
	 * their number. When every set is empty,
	 * no post is made: the period is recorded all the same (post_id NULL),
	 * so the next one starts at its end, and *@post_id and *@total are 0.
	 * *@post_id and *@total (either may be NULL) are set when made. Returns 1 made; 0 when a
	 * digest of this mode with this period_end exists (UNIQUE (mode, period_end): a second run,
	 * or another process, made it; nothing written); -BL_EINVAL for a mode other than daily or
	 * weekly, start >= end, or an empty subject.
	 */
	int (*digest_create)(struct bl_store *s, const struct bl_digest_spec *in, int64_t *post_id,
	                     int64_t *total);
	/* digest_get - the digest whose post is @post_id: -1/0/1. */
	int (*digest_get)(struct bl_store *s, int64_t post_id, struct bl_digest *out);
	/*
	 * digest_posts - the set (above) of subscriber @subscriber_id for
	 * digest @digest_post_id, now, by started_at then id, each post once
	 * with its lowest list in the digest's mode. The same set digest_create
	 * selected, as long as the subscriber changed nothing (the period is
	 * past); smaller after an unsubscribe, a switch of mode, a cancelled
	 * post. Nothing (0 calls) for no such digest.
	 */
	int (*digest_posts)(struct bl_store *s, int64_t digest_post_id, int64_t subscriber_id,
	                    bl_digest_item_fn fn, void *arg);
	/* ---- bounces and complaints (schema 7) ---- */

	/*
	 * bounce_record - record finding @ev at @now and apply policy @pol, in one transaction:
	 *  - (report_key, idx) seen before: outcome duplicate = 1, nothing changes;
	 *  - not attributed (subscriber_id 0): stored with its review reason, action "review";
	 *  - attributed: stored; the delivery (post_id, subscriber_id), when it exists, becomes
	 *    bounced (final hard, soft or block finding on an accepted row) or complained
	 *    (complaint; from accepted or bounced); then by class:
	 *    hard: when the posts with a final hard finding of the subscriber reach pol->hard_limit
	 *      (posts, not findings: one report naming an address many times, or sent again,
	 *      counts once), the
	 *      subscriber is blocklisted (status_reason "bounced", consent event blocklist with
	 *      source "bounce:SOURCE"): "disabled";
	 *    soft (final): when a finding concerns a probe post (kind probe) the subscriber is
	 *      blocklisted ("bounced": "disabled"); else when the posts with a final soft finding
	 * within pol->soft_window reach pol->soft_limit and no probe was made for the subscriber in
	 * that window, a probe post is made (kind probe, priority transactional, status sending,
	 * one pending delivery row): "probe"; else "counted"; complaint: every subscription
	 * unsubscribed (consent events unsubscribe, source "complaint:SOURCE") and the subscriber
	 * blocklisted ("complained"): "unsubscribed"; block, auto-reply, unknown, delay warnings:
	 * "recorded". A hard finding on a probe post disables as well. Blocklisting is what
	 * suppresses at claim time, so it takes effect mid-send. A blocklisted subscriber is not
	 * blocklisted again (action "recorded"; a complaint still unsubscribes what is left, and
	 * says "unsubscribed" when it left any list). An event whose (post_id, subscriber_id) names
	 *  no delivery row (a subscriber erased meanwhile, a post that does not exist, a token of
	 *  another database) is stored unattributed, for review, with the reason (for a missing
	 *  row: BL_BOUNCE_NO_DELIVERY). The hard count is of every final hard finding of the
	 * subscriber; the soft window is received_at > now - soft_window; a probe "in that window"
	 * is a probe delivery row created after now - soft_window. The diagnostic is cut to
	 * BL_REPLY_MAX bytes. Concurrent calls about one subscriber take turns (PostgreSQL: the
	 * subscriber row FOR UPDATE first; SQLite: BEGIN IMMEDIATE), so their counts add up. @out
	 * may be NULL. -BL_EINVAL (nothing written) for no event or policy, an empty report_key, a
	 *  negative idx or a bad class.
	 */
	int (*bounce_record)(struct bl_store *s, const struct bl_bounce_event *ev,
	                     const struct bl_bounce_policy *pol, int64_t now,
	                     struct bl_bounce_outcome *out);
	/* bounce_each - stored findings matching @f, newest (highest id) first. */
	int (*bounce_each)(struct bl_store *s, const struct bl_bounce_filter *f, bl_bounce_fn fn,
	                   void *arg);
	/* bounce_counts - post @post_id's attributed final findings (complaints: every one) by
	 * class, each subscriber counted once (an erased one's findings one each)
	 * per class, and its delivered and sent rows. All zero for no such post. */
	int (*bounce_counts)(struct bl_store *s, int64_t post_id, struct bl_bounce_counts *out);
	/* delivery_latest - the post of subscriber @subscriber_id's latest delivery accepted at
	 * or after @since (for webhook events that name only a recipient): -1/0/1 with
	 * *@post_id. */
	int (*delivery_latest)(struct bl_store *s, int64_t subscriber_id, int64_t since,
	                       int64_t *post_id);
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
 * bl_feed_key_repeated - for backends: 1 when entry @i of @e has the key
 * of an earlier entry (a feed naming one item twice), else 0. O(i).
 */
int bl_feed_key_repeated(const struct bl_feed_ingest_item *e, size_t i);

/*
 * bl_store_cut_utf8 - for backends: @text (NULL reads as "") cut to at most
 * @max bytes without splitting a UTF-8 sequence, in @buf (@max + 1 bytes),
 * or @text itself when it is short enough. Returns a pointer valid while
 * both are.
 */
const char *bl_store_cut_utf8(const char *text, size_t max, char *buf);

/* bl_store_cut_reply - bl_store_cut_utf8 of a relay reply to BL_REPLY_MAX bytes. */
const char *bl_store_cut_reply(const char *reply, char buf[BL_REPLY_MAX + 1]);

/* The subject of a bounce probe post (bounce_record makes them; the composer's templates
 * say the rest). */
/* bounce_record's review reason for an attributed event with no such delivery row. */
#define BL_BOUNCE_NO_DELIVERY "the token names no delivery (of this database)"

#define BL_PROBE_SUBJECT "Checking that our messages reach you"

/* bl_store_nz - for backends: @s, or "" for NULL. */
const char *bl_store_nz(const char *s);

/*
 * bl_store_check_bounce - for backends: the argument checks of bounce_record. -BL_EINVAL
 * (message on @s) for no event or policy, an empty report_key, a negative idx or a class
 * outside enum bl_bounce_class; else 0.
 */
int bl_store_check_bounce(struct bl_store *s, const struct bl_bounce_event *ev,
                          const struct bl_bounce_policy *pol);

/* bl_store_bounce_action - the static action string bounce_record's outcome names for a
 * stored action text (a duplicate's); "recorded" for anything else. */
const char *bl_store_bounce_action(const char *stored);

/* The strings of a struct bl_consent_ctx as consent events store them. */
struct bl_ctx_text {
	const char *ip;         /* "" for NULL */
	const char *user_agent; /* cut to BL_USER_AGENT_MAX bytes at a UTF-8 boundary */
	const char *source;     /* cut to BL_SOURCE_MAX bytes at a UTF-8 boundary */
	char ua_buf[BL_USER_AGENT_MAX + 1], source_buf[BL_SOURCE_MAX + 1];
};

/*
 * bl_store_ctx_text - for backends: fill @out from @ctx (NULL: all ""). The
 * pointers of @out point into @ctx's strings or @out itself: do not copy
 * @out, use it in place while @ctx lives.
 */
void bl_store_ctx_text(const struct bl_consent_ctx *ctx, struct bl_ctx_text *out);

/*
 * bl_store_check_signup - for backends: the argument checks of web_signup.
 * -BL_EINVAL (message on @s) for no address (NULL or "" email or
 * email_key), lists counted without an array, or a negative
 * confirm_interval; else 0.
 */
int bl_store_check_signup(struct bl_store *s, const struct bl_signup *in);

/*
 * bl_store_check_subscriber - for backends: the argument checks of
 * subscriber_update. -BL_EINVAL (message on @s) for an unknown status, or a
 * name, attributes or status_reason that is not valid UTF-8 or is over its
 * limit (BL_NAME_MAX, BL_ATTRIBUTES_MAX, BL_REASON_MAX bytes); else 0.
 */
int bl_store_check_subscriber(struct bl_store *s, const struct bl_subscriber *sub);

/*
 * bl_store_check_changes - for backends: the argument checks of
 * web_preferences. -BL_EINVAL (message on @s) for @n changes without an
 * array, a target status that is unconfirmed or out of range, a mode out of
 * range, or a list id below 1; else 0.
 */
int bl_store_check_changes(struct bl_store *s, const struct bl_subscription_change *changes,
                           size_t n);

/*
 * bl_store_check_exchange - for backends: the argument checks of
 * delivery_exchange. -BL_EINVAL (message on @s) for an empty @worker, @max
 * above 0 without @out or @n_out, a result with a state a result cannot
 * have (claimed, or out of range) or a deferral without next_try; else 0.
 */
int bl_store_check_exchange(struct bl_store *s, const char *worker,
                            const struct bl_delivery_result *results, size_t n_results, size_t max,
                            const struct bl_claimed *out, const size_t *n_out);

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
