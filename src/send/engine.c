/*
 * The delivery engine; see engine.h. Single-threaded: the store, the
 * composers and the transport are used from this loop only. Invariants:
 *  - every claimed row is either handed to the transport in the same turn
 *    or released (result PENDING) in the next exchange;
 *  - every result read from the transport is recorded in the next
 *    exchange, before that connection is given a new message (the
 *    transport's free slots only reappear through this loop);
 *  - a post is never marked sent here: the store does it when no row is
 *    left that is not terminal.
 */
#include "send/engine.h"

#include "core/address.h"
#include "core/crypto.h"
#include "send/compose.h"
#include "send/digest.h"
#include "send/scheduler.h"
#include "send/transport.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLAIM_MAX    64 /* rows per exchange at most */
#define DIGEST_EVERY 10 /* seconds between looks for a digest due (opts.digests) */

/* A claimed row on its way through the transport. */
struct flight {
	int64_t delivery_id, post_id, subscriber_id;
	char *rcpt; /* the recipient, for a rejection */
	int attempts;
	int64_t first_try_at;
};

/* A result waiting for the next exchange, with its own copies of the strings. */
struct pending_result {
	struct bl_delivery_result r;
	char reply[BL_REPLY_MAX + 1];
	char queue_id[64];
	const char *relay;
	struct bl_rejection rejection; /* code != 0: a 5xx at RCPT or DATA, for o->rejected */
	char rcpt[BL_ADDRESS_MAX + 1]; /* its recipient */
};

struct post_slot {
	int64_t post_id;
	struct bl_composer *composer; /* NULL when the post cannot be composed */
	struct bl_list *lists;
	size_t n_lists;
};

/* Distinct recipients of one post refused for our sending account with no acceptance in
 * between before the post pauses: one recipient's server cannot pause a post by saying
 * such words about itself (its row is retried like a 4xx instead). */
#define ACCOUNT_REFUSALS 3

/* The account refusals of one post since its last acceptance. */
struct refusal_run {
	int64_t post_id; /* 0: a free entry */
	int64_t subscribers[ACCOUNT_REFUSALS];
	int n;
};

struct engine {
	const struct bl_engine_opts *o;
	struct bl_store *s;
	struct bl_transport *t;
	struct bl_secret secret;
	struct bl_compose_opts copts;
	char worker[128];
	int64_t retry_min, retry_max, retry_max_age, lease;
	struct pending_result *results;
	size_t n_results, cap_results;
	struct bl_delivery_result *rs; /* results as the store takes them */
	size_t cap_rs;
	struct post_slot *posts;
	size_t n_posts;
	struct bl_claimed claimed[CLAIM_MAX];
	struct bl_buf msg;
	struct bl_engine_stats st;
	char probe_from[BL_MAIL_FROM_MAX];
	char last_conn_error[400]; /* the last connection-level failure, for people */
	int64_t next_probe;        /* engine-side probe time for auto-paused posts (0: none) */
	int64_t probe_delay;       /* seconds, doubles up to relay_retry_max */
	int relay_down;            /* every relay was backing off at the last look */
	double last_progress;
	int progress_drawn;
	struct refusal_run runs[8]; /* account refusals by post, oldest replaced */
	size_t next_run;
	struct bl_delivery_counts wait_base; /* counts of wait_post when we started */
	int64_t wait_total;
	struct bl_diag *d;
};

int bl_load_secret(struct bl_store *s, struct bl_secret *out, struct bl_diag *d)
{
	char *hex = NULL;
	int rc = s->ops->setting_get(s, "secret_key", &hex);
	if (rc < 0) {
		bl_diag_set(d, BL_ESTORE, "%s", bl_store_error(s));
		return rc;
	}
	if (rc == 0 || bl_secret_load(hex, out) != 0) {
		free(hex);
		return bl_diag_set(d, BL_ESCHEMA,
		                   "the database has no valid secret key; run `bulletin init`");
	}
	free(hex);
	return 0;
}

