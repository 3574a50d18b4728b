#!/bin/bash
# HTTP benchmark: `bulletin serve` against nginx in one run, both loaded by
# wrk on loopback with the same threads, connections and duration.
#
#   1. GET /archive: a fresh SQLite database with N_POSTS (default 30) sent
#      posts on a public list (delivered to a maildir beforehand), so the
#      archive page has a realistic size; `bulletin serve --no-engine` answers
#      it; then nginx (a private instance: its own config, prefix and logs in
#      a temporary directory, `daemon off`, the current user, never the
#      system service) serves a static file holding the same bytes as
#      bulletin's page (its response body, saved). Prints both rates in
#      req/s and the ratio (target >= 0.3).
#   2. POST /subscribe: wrk's Lua script (bench/http-subscribe.lua) posts
#      email=bench-T-N%40example.org&list=news&form_token=...&website= with a
#      distinct address per request, the form token and its cookie fetched
#      once before the run (GET /). Config: form_min_fill = 0,
#      signup_rate_ip = 0, signup_rate_global = 0, http_connections_per_ip =
#      2 x the connections (no budget limits the run).
#      serve runs with --no-engine: each signup still commits its subscriber,
#      subscription, consent event and confirmation post with its delivery
#      row, but nothing sends that mail, so delivery does not compete for the
#      CPU. Prints the signups/s (new subscribers in the database divided by
#      wrk's duration; target >= 3,000/s) and, for reference, nginx answering
#      the same POSTs with a static 200 page (the bytes of bulletin's "check
#      your inbox" page). That reference only parses and discards the
#      request; bulletin checks the token and commits a transaction
#      (synchronous=FULL), so the ratio shows the price of that work, it is
#      not a target.
#
#   bench/http.sh   (uses ./build/bulletin; builds it if missing)
# Environment: WRK_THREADS (2), WRK_CONNECTIONS (32), WRK_DURATION (10s),
# WRK_TIMEOUT (10s: a slower answer counts as a socket error, not a latency),
# N_POSTS (30), BENCH_TMPDIR (where the database goes, default /tmp; its
# disk's fsync is in every signup: /dev/shm shows bulletin without it),
# HTTP_THREADS (serve's http_threads, default: the config default, 4).
# Results: bench/out/http/ (wrk outputs, server logs, the pages) and
# bench/out/http.txt (the summary). Needs wrk, nginx (nginx-light), curl,
# python3. Talks only to 127.0.0.1; stops every server it starts, also on
# failure or Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
THREADS=${WRK_THREADS:-2}
CONNS=${WRK_CONNECTIONS:-32}
DURATION=${WRK_DURATION:-10s}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
N_POSTS=${N_POSTS:-30}
B=$ROOT/build/bulletin
OUT=$ROOT/bench/out/http
SUMMARY=$ROOT/bench/out/http.txt
LUA=$ROOT/bench/http-subscribe.lua
for tool in wrk nginx curl python3 awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install wrk nginx-light curl python3 gawk)" >&2; exit 1; }
done
NGINX=$(command -v nginx)
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build >/dev/null)
fi
rm -rf "$OUT"
mkdir -p "$OUT"
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bl-bench-http-XXXXXX")

pids=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_traps bench/http.sh

# wrk_run NAME URL [LUA [ARGS...]]: wrk with the common settings; output in
# $OUT/wrk-NAME.txt. Sets RPS, REQS, SECS, BAD (non-2xx/3xx), ERRS (socket
# errors), P50, P99 (latency, ms), US (the server's CPU time per request, µs:
# the processes in SERVER_PIDS, user + system).
wrk_run() {
	local name=$1 url=$2 script=()
	shift 2
	if [ $# -gt 0 ]; then
		script=(-s "$1")
		shift
	fi
	local c0 c1
	c0=$(cpu_ms "${SERVER_PIDS[@]}")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency "${script[@]}" "$url" ${1:+--} "$@" \
		>"$OUT/wrk-$name.txt" 2>&1
	c1=$(cpu_ms "${SERVER_PIDS[@]}")
	CPU_MS=$((c1 - c0))
	read -r RPS REQS SECS BAD ERRS P50 P99 < <(awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec:/ { rps = $2 }
		/requests in/ { reqs = $1; secs = $4; sub(/s,?$/, "", secs) }
		/Non-2xx or 3xx responses:/ { bad = $NF }
		/Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); errs += v } }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		END { printf "%.0f %d %s %d %d %.2f %.2f\n", rps, reqs, secs, bad, errs, p50, p99 }' "$OUT/wrk-$name.txt")
	US=$(awk -v ms="$CPU_MS" -v n="$REQS" 'BEGIN { printf "%.0f", (n > 0 ? ms * 1000 / n : 0) }')
}

