#!/bin/bash
# bulletin post create|ls|show|preview|send|status|pause|resume|cancel and
# bulletin send, delivering into a maildir outbox: who gets a copy, input
# checks at create time, state changes, and the one-engine rule on SQLite.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_RELAY="maildir:$WORK/outbox"
$B init >/dev/null
$B list create news --name "Newsroom alerts" >/dev/null
$B list create local --name "Local" --optin single >/dev/null
T=2026-01-01T00:00:00Z
cat >"$WORK/subs.csv" <<CSV
email,name,attributes,subscriber_status,status_reason,created_at,list,status,mode,subscribed_at
ann@example.org,Ann,"{""city"":""Lisbon""}",active,,$T,news,confirmed,instant,$T
ben@example.org,Ben,{},active,,$T,news,confirmed,instant,$T
ben@example.org,Ben,{},active,,$T,local,confirmed,instant,$T
cat@example.org,Cat,{},active,,$T,news,unconfirmed,instant,$T
dan@example.org,Dan,{},active,,$T,news,unsubscribed,instant,$T
eve@example.org,Eve,{},active,,$T,news,confirmed,daily,$T
fay@example.org,Fay,{},blocklisted,bounced,$T,news,confirmed,instant,$T
gus@example.org,"Gus ""the Bus"" Øster",{},active,,$T,local,confirmed,instant,$T
CSV
$B import "$WORK/subs.csv" >/dev/null 2>&1
printf '# Hello {{subscriber.name}}\n\nYou live in {{subscriber.attributes.city}}.\n[Leave]({{unsubscribe_url}})\n' >"$WORK/body.md"

# ---- create: input checks ----
expect_out "create prints the new id" 0 "^1$" $B post create --list news --list local --subject "First post" --body-file "$WORK/body.md"
expect_out "subject with a line break refused at create" 2 "line break" $B post create --list news --subject "$(printf 'a\r\nBcc: x@example.org')" --body-file "$WORK/body.md"
expect_out "subject with NUL-free control char refused" 2 "control character" $B post create --list news --subject "$(printf 'a\tb')" --body-file "$WORK/body.md"
expect_out "subject with a C1 control (U+0085) refused" 2 "control character" $B post create --list news --subject "$(printf 'a\302\205b')" --body-file "$WORK/body.md"
expect_out "subject with U+2028 refused" 2 "control character" $B post create --list news --subject "$(printf 'a\342\200\250b')" --body-file "$WORK/body.md"
expect_out "empty subject refused" 2 "must not be empty" $B post create --list news --subject "" --body-file "$WORK/body.md"
expect_out "unknown list refused" 2 "no list \"nope\"" $B post create --list nope --subject S --body-file "$WORK/body.md"
expect_out "missing body file" 2 "cannot read" $B post create --list news --subject S --body-file "$WORK/missing.md"
printf 'caf\xe9\n' >"$WORK/latin1.md"
expect_out "Latin-1 body refused" 2 "not UTF-8" $B post create --list news --subject S --body-file "$WORK/latin1.md"
printf 'Hello {{#subscriber.name}}unclosed\n' >"$WORK/bad.md"
expect_out "template syntax error refused with its line" 2 "bad.md:1" $B post create --list news --subject S --body-file "$WORK/bad.md"
expect_out "malformed --from refused" 2 "--from" $B post create --list news --subject S --body-file "$WORK/body.md" --from "Name <not-an-address>"
expect_out "--from with a line break refused" 2 "line break" $B post create --list news --subject S --body-file "$WORK/body.md" --from "$(printf 'A <a@b.example>\nBcc: c@d.example')"
expect_out "missing --subject is a usage error" 1 "needs --list" $B post create --list news --body-file "$WORK/body.md"

# ---- ls / show / preview ----
expect_out "ls lists the draft" 0 "1 +draft +normal" $B post ls
run $B post show 1 --json
same "show --json" "$(printf '%s' "$OUT" | jq -c '{id,status,lists,subject}')" '{"id":1,"status":"draft","lists":["local","news"],"subject":"First post"}'
expect_out "show unknown post" 2 "no post 99" $B post show 99
expect_out "preview text for a subscriber" 0 "You live in Lisbon" $B post preview 1 --to ann@example.org --format text
expect_out "preview html escapes and personalises" 0 "<h1>Hello Ann</h1>" $B post preview 1 --to ANN@example.org --format html
run $B post preview 1 --to ann@example.org
case "$OUT" in *"List-Unsubscribe-Post: List-Unsubscribe=One-Click"*) ok "preview eml carries the one-click header" ;; *) not_ok "preview eml carries the one-click header" "$OUT" ;; esac
expect_out "preview for a non-subscriber refused" 2 "no subscriber" $B post preview 1 --to nobody@example.org
expect_out "preview bad format" 1 "--format must be" $B post preview 1 --format pdf

