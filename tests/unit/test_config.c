/*
 * Unit tests for src/config: defaults, the INI file, BULLETIN_* environment
 * overrides, precedence, and the errors (unknown key with its line, bad
 * values with the allowed range).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/bl-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_defaults(void **state)
{
	(void)state;
	struct bl_config *c = bl_config_create();
	assert_string_equal(bl_config_str(c, "db"), "sqlite:bulletin.db");
	assert_int_equal(bl_config_bool(c, "smtputf8"), 0);
	assert_int_equal(bl_config_int(c, "db_busy_timeout"), 10);
	assert_int_equal(bl_config_int(c, "import_batch"), 50000);
	assert_int_equal(bl_config_bool(c, "feed_allow_private"), 0);
	assert_int_equal(bl_config_int(c, "feed_timeout"), 30);
	assert_int_equal(bl_config_int(c, "feed_max_size"), 10485760);
	assert_int_equal(bl_config_int(c, "bounce_warn_complaint_rate"), 1000);
	assert_int_equal(bl_config_int(c, "bounce_warn_hard_rate"), 20000);
	for (size_t i = 0; i < bl_config_count(); i++) {
		struct bl_config_entry e;
		bl_config_entry_at(c, i, &e);
		assert_int_equal(e.origin, BL_ORIGIN_DEFAULT);
		assert_non_null(e.key->help);
		if (i > 0) {
			struct bl_config_entry p;
			bl_config_entry_at(c, i - 1, &p);
			if (strcmp(p.key->name, e.key->name) >= 0)
				fail_msg("keys not in alphabetical order: %s before %s",
				         p.key->name, e.key->name);
		}
	}
	bl_config_destroy(c);
	bl_config_destroy(NULL);
}

static void test_values(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value;
		int ok;
		long long num;
	} cases[] = {
	    {"smtputf8", "yes", 1, 1},
	    {"smtputf8", "Off", 1, 0},
	    {"smtputf8", "maybe", 0, 0},
	    {"import_batch", "1", 1, 1},
	    {"import_batch", "0", 0, 0},
	    {"import_batch", "10000001", 0, 0},
	    {"import_batch", "12abc", 0, 0},
	    {"db_busy_timeout", "30s", 1, 30},
	    {"db_busy_timeout", "2m", 1, 120},
	    {"db_busy_timeout", "1h", 1, 3600},
	    {"db_busy_timeout", "2h", 0, 0},
	    {"db_busy_timeout", "5x", 0, 0},
	    {"db_busy_timeout", "-1", 0, 0},
	    {"log_level", "debug", 1, 0},
	    {"log_level", "verbose", 0, 0},
	    {"nosuchkey", "1", 0, 0},
	    {"feed_allow_private", "on", 1, 1},
	    {"feed_allow_private", "no", 1, 0},
	    {"feed_allow_private", "2", 0, 0},
	    {"feed_timeout", "5s", 1, 5},
	    {"feed_timeout", "1h", 1, 3600},
	    {"feed_timeout", "0", 0, 0},
	    {"feed_timeout", "2h", 0, 0},
	    {"feed_max_size", "1024", 1, 1024},
	    {"feed_max_size", "1023", 0, 0},
	    {"feed_max_size", "1073741824", 1, 1073741824},
	    {"feed_max_size", "1073741825", 0, 0},
	    /* RATE: parts per million, from a fraction or a percentage */
	    {"bounce_warn_complaint_rate", "0.001", 1, 1000},
	    {"bounce_warn_complaint_rate", "0.1%", 1, 1000},
	    {"bounce_warn_complaint_rate", ".0011", 1, 1100},
	    {"bounce_warn_complaint_rate", "0.11%", 1, 1100},
	    {"bounce_warn_complaint_rate", "0.000001", 1, 1},
	    {"bounce_warn_complaint_rate", "0.0001%", 1, 1},
	    {"bounce_warn_complaint_rate", "0.0000010000", 1, 1},
	    {"bounce_warn_complaint_rate", "0", 1, 0},
	    {"bounce_warn_complaint_rate", "1", 1, 1000000},
	    {"bounce_warn_complaint_rate", "100%", 1, 1000000},
	    {"bounce_warn_hard_rate", "2%", 1, 20000},
	    {"bounce_warn_hard_rate", "0.02", 1, 20000},
	    {"bounce_warn_hard_rate", "1.000001", 0, 0},
	    {"bounce_warn_hard_rate", "101%", 0, 0},
	    {"bounce_warn_hard_rate", "99999999999999999999", 0, 0},
	    {"bounce_warn_hard_rate", "0.0000001", 0, 0},
	    {"bounce_warn_hard_rate", "0.00001%", 0, 0},
	    {"bounce_warn_hard_rate", "-0.01", 0, 0},
	    {"bounce_warn_hard_rate", "0.0.1", 0, 0},
	    {"bounce_warn_hard_rate", "1e-3", 0, 0},
	    {"bounce_warn_hard_rate", "%", 0, 0},
	    {"bounce_warn_hard_rate", ".", 0, 0},
	    {"bounce_warn_hard_rate", "", 0, 0},
	    {"bounce_warn_hard_rate", "2 %", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_config *c = bl_config_create();
		struct bl_diag d = {{0}};
		int rc = bl_config_set(c, cases[i].key, cases[i].value, BL_ORIGIN_FLAG, "test", &d);
		if ((rc == 0) != cases[i].ok)
			fail_msg("%s=%s: got rc=%d (%s), want ok=%d", cases[i].key, cases[i].value,
			         rc, d.msg, cases[i].ok);
		if (!cases[i].ok && strstr(d.msg, cases[i].key) == NULL)
			fail_msg("%s=%s: message \"%s\" does not name the key", cases[i].key,
			         cases[i].value, d.msg);
		if (rc == 0 && strcmp(cases[i].key, "log_level") != 0) {
			long long got = strcmp(cases[i].key, "smtputf8") == 0 ||
			                        strcmp(cases[i].key, "feed_allow_private") == 0
			                    ? bl_config_bool(c, cases[i].key)
			                    : bl_config_int(c, cases[i].key);
			if (got != cases[i].num)
				fail_msg("%s=%s: got %lld, want %lld", cases[i].key, cases[i].value,
				         got, cases[i].num);
		}
		bl_config_destroy(c);
	}
}

