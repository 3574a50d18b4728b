/*
 * Header detection and record mapping for imports; see formats.h.
 *
 * Header names are compared after folding: ASCII letters lowercased and
 * everything but letters, digits and non-ASCII bytes dropped, so "E-Mail",
 * "email_address" and "Email Address" all reach the same table entries.
 * Each column gets one role; columns with no role become string attributes
 * named by their header text (empty values are left out).
 */
#include "import/formats.h"

#include "util/buf.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

enum role {
	R_ATTR, /* string attribute named by the header */
	R_EMAIL,
	R_NAME,
	R_FIRST,
	R_LAST,
	R_STATUS,           /* a status word: subscribed, unsubscribed, bounced, ... */
	R_GHOST_SUBSCRIBED, /* Ghost subscribed_to_emails: only "false" unsubscribes */
	R_GHOST_DISABLED,   /* Ghost email_disabled: "true" means undeliverable */
	R_UNSUB_AT,         /* non-empty: unsubscribed then (event) */
	R_CLEAN_AT,         /* non-empty: cleaned (hard-bounced) then (event) */
	R_OPTIN_AT,         /* signup time (event) */
	R_OPTIN_IP,
	R_CONFIRM_AT, /* confirmation time: evidence of double opt-in (event) */
	R_CONFIRM_IP,
	R_CREATED_AT,
	R_CREATED_OVERRIDE, /* beehiiv's "Subscription Date (Substack)": wins over created_at */
	R_ATTRS_JSON,       /* a JSON object of attributes (listmonk, bulletin) */
	R_TAGS,             /* Mailchimp TAGS: "\"a\",\"b\"" */
	/* bulletin's own export */
	R_LIST,
	R_SUB_STATUS_EXACT,
	R_MODE,
	R_SUBSCRIBER_STATUS,
	R_STATUS_REASON,
	R_SUBSCRIBED_AT,
};

struct bl_mapping {
	enum bl_format format;
	int has_header;
	size_t ncols;
	enum role *roles;
	char **names; /* header text, trimmed */
	int has_list;
};

static const char *const format_names[] = {
    [BL_FORMAT_AUTO] = "auto",           [BL_FORMAT_GENERIC] = "generic",
    [BL_FORMAT_PLAIN] = "plain",         [BL_FORMAT_BULLETIN] = "bulletin",
    [BL_FORMAT_MAILCHIMP] = "mailchimp", [BL_FORMAT_BEEHIIV] = "beehiiv",
    [BL_FORMAT_GHOST] = "ghost",         [BL_FORMAT_LISTMONK] = "listmonk",
    [BL_FORMAT_KEILA] = "keila",         [BL_FORMAT_MAILPOET] = "mailpoet",
};

#define NFORMATS (sizeof(format_names) / sizeof(format_names[0]))

const char *bl_format_name(enum bl_format f)
{
	return (size_t)f < NFORMATS ? format_names[f] : "?";
}

int bl_format_parse(const char *s, enum bl_format *out)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (strcmp(format_names[i], s) == 0) {
			*out = (enum bl_format)i;
			return 0;
		}
	}
	return -BL_EINVAL;
}

const char *bl_format_names(void)
{
	return "auto|generic|plain|bulletin|mailchimp|beehiiv|ghost|listmonk|keila|mailpoet";
}

/* Fold a header name for comparison (see the file comment). Caller frees. */
static char *fold(const char *s)
{
	size_t n = strlen(s);
	char *out = bl_xmalloc(n + 1), *p = out;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			*p++ = (char)(c + 32);
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)
			*p++ = (char)c;
	}
	*p = '\0';
	return out;
}

