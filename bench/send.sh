#!/bin/bash
# Delivery benchmark: bulletin's engine against Postfix's smtp-source, in one
# run, both sending to smtp-sink on loopback.
#
#   1. throughput: a personalised post to N subscribers (default 200,000;
#      fresh SQLite database in a temporary directory, imported from CSV),
#      the post queued, then `bulletin post send 1 --wait` (the engine until
#      the post is sent) with concurrency C (default 8) to an smtp-sink;
#      then `smtp-source -d -s C -m N -l SIZE` to a fresh smtp-sink, SIZE
#      being the size of bulletin's message (`post preview`, whole RFC 5322
#      message; smtp-source adds its own few headers on top). Prints both
#      rates in msgs/s and the ratio (target >= 0.7). The time of
#      `post send` (queueing N rows) is shown apart: it is not delivery.
#   2. latency of a breaking post while a big one is in flight: a second
#      N-recipient post is being sent by `bulletin send` in the background;
#      a breaking post to a separate one-subscriber list is queued with
#      `post send` LAT_N times (default 5). Measured by one Python process
#      that starts `bulletin post send ID` itself (t0 just before it starts)
#      and polls the database read-only every millisecond until the row's
#      state is `accepted` (the relay's 250 recorded): ms resolution, where
#      deliveries.updated_at has only seconds. Prints each, the median and
#      the worst (target <= 100 ms).
#   3. peak RSS of `bulletin post send 1 --wait` (/usr/bin/time -v, Maximum
#      resident set size) sending a post to 1,000,000 subscribers
#      (target <= 48 MB). It takes several minutes: BENCH_SKIP_1M=1 skips it.
#
#   bench/send.sh [N [C]]   (uses ./build/bulletin; builds it if missing)
# Environment: BENCH_SKIP_1M=1, BENCH_BIG_N (default 1000000), LAT_N,
# BENCH_TMPDIR (where the databases go, default /tmp; /dev/shm shows what
# the engine does without the cost of fsync, as the database commits every
# reply with synchronous=FULL).
# Results: bench/out/send/ (logs) and bench/out/send.txt (the summary).
# Needs postfix (smtp-sink, smtp-source), python3, GNU time. Runs as root
# too (smtp-sink -u nobody). Sends only to 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200000}
C=${2:-8}
BIG=${BENCH_BIG_N:-1000000}
LAT_N=${LAT_N:-5}
B=$ROOT/build/bulletin
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
OUT=$ROOT/bench/out/send
SUMMARY=$ROOT/bench/out/send.txt
for tool in "$SINK" "$SOURCE" /usr/bin/time /usr/bin/python3 sqlite3 awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install postfix time python3 sqlite3 gawk)" >&2; exit 1; }
done
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build >/dev/null)
fi
mkdir -p "$OUT"
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bl-bench-send-XXXXXX")
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_sink VAR: an smtp-sink on a free loopback port; sets VAR to the port
# and SINK_PID. Its counters (stdout) go to a log.
start_sink() {
	local var=$1 port try pid
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 12000))
		"$SINK" "${user[@]}" "127.0.0.1:$port" 1000 >>"$OUT/smtp-sink.log" 2>&1 &
		pid=$!
		for _ in $(seq 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				pids+=("$pid")
				SINK_PID=$pid
				printf -v "$var" '%s' "$port"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
	done
	echo "bench: smtp-sink did not start" >&2
	exit 1
}
stop_sink() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.001) }'; }

# make_db DIR N: a fresh SQLite database in DIR with list "news" holding N
# confirmed subscribers (CSV import) and list "alerts" with one, post 1 (a
# personalised newsletter to news) as a draft. Sets DB.
make_db() {
	local dir=$1 n=$2
	DB=sqlite:$dir/bulletin.db
	export BULLETIN_DB=$DB
	awk -v n="$n" 'BEGIN {
		print "email,name,city,plan";
		split("Paris,Lyon,Berlin,Madrid,Rome,Oslo,Lisbon,Vienna", c, ",");
		for (i = 0; i < n; i++) {
			k = (i * 7919 + 104729) % n;
			printf "reader.%07d@example%d.org,Reader %d,%s,%s\n", k, k % 13, k, c[k % 8 + 1], (k % 5 ? "free" : "pro");
		}
	}' >"$dir/subs.csv"
	"$B" init >/dev/null
	"$B" list create news --name "Newsroom weekly" >/dev/null
	"$B" list create alerts --name "Alerts" >/dev/null
	"$B" import "$dir/subs.csv" --list news --confirmed --quiet >/dev/null 2>&1 || true
	"$B" subscriber add breaking.reader@example.net --name "Breaking Reader" --list alerts --confirmed >/dev/null
	"$B" post create --list news --subject "This week: storms, trains and the city budget" \
		--body-file "$TMP/body.md" >/dev/null
}

cat >"$TMP/body.md" <<'MD'
# Hello {{subscriber.name}}

Here is what happened in **{{subscriber.attributes.city}}** this week, and what
to expect next. You get this letter on the *{{subscriber.attributes.plan}}* plan.

