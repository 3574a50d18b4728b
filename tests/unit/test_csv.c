/*
 * Tests of the streaming CSV reader (src/import/csv.c): every csv-spectrum
 * case against its JSON, table-driven own cases (BOM, delimiters, line ends,
 * line numbers, limits, malformed quoting, encodings, callback stop), every
 * real export in the corpora, and a bounded-memory check on a 200k-row pipe.
 * Corpora are read in place from $BL_CORPORA. Failures print got/want.
 */
#define _GNU_SOURCE /* mallinfo2 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/csv.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
/* From <sanitizer/allocator_interface.h>, which GCC does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* ---- helpers ---------------------------------------------------------- */

/* A seekable FILE holding @len bytes of @s (tmpfile: works for len 0 too). */
static FILE *file_of(const void *s, size_t len)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(s, 1, len, f), len);
	rewind(f);
	return f;
}

static char *corpus_path(const char *rel)
{
	const char *root = getenv("BL_CORPORA");
	if (!root)
		fail_msg("BL_CORPORA is not set (run through meson test)");
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b, "%s/%s", root, rel);
	return bl_buf_take(&b);
}

/* Append @len bytes of @s to @b, escaping what would hide in a message. */
static void add_escaped(struct bl_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '\r':
			bl_buf_adds(b, "\\r");
			break;
		case '\n':
			bl_buf_adds(b, "\\n");
			break;
		case '\t':
			bl_buf_adds(b, "\\t");
			break;
		case '\0':
			bl_buf_adds(b, "\\0");
			break;
		case '|':
		case '\\':
			bl_buf_addc(b, '\\');
			bl_buf_addc(b, (char)c);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				bl_buf_addf(b, "\\x%02X", c);
			else
				bl_buf_addc(b, (char)c);
		}
	}
}

/*
 * Collects records as text, one per line: "LINE:f1|f2|..." with " !BAD" when
 * bad_utf8 (BAD = bad_field). Checks the record invariants on the way.
 */
struct collect {
	struct bl_buf out;
	size_t records;
	size_t stop_after; /* return stop_rc after this many records; 0 never */
	int stop_rc;
	size_t prev_line;
	int invariant_broken;
};

static int collect_fn(void *arg, const struct bl_csv_record *rec)
{
	struct collect *c = arg;
	if (rec->nfields < 1 || rec->line <= c->prev_line)
		c->invariant_broken = 1;
	for (size_t i = 0; i < rec->nfields; i++)
		if (rec->fields[i][rec->lens[i]] != '\0')
			c->invariant_broken = 1;
	c->prev_line = rec->line;
	bl_buf_addf(&c->out, "%zu:", rec->line);
	for (size_t i = 0; i < rec->nfields; i++) {
		if (i)
			bl_buf_addc(&c->out, '|');
		add_escaped(&c->out, rec->fields[i], rec->lens[i]);
	}
	if (rec->bad_utf8)
		bl_buf_addf(&c->out, " !%zu", rec->bad_field);
	bl_buf_addc(&c->out, '\n');
	c->records++;
	if (c->stop_after && c->records == c->stop_after)
		return c->stop_rc;
	return 0;
}

/* ---- table-driven own cases ------------------------------------------ */

struct read_case {
	const char *name;
	const char *in;
	size_t len;        /* bytes of in (embedded NULs allowed) */
	char force;        /* forced delimiter, 0 to detect */
	size_t stop_after; /* callback returns 42 after this many records */
	int want_rc;
	char want_delim; /* 0: do not check */
	const char *want;
	const char *want_msg; /* substring of the diagnostic; NULL: none */
};

#define IN(s) s, sizeof(s) - 1

