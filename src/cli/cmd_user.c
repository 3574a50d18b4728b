/*
 * bulletin user add|ls|passwd|role|rm: the people who log in to /admin.
 * Passwords are typed twice on a terminal with echo off, or generated
 * (--generate, or when stdin is not a terminal) and printed once as the
 * last word of the output; only their argon2id hash is stored. Every change
 * is written to the audit log with actor "cli".
 */
#include "cli/cli.h"

#include "store/json.h"
#include "core/crypto.h"
#include "util/time.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char usage[] =
    "usage: bulletin user add NAME --role admin|editor|viewer [--generate]\n"
    "       bulletin user ls [--json]\n"
    "       bulletin user passwd NAME [--generate]\n"
    "       bulletin user role NAME admin|editor|viewer\n"
    "       bulletin user rm NAME\n"
    "\n"
    "Users log in to the admin web pages (/admin/login).\n"
    "  NAME          1-64 characters: A-Z, a-z, 0-9, '.', '_', '@' and '-'\n"
    "  --role ROLE   viewer: reads everything; editor: also writes lists,\n"
    "                subscribers and posts; admin: also manages users and API\n"
    "                tokens and reads the audit log\n"
    "  --generate    make a random password (24 characters) and print it once,\n"
    "                as the last word of the output; the default when stdin is\n"
    "                not a terminal (otherwise the password is asked twice)\n"
    "  --json        ls: [{\"name\",\"role\",\"created_at\",\"password_changed_at\",\n"
    "                \"last_login_at\"}] (times RFC 3339, null when never)\n"
    "`user passwd` ends every session of the user; `user rm` too.\n";

/* ---- reading a password from the terminal ---- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty(int sig)
{
	if (tty_changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read one line with echo off into @buf (@size bytes); 0, or -1 after printing why. */
static int read_secret(const char *prompt, char *buf, size_t size)
{
	struct termios quiet;
	struct sigaction sa = {.sa_handler = restore_tty}, old_int, old_term;
	int rc = 0;
	if (tcgetattr(STDIN_FILENO, &saved_tty) != 0) {
		bl_cli_error("cannot read the terminal's settings");
		return -1;
	}
	quiet = saved_tty;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	tty_changed = 1;
	tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	/* The prompt only once echo is off: what is typed after it is never shown. */
	fputs(prompt, stderr);
	fflush(stderr);
	if (!fgets(buf, (int)size, stdin)) {
		bl_cli_error("no password given");
		rc = -1;
	} else {
		size_t n = strcspn(buf, "\n");
		if (buf[n] != '\n' && !feof(stdin)) {
			bl_cli_error("the password is longer than %d bytes", BL_PASSWORD_MAX);
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
			rc = -1;
		}
		buf[n] = 0;
		if (n > 0 && buf[n - 1] == '\r')
			buf[n - 1] = 0;
	}
	tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	tty_changed = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}

/*
 * The new password's hash into @hash: generated (into @generated, and
 * *@made = 1) with @generate or without a terminal, else asked twice.
 * Returns an exit code.
 */
static int new_password(int generate, char hash[BL_PASSWORD_HASH_MAX],
                        char generated[BL_PASSWORD_GEN_LEN], int *made)
{
	char a[BL_PASSWORD_MAX + 2], b[BL_PASSWORD_MAX + 2];
	int code = BL_EXIT_OK, rc;
	*made = 0;
	if (generate || !isatty(STDIN_FILENO)) {
		bl_password_generate(generated);
		*made = 1;
		rc = bl_password_hash(generated, strlen(generated), hash);
	} else {
		if (read_secret("Password: ", a, sizeof(a)) ||
		    read_secret("Password again: ", b, sizeof(b))) {
			code = BL_EXIT_INPUT;
		} else if (strcmp(a, b) != 0) {
			bl_cli_error("the passwords differ; nothing changed");
			code = BL_EXIT_INPUT;
		} else if (strlen(a) < BL_PASSWORD_MIN) {
			bl_cli_error(
			    "the password is %zu characters; use at least %d (or --generate)",
			    strlen(a), BL_PASSWORD_MIN);
			code = BL_EXIT_INPUT;
		}
		rc = code ? 0 : bl_password_hash(a, strlen(a), hash);
		bl_memzero(a, sizeof(a));
		bl_memzero(b, sizeof(b));
	}
	if (rc) {
		bl_cli_error("the password could not be hashed: %s", bl_strerror(rc));
		code = BL_EXIT_INPUT;
	}
	return code;
}

