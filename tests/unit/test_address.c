/*
 * Tests of the address validator (src/core/address.c): our own table of
 * cases (every diagnosis, the exact limits, quoting, IDN, smtputf8, control
 * and invisible characters), then the two public is_email corpora read in
 * place from $BL_CORPORA. Corpus verdicts are mapped onto accept/refuse under
 * bulletin's policy; every case where we disagree must be listed in
 * known_disagreements[] with its reason, and a listed case that has come to
 * agree fails the test too, so the list stays true.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/address.h"
#include "util/utf8.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UTF8 BL_ADDRESS_SMTPUTF8

/* A string literal and its length, so cases may hold NUL bytes. */
#define LIT(s) s, sizeof(s) - 1

/* Prints @n bytes of @s with non-printable and non-ASCII bytes as \xNN. */
static const char *shown(const char *s, size_t n)
{
	static char buf[4][2048];
	static int which;
	char *out = buf[which++ % 4];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < sizeof(buf[0]); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7F && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02X", c);
	}
	out[o] = '\0';
	return out;
}

/* Writes @shape with its one "%s" replaced by the @k bytes at @ch (which
 * may be a NUL) into @out; returns the length. */
static size_t splice(char *out, const char *shape, const char *ch, size_t k)
{
	const char *p = strstr(shape, "%s");
	size_t pre = (size_t)(p - shape);
	memcpy(out, shape, pre);
	memcpy(out + pre, ch, k);
	strcpy(out + pre + k, p + 2);
	return pre + k + strlen(p + 2);
}

/* --- our own cases ---------------------------------------------------- */

struct addr_case {
	const char *in;
	size_t len;
	unsigned flags;
	enum bl_address_problem want; /* BL_ADDR_OK: accepted */
	const char *email;            /* accepted: the three forms wanted */
	const char *key;
	const char *display;
	const char *msg; /* refused: a substring the message must hold */
};

#define OK(s, fl, e, k, disp)                                                                      \
	{                                                                                          \
		LIT(s), (fl), BL_ADDR_OK, (e), (k), (disp), NULL                                   \
	}
#define NO(s, fl, prob, m)                                                                         \
	{                                                                                          \
		LIT(s), (fl), (prob), NULL, NULL, NULL, (m)                                        \
	}

