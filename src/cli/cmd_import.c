/*
 * bulletin import FILE: subscribers from CSV (or a bulletin JSON export),
 * with a progress bar on a terminal and a final count line; the rules are
 * in src/import/import.h.
 */
#include "cli/cli.h"

#include "core/address.h"
#include "import/import.h"
#include "util/time.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: bulletin import FILE [--list SLUG] [--confirmed] [--delimiter C]\n"
    "                            [--from-format FORMAT] [--dry-run] [--quiet] [--json]\n"
    "\n"
    "Import subscribers from FILE (- for standard input): a CSV file with a header\n"
    "row, a plain list of addresses (one per line, optionally \"Name <address>\"),\n"
    "or a bulletin JSON export (a complete restore, lists included).\n"
    "\n"
    "  --list SLUG         subscribe every row to this list (required unless the file\n"
    "                      names lists: bulletin's own exports)\n"
    "  --confirmed         you hold consent for these addresses: new subscriptions are\n"
    "                      confirmed (otherwise unconfirmed on a double opt-in list)\n"
    "  --delimiter C       force the delimiter: ',' ';' 'tab' or any one character\n"
    "                      (default: detected among comma, semicolon and tab)\n"
    "  --from-format F     force the layout when detection is ambiguous: auto, generic,\n"
    "                      plain, bulletin, mailchimp, beehiiv, ghost, listmonk, keila,\n"
    "                      mailpoet\n"
    "  --dry-run           check and count everything, write nothing\n"
    "  --quiet             no progress bar and no per-row messages\n"
    "  --json              print the counts as one JSON document\n"
    "\n"
    "The header is matched case-insensitively: an email column is required (email,\n"
    "e-mail, Email Address, ...), name (or first/last name) is optional, status and\n"
    "consent columns of known exports are mapped, any other column becomes a string\n"
    "attribute. The file must be UTF-8 (a Latin-1 or UTF-16 file is refused with the\n"
    "command that converts it). Addresses already present, in any letter case, are\n"
    "never duplicated; re-running an import changes nothing; unsubscribed, cleaned\n"
    "or bounced rows never become confirmed. Rows are committed in batches\n"
    "(import_batch), so an interrupted import can simply be run again.\n"
    "The last line reads: imported N, updated N, skipped N (invalid N, duplicate N).\n";

#define MAX_SHOWN_ERRORS 100

struct ui {
	const char *path;
	int quiet, tty;
	size_t errors;
	double start;
	int drew;
};

static void on_error(void *arg, size_t line, const char *msg)
{
	struct ui *ui = arg;
	if (ui->quiet)
		return;
	if (ui->errors++ >= MAX_SHOWN_ERRORS)
		return;
	if (ui->drew)
		fputs("\r\033[K", stderr);
	if (line)
		fprintf(stderr, "%s:%zu: %s\n", ui->path, line, msg);
	else
		fprintf(stderr, "%s: %s\n", ui->path, msg);
}

static void on_progress(void *arg, const struct bl_import_stats *st, long long done,
                        long long total)
{
	struct ui *ui = arg;
	if (ui->quiet || !ui->tty)
		return;
	double el = bl_monotonic() - ui->start;
	double rate = el > 0 ? (double)st->rows / el : 0;
	char eta[32] = "";
	if (total > 0 && done > 0 && done < total && el > 0.5) {
		double left = el * (double)(total - done) / (double)done;
		snprintf(eta, sizeof(eta), "  ETA %.0fs", left);
	}
	int pct = total > 0 ? (int)(100.0 * (double)done / (double)total) : 0;
	if (pct > 100)
		pct = 100;
	char bar[31];
	int fill = pct * 30 / 100;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	if (total > 0)
		fprintf(stderr, "\r\033[K%3d%% [%s] %zu rows  %.0f rows/s%s", pct, bar, st->rows,
		        rate, eta);
	else
		fprintf(stderr, "\r\033[K%zu rows  %.0f rows/s", st->rows, rate);
	ui->drew = 1;
}

static int parse_delimiter(const char *s, char *out)
{
	if (strcmp(s, "tab") == 0 || strcmp(s, "\\t") == 0 || strcmp(s, "\t") == 0) {
		*out = '\t';
		return 0;
	}
	if (strcmp(s, "comma") == 0) {
		*out = ',';
		return 0;
	}
	if (strcmp(s, "semicolon") == 0) {
		*out = ';';
		return 0;
	}
	if (strlen(s) != 1 || s[0] == '"' || s[0] == '\n' || s[0] == '\r')
		return -1;
	*out = s[0];
	return 0;
}

