#!/bin/bash
# bulletin subscriber add|show|ls|rm: one address, any case, never
# duplicated; erasure leaves only a hash.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
$B init >/dev/null
$B list create news --name News >/dev/null
$B list create paris --name Paris --optin single >/dev/null

expect_out "add to two lists" 0 "Jane@example.org subscribed to: news" $B subscriber add Jane@Example.org --name "Jane Doe" --list news --list paris
run $B subscriber show jane@example.org --json
same "double opt-in list: unconfirmed; single: confirmed" \
	"$(printf '%s' "$OUT" | jq -c '[.subscriptions[] | .list + ":" + .status]')" '["news:unconfirmed","paris:confirmed"]'
X
expect_out "same address, other case: not duplicated" 0 "already on: news" $B subscriber add JANE@EXAMPLE.ORG --list news
expect_out "--confirmed confirms an unconfirmed subscription" 0 "updated on: news" $B subscriber add jane@example.org --list news --confirmed
run $B subscriber show jane@example.org --json
same "now confirmed, with a confirm event" "$(printf '%s' "$OUT" | jq -c '[.subscriptions[0].status, ([.consent[] | select(.kind=="confirm")] | length)]')" '["confirmed",1]'
expect_out "IDN domain shown as U-label" 0 "^user@bücher.example subscribed to: news" $B subscriber add "user@bücher.example" --list news
run $B subscriber show user@xn--bcher-kva.example --json
same "A-label lookup finds it" "$(printf '%s' "$OUT" | jq -r '.email + " " + .display')" "user@xn--bcher-kva.example user@bücher.example"
expect_out "invalid address" 2 "invalid address \"not-an-address\"" $B subscriber add not-an-address
expect_out "zero-width space refused" 2 "U\+200B" $B subscriber add "$(printf 'a\xe2\x80\x8bb@example.org')"
expect_out "unknown list" 2 "no list \"nope\"" $B subscriber add x@example.org --list nope
expect_out "show unknown subscriber" 2 "no subscriber x@example.org" $B subscriber show x@example.org

for i in 1 2 3 4 5; do $B subscriber add "p$i@example.org" --list paris >/dev/null; done
run $B subscriber ls --list paris --status confirmed --json
same "ls by list and status" "$(printf '%s' "$OUT" | jq -r 'length')" "6"
run $B subscriber ls --limit 2 --json
AFTER=$(printf '%s' "$OUT" | jq -r '.[-1].id')
run $B subscriber ls --after "$AFTER" --limit 100 --json
same "keyset pages cover everything once" "$(( AFTER + $(printf '%s' "$OUT" | jq length) ))" "7"
expect_out "--status confirmed needs --list" 1 "give --list too" $B subscriber ls --status confirmed
expect_out "unknown --status" 1 "unknown --status" $B subscriber ls --status happy

# Erasure: the subscriber, subscriptions and personal data in events go; a hash stays.
$B subscriber add erase.me@example.org --name "Eve Secret" --list news >/dev/null
expect_out "rm erases" 0 "erased erase.me@example.org" $B subscriber rm Erase.Me@example.org
expect_out "gone afterwards" 2 "no subscriber" $B subscriber show erase.me@example.org
expect_out "re-adding an erased address needs new consent" 2 "erased at its owner's request" $B subscriber add erase.me@example.org --list news
printf 'email,name\nerase.me@example.org,Eve Secret\n' > "$WORK/again.csv"
expect_out "an import cannot bring it back" 0 "skipped 1 \(invalid 0, duplicate 0, suppressed 1\)" $B import "$WORK/again.csv" --list news --confirmed
run $B export --format json
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q '"format":"bulletin"' &&
	! printf '%s' "$OUT" | grep -qi "erase.me\|Eve Secret"; then
	ok "no trace in the export"
else
	not_ok "no trace in the export" "exit $RC" "$OUT"
fi
if [ "$BL_CLI_BACKEND" = sqlite ]; then
	F=${DB#sqlite:}
	sqlite3 "$F" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
	if grep -aqi "erase.me\|Eve Secret" "$F"; then not_ok "no trace in the database file"; else ok "no trace in the database file"; fi
	same "erase event recorded" "$(sqlite3 "$F" "SELECT count(*) FROM consent_events WHERE kind='erase' AND subscriber_id IS NULL")" "1"
	expect_fail "consent events are append-only" "append-only" sqlite3 "$F" "DELETE FROM consent_events"
else
	run psql -At "$DB" -c "SELECT count(*) FROM subscribers WHERE email ILIKE '%erase.me%' OR name LIKE '%Secret%'"
	same "no trace in the database" "$OUT" "0"
	run psql -At "$DB" -c "SELECT count(*) FROM consent_events WHERE kind='erase' AND subscriber_id IS NULL"
	same "erase event recorded" "$OUT" "1"
	expect_fail "consent events are append-only" "append-only" psql -v ON_ERROR_STOP=1 "$DB" -c "DELETE FROM consent_events"
fi
expect_out "rm unknown" 2 "no subscriber" $B subscriber rm nobody@example.org

done_testing
