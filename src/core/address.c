/*
 * The address validator; see address.h for the contract. One pass refuses
 * bytes no address may hold (bad UTF-8, controls, invisible characters), then
 * the local part and the domain are checked left to right so the message
 * names the first problem a person would meet reading the address. Nothing is
 * written to the caller's struct until every check has passed. The domain's
 * IDNA conversion is the only part done by a library (libidn2); the rest is
 * RFC 5321 §4.1.2 and §4.5.3.1 written out by hand.
 */
#include "core/address.h"

#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"

#include <idn2.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_MAX  64  /* RFC 5321 §4.5.3.1.1 */
#define DOMAIN_MAX 255 /* RFC 5321 §4.5.3.1.2 */
#define LABEL_MAX  63  /* RFC 1035 §2.3.4 */

/* Longest domain we copy before conversion, in bytes. Generous: a U-label
 * domain whose A-labels fit in 255 octets is shorter than this in UTF-8. */
#define DOMAIN_RAW_MAX (4 * BL_ADDRESS_MAX)

/* libidn2 flags: IDNA2008 with UTS #46 non-transitional mapping (so "ß" stays
 * "ß" and upper case maps to lower case), input normalised to NFC first. */
#define IDN_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

/* What the parse of one address builds up before it is copied out. */
struct parse {
	const char *in; /* the caller's input, for positions in messages */
	const char *s;  /* the trimmed address */
	size_t n;       /* its length in bytes */
	unsigned flags; /* BL_ADDRESS_* */
	enum bl_address_problem *problem;
	struct bl_diag *d;
	char local[LOCAL_MAX + 1]; /* local part with minimal quoting */
	size_t local_len;
	char domain[DOMAIN_RAW_MAX + 1]; /* the domain as A-labels, lower case */
	size_t domain_len;
	int converted; /* the domain held non-ASCII and went through libidn2 */
};

/* Sets the problem and the message; returns -BL_EINVAL. */
#define REFUSE(p, what, ...) (set_problem((p), (what)), bl_diag_set((p)->d, BL_EINVAL, __VA_ARGS__))

static void set_problem(struct parse *p, enum bl_address_problem what)
{
	if (p->problem)
		*p->problem = what;
}

/* 1-based character position of byte @off of the trimmed address, counted
 * from the start of the caller's input (UTF-8 continuation bytes skipped). */
static size_t position(const struct parse *p, size_t off)
{
	const unsigned char *u = (const unsigned char *)p->in;
	size_t end = (size_t)(p->s - p->in) + off, pos = 1;
	for (size_t i = 0; i < end; i++)
		if ((u[i] & 0xC0) != 0x80)
			pos++;
	return pos;
}

static int is_ascii_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_ascii_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 atext (RFC 5322 §3.2.3); bytes >= 0x80 are UTF-8 and are judged
 * separately (RFC 6531 adds them when SMTPUTF8 is on). */