# ------------------------------------------------------------------ setup
CONF=$TMP/bulletin.conf
PORT=$(free_port)
DB=sqlite:$TMP/bulletin.db
cat >"$CONF" <<EOF
db = $DB
public_url = http://127.0.0.1:$PORT
site_name = Harbour Town Letters
from = Harbour Town Letters <letters@harbour.example>
postal_address = 1 Quay Street, Harbour Town
relay = maildir:$TMP/outbox
form_min_fill = 0
signup_rate_ip = 0
signup_rate_global = 0
log_level = warn
# wrk's connections all come from 127.0.0.1: room for them and their reconnects
http_connections_per_ip = $((CONNS * 2 > 64 ? CONNS * 2 : 64))
EOF
[ -n "${HTTP_THREADS:-}" ] && echo "http_threads = $HTTP_THREADS" >>"$CONF"
BC=("$B" --config "$CONF")
echo "bench/http.sh: wrk -t$THREADS -c$CONNS -d$DURATION, $(nproc) cores; database in $TMP; logs in $OUT" >&2

"${BC[@]}" init >/dev/null
"${BC[@]}" list create news --name "Harbour News" \
	--description "What happens at the harbour, once a week: boats, weather, the market and the council." >/dev/null
for i in 1 2 3; do
	"${BC[@]}" subscriber add "reader$i@example.org" --name "Reader $i" --list news --confirmed >/dev/null
done
for i in $(seq "$N_POSTS"); do
	cat >"$TMP/post.md" <<MD
# Week $i at the harbour

The ferry kept its timetable all week, apart from Thursday evening when the
wind rose above the limit and the last two crossings were cancelled. The
harbour master expects calmer weather for the weekend.

The fish market moves to the east quay from Monday while the old hall is
repaired; the stalls open at 6 a.m. as usual.

- Council meeting on Tuesday at 7 p.m., public gallery open
- Lifeboat open day on Saturday
MD
	id=$("${BC[@]}" post create --list news --subject "Harbour week $i: ferry, market and council" \
		--body-file "$TMP/post.md")
	"${BC[@]}" post send "$id" --wait >/dev/null 2>&1
done
SENT=$(python3 - "${DB#sqlite:}" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM posts WHERE status = 'sent'").fetchone()[0])
PY
)
echo "setup: $SENT sent posts on list news" >&2

"${BC[@]}" serve --no-engine --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
SERVE=$!
pids+=("$SERVE")
wait_http "http://127.0.0.1:$PORT/healthz" || wait_http "http://127.0.0.1:$PORT/"
HTTP_T=$("${BC[@]}" config dump 2>/dev/null | awk '$1 == "http_threads" { v = $3 } END { print v }')

# The bytes nginx will serve: bulletin's own answers.
mkdir -p "$TMP/www" "$TMP/nginx"
curl -sf -o "$TMP/www/archive.html" "http://127.0.0.1:$PORT/archive"
ARCHIVE_BYTES=$(wc -c <"$TMP/www/archive.html")
ARCHIVE_POSTS=$(grep -o 'href="[^"]*/archive/[0-9][^"]*"' "$TMP/www/archive.html" | sort -u | wc -l)
cp "$TMP/www/archive.html" "$OUT/archive.html"

