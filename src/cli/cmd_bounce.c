/*
 * bulletin bounce (issue 7): feed bounce and complaint reports to
 * bl_bounce_process (src/bounce/policy.h) from an MTA pipe (one message on
 * standard input, sysexits codes), a maildir, or an IMAP/POP3 mailbox
 * (src/bounce/mailbox.h); and `bounce ls`, the recorded findings. A
 * message is removed from a maildir or mailbox only once it is handled;
 * bytes that are no message stay, and a store error stops the run with the
 * message kept for the next one. `serve` polls the mailbox through
 * bl_cli_bounce_poll.
 */
#include "cli/cli.h"

#include "bounce/mailbox.h"
#include "bounce/policy.h"
#include "core/address.h"
#include "core/crypto.h"
#include "core/json.h"
#include "send/engine.h"
#include "util/log.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* sysexits(3) codes for the MTA pipe: what Postfix's pipe(8) and others expect. */
#define EX_DATAERR_  65
#define EX_TEMPFAIL_ 75

/* Maildir messages recorded per transaction. */
#define BATCH 256

/* The largest message read from standard input or a maildir file, bytes. */
#define BOUNCE_MAX_MESSAGE ((size_t)64 << 20)

static const char usage[] =
    "usage: bulletin bounce [--envelope-to ADDR] [--json] < MESSAGE\n"
    "       bulletin bounce --maildir DIR [--quiet] [--json]\n"
    "       bulletin bounce --mailbox [URL] [--move FOLDER] [--json]\n"
    "       bulletin bounce ls [--review] [--post ID] [--subscriber EMAIL] [--limit N]\n"
    "                          [--json]\n"
    "\n"
    "Read bounce reports (DSN, non-standard bounces), complaints (ARF) and\n"
    "auto-replies, attribute each to the delivery it concerns (VERP, else the\n"
    "Message-ID of the returned original) and apply the bounce policy\n"
    "(bounce_hard_limit, bounce_soft_limit, bounce_soft_window). A report that\n"
    "cannot be attributed goes to the review bucket (`bounce ls --review`).\n"
    "\n"
    "  (no option)          one message on standard input, for an MTA pipe such as\n"
    "                       Postfix's pipe(8); exit 0 when handled (a message that\n"
    "                       is no report included), 65 for bytes that are not a\n"
    "                       message, 75 on a database error (the MTA retries)\n"
    "  --envelope-to ADDR   the envelope recipient (bounces+TOKEN@DOMAIN), e.g.\n"
    "                       Postfix's ${original_recipient}\n"
    "  --maildir DIR        every file in DIR/new and DIR/cur, or in DIR itself when\n"
    "                       it has neither; handled files are removed, the others\n"
    "                       are kept and listed (symbolic links and other files that\n"
    "                       are not regular: kept, never followed)\n"
    "  --quiet              no progress bar and no list of kept files\n"
    "  --mailbox [URL]      poll an IMAP or POP3 mailbox: imaps://USER@HOST/FOLDER,\n"
    "                       pop3s://USER@HOST/; without URL, config bounce_mailbox.\n"
    "                       The password comes from bounce_mailbox_password_file, or\n"
    "                       the URL (USER:PASSWORD@)\n"
    "  --move FOLDER        IMAP: move handled messages to FOLDER instead of deleting\n"
    "                       them (default: config bounce_mailbox_move); refused for\n"
    "                       POP3, which has no folders\n"
    "  ls                   recorded findings, newest first\n"
    "  --review             only those in the review bucket\n"
    "  --post ID            only those of post ID\n"
    "  --subscriber EMAIL   only those of this subscriber\n"
    "  --limit N            at most N (default 50; 0 = all)\n"
    "  --json               one JSON document: the counts, or for ls [{\"id\",\n"
    "                       \"received_at\",\"source\",\"kind\",\"class\",\"reason\",\n"
    "                       \"status\",\"reply_code\",\"final\",\"recipient\",\n"
    "                       \"diagnostic\",\"feedback_type\",\"post_id\",\n"
    "                       \"subscriber_id\",\"attributed_by\",\"review\",\"action\"}]\n"
    "\n"
    "Exit codes besides the pipe's: 0 every message handled, 1 bad usage or mailbox\n"
    "settings (nothing read), 2 some were kept (not messages), 3 a database error\n"
    "stopped the run, 4 the mailbox failed.\n";