static int is_atext(unsigned char c)
{
	return is_ascii_alpha(c) || is_ascii_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int is_ldh(unsigned char c)
{
	return is_ascii_alpha(c) || is_ascii_digit(c) || c == '-';
}

static const char *control_name(uint32_t cp)
{
	switch (cp) {
	case 0x00:
		return " (NUL)";
	case 0x09:
		return " (tab)";
	case 0x0A:
		return " (line feed)";
	case 0x0D:
		return " (carriage return)";
	case 0x7F:
		return " (delete)";
	default:
		return "";
	}
}

static int is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Characters that show as nothing or as a blank: Unicode's
 * Default_Ignorable_Code_Point set (zero-width, joiners, bidi controls,
 * variation selectors, tags, Hangul fillers ...), every space separator but
 * U+0020, the line and paragraph separators and U+2800 (braille blank).
 * Returns a short description, or NULL when @cp is none of these. */
static const char *invisible_name(uint32_t cp)
{
	static const struct {
		uint32_t lo, hi;
		const char *name;
	} table[] = {
	    {0x00A0, 0x00A0, "no-break space"},
	    {0x00AD, 0x00AD, "soft hyphen"},
	    {0x034F, 0x034F, "combining grapheme joiner"},
	    {0x061C, 0x061C, "Arabic letter mark"},
	    {0x115F, 0x1160, "Hangul filler"},
	    {0x1680, 0x1680, "Ogham space mark"},
	    {0x17B4, 0x17B5, "Khmer inherent vowel"},
	    {0x180B, 0x180D, "Mongolian variation selector"},
	    {0x180E, 0x180E, "Mongolian vowel separator"},
	    {0x180F, 0x180F, "Mongolian variation selector"},
	    {0x2000, 0x200A, "space"},
	    {0x200B, 0x200B, "zero width space"},
	    {0x200C, 0x200C, "zero width non-joiner"},
	    {0x200D, 0x200D, "zero width joiner"},
	    {0x200E, 0x200E, "left-to-right mark"},
	    {0x200F, 0x200F, "right-to-left mark"},
	    {0x2028, 0x2028, "line separator"},
	    {0x2029, 0x2029, "paragraph separator"},
	    {0x202A, 0x202E, "bidirectional formatting character"},
	    {0x202F, 0x202F, "narrow no-break space"},
	    {0x205F, 0x205F, "medium mathematical space"},
	    {0x2060, 0x2060, "word joiner"},
	    {0x2061, 0x2064, "invisible operator"},
	    {0x2065, 0x2065, "default ignorable character"},
	    {0x2066, 0x2069, "bidirectional isolate"},
	    {0x206A, 0x206F, "deprecated format character"},
	    {0x2800, 0x2800, "braille pattern blank"},
	    {0x3000, 0x3000, "ideographic space"},
	    {0x3164, 0x3164, "Hangul filler"},
	    {0xFE00, 0xFE0F, "variation selector"},
	    {0xFEFF, 0xFEFF, "zero width no-break space (byte order mark)"},
	    {0xFFA0, 0xFFA0, "halfwidth Hangul filler"},
	    {0xFFF0, 0xFFF8, "default ignorable character"},
	    {0x1BCA0, 0x1BCA3, "shorthand format control"},
	    {0x1D173, 0x1D17A, "musical symbol format control"},
	    {0xE0000, 0xE007F, "tag character"},
	    {0xE0080, 0xE00FF, "default ignorable character"},
	    {0xE0100, 0xE01EF, "variation selector"},
	    {0xE01F0, 0xE0FFF, "default ignorable character"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (cp >= table[i].lo && cp <= table[i].hi)
			return table[i].name;
	return NULL;
}

/* Refuses bytes that are not UTF-8, control characters and invisible
 * characters anywhere in the trimmed address. */
static int scan_characters(struct parse *p)
{
	const unsigned char *u = (const unsigned char *)p->s;
	size_t i = 0;
	while (i < p->n) {
		/* Printable ASCII is the common case and never invisible. */
		if (u[i] >= 0x20 && u[i] < 0x7F) {
			i++;
			continue;
		}
		uint32_t cp;
		size_t k = bl_utf8_decode(u + i, p->n - i, &cp);
		if (k == 0)
			return REFUSE(
			    p, BL_ADDR_BAD_UTF8,
			    "the address is not valid UTF-8 at position %zu (byte 0x%02X); "
			    "save the text as UTF-8",
			    position(p, i), u[i]);
		if (is_control(cp))
			return REFUSE(p, BL_ADDR_CONTROL,
			              "control character U+%04X%s at position %zu; an address "
			              "cannot hold control characters",
			              (unsigned)cp, control_name(cp), position(p, i));
		const char *name = invisible_name(cp);
		if (name)
			return REFUSE(p, BL_ADDR_INVISIBLE,
			              "invisible character U+%04X (%s) at position %zu; retype the "
			              "address without it",
			              (unsigned)cp, name, position(p, i));
		i += k;
	}
	return 0;
}

static int refuse_utf8_local(struct parse *p, size_t off)
{
	return REFUSE(p, BL_ADDR_LOCAL_UTF8,
	              "the local part has a non-ASCII character at position %zu; UTF-8 local "
	              "parts (RFC 6531) are accepted only when the config key `smtputf8` is true",
	              position(p, off));
}

/* Whether @s[0..@n) is an RFC 5321 Dot-string: atoms of atext (plus UTF-8
 * when @utf8) joined by single dots. */
static int is_dot_string(const char *s, size_t n, int utf8)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (c >= 0x80) {
			if (!utf8)
				return 0;
		} else if (!is_atext(c)) {
			return 0;
		}
	}
	return 1;
}

/*
 * A Quoted-string local part (RFC 5321 §4.1.2: qtextSMTP and quoted-pairSMTP,
 * RFC 6531 adding UTF-8 to qtext). Stores the local part re-quoted minimally
 * ("§4.1.2: the form that uses the minimum quoting possible"): unquoted when
 * the content is a Dot-string, else quoted with only '"' and '\' escaped.
 * Sets *@at to the offset of the '@' that follows.
 */
static int parse_quoted(struct parse *p, size_t *at)
{
	const char *s = p->s;
	int utf8 = (p->flags & BL_ADDRESS_SMTPUTF8) != 0;
	char content[LOCAL_MAX];
	size_t clen = 0, i = 1;
	for (;; i++) {
		if (i >= p->n)
			return REFUSE(p, BL_ADDR_QUOTED_SYNTAX,
			              "the quoted local part has no closing '\"'");
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= p->n)
				return REFUSE(p, BL_ADDR_QUOTED_SYNTAX,
				              "the quoted local part ends with a backslash and has "
				              "no closing '\"'");
			c = (unsigned char)s[++i];
			if (c >= 0x80) {
				if (!utf8)
					return refuse_utf8_local(p, i);
				return REFUSE(p, BL_ADDR_QUOTED_SYNTAX,
				              "backslash before a non-ASCII character at position "
				              "%zu; only ASCII characters can be escaped",
				              position(p, i));
			}
		} else if (c >= 0x80 && !utf8) {
			return refuse_utf8_local(p, i);
		}
		/* The typed local part is at most LOCAL_MAX octets (checked
		 * below), its content two less. */
		if (clen < sizeof(content))
			content[clen] = (char)c;
		clen++;
	}
	size_t close = i;
	if (close + 1 >= p->n)
		return REFUSE(p, BL_ADDR_NO_AT, "there is no '@' after the quoted local part");
	if (s[close + 1] != '@') {
		unsigned char c = (unsigned char)s[close + 1];
		if (c == '(' || c == ' ' || c == '\t')
			return REFUSE(
			    p, BL_ADDR_COMMENT,
			    "%s at position %zu after the quoted local part; comments and "
			    "spaces outside quotes are not accepted",
			    c == '(' ? "a comment" : "a space", position(p, close + 1));
		uint32_t cp;
		int k = (int)bl_utf8_decode((const unsigned char *)s + close + 1, p->n - close - 1,
		                            &cp);
		return REFUSE(p, BL_ADDR_QUOTED_SYNTAX,
		              "'%.*s' at position %zu follows the closing quote; only '@' may "
		              "follow a quoted local part (quote the whole local part)",
		              k, s + close + 1, position(p, close + 1));
	}
	if (close + 1 > LOCAL_MAX)
		return REFUSE(p, BL_ADDR_LOCAL_TOO_LONG,
		              "the local part is %zu octets; the limit is %d", close + 1,
		              LOCAL_MAX);
	if (clen == 0)
		return REFUSE(p, BL_ADDR_LOCAL_EMPTY,
		              "the quoted local part \"\" is empty; no mailbox has an empty name");
	if (is_dot_string(content, clen, utf8)) {
		memcpy(p->local, content, clen);
		p->local_len = clen;
	} else {
		size_t o = 0;
		p->local[o++] = '"';
		for (size_t k = 0; k < clen; k++) {
			if (content[k] == '"' || content[k] == '\\')
				p->local[o++] = '\\';
			p->local[o++] = content[k];
		}
		p->local[o++] = '"';
		p->local_len = o; /* never longer than the typed form */
	}
	p->local[p->local_len] = '\0';
	*at = close + 1;
	return 0;
}

