#!/usr/bin/python3
"""Digest messages of a maildir for tests/cli/digest.sh.

usage: digest.py DIR summary     one line per digest message: EMAIL<TAB>MODE<TAB>SUBJECTS
                                 (the posts it lists, in order, joined by '|'), sorted
       digest.py DIR count       one line per recipient: EMAIL<TAB>DIGESTS RECEIVED, sorted
       digest.py DIR ids         one line per recipient: EMAIL<TAB>distinct Message-IDs
       digest.py DIR text EMAIL  the text part of EMAIL's digests
A digest is a message with an X-Bulletin-Digest header; its posts are the
"* SUBJECT (LIST)" lines of its text part, each checked against the HTML
part (the same subjects, in the same order).
"""
import email
import email.policy
import os
import re
import sys
from html.parser import HTMLParser


class Titles(HTMLParser):
    def __init__(self):
        super().__init__()
        self.in_h2 = False
        self.titles = []

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self.in_h2 = True
            self.titles.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self.in_h2 = False

    def handle_data(self, data):
        if self.in_h2:
            self.titles[-1] += data


def digests(d):
    for sub in ("new", "cur"):
        p = os.path.join(d, sub)
        if not os.path.isdir(p):
            continue
        for name in os.listdir(p):
            with open(os.path.join(p, name), "rb") as f:
                m = email.message_from_binary_file(f, policy=email.policy.default)
            if m["X-Bulletin-Digest"] is None:
                continue
            text = m.get_body(("plain",)).get_content()
            html = m.get_body(("html",)).get_content()
            subjects = re.findall(r"^\* (.*) \([^()]*\)$", text, re.M)
            t = Titles()
            t.feed(html)
            if [s.strip() for s in t.titles] != subjects:
                sys.exit("%s: the HTML part lists %r, the text part %r" % (name, t.titles, subjects))
            to = m["To"].addresses[0].addr_spec
            yield to, str(m["X-Bulletin-Digest"]), subjects, str(m["Message-ID"]), text


def main():
    d, what = sys.argv[1], sys.argv[2]
    rows = list(digests(d))
    if what == "summary":
        for line in sorted("%s\t%s\t%s" % (to, mode, "|".join(s)) for to, mode, s, _, _ in rows):
            print(line)
    elif what == "count":
        n = {}
        for to, _, _, _, _ in rows:
            n[to] = n.get(to, 0) + 1
        for to in sorted(n):
            print("%s\t%d" % (to, n[to]))
    elif what == "ids":
        ids = {}
        for to, _, _, mid, _ in rows:
            ids.setdefault(to, set()).add(mid)
        for to in sorted(ids):
            print("%s\t%d" % (to, len(ids[to])))
    elif what == "text":
        for to, _, _, _, text in rows:
            if to == sys.argv[3]:
                print(text)
    else:
        sys.exit(__doc__)


main()
