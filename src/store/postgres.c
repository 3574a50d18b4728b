/*
 * The PostgreSQL backend of the store (store.h): the scale-out database that
 * several `bulletin send` processes share. The only file that includes libpq.
 *
 * Every query is parameterised (PQexecParams, text parameters; the delivery
 * engine's per-turn statements are prepared once per connection); SQL text is
 * built only from the constant fragments below. Times cross the wire as int64
 * seconds and are converted in SQL (to_timestamp / extract(epoch)); attributes
 * are jsonb and handed out as jsonb's text form. An operation of several
 * statements runs in its own transaction, or in a savepoint inside the
 * caller's, so it is atomic either way. The import's batch operations are
 * set-based (text arrays + unnest): a batch of thousands of rows costs a
 * handful of round trips. Walks stream in pages of PAGE_ROWS rows.
 */
#include "store/store.h"

#include "core/crypto.h"
#include "util/buf.h"
#include "util/embedded.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The migrations, embedded by tools/embed.c from sql/postgres/NNN_name.sql. */
extern const struct bl_embedded bl_postgres_migrations[];

/* Rows per page of a streaming walk (subscriber_each, export_each); a literal, see XSTR. */
#define PAGE_ROWS 1000
#define STR(x)    #x
#define XSTR(x)   STR(x)

/* Session advisory lock key held by migrate: the bytes of "bulletin". */
#define MIGRATE_LOCK_KEY "7094696000806480238"

/* Room for a decimal int64 and its NUL. */
#define NUM_MAX 24

/* The statements prepared on each connection (see run_prepared). */
enum pstmt {
	PS_X_RESULTS,
	PS_X_POSTS,
	PS_X_CLAIM,
	PS_X_CLAIM_CONFIRM,
	PS_X_FINISH,
	PS_X_CLAIM_DIGEST,
	PS_X_CLAIM_PROBE,
	PS_COUNT
};

/* Where an engine's walk of a post's pending rows starts: after (next_try, id). */
struct claim_hint {
	int64_t post_id, next_try, id;
};
#define HINTS 8

struct pg_store {
	struct bl_store base; /* first member: struct bl_store * casts to this */
	PGconn *conn;
	unsigned char prepared[PS_COUNT]; /* prepared on this connection */
	/*
	 * Per post being sent, the last pending row this handle claimed (or
	 * suppressed) in a committed turn. Pending rows before it were taken,
	 * or held by another engine at the time; a row that becomes pending
	 * again gets next_try = now, which puts it after. Only a claim that
	 * another engine rolled back can stay behind, and the walk from the
	 * start that follows a short walk finds it.
	 */
	struct claim_hint hint[HINTS];
	unsigned next_hint; /* the slot the next new post takes */
};

static struct pg_store *pg(struct bl_store *s)
{
	return (struct pg_store *)s;
}

/* SQL fragments shared by the queries. */
// clang-format off
#define EPOCH(x) "extract(epoch from " x ")::bigint"
#define SUBSCRIBER_COLS \
	"s.id, s.email, s.email_key, s.name, s.attributes::text, s.status, s.status_reason, " \
	EPOCH("s.created_at") ", " EPOCH("s.updated_at")
#define SUBSCRIBER_NCOLS 9
#define LIST_COLS \
	"l.id, l.slug, l.name, l.description, l.optin, l.visibility, " EPOCH("l.created_at") \
	", l.breaking_digest"
/* SQL: subscription x may get post $1 at once: instant mode, or (schema 6) any mode when the
 * post is breaking and x's list sends breaking posts to its digest subscribers. */
#define TAKES_AT_ONCE \
	"(x.mode = 'instant' OR ((SELECT p1.priority FROM posts p1 WHERE p1.id = $1::bigint) = 1 " \
	"AND (SELECT l1.breaking_digest FROM lists l1 WHERE l1.id = x.list_id)))"
/* SQL (schema 6): the posts of digest period [A, B) (seconds) of mode M for subscription x
 * (store.h, "A digest's set"): from posts p joined to post_lists pl and subscriptions x. */
#define DIGEST_SET(a, b, m) \
	"p.kind = 'post' AND p.started_at >= to_timestamp(" a ") " \
	"AND p.started_at < to_timestamp(" b ") AND p.status IN ('sending', 'paused', 'sent') " \
	"AND x.list_id = pl.list_id AND x.status = 'confirmed' AND x.mode = " m " " \
	"AND NOT EXISTS (SELECT 1 FROM deliveries d0 WHERE d0.post_id = p.id " \
	"AND d0.subscriber_id = x.subscriber_id AND d0.state <> 'suppressed')"
#define SUBSCRIPTION_COLS \
	"u.subscriber_id, u.list_id, l.slug, u.status, u.mode, " \
	EPOCH("u.created_at") ", " EPOCH("u.updated_at")
#define SUBSCRIPTION_FROM "subscriptions u JOIN lists l ON l.id = u.list_id"
#define CONSENT_COLS \
	"e.id, e.subscriber_id, e.list_id, l.slug, e.kind, " EPOCH("e.at") ", " \
	"e.ip, e.user_agent, e.source"
#define CONSENT_FROM "consent_events e LEFT JOIN lists l ON l.id = e.list_id"
// clang-format on

/* ---- errors and queries ---------------------------------------------------------------- */

/* libpq prints NOTICEs on stderr by default ("relation already exists, skipping"); drop them. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Length of @s without trailing newlines and spaces (libpq messages end in "\n"). */
static int trimmed_len(const char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	return (int)n;
}

/*
 * Set the store error to "@what: <PostgreSQL's message>" from @res, or from
 * the connection when @res says nothing (connection lost). Returns -BL_ESTORE.
 */
static int fail(struct pg_store *p, const PGresult *res, const char *what)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	if (!msg)
		msg = PQerrorMessage(p->conn);
	if (detail)
		return bl_store_set_error(&p->base, BL_ESTORE, "%s: %.*s (%.*s)", what,
		                          trimmed_len(msg), msg, trimmed_len(detail), detail);
	return bl_store_set_error(&p->base, BL_ESTORE, "%s: %.*s", what, trimmed_len(msg), msg);
}

/*
 * run - execute @sql with @n text parameters (a NULL entry is SQL NULL).
 * Returns the result (the caller PQclear()s it) when the statement succeeded,
 * else NULL with the store error set from @what and PostgreSQL's message.
 */
/*
 * The server went away (a restart, a failover): reconnect, so that a
 * long-lived handle (serve's HTTP workers and engine) works again without a
 * restart of bulletin. Returns 1 when the connection is usable again after a
 * reset, 0 when it was not broken or cannot be revived now.
 */
static int revive(struct pg_store *p)
{
	if (PQstatus(p->conn) != CONNECTION_BAD)
		return 0;
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK || PQsetClientEncoding(p->conn, "UTF8") != 0)
		return 0;
	memset(p->prepared, 0, sizeof(p->prepared)); /* a new session has none */
	bl_warn("the connection to PostgreSQL was lost; reconnected");
	return 1;
}

/*
 * run_bin - run() with the parameters' @lengths and @formats (1: binary,
 * as PQexecParams takes them; NULL: all text) and the result in
 * @result_format (1: binary).
 */
static PGresult *run_bin(struct pg_store *p, const char *what, const char *sql, int n,
                         const char *const *params, const int *lengths, const int *formats,
                         int result_format)
{
	revive(p);
	/* Outside a transaction a statement that found the connection dead is simply run
	 * again on a new one; inside one, the transaction is gone and the error stands. */
	int idle = PQtransactionStatus(p->conn) == PQTRANS_IDLE;
	PGresult *res =
	    PQexecParams(p->conn, sql, n, NULL, params, lengths, formats, result_format);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && idle && revive(p)) {
		PQclear(res);
		res = PQexecParams(p->conn, sql, n, NULL, params, lengths, formats, result_format);
		st = PQresultStatus(res);
	}
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	fail(p, res, what);
	PQclear(res);
	return NULL;
}

static PGresult *run(struct pg_store *p, const char *what, const char *sql, int n,
                     const char *const *params)
{
	return run_bin(p, what, sql, n, params, NULL, NULL, 0);
}

/* exec - run() for statements whose result is not needed: 0 or -BL_ESTORE. */
static int exec(struct pg_store *p, const char *what, const char *sql, int n,
                const char *const *params)
{
	PGresult *res = run(p, what, sql, n, params);
	if (!res)
		return -BL_ESTORE;
	PQclear(res);
	return 0;
}

