/*
 * bl_bounce_analyze against the public bounce corpora, read in place from
 * $BL_CORPORA (docs/bounces.md explains the measures):
 * - sisimai-set-of-emails: class agreement (sisimai's reason mapped onto our
 *   classes by expected_class() below) and recipient agreement per row of
 *   expected.tsv; the dos/ and mac/ copies (CRLF, CR line ends) must each give
 *   a report with a recipient; not/ must give no bounce;
 * - flufl-bounce: the set of failed addresses per file;
 * - php-bounce-handler: a recipient in every bounce, complaints as complaints,
 *   the unsubscribe request not a bounce.
 * Every disagreement goes to bounce_disagreements.tsv beside this binary; the
 * figures are asserted against floors at what the heuristics reach, so a
 * regression fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bounce/bounce.h"
#include "util/str.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Floors, in per cent of the rows or files. The targets are 95 for sisimai (class and
 * recipient) and flufl; every one is met, and each floor is at the figure reached when last
 * raised: sisimai class 95.2 (600/630), recipient 98.4 (620/630), worst family class 71.4
 * (lhost-ezweb), worst family recipient 80.0 (lhost-x3), dos/ 100, mac/ 100, flufl 96.0,
 * php 98.5. */
#define SISIMAI_TARGET            95.0 /* the target, class and recipient */
#define SISIMAI_CLASS_FLOOR       95.2 /* target 95: met */
#define SISIMAI_RCPT_FLOOR        98.4 /* target 95: met */
#define SISIMAI_FAMILY_FLOOR      71.0 /* the worst family with at least 5 rows, class */
#define SISIMAI_FAMILY_RCPT_FLOOR 80.0 /* the same, recipient */
#define SISIMAI_LINEENDS_FLOOR    100.0
#define FLUFL_FLOOR               96.0 /* target 95: met */
#define PHP_RCPT_FLOOR            98.5

