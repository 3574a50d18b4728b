/*
 * The delivery engine: the loop that turns the ledger's pending rows into
 * relay acceptances (DESIGN.md §Delivery semantics). One turn = one store
 * transaction (delivery_exchange) recording the replies read since the last
 * turn and claiming as many rows as the transport has free connections;
 * then the claimed messages are composed and handed to the transport.
 * Because a connection only starts its next message after the turn that
 * recorded its previous reply has committed, a crash leaves at most
 * `concurrency` acceptances unrecorded: those rows are in doubt, and sent
 * again (same Message-ID) when the engine next starts.
 * Used by `bulletin send`, `bulletin post send --wait` and, later, `serve`.
 */
#ifndef BL_SEND_ENGINE_H
#define BL_SEND_ENGINE_H

#include <signal.h>
#include <stdint.h>

#include "config/config.h"
#include "store/store.h"
#include "util/err.h"

/* A synchronous permanent refusal: the relay answered 5xx at RCPT or after DATA (DESIGN.md
 * §Delivery semantics 7: "5xx at RCPT/DATA: that row failed + hard-bounce handling"). */
struct bl_rejection {
	int64_t delivery_id, post_id, subscriber_id;
	int attempt;       /* the row's claim count when it was refused */
	int code;          /* the reply code, 500-599 */
	const char *reply; /* the relay's reply text, borrowed for the call */
	const char *rcpt;  /* the recipient address refused, borrowed for the call */
};

struct bl_engine_opts {
	struct bl_store *store;
	const struct bl_config *config;
	int once;          /* return when nothing is claimable now and nothing is in flight */
	int64_t wait_post; /* > 0: return when this post is sent or cancelled, or paused by a
	                      person (a relay fault's pause is waited out) */
	int progress;      /* draw a progress line on stderr (a terminal) */
	volatile sig_atomic_t *stop; /* set by a signal handler: stop claiming, finish the
	                                messages in flight, return */
	/* called for each rejection after the turn that recorded the row as failed has
	   committed (bounce policy, src/bounce/policy.h bl_bounce_smtp_reply); NULL = none */
	void (*rejected)(void *arg, const struct bl_rejection *r);
	void *rejected_arg;
	/* asked of each 5xx reply at RCPT or after DATA before the row is recorded: 1 when it
	   refuses our own sending account, not the recipient (a sending quota, a suspended
	   account: src/bounce/bounce.h bl_bounce_account_refusal). Such a row is retried like
	   a 4xx (deferred; failed after relay_retry_max_age); when 3 distinct recipients of a
	   post are refused so with no acceptance between them, the row goes back to pending
	   and the post pauses until a person resumes it (the relay answers, so the engine
	   cannot tell when the account may send again). No subscriber is failed early or
	   bounced, and one recipient's server cannot pause a post. NULL = such replies fail
	   their rows */
	int (*account_refusal)(const char *reply);
	int digests; /* make the digests that are due (send/digest.h bl_digest_tick) at start
	                and every 10 s: the long-running engines of `serve` and `send` */
};

struct bl_engine_stats {
	int64_t accepted, deferred, failed, released, reclaimed;
	int64_t posts_finished;
	double seconds;
};

/*
 * bl_engine_run - run the engine until the condition of @o. Returns 0; or
 * -BL_EBUSY when another engine holds the SQLite database, -BL_EINVAL for a
 * bad relay or sender configuration, a store error as -BL_ESTORE; @d says
 * why. @st (may be NULL) gets the session's counts.
 */
int bl_engine_run(const struct bl_engine_opts *o, struct bl_engine_stats *st, struct bl_diag *d);

/*
 * bl_engine_wait_over - 1 when a wait for post @p is over: sent, cancelled,
 * back to draft, or paused by a person (a pause a relay fault caused is
 * waited out); else 0.
 */
int bl_engine_wait_over(const struct bl_post *p);

/*
 * bl_compose_opts_from_config - fill @out from @c (`from`, `public_url`,
 * `bounce_domain`, `list_id_domain`, `postal_address`, `smtputf8`) and
 * @secret; strings borrowed from @c.
 */
struct bl_compose_opts;
struct bl_secret;
void bl_compose_opts_from_config(const struct bl_config *c, const struct bl_secret *secret,
                                 struct bl_compose_opts *out);

/*
 * bl_load_secret - read the installation's secret key from the store into
 * @out. Returns 0; -BL_ESCHEMA when there is none (run `bulletin init`).
 */
int bl_load_secret(struct bl_store *s, struct bl_secret *out, struct bl_diag *d);

#endif