/* exec_count - exec() that also returns the number of rows the statement touched. */
static int exec_count(struct pg_store *p, const char *what, const char *sql, int n,
                      const char *const *params, long long *count)
{
	PGresult *res = run(p, what, sql, n, params);
	if (!res)
		return -BL_ESTORE;
	*count = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* Run cleanup SQL (ROLLBACK, CLOSE) after a failure, keeping the first error message. */
static void quiet(struct pg_store *p, const char *sql)
{
	PQclear(PQexec(p->conn, sql));
}

/* num - @v in decimal in @buf; returns @buf. */
static const char *num(char buf[NUM_MAX], int64_t v)
{
	snprintf(buf, NUM_MAX, "%" PRId64, v);
	return buf;
}

/* id_param - num() for an id where 0 means none: NULL (SQL NULL) for 0. */
static const char *id_param(char buf[NUM_MAX], int64_t id)
{
	return id ? num(buf, id) : NULL;
}

/* nz - @s, or "" for NULL. */
static const char *nz(const char *s)
{
	return s ? s : "";
}

/* ---- prepared statements (the delivery engine's hot path) -------------------------------- */

/*
 * The statements the engine runs on every turn are prepared once per
 * connection (named bl_<index>), so each turn skips parsing and planning.
 */

// clang-format off
/* SQL: the post of delivery row d is cancelled / result r defers or releases a row of it. */
#define PG_CANCELLED "p.status = 'cancelled'"
#define PG_ENDS "(r.state IN ('pending', 'deferred') AND " PG_CANCELLED ")"
/* SQL: post $1 is (still) in status sending: a pause committed since the list of posts was read
 * stops the claim. */
#define STILL_SENDING "EXISTS (SELECT 1 FROM posts WHERE id = $1::bigint AND status = 'sending')"
/*
 * The claim of PS_X_CLAIM (see there) with @list: SQL for the list a
 * subscriber d.subscriber_id takes the post on (NULL: none), and @none: the
 * reason a row without one is suppressed, as an SQL string literal.
 */
#define CLAIM_SQL(list, none) \
	"WITH pend AS (SELECT id, next_try, 'p' AS src FROM deliveries " \
	"WHERE post_id = $1::bigint AND state = 'pending' " \
	"AND (next_try, id) > (to_timestamp($6::bigint), $7::bigint) AND " STILL_SENDING " " \
	"ORDER BY next_try, id LIMIT $3::integer FOR UPDATE SKIP LOCKED), " \
	"due AS (SELECT id, next_try, 'd' AS src FROM deliveries " \
	"WHERE post_id = $1::bigint AND state = 'deferred' AND next_try <= to_timestamp($2::bigint) " \
	"AND " STILL_SENDING " " \
	"ORDER BY next_try, id LIMIT $3::integer FOR UPDATE SKIP LOCKED), " \
	"k AS (SELECT id, next_try, src FROM (SELECT * FROM pend UNION ALL SELECT * FROM due) u " \
	"ORDER BY next_try, id LIMIT $3::integer), " \
	"c AS MATERIALIZED (SELECT d.id, k.src, s.email, s.name, s.attributes, " \
	list " AS list_id, " \
	"CASE WHEN s.id IS NULL THEN 'subscriber erased' " \
	"WHEN s.status <> 'active' THEN 'subscriber blocklisted' || " \
	"CASE WHEN s.status_reason <> '' THEN ': ' || s.status_reason ELSE '' END END AS why " \
	"FROM k JOIN deliveries d ON d.id = k.id LEFT JOIN subscribers s ON s.id = d.subscriber_id), " \
	"cc AS (SELECT c.*, coalesce(why, CASE WHEN list_id IS NULL THEN " none " END) AS reason " \
	"FROM c), " \
	"w AS (UPDATE deliveries d SET " \
	"state = CASE WHEN cc.reason IS NULL THEN 'claimed' ELSE 'suppressed' END, " \
	"reply = coalesce(cc.reason, d.reply), " \
	"worker = CASE WHEN cc.reason IS NULL THEN $4 END, " \
	"lease_until = CASE WHEN cc.reason IS NULL THEN to_timestamp($5::bigint) END, " \
	"attempts = d.attempts + CASE WHEN cc.reason IS NULL THEN 1 ELSE 0 END, " \
	"first_try_at = CASE WHEN cc.reason IS NULL " \
	"THEN coalesce(d.first_try_at, to_timestamp($2::bigint)) ELSE d.first_try_at END, " \
	"updated_at = to_timestamp($2::bigint) " \
	"FROM cc WHERE d.id = cc.id " \
	"RETURNING d.id, d.subscriber_id, cc.list_id, d.attempts, " \
	EPOCH("d.first_try_at") " AS first_try, d.in_doubt, cc.email, cc.name, " \
	"cc.attributes::text AS attributes, cc.reason, cc.src, " \
	EPOCH("d.next_try") " AS next_at, d.next_try) " \
	"SELECT id, subscriber_id, list_id, attempts, first_try, in_doubt, email, name, " \
	"attributes, reason, src, next_at FROM w ORDER BY next_try, id"
static const char *const pstmt_sql[PS_COUNT] = {
	/*
	 * $1..$7: the results as arrays; $8 worker; $9 now. A deferral or a
	 * release on a cancelled post ends the row as suppressed instead. A
	 * release (state pending) gives the claim back: attempts goes down by
	 * one, next_try becomes now and the row keeps its earlier reply.
	 */
	[PS_X_RESULTS] =
	"UPDATE deliveries d SET "
	"state = CASE WHEN " PG_ENDS " THEN 'suppressed' ELSE r.state END, "
	"code = CASE WHEN r.state = 'pending' THEN d.code ELSE r.code END, "
	"reply = CASE WHEN " PG_ENDS " THEN 'post cancelled' "
	"WHEN r.state = 'pending' THEN d.reply ELSE r.reply END, "
	"queue_id = CASE WHEN r.state = 'pending' THEN d.queue_id ELSE r.queue_id END, "
	"relay = CASE WHEN r.state = 'pending' THEN d.relay ELSE r.relay END, "
	"next_try = CASE WHEN r.state = 'deferred' THEN to_timestamp(r.next_try) "
	"WHEN r.state = 'pending' THEN to_timestamp($9::bigint) ELSE d.next_try END, "
	"attempts = CASE WHEN r.state = 'pending' THEN greatest(d.attempts - 1, 0) "
	"ELSE d.attempts END, "
	"first_try_at = CASE WHEN r.state = 'pending' AND d.attempts <= 1 THEN NULL "
	"ELSE d.first_try_at END, "
	"worker = NULL, lease_until = NULL, updated_at = to_timestamp($9::bigint) "
	"FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::text[], "
	"$6::text[], $7::bigint[]) AS r(id, state, code, reply, queue_id, relay, next_try), "
	"posts p "
	"WHERE d.id = r.id AND p.id = d.post_id AND d.state = 'claimed' AND d.worker = $8 "
	"RETURNING d.id",
	[PS_X_POSTS] = "SELECT id, kind FROM posts WHERE status = 'sending' ORDER BY priority DESC, id",
	/*
	 * Claim the next $3 due rows of post $1 for worker $4 until $5, at time
	 * $2: the first $3 pending rows after position ($6, $7) in (next_try,
	 * id) order and the first $3 deferred rows due, each a locking walk of
	 * deliveries_queue that skips rows other engines hold, merged in
	 * (next_try, id) order. Rows whose subscriber was erased, is
	 * blocklisted or is confirmed on none of the post's lists become
	 * suppressed instead; they come back with their reason so that the
	 * caller can tell how many rows it went through. src says where a row
	 * came from ('p' pending, 'd' deferred), next_at its position.
	 *
	 * The position: every update leaves a dead entry in deliveries_queue
	 * until VACUUM, so the pending rows of a post being sent sit behind a
	 * growing run of dead entries. An engine starts its walk after the last
	 * pending row it took (see struct pg_store, hint); it walks from the
	 * start only when that comes up short.
	 */
	[PS_X_CLAIM] = CLAIM_SQL(
	"(SELECT min(pl.list_id) FROM post_lists pl JOIN subscriptions x "
	"ON x.list_id = pl.list_id AND x.subscriber_id = d.subscriber_id "
	"AND x.status = 'confirmed' AND " TAKES_AT_ONCE " WHERE pl.post_id = $1::bigint)",
	"'subscriber no longer confirmed in instant mode on the post''s lists'"),
	/*
	 * The same for a confirmation post: a row goes out while its subscriber
	 * is still unconfirmed (any mode) on one of the post's lists, the
	 * lowest of which names it.
	 */
	[PS_X_CLAIM_CONFIRM] = CLAIM_SQL(
	"(SELECT min(pl.list_id) FROM post_lists pl JOIN subscriptions x "
	"ON x.list_id = pl.list_id AND x.subscriber_id = d.subscriber_id "
	"AND x.status = 'unconfirmed' WHERE pl.post_id = $1::bigint)",
	"'nothing left to confirm'"),
	/*
	 * The same for a digest (schema 6): the lowest of its lists the
	 * subscriber is confirmed on in the digest's mode (whether anything is
	 * left in it is the composer's question).
	 */
	[PS_X_CLAIM_DIGEST] = CLAIM_SQL(
	"(SELECT min(pl.list_id) FROM post_lists pl JOIN subscriptions x "
	"ON x.list_id = pl.list_id AND x.subscriber_id = d.subscriber_id "
	"AND x.status = 'confirmed' AND x.mode = (SELECT g.mode FROM digests g "
	"WHERE g.post_id = $1::bigint) WHERE pl.post_id = $1::bigint)",
	"'subscriber no longer takes this digest''s mode on any of its lists'"),
	/*
	 * The same for a bounce probe (schema 7): it goes out while its
	 * subscriber is active (not blocklisted, not erased), whatever their
	 * subscriptions; the lowest list they are confirmed on names it (0: none).
	 */
	[PS_X_CLAIM_PROBE] = CLAIM_SQL(
	"coalesce((SELECT min(x.list_id) FROM subscriptions x "
	"WHERE x.subscriber_id = d.subscriber_id AND x.status = 'confirmed'), 0)",
	"NULL"),
	/*
	 * Posts in status sending with no row left to send become sent, but
	 * not those in $2 (the posts this turn claimed rows of: not finished).
	 * A post another transaction holds (an engine finishing it, a pause)
	 * is left for a later turn rather than waited for.
	 */
	[PS_X_FINISH] =
	"UPDATE posts SET status = 'sent', finished_at = to_timestamp($1::bigint) "
	"WHERE id IN (SELECT p.id FROM posts p WHERE p.status = 'sending' "
	"AND p.id <> ALL ($2::bigint[]) AND NOT EXISTS "
	"(SELECT 1 FROM deliveries d WHERE d.post_id = p.id "
	"AND d.state IN ('pending', 'claimed', 'deferred')) FOR UPDATE SKIP LOCKED)",
};
// clang-format on

/* run() for prepared statement @id, preparing it on first use on this connection. */
static PGresult *run_prepared(struct pg_store *p, const char *what, enum pstmt id, int n,
                              const char *const *params)
{
	char name[16];
	snprintf(name, sizeof(name), "bl_%d", (int)id);
	revive(p);
	if (!p->prepared[id]) {
		PGresult *res = PQprepare(p->conn, name, pstmt_sql[id], n, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fail(p, res, what);
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		p->prepared[id] = 1;
	}
	PGresult *res = PQexecPrepared(p->conn, name, n, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	fail(p, res, what);
	PQclear(res);
	return NULL;
}

/* ---- reading rows ------------------------------------------------------------------------ */

static int64_t get_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* A text column: borrowed from @r (valid until PQclear) or, with @copy, malloc'd. */
static char *get_str(const PGresult *r, int row, int col, int copy)
{
	char *v = PQgetvalue(r, row, col); /* "" for NULL */
	return copy ? bl_xstrdup(v) : v;
}

/* A nullable text column, borrowed: NULL for SQL NULL. */
static const char *get_opt(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* The CHECK constraints keep these columns to known names; anything else is a corrupt database. */
static int bad_value(struct pg_store *p, const char *column, const char *v)
{
	return bl_store_set_error(&p->base, BL_ESTORE, "unexpected %s \"%s\" in the database",
	                          column, v);
}

/* Fill @out from SUBSCRIBER_COLS starting at column @c; strings borrowed or (@copy) malloc'd. */
static int read_subscriber(struct pg_store *p, const PGresult *r, int row, int c, int copy,
                           struct bl_subscriber *out)
{
	struct bl_subscriber s = {0};
	const char *v = PQgetvalue(r, row, c + 5);
	if (bl_subscriber_status_parse(v, &s.status))
		return bad_value(p, "subscriber status", v);
	s.id = get_i64(r, row, c);
	s.email = get_str(r, row, c + 1, copy);
	s.email_key = get_str(r, row, c + 2, copy);
	s.name = get_str(r, row, c + 3, copy);
	s.attributes = get_str(r, row, c + 4, copy);
	s.status_reason = get_str(r, row, c + 6, copy);
	s.created_at = get_i64(r, row, c + 7);
	s.updated_at = get_i64(r, row, c + 8);
	*out = s;
	return 0;
}

/* Fill @out from LIST_COLS; strings borrowed or (@copy) malloc'd. */
static int read_list(struct pg_store *p, const PGresult *r, int row, int copy, struct bl_list *out)
{
	struct bl_list l = {0};
	const char *optin = PQgetvalue(r, row, 4), *visibility = PQgetvalue(r, row, 5);
	if (bl_optin_parse(optin, &l.optin))
		return bad_value(p, "list opt-in", optin);
	if (bl_visibility_parse(visibility, &l.visibility))
		return bad_value(p, "list visibility", visibility);
	l.id = get_i64(r, row, 0);
	l.slug = get_str(r, row, 1, copy);
	l.name = get_str(r, row, 2, copy);
	l.description = get_str(r, row, 3, copy);
	l.created_at = get_i64(r, row, 6);
	l.breaking_digest_off = strcmp(PQgetvalue(r, row, 7), "t") != 0;
	*out = l;
	return 0;
}

/* Fill @out from SUBSCRIPTION_COLS; strings borrowed from @r. */
static int read_subscription(struct pg_store *p, const PGresult *r, int row,
                             struct bl_subscription *out)
{
	struct bl_subscription u = {0};
	const char *status = PQgetvalue(r, row, 3), *mode = PQgetvalue(r, row, 4);
	if (bl_sub_status_parse(status, &u.status))
		return bad_value(p, "subscription status", status);
	if (bl_mode_parse(mode, &u.mode))
		return bad_value(p, "delivery mode", mode);
	u.subscriber_id = get_i64(r, row, 0);
	u.list_id = get_i64(r, row, 1);
	u.list_slug = get_str(r, row, 2, 0);
	u.created_at = get_i64(r, row, 5);
	u.updated_at = get_i64(r, row, 6);
	*out = u;
	return 0;
}

/* Fill @out from CONSENT_COLS; strings borrowed from @r. */
static int read_consent(struct pg_store *p, const PGresult *r, int row, struct bl_consent *out)
{
	struct bl_consent e = {0};
	const char *kind = PQgetvalue(r, row, 4);
	if (bl_consent_kind_parse(kind, &e.kind))
		return bad_value(p, "consent event kind", kind);
	e.id = get_i64(r, row, 0);
	e.subscriber_id = get_i64(r, row, 1);
	e.list_id = get_i64(r, row, 2);
	e.list_slug = get_opt(r, row, 3);
	e.at = get_i64(r, row, 5);
	e.ip = get_str(r, row, 6, 0);
	e.user_agent = get_str(r, row, 7, 0);
	e.source = get_str(r, row, 8, 0);
	*out = e;
	return 0;
}

/* ---- PostgreSQL array literals (parameters of the batch statements) ----------------------- */

/* Array literals may hold a whole batch of attributes (16 KiB each at most). */
#define ARRAY_MAX ((size_t)1 << 30)

static void array_start(struct bl_buf *b)
{
	bl_buf_reset(b);
	bl_buf_addc(b, '{');
}

static void array_sep(struct bl_buf *b)
{
	if (b->len > 1)
		bl_buf_addc(b, ',');
}

/* Append @v as a quoted element (" and \ escaped), or NULL. */
static void array_str(struct bl_buf *b, const char *v)
{
	array_sep(b);
	if (!v) {
		bl_buf_adds(b, "NULL");
		return;
	}
	bl_buf_addc(b, '"');
	while (*v) {
		size_t span = strcspn(v, "\"\\");
		bl_buf_add(b, v, span);
		v += span;
		if (*v) {
			bl_buf_addc(b, '\\');
			bl_buf_addc(b, *v++);
		}
	}
	bl_buf_addc(b, '"');
}

static void array_i64(struct bl_buf *b, int64_t v)
{
	array_sep(b);
	bl_buf_addf(b, "%" PRId64, v);
}

/* An id element where 0 means none (NULL). */
static void array_id(struct bl_buf *b, int64_t id)
{
	if (id)
		array_i64(b, id);
	else
		array_str(b, NULL);
}

/* A set of array literals, one per column of a batch statement. */
#define MAX_COLS 9
struct columns {
	struct bl_buf col[MAX_COLS];
	const char *param[MAX_COLS];
	int n;
};

static void columns_init(struct columns *c)
{
	for (int i = 0; i < MAX_COLS; i++)
		bl_buf_init(&c->col[i], ARRAY_MAX);
}

static void columns_finish(struct columns *c)
{
	for (int i = 0; i < MAX_COLS; i++)
		bl_buf_finish(&c->col[i]);
}

/* Start @n empty arrays. */
static void columns_start(struct columns *c, int n)
{
	c->n = n;
	for (int i = 0; i < n; i++)
		array_start(&c->col[i]);
}

/* Close the arrays and point param[] at them; -BL_ELIMIT if one outgrew ARRAY_MAX. */
static int columns_end(struct pg_store *p, struct columns *c)
{
	for (int i = 0; i < c->n; i++) {
		bl_buf_addc(&c->col[i], '}');
		if (bl_buf_err(&c->col[i]))
			return bl_store_set_error(&p->base, BL_ELIMIT,
			                          "import batch too large for one statement");
		c->param[i] = bl_buf_str(&c->col[i]);
	}
	return 0;
}

/* ---- transactions ----------------------------------------------------------------------- */

/* How an operation of several statements made itself atomic. */
enum scope { SCOPE_TX, SCOPE_SAVEPOINT };

/* Start an atomic scope: a transaction, or a savepoint inside the caller's transaction. */
static int scope_begin(struct pg_store *p, const char *what, enum scope *sc)
{
	switch (PQtransactionStatus(p->conn)) {
	case PQTRANS_IDLE:
		*sc = SCOPE_TX;
		return exec(p, what, "BEGIN", 0, NULL);
	case PQTRANS_INTRANS:
		*sc = SCOPE_SAVEPOINT;
		return exec(p, what, "SAVEPOINT bl_op", 0, NULL);
	case PQTRANS_INERROR:
		return bl_store_set_error(
		    &p->base, BL_ESTORE, "%s: the current transaction failed earlier; roll it back",
		    what);
	default:
		return bl_store_set_error(
		    &p->base, BL_ESTORE, "%s: the connection to PostgreSQL is not usable: %.*s",
		    what, trimmed_len(PQerrorMessage(p->conn)), PQerrorMessage(p->conn));
	}
}

/* End the scope: keep its work when @rc is 0, else undo it. Returns @rc or the commit's error. */
static int scope_end(struct pg_store *p, const char *what, enum scope sc, int rc)
{
	if (rc == 0)
		return exec(p, what, sc == SCOPE_TX ? "COMMIT" : "RELEASE SAVEPOINT bl_op", 0,
		            NULL);
	quiet(p,
	      sc == SCOPE_TX ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT bl_op; RELEASE SAVEPOINT bl_op");
	return rc;
}

static int pg_begin(struct bl_store *s)
{
	struct pg_store *p = pg(s);
	if (PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		return bl_store_set_error(s, BL_ESTORE, "begin: a transaction is already open");
	return exec(p, "begin", "BEGIN", 0, NULL);
}

static int pg_commit(struct bl_store *s)
{
	struct pg_store *p = pg(s);
	switch (PQtransactionStatus(p->conn)) {
	case PQTRANS_INTRANS:
		break;
	case PQTRANS_INERROR:
		quiet(p, "ROLLBACK");
		return bl_store_set_error(
		    s, BL_ESTORE, "commit: a statement failed; the transaction was rolled back");
	case PQTRANS_IDLE:
		return bl_store_set_error(s, BL_ESTORE, "commit: no transaction is open");
	default:
		return fail(p, NULL, "commit");
	}
	PGresult *res = run(p, "commit", "COMMIT", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
	int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
	PQclear(res);
	if (rolled_back)
		return bl_store_set_error(s, BL_ESTORE, "commit: the transaction was rolled back");
	return 0;
}

static int pg_rollback(struct bl_store *s)
{
	struct pg_store *p = pg(s);
	if (PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		return 0;
	return exec(p, "rollback", "ROLLBACK", 0, NULL);
}

/* ---- open, close, schema ------------------------------------------------------------------ */

static int pg_open(const char *uri, const struct bl_store_opts *opts, struct bl_store **out,
                   struct bl_diag *d)
{
	(void)opts; /* busy_timeout_ms is SQLite's; PostgreSQL waits for row locks */
	PGconn *conn = PQconnectdb(uri);
	if (!conn)
		return bl_diag_set(d, BL_ESTORE, "cannot connect to PostgreSQL: out of memory");
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		int rc = bl_diag_set(d, BL_ESTORE, "cannot connect to PostgreSQL: %.*s",
		                     trimmed_len(msg), msg);
		if (d)
			bl_url_scrub(d->msg, uri); /* libpq echoes a URI it cannot parse */
		PQfinish(conn);
		return rc;
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	if (PQsetClientEncoding(conn, "UTF8") != 0) {
		const char *msg = PQerrorMessage(conn);
		int rc = bl_diag_set(d, BL_ESTORE, "PostgreSQL: cannot use UTF-8: %.*s",
		                     trimmed_len(msg), msg);
		PQfinish(conn);
		return rc;
	}
	struct pg_store *p = bl_xcalloc(1, sizeof(*p));
	p->base.ops = &bl_postgres_ops;
	p->conn = conn;
	*out = &p->base;
	return 0;
}

static void pg_close(struct bl_store *s)
{
	if (!s)
		return;
	PQfinish(pg(s)->conn);
	free(s);
}

static int pg_schema_version(struct bl_store *s, int *version)
{
	struct pg_store *p = pg(s);
	PGresult *res = run(p, "schema version",
	                    "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!exists) {
		*version = 0;
		return 0;
	}
	res = run(p, "schema version", "SELECT coalesce(max(version), 0) FROM schema_migrations", 0,
	          NULL);
	if (!res)
		return -BL_ESTORE;
	*version = (int)get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* The version of migration file @name ("NNN_name.sql"), or -1 when it is not named so. */
static int migration_version(const char *name)
{
	int v = 0;
	const char *c = name;
	for (; *c >= '0' && *c <= '9' && v < 100000; c++)
		v = v * 10 + (*c - '0');
	return c > name && *c == '_' ? v : -1;
}

/* Apply one migration and record it, in one transaction. */
static int apply_migration(struct pg_store *p, const struct bl_embedded *m, int version)
{
	char what[128];
	snprintf(what, sizeof(what), "migration %s", m->name);
	int rc = exec(p, what, "BEGIN", 0, NULL);
	if (rc)
		return rc;
	PGresult *res = PQexec(p->conn, m->data); /* embedded SQL, several statements */
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(p, res, what);
	PQclear(res);
	if (rc == 0) {
		char vb[NUM_MAX];
		const char *params[] = {num(vb, version), m->name};
		rc = exec(p, what,
		          "INSERT INTO schema_migrations (version, name, applied_at) "
		          "VALUES ($1::integer, $2, now())",
		          2, params);
	}
	if (rc == 0)
		return exec(p, what, "COMMIT", 0, NULL);
	quiet(p, "ROLLBACK");
	return rc;
}

/* Bring the schema up to BL_SCHEMA_VERSION while holding the advisory lock. */
static int migrate_locked(struct pg_store *p, int *from, int *to)
{
	int rc = exec(p, "migrate",
	              "CREATE TABLE IF NOT EXISTS schema_migrations ("
	              "version integer PRIMARY KEY, name text NOT NULL, "
	              "applied_at timestamptz NOT NULL)",
	              0, NULL);
	int current = 0;
	if (rc == 0)
		rc = pg_schema_version(&p->base, &current);
	if (rc)
		return rc;
	if (current > BL_SCHEMA_VERSION)
		return bl_store_set_error(&p->base, BL_ESCHEMA,
		                          "the database schema is version %d, newer than this "
		                          "bulletin (%d); upgrade bulletin",
		                          current, BL_SCHEMA_VERSION);
	int version = current, last = 0;
	for (const struct bl_embedded *m = bl_postgres_migrations; m->name; m++) {
		int v = migration_version(m->name);
		if (v <= last)
			return bl_store_set_error(
			    &p->base, BL_ESTORE,
			    "embedded migration %s is misnamed or out of order", m->name);
		last = v;
		if (v <= current || v > BL_SCHEMA_VERSION)
			continue;
		rc = apply_migration(p, m, v);
		if (rc)
			return rc;
		version = v;
	}
	*from = current;
	*to = version;
	return 0;
}

static int pg_migrate(struct bl_store *s, int *from, int *to)
{
	struct pg_store *p = pg(s);
	if (PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		return bl_store_set_error(s, BL_ESTORE, "migrate: cannot run inside a transaction");
	/* Two `bulletin init` at once: the second waits here, then finds nothing to do. */
	const char *key[] = {MIGRATE_LOCK_KEY};
	int rc = exec(p, "migrate: taking the migration lock",
	              "SELECT pg_advisory_lock($1::bigint)", 1, key);
	if (rc)
		return rc;
	int f = 0, t = 0;
	rc = migrate_locked(p, &f, &t);
	int unlock = exec(p, "migrate: releasing the migration lock",
	                  "SELECT pg_advisory_unlock($1::bigint)", 1, key);
	if (rc == 0)
		rc = unlock;
	if (rc == 0) {
		*from = f;
		*to = t;
	}
	return rc;
}

/* ---- settings ----------------------------------------------------------------------------- */

static int pg_setting_get(struct bl_store *s, const char *key, char **value)
{
	const char *params[] = {key};
	PGresult *res =
	    run(pg(s), "setting_get", "SELECT value FROM settings WHERE key = $1", 1, params);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	if (found)
		*value = get_str(res, 0, 0, 1);
	PQclear(res);
	return found;
}

static int pg_setting_set(struct bl_store *s, const char *key, const char *value)
{
	const char *params[] = {key, nz(value)};
	return exec(pg(s), "setting_set",
	            "INSERT INTO settings (key, value) VALUES ($1, $2) "
	            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	            2, params);
}

/* ---- lists ---------------------------------------------------------------------------------- */

static int pg_list_create(struct bl_store *s, struct bl_list *l)
{
	int64_t now = l->created_at ? l->created_at : bl_now();
	char nb[NUM_MAX];
	const char *params[] = {l->slug,
	                        nz(l->name),
	                        nz(l->description),
	                        bl_optin_name(l->optin),
	                        bl_visibility_name(l->visibility),
	                        num(nb, now),
	                        l->breaking_digest_off ? "false" : "true"};
	/* ON CONFLICT: a taken slug is an answer, not an error that aborts the caller's
	 * transaction. */
	PGresult *res = run(pg(s), "list_create",
	                    "INSERT INTO lists (slug, name, description, optin, visibility, "
	                    "created_at, updated_at, breaking_digest) "
	                    "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint), "
	                    "to_timestamp($6::bigint), $7::boolean) "
	                    "ON CONFLICT (slug) DO NOTHING RETURNING id",
	                    7, params);
	if (!res)
		return -BL_ESTORE;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return bl_store_set_error(s, BL_EEXIST, "a list with slug \"%s\" already exists",
		                          l->slug);
	}
	l->id = get_i64(res, 0, 0);
	l->created_at = now;
	PQclear(res);
	return 0;
}

static int pg_list_get(struct bl_store *s, const char *slug, struct bl_list *out)
{
	struct pg_store *p = pg(s);
	const char *params[] = {slug};
	PGresult *res =
	    run(p, "list_get", "SELECT " LIST_COLS " FROM lists l WHERE l.slug = $1", 1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0) {
		struct bl_list l;
		rc = read_list(p, res, 0, 1, &l);
		if (rc == 0) {
			*out = l;
			rc = 1;
		}
	}
	PQclear(res);
	return rc;
}

static int pg_list_each(struct bl_store *s, bl_list_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	PGresult *res =
	    run(p, "list_each", "SELECT " LIST_COLS " FROM lists l ORDER BY l.slug", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_list l;
		rc = read_list(p, res, i, 0, &l);
		if (rc == 0)
			rc = fn(arg, &l);
	}
	PQclear(res);
	return rc;
}

static int pg_list_delete(struct bl_store *s, const char *slug)
{
	/*
	 * Cascades to subscriptions; consent events keep their rows, detached
	 * (list_id NULL), in the same statement.
	 */
	const char *params[] = {slug};
	/* A post still to go out on the list keeps it (store.h, list_delete). */
	PGresult *res = run(pg(s), "list_delete",
	                    "WITH busy AS (SELECT p.id, p.status FROM lists l "
	                    "JOIN post_lists pl ON pl.list_id = l.id "
	                    "JOIN posts p ON p.id = pl.post_id "
	                    "WHERE l.slug = $1 AND p.kind = 'post' "
	                    "AND p.status IN ('scheduled', 'sending', 'paused') "
	                    "ORDER BY p.id LIMIT 1), "
	                    "l AS (DELETE FROM lists WHERE slug = $1 "
	                    "AND NOT EXISTS (SELECT 1 FROM busy) RETURNING id), "
	                    "e AS (UPDATE consent_events SET list_id = NULL "
	                    "WHERE list_id IN (SELECT id FROM l)) "
	                    "SELECT (SELECT count(*) FROM l), (SELECT id FROM busy), "
	                    "(SELECT status FROM busy)",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	long long n = get_i64(res, 0, 0);
	int busy = !PQgetisnull(res, 0, 1);
	long long post = busy ? get_i64(res, 0, 1) : 0;
	char status[16];
	snprintf(status, sizeof(status), "%s", busy ? PQgetvalue(res, 0, 2) : "");
	PQclear(res);
	if (busy)
		return bl_store_set_error(
		    s, BL_EINUSE,
		    "list \"%s\" is used by post %lld (%s): cancel the post or "
		    "change its lists first",
		    slug, post, status);
	if (n == 0)
		return bl_store_set_error(s, BL_ENOENT, "there is no list \"%s\"", slug);
	return 0;
}

static int pg_list_counts(struct bl_store *s, int64_t list_id, struct bl_list_counts *out)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, list_id)};
	/* The counts the triggers of schema 5 keep (sql/postgres/005_admin.sql): O(1). */
	PGresult *res = run(pg(s), "list_counts",
	                    "SELECT unconfirmed, confirmed, unsubscribed FROM list_counts "
	                    "WHERE list_id = $1::bigint",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) > 0) {
		out->unconfirmed = get_i64(res, 0, 0);
		out->confirmed = get_i64(res, 0, 1);
		out->unsubscribed = get_i64(res, 0, 2);
	}
	PQclear(res);
	return 0;
}

/* ---- subscribers ---------------------------------------------------------------------------- */

static int pg_subscriber_get(struct bl_store *s, const char *email_key, struct bl_subscriber *out)
{
	struct pg_store *p = pg(s);
	const char *params[] = {email_key};
	PGresult *res =
	    run(p, "subscriber_get",
	        "SELECT " SUBSCRIBER_COLS " FROM subscribers s WHERE s.email_key = $1", 1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0) {
		struct bl_subscriber sub;
		rc = read_subscriber(p, res, 0, 0, 1, &sub);
		if (rc == 0) {
			*out = sub;
			rc = 1;
		}
	}
	PQclear(res);
	return rc;
}

/*
 * subscriber_each walks in keyset pages (id > last id seen), so it needs no
 * transaction and the callback may use the store freely; it is not a
 * snapshot: rows the callback adds with higher ids are visited too.
 */
static int pg_subscriber_each(struct bl_store *s, const struct bl_subscriber_filter *f,
                              bl_subscriber_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	struct bl_subscriber_filter all = {.sub_status = -1, .status = -1};
	if (!f)
		f = &all;
	if (f->limit < 0 || f->status < -1 || f->status > BL_SUBSCRIBER_BLOCKLISTED ||
	    f->sub_status < -1 || f->sub_status > BL_SUB_UNSUBSCRIBED)
		return bl_store_set_error(s, BL_EINVAL, "subscriber_each: invalid filter");

	/*
	 * The SQL is assembled from constant fragments; values travel as
	 * parameters. With a prefix the walk is a range of the unique email_key
	 * index (collation "C": bytes): LIKE 'prefix%' with a constant prefix
	 * (an unnamed statement is planned with its values) bounds the range,
	 * and the page's last key starts the next page.
	 */
	int by_key = f->prefix && *f->prefix, list_walk = 0, blocklisted_walk = 0;
	char after[NUM_MAX], page[NUM_MAX], list[NUM_MAX];
	const char *params[6];
	int n = 0;
	struct bl_buf sql, pattern, key;
	bl_buf_init(&sql, 0);
	bl_buf_init(&pattern, 0);
	bl_buf_init(&key, 0);
	if (by_key) {
		for (const char *c = f->prefix; *c; c++) {
			if (*c == '%' || *c == '_' || *c == '\\')
				bl_buf_addc(&pattern, '\\');
			bl_buf_addc(&pattern, *c);
		}
		bl_buf_addc(&pattern, '%');
		bl_buf_adds(&key, nz(f->after_key));
		bl_buf_adds(&sql, "SELECT " SUBSCRIBER_COLS " FROM subscribers s "
		                  "WHERE s.email_key LIKE $1 ESCAPE '\\' AND s.email_key > $2");
		params[n++] = bl_buf_str(&pattern);
		params[n++] = bl_buf_str(&key);
	} else if (f->status == BL_SUBSCRIBER_BLOCKLISTED) {
		/* along the partial index subscribers_blocklisted (a few among many; with a
		 * list, each is checked by the primary key of subscriptions) */
		bl_buf_adds(&sql, "SELECT " SUBSCRIBER_COLS " FROM subscribers s "
		                  "WHERE s.status = 'blocklisted' AND s.id > $1::bigint");
		params[n++] = after;
		blocklisted_walk = 1;
	} else if (f->list_id) {
		list_walk = 1;
		params[n++] = after;
		params[n++] = num(list, f->list_id);
		int status_param = 0, sub_param = 0;
		if (f->status >= 0) {
			params[n++] =
			    bl_subscriber_status_name((enum bl_subscriber_status)f->status);
			status_param = n;
		}
		if (f->sub_status >= 0) {
			params[n++] = bl_sub_status_name((enum bl_sub_status)f->sub_status);
			sub_param = n;
		}
		int page_param = n + 1;
		/*
		 * A list's subscribers in id order: subscriptions_by_list is (list_id,
		 * status, subscriber_id), so one range per subscription status (the
		 * one asked for, or the three of the CHECK constraint), each cut at
		 * the page and merged by a Merge Append: O(page) at any depth. The
		 * subscriber row is fetched per range row through a LATERAL with
		 * OFFSET 0 (an optimisation fence): as a plain join or an EXISTS the
		 * planner prefers a merge join that reads subscribers_pkey from the
		 * first id (O(table) for the last list, or a rare status).
		 */
		static const char *const sub_statuses[] = {"unconfirmed", "confirmed",
		                                           "unsubscribed"};
		bl_buf_adds(&sql, "SELECT * FROM (");
		for (int i = 0; i < 3; i++) {
			if (sub_param && i > 0)
				break;
			bl_buf_adds(&sql, i ? ") UNION ALL (" : "(");
			bl_buf_adds(&sql, "SELECT x.subscriber_id AS sid, s.* FROM subscriptions x "
			                  "CROSS JOIN LATERAL (SELECT " SUBSCRIBER_COLS
			                  " FROM subscribers s WHERE s.id = x.subscriber_id");
			if (status_param)
				bl_buf_addf(&sql, " AND s.status = $%d", status_param);
			bl_buf_adds(&sql, " OFFSET 0) s WHERE x.list_id = $2::bigint"
			                  " AND x.subscriber_id > $1::bigint AND x.status = ");
			if (sub_param)
				bl_buf_addf(&sql, "$%d", sub_param);
			else
				bl_buf_addf(&sql, "'%s'", sub_statuses[i]);
			bl_buf_addf(&sql, " ORDER BY x.subscriber_id LIMIT $%d::bigint",
			            page_param);
		}
		bl_buf_adds(&sql, ")) p");
	} else {
		bl_buf_adds(&sql, "SELECT " SUBSCRIBER_COLS
		                  " FROM subscribers s WHERE s.id > $1::bigint");
		params[n++] = after;
	}
	if (f->status >= 0 && !list_walk && !blocklisted_walk) {
		params[n++] = bl_subscriber_status_name((enum bl_subscriber_status)f->status);
		bl_buf_addf(&sql, " AND s.status = $%d", n);
	}
	if (f->list_id && !list_walk) {
		params[n++] = num(list, f->list_id);
		bl_buf_addf(
		    &sql,
		    " AND EXISTS (SELECT 1 FROM subscriptions u WHERE u.subscriber_id = s.id"
		    " AND u.list_id = $%d::bigint",
		    n);
		if (f->sub_status >= 0) {
			params[n++] = bl_sub_status_name((enum bl_sub_status)f->sub_status);
			bl_buf_addf(&sql, " AND u.status = $%d", n);
		}
		bl_buf_addc(&sql, ')');
	}
	params[n++] = page;
	bl_buf_addf(&sql,
	            by_key      ? " ORDER BY s.email_key LIMIT $%d::bigint"
	            : list_walk ? " ORDER BY p.sid LIMIT $%d::bigint"
	                        : " ORDER BY s.id LIMIT $%d::bigint",
	            n);

	int64_t last = f->after_id, left = f->limit;
	int rc = 0;
	for (;;) {
		int64_t want = left > 0 && left < PAGE_ROWS ? left : PAGE_ROWS;
		num(after, last);
		num(page, want);
		PGresult *res = run(p, "subscriber_each", bl_buf_str(&sql), n, params);
		if (!res) {
			rc = -BL_ESTORE;
			break;
		}
		int rows = PQntuples(res);
		for (int i = 0; rc == 0 && i < rows; i++) {
			struct bl_subscriber sub;
			rc = read_subscriber(p, res, i, list_walk, 0, &sub);
			if (rc == 0) {
				last = sub.id;
				rc = fn(arg, &sub);
			}
		}
		if (by_key && rc == 0 && rows > 0) {
			/* the next page starts after this one's last key (bl_buf owns a copy) */
			bl_buf_reset(&key);
			bl_buf_adds(&key, PQgetvalue(res, rows - 1, 2));
			params[1] = bl_buf_str(&key);
		}
		PQclear(res);
		if (rc || rows < want)
			break;
		if (f->limit > 0 && (left -= rows) == 0)
			break;
	}
	bl_buf_finish(&sql);
	bl_buf_finish(&pattern);
	bl_buf_finish(&key);
	return rc;
}

static int pg_subscription_each(struct bl_store *s, int64_t subscriber_id, bl_subscription_fn fn,
                                void *arg)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, subscriber_id)};
	PGresult *res = run(p, "subscription_each",
	                    "SELECT " SUBSCRIPTION_COLS " FROM " SUBSCRIPTION_FROM
	                    " WHERE u.subscriber_id = $1::bigint ORDER BY l.slug",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_subscription u;
		rc = read_subscription(p, res, i, &u);
		if (rc == 0)
			rc = fn(arg, &u);
	}
	PQclear(res);
	return rc;
}

static int pg_consent_each(struct bl_store *s, int64_t subscriber_id, bl_consent_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, subscriber_id)};
	PGresult *res = subscriber_id
	                    ? run(p, "consent_each",
	                          "SELECT " CONSENT_COLS " FROM " CONSENT_FROM
	                          " WHERE e.subscriber_id = $1::bigint ORDER BY e.at, e.id",
	                          1, params)
	                    : run(p, "consent_each",
	                          "SELECT " CONSENT_COLS " FROM " CONSENT_FROM
	                          " WHERE e.subscriber_id IS NULL ORDER BY e.at, e.id",
	                          0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_consent e;
		rc = read_consent(p, res, i, &e);
		if (rc == 0)
			rc = fn(arg, &e);
	}
	PQclear(res);
	return rc;
}

static int pg_consent_add(struct bl_store *s, const struct bl_consent *c)
{
	char sb[NUM_MAX], lb[NUM_MAX], ab[NUM_MAX];
	const char *params[] = {id_param(sb, c->subscriber_id),
	                        id_param(lb, c->list_id),
	                        bl_consent_kind_name(c->kind),
	                        num(ab, c->at),
	                        nz(c->ip),
	                        nz(c->user_agent),
	                        nz(c->source)};
	return exec(pg(s), "consent_add",
	            "INSERT INTO consent_events (subscriber_id, list_id, kind, at, ip, user_agent, "
	            "source) VALUES ($1::bigint, $2::bigint, $3, to_timestamp($4::bigint), $5, $6, "
	            "$7)",
	            7, params);
}

/*
 * lock_counters - take the subscriber counters' rows (schema 5) ahead of
 * the per-list counts, for a transaction that is about to change both:
 * every writer that changes both takes them in this order (a signup inserts
 * its subscriber before its subscriptions), so none waits in a cycle.
 */
static int lock_counters(struct pg_store *p, const char *what)
{
	return exec(p, what, "SELECT 1 FROM counters ORDER BY name FOR NO KEY UPDATE", 0, NULL);
}

static int erase(struct pg_store *p, int64_t subscriber_id, const char *hash, const char *reason,
                 int64_t now)
{
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *id[] = {num(ib, subscriber_id)};
	const char *at[] = {num(nb, now)};
	/* Lock the row first: no consent event can be added for it until we are done. */
	PGresult *res = run(p, "subscriber_erase",
	                    "SELECT id FROM subscribers WHERE id = $1::bigint FOR UPDATE", 1, id);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	PQclear(res);
	if (!found)
		return bl_store_set_error(&p->base, BL_ENOENT, "there is no subscriber %" PRId64,
		                          subscriber_id);
	/* The cascade to subscriptions changes the list counts before the counters. */
	int rc = lock_counters(p, "subscriber_erase");
	/* The subscriber's findings (and review rows naming the address) lose their personal
	 * data; the foreign key detaches them. */
	if (rc == 0)
		rc =
		    exec(p, "subscriber_erase",
		         "UPDATE bounces SET recipient = '', diagnostic = '' "
		         "WHERE subscriber_id = $1::bigint OR (review <> '' AND lower(recipient) = "
		         "(SELECT email_key FROM subscribers WHERE id = $1::bigint))",
		         1, id);
	/* The append-only trigger allows exactly this change: detach and blank. */
	if (rc == 0)
		rc =
		    exec(p, "subscriber_erase",
		         "UPDATE consent_events SET subscriber_id = NULL, ip = '', user_agent = '' "
		         "WHERE subscriber_id = $1::bigint",
		         1, id);
	if (rc == 0)
		rc = exec(p, "subscriber_erase", "DELETE FROM subscribers WHERE id = $1::bigint", 1,
		          id);
	if (rc == 0)
		rc = exec(p, "subscriber_erase",
		          "INSERT INTO consent_events (kind, at) "
		          "VALUES ('erase', to_timestamp($1::bigint))",
		          1, at);
	if (rc == 0) {
		/* An address erased twice keeps its first suppression time. */
		const char *params[] = {hash, nz(reason), nb};
		rc = exec(p, "subscriber_erase",
		          "INSERT INTO suppressions (hash, reason, created_at) "
		          "VALUES ($1, $2, to_timestamp($3::bigint)) "
		          "ON CONFLICT (hash) DO NOTHING",
		          3, params);
	}
	return rc;
}

static int pg_subscriber_erase(struct bl_store *s, int64_t subscriber_id,
                               const char *suppression_hash, const char *reason, int64_t now)
{
	struct pg_store *p = pg(s);
	enum scope sc;
	int rc = scope_begin(p, "subscriber_erase", &sc);
	if (rc)
		return rc;
	return scope_end(p, "subscriber_erase", sc,
	                 erase(p, subscriber_id, suppression_hash, reason, now));
}

static int pg_suppression_each(struct bl_store *s, bl_suppression_fn fn, void *arg)
{
	PGresult *res = run(pg(s), "suppression_each",
	                    "SELECT hash, reason, " EPOCH(
	                        "created_at") " FROM suppressions ORDER BY hash COLLATE \"C\"",
	                    0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++)
		rc = fn(arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), get_i64(res, i, 2));
	PQclear(res);
	return rc;
}

static int pg_suppression_add(struct bl_store *s, const char *hash, const char *reason,
                              int64_t created_at)
{
	char tb[NUM_MAX];
	const char *params[] = {hash, reason, num(tb, created_at)};
	return exec(pg(s), "suppression_add",
	            "INSERT INTO suppressions (hash, reason, created_at) "
	            "VALUES ($1, $2, to_timestamp($3::bigint)) ON CONFLICT (hash) DO NOTHING",
	            3, params);
}