/* Split TSV @line in place into at most @max fields (tabs become NULs); returns the count. */
static int split_tabs(char *line, char **f, int max)
{
	int nf = 0;
	for (char *p = line; nf < max;) {
		f[nf++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	return nf;
}

static char out_path[4096];
static FILE *dis; /* the disagreements file */

static const char *corpora(void)
{
	const char *c = getenv("BL_CORPORA");
	return c && *c ? c : "../shared/corpora";
}

/* Reads a whole file; NULL when it cannot. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);
	size_t got;
	while ((got = fread(b + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
		}
	}
	fclose(f);
	b[n] = '\0';
	*len = n;
	return b;
}

/* @needle occurs in the @n bytes at @h, ASCII case ignored. */
static int contains_ci(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	if (k == 0 || k > n)
		return 0;
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;
		while (j < k) {
			int a = (unsigned char)h[i + j], b = (unsigned char)needle[j];
			if (a >= 'A' && a <= 'Z')
				a += 32;
			if (b >= 'A' && b <= 'Z')
				b += 32;
			if (a != b)
				break;
			j++;
		}
		if (j == k)
			return 1;
	}
	return 0;
}

static void note(const char *corpus, const char *file, const char *what, const char *got,
                 const char *want, const char *detail)
{
	fprintf(dis, "%s\t%s\t%s\tgot=%s\twant=%s\t%s\n", corpus, file, what, got, want,
	        detail ? detail : "");
}

/*
 * Sisimai's reason as one of our classes (docs/bounces.md, "Measuring against sisimai").
 * feedback -> complaint, vacation -> auto-reply, hard_bounce=true -> hard, delivered /
 * undefined / onhold -> unknown, filtered -> hard, refusals by policy, reputation, authentication
 * or content (not the address's fault) -> block, the rest (the mailbox or the receiving system, for
 * now) -> soft.
 */
static enum bl_bounce_class expected_class(const char *reason, const char *hard)
{
	static const char *const block[] = {
	    "blocked",       "rejected",       "policyviolation", "spamdetected",
	    "securityerror", "badreputation",  "requireptr",      "authfailure",
	    "norelaying",    "virusdetected",  "contenterror",    "notcompliantrfc",
	    "speeding",      "failedstarttls", "filtered",        NULL};
	if (strcmp(reason, "feedback") == 0)
		return BL_BOUNCE_COMPLAINT;
	if (strcmp(reason, "vacation") == 0)
		return BL_BOUNCE_AUTOREPLY;
	if (strcmp(hard, "true") == 0)
		return BL_BOUNCE_HARD;
	/* sisimai's "filtered" is mostly a user-unknown refusal given after DATA: the
	   recipient's server refuses the address, which is what hard means here */
	if (strcmp(reason, "filtered") == 0)
		return BL_BOUNCE_HARD;
	if (strcmp(reason, "delivered") == 0 || strcmp(reason, "undefined") == 0 ||
	    strcmp(reason, "onhold") == 0)
		return BL_BOUNCE_UNKNOWN;
	for (size_t i = 0; block[i]; i++)
		if (strcmp(reason, block[i]) == 0)
			return BL_BOUNCE_BLOCK;
	return BL_BOUNCE_SOFT;
}

/* Per-family counts, the family being the file name without "-NN.eml". */
struct family {
	char name[64];
	int rows, class_ok, rcpt_ok;
};

static struct family fams[200];
static int n_fams;

static struct family *family_of(const char *file)
{
	char name[64];
	snprintf(name, sizeof(name), "%s", file);
	char *dash = strrchr(name, '-');
	if (dash)
		*dash = '\0';
	for (int i = 0; i < n_fams; i++)
		if (strcmp(fams[i].name, name) == 0)
			return &fams[i];
	if (n_fams == 200)
		return &fams[199];
	snprintf(fams[n_fams].name, sizeof(fams[0].name), "%s", name);
	return &fams[n_fams++];
}

/* Where the next message of an mbox file begins after @from: a postmark line ("From " then
 * the envelope sender and a date, RFC 4155) followed by a header field; @len when none or
 * when the file is no mbox (its first line is no postmark: a bounce that quotes a mailbox
 * in its text is one message). A file of the corpus that holds two messages so is two
 * reports, as a mailbox reader would hand them to bulletin one by one. */
static size_t mbox_next(const char *msg, size_t len, size_t from)
{
	if (len < 5 || memcmp(msg, "From ", 5) != 0)
		return len;
	for (size_t p = from; p + 6 < len; p++) {
		if (msg[p] != '\n' || memcmp(msg + p + 1, "From ", 5) != 0)
			continue;
		const char *l = msg + p + 6;
		const char *eol = memchr(l, '\n', len - (size_t)(l - msg));
		if (!eol || memchr(l, ':', (size_t)(eol - l)) == eol)
			continue;
		const char *sp = memchr(l, ' ', (size_t)(eol - l));
		if (!sp || sp == l || memchr(l, ':', (size_t)(sp - l)))
			continue; /* "From user@host date", never "From: ..." */
		const char *h = eol + 1;
		size_t i = 0;
		while (h + i < msg + len &&
		       ((h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= 'a' && h[i] <= 'z') ||
		        (h[i] >= '0' && h[i] <= '9') || h[i] == '-'))
			i++;
		if (i > 0 && h + i < msg + len && h[i] == ':')
			return p + 1;
	}
	return len;
}

/* A recipient is right when it is an address that occurs in the message and is neither
 * the report's From nor its To (the sender the bounce went back to). */
static int recipient_ok(const struct bl_bounce_report *r, size_t idx, const char *msg, size_t len,
                        const char **why)
{
	if (idx >= r->n_findings) {
		*why = "no finding";
		return 0;
	}
	const char *a = r->findings[idx].recipient;
	/* a complaint whose recipient the provider redacted (no Original-Rcpt-To, the original
	   "To: Undisclosed Recipients"): right when the finding claims no address and the
	   returned original's Message-ID is there to attribute it by */
	if (r->kind == BL_REPORT_KIND_ARF && !*a && *r->original_message_id &&
	    !contains_ci(msg, len, "original-rcpt-to:"))
		return 1;
	if (!*a || !strchr(a, '@')) {
		*why = "empty";
		return 0;
	}
	if (!contains_ci(msg, len, a)) {
		*why = "not in the message";
		return 0;
	}
	if (r->kind != BL_REPORT_KIND_AUTOREPLY &&
	    (bl_strcaseeq(a, r->from) || bl_strcaseeq(a, r->envelope_to))) {
		*why = "the report's own address";
		return 0;
	}
	return 1;
}

static void test_sisimai(void **state)
{
	(void)state;
	char path[4096];
	snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/expected.tsv", corpora());
	size_t tlen;
	char *tsv = slurp(path, &tlen);
	if (!tsv)
		fail_msg("cannot read %s", path);
	int rows = 0, class_ok = 0, rcpt_ok = 0;
	char cur_file[256] = "";
	char *msg = NULL;
	size_t mlen = 0;
	/* the reports of the current file (more than one when it is an mbox of several
	   messages); row N is the N-th finding over them in order */
	struct bl_bounce_report reps[8];
	size_t n_reps = 0;
	memset(reps, 0, sizeof(reps));
	char *save = NULL;
	for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *f[8] = {0};
		int nf = split_tabs(line, f, 8);
		if (nf < 8)
			continue;
		const char *file = f[0];
		size_t idx = (size_t)atoi(f[1]) - 1;
		if (strcmp(file, cur_file) != 0) {
			for (size_t k = 0; k < n_reps; k++)
				bl_bounce_report_clear(&reps[k]);
			n_reps = 0;
			free(msg);
			snprintf(cur_file, sizeof(cur_file), "%s", file);
			snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/maildir/bsd/%s",
			         corpora(), file);
			msg = slurp(path, &mlen);
			if (!msg)
				fail_msg("cannot read %s", path);
			for (size_t at = 0; at < mlen && n_reps < 8;) {
				size_t end = mbox_next(msg, mlen, at);
				struct bl_diag d;
				struct bl_bounce_report *r = &reps[n_reps++];
				if (bl_bounce_analyze(msg + at, end - at, NULL, r, &d) != 0) {
					note("sisimai", file, "analyze", d.msg, "0", "");
					memset(r, 0, sizeof(*r));
				}
				at = end;
			}
		}
		/* the report that holds row idx, and the row's finding in it */
		size_t ri = 0, fi = idx;
		while (ri + 1 < n_reps && fi >= reps[ri].n_findings) {
			fi -= reps[ri].n_findings;
			ri++;
		}
		const struct bl_bounce_report *rp = &reps[ri];
		rows++;
		struct family *fam = family_of(file);
		fam->rows++;
		enum bl_bounce_class want = expected_class(f[4], f[5]);
		const struct bl_bounce_finding *fd = fi < rp->n_findings ? &rp->findings[fi] : NULL;
		const char *got = fd ? bl_bounce_class_name(fd->cls) : "none";
		char detail[1400];
		snprintf(detail, sizeof(detail), "kind=%s sisimai=%s/%s/%s ours=%s/%s diag=%.1000s",
		         bl_report_kind_name(rp->kind), f[4], f[2], f[3], fd ? fd->reason : "-",
		         fd ? fd->status : "-", fd ? fd->diagnostic : "");
		if (strcmp(got, bl_bounce_class_name(want)) == 0) {
			class_ok++;
			fam->class_ok++;
		} else {
			note("sisimai", file, "class", got, bl_bounce_class_name(want), detail);
		}
		const char *why = "";
		if (recipient_ok(rp, fi, msg, mlen, &why)) {
			rcpt_ok++;
			fam->rcpt_ok++;
		} else {
			note("sisimai", file, "recipient", fd ? fd->recipient : "none", why,
			     detail);
		}
	}
	for (size_t k = 0; k < n_reps; k++)
		bl_bounce_report_clear(&reps[k]);
	free(msg);
	free(tsv);

	double cp = 100.0 * class_ok / rows, rp = 100.0 * rcpt_ok / rows;
	printf("# sisimai: %d rows, class agreement %d (%.1f%%), recipient agreement %d "
	       "(%.1f%%)\n",
	       rows, class_ok, cp, rcpt_ok, rp);
	double worst = 100.0, worst_r = 100.0;
	const char *worst_name = "", *worst_r_name = "";
	for (int i = 0; i < n_fams; i++) {
		double c = 100.0 * fams[i].class_ok / fams[i].rows;
		double r = 100.0 * fams[i].rcpt_ok / fams[i].rows;
		printf("#   %-28s %3d rows  class %5.1f%%  recipient %5.1f%%\n", fams[i].name,
		       fams[i].rows, c, r);
		if (fams[i].rows >= 5 && c < worst) {
			worst = c;
			worst_name = fams[i].name;
		}
		if (fams[i].rows >= 5 && r < worst_r) {
			worst_r = r;
			worst_r_name = fams[i].name;
		}
	}
	printf("# worst family (>= 5 rows): class %s %.1f%%, recipient %s %.1f%%\n", worst_name,
	       worst, worst_r_name, worst_r);
	if (cp < SISIMAI_TARGET || rp < SISIMAI_TARGET)
		fail_msg(
		    "sisimai: class %.1f%%, recipient %.1f%%: below the target of %.1f%%; see %s",
		    cp, rp, SISIMAI_TARGET, out_path);
	if (cp < SISIMAI_CLASS_FLOOR || rp < SISIMAI_RCPT_FLOOR || worst < SISIMAI_FAMILY_FLOOR ||
	    worst_r < SISIMAI_FAMILY_RCPT_FLOOR)
		fail_msg("sisimai: class %.1f%% (floor %.1f), recipient %.1f%% (floor %.1f), worst "
		         "family class %s %.1f%% (floor %.1f), recipient %s %.1f%% (floor %.1f); "
		         "see %s",
		         cp, SISIMAI_CLASS_FLOOR, rp, SISIMAI_RCPT_FLOOR, worst_name, worst,
		         SISIMAI_FAMILY_FLOOR, worst_r_name, worst_r, SISIMAI_FAMILY_RCPT_FLOOR,
		         out_path);
}