static const struct read_case read_cases[] = {
    {"lf", IN("a,b\n1,2\n"), 0, 0, 0, ',', "1:a|b\n2:1|2\n", NULL},
    {"crlf", IN("a,b\r\n1,2\r\n"), 0, 0, 0, ',', "1:a|b\n2:1|2\n", NULL},
    {"cr only", IN("a,b\r1,2\r3,4"), 0, 0, 0, ',', "1:a|b\n2:1|2\n3:3|4\n", NULL},
    {"no final newline", IN("a,b\n1,2"), 0, 0, 0, ',', "1:a|b\n2:1|2\n", NULL},
    {"crlf no final newline", IN("a\r\n\"b\""), 0, 0, 0, ',', "1:a\n2:b\n", NULL},
    {"empty input", IN(""), 0, 0, 0, ',', "", NULL},
    {"only newlines", IN("\n\r\n\r\n  \n"), 0, 0, 0, ',', "", NULL},
    {"bom",
     IN("\xEF\xBB\xBF"
        "email,name\n"
        "a@example.com,Zo\xC3\xAB\n"),
     0, 0, 0, ',', "1:email|name\n2:a@example.com|Zo\xC3\xAB\n", NULL},
    {"bom only", IN("\xEF\xBB\xBF"), 0, 0, 0, ',', "", NULL},
    {"bom semicolon crlf",
     IN("\xEF\xBB\xBF"
        "Email;First name\r\nx@example.com;J\xC3\xB6rg\r\n"),
     0, 0, 0, ';', "1:Email|First name\n2:x@example.com|J\xC3\xB6rg\n", NULL},
    {"detect semicolon", IN("a;b;c\n1;2,5;3\n"), 0, 0, 0, ';', "1:a|b|c\n2:1|2,5|3\n", NULL},
    {"detect ignores quoted", IN("\"x,y,z\";b\n1;2\n"), 0, 0, 0, ';', "1:x,y,z|b\n2:1|2\n", NULL},
    {"detect tab", IN("a\tb\tc\n1\t\t3\n"), 0, 0, 0, '\t', "1:a|b|c\n2:1||3\n", NULL},
    {"tab leading empty field", IN("a\tb\n\tx\n"), 0, 0, 0, '\t', "1:a|b\n2:|x\n", NULL},
    {"detect after empty lines", IN("\n\na;b\n"), 0, 0, 0, ';', "3:a|b\n", NULL},
    {"detect majority", IN("a,b,c;d\n"), 0, 0, 0, ',', "1:a|b|c;d\n", NULL},
    {"detect tie prefers comma", IN("a,b;c\n"), 0, 0, 0, ',', "1:a|b;c\n", NULL},
    {"detect none is comma", IN("x@example.com\ny@example.com\n"), 0, 0, 0, ',',
     "1:x@example.com\n2:y@example.com\n", NULL},
    {"forced semicolon", IN("a,b;c\n"), ';', 0, 0, ';', "1:a,b|c\n", NULL},
    {"forced tab", IN("a,b\tc;d\n"), '\t', 0, 0, '\t', "1:a,b|c;d\n", NULL},
    {"forced comma", IN("a;b;c,d\n"), ',', 0, 0, ',', "1:a;b;c|d\n", NULL},
    {"forced pipe", IN("a|b\n"), '|', 0, 0, '|', "1:a|b\n", NULL},
    {"forced quote refused", IN("a\n"), '"', 0, -BL_EINVAL, 0, "", "delimiter"},
    {"empty lines skipped", IN("\n\na,b\n\n\r\n1,2\n   \n\t\n3,4"), 0, 0, 0, ',',
     "3:a|b\n6:1|2\n9:3|4\n", NULL},
    {"empty fields", IN(",\n,,\n\"\"\n"), 0, 0, 0, ',', "1:|\n2:||\n3:\n", NULL},
    {"trim unquoted, keep quoted", IN(" a , \" b \" ,c \n"), 0, 0, 0, ',', "1:a| b |c\n", NULL},
    {"escaped quotes", IN("\"a \"\"b\"\" c\",\"\"\"\"\n"), 0, 0, 0, ',', "1:a \"b\" c|\"\n", NULL},
    {"multi-line quoted lf", IN("a,b\n\"x\ny\",z\nq,r\n"), 0, 0, 0, ',',
     "1:a|b\n2:x\\ny|z\n4:q|r\n", NULL},
    {"multi-line quoted crlf", IN("a\r\n\"x\r\ny\r\n\r\nz\"\r\nw\r\n"), 0, 0, 0, ',',
     "1:a\n2:x\\r\\ny\\r\\n\\r\\nz\n6:w\n", NULL},
    {"multi-line quoted cr", IN("a\r\"x\ry\",1\rw"), 0, 0, 0, ',', "1:a\n2:x\\ry|1\n4:w\n", NULL},
    {"multi-line quoted lfcr", IN("a\n\"x\n\ry\"\nw\n"), 0, 0, 0, ',', "1:a\n2:x\\n\\ry\n5:w\n",
     NULL},
    {"quoted field across lines then empty lines", IN("\"a\n\nb\"\n\n\nc\n"), 0, 0, 0, ',',
     "1:a\\n\\nb\n6:c\n", NULL},
    {"stray quote tolerated", IN("name,height\nJohn \"Jo\" Doe,5'10\"\n"), 0, 0, 0, ',',
     "1:name|height\n2:John \"Jo\" Doe|5'10\"\n", NULL},
    {"text after closing quote", IN("a,b\n1,\"ab\"c,d\n"), 0, 0, -BL_EINVAL, ',', "1:a|b\n",
     "line 2: unexpected 'c' after the closing quote of field 2"},
    {"quote after closing quote and space", IN("\"ab\" \",x\n"), 0, 0, -BL_EINVAL, ',', "",
     "line 1: unexpected '\"'"},
    {"malformed after multi-line field", IN("h\n\"a\nb\"x\n"), 0, 0, -BL_EINVAL, ',', "1:h\n",
     "line 3: unexpected 'x'"},
    {"unterminated quote", IN("a,b\n1,2\n\"abc,3\n4,5\n"), 0, 0, -BL_EINVAL, ',', "1:a|b\n2:1|2\n",
     "line 3: quoted field 1 of the record starting here has no closing"},
    {"unterminated second field", IN("x,\"abc"), 0, 0, -BL_EINVAL, ',', "",
     "line 1: quoted field 2"},
    {"broken utf8 row flagged", IN("a,b\n1,\xFF\n2,\xC3\xBC\n3,\xC3\n"), 0, 0, 0, ',',
     "1:a|b\n2:1|\xFF !1\n3:2|\xC3\xBC\n4:3|\xC3 !1\n", NULL},
    {"overlong utf8 flagged", IN("\xC0\xAF,x\n"), 0, 0, 0, ',', "1:\xC0\xAF|x !0\n", NULL},
    {"nul byte flagged", IN("a,b\nx\0y,z\n"), 0, 0, 0, ',', "1:a|b\n2:x\\0y|z !0\n", NULL},
    {"callback stop", IN("a\nb\nc\nd\n"), 0, 2, 42, ',', "1:a\n2:b\n", NULL},
    {"callback stop on last record without newline", IN("a\nb"), 0, 2, 42, ',', "1:a\n2:b\n", NULL},
};

static void run_read_case(const struct read_case *t, int *failed)
{
	FILE *f = file_of(t->in, t->len);
	struct collect c = {.stop_after = t->stop_after, .stop_rc = 42};
	bl_buf_init(&c.out, 0);
	struct bl_diag d;
	bl_diag_clear(&d);
	char delim = 0;
	struct bl_csv_opts opts = {.delimiter = t->force};
	int rc = bl_csv_read(f, &opts, collect_fn, &c, &delim, &d);
	fclose(f);
	const char *got = bl_buf_str(&c.out);
	int bad = rc != t->want_rc || strcmp(got, t->want) != 0 ||
	          (t->want_delim && delim != t->want_delim) || c.invariant_broken ||
	          (t->want_msg && !strstr(d.msg, t->want_msg)) || (rc < 0 && !d.msg[0]);
	if (bad) {
		print_error("case %s:\n  rc    got %d want %d\n  delim got 0x%02X want 0x%02X\n"
		            "  records got:\n%s  records want:\n%s  msg got \"%s\" want \"%s\"\n"
		            "  invariants %s\n",
		            t->name, rc, t->want_rc, (unsigned char)delim,
		            (unsigned char)t->want_delim, got, t->want, d.msg,
		            t->want_msg ? t->want_msg : "", c.invariant_broken ? "BROKEN" : "ok");
		(*failed)++;
	}
	bl_buf_finish(&c.out);
}