/* ---- commands ---- */

static int get_user(struct bl_store *s, const char *name, struct bl_user *u)
{
	int code = bl_cli_check_name("user", name);
	if (code)
		return code;
	int rc = s->ops->user_get(s, name, 0, u);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (rc == 0) {
		bl_cli_error("no user \"%s\" (see `bulletin user ls`)", name);
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

/* Options of add and passwd: --help, --generate, and --role for add (*@role_set). */
static int parse_opts(int argc, char **argv, int with_role, enum bl_role *role, int *role_set,
                      int *generate)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"role", required_argument, NULL, 'r'},
	                                     {"generate", no_argument, NULL, 'g'},
	                                     {0}};
	int c;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'g') {
			*generate = 1;
		} else if (c == 'r' && with_role) {
			if (bl_role_parse(optarg, role)) {
				bl_cli_error("--role must be admin, editor or viewer (got \"%s\")",
				             optarg);
				return BL_EXIT_USAGE;
			}
			*role_set = 1;
		} else {
			return bl_cli_usage(usage, c == 'h');
		}
	}
	return -1;
}

static int cmd_add(struct bl_cli *cli, int argc, char **argv)
{
	enum bl_role role = BL_ROLE_VIEWER;
	int role_set = 0, generate = 0, made = 0;
	int code = parse_opts(argc, argv, 1, &role, &role_set, &generate);
	if (code >= 0)
		return code;
	const char *name = bl_cli_operand(argc, argv, "user add", "NAME");
	if (!name)
		return BL_EXIT_USAGE;
	if (!role_set) {
		bl_cli_error("user add needs --role admin|editor|viewer");
		return BL_EXIT_USAGE;
	}
	if ((code = bl_cli_check_name("user", name)))
		return code;
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct bl_user u;
	/* Refuse a taken name before asking for a password. */
	int rc = s->ops->user_get(s, name, 0, &u);
	if (rc == 1) {
		bl_user_clear(&u);
		bl_cli_error("a user named \"%s\" already exists", name);
		return BL_EXIT_INPUT;
	}
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	char hash[BL_PASSWORD_HASH_MAX], pw[BL_PASSWORD_GEN_LEN];
	if ((code = new_password(generate, hash, pw, &made)))
		return code;
	u = (struct bl_user){.name = (char *)name, .role = role, .pass_hash = hash};
	if ((rc = s->ops->user_create(s, &u))) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	bl_cli_audit(s, "user.add", "user", name, "{\"role\":\"%s\"}", bl_role_name(role));
	if (made)
		printf("created user %s (%s); password, shown this once:\n%s\n", name,
		       bl_role_name(role), pw);
	else
		printf("created user %s (%s)\n", name, bl_role_name(role));
	bl_memzero(pw, sizeof(pw));
	return BL_EXIT_OK;
}

/* Users copied out of the walk (callbacks must not call the store). */
struct users {
	json_t *arr; /* --json */
	size_t n;
};