# ---- send ----
expect_out "send without a sender refused before queueing" 2 "no sender" env BULLETIN_FROM= $B post send 1
expect_out "still a draft after the refused send" 0 "draft" $B post show 1
expect_out "send --wait delivers" 0 "post 1: sent" $B post send 1 --wait
n=$(find "$WORK/outbox/new" -type f | wc -l)
same "one message per confirmed instant active subscriber (ann, ben once, gus)" "$n" 3
run $B post status 1 --json
same "status --json counts" "$(printf '%s' "$OUT" | jq -c '{status,total,accepted,pending,claimed,deferred,failed,suppressed,in_doubt}')" \
	'{"status":"sent","total":3,"accepted":3,"pending":0,"claimed":0,"deferred":0,"failed":0,"suppressed":0,"in_doubt":0}'
same "status --json has every documented key, in order (the API's GET /posts/ID/status too)" "$(printf '%s' "$OUT" | jq -c 'keys_unsorted')" \
	'["id","status","total","pending","claimed","accepted","deferred","failed","suppressed","bounced","complained","in_doubt","rate","started_at","finished_at","pause_reason","eta","bounces"]'
rcpts=$(grep -h '^To:' "$WORK"/outbox/new/* | grep -o '<[^>]*>' | sort | tr '\n' ' ')
case "$rcpts" in *ann@example.org*ben@example.org*gus@example.org*) ok "recipients are ann, ben, gus" ;; *) not_ok "recipients are ann, ben, gus" "$rcpts" ;; esac
run $B post deliveries 1 --json
same "deliveries --json: one accepted row per recipient, with the maildir file as queue id" \
	"$(printf '%s' "$OUT" | jq -c '[.[] | select(.state == "accepted" and (.queue_id | length) > 0)] | length')" 3
expect_out "deliveries --state failed: none" 0 "no deliveries in that state" $B post deliveries 1 --state failed
expect_out "deliveries bad state" 1 "--state must be" $B post deliveries 1 --state lost
expect_out "sending a sent post again is refused" 2 "is sent; it cannot be sent again" $B post send 1
expect_out "pausing a sent post is refused" 2 "cannot pause" $B post pause 1

# ---- pause / resume / cancel / send --once ----
$B post create --list news --subject "Second" --body-file "$WORK/body.md" >/dev/null
expect_out "send without --wait queues" 0 "post 2 queued: 2 deliveries" $B post send 2
expect_out "pause" 0 "post 2 paused" $B post pause 2
expect_out "send --once sends nothing of a paused post" 0 "accepted 0" $B send --once
expect_out "resume" 0 "post 2 sending" $B post resume 2
expect_out "send --once delivers it" 0 "accepted 2" $B send --once
expect_out "post 2 is sent" 0 "post 2: sent" $B post status 2
$B post create --list news --subject "Third" --body-file "$WORK/body.md" >/dev/null
$B post send 3 >/dev/null
expect_out "cancel a queued post" 0 "post 3 cancelled" $B post cancel 3
run $B post status 3 --json
same "cancelled rows are suppressed" "$(printf '%s' "$OUT" | jq -c '{status,suppressed,pending}')" '{"status":"cancelled","suppressed":2,"pending":0}'
expect_out "resume a cancelled post refused" 2 "cannot resume" $B post resume 3

# ---- breaking posts go first ----
$B post create --list news --subject "Normal" --body-file "$WORK/body.md" >/dev/null
$B post create --list news --subject "Breaking" --breaking --body-file "$WORK/body.md" >/dev/null
$B post send 4 >/dev/null
$B post send 5 >/dev/null
rm -rf "$WORK/outbox"
BULLETIN_CONCURRENCY=1 $B send --once >/dev/null 2>&1
# maildir names end in Q<n>.<host>: n counts the messages of one process in order
first=$(ls "$WORK/outbox/new" | sed 's/.*Q\([0-9]*\)\..*/\1 &/' | sort -n | head -n 1 | cut -d' ' -f2)
case "$(grep -h '^Subject:' "$WORK/outbox/new/$first")" in *Breaking*) ok "the breaking post was delivered first" ;; *) not_ok "the breaking post was delivered first" "$(grep -h '^Subject:' "$WORK"/outbox/new/*)" ;; esac

