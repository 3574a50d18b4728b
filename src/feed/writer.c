/*
 * The Atom and JSON Feed writers: see writer.h. Atom goes through an
 * xmlTextWriter whose output buffer appends to the caller's bl_buf; JSON
 * through jansson's dump callback. Strings are scrubbed into one scratch
 * buffer before each write.
 */
#include "feed/writer.h"

#include "util/time.h"
#include "util/utf8.h"

#include <jansson.h>
#include <libxml/xmlwriter.h>

#include <pthread.h>
#include <string.h>

#define ATOM_NS "http://www.w3.org/2005/Atom"

/* Largest string written once scrubbed (a post's HTML is at most a few MiB). */
#define SCRUB_MAX (64u << 20)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

/* @s (NULL reads as "") scrubbed into @tmp; the result is valid until the next call. */
static const char *clean(struct bl_buf *tmp, const char *s)
{
	bl_buf_reset(tmp);
	if (!s)
		return "";
	bl_utf8_scrub(s, strlen(s), tmp);
	return bl_buf_str(tmp);
}

/* Appends to the caller's buffer. Past its limit the bytes are dropped but
 * reported as written: the buffer's sticky error tells the caller, and
 * libxml2 does not print an I/O error on stderr. */
static int out_write(void *ctx, const char *p, int len)
{
	bl_buf_add(ctx, p, (size_t)len);
	return len;
}

static int out_close(void *ctx)
{
	return 0;
}

struct atom {
	xmlTextWriterPtr w;
	struct bl_buf tmp;
	int rc; /* first libxml2 failure */
};

static void check(struct atom *a, int r)
{
	if (r < 0 && !a->rc)
		a->rc = -1;
}

static void text_el(struct atom *a, const char *name, const char *value)
{
	check(a, xmlTextWriterWriteElement(a->w, (const xmlChar *)name,
	                                   (const xmlChar *)clean(&a->tmp, value)));
}

static void time_el(struct atom *a, const char *name, int64_t t)
{
	char ts[BL_TIME_STRMAX];
	check(a, xmlTextWriterWriteElement(a->w, (const xmlChar *)name,
	                                   (const xmlChar *)bl_time_format(t, ts)));
}

static void link_el(struct atom *a, const char *rel, const char *type, const char *href)
{
	check(a, xmlTextWriterStartElement(a->w, (const xmlChar *)"link"));
	check(a, xmlTextWriterWriteAttribute(a->w, (const xmlChar *)"rel", (const xmlChar *)rel));
	if (type)
		check(a, xmlTextWriterWriteAttribute(a->w, (const xmlChar *)"type",
		                                     (const xmlChar *)type));
	check(a, xmlTextWriterWriteAttribute(a->w, (const xmlChar *)"href",
	                                     (const xmlChar *)clean(&a->tmp, href)));
	check(a, xmlTextWriterEndElement(a->w));
}

int bl_feed_atom(const struct bl_feed_info *f, const struct bl_feed_entry *e, size_t n,
                 struct bl_buf *out, struct bl_diag *d)
{
	struct atom a = {0};
	xmlOutputBufferPtr ob;

