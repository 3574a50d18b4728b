/*
 * The JSON API under /api/v1/ (admin.h). Work in progress (issue 5): the
 * route table is filled as endpoints land.
 */
#include "http/admin.h"

static const struct bl_http_route api_routes[] = {
    {0, NULL, 0, NULL, NULL, 0},
};

const struct bl_http_route *bl_api_routes(size_t *n)
{
	*n = 0;
	return api_routes;
}

const char *bl_api_openapi(void)
{
	return "{}";
}
