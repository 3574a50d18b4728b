#!/usr/bin/python3
"""Signed provider webhook bodies for tests/cli/bounce_flow.sh, made the way
the providers make them and signed here (Python's hmac, the openssl command),
never with bulletin's code.

  webhook_body.py mailgun --key KEY --event JSON [--forge] [--age SECONDS]
      Mailgun "webhooks 2.0": {"signature": {timestamp, token, signature =
      hex HMAC-SHA256(KEY, timestamp + token)}, "event-data": EVENT}
  webhook_body.py ses --sns-key PEM --topic ARN --message JSON --id ID
                      [--version 1|2] [--forge]
      An Amazon SNS Notification carrying an SES notification (Message, a JSON
      string), signed with SHA1withRSA (1) or SHA256withRSA (2) over the
      canonical string (AWS, "Verifying the signatures of Amazon SNS messages").
--forge signs with a different key (Mailgun) or changes Message after signing
(SNS). The body is printed on standard output.
"""

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time


def mailgun(a):
    ts = str(int(time.time()) - a.age)
    token = secrets.token_hex(25)
    key = a.key if not a.forge else a.key + "-not"
    sig = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": ts, "token": token, "signature": sig},
                       "event-data": json.loads(a.event)})


def ses(a):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    fields = [("Message", a.message), ("MessageId", a.id), ("Timestamp", ts),
              ("TopicArn", a.topic), ("Type", "Notification")]
    canonical = "".join(f"{k}\n{v}\n" for k, v in fields)
    digest = "-sha256" if a.version == "2" else "-sha1"
    raw = subprocess.run(["openssl", "dgst", digest, "-sign", a.sns_key],
                         input=canonical.encode(), capture_output=True, check=True).stdout
    body = {"Type": "Notification", "MessageId": a.id, "TopicArn": a.topic,
            "Message": a.message if not a.forge else a.message.replace("abuse", "other"),
            "Timestamp": ts, "SignatureVersion": a.version,
            "Signature": base64.b64encode(raw).decode(),
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/"
                              "SimpleNotificationService-0000000000000000000.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
    return json.dumps(body, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("provider", choices=["mailgun", "ses"])
    ap.add_argument("--key")
    ap.add_argument("--event")
    ap.add_argument("--age", type=int, default=0)
    ap.add_argument("--sns-key")
    ap.add_argument("--topic")
    ap.add_argument("--message")
    ap.add_argument("--id")
    ap.add_argument("--version", default="2")
    ap.add_argument("--forge", action="store_true")
    a = ap.parse_args()
    sys.stdout.write(mailgun(a) if a.provider == "mailgun" else ses(a))


if __name__ == "__main__":
    main()
