/*
 * libFuzzer harness for the report parser (bl_report_parse). The input is the
 * message as it arrived (any line ends, any MIME structure). Checks the
 * invariants of report.h: 0, or -BL_EINVAL / -BL_ELIMIT with a message and an
 * all-zero result; every string non-NULL and UTF-8; at most 500 header fields,
 * BL_REPORT_MAX_RCPTS recipients and BL_REPORT_MAX_TEXT bytes of text; the
 * header lookups agree with the header list. Seeds: fuzz/seeds/report.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/report.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__,         \
			        __LINE__);                                                         \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

static void check_string(const char *s)
{
	CHECK(s != NULL);
	CHECK(bl_utf8_valid(s, strlen(s), NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bl_report r;
	struct bl_diag d = {{0}};
	int rc = bl_report_parse((const char *)data, size, &r, &d);
	if (rc < 0) {
		CHECK(rc == -BL_EINVAL || rc == -BL_ELIMIT);
		CHECK(d.msg[0] != 0);
		CHECK(r.n_headers == 0 && r.headers == NULL && r.text == NULL);
		return 0;
	}
	CHECK(rc == 0);
	CHECK(r.n_headers <= 500);
	for (size_t i = 0; i < r.n_headers; i++) {
		check_string(r.headers[i].name);
		check_string(r.headers[i].value);
		const char *v = bl_report_header(&r, r.headers[i].name);
		CHECK(v != NULL);
	}
	check_string(r.content_type);
	check_string(r.report_type);
	check_string(r.dsn.reporting_mta);
	check_string(r.dsn.arrival_date);
	check_string(r.dsn.original_envid);
	CHECK(r.dsn.n_rcpts <= BL_REPORT_MAX_RCPTS);
	CHECK(!r.dsn.n_rcpts || r.has_dsn);
	for (size_t i = 0; i < r.dsn.n_rcpts; i++) {
		const struct bl_report_rcpt *x = &r.dsn.rcpts[i];
		check_string(x->final_recipient);
		check_string(x->original_recipient);
		check_string(x->action);
		check_string(x->status);
		check_string(x->diagnostic_type);
		check_string(x->diagnostic);
		check_string(x->remote_mta);
		check_string(x->last_attempt_date);
	}
	const struct bl_report_arf *a = &r.arf;
	const char *arf[] = {a->feedback_type,
	                     a->user_agent,
	                     a->version,
	                     a->original_mail_from,
	                     a->original_rcpt_to,
	                     a->original_envelope_id,
	                     a->reporting_mta,
	                     a->source_ip,
	                     a->auth_failure,
	                     a->delivery_result,
	                     a->identity_alignment,
	                     a->dkim_domain,
	                     a->dkim_identity,
	                     a->dkim_selector,
	                     a->dkim_canonicalized_header,
	                     a->dkim_canonicalized_body,
	                     a->spf_dns};
	for (size_t i = 0; i < sizeof arf / sizeof arf[0]; i++)
		check_string(arf[i]);
	for (size_t i = 0; i < a->n_reported_domain; i++)
		check_string(a->reported_domain[i]);
	for (size_t i = 0; i < a->n_reported_uri; i++)
		check_string(a->reported_uri[i]);
	for (size_t i = 0; i < a->n_authentication_results; i++)
		check_string(a->authentication_results[i]);
	CHECK(a->source_port >= 0 && a->source_port <= 65535);
	check_string(r.text);
	CHECK(strlen(r.text) <= BL_REPORT_MAX_TEXT);
	check_string(r.original_headers);
	/* every line of original_headers is one field the lookup finds */
	const char *p = r.original_headers;
	while (*p) {
		const char *e = strchr(p, '\n');
		const char *colon = memchr(p, ':', e ? (size_t)(e - p) : strlen(p));
		CHECK(colon != NULL);
		char name[1024];
		size_t n = (size_t)(colon - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0 && n < sizeof name) {
			memcpy(name, p, n);
			name[n] = 0;
			char *v = bl_report_original_header(&r, name);
			CHECK(v != NULL);
			check_string(v);
			free(v);
		}
		if (!e)
			break;
		p = e + 1;
	}
	bl_report_clear(&r);
	CHECK(r.text == NULL && r.n_headers == 0);
	return 0;
}
