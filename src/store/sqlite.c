/*
 * SQLite backend of the store (the embedded default): one connection per
 * handle, WAL journal, synchronous=FULL, foreign keys on, a busy timeout.
 * Statements are prepared once and cached for the life of the handle.
 * Multi-statement operations run in their own BEGIN IMMEDIATE transaction,
 * or in a SAVEPOINT when the caller already opened one with begin().
 * Walk callbacks must not call back into the same store handle.
 * Only this file includes sqlite3.h.
 */
#include "store/store.h"

#include "core/crypto.h"
#include "util/buf.h"
#include "util/embedded.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const struct bl_embedded bl_sqlite_migrations[];

enum stmt {
	ST_SETTING_GET,
	ST_SETTING_SET,
	ST_LIST_CREATE,
	ST_LIST_GET,
	ST_LIST_EACH,
	ST_LIST_DELETE,
	ST_LIST_DETACH,
	ST_LIST_COUNTS,
	ST_SUB_GET,
	ST_SUB_EACH_ALL,
	ST_SUB_EACH_BLOCKLISTED,
	ST_SUB_EACH_LIST,
	ST_SUB_EACH_LIST_STATUS,
	ST_SUBSCRIPTION_EACH,
	ST_CONSENT_EACH,
	ST_CONSENT_ADD,
	ST_ERASE_EVENTS,
	ST_ERASE_SUBSCRIBER,
	ST_SUPPRESS_ADD,
	ST_SUPPRESS_GET,
	ST_SUPPRESS_ANY,
	ST_SUB_INSERT,
	ST_SUB_UPDATE,
	ST_SUBSCRIPTION_INSERT,
	ST_SUBSCRIPTION_UPDATE,
	ST_EXPORT_ALL,
	ST_EXPORT_LIST,
	ST_EXPORT_SUBS,
	ST_EXPORT_SUBS_LIST,
	ST_MARK,
	ST_MAX_ID,
	ST_CONSENT_DETACHED,
	ST_SUPPRESS_EACH,
	ST_BEGIN,
	ST_COMMIT,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_POST_CREATE,
	ST_LIST_EXISTS,
	ST_POST_LIST_ADD,
	ST_POST_GET,
	ST_POST_EACH,
	ST_POST_LISTS,
	ST_POST_SET_STATUS,
	ST_POST_CANCEL_ROWS,
	ST_POST_RESUME_ROWS,
	ST_POST_STATUS,
	ST_QUEUE_INSERT,
	ST_QUEUE_START,
	ST_COUNTS,
	ST_COUNTS_ADD_PENDING,
	ST_DELIVERY_EACH,
	ST_DELIVERY_EACH_STATE,
	ST_ACCEPTED_SINCE,
	ST_RECLAIM_ALL,
	ST_RECLAIM_EXPIRED,
	ST_RECLAIM_POST,
	ST_NEXT_DUE,
	ST_WAITING,
	ST_X_POSTS,
	ST_X_PENDING,
	ST_X_DUE,
	ST_X_PENDING_CONFIRM,
	ST_X_DUE_CONFIRM,
	ST_X_SUPPRESS,
	ST_X_FINISH,
	ST_LIST_OPTIN,
	ST_SUB_GET_ID,
	ST_SUB_NEW,
	ST_SUB_SET_NAME,
	ST_SUBSCRIPTION_GET,
	ST_SUBSCRIPTION_PUT,
	ST_PENDING_LISTS,
	ST_SUPPRESS_DEL,
	ST_CONFIRM_RECENT,
	ST_DELIVERY_ADD,
	ST_CONFIRM_POST_OF,
	ST_CONFIRM_EVENTS,
	ST_CONFIRM_SUBS,
	ST_UNSUB_EVENTS,
	ST_UNSUB,
	ST_SUB_DELIVERIES,
	ST_ARCHIVE_PUBLIC,
	ST_ARCHIVE_LIST,
	ST_ARCHIVE_GET,
	ST_STATS_SUBSCRIPTIONS,
	ST_STATS_DELIVERIES,
	ST_STATS_RECENT,
	ST_USER_CREATE,
	ST_USER_GET_NAME,
	ST_USER_GET_ID,
	ST_USER_EACH,
	ST_USER_SET_PASSWORD,
	ST_USER_SESSIONS_DEL,
	ST_USER_SET_ROLE,
	ST_USER_DELETE,
	ST_USER_LAST_ADMIN,
	ST_USER_LOGIN,
	ST_SESSION_CREATE,
	ST_SESSION_GET,
	ST_SESSION_DELETE,
	ST_SESSION_EXPIRE,
	ST_TOKEN_CREATE,
	ST_TOKEN_GET,
	ST_TOKEN_TOUCH,
	ST_TOKEN_EACH,
	ST_TOKEN_DELETE,
	ST_AUDIT_ADD,
	ST_AUDIT_EACH,
	ST_LIST_UPDATE,
	ST_COUNTERS,
	ST_GROWTH,
	ST_SUB_STATUS_OF,
	ST_SUB_SEARCH,
	ST_POST_PAGE,
	ST_POST_UPDATE,
	ST_POST_LISTS_CLEAR,
	ST_POST_SCHEDULE,
	ST_SCHEDULE_DUE,
	ST_SCHEDULE_POST,
	ST_SCHEDULE_HOLD,
	ST_RETRY_ROWS,
	ST_RETRY_POST,
	ST_ACCEPTED_HIST,
	ST_JOB_CREATE,
	ST_JOB_GET,
	ST_JOB_EACH,
	ST_JOB_NEXT,
	ST_JOB_STALE,
	ST_JOB_START,
	ST_JOB_INPUT,
	ST_JOB_PROGRESS,
	ST_JOB_FINISH,
	/* feeds (schema 6) */
	ST_FEED_CREATE,
	ST_FEED_LIST_ADD,
	ST_FEED_GET,
	ST_FEED_EACH,
	ST_FEED_LISTS,
	ST_FEED_DELETE,
	ST_FEED_DUE,
	ST_FEED_SEEN,
	ST_FEED_POLLED_OK,
	ST_FEED_POLLED_FAIL,
	ST_FEED_ITEM_ADD,
	ST_FEED_ITEM_POST,
	ST_FEED_POST_CREATE,
	ST_FEED_POST_LISTS,
	ST_FEED_INGESTED,
	ST_X_PENDING_DIGEST,
	ST_X_DUE_DIGEST,
	ST_DIGEST_LAST,
	ST_DIGEST_EXISTS,
	ST_DIGEST_ANY,
	ST_DIGEST_POST,
	ST_DIGEST_ROW,
	ST_DIGEST_LISTS,
	ST_DIGEST_QUEUE,
	ST_DIGEST_FINISH,
	ST_DIGEST_GET,
	ST_DIGEST_POSTS,
	/* bounces (schema 7) */
	ST_X_PENDING_PROBE,
	ST_X_DUE_PROBE,
	ST_ERASE_BOUNCES,
	ST_BOUNCE_INSERT,
	ST_BOUNCE_FIND,
	ST_BOUNCE_ACTION,
	ST_BOUNCE_SUB,
	ST_BOUNCE_POST_KIND,
	ST_BOUNCE_DELIVERY,
	ST_BOUNCE_HARD,
	ST_BOUNCE_SOFT,
	ST_BOUNCE_PROBE_RECENT,
	ST_BOUNCE_BLOCKLIST,
	ST_BOUNCE_COUNTS,
	ST_BOUNCE_DELIVERED,
	ST_DELIVERY_LATEST,
	ST_BOUNCE_HAS_DELIVERY,
	/* multi-row forms, built by multi_sql(): CHUNK rows (or keys) per statement */
	ST_LOOKUP_MULTI,
	ST_X_RESULTS, /* XCHUNK results */
	ST_X_CLAIM,   /* XCHUNK ids */
	ST_SUB_INSERT_MULTI,
	ST_SUBSCRIPTION_INSERT_MULTI,
	ST_CONSENT_ADD_MULTI,
	ST_COUNT
};

#define SUB_COLS                                                                                   \
	"s.id, s.email, s.email_key, s.name, s.attributes, s.status, s.status_reason, "            \
	"s.created_at, s.updated_at"

/* ST_SUB_EACH_LIST's walk of one subscription status: ?1 list, ?2 subscriber status or
 * NULL, ?3 after this subscriber id, ?4 rows. */
#define SUB_LIST_RANGE(status)                                                                     \
	"SELECT x.subscriber_id AS sid FROM subscriptions x WHERE x.list_id = ?1 "                 \
	"AND x.status = '" status "' AND x.subscriber_id > ?3 AND (?2 IS NULL OR EXISTS "          \
	"(SELECT 1 FROM subscribers t WHERE t.id = x.subscriber_id AND t.status = ?2)) "           \
	"ORDER BY x.subscriber_id LIMIT ?4"

#define POST_COLS                                                                                  \
	"id, subject, body, from_header, priority, status, pause_reason, auto_paused, "            \
	"created_at, "                                                                             \
	"scheduled_at, started_at, finished_at, total, in_doubt, kind, format"
#define DELIVERY_COLS                                                                              \
	"d.id, d.post_id, d.subscriber_id, coalesce(s.email, ''), d.state, d.attempts, "           \
	"d.in_doubt, d.code, d.reply, d.queue_id, d.relay, d.updated_at, d.next_try"
/* The reply of rows a cancelled post will never send. */
#define CANCELLED "post cancelled"
/* SQL: the status of the row's post is cancelled. */
#define POST_CANCELLED                                                                             \
	"(SELECT p.status FROM posts p WHERE p.id = deliveries.post_id) = 'cancelled'"
/* SQL: subscription x may get post ?1 at once: instant mode, or (schema 6) any mode when
 * the post is breaking and x's list sends breaking posts to its digest subscribers. */
#define TAKES_AT_ONCE                                                                              \
	"(x.mode = 'instant' OR ((SELECT p1.priority FROM posts p1 WHERE p1.id = ?1) = 1 "         \
	"AND (SELECT l1.breaking_digest FROM lists l1 WHERE l1.id = x.list_id) = 1))"
#define CANDIDATE_COLS                                                                             \
	"d.id, d.next_try, d.subscriber_id, d.attempts, d.first_try_at, d.in_doubt, s.email, "     \
	"s.name, s.attributes, s.status, s.status_reason, "                                        \
	"(SELECT min(pl.list_id) FROM post_lists pl JOIN subscriptions x "                         \
	"ON x.list_id = pl.list_id AND x.subscriber_id = d.subscriber_id "                         \
	"AND x.status = 'confirmed' AND " TAKES_AT_ONCE " WHERE pl.post_id = ?1)"
/* The same for a digest (schema 6): the lowest of its lists the subscriber is confirmed on
 * in the digest's mode (whether anything is left in it is the composer's question). */
#define DIGEST_CANDIDATE_COLS                                                                      \
	"d.id, d.next_try, d.subscriber_id, d.attempts, d.first_try_at, d.in_doubt, s.email, "     \
	"s.name, s.attributes, s.status, s.status_reason, "                                        \
	"(SELECT min(pl.list_id) FROM post_lists pl JOIN subscriptions x "                         \
	"ON x.list_id = pl.list_id AND x.subscriber_id = d.subscriber_id "                         \
	"AND x.status = 'confirmed' AND x.mode = (SELECT g.mode FROM digests g "                   \
	"WHERE g.post_id = ?1) WHERE pl.post_id = ?1)"
/*
 * SQL (schema 6): the posts of digest period [?A, ?B) of mode ?M for subscription x (store.h,
 * "A digest's set"): from posts p joined to post_lists pl and subscriptions x.
 */
#define DIGEST_SET(a, b, m)                                                                        \
	"p.kind = 'post' AND p.started_at >= " a " AND p.started_at < " b " "                      \
	"AND p.status IN ('sending', 'paused', 'sent') "                                           \
	"AND x.list_id = pl.list_id AND x.status = 'confirmed' AND x.mode = " m " "                \
	"AND NOT EXISTS (SELECT 1 FROM deliveries d0 WHERE d0.post_id = p.id "                     \
	"AND d0.subscriber_id = x.subscriber_id AND d0.state <> 'suppressed')"
/* The same for a confirmation post: the lowest of its lists the subscriber is still
 * unconfirmed on, in any mode. */
#define CONFIRM_CANDIDATE_COLS                                                                     \
	"d.id, d.next_try, d.subscriber_id, d.attempts, d.first_try_at, d.in_doubt, s.email, "     \
	"s.name, s.attributes, s.status, s.status_reason, "                                        \
	"(SELECT min(pl.list_id) FROM post_lists pl JOIN subscriptions x "                         \
	"ON x.list_id = pl.list_id AND x.subscriber_id = d.subscriber_id "                         \
	"AND x.status = 'unconfirmed' WHERE pl.post_id = ?1)"
/* The same for a bounce probe (schema 7): it goes out while the subscriber is active,
 * whatever their subscriptions; the lowest list they are confirmed on names it (0: none). */
#define PROBE_CANDIDATE_COLS                                                                       \
	"d.id, d.next_try, d.subscriber_id, d.attempts, d.first_try_at, d.in_doubt, s.email, "     \
	"s.name, s.attributes, s.status, s.status_reason, "                                        \
	"coalesce((SELECT min(x.list_id) FROM subscriptions x "                                    \
	"WHERE x.subscriber_id = d.subscriber_id AND x.status = 'confirmed'), 0)"
/* The columns of struct bl_bounce_row, in its order (class as text). */
#define BL_BOUNCE_COLS                                                                             \
	"id, received_at, source, kind, class, reason, status, reply_code, final, recipient, "     \
	"diagnostic, feedback_type, coalesce(post_id, 0), coalesce(subscriber_id, 0), "            \
	"attributed_by, review, action"
/* SQL: post p is one the archive shows (posts_archive's condition, word for word). */
#define ARCHIVED "p.kind = 'post' AND p.status IN ('sending', 'paused', 'sent')"
/* SQL: post p is on a public list (CROSS JOIN: its lists by post_lists' key, then each list). */
#define ON_PUBLIC_LIST                                                                             \
	"EXISTS (SELECT 1 FROM post_lists pl CROSS JOIN lists l ON l.id = pl.list_id "             \
	"WHERE pl.post_id = p.id AND l.visibility = 'public')"
/* SQL: consent events ?1 subscriber, ?3 time, ?4 ip, ?5 user agent, ?6 source. */
#define EVENT_INSERT                                                                               \
	"INSERT INTO consent_events (subscriber_id, list_id, kind, at, ip, user_agent, source) "
/* SQL: subscriber ?1's subscriptions that are live (confirmed or not yet), of list ?2 (0:
 * any). */
#define LIVE_SUBS                                                                                  \
	"subscriber_id = ?1 AND status IN ('confirmed', 'unconfirmed') AND (?2 = 0 OR list_id = "  \
	"?2)"
/* SQL: the lists of confirmation post ?2 that subscriber ?1 is still unconfirmed on. */
#define UNCONFIRMED_OF_POST                                                                        \
	"subscriber_id = ?1 AND status = 'unconfirmed' "                                           \
	"AND list_id IN (SELECT list_id FROM post_lists WHERE post_id = ?2)"
/* SQL: the rows of post p accepted in [?1 - 60, ?1], from deliveries_accepted. */
#define ACCEPTED_IN_MINUTE                                                                         \
	"(SELECT count(*) FROM deliveries d WHERE d.post_id = p.id AND d.state = 'accepted' "      \
	"AND d.updated_at BETWEEN ?1 - 60 AND ?1)"
/* SQL: the bit of post status column @c, as in enum bl_post_status. */
#define STATUS_BIT(c)                                                                              \
	"CASE " c " WHEN 'draft' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'sending' THEN 2 "            \
	"WHEN 'paused' THEN 3 WHEN 'sent' THEN 4 WHEN 'cancelled' THEN 5 ELSE 63 END"
/* SQL: result r defers or releases a row of a cancelled post. */
#define ENDS "(r.column2 IN ('pending', 'deferred') AND " POST_CANCELLED ")"
/* Expired claims go back to pending, in doubt, due now; those of a cancelled post end. */
#define RECLAIM_SET                                                                                \
	"state = CASE WHEN " POST_CANCELLED " THEN 'suppressed' ELSE 'pending' END, "              \
	"reply = CASE WHEN " POST_CANCELLED " THEN '" CANCELLED "' ELSE reply END, "               \
	"in_doubt = 1, worker = NULL, lease_until = NULL, next_try = ?2, updated_at = ?2"

#define USER_COLS                                                                                  \
	"id, name, role, pass_hash, created_at, password_changed_at, coalesce(last_login_at, 0)"
#define TOKEN_COLS "id, name, role, created_at, coalesce(last_used_at, 0)"
#define JOB_COLS                                                                                   \
	"id, kind, state, params, actor, size, done, report, error, created_at, "                  \
	"coalesce(started_at, 0), coalesce(finished_at, 0)"

/*
 * Schema 4: new subscribers and lists get an id above every id ever given,
 * deleted ones included (id_floors), so a signed link to an erased
 * subscriber or a removed list never reaches a newer one.
 */
#define SUBSCRIBER_ID_FLOOR                                                                        \
	"max(coalesce((SELECT max(id) FROM subscribers), 0), "                                     \
	"coalesce((SELECT id FROM id_floors WHERE name = 'subscribers'), 0))"
#define NEXT_SUBSCRIBER_ID "(SELECT " SUBSCRIBER_ID_FLOOR " + 1)"
#define NEXT_LIST_ID                                                                               \
	"(SELECT max(coalesce((SELECT max(id) FROM lists), 0), "                                   \
	"coalesce((SELECT id FROM id_floors WHERE name = 'lists'), 0)) + 1)"

