#!/usr/bin/python3
"""Strict checks of the messages a capturing relay stored (tests/smtp/capture.py).

usage: check_messages.py [options] DIR SUBSCRIBERS.csv SUBJECT

DIR holds one NNNNNN.eml (the DATA bytes, byte-exact) and NNNNNN.json
({"mail_from", "rcpt_tos"}) per message. SUBSCRIBERS.csv has columns
email,name and optionally text: the expected recipients (email exactly as
SMTP sees it: the domain lower-case and in A-labels, the local part as
typed), their display names, and a string the text part must contain
(several separated by "|"). Prints one line per problem and a summary;
exits 1 if any.

Checks, per message:
- one envelope recipient, equal to an expected one (exactly, letter case
  included); every expected recipient gets exactly one message;
- CRLF only, no line over 998 octets, 7-bit only (UTF-8 travels in RFC 2047
  words and quoted-printable);
- it parses under email.policy.strict, no message or header defects;
- exactly one From, To, Subject, Date, Message-ID, MIME-Version, List-Id,
  List-Unsubscribe, List-Unsubscribe-Post, Precedence, X-Bulletin-Post; no
  header bulletin does not write except the trace headers a relay prepends
  (Received, Return-Path);
- RFC 2047: every encoded word is UTF-8, at most 75 characters, its B or Q
  text well-formed (Q in a From/To phrase limited to the characters of RFC
  2047 section 5 (3)) and decodes to whole characters by itself; a header
  line holding an encoded word is at most 76 characters;
- the decoded Subject equals SUBJECT, the To address is the envelope
  recipient and its display name the expected name (decoded as RFC 2047
  6.2 says, which Python's own parser does not do in a phrase); Date parses;
- Message-ID <bulletin-POST-SUB-MAC.CREATED@...> unique and tied to the VERP
  envelope sender bounces+POST-SUB-MAC@...; X-Bulletin-Post is POST;
- List-Unsubscribe: one http(s) URL (unique to the message) and one mailto;
  List-Unsubscribe-Post: List-Unsubscribe=One-Click; Precedence: bulk;
- multipart/alternative of exactly one text/plain and one text/html, both
  UTF-8; the name in both (the HTML unescaped), the unsubscribe URL in the
  text part, the expected text in the text part (white space runs compared
  as one space: the text part is wrapped).
Options tie the messages to the installation:
  --from "Name <addr>"   the From header
  --post ID              the post id (X-Bulletin-Post, Message-ID, VERP)
  --bounce-domain D      the domain of the envelope sender and the mailto
  --msgid-domain D       the domain of the Message-ID (list_id_domain)
  --public-url URL       the unsubscribe URL is URL/unsubscribe/TOKEN
"""
import argparse
import base64
import binascii
import csv
import email
import email.header
import email.policy
import email.utils
import html
import json
import os
import re
import sys

ENCODED_WORD = re.compile(rb"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")
# RFC 2047 5 (3): Q text inside a phrase.
Q_PHRASE = re.compile(rb"(?:=[0-9A-F]{2}|[!*+\-/0-9A-Za-z_])*")
# RFC 2047 4.2: Q text elsewhere (no space, "?", or a bare "=").
Q_TEXT = re.compile(rb"(?:=[0-9A-F]{2}|[\x21-\x3c\x3e\x40-\x7e])*")
B_TEXT = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
# The headers bulletin writes (each once), and those a relay may prepend.
BULLETIN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id",
                    "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence",
                    "X-Bulletin-Post", "Content-Type")
TRACE_HEADERS = ("Received", "Return-Path")
PHRASE_HEADERS = (b"from", b"to")


def header_fields(head):
    """The raw header block -> [(name, [physical lines])]."""
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line)
        else:
            fields.append((line.split(b":", 1)[0].strip(), [line]))
    return fields


def check_encoded_words(name, lines, p):
    phrase = name.lower() in PHRASE_HEADERS
    for line in lines:
        words = list(ENCODED_WORD.finditer(line))
        if words and len(line) > 76:
            p(f"{name.decode()}: a line with an encoded word is {len(line)} characters (max 76)")
        for m in words:
            word, cs, enc, text = m.group(0), m.group(1), m.group(2).upper(), m.group(3)
            show = word[:40]
            if len(word) > 75:
                p(f"{name.decode()}: encoded word of {len(word)} characters (max 75)")
            if cs.lower().split(b"*")[0] != b"utf-8":
                p(f"{name.decode()}: encoded word {show!r} in charset {cs!r}, want UTF-8")
            if enc == b"B":
                if not B_TEXT.fullmatch(text) or len(text) % 4:
                    p(f"{name.decode()}: encoded word {show!r}: malformed base64")
                    continue
                try:
                    octets = base64.b64decode(text, validate=True)
                except binascii.Error as e:
                    p(f"{name.decode()}: encoded word {show!r}: {e}")
                    continue
            else:
                if not (Q_PHRASE if phrase else Q_TEXT).fullmatch(text):
                    p(f"{name.decode()}: encoded word {show!r}: characters Q encoding "
                      f"does not allow {'in a phrase' if phrase else 'here'}")
                octets = re.sub(rb"=([0-9A-Fa-f]{2})", lambda x: bytes([int(x.group(1), 16)]),
                                text.replace(b"_", b" "))
            try:
                octets.decode("utf-8")
            except UnicodeDecodeError as e:
                p(f"{name.decode()}: encoded word {show!r} is not whole UTF-8 characters: {e}")


