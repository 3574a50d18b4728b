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

done_testing