static void test_read_cases(void **state)
{
	(void)state;
	int failed = 0;
	for (size_t i = 0; i < sizeof(read_cases) / sizeof(read_cases[0]); i++)
		run_read_case(&read_cases[i], &failed);
	if (failed)
		fail_msg("%d of %zu read cases failed", failed,
		         sizeof(read_cases) / sizeof(read_cases[0]));
}

/* Run one generated input; @want as in read_case. Frees @in. */
static void run_generated(const char *name, struct bl_buf *in, int want_rc, const char *want,
                          const char *want_msg, int *failed)
{
	struct read_case t = {.name = name,
	                      .in = bl_buf_str(in),
	                      .len = in->len,
	                      .want_rc = want_rc,
	                      .want = want,
	                      .want_msg = want_msg};
	run_read_case(&t, failed);
	bl_buf_finish(in);
}

/* Line ends (outside and inside quotes) that straddle a read chunk boundary. */
static void test_chunk_boundaries(void **state)
{
	(void)state;
	static const char *const ends[] = {"\r\n", "\n", "\r"};
	int failed = 0;
	for (size_t e = 0; e < 3; e++) {
		const char *nl = ends[e];
		for (size_t pad = BL_CSV_CHUNK - 6; pad <= BL_CSV_CHUNK + 2; pad++) {
			/* Outside quotes: a long first line, then short ones. */
			struct bl_buf in;
			bl_buf_init(&in, 0);
			for (size_t i = 0; i < pad; i++)
				bl_buf_addc(&in, 'x');
			bl_buf_addf(&in, "%s%sa%sb", nl, nl, nl);
			struct bl_buf want;
			bl_buf_init(&want, 0);
			bl_buf_adds(&want, "1:");
			for (size_t i = 0; i < pad; i++)
				bl_buf_addc(&want, 'x');
			bl_buf_adds(&want, "\n3:a\n4:b\n");
			run_generated("chunk boundary outside quotes", &in, 0, bl_buf_str(&want),
			              NULL, &failed);
			bl_buf_finish(&want);

			/* Inside quotes: the line end is in a quoted field. */
			bl_buf_init(&in, 0);
			bl_buf_adds(&in, "h\n\"");
			for (size_t i = 0; i + 3 < pad; i++)
				bl_buf_addc(&in, 'y');
			bl_buf_addf(&in, "%sz\"%slast%s", nl, nl, nl);
			bl_buf_init(&want, 0);
			bl_buf_adds(&want, "1:h\n2:");
			for (size_t i = 0; i + 3 < pad; i++)
				bl_buf_addc(&want, 'y');
			add_escaped(&want, nl, strlen(nl));
			bl_buf_adds(&want, "z\n4:last\n");
			run_generated("chunk boundary inside quotes", &in, 0, bl_buf_str(&want),
			              NULL, &failed);
			bl_buf_finish(&want);
		}
	}
	if (failed)
		fail_msg("%d chunk boundary cases failed", failed);
}

/* A record with @nfields fields of @width bytes each, quoted or not, then "\n". */
static void add_record(struct bl_buf *b, size_t nfields, size_t width, int quoted)
{
	for (size_t f = 0; f < nfields; f++) {
		if (f)
			bl_buf_addc(b, ',');
		if (quoted)
			bl_buf_addc(b, '"');
		for (size_t i = 0; i < width; i++)
			bl_buf_addc(b, 'a' + (char)(i % 26));
		if (quoted)
			bl_buf_addc(b, '"');
	}
	bl_buf_addc(b, '\n');
}

struct count {
	size_t records, maxlen, maxfields;
};

static int count_fn(void *arg, const struct bl_csv_record *rec)
{
	struct count *c = arg;
	c->records++;
	if (rec->nfields > c->maxfields)
		c->maxfields = rec->nfields;
	for (size_t i = 0; i < rec->nfields; i++)
		if (rec->lens[i] > c->maxlen)
			c->maxlen = rec->lens[i];
	return 0;
}

/* Read @in; return the rc, the record count, longest field and most fields. */
static int read_counting(struct bl_buf *in, size_t *records, size_t *maxlen, size_t *maxfields,
                         struct bl_diag *d)
{
	FILE *f = file_of(in->data, in->len);
	struct count c = {0, 0, 0};
	bl_diag_clear(d);
	int rc = bl_csv_read(f, NULL, count_fn, &c, NULL, d);
	fclose(f);
	*records = c.records;
	*maxlen = c.maxlen;
	*maxfields = c.maxfields;
	return rc;
}

