/*
 * Tests of the message builder (src/mime/message.c): messages with ASCII
 * and non-ASCII names and subjects (Greek, CJK, emoji, quotes and commas,
 * long and unfoldable ones) are built, checked byte by byte (CRLF only, no
 * line over 998 octets, encoded words of at most 75 characters that each
 * decode to UTF-8 on lines of at most 76, legal folding), parsed back with
 * GMime's parser (every header and body byte-exact, the multipart shape),
 * and, where /usr/bin/python3 exists, parsed by Python's email package
 * with policy=strict. Then the refusals, the size bound and a speed probe.
 * Table-driven; each failure prints got/want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <gmime/gmime.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mime/message.h"
#include "util/buf.h"
#include "util/utf8.h"

#define DATE 1796000000 /* Mon, 30 Nov 2026 00:53:20 +0000 */

static const struct bl_header list_headers[] = {
    {"List-Id", "Example News <news.example.com>"},
    {"List-Unsubscribe",
     "<https://news.example.com/unsubscribe/"
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef?list=weekly-digest>, "
     "<mailto:unsubscribe+0123456789abcdef0123456789abcdef0123456789abcdef@news.example.com>"},
    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
    {"X-Campaign", "weekly   spaced\tvalue"},
};

/* ---- raw checks on the bytes --------------------------------------------- */

static int fails;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error(__VA_ARGS__);                                                  \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

/* Decode the encoded-text of one RFC 2047 word; NULL when malformed. */
static char *decode_word(char enc, const char *text, size_t len, size_t *out_len)
{
	if (enc == 'B' || enc == 'b') {
		char *copy = g_strndup(text, len);
		gsize n;
		guchar *bin = g_base64_decode(copy, &n);
		g_free(copy);
		char *out = malloc(n + 1);
		memcpy(out, bin, n);
		out[n] = '\0';
		g_free(bin);
		*out_len = n;
		return out;
	}
	char *out = malloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '_') {
			out[o++] = ' ';
		} else if (text[i] == '=' && i + 2 < len && g_ascii_isxdigit(text[i + 1]) &&
		           g_ascii_isxdigit(text[i + 2])) {
			out[o++] = (char)(g_ascii_xdigit_value(text[i + 1]) * 16 +
			                  g_ascii_xdigit_value(text[i + 2]));
			i += 2;
		} else if (text[i] == '=' || text[i] == '?' || (unsigned char)text[i] > 126) {
			free(out);
			return NULL;
		} else {
			out[o++] = text[i];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/*
 * The wire form: CRLF only, lines of at most 998 octets, headers folded
 * legally (a continuation line starts with WSP and is not all WSP), encoded
 * words well-formed, at most 75 characters, each decoding to UTF-8, on lines
 * of at most 76. Returns the number of encoded words seen.
 */
static int check_wire(const char *what, const char *msg, size_t len)
{
	CHECK(memchr(msg, '\0', len) == NULL, "%s: NUL byte in the message\n", what);
	int in_head = 1, words = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - msg) : len;
		CHECK(nl != NULL, "%s: the message does not end with CRLF\n", what);
		CHECK(end > i && msg[end - 1] == '\r', "%s: bare LF at byte %zu\n", what, end);
		size_t line_len = end > i && msg[end - 1] == '\r' ? end - 1 - i : end - i;
		const char *line = msg + i;
		CHECK(memchr(line, '\r', line_len) == NULL, "%s: bare CR in line at byte %zu\n",
		      what, i);
		CHECK(line_len <= 998, "%s: line of %zu octets at byte %zu\n", what, line_len, i);
		if (in_head && line_len == 0) {
			in_head = 0;
		} else if (in_head) {
			if (line[0] == ' ' || line[0] == '\t') {
				size_t k = 0;
				while (k < line_len && (line[k] == ' ' || line[k] == '\t'))
					k++;
				CHECK(k < line_len, "%s: folded line of blanks only at byte %zu\n",
				      what, i);
			} else {
				CHECK(memchr(line, ':', line_len) != NULL,
				      "%s: header line without a colon: %.*s\n", what,
				      (int)line_len, line);
			}
			int line_words = 0;
			for (size_t k = 0; k + 1 < line_len; k++) {
				if (line[k] != '=' || line[k + 1] != '?')
					continue;
				/* =?charset?e?text?= */
				const char *p = line + k + 2, *lim = line + line_len;
				const char *q1 = memchr(p, '?', (size_t)(lim - p));
				if (!q1 || q1 + 3 > lim || q1[2] != '?')
					continue;
				const char *text = q1 + 3;
				const char *q2 = text;
				while (q2 + 1 < lim && !(q2[0] == '?' && q2[1] == '='))
					q2++;
				if (q2 + 1 >= lim)
					continue;
				size_t wlen = (size_t)(q2 + 2 - (line + k));
				words++, line_words++;
				CHECK(wlen <= 75, "%s: encoded word of %zu characters: %.*s\n",
				      what, wlen, (int)wlen, line + k);
				CHECK(q1 - p == 5 && !g_ascii_strncasecmp(p, "UTF-8", 5),
				      "%s: encoded word not in UTF-8: %.*s\n", what, (int)wlen,
				      line + k);
				size_t dlen;
				char *dec = decode_word(q1[1], text, (size_t)(q2 - text), &dlen);
				CHECK(dec != NULL, "%s: malformed encoded word %.*s\n", what,
				      (int)wlen, line + k);
				CHECK(!dec || bl_utf8_valid(dec, dlen, NULL),
				      "%s: encoded word %.*s is not whole UTF-8 characters\n", what,
				      (int)wlen, line + k);
				free(dec);
				k += wlen - 1;
			}
			CHECK(!line_words || line_len <= 76,
			      "%s: line of %zu characters holds an encoded word\n", what, line_len);
		}
		i = end + 1;
	}
	CHECK(!in_head, "%s: no blank line after the headers\n", what);
	return words;
}

