/*
 * Tests of the bounce mailbox poller (src/bounce/mailbox.c) against a real
 * Dovecot on 127.0.0.1: tests/bounce/dovecot.sh starts a private instance
 * (IMAP, IMAPS, POP3, POP3S on free ports, a throwaway certificate, one
 * maildir) and stops it at the end. Messages are delivered by writing files
 * into the maildir's new/, and what is left is read back from the files.
 * Covered, over IMAP and POP3: everything processed, some kept (unchanged),
 * IMAP move to a folder (MOVE, and the COPY/EXPUNGE fallbacks through a user
 * whose capability list lacks MOVE and UIDPLUS), a callback stopping the poll,
 * max_messages, TLS (accepted with insecure, refused without), a 2 MB message
 * and one with bare CRs and 8-bit bytes byte for byte, a wrong password (not
 * in the message), an unreachable port and malformed URLs.
 * Skips (77) when Dovecot is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bounce/mailbox.h"
#include "util/buf.h"
#include "util/xalloc.h"

static char dir[] = "/tmp/bl-test-mailbox-XXXXXX";
static char dvdir[128];
static char script[1024];
static int started;
static int imap_port, imaps_port, pop3_port, pop3s_port;
static char password[128], maildir[512];
static unsigned mail_uid, mail_gid;
static unsigned serial;

/* ------------------------------------------------------------- fixture */

static int read_env(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/env", dvdir);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "IMAP_PORT") == 0)
			imap_port = atoi(eq);
		else if (strcmp(line, "IMAPS_PORT") == 0)
			imaps_port = atoi(eq);
		else if (strcmp(line, "POP3_PORT") == 0)
			pop3_port = atoi(eq);
		else if (strcmp(line, "POP3S_PORT") == 0)
			pop3s_port = atoi(eq);
		else if (strcmp(line, "PASSWORD") == 0)
			snprintf(password, sizeof(password), "%s", eq);
		else if (strcmp(line, "MAILDIR") == 0)
			snprintf(maildir, sizeof(maildir), "%s", eq);
		else if (strcmp(line, "MAIL_UID") == 0)
			mail_uid = (unsigned)atoi(eq);
		else if (strcmp(line, "MAIL_GID") == 0)
			mail_gid = (unsigned)atoi(eq);
	}
	fclose(f);
	return imap_port && imaps_port && pop3_port && pop3s_port && *password && *maildir ? 0 : -1;
}

static void stop_dovecot(void)
{
	if (!started)
		return;
	started = 0;
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "bash '%s' stop '%s'", script, dvdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# dovecot.sh stop failed\n");
	rmdir(dir);
}

static int start_dovecot(void)
{
	const char *root = getenv("BL_SOURCE_ROOT");
	snprintf(script, sizeof(script), "%s/tests/bounce/dovecot.sh", root ? root : ".");
	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0755); /* the mail processes run as an unprivileged user */
	snprintf(dvdir, sizeof(dvdir), "%s/dovecot", dir);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "bash '%s' start '%s' >&2", script, dvdir);
	int st = system(cmd);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		rmdir(dir);
		return 77;
	}
	started = 1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || read_env() != 0) {
		fprintf(stderr, "# dovecot.sh start failed (status %d)\n", st);
		return -1;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* How many logins the server's log shows so far. */
static size_t count_logins(void)
{
	char path[256], line[2048];
	snprintf(path, sizeof(path), "%s/dovecot.log", dvdir);
	FILE *f = fopen(path, "r");
	size_t n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "-login: Info: Login: ") != NULL;
	fclose(f);
	return n;
}

/* A file path in @folder ("" = INBOX, else ".Name") of the maildir. */
static void folder_path(char *out, size_t n, const char *folder, const char *sub)
{
	snprintf(out, n, "%s%s%s/%s", maildir, *folder ? "/" : "", folder, sub);
}

