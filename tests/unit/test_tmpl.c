/*
 * Tests of the Mustache engine (src/tmpl): every case of the spec's
 * required modules and of the optional dynamic names and inheritance
 * modules, read in place from $BL_CORPORA/mustache-spec/specs/NAME.json (the
 * lambdas module needs code in the data and cannot apply to a data-only
 * tree); then table-driven own cases: syntax errors with their lines, the
 * limits, escaping, truthiness, numbers, indentation, the partial cache, and
 * data-only behaviour. Failures print got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl/tmpl.h"
#include "util/buf.h"
#include "util/xalloc.h"

/* ---- helpers ---------------------------------------------------------- */

/* @s made visible for a one-line message: \n, \r, \t and control bytes escaped. */
static const char *visible(const char *s, size_t len, struct bl_buf *b)
{
	bl_buf_reset(b);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			bl_buf_adds(b, "\\n");
		else if (c == '\r')
			bl_buf_adds(b, "\\r");
		else if (c == '\t')
			bl_buf_adds(b, "\\t");
		else if (c == '\\')
			bl_buf_adds(b, "\\\\");
		else if (c < 0x20 || c == 0x7f)
			bl_buf_addf(b, "\\x%02X", c);
		else
			bl_buf_addc(b, (char)c);
	}
	return bl_buf_str(b);
}

/* JSON value -> data tree. */
static struct bl_tval *from_json(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		struct bl_tval *m = bl_tval_map();
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v)
		{
			bl_tval_set(m, k, from_json(v));
		}
		return m;
	}
	case JSON_ARRAY: {
		struct bl_tval *l = bl_tval_list();
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			bl_tval_push(l, from_json(v));
		}
		return l;
	}
	case JSON_STRING:
		return bl_tval_stringn(json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		return bl_tval_number((double)json_integer_value(j));
	case JSON_REAL:
		return bl_tval_number(json_real_value(j));
	case JSON_TRUE:
		return bl_tval_bool(1);
	case JSON_FALSE:
		return bl_tval_bool(0);
	default:
		return bl_tval_null();
	}
}

/* Partials from a JSON object of name -> source; records how often it was asked. */
struct json_partials {
	const json_t *obj;
	int calls;
};

static int json_partial(void *arg, const char *name, const char **src, size_t *len)
{
	struct json_partials *p = arg;
	p->calls++;
	const json_t *v = p->obj ? json_object_get(p->obj, name) : NULL;
	if (!json_is_string(v))
		return 0;
	*src = json_string_value(v);
	*len = json_string_length(v);
	return 1;
}

/* Partials from a NULL-terminated table of name, source pairs. */
struct table_partials {
	const char *const *pairs;
	int calls;
};

static int table_partial(void *arg, const char *name, const char **src, size_t *len)
{
	struct table_partials *p = arg;
	p->calls++;
	for (const char *const *q = p->pairs; q && q[0]; q += 2)
		if (strcmp(q[0], name) == 0) {
			*src = q[1];
			*len = strlen(q[1]);
			return 1;
		}
	return 0;
}

/*
 * Compiles and renders @src over @data with @partials (name, source pairs,
 * NULL-terminated; may be NULL), output bound @max (0: default). Returns
 * the rc of the first step that failed; output and message in @out / @d.
 */
static int render_str(const char *src, const struct bl_tval *data, enum bl_tmpl_escape esc,
                      const char *const *partials, size_t max, struct bl_buf *out,
                      struct bl_diag *d)
{
	struct bl_tmpl *t = NULL;
	bl_diag_clear(d);
	bl_buf_init(out, max);
	int rc = bl_tmpl_compile(src, strlen(src), "t", &t, d);
	if (rc)
		return rc;
	struct table_partials tp = {partials, 0};
	rc = bl_tmpl_render(t, data, esc, table_partial, &tp, out, d);
	bl_tmpl_destroy(t);
	return rc;
}

/* Data from JSON text; aborts the test on bad JSON. */
static struct bl_tval *data_of(const char *json)
{
	json_error_t err;
	json_t *j = json_loads(json, JSON_DECODE_ANY, &err);
	if (!j)
		fail_msg("bad test JSON %s: %s", json, err.text);
	struct bl_tval *v = from_json(j);
	json_decref(j);
	return v;
}

/* ---- the spec --------------------------------------------------------- */

/* A spec file and how many cases it holds (its SOURCE.md), so a cut file fails. */
struct spec_file {
	const char *file;
	size_t cases;
};

