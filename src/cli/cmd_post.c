/*
 * bulletin post create|ls|show|preview|send|status|pause|resume|cancel:
 * writing a post and following its delivery. `post send --wait` and
 * `bulletin send` (cmd_send.c) run the delivery engine (src/send).
 */
#include "bounce/summary.h"
#include "cli/cli.h"

#include "core/address.h"
#include "core/crypto.h"
#include "core/json.h"
#include "render/markdown.h"
#include "send/compose.h"
#include "send/engine.h"
#include "send/transport.h"
#include "tmpl/tmpl.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: bulletin post create --list SLUG [--list SLUG]... --subject TEXT\n"
    "                            --body-file FILE.md [--breaking] [--from \"Name <addr>\"]\n"
    "                            [--at TIME] [--json]\n"
    "       bulletin post ls [--json]\n"
    "       bulletin post show ID [--json]\n"
    "       bulletin post preview ID [--to EMAIL] [--format eml|html|text]\n"
    "       bulletin post send ID [--wait]\n"
    "       bulletin post schedule ID --at TIME | unschedule ID\n"
    "       bulletin post status ID [--json]\n"
    "       bulletin post deliveries ID [--state STATE] [--limit N] [--after ID] [--json]\n"
    "       bulletin post pause ID | resume ID | cancel ID\n"
    "\n"
    "A post is one message to one or more lists. Its body is Markdown and a\n"
    "Mustache template (see README, \"Messages\"); FILE.md may be - for stdin.\n"
    "  create    store a draft (with --at: a scheduled post); prints the new post's id\n"
    "  preview   one message exactly as a subscriber gets it (--to EMAIL: that\n"
    "            subscriber; default: the first confirmed subscriber of the lists);\n"
    "            --format eml (default: the whole message), html or text\n"
    "  send      queue the post: one delivery per confirmed subscriber in instant\n"
    "            mode (a subscriber on several of its lists gets one copy);\n"
    "            --wait delivers it now and returns when it is done. On a post\n"
    "            already sending (e.g. after a crash) it resumes, never restarts.\n"
    "  schedule  send the post at TIME by itself (`bulletin serve` or `bulletin send`\n"
    "            must be running then); TIME is RFC 3339 (2026-12-01T09:00:00Z,\n"
    "            2026-12-01T10:00:00+01:00), \"YYYY-MM-DD HH:MM:SS\" (UTC) or a date;\n"
    "            a post found more than max_schedule_lateness late (bulletin was\n"
    "            down) is held: `post ls` says why; send it or schedule it again\n"
    "  unschedule  make a scheduled (or held) post a draft again\n"
    "  status    deliveries by state, send rate (msgs/s over the last minute)\n"
    "  deliveries  the ledger: one row per subscriber with its state, the relay's\n"
    "            reply and queue id (--state failed: who did not get it, and why)\n"
    "  pause     stop claiming its deliveries; resume continues; cancel drops\n"
    "            every delivery not yet handed to a relay\n"
    "  --breaking  deliver ahead of normal posts\n";

static int parse_id(const char *s, int64_t *id)
{
	long long v;
	if (!s || bl_parse_int64(s, 1, INT64_MAX, &v)) {
		bl_cli_error("post id must be a positive number (got \"%s\")", s ? s : "");
		return BL_EXIT_USAGE;
	}
	*id = v;
	return BL_EXIT_OK;
}

/* --at TIME: a time after now into *@at, or an exit code after saying why. */
static int parse_at(const char *text, int64_t *at)
{
	int64_t t, now = bl_now();
	char a[BL_TIME_STRMAX], b[BL_TIME_STRMAX];
	if (bl_time_parse(text, &t)) {
		bl_cli_error(
		    "--at must be a time such as 2026-12-01T09:00:00Z, "
		    "2026-12-01T10:00:00+01:00 or \"2026-12-01 09:00:00\" (UTC) (got \"%s\")",
		    text);
		return BL_EXIT_USAGE;
	}
	if (t <= now) {
		bl_cli_error("--at %s is in the past (it is %s now); give a later time, or send "
		             "the post now with `bulletin post send ID`",
		             bl_time_format(t, a), bl_time_format(now, b));
		return BL_EXIT_INPUT;
	}
	*at = t;
	return BL_EXIT_OK;
}

