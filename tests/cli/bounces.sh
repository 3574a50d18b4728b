#!/bin/bash
# bulletin post status with bounces and complaints (issue 7): the counts by
# class, the rates (hard bounces over sent, complaints over delivered messages), and the WARNING lines exactly
# above config bounce_warn_complaint_rate / bounce_warn_hard_rate (0.1% and
# 2%, or as set). A post of 1000 messages goes to a maildir outbox; the
# findings are stored with SQL as bounce_record stores them (rows in bounces,
# the delivery's state bounced or complained), so each count is exact.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_RELAY="maildir:$WORK/outbox"
$B init >/dev/null
$B list create news --name "News" --optin single >/dev/null
{
	echo "email"
	for i in $(seq 1 1000); do echo "r$i@example.org"; done
} >"$WORK/subs.csv"
$B import "$WORK/subs.csv" --list news >/dev/null 2>&1
printf 'Hello\n' >"$WORK/body.md"
post=$($B post create --list news --subject "Big send" --body-file "$WORK/body.md")
expect_out "1000 messages delivered" 0 "accepted 1000," $B post send "$post" --wait

# sql STATEMENT: run it on the test's database.
sql() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then
		psql -q -v ON_ERROR_STOP=1 "$DB" -c "$1" >/dev/null
	else
		sqlite3 "${DB#sqlite:}" "$1"
	fi
}

# record CLASS STATE FROM TO: findings of CLASS for the subscribers r$FROM..r$TO of
# the post, their deliveries set to STATE.
record() {
	local cls=$1 state=$2 from=$3 to=$4 where
	where="post_id = $post AND subscriber_id IN (SELECT id FROM subscribers WHERE email IN ("
	where+=$(seq "$from" "$to" | sed "s/.*/'r&@example.org'/" | paste -sd,)
	where+="))"
	sql "INSERT INTO bounces (report_key, idx, received_at, source, kind, class, status,
	       recipient, diagnostic, post_id, subscriber_id, attributed_by, action)
	     SELECT '$cls-' || subscriber_id, 0, 1800000000, 'pipe', 'dsn', '$cls', '5.1.1',
	       'x@example.org', '550 5.1.1 no such user', post_id, subscriber_id, 'verp', 'recorded'
	     FROM deliveries WHERE $where" || not_ok "inserting $cls findings"
	sql "UPDATE deliveries SET state = '$state' WHERE $where" || not_ok "updating deliveries"
}

# status: `post status` text in $OUT, --json in $JSON.
status() {
	run $B post status "$post"
	TEXT=$OUT
	run $B post status "$post" --json
	JSON=$OUT
}

status
same "no bounces: zero counts and rates" "$(printf '%s\n' "$TEXT" | sed -n '3,4p')" \
	"bounces: hard 0, soft 0, block 0, complaint 0
rates: hard bounces 0% of 1000 sent, complaints 0% of 1000 delivered"
same "no bounces: JSON" "$(printf '%s' "$JSON" | jq -c '.bounces')" \
	'{"hard":0,"soft":0,"block":0,"complaint":0,"auto-reply":0,"unknown":0,"delivered":1000,"sent":1000,"hard_rate":0,"complaint_rate":0,"thresholds":{"hard_rate":0.02,"complaint_rate":0.001},"warnings":[]}'

# 1 complaint in 1000 is 0.1%: at the threshold, not above it.
record complaint complained 1 1
status
case "$TEXT" in *WARNING*) not_ok "0.1% complaints: no warning" "$TEXT" ;; *) ok "0.1% complaints: no warning" ;; esac
same "0.1% complaints: the rate" "$(printf '%s\n' "$TEXT" | sed -n 4p)" \
	"rates: hard bounces 0% of 1000 sent, complaints 0.10% of 1000 delivered"
same "0.1% complaints: JSON rate, no warning" "$(printf '%s' "$JSON" | jq -c '.bounces | [.complaint, .complaint_rate, .warnings]')" '[1,0.001,[]]'
same "delivered still counts the complained row" "$(printf '%s' "$JSON" | jq -c '[.accepted, .complained, .bounces.delivered]')" '[999,1,1000]'

