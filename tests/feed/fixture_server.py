#!/usr/bin/python3
"""Fixture HTTP/1.1 server for the feed tests: serves feed files from a directory.

Usage: /usr/bin/python3 tests/feed/fixture_server.py --root DIR --port-file FILE [--port N]

Binds 127.0.0.1 (port 0 = any free port unless --port), writes the port number
to FILE (atomically: a temporary file renamed into place) once it listens, and
serves until killed (SIGTERM). Standard library only. Every response carries
Content-Length (no chunking); connections are kept alive as HTTP/1.1 allows.

Routes (NAME is a file name in DIR; a missing file is 404):
  /f/NAME             the file, with a strong ETag ("sha256 of the content") and
                      Last-Modified (the file's mtime). 304 (no body) when
                      If-None-Match names the current ETag (or *), or, only when
                      there is no If-None-Match, when If-Modified-Since is not
                      older than the mtime (RFC 9110 13.1.3, 13.2.2).
                      Content-Type from the extension (.rss application/rss+xml,
                      .atom application/atom+xml, .xml application/xml, else
                      application/octet-stream).
  /r/N/NAME           302 to /r/N-1/NAME ... /r/1/NAME 302s to /f/NAME: N redirects.
  /loop               302 to /loop, forever.
  /to/URL             302 to URL (percent-encoded), e.g. /to/http%3A%2F%2F10.0.0.1%2F.
  /gz/NAME            as /f/NAME, gzip-encoded (Content-Encoding: gzip) when the
                      request's Accept-Encoding accepts gzip; plain otherwise.
  /slow/SECONDS/NAME  headers at once, then the body of NAME in small pieces
                      spread over SECONDS (a decimal number).
  /status/CODE        that status with a one-line text body (no body for 204/304).
  /big/BYTES          exactly BYTES bytes of well-formed-looking RSS (an <rss>
                      header, then <item>s; the end is cut at BYTES), streamed in
                      64 KiB writes; stops when the client goes away.
  /ct/TYPE/NAME       the file with Content-Type TYPE (percent-encoded).
  /_log               JSON array of every request so far except /_log itself, in
                      arrival order: {"path", "method", "If-None-Match",
                      "If-Modified-Since", "User-Agent", "Accept-Encoding"
                      (null when absent), "status", "sent" (body bytes written),
                      "done" (true when the response was written or the client
                      went away), "aborted" (true when the client went away)}.

Tests change a feed between polls by rewriting its file in DIR: the content
(hence the ETag) and the mtime (hence Last-Modified) change. Set the mtime
explicitly (os.utime) when two writes may fall in the same second.
"""

import argparse
import email.utils
import gzip
import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = []
LOG_LOCK = threading.Lock()
TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".xml": "application/xml",
}