static const char *const sql_text[ST_COUNT] = {
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_LIST_CREATE] = "INSERT INTO lists (id, slug, name, description, optin, visibility, "
                       "created_at, updated_at, breaking_digest) "
                       "VALUES (" NEXT_LIST_ID ", ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    [ST_LIST_GET] = "SELECT id, slug, name, description, optin, visibility, created_at, "
                    "breaking_digest "
                    "FROM lists WHERE slug = ?1",
    [ST_LIST_EACH] = "SELECT id, slug, name, description, optin, visibility, created_at, "
                     "breaking_digest "
                     "FROM lists ORDER BY slug",
    [ST_LIST_DELETE] = "DELETE FROM lists WHERE slug = ?1",
    [ST_LIST_DETACH] = "UPDATE consent_events SET list_id = NULL "
                       "WHERE list_id = (SELECT id FROM lists WHERE slug = ?1)",
    /* Schema 5: maintained by triggers (list_counts); a list without a row has none. */
    [ST_LIST_COUNTS] = "SELECT unconfirmed, confirmed, unsubscribed FROM list_counts "
                       "WHERE list_id = ?1",
    [ST_SUB_GET] = "SELECT " SUB_COLS " FROM subscribers s WHERE s.email_key = ?1",
    [ST_SUB_EACH_ALL] = "SELECT " SUB_COLS " FROM subscribers s "
                        "WHERE (?1 IS NULL OR s.status = ?1) AND s.id > ?2 "
                        "ORDER BY s.id LIMIT ?3",
    /* The blocklisted, along the partial index subscribers_blocklisted (a few among
     * many: ST_SUB_EACH_ALL would read every subscriber to fill a page). */
    [ST_SUB_EACH_BLOCKLISTED] = "SELECT " SUB_COLS " FROM subscribers s "
                                "WHERE s.status = 'blocklisted' AND s.id > ?2 "
                                "ORDER BY s.id LIMIT ?3",
    /*
     * A list's subscribers in id order, whatever their subscription's status:
     * subscriptions_by_list is (list_id, status, subscriber_id), so one range
     * per status (the three of the CHECK constraint), each cut at the page,
     * then merged: O(page) at any depth. One range over list_id alone sorts
     * the whole list for every page (bench/admin.sh: 75 ms at 333,333).
     */
    [ST_SUB_EACH_LIST] =
        "SELECT " SUB_COLS " FROM ("
        "SELECT * FROM (" SUB_LIST_RANGE(
            "unconfirmed") ") UNION ALL "
                           "SELECT * FROM (" SUB_LIST_RANGE(
                               "confirmed") ") UNION ALL "
                                            "SELECT * FROM (" SUB_LIST_RANGE(
                                                "unsubscribed") ")) p "
                                                                "JOIN subscribers s ON s.id = "
                                                                "p.sid ORDER BY p.sid LIMIT ?4",
    [ST_SUB_EACH_LIST_STATUS] = "SELECT " SUB_COLS " FROM subscriptions x "
                                "JOIN subscribers s ON s.id = x.subscriber_id "
                                "WHERE x.list_id = ?1 AND x.status = ?5 "
                                "AND (?2 IS NULL OR s.status = ?2) "
                                "AND x.subscriber_id > ?3 ORDER BY x.subscriber_id LIMIT ?4",
    [ST_SUBSCRIPTION_EACH] = "SELECT x.subscriber_id, x.list_id, l.slug, x.status, x.mode, "
                             "x.created_at, x.updated_at FROM subscriptions x "
                             "JOIN lists l ON l.id = x.list_id WHERE x.subscriber_id = ?1 "
                             "ORDER BY l.slug",
    [ST_CONSENT_EACH] = "SELECT e.id, e.subscriber_id, e.list_id, l.slug, e.kind, e.at, e.ip, "
                        "e.user_agent, e.source FROM consent_events e "
                        "LEFT JOIN lists l ON l.id = e.list_id WHERE e.subscriber_id = ?1 "
                        "ORDER BY e.at, e.id",
    [ST_CONSENT_ADD] = "INSERT INTO consent_events (subscriber_id, list_id, kind, at, ip, "
                       "user_agent, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_ERASE_EVENTS] = "UPDATE consent_events SET subscriber_id = NULL, ip = '', "
                        "user_agent = '' WHERE subscriber_id = ?1",
    [ST_ERASE_SUBSCRIBER] = "DELETE FROM subscribers WHERE id = ?1",
    [ST_SUPPRESS_ADD] = "INSERT INTO suppressions (hash, reason, created_at) "
                        "VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
    [ST_SUPPRESS_GET] = "SELECT created_at FROM suppressions WHERE hash = ?1",
    [ST_SUPPRESS_ANY] = "SELECT EXISTS (SELECT 1 FROM suppressions)",
    [ST_SUB_INSERT] = "INSERT INTO subscribers (id, email, email_key, name, attributes, status, "
                      "status_reason, created_at, updated_at) "
                      "VALUES (" NEXT_SUBSCRIBER_ID ", ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_SUB_UPDATE] = "UPDATE subscribers SET name = ?2, attributes = ?3, status = ?4, "
                      "status_reason = ?5, updated_at = ?6 WHERE id = ?1",
    [ST_SUBSCRIPTION_INSERT] = "INSERT INTO subscriptions (subscriber_id, list_id, status, mode, "
                               "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SUBSCRIPTION_UPDATE] = "UPDATE subscriptions SET status = ?3, mode = ?4, "
                               "updated_at = ?5 WHERE subscriber_id = ?1 AND list_id = ?2",
    [ST_EXPORT_ALL] = "SELECT " SUB_COLS " FROM subscribers s ORDER BY s.id",
    [ST_EXPORT_LIST] = "SELECT " SUB_COLS " FROM subscriptions x "
                       "JOIN subscribers s ON s.id = x.subscriber_id WHERE x.list_id = ?1 "
                       "ORDER BY x.subscriber_id",
    [ST_EXPORT_SUBS] = "SELECT x.subscriber_id, x.list_id, l.slug, x.status, x.mode, "
                       "x.created_at, x.updated_at FROM subscriptions x "
                       "JOIN lists l ON l.id = x.list_id WHERE x.subscriber_id = ?1 "
                       "ORDER BY l.slug",
    [ST_EXPORT_SUBS_LIST] = "SELECT x.subscriber_id, x.list_id, l.slug, x.status, x.mode, "
                            "x.created_at, x.updated_at FROM subscriptions x "
                            "JOIN lists l ON l.id = x.list_id "
                            "WHERE x.subscriber_id = ?1 AND x.list_id = ?2",
    [ST_MARK] = "INSERT INTO temp.import_marks (mark) VALUES (?1) ON CONFLICT DO NOTHING",
    [ST_MAX_ID] = "SELECT " SUBSCRIBER_ID_FLOOR,
    [ST_CONSENT_DETACHED] = "SELECT e.id, e.subscriber_id, e.list_id, l.slug, e.kind, e.at, e.ip, "
                            "e.user_agent, e.source FROM consent_events e "
                            "LEFT JOIN lists l ON l.id = e.list_id WHERE e.subscriber_id IS NULL "
                            "ORDER BY e.at, e.id",
    [ST_SUPPRESS_EACH] = "SELECT hash, reason, created_at FROM suppressions ORDER BY hash",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_RELEASE] = "RELEASE op",
    [ST_POST_CREATE] = "INSERT INTO posts (subject, body, from_header, priority, status, "
                       "pause_reason, auto_paused, created_at, scheduled_at, kind, "
                       "started_at, total, format) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                       "nullif(?9, 0), ?10, nullif(?11, 0), ?12, ?13)",
    [ST_LIST_EXISTS] = "SELECT 1 FROM lists WHERE id = ?1",
    [ST_POST_LIST_ADD] = "INSERT INTO post_lists (post_id, list_id) VALUES (?1, ?2) "
                         "ON CONFLICT DO NOTHING",
    [ST_POST_GET] = "SELECT " POST_COLS " FROM posts WHERE id = ?1",
    [ST_POST_EACH] = "SELECT " POST_COLS " FROM posts ORDER BY id DESC",
    [ST_POST_LISTS] = "SELECT l.id, l.slug, l.name, l.description, l.optin, l.visibility, "
                      "l.created_at, l.breaking_digest FROM post_lists pl "
                      "JOIN lists l ON l.id = pl.list_id "
                      "WHERE pl.post_id = ?1 ORDER BY l.slug",
    /* ?6: the bit set of allowed current statuses, 1 << enum bl_post_status */
    [ST_POST_SET_STATUS] = "UPDATE posts SET status = ?2, pause_reason = ?3, auto_paused = ?4, "
                           "finished_at = CASE WHEN ?2 IN ('sent', 'cancelled') THEN ?5 "
                           "ELSE finished_at END "
                           "WHERE id = ?1 AND (?6 >> " STATUS_BIT("status") ") & 1",
    [ST_POST_RESUME_ROWS] = "UPDATE deliveries SET next_try = ?2 WHERE post_id = ?1 AND "
                            "state = 'deferred' AND next_try > ?2",
    [ST_POST_CANCEL_ROWS] =
        "UPDATE deliveries SET state = 'suppressed', reply = '" CANCELLED "', updated_at = ?2 "
        "WHERE post_id = ?1 AND state IN ('pending', 'deferred')",
    [ST_POST_STATUS] = "SELECT status, priority, kind FROM posts WHERE id = ?1",
    /*
     * One row per distinct subscriber: active, and confirmed in instant mode
     * on at least one of the post's lists. The DISTINCT works in a temporary
     * B-tree (temp_store = FILE), not in this process's memory. Rows come in
     * subscriber order list by list (the order of subscriptions_by_list); an
     * ORDER BY would cost a second temporary B-tree (a fifth of the time).
     */
    [ST_QUEUE_INSERT] = "INSERT INTO deliveries (post_id, subscriber_id, priority, state, "
                        "next_try, created_at, updated_at) "
                        "SELECT DISTINCT ?1, x.subscriber_id, ?2, 'pending', ?3, ?3, ?3 "
                        "FROM post_lists pl JOIN subscriptions x ON x.list_id = pl.list_id "
                        "AND x.status = 'confirmed' AND " TAKES_AT_ONCE " "
                        "JOIN subscribers s ON s.id = x.subscriber_id AND s.status = 'active' "
                        "WHERE pl.post_id = ?1",
    [ST_QUEUE_START] =
        "UPDATE posts SET status = 'sending', started_at = ?2, total = ?3, pause_reason = '' "
        "WHERE id = ?1",
    /*
     * The maintained row (005_admin.sql), in the order of enum
     * bl_delivery_state, then the in-doubt count: one statement, one
     * snapshot.
     */
    [ST_COUNTS] =
        "SELECT c.pending, c.claimed, c.accepted, c.deferred, c.failed, c.suppressed, "
        "c.bounced, c.complained, p.in_doubt FROM posts p JOIN post_counts c ON c.post_id = p.id "
        "WHERE p.id = ?1",
    /* Rows inserted by the store are counted by it (no trigger on INSERT). */
    [ST_COUNTS_ADD_PENDING] = "UPDATE post_counts SET pending = pending + ?2 WHERE post_id = ?1",
    [ST_DELIVERY_EACH] = "SELECT " DELIVERY_COLS " FROM deliveries d "
                         "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                         "WHERE d.post_id = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3",
    [ST_DELIVERY_EACH_STATE] = "SELECT " DELIVERY_COLS " FROM deliveries d "
                               "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                               "WHERE d.post_id = ?1 AND d.id > ?2 AND d.state = ?4 "
                               "ORDER BY d.id LIMIT ?3",
    [ST_ACCEPTED_SINCE] = "SELECT count(*) FROM deliveries WHERE post_id = ?1 "
                          "AND state = 'accepted' AND updated_at >= ?2",
    [ST_RECLAIM_ALL] = "UPDATE deliveries SET " RECLAIM_SET " WHERE state = 'claimed' "
                       "RETURNING post_id",
    [ST_RECLAIM_EXPIRED] = "UPDATE deliveries SET " RECLAIM_SET " WHERE state = 'claimed' "
                           "AND lease_until < ?1 RETURNING post_id",
    [ST_RECLAIM_POST] = "UPDATE posts SET in_doubt = in_doubt + ?2 WHERE id = ?1",
    /* One seek per sending post: the first deferred row in next_try order. */
    [ST_NEXT_DUE] = "SELECT min((SELECT d.next_try FROM deliveries d WHERE d.post_id = p.id "
                    "AND d.state = 'deferred' ORDER BY d.next_try LIMIT 1)) "
                    "FROM posts p WHERE p.status = 'sending'",
    [ST_WAITING] = "SELECT EXISTS (SELECT 1 FROM posts p WHERE p.status IN ('sending', "
                   "'paused') AND EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = p.id "
                   "AND d.state IN ('pending', 'claimed', 'deferred')))",
    [ST_X_POSTS] = "SELECT id, kind FROM posts WHERE status = 'sending' "
                   "ORDER BY priority DESC, id",
    /*
     * The next ?3 pending rows of post ?1, and its next ?3 deferred rows due
     * at ?2, each in (next_try, id) order along deliveries_queue. With each,
     * what the claim needs: the subscriber, and the lowest of the post's
     * lists it is confirmed on (NULL: none any more).
     */
    [ST_X_PENDING] = "SELECT " CANDIDATE_COLS " FROM deliveries d "
                     "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                     "WHERE d.post_id = ?1 AND d.state = 'pending' "
                     "ORDER BY d.next_try, d.id LIMIT ?3",
    [ST_X_DUE] = "SELECT " CANDIDATE_COLS " FROM deliveries d "
                 "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                 "WHERE d.post_id = ?1 AND d.state = 'deferred' AND d.next_try <= ?2 "
                 "ORDER BY d.next_try, d.id LIMIT ?3",
    [ST_X_PENDING_CONFIRM] = "SELECT " CONFIRM_CANDIDATE_COLS " FROM deliveries d "
                             "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                             "WHERE d.post_id = ?1 AND d.state = 'pending' "
                             "ORDER BY d.next_try, d.id LIMIT ?3",
    [ST_X_DUE_CONFIRM] = "SELECT " CONFIRM_CANDIDATE_COLS " FROM deliveries d "
                         "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                         "WHERE d.post_id = ?1 AND d.state = 'deferred' AND d.next_try <= ?2 "
                         "ORDER BY d.next_try, d.id LIMIT ?3",
    [ST_X_PENDING_DIGEST] = "SELECT " DIGEST_CANDIDATE_COLS " FROM deliveries d "
                            "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                            "WHERE d.post_id = ?1 AND d.state = 'pending' "
                            "ORDER BY d.next_try, d.id LIMIT ?3",
    [ST_X_DUE_DIGEST] = "SELECT " DIGEST_CANDIDATE_COLS " FROM deliveries d "
                        "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                        "WHERE d.post_id = ?1 AND d.state = 'deferred' AND d.next_try <= ?2 "
                        "ORDER BY d.next_try, d.id LIMIT ?3",
    /* ---- digests (schema 6) ---- */
    [ST_DIGEST_LAST] = "SELECT coalesce(max(period_end), 0) FROM digests WHERE mode = ?1",
    [ST_DIGEST_EXISTS] = "SELECT 1 FROM digests WHERE mode = ?1 AND period_end = ?2",
    [ST_DIGEST_POST] = "INSERT INTO posts (subject, body, from_header, priority, status, "
                       "pause_reason, auto_paused, created_at, kind, started_at, total) "
                       "VALUES (?1, '', '', 0, 'sending', '', 0, ?2, 'digest', ?2, 0)",
    [ST_DIGEST_ROW] = "INSERT INTO digests (post_id, mode, period_start, period_end) "
                      "VALUES (nullif(?1, 0), ?2, ?3, ?4)",
    /* Has anybody something in the period? ?2 start, ?3 end, ?5 mode (as ST_DIGEST_QUEUE). */
    [ST_DIGEST_ANY] =
        "SELECT EXISTS (SELECT 1 FROM posts p JOIN post_lists pl ON pl.post_id = p.id "
        "JOIN subscriptions x ON " DIGEST_SET(
            "?2", "?3",
            "?5") " "
                  "JOIN subscribers s ON s.id = x.subscriber_id AND s.status = 'active')",
    /* Along posts_started: the posts of the period only. */
    [ST_DIGEST_LISTS] = "INSERT INTO post_lists (post_id, list_id) "
                        "SELECT DISTINCT ?1, pl.list_id FROM posts p "
                        "JOIN post_lists pl ON pl.post_id = p.id WHERE p.kind = 'post' "
                        "AND p.started_at >= ?2 AND p.started_at < ?3 "
                        "AND p.status IN ('sending', 'paused', 'sent')",
    /* ?1 digest post, ?2 start, ?3 end, ?4 now, ?5 mode. DISTINCT in a temporary B-tree. */
    /*
     * Per subscription of a list that has posts in the period, one EXISTS that
     * stops at the first post the subscriber has not had: the usual digest
     * reader had none of them, so one probe of the ledger each, not one per
     * (subscriber, post) pair.
     */
    [ST_DIGEST_QUEUE] =
        "INSERT INTO deliveries (post_id, subscriber_id, priority, state, "
        "next_try, created_at, updated_at) "
        "SELECT DISTINCT ?1, x.subscriber_id, 0, 'pending', ?4, ?4, ?4 "
        "FROM (SELECT DISTINCT pl.list_id AS lid FROM posts p JOIN post_lists pl "
        "ON pl.post_id = p.id WHERE p.kind = 'post' AND p.started_at >= ?2 "
        "AND p.started_at < ?3 AND p.status IN ('sending', 'paused', 'sent')) k "
        "JOIN subscriptions x ON x.list_id = k.lid AND x.status = 'confirmed' "
        "AND x.mode = ?5 "
        "JOIN subscribers s ON s.id = x.subscriber_id AND s.status = 'active' "
        "WHERE EXISTS (SELECT 1 FROM posts p JOIN post_lists pl ON pl.post_id = p.id "
        "WHERE " DIGEST_SET("?2", "?3", "?5") ")",
    [ST_DIGEST_FINISH] = "UPDATE posts SET total = ?2, "
                         "status = CASE WHEN ?2 = 0 THEN 'sent' ELSE 'sending' END, "
                         "finished_at = CASE WHEN ?2 = 0 THEN ?3 END WHERE id = ?1",
    [ST_DIGEST_GET] = "SELECT post_id, mode, period_start, period_end FROM digests "
                      "WHERE post_id = ?1",
    [ST_DIGEST_POSTS] =
        "SELECT p.id, p.subject, p.body, p.created_at, p.started_at, p.status, m.lid, "
        "l.slug, l.name, p.format FROM (SELECT p.id AS pid, min(pl.list_id) AS lid FROM digests g "
        "JOIN posts p ON p.kind = 'post' JOIN post_lists pl ON pl.post_id = p.id "
        "JOIN subscriptions x ON x.subscriber_id = ?2 "
        "AND " DIGEST_SET(
            "g.period_start", "g.period_end",
            "g.mode") " "
                      "JOIN subscribers s ON s.id = ?2 AND s.status = 'active' "
                      "WHERE g.post_id = ?1 GROUP BY p.id) m JOIN posts p ON p.id = m.pid "
                      "JOIN lists l ON l.id = m.lid ORDER BY p.started_at, p.id",
    [ST_LIST_OPTIN] = "SELECT optin FROM lists WHERE id = ?1",
    [ST_SUB_GET_ID] = "SELECT " SUB_COLS " FROM subscribers s WHERE s.id = ?1",
    [ST_SUB_NEW] = "INSERT INTO subscribers (id, email, email_key, name, created_at, updated_at) "
                   "VALUES (" NEXT_SUBSCRIBER_ID ", ?1, ?2, ?3, ?4, ?4)",
    [ST_SUB_SET_NAME] = "UPDATE subscribers SET name = ?2, updated_at = ?3 WHERE id = ?1",
    [ST_SUBSCRIPTION_GET] = "SELECT status, mode FROM subscriptions "
                            "WHERE subscriber_id = ?1 AND list_id = ?2",
    /* A subscription as the caller says; an existing row keeps its created_at. */
    [ST_SUBSCRIPTION_PUT] = "INSERT INTO subscriptions (subscriber_id, list_id, status, mode, "
                            "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
                            "ON CONFLICT (subscriber_id, list_id) DO UPDATE SET "
                            "status = excluded.status, mode = excluded.mode, "
                            "updated_at = excluded.updated_at",
    [ST_PENDING_LISTS] = "SELECT x.list_id FROM subscriptions x JOIN lists l ON l.id = x.list_id "
                         "WHERE x.subscriber_id = ?1 AND x.status = 'unconfirmed' "
                         "ORDER BY x.list_id",
    [ST_SUPPRESS_DEL] = "DELETE FROM suppressions WHERE hash = ?1",
    /* A seek of deliveries_by_subscriber from ?2: the subscriber's recent rows only. */
    [ST_CONFIRM_RECENT] = "SELECT EXISTS (SELECT 1 FROM deliveries d JOIN posts p "
                          "ON p.id = d.post_id WHERE d.subscriber_id = ?1 AND d.created_at > ?2 "
                          "AND p.kind = 'confirm')",
    [ST_DELIVERY_ADD] = "INSERT INTO deliveries (post_id, subscriber_id, priority, state, "
                        "next_try, created_at, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4, "
                        "?4, ?4)",
    [ST_CONFIRM_POST_OF] = "SELECT EXISTS (SELECT 1 FROM posts p JOIN deliveries d "
                           "ON d.post_id = p.id WHERE p.id = ?2 AND p.kind = 'confirm' "
                           "AND d.subscriber_id = ?1)",
    [ST_CONFIRM_EVENTS] =
        EVENT_INSERT "SELECT ?1, list_id, 'confirm', ?3, ?4, ?5, ?6 "
                     "FROM subscriptions WHERE " UNCONFIRMED_OF_POST " ORDER BY list_id",
    [ST_CONFIRM_SUBS] = "UPDATE subscriptions SET status = 'confirmed', updated_at = ?3 "
                        "WHERE " UNCONFIRMED_OF_POST,
    [ST_UNSUB_EVENTS] = EVENT_INSERT "SELECT ?1, list_id, 'unsubscribe', ?3, ?4, ?5, ?6 "
                                     "FROM subscriptions WHERE " LIVE_SUBS " ORDER BY list_id",
    [ST_UNSUB] = "UPDATE subscriptions SET status = 'unsubscribed', updated_at = ?3 "
                 "WHERE " LIVE_SUBS,
    [ST_SUB_DELIVERIES] = "SELECT " DELIVERY_COLS ", p.subject FROM deliveries d "
                          "JOIN posts p ON p.id = d.post_id "
                          "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                          "WHERE d.subscriber_id = ?1 ORDER BY d.id",
    /* Newest first along posts_archive, before id ?1, at most ?2 (-1: all). */
    [ST_ARCHIVE_PUBLIC] =
        "SELECT " POST_COLS " FROM posts p INDEXED BY posts_archive "
        "WHERE " ARCHIVED " AND p.id < ?1 AND " ON_PUBLIC_LIST " ORDER BY p.id DESC LIMIT ?2",
    [ST_ARCHIVE_LIST] = "SELECT " POST_COLS " FROM posts p INDEXED BY posts_archive "
                        "WHERE " ARCHIVED " AND p.id < ?1 AND EXISTS (SELECT 1 FROM post_lists pl "
                        "WHERE pl.post_id = p.id AND pl.list_id = ?3) "
                        "ORDER BY p.id DESC LIMIT ?2",
    [ST_ARCHIVE_GET] =
        "SELECT " POST_COLS " FROM posts p WHERE p.id = ?1 AND " ARCHIVED " AND " ON_PUBLIC_LIST,
    /*
     * Subscribers and subscriptions: the maintained counts (schema 5),
     * O(lists). Deliveries: grouped in the order of deliveries_queue (no
     * sort), summed by the caller: 1M rows in about 0.1 s (measured).
     */
    [ST_STATS_SUBSCRIPTIONS] = "SELECT coalesce(sum(unconfirmed), 0), "
                               "coalesce(sum(confirmed), 0), coalesce(sum(unsubscribed), 0) "
                               "FROM list_counts",
    [ST_STATS_DELIVERIES] = "SELECT state, count(*) FROM deliveries GROUP BY post_id, state",
    /*
     * The posts sending, and the rows accepted in [?1 - 60, ?1]: a seek of
     * deliveries_accepted per post that can have such rows (sending, paused
     * or cancelled ones, or sent since ?1 - 60: a post is sent after its
     * last result), not a walk of every accepted row. Two sums rather than
     * an OR: the planner would walk every sent post for the second half.
     */
    [ST_STATS_RECENT] = "SELECT (SELECT count(*) FROM posts WHERE status = 'sending'), "
                        "(SELECT coalesce(sum(" ACCEPTED_IN_MINUTE "), 0) FROM posts p "
                        "WHERE p.status IN ('sending', 'paused', 'cancelled')) + "
                        "(SELECT coalesce(sum(" ACCEPTED_IN_MINUTE "), 0) FROM posts p "
                        "INDEXED BY posts_sent WHERE p.status = 'sent' "
                        "AND p.finished_at >= ?1 - 60)",
    [ST_X_SUPPRESS] = "UPDATE deliveries SET state = 'suppressed', reply = ?2, updated_at = ?3 "
                      "WHERE id = ?1",
    /* Three seeks of deliveries_queue per sending post. */
    [ST_X_FINISH] = "UPDATE posts SET status = 'sent', finished_at = ?1 "
                    "WHERE status = 'sending' AND NOT EXISTS (SELECT 1 FROM deliveries d "
                    "WHERE d.post_id = posts.id AND d.state IN ('pending', 'claimed', "
                    "'deferred'))",

    /* ---- publisher tools (schema 5) ---- */
    [ST_USER_CREATE] = "INSERT INTO users (name, role, pass_hash, created_at, "
                       "password_changed_at, last_login_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, nullif(?6, 0))",
    [ST_USER_GET_NAME] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
    [ST_USER_GET_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [ST_USER_EACH] = "SELECT " USER_COLS " FROM users ORDER BY name",
    [ST_USER_SET_PASSWORD] =
        "UPDATE users SET pass_hash = ?2, password_changed_at = ?3 WHERE id = ?1",
    [ST_USER_SESSIONS_DEL] = "DELETE FROM sessions WHERE user_id = ?1",
    [ST_USER_SET_ROLE] = "UPDATE users SET role = ?2 WHERE id = ?1",
    [ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1", /* sessions: ON DELETE CASCADE */
    /* The name of user ?1 when it is the only admin. */
    [ST_USER_LAST_ADMIN] = "SELECT name FROM users WHERE id = ?1 AND role = 'admin' AND NOT "
                           "EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND id <> ?1)",
    [ST_USER_LOGIN] = "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
    [ST_SESSION_CREATE] = "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SESSION_GET] = "SELECT x.user_id, u.name, u.role, x.csrf, x.created_at, x.expires_at "
                       "FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.id_hash = ?1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE id_hash = ?1",
    /* Along sessions_by_expiry: only the ended ones are visited. */
    [ST_SESSION_EXPIRE] = "DELETE FROM sessions WHERE expires_at <= ?1",
    [ST_TOKEN_CREATE] = "INSERT INTO api_tokens (name, role, hash, created_at) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [ST_TOKEN_GET] = "SELECT " TOKEN_COLS " FROM api_tokens WHERE hash = ?1",
    [ST_TOKEN_TOUCH] = "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
    [ST_TOKEN_EACH] = "SELECT " TOKEN_COLS " FROM api_tokens ORDER BY name",
    [ST_TOKEN_DELETE] = "DELETE FROM api_tokens WHERE name = ?1",
    [ST_AUDIT_ADD] = "INSERT INTO audit_log (at, actor, action, target, detail, ip) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* Newest first along the rowid, before id ?1, at most ?2 (-1: all). */
    [ST_AUDIT_EACH] = "SELECT id, at, actor, action, target, detail, ip FROM audit_log "
                      "WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    [ST_LIST_UPDATE] = "UPDATE lists SET name = ?2, description = ?3, optin = ?4, "
                       "visibility = ?5, updated_at = ?6, breaking_digest = ?7 WHERE id = ?1",
    [ST_COUNTERS] = "SELECT name, n FROM counters",
    [ST_GROWTH] = "SELECT day, added, removed FROM subscriber_days "
                  "WHERE day >= ?1 AND day < ?1 + ?2",
    [ST_SUB_STATUS_OF] = "SELECT status FROM subscribers WHERE id = ?1",
    /*
     * A range of the unique email_key index, in its order: keys in [?1,
     * ?2) (?1: the prefix, or the page's last key when that is further;
     * ?2: the first key past the prefix), after ?3 (the unary + keeps the
     * planner from taking it as the range's start), status ?4 (NULL: any),
     * with a subscription to list ?6 (0: any list) in status ?7 (NULL: any)
     * probed by its key per row. ?5: at most this many (-1: all).
     */
    [ST_SUB_SEARCH] = "SELECT " SUB_COLS " FROM subscribers s "
                      "WHERE s.email_key >= ?1 AND s.email_key < ?2 AND +s.email_key > ?3 "
                      "AND (?4 IS NULL OR s.status = ?4) AND (?6 = 0 OR EXISTS (SELECT 1 "
                      "FROM subscriptions x WHERE x.subscriber_id = s.id AND x.list_id = ?6 "
                      "AND (?7 IS NULL OR x.status = ?7))) ORDER BY s.email_key LIMIT ?5",
    /* Newest first along posts_by_kind: one kind's range, before id ?2, at most ?3. */
    [ST_POST_PAGE] = "SELECT " POST_COLS " FROM posts WHERE kind = ?1 AND id < ?2 "
                     "ORDER BY id DESC LIMIT ?3",
    [ST_POST_UPDATE] = "UPDATE posts SET subject = ?2, body = ?3, from_header = ?4, "
                       "priority = ?5, format = ?6 WHERE id = ?1",
    [ST_POST_LISTS_CLEAR] = "DELETE FROM post_lists WHERE post_id = ?1",
    [ST_POST_SCHEDULE] = "UPDATE posts SET status = CASE WHEN ?2 = 0 THEN 'draft' "
                         "ELSE 'scheduled' END, scheduled_at = nullif(?2, 0), "
                         "pause_reason = '' WHERE id = ?1 AND kind = 'post' "
                         "AND status IN ('draft', 'scheduled')",
    /* Along posts_scheduled: the scheduled posts due at ?1, by time. */
    [ST_SCHEDULE_DUE] = "SELECT id FROM posts INDEXED BY posts_scheduled "
                        "WHERE status = 'scheduled' "
                        "AND scheduled_at <= ?1 AND pause_reason = '' "
                        "ORDER BY scheduled_at, id",
    [ST_SCHEDULE_POST] = "SELECT scheduled_at FROM posts WHERE id = ?1 AND kind = 'post' "
                         "AND status = 'scheduled' AND scheduled_at <= ?2 "
                         "AND pause_reason = ''",
    [ST_SCHEDULE_HOLD] = "UPDATE posts SET pause_reason = ?2 WHERE id = ?1",
    /* The failed rows of post ?1 along deliveries_queue. */
    [ST_RETRY_ROWS] = "UPDATE deliveries SET state = 'pending', next_try = ?2, "
                      "updated_at = ?2 WHERE post_id = ?1 AND state = 'failed'",
    [ST_RETRY_POST] = "UPDATE posts SET status = 'sending', finished_at = NULL "
                      "WHERE id = ?1 AND status = 'sent'",
    /*
     * A walk of deliveries_accepted's range for post ?1 in [?2, ?3), in
     * time order; the caller counts the buckets (a GROUP BY on the bucket
     * would sort every row in a temporary B-tree first).
     */
    [ST_ACCEPTED_HIST] = "SELECT updated_at FROM deliveries WHERE post_id = ?1 "
                         "AND state = 'accepted' AND updated_at >= ?2 AND updated_at < ?3",
    [ST_JOB_CREATE] = "INSERT INTO jobs (kind, params, actor, size, input, created_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [ST_JOB_EACH] = "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT ?1",
    /* Along jobs_by_state: the oldest job in state ?1. */
    [ST_JOB_NEXT] = "SELECT id FROM jobs WHERE state = ?1 ORDER BY id LIMIT 1",
    /* The oldest running job whose runner has been silent since before ?1. */
    [ST_JOB_STALE] = "SELECT id FROM jobs WHERE state = 'running' AND "
                     "coalesce(heartbeat_at, started_at, 0) < ?1 ORDER BY id LIMIT 1",
    [ST_JOB_START] = "UPDATE jobs SET state = 'running', started_at = ?2, heartbeat_at = ?2, "
                     "done = 0 WHERE id = ?1",
    [ST_JOB_INPUT] = "SELECT input FROM jobs WHERE id = ?1",
    [ST_JOB_PROGRESS] = "UPDATE jobs SET done = ?2, heartbeat_at = ?3 "
                        "WHERE id = ?1 AND state = 'running'",
#define FEED_COLS                                                                                  \
	"id, url, title, mode, every, breaking, backfill, etag, last_modified, next_poll_at, "     \
	"polled_at, ok_at, failures, last_error, items, posts, created_at"
    [ST_FEED_CREATE] = "INSERT INTO feeds (url, mode, every, breaking, backfill, next_poll_at, "
                       "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
    [ST_FEED_LIST_ADD] = "INSERT OR IGNORE INTO feed_lists (feed_id, list_id) VALUES (?1, ?2)",
    [ST_FEED_GET] = "SELECT " FEED_COLS " FROM feeds WHERE id = ?1",
    [ST_FEED_EACH] = "SELECT " FEED_COLS " FROM feeds ORDER BY id",
    [ST_FEED_LISTS] = "SELECT l.id, l.slug, l.name, l.description, l.optin, l.visibility, "
                      "l.created_at, l.breaking_digest FROM feed_lists fl "
                      "JOIN lists l ON l.id = fl.list_id "
                      "WHERE fl.feed_id = ?1 ORDER BY l.slug",
    [ST_FEED_DELETE] = "DELETE FROM feeds WHERE id = ?1",
    [ST_FEED_DUE] = "SELECT id FROM feeds WHERE next_poll_at <= ?1 ORDER BY next_poll_at, id "
                    "LIMIT ?2",
    [ST_FEED_SEEN] = "SELECT 1 FROM feed_items WHERE feed_id = ?1 AND item_key = ?2",
    [ST_FEED_POLLED_OK] = "UPDATE feeds SET polled_at = ?2, ok_at = ?2, next_poll_at = ?3, "
                          "failures = 0, last_error = '', updated_at = ?2 WHERE id = ?1",
    [ST_FEED_POLLED_FAIL] = "UPDATE feeds SET polled_at = ?2, next_poll_at = ?3, "
                            "failures = failures + 1, last_error = ?4, updated_at = ?2 "
                            "WHERE id = ?1",
    [ST_FEED_ITEM_ADD] = "INSERT OR IGNORE INTO feed_items (feed_id, item_key, title, link, "
                         "first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_FEED_ITEM_POST] = "UPDATE feed_items SET post_id = ?3 WHERE feed_id = ?1 AND item_key = ?2",
    [ST_FEED_POST_CREATE] = "INSERT INTO posts (subject, body, priority, status, created_at, "
                            "scheduled_at, kind, format) VALUES (?1, ?2, ?3, ?4, ?5, "
                            "nullif(?6, 0), 'post', 'html')",
    [ST_FEED_POST_LISTS] = "INSERT INTO post_lists (post_id, list_id) "
                           "SELECT ?2, list_id FROM feed_lists WHERE feed_id = ?1",
    [ST_FEED_INGESTED] =
        "UPDATE feeds SET etag = ?2, last_modified = ?3, title = coalesce(?4, title), "
        "polled_at = ?5, ok_at = ?5, next_poll_at = ?6, failures = 0, last_error = '', "
        "items = items + ?7, posts = posts + ?8, updated_at = ?5 WHERE id = ?1",
    /* ---- bounces (schema 7) ---- */
    [ST_X_PENDING_PROBE] = "SELECT " PROBE_CANDIDATE_COLS " FROM deliveries d "
                           "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                           "WHERE d.post_id = ?1 AND d.state = 'pending' "
                           "ORDER BY d.next_try, d.id LIMIT ?3",
    [ST_X_DUE_PROBE] = "SELECT " PROBE_CANDIDATE_COLS " FROM deliveries d "
                       "LEFT JOIN subscribers s ON s.id = d.subscriber_id "
                       "WHERE d.post_id = ?1 AND d.state = 'deferred' AND d.next_try <= ?2 "
                       "ORDER BY d.next_try, d.id LIMIT ?3",
    /* Erasure blanks the personal data of the subscriber's findings (the foreign key then
     * detaches them), and of review rows that name the address (?2: its email_key). */
    [ST_ERASE_BOUNCES] = "UPDATE bounces SET recipient = '', diagnostic = '' "
                         "WHERE subscriber_id = ?1 OR (review <> '' AND lower(recipient) = ?2)",
    [ST_BOUNCE_INSERT] =
        "INSERT INTO bounces (report_key, idx, received_at, source, kind, class, reason, "
        "status, reply_code, final, recipient, diagnostic, feedback_type, post_id, "
        "subscriber_id, attributed_by, review, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
        "?8, ?9, ?10, ?11, ?12, ?13, nullif(?14, 0), nullif(?15, 0), ?16, ?17, '') "
        "ON CONFLICT (report_key, idx) DO NOTHING",
    [ST_BOUNCE_FIND] = "SELECT id, action FROM bounces WHERE report_key = ?1 AND idx = ?2",
    [ST_BOUNCE_ACTION] = "UPDATE bounces SET action = ?2 WHERE id = ?1",
    [ST_BOUNCE_SUB] = "SELECT status FROM subscribers WHERE id = ?1",
    [ST_BOUNCE_POST_KIND] = "SELECT kind FROM posts WHERE id = ?1",
    /* ?3 the new state: bounced from accepted; complained from accepted or bounced. */
    [ST_BOUNCE_DELIVERY] = "UPDATE deliveries SET state = ?3, updated_at = ?4 "
                           "WHERE post_id = ?1 AND subscriber_id = ?2 AND (state = 'accepted' "
                           "OR (?3 = 'complained' AND state = 'bounced'))",
    /* Along bounces_by_subscriber: the subscriber's findings only. */
    /* Deliveries, not findings: a report listing one address a thousand times, or the same
     * report again under another Message-ID, is one bounce of that post. */
    [ST_BOUNCE_HARD] = "SELECT count(DISTINCT post_id) FROM bounces WHERE subscriber_id = ?1 "
                       "AND class = 'hard' AND final = 1",
    [ST_BOUNCE_SOFT] = "SELECT count(DISTINCT post_id) FROM bounces WHERE subscriber_id = ?1 "
                       "AND received_at > ?2 AND class = 'soft' AND final = 1",
    [ST_BOUNCE_PROBE_RECENT] = "SELECT EXISTS (SELECT 1 FROM deliveries d JOIN posts p "
                               "ON p.id = d.post_id WHERE d.subscriber_id = ?1 "
                               "AND d.created_at > ?2 AND p.kind = 'probe')",
    [ST_BOUNCE_BLOCKLIST] = "UPDATE subscribers SET status = 'blocklisted', status_reason = ?2, "
                            "updated_at = ?3 WHERE id = ?1 AND status = 'active'",
    /* A post's attributed final findings (complaints: all) by class, each subscriber once;
     * the findings of an erased subscriber each count as one. */
    [ST_BOUNCE_COUNTS] = "SELECT class, count(DISTINCT coalesce(subscriber_id, -id)) "
                         "FROM bounces WHERE post_id = ?1 AND review = '' "
                         "AND (final = 1 OR class = 'complaint') GROUP BY class",
    [ST_BOUNCE_DELIVERED] = "SELECT accepted + bounced + complained, "
                            "accepted + bounced + complained + failed FROM post_counts "
                            "WHERE post_id = ?1",
    [ST_BOUNCE_HAS_DELIVERY] = "SELECT 1 FROM deliveries WHERE post_id = ?1 "
                               "AND subscriber_id = ?2",
    [ST_DELIVERY_LATEST] = "SELECT post_id FROM deliveries WHERE subscriber_id = ?1 "
                           "AND state IN ('accepted', 'bounced', 'complained') "
                           "AND updated_at >= ?2 ORDER BY updated_at DESC, id DESC LIMIT 1",
    [ST_JOB_FINISH] = "UPDATE jobs SET state = ?2, report = ?3, error = ?4, finished_at = ?5, "
                      "input = NULL WHERE id = ?1",
};

/*
 * Rows per multi-row statement on the import path. One statement per row
 * costs more in SQLite's statement setup (cursors, transaction checks)
 * than in the B-tree work itself; 64 rows of at most 9 parameters stay far
 * below SQLITE_MAX_VARIABLE_NUMBER.
 */
#define CHUNK 64

/*
 * Results and claims per statement of delivery_exchange: one statement for
 * a turn's rows rather than one per row (each statement opens a cursor on
 * the table and every index it changes).
 */
#define XCHUNK 16

/* The text of a multi-row statement; caller frees. */
static char *multi_sql(enum stmt id)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	const char *head, *row;
	int rows = CHUNK;
	switch (id) {
	case ST_LOOKUP_MULTI:
		bl_buf_adds(
		    &b, "SELECT " SUB_COLS ", x.status, x.mode FROM subscribers s "
		        "LEFT JOIN subscriptions x ON x.subscriber_id = s.id AND x.list_id = ?1 "
		        "WHERE s.email_key IN (");
		for (int i = 0; i < CHUNK; i++)
			bl_buf_addf(&b, "%s?%d", i ? "," : "", i + 2);
		bl_buf_addc(&b, ')');
		return bl_buf_take(&b);
	case ST_X_CLAIM:
		/* ?1 worker, ?2 lease_until, ?3 now; ?4... the ids (NULL: none) */
		bl_buf_adds(&b, "UPDATE deliveries SET state = 'claimed', worker = ?1, "
		                "lease_until = ?2, attempts = attempts + 1, "
		                "first_try_at = coalesce(first_try_at, ?3), updated_at = ?3 "
		                "WHERE id IN (");
		for (int i = 0; i < XCHUNK; i++)
			bl_buf_addf(&b, "%s?%d", i ? "," : "", i + 4);
		bl_buf_addc(&b, ')');
		return bl_buf_take(&b);
	case ST_X_RESULTS:
		/*
		 * ?1 worker, ?2 now; then per result (id, state, code, reply,
		 * queue_id, relay, next_try): column1..column7 of r. Only rows
		 * still claimed by the worker change. A release (state pending)
		 * gives the claim back: attempts goes down by one, next_try becomes
		 * now, the earlier reply stays. A deferral or release on a cancelled post ends the
		 * row as suppressed instead.
		 */
		bl_buf_adds(
		    &b,
		    "UPDATE deliveries SET "
		    "state = CASE WHEN " ENDS " THEN 'suppressed' ELSE r.column2 END, "
		    "code = CASE WHEN r.column2 = 'pending' THEN code ELSE r.column3 END, "
		    "reply = CASE WHEN " ENDS " THEN '" CANCELLED "' "
		    "WHEN r.column2 = 'pending' THEN reply ELSE r.column4 END, "
		    "queue_id = CASE WHEN r.column2 = 'pending' THEN queue_id ELSE r.column5 END, "
		    "relay = CASE WHEN r.column2 = 'pending' THEN relay ELSE r.column6 END, "
		    "next_try = CASE WHEN r.column2 = 'deferred' THEN r.column7 "
		    "WHEN r.column2 = 'pending' THEN ?2 ELSE next_try END, "
		    "attempts = CASE WHEN r.column2 = 'pending' THEN max(attempts - 1, 0) "
		    "ELSE attempts END, "
		    "first_try_at = CASE WHEN r.column2 = 'pending' AND attempts <= 1 THEN NULL "
		    "ELSE first_try_at END, "
		    "worker = NULL, lease_until = NULL, updated_at = ?2 FROM (VALUES ");
		for (int i = 0; i < XCHUNK; i++) {
			int p = 3 + 7 * i;
			bl_buf_addf(&b, "%s(?%d,?%d,?%d,?%d,?%d,?%d,?%d)", i ? "," : "", p, p + 1,
			            p + 2, p + 3, p + 4, p + 5, p + 6);
		}
		bl_buf_adds(&b, ") AS r WHERE deliveries.id = r.column1 "
		                "AND deliveries.state = 'claimed' AND deliveries.worker = ?1");
		return bl_buf_take(&b);
	case ST_SUB_INSERT_MULTI:
		head = "INSERT INTO subscribers (id, email, email_key, name, attributes, status, "
		       "status_reason, created_at, updated_at) VALUES ";
		row = "(?,?,?,?,?,?,?,?,?)";
		break;
	case ST_SUBSCRIPTION_INSERT_MULTI:
		head =
		    "INSERT INTO subscriptions (subscriber_id, list_id, status, mode, created_at, "
		    "updated_at) VALUES ";
		row = "(?,?,?,?,?,?)";
		break;
	case ST_CONSENT_ADD_MULTI:
		head =
		    "INSERT INTO consent_events (subscriber_id, list_id, kind, at, ip, user_agent, "
		    "source) VALUES ";
		row = "(?,?,?,?,?,?,?)";
		break;
	default:
		return NULL;
	}
	bl_buf_adds(&b, head);
	for (int i = 0; i < rows; i++) {
		if (i)
			bl_buf_addc(&b, ',');
		bl_buf_adds(&b, row);
	}
	return bl_buf_take(&b);
}

