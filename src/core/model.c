/* Names of the domain enums; see model.h. */
#include "core/model.h"

#include "util/err.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char *const optin_names[] = {"double", "single"};
static const char *const visibility_names[] = {"public", "private"};
static const char *const subscriber_status_names[] = {"active", "blocklisted"};
static const char *const sub_status_names[] = {"unconfirmed", "confirmed", "unsubscribed"};
static const char *const mode_names[] = {"instant", "daily", "weekly"};
static const char *const consent_names[] = {"signup", "confirm",    "unsubscribe", "import",
                                            "erase",  "preference", "blocklist"};

static const char *const post_status_names[] = {"draft",  "scheduled", "sending",
                                                "paused", "sent",      "cancelled"};
static const char *const post_kind_names[] = {"post", "confirm", "digest", "probe"};
static const char *const post_format_names[] = {"markdown", "html"};
static const char *const role_names[] = {"viewer", "editor", "admin"};
static const char *const priority_names[] = {"normal", "breaking", "transactional"};
static const char *const delivery_state_names[] = {
    "pending", "claimed", "accepted", "deferred", "failed", "suppressed", "bounced", "complained"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, unsigned v)
{
	return v < n ? names[v] : "?";
}

static int parse(const char *const *names, size_t n, const char *s, int *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], s) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -BL_EINVAL;
}

#define DEFINE(type, fn, names)                                                                    \
	const char *bl_##fn##_name(enum type v)                                                    \
	{                                                                                          \
		return name_of(names, N(names), (unsigned)v);                                      \
	}                                                                                          \
	int bl_##fn##_parse(const char *s, enum type *out)                                         \
	{                                                                                          \
		int v;                                                                             \
		int rc = parse(names, N(names), s, &v);                                            \
		if (rc == 0)                                                                       \
			*out = (enum type)v;                                                       \
		return rc;                                                                         \
	}

DEFINE(bl_optin, optin, optin_names)
DEFINE(bl_visibility, visibility, visibility_names)
DEFINE(bl_subscriber_status, subscriber_status, subscriber_status_names)
DEFINE(bl_sub_status, sub_status, sub_status_names)
DEFINE(bl_mode, mode, mode_names)
DEFINE(bl_consent_kind, consent_kind, consent_names)
DEFINE(bl_post_status, post_status, post_status_names)
DEFINE(bl_delivery_state, delivery_state, delivery_state_names)
DEFINE(bl_post_kind, post_kind, post_kind_names)
DEFINE(bl_post_format, post_format, post_format_names)
DEFINE(bl_role, role, role_names)

const char *bl_priority_name(enum bl_priority v)
{
	return name_of(priority_names, N(priority_names), (unsigned)v);
}

void bl_list_clear(struct bl_list *l)
{
	if (!l)
		return;
	free(l->slug);
	free(l->name);
	free(l->description);
	memset(l, 0, sizeof(*l));
}

void bl_subscriber_clear(struct bl_subscriber *s)
{
	if (!s)
		return;
	free(s->email);
	free(s->email_key);
	free(s->name);
	free(s->attributes);
	free(s->status_reason);
	memset(s, 0, sizeof(*s));
}

void bl_post_clear(struct bl_post *p)
{
	if (!p)
		return;
	free(p->subject);
	free(p->body);
	free(p->from_header);
	free(p->pause_reason);
	memset(p, 0, sizeof(*p));
}

void bl_list_copy(struct bl_list *dst, const struct bl_list *src)
{
	*dst = *src;
	dst->slug = bl_xstrdup(src->slug);
	dst->name = bl_xstrdup(src->name);
	dst->description = bl_xstrdup(src->description);
}

int bl_user_name_valid(const char *s)
{
	static const char ok[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-";
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n <= BL_USER_NAME_MAX && strspn(s, ok) == n;
}

const char *bl_text_problem(const char *v, size_t max, int oneline)
{
	size_t len = strlen(v);
	if (len > max)
		return "is too long";
	if (!bl_utf8_valid(v, len, NULL))
		return "is not valid UTF-8";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch == '\r' || ch == '\n')
			return "holds a line break";
		if (ch < 0x20 || ch == 0x7f)
			return "holds a control character";
		if (oneline &&
		    ((ch == 0xc2 && i + 1 < len && (unsigned char)v[i + 1] >= 0x80 &&
		      (unsigned char)v[i + 1] <= 0x9f) ||
		     (ch == 0xe2 && i + 2 < len && (unsigned char)v[i + 1] == 0x80 &&
		      ((unsigned char)v[i + 2] == 0xa8 || (unsigned char)v[i + 2] == 0xa9))))
			return "holds a control character";
	}
	return NULL;
}

void bl_subscriber_copy(struct bl_subscriber *dst, const struct bl_subscriber *src)
{
	*dst = *src;
	dst->email = bl_xstrdup(src->email);
	dst->email_key = bl_xstrdup(src->email_key);
	dst->name = bl_xstrdup(src->name);
	dst->attributes = bl_xstrdup(src->attributes);
	dst->status_reason = bl_xstrdup(src->status_reason);
}

static const char *const feed_mode_names[] = {"send", "draft"};

const char *bl_feed_mode_name(enum bl_feed_mode v)
{
	return (unsigned)v < 2 ? feed_mode_names[v] : "?";
}

int bl_feed_mode_parse(const char *s, enum bl_feed_mode *out)
{
	for (unsigned i = 0; i < 2; i++)
		if (s && strcmp(s, feed_mode_names[i]) == 0) {
			*out = (enum bl_feed_mode)i;
			return 0;
		}
	return -1;
}

void bl_feed_clear(struct bl_feed *f)
{
	if (!f)
		return;
	free(f->url);
	free(f->title);
	free(f->etag);
	free(f->last_modified);
	free(f->last_error);
	memset(f, 0, sizeof(*f));
}

static const char *const bounce_class_names[BL_BOUNCE_NCLASSES] = {
    "hard", "soft", "block", "complaint", "auto-reply", "unknown"};

const char *bl_bounce_class_name(enum bl_bounce_class v)
{
	return (unsigned)v < BL_BOUNCE_NCLASSES ? bounce_class_names[v] : "?";
}

int bl_bounce_class_parse(const char *s, enum bl_bounce_class *out)
{
	for (unsigned i = 0; i < BL_BOUNCE_NCLASSES; i++)
		if (s && strcmp(s, bounce_class_names[i]) == 0) {
			*out = (enum bl_bounce_class)i;
			return 0;
		}
	return -1;
}
