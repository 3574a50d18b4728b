#!/bin/bash
# Issue 7 end to end: a post goes through a real SMTP relay on loopback
# (tests/smtp/capture.py), which refuses two recipients at RCPT (550 5.1.1: the
# engine's rejected hook blocklists; 554 5.7.1: a block, the address stays
# active) and one at DATA (552 5.2.2: soft, counted). From the captured messages (VERP envelope sender, Message-ID)
# tests/bounce/make_report.py builds DSNs (hard, soft, delay), an ARF
# complaint, an auto-reply, a qmail bounce, reports attributable only by the
# returned Message-ID, by nothing, or by a forged token; they come back
# through every intake:
#   pipe      bulletin bounce --envelope-to (exit 0 / 65 / 75 on a locked or
#             read-only database, the message then accepted on the retry)
#   maildir   bulletin bounce --maildir (handled files removed, a non-message
#             kept and listed, exit 2; the same report again is a duplicate)
#   mailbox   IMAP (--move) and POP3 against the private Dovecot of
#             tests/bounce/dovecot.sh; `serve`'s poller (bounce_mailbox)
#   webhooks  Mailgun (HMAC) and SES through SNS (RSA, a throwaway
#             certificate) POSTed to `serve`: forged -> 401, replay -> duplicate;
#             a complaint naming only its recipient
# and the soft policy: bounce_soft_limit 2 -> a probe post delivered through the
# relay, whose bounce disables. After each step the subscriber (subscriber show),
# the findings (bounce ls) and the post (post status, deliveries) are checked.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/../smtp/lib.sh"
B=$BULLETIN
ROOT=${BL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
MK="$PY $ROOT/tests/bounce/make_report.py"
WH="$PY $ROOT/tests/bounce/webhook_body.py"
for need in jq curl openssl; do
	command -v "$need" >/dev/null || {
		echo "Bail out! $need is missing (scripts/install-deps.sh installs it)"
		exit 1
	}
done
cd "$WORK" || exit 1

DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_LOG_LEVEL=warn
export BULLETIN_CONCURRENCY=4
export BULLETIN_BOUNCE_SOFT_LIMIT=2

# sql STATEMENT: one value from the test's database.
sql() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then psql -qAt "$DB" -c "$1"; else sqlite3 "${DB#sqlite:}" "$1"; fi
}
# state EMAIL: "status/status_reason/subscription statuses by list".
state() {
	$B subscriber show "$1" --json |
		jq -r '[.status, .status_reason, ([.subscriptions[] | .list + ":" + .status] | join(","))] | join("/")'
}
# finding EMAIL [JQ]: the subscriber's latest finding, fields by JQ (default below).
finding() {
	$B bounce ls --subscriber "$1" --limit 1 --json |
		jq -c ".[0] | ${2:-[.source, .kind, .class, .reason, .final, .attributed_by, .action]}"
}
nfindings() { $B bounce ls --limit 0 --json | jq length; }
# dstate EMAIL: the state of EMAIL's delivery of post 1.
dstate() { $B post deliveries 1 --json --limit 0 | jq -r --arg e "$1" '.[] | select(.email == $e) | .state'; }
# result JSON KEYS: the values of the comma-separated KEYS of the JSON counts, joined by ",".
result() { printf '%s' "$1" | jq -r --arg k "$2" '[($k | split(","))[] as $f | .[$f] | tostring] | join(",")' 2>/dev/null; }
# eml EMAIL: the captured message of post 1 to EMAIL.
eml() { grep -l "\"rcpt_tos\": \[\"$1\"\]" "$WORK"/cap/*.json | head -1 | sed 's/\.json$/.eml/'; }
# verp EMAIL: the envelope sender of the captured message to EMAIL.
verp() { jq -r .mail_from "$(eml "$1" | sed 's/\.eml$/.json/')"; }

# ---- setup: 14 confirmed subscribers, a second list, a post through the relay
N=16
{
	echo "email,name"
	for i in $(seq -w 1 $N); do echo "u$i@example.org,Reader $i"; done
} >subs.csv
printf 'email\nu04@example.org\nu06@example.org\nu13@example.org\n' >town.csv
printf '# Hello {{subscriber.name}}\n\nNews of the day.\n' >body.md
mkdir -p cap
start_capture "$WORK/cap" --reply-rcpt "u01@example.org=550:5.1.1 User unknown" \
	--reply-rcpt "u02@example.org=554:5.7.1 blocked by policy" \
	--reply-data "u15@example.org=552:5.2.2 Mailbox full" || exit 1
export BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT"
{ $B init && $B list create news --name News && $B list create town --name Town &&
	$B import subs.csv --list news --confirmed --quiet &&
	$B import town.csv --list town --confirmed --quiet &&
	$B post create --list news --subject "Storm warning" --body-file body.md; } >setup.log 2>&1 ||
	{ echo "Bail out! setup failed: $(cat setup.log)"; exit 1; }

expect_out "the post goes through the relay: 13 accepted, 2 refused at RCPT, 1 at DATA" 0 \
	"accepted 13, pending 0, claimed 0, deferred 0, failed 3" $B post send 1 --wait
wait_messages "$WORK/cap" 13 10
same "the relay stored 13 messages" "$(count_messages "$WORK/cap")" 13
bad=""
for f in cap/*.json; do
	from=$(jq -r .mail_from "$f")
	tok=${from#bounces+}
	tok=${tok%@news.example}
	[[ $from =~ ^bounces\+1-[0-9]+-[0-9a-f]{16}@news\.example$ ]] &&
		grep -q "^Message-ID: <bulletin-$tok\.[0-9a-f]*@news\.example>" "${f%.json}.eml" ||
		bad="$bad $f:$from"
done
same "each envelope sender is bounces+TOKEN@news.example, the Message-ID bulletin-TOKEN..." "$bad" ""

same "550 5.1.1 at RCPT: blocklisted 'bounced' through the rejected hook" "$(state u01@example.org)" \
	"blocklisted/bounced/news:confirmed"
same "550 5.1.1 at RCPT: the finding" "$(finding u01@example.org '[.source, .kind, .class, .reason, .final, .attributed_by, .action, .recipient]')" \
	'["smtp","smtp","hard","userunknown",true,"smtp","disabled","u01@example.org"]'
same "554 5.7.1 at RCPT: a block, the address stays active" "$(state u02@example.org)" \
	"active//news:confirmed"
same "554 5.7.1 at RCPT: the finding" "$(finding u02@example.org)" \
	'["smtp","smtp","block","policyviolation",true,"smtp","recorded"]'
same "552 5.2.2 at DATA: soft, counted, the address stays active" \
	"$(state u15@example.org),$(finding u15@example.org '[.class, .reason, .reply_code, .final, .action]')" \
	'active//news:confirmed,["soft","mailboxfull",552,true,"counted"]'
same "the rejected rows are failed" "$(dstate u01@example.org),$(dstate u02@example.org),$(dstate u15@example.org)" \
	"failed,failed,failed"

# ---- (1) the MTA pipe
$MK dsn --orig "$(eml u03@example.org)" >hard03.eml
$MK dsn --orig "$(eml u04@example.org)" --status 4.2.2 \
	--diag "smtp; 452 4.2.2 <u04@example.org>: Mailbox full" >soft04.eml
$MK dsn --orig "$(eml u05@example.org)" --action delayed --status 4.4.1 \
	--diag "smtp; 451 4.4.1 Connection timed out" >delay05.eml
# a forged token, and nothing else to attribute it by
$MK dsn --orig "$(eml u05@example.org)" --stranger --to bounces+1-5-0123456789abcdef@news.example \
	--rcpt u05@example.org >forged.eml
$MK garbage --orig "$(eml u05@example.org)" >garbage.bin

# A database that cannot be written: exit 75, so that the MTA keeps the message and retries.
before=$(nfindings)
if [ "$BL_CLI_BACKEND" = postgres ]; then
	# a read-only database, as a hot standby is
	psql -q "$BL_TEST_PG" -c "ALTER DATABASE ${DB##*/} SET default_transaction_read_only = on" >/dev/null
	expect_out "pipe: a read-only database -> 75 (temporary failure)" 75 "kept for a later try" \
		$B bounce --envelope-to "$(verp u03@example.org)" <hard03.eml
	psql -q "$BL_TEST_PG" -c "ALTER DATABASE ${DB##*/} RESET default_transaction_read_only" >/dev/null
