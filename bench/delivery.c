/*
 * Delivery benchmark: how fast the store queues a post and how fast the
 * engine's turn (delivery_exchange) runs, on either backend. Each step is a
 * separate run so that its peak RSS is its own (bench/delivery.sh drives it):
 *
 *   bench_delivery setup URI N [M]   migrate, list "all" with N confirmed
 *                                    subscribers, list "part" with the first M
 *   bench_delivery queue URI LIST    create a post to LIST and queue it
 *   bench_delivery drain URI BATCH [MAX]
 *                                    run engine turns (claim BATCH, record
 *                                    the previous BATCH as accepted) until no
 *                                    row is left (or MAX rows were claimed)
 *
 * Each prints one line: what it did, seconds, rate, peak RSS (KiB).
 */
#include "store/store.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static long peak_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int die(struct bl_store *s, const char *what, int rc)
{
	fprintf(stderr, "bench_delivery: %s: %s (%s)\n", what, bl_strerror(rc),
	        s ? bl_store_error(s) : "");
	exit(1);
}

static int64_t list_id(struct bl_store *s, const char *slug)
{
	struct bl_list l = {0};
	int rc = s->ops->list_get(s, slug, &l);
	if (rc != 1)
		die(s, slug, rc < 0 ? rc : -BL_ENOENT);
	int64_t id = l.id;
	bl_list_clear(&l);
	return id;
}

static void setup(struct bl_store *s, long n, long m)
{
	int from, to, rc;
	if ((rc = s->ops->migrate(s, &from, &to)))
		die(s, "migrate", rc);
	struct bl_list all = {.slug = "all", .name = "All", .description = ""};
	struct bl_list part = {.slug = "part", .name = "Part", .description = ""};
	if ((rc = s->ops->list_create(s, &all)) || (rc = s->ops->list_create(s, &part)))
		die(s, "list_create", rc);
	enum { BATCH = 5000 };
	struct bl_import_change *ch = bl_xcalloc(2 * BATCH, sizeof(*ch));
	char(*email)[64] = bl_xcalloc(BATCH, sizeof(*email));
	double t0 = bl_monotonic();
	int64_t now = bl_now();
	for (long base = 0; base < n; base += BATCH) {
		size_t k = 0;
		for (long i = base; i < n && i < base + BATCH; i++) {
			char *e = email[i - base];
			snprintf(e, sizeof(email[0]), "reader.%07ld@example%ld.org", i, i % 13);
			ch[k++] = (struct bl_import_change){.insert_subscriber = 1,
			                                    .insert_subscription = 1,
			                                    .email = e,
			                                    .email_key = e,
			                                    .name = "Reader",
			                                    .attributes = "{\"plan\":\"pro\"}",
			                                    .status_reason = "",
			                                    .created_at = now,
			                                    .sub_created_at = now,
			                                    .updated_at = now,
			                                    .list_id = all.id,
			                                    .sub_status = BL_SUB_CONFIRMED};
		}
		size_t first = k;
		if ((rc = s->ops->import_apply(s, k, ch)))
			die(s, "import_apply", rc);
		k = 0;
		for (long i = base; i < m && i < base + BATCH; i++)
			ch[first + k++] =
			    (struct bl_import_change){.subscriber_id = ch[i - base].subscriber_id,
			                              .insert_subscription = 1,
			                              .sub_created_at = now,
			                              .updated_at = now,
			                              .list_id = part.id,
			                              .sub_status = BL_SUB_CONFIRMED};
		if (k && (rc = s->ops->import_apply(s, k, ch + first)))
			die(s, "import_apply", rc);
	}
	double t = bl_monotonic() - t0;
	printf("setup: %ld subscribers (%ld on part) in %.2f s; peak RSS %ld KiB\n", n, m, t,
	       peak_kib());
	free(ch);
	free(email);
}

static void queue(struct bl_store *s, const char *slug)
{
	int64_t list = list_id(s, slug);
	struct bl_post p = {.subject = "Bench", .body = "Hello {{name}}", .from_header = ""};
	int rc = s->ops->post_create(s, &p, &list, 1);
	if (rc)
		die(s, "post_create", rc);
	long before = peak_kib();
	double t0 = bl_monotonic();
	int64_t total = 0;
	rc = s->ops->post_queue(s, p.id, bl_now(), &total);
	double t = bl_monotonic() - t0;
	if (rc != 1)
		die(s, "post_queue", rc < 0 ? rc : -BL_ESTORE);
	printf("queue: %" PRId64 " rows in %.2f s (%.0f rows/s); peak RSS %ld KiB (%ld before)\n",
	       total, t, total / t, peak_kib(), before);
}

static void drain(struct bl_store *s, size_t batch, size_t max_rows)
{
	struct bl_claimed *c = bl_xcalloc(batch, sizeof(*c));
	struct bl_delivery_result *r = bl_xcalloc(batch, sizeof(*r));
	size_t nr = 0, n = 0, stale = 0, finished = 0, rows = 0, turns = 0, done = 0;
	int64_t n_back = 0;
	int rc = s->ops->engine_lock(s, "bench");
	if (rc == 0)
		rc = s->ops->delivery_reclaim(s, bl_now(), 1, &n_back);
	if (rc)
		die(s, "engine start", rc);
	double t0 = bl_monotonic();
	for (;;) {
		int64_t now = bl_now();
		rc = s->ops->delivery_exchange(s, "bench", now, now + 600, r, nr, batch, c, &n,
		                               &stale, &finished);
		if (rc)
			die(s, "delivery_exchange", rc);
		turns++;
		done += finished;
		if (stale)
			die(s, "stale results", -BL_ESTORE);
		if (n == 0 || (max_rows && rows >= max_rows))
			break;
		rows += n;
		for (size_t i = 0; i < n; i++) {
			r[i] = (struct bl_delivery_result){.delivery_id = c[i].delivery_id,
			                                   .state = BL_DELIVERY_ACCEPTED,
			                                   .code = 250,
			                                   .reply = "2.0.0 Ok: queued as 4ABCDEF",
			                                   .queue_id = "4ABCDEF",
			                                   .relay = "smtp://127.0.0.1:25"};
			bl_claimed_clear(&c[i]);
		}
		nr = n;
	}
	double t = bl_monotonic() - t0;
	printf("drain: %zu rows in %zu exchanges (batch %zu) in %.2f s: %.0f exchanges/s, %.0f "
	       "rows/s; %zu posts finished; peak RSS %ld KiB\n",
	       rows, turns, batch, t, turns / t, rows / t, done, peak_kib());
	free(c);
	free(r);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_delivery setup URI N [M] | queue URI LIST | "
		                "drain URI BATCH [MAX]\n");
		return 2;
	}
	struct bl_store *s = NULL;
	struct bl_diag d = {{0}};
	struct bl_store_opts opts = {0};
	if (bl_store_open(argv[2], &opts, &s, &d) != 0) {
		fprintf(stderr, "bench_delivery: %s\n", d.msg);
		return 1;
	}
	if (strcmp(argv[1], "setup") == 0)
		setup(s, atol(argv[3]), argc > 4 ? atol(argv[4]) : 0);
	else if (strcmp(argv[1], "queue") == 0)
		queue(s, argv[3]);
	else if (strcmp(argv[1], "drain") == 0)
		drain(s, (size_t)atol(argv[3]), argc > 4 ? (size_t)atol(argv[4]) : 0);
	else
		return 2;
	bl_store_close(s);
	return 0;
}