/* A Dot-string local part; sets *@at to the offset of the '@'. */
static int parse_dot_string(struct parse *p, size_t *at)
{
	const char *s = p->s;
	int utf8 = (p->flags & BL_ADDRESS_SMTPUTF8) != 0;
	const char *sep = memchr(s, '@', p->n);
	if (!sep)
		return REFUSE(p, BL_ADDR_NO_AT, "there is no '@' in the address");
	size_t end = (size_t)(sep - s);
	if (end == 0)
		return REFUSE(p, BL_ADDR_LOCAL_EMPTY,
		              "nothing before the '@'; the address needs a local part (the name "
		              "before '@')");
	for (size_t i = 0; i < end; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i == 0)
				return REFUSE(p, BL_ADDR_LOCAL_SYNTAX,
				              "the local part starts with a dot");
			if (i + 1 == end)
				return REFUSE(p, BL_ADDR_LOCAL_SYNTAX,
				              "the local part ends with a dot (just before '@')");
			if (s[i + 1] == '.')
				return REFUSE(p, BL_ADDR_LOCAL_SYNTAX,
				              "two dots in a row at position %zu", position(p, i));
		} else if (c >= 0x80) {
			if (!utf8)
				return refuse_utf8_local(p, i);
		} else if (c == '(' || c == ')') {
			return REFUSE(p, BL_ADDR_COMMENT,
			              "'%c' at position %zu: comments in parentheses are not "
			              "accepted; remove them",
			              c, position(p, i));
		} else if (c == ' ' || c == '\t') {
			return REFUSE(p, BL_ADDR_COMMENT,
			              "a space at position %zu; spaces are allowed only inside a "
			              "quoted local part",
			              position(p, i));
		} else if (c == '"') {
			return REFUSE(
			    p, BL_ADDR_LOCAL_SYNTAX,
			    "a '\"' at position %zu inside the local part; quote the whole "
			    "local part or nothing",
			    position(p, i));
		} else if (c == '\\') {
			return REFUSE(p, BL_ADDR_LOCAL_SYNTAX,
			              "a backslash at position %zu; backslashes are allowed only "
			              "inside a quoted local part",
			              position(p, i));
		} else if (!is_atext(c)) {
			return REFUSE(
			    p, BL_ADDR_LOCAL_SYNTAX,
			    "'%c' at position %zu is not allowed in a local part unless it "
			    "is quoted",
			    c, position(p, i));
		}
	}
	if (end > LOCAL_MAX)
		return REFUSE(p, BL_ADDR_LOCAL_TOO_LONG,
		              "the local part is %zu octets; the limit is %d", end, LOCAL_MAX);
	memcpy(p->local, s, end);
	p->local[end] = '\0';
	p->local_len = end;
	*at = end;
	return 0;
}

