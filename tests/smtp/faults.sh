#!/bin/bash
# Relay faults, end to end (DESIGN.md "Delivery semantics", README "Delivery"):
# `bulletin send --once` and `post send --wait` against capturing relays on
# loopback (tests/smtp/capture.py) and smtp-sink, one fresh database per
# case. Each case ends with every row where the contract puts it, accepted +
# failed + suppressed = total, and the relays' stored messages counted per
# recipient: nobody lost, nobody doubled.
#   4xx at RCPT        -> deferred, post still sending; accepted on a later
#                         run once due and the relay takes them
#   4xx for too long   -> failed after retry_max_age
#   5xx at RCPT        -> failed, the rest accepted
#   5xx at end of DATA -> failed, the rest accepted
#   5xx at MAIL FROM   -> post paused with the reason, nobody failed;
#                         resumes by itself when the relay accepts again
#   421 at RCPT        -> connection-level: nobody fails, the post pauses
#   relay stopped      -> post paused, nobody failed; resumes when it starts
#   hang-ups           -> the rows go back to the queue; all accepted later
#   first relay down   -> everything accepted once through the second
. "$(dirname "$0")/relay.sh"
cd "$WORK" || exit 1

N=12
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_CONCURRENCY=4
export BULLETIN_RELAY_TIMEOUT=10s
export BULLETIN_RELAY_RETRY_MIN=1s BULLETIN_RELAY_RETRY_MAX=2s
export BULLETIN_RETRY_MIN=2s BULLETIN_RETRY_MAX=2s
export BULLETIN_LOG_LEVEL=warn
{
	echo "email,name"
	for i in $(seq -w 1 $N); do echo "u$i@example.org,Reader $i"; done
} >subs.csv
tail -n +2 subs.csv | cut -d, -f1 >everyone
printf '# Hello {{subscriber.name}}\n\n[Leave]({{unsubscribe_url}})\n' >body.md

# new_case NAME: a fresh database with N confirmed subscribers and post 1
# queued to them; relays of the case store under relay-NAME-*.
new_case() {
	CASE=$1
	BULLETIN_DB=$(new_db)
	export BULLETIN_DB
	$B init >/dev/null &&
		$B list create news --name News >/dev/null &&
		$B import subs.csv --list news --confirmed --quiet >/dev/null 2>&1 &&
		$B post create --list news --subject "Fault $CASE" --body-file body.md >/dev/null &&
		$B post send 1 >/dev/null || echo "Bail out! cannot set up case $CASE"
}
# except ADDR...: everyone but these addresses, into file $WORK/want.
except() {
	local re
	re=$(printf '%s\n' "$@" | paste -sd'|')
	grep -Evx "$re" everyone >want
}
# once: one `bulletin send --once` (bounded in time), output in $WORK/once.log.
once() { timeout 60 $B send --once >>once.log 2>&1; }
# wait_bg PID SECONDS: wait for a background command; 124 if it had to be killed.
wait_bg() {
	local pid=$1 secs=$2 rc
	if ! wait_until "$secs" eval "! kill -0 $pid 2>/dev/null"; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		bg_forget "$pid"
		return 124
	fi
	wait "$pid"
	rc=$?
	bg_forget "$pid"
	return $rc
}
post_is() { [ "$(field 1 status)" = "$1" ]; }

# ---------------------------------------------------------------- 4xx at RCPT
new_case soft
relay_start soft 0 --reply-rcpt u03@example.org=450 --reply-rcpt 'U07@example.org=451:4.2.1 mailbox busy'
P=$RELAY_PORT
export BULLETIN_RELAY=smtp://127.0.0.1:$P
expect "4xx: send --once ends" 0 once
same "4xx at RCPT: those rows deferred, the post still sending" "$(status 1)" \
	'{"status":"sending","total":12,"accepted":10,"pending":0,"claimed":0,"deferred":2,"failed":0,"suppressed":0}'
same "4xx: the deferral keeps the relay's code and reply" \
	"$(sql "SELECT code, reply LIKE '%4.2.1 mailbox busy%' FROM deliveries WHERE state = 'deferred' ORDER BY id" | tr '\n' ' ' | sed 's/|t/|1/g; s/|f/|0/g')" \
	"450|0 451|1 "
once
same "4xx: a run before retry_min sends nothing more" "$(field 1 deferred)/$(field 1 accepted)" "2/10"
relay_stop soft
relay_start soft "$P"
sleep 2.2 # retry_min
once
ledger_ok "4xx: accepted on a later run once the relay takes them" 1 $N $N 0
per_recipient_ok "4xx: everyone exactly once" everyone soft
same "4xx: the retried rows took two attempts" \
	"$(sql "SELECT count(*) FROM deliveries WHERE attempts = 2")" 2