static void run_spec(const char *file, size_t cases)
{
	const char *root = getenv("BL_CORPORA");
	if (!root || !*root)
		fail_msg("BL_CORPORA is not set (run through meson test)");
	char path[4096];
	snprintf(path, sizeof(path), "%s/mustache-spec/specs/%s", root, file);
	json_error_t jerr;
	json_t *spec = json_load_file(path, 0, &jerr);
	if (!spec)
		fail_msg("cannot read %s: %s (line %d)", path, jerr.text, jerr.line);
	json_t *tests = json_object_get(spec, "tests");
	assert_true(json_is_array(tests));
	if (json_array_size(tests) != cases)
		fail_msg("%s has %zu cases, want %zu", file, json_array_size(tests), cases);
	size_t i, pass = 0, bad = 0;
	json_t *tc;
	struct bl_buf got, vis1, vis2;
	bl_buf_init(&vis1, 0);
	bl_buf_init(&vis2, 0);
	json_array_foreach(tests, i, tc)
	{
		const char *name = json_string_value(json_object_get(tc, "name"));
		json_t *tmpl = json_object_get(tc, "template");
		json_t *want = json_object_get(tc, "expected");
		assert_true(name && json_is_string(tmpl) && json_is_string(want));
		struct bl_tval *data = from_json(json_object_get(tc, "data"));
		struct json_partials jp = {json_object_get(tc, "partials"), 0};
		struct bl_diag d;
		bl_diag_clear(&d);
		bl_buf_init(&got, 0);
		struct bl_tmpl *t = NULL;
		int rc = bl_tmpl_compile(json_string_value(tmpl), json_string_length(tmpl), name,
		                         &t, &d);
		if (rc == 0)
			rc = bl_tmpl_render(t, data, BL_TMPL_ESCAPE_HTML, json_partial, &jp, &got,
			                    &d);
		int ok = rc == 0 && got.len == json_string_length(want) &&
		         memcmp(bl_buf_str(&got), json_string_value(want), got.len) == 0;
		/* The cached path renders the same, twice. */
		if (ok) {
			struct bl_tmpl_cache *c = bl_tmpl_cache_create(json_partial, &jp);
			for (int k = 0; k < 2 && ok; k++) {
				struct bl_buf again;
				bl_buf_init(&again, 0);
				rc = bl_tmpl_render_cached(t, data, BL_TMPL_ESCAPE_HTML, c, &again,
				                           &d);
				ok = rc == 0 && again.len == got.len &&
				     memcmp(bl_buf_str(&again), bl_buf_str(&got), got.len) == 0;
				if (!ok)
					print_error("%s \"%s\": the cached render differs\n", file,
					            name);
				bl_buf_finish(&again);
			}
			bl_tmpl_cache_destroy(c);
		}
		if (ok) {
			pass++;
		} else {
			bad++;
			print_error(
			    "%s \"%s\": %s\n  template: \"%s\"\n  got:  \"%s\"%s%s\n", file, name,
			    json_string_value(json_object_get(tc, "desc")),
			    visible(json_string_value(tmpl), json_string_length(tmpl), &vis1),
			    visible(bl_buf_str(&got), got.len, &vis2), rc ? " rc: " : "",
			    rc ? d.msg : "");
			print_error("  want: \"%s\"\n", visible(json_string_value(want),
			                                        json_string_length(want), &vis1));
		}
		bl_tmpl_destroy(t);
		bl_buf_finish(&got);
		bl_tval_destroy(data);
	}
	size_t total = json_array_size(tests);
	print_message("# %s: %zu/%zu pass\n", file, pass, total);
	bl_buf_finish(&vis1);
	bl_buf_finish(&vis2);
	json_decref(spec);
	if (bad)
		fail_msg("%s: %zu of %zu cases failed", file, bad, total);
}

static void test_spec(void **state)
{
	const struct spec_file *f = *state;
	run_spec(f->file, f->cases);
}

/* ~lambdas.json is left out: its cases need code in the data. */
static const struct spec_file specs[] = {
    {"comments.json", 12},       {"delimiters.json", 14},   {"interpolation.json", 42},
    {"inverted.json", 22},       {"partials.json", 12},     {"sections.json", 34},
    {"~dynamic-names.json", 21}, {"~inheritance.json", 27},
};

/* ---- syntax errors ---------------------------------------------------- */