/* The unfolded value of the first header @name in the raw message, or NULL; caller frees. */
static char *raw_header(const char *msg, const char *name)
{
	size_t nlen = strlen(name);
	for (const char *line = msg; *line && !(line[0] == '\r' && line[1] == '\n');) {
		const char *end = strstr(line, "\r\n");
		if (!g_ascii_strncasecmp(line, name, nlen) && line[nlen] == ':') {
			GString *v = g_string_new(NULL);
			const char *p = line + nlen + 1;
			for (;;) {
				g_string_append_len(v, p, end - p);
				if (end[2] != ' ' && end[2] != '\t')
					break;
				p = end + 2;
				end = strstr(p, "\r\n");
			}
			const char *s = v->str;
			while (*s == ' ')
				s++;
			char *out = strdup(s);
			g_string_free(v, TRUE);
			return out;
		}
		line = end + 2;
	}
	return NULL;
}

/* ---- parsing back with GMime --------------------------------------------- */

static GMimeMessage *parse(const char *msg, size_t len)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(msg, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	return m;
}

/* @s (@len bytes) with CRLF turned into LF, its length in *@out_len; caller frees. */
static char *lf(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '\r' && i + 1 < len && s[i + 1] == '\n'))
			out[o++] = s[i];
	out[o] = '\0';
	*out_len = o;
	return out;
}

static char *part_body(GMimeObject *obj, size_t *len)
{
	GMimeDataWrapper *content = g_mime_part_get_content((GMimePart *)obj);
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(content, mem);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem);
	char *out = lf((const char *)bytes->data, bytes->len, len);
	g_object_unref(mem);
	return out;
}

static void check_mailbox(const char *what, InternetAddressList *list, const char *name,
                          const char *addr)
{
	CHECK(list && internet_address_list_length(list) == 1, "%s: want one mailbox\n", what);
	if (!list || internet_address_list_length(list) != 1)
		return;
	InternetAddress *a = internet_address_list_get_address(list, 0);
	const char *got = internet_address_get_name(a);
	CHECK(strcmp(got ? got : "", name) == 0, "%s name:\n  got  \"%s\"\n  want \"%s\"\n", what,
	      got ? got : "(none)", name);
	CHECK(INTERNET_ADDRESS_IS_MAILBOX(a), "%s: not a mailbox\n", what);
	const char *got_addr = internet_address_mailbox_get_addr((InternetAddressMailbox *)a);
	CHECK(strcmp(got_addr, addr) == 0, "%s addr: got %s, want %s\n", what, got_addr, addr);
}

