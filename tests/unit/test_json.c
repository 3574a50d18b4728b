/*
 * core/json: the resource shapes shared by the CLI's --json and the API.
 * Here: stored text that is not UTF-8 keeps its field (bad bytes become
 * U+FFFD) instead of vanishing from the object, or crashing a caller that
 * reads it back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/json.h"

static void test_invalid_utf8(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"Ursula", "Ursula"},
	    {"Urs\xFFla", "Urs\xEF\xBF\xBDla"},
	    {"caf\xC3", "caf\xEF\xBF\xBD"},
	    {"\xC3\xA9t\xE9", "\xC3\xA9t\xEF\xBF\xBD"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_subscriber s = {.id = 1,
		                          .email = "u@x.org",
		                          .email_key = "u@x.org",
		                          .name = (char *)(uintptr_t)cases[i].in,
		                          .attributes = "{}",
		                          .status_reason = (char *)(uintptr_t)cases[i].in};
		json_t *o = bl_json_subscriber(&s);
		const char *fields[] = {"name", "status_reason"};
		for (size_t f = 0; f < 2; f++) {
			const char *got = json_string_value(json_object_get(o, fields[f]));
			if (!got || strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu %s: got \"%s\", want \"%s\"", i, fields[f],
				         got ? got : "(missing)", cases[i].want);
		}
		json_decref(o);
	}
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invalid_utf8),
	};
	return cmocka_run_group_tests_name("unit/json", tests, NULL, NULL);
}
