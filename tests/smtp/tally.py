#!/usr/bin/python3
"""Count what capturing relays (tests/smtp/capture.py) stored, per recipient.

usage: tally.py EXPECTED DIR...

EXPECTED lists the recipients that should have got a message, one address a
line. DIR... are capture.py --dir directories (a relay restarted on a new
directory each time). Prints one JSON object:

  messages     messages stored
  recipients   distinct envelope recipients (lower-cased)
  missing      expected recipients with no message
  unexpected   recipients that are not expected
  duplicated   recipients with more than one message
  extra        messages beyond one per recipient
  max_copies   the most messages one recipient got
  mid_differs  duplicated recipients whose copies do not all carry the
               same Message-ID (a resend must reuse it)
  examples     up to 5 addresses for each non-empty problem
"""
import email.parser
import email.policy
import json
import os
import sys


def message_id(path):
    with open(path, "rb") as f:
        head = f.read(16384).split(b"\r\n\r\n", 1)[0]
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    return (msg.get("Message-ID") or "").strip()


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        expected = {line.strip().lower() for line in f if line.strip()}
    copies = {}  # recipient -> [eml paths]
    messages = 0
    for d in sys.argv[2:]:
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                meta = json.load(f)
            messages += 1
            for rcpt in meta["rcpt_tos"]:
                copies.setdefault(rcpt.lower(), []).append(os.path.join(d, name[:-5] + ".eml"))
    dup = sorted(r for r, paths in copies.items() if len(paths) > 1)
    mid_differs = sorted(r for r in dup if len({message_id(p) for p in copies[r]}) != 1)
    missing = sorted(expected - copies.keys())
    unexpected = sorted(copies.keys() - expected)
    out = {
        "messages": messages,
        "recipients": len(copies),
        "missing": len(missing),
        "unexpected": len(unexpected),
        "duplicated": len(dup),
        "extra": sum(len(p) - 1 for p in copies.values()),
        "max_copies": max((len(p) for p in copies.values()), default=0),
        "mid_differs": len(mid_differs),
        "examples": {k: v[:5] for k, v in (("missing", missing), ("unexpected", unexpected),
                                           ("duplicated", dup), ("mid_differs", mid_differs)) if v},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
