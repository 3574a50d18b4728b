/*
 * bench_archive_render: the CPU cost of one read-only page without HTTP.
 * Calls the route's handler (the archive, a post page, a feed) in a loop on
 * one thread with a request made up here, against an existing database,
 * and prints the CPU time per call (CLOCK_PROCESS_CPUTIME_ID, so other
 * load on the machine does not count), rendered every time (the page
 * cache off) and from the page cache. bench/archive.sh runs it; it shows
 * what the page costs apart from libmicrohttpd and the kernel.
 *
 *   bench_archive_render DB_URI PATH [ITERATIONS]
 *     PATH: /archive, /archive?before=ID, /archive/ID-SLUG, /feed.atom, ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "http/web.h"
#include "store/store.h"
#include "util/time.h"

extern char **environ;

int main(int argc, char **argv)
{
	struct bl_store_opts so = {0};
	struct bl_store *s = NULL;
	struct bl_config *cfg = bl_config_create();
	struct bl_web w;
	struct bl_diag d;
	size_t n_routes;
	const struct bl_http_route *routes = bl_web_routes(&n_routes), *route = NULL;
	char path[1024];
	const char *query = "";
	long iters = argc > 3 ? atol(argv[3]) : 2000;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_archive_render DB_URI PATH [ITERATIONS]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s", argv[2]);
	char *q = strchr(path, '?');
	if (q) {
		*q = '\0';
		query = q + 1;
	}
	if (bl_config_load_env(cfg, environ, &d) != 0 ||
	    bl_config_set(cfg, "db", argv[1], BL_ORIGIN_FLAG, "argv", &d) != 0 ||
	    bl_store_open(argv[1], &so, &s, &d) != 0 ||
	    bl_web_init(&w, cfg, s, &d) != 0) {
		fprintf(stderr, "bench_archive_render: %s\n", d.msg);
		return 1;
	}
	for (size_t i = 0; i < n_routes && !route; i++) {
		size_t len = strlen(routes[i].path);
		if (routes[i].prefix ? strncmp(path, routes[i].path, len) == 0
		                     : strcmp(path, routes[i].path) == 0)
			route = &routes[i];
	}
	if (!route) {
		fprintf(stderr, "bench_archive_render: no route for %s\n", path);
		return 1;
	}
	struct bl_http_req req = {
	    .method = BL_HTTP_GET,
	    .path = path,
	    .param = route->prefix ? path + strlen(route->path) : "",
	    .query = query,
	    .ip = "127.0.0.1",
	    .user_agent = "bench",
	    .content_type = "",
	    .body = "",
	    .store = s,
	    .app = &w,
	};
	struct bl_page_cache *cache = w.page_cache;
	for (int cached = 0; cached < 2; cached++) {
		size_t bytes = 0;
		int status = 0;
		struct timespec t0, t1;
		w.page_cache = cached ? cache : NULL;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		for (long i = 0; i < iters; i++) {
			struct bl_http_resp resp = {.status = 200, .no_store = 1};
			bl_buf_init(&resp.body, 16u << 20);
			route->fn(&req, &resp);
			bytes = resp.body.len;
			status = resp.status;
			for (size_t h = 0; h < resp.n_headers; h++)
				free(resp.headers[h].value);
			bl_buf_finish(&resp.body);
		}
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		double t = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("%s (%s): status %d, %zu bytes, %.1f us CPU per call (%ld calls)\n", argv[2],
		       cached ? "page cache" : "rendered", status, bytes, t / (double)iters * 1e6,
		       iters);
	}
	w.page_cache = cache;
	bl_web_finish(&w);
	bl_store_close(s);
	bl_config_destroy(cfg);
	return 0;
}
