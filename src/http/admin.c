/*
 * The admin UI under /admin (admin.h). Work in progress (issue 5): the
 * route table is filled as pages land.
 */
#include "http/admin.h"

static const struct bl_http_route admin_routes[] = {
    {0, NULL, 0, NULL, NULL, 0},
};

const struct bl_http_route *bl_admin_routes(size_t *n)
{
	*n = 0;
	return admin_routes;
}
