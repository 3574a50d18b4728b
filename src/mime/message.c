/*
 * One outgoing message; see message.h. GMime's encoders do the transfer
 * encoding of the two text parts (quoted-printable, or base64 when
 * g_mime_utils_best_encoding says so); the part headers, the boundary lines
 * of the multipart/alternative and the CRLF line ends are written here,
 * since building GMime objects per message cost as much again as the
 * encoding (62 against 29 us for 8 KB bodies). The header block is formatted
 * here (the date by GMime), because GMime 3.2's RFC 2047 encoder puts a
 * long run of non-ASCII text into one encoded word of any length (a CJK
 * subject gave 168-character words; a longer one passes 998 octets), its
 * default formatter 2047-encodes a long List-Unsubscribe (which must stay
 * a list of <URL>s), and a GMimeMessage's header list cost a quarter of
 * the build time. Addresses go out as bl_address_parse() normalises them
 * (domain as lowercase A-labels). GMime starts once per process.
 */
#include "mime/message.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/address.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define LINE_SOFT      78  /* RFC 5322 2.1.1: SHOULD */
#define LINE_HARD      998 /* RFC 5322 2.1.1: MUST */
#define EW_LINE        76  /* RFC 2047 2: a line holding an encoded word */
#define EW_MAX         75  /* RFC 2047 2: one encoded word */
#define NAME_PLAIN_MAX 900 /* name + address bytes above which an ASCII name is encoded */
#define MSGID_MAX      900 /* bytes of a Message-ID */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static GMimeFormatOptions *crlf_format;

static void init_gmime(void)
{
	g_mime_init();
	crlf_format = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(crlf_format, GMIME_NEWLINE_FORMAT_DOS);
}

void bl_mime_init(void)
{
	pthread_once(&init_once, init_gmime);
}

/* ---- input checks ------------------------------------------------------- */

/* Refuse CR and LF in a header-bound string (a NUL ends a C string: it cannot be in one). */
static int check_line(const char *field, const char *s, struct bl_diag *d)
{
	const char *p = strpbrk(s, "\r\n");
	if (p)
		return bl_diag_set(d, BL_EINVAL, "%s holds a %s at byte %zu", field,
		                   *p == '\r' ? "carriage return" : "line feed", (size_t)(p - s));
	return 0;
}

static int check_text(const char *field, const char *s, struct bl_diag *d)
{
	int rc = check_line(field, s, d);
	if (rc)
		return rc;
	size_t bad;
	if (!bl_utf8_valid(s, strlen(s), &bad))
		return bl_diag_set(d, BL_EINVAL, "%s is not UTF-8 (bad byte at offset %zu)", field,
		                   bad);
	return 0;
}

static int check_address(const char *field, const char *addr, struct bl_address *out,
                         struct bl_diag *d)
{
	if (!addr)
		return bl_diag_set(d, BL_EINVAL, "%s is missing", field);
	int rc = check_line(field, addr, d);
	if (rc)
		return rc;
	struct bl_diag why;
	if (bl_address_parse(addr, strlen(addr), 0, out, NULL, &why) < 0)
		return bl_diag_set(d, BL_EINVAL, "%s: %s", field, why.msg);
	return 0;
}

/* RFC 5322 3.2.3 atext. */
static int is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5322 3.6.4 msg-id without the brackets: dot-atom-text "@" (dot-atom-text / [dtext]). */
static int check_message_id(const char *id, struct bl_diag *d)
{
	if (!id || !*id)
		return bl_diag_set(d, BL_EINVAL, "message_id is missing");
	int rc = check_line("message_id", id, d);
	if (rc)
		return rc;
	size_t len = strlen(id);
	const char *at = strrchr(id, '@');
	if (len > MSGID_MAX)
		return bl_diag_set(d, BL_EINVAL, "message_id is %zu bytes; the limit is %d", len,
		                   MSGID_MAX);
	if (!at || at == id || !at[1])
		return bl_diag_set(d, BL_EINVAL, "message_id \"%s\" is not id-left@id-right", id);
	const char *right = at + 1;
	size_t rlen = strlen(right);
	int literal = right[0] == '[' && right[rlen - 1] == ']' && rlen >= 2;
	for (const char *p = id; *p; p++) {
		unsigned char c = (unsigned char)*p;
		int ok;
		if (p == at)
			ok = 1;
		else if (literal && p > at)
			ok = (p == right || p == right + rlen - 1) ||
			     (c >= 33 && c <= 126 && c != '[' && c != ']' && c != '\\');
		else
			ok = is_atext(c) || (c == '.' && p != id && p != right && p[-1] != '.' &&
			                     p[1] != '.' && p[1] != '@' && p[1] != '\0');
		if (!ok)
			return bl_diag_set(
			    d, BL_EINVAL,
			    "message_id \"%s\": byte %zu (0x%02X) is not allowed there", id,
			    (size_t)(p - id), c);
	}
	return 0;
}

