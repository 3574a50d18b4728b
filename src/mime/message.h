/*
 * Building one outgoing message (RFC 5322 + MIME, RFC 2045-2049) with
 * GMime 3: the only module that includes gmime.h. The result is CRLF-only
 * bytes ready for SMTP DATA (not dot-stuffed: the transport does that) or a
 * maildir file. Bodies are quoted-printable (or base64 when that is
 * shorter) so that no line exceeds 998 octets (RFC 5322 2.1.1); header
 * text that is not ASCII is RFC 2047-encoded (UTF-8, encoded words of at
 * most 75 characters, never splitting a UTF-8 sequence).
 */
#ifndef BL_MIME_MESSAGE_H
#define BL_MIME_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* bl_mime_init - start GMime once per process (idempotent, thread-safe). */
void bl_mime_init(void);

/* One extra header, name and value as they go out (value ASCII, no CR/LF). */
struct bl_header {
	const char *name, *value;
};

struct bl_message_spec {
	const char *from_name; /* display name, UTF-8, may be "" */
	const char *from_addr; /* addr-spec, ASCII (IDNA A-label domain) */
	const char *to_name;
	const char *to_addr;
	const char *subject;    /* UTF-8 */
	int64_t date;           /* seconds since the epoch; rendered in UTC (+0000) */
	const char *message_id; /* without angle brackets: "id-left@id-right" */
	const char *html;       /* HTML part, UTF-8, LF or CRLF line ends; NULL for none */
	size_t html_len;
	const char *text; /* plain-text part, UTF-8, LF or CRLF line ends */
	size_t text_len;
	const struct bl_header *headers; /* extra headers in this order (List-Id, ...) */
	size_t n_headers;
};

/*
 * bl_message_build - append the whole message described by @m to @out:
 * From, To (display names quoted as RFC 5322 3.2.4 requires, 2047-encoded
 * when not ASCII), Subject, Date (RFC 5322 3.3), Message-ID, MIME-Version,
 * the extra headers, then multipart/alternative (text/plain then text/html,
 * both charset=utf-8) or a single text/plain part when @m->html is NULL.
 * Returns 0; -BL_EINVAL when a header-bound input holds CR, LF or NUL or an
 * address is malformed (@d says which); -BL_ELIMIT when @out's bound is hit.
 */
int bl_message_build(const struct bl_message_spec *m, struct bl_buf *out, struct bl_diag *d);

#endif
