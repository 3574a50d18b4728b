/*
 * bulletin subscriber add|show|ls|rm. `add` follows the import's rules
 * (import.h): it never duplicates an address, never re-subscribes an
 * unsubscribed one, never downgrades a confirmed one. `rm` is erasure.
 */
#include "cli/cli.h"

#include "core/address.h"
#include "core/crypto.h"
#include "core/json.h"
#include "import/import.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin subscriber add EMAIL [--name NAME] [--list SLUG]... [--confirmed]\n"
    "       bulletin subscriber show EMAIL [--json]\n"
    "       bulletin subscriber ls [--list SLUG] [--status STATUS] [--limit N]\n"
    "                              [--after ID] [--json]\n"
    "       bulletin subscriber rm EMAIL\n"
    "       bulletin subscriber set EMAIL --list SLUG --mode instant|daily|weekly\n"
    "\n"
    "add       add an address (and subscribe it to each --list). Without --confirmed\n"
    "          the subscription is unconfirmed on a double opt-in list. An address\n"
    "          that exists already is updated, never duplicated; an unsubscribed\n"
    "          subscription stays unsubscribed.\n"
    "show      the subscriber, its subscriptions (status, delivery mode) and its\n"
    "          consent events\n"
    "ls        subscribers by id. --status: with --list, unconfirmed, confirmed or\n"
    "          unsubscribed; always active or blocklisted. --after ID pages.\n"
    "rm        erase: delete the subscriber and its subscriptions, strip personal\n"
    "          data from its consent events, keep only a hash of the address so an\n"
    "          import cannot bring it back without new consent\n"
    "set       the delivery mode of a confirmed subscription: each post at once\n"
    "          (instant), or a daily or weekly digest; records a `preference`\n"
    "          consent event (source cli), as the preference centre does\n";

struct add_errors {
	char msg[BL_DIAG_MAX];
};

static void on_add_error(void *arg, size_t line, const char *msg)
{
	struct add_errors *e = arg;
	(void)line;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
}

static int print_subscription(void *arg, const struct bl_subscription *x)
{
	(void)arg;
	printf("  %-20s %-12s %s\n", x->list_slug, bl_sub_status_name(x->status),
	       bl_mode_name(x->mode));
	return 0;
}

