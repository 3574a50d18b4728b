#!/bin/bash
# Crash safety of delivery, end to end (DESIGN.md "Delivery semantics" 3-5):
# a personalised post to N subscribers (default 20,000) goes out through a
# capturing relay (tests/smtp/capture.py) while `bulletin send` is killed
# with SIGKILL at random moments, KILLS times (default 20), each time right
# after a fresh engine started; then `bulletin send --once` finishes it.
# Afterwards: the post is sent with every row accepted; every subscriber got
# at least one message; the extra copies are at most concurrency x kills;
# each copy of a recipient's message carries the same Message-ID; and the
# post's in_doubt equals the rows the engines reported reclaiming, which is
# at least the number of extra copies.
# Then, once more on a small post: an engine that is running while the lease
# of a killed engine's claims runs out takes those rows over (PostgreSQL;
# SQLite's one engine reclaims everything when it starts).
#
# Environment: BL_CRASH_N, BL_CRASH_KILLS, BL_CRASH_SEED (bench/soak-crash.sh
# runs it bigger).
. "$(dirname "$0")/relay.sh"
cd "$WORK" || exit 1

N=${BL_CRASH_N:-20000}
KILLS=${BL_CRASH_KILLS:-20}
SEED=${BL_CRASH_SEED:-$$}
RANDOM=$SEED
CONC=8
LEASE=1
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_CONCURRENCY=$CONC
export BULLETIN_DELIVERY_LEASE=${LEASE}s # PostgreSQL reclaims a dead engine's rows after it
export BULLETIN_RELAY_RETRY_MIN=1s BULLETIN_RELAY_RETRY_MAX=2s
echo "# $N subscribers, $KILLS kills, seed $SEED, backend $BL_CLI_BACKEND"

BULLETIN_DB=$(new_db)
export BULLETIN_DB
$B init >/dev/null
$B list create news --name News >/dev/null
$B list create small --name Small >/dev/null
awk -v n="$N" 'BEGIN {
	print "email,name,city";
	split("Paris,Lyon,Berlin,Madrid,Rome,Oslo,Lisbon,Vienna", c, ",");
	for (i = 0; i < n; i++) printf "reader%06d@example.org,Reader %d,%s\n", i, i, c[i % 8 + 1]
}' >subs.csv
tail -n +2 subs.csv | cut -d, -f1 >everyone
head -n 1001 subs.csv >small.csv
tail -n +2 small.csv | cut -d, -f1 >everyone-small
$B import subs.csv --list news --confirmed --quiet >/dev/null 2>&1
$B import small.csv --list small --confirmed --quiet >/dev/null 2>&1
printf '# Hello {{subscriber.name}}\n\nNews from {{subscriber.attributes.city}}.\n\n[Leave]({{unsubscribe_url}})\n' >body.md
$B post create --list news --subject "Crash test" --body-file body.md >/dev/null
expect_out "the post is queued to every subscriber" 0 "post 1 queued: $N deliveries" $B post send 1

relay_start crash 0
export BULLETIN_RELAY=smtp://127.0.0.1:$RELAY_PORT

# reclaimed_in FILE...: the rows engines said they reclaimed, summed.
reclaimed_in() {
	cat "$@" 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\) deliveries were in flight when an engine stopped.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }'
}

kills=0 midsend=0 early=""
t0=$SECONDS
for k in $(seq "$KILLS"); do
	if [ "$(field 1 status)" != sending ]; then
		early="the post was $(field 1 status) before kill $k"
		break
	fi
	$B send >"engine-$k.log" 2>&1 &
	pid=$!
	bg_add $pid
	# 0.1 to 0.6 s: 20 kills must land before the post is done, also with a fast relay
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.1 + r % 501 / 1000 }')"
	kill -9 $pid
	wait $pid 2>/dev/null
	bg_forget $pid
	kills=$((kills + 1))
	c=$(sql "SELECT count(*) FROM deliveries WHERE post_id = 1 AND state = 'claimed'")
	[ "${c:-0}" -gt 0 ] && midsend=$((midsend + 1))