static void test_syntax_errors(void **state)
{
	(void)state;
	static const struct {
		const char *src;
		int rc;
		const char *msg;
	} cases[] = {
	    {"a\n{{b", -BL_EINVAL, "t:2: unclosed tag"},
	    {"a\nb {{{c}}\n", -BL_EINVAL, "t:2: unclosed tag"},
	    {"{{#a}}\n\n{{/b}}", -BL_EINVAL, "t:3: closing \"b\" but \"a\" (line 1) is open"},
	    {"x\n{{/a}}", -BL_EINVAL, "t:2: closing \"a\", which is not open"},
	    {"\n\n{{#a}}{{^b}}{{/b}}", -BL_EINVAL, "t:3: section \"a\" is never closed"},
	    {"{{#a}}\n{{<p}}\n{{/a}}", -BL_EINVAL, "t:3: closing \"a\" but \"p\" (line 2) is open"},
	    {"{{}}", -BL_EINVAL, "t:1: empty tag"},
	    {"{{# }}", -BL_EINVAL, "t:1: empty tag"},
	    {"\n{{a b}}", -BL_EINVAL, "t:2: bad name \"a b\""},
	    {"{{a..b}}", -BL_EINVAL, "t:1: bad name \"a..b\""},
	    {"{{.a}}", -BL_EINVAL, "t:1: bad name \".a\""},
	    {"{{#a.}}{{/a.}}", -BL_EINVAL, "t:1: bad name \"a.\""},
	    {"{{>a b}}", -BL_EINVAL, "t:1: bad name \"a b\""},
	    {"{{>*}}", -BL_EINVAL, "t:1: empty tag"},
	    {"{{= a =}}", -BL_EINVAL,
	     "t:1: bad delimiter change (want two blank-separated delimiters without '=')"},
	    {"{{=a b c=}}", -BL_EINVAL,
	     "t:1: bad delimiter change (want two blank-separated delimiters without '=')"},
	    {"{{=a= b=}}", -BL_EINVAL,
	     "t:1: bad delimiter change (want two blank-separated delimiters without '=')"},
	    {"{{=<% %>=}}\n\n<%x}}", -BL_EINVAL, "t:3: unclosed tag"},
	    {"{{! never closed\n\n", -BL_EINVAL, "t:1: unclosed tag"},
	    {"{{#a}}{{/*a}}", -BL_EINVAL, "t:1: closing \"*a\" but \"a\" (line 1) is open"},
	    {"{{<*a}}\n{{/a}}", -BL_EINVAL, "t:2: closing \"a\" but \"*a\" (line 1) is open"},
	    {"{{>* a b}}", -BL_EINVAL, "t:1: bad name \"* a b\""},
	    /* Names are shown on one line, cut at 60 bytes. */
	    {"{{#a\001b}}", -BL_EINVAL, "t:1: bad name \"a?b\""},
	    {"{{>\x7f}}", -BL_EINVAL, "t:1: bad name \"?\""},
	    {"{{#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}",
	     -BL_EINVAL,
	     "t:1: section \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is "
	     "never closed"},
	    /* Accepted: these compile. */
	    {"{{#*x}}{{/*x}}{{<*p}}{{/* p}}{{#.}}{{/.}}{{a.b.c}}{{{d}}}{{& e }}{{! }}", 0, ""},
	    {"{{=| |=}}|a||={{ }}=|{{b}}", 0, ""},
	    {"", 0, ""},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_tmpl *t = (struct bl_tmpl *)&bad; /* must stay untouched on error */
		struct bl_diag d;
		bl_diag_clear(&d);
		int rc = bl_tmpl_compile(cases[i].src, strlen(cases[i].src), "t", &t, &d);
		if (rc != cases[i].rc || strcmp(d.msg, cases[i].msg) != 0 ||
		    (rc && t != (struct bl_tmpl *)&bad)) {
			print_error("case %zu \"%s\":\n  got  %d \"%s\"\n  want %d \"%s\"\n", i,
			            cases[i].src, rc, d.msg, cases[i].rc, cases[i].msg);
			bad++;
		}
		if (rc == 0)
			bl_tmpl_destroy(t);
	}
	/* A NUL in a name would cut it short on its way to a resolver. */
	struct bl_tmpl *t = NULL;
	struct bl_diag d;
	int rc = bl_tmpl_compile("{{>a\0b}}", 9, "t", &t, &d);
	if (rc != -BL_EINVAL || strcmp(d.msg, "t:1: bad name \"a?b\""))
		fail_msg("NUL in a name: got %d \"%s\"", rc, d.msg);
	if (bad)
		fail_msg("%d syntax cases failed", bad);
}

/* A partial that does not compile fails the render and names itself. */
static void test_partial_syntax_error(void **state)
{
	(void)state;
	struct bl_buf out;
	struct bl_diag d;
	const char *const partials[] = {"footer", "ok\n{{#x}}\n", NULL};
	int rc = render_str("a{{>footer}}", NULL, BL_TMPL_ESCAPE_HTML, partials, 0, &out, &d);
	if (rc != -BL_EINVAL || strcmp(d.msg, "footer:2: section \"x\" is never closed") != 0)
		fail_msg(
		    "got %d \"%s\", want -BL_EINVAL \"footer:2: section \"x\" is never closed\"",
		    rc, d.msg);
	bl_buf_finish(&out);
}

/* ---- limits ----------------------------------------------------------- */

/* @n nested sections @open ... @close around @body. */
static char *nested_body(int n, const char *open, const char *body, const char *close)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (int i = 0; i < n; i++)
		bl_buf_adds(&b, open);
	bl_buf_adds(&b, body);
	for (int i = 0; i < n; i++)
		bl_buf_adds(&b, close);
	return bl_buf_take(&b);
}

static char *nested(int n, const char *open, const char *close)
{
	return nested_body(n, open, "x", close);
}

