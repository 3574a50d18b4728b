/*
 * Command dispatch and what every command shares: global options (--config,
 * --db, anywhere on the line), configuration loading in precedence order
 * (default < file < BULLETIN_* env < flag), opening the store, exit codes.
 */
#include "cli/cli.h"

#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

#include <getopt.h>
#include <jansson.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const struct bl_command commands[] = {
    {"init", "create or migrate the database and its secret key", bl_cmd_init},
    {"list", "create, show and remove lists", bl_cmd_list},
    {"subscriber", "add, show, find and erase subscribers", bl_cmd_subscriber},
    {"import", "import subscribers from CSV (or a bulletin JSON export)", bl_cmd_import},
    {"export", "write subscribers as CSV or JSON to stdout", bl_cmd_export},
    {"post", "write posts, send them and follow their delivery", bl_cmd_post},
    {"send", "run the delivery engine", bl_cmd_send},
    {"serve", "serve the public web pages and run the delivery engine", bl_cmd_serve},
    {"user", "add, list and remove the people who log in to /admin", bl_cmd_user},
    {"token", "create, list and remove API tokens", bl_cmd_token},
    {"feed", "RSS/Atom feeds whose new items become posts", bl_cmd_feed},
    {"bounce", "read bounce and complaint reports (MTA pipe, maildir, IMAP, POP3)", bl_cmd_bounce},
    {"audit", "show the audit log: who changed what, and when", bl_cmd_audit},
    {"config", "show the configuration in effect", bl_cmd_config},
    {"digest", "make the daily and weekly digests that are due, and send them", bl_cmd_digest},
};

static const char usage_text[] =
    "usage: bulletin [--config FILE] [--db URI] COMMAND [ARGS]\n"
    "\n"
    "bulletin delivers a publisher's posts by email to the subscribers of its lists.\n"
    "\n"
    "commands:\n"
    "%s"
    "\n"
    "global options (accepted anywhere on the line):\n"
    "  --config FILE   configuration file (default ./bulletin.conf when present,\n"
    "                  or $BULLETIN_CONFIG)\n"
    "  --db URI        database: sqlite:PATH (default sqlite:bulletin.db) or\n"
    "                  postgresql://USER@HOST/DB; overrides BULLETIN_DB and the file\n"
    "  -h, --help      this help; `bulletin COMMAND --help` for a command\n"
    "  --version       print the version\n"
    "\n"
    "exit codes: 0 ok, 1 usage error, 2 bad input (invalid address, row, file,\n"
    "unknown list...), 3 storage error (database unreachable, locked, schema).\n";

static void print_usage(FILE *f)
{
	char list[2048] = "";
	size_t off = 0;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "  %-11s %s\n",
		                        commands[i].name, commands[i].summary);
	fprintf(f, usage_text, list);
}

void bl_cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bulletin: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int bl_cli_usage(const char *usage, int ok)
{
	fputs(usage, ok ? stdout : stderr);
	return ok ? BL_EXIT_OK : BL_EXIT_USAGE;
}

void bl_cli_print_json(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
	json_decref(doc);
}

const char *bl_cli_time(long long t)
{
	static char buf[BL_TIME_STRMAX];
	return bl_time_format((int64_t)t, buf);
}

void bl_cli_getopt_reset(void)
{
	optind = 0; /* glibc: 0 re-initialises getopt completely */
	opterr = 1;
}

int bl_cli_simple_opts(int argc, char **argv, const char *usage, int *json)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'j'}, {0}};
	int c;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j' && json)
			*json = 1;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	return -1;
}

const char *bl_cli_operand(int argc, char **argv, const char *command, const char *what)
{
	if (optind == argc - 1)
		return argv[optind];
	bl_cli_error("%s needs exactly one %s", command, what);
	return NULL;
}