static int get_post(struct bl_store *s, int64_t id, struct bl_post *p)
{
	int rc = s->ops->post_get(s, id, p);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (rc == 0) {
		bl_cli_error("no post %lld (see `bulletin post ls`)", (long long)id);
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

struct lists {
	struct bl_list *v;
	size_t n;
};

static int collect_list(void *arg, const struct bl_list *l)
{
	struct lists *c = arg;
	c->v = bl_xreallocarray(c->v, c->n + 1, sizeof(*c->v));
	bl_list_copy(&c->v[c->n++], l);
	return 0;
}

static void lists_clear(struct lists *c)
{
	for (size_t i = 0; i < c->n; i++)
		bl_list_clear(&c->v[i]);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Read all of @path ("-": stdin) up to @max bytes into a malloc'd string. */
static int read_body(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		bl_cli_error("cannot read %s: %s", path, strerror(errno));
		return BL_EXIT_INPUT;
	}
	struct bl_buf b;
	char chunk[65536];
	size_t n;
	bl_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (bl_buf_add(&b, chunk, n))
			break;
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad) {
		bl_buf_finish(&b);
		bl_cli_error("cannot read %s", path);
		return BL_EXIT_INPUT;
	}
	if (bl_buf_err(&b)) {
		bl_buf_finish(&b);
		bl_cli_error("%s is larger than %zu bytes", path, max);
		return BL_EXIT_INPUT;
	}
	*len = b.len;
	*out = b.data ? bl_buf_take(&b) : bl_xstrdup("");
	return BL_EXIT_OK;
}

static int check_sendable(struct bl_cli *cli, struct bl_store *s, const struct bl_post *p,
                          const struct lists *ls);

static int cmd_create(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"list", required_argument, NULL, 'l'},
	                                     {"subject", required_argument, NULL, 's'},
	                                     {"body-file", required_argument, NULL, 'b'},
	                                     {"breaking", no_argument, NULL, 'B'},
	                                     {"from", required_argument, NULL, 'f'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"at", required_argument, NULL, 'a'},
	                                     {0}};
	const char *slugs[64], *subject = NULL, *body_file = NULL, *from = "";
	size_t n_slugs = 0;
	int c, json = 0, code;
	int64_t at = 0;
	struct bl_post p = {0};

	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (n_slugs == sizeof(slugs) / sizeof(slugs[0])) {
				bl_cli_error("at most 64 --list options");
				return BL_EXIT_USAGE;
			}
			slugs[n_slugs++] = optarg;
			break;
		case 's':
			subject = optarg;
			break;
		case 'b':
			body_file = optarg;
			break;
		case 'B':
			p.priority = BL_PRIORITY_BREAKING;
			break;
		case 'f':
			from = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'a':
			if ((code = parse_at(optarg, &at)))
				return code;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc || !n_slugs || !subject || !body_file) {
		bl_cli_error("post create needs --list SLUG, --subject TEXT and --body-file FILE");
		return BL_EXIT_USAGE;
	}
	if ((code = bl_cli_check_text("--subject", subject, BL_SUBJECT_MAX, 1, 1)))
		return code;
	if (*from) {
		char name[BL_NAME_MAX + 1], addr[256];
		struct bl_diag d;
		if ((code = bl_cli_check_text("--from", from, 500, 1, 1)))
			return code;
		if (bl_sender_parse(from, bl_config_bool(cli->config, "smtputf8") ? 1 : 0, name,
		                    sizeof(name), addr, sizeof(addr), &d)) {
			bl_cli_error("--from: %s", d.msg);
			return BL_EXIT_INPUT;
		}
	}
	char *body;
	size_t len;
	if ((code = read_body(body_file, BL_BODY_MAX, &body, &len)))
		return code;
	/* The body must convert and compile now, not fail at send time. */
	{
		struct bl_diag d;
		size_t bad;
		if (memchr(body, 0, len)) {
			bl_cli_error("%s holds a NUL byte; is it a text file?", body_file);
			free(body);
			return BL_EXIT_INPUT;
		}
		if (!bl_utf8_valid(body, len, &bad)) {
			bl_cli_error("%s is not UTF-8 (bad byte at offset %zu); convert it with "
			             "iconv -f LATIN1 -t UTF-8",
			             body_file, bad);
			free(body);
			return BL_EXIT_INPUT;
		}
		/* What the composer will compile: the HTML and text the Markdown becomes. */
		int rc = bl_post_body_check(BL_POST_FORMAT_MARKDOWN, body, len, body_file, &d);
		if (rc) {
			bl_cli_error("%s", d.msg);
			free(body);
			return BL_EXIT_INPUT;
		}
	}
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s))) {
		free(body);
		return code;
	}
	int64_t ids[64];
	struct lists ls = {0};
	for (size_t i = 0; i < n_slugs; i++) {
		struct bl_list l;
		int rc = s->ops->list_get(s, slugs[i], &l);
		if (rc <= 0) {
			if (rc < 0)
				bl_cli_error("%s", bl_store_error(s));
			else
				bl_cli_error("no list \"%s\" (see `bulletin list ls`)", slugs[i]);
			free(body);
			lists_clear(&ls);
			return rc < 0 ? BL_EXIT_STORE : BL_EXIT_INPUT;
		}
		ids[i] = l.id;
		collect_list(&ls, &l);
		bl_list_clear(&l);
	}
	p.subject = (char *)subject;
	p.body = body;
	p.from_header = (char *)from;
	p.status = at ? BL_POST_SCHEDULED : BL_POST_DRAFT;
	p.scheduled_at = at;
	p.pause_reason = "";
	/* A scheduled post goes out with nobody watching: what would fail then fails now. */
	if (at && (code = check_sendable(cli, s, &p, &ls))) {
		free(body);
		lists_clear(&ls);
		return code;
	}
	lists_clear(&ls);
	int rc = s->ops->post_create(s, &p, ids, n_slugs);
	free(body);
	if (rc) {
		bl_cli_error("%s", bl_store_error(s));
		return bl_cli_exit_code(rc);
	}
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(p.id));
		bl_cli_print_json(o);
	} else {
		printf("%lld\n", (long long)p.id);
	}
	return BL_EXIT_OK;
}