static void check_text_part(const char *what, GMimeObject *obj, const char *subtype,
                            const char *want, size_t want_len)
{
	CHECK(GMIME_IS_PART(obj), "%s: not a leaf part\n", what);
	if (!GMIME_IS_PART(obj))
		return;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	CHECK(g_mime_content_type_is_type(ct, "text", subtype), "%s: type is not text/%s\n", what,
	      subtype);
	const char *charset = g_mime_object_get_content_type_parameter(obj, "charset");
	CHECK(charset && !strcmp(charset, "utf-8"), "%s: charset %s\n", what,
	      charset ? charset : "(none)");
	GMimeContentEncoding enc = g_mime_part_get_content_encoding((GMimePart *)obj);
	CHECK(enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE || enc == GMIME_CONTENT_ENCODING_BASE64,
	      "%s: transfer encoding %d\n", what, enc);
	size_t len;
	char *got = part_body(obj, &len);
	size_t norm_len;
	char *norm = lf(want, want_len, &norm_len);
	CHECK(len == norm_len && memcmp(got, norm, len) == 0,
	      "%s body differs: got %zu bytes, want %zu\n", what, len, norm_len);
	free(got);
	free(norm);
}

/*
 * Build @m, then check the wire form, parse it back and compare every
 * field. Returns the message (caller frees) for further checks.
 */