static void test_limits(void **state)
{
	(void)state;
	struct {
		const char *name;
		size_t nfields, width;
		int quoted;
		int want_rc;
		const char *want_msg;
	} cases[] = {
	    {"field at limit", 2, BL_CSV_FIELD_MAX, 0, 0, NULL},
	    {"quoted field at limit", 2, BL_CSV_FIELD_MAX, 1, 0, NULL},
	    {"field over limit", 1, BL_CSV_FIELD_MAX + 1, 0, -BL_ELIMIT,
	     "line 2: field 1 is longer than 65536 bytes"},
	    {"quoted field over limit", 3, BL_CSV_FIELD_MAX + 1, 1, -BL_ELIMIT,
	     "line 2: field 1 is longer"},
	    {"far over limit", 1, 4 * BL_CSV_FIELD_MAX, 1, -BL_ELIMIT, "line 2: field 1"},
	    {"fields at limit", BL_CSV_FIELDS_MAX, 3, 0, 0, NULL},
	    {"fields over limit", BL_CSV_FIELDS_MAX + 1, 3, 0, -BL_ELIMIT,
	     "line 2: record has more than 1024 fields"},
	};
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_buf in;
		bl_buf_init(&in, 0);
		bl_buf_adds(&in, "header\n");
		add_record(&in, cases[i].nfields, cases[i].width, cases[i].quoted);
		bl_buf_adds(&in, "after\n");
		struct bl_diag d;
		size_t records, maxlen, maxfields;
		int rc = read_counting(&in, &records, &maxlen, &maxfields, &d);
		size_t want_records = cases[i].want_rc ? 1 : 3;
		size_t want_maxlen = cases[i].width > 6 ? cases[i].width : 6; /* "header" */
		if (rc != cases[i].want_rc || records != want_records ||
		    (!cases[i].want_rc &&
		     (maxlen != want_maxlen || maxfields != cases[i].nfields)) ||
		    (cases[i].want_msg && !strstr(d.msg, cases[i].want_msg))) {
			print_error("case %s: rc got %d want %d; records got %zu want %zu; "
			            "longest field got %zu want %zu; msg got \"%s\" want \"%s\"\n",
			            cases[i].name, rc, cases[i].want_rc, records, want_records,
			            maxlen, want_maxlen, d.msg,
			            cases[i].want_msg ? cases[i].want_msg : "");
			failed++;
		}
		bl_buf_finish(&in);
	}
	/* A quote that is never closed runs into the field limit, with a hint. */
	struct bl_buf in;
	bl_buf_init(&in, 0);
	bl_buf_adds(&in, "a,b\n1,\"oops\n");
	for (size_t i = 0; i < 3000; i++)
		bl_buf_adds(&in, "someone@example.com,Some One\n");
	struct bl_diag d;
	size_t records, maxlen, maxfields;
	int rc = read_counting(&in, &records, &maxlen, &maxfields, &d);
	if (rc != -BL_ELIMIT || records != 1 || !strstr(d.msg, "starting on line 2") ||
	    !strstr(d.msg, "closing quote missing")) {
		print_error("runaway quote: rc got %d want %d, records %zu want 1, msg \"%s\"\n",
		            rc, -BL_ELIMIT, records, d.msg);
		failed++;
	}
	bl_buf_finish(&in);
	if (failed)
		fail_msg("%d limit cases failed", failed);
}

/* ---- encodings -------------------------------------------------------- */

/* Re-encode UTF-8 @s as UTF-16/32, little or big endian, with a BOM or not. */
static void encode_wide(struct bl_buf *out, const char *s, int unit, int le, int bom)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	for (size_t i = bom ? SIZE_MAX : 0; i == SIZE_MAX || i < len;) {
		uint32_t cp = 0xFEFF; /* the byte-order mark first, if wanted */
		if (i == SIZE_MAX) {
			i = 0;
		} else {
			size_t n = bl_utf8_decode(p + i, len - i, &cp);
			assert_true(n > 0);
			i += n;
		}
		unsigned char b[4];
		if (unit == 4) {
			for (int k = 0; k < 4; k++)
				b[le ? k : 3 - k] = (unsigned char)(cp >> (8 * k));
			bl_buf_add(out, b, 4);
		} else {
			assert_true(cp < 0x10000);
			b[le ? 0 : 1] = (unsigned char)cp;
			b[le ? 1 : 0] = (unsigned char)(cp >> 8);
			bl_buf_add(out, b, 2);
		}
	}
}

static int nop_fn(void *arg, const struct bl_csv_record *rec)
{
	(void)rec;
	(*(size_t *)arg)++;
	return 0;
}

static void test_wide_encodings(void **state)
{
	(void)state;
	struct {
		int unit, le, bom;
		const char *name;
	} cases[] = {
	    {2, 1, 1, "UTF-16LE"}, {2, 0, 1, "UTF-16BE"}, {2, 1, 0, "UTF-16LE"},
	    {2, 0, 0, "UTF-16BE"}, {4, 1, 1, "UTF-32LE"}, {4, 0, 1, "UTF-32BE"},
	    {4, 1, 0, "UTF-32LE"}, {4, 0, 0, "UTF-32BE"},
	};
	const char *text = "email,name\r\nzoe@example.com,Zo\xC3\xAB\r\nx@example.org,\xD0\x96\r\n";
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_buf in;
		bl_buf_init(&in, 0);
		encode_wide(&in, text, cases[i].unit, cases[i].le, cases[i].bom);
		struct bl_buf want;
		bl_buf_init(&want, 0);
		bl_buf_addf(&want, "iconv -f %s -t UTF-8", cases[i].name);

		struct bl_diag d1, d2;
		bl_diag_clear(&d1);
		bl_diag_clear(&d2);
		size_t records = 0;
		FILE *f = file_of(in.data, in.len);
		int rc1 = bl_csv_read(f, NULL, nop_fn, &records, NULL, &d1);
		rewind(f);
		int rc2 = bl_csv_check_encoding(f, &d2);
		long pos = ftell(f);
		fclose(f);
		if (rc1 != -BL_EENCODING || rc2 != -BL_EENCODING || records != 0 || pos != 0 ||
		    !strstr(d1.msg, cases[i].name) || !strstr(d1.msg, bl_buf_str(&want)) ||
		    !strstr(d2.msg, bl_buf_str(&want)) ||
		    !strstr(d1.msg, cases[i].bom ? "byte-order mark" : "NUL bytes")) {
			print_error("%s bom=%d: read rc got %d want %d, msg \"%s\"; check rc got "
			            "%d want %d, msg \"%s\"; records %zu; pos %ld; want text "
			            "\"%s\" and \"%s\"\n",
			            cases[i].name, cases[i].bom, rc1, -BL_EENCODING, d1.msg, rc2,
			            -BL_EENCODING, d2.msg, records, pos, cases[i].name,
			            bl_buf_str(&want));
			failed++;
		}
		bl_buf_finish(&want);
		bl_buf_finish(&in);
	}
	if (failed)
		fail_msg("%d wide-encoding cases failed", failed);
}

