/* Unit tests for src/util: the buffer, UTF-8, time, strings. Table-driven, got/want on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"

static void test_buf_sticky_limit(void **state)
{
	(void)state;
	struct bl_buf b;
	bl_buf_init(&b, 8);
	assert_int_equal(bl_buf_adds(&b, "abcd"), 0);
	assert_int_equal(bl_buf_addf(&b, "%d", 123), 0);
	assert_string_equal(bl_buf_str(&b), "abcd123");
	/* 2 more bytes exceed the limit of 8: refused, contents unchanged, error sticks. */
	assert_int_equal(bl_buf_adds(&b, "xy"), -BL_ELIMIT);
	assert_string_equal(bl_buf_str(&b), "abcd123");
	assert_int_equal(bl_buf_addc(&b, 'z'), -BL_ELIMIT);
	assert_int_equal(bl_buf_err(&b), -BL_ELIMIT);
	char *taken = bl_buf_take(&b);
	assert_string_equal(taken, "abcd123");
	free(taken);
	assert_int_equal(bl_buf_err(&b), 0);
	assert_string_equal(bl_buf_str(&b), "");
	assert_int_equal(bl_buf_adds(&b, "12345678"), 0);
	assert_int_equal(b.len, 8);
	bl_buf_finish(&b);
	bl_buf_finish(NULL);
}

static void test_buf_grows(void **state)
{
	(void)state;
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (int i = 0; i < 10000; i++)
		bl_buf_addc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10000);
	assert_int_equal(strlen(bl_buf_str(&b)), 10000);
	assert_int_equal(bl_buf_str(&b)[27], 'b');
	bl_buf_finish(&b);
}

