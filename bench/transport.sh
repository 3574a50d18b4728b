#!/bin/bash
# Transport benchmark: bulletin's SMTP transport against Postfix's
# smtp-source, in one run, all sending to the same smtp-sink on loopback.
#
#   1. throughput: N messages (default 50,000) with an 8 KiB body, one
#      recipient each, CONCURRENCY connections (default 8) reused between
#      messages (smtp-source -d -s 8 -m N -l 8192), sent by smtp-source, by
#      bulletin's transport as configured (a loopback relay: bulletin's own
#      pipelining client) and by the transport forced to libcurl. Prints
#      each rate in msgs/s with its CPU time per message (user + system, of
#      that process alone) and the ratios to smtp-source. The relay's CPU
#      is not counted; on 2 cores it competes with the sender.
#   2. latency: LAT_N messages (default 8) to a second smtp-sink that waits
#      1 s before answering the end of DATA (-W .:1), same concurrency.
#      Connections that overlap their waits need about LAT_N/CONCURRENCY s.
#
#   bench/transport.sh [N [CONCURRENCY]]   (uses ./build; builds it if missing)
# Needs postfix (smtp-sink, smtp-source) and /usr/bin/time (package time).
# Runs as root too (smtp-sink -u nobody).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-50000}
C=${2:-8}
LAT_N=${LAT_N:-8}
SIZE=8192
BENCH=$ROOT/build/bench_transport
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
for tool in "$SINK" "$SOURCE" /usr/bin/time; do
	[ -x "$tool" ] || { echo "bench: $tool is missing (apt-get install postfix time)" >&2; exit 1; }
done
if [ ! -x "$BENCH" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build bench_transport >/dev/null)
fi
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# start_sink VAR ARGS...: an smtp-sink on a free loopback port; sets VAR to the port.
start_sink() {
	local var=$1 port try
	shift
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 12000))
		"$SINK" "${user[@]}" "$@" "127.0.0.1:$port" 1000 >/dev/null 2>&1 &
		local pid=$!
		for _ in $(seq 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				pids+=("$pid")
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

# now: seconds since the epoch, with microseconds
now() { echo "$EPOCHREALTIME"; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

start_sink PORT
echo "smtp-sink on 127.0.0.1:$PORT; $N messages, ${SIZE}-byte body, concurrency $C; $(nproc) cores"

# cpu_us TIMEFILE: user + system µs per message from /usr/bin/time -f "%U %S"
cpu_us() { awk -v n="$N" '{ printf "%.1f", ($1 + $2) * 1e6 / n }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
TIMES=$(mktemp)
trap 'cleanup; rm -f "$TIMES"' EXIT

t0=$(now)
/usr/bin/time -o "$TIMES" -f "%U %S" "$SOURCE" -d -s "$C" -m "$N" -l "$SIZE" \
	-f bench@bulletin.test -t reader@bulletin.test "127.0.0.1:$PORT"
t1=$(now)
SRC_RATE=$(rate "$N" "$t0" "$t1")
echo "smtp-source: $N messages in $(secs "$t0" "$t1") s: $SRC_RATE msgs/s, $(cpu_us "$TIMES") us CPU/msg"

t0=$(now)
"$BENCH" "smtp://127.0.0.1:$PORT" "$N" "$SIZE" "$C"
t1=$(now)
BL_RATE=$(rate "$N" "$t0" "$t1")

t0=$(now)
"$BENCH" "smtp://127.0.0.1:$PORT" "$N" "$SIZE" "$C" libcurl
t1=$(now)
CURL_RATE=$(rate "$N" "$t0" "$t1")
echo "ratio bulletin/smtp-source: $(ratio "$BL_RATE" "$SRC_RATE") (libcurl: $(ratio "$CURL_RATE" "$SRC_RATE"))"

start_sink SLOW -W .:1
echo
echo "latency: the relay answers the end of DATA after 1 s; $LAT_N messages, concurrency $C"
t0=$(now)
"$SOURCE" -d -s "$C" -m "$LAT_N" -l 1000 "127.0.0.1:$SLOW"
t1=$(now)
echo "smtp-source: $(secs "$t0" "$t1") s"
t0=$(now)
"$BENCH" "smtp://127.0.0.1:$SLOW" "$LAT_N" 1000 "$C" >/dev/null
t1=$(now)
echo "bulletin:    $(secs "$t0" "$t1") s"
t0=$(now)
"$BENCH" "smtp://127.0.0.1:$SLOW" "$LAT_N" 1000 "$C" libcurl >/dev/null
t1=$(now)
echo "libcurl:     $(secs "$t0" "$t1") s"
