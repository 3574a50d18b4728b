#!/bin/bash
# bulletin list create|ls|show|rm, text and --json, and their errors.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
$B init >/dev/null

expect_out "create a double opt-in list" 0 "created list news \(double opt-in, public\)" $B list create news --name "Newsroom alerts" --description "Breaking news, as it happens"
expect_out "create a single opt-in private list" 0 "single opt-in, private" $B list create paris --name "Paris" --optin single --private
expect_out "duplicate slug refused" 2 "slug \"news\" already exists" $B list create news --name Other
expect_out "invalid slug refused" 2 "invalid list slug \"Big News\"" $B list create "Big News" --name X
expect_out "slug too long refused" 2 "invalid list slug" $B list create "$(printf 'a%.0s' $(seq 65))" --name X
expect_out "--name is required" 1 "needs --name" $B list create sports
expect_out "empty name refused" 2 "--name must not be empty" $B list create sports --name ""
expect_out "bad --optin" 1 "--optin must be double or single" $B list create sports --name S --optin triple
expect_out "control character in name refused" 2 "control character" $B list create sports --name "$(printf 'a\tb')"
expect_out "ls shows both lists" 0 "news +Newsroom alerts +double public" $B list ls

$B subscriber add a@example.org --list news --confirmed >/dev/null
$B subscriber add b@example.org --list news >/dev/null
$B subscriber add c@example.org --list news --confirmed >/dev/null
run $B list show news --json
same "show --json has the documented shape" \
	"$(printf '%s' "$OUT" | jq -c '{slug,name,optin,visibility,counts}')" \
	'{"slug":"news","name":"Newsroom alerts","optin":"double","visibility":"public","counts":{"unconfirmed":1,"confirmed":2,"unsubscribed":0}}'
run $B list ls --json
same "ls --json is one array" "$(printf '%s' "$OUT" | jq -c '[.[] | .slug]')" '["news","paris"]'
expect_out "show text" 0 "confirmed: +2" $B list show news
expect_out "show unknown list" 2 "no list \"nope\"" $B list show nope
expect_out "rm reports the subscriptions it removed" 0 "removed list paris and its 0 subscriptions" $B list rm paris
expect_out "rm unknown list" 2 "no list \"paris\"" $B list rm paris
expect_out "rm keeps consent history" 0 "removed list news and its 3 subscriptions" $B list rm news
run $B subscriber show a@example.org --json
same "consent events survive list removal" "$(printf '%s' "$OUT" | jq -c '[.consent[] | .kind]')" '["signup"]'
same "subscriptions are gone" "$(printf '%s' "$OUT" | jq -c '.subscriptions')" '[]'

done_testing
