/*
 * The HTML sanitiser (src/feed/sanitize.c): a table of XSS vectors, each
 * sanitised and its output parsed again with libxml2 and walked by a checker
 * of the test's own (elements and attributes against the allowlist, URL
 * schemes after the browser's own clean-up, forbidden strings); good HTML
 * kept byte for byte; relative URLs; images over http; limits; the plain
 * text rendering. Every output is sanitised again and must come back
 * unchanged, and the good HTML is parsed by html5lib (strict) through
 * /usr/bin/python3.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/HTMLparser.h>

#include "feed/sanitize.h"

#define BASE "https://example.org/blog/post.html"

/* ---- the checker: independent of the implementation's tables -------------------------- */

static const char *const allowed[] = {
    "a",      "abbr", "b",   "blockquote", "br",    "caption",    "cite",   "code",  "dd",
    "del",    "div",  "dl",  "dt",         "em",    "figcaption", "figure", "h1",    "h2",
    "h3",     "h4",   "h5",  "h6",         "hr",    "i",          "img",    "ins",   "kbd",
    "li",     "mark", "ol",  "p",          "pre",   "q",          "s",      "small", "span",
    "strong", "sub",  "sup", "table",      "tbody", "td",         "tfoot",  "th",    "thead",
    "time",   "tr",   "u",   "ul",         "html",  "body", /* the parser's own wrappers */
};

static const char *const allowed_attrs[] = {"href",  "title",    "src",     "alt",
                                            "width", "height",   "colspan", "rowspan",
                                            "start", "datetime", "cite",    "rel"};

static int in(const char *const *set, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(set[i], s) == 0)
			return 1;
	return 0;
}

#define IN(set, s) in(set, sizeof(set) / sizeof(set[0]), s)

/* @v as a browser reads a URL's scheme: blanks and controls at both ends and TAB/LF/CR inside
 * removed, lowercased up to ':'. Writes the scheme to @scheme ("" when relative). */
static void url_scheme(const char *v, char scheme[32])
{
	char clean[4096];
	size_t n = 0;
	while (*v && (unsigned char)*v <= 0x20)
		v++;
	for (; *v && n < sizeof(clean) - 1; v++)
		if (*v != '\t' && *v != '\n' && *v != '\r')
			clean[n++] = *v;
	clean[n] = 0;
	size_t k = strcspn(clean, ":/?#");
	scheme[0] = 0;
	if (clean[k] == ':' && k < 31) {
		for (size_t i = 0; i < k; i++)
			scheme[i] =
			    (char)(clean[i] >= 'A' && clean[i] <= 'Z' ? clean[i] + 32 : clean[i]);
		scheme[k] = 0;
	}
}

/* Appends each problem of node list @n (recursively) to @why. */
static void check_nodes(xmlNode *n, char *why, size_t size)
{
	for (; n; n = n->next) {
		if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE ||
		    n->type == XML_CDATA_SECTION_NODE)
			snprintf(why + strlen(why), size - strlen(why), " comment/PI/CDATA;");
		if (n->type != XML_ELEMENT_NODE)
			continue;
		const char *name = (const char *)n->name;
		if (!IN(allowed, name))
			snprintf(why + strlen(why), size - strlen(why), " element <%s>;", name);
		for (xmlAttr *a = n->properties; a; a = a->next) {
			const char *an = (const char *)a->name;
			xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
			const char *vs = v ? (const char *)v : "";
			char scheme[32];
			if (!IN(allowed_attrs, an) || strncasecmp(an, "on", 2) == 0)
				snprintf(why + strlen(why), size - strlen(why),
				         " attribute %s on <%s>;", an, name);
			if (strcmp(an, "href") == 0 || strcmp(an, "src") == 0 ||
			    strcmp(an, "cite") == 0) {
				url_scheme(vs, scheme);
				int ok = strcmp(scheme, "https") == 0 ||
				         (strcmp(an, "src") != 0 && strcmp(scheme, "http") == 0) ||
				         (strcmp(an, "href") == 0 && strcmp(scheme, "mailto") == 0);
				if (!ok)
					snprintf(why + strlen(why), size - strlen(why),
					         " %s=\"%s\" (scheme \"%s\");", an, vs, scheme);
			}
			if (strcmp(an, "rel") == 0 &&
			    strcmp(vs, "noopener noreferrer nofollow") != 0)
				snprintf(why + strlen(why), size - strlen(why), " rel=\"%s\";", vs);
			xmlFree(v);
		}
		check_nodes(n->children, why, size);
	}
}