struct enc_case {
	const char *name;
	const char *in;
	size_t len;
	int want_rc;
	const char *want_msg[3];
};

static const struct enc_case enc_cases[] = {
    {"ascii", IN("a,b\n1,2\n"), 0, {NULL}},
    {"empty", IN(""), 0, {NULL}},
    {"utf8 with bom",
     IN("\xEF\xBB\xBF"
        "n\nJo\xC3\xABl\n"),
     0,
     {NULL}},
    {"utf8 all scripts", IN("n\n\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xD0\x96\n"), 0, {NULL}},
    {"latin-1",
     IN("name,email\r\nBob,b@example.com\r\nJos\xE9,j@example.com\r\nM\xFCller,m@x\r\n"),
     -BL_EENCODING,
     {"line 3", "ISO-8859-1", "iconv -f ISO-8859-1 -t UTF-8"}},
    {"latin-1 cr only", IN("n\r\r\rb\xF8rn\r"), -BL_EENCODING, {"line 4", "ISO-8859-1"}},
    {"windows-1252",
     IN("name,note\nA,plain\nB,\x93quoted\x94 \x80 5\n"),
     -BL_EENCODING,
     {"line 3", "Windows-1252", "iconv -f WINDOWS-1252 -t UTF-8"}},
    {"windows-1252 after latin-1 letters",
     IN("n\nJos\xE9\nAndr\xE9\nx\n\x96 dash\n"),
     -BL_EENCODING,
     {"line 2", "Windows-1252", "WINDOWS-1252"}},
    {"mostly utf8, one broken row",
     IN("name\nJo\xC3\xABl\nM\xC3\xBCller\nJos\xE9\n\xC3\x9E\x6Fr\n\xC3\xA9t\xC3\xA9\n"),
     0,
     {NULL}},
    {"utf8 truncated at end", IN("Zo\xC3\xAB\n\xC3\xAB\xC3"), 0, {NULL}},
};

static void test_check_encoding(void **state)
{
	(void)state;
	int failed = 0;
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *t = &enc_cases[i];
		/* Start at an offset to check the scan starts and ends there. */
		struct bl_buf in;
		bl_buf_init(&in, 0);
		bl_buf_adds(&in, "JUNK\xFF");
		bl_buf_add(&in, t->in, t->len);
		FILE *f = file_of(in.data, in.len);
		assert_int_equal(fseek(f, 5, SEEK_SET), 0);
		struct bl_diag d;
		bl_diag_clear(&d);
		int rc = bl_csv_check_encoding(f, &d);
		long pos = ftell(f);
		fclose(f);
		int bad = rc != t->want_rc || pos != 5 || (rc && !d.msg[0]);
		for (int k = 0; k < 3; k++)
			if (t->want_msg[k] && !strstr(d.msg, t->want_msg[k]))
				bad = 1;
		if (bad) {
			print_error("case %s: rc got %d want %d; position got %ld want 5; msg "
			            "\"%s\" want \"%s\", \"%s\", \"%s\"\n",
			            t->name, rc, t->want_rc, pos, d.msg,
			            t->want_msg[0] ? t->want_msg[0] : "",
			            t->want_msg[1] ? t->want_msg[1] : "",
			            t->want_msg[2] ? t->want_msg[2] : "");
			failed++;
		}
		bl_buf_finish(&in);
	}
	if (failed)
		fail_msg("%d encoding cases failed", failed);
}

/* Non-UTF-8 bytes split across a chunk boundary; a big Latin-1 file. */
static void test_check_encoding_chunks(void **state)
{
	(void)state;
	int failed = 0;
	for (size_t pad = BL_CSV_CHUNK - 5; pad <= BL_CSV_CHUNK + 1; pad++) {
		struct bl_buf in;
		bl_buf_init(&in, 0);
		for (size_t i = 0; i < pad; i++)
			bl_buf_addc(&in, 'x');
		bl_buf_adds(&in, "\xF0\x9F\x98\x80\xE2\x82\xAC\n"); /* two valid sequences */
		FILE *f = file_of(in.data, in.len);
		struct bl_diag d;
		bl_diag_clear(&d);
		int rc = bl_csv_check_encoding(f, &d);
		fclose(f);
		if (rc != 0) {
			print_error("split sequence at pad %zu: rc %d msg \"%s\"\n", pad, rc,
			            d.msg);
			failed++;
		}
		bl_buf_finish(&in);
	}
	struct bl_buf in;
	bl_buf_init(&in, 0);
	for (size_t i = 0; i < 20000; i++)
		bl_buf_addf(&in, "user%zu@example.com,Name %zu\r\n", i, i);
	bl_buf_adds(&in, "fr\xE9\xE9@example.com,Ren\xE9\r\n");
	FILE *f = file_of(in.data, in.len);
	struct bl_diag d;
	bl_diag_clear(&d);
	int rc = bl_csv_check_encoding(f, &d);
	fclose(f);
	if (rc != -BL_EENCODING || !strstr(d.msg, "line 20001")) {
		print_error("big latin-1: rc %d want %d, msg \"%s\" want line 20001\n", rc,
		            -BL_EENCODING, d.msg);
		failed++;
	}
	bl_buf_finish(&in);
	if (failed)
		fail_msg("%d chunked encoding cases failed", failed);
}

static void test_check_encoding_pipe(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "a,b\n", 4), 4);
	close(fds[1]);
	FILE *f = fdopen(fds[0], "rb");
	assert_non_null(f);
	struct bl_diag d;
	bl_diag_clear(&d);
	int rc = bl_csv_check_encoding(f, &d);
	fclose(f);
	if (rc != -BL_EIO || !strstr(d.msg, "not seekable"))
		fail_msg("pipe: rc got %d want %d, msg \"%s\"", rc, -BL_EIO, d.msg);
}

