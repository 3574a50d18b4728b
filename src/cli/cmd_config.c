/* bulletin config dump: every configuration value in effect and where it came from. */
#include "cli/cli.h"

#include "util/str.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin config dump [--json]\n"
    "\n"
    "Print every configuration key with the value in effect and where it came\n"
    "from: default, file (FILE:LINE), env (BULLETIN_KEY) or flag. Precedence:\n"
    "flag > environment > file > default. Passwords in URLs (db, relay,\n"
    "bounce_mailbox) and webhook secrets are masked.\n";

/* A copy of @v with the password of every URL's userinfo replaced by "***" (db, relay,
 * bounce_mailbox), and a webhook secret (webhook_postmark_auth, webhook_mailgun_key) by
 * "***" as a whole. */
static char *mask(const char *key, const char *v)
{
	if ((strcmp(key, "webhook_postmark_auth") == 0 ||
	     strcmp(key, "webhook_mailgun_key") == 0) &&
	    v[0])
		return strdup("***");
	return bl_url_mask_password(v);
}

int bl_cmd_config(struct bl_cli *cli, int argc, char **argv)
{
	int json = 0, code = bl_cli_simple_opts(argc, argv, usage, &json);
	if (code >= 0)
		return code;
	if (optind != argc - 1 || strcmp(argv[optind], "dump") != 0)
		return bl_cli_usage(usage, 0);
	json_t *arr = json ? json_array() : NULL;
	if (!json && cli->config_path)
		printf("# configuration file: %s\n", cli->config_path);
	for (size_t i = 0; i < bl_config_count(); i++) {
		struct bl_config_entry e;
		bl_config_entry_at(cli->config, i, &e);
		char *v = mask(e.key->name, e.value);
		const char *origin = bl_config_origin_name(e.origin);
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "key", json_string(e.key->name));
			json_object_set_new(o, "value", json_string(v));
			json_object_set_new(o, "origin", json_string(origin));
			json_object_set_new(o, "where", json_string(e.where));
			json_object_set_new(o, "default", json_string(e.key->def));
			json_object_set_new(o, "help", json_string(e.key->help));
			json_array_append_new(arr, o);
		} else {
			char env[128];
			bl_config_env_name(e.key->name, env, sizeof(env));
			if (e.origin == BL_ORIGIN_DEFAULT)
				printf("%s = %s\n    # default (override with %s); %s\n",
				       e.key->name, v, env, e.key->help);
			else
				printf("%s = %s\n    # from %s %s; default %s; %s\n", e.key->name,
				       v, origin, e.where, e.key->def, e.key->help);
		}
		free(v);
	}
	if (json)
		bl_cli_print_json(arr);
	return BL_EXIT_OK;
}
