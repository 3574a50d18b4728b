/* stderr logging; see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum bl_log_level threshold = BL_LOG_INFO;
static int show_location = 1;

static const char *const names[] = {"debug", "info", "warn", "error", "fatal"};

void bl_log_set_level(enum bl_log_level level)
{
	threshold = level;
}

void bl_log_set_source_locations(int on)
{
	show_location = on;
}

static void vlog(const char *name, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void vlog(const char *name, const char *file, int line, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *base = strrchr(file, '/');
	if (show_location)
		fprintf(stderr, "bulletin: %s: %s:%d: %s\n", name, base ? base + 1 : file, line,
		        msg);
	else
		fprintf(stderr, "bulletin: %s: %s\n", name, msg);
}

void bl_log(enum bl_log_level level, const char *file, int line, const char *fmt, ...)
{
	if (level < threshold)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(names[level], file, line, fmt, ap);
	va_end(ap);
}

void bl_fatal_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("fatal", file, line, fmt, ap);
	va_end(ap);
	exit(3);
}

void bl_panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("panic", file, line, fmt, ap);
	va_end(ap);
	abort();
}