static int cmd_add(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {"list", required_argument, NULL, 'l'},
	                                     {"confirmed", no_argument, NULL, 'c'},
	                                     {0}};
	const char *name = "";
	const char **lists = bl_xcalloc((size_t)argc + 1, sizeof(*lists));
	size_t nlists = 0;
	int c, confirmed = 0, code = BL_EXIT_OK;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'l':
			lists[nlists++] = optarg;
			break;
		case 'c':
			confirmed = 1;
			break;
		default:
			free(lists);
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc - 1) {
		free(lists);
		bl_cli_error("subscriber add needs exactly one EMAIL");
		return BL_EXIT_USAGE;
	}
	const char *email = argv[optind];
	int control = 0;
	for (const char *p = name; *p; p++)
		control |= (unsigned char)*p < 0x20 || *p == 0x7f;
	if (strlen(name) > BL_NAME_MAX || !bl_utf8_valid(name, strlen(name), NULL) || control) {
		free(lists);
		bl_cli_error("--name must be UTF-8 text of at most %d bytes without control "
		             "characters",
		             BL_NAME_MAX);
		return BL_EXIT_INPUT;
	}
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s))) {
		free(lists);
		return code;
	}
	/* Every list must exist before anything is written. */
	for (size_t i = 0; i < nlists; i++) {
		struct bl_list l;
		int rc = s->ops->list_get(s, lists[i], &l);
		if (rc <= 0) {
			if (rc < 0)
				bl_cli_error("%s", bl_store_error(s));
			else
				bl_cli_error(
				    "no list \"%s\" (see `bulletin list ls`); nothing was added",
				    lists[i]);
			free(lists);
			return rc < 0 ? BL_EXIT_STORE : BL_EXIT_INPUT;
		}
		bl_list_clear(&l);
	}
	/* An erased address needs new consent: refuse with the reason. */
	struct bl_address a;
	struct bl_diag d;
	unsigned flags = bl_config_bool(cli->config, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0;
	if (bl_address_parse(email, strlen(email), flags, &a, NULL, &d)) {
		free(lists);
		bl_cli_error("invalid address \"%s\": %s", email, d.msg);
		return BL_EXIT_INPUT;
	}
	char hash[BL_HASH_HEX];
	bl_suppression_hash(a.key, hash);
	int64_t since = 0;
	struct bl_subscriber existing;
	int found = s->ops->subscriber_get(s, a.key, &existing);
	if (found > 0)
		bl_subscriber_clear(&existing);
	int sup = found == 0 ? s->ops->suppression_get(s, hash, &since) : 0;
	if (found < 0 || sup < 0) {
		free(lists);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (sup) {
		free(lists);
		bl_cli_error("%s was erased at its owner's request on %s; it can only come back "
		             "through a new signup with confirmation",
		             a.display, bl_cli_time(since));
		return BL_EXIT_INPUT;
	}
	size_t rounds = nlists ? nlists : 1;
	for (size_t i = 0; i < rounds && code == BL_EXIT_OK; i++) {
		struct bl_import_row row = {
		    .line = 0,
		    .email = bl_xstrdup(email),
		    .name = bl_trim_dup(name),
		    .attributes = json_object(),
		};
		struct add_errors errs = {{0}};
		struct bl_import_opts o = {
		    .path = "cli",
		    .source = "cli",
		    .manual = 1,
		    .list_slug = nlists ? lists[i] : NULL,
		    .confirmed = confirmed,
		    .address_flags = flags,
		    .allow_role = 1,
		    .batch = 1,
		    .on_error = on_add_error,
		    .arg = &errs,
		};
		struct bl_import_stats st;
		int rc = bl_import_one(s, &row, &o, &st, &d);
		if (rc) {
			bl_cli_error("%s", d.msg);
			code = bl_cli_exit_code(rc);
		} else if (st.invalid) {
			bl_cli_error("%s", errs.msg);
			code = BL_EXIT_INPUT;
		} else if (nlists) {
			printf("%s %s: %s\n", a.display,
			       st.imported  ? "subscribed to"
			       : st.updated ? "updated on"
			                    : "already on",
			       lists[i]);
		} else {
			printf("%s %s\n", a.display,
			       st.imported  ? "added"
			       : st.updated ? "updated"
			                    : "already present");
		}
	}
	if (code == BL_EXIT_OK && nlists) {
		/* Say where each subscription stands now. */
		struct bl_subscriber sub;
		if (s->ops->subscriber_get(s, a.key, &sub) > 0) {
			s->ops->subscription_each(s, sub.id, print_subscription, NULL);
			bl_subscriber_clear(&sub);
		}
	}
	free(lists);
	return code;
}

/* Everything about one subscriber, as JSON. */
struct show_acc {
	json_t *subs, *events;
};

static int on_subscription(void *arg, const struct bl_subscription *x)
{
	struct show_acc *acc = arg;
	json_array_append_new(acc->subs, bl_json_subscription(x));
	return 0;
}

static int on_consent(void *arg, const struct bl_consent *e)
{
	struct show_acc *acc = arg;
	json_array_append_new(acc->events, bl_json_consent(e));
	return 0;
}

/* Find a subscriber by an address typed in any case or form. 0 found, else an exit code. */
static int find_subscriber(struct bl_cli *cli, struct bl_store *s, const char *email,
                           struct bl_subscriber *out)
{
	struct bl_address a;
	struct bl_diag d;
	if (bl_address_parse(email, strlen(email), BL_ADDRESS_SMTPUTF8, &a, NULL, &d)) {
		bl_cli_error("invalid address \"%s\": %s", email, d.msg);
		return BL_EXIT_INPUT;
	}
	(void)cli;
	int rc = s->ops->subscriber_get(s, a.key, out);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (rc == 0) {
		bl_cli_error("no subscriber %s", a.display);
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

static int cmd_show(struct bl_cli *cli, int argc, char **argv)
{
	int json = 0, code = bl_cli_simple_opts(argc, argv, usage, &json);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "subscriber show", "EMAIL");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	struct bl_subscriber sub;
	if ((code = find_subscriber(cli, s, operand, &sub)))
		return code;
	struct show_acc acc = {json_array(), json_array()};
	int rc = s->ops->subscription_each(s, sub.id, on_subscription, &acc);
	if (rc == 0)
		rc = s->ops->consent_each(s, sub.id, on_consent, &acc);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		json_decref(acc.subs);
		json_decref(acc.events);
		bl_subscriber_clear(&sub);
		return BL_EXIT_STORE;
	}
	json_t *o = bl_json_subscriber(&sub);
	json_object_set_new(o, "subscriptions", acc.subs);
	json_object_set_new(o, "consent", acc.events);
	bl_subscriber_clear(&sub);
	if (json) {
		bl_cli_print_json(o);
		return BL_EXIT_OK;
	}
	printf("email:      %s\n", json_string_value(json_object_get(o, "display")));
	if (strcmp(json_string_value(json_object_get(o, "display")),
	           json_string_value(json_object_get(o, "email"))) != 0)
		printf("delivered:  %s\n", json_string_value(json_object_get(o, "email")));
	printf("name:       %s\n", json_string_value(json_object_get(o, "name")));
	printf("status:     %s", json_string_value(json_object_get(o, "status")));
	const char *why = json_string_value(json_object_get(o, "status_reason"));
	printf(*why ? " (%s)\n" : "\n", why);
	printf("created:    %s\n", json_string_value(json_object_get(o, "created_at")));
	json_t *attrs = json_object_get(o, "attributes");
	if (json_object_size(attrs)) {
		char *t = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
		printf("attributes: %s\n", t);
		free(t);
	}
	size_t i;
	json_t *v;
	printf("subscriptions:\n");
	if (!json_array_size(acc.subs))
		printf("  (none)\n");
	json_array_foreach(acc.subs, i, v)
	{
		printf("  %-20s %-12s %-8s since %s\n",
		       json_string_value(json_object_get(v, "list")),
		       json_string_value(json_object_get(v, "status")),
		       json_string_value(json_object_get(v, "mode")),
		       json_string_value(json_object_get(v, "created_at")));
	}
	printf("consent events:\n");
	json_array_foreach(acc.events, i, v)
	{
		json_t *l = json_object_get(v, "list");
		const char *ip = json_string_value(json_object_get(v, "ip"));
		printf("  %s %-11s %-20s %s%s%s\n", json_string_value(json_object_get(v, "at")),
		       json_string_value(json_object_get(v, "kind")),
		       json_is_string(l) ? json_string_value(l) : "-",
		       json_string_value(json_object_get(v, "source")), *ip ? " ip " : "", ip);
	}
	json_decref(o);
	return BL_EXIT_OK;
}

struct ls_state {
	int json;
	size_t count;
};

static int on_subscriber(void *arg, const struct bl_subscriber *sub)
{
	struct ls_state *st = arg;
	if (st->json) {
		json_t *o = bl_json_subscriber(sub);
		char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s%s", st->count ? ",\n  " : "\n  ", t);
		free(t);
		json_decref(o);
	} else {
		struct bl_address a;
		int ok = bl_address_parse(sub->email, strlen(sub->email), BL_ADDRESS_SMTPUTF8, &a,
		                          NULL, NULL) == 0;
		printf("%lld\t%s\t%s\t%s\n", (long long)sub->id, ok ? a.display : sub->email,
		       bl_subscriber_status_name(sub->status), sub->name);
	}
	st->count++;
	return ferror(stdout) ? -BL_EIO : 0;
}

static int cmd_ls(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"list", required_argument, NULL, 'l'},
	                                     {"status", required_argument, NULL, 's'},
	                                     {"limit", required_argument, NULL, 'n'},
	                                     {"after", required_argument, NULL, 'a'},
	                                     {0}};
	struct bl_subscriber_filter f = {.sub_status = -1, .status = -1};
	const char *list = NULL, *status = NULL;
	int c, json = 0;
	long long v;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'l':
			list = optarg;
			break;
		case 's':
			status = optarg;
			break;
		case 'n':
		case 'a':
			if (bl_parse_int64(optarg, 0, INT64_MAX, &v)) {
				bl_cli_error("--%s needs a whole number",
				             c == 'n' ? "limit" : "after");
				return BL_EXIT_USAGE;
			}
			if (c == 'n')
				f.limit = v;
			else
				f.after_id = v;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	if (status) {
		enum bl_sub_status ss;
		enum bl_subscriber_status s;
		if (bl_subscriber_status_parse(status, &s) == 0) {
			f.status = (int)s;
		} else if (bl_sub_status_parse(status, &ss) == 0) {
			if (!list) {
				bl_cli_error(
				    "--status %s is a subscription status: give --list too",
				    status);
				return BL_EXIT_USAGE;
			}
			f.sub_status = (int)ss;
		} else {
			bl_cli_error("unknown --status \"%s\" (active, blocklisted; with --list "
			             "also unconfirmed, confirmed, unsubscribed)",
			             status);
			return BL_EXIT_USAGE;
		}
	}
	struct bl_store *s;
	int code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	if (list) {
		struct bl_list l;
		int rc = s->ops->list_get(s, list, &l);
		if (rc <= 0) {
			if (rc < 0)
				bl_cli_error("%s", bl_store_error(s));
			else
				bl_cli_error("no list \"%s\" (see `bulletin list ls`)", list);
			return rc < 0 ? BL_EXIT_STORE : BL_EXIT_INPUT;
		}
		f.list_id = l.id;
		bl_list_clear(&l);
	}
	struct ls_state st = {.json = json};
	if (json)
		printf("[");
	int rc = s->ops->subscriber_each(s, &f, on_subscriber, &st);
	if (json)
		printf("%s]\n", st.count ? "\n" : "");
	if (rc == -BL_EIO) {
		bl_cli_error("writing the output failed");
		return BL_EXIT_INPUT;
	}
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	return BL_EXIT_OK;
}

