#!/usr/bin/python3
"""Build a bounce or complaint report about a message bulletin sent, for the
end-to-end test tests/cli/bounce_flow.sh. Written by hand in the shapes real
mail systems use, so that bulletin's parser, not this script, does the reading.

  make_report.py KIND --orig NNNNNN.eml [options] > report.eml

The original is a message tests/smtp/capture.py stored; its .json next to it
gives the envelope sender (bounces+TOKEN@DOMAIN, where the report goes) and
the recipient. KIND:
  dsn        RFC 3464 multipart/report (--status, --action, --diag); the
             original as message/rfc822, or its header block
             (text/rfc822-headers) with --headers-only
  arf        RFC 5965 abuse complaint, the original's header block as
             text/rfc822-headers (a feedback loop's report)
  autoreply  RFC 3834 auto-reply (vacation)
  qmail      qmail-send's non-standard bounce ("Hi. This is the qmail-send
             program", the original after "--- Below this line")
  garbage    bytes that are no message
Options:
  --to ADDR           the report's To (default: the original's envelope sender)
  --delivered-to ADDR add a Delivered-To header (as a local delivery agent does)
  --rcpt ADDR         the failed recipient (default: the original's RCPT TO)
  --stranger          the returned original is a message bulletin did not send
                      (no bulletin Message-ID)
  --tag TEXT          makes the report's Message-ID unique (default: random)
Everything is LF-terminated, as an MTA pipe and a maildir hold it.
"""

import argparse
import json
import os
import secrets
import sys
from email.utils import formatdate


def load_original(path, stranger):
    if stranger:
        return ("From: Someone Else <someone@elsewhere.example>\n"
                "To: {rcpt}\n"
                "Subject: Not from bulletin\n"
                "Date: Mon, 02 Nov 2026 10:00:00 +0000\n"
                "Message-ID: <20261102100000.4711@elsewhere.example>\n"
                "MIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=us-ascii\n"
                "\n"
                "Hello from a message bulletin never sent.\n")
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8", "replace")
    return raw.replace("\r\n", "\n")