	pthread_once(&xml_once, xml_init);
	if (bl_buf_err(out))
		return bl_diag_set(d, BL_ELIMIT, "the feed is over its size limit");
	ob = xmlOutputBufferCreateIO(out_write, out_close, out, NULL);
	if (!ob || !(a.w = xmlNewTextWriter(ob))) {
		if (ob)
			xmlOutputBufferClose(ob);
		return bl_diag_set(d, BL_EIO, "libxml2 could not start a writer");
	}
	bl_buf_init(&a.tmp, SCRUB_MAX);
	check(&a, xmlTextWriterSetIndent(a.w, 1));
	check(&a, xmlTextWriterSetIndentString(a.w, (const xmlChar *)" "));
	check(&a, xmlTextWriterStartDocument(a.w, "1.0", "utf-8", NULL));
	check(&a, xmlTextWriterStartElementNS(a.w, NULL, (const xmlChar *)"feed",
	                                      (const xmlChar *)ATOM_NS));
	if (f->lang && *f->lang)
		check(&a, xmlTextWriterWriteAttribute(a.w, (const xmlChar *)"xml:lang",
		                                      (const xmlChar *)clean(&a.tmp, f->lang)));
	text_el(&a, "id", f->id);
	text_el(&a, "title", f->title);
	time_el(&a, "updated", f->updated);
	link_el(&a, "self", "application/atom+xml", f->atom_url);
	link_el(&a, "alternate", "text/html", f->home_url);
	check(&a, xmlTextWriterStartElement(a.w, (const xmlChar *)"author"));
	text_el(&a, "name", f->author);
	check(&a, xmlTextWriterEndElement(a.w));
	check(&a, xmlTextWriterStartElement(a.w, (const xmlChar *)"generator"));
	check(&a, xmlTextWriterWriteAttribute(a.w, (const xmlChar *)"version",
	                                      (const xmlChar *)BL_VERSION));
	check(&a, xmlTextWriterWriteString(a.w, (const xmlChar *)"bulletin"));
	check(&a, xmlTextWriterEndElement(a.w));
	for (size_t i = 0; i < n && !a.rc; i++) {
		check(&a, xmlTextWriterStartElement(a.w, (const xmlChar *)"entry"));
		text_el(&a, "id", e[i].id);
		text_el(&a, "title", e[i].title);
		time_el(&a, "updated", e[i].updated);
		time_el(&a, "published", e[i].published);
		link_el(&a, "alternate", "text/html", e[i].url);
		check(&a, xmlTextWriterStartElement(a.w, (const xmlChar *)"content"));
		check(&a, xmlTextWriterWriteAttribute(a.w, (const xmlChar *)"type",
		                                      (const xmlChar *)"html"));
		check(&a, xmlTextWriterWriteString(a.w, (const xmlChar *)clean(&a.tmp, e[i].html)));
		check(&a, xmlTextWriterEndElement(a.w));
		check(&a, xmlTextWriterEndElement(a.w));
	}
	check(&a, xmlTextWriterEndDocument(a.w));
	xmlFreeTextWriter(a.w); /* flushes and closes the output buffer */
	bl_buf_finish(&a.tmp);
	if (bl_buf_err(out))
		return bl_diag_set(d, BL_ELIMIT, "the feed is over its size limit");
	if (a.rc)
		return bl_diag_set(d, BL_EIO, "libxml2 failed writing the feed");
	return 0;
}

static json_t *jstr(struct bl_buf *tmp, const char *s)
{
	const char *c = clean(tmp, s);
	return json_stringn(c, strlen(c));
}

static json_t *jtime(int64_t t)
{
	char ts[BL_TIME_STRMAX];
	return json_string(bl_time_format(t, ts));
}

static int dump_cb(const char *p, size_t len, void *ctx)
{
	return bl_buf_add(ctx, p, len) == 0 ? 0 : -1;
}

int bl_feed_json(const struct bl_feed_info *f, const struct bl_feed_entry *e, size_t n,
                 struct bl_buf *out, struct bl_diag *d)
{
	struct bl_buf tmp;
	json_t *doc = json_object(), *items = json_array(), *authors = json_array(), *author;
	int rc;

	bl_buf_init(&tmp, SCRUB_MAX);
	json_object_set_new(doc, "version", json_string("https://jsonfeed.org/version/1.1"));
	json_object_set_new(doc, "title", jstr(&tmp, f->title));
	json_object_set_new(doc, "home_page_url", jstr(&tmp, f->home_url));
	json_object_set_new(doc, "feed_url", jstr(&tmp, f->json_url));
	if (f->lang && *f->lang)
		json_object_set_new(doc, "language", jstr(&tmp, f->lang));
	author = json_object();
	json_object_set_new(author, "name", jstr(&tmp, f->author));
	json_array_append_new(authors, author);
	json_object_set_new(doc, "authors", authors);
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_object();
		json_object_set_new(it, "id", jstr(&tmp, e[i].id));
		json_object_set_new(it, "url", jstr(&tmp, e[i].url));
		json_object_set_new(it, "title", jstr(&tmp, e[i].title));
		json_object_set_new(it, "content_html", jstr(&tmp, e[i].html));
		json_object_set_new(it, "date_published", jtime(e[i].published));
		json_object_set_new(it, "date_modified", jtime(e[i].updated));
		json_array_append_new(items, it);
	}
	json_object_set_new(doc, "items", items);
	rc = json_dump_callback(doc, dump_cb, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	bl_buf_finish(&tmp);
	if (rc || bl_buf_err(out) || bl_buf_addc(out, '\n'))
		return bl_diag_set(d, BL_ELIMIT, "the feed is over its size limit");
	return 0;
}