/* A label for messages: at most 24 bytes of it, then "...". Cuts only at a
 * UTF-8 character boundary. */
static void label_excerpt(char out[32], const char *label, size_t n)
{
	size_t k = n;
	if (k > 24) {
		k = 24;
		while (k > 0 && ((unsigned char)label[k] & 0xC0) == 0x80)
			k--;
	}
	memcpy(out, label, k);
	strcpy(out + k, k < n ? "..." : "");
}

/*
 * The hostname rules (RFC 1035 §2.3.1, RFC 1123 §2.1) on @dom[0..@n): no
 * empty label, no trailing root dot, labels of letters, digits and hyphens
 * not starting or ending with a hyphen, at most 63 octets each. With @raw
 * (the domain as typed, maybe with U-labels), the length of labels holding
 * non-ASCII bytes is left to libidn2 and the whole-domain limits are not
 * checked yet; else
 * the domain must fit in 255 octets and its top-level label must not be all
 * digits (RFC 3696 §2: that is an IP address written without brackets).
 */
static int check_labels(struct parse *p, const char *dom, size_t n, int raw)
{
	const char *after = raw || !p->converted ? "" : " once converted to ASCII";
	char ex[32];
	if (n > 0 && dom[0] == '.')
		return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX, "the domain starts with a dot");
	if (n > 0 && dom[n - 1] == '.')
		return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX,
		              "the domain ends with a dot; remove the trailing dot");
	size_t start = 0, last = 0;
	while (start <= n) {
		const char *dot = memchr(dom + start, '.', n - start);
		size_t end = dot ? (size_t)(dot - dom) : n;
		const char *label = dom + start;
		size_t len = end - start;
		int ascii = 1;
		if (len == 0)
			return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX,
			              "the domain has an empty label (two dots in a row)");
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)label[i];
			if (c >= 0x80)
				ascii = 0;
			else if (!is_ldh(c))
				return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX,
				              "'%c' is not allowed in a domain%s; use letters, "
				              "digits, hyphens and dots",
				              c, after);
		}
		label_excerpt(ex, label, len);
		if (len > LABEL_MAX && (ascii || !raw))
			return REFUSE(p, BL_ADDR_DOMAIN_TOO_LONG,
			              "the domain label '%s' is %zu octets%s; the limit is %d", ex,
			              len, after, LABEL_MAX);
		if (label[0] == '-')
			return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX,
			              "the domain label '%s' starts with a hyphen", ex);
		if (label[len - 1] == '-')
			return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX,
			              "the domain label '%s' ends with a hyphen", ex);
		last = start;
		start = end + 1;
	}
	if (raw)
		return 0;
	if (n > DOMAIN_MAX)
		return REFUSE(p, BL_ADDR_DOMAIN_TOO_LONG,
		              "the domain is %zu octets%s; the limit is %d", n, after, DOMAIN_MAX);
	size_t k = last;
	while (k < n && is_ascii_digit((unsigned char)dom[k]))
		k++;
	if (k == n) {
		label_excerpt(ex, dom + last, n - last);
		return REFUSE(p, BL_ADDR_DOMAIN_SYNTAX,
		              "the top-level domain '%s' is all digits; no such domain exists (IP "
		              "addresses are not accepted)",
		              ex);
	}
	return 0;
}

