#!/usr/bin/env bash
# `make demo`: builds bulletin and walks through its first steps on a fresh
# SQLite database in demo-data/ (re-created on every run): create the
# database, create a list, import examples/subscribers.csv into it, show it,
# write a post (examples/post.md) and deliver it into the maildir outbox
# demo-data/outbox (one file per subscriber, as the relay would get it).
# Then feeds to email: a real feed (../shared/corpora/real-feeds, else
# examples/feed.rss) is served on loopback; its newest item appears after
# the first poll and goes out as an alert, and a subscriber switched to a
# daily digest gets it in `bulletin digest run --now`. Before that, a bounce
# and a complaint about the post are piped into `bulletin bounce`.
# Then it runs `bulletin serve` on DEMO_LISTEN (default 127.0.0.1:8080) until
# Ctrl-C: subscribe in a browser and find the confirmation mail in the
# outbox. It also makes an admin user with a generated password and prints
# the admin UI's address and that password before serving: log in there to
# compose, send and watch a post. DEMO_SERVE=0 stops before serving.
# demo-data/bulletin.conf names the database too, so that
# `build/bulletin --config demo-data/bulletin.conf COMMAND` (which the demo
# prints last) works on it from the repository's root, while it serves too.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BL_ROOT"

scripts/install-deps.sh --demo
bl_log "building bulletin"
tests=false
bl_cmocka_present && tests=true
mkdir -p .check
if ! bl_setup_tree build "${BL_BUILD_OPTS[@]}" -Dtests=$tests >.check/demo-setup.log 2>&1; then
	cat .check/demo-setup.log
	echo "demo: configuring build/ failed" >&2
	exit 1
fi
ninja -C build bulletin

listen=${DEMO_LISTEN:-127.0.0.1:8080}
rm -rf demo-data
mkdir demo-data
cat >demo-data/bulletin.conf <<'CONF'
# The demo's configuration: its own database, and a maildir outbox instead of
# an SMTP relay. Paths are relative to the repository's root: run
#   build/bulletin --config demo-data/bulletin.conf COMMAND
# from there.
db = sqlite:demo-data/bulletin.db
from = Newsroom <alerts@news.example>
public_url = http://LISTEN
listen = LISTEN
site_name = Newsroom
relay = maildir:demo-data/outbox
postal_address = Newsroom, 1 Harbour Street, Example Town
CONF
sed -i "s/LISTEN/$listen/g" demo-data/bulletin.conf

# show ARGS...: prints a command line the way one would type it.
show() {
	local a out="\$"
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:@=+,-]+$ ]]; then
			out+=" $a"
		else
			out+=" '${a//\'/\'\\\'\'}'"
		fi
	done
	printf '\n%s\n' "$out"
}

# bulletin ARGS...: shows the command, then runs it against the demo database.
# Stops the demo on failure, except an import's exit status 2 (some rows
# refused): examples/subscribers.csv has a bad row on purpose.
bulletin() {
	show bulletin --config demo-data/bulletin.conf "$@"
	local rc=0
	build/bulletin --config demo-data/bulletin.conf "$@" || rc=$?
	if [ $rc -eq 2 ] && [ "$1" = import ]; then
		echo "demo: the import refused some rows (exit status 2), as expected for this file"
	elif [ $rc -ne 0 ]; then
		echo "demo: \`bulletin $1\` failed with exit status $rc; stopping" >&2
		exit 1
	fi
}

bulletin init
show bulletin --config demo-data/bulletin.conf user add admin --role admin --generate
admin_out=$(build/bulletin --config demo-data/bulletin.conf user add admin --role admin \
	--generate)
echo "$admin_out"
admin_password=$(printf "%s\n" "$admin_out" | awk 'NF { w = $NF } END { print w }')
bulletin list create news --name "Newsroom alerts" \
	--description "Breaking news as it happens, plus the morning briefing."
bulletin import examples/subscribers.csv --list news --confirmed
bulletin list show news
bulletin list ls
bulletin subscriber show dana.diaz@example.com
bulletin export --list news --format csv
show bulletin --config demo-data/bulletin.conf post create --list news \
	--subject "Storm warning for the coast" --body-file examples/post.md --breaking