/* Problems of sanitised @html, "" when none. */
static void check_safe(const char *html, char *why, size_t size)
{
	static const char *const never[] = {"<script", "<style", "<svg",     "<iframe", "<object",
	                                    "<embed",  "<form",  "<meta",    "<link",   "<base",
	                                    "<math",   "<!--",   "<![cdata["};
	why[0] = 0;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (strcasestr(html, never[i]))
			snprintf(why + strlen(why), size - strlen(why), " holds %s;", never[i]);
	htmlDocPtr doc = htmlReadMemory(html, (int)strlen(html), NULL, "UTF-8",
	                                HTML_PARSE_NONET | HTML_PARSE_NOERROR |
	                                    HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER);
	if (doc) {
		check_nodes(doc->children, why, size);
		xmlFreeDoc(doc);
	}
}

/* Sanitise @html against @base; fails the test unless it succeeds and is a fixed point.
 * Returns the output (free it). */
static char *sanitize(const char *html, const char *base)
{
	struct bl_buf out, again;
	struct bl_diag d = {{0}};
	bl_buf_init(&out, 0);
	bl_buf_init(&again, 0);
	int rc = bl_html_sanitize(html, strlen(html), base, &out, &d);
	if (rc != 0)
		fail_msg("input %s\n  got rc %d (%s), want 0", html, rc, d.msg);
	rc = bl_html_sanitize(bl_buf_str(&out), out.len, base, &again, &d);
	if (rc != 0 || strcmp(bl_buf_str(&out), bl_buf_str(&again)) != 0)
		fail_msg("not a fixed point: input %s\n  once:  %s\n  twice: %s (rc %d)", html,
		         bl_buf_str(&out), bl_buf_str(&again), rc);
	bl_buf_finish(&again);
	return bl_buf_take(&out);
}

/* ---- XSS vectors ---------------------------------------------------------------------- */

struct vector {
	const char *html;
	const char *gone; /* a string that must not survive (case-insensitive), or NULL */
};