def display_name(field, raw_fields):
    """The To display name, RFC 2047 6.2: whitespace between adjacent encoded
    words is ignored. Python's header parser drops it in unstructured fields
    but keeps it in a phrase, so a phrase holding encoded words is decoded
    from the raw header with email.header instead."""
    raw = next((b"".join(l) for n, l in raw_fields if n.lower() == b"to"), b"")
    value = raw.split(b":", 1)[1].decode("ascii", "replace")
    phrase = value.rpartition("<")[0].strip()
    if ENCODED_WORD.search(phrase.encode()):
        return str(email.header.make_header(email.header.decode_header(phrase)))
    return field.addresses[0].display_name


def flat(s):
    """@s with every run of white space as one space: the text part is wrapped."""
    return " ".join(s.split())


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split(": ", 1)[1])
    ap.add_argument("dir")
    ap.add_argument("subscribers")
    ap.add_argument("subject")
    ap.add_argument("--from", dest="from_")
    ap.add_argument("--post", type=int)
    ap.add_argument("--bounce-domain")
    ap.add_argument("--msgid-domain")
    ap.add_argument("--public-url")
    a = ap.parse_args()
    with open(a.subscribers, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    want = {r["email"].lower(): r for r in rows}
    problems = []
    seen_rcpt, seen_mid, seen_unsub = {}, set(), set()
    files = sorted(n for n in os.listdir(a.dir) if n.endswith(".eml"))
    for n in files:
        p = lambda msg: problems.append(f"{n}: {msg}")  # noqa: E731
        with open(os.path.join(a.dir, n), "rb") as f:
            raw = f.read()
        with open(os.path.join(a.dir, n[:-4] + ".json")) as f:
            env = json.load(f)
        rcpts = env["rcpt_tos"]
        if len(rcpts) != 1:
            p(f"{len(rcpts)} envelope recipients, want 1")
            continue
        rcpt = rcpts[0].lower()
        seen_rcpt[rcpt] = seen_rcpt.get(rcpt, 0) + 1
        exp = want.get(rcpt)
        if exp is not None and rcpts[0] != exp["email"]:
            p(f"envelope recipient {rcpts[0]!r}, want {exp['email']!r}")
        # Octets: line ends, line lengths, 7 bits.
        if re.search(rb"(?<!\r)\n", raw) or re.search(rb"\r(?!\n)", raw):
            p("bare LF or CR")
        for i, line in enumerate(raw.split(b"\r\n")):
            if len(line) > 998:
                p(f"line {i + 1} is {len(line)} octets")
        if re.search(rb"[^\x00-\x7f]", raw):
            p("8-bit octets (want RFC 2047 and quoted-printable)")
        if b"\0" in raw:
            p("NUL octet")
        if b"\r\n\r\n" not in raw:
            p("no empty line after the header")
            continue
        head = raw.split(b"\r\n\r\n", 1)[0]
        fields = header_fields(head)
        for name, lines in fields:
            check_encoded_words(name, lines, p)
        names = [name.decode("ascii", "replace") for name, _ in fields]
        lower = {h.lower() for h in BULLETIN_HEADERS + TRACE_HEADERS}
        for h in names:
            if h.lower() not in lower:
                p(f"unexpected header {h!r}")
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.strict)
        except Exception as e:  # noqa: BLE001
            p(f"strict parse failed: {e}")
            continue
        if msg.defects:
            p(f"defects: {msg.defects}")
        for h in BULLETIN_HEADERS:
            k = len(msg.get_all(h, []))
            if k != 1:
                p(f"{k} {h} headers, want 1")
        for h in names:
            for v in msg.get_all(h, []):
                if getattr(v, "defects", None):
                    p(f"{h}: defects {list(v.defects)}")
        if str(msg.get("Subject", "")) != a.subject:
            p(f"Subject {str(msg.get('Subject'))!r}, want {a.subject!r}")
        if str(msg.get("MIME-Version", "")) != "1.0":
            p(f"MIME-Version {str(msg.get('MIME-Version'))!r}")
        try:
            if msg["Date"] is None or msg["Date"].datetime is None:
                p("no Date")
        except Exception as e:  # noqa: BLE001
            p(f"Date {msg.get('Date')!r} does not parse: {e}")
        if a.from_ is not None and msg.get("From") is not None:
            got = email.utils.parseaddr(str(msg["From"]))
            if got != email.utils.parseaddr(a.from_):
                p(f"From {got!r}, want {a.from_!r}")
        to = msg.get("To")
        if to is not None:
            addrs = to.addresses
            if len(addrs) != 1 or addrs[0].addr_spec != rcpts[0]:
                p(f"To {str(to)!r} is not the envelope recipient {rcpts[0]}")
            elif exp is not None and display_name(to, fields) != exp["name"]:
                p(f"To name {display_name(to, fields)!r}, want {exp['name']!r}")
        if msg.get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click":
            p("List-Unsubscribe-Post is not List-Unsubscribe=One-Click")
        if str(msg.get("Precedence", "")).lower() != "bulk":
            p("Precedence is not bulk")
        if a.post is not None and str(msg.get("X-Bulletin-Post", "")) != str(a.post):
            p(f"X-Bulletin-Post {str(msg.get('X-Bulletin-Post'))!r}, want {a.post}")
        lu = str(msg.get("List-Unsubscribe", ""))
        urls = re.findall(r"<([^>]+)>", lu)
        https = [u for u in urls if u.startswith("https://") or u.startswith("http://")]
        mailto = [u for u in urls if u.startswith("mailto:")]
        if len(https) != 1 or len(mailto) != 1:
            p(f"List-Unsubscribe {lu!r} lacks an http(s) URL or a mailto")
        else:
            if https[0] in seen_unsub:
                p("unsubscribe URL shared with another message")
            seen_unsub.add(https[0])
            if a.public_url and not re.fullmatch(re.escape(a.public_url.rstrip("/"))
                                                 + r"/unsubscribe/[A-Za-z0-9_-]+", https[0]):
                p(f"unsubscribe URL {https[0]!r} is not {a.public_url}/unsubscribe/TOKEN")
        mid = str(msg.get("Message-ID", ""))
        m = re.fullmatch(r"<bulletin-((\d+)-\d+-[0-9a-f]{16})\.[0-9a-f]+@([^>]+)>", mid)
        if not m:
            p(f"Message-ID {mid!r} is not <bulletin-POST-SUB-MAC.CREATED@...>")
        else:
            if mid in seen_mid:
                p(f"Message-ID {mid} repeated")
            seen_mid.add(mid)
            verp, domain = m.group(1), env["mail_from"].rpartition("@")[2]
            if env["mail_from"] != f"bounces+{verp}@{domain}":
                p(f"envelope sender {env['mail_from']!r} does not match the Message-ID")
            if a.bounce_domain and domain != a.bounce_domain:
                p(f"envelope sender domain {domain!r}, want {a.bounce_domain!r}")
            if a.post is not None and m.group(2) != str(a.post):
                p(f"Message-ID {mid} is not of post {a.post}")
            if a.msgid_domain and m.group(3) != a.msgid_domain:
                p(f"Message-ID domain {m.group(3)!r}, want {a.msgid_domain!r}")
            if len(mailto) == 1 and a.bounce_domain and not mailto[0].startswith(
                    f"mailto:unsubscribe+{verp}@{a.bounce_domain}"):
                p(f"List-Unsubscribe mailto {mailto[0]!r} does not name the delivery")
        if msg.get_content_type() != "multipart/alternative":
            p(f"top type {msg.get_content_type()}, want multipart/alternative")
            continue
        plist = list(msg.iter_parts())
        parts = {part.get_content_type(): part for part in plist}
        if len(plist) != 2 or set(parts) != {"text/plain", "text/html"}:
            p(f"parts {[x.get_content_type() for x in plist]}, want text/plain and text/html")
            continue
        for t, part in parts.items():
            if (part.get_content_charset() or "").lower() != "utf-8":
                p(f"{t} charset {part.get_content_charset()}, want utf-8")
        try:
            text = parts["text/plain"].get_content()
            body = html.unescape(parts["text/html"].get_content())
        except Exception as e:  # noqa: BLE001
            p(f"a part does not decode: {e}")
            continue
        if exp is not None and exp["name"]:
            if flat(exp["name"]) not in flat(text):
                p(f"the text part does not name {exp['name']!r}")
            if flat(exp["name"]) not in flat(body):
                p(f"the HTML part does not name {exp['name']!r}")
        if exp is not None and exp.get("text"):
            for s in exp["text"].split("|"):
                if flat(s) not in flat(text):
                    p(f"the text part lacks {s!r}")
        if https and https[0] not in text:
            p("the text part lacks the subscriber's unsubscribe URL")
    for r, k in seen_rcpt.items():
        if k > 1:
            problems.append(f"{r}: {k} messages")
        if r not in want:
            problems.append(f"{r}: not an expected recipient")
    for r, row in want.items():
        if r not in seen_rcpt:
            problems.append(f"{row['email']}: no message")
    for line in problems[:200]:
        print(line)
    if len(problems) > 200:
        print(f"... and {len(problems) - 200} more")
    print(f"{len(files)} messages, {len(seen_rcpt)} recipients, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
