/*
 * The command line: a table of commands (cli.c), one file per command
 * group (cmd_*.c). Each command gets the parsed configuration and opens the
 * store on demand. Exit codes are the same everywhere and documented in
 * `bulletin --help`: 0 ok, 1 usage, 2 bad input, 3 storage error.
 */
#ifndef BL_CLI_CLI_H
#define BL_CLI_CLI_H

#include <signal.h>
#include <stdio.h>

#include "config/config.h"
#include "store/store.h"

enum bl_exit { BL_EXIT_OK = 0, BL_EXIT_USAGE = 1, BL_EXIT_INPUT = 2, BL_EXIT_STORE = 3 };

struct bl_cli {
	struct bl_config *config;
	struct bl_store *store;  /* NULL until bl_cli_store() */
	const char *config_path; /* file loaded, or NULL */
};

struct bl_command {
	const char *name;
	const char *summary;
	int (*run)(struct bl_cli *cli, int argc, char **argv); /* returns an exit code */
};

/* bl_cli_main - run the command line; returns the process exit code. */
int bl_cli_main(int argc, char **argv);

/*
 * bl_cli_store - open the configured database (once) into *@out. With
 * @need_schema, refuse a database that is not at BL_SCHEMA_VERSION.
 * Returns BL_EXIT_OK, or an exit code after printing the error.
 */
int bl_cli_store(struct bl_cli *cli, int need_schema, struct bl_store **out);

/* bl_cli_exit_code - the exit code for a -BL_E* result (0 gives 0). */
int bl_cli_exit_code(int rc);

/* bl_cli_error - print "bulletin: MESSAGE" to stderr. */
void bl_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * bl_cli_usage - print @usage to stdout (when @ok) or stderr; returns
 * BL_EXIT_OK or BL_EXIT_USAGE accordingly.
 */
int bl_cli_usage(const char *usage, int ok);

/* bl_cli_print_json - print @doc (consumed: decref'd) on stdout, indented, with a newline;
 * reals with 15 significant digits (0.1, not 0.10000000000000001). */
struct json_t;
void bl_cli_print_json(struct json_t *doc);

/* bl_cli_time - RFC 3339 text of @t in a static buffer (valid until the next call). */
const char *bl_cli_time(long long t);

/*
 * bl_cli_getopt_reset - prepare getopt_long for a new argument vector.
 */
void bl_cli_getopt_reset(void);

/*
 * bl_cli_simple_opts - parse a command that takes only --help and, when
 * @json is not NULL, --json (setting *@json). Returns -1 to go on (optind
 * then indexes the first operand), else the exit code to return at once.
 */
int bl_cli_simple_opts(int argc, char **argv, const char *usage, int *json);

/*
 * bl_cli_operand - the single operand left after option parsing
 * (argv[optind]), or NULL after printing "COMMAND needs exactly one WHAT".
 */
const char *bl_cli_operand(int argc, char **argv, const char *command, const char *what);

struct bl_subcommand {
	const char *name;
	int (*run)(struct bl_cli *cli, int argc, char **argv);
};

/*
 * bl_cli_dispatch - run the subcommand of group @group ("list") named by
 * argv[1] from the @n entries of @subs, or print @usage. Returns its exit code.
 */
int bl_cli_dispatch(struct bl_cli *cli, int argc, char **argv, const struct bl_subcommand *subs,
                    size_t n, const char *usage, const char *group);

/*
 * bl_cli_check_name - BL_EXIT_OK when @name is a valid user or API token name
 * (bl_user_name_valid); else BL_EXIT_INPUT after printing why. @what: "user",
 * "API token".
 */
int bl_cli_check_name(const char *what, const char *name);

/*
 * bl_cli_check_text - BL_EXIT_OK when @v is text a person may store
 * (bl_text_problem: at most @max bytes of UTF-8 without control characters;
 * with @oneline, header-bound: no C1 or U+2028/U+2029 either) and, with
 * @required, not empty; else BL_EXIT_INPUT after printing why, naming the
 * option @what ("--subject").
 */