#define EXIT_MAILBOX 4

/* ---------------------------------------------------------- processing */

struct intake {
	struct bl_bounce_ctx ctx;
	struct bl_secret secret;
	struct bl_bounce_result res;
	const char *envelope_to;
	size_t handled, kept;
	int store_rc; /* the first store error */
	struct bl_diag d;
	volatile sig_atomic_t *stop; /* serve's stop flag, or NULL */
};

/* Prepare @in for source @source on store @s; an exit code. */
static int intake_init(struct intake *in, struct bl_cli *cli, struct bl_store *s,
                       const char *source)
{
	memset(in, 0, sizeof(*in));
	struct bl_diag d;
	if (bl_load_secret(s, &in->secret, &d)) {
		bl_cli_error("%s", d.msg);
		return BL_EXIT_STORE;
	}
	if (bl_bounce_policy_from_config(cli->config, &in->ctx.policy, &d)) {
		bl_cli_error("%s", d.msg);
		return BL_EXIT_USAGE;
	}
	in->ctx.store = s;
	in->ctx.secret = &in->secret;
	in->ctx.source = source;
	return BL_EXIT_OK;
}

/* One message: 0 handled, 1 kept (not a message), < 0 a store error. */
static int process_one(struct intake *in, const char *msg, size_t len)
{
	struct bl_diag d = {{0}};
	int rc = bl_bounce_process(&in->ctx, msg, len, in->envelope_to, bl_now(), &in->res, &d);
	if (rc == 0) {
		in->handled++;
		return 0;
	}
	in->kept++;
	if (rc == -BL_EINVAL || rc == -BL_ELIMIT || rc == -BL_EENCODING) {
		in->d = d;
		return 1;
	}
	if (!in->store_rc) {
		in->store_rc = rc;
		in->d = d;
	}
	return rc;
}

/* What processing did, as JSON members added to @o (every intake prints the same). */
static json_t *counts_json(json_t *o, const struct bl_bounce_result *r)
{
	json_t *probes = json_array();
	for (size_t i = 0; i < r->probes && i < sizeof(r->probe_posts) / sizeof(r->probe_posts[0]);
	     i++)
		json_array_append_new(probes, json_integer(r->probe_posts[i]));
	json_object_update_new(
	    o, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "findings",
	                 (json_int_t)r->findings, "recorded", (json_int_t)r->recorded, "duplicates",
	                 (json_int_t)r->duplicates, "review", (json_int_t)r->review, "disabled",
	                 (json_int_t)r->disabled, "unsubscribed", (json_int_t)r->unsubscribed,
	                 "probes", (json_int_t)r->probes, "probe_posts", probes,
	                 "unsubscribe_requests", (json_int_t)r->unsubscribe_requests));
	return o;
}

/* The same in words, after the intake's own counts, with a newline. */
static void print_counts(const struct bl_bounce_result *r)
{
	printf(": findings %zu (recorded %zu, duplicates %zu, review %zu); disabled %zu, "
	       "unsubscribed %zu, probes %zu",
	       r->findings, r->recorded, r->duplicates, r->review, r->disabled, r->unsubscribed,
	       r->probes);
	for (size_t i = 0; i < r->probes && i < sizeof(r->probe_posts) / sizeof(r->probe_posts[0]);
	     i++)
		printf("%s%lld", i ? ", " : " (post ", (long long)r->probe_posts[i]);
	if (r->probes)
		printf("%s)", r->probes > sizeof(r->probe_posts) / sizeof(r->probe_posts[0])
		                  ? ", ..."
		                  : "");
	if (r->unsubscribe_requests)
		printf("; unsubscribe requests %zu", r->unsubscribe_requests);
	putchar('\n');
}

