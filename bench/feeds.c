/*
 * bench_feeds: the CPU cost of reading feeds, without HTTP or a database.
 * Each file is read into memory once, then parsed REPS times in turn
 * (bl_feed_parse, as the poller calls it, with the document's URL so
 * relative links resolve); with "full", each item also gets its key
 * (bl_feed_item_key) and its content, else summary, sanitised
 * (bl_html_sanitize against the item's base, else the feed's link) as
 * bl_feed_entries does for an item it has not seen: the per-item work of
 * a first poll apart from the store. bench/feeds.sh runs it.
 *
 *   bench_feeds parse|full REPS FILE...
 *
 * Prints one line of numbers: bytes, items (both summed over every
 * repetition), wall seconds, CPU seconds (CLOCK_PROCESS_CPUTIME_ID).
 */
#include "feed/parse.h"
#include "feed/poll.h"
#include "feed/sanitize.h"
#include "util/buf.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_URL "https://feeds.example/feed.xml"

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	struct bl_buf b;
	bl_buf_init(&b, 0);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bl_buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return bl_buf_take(&b);
}

/* The per-item work of a new item: its key and its sanitised body. Returns bytes of HTML out. */
static size_t item_work(const struct bl_feed_doc *doc, const struct bl_feed_item *it)
{
	char key[BL_FEED_KEY_HEX];
	bl_feed_item_key(it, key);
	const char *html = it->content && *it->content ? it->content
	                   : it->summary               ? it->summary
	                                               : "";
	const char *base = it->base && *it->base ? it->base : doc->link;
	struct bl_buf out;
	struct bl_diag d;
	bl_buf_init(&out, 0);
	if (bl_html_sanitize(html, strlen(html), base, &out, &d) != 0)
		fprintf(stderr, "bench_feeds: item \"%s\": %s\n", it->title, d.msg);
	size_t n = out.len + (key[0] != 0);
	bl_buf_finish(&out);
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "parse") && strcmp(argv[1], "full"))) {
		fprintf(stderr, "usage: bench_feeds parse|full REPS FILE...\n");
		return 2;
	}
	int full = strcmp(argv[1], "full") == 0;
	long reps = atol(argv[2]);
	int nf = argc - 3;
	char **data = bl_xcalloc((size_t)nf, sizeof(*data));
	size_t *len = bl_xcalloc((size_t)nf, sizeof(*len));
	for (int i = 0; i < nf; i++)
		data[i] = slurp(argv[3 + i], &len[i]);

	unsigned long long bytes = 0, items = 0, html_out = 0;
	double w0 = bl_monotonic(), c0 = cpu_seconds();
	for (long r = 0; r < reps; r++)
		for (int i = 0; i < nf; i++) {
			struct bl_feed_doc doc;
			struct bl_diag d;
			if (bl_feed_parse(data[i], len[i], BENCH_URL, NULL, &doc, &d) != 0) {
				fprintf(stderr, "bench_feeds: %s: %s\n", argv[3 + i], d.msg);
				return 1;
			}
			bytes += len[i];
			items += doc.n_items;
			for (size_t k = 0; full && k < doc.n_items; k++)
				html_out += item_work(&doc, &doc.items[k]);
			bl_feed_doc_clear(&doc);
		}
	double wall = bl_monotonic() - w0, cpu = cpu_seconds() - c0;
	printf("%llu %llu %.3f %.3f %llu\n", bytes, items, wall, cpu, html_out);
	for (int i = 0; i < nf; i++)
		free(data[i]);
	free(data);
	free(len);
	return 0;
}