# The same complaint at a threshold of 0.099%: above it.
run env BULLETIN_BOUNCE_WARN_COMPLAINT_RATE=0.099% $B post status "$post"
expect_line() { # DESC TEXT WANT-LINE
	if printf '%s\n' "$2" | grep -qxF -- "$3"; then ok "$1"; else not_ok "$1" "got: $2" "want a line: $3"; fi
}
expect_line "threshold 0.099%: 0.1% is above it" "$OUT" \
	"WARNING: complaint rate 0.10% is above 0.099%: mailbox providers may start filtering this sender as spam; check how these addresses were collected (only confirmed opt-in) and that each message says why the reader gets it"

# 2 complaints in 1000: 0.2%, above 0.1%.
record complaint complained 2 2
status
expect_line "0.2% complaints: a warning" "$TEXT" \
	"WARNING: complaint rate 0.20% is above 0.1%: mailbox providers may start filtering this sender as spam; check how these addresses were collected (only confirmed opt-in) and that each message says why the reader gets it"
same "0.2% complaints: JSON warning" "$(printf '%s' "$JSON" | jq -c '.bounces.warnings | map([.kind, .count, .rate, .threshold])')" '[["complaint",2,0.002,0.001]]'
same "the JSON message is the printed one" "$(printf '%s' "$JSON" | jq -r '.bounces.warnings[0].message')" \
	"$(printf '%s\n' "$TEXT" | sed -n 's/^WARNING: //p')"
run env BULLETIN_BOUNCE_WARN_COMPLAINT_RATE=0.002 $B post status "$post"
case "$OUT" in *WARNING*) not_ok "threshold 0.002: 0.2% is not above it" "$OUT" ;; *) ok "threshold 0.002: 0.2% is not above it" ;; esac
expect_out "a bad threshold is refused with the key" 2 "bounce_warn_complaint_rate must be a fraction" \
	env BULLETIN_BOUNCE_WARN_COMPLAINT_RATE=0.1%% $B post status "$post"

# Hard bounces: 20 in 1000 is 2%, not above; 21 is 2.1%.
record hard bounced 101 120
status
same "2% hard: counted, no hard warning" "$(printf '%s' "$JSON" | jq -c '.bounces | [.hard, .hard_rate, (.warnings | map(.kind))]')" '[20,0.02,["complaint"]]'
case "$TEXT" in *"hard-bounce rate"*) not_ok "2% hard: no hard warning in the text" "$TEXT" ;; *) ok "2% hard: no hard warning in the text" ;; esac
record hard bounced 121 121
status
expect_line "2.1% hard: a warning" "$TEXT" \
	"WARNING: hard-bounce rate 2.10% is above 2%: many of these addresses do not exist, which mailbox providers read as a badly kept list; check where they came from (an old or bought list, an import) before the next send"
same "2.1% hard: both warnings, complaint first" "$(printf '%s' "$JSON" | jq -c '.bounces.warnings | map(.kind)')" '["complaint","hard"]'

# Soft, block, auto-reply and unknown: counted; auto-reply and unknown printed only when
# there are some; none of them makes a warning.
record soft bounced 201 203
record block bounced 301 302
same "soft and block counted" "$(printf '%s\n' "$($B post status "$post")" | sed -n 3p)" \
	"bounces: hard 21, soft 3, block 2, complaint 2"
record auto-reply accepted 401 401
record unknown accepted 402 403
same "auto-reply and unknown shown when non-zero" "$(printf '%s\n' "$($B post status "$post")" | sed -n 3p)" \
	"bounces: hard 21, soft 3, block 2, complaint 2, auto-reply 1, unknown 2"
# A delay warning (final 0) is never counted.
sql "INSERT INTO bounces (report_key, idx, received_at, class, final, post_id, subscriber_id)
     SELECT 'delay', 0, 1, 'soft', $([ "$BL_CLI_BACKEND" = postgres ] && echo false || echo 0), post_id, subscriber_id
     FROM deliveries WHERE post_id = $post ORDER BY id DESC LIMIT 1"
run $B post status "$post" --json
same "a delay warning is not counted" "$(printf '%s' "$OUT" | jq -c '.bounces.soft')" 3

