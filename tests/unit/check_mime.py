#!/usr/bin/python3
"""Parse one message built by bl_message_build with Python's email package
under policy=strict (any defect raises) and compare it with what went in.

    check_mime.py MESSAGE_FILE EXPECT_JSON

EXPECT_JSON holds from_name, from_addr, to_name, to_addr, subject,
message_id, date (seconds), text, html (or null) and headers ([name, value]
pairs in order). Prints nothing and exits 0 when all agree; otherwise one
line per difference and exit 1. Run by tests/unit/test_mime.c.
"""
import email
import email.policy
import email.utils
import json
import sys


def raw_words(raw, field):
    """How many encoded words the raw header FIELD holds."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = head.split("\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(field + ":"):
            value = line
            for cont in lines[i + 1:]:
                if not cont[:1] in (" ", "\t"):
                    break
                value += cont
            return value.count("=?")
    return 0


def main():
    raw = open(sys.argv[1], "rb").read()
    want = json.load(open(sys.argv[2], encoding="utf-8"))
    problems = []

    def expect(what, got, wanted):
        if got != wanted:
            problems.append("%s: got %r, want %r" % (what, got, wanted))

    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    for field, name_key, addr_key in (("from", "from_name", "from_addr"),
                                      ("to", "to_name", "to_addr")):
        addresses = msg[field].addresses
        expect(field + " count", len(addresses), 1)
        if addresses:
            name = addresses[0].display_name
            # CPython joins the encoded words of a phrase with a space (its own
            # generator's output does not read back either); RFC 2047 6.2 says
            # the white space between adjacent encoded words is ignored.
            if raw_words(raw, field) > 1:
                name, wanted = name.replace(" ", ""), want[name_key].replace(" ", "")
            else:
                wanted = want[name_key]
            expect(field + " display name", name, wanted)
            expect(field + " address", addresses[0].addr_spec, want[addr_key])
    expect("subject", str(msg["subject"]), want["subject"])
    expect("message-id", str(msg["message-id"]), "<%s>" % want["message_id"])
    expect("mime-version", str(msg["mime-version"]), "1.0")
    date = msg["date"].datetime
    expect("date", int(date.timestamp()), want["date"])
    expect("date zone", date.utcoffset().total_seconds(), 0)
    for name, value in want["headers"]:
        expect(name, str(msg[name]), value)
    order = ["from", "to", "subject", "date", "message-id", "mime-version"] + \
        [n.lower() for n, _ in want["headers"]] + ["content-type"]
    expect("header order", [k.lower() for k in msg.keys()][:len(order)], order)

    def norm(s):
        return s.replace("\r\n", "\n")

    if want["html"] is None:
        expect("content type", msg.get_content_type(), "text/plain")
    else:
        expect("content type", msg.get_content_type(), "multipart/alternative")
        parts = list(msg.iter_parts())
        expect("part types", [p.get_content_type() for p in parts], ["text/plain", "text/html"])
        expect("html", norm(msg.get_body(("html",)).get_content()), norm(want["html"]))
    plain = msg.get_body(("plain",))
    expect("charset", plain.get_content_charset(), "utf-8")
    expect("text", norm(plain.get_content()), norm(want["text"]))
    for part in msg.walk():
        if part.defects:
            problems.append("defects: %r" % part.defects)

    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