struct sqlite_store {
	struct bl_store base; /* first: the handle callers see */
	sqlite3 *db;
	char *path;
	int busy_ms;
	int in_tx;   /* begin() called and not yet ended */
	int lock_fd; /* the engine lock file, held (flock) until close; -1 when not held */
	sqlite3_stmt *st[ST_COUNT];
};

static struct sqlite_store *S(struct bl_store *s)
{
	return (struct sqlite_store *)s;
}

/* Record the connection's error; map SQLite codes onto BL_E* codes. */
static int fail(struct sqlite_store *s, int rc, const char *what)
{
	int primary = rc & 0xff;
	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return bl_store_set_error(&s->base, BL_EBUSY,
		                          "%s: database %s is locked by another process (waited "
		                          "%d ms; see db_busy_timeout)",
		                          what, s->path, s->busy_ms);
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return bl_store_set_error(&s->base, BL_EEXIST, "%s: %s", what,
		                          sqlite3_errmsg(s->db));
	return bl_store_set_error(&s->base, BL_ESTORE, "%s: %s (database %s)", what,
	                          sqlite3_errmsg(s->db), s->path);
}

/* The cached statement @id, reset and with bindings cleared; NULL on error. */
static sqlite3_stmt *stmt(struct sqlite_store *s, enum stmt id)
{
	sqlite3_stmt *st = s->st[id];
	if (!st) {
		char *built = sql_text[id] ? NULL : multi_sql(id);
		int rc = sqlite3_prepare_v3(s->db, built ? built : sql_text[id], -1,
		                            SQLITE_PREPARE_PERSISTENT, &st, NULL);
		free(built);
		if (rc != SQLITE_OK) {
			fail(s, rc, "preparing a statement");
			return NULL;
		}
		s->st[id] = st;
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return bl_xstrdup(t ? (const char *)t : "");
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/* Step a statement that returns no rows. */
static int exec_stmt(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int out = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : fail(s, rc, what);
	sqlite3_reset(st);
	return out;
}

static int exec_sql(struct sqlite_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

/*
 * Atomic group of statements: BEGIN IMMEDIATE when no transaction is open,
 * else a SAVEPOINT inside the caller's. tx_end commits or rolls back.
 */
static int tx_begin(struct sqlite_store *s)
{
	sqlite3_stmt *st = stmt(s, s->in_tx ? ST_SAVEPOINT : ST_BEGIN);
	return st ? exec_stmt(s, st, "starting a transaction") : -BL_ESTORE;
}

static int tx_end(struct sqlite_store *s, int rc)
{
	if (rc == 0) {
		sqlite3_stmt *st = stmt(s, s->in_tx ? ST_RELEASE : ST_COMMIT);
		int c = st ? exec_stmt(s, st, "committing") : -BL_ESTORE;
		if (c == 0)
			return 0;
		rc = c;
	}
	/* Keep the first error's message across the rollback. */
	char msg[BL_DIAG_MAX];
	memcpy(msg, s->base.error, sizeof(msg));
	if (s->in_tx)
		sqlite3_exec(s->db, "ROLLBACK TO op; RELEASE op", NULL, NULL, NULL);
	else
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	memcpy(s->base.error, msg, sizeof(msg));
	return rc;
}

static void sq_close(struct bl_store *base)
{
	struct sqlite_store *s = S(base);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the engine lock */
	free(s->path);
	free(s);
}

/* Process-wide SQLite settings, applied once before the library starts. */
static void configure_sqlite(void)
{
	/* No allocation statistics: they cost a global mutex on every malloc. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/*
	 * Statement journals (a SAVEPOINT inside an open transaction, as each store operation
	 * of a batch takes, or a statement that may fail halfway) stay in memory up to 128 KiB
	 * rather than the default 64 KiB. One bounce recorded in `bounce --maildir`'s batch
	 * touches some 16 pages (65 KiB): past 64 KiB the journal became a file in /var/tmp
	 * for the rest of the transaction, two pwrite calls for every page each later
	 * operation touched (1.1 million calls for 50,000 reports). Larger values made
	 * SQLite 3.40 fail a big import's statement with SQLITE_FULL (store/sqlite,
	 * test_big_import, at 256 KiB). Temporary tables and sorts still go to files.
	 */
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 128 << 10);
}

static int sq_open(const char *uri, const struct bl_store_opts *opts, struct bl_store **out,
                   struct bl_diag *d)
{
	const char *path = uri + strlen("sqlite:");
	if (!*path)
		return bl_diag_set(d, BL_EINVAL, "database URI \"%s\" names no file (sqlite:PATH)",
		                   uri);
	/* Refuse a missing directory with a message, rather than SQLite's "unable to open". */
	const char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		char *dir = bl_xstrndup(path, (size_t)(slash - path));
		struct stat sb;
		int ok = stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
		int rc = ok ? 0
		            : bl_diag_set(d, BL_ESTORE,
		                          "cannot open database %s: directory %s does not exist",
		                          path, dir);
		free(dir);
		if (rc)
			return rc;
	}
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, configure_sqlite);
	/* Only `bulletin init` creates a database; other commands say it is missing. */
	struct stat fsb;
	int create = !(opts && opts->must_exist);
	if (!create && stat(path, &fsb) != 0)
		return bl_diag_set(d, BL_ESTORE,
		                   "database %s does not exist; create it with `bulletin init`",
		                   path);
	struct sqlite_store *s = bl_xcalloc(1, sizeof(*s));
	s->base.ops = &bl_sqlite_ops;
	s->lock_fd = -1;
	s->path = bl_xstrdup(path);
	s->busy_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 10000;
	int rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		bl_diag_set(d, BL_ESTORE, "cannot open database %s: %s", path,
		            s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		sq_close(&s->base);
		return -BL_ESTORE;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, s->busy_ms);
	/*
	 * 16 MiB page cache: an import of a million rows keeps the hot part of
	 * the address index in memory, and the process stays under 32 MiB.
	 */
	static const char pragmas[] = "PRAGMA synchronous = FULL;"
	                              "PRAGMA foreign_keys = ON;"
	                              "PRAGMA cache_size = -16384;"
	                              "PRAGMA temp_store = FILE;";
	/*
	 * Switching a new file to WAL takes an exclusive lock and SQLite reports
	 * SQLITE_BUSY at once, without the busy handler, when another process
	 * holds it (several `bulletin init` on one new file): retry for as long
	 * as the busy timeout allows.
	 */
	char *err = NULL;
	double until = bl_monotonic() + s->busy_ms / 1000.0;
	while ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, &err)) ==
	           SQLITE_BUSY &&
	       bl_monotonic() < until) {
		sqlite3_free(err);
		err = NULL;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, pragmas, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		bl_diag_set(d, BL_ESTORE, "cannot open database %s: %s", path,
		            err ? err : sqlite3_errstr(rc));
		sqlite3_free(err);
		sq_close(&s->base);
		return (rc & 0xff) == SQLITE_BUSY ? -BL_EBUSY : -BL_ESTORE;
	}
	*out = &s->base;
	return 0;
}

static int sq_schema_version(struct bl_store *base, int *version)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
	                            "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
	                            "AND name = 'schema_migrations'",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the schema version");
	rc = sqlite3_step(st);
	int exists = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading the schema version");
	if (!exists) {
		*version = 0;
		return 0;
	}
	rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the schema version");
	rc = sqlite3_step(st);
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading the schema version");
	*version = v;
	return 0;
}

static int sq_migrate(struct bl_store *base, int *from, int *to)
{
	struct sqlite_store *s = S(base);
	int rc = exec_sql(s,
	                  "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
	                  "KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
	                  "creating the migrations table");
	if (rc)
		return rc;
	int v;
	if ((rc = sq_schema_version(base, &v)))
		return rc;
	*from = v;
	*to = v;
	if (v > BL_SCHEMA_VERSION)
		return bl_store_set_error(base, BL_ESCHEMA,
		                          "database %s has schema version %d, newer than this "
		                          "bulletin (%d); upgrade bulletin",
		                          s->path, v, BL_SCHEMA_VERSION);
	for (const struct bl_embedded *m = bl_sqlite_migrations; m->name; m++) {
		int n = atoi(m->name);
		if (n <= v)
			continue;
		if ((rc = exec_sql(s, "BEGIN IMMEDIATE", "starting a migration")))
			return rc;
		/* Another process may have migrated while we waited for the lock. */
		int now_v;
		if ((rc = sq_schema_version(base, &now_v)) || now_v >= n) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			if (rc)
				return rc;
			if (now_v > BL_SCHEMA_VERSION)
				return bl_store_set_error(
				    base, BL_ESCHEMA,
				    "database %s has schema version %d, newer "
				    "than this bulletin (%d); upgrade bulletin",
				    s->path, now_v, BL_SCHEMA_VERSION);
			*to = now_v;
			continue;
		}
		char *err = NULL;
		rc = sqlite3_exec(s->db, m->data, NULL, NULL, &err);
		if (rc != SQLITE_OK) {
			bl_store_set_error(base, BL_ESTORE, "migration %s failed: %s", m->name,
			                   err ? err : sqlite3_errstr(rc));
			sqlite3_free(err);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return -BL_ESTORE;
		}
		sqlite3_stmt *st;
		rc = sqlite3_prepare_v2(s->db,
		                        "INSERT INTO schema_migrations (version, name, applied_at) "
		                        "VALUES (?1, ?2, ?3)",
		                        -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int(st, 1, n);
			bind_text(st, 2, m->name);
			sqlite3_bind_int64(st, 3, bl_now());
			rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
			sqlite3_finalize(st);
		}
		if (rc != SQLITE_OK) {
			int r = fail(s, rc, "recording a migration");
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return r;
		}
		if ((rc = exec_sql(s, "COMMIT", "committing a migration")))
			return rc;
		*to = n;
	}
	return 0;
}

static int sq_begin(struct bl_store *base)
{
	struct sqlite_store *s = S(base);
	if (s->in_tx)
		return bl_store_set_error(base, BL_ESTORE, "a transaction is already open");
	int rc = exec_sql(s, "BEGIN IMMEDIATE", "starting a transaction");
	if (rc == 0)
		s->in_tx = 1;
	return rc;
}

static int sq_commit(struct bl_store *base)
{
	struct sqlite_store *s = S(base);
	int rc = exec_sql(s, "COMMIT", "committing");
	if (rc == 0)
		s->in_tx = 0;
	return rc;
}

static int sq_rollback(struct bl_store *base)
{
	struct sqlite_store *s = S(base);
	s->in_tx = 0;
	int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	/* No transaction open (SQLite already rolled back) is fine. */
	return rc == SQLITE_OK || sqlite3_get_autocommit(s->db) ? 0 : fail(s, rc, "rolling back");
}

static int sq_setting_get(struct bl_store *base, const char *key, char **value)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SETTING_GET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*value = col_dup(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a setting");
}

static int sq_setting_set(struct bl_store *base, const char *key, const char *value)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SETTING_SET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return exec_stmt(s, st, "writing a setting");
}

static int sq_list_create(struct bl_store *base, struct bl_list *l)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_LIST_CREATE);
	if (!st)
		return -BL_ESTORE;
	int64_t now = l->created_at ? l->created_at : bl_now();
	bind_text(st, 1, l->slug);
	bind_text(st, 2, l->name);
	bind_text(st, 3, l->description ? l->description : "");
	bind_text(st, 4, bl_optin_name(l->optin));
	bind_text(st, 5, bl_visibility_name(l->visibility));
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int(st, 7, !l->breaking_digest_off);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		int r = fail(s, rc, "creating a list");
		if (r == -BL_EEXIST)
			bl_store_set_error(base, BL_EEXIST,
			                   "a list with slug \"%s\" already exists", l->slug);
		return r;
	}
	l->id = sqlite3_last_insert_rowid(s->db);
	l->created_at = now;
	return 0;
}

static void read_list(sqlite3_stmt *st, struct bl_list *l)
{
	l->id = sqlite3_column_int64(st, 0);
	l->slug = col_dup(st, 1);
	l->name = col_dup(st, 2);
	l->description = col_dup(st, 3);
	bl_optin_parse(col_text(st, 4), &l->optin);
	bl_visibility_parse(col_text(st, 5), &l->visibility);
	l->created_at = sqlite3_column_int64(st, 6);
	l->breaking_digest_off = sqlite3_column_int(st, 7) == 0;
}

static int sq_list_get(struct bl_store *base, const char *slug, struct bl_list *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_LIST_GET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, slug);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		read_list(st, out);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a list");
}

static int sq_list_each(struct bl_store *base, bl_list_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_LIST_EACH);
	if (!st)
		return -BL_ESTORE;
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_list l = {0};
		read_list(st, &l);
		out = fn(arg, &l);
		bl_list_clear(&l);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing lists");
	sqlite3_reset(st);
	return out;
}

static int sq_list_delete(struct bl_store *base, const char *slug)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	/* A post still to go out on the list keeps it (store.h, list_delete). */
	sqlite3_stmt *busy = NULL;
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT p.id, p.status FROM lists l "
	                       "JOIN post_lists pl ON pl.list_id = l.id "
	                       "JOIN posts p ON p.id = pl.post_id "
	                       "WHERE l.slug = ?1 AND p.kind = 'post' "
	                       "AND p.status IN ('scheduled', 'sending', 'paused') "
	                       "ORDER BY p.id LIMIT 1",
	                       -1, &busy, NULL) != SQLITE_OK) {
		rc = fail(s, sqlite3_errcode(s->db), "deleting a list");
		goto out;
	}
	bind_text(busy, 1, slug);
	int step = sqlite3_step(busy);
	if (step == SQLITE_ROW)
		rc = bl_store_set_error(base, BL_EINUSE,
		                        "list \"%s\" is used by post %lld (%s): cancel the post or "
		                        "change its lists first",
		                        slug, (long long)sqlite3_column_int64(busy, 0),
		                        (const char *)sqlite3_column_text(busy, 1));
	else if (step != SQLITE_DONE)
		rc = fail(s, step, "deleting a list");
	sqlite3_finalize(busy);
	if (rc)
		goto out;
	/* Consent events keep their history, detached from the list. */
	sqlite3_stmt *st = stmt(s, ST_LIST_DETACH);
	if (!st) {
		rc = -BL_ESTORE;
		goto out;
	}
	bind_text(st, 1, slug);
	if ((rc = exec_stmt(s, st, "detaching consent events")))
		goto out;
	if (!(st = stmt(s, ST_LIST_DELETE))) {
		rc = -BL_ESTORE;
		goto out;
	}
	bind_text(st, 1, slug);
	if ((rc = exec_stmt(s, st, "deleting a list")))
		goto out;
	if (sqlite3_changes(s->db) == 0)
		rc = bl_store_set_error(base, BL_ENOENT, "no list with slug \"%s\"", slug);
out:
	return tx_end(s, rc);
}

static int sq_list_counts(struct bl_store *base, int64_t list_id, struct bl_list_counts *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_LIST_COUNTS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, list_id);
	memset(out, 0, sizeof(*out));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->unconfirmed = sqlite3_column_int64(st, 0);
		out->confirmed = sqlite3_column_int64(st, 1);
		out->unsubscribed = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, rc, "counting subscriptions");
}

/* Read the SUB_COLS columns starting at column 0. */
static void read_subscriber(sqlite3_stmt *st, struct bl_subscriber *out)
{
	out->id = sqlite3_column_int64(st, 0);
	out->email = col_dup(st, 1);
	out->email_key = col_dup(st, 2);
	out->name = col_dup(st, 3);
	out->attributes = col_dup(st, 4);
	bl_subscriber_status_parse(col_text(st, 5), &out->status);
	out->status_reason = col_dup(st, 6);
	out->created_at = sqlite3_column_int64(st, 7);
	out->updated_at = sqlite3_column_int64(st, 8);
}

static int sq_subscriber_get(struct bl_store *base, const char *email_key,
                             struct bl_subscriber *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUB_GET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, email_key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		read_subscriber(st, out);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a subscriber");
}

