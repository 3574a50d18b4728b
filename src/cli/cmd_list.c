/* bulletin list create|ls|show|rm: the audiences readers subscribe to. */
#include "cli/cli.h"

#include "core/json.h"
#include "util/str.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin list create SLUG --name NAME [--optin double|single] [--private]\n"
    "                            [--description TEXT] [--breaking-digest on|off] [--json]\n"
    "       bulletin list update SLUG [--name NAME] [--description TEXT]\n"
    "                            [--breaking-digest on|off] [--json]\n"
    "       bulletin list ls [--json]\n"
    "       bulletin list show SLUG [--json]\n"
    "       bulletin list rm SLUG\n"
    "\n"
    "A list is an audience readers subscribe to (a topic or a region).\n"
    "  SLUG            1-64 characters: a-z, 0-9, '-' and '_', starting with a\n"
    "                  letter or digit; used in URLs and commands\n"
    "  --name NAME     the name readers see (required for create)\n"
    "  --optin MODE    double (default): new subscribers confirm by email;\n"
    "                  single: subscribed at once\n"
    "  --private       not shown on the public pages\n"
    "  --description   one paragraph shown on the signup page\n"
    "  --breaking-digest on|off\n"
    "                  on (default): a breaking post goes at once to the list's\n"
    "                  daily and weekly subscribers too; off: in their next digest\n"
    "  --json          print JSON: {\"slug\",\"name\",\"optin\",\"visibility\",\n"
    "                  \"description\",\"created_at\",\"breaking_digest\",\n"
    "                  \"counts\":{\"unconfirmed\",\n"
    "                  \"confirmed\",\"unsubscribed\"}}\n"
    "`list rm` deletes the list and its subscriptions; consent history is kept.\n";

static void list_text(const struct bl_list *l, const struct bl_list_counts *n)
{
	printf("slug:         %s\n", l->slug);
	printf("name:         %s\n", l->name);
	printf("optin:        %s\n", bl_optin_name(l->optin));
	printf("visibility:   %s\n", bl_visibility_name(l->visibility));
	if (*l->description)
		printf("description:  %s\n", l->description);
	printf("created:      %s\n", bl_cli_time(l->created_at));
	printf("breaking to digest subscribers: %s\n", l->breaking_digest_off ? "off" : "on");
	printf("confirmed:    %lld\n", (long long)n->confirmed);
	printf("unconfirmed:  %lld\n", (long long)n->unconfirmed);
	printf("unsubscribed: %lld\n", (long long)n->unsubscribed);
}

static int check_slug(const char *slug)
{
	if (bl_slug_valid(slug))
		return BL_EXIT_OK;
	bl_cli_error("invalid list slug \"%s\": use 1-64 characters a-z, 0-9, '-' and '_', "
	             "starting with a letter or digit",
	             slug);
	return BL_EXIT_INPUT;
}

static int get_list(struct bl_store *s, const char *slug, struct bl_list *l)
{
	int rc = s->ops->list_get(s, slug, l);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (rc == 0) {
		bl_cli_error("no list \"%s\" (see `bulletin list ls`)", slug);
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

/* --breaking-digest on|off into *@off (1 for off); 0, or BL_EXIT_USAGE after saying why. */
static int on_off(const char *v, int *off)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) {
		*off = strcmp(v, "off") == 0;
		return 0;
	}
	bl_cli_error("--breaking-digest must be on or off (got \"%s\")", v);
	return BL_EXIT_USAGE;
}

/* list update: change a list's name, description or breaking_digest; the rest stays. */
static int cmd_update(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {"description", required_argument, NULL, 'd'},
	                                     {"breaking-digest", required_argument, NULL, 'b'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	const char *name = NULL, *desc = NULL;
	int c, json = 0, off = -1, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'd':
			desc = optarg;
			break;
		case 'b':
			if (on_off(optarg, &off))
				return BL_EXIT_USAGE;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	const char *operand = bl_cli_operand(argc, argv, "list update", "SLUG");
	if (!operand)
		return BL_EXIT_USAGE;
	if ((name && (code = bl_cli_check_text("--name", name, BL_LIST_NAME_MAX, 1, 0))) ||
	    (desc &&
	     (code = bl_cli_check_text("--description", desc, BL_LIST_DESCRIPTION_MAX, 0, 0))))
		return code;
	if (name && !*name) {
		bl_cli_error("--name must not be empty");
		return BL_EXIT_INPUT;
	}
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct bl_list l;
	if ((code = get_list(s, operand, &l)))
		return code;
	struct bl_list upd = l;
	if (name)
		upd.name = (char *)name;
	if (desc)
		upd.description = (char *)desc;
	if (off >= 0)
		upd.breaking_digest_off = off;
	int rc = s->ops->list_update(s, &upd);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		bl_list_clear(&l);
		return bl_cli_exit_code(rc);
	}
	struct bl_list_counts n = {0};
	s->ops->list_counts(s, l.id, &n);
	if (json)
		bl_cli_print_json(bl_json_list(&upd, &n));
	else
		printf("updated list %s (breaking posts to digest subscribers: %s)\n", upd.slug,
		       upd.breaking_digest_off ? "off" : "on");
	bl_cli_audit(s, "list.update", "list", l.slug,
	             "%s%s%sbreaking posts to digest subscribers %s", name ? "name changed, " : "",
	             desc ? "description changed, " : "", "",
	             upd.breaking_digest_off ? "off" : "on");
	bl_list_clear(&l);
	return BL_EXIT_OK;
}