static int pg_suppression_any(struct bl_store *s)
{
	PGresult *res =
	    run(pg(s), "suppression_any", "SELECT EXISTS (SELECT 1 FROM suppressions)", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int any = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return any;
}

static int pg_subscriber_max_id(struct bl_store *s, int64_t *out)
{
	PGresult *res = run(pg(s), "subscriber_max_id",
	                    "SELECT coalesce(max(id), 0) FROM subscribers", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	*out = get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int pg_suppression_get(struct bl_store *s, const char *hash, int64_t *since)
{
	const char *params[] = {hash};
	PGresult *res =
	    run(pg(s), "suppression_get",
	        "SELECT " EPOCH("created_at") " FROM suppressions WHERE hash = $1", 1, params);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	if (found && since)
		*since = get_i64(res, 0, 0);
	PQclear(res);
	return found;
}

/* ---- import ---------------------------------------------------------------------------------- */

static int pg_import_lookup(struct bl_store *s, int64_t list_id, size_t n, const char *const *keys,
                            const char *const *hashes, struct bl_import_state *out)
{
	struct pg_store *p = pg(s);
	if (n == 0)
		return 0;
	struct columns c;
	columns_init(&c);
	columns_start(&c, 2);
	for (size_t i = 0; i < n; i++) {
		array_str(&c.col[0], keys[i]);
		array_str(&c.col[1], hashes ? hashes[i] : NULL);
	}
	int rc = columns_end(p, &c);
	PGresult *res = NULL;
	if (rc == 0) {
		char lb[NUM_MAX];
		const char *params[] = {c.param[0], c.param[1], id_param(lb, list_id)};
		/* One round trip for the whole batch; rows come back in the order of @keys. */
		res = run(p, "import_lookup",
		          "SELECT " SUBSCRIBER_COLS ", u.status, u.mode, sp.hash IS NOT NULL "
		          "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(key, hash, i) "
		          "LEFT JOIN subscribers s ON s.email_key = k.key "
		          "LEFT JOIN subscriptions u ON u.subscriber_id = s.id "
		          "AND u.list_id = $3::bigint "
		          "LEFT JOIN suppressions sp ON sp.hash = k.hash "
		          "ORDER BY k.i",
		          3, params);
		if (!res)
			rc = -BL_ESTORE;
	}
	columns_finish(&c);
	if (rc)
		return rc;
	if ((size_t)PQntuples(res) != n) {
		PQclear(res);
		return bl_store_set_error(s, BL_ESTORE, "import_lookup: %d rows for %zu addresses",
		                          PQntuples(res), n);
	}
	const int c_status = SUBSCRIBER_NCOLS, c_mode = c_status + 1, c_supp = c_status + 2;
	size_t i = 0;
	for (; i < n; i++) {
		struct bl_import_state st = {0};
		if (!PQgetisnull(res, (int)i, 0)) {
			st.found = 1;
			rc = read_subscriber(p, res, (int)i, 0, 1, &st.sub);
		}
		if (rc == 0 && !PQgetisnull(res, (int)i, c_status)) {
			st.has_subscription = 1;
			if (bl_sub_status_parse(PQgetvalue(res, (int)i, c_status),
			                        &st.sub_status) ||
			    bl_mode_parse(PQgetvalue(res, (int)i, c_mode), &st.mode))
				rc =
				    bad_value(p, "subscription", PQgetvalue(res, (int)i, c_status));
		}
		st.suppressed = strcmp(PQgetvalue(res, (int)i, c_supp), "t") == 0;
		if (rc) {
			bl_import_state_clear(&st);
			break;
		}
		out[i] = st;
	}
	PQclear(res);
	if (rc) {
		while (i-- > 0)
			bl_import_state_clear(&out[i]);
	}
	return rc;
}

/*
 * A set of subscriber ids with O(1) insert-and-test, emptied in O(1) by
 * bumping the generation: import_apply cuts a batch into segments in which
 * no subscriber appears twice.
 */
struct idset {
	struct {
		int64_t id;
		unsigned gen;
	} * slot;
	size_t mask;
	unsigned gen;
};

static void idset_init(struct idset *set, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	set->slot = bl_xcalloc(cap, sizeof(*set->slot));
	set->mask = cap - 1;
	set->gen = 1;
}

/* Add @id; returns 1 if it was already there. */
static int idset_add(struct idset *set, int64_t id)
{
	size_t i = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15u) >> 20) & set->mask;
	for (;; i = (i + 1) & set->mask) {
		if (set->slot[i].gen != set->gen) {
			set->slot[i].id = id;
			set->slot[i].gen = set->gen;
			return 0;
		}
		if (set->slot[i].id == id)
			return 1;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/*
 * Take @n values from the sequence of @table.id, ascending, into @ids. Taking
 * ids before inserting lets one set-based INSERT write rows whose ids C
 * already knows, in change order.
 */
static int take_ids(struct pg_store *p, const char *table, size_t n, int64_t *ids)
{
	if (n == 0)
		return 0;
	char nb[NUM_MAX];
	const char *params[] = {table, num(nb, (int64_t)n)};
	PGresult *res = run(p, "import_apply: allocating ids",
	                    "SELECT nextval(pg_get_serial_sequence($1, 'id')) "
	                    "FROM generate_series(1, $2::bigint)",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	for (size_t i = 0; i < n; i++)
		ids[i] = get_i64(res, (int)i, 0);
	PQclear(res);
	qsort(ids, n, sizeof(*ids), cmp_i64);
	return 0;
}

/* Run one batch statement over the arrays of @c; @want rows must be touched (-1: any). */
static int batch(struct pg_store *p, struct columns *c, const char *sql, long long want)
{
	int rc = columns_end(p, c);
	long long got = 0;
	if (rc == 0)
		rc = exec_count(p, "import_apply", sql, c->n, c->param, &got);
	if (rc == 0 && want >= 0 && got != want)
		rc = bl_store_set_error(&p->base, BL_ESTORE,
		                        "import_apply: %lld of %lld rows to update no longer exist",
		                        want - got, want);
	return rc;
}

/*
 * Write changes @ch[0..@n), in which no subscriber appears twice, with one
 * set-based statement per kind of row. Statements for different subscribers
 * commute, and consent events carry ids taken in change order, so the
 * result is the same as writing the changes one by one in order.
 */
static int apply_segment(struct pg_store *p, struct columns *c, struct bl_import_change *ch,
                         size_t n)
{
	long long count;
	int rc = 0;

	/* 1. new subscribers (ids already assigned) */
	columns_start(c, 9);
	count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ch[i].insert_subscriber)
			continue;
		count++;
		array_i64(&c->col[0], ch[i].subscriber_id);
		array_str(&c->col[1], ch[i].email);
		array_str(&c->col[2], ch[i].email_key);
		array_str(&c->col[3], nz(ch[i].name));
		array_str(&c->col[4], ch[i].attributes ? ch[i].attributes : "{}");
		array_str(&c->col[5], bl_subscriber_status_name(ch[i].status));
		array_str(&c->col[6], nz(ch[i].status_reason));
		array_i64(&c->col[7], ch[i].created_at);
		array_i64(&c->col[8], ch[i].updated_at);
	}
	if (count)
		rc = batch(p, c,
		           "INSERT INTO subscribers (id, email, email_key, name, attributes, "
		           "status, status_reason, created_at, updated_at) "
		           "SELECT v.id, v.email, v.email_key, v.name, v.attributes::jsonb, "
		           "v.status, v.status_reason, to_timestamp(v.created_at), "
		           "to_timestamp(v.updated_at) "
		           "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
		           "$5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[]) "
		           "AS v(id, email, email_key, name, attributes, status, status_reason, "
		           "created_at, updated_at)",
		           -1);
	if (rc)
		return rc;

	/* 2. changed subscribers; a NULL name or attributes keeps the stored value */
	columns_start(c, 6);
	count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ch[i].update_subscriber)
			continue;
		count++;
		array_i64(&c->col[0], ch[i].subscriber_id);
		array_str(&c->col[1], ch[i].name);
		array_str(&c->col[2], ch[i].attributes);
		array_str(&c->col[3], bl_subscriber_status_name(ch[i].status));
		array_str(&c->col[4], nz(ch[i].status_reason));
		array_i64(&c->col[5], ch[i].updated_at);
	}
	if (count)
		rc = batch(p, c,
		           "UPDATE subscribers s SET name = coalesce(v.name, s.name), "
		           "attributes = coalesce(v.attributes::jsonb, s.attributes), "
		           "status = v.status, status_reason = v.status_reason, "
		           "updated_at = to_timestamp(v.updated_at) "
		           "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
		           "$5::text[], $6::bigint[]) "
		           "AS v(id, name, attributes, status, status_reason, updated_at) "
		           "WHERE s.id = v.id",
		           count);
	if (rc)
		return rc;

	/* 3. new subscriptions */
	columns_start(c, 6);
	count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ch[i].insert_subscription)
			continue;
		count++;
		array_i64(&c->col[0], ch[i].subscriber_id);
		array_i64(&c->col[1], ch[i].list_id);
		array_str(&c->col[2], bl_sub_status_name(ch[i].sub_status));
		array_str(&c->col[3], bl_mode_name(ch[i].mode));
		array_i64(&c->col[4], ch[i].sub_created_at);
		array_i64(&c->col[5], ch[i].updated_at);
	}
	if (count)
		rc = batch(p, c,
		           "INSERT INTO subscriptions (subscriber_id, list_id, status, mode, "
		           "created_at, updated_at) "
		           "SELECT v.sid, v.lid, v.status, v.mode, to_timestamp(v.created_at), "
		           "to_timestamp(v.updated_at) "
		           "FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], "
		           "$5::bigint[], $6::bigint[]) "
		           "AS v(sid, lid, status, mode, created_at, updated_at)",
		           -1);
	if (rc)
		return rc;

	/* 4. changed subscriptions */
	columns_start(c, 5);
	count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ch[i].update_subscription)
			continue;
		count++;
		array_i64(&c->col[0], ch[i].subscriber_id);
		array_i64(&c->col[1], ch[i].list_id);
		array_str(&c->col[2], bl_sub_status_name(ch[i].sub_status));
		array_str(&c->col[3], bl_mode_name(ch[i].mode));
		array_i64(&c->col[4], ch[i].updated_at);
	}
	if (count)
		rc = batch(p, c,
		           "UPDATE subscriptions u SET status = v.status, mode = v.mode, "
		           "updated_at = to_timestamp(v.updated_at) "
		           "FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], "
		           "$5::bigint[]) AS v(sid, lid, status, mode, updated_at) "
		           "WHERE u.subscriber_id = v.sid AND u.list_id = v.lid",
		           count);
	if (rc)
		return rc;

	/* 5. consent events, with ids taken in change order */
	size_t n_events = 0;
	for (size_t i = 0; i < n; i++)
		n_events += ch[i].n_events;
	if (n_events == 0)
		return 0;
	int64_t *ids = bl_xcalloc(n_events, sizeof(*ids));
	rc = take_ids(p, "consent_events", n_events, ids);
	if (rc == 0) {
		columns_start(c, 8);
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < ch[i].n_events; j++) {
				struct bl_consent *e = &ch[i].events[j];
				e->id = ids[k++];
				e->subscriber_id = ch[i].subscriber_id;
				array_i64(&c->col[0], e->id);
				array_id(&c->col[1], e->subscriber_id);
				array_id(&c->col[2], e->list_id);
				array_str(&c->col[3], bl_consent_kind_name(e->kind));
				array_i64(&c->col[4], e->at);
				array_str(&c->col[5], nz(e->ip));
				array_str(&c->col[6], nz(e->user_agent));
				array_str(&c->col[7], nz(e->source));
			}
		}
		rc = batch(p, c,
		           "INSERT INTO consent_events (id, subscriber_id, list_id, kind, at, ip, "
		           "user_agent, source) "
		           "SELECT v.id, v.sid, v.lid, v.kind, to_timestamp(v.at), v.ip, v.ua, "
		           "v.source "
		           "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], "
		           "$5::bigint[], $6::text[], $7::text[], $8::text[]) "
		           "AS v(id, sid, lid, kind, at, ip, ua, source)",
		           -1);
	}
	free(ids);
	return rc;
}

static int apply(struct pg_store *p, size_t n, struct bl_import_change *changes)
{
	size_t n_new = 0;
	for (size_t i = 0; i < n; i++) {
		if (changes[i].n_events > BL_CHANGE_MAX_EVENTS)
			return bl_store_set_error(&p->base, BL_EINVAL,
			                          "import_apply: change %zu has %zu events", i,
			                          changes[i].n_events);
		if (changes[i].insert_subscriber)
			n_new++;
		else if (changes[i].subscriber_id <= 0)
			return bl_store_set_error(&p->base, BL_EINVAL,
			                          "import_apply: change %zu has no subscriber id",
			                          i);
	}
	int64_t *ids = bl_xcalloc(n_new ? n_new : 1, sizeof(*ids));
	int rc = take_ids(p, "subscribers", n_new, ids);
	if (rc == 0) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (changes[i].insert_subscriber)
				changes[i].subscriber_id = ids[k++];
		}
	}
	free(ids);

	struct columns c;
	columns_init(&c);
	struct idset seen;
	idset_init(&seen, n);
	size_t start = 0;
	while (rc == 0 && start < n) {
		size_t end = start;
		while (end < n && !idset_add(&seen, changes[end].subscriber_id))
			end++;
		rc = apply_segment(p, &c, changes + start, end - start);
		start = end;
		seen.gen++;
	}
	free(seen.slot);
	columns_finish(&c);
	return rc;
}

static int pg_import_mark_reset(struct bl_store *s)
{
	return exec(pg(s), "import_mark_reset", "DROP TABLE IF EXISTS pg_temp.bl_import_marks", 0,
	            NULL);
}

static int pg_import_mark(struct bl_store *s, size_t n, const char *const *marks, char *seen)
{
	struct pg_store *p = pg(s);
	if (n == 0)
		return 0;
	int rc = exec(p, "import_mark",
	              "CREATE TEMP TABLE IF NOT EXISTS bl_import_marks (mark text PRIMARY KEY)", 0,
	              NULL);
	if (rc)
		return rc;
	struct columns c;
	columns_init(&c);
	columns_start(&c, 1);
	for (size_t i = 0; i < n; i++)
		array_str(&c.col[0], marks[i]);
	rc = columns_end(p, &c);
	PGresult *res = NULL;
	if (rc == 0) {
		/* One round trip: insert the new marks, report per input whether it was new. */
		res = run(p, "import_mark",
		          "WITH ins AS (INSERT INTO bl_import_marks (mark) "
		          "SELECT m FROM unnest($1::text[]) AS t(m) ON CONFLICT DO NOTHING "
		          "RETURNING mark) "
		          "SELECT t.m IN (SELECT mark FROM ins) "
		          "FROM unnest($1::text[]) WITH ORDINALITY AS t(m, i) ORDER BY t.i",
		          1, c.param);
		if (!res)
			rc = -BL_ESTORE;
	}
	columns_finish(&c);
	if (rc)
		return rc;
	if ((size_t)PQntuples(res) != n) {
		PQclear(res);
		return bl_store_set_error(s, BL_ESTORE, "import_mark: %d rows for %zu marks",
		                          PQntuples(res), n);
	}
	for (size_t i = 0; i < n; i++)
		seen[i] = strcmp(PQgetvalue(res, (int)i, 0), "t") != 0;
	PQclear(res);
	return 0;
}

static int pg_import_apply(struct bl_store *s, size_t n, struct bl_import_change *changes)
{
	struct pg_store *p = pg(s);
	if (n == 0)
		return 0;
	enum scope sc;
	int rc = scope_begin(p, "import_apply", &sc);
	if (rc)
		return rc;
	int subscribers = 0;
	for (size_t i = 0; i < n && !subscribers; i++)
		subscribers = changes[i].insert_subscriber || changes[i].update_subscriber;
	rc = subscribers ? lock_counters(p, "import_apply") : 0;
	if (rc == 0)
		rc = apply(p, n, changes);
	rc = scope_end(p, "import_apply", sc, rc);
	if (rc) {
		/* Nothing was written: take back the ids handed out. */
		for (size_t i = 0; i < n; i++) {
			if (changes[i].insert_subscriber)
				changes[i].subscriber_id = 0;
		}
	}
	return rc;
}

/* ---- export ---------------------------------------------------------------------------------- */

/* Growable arrays for one subscriber's rows during export. */
struct export_rows {
	struct bl_subscription *subs;
	size_t subs_cap;
	struct bl_consent *events;
	size_t events_cap;
};

static void *grow(void *a, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return a;
	size_t cap2 = *cap ? *cap * 2 : 16;
	while (cap2 < need)
		cap2 *= 2;
	*cap = cap2;
	return bl_xrealloc(a, cap2 * size);
}

/*
 * Call @fn for each subscriber of one fetched page @page, with its rows from
 * @subs and @events (both ordered by subscriber id, then as listed).
 */
static int export_page(struct pg_store *p, const PGresult *page, const PGresult *subs,
                       const PGresult *events, struct export_rows *rows, bl_export_fn fn, void *arg)
{
	int si = 0, ei = 0, ns = PQntuples(subs), ne = events ? PQntuples(events) : 0;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(page); i++) {
		struct bl_subscriber sub;
		rc = read_subscriber(p, page, i, 0, 0, &sub);
		struct bl_export_item item = {.sub = &sub};
		size_t k = 0;
		for (; rc == 0 && si < ns && get_i64(subs, si, 0) <= sub.id; si++) {
			if (get_i64(subs, si, 0) < sub.id)
				continue;
			rows->subs = grow(rows->subs, &rows->subs_cap, k + 1, sizeof(*rows->subs));
			rc = read_subscription(p, subs, si, &rows->subs[k++]);
		}
		item.subs = rows->subs;
		item.n_subs = k;
		k = 0;
		for (; rc == 0 && ei < ne && get_i64(events, ei, 1) <= sub.id; ei++) {
			if (get_i64(events, ei, 1) < sub.id)
				continue;
			rows->events =
			    grow(rows->events, &rows->events_cap, k + 1, sizeof(*rows->events));
			rc = read_consent(p, events, ei, &rows->events[k++]);
		}
		if (events) {
			/* non-NULL even when empty: NULL means "without events" */
			rows->events =
			    grow(rows->events, &rows->events_cap, 1, sizeof(*rows->events));
			item.events = rows->events;
			item.n_events = k;
		}
		if (rc == 0)
			rc = fn(arg, &item);
	}
	return rc;
}

/* The cursor walk of export_each, inside a transaction. */
static int export_walk(struct pg_store *p, int64_t list_id, int with_events, bl_export_fn fn,
                       void *arg)
{
	char lb[NUM_MAX];
	const char *lparam[] = {num(lb, list_id)};
	int rc;
	if (list_id)
		rc = exec(p, "export_each",
		          "DECLARE bl_export NO SCROLL CURSOR FOR SELECT " SUBSCRIBER_COLS
		          " FROM subscribers s WHERE EXISTS (SELECT 1 FROM subscriptions u "
		          "WHERE u.subscriber_id = s.id AND u.list_id = $1::bigint) ORDER BY s.id",
		          1, lparam);
	else
		rc = exec(p, "export_each",
		          "DECLARE bl_export NO SCROLL CURSOR FOR SELECT " SUBSCRIBER_COLS
		          " FROM subscribers s ORDER BY s.id",
		          0, NULL);
	if (rc)
		return rc;

	struct export_rows rows = {0};
	struct bl_buf ids;
	bl_buf_init(&ids, ARRAY_MAX);
	for (;;) {
		PGresult *page =
		    run(p, "export_each", "FETCH " XSTR(PAGE_ROWS) " FROM bl_export", 0, NULL);
		if (!page) {
			rc = -BL_ESTORE;
			break;
		}
		if (PQntuples(page) == 0) {
			PQclear(page);
			break;
		}
		array_start(&ids);
		for (int i = 0; i < PQntuples(page); i++)
			array_i64(&ids, get_i64(page, i, 0));
		bl_buf_addc(&ids, '}');
		const char *params[] = {bl_buf_str(&ids), lb};
		PGresult *subs =
		    run(p, "export_each",
		        list_id ? "SELECT " SUBSCRIPTION_COLS " FROM " SUBSCRIPTION_FROM
		                  " WHERE u.subscriber_id = ANY($1::bigint[])"
		                  " AND u.list_id = $2::bigint"
		                  " ORDER BY u.subscriber_id, l.slug"
		                : "SELECT " SUBSCRIPTION_COLS " FROM " SUBSCRIPTION_FROM
		                  " WHERE u.subscriber_id = ANY($1::bigint[])"
		                  " ORDER BY u.subscriber_id, l.slug",
		        list_id ? 2 : 1, params);
		PGresult *events = NULL;
		if (subs && with_events)
			events = run(p, "export_each",
			             "SELECT " CONSENT_COLS " FROM " CONSENT_FROM
			             " WHERE e.subscriber_id = ANY($1::bigint[])"
			             " ORDER BY e.subscriber_id, e.at, e.id",
			             1, params);
		if (bl_buf_err(&ids))
			rc = bl_store_set_error(&p->base, BL_ELIMIT, "export_each: page too large");
		else if (!subs || (with_events && !events))
			rc = -BL_ESTORE;
		else
			rc = export_page(p, page, subs, events, &rows, fn, arg);
		PQclear(events);
		PQclear(subs);
		PQclear(page);
		if (rc)
			break;
	}
	bl_buf_finish(&ids);
	free(rows.subs);
	free(rows.events);
	if (PQtransactionStatus(p->conn) == PQTRANS_INTRANS)
		quiet(p, "CLOSE bl_export");
	return rc;
}

/*
 * export_each reads through a cursor, PAGE_ROWS subscribers per FETCH, and
 * fetches their subscriptions and events with one query each per page. On
 * its own it runs in a REPEATABLE READ, READ ONLY transaction: one consistent
 * snapshot however long the export takes (the callback cannot write then).
 */
static int pg_export_each(struct bl_store *s, int64_t list_id, int with_events, bl_export_fn fn,
                          void *arg)
{
	struct pg_store *p = pg(s);
	int own = 0;
	switch (PQtransactionStatus(p->conn)) {
	case PQTRANS_IDLE:
		own = 1;
		break;
	case PQTRANS_INTRANS:
		break;
	default:
		return bl_store_set_error(s, BL_ESTORE,
		                          "export_each: the current transaction failed earlier; "
		                          "roll it back");
	}
	if (own) {
		int rc = exec(p, "export_each", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		              0, NULL);
		if (rc)
			return rc;
	}
	int rc = export_walk(p, list_id, with_events, fn, arg);
	if (own)
		quiet(p, "ROLLBACK"); /* read only: nothing to keep */
	return rc;
}

/* ---- posts and the delivery ledger (schema 2) ---------------------------------------------- */

// clang-format off
#define POST_COLS \
	"id, subject, body, from_header, priority, status, pause_reason, auto_paused, " \
	EPOCH("created_at") ", " EPOCH("scheduled_at") ", " EPOCH("started_at") ", " \
	EPOCH("finished_at") ", total, in_doubt, kind, format"
/* SQL: the bit of post status column @c, as in enum bl_post_status. */
#define STATUS_BIT(c) \
	"CASE " c " WHEN 'draft' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'sending' THEN 2 " \
	"WHEN 'paused' THEN 3 WHEN 'sent' THEN 4 WHEN 'cancelled' THEN 5 ELSE 30 END"
/* One statement: the status, and on cancel the rows that will not be sent. */
#define SET_STATUS_SQL \
	"WITH u AS (UPDATE posts SET status = $2, pause_reason = $3, " \
	"auto_paused = $4::boolean, finished_at = CASE WHEN $2 IN ('sent', 'cancelled') " \
	"THEN to_timestamp($5::bigint) ELSE finished_at END " \
	"WHERE id = $1::bigint AND ($6::bigint >> (" STATUS_BIT("status") ")) & 1 = 1 " \
	"RETURNING id, status), " \
	"c AS (UPDATE deliveries d SET state = 'suppressed', reply = 'post cancelled', " \
	"updated_at = to_timestamp($5::bigint) FROM u WHERE u.status = 'cancelled' " \
	"AND d.post_id = u.id AND d.state IN ('pending', 'deferred')), " \
	"r AS (UPDATE deliveries d SET next_try = to_timestamp($5::bigint) FROM u " \
	"WHERE $7::boolean AND u.status = 'sending' AND d.post_id = u.id " \
	"AND d.state = 'deferred' AND d.next_try > to_timestamp($5::bigint)) " \
	"SELECT count(*) FROM u"
/* The first retry due among the posts in status sending (one probe each), and whether any
 * sending or paused post has rows left. */
#define NEXT_DUE_SQL \
	"SELECT " EPOCH("min((SELECT d.next_try FROM deliveries d WHERE d.post_id = p.id " \
	"AND d.state = 'deferred' ORDER BY d.next_try LIMIT 1))") ", " \
	"(SELECT EXISTS (SELECT 1 FROM posts q WHERE q.status IN ('sending', 'paused') " \
	"AND EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = q.id " \
	"AND d.state IN ('pending', 'claimed', 'deferred')))) " \
	"FROM posts p WHERE p.status = 'sending'"
/* The columns read_delivery_row reads. */
#define DELIVERY_ROW_COLS \
	"d.id, d.post_id, d.subscriber_id, coalesce(s.email, ''), d.state, " \
	"d.attempts, d.in_doubt, d.code, d.reply, d.queue_id, d.relay, " \
	EPOCH("d.updated_at") ", " EPOCH("d.next_try")
/* A page of post $1's rows after id $2, at most $3, in state $4 (NULL: any). */
#define DELIVERY_EACH_SQL \
	"SELECT " DELIVERY_ROW_COLS " " \
	"FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id " \
	"WHERE d.post_id = $1::bigint AND d.id > $2::bigint " \
	"AND ($4::text IS NULL OR d.state = $4) ORDER BY d.id LIMIT $3::bigint"
/* A page of subscriber $1's rows after id $2, with their posts' subjects. */
#define SUBSCRIBER_DELIVERIES_SQL \
	"SELECT " DELIVERY_ROW_COLS ", p.subject " \
	"FROM deliveries d JOIN posts p ON p.id = d.post_id " \
	"LEFT JOIN subscribers s ON s.id = d.subscriber_id " \
	"WHERE d.subscriber_id = $1::bigint AND d.id > $2::bigint " \
	"ORDER BY d.id LIMIT " XSTR(PAGE_ROWS)
// clang-format on

/* Fill @out from POST_COLS; strings malloc'd. */
static int read_post(struct pg_store *p, const PGresult *r, int row, struct bl_post *out)
{
	struct bl_post post = {0};
	const char *status = PQgetvalue(r, row, 5);
	if (bl_post_status_parse(status, &post.status))
		return bad_value(p, "post status", status);
	post.id = get_i64(r, row, 0);
	post.priority = (enum bl_priority)get_i64(r, row, 4);
	post.auto_paused = strcmp(PQgetvalue(r, row, 7), "t") == 0;
	post.created_at = get_i64(r, row, 8);
	post.scheduled_at = get_i64(r, row, 9);
	post.started_at = get_i64(r, row, 10);
	post.finished_at = get_i64(r, row, 11);
	post.total = get_i64(r, row, 12);
	post.in_doubt = get_i64(r, row, 13);
	const char *kind = PQgetvalue(r, row, 14);
	if (bl_post_kind_parse(kind, &post.kind))
		return bad_value(p, "post kind", kind);
	const char *format = PQgetvalue(r, row, 15);
	if (bl_post_format_parse(format, &post.format))
		return bad_value(p, "post format", format);
	post.subject = get_str(r, row, 1, 1);
	post.body = get_str(r, row, 2, 1);
	post.from_header = get_str(r, row, 3, 1);
	post.pause_reason = get_str(r, row, 6, 1);
	*out = post;
	return 0;
}

