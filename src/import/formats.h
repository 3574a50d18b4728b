/*
 * Import formats: how the columns of a CSV header map onto bulletin's
 * subscriber model. Knows the exports of the tools people move from
 * (Mailchimp, beehiiv, Ghost, listmonk, Keila, MailPoet, Medium's plain
 * address list) and bulletin's own export, detects which one a header is,
 * and turns each record into a struct bl_import_row. Status columns map
 * onto subscription statuses so that unsubscribed, cleaned or bounced rows
 * never come out confirmed; consent columns (opt-in and confirmation times
 * and IPs) become consent events. Pure: no I/O, no database.
 */
#ifndef BL_IMPORT_FORMATS_H
#define BL_IMPORT_FORMATS_H

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "import/csv.h"
#include "util/err.h"

enum bl_format {
	BL_FORMAT_AUTO,
	BL_FORMAT_GENERIC,   /* any CSV with an email column */
	BL_FORMAT_PLAIN,     /* no header: one address (or "Name <address>") per line */
	BL_FORMAT_BULLETIN,  /* bulletin's own CSV export: restored exactly */
	BL_FORMAT_MAILCHIMP, /* audience export (subscribed / unsubscribed / cleaned) */
	BL_FORMAT_BEEHIIV,
	BL_FORMAT_GHOST,
	BL_FORMAT_LISTMONK,
	BL_FORMAT_KEILA,
	BL_FORMAT_MAILPOET,
};

/* bl_format_name - "auto", "generic", "plain", "bulletin", "mailchimp", ... */
const char *bl_format_name(enum bl_format f);
/* bl_format_parse - name to value; 0 or -BL_EINVAL. */
int bl_format_parse(const char *s, enum bl_format *out);
/* bl_format_names - every name, '|'-separated, for help texts. */
const char *bl_format_names(void);

/* What a row says about the subscription, from weakest to strongest. */
enum bl_row_status {
	BL_ROW_DEFAULT,      /* no status: --confirmed or the list's opt-in decides */
	BL_ROW_SUBSCRIBED,   /* an explicit "subscribed/active" without proof of confirmation */
	BL_ROW_CONFIRMED,    /* confirmed, with evidence (a confirmation time) or exact */
	BL_ROW_UNCONFIRMED,  /* pending double opt-in */
	BL_ROW_UNSUBSCRIBED, /* left the list */
	BL_ROW_BOUNCED,      /* cleaned / bounced / unreachable: the address is blocklisted */
};

#define BL_ROW_MAX_EVENTS 3

/* One record mapped onto the model. Strings and the JSON object are owned by the row. */
struct bl_import_row {
	size_t line;        /* physical line in the file */
	char *email;        /* as written, not yet validated */
	char *name;         /* "" when none; control characters replaced by spaces */
	json_t *attributes; /* object of extra columns; never NULL after mapping */
	enum bl_row_status status;
	char *list;                    /* list slug from a `list` column, or NULL */
	int exact;                     /* bulletin format: statuses and mode restored verbatim */
	enum bl_sub_status sub_status; /* exact: the subscription status */
	enum bl_mode mode;             /* exact: the delivery mode */
	int blocklisted;               /* exact: subscriber status */
	char *status_reason;           /* exact or BOUNCED: why blocklisted */
	int64_t created_at;            /* subscriber creation time from the file; 0 = now */
	int64_t subscribed_at; /* subscription creation time from the file; 0 = created_at */
	size_t n_events;       /* evidence events from consent columns */
	struct {
		enum bl_consent_kind kind;
		int64_t at;
		char *ip;
	} events[BL_ROW_MAX_EVENTS];
};

/* bl_import_row_clear - free what @row holds and zero it; NULL-safe. */
void bl_import_row_clear(struct bl_import_row *row);

struct bl_mapping;

/*
 * Whom an import's messages speak to: a person at the command line (they
 * name its flags: --list, --delimiter, --from-format) or a client of the
 * API and the admin UI (they name the upload's parameters: `list`,
 * `delimiter`, `format`). Zero is the command line.
 */
enum bl_import_voice {
	BL_IMPORT_VOICE_CLI,
	BL_IMPORT_VOICE_API,
};

/*
 * bl_clean_text - a copy of @s trimmed of ASCII whitespace, with control
 * characters replaced by spaces and cut to at most @max bytes at a
 * character boundary. Caller frees. For names, which end up in mail headers.
 */
char *bl_clean_text(const char *s, size_t max);

/*
 * bl_mapping_create - build the mapping for a file from its first record
 * @first. With @forced == BL_FORMAT_AUTO the format is detected from the
 * header names (falling back to PLAIN when @first is a single field that
 * holds an '@' and no known header). Returns 0 with *@out set (free with
 * bl_mapping_destroy), or -BL_EINVAL when no email column can be found,
 * with @d listing the header names that would have been recognised and
 * the setting to change, named for @voice.
 */
int bl_mapping_create(const struct bl_csv_record *first, enum bl_format forced,
                      enum bl_import_voice voice, struct bl_mapping **out, struct bl_diag *d);

/* bl_mapping_destroy - free @m; NULL-safe. */
void bl_mapping_destroy(struct bl_mapping *m);

/* bl_mapping_format - the format in use (detected or forced). */
enum bl_format bl_mapping_format(const struct bl_mapping *m);

/* bl_mapping_has_header - 0 for PLAIN: the first record is data too. */
int bl_mapping_has_header(const struct bl_mapping *m);

/* bl_mapping_has_list_column - 1 when rows name their own list (bulletin format). */
int bl_mapping_has_list_column(const struct bl_mapping *m);

/*
 * bl_mapping_row - map data record @rec into @row (zeroed by the caller or
 * cleared). Returns 0; 1 when the record is to be ignored silently (a
 * blank line in a plain list); -BL_EINVAL for a bad record (wrong number of
 * fields, attributes that are not a JSON object, an unknown status word, a
 * bad time) with @d saying what, without the line number (the caller adds it).
 */
int bl_mapping_row(const struct bl_mapping *m, const struct bl_csv_record *rec,
                   struct bl_import_row *row, struct bl_diag *d);

#endif