static char *build_and_check(const char *what, const struct bl_message_spec *m, size_t *out_len)
{
	struct bl_buf out;
	bl_buf_init(&out, 0);
	struct bl_diag d = {{0}};
	int rc = bl_message_build(m, &out, &d);
	if (rc)
		fail_msg("%s: bl_message_build: rc %d (%s)", what, rc, d.msg);
	check_wire(what, out.data, out.len);

	GMimeMessage *msg = parse(out.data, out.len);
	CHECK(msg != NULL, "%s: GMime cannot parse the message\n", what);
	if (!msg)
		return bl_buf_take(&out);
	check_mailbox("From", g_mime_message_get_from(msg), m->from_name ? m->from_name : "",
	              m->from_addr);
	check_mailbox("To", g_mime_message_get_to(msg), m->to_name ? m->to_name : "", m->to_addr);
	const char *subject = g_mime_message_get_subject(msg);
	CHECK(strcmp(subject ? subject : "", m->subject) == 0,
	      "%s subject:\n  got  \"%s\"\n  want \"%s\"\n", what, subject ? subject : "(none)",
	      m->subject);
	GDateTime *date = g_mime_message_get_date(msg);
	CHECK(date && g_date_time_to_unix(date) == m->date, "%s: date differs\n", what);
	char *raw_date = raw_header(out.data, "Date");
	CHECK(raw_date && g_str_has_suffix(raw_date, " +0000"), "%s: Date %s is not UTC\n", what,
	      raw_date ? raw_date : "(none)");
	free(raw_date);
	const char *id = g_mime_message_get_message_id(msg);
	CHECK(id && !strcmp(id, m->message_id), "%s: Message-ID %s\n", what, id ? id : "(none)");
	char *version = raw_header(out.data, "MIME-Version");
	CHECK(version && !strcmp(version, "1.0"), "%s: MIME-Version %s\n", what,
	      version ? version : "(none)");
	free(version);

	/* Header order, as written on the wire. */
	const char *order[16] = {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version"};
	size_t n_order = 6;
	for (size_t i = 0; i < m->n_headers; i++)
		order[n_order++] = m->headers[i].name;
	order[n_order++] = "Content-Type";
	const char *line = out.data;
	for (size_t i = 0; i < n_order; i++) {
		while (*line == ' ' || *line == '\t')
			line = strstr(line, "\r\n") + 2;
		size_t nlen = strlen(order[i]);
		CHECK(!g_ascii_strncasecmp(line, order[i], nlen) && line[nlen] == ':',
		      "%s: header %zu is %.20s..., want %s\n", what, i, line, order[i]);
		line = strstr(line, "\r\n") + 2;
	}
	/* Extra headers unfold to their value exactly. */
	for (size_t i = 0; i < m->n_headers; i++) {
		char *v = raw_header(out.data, m->headers[i].name);
		CHECK(v && !strcmp(v, m->headers[i].value),
		      "%s: header %s unfolds to\n  \"%s\"\n  want \"%s\"\n", what,
		      m->headers[i].name, v ? v : "(none)", m->headers[i].value);
		free(v);
	}

	GMimeObject *top = g_mime_message_get_mime_part(msg);
	if (m->html) {
		CHECK(GMIME_IS_MULTIPART(top) &&
		          g_mime_content_type_is_type(g_mime_object_get_content_type(top),
		                                      "multipart", "alternative"),
		      "%s: top part is not multipart/alternative\n", what);
		if (GMIME_IS_MULTIPART(top)) {
			GMimeMultipart *alt = (GMimeMultipart *)top;
			CHECK(g_mime_multipart_get_count(alt) == 2, "%s: %d parts, want 2\n", what,
			      g_mime_multipart_get_count(alt));
			if (g_mime_multipart_get_count(alt) == 2) {
				check_text_part("text part", g_mime_multipart_get_part(alt, 0),
				                "plain", m->text, m->text_len);
				check_text_part("html part", g_mime_multipart_get_part(alt, 1),
				                "html", m->html, m->html_len);
			}
		}
	} else {
		check_text_part("single part", top, "plain", m->text, m->text_len);
	}
	g_object_unref(msg);
	if (out_len)
		*out_len = out.len;
	return bl_buf_take(&out);
}

/* ---- the table of messages ------------------------------------------------ */

static char subject300[512], subject_cjk[1024], subject_a_cjk[1100], subject_long_word[1300],
    name_long[200];

static void make_long_strings(void)
{
	/* 300 characters, mixed ASCII and non-ASCII. */
	size_t o = 0;
	const char *unit = "Weekly news — café über naïve résumé ";
	while (o + strlen(unit) < sizeof(subject300) && strlen(subject300) < 300)
		o += (size_t)snprintf(subject300 + o, sizeof(subject300) - o, "%s", unit);
	subject300[300] = '\0';
	/* A 300-character CJK subject with no spaces at all. */
	o = 0;
	const char *cjk = "日本語のニュース速報です";
	for (int i = 0; i < 25; i++)
		o += (size_t)snprintf(subject_cjk + o, sizeof(subject_cjk) - o, "%s", cjk);
	snprintf(subject_a_cjk, sizeof(subject_a_cjk), "A%s", subject_cjk);
	/* 1200 ASCII characters without a space: too long to fold as it is. */
	memset(subject_long_word, 'x', 1200);
	subject_long_word[1200] = '\0';
	memset(name_long, 'N', 150);
	name_long[150] = '\0';
}

struct msg_case {
	const char *what;
	const char *from_name, *to_name, *subject;
	const char *to_addr;
	int html;
};

static const struct msg_case msg_cases[] = {
    {"ascii", "Example News", "Jane Doe", "Hello, world", "jane@example.org", 1},
    {"empty names", "", "", "No names", "jane@example.org", 1},
    {"greek", "Ειδήσεις", "Γιώργος Παπαδόπουλος", "Καλημέρα κόσμε — νέα της εβδομάδας",
     "george@example.gr", 1},
    {"cjk", "新聞部", "山田 太郎", "今週のニュース", "taro@example.jp", 1},
    {"emoji", "News 📰", "Émoji 😀 Fan", "🎉 Launch day 🚀 — 🍰", "fan@example.com", 1},
    {"quotes and commas", "Doe, \"John\" Jr.", "O'Brien, Mary (Sales)", "\"Quoted\" subject, too",
     "mary@example.com", 1},
    {"backslash", "Back\\slash", "a\\\"b", "back\\slash", "x@example.com", 1},
    {"specials only", "<>@,;:\\\".[]", "()", ":;", "x@example.com", 1},
    {"looks encoded", "=?UTF-8?Q?x?=", "a =? b", "=?utf-8?q?not_encoded?=", "x@example.com", 1},
    {"non-ascii with quotes", "Zoë \"Z\" Ünïcødé, Jr.", "Ålesund, Ørjan", "Ærø: «quoted»",
     "o@example.no", 1},
    {"tab in subject", "Tab", "Tab", "a\tb", "x@example.com", 1},
    {"subject with blanks", "N", "N", "  leading and trailing  ", "x@example.com", 1},
    {"many spaces", "A  B", "C   D", "many    spaces   inside", "x@example.com", 1},
    {"empty subject", "N", "N", "", "x@example.com", 1},
    {"text only", "N", "N", "Plain only", "x@example.com", 0},
    {"subject 300", "Example News", "Jane", subject300, "jane@example.org", 1},
    {"subject cjk 300", "N", "N", subject_cjk, "x@example.com", 1},
    {"subject long word", "N", "N", subject_long_word, "x@example.com", 1},
    {"long name", name_long, name_long, "long names", "x@example.com", 1},
    {"long greek name", "Κωνσταντίνος Παπαδημητρόπουλος-Καραγιαννόπουλος του Γεωργίου", "Ζωή",
     "long non-ASCII names take several encoded words", "x@example.com", 1},
    {"quoted local part", "Q", "Q", "quoted local part", "\"john smith\"@example.com", 1},
    /* No B word can end on a 3-byte boundary here: Q words take over. */
    {"ascii then cjk", "A日本語のニュース速報です日本語のニュース速報です日本語", "N",
     subject_a_cjk, "x@example.com", 1},
    {"control characters", "ctl\x01name", "N", "bell\x07 and del\x7f", "x@example.com", 1},
};

static const char text_body[] =
    "Hello Jane,\n"
    "\n"
    "This week: caf\xc3\xa9, na\xc3\xafve, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x98\x80.\n"
    "A line with = signs = and trailing spaces   \n"
    "From the top\n"
    ".\n"
    "..dots\n"
    "tab\there\r\n"
    "crlf line\r\n"
    "lone\rcr\n"
    "\n"
    "[1] https://example.com/unsubscribe?id=123&t=abc\n";

static const char html_body[] = "<p>Hello <b>Jane</b>,</p>\n"
                                "<p>This week: caf\xc3\xa9 &amp; more <a "
                                "href=\"https://example.com/?a=1&amp;b=2\">link</a></p>\n"
                                "<p>=3D is not an escape here</p>\n";

static void fill(struct bl_message_spec *m, const struct msg_case *c)
{
	memset(m, 0, sizeof(*m));
	m->from_name = c->from_name;
	m->from_addr = "news@example.com";
	m->to_name = c->to_name;
	m->to_addr = c->to_addr;
	m->subject = c->subject;
	m->date = DATE;
	m->message_id = "20261130005320.abc123@news.example.com";
	m->text = text_body;
	m->text_len = sizeof(text_body) - 1;
	if (c->html) {
		m->html = html_body;
		m->html_len = sizeof(html_body) - 1;
	}
	m->headers = list_headers;
	m->n_headers = sizeof(list_headers) / sizeof(list_headers[0]);
}

static void test_messages(void **state)
{
	(void)state;
	make_long_strings();
	fails = 0;
	int encoded = 0;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		struct bl_message_spec m;
		fill(&m, &msg_cases[i]);
		int before = fails;
		char *msg = build_and_check(msg_cases[i].what, &m, NULL);
		encoded += check_wire(msg_cases[i].what, msg, strlen(msg));
		if (fails > before)
			print_error("-- in case \"%s\"; the message:\n%s\n", msg_cases[i].what,
			            msg);
		free(msg);
	}
	assert_true(encoded > 20); /* the non-ASCII cases did use encoded words */
	assert_int_equal(fails, 0);
}

