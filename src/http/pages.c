/*
 * The web page templates: see pages.h. Every template is compiled once in
 * bl_pages_create (the built-in source from templates/web/, compiled into
 * the binary by tools/embed.c, or an override file); renders only read the
 * compiled templates, so any number of threads share one struct bl_pages.
 * Output goes through bl_utf8_scrub, so no data can put ill-formed UTF-8 or
 * a control character into a page.
 */
#include "http/pages.h"

#include "util/embedded.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct bl_embedded bl_web_templates[];
extern const struct bl_embedded bl_admin_templates[];

/* The pages of docs/web-templates.md, each in NAME.html.mustache. */
static const char *const page_names[] = {
    "index",          "check_inbox", "confirm",      "confirmed",   "confirm_expired",
    "confirm_resent", "unsubscribe", "unsubscribed", "preferences", "erase",
    "erased",         "archive",     "archive_post", "error",
};
#define N_PAGES (sizeof(page_names) / sizeof(page_names[0]))

/* The admin UI's pages (templates/admin/NAME.html.mustache), rendered as "admin/NAME"
 * inside templates/admin/layout.html.mustache. */
static const char *const admin_names[] = {
    "login",  "error", "dashboard", "lists",     "list_edit", "subscribers", "subscriber",
    "import", "job",   "posts",     "post_edit", "post",      "users",       "user_secret",
    "tokens", "audit", "confirm",   "feeds",     "bounces",
};
#define N_ADMIN (sizeof(admin_names) / sizeof(admin_names[0]))

/* Static files of the admin UI, served as they are. */
static const char *const asset_names[] = {"admin.css", "admin.js"};
#define N_ASSETS (sizeof(asset_names) / sizeof(asset_names[0]))

struct asset {
	char *data; /* NUL-terminated */
	size_t len;
	char etag[20];
};

struct bl_pages {
	struct bl_tmpl *layout;
	struct bl_tmpl *page[N_PAGES];
	char *css; /* the stylesheet, NUL-terminated */
	size_t css_len;
	char etag[20]; /* "\"" 16 hex digits "\"" */
	struct bl_tmpl *admin_layout;
	struct bl_tmpl *admin[N_ADMIN];
	struct asset assets[N_ASSETS];
};

/* @file of templates/web/ or, as "admin/FILE", of templates/admin/. */
static const struct bl_embedded *builtin(const char *file)
{
	const struct bl_embedded *e = bl_web_templates;
	if (strncmp(file, "admin/", 6) == 0) {
		e = bl_admin_templates;
		file += 6;
	}
	for (; e->name; e++)
		if (strcmp(e->name, file) == 0)
			return e;
	return NULL;
}

/*
 * The source of @file ("NAME" or "admin/NAME"): from @dir when it holds
 * the file (DIR/admin/NAME for an admin one), else the built-in one. *@src is malloc'd; *@where
 * names it for messages ("DIR/FILE" or "templates/web/FILE", malloc'd).
 */
static int load(const char *dir, const char *file, char **src, size_t *len, char **where,
                struct bl_diag *d)
{
	char path[4096];
	struct stat st;
	const struct bl_embedded *e;
	int fd;

	if (dir && *dir) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
			return bl_diag_set(d, BL_EIO, "templates_dir \"%s\": path too long", dir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return bl_diag_set(d, BL_EIO, "%s: %s", path, strerror(errno));
		if (fd >= 0) {
			if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
				close(fd);
				return bl_diag_set(d, BL_EIO, "%s: not a regular file", path);
			}
			if (st.st_size > (off_t)BL_TMPL_MAX_SOURCE) {
				close(fd);
				return bl_diag_set(d, BL_EINVAL, "%s: over %u bytes", path,
				                   BL_TMPL_MAX_SOURCE);
			}
			char *buf = bl_xmalloc((size_t)st.st_size + 1);
			size_t got = 0;
			while (got < (size_t)st.st_size) {
				ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0) {
					int err = r < 0 ? errno : EIO;
					close(fd);
					free(buf);
					return bl_diag_set(d, BL_EIO, "%s: %s", path,
					                   r < 0 ? strerror(err) : "file shrank");
				}
				got += (size_t)r;
			}
			close(fd);
			buf[got] = '\0';
			*src = buf;
			*len = got;
			*where = bl_xstrdup(path);
			return 0;
		}
	}
	if (!(e = builtin(file)))
		return bl_diag_set(d, BL_ENOENT, "%s is not built in", file);
	*src = bl_xstrndup(e->data, e->size);
	*len = e->size;
	snprintf(path, sizeof(path), "templates/%s%s", strncmp(file, "admin/", 6) ? "web/" : "",
	         file);
	*where = bl_xstrdup(path);
	return 0;
}

static int compile(const char *dir, const char *file, struct bl_tmpl **out, struct bl_diag *d)
{
	char *src, *where;
	size_t len;
	int rc;
	if ((rc = load(dir, file, &src, &len, &where, d)))
		return rc;
	rc = bl_tmpl_compile(src, len, where, out, d);
	free(src);
	free(where);
	return rc == -BL_ELIMIT ? -BL_EINVAL : rc;
}

