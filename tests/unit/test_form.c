/*
 * Unit tests for the application/x-www-form-urlencoded decoder of
 * src/http/form.c: a table of inputs with the fields wanted (or the refusal
 * and the words its message must hold), each failure printing got/want.
 * Inputs found by fuzz/fuzz_form.c are kept here as table rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/buf.h"
#include "util/err.h"

/* The fields of @f as "name=value|name=value". */
static void joined(const struct bl_form *f, struct bl_buf *out)
{
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			bl_buf_addc(out, '|');
		bl_buf_addf(out, "%s=%s", f->f[i].name, f->f[i].value);
	}
}

struct form_case {
	const char *in;
	size_t len;         /* 0: strlen(in) */
	int rc;             /* 0, -BL_EINVAL, -BL_ELIMIT */
	const char *fields; /* rc 0: the fields wanted, joined */
	const char *msg;    /* rc < 0: a part of the message wanted */
};

static const struct form_case cases[] = {
    {"", 0, 0, "", NULL},
    {"a=1", 0, 0, "a=1", NULL},
    {"a=1&b=x+y&c=%C3%A9", 0, 0, "a=1|b=x y|c=\xc3\xa9", NULL},
    {"&&a=1&&&b=2&", 0, 0, "a=1|b=2", NULL},
    {"&", 0, 0, "", NULL},
    {"a", 0, 0, "a=", NULL},
    {"a=", 0, 0, "a=", NULL},
    {"=v", 0, 0, "=v", NULL},
    {"=", 0, 0, "=", NULL},
    {"a=b=c", 0, 0, "a=b=c", NULL},
    {"a=1&a=2", 0, 0, "a=1|a=2", NULL},
    {"%41%42=%7e%7E", 0, 0, "AB=~~", NULL},
    {"a%2Bb=c%26d%3De", 0, 0, "a+b=c&d=e", NULL},
    {"+=+", 0, 0, " = ", NULL},
    {"a=%2B+", 0, 0, "a=+ ", NULL},
    {"e=%E2%82%AC&f=\xe2\x82\xac", 0, 0, "e=\xe2\x82\xac|f=\xe2\x82\xac", NULL},
    {"emoji=%F0%9F%98%80", 0, 0, "emoji=\xf0\x9f\x98\x80", NULL},
    {"a=1&b", 0, 0, "a=1|b=", NULL},
    {"a=1;b=2", 0, 0, "a=1;b=2", NULL},
    /* malformed escapes, in the value and in the name */
    {"email=%", 0, -BL_EINVAL, NULL, "field \"email\": malformed %-escape in the value at byte 6"},
    {"a=%4", 0, -BL_EINVAL, NULL, "field \"a\": malformed %-escape"},
    {"a=%zz", 0, -BL_EINVAL, NULL, "malformed %-escape"},
    {"a=%4g", 0, -BL_EINVAL, NULL, "malformed %-escape"},
    {"a=%g4", 0, -BL_EINVAL, NULL, "malformed %-escape"},
    {"a=1&b=%%41", 0, -BL_EINVAL, NULL, "field \"b\": malformed %-escape in the value at byte 6"},
    {"%zz=1", 0, -BL_EINVAL, NULL, "field number 1: malformed %-escape in the name at byte 0"},
    {"a=1&x%=1", 0, -BL_EINVAL, NULL, "field number 2: malformed %-escape in the name at byte 5"},
    /* NUL, decoded or raw */
    {"a=%00", 0, -BL_EINVAL, NULL, "field \"a\": NUL byte in the value"},
    {"%00=1", 0, -BL_EINVAL, NULL, "field number 1: NUL byte in the name"},
    {"a=b\0c", 5, -BL_EINVAL, NULL, "NUL byte in the value at byte 3"},
    {"a\0=1", 4, -BL_EINVAL, NULL, "NUL byte in the name"},
    /* not UTF-8 */
    {"a=%FF", 0, -BL_EINVAL, NULL, "field \"a\": the value is not UTF-8"},
    {"a=%C3", 0, -BL_EINVAL, NULL, "the value is not UTF-8"},
    {"a=%C3%28", 0, -BL_EINVAL, NULL, "the value is not UTF-8"},
    {"a=%C0%AF", 0, -BL_EINVAL, NULL, "the value is not UTF-8"},       /* overlong */
    {"a=%ED%A0%80", 0, -BL_EINVAL, NULL, "the value is not UTF-8"},    /* surrogate */
    {"a=%F4%90%80%80", 0, -BL_EINVAL, NULL, "the value is not UTF-8"}, /* > U+10FFFF */
    {"a=\xff", 0, -BL_EINVAL, NULL, "the value is not UTF-8"},
    {"%FF=1", 0, -BL_EINVAL, NULL, "field number 1: the name is not UTF-8"},
    {"ok=1&\xe9t\xe9=1", 0, -BL_EINVAL, NULL, "field number 2: the name is not UTF-8"},
    /* a name that is not printable ASCII is named by number in messages */
    {"%C3%A9=%zz", 0, -BL_EINVAL, NULL, "field number 1: malformed"},
};