else
	# another process holds the write lock (BEGIN EXCLUSIVE) longer than db_busy_timeout
	$PY -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True); time.sleep(30)' "${DB#sqlite:}" >lock.out 2>&1 &
	LOCKER=$!
	for _ in $(seq 100); do [ -s lock.out ] && break; sleep 0.05; done
	expect_out "pipe: a database locked for writing -> 75 (temporary failure)" 75 "kept for a later try" \
		env BULLETIN_DB_BUSY_TIMEOUT=1s $B bounce --envelope-to "$(verp u03@example.org)" <hard03.eml
	kill "$LOCKER"
	wait "$LOCKER" 2>/dev/null
fi
same "pipe 75: nothing recorded, u03 unchanged" "$(nfindings),$(state u03@example.org)" \
	"$before,active//news:confirmed"

# pipe JSON-KEYS WANT DESC ARGS... < MSG: `bounce --json ARGS`, exit 0 and the counts.
pipe() {
	local keys=$1 want=$2 desc=$3
	shift 3
	run $B bounce --json "$@"
	if [ "$RC" = 0 ] && [ "$(result "$OUT" "$keys")" = "$want" ]; then ok "$desc"; else
		not_ok "$desc" "got exit $RC, $keys = $(result "$OUT" "$keys")" "want exit 0, $want" "stderr: $ERR"
	fi
}
pipe recorded,disabled 1,1 "pipe: the hard DSN on the retry -> 0, disabled" \
	--envelope-to "$(verp u03@example.org)" <hard03.eml
same "hard 5.1.1 DSN: blocklisted 'bounced'" "$(state u03@example.org)" "blocklisted/bounced/news:confirmed"
same "hard DSN: the finding, attributed by VERP" \
	"$(finding u03@example.org '[.source, .kind, .class, .reason, .status, .recipient, .attributed_by, .action]')" \
	'["pipe","dsn","hard","userunknown","5.1.1","u03@example.org","verp","disabled"]'
