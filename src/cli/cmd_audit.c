/*
 * bulletin audit: the audit log, newest first, as admins see it at
 * /admin/audit and GET /api/v1/audit: who (user:NAME, token:NAME, cli,
 * scheduler) did what to which thing, when and from where. Read-only.
 */
#include "cli/cli.h"

#include "store/json.h"
#include "core/json.h"
#include "util/str.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

static const char usage[] =
    "usage: bulletin audit [--limit N] [--json]\n"
    "\n"
    "Print the audit log, newest first: every change made through /admin, the\n"
    "API and the command line (users, tokens, posts, lists...), and logins.\n"
    "  --limit N   the N newest entries (default 50; 0: all)\n"
    "  --json      [{\"id\",\"at\",\"actor\",\"action\",\"target\",\"detail\",\"ip\"}]\n"
    "              (at: RFC 3339), as GET /api/v1/audit's items\n";

struct entries {
	json_t *arr; /* --json */
	size_t n;
};

static int print_entry(void *arg, const struct bl_audit *e)
{
	struct entries *c = arg;
	if (c->arr) {
		json_array_append_new(c->arr, bl_json_audit(e));
	} else {
		if (c->n == 0)
			printf("%-21s %-16s %-22s %-20s %s\n", "AT", "ACTOR", "ACTION", "TARGET",
			       "DETAIL");
		printf("%-21s %-16s %-22s %-20s %s%s%s\n", bl_cli_time(e->at), e->actor, e->action,
		       *e->target ? e->target : "-", e->detail,
		       e->ip && *e->ip ? (*e->detail ? " from " : "from ") : "",
		       e->ip ? e->ip : "");
	}
	c->n++;
	return 0;
}

int bl_cmd_audit(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"limit", required_argument, NULL, 'l'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	long long limit = 50;
	int c, json = 0, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = 1;
		} else if (c == 'l') {
			if (bl_parse_int64(optarg, 0, INT64_MAX, &limit)) {
				bl_cli_error("--limit must be a number >= 0 (got \"%s\")", optarg);
				return BL_EXIT_USAGE;
			}
		} else {
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct entries e = {.arr = json ? json_array() : NULL};
	if (s->ops->audit_each(s, 0, (int64_t)limit, print_entry, &e)) {
		json_decref(e.arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(e.arr);
	else if (e.n == 0)
		printf("the audit log is empty\n");
	return BL_EXIT_OK;
}
