/* Files compiled into the binary by tools/embed.c (migrations, templates). */
#ifndef BL_UTIL_EMBEDDED_H
#define BL_UTIL_EMBEDDED_H

#include <stddef.h>

struct bl_embedded {
	const char *name; /* base name, e.g. "001_init.sql"; NULL ends the array */
	const char *data; /* contents, NUL-terminated */
	size_t size;      /* bytes, excluding the NUL */
};

#endif
