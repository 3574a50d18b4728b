/*
 * Server-rendered SVG charts for the admin UI (issue 5): one series of
 * numbers as bars or a line, with a y axis of round ticks, x labels and an
 * accessible name (<title>, role="img", aria-label). No script, no inline
 * style: colours come from the page's stylesheet through class names
 * (bl-chart, bl-chart-bar, bl-chart-line, bl-chart-axis, bl-chart-grid,
 * bl-chart-label), so the CSP's style-src 'self' holds. Every text is
 * XML-escaped; the output is inline SVG for an HTML5 page.
 */
#ifndef BL_HTTP_CHART_H
#define BL_HTTP_CHART_H

#include <stddef.h>

#include "util/buf.h"

enum bl_chart_kind { BL_CHART_BAR, BL_CHART_LINE };

struct bl_chart {
	enum bl_chart_kind kind;
	const char *title;         /* accessible name; NULL: "Chart" */
	const char *x_label;       /* caption under the x axis; NULL: none */
	const char *y_label;       /* caption beside the y axis; NULL: none */
	size_t n;                  /* points (0: an empty chart saying "No data") */
	const double *values;      /* @n values; negative ones are drawn as 0 */
	const char *const *labels; /* @n x labels, or NULL; a NULL entry: no label */
	unsigned width, height;    /* view box, px; 0: 640 x 240 */
};

/*
 * bl_chart_svg - append @c as an <svg> element to @out. At most about ten
 * x labels are drawn (every k-th, the last one always); the y axis runs
 * from 0 to a round maximum (1, 2 or 5 times a power of ten) at or above
 * the largest value, in 4 or 5 ticks, each labelled. Returns 0;
 * -BL_EINVAL for @n > 0 without @values or more than BL_CHART_MAX points;
 * -BL_ELIMIT when @out's limit is hit (@out then holds part of a chart).
 */
#define BL_CHART_MAX 10000
int bl_chart_svg(const struct bl_chart *c, struct bl_buf *out);

/*
 * bl_chart_axis_max - the y axis's top for data whose largest value is
 * @max: the least of 1, 2, 5 x 10^k (k >= 0) that is >= @max, and 1 for
 * @max <= 1 (an empty chart still has a scale). *@step gets the tick
 * interval (the top divided into 4 or 5 ticks, a whole number).
 */
double bl_chart_axis_max(double max, double *step);

#endif