static void idn2_oom(int rc)
{
	if (rc == IDN2_MALLOC) {
		bl_log(BL_LOG_FATAL, __FILE__, __LINE__, "out of memory in libidn2");
		abort();
	}
}

/* Converts one label holding non-ASCII (@label, NUL-terminated, @n bytes) to
 * its A-label and appends it to p->domain. */
static int convert_label(struct parse *p, const char *label, size_t n)
{
	char ex[32], *ascii = NULL;
	label_excerpt(ex, label, n);
	int rc = idn2_lookup_u8((const uint8_t *)label, (uint8_t **)&ascii, IDN_FLAGS);
	idn2_oom(rc);
	if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT)
		return REFUSE(p, BL_ADDR_DOMAIN_TOO_LONG,
		              "the domain label '%s' is over %d octets once converted to ASCII "
		              "(xn--...)",
		              ex, LABEL_MAX);
	if (rc != IDN2_OK)
		return REFUSE(p, BL_ADDR_DOMAIN_IDNA,
		              "the domain label '%s' is not a valid internationalised label "
		              "(IDNA2008): %s",
		              ex, idn2_strerror(rc));
	size_t alen = strlen(ascii);
	if (p->domain_len + alen > DOMAIN_RAW_MAX) {
		idn2_free(ascii);
		return REFUSE(p, BL_ADDR_DOMAIN_TOO_LONG,
		              "the domain is over %d octets once converted to ASCII", DOMAIN_MAX);
	}
	memcpy(p->domain + p->domain_len, ascii, alen);
	p->domain_len += alen;
	idn2_free(ascii);
	return 0;
}

/* Whether the A-label @label survives libidn2's lookup unchanged, and its
 * Unicode form converts back to it. libidn2 accepts some A-labels whose
 * U-label holds characters UTS #46 maps to others (U+3231 "(株)"); these
 * are not IDNA2008 A-labels, and the display form would not lead back. */
static int a_label_round_trips(const char *label, int *rc)
{
	char *ascii = NULL, *u = NULL, *back = NULL;
	int same = 0;
	*rc = idn2_lookup_u8((const uint8_t *)label, (uint8_t **)&ascii, IDN_FLAGS);
	idn2_oom(*rc);
	if (*rc != IDN2_OK || strcmp(ascii, label) != 0)
		goto out;
	int urc = idn2_to_unicode_8z8z(label, &u, 0);
	idn2_oom(urc);
	if (urc != IDN2_OK)
		goto out;
	int brc = idn2_lookup_u8((const uint8_t *)u, (uint8_t **)&back, IDN_FLAGS);
	idn2_oom(brc);
	same = brc == IDN2_OK && strcmp(back, label) == 0;
out:
	idn2_free(ascii);
	idn2_free(u);
	idn2_free(back);
	return same;
}

/* Checks that every xn-- label of the ASCII domain in p->domain is a valid
 * A-label (RFC 5891 §5.4): libidn2 accepts it and it round-trips. */
static int check_a_labels(struct parse *p)
{
	char label[LABEL_MAX + 1], ex[32];
	const char *dom = p->domain;
	size_t n = p->domain_len, start = 0;
	while (start <= n) {
		const char *dot = memchr(dom + start, '.', n - start);
		size_t end = dot ? (size_t)(dot - dom) : n, len = end - start;
		if (len >= 4 && memcmp(dom + start, "xn--", 4) == 0) {
			int rc;
			memcpy(label, dom + start, len); /* len <= LABEL_MAX: checked */
			label[len] = '\0';
			label_excerpt(ex, label, len);
			if (!a_label_round_trips(label, &rc))
				return REFUSE(p, BL_ADDR_DOMAIN_IDNA,
				              "the domain label '%s' is not a valid A-label "
				              "(IDNA2008): %s",
				              ex,
				              rc != IDN2_OK ? idn2_strerror(rc)
				                            : "it does not convert back to itself");
		}
		start = end + 1;
	}
	return 0;
}