/* Every file of maildir/@sub: a report with a recipient; returns the share in per cent. */
static double lineends_dir(const char *sub)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/sisimai-set-of-emails/maildir/%s", corpora(), sub);
	DIR *dh = opendir(dir);
	if (!dh)
		fail_msg("cannot open %s", dir);
	int n = 0, ok = 0;
	struct dirent *e;
	while ((e = readdir(dh))) {
		if (e->d_name[0] == '.')
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		size_t len;
		char *msg = slurp(path, &len);
		if (!msg)
			continue;
		n++;
		struct bl_bounce_report rep;
		struct bl_diag d;
		int rc = bl_bounce_analyze(msg, len, NULL, &rep, &d);
		const char *why = "";
		if (rc != 0) {
			note(sub, e->d_name, "analyze", d.msg, "0", "");
			free(msg);
			continue;
		}
		if (rep.kind == BL_REPORT_KIND_OTHER)
			note(sub, e->d_name, "kind", "other", "a report", rep.subject);
		else if (!recipient_ok(&rep, 0, msg, len, &why))
			note(sub, e->d_name, "recipient",
			     rep.n_findings ? rep.findings[0].recipient : "none", why,
			     bl_report_kind_name(rep.kind));
		else
			ok++;
		bl_bounce_report_clear(&rep);
		free(msg);
	}
	closedir(dh);
	double p = n ? 100.0 * ok / n : 0;
	printf("# sisimai %s/: %d files, %d with a report and a recipient (%.1f%%)\n", sub, n, ok,
	       p);
	return p;
}

