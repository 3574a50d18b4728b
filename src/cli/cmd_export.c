/*
 * bulletin export: subscribers as CSV or JSON on standard output (or into a
 * file, written to a temporary name and renamed so that no half-written
 * export is ever left behind). What it writes imports back unchanged.
 */
#include "cli/cli.h"

#include "import/export.h"
#include "util/xalloc.h"

#include <errno.h>
#include <sys/stat.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: bulletin export [--list SLUG] [--format csv|json] [--output FILE]\n"
    "\n"
    "Write every subscriber (or one list's) to standard output.\n"
    "  --list SLUG     only this list's subscribers and subscriptions\n"
    "  --format csv    (default) one row per subscription: email, name, attributes\n"
    "                  (JSON), subscriber_status, status_reason, created_at, list,\n"
    "                  status, mode, subscribed_at\n"
    "  --format json   one JSON document with the lists, subscribers, subscriptions\n"
    "                  and consent events: a complete restore with `bulletin import`\n"
    "  --output FILE   write FILE atomically instead of standard output\n"
    "Both formats import back unchanged: `bulletin import FILE` restores them.\n";

int bl_cmd_export(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"list", required_argument, NULL, 'l'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {0}};
	const char *list = NULL, *output = NULL;
	enum bl_export_format format = BL_EXPORT_CSV;
	int c;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			list = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "csv") == 0) {
				format = BL_EXPORT_CSV;
			} else if (strcmp(optarg, "json") == 0) {
				format = BL_EXPORT_JSON;
			} else {
				bl_cli_error("--format must be csv or json (got \"%s\")", optarg);
				return BL_EXIT_USAGE;
			}
			break;
		case 'o':
			output = optarg;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	struct bl_store *s;
	int code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	FILE *out = stdout;
	char *tmp = NULL;
	/* Never write an export over the database itself. */
	const char *db = bl_config_str(cli->config, "db");
	struct stat so;
	if (output && strncmp(db, "sqlite:", 7) == 0 && stat(output, &so) == 0) {
		static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
		for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
			char path[4096];
			struct stat sd;
			snprintf(path, sizeof(path), "%s%s", db + 7, suffix[i]);
			if (stat(path, &sd) == 0 && so.st_dev == sd.st_dev &&
			    so.st_ino == sd.st_ino) {
				bl_cli_error(
				    "%s is one of the database's own files; choose another "
				    "--output file",
				    output);
				return BL_EXIT_USAGE;
			}
		}
	}
	if (output) {
		size_t n = strlen(output) + 16;
		tmp = bl_xmalloc(n);
		snprintf(tmp, n, "%s.tmp%ld", output, (long)getpid());
		out = fopen(tmp, "wb");
		if (!out) {
			bl_cli_error("cannot write %s: %s", tmp, strerror(errno));
			free(tmp);
			return BL_EXIT_INPUT;
		}
	}
	size_t count = 0;
	struct bl_diag d;
	int rc = bl_export(s, list, format, out, &count, &d);
	if (output) {
		if (rc == 0 && (fflush(out) != 0 || fsync(fileno(out)) != 0))
			rc = bl_diag_set(&d, BL_EIO, "writing %s failed: %s", tmp, strerror(errno));
		if (fclose(out) != 0 && rc == 0)
			rc = bl_diag_set(&d, BL_EIO, "writing %s failed: %s", tmp, strerror(errno));
		if (rc == 0 && rename(tmp, output) != 0)
			rc = bl_diag_set(&d, BL_EIO, "cannot rename %s to %s: %s", tmp, output,
			                 strerror(errno));
		if (rc)
			unlink(tmp);
		free(tmp);
	}
	if (rc) {
		bl_cli_error("%s", d.msg);
		return bl_cli_exit_code(rc) == BL_EXIT_STORE ? BL_EXIT_STORE : BL_EXIT_INPUT;
	}
	if (output)
		fprintf(stderr, "exported %zu subscriber%s to %s\n", count, count == 1 ? "" : "s",
		        output);
	return BL_EXIT_OK;
}
