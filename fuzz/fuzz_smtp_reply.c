/*
 * libFuzzer harness for the SMTP reply parser (src/send/smtp_reply.h). The
 * first input byte seeds how the rest is cut into reads; the rest is what
 * a relay sends. The stream is parsed whole and again in those pieces, and
 * both must give the same replies and end the same way (a reply does not
 * depend on how TCP cut the bytes). Every reply must keep the contract:
 * code 200..599, 1..BL_SMTP_LINES_MAX lines, NUL-terminated text without
 * control bytes, a queue id of id characters; a feed consumes what it says
 * and all of its input unless it completed a reply or failed.
 * Seeds: fuzz/seeds/smtp_reply; dictionary: fuzz/smtp_reply.dict.
 */
#include "send/smtp_reply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLIES 64

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_smtp_reply: invariant broken: %s\ninput (%zu bytes):", what, size);
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

struct run {
	struct bl_smtp_reply r[MAX_REPLIES];
	size_t n;  /* replies seen (only the first MAX_REPLIES kept) */
	int error; /* the stream ended in a protocol error */
};

static int id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static void check_reply(const struct bl_smtp_reply *r, const uint8_t *data, size_t size)
{
	CHECK(r->code >= 200 && r->code <= 599, "code out of range");
	CHECK(r->lines >= 1 && r->lines <= BL_SMTP_LINES_MAX, "line count out of range");
	CHECK(memchr(r->text, '\0', sizeof(r->text)) != NULL, "text not terminated");
	for (const char *p = r->text; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in text");
	CHECK(strlen(r->text) >= 3, "text shorter than the code");
	CHECK(memchr(r->queue_id, '\0', sizeof(r->queue_id)) != NULL, "queue id not terminated");
	for (const char *p = r->queue_id; *p; p++)
		CHECK(id_char(*p), "queue id holds a character it should not");
	size_t ql = strlen(r->queue_id);
	CHECK(ql == 0 || r->queue_id[ql - 1] != '.', "queue id ends in a dot");
	CHECK((r->auth & ~(unsigned)(BL_SMTP_AUTH_PLAIN | BL_SMTP_AUTH_LOGIN)) == 0,
	      "unknown AUTH bit");
	CHECK(!r->auth || (r->ext & BL_SMTP_EXT_AUTH), "AUTH mechanisms without AUTH");
	CHECK(!r->size || (r->ext & BL_SMTP_EXT_SIZE), "a SIZE value without SIZE");
}

/* Parse @in (@n bytes) in pieces whose sizes come from @seed (0: whole). */
static void parse(struct bl_smtp_reply_parser *p, const uint8_t *in, size_t n, unsigned seed,
                  struct run *out, const uint8_t *data, size_t size)
{
	bl_smtp_reply_parser_init(p);
	memset(out, 0, sizeof(*out));
	unsigned x = seed * 2654435761u + 1;
	for (size_t off = 0; off < n && !out->error;) {
		size_t piece = n - off;
		if (seed) {
			x = x * 1103515245u + 12345u;
			size_t cut = 1 + (x >> 16) % 97;
			if (cut < piece)
				piece = cut;
		}
		size_t pos = 0;
		while (pos < piece) {
			struct bl_smtp_reply r;
			size_t used = 12345;
			int rc = bl_smtp_reply_feed(p, (const char *)in + off + pos, piece - pos,
			                            &used, &r);
			CHECK(used <= piece - pos, "consumed more than it was given");
			if (rc < 0) {
				out->error = 1;
				break;
			}
			CHECK(rc == 0 || rc == 1, "unexpected return value");
			pos += used;
			if (rc == 0) {
				CHECK(pos == piece, "stopped early without a reply");
				break;
			}
			CHECK(used > 0, "a reply from no bytes");
			check_reply(&r, data, size);
			if (out->n < MAX_REPLIES)
				out->r[out->n] = r;
			out->n++;
		}
		off += piece;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static struct bl_smtp_reply_parser p;
	static struct run whole, cut;
	unsigned seed = data[0] | 1u;
	const uint8_t *in = data + 1;
	size_t n = size - 1;

	parse(&p, in, n, 0, &whole, data, size);
	parse(&p, in, n, seed, &cut, data, size);
	CHECK(whole.n == cut.n, "a different number of replies when cut");
	CHECK(whole.error == cut.error, "a different ending when cut");
	for (size_t i = 0; i < whole.n && i < MAX_REPLIES; i++)
		CHECK(memcmp(&whole.r[i], &cut.r[i], sizeof(whole.r[i])) == 0,
		      "a different reply when cut");

	/* The queue id scanner on raw bytes. */
	char id[64];
	memset(id, 'z', sizeof(id));
	int found = bl_smtp_queue_id((const char *)in, n, id, sizeof(id));
	CHECK(memchr(id, '\0', sizeof(id)) != NULL, "queue id not terminated");
	CHECK(found == (id[0] != '\0'), "queue id found but empty, or the reverse");
	return 0;
}