done
accepted_before=$(field 1 accepted)
echo "# $kills kills in $((SECONDS - t0)) s, $midsend of them with rows claimed; $accepted_before accepted by then"
if [ -z "$early" ] && [ "$kills" = "$KILLS" ] && [ $((midsend * 2)) -ge "$kills" ]; then
	ok "killed the engine $kills times in the middle of the send ($midsend left claimed rows)"
else
	not_ok "killed the engine $KILLS times in the middle of the send" "$early" "kills $kills, with claimed rows $midsend"
fi

# The last engine's claims belong to it until the lease ends (PostgreSQL).
[ "$BL_CLI_BACKEND" = postgres ] && sleep $((LEASE + 1))
expect "send --once finishes the post" 0 timeout $((600 + N / 100)) $B send --once
printf '%s\n' "$ERR" >final.log
ledger_ok "every row accepted, the post sent" 1 "$N" "$N" 0

tally=$("$PY" "$SMTP_DIR/tally.py" everyone "$WORK"/relay-crash/msgs.*)
echo "# relay: $tally"
t() { printf '%s' "$tally" | jq -r ".$1"; }
same "nobody skipped: every subscriber got a message" "$(t missing)/$(t unexpected)" "0/0"
extra=$(t extra)
if [ "$extra" -le $((CONC * kills)) ]; then
	ok "extra copies ($extra, $(t duplicated) recipients) <= concurrency x kills ($((CONC * kills)))"
else
	not_ok "extra copies <= concurrency x kills" "extra $extra, bound $((CONC * kills))" "$tally"
fi
same "every copy of a resent message has the same Message-ID" "$(t mid_differs)" 0
in_doubt=$(field 1 in_doubt)
reclaimed=$(reclaimed_in engine-*.log final.log)
same "in_doubt equals the rows the engines reported reclaiming" "$in_doubt" "$reclaimed"
if [ "$in_doubt" -ge "$extra" ] && [ "$in_doubt" -le $((CONC * kills)) ]; then
	ok "extra copies ($extra) <= in_doubt ($in_doubt) <= concurrency x kills"
else
	not_ok "extra copies <= in_doubt <= concurrency x kills" "extra $extra, in_doubt $in_doubt, kills $kills"
fi
same "rows marked in doubt are the post's in-doubt rows at most" \
	"$(sql "SELECT count(*) <= $in_doubt FROM deliveries WHERE post_id = 1 AND in_doubt" | sed 's/^t$/1/')" 1
if [ "$BL_CLI_BACKEND" = sqlite ]; then
	same "database intact" "$(sqlite3 "${BULLETIN_DB#sqlite:}" 'PRAGMA integrity_check')" ok
fi

# ---- a running engine takes over the claims of an engine that died ----
relay_stop crash
relay_start small 0
export BULLETIN_RELAY=smtp://127.0.0.1:$RELAY_PORT
$B post create --list small --subject "Crash test 2" --body-file body.md >/dev/null
$B post send 2 >/dev/null
$B send >engine-small.log 2>&1 &
pid=$!
bg_add $pid
wait_until 10 eval '[ "$(field 2 accepted)" -gt 0 ]'
kill -9 $pid
wait $pid 2>/dev/null
bg_forget $pid
claimed=$(field 2 claimed)
timeout 15 $B post send 2 --wait >wait-small.log 2>&1
rc=$?
check_true "an engine running when a dead engine's lease ends sends its rows ($claimed were claimed)" \
	"the running engine did not take over the expired claims: \`post send 2 --wait\` started within delivery_lease of the kill did not end (exit $rc after 15 s)" \
	test "$rc" = 0
if [ "$rc" != 0 ]; then # finish it the way that works: a new engine after the lease
	echo "# post 2 after the timeout: $(status 2)"
	sed 's/^/# wait: /' wait-small.log | tail -n 5
	sleep $((LEASE + 1))
	timeout 120 $B send --once >>wait-small.log 2>&1
fi
ledger_ok "the small post: every row accepted" 2 1000 1000 0
tally=$("$PY" "$SMTP_DIR/tally.py" everyone-small "$WORK"/relay-small/msgs.*)
same "the small post: nobody skipped, extra copies <= in_doubt" \
	"$(printf '%s' "$tally" | jq -r .missing)/$(printf '%s' "$tally" | jq -r ".extra <= $(field 2 in_doubt)")" "0/true"

done_testing