def accepts_gzip(header):
    """True when an Accept-Encoding value accepts gzip with a non-zero q."""
    if not header:
        return False
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def etag_matches(header, etag):
    """If-None-Match uses weak comparison (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bulletin-fixture/1"

    def log_message(self, fmt, *args):  # quiet: the test reads /_log instead
        pass

    # ---------------------------------------------------------------- plumbing
    def entry(self):
        e = {
            "path": self.path,
            "method": self.command,
            "If-None-Match": self.headers.get("If-None-Match"),
            "If-Modified-Since": self.headers.get("If-Modified-Since"),
            "User-Agent": self.headers.get("User-Agent"),
            "Accept-Encoding": self.headers.get("Accept-Encoding"),
            "status": None,
            "sent": 0,
            "done": False,
            "aborted": False,
        }
        with LOG_LOCK:
            LOG.append(e)
        return e

    def head(self, code, length, ctype="text/plain; charset=utf-8", extra=()):
        self.log_entry["status"] = code
        self.send_response(code)
        if code not in (204, 304):
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def body(self, data):
        self.wfile.write(data)
        self.log_entry["sent"] += len(data)

    def simple(self, code, text, extra=()):
        data = (text + "\n").encode() if code not in (204, 304) else b""
        self.head(code, len(data), extra=extra)
        if self.command != "HEAD":
            self.body(data)

    def read_file(self, name):
        name = urllib.parse.unquote(name)
        if not name or "/" in name or name.startswith("."):
            return None
        path = os.path.join(self.server.root, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
            return data, os.stat(path).st_mtime
        except OSError:
            return None

    # ------------------------------------------------------------------ routes
    def serve_file(self, name, ctype=None, allow_gzip=False):
        found = self.read_file(name)
        if found is None:
            return self.simple(404, "no such fixture: " + name)
        data, mtime = found
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        lastmod = email.utils.formatdate(int(mtime), usegmt=True)
        validators = [("ETag", etag), ("Last-Modified", lastmod)]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            if etag_matches(inm, etag):
                return self.simple(304, "", validators)
        elif ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and int(mtime) <= since:
                return self.simple(304, "", validators)
        if ctype is None:
            ctype = TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
        extra = list(validators)
        if allow_gzip:
            extra.append(("Vary", "Accept-Encoding"))
            if accepts_gzip(self.headers.get("Accept-Encoding")):
                data = gzip.compress(data)
                extra.append(("Content-Encoding", "gzip"))
        self.head(200, len(data), ctype, extra)
        if self.command != "HEAD":
            self.body(data)

    def serve_slow(self, seconds, name):
        found = self.read_file(name)
        if found is None:
            return self.simple(404, "no such fixture: " + name)
        data = found[0]
        self.head(200, len(data), "application/xml")
        steps = max(1, min(len(data), int(seconds * 20)))
        piece = (len(data) + steps - 1) // steps
        pieces = (len(data) + piece - 1) // piece
        for i in range(0, len(data), piece):
            time.sleep(seconds / pieces)
            self.body(data[i:i + piece])
            self.wfile.flush()

    def serve_big(self, size):
        self.head(200, size, "application/rss+xml")
        head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                b"<title>big</title><link>http://127.0.0.1/</link>\n")
        chunk = bytearray(head)
        n = 0
        left = size
        while left > 0:
            while len(chunk) < 65536:
                n += 1
                chunk += (b"<item><title>Item %d</title><link>http://127.0.0.1/i/%d</link>"
                          b"<guid>%d</guid><description>%s</description></item>\n"
                          % (n, n, n, b"x" * 200))
            out = bytes(chunk[:min(65536, left)])
            chunk = chunk[len(out):]
            self.body(out)
            left -= len(out)

    def route(self):
        parts = self.path.split("?", 1)[0].split("/")[1:]
        p0 = parts[0] if parts else ""
        if p0 == "f" and len(parts) == 2:
            return self.serve_file(parts[1])
        if p0 == "r" and len(parts) == 3 and parts[1].isdigit():
            n = int(parts[1])
            if n == 0:
                return self.serve_file(parts[2])
            loc = "/f/" + parts[2] if n == 1 else "/r/%d/%s" % (n - 1, parts[2])
            return self.simple(302, "see " + loc, [("Location", loc)])
        if p0 == "loop":
            return self.simple(302, "see /loop", [("Location", "/loop")])
        if p0 == "to" and len(parts) >= 2:
            loc = urllib.parse.unquote("/".join(parts[1:]))
            return self.simple(302, "see " + loc, [("Location", loc)])
        if p0 == "gz" and len(parts) == 2:
            return self.serve_file(parts[1], allow_gzip=True)
        if p0 == "slow" and len(parts) == 3:
            try:
                seconds = float(parts[1])
            except ValueError:
                return self.simple(400, "bad seconds")
            return self.serve_slow(seconds, parts[2])
        if p0 == "status" and len(parts) == 2 and parts[1].isdigit():
            code = int(parts[1])
            if not 100 <= code <= 599:
                return self.simple(400, "bad status")
            return self.simple(code, "status %d" % code)
        if p0 == "big" and len(parts) == 2 and parts[1].isdigit():
            return self.serve_big(int(parts[1]))
        if p0 == "ct" and len(parts) == 3:
            return self.serve_file(parts[2], ctype=urllib.parse.unquote(parts[1]))
        return self.simple(404, "no such route")

    def handle_any(self):
        if self.path.split("?", 1)[0] == "/_log":
            with LOG_LOCK:
                data = json.dumps(LOG, indent=1).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.log_entry = self.entry()
        try:
            self.route()
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.log_entry["aborted"] = True
            self.close_connection = True
        finally:
            self.log_entry["done"] = True

    do_GET = handle_any
    do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (an aborted fetch) is part of the tests.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="directory of fixture files")
    ap.add_argument("--port-file", required=True, help="where to write the port")
    ap.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.root = os.path.abspath(args.root)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
