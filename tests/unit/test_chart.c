/*
 * Unit tests for the SVG charts of src/http/chart.c: the y axis's round
 * maximum and step, escaping of every text (title, captions, labels), how
 * many x labels are drawn, bars and lines, the empty chart, bad arguments,
 * and the output limit. The SVG is checked as text (the page tests run it
 * through html5lib inside the admin pages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/chart.h"
#include "util/err.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_axis(void **state)
{
	(void)state;
	static const struct {
		double max, top, step;
	} cases[] = {
	    {0, 1, 1},       {-3, 1, 1},      {0.5, 1, 1},         {1, 1, 1},     {1.5, 2, 1},
	    {2, 2, 1},       {3, 5, 1},       {5, 5, 1},           {6, 10, 2},    {10, 10, 2},
	    {11, 20, 5},     {20, 20, 5},     {21, 50, 10},        {99, 100, 20}, {101, 200, 50},
	    {499, 500, 100}, {1e6, 1e6, 2e5}, {1000001, 2e6, 5e5},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double step = -1, top = bl_chart_axis_max(cases[i].max, &step);
		if (top != cases[i].top || step != cases[i].step)
			fail_msg("axis for max %g: got top %g step %g, want top %g step %g",
			         cases[i].max, top, step, cases[i].top, cases[i].step);
	}
}

static void test_escaping(void **state)
{
	(void)state;
	static const char *const labels[] = {"<b>&\"x\"'", NULL, "ok"};
	static const double values[] = {1, 2, 3};
	struct bl_chart c = {.kind = BL_CHART_BAR,
	                     .title = "</svg><script>alert(1)</script>",
	                     .x_label = "\"><img src=x onerror=alert(1)>",
	                     .y_label = "a & b",
	                     .n = 3,
	                     .values = values,
	                     .labels = labels};
	struct bl_buf b;
	bl_buf_init(&b, 1 << 20);
	assert_int_equal(bl_chart_svg(&c, &b), 0);
	const char *s = bl_buf_str(&b);
	static const char *const absent[] = {"<script", "<img", "<b>", "a & b", "\"x\""};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		if (strstr(s, absent[i]))
			fail_msg("raw %s in the chart: %s", absent[i], s);
	static const char *const present[] = {
	    "&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
	    "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
	    "a &amp; b",
	    "&lt;b&gt;&amp;&quot;x&quot;&#39;",
	};
	for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++)
		if (!strstr(s, present[i]))
			fail_msg("escaped text %s missing in the chart: %s", present[i], s);
	/* exactly one svg element, closed */
	if (count(s, "<svg") != 1 || count(s, "</svg>") != 1)
		fail_msg("got %zu <svg and %zu </svg>, want 1 each", count(s, "<svg"),
		         count(s, "</svg>"));
	bl_buf_finish(&b);
}

static void test_shapes(void **state)
{
	(void)state;
	static const struct {
		enum bl_chart_kind kind;
		size_t n;
		size_t rects, circles, polylines, x_labels;
	} cases[] = {
	    {BL_CHART_BAR, 1, 1, 0, 0, 1},     {BL_CHART_BAR, 7, 7, 0, 0, 7},
	    {BL_CHART_BAR, 10, 10, 0, 0, 10},  {BL_CHART_BAR, 30, 30, 0, 0, 10},
	    {BL_CHART_LINE, 30, 0, 30, 1, 10}, {BL_CHART_LINE, 60, 0, 60, 1, 10},
	    {BL_CHART_BAR, 31, 31, 0, 0, 8}, /* every 4th: 0..28 (8), 28 gives way to 30 */
	};
	double values[100];
	char names[100][16];
	const char *labels[100];
	for (size_t i = 0; i < 100; i++) {
		values[i] = (double)(i * 7 % 13);
		snprintf(names[i], sizeof(names[i]), "L%zu", i);
		labels[i] = names[i];
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bl_chart c = {.kind = cases[i].kind,
		                     .title = "t",
		                     .n = cases[i].n,
		                     .values = values,
		                     .labels = labels};
		struct bl_buf b;
		bl_buf_init(&b, 1 << 20);
		assert_int_equal(bl_chart_svg(&c, &b), 0);
		const char *s = bl_buf_str(&b);
		char last[32];
		snprintf(last, sizeof(last), ">L%zu</text>", cases[i].n - 1);
		size_t rects = count(s, "<rect"), circles = count(s, "<circle"),
		       lines = count(s, "<polyline"), xl = count(s, ">L");
		/* each point's <title> holds "Ln: v" too: x labels are the "</text>" ones */
		xl = 0;
		for (const char *p = s; (p = strstr(p, "text-anchor=\"middle\">L")); p++)
			xl++;
		if (rects != cases[i].rects || circles != cases[i].circles ||
		    lines != cases[i].polylines || xl != cases[i].x_labels || !strstr(s, last))
			fail_msg(
			    "case %zu (n %zu): got %zu rects, %zu circles, %zu polylines, %zu x "
			    "labels, last label %s; want %zu, %zu, %zu, %zu, present",
			    i, cases[i].n, rects, circles, lines, xl,
			    strstr(s, last) ? "present" : "missing", cases[i].rects,
			    cases[i].circles, cases[i].polylines, cases[i].x_labels);
		bl_buf_finish(&b);
	}
}

