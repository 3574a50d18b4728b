#!/usr/bin/python3
"""Small message helpers for the end-to-end tests (tests/smtp/*.sh).

  msgtool.py find DIR RCPT       the NNNNNN.eml capture.py stored for envelope
                                 recipient RCPT (letter case ignored); exit 1
                                 unless exactly one
  msgtool.py part FILE text|html that part, decoded (the HTML unescaped), LF
                                 line ends
  msgtool.py header FILE NAME    the header's raw value, unfolded (exit 1 if absent)
  msgtool.py same A B            A and B are the same octets apart from the Date
                                 header and the trace headers a relay prepends
                                 (Received, Return-Path); prints the first
                                 difference and exits 1 otherwise
"""
import email
import email.policy
import html
import json
import os
import re
import sys


def fields(raw):
    """Header fields as (name, raw octets incl. CRLF) and the body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    out = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += line + b"\r\n"
        else:
            out.append([line.split(b":", 1)[0].strip().lower(), line + b"\r\n"])
    return out, sep + body


def cmd_find(d, rcpt):
    hits = []
    for n in sorted(os.listdir(d)):
        if n.endswith(".json"):
            with open(os.path.join(d, n)) as f:
                if [r.lower() for r in json.load(f)["rcpt_tos"]] == [rcpt.lower()]:
                    hits.append(os.path.join(d, n[:-5] + ".eml"))
    if len(hits) != 1:
        print(f"{len(hits)} messages for {rcpt}", file=sys.stderr)
        return 1
    print(hits[0])
    return 0


def cmd_part(path, kind):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/" + ("plain" if kind == "text" else "html"):
            s = part.get_content().replace("\r\n", "\n")
            sys.stdout.write(html.unescape(s) if kind == "html" else s)
            return 0
    return 1


def cmd_header(path, name):
    with open(path, "rb") as f:
        raw = f.read()
    for n, v in fields(raw)[0]:
        if n == name.lower().encode():
            v = v.split(b":", 1)[1]
            print(re.sub(rb"\r\n[ \t]", b" ", v).strip().decode("ascii", "replace"))
            return 0
    return 1


def cmd_same(a, b):
    def strip(path):
        with open(path, "rb") as f:
            head, body = fields(f.read())
        return [v for n, v in head if n not in (b"date", b"received", b"return-path")], body

    (ha, ba), (hb, bb) = strip(a), strip(b)
    for i in range(max(len(ha), len(hb))):
        x = ha[i] if i < len(ha) else b"(none)"
        y = hb[i] if i < len(hb) else b"(none)"
        if x != y:
            print(f"header {i + 1} differs:\n  {x!r}\n  {y!r}")
            return 1
    if ba != bb:
        k = next((i for i in range(min(len(ba), len(bb))) if ba[i] != bb[i]), min(len(ba), len(bb)))
        print(f"bodies differ at octet {k} ({len(ba)} and {len(bb)} octets):\n"
              f"  {ba[max(0, k - 40):k + 40]!r}\n  {bb[max(0, k - 40):k + 40]!r}")
        return 1
    return 0


def main():
    cmds = {"find": (cmd_find, 2), "part": (cmd_part, 2), "header": (cmd_header, 2),
            "same": (cmd_same, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    fn, _ = cmds[sys.argv[1]]
    return fn(*sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
