#!/usr/bin/env python3
"""Make a maildir of mixed bounce and complaint reports for bench/bounce.sh.

    bounce_gen.py OUTBOX REPORTS N EXPECTED_JSON

OUTBOX is a maildir bulletin's maildir transport wrote (each file starts with
Return-Path: <bounces+TOKEN@DOMAIN> and Delivered-To: <subscriber>); REPORTS
is the maildir to fill (new/ is made); N reports are written. Every report
but the duplicates is about another message of the outbox (a subscriber gets
one report at most, so the outcome of each is known: N * 37 / 40 must not be
more than the outbox holds). The mix, by report number modulo 40:

   0-7   RFC 3464 DSN, Postfix style, 5.1.1 user unknown        hard  -> disabled
   8-13  RFC 3464 DSN, 4.2.2 mailbox full, Action: failed        soft  -> counted
  14-17  RFC 3464 DSN, 5.7.1 blocked by policy                   block -> recorded
  18-19  Exchange-style DSN: CRLF line ends, quoted-printable
         text, the whole original as message/rfc822, 5.1.10     hard  -> disabled
  20-24  qmail, the original inline, (#5.1.1)                    hard  -> disabled
  25     Exim, X-Failed-Recipients, 550 5.1.1                    hard  -> disabled
  26-28  ARF (RFC 5965) abuse complaint                          complaint -> unsubscribed
  29-31  RFC 3834 auto-reply (one in three Latin-1 quoted-printable)  auto-reply
  32-35  RFC 3464 delay warning (Action: delayed, 4.4.1)         soft, not final
  36     a DSN to a plain address with no original: nothing
         attributes it                                          soft  -> review
  37-39  a byte-identical copy of an earlier report (the same
         Message-ID): the same report delivered twice            duplicate

Each report goes to the VERP address of the message it is about (X-Original-To
and Delivered-To, as a local delivery agent writes them) and carries the
original's header block, so bulletin can attribute it either way.

EXPECTED_JSON receives what `bulletin bounce --maildir --json` must report
(handled, kept, findings, recorded, duplicates, review, disabled,
unsubscribed, probes, with the default policy) and the rows the bounces table
must hold per class ("classes").
"""
import json
import os
import sys

# kind of report by number modulo 40 (see above)
MIX = (["hard"] * 8 + ["soft"] * 6 + ["block"] * 4 + ["exchange"] * 2 + ["qmail"] * 5 +
       ["exim"] + ["arf"] * 3 + ["auto"] * 3 + ["delay"] * 4 + ["review"] + ["dup"] * 3)
assert len(MIX) == 40

DATE = "Mon, 2 Nov 2026 10:00:00 +0000"


def headers_of(path):
    """The header block of an outbox message (CRLF) and its fields, lowercase names."""
    with open(path, "rb") as f:
        data = f.read(16384)
    end = data.find(b"\r\n\r\n")
    head = data[: end if end >= 0 else len(data)].decode("utf-8", "replace")
    fields = {}
    for line in head.split("\r\n"):
        if ":" in line and not line[:1].isspace():
            k, v = line.split(":", 1)
            fields.setdefault(k.strip().lower(), v.strip())
    return head, fields


def dsn(n, verp, rcpt, orig, status, code, text, action="failed"):
    return (
        f"Return-Path: <>\nX-Original-To: {verp}\nDelivered-To: {verp}\n"
        f"From: MAILER-DAEMON@mx{n % 7}.example.net (Mail Delivery System)\n"
        f"To: {verp}\nSubject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <dsn-{n}@mx.example.net>\nDate: {DATE}\n"
        f"Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="B{n}"\n\n'
        f"This is a MIME-encapsulated message.\n\n"
        f"--B{n}\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        f"This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform you "
        f"that your message could not\nbe delivered to one or more recipients. It's attached "
        f"below.\n\nFor further assistance, please send mail to postmaster.\n\n"
        f"                   The mail system\n\n"
        f"<{rcpt}>: host mx.example.org[192.0.2.25] said: {code} {status} {text}\n"
        f"    (in reply to RCPT TO command)\n\n"
        f"--B{n}\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.net\nX-Postfix-Queue-ID: 4Q{n:08X}\n"
        f"Arrival-Date: {DATE}\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nOriginal-Recipient: rfc822;{rcpt}\n"
        f"Action: {action}\nStatus: {status}\nRemote-MTA: dns; mx.example.org\n"
        f"Diagnostic-Code: smtp; {code} {status} {text}\n\n"
        f"--B{n}\nContent-Description: Undelivered Message Headers\n"
        f"Content-Type: text/rfc822-headers\n\n{orig}\n\n--B{n}--\n"
    )