static void print_result(const struct intake *in, int json)
{
	if (json) {
		bl_cli_print_json(
		    counts_json(json_pack("{s:I,s:I}", "handled", (json_int_t)in->handled, "kept",
		                          (json_int_t)in->kept),
		                &in->res));
		return;
	}
	printf("handled %zu, kept %zu", in->handled, in->kept);
	print_counts(&in->res);
}

/* Read all of @f (at most BOUNCE_MAX_MESSAGE bytes) into @b; 0, or -BL_ELIMIT / -BL_EIO. */
static int read_all(FILE *f, struct bl_buf *b)
{
	char chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (bl_buf_add(b, chunk, got))
			return -BL_ELIMIT;
	return ferror(f) ? -BL_EIO : 0;
}

/* Read file @path (at most BOUNCE_MAX_MESSAGE bytes) into @b, emptied first and reused from
 * one message to the next (no FILE, no chunk copies, no regrowth): 0, -ENOENT when the file
 * is gone, -BL_EPERM when it is not a regular file (a symbolic link, not followed, or a FIFO
 * put there since it was listed: not opened for reading), -BL_ELIMIT when it is too large,
 * -BL_EIO with errno set otherwise. */
static int read_file(const char *path, struct bl_buf *b)
{
	/* O_NOFOLLOW: a link swapped in after add_files' lstat is not followed; O_NONBLOCK: a
	 * FIFO does not block the open (refused below). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : errno == ELOOP ? -BL_EPERM : -BL_EIO;
	bl_buf_reset(b);
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0)
		rc = -BL_EIO;
	else if (!S_ISREG(st.st_mode))
		rc = -BL_EPERM;
	else if (st.st_size > (off_t)BOUNCE_MAX_MESSAGE)
		rc = -BL_ELIMIT;
	char chunk[65536];
	while (!rc) {
		/* straight into the buffer when it has room, else through @chunk (it grows) */
		size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
		char *dst = room >= 4096 ? b->data + b->len : chunk;
		ssize_t got = read(fd, dst, dst == chunk ? sizeof(chunk) : room);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -BL_EIO;
			break;
		}
		if (got == 0)
			break;
		if (dst == chunk) {
			if (bl_buf_add(b, chunk, (size_t)got))
				rc = -BL_ELIMIT;
		} else if (b->len + (size_t)got > b->max) {
			rc = -BL_ELIMIT;
		} else {
			b->len += (size_t)got;
			b->data[b->len] = '\0';
		}
	}
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* ----------------------------------------------------------------- pipe */

static int run_pipe(struct bl_cli *cli, const char *envelope_to, int json)
{
	struct bl_store *s;
	struct bl_buf b;
	bl_buf_init(&b, BOUNCE_MAX_MESSAGE);
	int rc = read_all(stdin, &b);
	if (rc || b.len == 0) {
		bl_cli_error("%s", rc == -BL_ELIMIT ? "the message is larger than 64 MiB"
		                   : rc             ? "cannot read standard input"
		                                    : "standard input is empty: no message");
		bl_buf_finish(&b);
		return rc == -BL_EIO ? EX_TEMPFAIL_ : EX_DATAERR_;
	}
	if (bl_cli_store(cli, 1, &s)) {
		bl_buf_finish(&b);
		return EX_TEMPFAIL_;
	}
	struct intake in;
	int code = intake_init(&in, cli, s, "pipe");
	if (code) {
		bl_buf_finish(&b);
		return EX_TEMPFAIL_;
	}
	in.envelope_to = envelope_to;
	rc = process_one(&in, bl_buf_str(&b), b.len);
	bl_buf_finish(&b);
	if (rc > 0) {
		bl_cli_error("not a message: %s", in.d.msg);
		return EX_DATAERR_;
	}
	if (rc < 0) {
		bl_cli_error("%s (the message is kept for a later try)", in.d.msg);
		return EX_TEMPFAIL_;
	}
	print_result(&in, json);
	return BL_EXIT_OK;
}

/* -------------------------------------------------------------- maildir */

struct paths {
	char **v;
	size_t n, cap;
};

static void paths_add(struct paths *p, char *path)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->v = bl_xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n++] = path;
}

/* The regular files of @dir into @p; what is neither a regular file nor a directory
 * (symbolic links, by lstat: never followed; FIFOs, sockets, devices) into @odd, to be
 * listed as kept; directories are passed over. */