static void test_limits(void **state)
{
	(void)state;
	struct bl_buf out;
	struct bl_diag d;
	struct bl_tval *data = data_of("{\"a\": true, \"l\": [1,2,3,4,5,6,7,8,9,10], \"s\": "
	                               "\"0123456789\"}");

	/* Nesting: 64 sections compile and render; 65 do not compile. */
	char *src = nested(BL_TMPL_MAX_DEPTH, "{{#a}}", "{{/a}}");
	assert_int_equal(render_str(src, data, BL_TMPL_ESCAPE_HTML, NULL, 0, &out, &d), 0);
	assert_string_equal(bl_buf_str(&out), "x");
	bl_buf_finish(&out);
	free(src);
	src = nested(BL_TMPL_MAX_DEPTH + 1, "{{#a}}\n", "{{/a}}");
	int rc = render_str(src, data, BL_TMPL_ESCAPE_HTML, NULL, 0, &out, &d);
	if (rc != -BL_ELIMIT || strcmp(d.msg, "t:65: sections nest deeper than 64") != 0)
		fail_msg("deep nesting: got %d \"%s\", want -BL_ELIMIT \"t:65: sections nest "
		         "deeper than 64\"",
		         rc, d.msg);
	bl_buf_finish(&out);
	free(src);
	/* Parents and blocks count as nesting too. */
	src = nested(BL_TMPL_MAX_DEPTH + 1, "{{$b}}", "{{/b}}");
	assert_int_equal(render_str(src, data, BL_TMPL_ESCAPE_HTML, NULL, 0, &out, &d), -BL_ELIMIT);
	bl_buf_finish(&out);
	free(src);

	/* Source size. */
	size_t big = BL_TMPL_MAX_SOURCE + 1;
	src = bl_xmalloc(big + 1);
	memset(src, 'x', big);
	src[big] = '\0';
	struct bl_tmpl *t = NULL;
	rc = bl_tmpl_compile(src, big, "big.html", &t, &d);
	if (rc != -BL_ELIMIT || strcmp(d.msg, "big.html: template is 4194305 bytes; the limit "
	                                      "is 4194304") != 0)
		fail_msg("big template: got %d \"%s\"", rc, d.msg);
	assert_int_equal(bl_tmpl_compile(src, big - 1, "big.html", &t, &d), 0);
	bl_tmpl_destroy(t);
	free(src);

	/* A partial that includes itself ends at the depth limit. */
	const char *const self[] = {"self", "x{{>self}}", NULL};
	rc = render_str("{{>self}}", data, BL_TMPL_ESCAPE_HTML, self, 0, &out, &d);
	if (rc != -BL_ELIMIT || strcmp(d.msg, "self:1: partial \"self\" nests deeper than 16"))
		fail_msg("recursive partial: got %d \"%s\"", rc, d.msg);
	assert_string_equal(bl_buf_str(&out), "xxxxxxxxxxxxxxxx");
	bl_buf_finish(&out);
	/* ... and so does a parent. */
	const char *const parent[] = {"p", "{{<p}}{{/p}}", NULL};
	rc = render_str("{{<p}}{{/p}}", data, BL_TMPL_ESCAPE_HTML, parent, 0, &out, &d);
	assert_int_equal(rc, -BL_ELIMIT);
	bl_buf_finish(&out);
	/* 16 nested partials are fine. */
	const char *const chain[] = {"p1",  "{{>p2}}",  "p2",  "{{>p3}}",  "p3",  "{{>p4}}",
	                             "p4",  "{{>p5}}",  "p5",  "{{>p6}}",  "p6",  "{{>p7}}",
	                             "p7",  "{{>p8}}",  "p8",  "{{>p9}}",  "p9",  "{{>p10}}",
	                             "p10", "{{>p11}}", "p11", "{{>p12}}", "p12", "{{>p13}}",
	                             "p13", "{{>p14}}", "p14", "{{>p15}}", "p15", "{{>p16}}",
	                             "p16", "deep",     NULL};
	assert_int_equal(render_str("{{>p1}}", data, BL_TMPL_ESCAPE_HTML, chain, 0, &out, &d), 0);
	assert_string_equal(bl_buf_str(&out), "deep");
	bl_buf_finish(&out);

	/* The output bound: the render stops with -BL_ELIMIT, never past the bound. */
	rc = render_str("{{#l}}{{s}}{{/l}}", data, BL_TMPL_ESCAPE_HTML, NULL, 25, &out, &d);
	if (rc != -BL_ELIMIT || strcmp(d.msg, "t: the output exceeds its limit of 25 bytes") ||
	    out.len > 25)
		fail_msg("output bound: got %d \"%s\" (%zu bytes)", rc, d.msg, out.len);
	bl_buf_finish(&out);
	rc = render_str("{{#l}}{{s}}{{/l}}", data, BL_TMPL_ESCAPE_HTML, NULL, 100, &out, &d);
	assert_int_equal(rc, 0);
	assert_int_equal(out.len, 100);
	bl_buf_finish(&out);

	/*
	 * Work without output is bounded too: 10^8 empty iterations; 8^15
	 * inclusions of partials that each include the next level eight times.
	 */
	src = nested_body(8, "{{#l}}", "", "{{/l}}");
	rc = render_str(src, data, BL_TMPL_ESCAPE_HTML, NULL, 0, &out, &d);
	if (rc != -BL_ELIMIT || strcmp(d.msg, "t:1: rendering takes more than 4194304 steps "
	                                      "(sections or partials repeat too often)"))
		fail_msg("steps: got %d \"%s\"", rc, d.msg);
	bl_buf_finish(&out);
	free(src);
	/* List items count even when the body is empty: 2000^3 would take hours. */
	struct bl_tval *wide = data_of("{}");
	struct bl_tval *items = bl_tval_list();
	for (int i = 0; i < 2000; i++)
		bl_tval_push(items, bl_tval_bool(1));
	bl_tval_set(wide, "big", items);
	rc = render_str("{{#big}}{{#big}}{{#big}}{{/big}}{{/big}}{{/big}}", wide,
	                BL_TMPL_ESCAPE_HTML, NULL, 0, &out, &d);
	if (rc != -BL_ELIMIT || !strstr(d.msg, "steps"))
		fail_msg("2000^3 empty items: got %d \"%s\"", rc, d.msg);
	bl_buf_finish(&out);
	bl_tval_destroy(wide);
	const char *fan[2 * 16 + 1];
	char names[16][8], bodies[16][128];
	for (int i = 0; i < 16; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		bodies[i][0] = '\0';
		for (int k = 0; k < 8 && i < 15; k++)
			snprintf(bodies[i] + strlen(bodies[i]),
			         sizeof(bodies[i]) - strlen(bodies[i]), "{{>f%d}}", i + 1);
		fan[2 * i] = names[i];
		fan[2 * i + 1] = bodies[i];
	}
	fan[32] = NULL;
	rc = render_str("{{>f0}}", data, BL_TMPL_ESCAPE_HTML, fan, 0, &out, &d);
	if (rc != -BL_ELIMIT || !strstr(d.msg, "steps"))
		fail_msg("8^15 partials: got %d \"%s\"", rc, d.msg);
	bl_buf_finish(&out);

	/* An override that holds its own block would expand forever. */
	const char *const layout[] = {"layout", "[{{$b}}{{/b}}]", NULL};
	rc = render_str("{{<layout}}{{$b}}x{{$b}}y{{/b}}{{/b}}{{/layout}}", data,
	                BL_TMPL_ESCAPE_HTML, layout, 0, &out, &d);
	if (rc != -BL_ELIMIT || strcmp(d.msg, "t:1: block \"b\" nests deeper than 16"))
		fail_msg("recursive block: got %d \"%s\"", rc, d.msg);
	bl_buf_finish(&out);

	/*
	 * The deepest recursion the limits allow: 16 partials inside one
	 * another, each with 64 nested sections, over a list of lists.
	 */
	char *deep[2 * 16 + 1];
	char dnames[16][8];
	for (int i = 0; i < 16; i++) {
		char inner[16];
		snprintf(dnames[i], sizeof(dnames[i]), "d%d", i);
		snprintf(inner, sizeof(inner), i < 15 ? "{{>d%d}}" : "end", i + 1);
		deep[2 * i] = dnames[i];
		deep[2 * i + 1] = nested_body(BL_TMPL_MAX_DEPTH, "{{#a}}", inner, "{{/a}}");
	}
	deep[32] = NULL;
	rc = render_str("{{>d0}}", data, BL_TMPL_ESCAPE_HTML, (const char *const *)deep, 0, &out,
	                &d);
	if (rc != 0 || strcmp(bl_buf_str(&out), "end"))
		fail_msg("deepest recursion: got %d \"%s\" \"%s\"", rc, d.msg, bl_buf_str(&out));
	bl_buf_finish(&out);
	for (int i = 0; i < 16; i++)
		free(deep[2 * i + 1]);

	/* A buffer already full fails at once. */
	bl_buf_init(&out, 4);
	bl_buf_adds(&out, "12345");
	assert_int_equal(bl_tmpl_compile("", 0, "t", &t, &d), 0);
	assert_int_equal(bl_tmpl_render(t, data, BL_TMPL_ESCAPE_HTML, NULL, NULL, &out, &d),
	                 -BL_ELIMIT);
	bl_tmpl_destroy(t);
	bl_buf_finish(&out);
	bl_tval_destroy(data);
}