same "hard DSN: the delivery is bounced" "$(dstate u03@example.org)" bounced
pipe recorded,duplicates 0,1 "pipe: the same DSN again -> a duplicate" \
	--envelope-to "$(verp u03@example.org)" <hard03.eml

pipe recorded,disabled,probes 1,0,0 "pipe: a soft 4.2.2 DSN -> recorded" \
	--envelope-to "$(verp u04@example.org)" <soft04.eml
same "soft x1 (limit 2): still active on both lists" "$(state u04@example.org)" \
	"active//news:confirmed,town:confirmed"
same "soft DSN: counted" "$(finding u04@example.org)" '["pipe","dsn","soft","mailboxfull",true,"verp","counted"]'

pipe recorded,disabled 1,0 "pipe: a delay warning (Action: delayed) -> recorded" \
	--envelope-to "$(verp u05@example.org)" <delay05.eml
same "delay warning: active, the delivery still accepted" "$(state u05@example.org),$(dstate u05@example.org)" \
	"active//news:confirmed,accepted"
same "delay warning: not final, nothing counted" "$(finding u05@example.org)" \
	'["pipe","dsn","soft","networkerror",false,"verp","recorded"]'

pipe recorded,review 1,1 "pipe: a forged VERP token -> the review bucket" \
	--envelope-to bounces+1-5-0123456789abcdef@news.example <forged.eml
same "forged token: for review, with the reason" \
	"$($B bounce ls --review --limit 1 --json | jq -c '.[0] | [.subscriber_id, .action, (.review | test("VERP token .* fails its check"))]')" \
	'[null,"review",true]'
same "forged token: u05 unchanged" "$(state u05@example.org)" "active//news:confirmed"

expect_out "pipe: bytes that are no message -> 65" 65 "not a message" $B bounce <garbage.bin
expect_out "pipe: empty input -> 65" 65 "no message" $B bounce </dev/null
# A configuration or usage mistake must not make the MTA drop the report: temporary (75).
expect "pipe: an unreadable config file -> 75 (the MTA keeps the report)" 75 \
	env BULLETIN_CONFIG=$WORK/no-such.conf $B bounce <garbage.bin
expect "pipe: an unknown option -> 75" 75 $B bounce --no-such-option <garbage.bin
expect "ls: an unknown option stays a usage error (1)" 1 $B bounce ls --no-such-option

# ---- (2) a maildir: a complaint, an auto-reply, a qmail bounce, and a file that is no message
mkdir -p md/new md/cur md/tmp
# the feedback loop writes to its registered address: attribution by the returned Message-ID
$MK arf --orig "$(eml u06@example.org)" --to fbl@news.example >md/new/1795000001.M1P1.mx
$MK autoreply --orig "$(eml u07@example.org)" --delivered-to "$(verp u07@example.org)" >md/new/1795000002.M2P1.mx
$MK qmail --orig "$(eml u08@example.org)" --delivered-to "$(verp u08@example.org)" >md/cur/1795000003.M3P1.mx:2,S
cp garbage.bin md/new/1795000004.M4P1.mx
# a symbolic link to a file outside the maildir (think /etc/passwd): never read, never removed
printf '%s\n' 'From: Mail Delivery System <MAILER-DAEMON@mx.example.net>' 'Subject: Undelivered Mail secret-6f1c' '' \
	'<root@example.net>: host mx.example.net said: 550 5.1.1 user unknown secret-6f1c' >secret.txt
ln -s "$WORK/secret.txt" md/new/1795000006.M6P1.mx
cp md/new/1795000001.M1P1.mx arf06.eml
run $B bounce --maildir md --json
same "maildir: exit 2 (a file and a link kept)" "$RC" 2
same "maildir: the counts" "$(result "$OUT" handled,kept,recorded,duplicates,review,disabled,unsubscribed)" \
	"3,2,3,0,0,1,1"
case "$ERR" in *"1795000004.M4P1.mx: kept"*) ok "maildir: the kept file is listed" ;;
*) not_ok "maildir: the kept file is listed" "stderr: $ERR" ;; esac
case "$ERR" in *"1795000006.M6P1.mx: kept: not a regular file"*) ok "maildir: the link is listed as kept, not a regular file" ;;
*) not_ok "maildir: the link is listed as kept, not a regular file" "stderr: $ERR" ;; esac
same "maildir: handled files removed, the non-message and the link kept" \
	"$(find md \( -type f -o -type l \) -printf '%P %y\n' | sort)" \
	"new/1795000004.M4P1.mx f
new/1795000006.M6P1.mx l"
same "maildir: the link's target neither read into a finding nor touched" \
	"$($B bounce ls --limit 0 --json | grep -c secret-6f1c),$(cat secret.txt | wc -l)" "0,4"
rm md/new/1795000006.M6P1.mx
same "ARF complaint: unsubscribed from every list, blocklisted 'complained'" "$(state u06@example.org)" \
	"blocklisted/complained/news:unsubscribed,town:unsubscribed"
same "ARF complaint: the finding, attributed by the returned Message-ID" \
	"$(finding u06@example.org '[.source, .kind, .class, .feedback_type, .recipient, .attributed_by, .action]')" \
	'["maildir","arf","complaint","abuse","u06@example.org","message-id","unsubscribed"]'