/* The exact header block of a plain message: what "legal and readable" looks like. */
static void test_exact_headers(void **state)
{
	(void)state;
	struct bl_message_spec m;
	const struct msg_case c = {
	    "exact", "Example News", "Zo\xc3\xab Smith", "Caf\xc3\xa9 news", "zoe@Example.ORG", 1};
	fill(&m, &c);
	struct bl_buf out;
	bl_buf_init(&out, 0);
	assert_int_equal(bl_message_build(&m, &out, NULL), 0);
	const char *want = "From: Example News <news@example.com>\r\n"
	                   "To: =?UTF-8?Q?Zo=C3=AB_Smith?= <zoe@example.org>\r\n"
	                   "Subject: =?UTF-8?Q?Caf=C3=A9_news?=\r\n"
	                   "Date: Mon, 30 Nov 2026 00:53:20 +0000\r\n"
	                   "Message-ID: <20261130005320.abc123@news.example.com>\r\n"
	                   "MIME-Version: 1.0\r\n"
	                   "List-Id: Example News <news.example.com>\r\n"
	                   "List-Unsubscribe: <https://news.example.com/unsubscribe/"
	                   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef?list="
	                   "weekly-digest>,\r\n"
	                   " <mailto:unsubscribe+0123456789abcdef0123456789abcdef0123456789abcdef@"
	                   "news.example.com>\r\n"
	                   "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	                   "X-Campaign: weekly   spaced\tvalue\r\n"
	                   "Content-Type: multipart/alternative; boundary=\"=_bl_";
	if (strncmp(out.data, want, strlen(want)) != 0)
		fail_msg("headers:\n  got\n%.*s\n  want\n%s", (int)strlen(want) + 20, out.data,
		         want);
	bl_buf_finish(&out);
}

