/* Backend registry and shared helpers of the store; see store.h. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *prefix;
	const struct bl_store_ops *ops;
} registry[] = {
    {"sqlite:", &bl_sqlite_ops},
    {"postgresql://", &bl_postgres_ops},
    {"postgres://", &bl_postgres_ops},
};

int bl_store_open(const char *uri, const struct bl_store_opts *opts, struct bl_store **out,
                  struct bl_diag *d)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++) {
		if (strncmp(uri, registry[i].prefix, strlen(registry[i].prefix)) == 0)
			return registry[i].ops->open(uri, opts, out, d);
	}
	return bl_diag_set(d, BL_EINVAL,
	                   "unknown database \"%s\": use sqlite:PATH or postgresql://USER@HOST/DB",
	                   uri);
}

void bl_store_close(struct bl_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *bl_store_error(const struct bl_store *s)
{
	return s->error;
}

int bl_store_set_error(struct bl_store *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	return -code;
}

int bl_store_check_schema(struct bl_store *s)
{
	int v = 0;
	int rc = s->ops->schema_version(s, &v);
	if (rc)
		return rc;
	if (v == 0)
		return bl_store_set_error(s, BL_ESCHEMA,
		                          "the database is not initialised; run `bulletin init`");
	if (v < BL_SCHEMA_VERSION)
		return bl_store_set_error(s, BL_ESCHEMA,
		                          "the database schema is version %d, this bulletin needs "
		                          "%d; run `bulletin init` to migrate it",
		                          v, BL_SCHEMA_VERSION);
	if (v > BL_SCHEMA_VERSION)
		return bl_store_set_error(s, BL_ESCHEMA,
		                          "the database schema is version %d, newer than this "
		                          "bulletin (%d); upgrade bulletin",
		                          v, BL_SCHEMA_VERSION);
	return 0;
}

void bl_import_state_clear(struct bl_import_state *st)
{
	if (!st)
		return;
	bl_subscriber_clear(&st->sub);
	memset(st, 0, sizeof(*st));
}
