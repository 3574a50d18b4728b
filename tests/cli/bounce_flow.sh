#!/bin/bash
# Issue 7 end to end: a post goes through a real SMTP relay on loopback
# (tests/smtp/capture.py), which refuses two recipients at RCPT (550 5.1.1: the
# engine's rejected hook blocklists; 554 5.7.1: a block, the address stays
# active). From the captured messages (VERP envelope sender, Message-ID)
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
#             certificate) POSTed to `serve`: forged -> 401, replay -> duplicate
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
N=14
{
	echo "email,name"
	for i in $(seq -w 1 $N); do echo "u$i@example.org,Reader $i"; done
} >subs.csv
printf 'email\nu04@example.org\nu06@example.org\nu13@example.org\n' >town.csv
printf '# Hello {{subscriber.name}}\n\nNews of the day.\n' >body.md
mkdir -p cap
start_capture "$WORK/cap" --reply-rcpt "u01@example.org=550:5.1.1 User unknown" \
	--reply-rcpt "u02@example.org=554:5.7.1 blocked by policy" || exit 1
export BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT"
{ $B init && $B list create news --name News && $B list create town --name Town &&
	$B import subs.csv --list news --confirmed --quiet &&
	$B import town.csv --list town --confirmed --quiet &&
	$B post create --list news --subject "Storm warning" --body-file body.md; } >setup.log 2>&1 ||
	{ echo "Bail out! setup failed: $(cat setup.log)"; exit 1; }

expect_out "the post goes through the relay: 12 accepted, 2 refused at RCPT" 0 \
	"accepted 12, pending 0, claimed 0, deferred 0, failed 2" $B post send 1 --wait
wait_messages "$WORK/cap" 12 10
same "the relay stored 12 messages" "$(count_messages "$WORK/cap")" 12
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
same "550 5.1.1 at RCPT: the finding" "$(finding u01@example.org)" \
	'["smtp","smtp","hard","userunknown",true,"smtp","disabled"]'
same "554 5.7.1 at RCPT: a block, the address stays active" "$(state u02@example.org)" \
	"active//news:confirmed"
same "554 5.7.1 at RCPT: the finding" "$(finding u02@example.org)" \
	'["smtp","smtp","block","policyviolation",true,"smtp","recorded"]'
same "both rejected rows are failed" "$(dstate u01@example.org),$(dstate u02@example.org)" "failed,failed"

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
