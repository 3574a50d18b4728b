#!/bin/bash
# Digests from the command line (issue 6), on an injected clock
# (BULLETIN_FAKE_NOW) and a maildir outbox: `subscriber set --mode`,
# `list update --breaking-digest`, `digest run [--now]` and what each
# digest subscriber gets (each of their posts listed once, none of other
# lists, none they got at once, no empty digest, no second digest for a
# period); then a digest run killed with SIGKILL in the middle of its
# delivery and restarted: every digest subscriber has its digest, extra
# copies only for rows in doubt (same Message-ID), and nothing is made twice.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
PY=/usr/bin/python3
DPY=$(cd "$(dirname "$0")" && pwd)/digest.py
cd "$WORK" || exit 1
export BULLETIN_DB=$(new_db)
export BULLETIN_FROM="Newsroom <alerts@news.example>" BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_RELAY="maildir:$WORK/outbox" BULLETIN_TIMEZONE=Europe/Paris
export BULLETIN_DIGEST_TIME=08:00 BULLETIN_DIGEST_WEEKDAY=monday
T0=$(date -u -d 2026-03-27T12:00:00Z +%s) # a Friday, 13:00 CET
at() { export BULLETIN_FAKE_NOW=$((T0 + $1)); }
at 0
$B init >/dev/null
$B list create news --name News >/dev/null
$B list create sport --name Sport >/dev/null
$B list create quiet --name Quiet --breaking-digest off >/dev/null
for u in a b c d w q; do $B subscriber add $u@example.org --confirmed --list news >/dev/null; done
$B subscriber add b@example.org --confirmed --list sport >/dev/null
$B subscriber add s@example.org --confirmed --list sport >/dev/null
$B subscriber add q@example.org --confirmed --list quiet >/dev/null

expect_out "subscriber set --mode daily" 0 "a@example.org gets news in daily mode now \(was instant\)" \
	$B subscriber set a@example.org --list news --mode daily
$B subscriber set b@example.org --list news --mode daily >/dev/null
$B subscriber set b@example.org --list sport --mode daily >/dev/null
$B subscriber set d@example.org --list news --mode daily >/dev/null
$B subscriber set w@example.org --list news --mode weekly >/dev/null
$B subscriber set q@example.org --list quiet --mode daily >/dev/null
$B subscriber set q@example.org --list news --mode daily >/dev/null
expect_out "subscriber set twice: nothing to change" 0 "already gets news in daily mode" \
	$B subscriber set a@example.org --list news --mode daily
run $B subscriber show a@example.org --json
same "the mode is stored" "$(printf '%s' "$OUT" | jq -r '.subscriptions[] | select(.list == "news") | .mode')" daily
same "a preference consent event (source cli)" \
	"$(printf '%s' "$OUT" | jq -c '[.consent[] | select(.kind == "preference") | .source]')" '["cli"]'
expect_fail "subscriber set: a bad mode" "--mode must be instant, daily or weekly" \
	$B subscriber set a@example.org --list news --mode hourly
expect_out "subscriber set: not subscribed to the list" 2 "not subscribed to sport" \
	$B subscriber set a@example.org --list sport --mode daily
expect_out "subscriber set: no such list" 2 "no list nope" \
	$B subscriber set a@example.org --list nope --mode daily
expect_out "subscriber set: no such subscriber" 2 "no subscriber" \
	$B subscriber set zz@example.org --list news --mode daily
run $B list show quiet --json
same "list create --breaking-digest off" "$(printf '%s' "$OUT" | jq -c .breaking_digest)" false
run $B list show news --json
same "breaking_digest is on by default" "$(printf '%s' "$OUT" | jq -c .breaking_digest)" true
expect_fail "list update: a bad --breaking-digest" "must be on or off" \
	$B list update news --breaking-digest maybe

# Posts of the day: started at T0+100.. (Friday afternoon).
printf 'Body of {{subscriber.email}}: the **news**.\n' >body.md
post() { # post AT LIST SUBJECT [--breaking]
	at "$1"
	local id
	id=$($B post create --list "$2" --subject "$3" --body-file body.md ${4:-}) || return 1
	$B post send "$id" --wait >/dev/null 2>&1
}
post 100 news "Storm ahead"
post 200 news "Flood warning" --breaking
post 300 sport "Match report"
post 400 quiet "Quiet breaking" --breaking
post 500 news "Evening edition"
# Storm: c; Flood (breaking): a b c d w q; Match: s; Quiet (breaking_digest off): nobody
# instant; Evening: c.
same "a breaking post goes at once to the digest subscribers (unless breaking_digest is off)" \
	"$(ls outbox/new | wc -l)" 9

