/*
 * bulletin token create|ls|rm: API tokens for scripts, sent as
 * "Authorization: Bearer TOKEN" (RFC 6750) to /api/v1/. A token is printed
 * once, as the last word of `token create`'s output; the store keeps only
 * its SHA-256, so it cannot be shown again. Every change is written to the
 * audit log with actor "cli".
 */
#include "cli/cli.h"

#include "store/json.h"
#include "core/crypto.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin token create NAME --role admin|editor|viewer\n"
    "       bulletin token ls [--json]\n"
    "       bulletin token rm NAME\n"
    "\n"
    "An API token lets a script use the JSON API (/api/v1/) with a role's rights,\n"
    "sent as the header \"Authorization: Bearer TOKEN\".\n"
    "  NAME          1-64 characters: A-Z, a-z, 0-9, '.', '_', '@' and '-'\n"
    "  --role ROLE   viewer: reads; editor: also writes lists, subscribers and\n"
    "                posts; admin: also manages users and tokens\n"
    "  --json        ls: [{\"name\",\"role\",\"created_at\",\"last_used_at\"}]\n"
    "                (times RFC 3339, null when never)\n"
    "`token create` prints the token once, as the last word of its output: only\n"
    "its hash is kept. `token rm` revokes it at once.\n";

static int cmd_create(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'}, {"role", required_argument, NULL, 'r'}, {0}};
	enum bl_role role = BL_ROLE_VIEWER;
	int c, role_set = 0, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c != 'r')
			return bl_cli_usage(usage, c == 'h');
		if (bl_role_parse(optarg, &role)) {
			bl_cli_error("--role must be admin, editor or viewer (got \"%s\")", optarg);
			return BL_EXIT_USAGE;
		}
		role_set = 1;
	}
	const char *name = bl_cli_operand(argc, argv, "token create", "NAME");
	if (!name)
		return BL_EXIT_USAGE;
	if (!role_set) {
		bl_cli_error("token create needs --role admin|editor|viewer");
		return BL_EXIT_USAGE;
	}
	struct bl_store *s;
	if ((code = bl_cli_check_name("API token", name)) || (code = bl_cli_store(cli, 1, &s)))
		return code;
	char tok[BL_API_TOKEN_LEN], hash[BL_HASH_HEX];
	bl_api_token_generate(tok);
	bl_sha256_hex(tok, strlen(tok), hash);
	struct bl_api_token t = {.name = (char *)name, .role = role};
	int rc = s->ops->token_create(s, &t, hash);
	if (rc) {
		bl_memzero(tok, sizeof(tok));
		if (rc == -BL_EEXIST)
			bl_cli_error("an API token named \"%s\" already exists", name);
		else
			bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	bl_cli_audit(s, "token.create", "token", name, "{\"role\":\"%s\"}", bl_role_name(role));
	printf("created API token %s (%s); send it as \"Authorization: Bearer TOKEN\"; "
	       "the token, shown this once:\n%s\n",
	       name, bl_role_name(role), tok);
	bl_memzero(tok, sizeof(tok));
	return BL_EXIT_OK;
}

struct tokens {
	json_t *arr; /* --json */
	size_t n;
};

static int print_token(void *arg, const struct bl_api_token *t)
{
	struct tokens *c = arg;
	if (c->arr) {
		json_array_append_new(c->arr, bl_json_api_token(t));
	} else {
		if (c->n == 0)
			printf("%-24s %-7s %-21s %s\n", "NAME", "ROLE", "CREATED", "LAST USED");
		printf("%-24s %-7s %-21s ", t->name, bl_role_name(t->role),
		       bl_cli_time(t->created_at));
		printf("%s\n", t->last_used_at ? bl_cli_time(t->last_used_at) : "never");
	}
	c->n++;
	return 0;
}

static int cmd_ls(struct bl_cli *cli, int argc, char **argv)
{
	int json = 0, code = bl_cli_simple_opts(argc, argv, usage, &json);
	if (code >= 0)
		return code;
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct tokens c = {.arr = json ? json_array() : NULL};
	if (s->ops->token_each(s, print_token, &c)) {
		json_decref(c.arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(c.arr);
	else if (c.n == 0)
		printf("no API tokens yet; make one with `bulletin token create NAME --role "
		       "editor`\n");
	return BL_EXIT_OK;
}

static int cmd_rm(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	const char *name = bl_cli_operand(argc, argv, "token rm", "NAME");
	if (!name)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	if ((code = bl_cli_check_name("API token", name)) || (code = bl_cli_store(cli, 1, &s)))
		return code;
	int rc = s->ops->token_delete(s, name);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	if (rc == 0) {
		bl_cli_error("no API token \"%s\" (see `bulletin token ls`)", name);
		return BL_EXIT_INPUT;
	}
	bl_cli_audit(s, "token.rm", "token", name, NULL);
	printf("removed API token %s; it no longer works\n", name);
	return BL_EXIT_OK;
}

int bl_cmd_token(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {
	    {"create", cmd_create}, {"ls", cmd_ls}, {"rm", cmd_rm}};
	return bl_cli_dispatch(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), usage,
	                       "token");
}
