/*
 * Error codes shared by every module. Functions return 0 on success or a
 * negative -BL_E* code; lookups return a negative code on error, 0 when the
 * thing is absent and 1 when it was found. A human-readable explanation, when
 * there is more to say than the code, travels in a struct bl_diag supplied
 * by the caller; library code fills it and the caller decides how to log it.
 */
#ifndef BL_UTIL_ERR_H
#define BL_UTIL_ERR_H

#include <stddef.h>

enum bl_err {
	BL_OK = 0,
	BL_EINVAL,     /* malformed input: an address, a CSV row, a config value */
	BL_EUSAGE,     /* wrong command-line usage */
	BL_ENOENT,     /* the named thing does not exist */
	BL_EEXIST,     /* the thing already exists */
	BL_ELIMIT,     /* a size or count limit was exceeded */
	BL_EIO,        /* reading or writing a file failed */
	BL_ESTORE,     /* the database failed (connection, SQL, constraint) */
	BL_ESCHEMA,    /* the database schema is newer than this binary */
	BL_EBUSY,      /* the database stayed locked past the busy timeout */
	BL_EENCODING,  /* input is not UTF-8 (Latin-1, UTF-16, ...) */
	BL_ELASTADMIN, /* refused: the change would leave no user with role admin */
	BL_EINUSE,     /* refused: the thing is still used (a list by a post yet to go out) */
	BL_EPERM       /* refused by policy: a private network address, a forbidden URL scheme */
};

/*
 * bl_strerror - a short English description of an error code.
 * @code: a BL_E* value, positive or negated.
 * Returns a static string; never NULL ("unknown error" for unknown codes).
 */
const char *bl_strerror(int code);

/* Maximum size of a diagnostic message, in bytes including the NUL. */
#define BL_DIAG_MAX 512

/* A caller-owned slot for one human-readable error message. */
struct bl_diag {
	char msg[BL_DIAG_MAX];
};

/*
 * bl_diag_set - format a message into @d (printf-style), truncating to
 * BL_DIAG_MAX-1 bytes. @d may be NULL, in which case nothing happens.
 * Returns -@code so callers can write `return bl_diag_set(d, BL_EINVAL, ...)`;
 * @code is a positive BL_E* value.
 */
int bl_diag_set(struct bl_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* bl_diag_clear - make @d hold the empty message. NULL-safe. */
void bl_diag_clear(struct bl_diag *d);

#endif
