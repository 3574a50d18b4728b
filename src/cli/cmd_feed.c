/*
 * bulletin feed add|ls|rm|poll (issue 6): RSS/Atom feeds whose new items
 * become posts. `serve` polls every feed on its own schedule; `feed poll`
 * is the same poll for cron users and for trying a feed by hand. Each
 * change is written to the audit log with actor "cli".
 */
#include "cli/cli.h"

#include "core/json.h"
#include "feed/poll.h"
#include "http/web.h"
#include "send/scheduler.h"
#include "store/json.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: bulletin feed add URL --list SLUG [--list SLUG]... [--mode send|draft]\n"
    "                         [--every DURATION] [--breaking] [--backfill N] [--json]\n"
    "       bulletin feed ls [--json]\n"
    "       bulletin feed rm ID\n"
    "       bulletin feed poll [ID] [--all] [--send] [--json]\n"
    "\n"
    "A feed is an RSS or Atom URL; each new item becomes a post to its lists\n"
    "(title -> subject, content or summary -> body, sanitised, with a \"Read\n"
    "more\" link). `bulletin serve` polls every feed on its own schedule.\n"
    "  --list SLUG     a list the item posts go to (repeat for several)\n"
    "  --mode MODE     send (default): posts go out at once, through the\n"
    "                  scheduler; draft: they wait as drafts for a person\n"
    "  --every D       time between polls: 90s, 15m (default), 2h, 1d; at least 1m\n"
    "  --breaking      the posts are breaking: ahead of other mail, and to digest\n"
    "                  subscribers at once (unless the list says otherwise)\n"
    "  --backfill N    how many of the items already in the feed at its first\n"
    "                  poll become posts (newest first; default 0: they are only\n"
    "                  marked seen, no backlog is sent)\n"
    "  poll ID         poll that feed now; without ID, every feed that is due\n"
    "  --all           poll every feed now, due or not\n"
    "  --send          also deliver the posts made (runs the engine until idle)\n"
    "  --json          add: the feed; ls: "
    "[{\"id\",\"url\",\"title\",\"lists\",\"mode\",\"every\",\n"
    "                  \"breaking\",\"backfill\",\"last_poll_at\",\"last_ok_at\",\n"
    "                  \"next_poll_at\",\"failures\",\"last_error\",\"items\",\"posts\",\n"
    "                  \"created_at\"}]; poll: [{\"id\",\"ok\",\"not_modified\",\"items\",\n"
    "                  \"new_items\",\"posts\",\"error\",\"next_poll_at\"}]\n"
    "A feed that fails is tried again later, waiting twice as long after each\n"
    "failure (at most a day); `feed ls` shows its last error. Loopback and\n"
    "private addresses are refused unless feed_allow_private is on.\n";

