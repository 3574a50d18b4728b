/*
 * bench_bounces: the CPU cost of reading bounce reports, without a
 * mailbox or a database. Each file is read into memory once, then
 * analysed REPS times in turn by bl_bounce_analyze (the MIME parse of
 * src/mime/report.c, the classification and the heuristics), as the
 * intake calls it for one message.
 *
 *   bench_bounces REPS FILE...
 *
 * Prints one line: messages (summed over every repetition), findings,
 * wall seconds, CPU seconds (CLOCK_PROCESS_CPUTIME_ID), messages/s of CPU.
 */
#include "bounce/bounce.h"
#include "util/buf.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_bounces REPS FILE...\n");
		return 2;
	}
	long reps = atol(argv[1]);
	int nf = argc - 2;
	char **data = bl_xcalloc((size_t)nf, sizeof(*data));
	size_t *len = bl_xcalloc((size_t)nf, sizeof(*len));
	for (int i = 0; i < nf; i++)
		data[i] = slurp(argv[2 + i], &len[i]);

	unsigned long long msgs = 0, findings = 0;
	double w0 = bl_monotonic(), c0 = cpu_seconds();
	for (long r = 0; r < reps; r++)
		for (int i = 0; i < nf; i++) {
			struct bl_bounce_report rep;
			struct bl_diag d;
			if (bl_bounce_analyze(data[i], len[i], NULL, &rep, &d) == 0) {
				findings += rep.n_findings;
				bl_bounce_report_clear(&rep);
			}
			msgs++;
		}
	double wall = bl_monotonic() - w0, cpu = cpu_seconds() - c0;
	printf("%llu %llu %.3f %.3f %.0f\n", msgs, findings, wall, cpu, cpu > 0 ? msgs / cpu : 0);
	for (int i = 0; i < nf; i++)
		free(data[i]);
	free(data);
	free(len);
	return 0;
}