/* Deliver @len bytes as a new message into INBOX. */
static void deliver(const char *msg, size_t len)
{
	char tmp[1024], dst[1024];
	folder_path(tmp, sizeof(tmp), "", "tmp");
	folder_path(dst, sizeof(dst), "", "new");
	char name[128];
	snprintf(name, sizeof(name), "/%u.M%uP%d.test", 1700000000u + serial, serial,
	         (int)getpid());
	serial++;
	strcat(tmp, name);
	strcat(dst, name);
	FILE *f = fopen(tmp, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(msg, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	if (chown(tmp, mail_uid, mail_gid) != 0)
		fail_msg("chown %s", tmp);
	assert_int_equal(rename(tmp, dst), 0);
}

struct stored {
	char *data;
	size_t len;
};

/* The messages in @folder (new/ and cur/), appended to @out (up to @max). */
static size_t read_folder(const char *folder, struct stored *out, size_t max)
{
	size_t n = 0;
	const char *subs[] = {"new", "cur"};
	for (int s = 0; s < 2; s++) {
		char path[1024];
		folder_path(path, sizeof(path), folder, subs[s]);
		DIR *dd = opendir(path);
		if (!dd)
			continue;
		struct dirent *e;
		while ((e = readdir(dd)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char file[2048];
			snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
			FILE *f = fopen(file, "rb");
			if (!f)
				continue;
			struct bl_buf b;
			bl_buf_init(&b, 0);
			char chunk[65536];
			size_t got;
			while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
				bl_buf_add(&b, chunk, got);
			fclose(f);
			if (n < max) {
				out[n].len = b.len;
				out[n].data = bl_buf_take(&b);
			}
			bl_buf_finish(&b);
			n++;
		}
		closedir(dd);
	}
	return n;
}

static void free_stored(struct stored *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].data);
}

/* Empty INBOX and Processed (files only; Dovecot resyncs its index). */
static void clear_mailbox(void)
{
	const char *folders[] = {"", ".Processed"};
	const char *subs[] = {"new", "cur"};
	for (int i = 0; i < 2; i++)
		for (int s = 0; s < 2; s++) {
			char path[1024];
			folder_path(path, sizeof(path), folders[i], subs[s]);
			DIR *dd = opendir(path);
			if (!dd)
				continue;
			struct dirent *e;
			while ((e = readdir(dd)) != NULL) {
				if (e->d_name[0] == '.')
					continue;
				char file[2048];
				snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
				unlink(file);
			}
			closedir(dd);
		}
}

/* The X-Test-Id of a message, or -1. */
static int test_id(const char *msg, size_t len)
{
	const char *h = "X-Test-Id: ";
	size_t hn = strlen(h);
	for (size_t i = 0; i + hn < len; i++)
		if ((i == 0 || msg[i - 1] == '\n') && memcmp(msg + i, h, hn) == 0)
			return atoi(msg + i + hn);
	return -1;
}

#define MAX_MSGS 16

/* The messages of one test, by id: what was delivered, the callback's answer. */
struct run {
	struct stored sent[MAX_MSGS];
	size_t n;
	int answer[MAX_MSGS]; /* 0 processed, 1 keep, < 0 stop */
	int order[MAX_MSGS];  /* ids in the order the callback saw them */
	size_t calls;
	int mismatch; /* an id whose bytes differed from the file */
};

static void run_finish(struct run *r)
{
	free_stored(r->sent, r->n);
	memset(r, 0, sizeof(*r));
}

/* Deliver a message with id r->n: a short one, or @body when given. */
static void add_msg(struct run *r, const char *body, size_t len, int answer)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b,
	            "From: MAILER-DAEMON@example.org\r\nTo: bounces@example.org\r\n"
	            "Subject: test %zu\r\nX-Test-Id: %zu\r\n\r\n",
	            r->n, r->n);
	if (body)
		bl_buf_add(&b, body, len);
	else
		bl_buf_addf(&b, "message %zu\r\n", r->n);
	r->sent[r->n].len = b.len;
	r->sent[r->n].data = bl_buf_take(&b);
	r->answer[r->n] = answer;
	deliver(r->sent[r->n].data, r->sent[r->n].len);
	r->n++;
}