/* Bodies that stress the transfer encodings, each decoding back exactly. */
static void test_bodies(void **state)
{
	(void)state;
	fails = 0;
	struct bl_buf big;
	bl_buf_init(&big, 0);
	struct {
		const char *what;
		char *text;
	} bodies[6];
	size_t n = 0;

	/* A 5000-character line without spaces (a long URL). */
	bl_buf_adds(&big, "https://example.com/track?u=");
	while (big.len < 5000)
		bl_buf_addc(&big, (char)('a' + big.len % 26));
	bl_buf_adds(&big, "\n");
	bodies[n].what = "5000-char line", bodies[n++].text = bl_buf_take(&big);
	/* Mostly CJK: base64 is shorter. */
	for (int i = 0; i < 200; i++)
		bl_buf_adds(&big, i % 20 == 19 ? "日本語\n" : "日本語のテキスト");
	bodies[n].what = "CJK", bodies[n++].text = bl_buf_take(&big);
	/* Long non-ASCII line without a break. */
	for (int i = 0; i < 700; i++)
		bl_buf_adds(&big, "é");
	bodies[n].what = "long non-ASCII line", bodies[n++].text = bl_buf_take(&big);
	/* No final newline, trailing blanks, a lone CR, NUL. */
	bl_buf_add(&big, "end  \t \r x\0y", 12);
	bodies[n].what = "odd bytes", bodies[n++].text = bl_buf_take(&big);
	/* Empty. */
	bodies[n].what = "empty", bodies[n++].text = bl_buf_take(&big);

	for (size_t i = 0; i < n; i++) {
		struct bl_message_spec m;
		const struct msg_case c = {bodies[i].what, "N", "N", "bodies", "x@example.com", 1};
		fill(&m, &c);
		size_t len = i == 3 ? 12 : strlen(bodies[i].text);
		m.text = m.html = bodies[i].text;
		m.text_len = m.html_len = len;
		char *msg = build_and_check(bodies[i].what, &m, NULL);
		if (i == 1)
			CHECK(strstr(msg, "Content-Transfer-Encoding: base64"),
			      "CJK body is not base64\n");
		else if (i == 0)
			CHECK(strstr(msg, "Content-Transfer-Encoding: quoted-printable"),
			      "long line body is not quoted-printable\n");
		free(msg);
		free(bodies[i].text);
	}
	assert_int_equal(fails, 0);
}

/* ---- refusals --------------------------------------------------------------- */

