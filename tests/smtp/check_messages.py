#!/usr/bin/python3
"""Strict checks of the messages a capturing relay stored (tests/smtp/capture.py).

usage: check_messages.py DIR SUBSCRIBERS.csv SUBJECT

DIR holds one NNNNNN.eml (the DATA bytes, byte-exact) and NNNNNN.json
({"mail_from", "rcpt_tos"}) per message. SUBSCRIBERS.csv has columns
email,name: the expected recipients (email as SMTP sees it) and display
names. Prints one line per problem and a summary; exits 1 if any.
Checks: one envelope recipient each, every expected recipient exactly once;
CRLF only, no line over 998 octets; the message parses under
email.policy.strict; From, To, Subject, Date, Message-ID, MIME-Version,
List-Id, List-Unsubscribe (https and mailto), List-Unsubscribe-Post,
Precedence: bulk, X-Bulletin-Post; RFC 2047 encoded words at most 75
characters, each valid UTF-8, and the decoded Subject and To name equal to
the expected text; Message-ID <bulletin-POST-SUB-MAC@...> unique and tied to
the VERP envelope sender bounces+POST-SUB-MAC@...; multipart/alternative with
text/plain and text/html in UTF-8; links personal (each message's
unsubscribe URL unique, the name in the text part).
"""
import csv
import email
import email.header
import email.policy
import json
import os
import re
import sys

ENCODED_WORD = re.compile(rb"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    d, subs_csv, subject = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(subs_csv, newline="", encoding="utf-8") as f:
        want = {r["email"].lower(): r["name"] for r in csv.DictReader(f)}
    problems = []
    seen_rcpt, seen_mid, seen_unsub = {}, set(), set()
    files = sorted(n for n in os.listdir(d) if n.endswith(".eml"))
    for n in files:
        p = lambda msg: problems.append(f"{n}: {msg}")
        raw = open(os.path.join(d, n), "rb").read()
        env = json.load(open(os.path.join(d, n[:-4] + ".json")))
        rcpts = env["rcpt_tos"]
        if len(rcpts) != 1:
            p(f"{len(rcpts)} envelope recipients, want 1")
            continue
        rcpt = rcpts[0].lower()
        seen_rcpt[rcpt] = seen_rcpt.get(rcpt, 0) + 1
        # Line ends and lengths.
        if re.search(rb"(?<!\r)\n", raw) or re.search(rb"\r(?!\n)", raw):
            p("bare LF or CR")
        for i, line in enumerate(raw.split(b"\r\n")):
            if len(line) > 998:
                p(f"line {i + 1} is {len(line)} octets")
        # Encoded words in the header block.
        head = raw.split(b"\r\n\r\n", 1)[0]
        for m in ENCODED_WORD.finditer(head):
            if len(m.group(0)) > 75:
                p(f"encoded word of {len(m.group(0))} characters")
            try:
                for part, cs in email.header.decode_header(m.group(0).decode("ascii")):
                    (part if isinstance(part, bytes) else part.encode()).decode(cs or "ascii")
            except Exception as e:  # noqa: BLE001
                p(f"encoded word {m.group(0)[:40]!r} does not decode: {e}")
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.strict)
        except Exception as e:  # noqa: BLE001
            p(f"strict parse failed: {e}")
            continue
        for h in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id",
                  "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence",
                  "X-Bulletin-Post"):
            if len(msg.get_all(h, [])) != 1:
                p(f"{len(msg.get_all(h, []))} {h} headers, want 1")
        if msg.defects:
            p(f"defects: {msg.defects}")
        if str(msg.get("Subject", "")) != subject:
            p(f"Subject {str(msg.get('Subject'))!r}, want {subject!r}")
        to = msg.get("To")
        if to is not None:
            addrs = to.addresses
            if len(addrs) != 1 or addrs[0].addr_spec.lower() != rcpt:
                p(f"To {str(to)!r} is not the envelope recipient {rcpt}")
            elif rcpt in want and addrs[0].display_name != want[rcpt]:
                p(f"To name {addrs[0].display_name!r}, want {want[rcpt]!r}")
        if msg.get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click":
            p("List-Unsubscribe-Post is not List-Unsubscribe=One-Click")
        if str(msg.get("Precedence", "")).lower() != "bulk":
            p("Precedence is not bulk")
        lu = str(msg.get("List-Unsubscribe", ""))
        urls = re.findall(r"<([^>]+)>", lu)
        https = [u for u in urls if u.startswith("https://") or u.startswith("http://")]
        mailto = [u for u in urls if u.startswith("mailto:")]
        if len(https) != 1 or len(mailto) != 1:
            p(f"List-Unsubscribe {lu!r} lacks an http(s) URL or a mailto")
        elif https[0] in seen_unsub:
            p("unsubscribe URL shared with another message")
        else:
            seen_unsub.add(https[0])
        mid = str(msg.get("Message-ID", ""))
        m = re.fullmatch(r"<bulletin-(\d+-\d+-[0-9a-f]{16})@[^>]+>", mid)
        if not m:
            p(f"Message-ID {mid!r} is not <bulletin-POST-SUB-MAC@...>")
        else:
            if mid in seen_mid:
                p(f"Message-ID {mid} repeated")
            seen_mid.add(mid)
            if env["mail_from"] != "bounces+" + m.group(1) + "@" + env["mail_from"].split("@")[-1]:
                p(f"envelope sender {env['mail_from']!r} does not match the Message-ID")
        if msg.get_content_type() != "multipart/alternative":
            p(f"top type {msg.get_content_type()}, want multipart/alternative")
            continue
        parts = {part.get_content_type(): part for part in msg.iter_parts()}
        if set(parts) != {"text/plain", "text/html"}:
            p(f"parts {sorted(parts)}, want text/plain and text/html")
            continue
        for t, part in parts.items():
            if (part.get_content_charset() or "").lower() != "utf-8":
                p(f"{t} charset {part.get_content_charset()}, want utf-8")
        text = parts["text/plain"].get_content()
        if rcpt in want and want[rcpt] and want[rcpt] not in text:
            p(f"the text part does not name {want[rcpt]!r}")
        if https and https[0] not in text:
            p("the text part lacks the subscriber's unsubscribe URL")
    for r, k in seen_rcpt.items():
        if k > 1:
            problems.append(f"{r}: {k} messages")
        if r not in want:
            problems.append(f"{r}: not an expected recipient")
    for r in want:
        if r not in seen_rcpt:
            problems.append(f"{r}: no message")
    for line in problems[:200]:
        print(line)
    print(f"{len(files)} messages, {len(seen_rcpt)} recipients, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