/* Folded header names and the role they get in every format. */
static const struct {
	const char *name;
	enum role role;
} common[] = {
    {"email", R_EMAIL},
    {"emailaddress", R_EMAIL},
    {"mail", R_EMAIL},
    {"emailadresse", R_EMAIL},
    {"deineemailadresse", R_EMAIL},
    {"subscriberemail", R_EMAIL},
    {"courriel", R_EMAIL},
    {"name", R_NAME},
    {"fullname", R_NAME},
    {"displayname", R_NAME},
    {"firstname", R_FIRST},
    {"fname", R_FIRST},
    {"givenname", R_FIRST},
    {"vorname", R_FIRST},
    {"lastname", R_LAST},
    {"lname", R_LAST},
    {"surname", R_LAST},
    {"familyname", R_LAST},
    {"nachname", R_LAST},
    {"status", R_STATUS},
    {"globalstatus", R_STATUS},
    {"liststatus", R_STATUS},
    {"subscribedtoemails", R_GHOST_SUBSCRIBED},
    {"emaildisabled", R_GHOST_DISABLED},
    {"unsubtime", R_UNSUB_AT},
    {"unsubscribedat", R_UNSUB_AT},
    {"cleantime", R_CLEAN_AT},
    {"optintime", R_OPTIN_AT},
    {"optinip", R_OPTIN_IP},
    {"confirmtime", R_CONFIRM_AT},
    {"confirmip", R_CONFIRM_IP},
    {"createdat", R_CREATED_AT},
    {"created", R_CREATED_AT},
    {"subscriptiondatesubstack", R_CREATED_OVERRIDE},
    {"attributes", R_ATTRS_JSON},
    {"attribs", R_ATTRS_JSON},
    {"tags", R_TAGS},
};

/* Roles of bulletin's own export, which override the common ones there. */
static const struct {
	const char *name;
	enum role role;
} bulletin_cols[] = {
    {"list", R_LIST},
    {"status", R_SUB_STATUS_EXACT},
    {"mode", R_MODE},
    {"subscriberstatus", R_SUBSCRIBER_STATUS},
    {"statusreason", R_STATUS_REASON},
    {"subscribedat", R_SUBSCRIBED_AT},
    {"createdat", R_CREATED_AT},
    {"attributes", R_ATTRS_JSON},
};

static int has(char **folded, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(folded[i], name) == 0)
			return 1;
	return 0;
}

static enum bl_format detect(char **f, size_t n)
{
	if (has(f, n, "subscriberstatus") && has(f, n, "mode") && has(f, n, "list"))
		return BL_FORMAT_BULLETIN;
	if (has(f, n, "memberrating") || has(f, n, "optintime") || has(f, n, "confirmtime") ||
	    has(f, n, "leid") || has(f, n, "euid"))
		return BL_FORMAT_MAILCHIMP;
	if (has(f, n, "subscribedtoemails"))
		return BL_FORMAT_GHOST;
	if (has(f, n, "status") && (has(f, n, "tier") || has(f, n, "unsubscribedat")))
		return BL_FORMAT_BEEHIIV;
	if (has(f, n, "globalstatus") || has(f, n, "liststatus"))
		return BL_FORMAT_MAILPOET;
	if (has(f, n, "attributes") || has(f, n, "attribs"))
		return BL_FORMAT_LISTMONK;
	/* Keila: Email, First name, Last name, Status, Data (JSON). */
	if (has(f, n, "status") && has(f, n, "firstname") && has(f, n, "lastname") && n <= 5)
		return BL_FORMAT_KEILA;
	return BL_FORMAT_GENERIC;
}

static int looks_like_address(const struct bl_csv_record *r)
{
	if (r->nfields == 0)
		return 0;
	for (size_t i = 0; i < r->nfields; i++)
		if (strchr(r->fields[i], '@'))
			return 1;
	return 0;
}

void bl_mapping_destroy(struct bl_mapping *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ncols; i++)
		free(m->names[i]);
	free(m->names);
	free(m->roles);
	free(m);
}