static int post_create(struct pg_store *p, const struct bl_post *post, const int64_t *list_ids,
                       size_t n_lists, int64_t created_at, int64_t *id)
{
	struct bl_buf ids;
	bl_buf_init(&ids, ARRAY_MAX);
	array_start(&ids);
	for (size_t i = 0; i < n_lists; i++)
		array_i64(&ids, list_ids[i]);
	bl_buf_addc(&ids, '}');
	if (bl_buf_err(&ids)) {
		bl_buf_finish(&ids);
		return bl_store_set_error(&p->base, BL_ELIMIT, "post_create: too many lists");
	}
	const char *lparam[] = {bl_buf_str(&ids)};
	/* The first list id given that does not exist, if any. */
	PGresult *res = run(p, "post_create",
	                    "SELECT i FROM unnest($1::bigint[]) AS t(i) "
	                    "WHERE NOT EXISTS (SELECT 1 FROM lists l WHERE l.id = t.i) LIMIT 1",
	                    1, lparam);
	int rc = res ? 0 : -BL_ESTORE;
	if (res && PQntuples(res) > 0)
		rc = bl_store_set_error(&p->base, BL_ENOENT, "there is no list with id %s",
		                        PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rc == 0) {
		char pb[NUM_MAX], cb[NUM_MAX], sb[NUM_MAX], stb[NUM_MAX], tb[NUM_MAX];
		const char *params[] = {nz(post->subject),
		                        nz(post->body),
		                        nz(post->from_header),
		                        num(pb, post->priority),
		                        bl_post_status_name(post->status),
		                        nz(post->pause_reason),
		                        post->auto_paused ? "t" : "f",
		                        num(cb, created_at),
		                        id_param(sb, post->scheduled_at),
		                        bl_buf_str(&ids),
		                        bl_post_kind_name(post->kind),
		                        id_param(stb, post->started_at),
		                        num(tb, post->total),
		                        bl_post_format_name(post->format)};
		res = run(
		    p, "post_create",
		    "WITH p AS (INSERT INTO posts (subject, body, from_header, priority, status, "
		    "pause_reason, auto_paused, created_at, scheduled_at, kind, started_at, total, "
		    "format) VALUES ($1, $2, $3, $4::integer, $5, $6, $7::boolean, "
		    "to_timestamp($8::bigint), to_timestamp($9::bigint), $11, "
		    "to_timestamp($12::bigint), $13::bigint, $14) RETURNING id), "
		    "l AS (INSERT INTO post_lists (post_id, list_id) "
		    "SELECT DISTINCT p.id, t.i FROM p, unnest($10::bigint[]) AS t(i)) "
		    "SELECT id FROM p",
		    14, params);
		if (!res)
			rc = -BL_ESTORE;
		else
			*id = get_i64(res, 0, 0);
		PQclear(res);
	}
	bl_buf_finish(&ids);
	return rc;
}

static int pg_post_create(struct bl_store *s, struct bl_post *post, const int64_t *list_ids,
                          size_t n_lists)
{
	struct pg_store *p = pg(s);
	if (n_lists == 0)
		return bl_store_set_error(s, BL_EINVAL, "a post needs at least one list");
	if (post->status != BL_POST_DRAFT && post->status != BL_POST_SCHEDULED)
		return bl_store_set_error(s, BL_EINVAL,
		                          "a new post is a draft or scheduled, not %s",
		                          bl_post_status_name(post->status));
	if ((unsigned)post->priority > BL_PRIORITY_TRANSACTIONAL)
		return bl_store_set_error(s, BL_EINVAL, "unknown post priority %d",
		                          (int)post->priority);
	if ((unsigned)post->format > BL_POST_FORMAT_HTML)
		return bl_store_set_error(s, BL_EINVAL, "unknown post format %d",
		                          (int)post->format);
	if (post->kind != BL_POST_KIND_POST)
		return bl_store_set_error(s, BL_EINVAL,
		                          "post_create makes posts of kind post only, not %s",
		                          bl_post_kind_name(post->kind));
	int64_t created_at = post->created_at ? post->created_at : bl_now(), id = 0;
	struct bl_post row = *post;
	row.started_at = row.total = 0;
	enum scope sc;
	int rc = scope_begin(p, "post_create", &sc);
	if (rc)
		return rc;
	rc = scope_end(p, "post_create", sc,
	               post_create(p, &row, list_ids, n_lists, created_at, &id));
	if (rc == 0) {
		post->id = id;
		post->created_at = created_at;
	}
	return rc;
}

static int pg_post_get(struct bl_store *s, int64_t id, struct bl_post *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	PGresult *res =
	    run(p, "post_get", "SELECT " POST_COLS " FROM posts WHERE id = $1::bigint", 1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0) {
		rc = read_post(p, res, 0, out);
		if (rc == 0)
			rc = 1;
	}
	PQclear(res);
	return rc;
}

static int pg_post_each(struct bl_store *s, bl_post_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	PGresult *res =
	    run(p, "post_each", "SELECT " POST_COLS " FROM posts ORDER BY id DESC", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_post post;
		rc = read_post(p, res, i, &post);
		if (rc == 0) {
			rc = fn(arg, &post);
			bl_post_clear(&post);
		}
	}
	PQclear(res);
	return rc;
}

static int pg_post_lists(struct bl_store *s, int64_t post_id, bl_list_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, post_id)};
	PGresult *res =
	    run(p, "post_lists",
	        "SELECT " LIST_COLS " FROM post_lists pl JOIN lists l ON l.id = pl.list_id "
	        "WHERE pl.post_id = $1::bigint ORDER BY l.slug",
	        1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_list l;
		rc = read_list(p, res, i, 0, &l);
		if (rc == 0)
			rc = fn(arg, &l);
	}
	PQclear(res);
	return rc;
}

static int pg_post_set_status(struct bl_store *s, int64_t id, unsigned from_mask,
                              enum bl_post_status to, const char *reason, int auto_paused,
                              int64_t now)
{
	struct pg_store *p = pg(s);
	if ((unsigned)to > BL_POST_CANCELLED)
		return bl_store_set_error(s, BL_EINVAL, "unknown post status %d", (int)to);
	char ib[NUM_MAX], nb[NUM_MAX], mb[NUM_MAX];
	int resume = to == BL_POST_SENDING && from_mask == 1u << BL_POST_PAUSED;
	const char *params[] = {
	    num(ib, id),  bl_post_status_name(to), nz(reason),        auto_paused ? "t" : "f",
	    num(nb, now), num(mb, from_mask),      resume ? "t" : "f"};
	PGresult *res = run(p, "post_set_status", SET_STATUS_SQL, 7, params);
	if (!res)
		return -BL_ESTORE;
	int changed = get_i64(res, 0, 0) > 0;
	PQclear(res);
	return changed;
}

static int queue(struct pg_store *p, int64_t id, int64_t now, int64_t *total)
{
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, id), num(nb, now)};
	PGresult *res = run(
	    p, "post_queue",
	    "SELECT status, priority, kind FROM posts WHERE id = $1::bigint FOR UPDATE", 1, params);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	int is_post = found && strcmp(PQgetvalue(res, 0, 2), "post") == 0;
	enum bl_post_status status = BL_POST_DRAFT;
	if (found && bl_post_status_parse(PQgetvalue(res, 0, 0), &status)) {
		int rc = bad_value(p, "post status", PQgetvalue(res, 0, 0));
		PQclear(res);
		return rc;
	}
	PQclear(res);
	if (!found)
		return bl_store_set_error(&p->base, BL_ENOENT, "there is no post %" PRId64, id);
	if (!is_post || (status != BL_POST_DRAFT && status != BL_POST_SCHEDULED))
		return 0;
	/*
	 * One row per distinct subscriber: active, and confirmed in instant mode
	 * on at least one of the post's lists. All in the server.
	 */
	long long n = 0;
	int rc = exec_count(p, "post_queue",
	                    "INSERT INTO deliveries (post_id, subscriber_id, priority, state, "
	                    "next_try, created_at, updated_at) "
	                    "SELECT DISTINCT p.id, x.subscriber_id, p.priority, 'pending', "
	                    "to_timestamp($2::bigint), to_timestamp($2::bigint), "
	                    "to_timestamp($2::bigint) "
	                    "FROM posts p JOIN post_lists pl ON pl.post_id = p.id "
	                    "JOIN subscriptions x ON x.list_id = pl.list_id "
	                    "AND x.status = 'confirmed' AND " TAKES_AT_ONCE " "
	                    "JOIN subscribers s ON s.id = x.subscriber_id AND s.status = 'active' "
	                    "WHERE p.id = $1::bigint",
	                    2, params, &n);
	if (rc)
		return rc;
	char tb[NUM_MAX];
	const char *up[] = {ib, nb, num(tb, n)};
	rc = exec(p, "post_queue",
	          "UPDATE posts SET status = 'sending', started_at = to_timestamp($2::bigint), "
	          "pause_reason = '', "
	          "total = $3::bigint WHERE id = $1::bigint",
	          3, up);
	if (rc)
		return rc;
	*total = n;
	return 1;
}

static int pg_post_queue(struct bl_store *s, int64_t id, int64_t now, int64_t *total)
{
	struct pg_store *p = pg(s);
	enum scope sc;
	int rc = scope_begin(p, "post_queue", &sc);
	if (rc)
		return rc;
	int64_t n = 0;
	int queued = queue(p, id, now, &n);
	rc = scope_end(p, "post_queue", sc, queued < 0 ? queued : 0);
	if (rc)
		return rc;
	if (queued == 1 && total)
		*total = n;
	return queued;
}

static int pg_delivery_counts(struct bl_store *s, int64_t post_id, struct bl_delivery_counts *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, post_id)};
	/* One statement, one snapshot: the counts and the in-doubt number agree. */
	PGresult *res = run(p, "delivery_counts",
	                    "SELECT state, count(*) FROM deliveries WHERE post_id = $1::bigint "
	                    "GROUP BY state UNION ALL "
	                    "SELECT '', in_doubt FROM posts WHERE id = $1::bigint",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	struct bl_delivery_counts c = {.in_doubt = 0};
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		enum bl_delivery_state state;
		if (!*name)
			c.in_doubt = get_i64(res, i, 1);
		else if (bl_delivery_state_parse(name, &state) == 0)
			c.n[state] = get_i64(res, i, 1);
	}
	PQclear(res);
	*out = c;
	return 0;
}

/*
 * Row @i of @res (DELIVERY_ROW_COLS, then the post's subject when @subject)
 * into @d, strings borrowed from @res. -1 for a state this model does not
 * know: the row is skipped.
 */
static int read_delivery_row(const PGresult *res, int i, int subject, struct bl_delivery_row *d)
{
	*d = (struct bl_delivery_row){
	    .id = get_i64(res, i, 0),
	    .post_id = get_i64(res, i, 1),
	    .subscriber_id = get_i64(res, i, 2),
	    .email = PQgetvalue(res, i, 3),
	    .attempts = (int)get_i64(res, i, 5),
	    .in_doubt = strcmp(PQgetvalue(res, i, 6), "t") == 0,
	    .code = (int)get_i64(res, i, 7),
	    .reply = PQgetvalue(res, i, 8),
	    .queue_id = PQgetvalue(res, i, 9),
	    .relay = PQgetvalue(res, i, 10),
	    .updated_at = get_i64(res, i, 11),
	    .next_try = get_i64(res, i, 12),
	    .post_subject = subject ? PQgetvalue(res, i, 13) : NULL,
	};
	return bl_delivery_state_parse(PQgetvalue(res, i, 4), &d->state);
}

/*
 * delivery_each walks in keyset pages (id > last id seen), like
 * subscriber_each: no transaction, and the callback may use the store.
 */
static int pg_delivery_each(struct bl_store *s, int64_t post_id, int state, int64_t after_id,
                            int64_t limit, bl_delivery_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	if (state < -1 || state >= BL_DELIVERY_NSTATES)
		return bl_store_set_error(s, BL_EINVAL, "unknown delivery state %d", state);
	char ib[NUM_MAX], ab[NUM_MAX], lb[NUM_MAX];
	const char *params[] = {num(ib, post_id), ab, lb,
	                        state >= 0 ? bl_delivery_state_name((enum bl_delivery_state)state)
	                                   : NULL};
	int64_t last = after_id, left = limit;
	int rc = 0;
	for (;;) {
		int64_t want = left > 0 && left < PAGE_ROWS ? left : PAGE_ROWS;
		num(ab, last);
		num(lb, want);
		PGresult *res = run(p, "delivery_each", DELIVERY_EACH_SQL, 4, params);
		if (!res) {
			rc = -BL_ESTORE;
			break;
		}
		int rows = PQntuples(res);
		for (int i = 0; rc == 0 && i < rows; i++) {
			struct bl_delivery_row d;
			int known = read_delivery_row(res, i, 0, &d) == 0;
			last = d.id;
			if (known)
				rc = fn(arg, &d);
		}
		PQclear(res);
		if (rc || rows < want)
			break;
		if (limit > 0 && (left -= rows) == 0)
			break;
	}
	return rc;
}