static void test_values(void **state)
{
	(void)state;
	/* max 8 -> axis 0..10 by 2: six tick labels; the bar of 5 is half the plot's height */
	static const double values[] = {5, 8, -2};
	struct bl_chart c = {.kind = BL_CHART_BAR, .n = 3, .values = values, .height = 256};
	struct bl_buf b;
	bl_buf_init(&b, 1 << 20);
	assert_int_equal(bl_chart_svg(&c, &b), 0);
	const char *s = bl_buf_str(&b);
	static const char *const ticks[] = {">0</text>", ">2</text>", ">4</text>",
	                                    ">6</text>", ">8</text>", ">10</text>"};
	for (size_t i = 0; i < 6; i++)
		if (!strstr(s, ticks[i]))
			fail_msg("tick %s missing: %s", ticks[i], s);
	/* plot height 256 - 12 - 44 = 200: 5 of 10 is 100 px, 8 is 160, -2 draws as 0 */
	static const char *const heights[] = {"height=\"100.0\"><title>5</title>",
	                                      "height=\"160.0\"><title>8</title>",
	                                      "height=\"0.0\"><title>0</title>"};
	for (size_t i = 0; i < 3; i++)
		if (!strstr(s, heights[i]))
			fail_msg("bar %s missing: %s", heights[i], s);
	if (!strstr(s, "<title>Chart</title>"))
		fail_msg("default title missing: %s", s);
	bl_buf_finish(&b);
}

static void test_empty_and_errors(void **state)
{
	(void)state;
	struct bl_buf b;
	bl_buf_init(&b, 1 << 20);
	struct bl_chart c = {.kind = BL_CHART_LINE, .title = "empty"};
	assert_int_equal(bl_chart_svg(&c, &b), 0);
	if (!strstr(bl_buf_str(&b), "No data") || strstr(bl_buf_str(&b), "<polyline"))
		fail_msg("empty chart: got %s, want \"No data\" and no line", bl_buf_str(&b));
	bl_buf_reset(&b);

	static const double v[] = {1};
	struct {
		struct bl_chart c;
		int want;
	} bad[] = {
	    {{.n = 1}, -BL_EINVAL},
	    {{.n = BL_CHART_MAX + 1, .values = v}, -BL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = bl_chart_svg(&bad[i].c, &b);
		if (rc != bad[i].want)
			fail_msg("bad case %zu: got %d, want %d", i, rc, bad[i].want);
	}
	bl_buf_finish(&b);

	/* a buffer too small: -BL_ELIMIT */
	double many[500];
	for (size_t i = 0; i < 500; i++)
		many[i] = (double)i;
	struct bl_chart big = {.kind = BL_CHART_BAR, .n = 500, .values = many};
	bl_buf_init(&b, 1024);
	int rc = bl_chart_svg(&big, &b);
	if (rc != -BL_ELIMIT)
		fail_msg("500 bars in 1 KiB: got %d, want %d", rc, -BL_ELIMIT);
	bl_buf_finish(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_axis),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_shapes),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_empty_and_errors),
	};
	return cmocka_run_group_tests_name("unit/chart", tests, NULL, NULL);
}