static int sq_subscriber_each(struct bl_store *base, const struct bl_subscriber_filter *f,
                              bl_subscriber_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st;
	const char *status = f->status >= 0 ? bl_subscriber_status_name(f->status) : NULL;
	sqlite3_int64 limit = f->limit > 0 ? f->limit : -1;
	char *upper = NULL;
	if (f->prefix && *f->prefix) {
		if (!(st = stmt(s, ST_SUB_SEARCH)))
			return -BL_ESTORE;
		const char *after = f->after_key ? f->after_key : "";
		bind_text(st, 1, strcmp(after, f->prefix) > 0 ? after : f->prefix);
		size_t n = strlen(f->prefix);
		upper = bl_xstrdup(f->prefix);
		/* The first key past every key with the prefix: its last byte below 0xff, plus one.
		 */
		while (n > 0 && (unsigned char)upper[n - 1] == 0xff)
			n--;
		if (n > 0) {
			upper[n - 1] = (char)((unsigned char)upper[n - 1] + 1);
			sqlite3_bind_text(st, 2, upper, (int)n, SQLITE_STATIC);
		} else {
			sqlite3_bind_zeroblob(st, 2, 0); /* a blob sorts after every text */
		}
		bind_text(st, 3, after);
		bind_text(st, 4, status);
		sqlite3_bind_int64(st, 5, limit);
		sqlite3_bind_int64(st, 6, f->list_id);
		if (f->list_id && f->sub_status >= 0)
			bind_text(st, 7, bl_sub_status_name(f->sub_status));
	} else if (f->list_id == 0) {
		if (!(st = stmt(s, f->status == BL_SUBSCRIBER_BLOCKLISTED ? ST_SUB_EACH_BLOCKLISTED
		                                                          : ST_SUB_EACH_ALL)))
			return -BL_ESTORE;
		if (f->status != BL_SUBSCRIBER_BLOCKLISTED)
			bind_text(st, 1, status);
		sqlite3_bind_int64(st, 2, f->after_id);
		sqlite3_bind_int64(st, 3, limit);
	} else {
		if (!(st =
		          stmt(s, f->sub_status >= 0 ? ST_SUB_EACH_LIST_STATUS : ST_SUB_EACH_LIST)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, f->list_id);
		bind_text(st, 2, status);
		sqlite3_bind_int64(st, 3, f->after_id);
		sqlite3_bind_int64(st, 4, limit);
		if (f->sub_status >= 0)
			bind_text(st, 5, bl_sub_status_name(f->sub_status));
	}
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_subscriber sub = {0};
		read_subscriber(st, &sub);
		out = fn(arg, &sub);
		bl_subscriber_clear(&sub);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing subscribers");
	sqlite3_reset(st);
	free(upper);
	return out;
}

static void read_subscription(sqlite3_stmt *st, struct bl_subscription *x)
{
	x->subscriber_id = sqlite3_column_int64(st, 0);
	x->list_id = sqlite3_column_int64(st, 1);
	x->list_slug = col_text(st, 2);
	bl_sub_status_parse(col_text(st, 3), &x->status);
	bl_mode_parse(col_text(st, 4), &x->mode);
	x->created_at = sqlite3_column_int64(st, 5);
	x->updated_at = sqlite3_column_int64(st, 6);
}

static int sq_subscription_each(struct bl_store *base, int64_t subscriber_id, bl_subscription_fn fn,
                                void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUBSCRIPTION_EACH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, subscriber_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_subscription x;
		read_subscription(st, &x);
		if ((out = fn(arg, &x)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing subscriptions");
	sqlite3_reset(st);
	return out;
}

static void read_consent(sqlite3_stmt *st, struct bl_consent *c)
{
	c->id = sqlite3_column_int64(st, 0);
	c->subscriber_id = sqlite3_column_int64(st, 1);
	c->list_id = sqlite3_column_int64(st, 2);
	c->list_slug = sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : col_text(st, 3);
	bl_consent_kind_parse(col_text(st, 4), &c->kind);
	c->at = sqlite3_column_int64(st, 5);
	c->ip = col_text(st, 6);
	c->user_agent = col_text(st, 7);
	c->source = col_text(st, 8);
}

static int sq_consent_each(struct bl_store *base, int64_t subscriber_id, bl_consent_fn fn,
                           void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, subscriber_id ? ST_CONSENT_EACH : ST_CONSENT_DETACHED);
	if (!st)
		return -BL_ESTORE;
	if (subscriber_id)
		sqlite3_bind_int64(st, 1, subscriber_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_consent c;
		read_consent(st, &c);
		if ((out = fn(arg, &c)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing consent events");
	sqlite3_reset(st);
	return out;
}

static int add_consent(struct sqlite_store *s, const struct bl_consent *c)
{
	sqlite3_stmt *st = stmt(s, ST_CONSENT_ADD);
	if (!st)
		return -BL_ESTORE;
	if (c->subscriber_id)
		sqlite3_bind_int64(st, 1, c->subscriber_id);
	if (c->list_id)
		sqlite3_bind_int64(st, 2, c->list_id);
	bind_text(st, 3, bl_consent_kind_name(c->kind));
	sqlite3_bind_int64(st, 4, c->at);
	bind_text(st, 5, c->ip ? c->ip : "");
	bind_text(st, 6, c->user_agent ? c->user_agent : "");
	bind_text(st, 7, c->source ? c->source : "");
	return exec_stmt(s, st, "recording a consent event");
}

static int sq_consent_add(struct bl_store *base, const struct bl_consent *c)
{
	return add_consent(S(base), c);
}

static int get_subscriber_id(struct sqlite_store *s, int64_t id, struct bl_subscriber *out);

static int sq_subscriber_erase(struct bl_store *base, int64_t subscriber_id,
                               const char *suppression_hash, const char *reason, int64_t now)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_ERASE_EVENTS);
	if (!st) {
		rc = -BL_ESTORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, subscriber_id);
	if ((rc = exec_stmt(s, st, "anonymising consent events")))
		goto out;
	if (!(st = stmt(s, ST_ERASE_BOUNCES))) {
		rc = -BL_ESTORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, subscriber_id);
	struct bl_subscriber gone = {0};
	if ((rc = get_subscriber_id(s, subscriber_id, &gone)) < 0)
		goto out;
	bind_text(st, 2, rc == 1 ? gone.email_key : "");
	rc = exec_stmt(s, st, "blanking bounce records");
	bl_subscriber_clear(&gone);
	if (rc)
		goto out;
	if (!(st = stmt(s, ST_ERASE_SUBSCRIBER))) {
		rc = -BL_ESTORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, subscriber_id);
	if ((rc = exec_stmt(s, st, "deleting a subscriber")))
		goto out;
	if (sqlite3_changes(s->db) == 0) {
		rc = bl_store_set_error(base, BL_ENOENT, "no subscriber with id %lld",
		                        (long long)subscriber_id);
		goto out;
	}
	struct bl_consent ev = {.kind = BL_CONSENT_ERASE, .at = now, .source = reason};
	if ((rc = add_consent(s, &ev)))
		goto out;
	if (!(st = stmt(s, ST_SUPPRESS_ADD))) {
		rc = -BL_ESTORE;
		goto out;
	}
	bind_text(st, 1, suppression_hash);
	bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, now);
	rc = exec_stmt(s, st, "adding a suppression");
out:
	return tx_end(s, rc);
}

static int sq_suppression_any(struct bl_store *base)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUPPRESS_ANY);
	if (!st)
		return -BL_ESTORE;
	int rc = sqlite3_step(st);
	int any = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? any : fail(s, rc, "reading the suppression list");
}

static int sq_suppression_each(struct bl_store *base, bl_suppression_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUPPRESS_EACH);
	if (!st)
		return -BL_ESTORE;
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((out = fn(arg, col_text(st, 0), col_text(st, 1), sqlite3_column_int64(st, 2))))
			break;
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing suppressions");
	sqlite3_reset(st);
	return out;
}

static int sq_suppression_add(struct bl_store *base, const char *hash, const char *reason,
                              int64_t created_at)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUPPRESS_ADD);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, hash);
	bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, created_at);
	return exec_stmt(s, st, "adding a suppression");
}

static int sq_subscriber_max_id(struct bl_store *base, int64_t *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT " SUBSCRIBER_ID_FLOOR, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the highest subscriber id");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc, "reading the highest subscriber id");
}

static int sq_suppression_get(struct bl_store *base, const char *hash, int64_t *since)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUPPRESS_GET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, hash);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (since)
			*since = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading the suppression list");
}

static int sq_import_lookup(struct bl_store *base, int64_t list_id, size_t n,
                            const char *const *keys, const char *const *hashes,
                            struct bl_import_state *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st;
	int rc;
	for (size_t i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));

	/* CHUNK keys per statement; unused placeholders stay NULL and match nothing. */
	for (size_t base_i = 0; base_i < n; base_i += CHUNK) {
		size_t m = n - base_i < CHUNK ? n - base_i : CHUNK;
		if (!(st = stmt(s, ST_LOOKUP_MULTI)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, list_id);
		for (size_t k = 0; k < m; k++)
			bind_text(st, (int)k + 2, keys[base_i + k]);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *key = col_text(st, 2);
			for (size_t k = 0; k < m; k++) {
				struct bl_import_state *o = &out[base_i + k];
				if (o->found || strcmp(keys[base_i + k], key) != 0)
					continue;
				o->found = 1;
				read_subscriber(st, &o->sub);
				if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
					o->has_subscription = 1;
					bl_sub_status_parse(col_text(st, 9), &o->sub_status);
					bl_mode_parse(col_text(st, 10), &o->mode);
				}
			}
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return fail(s, rc, "looking up subscribers");
	}
	/* Most databases have no suppressions; then the caller passes no hashes. */
	for (size_t i = 0; hashes && i < n; i++) {
		rc = sq_suppression_get(base, hashes[i], NULL);
		if (rc < 0)
			return rc;
		out[i].suppressed = rc;
	}
	return 0;
}

static int sq_import_mark_reset(struct bl_store *base)
{
	struct sqlite_store *s = S(base);
	/* The statement caches a table that is about to go. */
	sqlite3_finalize(s->st[ST_MARK]);
	s->st[ST_MARK] = NULL;
	return exec_sql(s, "DROP TABLE IF EXISTS temp.import_marks", "resetting import marks");
}

static int sq_import_mark(struct bl_store *base, size_t n, const char *const *marks, char *seen)
{
	struct sqlite_store *s = S(base);
	int rc = exec_sql(s,
	                  "CREATE TEMP TABLE IF NOT EXISTS import_marks (mark TEXT PRIMARY KEY) "
	                  "WITHOUT ROWID",
	                  "creating import marks");
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_MARK);
	if (!st)
		return -BL_ESTORE;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, marks[i]);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			sqlite3_reset(st);
			return fail(s, rc, "marking import rows");
		}
		seen[i] = sqlite3_changes(s->db) == 0;
	}
	sqlite3_reset(st);
	return 0;
}

/* Step a multi-row statement once its parameters are bound. */
static int step_multi(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, what);
}

static void bind_subscriber(sqlite3_stmt *st, int p, const struct bl_import_change *c)
{
	sqlite3_bind_int64(st, p, c->subscriber_id);
	bind_text(st, p + 1, c->email);
	bind_text(st, p + 2, c->email_key);
	bind_text(st, p + 3, c->name ? c->name : "");
	bind_text(st, p + 4, c->attributes ? c->attributes : "{}");
	bind_text(st, p + 5, bl_subscriber_status_name(c->status));
	bind_text(st, p + 6, c->status_reason ? c->status_reason : "");
	sqlite3_bind_int64(st, p + 7, c->created_at);
	sqlite3_bind_int64(st, p + 8, c->updated_at);
}

static void bind_subscription(sqlite3_stmt *st, int p, const struct bl_import_change *c)
{
	sqlite3_bind_int64(st, p, c->subscriber_id);
	sqlite3_bind_int64(st, p + 1, c->list_id);
	bind_text(st, p + 2, bl_sub_status_name(c->sub_status));
	bind_text(st, p + 3, bl_mode_name(c->mode));
	sqlite3_bind_int64(st, p + 4, c->sub_created_at);
	sqlite3_bind_int64(st, p + 5, c->updated_at);
}

static void bind_consent(sqlite3_stmt *st, int p, const struct bl_consent *e)
{
	if (e->subscriber_id)
		sqlite3_bind_int64(st, p, e->subscriber_id);
	else
		sqlite3_bind_null(st, p);
	if (e->list_id)
		sqlite3_bind_int64(st, p + 1, e->list_id);
	else
		sqlite3_bind_null(st, p + 1);
	bind_text(st, p + 2, bl_consent_kind_name(e->kind));
	sqlite3_bind_int64(st, p + 3, e->at);
	bind_text(st, p + 4, e->ip ? e->ip : "");
	bind_text(st, p + 5, e->user_agent ? e->user_agent : "");
	bind_text(st, p + 6, e->source ? e->source : "");
}

/*
 * Write @m changes that each concern a different subscriber: subscribers
 * first (new ones get the next ids, in order), then subscriptions, then
 * consent events in change order. Inserts go CHUNK rows per statement.
 */
static int apply_segment(struct sqlite_store *s, struct bl_import_change *c, size_t m)
{
	sqlite3_stmt *st = NULL;
	int rc;
	/* 1. subscribers */
	int64_t next = 0;
	size_t nins = 0;
	for (size_t i = 0; i < m; i++)
		nins += c[i].insert_subscriber;
	if (nins) {
		if (!(st = stmt(s, ST_MAX_ID)))
			return -BL_ESTORE;
		rc = sqlite3_step(st);
		next = sqlite3_column_int64(st, 0) + 1;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return fail(s, rc, "reading the highest subscriber id");
	}
	size_t i = 0;
	while (i < m) {
		/* Gather up to CHUNK inserts; updates in between go one by one. */
		size_t idx[CHUNK], k = 0;
		for (; i < m && k < CHUNK; i++) {
			if (c[i].insert_subscriber) {
				c[i].subscriber_id = next++;
				idx[k++] = i;
			} else if (c[i].update_subscriber) {
				if (!(st = stmt(s, ST_SUB_UPDATE)))
					return -BL_ESTORE;
				sqlite3_bind_int64(st, 1, c[i].subscriber_id);
				bind_text(st, 2, c[i].name ? c[i].name : "");
				bind_text(st, 3, c[i].attributes ? c[i].attributes : "{}");
				bind_text(st, 4, bl_subscriber_status_name(c[i].status));
				bind_text(st, 5, c[i].status_reason ? c[i].status_reason : "");
				sqlite3_bind_int64(st, 6, c[i].updated_at);
				if ((rc = exec_stmt(s, st, "updating a subscriber")))
					return rc;
			}
		}
		if (k == CHUNK) {
			if (!(st = stmt(s, ST_SUB_INSERT_MULTI)))
				return -BL_ESTORE;
			for (size_t r = 0; r < k; r++)
				bind_subscriber(st, (int)r * 9 + 1, &c[idx[r]]);
			if ((rc = step_multi(s, st, "adding subscribers")))
				return rc;
		} else {
			for (size_t r = 0; r < k; r++) {
				if (!(st = stmt(s, ST_SUB_INSERT)))
					return -BL_ESTORE;
				const struct bl_import_change *x = &c[idx[r]];
				bind_text(st, 1, x->email);
				bind_text(st, 2, x->email_key);
				bind_text(st, 3, x->name ? x->name : "");
				bind_text(st, 4, x->attributes ? x->attributes : "{}");
				bind_text(st, 5, bl_subscriber_status_name(x->status));
				bind_text(st, 6, x->status_reason ? x->status_reason : "");
				sqlite3_bind_int64(st, 7, x->created_at);
				sqlite3_bind_int64(st, 8, x->updated_at);
				if ((rc = exec_stmt(s, st, "adding a subscriber")))
					return rc;
				if (sqlite3_last_insert_rowid(s->db) != x->subscriber_id)
					return bl_store_set_error(&s->base, BL_ESTORE,
					                          "subscriber ids out of sequence");
			}
		}
	}
	/* 2. subscriptions */
	i = 0;
	while (i < m) {
		size_t idx[CHUNK], k = 0;
		for (; i < m && k < CHUNK; i++) {
			if (c[i].insert_subscription) {
				idx[k++] = i;
			} else if (c[i].update_subscription) {
				if (!(st = stmt(s, ST_SUBSCRIPTION_UPDATE)))
					return -BL_ESTORE;
				sqlite3_bind_int64(st, 1, c[i].subscriber_id);
				sqlite3_bind_int64(st, 2, c[i].list_id);
				bind_text(st, 3, bl_sub_status_name(c[i].sub_status));
				bind_text(st, 4, bl_mode_name(c[i].mode));
				sqlite3_bind_int64(st, 5, c[i].updated_at);
				if ((rc = exec_stmt(s, st, "updating a subscription")))
					return rc;
			}
		}
		int multi = k == CHUNK;
		if (multi && !(st = stmt(s, ST_SUBSCRIPTION_INSERT_MULTI)))
			return -BL_ESTORE;
		for (size_t r = 0; r < k; r++) {
			if (!multi && !(st = stmt(s, ST_SUBSCRIPTION_INSERT)))
				return -BL_ESTORE;
			bind_subscription(st, multi ? (int)r * 6 + 1 : 1, &c[idx[r]]);
			if (!multi && (rc = exec_stmt(s, st, "adding a subscription")))
				return rc;
		}
		if (multi && (rc = step_multi(s, st, "adding subscriptions")))
			return rc;
	}
	/* 3. consent events, in order */
	const struct bl_consent *ev[CHUNK];
	size_t k = 0;
	for (i = 0; i <= m; i++) {
		if (i < m) {
			for (size_t e = 0; e < c[i].n_events; e++) {
				c[i].events[e].subscriber_id = c[i].subscriber_id;
				ev[k++] = &c[i].events[e];
				if (k < CHUNK)
					continue;
				if (!(st = stmt(s, ST_CONSENT_ADD_MULTI)))
					return -BL_ESTORE;
				for (size_t r = 0; r < k; r++)
					bind_consent(st, (int)r * 7 + 1, ev[r]);
				if ((rc = step_multi(s, st, "recording consent events")))
					return rc;
				k = 0;
			}
			continue;
		}
		for (size_t r = 0; r < k; r++)
			if ((rc = add_consent(s, ev[r])))
				return rc;
	}
	return 0;
}

/* Hash of the subscriber a change concerns (its address for a new one). */
static uint64_t change_key(const struct bl_import_change *c)
{
	uint64_t h = 1469598103934665603ULL;
	if (!c->insert_subscriber)
		return (uint64_t)c->subscriber_id * 0x9E3779B97F4A7C15ULL | 1;
	for (const char *p = c->email_key; p && *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	return h | 1;
}

static int sq_import_apply(struct bl_store *base, size_t n, struct bl_import_change *changes)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	/*
	 * Split the changes into segments in which each subscriber appears
	 * once, so that grouping the writes by table keeps their order. A hash
	 * collision only splits a segment early.
	 */
	size_t nslots = 64;
	while (nslots < 2 * n)
		nslots *= 2;
	uint64_t *slots = bl_xcalloc(nslots, sizeof(*slots));
	size_t start = 0;
	for (size_t i = 0; i <= n && rc == 0; i++) {
		int repeat = 0;
		size_t slot = 0;
		if (i < n) {
			uint64_t h = change_key(&changes[i]);
			slot = (size_t)h & (nslots - 1);
			while (slots[slot] && slots[slot] != h)
				slot = (slot + 1) & (nslots - 1);
			repeat = slots[slot] == h;
			if (!repeat)
				slots[slot] = h;
		}
		if (i == n || repeat) {
			rc = apply_segment(s, changes + start, i - start);
			start = i;
			if (repeat) {
				memset(slots, 0, nslots * sizeof(*slots));
				uint64_t h = change_key(&changes[i]);
				slot = (size_t)h & (nslots - 1);
				slots[slot] = h;
			}
		}
	}
	free(slots);
	return tx_end(s, rc);
}

/* Growable arrays for one export item. */
struct export_buf {
	struct bl_subscription *subs;
	size_t n_subs, cap_subs;
	char **slugs; /* owned copies of list_slug, parallel to subs */
	struct bl_consent *events;
	size_t n_events, cap_events;
	struct bl_buf text; /* owned copies of event strings, NUL-separated */
	size_t *offs;       /* per event: offsets of slug, ip, ua, source into text */
	size_t cap_offs;
};

static void export_buf_reset(struct export_buf *b)
{
	for (size_t i = 0; i < b->n_subs; i++)
		free(b->slugs[i]);
	b->n_subs = 0;
	b->n_events = 0;
	bl_buf_reset(&b->text);
}

static size_t keep(struct export_buf *b, const char *v)
{
	size_t off = b->text.len;
	bl_buf_add(&b->text, v, strlen(v) + 1);
	return off;
}