# ---- one engine per SQLite database ----
if [ "$BL_CLI_BACKEND" = sqlite ]; then
	$B send >/dev/null 2>&1 &
	pid=$!
	sleep 0.5
	expect_out "a second engine on the same SQLite database is refused" 3 "another delivery engine" $B send --once
	kill -TERM $pid
	wait $pid
	same "the engine exits cleanly on SIGTERM" "$?" 0
fi

$B post create --list news --subject "Bad relay" --body-file "$WORK/body.md" >/dev/null
n_bad=$($B post ls --json | jq '.[0].id')
expect_out "a malformed relay is refused before queueing" 2 "relay:" env BULLETIN_RELAY=ftp://x $B post send "$n_bad"
run env BULLETIN_RELAY=smtp://mailer:hunter22@127.0.0.1:25/path $B post send "$n_bad"
if [ "$RC" = 2 ] && printf '%s' "$ERR" | grep -q "smtp://mailer:\*\*\*@127.0.0.1:25/path" &&
	! printf '%s%s' "$OUT" "$ERR" | grep -q hunter22; then
	ok "a refused relay URL is shown without its password"
else
	not_ok "a refused relay URL is shown without its password" "exit $RC" "$ERR"
fi
for relay in "smtp://u:sec ret-pw@host:25/x" "smtp://u:sec,ret-pw@host:25/x" "u:secret-pw@host:25" "smtp:u:secret-pw@host:25" \
	"smtp://a@h:25, smtp://u:secret-pw@h2:99999"; do
	run env "BULLETIN_RELAY=$relay" $B post send "$n_bad"
	if [ "$RC" = 2 ] && ! printf '%s%s' "$OUT" "$ERR" | grep -Eq "ret-pw|secret-pw"; then
		ok "relay $relay refused without its password"
	else
		not_ok "relay $relay refused without its password" "exit $RC" "$ERR"
	fi
done
expect_out "the post is still a draft" 0 "draft" $B post show "$n_bad"
expect_out "a bounce_domain that is no domain is refused before queueing" 2 "bounce_domain \"a>b\" is not a valid domain" env BULLETIN_BOUNCE_DOMAIN='a>b' $B post send "$n_bad"
expect_out "a public_url with a query is refused before queueing" 2 "must be a base URL" env BULLETIN_PUBLIC_URL='https://x.example/?a=1' $B post send "$n_bad"
expect_out "a sender name holding a second address is refused" 2 "may not hold '<' or '>'" $B post create --list news --subject S --body-file "$WORK/body.md" --from 'A <a@example.org> B <c@evil.example>'
expect_out "still a draft after the refusals" 0 "draft" $B post show "$n_bad"
$B post cancel "$n_bad" >/dev/null
expect_out "status of a bad id" 1 "positive number" $B post status abc

# ---- confirmation mails (web signups) are posts of another kind ----
# sql STATEMENT: run it on the test's database; prints what it selects.
sql() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then psql -qAt "$DB" -c "$1"; else sqlite3 "${DB#sqlite:}" "$1"; fi
}
now=$([ "$BL_CLI_BACKEND" = postgres ] && echo "now()" || echo 1700000000)
sql "INSERT INTO posts (subject, status, priority, created_at, started_at, total, kind) VALUES ('Confirm your subscription', 'sending', 2, $now, $now, 1, 'confirm')"
conf=$(sql "SELECT max(id) FROM posts")
sql "INSERT INTO post_lists (post_id, list_id) VALUES ($conf, 1)"
run $B post ls --json
same "ls leaves confirmation mails out" "$(printf '%s' "$OUT" | jq -c '[.[] | select(.id == '"$conf"')] | length')" 0
same "ls --json names each post's kind" "$(printf '%s' "$OUT" | jq -c '[.[].kind] | unique')" '["post"]'
run $B post ls
case "$OUT" in *"Confirm your subscription"*) not_ok "ls (text) leaves confirmation mails out" "$OUT" ;; *) ok "ls (text) leaves confirmation mails out" ;; esac
expect_out "show names a confirmation mail's kind" 0 "kind: +confirm" $B post show "$conf"
run $B post show "$conf" --json
same "show --json kind" "$(printf '%s' "$OUT" | jq -r .kind)" confirm
run $B post show 1
case "$OUT" in *"kind:"*) not_ok "show of a post says no kind" "$OUT" ;; *) ok "show of a post says no kind" ;; esac
expect_out "post send refuses a confirmation mail" 2 "is a confirm mail, not a post" $B post send "$conf"
same "its rows are its own" "$(sql "SELECT count(*) FROM deliveries WHERE post_id = $conf")" 0
done_testing