static int pg_delivery_accepted_since(struct bl_store *s, int64_t post_id, int64_t since,
                                      int64_t *out)
{
	char ib[NUM_MAX], sb[NUM_MAX];
	const char *params[] = {num(ib, post_id), num(sb, since)};
	PGresult *res = run(pg(s), "delivery_accepted_since",
	                    "SELECT count(*) FROM deliveries WHERE post_id = $1::bigint "
	                    "AND state = 'accepted' AND updated_at >= to_timestamp($2::bigint)",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	*out = get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* ---- the delivery engine ------------------------------------------------------------------- */

/* PostgreSQL runs any number of engines: SKIP LOCKED keeps their claims apart. */
static int pg_engine_lock(struct bl_store *s, const char *worker)
{
	(void)s;
	(void)worker;
	return 0;
}

static int pg_delivery_reclaim(struct bl_store *s, int64_t now, int all, int64_t *n)
{
	struct pg_store *p = pg(s);
	char nb[NUM_MAX];
	const char *params[] = {num(nb, now), all ? "t" : "f"};
	/* One statement: the rows and their posts' in-doubt counts. */
	PGresult *res = run(p, "delivery_reclaim",
	                    "WITH r AS (UPDATE deliveries d SET "
	                    "state = CASE WHEN p.status = 'cancelled' THEN 'suppressed' "
	                    "ELSE 'pending' END, "
	                    "reply = CASE WHEN p.status = 'cancelled' THEN 'post cancelled' "
	                    "ELSE d.reply END, "
	                    "in_doubt = true, worker = NULL, lease_until = NULL, "
	                    "next_try = to_timestamp($1::bigint), "
	                    "updated_at = to_timestamp($1::bigint) FROM posts p "
	                    "WHERE p.id = d.post_id AND d.state = 'claimed' "
	                    "AND ($2::boolean OR d.lease_until < to_timestamp($1::bigint)) "
	                    "RETURNING d.post_id), "
	                    "t AS (SELECT post_id, count(*) AS n FROM r GROUP BY post_id), "
	                    "u AS (UPDATE posts p SET in_doubt = p.in_doubt + t.n FROM t "
	                    "WHERE p.id = t.post_id) "
	                    "SELECT coalesce(sum(n), 0) FROM t",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	if (n)
		*n = get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Record @n results; adds the ones not applied (row not claimed by @worker) to *@stale. */
static int record_results(struct pg_store *p, const char *worker, const char *now,
                          const struct bl_delivery_result *results, size_t n, size_t *stale)
{
	struct columns c;
	columns_init(&c);
	columns_start(&c, 7);
	size_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bl_delivery_result *r = &results[i];
		char reply[BL_REPLY_MAX + 1];
		/* A row given twice: the first result counts, as if applied in order. */
		size_t j = 0;
		while (j < i && results[j].delivery_id != r->delivery_id)
			j++;
		if (j < i) {
			(*stale)++;
			continue;
		}
		sent++;
		array_i64(&c.col[0], r->delivery_id);
		array_str(&c.col[1], bl_delivery_state_name(r->state));
		array_i64(&c.col[2], r->code);
		array_str(&c.col[3], bl_store_cut_reply(r->reply, reply));
		array_str(&c.col[4], nz(r->queue_id));
		array_str(&c.col[5], nz(r->relay));
		array_i64(&c.col[6], r->next_try);
	}
	int rc = columns_end(p, &c);
	if (rc == 0) {
		const char *params[] = {c.param[0], c.param[1], c.param[2], c.param[3], c.param[4],
		                        c.param[5], c.param[6], worker,     now};
		PGresult *res = run_prepared(p, "delivery_exchange: recording results",
		                             PS_X_RESULTS, 9, params);
		if (!res)
			rc = -BL_ESTORE;
		else
			*stale += sent - (size_t)PQntuples(res);
		PQclear(res);
	}
	columns_finish(&c);
	return rc;
}

static struct claim_hint *hint_of(struct pg_store *p, int64_t post_id)
{
	for (int i = 0; i < HINTS; i++)
		if (p->hint[i].post_id == post_id)
			return &p->hint[i];
	return NULL;
}

/* Remember @h after a committed turn, replacing the oldest slot for a new post. */
static void hint_set(struct pg_store *p, const struct claim_hint *h)
{
	struct claim_hint *slot = hint_of(p, h->post_id);
	if (!slot)
		slot = &p->hint[p->next_hint++ % HINTS];
	*slot = *h;
}

/*
 * Claim up to @want due rows of post @post_id into @out (appending at
 * *@n_out). Sets *@h to the position of the last pending row taken
 * (post_id 0: none).
 */
static int claim_post(struct pg_store *p, int64_t post_id, enum bl_post_kind kind,
                      const char *worker, const char *now, const char *lease, size_t want,
                      struct bl_claimed *out, size_t *n_out, struct claim_hint *h)
{
	enum pstmt claim = kind == BL_POST_KIND_CONFIRM  ? PS_X_CLAIM_CONFIRM
	                   : kind == BL_POST_KIND_DIGEST ? PS_X_CLAIM_DIGEST
	                   : kind == BL_POST_KIND_PROBE  ? PS_X_CLAIM_PROBE
	                                                 : PS_X_CLAIM;
	const struct claim_hint *known = hint_of(p, post_id);
	struct claim_hint from = known ? *known : (struct claim_hint){post_id, 0, 0};
	int from_start = !known;
	h->post_id = 0;
	char pb[NUM_MAX];
	num(pb, post_id);
	while (want > 0) {
		char wb[NUM_MAX], tb[NUM_MAX], ib[NUM_MAX];
		const char *params[] = {pb,
		                        now,
		                        num(wb, (int64_t)want),
		                        worker,
		                        lease,
		                        num(tb, from.next_try),
		                        num(ib, from.id)};
		PGresult *res =
		    run_prepared(p, "delivery_exchange: claiming deliveries", claim, 7, params);
		if (!res)
			return -BL_ESTORE;
		int rows = PQntuples(res);
		for (int i = 0; i < rows; i++) {
			if (strcmp(PQgetvalue(res, i, 10), "p") == 0)
				from = *h = (struct claim_hint){post_id, get_i64(res, i, 11),
				                                get_i64(res, i, 0)};
			if (!PQgetisnull(res, i, 9))
				continue; /* suppressed at claim time */
			out[(*n_out)++] = (struct bl_claimed){
			    .delivery_id = get_i64(res, i, 0),
			    .post_id = post_id,
			    .subscriber_id = get_i64(res, i, 1),
			    .list_id = get_i64(res, i, 2),
			    .attempts = (int)get_i64(res, i, 3),
			    .first_try_at = get_i64(res, i, 4),
			    .in_doubt = strcmp(PQgetvalue(res, i, 5), "t") == 0,
			    .email = get_str(res, i, 6, 1),
			    .name = get_str(res, i, 7, 1),
			    .attributes = get_str(res, i, 8, 1),
			};
			want--;
		}
		PQclear(res);
		if ((size_t)rows < strtoull(wb, NULL, 10)) {
			if (from_start)
				break; /* no more due rows this engine may take */
			/* Short after the hint: walk from the start, once. */
			from_start = 1;
			from.next_try = from.id = 0;
		}
	}
	return 0;
}

/*
 * The turn; the posts claimed from and their new hints go to @claimed
 * (@n_claimed of them), applied by the caller once the turn is committed.
 */
static int exchange(struct pg_store *p, const char *worker, int64_t now, int64_t lease_until,
                    const struct bl_delivery_result *results, size_t n_results, size_t max,
                    struct bl_claimed *out, size_t *n_out, size_t *stale, size_t *finished,
                    struct claim_hint *claimed, size_t *n_claimed)
{
	char nb[NUM_MAX], lb[NUM_MAX];
	num(nb, now);
	num(lb, lease_until);
	int rc = 0;
	if (n_results > 0 && (rc = record_results(p, worker, nb, results, n_results, stale)))
		return rc;
	struct bl_buf skip;
	bl_buf_init(&skip, 0);
	array_start(&skip);
	if (max > 0) {
		PGresult *posts = run_prepared(p, "delivery_exchange: listing the posts being sent",
		                               PS_X_POSTS, 0, NULL);
		if (!posts)
			rc = -BL_ESTORE;
		for (int i = 0; rc == 0 && posts && i < PQntuples(posts) && *n_out < max; i++) {
			int64_t post_id = get_i64(posts, i, 0);
			enum bl_post_kind kind = BL_POST_KIND_POST;
			bl_post_kind_parse(PQgetvalue(posts, i, 1), &kind);
			size_t before = *n_out;
			struct claim_hint h;
			rc = claim_post(p, post_id, kind, worker, nb, lb, max - *n_out, out, n_out,
			                &h);
			/* A confirmation post has one row: no place worth a hint slot. */
			if (rc == 0 && h.post_id && kind == BL_POST_KIND_POST && *n_claimed < HINTS)
				claimed[(*n_claimed)++] = h;
			if (*n_out > before)
				array_i64(&skip, post_id); /* it has claimed rows: not finished */
		}
		PQclear(posts);
	}
	bl_buf_addc(&skip, '}');
	if (rc == 0) {
		const char *params[] = {nb, bl_buf_str(&skip)};
		PGresult *res =
		    run_prepared(p, "delivery_exchange: finishing posts", PS_X_FINISH, 2, params);
		if (!res)
			rc = -BL_ESTORE;
		else
			*finished = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	bl_buf_finish(&skip);
	return rc;
}

static int pg_delivery_exchange(struct bl_store *s, const char *worker, int64_t now,
                                int64_t lease_until, const struct bl_delivery_result *results,
                                size_t n_results, size_t max, struct bl_claimed *out, size_t *n_out,
                                size_t *stale, size_t *finished)
{
	struct pg_store *p = pg(s);
	int rc = bl_store_check_exchange(s, worker, results, n_results, max, out, n_out);
	if (rc)
		return rc;
	size_t got = 0, n_stale = 0, n_finished = 0;
	enum scope sc;
	if (PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
		/*
		 * The engine's statements run on generic plans: planning the claim
		 * costs more than running it, and PostgreSQL would keep choosing
		 * custom plans (a generic LIMIT $n is costed as a tenth of the
		 * table). Same round trip as the BEGIN.
		 */
		sc = SCOPE_TX;
		PGresult *res =
		    PQexec(p->conn, "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan");
		rc =
		    PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail(p, res, "delivery_exchange");
		PQclear(res);
		if (rc) {
			quiet(p, "ROLLBACK");
			return rc;
		}
	} else if ((rc = scope_begin(p, "delivery_exchange", &sc))) {
		return rc;
	}
	struct claim_hint claimed[HINTS];
	size_t n_claimed = 0;
	rc = exchange(p, worker, now, lease_until, results, n_results, max, out, &got, &n_stale,
	              &n_finished, claimed, &n_claimed);
	rc = scope_end(p, "delivery_exchange", sc, rc);
	for (size_t i = 0; rc == 0 && i < n_claimed; i++)
		hint_set(p, &claimed[i]);
	if (rc) {
		for (size_t i = 0; i < got; i++)
			bl_claimed_clear(&out[i]);
		got = n_stale = n_finished = 0;
	}
	if (n_out)
		*n_out = got;
	if (stale)
		*stale = n_stale;
	if (finished)
		*finished = n_finished;
	return rc;
}

static int pg_queue_next_due(struct bl_store *s, int64_t *next_try, int *waiting)
{
	PGresult *res = run(pg(s), "queue_next_due", NEXT_DUE_SQL, 0, NULL);
	if (!res)
		return -BL_ESTORE;
	*next_try = get_i64(res, 0, 0);
	if (waiting)
		*waiting = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	return 0;
}

/* ---- the public web (schema 3) ------------------------------------------------------------ */

// clang-format off
/* SQL: post p is one the archive shows (posts_archive's condition, word for word). */
#define ARCHIVED "p.kind = 'post' AND p.status IN ('sending', 'paused', 'sent')"
/*
 * SQL: post p is on a public list / on list $3. Scalar subqueries, not
 * EXISTS: the planner turns an EXISTS into a merge join that walks
 * post_lists backwards from the newest post, through every confirmation
 * post's rows (100 ms with 200,000 of them, measured), instead of a probe per
 * post along posts_archive (0.2 ms).
 */
#define ON_PUBLIC_LIST \
	"(SELECT 1 FROM post_lists pl JOIN lists l ON l.id = pl.list_id " \
	"WHERE pl.post_id = p.id AND l.visibility = 'public' LIMIT 1) IS NOT NULL"
#define ON_LIST_3 \
	"(SELECT 1 FROM post_lists pl WHERE pl.post_id = p.id AND pl.list_id = $3::bigint) " \
	"IS NOT NULL"
/* SQL: the rows of post p accepted in [$1 - 60, $1], from deliveries_accepted. */
#define ACCEPTED_IN_MINUTE \
	"(SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'accepted' " \
	"AND d.updated_at BETWEEN to_timestamp($1::bigint - 60) AND to_timestamp($1::bigint))"
/*
 * The counts of struct bl_stats in rows (what, name, count). Subscribers and
 * subscriptions from the maintained counts (schema 5: O(lists)). The accepted
 * rows of the last minute: a seek of deliveries_accepted per post that can
 * have such rows (sending, paused or cancelled, or sent since then, along
 * posts_sent: a post is sent after its last result).
 */
#define STATS_SQL \
	"SELECT 's', substr(name, 13), n FROM counters WHERE name LIKE 'subscribers\\_%' " \
	"UNION ALL SELECT 'x', 'unconfirmed', coalesce(sum(unconfirmed), 0) FROM list_counts " \
	"UNION ALL SELECT 'x', 'confirmed', coalesce(sum(confirmed), 0) FROM list_counts " \
	"UNION ALL SELECT 'x', 'unsubscribed', coalesce(sum(unsubscribed), 0) FROM list_counts " \
	"UNION ALL SELECT 'd', state, count(*) FROM deliveries GROUP BY state " \
	"UNION ALL SELECT 'p', '', count(*) FROM posts WHERE status = 'sending' " \
	"UNION ALL SELECT 'a', '', coalesce(sum(" ACCEPTED_IN_MINUTE "), 0) FROM posts p " \
	"WHERE p.status IN ('sending', 'paused', 'cancelled') " \
	"UNION ALL SELECT 'a', '', coalesce(sum(" ACCEPTED_IN_MINUTE "), 0) FROM posts p " \
	"WHERE p.status = 'sent' AND p.finished_at >= to_timestamp($1::bigint - 60)"
/* The archive newest first along posts_archive, before id $1, at most $2 (NULL: all). */
#define ARCHIVE_SQL(on) \
	"SELECT " POST_COLS " FROM posts p WHERE " ARCHIVED " AND p.id < $1::bigint AND " on \
	" ORDER BY p.id DESC LIMIT $2::bigint"
/* SQL: consent events of subscriber $1 at $3 with ip $4, user agent $5, source $6, one per list
 * of u (a CTE with list_id), in list order. */
#define EVENTS_OF_U(kind) \
	"e AS (INSERT INTO consent_events (subscriber_id, list_id, kind, at, ip, user_agent, source) " \
	"SELECT $1::bigint, list_id, '" kind "', to_timestamp($3::bigint), $4, $5, $6 FROM u " \
	"ORDER BY list_id) SELECT count(*) FROM u"
// clang-format on

/* A consent event of subscriber @sub about @list_id (0: none) at @now, with @t's strings. */
static int add_event(struct pg_store *p, int64_t sub, int64_t list_id, enum bl_consent_kind kind,
                     int64_t now, const struct bl_ctx_text *t)
{
	struct bl_consent e = {.subscriber_id = sub,
	                       .list_id = list_id,
	                       .kind = kind,
	                       .at = now,
	                       .ip = t->ip,
	                       .user_agent = t->user_agent,
	                       .source = t->source};
	return pg_consent_add(&p->base, &e);
}

/*
 * Subscriber @sub's subscription to @list_id: 1 with *@status and *@mode, 0
 * when there is none, or -BL_E*.
 */
static int get_subscription(struct pg_store *p, int64_t sub, int64_t list_id,
                            enum bl_sub_status *status, enum bl_mode *mode)
{
	char sb[NUM_MAX], lb[NUM_MAX];
	const char *params[] = {num(sb, sub), num(lb, list_id)};
	PGresult *res = run(p, "reading a subscription",
	                    "SELECT status, mode FROM subscriptions "
	                    "WHERE subscriber_id = $1::bigint AND list_id = $2::bigint",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	int rc = PQntuples(res) > 0;
	if (rc && (bl_sub_status_parse(PQgetvalue(res, 0, 0), status) ||
	           bl_mode_parse(PQgetvalue(res, 0, 1), mode)))
		rc = bad_value(p, "subscription", PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* Write subscriber @sub's subscription to @list_id; an existing row keeps its created_at. */
static int put_subscription(struct pg_store *p, int64_t sub, int64_t list_id,
                            enum bl_sub_status status, enum bl_mode mode, int64_t now)
{
	char sb[NUM_MAX], lb[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(sb, sub), num(lb, list_id), bl_sub_status_name(status),
	                        bl_mode_name(mode), num(nb, now)};
	return exec(
	    p, "writing a subscription",
	    "INSERT INTO subscriptions (subscriber_id, list_id, status, mode, created_at, "
	    "updated_at) VALUES ($1::bigint, $2::bigint, $3, $4, to_timestamp($5::bigint), "
	    "to_timestamp($5::bigint)) ON CONFLICT (subscriber_id, list_id) DO UPDATE SET "
	    "status = excluded.status, mode = excluded.mode, updated_at = excluded.updated_at",
	    5, params);
}

/* Lift the suppression (erasure) of the address @email_key. */
static int lift_suppression(struct pg_store *p, const char *email_key)
{
	char hash[BL_HASH_HEX];
	bl_suppression_hash(email_key, hash);
	const char *params[] = {hash};
	return exec(p, "lifting a suppression", "DELETE FROM suppressions WHERE hash = $1", 1,
	            params);
}

/*
 * Lock subscriber @sub's row until the transaction ends (web operations on
 * one subscriber take turns) and read it into @out, strings malloc'd: -1/0/1.
 */
static int lock_subscriber(struct pg_store *p, int64_t sub, struct bl_subscriber *out)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, sub)};
	PGresult *res =
	    run(p, "reading a subscriber",
	        "SELECT " SUBSCRIBER_COLS " FROM subscribers s WHERE s.id = $1::bigint FOR UPDATE",
	        1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = PQntuples(res) > 0;
	if (rc && (rc = read_subscriber(p, res, 0, 0, 1, out)) == 0)
		rc = 1;
	PQclear(res);
	return rc;
}

/*
 * The subscriber of address @in for a signup, its row locked until the
 * transaction ends: created when absent and @create (*@created = 1).
 * Returns 1 with @out filled (strings malloc'd), 0 when absent (and not
 * created), or -BL_E*.
 */
static int signup_subscriber(struct pg_store *p, const struct bl_signup *in, int create,
                             struct bl_subscriber *out, int *created)
{
	char nb[NUM_MAX];
	const char *params[] = {in->email_key, in->email, nz(in->name), num(nb, in->ctx.now)};
	/* An erasure may delete the row between the two statements: try again. */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (create) {
			/* A concurrent insert of the address waits here for the other transaction,
			 * then finds the row. */
			PGresult *res =
			    run(p, "adding a subscriber",
			        "INSERT INTO subscribers AS s (email, email_key, name, created_at, "
			        "updated_at) VALUES ($2, $1, $3, to_timestamp($4::bigint), "
			        "to_timestamp($4::bigint)) ON CONFLICT (email_key) DO NOTHING "
			        "RETURNING " SUBSCRIBER_COLS,
			        4, params);
			if (!res)
				return -BL_ESTORE;
			int rc = PQntuples(res) > 0;
			if (rc && (rc = read_subscriber(p, res, 0, 0, 1, out)) == 0) {
				*created = 1;
				rc = 1;
			}
			PQclear(res);
			if (rc)
				return rc;
		}
		PGresult *res =
		    run(p, "reading a subscriber",
		        "SELECT " SUBSCRIBER_COLS " FROM subscribers s WHERE s.email_key = $1 "
		        "FOR UPDATE",
		        1, params);
		if (!res)
			return -BL_ESTORE;
		int rc = PQntuples(res) > 0;
		if (rc && (rc = read_subscriber(p, res, 0, 0, 1, out)) == 0)
			rc = 1;
		PQclear(res);
		if (rc || !create)
			return rc;
	}
	return bl_store_set_error(&p->base, BL_EBUSY,
	                          "web_signup: the subscriber kept being erased under us");
}

/* The lists of @in, each once, with their opt-in; -BL_ENOENT names a missing one. */
static int signup_lists(struct pg_store *p, const struct bl_signup *in, int64_t *ids,
                        enum bl_optin *optin, size_t *n)
{
	*n = 0;
	if (in->n_lists == 0)
		return 0;
	struct bl_buf arr;
	bl_buf_init(&arr, ARRAY_MAX);
	array_start(&arr);
	for (size_t i = 0; i < in->n_lists; i++)
		array_i64(&arr, in->list_ids[i]);
	bl_buf_addc(&arr, '}');
	const char *params[] = {bl_buf_str(&arr)};
	PGresult *res = bl_buf_err(&arr)
	                    ? NULL
	                    : run(p, "looking up lists",
	                          "SELECT t.i, l.optin FROM unnest($1::bigint[]) WITH ORDINALITY "
	                          "AS t(i, o) LEFT JOIN lists l ON l.id = t.i ORDER BY t.o",
	                          1, params);
	int rc = res ? 0
	         : bl_buf_err(&arr)
	             ? bl_store_set_error(&p->base, BL_ELIMIT, "web_signup: too many lists")
	             : -BL_ESTORE;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		int64_t id = get_i64(res, i, 0);
		if (PQgetisnull(res, i, 1)) {
			rc = bl_store_set_error(&p->base, BL_ENOENT,
			                        "there is no list with id %" PRId64, id);
			break;
		}
		size_t j = 0;
		while (j < *n && ids[j] != id)
			j++;
		if (j < *n)
			continue;
		if (bl_optin_parse(PQgetvalue(res, i, 1), &optin[*n]))
			rc = bad_value(p, "list opt-in", PQgetvalue(res, i, 1));
		ids[(*n)++] = id;
	}
	PQclear(res);
	bl_buf_finish(&arr);
	return rc;
}

/* The confirmation post of a signup: one row for subscriber @sub, lists @lists. */
static int make_confirm_post(struct pg_store *p, int64_t sub, const int64_t *lists, size_t n,
                             const char *subject, int64_t now, int64_t *post_id)
{
	struct bl_post post = {.kind = BL_POST_KIND_CONFIRM,
	                       .subject = (char *)nz(subject),
	                       .body = "",
	                       .from_header = "",
	                       .priority = BL_PRIORITY_TRANSACTIONAL,
	                       .status = BL_POST_SENDING,
	                       .started_at = now,
	                       .total = 1};
	int rc = post_create(p, &post, lists, n, now, post_id);
	if (rc)
		return rc;
	char ib[NUM_MAX], sb[NUM_MAX], nb[NUM_MAX], pb[NUM_MAX];
	const char *params[] = {num(ib, *post_id), num(sb, sub), num(nb, now),
	                        num(pb, BL_PRIORITY_TRANSACTIONAL)};
	return exec(p, "queueing a confirmation mail",
	            "INSERT INTO deliveries (post_id, subscriber_id, priority, state, next_try, "
	            "created_at, updated_at) VALUES ($1::bigint, $2::bigint, $4::integer, "
	            "'pending', to_timestamp($3::bigint), to_timestamp($3::bigint), "
	            "to_timestamp($3::bigint))",
	            4, params);
}

/* The lists a confirmation mail asks for. */
struct id_list {
	int64_t *v;
	size_t n, cap;
};

static void id_list_add(struct id_list *l, int64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = bl_xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = id;
}

static int signup(struct pg_store *p, const struct bl_signup *in, struct bl_signup_result *r,
                  int64_t *ids, enum bl_optin *optin, struct id_list *pending)
{
	struct bl_ctx_text t;
	bl_store_ctx_text(&in->ctx, &t);
	int64_t now = in->ctx.now;
	size_t n = 0;
	int rc = signup_lists(p, in, ids, optin, &n);
	if (rc)
		return rc;
	struct bl_subscriber sub = {0};
	int found = signup_subscriber(p, in, in->n_lists > 0, &sub, &r->created);
	if (found <= 0)
		return found;
	int64_t id = sub.id;
	int blocklisted = sub.status == BL_SUBSCRIBER_BLOCKLISTED;
	int unnamed = !*sub.name;
	bl_subscriber_clear(&sub);
	if (blocklisted) {
		r->blocklisted = 1;
		return 0;
	}
	if (!r->created && unnamed && in->name && *in->name) {
		char ib[NUM_MAX], nb[NUM_MAX];
		const char *params[] = {num(ib, id), in->name, num(nb, now)};
		if ((rc = exec(
		         p, "naming a subscriber",
		         "UPDATE subscribers SET name = $2, updated_at = to_timestamp($3::bigint) "
		         "WHERE id = $1::bigint",
		         3, params)))
			return rc;
	}
	/* An erased address (on the suppression list) comes back only through a confirmed
	 * address: on a single opt-in list too, anyone could have typed it. */
	int suppressed = 0;
	if (n > 0) {
		char hash[BL_HASH_HEX];
		bl_suppression_hash(in->email_key, hash);
		const char *hp[] = {hash};
		PGresult *res = run(p, "looking up the suppression list",
		                    "SELECT 1 FROM suppressions WHERE hash = $1", 1, hp);
		if (!res)
			return -BL_ESTORE;
		suppressed = PQntuples(res) > 0;
		PQclear(res);
	}
	for (size_t i = 0; i < n; i++) {
		enum bl_sub_status status = BL_SUB_UNSUBSCRIBED;
		enum bl_mode mode = BL_MODE_INSTANT;
		int has = get_subscription(p, id, ids[i], &status, &mode);
		if (has < 0)
			return has;
		if (has && status == BL_SUB_CONFIRMED) {
			r->n_already++;
			continue;
		}
		if ((rc = add_event(p, id, ids[i], BL_CONSENT_SIGNUP, now, &t)))
			return rc;
		if (optin[i] == BL_OPTIN_SINGLE && !suppressed) {
			if ((rc = put_subscription(p, id, ids[i], BL_SUB_CONFIRMED, BL_MODE_INSTANT,
			                           now)) ||
			    (rc = add_event(p, id, ids[i], BL_CONSENT_CONFIRM, now, &t)))
				return rc;
			r->n_subscribed++;
			continue;
		}
		/* Double opt-in: a pending subscription keeps its mode; a new or revived one is
		 * instant. */
		if ((!has || status == BL_SUB_UNSUBSCRIBED) &&
		    (rc =
		         put_subscription(p, id, ids[i], BL_SUB_UNCONFIRMED, BL_MODE_INSTANT, now)))
			return rc;
		id_list_add(pending, ids[i]);
	}
	char ib[NUM_MAX];
	num(ib, id);
	if (in->n_lists == 0) {
		/* A resend: every pending double opt-in subscription. */
		const char *params[] = {ib};
		PGresult *res = run(p, "listing pending subscriptions",
		                    "SELECT x.list_id FROM subscriptions x JOIN lists l "
		                    "ON l.id = x.list_id WHERE x.subscriber_id = $1::bigint "
		                    "AND x.status = 'unconfirmed' ORDER BY x.list_id",
		                    1, params);
		if (!res)
			return -BL_ESTORE;
		for (int i = 0; i < PQntuples(res); i++)
			id_list_add(pending, get_i64(res, i, 0));
		PQclear(res);
	}
	r->n_pending = pending->n;
	if (r->n_subscribed > 0 && (rc = lift_suppression(p, in->email_key)))
		return rc;
	if (pending->n > 0 && in->send_confirm) {
		int recent = 0;
		if (in->confirm_interval > 0) {
			char sb[NUM_MAX];
			const char *params[] = {ib, num(sb, now - in->confirm_interval)};
			/* A seek of deliveries_by_subscriber from the window's start. */
			PGresult *res =
			    run(p, "looking for a recent confirmation mail",
			        "SELECT EXISTS (SELECT 1 FROM deliveries d JOIN posts p "
			        "ON p.id = d.post_id WHERE d.subscriber_id = $1::bigint "
			        "AND d.created_at > to_timestamp($2::bigint) "
			        "AND p.kind = 'confirm')",
			        2, params);
			if (!res)
				return -BL_ESTORE;
			recent = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
			PQclear(res);
		}
		if (recent)
			r->throttled = 1;
		else if ((rc = make_confirm_post(p, id, pending->v, pending->n, in->confirm_subject,
		                                 now, &r->confirm_post_id)))
			return rc;
	}
	r->subscriber_id = id;
	return 0;
}

static int pg_web_signup(struct bl_store *s, const struct bl_signup *in,
                         struct bl_signup_result *out)
{
	struct pg_store *p = pg(s);
	int rc = bl_store_check_signup(s, in);
	if (rc)
		return rc;
	size_t cap = in->n_lists ? in->n_lists : 1;
	int64_t *ids = bl_xcalloc(cap, sizeof(*ids));
	enum bl_optin *optin = bl_xcalloc(cap, sizeof(*optin));
	struct id_list pending = {0};
	struct bl_signup_result r = {0};
	enum scope sc;
	if ((rc = scope_begin(p, "web_signup", &sc)) == 0)
		rc = scope_end(p, "web_signup", sc, signup(p, in, &r, ids, optin, &pending));
	free(ids);
	free(optin);
	free(pending.v);
	if (rc == 0)
		*out = r;
	return rc;
}

static int confirm(struct pg_store *p, int64_t sub_id, int64_t post,
                   const struct bl_consent_ctx *ctx, int64_t *n)
{
	struct bl_subscriber sub = {0};
	int rc = lock_subscriber(p, sub_id, &sub);
	if (rc <= 0)
		return rc;
	char sb[NUM_MAX], pb[NUM_MAX], nb[NUM_MAX];
	struct bl_ctx_text t;
	bl_store_ctx_text(ctx, &t);
	const char *params[] = {num(sb, sub_id), num(pb, post), num(nb, ctx ? ctx->now : 0), t.ip,
	                        t.user_agent,    t.source};
	PGresult *res = run(p, "looking up a confirmation mail",
	                    "SELECT EXISTS (SELECT 1 FROM posts p JOIN deliveries d "
	                    "ON d.post_id = p.id WHERE p.id = $2::bigint AND p.kind = 'confirm' "
	                    "AND d.subscriber_id = $1::bigint)",
	                    2, params);
	rc = res ? strcmp(PQgetvalue(res, 0, 0), "t") == 0 : -BL_ESTORE;
	PQclear(res);
	if (rc == 1) {
		res = run(p, "confirming subscriptions",
		          "WITH u AS (UPDATE subscriptions SET status = 'confirmed', "
		          "updated_at = to_timestamp($3::bigint) WHERE subscriber_id = $1::bigint "
		          "AND status = 'unconfirmed' AND list_id IN "
		          "(SELECT list_id FROM post_lists WHERE post_id = $2::bigint) "
		          "RETURNING list_id), " EVENTS_OF_U("confirm"),
		          6, params);
		rc = res ? 1 : -BL_ESTORE;
		if (res)
			*n = get_i64(res, 0, 0);
		PQclear(res);
	}
	if (rc == 1 && (rc = lift_suppression(p, sub.email_key)) == 0)
		rc = 1;
	bl_subscriber_clear(&sub);
	return rc;
}

/* An op on (subscriber, id) in its own transaction (or savepoint): its 1/0 result, and
 * *@n the rows it changed (0 unless found). */
typedef int (*counted_op)(struct pg_store *p, int64_t sub_id, int64_t id,
                          const struct bl_consent_ctx *ctx, int64_t *n);

static int counted_scope(struct pg_store *p, const char *what, counted_op op, int64_t sub_id,
                         int64_t id, const struct bl_consent_ctx *ctx, int64_t *n)
{
	int64_t count = 0;
	enum scope sc;
	int rc = scope_begin(p, what, &sc);
	if (rc)
		return rc;
	int found = op(p, sub_id, id, ctx, &count);
	if ((rc = scope_end(p, what, sc, found < 0 ? found : 0)))
		return rc;
	if (n)
		*n = found == 1 ? count : 0;
	return found;
}

static int pg_web_confirm(struct bl_store *s, int64_t subscriber_id, int64_t confirm_post_id,
                          const struct bl_consent_ctx *ctx, int64_t *n)
{
	return counted_scope(pg(s), "web_confirm", confirm, subscriber_id, confirm_post_id, ctx, n);
}

static int unsubscribe(struct pg_store *p, int64_t sub_id, int64_t list_id,
                       const struct bl_consent_ctx *ctx, int64_t *n)
{
	struct bl_subscriber sub = {0};
	int rc = lock_subscriber(p, sub_id, &sub);
	bl_subscriber_clear(&sub);
	if (rc <= 0)
		return rc;
	char sb[NUM_MAX], lb[NUM_MAX], nb[NUM_MAX];
	struct bl_ctx_text t;
	bl_store_ctx_text(ctx, &t);
	const char *params[] = {
	    num(sb, sub_id), num(lb, list_id), num(nb, ctx ? ctx->now : 0), t.ip,
	    t.user_agent,    t.source};
	PGresult *res =
	    run(p, "unsubscribing",
	        "WITH u AS (UPDATE subscriptions SET status = 'unsubscribed', "
	        "updated_at = to_timestamp($3::bigint) WHERE subscriber_id = $1::bigint "
	        "AND status IN ('confirmed', 'unconfirmed') "
	        "AND ($2::bigint = 0 OR list_id = $2::bigint) RETURNING list_id), " EVENTS_OF_U(
	            "unsubscribe"),
	        6, params);
	if (!res)
		return -BL_ESTORE;
	*n = get_i64(res, 0, 0);
	PQclear(res);
	return 1;
}

static int pg_web_unsubscribe(struct bl_store *s, int64_t subscriber_id, int64_t list_id,
                              const struct bl_consent_ctx *ctx, int64_t *n)
{
	return counted_scope(pg(s), "web_unsubscribe", unsubscribe, subscriber_id, list_id, ctx, n);
}

static int preferences(struct pg_store *p, int64_t sub_id, const char *name,
                       const struct bl_subscription_change *changes, size_t n,
                       const struct bl_consent_ctx *ctx)
{
	struct bl_ctx_text t;
	bl_store_ctx_text(ctx, &t);
	int64_t now = ctx ? ctx->now : 0;
	struct bl_subscriber sub = {0};
	int rc = lock_subscriber(p, sub_id, &sub);
	if (rc <= 0)
		return rc;
	rc = 0;
	char ib[NUM_MAX], nb[NUM_MAX];
	num(ib, sub_id);
	num(nb, now);
	if (name && strcmp(name, sub.name) != 0) {
		const char *params[] = {ib, name, nb};
		rc = exec(p, "renaming a subscriber",
		          "UPDATE subscribers SET name = $2, updated_at = to_timestamp($3::bigint) "
		          "WHERE id = $1::bigint",
		          3, params);
		if (rc == 0)
			rc = add_event(p, sub_id, 0, BL_CONSENT_PREFERENCE, now, &t);
	}
	int confirmed = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct bl_subscription_change *c = &changes[i];
		char lb[NUM_MAX];
		const char *lparam[] = {num(lb, c->list_id)};
		PGresult *res = run(p, "looking up a list",
		                    "SELECT 1 FROM lists WHERE id = $1::bigint", 1, lparam);
		if (!res) {
			rc = -BL_ESTORE;
			break;
		}
		int exists = PQntuples(res) > 0;
		PQclear(res);
		if (!exists) {
			rc = bl_store_set_error(&p->base, BL_ENOENT,
			                        "there is no list with id %" PRId64, c->list_id);
			break;
		}
		enum bl_sub_status status = BL_SUB_UNSUBSCRIBED;
		enum bl_mode mode = c->mode;
		int has = get_subscription(p, sub_id, c->list_id, &status, &mode);
		if (has < 0) {
			rc = has;
			break;
		}
		if (!has && c->status == BL_SUB_UNSUBSCRIBED)
			continue; /* not on the list, and not joining it: nothing to write */
		int new_status = !has || status != c->status, new_mode = has && mode != c->mode;
		if (!new_status && !new_mode)
			continue;
		if ((rc = put_subscription(p, sub_id, c->list_id, c->status, c->mode, now)))
			break;
		if (!has)
			rc = add_event(p, sub_id, c->list_id, BL_CONSENT_SIGNUP, now, &t);
		if (rc == 0 && new_status)
			rc = add_event(p, sub_id, c->list_id,
			               c->status == BL_SUB_CONFIRMED ? BL_CONSENT_CONFIRM
			                                             : BL_CONSENT_UNSUBSCRIBE,
			               now, &t);
		if (rc == 0 && new_mode)
			rc = add_event(p, sub_id, c->list_id, BL_CONSENT_PREFERENCE, now, &t);
		confirmed |= new_status && c->status == BL_SUB_CONFIRMED;
	}
	if (rc == 0 && confirmed)
		rc = lift_suppression(p, sub.email_key);
	bl_subscriber_clear(&sub);
	return rc ? rc : 1;
}

static int pg_web_preferences(struct bl_store *s, int64_t subscriber_id, const char *name,
                              const struct bl_subscription_change *changes, size_t n,
                              const struct bl_consent_ctx *ctx)
{
	struct pg_store *p = pg(s);
	int rc = bl_store_check_changes(s, changes, n);
	if (rc)
		return rc;
	enum scope sc;
	if ((rc = scope_begin(p, "web_preferences", &sc)))
		return rc;
	int found = preferences(p, subscriber_id, name, changes, n, ctx);
	rc = scope_end(p, "web_preferences", sc, found < 0 ? found : 0);
	return rc ? rc : found;
}

static int pg_subscriber_get_id(struct bl_store *s, int64_t id, struct bl_subscriber *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	PGresult *res =
	    run(p, "subscriber_get_id",
	        "SELECT " SUBSCRIBER_COLS " FROM subscribers s WHERE s.id = $1::bigint", 1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0) {
		struct bl_subscriber sub;
		rc = read_subscriber(p, res, 0, 0, 1, &sub);
		if (rc == 0) {
			*out = sub;
			rc = 1;
		}
	}
	PQclear(res);
	return rc;
}

/* Keyset pages of the subscriber's rows (id > last seen), like delivery_each. */
static int pg_subscriber_deliveries_each(struct bl_store *s, int64_t subscriber_id,
                                         bl_delivery_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX], ab[NUM_MAX];
	const char *params[] = {num(ib, subscriber_id), ab};
	int64_t last = 0;
	int rc = 0;
	for (;;) {
		num(ab, last);
		PGresult *res =
		    run(p, "subscriber_deliveries_each", SUBSCRIBER_DELIVERIES_SQL, 2, params);
		if (!res)
			return -BL_ESTORE;
		int rows = PQntuples(res);
		for (int i = 0; rc == 0 && i < rows; i++) {
			struct bl_delivery_row d;
			int known = read_delivery_row(res, i, 1, &d) == 0;
			last = d.id;
			if (known)
				rc = fn(arg, &d);
		}
		PQclear(res);
		if (rc || rows < PAGE_ROWS)
			return rc;
	}
}

static int pg_archive_each(struct bl_store *s, int64_t list_id, int64_t before_id, int64_t limit,
                           bl_post_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	char bb[NUM_MAX], nb[NUM_MAX], lb[NUM_MAX];
	const char *params[] = {num(bb, before_id > 0 ? before_id : INT64_MAX),
	                        limit > 0 ? num(nb, limit) : NULL, num(lb, list_id)};
	PGresult *res = list_id ? run(p, "archive_each", ARCHIVE_SQL(ON_LIST_3), 3, params)
	                        : run(p, "archive_each", ARCHIVE_SQL(ON_PUBLIC_LIST), 2, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_post post;
		rc = read_post(p, res, i, &post);
		if (rc == 0) {
			rc = fn(arg, &post);
			bl_post_clear(&post);
		}
	}
	PQclear(res);
	return rc;
}

static int pg_archive_get(struct bl_store *s, int64_t id, struct bl_post *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	PGresult *res =
	    run(p, "archive_get",
	        "SELECT " POST_COLS " FROM posts p WHERE p.id = $1::bigint AND " ARCHIVED
	        " AND " ON_PUBLIC_LIST,
	        1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0 && (rc = read_post(p, res, 0, out)) == 0)
		rc = 1;
	PQclear(res);
	return rc;
}

/* One statement (STATS_SQL), one snapshot. */
static int pg_stats(struct bl_store *s, int64_t now, struct bl_stats *out)
{
	struct pg_store *p = pg(s);
	char nb[NUM_MAX];
	const char *params[] = {num(nb, now)};
	PGresult *res = run(p, "stats", STATS_SQL, 1, params);
	if (!res)
		return -BL_ESTORE;
	struct bl_stats c;
	memset(&c, 0, sizeof(c));
	for (int i = 0; i < PQntuples(res); i++) {
		const char *what = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
		int64_t v = get_i64(res, i, 2);
		enum bl_subscriber_status ss;
		enum bl_sub_status xs;
		enum bl_delivery_state ds;
		switch (*what) {
		case 's':
			if (bl_subscriber_status_parse(name, &ss) == 0)
				c.subscribers[ss] = v;
			break;
		case 'x':
			if (bl_sub_status_parse(name, &xs) == 0)
				c.subscriptions[xs] = v;
			break;
		case 'd':
			if (bl_delivery_state_parse(name, &ds) == 0)
				c.deliveries[ds] = v;
			break;
		case 'p':
			c.posts_sending = v;
			break;
		default:
			c.accepted_last_minute += v;
		}
	}
	PQclear(res);
	*out = c;
	return 0;
}

/* ---- publisher tools (schema 5): users, sessions, tokens, audit ------------------------------ */

// clang-format off
#define USER_COLS \
	"id, name, role, pass_hash, created_at, password_changed_at, last_login_at"
#define TOKEN_COLS "t.id, t.name, t.role, t.created_at, t.last_used_at"
#define AUDIT_COLS "id, at, actor, action, target, detail, ip"
#define JOB_COLS \
	"id, kind, state, params, actor, size, done, report, error, created_at, started_at, " \
	"finished_at"
// clang-format on

/* Fill @out from USER_COLS; strings malloc'd. */
static int read_user(struct pg_store *p, const PGresult *r, int row, struct bl_user *out)
{
	struct bl_user u = {0};
	const char *role = PQgetvalue(r, row, 2);
	if (bl_role_parse(role, &u.role))
		return bad_value(p, "role", role);
	u.id = get_i64(r, row, 0);
	u.name = get_str(r, row, 1, 1);
	u.pass_hash = get_str(r, row, 3, 1);
	u.created_at = get_i64(r, row, 4);
	u.password_changed_at = get_i64(r, row, 5);
	u.last_login_at = get_i64(r, row, 6);
	*out = u;
	return 0;
}

static int pg_user_create(struct bl_store *s, struct bl_user *u)
{
	int64_t now = bl_now();
	int64_t created = u->created_at ? u->created_at : now;
	int64_t changed = u->password_changed_at ? u->password_changed_at : now;
	char cb[NUM_MAX], pb[NUM_MAX];
	const char *params[] = {nz(u->name), bl_role_name(u->role), nz(u->pass_hash),
	                        num(cb, created), num(pb, changed)};
	/* ON CONFLICT: a taken name is an answer, not an error that aborts the caller's
	 * transaction. */
	PGresult *res = run(pg(s), "user_create",
	                    "INSERT INTO users (name, role, pass_hash, created_at, "
	                    "password_changed_at) VALUES ($1, $2, $3, $4::bigint, $5::bigint) "
	                    "ON CONFLICT (name) DO NOTHING RETURNING id",
	                    5, params);
	if (!res)
		return -BL_ESTORE;
	int taken = PQntuples(res) == 0;
	if (!taken)
		u->id = get_i64(res, 0, 0);
	PQclear(res);
	if (taken)
		return bl_store_set_error(s, BL_EEXIST, "a user named \"%s\" already exists",
		                          nz(u->name));
	u->created_at = created;
	u->password_changed_at = changed;
	return 0;
}

static int pg_user_get(struct bl_store *s, const char *name, int64_t id, struct bl_user *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {name ? name : num(ib, id)};
	PGresult *res =
	    name ? run(p, "user_get", "SELECT " USER_COLS " FROM users WHERE name = $1", 1, params)
	         : run(p, "user_get", "SELECT " USER_COLS " FROM users WHERE id = $1::bigint", 1,
	               params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0 && (rc = read_user(p, res, 0, out)) == 0)
		rc = 1;
	PQclear(res);
	return rc;
}

static int pg_user_each(struct bl_store *s, bl_user_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	PGresult *res = run(p, "user_each",
	                    "SELECT " USER_COLS " FROM users ORDER BY name COLLATE \"C\"", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_user u;
		rc = read_user(p, res, i, &u);
		if (rc == 0) {
			rc = fn(arg, &u);
			bl_user_clear(&u);
		}
	}
	PQclear(res);
	return rc;
}

/* Run @sql (a statement whose result is one count) and return 1 when the count is > 0. */
static int changed_one(struct pg_store *p, const char *what, const char *sql, int n,
                       const char *const *params)
{
	PGresult *res = run(p, what, sql, n, params);
	if (!res)
		return -BL_ESTORE;
	int changed = get_i64(res, 0, 0) > 0;
	PQclear(res);
	return changed;
}

/* One statement: the hash and the end of every session of the user, atomically. */
static int pg_user_set_password(struct bl_store *s, int64_t id, const char *pass_hash, int64_t now)
{
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, id), nz(pass_hash), num(nb, now)};
	return changed_one(pg(s), "user_set_password",
	                   "WITH u AS (UPDATE users SET pass_hash = $2, "
	                   "password_changed_at = $3::bigint WHERE id = $1::bigint RETURNING id), "
	                   "d AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM u)) "
	                   "SELECT count(*) FROM u",
	                   3, params);
}