static int on_message(void *arg, const char *msg, size_t len)
{
	struct run *r = arg;
	int id = test_id(msg, len);
	if (id < 0 || (size_t)id >= r->n) {
		print_error("# callback: a message without a known X-Test-Id (%zu bytes)\n", len);
		r->mismatch = 1;
		return 1;
	}
	if (msg[len] != '\0') {
		print_error("# callback: message %d is not NUL-terminated\n", id);
		r->mismatch = 1;
	}
	if (len != r->sent[id].len || memcmp(msg, r->sent[id].data, len) != 0) {
		size_t at = 0;
		while (at < len && at < r->sent[id].len && msg[at] == r->sent[id].data[at])
			at++;
		print_error("# message %d: got %zu bytes, want %zu; first difference at byte %zu\n",
		            id, len, r->sent[id].len, at);
		r->mismatch = 1;
	}
	if (r->calls < MAX_MSGS)
		r->order[r->calls] = id;
	r->calls++;
	return r->answer[id];
}

/* Check that @folder holds exactly the messages of @r whose @want[id] is set,
 * byte for byte. */
static void expect_folder(const struct run *r, const char *folder, const int *want,
                          const char *what)
{
	struct stored got[MAX_MSGS * 2];
	size_t n = read_folder(folder, got, MAX_MSGS * 2);
	size_t nwant = 0;
	for (size_t i = 0; i < r->n; i++)
		nwant += want[i] != 0;
	int bad = n != nwant;
	if (bad)
		print_error("# %s: folder \"%s\" holds %zu messages, want %zu\n", what, folder, n,
		            nwant);
	for (size_t i = 0; i < n && i < MAX_MSGS * 2; i++) {
		int id = test_id(got[i].data, got[i].len);
		if (id < 0 || (size_t)id >= r->n || !want[id]) {
			print_error("# %s: folder \"%s\" holds message %d, want it gone\n", what,
			            folder, id);
			bad = 1;
		} else if (got[i].len != r->sent[id].len ||
		           memcmp(got[i].data, r->sent[id].data, got[i].len) != 0) {
			print_error("# %s: message %d changed on the server (%zu bytes, was %zu)\n",
			            what, id, got[i].len, r->sent[id].len);
			bad = 1;
		}
	}
	free_stored(got, n < MAX_MSGS * 2 ? n : MAX_MSGS * 2);
	if (bad)
		fail_msg("%s: wrong folder contents", what);
}

static void url_for(char *out, size_t n, const char *scheme, const char *user, const char *pw,
                    const char *path)
{
	int port = strcmp(scheme, "imap") == 0    ? imap_port
	           : strcmp(scheme, "imaps") == 0 ? imaps_port
	           : strcmp(scheme, "pop3") == 0  ? pop3_port
	                                          : pop3s_port;
	snprintf(out, n, "%s://%s%s%s@127.0.0.1:%d/%s", scheme, user, pw ? ":" : "", pw ? pw : "",
	         port, path);
}

static void expect_stats(const struct bl_mailbox_stats *got, size_t seen, size_t processed,
                         size_t kept, size_t removed, const char *what)
{
	if (got->seen != seen || got->processed != processed || got->kept != kept ||
	    got->removed != removed)
		fail_msg("%s: got seen/processed/kept/removed %zu/%zu/%zu/%zu, want "
		         "%zu/%zu/%zu/%zu",
		         what, got->seen, got->processed, got->kept, got->removed, seen, processed,
		         kept, removed);
}

/* --------------------------------------------------------------- tests */

