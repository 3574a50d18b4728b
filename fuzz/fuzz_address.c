/*
 * libFuzzer harness for bl_address_parse: the input bytes are one address,
 * parsed with smtputf8 off and on. Checks the contract rather than a model:
 * refusals leave @out alone and say why in one line; accepted addresses fit
 * their limits, have key == lowercase(email), and parse again (email,
 * display and key) to the same normalised form. Seeds: fuzz/seeds/address.
 */
#include "core/address.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_address: invariant broken: %s\ninput (%zu bytes):", what, size);
	for (size_t i = 0; i < size && i < 512; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "\n");
	abort();
}

#define CHECK(cond, what)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(what, data, size);                                                    \
	} while (0)

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Parses @s (NUL-terminated) again and checks it gives @want's email. */
static void reparse(const char *s, unsigned flags, const struct bl_address *want,
                    const uint8_t *data, size_t size)
{
	struct bl_address again;
	struct bl_diag d;
	int rc = bl_address_parse(s, strlen(s), flags, &again, NULL, &d);
	CHECK(rc == 0, "a normalised form does not parse again");
	CHECK(strcmp(again.email, want->email) == 0, "a normalised form parses to another email");
	CHECK(strcmp(again.key, want->key) == 0, "a normalised form parses to another key");
}

static void one(const uint8_t *data, size_t size, unsigned flags, struct bl_address *a, int *ok)
{
	enum bl_address_problem p = (enum bl_address_problem) - 1;
	struct bl_diag d;
	memset(d.msg, 'x', sizeof(d.msg));
	memset(a, 0xA5, sizeof(*a));
	int rc = bl_address_parse((const char *)data, size, flags, a, &p, &d);
	CHECK(rc == 0 || rc == -BL_EINVAL, "return value is neither 0 nor -BL_EINVAL");
	CHECK(terminated(d.msg, sizeof(d.msg)), "message is not NUL-terminated");
	*ok = rc == 0;
	if (rc != 0) {
		unsigned char sentinel[sizeof(*a)];
		memset(sentinel, 0xA5, sizeof(sentinel));
		CHECK(memcmp(a, sentinel, sizeof(*a)) == 0, "out was written on failure");
		CHECK(p != BL_ADDR_OK, "refused with BL_ADDR_OK");
		CHECK(strcmp(bl_address_problem_name(p), "unknown") != 0, "problem has no name");
		CHECK(d.msg[0] != '\0', "refused without a message");
		CHECK(!strpbrk(d.msg, "\r\n"), "message is not one line");
		CHECK(bl_utf8_valid(d.msg, strlen(d.msg), NULL), "message is not UTF-8");
		return;
	}
	CHECK(p == BL_ADDR_OK, "accepted with a problem set");
	CHECK(d.msg[0] == '\0', "accepted with a message");
	CHECK(terminated(a->email, sizeof(a->email)), "email not NUL-terminated");
	CHECK(terminated(a->key, sizeof(a->key)), "key not NUL-terminated");
	CHECK(terminated(a->display, sizeof(a->display)), "display not NUL-terminated");
	size_t n = strlen(a->email);
	CHECK(n <= BL_ADDRESS_MAX, "email over 254 octets");
	CHECK(a->local_len >= 1 && a->local_len <= 64, "local part length out of range");
	CHECK(a->email[a->local_len] == '@', "local_len does not point at the '@'");
	const char *dom = a->email + a->local_len + 1;
	CHECK(strlen(dom) >= 1 && strlen(dom) <= 255, "domain length out of range");
	for (const char *c = dom; *c; c++)
		CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		          *c == '.',
		      "domain is not lower-case LDH");
	CHECK(bl_utf8_valid(a->email, n, NULL), "email is not UTF-8");
	CHECK(bl_utf8_valid(a->display, strlen(a->display), NULL), "display is not UTF-8");
	CHECK(strlen(a->key) == n, "key and email differ in length");
	for (size_t i = 0; i < n; i++) {
		char c = a->email[i];
		char want = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		CHECK(a->key[i] == want, "key is not lowercase(email)");
	}
	CHECK(strncmp(a->display, a->email, a->local_len + 1) == 0,
	      "display's local part differs from email's");
	if (!(flags & BL_ADDRESS_SMTPUTF8))
		for (size_t i = 0; i < n; i++)
			CHECK((unsigned char)a->email[i] < 0x80,
			      "non-ASCII email without smtputf8");
	reparse(a->email, flags, a, data, size);
	reparse(a->display, flags, a, data, size);
	struct bl_address k;
	CHECK(bl_address_parse(a->key, n, flags, &k, NULL, NULL) == 0, "key does not parse");
	CHECK(strcmp(k.key, a->key) == 0, "key does not parse to itself");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bl_address plain, utf8;
	int ok_plain, ok_utf8;
	one(data, size, 0, &plain, &ok_plain);
	one(data, size, BL_ADDRESS_SMTPUTF8, &utf8, &ok_utf8);
	if (ok_plain) {
		CHECK(ok_utf8, "accepted without smtputf8 but refused with it");
		CHECK(strcmp(plain.email, utf8.email) == 0 && strcmp(plain.key, utf8.key) == 0 &&
		          strcmp(plain.display, utf8.display) == 0,
		      "smtputf8 changes an ASCII address");
	}
	return 0;
}
