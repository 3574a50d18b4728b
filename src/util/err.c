/* Error code table and diagnostic messages; see err.h. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const messages[] = {
    [BL_OK] = "success",
    [BL_EINVAL] = "invalid input",
    [BL_EUSAGE] = "usage error",
    [BL_ENOENT] = "not found",
    [BL_EEXIST] = "already exists",
    [BL_ELIMIT] = "limit exceeded",
    [BL_EIO] = "input/output error",
    [BL_ESTORE] = "database error",
    [BL_ESCHEMA] = "database schema is newer than this program",
    [BL_EBUSY] = "database is busy",
    [BL_EENCODING] = "text is not valid UTF-8",
    [BL_ELASTADMIN] = "the last admin cannot be removed",
    [BL_EINUSE] = "still in use",
    [BL_EPERM] = "not permitted",
};

const char *bl_strerror(int code)
{
	if (code < 0)
		code = -code;
	if ((size_t)code >= sizeof(messages) / sizeof(messages[0]) || !messages[code])
		return "unknown error";
	return messages[code];
}

int bl_diag_set(struct bl_diag *d, int code, const char *fmt, ...)
{
	if (d) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

void bl_diag_clear(struct bl_diag *d)
{
	if (d)
		d->msg[0] = '\0';
}
