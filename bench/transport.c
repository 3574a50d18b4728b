/*
 * Transport micro benchmark (bench/transport.sh runs it beside smtp-source):
 * sends N messages with a body of SIZE bytes through bl_transport to one
 * relay with the given concurrency, one recipient each, and prints
 *   "bulletin (CLIENT): N messages of B bytes in S s: R msgs/s, C us CPU/msg
 *    (A accepted, O other)"
 * CPU is this process's user + system time (getrusage) over the sends.
 * CLIENT is "auto" (the transport's choice: our own client for a loopback
 * relay) or "libcurl" (opts.client forced). Not a test: it checks only that
 * every message was accepted (exit 1 if not).
 *
 *   bench_transport URL N SIZE CONCURRENCY [auto|libcurl]
 */
#include "send/transport.h"
#include "util/time.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally {
	long accepted, other;
	char first_other[300];
};

static void on_result(void *arg, const struct bl_send_result *r)
{
	struct tally *t = arg;
	if (r->outcome == BL_SEND_ACCEPTED) {
		t->accepted++;
		return;
	}
	if (t->other++ == 0)
		snprintf(t->first_other, sizeof(t->first_other), "outcome %d stage %d: %s",
		         (int)r->outcome, (int)r->stage, r->reply);
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* Headers, then a body of @size bytes in 78-byte lines (as smtp-source -l). */
static char *make_message(size_t size, size_t *len)
{
	char *m = bl_xmalloc(size + 200);
	int n = snprintf(m, 200,
	                 "From: Bench <bench@bulletin.test>\r\nTo: reader@bulletin.test\r\n"
	                 "Subject: benchmark\r\nMessage-ID: <bench@bulletin.test>\r\n\r\n");
	size_t o = (size_t)n;
	size += o;
	while (o + 78 <= size) {
		for (size_t i = 0; i < 76; i++, o++)
			m[o] = (char)('a' + (o + i) % 26);
		m[o++] = '\r';
		m[o++] = '\n';
	}
	*len = o;
	return m;
}

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: bench_transport URL N SIZE CONCURRENCY [auto|libcurl]\n");
		return 2;
	}
	const char *client = argc == 6 ? argv[5] : "auto";
	if (strcmp(client, "auto") != 0 && strcmp(client, "libcurl") != 0) {
		fprintf(stderr, "bench_transport: client is auto or libcurl, not %s\n", client);
		return 2;
	}
	long n = atol(argv[2]);
	size_t size = (size_t)atol(argv[3]);
	struct bl_transport_opts o;
	bl_transport_opts_init(&o);
	o.concurrency = atoi(argv[4]);
	o.helo = "bench.bulletin.test";
	o.client = strcmp(client, "libcurl") == 0 ? BL_SMTP_CLIENT_LIBCURL : BL_SMTP_CLIENT_AUTO;
	struct bl_transport *t;
	struct bl_diag d = {""};
	if (bl_transport_create(argv[1], &o, &t, &d) != 0) {
		fprintf(stderr, "bench_transport: %s\n", d.msg);
		return 1;
	}
	size_t len;
	char *proto = make_message(size, &len);
	char rcpt[64];
	struct tally tally = {0, 0, ""};
	long sent = 0;
	double t0 = bl_monotonic(), cpu0 = cpu_seconds();
	while (tally.accepted + tally.other < n) {
		while (sent < n && bl_transport_slots(t) > 0) {
			snprintf(rcpt, sizeof(rcpt), "reader%ld@bulletin.test", sent);
			char *data = bl_xmalloc(len);
			memcpy(data, proto, len);
			struct bl_transport_msg m = {
			    .mail_from = "bounces+bench@bulletin.test",
			    .rcpt = rcpt,
			    .data = data,
			    .len = len,
			    .tag = (void *)(intptr_t)sent,
			};
			if (bl_transport_submit(t, &m) != 0) {
				free(data);
				break;
			}
			sent++;
		}
		if (bl_transport_poll(t, 1000, on_result, &tally) < 0) {
			fprintf(stderr, "bench_transport: poll failed\n");
			return 1;
		}
		if (bl_transport_slots(t) == 0 && bl_transport_in_flight(t) == 0)
			break; /* every relay backing off */
	}
	double secs = bl_monotonic() - t0, cpu = cpu_seconds() - cpu0;
	bl_transport_destroy(t);
	free(proto);
	printf("bulletin (%s): %ld messages of %zu bytes in %.2f s: %.0f msgs/s, %.1f us CPU/msg "
	       "(%ld accepted, %ld other)\n",
	       client, n, len, secs, (double)n / secs, cpu * 1e6 / (double)n, tally.accepted,
	       tally.other);
	if (tally.other)
		printf("bulletin: first non-accepted: %s\n", tally.first_other);
	return tally.accepted == n ? 0 : 1;
}