# A rate finer than two decimals is printed with the digits that show it is above.
run env BULLETIN_BOUNCE_WARN_HARD_RATE=0.02099 $B post status "$post"
expect_out "2.1% against 2.099%: shown as above" 0 "hard-bounce rate 2.10% is above 2.099%" printf '%s' "$OUT"
run env BULLETIN_BOUNCE_WARN_HARD_RATE=0.021 $B post status "$post"
case "$OUT" in *"hard-bounce rate"*) not_ok "2.1% against 2.1%: no warning" "$OUT" ;; *) ok "2.1% against 2.1%: no warning" ;; esac

# A post nothing was delivered for: no rates (null in JSON), no warning.
draft=$($B post create --list news --subject "Draft" --body-file "$WORK/body.md")
run $B post status "$draft" --json
same "a draft: null rates" "$(printf '%s' "$OUT" | jq -c '.bounces | [.delivered, .hard_rate, .complaint_rate, .warnings]')" '[0,null,null,[]]'

# serve checks the bounce mailbox setting before it starts (timeout: a serve that
# started anyway would run until killed, exit 124, and fail these)
expect_out "serve refuses a POP3 mailbox with a folder to move to" 2 "bounce_mailbox: a pop3 mailbox has no folders" \
	env BULLETIN_BOUNCE_MAILBOX=pop3://u:pw-secret@127.0.0.1/ BULLETIN_BOUNCE_MAILBOX_MOVE=Done timeout 20 $B serve --listen 127.0.0.1:0
expect_out "serve refuses a mailbox URL of another scheme" 2 "bounce_mailbox: .*scheme \"ftp\"" \
	env BULLETIN_BOUNCE_MAILBOX=ftp://u:pw-secret@127.0.0.1/ timeout 20 $B serve --listen 127.0.0.1:0
if printf '%s%s' "$OUT" "$ERR" | grep -q pw-secret; then not_ok "the refusal does not show the password" "$ERR"; else ok "the refusal does not show the password"; fi
expect_out "serve refuses an unreadable mailbox password file" 2 "bounce_mailbox: bounce_mailbox_password_file $WORK/nope" \
	env BULLETIN_BOUNCE_MAILBOX=imap://u@127.0.0.1/INBOX BULLETIN_BOUNCE_MAILBOX_PASSWORD_FILE=$WORK/nope timeout 20 $B serve --listen 127.0.0.1:0

mkfifo "$WORK/pw.fifo"
expect_out "serve refuses a password file that is a FIFO (and does not hang on it)" 2 "bounce_mailbox_password_file $WORK/pw.fifo: not a regular file" \
	env BULLETIN_BOUNCE_MAILBOX=imap://u@127.0.0.1/INBOX BULLETIN_BOUNCE_MAILBOX_PASSWORD_FILE=$WORK/pw.fifo timeout 20 $B serve --listen 127.0.0.1:0
expect_out "serve refuses a query, without echoing it" 2 "bounce_mailbox: the mailbox URL takes no query" \
	env "BULLETIN_BOUNCE_MAILBOX=imap://u@127.0.0.1/INBOX?password=Secret99" timeout 20 $B serve --listen 127.0.0.1:0
if printf '%s%s' "$OUT" "$ERR" | grep -q Secret99; then not_ok "the query is not shown" "$ERR"; else ok "the query is not shown"; fi
expect_out "serve refuses a fragment" 2 "bounce_mailbox: the mailbox URL takes no fragment" \
	env "BULLETIN_BOUNCE_MAILBOX=imap://u@127.0.0.1/INBOX#f" timeout 20 $B serve --listen 127.0.0.1:0
expect_out "serve refuses a path naming a message, the password scrubbed from it" 2 "bounce_mailbox: .*names a folder, not a message" \
	env "BULLETIN_BOUNCE_MAILBOX=imap://u:Secret99@127.0.0.1:1/Secret99;UID=1" timeout 20 $B serve --listen 127.0.0.1:0
if printf '%s%s' "$OUT" "$ERR" | grep -q Secret99; then not_ok "the path's password is scrubbed" "$ERR"; else ok "the path's password is scrubbed"; fi
expect_out "serve refuses a folder to move to with a line break" 2 "bounce_mailbox: the folder to move to is empty or has a line break" \
	env BULLETIN_BOUNCE_MAILBOX=imap://u@127.0.0.1/INBOX "BULLETIN_BOUNCE_MAILBOX_MOVE=$(printf 'a\nb')" timeout 20 $B serve --listen 127.0.0.1:0

done_testing