post=$(build/bulletin --config demo-data/bulletin.conf post create --list news \
	--subject "Storm warning for the coast" --body-file examples/post.md --breaking)
echo "$post"
bulletin post preview "$post" --format text
bulletin post send "$post" --wait
bulletin post status "$post"
n=$(find demo-data/outbox/new -type f | wc -l)
printf '\ndemo: %s messages in demo-data/outbox/new; the first one:\n\n' "$n"
sed -n '1,40p' "$(find demo-data/outbox/new -type f | sort | head -n 1)"
# ---- bounces and complaints (issue 7) ----
# Two reports come back about the post: a delivery status notification
# (5.1.1, the address does not exist) for one subscriber, a spam complaint
# (ARF) for another. Each is made from the message the relay got (its
# envelope sender bounces+TOKEN@... and its headers) and piped into `bulletin
# bounce` as an MTA would: the first subscriber is disabled, the second
# unsubscribed from every list, and the post's status counts both.
mkdir -p demo-data/reports
python3 - demo-data/outbox/new demo-data/reports <<'PY'
import os, sys
outbox, out = sys.argv[1], sys.argv[2]
files = [f for f in sorted(os.listdir(outbox))  # Dana stays: she gets the digest below
         if b"dana.diaz@" not in open(os.path.join(outbox, f), "rb").read(2000)][:2]
for n, (name, kind) in enumerate(zip(files, ("dsn", "arf"))):
    raw = open(os.path.join(outbox, name), "rb").read().decode("utf-8", "replace")
    head = raw.split("\r\n\r\n", 1)[0].split("\r\n")
    verp = next(l for l in head if l.startswith("Return-Path:")).split("<")[1].rstrip(">")
    rcpt = next(l for l in head if l.startswith("Delivered-To:")).split("<")[1].rstrip(">")
    orig = "\n".join(l for l in head if not l.startswith(("Return-Path:", "Delivered-To:")))
    if kind == "dsn":
        body = ("From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: Undelivered Mail\n"
                "Message-ID: <demo-dsn@mx.example.net>\nMIME-Version: 1.0\n"
                "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
                "--B\nContent-Type: text/plain\n\n<%s>: user unknown\n\n"
                "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
                "Final-Recipient: rfc822; %s\nAction: failed\nStatus: 5.1.1\n"
                "Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected: User unknown\n\n"
                "--B\nContent-Type: text/rfc822-headers\n\n%s\n\n--B--\n"
                % (verp, rcpt, rcpt, rcpt, orig))
    else:
        body = ("From: feedback@isp.example.com\nTo: %s\nSubject: Abuse report\n"
                "Message-ID: <demo-arf@isp.example.com>\nMIME-Version: 1.0\n"
                "Content-Type: multipart/report; report-type=feedback-report; boundary=A\n\n"
                "--A\nContent-Type: text/plain\n\nA user marked this message as spam.\n\n"
                "--A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
                "User-Agent: ExampleFBL/1.0\nVersion: 1\nOriginal-Rcpt-To: <%s>\n\n"
                "--A\nContent-Type: text/rfc822-headers\n\n%s\n\n--A--\n" % (verp, rcpt, orig))
    open(os.path.join(out, "%d-%s.eml" % (n, kind)), "w").write(body)
    open(os.path.join(out, "%d-%s.to" % (n, kind)), "w").write(verp)