int bl_mapping_create(const struct bl_csv_record *first, enum bl_format forced,
                      enum bl_import_voice voice, struct bl_mapping **out, struct bl_diag *d)
{
	struct bl_mapping *m = bl_xcalloc(1, sizeof(*m));
	if (forced == BL_FORMAT_PLAIN) {
		m->format = BL_FORMAT_PLAIN;
		*out = m;
		return 0;
	}
	size_t n = first->nfields;
	char **folded = bl_xcalloc(n, sizeof(*folded));
	for (size_t i = 0; i < n; i++)
		folded[i] = fold(first->fields[i]);
	m->format = forced == BL_FORMAT_AUTO ? detect(folded, n) : forced;
	m->has_header = 1;
	m->ncols = n;
	m->roles = bl_xcalloc(n, sizeof(*m->roles));
	m->names = bl_xcalloc(n, sizeof(*m->names));
	int emails = 0;
	for (size_t i = 0; i < n; i++) {
		m->names[i] = bl_trim_dup(first->fields[i]);
		enum role r = R_ATTR;
		int found = 0;
		if (m->format == BL_FORMAT_BULLETIN) {
			for (size_t k = 0; k < sizeof(bulletin_cols) / sizeof(bulletin_cols[0]);
			     k++)
				if (strcmp(bulletin_cols[k].name, folded[i]) == 0) {
					r = bulletin_cols[k].role;
					found = 1;
				}
		}
		for (size_t k = 0; !found && k < sizeof(common) / sizeof(common[0]); k++)
			if (strcmp(common[k].name, folded[i]) == 0) {
				r = common[k].role;
				found = 1;
			}
		/* Only the first email column is the address; later ones are attributes. */
		if (r == R_EMAIL && emails++)
			r = R_ATTR;
		if (r == R_LIST)
			m->has_list = 1;
		m->roles[i] = r;
	}
	for (size_t i = 0; i < n; i++)
		free(folded[i]);
	free(folded);
	if (emails)
		goto ok;
	if (forced == BL_FORMAT_AUTO && looks_like_address(first)) {
		/* No header at all: a plain list of addresses (Medium, Mailman, ...). */
		for (size_t i = 0; i < m->ncols; i++)
			free(m->names[i]);
		free(m->names);
		free(m->roles);
		memset(m, 0, sizeof(*m));
		m->format = BL_FORMAT_PLAIN;
		goto ok;
	}
	bl_mapping_destroy(m);
	for (size_t i = 0; i < first->nfields; i++)
		if (strchr(first->fields[i], '|'))
			return bl_diag_set(d, BL_EINVAL,
			                   "no email column in the header; the header holds '|': "
			                   "is the delimiter '|'? try %s",
			                   voice == BL_IMPORT_VOICE_API
			                       ? "the `delimiter` parameter |"
			                       : "--delimiter '|'");
	return bl_diag_set(d, BL_EINVAL,
	                   "no email column in the header (recognised names: email, e-mail, "
	                   "email address, mail, ...); for a file with one address per line "
	                   "and no header use %s",
	                   voice == BL_IMPORT_VOICE_API ? "the `format` parameter plain"
	                                                : "--from-format plain");
ok:
	*out = m;
	return 0;
}

enum bl_format bl_mapping_format(const struct bl_mapping *m)
{
	return m->format;
}

int bl_mapping_has_header(const struct bl_mapping *m)
{
	return m->has_header;
}

int bl_mapping_has_list_column(const struct bl_mapping *m)
{
	return m->has_list;
}

void bl_import_row_clear(struct bl_import_row *row)
{
	if (!row)
		return;
	free(row->email);
	free(row->name);
	json_decref(row->attributes);
	free(row->list);
	free(row->status_reason);
	for (size_t i = 0; i < row->n_events; i++)
		free(row->events[i].ip);
	memset(row, 0, sizeof(*row));
}

char *bl_clean_text(const char *s, size_t max)
{
	char *t = bl_trim_dup(s);
	for (char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	size_t len = strlen(t);
	if (len > max) {
		/* Cut at a character boundary. */
		len = max;
		while (len > 0 && ((unsigned char)t[len] & 0xC0) == 0x80)
			len--;
		t[len] = '\0';
	}
	return t;
}

/* Map a status word onto a row status; -1 when unknown. */
static int status_word(const char *word, const char **reason)
{
	static const struct {
		const char *word;
		enum bl_row_status status;
	} words[] = {
	    {"", BL_ROW_DEFAULT},
	    {"subscribed", BL_ROW_SUBSCRIBED},
	    {"active", BL_ROW_SUBSCRIBED},
	    {"enabled", BL_ROW_SUBSCRIBED},
	    {"optedin", BL_ROW_SUBSCRIBED},
	    {"optin", BL_ROW_SUBSCRIBED},
	    {"subscriber", BL_ROW_SUBSCRIBED},
	    {"confirmed", BL_ROW_CONFIRMED},
	    {"unconfirmed", BL_ROW_UNCONFIRMED},
	    {"pending", BL_ROW_UNCONFIRMED},
	    {"notconfirmed", BL_ROW_UNCONFIRMED},
	    {"unsubscribed", BL_ROW_UNSUBSCRIBED},
	    {"inactive", BL_ROW_UNSUBSCRIBED},
	    {"optedout", BL_ROW_UNSUBSCRIBED},
	    {"optout", BL_ROW_UNSUBSCRIBED},
	    {"disabled", BL_ROW_UNSUBSCRIBED},
	    {"bounced", BL_ROW_BOUNCED},
	    {"cleaned", BL_ROW_BOUNCED},
	    {"unreachable", BL_ROW_BOUNCED},
	    {"blocklisted", BL_ROW_BOUNCED},
	    {"blacklisted", BL_ROW_BOUNCED},
	    {"blocked", BL_ROW_BOUNCED},
	    {"complained", BL_ROW_BOUNCED},
	    {"spam", BL_ROW_BOUNCED},
	};
	char *f = fold(word);
	int out = -1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(words[i].word, f) == 0) {
			out = (int)words[i].status;
			if (reason)
				*reason = words[i].word;
			break;
		}
	}
	free(f);
	return out;
}

