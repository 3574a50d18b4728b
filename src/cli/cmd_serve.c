/*
 * bulletin serve: the public web (src/http), the delivery engine
 * (src/send, which also runs the scheduler), the import job runner
 * (src/import/job.h), the feed poller (src/feed/poll.h) and, with config
 * bounce_mailbox, the bounce mailbox poller (cmd_bounce.c) in one process.
 * The HTTP workers, the engine, the job runner and the poller each have
 * their own store handle (the runner two: one for
 * its job's heartbeat); the database is the only thing they share
 * (DESIGN.md, "Process model"). SIGINT/SIGTERM stop the HTTP server
 * (requests in progress finish), then the engine (messages in flight
 * finish), the job runner (an import stops after its batch; a runner
 * starts it over once its heartbeat is BL_JOB_TAKEOVER seconds old) and
 * the poller (its fetch in progress is abandoned), then exit 0.
 */
#include "cli/cli.h"

#include "core/address.h"
#include "http/admin.h"
#include "http/web.h"
#include "bounce/mailbox.h"
#include "feed/poll.h"
#include "import/job.h"
#include "send/compose.h"
#include "send/engine.h"
#include "util/log.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: bulletin serve [--listen HOST:PORT] [--no-engine]\n"
    "\n"
    "Serve the public web pages (signup, confirmation, unsubscribe, preference\n"
    "centre, archive, Atom and JSON feeds, /healthz, /metrics) and run the\n"
    "delivery engine, which sends confirmation mail ahead of every post.\n"
    "  --listen HOST:PORT  where to listen (config `listen`, default\n"
    "                      127.0.0.1:8080; port 0 picks a free port)\n"
    "  --no-engine         web only: another `bulletin send` delivers\n"
    "Prints \"listening on http://HOST:PORT/\" once it accepts connections.\n"
    "SIGINT, SIGTERM or SIGHUP stop it cleanly.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct engine_thread {
	struct bl_cli *cli;
	struct bl_store *store; /* the engine's own handle; NULL while it cannot be opened */
	const char *db_uri;
	struct bl_store_opts db_opts;
	int rc;
	struct bl_diag d;
};

/* Seconds between restarts of the engine after an error (a lock held too long, a
 * lost database connection). */
#define ENGINE_RETRY 5