same "ARF complaint: unsubscribe consent events from the complaint" \
	"$($B subscriber show u06@example.org --json | jq -c '[.consent[] | select(.kind == "unsubscribe") | .list + ":" + .source]')" \
	'["news:complaint:maildir","town:complaint:maildir"]'
same "ARF complaint: the delivery is complained" "$(dstate u06@example.org)" complained
same "auto-reply: nothing counted, active, the delivery accepted" \
	"$(state u07@example.org),$(dstate u07@example.org),$(finding u07@example.org '[.class, .action]')" \
	'active//news:confirmed,accepted,["auto-reply","recorded"]'
same "qmail bounce: blocklisted 'bounced'" "$(state u08@example.org)" "blocklisted/bounced/news:confirmed"
same "qmail bounce: the finding" "$(finding u08@example.org '[.kind, .class, .recipient, .attributed_by, .action]')" \
	'["bounce","hard","u08@example.org","verp","disabled"]'
rm md/new/1795000004.M4P1.mx
cp arf06.eml md/new/1795000005.M5P1.mx
n=$(nfindings)
run $B bounce --maildir md --json
same "maildir: the same complaint again -> exit 0, a duplicate" \
	"$RC,$(result "$OUT" handled,recorded,duplicates,unsubscribed)" "0,1,0,1,0"
same "the duplicate changed nothing" "$(nfindings),$(state u06@example.org),$(find md -type f | wc -l)" \
	"$n,blocklisted/complained/news:unsubscribed,town:unsubscribed,0"

# ---- (3) IMAP and POP3 against a private Dovecot
DOVECOT=""
chmod 0711 "$WORK" # Dovecot's auth and mail processes run as other users: they traverse it
if bash "$ROOT/tests/bounce/dovecot.sh" start "$WORK/dovecot" >dovecot.out 2>&1; then
	DOVECOT=$WORK/dovecot
	on_exit "bash '$ROOT/tests/bounce/dovecot.sh' stop '$DOVECOT' >/dev/null 2>&1"
	. "$DOVECOT/env"
else
	echo "# dovecot: $(cat dovecot.out)"