static int print_user(void *arg, const struct bl_user *u)
{
	struct users *c = arg;
	if (c->arr) {
		json_array_append_new(c->arr, bl_json_user(u));
	} else {
		if (c->n == 0)
			printf("%-24s %-7s %-21s %s\n", "NAME", "ROLE", "CREATED", "LAST LOGIN");
		printf("%-24s %-7s %-21s ", u->name, bl_role_name(u->role),
		       bl_cli_time(u->created_at));
		printf("%s\n", u->last_login_at ? bl_cli_time(u->last_login_at) : "never");
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
	struct users c = {.arr = json ? json_array() : NULL};
	if (s->ops->user_each(s, print_user, &c)) {
		json_decref(c.arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(c.arr);
	else if (c.n == 0)
		printf("no users yet; add one with `bulletin user add NAME --role admin`\n");
	return BL_EXIT_OK;
}

static int cmd_passwd(struct bl_cli *cli, int argc, char **argv)
{
	int generate = 0, made = 0;
	int code = parse_opts(argc, argv, 0, NULL, NULL, &generate);
	if (code >= 0)
		return code;
	const char *name = bl_cli_operand(argc, argv, "user passwd", "NAME");
	if (!name)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_user u;
	if ((code = bl_cli_check_name("user", name)) || (code = bl_cli_store(cli, 1, &s)) ||
	    (code = get_user(s, name, &u)))
		return code;
	char hash[BL_PASSWORD_HASH_MAX], pw[BL_PASSWORD_GEN_LEN];
	if ((code = new_password(generate, hash, pw, &made))) {
		bl_user_clear(&u);
		return code;
	}
	int rc = s->ops->user_set_password(s, u.id, hash, bl_now());
	bl_user_clear(&u);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	if (rc == 0) {
		bl_cli_error("no user \"%s\" (removed meanwhile)", name);
		return BL_EXIT_INPUT;
	}
	bl_cli_audit(s, "user.passwd", "user", name, "%s", made ? "{\"generated\":true}" : "{}");
	if (made)
		printf("changed the password of %s and ended its sessions; password, shown this "
		       "once:\n%s\n",
		       name, pw);
	else
		printf("changed the password of %s and ended its sessions\n", name);
	bl_memzero(pw, sizeof(pw));
	return BL_EXIT_OK;
}

static int cmd_role(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	if (optind != argc - 2) {
		bl_cli_error("user role needs a NAME and a ROLE");
		return BL_EXIT_USAGE;
	}
	const char *name = argv[optind], *rname = argv[optind + 1];
	enum bl_role role;
	if (bl_role_parse(rname, &role)) {
		bl_cli_error("ROLE must be admin, editor or viewer (got \"%s\")", rname);
		return BL_EXIT_USAGE;
	}
	struct bl_store *s;
	struct bl_user u;
	if ((code = bl_cli_check_name("user", name)) || (code = bl_cli_store(cli, 1, &s)) ||
	    (code = get_user(s, name, &u)))
		return code;
	enum bl_role was = u.role;
	int rc = s->ops->user_set_role(s, u.id, role);
	bl_user_clear(&u);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	if (rc == 0) {
		bl_cli_error("no user \"%s\" (removed meanwhile)", name);
		return BL_EXIT_INPUT;
	}
	bl_cli_audit(s, "user.role", "user", name, "{\"role\":\"%s\",\"was\":\"%s\"}",
	             bl_role_name(role), bl_role_name(was));
	printf("%s is now %s (was %s)\n", name, bl_role_name(role), bl_role_name(was));
	return BL_EXIT_OK;
}

static int cmd_rm(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	const char *name = bl_cli_operand(argc, argv, "user rm", "NAME");
	if (!name)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_user u;
	if ((code = bl_cli_check_name("user", name)) || (code = bl_cli_store(cli, 1, &s)) ||
	    (code = get_user(s, name, &u)))
		return code;
	int rc = s->ops->user_delete(s, u.id);
	bl_user_clear(&u);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	if (rc == 0) {
		bl_cli_error("no user \"%s\" (removed meanwhile)", name);
		return BL_EXIT_INPUT;
	}
	bl_cli_audit(s, "user.rm", "user", name, NULL);
	printf("removed user %s and ended its sessions\n", name);
	return BL_EXIT_OK;
}

int bl_cmd_user(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {{"add", cmd_add},
	                                            {"ls", cmd_ls},
	                                            {"passwd", cmd_passwd},
	                                            {"role", cmd_role},
	                                            {"rm", cmd_rm}};
	return bl_cli_dispatch(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), usage,
	                       "user");
}