/* Everything processed, some kept, and max_messages; over each scheme. */
static void test_process_and_keep(void **state)
{
	static const struct {
		const char *scheme, *user;
		int insecure;
		size_t n;
		int keep[MAX_MSGS]; /* 1 = the callback keeps this id */
		size_t max;
		size_t want_seen;
	} cases[] = {
	    {"imap", "bounces", 0, 5, {0}, 0, 5},
	    {"imap", "bounces", 0, 6, {0, 0, 1, 0, 0, 1}, 0, 6},
	    {"imap", "bounces", 0, 5, {0}, 2, 2},
	    {"imap", "nomove", 0, 4, {0, 1, 0, 0}, 0, 4}, /* EXPUNGE without UIDPLUS */
	    {"imaps", "bounces", 1, 3, {0, 1, 0}, 0, 3},
	    {"pop3", "bounces", 0, 5, {0}, 0, 5},
	    {"pop3", "bounces", 0, 6, {1, 0, 0, 1, 0, 0}, 0, 6},
	    {"pop3", "bounces", 0, 5, {0}, 3, 3},
	    {"pop3s", "bounces", 1, 3, {0, 0, 1}, 0, 3},
	};
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct run r = {0};
		clear_mailbox();
		size_t want_kept = 0;
		for (size_t i = 0; i < cases[c].n; i++)
			add_msg(&r, NULL, 0, cases[c].keep[i]);
		char url[512], what[128];
		url_for(url, sizeof(url), cases[c].scheme, cases[c].user, password, "");
		snprintf(what, sizeof(what), "case %zu (%s, %s)", c, cases[c].scheme,
		         cases[c].user);
		struct bl_mailbox_opts o = {.url = url,
		                            .insecure = cases[c].insecure,
		                            .timeout = 20,
		                            .max_messages = cases[c].max};
		struct bl_mailbox_stats st;
		struct bl_diag d = {{0}};
		size_t logins = count_logins();
		int rc = bl_mailbox_poll(&o, on_message, &r, &st, &d);
		if (rc != 0)
			fail_msg("%s: got %d (%s), want 0", what, rc, d.msg);
		/* One connection carried every command (the log is written by
		 * another process: wait for it a little). */
		for (int i = 0; i < 40 && count_logins() == logins; i++)
			sleep_ms(25);
		sleep_ms(50);
		if (count_logins() - logins != 1)
			fail_msg("%s: got %zu logins, want 1", what, count_logins() - logins);
		/* What remains: the kept ones, and every one the poll did not reach. */
		int want[MAX_MSGS] = {0};
		int seen[MAX_MSGS] = {0};
		for (size_t i = 0; i < r.calls && i < MAX_MSGS; i++)
			seen[r.order[i]] = 1;
		for (size_t i = 0; i < r.n; i++) {
			want[i] = !seen[i] || cases[c].keep[i];
			want_kept += seen[i] && cases[c].keep[i];
		}
		if (r.calls != cases[c].want_seen)
			fail_msg("%s: callback called %zu times, want %zu", what, r.calls,
			         cases[c].want_seen);
		expect_stats(&st, cases[c].want_seen, cases[c].want_seen - want_kept, want_kept,
		             cases[c].want_seen - want_kept, what);
		if (r.mismatch)
			fail_msg("%s: a message arrived changed", what);
		expect_folder(&r, "", want, what);
		run_finish(&r);
	}
}

/* IMAP move_to: processed messages land in Processed, unchanged. */
static void test_move(void **state)
{
	static const struct {
		const char *user;
		const char *folder;
	} cases[] = {
	    {"bounces", "Processed"}, /* UID MOVE */
	    {"nomove", "Processed"},  /* UID COPY + \Deleted + EXPUNGE */
	    {"bounces", "Done"},      /* created on first use */
	};
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct run r = {0};
		clear_mailbox();
		add_msg(&r, NULL, 0, 0);
		add_msg(&r, NULL, 0, 1);
		add_msg(&r, NULL, 0, 0);
		char url[512], what[128];
		url_for(url, sizeof(url), "imap", cases[c].user, password, "INBOX");
		snprintf(what, sizeof(what), "move %zu (%s to %s)", c, cases[c].user,
		         cases[c].folder);
		struct bl_mailbox_opts o = {.url = url, .move_to = cases[c].folder, .timeout = 20};
		struct bl_mailbox_stats st;
		struct bl_diag d = {{0}};
		int rc = bl_mailbox_poll(&o, on_message, &r, &st, &d);
		if (rc != 0)
			fail_msg("%s: got %d (%s), want 0", what, rc, d.msg);
		expect_stats(&st, 3, 2, 1, 2, what);
		const int inbox[] = {0, 1, 0}, moved[] = {1, 0, 1};
		expect_folder(&r, "", inbox, what);
		char folder[64];
		snprintf(folder, sizeof(folder), ".%s", cases[c].folder);
		expect_folder(&r, folder, moved, what);
		run_finish(&r);
	}
}

