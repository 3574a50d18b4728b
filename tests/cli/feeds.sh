#!/bin/bash
# bulletin feed add|ls|rm|poll against a local fixture HTTP server
# (tests/feed/fixture_server.py on 127.0.0.1): the private-address guard,
# the first poll marking items seen (and --backfill), conditional GET
# (304), a new item becoming a post that reaches the instant subscribers,
# an item edited after it was first seen (no second post), sanitised item
# HTML, failures (HTTP error, not a feed, too large, too slow) recorded
# with back-off while the feed keeps its state, redirects, mode draft,
# breaking feeds, removal, and bad input. The clock is BULLETIN_FAKE_NOW.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
PY=/usr/bin/python3
DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_RELAY="maildir:$WORK/outbox"
NOW=1800000000 # 2027-01-15T08:00:00Z
export BULLETIN_FAKE_NOW=$NOW
$B init >/dev/null
$B list create news --name "News" --optin single >/dev/null
$B list create town --name "Town" --optin single >/dev/null
printf 'email,name\nann@example.org,Ann\nben@example.org,Ben\n' >"$WORK/subs.csv"
$B import "$WORK/subs.csv" --list news --confirmed >/dev/null 2>&1
outbox() { find "$WORK/outbox/new" -type f 2>/dev/null | wc -l | tr -d ' '; }

# ---- the fixture server ----
mkdir -p "$WORK/feeds"
$PY "$BL_SOURCE_ROOT/tests/feed/fixture_server.py" --root "$WORK/feeds" \
	--port-file "$WORK/port" 2>"$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")
BASE="http://127.0.0.1:$PORT"

# item GUID TITLE DESCRIPTION [PUBDATE]
item() {
	printf '<item><guid isPermaLink="false">%s</guid><title>%s</title>' "$1" "$2"
	printf '<link>https://news.example/%s</link><description>%s</description>' "$1" "$3"
	printf '<pubDate>%s</pubDate></item>\n' "${4:-Fri, 15 Jan 2027 07:00:00 GMT}"
}
# write_feed FILE MTIME ITEMS...: an RSS 2.0 document, newest item first.
write_feed() {
	local f=$1 mtime=$2
	shift 2
	{
		printf '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
		printf '<title>Town Hall News</title><link>https://news.example/</link>\n'
		printf '%s\n' "$@"
		printf '</channel></rss>\n'
	} >"$WORK/feeds/$f"
	touch -d "@$mtime" "$WORK/feeds/$f"
}
write_feed town.rss 1700000000 \
	"$(item a3 'Third' '&lt;p&gt;three&lt;/p&gt;' 'Fri, 15 Jan 2027 06:00:00 GMT')" \
	"$(item a2 'Second' 'two' 'Thu, 14 Jan 2027 06:00:00 GMT')" \
	"$(item a1 'First' 'one' 'Wed, 13 Jan 2027 06:00:00 GMT')"
log_count() { curl -s "$BASE/_log" | jq "[.[] | select(.path == \"$1\")] | length"; }

# ---- bad input ----
expect_out "add without --list" 1 "needs --list" $B feed add "$BASE/f/town.rss"
expect_out "add an ftp URL" 2 "http or https" $B feed add ftp://example.org/feed --list news
expect_out "add a relative URL" 2 "not an absolute URL" $B feed add /feed.xml --list news
expect_out "add with a space in the URL" 2 "space" $B feed add "http://example.org/a b" --list news
expect_out "add to an unknown list" 2 'no list "nope"' $B feed add "$BASE/f/town.rss" --list nope
expect_out "--every below a minute" 1 "--every must be" $B feed add "$BASE/f/town.rss" --list news --every 5s
expect_out "--mode other" 1 "--mode must be send or draft" $B feed add "$BASE/f/town.rss" --list news --mode mail
expect_out "--backfill negative" 1 "--backfill must be" $B feed add "$BASE/f/town.rss" --list news --backfill -1
expect_out "ls with no feed" 0 "no feeds yet" $B feed ls
same "nothing added by the refusals" "$($B feed ls --json | jq length)" 0