static void add_files(struct paths *p, struct paths *odd, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct bl_buf b;
		bl_buf_init(&b, 0);
		bl_buf_addf(&b, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(bl_buf_str(&b), &st) != 0 || S_ISDIR(st.st_mode))
			bl_buf_finish(&b);
		else
			paths_add(S_ISREG(st.st_mode) ? p : odd, bl_buf_take(&b));
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void progress(size_t done, size_t total, double start)
{
	double el = bl_monotonic() - start;
	int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
	char bar[31];
	for (int i = 0; i < 30; i++)
		bar[i] = i < pct * 30 / 100 ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r\033[K%3d%% [%s] %zu/%zu messages  %.0f/s", pct, bar, done, total,
	        el > 0 ? (double)done / el : 0.0);
}

static int run_maildir(struct bl_cli *cli, const char *dir, int quiet, int json)
{
	struct paths p = {0}, odd = {0};
	char *sub_new = NULL, *sub_cur = NULL;
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b, "%s/new", dir);
	sub_new = bl_buf_take(&b);
	bl_buf_addf(&b, "%s/cur", dir);
	sub_cur = bl_buf_take(&b);
	if (!is_dir(dir)) {
		bl_cli_error("%s: not a directory", dir);
		free(sub_new);
		free(sub_cur);
		return BL_EXIT_INPUT;
	}
	if (is_dir(sub_new) || is_dir(sub_cur)) {
		add_files(&p, &odd, sub_new);
		add_files(&p, &odd, sub_cur);
	} else {
		add_files(&p, &odd, dir);
	}
	free(sub_new);
	free(sub_cur);
	if (p.n)
		qsort(p.v, p.n, sizeof(*p.v), cmp_str);
	if (odd.n)
		qsort(odd.v, odd.n, sizeof(*odd.v), cmp_str);

	struct bl_store *s;
	struct intake in;
	int code = bl_cli_store(cli, 1, &s);
	if (!code)
		code = intake_init(&in, cli, s, "maildir");
	/* Links (a link to /etc/passwd must not be read, stored for review, nor removed) and
	 * other files that are no regular file: kept, listed, never opened. */
	for (size_t j = 0; j < odd.n; j++) {
		if (!code) {
			in.kept++;
			if (!quiet)
				fprintf(stderr, "%s: kept: not a regular file\n", odd.v[j]);
		}
		free(odd.v[j]);
	}
	free(odd.v);
	if (code) {
		for (size_t j = 0; j < p.n; j++)
			free(p.v[j]);
		free(p.v);
		return code;
	}
	int tty = !quiet && isatty(2);
	double start = bl_monotonic();
	size_t i = 0;
	/* Messages are recorded BATCH to a transaction (one commit, one fsync, per batch
	 * rather than per message: what makes a large maildir fast), and their files removed
	 * only after the commit. A crash or a store error before it keeps the whole batch;
	 * reading a message again is harmless, as the report key makes it a duplicate. */
	char *handled = bl_xcalloc(p.n ? p.n : 1, 1);
	struct bl_buf msg; /* each message's bytes, the buffer reused */
	bl_buf_init(&msg, BOUNCE_MAX_MESSAGE);
	while (!code && i < p.n) {
		size_t first = i, end = i + BATCH < p.n ? i + BATCH : p.n;
		struct intake saved = in;
		if (s->ops->begin(s)) {
			snprintf(in.d.msg, sizeof(in.d.msg), "%s", bl_store_error(s));
			code = BL_EXIT_STORE;
			break;
		}
		for (; !code && i < end; i++) {
			if (tty && (i % 16 == 0))
				progress(i, p.n, start);
			int rc = read_file(p.v[i], &msg);
			if (rc == -ENOENT)
				continue; /* taken by another reader meanwhile */
			if (rc == 0)
				rc = process_one(&in, bl_buf_str(&msg), msg.len);
			else {
				in.kept++;
				snprintf(in.d.msg, sizeof(in.d.msg), "%s",
				         rc == -BL_ELIMIT  ? "larger than 64 MiB"
				         : rc == -BL_EPERM ? "not a regular file"
				                           : strerror(errno));
				rc = 1;
			}
			if (rc == 0)
				handled[i] = 1;
			else if (rc > 0) {
				if (!quiet)
					fprintf(stderr, "%s%s: kept: %s\n", tty ? "\r\033[K" : "",
					        p.v[i], in.d.msg);
			} else {
				code = BL_EXIT_STORE;
			}
		}
		if (!code && s->ops->commit(s)) {
			snprintf(in.d.msg, sizeof(in.d.msg), "%s", bl_store_error(s));
			code = BL_EXIT_STORE;
		}
		if (code) { /* nothing of this batch is kept in the database: keep its files */
			s->ops->rollback(s);
			struct bl_diag d = in.d;
			in = saved;
			in.d = d;
			in.kept += p.n - first;
			i = first;
			break;
		}
		for (size_t j = first; j < end; j++)
			if (handled[j] && unlink(p.v[j]) != 0 && errno != ENOENT)
				bl_cli_error("%s: handled but not removed: %s", p.v[j],
				             strerror(errno));
	}
	free(handled);
	bl_buf_finish(&msg);
	if (tty && p.n) {
		progress(i, p.n, start);
		fputc('\n', stderr);
	}
	if (code)
		bl_cli_error("%s (the messages from %s on are kept)", in.d.msg, p.v[i]);
	for (size_t j = 0; j < p.n; j++)
		free(p.v[j]);
	free(p.v);
	print_result(&in, json);
	return code ? code : in.kept ? BL_EXIT_INPUT : BL_EXIT_OK;
}