/* Whether @s starts with U+3002, U+FF0E or U+FF61 (full stops UTS #46 maps
 * to '.'). */
static int is_wide_dot(const char *s, size_t n)
{
	return n >= 3 && (!memcmp(s, "\xE3\x80\x82", 3) || !memcmp(s, "\xEF\xBC\x8E", 3) ||
	                  !memcmp(s, "\xEF\xBD\xA1", 3));
}

/* The domain after the '@' at @at: copied to p->domain as lower-case
 * A-labels. */
static int parse_domain(struct parse *p, size_t at)
{
	const char *dom = p->s + at + 1;
	size_t n = p->n - at - 1;
	if (n == 0)
		return REFUSE(
		    p, BL_ADDR_DOMAIN_EMPTY,
		    "nothing after the '@'; the address needs a domain (like example.com)");
	if (dom[0] == '[')
		return REFUSE(p, BL_ADDR_DOMAIN_LITERAL,
		              "address literals like [192.0.2.1] are not accepted; use the "
		              "mailbox's domain name");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)dom[i];
		size_t off = at + 1 + i;
		if (c >= 0x80)
			continue;
		if (c == '(' || c == ')')
			return REFUSE(p, BL_ADDR_COMMENT,
			              "'%c' at position %zu: comments in parentheses are not "
			              "accepted; remove them",
			              c, position(p, off));
		else if (c == ' ' || c == '\t')
			return REFUSE(p, BL_ADDR_COMMENT,
			              "a space at position %zu; a domain cannot hold spaces",
			              position(p, off));
		else if (c == '@')
			return REFUSE(
			    p, BL_ADDR_DOMAIN_SYNTAX,
			    "a second '@' at position %zu; an address has exactly one '@' "
			    "outside quotes",
			    position(p, off));
		else if (c != '.' && !is_ldh(c))
			return REFUSE(
			    p, BL_ADDR_DOMAIN_SYNTAX,
			    "'%c' at position %zu is not allowed in a domain; use letters, "
			    "digits, hyphens and dots",
			    c, position(p, off));
	}
	if (n > DOMAIN_RAW_MAX)
		return REFUSE(p, BL_ADDR_DOMAIN_TOO_LONG,
		              "the domain is %zu octets; the limit is %d", n, DOMAIN_MAX);
	/* UTS #46 maps the ideographic and fullwidth full stops to '.'; do it
	 * first so labels are split where a person sees them split. */
	char typed[DOMAIN_RAW_MAX + 1];
	size_t tn = 0;
	for (size_t i = 0; i < n; i++) {
		if (is_wide_dot(dom + i, n - i)) {
			typed[tn++] = '.';
			i += 2;
		} else {
			typed[tn++] = dom[i];
		}
	}
	typed[tn] = '\0';
	bl_ascii_lower(typed);
	int rc = check_labels(p, typed, tn, 1);
	if (rc)
		return rc;
	/* ASCII labels are kept as they are (hostname rules, A-labels checked
	 * below); each label holding non-ASCII goes through libidn2 on its own,
	 * so a label is judged the same whatever its neighbours. */
	p->domain_len = 0;
	for (size_t start = 0; start <= tn;) {
		char *dot = memchr(typed + start, '.', tn - start);
		size_t end = dot ? (size_t)(dot - typed) : tn;
		int ascii = 1;
		for (size_t i = start; i < end; i++)
			if ((unsigned char)typed[i] >= 0x80)
				ascii = 0;
		if (p->domain_len + 1 + (ascii ? end - start : 0) > DOMAIN_RAW_MAX)
			return REFUSE(p, BL_ADDR_DOMAIN_TOO_LONG,
			              "the domain is over %d octets once converted to ASCII",
			              DOMAIN_MAX);
		if (start > 0)
			p->domain[p->domain_len++] = '.';
		if (ascii) {
			memcpy(p->domain + p->domain_len, typed + start, end - start);
			p->domain_len += end - start;
		} else {
			typed[end] = '\0';
			p->converted = 1;
			if ((rc = convert_label(p, typed + start, end - start)))
				return rc;
		}
		start = end + 1;
	}
	p->domain[p->domain_len] = '\0';
	bl_ascii_lower(p->domain);
	rc = check_labels(p, p->domain, p->domain_len, 0);
	return rc ? rc : check_a_labels(p);
}

