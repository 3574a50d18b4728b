/*
 * libFuzzer harness for the Mustache engine: the input is a template,
 * compiled and rendered over a small fixed data tree in both escape modes,
 * with partials "self" (the input again: recursion), "item" (a fixed
 * template), "broken" (one that does not compile) and every other name
 * absent. Checks the contract: known return codes, one-line UTF-8 messages,
 * output within its bound, *out untouched on a failed compile, the cached
 * render equal to the plain one, and text without "{{" rendered as itself.
 * Seeds: fuzz/seeds/tmpl; dictionary: fuzz/tmpl.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl/tmpl.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX ((size_t)64 << 10)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__,         \
			        __LINE__);                                                         \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

static struct bl_tval *tree;

/* { a, n, i, t, f, z, e, name, dyn, l: [...], m: {...} } */
static struct bl_tval *build_tree(void)
{
	struct bl_tval *root = bl_tval_map();
	bl_tval_set(root, "a", bl_tval_string("<b>&'\""));
	bl_tval_set(root, "n", bl_tval_number(1.21));
	bl_tval_set(root, "i", bl_tval_number(85));
	bl_tval_set(root, "t", bl_tval_bool(1));
	bl_tval_set(root, "f", bl_tval_bool(0));
	bl_tval_set(root, "z", bl_tval_null());
	bl_tval_set(root, "e", bl_tval_string(""));
	bl_tval_set(root, "name", bl_tval_string("self"));
	bl_tval_set(root, "dyn", bl_tval_string("item"));
	bl_tval_set(root, "nl", bl_tval_string("line\nbreak"));
	struct bl_tval *l = bl_tval_list();
	for (int k = 0; k < 3; k++) {
		struct bl_tval *item = bl_tval_map();
		bl_tval_set(item, "a", bl_tval_number(k));
		bl_tval_set(item, "l", bl_tval_list());
		bl_tval_push(l, item);
	}
	bl_tval_push(l, bl_tval_string("s"));
	bl_tval_push(l, bl_tval_list());
	bl_tval_set(root, "l", l);
	struct bl_tval *m = bl_tval_map();
	struct bl_tval *mm = bl_tval_map();
	bl_tval_set(mm, "b", bl_tval_string("deep"));
	bl_tval_set(m, "a", mm);
	bl_tval_set(m, "name", bl_tval_string("broken"));
	bl_tval_set(root, "m", m);
	return root;
}

struct input {
	const char *src;
	size_t len;
};

static int partial(void *arg, const char *name, const char **src, size_t *len)
{
	const struct input *in = arg;
	if (!strcmp(name, "self")) {
		*src = in->src;
		*len = in->len;
		return 1;
	}
	if (!strcmp(name, "item")) {
		*src = "{{$x}}<{{a}}>{{/x}}\n  {{#l}}\n  {{>self}}\n  {{/l}}\n";
		*len = strlen(*src);
		return 1;
	}
	if (!strcmp(name, "broken")) {
		*src = "ok\n{{#x}}";
		*len = strlen(*src);
		return 1;
	}
	return 0;
}

static void check_msg(const struct bl_diag *d)
{
	size_t n = strnlen(d->msg, sizeof(d->msg));
	CHECK(n > 0 && n < sizeof(d->msg));
	CHECK(!memchr(d->msg, '\n', n) && !memchr(d->msg, '\r', n));
	CHECK(bl_utf8_valid(d->msg, n, NULL));
}

static int contains(const uint8_t *data, size_t size, const char *pat)
{
	size_t plen = strlen(pat);
	for (size_t i = 0; i + plen <= size; i++)
		if (memcmp(data + i, pat, plen) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tree)
		tree = build_tree();
	struct input in = {(const char *)data, size};
	struct bl_tmpl *t = (struct bl_tmpl *)&in; /* a sentinel: untouched on failure */
	struct bl_diag d;
	bl_diag_clear(&d);
	int rc = bl_tmpl_compile(in.src, size, "fuzz", &t, &d);
	CHECK(rc == 0 || rc == -BL_EINVAL || rc == -BL_ELIMIT);
	if (rc) {
		CHECK(t == (struct bl_tmpl *)&in);
		check_msg(&d);
		CHECK(!strncmp(d.msg, "fuzz:", 5));
		return 0;
	}
	CHECK(t != NULL && t != (struct bl_tmpl *)&in);
	for (int esc = 0; esc < 2; esc++) {
		enum bl_tmpl_escape e = esc ? BL_TMPL_ESCAPE_NONE : BL_TMPL_ESCAPE_HTML;
		struct bl_buf out;
		bl_buf_init(&out, OUT_MAX);
		bl_diag_clear(&d);
		rc = bl_tmpl_render(t, tree, e, partial, &in, &out, &d);
		CHECK(rc == 0 || rc == -BL_EINVAL || rc == -BL_ELIMIT);
		CHECK(out.len <= OUT_MAX);
		CHECK(out.data == NULL || out.data[out.len] == '\0');
		if (rc)
			check_msg(&d);
		if (rc == 0 && size <= OUT_MAX && !contains(data, size, "{{"))
			CHECK(out.len == size && (size == 0 || memcmp(out.data, data, size) == 0));
		/* The cache renders the same, twice over. */
		struct bl_tmpl_cache *c = bl_tmpl_cache_create(partial, &in);
		for (int k = 0; k < 2; k++) {
			struct bl_buf again;
			bl_buf_init(&again, OUT_MAX);
			struct bl_diag d2;
			bl_diag_clear(&d2);
			int rc2 = bl_tmpl_render_cached(t, tree, e, c, &again, &d2);
			CHECK(rc2 == rc);
			CHECK(again.len == out.len);
			CHECK(memcmp(bl_buf_str(&again), bl_buf_str(&out), out.len) == 0);
			CHECK(strcmp(d.msg, d2.msg) == 0);
			bl_buf_finish(&again);
		}
		bl_tmpl_cache_destroy(c);
		bl_buf_finish(&out);
	}
	bl_tmpl_destroy(t);
	return 0;
}