/* A post as JSON (core/json.h), with the slugs of @ls as "lists" when @ls is not NULL. */
static json_t *post_json(const struct bl_post *p, const struct lists *ls)
{
	if (!ls)
		return bl_json_post(p, NULL, 0);
	const char **slugs = bl_xreallocarray(NULL, ls->n + 1, sizeof(*slugs));
	for (size_t i = 0; i < ls->n; i++)
		slugs[i] = ls->v[i].slug;
	json_t *o = bl_json_post(p, slugs, ls->n);
	free(slugs);
	return o;
}

struct posts {
	struct bl_post *v;
	size_t n;
};

/* Collects the publisher's posts (kind post): confirmation mails are not listed. */
static int collect_post(void *arg, const struct bl_post *p)
{
	struct posts *c = arg;
	if (p->kind != BL_POST_KIND_POST)
		return 0;
	c->v = bl_xreallocarray(c->v, c->n + 1, sizeof(*c->v));
	struct bl_post *d = &c->v[c->n++];
	*d = *p;
	d->subject = bl_xstrdup(p->subject);
	d->body = NULL;
	d->from_header = bl_xstrdup(p->from_header);
	d->pause_reason = bl_xstrdup(p->pause_reason);
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
	struct posts ps = {0};
	int rc = s->ops->post_each(s, collect_post, &ps);
	json_t *arr = json ? json_array() : NULL;
	for (size_t i = 0; i < ps.n && rc == 0; i++) {
		const struct bl_post *p = &ps.v[i];
		if (json) {
			json_array_append_new(arr, post_json(p, NULL));
			continue;
		}
		if (i == 0)
			printf("%6s  %-9s  %-8s  %8s  %-20s  %-20s  %s\n", "ID", "STATUS",
			       "PRIORITY", "TOTAL", "CREATED", "SCHEDULED", "SUBJECT");
		char created[BL_TIME_STRMAX], when[BL_TIME_STRMAX] = "-";
		if (p->scheduled_at)
			bl_time_format(p->scheduled_at, when);
		printf("%6lld  %-9s  %-8s  %8lld  %-20s  %-20s  %s\n", (long long)p->id,
		       bl_post_status_name(p->status), bl_priority_name(p->priority),
		       (long long)p->total, bl_time_format(p->created_at, created), when,
		       p->subject);
		/* Why a post waits for a person: held by the scheduler, or paused. */
		if (*p->pause_reason)
			printf("%6s  %s\n", "", p->pause_reason);
	}
	for (size_t i = 0; i < ps.n; i++)
		bl_post_clear(&ps.v[i]);
	free(ps.v);
	if (rc) {
		json_decref(arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(arr);
	else if (ps.n == 0)
		printf("no posts yet; write one with `bulletin post create`\n");
	return BL_EXIT_OK;
}

/* Post @id with its lists, or an exit code. */
static int load_post(struct bl_cli *cli, const char *arg, struct bl_store **sp, struct bl_post *p,
                     struct lists *ls)
{
	int64_t id;
	int code;
	if ((code = parse_id(arg, &id)) || (code = bl_cli_store(cli, 1, sp)) ||
	    (code = get_post(*sp, id, p)))
		return code;
	if (ls && (*sp)->ops->post_lists(*sp, id, collect_list, ls)) {
		bl_cli_error("%s", bl_store_error(*sp));
		bl_post_clear(p);
		return BL_EXIT_STORE;
	}
	return BL_EXIT_OK;
}

static int cmd_show(struct bl_cli *cli, int argc, char **argv)
{
	int json = 0, code = bl_cli_simple_opts(argc, argv, usage, &json);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "post show", "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_post p = {0};
	struct lists ls = {0};
	if ((code = load_post(cli, operand, &s, &p, &ls)))
		return code;
	if (json) {
		json_t *o = post_json(&p, &ls);
		json_object_set_new(o, "body", json_string(p.body));
		bl_cli_print_json(o);
	} else {
		printf("id:        %lld\n", (long long)p.id);
		if (p.kind != BL_POST_KIND_POST)
			printf("kind:      %s\n", bl_post_kind_name(p.kind));
		if (p.format != BL_POST_FORMAT_MARKDOWN)
			printf("format:    %s\n", bl_post_format_name(p.format));
		printf("subject:   %s\n", p.subject);
		printf("status:    %s%s%s\n", bl_post_status_name(p.status),
		       *p.pause_reason ? ": " : "", p.pause_reason);
		printf("priority:  %s\n", bl_priority_name(p.priority));
		printf("lists:    ");
		for (size_t i = 0; i < ls.n; i++)
			printf(" %s", ls.v[i].slug);
		printf("\n");
		if (*p.from_header)
			printf("from:      %s\n", p.from_header);
		printf("created:   %s\n", bl_cli_time(p.created_at));
		if (p.scheduled_at)
			printf("scheduled: %s\n", bl_cli_time(p.scheduled_at));
		if (p.started_at)
			printf("started:   %s\n", bl_cli_time(p.started_at));
		if (p.finished_at)
			printf("finished:  %s\n", bl_cli_time(p.finished_at));
		printf("total:     %lld\n", (long long)p.total);
		printf("\n%s%s", p.body, *p.body && p.body[strlen(p.body) - 1] != '\n' ? "\n" : "");
	}
	bl_post_clear(&p);
	lists_clear(&ls);
	return BL_EXIT_OK;
}

/* The list a delivery names, as the claim picks it: the lowest id among the
 * post's lists the subscriber is confirmed on in instant mode. */
struct pick {
	const struct lists *ls;
	int64_t list_id;
};

static int pick_list(void *arg, const struct bl_subscription *sub)
{
	struct pick *pk = arg;
	if (sub->status != BL_SUB_CONFIRMED || sub->mode != BL_MODE_INSTANT)
		return 0;
	for (size_t i = 0; i < pk->ls->n; i++)
		if (pk->ls->v[i].id == sub->list_id &&
		    (pk->list_id == 0 || sub->list_id < pk->list_id))
			pk->list_id = sub->list_id;
	return 0;
}

struct first_sub {
	struct bl_subscriber sub;
	int found;
};

static int take_first(void *arg, const struct bl_subscriber *s)
{
	struct first_sub *f = arg;
	bl_subscriber_copy(&f->sub, s);
	f->found = 1;
	return 1;
}

static int make_composer(struct bl_cli *cli, struct bl_store *s, const struct bl_post *p,
                         const struct lists *ls, struct bl_secret *secret, struct bl_composer **out)
{
	struct bl_compose_opts co;
	struct bl_diag d;
	int rc;
	if ((rc = bl_load_secret(s, secret, &d))) {
		bl_cli_error("%s", d.msg);
		return bl_cli_exit_code(rc);
	}
	bl_compose_opts_from_config(cli->config, secret, &co);
	co.store = s; /* a digest reads the subscriber's posts */
	if ((rc = bl_composer_create(&co, p, ls->v, ls->n, out, &d))) {
		if (p->id)
			bl_cli_error("post %lld: %s", (long long)p->id, d.msg);
		else
			bl_cli_error("%s", d.msg);
		return BL_EXIT_INPUT;
	}
	return BL_EXIT_OK;
}

static int cmd_preview(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"to", required_argument, NULL, 't'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {0}};
	const char *to = NULL, *format = "eml";
	int c, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'f':
			format = optarg;
			if (strcmp(format, "eml") && strcmp(format, "html") &&
			    strcmp(format, "text")) {
				bl_cli_error("--format must be eml, html or text (got \"%s\")",
				             format);
				return BL_EXIT_USAGE;
			}
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	const char *operand = bl_cli_operand(argc, argv, "post preview", "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_post p = {0};
	struct lists ls = {0};
	struct first_sub fs = {0};
	struct bl_secret secret;
	struct bl_composer *comp = NULL;
	if ((code = load_post(cli, operand, &s, &p, &ls)))
		return code;
	if (to) {
		struct bl_address a;
		struct bl_diag d;
		unsigned flags = bl_config_bool(cli->config, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0;
		if (bl_address_parse(to, strlen(to), flags, &a, NULL, &d)) {
			bl_cli_error("--to: %s", d.msg);
			code = BL_EXIT_INPUT;
			goto out;
		}
		int rc = s->ops->subscriber_get(s, a.key, &fs.sub);
		if (rc <= 0) {
			bl_cli_error(rc < 0 ? "%s" : "no subscriber %s",
			             rc < 0 ? bl_store_error(s) : to);
			code = rc < 0 ? BL_EXIT_STORE : BL_EXIT_INPUT;
			goto out;
		}
		fs.found = 1;
	} else {
		for (size_t i = 0; i < ls.n && !fs.found; i++) {
			struct bl_subscriber_filter f = {.list_id = ls.v[i].id,
			                                 .sub_status = BL_SUB_CONFIRMED,
			                                 .status = BL_SUBSCRIBER_ACTIVE,
			                                 .limit = 1};
			if (s->ops->subscriber_each(s, &f, take_first, &fs) < 0) {
				bl_cli_error("%s", bl_store_error(s));
				code = BL_EXIT_STORE;
				goto out;
			}
		}
	}
	struct bl_claimed row = {.post_id = p.id, .attempts = 1};
	if (fs.found) {
		struct pick pk = {&ls, 0};
		s->ops->subscription_each(s, fs.sub.id, pick_list, &pk);
		row.subscriber_id = fs.sub.id;
		row.email = fs.sub.email;
		row.name = fs.sub.name;
		row.attributes = fs.sub.attributes;
		row.list_id = pk.list_id ? pk.list_id : (ls.n ? ls.v[0].id : 0);
	} else {
		/* No subscriber yet: a sample reader, so the layout can be checked. */
		row.email = "reader@example.com";
		row.name = "Sample Reader";
		row.attributes = "{}";
		row.list_id = ls.n ? ls.v[0].id : 0;
		fprintf(stderr,
		        "bulletin: the lists have no confirmed subscriber; previewing for a "
		        "sample reader <reader@example.com>\n");
	}
	if ((code = make_composer(cli, s, &p, &ls, &secret, &comp)))
		goto out;
	struct bl_buf msg;
	char mail_from[BL_MAIL_FROM_MAX];
	struct bl_diag d;
	bl_buf_init(&msg, BL_MESSAGE_MAX);
	if (bl_compose(comp, &row, bl_now(), &msg, mail_from, &d)) {
		bl_cli_error("%s", d.msg);
		code = BL_EXIT_INPUT;
	} else if (strcmp(format, "eml") == 0) {
		fwrite(bl_buf_str(&msg), 1, msg.len, stdout);
	} else {
		fputs(strcmp(format, "html") == 0 ? bl_composer_last_html(comp)
		                                  : bl_composer_last_text(comp),
		      stdout);
	}
	bl_buf_finish(&msg);
out:
	bl_composer_destroy(comp);
	if (fs.found)
		bl_subscriber_clear(&fs.sub);
	bl_post_clear(&p);
	lists_clear(&ls);
	return code;
}

/* What would fail at send time, refused now: no sender, a bad public_url, a bad relay. */
static int check_sendable(struct bl_cli *cli, struct bl_store *s, const struct bl_post *p,
                          const struct lists *ls)
{
	struct bl_secret secret;
	struct bl_composer *comp = NULL;
	int code;
	if ((code = make_composer(cli, s, p, ls, &secret, &comp)))
		return code;
	bl_composer_destroy(comp);
	struct bl_transport *t = NULL;
	struct bl_transport_opts to;
	struct bl_diag d;
	bl_transport_opts_init(&to);
	if (bl_transport_create(bl_config_str(cli->config, "relay"), &to, &t, &d)) {
		bl_cli_error("relay: %s", d.msg);
		return BL_EXIT_INPUT;
	}
	bl_transport_destroy(t);
	return BL_EXIT_OK;
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

int bl_cli_run_engine(struct bl_cli *cli, struct bl_store *s, int once, long long wait_post)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	stop_flag = 0;

	struct bl_engine_opts o = {
	    .store = s,
	    .config = cli->config,
	    .once = once,
	    .wait_post = wait_post,
	    .progress = isatty(2),
	    .stop = &stop_flag,
	    .digests = !once && wait_post == 0, /* `bulletin send`: a long-running engine */
	};
	struct bl_engine_stats st;
	struct bl_diag d;
	struct bl_cli_reject_hook hook = {0};
	int hrc = bl_cli_reject_hook_init(cli, s, &hook, &o, &d);
	if (hrc) {
		bl_cli_error("%s", d.msg);
		return hrc == -BL_ESCHEMA ? BL_EXIT_STORE : BL_EXIT_USAGE;
	}
	int rc = bl_engine_run(&o, &st, &d);
	bl_cli_reject_hook_finish(&hook);
	if (rc == -BL_EBUSY && wait_post > 0) {
		/* Another engine delivers: follow the post until it is done. */
		fprintf(stderr, "bulletin: %s; waiting for it to deliver post %lld\n", d.msg,
		        wait_post);
		for (;;) {
			struct bl_post p = {0};
			int found = s->ops->post_get(s, wait_post, &p);
			int done = found != 1 || bl_engine_wait_over(&p);
			bl_post_clear(&p);
			if (found < 0) {
				bl_cli_error("%s", bl_store_error(s));
				return BL_EXIT_STORE;
			}
			if (done || stop_flag)
				return BL_EXIT_OK;
			struct timespec ts = {0, 250 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (rc) {
		bl_cli_error("%s", d.msg);
		return bl_cli_exit_code(rc);
	}
	fprintf(stderr, "accepted %lld, deferred %lld, failed %lld in %.1f s (%.0f msgs/s)%s\n",
	        (long long)st.accepted, (long long)st.deferred, (long long)st.failed, st.seconds,
	        st.seconds > 0 ? (double)st.accepted / st.seconds : 0.0,
	        stop_flag ? "; stopped by a signal" : "");
	return BL_EXIT_OK;
}

static int print_status(const struct bl_cli *cli, struct bl_store *s, int64_t id, int json);

/* bl_cli_audit of @action on post @id (target "post:ID"); @detail may be NULL. */
static void audit_post(struct bl_store *s, const char *action, int64_t id, const char *detail)
{
	char name[24];
	snprintf(name, sizeof(name), "%lld", (long long)id);
	if (detail)
		bl_cli_audit(s, action, "post", name, "%s", detail);
	else
		bl_cli_audit(s, action, "post", name, NULL);
}

static int cmd_send(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'}, {"wait", no_argument, NULL, 'w'}, {0}};
	int c, wait = 0, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'w')
			wait = 1;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	const char *operand = bl_cli_operand(argc, argv, "post send", "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_post p = {0};
	struct lists ls = {0};
	if ((code = load_post(cli, operand, &s, &p, &ls)))
		return code;
	if (p.kind != BL_POST_KIND_POST) {
		bl_cli_error("post %lld is a %s mail, not a post: the delivery engine (`bulletin "
		             "send`) sends it by itself",
		             (long long)p.id, bl_post_kind_name(p.kind));
		code = BL_EXIT_INPUT;
		goto out;
	}
	/* Refuse now what would only fail at send time (no sender, bad public_url). */
	if ((code = check_sendable(cli, s, &p, &ls)))
		goto out;
	int64_t total = 0;
	int rc = s->ops->post_queue(s, p.id, bl_now(), &total);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		code = BL_EXIT_STORE;
		goto out;
	}
	if (rc == 1) {
		char detail[48];
		snprintf(detail, sizeof(detail), "{\"deliveries\":%lld}", (long long)total);
		audit_post(s, "post.send", p.id, detail);
		printf("post %lld queued: %lld deliver%s\n", (long long)p.id, (long long)total,
		       total == 1 ? "y" : "ies");
	} else if (p.status == BL_POST_SENDING) {
		printf("post %lld is already sending; it resumes where it stopped\n",
		       (long long)p.id);
	} else if (p.status == BL_POST_PAUSED) {
		printf("post %lld is paused (%s); `bulletin post resume %lld` continues it\n",
		       (long long)p.id, *p.pause_reason ? p.pause_reason : "by a person",
		       (long long)p.id);
		if (!p.auto_paused)
			goto out;
	} else {
		bl_cli_error("post %lld is %s; it cannot be sent again", (long long)p.id,
		             bl_post_status_name(p.status));
		code = BL_EXIT_INPUT;
		goto out;
	}
	fflush(stdout);
	if (wait) {
		if ((code = bl_cli_run_engine(cli, s, 0, p.id)))
			goto out;
		code = print_status(cli, s, p.id, 0);
	} else {
		printf("run `bulletin send` (or `bulletin post send %lld --wait`) to deliver it\n",
		       (long long)p.id);
	}
out:
	bl_post_clear(&p);
	lists_clear(&ls);
	return code;
}

static int cmd_schedule(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'}, {"at", required_argument, NULL, 'a'}, {0}};
	const char *at_text = NULL;
	int c, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'a')
			at_text = optarg;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	const char *operand = bl_cli_operand(argc, argv, "post schedule", "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	if (!at_text) {
		bl_cli_error("post schedule needs --at TIME");
		return BL_EXIT_USAGE;
	}
	int64_t at;
	if ((code = parse_at(at_text, &at)))
		return code;
	struct bl_store *s;
	struct bl_post p = {0};
	struct lists ls = {0};
	if ((code = load_post(cli, operand, &s, &p, &ls)))
		return code;
	if (p.kind != BL_POST_KIND_POST ||
	    (p.status != BL_POST_DRAFT && p.status != BL_POST_SCHEDULED)) {
		bl_cli_error("post %lld is %s; only a draft or a scheduled post can be scheduled",
		             (long long)p.id,
		             p.kind != BL_POST_KIND_POST ? bl_post_kind_name(p.kind)
		                                         : bl_post_status_name(p.status));
		code = BL_EXIT_INPUT;
		goto out;
	}
	/* It goes out with nobody watching: what would fail then fails now. */
	if ((code = check_sendable(cli, s, &p, &ls)))
		goto out;
	int rc = s->ops->post_schedule(s, p.id, at);
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		code = BL_EXIT_STORE;
	} else if (rc == 0) {
		bl_cli_error("post %lld changed meanwhile; see `bulletin post show %lld`",
		             (long long)p.id, (long long)p.id);
		code = BL_EXIT_INPUT;
	} else {
		char when[BL_TIME_STRMAX], detail[BL_TIME_STRMAX + 16];
		snprintf(detail, sizeof(detail), "{\"at\":\"%s\"}", bl_time_format(at, when));
		audit_post(s, "post.schedule", p.id, detail);
		printf("post %lld scheduled for %s; `bulletin serve` or `bulletin send` sends it "
		       "then\n",
		       (long long)p.id, bl_cli_time(at));
	}
out:
	bl_post_clear(&p);
	lists_clear(&ls);
	return code;
}

static int cmd_unschedule(struct bl_cli *cli, int argc, char **argv)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "post unschedule", "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_post p = {0};
	if ((code = load_post(cli, operand, &s, &p, NULL)))
		return code;
	int rc = 0;
	if (p.status == BL_POST_SCHEDULED && (rc = s->ops->post_schedule(s, p.id, 0)) < 0) {
		bl_cli_error("%s", bl_store_error(s));
		code = BL_EXIT_STORE;
	} else if (rc == 0) {
		bl_cli_error("post %lld is %s, not scheduled", (long long)p.id,
		             bl_post_status_name(p.status));
		code = BL_EXIT_INPUT;
	} else {
		audit_post(s, "post.unschedule", p.id, NULL);
		printf("post %lld is a draft again\n", (long long)p.id);
	}
	bl_post_clear(&p);
	return code;
}

/* The bounces block of `post status`: findings by class, the hard-bounce rate over the sent
 * messages (a 5xx at RCPT is a hard bounce too) and the complaint rate over the delivered ones,
 * and a WARNING line for each rate above its threshold. */
static void print_bounces(const struct bl_bounce_summary *b)
{
	const struct bl_bounce_counts *c = &b->counts;
	char hard[24], complaint[24];
	printf("bounces: hard %lld, soft %lld, block %lld, complaint %lld",
	       (long long)c->n[BL_BOUNCE_HARD], (long long)c->n[BL_BOUNCE_SOFT],
	       (long long)c->n[BL_BOUNCE_BLOCK], (long long)c->n[BL_BOUNCE_COMPLAINT]);
	if (c->n[BL_BOUNCE_AUTOREPLY])
		printf(", auto-reply %lld", (long long)c->n[BL_BOUNCE_AUTOREPLY]);
	if (c->n[BL_BOUNCE_UNKNOWN])
		printf(", unknown %lld", (long long)c->n[BL_BOUNCE_UNKNOWN]);
	printf("\nrates: hard bounces %s of %lld sent, complaints %s of %lld delivered\n",
	       bl_bounce_pct(c->n[BL_BOUNCE_HARD], c->sent, b->thr.hard_ppm, hard, sizeof(hard)),
	       (long long)c->sent,
	       bl_bounce_pct(c->n[BL_BOUNCE_COMPLAINT], c->delivered, b->thr.complaint_ppm,
	                     complaint, sizeof(complaint)),
	       (long long)c->delivered);
	for (size_t i = 0; i < b->n_warnings; i++)
		printf("WARNING: %s\n", b->warn[i].text);
}

static int print_status(const struct bl_cli *cli, struct bl_store *s, int64_t id, int json)
{
	struct bl_post p = {0};
	struct bl_delivery_counts n;
	struct bl_bounce_thresholds thr;
	struct bl_bounce_summary b;
	int64_t recent = 0;
	int64_t now = bl_now();
	int code;
	if ((code = get_post(s, id, &p)))
		return code;
	bl_bounce_thresholds_from_config(cli->config, &thr);
	if (s->ops->delivery_counts(s, id, &n) ||
	    s->ops->delivery_accepted_since(s, id, now - 60, &recent) ||
	    bl_bounce_summary_load(s, id, &thr, &b)) {
		bl_cli_error("%s", bl_store_error(s));
		bl_post_clear(&p);
		return BL_EXIT_STORE;
	}
	json_t *o = bl_json_post_status(&p, &n, recent, now);
	if (json) {
		json_object_set_new(o, "bounces", bl_json_bounce_summary(&b));
		bl_cli_print_json(o);
	} else {
		printf("post %lld: %s%s%s\n", (long long)p.id, bl_post_status_name(p.status),
		       *p.pause_reason ? " — " : "", p.pause_reason);
		printf(
		    "total %lld: accepted %lld, pending %lld, claimed %lld, deferred %lld, "
		    "failed %lld, suppressed %lld, bounced %lld, complained %lld; in doubt %lld; "
		    "%.1f msgs/s\n",
		    (long long)p.total, (long long)n.n[BL_DELIVERY_ACCEPTED],
		    (long long)n.n[BL_DELIVERY_PENDING], (long long)n.n[BL_DELIVERY_CLAIMED],
		    (long long)n.n[BL_DELIVERY_DEFERRED], (long long)n.n[BL_DELIVERY_FAILED],
		    (long long)n.n[BL_DELIVERY_SUPPRESSED], (long long)n.n[BL_DELIVERY_BOUNCED],
		    (long long)n.n[BL_DELIVERY_COMPLAINED], (long long)p.in_doubt,
		    json_real_value(json_object_get(o, "rate")));
		print_bounces(&b);
		json_decref(o);
	}
	bl_post_clear(&p);
	return BL_EXIT_OK;
}

static int cmd_status(struct bl_cli *cli, int argc, char **argv)
{
	int json = 0, code = bl_cli_simple_opts(argc, argv, usage, &json);
	if (code >= 0)
		return code;
	const char *operand = bl_cli_operand(argc, argv, "post status", "ID");
	int64_t id;
	struct bl_store *s;
	if (!operand)
		return BL_EXIT_USAGE;
	if ((code = parse_id(operand, &id)) || (code = bl_cli_store(cli, 1, &s)))
		return code;
	return print_status(cli, s, id, json);
}

struct deliveries_out {
	json_t *arr;
	int64_t n;
};

static int print_delivery(void *arg, const struct bl_delivery_row *r)
{
	struct deliveries_out *o = arg;
	if (o->arr) {
		json_t *j = json_object();
		json_object_set_new(j, "id", json_integer(r->id));
		json_object_set_new(j, "email",
		                    r->subscriber_id ? json_string(r->email) : json_null());
		json_object_set_new(j, "state", json_string(bl_delivery_state_name(r->state)));
		json_object_set_new(j, "attempts", json_integer(r->attempts));
		json_object_set_new(j, "in_doubt", json_boolean(r->in_doubt));
		json_object_set_new(j, "code", r->code ? json_integer(r->code) : json_null());
		json_object_set_new(j, "reply", json_string(r->reply ? r->reply : ""));
		json_object_set_new(j, "queue_id", json_string(r->queue_id ? r->queue_id : ""));
		json_object_set_new(j, "relay", json_string(r->relay ? r->relay : ""));
		json_object_set_new(j, "updated_at", bl_json_time(r->updated_at));
		json_object_set_new(j, "next_try",
		                    r->state == BL_DELIVERY_DEFERRED ? bl_json_time(r->next_try)
		                                                     : json_null());
		json_array_append_new(o->arr, j);
	} else {
		if (o->n == 0)
			printf("%10s  %-10s  %-40s  %4s  %s\n", "ID", "STATE", "EMAIL", "CODE",
			       "REPLY");
		char codebuf[16] = "-";
		if (r->code)
			snprintf(codebuf, sizeof(codebuf), "%d", r->code);
		printf("%10lld  %-10s  %-40s  %4s  %s\n", (long long)r->id,
		       bl_delivery_state_name(r->state), r->subscriber_id ? r->email : "(erased)",
		       codebuf, r->reply ? r->reply : "");
	}
	o->n++;
	return 0;
}

static int cmd_deliveries(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},        {"state", required_argument, NULL, 's'},
	    {"limit", required_argument, NULL, 'l'}, {"after", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},        {0}};
	int c, json = 0, code, state = -1;
	long long limit = 0, after = 0;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': {
			enum bl_delivery_state st;
			if (bl_delivery_state_parse(optarg, &st)) {
				bl_cli_error(
				    "--state must be pending, claimed, accepted, deferred, "
				    "failed or suppressed (got \"%s\")",
				    optarg);
				return BL_EXIT_USAGE;
			}
			state = (int)st;
			break;
		}
		case 'l':
		case 'a':
			if (bl_parse_int64(optarg, 0, INT64_MAX, c == 'l' ? &limit : &after)) {
				bl_cli_error("--%s must be a number >= 0 (got \"%s\")",
				             c == 'l' ? "limit" : "after", optarg);
				return BL_EXIT_USAGE;
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	const char *operand = bl_cli_operand(argc, argv, "post deliveries", "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_post p = {0};
	if ((code = load_post(cli, operand, &s, &p, NULL)))
		return code;
	struct deliveries_out o = {json ? json_array() : NULL, 0};
	int rc = s->ops->delivery_each(s, p.id, state, after, limit, print_delivery, &o);
	bl_post_clear(&p);
	if (rc) {
		json_decref(o.arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(o.arr);
	else if (o.n == 0)
		printf("no deliveries%s\n",
		       state >= 0 ? " in that state" : " (the post was not sent yet)");
	return BL_EXIT_OK;
}

static int transition(struct bl_cli *cli, int argc, char **argv, const char *verb,
                      unsigned from_mask, enum bl_post_status to)
{
	int code = bl_cli_simple_opts(argc, argv, usage, NULL);
	if (code >= 0)
		return code;
	char what[32];
	snprintf(what, sizeof(what), "post %s", verb);
	const char *operand = bl_cli_operand(argc, argv, what, "ID");
	if (!operand)
		return BL_EXIT_USAGE;
	struct bl_store *s;
	struct bl_post p = {0};
	if ((code = load_post(cli, operand, &s, &p, NULL)))
		return code;
	int rc = s->ops->post_set_status(
	    s, p.id, from_mask, to, to == BL_POST_PAUSED ? "paused by a person" : "", 0, bl_now());
	if (rc < 0) {
		bl_cli_error("%s", bl_store_error(s));
		code = BL_EXIT_STORE;
	} else if (rc == 0) {
		bl_cli_error("post %lld is %s; cannot %s it", (long long)p.id,
		             bl_post_status_name(p.status), verb);
		code = BL_EXIT_INPUT;
	} else {
		char action[24];
		snprintf(action, sizeof(action), "post.%s", verb);
		audit_post(s, action, p.id, NULL);
		printf("post %lld %s\n", (long long)p.id, bl_post_status_name(to));
	}
	bl_post_clear(&p);
	return code;
}

static int cmd_pause(struct bl_cli *cli, int argc, char **argv)
{
	return transition(cli, argc, argv, "pause", 1u << BL_POST_SENDING, BL_POST_PAUSED);
}

static int cmd_resume(struct bl_cli *cli, int argc, char **argv)
{
	return transition(cli, argc, argv, "resume", 1u << BL_POST_PAUSED, BL_POST_SENDING);
}

static int cmd_cancel(struct bl_cli *cli, int argc, char **argv)
{
	return transition(cli, argc, argv, "cancel",
	                  1u << BL_POST_DRAFT | 1u << BL_POST_SCHEDULED | 1u << BL_POST_SENDING |
	                      1u << BL_POST_PAUSED,
	                  BL_POST_CANCELLED);
}

int bl_cmd_post(struct bl_cli *cli, int argc, char **argv)
{
	static const struct bl_subcommand subs[] = {
	    {"create", cmd_create},     {"ls", cmd_ls},
	    {"show", cmd_show},         {"preview", cmd_preview},
	    {"send", cmd_send},         {"status", cmd_status},
	    {"pause", cmd_pause},       {"resume", cmd_resume},
	    {"cancel", cmd_cancel},     {"deliveries", cmd_deliveries},
	    {"schedule", cmd_schedule}, {"unschedule", cmd_unschedule},
	};
	return bl_cli_dispatch(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), usage,
	                       "post");
}