void bl_compose_opts_from_config(const struct bl_config *c, const struct bl_secret *secret,
                                 struct bl_compose_opts *out)
{
	memset(out, 0, sizeof(*out));
	out->from = bl_config_str(c, "from");
	out->public_url = bl_config_str(c, "public_url");
	out->bounce_domain = bl_config_str(c, "bounce_domain");
	out->list_id_domain = bl_config_str(c, "list_id_domain");
	out->postal_address = bl_config_str(c, "postal_address");
	out->site_name = bl_config_str(c, "site_name");
	out->confirm_ttl = bl_config_int(c, "confirm_ttl");
	out->secret = secret;
	out->address_flags = bl_config_bool(c, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0;
}

static int store_fail(struct engine *e, int rc)
{
	return bl_diag_set(e->d, rc == -BL_EBUSY ? BL_EBUSY : BL_ESTORE, "%s",
	                   bl_store_error(e->s));
}

static struct pending_result *add_result(struct engine *e, int64_t id, enum bl_delivery_state st)
{
	if (e->n_results == e->cap_results) {
		e->cap_results = e->cap_results ? 2 * e->cap_results : 64;
		e->results = bl_xreallocarray(e->results, e->cap_results, sizeof(*e->results));
	}
	struct pending_result *p = &e->results[e->n_results++];
	memset(p, 0, sizeof(*p));
	p->r.delivery_id = id;
	p->r.state = st;
	return p;
}

static int collect_lists(void *arg, const struct bl_list *l)
{
	struct post_slot *ps = arg;
	ps->lists = bl_xreallocarray(ps->lists, ps->n_lists + 1, sizeof(*ps->lists));
	bl_list_copy(&ps->lists[ps->n_lists++], l);
	return 0;
}

static void post_slot_clear(struct post_slot *ps)
{
	bl_composer_destroy(ps->composer);
	for (size_t i = 0; i < ps->n_lists; i++)
		bl_list_clear(&ps->lists[i]);
	free(ps->lists);
	memset(ps, 0, sizeof(*ps));
}

/* Pause post @id because of @why; @auto_paused: the engine resumes it itself. */
static void pause_post(struct engine *e, int64_t id, const char *why, int auto_paused)
{
	int rc = e->s->ops->post_set_status(e->s, id, 1u << BL_POST_SENDING, BL_POST_PAUSED, why,
	                                    auto_paused, bl_now());
	if (rc == 1)
		bl_warn("post %lld paused: %s%s", (long long)id, why,
		        auto_paused ? " (it resumes by itself when the relay answers again)" : "");
	else if (rc < 0)
		bl_error("post %lld: could not pause: %s", (long long)id, bl_store_error(e->s));
}

/* The composer of post @post_id, made on first use; NULL when it cannot be made. */
static struct bl_composer *composer_for(struct engine *e, int64_t post_id)
{
	for (size_t i = 0; i < e->n_posts; i++)
		if (e->posts[i].post_id == post_id)
			return e->posts[i].composer;
	e->posts = bl_xreallocarray(e->posts, e->n_posts + 1, sizeof(*e->posts));
	struct post_slot *ps = &e->posts[e->n_posts++];
	struct bl_post p = {0};
	struct bl_diag d;
	memset(ps, 0, sizeof(*ps));
	ps->post_id = post_id;
	if (e->s->ops->post_get(e->s, post_id, &p) != 1 ||
	    e->s->ops->post_lists(e->s, post_id, collect_lists, ps) != 0) {
		bl_error("post %lld: %s", (long long)post_id, bl_store_error(e->s));
		bl_post_clear(&p);
		return NULL;
	}
	if (bl_composer_create(&e->copts, &p, ps->lists, ps->n_lists, &ps->composer, &d) != 0) {
		char why[BL_DIAG_MAX + 32];
		snprintf(why, sizeof(why), "cannot compose: %s", d.msg);
		pause_post(e, post_id, why, 0);
		ps->composer = NULL;
	}
	bl_post_clear(&p);
	return ps->composer;
}

static void forget_composers(struct engine *e)
{
	for (size_t i = 0; i < e->n_posts; i++)
		post_slot_clear(&e->posts[i]);
	e->n_posts = 0;
}

static int64_t backoff(const struct engine *e, int attempts)
{
	int64_t b = e->retry_min;
	for (int i = 1; i < attempts && b < e->retry_max; i++)
		b *= 2;
	return b < e->retry_max ? b : e->retry_max;
}

/* The refusal run of post @post_id; a new one (replacing the oldest) when @make. */
static struct refusal_run *refusal_run(struct engine *e, int64_t post_id, int make)
{
	for (size_t i = 0; i < sizeof(e->runs) / sizeof(e->runs[0]); i++)
		if (e->runs[i].post_id == post_id)
			return &e->runs[i];
	if (!make)
		return NULL;
	struct refusal_run *run = &e->runs[e->next_run];
	e->next_run = (e->next_run + 1) % (sizeof(e->runs) / sizeof(e->runs[0]));
	memset(run, 0, sizeof(*run));
	run->post_id = post_id;
	return run;
}

/* A refusal of our sending account for @f's subscriber: 1 when it is the
 * ACCOUNT_REFUSALS-th distinct recipient of the post in a row (the post pauses). */
static int account_refused(struct engine *e, const struct flight *f)
{
	struct refusal_run *run = refusal_run(e, f->post_id, 1);
	for (int i = 0; i < run->n; i++)
		if (run->subscribers[i] == f->subscriber_id)
			return 0;
	run->subscribers[run->n++] = f->subscriber_id;
	if (run->n < ACCOUNT_REFUSALS)
		return 0;
	run->n = 0;
	return 1;
}

static void on_result(void *arg, const struct bl_send_result *r)
{
	struct engine *e = arg;
	struct flight *f = r->tag;
	int64_t now = bl_now();
	enum bl_delivery_state st;
	struct pending_result *p;

	switch (r->outcome) {
	case BL_SEND_ACCEPTED: {
		struct refusal_run *run = refusal_run(e, f->post_id, 0);
		if (run)
			run->n = 0;
		st = BL_DELIVERY_ACCEPTED;
		e->st.accepted++;
		break;
	}
	case BL_SEND_DEFERRED:
		if (now - f->first_try_at >= e->retry_max_age) {
			st = BL_DELIVERY_FAILED;
			e->st.failed++;
		} else {
			st = BL_DELIVERY_DEFERRED;
			e->st.deferred++;
		}
		break;
	case BL_SEND_FAILED:
		if (r->code >= 500 && r->code <= 599 && e->o->account_refusal &&
		    (r->stage == BL_STAGE_RCPT || r->stage == BL_STAGE_DATA ||
		     r->stage == BL_STAGE_DATA_END) &&
		    e->o->account_refusal(r->reply)) {
			if (!account_refused(e, f)) { /* perhaps that recipient's server: retry */
				int late = now - f->first_try_at >= e->retry_max_age;
				st = late ? BL_DELIVERY_FAILED : BL_DELIVERY_DEFERRED;
				if (late)
					e->st.failed++;
				else
					e->st.deferred++;
				break;
			}
			char why[1024];
			snprintf(why, sizeof(why),
			         "the relay %s refused our sending account at %s: %s; resume the "
			         "post when the account may send again",
			         r->relay, r->stage == BL_STAGE_RCPT ? "RCPT" : "DATA", r->reply);
			pause_post(e, f->post_id, why, 0);
			st = BL_DELIVERY_PENDING;
			e->st.released++;
			break;
		}
		st = BL_DELIVERY_FAILED;
		e->st.failed++;
		break;
	case BL_SEND_SYSTEMIC: {
		char why[1024];
		/* The reply text starts with its code when the relay sent one. */
		snprintf(why, sizeof(why), "the relay %s refused at %s: %s", r->relay,
		         r->stage == BL_STAGE_AUTH   ? "AUTH"
		         : r->stage == BL_STAGE_MAIL ? "MAIL FROM"
		                                     : "EHLO",
		         r->reply);
		pause_post(e, f->post_id, why, 1);
		if (!e->next_probe) {
			e->probe_delay = bl_config_int(e->o->config, "relay_retry_min");
			e->next_probe = now + e->probe_delay;
		}
		st = BL_DELIVERY_PENDING;
		e->st.released++;
		break;
	}
	case BL_SEND_CONNECTION:
	default:
		snprintf(e->last_conn_error, sizeof(e->last_conn_error), "%s: %.300s", r->relay,
		         r->reply);
		st = BL_DELIVERY_PENDING;
		e->st.released++;
		break;
	}
	p = add_result(e, f->delivery_id, st);
	p->r.code = r->code;
	if (st == BL_DELIVERY_FAILED && r->outcome == BL_SEND_DEFERRED)
		snprintf(p->reply, sizeof(p->reply), "gave up after %d attempts: %s", f->attempts,
		         r->reply);
	else
		snprintf(p->reply, sizeof(p->reply), "%s", r->reply);
	snprintf(p->queue_id, sizeof(p->queue_id), "%s", r->queue_id);
	p->relay = r->relay;
	if (st == BL_DELIVERY_DEFERRED)
		p->r.next_try = now + backoff(e, f->attempts);
	if (r->outcome == BL_SEND_FAILED && st == BL_DELIVERY_FAILED && r->code >= 500 &&
	    r->code <= 599 &&
	    (r->stage == BL_STAGE_RCPT || r->stage == BL_STAGE_DATA ||
	     r->stage == BL_STAGE_DATA_END))
		p->rejection = (struct bl_rejection){.delivery_id = f->delivery_id,
		                                     .post_id = f->post_id,
		                                     .subscriber_id = f->subscriber_id,
		                                     .attempt = f->attempts,
		                                     .code = r->code};
	if (p->rejection.code)
		snprintf(p->rcpt, sizeof(p->rcpt), "%s", f->rcpt);
	free(f->rcpt);
	free(f);
}

/* A UTF-8 local part needs SMTPUTF8 (RFC 6531); domains are A-labels already. */
static int has_non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* Hand claimed row @c to the transport, or queue a result saying why not. */
static void dispatch(struct engine *e, const struct bl_claimed *c, int64_t now)
{
	struct bl_composer *comp = composer_for(e, c->post_id);
	char mail_from[BL_MAIL_FROM_MAX];
	struct bl_diag d;
	int rc;

	if (!comp) { /* the post is paused; give the row back */
		add_result(e, c->delivery_id, BL_DELIVERY_PENDING);
		e->st.released++;
		return;
	}
	bl_buf_reset(&e->msg);
	rc = bl_compose(comp, c, now, &e->msg, mail_from, &d);
	if (rc == -BL_ENOENT) { /* a digest with nothing left for this subscriber */
		struct pending_result *p = add_result(e, c->delivery_id, BL_DELIVERY_SUPPRESSED);
		snprintf(p->reply, sizeof(p->reply), "%.400s", d.msg);
		return;
	}
	if (rc) {
		struct pending_result *p = add_result(e, c->delivery_id, BL_DELIVERY_FAILED);
		snprintf(p->reply, sizeof(p->reply), "cannot compose: %.400s", d.msg);
		e->st.failed++;
		return;
	}
	struct flight *f = bl_xcalloc(1, sizeof(*f));
	f->delivery_id = c->delivery_id;
	f->post_id = c->post_id;
	f->subscriber_id = c->subscriber_id;
	f->rcpt = bl_xstrdup(c->email);
	f->attempts = c->attempts;
	f->first_try_at = c->first_try_at ? c->first_try_at : now;
	size_t len = e->msg.len;
	struct bl_transport_msg m = {
	    .mail_from = mail_from,
	    .rcpt = c->email,
	    .data = bl_buf_take(&e->msg),
	    .len = len,
	    .smtputf8 = has_non_ascii(c->email),
	    .tag = f,
	};
	snprintf(e->probe_from, sizeof(e->probe_from), "%s", mail_from);
	int src = bl_transport_submit(e->t, &m);
	if (src == -BL_EBUSY) { /* no slot after all: give the row back */
		free(m.data);
		free(f->rcpt);
		free(f);
		add_result(e, c->delivery_id, BL_DELIVERY_PENDING);
		e->st.released++;
	} else if (src != 0) { /* the transport refuses this message for good */
		struct pending_result *p = add_result(e, c->delivery_id, BL_DELIVERY_FAILED);
		snprintf(p->reply, sizeof(p->reply), "refused by the transport: %s",
		         bl_strerror(src));
		bl_warn("post %lld: delivery %lld: the transport refused the message (%s)",
		        (long long)c->post_id, (long long)c->delivery_id, bl_strerror(src));
		free(m.data);
		free(f->rcpt);
		free(f);
		e->st.failed++;
	}
}

/* Resume the posts the engine paused itself, once a relay answers again. */
static int resume_auto_paused(void *arg, const struct bl_post *p)
{
	struct engine *e = arg;
	if (p->status == BL_POST_PAUSED && p->auto_paused &&
	    e->s->ops->post_set_status(e->s, p->id, 1u << BL_POST_PAUSED, BL_POST_SENDING, "", 0,
	                               bl_now()) == 1)
		bl_info("post %lld resumed: the relay answers again", (long long)p->id);
	return 0;
}

static int pause_sending(void *arg, const struct bl_post *p)
{
	struct engine *e = arg;
	if (p->status == BL_POST_SENDING) {
		char why[512];
		snprintf(why, sizeof(why), "every relay is unreachable (last: %s)",
		         e->last_conn_error[0] ? e->last_conn_error : "no answer");
		pause_post(e, p->id, why, 1);
	}
	return 0;
}

static int any_auto_paused_fn(void *arg, const struct bl_post *p)
{
	(void)arg;
	return p->status == BL_POST_PAUSED && p->auto_paused ? 1 : 0;
}

static void progress(struct engine *e, int force)
{
	double t = bl_monotonic();
	if (!e->o->progress || (!force && t - e->last_progress < 0.25))
		return;
	e->last_progress = t;
	double rate = e->st.seconds > 0.5 ? (double)e->st.accepted / e->st.seconds : 0;
	if (e->o->wait_post > 0 && e->wait_total > 0) {
		int64_t done = e->wait_base.n[BL_DELIVERY_ACCEPTED] + e->st.accepted;
		int64_t total = e->wait_total;
		int width = 30, fill = (int)(done * width / (total ? total : 1));
		char bar[64];
		if (fill > width)
			fill = width;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(width - fill));
		bar[width] = 0;
		double eta = rate > 0 ? (double)(total - done) / rate : 0;
		fprintf(stderr,
		        "\r[%s] %lld/%lld accepted  %.0f msgs/s  ETA %.0fs  deferred %lld  "
		        "failed %lld ",
		        bar, (long long)done, (long long)total, rate, eta,
		        (long long)e->st.deferred,
		        (long long)(e->wait_base.n[BL_DELIVERY_FAILED] + e->st.failed));
	} else {
		fprintf(stderr, "\raccepted %lld  %.0f msgs/s  deferred %lld  failed %lld ",
		        (long long)e->st.accepted, rate, (long long)e->st.deferred,
		        (long long)e->st.failed);
	}
	e->progress_drawn = 1;
}