static int export_collect(struct sqlite_store *s, struct export_buf *b, int64_t sub_id,
                          int64_t list_id, int with_events)
{
	sqlite3_stmt *st = stmt(s, list_id ? ST_EXPORT_SUBS_LIST : ST_EXPORT_SUBS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub_id);
	if (list_id)
		sqlite3_bind_int64(st, 2, list_id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (b->n_subs == b->cap_subs) {
			b->cap_subs = b->cap_subs ? 2 * b->cap_subs : 8;
			b->subs = bl_xrealloc(b->subs, b->cap_subs * sizeof(*b->subs));
			b->slugs = bl_xrealloc(b->slugs, b->cap_subs * sizeof(*b->slugs));
		}
		struct bl_subscription *x = &b->subs[b->n_subs];
		read_subscription(st, x);
		b->slugs[b->n_subs] = bl_xstrdup(x->list_slug);
		x->list_slug = b->slugs[b->n_subs];
		b->n_subs++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, "exporting subscriptions");
	if (!with_events)
		return 0;
	if (!(st = stmt(s, ST_CONSENT_EACH)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (b->n_events == b->cap_events) {
			b->cap_events = b->cap_events ? 2 * b->cap_events : 8;
			b->events = bl_xrealloc(b->events, b->cap_events * sizeof(*b->events));
			b->offs = bl_xrealloc(b->offs, b->cap_events * 5 * sizeof(*b->offs));
		}
		struct bl_consent *c = &b->events[b->n_events];
		read_consent(st, c);
		size_t *o = &b->offs[b->n_events * 5];
		o[0] = c->list_slug ? keep(b, c->list_slug) : (size_t)-1;
		o[1] = keep(b, c->ip);
		o[2] = keep(b, c->user_agent);
		o[3] = keep(b, c->source);
		b->n_events++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, "exporting consent events");
	if (bl_buf_err(&b->text))
		return bl_store_set_error(&s->base, BL_ELIMIT,
		                          "consent history too large to export");
	/* Point the strings into the text buffer now that it stopped moving. */
	for (size_t i = 0; i < b->n_events; i++) {
		size_t *o = &b->offs[i * 5];
		struct bl_consent *c = &b->events[i];
		c->list_slug = o[0] == (size_t)-1 ? NULL : b->text.data + o[0];
		c->ip = b->text.data + o[1];
		c->user_agent = b->text.data + o[2];
		c->source = b->text.data + o[3];
	}
	return 0;
}

static int sq_export_each(struct bl_store *base, int64_t list_id, int with_events, bl_export_fn fn,
                          void *arg)
{
	struct sqlite_store *s = S(base);
	/* A read transaction gives the walk one consistent snapshot. */
	int own_tx = !s->in_tx;
	if (own_tx) {
		int rc = exec_sql(s, "BEGIN", "starting an export");
		if (rc)
			return rc;
	}
	sqlite3_stmt *st = stmt(s, list_id ? ST_EXPORT_LIST : ST_EXPORT_ALL);
	int out = 0, rc = SQLITE_DONE;
	struct export_buf b = {0};
	bl_buf_init(&b.text, 0);
	if (!st) {
		out = -BL_ESTORE;
		goto done;
	}
	if (list_id)
		sqlite3_bind_int64(st, 1, list_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_subscriber sub = {0};
		read_subscriber(st, &sub);
		export_buf_reset(&b);
		out = export_collect(s, &b, sub.id, list_id, with_events);
		if (out == 0) {
			struct bl_export_item item = {
			    .sub = &sub,
			    .subs = b.subs,
			    .n_subs = b.n_subs,
			    .events = with_events ? b.events : NULL,
			    .n_events = b.n_events,
			};
			out = fn(arg, &item);
		}
		bl_subscriber_clear(&sub);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "exporting subscribers");
	sqlite3_reset(st);
done:
	export_buf_reset(&b);
	free(b.subs);
	free(b.slugs);
	free(b.events);
	free(b.offs);
	bl_buf_finish(&b.text);
	if (own_tx)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return out;
}

/* ---- posts and the delivery ledger (schema 2) ----------------------------------------------- */

static int post_create(struct sqlite_store *s, const struct bl_post *p, const int64_t *list_ids,
                       size_t n_lists, int64_t created_at, int64_t *id_out)
{
	sqlite3_stmt *st;
	int rc;
	for (size_t i = 0; i < n_lists; i++) {
		if (!(st = stmt(s, ST_LIST_EXISTS)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, list_ids[i]);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return bl_store_set_error(&s->base, BL_ENOENT,
			                          "there is no list with id %" PRId64, list_ids[i]);
		if (rc != SQLITE_ROW)
			return fail(s, rc, "looking up a list");
	}
	if (!(st = stmt(s, ST_POST_CREATE)))
		return -BL_ESTORE;
	bind_text(st, 1, p->subject ? p->subject : "");
	bind_text(st, 2, p->body ? p->body : "");
	bind_text(st, 3, p->from_header ? p->from_header : "");
	sqlite3_bind_int(st, 4, (int)p->priority);
	bind_text(st, 5, bl_post_status_name(p->status));
	bind_text(st, 6, p->pause_reason ? p->pause_reason : "");
	sqlite3_bind_int(st, 7, p->auto_paused != 0);
	sqlite3_bind_int64(st, 8, created_at);
	sqlite3_bind_int64(st, 9, p->scheduled_at);
	bind_text(st, 10, bl_post_kind_name(p->kind));
	sqlite3_bind_int64(st, 11, p->started_at);
	sqlite3_bind_int64(st, 12, p->total);
	bind_text(st, 13, bl_post_format_name(p->format));
	if ((rc = exec_stmt(s, st, "creating a post")))
		return rc;
	int64_t id = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; i < n_lists; i++) {
		if (!(st = stmt(s, ST_POST_LIST_ADD)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, list_ids[i]);
		if ((rc = exec_stmt(s, st, "adding a list to a post")))
			return rc;
	}
	*id_out = id;
	return 0;
}

static int sq_post_create(struct bl_store *base, struct bl_post *p, const int64_t *list_ids,
                          size_t n_lists)
{
	struct sqlite_store *s = S(base);
	if (n_lists == 0)
		return bl_store_set_error(base, BL_EINVAL, "a post needs at least one list");
	if (p->status != BL_POST_DRAFT && p->status != BL_POST_SCHEDULED)
		return bl_store_set_error(base, BL_EINVAL,
		                          "a new post is a draft or scheduled, not %s",
		                          bl_post_status_name(p->status));
	if ((unsigned)p->priority > BL_PRIORITY_TRANSACTIONAL)
		return bl_store_set_error(base, BL_EINVAL, "unknown post priority %d",
		                          (int)p->priority);
	if ((unsigned)p->format > BL_POST_FORMAT_HTML)
		return bl_store_set_error(base, BL_EINVAL, "unknown post format %d",
		                          (int)p->format);
	if (p->kind != BL_POST_KIND_POST)
		return bl_store_set_error(base, BL_EINVAL,
		                          "post_create makes posts of kind post only, not %s",
		                          bl_post_kind_name(p->kind));
	int64_t created_at = p->created_at ? p->created_at : bl_now(), id = 0;
	struct bl_post row = *p;
	row.started_at = row.total = 0;
	int rc = tx_begin(s);
	if (rc)
		return rc;
	rc = tx_end(s, post_create(s, &row, list_ids, n_lists, created_at, &id));
	if (rc == 0) {
		p->id = id;
		p->created_at = created_at;
	}
	return rc;
}

/* Read POST_COLS into @p, strings malloc'd. */
static void read_post(sqlite3_stmt *st, struct bl_post *p)
{
	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(st, 0);
	p->subject = col_dup(st, 1);
	p->body = col_dup(st, 2);
	p->from_header = col_dup(st, 3);
	p->priority = (enum bl_priority)sqlite3_column_int(st, 4);
	bl_post_status_parse(col_text(st, 5), &p->status);
	p->pause_reason = col_dup(st, 6);
	p->auto_paused = sqlite3_column_int(st, 7);
	p->created_at = sqlite3_column_int64(st, 8);
	p->scheduled_at = sqlite3_column_int64(st, 9); /* NULL reads as 0 */
	p->started_at = sqlite3_column_int64(st, 10);
	p->finished_at = sqlite3_column_int64(st, 11);
	p->total = sqlite3_column_int64(st, 12);
	p->in_doubt = sqlite3_column_int64(st, 13);
	bl_post_kind_parse(col_text(st, 14), &p->kind);
	bl_post_format_parse(col_text(st, 15), &p->format);
}

static int sq_post_get(struct bl_store *base, int64_t id, struct bl_post *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_POST_GET);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_post(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a post");
}

static int sq_post_each(struct bl_store *base, bl_post_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_POST_EACH);
	if (!st)
		return -BL_ESTORE;
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_post p;
		read_post(st, &p);
		out = fn(arg, &p);
		bl_post_clear(&p);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing posts");
	sqlite3_reset(st);
	return out;
}

static int sq_post_lists(struct bl_store *base, int64_t post_id, bl_list_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_POST_LISTS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_list l = {0};
		read_list(st, &l);
		out = fn(arg, &l);
		bl_list_clear(&l);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing the lists of a post");
	sqlite3_reset(st);
	return out;
}

static int set_status(struct sqlite_store *s, int64_t id, unsigned from_mask,
                      enum bl_post_status to, const char *reason, int auto_paused, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_POST_SET_STATUS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, bl_post_status_name(to));
	bind_text(st, 3, reason ? reason : "");
	sqlite3_bind_int(st, 4, auto_paused != 0);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, from_mask);
	int rc = exec_stmt(s, st, "changing the status of a post");
	if (rc)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	if (to == BL_POST_CANCELLED) {
		if (!(st = stmt(s, ST_POST_CANCEL_ROWS)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		if ((rc = exec_stmt(s, st, "suppressing the rows of a cancelled post")))
			return rc;
	}
	if (to == BL_POST_SENDING && from_mask == 1u << BL_POST_PAUSED) {
		if (!(st = stmt(s, ST_POST_RESUME_ROWS)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		if ((rc = exec_stmt(s, st, "making the rows of a resumed post due")))
			return rc;
	}
	return 1;
}

static int sq_post_set_status(struct bl_store *base, int64_t id, unsigned from_mask,
                              enum bl_post_status to, const char *reason, int auto_paused,
                              int64_t now)
{
	struct sqlite_store *s = S(base);
	if ((unsigned)to > BL_POST_CANCELLED)
		return bl_store_set_error(base, BL_EINVAL, "unknown post status %d", (int)to);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int changed = set_status(s, id, from_mask, to, reason, auto_paused, now);
	rc = tx_end(s, changed < 0 ? changed : 0);
	return rc ? rc : changed;
}

/* Count @n rows just inserted into post @post_id as pending (post_counts). */
static int count_pending(struct sqlite_store *s, int64_t post_id, int64_t n)
{
	sqlite3_stmt *st = stmt(s, ST_COUNTS_ADD_PENDING);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, n);
	return exec_stmt(s, st, "counting queued deliveries");
}

static int queue(struct sqlite_store *s, int64_t id, int64_t now, int64_t *total)
{
	sqlite3_stmt *st = stmt(s, ST_POST_STATUS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	enum bl_post_status status = BL_POST_DRAFT;
	enum bl_post_kind kind = BL_POST_KIND_POST;
	int priority = 0;
	if (rc == SQLITE_ROW) {
		bl_post_status_parse(col_text(st, 0), &status);
		priority = sqlite3_column_int(st, 1);
		bl_post_kind_parse(col_text(st, 2), &kind);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return bl_store_set_error(&s->base, BL_ENOENT, "there is no post %" PRId64, id);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading a post");
	if (kind != BL_POST_KIND_POST || (status != BL_POST_DRAFT && status != BL_POST_SCHEDULED))
		return 0;
	if (!(st = stmt(s, ST_QUEUE_INSERT)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, priority);
	sqlite3_bind_int64(st, 3, now);
	if ((rc = exec_stmt(s, st, "queueing a post")))
		return rc;
	int64_t n = sqlite3_changes64(s->db);
	if ((rc = count_pending(s, id, n)))
		return rc;
	if (!(st = stmt(s, ST_QUEUE_START)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, n);
	if ((rc = exec_stmt(s, st, "starting a post")))
		return rc;
	*total = n;
	return 1;
}

static int sq_post_queue(struct bl_store *base, int64_t id, int64_t now, int64_t *total)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int64_t n = 0;
	int queued = queue(s, id, now, &n);
	rc = tx_end(s, queued < 0 ? queued : 0);
	if (rc)
		return rc;
	if (queued == 1 && total)
		*total = n;
	return queued;
}

static int sq_delivery_counts(struct bl_store *base, int64_t post_id,
                              struct bl_delivery_counts *out)
{
	struct sqlite_store *s = S(base);
	struct bl_delivery_counts c = {.in_doubt = 0};
	sqlite3_stmt *st = stmt(s, ST_COUNTS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		for (int i = 0; i < BL_DELIVERY_NSTATES; i++)
			c.n[i] = sqlite3_column_int64(st, i);
		c.in_doubt = sqlite3_column_int64(st, BL_DELIVERY_NSTATES);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc, "counting deliveries");
	*out = c;
	return 0;
}

/* Read DELIVERY_COLS (and, at @subject_col when >= 0, the post's subject) into @d, borrowed. */
static int read_delivery(sqlite3_stmt *st, int subject_col, struct bl_delivery_row *d)
{
	*d = (struct bl_delivery_row){
	    .id = sqlite3_column_int64(st, 0),
	    .post_id = sqlite3_column_int64(st, 1),
	    .subscriber_id = sqlite3_column_int64(st, 2),
	    .email = col_text(st, 3),
	    .attempts = sqlite3_column_int(st, 5),
	    .in_doubt = sqlite3_column_int(st, 6),
	    .code = sqlite3_column_int(st, 7),
	    .reply = col_text(st, 8),
	    .queue_id = col_text(st, 9),
	    .relay = col_text(st, 10),
	    .updated_at = sqlite3_column_int64(st, 11),
	    .next_try = sqlite3_column_int64(st, 12),
	    .post_subject = subject_col >= 0 ? col_text(st, subject_col) : NULL,
	};
	/* a state this model does not know: -1, skipped */
	return bl_delivery_state_parse(col_text(st, 4), &d->state);
}

static int sq_delivery_each(struct bl_store *base, int64_t post_id, int state, int64_t after_id,
                            int64_t limit, bl_delivery_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	if (state < -1 || state >= BL_DELIVERY_NSTATES)
		return bl_store_set_error(base, BL_EINVAL, "unknown delivery state %d", state);
	sqlite3_stmt *st = stmt(s, state >= 0 ? ST_DELIVERY_EACH_STATE : ST_DELIVERY_EACH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
	if (state >= 0)
		bind_text(st, 4, bl_delivery_state_name((enum bl_delivery_state)state));
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_delivery_row d;
		if (read_delivery(st, -1, &d))
			continue;
		if ((out = fn(arg, &d)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing deliveries");
	sqlite3_reset(st);
	return out;
}

static int sq_delivery_accepted_since(struct bl_store *base, int64_t post_id, int64_t since,
                                      int64_t *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_ACCEPTED_SINCE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, since);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc, "counting accepted deliveries");
}

/* ---- the delivery engine ------------------------------------------------------------------- */

static int sq_engine_lock(struct bl_store *base, const char *worker)
{
	struct sqlite_store *s = S(base);
	if (s->lock_fd >= 0)
		return 0; /* this handle holds it already */
	size_t n = strlen(s->path) + sizeof("-engine.lock");
	char *name = bl_xmalloc(n);
	snprintf(name, n, "%s-engine.lock", s->path);
	int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int rc = bl_store_set_error(base, BL_EIO, "cannot open the engine lock %s: %s",
		                            name, strerror(errno));
		free(name);
		return rc;
	}
	/* flock belongs to this open file description: a second open, in this
	 * process or another, is refused until it is closed. */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		char pid[32] = "";
		ssize_t got = pread(fd, pid, sizeof(pid) - 1, 0);
		close(fd);
		free(name);
		if (got > 0)
			pid[got] = '\0';
		pid[strcspn(pid, " \n")] = '\0';
		if (pid[strspn(pid, "0123456789")] != '\0')
			pid[0] = '\0'; /* not what a holder writes: say nothing about it */
		if (err != EWOULDBLOCK)
			return bl_store_set_error(base, BL_EIO,
			                          "cannot lock the engine lock of %s: %s", s->path,
			                          strerror(err));
		if (*pid)
			return bl_store_set_error(
			    base, BL_EBUSY, "another delivery engine (pid %s) is running on %s",
			    pid, s->path);
		return bl_store_set_error(base, BL_EBUSY,
		                          "another delivery engine is running on %s", s->path);
	}
	char text[160];
	int len =
	    snprintf(text, sizeof(text), "%ld %.120s\n", (long)getpid(), worker ? worker : "");
	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
		int rc = bl_store_set_error(base, BL_EIO, "cannot write the engine lock %s: %s",
		                            name, strerror(errno));
		close(fd);
		free(name);
		return rc;
	}
	free(name);
	s->lock_fd = fd;
	return 0;
}

/* Per-post counts of a reclaim, from the RETURNING rows. */
struct post_tally {
	int64_t post_id, n;
};

static int reclaim(struct sqlite_store *s, int64_t now, int all, int64_t *n)
{
	sqlite3_stmt *st = stmt(s, all ? ST_RECLAIM_ALL : ST_RECLAIM_EXPIRED);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now);
	struct post_tally *t = NULL;
	size_t nt = 0, cap = 0;
	int64_t total = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t post = sqlite3_column_int64(st, 0);
		total++;
		size_t i = 0;
		while (i < nt && t[i].post_id != post)
			i++;
		if (i == nt) {
			if (nt == cap) {
				cap = cap ? 2 * cap : 8;
				t = bl_xrealloc(t, cap * sizeof(*t));
			}
			t[nt++] = (struct post_tally){post, 0};
		}
		t[i].n++;
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "reclaiming expired claims");
	for (size_t i = 0; rc == 0 && i < nt; i++) {
		if (!(st = stmt(s, ST_RECLAIM_POST))) {
			rc = -BL_ESTORE;
			break;
		}
		sqlite3_bind_int64(st, 1, t[i].post_id);
		sqlite3_bind_int64(st, 2, t[i].n);
		rc = exec_stmt(s, st, "counting in-doubt deliveries");
	}
	free(t);
	if (rc == 0)
		*n = total;
	return rc;
}

static int sq_delivery_reclaim(struct bl_store *base, int64_t now, int all, int64_t *n)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int64_t count = 0;
	rc = tx_end(s, reclaim(s, now, all, &count));
	if (rc == 0 && n)
		*n = count;
	return rc;
}

/*
 * Record @n results, XCHUNK per statement; adds to *@stale the ones not
 * applied (row not claimed by @worker any more, or given twice: the first
 * result of a row counts, as if they were applied in order).
 */
static int record_results(struct sqlite_store *s, const char *worker, int64_t now,
                          const struct bl_delivery_result *results, size_t n, size_t *stale)
{
	char reply[XCHUNK][BL_REPLY_MAX + 1];
	size_t i = 0;
	while (i < n) {
		sqlite3_stmt *st = stmt(s, ST_X_RESULTS);
		if (!st)
			return -BL_ESTORE;
		bind_text(st, 1, worker);
		sqlite3_bind_int64(st, 2, now);
		int k = 0;
		for (; i < n && k < XCHUNK; i++) {
			const struct bl_delivery_result *r = &results[i];
			size_t j = 0;
			while (j < i && results[j].delivery_id != r->delivery_id)
				j++;
			if (j < i) {
				(*stale)++;
				continue;
			}
			int p = 3 + 7 * k;
			sqlite3_bind_int64(st, p, r->delivery_id);
			bind_text(st, p + 1, bl_delivery_state_name(r->state));
			sqlite3_bind_int(st, p + 2, r->code);
			bind_text(st, p + 3, bl_store_cut_reply(r->reply, reply[k]));
			bind_text(st, p + 4, r->queue_id ? r->queue_id : "");
			bind_text(st, p + 5, r->relay ? r->relay : "");
			sqlite3_bind_int64(st, p + 6, r->next_try);
			k++;
		}
		int rc = exec_stmt(s, st, "recording delivery results");
		if (rc)
			return rc;
		*stale += (size_t)(k - sqlite3_changes(s->db));
	}
	return 0;
}

/* A row the claim step read, before it decides. */
struct candidate {
	int64_t id, next_try, subscriber_id, first_try_at;
	int attempts, in_doubt;
	int64_t list_id; /* 0: confirmed on none of the post's lists */
	int blocklisted;
	char *email, *name, *attributes, *status_reason;
};

static void candidate_clear(struct candidate *k)
{
	free(k->email);
	free(k->name);
	free(k->attributes);
	free(k->status_reason);
}

/* Read up to @max rows of candidate statement @id into @c; returns the count or -BL_E*. */
static int read_candidates(struct sqlite_store *s, enum stmt id, int64_t post_id, int64_t now,
                           int max, struct candidate *c)
{
	sqlite3_stmt *st = stmt(s, id);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, max);
	int rc = SQLITE_DONE, n = 0;
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct candidate *k = &c[n++];
		k->id = sqlite3_column_int64(st, 0);
		k->next_try = sqlite3_column_int64(st, 1);
		k->subscriber_id = sqlite3_column_int64(st, 2);
		k->attempts = sqlite3_column_int(st, 3);
		k->first_try_at = sqlite3_column_int64(st, 4);
		k->in_doubt = sqlite3_column_int(st, 5);
		k->email = col_dup(st, 6);
		k->name = col_dup(st, 7);
		k->attributes = col_dup(st, 8);
		k->blocklisted = strcmp(col_text(st, 9), "blocklisted") == 0;
		k->status_reason = col_dup(st, 10);
		k->list_id = sqlite3_column_int64(st, 11);
	}
	sqlite3_reset(st);
	if (n == max || rc == SQLITE_DONE)
		return n;
	while (n > 0)
		candidate_clear(&c[--n]);
	return fail(s, rc, "reading due deliveries");
}

/* Why row @k of a post of @kind may not be sent any more, in @why; "" when it may. */
static void suppression_reason(const struct candidate *k, enum bl_post_kind kind,
                               char why[BL_REPLY_MAX + 1])
{
	why[0] = '\0';
	if (k->subscriber_id == 0)
		snprintf(why, BL_REPLY_MAX + 1, "subscriber erased");
	else if (k->blocklisted)
		snprintf(why, BL_REPLY_MAX + 1, "subscriber blocklisted%s%.200s",
		         *k->status_reason ? ": " : "", k->status_reason);
	else if (kind == BL_POST_KIND_PROBE)
		return; /* a probe goes to an active subscriber whatever their lists */
	else if (k->list_id == 0 && kind == BL_POST_KIND_CONFIRM)
		snprintf(why, BL_REPLY_MAX + 1, "nothing left to confirm");
	else if (k->list_id == 0 && kind == BL_POST_KIND_DIGEST)
		snprintf(why, BL_REPLY_MAX + 1,
		         "subscriber no longer takes this digest's mode on any of its lists");
	else if (k->list_id == 0)
		snprintf(why, BL_REPLY_MAX + 1,
		         "subscriber no longer confirmed in instant mode on the post's lists");
}

/*
 * Claim up to @want due rows of post @post_id into @out (appending at
 * *@n_out). Rows whose subscriber may not be mailed any more become
 * suppressed instead, and the next rows are read in their place. The reads
 * come first, then the writes: no statement writes under an open read.
 */
static int claim_post(struct sqlite_store *s, int64_t post_id, enum bl_post_kind kind,
                      const char *worker, int64_t now, int64_t lease_until, size_t want,
                      struct bl_claimed *out, size_t *n_out)
{
	struct candidate pend[XCHUNK], due[XCHUNK];
	enum stmt pending_st = kind == BL_POST_KIND_CONFIRM  ? ST_X_PENDING_CONFIRM
	                       : kind == BL_POST_KIND_DIGEST ? ST_X_PENDING_DIGEST
	                       : kind == BL_POST_KIND_PROBE  ? ST_X_PENDING_PROBE
	                                                     : ST_X_PENDING;
	enum stmt due_st = kind == BL_POST_KIND_CONFIRM  ? ST_X_DUE_CONFIRM
	                   : kind == BL_POST_KIND_DIGEST ? ST_X_DUE_DIGEST
	                   : kind == BL_POST_KIND_PROBE  ? ST_X_DUE_PROBE
	                                                 : ST_X_DUE;
	int rc = 0;
	while (want > 0 && rc == 0) {
		int ask = want < XCHUNK ? (int)want : XCHUNK;
		int np = read_candidates(s, pending_st, post_id, now, ask, pend);
		if (np < 0)
			return np;
		int nd = read_candidates(s, due_st, post_id, now, ask, due);
		if (nd < 0) {
			while (np > 0)
				candidate_clear(&pend[--np]);
			return nd;
		}
		/* Merge the two runs in (next_try, id) order; take @ask. */
		struct candidate *take[XCHUNK];
		int nt = 0, ip = 0, id = 0;
		while (nt < ask && (ip < np || id < nd)) {
			int from_due =
			    ip == np ||
			    (id < nd &&
			     (due[id].next_try < pend[ip].next_try ||
			      (due[id].next_try == pend[ip].next_try && due[id].id < pend[ip].id)));
			take[nt++] = from_due ? &due[id++] : &pend[ip++];
		}
		sqlite3_stmt *claim = NULL;
		int n_claim = 0;
		for (int i = 0; i < nt; i++) {
			struct candidate *k = take[i];
			char why[BL_REPLY_MAX + 1];
			suppression_reason(k, kind, why);
			if (rc || !*why) {
				if (rc == 0 && !claim && !(claim = stmt(s, ST_X_CLAIM)))
					rc = -BL_ESTORE;
				if (rc)
					continue;
				sqlite3_bind_int64(claim, 4 + n_claim++, k->id);
				out[(*n_out)++] = (struct bl_claimed){
				    .delivery_id = k->id,
				    .post_id = post_id,
				    .subscriber_id = k->subscriber_id,
				    .list_id = k->list_id,
				    .attempts = k->attempts + 1,
				    .first_try_at = k->first_try_at ? k->first_try_at : now,
				    .in_doubt = k->in_doubt,
				    .email = k->email,
				    .name = k->name,
				    .attributes = k->attributes,
				};
				k->email = k->name = k->attributes = NULL;
				continue;
			}
			sqlite3_stmt *st = stmt(s, ST_X_SUPPRESS);
			if (!st) {
				rc = -BL_ESTORE;
				continue;
			}
			sqlite3_bind_int64(st, 1, k->id);
			bind_text(st, 2, why);
			sqlite3_bind_int64(st, 3, now);
			rc = exec_stmt(s, st, "suppressing a delivery");
		}
		if (rc == 0 && claim) {
			/* The suppress statements above did not touch this one's bindings. */
			bind_text(claim, 1, worker);
			sqlite3_bind_int64(claim, 2, lease_until);
			sqlite3_bind_int64(claim, 3, now);
			rc = exec_stmt(s, claim, "claiming deliveries");
			if (rc == 0 && sqlite3_changes(s->db) != n_claim)
				rc = bl_store_set_error(&s->base, BL_ESTORE,
				                        "claimed %d of %d deliveries",
				                        sqlite3_changes(s->db), n_claim);
		}
		for (int i = 0; i < np; i++)
			candidate_clear(&pend[i]);
		for (int i = 0; i < nd; i++)
			candidate_clear(&due[i]);
		want -= (size_t)n_claim;
		if (nt < ask)
			break; /* the post has no more due rows */
	}
	return rc;
}

/* A post in status sending, as the claim step walks them. */
struct sending {
	int64_t id;
	enum bl_post_kind kind;
};

static int exchange(struct sqlite_store *s, const char *worker, int64_t now, int64_t lease_until,
                    const struct bl_delivery_result *results, size_t n_results, size_t max,
                    struct bl_claimed *out, size_t *n_out, size_t *stale, size_t *finished)
{
	int rc = record_results(s, worker, now, results, n_results, stale);
	if (rc)
		return rc;
	if (max > 0) {
		/* The posts in status sending, highest priority first: a handful. */
		struct sending small[16], *posts = small;
		size_t n_posts = 0, cap = sizeof(small) / sizeof(small[0]);
		sqlite3_stmt *st = stmt(s, ST_X_POSTS);
		if (!st)
			return -BL_ESTORE;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n_posts == cap) {
				cap *= 2;
				posts = posts == small ? memcpy(bl_xmalloc(cap * sizeof(*posts)),
				                                small, sizeof(small))
				                       : bl_xrealloc(posts, cap * sizeof(*posts));
			}
			posts[n_posts].id = sqlite3_column_int64(st, 0);
			posts[n_posts].kind = BL_POST_KIND_POST;
			bl_post_kind_parse(col_text(st, 1), &posts[n_posts].kind);
			n_posts++;
		}
		sqlite3_reset(st);
		rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "listing the posts being sent");
		for (size_t i = 0; rc == 0 && i < n_posts && *n_out < max; i++)
			rc = claim_post(s, posts[i].id, posts[i].kind, worker, now, lease_until,
			                max - *n_out, out, n_out);
		if (posts != small)
			free(posts);
		if (rc)
			return rc;
	}
	sqlite3_stmt *st = stmt(s, ST_X_FINISH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	if ((rc = exec_stmt(s, st, "finishing posts")))
		return rc;
	*finished = (size_t)sqlite3_changes(s->db);
	return 0;
}

static int sq_delivery_exchange(struct bl_store *base, const char *worker, int64_t now,
                                int64_t lease_until, const struct bl_delivery_result *results,
                                size_t n_results, size_t max, struct bl_claimed *out, size_t *n_out,
                                size_t *stale, size_t *finished)
{
	struct sqlite_store *s = S(base);
	int rc = bl_store_check_exchange(base, worker, results, n_results, max, out, n_out);
	if (rc)
		return rc;
	size_t got = 0, n_stale = 0, n_finished = 0;
	if ((rc = tx_begin(s)))
		return rc;
	rc = exchange(s, worker, now, lease_until, results, n_results, max, out, &got, &n_stale,
	              &n_finished);
	rc = tx_end(s, rc);
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

static int sq_queue_next_due(struct bl_store *base, int64_t *next_try, int *waiting)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_NEXT_DUE);
	if (!st)
		return -BL_ESTORE;
	int rc = sqlite3_step(st);
	int64_t due = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading the next retry time");
	if (!(st = stmt(s, ST_WAITING)))
		return -BL_ESTORE;
	rc = sqlite3_step(st);
	int w = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "looking for unfinished posts");
	*next_try = due;
	if (waiting)
		*waiting = w;
	return 0;
}

/* ---- the public web (schema 3) ------------------------------------------------------------ */

/* Step a statement whose one row holds one integer: 0 and *@v, or -BL_E*. */
static int step_int(struct sqlite_store *s, sqlite3_stmt *st, int64_t *v, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc, what);
}

/* A consent event of subscriber @sub about @list_id (0: none) at @now, with @t's strings. */
static int add_event(struct sqlite_store *s, int64_t sub, int64_t list_id,
                     enum bl_consent_kind kind, int64_t now, const struct bl_ctx_text *t)
{
	struct bl_consent e = {.subscriber_id = sub,
	                       .list_id = list_id,
	                       .kind = kind,
	                       .at = now,
	                       .ip = t->ip,
	                       .user_agent = t->user_agent,
	                       .source = t->source};
	return add_consent(s, &e);
}

/*
 * Subscriber @id's subscription to @list_id: 1 with *@status and *@mode, 0
 * when there is none, or -BL_E*.
 */
static int get_subscription(struct sqlite_store *s, int64_t id, int64_t list_id,
                            enum bl_sub_status *status, enum bl_mode *mode)
{
	sqlite3_stmt *st = stmt(s, ST_SUBSCRIPTION_GET);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, list_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		bl_sub_status_parse(col_text(st, 0), status);
		bl_mode_parse(col_text(st, 1), mode);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a subscription");
}

static int put_subscription(struct sqlite_store *s, int64_t id, int64_t list_id,
                            enum bl_sub_status status, enum bl_mode mode, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_SUBSCRIPTION_PUT);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, list_id);
	bind_text(st, 3, bl_sub_status_name(status));
	bind_text(st, 4, bl_mode_name(mode));
	sqlite3_bind_int64(st, 5, now);
	return exec_stmt(s, st, "writing a subscription");
}

/* Lift the suppression (erasure) of the address @email_key. */
static int lift_suppression(struct sqlite_store *s, const char *email_key)
{
	char hash[BL_HASH_HEX];
	bl_suppression_hash(email_key, hash);
	sqlite3_stmt *st = stmt(s, ST_SUPPRESS_DEL);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, hash);
	return exec_stmt(s, st, "lifting a suppression");
}

/* Subscriber @id by id into @out: -1/0/1 as a lookup. */
static int get_subscriber_id(struct sqlite_store *s, int64_t id, struct bl_subscriber *out)
{
	sqlite3_stmt *st = stmt(s, ST_SUB_GET_ID);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		read_subscriber(st, out);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a subscriber");
}

/* A transactional post of @kind (a confirmation, a probe) for subscriber @sub alone: status
 * sending, lists @lists, one pending row. */
static int make_single_post(struct sqlite_store *s, enum bl_post_kind kind, int64_t sub,
                            const int64_t *lists, size_t n, const char *subject, int64_t now,
                            int64_t *post_id)
{
	struct bl_post p = {.kind = kind,
	                    .subject = (char *)(subject ? subject : ""),
	                    .body = "",
	                    .from_header = "",
	                    .priority = BL_PRIORITY_TRANSACTIONAL,
	                    .status = BL_POST_SENDING,
	                    .started_at = now,
	                    .total = 1};
	int rc = post_create(s, &p, lists, n, now, post_id);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_DELIVERY_ADD);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, *post_id);
	sqlite3_bind_int64(st, 2, sub);
	sqlite3_bind_int(st, 3, BL_PRIORITY_TRANSACTIONAL);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = exec_stmt(s, st, "queueing a message")))
		return rc;
	return count_pending(s, *post_id, 1);
}

/* The lists of @in, each once, and their opt-in; -BL_ENOENT names a missing one. */
static int signup_lists(struct sqlite_store *s, const struct bl_signup *in, int64_t *ids,
                        enum bl_optin *optin, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < in->n_lists; i++) {
		size_t j = 0;
		while (j < *n && ids[j] != in->list_ids[i])
			j++;
		if (j < *n)
			continue;
		sqlite3_stmt *st = stmt(s, ST_LIST_OPTIN);
		if (!st)
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, in->list_ids[i]);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			bl_optin_parse(col_text(st, 0), &optin[*n]);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return bl_store_set_error(&s->base, BL_ENOENT,
			                          "there is no list with id %" PRId64,
			                          in->list_ids[i]);
		if (rc != SQLITE_ROW)
			return fail(s, rc, "looking up a list");
		ids[(*n)++] = in->list_ids[i];
	}
	return 0;
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

