/*
 * libFuzzer harness for the link-token decoder bl_token_verify
 * (src/core/crypto.h) with a fixed key. Two kinds of input, by the first
 * byte's low bit:
 *   0: the rest is a token string, checked for every purpose;
 *   1: a purpose byte, 24 bytes of claims, then (position, byte) pairs: a
 *      real token is made from the claims and the pairs overwrite some of
 *      its characters, so the fuzzer explores the neighbours of valid tokens.
 * Whatever is accepted must come back from bl_token_make with the same
 * claims as the very same string (no second spelling of a token, e.g. base64
 * with non-zero padding bits); a refusal leaves the outputs alone.
 */
#include "core/crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The purposes of enum bl_token_purpose: 1 to LAST. */
#define LAST BL_TOKEN_FORM

static const char key_hex[] = "4242424242424242424242424242424242424242424242424242424242424242";

static void fail(const char *what, const char *token)
{
	fprintf(stderr, "fuzz_token: invariant broken: %s\ntoken: \"%s\"\n", what, token);
	abort();
}

static void check(const struct bl_secret *k, const char *token)
{
	for (int p = 0; p <= LAST + 1; p++) {
		int64_t sub = -7, list = -7, exp = -7;
		int ok = bl_token_verify(k, (enum bl_token_purpose)p, token, &sub, &list, &exp);
		if (ok != 0 && ok != 1)
			fail("bl_token_verify returned neither 0 nor 1", token);
		if (!ok) {
			if (sub != -7 || list != -7 || exp != -7)
				fail("a refused token wrote the outputs", token);
			continue;
		}
		if (p < 1 || p > LAST)
			fail("accepted for a purpose that does not exist", token);
		char again[BL_TOKEN_LEN];
		bl_token_make(k, (enum bl_token_purpose)p, sub, list, exp, again);
		if (strcmp(again, token) != 0)
			fail("an accepted token is not what bl_token_make makes of its claims",
			     token);
		for (int q = 1; q <= LAST; q++) {
			int64_t s2, l2, e2;
			if (q != p &&
			    bl_token_verify(k, (enum bl_token_purpose)q, token, &s2, &l2, &e2))
				fail("a token verifies for two purposes", token);
		}
	}
}

static int64_t get64(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bl_secret k;
	static int ready;
	if (!ready) {
		if (bl_secret_load(key_hex, &k) != 0)
			abort();
		ready = 1;
	}
	if (size == 0)
		return 0;
	if (!(data[0] & 1)) {
		char *token = malloc(size);
		memcpy(token, data + 1, size - 1);
		token[size - 1] = '\0';
		check(&k, token);
		free(token);
		return 0;
	}
	if (size < 26)
		return 0;
	enum bl_token_purpose purpose = (enum bl_token_purpose)(data[1] % LAST + 1);
	char token[BL_TOKEN_LEN];
	bl_token_make(&k, purpose, get64(data + 2), get64(data + 10), get64(data + 18), token);
	int64_t sub, list, exp;
	if (!bl_token_verify(&k, purpose, token, &sub, &list, &exp) || sub != get64(data + 2) ||
	    list != get64(data + 10) || exp != get64(data + 18))
		fail("a fresh token does not verify to its claims", token);
	for (size_t i = 26; i + 1 < size; i += 2)
		token[data[i] % (BL_TOKEN_LEN - 1)] = (char)(data[i + 1] ? data[i + 1] : 'A');
	check(&k, token);
	return 0;
}