fi
# put NAME < MSG: deliver MSG into the mailbox's INBOX (as Dovecot's user).
put() {
	cat >"$MAILDIR/tmp/$1"
	chown "$MAIL_UID:$MAIL_GID" "$MAILDIR/tmp/$1"
	mv "$MAILDIR/tmp/$1" "$MAILDIR/new/$1"
}
# inbox [FOLDER]: how many messages the folder ("" = INBOX, else .Name) holds.
inbox() { find "$MAILDIR${1:+/$1}/new" "$MAILDIR${1:+/$1}/cur" -type f 2>/dev/null | wc -l | tr -d ' '; }
if [ -n "$DOVECOT" ]; then
	IMAP="imap://$MAIL_USER:$PASSWORD@127.0.0.1:$IMAP_PORT/INBOX"
	POP3="pop3://$MAIL_USER:$PASSWORD@127.0.0.1:$POP3_PORT/"
	# no VERP token (a relay that rewrote the envelope), but the original's Message-ID
	$MK dsn --orig "$(eml u09@example.org)" --to bounces@news.example >dsn09.eml
	put 1795000011.M1P2.mx <dsn09.eml
	# neither a token nor a bulletin Message-ID: a bounce of a message we never sent
	$MK dsn --orig "$(eml u09@example.org)" --stranger --to bounces@news.example \
		--rcpt someone@example.net | put 1795000012.M2P2.mx
	put 1795000013.M3P2.mx <garbage.bin
	run $B bounce --mailbox "$IMAP" --move Processed --json
	same "IMAP --move: exit 2 (one kept) and the counts" \
		"$RC,$(result "$OUT" seen,handled,kept,removed,recorded,review,disabled,error)" "2,3,2,1,2,2,1,1,null"
	same "IMAP --move: handled ones in Processed, the unhandled one stays in INBOX" \
		"$(inbox .Processed),$(inbox)" "2,1"
	same "no VERP token: attributed by the returned Message-ID, blocklisted" \
		"$(state u09@example.org),$(finding u09@example.org '[.source, .class, .attributed_by, .action]')" \
		'blocklisted/bounced/news:confirmed,["imap","hard","message-id","disabled"]'
	same "neither token nor Message-ID: the review bucket, with the reason" \
		"$($B bounce ls --review --limit 1 --json | jq -c '.[0] | [.source, .recipient, .post_id, .review]')" \
		'["imap","someone@example.net",null,"no VERP token in the envelope recipient and no bulletin Message-ID in the returned message"]'

	$MK dsn --orig "$(eml u10@example.org)" --headers-only | put 1795000014.M4P2.mx
	expect_out "POP3 with --move: refused as a usage error (no folders; the messages would be deleted)" 1 \
		"pop3 mailbox has no folders" $B bounce --mailbox "$POP3" --move Processed
	same "POP3 with --move: nothing read or removed" "$(inbox),$(state u10@example.org)" \
		"2,active//news:confirmed"
	run $B bounce --mailbox "$POP3" --json
	same "POP3: exit 2 (the non-message stays) and the counts" \
		"$RC,$(result "$OUT" seen,handled,kept,removed,recorded,disabled)" "2,2,1,1,1,1,1"
	same "POP3: the DSN (original's headers only) removed, the non-message kept" "$(inbox)" 1
	same "POP3: blocklisted 'bounced'" \
		"$(state u10@example.org),$(finding u10@example.org '[.source, .class, .attributed_by]')" \
		'blocklisted/bounced/news:confirmed,["pop3","hard","verp"]'
	put 1795000015.M5P2.mx <dsn09.eml
	n=$(nfindings)
	run $B bounce --mailbox "$IMAP" --json
	same "IMAP again: the same DSN is a duplicate (removed), the kept message is kept" \
		"$RC,$(result "$OUT" seen,handled,kept,removed,recorded,duplicates),$(inbox)" "2,2,1,1,1,0,1,1"
	same "the duplicate changed nothing" "$(nfindings)" "$n"
	rm -f "$MAILDIR"/new/* "$MAILDIR"/cur/*
else
	for t in "IMAP --move" "POP3" "the serve poller"; do ok "$t # SKIP dovecot is not installed"; done
fi

# ---- (4) `bulletin serve`: the mailbox poller and the signed webhooks
# msgid EMAIL: the Message-ID (without <>) of the captured message to EMAIL.
msgid() { sed -n 's/^Message-ID: <\(.*\)>\r*$/\1/p' "$(eml "$1")" | head -1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sns.us-east-1.amazonaws.com \
	-keyout sns.key -out sns.pem >/dev/null 2>&1 || echo "Bail out! openssl cannot make a certificate"
TOPIC=arn:aws:sns:us-east-1:123456789012:bulletin-ses
MG_KEY=key-$($PY -c 'import secrets; print(secrets.token_hex(16))')
export BULLETIN_WEBHOOK_MAILGUN_KEY=$MG_KEY BULLETIN_WEBHOOK_SNS_CERT=$WORK/sns.pem BULLETIN_WEBHOOK_SNS_TOPIC=$TOPIC
if [ -n "$DOVECOT" ]; then
	printf '%s\n' "$PASSWORD" >mailbox.pw
	export BULLETIN_BOUNCE_MAILBOX="imap://$MAIL_USER@127.0.0.1:$IMAP_PORT/INBOX"
	export BULLETIN_BOUNCE_MAILBOX_PASSWORD_FILE=$WORK/mailbox.pw BULLETIN_BOUNCE_MAILBOX_EVERY=10s
	$MK dsn --orig "$(eml u11@example.org)" | put 1795000021.M1P3.mx
fi
$B serve --listen 127.0.0.1:0 >serve.out 2>serve.err &
SERVE=$!
on_exit 'kill $SERVE 2>/dev/null'
wait_for "serve starts" 20 grep -q "^listening on" serve.out
URL=$(sed -n 's|^listening on \(http://[^/]*\)/$|\1|p' serve.out)
if [ -n "$DOVECOT" ]; then
	wait_for "the serve poller handles the mailbox's DSN" 20 \
		sh -c "$B subscriber show u11@example.org --json | jq -e '.status == \"blocklisted\"'"
	same "serve poller: blocklisted 'bounced', source imap, the message removed" \
		"$(state u11@example.org),$(finding u11@example.org '[.source, .class, .attributed_by]'),$(inbox)" \
		'blocklisted/bounced/news:confirmed,["imap","hard","verp"],0'
fi

# post PROVIDER FILE: POST FILE to /webhooks/PROVIDER; the status in $CODE, the body in $BODY.
post() {
	CODE=$(curl -s -o resp.json -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "@$2" "$URL/webhooks/$1")
	BODY=$(cat resp.json)
}
mg_event=$(jq -nc --arg id "mg-$RANDOM$RANDOM" --arg mid "$(msgid u12@example.org)" --argjson ts "$(date +%s)" \
	'{event: "failed", id: $id, timestamp: $ts, severity: "permanent", reason: "bounce",
	  recipient: "u12@example.org", "log-level": "error",
	  "delivery-status": {"attempt-no": 1, code: 550, "enhanced-code": "5.1.1",
	    message: "5.1.1 The email account that you tried to reach does not exist", description: "",
	    "mx-host": "mx.example.org"},
	  message: {headers: {to: "u12@example.org", "message-id": $mid, from: "alerts@news.example",
	    subject: "Storm warning"}, size: 2048}}')
$WH mailgun --key "$MG_KEY" --event "$mg_event" --forge >mg-forged.json
$WH mailgun --key "$MG_KEY" --event "$mg_event" --age 600 >mg-stale.json
$WH mailgun --key "$MG_KEY" --event "$mg_event" >mg.json
n=$(nfindings)
post mailgun mg-forged.json
same "Mailgun, signed with another key: 401" "$CODE" 401
post mailgun mg-stale.json
same "Mailgun, signed 10 minutes ago: 401" "$CODE" 401
same "refused webhooks changed nothing" "$(nfindings),$(state u12@example.org)" "$n,active//news:confirmed"
post mailgun mg.json
same "Mailgun, signed: 200, recorded and disabled" "$CODE,$(result "$BODY" recorded,duplicates,disabled)" "200,1,0,1"
same "Mailgun permanent 5.1.1: blocklisted 'bounced'" \
	"$(state u12@example.org),$(finding u12@example.org '[.source, .class, .status, .attributed_by]')" \
	'blocklisted/bounced/news:confirmed,["webhook-mailgun","hard","5.1.1","message-id"]'
post mailgun mg.json
same "Mailgun replay of the same signature: 401 (its token seen before)" "$CODE" 401
$WH mailgun --key "$MG_KEY" --event "$mg_event" >mg-again.json
post mailgun mg-again.json
same "Mailgun redelivery, signed anew: 200, a duplicate" "$CODE,$(result "$BODY" recorded,duplicates)" "200,0,1"
# a Mailgun complaint that names only the recipient: Mailgun does not sign the event, so only
# bulletin's Message-ID attributes it: the review bucket, u16 untouched
$WH mailgun --key "$MG_KEY" --event "$(jq -nc --arg id "mg-c-$RANDOM$RANDOM" --argjson ts "$(date +%s)" \
	'{event: "complained", id: $id, timestamp: $ts, recipient: "u16@example.org"}')" >mg-c.json
post mailgun mg-c.json
same "Mailgun complaint naming only the recipient: 200, for review, u16 unchanged" \
	"$CODE,$(result "$BODY" recorded,review,unsubscribed),$(state u16@example.org)" \
	"200,1,1,0,active//news:confirmed"

now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
ses_msg=$(jq -nc --arg mid "<$(msgid u13@example.org)>" --arg now "$now" \
	'{notificationType: "Complaint",
	  complaint: {complainedRecipients: [{emailAddress: "u13@example.org"}], timestamp: $now,
	    feedbackId: "0100019a-complaint-0001", complaintFeedbackType: "abuse",
	    userAgent: "ExampleFBL/1.0", arrivalDate: $now},
	  mail: {timestamp: $now, source: "alerts@news.example", messageId: "0100019a-ses-0001",
	    destination: ["u13@example.org"], headersTruncated: false,
	    headers: [{name: "From", value: "Newsroom <alerts@news.example>"}, {name: "Message-ID", value: $mid}],
	    commonHeaders: {from: ["Newsroom <alerts@news.example>"], to: ["u13@example.org"],
	      messageId: $mid, subject: "Storm warning"}}}')
sns_id=$($PY -c 'import uuid; print(uuid.uuid4())')
$WH ses --sns-key sns.key --topic "$TOPIC" --message "$ses_msg" --id "$sns_id" --forge >ses-forged.json
$WH ses --sns-key sns.key --topic "$TOPIC" --message "$ses_msg" --id "$sns_id" >ses.json
n=$(nfindings)
post ses ses-forged.json
same "SNS, Message changed after signing: 401, nothing changed" "$CODE,$(nfindings),$(state u13@example.org)" \
	"401,$n,active//news:confirmed,town:confirmed"
post ses ses.json
same "SES complaint through SNS: 200, unsubscribed" "$CODE,$(result "$BODY" recorded,unsubscribed)" "200,1,1"
same "SES complaint: every list unsubscribed, blocklisted 'complained'" \
	"$(state u13@example.org),$(finding u13@example.org '[.source, .class, .feedback_type, .attributed_by]')" \
	'blocklisted/complained/news:unsubscribed,town:unsubscribed,["webhook-ses","complaint","abuse","message-id"]'
post ses ses.json
same "SNS replay: 200, a duplicate" "$CODE,$(result "$BODY" recorded,duplicates)" "200,0,1"
# an SES complaint that names only the recipient: SNS signs the event, so it is attributed to
# the recipient's latest delivery
ses_c=$(jq -nc --arg now "$now" '{notificationType: "Complaint",
	complaint: {complainedRecipients: [{emailAddress: "u16@example.org"}], complaintFeedbackType: "abuse"},
	mail: {timestamp: $now, destination: ["u16@example.org"]}}')
$WH ses --sns-key sns.key --topic "$TOPIC" --message "$ses_c" --id "$($PY -c 'import uuid; print(uuid.uuid4())')" >ses-c.json
post ses ses-c.json
same "SES complaint naming only the recipient: 200, unsubscribed" \
	"$CODE,$(result "$BODY" recorded,unsubscribed),$(state u16@example.org)" \
	"200,1,1,blocklisted/complained/news:unsubscribed"
same "SES complaint: attributed by recipient to post 1" \
	"$(finding u16@example.org '[.post_id, .class, .attributed_by]'),$(dstate u16@example.org)" '[1,"complaint","recipient"],complained'

if [ -n "$DOVECOT" ]; then
	# the poller's next round (bounce_mailbox_every 10s): u14's first soft bounce
	$MK dsn --orig "$(eml u14@example.org)" --status 4.2.2 --tag soft14a \
		--diag "smtp; 452 4.2.2 <u14@example.org>: Mailbox full" | put 1795000022.M2P3.mx
	wait_for "the serve poller's next round handles a new message" 20 \
		sh -c "$B bounce ls --subscriber u14@example.org --json | jq -e 'length == 1'"
	same "serve poller: soft x1 counted, still active" \
		"$(state u14@example.org),$(finding u14@example.org '[.source, .class, .action]')" \
		'active//news:confirmed,["imap","soft","counted"]'
else
	$MK dsn --orig "$(eml u14@example.org)" --status 4.2.2 --tag soft14a \
		--diag "smtp; 452 4.2.2 <u14@example.org>: Mailbox full" | $B bounce >/dev/null
fi
kill -TERM "$SERVE"
wait "$SERVE"
same "serve stops cleanly on SIGTERM" "$?" 0
SERVE=""

# ---- (5) the soft policy: a second soft bounce within the window -> a probe, whose bounce disables
$MK dsn --orig "$(eml u14@example.org)" --status 4.2.2 --tag soft14b \
	--diag "smtp; 452 4.2.2 <u14@example.org>: Mailbox full" >soft14b.eml
# Bounces are counted per message, not per report: a second report about the same post is
# recorded but does not reach the limit.
pipe recorded,probes,disabled 1,0,0 "soft x2 of the same post: one bounce, no probe" \
	--envelope-to "$(verp u14@example.org)" <soft14b.eml
same "soft x2 of the same post: still active" "$(state u14@example.org)" "active//news:confirmed"
# A second post, to u14 alone (list solo), soft-bounces too: the limit (2 posts).
printf 'email\nu14@example.org\n' >solo.csv
{ $B list create solo --name Solo && $B import solo.csv --list solo --confirmed --quiet &&
	$B post create --list solo --subject "Second" --body-file body.md; } >>setup.log 2>&1 ||
	not_ok "the second post is made" "$(cat setup.log)"
expect "the second post goes to u14" 0 timeout 60 $B post send 2 --wait
wait_messages "$WORK/cap" 14 10
json2=$(grep -l '"mail_from": "bounces+2-' cap/*.json)
$MK dsn --orig "${json2%.json}.eml" --status 4.2.2 --tag soft14c \
	--diag "smtp; 452 4.2.2 <u14@example.org>: Mailbox full" >soft14c.eml
pipe recorded,probes,disabled 1,1,0 "a soft bounce of a second post (bounce_soft_limit 2): a probe is made" \
	--envelope-to "$(jq -r .mail_from "$json2")" <soft14c.eml
same "soft x2: still active" "$(state u14@example.org)" "active//news:confirmed,solo:confirmed"
# `post ls` lists the publisher's posts only; the probe is the next post, 3
probe=3
same "a probe post (kind probe) is queued for one subscriber" \
	"$($B post show $probe --json | jq -c '[.kind, .priority]'),$($B post status $probe --json | jq -c '[.status, .total, .pending]')" \
	'["probe","transactional"],["sending",1,1]'
expect "send --once delivers the probe" 0 timeout 60 $B send --once
same "the probe is accepted by the relay" "$($B post status "$probe" --json | jq -c '[.status, .accepted]')" \
	'["sent",1]'
wait_messages "$WORK/cap" 15 10
pjson=$(grep -l "\"mail_from\": \"bounces+$probe-" cap/*.json)
same "the relay got the probe, to u14, with its own VERP sender" \
	"$(jq -r '.rcpt_tos[0]' $pjson 2>/dev/null)" u14@example.org
$MK dsn --orig "${pjson%.json}.eml" --status 4.2.2 --tag probe14 \
	--diag "smtp; 452 4.2.2 <u14@example.org>: Mailbox full" >probe14.eml
pipe recorded,disabled 1,1 "a bounce of the probe -> disabled" --envelope-to "$(jq -r .mail_from $pjson)" <probe14.eml
same "bounced probe: blocklisted 'bounced'" \
	"$(state u14@example.org),$(finding u14@example.org '[.post_id, .class, .attributed_by, .action]')" \
	"blocklisted/bounced/news:confirmed,solo:confirmed,[$probe,\"soft\",\"verp\",\"disabled\"]"

# ---- the end state
want="u01@example.org blocklisted/bounced/news:confirmed
u02@example.org active//news:confirmed
u03@example.org blocklisted/bounced/news:confirmed
u04@example.org active//news:confirmed,town:confirmed
u05@example.org active//news:confirmed
u06@example.org blocklisted/complained/news:unsubscribed,town:unsubscribed
u07@example.org active//news:confirmed
u08@example.org blocklisted/bounced/news:confirmed
u09@example.org blocklisted/bounced/news:confirmed
u10@example.org blocklisted/bounced/news:confirmed
u11@example.org blocklisted/bounced/news:confirmed
u12@example.org blocklisted/bounced/news:confirmed
u13@example.org blocklisted/complained/news:unsubscribed,town:unsubscribed
u14@example.org blocklisted/bounced/news:confirmed,solo:confirmed
u15@example.org active//news:confirmed
u16@example.org blocklisted/complained/news:unsubscribed"
[ -n "$DOVECOT" ] || want=$(printf '%s\n' "$want" | sed 's|^\(u09@example.org\|u10@example.org\|u11@example.org\) .*|\1 active//news:confirmed|')
got=$(for i in $(seq -w 1 $N); do echo "u$i@example.org $(state "u$i@example.org")"; done)
same "every subscriber's state" "$got" "$want"
run $B post status 1 --json
if [ -n "$DOVECOT" ]; then hard=7 bounced=8; else hard=4 bounced=5; fi
same "post status: the delivery states" "$(printf '%s' "$OUT" | jq -c '[.total, .accepted, .failed, .bounced, .complained]')" \
	"[16,2,3,$bounced,3]"
same "post status: the bounces object" \
	"$(printf '%s' "$OUT" | jq -c '.bounces | [.hard, .soft, .block, .complaint, .["auto-reply"], .delivered, .sent]')" \
	"[$hard,3,1,3,1,13,16]"
# The hard-bounce rate counts the refusals at RCPT among the messages sent (16), the complaint
# rate is over the messages delivered (13).
same "post status: the rates" \
	"$(printf '%s' "$OUT" | jq -c '.bounces | [(.hard_rate * 16 | round), (.complaint_rate * 13 | round)]')" \
	"[$hard,3]"
same "post status: both warnings (3 complaints in 13, $hard hard bounces in 16)" \
	"$(printf '%s' "$OUT" | jq -c '[.bounces.warnings[].kind]')" '["complaint","hard"]'
run $B post status 1
case "$OUT" in *"bounces: hard $hard, soft 3, block 1, complaint 3, auto-reply 1"*) ok "post status: the text" ;;
*) not_ok "post status: the text" "got: $OUT" "want a line: bounces: hard $hard, soft 3, block 1, complaint 3, auto-reply 1" ;; esac
same "the review bucket: the forged token, the stranger's bounce, the Mailgun complaint without our Message-ID" \
	"$($B bounce ls --review --json | jq -c '[.[] | .source] | sort')" \
	"$([ -n "$DOVECOT" ] && echo '["imap","pipe","webhook-mailgun"]' || echo '["pipe","webhook-mailgun"]')"

# ---- a relay refusing our own sending account (a quota). One recipient refused so (perhaps
# that recipient's own server's words) is retried like a 4xx; three distinct recipients in a
# row pause the post for a person, the refused rows back to pending, nobody failed, bounced or
# disabled; after `post resume` (the quota reset: a relay that accepts) every message goes
# out once.
export BULLETIN_RETRY_MIN=1 # a deferred row is due again 1 s later
stop_capture
mkdir -p cap2 cap3 cap4
start_capture "$WORK/cap2" --reply-rcpt "q2@example.org=550:5.7.1 Daily sending quota exceeded for this account" || exit 1
export BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT"
$B list create quota --name Quota >/dev/null
printf 'email\nq1@example.org\nq2@example.org\nq3@example.org\n' >quota.csv
$B import quota.csv --list quota --confirmed --quiet >/dev/null 2>&1
qa=$($B post create --list quota --subject "Quota one" --body-file body.md)
nf_before=$(nfindings)
$B post send "$qa" >/dev/null
expect_out "one recipient refused for the account: retried, not paused" 0 "accepted 2, deferred [1-9][0-9]*, failed 0" \
	env BULLETIN_CONCURRENCY=1 $B send --once
same "that post keeps sending, its row deferred, the subscriber active" \
	"$($B post status "$qa" --json | jq -r .status) $($B post deliveries "$qa" --json --limit 0 | jq -r '.[] | select(.email == "q2@example.org") | .state') $(state q2@example.org)" \
	"sending deferred active//quota:confirmed"
stop_capture
start_capture "$WORK/cap3" --reply-rcpt "*=550:5.7.1 Daily sending quota exceeded for this account" || exit 1
export BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT"
qp=$($B post create --list quota --subject "Quota day" --body-file body.md)
expect_out "three recipients refused for the account: the post pauses, naming the reason" 0 \
	"paused: the relay .* refused our sending account at RCPT: 550.*sending quota" \
	env BULLETIN_CONCURRENCY=1 $B post send "$qp" --wait
run $B post status "$qp" --json
same "the post is paused, nothing failed or bounced, the reason says what to do" \
	"$(printf '%s' "$OUT" | jq -c '[.status, .failed, .bounced, (.pause_reason | test("sending account at RCPT: 550 5.7.1 Daily sending quota.*; resume the post"))]')" '["paused",0,0,true]'
same "the refused subscribers are still active" "$(state q1@example.org) $(state q2@example.org) $(state q3@example.org)" \
	"active//quota:confirmed active//quota:confirmed active//quota:confirmed"
same "no finding recorded for an account refusal" "$(nfindings)" "$nf_before"
same "no row failed: each pending or deferred" \
	"$($B post deliveries "$qp" --json --limit 0 | jq -c '[.[] | .state] | sort')" '["deferred","deferred","pending"]'
stop_capture
start_capture "$WORK/cap4" || exit 1
export BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT"
$B post resume "$qp" >/dev/null
expect_out "after resume every message is accepted" 0 "failed 0" $B post send "$qp" --wait
# the first post's deferred row goes out when due (during that wait, or here)
for _ in $(seq 30); do
	[ "$($B post status "$qa" --json | jq -r .status)" = sent ] && break
	$B send --once >/dev/null 2>&1
	sleep 1
done
same "both posts sent, three accepted each" \
	"$($B post status "$qp" --json | jq -c '[.status, .accepted, .failed]') $($B post status "$qa" --json | jq -c '[.status, .accepted, .failed]')" \
	'["sent",3,0] ["sent",3,0]'
same "each recipient got each post once (the relay that accepts)" "$(count_messages "$WORK/cap4")" 4
unset BULLETIN_RETRY_MIN

done_testing