static int signup(struct sqlite_store *s, const struct bl_signup *in, struct bl_signup_result *r,
                  int64_t *ids, enum bl_optin *optin, struct id_list *pending)
{
	struct bl_ctx_text t;
	bl_store_ctx_text(&in->ctx, &t);
	int64_t now = in->ctx.now;
	size_t n = 0;
	int rc = signup_lists(s, in, ids, optin, &n);
	if (rc)
		return rc;

	struct bl_subscriber sub = {0};
	int found = sq_subscriber_get(&s->base, in->email_key, &sub);
	if (found < 0)
		return found;
	int64_t id = sub.id;
	int blocklisted = found && sub.status == BL_SUBSCRIBER_BLOCKLISTED;
	int unnamed = found && !*sub.name;
	bl_subscriber_clear(&sub);
	if (blocklisted) {
		r->blocklisted = 1;
		return 0;
	}
	if (!found && in->n_lists == 0)
		return 0; /* a resend for an address we do not know */
	const char *name = in->name ? in->name : "";
	sqlite3_stmt *st;
	if (!found) {
		if (!(st = stmt(s, ST_SUB_NEW)))
			return -BL_ESTORE;
		bind_text(st, 1, in->email);
		bind_text(st, 2, in->email_key);
		bind_text(st, 3, name);
		sqlite3_bind_int64(st, 4, now);
		if ((rc = exec_stmt(s, st, "adding a subscriber")))
			return rc;
		id = sqlite3_last_insert_rowid(s->db);
		r->created = 1;
	} else if (unnamed && *name) {
		if (!(st = stmt(s, ST_SUB_SET_NAME)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, now);
		if ((rc = exec_stmt(s, st, "naming a subscriber")))
			return rc;
	}

	/* An erased address (on the suppression list) comes back only through a confirmed
	 * address: on a single opt-in list too, anyone could have typed it. */
	int suppressed = 0;
	if (n > 0) {
		char hash[BL_HASH_HEX];
		bl_suppression_hash(in->email_key, hash);
		if (!(st = stmt(s, ST_SUPPRESS_GET)))
			return -BL_ESTORE;
		bind_text(st, 1, hash);
		int srow = sqlite3_step(st);
		sqlite3_reset(st);
		if (srow != SQLITE_ROW && srow != SQLITE_DONE)
			return fail(s, srow, "looking up the suppression list");
		suppressed = srow == SQLITE_ROW;
	}
	for (size_t i = 0; i < n; i++) {
		enum bl_sub_status status = BL_SUB_UNSUBSCRIBED;
		enum bl_mode mode = BL_MODE_INSTANT;
		int has = get_subscription(s, id, ids[i], &status, &mode);
		if (has < 0)
			return has;
		if (has && status == BL_SUB_CONFIRMED) {
			r->n_already++;
			continue;
		}
		if ((rc = add_event(s, id, ids[i], BL_CONSENT_SIGNUP, now, &t)))
			return rc;
		if (optin[i] == BL_OPTIN_SINGLE && !suppressed) {
			if ((rc = put_subscription(s, id, ids[i], BL_SUB_CONFIRMED, BL_MODE_INSTANT,
			                           now)) ||
			    (rc = add_event(s, id, ids[i], BL_CONSENT_CONFIRM, now, &t)))
				return rc;
			r->n_subscribed++;
			continue;
		}
		/* Double opt-in: a pending subscription keeps its mode; a new or revived one is
		 * instant. */
		if ((!has || status == BL_SUB_UNSUBSCRIBED) &&
		    (rc =
		         put_subscription(s, id, ids[i], BL_SUB_UNCONFIRMED, BL_MODE_INSTANT, now)))
			return rc;
		id_list_add(pending, ids[i]);
	}
	if (in->n_lists == 0) {
		/* A resend: every pending double opt-in subscription. */
		if (!(st = stmt(s, ST_PENDING_LISTS)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		int srow;
		while ((srow = sqlite3_step(st)) == SQLITE_ROW)
			id_list_add(pending, sqlite3_column_int64(st, 0));
		sqlite3_reset(st);
		if (srow != SQLITE_ROW && srow != SQLITE_DONE)
			return fail(s, srow, "listing pending subscriptions");
	}
	r->n_pending = pending->n;
	if (r->n_subscribed > 0 && (rc = lift_suppression(s, in->email_key)))
		return rc;
	if (pending->n > 0 && in->send_confirm) {
		int64_t recent = 0;
		if (in->confirm_interval > 0) {
			if (!(st = stmt(s, ST_CONFIRM_RECENT)))
				return -BL_ESTORE;
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, now - in->confirm_interval);
			if ((rc = step_int(s, st, &recent,
			                   "looking for a recent confirmation mail")))
				return rc;
		}
		if (recent)
			r->throttled = 1;
		else if ((rc = make_single_post(s, BL_POST_KIND_CONFIRM, id, pending->v, pending->n,
		                                in->confirm_subject, now, &r->confirm_post_id)))
			return rc;
	}
	r->subscriber_id = id;
	return 0;
}

static int sq_web_signup(struct bl_store *base, const struct bl_signup *in,
                         struct bl_signup_result *out)
{
	struct sqlite_store *s = S(base);
	int rc = bl_store_check_signup(base, in);
	if (rc)
		return rc;
	size_t cap = in->n_lists ? in->n_lists : 1;
	int64_t *ids = bl_xcalloc(cap, sizeof(*ids));
	enum bl_optin *optin = bl_xcalloc(cap, sizeof(*optin));
	struct id_list pending = {0};
	struct bl_signup_result r = {0};
	/* BEGIN IMMEDIATE: signups of one address (of any) take their turn. */
	if ((rc = tx_begin(s)) == 0)
		rc = tx_end(s, signup(s, in, &r, ids, optin, &pending));
	free(ids);
	free(optin);
	free(pending.v);
	if (rc == 0)
		*out = r;
	return rc;
}

/* Whether confirmation post @post asked subscriber @sub: 0/1 or -BL_E*. */
static int confirm_post_of(struct sqlite_store *s, int64_t sub, int64_t post)
{
	sqlite3_stmt *st = stmt(s, ST_CONFIRM_POST_OF);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub);
	sqlite3_bind_int64(st, 2, post);
	int64_t v = 0;
	int rc = step_int(s, st, &v, "looking up a confirmation mail");
	return rc ? rc : v != 0;
}

/*
 * Run set statement @events (it writes one consent event per subscription
 * the change concerns), then @change; both bind ?1 subscriber, ?2 @arg, ?3
 * time, ?4..?6 ip, user agent, source. *@n = the events written.
 */
static int change_set(struct sqlite_store *s, enum stmt events, enum stmt change, int64_t sub,
                      int64_t arg, const struct bl_consent_ctx *ctx, int64_t *n)
{
	struct bl_ctx_text t;
	bl_store_ctx_text(ctx, &t);
	enum stmt ids[2] = {events, change};
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st = stmt(s, ids[i]);
		if (!st)
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, sub);
		sqlite3_bind_int64(st, 2, arg);
		sqlite3_bind_int64(st, 3, ctx ? ctx->now : 0);
		if (i == 0) {
			bind_text(st, 4, t.ip);
			bind_text(st, 5, t.user_agent);
			bind_text(st, 6, t.source);
		}
		int rc = exec_stmt(s, st, "changing subscriptions");
		if (rc)
			return rc;
		if (i == 0)
			*n = sqlite3_changes64(s->db);
	}
	return 0;
}

static int confirm(struct sqlite_store *s, int64_t sub_id, int64_t post,
                   const struct bl_consent_ctx *ctx, int64_t *n)
{
	struct bl_subscriber sub = {0};
	int rc = get_subscriber_id(s, sub_id, &sub);
	if (rc <= 0)
		return rc;
	rc = confirm_post_of(s, sub_id, post);
	if (rc == 1) {
		rc = change_set(s, ST_CONFIRM_EVENTS, ST_CONFIRM_SUBS, sub_id, post, ctx, n);
		if (rc == 0)
			rc = lift_suppression(s, sub.email_key);
		if (rc == 0)
			rc = 1;
	}
	bl_subscriber_clear(&sub);
	return rc;
}

/* An op on (subscriber, id) in its own transaction (or savepoint): its 1/0 result, and
 * *@n the rows it changed (0 unless found). */
typedef int (*counted_op)(struct sqlite_store *s, int64_t sub_id, int64_t id,
                          const struct bl_consent_ctx *ctx, int64_t *n);

static int counted_tx(struct sqlite_store *s, counted_op op, int64_t sub_id, int64_t id,
                      const struct bl_consent_ctx *ctx, int64_t *n)
{
	int64_t count = 0;
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int found = op(s, sub_id, id, ctx, &count);
	if ((rc = tx_end(s, found < 0 ? found : 0)))
		return rc;
	if (n)
		*n = found == 1 ? count : 0;
	return found;
}

static int sq_web_confirm(struct bl_store *base, int64_t subscriber_id, int64_t confirm_post_id,
                          const struct bl_consent_ctx *ctx, int64_t *n)
{
	return counted_tx(S(base), confirm, subscriber_id, confirm_post_id, ctx, n);
}

static int unsubscribe(struct sqlite_store *s, int64_t sub_id, int64_t list_id,
                       const struct bl_consent_ctx *ctx, int64_t *n)
{
	struct bl_subscriber sub = {0};
	int rc = get_subscriber_id(s, sub_id, &sub);
	bl_subscriber_clear(&sub);
	if (rc <= 0)
		return rc;
	rc = change_set(s, ST_UNSUB_EVENTS, ST_UNSUB, sub_id, list_id, ctx, n);
	return rc ? rc : 1;
}

static int sq_web_unsubscribe(struct bl_store *base, int64_t subscriber_id, int64_t list_id,
                              const struct bl_consent_ctx *ctx, int64_t *n)
{
	return counted_tx(S(base), unsubscribe, subscriber_id, list_id, ctx, n);
}

static int preferences(struct sqlite_store *s, int64_t sub_id, const char *name,
                       const struct bl_subscription_change *changes, size_t n,
                       const struct bl_consent_ctx *ctx)
{
	struct bl_ctx_text t;
	bl_store_ctx_text(ctx, &t);
	int64_t now = ctx ? ctx->now : 0;
	struct bl_subscriber sub = {0};
	int rc = get_subscriber_id(s, sub_id, &sub);
	int same_name = rc == 1 && (!name || strcmp(name, sub.name) == 0);
	char *email_key = rc == 1 ? bl_xstrdup(sub.email_key) : NULL;
	bl_subscriber_clear(&sub);
	if (rc <= 0)
		return rc;
	rc = 0;
	if (!same_name) {
		sqlite3_stmt *st = stmt(s, ST_SUB_SET_NAME);
		if (!st)
			rc = -BL_ESTORE;
		else {
			sqlite3_bind_int64(st, 1, sub_id);
			bind_text(st, 2, name);
			sqlite3_bind_int64(st, 3, now);
			rc = exec_stmt(s, st, "renaming a subscriber");
		}
		if (rc == 0)
			rc = add_event(s, sub_id, 0, BL_CONSENT_PREFERENCE, now, &t);
	}
	int confirmed = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct bl_subscription_change *c = &changes[i];
		sqlite3_stmt *st = stmt(s, ST_LIST_OPTIN);
		if (!st) {
			rc = -BL_ESTORE;
			break;
		}
		sqlite3_bind_int64(st, 1, c->list_id);
		rc = sqlite3_step(st);
		int exists = rc == SQLITE_ROW;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = fail(s, rc, "looking up a list");
			break;
		}
		if (!exists) {
			rc = bl_store_set_error(&s->base, BL_ENOENT,
			                        "there is no list with id %" PRId64, c->list_id);
			break;
		}
		enum bl_sub_status status = BL_SUB_UNSUBSCRIBED;
		enum bl_mode mode = c->mode;
		int has = get_subscription(s, sub_id, c->list_id, &status, &mode);
		if (has < 0) {
			rc = has;
			break;
		}
		rc = 0;
		if (!has && c->status == BL_SUB_UNSUBSCRIBED)
			continue; /* not on the list, and not joining it: nothing to write */
		int new_status = !has || status != c->status, new_mode = has && mode != c->mode;
		if (!new_status && !new_mode)
			continue;
		if ((rc = put_subscription(s, sub_id, c->list_id, c->status, c->mode, now)))
			break;
		if (!has)
			rc = add_event(s, sub_id, c->list_id, BL_CONSENT_SIGNUP, now, &t);
		if (rc == 0 && new_status)
			rc = add_event(s, sub_id, c->list_id,
			               c->status == BL_SUB_CONFIRMED ? BL_CONSENT_CONFIRM
			                                             : BL_CONSENT_UNSUBSCRIBE,
			               now, &t);
		if (rc == 0 && new_mode)
			rc = add_event(s, sub_id, c->list_id, BL_CONSENT_PREFERENCE, now, &t);
		confirmed |= new_status && c->status == BL_SUB_CONFIRMED;
	}
	if (rc == 0 && confirmed)
		rc = lift_suppression(s, email_key);
	free(email_key);
	return rc ? rc : 1;
}

static int sq_web_preferences(struct bl_store *base, int64_t subscriber_id, const char *name,
                              const struct bl_subscription_change *changes, size_t n,
                              const struct bl_consent_ctx *ctx)
{
	struct sqlite_store *s = S(base);
	int rc = bl_store_check_changes(base, changes, n);
	if (rc)
		return rc;
	if ((rc = tx_begin(s)))
		return rc;
	int found = preferences(s, subscriber_id, name, changes, n, ctx);
	rc = tx_end(s, found < 0 ? found : 0);
	return rc ? rc : found;
}

static int sq_subscriber_get_id(struct bl_store *base, int64_t id, struct bl_subscriber *out)
{
	return get_subscriber_id(S(base), id, out);
}

static int sq_subscriber_deliveries_each(struct bl_store *base, int64_t subscriber_id,
                                         bl_delivery_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SUB_DELIVERIES);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, subscriber_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_delivery_row d;
		if (read_delivery(st, 13, &d))
			continue;
		if ((out = fn(arg, &d)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing a subscriber's deliveries");
	sqlite3_reset(st);
	return out;
}

static int sq_archive_each(struct bl_store *base, int64_t list_id, int64_t before_id, int64_t limit,
                           bl_post_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, list_id ? ST_ARCHIVE_LIST : ST_ARCHIVE_PUBLIC);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	if (list_id)
		sqlite3_bind_int64(st, 3, list_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_post p;
		read_post(st, &p);
		out = fn(arg, &p);
		bl_post_clear(&p);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing the archive");
	sqlite3_reset(st);
	return out;
}

static int sq_archive_get(struct bl_store *base, int64_t id, struct bl_post *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_ARCHIVE_GET);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_post(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading an archived post");
}

/* Add the (name, count) rows of @st into @counts by the index @parse gives a name. */
static int count_by(struct sqlite_store *s, sqlite3_stmt *st, int (*parse)(const char *, int *),
                    int64_t *counts, const char *what)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int i;
		if (parse(col_text(st, 0), &i) == 0)
			counts[i] += sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, what);
}

static int parse_delivery_state(const char *v, int *i)
{
	enum bl_delivery_state x;
	int rc = bl_delivery_state_parse(v, &x);
	*i = (int)x;
	return rc;
}

/* The subscriber counts of the counters table into @c->subscribers. */
static int read_counters(struct sqlite_store *s, struct bl_counts *c)
{
	sqlite3_stmt *st = stmt(s, ST_COUNTERS);
	if (!st)
		return -BL_ESTORE;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = col_text(st, 0);
		enum bl_subscriber_status status;
		if (strncmp(name, "subscribers_", 12) == 0 &&
		    bl_subscriber_status_parse(name + 12, &status) == 0)
			c->subscribers[status] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading the counters");
}

static int stats(struct sqlite_store *s, int64_t now, struct bl_stats *c)
{
	sqlite3_stmt *st;
	int rc;
	struct bl_counts counts = {{0}};
	if ((rc = read_counters(s, &counts)))
		return rc;
	memcpy(c->subscribers, counts.subscribers, sizeof(c->subscribers));
	if (!(st = stmt(s, ST_STATS_SUBSCRIPTIONS)))
		return -BL_ESTORE;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		for (int i = 0; i < 3; i++)
			c->subscriptions[i] = sqlite3_column_int64(st, i);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "counting subscriptions");
	if (!(st = stmt(s, ST_STATS_DELIVERIES)))
		return -BL_ESTORE;
	if ((rc = count_by(s, st, parse_delivery_state, c->deliveries, "counting deliveries")))
		return rc;
	if (!(st = stmt(s, ST_STATS_RECENT)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->posts_sending = sqlite3_column_int64(st, 0);
		c->accepted_last_minute = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc, "counting recent deliveries");
}

static int sq_stats(struct bl_store *base, int64_t now, struct bl_stats *out)
{
	struct sqlite_store *s = S(base);
	struct bl_stats c;
	memset(&c, 0, sizeof(c));
	/* One read transaction: one snapshot for every count. */
	int own_tx = !s->in_tx;
	if (own_tx) {
		int rc = exec_sql(s, "BEGIN", "starting a read");
		if (rc)
			return rc;
	}
	int rc = stats(s, now, &c);
	if (own_tx)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc == 0)
		*out = c;
	return rc;
}

/* ---- publisher tools (schema 5): users, sessions, API tokens, the audit log ---------------- */

/* -BL_EINVAL unless @role is a known role. */
static int check_role(struct sqlite_store *s, enum bl_role role)
{
	if ((unsigned)role > BL_ROLE_ADMIN)
		return bl_store_set_error(&s->base, BL_EINVAL, "unknown role %d", (int)role);
	return 0;
}

/* Read USER_COLS into @u, strings malloc'd. */
static void read_user(sqlite3_stmt *st, struct bl_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	u->name = col_dup(st, 1);
	bl_role_parse(col_text(st, 2), &u->role);
	u->pass_hash = col_dup(st, 3);
	u->created_at = sqlite3_column_int64(st, 4);
	u->password_changed_at = sqlite3_column_int64(st, 5);
	u->last_login_at = sqlite3_column_int64(st, 6);
}

static int sq_user_create(struct bl_store *base, struct bl_user *u)
{
	struct sqlite_store *s = S(base);
	int rc = check_role(s, u->role);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_USER_CREATE);
	if (!st)
		return -BL_ESTORE;
	int64_t now = bl_now();
	int64_t created = u->created_at ? u->created_at : now;
	int64_t changed = u->password_changed_at ? u->password_changed_at : now;
	bind_text(st, 1, u->name ? u->name : "");
	bind_text(st, 2, bl_role_name(u->role));
	bind_text(st, 3, u->pass_hash ? u->pass_hash : "");
	sqlite3_bind_int64(st, 4, created);
	sqlite3_bind_int64(st, 5, changed);
	sqlite3_bind_int64(st, 6, u->last_login_at);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		int r = fail(s, rc, "creating a user");
		if (r == -BL_EEXIST)
			bl_store_set_error(base, BL_EEXIST, "a user named \"%s\" already exists",
			                   u->name);
		return r;
	}
	u->id = sqlite3_last_insert_rowid(s->db);
	u->created_at = created;
	u->password_changed_at = changed;
	return 0;
}

static int sq_user_get(struct bl_store *base, const char *name, int64_t id, struct bl_user *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, name ? ST_USER_GET_NAME : ST_USER_GET_ID);
	if (!st)
		return -BL_ESTORE;
	if (name)
		bind_text(st, 1, name);
	else
		sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_user(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a user");
}

static int sq_user_each(struct bl_store *base, bl_user_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_USER_EACH);
	if (!st)
		return -BL_ESTORE;
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_user u;
		read_user(st, &u);
		out = fn(arg, &u);
		bl_user_clear(&u);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing users");
	sqlite3_reset(st);
	return out;
}

/* Run the cached statement @id with its one parameter ?1 = @a: 0 or -BL_E*. */
static int exec_id(struct sqlite_store *s, enum stmt id, int64_t a, const char *what)
{
	sqlite3_stmt *st = stmt(s, id);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, a);
	return exec_stmt(s, st, what);
}

static int sq_user_set_password(struct bl_store *base, int64_t id, const char *pass_hash,
                                int64_t now)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int changed = 0;
	sqlite3_stmt *st = stmt(s, ST_USER_SET_PASSWORD);
	if (!st) {
		rc = -BL_ESTORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, pass_hash ? pass_hash : "");
	sqlite3_bind_int64(st, 3, now);
	if ((rc = exec_stmt(s, st, "changing a password")))
		goto out;
	changed = sqlite3_changes(s->db) > 0;
	if (changed)
		rc = exec_id(s, ST_USER_SESSIONS_DEL, id, "ending the sessions of a user");
out:
	rc = tx_end(s, rc);
	return rc ? rc : changed;
}

/* In the caller's transaction: -BL_ELASTADMIN (with the message) when user @id
 * is the only admin, else 0 (or a store error). */
static int check_not_last_admin(struct sqlite_store *s, int64_t id)
{
	sqlite3_stmt *st = stmt(s, ST_USER_LAST_ADMIN);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		bl_store_set_error(&s->base, BL_ELASTADMIN,
		                   "%s is the last admin: make another user admin first",
		                   (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return -BL_ELASTADMIN;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "counting the admins");
}

/* BEGIN IMMEDIATE holds the write lock from the check to the change. */
static int sq_user_set_role(struct bl_store *base, int64_t id, enum bl_role role)
{
	struct sqlite_store *s = S(base);
	int rc = check_role(s, role);
	if (rc || (rc = tx_begin(s)))
		return rc;
	int changed = 0;
	sqlite3_stmt *st;
	if (role != BL_ROLE_ADMIN && (rc = check_not_last_admin(s, id)))
		goto out;
	if (!(st = stmt(s, ST_USER_SET_ROLE))) {
		rc = -BL_ESTORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, bl_role_name(role));
	if ((rc = exec_stmt(s, st, "changing the role of a user")) == 0)
		changed = sqlite3_changes(s->db) > 0;
out:
	rc = tx_end(s, rc);
	return rc ? rc : changed;
}

static int sq_user_delete(struct bl_store *base, int64_t id)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int changed = 0;
	if ((rc = check_not_last_admin(s, id)) == 0 &&
	    (rc = exec_id(s, ST_USER_DELETE, id, "deleting a user")) == 0)
		changed = sqlite3_changes(s->db) > 0;
	rc = tx_end(s, rc);
	return rc ? rc : changed;
}

static int sq_session_create(struct bl_store *base, const char *id_hash, int64_t user_id,
                             const char *csrf, int64_t now, int64_t expires_at)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_USER_LOGIN);
	if (!st) {
		rc = -BL_ESTORE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = exec_stmt(s, st, "recording a login")))
		goto out;
	if (sqlite3_changes(s->db) == 0) {
		rc = bl_store_set_error(base, BL_ENOENT, "there is no user %" PRId64, user_id);
		goto out;
	}
	/* Housekeeping: the sessions that ended go with each login. */
	if ((rc = exec_id(s, ST_SESSION_EXPIRE, now, "dropping ended sessions")))
		goto out;
	if (!(st = stmt(s, ST_SESSION_CREATE))) {
		rc = -BL_ESTORE;
		goto out;
	}
	bind_text(st, 1, id_hash ? id_hash : "");
	sqlite3_bind_int64(st, 2, user_id);
	bind_text(st, 3, csrf ? csrf : "");
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, expires_at);
	rc = exec_stmt(s, st, "creating a session");
out:
	return tx_end(s, rc);
}

static int sq_session_get(struct bl_store *base, const char *id_hash, int64_t now,
                          struct bl_session *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SESSION_GET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, id_hash ? id_hash : "");
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a session");
	}
	int64_t expires_at = sqlite3_column_int64(st, 5);
	if (expires_at <= now) {
		sqlite3_reset(st);
		if (!(st = stmt(s, ST_SESSION_DELETE)))
			return -BL_ESTORE;
		bind_text(st, 1, id_hash);
		rc = exec_stmt(s, st, "dropping an ended session");
		return rc ? rc : 0;
	}
	memset(out, 0, sizeof(*out));
	out->user_id = sqlite3_column_int64(st, 0);
	out->user_name = col_dup(st, 1);
	bl_role_parse(col_text(st, 2), &out->role);
	out->csrf = col_dup(st, 3);
	out->created_at = sqlite3_column_int64(st, 4);
	out->expires_at = expires_at;
	sqlite3_reset(st);
	return 1;
}

static int sq_session_delete(struct bl_store *base, const char *id_hash)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_SESSION_DELETE);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, id_hash ? id_hash : "");
	return exec_stmt(s, st, "deleting a session");
}

/* Read TOKEN_COLS into @t, strings malloc'd. */
static void read_token(sqlite3_stmt *st, struct bl_api_token *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	t->name = col_dup(st, 1);
	bl_role_parse(col_text(st, 2), &t->role);
	t->created_at = sqlite3_column_int64(st, 3);
	t->last_used_at = sqlite3_column_int64(st, 4);
}

static int sq_token_create(struct bl_store *base, struct bl_api_token *t, const char *hash)
{
	struct sqlite_store *s = S(base);
	int rc = check_role(s, t->role);
	if (rc)
		return rc;
	if (!hash || !*hash)
		return bl_store_set_error(base, BL_EINVAL, "token_create: no hash");
	sqlite3_stmt *st = stmt(s, ST_TOKEN_CREATE);
	if (!st)
		return -BL_ESTORE;
	int64_t created = t->created_at ? t->created_at : bl_now();
	bind_text(st, 1, t->name ? t->name : "");
	bind_text(st, 2, bl_role_name(t->role));
	bind_text(st, 3, hash);
	sqlite3_bind_int64(st, 4, created);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		int r = fail(s, rc, "creating an API token");
		if (r == -BL_EEXIST)
			bl_store_set_error(
			    base, BL_EEXIST,
			    "an API token named \"%s\" (or with that secret) already "
			    "exists",
			    t->name);
		return r;
	}
	t->id = sqlite3_last_insert_rowid(s->db);
	t->created_at = created;
	return 0;
}

/* A token's last use is written at most once a minute: a busy script does not write per call. */
#define TOKEN_TOUCH_INTERVAL 60

static int sq_token_get(struct bl_store *base, const char *hash, int64_t now,
                        struct bl_api_token *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_TOKEN_GET);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, hash ? hash : "");
	int rc = sqlite3_step(st);
	struct bl_api_token t;
	if (rc == SQLITE_ROW)
		read_token(st, &t);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading an API token");
	if (t.last_used_at == 0 || now - t.last_used_at >= TOKEN_TOUCH_INTERVAL) {
		if (!(st = stmt(s, ST_TOKEN_TOUCH))) {
			bl_api_token_clear(&t);
			return -BL_ESTORE;
		}
		sqlite3_bind_int64(st, 1, t.id);
		sqlite3_bind_int64(st, 2, now);
		if ((rc = exec_stmt(s, st, "recording the use of an API token"))) {
			bl_api_token_clear(&t);
			return rc;
		}
		t.last_used_at = now;
	}
	*out = t;
	return 1;
}