static int count_events(void *arg, const struct bl_consent *e)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

static int count_subs(void *arg, const struct bl_subscription *x)
{
	(void)x;
	(*(size_t *)arg)++;
	return 0;
}

static int cmd_rm(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "subscriber rm", "EMAIL");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	struct bl_subscriber sub;
	if ((code = find_subscriber(cli, s, operand, &sub)))
		return code;
	size_t nsubs = 0, nevents = 0;
	s->ops->subscription_each(s, sub.id, count_subs, &nsubs);
	s->ops->consent_each(s, sub.id, count_events, &nevents);
	char hash[BL_HASH_HEX];
	bl_suppression_hash(sub.email_key, hash);
	int rc = s->ops->subscriber_erase(s, sub.id, hash, "cli", bl_now());
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		bl_subscriber_clear(&sub);
		return bl_cli_exit_code(rc);
	}
	printf("erased %s: the subscriber and %zu subscription%s deleted, personal data removed "
	       "from %zu consent event%s; only a hash of the address is kept, so it cannot be "
	       "re-imported without new consent\n",
	       sub.email, nsubs, nsubs == 1 ? "" : "s", nevents, nevents == 1 ? "" : "s");
	bl_subscriber_clear(&sub);
	return BL_EXIT_OK;
}

struct find_sub {
	int64_t list_id;
	int found;
	struct bl_subscription x;
};

