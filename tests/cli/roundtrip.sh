#!/bin/bash
# What `bulletin export` writes imports back unchanged, in both formats,
# into a fresh database; --output never leaves a half-written file.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
CORPORA=${BL_CORPORA:?}
A=$(new_db)
$B --db "$A" init >/dev/null
$B --db "$A" list create news --name "News" --description "All the news" >/dev/null
$B --db "$A" list create paris --name "Paris" --optin single --private >/dev/null
$B --db "$A" import "$CORPORA/real-exports/tryghost-migrate/mailchimp/subscribed.csv" --list news >/dev/null 2>&1
$B --db "$A" import "$CORPORA/real-exports/tryghost-migrate/mailchimp/cleaned.csv" --list news >/dev/null 2>&1
$B --db "$A" import "$CORPORA/real-exports/listmonk/subs.csv" --list paris >/dev/null 2>&1
$B --db "$A" subscriber add s1@example.com --list paris >/dev/null
$B --db "$A" subscriber add "user@bücher.example" --name 'Ünïcode "quoted", name' >/dev/null
$B --db "$A" subscriber add gone@example.org --name "Gone Soon" --list news >/dev/null
$B --db "$A" subscriber add postmaster@example.org --list paris >/dev/null
$B --db "$A" subscriber rm gone@example.org >/dev/null
cd "$WORK"

expect "export csv" 0 $B --db "$A" export --output all.csv
expect "export json" 0 $B --db "$A" export --format json --output all.json
same "json export is one JSON document" "$(jq -r '.format + " " + (.subscribers | length | tostring)' all.json)" "bulletin 112"
same "full export keeps suppressions and erased consent" "$(jq -c '[(.suppressions | length), (.erased_consent | map(.kind))]' all.json)" '[1,["signup","erase"]]'

C=$(new_db)
$B --db "$C" init >/dev/null
expect_out "restore from JSON: one command, lists included" 0 "^imported 113, updated 0, skipped 0" $B --db "$C" import all.json
expect_out "an erased address stays out after a restore" 2 "erased at its owner's request" $B --db "$C" subscriber add gone@example.org --list news
same "the secret key comes along" "$($B --db "$C" export --format json | head -1 | jq -r .settings.secret_key)" "$(head -1 all.json | jq -r .settings.secret_key)"
run $B --db "$C" export --format json
same "JSON round trip is exact" "$(printf '%s\n' "$OUT" | tail -n +2)" "$(tail -n +2 all.json)"
run $B --db "$C" export
same "CSV of the restored database matches" "$OUT" "$(cat all.csv)"
expect_out "restoring again changes nothing" 0 "^imported 0, updated 0, skipped 113" $B --db "$C" import all.json
run $B --db "$C" export --format json
same "... not even the erased history" "$(printf '%s\n' "$OUT" | tail -n +2)" "$(tail -n +2 all.json)"

D=$(new_db)
$B --db "$D" init >/dev/null
$B --db "$D" list create news --name "News" >/dev/null
$B --db "$D" list create paris --name "Paris" --optin single >/dev/null
expect_out "restore from CSV" 0 "^imported 113, updated 0, skipped 0" $B --db "$D" import all.csv
run $B --db "$D" export
same "CSV round trip is exact" "$OUT" "$(cat all.csv)"

# A backup restored over a database that has moved on follows the ordinary rules.
E=$(new_db)
$B --db "$E" init >/dev/null
$B --db "$E" list create news --name News >/dev/null
$B --db "$E" subscriber add bob@example.org --list news --confirmed >/dev/null
$B --db "$E" export --format json --output bob.json
printf 'email,status\nbob@example.org,unsubscribed\n' > unsub.csv
$B --db "$E" import unsub.csv --list news >/dev/null
$B --db "$E" import bob.json >/dev/null
run $B --db "$E" subscriber show bob@example.org --json
same "restoring an old backup never re-subscribes" "$(printf '%s' "$OUT" | jq -r '.subscriptions[0].status')" "unsubscribed"
printf 'email,list,status,mode,subscriber_status\nbob@example.org,news,confirmed,weekly,active\n' > forged.csv
$B --db "$E" import forged.csv >/dev/null
run $B --db "$E" subscriber show bob@example.org --json
same "... nor does a CSV in bulletin's layout" "$(printf '%s' "$OUT" | jq -c '[.subscriptions[0].status, .subscriptions[0].mode]')" '["unsubscribed","instant"]'
head -n 2 all.json > cut.json
expect_out "a truncated export is refused before anything is written" 2 "ends early.*nothing was imported" $B --db "$E" import cut.json
sed 's/"version":1/"version":7/' all.json > v7.json
expect_out "an export of another version is refused" 2 "version" $B --db "$E" import v7.json
jq . all.json > pretty.json
F=$(new_db)
$B --db "$F" init >/dev/null
expect_out "a pretty-printed export restores too" 0 "^imported 113, updated 0, skipped 0" $B --db "$F" import pretty.json
if [ "$BL_CLI_BACKEND" = sqlite ]; then
	expect_out "export never overwrites the database" 1 "database.s own files" $B --db "$A" export --output "${A#sqlite:}"
	same "database still readable" "$($B --db "$A" list ls --json | jq length)" "2"
	expect_out "... nor its write-ahead log" 1 "database's own files" $B --db "$A" export --output "${A#sqlite:}-wal"
fi

expect "one-list export" 0 $B --db "$A" export --list paris --format json --output paris.json
same "one-list export has only that list" "$(jq -c '[.lists[].slug, ([.subscribers[].subscriptions[].list] | unique)]' paris.json)" '["paris",["paris"]]'
expect_out "export of an unknown list fails" 2 "no list \"nope\"" $B --db "$A" export --list nope --output bad.csv
if [ -e bad.csv ] || ls bad.csv.tmp* >/dev/null 2>&1; then not_ok "no half-written file after a failed export"; else ok "no half-written file after a failed export"; fi
expect_out "bad --format" 1 "--format must be csv or json" $B --db "$A" export --format xml

done_testing