int bl_cli_check_text(const char *what, const char *v, size_t max, int required, int oneline);

/*
 * bl_cli_audit - append an audit entry by actor "cli": @action ("user.add"),
 * target "@kind:@name" ("user:alice"), detail printf(@fmt, ...) (NULL: "").
 * A store failure is printed as a warning, not returned: the action it
 * records has happened.
 */
void bl_cli_audit(struct bl_store *s, const char *action, const char *kind, const char *name,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Command entry points (cmd_*.c). */
int bl_cmd_init(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_config(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_digest(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_list(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_subscriber(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_import(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_export(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_post(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_send(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_serve(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_user(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_token(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_audit(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_feed(struct bl_cli *cli, int argc, char **argv);
int bl_cmd_bounce(struct bl_cli *cli, int argc, char **argv);

struct bl_mailbox_stats;
struct bl_bounce_result;
/*
 * bl_cli_bounce_poll - poll the bounce mailbox once (cmd_bounce.c): @url, or config
 * bounce_mailbox when NULL or ""; @move_to, or config bounce_mailbox_move when NULL; the
 * password from bounce_mailbox_password_file when set. Each message goes to
 * bl_bounce_process on @s (source "imap" or "pop3"); handled ones are removed. A set
 * *@stop ends the poll after the message in hand (0 returned). @st and @res (may be NULL)
 * get the counts. Returns 0; -BL_EUSAGE without a mailbox; the mailbox's error
 * (bl_mailbox_poll, -BL_EINVAL / -BL_EIO); a store error (the message in hand is kept);
 * @d says which, never with the password.
 */
int bl_cli_bounce_poll(struct bl_cli *cli, struct bl_store *s, const char *url, const char *move_to,
                       volatile sig_atomic_t *stop, struct bl_mailbox_stats *st,
                       struct bl_bounce_result *res, struct bl_diag *d);

/*
 * bl_cli_bounce_check - whether the configured bounce mailbox (bounce_mailbox,
 * bounce_mailbox_move, bounce_mailbox_password_file) can be polled, checked without
 * connecting (bl_mailbox_check): `serve` refuses to start on a mailbox setting that could
 * never work. Returns 0; -BL_EUSAGE without a mailbox; -BL_EIO for an unreadable
 * password file; -BL_EINVAL for a bad URL or POP3 with a folder to move to. @d says
 * which, never with the password.
 */
int bl_cli_bounce_check(struct bl_cli *cli, struct bl_diag *d);

struct bl_engine_opts;
struct bl_bounce_ctx;
/* What the engine's rejected callback needs (cmd_bounce.c): the bounce context and its key. */
struct bl_cli_reject_hook {
	struct bl_bounce_ctx *ctx; /* malloc'd by bl_cli_reject_hook_init */
};
/*
 * bl_cli_reject_hook_init - make @h send the engine's synchronous 5xx rejections (@o's
 * rejected callback) through the bounce policy on store @s (the engine's own handle: the
 * callback runs on the engine's thread between its turns), and set @o's account_refusal
 * (a refusal of our sending account pauses the post instead). Returns 0; -BL_ESCHEMA /
 * -BL_EINVAL (no secret key, a bad bounce_* setting; @d says which) with @o untouched.
 * Free with bl_cli_reject_hook_finish.
 */
int bl_cli_reject_hook_init(struct bl_cli *cli, struct bl_store *s, struct bl_cli_reject_hook *h,
                            struct bl_engine_opts *o, struct bl_diag *d);
/* bl_cli_reject_hook_finish - free what @h holds; NULL-safe, idempotent. */
void bl_cli_reject_hook_finish(struct bl_cli_reject_hook *h);

/*
 * bl_cli_run_engine - run the delivery engine on @s with SIGINT/SIGTERM
 * stopping it cleanly, a progress line on a terminal and a summary on
 * stderr. @once, @wait_post as in struct bl_engine_opts. Returns an exit code.
 */
int bl_cli_run_engine(struct bl_cli *cli, struct bl_store *s, int once, long long wait_post);

#endif