static void test_sisimai_lineends(void **state)
{
	(void)state;
	double dos = lineends_dir("dos"), mac = lineends_dir("mac");
	if (dos < SISIMAI_LINEENDS_FLOOR || mac < SISIMAI_LINEENDS_FLOOR)
		fail_msg("dos %.1f%%, mac %.1f%% (floor %.1f); see %s", dos, mac,
		         SISIMAI_LINEENDS_FLOOR, out_path);
}

static void test_sisimai_not(void **state)
{
	(void)state;
	static const char *const files[] = {"is-not-bounce-01.eml", "is-not-bounce-02.eml"};
	int bad = 0;
	for (size_t i = 0; i < 2; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/maildir/not/%s", corpora(),
		         files[i]);
		size_t len;
		char *msg = slurp(path, &len);
		if (!msg)
			fail_msg("cannot read %s", path);
		struct bl_bounce_report rep;
		struct bl_diag d;
		assert_int_equal(bl_bounce_analyze(msg, len, NULL, &rep, &d), 0);
		if (rep.kind == BL_REPORT_KIND_DSN || rep.kind == BL_REPORT_KIND_BOUNCE ||
		    rep.kind == BL_REPORT_KIND_ARF) {
			printf("# not/%s: got kind %s, want no bounce\n", files[i],
			       bl_report_kind_name(rep.kind));
			bad++;
		}
		bl_bounce_report_clear(&rep);
		free(msg);
	}
	assert_int_equal(bad, 0);
}

