/*
 * bulletin digest run: make the daily and weekly digests that are due
 * (src/send/digest.h), print them, and deliver them the way `post send
 * --wait` does: for cron users who run no `serve` or `send`. Running it
 * twice, or while `serve` makes the same digest, never makes one twice.
 */
#include "cli/cli.h"

#include "send/digest.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin digest run [--now] [--mode daily|weekly] [--no-send] [--json]\n"
    "\n"
    "Make the digests that are due: for each mode (daily, weekly; --mode: only\n"
    "that one), when the last digest ended before the latest boundary\n"
    "(digest_time in timezone, weekly on digest_weekday), one digest from that\n"
    "end to the boundary (days bulletin was not run are gathered, not lost).\n"
    "Each subscriber who takes a list in that mode and has posts of the period\n"
    "they did not get at once gets one message; nobody gets an empty digest.\n"
    "  --now      end the period now instead of at the last boundary\n"
    "  --mode M   daily or weekly only\n"
    "  --no-send  only make the digests; the running `serve` or `send` delivers them\n"
    "  --json     print the periods closed as JSON: [{\"post_id\" (null: nobody\n"
    "             had anything, no digest),\"mode\",\n"
    "             \"period_start\",\"period_end\",\"recipients\"}]\n"
    "Then delivers them as `post send ID --wait` does (or follows the engine that\n"
    "already runs on the database). A second run makes nothing: each (mode,\n"
    "period) has at most one digest. `serve` and `send` make them by themselves.\n";

struct made {
	struct bl_digest_made *v;
	size_t n;
};

static void on_made(void *arg, const struct bl_digest_made *m)
{
	struct made *md = arg;
	md->v = bl_xreallocarray(md->v, md->n + 1, sizeof(*md->v));
	md->v[md->n++] = *m;
}

static int run(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},       {"now", no_argument, NULL, 'n'},
	    {"mode", required_argument, NULL, 'm'}, {"no-send", no_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},       {0}};
	int c, force_now = 0, json = 0, no_send = 0, code;
	enum bl_mode mode = BL_MODE_INSTANT; /* both */
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			force_now = 1;
			break;
		case 'm':
			if (bl_mode_parse(optarg, &mode) || mode == BL_MODE_INSTANT) {
				bl_cli_error("--mode must be daily or weekly (got \"%s\")", optarg);
				return BL_EXIT_USAGE;
			}
			break;
		case 's':
			no_send = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct bl_digest_opts o;
	struct bl_diag d;
	struct made md = {0};
	bl_digest_opts_from_config(cli->config, &o);
	int rc = bl_digest_tick(s, bl_now(), &o, mode, force_now, on_made, &md, &d);
	if (rc) {
		free(md.v);
		bl_cli_error("%s", d.msg);
		return bl_cli_exit_code(rc);
	}
	char a[BL_TIME_STRMAX], b[BL_TIME_STRMAX];
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < md.n; i++)
			json_array_append_new(
			    arr,
			    json_pack("{s:o, s:s, s:s, s:s, s:I}", "post_id",
			              md.v[i].post_id ? json_integer(md.v[i].post_id) : json_null(),
			              "mode", bl_mode_name(md.v[i].mode), "period_start",
			              bl_time_format(md.v[i].period_start, a), "period_end",
			              bl_time_format(md.v[i].period_end, b), "recipients",
			              (json_int_t)md.v[i].total));
		bl_cli_print_json(arr);
	} else if (md.n == 0) {
		printf("no digest due\n");
	}
	for (size_t i = 0; !json && i < md.n; i++) {
		if (md.v[i].post_id)
			printf("%s digest %lld: %s to %s, %lld recipient%s\n",
			       bl_mode_name(md.v[i].mode), (long long)md.v[i].post_id,
			       bl_time_format(md.v[i].period_start, a),
			       bl_time_format(md.v[i].period_end, b), (long long)md.v[i].total,
			       md.v[i].total == 1 ? "" : "s");
		else
			printf("%s: %s to %s: nobody had posts to gather; no digest\n",
			       bl_mode_name(md.v[i].mode), bl_time_format(md.v[i].period_start, a),
			       bl_time_format(md.v[i].period_end, b));
	}
	fflush(stdout);
	code = BL_EXIT_OK;
	for (size_t i = 0; !no_send && code == BL_EXIT_OK && i < md.n; i++)
		if (md.v[i].total > 0)
			code = bl_cli_run_engine(cli, s, 0, md.v[i].post_id);
	free(md.v);
	return code;
}

int bl_cmd_digest(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {{"run", run}};
	return bl_cli_dispatch(cli, argc, argv, subs, 1, usage, "digest");
}