/* Headers this module writes itself; an extra one by these names would be a duplicate. */
static int is_reserved(const char *name)
{
	static const char *const own[] = {"From", "To",         "Subject",
	                                  "Date", "Message-ID", "MIME-Version"};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcasecmp(name, own[i]) == 0)
			return 1;
	return strncasecmp(name, "Content-", 8) == 0;
}

static int check_header(const struct bl_header *h, size_t i, struct bl_diag *d)
{
	if (!h->name || !*h->name || !h->value)
		return bl_diag_set(d, BL_EINVAL, "extra header %zu has no name or no value", i);
	for (const char *p = h->name; *p; p++)
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126 || *p == ':')
			return bl_diag_set(
			    d, BL_EINVAL,
			    "header name \"%s\": byte 0x%02X is not allowed (RFC 5322 "
			    "2.2)",
			    h->name, (unsigned char)*p);
	if (strlen(h->name) > 76)
		return bl_diag_set(d, BL_EINVAL, "header name \"%s\" is too long", h->name);
	if (is_reserved(h->name))
		return bl_diag_set(d, BL_EINVAL,
		                   "header %s is written by the message builder itself", h->name);
	int rc = check_line(h->name, h->value, d);
	if (rc)
		return rc;
	for (const char *p = h->value; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 32 && c != '\t') || c > 126)
			return bl_diag_set(d, BL_EINVAL,
			                   "header %s: byte 0x%02X at %zu is not printable ASCII",
			                   h->name, c, (size_t)(p - h->value));
	}
	return 0;
}

/* ---- header values -------------------------------------------------------
 * Raw values as GMime stores them: what follows "Name:", each line ending
 * in "\n" (the CRLF format turns it into CRLF), folds as "\n" + WSP.
 */

/*
 * Append ASCII @v (no CR/LF) folded at its own whitespace so that lines
 * stay within LINE_SOFT columns where possible; @col is the column after
 * "Name:". Returns -1 when a word leaves a line longer than LINE_HARD.
 */
static int add_folded(GString *g, const char *v, size_t col)
{
	size_t n = strlen(v);
	if (n == 0) {
		g_string_append_c(g, '\n');
		return 0;
	}
	g_string_append_c(g, ' ');
	col++;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && (v[j] == ' ' || v[j] == '\t'))
			j++;
		size_t k = j;
		while (k < n && v[k] != ' ' && v[k] != '\t')
			k++;
		if (i > 0 && j > i && k > j && col + (k - i) > LINE_SOFT) {
			g_string_append_c(g, '\n'); /* the whitespace run starts the next line */
			col = 0;
		}
		g_string_append_len(g, v + i, (gssize)(k - i));
		col += k - i;
		if (col > LINE_HARD)
			return -1;
		i = k;
	}
	g_string_append_c(g, '\n');
	return 0;
}

/* RFC 2047 5(3): characters that stand for themselves in a Q-encoded phrase word. */
static int q_literal(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '!' || c == '*' || c == '+' || c == '-' || c == '/' || c == ' ';
}

/* Characters that @n bytes at @s take in a Q-encoded word. */
static size_t q_cost(const char *s, size_t n)
{
	size_t cost = 0;
	for (size_t k = 0; k < n; k++)
		cost += q_literal((unsigned char)s[k]) ? 1 : 3;
	return cost;
}

/*
 * Where the encoded word starting at @start ends: after the most whole code
 * points whose encoding fits in @payload characters (at least one). For B
 * encoding, *@even gets the last such end whose byte count is a multiple of
 * 3 (a word without "=" padding), or @start when there is none.
 */