static void test_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		int valid;
		size_t bad_at;
	} cases[] = {
	    {"plain ascii", 11, 1, 0},
	    {"caf\xc3\xa9", 5, 1, 0},
	    {"\xe2\x82\xac", 3, 1, 0},     /* euro sign */
	    {"\xf0\x9f\x98\x80", 4, 1, 0}, /* emoji */
	    {"caf\xe9", 4, 0, 3},          /* Latin-1 e-acute */
	    {"\xc0\xaf", 2, 0, 0},         /* overlong '/' */
	    {"ab\xed\xa0\x80", 5, 0, 2},   /* UTF-16 surrogate */
	    {"\xf4\x90\x80\x80", 4, 0, 0}, /* above U+10FFFF */
	    {"\xe2\x82", 2, 0, 0},         /* truncated */
	    {"a\x00"
	     "b",
	     3, 1, 0}, /* NUL is valid UTF-8 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t bad = 999;
		int got = bl_utf8_valid(cases[i].in, cases[i].len, &bad);
		if (got != cases[i].valid || (!got && bad != cases[i].bad_at))
			fail_msg("case %zu: got valid=%d bad_at=%zu, want valid=%d bad_at=%zu", i,
			         got, bad, cases[i].valid, cases[i].bad_at);
	}
	char out[4];
	assert_int_equal(bl_utf8_encode(0x20AC, out), 3);
	assert_memory_equal(out, "\xe2\x82\xac", 3);
	assert_int_equal(bl_utf8_encode(0xD800, out), 0);
	assert_int_equal(bl_utf8_encode(0x110000, out), 0);
}

static void test_time(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int ok;
		int64_t want;
	} cases[] = {
	    {"1970-01-01T00:00:00Z", 1, 0},
	    {"2022-10-18T06:34:08.000Z", 1, 1666074848},
	    {"2018-02-05 19:28:22", 1, 1517858902},
	    {"2023-03-24 10:23:10 UTC", 1, 1679653390},
	    {"2023-03-24T12:23:10+02:00", 1, 1679653390},
	    {"2024-02-29", 1, 1709164800},
	    {"2023-02-29", 0, 0},
	    {"2023-13-01", 0, 0},
	    {"yesterday", 0, 0},
	    {"2023-03-24T10:23", 0, 0},
	    {"2023-03-24 10:23:10 PST", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -1;
		int rc = bl_time_parse(cases[i].in, &got);
		if ((rc == 0) != cases[i].ok || (cases[i].ok && got != cases[i].want))
			fail_msg("%s: got rc=%d t=%lld, want ok=%d t=%lld", cases[i].in, rc,
			         (long long)got, cases[i].ok, (long long)cases[i].want);
	}
	char buf[BL_TIME_STRMAX];
	assert_string_equal(bl_time_format(1666074848, buf), "2022-10-18T06:34:08Z");
	int64_t back;
	assert_int_equal(bl_time_parse(buf, &back), 0);
	assert_int_equal(back, 1666074848);
}

static void test_strings(void **state)
{
	(void)state;
	static const struct {
		const char *slug;
		int ok;
	} slugs[] = {{"news", 1}, {"local-paris", 1}, {"a_1", 1}, {"9lives", 1},      {"", 0},
	             {"News", 0}, {"-x", 0},          {"a b", 0}, {"caf\xc3\xa9", 0}, {"a/b", 0}};
	for (size_t i = 0; i < sizeof(slugs) / sizeof(slugs[0]); i++)
		if (bl_slug_valid(slugs[i].slug) != slugs[i].ok)
			fail_msg("slug \"%s\": got %d, want %d", slugs[i].slug, !slugs[i].ok,
			         slugs[i].ok);
	char long_slug[70];
	memset(long_slug, 'a', 65);
	long_slug[65] = '\0';
	assert_int_equal(bl_slug_valid(long_slug), 0);
	long_slug[64] = '\0';
	assert_int_equal(bl_slug_valid(long_slug), 1);

	static const char *const masks[][2] = {
	    {"smtp://user:s3cret@relay.example:587", "smtp://user:***@relay.example:587"},
	    {"smtps://u:p@ss@h, maildir:out,smtp://a:b@c",
	     "smtps://u:***@h, maildir:out,smtp://a:***@c"},
	    {"postgresql://bulletin:pw@127.0.0.1/db", "postgresql://bulletin:***@127.0.0.1/db"},
	    {"imaps://bounces@mail.example/INBOX", "imaps://bounces@mail.example/INBOX"},
	    {"smtp://127.0.0.1:25", "smtp://127.0.0.1:25"},
	    {"smtp://:x@h", "smtp://:***@h"},
	    {"maildir:outbox", "maildir:outbox"},
	    {"", ""},
	    {"a://", "a://"},
	    {"postgresql://u:p,w@h/db", "postgresql://u:***@h/db"},
	    {"postgresql://u:pa ss@h/db", "postgresql://u:***@h/db"},
	    {"imaps://u:pa ss@h/INBOX", "imaps://u:***@h/INBOX"},
	    {"smtp://alice:p@ss,w0rd@relay.example:587", "smtp://alice:***@relay.example:587"},
	    {"smtp:/u:Secret99@127.0.0.1:25", "smtp:/u:***@127.0.0.1:25"},
	    {"smtp:u:secret@h", "smtp:u:***@h"},
	    {"u:secret@host:25", "u:***@host:25"},
	    {"SMTP://u:x@h1,  smtps://v:y@h2 ,maildir:o",
	     "SMTP://u:***@h1,  smtps://v:***@h2 ,maildir:o"},
	    {"postgresql://h/db?user=u&password=qsecret&sslmode=require",
	     "postgresql://h/db?user=u&password=***&sslmode=require"},
	    {"host=h user=u password=kvsecret dbname=d", "host=h user=u password=*** dbname=d"},
	    {"host=h password='a \\' b' dbname=d", "host=h password=*** dbname=d"},
	    {"smtp://[::1]:25", "smtp://[::1]:25"},
	    {"postgresql://h/db?pass%77ord=S1&sslpassword=S2",
	     "postgresql://h/db?pass%77ord=***&sslpassword=***"},
	    {"postgresql://h/db?password=SEC,RET&x=1", "postgresql://h/db?password=***&x=1"},
	    {"smtp://u:SEC,,RET@127.0.0.1:1", "smtp://u:***@127.0.0.1:1"},
	    {"smtp://u:SEC,smtp:RET@h", "smtp://u:***,smtp:RET@h"},
	    {"smtp://u:SEC, smtp://v@h2", "smtp://u:***, smtp://v@h2"},
	    {"postgresql://h:5432/db, smtp://[::1]:2525",
	     "postgresql://h:5432/db, smtp://[::1]:2525"},
	    {"ftp://u:p@h", "ftp://u:***@h"}};
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		char *m = bl_url_mask_password(masks[i][0]);
		if (strcmp(m, masks[i][1]) != 0)
			fail_msg("mask \"%s\": got \"%s\", want \"%s\"", masks[i][0], m,
			         masks[i][1]);
		free(m);
	}

	static const struct {
		const char *list;
		int at; /* offset of the separating ',', -1 for none */
	} items[] = {{"smtp://a:25,smtp://b:25", 11},
	             {"smtp://u:p,w@h, maildir:o", 14},
	             {"maildir:a,b", -1},
	             {"smtp://a, ftp://b", 8},
	             {"smtp://a,,smtp://b", 8},
	             {"smtp://a,", 8},
	             {"smtp://u:x,y@h,SMTPS://v@h", 14},
	             {"", -1}};
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		const char *c = bl_url_list_next(items[i].list);
		int got = c ? (int)(c - items[i].list) : -1;
		if (got != items[i].at)
			fail_msg("list \"%s\": separator at %d, want %d", items[i].list, got,
			         items[i].at);
	}

	char msg[] =
	    "invalid percent-encoded token: \"se%zzcret\" in postgresql://u:se%zzcret@h/db";
	bl_url_scrub(msg, "postgresql://u:se%zzcret@h/db");
	assert_string_equal(msg,
	                    "invalid percent-encoded token: \"***\" in postgresql://u:***@h/db");
	char short_pw[] = "to the host p";
	bl_url_scrub(short_pw, "smtp://u:p@h");
	assert_string_equal(short_pw, "to the host p"); /* 1-2 byte secrets are left alone */

	char *t = bl_trim_dup("  \t hello world \r\n");
	assert_string_equal(t, "hello world");
	free(t);
	assert_int_equal(bl_strcaseeq("ABC", "abc"), 1);
	assert_int_equal(bl_strcaseeq("ABC", "abd"), 0);
	long long v;
	assert_int_equal(bl_parse_int64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(bl_parse_int64("101", 0, 100, &v), -BL_ELIMIT);
	assert_int_equal(bl_parse_int64("4x", 0, 100, &v), -BL_EINVAL);
	assert_string_equal(bl_strerror(-BL_ENOENT), "not found");
	assert_string_equal(bl_strerror(-BL_ELASTADMIN), "the last admin cannot be removed");
	assert_string_equal(bl_strerror(-BL_EINUSE), "still in use");
	assert_string_equal(bl_strerror(-BL_EPERM), "not permitted");
	assert_string_equal(bl_strerror(999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_sticky_limit),
	    cmocka_unit_test(test_buf_grows),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
