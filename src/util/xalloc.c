/* Aborting allocators; see xalloc.h. */
#include "util/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
	fprintf(stderr, "bulletin: fatal: out of memory allocating %zu bytes\n", size);
	abort();
}

void *bl_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom(size);
	return p;
}

void *bl_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *bl_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		oom(size);
	return q;
}

char *bl_xstrdup(const char *s)
{
	return s ? bl_xstrndup(s, strlen(s)) : NULL;
}

char *bl_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = bl_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *bl_xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return bl_xrealloc(p, n * size);
}