# ---- add, and the private-address guard ----
expect_out "add" 0 "added feed 1: .*town.rss" $B feed add "$BASE/f/town.rss" --list news --every 10m
expect_out "the same URL twice" 2 "already a feed with URL" $B feed add "$BASE/f/town.rss" --list town
for other in "HTTP://127.0.0.1:$PORT/f/town.rss" "$BASE/f/town.rss#again" "$BASE/f/../f/town.rss" "$BASE/f/town.rss?"; do
	expect_out "the same URL spelt otherwise: $other" 2 "already a feed with URL" $B feed add "$other" --list town
done
expect_out "a URL with a password is refused" 2 "user name or password" \
	$B feed add "http://user:secret@127.0.0.1:$PORT/f/town.rss" --list town
run $B feed ls --json
same "ls --json" "$(printf '%s' "$OUT" | jq -c '.[0] | [.id, .lists, .mode, .every, .breaking, .backfill, .failures, .last_ok_at]')" \
	'[1,["news"],"send",600,false,0,0,null]'
expect_out "a loopback feed is refused without feed_allow_private" 2 "loopback.*feed_allow_private" $B feed poll 1
same "the refusal sent no request" "$(log_count /f/town.rss)" 0
run $B feed ls --json
same "the failure is recorded, with back-off" "$(printf '%s' "$OUT" | jq -c '.[0] | [.failures, (.last_error | test("loopback")), .next_poll_at]')" \
	'[1,true,"2027-01-15T08:20:00Z"]'
expect_out "ls shows the last error" 0 "failing \(1 in a row\): .*loopback" $B feed ls
export BULLETIN_FEED_ALLOW_PRIVATE=on
expect_out "backing off: not due" 0 "no feed is due" $B feed poll

# ---- first poll: the items there are marked seen, no backlog ----
expect_out "first poll" 0 "feed 1: 3 items, 3 new, 0 posts made" $B feed poll 1
same "no post from the first poll" "$($B post ls --json | jq length)" 0
run $B feed ls --json
same "ok: failures reset, title, items" "$(printf '%s' "$OUT" | jq -c '.[0] | [.failures, .last_error, .title, .items, .posts, .last_ok_at]')" \
	'[0,"","Town Hall News",3,0,"2027-01-15T08:00:00Z"]'

# ---- conditional GET ----
export BULLETIN_FAKE_NOW=$((NOW + 600))
expect_out "unchanged feed: 304" 0 "feed 1: not modified" $B feed poll
same "the second request was conditional" "$(curl -s "$BASE/_log" | jq -r '[.[] | select(.path == "/f/town.rss")][1] | [.["If-None-Match"] != null, .status] | @csv')" 'true,304'

# ---- a new item becomes a post for the instant subscribers ----
write_feed town.rss 1700000100 \
	"$(item a4 'Road closed on  Main&#160;Street' '&lt;p&gt;Works &lt;b&gt;today&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=&quot;http://track.example/x.gif&quot; onerror=&quot;alert(2)&quot;&gt;&lt;a href=&quot;javascript:alert(3)&quot;&gt;x&lt;/a&gt;&lt;/p&gt;' 'Fri, 15 Jan 2027 07:30:00 GMT')" \
	"$(item a3 'Third' '&lt;p&gt;three&lt;/p&gt;' 'Fri, 15 Jan 2027 06:00:00 GMT')" \
	"$(item a2 'Second' 'two' 'Thu, 14 Jan 2027 06:00:00 GMT')" \
	"$(item a1 'First' 'one' 'Wed, 13 Jan 2027 06:00:00 GMT')"
export BULLETIN_FAKE_NOW=$((NOW + 1200))
expect_out "a new item: one post" 0 "feed 1: 4 items, 1 new, 1 posts made" $B feed poll
run $B post show 1 --json
same "the post: the title as subject, queued at once" "$(printf '%s' "$OUT" | jq -c '[.subject, .status, .lists]')" \
	'["Road closed on Main Street","sending",["news"]]'