/* ---- csv-spectrum ------------------------------------------------------ */

struct spectrum {
	json_t *header; /* array of strings */
	json_t *rows;   /* array of objects */
	char err[256];
};

static int spectrum_fn(void *arg, const struct bl_csv_record *rec)
{
	struct spectrum *s = arg;
	if (rec->bad_utf8) {
		snprintf(s->err, sizeof(s->err), "line %zu: field %zu flagged bad UTF-8", rec->line,
		         rec->bad_field);
		return 1;
	}
	if (!s->header) {
		s->header = json_array();
		for (size_t i = 0; i < rec->nfields; i++)
			json_array_append_new(s->header,
			                      json_stringn(rec->fields[i], rec->lens[i]));
		return 0;
	}
	if (rec->nfields != json_array_size(s->header)) {
		snprintf(s->err, sizeof(s->err), "line %zu: %zu fields, header has %zu", rec->line,
		         rec->nfields, json_array_size(s->header));
		return 1;
	}
	json_t *obj = json_object();
	for (size_t i = 0; i < rec->nfields; i++)
		json_object_set_new(obj, json_string_value(json_array_get(s->header, i)),
		                    json_stringn(rec->fields[i], rec->lens[i]));
	json_array_append_new(s->rows, obj);
	return 0;
}

/* Same keys in the same order with equal string values. */
static int same_rows(json_t *got, json_t *want)
{
	if (json_array_size(got) != json_array_size(want))
		return 0;
	for (size_t i = 0; i < json_array_size(want); i++) {
		json_t *g = json_array_get(got, i), *w = json_array_get(want, i);
		if (json_object_size(g) != json_object_size(w))
			return 0;
		void *gi = json_object_iter(g), *wi = json_object_iter(w);
		for (; wi; gi = json_object_iter_next(g, gi), wi = json_object_iter_next(w, wi)) {
			if (!gi ||
			    strcmp(json_object_iter_key(gi), json_object_iter_key(wi)) != 0 ||
			    !json_equal(json_object_iter_value(gi), json_object_iter_value(wi)))
				return 0;
		}
	}
	return 1;
}

/*
 * Known errors in the upstream expected files, each checked to still apply
 * (so the entry is removed when upstream fixes it): the value the JSON has
 * is replaced by what the CSV really holds before comparing.
 */
static const struct {
	const char *name, *key, *json_says, *csv_has, *why;
} spectrum_errata[] = {
    {"location_coordinates", "Contact Phone Number", "1234567890", "2095257564",
     "github.com/max-mapper/csv-spectrum/issues/20"},
};

/*
 * Bring @want (may be one bare object, as in location_coordinates.json) to
 * an array of objects and apply the errata for @name. Returns the array,
 * which owns @want.
 */
static json_t *spectrum_want(const char *name, json_t *want)
{
	if (json_is_object(want)) {
		json_t *a = json_array();
		json_array_append_new(a, want);
		want = a;
	}
	for (size_t i = 0; i < sizeof(spectrum_errata) / sizeof(spectrum_errata[0]); i++) {
		if (strcmp(spectrum_errata[i].name, name) != 0)
			continue;
		json_t *row = json_array_get(want, 0);
		const char *v = json_string_value(json_object_get(row, spectrum_errata[i].key));
		if (!v || strcmp(v, spectrum_errata[i].json_says) != 0)
			fail_msg("%s: erratum (%s) no longer applies: %s is \"%s\"; remove it",
			         name, spectrum_errata[i].why, spectrum_errata[i].key,
			         v ? v : "(none)");
		json_object_set_new(row, spectrum_errata[i].key,
		                    json_string(spectrum_errata[i].csv_has));
	}
	return want;
}

static void test_spectrum(void **state)
{
	const char *name = *state;
	char rel[256];
	snprintf(rel, sizeof(rel), "csv-spectrum/csvs/%s.csv", name);
	char *csv_path = corpus_path(rel);
	snprintf(rel, sizeof(rel), "csv-spectrum/json/%s.json", name);
	char *json_path = corpus_path(rel);

	json_error_t jerr;
	json_t *want = json_load_file(json_path, JSON_PRESERVE_ORDER, &jerr);
	if (!want)
		fail_msg("%s: %s", json_path, jerr.text);
	want = spectrum_want(name, want);
	FILE *f = fopen(csv_path, "rb");
	if (!f)
		fail_msg("cannot open %s", csv_path);

	struct spectrum s = {.rows = json_array()};
	struct bl_diag d;
	bl_diag_clear(&d);
	char delim = 0;
	int rc = bl_csv_read(f, NULL, spectrum_fn, &s, &delim, &d);
	fclose(f);
	int ok = rc == 0 && delim == ',' && same_rows(s.rows, want);
	if (!ok) {
		char *g = json_dumps(s.rows, JSON_PRESERVE_ORDER | JSON_INDENT(1));
		char *w = json_dumps(want, JSON_PRESERVE_ORDER | JSON_INDENT(1));
		print_error("%s: rc %d (%s) delim 0x%02X %s\ngot:\n%s\nwant:\n%s\n", name, rc,
		            d.msg, (unsigned char)delim, s.err, g, w);
		free(g);
		free(w);
	}
	json_decref(s.header);
	json_decref(s.rows);
	json_decref(want);
	free(csv_path);
	free(json_path);
	if (!ok)
		fail_msg("%s does not match its JSON", name);
}

static const char *const spectrum_cases[] = {
    "comma_in_quotes",      "empty",    "empty_crlf",    "escaped_quotes",      "json",
    "location_coordinates", "newlines", "newlines_crlf", "quotes_and_newlines", "simple",
    "simple_crlf",          "utf8",
};

static size_t spectrum_seen;
static char spectrum_missing[256];

