/*
 * From a report to a changed subscriber (issue 7): attribute each finding
 * of an analysed report to the delivery it concerns, record it and apply
 * the publisher's policy through the store (store.h bounce_record). One
 * entry point per intake shape: a raw message (MTA pipe, maildir, IMAP,
 * POP3), a report a webhook already read (src/bounce/webhook.h), and the
 * delivery engine's synchronous 5xx reply at RCPT or DATA.
 *
 * Attribution, in order (DESIGN.md: VERP): the VERP token of the envelope
 * recipient bounces+TOKEN@bounce_domain (HMAC-checked, core/crypto.h
 * bl_verp_parse); else the token inside the returned original's
 * Message-ID (bulletin-TOKEN.HEX@domain, as src/send/compose.c makes it);
 * else, for a signed webhook event only (not Mailgun's: its signature does not cover the
 * event, src/bounce/webhook.h), the recipient address (its
 * subscriber's latest delivery in the soft window); else the review bucket
 * with the reason.
 */
#ifndef BL_BOUNCE_POLICY_H
#define BL_BOUNCE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "bounce/bounce.h"
#include "config/config.h"
#include "core/crypto.h"
#include "store/store.h"
#include "util/err.h"

/* What processing one report did, for the intake's output. */
struct bl_bounce_result {
	enum bl_report_kind kind;
	size_t findings;             /* findings in the report */
	size_t recorded;             /* newly recorded (not duplicates) */
	size_t duplicates;           /* seen before: nothing changed */
	size_t review;               /* recorded in the review bucket */
	size_t disabled;             /* subscribers blocklisted for bounces */
	size_t unsubscribed;         /* subscribers unsubscribed and blocklisted for complaints */
	size_t probes;               /* probe messages queued */
	int64_t probe_posts[8];      /* the posts of the first probes queued (kind probe) */
	size_t unsubscribe_requests; /* messages to the List-Unsubscribe mailto: handled */
};

/* Everything processing needs; borrowed for the calls. */
struct bl_bounce_ctx {
	struct bl_store *store;
	const struct bl_secret *secret; /* the VERP key */
	struct bl_bounce_policy policy;
	const char *source; /* intake name for the record: "pipe", "maildir", "imap", ... */
};

/*
 * bl_bounce_policy_from_config - the policy from config keys bounce_hard_limit,
 * bounce_soft_limit, bounce_soft_window. 0, or -BL_EINVAL with @d for a value out of range.
 */
int bl_bounce_policy_from_config(const struct bl_config *c, struct bl_bounce_policy *out,
                                 struct bl_diag *d);

/*
 * bl_bounce_attribute - fill post_id, subscriber_id, attributed_by and review of @ev for
 * finding @f of report @r (see the order above; @allow_recipient only for signed webhook
 * events). Strings written to @ev point into @r, @f or static storage. Returns 0, or a
 * negative store error.
 */
int bl_bounce_attribute(struct bl_bounce_ctx *ctx, const struct bl_bounce_report *r,
                        const struct bl_bounce_finding *f, int allow_recipient, int64_t now,
                        struct bl_bounce_event *ev);

/*
 * bl_bounce_process - analyse raw message @msg (@len bytes; @envelope_to as for
 * bl_bounce_analyze), attribute and record every finding at @now, adding to @res (callers
 * zero it; a batch adds up). A message to unsubscribe+TOKEN@... (the mailto: of the
 * List-Unsubscribe header, RFC 2369) with a valid token is an unsubscribe request instead:
 * the subscriber leaves the lists of that post (unsubscribe_requests counts it). A report with no
 * finding that is not an auto-reply or a non-report goes to the review bucket as one unattributed
 * unknown finding. Returns 0 when the message was handled (also duplicates, auto-replies and
 * non-reports: they may be removed from a mailbox); -BL_EINVAL / -BL_ELIMIT for bytes that are no
 * message (@d says why; the intake keeps them); a negative store error (the intake keeps the
 * message for a later try).
 */
int bl_bounce_process(struct bl_bounce_ctx *ctx, const char *msg, size_t len,
                      const char *envelope_to, int64_t now, struct bl_bounce_result *res,
                      struct bl_diag *d);

/*
 * bl_bounce_process_report - as bl_bounce_process for a report already analysed (a webhook
 * event, src/bounce/webhook.h); @allow_recipient as for bl_bounce_attribute.
 */
int bl_bounce_process_report(struct bl_bounce_ctx *ctx, const struct bl_bounce_report *r,
                             int allow_recipient, int64_t now, struct bl_bounce_result *res,
                             struct bl_diag *d);

/*
 * bl_bounce_smtp_reply - a synchronous 5xx reply @code / @reply (text, may hold an RFC 3463
 * code) the relay gave delivery @delivery_id (post @post_id, subscriber @subscriber_id,
 * address @rcpt or NULL) at its attempt @attempt: classified (bl_bounce_classify) and recorded with
 * source "smtp", kind "smtp", key from the delivery and attempt (so a retry of the same call is
 * recorded once). Returns 0 or a negative store error (@d).
 */
int bl_bounce_smtp_reply(struct bl_bounce_ctx *ctx, int64_t delivery_id, int attempt,
                         int64_t post_id, int64_t subscriber_id, const char *rcpt, int code,
                         const char *reply, int64_t now, struct bl_bounce_result *res,
                         struct bl_diag *d);

#endif
