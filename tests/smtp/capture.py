#!/usr/bin/python3
"""A capturing SMTP server for bulletin's tests (aiosmtpd; run it with
/usr/bin/python3, the interpreter Debian's python3-aiosmtpd belongs to).

It listens on loopback only and stores every accepted message in --dir as
two files, written so that a reader who sees the .json sees a complete .eml:

  NNNNNN.eml   the message exactly as received: dot-unstuffed, CRLF kept,
               never re-serialised
  NNNNNN.json  {"seq", "queue_id", "mail_from", "rcpt_tos", "mail_options",
               "rcpt_options", "peer": [host, port], "session", "helo",
               "tls", "auth", "size", "received_at"}

"session" numbers the connections (1, 2, ...), so a test can tell how many
connections carried its messages. The final reply is
"250 2.0.0 Ok: queued as QID" (QID = "C" + the hex sequence number).

When it is ready it prints the port on stdout (one line, then flushes) and
writes it to --port-file if given; it runs until SIGTERM or SIGINT.

Faults, each repeatable, ADDR being an address (any case) or * for all:
  --reply-mail ADDR=CODE[:TEXT]   answer MAIL FROM:<ADDR> with CODE
  --reply-rcpt ADDR=CODE[:TEXT]   answer RCPT TO:<ADDR> with CODE
  --reply-data ADDR=CODE[:TEXT]   answer the end of DATA with CODE when ADDR
                                  is a recipient (the message is not stored)
  --hangup-rcpt ADDR              close the connection at RCPT TO:<ADDR>
  --hangup-data ADDR              read the whole message, then close the
                                  connection without a reply
  --delay WHAT=SECONDS            wait before answering MAIL, RCPT, DATA (the
                                  354), "." (the final reply), or, for BODY,
                                  before reading the message after the 354
                                  (the client's upload stalls)
A 421 reply also closes the connection, as RFC 5321 3.8 says.
"""

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_replies(items, opt):
    """ADDR=CODE[:TEXT] list -> {addr: "CODE X.Y.Z TEXT"}."""
    out = {}
    for item in items or []:
        addr, sep, rest = item.rpartition("=")
        if not sep or not addr:
            sys.exit(f"capture.py: {opt} wants ADDR=CODE[:TEXT], got {item!r}")
        code, _, text = rest.partition(":")
        if len(code) != 3 or not code.isdigit() or code[0] not in "2345":
            sys.exit(f"capture.py: {opt}: {code!r} is not an SMTP reply code")
        text = text or f"{'rejected' if code[0] in '45' else 'ok'} by capture.py"
        # an RFC 3463 enhanced code unless TEXT starts with one
        has_enhanced = re.match(r"[245]\.\d{1,3}\.\d{1,3}( |$)", text)
        enhanced = f"{code[0]}.0.0" if code[0] in "245" and not has_enhanced else ""
        out[addr.lower()] = " ".join(x for x in (code, enhanced, text) if x)
    return out


def lookup(table, addr):
    return table.get(addr.lower(), table.get("*"))


