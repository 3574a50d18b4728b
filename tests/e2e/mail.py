#!/usr/bin/python3
"""The messages tests/smtp/capture.py stored for one recipient, as JSON, for
the browser test (tests/e2e/reader.mjs reads mail through it).

  mail.py DIR RCPT

prints a JSON array, oldest first, one object per message whose envelope
recipients are exactly [RCPT] (letter case ignored):

  {"file", "seq", "mail_from", "subject", "to", "message_id",
   "list_unsubscribe", "text", "html"}

"subject" and "to" are decoded (RFC 2047), "text" and "html" are the
text/plain and text/html parts decoded (transfer encoding and charset; ""
when absent), LF line ends. Only complete messages count (capture.py writes
the .json after the .eml). Exit 2 on a usage error.
"""
import email
import email.policy
import json
import os
import sys


def part(msg, subtype):
    for p in msg.walk():
        if p.get_content_type() == "text/" + subtype:
            return p.get_content().replace("\r\n", "\n")
    return ""


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    d, rcpt = sys.argv[1], sys.argv[2].lower()
    out = []
    for n in sorted(os.listdir(d)):
        if not n.endswith(".json"):
            continue
        with open(os.path.join(d, n)) as f:
            meta = json.load(f)
        if [r.lower() for r in meta["rcpt_tos"]] != [rcpt]:
            continue
        path = os.path.join(d, n[:-5] + ".eml")
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        out.append({
            "file": path,
            "seq": meta["seq"],
            "mail_from": meta["mail_from"],
            "subject": str(msg.get("Subject", "")),
            "to": str(msg.get("To", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "list_unsubscribe": str(msg.get("List-Unsubscribe", "")),
            "text": part(msg, "plain"),
            "html": part(msg, "html"),
        })
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