static const struct vector vectors[] = {
    {"<script>alert(1)</script>", "alert"},
    {"<SCRIPT SRC=https://evil.example/x.js></SCRIPT>", "evil"},
    {"<scr<script>ipt>alert(1)</script>", "<script"},
    {"<script>/*</script><img src=x onerror=alert(1)>*/", "onerror"},
    {"<img src=x onerror=alert(1)>", "alert"},
    {"<img src=\"https://ok.example/a.png\" onload=\"alert(1)\">", "alert"},
    {"<body onload=alert(1)>hi", "alert"},
    {"<p onmouseover=\"alert(1)\" ONCLICK=alert(2)>x</p>", "alert"},
    {"<a href=\"javascript:alert(1)\">x</a>", "alert"},
    {"<a href=\"JaVaScRiPt:alert(1)\">x</a>", "alert"},
    {"<a href=\" javascript:alert(1)\">x</a>", "alert"},
    {"<a href=\"jav&#x09;ascript:alert(1)\">x</a>", "alert"},
    {"<a href=\"jav&#x0A;ascript:alert(1)\">x</a>", "alert"},
    {"<a href=\"jav\tascript:alert(1)\">x</a>", "alert"},
    {"<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
     "alert"},
    /* &colon; is no HTML 4 entity: a relative path, its '&' escaped for the browser */
    {"<a href=\"&#x6A;avascript&colon;alert(1)\">x</a>", "&colon;"},
    {"<a href=\"javascript&#58;alert(1)\">x</a>", "alert"},
    {"<a href=\"&#0000106avascript:alert(1)\">x</a>", "alert"},
    /* U+0001 becomes U+FFFD, which no browser strips: a relative path */
    {"<a href=\"\x01javascript:alert(1)\">x</a>", "\"javascript"},
    {"<a href=\"vbscript:msgbox(1)\">x</a>", "msgbox"},
    {"<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>", "base64"},
    {"<img src=\"data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=\">", "base64"},
    {"<img src=\"javascript:alert(1)\" alt=\"pic\">", "alert"},
    {"<svg onload=alert(1)><circle r=4></circle></svg>", "alert"},
    {"<svg><script>alert(1)</script></svg>", "alert"},
    {"<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "alert"},
    {"<div style=\"width: expression(alert(1))\">x</div>", "expression"},
    {"<style>body{background:url(javascript:alert(1))}</style>x", "alert"},
    {"<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">", "alert"},
    {"<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>", "alert"},
    {"<iframe src=\"https://evil.example/\">fallback</iframe>", "evil"},
    {"<form action=\"javascript:alert(1)\"><input type=submit value=go></form>", "alert"},
    {"<form><button formaction=\"javascript:alert(1)\">go</button></form>", "alert"},
    {"<object data=\"javascript:alert(1)\"></object>", "alert"},
    {"<embed src=\"javascript:alert(1)\">", "alert"},
    {"<link rel=stylesheet href=\"https://evil.example/x.css\">", "evil"},
    {"<base href=\"javascript:alert(1)//\"><a href=\"/x\">x</a>", "alert"},
    {"<!--<img src=x onerror=alert(1)>-->", "alert"},
    {"<![CDATA[<img src=x onerror=alert(1)>]]>", "onerror"},
    {"<p title=\"</p><script>alert(1)</script>\">x</p>", "<script"},
    {"<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">", "onerror"},
    {"<a href=\"https://ok.example/\" onclick=\"alert(1)\">ok</a>", "alert"},
    {"<div><p><b><i><u><a href=javascript:alert(1)>deep", "alert"},
    {"<table><tr><td background=\"javascript:alert(1)\">x</td></tr></table>", "alert"},
    {"<img src=https://ok.example/a.png alt=x style=\"behavior:url(x.htc)\">", "behavior"},
    {"<a href=\"https://ok.example/\" style=\"position:fixed\">ok</a>", "fixed"},
    {"<textarea><script>alert(1)</script></textarea>", "alert"},
    {"<xmp><script>alert(1)</script></xmp>", "alert"},
    {"<template><script>alert(1)</script></template>", "alert"},
    {"<select><option>alert(1)</option></select>", "alert"},
    {"<isindex action=javascript:alert(1) type=image>", "alert"},
    {"<a href=\"java&#0;script:alert(1)\">x</a>", "alert"},
    {"<a href=\"//evil.example/%0Ajavascript:alert(1)\">x</a>", NULL},
    {"<a href=\"mailto:a@example.org\" onfocus=alert(1) autofocus>m</a>", "alert"},
    {"<img src=\"http://plain.example/a.png\" alt=\"plain\">", "plain.example"},
    {"<blockquote cite=\"javascript:alert(1)\">q</blockquote>", "alert"},
    {"<q cite=\"data:text/html,x\">q</q>", "data:"},
    {"<p>unclosed <b>bold <i>both", NULL},
    {"</p></div></body></html><p>after the end", NULL},
    {"<a href=\"https://a.example/\"><a href=\"javascript:alert(1)\">nested</a></a>", "alert"},
    {"<?xml-stylesheet href=\"javascript:alert(1)\"?><p>x</p>", "alert"},
    {"<frameset><frame src=\"javascript:alert(1)\"></frameset>", "alert"},
    {"<applet code=\"x.class\">alert(1)</applet>", "alert"},
    {"<video><source src=x onerror=alert(1)></video>", "alert"},
    {"<math href=\"javascript:alert(1)\">CLICK</math>", "alert"},
    /* backquotes do not quote in HTML: a relative path "`javascript:alert(1)`" */
    {"<img src=`javascript:alert(1)`>", "\"javascript"},
    {"<a href=\"https://ok.example/\" target=\"_blank\" rel=\"opener\">ok</a>", "opener\""},
};

static void test_xss(void **state)
{
	(void)state;
	char why[4096];
	int bad = 0;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		char *out = sanitize(v->html, BASE);
		check_safe(out, why, sizeof(why));
		if (v->gone && strcasestr(out, v->gone))
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " \"%s\" survived;",
			         v->gone);
		if (why[0]) {
			print_error("vector %zu: %s\n  got:%s\n  problems:%s\n", i, v->html, out,
			            why);
			bad++;
		}
		free(out);
	}
	assert_int_equal(bad, 0);
	assert_true(sizeof(vectors) / sizeof(vectors[0]) >= 40);
}

/* The checker itself must see what it is there to see. */
static void test_checker(void **state)
{
	(void)state;
	static const char *const unsafe[] = {
	    "<script>x</script>",       "<p onclick=x>y</p>",       "<a href=\"jav&#9;ascript:x\">",
	    "<img src=\"http://x/a\">", "<a href=\"data:x\">y</a>", "<p style=\"x\">y</p>",
	    "<iframe></iframe>",        "<a rel=\"opener\">y</a>",
	};
	char why[1024];
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		check_safe(unsafe[i], why, sizeof(why));
		if (!why[0])
			fail_msg("the checker passes %s", unsafe[i]);
	}
	check_safe("<p><a href=\"https://x/\">y</a></p>", why, sizeof(why));
	assert_string_equal(why, "");
}

