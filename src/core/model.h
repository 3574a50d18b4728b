/*
 * bulletin's domain vocabulary (DESIGN.md): lists, subscribers,
 * subscriptions and consent events, as plain structs and enums with their
 * text names. The text names are what the database, the CSV/JSON exports
 * and the command line use; they never change once released.
 */
#ifndef BL_CORE_MODEL_H
#define BL_CORE_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum bl_optin { BL_OPTIN_DOUBLE, BL_OPTIN_SINGLE };
enum bl_visibility { BL_VISIBILITY_PUBLIC, BL_VISIBILITY_PRIVATE };
/* Subscriber status: blocklisted addresses are never mailed (bounced, complained, blocked). */
enum bl_subscriber_status { BL_SUBSCRIBER_ACTIVE, BL_SUBSCRIBER_BLOCKLISTED };
enum bl_sub_status { BL_SUB_UNCONFIRMED, BL_SUB_CONFIRMED, BL_SUB_UNSUBSCRIBED };
enum bl_mode { BL_MODE_INSTANT, BL_MODE_DAILY, BL_MODE_WEEKLY };
enum bl_consent_kind {
	BL_CONSENT_SIGNUP,      /* asked to subscribe (form, API, export's opt-in record) */
	BL_CONSENT_CONFIRM,     /* confirmed (double opt-in), or confirmation recorded on import */
	BL_CONSENT_UNSUBSCRIBE, /* left a list */
	BL_CONSENT_IMPORT,      /* subscription created by an import; source names the file */
	BL_CONSENT_ERASE,       /* personal data erased on request */
	BL_CONSENT_PREFERENCE,  /* delivery mode or name changed by the subscriber */
	BL_CONSENT_BLOCKLIST    /* address blocklisted (bounce, complaint, operator) */
};

/* Text names: "double"/"single", "public"/"private", "active"/"blocklisted",
 * "unconfirmed"/"confirmed"/"unsubscribed", "instant"/"daily"/"weekly",
 * "signup"/"confirm"/"unsubscribe"/"import"/"erase"/"preference"/"blocklist". */
const char *bl_optin_name(enum bl_optin v);
const char *bl_visibility_name(enum bl_visibility v);
const char *bl_subscriber_status_name(enum bl_subscriber_status v);
const char *bl_sub_status_name(enum bl_sub_status v);
const char *bl_mode_name(enum bl_mode v);
const char *bl_consent_kind_name(enum bl_consent_kind v);

/*
 * bl_*_parse - text name to value, case-sensitive. Return 0 and set *@out,
 * or -BL_EINVAL for an unknown name (*@out untouched).
 */
int bl_optin_parse(const char *s, enum bl_optin *out);
int bl_visibility_parse(const char *s, enum bl_visibility *out);
int bl_subscriber_status_parse(const char *s, enum bl_subscriber_status *out);
int bl_sub_status_parse(const char *s, enum bl_sub_status *out);
int bl_mode_parse(const char *s, enum bl_mode *out);
int bl_consent_kind_parse(const char *s, enum bl_consent_kind *out);

/* Limits on stored text, in bytes of UTF-8. */
#define BL_LIST_NAME_MAX        200
#define BL_LIST_DESCRIPTION_MAX 2000
#define BL_NAME_MAX             200   /* subscriber name */
#define BL_ATTRIBUTES_MAX       16384 /* subscriber attributes, compact JSON */
#define BL_SOURCE_MAX           300   /* consent event source */
#define BL_USER_AGENT_MAX       500
#define BL_REASON_MAX           200 /* a subscriber's status_reason (why blocklisted) */

/*
 * bl_text_problem - why @v (NUL-terminated) is not text a person may store:
 * NULL when it is at most @max bytes of valid UTF-8 without control
 * characters (C0 including TAB, CR and LF, and DEL); with @oneline (text
 * bound for a mail header: a subject, a sender) also without C1
 * (U+0080..U+009F) or the line and paragraph separators U+2028 and U+2029.
 * Otherwise a phrase to follow the field's name: "is too long", "is not
 * valid UTF-8", "holds a line break", "holds a control character". The
 * checks of `bulletin post create`, `bulletin list create`, the API and the
 * admin UI, in one place; static strings.
 */
const char *bl_text_problem(const char *v, size_t max, int oneline);

/* A list. Strings are owned by whoever filled the struct (see the filler's contract). */
struct bl_list {
	int64_t id;
	char *slug;
	char *name;
	char *description;
	enum bl_optin optin;
	enum bl_visibility visibility;
	int64_t created_at; /* seconds since the epoch */
	/* schema 6: 0 (the default, lists.breaking_digest = 1): a breaking post also goes at
	 * once to the list's daily and weekly subscribers; 1: they get it in their digest
	 * only. Inverted so that a zeroed struct means the default. */
	int breaking_digest_off;
};

/* Subscription counts of one list, by status. */
struct bl_list_counts {
	int64_t unconfirmed, confirmed, unsubscribed;
};