# The form token and its cookie, fetched once.
curl -sf -D "$TMP/index.headers" -o "$TMP/index.html" "http://127.0.0.1:$PORT/"
TOKEN=$(python3 -c '
import html.parser, sys
class P(html.parser.HTMLParser):
    token = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") == "form_token":
            P.token = a.get("value")
P().feed(open(sys.argv[1], encoding="utf-8").read())
print(P.token or "")' "$TMP/index.html")
COOKIE=$(awk 'tolower($1) == "set-cookie:" { sub(/\r$/, ""); split($2, a, ";"); print a[1]; exit }' "$TMP/index.headers")
COOKIE=${COOKIE%;}
if [ -z "$TOKEN" ] || [ -z "$COOKIE" ]; then
	echo "bench: no form token or cookie on GET / (token '$TOKEN', cookie '$COOKIE')" >&2
	exit 1
fi
# One signup by hand: it must be accepted (the check-inbox page), and its
# page is what nginx answers POSTs with.
curl -sf -o "$TMP/www/check_inbox.html" -H "Cookie: $COOKIE" \
	--data "email=bench-check%40example.org&list=news&form_token=$TOKEN&website=" \
	"http://127.0.0.1:$PORT/subscribe"
cp "$TMP/www/check_inbox.html" "$OUT/check_inbox.html"
count_subscribers() {
	python3 - "${DB#sqlite:}" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
print(c.execute("SELECT count(*) FROM subscribers WHERE email LIKE 'bench-%'").fetchone()[0])
PY
}
if [ "$(count_subscribers)" != 1 ]; then
	echo "bench: the test signup was not recorded (see $OUT/check_inbox.html)" >&2
	exit 1
fi

# nginx: the same bytes, static.
NPORT=$(free_port)
user_line=
[ "$(id -u)" -eq 0 ] && user_line="user root;" # workers as the current user, not nobody
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
$user_line
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	types { text/html html; }
	charset utf-8;
	server {
		listen 127.0.0.1:$NPORT;
		root $TMP/www;
		location = /archive { try_files /archive.html =404; }
		# A static file answers a POST with 405; turn that into the page with a 200.
		location = /subscribe { error_page 405 =200 /check_inbox.html; try_files /check_inbox.html =404; }
	}
}
EOF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NGINX_PID=$!
pids+=("$NGINX_PID")
wait_http "http://127.0.0.1:$NPORT/archive"
cmp -s "$TMP/www/archive.html" <(curl -sf "http://127.0.0.1:$NPORT/archive") ||
	{ echo "bench: nginx does not serve the same archive bytes" >&2; exit 1; }
NGINX_WORKERS=$(grep -c . <(pgrep -P "$NGINX_PID") || true)

# ------------------------------------------------------------ 1. GET /archive
BULLETIN_PIDS=("$SERVE")
mapfile -t NGINX_PIDS < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID")
SERVER_PIDS=("${BULLETIN_PIDS[@]}")
wrk_run archive-bulletin "http://127.0.0.1:$PORT/archive"
A_B=$RPS A_B_BAD=$BAD A_B_ERR=$ERRS A_B_P50=$P50 A_B_P99=$P99 A_B_US=$US
echo "GET /archive  bulletin: $A_B req/s (p50 $P50 ms, p99 $P99 ms, $US µs CPU/request, $BAD non-2xx, $ERRS socket errors)" >&2
SERVER_PIDS=("${NGINX_PIDS[@]}")
wrk_run archive-nginx "http://127.0.0.1:$NPORT/archive"
A_N=$RPS A_N_BAD=$BAD A_N_P50=$P50 A_N_P99=$P99 A_N_US=$US
echo "GET /archive  nginx:    $A_N req/s (p50 $P50 ms, p99 $P99 ms, $US µs CPU/request, $BAD non-2xx)" >&2