# -------------------------------------------------- 4xx until retry_max_age
new_case expire
relay_start expire 0 --reply-rcpt u05@example.org=452
export BULLETIN_RELAY=smtp://127.0.0.1:$RELAY_PORT
run env BULLETIN_RETRY_MIN=1s BULLETIN_RETRY_MAX=1s BULLETIN_RETRY_MAX_AGE=3s timeout 60 $B post send 1 --wait
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q "post 1: sent"; then ok "expiry: post send --wait ends with the post sent"; else
	not_ok "expiry: post send --wait ends with the post sent" "exit $RC" "$OUT" "$ERR"
fi
ledger_ok "expiry: the row still deferred after retry_max_age failed" 1 $N 11 1
reply=$(sql "SELECT attempts || ' ' || reply FROM deliveries WHERE state = 'failed'")
case "$reply" in
[2-9]" gave up after "[2-9]" attempts: 452 "*) ok "expiry: failed after several attempts, saying so ($reply)" ;;
*) not_ok "expiry: failed after several attempts, saying so" "$reply" ;;
esac
except u05@example.org
per_recipient_ok "expiry: the others exactly once, nothing for the expired one" want expire

# ------------------------------------------------------------ 5xx at RCPT
new_case hard
relay_start hard 0 --reply-rcpt 'u02@example.org=550:5.1.1 no such user' --reply-rcpt u09@example.org=553
export BULLETIN_RELAY=smtp://127.0.0.1:$RELAY_PORT
once
ledger_ok "5xx at RCPT: those rows failed, the rest accepted, post sent" 1 $N 10 2
same "5xx at RCPT: the failure keeps the relay's code and reply" \
	"$(sql "SELECT code, reply LIKE '%5.1.1 no such user%' FROM deliveries WHERE state = 'failed' ORDER BY id" | tr '\n' ' ' | sed 's/|t/|1/g; s/|f/|0/g')" \
	"550|1 553|0 "
except u02@example.org u09@example.org
per_recipient_ok "5xx at RCPT: the others exactly once" want hard

# ------------------------------------------------------- 5xx at end of DATA
new_case data
relay_start data 0 --reply-data 'u04@example.org=554:5.7.1 content rejected'
export BULLETIN_RELAY=smtp://127.0.0.1:$RELAY_PORT
once
ledger_ok "5xx at end of DATA: that row failed, the rest accepted" 1 $N 11 1
except u04@example.org
per_recipient_ok "5xx at end of DATA: the others exactly once" want data

# ------------------------------------------------------- 5xx at MAIL FROM
new_case mail
relay_start mail 0 --reply-mail '*=550:5.7.1 sender refused'
P=$RELAY_PORT
export BULLETIN_RELAY=smtp://127.0.0.1:$P
# The contract: --once exits when nothing can be sent now.
timeout 8 $B send --once >once.log 2>&1
rc=$?
check_true "5xx at MAIL FROM: send --once ends (nothing can be sent)" \
	"send --once never exits while a post is paused by a 5xx at MAIL FROM (ran 8 s, exit $rc)" \
	test "$rc" != 124
wait_until 10 post_is paused
r=$(field 1 pause_reason)
case "$r" in
*"MAIL FROM"*550*) ok "5xx at MAIL FROM: the post paused itself, with the reason ($r)" ;;
*) not_ok "5xx at MAIL FROM: the post paused itself, with the reason" "$(status 1) $r" ;;
esac
same "5xx at MAIL FROM: nobody failed, nothing accepted" "$(field 1 failed)/$(field 1 accepted)" "0/0"
# The engine runs on while the relay refuses: it probes the relay and leaves
# the post paused; it sends nothing more than what was in flight.
: >"$WORK/relay-mail/transcript"
$B post send 1 --wait >wait.log 2>&1 &
W=$!
bg_add $W
sleep 4
# Probes (one MAIL FROM each) come at most every relay_retry_min (1 s),
# doubling to relay_retry_max (2 s), plus one when the engine starts: <= 5.
mails=$(grep -c '> MAIL FROM:' "$WORK/relay-mail/transcript")
rcpts=$(grep -c '> RCPT TO:' "$WORK/relay-mail/transcript")
check_true "5xx at MAIL FROM: while the relay refuses, the post stays paused and only probes reach the relay" \
	"the post resumes every relay_retry_min without a real probe (bl_transport_probe probes only relays the transport marked down; a 5xx at MAIL FROM does not mark it) and $BULLETIN_CONCURRENCY messages are tried each time: $mails MAIL FROM in 4 s, want <= 5" \
	test "$mails" -le 5 -a "$rcpts" = 0
