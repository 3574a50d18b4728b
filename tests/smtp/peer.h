/*
 * SMTP servers on loopback for the delivery tests: Postfix's smtp-sink (fast,
 * with fault options: see smtp-sink(1)) and tests/smtp/capture.py (stores
 * each message byte for byte with its envelope; see its --help). Each runs as
 * a child process on a port of its own and is stopped with peer_stop. A test
 * that fails half-way (cmocka jumps out of it) leaves its servers running:
 * call peer_stop_all in the teardown; it also runs at exit, and capture.py
 * dies with the test process. Nothing here talks to anything but 127.0.0.1.
 */
#ifndef BL_TEST_PEER_H
#define BL_TEST_PEER_H

#include <sys/types.h>

struct peer {
	pid_t pid;
	int port;
	char dir[256];        /* capture: where the messages are stored */
	char transcript[280]; /* capture: the --transcript file */
	char log[280];        /* the server's stderr */
};

/* peer_free_port - a loopback TCP port nobody listens on now. */
int peer_free_port(void);

/*
 * peer_sink - start /usr/sbin/smtp-sink on 127.0.0.1 with the options in
 * @args (NULL-terminated; may be NULL), adding "-u nobody" as root. Uses
 * @port when > 0, else a free one. Waits until it accepts connections.
 * Returns 0, or -1 with a message on stderr.
 */
int peer_sink(struct peer *p, const char *const *args, int port);

/*
 * peer_capture - start capture.py (under BL_SOURCE_ROOT, with /usr/bin/python3)
 * storing into @dir (created) with a transcript beside it, plus the options
 * in @args (NULL-terminated; may be NULL). Uses @port when > 0, else a free
 * one. Returns 0 once it listens, or -1 with a message on stderr.
 */
int peer_capture(struct peer *p, const char *dir, const char *const *args, int port);

/* peer_stop - SIGTERM the server and reap it. Safe on a stopped peer. */
void peer_stop(struct peer *p);

/* peer_stop_all - stop every server started and not stopped yet. */
void peer_stop_all(void);

#endif