/* A callback error stops the poll: earlier messages removed, the rest kept. */
static void test_stop(void **state)
{
	const char *schemes[] = {"imap", "pop3"};
	(void)state;
	for (size_t c = 0; c < 2; c++) {
		struct run r = {0};
		clear_mailbox();
		for (int i = 0; i < 5; i++)
			add_msg(&r, NULL, 0, 0);
		char url[512];
		url_for(url, sizeof(url), schemes[c], "bounces", password, "");
		struct bl_mailbox_opts o = {.url = url, .timeout = 20};
		struct bl_mailbox_stats st;
		struct bl_diag d = {{0}};
		/* Id 2 stops; the poll order is the server's, so what came before it
		 * is removed and everything else is kept. */
		r.answer[2] = -BL_ESTORE;
		int rc = bl_mailbox_poll(&o, on_message, &r, &st, &d);
		if (rc != -BL_ESTORE)
			fail_msg("%s: got %d (%s), want %d", schemes[c], rc, d.msg, -BL_ESTORE);
		int want[MAX_MSGS];
		for (size_t i = 0; i < r.n; i++)
			want[i] = 1;
		size_t before = 0;
		while (before < r.calls && r.order[before] != 2)
			want[r.order[before++]] = 0;
		if (before + 1 != r.calls)
			fail_msg("%s: callback called %zu times, want %zu (stop at id 2)",
			         schemes[c], r.calls, before + 1);
		expect_stats(&st, before + 1, before, 1, before, schemes[c]);
		expect_folder(&r, "", want, schemes[c]);
		run_finish(&r);
	}
}

static volatile sig_atomic_t stop_now;

static int on_message_then_stop(void *arg, const char *msg, size_t len)
{
	int rc = on_message(arg, msg, len);
	stop_now = 1;
	return rc;
}

/* A stop flag set during the poll abandons the next command: the poll ends
 * with -BL_EIO after one message, and the messages not reached stay. */
static void test_stop_flag(void **state)
{
	const char *schemes[] = {"imap", "pop3"};
	(void)state;
	for (size_t c = 0; c < 2; c++) {
		struct run r = {0};
		clear_mailbox();
		for (int i = 0; i < 3; i++)
			add_msg(&r, NULL, 0, 0);
		char url[512];
		url_for(url, sizeof(url), schemes[c], "bounces", password, "");
		stop_now = 0;
		struct bl_mailbox_opts o = {.url = url, .timeout = 20, .stop = &stop_now};
		struct bl_mailbox_stats st;
		struct bl_diag d = {{0}};
		int rc = bl_mailbox_poll(&o, on_message_then_stop, &r, &st, &d);
		if (rc != -BL_EIO)
			fail_msg("%s: got %d (%s), want %d", schemes[c], rc, d.msg, -BL_EIO);
		if (r.calls != 1)
			fail_msg("%s: callback called %zu times, want 1", schemes[c], r.calls);
		struct stored got[MAX_MSGS];
		size_t n = read_folder("", got, MAX_MSGS);
		free_stored(got, n);
		if (n < 2)
			fail_msg("%s: %zu messages left, want at least 2", schemes[c], n);
		print_message("# %s: %s; %zu left\n", schemes[c], d.msg, n);
		run_finish(&r);
	}
}

static int count_and_process(void *arg, const char *msg, size_t len)
{
	(void)msg, (void)len;
	(*(size_t *)arg)++;
	return 0;
}

/* 300 messages in one poll (libcurl 7.88.1 fails an EXPUNGE answer of a few
 * hundred lines: the poller expunges in small batches), with and without
 * UIDPLUS, and over POP3. */