PY
for r in demo-data/reports/*.eml; do
	printf '\n$ bulletin --config demo-data/bulletin.conf bounce --envelope-to %s < %s\n' \
		"$(cat "${r%.eml}.to")" "$r"
	build/bulletin --config demo-data/bulletin.conf bounce --envelope-to "$(cat "${r%.eml}.to")" <"$r"
done
bulletin bounce ls
bulletin post status "$post"
# ---- feeds to email, and a digest (issue 6) ----
# A real feed from the test corpora (rsparser/rubenerd.rss), else our sample,
# served on loopback by Python's http.server. It is served first without its
# newest item: the first poll marks the items there as seen (no backlog
# blast); then the newest item "appears" and becomes an alert for the
# instant subscribers, and one subscriber, switched to a daily digest, gets
# it in the digest.
corpora=""
for c in ../shared/corpora "$(git remote get-url origin 2>/dev/null || true)/../shared/corpora"; do
	if [ -f "$c/real-feeds/rsparser/rubenerd.rss" ]; then
		corpora=$c
		break
	fi
done
sample=${corpora:+$corpora/real-feeds/rsparser/rubenerd.rss}
sample=${sample:-examples/feed.rss}
mkdir -p demo-data/feed
# the feed without its first (newest) <item>
python3 - "$sample" demo-data/feed/sample.rss <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
m = re.search(rb"<item[\s>].*?</item>\s*", data, re.S)
open(sys.argv[2], "wb").write(data[:m.start()] + data[m.end():] if m else data)
PY
feed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory demo-data/feed "$feed_port" \
	>demo-data/feed-server.log 2>&1 &
feed_server=$!
trap 'kill $feed_server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$feed_port/sample.rss" && break
	sleep 0.1
done
cat >>demo-data/bulletin.conf <<'CONF'
# The demo's sample feed is served on 127.0.0.1: allow loopback feed URLs
# (off by default: the fetcher refuses private addresses).
feed_allow_private = on
CONF
printf '\ndemo: serving %s as http://127.0.0.1:%s/sample.rss\n' "$sample" "$feed_port"
bulletin subscriber set dana.diaz@example.com --list news --mode daily
bulletin feed add "http://127.0.0.1:$feed_port/sample.rss" --list news --every 5m
bulletin feed poll 1
touch demo-data/feed/.before-send
cp "$sample" demo-data/feed/sample.rss
# HTTP dates have whole seconds: the changed feed must be Last-Modified after the first
# poll's, or the server answers 304 (not modified) when the demo runs within one second.
touch -d "@$(($(date +%s) + 2))" demo-data/feed/sample.rss
printf '\ndemo: the feed now has one more item\n'
before=$(find demo-data/outbox/new -type f | wc -l)
bulletin feed poll 1 --send
bulletin feed ls
alert=$(grep -l '^X-Bulletin-Post: ' $(find demo-data/outbox/new -type f -newer demo-data/feed/.before-send) |
	head -n 1 || true)
after=$(find demo-data/outbox/new -type f | wc -l)
printf '\ndemo: the new item went out as an alert: %s messages; the first one:\n\n' \
	"$((after - before))"
[ -n "$alert" ] && sed -n '1,12p;/^Content-Type: text\/plain/,/^--/p' "$alert" | head -n 60
# A period ends before its last second: let the alert's second pass.
sleep 1
bulletin digest run --now --mode daily
digest=$(grep -l '^To: .*dana.diaz@example.com' $(find demo-data/outbox/new -type f) |
	xargs -r grep -l -i 'digest' | tail -n 1 || true)
printf '\ndemo: Dana takes the list as a daily digest; her digest:\n\n'
[ -n "$digest" ] && sed -n '1,12p;/^Content-Type: text\/plain/,/^--/p' "$digest" | head -n 60
bulletin list create local --name "Harbour Town news" --optin single \
	--description "What happens in town, once a day."
# prefix: how to run commands on the demo's database, said last.
prefix() {
	cat <<MSG
Commands on the demo's database (demo-data/bulletin.db), from this directory$1:
  build/bulletin --config demo-data/bulletin.conf COMMAND
for instance an API token for curl:
  build/bulletin --config demo-data/bulletin.conf token create script --role editor
MSG
}
if [ "${DEMO_SERVE:-1}" = 0 ]; then
	printf '\ndemo: done.\n'
	prefix ""
	exit 0
fi
cat <<MSG

demo: now serving the public pages. Open http://$listen/ in a browser,
subscribe with any address, and the confirmation mail lands in
demo-data/outbox/new/ (the newest file). Open the link in it to confirm.
The archive is at http://$listen/archive, the feeds at /feed.atom and
/feed.json. Ctrl-C stops the server.

The admin UI: http://$listen/admin
  user:     admin
  password: $admin_password
Log in there to create lists, import subscribers, compose a post, send it
and watch it arrive in demo-data/outbox/new/. The JSON API is under
http://$listen/api/v1/ (docs/api.md).

MSG
prefix " (in another terminal while it serves)"
show bulletin --config demo-data/bulletin.conf serve
# Not exec: the sample feed's server stops with it (the trap above).
build/bulletin --config demo-data/bulletin.conf serve
