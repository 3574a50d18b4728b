/*
 * The maildir transport: each message becomes one file, written under tmp/,
 * flushed to disk, then renamed into new/ (the maildir delivery protocol),
 * so a reader of new/ never sees a partial file. Names follow the maildir
 * convention "SECONDS.MmicrosPpidQcount.host" and double as queue ids.
 * Used as the embedded default transport and as the test double of SMTP.
 */
#include "send/relay.h"

#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

static int make_dir(const char *path, struct bl_diag *d)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (e == EEXIST)
		return bl_diag_set(d, BL_EIO, "maildir: %s exists and is not a directory", path);
	return bl_diag_set(d, BL_EIO, "maildir: cannot create %s: %s", path, strerror(e));
}

int bl_maildir_prepare(const char *path, struct bl_diag *d)
{
	static const char *const sub[] = {"tmp", "new", "cur"};
	int rc = make_dir(path, d);
	for (size_t i = 0; rc == 0 && i < sizeof(sub) / sizeof(sub[0]); i++) {
		struct bl_buf p;
		bl_buf_init(&p, 0);
		bl_buf_addf(&p, "%s/%s", path, sub[i]);
		rc = make_dir(bl_buf_str(&p), d);
		bl_buf_finish(&p);
	}
	return rc;
}

int bl_maildir_probe(const char *path, char *why, size_t why_len)
{
	static const char *const sub[] = {"tmp", "new"};
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		struct bl_buf p;
		bl_buf_init(&p, 0);
		bl_buf_addf(&p, "%s/%s", path, sub[i]);
		int ok = access(bl_buf_str(&p), W_OK | X_OK) == 0;
		if (!ok)
			snprintf(why, why_len, "maildir: %s: %s", bl_buf_str(&p), strerror(errno));
		bl_buf_finish(&p);
		if (!ok)
			return 0;
	}
	return 1;
}

/* The host part of file names: '/' and ':' would break the name, so they
 * become \057 and \072 as the maildir convention says; at most 16 bytes. */
static void host_part(char *out, size_t size)
{
	char host[256];
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	size_t o = 0;
	for (const char *p = host; *p && o + 5 < size && o < 16; p++) {
		if (*p == '/' || *p == ':') {
			o += (size_t)snprintf(out + o, size - o, "\\%03o", (unsigned char)*p);
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* Write all of @iov (modified in place), retrying short writes and EINTR. */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static void fail(struct bl_send_result *res, const char *what, const char *path, int e)
{
	res->outcome = BL_SEND_CONNECTION;
	res->stage = BL_STAGE_DATA_END;
	res->code = 0;
	snprintf(res->reply, sizeof(res->reply), "maildir: %s %s: %s", what, path, strerror(e));
}

void bl_maildir_deliver(const char *path, const struct bl_transport_msg *m,
                        struct bl_send_result *res)
{
	static _Atomic unsigned counter;
	char host[24];
	host_part(host, sizeof(host));

	struct bl_buf head, tmp, dst;
	bl_buf_init(&head, 0);
	bl_buf_init(&tmp, 0);
	bl_buf_init(&dst, 0);
	bl_buf_addf(&head, "Return-Path: <%s>\r\nDelivered-To: <%s>\r\n", m->mail_from, m->rcpt);

	int fd = -1;
	char name[128]; /* well under 64 bytes in practice (queue_id) */
	for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%u.%s", (long long)tv.tv_sec,
		         (long)tv.tv_usec, (long)getpid(), ++counter, host);
		bl_buf_reset(&tmp);
		bl_buf_addf(&tmp, "%s/tmp/%s", path, name);
		fd = open(bl_buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		fail(res, "cannot create", bl_buf_str(&tmp), errno);
		goto out;
	}

	struct iovec iov[2] = {
	    {.iov_base = (void *)bl_buf_str(&head), .iov_len = head.len},
	    {.iov_base = m->data, .iov_len = m->len},
	};
	if (write_all(fd, iov, 2) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(bl_buf_str(&tmp));
		fail(res, "cannot write", bl_buf_str(&tmp), e);
		goto out;
	}
	if (close(fd) != 0) {
		int e = errno;
		unlink(bl_buf_str(&tmp));
		fail(res, "cannot write", bl_buf_str(&tmp), e);
		goto out;
	}
	bl_buf_addf(&dst, "%s/new/%s", path, name);
	if (rename(bl_buf_str(&tmp), bl_buf_str(&dst)) != 0) {
		int e = errno;
		unlink(bl_buf_str(&tmp));
		fail(res, "cannot rename into", bl_buf_str(&dst), e);
		goto out;
	}
	/* The rename is durable once new/ itself is on disk. */
	bl_buf_reset(&dst);
	bl_buf_addf(&dst, "%s/new", path);
	int dfd = open(bl_buf_str(&dst), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	res->outcome = BL_SEND_ACCEPTED;
	res->stage = BL_STAGE_DATA_END;
	res->code = 0;
	snprintf(res->reply, sizeof(res->reply), "delivered to maildir %s", path);
	size_t nl = strlen(name);
	if (nl >= sizeof(res->queue_id))
		nl = sizeof(res->queue_id) - 1;
	memcpy(res->queue_id, name, nl);
	res->queue_id[nl] = '\0';
out:
	bl_buf_finish(&head);
	bl_buf_finish(&tmp);
	bl_buf_finish(&dst);
}