int bl_cmd_import(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"list", required_argument, NULL, 'l'},
	                                     {"confirmed", no_argument, NULL, 'c'},
	                                     {"delimiter", required_argument, NULL, 'd'},
	                                     {"from-format", required_argument, NULL, 'f'},
	                                     {"dry-run", no_argument, NULL, 'n'},
	                                     {"quiet", no_argument, NULL, 'q'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	struct bl_import_opts o = {0};
	int c, json = 0, quiet = 0;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o.list_slug = optarg;
			break;
		case 'c':
			o.confirmed = 1;
			break;
		case 'd':
			if (parse_delimiter(optarg, &o.delimiter)) {
				bl_cli_error(
				    "--delimiter must be one character, or tab (got \"%s\")",
				    optarg);
				return BL_EXIT_USAGE;
			}
			break;
		case 'f':
			if (bl_format_parse(optarg, &o.format)) {
				bl_cli_error("unknown --from-format \"%s\" (one of %s)", optarg,
				             bl_format_names());
				return BL_EXIT_USAGE;
			}
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc - 1) {
		bl_cli_error("import needs exactly one FILE (- for standard input)");
		return BL_EXIT_USAGE;
	}
	const char *path = argv[optind];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		bl_cli_error("cannot read %s: %s", path, strerror(errno));
		return BL_EXIT_INPUT;
	}
	struct bl_store *s;
	int code = bl_cli_store(cli, 1, &s);
	if (code) {
		if (f != stdin)
			fclose(f);
		return code;
	}
	struct ui ui = {.path = strcmp(path, "-") == 0 ? "stdin" : path,
	                .quiet = quiet, /* --json: counts on stdout, row errors still on stderr */
	                .tty = isatty(2),
	                .start = bl_monotonic()};
	o.path = ui.path;
	o.address_flags = bl_config_bool(cli->config, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0;
	o.allow_role = bl_config_bool(cli->config, "import_role_addresses");
	o.batch = (size_t)bl_config_int(cli->config, "import_batch");
	o.on_error = on_error;
	o.on_progress = on_progress;
	o.arg = &ui;
	struct bl_import_stats st;
	struct bl_diag d;
	int rc = bl_import_file(s, f, &o, &st, &d);
	if (f != stdin)
		fclose(f);
	if (ui.drew)
		fputs("\r\033[K", stderr);
	ui.drew = 0;
	if (ui.errors > MAX_SHOWN_ERRORS)
		fprintf(stderr, "%s: ... and %zu more invalid rows not shown\n", ui.path,
		        ui.errors - MAX_SHOWN_ERRORS);
	if (rc) {
		bl_cli_error("%s", d.msg);
		if (st.committed)
			bl_cli_error("rows committed before the error stay imported; run the same "
			             "import again to finish it");
		code = bl_cli_exit_code(rc);
		if (rc == -BL_EUSAGE)
			code = BL_EXIT_USAGE;
		return code;
	}
	if (json) {
		json_t *o2 = json_object();
		json_object_set_new(o2, "imported", json_integer((json_int_t)st.imported));
		json_object_set_new(o2, "updated", json_integer((json_int_t)st.updated));
		json_object_set_new(o2, "skipped", json_integer((json_int_t)st.skipped));
		json_object_set_new(o2, "invalid", json_integer((json_int_t)st.invalid));
		json_object_set_new(o2, "duplicate", json_integer((json_int_t)st.duplicate));
		json_object_set_new(o2, "suppressed", json_integer((json_int_t)st.suppressed));
		json_object_set_new(o2, "rows", json_integer((json_int_t)st.rows));
		json_object_set_new(o2, "format", json_string(bl_format_name(st.format)));
		json_object_set_new(o2, "dry_run", json_boolean(o.dry_run));
		bl_cli_print_json(o2);
		return st.invalid ? BL_EXIT_INPUT : BL_EXIT_OK;
	}
	if (!quiet) {
		double el = bl_monotonic() - ui.start;
		fprintf(stderr, "%s: %zu rows in %.1fs (%.0f rows/s), format %s%s\n", ui.path,
		        st.rows, el, el > 0 ? (double)st.rows / el : 0.0, bl_format_name(st.format),
		        st.json ? " (JSON)" : "");
	}
	if (o.dry_run)
		printf("dry run: nothing was written\n");
	printf("imported %zu, updated %zu, skipped %zu (invalid %zu, duplicate %zu", st.imported,
	       st.updated, st.skipped, st.invalid, st.duplicate);
	if (st.suppressed)
		printf(", suppressed %zu", st.suppressed);
	printf(")\n");
	/* The valid rows are in; the exit status still tells a script some were not. */
	return st.invalid ? BL_EXIT_INPUT : BL_EXIT_OK;
}