enum field { F_FROM_NAME, F_FROM_ADDR, F_TO_NAME, F_TO_ADDR, F_SUBJECT, F_ID, F_HNAME, F_HVALUE };

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		enum field field;
		const char *value;
		const char *msg; /* the diagnostic must hold this */
	} cases[] = {
	    {F_FROM_NAME, "Evil\r\nBcc: x@example.com", "from_name holds a carriage return"},
	    {F_FROM_NAME, "Evil\nBcc: x@example.com", "from_name holds a line feed"},
	    {F_TO_NAME, "a\rb", "to_name holds a carriage return"},
	    {F_SUBJECT, "Hi\r\nBcc: x@example.com", "subject holds a carriage return at byte 2"},
	    {F_SUBJECT, "Hi\n", "subject holds a line feed"},
	    {F_SUBJECT, "bad \xff utf-8", "subject is not UTF-8"},
	    {F_FROM_NAME, "\xc3(", "from_name is not UTF-8"},
	    {F_FROM_ADDR, "news@example.com\r\nBcc: x@y", "from_addr holds a carriage return"},
	    {F_FROM_ADDR, "not an address", "from_addr"},
	    {F_TO_ADDR, "jane@", "to_addr"},
	    {F_TO_ADDR, "j\xc3\xa4ne@example.com", "to_addr"},
	    {F_TO_ADDR, NULL, "to_addr is missing"},
	    {F_ID, "abc@example.com\r\nX: y", "message_id holds a carriage return"},
	    {F_ID, "no-at-sign", "message_id"},
	    {F_ID, "<abc@example.com>", "message_id"},
	    {F_ID, "a b@example.com", "message_id"},
	    {F_ID, "", "message_id is missing"},
	    {F_HNAME, "List-Id\r\nBcc", "header name"},
	    {F_HNAME, "Bad Name", "header name"},
	    {F_HNAME, "Bad:Name", "header name"},
	    {F_HNAME, "Subject", "written by the message builder"},
	    {F_HNAME, "content-type", "written by the message builder"},
	    {F_HVALUE, "<https://x>\r\nBcc: y@example.com", "List-Id holds a carriage return"},
	    {F_HVALUE, "<https://x>\nBcc: y@example.com", "List-Id holds a line feed"},
	    {F_HVALUE, "caf\xc3\xa9", "not printable ASCII"},
	    {F_HVALUE, "a\x01", "not printable ASCII"},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_message_spec m;
		const struct msg_case c = {"refusal", "N", "N", "S", "x@example.com", 1};
		fill(&m, &c);
		struct bl_header h[1] = {{"List-Id", "<news.example.com>"}};
		m.headers = h;
		m.n_headers = 1;
		switch (cases[i].field) {
		case F_FROM_NAME:
			m.from_name = cases[i].value;
			break;
		case F_FROM_ADDR:
			m.from_addr = cases[i].value;
			break;
		case F_TO_NAME:
			m.to_name = cases[i].value;
			break;
		case F_TO_ADDR:
			m.to_addr = cases[i].value;
			break;
		case F_SUBJECT:
			m.subject = cases[i].value;
			break;
		case F_ID:
			m.message_id = cases[i].value;
			break;
		case F_HNAME:
			h[0].name = cases[i].value;
			break;
		case F_HVALUE:
			h[0].value = cases[i].value;
			break;
		}
		struct bl_buf out;
		bl_buf_init(&out, 0);
		bl_buf_adds(&out, "kept");
		struct bl_diag d = {{0}};
		int rc = bl_message_build(&m, &out, &d);
		if (rc != -BL_EINVAL || !strstr(d.msg, cases[i].msg) || strcmp(out.data, "kept")) {
			print_error(
			    "case %zu (%s): got rc %d \"%s\" (out \"%.10s\"), want -BL_EINVAL "
			    "with \"%s\"\n",
			    i, cases[i].value ? cases[i].value : "NULL", rc, d.msg, out.data,
			    cases[i].msg);
			bad++;
		}
		bl_buf_finish(&out);
	}
	assert_int_equal(bad, 0);
}

/* A word too long to fold in an extra header is refused, not sent over-long. */
static void test_unfoldable_header(void **state)
{
	(void)state;
	char value[1100];
	memset(value, 'a', sizeof(value) - 1);
	value[0] = '<';
	value[sizeof(value) - 2] = '>';
	value[sizeof(value) - 1] = '\0';
	struct bl_header h[1] = {{"List-Unsubscribe", value}};
	fails = 0;
	struct bl_message_spec m;
	const struct msg_case c = {"unfoldable", "N", "N", "S", "x@example.com", 1};
	fill(&m, &c);
	m.headers = h;
	m.n_headers = 1;
	struct bl_buf out;
	bl_buf_init(&out, 0);
	struct bl_diag d = {{0}};
	assert_int_equal(bl_message_build(&m, &out, &d), -BL_EINVAL);
	assert_non_null(strstr(d.msg, "List-Unsubscribe"));
	assert_int_equal(out.len, 0);
	/* A line of 992 octets still goes out. */
	value[990 - 17] = '>';
	value[990 - 16] = '\0';
	assert_int_equal(bl_message_build(&m, &out, &d), 0);
	check_wire("990-octet header", out.data, out.len);
	assert_int_equal(fails, 0);
	bl_buf_finish(&out);
}

/* The output bound: -BL_ELIMIT, and @out keeps what it had. */
static void test_limit(void **state)
{
	(void)state;
	struct bl_message_spec m;
	const struct msg_case c = {"limit", "N", "N", "S", "x@example.com", 1};
	fill(&m, &c);
	struct bl_buf out;
	bl_buf_init(&out, 600);
	bl_buf_adds(&out, "prefix");
	struct bl_diag d = {{0}};
	assert_int_equal(bl_message_build(&m, &out, &d), -BL_ELIMIT);
	assert_string_equal(bl_buf_str(&out), "prefix");
	assert_non_null(strstr(d.msg, "bytes"));
	bl_buf_finish(&out);
}