int bl_engine_wait_over(const struct bl_post *p)
{
	return p->status == BL_POST_SENT || p->status == BL_POST_CANCELLED ||
	       p->status == BL_POST_DRAFT || (p->status == BL_POST_PAUSED && !p->auto_paused);
}

/* For wait_post: 1 when the wait is over, or the post is gone. */
static int wait_done(struct engine *e)
{
	struct bl_post p = {0};
	int rc = e->s->ops->post_get(e->s, e->o->wait_post, &p);
	int done = rc != 1 || bl_engine_wait_over(&p);
	bl_post_clear(&p);
	return done;
}

int bl_engine_run(const struct bl_engine_opts *o, struct bl_engine_stats *stp, struct bl_diag *d)
{
	struct engine e;
	struct bl_transport_opts to = {0};
	const struct bl_config *c = o->config;
	char host[64] = "localhost";
	const char *tls = bl_config_str(c, "relay_starttls");
	int rc;
	double t0 = bl_monotonic(), last_check = 0;

	memset(&e, 0, sizeof(e));
	e.o = o;
	e.s = o->store;
	e.d = d;
	bl_buf_init(&e.msg, BL_MESSAGE_MAX);
	gethostname(host, sizeof(host) - 1);
	snprintf(e.worker, sizeof(e.worker), "%s:%ld", host, (long)getpid());
	e.retry_min = bl_config_int(c, "retry_min");
	e.retry_max = bl_config_int(c, "retry_max");
	e.retry_max_age = bl_config_int(c, "retry_max_age");
	e.lease = bl_config_int(c, "delivery_lease");

	if ((rc = bl_load_secret(e.s, &e.secret, d)))
		goto out;
	bl_compose_opts_from_config(c, &e.secret, &e.copts);
	e.copts.store = e.s;
	if ((rc = e.s->ops->engine_lock(e.s, e.worker))) {
		rc = store_fail(&e, rc);
		goto out;
	}
	int64_t n = 0;
	int all = strcmp(e.s->ops->name, "sqlite") == 0;
	if ((rc = e.s->ops->delivery_reclaim(e.s, bl_now(), all, &n))) {
		rc = store_fail(&e, rc);
		goto out;
	}
	if (n > 0)
		bl_warn("%lld deliveries were in flight when an engine stopped; they are in doubt "
		        "and will be sent again (same Message-ID)",
		        (long long)n);
	e.st.reclaimed = n;

	/* Scheduled posts whose time came while no engine ran: queued (or held) now. */
	int64_t max_lateness = bl_config_int(c, "max_schedule_lateness");
	if ((rc = bl_scheduler_tick(e.s, bl_now(), max_lateness, NULL, d)))
		goto out;
	int64_t next_tick = bl_now() + 1;
	/* Digests due while no engine ran: made now (periods are contiguous, so the days
	 * bulletin was down are gathered, not lost); then looked at every DIGEST_EVERY s. */
	struct bl_digest_opts dopts;
	bl_digest_opts_from_config(c, &dopts);
	if (o->digests &&
	    (rc = bl_digest_tick(e.s, bl_now(), &dopts, BL_MODE_INSTANT, 0, NULL, NULL, d)))
		goto out;
	int64_t next_digest = bl_now() + DIGEST_EVERY;

	bl_transport_opts_init(&to);
	to.concurrency = (int)bl_config_int(c, "concurrency");
	to.rate_limit = (double)bl_config_int(c, "rate_limit");
	to.starttls = strcmp(tls, "required") == 0 ? BL_STARTTLS_REQUIRED
	              : strcmp(tls, "off") == 0    ? BL_STARTTLS_OFF
	                                           : BL_STARTTLS_OPPORTUNISTIC;
	to.timeout = (int)bl_config_int(c, "relay_timeout");
	to.backoff_min = (int)bl_config_int(c, "relay_retry_min");
	to.backoff_max = (int)bl_config_int(c, "relay_retry_max");
	to.tls_verify = bl_config_bool(c, "relay_tls_verify");
	if ((rc = bl_transport_create(bl_config_str(c, "relay"), &to, &e.t, d)))
		goto out;

	/* Posts a relay fault paused in an earlier run: probe at once. */
	if (e.s->ops->post_each(e.s, any_auto_paused_fn, NULL) == 1) {
		e.probe_delay = bl_config_int(c, "relay_retry_min");
		e.next_probe = bl_now();
	}
	if (o->wait_post > 0) {
		struct bl_post p = {0};
		if (e.s->ops->post_get(e.s, o->wait_post, &p) == 1)
			e.wait_total = p.total;
		bl_post_clear(&p);
		e.s->ops->delivery_counts(e.s, o->wait_post, &e.wait_base);
	}

	int64_t next_reclaim = bl_now() + (e.lease > 1 ? e.lease / 2 : 1);
	for (;;) {
		int64_t now = bl_now();
		int stopping = o->stop && *o->stop;

		/* Several engines (PostgreSQL): take over the claims of one that died,
		 * once their lease ran out, without waiting for a restart. */
		if (!all && now >= next_reclaim) {
			int64_t taken = 0;
			if ((rc = e.s->ops->delivery_reclaim(e.s, now, 0, &taken))) {
				rc = store_fail(&e, rc);
				goto out;
			}
			if (taken > 0)
				bl_warn(
				    "%lld deliveries were in flight when an engine stopped (its "
				    "lease ran out); they are in doubt and will be sent again "
				    "(same Message-ID)",
				    (long long)taken);
			e.st.reclaimed += taken;
			next_reclaim = now + (e.lease > 1 ? e.lease / 2 : 1);
		}
		/* The scheduler, about once a second: a post due now is claimable this turn. */
		if (!stopping && now >= next_tick) {
			if ((rc = bl_scheduler_tick(e.s, now, max_lateness, NULL, d)))
				goto out;
			next_tick = now + 1;
		}
		if (o->digests && !stopping && now >= next_digest) {
			if ((rc = bl_digest_tick(e.s, now, &dopts, BL_MODE_INSTANT, 0, NULL, NULL,
			                         d)))
				goto out;
			next_digest = now + DIGEST_EVERY;
		}
		size_t want = 0, got = 0, stale = 0, finished = 0;

		if (!stopping) {
			want = bl_transport_slots(e.t);
			if (want > CLAIM_MAX)
				want = CLAIM_MAX;
		}
		/* Every relay backing off: pause what is sending, probe when due. */
		int64_t probe_at = bl_transport_next_probe(e.t);
		if (probe_at > 0 && !e.relay_down && bl_transport_in_flight(e.t) == 0) {
			e.relay_down = 1;
			e.s->ops->post_each(e.s, pause_sending, &e);
		}
		if (e.relay_down && probe_at <= now && !stopping) {
			if (bl_transport_probe(e.t, e.probe_from[0] ? e.probe_from : "<>", 5000) ==
			    1) {
				e.relay_down = 0;
				e.next_probe = 0;
				e.s->ops->post_each(e.s, resume_auto_paused, &e);
			}
		}
		if (e.next_probe && e.next_probe <= now && !e.relay_down && !stopping) {
			int up = bl_transport_probe_sender(
			    e.t, e.probe_from[0] ? e.probe_from : "<>", 5000);
			if (up == 1) {
				e.next_probe = 0;
				e.s->ops->post_each(e.s, resume_auto_paused, &e);
			} else {
				int64_t max = bl_config_int(c, "relay_retry_max");
				e.probe_delay = e.probe_delay * 2 > max ? max : e.probe_delay * 2;
				e.next_probe = now + e.probe_delay;
			}
		}

		if (e.n_results > 0 || want > 0) {
			for (size_t i = 0; i < e.n_results; i++) {
				e.results[i].r.reply = e.results[i].reply;
				e.results[i].r.queue_id =
				    e.results[i].queue_id[0] ? e.results[i].queue_id : NULL;
				e.results[i].r.relay = e.results[i].relay;
			}
			/* The store takes a plain array; it grows with the results, never per turn.
			 */
			if (e.n_results > e.cap_rs) {
				e.cap_rs = e.cap_results;
				e.rs = bl_xreallocarray(e.rs, e.cap_rs, sizeof(*e.rs));
			}
			for (size_t i = 0; i < e.n_results; i++)
				e.rs[i] = e.results[i].r;
			rc = e.s->ops->delivery_exchange(e.s, e.worker, now, now + e.lease, e.rs,
			                                 e.n_results, want, e.claimed, &got, &stale,
			                                 &finished);
			if (rc) {
				rc = store_fail(&e, rc);
				goto out;
			}
			if (stale)
				bl_warn(
				    "%zu results were for rows no longer claimed by this engine "
				    "(their lease ran out)",
				    stale);
			for (size_t i = 0; o->rejected && i < e.n_results; i++)
				if (e.results[i].rejection.code) {
					e.results[i].rejection.reply = e.results[i].reply;
					e.results[i].rejection.rcpt = e.results[i].rcpt;
					o->rejected(o->rejected_arg, &e.results[i].rejection);
				}
			e.n_results = 0;
			e.st.posts_finished += (int64_t)finished;
			for (size_t i = 0; i < got; i++) {
				dispatch(&e, &e.claimed[i], now);
				bl_claimed_clear(&e.claimed[i]);
			}
			if (finished)
				forget_composers(&e);
		}

		size_t in_flight = bl_transport_in_flight(e.t);
		if (o->wait_post > 0 && (finished || bl_monotonic() - last_check > 0.5) &&
		    in_flight == 0 && e.n_results == 0) {
			last_check = bl_monotonic();
			if (wait_done(&e))
				break;
		}
		if (in_flight == 0 && e.n_results == 0) {
			if (stopping)
				break;
			/* --once: nothing claimable now (deferred rows wait for a later run; a
			 * post paused by a relay fault is probed at the start of the next run),
			 * or every relay down: the posts are paused and the next run probes. */
			if (o->once && ((want > 0 && got == 0) || e.relay_down))
				break;
		}
		int timeout = in_flight || e.n_results || got ? 20 : 100;
		if (e.n_results)
			timeout = 0;
		rc = bl_transport_poll(e.t, timeout, on_result, &e);
		if (rc < 0) {
			rc = bl_diag_set(d, BL_EIO, "the transport failed: %s", bl_strerror(rc));
			goto out;
		}
		e.st.seconds = bl_monotonic() - t0;
		progress(&e, 0);
	}
	rc = 0;
out:
	e.st.seconds = bl_monotonic() - t0;
	if (e.progress_drawn) {
		progress(&e, 1);
		fputc('\n', stderr);
	}
	/* Results read but not recorded (an error above): record what we can. */
	if (e.n_results && rc) {
		bl_warn("%zu relay replies could not be recorded; those rows are in doubt",
		        e.n_results);
	}
	bl_transport_destroy(e.t);
	forget_composers(&e);
	free(e.posts);
	free(e.results);
	free(e.rs);
	bl_buf_finish(&e.msg);
	if (stp)
		*stp = e.st;
	return rc;
}
