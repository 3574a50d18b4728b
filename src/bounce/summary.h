/*
 * What a publisher sees of bounces and complaints (issue 7): a post's
 * findings by class with its hard-bounce and complaint rates over the
 * messages the relay accepted, the warnings above the publisher's thresholds
 * (config bounce_warn_complaint_rate, bounce_warn_hard_rate: mailbox
 * providers start filtering a sender whose complaints pass about 0.1%), and
 * the one JSON shape of a post's bounce summary and of a stored finding
 * that `bulletin post status --json`, the API and the admin UI share. Rates
 * are compared exactly, in integers: a rate is "above" a threshold only when
 * it is strictly greater.
 */
#ifndef BL_BOUNCE_SUMMARY_H
#define BL_BOUNCE_SUMMARY_H

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/store.h"

/* The defaults of config bounce_warn_complaint_rate and bounce_warn_hard_rate, in parts per
 * million: 0.1% complaints, 2% hard bounces. */
#define BL_BOUNCE_WARN_COMPLAINT_PPM 1000
#define BL_BOUNCE_WARN_HARD_PPM      20000

/* Rates above which a post gets a warning, in parts per million (0..1000000). */
struct bl_bounce_thresholds {
	int64_t complaint_ppm;
	int64_t hard_ppm;
};

/* One warning about a post's rates. */
struct bl_bounce_warning {
	const char *kind; /* static: "complaint" or "hard" */
	int64_t count;    /* the findings of that class */
	char rate[24];    /* the rate as a percentage, "0.25%" (bl_bounce_pct) */
	char limit[24];   /* the threshold as a percentage, "0.1%" */
	char text[320];   /* one line for a person: what it means and what to do */
};

/* A post's bounce summary: counts, rates, warnings. */
struct bl_bounce_summary {
	struct bl_bounce_counts counts;  /* as bounce_counts returned them */
	struct bl_bounce_thresholds thr; /* the thresholds it was judged by */
	size_t n_warnings;               /* 0..2: complaint first, then hard */
	struct bl_bounce_warning warn[2];
};

/*
 * bl_bounce_thresholds_from_config - the thresholds from config @c (keys
 * bounce_warn_complaint_rate, bounce_warn_hard_rate); the defaults above for a NULL @c
 * (a server without configuration).
 */
void bl_bounce_thresholds_from_config(const struct bl_config *c, struct bl_bounce_thresholds *out);

/*
 * bl_bounce_rate_above - 1 when @n / @delivered is strictly above @ppm parts per million,
 * else 0 (also for @delivered <= 0: no rate). Exact (integer arithmetic) for counts up to
 * 2^63 / 10^6.
 */
int bl_bounce_rate_above(int64_t n, int64_t delivered, int64_t ppm);

/*
 * bl_bounce_pct - @n / @den as a percentage with a '%' ("0.25%") into @out (@size bytes,
 * at least 24): two decimals, more when needed so that the text compares with
 * threshold @ppm as the exact rate does (1001 of 1000000 is "0.1001%", not "0.10%", when
 * the threshold is 0.1%); "0%" for @den <= 0. Returns @out.
 */
char *bl_bounce_pct(int64_t n, int64_t den, int64_t ppm, char *out, size_t size);

/*
 * bl_bounce_summary_make - the summary of counts @c judged by @t: fills @out (counts,
 * thresholds, warnings with their text). Never fails.
 */
void bl_bounce_summary_make(const struct bl_bounce_counts *c, const struct bl_bounce_thresholds *t,
                            struct bl_bounce_summary *out);

/*
 * bl_bounce_summary_load - bl_bounce_summary_make of post @post_id's counts (store op
 * bounce_counts). 0, or a negative store error (bl_store_error says which; @out untouched).
 */
int bl_bounce_summary_load(struct bl_store *s, int64_t post_id,
                           const struct bl_bounce_thresholds *t, struct bl_bounce_summary *out);

/*
 * bl_json_bounce_summary - the "bounces" object of a post's status:
 * {"hard","soft","block","complaint","auto-reply","unknown" (findings, each subscriber
 *  counted once per class), "delivered" (messages the relay accepted),
 *  "hard_rate","complaint_rate" (fractions of delivered; null when nothing was delivered),
 *  "thresholds":{"hard_rate","complaint_rate"} (fractions),
 *  "warnings":[{"kind","count","rate","threshold","message"}] (rate, threshold: fractions;
 *  message: the text `post status` prints)}.
 * A new object the caller owns.
 */
json_t *bl_json_bounce_summary(const struct bl_bounce_summary *b);

/*
 * bl_json_bounce - one stored finding as `GET /api/v1/bounces` lists it:
 * {"id","received_at","source","kind","class","reason","status","reply_code"(null for 0),
 *  "final"(boolean),"recipient","diagnostic","feedback_type","post_id","subscriber_id"
 *  (null when not attributed or erased),"attributed_by","review","action"}.
 * Text from a report (recipient, diagnostic, ...) that is not UTF-8 has U+FFFD in place of
 * each bad byte. A new object the caller owns.
 */
json_t *bl_json_bounce(const struct bl_bounce_row *r);

#endif