static const struct addr_case cases[] = {
    /* plain addresses, case, trimming */
    OK("user@example.com", 0, "user@example.com", "user@example.com", "user@example.com"),
    OK("User.Name+tag@Example.COM", 0, "User.Name+tag@example.com", "user.name+tag@example.com",
       "User.Name+tag@example.com"),
    OK("JOHN@EXAMPLE.ORG", 0, "JOHN@example.org", "john@example.org", "JOHN@example.org"),
    OK("  user@example.com  ", 0, "user@example.com", "user@example.com", "user@example.com"),
    OK("\t user@example.com\t", 0, "user@example.com", "user@example.com", "user@example.com"),
    OK("!#$%&'*+-/=?^_`{|}~@example.com", 0, "!#$%&'*+-/=?^_`{|}~@example.com",
       "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"),
    OK("a@b.c", 0, "a@b.c", "a@b.c", "a@b.c"),
    OK("first.last@sub.example.co.uk", 0, "first.last@sub.example.co.uk",
       "first.last@sub.example.co.uk", "first.last@sub.example.co.uk"),
    OK("user@localhost", 0, "user@localhost", "user@localhost", "user@localhost"),
    OK("user@123.example", 0, "user@123.example", "user@123.example", "user@123.example"),
    OK("user@a-b.example", 0, "user@a-b.example", "user@a-b.example", "user@a-b.example"),
    OK("user@ab--cd.example", 0, "user@ab--cd.example", "user@ab--cd.example",
       "user@ab--cd.example"),
    OK("xn--user@example.com", 0, "xn--user@example.com", "xn--user@example.com",
       "xn--user@example.com"),
    OK("user@example.x1", 0, "user@example.x1", "user@example.x1", "user@example.x1"),

    /* quoted local parts: minimal quoting, §4.1.2 */
    OK("\"john\"@example.com", 0, "john@example.com", "john@example.com", "john@example.com"),
    OK("\"jo\\hn\"@example.com", 0, "john@example.com", "john@example.com", "john@example.com"),
    OK("\"John\"@Example.com", 0, "John@example.com", "john@example.com", "John@example.com"),
    OK("\"john smith\"@example.com", 0, "\"john smith\"@example.com", "\"john smith\"@example.com",
       "\"john smith\"@example.com"),
    OK("\"John\\ Smith\"@example.com", 0, "\"John Smith\"@example.com",
       "\"john smith\"@example.com", "\"John Smith\"@example.com"),
    OK("\"a\\\"b\"@example.com", 0, "\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com",
       "\"a\\\"b\"@example.com"),
    OK("\"a\\\\b\"@example.com", 0, "\"a\\\\b\"@example.com", "\"a\\\\b\"@example.com",
       "\"a\\\\b\"@example.com"),
    OK("\"a@b\"@example.com", 0, "\"a@b\"@example.com", "\"a@b\"@example.com",
       "\"a@b\"@example.com"),
    OK("\".john\"@example.com", 0, "\".john\"@example.com", "\".john\"@example.com",
       "\".john\"@example.com"),
    OK("\"jo..hn\"@example.com", 0, "\"jo..hn\"@example.com", "\"jo..hn\"@example.com",
       "\"jo..hn\"@example.com"),
    OK("\"a(b)c\"@example.com", 0, "\"a(b)c\"@example.com", "\"a(b)c\"@example.com",
       "\"a(b)c\"@example.com"),

    /* IDN domains: A-label in email and key, U-label in display */
    OK("user@bücher.example", 0, "user@xn--bcher-kva.example", "user@xn--bcher-kva.example",
       "user@bücher.example"),
    OK("User@BÜCHER.Example", 0, "User@xn--bcher-kva.example", "user@xn--bcher-kva.example",
       "User@bücher.example"),
    OK("user@xn--bcher-kva.example", 0, "user@xn--bcher-kva.example", "user@xn--bcher-kva.example",
       "user@bücher.example"),
    OK("user@XN--BCHER-KVA.Example", 0, "user@xn--bcher-kva.example", "user@xn--bcher-kva.example",
       "user@bücher.example"),
    OK("user@faß.de", 0, "user@xn--fa-hia.de", "user@xn--fa-hia.de", "user@faß.de"),
    OK("user@例え。jp", 0, "user@xn--r8jz45g.jp", "user@xn--r8jz45g.jp", "user@例え.jp"),
    OK("user@ｅｘａｍｐｌｅ.com", 0, "user@example.com", "user@example.com", "user@example.com"),
    OK("user@xn--55qx5d.xn--tckwe", 0, "user@xn--55qx5d.xn--tckwe", "user@xn--55qx5d.xn--tckwe",
       "user@公司.コム"),
    OK("user@bücher.xn--tckwe", 0, "user@xn--bcher-kva.xn--tckwe", "user@xn--bcher-kva.xn--tckwe",
       "user@bücher.コム"),

    /* smtputf8 on */
    OK("ñoñó@example.com", UTF8, "ñoñó@example.com", "ñoñó@example.com", "ñoñó@example.com"),
    OK("Ñoño@Example.com", UTF8, "Ñoño@example.com", "Ñoño@example.com", "Ñoño@example.com"),
    OK("伊昭傑@郵件.商務", UTF8, "伊昭傑@xn--5nqv22n.xn--lhr59c", "伊昭傑@xn--5nqv22n.xn--lhr59c",
       "伊昭傑@郵件.商務"),
    OK("\"ñ o\"@example.com", UTF8, "\"ñ o\"@example.com", "\"ñ o\"@example.com",
       "\"ñ o\"@example.com"),
    OK("\"ñ\"@example.com", UTF8, "ñ@example.com", "ñ@example.com", "ñ@example.com"),
    OK("user@example.com", UTF8, "user@example.com", "user@example.com", "user@example.com"),

    /* smtputf8 off */
    NO("ñoñó@example.com", 0, BL_ADDR_LOCAL_UTF8, "config key `smtputf8`"),
    NO("jñ@example.com", 0, BL_ADDR_LOCAL_UTF8, "position 2"),
    NO("\"ñ o\"@example.com", 0, BL_ADDR_LOCAL_UTF8, "smtputf8"),
    NO("\"a\\ñ\"@example.com", 0, BL_ADDR_LOCAL_UTF8, "smtputf8"),
    NO("\"a\\ñ\"@example.com", UTF8, BL_ADDR_QUOTED_SYNTAX, "only ASCII characters"),

    /* empty, no '@', empty parts */
    NO("", 0, BL_ADDR_EMPTY, "empty"),
    NO("    ", 0, BL_ADDR_EMPTY, "empty"),
    NO(" \t ", UTF8, BL_ADDR_EMPTY, "empty"),
    NO("john.example.com", 0, BL_ADDR_NO_AT, "no '@'"),
    NO("\"john\"", 0, BL_ADDR_NO_AT, "no '@'"),
    NO("@example.com", 0, BL_ADDR_LOCAL_EMPTY, "nothing before"),
    NO("\"\"@example.com", 0, BL_ADDR_LOCAL_EMPTY, "empty"),
    NO("john@", 0, BL_ADDR_DOMAIN_EMPTY, "nothing after"),
    NO("\"john\"@", 0, BL_ADDR_DOMAIN_EMPTY, "nothing after"),

    /* dot-string local part */
    NO(".john@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "starts with a dot"),
    NO("john.@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "ends with a dot"),
    NO("jo..hn@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "two dots in a row at position 3"),
    NO("jo,hn@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "',' at position 3"),
    NO("john<@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "'<' at position 5"),
    NO("jo\"hn@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "quote the whole"),
    NO("jo\\@hn@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "backslash at position 3"),
    NO("john[1]@example.com", 0, BL_ADDR_LOCAL_SYNTAX, "'['"),

    /* quoted-string local part */
    NO("\"john@example.com", 0, BL_ADDR_QUOTED_SYNTAX, "no closing"),
    NO("\"john\\", 0, BL_ADDR_QUOTED_SYNTAX, "backslash"),
    NO("\"john\\\"@example.com", 0, BL_ADDR_QUOTED_SYNTAX, "no closing"),
    NO("\"john\"x@example.com", 0, BL_ADDR_QUOTED_SYNTAX, "'x' at position 7"),
    NO("\"john\".smith@example.com", 0, BL_ADDR_QUOTED_SYNTAX, "quote the whole"),
    NO("\"john\"\u00FC@example.com", UTF8, BL_ADDR_QUOTED_SYNTAX, "'\u00FC' at position 7"),

    /* comments and folding whitespace (RFC 5322 CFWS) */
    NO("john(comment)@example.com", 0, BL_ADDR_COMMENT, "'(' at position 5"),
    NO("(comment)john@example.com", 0, BL_ADDR_COMMENT, "comments"),
    NO("john@(comment)example.com", 0, BL_ADDR_COMMENT, "comments"),
    NO("john@example.com(comment)", 0, BL_ADDR_COMMENT, "position 17"),
    NO("john @example.com", 0, BL_ADDR_COMMENT, "space at position 5"),
    NO("john smith@example.com", 0, BL_ADDR_COMMENT, "space at position 5"),
    NO("john@ example.com", 0, BL_ADDR_COMMENT, "space at position 6"),
    NO("john@example .com", 0, BL_ADDR_COMMENT, "space"),
    NO("\"john\" @example.com", 0, BL_ADDR_COMMENT, "space at position 7"),
    NO("\"john\"(c)@example.com", 0, BL_ADDR_COMMENT, "comment"),

    /* address literals */
    NO("john@[192.0.2.1]", 0, BL_ADDR_DOMAIN_LITERAL, "address literals"),
    NO("john@[IPv6:2001:db8::1]", 0, BL_ADDR_DOMAIN_LITERAL, "not accepted"),
    NO("\"john\"@[192.0.2.1]", UTF8, BL_ADDR_DOMAIN_LITERAL, "address literals"),

    /* domain syntax */
    NO("john@.example.com", 0, BL_ADDR_DOMAIN_SYNTAX, "starts with a dot"),
    NO("john@example.com.", 0, BL_ADDR_DOMAIN_SYNTAX, "ends with a dot"),
    NO("john@example..com", 0, BL_ADDR_DOMAIN_SYNTAX, "empty label"),
    NO("john@-example.com", 0, BL_ADDR_DOMAIN_SYNTAX, "'-example' starts with a hyphen"),
    NO("john@example-.com", 0, BL_ADDR_DOMAIN_SYNTAX, "'example-' ends with a hyphen"),
    NO("john@example.com-", 0, BL_ADDR_DOMAIN_SYNTAX, "ends with a hyphen"),
    NO("john@ex_ample.com", 0, BL_ADDR_DOMAIN_SYNTAX, "'_' at position 8"),
    NO("john@example,com", 0, BL_ADDR_DOMAIN_SYNTAX, "','"),
    NO("john@@example.com", 0, BL_ADDR_DOMAIN_SYNTAX, "second '@' at position 6"),
    NO("john@example.com@example.org", 0, BL_ADDR_DOMAIN_SYNTAX, "second '@'"),
    NO("john@example.[192.0.2.1]", 0, BL_ADDR_DOMAIN_SYNTAX, "'['"),
    NO("john@example.123", 0, BL_ADDR_DOMAIN_SYNTAX, "'123' is all digits"),
    NO("john@192.0.2.1", 0, BL_ADDR_DOMAIN_SYNTAX, "all digits"),
    NO("john@℀.com", 0, BL_ADDR_DOMAIN_SYNTAX, "once converted to ASCII"),
    NO("john@例え。", 0, BL_ADDR_DOMAIN_SYNTAX, "ends with a dot"),

    /* IDNA */
    NO("john@xn--abc.com", 0, BL_ADDR_DOMAIN_IDNA, "'xn--abc' is not a valid A-label"),
    NO("john@xn--zz.com", 0, BL_ADDR_DOMAIN_IDNA, "not a valid A-label"),
    /* found by fuzz_address: libidn2 accepts it, but its U-label (U+3231 ...)
     * maps to something else under UTS #46 */
    NO("john@xn--enknowneeeeeeeeeeeeeeeeeeeeeeeesdueeeeee.example", 0, BL_ADDR_DOMAIN_IDNA,
       "does not convert back to itself"),
    NO("john@xn--abc-.com", 0, BL_ADDR_DOMAIN_SYNTAX, "ends with a hyphen"),
    NO("john@😆.example", 0, BL_ADDR_DOMAIN_IDNA, "'😆'"),
    /* found by fuzz_address: an R-LDH ASCII label next to an A-label */
    OK("user@xs--b.xn--ex1mple", 0, "user@xs--b.xn--ex1mple", "user@xs--b.xn--ex1mple",
       "user@xs--b.\U0002C3DE\U0002C314\U0002C3DC"),
    OK("john@ab--cd.bücher.example", 0, "john@ab--cd.xn--bcher-kva.example",
       "john@ab--cd.xn--bcher-kva.example", "john@ab--cd.bücher.example"),
    NO("john@xn--bcher-kva.ab--cd.bücher-.example", 0, BL_ADDR_DOMAIN_SYNTAX, "'bücher-' ends"),
    NO("john@例え。。jp", 0, BL_ADDR_DOMAIN_SYNTAX, "empty label"),
    NO("john@⒈com", 0, BL_ADDR_DOMAIN_IDNA, "'⒈com'"),
    NO("john@-bücher.example", 0, BL_ADDR_DOMAIN_SYNTAX, "'-bücher' starts with a hyphen"),
    NO("john@bücher-.example", 0, BL_ADDR_DOMAIN_SYNTAX, "'bücher-' ends with a hyphen"),

    /* control characters, anywhere, even quoted */
    NO("jo\rhn@example.com", 0, BL_ADDR_CONTROL, "U+000D (carriage return) at position 3"),
    NO("john@example.com\n", 0, BL_ADDR_CONTROL, "U+000A (line feed) at position 17"),
    NO("john@example.com\r\n", UTF8, BL_ADDR_CONTROL, "U+000D"),
    NO("jo\0hn@example.com", 0, BL_ADDR_CONTROL, "U+0000 (NUL) at position 3"),
    NO("john@example.com\0", 0, BL_ADDR_CONTROL, "U+0000"),
    NO("\0", 0, BL_ADDR_CONTROL, "U+0000 (NUL) at position 1"),
    NO("jo\thn@example.com", 0, BL_ADDR_CONTROL, "U+0009 (tab)"),
    NO("\"jo\rhn\"@example.com", 0, BL_ADDR_CONTROL, "U+000D"),
    NO("\"jo\\\nhn\"@example.com", 0, BL_ADDR_CONTROL, "U+000A"),
    NO("jo\x7Fhn@example.com", 0, BL_ADDR_CONTROL, "U+007F (delete)"),
    NO("jo\x1Bhn@example.com", 0, BL_ADDR_CONTROL, "U+001B at position 3"),
    NO("jo\xC2\x85hn@example.com", UTF8, BL_ADDR_CONTROL, "U+0085 at position 3"),
    NO("ñ\rx@example.com", UTF8, BL_ADDR_CONTROL, "position 2"),
    NO("  jo\rhn@example.com", 0, BL_ADDR_CONTROL, "position 5"),

    /* invisible characters (more in test_invisible) */
    NO("jo\u200Bhn@example.com", 0, BL_ADDR_INVISIBLE, "U+200B (zero width space) at position 3"),
    NO("john@exa\u200Dmple.com", 0, BL_ADDR_INVISIBLE, "U+200D (zero width joiner) at position 9"),
    NO("\uFEFFjohn@example.com", 0, BL_ADDR_INVISIBLE, "U+FEFF"),
    NO("john\u00A0@example.com", 0, BL_ADDR_INVISIBLE, "U+00A0 (no-break space) at position 5"),
    NO("ñ\u2060x@example.com", UTF8, BL_ADDR_INVISIBLE, "U+2060 (word joiner) at position 2"),

    /* bytes that are not UTF-8 */
    NO("j\xFFohn@example.com", 0, BL_ADDR_BAD_UTF8, "position 2 (byte 0xFF)"),
    NO("j\xE9r\xF4me@example.com", 0, BL_ADDR_BAD_UTF8, "byte 0xE9"),
    NO("\xC3\x28@example.com", 0, BL_ADDR_BAD_UTF8, "position 1"),
    NO("\xC0\xAF@example.com", 0, BL_ADDR_BAD_UTF8, "0xC0"),
    NO("\xED\xA0\x80@example.com", UTF8, BL_ADDR_BAD_UTF8, "0xED"),
    NO("john@example.com\xC3", 0, BL_ADDR_BAD_UTF8, "position 17"),
    NO("\xFE\xFF\0j\0@\0x", 0, BL_ADDR_BAD_UTF8, "0xFE"),
};

/* Checks one parse against @c, printing got/want; returns 1 if it matched. */
static int check_case(const struct addr_case *c)
{
	struct bl_address a;
	enum bl_address_problem prob = (enum bl_address_problem) - 1;
	struct bl_diag d;
	strcpy(d.msg, "(untouched)");
	memset(&a, 0x5A, sizeof(a));
	int rc = bl_address_parse(c->in, c->len, c->flags, &a, &prob, &d);
	const char *in = shown(c->in, c->len);
	if (c->want == BL_ADDR_OK) {
		if (rc != 0) {
			print_error("parse(\"%s\", flags %u): got refused %s (%s), want accepted\n",
			            in, c->flags, bl_address_problem_name(prob), d.msg);
			return 0;
		}
		int good = prob == BL_ADDR_OK && d.msg[0] == '\0' && !strcmp(a.email, c->email) &&
		           !strcmp(a.key, c->key) && !strcmp(a.display, c->display) &&
		           a.local_len == (size_t)(strrchr(c->email, '@') - c->email);
		/* The display form must lead back to the same mailbox. */
		struct bl_address again;
		if (good && (bl_address_parse(a.display, strlen(a.display), c->flags, &again, NULL,
		                              NULL) != 0 ||
		             strcmp(again.email, a.email) != 0)) {
			print_error("parse(\"%s\"): display %s does not parse back to %s\n", in,
			            a.display, a.email);
			return 0;
		}
		if (!good)
			print_error("parse(\"%s\", flags %u):\n  got  email=%s key=%s display=%s "
			            "local_len=%zu problem=%s msg=\"%s\"\n  want email=%s key=%s "
			            "display=%s\n",
			            in, c->flags, a.email, a.key, a.display, a.local_len,
			            bl_address_problem_name(prob), d.msg, c->email, c->key,
			            c->display);
		return good;
	}
	unsigned char untouched[sizeof(a)];
	memset(untouched, 0x5A, sizeof(untouched));
	int good = rc == -BL_EINVAL && prob == c->want && strstr(d.msg, c->msg) &&
	           !memchr(d.msg, '\n', strlen(d.msg)) && !memcmp(&a, untouched, sizeof(a));
	if (!good)
		print_error("parse(\"%s\", flags %u):\n  got  rc=%d %s \"%s\"%s\n  want rc=%d %s "
		            "with \"%s\"\n",
		            in, c->flags, rc, rc ? bl_address_problem_name(prob) : "accepted",
		            rc ? d.msg : a.email,
		            memcmp(&a, untouched, sizeof(a)) ? " (out was written)" : "",
		            -BL_EINVAL, bl_address_problem_name(c->want), c->msg);
	return good;
}

static void test_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad += !check_case(&cases[i]);
	print_message("# %zu table cases, %d failed\n", sizeof(cases) / sizeof(cases[0]), bad);
	assert_int_equal(bad, 0);
}

/* Builds "<local>@<domain>" from generated parts into @buf. */
static size_t build(char *buf, size_t local, const size_t *labels, size_t nlabels)
{
	size_t o = 0;
	for (size_t i = 0; i < local; i++)
		buf[o++] = (char)('a' + i % 26);
	buf[o++] = '@';
	for (size_t l = 0; l < nlabels; l++) {
		if (l)
			buf[o++] = '.';
		for (size_t i = 0; i < labels[l]; i++)
			buf[o++] =
			    (char)(i + 1 == labels[l] && l + 1 == nlabels ? 'z' : 'b' + i % 24);
	}
	buf[o] = '\0';
	return o;
}

/* The exact limits: local part 64/65, label 63/64, domain 255/256, whole
 * address 254/255, and a quoted local part counted with its quotes. */
static void test_limits(void **state)
{
	(void)state;
	static const struct {
		size_t local, labels[6], nlabels;
		enum bl_address_problem want;
		const char *msg;
	} lim[] = {
	    {64, {7, 3}, 2, BL_ADDR_OK, NULL},
	    {65, {7, 3}, 2, BL_ADDR_LOCAL_TOO_LONG, "local part is 65 octets; the limit is 64"},
	    {1, {63, 3}, 2, BL_ADDR_OK, NULL},
	    {1, {64, 3}, 2, BL_ADDR_DOMAIN_TOO_LONG, "is 64 octets; the limit is 63"},
	    {1, {3, 63}, 2, BL_ADDR_OK, NULL},
	    {1, {3, 64}, 2, BL_ADDR_DOMAIN_TOO_LONG, "is 64 octets; the limit is 63"},
	    /* 64 + 1 + (63 + 1 + 63 + 1 + 61) = 254 */
	    {64, {63, 63, 61}, 3, BL_ADDR_OK, NULL},
	    {64, {63, 63, 62}, 3, BL_ADDR_TOO_LONG, "address is 255 octets; the limit is 254"},
	    {1, {63, 63, 63, 63}, 4, BL_ADDR_TOO_LONG, "address is 257 octets"},
	    {1, {63, 63, 63, 61, 1}, 5, BL_ADDR_TOO_LONG, "address is 257 octets"},
	    {1,
	     {63, 63, 63, 62, 1},
	     5,
	     BL_ADDR_DOMAIN_TOO_LONG,
	     "domain is 256 octets; the limit is 255"},
	};
	int bad = 0;
	char buf[600];
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		for (unsigned flags = 0; flags <= UTF8; flags += UTF8) {
			size_t n = build(buf, lim[i].local, lim[i].labels, lim[i].nlabels);
			struct addr_case c = {buf, n,   flags, lim[i].want,
			                      buf, buf, buf,   lim[i].msg};
			bad += !check_case(&c);
		}
	}
	/* A quoted local part counts its quotes and backslashes as typed. */
	char q[100], want[100];
	q[0] = '"';
	memset(q + 1, 'q', 62);
	strcpy(q + 63, "\"@example.com");
	memcpy(want, q + 1, 62);
	strcpy(want + 62, "@example.com");
	struct addr_case q64 = {q, strlen(q), 0, BL_ADDR_OK, want, want, want, NULL};
	bad += !check_case(&q64);
	q[1] = '\\'; /* "\qqq...": still 64 octets, one q fewer */
	struct addr_case q64b = {q, strlen(q), 0, BL_ADDR_OK, want + 1, want + 1, want + 1, NULL};
	bad += !check_case(&q64b);
	memmove(q + 2, q + 1, strlen(q + 1) + 1); /* "\\qqq...": 65 octets typed */
	struct addr_case q65 = {q,    strlen(q), 0,    BL_ADDR_LOCAL_TOO_LONG,
	                        NULL, NULL,      NULL, "local part is 65 octets"};
	bad += !check_case(&q65);
	/* The domain counts as A-labels: 30 'ü' is "xn--" + 36 octets, 60 is
	 * over 63. */
	char idn[200];
	strcpy(idn, "user@");
	for (int i = 0; i < 60; i++)
		strcat(idn, "ü");
	strcat(idn, ".example");
	struct addr_case u60 = {idn,  strlen(idn), 0,    BL_ADDR_DOMAIN_TOO_LONG,
	                        NULL, NULL,        NULL, "over 63 octets once converted to ASCII"};
	bad += !check_case(&u60);
	/* U-label domains are measured as A-labels: four labels of 20 'ü' and
	 * 28 letters are 55 octets each, the domain 231, the address 296. */
	char big[800];
	memset(big, 'a', 64);
	strcpy(big + 64, "@");
	for (int l = 0; l < 5; l++) {
		for (int i = 0; i < 20; i++)
			strcat(big, "ü");
		strcat(big, "abcdefghijklmnopqrstuvwxyzab.");
		if (l == 3) {
			strcat(big, "example");
			struct addr_case c = {big,
			                      strlen(big),
			                      0,
			                      BL_ADDR_TOO_LONG,
			                      NULL,
			                      NULL,
			                      NULL,
			                      "address is 296 octets once its domain is "
			                      "converted to ASCII; the limit is 254"};
			bad += !check_case(&c);
			struct addr_case c2 = {
			    big + 63, strlen(big + 63), 0, BL_ADDR_OK, NULL, NULL, NULL, NULL};
			struct bl_address out;
			if (bl_address_parse(c2.in, c2.len, 0, &out, NULL, NULL) != 0 ||
			    strlen(out.email) != 233) {
				print_error("parse(%s): want 233 octets accepted\n", c2.in);
				bad++;
			}
			big[strlen(big) - 7] = '\0';
		}
	}
	strcat(big, "example");
	struct addr_case c5 = {
	    big + 63, strlen(big + 63),
	    0,        BL_ADDR_DOMAIN_TOO_LONG,
	    NULL,     NULL,
	    NULL,     "the domain is 287 octets once converted to ASCII; the limit is 255"};
	bad += !check_case(&c5);
	/* Huge input: refused, not overflowed. */
	size_t hn = 100000;
	char *huge = malloc(hn);
	assert_non_null(huge);
	memset(huge, 'a', hn);
	huge[50] = '@';
	struct addr_case h1 = {huge, hn,   0,    BL_ADDR_DOMAIN_TOO_LONG,
	                       NULL, NULL, NULL, "domain is 99949 octets"};
	bad += !check_case(&h1);
	huge[50] = 'a';
	huge[hn - 10] = '@';
	struct addr_case h2 = {huge, hn,   UTF8, BL_ADDR_LOCAL_TOO_LONG,
	                       NULL, NULL, NULL, "local part is 99990 octets"};
	bad += !check_case(&h2);
	free(huge);
	assert_int_equal(bad, 0);
}

/* Every invisible character we know of, in the local part, the domain and a
 * quoted local part: refused with its code point and position. */
static void test_invisible(void **state)
{
	(void)state;
	static const uint32_t cps[] = {
	    0x00A0,  0x00AD,  0x034F,  0x061C,  0x115F,  0x1160,  0x1680,  0x17B4,  0x17B5,
	    0x180B,  0x180E,  0x180F,  0x2000,  0x2001,  0x2002,  0x2003,  0x2004,  0x2005,
	    0x2006,  0x2007,  0x2008,  0x2009,  0x200A,  0x200B,  0x200C,  0x200D,  0x200E,
	    0x200F,  0x2028,  0x2029,  0x202A,  0x202B,  0x202C,  0x202D,  0x202E,  0x202F,
	    0x205F,  0x2060,  0x2061,  0x2062,  0x2063,  0x2064,  0x2065,  0x2066,  0x2067,
	    0x2068,  0x2069,  0x206A,  0x206F,  0x2800,  0x3000,  0x3164,  0xFE00,  0xFE0F,
	    0xFEFF,  0xFFA0,  0xFFF0,  0xFFF8,  0x1BCA0, 0x1BCA3, 0x1D173, 0x1D17A, 0xE0001,
	    0xE0020, 0xE007F, 0xE0100, 0xE01EF, 0xE0FFF,
	};
	static const char *const shapes[] = {"ab%sc@example.com", "abc@exa%smple.com",
	                                     "\"a b%s\"@example.com", "abc@example.com%s"};
	static const size_t where[] = {3, 8, 5, 16};
	int bad = 0;
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		char ch[5] = {0}, in[64], msg[64];
		size_t k = bl_utf8_encode(cps[i], ch);
		assert_true(k > 0);
		for (size_t s = 0; s < 4; s++) {
			size_t n = splice(in, shapes[s], ch, k);
			snprintf(msg, sizeof(msg), "U+%04X (", (unsigned)cps[i]);
			struct addr_case c = {
			    in, n, s == 2 ? UTF8 : 0, BL_ADDR_INVISIBLE, NULL, NULL, NULL, msg};
			bad += !check_case(&c);
			snprintf(msg, sizeof(msg), "at position %zu;", where[s]);
			c.msg = msg;
			bad += !check_case(&c);
		}
	}
	/* Look-alikes that are visible stay accepted (in a quoted local part). */
	struct addr_case vis = {LIT("a\u00B7b@example.com"),
	                        UTF8,
	                        BL_ADDR_OK,
	                        "a\u00B7b@example.com",
	                        "a\u00B7b@example.com",
	                        "a\u00B7b@example.com",
	                        NULL};
	bad += !check_case(&vis);
	assert_int_equal(bad, 0);
}

/* Every C0 control, DEL and every C1 control, at the start, inside and at
 * the end (where trimming must not remove it). */
static void test_controls(void **state)
{
	(void)state;
	int bad = 0;
	for (uint32_t cp = 0; cp <= 0x9F; cp++) {
		if (cp >= 0x20 && cp < 0x7F)
			continue;
		char ch[5] = {0}, in[64], msg[64];
		size_t k = bl_utf8_encode(cp, ch);
		static const char *const shapes[] = {"%sab@example.com", "a%sb@example.com",
		                                     "ab@example.com%s", "\"a%sb\"@example.com"};
		static const size_t where[] = {1, 2, 15, 3};
		for (size_t s = 0; s < 4; s++) {
			if (cp == '\t' && (s == 0 || s == 2))
				continue; /* trimmed: see the table */
			size_t n = splice(in, shapes[s], ch, k);
			snprintf(msg, sizeof(msg), "U+%04X", (unsigned)cp);
			struct addr_case c = {in,   n,    s ? 0 : UTF8, BL_ADDR_CONTROL,
			                      NULL, NULL, NULL,         msg};
			bad += !check_case(&c);
			snprintf(msg, sizeof(msg), "at position %zu;", where[s]);
			c.msg = msg;
			bad += !check_case(&c);
		}
	}
	assert_int_equal(bad, 0);
}

/* NULL arguments, names, and that a refusal leaves @out alone. */
static void test_api(void **state)
{
	(void)state;
	struct bl_address a;
	enum bl_address_problem p = BL_ADDR_OK;
	struct bl_diag d;
	assert_int_equal(bl_address_parse(NULL, 0, 0, &a, &p, &d), -BL_EINVAL);
	assert_int_equal(p, BL_ADDR_EMPTY);
	assert_int_equal(bl_address_parse("a@b", 3, 0, &a, NULL, NULL), 0);
	assert_string_equal(a.email, "a@b");
	assert_int_equal(bl_address_parse("a@", 2, 0, &a, NULL, NULL), -BL_EINVAL);
	assert_string_equal(a.email, "a@b");
	/* Only @len bytes count, not the NUL. */
	assert_int_equal(bl_address_parse("a@b.cdef", 5, 0, &a, &p, &d), 0);
	assert_string_equal(a.email, "a@b.c");
	assert_int_equal(p, BL_ADDR_OK);
	assert_string_equal(d.msg, "");

	const char *seen[BL_ADDR_COMMENT + 1];
	for (int i = 0; i <= BL_ADDR_COMMENT; i++) {
		seen[i] = bl_address_problem_name((enum bl_address_problem)i);
		assert_string_not_equal(seen[i], "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	assert_string_equal(bl_address_problem_name(BL_ADDR_LOCAL_TOO_LONG), "local-too-long");
	assert_string_equal(bl_address_problem_name((enum bl_address_problem)999), "unknown");
}

/* Spellings of one mailbox share a key; different mailboxes do not. */
static void test_keys(void **state)
{
	(void)state;
	static const char *const same[] = {
	    "John.Smith@Bücher.Example",
	    "john.smith@xn--bcher-kva.example",
	    "JOHN.SMITH@BÜCHER.EXAMPLE",
	    "\"john.smith\"@bücher.example",
	    " \"JOHN.\\SMITH\"@XN--BCHER-KVA.EXAMPLE ",
	};
	struct bl_address first, a;
	assert_int_equal(bl_address_parse(same[0], strlen(same[0]), 0, &first, NULL, NULL), 0);
	for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(bl_address_parse(same[i], strlen(same[i]), 0, &a, NULL, NULL), 0);
		if (strcmp(a.key, first.key))
			print_error("key of %s: got %s, want %s\n", same[i], a.key, first.key);
		assert_string_equal(a.key, first.key);
	}
	/* Non-ASCII local parts are compared byte for byte (documented). */
	struct bl_address nfc, nfd;
	assert_int_equal(bl_address_parse(LIT("\u00E9@example.com"), UTF8, &nfc, NULL, NULL), 0);
	assert_int_equal(bl_address_parse(LIT("e\u0301@example.com"), UTF8, &nfd, NULL, NULL), 0);
	assert_string_not_equal(nfc.key, nfd.key);
}

/* --- the corpora -------------------------------------------------------- */

enum { RUN_DEFAULT = 1, RUN_UTF8 = 2, RUN_BOTH = 3 };

/* A corpus case where bulletin's verdict differs from the policy-mapped
 * corpus verdict, with the reason. @runs: with which flag settings. */
struct disagreement {
	const char *corpus; /* "isemail", "isemail-original" (test id), "skeggse" (array index) */
	int id;
	unsigned runs;
	const char *reason;
};

#define NEED_UTF8   "Unicode local part needs smtputf8 (off by default)"
#define EMOJI       "IDNA2008 (libidn2) disallows emoji in domain labels"
#define TRIM        "policy: leading/trailing spaces are trimmed before checking"
#define NO_LITERAL  "policy: address literals are refused"
#define EMPTY_QUOTE "policy: the empty quoted local part \"\" is refused"
#define BAD_ALABEL  "xn--example is not a valid A-label (RFC 5891 §5.4); upstream skips that check"
#define UNASSIGNED  "IDNA2008 (libidn2) disallows U+103FF, unassigned in Unicode"

static const struct disagreement known_disagreements[] = {
    {"isemail", 43, RUN_BOTH, EMPTY_QUOTE},          /* ""@iana.org */
    {"isemail", 157, RUN_BOTH, TRIM},                /* " test@iana.org" */
    {"isemail", 158, RUN_BOTH, TRIM},                /* "test@iana.org " */
    {"isemail-original", 31, RUN_BOTH, EMPTY_QUOTE}, /* ""@iana.org */
    {"isemail-original", 279, RUN_BOTH, BAD_ALABEL}, /* test@xn--example.com */
    {"skeggse", 12, RUN_DEFAULT, NEED_UTF8},         /* êjness@iana.org */
    {"skeggse", 13, RUN_DEFAULT, NEED_UTF8},         /* ñoñó1234@iana.org */
    {"skeggse", 14, RUN_DEFAULT, NEED_UTF8},         /* ñoñó1234@something.com */
    {"skeggse", 15, RUN_DEFAULT, NEED_UTF8},         /* 伊昭傑@郵件.商務 */
    {"skeggse", 16, RUN_DEFAULT, NEED_UTF8},         /* 𐐷𤭢@iana.org */
    {"skeggse", 32, RUN_BOTH, EMOJI},                /* test@😆😆...😆.org */
    {"skeggse", 50, RUN_BOTH, EMPTY_QUOTE},          /* ""@iana.org */
    {"skeggse", 185, RUN_BOTH, TRIM},                /* " test@iana.org" */
    {"skeggse", 186, RUN_BOTH, TRIM},                /* "test@iana.org " */
    {"skeggse", 204, RUN_BOTH, UNASSIGNED},          /* test@\U000103ffñoñó郵件... */
};

_Static_assert(sizeof(known_disagreements) / sizeof(known_disagreements[0]) <= 64,
               "struct tally's used[] is too small");

/* How we map a corpus diagnosis onto accept (1) or refuse (0). The default
 * is upstream's own boolean: accept when the diagnosis is below 16 (valid,
 * DNS warnings, RFC 5321 oddities). Where bulletin's policy is stricter, a
 * rule here says so once for the whole diagnosis. */
static const struct {
	const char *diagnosis; /* isemail ISEMAIL_* name or skeggse camelCase name */
	int accept;
	const char *reason;
} policy[] = {
    {"ISEMAIL_RFC5321_ADDRESSLITERAL", 0, NO_LITERAL},
    {"ISEMAIL_RFC5321_IPV6DEPRECATED", 0, NO_LITERAL},
    {"ISEMAIL_RFC5321_TLDNUMERIC", 0, "policy: all-digit top-level domain refused"},
    {"rfc5321AddressLiteral", 0, NO_LITERAL},
    {"rfc5321TLDNumeric", 0, "policy: all-digit top-level domain refused"},
};

static int policy_verdict(const char *diagnosis, int upstream)
{
	for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
		if (!strcmp(policy[i].diagnosis, diagnosis))
			return policy[i].accept;
	return upstream;
}

/* One corpus run's tally. */
struct tally {
	const char *corpus;
	unsigned run;
	int total, agree, upstream_agree, listed, unlisted, stale;
	int by_policy; /* cases the policy[] rules turned from accept to refuse */
	int used[64];  /* which known_disagreements[] entries matched */
};

static const struct disagreement *find_known(const char *corpus, int id, unsigned run)
{
	for (size_t i = 0; i < sizeof(known_disagreements) / sizeof(known_disagreements[0]); i++) {
		const struct disagreement *k = &known_disagreements[i];
		if (k->corpus && !strcmp(k->corpus, corpus) && k->id == id && (k->runs & run))
			return k;
	}
	return NULL;
}

static void judge(struct tally *t, int id, const char *addr, size_t len, const char *diagnosis,
                  int upstream)
{
	struct bl_address a;
	enum bl_address_problem p;
	struct bl_diag d;
	int want = policy_verdict(diagnosis, upstream);
	int got = bl_address_parse(addr, len, t->run == RUN_UTF8 ? UTF8 : 0, &a, &p, &d) == 0;
	const struct disagreement *k = find_known(t->corpus, id, t->run);
	t->total++;
	t->agree += got == want;
	t->upstream_agree += got == upstream;
	t->by_policy += want != upstream;
	if (k)
		t->used[k - known_disagreements] = 1;
	if (got != want && k) {
		t->listed++;
	} else if (got != want) {
		t->unlisted++;
		print_error("%s #%d \"%s\" (%s, %s): want %s, got %s%s%s\n", t->corpus, id,
		            shown(addr, len), diagnosis,
		            t->run == RUN_UTF8 ? "smtputf8" : "default", want ? "accept" : "refuse",
		            got ? "accept" : "refuse", got ? "" : ": ", got ? "" : d.msg);
	} else if (k) {
		t->stale++;
		print_error("%s #%d \"%s\" (%s): listed as a disagreement (%s) but now agrees\n",
		            t->corpus, id, shown(addr, len),
		            t->run == RUN_UTF8 ? "smtputf8" : "default", k->reason);
	}
}

static void report(const struct tally *t)
{
	const char *flags = t->run == RUN_UTF8 ? "smtputf8 on" : "default flags";
	print_message("# %s (%s): %d/%d agree (%d listed disagreements, %d unlisted, %d stale)\n",
	              t->corpus, flags, t->agree, t->total, t->listed, t->unlisted, t->stale);
	print_message("# %s (%s): %d/%d agree with upstream's boolean verdict (%d cases mapped "
	              "to refuse by policy: address literals, all-digit TLDs)\n",
	              t->corpus, flags, t->upstream_agree, t->total, t->by_policy);
}

static char *corpus_path(const char *rel)
{
	const char *root = getenv("BL_CORPORA");
	if (!root || !*root)
		return NULL;
	size_t n = strlen(root) + strlen(rel) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", root, rel);
	return p;
}

/* Text of the first child element of @test named @name, or NULL. */
static xmlChar *child_text(xmlNode *test, const char *name)
{
	for (xmlNode *c = test->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, (const xmlChar *)name))
			return xmlNodeGetContent(c);
	return NULL;
}

/* Maps the control pictures U+2400..U+241F back to bytes 0x00..0x1F in
 * place (the XML suite's convention); returns the new length. */
static size_t unpicture(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char *u = (unsigned char *)s + i;
		if (i + 2 < n && u[0] == 0xE2 && u[1] == 0x90 && u[2] >= 0x80 && u[2] <= 0x9F) {
			s[o++] = (char)(u[2] - 0x80);
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static int category_below_threshold(const char *category)
{
	return !strcmp(category, "ISEMAIL_VALID_CATEGORY") ||
	       !strcmp(category, "ISEMAIL_DNSWARN") || !strcmp(category, "ISEMAIL_RFC5321");
}

static void run_isemail(struct tally *t, const char *file)
{
	char *path = corpus_path(file);
	if (!path)
		skip();
	xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	if (!doc)
		print_error("cannot parse %s\n", path);
	assert_non_null(doc);
	for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, (const xmlChar *)"test"))
			continue;
		xmlChar *id = xmlGetProp(n, (const xmlChar *)"id");
		xmlChar *addr = child_text(n, "address");
		xmlChar *cat = child_text(n, "category");
		xmlChar *diag = child_text(n, "diagnosis");
		assert_true(id && addr && cat && diag);
		size_t len = unpicture((char *)addr, strlen((char *)addr));
		judge(t, atoi((char *)id), (char *)addr, len, (char *)diag,
		      category_below_threshold((char *)cat));
		xmlFree(id);
		xmlFree(addr);
		xmlFree(cat);
		xmlFree(diag);
	}
	xmlFreeDoc(doc);
	free(path);
}

static void check_tally(const struct tally *t)
{
	report(t);
	assert_true(t->total > 0);
	assert_int_equal(t->unlisted, 0);
	assert_int_equal(t->stale, 0);
}

/* Listed entries that no case of this corpus and run visited. */
static int unused_entries(const struct tally *t)
{
	int n = 0;
	for (size_t i = 0; i < sizeof(known_disagreements) / sizeof(known_disagreements[0]); i++) {
		const struct disagreement *k = &known_disagreements[i];
		if (k->corpus && !strcmp(k->corpus, t->corpus) && (k->runs & t->run) &&
		    !t->used[i]) {
			print_error("%s: listed disagreement #%d matches no case\n", t->corpus,
			            k->id);
			n++;
		}
	}
	return n;
}

/* tests.xml is the set upstream runs; tests-original.xml, the older and
 * larger set with logical duplicates, is run as well for coverage. */
static void test_isemail(void **state)
{
	(void)state;
	static const struct {
		const char *corpus, *file;
	} sets[] = {
	    {"isemail", "isemail/tests.xml"},
	    {"isemail-original", "isemail/tests-original.xml"},
	};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		for (unsigned run = RUN_DEFAULT; run <= RUN_UTF8; run <<= 1) {
			struct tally t = {.corpus = sets[i].corpus, .run = run};
			run_isemail(&t, sets[i].file);
			check_tally(&t);
			assert_int_equal(unused_entries(&t), 0);
		}
	}
}

/* skeggse's JSON holds four lone UTF-16 surrogates (\ud800) that jansson
 * rightly refuses. They are rewritten to private-use escapes U+E000 + k
 * before decoding and turned back into the bytes of the surrogate itself
 * (ED A0 80 + k: not UTF-8, as a byte-oriented caller would see them).
 * Returns the number rewritten. */
static int hide_lone_surrogates(char *text, size_t n)
{
	int count = 0;
	for (size_t i = 0; i + 6 <= n; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] != 'u') {
			i++; /* an escape like \\ or \" */
			continue;
		}
		unsigned v = (unsigned)strtoul(
		    (char[5]){text[i + 2], text[i + 3], text[i + 4], text[i + 5], 0}, NULL, 16);
		int high = v >= 0xD800 && v <= 0xDBFF, low = v >= 0xDC00 && v <= 0xDFFF;
		int paired = high && i + 12 <= n && text[i + 6] == '\\' && text[i + 7] == 'u' &&
		             (text[i + 8] == 'd' || text[i + 8] == 'D') && text[i + 9] &&
		             strchr("cCdDeEfF", text[i + 9]);
		if (paired) {
			i += 11;
		} else if (high || low) {
			char save = text[i + 6];
			snprintf(text + i + 2, 5, "%04X", 0xE000 + (v - 0xD800));
			text[i + 6] = save;
			count++;
			i += 5;
		} else {
			i += 5;
		}
	}
	return count;
}

