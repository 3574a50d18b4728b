/*
 * The import engine; see import.h for the rules it keeps.
 *
 * Rows are collected into a batch of distinct addresses. A flush looks the
 * batch up in the store (one call per list the batch touches), decides what
 * each row changes (decide(), pure), and applies the changes. A row whose
 * address is already in the batch forces a flush first, so every decision
 * sees the effect of the rows before it. Flushes share one transaction
 * that is committed once `batch` rows are in it (all of them in a dry run,
 * which rolls back at the end instead).
 */
#include "import/import.h"

#include "core/address.h"
#include "core/crypto.h"
#include "import/csv.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Rows looked up and written together (one round trip each on PostgreSQL). */
#define BL_IMPORT_FLUSH 500

/* What flush() did with a row (JSON restore needs it to restore the history). */
struct row_result {
	int64_t subscriber_id;
	int new_subscriber, new_subscription;
};

/* One row waiting in the batch. */
struct item {
	struct bl_import_row row;
	struct bl_address addr;
	char hash[BL_HASH_HEX];
	int64_t list_id;
	enum bl_optin optin;
	char *attrs_json;               /* canonical attributes to write */
	char mark[BL_ADDRESS_MAX + 24]; /* "key\x1flist_id": the row's identity in the file */
	size_t too_big;                 /* decide(): merged attributes over the limit, bytes */
	struct row_result *result;      /* JSON restore: filled by flush() */
};

struct list_entry {
	char *slug;
	int64_t id;
	enum bl_optin optin;
};

struct importer {
	struct bl_store *s;
	const struct bl_import_opts *o;
	struct bl_import_stats *st;
	struct bl_diag *d;
	char *source;
	int64_t now;
	/* the target list from --list */
	int64_t list_id;
	enum bl_optin optin;
	/* lists named by rows (bulletin format), looked up once each */
	struct list_entry *lists;
	size_t n_lists;
	/* the batch */
	struct item *items;
	size_t n, cap;
	size_t *slots; /* open-addressing set of item indices + 1, by address key */
	size_t nslots;
	struct bl_import_state *states;
	struct bl_import_change *changes;
	size_t *change_of; /* per item: index of its change, or -1 */
	/* transaction state */
	size_t tx_rows;  /* rows per transaction (import_batch) */
	int fresh;       /* the database had no subscriber when the import began */
	int hold;        /* JSON restore: commit only between subscribers */
	int64_t *ranges; /* subscriber ids this import inserted: [lo, hi] pairs, ascending */
	size_t nranges;
	int in_tx;
	size_t rows_in_tx;
	/* CSV state */
	struct bl_mapping *map;
	int rc; /* first fatal error */
	long long total_bytes;
	FILE *f;
	double last_progress;
};

static const char *const role_locals[] = {
    "abuse",   "donotreply", "do-not-reply", "hostmaster", "mailer-daemon", "noc",       "nobody",
    "noreply", "no-reply",   "postmaster",   "root",       "security",      "webmaster",
};

int bl_is_role_address(const char *key)
{
	const char *at = strrchr(key, '@');
	if (!at)
		return 0;
	size_t n = (size_t)(at - key);
	for (size_t i = 0; i < sizeof(role_locals) / sizeof(role_locals[0]); i++)
		if (strlen(role_locals[i]) == n && memcmp(role_locals[i], key, n) == 0)
			return 1;
	return 0;
}

/* The refusal of a file whose rows do not name their lists, given no list. */
static const char *list_required(enum bl_import_voice v)
{
	return v == BL_IMPORT_VOICE_API
	           ? "The `list` parameter is required: the file does not name the lists of "
	             "its rows."
	           : "--list SLUG is required: the file does not name the lists of its rows";
}

/* The refusal of a list given with a bulletin JSON export. */
static const char *list_not_for_json(enum bl_import_voice v)
{
	return v == BL_IMPORT_VOICE_API
	           ? "The `list` parameter does not apply to a bulletin JSON export: it names "
	             "its own lists; leave it out."
	           : "--list does not apply to a bulletin JSON export: it names its own lists";
}

