/*
 * Polling a mailbox for bounces (issue 7; config bounce_mailbox): IMAP(S)
 * (RFC 9051 / 3501) and POP3(S) (RFC 1939) through libcurl. Each message is
 * fetched and handed to a callback; only a message the callback says it
 * processed is removed (IMAP: moved to a folder when one is configured,
 * else flagged \Deleted and expunged; POP3: DELE), so a crash or a store
 * error never loses one. Credentials come in the URL
 * (imaps://user:password@host/INBOX) or from a file; they never appear in
 * messages or logs.
 */
#ifndef BL_BOUNCE_MAILBOX_H
#define BL_BOUNCE_MAILBOX_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct bl_mailbox_opts {
	const char *url;      /* imap://, imaps://, pop3://, pop3s:// with user[:password] and, for
	                         IMAP, the folder path ("INBOX" when none) */
	const char *password; /* overrides the URL's password when not NULL */
	const char *move_to;  /* IMAP: folder processed messages move to; NULL = delete.
	                         POP3 refuses one (-BL_EINVAL) */
	long timeout;         /* seconds per command (default 60) */
	size_t max_messages;  /* at most this many per poll; 0 = all */
	int insecure;         /* tests only: accept any TLS certificate (a throwaway one) */
	volatile sig_atomic_t *stop; /* when set (not NULL, *stop != 0): abandon the command in
	                                progress and end the poll with -BL_EIO; NULL = never */
};

/* What to do with one fetched message: 0 = processed (remove it), > 0 = keep it (not
 * processed: bad bytes or a store failure), < 0 = keep it and stop the poll with that error. */
typedef int (*bl_mailbox_fn)(void *arg, const char *msg, size_t len);

/* What one poll did. */
struct bl_mailbox_stats {
	size_t seen, processed, kept, removed;
};

/*
 * bl_mailbox_poll - fetch every message of the mailbox @o->url (at most max_messages), in
 * order, call @fn for each and remove the processed ones. Returns 0 with @st filled (when
 * not NULL); -BL_EINVAL for a URL of another scheme or without a user, or a POP3 URL with
 * a move_to (nothing is fetched: the messages would be deleted); -BL_EIO when the
 * server cannot be reached, refuses the login or a command (@d says which, without the
 * password); the callback's negative value when it stops the poll. Messages removed before
 * an error stay removed; the rest stay. Thread-safe (one poll per call).
 */
int bl_mailbox_poll(const struct bl_mailbox_opts *o, bl_mailbox_fn fn, void *arg,
                    struct bl_mailbox_stats *st, struct bl_diag *d);

/*
 * bl_mailbox_check - the checks bl_mailbox_poll makes of @o before it connects (scheme,
 * user, folder, no query, no move_to for POP3), without connecting. Returns 0 or
 * -BL_EINVAL (@d says why, without the password); -BL_EIO when libcurl cannot start.
 */
int bl_mailbox_check(const struct bl_mailbox_opts *o, struct bl_diag *d);

#endif