static void raise_status(struct bl_import_row *row, enum bl_row_status s)
{
	if (s > row->status)
		row->status = s;
}

static int truthy(const char *v)
{
	char *f = fold(v);
	int t = strcmp(f, "true") == 0 || strcmp(f, "yes") == 0 || strcmp(f, "1") == 0;
	free(f);
	return t;
}

static int add_event(struct bl_import_row *row, enum bl_consent_kind kind, int64_t at,
                     const char *ip)
{
	if (row->n_events >= BL_ROW_MAX_EVENTS)
		return 0;
	row->events[row->n_events].kind = kind;
	row->events[row->n_events].at = at;
	row->events[row->n_events].ip = bl_xstrdup(ip ? ip : "");
	row->n_events++;
	return 0;
}

/* Mailchimp TAGS: '"Lorem Editors"' or '"a","b"' -> "Lorem Editors" / "a, b". */
static char *clean_tags(const char *v)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	const char *p = v;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *start, *end;
		if (*p == '"') {
			start = ++p;
			end = strchr(p, '"');
			if (!end)
				end = p + strlen(p);
			p = *end ? end + 1 : end;
		} else {
			start = p;
			end = strchr(p, ',');
			if (!end)
				end = p + strlen(p);
			p = end;
		}
		size_t off, len = bl_trim_span(start, (size_t)(end - start), &off);
		if (len) {
			if (b.len)
				bl_buf_adds(&b, ", ");
			bl_buf_add(&b, start + off, len);
		}
	}
	return bl_buf_take(&b);
}

static int parse_time(const char *v, const char *col, int64_t *out, struct bl_diag *d)
{
	char *t = bl_trim_dup(v);
	int rc = bl_time_parse(t, out);
	if (rc)
		bl_diag_set(
		    d, BL_EINVAL,
		    "bad time \"%s\" in column \"%s\" (expected e.g. 2024-03-13 11:33:53 or "
		    "2024-03-13T11:33:53Z)",
		    t, col);
	free(t);
	return rc ? -BL_EINVAL : 0;
}

static int map_plain(const struct bl_csv_record *rec, struct bl_import_row *row)
{
	/* The CSV reader may have split "Doe, Jane <jane@example.org>" at commas. */
	struct bl_buf line;
	bl_buf_init(&line, 0);
	for (size_t i = 0; i < rec->nfields; i++) {
		if (i)
			bl_buf_addc(&line, ',');
		bl_buf_adds(&line, rec->fields[i]);
	}
	char *text = bl_trim_dup(bl_buf_str(&line));
	bl_buf_finish(&line);
	if (!*text || text[0] == '#') {
		free(text);
		return 1;
	}
	char *lt = strrchr(text, '<');
	size_t len = strlen(text);
	if (lt && text[len - 1] == '>') {
		text[len - 1] = '\0';
		row->email = bl_xstrdup(lt + 1);
		*lt = '\0';
		char *name = bl_trim_dup(text);
		size_t nl = strlen(name);
		if (nl >= 2 && name[0] == '"' && name[nl - 1] == '"') {
			name[nl - 1] = '\0';
			memmove(name, name + 1, nl - 1);
		}
		row->name = bl_clean_text(name, BL_NAME_MAX);
		free(name);
	} else {
		row->email = bl_xstrdup(text);
		row->name = bl_xstrdup("");
	}
	free(text);
	row->attributes = json_object();
	return 0;
}