/* -------------------------------------------------------------- mailbox */

/* The mailbox callback: 0 handled, 1 kept, < 0 stop (store error or a stop asked for). */
static int on_mailbox_message(void *arg, const char *msg, size_t len)
{
	struct intake *in = arg;
	if (in->stop && *in->stop)
		return -BL_EBUSY;
	return process_one(in, msg, len);
}

/* The first line of file @path (a password), malloc'd; NULL after filling @d. */
static char *read_password_file(const char *path, struct bl_diag *d)
{
	/* O_NONBLOCK: a FIFO must not hang `serve` before it starts; only a file is read. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		bl_diag_set(d, BL_EIO, "bounce_mailbox_password_file %s: %s", path,
		            fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		bl_diag_set(d, BL_EIO, "bounce_mailbox_password_file %s: %s", path,
		            strerror(errno));
		return NULL;
	}
	struct bl_buf b;
	bl_buf_init(&b, 4096);
	int rc = read_all(f, &b);
	fclose(f);
	if (rc) {
		bl_buf_finish(&b);
		bl_diag_set(d, BL_EIO, "bounce_mailbox_password_file %s: unreadable or too long",
		            path);
		return NULL;
	}
	char *pw = bl_buf_take(&b);
	pw[strcspn(pw, "\r\n")] = '\0';
	return pw;
}

/*
 * The mailbox settings bl_cli_bounce_poll uses: *@url (given, else config bounce_mailbox),
 * *@move_to (given, else bounce_mailbox_move; NULL for none) and *@pw, the first line of
 * bounce_mailbox_password_file (malloc'd: wipe and free it; NULL without the file).
 * Returns 0, -BL_EUSAGE without a mailbox, -BL_EIO for an unreadable password file.
 */
static int mailbox_settings(const struct bl_config *c, const char **url, const char **move_to,
                            char **pw, struct bl_diag *d)
{
	*pw = NULL;
	if (!*url || !**url)
		*url = bl_config_str(c, "bounce_mailbox");
	if (!*url || !**url)
		return bl_diag_set(d, BL_EUSAGE, "no mailbox: give a URL or set bounce_mailbox");
	if (!*move_to) {
		*move_to = bl_config_str(c, "bounce_mailbox_move");
		if (*move_to && !**move_to)
			*move_to = NULL;
	}
	const char *pw_file = bl_config_str(c, "bounce_mailbox_password_file");
	if (pw_file && *pw_file && !(*pw = read_password_file(pw_file, d)))
		return -BL_EIO;
	return 0;
}

static void wipe(char *pw)
{
	if (pw) {
		bl_memzero(pw, strlen(pw)); /* not optimised away before free() */
		free(pw);
	}
}

int bl_cli_bounce_check(struct bl_cli *cli, struct bl_diag *d)
{
	const char *url = NULL, *move_to = NULL;
	char *pw = NULL;
	int rc = mailbox_settings(cli->config, &url, &move_to, &pw, d);
	if (rc == 0) {
		struct bl_mailbox_opts o = {.url = url, .password = pw, .move_to = move_to};
		rc = bl_mailbox_check(&o, d);
	}
	wipe(pw);
	return rc;
}

int bl_cli_bounce_poll(struct bl_cli *cli, struct bl_store *s, const char *url, const char *move_to,
                       volatile sig_atomic_t *stop, struct bl_mailbox_stats *st,
                       struct bl_bounce_result *res, struct bl_diag *d)
{
	const struct bl_config *c = cli->config;
	char *pw = NULL;
	int mrc = mailbox_settings(c, &url, &move_to, &pw, d);
	if (mrc)
		return mrc;
	struct intake in;
	struct bl_diag d2;
	int rc = 0;
	memset(&in, 0, sizeof(in));
	if ((rc = bl_load_secret(s, &in.secret, d)) != 0 ||
	    (rc = bl_bounce_policy_from_config(c, &in.ctx.policy, d)) != 0)
		goto out;
	in.ctx.store = s;
	in.ctx.secret = &in.secret;
	in.ctx.source = strncmp(url, "pop3", 4) == 0 ? "pop3" : "imap";
	in.stop = stop;
	struct bl_mailbox_opts o = {
	    .url = url, .password = pw, .move_to = move_to, .timeout = 60, .stop = stop};
	rc = bl_mailbox_poll(&o, on_mailbox_message, &in, st, &d2);
	if (rc && stop && *stop)
		rc = 0; /* stopped on request: what was handled is removed */
	else if (rc && in.store_rc == rc)
		bl_diag_set(d, -rc, "%s (the message is kept for the next poll)", in.d.msg);
	else if (rc)
		*d = d2;
	if (res)
		*res = in.res;
out:
	wipe(pw);
	return rc;
}

static int run_mailbox(struct bl_cli *cli, const char *url, const char *move_to, int json)
{
	struct bl_store *s;
	int code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	struct bl_mailbox_stats st = {0};
	struct bl_bounce_result res = {0};
	struct bl_diag d = {{0}};
	int rc = bl_cli_bounce_poll(cli, s, url, move_to, NULL, &st, &res, &d);
	/* A mailbox setting that cannot work (no mailbox, a bad URL, POP3 with a folder to move
	 * to): nothing was read, so no summary. */
	if (rc == -BL_EUSAGE || (rc == -BL_EINVAL && st.seen == 0)) {
		bl_cli_error("%s", d.msg);
		return BL_EXIT_USAGE;
	}
	if (json) {
		/* The same counts as the pipe's and the maildir's, plus the mailbox's own. */
		bl_cli_print_json(counts_json(
		    json_pack("{s:I,s:I,s:I,s:I,s:s?}", "seen", (json_int_t)st.seen, "handled",
		              (json_int_t)st.processed, "kept", (json_int_t)st.kept, "removed",
		              (json_int_t)st.removed, "error", rc ? d.msg : NULL),
		    &res));
	} else {
		printf("seen %zu, handled %zu, kept %zu, removed %zu", st.seen, st.processed,
		       st.kept, st.removed);
		print_counts(&res);
	}
	if (rc) {
		bl_cli_error("%s", d.msg);
		if (rc == -BL_EINVAL)
			return BL_EXIT_INPUT;
		return rc == -BL_ESTORE || rc == -BL_EBUSY || rc == -BL_ESCHEMA ? BL_EXIT_STORE
		                                                                : EXIT_MAILBOX;
	}
	return st.kept ? BL_EXIT_INPUT : BL_EXIT_OK;
}

/* ------------------------------------------------------------------- ls */

struct ls_state {
	json_t *arr;
	size_t n;
};

static int on_row(void *arg, const struct bl_bounce_row *r)
{
	struct ls_state *ls = arg;
	ls->n++;
	if (ls->arr) {
		json_t *o = json_pack(
		    "{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:i,s:b,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s}", "id",
		    (json_int_t)r->id, "received_at", bl_json_time(r->received_at), "source",
		    r->source, "kind", r->kind, "class", bl_bounce_class_name(r->cls), "reason",
		    r->reason, "status", r->status, "reply_code", r->reply_code, "final", r->final,
		    "recipient", r->recipient, "diagnostic", r->diagnostic, "feedback_type",
		    r->feedback_type, "post_id",
		    r->post_id ? json_integer((json_int_t)r->post_id) : json_null(),
		    "subscriber_id",
		    r->subscriber_id ? json_integer((json_int_t)r->subscriber_id) : json_null(),
		    "attributed_by", r->attributed_by, "review", r->review, "action", r->action);
		json_array_append_new(ls->arr, o);
		return 0;
	}
	char post[32] = "-", sub[32] = "-";
	if (r->post_id)
		snprintf(post, sizeof(post), "%lld", (long long)r->post_id);
	if (r->subscriber_id)
		snprintf(sub, sizeof(sub), "%lld", (long long)r->subscriber_id);
	printf("%-6lld %-20s %-8s %-10s %-9s %-6s %-6s %-12s %s%s%s\n", (long long)r->id,
	       bl_cli_time(r->received_at), r->source, r->kind, bl_bounce_class_name(r->cls), post,
	       sub, r->action, *r->recipient ? r->recipient : "-", *r->review ? "  review: " : "",
	       r->review);
	return 0;
}

static int cmd_ls(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"review", no_argument, NULL, 'r'},
	                                     {"post", required_argument, NULL, 'p'},
	                                     {"subscriber", required_argument, NULL, 's'},
	                                     {"limit", required_argument, NULL, 'l'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	struct bl_bounce_filter f = {.limit = 50};
	const char *email = NULL;
	int c, json = 0;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		long long v;
		switch (c) {
		case 'r':
			f.review_only = 1;
			break;
		case 'p':
			if (bl_parse_int64(optarg, 1, INT64_MAX, &v)) {
				bl_cli_error("--post must be a post id (got \"%s\")", optarg);
				return BL_EXIT_USAGE;
			}
			f.post_id = v;
			break;
		case 's':
			email = optarg;
			break;
		case 'l':
			if (bl_parse_int64(optarg, 0, INT64_MAX, &v)) {
				bl_cli_error("--limit must be a number, 0 for all (got \"%s\")",
				             optarg);
				return BL_EXIT_USAGE;
			}
			f.limit = v;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (optind != argc) {
		bl_cli_error("bounce ls takes no operand (got \"%s\")", argv[optind]);
		return BL_EXIT_USAGE;
	}
	struct bl_store *s;
	int code = bl_cli_store(cli, 1, &s);
	if (code)
		return code;
	if (email) {
		struct bl_address a;
		struct bl_diag d;
		if (bl_address_parse(email, strlen(email), BL_ADDRESS_SMTPUTF8, &a, NULL, &d)) {
			bl_cli_error("--subscriber: %s", d.msg);
			return BL_EXIT_INPUT;
		}
		struct bl_subscriber sub = {0};
		int found = s->ops->subscriber_get(s, a.key, &sub);
		if (found < 0) {
			bl_cli_error("%s", bl_store_error(s));
			return BL_EXIT_STORE;
		}
		if (found == 0) {
			bl_cli_error("no subscriber %s", email);
			return BL_EXIT_INPUT;
		}
		f.subscriber_id = sub.id;
		bl_subscriber_clear(&sub);
	}
	struct ls_state ls = {.arr = json ? json_array() : NULL};
	if (!json)
		printf("%-6s %-20s %-8s %-10s %-9s %-6s %-6s %-12s %s\n", "ID", "RECEIVED",
		       "SOURCE", "KIND", "CLASS", "POST", "SUB", "ACTION", "RECIPIENT");
	if (s->ops->bounce_each(s, &f, on_row, &ls) < 0) {
		json_decref(ls.arr);
		bl_cli_error("%s", bl_store_error(s));
		return BL_EXIT_STORE;
	}
	if (json)
		bl_cli_print_json(ls.arr);
	return BL_EXIT_OK;
}

/* ----------------------------------------------------------------- main */

int bl_cmd_bounce(struct bl_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "ls") == 0)
		return cmd_ls(cli, argc - 1, argv + 1);
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {"envelope-to", required_argument, NULL, 'e'},
	                                     {"maildir", required_argument, NULL, 'd'},
	                                     {"mailbox", no_argument, NULL, 'm'},
	                                     {"move", required_argument, NULL, 'M'},
	                                     {"quiet", no_argument, NULL, 'q'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {0}};
	const char *envelope_to = NULL, *maildir = NULL, *move_to = NULL;
	int c, json = 0, mailbox = 0, quiet = 0;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			envelope_to = optarg;
			break;
		case 'd':
			maildir = optarg;
			break;
		case 'm':
			mailbox = 1;
			break;
		case 'M':
			move_to = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bl_cli_usage(usage, c == 'h');
		}
	}
	if (maildir && mailbox) {
		bl_cli_error("--maildir and --mailbox do not go together");
		return BL_EXIT_USAGE;
	}
	if (move_to && !mailbox) {
		bl_cli_error("--move goes with --mailbox");
		return BL_EXIT_USAGE;
	}
	if (mailbox) {
		if (optind < argc - 1) {
			bl_cli_error("--mailbox takes at most one URL");
			return BL_EXIT_USAGE;
		}
		return run_mailbox(cli, optind < argc ? argv[optind] : NULL, move_to, json);
	}
	if (optind != argc) {
		bl_cli_error("unexpected operand \"%s\"; see `bulletin bounce --help`",
		             argv[optind]);
		return BL_EXIT_USAGE;
	}
	if (maildir)
		return run_maildir(cli, maildir, quiet, json);
	return run_pipe(cli, envelope_to, json);
}

