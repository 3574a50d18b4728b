#!/bin/bash
# The whole flow of issue 6, unattended in `bulletin serve`: a feed item
# appears -> serve's poller makes a post -> the engine sends it to the
# instant subscribers -> the daily subscriber gets it in the next digest,
# once. Then serve is killed (-9) and restarted: no item is missed or sent
# again, and a second digest run makes nothing. Real time (serve's poller
# and engine run on the wall clock); a feed's next poll is brought forward
# in the database instead of waiting its interval.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
PY=/usr/bin/python3
DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_RELAY="maildir:$WORK/outbox"
export BULLETIN_FEED_ALLOW_PRIVATE=on
$B init >/dev/null
$B list create news --name "News" --optin single >/dev/null
printf 'email,name\nann@example.org,Ann\nben@example.org,Ben\n' >"$WORK/subs.csv"
$B import "$WORK/subs.csv" --list news --confirmed >/dev/null 2>&1
$B subscriber set ben@example.org --list news --mode daily >/dev/null
outbox() { find "$WORK/outbox/new" -type f 2>/dev/null | wc -l | tr -d ' '; }
to() { grep -l "^To: .*<$1>" $(find "$WORK/outbox/new" -type f 2>/dev/null) /dev/null 2>/dev/null | wc -l | tr -d ' '; }
sql() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then psql -qAt "$DB" -c "$1"; else sqlite3 "${DB#sqlite:}" "$1"; fi
}

mkdir -p "$WORK/feeds"
$PY "$BL_SOURCE_ROOT/tests/feed/fixture_server.py" --root "$WORK/feeds" --port-file "$WORK/port" \
	2>"$WORK/fixture.log" &
FIXTURE=$!
SERVE=""
trap 'kill $FIXTURE $SERVE 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
BASE="http://127.0.0.1:$(cat "$WORK/port")"
write_feed() {
	{
		printf '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>Town</title>\n'
		printf '<link href="https://town.example/"/><id>urn:town</id><updated>2027-01-01T00:00:00Z</updated>\n'
		for id in "$@"; do
			printf '<entry><id>urn:town:%s</id><title>Item %s</title>' "$id" "$id"
			printf '<link href="/items/%s"/><updated>2027-01-01T00:00:00Z</updated>' "$id"
			printf '<content type="html">&lt;p&gt;Body of %s&lt;/p&gt;</content></entry>\n' "$id"
		done
		printf '</feed>\n'
	} >"$WORK/feeds/town.atom.tmp"
	mv "$WORK/feeds/town.atom.tmp" "$WORK/feeds/town.atom"
}
write_feed 2 1
$B feed add "$BASE/f/town.atom" --list news --every 1h >/dev/null

start_serve() {
	$B serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
	SERVE=$!
}
start_serve
wait_for "serve polls the new feed by itself" 20 \
	sh -c "$B feed ls --json | jq -e '.[0].last_ok_at != null'"
same "the first poll marked the two items seen, no post" "$($B feed ls --json | jq -c '.[0] | [.items, .posts]')" '[2,0]'
same "nothing sent" "$(outbox)" 0

# an item appears
write_feed 3 2 1
sql "UPDATE feeds SET next_poll_at = 0" >/dev/null
wait_for "the new item is sent to the instant subscriber" 30 sh -c "[ \$(grep -l '^Subject: Item 3' $WORK/outbox/new/* 2>/dev/null | wc -l) -ge 1 ]"
sleep 1
same "ann (instant) got it; ben (daily) did not" "$(to ann@example.org),$(to ben@example.org)" "1,0"
same "one post" "$($B post ls --json | jq -c '[.[] | .subject]')" '["Item 3"]'

# kill -9 and restart: nothing repeated, nothing missed
kill -9 "$SERVE"
wait "$SERVE" 2>/dev/null
write_feed 4 3 2 1
start_serve
sql "UPDATE feeds SET next_poll_at = 0" >/dev/null
wait_for "after a restart the next item is sent" 30 sh -c "[ \$(grep -l '^Subject: Item 4' $WORK/outbox/new/* 2>/dev/null | wc -l) -ge 1 ]"
sql "UPDATE feeds SET next_poll_at = 0" >/dev/null
sleep 3
same "each item once: two posts, two messages to ann" "$($B post ls --json | jq -c '[.[] | .subject] | sort'),$(to ann@example.org)" '["Item 3","Item 4"],2'

# the digest: ben gets both items in one message, once
sleep 1
run $B digest run --now --mode daily --json
same "digest run --now makes one daily digest for one recipient" "$RC,$(printf '%s' "$OUT" | jq -c '[.[] | .recipients]')" '0,[1]'
wait_for "ben's digest arrives" 20 sh -c "[ \$(grep -l '^To: .*<ben@example.org>' $WORK/outbox/new/* 2>/dev/null | wc -l) -ge 1 ]"
DIGEST=$(grep -l '^To: .*<ben@example.org>' "$WORK"/outbox/new/*)
same "one message to ben" "$(printf '%s\n' "$DIGEST" | wc -l | tr -d ' ')" 1
if grep -q 'Item 3' "$DIGEST" && grep -q 'Item 4' "$DIGEST"; then ok "the digest lists both items"; else not_ok "the digest lists both items" "$(cat "$DIGEST")"; fi
same "ann got no digest (instant)" "$(to ann@example.org)" 2
run $B digest run --now --mode daily --json
same "a second run makes no digest with recipients" "$(printf '%s' "$OUT" | jq -c '[.[] | .recipients] | add // 0')" 0
sleep 2
same "still one message to ben" "$(to ben@example.org)" 1

kill "$SERVE"
wait "$SERVE"
same "serve stops cleanly on SIGTERM" "$?" 0
SERVE=""
done_testing
