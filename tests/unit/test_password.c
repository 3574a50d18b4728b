/*
 * Unit tests for the publisher tools' primitives in src/core/crypto: argon2id
 * password hashes (verify, refusals, the rehash hint, hashes made elsewhere),
 * generated passwords, API tokens, random ids and SHA-256 (FIPS 180-4
 * vectors). Table-driven, got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "util/err.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Made once with libsodium 1.0.18 for "correct horse": other parameters than today's. */
static const char hash_t1[] =
    "$argon2id$v=19$m=8192,t=1,p=1$FWtHgrjnhlV1obCjyZua+w$bb1+IqILzICAHQsm"
    "oMmWD20O95pH8D9iNH5BafhqfEc";
static const char hash_argon2i[] = "$argon2i$v=19$m=8192,t=3,p=1$jGB3q7zQ1AyFy/jEWcvloQ$rmVeYyGXId"
                                   "d3LmnrYypKG0ZOmkmNXmAZYOc2YPmCpNU";

static void test_hash_verify(void **state)
{
	(void)state;
	char h[BL_PASSWORD_HASH_MAX];
	static const char pw[] = "correct horse battery staple";
	assert_int_equal(bl_password_hash(pw, strlen(pw), h), 0);
	if (strncmp(h, "$argon2id$v=19$m=65536,t=2,p=1$", 31) != 0)
		fail_msg("hash: got %s, want $argon2id$v=19$m=65536,t=2,p=1$...", h);
	/* A second hash of the same password differs (a new salt) and also verifies. */
	char h2[BL_PASSWORD_HASH_MAX];
	assert_int_equal(bl_password_hash(pw, strlen(pw), h2), 0);
	assert_string_not_equal(h, h2);

	static const char with_nul[] = "ab\0cd";
	char hn[BL_PASSWORD_HASH_MAX];
	assert_int_equal(bl_password_hash(with_nul, 5, hn), 0);

	const struct {
		const char *hash;
		const char *pw;
		size_t len;
		int want, want_rehash;
	} cases[] = {
	    {h, pw, sizeof(pw) - 1, 1, 0},
	    {h2, pw, sizeof(pw) - 1, 1, 0},
	    {h, "correct horse battery stapl", 27, 0, 0},
	    {h, "correct horse battery staplE", 28, 0, 0},
	    {h, "Correct horse battery staple", 28, 0, 0},
	    {h, "correct horse battery staple ", 29, 0, 0},
	    {h, "", 0, 0, 0},
	    {hn, "ab\0cd", 5, 1, 0},
	    {hn, "ab\0ce", 5, 0, 0},
	    {hn, "ab", 2, 0, 0}, /* the bytes after a NUL count */
	    {hash_t1, "correct horse", 13, 1, 1},
	    {hash_t1, "correct horsE", 13, 0, 0},
	    {hash_argon2i, "correct horse", 13, 1, 1},
	    {"", "correct horse", 13, 0, 0},
	    {"$argon2id$v=19$m=8192,t=1,p=1$garbage", "correct horse", 13, 0, 0},
	    {"plaintext", "plaintext", 9, 0, 0},
	    {NULL, "x", 1, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rehash = -1;
		int got = bl_password_verify(cases[i].hash, cases[i].pw, cases[i].len, &rehash);
		if (got != cases[i].want || rehash != cases[i].want_rehash)
			fail_msg("case %zu: got %d (rehash %d), want %d (rehash %d)", i, got,
			         rehash, cases[i].want, cases[i].want_rehash);
	}
	/* rehash may be NULL */
	assert_int_equal(bl_password_verify(h, pw, strlen(pw), NULL), 1);
	/* The dummy verify does the work and matches nothing (it returns nothing: it
	 * must merely not crash, for any input). */
	bl_password_dummy_verify(pw, strlen(pw));
	bl_password_dummy_verify("", 0);
}

static void test_hash_refusals(void **state)
{
	(void)state;
	char h[BL_PASSWORD_HASH_MAX] = "untouched";
	char *big = malloc(BL_PASSWORD_MAX + 2);
	memset(big, 'a', BL_PASSWORD_MAX + 1);
	big[BL_PASSWORD_MAX + 1] = 0;
	static const struct {
		size_t len;
		int want;
	} cases[] = {
	    {0, -BL_EINVAL},
	    {BL_PASSWORD_MAX + 1, -BL_EINVAL},
	    {BL_PASSWORD_MAX, 0},
	    {1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(h, "untouched");
		int got = bl_password_hash(big, cases[i].len, h);
		if (got != cases[i].want)
			fail_msg("length %zu: got %d, want %d", cases[i].len, got, cases[i].want);
		if (got != 0 && strcmp(h, "untouched") != 0)
			fail_msg("length %zu: output written on failure: %s", cases[i].len, h);
		if (got == 0 && bl_password_verify(h, big, cases[i].len, NULL) != 1)
			fail_msg("length %zu: the hash does not verify", cases[i].len);
	}
	/* A password over the limit never verifies (even against a hash of its prefix). */
	assert_int_equal(bl_password_hash(big, BL_PASSWORD_MAX, h), 0);
	assert_int_equal(bl_password_verify(h, big, BL_PASSWORD_MAX + 1, NULL), 0);
	free(big);
}

/* @n values from @gen: the right length and alphabet, all different. */
static void check_random(const char *what, void (*gen)(char *), size_t len, const char *prefix)
{
	enum { N = 200 };
	char *v = calloc(N, len + 1);
	size_t k = strlen(prefix);
	for (size_t i = 0; i < N; i++) {
		char *s = v + i * (len + 1);
		gen(s);
		if (strlen(s) != len)
			fail_msg("%s %s: got length %zu, want %zu", what, s, strlen(s), len);
		if (strncmp(s, prefix, k) != 0)
			fail_msg("%s %s: want prefix %s", what, s, prefix);
		if (strspn(s + k, b64url) != len - k)
			fail_msg("%s %s: a character outside base64url", what, s);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s, v + j * (len + 1)) == 0)
				fail_msg("%s: %s came twice in %d draws", what, s, N);
	}
	free(v);
}

