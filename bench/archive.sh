#!/bin/bash
# Archive benchmark: `GET /archive` from `bulletin serve` against nginx
# serving the same page as a static file, in one run, both on loopback.
#
#   A fresh SQLite database (in a temporary directory) with one public list
#   and N posts (default 200; Markdown bodies of about 3 KB) sent to nobody,
#   so that they show in the archive. `bulletin serve --no-engine` serves it
#   with T worker threads (default: the number of cores); the page it
#   returns is saved and served by nginx (worker_processes = cores,
#   access_log off, keep-alive) at the same path. Then `wrk -t W -c C -d D`
#   (defaults: 2 threads, 32 connections, 10 s) against each, twice, the
#   best run of each counted. Prints requests/s of both and the ratio
#   (target >= 0.3), and bulletin's CPU time per request
#   (/proc/PID/stat, user + system, over its wrk runs). Then, without HTTP,
#   the CPU time of one render of the archive, a post page and the Atom
#   feed, and of one answer from the page cache (build/bench_archive_render).
#
#   bench/archive.sh [N [T]]   (uses ./build/bulletin; builds it if missing)
# Environment: BENCH_CONNECTIONS (32), BENCH_SECONDS (10), BENCH_WRK_THREADS (2),
# BENCH_PATH (/archive: any GET route, e.g. /feed.atom or /archive/1-...).
# Results: bench/out/archive.txt (the summary). Needs nginx, wrk, curl.
# Listens on 127.0.0.1 only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200}
CORES=$(nproc)
T=${2:-$CORES}
C=${BENCH_CONNECTIONS:-32}
SECS=${BENCH_SECONDS:-10}
WT=${BENCH_WRK_THREADS:-2}
ROUTE=${BENCH_PATH:-/archive}
B=$ROOT/build/bulletin
NGINX=/usr/sbin/nginx
SUMMARY=$ROOT/bench/out/archive.txt
for tool in "$NGINX" wrk curl awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install nginx-light wrk curl gawk)" >&2; exit 1; }
done
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build >/dev/null)
fi
mkdir -p "$ROOT/bench/out"
TMP=$(mktemp -d /tmp/bl-bench-archive-XXXXXX)

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${BENCH_KEEP:-}" ] && echo "bench: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
	done
}

export BULLETIN_DB="sqlite:$TMP/bulletin.db"
export BULLETIN_PUBLIC_URL="http://127.0.0.1:8080"
export BULLETIN_FROM="Bench News <news@example.com>"
export BULLETIN_SITE_NAME="Bench News"
export BULLETIN_HTTP_THREADS=$T
export BULLETIN_HTTP_CONNECTIONS_PER_IP=100000 # wrk's connections all come from 127.0.0.1
export BULLETIN_LOG_LEVEL=warn
"$B" init >/dev/null
"$B" list create news --name "News" --description "Everything that happens" >/dev/null

# A body of about 3 KB: headings, paragraphs, a list, a link, a quote.
{
	echo "# The week in review"
	for i in 1 2 3 4 5 6; do
		echo
		echo "## Part $i"
		echo
		echo "Lorem ipsum dolor sit amet, *consectetur* adipiscing elit, sed do eiusmod tempor"
		echo "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud"
		echo "exercitation ullamco laboris nisi ut aliquip ex ea **commodo** consequat."
		echo
		echo "- one [link](https://example.com/$i)"
		echo "- two"
	done
	echo
	echo "> Read the [archive]({{archive_url}}). Thanks, {{subscriber.name}}{{^subscriber.name}}reader{{/subscriber.name}}."
} >"$TMP/body.md"
echo "bench: creating $N posts" >&2
for i in $(seq "$N"); do
	id=$("$B" post create --list news --subject "Post number $i: what happened today" \
		--body-file "$TMP/body.md")
	"$B" post send "$id" >/dev/null
done

BPORT=$(free_port)
"$B" serve --no-engine --listen "127.0.0.1:$BPORT" >"$TMP/serve.log" 2>&1 &
BPID=$!
pids+=("$BPID")
for _ in $(seq 100); do
	grep -q "listening on" "$TMP/serve.log" && break
	sleep 0.1
done
grep -q "listening on" "$TMP/serve.log" || { cat "$TMP/serve.log" >&2; exit 1; }

mkdir -p "$TMP/www"
curl -sf "http://127.0.0.1:$BPORT$ROUTE" -o "$TMP/www/page"
SIZE=$(stat -c %s "$TMP/www/page")

NPORT=$(free_port)
cat >"$TMP/nginx.conf" <<EOF
worker_processes $CORES;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
$( [ "$(id -u)" -eq 0 ] && echo "user nobody nogroup;" )
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx-body;
	proxy_temp_path $TMP/nginx-proxy;
	fastcgi_temp_path $TMP/nginx-fastcgi;
	uwsgi_temp_path $TMP/nginx-uwsgi;
	scgi_temp_path $TMP/nginx-scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$NPORT;
		root $TMP/www;
		location / { default_type "text/html; charset=utf-8"; try_files /page =404; }
	}
}
EOF
chmod 755 "$TMP" "$TMP/www"
chmod 644 "$TMP/www/page"
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP" 2>"$TMP/nginx.log" &
pids+=($!)
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$NPORT$ROUTE" -o /dev/null && break
	sleep 0.1
done

# run_wrk URL: requests/s of one wrk run.
run_wrk() {
	wrk -t "$WT" -c "$C" -d "${SECS}s" --latency "$1" >"$TMP/wrk.out" 2>&1
	cat "$TMP/wrk.out" >&2
	awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk.out"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

best_b=0 best_n=0 reqs_b=0
t0=$(cpu_ticks "$BPID")
for round in 1 2; do
	echo "bench: round $round: bulletin" >&2
	r=$(run_wrk "http://127.0.0.1:$BPORT$ROUTE")
	reqs_b=$(awk -v r="$r" -v s="$SECS" -v a="$reqs_b" 'BEGIN { print a + r * s }')
	best_b=$(awk -v a="$best_b" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
	echo "bench: round $round: nginx" >&2
	r=$(run_wrk "http://127.0.0.1:$NPORT$ROUTE")
	best_n=$(awk -v a="$best_n" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
done
t1=$(cpu_ticks "$BPID")
hz=$(getconf CLK_TCK)
{
	echo "GET $ROUTE ($SIZE bytes; $N posts, bulletin with $T threads, nginx with $CORES workers;"
	echo "wrk -t $WT -c $C -d ${SECS}s; $CORES cores shared by both and wrk)"
	printf 'bulletin  %10.0f req/s\n' "$best_b"
	printf 'nginx     %10.0f req/s\n' "$best_n"
	awk -v b="$best_b" -v n="$best_n" 'BEGIN { printf "ratio     %10.2f (target >= 0.3)\n", b / n }'
	awk -v t="$((t1 - t0))" -v hz="$hz" -v r="$reqs_b" \
		'BEGIN { printf "bulletin CPU %.1f us per request\n", t / hz / r * 1e6 }'
	echo "without HTTP (build/bench_archive_render), CPU per call:"
	post=$(curl -s "http://127.0.0.1:$BPORT/archive" | grep -o '/archive/[0-9][^"]*' | head -1)
	for p in /archive "$post" /feed.atom; do
		"$ROOT/build/bench_archive_render" "$BULLETIN_DB" "$p" 300 | sed 's/^/  /'
	done
} | tee "$SUMMARY"