/* ---- exact outputs -------------------------------------------------------------------- */

struct exact {
	const char *html, *base, *want;
};

#define REL " rel=\"noopener noreferrer nofollow\""

static const struct exact good[] = {
    {"<p>Hello <b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <s>s</s></p>", BASE,
     "<p>Hello <b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <s>s</s></p>"},
    {"<h1>T</h1><h2>a</h2><h3>b</h3><h4>c</h4><h5>d</h5><h6>e</h6>", BASE,
     "<h1>T</h1><h2>a</h2><h3>b</h3><h4>c</h4><h5>d</h5><h6>e</h6>"},
    {"<p>H<sub>2</sub>O x<sup>2</sup> <small>s</small> <code>c</code> <kbd>k</kbd> "
     "<mark>m</mark> <del>d</del> <ins>i</ins> <cite>c</cite> <q>q</q></p>",
     BASE,
     "<p>H<sub>2</sub>O x<sup>2</sup> <small>s</small> <code>c</code> <kbd>k</kbd> "
     "<mark>m</mark> <del>d</del> <ins>i</ins> <cite>c</cite> <q>q</q></p>"},
    {"<ul><li>one</li><li>two</li></ul><ol start=\"3\"><li>three</li></ol>", BASE,
     "<ul><li>one</li><li>two</li></ul><ol start=\"3\"><li>three</li></ol>"},
    {"<dl><dt>term</dt><dd>def</dd></dl>", BASE, "<dl><dt>term</dt><dd>def</dd></dl>"},
    {"<blockquote cite=\"https://q.example/src\"><p>quoted</p></blockquote>", BASE,
     "<blockquote cite=\"https://q.example/src\"><p>quoted</p></blockquote>"},
    {"<pre><code>int main(void)\n{\n\treturn 0;\n}</code></pre>", BASE,
     "<pre><code>int main(void)\n{\n\treturn 0;\n}</code></pre>"},
    {"<p>a<br>b</p><hr><p>c</p>", BASE, "<p>a<br>b</p><hr><p>c</p>"},
    {"<figure><img src=\"https://img.example/a.jpg\" alt=\"A cat\" width=\"640\" "
     "height=\"480\" title=\"t\"><figcaption>Cat</figcaption></figure>",
     BASE,
     "<figure><img src=\"https://img.example/a.jpg\" alt=\"A cat\" width=\"640\" "
     "height=\"480\" title=\"t\"><figcaption>Cat</figcaption></figure>"},
    {"<table><caption>C</caption><thead><tr><th colspan=\"2\">h</th></tr></thead><tbody><tr>"
     "<td rowspan=\"1\">a</td><td>b</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>",
     BASE,
     "<table><caption>C</caption><thead><tr><th colspan=\"2\">h</th></tr></thead><tbody><tr>"
     "<td rowspan=\"1\">a</td><td>b</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>"},
    {"<p><abbr title=\"HyperText\">HTML</abbr> <time datetime=\"2024-05-01\">May 1</time> "
     "<span>s</span></p><div>d</div>",
     BASE,
     "<p><abbr title=\"HyperText\">HTML</abbr> <time datetime=\"2024-05-01\">May 1</time> "
     "<span>s</span></p><div>d</div>"},
    {"<p><a href=\"https://ex.example/x?a=1&amp;b=2#f\" title=\"T\">link</a></p>", BASE,
     "<p><a href=\"https://ex.example/x?a=1&amp;b=2#f\" title=\"T\"" REL ">link</a></p>"},
    {"<p><a href=\"mailto:editor@example.org\">mail</a></p>", BASE,
     "<p><a href=\"mailto:editor@example.org\"" REL ">mail</a></p>"},
    /* a scheme in any case is written in lower case (found by fuzz_sanitize) */
    {"<p><a href=\"mAilTO:editor@example.org\">mail</a></p>", BASE,
     "<p><a href=\"mailto:editor@example.org\"" REL ">mail</a></p>"},
    {"<p><a href=\"HTTPS://ex.example/\">x</a></p>", BASE,
     "<p><a href=\"https://ex.example/\"" REL ">x</a></p>"},
    {"<p>5 &lt; 6 &amp; 7 &gt; 3, &quot;q&quot; caf&eacute; &#x2603; \xe2\x82\xac</p>", BASE,
     "<p>5 &lt; 6 &amp; 7 &gt; 3, \"q\" caf\xc3\xa9 \xe2\x98\x83 \xe2\x82\xac</p>"},
    /* attributes: unknown ones go, numbers stay numbers, rel is ours */
    {"<p class=\"c\" id=\"i\" lang=\"en\">x</p><img src=\"https://i.example/a\" width=\"100px\" "
     "height=\"12\"><a href=\"https://a.example/\" rel=\"me\" target=\"_blank\">a</a>",
     BASE,
     "<p>x</p><img src=\"https://i.example/a\" height=\"12\"><a href=\"https://a.example/\"" REL
     ">a</a>"},
    /* unknown elements unwrapped, dangerous ones dropped with their content */
    {"<article><section><p>kept</p></section></article><custom-el>c</custom-el>", BASE,
     "<p>kept</p>c"},
    {"<p>a<script>bad()</script>b<style>p{}</style>c</p>", BASE, "<p>abc</p>"},
    {"<p>x</p><!-- a comment --><p>y</p>", BASE, "<p>x</p><p>y</p>"},
    /* unclosed tags get closed */
    {"<p>unclosed <b>bold <i>both", BASE, "<p>unclosed <b>bold <i>both</i></b></p>"},
    {"<ul><li>one<li>two</ul>", BASE, "<ul><li>one</li><li>two</li></ul>"},
    /* a link without a usable href is only its text */
    {"<a href=\"javascript:x()\">text</a> <a name=\"anchor\">named</a>", BASE, "text named"},
    /* control characters and bad UTF-8 become U+FFFD */
    {"<p>a\x01"
     "b\xff"
     "c</p>",
     BASE,
     "<p>a\xef\xbf\xbd"
     "b\xef\xbf\xbd"
     "c</p>"},
    {"", BASE, ""},
    {"plain text", NULL, "plain text"},
    /* a <meta charset> does not switch the input's encoding */
    {"<meta charset=\"iso-8859-1\"><p>caf\xc3\xa9</p>", BASE, "<p>caf\xc3\xa9</p>"},
};