static size_t unhide_surrogates(char *s, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++) {
		unsigned char *u = (unsigned char *)s + i;
		if (u[0] == 0xEE && u[1] >= 0x80 && u[1] <= 0x9F && (u[2] & 0xC0) == 0x80) {
			uint32_t cp = 0xE000 + ((uint32_t)(u[1] & 0x3F) << 6) + (u[2] & 0x3F);
			cp = cp - 0xE000 + 0xD800;
			u[0] = (unsigned char)(0xE0 | (cp >> 12));
			u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
			u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		}
	}
	return n;
}

/* skeggse diagnosis names and codes (upstream lib/constants.js, as listed in
 * the corpus's SOURCE.md): only the code's threshold matters here. */
static int skeggse_code(const char *name)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = {
	    {"valid", 0},
	    {"rfc5321TLD", 9},
	    {"rfc5321TLDNumeric", 10},
	    {"rfc5321QuotedString", 11},
	    {"rfc5321AddressLiteral", 12},
	    {"cfwsComment", 17},
	    {"cfwsFWS", 18},
	    {"undesiredNonAscii", 25},
	    {"deprecatedLocalPart", 33},
	    {"deprecatedFWS", 34},
	    {"deprecatedQTEXT", 35},
	    {"deprecatedQP", 36},
	    {"deprecatedComment", 37},
	    {"deprecatedCTEXT", 38},
	    {"deprecatedIPv6", 39},
	    {"deprecatedCFWSNearAt", 49},
	    {"rfc5322Domain", 65},
	    {"rfc5322TooLong", 66},
	    {"rfc5322LocalTooLong", 67},
	    {"rfc5322DomainTooLong", 68},
	    {"rfc5322LabelTooLong", 69},
	    {"rfc5322DomainLiteral", 70},
	    {"rfc5322DomainLiteralOBSDText", 71},
	    {"rfc5322IPv6GroupCount", 72},
	    {"rfc5322IPv62x2xColon", 73},
	    {"rfc5322IPv6BadCharacter", 74},
	    {"rfc5322IPv6MaxGroups", 75},
	    {"rfc5322IPv6ColonStart", 76},
	    {"rfc5322IPv6ColonEnd", 77},
	    {"errExpectingDTEXT", 129},
	    {"errNoLocalPart", 130},
	    {"errNoDomain", 131},
	    {"errConsecutiveDots", 132},
	    {"errATEXTAfterCFWS", 133},
	    {"errATEXTAfterQS", 134},
	    {"errATEXTAfterDomainLiteral", 135},
	    {"errExpectingQPair", 136},
	    {"errExpectingATEXT", 137},
	    {"errExpectingQTEXT", 138},
	    {"errExpectingCTEXT", 139},
	    {"errBackslashEnd", 140},
	    {"errDotStart", 141},
	    {"errDotEnd", 142},
	    {"errDomainHyphenStart", 143},
	    {"errDomainHyphenEnd", 144},
	    {"errUnclosedQuotedString", 145},
	    {"errUnclosedComment", 146},
	    {"errUnclosedDomainLiteral", 147},
	    {"errFWSCRLFx2", 148},
	    {"errFWSCRLFEnd", 149},
	    {"errCRNoLF", 150},
	    {"errUnknownTLD", 160},
	    {"errDomainTooShort", 161},
	    {"errDotAfterDomainLiteral", 162},
	    {"errMalformedUnicode", 163},
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(codes[i].name, name))
			return codes[i].code;
	return -1;
}