/* ---- Python's email package, policy=strict ------------------------------- */

static void test_python_strict(void **state)
{
	(void)state;
	const char *root = getenv("BL_SOURCE_ROOT");
	if (access("/usr/bin/python3", X_OK) != 0 || !root)
		skip();
	char script[4096];
	snprintf(script, sizeof(script), "%s/tests/unit/check_mime.py", root);
	make_long_strings();
	int bad = 0;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *c = &msg_cases[i];
		struct bl_message_spec m;
		fill(&m, c);
		struct bl_buf out;
		bl_buf_init(&out, 0);
		assert_int_equal(bl_message_build(&m, &out, NULL), 0);

		char msg_path[] = "/tmp/bl-mime-XXXXXX", want_path[] = "/tmp/bl-mime-XXXXXX";
		int fd1 = mkstemp(msg_path), fd2 = mkstemp(want_path);
		assert_true(fd1 >= 0 && fd2 >= 0);
		assert_int_equal(write(fd1, out.data, out.len), (ssize_t)out.len);
		close(fd1);
		json_t *headers = json_array();
		for (size_t k = 0; k < m.n_headers; k++)
			json_array_append_new(
			    headers, json_pack("[ss]", m.headers[k].name, m.headers[k].value));
		json_t *want = json_pack(
		    "{ss ss ss ss ss ss sI ss% ss? so}", "from_name", m.from_name, "from_addr",
		    m.from_addr, "to_name", m.to_name, "to_addr", m.to_addr, "subject", m.subject,
		    "message_id", m.message_id, "date", (json_int_t)m.date, "text", m.text,
		    m.text_len, "html", m.html, "headers", headers);
		assert_non_null(want);
		FILE *f = fdopen(fd2, "w");
		json_dumpf(want, f, 0);
		fclose(f);
		json_decref(want);

		char cmd[8192];
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' '%s' 2>&1", script, msg_path,
		         want_path);
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		char line[1024];
		struct bl_buf said;
		bl_buf_init(&said, 0);
		while (fgets(line, sizeof(line), p))
			bl_buf_adds(&said, line);
		int status = pclose(p);
		if (status != 0) {
			print_error("python strict, case \"%s\" (exit %d):\n%s", c->what, status,
			            bl_buf_str(&said));
			bad++;
		}
		bl_buf_finish(&said);
		unlink(msg_path);
		unlink(want_path);
		bl_buf_finish(&out);
	}
	assert_int_equal(bad, 0);
}

/* ---- speed ----------------------------------------------------------------- */

/*
 * Not a benchmark (the machine is shared): a probe that prints the cost of
 * one ~8 KB message and fails only when it is absurd (over 2 ms).
 */
static void test_speed(void **state)
{
	(void)state;
	struct bl_buf text, html;
	bl_buf_init(&text, 0);
	bl_buf_init(&html, 0);
	while (text.len < 3000)
		bl_buf_adds(
		    &text,
		    "Hello J\xc3\xb6rg, this week in the newsletter: https://example.com/a\n");
	while (html.len < 5000)
		bl_buf_adds(
		    &html,
		    "<p>Hello <a href=\"https://example.com/x?a=1&amp;b=2\">J\xc3\xb6rg</a></p>\n");
	struct bl_message_spec m;
	const struct msg_case c = {"speed",
	                           "Example News",
	                           "J\xc3\xb6rg M\xc3\xbcller",
	                           "Weekly news: caf\xc3\xa9 edition",
	                           "joerg@example.org",
	                           1};
	fill(&m, &c);
	m.text = text.data, m.text_len = text.len;
	m.html = html.data, m.html_len = html.len;
	struct bl_buf out;
	bl_buf_init(&out, 0);
	const int n = 2000;
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (int i = 0; i < n; i++) {
		bl_buf_reset(&out);
		assert_int_equal(bl_message_build(&m, &out, NULL), 0);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	double us =
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	print_message("# %.1f us of CPU per message (%zu-byte bodies, %zu bytes out)\n", us,
	              text.len + html.len, out.len);
	assert_true(us < 2000);
	bl_buf_finish(&out);
	bl_buf_finish(&text);
	bl_buf_finish(&html);
}

static int setup(void **state)
{
	(void)state;
	bl_mime_init();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_exact_headers),
	    cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_unfoldable_header),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_python_strict),
	    cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