/* ---- relative URLs and images ---------------------------------------------------------- */

static const struct exact urls[] = {
    {"<a href=\"other.html\">x</a>", BASE,
     "<a href=\"https://example.org/blog/other.html\"" REL ">x</a>"},
    {"<a href=\"/root\">x</a>", BASE, "<a href=\"https://example.org/root\"" REL ">x</a>"},
    {"<a href=\"../up/\">x</a>", BASE, "<a href=\"https://example.org/up/\"" REL ">x</a>"},
    {"<a href=\"?page=2\">x</a>", BASE,
     "<a href=\"https://example.org/blog/post.html?page=2\"" REL ">x</a>"},
    {"<a href=\"#sec\">x</a>", BASE,
     "<a href=\"https://example.org/blog/post.html#sec\"" REL ">x</a>"},
    {"<a href=\"//cdn.example/x\">x</a>", BASE, "<a href=\"https://cdn.example/x\"" REL ">x</a>"},
    {"<a href=\"  https://ex.example/a b  \">x</a>", BASE,
     "<a href=\"https://ex.example/a%20b\"" REL ">x</a>"},
    {"<a href=\"HTTP://Ex.Example/A\">x</a>", BASE, "<a href=\"http://Ex.Example/A\"" REL ">x</a>"},
    {"<img src=\"pics/a.png\" alt=\"A\">", BASE,
     "<img src=\"https://example.org/blog/pics/a.png\" alt=\"A\">"},
    /* without a base, relative URLs have nowhere to point */
    {"<a href=\"other.html\">x</a><img src=\"a.png\" alt=\"A\">", NULL, "xA"},
    {"<a href=\"other.html\">x</a>", "", "x"},
    /* a base that is not http(s) is no base */
    {"<a href=\"other.html\">x</a>", "ftp://example.org/", "x"},
    /* images only over https: http, and relative against an http base, become their alt */
    {"<p><img src=\"http://ex.example/a.png\" alt=\"Alt text\"></p>", BASE, "<p>Alt text</p>"},
    {"<p><img src=\"a.png\" alt=\"rel\"></p>", "http://insecure.example/feed", "<p>rel</p>"},
    {"<p><img src=\"http://ex.example/a.png\">x</p>", BASE, "<p>x</p>"},
    {"<p><a href=\"a.html\">http base</a></p>", "http://insecure.example/feed",
     "<p><a href=\"http://insecure.example/a.html\"" REL ">http base</a></p>"},
};