int bl_cli_dispatch(struct bl_cli *cli, int argc, char **argv, const struct bl_subcommand *subs,
                    size_t n, const char *usage, const char *group)
{
	if (argc < 2)
		return bl_cli_usage(usage, 0);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return bl_cli_usage(usage, 1);
	for (size_t i = 0; i < n; i++)
		if (strcmp(subs[i].name, argv[1]) == 0)
			return subs[i].run(cli, argc - 1, argv + 1);
	bl_cli_error("unknown %s command \"%s\"; see `bulletin %s --help`", group, argv[1], group);
	return BL_EXIT_USAGE;
}

int bl_cli_check_name(const char *what, const char *name)
{
	if (bl_user_name_valid(name))
		return BL_EXIT_OK;
	bl_cli_error("invalid %s name \"%s\": use 1-%d characters A-Z, a-z, 0-9, '.', '_', '@' "
	             "and '-'",
	             what, name, BL_USER_NAME_MAX);
	return BL_EXIT_INPUT;
}

int bl_cli_check_text(const char *what, const char *v, size_t max, int required, int oneline)
{
	const char *why = bl_text_problem(v, max, oneline);
	if (required && !*v) {
		bl_cli_error("%s must not be empty", what);
		return BL_EXIT_INPUT;
	}
	if (why) {
		bl_cli_error("%s %s: it takes at most %zu bytes of UTF-8 text without control "
		             "characters%s",
		             what, why, max, oneline ? ", on one line" : "");
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

void bl_cli_audit(struct bl_store *s, const char *action, const char *kind, const char *name,
                  const char *fmt, ...)
{
	char target[BL_AUDIT_TEXT_MAX + 1], detail[BL_AUDIT_TEXT_MAX + 1] = "";
	snprintf(target, sizeof(target), "%s:%s", kind, name);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	struct bl_audit a = {.at = bl_now(),
	                     .actor = "cli",
	                     .action = action,
	                     .target = target,
	                     .detail = detail,
	                     .ip = ""};
	if (s->ops->audit_add(s, &a) != 0)
		bl_cli_error("warning: the audit log was not written: %s", bl_store_error(s));
}

int bl_cli_exit_code(int rc)
{
	switch (-rc) {
	case BL_OK:
		return BL_EXIT_OK;
	case BL_EUSAGE:
		return BL_EXIT_USAGE;
	case BL_ESTORE:
	case BL_ESCHEMA:
	case BL_EBUSY:
		return BL_EXIT_STORE;
	default:
		return BL_EXIT_INPUT;
	}
}

int bl_cli_store(struct bl_cli *cli, int need_schema, struct bl_store **out)
{
	if (!cli->store) {
		struct bl_diag d;
		struct bl_store_opts opts = {
		    .busy_timeout_ms = (int)(bl_config_int(cli->config, "db_busy_timeout") * 1000),
		    .must_exist = need_schema, /* only init, which needs no schema, creates */
		};
		int rc = bl_store_open(bl_config_str(cli->config, "db"), &opts, &cli->store, &d);
		if (rc) {
			bl_cli_error("%s", d.msg);
			return rc == -BL_EINVAL ? BL_EXIT_USAGE : BL_EXIT_STORE;
		}
	}
	if (need_schema) {
		int rc = bl_store_check_schema(cli->store);
		if (rc) {
			bl_cli_error("%s", bl_store_error(cli->store));
			return BL_EXIT_STORE;
		}
	}
	*out = cli->store;
	return BL_EXIT_OK;
}

/*
 * Take --config/--db (with a space or '=') out of argv, anywhere before a
 * "--". Returns the new argc, or -1 after printing an error.
 */
static int take_global(int argc, char **argv, const char **config, const char **db)
{
	int out = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		const char **slot = NULL;
		const char *name = NULL;
		if (strncmp(a, "--config", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
			slot = config;
			name = "--config";
		} else if (strncmp(a, "--db", 4) == 0 && (a[4] == '\0' || a[4] == '=')) {
			slot = db;
			name = "--db";
		}
		if (!slot) {
			argv[out++] = argv[i];
			continue;
		}
		const char *eq = strchr(a, '=');
		if (eq) {
			*slot = eq + 1;
		} else if (i + 1 < argc) {
			*slot = argv[++i];
		} else {
			bl_cli_error("%s needs a value", name);
			return -1;
		}
	}
	argv[out] = NULL;
	return out;
}

static int main_run(int argc, char **argv);

/* `bulletin bounce` reading one message from an MTA pipe (not --maildir, --mailbox, ls or
 * --help): its failures must be temporary for the MTA (sysexits EX_TEMPFAIL, 75), or the
 * MTA would drop a report over a configuration mistake. */
static int bounce_pipe(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "bounce") != 0)
		return 0;
	for (int i = 2; i < argc; i++)
		if (strncmp(argv[i], "--maildir", 9) == 0 ||
		    strncmp(argv[i], "--mailbox", 9) == 0 || strcmp(argv[i], "ls") == 0 ||
		    strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 0;
	return 1;
}

int bl_cli_main(int argc, char **argv)
{
	int pipe = bounce_pipe(argc, argv), code = main_run(argc, argv);
	/* 65 (EX_DATAERR: not a message) is the pipe's one permanent answer. */
	return pipe && code != BL_EXIT_OK && code != 65 ? 75 : code;
}

static int main_run(int argc, char **argv)
{
	const char *config_path = NULL, *db = NULL;
	argc = take_global(argc, argv, &config_path, &db);
	if (argc < 0)
		return BL_EXIT_USAGE;
	if (argc < 2) {
		print_usage(stderr);
		return BL_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		print_usage(stdout);
		return BL_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("bulletin %s\n", BL_VERSION);
		return BL_EXIT_OK;
	}
	const struct bl_command *c = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			c = &commands[i];
	if (!c) {
		bl_cli_error("unknown command \"%s\"; see `bulletin --help`", cmd);
		return BL_EXIT_USAGE;
	}

	/* People read these messages: file:line only with log_level = debug. */
	bl_log_set_source_locations(0);
	struct bl_cli cli = {.config = bl_config_create()};
	struct bl_diag d;
	int code = BL_EXIT_OK;
	if (!config_path) {
		const char *env = getenv("BULLETIN_CONFIG");
		if (env && *env)
			config_path = env;
		else if (access("bulletin.conf", F_OK) == 0)
			config_path = "bulletin.conf";
	}
	if (config_path && bl_config_load_file(cli.config, config_path, &d)) {
		bl_cli_error("%s", d.msg);
		code = BL_EXIT_INPUT;
		goto out;
	}
	cli.config_path = config_path;
	if (bl_config_load_env(cli.config, environ, &d)) {
		bl_cli_error("%s", d.msg);
		code = BL_EXIT_INPUT;
		goto out;
	}
	if (db && bl_config_set(cli.config, "db", db, BL_ORIGIN_FLAG, "--db", &d)) {
		bl_cli_error("%s", d.msg);
		code = BL_EXIT_USAGE;
		goto out;
	}
	static const struct {
		const char *name;
		enum bl_log_level level;
	} levels[] = {{"debug", BL_LOG_DEBUG},
	              {"info", BL_LOG_INFO},
	              {"warn", BL_LOG_WARN},
	              {"error", BL_LOG_ERROR}};
	for (size_t i = 0; i < 4; i++)
		if (strcmp(bl_config_str(cli.config, "log_level"), levels[i].name) == 0)
			bl_log_set_level(levels[i].level);
	bl_log_set_source_locations(strcmp(bl_config_str(cli.config, "log_level"), "debug") == 0);
	/* The local time zone of digest periods (config `timezone`, validated when loaded):
	 * process-wide, so set here, before any command starts a thread (util/time.h). */
	bl_timezone_set(bl_config_str(cli.config, "timezone"));

	code = c->run(&cli, argc - 1, argv + 1);
out:
	bl_store_close(cli.store);
	bl_config_destroy(cli.config);
	return code;
}
