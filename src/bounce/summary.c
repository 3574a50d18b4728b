/*
 * A post's bounce and complaint rates, the warnings above the thresholds, and
 * their JSON (summary.h). Rates are compared in integers (parts per million
 * against counts), so "0.1%" is not above 0.1% and 0.1001% is.
 */
#include "bounce/summary.h"

#include "core/json.h"

#include <stdio.h>
#include <string.h>

void bl_bounce_thresholds_from_config(const struct bl_config *c, struct bl_bounce_thresholds *out)
{
	out->complaint_ppm =
	    c ? bl_config_int(c, "bounce_warn_complaint_rate") : BL_BOUNCE_WARN_COMPLAINT_PPM;
	out->hard_ppm = c ? bl_config_int(c, "bounce_warn_hard_rate") : BL_BOUNCE_WARN_HARD_PPM;
}

int bl_bounce_rate_above(int64_t n, int64_t delivered, int64_t ppm)
{
	if (delivered <= 0 || n <= 0)
		return 0;
	/* n / delivered > ppm / 10^6  <=>  n * 10^6 > ppm * delivered */
	if (n > INT64_MAX / 1000000 || (ppm > 0 && delivered > INT64_MAX / ppm))
		return (double)n * 1e6 > (double)ppm * (double)delivered;
	return n * 1000000 > ppm * delivered;
}

char *bl_bounce_pct(int64_t n, int64_t den, int64_t ppm, char *out, size_t size)
{
	if (den <= 0 || n <= 0) {
		snprintf(out, size, "0%%");
		return out;
	}
	int above = bl_bounce_rate_above(n, den, ppm);
	int64_t pow10 = 100; /* 10^d */
	for (int d = 2;; d++, pow10 *= 10) {
		/* the percentage rounded to d decimals, in units of 10^-d percent */
		double shown = (double)n * 100.0 * (double)pow10 / (double)den;
		int64_t units = (int64_t)(shown + 0.5);
		/* units / 10^d % > ppm / 10^4 %  <=>  units * 10^4 > ppm * 10^d */
		int shown_above = (double)units * 1e4 > (double)ppm * (double)pow10;
		if (shown_above == above || d == 6) {
			snprintf(out, size, "%.*f%%", d, (double)units / (double)pow10);
			return out;
		}
	}
}

/* A threshold in parts per million as a percentage: 1000 -> "0.1%", 20000 -> "2%". */
/* Fills warning @w of @kind: @n findings of @delivered over threshold @ppm; its text is
 * "@what RATE is above LIMIT: @advice". */
static void warn(struct bl_bounce_warning *w, const char *kind, int64_t n, int64_t delivered,
                 int64_t ppm, const char *what, const char *advice);

static void limit_text(int64_t ppm, char *out, size_t size)
{
	snprintf(out, size, "%.4f", (double)ppm / 1e4);
	char *e = out + strlen(out);
	while (e > out && e[-1] == '0')
		*--e = '\0';
	if (e > out && e[-1] == '.')
		*--e = '\0';
	snprintf(e, size - (size_t)(e - out), "%%");
}

void bl_bounce_summary_make(const struct bl_bounce_counts *c, const struct bl_bounce_thresholds *t,
                            struct bl_bounce_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->counts = *c;
	out->thr = *t;
	int64_t complaints = c->n[BL_BOUNCE_COMPLAINT], hard = c->n[BL_BOUNCE_HARD];
	if (bl_bounce_rate_above(complaints, c->delivered, t->complaint_ppm))
		warn(&out->warn[out->n_warnings++], "complaint", complaints, c->delivered,
		     t->complaint_ppm, "complaint rate",
		     "mailbox providers may start filtering this sender as spam; check how these "
		     "addresses were collected (only confirmed opt-in) and that each message "
		     "says why the reader gets it");
	if (bl_bounce_rate_above(hard, c->sent, t->hard_ppm))
		warn(&out->warn[out->n_warnings++], "hard", hard, c->sent, t->hard_ppm,
		     "hard-bounce rate",
		     "many of these addresses do not exist, which mailbox providers read as a "
		     "badly kept list; check where they came from (an old or bought list, an "
		     "import) before the next send");
}