static size_t word_end(const char *s, size_t len, size_t start, size_t payload, int b64,
                       size_t *even)
{
	size_t i = start, used = 0;
	*even = start;
	while (i < len) {
		uint32_t cp;
		size_t n = bl_utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0)
			n = 1; /* not reached: callers check UTF-8 */
		size_t total = b64 ? (i + n - start + 2) / 3 * 4 : used + q_cost(s + i, n);
		if (total > payload && i > start)
			break;
		used = total;
		i += n;
		if (b64 && (i - start) % 3 == 0)
			*even = i;
	}
	return i;
}

/*
 * Append UTF-8 @s (@len bytes) as RFC 2047 encoded words, charset UTF-8,
 * B or Q encoding, whichever is shorter for the whole text. Each word holds
 * whole code points, is at most EW_MAX characters and sits on a line of at
 * most EW_LINE; words are separated by folds, which decoders drop (RFC 2047
 * 6.2), so the text decodes back byte for byte. A B word other than the
 * last one carries no "=" padding: GMime's decoder joins adjacent B words
 * before decoding (to mend senders that split characters) and stops at the
 * first padding, losing the rest; where no padding-free cut keeps at least
 * half the word, that word is Q-encoded instead. @col is the column of the
 * first word; returns the column after the last.
 */
static size_t add_encoded_words(GString *g, const char *s, size_t len, size_t col)
{
	static const char hex[] = "0123456789ABCDEF";
	const size_t overhead = 12; /* "=?UTF-8?Q?" + "?=" */
	int b64 = (len + 2) / 3 * 4 < q_cost(s, len);
	if (col + 2 * overhead > EW_LINE) {
		g_string_append(g, "\n ");
		col = 1;
	}
	for (size_t start = 0; start < len;) {
		if (start > 0) {
			g_string_append(g, "\n ");
			col = 1;
		}
		size_t room = EW_LINE - col < EW_MAX ? EW_LINE - col : EW_MAX;
		size_t even, end = word_end(s, len, start, room - overhead, b64, &even);
		int word_b64 = b64;
		if (b64 && end < len) {
			if (even > start && (even - start) * 2 >= end - start) {
				end = even;
			} else {
				word_b64 = 0;
				end = word_end(s, len, start, room - overhead, 0, &even);
			}
		}
		g_string_append(g, word_b64 ? "=?UTF-8?B?" : "=?UTF-8?Q?");
		size_t before = g->len;
		if (word_b64) {
			gchar *enc = g_base64_encode((const guchar *)s + start, end - start);
			g_string_append(g, enc);
			g_free(enc);
		} else {
			for (size_t k = start; k < end; k++) {
				unsigned char c = (unsigned char)s[k];
				if (c == ' ') {
					g_string_append_c(g, '_');
				} else if (q_literal(c)) {
					g_string_append_c(g, (char)c);
				} else {
					g_string_append_c(g, '=');
					g_string_append_c(g, hex[c >> 4]);
					g_string_append_c(g, hex[c & 15]);
				}
			}
		}
		col += overhead + (g->len - before);
		g_string_append(g, "?=");
		start = end;
	}
	return col;
}

/* Whether @s could be read as holding an encoded word, so must not go out as it is. */
static int looks_encoded(const char *s)
{
	return strstr(s, "=?") != NULL;
}

/*
 * Subject (RFC 5322 3.6.5, unstructured): printable ASCII goes out as it
 * is, folded at its spaces; anything else — non-ASCII, control characters,
 * leading or trailing blanks, "=?", a word too long to fold — is encoded.
 */
static void format_subject(GString *g, const char *subject)
{
	size_t col = strlen("Subject:");
	size_t len = strlen(subject);
	int plain =
	    len > 0 && subject[0] != ' ' && subject[len - 1] != ' ' && !looks_encoded(subject);
	for (size_t i = 0; plain && i < len; i++)
		plain = (unsigned char)subject[i] >= 32 && (unsigned char)subject[i] <= 126;
	if (len == 0) {
		g_string_append_c(g, '\n');
		return;
	}
	if (plain) {
		size_t mark = g->len;
		if (add_folded(g, subject, col) == 0)
			return;
		g_string_truncate(g, mark);
	}
	g_string_append_c(g, ' ');
	add_encoded_words(g, subject, len, col + 1);
	g_string_append_c(g, '\n');
}

/*
 * One mailbox (RFC 5322 3.4): [display-name] <addr-spec>. The name goes out
 * as atoms when it is plain words, as a quoted-string (3.2.4) when it holds
 * specials, and as encoded words (RFC 2047 5(3)) when it is not printable
 * ASCII, contains "=?", or is too long for one line. Printable ASCII is
 * never encoded otherwise: a name that needs several encoded words comes
 * back from Python's email parser with spaces between them.
 */
