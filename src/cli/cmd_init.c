/*
 * bulletin init: create the database schema or migrate it to this
 * binary's version (idempotent), and generate the installation's secret key
 * the first time. Refuses a database whose schema is newer than the binary.
 */
#include "cli/cli.h"

#include "core/crypto.h"
#include "util/str.h"
#include "util/time.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin init\n"
    "\n"
    "Create the database named by `db` (default sqlite:bulletin.db) or migrate it\n"
    "to this bulletin's schema, and generate the secret key that signs links.\n"
    "Running it again is safe: it changes nothing on a current database.\n"
    "A database whose schema is newer than this bulletin is refused (exit 3).\n";

int bl_cmd_init(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	struct bl_store *s;
	code = bl_cli_store(cli, 0, &s);
	if (code)
		return code;
	int from, to;
	int rc = s->ops->migrate(s, &from, &to);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	char *secret = NULL;
	rc = s->ops->setting_get(s, "secret_key", &secret);
	if (rc == 0) {
		char key[BL_HASH_HEX];
		bl_secret_generate(key);
		rc = s->ops->setting_set(s, "secret_key", key);
		if (rc == 0)
			rc = s->ops->setting_set(s, "installed_at", bl_cli_time(bl_now()));
	} else if (rc > 0) {
		rc = 0;
	}
	free(secret);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	char *db = bl_url_mask_password(bl_config_str(cli->config, "db"));
	if (from == to)
		printf("database %s is up to date (schema %d)\n", db, to);
	else if (from == 0)
		printf("initialised database %s (schema %d)\n", db, to);
	else
		printf("migrated database %s from schema %d to %d\n", db, from, to);
	free(db);
	return BL_EXIT_OK;
}