same "5xx at MAIL FROM: still nobody failed" "$(field 1 failed)/$(field 1 accepted)" "0/0"
relay_stop mail
relay_start mail "$P"
wait_bg $W 60
same "5xx at MAIL FROM: post send --wait ends once the relay accepts again" "$?" 0
ledger_ok "5xx at MAIL FROM: resumed by itself, everyone accepted" 1 $N $N 0
per_recipient_ok "5xx at MAIL FROM: everyone exactly once" everyone mail

# ------------------------------------------------- 421 at RCPT (smtp-sink)
new_case s421
P=$(free_port)
sink_start s421 "$P" -Q RCPT
export BULLETIN_RELAY=smtp://127.0.0.1:$P
expect "421: send --once ends" 0 once
same "421 at RCPT: nobody failed or deferred, nothing accepted" \
	"$(field 1 failed)/$(field 1 deferred)/$(field 1 accepted)/$(field 1 claimed)" "0/0/0/0"
same "421 at RCPT: the post paused itself" "$(field 1 status)" "paused"
relay_stop s421
relay_start s421 "$P"
once
ledger_ok "421: resumed by the next run, everyone accepted" 1 $N $N 0
per_recipient_ok "421: everyone exactly once" everyone s421

# --------------------------------------------------------- relay stopped
new_case down
P=$(free_port)
export BULLETIN_RELAY=smtp://127.0.0.1:$P
expect "relay stopped: send --once ends" 0 once
same "relay stopped: the post paused itself" "$(field 1 status)" "paused"
r=$(field 1 pause_reason)
case "$r" in *unreachable*) ok "relay stopped: the reason says so ($r)" ;; *) not_ok "relay stopped: the reason says so" "$r" ;; esac
same "relay stopped: nobody failed, every row back in the queue" \
	"$(field 1 failed)/$(field 1 deferred)/$(field 1 claimed)/$(field 1 pending)" "0/0/0/$N"
$B post send 1 --wait >wait.log 2>&1 &
W=$!
bg_add $W
sleep 2.5
same "relay stopped: still paused while nothing listens, nobody failed" \
	"$(field 1 status)/$(field 1 failed)/$(field 1 accepted)" "paused/0/0"
relay_start down "$P"
wait_bg $W 60
same "relay stopped: post send --wait ends once the relay starts" "$?" 0
ledger_ok "relay stopped: resumed by itself, everyone accepted" 1 $N $N 0
per_recipient_ok "relay stopped: everyone exactly once" everyone down

# ------------------------------------------------------------- hang-ups
new_case hangup
relay_start hangup 0 --hangup-data u03@example.org --hangup-rcpt u08@example.org
P=$RELAY_PORT
export BULLETIN_RELAY=smtp://127.0.0.1:$P
# Each hang-up backs the relay off; every run probes and goes on.
for _ in $(seq 12); do
	once
	[ "$(field 1 pending)" = 2 ] && break
	sleep 1.1
done
same "hang-ups: nobody failed or deferred; only the two that hang up are left" \
	"$(field 1 failed)/$(field 1 deferred)/$(field 1 claimed)/$(field 1 pending)/$(field 1 accepted)" "0/0/0/2/10"
same "hang-ups: no message stored for them" "$(captured hangup | grep -cE '^u0(3|8)@')" 0
relay_stop hangup
relay_start hangup "$P"
for _ in $(seq 5); do
	once
	post_is sent && break
	sleep 1.1
done
ledger_ok "hang-ups: all accepted once the relay behaves" 1 $N $N 0
per_recipient_ok "hang-ups: everyone exactly once" everyone hangup

# -------------------------------------------------- first of two relays down
new_case failover
D=$(free_port)
relay_start failover 0
export BULLETIN_RELAY="smtp://127.0.0.1:$D, smtp://127.0.0.1:$RELAY_PORT"
once
ledger_ok "fail-over: every row accepted" 1 $N $N 0
same "fail-over: all through the second relay" \
	"$(sql "SELECT relay, count(*) FROM deliveries GROUP BY relay")" "smtp://127.0.0.1:$RELAY_PORT|$N"
per_recipient_ok "fail-over: everyone exactly once" everyone failover

done_testing
