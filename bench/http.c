/*
 * The HTTP server core alone, for bench/http_core.sh: serves until SIGINT or
 * SIGTERM, then prints its metrics.
 *
 *   bench_http LISTEN THREADS DB_URI|-
 *
 * Routes: GET /hello, a dynamic page of 612 bytes (nginx's default index.html
 * is 615) formatted per request with the query and the peer's address;
 * POST /write, which stores the form's email as a new setting row (key
 * "bench-N") in a transaction of its own on the worker thread's store
 * (SQLite: one commit, one fsync, per request).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"
#include "store/store.h"
#include "util/buf.h"

static void hello(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_buf_addf(&resp->body,
	            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	            "<title>Hello</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n"
	            "</head>\n<body>\n<main>\n<h1>Hello from bulletin</h1>\n"
	            "<p>You asked for <code>%s</code> with the query <code>%s</code> from "
	            "<code>%s</code>.</p>\n",
	            req->path, req->query, req->ip);
	while (resp->body.len < 590)
		bl_buf_adds(&resp->body, "<p>Filler.</p>\n");
	bl_buf_adds(&resp->body, "</main>\n</body>\n</html>\n");
}

static atomic_long writes;

static void write_form(struct bl_http_req *req, struct bl_http_resp *resp)
{
	struct bl_form f;
	struct bl_diag d;
	if (bl_form_parse(req->body, req->body_len, &f, &d) != 0) {
		resp->status = 400;
		bl_buf_addf(&resp->body, "%s\n", d.msg);
		return;
	}
	const char *email = bl_form_get(&f, "email");
	char key[32];
	snprintf(key, sizeof(key), "bench-%ld", atomic_fetch_add(&writes, 1));
	if (!req->store || !email || req->store->ops->setting_set(req->store, key, email) != 0)
		resp->status = 500;
	bl_buf_adds(&resp->body, "thanks\n");
	bl_form_clear(&f);
}

static const struct bl_http_route routes[] = {
    {BL_HTTP_GET, "/hello", 0, "hello", hello, 0},
    {BL_HTTP_POST, "/write", 0, "write", write_form, 0},
};

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_http LISTEN THREADS DB_URI|-\n");
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server's threads inherit it */
	struct bl_http_opts o;
	memset(&o, 0, sizeof(o));
	o.listen = argv[1];
	o.threads = atoi(argv[2]);
	o.db_uri = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
	o.routes = routes;
	o.n_routes = sizeof(routes) / sizeof(routes[0]);
	o.per_ip_connections = 10000;
	o.max_connections = 10000;
	struct bl_http_server *srv;
	struct bl_diag d;
	if (bl_http_start(&o, &srv, &d) != 0) {
		fprintf(stderr, "bench_http: %s\n", d.msg);
		return 1;
	}
	printf("listening on port %d\n", bl_http_port(srv));
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	struct bl_buf m;
	bl_buf_init(&m, 0);
	bl_http_metrics(srv, &m);
	bl_http_stop(srv);
	fputs(bl_buf_str(&m), stdout);
	bl_buf_finish(&m);
	return 0;
}
