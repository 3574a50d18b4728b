/*
 * feeddump - test tool: parse one feed file with bl_feed_parse and print the
 * result as one JSON object on stdout (jansson). Used by
 * tests/feed/feedparser_corpus.py to compare bulletin's parser with the
 * feedparser corpus, and by hand:
 *     feeddump FILE [URL [CONTENT-TYPE]]     ("" for none)
 * Exit 0 with {"ok": true, ...}, or 0 with {"ok": false, "error": ...} when
 * the parser refused the document; 2 on usage or I/O errors.
 */
#include "feed/parse.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>

static json_t *str(const char *s)
{
	json_t *v = json_string(s ? s : "");
	return v ? v : json_string("\xEF\xBF\xBD"); /* invalid UTF-8 would be a parser bug */
}

int main(int argc, char **argv)
{
	FILE *f;
	char *data = NULL;
	size_t len = 0, cap = 0, n;
	struct bl_feed_doc doc;
	struct bl_diag d = {{0}};
	json_t *o, *items;
	int rc;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: feeddump FILE [URL [CONTENT-TYPE]]\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			data = bl_xrealloc(data, cap);
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	rc = bl_feed_parse(data, len, argc > 2 && argv[2][0] ? argv[2] : NULL,
	                   argc > 3 && argv[3][0] ? argv[3] : NULL, &doc, &d);
	free(data);
	o = json_object();
	if (rc < 0) {
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error", str(d.msg));
	} else {
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "format", str(doc.format));
		json_object_set_new(o, "version", str(doc.version));
		json_object_set_new(o, "title", str(doc.title));
		json_object_set_new(o, "link", str(doc.link));
		json_object_set_new(o, "encoding", str(doc.encoding));
		json_object_set_new(o, "bozo", json_boolean(doc.bozo));
		json_object_set_new(o, "truncated", json_boolean(doc.truncated));
		json_object_set_new(o, "bozo_reason", str(doc.bozo_reason));
		items = json_array();
		for (size_t i = 0; i < doc.n_items; i++) {
			const struct bl_feed_item *it = &doc.items[i];
			json_t *j = json_object();
			json_object_set_new(j, "id", str(it->id));
			json_object_set_new(j, "link", str(it->link));
			json_object_set_new(j, "title", str(it->title));
			json_object_set_new(j, "summary", str(it->summary));
			json_object_set_new(j, "content", str(it->content));
			json_object_set_new(j, "base", str(it->base));
			json_object_set_new(j, "author", str(it->author));
			json_object_set_new(j, "published", json_integer(it->published));
			json_object_set_new(j, "updated", json_integer(it->updated));
			json_object_set_new(j, "enclosure_url", str(it->enclosure_url));
			json_object_set_new(j, "enclosure_type", str(it->enclosure_type));
			json_array_append_new(items, j);
		}
		json_object_set_new(o, "items", items);
		bl_feed_doc_clear(&doc);
	}
	json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(o);
	return 0;
}
