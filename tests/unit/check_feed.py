#!/usr/bin/python3
"""Check one feed written by src/feed/writer.c against what went in.

    check_feed.py atom|json FEED_FILE EXPECT_JSON

EXPECT_JSON holds title, home_url, atom_url, json_url, id, author, lang,
updated (seconds) and entries [{id, url, title, html, published, updated}].

Atom: parsed with python3-feedparser (bozo must be 0: well-formed XML, no
encoding trouble) with HTML sanitising off, and walked with ElementTree for
RFC 4287's rules (one id, title, updated per feed and entry; an author; a
rel="self" link; content type="html"). JSON: JSON Feed 1.1's rules
(https://jsonfeed.org/version/1.1): version, title, items with string ids;
dates as RFC 3339. feedparser 6.0 (Debian 12) does not read JSON Feed, so
the JSON side is checked here directly. Then every value is compared with
EXPECT_JSON. Prints one line per problem and exits 1 if there are any.
Run with /usr/bin/python3 (Debian's python3-feedparser).
"""
import calendar
import datetime
import json
import re
import sys
import xml.etree.ElementTree as ET

import feedparser

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def seconds(text):
    if not text or not RFC3339.match(text):
        return None
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def check_atom(raw, want, problems):
    def expect(what, got, wanted):
        if got != wanted:
            problems.append("%s: got %r, want %r" % (what, got, wanted))

    d = feedparser.parse(raw, sanitize_html=False, resolve_relative_uris=False)
    if d.bozo:
        problems.append("feedparser: bozo: %r" % d.bozo_exception)
        return
    expect("version", d.version, "atom10")
    expect("feed title", d.feed.get("title"), want["title"])
    expect("feed id", d.feed.get("id"), want["id"])
    expect("feed link", d.feed.get("link"), want["home_url"])
    expect("feed updated", calendar.timegm(d.feed.updated_parsed)
           if d.feed.get("updated_parsed") else None, want["updated"])
    expect("feed author", d.feed.get("author"), want["author"])
    expect("feed language", d.feed.get("language"), want["lang"])
    selfs = [l.href for l in d.feed.get("links", []) if l.rel == "self"]
    expect("rel=self", selfs, [want["atom_url"]])
    expect("entries", len(d.entries), len(want["entries"]))
    for i, (e, w) in enumerate(zip(d.entries, want["entries"])):
        expect("entry %d id" % i, e.get("id"), w["id"])
        expect("entry %d title" % i, e.get("title"), w["title"])
        expect("entry %d link" % i, e.get("link"), w["url"])
        expect("entry %d published" % i, calendar.timegm(e.published_parsed)
               if e.get("published_parsed") else None, w["published"])
        expect("entry %d updated" % i, calendar.timegm(e.updated_parsed)
               if e.get("updated_parsed") else None, w["updated"])
        content = e.get("content") or [{}]
        expect("entry %d content type" % i, content[0].get("type"), "text/html")
        # feedparser strips the content's leading and trailing blanks.
        expect("entry %d content" % i, content[0].get("value"), w["html"].strip())

    # RFC 4287 by hand: feedparser does not insist on the required elements.
    root = ET.fromstring(raw)
    expect("root", root.tag, ATOM + "feed")
    for name in ("id", "title", "updated"):
        expect("feed <%s> count" % name, len(root.findall(ATOM + name)), 1)
    expect("feed <author><name>", len(root.findall(ATOM + "author/" + ATOM + "name")), 1)
    for i, entry in enumerate(root.findall(ATOM + "entry")):
        for name in ("id", "title", "updated", "published", "content"):
            expect("entry %d <%s> count" % (i, name), len(entry.findall(ATOM + name)), 1)
        alts = [l for l in entry.findall(ATOM + "link") if l.get("rel", "alternate") == "alternate"]
        expect("entry %d alternate links" % i, len(alts), 1)
        for name in ("updated", "published"):
            el = entry.find(ATOM + name)
            if el is not None and not RFC3339.match(el.text or ""):
                problems.append("entry %d <%s> %r is not RFC 3339" % (i, name, el.text))
        el = entry.find(ATOM + "id")
        if el is not None and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", el.text or ""):
            problems.append("entry %d id %r is not an IRI" % (i, el.text))


def check_json(raw, want, problems):
    def expect(what, got, wanted):
        if got != wanted:
            problems.append("%s: got %r, want %r" % (what, got, wanted))

    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        problems.append("not JSON: %s" % e)
        return
    expect("version", doc.get("version"), "https://jsonfeed.org/version/1.1")
    expect("title", doc.get("title"), want["title"])
    expect("home_page_url", doc.get("home_page_url"), want["home_url"])
    expect("feed_url", doc.get("feed_url"), want["json_url"])
    expect("language", doc.get("language"), want["lang"])
    expect("authors", doc.get("authors"), [{"name": want["author"]}])
    items = doc.get("items")
    if not isinstance(items, list):
        problems.append("items is not an array")
        return
    expect("items", len(items), len(want["entries"]))
    for i, (it, w) in enumerate(zip(items, want["entries"])):
        if not isinstance(it.get("id"), str):
            problems.append("item %d: id is not a string" % i)
        if "content_html" not in it and "content_text" not in it:
            problems.append("item %d: no content" % i)
        expect("item %d id" % i, it.get("id"), w["id"])
        expect("item %d url" % i, it.get("url"), w["url"])
        expect("item %d title" % i, it.get("title"), w["title"])
        expect("item %d content_html" % i, it.get("content_html"), w["html"])
        expect("item %d date_published" % i, seconds(it.get("date_published")), w["published"])
        expect("item %d date_modified" % i, seconds(it.get("date_modified")), w["updated"])


def main():
    kind, path, expect_path = sys.argv[1:4]
    raw = open(path, "rb").read()
    want = json.load(open(expect_path, encoding="utf-8"))
    problems = []
    (check_atom if kind == "atom" else check_json)(raw, want, problems)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