/* FNV-1a, 64 bits: an ETag, not a defence against anyone. */
static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int bl_pages_create(const char *override_dir, struct bl_pages **out, struct bl_diag *d)
{
	struct bl_pages *p = bl_xcalloc(1, sizeof(*p));
	char file[64], *where = NULL;
	struct stat st;
	int rc;

	if (override_dir && *override_dir) {
		if (stat(override_dir, &st) != 0) {
			rc = bl_diag_set(d, BL_EIO, "templates_dir \"%s\": %s", override_dir,
			                 strerror(errno));
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = bl_diag_set(d, BL_EIO, "templates_dir \"%s\": not a directory",
			                 override_dir);
			goto fail;
		}
	}
	if ((rc = compile(override_dir, "layout.html.mustache", &p->layout, d)))
		goto fail;
	for (size_t i = 0; i < N_PAGES; i++) {
		snprintf(file, sizeof(file), "%s.html.mustache", page_names[i]);
		if ((rc = compile(override_dir, file, &p->page[i], d)))
			goto fail;
	}
	if ((rc = load(override_dir, "style.css", &p->css, &p->css_len, &where, d)))
		goto fail;
	free(where);
	snprintf(p->etag, sizeof(p->etag), "\"%016llx\"",
	         (unsigned long long)fnv1a(p->css, p->css_len));
	if ((rc = compile(override_dir, "admin/layout.html.mustache", &p->admin_layout, d)))
		goto fail;
	for (size_t i = 0; i < N_ADMIN; i++) {
		snprintf(file, sizeof(file), "admin/%s.html.mustache", admin_names[i]);
		if ((rc = compile(override_dir, file, &p->admin[i], d)))
			goto fail;
	}
	for (size_t i = 0; i < N_ASSETS; i++) {
		struct asset *a = &p->assets[i];
		snprintf(file, sizeof(file), "admin/%s", asset_names[i]);
		if ((rc = load(override_dir, file, &a->data, &a->len, &where, d)))
			goto fail;
		free(where);
		snprintf(a->etag, sizeof(a->etag), "\"%016llx\"",
		         (unsigned long long)fnv1a(a->data, a->len));
	}
	*out = p;
	return 0;
fail:
	bl_pages_destroy(p);
	return rc;
}

void bl_pages_destroy(struct bl_pages *p)
{
	if (!p)
		return;
	bl_tmpl_destroy(p->layout);
	for (size_t i = 0; i < N_PAGES; i++)
		bl_tmpl_destroy(p->page[i]);
	free(p->css);
	bl_tmpl_destroy(p->admin_layout);
	for (size_t i = 0; i < N_ADMIN; i++)
		bl_tmpl_destroy(p->admin[i]);
	for (size_t i = 0; i < N_ASSETS; i++)
		free(p->assets[i].data);
	free(p);
}

int bl_pages_render(const struct bl_pages *p, const char *name, struct bl_tval *data,
                    struct bl_buf *out, struct bl_diag *d)
{
	const struct bl_tmpl *page = NULL, *layout = p->layout;
	struct bl_buf tmp;
	int rc;

	if (strncmp(name, "admin/", 6) == 0) {
		layout = p->admin_layout;
		for (size_t i = 0; i < N_ADMIN && !page; i++)
			if (strcmp(admin_names[i], name + 6) == 0)
				page = p->admin[i];
	}
	for (size_t i = 0; i < N_PAGES && !page; i++)
		if (strcmp(page_names[i], name) == 0)
			page = p->page[i];
	if (!page)
		return bl_diag_set(d, BL_ENOENT, "no page named \"%s\"", name);
	bl_buf_init(&tmp, out->max);
	rc = bl_tmpl_render(page, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &tmp, d);
	if (!rc) {
		bl_tval_set(data, "content", bl_tval_stringn(bl_buf_str(&tmp), tmp.len));
		bl_buf_reset(&tmp);
		rc = bl_tmpl_render(layout, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &tmp, d);
	}
	if (!rc && bl_utf8_scrub(bl_buf_str(&tmp), tmp.len, out))
		rc = bl_diag_set(d, BL_ELIMIT, "page %s: over %zu bytes", name, out->max);
	bl_buf_finish(&tmp);
	return rc;
}

const char *bl_pages_stylesheet(const struct bl_pages *p, size_t *len, const char **etag)
{
	*len = p->css_len;
	*etag = p->etag;
	return p->css;
}

const char *bl_pages_asset(const struct bl_pages *p, const char *name, size_t *len,
                           const char **etag)
{
	for (size_t i = 0; i < N_ASSETS; i++)
		if (strcmp(asset_names[i], name) == 0) {
			*len = p->assets[i].len;
			*etag = p->assets[i].etag;
			return p->assets[i].data;
		}
	return NULL;
}