def header_block(msg):
    head, _, _ = msg.partition("\n\n")
    return head + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["dsn", "arf", "autoreply", "qmail", "garbage"])
    ap.add_argument("--orig", required=True)
    ap.add_argument("--to")
    ap.add_argument("--delivered-to")
    ap.add_argument("--rcpt")
    ap.add_argument("--status", default="5.1.1")
    ap.add_argument("--action", default="failed")
    ap.add_argument("--diag", default="smtp; 550 5.1.1 <{rcpt}>: Recipient address "
                    "rejected: User unknown in virtual mailbox table")
    ap.add_argument("--headers-only", action="store_true")
    ap.add_argument("--stranger", action="store_true")
    ap.add_argument("--tag", default="")
    a = ap.parse_args()

    meta_path = os.path.splitext(a.orig)[0] + ".json"
    with open(meta_path) as f:
        meta = json.load(f)
    sender = meta["mail_from"]
    rcpt = a.rcpt or meta["rcpt_tos"][0]
    to = a.to or sender
    orig = load_original(a.orig, a.stranger).replace("{rcpt}", rcpt)
    tag = a.tag or secrets.token_hex(6)
    date = formatdate(localtime=False)
    mid = f"<{tag}.{secrets.token_hex(4)}@mx.example.org>"
    boundary = "=_report_" + secrets.token_hex(6)
    out = []
    if a.delivered_to:
        out.append(f"Delivered-To: {a.delivered_to}\n")

    if a.kind == "garbage":
        sys.stdout.write("\x00\x01\x02 this is no message at all \xff\n")
        return

    if a.kind == "dsn":
        delayed = a.action == "delayed"
        subject = ("Delayed Mail (still being retried)" if delayed
                   else "Undelivered Mail Returned to Sender")
        diag = a.diag.replace("{rcpt}", rcpt)
        human = (
            "This is the mail system at host mx.example.org.\n\n"
            + ("####################################################################\n"
               "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
               "####################################################################\n\n"
               "Your message could not be delivered for more than 4 hour(s).\n"
               "It will be retried until it is 5 day(s) old.\n"
               if delayed else
               "I'm sorry to have to inform you that your message could not\n"
               "be delivered to one or more recipients. It's attached below.\n")
            + f"\n<{rcpt}>: host mx.example.org[192.0.2.25] said: "
            + diag.partition("; ")[2] + "\n")
        out.append(
            "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
            f"To: {to}\n"
            f"Subject: {subject}\n"
            f"Date: {date}\n"
            f"Message-ID: {mid}\n"
            "Auto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            f"Content-Type: multipart/report; report-type=delivery-status;\n"
            f"\tboundary=\"{boundary}\"\n"
            "\n"
            "This is a MIME-encapsulated message.\n\n"
            f"--{boundary}\n"
            "Content-Description: Notification\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            f"{human}\n"
            f"--{boundary}\n"
            "Content-Description: Delivery report\n"
            "Content-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.org\n"
            "X-Postfix-Queue-ID: 4ZQ1x23abcz\n"
            f"X-Postfix-Sender: rfc822; {sender}\n"
            f"Arrival-Date: {date}\n\n"
            f"Final-Recipient: rfc822; {rcpt}\n"
            f"Original-Recipient: rfc822;{rcpt}\n"
            f"Action: {a.action}\n"
            f"Status: {a.status}\n"
            "Remote-MTA: dns; mx.example.org\n"
            f"Diagnostic-Code: {diag}\n"
            + ("Will-Retry-Until: Sat, 05 Dec 2026 10:00:00 +0000\n" if delayed else "")
            + "\n"
            f"--{boundary}\n")
        if a.headers_only or delayed:
            out.append("Content-Description: Undelivered Message Headers\n"
                       "Content-Type: text/rfc822-headers\n\n" + header_block(orig))
        else:
            out.append("Content-Description: Undelivered Message\n"
                       "Content-Type: message/rfc822\n\n" + orig)
            if not orig.endswith("\n"):
                out.append("\n")
        out.append(f"\n--{boundary}--\n")
    elif a.kind == "arf":
        out.append(
            "From: Feedback Loop <fbl@mail.example.org>\n"
            f"To: {to}\n"
            "Subject: Email Feedback Report for IP 127.0.0.1\n"
            f"Date: {date}\n"
            f"Message-ID: {mid}\n"
            "MIME-Version: 1.0\n"
            f"Content-Type: multipart/report; report-type=feedback-report;\n"
            f"\tboundary=\"{boundary}\"\n\n"
            f"--{boundary}\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "This is an email abuse report for an email message received from\n"
            f"IP 127.0.0.1 on {date}.\n"
            "For more information about this format please see\n"
            "https://www.rfc-editor.org/rfc/rfc5965\n\n"
            f"--{boundary}\n"
            "Content-Type: message/feedback-report\n\n"
            "Feedback-Type: abuse\n"
            "User-Agent: ExampleFBL/2.1\n"
            "Version: 1\n"
            f"Original-Mail-From: <{sender}>\n"
            f"Original-Rcpt-To: <{rcpt}>\n"
            f"Arrival-Date: {date}\n"
            "Reporting-MTA: dns; mail.example.org\n"
            "Source-IP: 127.0.0.1\n"
            "Reported-Domain: news.example\n\n"
            f"--{boundary}\n"
            "Content-Type: text/rfc822-headers\n\n"
            + header_block(orig)
            + f"\n--{boundary}--\n")
    elif a.kind == "autoreply":
        omid = ""
        for line in orig.split("\n"):
            if line.lower().startswith("message-id:"):
                omid = line.split(":", 1)[1].strip()
            if not line:
                break
        out.append(
            f"From: <{rcpt}>\n"
            f"To: {to}\n"
            "Subject: Out of office\n"
            f"Date: {date}\n"
            f"Message-ID: {mid}\n"
            f"In-Reply-To: {omid}\n"
            "Auto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            "I am out of the office until Monday and will read your message then.\n")
    elif a.kind == "qmail":
        out.append(
            f"Return-Path: <>\n"
            f"To: {to}\n"
            "From: MAILER-DAEMON@mx.example.org\n"
            "Subject: failure notice\n"
            f"Date: {date}\n"
            f"Message-ID: {mid}\n\n"
            "Hi. This is the qmail-send program at mx.example.org.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
            f"<{rcpt}>:\n"
            "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
            "--- Below this line is a copy of the message.\n\n"
            f"Return-Path: <{sender}>\n"
            + orig)
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