struct bl_subscriber {
	int64_t id;
	char *email;     /* local@domain with the domain as IDNA A-label: what SMTP gets */
	char *email_key; /* the uniqueness key: email lowercased */
	char *name;
	char *attributes; /* a JSON object, compact, keys sorted */
	enum bl_subscriber_status status;
	char *status_reason; /* why blocklisted ("bounced", "complained", ...), else "" */
	int64_t created_at, updated_at;
};

struct bl_subscription {
	int64_t subscriber_id, list_id;
	const char *list_slug; /* filled by listings that join lists */
	enum bl_sub_status status;
	enum bl_mode mode;
	int64_t created_at, updated_at;
};

struct bl_consent {
	int64_t id;
	int64_t subscriber_id; /* 0 once erased */
	int64_t list_id;       /* 0 when not about one list, or the list is gone */
	const char *list_slug; /* filled by listings that join lists; NULL otherwise */
	enum bl_consent_kind kind;
	int64_t at;             /* seconds since the epoch */
	const char *ip;         /* "" when unknown */
	const char *user_agent; /* "" when unknown */
	const char *source;     /* "cli", "import:FILE", "web:/subscribe", ... */
};

/* Post status (DESIGN.md): draft -> (scheduled) -> sending <-> paused -> sent | cancelled. */
enum bl_post_status {
	BL_POST_DRAFT,
	BL_POST_SCHEDULED,
	BL_POST_SENDING,
	BL_POST_PAUSED,
	BL_POST_SENT,
	BL_POST_CANCELLED
};
/* Priority lanes, highest first: transactional mail, breaking posts, normal posts. */
enum bl_priority {
	BL_PRIORITY_NORMAL = 0,
	BL_PRIORITY_BREAKING = 1,
	BL_PRIORITY_TRANSACTIONAL = 2
};
/* Delivery states (DESIGN.md §Delivery semantics). Terminal: accepted, failed, suppressed,
 * bounced, complained (the last two from feedback on an accepted row, schema 7). */
enum bl_delivery_state {
	BL_DELIVERY_PENDING,
	BL_DELIVERY_CLAIMED,
	BL_DELIVERY_ACCEPTED,
	BL_DELIVERY_DEFERRED,
	BL_DELIVERY_FAILED,
	BL_DELIVERY_SUPPRESSED,
	BL_DELIVERY_BOUNCED,   /* accepted, then a bounce report came back (issue 7) */
	BL_DELIVERY_COMPLAINED /* accepted (or bounced), then a spam complaint came back */
};
#define BL_DELIVERY_NSTATES 8

/* "draft"/"scheduled"/"sending"/"paused"/"sent"/"cancelled";
 * "normal"/"breaking"/"transactional";
 * "pending"/"claimed"/"accepted"/"deferred"/"failed"/"suppressed"/"bounced"/"complained". */
const char *bl_post_status_name(enum bl_post_status v);
const char *bl_priority_name(enum bl_priority v);
const char *bl_delivery_state_name(enum bl_delivery_state v);
int bl_post_status_parse(const char *s, enum bl_post_status *out);
int bl_delivery_state_parse(const char *s, enum bl_delivery_state *out);

#define BL_SUBJECT_MAX 998       /* bytes of a post subject (UTF-8) */
#define BL_BODY_MAX    (1 << 20) /* bytes of a post's Markdown body */
#define BL_REPLY_MAX   500       /* bytes of a relay reply kept per delivery */

/* What a post row is: a publisher's post, or a system message through the same ledger. */
enum bl_post_kind {
	BL_POST_KIND_POST,    /* a publisher's post (archive, `post ls`) */
	BL_POST_KIND_CONFIRM, /* a double opt-in confirmation mail (one subscriber) */
	BL_POST_KIND_DIGEST,  /* a daily or weekly digest (issue 6; store.h digest_create) */
	BL_POST_KIND_PROBE /* a bounce probe to one subscriber (issue 7; store.h bounce_record) */
};
/* "post"/"confirm"/"digest"/"probe" */
const char *bl_post_kind_name(enum bl_post_kind v);
int bl_post_kind_parse(const char *s, enum bl_post_kind *out);

/* What a post's body is (schema 6, posts.format): a publisher's Markdown with Mustache tags,
 * rendered per subscriber; or HTML already sanitised (src/feed/sanitize.h, a feed item's
 * content), put into the layout as it is and never a template. */
enum bl_post_format { BL_POST_FORMAT_MARKDOWN, BL_POST_FORMAT_HTML };
/* "markdown"/"html" */
const char *bl_post_format_name(enum bl_post_format v);
int bl_post_format_parse(const char *s, enum bl_post_format *out);