/*
 * In the caller's scope: lock every admin row (FOR UPDATE, in id order so
 * that two callers never deadlock); -BL_ELASTADMIN with the message when
 * user @id is the only admin, else 0.
 * A concurrent demotion waits for the lock; once it has it, READ COMMITTED
 * checks the rows again, so it sees the other's change and counts one admin.
 */
static int check_not_last_admin(struct pg_store *p, const char *what, const char *id)
{
	const char *params[] = {id};
	PGresult *res = run(
	    p, what,
	    "SELECT id = $1::bigint, name FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE",
	    1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		rc = bl_store_set_error(&p->base, BL_ELASTADMIN,
		                        "%s is the last admin: make another user admin first",
		                        PQgetvalue(res, 0, 1));
	PQclear(res);
	return rc;
}

/* @sql (a statement whose result is one count, $1 the user's id) after
 * check_not_last_admin, in one scope: 1 when the count is > 0, 0, or -BL_E*. */
static int change_user(struct pg_store *p, const char *what, const char *sql, int n,
                       const char *const *params, int check)
{
	enum scope sc;
	int rc = scope_begin(p, what, &sc);
	if (rc)
		return rc;
	int changed = check ? check_not_last_admin(p, what, params[0]) : 0;
	if (changed == 0)
		changed = changed_one(p, what, sql, n, params);
	rc = scope_end(p, what, sc, changed < 0 ? changed : 0);
	return rc ? rc : changed;
}

static int pg_user_set_role(struct bl_store *s, int64_t id, enum bl_role role)
{
	if ((unsigned)role > BL_ROLE_ADMIN)
		return bl_store_set_error(s, BL_EINVAL, "unknown role %d", (int)role);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id), bl_role_name(role)};
	return change_user(pg(s), "user_set_role",
	                   "WITH u AS (UPDATE users SET role = $2 WHERE id = $1::bigint "
	                   "RETURNING id) SELECT count(*) FROM u",
	                   2, params, role != BL_ROLE_ADMIN);
}

/* The sessions go by the foreign key's cascade, in the same statement. */
static int pg_user_delete(struct bl_store *s, int64_t id)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	return change_user(pg(s), "user_delete",
	                   "WITH u AS (DELETE FROM users WHERE id = $1::bigint RETURNING id) "
	                   "SELECT count(*) FROM u",
	                   1, params, 1);
}

/*
 * One statement: the session when the user exists and the key is new
 * (ON CONFLICT: a taken key is an answer, not an error that aborts the
 * caller's transaction), and the user's last login only when it was made.
 */
static int pg_session_create(struct bl_store *s, const char *id_hash, int64_t user_id,
                             const char *csrf, int64_t now, int64_t expires_at)
{
	char ub[NUM_MAX], nb[NUM_MAX], eb[NUM_MAX];
	const char *params[] = {nz(id_hash), num(ub, user_id), nz(csrf), num(nb, now),
	                        num(eb, expires_at)};
	PGresult *res = run(pg(s), "session_create",
	                    "WITH u AS (SELECT id FROM users WHERE id = $2::bigint), "
	                    "i AS (INSERT INTO sessions (id_hash, user_id, csrf, created_at, "
	                    "expires_at) SELECT $1, id, $3, $4::bigint, $5::bigint FROM u "
	                    "ON CONFLICT (id_hash) DO NOTHING RETURNING user_id), "
	                    "l AS (UPDATE users SET last_login_at = $4::bigint "
	                    "WHERE id IN (SELECT user_id FROM i)) "
	                    "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM i)",
	                    5, params);
	if (!res)
		return -BL_ESTORE;
	int user = get_i64(res, 0, 0) > 0, made = get_i64(res, 0, 1) > 0;
	PQclear(res);
	if (!user)
		return bl_store_set_error(s, BL_ENOENT, "there is no user %" PRId64, user_id);
	if (!made)
		return bl_store_set_error(s, BL_EEXIST, "session_create: the session key is taken");
	return 0;
}

/* One statement: an ended session is deleted and not returned. */
static int pg_session_get(struct bl_store *s, const char *id_hash, int64_t now,
                          struct bl_session *out)
{
	struct pg_store *p = pg(s);
	char nb[NUM_MAX];
	const char *params[] = {nz(id_hash), num(nb, now)};
	PGresult *res = run(p, "session_get",
	                    "WITH d AS (DELETE FROM sessions WHERE id_hash = $1 "
	                    "AND expires_at <= $2::bigint) "
	                    "SELECT x.user_id, u.name, u.role, x.csrf, x.created_at, x.expires_at "
	                    "FROM sessions x JOIN users u ON u.id = x.user_id "
	                    "WHERE x.id_hash = $1 AND x.expires_at > $2::bigint",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0) {
		struct bl_session x = {0};
		const char *role = PQgetvalue(res, 0, 2);
		if (bl_role_parse(role, &x.role)) {
			rc = bad_value(p, "role", role);
		} else {
			x.user_id = get_i64(res, 0, 0);
			x.user_name = get_str(res, 0, 1, 1);
			x.csrf = get_str(res, 0, 3, 1);
			x.created_at = get_i64(res, 0, 4);
			x.expires_at = get_i64(res, 0, 5);
			*out = x;
			rc = 1;
		}
	}
	PQclear(res);
	return rc;
}

static int pg_session_delete(struct bl_store *s, const char *id_hash)
{
	const char *params[] = {nz(id_hash)};
	return exec(pg(s), "session_delete", "DELETE FROM sessions WHERE id_hash = $1", 1, params);
}

/* Fill @out from TOKEN_COLS; the name malloc'd. */
static int read_token(struct pg_store *p, const PGresult *r, int row, struct bl_api_token *out)
{
	struct bl_api_token t = {0};
	const char *role = PQgetvalue(r, row, 2);
	if (bl_role_parse(role, &t.role))
		return bad_value(p, "role", role);
	t.id = get_i64(r, row, 0);
	t.name = get_str(r, row, 1, 1);
	t.created_at = get_i64(r, row, 3);
	t.last_used_at = get_i64(r, row, 4);
	*out = t;
	return 0;
}

static int pg_token_create(struct bl_store *s, struct bl_api_token *t, const char *hash)
{
	int64_t created = t->created_at ? t->created_at : bl_now();
	char cb[NUM_MAX];
	const char *params[] = {nz(t->name), bl_role_name(t->role), nz(hash), num(cb, created)};
	PGresult *res = run(pg(s), "token_create",
	                    "INSERT INTO api_tokens (name, role, hash, created_at) "
	                    "VALUES ($1, $2, $3, $4::bigint) "
	                    "ON CONFLICT (name) DO NOTHING RETURNING id",
	                    4, params);
	if (!res)
		return -BL_ESTORE;
	int taken = PQntuples(res) == 0;
	if (!taken)
		t->id = get_i64(res, 0, 0);
	PQclear(res);
	if (taken)
		return bl_store_set_error(s, BL_EEXIST, "an API token named \"%s\" already exists",
		                          nz(t->name));
	t->created_at = created;
	return 0;
}

/* One statement: the token, and its last use moved to @now when older than a minute. */
static int pg_token_get(struct bl_store *s, const char *hash, int64_t now, struct bl_api_token *out)
{
	struct pg_store *p = pg(s);
	char nb[NUM_MAX];
	const char *params[] = {nz(hash), num(nb, now)};
	PGresult *res = run(p, "token_get",
	                    "WITH up AS (UPDATE api_tokens SET last_used_at = $2::bigint "
	                    "WHERE hash = $1 AND (last_used_at IS NULL "
	                    "OR last_used_at < $2::bigint - 60) RETURNING id) "
	                    "SELECT t.id, t.name, t.role, t.created_at, CASE WHEN up.id IS NULL "
	                    "THEN t.last_used_at ELSE $2::bigint END "
	                    "FROM api_tokens t LEFT JOIN up ON up.id = t.id WHERE t.hash = $1",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0 && (rc = read_token(p, res, 0, out)) == 0)
		rc = 1;
	PQclear(res);
	return rc;
}

static int pg_token_each(struct bl_store *s, bl_api_token_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	PGresult *res =
	    run(p, "token_each",
	        "SELECT " TOKEN_COLS " FROM api_tokens t ORDER BY t.name COLLATE \"C\"", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_api_token t;
		rc = read_token(p, res, i, &t);
		if (rc == 0) {
			rc = fn(arg, &t);
			bl_api_token_clear(&t);
		}
	}
	PQclear(res);
	return rc;
}

static int pg_token_delete(struct bl_store *s, const char *name)
{
	const char *params[] = {nz(name)};
	return changed_one(pg(s), "token_delete",
	                   "WITH t AS (DELETE FROM api_tokens WHERE name = $1 RETURNING id) "
	                   "SELECT count(*) FROM t",
	                   1, params);
}

static int pg_audit_add(struct bl_store *s, const struct bl_audit *a)
{
	char ab[NUM_MAX], target[BL_AUDIT_TEXT_MAX + 1], detail[BL_AUDIT_TEXT_MAX + 1];
	const char *params[] = {num(ab, a->at ? a->at : bl_now()),
	                        nz(a->actor),
	                        nz(a->action),
	                        bl_store_cut_utf8(a->target, BL_AUDIT_TEXT_MAX, target),
	                        bl_store_cut_utf8(a->detail, BL_AUDIT_TEXT_MAX, detail),
	                        nz(a->ip)};
	return exec(pg(s), "audit_add",
	            "INSERT INTO audit_log (at, actor, action, target, detail, ip) "
	            "VALUES ($1::bigint, $2, $3, $4, $5, $6)",
	            6, params);
}

/* Newest first in keyset pages (id < the last id seen): a walk of the primary key. */
static int pg_audit_each(struct bl_store *s, int64_t before_id, int64_t limit, bl_audit_fn fn,
                         void *arg)
{
	struct pg_store *p = pg(s);
	if (limit < 0)
		return bl_store_set_error(s, BL_EINVAL, "audit_each: negative limit");
	char bb[NUM_MAX], lb[NUM_MAX];
	const char *params[] = {bb, lb};
	int64_t last = before_id > 0 ? before_id : INT64_MAX, left = limit;
	int rc = 0;
	for (;;) {
		int64_t want = left > 0 && left < PAGE_ROWS ? left : PAGE_ROWS;
		num(bb, last);
		num(lb, want);
		PGresult *res = run(p, "audit_each",
		                    "SELECT " AUDIT_COLS " FROM audit_log WHERE id < $1::bigint "
		                    "ORDER BY id DESC LIMIT $2::bigint",
		                    2, params);
		if (!res)
			return -BL_ESTORE;
		int rows = PQntuples(res);
		for (int i = 0; rc == 0 && i < rows; i++) {
			struct bl_audit a = {.id = get_i64(res, i, 0),
			                     .at = get_i64(res, i, 1),
			                     .actor = PQgetvalue(res, i, 2),
			                     .action = PQgetvalue(res, i, 3),
			                     .target = PQgetvalue(res, i, 4),
			                     .detail = PQgetvalue(res, i, 5),
			                     .ip = PQgetvalue(res, i, 6)};
			last = a.id;
			rc = fn(arg, &a);
		}
		PQclear(res);
		if (rc || rows < want)
			return rc;
		if (limit > 0 && (left -= rows) == 0)
			return 0;
	}
}

/* ---- publisher tools (schema 5): lists, counts, subscribers ---------------------------------- */

static int pg_list_update(struct bl_store *s, const struct bl_list *l)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, l->id),
	                        nz(l->name),
	                        nz(l->description),
	                        bl_optin_name(l->optin),
	                        bl_visibility_name(l->visibility),
	                        l->breaking_digest_off ? "false" : "true"};
	return changed_one(pg(s), "list_update",
	                   "WITH u AS (UPDATE lists SET name = $2, description = $3, optin = $4, "
	                   "visibility = $5, breaking_digest = $6::boolean, updated_at = now() "
	                   "WHERE id = $1::bigint RETURNING id) "
	                   "SELECT count(*) FROM u",
	                   6, params);
}

static int pg_counts(struct bl_store *s, struct bl_counts *out)
{
	struct pg_store *p = pg(s);
	PGresult *res = run(p, "counts", "SELECT name, n FROM counters", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	struct bl_counts c = {{0}};
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		enum bl_subscriber_status st;
		if (strncmp(name, "subscribers_", 12) == 0 &&
		    bl_subscriber_status_parse(name + 12, &st) == 0)
			c.subscribers[st] = get_i64(res, i, 1);
	}
	PQclear(res);
	*out = c;
	return 0;
}

static int pg_growth(struct bl_store *s, int64_t first_day, size_t n_days, int64_t *added,
                     int64_t *removed)
{
	struct pg_store *p = pg(s);
	if (n_days == 0)
		return 0;
	if (!added || !removed || n_days > INT32_MAX)
		return bl_store_set_error(s, BL_EINVAL, "growth: %zu days asked without room",
		                          n_days);
	memset(added, 0, n_days * sizeof(*added));
	memset(removed, 0, n_days * sizeof(*removed));
	char fb[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(fb, first_day), num(nb, (int64_t)n_days)};
	PGresult *res = run(p, "growth",
	                    "SELECT day - $1::bigint, added, removed FROM subscriber_days "
	                    "WHERE day >= $1::bigint AND day < $1::bigint + $2::bigint",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t k = get_i64(res, i, 0);
		if (k >= 0 && (size_t)k < n_days) {
			added[k] = get_i64(res, i, 1);
			removed[k] = get_i64(res, i, 2);
		}
	}
	PQclear(res);
	return 0;
}

/* One statement: the row (locked by the update), and a blocklist event when it becomes so. */
static int pg_subscriber_update(struct bl_store *s, const struct bl_subscriber *sub,
                                const struct bl_consent_ctx *ctx)
{
	int bad = bl_store_check_subscriber(s, sub);
	if (bad)
		return bad;
	struct bl_ctx_text t;
	bl_store_ctx_text(ctx, &t);
	int64_t now = ctx && ctx->now ? ctx->now : bl_now();
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, sub->id),
	                        nz(sub->name),
	                        sub->attributes && *sub->attributes ? sub->attributes : NULL,
	                        bl_subscriber_status_name(sub->status),
	                        nz(sub->status_reason),
	                        num(nb, now),
	                        t.ip,
	                        t.user_agent,
	                        t.source};
	return changed_one(
	    pg(s), "subscriber_update",
	    "WITH o AS (SELECT id, status FROM subscribers WHERE id = $1::bigint FOR UPDATE), "
	    "u AS (UPDATE subscribers s SET name = $2, "
	    "attributes = coalesce($3::jsonb, s.attributes), status = $4, status_reason = $5, "
	    "updated_at = to_timestamp($6::bigint) FROM o WHERE s.id = o.id "
	    "RETURNING s.id, o.status AS old), "
	    "e AS (INSERT INTO consent_events (subscriber_id, kind, at, ip, user_agent, source) "
	    "SELECT id, 'blocklist', to_timestamp($6::bigint), $7, $8, $9 FROM u "
	    "WHERE u.old <> $4 AND $4 = 'blocklisted') "
	    "SELECT count(*) FROM u",
	    9, params);
}

/* ---- publisher tools (schema 5): posts ------------------------------------------------------- */

/* Newest first in keyset pages of the (kind, id) index. */
static int pg_post_page(struct bl_store *s, enum bl_post_kind kind, int64_t before_id,
                        int64_t limit, bl_post_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	if (limit < 0 || (unsigned)kind > BL_POST_KIND_PROBE)
		return bl_store_set_error(s, BL_EINVAL, "post_page: bad kind or limit");
	char bb[NUM_MAX], lb[NUM_MAX];
	const char *params[] = {bl_post_kind_name(kind), bb, lb};
	int64_t last = before_id > 0 ? before_id : INT64_MAX, left = limit;
	int rc = 0;
	for (;;) {
		int64_t want = left > 0 && left < PAGE_ROWS ? left : PAGE_ROWS;
		num(bb, last);
		num(lb, want);
		PGresult *res = run(p, "post_page",
		                    "SELECT " POST_COLS " FROM posts WHERE kind = $1 "
		                    "AND id < $2::bigint ORDER BY kind, id DESC LIMIT $3::bigint",
		                    3, params);
		if (!res)
			return -BL_ESTORE;
		int rows = PQntuples(res);
		for (int i = 0; rc == 0 && i < rows; i++) {
			struct bl_post post;
			rc = read_post(p, res, i, &post);
			if (rc == 0) {
				last = post.id;
				rc = fn(arg, &post);
				bl_post_clear(&post);
			}
		}
		PQclear(res);
		if (rc || rows < want)
			return rc;
		if (limit > 0 && (left -= rows) == 0)
			return 0;
	}
}

/* The first of @n list ids that does not exist: -BL_ENOENT naming it; 0 when all do. */
static int lists_exist(struct pg_store *p, const char *what, const char *ids)
{
	const char *params[] = {ids};
	PGresult *res = run(p, what,
	                    "SELECT i FROM unnest($1::bigint[]) AS t(i) "
	                    "WHERE NOT EXISTS (SELECT 1 FROM lists l WHERE l.id = t.i) LIMIT 1",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0)
		rc = bl_store_set_error(&p->base, BL_ENOENT, "there is no list with id %s",
		                        PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

static int post_update(struct pg_store *p, const struct bl_post *post, const char *ids, int lists)
{
	int rc = lists ? lists_exist(p, "post_update", ids) : 0;
	if (rc)
		return rc;
	char ib[NUM_MAX], pb[NUM_MAX];
	const char *params[] = {num(ib, post->id),
	                        nz(post->subject),
	                        nz(post->body),
	                        nz(post->from_header),
	                        num(pb, post->priority),
	                        lists ? ids : NULL,
	                        bl_post_format_name(post->format)};
	/* The update locks the row: a post_queue or schedule_run at the same time waits. */
	return changed_one(p, "post_update",
	                   "WITH u AS (UPDATE posts SET subject = $2, body = $3, from_header = $4, "
	                   "priority = $5::integer, format = $7 WHERE id = $1::bigint "
	                   "AND kind = 'post' "
	                   "AND status IN ('draft', 'scheduled') RETURNING id), "
	                   /* CTEs share one snapshot: an old list kept is not deleted (the
	                      insert's ON CONFLICT would skip it, leaving it out). */
	                   "d AS (DELETE FROM post_lists WHERE $6::bigint[] IS NOT NULL "
	                   "AND post_id IN (SELECT id FROM u) AND list_id <> ALL($6::bigint[])), "
	                   "i AS (INSERT INTO post_lists (post_id, list_id) "
	                   "SELECT DISTINCT u.id, t.i FROM u, unnest($6::bigint[]) AS t(i) "
	                   "ON CONFLICT (post_id, list_id) DO NOTHING) "
	                   "SELECT count(*) FROM u",
	                   7, params);
}

static int pg_post_update(struct bl_store *s, const struct bl_post *post, const int64_t *list_ids,
                          size_t n_lists)
{
	struct pg_store *p = pg(s);
	if ((unsigned)post->priority > BL_PRIORITY_TRANSACTIONAL)
		return bl_store_set_error(s, BL_EINVAL, "unknown post priority %d",
		                          (int)post->priority);
	if ((unsigned)post->format > BL_POST_FORMAT_HTML)
		return bl_store_set_error(s, BL_EINVAL, "unknown post format %d",
		                          (int)post->format);
	if (n_lists > 0 && !list_ids)
		return bl_store_set_error(s, BL_EINVAL, "post_update: %zu lists missing", n_lists);
	struct bl_buf ids;
	bl_buf_init(&ids, ARRAY_MAX);
	array_start(&ids);
	for (size_t i = 0; i < n_lists; i++)
		array_i64(&ids, list_ids[i]);
	bl_buf_addc(&ids, '}');
	int rc = 0;
	if (bl_buf_err(&ids))
		rc = bl_store_set_error(s, BL_ELIMIT, "post_update: too many lists");
	enum scope sc;
	if (rc == 0)
		rc = scope_begin(p, "post_update", &sc);
	if (rc == 0) {
		int changed = post_update(p, post, bl_buf_str(&ids), n_lists > 0);
		rc = scope_end(p, "post_update", sc, changed < 0 ? changed : 0);
		if (rc == 0)
			rc = changed;
	}
	bl_buf_finish(&ids);
	return rc;
}

static int pg_post_schedule(struct bl_store *s, int64_t id, int64_t at)
{
	char ib[NUM_MAX], ab[NUM_MAX];
	const char *params[] = {num(ib, id), num(ab, at)};
	return changed_one(pg(s), "post_schedule",
	                   "WITH u AS (UPDATE posts SET "
	                   "status = CASE WHEN $2::bigint = 0 THEN 'draft' ELSE 'scheduled' END, "
	                   "scheduled_at = CASE WHEN $2::bigint = 0 THEN NULL "
	                   "ELSE to_timestamp($2::bigint) END, "
	                   "pause_reason = '', auto_paused = false "
	                   "WHERE id = $1::bigint AND kind = 'post' "
	                   "AND status IN ('draft', 'scheduled') RETURNING id) "
	                   "SELECT count(*) FROM u",
	                   2, params);
}

/*
 * One post of the scheduler's turn, inside a transaction: the earliest due
 * post no other transaction holds, locked (FOR UPDATE SKIP LOCKED: another
 * scheduler's post is skipped, and one it queued since is no longer
 * scheduled when the lock is taken), then queued or held. 1 with *@id,
 * *@held and *@total; 0 when none is left.
 */
static int schedule_one(struct pg_store *p, int64_t now, int64_t max_lateness, int64_t *id,
                        int *held, int64_t *total)
{
	char nb[NUM_MAX];
	const char *params[] = {num(nb, now)};
	PGresult *res =
	    run(p, "schedule_run",
	        "SELECT id, " EPOCH(
	            "scheduled_at") " FROM posts "
	                            "WHERE status = 'scheduled' AND scheduled_at <= "
	                            "to_timestamp($1::bigint) "
	                            "AND pause_reason = '' AND kind = 'post' "
	                            "ORDER BY scheduled_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
	        1, params);
	if (!res)
		return -BL_ESTORE;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	*id = get_i64(res, 0, 0);
	int64_t at = get_i64(res, 0, 1), late = now - at;
	PQclear(res);
	if (late <= max_lateness) {
		*held = 0;
		int rc = queue(p, *id, now, total);
		return rc < 0 ? rc : 1;
	}
	char when[BL_TIME_STRMAX], reason[256], ib[NUM_MAX];
	snprintf(reason, sizeof(reason),
	         "held: scheduled for %s, %" PRId64 " s late (max_schedule_lateness %" PRId64
	         " s); send it or schedule it again",
	         bl_time_format(at, when), late, max_lateness);
	const char *up[] = {num(ib, *id), reason};
	*held = 1;
	*total = 0;
	int rc = exec(p, "schedule_run", "UPDATE posts SET pause_reason = $2 WHERE id = $1::bigint",
	              2, up);
	return rc < 0 ? rc : 1;
}

static int pg_schedule_run(struct bl_store *s, int64_t now, int64_t max_lateness, bl_schedule_fn fn,
                           void *arg)
{
	struct pg_store *p = pg(s);
	for (;;) {
		enum scope sc;
		int rc = scope_begin(p, "schedule_run", &sc);
		if (rc)
			return rc;
		int64_t id = 0, total = 0;
		int held = 0;
		int got = schedule_one(p, now, max_lateness, &id, &held, &total);
		rc = scope_end(p, "schedule_run", sc, got < 0 ? got : 0);
		if (rc)
			return rc;
		if (got == 0)
			return 0;
		if (fn && (rc = fn(arg, id, held, total)) != 0)
			return rc;
	}
}

static int delivery_retry(struct pg_store *p, int64_t post_id, int64_t now, int64_t *n)
{
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, post_id), num(nb, now)};
	/* The post's row lock first: its status cannot change under us (an engine finishing it). */
	PGresult *res = run(p, "delivery_retry",
	                    "SELECT 1 FROM posts WHERE id = $1::bigint "
	                    "AND status IN ('sending', 'paused', 'sent') FOR UPDATE",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	PQclear(res);
	if (!found)
		return 0;
	long long rows = 0;
	int rc =
	    exec_count(p, "delivery_retry",
	               "UPDATE deliveries SET state = 'pending', "
	               "next_try = to_timestamp($2::bigint), updated_at = to_timestamp($2::bigint) "
	               "WHERE post_id = $1::bigint AND state = 'failed'",
	               2, params, &rows);
	if (rc == 0 && rows > 0)
		rc = exec(p, "delivery_retry",
		          "UPDATE posts SET status = 'sending', finished_at = NULL "
		          "WHERE id = $1::bigint AND status = 'sent'",
		          1, params);
	if (rc)
		return rc;
	*n = rows;
	return 1;
}

static int pg_delivery_retry(struct bl_store *s, int64_t post_id, int64_t now, int64_t *n)
{
	struct pg_store *p = pg(s);
	enum scope sc;
	int rc = scope_begin(p, "delivery_retry", &sc);
	if (rc)
		return rc;
	int64_t rows = 0;
	int done = delivery_retry(p, post_id, now, &rows);
	rc = scope_end(p, "delivery_retry", sc, done < 0 ? done : 0);
	if (rc)
		return rc;
	if (n)
		*n = done == 1 ? rows : 0;
	return done;
}

/* A walk of the post's range of the partial index deliveries_accepted (post_id, updated_at). */
static int pg_delivery_accepted_hist(struct bl_store *s, int64_t post_id, int64_t from,
                                     int64_t bucket, size_t n, int64_t *out)
{
	struct pg_store *p = pg(s);
	if (n == 0)
		return 0;
	if (!out || bucket <= 0 || n > INT32_MAX || (int64_t)n > (INT64_MAX - from) / bucket)
		return bl_store_set_error(
		    s, BL_EINVAL, "delivery_accepted_hist: bad buckets (%zu of %" PRId64 " s)", n,
		    bucket);
	memset(out, 0, n * sizeof(*out));
	char ib[NUM_MAX], fb[NUM_MAX], bb[NUM_MAX], tb[NUM_MAX];
	const char *params[] = {num(ib, post_id), num(fb, from), num(bb, bucket),
	                        num(tb, from + (int64_t)n * bucket)};
	PGresult *res = run(
	    p, "delivery_accepted_hist",
	    "SELECT (" EPOCH(
	        "updated_at") " - $2::bigint) / $3::bigint AS b, "
	                      "count(*) FROM deliveries WHERE post_id = $1::bigint "
	                      "AND state = 'accepted' AND updated_at >= to_timestamp($2::bigint) "
	                      "AND updated_at < to_timestamp($4::bigint) GROUP BY b",
	    4, params);
	if (!res)
		return -BL_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t k = get_i64(res, i, 0);
		if (k >= 0 && (size_t)k < n)
			out[k] = get_i64(res, i, 1);
	}
	PQclear(res);
	return 0;
}