## Storms

The weather service expects strong winds on Thursday night. Secure what the
wind can take, keep away from the coast, and check on neighbours who live
alone. Schools stay open unless the service raises its warning to red; the
city will say so on its site by 6 a.m.

## Trains

Line 4 closes between the central station and the harbour from Saturday
morning to Monday night for track work. Replacement buses run every ten
minutes; allow twenty minutes more than usual.

## The budget

The council votes on next year's budget on Tuesday. The draft spends more on
bus lanes and less on parking; the public gallery opens at 5 p.m.

- [Read the draft budget](https://news.example/budget)
- [Line 4 replacement map](https://news.example/line4)
- [Storm checklist](https://news.example/storm)

Thanks for reading, {{subscriber.name}}. Reply to this letter to reach the
newsroom.

[Unsubscribe]({{unsubscribe_url}}) · [Preferences]({{preferences_url}})
MD

export BULLETIN_FROM="Newsroom <letters@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_POSTAL_ADDRESS="1 Harbour Street, 1000 City"
export BULLETIN_CONCURRENCY=$C
export BULLETIN_LOG_LEVEL=warn
export BULLETIN_RELAY_RETRY_MIN=1s
: >"$OUT/smtp-sink.log"
echo "bench/send.sh: $N subscribers, concurrency $C, $(nproc) cores; logs in $OUT" >&2

# ---------------------------------------------------------------- 1. throughput
mkdir -p "$TMP/a"
t0=$(now)
make_db "$TMP/a" "$N"
t1=$(now)
echo "setup (CSV import of $N): $(secs "$t0" "$t1") s" >&2
"$B" post preview 1 --format eml >"$OUT/message.eml"
SIZE=$(wc -c <"$OUT/message.eml")
sqlite3 "${DB#sqlite:}" "SELECT count(*) FROM subscriptions" >/dev/null

start_sink PORT
export BULLETIN_RELAY=smtp://127.0.0.1:$PORT
t0=$(now)
"$B" post send 1 >"$OUT/queue.log"
t1=$(now)
QUEUE_SECS=$(secs "$t0" "$t1")
t0=$(now)
# `post send --wait` on the queued post: the engine runs until the post is
# sent, riding out a relay hiccup (a dropped connection backs the relay off
# for relay_retry_min and pauses the post until a probe succeeds, where
# `send --once` would stop); the summary counts such pauses.
/usr/bin/time -v -o "$OUT/engine-throughput.time" "$B" post send 1 --wait >"$OUT/engine-throughput.log" 2>&1
t1=$(now)
B_SECS=$(secs "$t0" "$t1")
B_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/engine-throughput.time")
"$B" post status 1 --json >"$OUT/status-throughput.json"
B_ACC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted"])' "$OUT/status-throughput.json")
B_STATUS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$OUT/status-throughput.json")
B_RATE=$(rate "$B_ACC" "$B_SECS")
B_PAUSES=$(grep -c 'paused: every relay is unreachable' "$OUT/engine-throughput.log" || true)
stop_sink "$SINK_PID"
echo "bulletin: $B_ACC accepted in $B_SECS s: $B_RATE msgs/s (post $B_STATUS)" >&2

start_sink PORT
t0=$(now)
"$SOURCE" -d -s "$C" -m "$N" -l "$SIZE" -f bench@news.example -t reader@example.org \
	"127.0.0.1:$PORT" >"$OUT/smtp-source.log" 2>&1
t1=$(now)
S_SECS=$(secs "$t0" "$t1")
S_RATE=$(rate "$N" "$S_SECS")
stop_sink "$SINK_PID"
echo "smtp-source: $N in $S_SECS s: $S_RATE msgs/s" >&2

# ------------------------------------------------------------------ 2. latency
# A second big post in flight, sent by an engine in the background.
"$B" post create --list news --subject "Second letter" --body-file "$TMP/body.md" >/dev/null
"$B" post send 2 >/dev/null
start_sink PORT
export BULLETIN_RELAY=smtp://127.0.0.1:$PORT
"$B" send >"$OUT/engine-latency.log" 2>&1 &
ENGINE=$!
pids+=("$ENGINE")
# in flight: wait until the big post has some accepted rows
big_accepted() {
	sqlite3 "${DB#sqlite:}" "PRAGMA busy_timeout=5000; SELECT count(*) FROM deliveries WHERE post_id = 2 AND state = 'accepted'" | tail -1
}
for _ in $(seq 300); do
	[ "$(big_accepted)" -gt 1000 ] && break
	sleep 0.1
done
BIG_AT_START=$(big_accepted)
printf 'Breaking: {{subscriber.name}}, the bridge is closed.\n' >"$TMP/breaking.md"
: >"$OUT/latency.txt"
for i in $(seq "$LAT_N"); do
	id=$("$B" post create --list alerts --subject "Breaking $i" --breaking --body-file "$TMP/breaking.md")
	python3 - "${DB#sqlite:}" "$B" "$id" >>"$OUT/latency.txt" <<'PY'
import sqlite3, subprocess, sys, time
db, bulletin, post = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(db, timeout=5, isolation_level=None)
t0 = time.monotonic()
subprocess.run([bulletin, "post", "send", str(post)], check=True, stdout=subprocess.DEVNULL)
queued = time.monotonic()
state = None
while time.monotonic() - t0 < 30:
    row = con.execute("SELECT state FROM deliveries WHERE post_id = ?", (post,)).fetchone()
    state = row[0] if row else None
    if state == "accepted":
        break
    time.sleep(0.001)
done = time.monotonic()
print(f"{(done - t0) * 1000:.1f} {(queued - t0) * 1000:.1f} {state}")
PY
	sleep 0.3
done
BIG_AT_END=$(big_accepted)
BIG_LEFT=$((N - BIG_AT_END))
if [ "$BIG_AT_START" -le 0 ] || [ "$BIG_LEFT" -le 0 ]; then
	INFLIGHT="; NOT MEASURED IN FLIGHT: the big post had $BIG_AT_START accepted at the start, $BIG_LEFT left at the end"
else
	INFLIGHT="; the big post went from $BIG_AT_START to $BIG_AT_END accepted meanwhile"
fi
kill -TERM "$ENGINE"
wait "$ENGINE" || true
stop_sink "$SINK_PID"
read -r LAT_MED LAT_MAX LAT_Q LAT_BAD < <(sort -n "$OUT/latency.txt" | awk '{ v[NR] = $1; q += $2; if ($3 != "accepted") bad++ }
	END { printf "%.1f %.1f %.1f %d\n", v[int((NR + 1) / 2)], v[NR], q / NR, bad }')
echo "latency: median $LAT_MED ms, worst $LAT_MAX ms (post send itself: $LAT_Q ms on average)$INFLIGHT" >&2

# ----------------------------------------------------------- 3. peak RSS at 1M
BIG_LINE="peak RSS at $BIG subscribers: skipped (BENCH_SKIP_1M=1)"
if [ -z "${BENCH_SKIP_1M:-}" ]; then
	mkdir -p "$TMP/big"
	t0=$(now)
	make_db "$TMP/big" "$BIG"
	"$B" post send 1 >/dev/null
	t1=$(now)
	echo "setup of $BIG: $(secs "$t0" "$t1") s" >&2
	start_sink PORT
	export BULLETIN_RELAY=smtp://127.0.0.1:$PORT
	t0=$(now)
	/usr/bin/time -v -o "$OUT/engine-1m.time" "$B" post send 1 --wait >"$OUT/engine-1m.log" 2>&1
	t1=$(now)
	stop_sink "$SINK_PID"
	BIG_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/engine-1m.time")
	BIG_ACC=$("$B" post status 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')
	BIG_SECS=$(secs "$t0" "$t1")
	BIG_PAUSES=$(grep -c 'paused: every relay is unreachable' "$OUT/engine-1m.log" || true)
	BIG_LINE=$(awk -v kb="$BIG_RSS_KB" -v n="$BIG" -v acc="$BIG_ACC" -v s="$BIG_SECS" -v p="$BIG_PAUSES" 'BEGIN {
		printf "peak RSS at %d subscribers: %.1f MB (target <= 48)  [%d accepted in %.0f s, %.0f msgs/s; %d relay pauses]", n, kb / 1024, acc, s, acc / s, p }')
fi

awk -v n="$N" -v c="$C" -v size="$SIZE" -v q="$QUEUE_SECS" -v bs="$B_SECS" -v br="$B_RATE" \
	-v bacc="$B_ACC" -v bst="$B_STATUS" -v rss="$B_RSS_KB" -v bp="$B_PAUSES" -v ss="$S_SECS" -v sr="$S_RATE" \
	-v lmed="$LAT_MED" -v lmax="$LAT_MAX" -v lq="$LAT_Q" -v lbad="$LAT_BAD" -v latn="$LAT_N" \
	-v big="$BIG_LINE" -v cores="$(nproc)" -v infl="$INFLIGHT" 'BEGIN {
	printf "bench/send.sh  %d subscribers, concurrency %d, message %d bytes, %d cores\n", n, c, size, cores;
	printf "bulletin send:   %7.0f msgs/s  (%d accepted in %.2f s, post %s, %d relay pauses; peak RSS %.1f MB; queueing took %.2f s apart)\n", br, bacc, bs, bst, bp, rss / 1024, q;
	printf "smtp-source:     %7.0f msgs/s  (%d in %.2f s, -l %d)\n", sr, n, ss, size;
	printf "ratio bulletin/smtp-source: %.2f (target >= 0.70)\n", br / sr;
	printf "breaking-post latency while a %d-recipient post is in flight: median %.1f ms, worst %.1f ms over %d (target <= 100; post send alone %.1f ms)%s%s\n", n, lmed, lmax, latn, lq, lbad ? "; NOT ACCEPTED: " lbad : "", infl;
	print big;
}' | tee "$SUMMARY"