/* ---- rendering -------------------------------------------------------- */

struct render_case {
	const char *src;
	const char *data; /* JSON */
	const char *want;
	enum bl_tmpl_escape esc;
};

static int run_render_cases(const char *what, const struct render_case *cases, size_t n,
                            const char *const *partials)
{
	int bad = 0;
	struct bl_buf vis1, vis2, vis3;
	bl_buf_init(&vis1, 0);
	bl_buf_init(&vis2, 0);
	bl_buf_init(&vis3, 0);
	for (size_t i = 0; i < n; i++) {
		struct bl_tval *data = data_of(cases[i].data);
		struct bl_buf out;
		struct bl_diag d;
		int rc = render_str(cases[i].src, data, cases[i].esc, partials, 0, &out, &d);
		if (rc != 0 || strcmp(bl_buf_str(&out), cases[i].want) != 0) {
			print_error(
			    "%s case %zu \"%s\" over %s:\n  got  \"%s\" (%d %s)\n  want \"%s\"\n",
			    what, i, visible(cases[i].src, strlen(cases[i].src), &vis1),
			    cases[i].data, visible(out.data ? out.data : "", out.len, &vis2), rc,
			    d.msg, visible(cases[i].want, strlen(cases[i].want), &vis3));
			bad++;
		}
		bl_buf_finish(&out);
		bl_tval_destroy(data);
	}
	bl_buf_finish(&vis1);
	bl_buf_finish(&vis2);
	bl_buf_finish(&vis3);
	return bad;
}

