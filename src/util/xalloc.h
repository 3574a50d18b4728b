/*
 * Allocation that cannot fail: on out-of-memory these log and abort, so
 * callers never check for NULL. Memory is released with free().
 */
#ifndef BL_UTIL_XALLOC_H
#define BL_UTIL_XALLOC_H

#include <stddef.h>

/* bl_xmalloc - malloc(@size) or abort; @size 0 returns a unique pointer. */
void *bl_xmalloc(size_t size);
/* bl_xcalloc - zeroed array of @n elements of @size bytes, or abort (overflow too). */
void *bl_xcalloc(size_t n, size_t size);
/* bl_xrealloc - realloc or abort; @size 0 returns a unique pointer. */
void *bl_xrealloc(void *p, size_t size);
/* bl_xreallocarray - resize @p to @n elements of @size bytes, or abort (overflow too). */
void *bl_xreallocarray(void *p, size_t n, size_t size);
/* bl_xstrdup - copy of NUL-terminated @s (NULL gives NULL); caller frees. */
char *bl_xstrdup(const char *s);
/* bl_xstrndup - copy of at most @n bytes of @s plus a NUL; caller frees. */
char *bl_xstrndup(const char *s, size_t n);

#endif