BODY=$(printf '%s' "$OUT" | jq -r .body)
case "$BODY" in *"<script"* | *onerror* | *"javascript:"* | *"http://track.example"*) not_ok "the body is sanitised" "$BODY" ;; *) ok "the body is sanitised" ;; esac
case "$BODY" in *"<b>today</b>"*'href="https://news.example/a4"'*"Read more"*) ok "the body keeps the markup and links the item" ;; *) not_ok "the body keeps the markup and links the item" "$BODY" ;; esac
expect_out "send delivers it" 0 "accepted 2" $B send --once
same "two messages" "$(outbox)" 2
MSG=$(find "$WORK/outbox/new" -type f | head -1)
if grep -q "^Subject: Road closed on Main Street" "$MSG" && grep -q "news.example/a4" "$MSG"; then
	ok "the message has the subject and the read-more link"
else
	not_ok "the message has the subject and the read-more link" "$(head -40 "$MSG")"
fi
if grep -qi "<script\|javascript:" "$MSG"; then not_ok "no script in the message" "$(cat "$MSG")"; else ok "no script in the message"; fi

# ---- an item edited after it was first seen is not sent again ----
write_feed town.rss 1700000200 \
	"$(item a4 'Road closed on Main Street (updated)' 'changed' 'Fri, 15 Jan 2027 07:45:00 GMT')" \
	"$(item a3 'Third' '&lt;p&gt;three&lt;/p&gt;' 'Fri, 15 Jan 2027 06:00:00 GMT')"
export BULLETIN_FAKE_NOW=$((NOW + 1800))
expect_out "an edited item is not new" 0 "feed 1: 2 items, 0 new, 0 posts made" $B feed poll
same "still one post" "$($B post ls --json | jq length)" 1

# ---- a document cut short: its last item waits for the next poll ----
write_feed town.rss 1700000300 \
	"$(item a6 'Six' 'six' 'Fri, 15 Jan 2027 07:50:00 GMT')" \
	"$(item a5 'Five' 'five' 'Fri, 15 Jan 2027 07:40:00 GMT')"
head -c -40 "$WORK/feeds/town.rss" >"$WORK/cut" && mv "$WORK/cut" "$WORK/feeds/town.rss"
touch -d @1700000300 "$WORK/feeds/town.rss"
export BULLETIN_FAKE_NOW=$((NOW + 1900))
expect_out "a cut document: the complete item only" 0 "feed 1: 2 items, 1 new, 1 posts made" $B feed poll 1
write_feed town.rss 1700000400 \
	"$(item a6 'Six' 'six' 'Fri, 15 Jan 2027 07:50:00 GMT')" \
	"$(item a5 'Five' 'five' 'Fri, 15 Jan 2027 07:40:00 GMT')"
expect_out "whole again: the last item now" 0 "feed 1: 2 items, 1 new, 1 posts made" $B feed poll 1
same "each once, whole" "$($B post ls --json | jq -c '[.[] | .subject] | sort')" '["Five","Road closed on Main Street","Six"]'

# ---- failures keep the state and back off ----
printf '<html><body>We moved!</body></html>\n' >"$WORK/feeds/town.rss"
export BULLETIN_FAKE_NOW=$((NOW + 2400))
expect_out "an HTML page is not a feed" 2 "failed: this is a web page .*, not a feed" $B feed poll 1
run $B feed ls --json
same "failure 1: recorded, 20 min back-off, items kept" "$(printf '%s' "$OUT" | jq -c '.[0] | [.failures, (.last_error | test("web page.*not a feed")), .next_poll_at, .items, .posts]')" \
	'[1,true,"2027-01-15T09:00:00Z",6,3]'