static void format_mailbox(GString *g, const char *field, const char *name, const char *addr)
{
	size_t col = strlen(field) + 1;
	size_t len = strlen(name);
	if (len == 0) {
		g_string_append_printf(g, " %s\n", addr);
		return;
	}
	int printable = len + strlen(addr) <= NAME_PLAIN_MAX && !looks_encoded(name);
	int atoms = name[0] != ' ' && name[len - 1] != ' ' && !strstr(name, "  ");
	for (size_t i = 0; i < len && printable; i++) {
		unsigned char c = (unsigned char)name[i];
		printable = c >= 32 && c <= 126;
		atoms = atoms && (c == ' ' || is_atext(c));
	}
	g_string_append_c(g, ' ');
	col++;
	if (printable && atoms) {
		g_string_append(g, name);
		col += len;
	} else if (printable) {
		g_string_append_c(g, '"');
		col++;
		for (size_t i = 0; i < len; i++) {
			if (name[i] == '"' || name[i] == '\\') {
				g_string_append_c(g, '\\');
				col++;
			}
			g_string_append_c(g, name[i]);
			col++;
		}
		g_string_append_c(g, '"');
		col++;
	} else {
		col = add_encoded_words(g, name, len, col);
	}
	size_t alen = strlen(addr);
	if (col + 3 + alen > EW_LINE) {
		g_string_append(g, "\n <");
	} else {
		g_string_append(g, " <");
	}
	g_string_append(g, addr);
	g_string_append(g, ">\n");
}

/* ---- building ----------------------------------------------------------- */

static int add_crlf(struct bl_buf *out, const char *s, size_t len);

/*
 * Append to @out one text/SUBTYPE; charset=utf-8 part holding @s (@len
 * bytes), its MIME headers included, encoded by GMime's encoder (no GMime
 * objects: per-message object trees cost as much as the encoding itself).
 * Quoted-printable takes the text with LF line ends (the encoder writes each
 * LF as a hard line break, CRLF on the wire, and a stray CR as =0D); base64
 * takes its canonical form, CRLF (RFC 2046 4.1.1). Encoded lines are at most
 * 76 characters (RFC 2045 6.7, 6.8).
 */
