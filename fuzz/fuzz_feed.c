/*
 * libFuzzer harness for the feed parser (bl_feed_parse). The input's first
 * byte picks a Content-Type (none, an XML type, text/xml with a charset,
 * text/html) and whether a document URL is given; the rest is the document.
 * Checks the invariants of parse.h: a result or a refusal with a message,
 * every string non-NULL, UTF-8 and within BL_FEED_MAX_FIELD, at most
 * BL_FEED_MAX_ITEMS items, bozo with a reason. Seeds: fuzz/seeds/feed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "feed/parse.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__,         \
			        __LINE__);                                                         \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

static void check_string(const char *s)
{
	CHECK(s != NULL);
	size_t n = strlen(s);
	CHECK(n <= BL_FEED_MAX_FIELD);
	CHECK(bl_utf8_valid(s, n, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {NULL,
	                                    "application/rss+xml",
	                                    "text/xml; charset=iso-8859-1",
	                                    "text/html",
	                                    "application/xml; charset=utf-16",
	                                    "text/xml",
	                                    "application/atom+xml; charset=\"gb2312\"",
	                                    "text/plain; charset=windows-1251"};
	struct bl_feed_doc doc;
	struct bl_diag d = {{0}};
	const char *ctype = NULL, *url = NULL;
	int rc;

	if (size > 0) {
		ctype = types[data[0] & 7];
		url = (data[0] & 8) ? "http://example.com/dir/feed.xml" : NULL;
		data++;
		size--;
	}
	rc = bl_feed_parse((const char *)data, size, url, ctype, &doc, &d);
	if (rc < 0) {
		CHECK(rc == -BL_EINVAL || rc == -BL_ELIMIT);
		CHECK(d.msg[0] != 0);
		CHECK(doc.n_items == 0 && doc.items == NULL);
		return 0;
	}
	CHECK(rc == 0);
	CHECK(doc.format != NULL && doc.version != NULL);
	check_string(doc.title);
	check_string(doc.link);
	check_string(doc.encoding);
	check_string(doc.bozo_reason);
	CHECK(!doc.bozo || doc.bozo_reason[0]);
	CHECK(doc.n_items <= BL_FEED_MAX_ITEMS);
	for (size_t i = 0; i < doc.n_items; i++) {
		const struct bl_feed_item *it = &doc.items[i];
		check_string(it->id);
		check_string(it->link);
		check_string(it->title);
		check_string(it->summary);
		check_string(it->content);
		check_string(it->base);
		check_string(it->author);
		check_string(it->enclosure_url);
		check_string(it->enclosure_type);
		CHECK(it->published >= 0 && it->updated >= 0);
	}
	bl_feed_doc_clear(&doc);
	return 0;
}