int bl_mapping_row(const struct bl_mapping *m, const struct bl_csv_record *rec,
                   struct bl_import_row *row, struct bl_diag *d)
{
	row->line = rec->line;
	if (m->format == BL_FORMAT_PLAIN)
		return map_plain(rec, row);
	if (rec->nfields != m->ncols)
		return bl_diag_set(d, BL_EINVAL, "has %zu field%s; the header has %zu",
		                   rec->nfields, rec->nfields == 1 ? "" : "s", m->ncols);
	row->attributes = json_object();
	const char *first = "", *last = "", *optin_ip = "", *confirm_ip = "";
	int64_t optin_at = 0, confirm_at = 0, unsub_at = 0, clean_at = 0, created_override = 0;
	int exact_status = -1;
	for (size_t i = 0; i < m->ncols; i++) {
		const char *v = rec->fields[i];
		const char *col = m->names[i];
		int64_t t;
		const char *reason = NULL;
		int st;
		switch (m->roles[i]) {
		case R_EMAIL:
			row->email = bl_xstrdup(v);
			break;
		case R_NAME:
			free(row->name);
			row->name = bl_clean_text(v, BL_NAME_MAX);
			break;
		case R_FIRST:
			first = v;
			break;
		case R_LAST:
			last = v;
			break;
		case R_STATUS:
			st = status_word(v, &reason);
			if (st < 0)
				return bl_diag_set(
				    d, BL_EINVAL,
				    "unknown status \"%s\" in column \"%s\" (known: "
				    "subscribed, active, confirmed, unconfirmed, pending, "
				    "unsubscribed, inactive, bounced, cleaned, unreachable, "
				    "blocklisted; or leave it empty)",
				    v, col);
			raise_status(row, (enum bl_row_status)st);
			if (st == BL_ROW_BOUNCED && !row->status_reason)
				row->status_reason = bl_xstrdup(reason);
			break;
		case R_GHOST_SUBSCRIBED: {
			char *f = fold(v);
			if (strcmp(f, "false") == 0)
				raise_status(row, BL_ROW_UNSUBSCRIBED);
			free(f);
			break;
		}
		case R_GHOST_DISABLED:
			if (truthy(v)) {
				raise_status(row, BL_ROW_BOUNCED);
				if (!row->status_reason)
					row->status_reason = bl_xstrdup("email disabled");
			}
			break;
		case R_UNSUB_AT:
		case R_CLEAN_AT:
		case R_OPTIN_AT:
		case R_CONFIRM_AT:
		case R_CREATED_AT:
		case R_CREATED_OVERRIDE:
		case R_SUBSCRIBED_AT: {
			size_t off;
			if (bl_trim_span(v, strlen(v), &off) == 0)
				break;
			if (parse_time(v, col, &t, d))
				return -BL_EINVAL;
			enum role r = m->roles[i];
			if (r == R_UNSUB_AT)
				unsub_at = t;
			else if (r == R_CLEAN_AT)
				clean_at = t;
			else if (r == R_OPTIN_AT)
				optin_at = t;
			else if (r == R_CONFIRM_AT)
				confirm_at = t;
			else if (r == R_CREATED_AT)
				row->created_at = t;
			else if (r == R_CREATED_OVERRIDE)
				created_override = t;
			else
				row->subscribed_at = t;
			break;
		}
		case R_OPTIN_IP:
			optin_ip = v;
			break;
		case R_CONFIRM_IP:
			confirm_ip = v;
			break;
		case R_ATTRS_JSON: {
			size_t off;
			if (bl_trim_span(v, strlen(v), &off) == 0)
				break;
			json_error_t err;
			json_t *obj = json_loads(v, JSON_REJECT_DUPLICATES, &err);
			if (!obj || !json_is_object(obj)) {
				json_decref(obj);
				return bl_diag_set(d, BL_EINVAL,
				                   "column \"%s\" is not a JSON object (%s)", col,
				                   obj ? "found another JSON value" : err.text);
			}
			json_object_update(row->attributes, obj);
			json_decref(obj);
			break;
		}
		case R_TAGS: {
			char *tags = clean_tags(v);
			if (*tags)
				json_object_set_new(row->attributes, col, json_string(tags));
			free(tags);
			break;
		}
		case R_LIST: {
			char *slug = bl_trim_dup(v);
			if (*slug) {
				free(row->list);
				row->list = slug;
			} else {
				free(slug);
			}
			break;
		}
		case R_SUB_STATUS_EXACT: {
			enum bl_sub_status s;
			size_t off;
			if (bl_trim_span(v, strlen(v), &off) == 0)
				break;
			if (bl_sub_status_parse(v, &s))
				return bl_diag_set(d, BL_EINVAL,
				                   "unknown status \"%s\" (expected unconfirmed, "
				                   "confirmed or unsubscribed)",
				                   v);
			exact_status = (int)s;
			break;
		}
		case R_MODE: {
			size_t off;
			if (bl_trim_span(v, strlen(v), &off) == 0)
				break;
			if (bl_mode_parse(v, &row->mode))
				return bl_diag_set(
				    d, BL_EINVAL,
				    "unknown mode \"%s\" (expected instant, daily or "
				    "weekly)",
				    v);
			break;
		}
		case R_SUBSCRIBER_STATUS: {
			enum bl_subscriber_status s = BL_SUBSCRIBER_ACTIVE;
			size_t off;
			if (bl_trim_span(v, strlen(v), &off) && bl_subscriber_status_parse(v, &s))
				return bl_diag_set(
				    d, BL_EINVAL,
				    "unknown subscriber status \"%s\" (expected active "
				    "or blocklisted)",
				    v);
			row->blocklisted = s == BL_SUBSCRIBER_BLOCKLISTED;
			break;
		}
		case R_STATUS_REASON:
			free(row->status_reason);
			row->status_reason = bl_clean_text(v, 200);
			break;
		case R_ATTR: {
			size_t off;
			if (bl_trim_span(v, strlen(v), &off) == 0 || !*col)
				break;
			json_object_set_new(row->attributes, col, json_string(v));
			break;
		}
		}
	}
	if (!row->name) {
		char *f = bl_clean_text(first, BL_NAME_MAX), *l = bl_clean_text(last, BL_NAME_MAX);
		struct bl_buf b;
		bl_buf_init(&b, 0);
		bl_buf_adds(&b, f);
		if (*f && *l)
			bl_buf_addc(&b, ' ');
		bl_buf_adds(&b, l);
		free(f);
		free(l);
		char *joined = bl_buf_take(&b);
		row->name = bl_clean_text(joined, BL_NAME_MAX);
		free(joined);
	}
	if (!row->email)
		row->email = bl_xstrdup("");
	if (created_override)
		row->created_at = created_override;