class Capture:
    """The aiosmtpd handler: replies as configured, stores what it accepts."""

    def __init__(self, args):
        self.dir = args.dir
        self.reply_mail = parse_replies(args.reply_mail, "--reply-mail")
        self.reply_rcpt = parse_replies(args.reply_rcpt, "--reply-rcpt")
        self.reply_data = parse_replies(args.reply_data, "--reply-data")
        self.hangup_rcpt = {a.lower() for a in args.hangup_rcpt or []}
        self.hangup_data = {a.lower() for a in args.hangup_data or []}
        self.delay = {}
        for item in args.delay or []:
            what, _, secs = item.partition("=")
            what = what.upper()
            if what not in ("MAIL", "RCPT", "DATA", "BODY", ".") or not secs:
                sys.exit(f"capture.py: --delay wants MAIL|RCPT|DATA|BODY|.=SECONDS, got {item!r}")
            self.delay[what] = float(secs)
        self.seq = 0
        self.sessions = 0
        self.peers = {}  # peer address -> session number, for the transcript

    async def pause(self, what):
        if what in self.delay:
            await asyncio.sleep(self.delay[what])

    async def reply(self, server, status):
        """Send @status; a 421 also ends the connection."""
        if status.startswith("421"):
            await server.push(status)
            await self.hangup(server)
        return status

    async def hangup(self, server):
        server.transport.close()
        raise asyncio.CancelledError()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        await self.pause("MAIL")
        status = lookup(self.reply_mail, address)
        if status and not status.startswith("2"):
            return await self.reply(server, status)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return status or "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, options):
        await self.pause("RCPT")
        if address.lower() in self.hangup_rcpt or "*" in self.hangup_rcpt:
            await self.hangup(server)
        status = lookup(self.reply_rcpt, address)
        if status and not status.startswith("2"):
            return await self.reply(server, status)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return status or "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        await self.pause(".")
        rcpts = [r.lower() for r in envelope.rcpt_tos]
        if "*" in self.hangup_data or any(r in self.hangup_data for r in rcpts):
            await self.hangup(server)
        for r in rcpts:
            status = lookup(self.reply_data, r)
            if status and not status.startswith("2"):
                return await self.reply(server, status)
        self.seq += 1
        qid = f"C{self.seq:06X}"
        base = os.path.join(self.dir, f"{self.seq:06d}")
        data = envelope.original_content
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")
        meta = {
            "seq": self.seq,
            "queue_id": qid,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "rcpt_options": envelope.rcpt_options,
            "peer": list(session.peer[:2]) if session.peer else None,
            "session": getattr(session, "capture_session", 0),
            "helo": session.host_name,
            "tls": session.ssl is not None,
            "auth": session.login_data.decode("utf-8", "replace")
            if isinstance(session.login_data, bytes) else session.login_data,
            "size": len(data),
            "received_at": time.time(),
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return f"250 2.0.0 Ok: queued as {qid}"


class Authenticator:
    def __init__(self, user, password):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user and auth_data.password == self.password)
        # handled=False: aiosmtpd sends the 235/535 reply itself
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main():
    ap = argparse.ArgumentParser(
        prog="capture.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="where to store messages (created)")
    ap.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1", "localhost"],
                    help="address to listen on (loopback only; default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    ap.add_argument("--port-file", help="also write the port to this file")
    ap.add_argument("--reply-mail", action="append", metavar="ADDR=CODE[:TEXT]")
    ap.add_argument("--reply-rcpt", action="append", metavar="ADDR=CODE[:TEXT]")
    ap.add_argument("--reply-data", action="append", metavar="ADDR=CODE[:TEXT]")
    ap.add_argument("--hangup-rcpt", action="append", metavar="ADDR")
    ap.add_argument("--hangup-data", action="append", metavar="ADDR")
    ap.add_argument("--delay", action="append", metavar="WHAT=SECONDS")
    ap.add_argument("--no-smtputf8", action="store_true",
                    help="do not announce SMTPUTF8 (RFC 6531)")
    ap.add_argument("--tls-cert", help="PEM certificate: offer STARTTLS")
    ap.add_argument("--tls-key", help="PEM key for --tls-cert")
    ap.add_argument("--require-starttls", action="store_true",
                    help="refuse other commands before STARTTLS (530)")
    ap.add_argument("--auth", metavar="USER:PASSWORD",
                    help="offer AUTH PLAIN/LOGIN and require it before MAIL")
    ap.add_argument("--auth-cleartext", action="store_true",
                    help="offer AUTH without TLS too")
    ap.add_argument("--size-limit", type=int, default=32 << 20,
                    help="SIZE limit in bytes (default 32 MiB)")
    ap.add_argument("--transcript", metavar="FILE",
                    help="append every command and reply to FILE, one per line: "
                         "'SESSION > LINE' or 'SESSION < LINE'")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    handler = Capture(args)

    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    auth_kwargs = {}
    # AUTH without TLS is what --auth-cleartext asks for; no need to warn.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth_kwargs = dict(authenticator=Authenticator(user, password), auth_required=True,
                           auth_require_tls=not args.auth_cleartext)

    transcript = open(args.transcript, "a", buffering=1) if args.transcript else None

    class Server(SMTP):
        def connection_made(self, transport):
            super().connection_made(transport)
            handler.sessions += 1
            self.session.capture_session = handler.sessions
            self._capture_n = handler.sessions
            handler.peers[self.session.peer] = handler.sessions
            if transcript:
                transcript.write(f"{self._capture_n} * connect\n")

        def connection_lost(self, error):
            if transcript and hasattr(self, "_capture_n"):
                transcript.write(f"{self._capture_n} * close\n")
            super().connection_lost(error)

        async def push(self, status):
            s = status if isinstance(status, str) else status.decode("utf-8", "replace")
            if transcript:
                transcript.write(f"{self._capture_n} < {s}\n")
            await super().push(status)
            if s.startswith("354"):
                await handler.pause("BODY")

        async def smtp_DATA(self, arg):
            await handler.pause("DATA")
            await super().smtp_DATA(arg)

    if transcript:
        # Commands as aiosmtpd reads them (the "%r >> %r" lines of its log).
        class Commands(logging.Handler):
            def emit(self, record):
                if record.msg == "%r >> %r" and len(record.args) == 2:
                    line = record.args[1]
                    if isinstance(line, bytes):
                        line = line.decode("utf-8", "replace")
                    n = handler.peers.get(record.args[0], "?")
                    transcript.write(f"{n} > {line}\n")
        log = logging.getLogger("mail.log")
        log.setLevel(logging.INFO)
        log.addHandler(Commands())
        log.propagate = False
    else:
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    # Our own errors (a bug in a handler) go to stderr.
    logging.basicConfig(level=logging.ERROR, format="capture.py: %(name)s: %(message)s")

    def factory():
        return Server(handler, hostname="capture.test", data_size_limit=args.size_limit,
                      enable_SMTPUTF8=not args.no_smtputf8, tls_context=tls,
                      require_starttls=args.require_starttls, **auth_kwargs)

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, host=args.host, port=args.port)
        port = server.sockets[0].getsockname()[1]
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as f:
                f.write(f"{port}\n")
            os.rename(args.port_file + ".tmp", args.port_file)
        print(port, flush=True)
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        await stop
        server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
