/*
 * Placeholders for the public handlers of src/http/public.c (signup,
 * confirm, unsubscribe, preferences) so that the HTTP tests link before
 * that file exists: each answers 501. tests/meson.build compiles this file
 * into the HTTP tests only while src/http/public.c is absent; it is never
 * part of the library or of `bulletin`.
 */
#include "http/web.h"

static void not_yet(struct bl_http_req *req, struct bl_http_resp *resp)
{
	bl_web_error(req, resp, 501, "Not implemented", "This page does not exist yet.");
}

void bl_web_index(struct bl_http_req *req, struct bl_http_resp *resp)
{
	not_yet(req, resp);
}

void bl_web_subscribe(struct bl_http_req *req, struct bl_http_resp *resp)
{
	not_yet(req, resp);
}

void bl_web_confirm(struct bl_http_req *req, struct bl_http_resp *resp)
{
	not_yet(req, resp);
}

void bl_web_unsubscribe(struct bl_http_req *req, struct bl_http_resp *resp)
{
	not_yet(req, resp);
}

void bl_web_preferences(struct bl_http_req *req, struct bl_http_resp *resp)
{
	not_yet(req, resp);
}