/* Sorted, comma-joined, lowercased set of @r's recipients with @final (1 permanent, 0
 * temporary), failures only. */
static void address_set(const struct bl_bounce_report *r, int final, char *out, size_t size)
{
	char *v[256];
	size_t n = 0;
	for (size_t i = 0; i < r->n_findings && n < 256; i++) {
		const struct bl_bounce_finding *f = &r->findings[i];
		if (f->final != final || f->cls == BL_BOUNCE_AUTOREPLY ||
		    f->cls == BL_BOUNCE_COMPLAINT || !*f->recipient)
			continue;
		char *a = strdup(f->recipient);
		bl_ascii_lower(a);
		int dup = 0;
		for (size_t k = 0; k < n; k++)
			if (strcmp(v[k], a) == 0)
				dup = 1;
		if (dup)
			free(a);
		else
			v[n++] = a;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && strcmp(v[k - 1], v[k]) > 0; k--) {
			char *t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(out + o, o < size ? size - o : 0, "%s%s", i ? "," : "", v[i]);
		free(v[i]);
	}
}

static void test_flufl(void **state)
{
	(void)state;
	char path[4096];
	snprintf(path, sizeof(path), "%s/flufl-bounce/expected.tsv", corpora());
	size_t tlen;
	char *tsv = slurp(path, &tlen);
	if (!tsv)
		fail_msg("cannot read %s", path);
	int rows = 0, ok = 0;
	char *save = NULL;
	for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *f[4] = {0};
		int nf = split_tabs(line, f, 4);
		if (nf < 3)
			continue;
		const char *want = nf == 4 ? f[3] : "";
		/* groupwise_02 is listed twice; the row with addresses is the one to meet */
		if (strcmp(f[0], "groupwise_02.txt") == 0 && !*want)
			continue;
		snprintf(path, sizeof(path), "%s/flufl-bounce/data/%s", corpora(), f[0]);
		size_t len;
		char *msg = slurp(path, &len);
		if (!msg)
			fail_msg("cannot read %s", path);
		struct bl_bounce_report rep;
		struct bl_diag d;
		rows++;
		if (bl_bounce_analyze(msg, len, NULL, &rep, &d) != 0) {
			note("flufl", f[0], "analyze", d.msg, "0", "");
			free(msg);
			continue;
		}
		char got[8192], wantl[8192];
		address_set(&rep, strcmp(f[2], "temporary") == 0 ? 0 : 1, got, sizeof(got));
		snprintf(wantl, sizeof(wantl), "%s", want);
		bl_ascii_lower(wantl);
		if (strcmp(got, wantl) == 0)
			ok++;
		else
			note("flufl", f[0], f[2], got, wantl, bl_report_kind_name(rep.kind));
		bl_bounce_report_clear(&rep);
		free(msg);
	}
	free(tsv);
	double p = 100.0 * ok / rows;
	printf("# flufl-bounce: %d rows, address set right on %d (%.1f%%)\n", rows, ok, p);
	if (p < FLUFL_FLOOR)
		fail_msg("flufl: %.1f%% (floor %.1f); see %s", p, FLUFL_FLOOR, out_path);
}