/* ---- publisher tools (schema 5): jobs -------------------------------------------------------- */

/* Fill @out from JOB_COLS; strings malloc'd. */
static int read_job(struct pg_store *p, const PGresult *r, int row, struct bl_job *out)
{
	struct bl_job j = {0};
	const char *state = PQgetvalue(r, row, 2);
	int known = 0;
	for (int k = BL_JOB_QUEUED; k <= BL_JOB_FAILED && !known; k++)
		if (strcmp(state, bl_job_state_name((enum bl_job_state)k)) == 0) {
			j.state = (enum bl_job_state)k;
			known = 1;
		}
	if (!known)
		return bad_value(p, "job state", state);
	j.id = get_i64(r, row, 0);
	j.kind = get_str(r, row, 1, 1);
	j.params = get_str(r, row, 3, 1);
	j.actor = get_str(r, row, 4, 1);
	j.size = get_i64(r, row, 5);
	j.done = get_i64(r, row, 6);
	j.report = get_str(r, row, 7, 1);
	j.error = get_str(r, row, 8, 1);
	j.created_at = get_i64(r, row, 9);
	j.started_at = get_i64(r, row, 10);
	j.finished_at = get_i64(r, row, 11);
	*out = j;
	return 0;
}

static int pg_job_create(struct bl_store *s, struct bl_job *j, const void *input, size_t len)
{
	if (len > INT32_MAX || (len > 0 && !input))
		return bl_store_set_error(s, BL_EINVAL, "job_create: bad input (%zu bytes)", len);
	int64_t now = bl_now();
	char sb[NUM_MAX], cb[NUM_MAX];
	const char *params[] = {nz(j->kind),  j->params && *j->params ? j->params : "{}",
	                        nz(j->actor), num(sb, j->size),
	                        num(cb, now), len ? (const char *)input : ""};
	/* The input travels in binary: no escaping, no copy. */
	int lengths[] = {0, 0, 0, 0, 0, (int)len};
	int formats[] = {0, 0, 0, 0, 0, 1};
	PGresult *res =
	    run_bin(pg(s), "job_create",
	            "INSERT INTO jobs (kind, params, actor, size, created_at, input) "
	            "VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::bytea) RETURNING id",
	            6, params, lengths, formats, 0);
	if (!res)
		return -BL_ESTORE;
	j->id = get_i64(res, 0, 0);
	PQclear(res);
	j->state = BL_JOB_QUEUED;
	j->created_at = now;
	return 0;
}

static int pg_job_get(struct bl_store *s, int64_t id, struct bl_job *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	PGresult *res =
	    run(p, "job_get", "SELECT " JOB_COLS " FROM jobs WHERE id = $1::bigint", 1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0 && (rc = read_job(p, res, 0, out)) == 0)
		rc = 1;
	PQclear(res);
	return rc;
}

static int pg_job_each(struct bl_store *s, int64_t limit, bl_job_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	if (limit < 0)
		return bl_store_set_error(s, BL_EINVAL, "job_each: negative limit");
	char lb[NUM_MAX];
	const char *params[] = {limit > 0 ? num(lb, limit) : NULL};
	PGresult *res =
	    run(p, "job_each", "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT $1::bigint", 1,
	        params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_job j;
		rc = read_job(p, res, i, &j);
		if (rc == 0) {
			rc = fn(arg, &j);
			bl_job_clear(&j);
		}
	}
	PQclear(res);
	return rc;
}

/*
 * Take the oldest job in @state no other runner holds (FOR UPDATE SKIP
 * LOCKED: two runners never take one job), make it running from @now and
 * start its progress over; then read its input in binary. 1, 0 or -BL_E*.
 */
static int job_claim(struct pg_store *p, const char *state, int64_t now, int64_t stale_before,
                     struct bl_job *out, void **input, size_t *len)
{
	char nb[NUM_MAX], sb[NUM_MAX];
	const char *params[] = {state, num(nb, now), num(sb, stale_before)};
	/* A running job qualifies only when silent since before $3; the row lock
	 * makes PostgreSQL check that again against the row's latest version. */
	PGresult *res =
	    run(p, "job_claim",
	        "UPDATE jobs SET state = 'running', started_at = $2::bigint, "
	        "heartbeat_at = $2::bigint, done = 0, "
	        "report = '{}', error = '', finished_at = NULL "
	        "WHERE id = (SELECT id FROM jobs WHERE state = $1 AND (state = 'queued' "
	        "OR coalesce(heartbeat_at, started_at, 0) < $3::bigint) "
	        "ORDER BY state, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " JOB_COLS,
	        3, params);
	if (!res)
		return -BL_ESTORE;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	struct bl_job j;
	int rc = read_job(p, res, 0, &j);
	PQclear(res);
	if (rc)
		return rc;
	char ib[NUM_MAX];
	const char *id[] = {num(ib, j.id)};
	res = run_bin(p, "job_claim", "SELECT coalesce(input, '') FROM jobs WHERE id = $1::bigint",
	              1, id, NULL, NULL, 1);
	if (!res) {
		bl_job_clear(&j);
		return -BL_ESTORE;
	}
	size_t n = (size_t)PQgetlength(res, 0, 0);
	void *data = bl_xmalloc(n + 1);
	memcpy(data, PQgetvalue(res, 0, 0), n);
	((char *)data)[n] = '\0';
	PQclear(res);
	*out = j;
	*input = data;
	*len = n;
	return 1;
}

static int pg_job_claim(struct bl_store *s, int64_t now, int64_t stale_before, struct bl_job *out,
                        void **input, size_t *len)
{
	struct pg_store *p = pg(s);
	if (!out || !input || !len)
		return bl_store_set_error(s, BL_EINVAL, "job_claim: nowhere to put the job");
	enum scope sc;
	int rc = scope_begin(p, "job_claim", &sc);
	if (rc)
		return rc;
	int got =
	    stale_before > 0 ? job_claim(p, "running", now, stale_before, out, input, len) : 0;
	if (got == 0)
		got = job_claim(p, "queued", now, 0, out, input, len);
	rc = scope_end(p, "job_claim", sc, got < 0 ? got : 0);
	if (rc && got == 1) {
		bl_job_clear(out);
		free(*input);
		*input = NULL;
		*len = 0;
	}
	return rc ? rc : got;
}

static int pg_job_progress(struct bl_store *s, int64_t id, int64_t done, int64_t now)
{
	char ib[NUM_MAX], db[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, id), num(db, done), num(nb, now)};
	return exec(pg(s), "job_progress",
	            "UPDATE jobs SET done = $2::bigint, heartbeat_at = $3::bigint "
	            "WHERE id = $1::bigint AND state = 'running'",
	            3, params);
}

/* ---- digests (schema 6) ------------------------------------------------------------------- */

static int pg_digest_last(struct bl_store *s, enum bl_mode mode, int64_t *period_end)
{
	const char *params[] = {bl_mode_name(mode)};
	PGresult *res =
	    run(pg(s), "digest_last",
	        "SELECT coalesce(max(period_end), 0) FROM digests WHERE mode = $1", 1, params);
	if (!res)
		return -BL_ESTORE;
	*period_end = get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int make_digest(struct pg_store *p, const struct bl_digest_spec *in, int64_t *post_id,
                       int64_t *total)
{
	char sb[NUM_MAX], eb[NUM_MAX], nb[NUM_MAX], ib[NUM_MAX], mb[NUM_MAX];
	const char *mode = bl_mode_name(in->mode);
	/* Digest makers of one mode take turns (a lock until the transaction ends), so the
	 * look-up below is the answer and the UNIQUE key never has to fail a transaction. */
	const char *lock[] = {num(mb, (int64_t)in->mode)};
	int rc = exec(p, "digest_create", "SELECT pg_advisory_xact_lock(1651074663, $1::integer)",
	              1, lock);
	if (rc)
		return rc;
	const char *look[] = {mode, num(eb, in->period_end)};
	PGresult *res =
	    run(p, "digest_create",
	        "SELECT 1 FROM digests WHERE mode = $1 AND period_end = $2::bigint", 2, look);
	if (!res)
		return -BL_ESTORE;
	int exists = PQntuples(res) > 0;
	PQclear(res);
	if (exists)
		return 0;
	/* Nobody has anything: the period is recorded without a post. */
	const char *any[] = {num(sb, in->period_start), eb, mode};
	res = run(p, "digest_create",
	          "SELECT EXISTS (SELECT 1 FROM posts p JOIN post_lists pl ON pl.post_id = p.id "
	          "JOIN subscriptions x ON " DIGEST_SET(
	              "$1::bigint", "$2::bigint",
	              "$3") " "
	                    "JOIN subscribers s ON s.id = x.subscriber_id AND s.status = 'active')",
	          3, any);
	if (!res)
		return -BL_ESTORE;
	int someone = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!someone) {
		const char *row[] = {mode, sb, eb};
		if ((rc = exec(p, "digest_create",
		               "INSERT INTO digests (post_id, mode, period_start, period_end) "
		               "VALUES (NULL, $1, $2::bigint, $3::bigint)",
		               3, row)))
			return rc;
		*post_id = 0;
		*total = 0;
		return 1;
	}
	const char *ins[] = {in->subject, num(nb, in->now)};
	res = run(p, "digest_create",
	          "INSERT INTO posts (subject, body, from_header, priority, status, pause_reason, "
	          "auto_paused, created_at, kind, started_at, total) VALUES ($1, '', '', 0, "
	          "'sending', '', false, to_timestamp($2::bigint), 'digest', "
	          "to_timestamp($2::bigint), 0) RETURNING id",
	          2, ins);
	if (!res)
		return -BL_ESTORE;
	int64_t id = get_i64(res, 0, 0);
	PQclear(res);
	const char *params[] = {num(ib, id), num(sb, in->period_start), eb, nb, mode};
	const char *row[] = {ib, sb, eb, mode};
	if ((rc = exec(p, "digest_create",
	               "INSERT INTO digests (post_id, mode, period_start, period_end) "
	               "VALUES ($1::bigint, $4, $2::bigint, $3::bigint)",
	               4, row)) ||
	    (rc = exec(p, "digest_create",
	               "INSERT INTO post_lists (post_id, list_id) "
	               "SELECT DISTINCT $1::bigint, pl.list_id FROM posts p "
	               "JOIN post_lists pl ON pl.post_id = p.id WHERE p.kind = 'post' "
	               "AND p.started_at >= to_timestamp($2::bigint) "
	               "AND p.started_at < to_timestamp($3::bigint) "
	               "AND p.status IN ('sending', 'paused', 'sent')",
	               3, params)))
		return rc;
	long long n = 0;
	if ((rc = exec_count(
	         p, "digest_create",
	         "INSERT INTO deliveries (post_id, subscriber_id, priority, state, "
	         "next_try, created_at, updated_at) "
	         "SELECT DISTINCT $1::bigint, x.subscriber_id, 0, 'pending', "
	         "to_timestamp($4::bigint), to_timestamp($4::bigint), "
	         "to_timestamp($4::bigint) "
	         /* as sql/sqlite's ST_DIGEST_QUEUE: per subscription of a list with posts in
	          * the period, an EXISTS that stops at the first post not had */
	         "FROM (SELECT DISTINCT pl.list_id AS lid FROM posts p JOIN post_lists pl "
	         "ON pl.post_id = p.id WHERE p.kind = 'post' "
	         "AND p.started_at >= to_timestamp($2::bigint) "
	         "AND p.started_at < to_timestamp($3::bigint) "
	         "AND p.status IN ('sending', 'paused', 'sent')) k "
	         "JOIN subscriptions x ON x.list_id = k.lid AND x.status = 'confirmed' "
	         "AND x.mode = $5 "
	         "JOIN subscribers s ON s.id = x.subscriber_id AND s.status = 'active' "
	         "WHERE EXISTS (SELECT 1 FROM posts p JOIN post_lists pl ON pl.post_id = p.id "
	         "WHERE " DIGEST_SET("$2::bigint", "$3::bigint", "$5") ")",
	         5, params, &n)))
		return rc;
	char tb[NUM_MAX];
	const char *fin[] = {ib, num(tb, n), nb};
	if ((rc = exec(p, "digest_create",
	               "UPDATE posts SET total = $2::bigint, "
	               "status = CASE WHEN $2::bigint = 0 THEN 'sent' ELSE 'sending' END, "
	               "finished_at = CASE WHEN $2::bigint = 0 THEN to_timestamp($3::bigint) END "
	               "WHERE id = $1::bigint",
	               3, fin)))
		return rc;
	*post_id = id;
	*total = n;
	return 1;
}

static int pg_digest_create(struct bl_store *s, const struct bl_digest_spec *in, int64_t *post_id,
                            int64_t *total)
{
	struct pg_store *p = pg(s);
	if ((in->mode != BL_MODE_DAILY && in->mode != BL_MODE_WEEKLY) ||
	    in->period_start >= in->period_end || !in->subject || !*in->subject)
		return bl_store_set_error(s, BL_EINVAL,
		                          "digest_create: a daily or weekly mode, a period with "
		                          "start < end and a subject are required");
	enum scope sc;
	int rc = scope_begin(p, "digest_create", &sc);
	if (rc)
		return rc;
	int64_t id = 0, n = 0;
	int made = make_digest(p, in, &id, &n);
	rc = scope_end(p, "digest_create", sc, made < 0 ? made : 0);
	if (rc)
		return rc;
	if (made == 1) {
		if (post_id)
			*post_id = id;
		if (total)
			*total = n;
	}
	return made;
}

static int pg_digest_get(struct bl_store *s, int64_t post_id, struct bl_digest *out)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, post_id)};
	PGresult *res = run(pg(s), "digest_get",
	                    "SELECT post_id, mode, period_start, period_end FROM digests "
	                    "WHERE post_id = $1::bigint",
	                    1, params);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	if (found) {
		struct bl_digest g = {.post_id = get_i64(res, 0, 0)};
		if (bl_mode_parse(PQgetvalue(res, 0, 1), &g.mode))
			g.mode = BL_MODE_DAILY;
		g.period_start = get_i64(res, 0, 2);
		g.period_end = get_i64(res, 0, 3);
		*out = g;
	}
	PQclear(res);
	return found;
}

static int pg_digest_posts(struct bl_store *s, int64_t digest_post_id, int64_t subscriber_id,
                           bl_digest_item_fn fn, void *arg)
{
	char ib[NUM_MAX], sb[NUM_MAX];
	const char *params[] = {num(ib, digest_post_id), num(sb, subscriber_id)};
	PGresult *res = run(
	    pg(s), "digest_posts",
	    "SELECT p.id, p.subject, p.body, " EPOCH("p.created_at") ", " EPOCH(
	        "p.started_at") ", "
	                        "p.status, m.lid, l.slug, l.name, p.format FROM (SELECT p.id AS "
	                        "pid, "
	                        "min(pl.list_id) AS lid "
	                        "FROM digests g JOIN posts p ON p.kind = 'post' JOIN post_lists pl "
	                        "ON pl.post_id = p.id "
	                        "JOIN subscriptions x ON x.subscriber_id = $2::bigint "
	                        "AND " DIGEST_SET("g.period_start", "g.period_end",
	                                          "g.mode") " "
	                                                    "JOIN subscribers s ON s.id = "
	                                                    "$2::bigint AND s.status = 'active' "
	                                                    "WHERE g.post_id = $1::bigint GROUP BY "
	                                                    "p.id) m JOIN posts p ON p.id = m.pid "
	                                                    "JOIN lists l ON l.id = m.lid ORDER BY "
	                                                    "p.started_at, p.id",
	    2, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_post post = {.id = get_i64(res, i, 0), .kind = BL_POST_KIND_POST};
		post.subject = PQgetvalue(res, i, 1);
		post.body = PQgetvalue(res, i, 2);
		post.from_header = (char *)"";
		post.pause_reason = (char *)"";
		post.created_at = get_i64(res, i, 3);
		post.started_at = get_i64(res, i, 4);
		bl_post_status_parse(PQgetvalue(res, i, 5), &post.status);
		bl_post_format_parse(PQgetvalue(res, i, 9), &post.format);
		struct bl_digest_item it = {.post = &post,
		                            .list_id = get_i64(res, i, 6),
		                            .list_slug = PQgetvalue(res, i, 7),
		                            .list_name = PQgetvalue(res, i, 8)};
		rc = fn(arg, &it);
	}
	PQclear(res);
	return rc;
}

static int pg_job_finish(struct bl_store *s, int64_t id, const char *report, const char *error,
                         int64_t now)
{
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, id), error ? "failed" : "done",
	                        report && *report ? report : "{}", nz(error), num(nb, now)};
	return exec(
	    pg(s), "job_finish",
	    "UPDATE jobs SET state = $2, report = $3, error = $4, finished_at = $5::bigint, "
	    "input = NULL WHERE id = $1::bigint",
	    5, params);
}

/* ---- the ops table ----------------------------------------------------------------------------
 */

/* ---- feeds (schema 6) ------------------------------------------------------------------------ */

#define FEED_COLS                                                                                  \
	"id, url, title, mode, every, breaking::int, backfill, etag, last_modified, "              \
	"next_poll_at, "                                                                           \
	"coalesce(polled_at, 0), coalesce(ok_at, 0), failures, last_error, items, posts, "         \
	"created_at"

static int read_feed(struct pg_store *p, const PGresult *r, int row, struct bl_feed *out)
{
	struct bl_feed f = {0};
	const char *mode = PQgetvalue(r, row, 3);
	if (bl_feed_mode_parse(mode, &f.mode))
		return bad_value(p, "feed mode", mode);
	f.id = get_i64(r, row, 0);
	f.url = get_str(r, row, 1, 1);
	f.title = get_str(r, row, 2, 1);
	f.every = get_i64(r, row, 4);
	f.breaking = get_i64(r, row, 5) != 0;
	f.backfill = get_i64(r, row, 6);
	f.etag = get_str(r, row, 7, 1);
	f.last_modified = get_str(r, row, 8, 1);
	f.next_poll_at = get_i64(r, row, 9);
	f.polled_at = get_i64(r, row, 10);
	f.ok_at = get_i64(r, row, 11);
	f.failures = get_i64(r, row, 12);
	f.last_error = get_str(r, row, 13, 1);
	f.items = get_i64(r, row, 14);
	f.posts = get_i64(r, row, 15);
	f.created_at = get_i64(r, row, 16);
	*out = f;
	return 0;
}

static int feed_create_tx(struct pg_store *p, struct bl_feed *f, const int64_t *list_ids,
                          size_t n_lists, int64_t now)
{
	char eb[NUM_MAX], bb[NUM_MAX], nb[NUM_MAX], lb[NUM_MAX];
	for (size_t i = 0; i < n_lists; i++) {
		const char *lp[] = {num(lb, list_ids[i])};
		PGresult *res =
		    run(p, "feed_create", "SELECT 1 FROM lists WHERE id = $1::bigint", 1, lp);
		if (!res)
			return -BL_ESTORE;
		int found = PQntuples(res) > 0;
		PQclear(res);
		if (!found)
			return bl_store_set_error(&p->base, BL_ENOENT,
			                          "there is no list with id %" PRId64, list_ids[i]);
	}
	const char *params[] = {f->url,
	                        bl_feed_mode_name(f->mode),
	                        num(eb, f->every),
	                        f->breaking ? "t" : "f",
	                        num(bb, f->backfill),
	                        num(nb, now)};
	/* ON CONFLICT: a taken URL is an answer, not an error that aborts the transaction. */
	PGresult *res =
	    run(p, "feed_create",
	        "INSERT INTO feeds (url, mode, every, breaking, backfill, next_poll_at, "
	        "created_at, updated_at) VALUES ($1, $2, $3::bigint, $4::boolean, "
	        "$5::bigint, $6::bigint, $6::bigint, $6::bigint) "
	        "ON CONFLICT (url) DO NOTHING RETURNING id",
	        6, params);
	if (!res)
		return -BL_ESTORE;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return bl_store_set_error(&p->base, BL_EEXIST,
		                          "there is already a feed with URL %s", f->url);
	}
	int64_t id = get_i64(res, 0, 0);
	PQclear(res);
	char ib[NUM_MAX];
	for (size_t i = 0; i < n_lists; i++) {
		const char *lp[] = {num(ib, id), num(lb, list_ids[i])};
		int rc = exec(p, "feed_create",
		              "INSERT INTO feed_lists (feed_id, list_id) VALUES ($1::bigint, "
		              "$2::bigint) ON CONFLICT DO NOTHING",
		              2, lp);
		if (rc)
			return rc;
	}
	f->id = id;
	return 0;
}

static int pg_feed_create(struct bl_store *s, struct bl_feed *f, const int64_t *list_ids,
                          size_t n_lists)
{
	struct pg_store *p = pg(s);
	if (n_lists == 0)
		return bl_store_set_error(s, BL_EINVAL, "a feed needs at least one list");
	if (f->every <= 0 || f->backfill < 0)
		return bl_store_set_error(s, BL_EINVAL,
		                          "a feed's interval must be positive and its backfill not "
		                          "negative");
	if (!f->url || !*f->url)
		return bl_store_set_error(s, BL_EINVAL, "a feed needs a URL");
	int64_t now = f->created_at ? f->created_at : bl_now();
	enum scope sc;
	int rc = scope_begin(p, "feed_create", &sc);
	if (rc)
		return rc;
	rc = scope_end(p, "feed_create", sc, feed_create_tx(p, f, list_ids, n_lists, now));
	if (rc == 0) {
		f->created_at = now;
		f->next_poll_at = now;
	}
	return rc;
}

/* Feed @id into @out, with FOR UPDATE when @lock: -1/0/1. */
static int get_feed(struct pg_store *p, int64_t id, int lock, struct bl_feed *out)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	PGresult *res =
	    run(p, "feed_get",
	        lock ? "SELECT " FEED_COLS " FROM feeds WHERE id = $1::bigint FOR UPDATE"
	             : "SELECT " FEED_COLS " FROM feeds WHERE id = $1::bigint",
	        1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	if (PQntuples(res) > 0 && (rc = read_feed(p, res, 0, out)) == 0)
		rc = 1;
	PQclear(res);
	return rc;
}

static int pg_feed_get(struct bl_store *s, int64_t id, struct bl_feed *out)
{
	return get_feed(pg(s), id, 0, out);
}

static int pg_feed_each(struct bl_store *s, bl_feed_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	PGresult *res = run(p, "feed_each", "SELECT " FEED_COLS " FROM feeds ORDER BY id", 0, NULL);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_feed f;
		rc = read_feed(p, res, i, &f);
		if (rc == 0) {
			rc = fn(arg, &f);
			bl_feed_clear(&f);
		}
	}
	PQclear(res);
	return rc;
}

static int pg_feed_lists(struct bl_store *s, int64_t feed_id, bl_list_fn fn, void *arg)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, feed_id)};
	PGresult *res =
	    run(p, "feed_lists",
	        "SELECT " LIST_COLS " FROM feed_lists fl JOIN lists l ON l.id = fl.list_id "
	        "WHERE fl.feed_id = $1::bigint ORDER BY l.slug",
	        1, params);
	if (!res)
		return -BL_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		struct bl_list l;
		rc = read_list(p, res, i, 0, &l);
		if (rc == 0)
			rc = fn(arg, &l);
	}
	PQclear(res);
	return rc;
}

static int pg_feed_delete(struct bl_store *s, int64_t id)
{
	char ib[NUM_MAX];
	const char *params[] = {num(ib, id)};
	long long n = 0;
	int rc = exec_count(pg(s), "feed_delete", "DELETE FROM feeds WHERE id = $1::bigint", 1,
	                    params, &n);
	return rc ? rc : n > 0;
}

static int pg_feed_due(struct bl_store *s, int64_t now, int64_t *ids, size_t max, size_t *n)
{
	*n = 0;
	if (max == 0)
		return 0;
	char nb[NUM_MAX], mb[NUM_MAX];
	const char *params[] = {num(nb, now), num(mb, (int64_t)max)};
	PGresult *res = run(pg(s), "feed_due",
	                    "SELECT id FROM feeds WHERE next_poll_at <= $1::bigint "
	                    "ORDER BY next_poll_at, id LIMIT $2::bigint",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	for (int i = 0; i < PQntuples(res) && *n < max; i++)
		ids[(*n)++] = get_i64(res, i, 0);
	PQclear(res);
	return 0;
}

static int pg_feed_seen(struct bl_store *s, int64_t feed_id, size_t n, const char *const *keys,
                        char *seen)
{
	struct pg_store *p = pg(s);
	memset(seen, 0, n);
	if (n == 0)
		return 0;
	/* The keys as one text[] literal: hex digits need no quoting. */
	struct bl_buf arr;
	bl_buf_init(&arr, 0);
	bl_buf_addc(&arr, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			bl_buf_addc(&arr, ',');
		bl_buf_addc(&arr, '"');
		for (const char *k = keys[i]; *k; k++)
			if (bl_hex_digit((unsigned char)*k) >= 0)
				bl_buf_addc(&arr, *k);
		bl_buf_addc(&arr, '"');
	}
	bl_buf_addc(&arr, '}');
	char ib[NUM_MAX];
	const char *params[] = {num(ib, feed_id), bl_buf_str(&arr)};
	PGresult *res = run(p, "feed_seen",
	                    "SELECT k.i FROM unnest($2::text[]) WITH ORDINALITY AS k(key, i) "
	                    "JOIN feed_items f ON f.feed_id = $1::bigint AND f.item_key = k.key",
	                    2, params);
	bl_buf_finish(&arr);
	if (!res)
		return -BL_ESTORE;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t i = get_i64(res, r, 0);
		if (i >= 1 && (size_t)i <= n)
			seen[i - 1] = 1;
	}
	PQclear(res);
	return 0;
}