static void test_escaping(void **state)
{
	(void)state;
	static const struct render_case cases[] = {
	    {"{{a}}", "{\"a\": \"<b class='x' id=\\\"y\\\">&amp;</b>\"}",
	     "&lt;b class=&#39;x&#39; id=&quot;y&quot;&gt;&amp;amp;&lt;/b&gt;",
	     BL_TMPL_ESCAPE_HTML},
	    {"{{a}}|{{{a}}}|{{&a}}", "{\"a\": \"<&>\\\"'\"}", "<&>\"'|<&>\"'|<&>\"'",
	     BL_TMPL_ESCAPE_NONE},
	    {"{{a}}|{{{a}}}|{{&a}}", "{\"a\": \"<&>\"}", "&lt;&amp;&gt;|<&>|<&>",
	     BL_TMPL_ESCAPE_HTML},
	    {"Subject: {{title}}", "{\"title\": \"Q&A <live>\"}", "Subject: Q&A <live>",
	     BL_TMPL_ESCAPE_NONE},
	    {"{{#l}}{{.}}{{/l}}", "{\"l\": [\"<\", \">\"]}", "<>", BL_TMPL_ESCAPE_NONE},
	    /* Literal text is never escaped. */
	    {"<p>&{{a}}</p>", "{\"a\": \"\\u00e9\"}", "<p>&\xc3\xa9</p>", BL_TMPL_ESCAPE_HTML},
	    /* The text that comes out of data is not parsed again. */
	    {"{{a}}", "{\"a\": \"{{b}}\", \"b\": \"no\"}", "{{b}}", BL_TMPL_ESCAPE_NONE},
	};
	int bad = run_render_cases("escaping", cases, sizeof(cases) / sizeof(cases[0]), NULL);
	if (bad)
		fail_msg("%d escaping cases failed", bad);
}

static void test_values(void **state)
{
	(void)state;
	static const struct render_case cases[] = {
	    /* Numbers: the shortest text that reads back the same. */
	    {"{{n}}", "{\"n\": 85}", "85", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 1.21}", "1.21", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 0.1}", "0.1", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": -0.5}", "-0.5", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 0}", "0", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 1e21}", "1e+21", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 0.30000000000000004}", "0.30000000000000004", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 123456789012}", "123456789012", BL_TMPL_ESCAPE_HTML},
	    {"{{n}}", "{\"n\": 9007199254740993}", "9007199254740992", BL_TMPL_ESCAPE_HTML},
	    /* Booleans, null, lists and maps. */
	    {"{{t}}/{{f}}/{{z}}/{{l}}/{{m}}",
	     "{\"t\": true, \"f\": false, \"z\": null, \"l\": [1], "
	     "\"m\": {\"a\": 1}}",
	     "true/false///", BL_TMPL_ESCAPE_HTML},
	    /* Truthiness: null, false, [], "" are falsey; 0, "0", {} are truthy. */
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": null}", "F", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": false}", "F", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": []}", "F", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": \"\"}", "F", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{}", "F", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": 0}", "T", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": \"0\"}", "T", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": {}}", "T", BL_TMPL_ESCAPE_HTML},
	    {"{{#v}}T{{/v}}{{^v}}F{{/v}}", "{\"v\": [false]}", "T", BL_TMPL_ESCAPE_HTML},
	    /* A subscriber without a name. */
	    {"{{#name}}Hi {{name}},{{/name}}{{^name}}Hello,{{/name}}", "{\"name\": \"\"}", "Hello,",
	     BL_TMPL_ESCAPE_HTML},
	    /* Context stack: a null under a name hides the outer one. */
	    {"{{#m}}[{{a}}]{{/m}}", "{\"a\": 1, \"m\": {\"a\": null}}", "[]", BL_TMPL_ESCAPE_HTML},
	    {"{{#m}}[{{a}}]{{/m}}", "{\"a\": 1, \"m\": {\"b\": 2}}", "[1]", BL_TMPL_ESCAPE_HTML},
	    /* Lists of lists; "." of the outer item is hidden by the inner. */
	    {"{{#l}}({{#.}}{{.}}{{/.}}){{/l}}", "{\"l\": [[1,2],[3]]}", "(12)(3)",
	     BL_TMPL_ESCAPE_HTML},
	    /* Root data that is not a map. */
	    {"{{.}}|{{a}}", "\"str\"", "str|", BL_TMPL_ESCAPE_HTML},
	    {"{{#.}}<{{.}}>{{/.}}", "[1, 2]", "<1><2>", BL_TMPL_ESCAPE_HTML},
	};
	int bad = run_render_cases("values", cases, sizeof(cases) / sizeof(cases[0]), NULL);
	if (bad)
		fail_msg("%d value cases failed", bad);
	/* NULL data is an empty context. */
	struct bl_buf out;
	struct bl_diag d;
	assert_int_equal(
	    render_str("[{{a}}{{.}}{{#a}}x{{/a}}]", NULL, BL_TMPL_ESCAPE_HTML, NULL, 0, &out, &d),
	    0);
	assert_string_equal(bl_buf_str(&out), "[]");
	bl_buf_finish(&out);
}