# (ids from --json: a refused add may use up an id on PostgreSQL)
F=$($B feed add "$BASE/status/503" --list news --every 1m --json | jq .id)
expect_out "HTTP 503" 2 "failed: .*503" $B feed poll "$F"
expect_out "second failure" 2 "failed: .*503" $B feed poll "$F"
same "back-off doubles: 2 min after 1, 4 min after 2" "$($B feed ls --json | jq -r ".[] | select(.id == $F) | [.failures, .next_poll_at] | @csv")" '2,"2027-01-15T08:44:00Z"'
F=$($B feed add "$BASE/big/200000" --list news --json | jq .id)
expect_out "too large" 2 "failed: .*(limit|larger|feed_max_size)" env BULLETIN_FEED_MAX_SIZE=4096 $B feed poll "$F"
write_feed slow.rss 1700000000 "$(item s1 'Slow' 'slow')"
F=$($B feed add "$BASE/slow/6/slow.rss" --list news --json | jq .id)
START=$(date +%s)
expect_out "too slow" 2 "failed: .*(time|slow)" env BULLETIN_FEED_TIMEOUT=1 $B feed poll "$F"
same "the timeout was kept (under 4 s)" "$(($(date +%s) - START < 4))" 1

# ---- a first poll must read the whole feed ----
F=$($B feed add "$BASE/status/304" --list news --json | jq .id)
expect_out "304 to a first request: a failure, not 'not modified'" 2 "304 Not Modified to a first request" $B feed poll "$F"
same "still never read" "$($B feed ls --json | jq -c ".[] | select(.id == $F) | [.last_ok_at, .failures]")" '[null,1]'
write_feed cut.rss 1700000000 \
	"$(item c3 'C three' 'x' 'Fri, 15 Jan 2027 06:00:00 GMT')" \
	"$(item c2 'C two' 'x' 'Thu, 14 Jan 2027 06:00:00 GMT')" \
	"$(item c1 'C one' 'x' 'Wed, 13 Jan 2027 06:00:00 GMT')"
cp "$WORK/feeds/cut.rss" "$WORK/whole.rss"
head -c -120 "$WORK/whole.rss" >"$WORK/feeds/cut.rss"
F=$($B feed add "$BASE/f/cut.rss" --list news --json | jq .id)
expect_out "a cut first document is a failure" 2 "stops before its end.*first poll reads the whole feed" $B feed poll "$F"
cp "$WORK/whole.rss" "$WORK/feeds/cut.rss"
touch -d @1700000500 "$WORK/feeds/cut.rss"
expect_out "whole: every item marked seen, no backlog" 0 "feed $F: 3 items, 3 new, 0 posts made" $B feed poll "$F"

# ---- redirects, backfill, draft mode, breaking ----
write_feed other.rss 1700000000 \
	"$(item b3 'B three' 'x' 'Fri, 15 Jan 2027 06:00:00 GMT')" \
	"$(item b2 'B two' 'x' 'Thu, 14 Jan 2027 06:00:00 GMT')" \
	"$(item b1 'B one' 'x' 'Wed, 13 Jan 2027 06:00:00 GMT')"
run $B feed add "$BASE/r/2/other.rss" --list news --list town --backfill 2 --mode draft --breaking --json
same "add with backfill, draft mode, breaking, two lists" "$RC" 0
F=$(printf '%s' "$OUT" | jq .id)
N0=$($B post ls --json | jq length)
expect_out "a first poll through two redirects, backfill 2" 0 "feed $F: 3 items, 3 new, 2 posts made" $B feed poll "$F"
run $B post ls --json
same "the two newest, as breaking drafts, oldest first" "$(printf '%s' "$OUT" | jq -c '[.[] | select(.subject | startswith("B "))] | sort_by(.id) | map([.subject, .status, .priority])')" \
	'[["B two","draft","breaking"],["B three","draft","breaking"]]'

# ---- remove ----
expect_out "rm" 0 "removed feed $F" $B feed rm "$F"
expect_out "rm again" 2 "no feed $F" $B feed rm "$F"
expect_out "rm a bad id" 1 "not a feed id" $B feed rm x
same "its posts stay" "$($B post ls --json | jq length)" "$((N0 + 2))"
expect_out "poll an unknown feed" 2 "no feed 99" $B feed poll 99
run $B audit --json
same "audited" "$(printf '%s' "$OUT" | jq -c '[.[] | .action | select(startswith("feed."))] | sort | unique')" '["feed.add","feed.rm"]'

done_testing