static void test_many(void **state)
{
	const char *users[] = {"bounces", "nomove", "bounces"};
	const char *schemes[] = {"imap", "imap", "pop3"};
	(void)state;
	for (size_t c = 0; c < 3; c++) {
		clear_mailbox();
		for (int i = 0; i < 300; i++) {
			char m[128];
			int n = snprintf(m, sizeof(m),
			                 "From: a@example.org\r\nSubject: %d\r\n\r\n%d\r\n", i, i);
			deliver(m, (size_t)n);
		}
		char url[512];
		url_for(url, sizeof(url), schemes[c], users[c], password, "");
		struct bl_mailbox_opts o = {.url = url, .timeout = 20};
		struct bl_mailbox_stats st;
		struct bl_diag d = {{0}};
		size_t calls = 0;
		int rc = bl_mailbox_poll(&o, count_and_process, &calls, &st, &d);
		if (rc != 0)
			fail_msg("%s %s: got %d (%s), want 0", schemes[c], users[c], rc, d.msg);
		expect_stats(&st, 300, 300, 0, 300, schemes[c]);
		struct stored got[4];
		size_t left = read_folder("", got, 4);
		free_stored(got, left < 4 ? left : 4);
		if (left != 0 || calls != 300)
			fail_msg("%s %s: got %zu left after %zu calls, want 0 after 300",
			         schemes[c], users[c], left, calls);
	}
}

/* A 2 MB message and one with bare CRs and 8-bit bytes, byte for byte. */
static void test_exact_bytes(void **state)
{
	const char *schemes[] = {"imap", "pop3", "imaps"};
	(void)state;
	size_t big_len = 2u << 20;
	char *big = bl_xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
	memcpy(big + big_len - 2, "\r\n", 2);
	/* A line starting with a dot (POP3 dot-stuffing) and a lone "." line. */
	memcpy(big + 78 * 10, ".leading dot\r\n.\r\n", 17);
	static const char odd[] = "bare\rCR\rlines\r\n8-bit \xe9\xe8\xff\x80\xc3\xa9 bytes\r\n"
	                          "..two dots\r\nend\r\n";
	for (size_t c = 0; c < sizeof(schemes) / sizeof(schemes[0]); c++) {
		struct run r = {0};
		clear_mailbox();
		add_msg(&r, big, big_len, 0);
		add_msg(&r, odd, sizeof(odd) - 1, 0);
		char url[512];
		url_for(url, sizeof(url), schemes[c], "bounces", password, "");
		struct bl_mailbox_opts o = {.url = url, .timeout = 30, .insecure = 1};
		struct bl_mailbox_stats st;
		struct bl_diag d = {{0}};
		int rc = bl_mailbox_poll(&o, on_message, &r, &st, &d);
		if (rc != 0)
			fail_msg("%s: got %d (%s), want 0", schemes[c], rc, d.msg);
		if (r.mismatch)
			fail_msg("%s: a message arrived changed", schemes[c]);
		expect_stats(&st, 2, 2, 0, 2, schemes[c]);
		run_finish(&r);
	}
	free(big);
}