static int pg_feed_polled(struct bl_store *s, int64_t feed_id, int64_t now, int64_t next,
                          const char *error)
{
	char ib[NUM_MAX], nb[NUM_MAX], xb[NUM_MAX], cut[BL_REASON_MAX + 1];
	const char *params[] = {num(ib, feed_id), num(nb, now), num(xb, next),
	                        error ? bl_store_cut_utf8(error, BL_REASON_MAX, cut) : NULL};
	long long n = 0;
	int rc = error ? exec_count(pg(s), "feed_polled",
	                            "UPDATE feeds SET polled_at = $2::bigint, next_poll_at = "
	                            "$3::bigint, failures = failures + 1, last_error = $4, "
	                            "updated_at = $2::bigint WHERE id = $1::bigint",
	                            4, params, &n)
	               : exec_count(pg(s), "feed_polled",
	                            "UPDATE feeds SET polled_at = $2::bigint, ok_at = $2::bigint, "
	                            "next_poll_at = $3::bigint, failures = 0, last_error = '', "
	                            "updated_at = $2::bigint WHERE id = $1::bigint",
	                            3, params, &n);
	return rc ? rc : n > 0;
}

/* One new entry @e of feed @feed_id becomes a post (see feed_ingest). */
static int feed_post(struct pg_store *p, int64_t feed_id, const struct bl_feed_ingest_item *e,
                     enum bl_feed_mode mode, int breaking, int64_t now, int64_t *post_id)
{
	char fb[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {nz(e->subject),
	                        nz(e->body),
	                        breaking ? "1" : "0",
	                        mode == BL_FEED_SEND ? "scheduled" : "draft",
	                        num(nb, now),
	                        num(fb, feed_id),
	                        e->key};
	PGresult *res = run(p, "feed_ingest",
	                    "WITH np AS (INSERT INTO posts (subject, body, priority, status, "
	                    "created_at, scheduled_at, kind, format) VALUES ($1, $2, $3::integer, "
	                    "$4, to_timestamp($5::bigint), CASE WHEN $4 = 'scheduled' THEN "
	                    "to_timestamp($5::bigint) END, 'post', 'html') RETURNING id), "
	                    "pl AS (INSERT INTO post_lists (post_id, list_id) SELECT np.id, "
	                    "fl.list_id FROM np, feed_lists fl WHERE fl.feed_id = $6::bigint), "
	                    "fi AS (UPDATE feed_items SET post_id = (SELECT id FROM np) "
	                    "WHERE feed_id = $6::bigint AND item_key = $7) "
	                    "SELECT id FROM np",
	                    7, params);
	if (!res)
		return -BL_ESTORE;
	*post_id = get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int feed_ingest_tx(struct pg_store *p, int64_t feed_id, int64_t now, int64_t next,
                          const char *etag, const char *last_modified, const char *title,
                          const struct bl_feed_ingest_item *e, size_t n,
                          struct bl_feed_ingest_result *r)
{
	struct bl_feed f;
	int rc = get_feed(p, feed_id, 1, &f); /* FOR UPDATE: one ingest of a feed at a time */
	if (rc <= 0)
		return rc;
	int first = f.ok_at == 0, breaking = f.breaking;
	int64_t backfill = f.backfill;
	enum bl_feed_mode mode = f.mode;
	bl_feed_clear(&f);
	int64_t skip = 0;
	if (first && n > 0) {
		const char **keys = bl_xcalloc(n, sizeof(*keys));
		char *seen = bl_xmalloc(n);
		for (size_t i = 0; i < n; i++)
			keys[i] = e[i].key;
		rc = pg_feed_seen(&p->base, feed_id, n, keys, seen);
		int64_t fresh = 0;
		for (size_t i = 0; rc == 0 && i < n; i++)
			fresh += !seen[i] && !bl_feed_key_repeated(e, i);
		free(keys);
		free(seen);
		if (rc)
			return rc;
		skip = fresh > backfill ? fresh - backfill : 0;
	}
	char fb[NUM_MAX], nb[NUM_MAX];
	for (size_t i = 0; i < n; i++) {
		const char *params[] = {num(fb, feed_id), e[i].key, nz(e[i].title), nz(e[i].link),
		                        num(nb, now)};
		long long added = 0;
		if ((rc = exec_count(p, "feed_ingest",
		                     "INSERT INTO feed_items (feed_id, item_key, title, link, "
		                     "first_seen_at) VALUES ($1::bigint, $2, $3, $4, $5::bigint) "
		                     "ON CONFLICT DO NOTHING",
		                     5, params, &added)))
			return rc;
		if (added == 0)
			continue; /* seen before, or named twice in this poll */
		r->new_items++;
		if (skip > 0) {
			skip--;
			continue;
		}
		int64_t post_id = 0;
		if ((rc = feed_post(p, feed_id, &e[i], mode, breaking, now, &post_id)))
			return rc;
		if (!r->first_post_id)
			r->first_post_id = post_id;
		r->last_post_id = post_id;
		r->posts++;
	}
	char xb[NUM_MAX], ib[NUM_MAX], pb[NUM_MAX];
	const char *params[] = {
	    num(fb, feed_id), nz(etag),      nz(last_modified),     title,
	    num(nb, now),     num(xb, next), num(ib, r->new_items), num(pb, r->posts)};
	if ((rc = exec(
	         p, "feed_ingest",
	         "UPDATE feeds SET etag = $2, last_modified = $3, title = coalesce($4, title), "
	         "polled_at = $5::bigint, ok_at = $5::bigint, next_poll_at = $6::bigint, "
	         "failures = 0, last_error = '', items = items + $7::bigint, "
	         "posts = posts + $8::bigint, updated_at = $5::bigint WHERE id = $1::bigint",
	         8, params)))
		return rc;
	return 1;
}

static int pg_feed_ingest(struct bl_store *s, int64_t feed_id, int64_t now, int64_t next,
                          const char *etag, const char *last_modified, const char *title,
                          const struct bl_feed_ingest_item *entries, size_t n,
                          struct bl_feed_ingest_result *out)
{
	struct pg_store *p = pg(s);
	struct bl_feed_ingest_result r = {0};
	enum scope sc;
	int rc = scope_begin(p, "feed_ingest", &sc);
	if (rc)
		return rc;
	int done =
	    feed_ingest_tx(p, feed_id, now, next, etag, last_modified, title, entries, n, &r);
	rc = scope_end(p, "feed_ingest", sc, done < 0 ? done : 0);
	if (rc)
		return rc;
	if (out)
		*out = done == 1 ? r : (struct bl_feed_ingest_result){0};
	return done;
}

/* ---- bounces and complaints (schema 7) -------------------------------------------------- */

/* A count (column 0 of row 0) from @sql with @n @params into *@v. */
static int count_of(struct pg_store *p, const char *what, const char *sql, int n,
                    const char *const *params, int64_t *v)
{
	PGresult *res = run(p, what, sql, n, params);
	if (!res)
		return -BL_ESTORE;
	*v = PQntuples(res) > 0 ? get_i64(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

/* Blocklist active subscriber @sub for @reason with a blocklist event from @source: 1 done,
 * 0 it was not active. */
static int bounce_blocklist(struct pg_store *p, int64_t sub, const char *reason, const char *source,
                            int64_t now)
{
	char ib[NUM_MAX], nb[NUM_MAX];
	const char *params[] = {num(ib, sub), reason, num(nb, now), source};
	return changed_one(
	    p, "blocklisting a subscriber",
	    "WITH u AS (UPDATE subscribers SET status = 'blocklisted', status_reason = $2, "
	    "updated_at = to_timestamp($3::bigint) WHERE id = $1::bigint AND status = 'active' "
	    "RETURNING id), "
	    "e AS (INSERT INTO consent_events (subscriber_id, kind, at, ip, user_agent, source) "
	    "SELECT id, 'blocklist', to_timestamp($3::bigint), '', '', $4 FROM u) "
	    "SELECT count(*) FROM u",
	    4, params);
}

static int make_probe_post(struct pg_store *p, int64_t sub, int64_t now, int64_t *post_id)
{
	struct bl_post post = {.kind = BL_POST_KIND_PROBE,
	                       .subject = (char *)BL_PROBE_SUBJECT,
	                       .body = "",
	                       .from_header = "",
	                       .priority = BL_PRIORITY_TRANSACTIONAL,
	                       .status = BL_POST_SENDING,
	                       .started_at = now,
	                       .total = 1};
	int rc = post_create(p, &post, NULL, 0, now, post_id);
	if (rc)
		return rc;
	char ib[NUM_MAX], sb[NUM_MAX], nb[NUM_MAX], pb[NUM_MAX];
	const char *params[] = {num(ib, *post_id), num(sb, sub), num(nb, now),
	                        num(pb, BL_PRIORITY_TRANSACTIONAL)};
	return exec(p, "queueing a probe",
	            "INSERT INTO deliveries (post_id, subscriber_id, priority, state, next_try, "
	            "created_at, updated_at) VALUES ($1::bigint, $2::bigint, $4::integer, "
	            "'pending', to_timestamp($3::bigint), to_timestamp($3::bigint), "
	            "to_timestamp($3::bigint))",
	            4, params);
}

static int bounce_record(struct pg_store *p, const struct bl_bounce_event *ev,
                         const struct bl_bounce_policy *pol, int64_t now,
                         struct bl_bounce_outcome *out)
{
	int64_t sub = ev->subscriber_id > 0 ? ev->subscriber_id : 0;
	int64_t post = ev->post_id > 0 ? ev->post_id : 0;
	const char *review = ev->review && *ev->review ? ev->review : NULL;
	char sb[NUM_MAX], pb[NUM_MAX], nb[NUM_MAX];
	char status[32] = "", kind_name[16] = "";
	int rc;
	num(sb, sub);
	num(pb, post);
	num(nb, now);
	/* Two reports about one subscriber take turns from here: the second one's counts
	 * (read after the lock, in a new snapshot) see the first one's finding. */
	if (sub) {
		const char *params[] = {sb};
		PGresult *res = run(
		    p, "bounce_record",
		    "SELECT status FROM subscribers WHERE id = $1::bigint FOR UPDATE", 1, params);
		if (!res)
			return -BL_ESTORE;
		if (PQntuples(res) > 0)
			snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
		else
			sub = 0, review = "the subscriber it names no longer exists (erased)";
		PQclear(res);
		num(sb, sub);
	}
	if (post) {
		const char *params[] = {pb};
		PGresult *res = run(p, "bounce_record",
		                    "SELECT kind FROM posts WHERE id = $1::bigint", 1, params);
		if (!res)
			return -BL_ESTORE;
		if (PQntuples(res) > 0)
			snprintf(kind_name, sizeof(kind_name), "%s", PQgetvalue(res, 0, 0));
		else
			post = 0;
		PQclear(res);
		num(pb, post);
	}
	if (sub && !post) {
		sub = 0, review = "the post it names does not exist";
		num(sb, sub);
	}
	if (sub) {
		const char *params[] = {pb, sb};
		int64_t n = 0;
		if ((rc = count_of(p, "looking up a delivery",
		                   "SELECT count(*) FROM deliveries WHERE post_id = $1::bigint "
		                   "AND subscriber_id = $2::bigint",
		                   2, params, &n)))
			return rc;
		if (n == 0) {
			sub = 0, review = BL_BOUNCE_NO_DELIVERY;
			num(sb, sub);
		}
	}
	if (sub == 0 && !review)
		review = "not attributed to a delivery";
	if (sub != 0)
		review = NULL;
	char diag[BL_REPLY_MAX + 1], ib[NUM_MAX], rb[NUM_MAX];
	const char *ins[] = {ev->report_key,
	                     num(ib, ev->idx),
	                     nb,
	                     nz(ev->source),
	                     nz(ev->kind),
	                     bl_bounce_class_name(ev->cls),
	                     nz(ev->reason),
	                     nz(ev->status),
	                     num(rb, ev->reply_code),
	                     ev->final ? "t" : "f",
	                     nz(ev->recipient),
	                     bl_store_cut_reply(ev->diagnostic, diag),
	                     nz(ev->feedback_type),
	                     pb,
	                     sb,
	                     sub ? nz(ev->attributed_by) : "",
	                     review ? review : ""};
	PGresult *res = run(
	    p, "recording a bounce",
	    "INSERT INTO bounces (report_key, idx, received_at, source, kind, class, reason, "
	    "status, reply_code, final, recipient, diagnostic, feedback_type, post_id, "
	    "subscriber_id, attributed_by, review) VALUES ($1, $2::integer, $3::bigint, $4, $5, "
	    "$6, $7, $8, $9::integer, $10::boolean, $11, $12, $13, nullif($14::bigint, 0), "
	    "nullif($15::bigint, 0), $16, $17) ON CONFLICT (report_key, idx) DO NOTHING "
	    "RETURNING id",
	    17, ins);
	if (!res)
		return -BL_ESTORE;
	int inserted = PQntuples(res) > 0;
	int64_t id = inserted ? get_i64(res, 0, 0) : 0;
	PQclear(res);
	if (!inserted) {
		const char *params[] = {ev->report_key, ib};
		res = run(
		    p, "reading a bounce",
		    "SELECT id, action FROM bounces WHERE report_key = $1 AND idx = $2::integer", 2,
		    params);
		if (!res)
			return -BL_ESTORE;
		*out = (struct bl_bounce_outcome){.duplicate = 1};
		if (PQntuples(res) > 0) {
			out->bounce_id = get_i64(res, 0, 0);
			out->action = bl_store_bounce_action(PQgetvalue(res, 0, 1));
		} else {
			out->action = "recorded";
		}
		PQclear(res);
		return 0;
	}
	*out = (struct bl_bounce_outcome){.bounce_id = id, .action = "recorded"};
	if (sub == 0) {
		out->action = "review";
	} else {
		int complaint = ev->cls == BL_BOUNCE_COMPLAINT;
		int failure =
		    ev->final && (ev->cls == BL_BOUNCE_HARD || ev->cls == BL_BOUNCE_SOFT ||
		                  ev->cls == BL_BOUNCE_BLOCK);
		if (post && (complaint || failure)) {
			const char *params[] = {pb, sb, complaint ? "complained" : "bounced", nb};
			if ((rc = exec(p, "marking a delivery",
			               "UPDATE deliveries SET state = $3, "
			               "updated_at = to_timestamp($4::bigint) "
			               "WHERE post_id = $1::bigint AND subscriber_id = $2::bigint "
			               "AND (state = 'accepted' OR ($3 = 'complained' "
			               "AND state = 'bounced'))",
			               4, params)))
				return rc;
		}
		int active = strcmp(status, "active") == 0;
		int probe = strcmp(kind_name, "probe") == 0;
		char source[BL_SOURCE_MAX + 1];
		if (complaint) {
			snprintf(source, sizeof(source), "complaint:%s", nz(ev->source));
			/* Counters (blocklisting) before list counts (subscriptions), as erasure.
			 */
			if ((rc = lock_counters(p, "bounce_record")))
				return rc;
			struct bl_consent_ctx ctx = {.now = now, .source = source};
			int64_t n = 0;
			if ((rc = unsubscribe(p, sub, 0, &ctx, &n)) < 0)
				return rc;
			int blocked = bounce_blocklist(p, sub, "complained", source, now);
			if (blocked < 0)
				return blocked;
			if (blocked == 1 || n > 0)
				out->action = "unsubscribed";
		} else if (active && ev->final &&
		           (ev->cls == BL_BOUNCE_HARD || ev->cls == BL_BOUNCE_SOFT)) {
			snprintf(source, sizeof(source), "bounce:%s", nz(ev->source));
			int64_t n = 0;
			int disable = probe;
			if (!disable && ev->cls == BL_BOUNCE_HARD) {
				const char *params[] = {sb};
				if ((rc = count_of(
				         p, "counting bounces",
				         "SELECT count(DISTINCT post_id) FROM bounces WHERE "
				         "subscriber_id = $1::bigint AND class = 'hard' AND final",
				         1, params, &n)))
					return rc;
				disable = n >= (pol->hard_limit > 0 ? pol->hard_limit : 1);
			}
			if (disable) {
				if ((rc = bounce_blocklist(p, sub, "bounced", source, now)) < 0)
					return rc;
				out->action = "disabled";
			} else if (ev->cls == BL_BOUNCE_SOFT) {
				char wb[NUM_MAX];
				const char *params[] = {sb, num(wb, now - pol->soft_window)};
				int64_t probed = 0;
				out->action = "counted";
				if ((rc = count_of(
				         p, "counting bounces",
				         "SELECT count(DISTINCT post_id) FROM bounces WHERE "
				         "subscriber_id = $1::bigint AND received_at > $2::bigint "
				         "AND class = 'soft' AND final",
				         2, params, &n)))
					return rc;
				if (n >= pol->soft_limit &&
				    (rc = count_of(
				         p, "looking for a recent probe",
				         "SELECT count(*) FROM deliveries d JOIN posts p "
				         "ON p.id = d.post_id WHERE d.subscriber_id = $1::bigint "
				         "AND d.created_at > to_timestamp($2::bigint) "
				         "AND p.kind = 'probe'",
				         2, params, &probed)))
					return rc;
				if (n >= pol->soft_limit && probed == 0) {
					if ((rc =
					         make_probe_post(p, sub, now, &out->probe_post_id)))
						return rc;
					out->action = "probe";
				}
			} else {
				out->action = "counted";
			}
		}
	}
	char idb[NUM_MAX];
	const char *params[] = {num(idb, id), out->action};
	return exec(p, "recording a bounce's action",
	            "UPDATE bounces SET action = $2 WHERE id = $1::bigint", 2, params);
}

static int pg_bounce_record(struct bl_store *s, const struct bl_bounce_event *ev,
                            const struct bl_bounce_policy *pol, int64_t now,
                            struct bl_bounce_outcome *out)
{
	struct pg_store *p = pg(s);
	int rc = bl_store_check_bounce(s, ev, pol);
	if (rc)
		return rc;
	struct bl_bounce_outcome o = {0};
	enum scope sc;
	if ((rc = scope_begin(p, "bounce_record", &sc)))
		return rc;
	rc = scope_end(p, "bounce_record", sc, bounce_record(p, ev, pol, now, &o));
	if (rc == 0 && out)
		*out = o;
	return rc;
}

static int pg_bounce_each(struct bl_store *s, const struct bl_bounce_filter *f, bl_bounce_fn fn,
                          void *arg)
{
	struct pg_store *p = pg(s);
	struct bl_buf sql;
	bl_buf_init(&sql, 4096);
	bl_buf_adds(&sql,
	            "SELECT id, received_at, source, kind, class, reason, status, reply_code, "
	            "final, recipient, diagnostic, feedback_type, coalesce(post_id, 0), "
	            "coalesce(subscriber_id, 0), attributed_by, review, action FROM bounces "
	            "WHERE ($1::bigint = 0 OR post_id = $1::bigint) "
	            "AND ($2::bigint = 0 OR subscriber_id = $2::bigint) ");
	if (f && f->review_only)
		bl_buf_adds(&sql, "AND review <> '' ");
	bl_buf_adds(&sql, "AND id < $3::bigint ORDER BY id DESC LIMIT $4::bigint");
	char a[NUM_MAX], b[NUM_MAX], c[NUM_MAX], d[NUM_MAX];
	int64_t limit = f && f->limit > 0 ? f->limit : INT64_MAX;
	int64_t last = f && f->before_id > 0 ? f->before_id : INT64_MAX, left = limit;
	int rc = 0;
	/* Keyset pages: memory does not grow with the table. */
	while (rc == 0 && left > 0) {
		int64_t want = left < PAGE_ROWS ? left : PAGE_ROWS;
		const char *params[] = {num(a, f ? f->post_id : 0),
		                        num(b, f ? f->subscriber_id : 0), num(c, last),
		                        num(d, want)};
		PGresult *res = run(p, "bounce_each", bl_buf_str(&sql), 4, params);
		if (!res) {
			rc = -BL_ESTORE;
			break;
		}
		int n = PQntuples(res);
		for (int i = 0; rc == 0 && i < n; i++) {
			struct bl_bounce_row r = {
			    .id = get_i64(res, i, 0),
			    .received_at = get_i64(res, i, 1),
			    .source = PQgetvalue(res, i, 2),
			    .kind = PQgetvalue(res, i, 3),
			    .cls = BL_BOUNCE_UNKNOWN,
			    .reason = PQgetvalue(res, i, 5),
			    .status = PQgetvalue(res, i, 6),
			    .reply_code = (int)get_i64(res, i, 7),
			    .final = strcmp(PQgetvalue(res, i, 8), "t") == 0,
			    .recipient = PQgetvalue(res, i, 9),
			    .diagnostic = PQgetvalue(res, i, 10),
			    .feedback_type = PQgetvalue(res, i, 11),
			    .post_id = get_i64(res, i, 12),
			    .subscriber_id = get_i64(res, i, 13),
			    .attributed_by = PQgetvalue(res, i, 14),
			    .review = PQgetvalue(res, i, 15),
			    .action = PQgetvalue(res, i, 16),
			};
			bl_bounce_class_parse(PQgetvalue(res, i, 4), &r.cls);
			last = r.id;
			rc = fn(arg, &r);
		}
		PQclear(res);
		left -= n;
		if (n < want)
			break;
	}
	bl_buf_finish(&sql);
	return rc;
}

static int pg_bounce_counts(struct bl_store *s, int64_t post_id, struct bl_bounce_counts *out)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX];
	const char *params[] = {num(ib, post_id)};
	/* One statement, one snapshot. */
	PGresult *res =
	    run(p, "bounce_counts",
	        "SELECT class, count(DISTINCT coalesce(subscriber_id, -id)) FROM bounces "
	        "WHERE post_id = $1::bigint AND review = '' AND (final OR class = 'complaint') "
	        "GROUP BY class "
	        "UNION ALL SELECT '', count(*) FROM deliveries WHERE post_id = $1::bigint "
	        "AND state IN ('accepted', 'bounced', 'complained') "
	        "UNION ALL SELECT '-', count(*) FROM deliveries WHERE post_id = $1::bigint "
	        "AND state IN ('accepted', 'bounced', 'complained', 'failed')",
	        1, params);
	if (!res)
		return -BL_ESTORE;
	struct bl_bounce_counts c = {.delivered = 0};
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		enum bl_bounce_class k;
		if (!*name)
			c.delivered = get_i64(res, i, 1);
		else if (strcmp(name, "-") == 0)
			c.sent = get_i64(res, i, 1);
		else if (bl_bounce_class_parse(name, &k) == 0)
			c.n[k] = get_i64(res, i, 1);
	}
	PQclear(res);
	*out = c;
	return 0;
}

static int pg_delivery_latest(struct bl_store *s, int64_t subscriber_id, int64_t since,
                              int64_t *post_id)
{
	struct pg_store *p = pg(s);
	char ib[NUM_MAX], sb[NUM_MAX];
	const char *params[] = {num(ib, subscriber_id), num(sb, since)};
	PGresult *res = run(p, "delivery_latest",
	                    "SELECT post_id FROM deliveries WHERE subscriber_id = $1::bigint "
	                    "AND state IN ('accepted', 'bounced', 'complained') "
	                    "AND updated_at >= to_timestamp($2::bigint) "
	                    "ORDER BY updated_at DESC, id DESC LIMIT 1",
	                    2, params);
	if (!res)
		return -BL_ESTORE;
	int found = PQntuples(res) > 0;
	if (found)
		*post_id = get_i64(res, 0, 0);
	PQclear(res);
	return found;
}

const struct bl_store_ops bl_postgres_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .migrate = pg_migrate,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .setting_get = pg_setting_get,
    .setting_set = pg_setting_set,
    .list_create = pg_list_create,
    .list_get = pg_list_get,
    .list_each = pg_list_each,
    .list_delete = pg_list_delete,
    .list_counts = pg_list_counts,
    .subscriber_get = pg_subscriber_get,
    .subscriber_each = pg_subscriber_each,
    .subscription_each = pg_subscription_each,
    .consent_each = pg_consent_each,
    .consent_add = pg_consent_add,
    .subscriber_erase = pg_subscriber_erase,
    .subscriber_max_id = pg_subscriber_max_id,
    .suppression_any = pg_suppression_any,
    .suppression_get = pg_suppression_get,
    .suppression_each = pg_suppression_each,
    .suppression_add = pg_suppression_add,
    .import_lookup = pg_import_lookup,
    .import_mark = pg_import_mark,
    .import_mark_reset = pg_import_mark_reset,
    .import_apply = pg_import_apply,
    .post_create = pg_post_create,
    .post_get = pg_post_get,
    .post_each = pg_post_each,
    .post_lists = pg_post_lists,
    .post_set_status = pg_post_set_status,
    .post_queue = pg_post_queue,
    .delivery_counts = pg_delivery_counts,
    .delivery_each = pg_delivery_each,
    .delivery_accepted_since = pg_delivery_accepted_since,
    .engine_lock = pg_engine_lock,
    .delivery_reclaim = pg_delivery_reclaim,
    .delivery_exchange = pg_delivery_exchange,
    .queue_next_due = pg_queue_next_due,
    .web_signup = pg_web_signup,
    .web_confirm = pg_web_confirm,
    .web_unsubscribe = pg_web_unsubscribe,
    .web_preferences = pg_web_preferences,
    .subscriber_get_id = pg_subscriber_get_id,
    .subscriber_deliveries_each = pg_subscriber_deliveries_each,
    .archive_each = pg_archive_each,
    .archive_get = pg_archive_get,
    .stats = pg_stats,
    .export_each = pg_export_each,
    .user_create = pg_user_create,
    .user_get = pg_user_get,
    .user_each = pg_user_each,
    .user_set_password = pg_user_set_password,
    .user_set_role = pg_user_set_role,
    .user_delete = pg_user_delete,
    .session_create = pg_session_create,
    .session_get = pg_session_get,
    .session_delete = pg_session_delete,
    .token_create = pg_token_create,
    .token_get = pg_token_get,
    .token_each = pg_token_each,
    .token_delete = pg_token_delete,
    .audit_add = pg_audit_add,
    .audit_each = pg_audit_each,
    .list_update = pg_list_update,
    .counts = pg_counts,
    .growth = pg_growth,
    .subscriber_update = pg_subscriber_update,
    .post_page = pg_post_page,
    .post_update = pg_post_update,
    .post_schedule = pg_post_schedule,
    .schedule_run = pg_schedule_run,
    .delivery_retry = pg_delivery_retry,
    .delivery_accepted_hist = pg_delivery_accepted_hist,
    .job_create = pg_job_create,
    .job_get = pg_job_get,
    .job_each = pg_job_each,
    .job_claim = pg_job_claim,
    .job_progress = pg_job_progress,
    .job_finish = pg_job_finish,
    .feed_create = pg_feed_create,
    .feed_get = pg_feed_get,
    .feed_each = pg_feed_each,
    .feed_lists = pg_feed_lists,
    .feed_delete = pg_feed_delete,
    .feed_due = pg_feed_due,
    .feed_seen = pg_feed_seen,
    .feed_polled = pg_feed_polled,
    .feed_ingest = pg_feed_ingest,
    .digest_last = pg_digest_last,
    .digest_create = pg_digest_create,
    .digest_get = pg_digest_get,
    .digest_posts = pg_digest_posts,
    .bounce_record = pg_bounce_record,
    .bounce_each = pg_bounce_each,
    .bounce_counts = pg_bounce_counts,
    .delivery_latest = pg_delivery_latest,
};