# --------------------------------------------------------- 2. POST /subscribe
before=$(count_subscribers)
SERVER_PIDS=("${BULLETIN_PIDS[@]}")
wrk_run subscribe-bulletin "http://127.0.0.1:$PORT/subscribe" "$LUA" "$TOKEN" "$COOKIE" news
S_REQS=$REQS S_SECS=$SECS S_BAD=$BAD S_ERR=$ERRS S_P50=$P50 S_P99=$P99 S_RPS=$RPS S_US=$US
after=$(count_subscribers)
S_NEW=$((after - before))
S_RATE=$(awk -v n="$S_NEW" -v s="$S_SECS" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 1) }')
echo "POST /subscribe  bulletin: $S_RATE signups/s ($S_NEW new subscribers of $S_REQS requests in $S_SECS s; p50 $P50 ms, p99 $P99 ms, $US µs CPU/request, $BAD non-2xx)" >&2
SERVER_PIDS=("${NGINX_PIDS[@]}")
wrk_run subscribe-nginx "http://127.0.0.1:$NPORT/subscribe" "$LUA" "$TOKEN" "$COOKIE" news
S_N=$RPS S_N_BAD=$BAD S_N_P50=$P50 S_N_P99=$P99 S_N_US=$US
echo "POST /subscribe  nginx:    $S_N req/s (p50 $P50 ms, p99 $P99 ms, $US µs CPU/request, $BAD non-2xx)" >&2

stop_pid "$SERVE"
stop_pid "$NGINX_PID"
cp "$TMP/nginx/error.log" "$OUT/nginx-error.log" 2>/dev/null || true

awk -v t="$THREADS" -v c="$CONNS" -v d="$DURATION" -v cores="$(nproc)" -v ht="$HTTP_T" -v nw="$NGINX_WORKERS" \
	-v tmp="${BENCH_TMPDIR:-/tmp}" -v bytes="$ARCHIVE_BYTES" -v posts="$SENT" -v links="$ARCHIVE_POSTS" \
	-v abus="$A_B_US" -v anus="$A_N_US" -v sus="$S_US" -v snus="$S_N_US" \
	-v ab="$A_B" -v abbad="$A_B_BAD" -v aberr="$A_B_ERR" -v ab50="$A_B_P50" -v ab99="$A_B_P99" \
	-v an="$A_N" -v anbad="$A_N_BAD" -v an50="$A_N_P50" -v an99="$A_N_P99" \
	-v sr="$S_RATE" -v snew="$S_NEW" -v sreq="$S_REQS" -v ssecs="$S_SECS" -v sbad="$S_BAD" -v serr="$S_ERR" \
	-v s50="$S_P50" -v s99="$S_P99" -v srps="$S_RPS" \
	-v sn="$S_N" -v snbad="$S_N_BAD" -v sn50="$S_N_P50" -v sn99="$S_N_P99" 'BEGIN {
	printf "bench/http.sh  wrk -t%d -c%d -d%s on 127.0.0.1, %d cores; bulletin serve --no-engine (http_threads %s, SQLite in %s), nginx (%d workers)\n", t, c, d, cores, ht, tmp, nw;
	printf "GET /archive (%d bytes, %d post links, %d sent posts):\n", bytes, links, posts;
	printf "  bulletin serve: %8.0f req/s  (p50 %.2f ms, p99 %.2f ms; %d us CPU per request; %d non-2xx, %d socket errors)\n", ab, ab50, ab99, abus, abbad, aberr;
	printf "  nginx static:   %8.0f req/s  (p50 %.2f ms, p99 %.2f ms; %d us CPU per request; %d non-2xx)\n", an, an50, an99, anus, anbad;
	printf "  ratio bulletin/nginx: %.2f (target >= 0.30)\n", ab / an;
	printf "POST /subscribe (a distinct address per request, form token + cookie, every budget off):\n";
	printf "  bulletin serve: %8.0f signups/s  (target >= 3000; %d new subscribers in the database from %d requests in %.2f s, wrk %s req/s; p50 %.2f ms, p99 %.2f ms; %d us CPU per request; %d non-2xx, %d socket errors)\n", sr, snew, sreq, ssecs, srps, s50, s99, sus, sbad, serr;
	printf "  nginx static 200 to the same POSTs: %8.0f req/s  (p50 %.2f ms, p99 %.2f ms; %d us CPU per request; %d non-2xx): a reference only, nginx commits nothing\n", sn, sn50, sn99, snus, snbad;
	printf "  ratio bulletin/nginx: %.2f\n", sr / sn;
}' | tee "$SUMMARY"