static int cmd_create(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {"optin", required_argument, NULL, 'o'},
	                                     {"private", no_argument, NULL, 'p'},
	                                     {"description", required_argument, NULL, 'd'},
	                                     {"breaking-digest", required_argument, NULL, 'b'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	struct bl_list l = {.description = ""};
	int c, json = 0;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			l.name = optarg;
			break;
		case 'o':
			if (bl_optin_parse(optarg, &l.optin)) {
				bl_cli_error("--optin must be double or single (got \"%s\")",
				             optarg);
				return BL_EXIT_USAGE;
			}
			break;
		case 'p':
			l.visibility = BL_VISIBILITY_PRIVATE;
			break;
		case 'd':
			l.description = optarg;
			break;
		case 'b':
			if (on_off(optarg, &l.breaking_digest_off))
				return BL_EXIT_USAGE;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	const char *operand = bl_cli_operand(argc, argv, "list create", "SLUG");
	if (!operand)
		return BL_EXIT_USAGE;
	if (!l.name) {
		bl_cli_error("list create needs --name NAME");
		return BL_EXIT_USAGE;
	}
	l.slug = argv[optind]; /* the operand bl_cli_operand() checked */
	int code;
	if ((code = check_slug(l.slug)) ||
	    (code = bl_cli_check_text("--name", l.name, BL_LIST_NAME_MAX, 1, 0)) ||
	    (code =
	         bl_cli_check_text("--description", l.description, BL_LIST_DESCRIPTION_MAX, 0, 0)))
		return code;
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	int rc = s->ops->list_create(s, &l);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	struct bl_list_counts n = {0};
	if (json)
		bl_cli_print_json(bl_json_list(&l, &n));
	else
		printf("created list %s (%s opt-in, %s)\n", l.slug, bl_optin_name(l.optin),
		       bl_visibility_name(l.visibility));
	return BL_EXIT_OK;
}

/* Lists copied out of the walk (callbacks must not call the store). */
struct collected {
	struct bl_list *v;
	size_t n;
};

static int collect(void *arg, const struct bl_list *l)
{
	struct collected *c = arg;
	c->v = bl_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	bl_list_copy(&c->v[c->n++], l);
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
	code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	struct collected lists = {0};
	int rc = s->ops->list_each(s, collect, &lists);
	json_t *arr = json ? json_array() : NULL;
	for (size_t i = 0; i < lists.n && rc == 0; i++) {
		const struct bl_list *l = &lists.v[i];
		struct bl_list_counts n;
		if ((rc = s->ops->list_counts(s, l->id, &n)))
			break;
		if (json) {
			json_array_append_new(arr, bl_json_list(l, &n));
			continue;
		}
		if (i == 0)
			printf("%-20s %-30s %-6s %-7s %10s %11s %12s\n", "SLUG", "NAME", "OPTIN",
			       "VISIB", "CONFIRMED", "UNCONFIRMED", "UNSUBSCRIBED");
		printf("%-20s %-30s %-6s %-7s %10lld %11lld %12lld\n", l->slug, l->name,
		       bl_optin_name(l->optin), bl_visibility_name(l->visibility),
		       (long long)n.confirmed, (long long)n.unconfirmed, (long long)n.unsubscribed);
	}
	for (size_t i = 0; i < lists.n; i++)
		bl_list_clear(&lists.v[i]);
	free(lists.v);
	if (rc) {
		json_decref(arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(arr);
	else if (lists.n == 0)
		printf("no lists yet; create one with `bulletin list create SLUG --name NAME`\n");
	return BL_EXIT_OK;
}

static int cmd_show(struct bl_cli *cli, int argc, char **argv)
{
	int json = 0, code = bl_cli_simple_opts(argc, argv, usage, &json);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "list show", "SLUG");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	struct bl_list l;
	if ((code = get_list(s, operand, &l)))
		return code;
	struct bl_list_counts n;
	int rc = s->ops->list_counts(s, l.id, &n);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		bl_list_clear(&l);
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(bl_json_list(&l, &n));
	else
		list_text(&l, &n);
	bl_list_clear(&l);
	return BL_EXIT_OK;
}

static int cmd_rm(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "list rm", "SLUG");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	struct bl_list l;
	if ((code = get_list(s, operand, &l)))
		return code;
	struct bl_list_counts n = {0};
	s->ops->list_counts(s, l.id, &n);
	int rc = s->ops->list_delete(s, l.slug);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		bl_list_clear(&l);
		return bl_cli_exit_code(rc);
	}
	printf("removed list %s and its %lld subscriptions\n", l.slug,
	       (long long)(n.confirmed + n.unconfirmed + n.unsubscribed));
	bl_list_clear(&l);
	return BL_EXIT_OK;
}

int bl_cmd_list(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {{"create", cmd_create},
	                                            {"ls", cmd_ls},
	                                            {"show", cmd_show},
	                                            {"rm", cmd_rm},
	                                            {"update", cmd_update}};
	return bl_cli_dispatch(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), usage,
	                       "list");
}