static void test_skeggse(void **state)
{
	(void)state;
	char *path = corpus_path("isemail-skeggse/tests.json");
	if (!path)
		skip();
	FILE *f = fopen(path, "rb");
	if (!f)
		print_error("cannot open %s\n", path);
	assert_non_null(f);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(text) - 1);
	text[n] = '\0';
	/* The private-use range we borrow must not be in the file already. */
	for (size_t i = 0; i + 1 < n; i++)
		assert_false((unsigned char)text[i] == 0xEE &&
		             ((unsigned char)text[i + 1] & 0xE0) == 0x80);
	assert_null(strstr(text, "\\ue"));
	assert_null(strstr(text, "\\uE"));
	assert_int_equal(hide_lone_surrogates(text, n), 5);

	json_error_t err;
	json_t *root = json_loadb(text, n, JSON_ALLOW_NUL, &err);
	if (!root)
		print_error("%s:%d: %s\n", path, err.line, err.text);
	assert_true(json_is_array(root));
	for (unsigned run = RUN_DEFAULT; run <= RUN_UTF8; run <<= 1) {
		struct tally t = {.corpus = "skeggse", .run = run};
		for (size_t i = 0; i < json_array_size(root); i++) {
			json_t *pair = json_array_get(root, i);
			json_t *a = json_array_get(pair, 0), *dg = json_array_get(pair, 1);
			assert_true(json_is_string(a) && json_is_string(dg));
			size_t len = json_string_length(a);
			char addr[4096];
			assert_true(len < sizeof(addr));
			memcpy(addr, json_string_value(a), len);
			unhide_surrogates(addr, len);
			int code = skeggse_code(json_string_value(dg));
			if (code < 0)
				print_error("skeggse #%zu: unknown diagnosis %s\n", i,
				            json_string_value(dg));
			assert_true(code >= 0);
			judge(&t, (int)i, addr, len, json_string_value(dg), code < 16);
		}
		check_tally(&t);
		assert_int_equal(unused_entries(&t), 0);
	}
	json_decref(root);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),     cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_invisible), cmocka_unit_test(test_controls),
	    cmocka_unit_test(test_api),       cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_isemail),   cmocka_unit_test(test_skeggse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
