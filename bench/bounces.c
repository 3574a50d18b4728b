/*
 * bench_bounces: the CPU cost of reading bounce reports, without a
 * mailbox or a database. Each file is read into memory once, then
 * analysed REPS times in turn by bl_bounce_analyze (the MIME parse of
 * src/mime/report.c, the classification and the heuristics), as the
 * intake calls it for one message.
 *
 *   bench_bounces REPS FILE|DIR...   (a DIR: every file in it, in name order)
 *   bench_bounces --dump FILE|DIR... (no timing: each file's parse and analysis
 *                                     as text, to compare two builds' results)
 *
 * Prints one line: messages (summed over every repetition), findings,
 * wall seconds, CPU seconds (CLOCK_PROCESS_CPUTIME_ID), messages/s of CPU.
 */
#include "bounce/bounce.h"
#include "mime/report.h"
#include "util/buf.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

struct files {
	char **path;
	size_t n, cap;
};

static void add_path(struct files *fs, char *p)
{
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? 2 * fs->cap : 256;
		fs->path = bl_xreallocarray(fs->path, fs->cap, sizeof(*fs->path));
	}
	fs->path[fs->n++] = p;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @arg itself, or every regular file in directory @arg in name order. */
static void add_arg(struct files *fs, const char *arg)
{
	struct stat st;
	if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
		add_path(fs, bl_xstrdup(arg));
		return;
	}
	DIR *d = opendir(arg);
	if (!d) {
		perror(arg);
		exit(1);
	}
	size_t first = fs->n;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct bl_buf b;
		bl_buf_init(&b, 0);
		bl_buf_addf(&b, "%s/%s", arg, e->d_name);
		if (stat(bl_buf_str(&b), &st) == 0 && S_ISREG(st.st_mode))
			add_path(fs, bl_buf_take(&b));
		else
			bl_buf_finish(&b);
	}
	closedir(d);
	qsort(fs->path + first, fs->n - first, sizeof(*fs->path), cmp_str);
}

