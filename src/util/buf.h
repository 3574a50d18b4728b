/*
 * struct bl_buf: the one growable byte buffer. It is always NUL-terminated,
 * never grows past its limit, and has a sticky error: after an append fails
 * (limit reached) every later append is a no-op, so callers append freely
 * and check bl_buf_err() once at the end. Memory is handed out explicitly
 * with bl_buf_take(). Modelled on curl's dynbuf and SQLite's StrAccum.
 */
#ifndef BL_UTIL_BUF_H
#define BL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct bl_buf {
	char *data; /* NUL-terminated contents; NULL until the first append */
	size_t len; /* bytes used, excluding the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* limit on len, bytes */
	int err;    /* 0, or -BL_ELIMIT once an append did not fit */
};

/* Default limit for bl_buf_init(b, 0): 64 MiB. */
#define BL_BUF_DEFAULT_MAX ((size_t)64 << 20)

/*
 * bl_buf_init - prepare caller-owned @b, empty, with a limit of @max bytes
 * (0 means BL_BUF_DEFAULT_MAX). Allocates nothing.
 */
void bl_buf_init(struct bl_buf *b, size_t max);

/* bl_buf_finish - free @b's memory and leave it empty and reusable. NULL-safe. */
void bl_buf_finish(struct bl_buf *b);

/* bl_buf_reset - set length to 0 and clear the sticky error; keeps the memory. */
void bl_buf_reset(struct bl_buf *b);

/*
 * bl_buf_add - append @len bytes from @p. Returns 0, or -BL_ELIMIT when the
 * result would exceed the limit (then @b is unchanged and the error sticks).
 */
int bl_buf_add(struct bl_buf *b, const void *p, size_t len);
/* bl_buf_adds - append NUL-terminated @s; as bl_buf_add. */
int bl_buf_adds(struct bl_buf *b, const char *s);
/* bl_buf_addc - append one byte; as bl_buf_add. */
int bl_buf_addc(struct bl_buf *b, char c);
/* bl_buf_addf - append printf-formatted text; as bl_buf_add. */
int bl_buf_addf(struct bl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* bl_buf_vaddf - va_list form of bl_buf_addf. */
int bl_buf_vaddf(struct bl_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* bl_buf_str - the contents, never NULL ("" when empty); valid until the next change. */
const char *bl_buf_str(const struct bl_buf *b);

/* bl_buf_err - 0, or the sticky error of an earlier append. */
int bl_buf_err(const struct bl_buf *b);

/*
 * bl_buf_take - hand the contents to the caller (free() it; never NULL) and
 * leave @b empty with its limit kept and its error cleared.
 */
char *bl_buf_take(struct bl_buf *b);

#endif