static int add_part(struct bl_buf *out, const char *subtype, const char *s, size_t len,
                    int delimited)
{
	GMimeContentEncoding enc = g_mime_utils_best_encoding((const unsigned char *)s, len);
	int b64 = enc == GMIME_CONTENT_ENCODING_BASE64;
	struct bl_buf canon;
	size_t from = 0;
	bl_buf_init(&canon, SIZE_MAX / 4);
	/* Each line end as LF (QP) or CRLF (base64); a lone CR stays. */
	for (const char *p; (p = memchr(s + from, '\n', len - from)) != NULL;) {
		size_t at = (size_t)(p - s), end = at;
		if (end > from && s[end - 1] == '\r')
			end--;
		bl_buf_add(&canon, s + from, end - from);
		bl_buf_add(&canon, b64 ? "\r\n" : "\n", b64 ? 2 : 1);
		from = at + 1;
	}
	bl_buf_add(&canon, s + from, len - from);

	GMimeEncoding st;
	g_mime_encoding_init_encode(&st, b64 ? GMIME_CONTENT_ENCODING_BASE64
	                                     : GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	size_t cap = g_mime_encoding_outlen(&st, canon.len) + 16;
	char *encoded = bl_xmalloc(cap);
	size_t n = g_mime_encoding_flush(&st, canon.len ? canon.data : "", canon.len, encoded);
	bl_buf_finish(&canon);

	bl_buf_addf(out,
	            "Content-Type: text/%s; charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n\r\n",
	            subtype, b64 ? "base64" : "quoted-printable");
	int rc = add_crlf(out, encoded, n);
	/* A boundary delimiter begins with the CRLF before it (RFC 2046 5.1.1):
	 * one more line end, so the content's own last line end survives. */
	if (delimited || n == 0 || encoded[n - 1] != '\n')
		rc = bl_buf_add(out, "\r\n", 2);
	free(encoded);
	return rc;
}

static int check_spec(const struct bl_message_spec *m, struct bl_address *from,
                      struct bl_address *to, struct bl_diag *d)
{
	int rc;
	if ((rc = check_address("from_addr", m->from_addr, from, d)) ||
	    (rc = check_address("to_addr", m->to_addr, to, d)) ||
	    (rc = check_text("from_name", m->from_name ? m->from_name : "", d)) ||
	    (rc = check_text("to_name", m->to_name ? m->to_name : "", d)) ||
	    (rc = check_text("subject", m->subject ? m->subject : "", d)) ||
	    (rc = check_message_id(m->message_id, d)))
		return rc;
	/* GDateTime's range: years 1 to 9999. */
	if (m->date < -62135596800 || m->date > 253402300799)
		return bl_diag_set(d, BL_EINVAL, "date %lld is outside the years 1 to 9999",
		                   (long long)m->date);
	if (!m->text && m->text_len)
		return bl_diag_set(d, BL_EINVAL, "text is missing");
	if (!m->html && m->html_len)
		return bl_diag_set(d, BL_EINVAL, "html is NULL with html_len %zu", m->html_len);
	for (size_t i = 0; i < m->n_headers; i++)
		if ((rc = check_header(&m->headers[i], i, d)))
			return rc;
	return 0;
}

/* Append @s to @out with each LF as CRLF. */
static int add_crlf(struct bl_buf *out, const char *s, size_t len)
{
	size_t from = 0;
	for (const char *p; (p = memchr(s + from, '\n', len - from)) != NULL;) {
		size_t at = (size_t)(p - s);
		bl_buf_add(out, s + from, at - from);
		bl_buf_add(out, "\r\n", 2);
		from = at + 1;
	}
	return bl_buf_add(out, s + from, len - from);
}

int bl_message_build(const struct bl_message_spec *m, struct bl_buf *out, struct bl_diag *d)
{
	struct bl_address from, to;
	int rc = check_spec(m, &from, &to, d);
	if (rc)
		return rc;
	bl_mime_init();

	GString *head = g_string_sized_new(1024);
	g_string_append(head, "From:");
	format_mailbox(head, "From", m->from_name ? m->from_name : "", from.email);
	g_string_append(head, "To:");
	format_mailbox(head, "To", m->to_name ? m->to_name : "", to.email);
	g_string_append(head, "Subject:");
	format_subject(head, m->subject ? m->subject : "");
	GDateTime *dt = g_date_time_new_from_unix_utc(m->date);
	char *date = g_mime_utils_header_format_date(dt);
	g_date_time_unref(dt);
	g_string_append_printf(head, "Date: %s\nMessage-ID: <%s>\nMIME-Version: 1.0\n", date,
	                       m->message_id);
	g_free(date);
	for (size_t i = 0; i < m->n_headers && rc == 0; i++) {
		const struct bl_header *h = &m->headers[i];
		g_string_append(head, h->name);
		g_string_append_c(head, ':');
		if (add_folded(head, h->value, strlen(h->name) + 1) < 0)
			rc = bl_diag_set(d, BL_EINVAL,
			                 "header %s: a word is too long to fold within %d octets",
			                 h->name, LINE_HARD);
	}
	if (rc) {
		g_string_free(head, TRUE);
		return rc;
	}

	/* A boundary starting "=_" cannot occur in quoted-printable or base64. */
	char boundary[32];
	uint64_t hash = 1469598103934665603u;
	for (const char *p = m->message_id; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 1099511628211u;
	snprintf(boundary, sizeof(boundary), "=_bl_%016llx", (unsigned long long)hash);

	size_t mark = out->len;
	add_crlf(out, head->str, head->len);
	if (m->html) {
		bl_buf_addf(out,
		            "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n--%s\r\n",
		            boundary, boundary);
		add_part(out, "plain", m->text ? m->text : "", m->text_len, 1);
		bl_buf_addf(out, "--%s\r\n", boundary);
		add_part(out, "html", m->html, m->html_len, 1);
		bl_buf_addf(out, "--%s--\r\n", boundary);
	} else {
		add_part(out, "plain", m->text ? m->text : "", m->text_len, 0);
	}
	if (bl_buf_err(out) < 0) {
		rc = bl_diag_set(d, BL_ELIMIT,
		                 "the message does not fit the output buffer (%zu bytes)",
		                 out->max - mark);
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	g_string_free(head, TRUE);
	return rc;
}