static int spectrum_walk(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	size_t n = strlen(path);
	if (type != FTW_F || n < 4 || strcmp(path + n - 4, ".csv") != 0)
		return 0;
	const char *base = path + ftw->base;
	for (size_t i = 0; i < sizeof(spectrum_cases) / sizeof(spectrum_cases[0]); i++)
		if (strlen(spectrum_cases[i]) == strlen(base) - 4 &&
		    strncmp(spectrum_cases[i], base, strlen(base) - 4) == 0) {
			spectrum_seen++;
			return 0;
		}
	snprintf(spectrum_missing, sizeof(spectrum_missing), "%s", base);
	return 0;
}

/* Every CSV file in csv-spectrum/csvs is one of spectrum_cases, and no more. */
static void test_spectrum_complete(void **state)
{
	(void)state;
	char *dir = corpus_path("csv-spectrum/csvs");
	spectrum_seen = 0;
	spectrum_missing[0] = '\0';
	assert_int_equal(nftw(dir, spectrum_walk, 4, FTW_PHYS), 0);
	free(dir);
	if (spectrum_missing[0] ||
	    spectrum_seen != sizeof(spectrum_cases) / sizeof(spectrum_cases[0]))
		fail_msg("csv-spectrum: %zu files tested, want %zu; untested file \"%s\"",
		         spectrum_seen, sizeof(spectrum_cases) / sizeof(spectrum_cases[0]),
		         spectrum_missing);
}

/* ---- real exports -------------------------------------------------------- */

struct export_case {
	const char *path;   /* under real-exports/ */
	size_t records;     /* including the header */
	size_t columns;     /* fields in every record */
	char delim;         /* detected */
	const char *header; /* the first record's fields '|'-joined; a trailing '|': prefix */
	const char *value;  /* a field that must occur (exactly) in some record */
};

#define MAILCHIMP "Email Address|First Name|Last Name|"

static const struct export_case export_cases[] = {
    /* TAGS """Lorem Editors""": the quotes inside are data */
    {"tryghost-migrate/mailchimp/subscribed.csv", 6, 23, ',', MAILCHIMP, "\"Lorem Editors\""},
    {"tryghost-migrate/mailchimp/unsubscribed.csv", 6, 27, ',', MAILCHIMP, "u3@example.com"},
    {"tryghost-migrate/mailchimp/cleaned.csv", 6, 25, ',', MAILCHIMP, NULL},
    /* unquoted " Lorem Name  ": blanks around an unquoted field are dropped */
    {"tryghost-migrate/beehiiv/members.csv", 10, 13, ',', "email|First Name|Last Name|status|",
     "Lorem Name"},
    /* plain text, one address per line, a blank line: read as 1-column CSV */
    {"tryghost-migrate/medium/members.txt", 5, 1, ',', "lorem@example.com", NULL},
    {"ghost/member-csv-export.csv", 3, 12, ',', "id|email|name|note|", NULL},
    {"ghost/subscribed-to-emails-cases.csv", 16, 9, ',', "email|name|note|", "vip,promotion"},
    {"listmonk/subs.csv", 101, 3, ',', "email|name|attributes", NULL},
    {"listmonk/subs-domain-blocklist.csv", 5, 3, ',', "email|name|attributes",
     "ban2-import@ban.ORG"},
    /* BOM, ';', CRLF */
    {"keila/import_excel.csv", 202, 3, ';', "Email|First name|Last name", "Jo\xC3\xABl"},
    {"keila/import_rfc_4180_with_status.csv", 5, 4, ',', "Email|First name|Last name|Status",
     "active@example.com"},
    {"mailpoet/MailPoetImportList.csv", 12, 6, ',', "Email|First name|Last name|", "Null"},
    /* BOM, every field quoted */
    {"mailpoet/MailPoetImportBigList.csv", 305, 3, ',', "Email|First name|Last name", NULL},
};

struct export_seen {
	const struct export_case *t;
	size_t records;
	int header_ok, columns_ok, value_seen, bad_utf8;
	size_t bad_line;
};

static int export_fn(void *arg, const struct bl_csv_record *rec)
{
	struct export_seen *s = arg;
	if (s->records == 0) {
		struct bl_buf h;
		bl_buf_init(&h, 0);
		for (size_t i = 0; i < rec->nfields; i++)
			bl_buf_addf(&h, "%s%s", i ? "|" : "", rec->fields[i]);
		/* A pattern ending in '|' is a prefix; otherwise the whole header. */
		size_t n = strlen(s->t->header);
		s->header_ok = s->t->header[n - 1] == '|'
		                   ? strncmp(bl_buf_str(&h), s->t->header, n) == 0
		                   : strcmp(bl_buf_str(&h), s->t->header) == 0;
		bl_buf_finish(&h);
	}
	if (rec->nfields != s->t->columns && s->columns_ok) {
		s->columns_ok = 0;
		s->bad_line = rec->line;
	}
	if (rec->bad_utf8 && !s->bad_utf8) {
		s->bad_utf8 = 1;
		s->bad_line = rec->line;
	}
	for (size_t i = 0; s->t->value && i < rec->nfields; i++)
		if (strcmp(rec->fields[i], s->t->value) == 0)
			s->value_seen = 1;
	s->records++;
	return 0;
}

/* Every *.csv under real-exports must have a row in export_cases. */
static const char *unlisted;
static char unlisted_buf[512];

static int walk_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)ftw;
	size_t n = strlen(path);
	if (type != FTW_F || n < 4 || strcmp(path + n - 4, ".csv") != 0)
		return 0;
	const char *rel = strstr(path, "real-exports/") + strlen("real-exports/");
	for (size_t i = 0; i < sizeof(export_cases) / sizeof(export_cases[0]); i++)
		if (strcmp(export_cases[i].path, rel) == 0)
			return 0;
	snprintf(unlisted_buf, sizeof(unlisted_buf), "%s", rel);
	unlisted = unlisted_buf;
	return 0;
}