/* Failures: login, TLS, connection, URLs. The password never shows. */
static void test_errors(void **state)
{
	(void)state;
	char port_free[16];
	/* A port nothing listens on: bind one, note it, close it. */
	{
		FILE *p = popen("/usr/bin/python3 -c 'import socket; s = socket.socket(); "
		                "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'",
		                "r");
		assert_non_null(p);
		assert_non_null(fgets(port_free, sizeof(port_free), p));
		pclose(p);
		port_free[strcspn(port_free, "\n")] = '\0';
	}
	const char *wrong = "Wr0ng-Secret-xyz";
	char u[8][512];
	url_for(u[0], sizeof(u[0]), "imap", "bounces", wrong, "INBOX");
	url_for(u[1], sizeof(u[1]), "pop3", "bounces", wrong, "");
	url_for(u[2], sizeof(u[2]), "imaps", "bounces", password, "");
	url_for(u[3], sizeof(u[3]), "pop3s", "bounces", password, "");
	snprintf(u[4], sizeof(u[4]), "imap://bounces:%s@127.0.0.1:%s/", wrong, port_free);
	snprintf(u[5], sizeof(u[5]), "pop3s://bounces:%s@127.0.0.1:%s/", wrong, port_free);
	url_for(u[6], sizeof(u[6]), "imap", "bounces", NULL, "");
	url_for(u[7], sizeof(u[7]), "imap", "bounces", NULL, "No%20Such");
	const struct {
		const char *url, *password;
		int want;
		const char *move_to;
	} cases[] = {
	    {u[0], NULL, -BL_EIO, NULL},     /* wrong password in the URL */
	    {u[1], NULL, -BL_EIO, NULL},     /* the same over POP3 */
	    {u[6], wrong, -BL_EIO, NULL},    /* wrong password from the option */
	    {u[2], NULL, -BL_EIO, NULL},     /* self-signed certificate, verified */
	    {u[3], NULL, -BL_EIO, NULL},     /* the same over POP3S */
	    {u[4], NULL, -BL_EIO, NULL},     /* nothing listening */
	    {u[5], NULL, -BL_EIO, NULL},     /* nothing listening, TLS */
	    {u[7], password, -BL_EIO, NULL}, /* no such folder */
	    {"http://bounces:x@127.0.0.1/", NULL, -BL_EINVAL, NULL},
	    {"smtp://bounces:x@127.0.0.1/", NULL, -BL_EINVAL, NULL},
	    {"imap://127.0.0.1:1/INBOX", NULL, -BL_EINVAL, NULL},  /* no user */
	    {"pop3://:pw@127.0.0.1:1/", NULL, -BL_EINVAL, NULL},   /* empty user */
	    {"pop3://u:pw@127.0.0.1:1/3", NULL, -BL_EINVAL, NULL}, /* a message, not a box */
	    {"imap://u:pw@127.0.0.1:1/INBOX/;UID=1", NULL, -BL_EINVAL, NULL},
	    {"imap://u:Wr0ng-Secret-xyz@[::1", NULL, -BL_EINVAL, NULL}, /* does not parse */
	    {"", NULL, -BL_EINVAL, NULL},
	    /* POP3 has no folders: moving would delete; refused before connecting */
	    {u[3], NULL, -BL_EINVAL, "Processed"},
	};
	clear_mailbox();
	struct run r = {0};
	add_msg(&r, NULL, 0, 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct bl_mailbox_opts o = {.url = cases[c].url,
		                            .password = cases[c].password,
		                            .move_to = cases[c].move_to,
		                            .timeout = 10};
		struct bl_mailbox_stats st = {9, 9, 9, 9};
		struct bl_diag d = {{0}};
		int rc = bl_mailbox_poll(&o, on_message, &r, &st, &d);
		if (rc != cases[c].want)
			fail_msg("case %zu: got %d (%s), want %d", c, rc, d.msg, cases[c].want);
		if (!d.msg[0])
			fail_msg("case %zu: no diagnostic", c);
		if (strstr(d.msg, wrong) || strstr(d.msg, password))
			fail_msg("case %zu: the diagnostic shows the password: %s", c, d.msg);
		if (st.seen || st.removed)
			fail_msg("case %zu: got seen %zu removed %zu, want 0", c, st.seen,
			         st.removed);
		print_message("# case %zu: %s\n", c, d.msg);
	}
	if (r.calls != 0)
		fail_msg("the callback ran %zu times, want 0", r.calls);
	/* A short password is not masked out of libcurl's words ("Failed to connect ..." once
	 * read "Failed ****connect" for the password "to"). */
	struct bl_mailbox_opts shortpw = {.url = "imap://bob:to@127.0.0.1:1/INBOX", .timeout = 10};
	struct bl_diag d = {{0}};
	if (bl_mailbox_poll(&shortpw, on_message, &r, NULL, &d) != -BL_EIO || strstr(d.msg, "*") ||
	    !strstr(d.msg, "to connect"))
		fail_msg("short password: got \"%s\", want an unmasked \"... to connect ...\"",
		         d.msg);
	const int want[] = {1};
	expect_folder(&r, "", want, "errors");
	run_finish(&r);
}

static int setup(void **state)
{
	(void)state;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stop_dovecot();
	return 0;
}

int main(void)
{
	int rc = start_dovecot();
	if (rc == 77) {
		printf("1..0 # SKIP dovecot is not installed\n");
		return 77;
	}
	if (rc != 0) {
		stop_dovecot();
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_and_keep),
	    cmocka_unit_test(test_move),
	    cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_stop_flag),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_exact_bytes),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
