/*
 * libFuzzer harness for report analysis (src/bounce/analyze.c over the
 * report parser, src/mime/report.c): any bytes go through bl_bounce_analyze.
 * It must return 0, -BL_ELIMIT or -BL_EINVAL; on success every string is
 * non-NULL, findings have a class in range, NUL-terminated reasons and
 * statuses, diagnostics of at most 1000 bytes, a 64-hex-digit key; the same
 * bytes analysed twice give the same kind, findings and key.
 * Seeds: fuzz/seeds/bounce (written for bulletin); dictionary: fuzz/bounce.dict.
 */
#include "bounce/bounce.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_bounce: invariant broken: %s\n", what);
	abort();
}

static void check(const struct bl_bounce_report *r)
{
	if (!r->envelope_to || !r->original_message_id || !r->original_list_id || !r->original_to ||
	    !r->subject || !r->from)
		fail("a NULL string");
	if (strlen(r->key) != 64 || strspn(r->key, "0123456789abcdef") != 64)
		fail("key is not 64 hex digits");
	if ((unsigned)r->kind > BL_REPORT_KIND_OTHER)
		fail("kind out of range");
	for (size_t i = 0; i < r->n_findings; i++) {
		const struct bl_bounce_finding *f = &r->findings[i];
		if (!f->recipient || !f->diagnostic || !f->feedback_type)
			fail("a NULL finding string");
		if ((unsigned)f->cls >= BL_BOUNCE_NCLASSES)
			fail("class out of range");
		if (memchr(f->reason, '\0', sizeof(f->reason)) == NULL ||
		    memchr(f->status, '\0', sizeof(f->status)) == NULL)
			fail("reason or status not terminated");
		if (strlen(f->diagnostic) > 1000)
			fail("diagnostic over 1000 bytes");
		if (f->final != 0 && f->final != 1)
			fail("final not 0/1");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bl_bounce_report a, b;
	struct bl_diag d;
	int ra = bl_bounce_analyze((const char *)data, size, NULL, &a, &d);
	if (ra != 0 && ra != -BL_ELIMIT && ra != -BL_EINVAL)
		fail("unexpected error code");
	if (ra != 0)
		return 0;
	check(&a);
	int rb = bl_bounce_analyze((const char *)data, size, "bounces+x@example.org", &b, &d);
	if (rb != 0)
		fail("second analysis failed");
	if (a.kind != b.kind || strcmp(a.key, b.key) != 0)
		fail("not deterministic");
	bl_bounce_report_clear(&a);
	bl_bounce_report_clear(&b);
	return 0;
}