static void row_error(struct importer *im, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row_error(struct importer *im, size_t line, const char *fmt, ...)
{
	im->st->invalid++;
	im->st->skipped++;
	if (!im->o->on_error)
		return;
	char msg[BL_DIAG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	im->o->on_error(im->o->arg, line, msg);
}

static uint64_t hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Index of the batch item with address @key, or -1. */
static long find_in_batch(struct importer *im, const char *key, size_t *slot_out)
{
	size_t mask = im->nslots - 1;
	size_t i = (size_t)hash_key(key) & mask;
	while (im->slots[i]) {
		size_t idx = im->slots[i] - 1;
		if (strcmp(im->items[idx].addr.key, key) == 0)
			return (long)idx;
		i = (i + 1) & mask;
	}
	*slot_out = i;
	return -1;
}

static void item_clear(struct item *it)
{
	bl_import_row_clear(&it->row);
	free(it->attrs_json);
	memset(it, 0, sizeof(*it));
}

static int begin_tx(struct importer *im)
{
	if (im->in_tx)
		return 0;
	int rc = im->s->ops->begin(im->s);
	if (rc)
		return bl_diag_set(im->d, -rc, "%s", bl_store_error(im->s));
	im->in_tx = 1;
	im->rows_in_tx = 0;
	return 0;
}

static int commit_tx(struct importer *im)
{
	if (!im->in_tx)
		return 0;
	im->in_tx = 0;
	int rc = im->o->dry_run ? im->s->ops->rollback(im->s) : im->s->ops->commit(im->s);
	if (rc)
		return bl_diag_set(im->d, -rc, "%s", bl_store_error(im->s));
	if (!im->o->dry_run)
		im->st->committed += im->rows_in_tx;
	return 0;
}

/*
 * Canonical text of a JSON object: compact, keys sorted. Caller frees with
 * free() (jansson allocates with malloc: its default, never changed here).
 */
static char *canonical(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		bl_panic("cannot serialise attributes");
	return s;
}

enum outcome { O_IMPORTED, O_UPDATED, O_DUPLICATE, O_SUPPRESSED, O_INVALID };

json_t *bl_import_attributes_load(const char *text)
{
	json_error_t err;
	json_t *a = json_loads(text, 0, &err);
	if (!a) /* PostgreSQL's jsonb writes 1e20 as a 21-digit integer: read it as a real */
		a = json_loads(text, JSON_DECODE_INT_AS_REAL, &err);
	if (a && !json_is_object(a)) {
		json_decref(a);
		a = NULL;
	}
	return a;
}

static void add_change_event(struct bl_import_change *c, enum bl_consent_kind kind, int64_t at,
                             const char *ip, int64_t list_id, const char *source)
{
	if (c->n_events >= BL_CHANGE_MAX_EVENTS)
		return;
	struct bl_consent *e = &c->events[c->n_events++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->at = at;
	e->ip = ip ? ip : "";
	e->user_agent = "";
	e->list_id = list_id;
	e->source = source;
}

/* The evidence event of @kind in @row, or NULL. */
static const char *row_event(const struct bl_import_row *row, enum bl_consent_kind kind,
                             int64_t *at)
{
	for (size_t i = 0; i < row->n_events; i++) {
		if (row->events[i].kind == kind) {
			*at = row->events[i].at;
			return row->events[i].ip;
		}
	}
	return NULL;
}

/*
 * Decide what @it changes given the stored state @st; fill @c.
 * Pure apart from allocating it->attrs_json.
 */
static enum outcome decide(struct importer *im, struct item *it, const struct bl_import_state *st,
                           struct bl_import_change *c)
{
	const struct bl_import_row *row = &it->row;
	memset(c, 0, sizeof(*c));
	if (!st->found && st->suppressed)
		return O_SUPPRESSED;
	enum outcome out = O_DUPLICATE;
	int64_t now = im->now;
	c->updated_at = now;
	int row_block = row->exact ? row->blocklisted : row->status == BL_ROW_BOUNCED;
	const char *reason =
	    row->status_reason && *row->status_reason ? row->status_reason : "bounced";

	if (!st->found) {
		c->insert_subscriber = 1;
		c->email = it->addr.email;
		c->email_key = it->addr.key;
		c->name = row->name;
		c->attributes = it->attrs_json; /* made canonical by add_row */
		c->status = row_block ? BL_SUBSCRIBER_BLOCKLISTED : BL_SUBSCRIBER_ACTIVE;
		c->status_reason = row_block ? reason : "";
		c->created_at = row->created_at ? row->created_at : now;
		out = O_IMPORTED;
	} else {
		const struct bl_subscriber *cur = &st->sub;
		c->subscriber_id = cur->id;
		c->email = cur->email;
		c->email_key = cur->email_key;
		/*
		 * An existing subscriber follows the ordinary rules even when the
		 * row comes from a bulletin export: a restore never re-subscribes,
		 * downgrades or lifts a blocklisting; it only fills in what is new.
		 */
		c->name = *row->name ? row->name : cur->name;
		json_t *have = bl_import_attributes_load(cur->attributes);
		json_t *want = NULL;
		int attrs_changed = 0;
		if (!have) {
			/* Stored attributes we cannot read are left exactly as they are. */
			c->attributes = cur->attributes;
		} else {
			want = json_deep_copy(have);
			json_object_update(want, row->attributes);
			attrs_changed = !json_equal(have, want);
			free(it->attrs_json);
			it->attrs_json = canonical(want);
			c->attributes = it->attrs_json;
		}
		json_decref(have);
		json_decref(want);
		if (strlen(c->attributes) > BL_ATTRIBUTES_MAX) {
			it->too_big = strlen(c->attributes);
			return O_INVALID;
		}
		int blocked = cur->status == BL_SUBSCRIBER_BLOCKLISTED;
		int want_block = blocked || row_block;
		c->status = want_block ? BL_SUBSCRIBER_BLOCKLISTED : BL_SUBSCRIBER_ACTIVE;
		c->status_reason = !want_block ? "" : blocked ? cur->status_reason : reason;
		if (strcmp(c->name, cur->name) != 0 || attrs_changed || want_block != blocked ||
		    strcmp(c->status_reason, cur->status_reason) != 0) {
			c->update_subscriber = 1;
			out = O_UPDATED;
		}
		if (want_block && !blocked) {
			int64_t at = now;
			const char *ip = row_event(row, BL_CONSENT_BLOCKLIST, &at);
			add_change_event(c, BL_CONSENT_BLOCKLIST, at, ip, 0, im->source);
		}
	}

	if (!it->list_id)
		return out;
	c->list_id = it->list_id;

	/* The subscription status the row asks for. */
	enum bl_sub_status want;
	/* Verbatim only for a subscription this row creates (see above). */
	int exact_sub = row->exact && row->status != BL_ROW_DEFAULT && !st->has_subscription;
	if (exact_sub) {
		want = row->sub_status;
	} else {
		switch (row->status) {
		case BL_ROW_CONFIRMED:
			want = BL_SUB_CONFIRMED;
			break;
		case BL_ROW_UNCONFIRMED:
			want = BL_SUB_UNCONFIRMED;
			break;
		case BL_ROW_UNSUBSCRIBED:
		case BL_ROW_BOUNCED:
			want = BL_SUB_UNSUBSCRIBED;
			break;
		default:
			want = im->o->confirmed || it->optin == BL_OPTIN_SINGLE
			           ? BL_SUB_CONFIRMED
			           : BL_SUB_UNCONFIRMED;
		}
	}
	enum bl_mode mode = row->exact ? row->mode : BL_MODE_INSTANT;

	if (!st->has_subscription) {
		c->insert_subscription = 1;
		c->sub_status = want;
		c->mode = mode;
		c->sub_created_at = row->subscribed_at              ? row->subscribed_at
		                    : !st->found && row->created_at ? row->created_at
		                                                    : now;
		if (!im->st->json) {
			for (size_t i = 0; i < row->n_events; i++)
				add_change_event(
				    c, row->events[i].kind, row->events[i].at, row->events[i].ip,
				    row->events[i].kind == BL_CONSENT_BLOCKLIST ? 0 : it->list_id,
				    im->source);
			add_change_event(c, im->o->manual ? BL_CONSENT_SIGNUP : BL_CONSENT_IMPORT,
			                 now, "", it->list_id, im->source);
		}
		return O_IMPORTED;
	}
	enum bl_sub_status cur = st->sub_status, next = cur;
	if (exact_sub) {
		next = want;
	} else if (want == BL_SUB_UNSUBSCRIBED && cur != BL_SUB_UNSUBSCRIBED) {
		next = BL_SUB_UNSUBSCRIBED;
		int64_t at = now;
		const char *ip = row_event(row, BL_CONSENT_UNSUBSCRIBE, &at);
		add_change_event(c, BL_CONSENT_UNSUBSCRIBE, at, ip, it->list_id, im->source);
	} else if (want == BL_SUB_CONFIRMED && cur == BL_SUB_UNCONFIRMED) {
		next = BL_SUB_CONFIRMED;
		int64_t at = now;
		const char *ip = row_event(row, BL_CONSENT_CONFIRM, &at);
		add_change_event(c, BL_CONSENT_CONFIRM, at, ip, it->list_id, im->source);
	}
	enum bl_mode next_mode = st->mode; /* an import never changes a delivery mode */
	if (next != cur || next_mode != st->mode) {
		c->update_subscription = 1;
		c->sub_status = next;
		c->mode = next_mode;
		out = O_UPDATED;
	}
	return out;
}

static int store_fail(struct importer *im, int rc)
{
	if (!im->rc)
		im->rc = bl_diag_set(im->d, -rc, "%s", bl_store_error(im->s));
	return im->rc;
}

/* Add @id to the ids this import inserted (they come in ascending order). */
static void note_inserted(struct importer *im, int64_t id)
{
	if (im->nranges && im->ranges[2 * im->nranges - 1] + 1 == id) {
		im->ranges[2 * im->nranges - 1] = id;
		return;
	}
	im->ranges = bl_xrealloc(im->ranges, (im->nranges + 1) * 2 * sizeof(*im->ranges));
	im->ranges[2 * im->nranges] = id;
	im->ranges[2 * im->nranges + 1] = id;
	im->nranges++;
}

/*
 * Whether subscriber @id was inserted by this import. Another process may
 * insert between our transactions, so this is the ids we wrote, not a
 * watermark: a few ranges, one per transaction at most on SQLite.
 */
static int inserted_here(const struct importer *im, int64_t id)
{
	size_t lo = 0, hi = im->nranges;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (id < im->ranges[2 * mid])
			hi = mid;
		else if (id > im->ranges[2 * mid + 1])
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* Look up, decide and apply the batch. */
static int flush(struct importer *im)
{
	if (im->n == 0)
		return 0;
	int rc = begin_tx(im);
	if (rc)
		return im->rc = rc;
	/*
	 * Suppression hashes only when the list has entries (usually none).
	 * The check runs inside the import's transaction, so an erasure that
	 * committed before it is seen.
	 */
	int any = im->s->ops->suppression_any(im->s);
	if (any < 0) {
		rc = any;
		store_fail(im, rc);
		goto out;
	}
	for (size_t i = 0; any && i < im->n; i++)
		bl_suppression_hash(im->items[i].addr.key, im->items[i].hash);
	/* One lookup per distinct list in the batch (usually exactly one). */
	const char **keys = bl_xcalloc(im->n, sizeof(*keys));
	const char **hashes = bl_xcalloc(im->n, sizeof(*hashes));
	size_t *idx = bl_xcalloc(im->n, sizeof(*idx));
	struct bl_import_state *tmp = bl_xcalloc(im->n, sizeof(*tmp));
	char *done = bl_xcalloc(im->n, 1);
	for (size_t i = 0; i < im->n && rc == 0; i++) {
		if (done[i])
			continue;
		int64_t list = im->items[i].list_id;
		size_t k = 0;
		for (size_t j = i; j < im->n; j++) {
			if (done[j] || im->items[j].list_id != list)
				continue;
			keys[k] = im->items[j].addr.key;
			hashes[k] = im->items[j].hash;
			idx[k++] = j;
			done[j] = 1;
		}
		rc = im->s->ops->import_lookup(im->s, list, k, keys, any ? hashes : NULL, tmp);
		for (size_t j = 0; j < k; j++) {
			if (rc == 0)
				im->states[idx[j]] = tmp[j];
			else
				bl_import_state_clear(&tmp[j]);
		}
	}
	free(hashes);
	free(idx);
	free(tmp);
	/*
	 * Rows whose address and list an earlier row of this file took are
	 * duplicates: the first row wins. A subscriber this import created (id
	 * above the highest before it) was taken by an earlier row; so was its
	 * subscription to a list when it has one. For subscribers that existed
	 * before, the store keeps the set of marks.
	 */
	char *seen = bl_xcalloc(im->n, 1);
	size_t nmarks = 0;
	for (size_t i = 0; i < im->n && rc == 0; i++) {
		const struct bl_import_state *st = &im->states[i];
		if (!st->found)
			continue;
		struct item *it = &im->items[i];
		if (inserted_here(im, st->sub.id)) {
			seen[i] = it->list_id ? st->has_subscription : 1;
		} else {
			snprintf(it->mark, sizeof(it->mark), "%s\x1f%lld", it->addr.key,
			         (long long)it->list_id);
			keys[nmarks++] = it->mark;
		}
	}
	if (rc == 0 && nmarks) {
		/* done[] doubles as the answers for the marked rows, in order. */
		rc = im->s->ops->import_mark(im->s, nmarks, keys, done);
		for (size_t i = 0, m = 0; i < im->n && rc == 0; i++) {
			const struct bl_import_state *st = &im->states[i];
			if (st->found && !inserted_here(im, st->sub.id))
				seen[i] = done[m++];
		}
	}
	free(keys);
	free(done);
	if (rc) {
		free(seen);
		store_fail(im, rc);
		goto out;
	}
	size_t nchanges = 0;
	for (size_t i = 0; i < im->n; i++) {
		struct bl_import_change *c = &im->changes[nchanges];
		enum outcome o =
		    seen[i] ? O_DUPLICATE : decide(im, &im->items[i], &im->states[i], c);
		switch (o) {
		case O_IMPORTED:
			im->st->imported++;
			break;
		case O_UPDATED:
			im->st->updated++;
			break;
		case O_DUPLICATE:
			im->st->duplicate++;
			im->st->skipped++;
			break;
		case O_SUPPRESSED:
			im->st->suppressed++;
			im->st->skipped++;
			break;
		case O_INVALID:
			row_error(im, im->items[i].row.line,
			          "with the attributes already stored, %s would have %zu bytes of "
			          "attributes; the limit is %d",
			          im->items[i].addr.email, im->items[i].too_big, BL_ATTRIBUTES_MAX);
			memset(c, 0, sizeof(*c));
			break;
		}
		im->change_of[i] = (size_t)-1;
		if (!seen[i] && (c->insert_subscriber || c->update_subscriber ||
		                 c->insert_subscription || c->update_subscription || c->n_events))
			im->change_of[i] = nchanges++;
	}
	free(seen);
	if (nchanges && (rc = im->s->ops->import_apply(im->s, nchanges, im->changes))) {
		store_fail(im, rc);
		goto out;
	}
	/* Remember which subscribers this import created. */
	for (size_t k = 0; k < nchanges; k++)
		if (im->changes[k].insert_subscriber)
			note_inserted(im, im->changes[k].subscriber_id);
	/* Tell JSON restore what each of its rows created. */
	for (size_t i = 0; i < im->n; i++) {
		struct item *it = &im->items[i];
		if (!it->result)
			continue;
		it->result->subscriber_id = im->states[i].found ? im->states[i].sub.id : 0;
		if (im->change_of[i] == (size_t)-1)
			continue;
		const struct bl_import_change *c = &im->changes[im->change_of[i]];
		it->result->subscriber_id = c->subscriber_id;
		it->result->new_subscriber = c->insert_subscriber;
		it->result->new_subscription = c->insert_subscription;
	}
	im->rows_in_tx += im->n;
out:
	for (size_t i = 0; i < im->n; i++) {
		bl_import_state_clear(&im->states[i]);
		item_clear(&im->items[i]);
	}
	im->n = 0;
	memset(im->slots, 0, im->nslots * sizeof(*im->slots));
	if (rc)
		return im->rc;
	if (!im->o->dry_run && !im->hold && im->rows_in_tx >= im->tx_rows)
		return im->rc = commit_tx(im);
	return 0;
}

static void progress(struct importer *im, int final)
{
	if (!im->o->on_progress)
		return;
	double t = bl_monotonic();
	if (!final && t - im->last_progress < 0.1)
		return;
	im->last_progress = t;
	long long done = im->f ? ftell(im->f) : 0;
	im->o->on_progress(im->o->arg, im->st, done < 0 ? 0 : done, im->total_bytes);
}

/* The caller asked the import to stop (opts.stop): -BL_EBUSY, else 0. */
static int check_stop(struct importer *im)
{
	if (!im->o->stop || !*im->o->stop)
		return 0;
	return im->rc = bl_diag_set(im->d, BL_EBUSY, "%s: the import was stopped before its end",
	                            im->o->path);
}

/* Resolve a list slug named by a row; cached. Returns 1 found, 0 unknown, <0 error. */
static int resolve_list(struct importer *im, const char *slug, int64_t *id, enum bl_optin *optin)
{
	for (size_t i = 0; i < im->n_lists; i++) {
		if (strcmp(im->lists[i].slug, slug) == 0) {
			*id = im->lists[i].id;
			*optin = im->lists[i].optin;
			return im->lists[i].id ? 1 : 0;
		}
	}
	struct bl_list l;
	int rc = im->s->ops->list_get(im->s, slug, &l);
	if (rc < 0)
		return store_fail(im, rc);
	im->lists = bl_xrealloc(im->lists, (im->n_lists + 1) * sizeof(*im->lists));
	struct list_entry *e = &im->lists[im->n_lists++];
	e->slug = bl_xstrdup(slug);
	e->id = rc ? l.id : 0;
	e->optin = rc ? l.optin : BL_OPTIN_DOUBLE;
	if (rc)
		bl_list_clear(&l);
	*id = e->id;
	*optin = e->optin;
	return rc;
}

/*
 * Validate a mapped row and add it to the batch (flushing first when its
 * address is already there). Takes ownership of @row's contents.
 */
static int add_row(struct importer *im, struct bl_import_row *row, struct row_result *result)
{
	struct item it = {.row = *row, .result = result};
	memset(row, 0, sizeof(*row));
	im->st->rows++;
	struct bl_diag d;
	enum bl_address_problem problem;
	const char *email = it.row.email;
	unsigned flags = im->o->address_flags | (it.row.exact ? BL_ADDRESS_SMTPUTF8 : 0);
	if (bl_address_parse(email, strlen(email), flags, &it.addr, &problem, &d)) {
		if (problem == BL_ADDR_EMPTY)
			row_error(im, it.row.line, "no email address");
		else
			row_error(im, it.row.line, "invalid address \"%s\": %s", email, d.msg);
		item_clear(&it);
		return 0;
	}
	/* Restoring bulletin's own export keeps what the database held. */
	if (!im->o->allow_role && !it.row.exact && bl_is_role_address(it.addr.key)) {
		row_error(im, it.row.line,
		          "role address \"%s\" skipped (a shared mailbox, not a person who "
		          "subscribed; set import_role_addresses = true to accept)",
		          it.addr.email);
		item_clear(&it);
		return 0;
	}
	it.attrs_json = canonical(it.row.attributes);
	size_t alen = strlen(it.attrs_json);
	if (alen > BL_ATTRIBUTES_MAX) {
		row_error(im, it.row.line, "attributes are %zu bytes; the limit is %d", alen,
		          BL_ATTRIBUTES_MAX);
		item_clear(&it);
		return 0;
	}
	if (im->list_id) {
		it.list_id = im->list_id;
		it.optin = im->optin;
	} else if (it.row.list) {
		int rc = resolve_list(im, it.row.list, &it.list_id, &it.optin);
		if (rc < 0) {
			item_clear(&it);
			return rc;
		}
		if (rc == 0) {
			if (im->o->voice == BL_IMPORT_VOICE_API)
				row_error(im, it.row.line,
				          "No such list: %s; create the list first, then import "
				          "again.",
				          it.row.list);
			else
				row_error(im, it.row.line,
				          "list \"%s\" does not exist; create it first with "
				          "`bulletin list create %s --name NAME`",
				          it.row.list, it.row.list);
			item_clear(&it);
			return 0;
		}
	}

	size_t slot;
	long prev = find_in_batch(im, it.addr.key, &slot);
	if (prev >= 0 && im->items[prev].list_id == it.list_id) {
		/* The same address and list earlier in this batch: the first row wins. */
		im->st->duplicate++;
		im->st->skipped++;
		item_clear(&it);
		return 0;
	}
	if (prev >= 0) {
		/* The same address for another list: apply the earlier row first. */
		int rc = flush(im);
		if (rc) {
			item_clear(&it);
			return rc;
		}
		find_in_batch(im, it.addr.key, &slot);
	}
	im->items[im->n] = it;
	im->slots[slot] = im->n + 1;
	im->n++;
	if (im->n == im->cap) {
		int rc = flush(im);
		progress(im, 0);
		if (rc == 0)
			rc = check_stop(im);
		return rc;
	}
	return 0;
}

/* CSV record callback. */
static int on_record(void *arg, const struct bl_csv_record *rec)
{
	struct importer *im = arg;
	if (!im->map) {
		int rc = bl_mapping_create(rec, im->o->format, im->o->voice, &im->map, im->d);
		if (rc)
			return im->rc = rc;
		im->st->format = bl_mapping_format(im->map);
		if (!im->list_id && !bl_mapping_has_list_column(im->map))
			return im->rc =
			           bl_diag_set(im->d, BL_EINVAL, "%s", list_required(im->o->voice));
		if (bl_mapping_has_header(im->map))
			return 0;
	}
	/* Spreadsheets save blank rows as ";;;": nothing to import, nothing to report. */
	int blank = 1;
	for (size_t i = 0; i < rec->nfields && blank; i++) {
		size_t off;
		blank = bl_trim_span(rec->fields[i], rec->lens[i], &off) == 0;
	}
	if (blank)
		return 0;
	if (rec->bad_utf8) {
		im->st->rows++;
		row_error(im, rec->line,
		          "field %zu is not valid UTF-8 (the file mixes encodings; save it as "
		          "UTF-8)",
		          rec->bad_field + 1);
		return 0;
	}
	struct bl_import_row row = {0};
	struct bl_diag d;
	int rc = bl_mapping_row(im->map, rec, &row, &d);
	if (rc == 1) {
		bl_import_row_clear(&row);
		return 0;
	}
	if (rc < 0) {
		im->st->rows++;
		row_error(im, rec->line, "%s", d.msg);
		bl_import_row_clear(&row);
		return 0;
	}
	return add_row(im, &row, NULL);
}

/* ---- bulletin JSON export ---- */

static int json_text(json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = "";
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int json_time(json_t *obj, const char *key, int64_t *out)
{
	const char *t;
	*out = 0;
	if (json_text(obj, key, &t))
		return -1;
	if (!*t)
		return 0;
	return bl_time_parse(t, out) ? -1 : 0;
}

/* Whether @v is at most @max bytes of text with no control characters. */
static int plain_text(const char *v, size_t max)
{
	size_t n = strlen(v);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

/* Create the lists of the export that do not exist yet. */
static int restore_lists(struct importer *im, json_t *lists, size_t line)
{
	if (!json_is_array(lists))
		return bl_diag_set(im->d, BL_EINVAL, "%s:%zu: \"lists\" is not an array",
		                   im->o->path, line);
	size_t i;
	json_t *l;
	json_array_foreach(lists, i, l)
	{
		const char *slug, *name, *desc, *optin, *vis;
		struct bl_list nl = {0};
		if (json_text(l, "slug", &slug) || json_text(l, "name", &name) ||
		    json_text(l, "description", &desc) || json_text(l, "optin", &optin) ||
		    json_text(l, "visibility", &vis) || !bl_slug_valid(slug) ||
		    bl_optin_parse(optin, &nl.optin) || bl_visibility_parse(vis, &nl.visibility))
			return bl_diag_set(im->d, BL_EINVAL, "%s:%zu: list %zu is malformed",
			                   im->o->path, line, i + 1);
		struct bl_list have;
		int rc = im->s->ops->list_get(im->s, slug, &have);
		if (rc < 0)
			return bl_diag_set(im->d, -rc, "%s", bl_store_error(im->s));
		if (rc) {
			bl_list_clear(&have);
			continue;
		}
		nl.slug = (char *)slug;
		nl.name = (char *)(*name ? name : slug);
		nl.description = (char *)desc;
		if (json_time(l, "created_at", &nl.created_at))
			return bl_diag_set(im->d, BL_EINVAL,
			                   "%s:%zu: list %zu has a bad created_at", im->o->path,
			                   line, i + 1);
		if (!plain_text(name, BL_LIST_NAME_MAX) ||
		    !plain_text(desc, BL_LIST_DESCRIPTION_MAX))
			return bl_diag_set(im->d, BL_EINVAL,
			                   "%s:%zu: list \"%s\" has a name or description that is "
			                   "too long or holds control characters",
			                   im->o->path, line, slug);
		/* In a dry run this is rolled back with everything else. */
		if ((rc = im->s->ops->list_create(im->s, &nl)))
			return bl_diag_set(im->d, -rc, "%s", bl_store_error(im->s));
	}
	return 0;
}

/* A consent event of an export as "kind|list|at|ip|ua|source", for comparing. */
static void event_key(struct bl_buf *b, const char *kind, const char *list, int64_t at,
                      const char *ip, const char *ua, const char *src)
{
	bl_buf_reset(b);
	bl_buf_addf(b, "%s|%s|%lld|%s|%s|%s", kind, list, (long long)at, ip, ua, src);
}

struct key_set {
	char **keys;
	size_t n;
};

static int collect_detached(void *arg, const struct bl_consent *c)
{
	struct key_set *ks = arg;
	struct bl_buf b;
	bl_buf_init(&b, 0);
	event_key(&b, bl_consent_kind_name(c->kind), c->list_slug ? c->list_slug : "", c->at, c->ip,
	          c->user_agent, c->source);
	ks->keys = bl_xrealloc(ks->keys, (ks->n + 1) * sizeof(*ks->keys));
	ks->keys[ks->n++] = bl_buf_take(&b);
	return 0;
}

/*
 * The rest of a full export's header: the suppression list (so that an
 * erased address stays out), the consent events of erased subscribers
 * (those not already present), and the secret key when the database had no
 * subscribers before this restore (links signed before keep working).
 */
static int restore_rest(struct importer *im, json_t *header)
{
	struct bl_store *s = im->s;
	int rc = 0;
	size_t i;
	json_t *v;
	json_t *sup = json_object_get(header, "suppressions");
	json_array_foreach(sup, i, v)
	{
		const char *hash, *reason;
		int64_t at;
		if (json_text(v, "hash", &hash) || json_text(v, "reason", &reason) ||
		    json_time(v, "created_at", &at) || strlen(hash) != BL_HASH_HEX - 1)
			return bl_diag_set(im->d, BL_EINVAL, "%s:1: suppression %zu is malformed",
			                   im->o->path, i + 1);
		if ((rc = s->ops->suppression_add(s, hash, reason, at)))
			return bl_diag_set(im->d, -rc, "%s", bl_store_error(s));
	}
	json_t *erased = json_object_get(header, "erased_consent");
	if (json_array_size(erased)) {
		struct key_set have = {0};
		rc = s->ops->consent_each(s, 0, collect_detached, &have);
		if (rc)
			bl_diag_set(im->d, -rc, "%s", bl_store_error(s));
		struct bl_buf b;
		bl_buf_init(&b, 0);
		json_array_foreach(erased, i, v)
		{
			if (rc)
				break;
			const char *kind, *list, *ip, *ua, *src;
			struct bl_consent c = {0};
			if (json_text(v, "kind", &kind) || json_text(v, "list", &list) ||
			    json_text(v, "ip", &ip) || json_text(v, "user_agent", &ua) ||
			    json_text(v, "source", &src) || json_time(v, "at", &c.at) ||
			    bl_consent_kind_parse(kind, &c.kind)) {
				rc = bl_diag_set(im->d, BL_EINVAL,
				                 "%s:1: erased consent event %zu is malformed",
				                 im->o->path, i + 1);
				break;
			}
			/* Already there (a second restore): take it off the set, add nothing. */
			event_key(&b, kind, list, c.at, ip, ua, src);
			int present = 0;
			for (size_t k = 0; k < have.n && !present; k++) {
				if (have.keys[k] && strcmp(have.keys[k], bl_buf_str(&b)) == 0) {
					free(have.keys[k]);
					have.keys[k] = NULL;
					present = 1;
				}
			}
			if (present)
				continue;
			enum bl_optin optin;
			if (*list && (rc = resolve_list(im, list, &c.list_id, &optin)) < 0)
				break;
			rc = 0;
			c.ip = ip;
			c.user_agent = ua;
			c.source = src;
			if ((rc = s->ops->consent_add(s, &c)))
				bl_diag_set(im->d, -rc, "%s", bl_store_error(s));
		}
		bl_buf_finish(&b);
		for (size_t k = 0; k < have.n; k++)
			free(have.keys[k]);
		free(have.keys);
		if (rc)
			return rc < 0 ? rc : -rc;
	}
	const char *key = NULL;
	json_t *settings = json_object_get(header, "settings");
	if (json_is_object(settings) && json_text(settings, "secret_key", &key) == 0 && *key &&
	    im->fresh) {
		if (strlen(key) != BL_HASH_HEX - 1)
			return bl_diag_set(im->d, BL_EINVAL, "%s:1: the secret key is malformed",
			                   im->o->path);
		if ((rc = s->ops->setting_set(s, "secret_key", key)))
			return bl_diag_set(im->d, -rc, "%s", bl_store_error(s));
	}
	return 0;
}

/*
 * Restore one exported subscriber: one row per subscription, applied at
 * once, then its consent history in its original order — the events of
 * each subscription this restore created, and the list-less ones when it
 * created the subscriber. A restore of something already present adds
 * nothing.
 */
static int json_subscriber(struct importer *im, json_t *o, size_t line)
{
	const char *email, *name, *status, *reason;
	int64_t created;
	json_t *attrs = json_object_get(o, "attributes");
	json_t *subs = json_object_get(o, "subscriptions");
	json_t *events = json_object_get(o, "consent");
	if (!json_is_object(o) || json_text(o, "email", &email) || json_text(o, "name", &name) ||
	    json_text(o, "status", &status) || json_text(o, "status_reason", &reason) ||
	    json_time(o, "created_at", &created) || (attrs && !json_is_object(attrs)) ||
	    (subs && !json_is_array(subs)) || (events && !json_is_array(events))) {
		im->st->rows++;
		row_error(im, line, "malformed subscriber record");
		return 0;
	}
	enum bl_subscriber_status sst = BL_SUBSCRIBER_ACTIVE;
	if (*status && bl_subscriber_status_parse(status, &sst)) {
		im->st->rows++;
		row_error(im, line, "unknown subscriber status \"%s\"", status);
		return 0;
	}
	size_t ne = events ? json_array_size(events) : 0;
	for (size_t e = 0; e < ne; e++) {
		json_t *ev = json_array_get(events, e);
		const char *kind, *elist, *ip, *ua, *src;
		enum bl_consent_kind ck;
		int64_t at;
		if (json_text(ev, "kind", &kind) || json_text(ev, "list", &elist) ||
		    json_text(ev, "ip", &ip) || json_text(ev, "user_agent", &ua) ||
		    json_text(ev, "source", &src) || json_time(ev, "at", &at) ||
		    bl_consent_kind_parse(kind, &ck)) {
			im->st->rows++;
			row_error(im, line, "malformed consent event %zu", e + 1);
			return 0;
		}
	}
	size_t nsubs = subs ? json_array_size(subs) : 0;
	size_t nrows = nsubs ? nsubs : 1;
	struct row_result *results = bl_xcalloc(nrows, sizeof(*results));
	int rc = 0;
	/* Rows and history of one subscriber commit together. */
	im->hold = 1;
	for (size_t k = 0; k < nrows && rc == 0; k++) {
		struct bl_import_row row = {0};
		row.line = line;
		row.email = bl_xstrdup(email);
		row.name = bl_clean_text(name, BL_NAME_MAX);
		row.attributes = attrs ? json_deep_copy(attrs) : json_object();
		row.exact = 1;
		row.blocklisted = sst == BL_SUBSCRIBER_BLOCKLISTED;
		row.status_reason = bl_xstrdup(reason);
		row.created_at = created;
		if (nsubs) {
			json_t *x = json_array_get(subs, k);
			const char *slug, *xs, *xm;
			enum bl_sub_status st;
			if (json_text(x, "list", &slug) || json_text(x, "status", &xs) ||
			    json_text(x, "mode", &xm) || bl_sub_status_parse(xs, &st) ||
			    bl_mode_parse(xm, &row.mode) ||
			    json_time(x, "created_at", &row.subscribed_at)) {
				im->st->rows++;
				row_error(im, line, "malformed subscription %zu", k + 1);
				bl_import_row_clear(&row);
				continue;
			}
			row.list = bl_xstrdup(slug);
			row.sub_status = st;
			row.status = st == BL_SUB_CONFIRMED     ? BL_ROW_CONFIRMED
			             : st == BL_SUB_UNCONFIRMED ? BL_ROW_UNCONFIRMED
			                                        : BL_ROW_UNSUBSCRIBED;
		}
		rc = add_row(im, &row, &results[k]);
	}
	if (rc == 0)
		rc = flush(im);
	int64_t sub_id = 0;
	int new_subscriber = 0;
	for (size_t k = 0; k < nrows; k++) {
		if (results[k].subscriber_id)
			sub_id = results[k].subscriber_id;
		new_subscriber |= results[k].new_subscriber;
	}
	for (size_t e = 0; e < ne && rc == 0 && sub_id; e++) {
		json_t *ev = json_array_get(events, e);
		const char *kind = "", *elist = "", *ip = "", *ua = "", *src = "";
		struct bl_consent c = {.subscriber_id = sub_id};
		json_text(ev, "kind", &kind);
		json_text(ev, "list", &elist);
		json_text(ev, "ip", &ip);
		json_text(ev, "user_agent", &ua);
		json_text(ev, "source", &src);
		json_time(ev, "at", &c.at);
		bl_consent_kind_parse(kind, &c.kind);
		c.ip = ip;
		c.user_agent = ua;
		c.source = src;
		/* Written when its subscription (or, list-less, the subscriber) is new. */
		int wanted = new_subscriber;
		for (size_t k = 0; *elist && k < nsubs; k++) {
			const char *slug;
			if (json_text(json_array_get(subs, k), "list", &slug) == 0 &&
			    strcmp(slug, elist) == 0)
				wanted = results[k].new_subscription;
		}
		if (!wanted)
			continue;
		if (*elist) {
			enum bl_optin optin;
			if ((rc = resolve_list(im, elist, &c.list_id, &optin)) < 0)
				break;
			rc = 0;
		}
		if ((rc = im->s->ops->consent_add(im->s, &c)))
			store_fail(im, rc);
	}
	free(results);
	im->hold = 0;
	if (rc == 0 && !im->o->dry_run && im->rows_in_tx >= im->tx_rows)
		rc = im->rc = commit_tx(im);
	return rc;
}

/* Read one line of any length into @b (without the newline). Returns 1, or 0 at EOF. */
static int read_line(FILE *f, struct bl_buf *b)
{
	bl_buf_reset(b);
	int c, any = 0;
	while ((c = getc(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		bl_buf_addc(b, (char)c);
	}
	if (b->len && b->data[b->len - 1] == '\r')
		b->data[--b->len] = '\0';
	return any;
}

/*
 * Whether a seekable file ends with "]}" (trailing white space aside), as a
 * whole bulletin export does. Pipes cannot be checked: 1. Restores the position.
 */
static int ends_closed(FILE *f)
{
	long pos = ftell(f);
	if (pos < 0 || fseek(f, -64, SEEK_END) != 0)
		if (pos < 0 || fseek(f, 0, SEEK_SET) != 0)
			return 1;
	char tail[65];
	size_t n = fread(tail, 1, 64, f);
	fseek(f, pos, SEEK_SET);
	while (n && strchr(" \t\r\n", tail[n - 1]))
		n--;
	return n >= 2 && tail[n - 2] == ']' && tail[n - 1] == '}';
}

static int import_json(struct importer *im, FILE *f)
{
	/*
	 * bulletin writes its export one subscriber per line:
	 *   {"format":"bulletin",...,"lists":[...],"subscribers":[
	 *   {subscriber},
	 *   ...
	 *   {subscriber}
	 *   ]}
	 * which this reads line by line in constant memory. Anything laid out
	 * differently is read whole with jansson instead.
	 */
	static const char tail[] = "\"subscribers\":[";
	struct bl_buf line;
	bl_buf_init(&line, (size_t)64 << 20);
	im->st->json = 1;
	im->st->format = BL_FORMAT_BULLETIN;
	int rc = 0;
	size_t lineno = 1;
	if (!read_line(f, &line) || bl_buf_err(&line)) {
		rc = bl_diag_set(im->d, BL_EINVAL, "%s: empty or unreadable JSON", im->o->path);
		goto out;
	}
	const char *first = bl_buf_str(&line);
	size_t flen = strlen(first);
	if (flen >= 3 && (unsigned char)first[0] == 0xEF)
		first += 3, flen -= 3;
	int streaming = flen > sizeof(tail) && strcmp(first + flen - (sizeof(tail) - 1), tail) == 0;
	json_t *header = NULL, *all = NULL;
	json_error_t err;
	if (streaming) {
		struct bl_buf h;
		bl_buf_init(&h, 0);
		bl_buf_add(&h, first, flen);
		bl_buf_adds(&h, "]}");
		header = json_loads(bl_buf_str(&h), 0, &err);
		bl_buf_finish(&h);
	} else {
		if (fseek(f, first - bl_buf_str(&line), SEEK_SET) != 0) {
			rc = bl_diag_set(im->d, BL_EINVAL,
			                 "%s: this JSON is not laid out as bulletin writes it and "
			                 "cannot be re-read from a pipe; give it as a file",
			                 im->o->path);
			goto out;
		}
		all = json_loadf(f, 0, &err);
		header = all ? json_incref(all) : NULL;
	}
	const char *fmt;
	json_t *version = header ? json_object_get(header, "version") : NULL;
	if (header && !json_text(header, "format", &fmt) && strcmp(fmt, "bulletin") == 0 &&
	    (!json_is_integer(version) || json_integer_value(version) != 1)) {
		rc = bl_diag_set(
		    im->d, BL_EINVAL,
		    "%s: a bulletin export of version %s; this bulletin reads version 1",
		    im->o->path, json_is_integer(version) ? "other than 1" : "unknown");
		json_decref(header);
		json_decref(all);
		goto out;
	}
	if (!streaming && all && !json_is_array(json_object_get(all, "subscribers"))) {
		rc = bl_diag_set(im->d, BL_EINVAL, "%s: the export has no \"subscribers\" array",
		                 im->o->path);
		json_decref(header);
		json_decref(all);
		goto out;
	}
	if (streaming && header && !ends_closed(f)) {
		rc = bl_diag_set(im->d, BL_EINVAL,
		                 "%s: the export ends early (no closing \"]}\"): it was cut short; "
		                 "nothing was imported",
		                 im->o->path);
		json_decref(header);
		goto out;
	}
	if (!header || json_text(header, "format", &fmt) || strcmp(fmt, "bulletin") != 0) {
		rc = bl_diag_set(im->d, BL_EINVAL, "%s:%d: not a bulletin JSON export (%s)",
		                 im->o->path, header ? 1 : err.line,
		                 header ? "no \"format\": \"bulletin\"" : err.text);
		json_decref(header);
		json_decref(all);
		goto out;
	}
	if (im->list_id) {
		rc = bl_diag_set(im->d, BL_EUSAGE, "%s", list_not_for_json(im->o->voice));
		json_decref(header);
		json_decref(all);
		goto out;
	}
	rc = begin_tx(im);
	if (!rc)
		rc = restore_lists(im, json_object_get(header, "lists"), 1);
	if (!rc)
		rc = restore_rest(im, header);
	json_decref(header);
	if (rc) {
		json_decref(all);
		goto out;
	}
	if (!streaming) {
		json_t *subs = json_object_get(all, "subscribers");
		size_t i;
		json_t *o;
		json_array_foreach(subs, i, o)
		{
			if ((rc = json_subscriber(im, o, i + 1)))
				break;
		}
		json_decref(all);
		goto out;
	}
	int closed = 0;
	while (read_line(f, &line)) {
		lineno++;
		if (bl_buf_err(&line)) {
			rc = bl_diag_set(im->d, BL_ELIMIT, "%s:%zu: line too long", im->o->path,
			                 lineno);
			goto out;
		}
		char *t = (char *)bl_buf_str(&line);
		size_t len = strlen(t);
		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = '\0';
		if (strcmp(t, "]}") == 0) {
			closed = 1;
			break;
		}
		if (len && t[len - 1] == ',')
			t[--len] = '\0';
		if (!len)
			continue;
		json_t *o = json_loads(t, 0, &err);
		if (!o) {
			im->st->rows++;
			row_error(im, lineno, "not JSON: %s", err.text);
			continue;
		}
		rc = json_subscriber(im, o, lineno);
		json_decref(o);
		if (rc)
			break;
		progress(im, 0);
		if ((rc = check_stop(im)))
			break;
	}
	if (rc == 0 && !closed) /* a pipe: found only now; the batch in flight rolls back */
		rc = bl_diag_set(im->d, BL_EINVAL,
		                 "%s: the export ends early (no closing \"]}\"): it was cut short",
		                 im->o->path);
out:
	bl_buf_finish(&line);
	return rc;
}

/* Set up @im; 0 or an error (unknown --list). Always pair with importer_finish. */
static int importer_init(struct importer *im, struct bl_store *s, FILE *f,
                         const struct bl_import_opts *o, struct bl_import_stats *st,
                         struct bl_diag *d)
{
	memset(st, 0, sizeof(*st));
	memset(im, 0, sizeof(*im));
	im->s = s;
	im->o = o;
	im->st = st;
	im->d = d;
	im->f = f;
	im->now = bl_now();
	const char *base = strrchr(o->path, '/');
	base = base ? base + 1 : o->path;
	if (o->source) {
		im->source = bl_xstrdup(o->source);
	} else {
		im->source = bl_xmalloc(strlen(base) + 8);
		snprintf(im->source, strlen(base) + 8, "import:%s", base);
		if (strlen(im->source) > BL_SOURCE_MAX)
			im->source[BL_SOURCE_MAX] = '\0';
	}
	/*
	 * Rows are looked up and written BL_IMPORT_FLUSH at a time and
	 * committed import_batch at a time: memory stays small whatever the
	 * transaction size.
	 */
	im->tx_rows = o->batch ? o->batch : 5000;
	im->cap = im->tx_rows < BL_IMPORT_FLUSH ? im->tx_rows : BL_IMPORT_FLUSH;
	im->items = bl_xcalloc(im->cap, sizeof(*im->items));
	im->states = bl_xcalloc(im->cap, sizeof(*im->states));
	im->changes = bl_xcalloc(im->cap, sizeof(*im->changes));
	im->change_of = bl_xcalloc(im->cap, sizeof(*im->change_of));
	im->nslots = 16;
	while (im->nslots < 2 * im->cap)
		im->nslots *= 2;
	im->slots = bl_xcalloc(im->nslots, sizeof(*im->slots));
	int rc = s->ops->import_mark_reset(s);
	int64_t max_id = 0;
	if (rc == 0)
		rc = s->ops->subscriber_max_id(s, &max_id);
	im->fresh = max_id == 0;
	if (rc)
		return bl_diag_set(d, -rc, "%s", bl_store_error(s));
	if (!o->list_slug)
		return 0;
	struct bl_list l;
	rc = s->ops->list_get(s, o->list_slug, &l);
	if (rc < 0)
		return bl_diag_set(d, -rc, "%s", bl_store_error(s));
	if (rc == 0 && o->voice == BL_IMPORT_VOICE_API)
		return bl_diag_set(d, BL_EINVAL,
		                   "No such list: %s; the `list` parameter names an existing list.",
		                   o->list_slug);
	if (rc == 0)
		return bl_diag_set(d, BL_EINVAL,
		                   "no list \"%s\"; create it with `bulletin list create %s --name "
		                   "NAME`",
		                   o->list_slug, o->list_slug);
	im->list_id = l.id;
	im->optin = l.optin;
	bl_list_clear(&l);
	return 0;
}

/* Roll back what is uncommitted and free everything. */
static void importer_finish(struct importer *im)
{
	struct bl_store *s = im->s;
	if (im->in_tx) {
		char msg[BL_DIAG_MAX];
		memcpy(msg, s->error, sizeof(msg));
		s->ops->rollback(s);
		memcpy(s->error, msg, sizeof(msg));
	}
	for (size_t i = 0; i < im->n; i++) {
		item_clear(&im->items[i]);
		bl_import_state_clear(&im->states[i]);
	}
	for (size_t i = 0; i < im->n_lists; i++)
		free(im->lists[i].slug);
	free(im->lists);
	free(im->items);
	free(im->states);
	free(im->changes);
	free(im->change_of);
	free(im->ranges);
	free(im->slots);
	free(im->source);
	bl_mapping_destroy(im->map);
}

int bl_import_one(struct bl_store *s, struct bl_import_row *row, const struct bl_import_opts *o,
                  struct bl_import_stats *st, struct bl_diag *d)
{
	struct importer im;
	int rc = importer_init(&im, s, NULL, o, st, d);
	if (rc == 0)
		rc = add_row(&im, row, NULL);
	if (rc == 0)
		rc = flush(&im);
	if (rc == 0)
		rc = commit_tx(&im);
	importer_finish(&im);
	bl_import_row_clear(row);
	return rc;
}

/*
 * Whether a seekable file is a plain address list: its first line that is
 * neither blank nor a "#" comment holds an '@' and is either a bare address
 * or "Name <address>" — not a CSV header or a CSV row. Restores the position.
 */
static int looks_plain(FILE *f)
{
	char line[4096];
	int plain = 0;
	while (fgets(line, sizeof(line), f)) {
		char *t = line;
		if ((unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
		    (unsigned char)t[2] == 0xBF)
			t += 3;
		size_t off, len = bl_trim_span(t, strcspn(t, "\r\n"), &off);
		t += off;
		if (len == 0 || t[0] == '#')
			continue;
		if (!memchr(t, '@', len))
			break;
		int angle = t[len - 1] == '>' && memchr(t, '<', len);
		int separated = memchr(t, ',', len) || memchr(t, ';', len) || memchr(t, '\t', len);
		plain = angle || !separated;
		break;
	}
	fseek(f, 0, SEEK_SET);
	return plain;
}

/*
 * A plain list of addresses, read line by line rather than as CSV: one
 * address or "Name <address>" per line; blank lines and "#" comments skipped.
 */
static int import_plain(struct importer *im, FILE *f)
{
	struct bl_csv_record none = {0};
	int rc = bl_mapping_create(&none, BL_FORMAT_PLAIN, im->o->voice, &im->map, im->d);
	if (rc)
		return rc;
	im->st->format = BL_FORMAT_PLAIN;
	if (!im->list_id)
		return bl_diag_set(im->d, BL_EINVAL, "%s", list_required(im->o->voice));
	struct bl_buf line;
	bl_buf_init(&line, BL_CSV_FIELD_MAX);
	size_t lineno = 0;
	while (rc == 0 && read_line(f, &line)) {
		lineno++;
		const char *t = bl_buf_str(&line);
		size_t len = line.len;
		if (lineno == 1 && len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0)
			t += 3, len -= 3;
		if (bl_buf_err(&line)) {
			im->st->rows++;
			row_error(im, lineno, "line longer than %d bytes", BL_CSV_FIELD_MAX);
			continue; /* read_line() consumed the whole line */
		}
		size_t bad;
		if (!bl_utf8_valid(t, len, &bad) || memchr(t, '\0', len)) {
			im->st->rows++;
			row_error(im, lineno, "not valid UTF-8 text (save the file as UTF-8)");
			continue;
		}
		const char *fields[1] = {t};
		size_t lens[1] = {len};
		struct bl_csv_record rec = {
		    .line = lineno, .nfields = 1, .fields = fields, .lens = lens};
		struct bl_import_row row = {0};
		struct bl_diag d;
		int m = bl_mapping_row(im->map, &rec, &row, &d);
		if (m == 1) {
			bl_import_row_clear(&row);
			continue;
		}
		rc = add_row(im, &row, NULL);
	}
	if (ferror(f))
		rc = bl_diag_set(im->d, BL_EIO, "reading %s failed", im->o->path);
	bl_buf_finish(&line);
	return rc ? rc : im->rc;
}

/* The first record's mapping, for bl_import_precheck. */
struct first_record {
	const struct bl_import_opts *o;
	struct bl_mapping *map;
	struct bl_diag *d;
	int rc;
};

static int on_first_record(void *arg, const struct bl_csv_record *rec)
{
	struct first_record *fr = arg;
	fr->rc = bl_mapping_create(rec, fr->o->format, fr->o->voice, &fr->map, fr->d);
	return 1; /* one record is all it takes */
}

int bl_import_precheck(const void *data, size_t len, const struct bl_import_opts *o,
                       const char **param, struct bl_diag *d)
{
	*param = NULL;
	if (len == 0)
		return bl_diag_set(d, BL_EINVAL, "the file is empty: no header and no rows");
	/* As bl_import_file: a '{' first (after a byte-order mark and blank space) is JSON. */
	const unsigned char *b = data;
	size_t i = len >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF ? 3 : 0;
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	if (i < len && b[i] == '{' &&
	    (o->format == BL_FORMAT_AUTO || o->format == BL_FORMAT_BULLETIN)) {
		if (!o->list_slug)
			return 0;
		*param = "list";
		return bl_diag_set(d, BL_EINVAL, "%s", list_not_for_json(o->voice));
	}
	FILE *f = fmemopen((void *)(uintptr_t)data, len, "rb");
	if (!f)
		return bl_diag_set(d, BL_EIO, "cannot read the upload: %s", strerror(errno));
	int rc = 0,
	    plain = o->format == BL_FORMAT_PLAIN || (o->format == BL_FORMAT_AUTO && looks_plain(f));
	int names_lists = 0;
	if (!plain) {
		struct first_record fr = {.o = o, .d = d};
		struct bl_csv_opts copts = {.delimiter = o->delimiter};
		char delim = 0;
		rc = bl_csv_read(f, &copts, on_first_record, &fr, &delim, d);
		if (rc == 1)
			rc = fr.rc;
		else if (rc == 0)
			rc = bl_diag_set(d, BL_EINVAL, "the file is empty: no header and no rows");
		else if (strncmp(d->msg, "line ", 5) == 0) {
			char msg[BL_DIAG_MAX];
			snprintf(msg, sizeof(msg), "the file, %.*s", (int)sizeof(msg) - 16, d->msg);
			memcpy(d->msg, msg, sizeof(msg));
		}
		names_lists = fr.map && bl_mapping_has_list_column(fr.map);
		bl_mapping_destroy(fr.map);
	}
	fclose(f);
	if (rc == 0 && !o->list_slug && !names_lists) {
		*param = "list";
		rc = bl_diag_set(d, BL_EINVAL, "%s", list_required(o->voice));
	}
	return rc;
}

int bl_import_file(struct bl_store *s, FILE *f, const struct bl_import_opts *o,
                   struct bl_import_stats *st, struct bl_diag *d)
{
	struct importer im;
	int rc = importer_init(&im, s, f, o, st, d);
	if (rc)
		goto out;
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
		im.total_bytes = (long long)sb.st_size;
		if ((rc = bl_csv_check_encoding(f, d)))
			goto out;
	}
	/*
	 * A bulletin JSON export starts with '{'. Peek at the first byte; a
	 * seekable file may have a byte-order mark and blank space first.
	 */
	int is_json = 0;
	if (im.total_bytes > 0) {
		unsigned char head[64];
		size_t n = fread(head, 1, sizeof(head), f), i = 0;
		if (n >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF)
			i = 3;
		while (i < n &&
		       (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
			i++;
		is_json = i < n && head[i] == '{';
		if (fseek(f, 0, SEEK_SET) != 0) {
			rc = bl_diag_set(d, BL_EIO, "cannot rewind %s: %s", o->path,
			                 strerror(errno));
			goto out;
		}
	} else {
		int c = getc(f);
		is_json = c == '{';
		if (c != EOF)
			ungetc(c, f);
	}

	if (is_json && (o->format == BL_FORMAT_AUTO || o->format == BL_FORMAT_BULLETIN)) {
		rc = import_json(&im, f);
	} else if (o->format == BL_FORMAT_PLAIN ||
	           (o->format == BL_FORMAT_AUTO && im.total_bytes > 0 && looks_plain(f))) {
		rc = import_plain(&im, f);
	} else {
		struct bl_csv_opts copts = {.delimiter = o->delimiter};
		rc = bl_csv_read(f, &copts, on_record, &im, &st->delimiter, d);
		if (rc == 0 && im.rc)
			rc = im.rc;
		/* The reader says "line N: ..."; say which file too. */
		if (rc && !im.rc && d && strncmp(d->msg, "line ", 5) == 0) {
			char msg[BL_DIAG_MAX];
			snprintf(msg, sizeof(msg), "%s:%s", o->path, d->msg + 5);
			memcpy(d->msg, msg, sizeof(msg));
		}
		if (rc == 0 && !im.map)
			rc = bl_diag_set(d, BL_EINVAL, "%s is empty: no header and no rows",
			                 o->path);
	}
	if (rc == 0)
		rc = flush(&im);
	if (rc == 0)
		rc = commit_tx(&im);
	progress(&im, 1);
out:
	importer_finish(&im);
	return rc;
}

static void on_add_error(void *arg, size_t line, const char *msg)
{
	struct bl_import_add_result *r = arg;
	(void)line;
	snprintf(r->error, sizeof(r->error), "%s", msg);
}

int bl_import_add(struct bl_store *s, const char *email, const char *name, const json_t *attributes,
                  const char *const *slugs, size_t n_slugs, const struct bl_import_opts *o,
                  struct bl_import_add_result *r, struct bl_diag *d)
{
	struct bl_address a;
	memset(r, 0, sizeof(*r));
	if (bl_address_parse(email, strlen(email), o->address_flags, &a, NULL, d)) {
		r->invalid = 1;
		snprintf(r->error, sizeof(r->error), "invalid address \"%.200s\": %.250s", email,
		         d->msg);
		return 0;
	}
	/* An erased address needs new consent. */
	char hash[BL_HASH_HEX];
	bl_suppression_hash(a.key, hash);
	struct bl_subscriber existing;
	int found = s->ops->subscriber_get(s, a.key, &existing);
	if (found > 0)
		bl_subscriber_clear(&existing);
	int sup = found == 0 ? s->ops->suppression_get(s, hash, &r->erased_at) : 0;
	if (found < 0 || sup < 0)
		return bl_diag_set(d, BL_ESTORE, "%s", bl_store_error(s));
	if (sup) {
		r->erased = 1;
		return 0;
	}
	size_t rounds = n_slugs ? n_slugs : 1;
	for (size_t i = 0; i < rounds; i++) {
		struct bl_import_row row = {
		    .line = 0,
		    .email = bl_xstrdup(email),
		    .name = bl_trim_dup(name ? name : ""),
		    .attributes =
		        json_is_object(attributes) ? json_deep_copy(attributes) : json_object(),
		};
		struct bl_import_opts one = *o;
		struct bl_import_stats st;
		one.list_slug = n_slugs ? slugs[i] : NULL;
		one.on_error = on_add_error;
		one.arg = r;
		int rc = bl_import_one(s, &row, &one, &st, d);
		if (rc)
			return rc;
		if (st.invalid) {
			r->invalid = 1;
			return 0;
		}
		r->imported += st.imported;
		r->updated += st.updated;
	}
	return 0;
}
