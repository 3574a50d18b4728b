/*
 * The SMTP reply parser (smtp_reply.h). Lines are taken in place from the
 * caller's buffer when they arrive whole, and copied into the parser only
 * when a read ends in the middle of one, so a reply that arrives in one
 * piece is never copied except for its first line's text.
 */
#include "send/smtp_reply.h"

#include "util/err.h"

#include <string.h>
#include <strings.h>

void bl_smtp_reply_parser_init(struct bl_smtp_reply_parser *p)
{
	memset(&p->cur, 0, sizeof(p->cur));
	p->in_reply = 0;
	p->err = 0;
	p->len = 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* @s (@n bytes) is the keyword @kw, any case. */
static int word_is(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

static int id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '_' || c == '.';
}

int bl_smtp_queue_id(const char *line, size_t n, char *out, size_t size)
{
	static const char *const marks[] = {"queued as ", "id="};
	if (size > 0)
		out[0] = '\0';
	for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
		size_t ml = strlen(marks[m]);
		for (size_t i = 0; i + ml <= n; i++) {
			if ((line[i] | 0x20) != marks[m][0] ||
			    strncasecmp(line + i, marks[m], ml) != 0)
				continue;
			const char *id = line + i + ml;
			size_t rest = n - i - ml, k = 0;
			while (k < rest && id_char(id[k]))
				k++;
			while (k > 0 && id[k - 1] == '.')
				k--;
			if (k == 0 || k >= size)
				break;
			memcpy(out, id, k);
			out[k] = '\0';
			return 1;
		}
	}
	return 0;
}

/* One EHLO keyword line's text (after "250-"/"250 "), RFC 5321 4.1.1.1:
 * a keyword, then parameters separated by spaces ("AUTH=..." is the old
 * form some servers still send beside the new one). */
static void ehlo_keyword(struct bl_smtp_reply *r, const char *s, size_t n)
{
	size_t k = 0;
	while (k < n && s[k] != ' ' && s[k] != '=')
		k++;
	if (word_is(s, k, "PIPELINING")) {
		r->ext |= BL_SMTP_EXT_PIPELINING;
	} else if (word_is(s, k, "SMTPUTF8")) {
		r->ext |= BL_SMTP_EXT_SMTPUTF8;
	} else if (word_is(s, k, "8BITMIME")) {
		r->ext |= BL_SMTP_EXT_8BITMIME;
	} else if (word_is(s, k, "STARTTLS")) {
		r->ext |= BL_SMTP_EXT_STARTTLS;
	} else if (word_is(s, k, "SIZE")) {
		/* RFC 1870: "SIZE" or "SIZE n"; 0 means no fixed limit. */
		r->ext |= BL_SMTP_EXT_SIZE;
		uint64_t v = 0;
		for (size_t i = k + 1; i < n && is_digit(s[i]); i++) {
			uint64_t d = (uint64_t)(s[i] - '0');
			v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
		}
		r->size = v;
	} else if (word_is(s, k, "AUTH")) {
		r->ext |= BL_SMTP_EXT_AUTH;
		size_t i = k;
		while (i < n) {
			while (i < n && (s[i] == ' ' || s[i] == '='))
				i++;
			size_t start = i;
			while (i < n && s[i] != ' ')
				i++;
			if (word_is(s + start, i - start, "PLAIN"))
				r->auth |= BL_SMTP_AUTH_PLAIN;
			else if (word_is(s + start, i - start, "LOGIN"))
				r->auth |= BL_SMTP_AUTH_LOGIN;
		}
	}
}

/* One complete line of @n bytes, line end removed. Returns 1 when it ends
 * the reply (then *@out is set), 0 when more lines follow, or -BL_EINVAL. */
static int take_line(struct bl_smtp_reply_parser *p, const char *s, size_t n,
                     struct bl_smtp_reply *out)
{
	if (n < 3 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || s[0] < '2' ||
	    s[0] > '5')
		return -BL_EINVAL;
	int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	int last;
	if (n == 3 || s[3] == ' ')
		last = 1;
	else if (s[3] == '-')
		last = 0;
	else
		return -BL_EINVAL;

	struct bl_smtp_reply *r = &p->cur;
	if (!p->in_reply) {
		memset(r, 0, sizeof(*r));
		r->code = code;
		size_t k = n < sizeof(r->text) - 1 ? n : sizeof(r->text) - 1;
		for (size_t i = 0; i < k; i++) {
			unsigned char c = (unsigned char)s[i];
			r->text[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
		r->text[k] = '\0';
		p->in_reply = 1;
	} else if (code != r->code) {
		return -BL_EINVAL;
	}
	if (r->lines >= BL_SMTP_LINES_MAX)
		return -BL_EINVAL;
	r->lines++;
	if (r->lines > 1 && n > 4)
		ehlo_keyword(r, s + 4, n - 4);
	if (!r->queue_id[0])
		bl_smtp_queue_id(s, n, r->queue_id, sizeof(r->queue_id));
	if (!last)
		return 0;
	*out = *r;
	p->in_reply = 0;
	return 1;
}

int bl_smtp_reply_feed(struct bl_smtp_reply_parser *p, const char *buf, size_t n, size_t *used,
                       struct bl_smtp_reply *out)
{
	size_t off = 0;
	*used = 0;
	if (p->err)
		return p->err;
	while (off < n) {
		const char *nl = memchr(buf + off, '\n', n - off);
		size_t seg = nl ? (size_t)(nl - (buf + off)) + 1 : n - off;
		if (p->len + seg > BL_SMTP_LINE_MAX) {
			p->err = -BL_EINVAL;
			*used = off;
			return p->err;
		}
		if (!nl) {
			memcpy(p->line + p->len, buf + off, seg);
			p->len += seg;
			off += seg;
			break;
		}
		const char *line = buf + off;
		size_t len = seg - 1;
		if (p->len > 0) {
			memcpy(p->line + p->len, buf + off, seg);
			line = p->line;
			len = p->len + seg - 1;
			p->len = 0;
		}
		off += seg;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		int rc = take_line(p, line, len, out);
		if (rc != 0) {
			if (rc < 0)
				p->err = rc;
			*used = off;
			return rc;
		}
	}
	*used = off;
	return 0;
}