/* ------------------------------------------------- synchronous rejections */

struct reject_ctx {
	struct bl_bounce_ctx ctx;
	struct bl_secret secret;
};

/* The engine's rejected callback: a 5xx at RCPT or DATA through the bounce policy. The row
 * is already failed for good; a store error here only loses the finding (logged). */
static void on_rejection(void *arg, const struct bl_rejection *r)
{
	struct reject_ctx *rc = arg;
	struct bl_bounce_result res = {0};
	struct bl_diag d = {{0}};
	if (bl_bounce_smtp_reply(&rc->ctx, r->delivery_id, r->attempt, r->post_id, r->subscriber_id,
	                         r->rcpt, r->code, r->reply, bl_now(), &res, &d))
		bl_warn("delivery %lld: the relay's %d reply was not recorded as a bounce: %s",
		        (long long)r->delivery_id, r->code, d.msg);
}

int bl_cli_reject_hook_init(struct bl_cli *cli, struct bl_store *s, struct bl_cli_reject_hook *h,
                            struct bl_engine_opts *o, struct bl_diag *d)
{
	struct reject_ctx *rc = bl_xcalloc(1, sizeof(*rc));
	int e;
	h->ctx = NULL;
	if ((e = bl_load_secret(s, &rc->secret, d)) ||
	    (e = bl_bounce_policy_from_config(cli->config, &rc->ctx.policy, d))) {
		free(rc);
		return e;
	}
	rc->ctx.store = s;
	rc->ctx.secret = &rc->secret;
	rc->ctx.source = "smtp";
	h->ctx = &rc->ctx; /* first member: the reject_ctx itself */
	o->rejected = on_rejection;
	o->rejected_arg = rc;
	o->account_refusal = bl_bounce_account_refusal;
	return 0;
}

void bl_cli_reject_hook_finish(struct bl_cli_reject_hook *h)
{
	if (h && h->ctx) {
		struct reject_ctx *rc = (struct reject_ctx *)h->ctx;
		bl_memzero(&rc->secret, sizeof(rc->secret));
		free(rc);
		h->ctx = NULL;
	}
}