static void gen_password(char *s)
{
	bl_password_generate(s);
	if (s[0] == '-')
		fail_msg("generated password %s starts with '-'", s);
}
static void gen_token(char *s)
{
	bl_api_token_generate(s);
}
static void gen_id(char *s)
{
	bl_random_id(s);
	if (!bl_random_id_valid(s))
		fail_msg("bl_random_id_valid(%s): got 0, want 1", s);
}

static void test_generated(void **state)
{
	(void)state;
	check_random("password", gen_password, BL_PASSWORD_GEN_LEN - 1, "");
	check_random("api token", gen_token, BL_API_TOKEN_LEN - 1, "blt_");
	check_random("random id", gen_id, BL_RANDOM_ID_LEN - 1, "");
	/* A generated password is one a person could choose, and hashes. */
	char pw[BL_PASSWORD_GEN_LEN], h[BL_PASSWORD_HASH_MAX];
	bl_password_generate(pw);
	assert_true(strlen(pw) >= BL_PASSWORD_MIN);
	assert_int_equal(bl_password_hash(pw, strlen(pw), h), 0);
	assert_int_equal(bl_password_verify(h, pw, strlen(pw), NULL), 1);
}

static void test_random_id_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int want;
	} cases[] = {
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1},
	    {"abc-_0123456789abcdefghijklmnopqrstuvwxyzAB", 1},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0},   /* 42 */
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0}, /* 44 */
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", 0},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/", 0},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ", 0},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3", 0},
	    {"", 0},
	    {NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = bl_random_id_valid(cases[i].s);
		if (got != cases[i].want)
			fail_msg("case %zu (%s): got %d, want %d", i,
			         cases[i].s ? cases[i].s : "NULL", got, cases[i].want);
	}
}

static void test_sha256(void **state)
{
	(void)state;
	/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the empty string. */
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	};
	char got[BL_HASH_HEX];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bl_sha256_hex(cases[i].in, strlen(cases[i].in), got);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("sha256(\"%s\"): got %s, want %s", cases[i].in, got,
			         cases[i].want);
	}
	/* Bytes, not a string: a NUL counts. */
	bl_sha256_hex("abc\0", 4, got);
	assert_string_not_equal(got, cases[1].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_verify), cmocka_unit_test(test_hash_refusals),
	    cmocka_unit_test(test_generated),   cmocka_unit_test(test_random_id_valid),
	    cmocka_unit_test(test_sha256),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