	if (m->format == BL_FORMAT_BULLETIN) {
		row->exact = 1;
		if (exact_status >= 0) {
			row->sub_status = (enum bl_sub_status)exact_status;
			row->status = exact_status == BL_SUB_CONFIRMED     ? BL_ROW_CONFIRMED
			              : exact_status == BL_SUB_UNCONFIRMED ? BL_ROW_UNCONFIRMED
			                                                   : BL_ROW_UNSUBSCRIBED;
		}
		if (row->blocklisted && !row->status_reason)
			row->status_reason = bl_xstrdup("blocklisted");
		if (!row->status_reason)
			row->status_reason = bl_xstrdup("");
		return 0;
	}

	/* Consent evidence from the file, oldest first. */
	if (optin_at)
		add_event(row, BL_CONSENT_SIGNUP, optin_at, optin_ip);
	if (confirm_at) {
		add_event(row, BL_CONSENT_CONFIRM, confirm_at, confirm_ip);
		raise_status(row, BL_ROW_CONFIRMED);
	}
	if (unsub_at) {
		add_event(row, BL_CONSENT_UNSUBSCRIBE, unsub_at, "");
		raise_status(row, BL_ROW_UNSUBSCRIBED);
	}
	if (clean_at) {
		add_event(row, BL_CONSENT_BLOCKLIST, clean_at, "");
		raise_status(row, BL_ROW_BOUNCED);
		if (!row->status_reason)
			row->status_reason = bl_xstrdup("cleaned");
	}
	if (!row->created_at)
		row->created_at = optin_at ? optin_at : confirm_at;
	return 0;
}