/* One line of text with its control characters escaped. */
static void put(const char *label, const char *s)
{
	printf(" %s=\"", label);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c == '"' || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Everything bl_report_parse and bl_bounce_analyze make of one message. */
static void dump(const char *path, const char *msg, size_t len)
{
	printf("== %s\n", path);
	struct bl_report r;
	struct bl_diag d;
	if (bl_report_parse(msg, len, &r, &d) != 0) {
		printf("parse error: %s\n", d.msg);
	} else {
		printf("report:");
		put("content_type", r.content_type);
		put("report_type", r.report_type);
		printf(" has_dsn=%d complete=%d\n", r.has_dsn, r.original_complete);
		for (size_t i = 0; i < r.n_headers; i++) {
			printf("header:");
			put(r.headers[i].name, r.headers[i].value);
			putchar('\n');
		}
		printf("dsn:");
		put("mta", r.dsn.reporting_mta);
		put("arrival", r.dsn.arrival_date);
		put("envid", r.dsn.original_envid);
		putchar('\n');
		for (size_t i = 0; i < r.dsn.n_rcpts; i++) {
			const struct bl_report_rcpt *x = &r.dsn.rcpts[i];
			printf("rcpt:");
			put("final", x->final_recipient);
			put("orig", x->original_recipient);
			put("action", x->action);
			put("status", x->status);
			put("dtype", x->diagnostic_type);
			put("diag", x->diagnostic);
			put("remote", x->remote_mta);
			put("last", x->last_attempt_date);
			putchar('\n');
		}
		const struct bl_report_arf *a = &r.arf;
		printf("arf: present=%d port=%d arrival=%lld incidents=%d", a->present,
		       a->source_port, (long long)a->arrival_date, a->incidents);
		put("type", a->feedback_type);
		put("ua", a->user_agent);
		put("version", a->version);
		put("from", a->original_mail_from);
		put("rcpt", a->original_rcpt_to);
		put("envid", a->original_envelope_id);
		put("mta", a->reporting_mta);
		put("ip", a->source_ip);
		put("auth", a->auth_failure);
		put("result", a->delivery_result);
		put("align", a->identity_alignment);
		put("dkim", a->dkim_domain);
		put("dkim_id", a->dkim_identity);
		put("dkim_sel", a->dkim_selector);
		put("dkim_h", a->dkim_canonicalized_header);
		put("dkim_b", a->dkim_canonicalized_body);
		put("spf", a->spf_dns);
		for (size_t i = 0; i < a->n_reported_domain; i++)
			put("domain", a->reported_domain[i]);
		for (size_t i = 0; i < a->n_reported_uri; i++)
			put("uri", a->reported_uri[i]);
		for (size_t i = 0; i < a->n_authentication_results; i++)
			put("ar", a->authentication_results[i]);
		putchar('\n');
		printf("text:");
		put("", r.text);
		putchar('\n');
		printf("original:");
		put("", r.original_headers);
		putchar('\n');
		bl_report_clear(&r);
	}
	struct bl_bounce_report b;
	if (bl_bounce_analyze(msg, len, NULL, &b, &d) != 0) {
		printf("analyze error: %s\n", d.msg);
		return;
	}
	printf("analysis: kind=%s key=%s", bl_report_kind_name(b.kind), b.key);
	put("envelope_to", b.envelope_to);
	put("mid", b.original_message_id);
	put("list", b.original_list_id);
	put("to", b.original_to);
	put("subject", b.subject);
	put("from", b.from);
	putchar('\n');
	for (size_t i = 0; i < b.n_findings; i++) {
		const struct bl_bounce_finding *f = &b.findings[i];
		printf("finding: class=%s code=%d final=%d", bl_bounce_class_name(f->cls),
		       f->reply_code, f->final);
		put("rcpt", f->recipient);
		put("reason", f->reason);
		put("status", f->status);
		put("ft", f->feedback_type);
		put("diag", f->diagnostic);
		putchar('\n');
	}
	bl_bounce_report_clear(&b);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_bounces REPS FILE|DIR...\n"
		                "       bench_bounces --dump FILE|DIR...\n");
		return 2;
	}
	int dumping = strcmp(argv[1], "--dump") == 0;
	long reps = dumping ? 1 : atol(argv[1]);
	struct files fs = {0};
	for (int i = 2; i < argc; i++)
		add_arg(&fs, argv[i]);
	size_t nf = fs.n;
	char **data = bl_xcalloc(nf ? nf : 1, sizeof(*data));
	size_t *len = bl_xcalloc(nf ? nf : 1, sizeof(*len));
	for (size_t i = 0; i < nf; i++)
		data[i] = slurp(fs.path[i], &len[i]);
	if (dumping) {
		for (size_t i = 0; i < nf; i++)
			dump(fs.path[i], data[i], len[i]);
	} else {
		unsigned long long msgs = 0, findings = 0;
		double w0 = bl_monotonic(), c0 = cpu_seconds();
		for (long r = 0; r < reps; r++)
			for (size_t i = 0; i < nf; i++) {
				struct bl_bounce_report rep;
				struct bl_diag d;
				if (bl_bounce_analyze(data[i], len[i], NULL, &rep, &d) == 0) {
					findings += rep.n_findings;
					bl_bounce_report_clear(&rep);
				}
				msgs++;
			}
		double wall = bl_monotonic() - w0, cpu = cpu_seconds() - c0;
		printf("%llu %llu %.3f %.3f %.0f\n", msgs, findings, wall, cpu,
		       cpu > 0 ? msgs / cpu : 0);
	}
	for (size_t i = 0; i < nf; i++) {
		free(data[i]);
		free(fs.path[i]);
	}
	free(fs.path);
	free(data);
	free(len);
	return 0;
}