/* Indentation of standalone partials nests; inline partials take none. */
static void test_indentation(void **state)
{
	(void)state;
	static const char *const partials[] = {"outer", "<ul>\n  {{>inner}}\n</ul>\n",
	                                       "inner", "{{#l}}\n<li>{{.}}</li>\n{{/l}}\n",
	                                       "two",   "a\nb",
	                                       "gap",   "a\n\nb\n",
	                                       NULL};
	static const struct render_case cases[] = {
	    {"<div>\n  {{>outer}}\n</div>\n", "{\"l\": [1, 2]}",
	     "<div>\n  <ul>\n    <li>1</li>\n    <li>2</li>\n  </ul>\n</div>\n",
	     BL_TMPL_ESCAPE_HTML},
	    {"  x {{>two}}|", "{}", "  x a\nb|", BL_TMPL_ESCAPE_HTML},
	    {"\t{{>two}}\n", "{}", "\ta\n\tb", BL_TMPL_ESCAPE_HTML},
	    {"  {{>gap}}", "{}", "  a\n  \n  b\n", BL_TMPL_ESCAPE_HTML},
	    /* Data is not indented, only the template's lines. */
	    {"  {{>inner}}", "{\"l\": [\"x\\ny\"]}", "  <li>x\ny</li>\n", BL_TMPL_ESCAPE_HTML},
	};
	int bad =
	    run_render_cases("indentation", cases, sizeof(cases) / sizeof(cases[0]), partials);
	if (bad)
		fail_msg("%d indentation cases failed", bad);
}

/* Inheritance: a layout with blocks, reindented where they are expanded. */
static void test_inheritance(void **state)
{
	(void)state;
	static const char *const partials[] = {
	    "layout",
	    "<html>\n  <title>{{$title}}News{{/title}}</title>\n  <body>\n    {{$body}}\n    "
	    "<p>empty</p>\n    {{/body}}\n    {{>footer}}\n  </body>\n</html>\n",
	    "footer", "<footer>\n{{$foot}}{{/foot}}\n</footer>\n", NULL};
	static const struct render_case cases[] = {
	    {"{{<layout}}{{/layout}}", "{}",
	     "<html>\n  <title>News</title>\n  <body>\n    <p>empty</p>\n    <footer>\n\n    "
	     "</footer>\n  </body>\n</html>\n",
	     BL_TMPL_ESCAPE_HTML},
	    {"{{<layout}}\n{{$title}}{{t}}{{/title}}\n{{$body}}\n{{#posts}}\n<h1>{{.}}</h1>\n"
	     "{{/posts}}\n{{/body}}\n{{$foot}}bye{{/foot}}\n{{/layout}}\n",
	     "{\"t\": \"A&B\", \"posts\": [\"one\", \"two\"]}",
	     "<html>\n  <title>A&amp;B</title>\n  <body>\n    <h1>one</h1>\n    <h1>two</h1>\n    "
	     "<footer>\n    bye\n    </footer>\n  </body>\n</html>\n",
	     BL_TMPL_ESCAPE_HTML},
	    /* A parent that does not exist renders as empty; its blocks are not shown. */
	    {"a{{<nothing}}{{$title}}x{{/title}}{{/nothing}}b", "{}", "ab", BL_TMPL_ESCAPE_HTML},
	    /* A block outside any parent shows its default. */
	    {"{{$x}}default{{/x}}", "{}", "default", BL_TMPL_ESCAPE_HTML},
	    /* Dynamic parent names. */
	    {"{{<*which}}{{$foot}}dyn{{/foot}}{{/*which}}", "{\"which\": \"footer\"}",
	     "<footer>\ndyn\n</footer>\n", BL_TMPL_ESCAPE_HTML},
	};
	int bad =
	    run_render_cases("inheritance", cases, sizeof(cases) / sizeof(cases[0]), partials);
	if (bad)
		fail_msg("%d inheritance cases failed", bad);
}

/* Templates reach only their data and the resolver: no environment, no files. */
static void test_data_only(void **state)
{
	(void)state;
	setenv("BL_TMPL_SECRET", "leaked", 1);
	static const char *const src = "[{{PATH}}{{HOME}}{{BL_TMPL_SECRET}}{{&BL_TMPL_SECRET}}"
	                               "{{#BL_TMPL_SECRET}}x{{/BL_TMPL_SECRET}}{{>/etc/passwd}}"
	                               "{{>BL_TMPL_SECRET}}{{>*PATH}}{{<../../etc/hostname}}"
	                               "{{/../../etc/hostname}}]";
	struct bl_buf out;
	struct bl_diag d;
	/* No resolver: every partial is absent. */
	struct bl_tmpl *t = NULL;
	assert_int_equal(bl_tmpl_compile(src, strlen(src), "t", &t, &d), 0);
	bl_buf_init(&out, 0);
	assert_int_equal(bl_tmpl_render(t, NULL, BL_TMPL_ESCAPE_HTML, NULL, NULL, &out, &d), 0);
	assert_string_equal(bl_buf_str(&out), "[]");
	bl_buf_finish(&out);
	/* A resolver sees the names as written and nothing else is opened. */
	struct table_partials tp = {NULL, 0};
	bl_buf_init(&out, 0);
	assert_int_equal(bl_tmpl_render(t, NULL, BL_TMPL_ESCAPE_HTML, table_partial, &tp, &out, &d),
	                 0);
	assert_string_equal(bl_buf_str(&out), "[]");
	assert_int_equal(tp.calls, 3); /* /etc/passwd, BL_TMPL_SECRET, ../../etc/hostname */
	bl_buf_finish(&out);
	bl_tmpl_destroy(t);
	unsetenv("BL_TMPL_SECRET");
}