static void test_real_exports(void **state)
{
	(void)state;
	char *root = corpus_path("real-exports");
	unlisted = NULL;
	assert_int_equal(nftw(root, walk_fn, 8, FTW_PHYS), 0);
	free(root);
	if (unlisted)
		fail_msg("real-exports/%s has no expectations in export_cases", unlisted);

	int failed = 0;
	for (size_t i = 0; i < sizeof(export_cases) / sizeof(export_cases[0]); i++) {
		const struct export_case *t = &export_cases[i];
		char rel[256];
		snprintf(rel, sizeof(rel), "real-exports/%s", t->path);
		char *path = corpus_path(rel);
		FILE *f = fopen(path, "rb");
		if (!f) {
			print_error("%s: cannot open\n", path);
			failed++;
			free(path);
			continue;
		}
		struct bl_diag d1, d2;
		bl_diag_clear(&d1);
		bl_diag_clear(&d2);
		int enc = bl_csv_check_encoding(f, &d1);
		struct export_seen s = {.t = t, .columns_ok = 1};
		char delim = 0;
		int rc = bl_csv_read(f, NULL, export_fn, &s, &delim, &d2);
		fclose(f);
		if (enc || rc || s.records != t->records || delim != t->delim || !s.header_ok ||
		    !s.columns_ok || s.bad_utf8 || (t->value && !s.value_seen)) {
			print_error("%s: encoding rc %d \"%s\"; read rc %d \"%s\"; records got %zu "
			            "want %zu; delim got 0x%02X want 0x%02X; header %s; columns "
			            "%s; bad utf8 %d (line %zu); value \"%s\" %s\n",
			            t->path, enc, d1.msg, rc, d2.msg, s.records, t->records,
			            (unsigned char)delim, (unsigned char)t->delim,
			            s.header_ok ? "found" : "NOT found",
			            s.columns_ok ? "all equal" : "DIFFER", s.bad_utf8, s.bad_line,
			            t->value ? t->value : "", s.value_seen ? "seen" : "NOT seen");
			failed++;
		}
		free(path);
	}
	if (failed)
		fail_msg("%d real exports failed", failed);
}

/* ---- bounded memory ------------------------------------------------------ */

#define BIG_ROWS 200000

static size_t heap_in_use(void)
{
#ifdef HAVE_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd; /* small chunks in use + mmapped big ones */
#endif
}

struct heap_watch {
	size_t base, peak, records, bad;
};

static int heap_fn(void *arg, const struct bl_csv_record *rec)
{
	struct heap_watch *h = arg;
	size_t now = heap_in_use();
	if (now > h->peak)
		h->peak = now;
	if (rec->nfields != 4)
		h->bad++;
	h->records++;
	return 0;
}

static void *writer(void *arg)
{
	int fd = *(int *)arg;
	char line[160];
	for (size_t i = 0; i < BIG_ROWS; i++) {
		int n = snprintf(line, sizeof(line),
		                 "user%zu@example.com,\"Name %zu, Jr.\",\"multi\nline\",%zu\r\n", i,
		                 i, i % 7);
		const char *p = line;
		while (n > 0) {
			ssize_t w = write(fd, p, (size_t)n);
			if (w <= 0)
				return NULL;
			p += w;
			n -= (int)w;
		}
	}
	close(fd);
	return NULL;
}

static void test_bounded_memory(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	FILE *f = fdopen(fds[0], "rb");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0); /* no stdio buffer: measure the reader alone */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer, &fds[1]), 0);

	struct heap_watch h = {0, 0, 0, 0};
	h.base = heap_in_use();
	h.peak = h.base;
	struct bl_diag d;
	bl_diag_clear(&d);
	int rc = bl_csv_read(f, NULL, heap_fn, &h, NULL, &d);
	pthread_join(th, NULL);
	fclose(f);

	size_t used = h.peak - h.base;
	/* Input is about 14 MB; the reader needs one chunk and one short record. */
	size_t bound = BL_CSV_CHUNK + 32 * 1024;
	if (rc != 0 || h.records != BIG_ROWS || h.bad != 0 || used > bound || h.base == 0)
		fail_msg("rc %d (%s), records got %zu want %d, bad %zu, peak heap growth got %zu "
		         "bytes want <= %zu (base %zu)",
		         rc, d.msg, h.records, BIG_ROWS, h.bad, used, bound, h.base);
	print_message("# peak heap growth while streaming %d rows: %zu bytes\n", BIG_ROWS, used);
}

/* ---- main ------------------------------------------------------------ */

int main(void)
{
	static const struct CMUnitTest own[] = {
	    cmocka_unit_test(test_spectrum_complete),
	    cmocka_unit_test(test_read_cases),
	    cmocka_unit_test(test_chunk_boundaries),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_wide_encodings),
	    cmocka_unit_test(test_check_encoding),
	    cmocka_unit_test(test_check_encoding_chunks),
	    cmocka_unit_test(test_check_encoding_pipe),
	    cmocka_unit_test(test_real_exports),
	    cmocka_unit_test(test_bounded_memory),
	};
	/* One test per csv-spectrum case; the prestate carries its name. */
	enum { NSPECTRUM = sizeof(spectrum_cases) / sizeof(spectrum_cases[0]) };
	enum { NOWN = sizeof(own) / sizeof(own[0]) };
	static struct CMUnitTest tests[NSPECTRUM + NOWN];
	static char names[NSPECTRUM][64];
	for (size_t i = 0; i < NSPECTRUM; i++) {
		snprintf(names[i], sizeof(names[i]), "spectrum %s", spectrum_cases[i]);
		tests[i] = (struct CMUnitTest){names[i], test_spectrum, NULL, NULL,
		                               (void *)spectrum_cases[i]};
	}
	for (size_t i = 0; i < NOWN; i++)
		tests[NSPECTRUM + i] = own[i];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
