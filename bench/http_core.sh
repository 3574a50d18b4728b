#!/bin/bash
# HTTP server core benchmark: bulletin's server (bench_http, a dynamic page of
# 624 bytes formatted per request) against nginx serving a static file with
# the same bytes, in one run, both on loopback, driven by wrk with keep-alive.
#
#   1. GET: ROUNDS (3) alternating rounds of SECS (6) seconds each, wrk -t1
#      -c CONNS (50); prints each round and the median rates and the ratio
#      bulletin / nginx. Server threads: THREADS (2, the cores here); nginx
#      gets as many worker processes.
#   2. POST: a form of 51 bytes to /write, which inserts a row into a fresh
#      SQLite database (one transaction, WAL, synchronous=FULL, per request)
#      on the worker thread's own store; 16 connections, 4 server threads.
#      Prints the rate and the 99th percentile latency: the worker threads'
#      SQLite connections wait for the write lock in SQLite's busy handler,
#      which sleeps (1 ms, 2 ms, ... 100 ms), so the tail moves a lot.
#
#   bench/http_core.sh            (uses ./build; builds it if missing)
# Needs wrk and nginx (nginx-light): a private nginx with its own config,
# prefix and pid file under a temporary directory; the system's is not used.
# Numbers from a shared machine move between runs: compare within one run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-6}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
BENCH=$ROOT/build/bench_http
for tool in wrk nginx curl; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install wrk nginx-light curl)" >&2; exit 1; }
done
if [ ! -x "$BENCH" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build bench_http >/dev/null)
fi

WORK=$(mktemp -d /tmp/bl-bench-http.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
	done
}

# wait_port PORT: until something answers there (5 s).
wait_port() {
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: nothing listens on port $1" >&2
	exit 1
}

# rate URL [wrk options]: requests/s of one wrk run.
rate() {
	local url=$1
	shift
	wrk -t1 -c"$CONNS" -d"${SECS}s" "$@" "$url" | awk '/^Requests\/sec:/ { printf "%d", $2 }'
}

median() {
	sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

BL_PORT=$(free_port)
"$BENCH" "127.0.0.1:$BL_PORT" "$THREADS" - >"$WORK/bench_http.out" 2>&1 &
pids+=($!)
wait_port "$BL_PORT"

NG_PORT=$(free_port)
mkdir -p "$WORK/ngx/html" "$WORK/ngx/logs"
curl -s "http://127.0.0.1:$BL_PORT/hello" >"$WORK/ngx/html/hello.html"
cat >"$WORK/ngx/nginx.conf" <<EOF
worker_processes $THREADS;
pid $WORK/ngx/nginx.pid;
error_log $WORK/ngx/logs/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$NG_PORT;
		root $WORK/ngx/html;
		location / { }
	}
}
EOF
chmod -R a+rX "$WORK"
nginx -p "$WORK/ngx" -c "$WORK/ngx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_port "$NG_PORT"

echo "GET, $ROUNDS rounds of ${SECS}s, $CONNS connections, $THREADS threads / workers"
echo "  bulletin: /hello, $(curl -s "http://127.0.0.1:$BL_PORT/hello" | wc -c) bytes," \
	"$(curl -sI "http://127.0.0.1:$BL_PORT/hello" | wc -c) bytes of headers"
echo "  nginx:    /hello.html, $(wc -c <"$WORK/ngx/html/hello.html") bytes," \
	"$(curl -sI "http://127.0.0.1:$NG_PORT/hello.html" | wc -c) bytes of headers"
bl=() ng=()
for i in $(seq "$ROUNDS"); do
	n=$(rate "http://127.0.0.1:$NG_PORT/hello.html")
	b=$(rate "http://127.0.0.1:$BL_PORT/hello?round=$i")
	ng+=("$n") bl+=("$b")
	printf '  round %d: nginx %7d req/s   bulletin %7d req/s\n' "$i" "$n" "$b"
done
ngm=$(printf '%s\n' "${ng[@]}" | median)
blm=$(printf '%s\n' "${bl[@]}" | median)
printf '  median:  nginx %7d req/s   bulletin %7d req/s   ratio %.2f\n' "$ngm" "$blm" \
	"$(awk -v a="$blm" -v b="$ngm" 'BEGIN { print a / b }')"

DB_PORT=$(free_port)
DB="$WORK/bench.db"
# A migrated database: `bulletin init` makes one with its settings.
(cd "$WORK" && BULLETIN_DB="sqlite:$DB" "$ROOT/build/bulletin" init >/dev/null 2>&1) ||
	{ echo "bench: bulletin init failed" >&2; exit 1; }
"$BENCH" "127.0.0.1:$DB_PORT" 4 "sqlite:$DB" >"$WORK/bench_http_db.out" 2>&1 &
pids+=($!)
wait_port "$DB_PORT"
cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "email=reader%40example.org&name=A+Reader&list=news"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF
echo "POST /write (SQLite, one transaction per request), 16 connections, 4 threads"
wrk -t1 -c16 -d"${SECS}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$DB_PORT/write" |
	awk '/^Requests\/sec:/ { r = $2 } /^ +99%/ { p = $2 } /Non-2xx/ { e = $NF }
	     END { printf "  bulletin %7d req/s, 99th percentile latency %s%s\n", r, p,
	           e ? ", " e " non-2xx replies" : "" }'