def exchange(n, verp, rcpt, orig, body):
    """Exchange Online style: CRLF, quoted-printable text, the original whole."""
    text = (
        f"Your message to {rcpt} couldn't be delivered.=0A=0A"
        f"{rcpt.split('@')[0]} wasn't found at {rcpt.split('@')[1]}.=0A=0A"
        f"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient=\n"
        f" not found by SMTP address lookup'"
    )
    msg = (
        f"Return-Path: <>\nX-Original-To: {verp}\nDelivered-To: {verp}\n"
        f"From: Microsoft Outlook <postmaster@outlook.example.com>\nTo: {verp}\n"
        f"Subject: Undeliverable: News\nMessage-ID: <ex-{n}@outlook.example.com>\n"
        f"Date: {DATE}\nMIME-Version: 1.0\nAuto-Submitted: auto-replied\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="EX{n}"\n\n'
        f"--EX{n}\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{text}\n\n"
        f"--EX{n}\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns;AM0PR01MB0000.eurprd01.prod.outlook.example.com\n"
        f"Received-From-MTA: dns;mx.news.example\nArrival-Date: {DATE}\n\n"
        f"Original-Recipient: rfc822;{rcpt}\nFinal-Recipient: rfc822;{rcpt}\n"
        f"Action: failed\nStatus: 5.1.10\n"
        f"Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
        f"found by SMTP address lookup\n\n"
        f"--EX{n}\nContent-Type: message/rfc822\n\n{orig}\n\n{body}\n--EX{n}--\n"
    )
    return msg.replace("\n", "\r\n")


def qmail(n, verp, rcpt, orig):
    return (
        f"Return-Path: <>\nDelivered-To: {verp}\nFrom: MAILER-DAEMON@qm.example.net\n"
        f"To: {verp}\nSubject: failure notice\nMessage-ID: <qm-{n}@qm.example.net>\n"
        f"Date: {DATE}\n\n"
        f"Hi. This is the qmail-send program at qm.example.net.\n"
        f"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        f"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{rcpt}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        f"--- Below this line is a copy of the message.\n\n{orig}\n\nHello\n"
    )


def exim(n, verp, rcpt, orig):
    return (
        f"Return-Path: <>\nX-Original-To: {verp}\nDelivered-To: {verp}\n"
        f"From: Mail Delivery System <Mailer-Daemon@exim.example.net>\nTo: {verp}\n"
        f"Subject: Mail delivery failed: returning message to sender\n"
        f"Message-ID: <E1ex-{n}@exim.example.net>\nX-Failed-Recipients: {rcpt}\n"
        f"Auto-Submitted: auto-replied\nDate: {DATE}\n\n"
        f"This message was created automatically by mail delivery software.\n\n"
        f"A message that you sent could not be delivered to one or more of its\n"
        f"recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {rcpt}\n    host mx.example.org [192.0.2.7]\n"
        f"    SMTP error from remote mail server after RCPT TO:<{rcpt}>:\n"
        f"    550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown\n\n"
        f"------ This is a copy of the message, including all the headers. ------\n\n"
        f"{orig}\n\nHello\n"
    )


def arf(n, verp, rcpt, orig):
    return (
        f"Return-Path: <>\nDelivered-To: {verp}\nFrom: fbl@isp.example.com\nTo: {verp}\n"
        f"Subject: Abuse report\nMessage-ID: <arf-{n}@isp.example.com>\n"
        f"Date: {DATE}\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="A{n}"\n\n'
        f"--A{n}\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
        f"--A{n}\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        f"User-Agent: ExampleFBL/1.0\nVersion: 1\nOriginal-Rcpt-To: <{rcpt}>\n"
        f"Arrival-Date: {DATE}\nSource-IP: 192.0.2.1\n\n"
        f"--A{n}\nContent-Type: text/rfc822-headers\n\n{orig}\n\n--A{n}--\n"
    )