static void test_form_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct form_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct bl_form f;
		struct bl_diag d;
		bl_diag_clear(&d);
		f.n = 99;
		int rc = bl_form_parse(c->in, len, &f, &d);
		struct bl_buf got;
		bl_buf_init(&got, 0);
		if (rc == 0)
			joined(&f, &got);
		if (rc != c->rc)
			fail_msg("case %zu \"%s\": got %d (%s) [%s], want %d", i, c->in, rc, d.msg,
			         bl_buf_str(&got), c->rc);
		if (rc == 0) {
			if (strcmp(bl_buf_str(&got), c->fields) != 0)
				fail_msg("case %zu \"%s\": got [%s], want [%s]", i, c->in,
				         bl_buf_str(&got), c->fields);
			for (size_t k = 0; k < f.n; k++)
				if (f.f[k].value_len != strlen(f.f[k].value))
					fail_msg("case %zu field %zu: value_len %zu, strlen %zu", i,
					         k, f.f[k].value_len, strlen(f.f[k].value));
		} else {
			if (f.n != 0)
				fail_msg("case %zu \"%s\": refused but %zu fields left", i, c->in,
				         f.n);
			if (!strstr(d.msg, c->msg))
				fail_msg("case %zu \"%s\": message \"%s\", want it to hold \"%s\"",
				         i, c->in, d.msg, c->msg);
		}
		bl_form_clear(&f);
		assert_int_equal(f.n, 0);
		bl_buf_finish(&got);
	}
}

/* Field and value limits, at the limit and one past it. */
static void test_form_limits(void **state)
{
	(void)state;
	struct bl_buf in;
	struct bl_form f;
	struct bl_diag d;
	bl_buf_init(&in, 0);

	/* BL_FORM_MAX_FIELDS fields (with empty pieces between, which do not count), then one more.
	 */
	for (int i = 0; i < BL_FORM_MAX_FIELDS; i++)
		bl_buf_addf(&in, "f%d=%d&&", i, i);
	assert_int_equal(bl_form_parse(in.data, in.len, &f, &d), 0);
	assert_int_equal(f.n, BL_FORM_MAX_FIELDS);
	char last[16];
	snprintf(last, sizeof(last), "f%d", BL_FORM_MAX_FIELDS - 1);
	assert_string_equal(f.f[BL_FORM_MAX_FIELDS - 1].name, last);
	assert_string_equal(f.f[BL_FORM_MAX_FIELDS - 1].value, last + 1);
	bl_form_clear(&f);
	bl_buf_adds(&in, "x");
	int rc = bl_form_parse(in.data, in.len, &f, &d);
	char want[32];
	snprintf(want, sizeof(want), "%d fields", BL_FORM_MAX_FIELDS + 1);
	if (rc != -BL_ELIMIT || !strstr(d.msg, want))
		fail_msg("%s: got %d (%s), want %d", want, rc, d.msg, -BL_ELIMIT);
	assert_int_equal(f.n, 0);

	/* A value of exactly BL_FORM_MAX_VALUE decoded bytes, written as %41 each; then one more.
	 */
	bl_buf_reset(&in);
	bl_buf_adds(&in, "first=1&big=");
	for (unsigned i = 0; i < BL_FORM_MAX_VALUE; i++)
		bl_buf_adds(&in, "%41");
	assert_int_equal(bl_form_parse(in.data, in.len, &f, &d), 0);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.f[1].value_len, BL_FORM_MAX_VALUE);
	assert_int_equal(f.f[1].value[BL_FORM_MAX_VALUE - 1], 'A');
	bl_form_clear(&f);
	bl_buf_adds(&in, "+");
	rc = bl_form_parse(in.data, in.len, &f, &d);
	if (rc != -BL_ELIMIT || !strstr(d.msg, "field \"big\": the value is 16385 bytes"))
		fail_msg("value over the limit: got %d (%s), want %d naming \"big\"", rc, d.msg,
		         -BL_ELIMIT);
	assert_int_equal(f.n, 0);
	bl_buf_finish(&in);
}

static void test_form_get(void **state)
{
	(void)state;
	static const char in[] = "list=a&name=Ann&list=b&list=c&x";
	struct bl_form f;
	assert_int_equal(bl_form_parse(in, strlen(in), &f, NULL), 0);
	assert_string_equal(bl_form_get(&f, "name"), "Ann");
	assert_string_equal(bl_form_get(&f, "list"), "a");
	assert_string_equal(bl_form_get(&f, "x"), "");
	assert_null(bl_form_get(&f, "nope"));
	assert_null(bl_form_get(&f, "Name"));
	const char *v[4];
	assert_int_equal(bl_form_get_all(&f, "list", v, 4), 3);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_string_equal(v[2], "c");
	assert_int_equal(bl_form_get_all(&f, "list", v, 2), 2);
	assert_int_equal(bl_form_get_all(&f, "nope", v, 4), 0);
	bl_form_clear(&f);
	bl_form_clear(&f);
	bl_form_clear(NULL);
	/* An empty form has nothing to get. */
	assert_int_equal(bl_form_parse("", 0, &f, NULL), 0);
	assert_null(bl_form_get(&f, "a"));
	bl_form_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_table),
	    cmocka_unit_test(test_form_limits),
	    cmocka_unit_test(test_form_get),
	};
	return cmocka_run_group_tests_name("unit/form", tests, NULL, NULL);
}
