#!/usr/bin/python3
"""Parse HTML pages with html5lib in strict mode (any parse error is a
problem) and describe each one as JSON for tests/unit/test_pages.c.

    check_html.py [--admin] FILE...

Prints one JSON object: {FILE: summary}. A summary holds "problems" (parse
errors and breaches of the page rules below; empty when all is well),
"lang", "title", "text" (the body's text, whitespace collapsed), "headings"
([level, text]), "links" (hrefs), "stylesheets", "alternates" ([type, href])
and "forms" ([{method, action, controls}] with each control's tag,
attributes, label text and, for a select, the selected value).

Rules: <html lang> set; no <script>, <style>, style attribute or on*
attribute (no JavaScript; the CSP allows only our stylesheet); no
javascript: URL; ids unique; every input (but hidden and buttons), select
and textarea labelled by <label for> or a surrounding <label>, the label
not empty; exactly one <h1>, the first heading, and no heading more than
one level below the one before; every form method="post" with an action.
With --admin (the admin UI's pages): a <script> with a same-origin src
and no content is allowed (admin.js; the CSP allows only that), and a
form may be method="get" (search and filter forms).
Run with /usr/bin/python3 (Debian's python3-html5lib).
"""
import json
import re
import sys

import html5lib


def text_of(el):
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


ADMIN = False


def check(path):
    raw = open(path, "rb").read()
    out = {"problems": [], "lang": None, "title": None, "text": "", "headings": [],
           "links": [], "stylesheets": [], "alternates": [], "forms": []}
    problems = out["problems"]
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        doc = parser.parse(raw, transport_encoding="utf-8")
    except html5lib.html5parser.ParseError as e:
        where = parser.errors[-1][0] if parser.errors else "?"
        problems.append("parse error at %s: %s" % (where, e))
        # Parse again leniently so the rest can still be described.
        doc = html5lib.HTMLParser(namespaceHTMLElements=False).parse(raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append("not UTF-8: %s" % e)

    out["lang"] = doc.get("lang")
    if not out["lang"]:
        problems.append("<html> has no lang")
    title = doc.find("head/title")
    out["title"] = text_of(title) if title is not None else None
    body = doc.find("body")
    out["text"] = text_of(body) if body is not None else ""

    parent = {}
    for p in doc.iter():
        for c in p:
            parent[c] = p
    ids = {}
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in ("script", "style"):
            src = el.get("src") or ""
            if not (ADMIN and el.tag == "script" and src.startswith("/") and
                    not src.startswith("//") and not (el.text or "").strip()):
                problems.append("<%s> element" % el.tag)
        for k, v in el.attrib.items():
            if k.lower().startswith("on"):
                problems.append("event handler attribute %s on <%s>" % (k, el.tag))
            if k.lower() == "style":
                problems.append("style attribute on <%s>" % el.tag)
            if k.lower() in ("href", "src", "action") and \
                    v.strip().lower().startswith("javascript:"):
                problems.append("javascript: URL in <%s %s>" % (el.tag, k))
        if el.get("id") is not None:
            if el.get("id") in ids:
                problems.append("duplicate id %r" % el.get("id"))
            ids[el.get("id")] = el

    labels_for = {}
    for lab in doc.iter("label"):
        if lab.get("for") is not None:
            labels_for.setdefault(lab.get("for"), []).append(lab)

    def label_of(ctl):
        texts = [text_of(l) for l in labels_for.get(ctl.get("id"), [])] \
            if ctl.get("id") is not None else []
        p = parent.get(ctl)
        while p is not None:
            if p.tag == "label":
                texts.append(text_of(p))
            p = parent.get(p)
        return texts

    levels = []
    for el in doc.iter():
        if isinstance(el.tag, str) and re.fullmatch(r"h[1-6]", el.tag):
            levels.append(int(el.tag[1]))
            out["headings"].append([int(el.tag[1]), text_of(el)])
    if levels.count(1) != 1:
        problems.append("%d <h1> elements, want 1" % levels.count(1))
    if levels and levels[0] != 1:
        problems.append("the first heading is h%d" % levels[0])
    for a, b in zip(levels, levels[1:]):
        if b > a + 1:
            problems.append("heading h%d after h%d skips a level" % (b, a))

    for a in doc.iter("a"):
        out["links"].append(a.get("href"))
    for link in doc.iter("link"):
        if link.get("rel") == "stylesheet":
            out["stylesheets"].append(link.get("href"))
        if link.get("rel") == "alternate":
            out["alternates"].append([link.get("type"), link.get("href")])

    for ctl in doc.iter():
        if ctl.tag not in ("input", "select", "textarea"):
            continue
        if ctl.tag == "input" and ctl.get("type", "text") in ("hidden", "submit", "button",
                                                             "reset", "image"):
            continue
        texts = label_of(ctl)
        if not texts:
            problems.append("<%s name=%r> has no label" % (ctl.tag, ctl.get("name")))
        elif not any(texts):
            problems.append("<%s name=%r> has an empty label" % (ctl.tag, ctl.get("name")))

    for form in doc.iter("form"):
        f = {"method": form.get("method"), "action": form.get("action"), "controls": []}
        if (form.get("method") or "").lower() != "post" and \
                not (ADMIN and (form.get("method") or "").lower() == "get"):
            problems.append("a form with method %r" % form.get("method"))
        if not form.get("action"):
            problems.append("a form without an action")
        for ctl in form.iter():
            if ctl.tag not in ("input", "select", "textarea", "button"):
                continue
            c = {"tag": ctl.tag, "attrs": dict(ctl.attrib), "label": " ".join(label_of(ctl))}
            if ctl.tag == "select":
                sel = [o.get("value") for o in ctl.iter("option") if o.get("selected") is not None]
                c["selected"] = sel
                c["options"] = [o.get("value") for o in ctl.iter("option")]
            anc, hidden = parent.get(ctl), False
            while anc is not None:
                if anc.get("aria-hidden") == "true":
                    hidden = anc.get("class")
                anc = parent.get(anc)
            c["hidden_in"] = hidden
            if ctl.tag == "button":
                c["text"] = text_of(ctl)
            f["controls"].append(c)
        out["forms"].append(f)
    return out


def main():
    global ADMIN
    result = {}
    args = sys.argv[1:]
    if args and args[0] == "--admin":
        ADMIN = True
        args = args[1:]
    for path in args:
        result[path] = check(path)
    json.dump(result, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