at 1000
run $B digest run
same "the first digest run: the last full periods (nothing in them), recorded without a post" \
	"$(printf '%s' "$OUT" | grep -c ': nobody had posts to gather; no digest$')" 2
expect_out "digest run again: nothing due" 0 "^no digest due$" $B digest run
before=$(ls outbox/new | wc -l)
at $((19 * 3600)) # Saturday 28 March 08:00 CET = 07:00Z: the boundary, exactly
run $B digest run --json
same "the daily digest at 08:00 Paris time" \
	"$(printf '%s' "$OUT" | jq -c '[.[] | {mode, period_start, period_end, recipients}]')" \
	'[{"mode":"daily","period_start":"2026-03-27T07:00:00Z","period_end":"2026-03-28T07:00:00Z","recipients":4}]'
$PY "$DPY" outbox summary >summary
same "each digest lists each of its subscriber's posts once, none of other lists, none they got at once" \
	"$(cat summary)" \
	"$(printf 'a@example.org\tdaily\tStorm ahead|Evening edition\nb@example.org\tdaily\tStorm ahead|Match report|Evening edition\nd@example.org\tdaily\tStorm ahead|Evening edition\nq@example.org\tdaily\tStorm ahead|Quiet breaking|Evening edition')"
same "no empty digest: only those four got one" "$(($(ls outbox/new | wc -l) - before))" 4
f=$(grep -l '^To: b@example.org' $(grep -l '^X-Bulletin-Digest: daily' outbox/new/*))
same "List-Id, List-Unsubscribe and one-click like a post" \
	"$(grep -c -e '^List-Unsubscribe: <https://news.example/unsubscribe/' -e '^List-Id: "News" <news\.' -e '^List-Unsubscribe-Post: List-Unsubscribe=One-Click' "$f")" 3
$PY "$DPY" outbox text b@example.org >b.txt
same "each post links to its archive page" \
	"$(grep -c -e '^  https://news.example/archive/[0-9]*-storm-ahead$' -e '^  https://news.example/archive/[0-9]*-match-report$' b.txt)" 2
same "an unsubscribe link per list of the digest" "$(grep -c '^Unsubscribe from \(News\|Sport\): https://news.example/unsubscribe/' b.txt)" 2
same "the period in local time" "$(grep -c '^3 posts since 27 March 2026, 08:00 CET$' b.txt)" 1
expect_out "digest run --now at the same moment: nothing" 0 "^no digest due$" $B digest run --now --mode daily
expect_out "digest run later that day: nothing due" 0 "^no digest due$" \
	env BULLETIN_FAKE_NOW=$((T0 + 20 * 3600)) $B digest run

# Three days without a run; Tuesday 31 March 09:00 CEST: one daily digest gathers them
# (across the change to summer time), and the weekly one (Monday 08:00) its week.
post $((20 * 3600)) news "Saturday news"
post $((2 * 86400 + 17 * 3600)) sport "Monday sport" # Monday 05:00Z, 07:00 CEST
at $((3 * 86400 + 19 * 3600))                         # Tuesday 07:00Z, 09:00 CEST
run $B digest run --json
same "after days down: one daily digest for the whole gap, one weekly" \
	"$(printf '%s' "$OUT" | jq -c '[.[] | {mode, period_start, period_end, recipients}]')" \
	'[{"mode":"daily","period_start":"2026-03-28T07:00:00Z","period_end":"2026-03-31T06:00:00Z","recipients":4},{"mode":"weekly","period_start":"2026-03-23T07:00:00Z","period_end":"2026-03-30T06:00:00Z","recipients":1}]'
same "w's weekly digest" "$($PY "$DPY" outbox summary | grep '^w@' | cut -f2-)" \
	"$(printf 'weekly\tStorm ahead|Evening edition|Saturday news')"
same "b's second daily digest" \
	"$($PY "$DPY" outbox summary | grep -c "$(printf '^b@example.org\tdaily\tSaturday news|Monday sport$')")" 1

# A digest made, then its only post cancelled for some and a subscriber erased: those
# rows end suppressed with the reason, not failed.
post $((3 * 86400 + 19 * 3600 + 10)) sport "Tuesday sport"
at $((3 * 86400 + 19 * 3600 + 20))
tid=$($B post create --list news --subject "Tuesday news" --body-file body.md)
$B post send "$tid" >/dev/null 2>&1 # queued, not delivered
at $((3 * 86400 + 19 * 3600 + 60))
run $B digest run --now --mode daily --no-send --json
id=$(printf '%s' "$OUT" | jq '.[0].post_id')
same "--now --no-send: made, not sent" "$(printf '%s' "$OUT" | jq -c '[.[] | {mode, recipients}]')" '[{"mode":"daily","recipients":4}]'
$B post cancel "$tid" >/dev/null
$B subscriber rm d@example.org >/dev/null
$B send --once >/dev/null 2>&1
run $B post status "$id" --json
same "rows with nothing left, or erased, are suppressed; b still gets Tuesday sport" \
	"$(printf '%s' "$OUT" | jq -c '{status, accepted, suppressed, failed}')" \
	'{"status":"sent","accepted":1,"suppressed":3,"failed":0}'
run $B post deliveries "$id" --state suppressed --json
same "the reasons" "$(printf '%s' "$OUT" | jq -r '.[].reply' | sed 's/ (.*//' | sort | uniq -c | sed 's/^ *//')" \
	"$(printf '2 nothing left in this digest for the subscriber\n1 subscriber erased')"

# ---- a restart in the middle of a digest run ------------------------------------------
export BULLETIN_DB=$(new_db) BULLETIN_RELAY="maildir:$WORK/outbox2" BULLETIN_CONCURRENCY=8
N=${BL_DIGEST_N:-3000}
at 0
$B init >/dev/null
$B list create news --name News --optin single >/dev/null
awk -v n="$N" 'BEGIN { print "email"; for (i = 0; i < n; i++) printf "reader%05d@example.org\n", i }' >subs.csv
$B import subs.csv --list news --confirmed --quiet >/dev/null 2>&1
if [ "$BL_CLI_BACKEND" = postgres ]; then
	psql -q "$BULLETIN_DB" -c "UPDATE subscriptions SET mode = 'daily'" >/dev/null
else
	sqlite3 "${BULLETIN_DB#sqlite:}" "UPDATE subscriptions SET mode = 'daily'"
fi
post 100 news "One"
post 200 news "Two"
at 1000
$B digest run --now >run1.out 2>run1.err &
PID=$!
for _ in $(seq 1 400); do
	n=$(ls outbox2/new 2>/dev/null | wc -l)
	[ "$n" -ge $((N / 5)) ] && break
	sleep 0.02
done
kill -9 $PID 2>/dev/null
wait $PID 2>/dev/null
got=$(ls outbox2/new 2>/dev/null | wc -l)
if [ "$got" -gt 0 ] && [ "$got" -lt "$N" ]; then ok "killed in the middle ($got of $N digests written)"; else not_ok "killed in the middle" "$got of $N written"; fi
# The restart, later (the dead run's claims have outlived their lease: PostgreSQL takes
# them back only then; SQLite's one engine takes them all back at start).
at 2000
expect_out "digest run after the crash makes nothing new" 0 "^no digest due$" $B digest run
$B send --once >send.out 2>send.err
q="SELECT id || ' ' || status || ' ' || total || ' ' || in_doubt FROM posts WHERE kind = 'digest' ORDER BY id"
if [ "$BL_CLI_BACKEND" = postgres ]; then rows=$(psql -At "$BULLETIN_DB" -c "$q"); else rows=$(sqlite3 "${BULLETIN_DB#sqlite:}" "$q"); fi
read -r _ dstatus dtotal indoubt <<<"$(printf '%s\n' "$rows" | awk -v n="$N" '$3 == n' | head -1)"
same "the digest is sent to all $N" "$dstatus $dtotal" "sent $N"
$PY "$DPY" outbox2 count >counts
same "every digest subscriber got it" "$(wc -l <counts)" "$N"
extra=$(awk -F'\t' '{ s += $2 - 1 } END { print s + 0 }' counts)
if [ "$extra" -le "${indoubt:-0}" ] && [ "$extra" -le 8 ]; then
	ok "extra copies ($extra) only for rows in doubt (${indoubt:-0}), at most concurrency"
else
	not_ok "extra copies only for rows in doubt" "extra $extra, in doubt ${indoubt:-?}"
fi
same "copies of one digest share its Message-ID" "$($PY "$DPY" outbox2 ids | awk -F'\t' '$2 != 1' | wc -l)" 0
same "one digest post (daily); the weekly period, empty, recorded without one" \
	"$(printf '%s\n' "$rows" | wc -l)" 1
q="SELECT count(*) FROM digests WHERE post_id IS NULL"
if [ "$BL_CLI_BACKEND" = postgres ]; then empty=$(psql -At "$BULLETIN_DB" -c "$q"); else empty=$(sqlite3 "${BULLETIN_DB#sqlite:}" "$q"); fi
same "the empty weekly period is recorded" "$empty" 1
done_testing