/* Whether @dom has a label starting "xn--" (it is already lower case). */
static int has_a_label(const char *dom)
{
	return strncmp(dom, "xn--", 4) == 0 || strstr(dom, ".xn--") != NULL;
}

int bl_address_parse(const char *in, size_t len, unsigned flags, struct bl_address *out,
                     enum bl_address_problem *problem, struct bl_diag *d)
{
	struct parse p = {.in = in ? in : "", .flags = flags, .problem = problem, .d = d};
	struct bl_address a;
	size_t start, at = 0;
	int rc;

	p.n = in ? bl_trim_span(in, len, &start) : 0;
	p.s = in ? in + start : p.in;
	if (p.n == 0)
		return REFUSE(&p, BL_ADDR_EMPTY, "the address is empty");
	if ((rc = scan_characters(&p)))
		return rc;
	rc = p.s[0] == '"' ? parse_quoted(&p, &at) : parse_dot_string(&p, &at);
	if (rc)
		return rc;
	if ((rc = parse_domain(&p, at)))
		return rc;

	size_t total = p.local_len + 1 + p.domain_len;
	if (total > BL_ADDRESS_MAX)
		return REFUSE(&p, BL_ADDR_TOO_LONG, "the address is %zu octets%s; the limit is %d",
		              total, p.converted ? " once its domain is converted to ASCII" : "",
		              BL_ADDRESS_MAX);

	memcpy(a.email, p.local, p.local_len);
	a.email[p.local_len] = '@';
	memcpy(a.email + p.local_len + 1, p.domain, p.domain_len + 1);
	memcpy(a.key, a.email, total + 1);
	bl_ascii_lower(a.key);
	a.local_len = p.local_len;

	/* The display form: U-labels for people. libidn2 has accepted every
	 * label, so the conversion back is expected to work; if it ever does
	 * not, the A-label form is shown instead. */
	memcpy(a.display, a.email, total + 1);
	if (has_a_label(p.domain)) {
		char *u = NULL;
		int irc = idn2_to_unicode_8z8z(p.domain, &u, 0);
		idn2_oom(irc);
		if (irc == IDN2_OK && p.local_len + 1 + strlen(u) < sizeof(a.display))
			strcpy(a.display + p.local_len + 1, u);
		idn2_free(u);
	}

	*out = a;
	set_problem(&p, BL_ADDR_OK);
	bl_diag_clear(d);
	return 0;
}

const char *bl_address_problem_name(enum bl_address_problem p)
{
	static const char *const names[] = {
	    [BL_ADDR_OK] = "ok",
	    [BL_ADDR_EMPTY] = "empty",
	    [BL_ADDR_NO_AT] = "no-at",
	    [BL_ADDR_LOCAL_EMPTY] = "local-empty",
	    [BL_ADDR_LOCAL_TOO_LONG] = "local-too-long",
	    [BL_ADDR_LOCAL_SYNTAX] = "local-syntax",
	    [BL_ADDR_QUOTED_SYNTAX] = "quoted-syntax",
	    [BL_ADDR_LOCAL_UTF8] = "local-utf8",
	    [BL_ADDR_DOMAIN_EMPTY] = "domain-empty",
	    [BL_ADDR_DOMAIN_LITERAL] = "domain-literal",
	    [BL_ADDR_DOMAIN_SYNTAX] = "domain-syntax",
	    [BL_ADDR_DOMAIN_TOO_LONG] = "domain-too-long",
	    [BL_ADDR_DOMAIN_IDNA] = "domain-idna",
	    [BL_ADDR_TOO_LONG] = "too-long",
	    [BL_ADDR_CONTROL] = "control",
	    [BL_ADDR_INVISIBLE] = "invisible",
	    [BL_ADDR_BAD_UTF8] = "bad-utf8",
	    [BL_ADDR_COMMENT] = "comment",
	};
	if ((unsigned)p >= sizeof(names) / sizeof(names[0]) || !names[p])
		return "unknown";
	return names[p];
}