/* Sleep @seconds unless a stop is asked for first. */
static void nap(int seconds)
{
	for (int i = 0; i < seconds * 10 && !stop_flag; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/*
 * The engine runs until a stop. An error does not end it for good: it is
 * logged and the engine starts again (with a new store handle) after
 * ENGINE_RETRY seconds, so a database restart or a long lock does not leave
 * confirmation mail queued forever. Only another engine holding the SQLite
 * database (`bulletin send`) makes this server web-only.
 */
static void *engine_main(void *arg)
{
	struct engine_thread *t = arg;
	while (!stop_flag) {
		struct bl_engine_opts o = {
		    .store = t->store,
		    .config = t->cli->config,
		    .stop = &stop_flag,
		    .digests = 1,
		};
		struct bl_cli_reject_hook hook = {0};
		t->rc = !t->store ? -BL_ESTORE
		        : bl_cli_reject_hook_init(t->cli, t->store, &hook, &o, &t->d)
		            ? -BL_EINVAL
		            : bl_engine_run(&o, NULL, &t->d);
		bl_cli_reject_hook_finish(&hook);
		if (t->rc == 0 || stop_flag)
			break;
		if (t->rc == -BL_EBUSY && strstr(t->d.msg, "another delivery engine")) {
			bl_warn("%s: this server only serves the web; that engine delivers",
			        t->d.msg);
			break;
		}
		bl_error("the delivery engine stopped: %s; starting it again in %d s",
		         t->store ? t->d.msg : "no database connection", ENGINE_RETRY);
		nap(ENGINE_RETRY);
		bl_store_close(t->store);
		t->store = NULL;
		if (bl_store_open(t->db_uri, &t->db_opts, &t->store, &t->d)) {
			bl_error("the delivery engine cannot open the database: %s", t->d.msg);
			t->store = NULL;
		}
	}
	return NULL;
}

struct job_thread {
	struct bl_cli *cli;
	struct bl_store *store; /* the runner's own handle; NULL while it cannot be opened */
	const char *db_uri;
	struct bl_store_opts db_opts;
};

/* The heartbeat's own handle (job.h), NULL when it cannot be opened. */
static struct bl_store *open_beat(struct job_thread *t)
{
	struct bl_store *beat = NULL;
	struct bl_diag d;
	if (bl_store_open(t->db_uri, &t->db_opts, &beat, &d)) {
		bl_warn("the import job heartbeat cannot open the database: %s", d.msg);
		return NULL;
	}
	return beat;
}

/*
 * The import job runner: looks for a queued job every second and runs it.
 * A job left running whose heartbeat is BL_JOB_TAKEOVER seconds old is
 * taken over first: its runner (this server before a restart, or another
 * server on the same PostgreSQL database) died or hangs, and an import run
 * again never duplicates. A live runner's job is never taken: its
 * heartbeat thread writes at least every BL_JOB_HEARTBEAT seconds. A store
 * error is logged and the runner tries again with new handles after
 * ENGINE_RETRY seconds.
 */
static void *jobs_main(void *arg)
{
	struct job_thread *t = arg;
	const struct bl_config *c = t->cli->config;
	struct bl_import_job_opts o = {
	    .address_flags = bl_config_bool(c, "smtputf8") ? BL_ADDRESS_SMTPUTF8 : 0,
	    .allow_role = bl_config_bool(c, "import_role_addresses"),
	    .batch = (size_t)bl_config_int(c, "import_batch"),
	    .takeover = BL_JOB_TAKEOVER,
	    .beat = open_beat(t),
	    .stop = &stop_flag,
	};
	while (!stop_flag) {
		struct bl_diag d;
		int64_t id = 0;
		int rc = t->store ? bl_import_job_run(t->store, bl_now(), &o, &id, &d) : -BL_ESTORE;
		if (rc == 1)
			continue; /* another job may wait */
		if (rc == 0) {
			nap(1);
			continue;
		}
		bl_error("the import job runner: %s; trying again in %d s",
		         t->store ? d.msg : "no database connection", ENGINE_RETRY);
		nap(ENGINE_RETRY);
		bl_store_close(t->store);
		bl_store_close(o.beat);
		t->store = NULL;
		if (bl_store_open(t->db_uri, &t->db_opts, &t->store, &d)) {
			bl_error("the import job runner cannot open the database: %s", d.msg);
			t->store = NULL;
		}
		o.beat = t->store ? open_beat(t) : NULL;
	}
	bl_store_close(o.beat);
	return NULL;
}

struct feed_thread {
	struct bl_cli *cli;
	struct bl_store *store; /* the poller's own handle; NULL while it cannot be opened */
	const char *db_uri;
	struct bl_store_opts db_opts;
};

/*
 * The feed poller: every second, polls the feeds that are due (store op
 * feed_due), one after the other, each within feed_timeout. Their new posts
 * are scheduled for now, so the engine's scheduler sends them. A failed poll
 * is recorded on its feed (poll.h); a store error is logged and the poller
 * tries again with a new handle after ENGINE_RETRY seconds.
 */
static void *feeds_main(void *arg)
{
	struct feed_thread *t = arg;
	struct bl_fetch_opts fo;
	bl_web_fetch_opts(t->cli->config, &fo);
	fo.stop = &stop_flag; /* a shutdown abandons the fetch in progress */
	while (!stop_flag) {
		struct bl_diag d;
		int64_t ids[16];
		size_t n = 0;
		int rc = t->store ? t->store->ops->feed_due(t->store, bl_now(), ids, 16, &n)
		                  : -BL_ESTORE;
		if (rc)
			snprintf(d.msg, sizeof(d.msg), "%s",
			         t->store ? bl_store_error(t->store) : "no database connection");
		for (size_t i = 0; rc == 0 && i < n && !stop_flag; i++) {
			struct bl_feed_poll_report r;
			rc = bl_feed_poll(t->store, ids[i], &fo, bl_now(), &r, &d);
			if (rc == -BL_ENOENT)
				rc = 0; /* removed meanwhile */
		}
		if (rc == 0) {
			if (n < 16)
				nap(1);
			continue;
		}
		if (stop_flag)
			break;
		bl_error("the feed poller: %s; trying again in %d s", d.msg, ENGINE_RETRY);
		nap(ENGINE_RETRY);
		bl_store_close(t->store);
		t->store = NULL;
		if (bl_store_open(t->db_uri, &t->db_opts, &t->store, &d)) {
			bl_error("the feed poller cannot open the database: %s", d.msg);
			t->store = NULL;
		}
	}
	return NULL;
}

struct bounce_thread {
	struct bl_cli *cli;
	struct bl_store *store; /* the poller's own handle; NULL while it cannot be opened */
	const char *db_uri;
	struct bl_store_opts db_opts;
};

/*
 * The bounce mailbox poller (config bounce_mailbox): polls it every
 * bounce_mailbox_every seconds (bl_cli_bounce_poll). A stop abandons the
 * command in progress; handled messages are removed as they go, so nothing
 * is lost. A failed poll is logged and tried again at the next period; a
 * store error also reopens the handle.
 */
static void *bounces_main(void *arg)
{
	struct bounce_thread *t = arg;
	int every = (int)bl_config_int(t->cli->config, "bounce_mailbox_every");
	while (!stop_flag) {
		struct bl_diag d = {{0}};
		struct bl_mailbox_stats st = {0};
		int rc = t->store ? bl_cli_bounce_poll(t->cli, t->store, NULL, NULL, &stop_flag,
		                                       &st, NULL, &d)
		                  : -BL_ESTORE;
		if (stop_flag)
			break;
		if (rc == 0 && st.seen)
			bl_info("bounce mailbox: %zu messages, %zu handled, %zu kept", st.seen,
			        st.processed, st.kept);
		if (rc)
			bl_error("the bounce mailbox poller: %s; trying again in %d s",
			         t->store ? d.msg : "no database connection", every);
		if (rc == -BL_ESTORE || rc == -BL_EBUSY || !t->store) {
			bl_store_close(t->store);
			t->store = NULL;
			if (bl_store_open(t->db_uri, &t->db_opts, &t->store, &d)) {
				bl_error("the bounce mailbox poller cannot open the database: %s",
				         d.msg);
				t->store = NULL;
			}
		}
		nap(every);
	}
	return NULL;
}

/* What a confirmation mail needs, checked before anyone can sign up. */
static int check_mail_settings(struct bl_cli *cli)
{
	struct bl_compose_opts co;
	struct bl_secret dummy = {{0}};
	struct bl_diag d;
	char name[BL_NAME_MAX + 1], addr[BL_ADDRESS_MAX + 1];
	bl_compose_opts_from_config(cli->config, &dummy, &co);
	if (bl_sender_parse(co.from, co.address_flags, name, sizeof(name), addr, sizeof(addr),
	                    &d)) {
		bl_cli_error("%s (confirmation mail needs a sender)", d.msg);
		return BL_EXIT_USAGE;
	}
	return BL_EXIT_OK;
}

int bl_cmd_serve(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"listen", required_argument, NULL, 'l'},
	                                     {"no-engine", no_argument, NULL, 'n'},
	                                     {0}};
	const char *listen = NULL;
	int c, no_engine = 0, code;
	struct bl_store *s;
	struct bl_web w;
	struct bl_diag d;
	struct bl_http_server *srv = NULL;
	struct engine_thread et = {.cli = cli};
	pthread_t engine, jobs, feeds, bounces;
	int engine_started = 0, bounces_started = 0;
	struct bounce_thread bt = {.cli = cli};
	struct job_thread jt = {.cli = cli};
	struct feed_thread ft = {.cli = cli};

	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'l')
			listen = optarg;
		else if (c == 'n')
			no_engine = 1;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	if (!listen)
		listen = bl_config_str(cli->config, "listen");
	if ((code = check_mail_settings(cli)))
		return code;
	if (*bl_config_str(cli->config, "bounce_mailbox") && bl_cli_bounce_check(cli, &d)) {
		bl_cli_error("bounce_mailbox: %s", d.msg);
		return BL_EXIT_INPUT;
	}
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	memset(&w, 0, sizeof(w));
	if (bl_web_init(&w, cli->config, s, &d)) {
		bl_cli_error("%s", d.msg);
		bl_web_finish(&w);
		return BL_EXIT_USAGE;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL); /* a closed terminal: stop cleanly, not die mid-request */
	signal(SIGPIPE, SIG_IGN);
	stop_flag = 0;

	size_t n_routes;
	const struct bl_http_route *table = bl_web_routes(&n_routes);
	/* A copy whose CSV upload route takes config import_max bytes. */
	struct bl_http_route *routes = bl_xcalloc(n_routes, sizeof(*routes));
	memcpy(routes, table, n_routes * sizeof(*routes));
	bl_api_configure(routes, n_routes, (size_t)bl_config_int(cli->config, "import_max"));
	bl_admin_configure(routes, n_routes, (size_t)bl_config_int(cli->config, "import_max"));
	struct bl_http_opts ho = {
	    .listen = listen,
	    .routes = routes,
	    .n_routes = n_routes,
	    .app = &w,
	    .db_uri = bl_config_str(cli->config, "db"),
	    .db_opts = {.busy_timeout_ms =
	                    (int)(bl_config_int(cli->config, "db_busy_timeout") * 1000),
	                .must_exist = 1},
	    .threads = (int)bl_config_int(cli->config, "http_threads"),
	    .body_max = (size_t)bl_config_int(cli->config, "http_body_max"),
	    .header_max = (size_t)bl_config_int(cli->config, "http_header_max"),
	    .per_ip_connections = (unsigned)bl_config_int(cli->config, "http_connections_per_ip"),
	    .gate = bl_auth_gate,
	};
	if (bl_http_start(&ho, &srv, &d)) {
		bl_cli_error("%s", d.msg);
		free(routes);
		bl_web_finish(&w);
		return BL_EXIT_USAGE;
	}
	w.server = srv;

	if (!no_engine) {
		et.db_uri = ho.db_uri;
		et.db_opts = ho.db_opts;
		if (bl_store_open(et.db_uri, &et.db_opts, &et.store, &d)) {
			bl_cli_error("%s", d.msg);
			bl_http_stop(srv);
			free(routes);
			bl_web_finish(&w);
			return BL_EXIT_STORE;
		}
		if (pthread_create(&engine, NULL, engine_main, &et) != 0)
			bl_panic("cannot start the engine thread");
		engine_started = 1;
	}

	jt.db_uri = ho.db_uri;
	jt.db_opts = ho.db_opts;
	if (bl_store_open(jt.db_uri, &jt.db_opts, &jt.store, &d)) {
		bl_cli_error("%s", d.msg);
		stop_flag = 1;
		if (engine_started)
			pthread_join(engine, NULL);
		bl_store_close(et.store);
		bl_http_stop(srv);
		free(routes);
		bl_web_finish(&w);
		return BL_EXIT_STORE;
	}
	if (pthread_create(&jobs, NULL, jobs_main, &jt) != 0)
		bl_panic("cannot start the import job thread");
	ft.db_uri = ho.db_uri;
	ft.db_opts = ho.db_opts;
	if (bl_store_open(ft.db_uri, &ft.db_opts, &ft.store, &d))
		bl_error("the feed poller cannot open the database: %s; it tries again later",
		         d.msg);
	if (pthread_create(&feeds, NULL, feeds_main, &ft) != 0)
		bl_panic("cannot start the feed poller thread");
	if (*bl_config_str(cli->config, "bounce_mailbox")) {
		bt.db_uri = ho.db_uri;
		bt.db_opts = ho.db_opts;
		if (bl_store_open(bt.db_uri, &bt.db_opts, &bt.store, &d))
			bl_error("the bounce mailbox poller cannot open the database: %s; it tries "
			         "again later",
			         d.msg);
		if (pthread_create(&bounces, NULL, bounces_main, &bt) != 0)
			bl_panic("cannot start the bounce mailbox poller thread");
		bounces_started = 1;
	}

	/* The host as the listen string gave it, the port as bound. */
	char host[300];
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : 0;
	if (hl >= sizeof(host))
		hl = sizeof(host) - 1;
	memcpy(host, listen, hl);
	host[hl] = 0;
	printf("listening on http://%s:%d/\n", *host ? host : "127.0.0.1", bl_http_port(srv));
	printf("public_url is %s\n", w.public_url);
	fflush(stdout);

	while (!stop_flag) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	bl_info("stopping: finishing the requests and messages in flight");
	bl_http_stop(srv);
	free(routes);
	w.server = NULL;
	if (engine_started) {
		pthread_join(engine, NULL);
		bl_store_close(et.store);
	}
	pthread_join(jobs, NULL);
	bl_store_close(jt.store);
	pthread_join(feeds, NULL);
	bl_store_close(ft.store);
	if (bounces_started) {
		pthread_join(bounces, NULL);
		bl_store_close(bt.store);
	}
	bl_web_finish(&w);
	return BL_EXIT_OK;
}