static void run_exact(const struct exact *t, size_t n, const char *what)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char *got = sanitize(t[i].html, t[i].base);
		if (strcmp(got, t[i].want) != 0) {
			print_error("%s %zu: %s\n  got:  %s\n  want: %s\n", what, i, t[i].html, got,
			            t[i].want);
			bad++;
		}
		free(got);
	}
	assert_int_equal(bad, 0);
}

static void test_good_html(void **state)
{
	(void)state;
	run_exact(good, sizeof(good) / sizeof(good[0]), "good");
}

static void test_urls(void **state)
{
	(void)state;
	run_exact(urls, sizeof(urls) / sizeof(urls[0]), "url");
}

/* Inputs whose repair changes once elements go: the output must still be a fixed point. */
static void test_fixed_point(void **state)
{
	(void)state;
	static const char *const inputs[] = {
	    "<p>a<foo><div>b</div></foo>c</p>",
	    "<table><object></object> <tr><td>x</td></tr></table>",
	    "<ul><script></script> <li>x</li></ul>",
	    "<p><form><h1>h</h1></form></p>",
	    "<li><x-y><li>nested</li></x-y></li>",
	    "<b><p>para in bold</p></b>",
	    "<pre>\n\nleading</pre>",
	    "<a href=\"https://a/\"><div><a href=\"https://b/\">b</a></div></a>",
	    "<table><tr><td><table><tr><td>in</td></tr></table></td></tr></table>",
	    "  <p>  spaced  </p>  \n  <p> out </p>  ",
	    "<dl><dt>a<dd>b<dt>c</dl>",
	    "<p>&#32;<br>&#32;<i>x</i></p>",
	    "<h1><h2>x</h2></h1>",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		free(sanitize(inputs[i], BASE));
}

/* html5lib (strict) parses the good outputs as a fragment without a single error. */
static void test_html5lib(void **state)
{
	(void)state;
	char path[] = "/tmp/bl-sanitize-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		fprintf(f, "%s%c", good[i].want, 0);
	fclose(f);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	         "/usr/bin/python3 -c '\n"
	         "import sys, html5lib\n"
	         "bad = 0\n"
	         "for frag in open(sys.argv[1], \"rb\").read().split(b\"\\0\")[:-1]:\n"
	         "    p = html5lib.HTMLParser(strict=True)\n"
	         "    try:\n"
	         "        p.parseFragment(frag.decode())\n"
	         "    except Exception as e:\n"
	         "        print(\"html5lib:\", frag.decode(), e); bad += 1\n"
	         "sys.exit(1 if bad else 0)' %s",
	         path);
	int rc = system(cmd);
	unlink(path);
	assert_int_equal(rc, 0);
}

/* ---- limits --------------------------------------------------------------------------- */

