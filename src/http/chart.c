/*
 * SVG charts (chart.h): the drawing is a fixed layout (a left margin for
 * the y labels, a bottom one for the x labels and caption) over a view box,
 * so the chart scales with its container (width 100% in the stylesheet).
 * Numbers are printed with one decimal at most; text goes through
 * xml_text, which escapes the five XML specials.
 */
#include "http/chart.h"

#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MARGIN_LEFT   60.0
#define MARGIN_RIGHT  12.0
#define MARGIN_TOP    12.0
#define MARGIN_BOTTOM 44.0
#define MAX_X_LABELS  10

/* Append @s with & < > " ' escaped (XML 1.0 §2.4, attribute-safe). */
static void xml_text(struct bl_buf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			bl_buf_adds(out, "&amp;");
			break;
		case '<':
			bl_buf_adds(out, "&lt;");
			break;
		case '>':
			bl_buf_adds(out, "&gt;");
			break;
		case '"':
			bl_buf_adds(out, "&quot;");
			break;
		case '\'':
			bl_buf_adds(out, "&#39;");
			break;
		default:
			bl_buf_addc(out, *s);
		}
	}
}

/* A value as text: whole numbers without decimals ("1200"), else one decimal ("2.5"). */
static void number(char *out, size_t size, double v)
{
	if (fabs(v - round(v)) < 1e-9)
		snprintf(out, size, "%.0f", round(v));
	else
		snprintf(out, size, "%.1f", v);
}

double bl_chart_axis_max(double max, double *step)
{
	static const double mult[] = {1, 2, 5};
	double p = 1, top = 1;
	if (!(max > 1)) {
		*step = 1;
		return 1;
	}
	for (;;) {
		for (size_t i = 0; i < 3; i++) {
			top = mult[i] * p;
			if (top >= max)
				goto found;
		}
		p *= 10;
	}
found:
	/* 1x: fifths; 2x: quarters; 5x: fifths. Never below 1 (counts are whole). */
	*step = top / (top / p == 2 ? 4 : 5);
	if (*step < 1)
		*step = 1;
	return top;
}

int bl_chart_svg(const struct bl_chart *c, struct bl_buf *out)
{
	double w = c->width ? c->width : 640, h = c->height ? c->height : 240;
	double pw = w - MARGIN_LEFT - MARGIN_RIGHT, ph = h - MARGIN_TOP - MARGIN_BOTTOM;
	double max = 0, step, top, x0 = MARGIN_LEFT, y0 = MARGIN_TOP + ph;
	const char *title = c->title && *c->title ? c->title : "Chart";
	char num[64];

	if (c->n > BL_CHART_MAX || (c->n && !c->values))
		return -BL_EINVAL;
	for (size_t i = 0; i < c->n; i++)
		if (c->values[i] > max)
			max = c->values[i];
	top = bl_chart_axis_max(max, &step);

	bl_buf_addf(out,
	            "<svg class=\"bl-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
	            "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"",
	            w, h);
	xml_text(out, title);
	bl_buf_adds(out, "\"><title>");
	xml_text(out, title);
	bl_buf_adds(out, "</title>\n");

	/* y axis: grid lines and tick labels */
	for (double t = 0; t <= top + 1e-9; t += step) {
		double y = y0 - t / top * ph;
		number(num, sizeof(num), t);
		bl_buf_addf(out,
		            "<line class=\"bl-chart-grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		            "y2=\"%.1f\"/><text class=\"bl-chart-label\" x=\"%.1f\" y=\"%.1f\" "
		            "text-anchor=\"end\">%s</text>\n",
		            x0, y, x0 + pw, y, x0 - 6, y + 4, num);
	}
	bl_buf_addf(
	    out,
	    "<line class=\"bl-chart-axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
	    "<line class=\"bl-chart-axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
	    "y2=\"%.1f\"/>\n",
	    x0, MARGIN_TOP, x0, y0, x0, y0, x0 + pw, y0);
	if (c->y_label && *c->y_label) {
		bl_buf_addf(
		    out,
		    "<text class=\"bl-chart-label\" x=\"12\" y=\"%.1f\" text-anchor=\"middle\" "
		    "transform=\"rotate(-90 12 %.1f)\">",
		    MARGIN_TOP + ph / 2, MARGIN_TOP + ph / 2);
		xml_text(out, c->y_label);
		bl_buf_adds(out, "</text>\n");
	}
	if (c->x_label && *c->x_label) {
		bl_buf_addf(out,
		            "<text class=\"bl-chart-label\" x=\"%.1f\" y=\"%.1f\" "
		            "text-anchor=\"middle\">",
		            x0 + pw / 2, h - 6);
		xml_text(out, c->x_label);
		bl_buf_adds(out, "</text>\n");
	}
	if (c->n == 0) {
		bl_buf_addf(out,
		            "<text class=\"bl-chart-label\" x=\"%.1f\" y=\"%.1f\" "
		            "text-anchor=\"middle\">No data</text>\n",
		            x0 + pw / 2, MARGIN_TOP + ph / 2);
		bl_buf_adds(out, "</svg>");
		return bl_buf_err(out) ? -BL_ELIMIT : 0;
	}

	double slot = pw / (double)c->n;
	size_t every = (c->n + MAX_X_LABELS - 1) / MAX_X_LABELS;
	if (c->kind == BL_CHART_LINE) {
		bl_buf_adds(out, "<polyline class=\"bl-chart-line\" fill=\"none\" points=\"");
		for (size_t i = 0; i < c->n; i++) {
			double v = c->values[i] > 0 ? c->values[i] : 0;
			bl_buf_addf(out, "%s%.1f,%.1f", i ? " " : "", x0 + slot * ((double)i + 0.5),
			            y0 - v / top * ph);
		}
		bl_buf_adds(out, "\"/>\n");
	}
	for (size_t i = 0; i < c->n; i++) {
		double v = c->values[i] > 0 ? c->values[i] : 0;
		double x = x0 + slot * (double)i, y = y0 - v / top * ph;
		const char *label = c->labels ? c->labels[i] : NULL;
		number(num, sizeof(num), v);
		if (c->kind == BL_CHART_BAR)
			bl_buf_addf(
			    out,
			    "<rect class=\"bl-chart-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\"><title>",
			    x + slot * 0.1, y, slot * 0.8, y0 - y);
		else
			bl_buf_addf(out,
			            "<circle class=\"bl-chart-point\" cx=\"%.1f\" cy=\"%.1f\" "
			            "r=\"2.5\"><title>",
			            x + slot * 0.5, y);
		if (label && *label) {
			xml_text(out, label);
			bl_buf_adds(out, ": ");
		}
		bl_buf_addf(out, "%s</title></%s>\n", num,
		            c->kind == BL_CHART_BAR ? "rect" : "circle");
		if (label && *label && (i % every == 0 || i + 1 == c->n)) {
			/* the last label replaces a regular one too close before it */
			if (i + 1 != c->n && c->n - 1 - i < every && (c->n - 1) % every != 0)
				continue;
			bl_buf_addf(out,
			            "<text class=\"bl-chart-label\" x=\"%.1f\" y=\"%.1f\" "
			            "text-anchor=\"middle\">",
			            x + slot * 0.5, y0 + 16);
			xml_text(out, label);
			bl_buf_adds(out, "</text>\n");
		}
	}
	bl_buf_adds(out, "</svg>");
	return bl_buf_err(out) ? -BL_ELIMIT : 0;
}