static void warn(struct bl_bounce_warning *w, const char *kind, int64_t n, int64_t delivered,
                 int64_t ppm, const char *what, const char *advice)
{
	char rate[sizeof(w->rate)], limit[sizeof(w->limit)];
	bl_bounce_pct(n, delivered, ppm, rate, sizeof(rate));
	limit_text(ppm, limit, sizeof(limit));
	w->kind = kind;
	w->count = n;
	memcpy(w->rate, rate, sizeof(rate));
	memcpy(w->limit, limit, sizeof(limit));
	snprintf(w->text, sizeof(w->text), "%s %s is above %s: %s", what, rate, limit, advice);
}

int bl_bounce_summary_load(struct bl_store *s, int64_t post_id,
                           const struct bl_bounce_thresholds *t, struct bl_bounce_summary *out)
{
	struct bl_bounce_counts c;
	int rc = s->ops->bounce_counts(s, post_id, &c);
	if (rc < 0)
		return rc;
	bl_bounce_summary_make(&c, t, out);
	return 0;
}

static json_t *fraction(int64_t n, int64_t den)
{
	return den > 0 ? json_real((double)n / (double)den) : json_null();
}

json_t *bl_json_bounce_summary(const struct bl_bounce_summary *b)
{
	const struct bl_bounce_counts *c = &b->counts;
	json_t *o = json_object();
	for (int i = 0; i < BL_BOUNCE_NCLASSES; i++)
		json_object_set_new(o, bl_bounce_class_name((enum bl_bounce_class)i),
		                    json_integer(c->n[i]));
	json_object_set_new(o, "delivered", json_integer(c->delivered));
	json_object_set_new(o, "sent", json_integer(c->sent));
	json_object_set_new(o, "hard_rate", fraction(c->n[BL_BOUNCE_HARD], c->sent));
	json_object_set_new(o, "complaint_rate", fraction(c->n[BL_BOUNCE_COMPLAINT], c->delivered));
	json_t *thr = json_object();
	json_object_set_new(thr, "hard_rate", json_real((double)b->thr.hard_ppm / 1e6));
	json_object_set_new(thr, "complaint_rate", json_real((double)b->thr.complaint_ppm / 1e6));
	json_object_set_new(o, "thresholds", thr);
	json_t *warnings = json_array();
	for (size_t i = 0; i < b->n_warnings; i++) {
		const struct bl_bounce_warning *w = &b->warn[i];
		int64_t ppm = strcmp(w->kind, "hard") == 0 ? b->thr.hard_ppm : b->thr.complaint_ppm;
		json_t *j = json_object();
		json_object_set_new(j, "kind", json_string(w->kind));
		json_object_set_new(j, "count", json_integer(w->count));
		json_object_set_new(
		    j, "rate",
		    fraction(w->count, strcmp(w->kind, "hard") == 0 ? c->sent : c->delivered));
		json_object_set_new(j, "threshold", json_real((double)ppm / 1e6));
		json_object_set_new(j, "message", json_string(w->text));
		json_array_append_new(warnings, j);
	}
	json_object_set_new(o, "warnings", warnings);
	return o;
}

static json_t *id_or_null(int64_t id)
{
	return id > 0 ? json_integer(id) : json_null();
}

json_t *bl_json_bounce(const struct bl_bounce_row *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(r->id));
	json_object_set_new(o, "received_at", bl_json_time(r->received_at));
	json_object_set_new(o, "source", bl_json_text(r->source));
	json_object_set_new(o, "kind", bl_json_text(r->kind));
	json_object_set_new(o, "class", json_string(bl_bounce_class_name(r->cls)));
	json_object_set_new(o, "reason", bl_json_text(r->reason));
	json_object_set_new(o, "status", bl_json_text(r->status));
	json_object_set_new(o, "reply_code",
	                    r->reply_code ? json_integer(r->reply_code) : json_null());
	json_object_set_new(o, "final", json_boolean(r->final));
	json_object_set_new(o, "recipient", bl_json_text(r->recipient));
	json_object_set_new(o, "diagnostic", bl_json_text(r->diagnostic));
	json_object_set_new(o, "feedback_type", bl_json_text(r->feedback_type));
	json_object_set_new(o, "post_id", id_or_null(r->post_id));
	json_object_set_new(o, "subscriber_id", id_or_null(r->subscriber_id));
	json_object_set_new(o, "attributed_by", bl_json_text(r->attributed_by));
	json_object_set_new(o, "review", bl_json_text(r->review));
	json_object_set_new(o, "action", bl_json_text(r->action));
	return o;
}