struct bl_post {
	int64_t id;
	enum bl_post_kind kind;
	enum bl_post_format format; /* of the body */
	char *subject;              /* UTF-8, no CR/LF/NUL */
	char *body;                 /* Markdown + Mustache, or sanitised HTML (format) */
	char *from_header;          /* "Name <addr>" or "addr"; "" = the config's `from` */
	enum bl_priority priority;
	enum bl_post_status status;
	char *pause_reason; /* why paused ("" when not) */
	int auto_paused;    /* paused by the engine (relay fault): resumes by itself */
	int64_t created_at, scheduled_at, started_at, finished_at; /* 0 = not yet */
	int64_t total;    /* delivery rows created by `post send` */
	int64_t in_doubt; /* claims found expired after a crash and queued again */
};

/* What a feed's new items become: posts that go out at once, or drafts for a person. */
enum bl_feed_mode { BL_FEED_SEND, BL_FEED_DRAFT };
/* "send"/"draft" */
const char *bl_feed_mode_name(enum bl_feed_mode v);
int bl_feed_mode_parse(const char *s, enum bl_feed_mode *out);

/* An RSS/Atom feed polled for new items (issue 6; sql/sqlite/006_feeds.sql). */
struct bl_feed {
	int64_t id;
	char *url;   /* http(s) URL as given */
	char *title; /* the channel's title at the last successful poll, "" before */
	enum bl_feed_mode mode;
	int64_t every;              /* seconds between polls */
	int breaking;               /* its posts are breaking (priority 1) */
	int64_t backfill;           /* items of the first poll that become posts */
	char *etag, *last_modified; /* validators of the last 200 answer, "" */
	int64_t next_poll_at;       /* seconds since the epoch */
	int64_t polled_at, ok_at;   /* last attempt, last success; 0 = never */
	int64_t failures;           /* consecutive failed polls */
	char *last_error;           /* "" after a success */
	int64_t items, posts;       /* items seen, posts made, over its life */
	int64_t created_at;
};
/* bl_feed_clear - free the strings of a feed filled by the store; NULL-safe. */
void bl_feed_clear(struct bl_feed *f);

/* What a bounce or complaint finding means for the subscriber (issue 7; src/bounce/bounce.h
 * classifies, src/bounce/policy.h acts). */
enum bl_bounce_class {
	BL_BOUNCE_HARD,      /* the address does not exist / will never work (5.1.1, 5.1.2, ...) */
	BL_BOUNCE_SOFT,      /* temporary or mailbox-side (4.x.x, mailbox full, expired, ...) */
	BL_BOUNCE_BLOCK,     /* refused by policy (5.7.x, spam filter, reputation, auth):
	                        not the address's fault, never counted against the subscriber */
	BL_BOUNCE_COMPLAINT, /* a spam complaint (ARF abuse/fraud/virus/other, provider FBL) */
	BL_BOUNCE_AUTOREPLY, /* an RFC 3834 auto-reply or vacation notice: ignored */
	BL_BOUNCE_UNKNOWN    /* a report we could not read a failure from */
};
#define BL_BOUNCE_NCLASSES 6
/* "hard"/"soft"/"block"/"complaint"/"auto-reply"/"unknown" */
const char *bl_bounce_class_name(enum bl_bounce_class v);
int bl_bounce_class_parse(const char *s, enum bl_bounce_class *out);

/* Delivery counts of one post, by state, plus the in-doubt count. */
struct bl_delivery_counts {
	int64_t n[BL_DELIVERY_NSTATES];
	int64_t in_doubt;
};

/* bl_list_clear / bl_subscriber_clear - free the strings of a struct filled by the store;
 * NULL-safe. */
void bl_list_clear(struct bl_list *l);
/* bl_list_copy - @dst = @src with its own copies of the strings (free with bl_list_clear). */
void bl_list_copy(struct bl_list *dst, const struct bl_list *src);
void bl_subscriber_clear(struct bl_subscriber *s);
/* bl_subscriber_copy - @dst = @src with its own copies of the strings (free with
 * bl_subscriber_clear). */
void bl_subscriber_copy(struct bl_subscriber *dst, const struct bl_subscriber *src);
/* bl_post_clear - free the strings of a post filled by the store; NULL-safe. */
void bl_post_clear(struct bl_post *p);

/* Who may do what in the admin UI and the API (issue 5): a viewer reads, an
 * editor also writes lists, subscribers and posts, an admin also manages
 * users, API tokens and reads the audit log. Ordered: a higher role can do
 * everything a lower one can. */
enum bl_role { BL_ROLE_VIEWER = 0, BL_ROLE_EDITOR = 1, BL_ROLE_ADMIN = 2 };
/* "viewer"/"editor"/"admin" */
const char *bl_role_name(enum bl_role v);
int bl_role_parse(const char *s, enum bl_role *out);

#define BL_USER_NAME_MAX  64  /* bytes of a user or API token name: [A-Za-z0-9._@-] */
#define BL_AUDIT_TEXT_MAX 500 /* bytes of an audit entry's target or detail */

/* bl_user_name_valid - 1 when @s is 1..BL_USER_NAME_MAX bytes of [A-Za-z0-9._@-] (a user's
 * or an API token's name), else 0 (also for NULL). */
int bl_user_name_valid(const char *s);

#endif