def autoreply(n, verp, rcpt):
    if n % 3 == 0:
        cte = ("Content-Type: text/plain; charset=iso-8859-1\n"
               "Content-Transfer-Encoding: quoted-printable\n")
        body = "Je suis absent jusqu'=E0 lundi. Pour une urgence, appelez le standard.\n"
    else:
        cte = "Content-Type: text/plain; charset=us-ascii\n"
        body = "I am away until Monday and will read your message when I am back.\n"
    return (
        f"Return-Path: <>\nDelivered-To: {verp}\nFrom: {rcpt}\nTo: {verp}\n"
        f"Subject: Out of office\nMessage-ID: <ar-{n}@example.org>\n"
        f"Date: {DATE}\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n{cte}\n{body}"
    )


def unattributed(n):
    """A DSN to the list's plain address, without the original: nothing names the delivery."""
    rcpt = f"gone.{n}@example.invalid"
    return (
        f"Return-Path: <>\nDelivered-To: letters@news.example\n"
        f"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        f"To: letters@news.example\nSubject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <orphan-{n}@mx.example.net>\nDate: {DATE}\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="O{n}"\n\n'
        f"--O{n}\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        f"--O{n}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 4.2.2\n"
        f"Diagnostic-Code: smtp; 552 4.2.2 Mailbox full\n\n--O{n}--\n"
    )


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: bounce_gen.py OUTBOX REPORTS N EXPECTED_JSON")
    outbox, reports, n, expected_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    files = sorted(os.listdir(os.path.join(outbox, "new")))
    need = sum(1 for i in range(n) if MIX[i % 40] not in ("dup", "review"))
    if need > len(files):
        sys.exit(f"bounce_gen: {need} reports need as many outbox messages, there are {len(files)}")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(reports, sub), exist_ok=True)
    counts = dict.fromkeys(MIX, 0)
    written = []  # the reports written so far, for the duplicates
    j = 0  # the next outbox message
    for i in range(n):
        kind = MIX[i % 40]
        if kind == "dup":
            back = 1 + (i // 40) % min(30, len(written))
            msg = written[-back]
        elif kind == "review":
            msg = unattributed(i)
        else:
            path = os.path.join(outbox, "new", files[j])
            j += 1
            head, f = headers_of(path)
            verp = f.get("return-path", "").strip("<>")
            rcpt = f.get("delivered-to", "").strip("<>")
            if not verp.startswith("bounces+") or "@" not in rcpt:
                sys.exit(f"bounce_gen: {path}: no VERP Return-Path or Delivered-To")
            orig = "\n".join(
                line for line in head.split("\r\n")
                if not line.lower().startswith(("return-path:", "delivered-to:")))
            if kind == "hard":
                msg = dsn(i, verp, rcpt, orig, "5.1.1", 550,
                          f"<{rcpt}>: Recipient address rejected: User unknown in virtual "
                          f"mailbox table")
            elif kind == "soft":
                msg = dsn(i, verp, rcpt, orig, "4.2.2", 452, "Mailbox full: quota exceeded")
            elif kind == "block":
                msg = dsn(i, verp, rcpt, orig, "5.7.1", 554,
                          "Service unavailable; client host blocked using a policy list")
            elif kind == "exchange":
                msg = exchange(i, verp, rcpt, orig, "Hello,\n\nthe news of the week.\n")
            elif kind == "qmail":
                msg = qmail(i, verp, rcpt, orig)
            elif kind == "exim":
                msg = exim(i, verp, rcpt, orig)
            elif kind == "arf":
                msg = arf(i, verp, rcpt, orig)
            elif kind == "auto":
                msg = autoreply(i, verp, rcpt)
            else:
                msg = dsn(i, verp, rcpt, orig, "4.4.1", 451, "Connection timed out",
                          "delayed")
        counts[kind] += 1
        written.append(msg)
        del written[:-64]
        with open(os.path.join(reports, "new", f"{i:07d}.report"), "w", newline="") as out:
            out.write(msg)

    hard = counts["hard"] + counts["exchange"] + counts["qmail"] + counts["exim"]
    expected = {
        "handled": n,
        "kept": 0,
        "findings": n,
        "recorded": n - counts["dup"],
        "duplicates": counts["dup"],
        "review": counts["review"],
        "disabled": hard,
        "unsubscribed": counts["arf"],
        "probes": 0,
        "classes": {
            "hard": hard,
            "soft": counts["soft"] + counts["delay"] + counts["review"],
            "block": counts["block"],
            "complaint": counts["arf"],
            "auto-reply": counts["auto"],
        },
        "mix": counts,
    }
    with open(expected_path, "w") as out:
        json.dump(expected, out, indent=1, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
