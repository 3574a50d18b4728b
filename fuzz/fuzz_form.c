/*
 * libFuzzer harness for bl_form_parse (src/http/form.c). Checks the contract
 * rather than a model: a refusal is -BL_EINVAL or -BL_ELIMIT with a one-line
 * message and an empty form; an accepted form has one field per non-empty
 * '&'-piece, at most BL_FORM_MAX_FIELDS, names and values valid UTF-8
 * without NUL, values within BL_FORM_MAX_VALUE; and the fields, encoded
 * again (every byte but unreserved ones as %XX, spaces as '+'), parse back
 * to the same fields. Seeds: fuzz/seeds/form; dictionary fuzz/form.dict.
 */
#include "http/http.h"
#include "util/buf.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_form: invariant broken: %s\ninput (%zu bytes):", what, size);
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

static void encode(struct bl_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			bl_buf_addc(b, (char)c);
		} else if (c == ' ') {
			bl_buf_addc(b, '+');
		} else {
			bl_buf_addc(b, '%');
			bl_buf_addc(b, hex[c >> 4]);
			bl_buf_addc(b, hex[c & 15]);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t pieces = 0;
	for (size_t i = 0; i < size;) {
		const char *amp = memchr(s + i, '&', size - i);
		size_t end = amp ? (size_t)(amp - s) : size;
		pieces += end > i;
		i = end + 1;
	}

	struct bl_form f;
	struct bl_diag d;
	memset(d.msg, 'x', sizeof(d.msg));
	f.n = 12345;
	int rc = bl_form_parse(s, size, &f, &d);
	CHECK(rc == 0 || rc == -BL_EINVAL || rc == -BL_ELIMIT, "unexpected return value");
	if (rc != 0) {
		CHECK(f.n == 0, "refused with fields left");
		CHECK(memchr(d.msg, '\0', sizeof(d.msg)) != NULL, "message not NUL-terminated");
		CHECK(d.msg[0] != '\0', "refused without a message");
		CHECK(!strpbrk(d.msg, "\r\n"), "message is not one line");
		CHECK(bl_utf8_valid(d.msg, strlen(d.msg), NULL), "message is not UTF-8");
		CHECK(rc == -BL_EINVAL || pieces > BL_FORM_MAX_FIELDS || strstr(d.msg, "bytes"),
		      "ELIMIT without a reason");
		bl_form_clear(&f);
		return 0;
	}
	CHECK(f.n == pieces, "not one field per non-empty piece");
	CHECK(f.n <= BL_FORM_MAX_FIELDS, "too many fields");
	struct bl_buf again;
	bl_buf_init(&again, 0);
	for (size_t i = 0; i < f.n; i++) {
		size_t nl = strlen(f.f[i].name);
		CHECK(f.f[i].value_len == strlen(f.f[i].value),
		      "value_len is not the value's length");
		CHECK(f.f[i].value_len <= BL_FORM_MAX_VALUE, "value over the limit");
		CHECK(bl_utf8_valid(f.f[i].name, nl, NULL), "name not UTF-8");
		CHECK(bl_utf8_valid(f.f[i].value, f.f[i].value_len, NULL), "value not UTF-8");
		CHECK(bl_form_get(&f, f.f[i].name) != NULL, "bl_form_get misses a field");
		if (i)
			bl_buf_addc(&again, '&');
		encode(&again, f.f[i].name);
		bl_buf_addc(&again, '=');
		encode(&again, f.f[i].value);
	}
	struct bl_form g;
	rc = bl_form_parse(bl_buf_str(&again), again.len, &g, &d);
	CHECK(rc == 0, "the encoded fields do not parse");
	CHECK(g.n == f.n, "the encoded fields parse to another count");
	for (size_t i = 0; i < f.n; i++) {
		CHECK(strcmp(g.f[i].name, f.f[i].name) == 0, "a name changes through encoding");
		CHECK(strcmp(g.f[i].value, f.f[i].value) == 0, "a value changes through encoding");
	}
	bl_form_clear(&g);
	bl_buf_finish(&again);
	bl_form_clear(&f);
	return 0;
}