static int find_subscription(void *arg, const struct bl_subscription *x)
{
	struct find_sub *f = arg;
	if (x->list_id != f->list_id)
		return 0;
	f->found = 1;
	f->x = *x;
	f->x.list_slug = NULL;
	return 1;
}

static int cmd_set(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"list", required_argument, NULL, 'l'},
	                                     {"mode", required_argument, NULL, 'm'},
	                                     {0}};
	const char *slug = NULL, *mode_s = NULL;
	int c, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'l')
			slug = optarg;
		else if (c == 'm')
			mode_s = optarg;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	const char *operand = bl_cli_operand(argc, argv, "subscriber set", "EMAIL");
	if (!operand)
		return BL_EXIT_USAGE;
	enum bl_mode mode;
	if (!slug || !mode_s) {
		bl_cli_error("subscriber set needs --list SLUG and --mode instant|daily|weekly");
		return BL_EXIT_USAGE;
	}
	if (bl_mode_parse(mode_s, &mode)) {
		bl_cli_error("--mode must be instant, daily or weekly (got \"%s\")", mode_s);
		return BL_EXIT_USAGE;
	}
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct bl_list l = {0};
	int rc = s->ops->list_get(s, slug, &l);
	if (rc <= 0) {
		if (rc < 0)
			bl_cli_error("%s", bl_store_error(s));
		else
			bl_cli_error("no list %s", slug);
		return rc < 0 ? BL_EXIT_STORE : BL_EXIT_INPUT;
	}
	int64_t list_id = l.id;
	bl_list_clear(&l);
	struct bl_subscriber sub;
	if ((code = find_subscriber(cli, s, operand, &sub)))
		return code;
	struct find_sub f = {.list_id = list_id};
	if ((rc = s->ops->subscription_each(s, sub.id, find_subscription, &f)) < 0) {
		bl_cli_error("%s", bl_store_error(s));
		bl_subscriber_clear(&sub);
		return BL_EXIT_STORE;
	}
	if (!f.found || f.x.status != BL_SUB_CONFIRMED) {
		bl_cli_error(
		    "%s is %s %s: only a confirmed subscription has a delivery mode to set",
		    sub.email,
		    !f.found                            ? "not subscribed to"
		    : f.x.status == BL_SUB_UNSUBSCRIBED ? "unsubscribed from"
		                                        : "not yet confirmed on",
		    slug);
		bl_subscriber_clear(&sub);
		return BL_EXIT_INPUT;
	}
	if (f.x.mode == mode) {
		printf("%s already gets %s in %s mode\n", sub.email, slug, bl_mode_name(mode));
		bl_subscriber_clear(&sub);
		return BL_EXIT_OK;
	}
	struct bl_subscription_change ch = {
	    .list_id = list_id, .status = BL_SUB_CONFIRMED, .mode = mode};
	struct bl_consent_ctx ctx = {.now = bl_now(), .ip = "", .user_agent = "", .source = "cli"};
	rc = s->ops->web_preferences(s, sub.id, NULL, &ch, 1, &ctx);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		bl_subscriber_clear(&sub);
		return bl_cli_exit_code(rc);
	}
	printf("%s gets %s in %s mode now (was %s)\n", sub.email, slug, bl_mode_name(mode),
	       bl_mode_name(f.x.mode));
	bl_subscriber_clear(&sub);
	return BL_EXIT_OK;
}

int bl_cmd_subscriber(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {
	    {"add", cmd_add}, {"show", cmd_show}, {"ls", cmd_ls}, {"rm", cmd_rm}, {"set", cmd_set}};
	return bl_cli_dispatch(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), usage,
	                       "subscriber");
}