static void test_file_and_precedence(void **state)
{
	(void)state;
	char *path = write_tmp("# a comment\n"
	                       "db = sqlite:/tmp/from-file.db\n"
	                       "\n"
	                       "import_batch = 250\n"
	                       "smtputf8 = true ; not an inline comment\n");
	struct bl_config *c = bl_config_create();
	struct bl_diag d = {{0}};
	/* inline comments are off: this value is invalid as a bool and must be refused */
	assert_int_equal(bl_config_load_file(c, path, &d), -BL_EINVAL);
	assert_non_null(strstr(d.msg, ":5:"));
	assert_string_equal(bl_config_str(c, "db"), "sqlite:bulletin.db"); /* nothing applied */
	unlink(path);
	free(path);

	path = write_tmp("db = sqlite:/tmp/from-file.db\nimport_batch = 250\nsmtputf8 = true\n");
	assert_int_equal(bl_config_load_file(c, path, &d), 0);
	assert_string_equal(bl_config_str(c, "db"), "sqlite:/tmp/from-file.db");
	assert_int_equal(bl_config_int(c, "import_batch"), 250);
	struct bl_config_entry e;
	for (size_t i = 0; i < bl_config_count(); i++) {
		bl_config_entry_at(c, i, &e);
		if (strcmp(e.key->name, "db") == 0)
			break;
	}
	assert_string_equal(e.key->name, "db");
	assert_int_equal(e.origin, BL_ORIGIN_FILE);
	assert_non_null(strstr(e.where, ":1"));

	char *env[] = {"BULLETIN_DB=sqlite:/tmp/from-env.db", "BULLETIN_IMPORT_BATCH=99",
	               "HOME=/root", NULL};
	assert_int_equal(bl_config_load_env(c, env, &d), 0);
	assert_string_equal(bl_config_str(c, "db"), "sqlite:/tmp/from-env.db");
	assert_int_equal(bl_config_int(c, "import_batch"), 99);
	assert_int_equal(bl_config_bool(c, "smtputf8"), 1); /* from the file still */

	assert_int_equal(bl_config_set(c, "db", "sqlite:/tmp/flag.db", BL_ORIGIN_FLAG, "--db", &d),
	                 0);
	assert_string_equal(bl_config_str(c, "db"), "sqlite:/tmp/flag.db");
	for (size_t i = 0; i < bl_config_count(); i++) {
		bl_config_entry_at(c, i, &e);
		if (strcmp(e.key->name, "db") == 0)
			break;
	}
	assert_int_equal(e.origin, BL_ORIGIN_FLAG);

	char *bad_env[] = {"BULLETIN_IMPORT_BATCH=lots", NULL};
	assert_int_equal(bl_config_load_env(c, bad_env, &d), -BL_EINVAL);
	assert_non_null(strstr(d.msg, "BULLETIN_IMPORT_BATCH"));
	bl_config_destroy(c);
	unlink(path);
	free(path);
}

static void test_file_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"db = sqlite:x.db\nrelayy = smtp://x\n", ":2: unknown configuration key \"relayy\""},
	    {"[smtp]\nhost = x\n", ":2: unknown configuration key \"smtp.host\""},
	    {"db = sqlite:x.db\nthis is not ini\n", ":2: syntax error"},
	    {"import_batch = ten\n", "import_batch must be a whole number"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = write_tmp(cases[i].text);
		struct bl_config *c = bl_config_create();
		struct bl_diag d = {{0}};
		int rc = bl_config_load_file(c, path, &d);
		if (rc != -BL_EINVAL || !strstr(d.msg, cases[i].want))
			fail_msg("case %zu: got rc=%d \"%s\", want -BL_EINVAL and \"%s\"", i, rc,
			         d.msg, cases[i].want);
		bl_config_destroy(c);
		unlink(path);
		free(path);
	}
	struct bl_config *c = bl_config_create();
	struct bl_diag d;
	assert_int_equal(bl_config_load_file(c, "/nonexistent/bulletin.conf", &d), -BL_EIO);
	bl_config_destroy(c);
	char name[64];
	bl_config_env_name("smtp.relay_host", name, sizeof(name));
	assert_string_equal(name, "BULLETIN_SMTP_RELAY_HOST");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_file_and_precedence),
	    cmocka_unit_test(test_file_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
