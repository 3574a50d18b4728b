/* Unit tests for the link tokens and VERP tokens of src/core/crypto. Table-driven, got/want. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "util/err.h"

static const char key_a[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char key_b[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_secret_load(void **state)
{
	(void)state;
	struct bl_secret k;
	static const struct {
		const char *hex;
		int want;
	} cases[] = {
	    {key_a, 0},
	    {"", -BL_EINVAL},
	    {"00", -BL_EINVAL},
	    {"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", -BL_EINVAL},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", -BL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = bl_secret_load(cases[i].hex, &k);
		if (got != cases[i].want)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].hex, got,
			         cases[i].want);
	}
}

static void test_link_tokens(void **state)
{
	(void)state;
	struct bl_secret a, b;
	char tok[BL_TOKEN_LEN];
	int64_t sub = 0, list = 0, exp = 0;
	assert_int_equal(bl_secret_load(key_a, &a), 0);
	assert_int_equal(bl_secret_load(key_b, &b), 0);

	bl_token_make(&a, BL_TOKEN_UNSUBSCRIBE, 123456789012LL, 7, 0, tok);
	assert_int_equal(strlen(tok), BL_TOKEN_LEN - 1);
	assert_true(
	    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	    strlen(tok));
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_UNSUBSCRIBE, tok, &sub, &list, &exp), 1);
	assert_int_equal(sub, 123456789012LL);
	assert_int_equal(list, 7);
	assert_int_equal(exp, 0);
	/* Another purpose, another key: refused, outputs untouched. */
	sub = -1;
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_PREFERENCES, tok, &sub, &list, &exp), 0);
	assert_int_equal(bl_token_verify(&b, BL_TOKEN_UNSUBSCRIBE, tok, &sub, &list, &exp), 0);
	assert_int_equal(sub, -1);
	/* Any single changed character is refused. */
	for (size_t i = 0; i < strlen(tok); i++) {
		char t2[BL_TOKEN_LEN];
		memcpy(t2, tok, sizeof(t2));
		t2[i] = t2[i] == 'A' ? 'B' : 'A';
		if (bl_token_verify(&a, BL_TOKEN_UNSUBSCRIBE, t2, &sub, &list, &exp) != 0)
			fail_msg("token with byte %zu changed verified", i);
	}
	/* Truncated, extended, empty, NULL. */
	char t3[BL_TOKEN_LEN + 2];
	snprintf(t3, sizeof(t3), "%sA", tok);
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_UNSUBSCRIBE, t3, &sub, &list, &exp), 0);
	t3[BL_TOKEN_LEN - 2] = 0;
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_UNSUBSCRIBE, t3, &sub, &list, &exp), 0);
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_UNSUBSCRIBE, "", &sub, &list, &exp), 0);
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_UNSUBSCRIBE, NULL, &sub, &list, &exp), 0);
	/* One spelling only: bytes outside the base64url alphabet in place of a
	 * character are refused. libsodium 1.0.18 decodes 0x80-0xFF as '_';
	 * fuzz/fuzz_token.c found this token, accepted with 0xFF for its '_'
	 * (key 42..42, unsubscribe, subscriber -54273, list -1). */
	{
		struct bl_secret f;
		char good[BL_TOKEN_LEN], bad[BL_TOKEN_LEN];
		assert_int_equal(
		    bl_secret_load("4242424242424242424242424242424242424242424242424242"
		                   "424242424242",
		                   &f),
		    0);
		bl_token_make(&f, BL_TOKEN_UNSUBSCRIBE, -54273, -1, -446676598785LL, good);
		assert_string_equal(good, "________K________________5f_____ev9xzQx_oXS7k8gYRO35-Q");
		for (size_t i = 0; i < strlen(good); i++) {
			static const unsigned char subst[] = {0x80, 0xbf, 0xdf, 0xff, '+', '/',
			                                      '=',  ' ',  '.',  0x7f, 0x01};
			for (size_t j = 0; j < sizeof(subst); j++) {
				memcpy(bad, good, sizeof(bad));
				bad[i] = (char)subst[j];
				if (bl_token_verify(&f, BL_TOKEN_UNSUBSCRIBE, bad, &sub, &list,
				                    &exp))
					fail_msg("byte 0x%02x in place of '%c' at %zu verified",
					         subst[j], good[i], i);
			}
		}
	}
	/* Expiry travels in the token. */
	bl_token_make(&a, BL_TOKEN_CONFIRM, 5, 6, 1900000000, tok);
	assert_int_equal(bl_token_verify(&a, BL_TOKEN_CONFIRM, tok, &sub, &list, &exp), 1);
	assert_int_equal(exp, 1900000000);
	/* Deterministic: same claims, same token; other claims, other token. */
	char t4[BL_TOKEN_LEN], t5[BL_TOKEN_LEN];
	bl_token_make(&a, BL_TOKEN_CONFIRM, 5, 6, 1900000000, t4);
	bl_token_make(&a, BL_TOKEN_CONFIRM, 5, 7, 1900000000, t5);
	assert_string_equal(tok, t4);
	assert_string_not_equal(tok, t5);
}

static void test_verp(void **state)
{
	(void)state;
	struct bl_secret a, b;
	char tok[BL_VERP_TOKEN_MAX], up[BL_VERP_TOKEN_MAX];
	int64_t post = 0, sub = 0;
	assert_int_equal(bl_secret_load(key_a, &a), 0);
	assert_int_equal(bl_secret_load(key_b, &b), 0);
	bl_verp_token(&a, 42, 9000000000LL, tok);
	assert_int_equal(strncmp(tok, "42-9000000000-", 14), 0);
	assert_int_equal(strlen(tok), 14 + 16);
	assert_int_equal(bl_verp_parse(&a, tok, &post, &sub), 1);
	assert_int_equal(post, 42);
	assert_int_equal(sub, 9000000000LL);
	/* MTAs may change the case of local parts. */
	for (size_t i = 0; i <= strlen(tok); i++)
		up[i] = (char)(tok[i] >= 'a' && tok[i] <= 'f' ? tok[i] - 32 : tok[i]);
	assert_int_equal(bl_verp_parse(&a, up, &post, &sub), 1);
	static const char *const bad[] = {
	    "",
	    "42",
	    "42-9000000000",
	    "42-9000000000-",
	    "0-1-0123456789abcdef",
	    "42-9000000001-0123456789abcdef",
	    "-1-2-0123456789abcdef",
	    "42-9000000000-zz",
	    "99999999999999999999-1-0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (bl_verp_parse(&a, bad[i], &post, &sub) != 0)
			fail_msg("VERP token \"%s\" accepted", bad[i]);
	assert_int_equal(bl_verp_parse(&b, tok, &post, &sub), 0);
	/* A forged id with the MAC of another row. */
	char forged[BL_VERP_TOKEN_MAX];
	snprintf(forged, sizeof(forged), "43%s", tok + 2);
	assert_int_equal(bl_verp_parse(&a, forged, &post, &sub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_load),
	    cmocka_unit_test(test_link_tokens),
	    cmocka_unit_test(test_verp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