static void test_limits(void **state)
{
	(void)state;
	struct bl_buf out;
	struct bl_diag d;
	bl_buf_init(&out, 0);
	/* nesting */
	size_t n = BL_SANITIZE_DEPTH_MAX + 10;
	char *deep = malloc(n * 5 + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(deep + i * 5, "<div>", 5);
	deep[n * 5] = 0;
	assert_int_equal(bl_html_sanitize(deep, strlen(deep), BASE, &out, &d), -BL_ELIMIT);
	assert_int_equal(out.len, 0);
	assert_int_equal(bl_html_to_text(deep, strlen(deep), &out), -BL_ELIMIT);
	free(deep);
	/* just under the depth limit works */
	n = BL_SANITIZE_DEPTH_MAX - 4;
	deep = malloc(n * 5 + 2);
	for (size_t i = 0; i < n; i++)
		memcpy(deep + i * 5, "<div>", 5);
	strcpy(deep + n * 5, "x");
	bl_buf_reset(&out);
	assert_int_equal(bl_html_sanitize(deep, strlen(deep), BASE, &out, &d), 0);
	free(deep);
	/* input size */
	size_t big = BL_SANITIZE_INPUT_MAX + 1;
	char *huge = malloc(big);
	memset(huge, 'a', big);
	bl_buf_reset(&out);
	assert_int_equal(bl_html_sanitize(huge, big, BASE, &out, &d), -BL_ELIMIT);
	/* output size: text that expands past the output limit */
	size_t k = BL_SANITIZE_OUTPUT_MAX / 5 + 10;
	for (size_t i = 0; i < k; i++)
		huge[i] = '&';
	assert_int_equal(bl_html_sanitize(huge, k, BASE, &out, &d), -BL_ELIMIT);
	assert_int_equal(out.len, 0);
	free(huge);
	/* the caller's buffer limit */
	struct bl_buf small;
	bl_buf_init(&small, 8);
	const char *p = "<p>more than eight bytes</p>";
	assert_int_equal(bl_html_sanitize(p, strlen(p), BASE, &small, &d), -BL_ELIMIT);
	assert_int_equal(small.len, 0);
	bl_buf_finish(&small);
	bl_buf_finish(&out);
}

/* ---- plain text ----------------------------------------------------------------------- */

static const struct exact texts[] = {
    {"<p>First  paragraph\nwrapped.</p><p>Second.</p>", NULL,
     "First paragraph wrapped.\n\nSecond.\n"},
    {"<h1>Title</h1><p>Body</p>", NULL, "Title\n\nBody\n"},
    {"<ul><li>one</li><li>two<ul><li>deep</li></ul></li></ul><p>after</p>", NULL,
     "- one\n- two\n  - deep\n\nafter\n"},
    {"<ol start=\"9\"><li>nine</li><li>ten</li></ol>", NULL, "9. nine\n10. ten\n"},
    {"<p>see <a href=\"https://ex.example/a\">the article</a>.</p>", NULL,
     "see the article <https://ex.example/a>.\n"},
    {"<p><a href=\"https://ex.example/\">https://ex.example/</a></p>", NULL,
     "https://ex.example/\n"},
    {"<p><a href=\"mailto:a@example.org\">a@example.org</a></p>", NULL, "a@example.org\n"},
    {"<p><img src=\"https://i.example/a.png\" alt=\"A chart\"> text</p>", NULL, "[A chart] text\n"},
    {"<p><img src=\"https://i.example/a.png\" alt=\"pic\">click</p>", NULL, "[pic]click\n"},
    {"<blockquote><p>one</p><p>two</p></blockquote><p>out</p>", NULL, "> one\n>\n> two\n\nout\n"},
    {"<p>line<br>break</p>", NULL, "line\nbreak\n"},
    {"<pre>\n  keep   this\n    indented</pre>", NULL, "  keep   this\n    indented\n"},
    {"<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>", NULL,
     "a | b\n1 | 2\n"},
    {"<p>a</p><hr><p>b</p>", NULL, "a\n\n----\n\nb\n"},
    {"<p>x<script>hidden()</script><style>p{}</style>y</p>", NULL, "xy\n"},
    {"5 &lt; 6 &amp;&amp; caf&eacute;", NULL, "5 < 6 && caf\xc3\xa9\n"},
    {"", NULL, ""},
};

static void test_to_text(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct bl_buf out;
		bl_buf_init(&out, 0);
		int rc = bl_html_to_text(texts[i].html, strlen(texts[i].html), &out);
		if (rc != 0 || strcmp(bl_buf_str(&out), texts[i].want) != 0) {
			print_error("text %zu: %s\n  got:  [%s] (rc %d)\n  want: [%s]\n", i,
			            texts[i].html, bl_buf_str(&out), rc, texts[i].want);
			bad++;
		}
		bl_buf_finish(&out);
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checker),     cmocka_unit_test(test_xss),
	    cmocka_unit_test(test_good_html),   cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_fixed_point), cmocka_unit_test(test_html5lib),
	    cmocka_unit_test(test_limits),      cmocka_unit_test(test_to_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