static int sq_token_each(struct bl_store *base, bl_api_token_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_TOKEN_EACH);
	if (!st)
		return -BL_ESTORE;
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_api_token t;
		read_token(st, &t);
		out = fn(arg, &t);
		bl_api_token_clear(&t);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing API tokens");
	sqlite3_reset(st);
	return out;
}

static int sq_token_delete(struct bl_store *base, const char *name)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_TOKEN_DELETE);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, name ? name : "");
	int rc = exec_stmt(s, st, "deleting an API token");
	return rc ? rc : sqlite3_changes(s->db) > 0;
}

static int sq_audit_add(struct bl_store *base, const struct bl_audit *a)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_AUDIT_ADD);
	if (!st)
		return -BL_ESTORE;
	char target[BL_AUDIT_TEXT_MAX + 1], detail[BL_AUDIT_TEXT_MAX + 1];
	sqlite3_bind_int64(st, 1, a->at ? a->at : bl_now());
	bind_text(st, 2, a->actor ? a->actor : "");
	bind_text(st, 3, a->action ? a->action : "");
	bind_text(st, 4, bl_store_cut_utf8(a->target, BL_AUDIT_TEXT_MAX, target));
	bind_text(st, 5, bl_store_cut_utf8(a->detail, BL_AUDIT_TEXT_MAX, detail));
	bind_text(st, 6, a->ip ? a->ip : "");
	return exec_stmt(s, st, "writing the audit log");
}

static int sq_audit_each(struct bl_store *base, int64_t before_id, int64_t limit, bl_audit_fn fn,
                         void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_AUDIT_EACH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_audit a = {.id = sqlite3_column_int64(st, 0),
		                     .at = sqlite3_column_int64(st, 1),
		                     .actor = col_text(st, 2),
		                     .action = col_text(st, 3),
		                     .target = col_text(st, 4),
		                     .detail = col_text(st, 5),
		                     .ip = col_text(st, 6)};
		if ((out = fn(arg, &a)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "reading the audit log");
	sqlite3_reset(st);
	return out;
}

/* ---- publisher tools (schema 5): lists, maintained counts, subscribers --------------------- */

static int sq_list_update(struct bl_store *base, const struct bl_list *l)
{
	struct sqlite_store *s = S(base);
	if ((unsigned)l->optin > BL_OPTIN_SINGLE || (unsigned)l->visibility > BL_VISIBILITY_PRIVATE)
		return bl_store_set_error(base, BL_EINVAL,
		                          "list_update: unknown opt-in %d or "
		                          "visibility %d",
		                          (int)l->optin, (int)l->visibility);
	sqlite3_stmt *st = stmt(s, ST_LIST_UPDATE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, l->id);
	bind_text(st, 2, l->name ? l->name : "");
	bind_text(st, 3, l->description ? l->description : "");
	bind_text(st, 4, bl_optin_name(l->optin));
	bind_text(st, 5, bl_visibility_name(l->visibility));
	sqlite3_bind_int64(st, 6, bl_now());
	sqlite3_bind_int(st, 7, !l->breaking_digest_off);
	int rc = exec_stmt(s, st, "changing a list");
	return rc ? rc : sqlite3_changes(s->db) > 0;
}

static int sq_counts(struct bl_store *base, struct bl_counts *out)
{
	struct bl_counts c = {{0}};
	int rc = read_counters(S(base), &c);
	if (rc == 0)
		*out = c;
	return rc;
}

static int sq_growth(struct bl_store *base, int64_t first_day, size_t n_days, int64_t *added,
                     int64_t *removed)
{
	struct sqlite_store *s = S(base);
	for (size_t i = 0; i < n_days; i++)
		added[i] = removed[i] = 0;
	if (n_days == 0)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_GROWTH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, first_day);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)n_days);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t i = sqlite3_column_int64(st, 0) - first_day;
		if (i < 0 || (uint64_t)i >= n_days)
			continue;
		added[i] = sqlite3_column_int64(st, 1);
		removed[i] = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading the growth per day");
}

static int subscriber_update(struct sqlite_store *s, const struct bl_subscriber *sub,
                             const struct bl_consent_ctx *ctx, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_SUB_STATUS_OF);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub->id);
	int rc = sqlite3_step(st);
	enum bl_subscriber_status old = BL_SUBSCRIBER_ACTIVE;
	if (rc == SQLITE_ROW)
		bl_subscriber_status_parse(col_text(st, 0), &old);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading a subscriber");
	if (!(st = stmt(s, ST_SUB_UPDATE)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub->id);
	bind_text(st, 2, sub->name ? sub->name : "");
	bind_text(st, 3, sub->attributes && *sub->attributes ? sub->attributes : "{}");
	bind_text(st, 4, bl_subscriber_status_name(sub->status));
	bind_text(st, 5, sub->status_reason ? sub->status_reason : "");
	sqlite3_bind_int64(st, 6, now);
	if ((rc = exec_stmt(s, st, "changing a subscriber")))
		return rc;
	if (old != BL_SUBSCRIBER_BLOCKLISTED && sub->status == BL_SUBSCRIBER_BLOCKLISTED) {
		struct bl_ctx_text t;
		bl_store_ctx_text(ctx, &t);
		if ((rc = add_event(s, sub->id, 0, BL_CONSENT_BLOCKLIST, now, &t)))
			return rc;
	}
	return 1;
}

static int sq_subscriber_update(struct bl_store *base, const struct bl_subscriber *sub,
                                const struct bl_consent_ctx *ctx)
{
	struct sqlite_store *s = S(base);
	int bad = bl_store_check_subscriber(base, sub);
	if (bad)
		return bad;
	int64_t now = ctx && ctx->now ? ctx->now : bl_now();
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int changed = subscriber_update(s, sub, ctx, now);
	rc = tx_end(s, changed < 0 ? changed : 0);
	return rc ? rc : changed;
}

/* ---- publisher tools (schema 5): posts, the scheduler, retries ----------------------------- */

static int sq_post_page(struct bl_store *base, enum bl_post_kind kind, int64_t before_id,
                        int64_t limit, bl_post_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	if ((unsigned)kind > BL_POST_KIND_PROBE)
		return bl_store_set_error(base, BL_EINVAL, "unknown post kind %d", (int)kind);
	sqlite3_stmt *st = stmt(s, ST_POST_PAGE);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, bl_post_kind_name(kind));
	sqlite3_bind_int64(st, 2, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_post p;
		read_post(st, &p);
		out = fn(arg, &p);
		bl_post_clear(&p);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing posts");
	sqlite3_reset(st);
	return out;
}

/* Post @id's status and kind: 1, 0 when absent, or -BL_E*. */
static int post_status(struct sqlite_store *s, int64_t id, enum bl_post_status *status,
                       enum bl_post_kind *kind)
{
	sqlite3_stmt *st = stmt(s, ST_POST_STATUS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		bl_post_status_parse(col_text(st, 0), status);
		bl_post_kind_parse(col_text(st, 2), kind);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a post");
}

static int post_update(struct sqlite_store *s, const struct bl_post *p, const int64_t *list_ids,
                       size_t n_lists)
{
	enum bl_post_status status = BL_POST_DRAFT;
	enum bl_post_kind kind = BL_POST_KIND_POST;
	int rc = post_status(s, p->id, &status, &kind);
	if (rc <= 0)
		return rc;
	if (kind != BL_POST_KIND_POST || (status != BL_POST_DRAFT && status != BL_POST_SCHEDULED))
		return 0;
	sqlite3_stmt *st;
	for (size_t i = 0; i < n_lists; i++) {
		if (!(st = stmt(s, ST_LIST_EXISTS)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, list_ids[i]);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return bl_store_set_error(&s->base, BL_ENOENT,
			                          "there is no list with id %" PRId64, list_ids[i]);
		if (rc != SQLITE_ROW)
			return fail(s, rc, "looking up a list");
	}
	if (!(st = stmt(s, ST_POST_UPDATE)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, p->id);
	bind_text(st, 2, p->subject ? p->subject : "");
	bind_text(st, 3, p->body ? p->body : "");
	bind_text(st, 4, p->from_header ? p->from_header : "");
	sqlite3_bind_int(st, 5, (int)p->priority);
	bind_text(st, 6, bl_post_format_name(p->format));
	if ((rc = exec_stmt(s, st, "changing a post")))
		return rc;
	if (n_lists == 0)
		return 1;
	if ((rc = exec_id(s, ST_POST_LISTS_CLEAR, p->id, "changing the lists of a post")))
		return rc;
	for (size_t i = 0; i < n_lists; i++) {
		if (!(st = stmt(s, ST_POST_LIST_ADD)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, p->id);
		sqlite3_bind_int64(st, 2, list_ids[i]);
		if ((rc = exec_stmt(s, st, "adding a list to a post")))
			return rc;
	}
	return 1;
}

static int sq_post_update(struct bl_store *base, const struct bl_post *p, const int64_t *list_ids,
                          size_t n_lists)
{
	struct sqlite_store *s = S(base);
	if ((unsigned)p->priority > BL_PRIORITY_TRANSACTIONAL)
		return bl_store_set_error(base, BL_EINVAL, "unknown post priority %d",
		                          (int)p->priority);
	if ((unsigned)p->format > BL_POST_FORMAT_HTML)
		return bl_store_set_error(base, BL_EINVAL, "unknown post format %d",
		                          (int)p->format);
	if (n_lists > 0 && !list_ids)
		return bl_store_set_error(base, BL_EINVAL, "post_update: %zu lists missing",
		                          n_lists);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int changed = post_update(s, p, list_ids, n_lists);
	rc = tx_end(s, changed < 0 ? changed : 0);
	return rc ? rc : changed;
}

static int sq_post_schedule(struct bl_store *base, int64_t id, int64_t at)
{
	struct sqlite_store *s = S(base);
	if (at < 0)
		return bl_store_set_error(base, BL_EINVAL, "post_schedule: negative time %" PRId64,
		                          at);
	sqlite3_stmt *st = stmt(s, ST_POST_SCHEDULE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, at);
	int rc = exec_stmt(s, st, "scheduling a post");
	return rc ? rc : sqlite3_changes(s->db) > 0;
}

/*
 * One due post's turn, in the caller's transaction: queued (1, *@total),
 * held (2), or left (0: another scheduler took it, or it changed since).
 */
static int schedule_one(struct sqlite_store *s, int64_t id, int64_t now, int64_t max_lateness,
                        int64_t *total)
{
	sqlite3_stmt *st = stmt(s, ST_SCHEDULE_POST);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	int64_t at = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		at = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading a scheduled post");
	if (now - at <= max_lateness) {
		rc = queue(s, id, now, total);
		return rc < 0 ? rc : rc == 1 ? 1 : 0;
	}
	char reason[256], when[BL_TIME_STRMAX];
	snprintf(reason, sizeof(reason),
	         "held: scheduled for %s, %" PRId64 " s late (max_schedule_lateness %" PRId64
	         " s); send it or schedule it again",
	         bl_time_format(at, when), now - at, max_lateness);
	if (!(st = stmt(s, ST_SCHEDULE_HOLD)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, reason);
	rc = exec_stmt(s, st, "holding a late post");
	return rc ? rc : 2;
}

static int sq_schedule_run(struct bl_store *base, int64_t now, int64_t max_lateness,
                           bl_schedule_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	/* The due ids first (a handful): each post then takes its own transaction. */
	sqlite3_stmt *st = stmt(s, ST_SCHEDULE_DUE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			ids = bl_xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(ids);
		return fail(s, rc, "finding the scheduled posts");
	}
	int out = 0;
	for (size_t i = 0; i < n && out == 0; i++) {
		if ((rc = tx_begin(s))) {
			out = rc;
			break;
		}
		int64_t total = 0;
		int done = schedule_one(s, ids[i], now, max_lateness, &total);
		if ((rc = tx_end(s, done < 0 ? done : 0))) {
			out = rc;
			break;
		}
		if (done > 0 && fn)
			out = fn(arg, ids[i], done == 2, done == 1 ? total : 0);
	}
	free(ids);
	return out;
}

static int retry(struct sqlite_store *s, int64_t post_id, int64_t now, int64_t *n)
{
	enum bl_post_status status = BL_POST_DRAFT;
	enum bl_post_kind kind = BL_POST_KIND_POST;
	int rc = post_status(s, post_id, &status, &kind);
	if (rc <= 0)
		return rc;
	if (status != BL_POST_SENDING && status != BL_POST_PAUSED && status != BL_POST_SENT)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_RETRY_ROWS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = exec_stmt(s, st, "retrying failed deliveries")))
		return rc;
	*n = sqlite3_changes64(s->db);
	if (*n > 0 && (rc = exec_id(s, ST_RETRY_POST, post_id, "reopening a sent post")))
		return rc;
	return 1;
}

static int sq_delivery_retry(struct bl_store *base, int64_t post_id, int64_t now, int64_t *n)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int64_t rows = 0;
	int done = retry(s, post_id, now, &rows);
	rc = tx_end(s, done < 0 ? done : 0);
	if (rc)
		return rc;
	if (n)
		*n = rows;
	return done;
}

static int sq_delivery_accepted_hist(struct bl_store *base, int64_t post_id, int64_t from,
                                     int64_t bucket, size_t n, int64_t *out)
{
	struct sqlite_store *s = S(base);
	if (bucket <= 0)
		return bl_store_set_error(
		    base, BL_EINVAL, "delivery_accepted_hist: a bucket of %" PRId64 " s", bucket);
	for (size_t i = 0; i < n; i++)
		out[i] = 0;
	if (n == 0)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_ACCEPTED_HIST);
	if (!st)
		return -BL_ESTORE;
	/* The end of the last bucket, kept from overflowing. */
	int64_t span = (int64_t)n > INT64_MAX / bucket ? INT64_MAX : bucket * (int64_t)n;
	int64_t until = from > INT64_MAX - span ? INT64_MAX : from + span;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, until);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t i = (sqlite3_column_int64(st, 0) - from) / bucket;
		if (i >= 0 && (uint64_t)i < n)
			out[i]++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "counting accepted deliveries");
}

/* ---- publisher tools (schema 5): asynchronous jobs ----------------------------------------- */

static int parse_job_state(const char *v, enum bl_job_state *out)
{
	for (int i = BL_JOB_QUEUED; i <= BL_JOB_FAILED; i++)
		if (strcmp(v, bl_job_state_name((enum bl_job_state)i)) == 0) {
			*out = (enum bl_job_state)i;
			return 0;
		}
	return -BL_EINVAL;
}

/* Read JOB_COLS into @j, strings malloc'd. */
static void read_job(sqlite3_stmt *st, struct bl_job *j)
{
	memset(j, 0, sizeof(*j));
	j->id = sqlite3_column_int64(st, 0);
	j->kind = col_dup(st, 1);
	parse_job_state(col_text(st, 2), &j->state);
	j->params = col_dup(st, 3);
	j->actor = col_dup(st, 4);
	j->size = sqlite3_column_int64(st, 5);
	j->done = sqlite3_column_int64(st, 6);
	j->report = col_dup(st, 7);
	j->error = col_dup(st, 8);
	j->created_at = sqlite3_column_int64(st, 9);
	j->started_at = sqlite3_column_int64(st, 10);
	j->finished_at = sqlite3_column_int64(st, 11);
}

static int sq_job_create(struct bl_store *base, struct bl_job *j, const void *input, size_t len)
{
	struct sqlite_store *s = S(base);
	if (len > 0 && !input)
		return bl_store_set_error(base, BL_EINVAL, "job_create: %zu bytes of input missing",
		                          len);
	if (len > INT_MAX)
		return bl_store_set_error(base, BL_ELIMIT,
		                          "job_create: %zu bytes of input is more than one job "
		                          "takes",
		                          len);
	sqlite3_stmt *st = stmt(s, ST_JOB_CREATE);
	if (!st)
		return -BL_ESTORE;
	int64_t now = j->created_at ? j->created_at : bl_now();
	bind_text(st, 1, j->kind ? j->kind : "");
	bind_text(st, 2, j->params && *j->params ? j->params : "{}");
	bind_text(st, 3, j->actor ? j->actor : "");
	sqlite3_bind_int64(st, 4, j->size);
	sqlite3_bind_blob(st, 5, len ? input : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	int rc = exec_stmt(s, st, "creating a job");
	if (rc)
		return rc;
	j->id = sqlite3_last_insert_rowid(s->db);
	j->state = BL_JOB_QUEUED;
	j->created_at = now;
	return 0;
}

/* Job @id into @out: -1/0/1 as a lookup. */
static int get_job(struct sqlite_store *s, int64_t id, struct bl_job *out)
{
	sqlite3_stmt *st = stmt(s, ST_JOB_GET);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_job(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a job");
}

static int sq_job_get(struct bl_store *base, int64_t id, struct bl_job *out)
{
	return get_job(S(base), id, out);
}

static int sq_job_each(struct bl_store *base, int64_t limit, bl_job_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_JOB_EACH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, limit > 0 ? limit : -1);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_job j;
		read_job(st, &j);
		out = fn(arg, &j);
		bl_job_clear(&j);
		if (out)
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing jobs");
	sqlite3_reset(st);
	return out;
}

/* The oldest job in @state: 1 with *@id, 0 when there is none, or -BL_E*. */
static int next_job(struct sqlite_store *s, enum bl_job_state state, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_JOB_NEXT);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, bl_job_state_name(state));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "finding a job");
}

/* The oldest running job silent since before @stale_before: 1 with *@id, 0, or -BL_E*. */
static int stale_job(struct sqlite_store *s, int64_t stale_before, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_JOB_STALE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, stale_before);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "finding a stale job");
}

static int job_claim(struct sqlite_store *s, int64_t now, int64_t stale_before, struct bl_job *out,
                     void **input, size_t *len)
{
	int64_t id = 0;
	int rc = stale_before > 0 ? stale_job(s, stale_before, &id) : 0;
	if (rc == 0)
		rc = next_job(s, BL_JOB_QUEUED, &id);
	if (rc <= 0)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_JOB_START);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = exec_stmt(s, st, "starting a job")))
		return rc;
	if (!(st = stmt(s, ST_JOB_INPUT)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		const void *b = sqlite3_column_blob(st, 0);
		*input = bl_xmalloc(n ? n : 1);
		if (n)
			memcpy(*input, b, n);
		*len = n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "reading the input of a job");
	if ((rc = get_job(s, id, out)) != 1) {
		free(*input);
		*input = NULL;
		*len = 0;
		return rc < 0 ? rc
		              : bl_store_set_error(&s->base, BL_ESTORE, "job %" PRId64 " vanished",
		                                   id);
	}
	return 1;
}

static int sq_job_claim(struct bl_store *base, int64_t now, int64_t stale_before,
                        struct bl_job *out, void **input, size_t *len)
{
	struct sqlite_store *s = S(base);
	int rc = tx_begin(s);
	if (rc)
		return rc;
	struct bl_job j;
	void *in = NULL;
	size_t n = 0;
	int found = job_claim(s, now, stale_before, &j, &in, &n);
	rc = tx_end(s, found < 0 ? found : 0);
	if (rc || found != 1) {
		if (found == 1) {
			bl_job_clear(&j);
			free(in);
		}
		return rc ? rc : found;
	}
	*out = j;
	*input = in;
	*len = n;
	return 1;
}

static int sq_job_progress(struct bl_store *base, int64_t id, int64_t done, int64_t now)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_JOB_PROGRESS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, done);
	sqlite3_bind_int64(st, 3, now);
	return exec_stmt(s, st, "recording the progress of a job");
}

/* ---- digests (schema 6) ------------------------------------------------------------------- */

static int sq_digest_last(struct bl_store *base, enum bl_mode mode, int64_t *period_end)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_DIGEST_LAST);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, bl_mode_name(mode));
	return step_int(s, st, period_end, "reading the last digest");
}

/* Bind and run digest statement @id with the ids and times of @in; -BL_E* or 0. */
static int digest_step(struct sqlite_store *s, enum stmt id, int64_t post_id,
                       const struct bl_digest_spec *in, const char *what)
{
	sqlite3_stmt *st = stmt(s, id);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	sqlite3_bind_int64(st, 2, in->period_start);
	sqlite3_bind_int64(st, 3, in->period_end);
	if (id == ST_DIGEST_QUEUE) {
		sqlite3_bind_int64(st, 4, in->now);
		bind_text(st, 5, bl_mode_name(in->mode));
	}
	return exec_stmt(s, st, what);
}

static int make_digest(struct sqlite_store *s, const struct bl_digest_spec *in, int64_t *post_id,
                       int64_t *total)
{
	sqlite3_stmt *st = stmt(s, ST_DIGEST_EXISTS);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, bl_mode_name(in->mode));
	sqlite3_bind_int64(st, 2, in->period_end);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return fail(s, rc, "looking for a digest");
	/* Nobody has anything: the period is recorded without a post. */
	if (!(st = stmt(s, ST_DIGEST_ANY)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 2, in->period_start);
	sqlite3_bind_int64(st, 3, in->period_end);
	bind_text(st, 5, bl_mode_name(in->mode));
	rc = sqlite3_step(st);
	int any = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "looking for a digest's readers");
	if (!any) {
		if (!(st = stmt(s, ST_DIGEST_ROW)))
			return -BL_ESTORE;
		bind_text(st, 2, bl_mode_name(in->mode));
		sqlite3_bind_int64(st, 3, in->period_start);
		sqlite3_bind_int64(st, 4, in->period_end);
		if ((rc = exec_stmt(s, st, "recording an empty digest period")))
			return rc;
		*post_id = 0;
		*total = 0;
		return 1;
	}
	if (!(st = stmt(s, ST_DIGEST_POST)))
		return -BL_ESTORE;
	bind_text(st, 1, in->subject);
	sqlite3_bind_int64(st, 2, in->now);
	if ((rc = exec_stmt(s, st, "creating a digest")))
		return rc;
	int64_t id = sqlite3_last_insert_rowid(s->db);
	if (!(st = stmt(s, ST_DIGEST_ROW)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, bl_mode_name(in->mode));
	sqlite3_bind_int64(st, 3, in->period_start);
	sqlite3_bind_int64(st, 4, in->period_end);
	if ((rc = exec_stmt(s, st, "recording a digest")))
		return rc;
	if ((rc = digest_step(s, ST_DIGEST_LISTS, id, in, "recording a digest's lists")) ||
	    (rc = digest_step(s, ST_DIGEST_QUEUE, id, in, "queueing a digest")))
		return rc;
	int64_t n = sqlite3_changes64(s->db);
	if ((rc = count_pending(s, id, n)))
		return rc;
	if (!(st = stmt(s, ST_DIGEST_FINISH)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_int64(st, 3, in->now);
	if ((rc = exec_stmt(s, st, "starting a digest")))
		return rc;
	*post_id = id;
	*total = n;
	return 1;
}

static int sq_digest_create(struct bl_store *base, const struct bl_digest_spec *in,
                            int64_t *post_id, int64_t *total)
{
	struct sqlite_store *s = S(base);
	if ((in->mode != BL_MODE_DAILY && in->mode != BL_MODE_WEEKLY) ||
	    in->period_start >= in->period_end || !in->subject || !*in->subject)
		return bl_store_set_error(base, BL_EINVAL,
		                          "digest_create: a daily or weekly mode, a period with "
		                          "start < end and a subject are required");
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int64_t id = 0, n = 0;
	int made = make_digest(s, in, &id, &n);
	rc = tx_end(s, made < 0 ? made : 0);
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

static int sq_digest_get(struct bl_store *base, int64_t post_id, struct bl_digest *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_DIGEST_GET);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, post_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct bl_digest g = {.post_id = sqlite3_column_int64(st, 0)};
		if (bl_mode_parse(col_text(st, 1), &g.mode))
			g.mode = BL_MODE_DAILY;
		g.period_start = sqlite3_column_int64(st, 2);
		g.period_end = sqlite3_column_int64(st, 3);
		*out = g;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a digest");
}

static int sq_digest_posts(struct bl_store *base, int64_t digest_post_id, int64_t subscriber_id,
                           bl_digest_item_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_DIGEST_POSTS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, digest_post_id);
	sqlite3_bind_int64(st, 2, subscriber_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_post p = {.id = sqlite3_column_int64(st, 0), .kind = BL_POST_KIND_POST};
		p.subject = (char *)col_text(st, 1);
		p.body = (char *)col_text(st, 2);
		p.from_header = (char *)"";
		p.pause_reason = (char *)"";
		p.created_at = sqlite3_column_int64(st, 3);
		p.started_at = sqlite3_column_int64(st, 4);
		bl_post_status_parse(col_text(st, 5), &p.status);
		bl_post_format_parse(col_text(st, 9), &p.format);
		struct bl_digest_item it = {.post = &p,
		                            .list_id = sqlite3_column_int64(st, 6),
		                            .list_slug = col_text(st, 7),
		                            .list_name = col_text(st, 8)};
		if ((out = fn(arg, &it)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "reading a digest's posts");
	sqlite3_reset(st);
	return out;
}

static int sq_job_finish(struct bl_store *base, int64_t id, const char *report, const char *error,
                         int64_t now)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_JOB_FINISH);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, bl_job_state_name(error ? BL_JOB_FAILED : BL_JOB_DONE));
	bind_text(st, 3, report && *report ? report : "{}");
	bind_text(st, 4, error ? error : "");
	sqlite3_bind_int64(st, 5, now);
	return exec_stmt(s, st, "ending a job");
}

/* ---- feeds (schema 6) ------------------------------------------------------------------------ */

static void read_feed(sqlite3_stmt *st, struct bl_feed *f)
{
	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(st, 0);
	f->url = col_dup(st, 1);
	f->title = col_dup(st, 2);
	bl_feed_mode_parse(col_text(st, 3), &f->mode);
	f->every = sqlite3_column_int64(st, 4);
	f->breaking = sqlite3_column_int(st, 5);
	f->backfill = sqlite3_column_int64(st, 6);
	f->etag = col_dup(st, 7);
	f->last_modified = col_dup(st, 8);
	f->next_poll_at = sqlite3_column_int64(st, 9);
	f->polled_at = sqlite3_column_int64(st, 10); /* NULL reads as 0 */
	f->ok_at = sqlite3_column_int64(st, 11);
	f->failures = sqlite3_column_int64(st, 12);
	f->last_error = col_dup(st, 13);
	f->items = sqlite3_column_int64(st, 14);
	f->posts = sqlite3_column_int64(st, 15);
	f->created_at = sqlite3_column_int64(st, 16);
}