/* The cache asks the resolver once per name, absent names included. */
static void test_cache(void **state)
{
	(void)state;
	static const char *const partials[] = {"hello", "Hello {{name}}!", NULL};
	const char *src = "{{>hello}}{{>missing}}{{>hello}}";
	struct bl_tmpl *t = NULL;
	struct bl_diag d;
	assert_int_equal(bl_tmpl_compile(src, strlen(src), "t", &t, &d), 0);
	struct table_partials tp = {partials, 0};
	struct bl_tmpl_cache *c = bl_tmpl_cache_create(table_partial, &tp);
	struct bl_buf out;
	bl_buf_init(&out, 0);
	char name[32];
	for (int i = 0; i < 1000; i++) {
		struct bl_tval *data = bl_tval_map();
		snprintf(name, sizeof(name), "n%d", i);
		bl_tval_set(data, "name", bl_tval_string(name));
		bl_buf_reset(&out);
		assert_int_equal(bl_tmpl_render_cached(t, data, BL_TMPL_ESCAPE_HTML, c, &out, &d),
		                 0);
		char want[96];
		snprintf(want, sizeof(want), "Hello %s!Hello %s!", name, name);
		assert_string_equal(bl_buf_str(&out), want);
		bl_tval_destroy(data);
	}
	assert_int_equal(tp.calls, 2);
	/* Without a cache each render resolves again. */
	tp.calls = 0;
	bl_buf_reset(&out);
	assert_int_equal(bl_tmpl_render(t, NULL, BL_TMPL_ESCAPE_HTML, table_partial, &tp, &out, &d),
	                 0);
	assert_int_equal(tp.calls, 2);
	bl_buf_finish(&out);
	bl_tmpl_cache_destroy(c);
	bl_tmpl_cache_destroy(NULL);
	bl_tmpl_destroy(t);
	bl_tmpl_destroy(NULL);
}

/* A resolver's error ends the render as is. */
static int failing_partial(void *arg, const char *name, const char **src, size_t *len)
{
	(void)arg;
	(void)name;
	(void)src;
	(void)len;
	return -BL_EIO;
}

static void test_resolver_error(void **state)
{
	(void)state;
	const char *src = "a\n{{>p}}b";
	struct bl_tmpl *t = NULL;
	struct bl_diag d;
	struct bl_buf out;
	assert_int_equal(bl_tmpl_compile(src, strlen(src), "mail.txt", &t, &d), 0);
	bl_buf_init(&out, 0);
	int rc = bl_tmpl_render(t, NULL, BL_TMPL_ESCAPE_NONE, failing_partial, NULL, &out, &d);
	if (rc != -BL_EIO || strcmp(d.msg, "mail.txt:2: partial \"p\": input/output error"))
		fail_msg("got %d \"%s\"", rc, d.msg);
	bl_buf_finish(&out);
	bl_tmpl_destroy(t);
}

static void test_tval(void **state)
{
	(void)state;
	struct bl_tval *m = bl_tval_map();
	bl_tval_set(m, "a", bl_tval_number(1));
	bl_tval_set(m, "b", bl_tval_stringn("xy\0z", 4)); /* cut at the NUL */
	bl_tval_set(m, "a", bl_tval_string("again"));     /* replaces, keeps the order */
	struct bl_tval *l = bl_tval_list();
	bl_tval_push(l, bl_tval_null());
	bl_tval_push(l, bl_tval_bool(7));
	bl_tval_set(m, "l", l);
	assert_int_equal(bl_tval_kind(bl_tval_get(m, "a")), BL_TVAL_STRING);
	assert_int_equal(bl_tval_kind(bl_tval_get(m, "l")), BL_TVAL_LIST);
	assert_null(bl_tval_get(m, "missing"));
	assert_null(bl_tval_get(l, "a"));
	assert_int_equal(bl_tval_kind(NULL), BL_TVAL_NULL);
	struct bl_buf out;
	struct bl_diag d;
	assert_int_equal(render_str("{{a}}|{{b}}|{{#l}}<{{.}}>{{/l}}", m, BL_TMPL_ESCAPE_HTML, NULL,
	                            0, &out, &d),
	                 0);
	assert_string_equal(bl_buf_str(&out), "again|xy|<><true>");
	bl_buf_finish(&out);
	bl_tval_destroy(m);
	bl_tval_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    {"spec comments.json", test_spec, NULL, NULL, (void *)&specs[0]},
	    {"spec delimiters.json", test_spec, NULL, NULL, (void *)&specs[1]},
	    {"spec interpolation.json", test_spec, NULL, NULL, (void *)&specs[2]},
	    {"spec inverted.json", test_spec, NULL, NULL, (void *)&specs[3]},
	    {"spec partials.json", test_spec, NULL, NULL, (void *)&specs[4]},
	    {"spec sections.json", test_spec, NULL, NULL, (void *)&specs[5]},
	    {"spec ~dynamic-names.json", test_spec, NULL, NULL, (void *)&specs[6]},
	    {"spec ~inheritance.json", test_spec, NULL, NULL, (void *)&specs[7]},
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_partial_syntax_error),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_indentation),
	    cmocka_unit_test(test_inheritance),
	    cmocka_unit_test(test_data_only),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_resolver_error),
	    cmocka_unit_test(test_tval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