static void test_php(void **state)
{
	(void)state;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/php-bounce-handler/eml", corpora());
	DIR *dh = opendir(dir);
	if (!dh)
		fail_msg("cannot open %s", dir);
	int bounces = 0, rcpt = 0, complaints = 0, complaints_ok = 0, bad = 0;
	struct dirent *e;
	while ((e = readdir(dh))) {
		if (e->d_name[0] == '.')
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		size_t len;
		char *msg = slurp(path, &len);
		if (!msg)
			continue;
		struct bl_bounce_report rep;
		struct bl_diag d;
		const char *n = e->d_name;
		if (bl_bounce_analyze(msg, len, NULL, &rep, &d) != 0) {
			/* no header block at all is an error, and no bounce either */
			if (strcmp(n, "unsubscribe.txt") != 0) {
				note("php", n, "analyze", d.msg, "0", "");
				bad++;
			}
			free(msg);
			continue;
		}
		if (strncmp(n, "arf", 3) == 0 || strncmp(n, "fbl-", 4) == 0) {
			complaints++;
			/* the recipient may be redacted (AOL): attribution then uses the
			   returned original's Message-ID */
			if (rep.kind == BL_REPORT_KIND_ARF && rep.n_findings &&
			    rep.findings[0].cls == BL_BOUNCE_COMPLAINT)
				complaints_ok++;
			else
				note("php", n, "complaint", bl_report_kind_name(rep.kind), "arf",
				     rep.n_findings ? rep.findings[0].recipient : "");
		} else if (strcmp(n, "unsubscribe.txt") == 0) {
			if (rep.kind == BL_REPORT_KIND_DSN || rep.kind == BL_REPORT_KIND_BOUNCE) {
				note("php", n, "kind", bl_report_kind_name(rep.kind), "other", "");
				bad++;
			}
		} else {
			bounces++;
			const char *why = "";
			if ((rep.kind == BL_REPORT_KIND_DSN || rep.kind == BL_REPORT_KIND_BOUNCE) &&
			    recipient_ok(&rep, 0, msg, len, &why))
				rcpt++;
			else
				note("php", n, "recipient",
				     rep.n_findings ? rep.findings[0].recipient : "none",
				     bl_report_kind_name(rep.kind), why);
		}
		bl_bounce_report_clear(&rep);
		free(msg);
	}
	closedir(dh);
	double p = bounces ? 100.0 * rcpt / bounces : 0;
	printf("# php-bounce-handler: %d bounces, a recipient in %d (%.1f%%); %d complaints, %d "
	       "classified as such\n",
	       bounces, rcpt, p, complaints, complaints_ok);
	assert_int_equal(bad, 0);
	assert_int_equal(complaints_ok, complaints);
	if (p < PHP_RCPT_FLOOR)
		fail_msg("php: %.1f%% (floor %.1f); see %s", p, PHP_RCPT_FLOOR, out_path);
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *slash = strrchr(argv[0], '/');
	snprintf(out_path, sizeof(out_path), "%.*sbounce_disagreements.tsv",
	         slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
	dis = fopen(out_path, "w");
	if (!dis) {
		fprintf(stderr, "cannot write %s\n", out_path);
		return 1;
	}
	fprintf(dis, "#corpus\tfile\twhat\tgot\twant\tdetail\n");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sisimai),     cmocka_unit_test(test_sisimai_lineends),
	    cmocka_unit_test(test_sisimai_not), cmocka_unit_test(test_flufl),
	    cmocka_unit_test(test_php),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fclose(dis);
	return rc;
}