static int feed_create_tx(struct sqlite_store *s, struct bl_feed *f, const int64_t *list_ids,
                          size_t n_lists, int64_t now)
{
	sqlite3_stmt *st;
	int rc;
	for (size_t i = 0; i < n_lists; i++) {
		if (!(st = stmt(s, ST_LIST_EXISTS)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, list_ids[i]);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return bl_store_set_error(&s->base, BL_ENOENT,
			                          "there is no list with id %" PRId64, list_ids[i]);
		if (rc != SQLITE_ROW)
			return fail(s, rc, "looking up a list");
	}
	if (!(st = stmt(s, ST_FEED_CREATE)))
		return -BL_ESTORE;
	bind_text(st, 1, f->url);
	bind_text(st, 2, bl_feed_mode_name(f->mode));
	sqlite3_bind_int64(st, 3, f->every);
	sqlite3_bind_int(st, 4, f->breaking != 0);
	sqlite3_bind_int64(st, 5, f->backfill);
	sqlite3_bind_int64(st, 6, now);
	if ((rc = exec_stmt(s, st, "adding a feed"))) {
		if (rc == -BL_EEXIST)
			bl_store_set_error(&s->base, BL_EEXIST,
			                   "there is already a feed with URL %s", f->url);
		return rc;
	}
	int64_t id = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; i < n_lists; i++) {
		if (!(st = stmt(s, ST_FEED_LIST_ADD)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, list_ids[i]);
		if ((rc = exec_stmt(s, st, "adding a list to a feed")))
			return rc;
	}
	f->id = id;
	return 0;
}

static int sq_feed_create(struct bl_store *base, struct bl_feed *f, const int64_t *list_ids,
                          size_t n_lists)
{
	struct sqlite_store *s = S(base);
	if (n_lists == 0)
		return bl_store_set_error(base, BL_EINVAL, "a feed needs at least one list");
	if (f->every <= 0 || f->backfill < 0)
		return bl_store_set_error(base, BL_EINVAL,
		                          "a feed's interval must be positive and its backfill not "
		                          "negative");
	if (!f->url || !*f->url)
		return bl_store_set_error(base, BL_EINVAL, "a feed needs a URL");
	int64_t now = f->created_at ? f->created_at : bl_now();
	int rc = tx_begin(s);
	if (rc)
		return rc;
	rc = tx_end(s, feed_create_tx(s, f, list_ids, n_lists, now));
	if (rc == 0) {
		f->created_at = now;
		f->next_poll_at = now;
	}
	return rc;
}

static int sq_feed_get(struct bl_store *base, int64_t id, struct bl_feed *out)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_FEED_GET);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_feed(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "reading a feed");
}

static int sq_feed_each(struct bl_store *base, bl_feed_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_FEED_EACH);
	if (!st)
		return -BL_ESTORE;
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_feed f;
		read_feed(st, &f);
		out = fn(arg, &f);
		bl_feed_clear(&f);
		if (out)
			break;
	}
	sqlite3_reset(st);
	if (!out && rc != SQLITE_DONE)
		return fail(s, rc, "listing feeds");
	return out;
}

static int sq_feed_lists(struct bl_store *base, int64_t feed_id, bl_list_fn fn, void *arg)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_FEED_LISTS);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, feed_id);
	int rc, out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_list l = {0};
		read_list(st, &l);
		out = fn(arg, &l);
		bl_list_clear(&l);
		if (out)
			break;
	}
	sqlite3_reset(st);
	if (!out && rc != SQLITE_DONE)
		return fail(s, rc, "listing a feed's lists");
	return out;
}

static int sq_feed_delete(struct bl_store *base, int64_t id)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_FEED_DELETE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = exec_stmt(s, st, "removing a feed");
	return rc ? rc : sqlite3_changes(s->db) > 0;
}

static int sq_feed_due(struct bl_store *base, int64_t now, int64_t *ids, size_t max, size_t *n)
{
	struct sqlite_store *s = S(base);
	*n = 0;
	if (max == 0)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_FEED_DUE);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	if (*n == max)
		rc = SQLITE_DONE;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, "finding the feeds due");
	return 0;
}

static int sq_feed_seen(struct bl_store *base, int64_t feed_id, size_t n, const char *const *keys,
                        char *seen)
{
	struct sqlite_store *s = S(base);
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = stmt(s, ST_FEED_SEEN);
		if (!st)
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, feed_id);
		bind_text(st, 2, keys[i]);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return fail(s, rc, "looking up a feed's items");
		seen[i] = rc == SQLITE_ROW;
	}
	return 0;
}

static int sq_feed_polled(struct bl_store *base, int64_t feed_id, int64_t now, int64_t next,
                          const char *error)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, error ? ST_FEED_POLLED_FAIL : ST_FEED_POLLED_OK);
	if (!st)
		return -BL_ESTORE;
	char cut[BL_REASON_MAX + 1];
	sqlite3_bind_int64(st, 1, feed_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, next);
	if (error)
		bind_text(st, 4, bl_store_cut_utf8(error, BL_REASON_MAX, cut));
	int rc = exec_stmt(s, st, "recording a feed poll");
	return rc ? rc : sqlite3_changes(s->db) > 0;
}

/* One new entry @e of feed @feed_id becomes a post (see feed_ingest). */
static int feed_post(struct sqlite_store *s, int64_t feed_id, const struct bl_feed_ingest_item *e,
                     enum bl_feed_mode mode, int breaking, int64_t now, int64_t *post_id)
{
	sqlite3_stmt *st = stmt(s, ST_FEED_POST_CREATE);
	if (!st)
		return -BL_ESTORE;
	bind_text(st, 1, e->subject ? e->subject : "");
	bind_text(st, 2, e->body ? e->body : "");
	sqlite3_bind_int(st, 3, breaking ? BL_PRIORITY_BREAKING : BL_PRIORITY_NORMAL);
	bind_text(st, 4, mode == BL_FEED_SEND ? "scheduled" : "draft");
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, mode == BL_FEED_SEND ? now : 0);
	int rc = exec_stmt(s, st, "creating a post from a feed item");
	if (rc)
		return rc;
	int64_t id = sqlite3_last_insert_rowid(s->db);
	if (!(st = stmt(s, ST_FEED_POST_LISTS)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, feed_id);
	sqlite3_bind_int64(st, 2, id);
	if ((rc = exec_stmt(s, st, "adding a feed's lists to a post")))
		return rc;
	if (!(st = stmt(s, ST_FEED_ITEM_POST)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, feed_id);
	bind_text(st, 2, e->key);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = exec_stmt(s, st, "linking a feed item to its post")))
		return rc;
	*post_id = id;
	return 0;
}

static int feed_ingest_tx(struct sqlite_store *s, int64_t feed_id, int64_t now, int64_t next,
                          const char *etag, const char *last_modified, const char *title,
                          const struct bl_feed_ingest_item *e, size_t n,
                          struct bl_feed_ingest_result *r)
{
	struct bl_feed f;
	int rc = sq_feed_get(&s->base, feed_id, &f);
	if (rc <= 0)
		return rc;
	int first = f.ok_at == 0, breaking = f.breaking;
	int64_t backfill = f.backfill;
	enum bl_feed_mode mode = f.mode;
	bl_feed_clear(&f);
	/* On a first poll only the newest `backfill` new entries (the last
	 * ones: entries come oldest first) become posts. */
	int64_t skip = 0;
	if (first) {
		int64_t fresh = 0;
		for (size_t i = 0; i < n; i++) {
			char seen = 0;
			if ((rc = sq_feed_seen(&s->base, feed_id, 1, &e[i].key, &seen)))
				return rc;
			fresh += !seen && !bl_feed_key_repeated(e, i);
		}
		skip = fresh > backfill ? fresh - backfill : 0;
	}
	sqlite3_stmt *st;
	for (size_t i = 0; i < n; i++) {
		if (!(st = stmt(s, ST_FEED_ITEM_ADD)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, feed_id);
		bind_text(st, 2, e[i].key);
		bind_text(st, 3, e[i].title ? e[i].title : "");
		bind_text(st, 4, e[i].link ? e[i].link : "");
		sqlite3_bind_int64(st, 5, now);
		if ((rc = exec_stmt(s, st, "recording a feed item")))
			return rc;
		if (sqlite3_changes(s->db) == 0)
			continue; /* seen before, or named twice in this poll */
		r->new_items++;
		if (skip > 0) {
			skip--;
			continue;
		}
		int64_t post_id = 0;
		if ((rc = feed_post(s, feed_id, &e[i], mode, breaking, now, &post_id)))
			return rc;
		if (!r->first_post_id)
			r->first_post_id = post_id;
		r->last_post_id = post_id;
		r->posts++;
	}
	if (!(st = stmt(s, ST_FEED_INGESTED)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, feed_id);
	bind_text(st, 2, etag ? etag : "");
	bind_text(st, 3, last_modified ? last_modified : "");
	bind_text(st, 4, title);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, next);
	sqlite3_bind_int64(st, 7, r->new_items);
	sqlite3_bind_int64(st, 8, r->posts);
	if ((rc = exec_stmt(s, st, "recording a feed poll")))
		return rc;
	return 1;
}

static int sq_feed_ingest(struct bl_store *base, int64_t feed_id, int64_t now, int64_t next,
                          const char *etag, const char *last_modified, const char *title,
                          const struct bl_feed_ingest_item *entries, size_t n,
                          struct bl_feed_ingest_result *out)
{
	struct sqlite_store *s = S(base);
	struct bl_feed_ingest_result r = {0};
	int rc = tx_begin(s);
	if (rc)
		return rc;
	int done =
	    feed_ingest_tx(s, feed_id, now, next, etag, last_modified, title, entries, n, &r);
	rc = tx_end(s, done < 0 ? done : 0);
	if (rc)
		return rc;
	if (out)
		*out = done == 1 ? r : (struct bl_feed_ingest_result){0};
	return done;
}

/* ---- bounces and complaints (schema 7) -------------------------------------------------- */

/* Step @st, which returns one integer (or text in *@text when not NULL): 1 with it, 0 when
 * there is no row, or -BL_E*. The text is copied into @text (@cap bytes). */
static int one_row(struct sqlite_store *s, sqlite3_stmt *st, int64_t *v, char *text, size_t cap,
                   const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (v)
			*v = sqlite3_column_int64(st, 0);
		if (text)
			snprintf(text, cap, "%s", col_text(st, v ? 1 : 0));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, what);
}

/* A count of subscriber @sub's findings by statement @id (?2: @since). */
static int bounce_count(struct sqlite_store *s, enum stmt id, int64_t sub, int64_t since,
                        int64_t *n)
{
	sqlite3_stmt *st = stmt(s, id);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub);
	if (id == ST_BOUNCE_SOFT || id == ST_BOUNCE_PROBE_RECENT)
		sqlite3_bind_int64(st, 2, since);
	*n = 0;
	int rc = one_row(s, st, n, NULL, 0, "counting bounces");
	return rc < 0 ? rc : 0;
}

/* Blocklist active subscriber @sub for @reason ("bounced", "complained") with a blocklist
 * event from @source: 1 done, 0 it was not active. */
static int bounce_blocklist(struct sqlite_store *s, int64_t sub, const char *reason,
                            const char *source, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_BOUNCE_BLOCKLIST);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, sub);
	bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, now);
	int rc = exec_stmt(s, st, "blocklisting a subscriber");
	if (rc)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	struct bl_consent_ctx ctx = {.now = now, .source = source};
	struct bl_ctx_text t;
	bl_store_ctx_text(&ctx, &t);
	rc = add_event(s, sub, 0, BL_CONSENT_BLOCKLIST, now, &t);
	return rc ? rc : 1;
}

static int bounce_record(struct sqlite_store *s, const struct bl_bounce_event *ev,
                         const struct bl_bounce_policy *pol, int64_t now,
                         struct bl_bounce_outcome *out)
{
	char kind_name[16] = "", status[32] = "";
	int64_t sub = ev->subscriber_id, post = ev->post_id;
	const char *review = ev->review && *ev->review ? ev->review : NULL;
	int rc;
	sqlite3_stmt *st;
	/* The subscriber and the post named must (still) exist, else the finding is for review. */
	if (sub > 0) {
		if (!(st = stmt(s, ST_BOUNCE_SUB)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, sub);
		if ((rc = one_row(s, st, NULL, status, sizeof(status), "reading a subscriber")) < 0)
			return rc;
		if (rc == 0) {
			sub = 0;
			review = "the subscriber it names no longer exists (erased)";
		}
	} else {
		sub = 0;
	}
	if (post > 0) {
		if (!(st = stmt(s, ST_BOUNCE_POST_KIND)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, post);
		if ((rc = one_row(s, st, NULL, kind_name, sizeof(kind_name), "reading a post")) < 0)
			return rc;
		if (rc == 0)
			post = 0;
	} else {
		post = 0;
	}
	if (sub && !post) {
		sub = 0;
		review = "the post it names does not exist";
	}
	if (sub) {
		if (!(st = stmt(s, ST_BOUNCE_HAS_DELIVERY)))
			return -BL_ESTORE;
		sqlite3_bind_int64(st, 1, post);
		sqlite3_bind_int64(st, 2, sub);
		if ((rc = one_row(s, st, NULL, NULL, 0, "looking up a delivery")) < 0)
			return rc;
		if (rc == 0) {
			sub = 0;
			review = BL_BOUNCE_NO_DELIVERY;
		}
	}
	if (sub == 0 && !review)
		review = "not attributed to a delivery";
	if (sub != 0)
		review = NULL;
	char diag[BL_REPLY_MAX + 1];
	if (!(st = stmt(s, ST_BOUNCE_INSERT)))
		return -BL_ESTORE;
	bind_text(st, 1, ev->report_key);
	sqlite3_bind_int(st, 2, ev->idx);
	sqlite3_bind_int64(st, 3, now);
	bind_text(st, 4, bl_store_nz(ev->source));
	bind_text(st, 5, bl_store_nz(ev->kind));
	bind_text(st, 6, bl_bounce_class_name(ev->cls));
	bind_text(st, 7, bl_store_nz(ev->reason));
	bind_text(st, 8, bl_store_nz(ev->status));
	sqlite3_bind_int(st, 9, ev->reply_code);
	sqlite3_bind_int(st, 10, ev->final != 0);
	bind_text(st, 11, bl_store_nz(ev->recipient));
	bind_text(st, 12, bl_store_cut_reply(ev->diagnostic, diag));
	bind_text(st, 13, bl_store_nz(ev->feedback_type));
	sqlite3_bind_int64(st, 14, post);
	sqlite3_bind_int64(st, 15, sub);
	bind_text(st, 16, sub ? bl_store_nz(ev->attributed_by) : "");
	bind_text(st, 17, review ? review : "");
	if ((rc = exec_stmt(s, st, "recording a bounce")))
		return rc;
	int inserted = sqlite3_changes(s->db) > 0;
	int64_t id = sqlite3_last_insert_rowid(s->db);
	if (!inserted) {
		char action[32] = "";
		if (!(st = stmt(s, ST_BOUNCE_FIND)))
			return -BL_ESTORE;
		bind_text(st, 1, ev->report_key);
		sqlite3_bind_int(st, 2, ev->idx);
		if ((rc = one_row(s, st, &id, action, sizeof(action), "reading a bounce")) < 0)
			return rc;
		*out = (struct bl_bounce_outcome){
		    .duplicate = 1, .bounce_id = id, .action = bl_store_bounce_action(action)};
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
			if (!(st = stmt(s, ST_BOUNCE_DELIVERY)))
				return -BL_ESTORE;
			sqlite3_bind_int64(st, 1, post);
			sqlite3_bind_int64(st, 2, sub);
			bind_text(st, 3, complaint ? "complained" : "bounced");
			sqlite3_bind_int64(st, 4, now);
			if ((rc = exec_stmt(s, st, "marking a delivery")))
				return rc;
		}
		int active = strcmp(status, "active") == 0;
		int probe = strcmp(kind_name, "probe") == 0;
		char source[BL_SOURCE_MAX + 1];
		if (complaint) {
			snprintf(source, sizeof(source), "complaint:%s", bl_store_nz(ev->source));
			struct bl_consent_ctx ctx = {.now = now, .source = source};
			int64_t n = 0;
			if ((rc = change_set(s, ST_UNSUB_EVENTS, ST_UNSUB, sub, 0, &ctx, &n)))
				return rc;
			if ((rc = bounce_blocklist(s, sub, "complained", source, now)) < 0)
				return rc;
			if (rc == 1 || n > 0)
				out->action = "unsubscribed";
		} else if (active && ev->final &&
		           (ev->cls == BL_BOUNCE_HARD || ev->cls == BL_BOUNCE_SOFT)) {
			snprintf(source, sizeof(source), "bounce:%s", bl_store_nz(ev->source));
			int64_t n = 0;
			int disable = probe;
			if (!disable && ev->cls == BL_BOUNCE_HARD) {
				if ((rc = bounce_count(s, ST_BOUNCE_HARD, sub, 0, &n)))
					return rc;
				disable = n >= (pol->hard_limit > 0 ? pol->hard_limit : 1);
			}
			if (disable) {
				if ((rc = bounce_blocklist(s, sub, "bounced", source, now)) < 0)
					return rc;
				out->action = "disabled";
			} else if (ev->cls == BL_BOUNCE_SOFT) {
				int64_t since = now - pol->soft_window, probed = 0;
				out->action = "counted";
				if ((rc = bounce_count(s, ST_BOUNCE_SOFT, sub, since, &n)))
					return rc;
				if (n >= pol->soft_limit &&
				    (rc = bounce_count(s, ST_BOUNCE_PROBE_RECENT, sub, since,
				                       &probed)))
					return rc;
				if (n >= pol->soft_limit && !probed) {
					if ((rc = make_single_post(s, BL_POST_KIND_PROBE, sub, NULL,
					                           0, BL_PROBE_SUBJECT, now,
					                           &out->probe_post_id)))
						return rc;
					out->action = "probe";
				}
			} else {
				out->action = "counted";
			}
		}
	}
	if (!(st = stmt(s, ST_BOUNCE_ACTION)))
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, out->action);
	return exec_stmt(s, st, "recording a bounce's action");
}

static int sq_bounce_record(struct bl_store *base, const struct bl_bounce_event *ev,
                            const struct bl_bounce_policy *pol, int64_t now,
                            struct bl_bounce_outcome *out)
{
	struct sqlite_store *s = S(base);
	int rc = bl_store_check_bounce(base, ev, pol);
	if (rc)
		return rc;
	struct bl_bounce_outcome o = {0};
	if ((rc = tx_begin(s)))
		return rc;
	rc = tx_end(s, bounce_record(s, ev, pol, now, &o));
	if (rc == 0 && out)
		*out = o;
	return rc;
}

static int sq_bounce_each(struct bl_store *base, const struct bl_bounce_filter *f, bl_bounce_fn fn,
                          void *arg)
{
	struct sqlite_store *s = S(base);
	struct bl_buf sql;
	bl_buf_init(&sql, 4096);
	bl_buf_adds(&sql, "SELECT " BL_BOUNCE_COLS " FROM bounces");
	const char *sep = " WHERE ";
	if (f && f->post_id) {
		bl_buf_addf(&sql, "%spost_id = ?1", sep);
		sep = " AND ";
	}
	if (f && f->subscriber_id) {
		bl_buf_addf(&sql, "%ssubscriber_id = ?2", sep);
		sep = " AND ";
	}
	if (f && f->review_only) {
		bl_buf_addf(&sql, "%sreview <> ''", sep);
		sep = " AND ";
	}
	if (f && f->before_id > 0)
		bl_buf_addf(&sql, "%sid < ?3", sep);
	bl_buf_adds(&sql, " ORDER BY id DESC LIMIT ?4");
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, bl_buf_str(&sql), -1, &st, NULL);
	bl_buf_finish(&sql);
	if (rc != SQLITE_OK)
		return fail(s, rc, "listing bounces");
	if (f) {
		sqlite3_bind_int64(st, 1, f->post_id);
		sqlite3_bind_int64(st, 2, f->subscriber_id);
		sqlite3_bind_int64(st, 3, f->before_id);
	}
	sqlite3_bind_int64(st, 4, f && f->limit > 0 ? f->limit : -1);
	int out = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_bounce_row r = {
		    .id = sqlite3_column_int64(st, 0),
		    .received_at = sqlite3_column_int64(st, 1),
		    .source = col_text(st, 2),
		    .kind = col_text(st, 3),
		    .cls = BL_BOUNCE_UNKNOWN,
		    .reason = col_text(st, 5),
		    .status = col_text(st, 6),
		    .reply_code = sqlite3_column_int(st, 7),
		    .final = sqlite3_column_int(st, 8),
		    .recipient = col_text(st, 9),
		    .diagnostic = col_text(st, 10),
		    .feedback_type = col_text(st, 11),
		    .post_id = sqlite3_column_int64(st, 12),
		    .subscriber_id = sqlite3_column_int64(st, 13),
		    .attributed_by = col_text(st, 14),
		    .review = col_text(st, 15),
		    .action = col_text(st, 16),
		};
		bl_bounce_class_parse(col_text(st, 4), &r.cls);
		if ((out = fn(arg, &r)))
			break;
	}
	if (!out && rc != SQLITE_DONE)
		out = fail(s, rc, "listing bounces");
	sqlite3_finalize(st);
	return out;
}

static int sq_bounce_counts(struct bl_store *base, int64_t post_id, struct bl_bounce_counts *out)
{
	struct sqlite_store *s = S(base);
	struct bl_bounce_counts c = {.delivered = 0};
	/* One read transaction: the two statements see one snapshot. */
	int rc = s->in_tx ? 0 : exec_sql(s, "BEGIN", "reading bounce counts");
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_BOUNCE_COUNTS);
	if (!st)
		rc = -BL_ESTORE;
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, post_id);
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			enum bl_bounce_class k;
			if (bl_bounce_class_parse(col_text(st, 0), &k) == 0)
				c.n[k] = sqlite3_column_int64(st, 1);
		}
		sqlite3_reset(st);
		if (r != SQLITE_DONE)
			rc = fail(s, r, "counting bounces");
	}
	if (rc == 0 && !(st = stmt(s, ST_BOUNCE_DELIVERED)))
		rc = -BL_ESTORE;
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, post_id);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			c.delivered = sqlite3_column_int64(st, 0);
			c.sent = sqlite3_column_int64(st, 1);
		} else if (r != SQLITE_DONE)
			rc = fail(s, r, "counting deliveries");
		sqlite3_reset(st);
	}
	if (!s->in_tx)
		sqlite3_exec(s->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
	if (rc == 0)
		*out = c;
	return rc;
}

static int sq_delivery_latest(struct bl_store *base, int64_t subscriber_id, int64_t since,
                              int64_t *post_id)
{
	struct sqlite_store *s = S(base);
	sqlite3_stmt *st = stmt(s, ST_DELIVERY_LATEST);
	if (!st)
		return -BL_ESTORE;
	sqlite3_bind_int64(st, 1, subscriber_id);
	sqlite3_bind_int64(st, 2, since);
	int64_t v = 0;
	int rc = one_row(s, st, &v, NULL, 0, "finding a subscriber's latest delivery");
	if (rc == 1)
		*post_id = v;
	return rc;
}

const struct bl_store_ops bl_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .migrate = sq_migrate,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    .list_create = sq_list_create,
    .list_get = sq_list_get,
    .list_each = sq_list_each,
    .list_delete = sq_list_delete,
    .list_counts = sq_list_counts,
    .subscriber_get = sq_subscriber_get,
    .subscriber_each = sq_subscriber_each,
    .subscription_each = sq_subscription_each,
    .consent_each = sq_consent_each,
    .consent_add = sq_consent_add,
    .subscriber_erase = sq_subscriber_erase,
    .subscriber_max_id = sq_subscriber_max_id,
    .suppression_any = sq_suppression_any,
    .suppression_get = sq_suppression_get,
    .suppression_each = sq_suppression_each,
    .suppression_add = sq_suppression_add,
    .import_lookup = sq_import_lookup,
    .import_mark = sq_import_mark,
    .import_mark_reset = sq_import_mark_reset,
    .import_apply = sq_import_apply,
    .post_create = sq_post_create,
    .post_get = sq_post_get,
    .post_each = sq_post_each,
    .post_lists = sq_post_lists,
    .post_set_status = sq_post_set_status,
    .post_queue = sq_post_queue,
    .delivery_counts = sq_delivery_counts,
    .delivery_each = sq_delivery_each,
    .delivery_accepted_since = sq_delivery_accepted_since,
    .engine_lock = sq_engine_lock,
    .delivery_reclaim = sq_delivery_reclaim,
    .delivery_exchange = sq_delivery_exchange,
    .queue_next_due = sq_queue_next_due,
    .web_signup = sq_web_signup,
    .web_confirm = sq_web_confirm,
    .web_unsubscribe = sq_web_unsubscribe,
    .web_preferences = sq_web_preferences,
    .subscriber_get_id = sq_subscriber_get_id,
    .subscriber_deliveries_each = sq_subscriber_deliveries_each,
    .archive_each = sq_archive_each,
    .archive_get = sq_archive_get,
    .stats = sq_stats,
    .export_each = sq_export_each,
    .user_create = sq_user_create,
    .user_get = sq_user_get,
    .user_each = sq_user_each,
    .user_set_password = sq_user_set_password,
    .user_set_role = sq_user_set_role,
    .user_delete = sq_user_delete,
    .session_create = sq_session_create,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .token_create = sq_token_create,
    .token_get = sq_token_get,
    .token_each = sq_token_each,
    .token_delete = sq_token_delete,
    .audit_add = sq_audit_add,
    .audit_each = sq_audit_each,
    .list_update = sq_list_update,
    .counts = sq_counts,
    .growth = sq_growth,
    .subscriber_update = sq_subscriber_update,
    .post_page = sq_post_page,
    .post_update = sq_post_update,
    .post_schedule = sq_post_schedule,
    .schedule_run = sq_schedule_run,
    .delivery_retry = sq_delivery_retry,
    .delivery_accepted_hist = sq_delivery_accepted_hist,
    .job_create = sq_job_create,
    .job_get = sq_job_get,
    .job_each = sq_job_each,
    .job_claim = sq_job_claim,
    .job_progress = sq_job_progress,
    .job_finish = sq_job_finish,
    .feed_create = sq_feed_create,
    .feed_get = sq_feed_get,
    .feed_each = sq_feed_each,
    .feed_lists = sq_feed_lists,
    .feed_delete = sq_feed_delete,
    .feed_due = sq_feed_due,
    .feed_seen = sq_feed_seen,
    .feed_polled = sq_feed_polled,
    .feed_ingest = sq_feed_ingest,
    .digest_last = sq_digest_last,
    .digest_create = sq_digest_create,
    .digest_get = sq_digest_get,
    .digest_posts = sq_digest_posts,
    .bounce_record = sq_bounce_record,
    .bounce_each = sq_bounce_each,
    .bounce_counts = sq_bounce_counts,
    .delivery_latest = sq_delivery_latest,
};
