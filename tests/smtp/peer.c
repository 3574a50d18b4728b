/* SMTP servers for the delivery tests; see peer.h. */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS  64
#define MAX_PEERS 64

/* Servers running now, for peer_stop_all. */
static pid_t running[MAX_PEERS];

static void track(pid_t pid, int add)
{
	static int registered;
	if (!registered) {
		atexit(peer_stop_all);
		registered = 1;
	}
	for (int i = 0; i < MAX_PEERS; i++)
		if (running[i] == (add ? 0 : pid)) {
			running[i] = add ? pid : 0;
			return;
		}
}

int peer_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int can_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Fork and exec @argv with stdin from /dev/null, stdout to @out_fd (or
 * /dev/null when < 0) and stderr appended to @log. */
static pid_t spawn(char *const *argv, int out_fd, const char *log)
{
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0) {
		if (pid > 0)
			track(pid, 1);
		return pid;
	}
	/* Die with the test (kept across exec; smtp-sink drops it with root). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	int null = open("/dev/null", O_RDWR);
	int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	dup2(null, 0);
	dup2(out_fd >= 0 ? out_fd : null, 1);
	dup2(err >= 0 ? err : null, 2);
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void show_log(const char *what, const char *log)
{
	fprintf(stderr, "%s did not start; its stderr (%s):\n", what, log);
	FILE *f = fopen(log, "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s", line);
	if (f)
		fclose(f);
}

int peer_sink(struct peer *p, const char *const *args, int port)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->log, sizeof(p->log), "/tmp/bl-smtp-sink-%ld-%d.log", (long)getpid(), rand());
	for (int attempt = 0; attempt < 5; attempt++) {
		p->port = port > 0 ? port : peer_free_port();
		char addr[32];
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", p->port);
		const char *argv[MAX_ARGS];
		int n = 0;
		argv[n++] = "/usr/sbin/smtp-sink";
		if (geteuid() == 0) {
			argv[n++] = "-u";
			argv[n++] = "nobody";
		}
		for (int i = 0; args && args[i] && n < MAX_ARGS - 3; i++)
			argv[n++] = args[i];
		argv[n++] = addr;
		argv[n++] = "100";
		argv[n] = NULL;
		p->pid = spawn((char *const *)argv, -1, p->log);
		for (int i = 0; i < 250; i++) {
			if (can_connect(p->port)) {
				unlink(p->log);
				return 0;
			}
			if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
				track(p->pid, 0);
				p->pid = 0;
				break;
			}
			sleep_ms(20);
		}
		peer_stop(p);
	}
	show_log("smtp-sink", p->log);
	return -1;
}

int peer_capture(struct peer *p, const char *dir, const char *const *args, int port)
{
	memset(p, 0, sizeof(*p));
	const char *root = getenv("BL_SOURCE_ROOT");
	if (!root) {
		fprintf(stderr, "BL_SOURCE_ROOT is not set (the tests run from meson)\n");
		return -1;
	}
	mkdir(dir, 0700);
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(p->transcript, sizeof(p->transcript), "%s.transcript", dir);
	snprintf(p->log, sizeof(p->log), "%s.log", dir);
	char script[512], port_s[16];
	snprintf(script, sizeof(script), "%s/tests/smtp/capture.py", root);
	snprintf(port_s, sizeof(port_s), "%d", port > 0 ? port : 0);
	const char *argv[MAX_ARGS];
	int n = 0;
	argv[n++] = "/usr/bin/python3";
	argv[n++] = script;
	argv[n++] = "--dir";
	argv[n++] = p->dir;
	argv[n++] = "--port";
	argv[n++] = port_s;
	argv[n++] = "--transcript";
	argv[n++] = p->transcript;
	for (int i = 0; args && args[i] && n < MAX_ARGS - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	p->pid = spawn((char *const *)argv, fds[1], p->log);
	close(fds[1]);
	/* It prints its port once it listens. */
	char line[32];
	size_t got = 0;
	struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
	while (got < sizeof(line) - 1 && poll(&pfd, 1, 15000) == 1) {
		ssize_t r = read(fds[0], line + got, 1);
		if (r <= 0 || line[got] == '\n')
			break;
		got++;
	}
	line[got] = '\0';
	close(fds[0]);
	p->port = atoi(line);
	if (p->port <= 0) {
		peer_stop(p);
		show_log("capture.py", p->log);
		return -1;
	}
	return 0;
}

static void stop_pid(pid_t pid)
{
	kill(pid, SIGTERM);
	int status;
	for (int i = 0; i < 250; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			track(pid, 0);
			return;
		}
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	track(pid, 0);
}

void peer_stop(struct peer *p)
{
	if (p->pid <= 0)
		return;
	stop_pid(p->pid);
	p->pid = 0;
}

void peer_stop_all(void)
{
	for (int i = 0; i < MAX_PEERS; i++)
		if (running[i] > 0)
			stop_pid(running[i]);
}
