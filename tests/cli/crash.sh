#!/bin/bash
# An import killed halfway leaves a consistent database holding whole
# batches; running it again completes the import with no duplicate.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB BULLETIN_IMPORT_BATCH=1000
$B init >/dev/null
$B list create news --name News >/dev/null
cd "$WORK"
N=200000
awk -v n=$N 'BEGIN { print "email,name,city"; for (i = 0; i < n; i++) printf "user%d@example.org,User %d,City %d\n", i, i, i % 97 }' > big.csv

count() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then
		psql -At "$DB" -c "SELECT count(*) FROM subscribers" 2>/dev/null
	else
		sqlite3 "${DB#sqlite:}" "PRAGMA busy_timeout=5000; SELECT count(*) FROM subscribers" 2>/dev/null | tail -1
	fi
}

$B import big.csv --list news --quiet >/dev/null 2>&1 &
PID=$!
# Kill it once some batches are committed but long before the end.
for _ in $(seq 1 600); do
	C=$(count)
	[ "${C:-0}" -ge 20000 ] && break
	sleep 0.05
done
kill -9 $PID 2>/dev/null
wait $PID 2>/dev/null
C=$(count)
if [ "${C:-0}" -gt 0 ] && [ "$C" -lt $N ]; then ok "killed halfway ($C of $N rows committed)"; else not_ok "killed halfway" "count $C"; fi
same "only whole batches committed" "$((C % 1000))" "0"
if [ "$BL_CLI_BACKEND" = sqlite ]; then
	same "database intact" "$(sqlite3 "${DB#sqlite:}" 'PRAGMA integrity_check')" "ok"
	same "every subscriber has its subscription and import event" \
		"$(sqlite3 "${DB#sqlite:}" 'SELECT (SELECT count(*) FROM subscriptions) || " " || (SELECT count(*) FROM consent_events)')" "$C $C"
else
	same "every subscriber has its subscription and import event" \
		"$(psql -At "$DB" -c 'SELECT (SELECT count(*) FROM subscriptions) || $$ $$ || (SELECT count(*) FROM consent_events)')" "$C $C"
fi
expect_out "running it again completes it" 0 "^imported $((N - C)), updated 0, skipped $C \(invalid 0, duplicate $C\)$" $B import big.csv --list news --quiet
same "no duplicate" "$(count)" "$N"

# Two imports at once (SQLite: one writer at a time, between batches): an
# unsubscribe file run while a big import is going on is never mistaken for
# rows of the other import. (On PostgreSQL two imports adding the same new
# address at once make one fail with a unique violation; it can be re-run.)
[ "$BL_CLI_BACKEND" = sqlite ] || { done_testing; exit; }
$B list create race --name Race >/dev/null
awk 'BEGIN { print "email"; for (i = 0; i < 100000; i++) printf "racer%d@example.org\n", i }' > race.csv
awk 'BEGIN { print "email,status"; for (i = 0; i < 500; i++) printf "racer%d@example.org,unsubscribed\n", i * 200 }' > unrace.csv
$B import race.csv --list race --confirmed --quiet >/dev/null 2>&1 &
PID=$!
sleep 0.3
$B import unrace.csv --list race --quiet >/dev/null 2>&1
wait $PID
run $B list show race --json
same "concurrent imports keep every unsubscribe" "$(printf '%s' "$OUT" | jq -c '.counts | [.confirmed + .unconfirmed + .unsubscribed, .unsubscribed]')" '[100000,500]'

done_testing