/* @url can be a feed's URL: *@norm gets its one spelling (malloc'd); else print why. */
static int check_url(const char *url, char **norm)
{
	struct bl_diag d;
	if (bl_feed_url_normalize(url, norm, &d)) {
		bl_cli_error("%s", d.msg);
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

static int add_feed(struct bl_cli *cli, struct bl_feed *fp, const char *url, const char **slugs,
                    size_t n_slugs, int json);

static int cmd_add(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},       {"list", required_argument, NULL, 'l'},
	    {"mode", required_argument, NULL, 'm'}, {"every", required_argument, NULL, 'e'},
	    {"breaking", no_argument, NULL, 'B'},   {"backfill", required_argument, NULL, 'b'},
	    {"json", no_argument, NULL, 'j'},       {0}};
	const char *slugs[64];
	size_t n_slugs = 0;
	int c, code, json = 0;
	struct bl_feed f = {.mode = BL_FEED_SEND, .every = BL_FEED_EVERY_DEFAULT};
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		long long v;
		switch (c) {
		case 'l':
			if (n_slugs == sizeof(slugs) / sizeof(slugs[0])) {
				bl_cli_error("at most 64 --list options");
				return BL_EXIT_USAGE;
			}
			slugs[n_slugs++] = optarg;
			break;
		case 'm':
			if (bl_feed_mode_parse(optarg, &f.mode)) {
				bl_cli_error("--mode must be send or draft (got \"%s\")", optarg);
				return BL_EXIT_USAGE;
			}
			break;
		case 'e':
			if (bl_duration_parse(optarg, &v) || v < BL_FEED_EVERY_MIN ||
			    v > 7 * 86400) {
				bl_cli_error(
				    "--every must be a duration from 1m to 7d, like 15m or 2h (got "
				    "\"%s\")",
				    optarg);
				return BL_EXIT_USAGE;
			}
			f.every = v;
			break;
		case 'B':
			f.breaking = 1;
			break;
		case 'b':
			if (bl_parse_int64(optarg, 0, 1000, &v)) {
				bl_cli_error(
				    "--backfill must be a number from 0 to 1000 (got \"%s\")",
				    optarg);
				return BL_EXIT_USAGE;
			}
			f.backfill = v;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	const char *url = bl_cli_operand(argc, argv, "feed add", "URL");
	if (!url)
		return BL_EXIT_USAGE;
	if (!n_slugs) {
		bl_cli_error("feed add needs --list SLUG: the list its posts go to");
		return BL_EXIT_USAGE;
	}
	char *norm = NULL;
	if ((code = check_url(url, &norm)))
		return code;
	code = add_feed(cli, &f, norm, slugs, n_slugs, json);
	free(norm);
	return code;
}

/* feed add, once its options are read: @url normalised. */
static int add_feed(struct bl_cli *cli, struct bl_feed *fp, const char *url, const char **slugs,
                    size_t n_slugs, int json)
{
	struct bl_feed f = *fp;
	int code;
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	int64_t ids[64];
	for (size_t i = 0; i < n_slugs; i++) {
		struct bl_list l;
		int rc = s->ops->list_get(s, slugs[i], &l);
		if (rc <= 0) {
			if (rc < 0)
				bl_cli_error("%s", bl_store_error(s));
			else
				bl_cli_error("no list \"%s\" (see `bulletin list ls`)", slugs[i]);
			return rc < 0 ? BL_EXIT_STORE : BL_EXIT_INPUT;
		}
		ids[i] = l.id;
		bl_list_clear(&l);
	}
	f.url = (char *)url;
	int rc = s->ops->feed_create(s, &f, ids, n_slugs);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	char idb[24];
	snprintf(idb, sizeof(idb), "%lld", (long long)f.id);
	/* as the API writes it: target feed:ID, detail "URL, MODE" */
	bl_cli_audit(s, "feed.add", "feed", idb, "%s, %s", url, bl_feed_mode_name(f.mode));
	if (json) { /* the feed as `feed ls --json` and the API show it */
		struct bl_feed got = {0};
		json_t *o =
		    s->ops->feed_get(s, f.id, &got) == 1 ? bl_json_feed_stored(s, &got) : NULL;
		bl_feed_clear(&got);
		if (!o) {
			bl_cli_error("%s", bl_store_error(s));
			return BL_EXIT_STORE;
		}
		bl_cli_print_json(o);
		return BL_EXIT_OK;
	}
	printf("added feed %lld: %s, every %lld s, %s%s\n", (long long)f.id, url,
	       (long long)f.every,
	       f.mode == BL_FEED_SEND ? "new items are sent" : "new items become drafts",
	       f.breaking ? " as breaking posts" : "");
	if (f.backfill)
		printf("its first poll turns the %lld newest items into posts; `bulletin serve` "
		       "polls it, or run `bulletin feed poll %lld`\n",
		       (long long)f.backfill, (long long)f.id);
	else
		printf("its first poll marks the items already there as seen; `bulletin serve` "
		       "polls it, or run `bulletin feed poll %lld`\n",
		       (long long)f.id);
	return BL_EXIT_OK;
}

struct feeds {
	struct bl_store *s;
	json_t *arr;
	size_t n;
	int rc;
};

static int print_feed(void *arg, const struct bl_feed *f)
{
	struct feeds *c = arg;
	/* feed_each holds a cursor on SQLite; a second statement is fine. */
	json_t *o = bl_json_feed_stored(c->s, f);
	if (!o)
		return c->rc = -BL_ESTORE;
	if (c->arr) {
		json_array_append_new(c->arr, o);
	} else {
		if (c->n == 0)
			printf("%-4s %-5s %-7s %-21s %-21s %-5s %s\n", "ID", "MODE", "EVERY",
			       "LAST OK", "NEXT POLL", "POSTS", "URL / LISTS / LAST ERROR");
		char every[32];
		snprintf(every, sizeof(every), "%llds", (long long)f->every);
		printf("%-4lld %-5s %-7s %-21s ", (long long)f->id, bl_feed_mode_name(f->mode),
		       every, f->ok_at ? bl_cli_time(f->ok_at) : "never");
		printf("%-21s %-5lld %s\n", bl_cli_time(f->next_poll_at), (long long)f->posts,
		       f->url);
		printf("%38s lists: ", "");
		json_t *lists = json_object_get(o, "lists"), *v;
		size_t i;
		json_array_foreach(lists, i, v) printf("%s%s", i ? ", " : "", json_string_value(v));
		printf("%s\n", f->breaking ? "; breaking" : "");
		if (f->failures)
			printf("%38s failing (%lld in a row): %s\n", "", (long long)f->failures,
			       f->last_error);
		json_decref(o);
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
	struct feeds c = {.s = s, .arr = json ? json_array() : NULL};
	if (s->ops->feed_each(s, print_feed, &c)) {
		json_decref(c.arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(c.arr);
	else if (c.n == 0)
		printf("no feeds yet; add one with `bulletin feed add URL --list SLUG`\n");
	return BL_EXIT_OK;
}

/* A feed id operand: a positive integer, else print why. */
static int parse_id(const char *v, int64_t *id)
{
	long long x;
	if (bl_parse_int64(v, 1, INT64_MAX, &x)) {
		bl_cli_error("\"%s\" is not a feed id (see `bulletin feed ls`)", v);
		return BL_EXIT_USAGE;
	}
	*id = x;
	return BL_EXIT_OK;
}

static int cmd_rm(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	const char *v = bl_cli_operand(argc, argv, "feed rm", "ID");
	int64_t id;
	if (!v)
		return BL_EXIT_USAGE;
	if ((code = parse_id(v, &id)))
		return code;
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	struct bl_feed f;
	int rc = s->ops->feed_get(s, id, &f);
	if (rc == 1)
		rc = s->ops->feed_delete(s, id);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	if (rc == 0) {
		bl_cli_error("no feed %lld (see `bulletin feed ls`)", (long long)id);
		return BL_EXIT_INPUT;
	}
	char idb[24];
	snprintf(idb, sizeof(idb), "%lld", (long long)id);
	bl_cli_audit(s, "feed.rm", "feed", idb, "%s", f.url);
	printf("removed feed %lld (%s); the posts it made stay\n", (long long)id, f.url);
	bl_feed_clear(&f);
	return BL_EXIT_OK;
}

static int cmd_poll(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"all", no_argument, NULL, 'a'},
	                                     {"send", no_argument, NULL, 's'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	int c, all = 0, send = 0, json = 0, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'a')
			all = 1;
		else if (c == 's')
			send = 1;
		else if (c == 'j')
			json = 1;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	if (argc - optind > 1)
		return bl_cli_usage(usage, 0);
	int64_t one = 0;
	if (optind < argc && (code = parse_id(argv[optind], &one)))
		return code;
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	int64_t now = bl_now();
	/* Which feeds: one, every one, or the due ones. */
	size_t cap = 1, n = 0;
	int64_t *ids = bl_xcalloc(1, sizeof(*ids));
	int rc = 0;
	if (one) {
		ids[n++] = one;
	} else {
		for (;;) {
			free(ids);
			ids = bl_xcalloc(cap, sizeof(*ids));
			rc = s->ops->feed_due(s, all ? INT64_MAX : now, ids, cap, &n);
			if (rc || n < cap)
				break;
			cap *= 4;
		}
	}
	if (rc) {
		free(ids);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	struct bl_fetch_opts fo;
	bl_web_fetch_opts(cli->config, &fo);
	json_t *arr = json ? json_array() : NULL;
	int failed = 0;
	int64_t posts = 0;
	for (size_t i = 0; i < n; i++) {
		struct bl_feed_poll_report r;
		struct bl_diag d;
		rc = bl_feed_poll(s, ids[i], &fo, now, &r, &d);
		if (rc == -BL_ENOENT && one) {
			bl_cli_error("no feed %lld (see `bulletin feed ls`)", (long long)one);
			json_decref(arr);
			free(ids);
			return BL_EXIT_INPUT;
		}
		if (rc) {
			bl_cli_error("%s", d.msg);
			json_decref(arr);
			free(ids);
			return bl_cli_exit_code(rc);
		}
		failed += r.failed;
		posts += r.posts;
		if (arr) {
			json_array_append_new(
			    arr, json_pack("{sI sb sb so sI sI so so}", "id", (json_int_t)r.feed_id,
			                   "ok", !r.failed, "not_modified", r.not_modified, "items",
			                   r.items < 0 ? json_null() : json_integer(r.items),
			                   "new_items", (json_int_t)r.new_items, "posts",
			                   (json_int_t)r.posts, "error",
			                   r.failed ? json_string(r.error) : json_null(),
			                   "next_poll_at", bl_json_time(r.next_poll_at)));
		} else if (r.failed) {
			printf("feed %lld: failed: %s; next try %s\n", (long long)r.feed_id,
			       r.error, bl_cli_time(r.next_poll_at));
		} else if (r.not_modified) {
			printf("feed %lld: not modified since the last poll\n",
			       (long long)r.feed_id);
		} else {
			printf("feed %lld: %lld items, %lld new, %lld posts made\n",
			       (long long)r.feed_id, (long long)r.items, (long long)r.new_items,
			       (long long)r.posts);
		}
	}
	free(ids);
	if (!one && n == 0 && !json)
		printf("no feed is due (use --all to poll every feed now)\n");
	/* Queue the posts made in mode send now: a cron job may not run the engine for a while,
	 * and the scheduler holds posts found too late. */
	struct bl_diag d;
	if (posts &&
	    bl_scheduler_tick(s, bl_now(), bl_config_int(cli->config, "max_schedule_lateness"),
	                      NULL, &d))
		bl_cli_error("queueing the new posts: %s", d.msg);
	if (arr)
		bl_cli_print_json(arr);
	if (send && posts)
		code = bl_cli_run_engine(cli, s, 1, 0);
	else
		code = BL_EXIT_OK;
	if (failed && code == BL_EXIT_OK)
		code = BL_EXIT_INPUT;
	return code;
}

int bl_cmd_feed(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {
	    {"add", cmd_add}, {"ls", cmd_ls}, {"rm", cmd_rm}, {"poll", cmd_poll}};
	return bl_cli_dispatch(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), usage,
	                       "feed");
}
