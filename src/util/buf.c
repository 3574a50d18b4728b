/* Bounded, always-terminated buffer with a sticky error; see buf.h. */
#include "util/buf.h"

#include "util/err.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bl_buf_init(struct bl_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BL_BUF_DEFAULT_MAX;
	b->err = 0;
}

void bl_buf_finish(struct bl_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

void bl_buf_reset(struct bl_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for @extra more bytes plus the NUL. */
static int reserve(struct bl_buf *b, size_t extra)
{
	if (b->err)
		return b->err;
	if (extra > b->max - b->len) {
		b->err = -BL_ELIMIT;
		return b->err;
	}
	size_t need = b->len + extra + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		b->data = bl_xrealloc(b->data, cap);
		b->cap = cap;
	}
	return 0;
}

int bl_buf_add(struct bl_buf *b, const void *p, size_t len)
{
	int rc = reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int bl_buf_adds(struct bl_buf *b, const char *s)
{
	return bl_buf_add(b, s, strlen(s));
}

int bl_buf_addc(struct bl_buf *b, char c)
{
	return bl_buf_add(b, &c, 1);
}

int bl_buf_vaddf(struct bl_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -BL_EINVAL;
	int rc = reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int bl_buf_addf(struct bl_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = bl_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *bl_buf_str(const struct bl_buf *b)
{
	return b->data ? b->data : "";
}

int bl_buf_err(const struct bl_buf *b)
{
	return b->err;
}

char *bl_buf_take(struct bl_buf *b)
{
	char *p = b->data ? b->data : bl_xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
	return p;
}
